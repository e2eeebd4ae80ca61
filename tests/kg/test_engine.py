"""The composed engine and its commands, with the packaged default reasoner (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import ontology
from kg.cli import main
from kg.engine import DEMO_OBSERVATIONS, Engine
from kg.ingest import read_observations_jsonl
from kg.queries import EXAMPLES
from kg.store import GraphStore
from ontology import PersonObservation
from ontology.errors import StoreError
from tests.reasoning.synthetic import TOY, TOY_DRINK, TOY_RIDE


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def test_reason_writes_predictions_with_provenance_and_explanations(store: GraphStore) -> None:
    engine = Engine(store)
    engine.init()
    observations = read_observations_jsonl(DEMO_OBSERVATIONS)
    preds = engine.reason(observations, top_k=3)
    assert [len(p) for p in preds] == [3] * len(observations)
    rider = preds[0][0]
    assert rider.activity.endswith("-bicycle") and rider.explanation is not None
    rows = store.query(
        "MATCH (p:Person {id: $id})-[d:DOES]->(a:Activity) MATCH (r:Run) WHERE r.id = d.run "
        "RETURN a.id AS activity, d.model AS model, r.version AS version, r.ontology AS ontology, "
        "r.created AS created, r.kind AS kind ORDER BY activity",
        id="demo/street.jpg/0",
    )
    assert sorted(r["activity"] for r in rows) == sorted(p.activity for p in preds[0])
    assert {r["ontology"] for r in rows} == {"1.0.0"} and all(r["created"] for r in rows)
    assert {r["kind"] for r in rows} == {"reasoning"}
    assert {r["model"] for r in rows} == {rider.model} and {r["version"] for r in rows} == {
        rider.model_version
    }
    # The stored explanation is the one returned, reachable with the documented query.
    why = store.query(
        EXAMPLES["why_prediction"].cypher,
        person="demo/street.jpg/0",
        activity=engine.explain("demo/street.jpg/0").explanations[0]["activity_name"],
    )
    stored = [(r["kind"], round(r["weight"], 6)) for r in why]
    returned = [(c.kind, round(c.weight, 6)) for c in rider.explanation.contributions]
    assert stored == returned
    # Reasoning again replaces rather than duplicates.
    engine.reason(observations, top_k=3)
    assert store.query("MATCH ()-[d:DOES]->() RETURN count(d) AS n") == [{"n": 3 * len(observations)}]


def test_engine_on_video_frames(store: GraphStore) -> None:
    engine = Engine(store)
    engine.init()
    frames = [
        PersonObservation("clip.mp4", "0", frame_index=i, part_states={"head: drink with": 0.9})
        for i in range(2)
    ]
    preds = engine.reason(frames, top_k=1)
    assert [p[0].image_id for p in preds] == ["clip.mp4#0", "clip.mp4#1"]
    assert engine.explain("clip.mp4#1/0").explanations


def test_demo_runs_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0  # benchmarks/startup.py times it
    out = capsys.readouterr().out
    report = tmp_path / "demo" / "report.html"
    assert report.is_file() and str(report.resolve()) in out
    assert out.count("\n-- ") == 3  # three documented queries with their answers
    assert "(0 rows)" not in out and "no rows" not in out


def test_reason_and_explain_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "graph")
    assert main(["init", "--store", store]) == 0
    code = main(
        ["reason", str(DEMO_OBSERVATIONS), "--top-k", "2", "--store", store, "--json", "--no-progress"]
    )
    assert code == 0
    captured = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(captured)
    preds = summary["predictions_shown"]
    assert summary["persons"] == 6 and summary["predictions"] == 12
    assert len(preds) == 6 and all(len(p) == 2 for p in preds)
    assert main(["explain", "demo/cafe.jpg/0", "--store", store, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["person"] == "demo/cafe.jpg/0" and len(data["explanations"]) == 2
    html = tmp_path / "why.html"
    assert main(["explain", "demo/cafe.jpg/0", "--store", store, "--format", "html", "--out", str(html)]) == 0
    assert "<svg" in html.read_text()
    code = main(["explain", "nobody/0", "--store", store])
    assert code == 1 and "no person 'nobody/0'" in capsys.readouterr().err


def _untrained_reasoner(
    onto: ontology.Ontology, people: list[PersonObservation], labels: list[list[str]]
) -> Any:
    """A reasoner of ``onto`` whose evidence counts ``people`` (the model is never trained:
    only its evidence is used here)."""
    import torch

    from reasoning import ActivityGNN, ActivityReasoner, Evidence, GNNConfig, build_graph, encode_labels
    from reasoning import encode_observations as encode

    x, y = encode(people, onto), encode_labels(labels, onto)
    evidence = Evidence.from_examples(x, y, onto)
    torch.manual_seed(0)
    features = {
        "part_state": torch.randn(len(onto.part_states), 384),
        "verb": torch.randn(len(onto.verbs), 384),
    }
    return ActivityReasoner(
        ActivityGNN(build_graph(evidence, features, onto), GNNConfig(hidden=4, query_hidden=4)), evidence
    )


def test_load_reasoner_evidence_is_in_the_reasoners_vocabulary(store: GraphStore) -> None:
    """The reasoner's counts are in its own ontology's channel order: a reasoner of a smaller
    ontology writes its evidence under its own term ids, not the packaged ones at its indices."""
    people = [
        PersonObservation(f"img{i}", "0", part_states=TOY_RIDE if i % 3 else TOY_DRINK, ontology=TOY)
        for i in range(12)
    ]
    labels = [["ride-bicycle"] if i % 3 else ["drink_with-cup"] for i in range(12)]
    engine = Engine(store, reasoner=_untrained_reasoner(TOY, people, labels))
    engine.init()
    assert engine.load_reasoner_evidence() > 0
    rows = store.query(
        "MATCH (s:PartState)-[e:IMPLIES]->(a:Activity) RETURN s.name AS state, a.id AS activity, e.count AS n"
    )
    counts = {(r["state"], r["activity"]): r["n"] for r in rows}
    assert counts == {
        ("hip: sit on", "ride-bicycle"): 8,
        ("foot: tread on", "ride-bicycle"): 8,
        ("hand: hold", "ride-bicycle"): 8,
        ("hand: hold", "drink_with-cup"): 4,
        ("head: drink with", "drink_with-cup"): 4,
    }
    names = {
        r["state"]
        for r in store.query("MATCH (s:PartState)-[:IMPLIES]->(:Verb) RETURN DISTINCT s.name AS state")
    }
    assert names == {"hand: hold", "hip: sit on", "foot: tread on", "head: drink with"}


def test_load_reasoner_evidence_refuses_terms_the_store_lacks(store: GraphStore) -> None:
    extended = ontology.load(ontology.example_extension())
    engine = Engine(store, reasoner=_untrained_reasoner(extended, [], []))
    engine.init()  # the packaged ontology: the extension's terms are not in the store
    with pytest.raises(StoreError, match="lacks .*hake ontology extend"):
        engine.load_reasoner_evidence()
    assert store.query("MATCH ()-[e:IMPLIES]->() RETURN count(e) AS n")[0]["n"] == 0
