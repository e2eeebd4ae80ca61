"""Person and image identity in the store: keys that never collide, and a known person
re-ingested with other data refused (never silently skipped), on every backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kg
import kg.schema
import ontology
from kg import Engine
from kg.ingest import ingest_observations, ingest_observations_jsonl, init_store, person_digest
from kg.schema import image_key, person_key
from kg.store.base import GraphStore
from ontology import ActivityPrediction, Box, PersonObservation, StoreError


@pytest.fixture(scope="module")
def reasoner():  # type: ignore[no-untyped-def]
    from reasoning import ActivityReasoner

    return ActivityReasoner.from_pretrained()


def _ids(store: GraphStore) -> list[str]:
    return [r["id"] for r in store.query("MATCH (p:Person) RETURN p.id AS id ORDER BY id")]


def test_keys_of_different_persons_never_collide(store: GraphStore) -> None:
    init_store(store)
    pairs = [
        PersonObservation("cam/a", "b/0"),
        PersonObservation("cam/a/b", "0"),
        PersonObservation("v#3", "0"),
        PersonObservation("v", "0", frame_index=3),
        PersonObservation("100%", "0"),
        PersonObservation("100%25", "0"),
    ]
    report = ingest_observations(store, pairs)
    assert report.persons_added == 6 and report.persons_skipped == 0
    assert len(set(_ids(store))) == 6
    assert person_key(image_key("cam/a"), "b/0") == "cam/a/b%2F0"
    assert image_key("v#3") == "v%233" != image_key("v", 3) == "v#3"
    assert person_key(image_key("100%"), "0") == "100%25/0" != person_key(image_key("100%25"), "0")
    # Every person is reachable by its key, and its image by the image key.
    for obs in pairs:
        image = image_key(obs.image_id, obs.frame_index)
        rows = store.query(
            "MATCH (p:Person {id: $id})-[:IN_IMAGE]->(i:Image) RETURN p.person_id AS pid, i.id AS image",
            id=person_key(image, obs.person_id),
        )
        assert rows == [{"pid": obs.person_id, "image": image}]


def test_one_identity_rule_the_records_carry_what_the_store_writes(
    store: GraphStore,
    tmp_path: Path,
    reasoner,  # type: ignore[no-untyped-def]
) -> None:
    """The keys are defined once (ontology.identity): the store's ids are the records' own
    keys, on every path in (records, a file, reasoning), and predictions name their person
    by the same key, with nothing re-derived or patched in kg."""
    assert kg.schema.image_key is ontology.image_key and kg.schema.person_key is ontology.person_key
    assert kg.person_key is ontology.person_key
    engine = Engine(store, reasoner)
    engine.init()
    observations = [
        PersonObservation("cam/a", "b/0", part_states={"hand: hold": 0.9}),
        PersonObservation("v#3", "0"),
        PersonObservation("v", "0", frame_index=3, timestamp=0.1),
        PersonObservation("100%", "x%/y", frame_index=0),
    ]
    ingest_observations(store, observations[:2])
    path = tmp_path / "frames.jsonl"
    path.write_text("".join(json.dumps(o.to_dict()) + "\n" for o in observations[2:]))
    ingest_observations_jsonl(store, path)
    stored = store.query("MATCH (p:Person)-[:IN_IMAGE]->(i:Image) RETURN p.id AS key, i.id AS image")
    expected = [(o.key, o.image_key) for o in observations]
    assert sorted((r["key"], r["image"]) for r in stored) == sorted(expected)
    # Reasoning: each prediction names its person by the observation's keys.
    predictions = engine.reason(observations, top_k=2)
    assert [[p.key for p in person] for person in predictions] == [[o.key] * 2 for o in observations]
    assert [person[0].image_id for person in predictions] == [o.image_key for o in observations]
    assert [p.key for p in kg.read_predictions(store, observations[3].key)] == [observations[3].key] * 2
    # A prediction record names the person the store holds: written back by its key.
    first = observations[0]
    mine = ActivityPrediction(first.image_key, first.person_id, "ride bicycle", 0.5, "by-hand", "1")
    assert kg.write_predictions(store, [mine]) == 1
    rows = store.query(
        "MATCH (p:Person)-[d:DOES]->(a:Activity {id: 'ride-bicycle'}) WHERE d.model = 'by-hand' "
        "RETURN p.id AS key"
    )
    assert rows == [{"key": first.key}]


def test_a_known_person_with_other_data_is_refused_naming_what_differs(
    store: GraphStore, tmp_path: Path
) -> None:
    init_store(store)
    first = PersonObservation("a.jpg", "0", box=Box(0, 0, 10, 10), part_states={"hand: hold": 0.9})
    ingest_observations(store, [first])
    before = store.query("MATCH (p:Person)-[h:HAS_STATE]->(s) RETURN p.id AS p, s.id AS s, h.prob AS prob")

    # The same data again (map entries in another order, an int probability): skipped.
    same = dict(first.to_dict(), part_states={"hand_hold": 0.9})
    path = tmp_path / "same.jsonl"
    path.write_text(
        json.dumps(same) + "\n" + json.dumps(dict(same, person_id="1", part_states={"hand_hold": 1}))
    )
    report = ingest_observations_jsonl(store, path)
    assert (report.persons_added, report.persons_skipped) == (1, 1)

    changed = dict(first.to_dict(), part_states={"hand_hold": 0.2}, box=[0.0, 0.0, 12.0, 10.0])
    path = tmp_path / "changed.jsonl"
    path.write_text(json.dumps(dict(same, person_id="2")) + "\n" + json.dumps(changed) + "\n")
    with pytest.raises(StoreError) as err:
        ingest_observations_jsonl(store, path)
    message = str(err.value)
    assert "'a.jpg/0'" in message and "line 2" in message and "changed.jsonl" in message
    assert "differs in box, part_states" in message
    # Refused as a whole: the new person of line 1 is not stored either.
    assert _ids(store) == ["a.jpg/0", "a.jpg/1"]
    assert store.query("MATCH (p:Person)-[h:HAS_STATE]->(s) RETURN p.id AS p, s.id AS s, h.prob AS prob") == [
        *before,
        {"p": "a.jpg/1", "s": "hand_hold", "prob": 1.0},
    ]


def test_reasoning_over_a_file_never_puts_new_data_on_an_old_person(
    store: GraphStore,
    tmp_path: Path,
    reasoner,  # type: ignore[no-untyped-def]
) -> None:
    """``hake reason FILE`` predicts from the file's data: a person the store holds with other
    data is refused, so predictions are always those of what the store holds."""
    engine = Engine(store, reasoner)
    engine.init()
    stored = PersonObservation("a.jpg", "0", part_states={"hip: sit on": 1.0}, objects=())
    ingest_observations(store, [stored])
    path = tmp_path / "new.jsonl"
    path.write_text(json.dumps(dict(stored.to_dict(), part_states={"hand: hold": 1.0})) + "\n")
    with pytest.raises(StoreError, match="already stored with other data"):
        engine.reason_file(path, top_k=2)
    assert store.query("MATCH ()-[d:DOES]->() RETURN count(d) AS n") == [{"n": 0}]
    path.write_text(json.dumps(stored.to_dict()) + "\n")  # the same data: reasoned over
    engine.reason_file(path, top_k=2)
    assert store.query("MATCH ()-[d:DOES]->() RETURN count(d) AS n") == [{"n": 2}]


def test_a_store_with_keys_of_the_old_format_is_refused(store: GraphStore) -> None:
    """Before ids were escaped, person ``b/0`` of image ``cam/a`` was stored as ``cam/a/b/0``:
    an ingest into such a store would not recognise it, so it is refused with advice."""
    init_store(store)
    store.execute("CREATE (:Image {id: 'cam/a'})")
    store.execute("CREATE (:Person {id: 'cam/a/b/0', person_id: 'b/0'})")
    with pytest.raises(StoreError, match="'cam/a/b/0', an id of the key format before ids were escaped"):
        ingest_observations(store, [PersonObservation("x.jpg", "0")])


def test_the_digest_is_of_the_data_not_its_spelling() -> None:
    row = PersonObservation("a.jpg", "0", part_states={"hand: hold": 0.5, "hip: sit on": 1.0}).to_dict()
    swapped = dict(row, part_states=dict(reversed(list(row["part_states"].items()))))
    assert person_digest(row, ["ride-bicycle", "hold-bicycle"]) == person_digest(
        swapped, ["hold-bicycle", "ride-bicycle", "ride-bicycle"]
    )
    assert person_digest(row, None) != person_digest(row, ["ride-bicycle"])
    assert person_digest(row, None) != person_digest(dict(row, model="other"), None)


def test_replace_swaps_a_changed_person_with_its_predictions_and_keeps_evidence_exact(
    store: GraphStore,
    tmp_path: Path,
    reasoner,  # type: ignore[no-untyped-def]
) -> None:
    from kg.evidence import compute_evidence, evidence_edges
    from kg.ingest import ingest_hake_instance
    from tests.kg.helpers import pair, write_instance_fixture

    engine = Engine(store, reasoner)
    engine.init()
    ingest_hake_instance(store, write_instance_fixture(tmp_path))
    engine.reason_stored(top_k=2)
    assert store.query("MATCH (e:Explanation) RETURN count(e) AS n") == [{"n": 6}]
    # img2's person now boards an airplane with other part states; img9 is new.
    changed = {
        "img2.jpg": {"labels": [pair("board airplane", [10, 10, 80, 90], [(6, 0)])]},
        "img9.jpg": {"labels": [pair("ride bicycle", [1, 1, 9, 9], [(4, 0)])]},
    }
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed))
    with pytest.raises(StoreError, match="'img2.jpg/0' is already stored with other data"):
        ingest_hake_instance(store, path)
    report = ingest_hake_instance(store, path, replace=True)
    assert report.persons_added == 2 and report.extra["persons_replaced"] == 1
    truth = store.query(
        "MATCH (p:Person {id: 'img2.jpg/0'})-[d:DOES]->(a:Activity) WHERE d.source = 'annotation' "
        "RETURN a.id AS a"
    )
    assert truth == [{"a": "board-airplane"}]
    states = store.query("MATCH (p:Person {id: 'img2.jpg/0'})-[:HAS_STATE]->(s) RETURN s.id AS s")
    assert states == [{"s": "hand_hold"}]
    # The replaced person's predictions and explanations went with it; the others stay.
    assert store.query(
        "MATCH (p:Person {id: 'img2.jpg/0'})-[d:DOES]->() WHERE d.source = 'model' RETURN count(d) AS n"
    ) == [{"n": 0}]
    assert store.query("MATCH (e:Explanation) RETURN count(e) AS n") == [{"n": 4}]
    assert store.query(
        "MATCH (e:Explanation) WHERE NOT (e)<-[:EXPLAINED_BY]-(:Person) RETURN count(e) AS n"
    ) == [{"n": 0}]
    # The evidence counted the old annotation out and the new one in: as a recount gives.
    assert evidence_edges(store) == compute_evidence(store)


def test_persons_of_one_frame_must_agree_on_its_timestamp(store: GraphStore, tmp_path: Path) -> None:
    """The timestamp is stored on the image (frame): a person giving another one is refused,
    not dropped (found by tests/kg/test_fuzz.py)."""
    init_store(store)
    ingest_observations(store, [PersonObservation("v.mp4", "0", frame_index=2, timestamp=1.0)])
    path = tmp_path / "frames.jsonl"
    rows = [
        PersonObservation("v.mp4", "1", frame_index=2, timestamp=1.0).to_dict(),
        PersonObservation("v.mp4", "2", frame_index=2, timestamp=7.5).to_dict(),
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(
        StoreError, match=r"\(line 2\): person 'v.mp4#2/2' gives image 'v.mp4#2' the timestamp 7.5"
    ):
        ingest_observations_jsonl(store, path)
    assert _ids(store) == ["v.mp4#2/0"]
    path.write_text(json.dumps(rows[0]) + "\n")
    assert ingest_observations_jsonl(store, path).persons_added == 1


@pytest.mark.parametrize(
    ("statement", "label"), [("_DROP_PERSONS", "Person"), ("_DROP_EXPLANATIONS", "Explanation")]
)
def test_replace_deletes_by_primary_key(tmp_path: Path, statement: str, label: str) -> None:
    """The per-batch deletes of ``replace`` find their rows by index lookup on LadybugDB, not
    by a scan of the table."""
    import kg.ingest
    from kg import EmbeddedStore

    cypher = getattr(kg.ingest, statement)
    with EmbeddedStore(tmp_path / "g") as store:
        init_store(store)
        plan = store.execute(f"EXPLAIN {cypher}", rows=[{"id": "a.jpg/0"}])[0]["explain result"]
    assert "QUERY_PRIMARY_KEY_LOOKUP" in plan and f"Table: {label}" in plan
    assert "SCAN_NODE_TABLE" not in plan
