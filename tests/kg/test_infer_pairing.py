"""`Engine.infer` end to end (tiny random-weight perception, the packaged reasoner and pairing
model): every model triplet it writes comes with why the pairing model chose its instance."""

from __future__ import annotations

from pathlib import Path

from tests.kg.test_cli_infer import _tiny_perceiver, _two_photos, tiny_models

__all__ = ["tiny_models"]  # (the fixture, shared with tests/kg/test_cli_infer.py)


def test_engine_infer_explains_each_triplets_instance(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    from kg import EmbeddedStore, Engine, read_predictions
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
        assert all(p.pairing is not None for person in predictions for p in person if p.object_id)
        triplets = store.query(
            "MATCH (p:Person)-[x:INTERACTS_WITH]->(o:ObjectInstance) RETURN p.id AS p, x.activity AS a, "
            "o.id AS o, x.run AS run, x.model AS model"
        )
        explained = [
            p
            for person in sorted({k for k, _, _ in named})
            for p in read_predictions(store, person)
            if p.pairing is not None
        ]
        assert sorted((p.key, p.activity, str(p.object_key)) for p in explained) == named
        # what went in comes back: the same pairing explanations on the same predictions
        went_in = {(p.key, p.activity): p.pairing for person in predictions for p in person if p.pairing}
        assert {(p.key, p.activity): p.pairing for p in explained} == went_in
        written = store.query("MATCH (e:PairingExplanation) RETURN DISTINCT e.run AS run, e.model AS model")
        assert {(r["run"], r["model"]) for r in written} == {(t["run"], t["model"]) for t in triplets}
        for p in explained:
            assert p.pairing is not None
            assert abs(p.pairing.total() - p.pairing.score) < 1e-9  # exact: baseline + terms + rest
            assert [c.kind for c in p.pairing.contributions].count("cascade") == 2
