from __future__ import annotations

import json
from pathlib import Path

import pytest
import rdflib
import rdflib.compare

import kg.rdf
from kg.export import to_networkx, write_graphml
from kg.ingest import ingest_hake_instance, ingest_observations, init_store
from kg.predictions import write_predictions
from kg.rdf import export_rdf, import_rdf, jsonld_context, rdf_store, sparql, store_path
from kg.store import EmbeddedStore, GraphStore
from ontology import (
    NAMESPACE,
    ActivityPrediction,
    Contribution,
    Explanation,
    Keypoint,
    PersonObservation,
    StoreError,
)
from tests.kg.helpers import write_instance_fixture

HAKE = "PREFIX hake: <https://w3id.org/hake-engine/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#> "


def fill(store: GraphStore, tmp_path: Path) -> GraphStore:
    """Three annotated persons (the instance fixture), and one perceived person with a
    prediction and its explanation."""
    init_store(store)
    ingest_hake_instance(store, write_instance_fixture(tmp_path))
    pose = tuple(Keypoint(10.0 + i, 20.0 + 2 * i, 0.05 * i) for i in range(17))
    ingest_observations(
        store,
        [PersonObservation("demo.jpg", "0", part_states={"hip: sit on": 0.9}, keypoints=pose, model="tiny")],
    )
    expl = Explanation(
        "ride bicycle", "exact-decomposition", (Contribution("part_state", "hip: sit on", 0.6),)
    )
    write_predictions(store, [ActivityPrediction("demo.jpg", "0", "ride bicycle", 0.8, "gnn", "1", expl)])
    return store


@pytest.fixture
def filled(store: GraphStore, tmp_path: Path) -> GraphStore:
    return fill(store, tmp_path)


