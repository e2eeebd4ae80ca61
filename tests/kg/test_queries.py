"""The documented example queries give the same answers on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.ingest import ingest_hake_instance, ingest_observations, init_store
from kg.predictions import write_predictions
from kg.queries import EXAMPLES
from kg.store import GraphStore
from ontology import ActivityPrediction, Contribution, Explanation, PersonObservation
from tests.kg.helpers import write_instance_fixture


@pytest.fixture
def populated(store: GraphStore, tmp_path: Path) -> GraphStore:
    init_store(store)
    ingest_hake_instance(store, write_instance_fixture(tmp_path))
    ingest_observations(store, [PersonObservation("demo.jpg", "0", part_states={"hip: sit on": 0.9})])
    expl = Explanation(
        "ride bicycle",
        "exact-decomposition",
        (
            Contribution("part_state", "hip: sit on", 0.6, "part_state->verb->activity"),
            Contribution("object", "bicycle", 0.3, "object->activity"),
        ),
    )
    write_predictions(store, [ActivityPrediction("demo.jpg", "0", "ride bicycle", 0.8, "gnn", "1", expl)])
    return store


def test_part_states_implying_activity(populated: GraphStore) -> None:
    q = EXAMPLES["part_states_implying_activity"]
    rows = populated.query(q.cypher, **q.params)
    assert [(r["part_state"], round(r["weight"], 4), r["count"]) for r in rows] == [
        ("foot: tread on", 1.0, 2),
        ("hip: sit on", 1.0, 2),
        ("hand: hold", 0.3691, 1),
    ]


def test_activities_sharing_part_states(populated: GraphStore) -> None:
    q = EXAMPLES["activities_sharing_part_states"]
    # Person A rides and holds the bicycle, so all three of A's part states support both.
    assert populated.query(q.cypher, **q.params) == [{"activity": "hold bicycle", "shared": 3}]
    assert populated.query(q.cypher, **{**q.params, "min_shared": 4}) == []


def test_person_part_states(populated: GraphStore) -> None:
    q = EXAMPLES["person_part_states"]
    rows = populated.query(q.cypher, **{**q.params, "person": "img1.jpg/0"})
    assert rows == [
        {"part_state": "foot: tread on", "prob": 1.0, "source": "annotation"},
        {"part_state": "hand: hold", "prob": 1.0, "source": "annotation"},
        {"part_state": "hip: sit on", "prob": 1.0, "source": "annotation"},
    ]


def test_why_prediction(populated: GraphStore) -> None:
    q = EXAMPLES["why_prediction"]
    rows = populated.query(q.cypher, **{**q.params, "person": "demo.jpg/0"})  # the fixture's person
    assert rows == [
        {
            "activity": "ride bicycle",
            "score": 0.8,
            "method": "exact-decomposition",
            "model": "gnn",
            "baseline": None,  # a hand-made explanation without one
            "rest": 0.0,
            "kind": "part_state",
            "term": "hip: sit on",
            "weight": 0.6,
            "edge": "part_state->verb->activity",
        },
        {
            "activity": "ride bicycle",
            "score": 0.8,
            "method": "exact-decomposition",
            "model": "gnn",
            "baseline": None,
            "rest": 0.0,
            "kind": "object",
            "term": "bicycle",
            "weight": 0.3,
            "edge": "object->activity",
        },
    ]
