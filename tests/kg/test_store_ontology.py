"""A store knows its vocabulary: init with an extended ontology, read it back, extend it,
refuse records of another ontology. Every test runs on both backends."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import kg
import ontology
from kg.queries import EXAMPLES
from kg.store import EmbeddedStore, GraphStore
from kg.store_ontology import ontology_counts
from ontology import DetectedObject, PersonObservation, StoreError

EXAMPLE = ontology.example_extension()


def _example_person(onto: ontology.Ontology, image: str = "gym.jpg") -> PersonObservation:
    return PersonObservation(
        image_id=image,
        person_id="0",
        part_states={"leg: squat": 0.9, "hip: bend": 0.7, "hand: hold": 0.4},
        objects=(DetectedObject("dumbbell", 0.8, ontology=onto),),
        source="annotation",
        ontology=onto,
    )


def test_init_with_an_extension_writes_its_terms_hierarchy_and_id(store: GraphStore) -> None:
    onto = ontology.load(EXAMPLE)
    counts = kg.init_store(store, onto)
    assert counts == {
        "BodyPart": 16,
        "PartState": len(onto.part_states),
        "Verb": len(onto.verbs),
        "Object": len(onto.objects),
        "Activity": len(onto.activities),
    }
    assert kg.store_ontology(store) == onto
    assert kg.init_store(store, onto) == counts  # idempotent
    (row,) = store.query("MATCH (o:Ontology) RETURN o.id AS id, o.version AS version")
    assert row == {"id": onto.id, "version": onto.version}
    broader = store.query("MATCH (a:Activity)-[:BROADER]->(b:Activity) RETURN count(*) AS n")[0]["n"]
    assert broader == sum(len(a.broader) for a in onto.activities)
    levels = store.query("MATCH (a:Activity {name: 'sports'}) RETURN a.level AS level")
    assert levels == [{"level": "area"}]
    # a person-only action has a verb and no object
    rows = store.query(
        "MATCH (a:Activity {name: 'jog'}) OPTIONAL MATCH (a)-[:HAS_OBJECT]->(o:Object) "
        "MATCH (a)-[:HAS_VERB]->(v:Verb) RETURN v.name AS verb, o.name AS object"
    )
    assert rows == [{"verb": "jog", "object": None}]
    weights = store.query(
        "MATCH (a:Activity {name: 'squat'})-[c:CHARACTERISED_BY]->(s:PartState) "
        "RETURN s.name AS state, c.weight AS weight ORDER BY weight DESC, state"
    )
    assert weights == [
        {"state": "leg: squat", "weight": 1.0},
        {"state": "hip: bend", "weight": 0.8},
        {"state": "leg: bend", "weight": 0.6},
    ]


def test_hierarchy_queries(store: GraphStore) -> None:
    onto = ontology.load(EXAMPLE)
    kg.init_store(store, onto)
    kg.ingest_observations(store, [_example_person(onto)], activities=[["squat"]], ontology=onto)
    q = EXAMPLES["activities_under"]
    rows = store.query(q.cypher, **{**q.params, "activity": "sports", "level": "atomic"})
    expected = sorted(a.name for a in onto.activities.descendants("sports") if a.level == "atomic")
    assert [r["activity"] for r in rows] == expected
    q = EXAMPLES["persons_doing_under"]
    rows = store.query(q.cypher, **{**q.params, "activity": "sports"})
    assert rows == [{"person": "gym.jpg/0", "source": "annotation", "activities": ["squat"], "score": 1.0}]
    assert store.query(q.cypher, **{**q.params, "activity": "household"}) == []
    q = EXAMPLES["composite_of_prediction"]
    rows = store.query(q.cypher, **{**q.params, "person": "gym.jpg/0"})
    assert rows == [
        {
            "activity": "squat",
            "composite": "strength training",
            "area": "sports",
            "score": 1.0,
            "source": "annotation",
            "model": rows[0]["model"],
        }
    ]


def test_records_of_another_ontology_are_refused(store: GraphStore) -> None:
    onto = ontology.load(EXAMPLE)
    kg.init_store(store, onto)
    packaged = ontology.load()
    with pytest.raises(StoreError, match=f"holds ontology {onto.id}.*not {packaged.id}"):
        kg.ingest_observations(store, [PersonObservation("a.jpg", "0")], ontology=packaged)
    with pytest.raises(StoreError, match="extends"):
        kg.init_store(store)


def test_extend_is_additive_and_all_or_nothing(store: GraphStore, tmp_path: Path) -> None:
    kg.init_store(store)
    packaged = ontology.load()
    person = _example_person(ontology.load(EXAMPLE))
    with pytest.raises(StoreError, match="which extends it; add the new terms.*hake ontology extend"):
        kg.ingest_observations(store, [person], ontology=ontology.load(EXAMPLE))
    # records of the extension, given without their ontology, are checked against the store's
    with pytest.raises(ontology.RecordError, match="unknown object 'dumbbell'"):
        kg.ingest_observations(store, [person])
    squatter = PersonObservation(
        "s.jpg", "0", part_states={"leg: squat": 0.9}, ontology=ontology.load(EXAMPLE)
    )
    with pytest.raises(ontology.RecordError, match="unknown part state 'leg_squat'"):
        kg.ingest_observations(store, [squatter])
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "hake_extension: 1\nname: bad\nverbs:\n  - name: jog\nactivities:\n  - {name: x, verb: jgo}\n"
    )
    with pytest.raises(ontology.OntologyFileError, match="unknown verb 'jgo'"):
        kg.extend_store(store, bad)
    assert kg.store_ontology(store) == packaged
    assert ontology_counts(store)["Verb"] == len(packaged.verbs)
    extended = kg.extend_store(store, EXAMPLE)
    assert extended == ontology.load(EXAMPLE) == kg.store_ontology(store)
    assert kg.ingest_observations(store, [person]).persons_added == 1  # checked against the store's
    # extending again with the same file changes nothing
    assert kg.extend_store(store, EXAMPLE) == extended
    second = tmp_path / "more.yaml"
    second.write_text("hake_extension: 1\nname: more\nactivities:\n  - {name: jog fast, verb: sprint}\n")
    more = kg.extend_store(store, second)
    assert more.activities["jog fast"].verb == "sprint" and extended.is_subset_of(more)
    assert kg.store_ontology(store) == more


def test_a_read_only_store_reads_its_ontology(tmp_path: Path) -> None:
    onto = ontology.load(EXAMPLE)
    with EmbeddedStore(tmp_path / "s") as store:
        kg.init_store(store, onto)
    with EmbeddedStore(tmp_path / "s", read_only=True) as store:
        assert kg.store_ontology(store) == onto
    with EmbeddedStore(tmp_path / "empty") as store:
        with pytest.raises(StoreError, match="run `hake init`"):
            kg.store_ontology(store)


def test_the_example_hierarchy_end_to_end(store: GraphStore, tmp_path: Path) -> None:
    """init with the extension, reason (new activities zero-shot), explain, query the
    hierarchy, export, reload: the README recipe, on both backends."""
    import math

    import rdflib

    from kg import Engine

    onto = ontology.load(EXAMPLE)
    kg.init_store(store, onto)
    people = [
        PersonObservation(
            "gym.jpg",
            "0",
            part_states={"leg: squat": 0.95, "hip: bend": 0.8, "leg: bend": 0.7},
            ontology=onto,
        ),
        PersonObservation(
            "home.jpg",
            "0",
            part_states={"hand: hold in both hands": 0.9, "hand: push": 0.8, "arm: swing": 0.5},
            objects=(DetectedObject("broom", 0.9, ontology=onto),),
            ontology=onto,
        ),
    ]
    engine = Engine(store)
    predictions = engine.reason(people, top_k=3)
    assert {p.activity for p in predictions[0]} == {"squat", "strength_training", "sports"}
    assert {p.activity for p in predictions[1]} == {"sweep_floor", "cleaning", "household"}
    for p in predictions[0] + predictions[1]:
        assert p.explanation is not None and p.explanation.logit is not None
        assert p.explanation.logit == pytest.approx(math.log(p.score / (1 - p.score)), abs=1e-3)
    why = EXAMPLES["why_prediction"]
    rows = store.query(why.cypher, person="gym.jpg/0", activity="squat")
    assert [r["term"] for r in rows][:3] == ["leg: squat", "hip: bend", "leg: bend"]
    assert sum(r["weight"] for r in rows) + rows[0]["baseline"] + rows[0]["rest"] == pytest.approx(
        math.log(predictions[0][0].score / (1 - predictions[0][0].score)), abs=1e-3
    )
    q = EXAMPLES["persons_doing_under"]
    under = store.query(q.cypher, **{**q.params, "activity": "household"})
    assert [r["person"] for r in under] == ["home.jpg/0"]
    out = tmp_path / "graph.ttl"
    kg.export_rdf(store, out)
    graph = rdflib.Graph().parse(out)
    hake = rdflib.Namespace(ontology.NAMESPACE)
    skos = rdflib.Namespace("http://www.w3.org/2004/02/skos/core#")
    assert (hake["act_squat"], skos.broader, hake["act_strength_training"]) in graph
    # reload into a fresh store of the same ontology
    with EmbeddedStore(tmp_path / "again") as again:
        kg.init_store(again, kg.store_ontology(store))
        report = kg.import_rdf(again, out)
        assert report.persons_added == 2
        assert kg.store_ontology(again) == onto
        states = again.query(
            "MATCH (p:Person {id: 'gym.jpg/0'})-[s:HAS_STATE]->(t:PartState) "
            "RETURN t.name AS name ORDER BY name"
        )
        assert [r["name"] for r in states] == ["hip: bend", "leg: bend", "leg: squat"]


def test_stored_persons_come_back_as_the_records_ingested(store: GraphStore) -> None:
    """kg.read_observations inverts ingest (objects lose their boxes: NEAR keeps none)."""
    from ontology import Keypoint

    onto = ontology.load(EXAMPLE)
    kg.init_store(store, onto)
    keypoints = tuple(Keypoint(float(i), float(2 * i), 0.5) for i in range(17))
    people = [
        PersonObservation(
            "cam/a#1.jpg",
            "0",
            box=(1.5, 2, 30, 40),
            part_states={"hand: wave": 0.9, "hand: hold": 0.25},
            active_parts={"right hand": 0.75},
            objects=(
                DetectedObject("dumbbell", 0.5, ontology=onto),
                DetectedObject("cup", 0.625, ontology=onto),
            ),
            keypoints=keypoints,
            part_boxes={"right_hand": (1, 2, 3, 4), "head": (5, 6, 7, 8)},
            model="perceiver-x",
            ontology=onto,
        ),
        PersonObservation(
            "clip.mp4", "b/1", frame_index=3, timestamp=0.125, track_id=7, source="annotation", ontology=onto
        ),
    ]
    kg.ingest_observations(store, people)
    back = kg.read_observations(store)
    cup_first = (people[0].objects[1], people[0].objects[0])  # ontology order: cup before dumbbell
    expected = [
        dataclasses.replace(people[0], objects=cup_first, ontology=onto),
        people[1],
    ]
    assert sorted(back, key=lambda o: o.image_id) == sorted(expected, key=lambda o: o.image_id)
    assert kg.read_observations(store, ["clip.mp4#3/b%2F1"]) == [people[1]]
    assert kg.read_observations(store, ["nobody/0"]) == []


def test_stored_predictions_come_back_as_the_records_written(store: GraphStore) -> None:
    from kg import Engine

    onto = ontology.load(EXAMPLE)
    kg.init_store(store, onto)
    people = [
        PersonObservation(
            "gym.jpg",
            "0",
            part_states={"leg: squat": 0.95, "hip: bend": 0.8, "leg: bend": 0.7},
            ontology=onto,
        ),
        PersonObservation(
            "street.jpg",
            "0",
            part_states={"hip: sit on": 0.9, "foot: stand on": 0.3},
            objects=(DetectedObject("bicycle", 0.9, ontology=onto),),
            ontology=onto,
        ),
    ]
    written = Engine(store).reason(people, top_k=4)
    for person, predictions in zip(("gym.jpg/0", "street.jpg/0"), written, strict=True):
        back = kg.read_predictions(store, person)
        assert sorted(back, key=lambda p: (-p.score, p.activity)) == sorted(
            predictions, key=lambda p: (-p.score, p.activity)
        )
    with pytest.raises(StoreError, match="no person 'nobody/0'"):
        kg.read_predictions(store, "nobody/0")
