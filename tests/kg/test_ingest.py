from __future__ import annotations

import json
from pathlib import Path

import pytest

import ontology
from kg.evidence import evidence_edges, npmi
from kg.ingest import (
    image_node_id,
    ingest_hake_instance,
    ingest_observations,
    ingest_observations_jsonl,
    init_store,
    iter_observations_jsonl,
    read_observations_jsonl,
)
from kg.predictions import write_predictions
from kg.store import GraphStore
from ontology import (
    ActivityPrediction,
    AnnotationFormatError,
    Box,
    Contribution,
    DetectedObject,
    Explanation,
    Keypoint,
    PersonObservation,
    StoreError,
)
from tests.kg.helpers import write_instance_fixture


def _count(store: GraphStore, pattern: str) -> int:
    return int(store.query(f"MATCH {pattern} RETURN count(*) AS n")[0]["n"])


def _totals(store: GraphStore) -> dict[str, int]:
    return {
        p: _count(store, p)
        for p in (
            "(n)",
            "()-[:HAS_STATE]->()",
            "()-[:DOES]->()",
            "()-[:NEAR]->()",
            "()-[:IN_IMAGE]->()",
            "()-[:IMPLIES]->()",
            "()-[:USES_PART]->()",
        )
    }


def test_init_is_idempotent(store: GraphStore) -> None:
    counts = init_store(store)
    assert counts == {"BodyPart": 16, "PartState": 93, "Verb": 157, "Object": 80, "Activity": 600}
    before = _totals(store)
    assert init_store(store) == counts
    assert _totals(store) == before
    assert _count(store, "(:Activity)-[:HAS_VERB]->(:Verb)") == 600
    assert _count(store, "(:Activity)-[:HAS_OBJECT]->(:Object)") == 600
    assert _count(store, "(:PartState)-[:OF_PART]->(:BodyPart)") == 93
    assert _count(store, "(:BodyPart)-[:PART_OF]->(:BodyPart)") == 10
    assert store.query(
        "MATCH (a:Activity {name: $n})-[:HAS_VERB]->(v:Verb), (a)-[:HAS_OBJECT]->(o:Object) "
        "RETURN a.hoi_id AS hoi, v.name AS verb, o.name AS object",
        n="ride bicycle",
    ) == [{"hoi": 19, "verb": "ride", "object": "bicycle"}]


def test_ingest_requires_the_ontology(store: GraphStore) -> None:
    with pytest.raises(StoreError, match="hake init"):
        ingest_observations(store, [PersonObservation("a.jpg", "0")])


def test_instance_ingest_evidence_and_reingest(store: GraphStore, tmp_path: Path) -> None:
    init_store(store)
    path = write_instance_fixture(tmp_path)
    report = ingest_hake_instance(store, path)
    assert (report.persons_added, report.images_added, report.observations_added) == (3, 3, 5)
    assert report.activities_added == 4
    # the ground truth is one Run (kind "annotation"), named by every DOES edge it added
    runs = store.query(
        "MATCH (r:Run) RETURN r.id AS id, r.kind AS kind, r.model AS model, r.version AS version, "
        "r.created AS created, r.predictions AS n"
    )
    assert [(r["kind"], r["model"], r["version"], r["n"]) for r in runs] == [
        ("annotation", "hake-annotation", report.source, 4)
    ] and runs[0]["created"]
    assert store.query("MATCH ()-[d:DOES]->() RETURN DISTINCT d.run AS run") == [{"run": runs[0]["id"]}]
    rows = store.query(
        "MATCH (p:Person)-[:IN_IMAGE]->(i:Image) RETURN p.id AS person, i.width AS w, p.bbox AS box "
        "ORDER BY person"
    )
    assert rows == [
        {"person": "img1.jpg/0", "w": 640, "box": [0.0, 0.0, 100.0, 100.0]},
        {"person": "img2.jpg/0", "w": 640, "box": [10.0, 10.0, 80.0, 90.0]},
        {"person": "img3.jpg/0", "w": 640, "box": [5.0, 5.0, 60.0, 60.0]},
    ]
    # Evidence, hand-computed over the 3 annotated persons (see helpers.write_instance_fixture).
    edges = {(e.part_state, e.target): e for e in evidence_edges(store)}
    sit = edges[("hip_sit_on", "ride-bicycle")]
    assert (sit.count, sit.cond_prob, sit.npmi) == (2, 1.0, pytest.approx(1.0))
    hold = edges[("hand_hold", "ride-bicycle")]
    assert hold.count == 1 and hold.npmi == pytest.approx(0.369070, abs=1e-6)
    assert edges[("hand_hold", "hold")].target_kind == "verb"
    assert ("hip_sit_on", "board-airplane") not in edges
    before = _totals(store)
    again = ingest_hake_instance(store, path)
    assert (again.persons_added, again.persons_skipped) == (0, 3)
    assert _totals(store) == before