@pytest.mark.parametrize("suffix", ["ttl", "jsonld"])
def test_export_parses_with_rdflib_and_answers_sparql(
    filled: GraphStore, tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"graph.{suffix}"
    n = export_rdf(filled, path)
    graph = rdflib.Graph().parse(path, format="turtle" if suffix == "ttl" else "json-ld")
    assert len(graph) == n > 8_000  # the ontology's 8,152 triples plus instances
    rows = sparql(
        path,
        HAKE + "SELECT ?person ?prob WHERE { ?o a hake:PartStateObservation ; "
        "hake:person ?person ; hake:probability ?prob ; prov:wasAttributedTo ?agent . "
        "?agent a prov:SoftwareAgent . FILTER(?prob < 1.0) }",
    )
    assert rows == [{"person": "https://w3id.org/hake-engine/data/person/demo.jpg%2F0", "prob": 0.9}]
    why = sparql(
        path,
        HAKE + "SELECT ?w ?method WHERE { ?e a hake:Explanation ; hake:method ?method ; "
        "hake:contribution ?c . ?c hake:weight ?w }",
    )
    assert why == [{"w": 0.6, "method": "exact-decomposition"}]
    assert sparql(path, HAKE + "SELECT ?e WHERE { ?e a hake:Explanation }", progress=True)
    said = capsys.readouterr().err
    assert f"reusing the SPARQL store {store_path(path)}" in said
    evidence = sparql(
        path,
        HAKE + "SELECT ?w WHERE { ?e a hake:Evidence ; hake:partState hake:ps_hip_sit_on ; "
        "hake:target hake:act_ride-bicycle ; hake:weight ?w }",
    )
    assert evidence[0]["w"] == pytest.approx(1.0)


def test_import_round_trip(filled: GraphStore, tmp_path: Path) -> None:
    path = tmp_path / "graph.ttl"
    export_rdf(filled, path)
    with EmbeddedStore(tmp_path / "copy") as copy:
        init_store(copy)
        report = import_rdf(copy, path)
        assert (report.persons_added, report.activities_added) == (4, 4)
        query = (
            "MATCH (p:Person)-[h:HAS_STATE]->(s:PartState) RETURN p.id AS person, s.id AS state, "
            "h.prob AS prob ORDER BY person, state"
        )
        assert copy.query(query) == filled.query(query)
        assert import_rdf(copy, path).persons_skipped == 4
        boxes = "MATCH (p:Person) RETURN p.id AS person, p.bbox AS box ORDER BY person"
        assert copy.query(boxes) == filled.query(boxes)
        keypoints = "MATCH (p:Person) RETURN p.id AS person, p.keypoints AS k ORDER BY person"
        assert copy.query(keypoints) == filled.query(keypoints)
        assert sum(r["k"] is not None for r in copy.query(keypoints)) == 1
    # keypoints are typed nodes: persons whose left wrist is seen with confidence above 0.4
    wrists = sparql(
        path,
        HAKE + "SELECT ?p ?x WHERE { ?p hake:keypoint ?k . ?k hake:keypointName 'left_wrist' ; "
        "hake:x ?x ; hake:confidence ?c . FILTER(?c > 0.4) }",
    )
    assert [(r["p"].rsplit("/", 1)[-1], r["x"]) for r in wrists] == [("demo.jpg%2F0", 19.0)]  # x 19, c 0.45
    # boxes are typed numbers: a SPARQL user filters on them
    wide = sparql(
        path, HAKE + "SELECT ?p ?x1 WHERE { ?p a hake:Person ; hake:boxX1 ?x1 . FILTER(?x1 >= 0.0) }"
    )
    assert wide and all(isinstance(r["x1"], float) for r in wide)
    # an export of the earlier format (the box as a JSON array in a string) still imports
    graph = rdflib.Graph().parse(path)
    hake = rdflib.Namespace(NAMESPACE)
    boxed = set(graph.subjects(hake.boxX1, None)) & set(graph.subjects(rdflib.RDF.type, hake.Person))
    for person in boxed:  # (a person's: object instances came later)
        corners = [float(graph.value(person, hake[name])) for name in ("boxX1", "boxY1", "boxX2", "boxY2")]
        for name in ("boxX1", "boxY1", "boxX2", "boxY2"):
            graph.remove((person, hake[name], None))
        graph.add((person, hake.bbox, rdflib.Literal(json.dumps(corners))))
    # ... and ground truth as it was written then: predictions with source "annotation"
    for annotation in set(graph.subjects(rdflib.RDF.type, hake.ActivityAnnotation)):
        graph.remove((annotation, rdflib.RDF.type, hake.ActivityAnnotation))
        graph.add((annotation, rdflib.RDF.type, hake.ActivityPrediction))
        graph.add((annotation, hake.score, rdflib.Literal(1.0)))
    legacy = tmp_path / "legacy.ttl"
    graph.serialize(legacy, format="turtle")
    assert not set(graph.subjects(rdflib.RDF.type, hake.ActivityAnnotation))
    with EmbeddedStore(tmp_path / "legacy-copy") as copy:
        init_store(copy)
        assert import_rdf(copy, legacy).activities_added == 4
        assert copy.query(boxes) == filled.query(boxes)


def test_export_errors_leave_nothing_behind(filled: GraphStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown RDF format 'xml'"):
        export_rdf(filled, tmp_path / "export.xml")
    assert list(tmp_path.glob("export*")) == []
    with pytest.raises(StoreError, match="hake export"):
        sparql(tmp_path / "missing.ttl", "SELECT * WHERE { ?s ?p ?o }")


def test_jsonld_is_compact_with_the_published_context(filled: GraphStore, tmp_path: Path) -> None:
    import pyoxigraph

    compact, turtle, expanded = tmp_path / "g.jsonld", tmp_path / "g.ttl", tmp_path / "expanded.jsonld"
    assert export_rdf(filled, compact) == export_rdf(filled, turtle)
    doc = json.loads(compact.read_text())
    published = json.loads((Path(kg.rdf.__file__).parent / "data" / "context.jsonld").read_text())
    assert doc["@context"] == published["@context"] == jsonld_context()  # embedded: no fetch
    nodes = {node["@id"]: node for node in doc["@graph"]}
    person = nodes["data:person/img1.jpg%2F0"]
    assert person["@type"] == ["Person", "prov:Entity"] and person["boxX2"] == 100.0
    assert nodes["data:obs/demo.jpg%2F0/hip_sit_on"]["probability"] == 0.9
    assert not [key for node in doc["@graph"] for key in node if key.startswith("http")]
    # the same triples as the Turtle export, read by rdflib
    assert rdflib.compare.isomorphic(
        rdflib.Graph().parse(compact, format="json-ld"), rdflib.Graph().parse(turtle, format="turtle")
    )
    # the expanded form pyoxigraph writes is several times larger (measured here: 3.9x)
    everything = rdf_store(filled)
    everything.dump(str(expanded), format=pyoxigraph.RdfFormat.JSON_LD, from_graph=pyoxigraph.DefaultGraph())
    assert compact.stat().st_size * 3 < expanded.stat().st_size


def test_sparql_keeps_a_store_beside_the_export(
    filled: GraphStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "graph.ttl"
    export_rdf(filled, path)
    persons = HAKE + "SELECT (COUNT(*) AS ?n) WHERE { ?p a hake:Person }"
    assert sparql(path, persons, progress=True) == [{"n": 4}]
    said = capsys.readouterr().err
    assert "indexing graph.ttl for SPARQL" in said and f"built {store_path(path)}" in said
    stamp = store_path(path) / "hake-export.json"
    built = stamp.stat().st_mtime_ns
    assert sparql(path, persons, progress=True) == [{"n": 4}]
    assert "reusing the SPARQL store" in capsys.readouterr().err and stamp.stat().st_mtime_ns == built
    # a new export of a changed store: the store beside it is rebuilt
    ingest_observations(filled, [PersonObservation("late.jpg", "0", part_states={"hand: hold": 0.7})])
    export_rdf(filled, path)
    assert sparql(path, persons, progress=True) == [{"n": 5}]
    assert f"built {store_path(path)}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("graph.ttl", ".graph.ttl"))) == [
        "graph.ttl",
        "graph.ttl.oxigraph",
    ]  # no temporary or stale folder left behind


@pytest.mark.parametrize(
    "update",
    [
        "INSERT DATA { <https://example.org/a> <https://example.org/b> <https://example.org/c> }",
        "DELETE WHERE { ?s ?p ?o }",
    ],
)
def test_sparql_refuses_updates(filled: GraphStore, tmp_path: Path, update: str) -> None:
    path = tmp_path / "graph.ttl"
    n = export_rdf(filled, path)
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    assert sparql(path, count) == [{"n": n}]
    with pytest.raises(StoreError, match="SPARQL UPDATE is refused") as err:
        sparql(path, update)
    assert "\n" not in str(err.value)
    assert sparql(path, count) == [{"n": n}]


def test_sparql_reads_into_memory_when_the_folder_is_not_writable(
    filled: GraphStore, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "graph.ttl"
    export_rdf(filled, path)

    def refused(**_: object) -> str:  # what a read-only folder answers (tests run as root here)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(kg.rdf.tempfile, "mkdtemp", refused)
    assert sparql(path, HAKE + "SELECT (COUNT(*) AS ?n) WHERE { ?p a hake:Person }") == [{"n": 4}]
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "cannot keep a SPARQL store" in said[0] and "into memory" in said[0]
    assert not store_path(path).exists()


def test_sparql_leaves_what_it_did_not_make_alone(
    filled: GraphStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "graph.ttl"
    export_rdf(filled, path)
    mine = store_path(path)
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's folder")
    assert sparql(path, HAKE + "SELECT (COUNT(*) AS ?n) WHERE { ?p a hake:Person }") == [{"n": 4}]
    assert "was not made by hake sparql" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    broken = tmp_path / "broken.ttl"
    broken.write_text("<a> <b> .\n")
    with pytest.raises(StoreError, match="broken.ttl is not valid RDF") as err:
        sparql(broken, "SELECT * WHERE { ?s ?p ?o }")
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir() if "broken" in p.name) == ["broken.ttl"]


def test_networkx_and_graphml(filled: GraphStore, tmp_path: Path) -> None:
    graph = to_networkx(filled, instances=False)
    # the ontology's nodes only: body parts, part states, verbs, objects, activities (with
    # instances=True the fixture's 3 object instances, their images and persons join them)
    assert graph.number_of_nodes() == 16 + 93 + 157 + 80 + 600
    edges = graph.get_edge_data("PartState:hip_sit_on", "Activity:ride-bicycle")
    assert [e["type"] for e in edges.values()] == ["IMPLIES"]
    assert next(iter(edges.values()))["weight"] == pytest.approx(1.0)
    path = tmp_path / "onto.graphml"
    assert write_graphml(filled, path, instances=False) == graph.number_of_edges()
    assert "ride bicycle" in path.read_text()
    json.dumps(dict(graph.nodes["Activity:ride-bicycle"]))  # plain attributes
    # the readers users run: node keys stay unique ("tie" is a verb and an object)
    import igraph
    import networkx as nx

    back = nx.read_graphml(path)
    assert back.nodes["Verb:tie"]["term"] == back.nodes["Object:tie"]["term"] == "tie"
    ig = igraph.Graph.Read_GraphML(str(path))
    assert len(set(ig.vs["id"])) == ig.vcount() == graph.number_of_nodes()
    assert {(v["label"], v["term"]) for v in ig.vs.select(term="tie")} == {("Verb", "tie"), ("Object", "tie")}
