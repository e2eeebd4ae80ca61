"""Write-back of predictions and explanations (kg.predictions, kg.reason) on every backend."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import ontology
from kg.cli import main
from kg.engine import DEMO_OBSERVATIONS, Engine
from kg.ingest import ingest_observations, init_store
from kg.predictions import write_prediction_batch, write_predictions
from kg.report import load_person
from kg.store import EmbeddedStore, GraphStore, Neo4jStore
from ontology import ActivityPrediction, PersonObservation, StoreError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def reasoner():  # type: ignore[no-untyped-def]
    from reasoning import ActivityReasoner

    return ActivityReasoner.from_pretrained()


def synthetic_persons(n: int, seed: int = 0, prefix: str = "img") -> list[PersonObservation]:
    """Simulated persons: 4-8 random part states and one random object each."""
    onto = ontology.load()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        states = rng.sample(onto.part_states.ids, rng.randint(4, 8))
        out.append(
            PersonObservation(
                image_id=f"{prefix}{i // 2:06d}.jpg",
                person_id=str(i % 2),
                part_states={s: round(rng.uniform(0.05, 1.0), 3) for s in states},
                active_parts={rng.choice(onto.body_parts.ids): 0.9},
                objects=(ontology.DetectedObject(rng.choice(onto.objects.ids), round(rng.random(), 3)),),
            )
        )
    return out


def _count(store: GraphStore, pattern: str, **params: object) -> int:
    # The pattern is a literal of these tests, never user input.
    return int(store.query(f"MATCH {pattern} RETURN count(*) AS n", **params)[0]["n"])


def _stored_predictions(
    store: GraphStore, person: str
) -> list[tuple[str, float, list[tuple[str, str, float]]]]:
    data = load_person(store, person)
    return [
        (e["activity"], e["score"], [(c["kind"], c["term"], c["weight"]) for c in e["contributions"]])
        for e in data.explanations
    ]


def test_batch_round_trip_is_exact(store: GraphStore, reasoner) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(store, reasoner)
    engine.init()
    persons = synthetic_persons(8)
    preds = engine.reason(persons, top_k=3)
    for obs, mine in zip(persons, preds, strict=True):
        key = f"{obs.image_id}/{obs.person_id}"
        stored = {a: (s, c) for a, s, c in _stored_predictions(store, key)}
        assert set(stored) == {p.activity for p in mine}
        for p in mine:
            assert p.explanation is not None
            score, contributions = stored[p.activity]
            assert score == p.score  # exactly the value predicted (float32 widened exactly)
            assert contributions == [(c.kind, c.term, c.weight) for c in p.explanation.contributions]
        row = store.query(
            "MATCH (p:Person {id: $id})-[:EXPLAINED_BY]->(e:Explanation)-[:EXPLAINS]->(a:Activity {id: $a}) "
            "RETURN e.baseline AS baseline, e.rest AS rest, e.run AS run",
            id=key,
            a=mine[0].activity,
        )[0]
        assert mine[0].explanation is not None
        assert (row["baseline"], row["rest"]) == (mine[0].explanation.baseline, mine[0].explanation.rest)
    run = store.query(
        "MATCH (r:Run) RETURN r.id AS id, r.persons AS persons, r.predictions AS n, r.top_k AS k"
    )
    assert len(run) == 1 and run[0]["persons"] == 8 and run[0]["n"] == 24 and run[0]["k"] == 3
    assert _count(store, "()-[d:DOES]->() WHERE d.run = $run", run=run[0]["id"]) == 24


@pytest.mark.parametrize("strategy", ["delete", "rebuild"])
def test_a_new_run_replaces_the_models_earlier_predictions_only(
    store: GraphStore,
    reasoner,
    strategy: str,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """On the embedded store a few replaced predictions are deleted row by row, many by
    rebuilding the prediction tables: both give the same graph (Neo4j always deletes)."""
    import kg.predictions

    if strategy == "rebuild":
        if store.backend != "embedded":
            pytest.skip("only the embedded store rebuilds tables")
        monkeypatch.setattr(kg.predictions, "_REBUILD_MIN", 0)
        calls: list[str] = []
        real = kg.predictions._rebuild_prediction_tables
        monkeypatch.setattr(
            kg.predictions, "_rebuild_prediction_tables", lambda *a: (calls.append("rebuild"), real(*a))[1]
        )
    init_store(store)
    persons = synthetic_persons(6)
    ingest_observations(
        store, persons[:2], activities=[["ride-bicycle"], ["hold-cup"]], source="truth"
    )  # two persons with ground truth
    ingest_observations(store, persons[2:])
    keys = [f"{o.image_id}/{o.person_id}" for o in persons]
    x = __import__("reasoning").encode_observations(persons)
    write_prediction_batch(store, keys, reasoner.predict_rows(x, top_k=3))
    other = ActivityPrediction(persons[0].image_id, "0", "ride bicycle", 0.5, "another-model", "v1")
    write_predictions(store, [other])
    # the same model again, with other settings, over half of the persons
    batch = reasoner.predict_rows(x[:3], top_k=2, min_share=0.0)
    write_prediction_batch(store, keys[:3], batch)
    model = reasoner.name
    for i, key in enumerate(keys):
        expected = 2 if i < 3 else 3
        assert (
            _count(store, "(p:Person {id: $id})-[d:DOES]->() WHERE d.model = $m", id=key, m=model) == expected
        )
        assert _count(store, "(p:Person {id: $id})-[:EXPLAINED_BY]->(e:Explanation)", id=key) == expected
    assert _count(store, "()-[d:DOES]->() WHERE d.source = 'annotation'") == 2  # ground truth stays
    assert _count(store, "()-[d:DOES]->() WHERE d.model = 'another-model'") == 1  # another model stays
    assert _count(store, "(e:Explanation)") == 3 * 2 + 3 * 3
    # runs stay as provenance records (the ground truth's ingest is one too)
    assert _count(store, "(r:Run) WHERE r.kind = 'reasoning'") == 3
    assert _count(store, "(r:Run) WHERE r.kind = 'annotation'") == 1
    # no contribution is left pointing at a deleted explanation
    per_explanation = store.query(
        "MATCH (t)-[c:CONTRIBUTES_TO]->(e:Explanation) RETURN e.id AS e, count(c) AS n"
    )
    assert len(per_explanation) == _count(store, "(e:Explanation)")
    assert _count(store, "(e:Explanation) WHERE NOT (e)-[:EXPLAINS]->(:Activity)") == 0
    assert _count(store, "(e:Explanation) WHERE NOT (:Person)-[:EXPLAINED_BY]->(e)") == 0
    # the other model's prediction and the ground truth keep their values exactly
    assert store.query(
        "MATCH (p:Person)-[d:DOES]->(a:Activity) WHERE d.source = 'annotation' OR d.model = 'another-model' "
        "RETURN p.id AS person, a.id AS activity, d.score AS score, d.source AS source "
        "ORDER BY person, activity, source"
    ) == [
        {"person": keys[0], "activity": "ride-bicycle", "score": 1.0, "source": "annotation"},
        {"person": keys[0], "activity": "ride-bicycle", "score": 0.5, "source": "model"},
        {"person": keys[1], "activity": "hold-cup", "score": 1.0, "source": "annotation"},
    ]
    if strategy == "rebuild":
        assert calls == ["rebuild"]  # the one run that replaced earlier predictions of the model


def test_a_failed_write_leaves_the_store_as_it_was(
    store: GraphStore,
    reasoner,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    engine = Engine(store, reasoner)
    engine.init()
    persons = synthetic_persons(6)
    engine.reason(persons, top_k=3)
    before = {
        f"{o.image_id}/{o.person_id}": _stored_predictions(store, f"{o.image_id}/{o.person_id}")
        for o in persons
    }
    counts = [_count(store, p) for p in ("(n)", "()-[r]->()")]

    import kg.predictions

    real = kg.predictions.PredictionWriter.close

    def failing_close(self: kg.predictions.PredictionWriter) -> object:
        real(self)
        raise RuntimeError("injected failure after staging every row")

    monkeypatch.setattr(kg.predictions.PredictionWriter, "close", failing_close)
    with pytest.raises(RuntimeError, match="injected"):
        engine.reason(persons + synthetic_persons(3, seed=5, prefix="new"), top_k=2)
    assert [_count(store, p) for p in ("(n)", "()-[r]->()")] == counts
    assert {k: _stored_predictions(store, k) for k in before} == before


def test_write_predictions_refuses_unknown_persons_and_mixed_versions(store: GraphStore) -> None:
    init_store(store)
    ingest_observations(store, [PersonObservation("a.jpg", "0", part_states={"hand: hold": 0.5})])
    with pytest.raises(StoreError, match=r"1 predicted persons are not in the store \(first: 'b.jpg/0'\)"):
        write_predictions(store, [ActivityPrediction("b.jpg", "0", "hold cup", 0.5, "m", "1")])
    with pytest.raises(StoreError, match="several versions in one call"):
        write_predictions(
            store,
            [
                ActivityPrediction("a.jpg", "0", "hold cup", 0.5, "m", "1"),
                ActivityPrediction("a.jpg", "0", "drink_with cup", 0.5, "m", "2"),
            ],
        )
    assert _count(store, "()-[:DOES]->()") == 0 and _count(store, "(:Run)") == 0


def test_reasoning_over_the_stored_persons_matches_reasoning_over_the_records(
    store: GraphStore,
    reasoner,  # type: ignore[no-untyped-def]
) -> None:
    engine = Engine(store, reasoner)
    engine.init()
    persons = synthetic_persons(10)
    first = engine.reason(persons, top_k=3, chunk_size=4)
    result = engine.reason_stored(top_k=3, chunk_size=3)
    assert (result.persons, result.persons_added, result.predictions) == (10, 0, 30)
    again = {(p[0].image_id, p[0].person_id): p for p in result.predictions_by_person()}
    for mine in first:
        theirs = again[(mine[0].image_id, mine[0].person_id)]
        assert [p.activity for p in theirs] == [p.activity for p in mine]
        for p, q in zip(mine, theirs, strict=True):
            assert q.score == pytest.approx(p.score, abs=1e-6)
    assert _count(store, "()-[:DOES]->()") == 30  # replaced, not added
    kept = engine.reason_stored(top_k=2, chunk_size=3, keep=4)  # keep the records of 4 persons only
    heads = list(kept.predictions_by_person())
    assert len(heads) == 4 and all(len(p) == 2 for p in heads) and kept.predictions == 20
    with pytest.raises(StoreError, match="holds no persons"):
        empty = Engine(store, reasoner)
        store.execute("MATCH (p:Person) DETACH DELETE p")
        empty.reason_stored()


def _write_back_seconds(store: GraphStore, reasoner, keys: list[str], x) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(3):  # the best of three: timing noise only ever adds
        batch = reasoner.predict_rows(x, top_k=3)
        start = time.perf_counter()
        write_prediction_batch(store, keys, batch)
        best = min(best, time.perf_counter() - start)
    return best


def test_write_back_cost_per_person_does_not_grow_with_the_store(store: GraphStore, reasoner) -> None:  # type: ignore[no-untyped-def]
    """Write the predictions of the same 300 persons into a store of 600 and of 4,800 persons
    (8x). The old per-batch UNWIND statements cost grew with the store (a full scan per batch
    on LadybugDB: 1K persons 7.5 s, 10K 439 s); the bulk path must not."""
    import reasoning

    init_store(store)
    small, large = 600, 4_800
    persons = synthetic_persons(large, seed=3)
    ingest_observations(store, persons[:small])
    x = reasoning.encode_observations(persons[:300])
    keys = [f"{o.image_id}/{o.person_id}" for o in persons[:300]]
    write_prediction_batch(store, keys, reasoner.predict_rows(x, top_k=3))  # earlier predictions exist
    t_small = _write_back_seconds(store, reasoner, keys, x)
    ingest_observations(store, persons[small:])
    write_prediction_batch(  # the rest of the store gets predictions too
        store,
        [f"{o.image_id}/{o.person_id}" for o in persons[300:]],
        reasoner.predict_rows(reasoning.encode_observations(persons[300:]), top_k=3),
    )
    t_large = _write_back_seconds(store, reasoner, keys, x)
    assert _count(store, "()-[:DOES]->()") == 3 * large
    # an 8x larger store: a cost per batch that grows with the store would show up as ~8x
    assert t_large < 3.0 * t_small + 0.5, (t_small, t_large)


def test_neo4j_write_back_statements_use_the_id_index(bolt_server: tuple[str, str, str, str]) -> None:
    """Every per-batch statement of the Neo4j write path finds each node it matches by the id
    index (PROFILE in a transaction that is rolled back; ArcadeDB's EXPLAIN does not say which
    access it uses, its PROFILE names the index of each node match)."""
    from kg.predictions import _STALE_NEO4J
    from tests.kg.helpers import assert_index_lookups, bulk_relate_statement

    uri, user, password, database = bolt_server
    with Neo4jStore(uri, user, password, database) as store:
        store.execute("MATCH (n) DETACH DELETE n")
        init_store(store)
        ingest_observations(store, [PersonObservation("a.jpg", "0", part_states={"hand: hold": 0.5})])
        expl = ontology.Explanation(
            "hold cup", "m", (ontology.Contribution("part_state", "hand: hold", 1.0),)
        )
        write_predictions(store, [ActivityPrediction("a.jpg", "0", "hold cup", 0.5, "m", "1", expl)])
        (eid,) = [r["id"] for r in store.query("MATCH (e:Explanation) RETURN e.id AS id")]
        row = {"p": "a.jpg/0", "model": "m", "run": "another"}
        statements: list[tuple[str, dict[str, object]]] = [(c, {"rows": [row]}) for c in _STALE_NEO4J]
        # which predicted persons are stored (kg.ingest._existing, run per batch of ids)
        statements.append(
            ("UNWIND $ids AS i MATCH (n:Person {id: i}) RETURN n.id AS id", {"ids": ["a.jpg/0"]})
        )
        for rel, (a, b), ends in (
            ("DOES", ("Person", "Activity"), {"from": "a.jpg/0", "to": "hold-cup"}),
            ("EXPLAINED_BY", ("Person", "Explanation"), {"from": "a.jpg/0", "to": eid}),
            ("EXPLAINS", ("Explanation", "Activity"), {"from": eid, "to": "hold-cup"}),
            ("CONTRIBUTES_TO", ("PartState", "Explanation"), {"from": "hand_hold", "to": eid}),
        ):
            statements.append(bulk_relate_statement(rel, a, b, ends))
        assert_index_lookups(bolt_server, statements)
        assert _count(store, "()-[:DOES]->()") == 1  # every profiled statement was rolled back


def test_embedded_write_back_runs_no_statement_per_batch(
    tmp_path: Path,
    reasoner,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """On the embedded store rows go in by COPY; the Cypher a write runs is the same few
    statements whatever the number of persons and chunks (no UNWIND per batch)."""
    import kg.store.embedded as embedded

    statements: dict[int, list[str]] = {}
    real = embedded.EmbeddedStore._run
    for n in (20, 200):
        with EmbeddedStore(tmp_path / f"g{n}") as store:
            engine = Engine(store, reasoner)
            engine.init()
            engine.reason(synthetic_persons(n), top_k=3)
            seen: list[str] = []

            def spy(self: EmbeddedStore, cypher: str, params: object, seen: list[str] = seen) -> object:
                seen.append(cypher.split("(")[0] if cypher.startswith("COPY") else cypher)
                return real(self, cypher, params)  # type: ignore[arg-type]

            monkeypatch.setattr(embedded.EmbeddedStore, "_run", spy)
            engine.reason_stored(top_k=3, chunk_size=7)
            monkeypatch.setattr(embedded.EmbeddedStore, "_run", real)
            statements[n] = seen
    assert statements[20] == statements[200]
    assert not any(c.lstrip().upper().startswith("UNWIND") for c in statements[200]), statements[200]


_CRASH = """
import os, signal, sys
sys.path.insert(0, {root!r})
import kg.store.embedded as embedded
from kg import EmbeddedStore, Engine
from kg.ingest import read_observations_jsonl
where = sys.argv[1]
if where == "rebuild":
    import kg.predictions
    kg.predictions._REBUILD_MIN = 0
    real = embedded.EmbeddedStore._copy
    def copy(self, table, arrow, options):
        if table == "CONTRIBUTES_TO" and (self.path / embedded.SPOOL_DIR).exists():
            os.kill(os.getpid(), signal.SIGKILL)  # the tables are dropped and half copied again
        return real(self, table, arrow, options)
    embedded.EmbeddedStore._copy = copy
