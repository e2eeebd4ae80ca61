"""The documented example queries give the same answers on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.ingest import ingest_hake_instance, ingest_hoi, ingest_observations, init_store
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


@pytest.fixture
def cafe_store(store: GraphStore) -> GraphStore:
    """The cafe of tests/kg/test_triplets.py (persons 0 and 1 hold cups 0 and 1; cup 2 and
    the table stand there) plus a model that says person 1 holds cup 0 too."""
    from tests.kg.test_triplets import cafe

    init_store(store)
    ingest_hoi(store, [cafe()])
    write_predictions(
        store,
        [
            ActivityPrediction("cafe.jpg", "1", "hold cup", 0.8, "pairs", "1", object_id="0"),
            ActivityPrediction("cafe.jpg", "0", "hold cup", 0.3, "pairs", "1", object_id="2"),
        ],
    )
    return store


def test_who_does_what_with_which(cafe_store: GraphStore) -> None:
    q = EXAMPLES["who_does_what_with_which"]
    rows = cafe_store.query(q.cypher, **q.params)
    assert [(r["person"], r["activity"], r["instance"], r["source"], r["model"]) for r in rows] == [
        ("cafe.jpg/0", "hold cup", "cafe.jpg/0", "annotation", "hake-annotation"),
        ("cafe.jpg/1", "hold cup", "cafe.jpg/0", "model", "pairs"),
        ("cafe.jpg/1", "hold cup", "cafe.jpg/1", "annotation", "hake-annotation"),
    ]  # the model's 0.3 for cup 2 is below min_score
    assert rows[0]["box"] == [100.0, 100.0, 120.0, 130.0] and rows[1]["score"] == 0.8
    drink = cafe_store.query(q.cypher, **{**q.params, "verb": "drink_with"})
    assert [(r["person"], r["activity"], r["instance"]) for r in drink] == [
        ("cafe.jpg/0", "drink_with cup", "cafe.jpg/0")
    ]
    assert cafe_store.query(q.cypher, **{**q.params, "object": "dining_table"}) == []


def test_persons_sharing_instance(cafe_store: GraphStore) -> None:
    q = EXAMPLES["persons_sharing_instance"]
    assert cafe_store.query(q.cypher, **q.params) == []  # by the annotation, each holds their own
    assert cafe_store.query(q.cypher, **{**q.params, "source": "model"}) == []
    # the model's pairing and the annotation together: ground truth plus a model edge
    write_predictions(
        cafe_store, [ActivityPrediction("cafe.jpg", "0", "hold cup", 0.9, "pairs", "2", object_id="0")]
    )
    write_predictions(
        cafe_store, [ActivityPrediction("cafe.jpg", "1", "hold cup", 0.9, "other", "1", object_id="0")]
    )
    assert cafe_store.query(q.cypher, **{**q.params, "source": "model"}) == [
        {"instance": "cafe.jpg/0", "object": "cup", "person": "cafe.jpg/0", "other": "cafe.jpg/1"}
    ]


def test_instances_nobody_uses(cafe_store: GraphStore) -> None:
    q = EXAMPLES["instances_nobody_uses"]
    rows = cafe_store.query(q.cypher, **q.params)
    assert [(r["image"], r["instance"], r["object"]) for r in rows] == [
        ("cafe.jpg", "cafe.jpg/3", "dining table")
    ]  # cup 2 is used by the model's 0.3 prediction
    assert rows[0]["box"] == [0.0, 200.0, 640.0, 480.0]
    write_predictions(  # the model's next run no longer names cup 2
        cafe_store, [ActivityPrediction("cafe.jpg", "0", "hold cup", 0.3, "pairs", "2", object_id="0")]
    )
    rows = cafe_store.query(q.cypher, **q.params)
    assert [r["instance"] for r in rows] == ["cafe.jpg/2", "cafe.jpg/3"]
