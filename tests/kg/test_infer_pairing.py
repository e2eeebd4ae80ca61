"""`Engine.infer` end to end (tiny random-weight perception, the packaged reasoner and pairing
model): every model triplet it writes comes with why the pairing model chose its instance."""

from __future__ import annotations

from pathlib import Path

from tests.kg.test_cli_infer import _tiny_perceiver, _two_photos, tiny_models

__all__ = ["tiny_models"]  # (the fixture, shared with tests/kg/test_cli_infer.py)


def test_engine_infer_explains_each_triplets_instance(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    from kg import EmbeddedStore, Engine, read_pairing_explanations
    from kg.ingest import init_store

    perceiver = _tiny_perceiver(tiny_models, max_persons=3)
    with EmbeddedStore(tmp_path / "graph") as store:
        init_store(store)
        predictions = Engine(store).infer(
            [_two_photos(tmp_path)], perceiver=perceiver, top_k=40, progress=False
        )
        named = sorted(
            (p.key, p.activity, str(p.object_key)) for person in predictions for p in person if p.object_id
        )
        assert named  # (among the 40 best, activities of the objects near a person)
        triplets = store.query(
            "MATCH (p:Person)-[x:INTERACTS_WITH]->(o:ObjectInstance) RETURN p.id AS p, x.activity AS a, "
            "o.id AS o, x.run AS run, x.model AS model"
        )
        explained = [
            e for person in sorted({k for k, _, _ in named}) for e in read_pairing_explanations(store, person)
        ]
        assert sorted((e.person, e.activity, e.object_key) for e in explained) == named
        assert {(e.run, e.model) for e in explained} == {(t["run"], t["model"]) for t in triplets}
        for e in explained:
            assert abs(e.total() - e.score) < 1e-9  # exact: baseline + terms + rest = pair score
            assert [k for k, _, _ in e.terms].count("cascade") == 2