def test_bad_line_leaves_store_unchanged(store: GraphStore, tmp_path: Path) -> None:
    init_store(store)
    good = PersonObservation("a.jpg", "0", box=Box(0, 0, 5, 5), part_states={"hand: hold": 0.9})
    path = tmp_path / "obs.jsonl"
    bad = dict(good.to_dict(), person_id="1", part_states={"hand: hold": 1.7})
    path.write_text(
        "\n".join(json.dumps(x) for x in [good.to_dict(), {**good.to_dict(), "person_id": "2"}, bad])
    )
    before = _totals(store)
    with pytest.raises(AnnotationFormatError) as err:
        ingest_observations(store, read_observations_jsonl(path))
    assert "obs.jsonl" in str(err.value) and "'line 3'" in str(err.value)
    assert "part_states['hand: hold']" in str(err.value) and "1.7" in str(err.value)
    assert _totals(store) == before
    # Streaming: the bad line is reached after earlier chunks were staged; nothing is written.
    with pytest.raises(AnnotationFormatError, match="'line 3'"):
        ingest_observations(store, iter_observations_jsonl(path), chunk_size=1)
    assert _totals(store) == before
    # The bulk file path reports the same error and writes nothing either.
    with pytest.raises(AnnotationFormatError) as err:
        ingest_observations_jsonl(store, path, chunk_size=1)
    assert "'line 3'" in str(err.value) and "part_states['hand: hold']" in str(err.value)
    assert _totals(store) == before
    # Duplicate persons inside one input are rejected and nothing is written.
    with pytest.raises(StoreError, match="appears twice"):
        ingest_observations(store, [good, good])
    assert _totals(store) == before


def test_observations_jsonl_round_trip_and_video_frames(store: GraphStore, tmp_path: Path) -> None:
    init_store(store)
    frames = [
        PersonObservation(
            "clip.mp4",
            "0",
            box=Box(0, 0, 10, 10),
            frame_index=i,
            timestamp=i / 25,
            track_id=1,
            part_states={"foot: walk with": 0.8},
            objects=(DetectedObject("dog", 0.7), DetectedObject("dog", 0.9)),
        )
        for i in range(3)
    ]
    path = tmp_path / "obs.jsonl"
    path.write_text("\n".join(json.dumps(f.to_dict()) for f in frames) + "\n\n")
    assert read_observations_jsonl(path) == frames
    report = ingest_observations(store, read_observations_jsonl(path), source="obs.jsonl")
    assert (report.persons_added, report.images_added) == (3, 3)
    assert image_node_id(frames[2]) == "clip.mp4#2"
    assert store.query(
        "MATCH (p:Person {id: $id})-[:IN_IMAGE]->(i:Image), (p)-[n:NEAR]->(o:Object) "
        "RETURN i.video AS video, i.frame_index AS frame, p.track_id AS track, o.name AS object, "
        "n.score AS score, n.count AS count",
        id="clip.mp4#2/0",
    ) == [{"video": "clip.mp4", "frame": 2, "track": 1, "object": "dog", "score": 0.9, "count": 2}]


def test_write_predictions_and_explanations(store: GraphStore) -> None:
    init_store(store)
    ingest_observations(store, [PersonObservation("demo.jpg", "0", part_states={"hip: sit on": 0.9})])
    expl = Explanation(
        "ride bicycle",
        "exact-decomposition",
        (
            Contribution("part_state", "hip: sit on", 0.6, "part_state->verb->activity"),
            Contribution("object", "bicycle", 0.3, "object->activity"),
        ),
        score=0.8,
    )
    pred = ActivityPrediction("demo.jpg", "0", "ride bicycle", 0.8, "gnn", "1", explanation=expl)
    assert write_predictions(store, [pred]) == 1
    assert write_predictions(store, [pred]) == 1  # replaces, does not duplicate
    assert _count(store, "()-[:DOES]->()") == 1
    assert _count(store, "()-[:CONTRIBUTES_TO]->()") == 2
    with pytest.raises(StoreError, match="not in the store"):
        write_predictions(store, [ActivityPrediction("nope.jpg", "0", "ride bicycle", 0.5, "gnn")])


def test_npmi_values() -> None:
    assert npmi is ontology.npmi  # one implementation (ontology.statistics)
    assert npmi(2, 2, 2, 3) == pytest.approx(1.0)
    assert npmi(1, 10, 10, 100) == pytest.approx(0.0)
    assert npmi(1, 50, 50, 100) < 0
    with pytest.raises(ValueError, match=r"n_x \+ n_y - n_xy = 2 exceeds n=1"):
        npmi(0, 1, 1, 1)


def test_instance_ingest_sizes_images_stored_earlier(store: GraphStore, tmp_path: Path) -> None:
    init_store(store)
    ingest_observations(store, [PersonObservation("img1.jpg", "image")])  # an image without a size
    assert store.query("MATCH (i:Image {id: 'img1.jpg'}) RETURN i.width AS w") == [{"w": None}]
    ingest_hake_instance(store, write_instance_fixture(tmp_path))
    assert store.query("MATCH (i:Image {id: 'img1.jpg'}) RETURN i.width AS w, i.height AS h") == [
        {"w": 640, "h": 480}
    ]


