"""Object instances and <person, activity, object instance> triplets in the store (issue 14,
item 2): ingest of ground truth, predictions that name an instance, reading them back, and
stores of the earlier schema, on every backend."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import ontology
from kg.ingest import ingest_hake_instance, ingest_hoi, init_store
from kg.observations import read_predictions
from kg.predictions import write_predictions
from kg.store import EmbeddedStore, GraphStore, Neo4jStore
from ontology import (
    ActivityPrediction,
    Box,
    DetectedObject,
    HoiAnnotation,
    Interaction,
    ObjectInstance,
    PersonAnnotation,
    StoreError,
)
from tests.kg.helpers import assert_index_lookups, bulk_relate_statement, fingerprint, write_instance_fixture


def _person(
    image: str, pid: str, box: Box, activities: tuple[str, ...], objects: tuple[ObjectInstance, ...]
) -> PersonAnnotation:
    return PersonAnnotation(
        image,
        pid,
        box,
        ("hand_hold",),
        ("right_hand",),
        activities,
        tuple(DetectedObject(o.object, 1.0, o.box) for o in objects),
        max(1, len(activities)),
        640,
        480,
    )


def cafe(cup2_box: tuple[float, ...] = (500, 100, 520, 130)) -> HoiAnnotation:
    """A cafe: person 0 holds cup 0 and drinks with it, person 1 holds cup 1; cup 2 and
    the dining table stand there; person 2 stands by (no activity)."""
    cups = (
        ObjectInstance("cafe.jpg", "0", "cup", Box(100, 100, 120, 130)),
        ObjectInstance("cafe.jpg", "1", "cup", Box(300, 100, 320, 130)),
        ObjectInstance("cafe.jpg", "2", "cup", Box(*cup2_box)),
        ObjectInstance("cafe.jpg", "3", "dining_table", Box(0, 200, 640, 480), score=0.75),
    )
    persons = (
        _person("cafe.jpg", "0", Box(50, 20, 200, 400), ("hold cup", "drink_with cup"), cups[:1]),
        _person("cafe.jpg", "1", Box(250, 20, 400, 400), ("hold cup",), cups[1:2]),
        _person("cafe.jpg", "2", Box(450, 20, 600, 400), (), ()),
    )
    interactions = (
        Interaction("0", "hold cup", "0"),
        Interaction("0", "drink_with cup", "0"),
        Interaction("1", "hold cup", "1"),
    )
    return HoiAnnotation("cafe.jpg", 640, 480, persons, cups, interactions)


def _triplets(store: GraphStore, source: str = "annotation") -> list[tuple[str, str, str]]:
    rows = store.query(
        "MATCH (p:Person)-[x:INTERACTS_WITH]->(o:ObjectInstance) WHERE x.source = $s "
        "RETURN p.id AS p, x.activity AS a, o.id AS o",
        s=source,
    )
    return sorted((r["p"], r["a"], r["o"]) for r in rows)


def test_ingest_writes_instances_and_ground_truth_triplets(store: GraphStore) -> None:
    init_store(store)
    report = ingest_hoi(store, [cafe()], source="cafe")
    assert report.persons_added == 3 and report.activities_added == 3
    assert (report.extra["object_instances_added"], report.extra["interactions_added"]) == (4, 3)
    rows = store.query(
        "MATCH (o:ObjectInstance)-[:IN_IMAGE]->(i:Image), (o)-[:IS_A]->(c:Object) "
        "RETURN o.id AS id, o.object_id AS oid, c.id AS cls, o.bbox AS box, o.score AS score, i.id AS image "
        "ORDER BY id"
    )
    assert rows[0] == {
        "id": "cafe.jpg/0",
        "oid": "0",
        "cls": "cup",
        "box": [100.0, 100.0, 120.0, 130.0],
        "score": 1.0,
        "image": "cafe.jpg",
    }
    assert [r["cls"] for r in rows] == ["cup", "cup", "cup", "dining_table"] and rows[3]["score"] == 0.75
    assert _triplets(store) == [
        ("cafe.jpg/0", "drink_with-cup", "cafe.jpg/0"),
        ("cafe.jpg/0", "hold-cup", "cafe.jpg/0"),
        ("cafe.jpg/1", "hold-cup", "cafe.jpg/1"),
    ]
    # ground truth: the annotation run of the ingest, which also wrote the DOES edges
    (run,) = store.query("MATCH (r:Run) RETURN r.id AS id, r.kind AS kind")
    edges = store.query(
        "MATCH (:Person)-[x:INTERACTS_WITH]->(:ObjectInstance) RETURN DISTINCT x.run AS run, "
        "x.model AS model, x.score AS score"
    )
    assert run["kind"] == "annotation" and edges == [
        {"run": run["id"], "model": "hake-annotation", "score": 1.0}
    ]
    # every triplet has its person-level DOES edge beside it
    assert store.query(
        "MATCH (p:Person)-[x:INTERACTS_WITH]->(:ObjectInstance) WHERE NOT EXISTS { "
        "MATCH (p)-[d:DOES]->(a:Activity) WHERE a.id = x.activity AND d.run = x.run } RETURN count(x) AS n"
    ) == [{"n": 0}]


def test_reingest_changes_nothing_and_changed_instances_are_refused(store: GraphStore) -> None:
    init_store(store)
    ingest_hoi(store, [cafe()])
    before = fingerprint(store)
    again = ingest_hoi(store, [cafe()])
    assert (
        again.persons_skipped,
        again.extra["object_instances_added"],
        again.extra["interactions_added"],
    ) == (
        3,
        0,
        0,
    )
    assert fingerprint(store) == before
    with pytest.raises(
        StoreError,
        match=r"instance .cafe.jpg/2. is stored as .cup. at \[500.0.*gives .cup. at \[501.0.*new store",
    ):
        ingest_hoi(store, [cafe((501, 100, 520, 130))])
    assert fingerprint(store) == before


def test_replace_swaps_a_changed_instance_and_the_triplets_that_named_it(store: GraphStore) -> None:
    """With ``replace``, a changed instance is deleted with every interaction naming it and
    written anew; a stored person whose triplet named it gets its triplets from the input."""
    init_store(store)
    first = cafe()
    ingest_hoi(store, [first])
    moved = dataclasses.replace(first.objects[1], box=Box(301, 100, 320, 130))
    changed = dataclasses.replace(first, objects=(first.objects[0], moved, *first.objects[2:]))
    with pytest.raises(StoreError, match="instance 'cafe.jpg/1' is stored.*--replace"):
        ingest_hoi(store, [changed])
    report = ingest_hoi(store, [changed], replace=True)
    assert report.extra["object_instances_replaced"] == 1 and report.extra["interactions_added"] == 1
    assert store.query("MATCH (o:ObjectInstance {id: 'cafe.jpg/1'}) RETURN o.bbox AS box") == [
        {"box": [301.0, 100.0, 320.0, 130.0]}
    ]
    assert store.query("MATCH (o:ObjectInstance) RETURN count(o) AS n") == [{"n": 4}]
    assert _triplets(store) == [
        ("cafe.jpg/0", "drink_with-cup", "cafe.jpg/0"),
        ("cafe.jpg/0", "hold-cup", "cafe.jpg/0"),
        ("cafe.jpg/1", "hold-cup", "cafe.jpg/1"),
    ]


def test_replacing_an_instance_deletes_it_by_primary_key(tmp_path: Path) -> None:
    """The per-batch delete of a replaced instance finds it by index lookup on LadybugDB (as
    the person deletes of ``replace``, tests/kg/test_identity.py); Neo4j: see the PROFILE
    test below."""
    from kg._triplets import _DROP_INSTANCES

    with EmbeddedStore(tmp_path / "g") as store:
        init_store(store)
        plan = store.execute(f"EXPLAIN {_DROP_INSTANCES}", rows=[{"id": "a.jpg/0"}])[0]["explain result"]
    assert "QUERY_PRIMARY_KEY_LOOKUP" in plan and "Table: ObjectInstance" in plan
    assert "SCAN_NODE_TABLE" not in plan


def test_a_failed_ingest_leaves_no_instance(store: GraphStore) -> None:
    """All or nothing: persons, instances and triplets go in together or not at all."""
    init_store(store)
    before = fingerprint(store)
    clash = HoiAnnotation(  # a second image whose instance key repeats the first's
        "other.jpg", 10, 10, (), (ObjectInstance("other.jpg", "0", "cup", Box(0, 0, 1, 1)),), ()
    )
    with pytest.raises(StoreError, match="object instance 'other.jpg/0' is given twice"):
        ingest_hoi(store, [cafe(), clash, clash])
    assert fingerprint(store) == before


def test_instances_of_an_image_without_persons_get_their_image(store: GraphStore) -> None:
    init_store(store)
    empty = HoiAnnotation(
        "empty.jpg", 30, 20, (), (ObjectInstance("empty.jpg", "0", "cup", Box(0, 0, 5, 5)),), ()
    )
    ingest_hoi(store, [empty])
    assert store.query(
        "MATCH (o:ObjectInstance)-[:IN_IMAGE]->(i:Image) RETURN o.id AS o, i.width AS w, i.height AS h"
    ) == [{"o": "empty.jpg/0", "w": 30, "h": 20}]


def test_hake_instance_file_writes_its_pairs(store: GraphStore, tmp_path: Path) -> None:
    """The fixture: A rides and holds one bicycle (both pairs' object boxes are the same box:
    one instance), B rides one, C boards an airplane."""
    init_store(store)
    report = ingest_hake_instance(store, write_instance_fixture(tmp_path))
    assert (report.extra["object_instances_added"], report.extra["interactions_added"]) == (3, 4)
    assert _triplets(store) == [
        ("img1.jpg/0", "hold-bicycle", "img1.jpg/0"),
        ("img1.jpg/0", "ride-bicycle", "img1.jpg/0"),
        ("img2.jpg/0", "ride-bicycle", "img2.jpg/0"),
        ("img3.jpg/0", "board-airplane", "img3.jpg/0"),
    ]


def test_predictions_name_their_instance_and_come_back(store: GraphStore) -> None:
    init_store(store)
    ingest_hoi(store, [cafe()])
    expl = ontology.Explanation("hold cup", "m", (ontology.Contribution("part_state", "hand: hold", 1.0),))
    preds = [
        ActivityPrediction("cafe.jpg", "0", "hold cup", 0.9, "m", "1", expl, object_id="2"),
        ActivityPrediction("cafe.jpg", "0", "drink_with cup", 0.2, "m", "1"),
        ActivityPrediction("cafe.jpg", "1", "hold cup", 0.7, "m", "1", object_id="1"),
    ]
    assert write_predictions(store, preds) == 3
    assert _triplets(store, "model") == [
        ("cafe.jpg/0", "hold-cup", "cafe.jpg/2"),
        ("cafe.jpg/1", "hold-cup", "cafe.jpg/1"),
    ]
    back = read_predictions(store, "cafe.jpg/0")
    assert [(p.activity, p.object_id, p.object_key) for p in back] == [
        ("hold-cup", "2", "cafe.jpg/2"),
        ("drink_with-cup", None, None),
    ]
    assert back[0] == ActivityPrediction(
        "cafe.jpg", "0", "hold-cup", 0.9, "m", "1", back[0].explanation, object_id="2"
    )
    assert back[0].to_dict()["object_id"] == "2"
    (edge,) = store.query(
        "MATCH (:Person {id: 'cafe.jpg/0'})-[x:INTERACTS_WITH]->(:ObjectInstance) WHERE x.source = 'model' "
        "MATCH (r:Run {id: x.run}) RETURN x.score AS score, x.model AS model, r.version AS version"
    )
    assert edge == {"score": 0.9, "model": "m", "version": "1"}
    # the model's next run over the person replaces its triplets with its other predictions
    write_predictions(store, [ActivityPrediction("cafe.jpg", "0", "hold cup", 0.6, "m", "2", object_id="0")])
    assert _triplets(store, "model") == [
        ("cafe.jpg/0", "hold-cup", "cafe.jpg/0"),
        ("cafe.jpg/1", "hold-cup", "cafe.jpg/1"),
    ]
    assert [(p.activity, p.object_id, p.model_version) for p in read_predictions(store, "cafe.jpg/0")] == [
        ("hold-cup", "0", "2")
    ]
    assert len(_triplets(store)) == 3  # ground truth untouched


@pytest.mark.parametrize(
    ("prediction", "message"),
    [
        (
            ActivityPrediction("cafe.jpg", "0", "hold cup", 0.9, "m", object_id="9"),
            "'cafe.jpg/9', which is not",
        ),
        (ActivityPrediction("cafe.jpg", "0", "hold cup", 0.9, "m", object_id="3"), "a 'dining_table'.*'cup'"),
    ],
)
def test_predictions_naming_a_wrong_instance_are_refused(
    store: GraphStore, prediction: ActivityPrediction, message: str
) -> None:
    init_store(store)
    ingest_hoi(store, [cafe()])
    before = fingerprint(store)
    with pytest.raises(StoreError, match=message):
        write_predictions(store, [ActivityPrediction("cafe.jpg", "1", "hold cup", 0.5, "m"), prediction])
    assert fingerprint(store) == before


def test_a_person_only_activity_names_no_instance(store: GraphStore) -> None:
    onto = ontology.load(ontology.example_extension())
    init_store(store, onto)
    ingest_hoi(store, [cafe()])
    jog = ActivityPrediction("cafe.jpg", "2", "jog", 0.9, "m", ontology=onto, object_id="0")
    with pytest.raises(StoreError, match="'jog'.*has no object; leave object_id None"):
        write_predictions(store, [jog])
    assert _triplets(store, "model") == []


def test_prediction_records_keep_working_without_an_instance() -> None:
    p = ActivityPrediction("a.jpg", "0", "ride bicycle", 0.5, "m", "v")
    assert p.object_id is None and p.object_key is None and p.to_dict()["object_id"] is None
    with pytest.raises(ontology.RecordError, match="object_id"):
        ActivityPrediction("a.jpg", "0", "ride bicycle", 0.5, "m", object_id="")
    u = ActivityPrediction.unchecked("a.jpg", "0", "ride-bicycle", 0.5, "m", object_id="3")
    assert u.object_key == "a.jpg/3"


def test_store_of_the_schema_before_instances_opens_and_takes_them(tmp_path: Path) -> None:
    """A store made before object instances (``IN_IMAGE`` joined persons to images only, no
    ``ObjectInstance``, ``IS_A`` or ``INTERACTS_WITH`` tables) is read as it is when opened
    read-only, and opened read-write it gains the tables and the new ``IN_IMAGE`` pair,
    keeps its rows, and takes triplets."""
    import ladybug

    from kg._triplets import has_pairing_tables, has_triplet_tables
    from kg.schema import REL_BY_TYPE
    from kg.store.embedded import DB_FILE

    with EmbeddedStore(tmp_path / "g") as new:  # a store of today, taken back to the old schema
        init_store(new)
        ingest_hoi(new, [cafe()])
        write_predictions(new, [ActivityPrediction("cafe.jpg", "1", "hold cup", 0.5, "m", "1")])
    db = ladybug.Database(str(tmp_path / "g" / DB_FILE))
    conn = ladybug.Connection(db)
    pairing = ("PAIR_CONTRIBUTES_TO", "CONCERNS", "PAIR_EXPLAINED_BY", "PairingExplanation", "PairingTerm")
    for table in (*pairing, "INTERACTS_WITH", "IS_A", "IN_IMAGE", "ObjectInstance"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("CREATE REL TABLE IN_IMAGE(FROM Person TO Image)")
    conn.execute("MATCH (p:Person), (i:Image) WHERE p.id STARTS WITH i.id CREATE (p)-[:IN_IMAGE]->(i)")
    conn.close()
    db.close()
    with EmbeddedStore(tmp_path / "g", read_only=True) as old:
        assert not has_triplet_tables(old) and not has_pairing_tables(old)
        (back,) = read_predictions(old, "cafe.jpg/1")
        assert (back.activity, back.object_id, back.pairing) == ("hold-cup", None, None)
    with EmbeddedStore(tmp_path / "g") as store:
        pairs = store.execute(  # (not an allowed read procedure of kg.store.readonly)
            "CALL show_connection('IN_IMAGE') RETURN `source table name` AS a, `destination table name` AS b"
        )
        assert sorted((r["a"], r["b"]) for r in pairs) == sorted(REL_BY_TYPE["IN_IMAGE"].pairs)
        assert has_pairing_tables(store)
        assert store.query("MATCH (p:Person)-[:IN_IMAGE]->(i:Image) RETURN count(p) AS n") == [{"n": 3}]
        again = ingest_hoi(store, [cafe()])  # the persons are stored: they gain their triplets
        assert (again.persons_skipped, again.extra["object_instances_added"]) == (3, 4)
        assert len(_triplets(store)) == 3
        assert store.query("MATCH (o:ObjectInstance)-[:IN_IMAGE]->(i:Image) RETURN count(o) AS n") == [
            {"n": 4}
        ]


def test_persons_stored_before_triplets_gain_them_on_reingest(store: GraphStore) -> None:
    """A person stored by an ingest of persons only (no triplets) gets its ground-truth
    triplets when the file is ingested again; the annotation run that adds them is stored."""
    from kg.ingest import ingest_annotated

    init_store(store)
    image = cafe()
    ingest_annotated(
        store, [p.to_observation() for p in image.persons], [p.activities for p in image.persons]
    )
    assert _triplets(store) == []
    report = ingest_hoi(store, [image])
    assert report.persons_skipped == 3 and report.extra["interactions_added"] == 3
    runs = {r["id"] for r in store.query("MATCH (r:Run) RETURN r.id AS id")}
    assert {r["run"] for r in store.query("MATCH ()-[x:INTERACTS_WITH]->() RETURN x.run AS run")} <= runs
    assert len(runs) == 2


def test_neo4j_triplet_statements_use_the_id_index(bolt_server: tuple[str, str, str, str]) -> None:
    """Every per-batch statement the triplets add on Neo4j finds its nodes by the id index
    (PROFILE in a rolled-back transaction, as tests/kg/test_predictions.py checks the
    write-back)."""
    from kg._triplets import _DROP_INSTANCES
    from kg.predictions import _STALE_NEO4J

    uri, user, password, database = bolt_server
    with Neo4jStore(uri, user, password, database) as store:
        store.execute("MATCH (n) DETACH DELETE n")
        init_store(store)
        ingest_hoi(store, [cafe()])
        statements: list[tuple[str, dict[str, object]]] = [
            (_STALE_NEO4J[2], {"rows": [{"p": "cafe.jpg/0", "model": "m", "run": "r"}]}),
            (_DROP_INSTANCES, {"rows": [{"id": "cafe.jpg/2"}]}),
            ("UNWIND $ids AS i MATCH (n:ObjectInstance {id: i}) RETURN n.id AS id", {"ids": ["cafe.jpg/0"]}),
            (
                "UNWIND $ids AS i MATCH (o:ObjectInstance {id: i})-[:IS_A]->(c:Object) "
                "RETURN o.id AS id, c.id AS c",
                {"ids": ["cafe.jpg/0"]},
            ),
        ]
        for rel, (a, b), ends in (
            ("IN_IMAGE", ("ObjectInstance", "Image"), {"from": "cafe.jpg/0", "to": "cafe.jpg"}),
            ("IS_A", ("ObjectInstance", "Object"), {"from": "cafe.jpg/0", "to": "cup"}),
            ("INTERACTS_WITH", ("Person", "ObjectInstance"), {"from": "cafe.jpg/0", "to": "cafe.jpg/1"}),
        ):
            statements.append(bulk_relate_statement(rel, a, b, ends))
        assert_index_lookups(bolt_server, statements)
        assert len(_triplets(store)) == 3  # every profiled statement was rolled back


@pytest.mark.slow
def test_the_instance_level_file_as_triplets(hake_dir: Path, tmp_path: Path) -> None:
    """The whole HICO-DET training file: every pair of the reader is a triplet of the store,
    and the instances are the reader's (DESIGN.md: 56,915 instances, 117,106 triplets)."""
    path = hake_dir / "hico-det-instance-level.tar.gz"
    images = ontology.read_hake_pairs(path)
    instances = sum(len(i.objects) for i in images)
    triplets = sum(1 for i in images for it in i.interactions if it.object_id is not None)
    with EmbeddedStore(tmp_path / "g") as store:
        init_store(store)
        report = ingest_hake_instance(store, path)
        assert report.extra == {"object_instances_added": instances, "interactions_added": triplets}
        assert store.query("MATCH (o:ObjectInstance) RETURN count(o) AS n") == [{"n": instances}]
        assert store.query("MATCH ()-[x:INTERACTS_WITH]->() RETURN count(x) AS n") == [{"n": triplets}]
        assert store.query(
            "MATCH (p:Person)-[:IN_IMAGE]->(i:Image)<-[:IN_IMAGE]-(o:ObjectInstance), "
            "(p)-[x:INTERACTS_WITH]->(o) RETURN count(x) AS n"
        ) == [{"n": triplets}]


