"""The exports' provenance, checked by third-party readers: every RDF export format (and a
single person's explanation export) conforms to the shipped SHACL shapes (pyshacl) and its
PROV part reads with the ``prov`` package."""

from __future__ import annotations

import io
from pathlib import Path

import prov
import pyshacl
import pytest
import rdflib
from prov.model import ProvActivity, ProvAgent, ProvAttribution, ProvDocument, ProvGeneration

from kg.ingest import ingest_annotated, ingest_hake_instance, init_store
from kg.rdf import export_rdf, person_rdf, run_iri, shapes_path, sparql
from kg.report import load_person
from kg.store import GraphStore
from ontology import PersonObservation, StoreError
from tests.kg.helpers import write_instance_fixture
from tests.kg.test_rdf import HAKE, fill

PARSERS = {"ttl": "turtle", "jsonld": "json-ld", "nt": "nt"}
PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
H = rdflib.Namespace("https://w3id.org/hake-engine/ontology#")


#: the readers (pyshacl, prov) call rdflib APIs that rdflib 7.6 deprecates
pytestmark = [
    pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Dataset.identifier is deprecated:DeprecationWarning"),
]
#: prov reads the whole graph and warns about its non-PROV nodes (images, evidence, ontology)
NOT_PROV = pytest.mark.filterwarnings("ignore:The following attributes were not converted:UserWarning")


@pytest.fixture
def filled(store: GraphStore, tmp_path: Path) -> GraphStore:
    return fill(store, tmp_path)


def conforms(graph: rdflib.Graph) -> tuple[bool, str]:
    ok, _, text = pyshacl.validate(graph, shacl_graph=str(shapes_path()))
    return bool(ok), str(text)


def the_run(filled: GraphStore) -> str:
    (run,) = filled.query(
        "MATCH (r:Run {kind: 'reasoning'}) RETURN r.model AS m, r.version AS v, r.created AS c"
    )
    return run_iri(run["m"], run["v"], run["c"])


def read_prov(text: str, fmt: str) -> ProvDocument:
    doc = prov.read(io.StringIO(text), format="rdf", rdf_format=PARSERS[fmt])
    assert isinstance(doc, ProvDocument)
    return doc