def _graph(store: GraphStore) -> dict[str, list[tuple[object, ...]]]:
    """Every instance node and edge of the store as sorted tuples."""
    queries = {
        "persons": "MATCH (p:Person)-[:IN_IMAGE]->(i:Image) RETURN p.id, p.person_id, p.bbox, "
        "p.keypoints, p.part_boxes, p.track_id, p.source, p.model, i.id, i.frame_index, i.timestamp, i.video",
        "states": "MATCH (p:Person)-[h:HAS_STATE]->(s:PartState) RETURN p.id, s.id, h.prob, h.source",
        "parts": "MATCH (p:Person)-[u:USES_PART]->(b:BodyPart) RETURN p.id, b.id, u.prob, u.source",
        "near": "MATCH (p:Person)-[n:NEAR]->(o:Object) RETURN p.id, o.id, n.score, n.count",
    }
    return {
        name: sorted((tuple(repr(v) for v in row.values()) for row in store.query(q)), key=str)
        for name, q in queries.items()
    }


def test_jsonl_bulk_path_stores_what_the_record_path_stores(tmp_path: Path) -> None:
    """Lines the column-wise check takes whole, and lines it sends back to record-by-record
    checking (names as keys, integer probabilities, keypoints, part boxes), give the same
    graph as ingesting the records; and the record path's errors come back with the line."""
    from kg.store import EmbeddedStore

    records = [
        PersonObservation("a.jpg", "0", box=Box(0.5, 1.0, 20.25, 40.0), part_states={"hand_hold": 0.9}),
        PersonObservation(
            "a.jpg",
            "1",
            part_states={"hip_sit_on": 0.25, "head_eat": 1.0},
            active_parts={"left_hand": 0.5},
            objects=(DetectedObject("cup", 0.5), DetectedObject("cup", 0.75), DetectedObject("dog", 0.1)),
            keypoints=tuple(Keypoint(float(i), 2.0 * i, 0.5) for i in range(17)),
            part_boxes={"left_hand": Box(1, 2, 3, 4)},
            source="annotation",
        ),
        PersonObservation("b.jpg", "0", frame_index=4, timestamp=0.16, track_id=3),
    ]
    lines = [r.to_dict() for r in records]
    lines[1]["part_states"] = {"hip: sit on": 0.25, "head: eat": 1}  # names and an int: record path
    path = tmp_path / "obs.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines))
    graphs = []
    for name, ingest in (
        ("records", lambda s: ingest_observations(s, records)),
        ("jsonl", lambda s: ingest_observations_jsonl(s, path, chunk_size=2)),
    ):
        with EmbeddedStore(tmp_path / name) as store:
            init_store(store)
            report = ingest(store)
            assert (report.persons_added, report.observations_added) == (3, 3)
            graphs.append(_graph(store))
    assert graphs[0] == graphs[1]
    assert len(graphs[0]["persons"]) == 3 and len(graphs[0]["states"]) == 3
    assert graphs[0]["parts"] == [("'a.jpg/1'", "'left_hand'", "0.5", "'annotation'")]
    assert graphs[0]["near"] == [("'a.jpg/1'", "'cup'", "0.75", "2"), ("'a.jpg/1'", "'dog'", "0.1", "1")]
    for bad, field in (({"hand_hold": True}, "hand_hold"), ({"hand_hold": None}, "hand_hold")):
        lines[2]["part_states"] = bad
        path.write_text("\n".join(json.dumps(x) for x in lines))
        with EmbeddedStore(tmp_path / "bad") as store:
            init_store(store)
            with pytest.raises(AnnotationFormatError) as err:
                ingest_observations_jsonl(store, path)
            assert "'line 3'" in str(err.value) and field in str(err.value)
            assert _count(store, "(p:Person)") == 0


def test_ground_truth_activities_are_ids_or_names_and_checked(store: GraphStore) -> None:
    from kg.observations import read_annotated

    init_store(store)
    obs = [PersonObservation("a.jpg", "0"), PersonObservation("b.jpg", "0")]
    with pytest.raises(ontology.UnknownTermError, match="did you mean"):
        ingest_observations(store, obs[:1], activities=[["rdie bicycle"]])
    with pytest.raises(TypeError, match="a list of activity ids"):
        ingest_observations(store, obs[:1], activities=["ride bicycle"])
    assert read_annotated(store) == ([], [])  # nothing was written
    ingest_observations(store, obs, activities=[["ride bicycle", "hold-bicycle"], ["drink_with-cup"]])
    people, labels = read_annotated(store)
    assert people == obs and labels == [("hold-bicycle", "ride-bicycle"), ("drink_with-cup",)]