# ---- RDF -------------------------------------------------------------------------------


def _cafe_with_predictions(store: GraphStore) -> GraphStore:
    init_store(store)
    ingest_hoi(store, [cafe()], source="cafe.json")
    expl = ontology.Explanation("hold cup", "m", (ontology.Contribution("part_state", "hand: hold", 1.0),))
    write_predictions(
        store,
        [
            ActivityPrediction("cafe.jpg", "1", "hold cup", 0.8, "pairs", "1", expl, object_id="0"),
            ActivityPrediction("cafe.jpg", "0", "drink_with cup", 0.4, "pairs", "1"),
        ],
    )
    return store


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (rdflib's JSON-LD parser, pyshacl)
@pytest.mark.parametrize("fmt", ["ttl", "jsonld"])
def test_rdf_export_of_triplets_conforms_answers_sparql_and_imports_back(
    store: GraphStore, tmp_path: Path, fmt: str
) -> None:
    import pyshacl
    import rdflib

    from kg.rdf import export_rdf, import_rdf, shapes_path, sparql

    _cafe_with_predictions(store)
    path = tmp_path / f"graph.{fmt}"
    export_rdf(store, path, include_ontology=False)
    graph = rdflib.Graph().parse(path, format="turtle" if fmt == "ttl" else "json-ld")
    ok, _, report = pyshacl.validate(graph, shacl_graph=str(shapes_path()))
    assert ok, report
    hake = "PREFIX hake: <https://w3id.org/hake-engine/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#> "
    # who holds which cup, by annotation and by model, with the instance's box (typed doubles)
    rows = sparql(
        path,
        hake + "SELECT ?person ?x1 ?source ?score WHERE { ?a hake:person ?person ; hake:objectInstance ?o ; "
        "hake:activity <https://w3id.org/hake-engine/ontology#act_hold-cup> ; hake:source ?source . "
        "OPTIONAL { ?a hake:score ?score } "
        "?o a hake:ObjectInstance ; hake:boxX1 ?x1 . FILTER(?x1 < 310.0) } ORDER BY ?person ?source",
    )
    data = "https://w3id.org/hake-engine/data/person/"
    assert rows == [
        {"person": data + "cafe.jpg%2F0", "x1": 100.0, "source": "annotation", "score": None},
        {"person": data + "cafe.jpg%2F1", "x1": 300.0, "source": "annotation", "score": None},
        {"person": data + "cafe.jpg%2F1", "x1": 100.0, "source": "model", "score": 0.8},
    ]
    # an instance is attributed to the dataset of the ground truth naming it; cup 2 to none
    attributed = sparql(
        path,
        hake + "SELECT ?id ?d WHERE { ?o a hake:ObjectInstance ; hake:objectId ?id . "
        "OPTIONAL { ?o prov:wasAttributedTo ?d } } ORDER BY ?id",
    )
    dataset = "https://w3id.org/hake-engine/data/dataset/cafe.json"
    assert [(r["id"], r["d"]) for r in attributed] == [
        ("0", dataset),
        ("1", dataset),
        ("2", None),
        ("3", None),
    ]
    with EmbeddedStore(tmp_path / "copy") as copy:
        init_store(copy)
        report = import_rdf(copy, path)
        assert report.extra == {"object_instances_added": 4, "interactions_added": 3}
        instances = (
            "MATCH (o:ObjectInstance)-[:IN_IMAGE]->(i:Image) MATCH (o)-[:IS_A]->(c:Object) "
            "RETURN o.id AS id, o.object_id AS oid, o.bbox AS box, o.score AS score, c.id AS c, "
            "i.id AS image, i.width AS w ORDER BY id"
        )
        assert copy.query(instances) == store.query(instances)
        assert _triplets(copy) == _triplets(store) and _triplets(copy, "model") == []
        again = import_rdf(copy, path)
        assert (again.extra["object_instances_added"], again.extra["interactions_added"]) == (0, 0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_shapes_refuse_an_instance_without_its_box_or_a_prediction_of_two(
    store: GraphStore, tmp_path: Path
) -> None:
    import pyshacl
    import rdflib

    from kg.rdf import export_rdf, shapes_path

    _cafe_with_predictions(store)
    path = tmp_path / "graph.ttl"
    export_rdf(store, path, include_ontology=False)
    h = rdflib.Namespace("https://w3id.org/hake-engine/ontology#")
    boxless = rdflib.Graph().parse(path)
    boxless.remove((None, h.boxY2, None))
    doubled = rdflib.Graph().parse(path)
    data = rdflib.Namespace("https://w3id.org/hake-engine/data/")
    doubled.add((data["pred/cafe.jpg%2F1/hold-cup/pairs"], h.objectInstance, data["instance/cafe.jpg%2F2"]))
    for graph, said in ((boxless, "boxY2"), (doubled, "objectInstance")):
        ok, _, report = pyshacl.validate(graph, shacl_graph=str(shapes_path()))
        assert not ok and said in str(report)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_one_persons_export_names_the_instance_of_its_prediction(store: GraphStore, tmp_path: Path) -> None:
    import pyshacl
    import rdflib

    from kg.rdf import export_rdf, person_rdf, shapes_path
    from kg.report import load_person

    _cafe_with_predictions(store)
    data = load_person(store, "cafe.jpg/1")
    assert data.instance(data.predictions[0]) == ObjectInstance(
        "cafe.jpg", "0", "cup", Box(100, 100, 120, 130)
    )
    assert data.to_dict()["explanations"][0]["object_instance"] == {
        "id": "0",
        "key": "cafe.jpg/0",
        "object": "cup",
        "name": "cup",
        "box": [100.0, 100.0, 120.0, 130.0],
        "score": 1.0,
    }
    person = rdflib.Graph().parse(data=person_rdf(data, "ttl"), format="turtle")
    ok, _, report = pyshacl.validate(person, shacl_graph=str(shapes_path()))
    assert ok, report
    h = rdflib.Namespace("https://w3id.org/hake-engine/ontology#")
    assert len(set(person.subject_objects(h.objectInstance))) == 1
    full_path = tmp_path / "graph.ttl"
    export_rdf(store, full_path, include_ontology=False)
    instance = rdflib.URIRef("https://w3id.org/hake-engine/data/instance/cafe.jpg%2F0")
    said = {t for t in person if t[0] == instance or t[1] == h.objectInstance}
    assert len(said) > 8 and said <= set(rdflib.Graph().parse(full_path))  # as the full export says


@pytest.mark.parametrize(
    ("cypher", "label"),
    [
        ("MATCH (n:Person {id: $id}) RETURN n.id AS id", "Person"),  # kg._stored.stored_ids
        ("MATCH (n:ObjectInstance {id: $id}) RETURN n.id AS id", "ObjectInstance"),
        ("_INSTANCE_BY_KEY", "ObjectInstance"),  # kg._triplets._stored_instances, a few keys
    ],
)
def test_few_keys_are_looked_up_by_primary_key_on_the_embedded_store(
    tmp_path: Path, cypher: str, label: str
) -> None:
    """A small write into a large store checks its persons and instances by primary-key
    lookups (a scalar parameter), never by scanning their tables (measured: 0.21 ms per
    instance and class on a store of 56,915 instances, against 135 ms for the scan that
    every small write paid before)."""
    import re

    from kg._stored import stored_ids
    from kg._triplets import _INSTANCE_BY_KEY

    if cypher == "_INSTANCE_BY_KEY":
        cypher = f"{_INSTANCE_BY_KEY} RETURN o.id AS id, c.id AS c"
    with EmbeddedStore(tmp_path / "g") as store:
        init_store(store)
        plan = store.execute(f"EXPLAIN {cypher}", id="x")[0]["explain result"]
        lookups = re.findall(r"PRIMARY_KEY_SCAN_NODE_TABLE\[\d+\][^┘]*?Key: \$id", plan)
        assert lookups, plan
        scanned = re.findall(r" SCAN_NODE_TABLE\[\d+\][^┘]*?Tables: (\w+)", plan)
        assert label not in scanned, plan
        ingest_hoi(store, [cafe()])
        assert stored_ids(store, "ObjectInstance", ["cafe.jpg/0", "nope"]) == {"cafe.jpg/0"}
        assert stored_ids(store, "Person", ["cafe.jpg/0", "cafe.jpg/9"]) == {"cafe.jpg/0"}


# ---- pairing explanations: why the pairing model chose each model triplet's instance ------


@pytest.fixture(scope="module")
def pairer():  # type: ignore[no-untyped-def]
    """A tiny pairing model, trained for a few steps on two images of the cafe's layout."""
    import torch

    from reasoning import pairing

    torch.manual_seed(0)
    onto = ontology.load()
    image = cafe()
    images = [
        HoiAnnotation(
            name,
            640,
            480,
            tuple(dataclasses.replace(p, image_id=name) for p in image.persons),
            tuple(dataclasses.replace(o, image_id=name) for o in image.objects),
            tuple(
                dataclasses.replace(i, activity=onto.activities[i.activity].id) for i in image.interactions
            ),
        )
        for name in ("cafe.jpg", "cafe2.jpg")
    ]
    graph = pairing.pair_graph(images)
    return pairing.fit_pairing(graph, pairing.pair_cases(images, graph), epochs=2, batch_cases=2)


@pytest.fixture(scope="module")
def activity_reasoner():  # type: ignore[no-untyped-def]
    from reasoning import ActivityReasoner

    return ActivityReasoner.from_pretrained()


def _cafe_scene() -> ontology.ImageObservation:
    """What perception might see in the cafe: persons 0 and 1 with a hand holding, and the cups."""
    image = cafe()
    persons = tuple(
        ontology.PersonObservation(
            "cafe.jpg",
            p.person_id,
            box=p.box,
            part_states={"hand_hold": 0.9, "head_drink_with": 0.6},
            objects=tuple(
                ontology.DetectedObject(o.object, 0.9, o.box, object_id=o.object_id) for o in image.objects
            ),
        )
        for p in image.persons[:2]
    )
    return ontology.ImageObservation("cafe.jpg", persons, image.objects)


def _pairings(store: GraphStore, person: str) -> list[ontology.PairingExplanation]:
    """Why the pairing model chose the instances of ``person``'s stored predictions."""
    return [p.pairing for p in read_predictions(store, person) if p.pairing is not None]


def _model_triplets(store: GraphStore) -> list[tuple[str, str, str, str]]:
    rows = store.query(
        "MATCH (p:Person)-[x:INTERACTS_WITH]->(o:ObjectInstance) WHERE x.source = 'model' "
        "RETURN p.id AS p, x.activity AS a, o.id AS o, x.run AS run"
    )
    return sorted((r["p"], r["a"], r["o"], r["run"]) for r in rows)


def test_pairing_explanations_land_with_the_triplets_and_come_back_exactly(
    store: GraphStore,
    pairer,  # type: ignore[no-untyped-def]
    activity_reasoner,  # type: ignore[no-untyped-def]
) -> None:
    from kg.reason import reason_scenes
    from reasoning.pairing import PAIRING_TERMS, explain_pair_predictions

    init_store(store)
    scene = _cafe_scene()
    predicted = reason_scenes(store, activity_reasoner, [scene], pairer=pairer, top_k=40)
    # what went in: the same choices explained again (deterministic on the CPU)
    unpaired = [
        [dataclasses.replace(p, object_id=None, pairing=None) for p in person] for person in predicted
    ]
    assert explain_pair_predictions(pairer, [scene], unpaired) == predicted
    went_in = [p for person in predicted for p in person if p.pairing is not None]
    assert len(went_in) >= 2 and {p.key for p in went_in} == {"cafe.jpg/0", "cafe.jpg/1"}
    triplets = _model_triplets(store)
    expected = sorted((p.key, p.activity, str(p.object_key)) for p in went_in)
    assert [t[:3] for t in triplets] == expected  # one explanation per triplet
    # what comes back: the same records, the pairing explanations on their predictions
    for person in predicted:
        assert read_predictions(store, person[0].key) == sorted(person, key=lambda p: (-p.score, p.activity))
    for p in went_in:
        assert p.pairing is not None and p.pairing.total() == pytest.approx(p.pairing.score, abs=1e-9)
    (run,) = {t[3] for t in triplets}
    (model,) = {r["m"] for r in store.query("MATCH ()-[x:INTERACTS_WITH]->() RETURN DISTINCT x.model AS m")}
    written = store.query("MATCH (e:PairingExplanation) RETURN DISTINCT e.run AS run, e.model AS model")
    assert written == [{"run": run, "model": model}]  # the triplets' run and model
    # the terms reach their nodes: PairingTerm for geometry and the cascade, PartState, BodyPart
    (row,) = store.query("MATCH (t:PairingTerm) RETURN count(t) AS n")
    assert row["n"] == len(PAIRING_TERMS)
    rows = store.query(
        "MATCH (t:PairingTerm {id: 'box_iou'}) RETURN t.kind AS kind, t.name AS name, t.idx AS idx"
    )
    assert rows == [{"kind": "geometry", "name": "box IoU", "idx": 4}]
    # the example query answers the same numbers
    from kg.queries import EXAMPLES

    q = EXAMPLES["why_paired"]
    b = went_in[0]
    why = b.pairing
    assert why is not None
    name = ontology.load().activities[b.activity].name
    rows = store.query(q.cypher, person=b.key, instance=b.object_key)
    assert {(r["activity"], r["term"], r["weight"]) for r in rows} >= {
        (name, c.term, c.weight) for c in why.contributions
    }
    assert {(r["score"], r["baseline"], r["rest"]) for r in rows if r["activity"] == name} == {
        (why.score, why.baseline, why.rest)
    }
    # the model's next run over the persons replaces its pairing explanations with its triplets
    reason_scenes(store, activity_reasoner, [scene], pairer=pairer, top_k=40)
    again = _model_triplets(store)
    (new_run,) = {t[3] for t in again}
    assert new_run != run and [t[:3] for t in again] == [t[:3] for t in triplets]
    runs = store.query("MATCH (e:PairingExplanation) RETURN e.run AS run, count(e) AS n")
    assert runs == [{"run": new_run, "n": len(expected)}]
    # without explanations the run writes triplets only, and the earlier explanations go
    reason_scenes(store, activity_reasoner, [scene], pairer=pairer, top_k=40, explain=False)
    assert store.query("MATCH (e:PairingExplanation) RETURN count(e) AS n") == [{"n": 0}]
    assert len(_model_triplets(store)) == len(expected)
    assert [p for p in read_predictions(store, "cafe.jpg/0") if p.pairing is not None] == []


def test_a_failed_pairing_write_leaves_nothing(
    store: GraphStore,
    pairer,  # type: ignore[no-untyped-def]
    activity_reasoner,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pairing explanations are written in the load of the persons and triplets: when they
    fail, nothing of the load lands."""
    from kg.reason import reason_scenes
    from reasoning import pairing

    init_store(store)
    explain = pairing.explain_pair_predictions

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        colour = ontology.PairingContribution("geometry", "colour", 1.0)  # (no term of the store's)
        return [
            [
                p
                if p.pairing is None
                else dataclasses.replace(p, pairing=dataclasses.replace(p.pairing, contributions=(colour,)))
                for p in person
            ]
            for person in explain(*args, **kwargs)
        ]

    monkeypatch.setattr(pairing, "explain_pair_predictions", broken)
    with pytest.raises(StoreError, match=r"unknown pairing terms \['colour'\]"):
        reason_scenes(store, activity_reasoner, [_cafe_scene()], pairer=pairer, top_k=40)
    for label in ("Person", "ObjectInstance", "PairingExplanation", "PairingTerm"):
        assert store.query(f"MATCH (n:{label}) RETURN count(n) AS n") == [{"n": 0}]
    assert store.query("MATCH ()-[x:INTERACTS_WITH]->() RETURN count(x) AS n") == [{"n": 0}]


def test_replacing_an_instance_drops_the_pairing_explanations_that_concern_it(
    store: GraphStore,
    pairer,  # type: ignore[no-untyped-def]
    activity_reasoner,  # type: ignore[no-untyped-def]
) -> None:
    from kg._triplets import GroundTruthTriplets, stage_annotated_triplets
    from kg.reason import reason_scenes

    init_store(store)
    reason_scenes(store, activity_reasoner, [_cafe_scene()], pairer=pairer, top_k=40)
    moved = {p.object_key for p in read_predictions(store, "cafe.jpg/0") if p.pairing is not None}
    assert moved
    instances = [
        dataclasses.replace(o, box=Box(1, 1, 2, 2)) if o.key in moved else o for o in _cafe_scene().objects
    ]
    with store.bulk_load() as load:
        stage_annotated_triplets(
            load,
            store,
            GroundTruthTriplets(instances, []),
            run="r",
            model="m",
            persons_written=[],
            images_present={"cafe.jpg"},
            source="test",
            ontology=ontology.load(),
            replace=True,
        )
    assert [p for p in read_predictions(store, "cafe.jpg/0") if p.pairing and p.object_key in moved] == []
    left = store.query("MATCH (e:PairingExplanation)-[:CONCERNS]->(o:ObjectInstance) RETURN o.id AS o")
    assert {r["o"] for r in left}.isdisjoint(moved)
    assert store.query(
        "MATCH (e:PairingExplanation) WHERE NOT (e)-[:CONCERNS]->(:ObjectInstance) RETURN count(e) AS n"
    ) == [{"n": 0}]


def test_replacing_a_person_drops_its_pairing_explanations(
    store: GraphStore,
    pairer,  # type: ignore[no-untyped-def]
    activity_reasoner,  # type: ignore[no-untyped-def]
) -> None:
    from kg.ingest import ingest_observations
    from kg.reason import reason_scenes

    init_store(store)
    scene = _cafe_scene()
    reason_scenes(store, activity_reasoner, [scene], pairer=pairer, top_k=40)
    assert _pairings(store, "cafe.jpg/0") and _pairings(store, "cafe.jpg/1")
    changed = dataclasses.replace(scene.persons[0], part_states={"hand_hold": 0.5})
    assert ingest_observations(store, [changed], replace=True).extra["persons_replaced"] == 1
    assert _pairings(store, "cafe.jpg/0") == []
    assert store.query(
        "MATCH (:Person {id: 'cafe.jpg/0'})-[:PAIR_EXPLAINED_BY]->(e) RETURN count(e) AS n"
    ) == [{"n": 0}]
    assert _pairings(store, "cafe.jpg/1")  # the other person's stay
    assert store.query(
        "MATCH (e:PairingExplanation) WHERE NOT (:Person)-[:PAIR_EXPLAINED_BY]->(e) RETURN count(e) AS n"
    ) == [{"n": 0}]


def test_pairing_explanations_are_deleted_by_primary_key(tmp_path: Path) -> None:
    """A replaced person's or instance's pairing explanations are found from it and deleted
    by index lookup on LadybugDB."""
    from kg._triplets import _PAIRINGS_OF_INSTANCE, DROP_PAIRINGS, PAIRINGS_OF_PERSON

    with EmbeddedStore(tmp_path / "g") as store:
        init_store(store)
        plan = store.execute(f"EXPLAIN {DROP_PAIRINGS}", rows=[{"id": "r:pair:0"}])[0]["explain result"]
        assert "QUERY_PRIMARY_KEY_LOOKUP" in plan and "Table: PairingExplanation" in plan
        assert "SCAN_NODE_TABLE" not in plan
        for cypher, label in ((PAIRINGS_OF_PERSON, "Person"), (_PAIRINGS_OF_INSTANCE, "ObjectInstance")):
            plan = store.execute(f"EXPLAIN {cypher}", id="a.jpg/0")[0]["explain result"]
            # the key's node by its primary key (as kg.ingest finds a person's explanations)
            assert "PRIMARY_KEY_SCAN_NODE_TABLE" in plan and f"Tables: {label}" not in plan, plan


def test_neo4j_pairing_statements_use_the_id_index(bolt_server: tuple[str, str, str, str]) -> None:
    """Every per-batch statement the pairing explanations add on Neo4j finds its nodes by the
    id index (PROFILE in a rolled-back transaction)."""
    from kg._triplets import DROP_PAIRINGS, STALE_PAIRINGS_NEO4J

    uri, user, password, database = bolt_server
    with Neo4jStore(uri, user, password, database) as store:
        store.execute("MATCH (n) DETACH DELETE n")
        init_store(store)
        ingest_hoi(store, [cafe()])
        # the nodes the profiled statements match (a plan shows a lookup only where rows reach it)
        store.execute("CREATE (:PairingExplanation {id: 'r:pair:0', model: 'm', run: 'r0'})")
        store.execute("CREATE (:PairingTerm {id: 'box_iou', kind: 'geometry'})")
        statements: list[tuple[str, dict[str, object]]] = [
            (DROP_PAIRINGS, {"rows": [{"id": "r:pair:0"}]}),
            (STALE_PAIRINGS_NEO4J, {"rows": [{"p": "cafe.jpg/0", "model": "m", "run": "r"}]}),
            ("UNWIND $ids AS i MATCH (n:PairingTerm {id: i}) RETURN n.id AS id", {"ids": ["box_iou"]}),
        ]
        for rel, (a, b), ends in (
            ("PAIR_EXPLAINED_BY", ("Person", "PairingExplanation"), {"from": "cafe.jpg/0", "to": "r:pair:0"}),
            ("CONCERNS", ("PairingExplanation", "ObjectInstance"), {"from": "r:pair:0", "to": "cafe.jpg/0"}),
            (
                "PAIR_CONTRIBUTES_TO",
                ("PairingTerm", "PairingExplanation"),
                {"from": "box_iou", "to": "r:pair:0"},
            ),
            (
                "PAIR_CONTRIBUTES_TO",
                ("PartState", "PairingExplanation"),
                {"from": "hand_hold", "to": "r:pair:0"},
            ),
            (
                "PAIR_CONTRIBUTES_TO",
                ("BodyPart", "PairingExplanation"),
                {"from": "right_hand", "to": "r:pair:0"},
            ),
        ):
            statements.append(bulk_relate_statement(rel, a, b, ends))
        assert_index_lookups(bolt_server, statements)
        assert store.query("MATCH (e:PairingExplanation) RETURN count(e) AS n") == [{"n": 1}]  # rolled back


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (rdflib's JSON-LD parser, pyshacl)
@pytest.mark.parametrize("fmt", ["ttl", "jsonld"])
def test_rdf_export_of_pairing_explanations_conforms_and_adds_up(
    store: GraphStore,
    tmp_path: Path,
    fmt: str,
    pairer,  # type: ignore[no-untyped-def]
    activity_reasoner,  # type: ignore[no-untyped-def]
) -> None:
    import pyshacl
    import rdflib

    from kg.rdf import export_rdf, import_rdf, person_rdf, shapes_path, sparql
    from kg.reason import reason_scenes
    from kg.report import load_person

    init_store(store)
    reason_scenes(store, activity_reasoner, [_cafe_scene()], pairer=pairer, top_k=40)
    path = tmp_path / f"graph.{fmt}"
    export_rdf(store, path, include_ontology=False)
    graph = rdflib.Graph().parse(path, format="turtle" if fmt == "ttl" else "json-ld")
    ok, _, report = pyshacl.validate(graph, shacl_graph=str(shapes_path()))
    assert ok, report
    hake = "PREFIX hake: <https://w3id.org/hake-engine/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#> "
    rows = sparql(
        path,
        hake + "SELECT ?e ?o ?pred_o ?score ?baseline ?rest (SUM(?w) AS ?terms) (COUNT(?c) AS ?n) WHERE { "
        "?e a hake:PairingExplanation ; hake:objectInstance ?o ; hake:explains ?pred ; "
        "hake:pairScore ?score ; hake:baseline ?baseline ; hake:rest ?rest ; hake:pairingContribution ?c . "
        "?c hake:weight ?w . ?pred hake:objectInstance ?pred_o } "
        "GROUP BY ?e ?o ?pred_o ?score ?baseline ?rest",
    )
    stored = _pairings(store, "cafe.jpg/0") + _pairings(store, "cafe.jpg/1")
    assert len(rows) == len(stored) >= 2
    for r in rows:
        assert r["o"] == r["pred_o"]  # the explanation concerns the instance its prediction names
        assert r["baseline"] + r["terms"] + r["rest"] == pytest.approx(r["score"], abs=1e-9)
    counts = sorted((e.score, len(e.contributions)) for e in stored)
    assert sorted((r["score"], r["n"]) for r in rows) == counts
    terms = sparql(
        path,
        hake + "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> SELECT ?label ?index WHERE { "
        "?t a hake:PairingTerm ; rdfs:label ?label ; hake:kind 'geometry' ; hake:index ?index } "
        "ORDER BY ?index",
    )
    assert terms and all(0 <= t["index"] < 13 for t in terms)
    # one person's export says the same about its pairings
    data = load_person(store, "cafe.jpg/0")
    person = rdflib.Graph().parse(data=person_rdf(data, "ttl"), format="turtle")
    ok, _, report = pyshacl.validate(person, shacl_graph=str(shapes_path()))
    assert ok, report
    h = rdflib.Namespace("https://w3id.org/hake-engine/ontology#")
    mine = set(person.subjects(rdflib.RDF.type, h.PairingExplanation))
    assert len(mine) == len(_pairings(store, "cafe.jpg/0"))
    full = set(graph)
    assert {t for t in person if t[0] in mine} <= full
    # an import reads the ground truth back, as before: model predictions and their
    # pairing explanations are the store's own (kg.rdf.import_rdf)
    with EmbeddedStore(tmp_path / "copy") as copy:
        init_store(copy)
        report = import_rdf(copy, path)
        assert report.persons_added == 2
        assert copy.query("MATCH (e:PairingExplanation) RETURN count(e) AS n") == [{"n": 0}]


def test_the_report_shows_the_pairing_evidence(
    store: GraphStore,
    pairer,  # type: ignore[no-untyped-def]
    activity_reasoner,  # type: ignore[no-untyped-def]
) -> None:
    from kg.reason import reason_scenes
    from kg.report import load_person, write_explanation
    from reasoning.pairing import PAIRING_TERMS

    pairing_names = {i: name for i, _, name in PAIRING_TERMS}
    init_store(store)
    reason_scenes(store, activity_reasoner, [_cafe_scene()], pairer=pairer, top_k=40)
    data = load_person(store, "cafe.jpg/0")
    stored = {(p.activity, p.model): p for p in read_predictions(store, "cafe.jpg/0") if p.pairing}
    assert stored and {(p.activity, p.model): p for p in data.predictions if p.pairing} == stored
    entries = [e for e in data.to_dict()["explanations"] if e["pairing"] is not None]
    assert {(e["activity"], e["model"]) for e in entries} == set(stored)
    for e in entries:
        pred = stored[(e["activity"], e["model"])]
        why = pred.pairing
        assert why is not None and data.pairing(pred) is why
        pairing = e["pairing"]
        assert (pairing["score"], pairing["baseline"], pairing["rest"]) == (why.score, why.baseline, why.rest)
        assert [(t["kind"], t["term"], t["weight"]) for t in pairing["terms"]] == [
            (c.kind, c.term, c.weight) for c in why.contributions
        ]
        assert e["object_instance"]["key"] == pred.object_key
        for t in pairing["terms"]:  # the pairing model's own terms by their PairingTerm names
            if t["kind"] in ("geometry", "cascade"):
                assert t["name"] == pairing_names[t["term"]]
    page = write_explanation(data, "html")
    assert page.count('<table class="pairing"') == len(entries)
    assert page.count('class="pairing-term"') == sum(len(e["pairing"]["terms"]) for e in entries)
    why = next(iter(stored.values())).pairing
    assert why is not None and f"= pair score {why.score:+.3f}" in page
    # the dashed line from an instance to the person carries the evidence as its tooltip
    line = page[page.index('<line class="triplet-line"') :]
    line = line[: line.index("</line>")]
    assert "<title>" in line and "pair score" in line