elif where == "copy":
    real = embedded.EmbeddedStore._copy
    def copy(self, table, arrow, options):
        if table == "CONTRIBUTES_TO":
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, table, arrow, options)
    embedded.EmbeddedStore._copy = copy
else:
    real = embedded.EmbeddedStore._run
    committed = []
    def run(self, cypher, params):
        out = real(self, cypher, params)
        if len(committed) == 2:  # the first finishing statement runs, then the process dies
            os.kill(os.getpid(), signal.SIGKILL)
        if cypher.startswith("CREATE (:BulkLoad") or (committed and cypher == "COMMIT"):
            committed.append(cypher)  # the load's commit marker, then its commit
        return out
    embedded.EmbeddedStore._run = run
with EmbeddedStore(sys.argv[2]) as store:
    Engine(store).reason_stored(top_k=2)
"""


@pytest.mark.parametrize("where, expected", [("copy", "before"), ("finish", "after"), ("rebuild", "after")])
def test_a_killed_write_back_is_undone_or_finished_on_the_next_open(
    tmp_path: Path,
    where: str,
    expected: str,
    reasoner,  # type: ignore[no-untyped-def]
) -> None:
    store_dir = tmp_path / "g"
    with EmbeddedStore(store_dir) as store:
        engine = Engine(store, reasoner)
        engine.init()
        engine.reason(synthetic_persons(20), top_k=3)
        before = {r["id"]: r for r in store.query("MATCH (r:Run) RETURN r.id AS id")}
        old_does = _count(store, "()-[:DOES]->()")
    script = tmp_path / "crash.py"
    script.write_text(_CRASH.format(root=str(ROOT)))
    proc = subprocess.run(
        [sys.executable, str(script), where, str(store_dir)], capture_output=True, text=True
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert (store_dir / "bulk-load.journal").exists()
    warning = {"copy": "before its commit", "finish": "finishing", "rebuild": "redoing"}[where]
    with pytest.warns(UserWarning, match=warning):
        reopened = EmbeddedStore(store_dir)
    with reopened as store:
        runs = {r["id"] for r in store.query("MATCH (r:Run) RETURN r.id AS id")}
        does = store.query("MATCH ()-[d:DOES]->() RETURN d.run AS run, count(*) AS n")
        explanations = _count(store, "(e:Explanation)")
        dangling = _count(store, "(e:Explanation) WHERE NOT (e)-[:EXPLAINS]->(:Activity)")
    assert not (store_dir / "bulk-load.journal").exists() and not (store_dir / "bulk-load.spool").exists()
    assert dangling == 0
    if expected == "before":
        assert runs == set(before) and sum(r["n"] for r in does) == old_does == explanations
    else:
        (new_run,) = runs - set(before)
        assert does == [{"run": new_run, "n": 20 * 2}] and explanations == 40


def test_reason_command_on_a_file_and_on_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "graph")
    assert main(["init", "--store", store]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "reason",
                str(DEMO_OBSERVATIONS),
                "--top-k",
                "2",
                "--store",
                store,
                "--no-progress",
                "--show",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("because") == 2 and "6 persons (the first 1 shown" in out and "6 of them new" in out
    code = main(["reason", "--store", store, "--json", "--show", "6", "--no-progress", "--min-share", "0"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["persons"], summary["persons_added"], summary["predictions"]) == (6, 0, 30)
    assert len(summary["predictions_shown"]) == 6
    for person in summary["predictions_shown"]:
        for p in person:
            assert p["explanation"]["rest"] == 0.0  # --min-share 0 keeps every contribution
    assert main(["reason", "--store", store, "--top-k", "0"]) == 2
    assert "--top-k must be at least 1" in capsys.readouterr().err
    assert main(["reason", "--store", store, "--top-k", "601"]) == 2
    assert "--top-k must be in 1..600 (the store's activities)" in capsys.readouterr().err
    assert main(["reason", str(tmp_path / "missing.jsonl"), "--store", store]) == 2


def test_a_file_run_keeps_the_records_of_the_first_keep_persons_only(store: GraphStore, reasoner) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(store, reasoner)
    engine.init()
    result = engine.reason_file(DEMO_OBSERVATIONS, top_k=2, keep=2)
    assert result.persons == 6 and result.predictions == 12
    assert [len(p) for p in result.predictions_by_person()] == [2, 2]
