from __future__ import annotations

import json
from pathlib import Path

import pytest
import rdflib

from kg.export import to_networkx, write_graphml
from kg.ingest import ingest_hake_instance, ingest_observations, init_store
from kg.predictions import write_predictions
from kg.rdf import export_rdf, import_rdf, sparql
from kg.store import EmbeddedStore, GraphStore
from ontology import NAMESPACE, ActivityPrediction, Contribution, Explanation, PersonObservation, StoreError
from tests.kg.helpers import write_instance_fixture

HAKE = "PREFIX hake: <https://w3id.org/hake-engine/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#> "


@pytest.fixture
def filled(store: GraphStore, tmp_path: Path) -> GraphStore:
    init_store(store)
    ingest_hake_instance(store, write_instance_fixture(tmp_path))
    ingest_observations(
        store, [PersonObservation("demo.jpg", "0", part_states={"hip: sit on": 0.9}, model="tiny")]
    )
    expl = Explanation(
        "ride bicycle", "exact-decomposition", (Contribution("part_state", "hip: sit on", 0.6),)
    )
    write_predictions(store, [ActivityPrediction("demo.jpg", "0", "ride bicycle", 0.8, "gnn", "1", expl)])
    return store


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
    assert f"loading {path}" in said and f"loaded {n} triples in " in said and "running the query" in said
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
    # boxes are typed numbers: a SPARQL user filters on them
    wide = sparql(
        path, HAKE + "SELECT ?p ?x1 WHERE { ?p a hake:Person ; hake:boxX1 ?x1 . FILTER(?x1 >= 0.0) }"
    )
    assert wide and all(isinstance(r["x1"], float) for r in wide)
    # an export of the earlier format (the box as a JSON array in a string) still imports
    graph = rdflib.Graph().parse(path)
    hake = rdflib.Namespace(NAMESPACE)
    for person in set(graph.subjects(hake.boxX1, None)):
        corners = [float(graph.value(person, hake[name])) for name in ("boxX1", "boxY1", "boxX2", "boxY2")]
        for name in ("boxX1", "boxY1", "boxX2", "boxY2"):
            graph.remove((person, hake[name], None))
        graph.add((person, hake.bbox, rdflib.Literal(json.dumps(corners))))
    legacy = tmp_path / "legacy.ttl"
    graph.serialize(legacy, format="turtle")
    with EmbeddedStore(tmp_path / "legacy-copy") as copy:
        init_store(copy)
        import_rdf(copy, legacy)
        assert copy.query(boxes) == filled.query(boxes)


def test_export_errors_leave_nothing_behind(filled: GraphStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown RDF format 'xml'"):
        export_rdf(filled, tmp_path / "export.xml")
    assert list(tmp_path.glob("export*")) == []
    with pytest.raises(StoreError, match="hake export"):
        sparql(tmp_path / "missing.ttl", "SELECT * WHERE { ?s ?p ?o }")


def test_networkx_and_graphml(filled: GraphStore, tmp_path: Path) -> None:
    graph = to_networkx(filled)
    assert graph.number_of_nodes() == 16 + 93 + 157 + 80 + 600
    edges = graph.get_edge_data("PartState:hip_sit_on", "Activity:ride-bicycle")
    assert [e["type"] for e in edges.values()] == ["IMPLIES"]
    assert next(iter(edges.values()))["weight"] == pytest.approx(1.0)
    path = tmp_path / "onto.graphml"
    assert write_graphml(filled, path) == graph.number_of_edges()
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