@NOT_PROV
@pytest.mark.parametrize("fmt", ["ttl", "jsonld", "nt"])
def test_every_export_conforms_to_the_shapes_and_reads_as_prov(
    filled: GraphStore, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"graph.{fmt}"
    export_rdf(filled, path)
    graph = rdflib.Graph().parse(path, format=PARSERS[fmt])
    ok, report = conforms(graph)
    assert ok, report
    doc = read_prov(path.read_text(), fmt)
    run = the_run(filled)
    (activity,) = doc.get_records(ProvActivity)
    created = filled.query("MATCH (r:Run {kind: 'reasoning'}) RETURN r.created AS c")[0]["c"]
    assert str(activity.identifier.uri) == run and activity.get_startTime().isoformat() == created
    assert activity.get_endTime() is None  # not stored, so not said
    generated = {(str(g.args[0].uri), str(g.args[1].uri)) for g in doc.get_records(ProvGeneration)}
    data = "https://w3id.org/hake-engine/data/"
    assert generated == {
        (data + "pred/demo.jpg%2F0/ride-bicycle/gnn", run),
        (data + "expl/demo.jpg%2F0/ride-bicycle/gnn", run),
    }
    attributed = {str(a.args[0].uri): str(a.args[1].uri) for a in doc.get_records(ProvAttribution)}
    assert attributed[data + "obs/demo.jpg%2F0/hip_sit_on"] == data + "agent/tiny"  # perceived
    assert attributed[data + "obs/img1.jpg%2F0/hip_sit_on"] == data + "dataset/instance.json"  # annotated
    assert attributed[data + "annotation/img1.jpg%2F0/ride-bicycle"] == data + "dataset/instance.json"
    agents = {str(a.identifier.uri) for a in doc.get_records(ProvAgent)}
    assert agents == {data + "agent/gnn", data + "agent/tiny", data + "dataset/instance.json"}


def test_the_shapes_reject_what_the_issue_found(filled: GraphStore, tmp_path: Path) -> None:
    """Ground truth written as predictions, predictions without their run, observations
    without a source: each fails the shapes, so the tests above can fail."""
    path = tmp_path / "graph.ttl"
    export_rdf(filled, path, include_ontology=False)

    def graph() -> rdflib.Graph:
        return rdflib.Graph().parse(path, format="turtle")

    annotations = graph()
    for a in set(annotations.subjects(rdflib.RDF.type, H.ActivityAnnotation)):
        annotations.add((a, rdflib.RDF.type, H.ActivityPrediction))
        annotations.add((a, H.score, rdflib.Literal(1.0)))
    runless = graph()
    runless.remove((None, PROV.wasGeneratedBy, None))
    sourceless = graph()
    for o in set(sourceless.subjects(rdflib.RDF.type, H.PartStateObservation)):
        sourceless.remove((o, PROV.wasAttributedTo, None))
    for broken, said in (
        (annotations, "ActivityPrediction"),
        (runless, "wasGeneratedBy"),
        (sourceless, "wasAttributedTo"),
    ):
        ok, report = conforms(broken)
        assert not ok and said in report
    assert conforms(graph())[0]


@NOT_PROV
@pytest.mark.parametrize("fmt", ["ttl", "jsonld"])
def test_one_persons_export_says_what_the_full_export_says(
    filled: GraphStore, tmp_path: Path, fmt: str
) -> None:
    text = person_rdf(load_person(filled, "demo.jpg/0"), fmt)
    person = rdflib.Graph().parse(data=text, format=PARSERS[fmt])
    ok, report = conforms(person)
    assert ok, report
    (activity,) = read_prov(text, fmt).get_records(ProvActivity)
    assert str(activity.identifier.uri) == the_run(filled)  # the run of the full export
    full_path = tmp_path / f"graph.{fmt}"
    export_rdf(filled, full_path, include_ontology=False)
    full = rdflib.Graph().parse(full_path, format=PARSERS[fmt])
    assert len(person) > 40 and set(person) <= set(full)  # every triple of it, the same
    with pytest.raises(StoreError, match="expected 'ttl' or 'jsonld'"):
        person_rdf(load_person(filled, "demo.jpg/0"), "graphml")


def test_annotations_are_attributed_to_their_dataset_and_its_licence(
    store: GraphStore, tmp_path: Path
) -> None:
    init_store(store)
    hake_file = write_instance_fixture(tmp_path).rename(
        tmp_path / "hico-det-training-set-instance-level.json"
    )
    ingest_hake_instance(store, hake_file)
    ingest_annotated(
        store,
        [PersonObservation("mine.jpg", "0", part_states={"hand: hold": 1.0}, source="annotation")],
        [["hold bicycle"]],
        source="mine.jsonl",
    )
    path = tmp_path / "graph.ttl"
    export_rdf(store, path, include_ontology=False)
    assert conforms(rdflib.Graph().parse(path))[0]
    rows = sparql(
        path,
        HAKE
        + "PREFIX dcterms: <http://purl.org/dc/terms/> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
        "SELECT ?file ?licence ?org WHERE { ?a a hake:ActivityAnnotation ; prov:wasAttributedTo ?d . "
        "?d a hake:Dataset, prov:Agent ; hake:file ?file ; dcterms:license ?licence . "
        "OPTIONAL { ?d prov:actedOnBehalfOf ?o . ?o a prov:Organization ; rdfs:label ?org } } "
        "GROUP BY ?file ?licence ?org ORDER BY ?file",
    )
    assert rows == [
        {
            "file": "hico-det-training-set-instance-level.json",
            "licence": "https://spdx.org/licenses/MIT",
            "org": "Machine Vision and Intelligence Group, SJTU",
        },
        {"file": "mine.jsonl", "licence": "unknown", "org": None},
    ]
    # annotations are not predictions: no score, no run
    scored = "{ ?a hake:score ?s } UNION { ?a prov:wasGeneratedBy ?r }"
    assert sparql(path, HAKE + "SELECT ?a WHERE { ?a a hake:ActivityAnnotation . " + scored + " }") == []
