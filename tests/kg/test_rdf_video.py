"""Videos in the RDF export (kg.rdf): videos with their typed values, frames in order,
tracks, segments and clip labels with their provenance, read by the tools users run
(rdflib, pyshacl, prov), and the ground truth read back by import_rdf; on both backends."""

from __future__ import annotations

from pathlib import Path

import pyshacl
import pytest
import rdflib
from prov.model import ProvAttribution, ProvGeneration

from kg import read_clip_labels, read_segments, write_clip_labels, write_segments
from kg.ingest import ingest_hoi, ingest_observations, init_store
from kg.rdf import export_rdf, import_rdf, run_iri, shapes_path
from kg.store import EmbeddedStore, GraphStore
from tests.kg.test_prov import NOT_PROV, PARSERS, read_prov
from tests.kg.test_triplets import cafe
from tests.kg.test_video import FPS, INFO, LABELS, SEGMENTS, VIDEO, frames, video_graph

pytestmark = [
    pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Dataset.identifier is deprecated:DeprecationWarning"),
]

DATA = "https://w3id.org/hake-engine/data/"
H = rdflib.Namespace("https://w3id.org/hake-engine/ontology#")
PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
PREFIXES = "PREFIX hake: <https://w3id.org/hake-engine/ontology#> PREFIX prov: <http://www.w3.org/ns/prov#> "
T1, T2 = DATA + "track/street.mp4%401", DATA + "track/street.mp4%402"


def fill_video(store: GraphStore) -> GraphStore:
    """A 10-frame clip stored every 2nd frame with 2 tracks (tests/kg/test_video.py): four
    model segments (two models), one ground-truth segment, two model clip labels and one
    ground-truth label; and a cafe image with object instances and ground-truth triplets."""
    init_store(store)
    ingest_observations(store, frames(), video_info=INFO)
    write_segments(store, SEGMENTS)
    write_clip_labels(store, LABELS)
    ingest_hoi(store, [cafe()], source="cafe")
    return store


@pytest.fixture
def video(store: GraphStore) -> GraphStore:
    return fill_video(store)


def runs(store: GraphStore, kind: str) -> dict[str, str]:
    """model -> the IRI of its run of ``kind`` (segments or clip_labels)."""
    rows = store.query(
        "MATCH (r:Run) WHERE r.kind = $kind RETURN r.model AS m, r.version AS v, r.created AS c", kind=kind
    )
    return {r["m"]: run_iri(r["m"], r["v"], r["c"]) + "/" + kind for r in rows}


def conforms(graph: rdflib.Graph) -> tuple[bool, str]:
    ok, _, text = pyshacl.validate(graph, shacl_graph=str(shapes_path()))
    return bool(ok), str(text)


@pytest.mark.parametrize("fmt", ["ttl", "jsonld"])
def test_rdflib_reads_the_video_graph_and_sparql_finds_segments(
    video: GraphStore, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"graph.{fmt}"
    n = export_rdf(video, path, include_ontology=False)
    graph = rdflib.Graph().parse(path, format=PARSERS[fmt])
    assert len(graph) == n
    v = rdflib.URIRef(DATA + "video/street.mp4")
    assert set(graph.objects(v, rdflib.RDF.type)) == {H.Video, PROV.Entity}
    assert graph.value(v, H.videoId) == rdflib.Literal(VIDEO)
    typed = {p: graph.value(v, H[p]) for p in ("fps", "frameCount", "duration")}
    assert {p: (x.toPython(), x.datatype) for p, x in typed.items()} == {
        "fps": (FPS, rdflib.XSD.double),
        "frameCount": (10, rdflib.XSD.integer),
        "duration": (0.4, rdflib.XSD.double),
    }
    # frames: in the video, and in order (hake:next from the first frame)
    chain = graph.query(
        PREFIXES + "SELECT ?f WHERE { ?first hake:inVideo ?v . FILTER NOT EXISTS { ?x hake:next ?first } "
        "?first hake:next* ?i . ?i hake:frameIndex ?f } ORDER BY ?f",
        initBindings={"v": v},
    )
    assert [int(r.f) for r in chain] == [0, 2, 4, 6, 8]
    assert len(set(graph.subjects(H.inVideo, v))) == 5 + 2  # 5 frames, 2 tracks
    # tracks, and persons of frames as moments of them
    assert {(str(t), int(graph.value(t, H.trackId))) for t in graph.subjects(rdflib.RDF.type, H.Track)} == {
        (T1, 1),
        (T2, 2),
    }
    assert str(graph.value(rdflib.URIRef(DATA + "person/street.mp4%234%2F1"), H.track)) == T2
    # a segment's track, activity and the stored frames it spans, through SPARQL
    rows = graph.query(
        PREFIXES + "SELECT ?track ?activity ?start ?end ?t0 ?t1 ?frame WHERE { ?s a hake:ActivitySegment ; "
        "hake:source 'annotation' ; hake:track ?track ; hake:activity ?activity ; hake:startFrame ?start ; "
        "hake:endFrame ?end ; hake:startTime ?t0 ; hake:endTime ?t1 . ?track hake:inVideo ?v . "
        "?p hake:track ?track ; hake:inImage ?frame . ?frame hake:inVideo ?v ; hake:frameIndex ?i . "
        "FILTER(?i >= ?start && ?i <= ?end) } ORDER BY ?frame"
    )
    found = [
        (str(r.track), str(r.activity), int(r.start), int(r.end), float(r.t0), float(r.t1)) for r in rows
    ]
    act = "https://w3id.org/hake-engine/ontology#act_ride-bicycle"
    assert set(found) == {(T1, act, 0, 8, 0.0, 8 / FPS)}
    assert [str(r.frame).rsplit("/", 1)[1] for r in rows] == [f"street.mp4%23{f}" for f in (0, 2, 4, 6, 8)]
    # the model segments: one per (track, activity, start frame, model), with score and run
    model = graph.query(
        PREFIXES
        + "SELECT ?track ?start ?score ?run WHERE { ?s a hake:ActivitySegment ; hake:source 'model' ; "
        "hake:track ?track ; hake:startFrame ?start ; hake:score ?score ; prov:wasGeneratedBy ?run }"
    )
    tcn, hmm = runs(video, "segments")["tcn"], runs(video, "segments")["hmm"]
    assert sorted((str(r.track), int(r.start), float(r.score), str(r.run)) for r in model) == [
        (T1, 0, 0.9, tcn),
        (T1, 8, 0.6, tcn),
        (T2, 4, 0.8, tcn),
        (T2, 6, 0.7, hmm),
    ]
    labels = graph.query(
        PREFIXES + "SELECT ?score ?source WHERE { ?c a hake:ClipLabel ; hake:clip ?v ; hake:score ?score ; "
        "hake:source ?source }",
        initBindings={"v": v},
    )
    assert sorted((float(r.score), str(r.source)) for r in labels) == [
        (0.4, "model"),
        (0.85, "model"),
        (1.0, "annotation"),
    ]


@NOT_PROV
@pytest.mark.parametrize("fmt", ["ttl", "jsonld", "nt"])
def test_video_export_conforms_to_the_shapes_and_reads_as_prov(
    video: GraphStore, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"graph.{fmt}"
    export_rdf(video, path)
    ok, report = conforms(rdflib.Graph().parse(path, format=PARSERS[fmt]))
    assert ok, report
    doc = read_prov(path.read_text(), fmt)
    generated = {(str(g.args[0].uri), str(g.args[1].uri)) for g in doc.get_records(ProvGeneration)}
    segments, clips = runs(video, "segments"), runs(video, "clip_labels")
    assert generated == {
        (DATA + "segment/street.mp4%401/ride-bicycle/0/model/tcn", segments["tcn"]),
        (DATA + "segment/street.mp4%402/hold-bicycle/4/model/tcn", segments["tcn"]),
        (DATA + "segment/street.mp4%401/walk-bicycle/8/model/tcn", segments["tcn"]),
        (DATA + "segment/street.mp4%402/ride-bicycle/6/model/hmm", segments["hmm"]),
        (DATA + "clip/street.mp4/ride-bicycle/model/tcn", clips["tcn"]),
        (DATA + "clip/street.mp4/hold-bicycle/model/tcn", clips["tcn"]),
    }
    attributed = {str(a.args[0].uri): str(a.args[1].uri) for a in doc.get_records(ProvAttribution)}
    assert attributed[DATA + "segment/street.mp4%402/ride-bicycle/6/model/hmm"] == DATA + "agent/hmm"
    truth = DATA + "dataset/street-gt"  # ground truth: its dataset, no run
    assert attributed[DATA + "segment/street.mp4%401/ride-bicycle/0/annotation/street-gt"] == truth
    assert attributed[DATA + "clip/street.mp4/ride-bicycle/annotation/street-gt"] == truth
    assert attributed[DATA + "instance/cafe.jpg%2F0"] == DATA + "dataset/cafe"  # the instances' triples too


def test_the_shapes_reject_broken_segments(video: GraphStore, tmp_path: Path) -> None:
    """Ground truth generated by a run, a segment ending before it starts, a segment without
    its track, a video of zero fps: each fails the shapes, so the test above can fail."""
    path = tmp_path / "graph.ttl"
    export_rdf(video, path, include_ontology=False)

    def graph() -> rdflib.Graph:
        return rdflib.Graph().parse(path, format="turtle")

    truth = rdflib.URIRef(DATA + "segment/street.mp4%401/ride-bicycle/0/annotation/street-gt")
    run = rdflib.URIRef(runs(video, "segments")["tcn"])
    generated = graph()
    generated.add((truth, PROV.wasGeneratedBy, run))
    backwards = graph()
    backwards.set((truth, H.endFrame, rdflib.Literal(-1)))
    trackless = graph()
    trackless.remove((truth, H.track, None))
    still = graph()
    still.set((rdflib.URIRef(DATA + "video/street.mp4"), H.fps, rdflib.Literal(0.0)))
    for broken, said in (
        (generated, "XoneConstraintComponent"),
        (backwards, "LessThanOrEquals"),
        (trackless, "hake:track"),
        (still, "MinExclusive"),
    ):
        ok, report = conforms(broken)
        assert not ok and said in report, report
    assert conforms(graph())[0]


def test_import_reads_the_video_and_its_ground_truth_back(video: GraphStore, tmp_path: Path) -> None:
    path = tmp_path / "graph.ttl"
    export_rdf(video, path)
    with EmbeddedStore(tmp_path / "copy") as copy:
        init_store(copy)
        report = import_rdf(copy, path)
        assert (report.extra["segments_added"], report.extra["clip_labels_added"]) == (1, 1)
        assert video_graph(copy) == video_graph(video)  # frames in order, tracks, fps etc.
        # ground truth comes back as written; a model's segments and labels do not (as predictions)
        assert read_segments(copy) == [s for s in read_segments(video) if s.source == "annotation"]
        assert read_clip_labels(copy) == [c for c in read_clip_labels(video) if c.source == "annotation"]
        triplets = "MATCH (p:Person)-[x:INTERACTS_WITH]->(o:ObjectInstance) RETURN p.id, x.activity, o.id"
        assert sorted(map(str, copy.query(triplets))) == sorted(map(str, video.query(triplets))) != []
        again = import_rdf(copy, path)  # persons skipped; the ground truth rewritten, the same
        assert again.persons_skipped == report.persons_added
        assert read_segments(copy) == [s for s in read_segments(video) if s.source == "annotation"]
