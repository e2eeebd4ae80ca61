"""RDF: export the graph (ontology + instances + evidence) as Turtle / JSON-LD / N-Triples,
SPARQL over an export, and import instance data back.

Instances live under :data:`DATA` (``https://w3id.org/hake-engine/data/``); ontology terms
keep their IRIs from ``ontology/data/hake.ttl``. The pattern below is checked by the SHACL
shapes shipped with the package (:func:`shapes_path`, ``kg/data/shapes.ttl``) on every
export format in the tests::

    data:image/<id>     a hake:Image ; hake:imageId ; hake:width ; hake:height ; ...
    data:person/<key>   a hake:Person, prov:Entity ; hake:inImage data:image/<id> ;
                        hake:personId ; hake:boxX1, hake:boxY1, hake:boxX2, hake:boxY2
                        (xsd:double, pixels) ; hake:source ; prov:wasAttributedTo <source> ;
                        hake:keypoint <person>/keypoint/<name> (when pose was run)
        <keypoint>          a hake:Keypoint ; hake:keypointName (a COCO name, e.g. "nose") ;
                            hake:x, hake:y (xsd:double, pixels) ; hake:confidence (xsd:double)
    data:obs/<key>/<state>   a hake:PartStateObservation, prov:Entity ; hake:person ;
                             hake:partState ; hake:probability ; hake:source ;
                             prov:wasAttributedTo <source>
    data:near/<key>/<object> a hake:ObjectObservation, prov:Entity ; hake:object ; hake:score ;
                             hake:count ; prov:wasAttributedTo <source>
    data:part/<key>/<part>   a hake:BodyPartObservation, prov:Entity ; hake:bodyPart ;
                             hake:probability ; prov:wasAttributedTo <source>
    data:pred/<key>/<act>/<model>  a hake:ActivityPrediction, prov:Entity ; hake:person ;
                             hake:activity ; hake:score ; hake:source "model" ;
                             hake:modelVersion ; prov:wasGeneratedBy <run> ;
                             prov:wasAttributedTo <model> ; prov:generatedAtTime ;
                             hake:objectInstance <instance> (when it names one)
    data:expl/<key>/<act>/<model>  a hake:Explanation, prov:Entity ; hake:explains <pred> ;
                             hake:method ; hake:baseline ; hake:rest ; prov:wasGeneratedBy
                             <run> ; prov:wasAttributedTo <model> ; prov:generatedAtTime ;
                             hake:contribution <expl>/<kind>/<term>[/<edge>]
        <contribution>       a hake:Contribution ; hake:term ; hake:kind ; hake:weight ;
                             hake:edge ; prov:wasDerivedFrom <the observation of the term>
    data:pairing/<key>/<act>/<model>  a hake:PairingExplanation, prov:Entity ; why the
                             prediction names its instance: hake:explains <pred> ;
                             hake:objectInstance <instance> ; hake:method ; hake:pairScore ;
                             hake:baseline ; hake:rest ; prov:wasGeneratedBy <run> ;
                             prov:wasAttributedTo <model> ; prov:generatedAtTime ;
                             hake:pairingContribution <pairing>/<kind>/<term>
        <contribution>       a hake:PairingContribution ; hake:term ; hake:kind ; hake:weight ;
                             prov:wasDerivedFrom <the part-state or body-part observation; the
                             instance and the person for a geometric or cascade term>
    data:pairing-term/<id>   a hake:PairingTerm ; rdfs:label ; hake:kind ("geometry" or
                             "cascade") ; hake:index
    data:run/<model>/<version>/<created>  a hake:ReasoningRun, prov:Activity ;
                             prov:wasAssociatedWith <model> ; hake:modelVersion ;
                             prov:startedAtTime ; prov:used <each person it read> ;
                             hake:runId ; hake:method ; hake:ontologyVersion ; ...
    data:agent/<model>       a prov:SoftwareAgent, prov:Agent ; rdfs:label
    data:annotation/<key>/<act>  a hake:ActivityAnnotation, prov:Entity ; hake:person ;
                             hake:activity ; hake:source "annotation" ;
                             prov:wasAttributedTo <dataset> ;
                             hake:objectInstance <instance> (each instance it concerns)
    data:instance/<key> a hake:ObjectInstance, prov:Entity ; hake:inImage data:image/<id> ;
                        hake:objectId ; hake:object <class> ; hake:boxX1, hake:boxY1,
                        hake:boxX2, hake:boxY2 (xsd:double) ; hake:score ;
                        prov:wasAttributedTo <dataset> (of the ground truth naming it)
    data:dataset/<file>      a hake:Dataset, prov:Agent ; rdfs:label ; hake:file ;
                             dcterms:license (an IRI, or "unknown") ;
                             prov:actedOnBehalfOf <publisher, a prov:Organization> (if known)
    data:evidence/<state>/<target> a hake:Evidence ; hake:partState ; hake:target ; hake:count ;
                             hake:npmi ; hake:weight   (and <state> hake:implies <target>)

Videos (:mod:`kg._video`), their frames, tracks, segments and clip labels::

    data:video/<key>    a hake:Video, prov:Entity ; hake:videoId ; hake:fps (xsd:double) ;
                        hake:frameCount (xsd:integer) ; hake:duration (xsd:double, seconds)
                        (each only when known)
    data:image/<frame>  ... ; hake:inVideo data:video/<key> ; hake:next <the next stored frame>
    data:track/<key>    a hake:Track, prov:Entity ; hake:trackId ; hake:inVideo data:video/<key>
    data:person/<key>   ... ; hake:track data:track/<key> (a person of a frame is a moment of it)
    data:segment/<track>/<act>/<start frame>/<source>/<model>
                        a hake:ActivitySegment, prov:Entity ; hake:track ; hake:activity ;
                        hake:startFrame, hake:endFrame (xsd:integer, both included) ;
                        hake:startTime, hake:endTime (xsd:double, seconds; when known) ;
                        hake:score ; hake:source ; hake:modelVersion ; and, as a prediction,
                        prov:wasGeneratedBy <run> ; prov:wasAttributedTo <model> ;
                        prov:generatedAtTime - or, ground truth (hake:source "annotation"),
                        prov:wasAttributedTo data:dataset/<its model: the dataset's name>
    data:clip/<video>/<act>/<source>/<model>
                        a hake:ClipLabel, prov:Entity ; hake:clip data:video/<key> ;
                        hake:activity ; hake:score ; hake:source ; hake:modelVersion ; and
                        the provenance of a segment
    data:run/<model>/<version>/<created>/segments (or .../clip_labels)
                        a hake:ReasoningRun, prov:Activity, as a reasoning run ; prov:used
                        <each track (video) it wrote segments (labels) of>

A triplet ``<person, activity, object instance>`` (an ``INTERACTS_WITH`` edge of the store,
:mod:`kg.schema`) is the activity's annotation or prediction with ``hake:objectInstance``:
ground truth on the ``hake:ActivityAnnotation`` (one per person and activity, naming every
instance the annotation pairs it with), a model's on its ``hake:ActivityPrediction`` (one
instance per person, activity and model, with the prediction's score and run). An
activity's object is the instance's class; a person-only activity names none. Why the
pairing model chose a prediction's instance (a ``PairingExplanation`` of the store) is a
``hake:PairingExplanation`` of that prediction and instance, exact as the store's:
``hake:baseline`` + the contributions' ``hake:weight`` + ``hake:rest`` = ``hake:pairScore``.

Provenance, as far as the store records it:

- A reasoning run (a ``Run`` node of ``kind = "reasoning"``) is a ``prov:Activity``. A run
  stores one time, ``created``: ``hake reason`` stamps it when the run starts (before the
  first person is read), :func:`kg.write_predictions` when its write starts. It is exported
  as ``prov:startedAtTime`` and as the ``prov:generatedAtTime`` of what the run wrote; no end
  time is stored, so none is exported. The run's IRI is made of its model, version and
  ``created`` (what a single person's export knows too, :func:`person_rdf`), so both exports
  name the same run; its store id is ``hake:runId``. Two runs of one model version started in
  the same second are one activity. (A prediction whose ``Run`` the store lacks - none is
  written so - would get a run without a time, which the shapes refuse.)
- ``prov:used``: the persons (and so their observations) the run read. The model is the
  agent the run ``prov:wasAssociatedWith``.
- Observations made by a model are attributed to that model (a ``prov:SoftwareAgent``
  named by ``Person.model``; the store keeps no perception run, so there is no activity for
  it). Annotations - ground-truth persons, their observations and their activities - are
  attributed to the dataset they were ingested from (the ``version`` of the ingest's
  annotation run: its file name). A licence is given for the HAKE files
  (:data:`KNOWN_DATASETS`: MIT, from the ``LICENSE`` of the HAKE release) and is
  ``"unknown"`` for any other file; an annotated person without ground-truth activities has
  no recorded file and is attributed to ``data:dataset/unknown``.
- An object instance is attributed to the datasets of the ground truth that names it; the
  store records no source for an instance no annotation names (it is exported without
  ``prov:wasAttributedTo``).
- Ground-truth activities are ``hake:ActivityAnnotation`` s, not predictions: no score, no
  time (the ingest time is not when the annotation was made). :func:`import_rdf` reads them
  and, from earlier exports, ``hake:ActivityPrediction`` s with ``hake:source
  "annotation"``.

JSON-LD is compact: one ``{"@context": ..., "@graph": [...]}`` document whose context is the
one published with the package (:func:`jsonld_context`, ``kg/data/context.jsonld``),
embedded so that no reader needs the network. Properties and classes are short terms
(``"probability": 0.9``, ``"@type": ["PartStateObservation", "prov:Entity"]``), numbers are
JSON numbers typed by the context, IRIs are compacted with the context's prefixes
(``"data:person/img1.jpg%2F0"``). One node per line. Measured on the export of the
instance-level HAKE annotations (3.8M triples): 154 MB, where pyoxigraph's expanded JSON-LD
is 444 MB and Turtle 171 MB; writing it takes about 20 s more than Turtle (Python builds
each node object). In a single person's export the embedded context (4.4 KB) is most of the
file.

SPARQL runs on pyoxigraph (measured 15-60x faster than rdflib on 130K triples) over a
persistent store kept beside the export (``<file>.oxigraph/``), built once and reused while
the export is unchanged (:func:`sparql`).
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import quote

from kg._triplets import GroundTruthTriplets, has_pairing_tables, has_triplet_tables
from kg._video import has_video_tables, write_clip_labels, write_segments
from kg.ingest import IngestReport, ingest_annotated, ingest_observations
from kg.store.base import GraphStore
from kg.store_ontology import require_ontology, store_ontology
from ontology import (
    COCO_KEYPOINTS,
    NAMESPACE,
    ActivitySegment,
    Box,
    ClipLabel,
    DetectedObject,
    Keypoint,
    ObjectInstance,
    Ontology,
    PersonObservation,
    StoreError,
    VideoInfo,
    load,
)
from ontology.files import atomic_write, check_file_target
from ontology.identity import split_image_key

if TYPE_CHECKING:  # kg.report imports this module
    from kg.report import PersonExplanations

__all__ = [
    "BOX_PROPERTIES",
    "DATA",
    "FORMATS",
    "KNOWN_DATASETS",
    "Dataset",
    "export_rdf",
    "import_rdf",
    "jsonld_context",
    "person_rdf",
    "rdf_store",
    "run_iri",
    "shapes_path",
    "sparql",
    "store_path",
]

#: A person's box in RDF: one ``xsd:double`` per corner (x1, y1, x2, y2, in pixels).
BOX_PROPERTIES = ("boxX1", "boxY1", "boxX2", "boxY2")

DATA = "https://w3id.org/hake-engine/data/"
PROV = "http://www.w3.org/ns/prov#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
DCTERMS = "http://purl.org/dc/terms/"

#: Export formats by name (also accepted: the file extension).
FORMATS = {
    "turtle": "TURTLE",
    "ttl": "TURTLE",
    "json-ld": "JSON_LD",
    "jsonld": "JSON_LD",
    "nt": "N_TRIPLES",
    "n-triples": "N_TRIPLES",
}

_PREFIXES = {
    "hake": NAMESPACE,
    "data": DATA,
    "prov": PROV,
    "xsd": XSD,
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "rdfs": RDFS,
    "owl": "http://www.w3.org/2002/07/owl#",
    "dcterms": DCTERMS,
}


@dataclass(frozen=True)
class Dataset:
    """What an export says about a dataset annotations were ingested from."""

    title: str
    licence: str  # an IRI, or "unknown"
    publisher: str | None = None


_HAKE = Dataset(
    title="HAKE annotations (HICO-DET images)",
    licence="https://spdx.org/licenses/MIT",  # LICENSE-HAKE-DATA of the HAKE release
    publisher="Machine Vision and Intelligence Group, SJTU",
)

#: Datasets by the file name an ingest records (``hake ingest hake-image|hake-instance``):
#: the HAKE release's files, MIT-licensed (its ``LICENSE``: "Copyright (c) 2019 Machine
#: Vision and Intelligence Group, SJTU"). Any other file's licence is ``"unknown"``.
KNOWN_DATASETS: dict[str, Dataset] = {
    name: _HAKE
    for name in (
        "hico-det-training-set-instance-level.json",
        "hico-det-instance-level.tar.gz",
        "hico-training-set-image-level.json",
        "hico-image-level.tar.gz",
    )
}


def _fmt(name: str) -> Any:
    import pyoxigraph

    key = FORMATS.get(name.lower())
    if key is None:
        raise StoreError(f"unknown RDF format {name!r}; expected one of {sorted(FORMATS)}")
    return getattr(pyoxigraph.RdfFormat, key)


def _iri(kind: str, *parts: str) -> str:
    return DATA + kind + "/" + "/".join(quote(p, safe="") for p in parts)


def contribution_iri(explanation: str, kind: str, term: str, edge: str | None) -> str:
    """The IRI of one contribution of ``explanation`` (an IRI): one per term, or per term
    and path when the explanation keeps paths (``edge``). Ranks are the order of
    ``hake:weight``, not part of the IRI."""
    parts = [kind, term] if edge is None else [kind, term, edge]
    return explanation + "/" + "/".join(quote(p, safe="") for p in parts)


def run_iri(model: str, version: str | None, created: str | None) -> str:
    """The IRI of a reasoning run: its model, model version and start time (what both the
    full export and a single person's export know).

    >>> run_iri("gnn", "1", "2026-12-01T10:00:00+00:00")
    'https://w3id.org/hake-engine/data/run/gnn/1/2026-12-01T10%3A00%3A00%2B00%3A00'
    """
    return _iri("run", model, version or "unknown", created or "unknown")


def shapes_path() -> Path:
    """The SHACL shapes of the export pattern (``kg/data/shapes.ttl``, shipped with the
    package); validate an export with ``pyshacl.validate(graph, shacl_graph=...)``."""
    return Path(str(files("kg").joinpath("data/shapes.ttl")))


def jsonld_context() -> dict[str, Any]:
    """The JSON-LD ``@context`` of the exports (``kg/data/context.jsonld``, shipped with the
    package and embedded in every JSON-LD export).

    >>> jsonld_context()["probability"]
    {'@id': 'hake:probability', '@type': 'xsd:double'}
    """
    text = files("kg").joinpath("data/context.jsonld").read_text(encoding="utf-8")
    context: dict[str, Any] = json.loads(text)["@context"]
    return context


#: Quads per batch of a streamed export (:class:`_Triples` with a sink).
_BATCH = 100_000


class _Triples:
    """Collects triples as pyoxigraph quads: in :attr:`quads`, or handed to a ``sink``
    :data:`_BATCH` quads at a time (the whole-graph export)."""

    def __init__(self, sink: Callable[[list[Any]], Any] | None = None) -> None:
        import pyoxigraph

        self._ox = pyoxigraph
        self.quads: list[Any] = []
        self._sink = sink
        self._batch = _BATCH

    def _append(self, quad: Any) -> None:
        self.quads.append(quad)
        if self._sink is not None and len(self.quads) >= self._batch:
            self.flush()

    def flush(self) -> None:
        """Hand the collected quads to the sink (without one, keep them)."""
        if self._sink is not None and self.quads:
            self._sink(self.quads)
            self.quads = []

    def node(self, iri: str) -> Any:
        return self._ox.NamedNode(iri)

    def add(self, s: str, p: str, o: Any) -> None:
        if o is None:
            return
        ox = self._ox
        if isinstance(o, ox.NamedNode):
            obj = o
        elif isinstance(o, bool):
            obj = ox.Literal("true" if o else "false", datatype=ox.NamedNode(XSD + "boolean"))
        elif isinstance(o, int):
            obj = ox.Literal(str(o), datatype=ox.NamedNode(XSD + "integer"))
        elif isinstance(o, float):
            obj = ox.Literal(repr(o), datatype=ox.NamedNode(XSD + "double"))
        else:
            obj = ox.Literal(str(o))
        self._append(ox.Quad(ox.NamedNode(s), ox.NamedNode(p), obj))

    def time(self, s: str, p: str, iso: str | None) -> None:
        """An ``xsd:dateTime`` literal (PROV-O's type for ``prov:generatedAtTime``)."""
        if iso:
            ox = self._ox
            self._append(
                ox.Quad(
                    ox.NamedNode(s), ox.NamedNode(p), ox.Literal(iso, datatype=ox.NamedNode(XSD + "dateTime"))
                )
            )

    def a(self, s: str, *classes: str) -> None:
        for c in classes:
            self.add(s, RDF_TYPE, self.node(c))


@dataclass(frozen=True)
class _Run:
    """A reasoning run as the exports describe it."""

    model: str
    version: str | None
    created: str | None
    id: str | None = None
    method: str | None = None
    ontology: str | None = None
    top_k: int | None = None
    min_share: float | None = None
    persons: int | None = None
    predictions: int | None = None
    #: the ``Run`` node's kind: ``"reasoning"`` (predictions), ``"segments"`` or ``"clip_labels"``
    kind: str = "reasoning"

    @property
    def iri(self) -> str:
        """:func:`run_iri`; a run that wrote segments or clip labels has its kind appended
        (``.../segments``), so that a model's segment and clip-label writes started in the
        same second stay two activities."""
        iri = run_iri(self.model, self.version, self.created)
        return iri if self.kind == "reasoning" else iri + "/" + quote(self.kind, safe="")


class _Provenance:
    """The agents, datasets and runs of one export, and the instance triples that name them:
    one writer for the full export and for a single person's export, so both say the same."""

    def __init__(self, t: _Triples) -> None:
        self.t = t
        self._described: set[str] = set()

    def _new(self, iri: str) -> bool:
        if iri in self._described:
            return False
        self._described.add(iri)
        return True

    def _generated(self, s: str, run: _Run, used: str | None = None) -> None:
        """``s`` was generated by ``run`` (which used ``used``, when given), at its time, and
        is attributed to its model."""
        t = self.t
        t.add(s, PROV + "wasGeneratedBy", self.run(run))
        if used is not None:
            self._used(run, used)
        t.add(s, PROV + "wasAttributedTo", self.agent(run.model))
        t.time(s, PROV + "generatedAtTime", run.created)

    def _used(self, run: _Run, used: str) -> None:
        """``run prov:used used``, once (a run's predictions of one person, segments of one
        track, name it each)."""
        if self._new(f"{run.iri} {used}"):
            self.t.add(run.iri, PROV + "used", self.t.node(used))

    def agent(self, model: str | None) -> Any:
        """The software agent of a model (perception or reasoning)."""
        name = model or "unknown-model"
        iri = _iri("agent", name)
        if self._new(iri):
            self.t.a(iri, PROV + "SoftwareAgent", PROV + "Agent")
            self.t.add(iri, RDFS + "label", name)
        return self.t.node(iri)

    def dataset(self, file: str | None) -> Any:
        """The dataset (as a ``prov:Agent``) annotations ingested from ``file`` come from."""
        iri = _iri("dataset", file or "unknown")
        if self._new(iri):
            t = self.t
            known = KNOWN_DATASETS.get(file or "")
            t.a(iri, NAMESPACE + "Dataset", PROV + "Agent")
            if file is None:
                t.add(iri, RDFS + "label", "annotations whose file the store does not record")
            else:
                t.add(iri, RDFS + "label", f"{known.title}: {file}" if known else file)
                t.add(iri, NAMESPACE + "file", file)
            t.add(iri, DCTERMS + "license", t.node(known.licence) if known else "unknown")
            if known is not None and known.publisher is not None:
                org = _iri("agent", known.publisher)
                t.add(iri, PROV + "actedOnBehalfOf", t.node(org))
                if self._new(org):
                    t.a(org, PROV + "Organization", PROV + "Agent")
                    t.add(org, RDFS + "label", known.publisher)
        return self.t.node(iri)

    def source(self, source: str | None, model: str | None, datasets: Iterable[str | None]) -> list[Any]:
        """Who an observation is attributed to: its model, or the datasets of its annotations."""
        if source == "annotation":
            return [self.dataset(d) for d in sorted(datasets, key=lambda d: d or "")] or [self.dataset(None)]
        return [self.agent(model)]

    def run(self, run: _Run) -> Any:
        """The ``prov:Activity`` of a reasoning run."""
        iri = run.iri
        if self._new(iri):
            t, h = self.t, NAMESPACE
            t.a(iri, h + "ReasoningRun", PROV + "Activity")
            t.add(iri, PROV + "wasAssociatedWith", self.agent(run.model))
            t.add(iri, h + "modelVersion", run.version)
            t.time(iri, PROV + "startedAtTime", run.created)
            t.add(iri, h + "runId", run.id)
            t.add(iri, h + "method", run.method)
            t.add(iri, h + "ontologyVersion", run.ontology)
            t.add(iri, h + "topK", run.top_k)
            t.add(iri, h + "minShare", None if run.min_share is None else float(run.min_share))
            t.add(iri, h + "personCount", run.persons)
            t.add(iri, h + "predictionCount", run.predictions)
        return self.t.node(iri)

    # ---- instances -------------------------------------------------------------------

    def person(
        self,
        key: str,
        image: str,
        person_id: str,
        box: list[float] | None,
        track_id: int | None,
        source: str | None,
        by: list[Any],
        keypoints: list[float] | None = None,
    ) -> str:
        t, h = self.t, NAMESPACE
        s = _iri("person", key)
        t.a(s, h + "Person", PROV + "Entity")
        t.add(s, h + "inImage", t.node(_iri("image", image)))
        t.add(s, h + "personId", person_id)
        if box is not None:  # typed numbers a SPARQL user can filter on
            for name, value in zip(BOX_PROPERTIES, box, strict=True):
                t.add(s, h + name, float(value))
        if keypoints is not None:  # 17 (x, y, confidence) in COCO order, each a typed node
            for i, name in enumerate(COCO_KEYPOINTS):
                k = _iri("person", key, "keypoint", name)
                t.add(s, h + "keypoint", t.node(k))
                t.a(k, h + "Keypoint")
                t.add(k, h + "keypointName", name)
                for prop, value in zip(("x", "y", "confidence"), keypoints[3 * i : 3 * i + 3], strict=True):
                    t.add(k, h + prop, float(value))
        t.add(s, h + "trackId", track_id)
        t.add(s, h + "source", source)
        for agent in by:
            t.add(s, PROV + "wasAttributedTo", agent)
        return s

    def image(
        self,
        image: str,
        width: int | None,
        height: int | None,
        frame_index: int | None,
        timestamp: float | None,
        video: str | None,
    ) -> None:
        t, h = self.t, NAMESPACE
        s = _iri("image", image)
        t.a(s, h + "Image")
        t.add(s, h + "imageId", image)
        t.add(s, h + "width", width)
        t.add(s, h + "height", height)
        t.add(s, h + "frameIndex", frame_index)
        t.add(s, h + "timestamp", None if timestamp is None else float(timestamp))
        t.add(s, h + "video", video)

    def observation(
        self,
        kind: str,
        person: str,
        term: str,
        term_iri: str,
        value: float,
        source: str | None,
        by: list[Any],
        count: int | None = None,
    ) -> None:
        """A part-state (``kind="obs"``), object (``"near"``) or body-part (``"part"``)
        observation of ``person`` (a person key)."""
        t, h = self.t, NAMESPACE
        cls, prop, value_prop = _OBSERVATIONS[kind]
        s = _iri(kind, person, term)
        t.a(s, h + cls, PROV + "Entity")
        t.add(s, h + "person", t.node(_iri("person", person)))
        t.add(s, h + prop, t.node(term_iri))
        t.add(s, h + value_prop, float(value))
        t.add(s, h + "count", count)
        t.add(s, h + "source", source)
        for agent in by:
            t.add(s, PROV + "wasAttributedTo", agent)

    def prediction(self, person: str, activity: str, activity_iri: str, score: float, run: _Run) -> str:
        t, h = self.t, NAMESPACE
        s = _iri("pred", person, activity, run.model)
        t.a(s, h + "ActivityPrediction", PROV + "Entity")
        t.add(s, h + "person", t.node(_iri("person", person)))
        t.add(s, h + "activity", t.node(activity_iri))
        t.add(s, h + "score", float(score))
        t.add(s, h + "source", "model")
        t.add(s, h + "modelVersion", run.version)
        self._generated(s, run, used=_iri("person", person))
        return s

    def instance(
        self,
        key: str,
        image: str,
        object_id: str,
        object_iri: str,
        box: list[float],
        score: float,
        by: list[Any],
    ) -> str:
        """An object instance (``key`` its store key) of ``image``, of class ``object_iri``."""
        t, h = self.t, NAMESPACE
        s = _iri("instance", key)
        t.a(s, h + "ObjectInstance", PROV + "Entity")
        t.add(s, h + "inImage", t.node(_iri("image", image)))
        t.add(s, h + "objectId", object_id)
        t.add(s, h + "object", t.node(object_iri))
        for name, value in zip(BOX_PROPERTIES, box, strict=True):
            t.add(s, h + name, float(value))
        t.add(s, h + "score", float(score))
        for agent in by:
            t.add(s, PROV + "wasAttributedTo", agent)
        return s

    def video(self, key: str, fps: float | None, frame_count: int | None, duration: float | None) -> None:
        """A video (``key`` its store key, :func:`ontology.identity.video_key`) with what its
        container said; unknown values are left out."""
        t, h = self.t, NAMESPACE
        s = _iri("video", key)
        t.a(s, h + "Video", PROV + "Entity")  # an entity: what clip-label runs prov:used
        t.add(s, h + "videoId", split_image_key(key)[0])
        t.add(s, h + "fps", None if fps is None else float(fps))
        t.add(s, h + "frameCount", None if frame_count is None else int(frame_count))
        t.add(s, h + "duration", None if duration is None else float(duration))

    def track(self, key: str, track_id: int, video: str) -> None:
        """Track ``track_id`` (``key`` its store key, :func:`ontology.identity.track_key`) of
        the video of key ``video``."""
        t, h = self.t, NAMESPACE
        s = _iri("track", key)
        t.a(s, h + "Track", PROV + "Entity")  # what segment runs prov:used
        t.add(s, h + "trackId", int(track_id))
        t.add(s, h + "inVideo", t.node(_iri("video", video)))

    def link(self, kind: str, key: str, prop: str, other_kind: str, other: str) -> None:
        """``data:<kind>/<key> hake:<prop> data:<other_kind>/<other>``: a frame's video and next
        frame, a person's track."""
        self.t.add(_iri(kind, key), NAMESPACE + prop, self.t.node(_iri(other_kind, other)))

    def segment(
        self,
        track: str,
        activity: str,
        activity_iri: str,
        start_frame: int,
        end_frame: int,
        start_time: float | None,
        end_time: float | None,
        score: float,
        source: str,
        run: _Run,
    ) -> str:
        """An activity segment of the track of key ``track``: a model's is generated by its
        run, ground truth (``source = "annotation"``, ``run.model`` naming its dataset) is
        attributed to the dataset."""
        t, h = self.t, NAMESPACE
        s = _iri("segment", track, activity, str(start_frame), source, run.model)
        t.a(s, h + "ActivitySegment", PROV + "Entity")
        t.add(s, h + "track", t.node(_iri("track", track)))
        t.add(s, h + "activity", t.node(activity_iri))
        t.add(s, h + "startFrame", int(start_frame))
        t.add(s, h + "endFrame", int(end_frame))
        t.add(s, h + "startTime", None if start_time is None else float(start_time))
        t.add(s, h + "endTime", None if end_time is None else float(end_time))
        self._made(s, score, source, run, _iri("track", track))
        return s

    def clip_label(
        self, video: str, activity: str, activity_iri: str, score: float, source: str, run: _Run
    ) -> str:
        """A label of the whole video of key ``video``, attributed as :meth:`segment` is."""
        t, h = self.t, NAMESPACE
        s = _iri("clip", video, activity, source, run.model)
        t.a(s, h + "ClipLabel", PROV + "Entity")
        t.add(s, h + "clip", t.node(_iri("video", video)))
        t.add(s, h + "activity", t.node(activity_iri))
        self._made(s, score, source, run, _iri("video", video))
        return s

    def _made(self, s: str, score: float, source: str, run: _Run, used: str) -> None:
        """Score, source and provenance of a segment or clip label ``s``: a model's is
        generated by its run (which used ``used``, the track or video) at the run's time and
        attributed to the model; ground truth is attributed to its dataset (``run.model``)."""
        t, h = self.t, NAMESPACE
        t.add(s, h + "score", float(score))
        t.add(s, h + "source", source)
        t.add(s, h + "modelVersion", run.version)
        if source == "annotation":
            t.add(s, PROV + "wasAttributedTo", self.dataset(run.model))
            return
        self._generated(s, run, used=used)

    def concerns(self, activity_node: str, instance: str) -> None:
        """An annotation or prediction (``activity_node``) concerns the instance of store key
        ``instance``: the triplet."""
        self.t.add(activity_node, NAMESPACE + "objectInstance", self.t.node(_iri("instance", instance)))

    def annotation(self, person: str, activity: str, activity_iri: str, dataset: str | None) -> None:
        t, h = self.t, NAMESPACE
        s = _iri("annotation", person, activity)
        t.a(s, h + "ActivityAnnotation", PROV + "Entity")
        t.add(s, h + "person", t.node(_iri("person", person)))
        t.add(s, h + "activity", t.node(activity_iri))
        t.add(s, h + "source", "annotation")
        t.add(s, PROV + "wasAttributedTo", self.dataset(dataset))

    def explanation(
        self,
        person: str,
        activity: str,
        run: _Run,
        method: str | None,
        baseline: float | None,
        rest: float | None,
    ) -> str:
        t, h = self.t, NAMESPACE
        s = _iri("expl", person, activity, run.model)
        if not self._new(s):  # (one call per contribution row: described once)
            return s
        t.a(s, h + "Explanation", PROV + "Entity")
        t.add(s, h + "explains", t.node(_iri("pred", person, activity, run.model)))
        t.add(s, h + "method", method)
        t.add(s, h + "baseline", None if baseline is None else float(baseline))
        t.add(s, h + "rest", None if rest is None else float(rest))
        self._generated(s, run)
        return s

    def contribution(
        self,
        explanation: str,
        person: str,
        kind: str,
        term: str,
        term_iri: str,
        weight: float,
        edge: str | None,
    ) -> None:
        t, h = self.t, NAMESPACE
        c = contribution_iri(explanation, kind, term, edge)
        t.add(explanation, h + "contribution", t.node(c))
        t.a(c, h + "Contribution")
        t.add(c, h + "term", t.node(term_iri))
        t.add(c, h + "kind", kind)
        t.add(c, h + "weight", float(weight))
        t.add(c, h + "edge", edge)
        t.add(c, PROV + "wasDerivedFrom", t.node(_iri(_OBSERVATION_OF[kind], person, term)))

    def pairing(
        self,
        person: str,
        activity: str,
        instance: str,
        run: _Run,
        method: str | None,
        score: float,
        baseline: float,
        rest: float,
    ) -> str:
        """Why ``person``'s prediction of ``activity`` (by ``run``'s model) names ``instance``
        (store keys): the pairing explanation, without its contributions."""
        t, h = self.t, NAMESPACE
        s = _iri("pairing", person, activity, run.model)
        if not self._new(s):  # (one call per term row: described once)
            return s
        t.a(s, h + "PairingExplanation", PROV + "Entity")
        t.add(s, h + "explains", t.node(_iri("pred", person, activity, run.model)))
        t.add(s, h + "objectInstance", t.node(_iri("instance", instance)))
        t.add(s, h + "method", method)
        t.add(s, h + "pairScore", float(score))
        t.add(s, h + "baseline", float(baseline))
        t.add(s, h + "rest", float(rest))
        self._generated(s, run)
        return s

    def pairing_contribution(
        self,
        explanation: str,
        person: str,
        instance: str,
        kind: str,
        term: str,
        term_iri: str | None,
        weight: float,
        name: str | None = None,
        index: int | None = None,
    ) -> None:
        """One term of a pairing explanation: an ontology term (``term_iri``) for a part state
        or body part, else a ``hake:PairingTerm`` (``data:pairing-term/<id>``, described once
        with its ``name`` and channel ``index``)."""
        t, h = self.t, NAMESPACE
        c = contribution_iri(explanation, kind, term, None)
        t.add(explanation, h + "pairingContribution", t.node(c))
        t.a(c, h + "PairingContribution")
        if term_iri is None:
            term_iri = _iri("pairing-term", term)
            if self._new(term_iri):
                t.a(term_iri, h + "PairingTerm")
                t.add(term_iri, RDFS + "label", name or term)
                t.add(term_iri, h + "kind", kind)
                t.add(term_iri, h + "index", index)
        t.add(c, h + "term", t.node(term_iri))
        t.add(c, h + "kind", kind)
        t.add(c, h + "weight", float(weight))
        if kind in _OBSERVATION_OF:  # the person's observation of the term
            t.add(c, PROV + "wasDerivedFrom", t.node(_iri(_OBSERVATION_OF[kind], person, term)))
        else:  # the two boxes and their image
            t.add(c, PROV + "wasDerivedFrom", t.node(_iri("instance", instance)))
            t.add(c, PROV + "wasDerivedFrom", t.node(_iri("person", person)))


#: observation IRI kind -> (class, term property, value property)
_OBSERVATIONS = {
    "obs": ("PartStateObservation", "partState", "probability"),
    "near": ("ObjectObservation", "object", "score"),
    "part": ("BodyPartObservation", "bodyPart", "probability"),
}
#: contribution kind -> the IRI kind of the observation it comes from
_OBSERVATION_OF = {"part_state": "obs", "object": "near", "body_part": "part"}


def _term_iris(onto: Ontology) -> dict[str, dict[str, str]]:
    return {
        "PartState": {x.id: x.iri for x in onto.part_states},
        "Object": {x.id: x.iri for x in onto.objects},
        "BodyPart": {x.id: x.iri for x in [*onto.body_parts, *onto.coarse_parts]},
        "Activity": {x.id: x.iri for x in onto.activities},
        "Verb": {x.id: x.iri for x in onto.verbs},
    }


_LABEL_OF_KIND = {"part_state": "PartState", "object": "Object", "body_part": "BodyPart"}


def _instance_triples(
    store: GraphStore, progress: bool = False, sink: Callable[[list[Any]], Any] | None = None
) -> _Triples:
    """The store's instances as triples, each once: collected, or handed to ``sink`` in
    batches (the caller then calls :meth:`_Triples.flush` once more)."""
    onto = store_ontology(store)
    t = _Triples(sink)
    prov = _Provenance(t)
    h = NAMESPACE
    term_iri = _term_iris(onto)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=20, desc="exporting RDF", unit="query")

    def rows(cypher: str) -> list[dict[str, Any]]:
        if bar is not None:
            bar.update(1)
        return store.query(cypher)

    # what is the same for every row of a write (model version, time) is on its Run
    runs = {
        r["id"]: r
        for r in rows(
            "MATCH (r:Run) RETURN r.id AS id, r.kind AS kind, r.model AS model, r.version AS version, "
            "r.created AS created, r.method AS method, r.ontology AS ontology, r.top_k AS top_k, "
            "r.min_share AS min_share, r.persons AS persons, r.predictions AS predictions"
        )
    }

    def reasoning_run(run_id: str | None, model: str) -> _Run:
        """The run that wrote a prediction, explanation, segment or clip label."""
        r = runs.get(run_id or "")
        if r is None:  # a prediction whose run the store does not hold: what is known
            return _Run(model, None, None, run_id)
        return _Run(
            model,
            r["version"],
            r["created"],
            r["id"],
            r["method"],
            r["ontology"],
            r["top_k"],
            r["min_share"],
            r["persons"],
            r["predictions"],
            r["kind"] or "reasoning",
        )

    datasets: dict[str, set[str | None]] = {}  # person key -> files of its annotations
    for r in rows(
        "MATCH (p:Person)-[e:DOES]->(a:Activity) RETURN p.id AS p, a.id AS a, e.score AS score, "
        "e.source AS source, e.model AS model, e.run AS run"
    ):
        activity = term_iri["Activity"][r["a"]]
        if r["source"] == "annotation":
            ingest = runs.get(r["run"] or "")  # an annotation run: its version is the file
            file = None if ingest is None else ingest["version"]
            datasets.setdefault(r["p"], set()).add(file)
            prov.annotation(r["p"], r["a"], activity, file)
        else:
            prov.prediction(r["p"], r["a"], activity, r["score"], reasoning_run(r["run"], r["model"]))
    for r in rows(
        "MATCH (i:Image) RETURN i.id AS id, i.width AS width, i.height AS height, "
        "i.frame_index AS frame_index, i.timestamp AS timestamp, i.video AS video"
    ):
        prov.image(r["id"], r["width"], r["height"], r["frame_index"], r["timestamp"], r["video"])
    sources: dict[str, tuple[str | None, str | None]] = {}  # person key -> (source, model)
    for r in rows(
        "MATCH (p:Person)-[:IN_IMAGE]->(i:Image) RETURN p.id AS id, p.person_id AS person_id, "
        "p.bbox AS bbox, p.keypoints AS keypoints, p.track_id AS track_id, p.source AS source, "
        "p.model AS model, i.id AS image"
    ):
        sources[r["id"]] = (r["source"], r["model"])
        by = prov.source(r["source"], r["model"], datasets.get(r["id"], ()))
        prov.person(
            r["id"], r["image"], r["person_id"], r["bbox"], r["track_id"], r["source"], by, r["keypoints"]
        )
    for r in rows(
        "MATCH (p:Person)-[e:HAS_STATE]->(x:PartState) RETURN p.id AS p, x.id AS x, e.prob AS prob, "
        "e.source AS source, p.model AS model"
    ):
        by = prov.source(r["source"], r["model"], datasets.get(r["p"], ()))
        prov.observation("obs", r["p"], r["x"], term_iri["PartState"][r["x"]], r["prob"], r["source"], by)
    for r in rows(
        "MATCH (p:Person)-[e:NEAR]->(o:Object) RETURN p.id AS p, o.id AS o, e.score AS score, "
        "e.count AS count"
    ):
        source, model = sources.get(r["p"], (None, None))
        by = prov.source(source, model, datasets.get(r["p"], ()))
        obj = term_iri["Object"][r["o"]]
        prov.observation("near", r["p"], r["o"], obj, r["score"], source, by, count=int(r["count"]))
    for r in rows(
        "MATCH (p:Person)-[e:USES_PART]->(b:BodyPart) RETURN p.id AS p, b.id AS b, e.prob AS prob, "
        "e.source AS source, p.model AS model"
    ):
        by = prov.source(r["source"], r["model"], datasets.get(r["p"], ()))
        prov.observation("part", r["p"], r["b"], term_iri["BodyPart"][r["b"]], r["prob"], r["source"], by)
    for r in rows(
        "MATCH (p:Person)-[:EXPLAINED_BY]->(e:Explanation)-[:EXPLAINS]->(a:Activity) "
        "MATCH (x)-[c:CONTRIBUTES_TO]->(e) RETURN p.id AS p, a.id AS a, e.id AS id, "
        "e.method AS method, e.model AS model, e.run AS run, e.baseline AS baseline, e.rest AS rest, "
        "x.kind AS kind, x.id AS term, c.weight AS weight, c.edge AS edge"
    ):
        run = reasoning_run(r["run"], r["model"])
        s = prov.explanation(r["p"], r["a"], run, r["method"], r["baseline"], r["rest"])
        label = _LABEL_OF_KIND[r["kind"]]
        prov.contribution(s, r["p"], r["kind"], r["term"], term_iri[label][r["term"]], r["weight"], r["edge"])
    if has_triplet_tables(store):  # (not in a store of an earlier version opened read-only)
        instance_datasets: dict[str, set[str | None]] = {}
        for r in rows(
            "MATCH (p:Person)-[x:INTERACTS_WITH]->(o:ObjectInstance) RETURN p.id AS p, x.activity AS a, "
            "o.id AS o, x.source AS source, x.model AS model, x.run AS run"
        ):
            if r["source"] == "annotation":
                ingest = runs.get(r["run"] or "")
                instance_datasets.setdefault(r["o"], set()).add(None if ingest is None else ingest["version"])
                prov.concerns(_iri("annotation", r["p"], r["a"]), r["o"])
            else:
                prov.concerns(_iri("pred", r["p"], r["a"], r["model"]), r["o"])
        for r in rows(
            "MATCH (o:ObjectInstance)-[:IN_IMAGE]->(i:Image) MATCH (o)-[:IS_A]->(c:Object) "
            "RETURN o.id AS id, o.object_id AS object_id, o.bbox AS bbox, o.score AS score, "
            "c.id AS object, i.id AS image"
        ):
            files = instance_datasets.get(r["id"])
            by = [] if files is None else prov.source("annotation", None, files)
            obj = term_iri["Object"][r["object"]]
            prov.instance(r["id"], r["image"], r["object_id"], obj, r["bbox"], r["score"], by)
    if has_pairing_tables(store):  # (not in a store of an earlier version opened read-only)
        _pairing_triples(prov, rows, term_iri, reasoning_run)
    if has_video_tables(store):  # (not in a store of an earlier version opened read-only)
        _video_triples(prov, rows, term_iri["Activity"], reasoning_run)
    for label in ("Activity", "Verb"):
        for r in rows(
            # The label comes from the fixed pair above.
            f"MATCH (x:PartState)-[e:IMPLIES]->(y:{label}) RETURN x.id AS x, y.id AS y, "
            "e.count AS count, e.cond_prob AS cond_prob, e.npmi AS npmi, e.weight AS weight"
        ):
            s = _iri("evidence", r["x"], r["y"])
            source, target = term_iri["PartState"][r["x"]], term_iri[label][r["y"]]
            t.add(source, h + "implies", t.node(target))
            t.a(s, h + "Evidence")
            t.add(s, h + "partState", t.node(source))
            t.add(s, h + "target", t.node(target))
            t.add(s, h + "count", int(r["count"]))
            t.add(s, h + "condProb", float(r["cond_prob"]))
            t.add(s, h + "npmi", float(r["npmi"]))
            t.add(s, h + "weight", float(r["weight"]))
    if bar is not None:
        bar.close()
    return t


def _pairing_triples(
    prov: _Provenance,
    rows: Callable[[str], list[dict[str, Any]]],
    term_iri: dict[str, dict[str, str]],
    run_of: Callable[[str | None, str], _Run],
) -> None:
    """The pairing explanations (why a prediction names its instance) and their terms."""
    for r in rows(
        "MATCH (p:Person)-[:PAIR_EXPLAINED_BY]->(e:PairingExplanation)-[:CONCERNS]->(o:ObjectInstance) "
        "MATCH (t)-[c:PAIR_CONTRIBUTES_TO]->(e) RETURN p.id AS p, e.activity AS a, o.id AS o, "
        "e.method AS method, e.model AS model, e.run AS run, e.score AS score, e.baseline AS baseline, "
        "e.rest AS rest, t.kind AS kind, t.id AS term, t.name AS name, t.idx AS idx, c.weight AS weight"
    ):
        run = run_of(r["run"], r["model"])
        s = prov.pairing(r["p"], r["a"], r["o"], run, r["method"], r["score"], r["baseline"], r["rest"])
        label = _LABEL_OF_KIND.get(r["kind"])
        iri = None if label is None else term_iri[label][r["term"]]
        prov.pairing_contribution(
            s, r["p"], r["o"], r["kind"], r["term"], iri, r["weight"], r["name"], r["idx"]
        )


def _video_triples(
    prov: _Provenance,
    rows: Callable[[str], list[dict[str, Any]]],
    activity_iri: dict[str, str],
    run_of: Callable[[str | None, str], _Run],
) -> None:
    """The video graph (videos, frames in order, tracks, persons' tracks) and the segments
    and clip labels on it."""
    for r in rows(
        "MATCH (v:Video) RETURN v.id AS id, v.fps AS fps, v.frame_count AS frame_count, "
        "v.duration AS duration"
    ):
        prov.video(r["id"], r["fps"], r["frame_count"], r["duration"])
    for r in rows("MATCH (i:Image)-[:IN_VIDEO]->(v:Video) RETURN i.id AS i, v.id AS v"):
        prov.link("image", r["i"], "inVideo", "video", r["v"])
    for r in rows("MATCH (a:Image)-[:NEXT]->(b:Image) RETURN a.id AS a, b.id AS b"):
        prov.link("image", r["a"], "next", "image", r["b"])
    for r in rows("MATCH (t:Track)-[:IN_VIDEO]->(v:Video) RETURN t.id AS id, t.track_id AS n, v.id AS v"):
        prov.track(r["id"], r["n"], r["v"])
    for r in rows("MATCH (p:Person)-[:OF_TRACK]->(t:Track) RETURN p.id AS p, t.id AS t"):
        prov.link("person", r["p"], "track", "track", r["t"])
    for r in rows(
        "MATCH (t:Track)-[s:SEGMENT]->(a:Activity) RETURN t.id AS track, a.id AS a, "
        "s.start_frame AS start_frame, s.end_frame AS end_frame, s.start_time AS start_time, "
        "s.end_time AS end_time, s.score AS score, s.source AS source, s.model AS model, s.run AS run"
    ):
        prov.segment(
            r["track"],
            r["a"],
            activity_iri[r["a"]],
            r["start_frame"],
            r["end_frame"],
            r["start_time"],
            r["end_time"],
            r["score"],
            r["source"],
            run_of(r["run"], r["model"]),
        )
    for r in rows(
        "MATCH (v:Video)-[c:CLIP_LABEL]->(a:Activity) RETURN v.id AS video, a.id AS a, c.score AS score, "
        "c.source AS source, c.model AS model, c.run AS run"
    ):
        run = run_of(r["run"], r["model"])
        prov.clip_label(r["video"], r["a"], activity_iri[r["a"]], r["score"], r["source"], run)


def _person_triples(data: PersonExplanations) -> _Triples:
    """One person's observations, explained predictions and their provenance, in the
    pattern of the full export."""
    onto = data.ontology
    term_iri = _term_iris(onto)
    t = _Triples()
    prov = _Provenance(t)
    obs = data.observation
    image = data.image
    prov.image(
        image["id"],
        image.get("width"),
        image.get("height"),
        image.get("frame_index"),
        obs.timestamp,
        image.get("video"),
    )
    # the record does not say which file an annotated person came from (the full export does)
    by = prov.source(obs.source, obs.model, ())
    prov.person(data.person, image["id"], obs.person_id, data.box, obs.track_id, obs.source, by)
    for state, prob in obs.part_states.items():
        prov.observation("obs", data.person, state, term_iri["PartState"][state], prob, obs.source, by)
    for o in obs.objects:
        prov.observation("near", data.person, o.object, term_iri["Object"][o.object], o.score, obs.source, by)
    for part, prob in obs.active_parts.items():
        prov.observation("part", data.person, part, term_iri["BodyPart"][part], prob, obs.source, by)
    for p in data.predictions:
        e = data.explanation(p)
        run = _Run(p.model, p.model_version, data.created.get((p.activity, p.model)))
        pred = prov.prediction(data.person, p.activity, term_iri["Activity"][p.activity], p.score, run)
        inst = data.instance(p)
        if inst is not None:  # the triplet (the record does not say which dataset annotated it)
            cls = term_iri["Object"][inst.object]
            prov.instance(inst.key, image["id"], inst.object_id, cls, inst.box.to_list(), inst.score, [])
            prov.concerns(pred, inst.key)
            why = data.pairing(p)
            if why is not None:  # why the pairing model chose the instance
                w = prov.pairing(
                    data.person, p.activity, inst.key, run, why.method, why.score, why.baseline, why.rest
                )
                for pc in why.contributions:
                    label = _LABEL_OF_KIND.get(pc.kind)
                    name, index = data.pairing_terms.get(pc.term, (pc.term, None))
                    iri = None if label is None else term_iri[label][pc.term]
                    prov.pairing_contribution(
                        w, data.person, inst.key, pc.kind, pc.term, iri, pc.weight, name, index
                    )
        s = prov.explanation(data.person, p.activity, run, e.method, e.baseline, e.rest)
        for c in data.ranked(e):
            term = term_iri[_LABEL_OF_KIND[c.kind]][c.term]
            prov.contribution(s, data.person, c.kind, c.term, term, c.weight, c.edge)
    return t


def person_rdf(data: PersonExplanations, fmt: str) -> str:
    """One person's explanations (``hake explain --format ttl|jsonld``) as Turtle or compact
    JSON-LD, with the same pattern and provenance as the full export (:func:`export_rdf`):
    the person and its image, its observations attributed to their source, each explained
    prediction and its explanation generated by the reasoning run (a ``prov:Activity``).

    ``data`` is a :class:`kg.report.PersonExplanations` (:func:`kg.report.load_person`); it
    does not say which dataset an annotated person came from, so its annotation
    observations are attributed to ``data:dataset/unknown``.
    """
    import pyoxigraph

    if FORMATS.get(fmt.lower()) not in ("TURTLE", "JSON_LD"):
        raise StoreError(f"unknown explanation RDF format {fmt!r}; expected 'ttl' or 'jsonld'")
    ox = pyoxigraph.Store()
    ox.extend(_person_triples(data).quads)
    out = io.BytesIO()
    _dump(ox, out, _fmt(fmt))
    return out.getvalue().decode("utf-8")


def rdf_store(
    store: GraphStore | None = None,
    include_ontology: bool = True,
    progress: bool = False,
    folder: str | os.PathLike[str] | None = None,
) -> Any:
    """A ``pyoxigraph.Store`` holding the ontology (the store's own, extensions included; the
    packaged one without a store) and (when ``store`` is given) the instances: in memory, or
    on disk in ``folder`` (an empty or new folder) for a graph too big for memory."""
    import pyoxigraph

    ox = pyoxigraph.Store() if folder is None else pyoxigraph.Store(str(folder))
    add = ox.extend if folder is None else ox.bulk_extend
    if include_ontology:
        onto = load() if store is None else store_ontology(store)
        add(list(pyoxigraph.parse(onto.to_turtle(), format=pyoxigraph.RdfFormat.TURTLE)))
    if store is not None:
        _instance_triples(store, progress, sink=add).flush()
    return ox


def export_rdf(
    store: GraphStore,
    path: str | os.PathLike[str],
    format: str | None = None,
    include_ontology: bool = True,
    progress: bool = False,
) -> int:
    """Write the graph as RDF to ``path`` (format from ``format`` or the file extension:
    Turtle, compact JSON-LD or N-Triples).

    Returns the number of triples written. The file is streamed to a temporary file beside
    ``path`` and renamed (:func:`ontology.files.atomic_write`), so a failed export leaves
    ``path`` as it was. ``path`` must not be a directory and its folder must exist.
    """
    import pyoxigraph

    path = check_file_target(path)
    fmt = _fmt(format or path.suffix.lstrip(".") or "ttl")
    if fmt == pyoxigraph.RdfFormat.JSON_LD:  # compaction groups by subject: a graph on disk
        with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as folder:
            ox = rdf_store(store, include_ontology, progress, folder=folder)
            try:
                with atomic_write(path, "wb") as fh:
                    return _write_jsonld(ox, fh)
            finally:
                del ox  # (closes the on-disk store before its folder goes)
    with atomic_write(path, "wb") as fh:
        return _stream_rdf(store, include_ontology, progress, fh, fmt)


def _stream_rdf(store: GraphStore, include_ontology: bool, progress: bool, fh: IO[bytes], fmt: Any) -> int:
    """Turtle or N-Triples written batch by batch as the store's rows are read, with no
    in-memory graph (one held the whole HAKE graph's 7.7M triples: an 8.4 GB peak). Each
    batch is a complete Turtle fragment; the prefixes are written once. Every triple is
    emitted once (:class:`_Provenance` describes each node once), so the count is the
    graph's size. Returns the number of triples written."""
    import pyoxigraph

    turtle = fmt == pyoxigraph.RdfFormat.TURTLE
    written = 0

    def write(triples: list[Any]) -> None:
        nonlocal written
        data = pyoxigraph.serialize(triples, None, fmt, prefixes=_PREFIXES if turtle else None) or b""
        if turtle and written:  # the prefixes went out with the first batch
            while data.startswith(b"@prefix "):
                data = data[data.index(b"\n") + 1 :]
        fh.write(data)
        written += len(triples)

    if include_ontology:
        onto = store_ontology(store)
        write(list(pyoxigraph.parse(onto.to_turtle(), format=pyoxigraph.RdfFormat.TURTLE)))
    _instance_triples(store, progress, sink=write).flush()
    return written


def _dump(ox: Any, fh: IO[bytes], fmt: Any) -> None:
    """Serialise the default graph of ``ox`` to ``fh``: JSON-LD by :func:`_write_jsonld`, the
    rest streamed by pyoxigraph (as fast as dumping to a path)."""
    import pyoxigraph

    if fmt == pyoxigraph.RdfFormat.JSON_LD:
        _write_jsonld(ox, fh)
        return
    kwargs: dict[str, Any] = {"format": fmt, "from_graph": pyoxigraph.DefaultGraph()}
    if fmt == pyoxigraph.RdfFormat.TURTLE:
        kwargs["prefixes"] = _PREFIXES
    ox.dump(fh, **kwargs)


# ---- compact JSON-LD --------------------------------------------------------------------


class _Compactor:
    """Writes RDF terms in the compact form the published ``@context`` defines.

    Keys: the context's term for a property when it has one (its type coercion then
    applies), else a compact IRI with a context prefix, else the full IRI. Values: JSON
    numbers / booleans / strings where the term's coercion gives back the exact datatype,
    IRIs as strings for ``"@type": "@id"`` terms, value objects (``{"@value", "@type"}``,
    ``{"@id"}``) otherwise.

    >>> c = _Compactor(jsonld_context())
    >>> c.key("https://w3id.org/hake-engine/ontology#probability")
    ('probability', 'http://www.w3.org/2001/XMLSchema#double')
    >>> c.iri("https://w3id.org/hake-engine/data/person/a.jpg%2F0")
    'data:person/a.jpg%2F0'
    """

    def __init__(self, context: dict[str, Any]) -> None:
        prefixes = {k: v for k, v in context.items() if isinstance(v, str) and v.endswith(("#", "/"))}
        self._prefixes = sorted(((ns, p) for p, ns in prefixes.items()), key=lambda x: -len(x[0]))
        self._terms: dict[str, tuple[str, str | None]] = {}  # property IRI -> (term, coercion)
        self._classes: dict[str, str] = {}  # class IRI -> term
        for term, value in context.items():
            if term in prefixes or term.startswith("@"):
                continue
            if isinstance(value, str):
                self._terms[self._expand(value, prefixes)] = (term, None)
                if term[:1].isupper():
                    self._classes[self._expand(value, prefixes)] = term
            else:
                coercion = value.get("@type")
                if coercion is not None and coercion != "@id":
                    coercion = self._expand(coercion, prefixes)
                self._terms[self._expand(value["@id"], prefixes)] = (term, coercion)

    @staticmethod
    def _expand(value: str, prefixes: dict[str, str]) -> str:
        prefix, _, local = value.partition(":")
        return prefixes[prefix] + local if prefix in prefixes else value

    def iri(self, iri: str) -> str:
        for ns, prefix in self._prefixes:
            # an empty local part or one starting with "//" would not read back as this IRI
            if iri.startswith(ns) and len(iri) > len(ns) and not iri[len(ns) :].startswith("//"):
                return prefix + ":" + iri[len(ns) :]
        return iri

    def type(self, iri: str) -> str:
        return self._classes.get(iri) or self.iri(iri)

    def key(self, iri: str) -> tuple[str, str | None]:
        return self._terms.get(iri) or (self.iri(iri), None)

    def value(self, term: Any, coercion: str | None) -> Any:
        import pyoxigraph

        if isinstance(term, pyoxigraph.NamedNode | pyoxigraph.BlankNode):
            ref = self.iri(term.value) if isinstance(term, pyoxigraph.NamedNode) else "_:" + term.value
            return ref if coercion == "@id" else {"@id": ref}
        if term.language:
            return {"@value": term.value, "@language": term.language}
        datatype = term.datatype.value
        if datatype == coercion:
            if datatype == XSD + "double":
                number = float(term.value)
                return number if math.isfinite(number) else term.value
            if datatype == XSD + "integer":
                return int(term.value)
            if datatype == XSD + "boolean":
                return term.value == "true"
            return term.value
        if datatype == XSD + "string":
            return term.value if coercion is None else {"@value": term.value}
        return {"@value": term.value, "@type": self.iri(datatype)}

    def node(self, subject: Any, pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
        """The node object of ``subject`` with its (predicate, object) pairs."""
        import pyoxigraph

        ref = self.iri(subject.value) if isinstance(subject, pyoxigraph.NamedNode) else "_:" + subject.value
        node: dict[str, Any] = {"@id": ref}
        types: list[str] = []
        values: dict[str, list[Any]] = {}
        for p, o in pairs:
            if p.value == RDF_TYPE and isinstance(o, pyoxigraph.NamedNode):
                types.append(self.type(o.value))
                continue
            key, coercion = self.key(p.value)
            values.setdefault(key, []).append(self.value(o, coercion))
        if types:
            node["@type"] = types[0] if len(types) == 1 else sorted(types)
        for key, vs in values.items():
            node[key] = vs[0] if len(vs) == 1 else vs
        return node


def _write_jsonld(ox: Any, fh: IO[bytes]) -> int:
    """Write the default graph of ``ox`` as one compact JSON-LD document, the published
    context embedded, one node object per line, subjects in IRI order (pyoxigraph's
    in-memory store iterates in no order, so each subject's triples are looked up by
    subject). Returns the number of triples written."""
    import pyoxigraph

    context = jsonld_context()
    compact = _Compactor(context)
    graph = pyoxigraph.DefaultGraph()
    subjects = {quad.subject for quad in ox.quads_for_pattern(None, None, None, graph)}
    fh.write(b'{"@context": ' + json.dumps(context, ensure_ascii=False).encode("utf-8") + b',\n"@graph": [')
    separator = b"\n"
    written = 0
    for subject in sorted(subjects, key=lambda s: (isinstance(s, pyoxigraph.BlankNode), s.value)):
        pairs = sorted(
            ((q.predicate, q.object) for q in ox.quads_for_pattern(subject, None, None, graph)),
            key=lambda pair: pair[0].value,
        )
        written += len(pairs)
        line = json.dumps(compact.node(subject, pairs), ensure_ascii=False, separators=(",", ":"))
        fh.write(separator + line.encode("utf-8"))
        separator = b",\n"
    fh.write(b"\n]}\n")
    return written


# ---- SPARQL -----------------------------------------------------------------------------

#: The file inside a persistent store that says which export it was built from.
_STAMP = "hake-export.json"


def store_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`sparql` keeps the persistent store of the export at ``path``:
    ``<path>.oxigraph/`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".oxigraph")


def _stamp(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"export": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _current(folder: Path, stamp: dict[str, Any]) -> bool:
    """Whether the persistent store ``folder`` was built from the export ``stamp`` names."""
    try:
        recorded = json.loads((folder / _STAMP).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return False
    return isinstance(recorded, dict) and all(recorded.get(k) == v for k, v in stamp.items())


class _Reading:
    """A binary file whose reads advance a progress bar (pyoxigraph calls ``read``)."""

    def __init__(self, fh: IO[bytes], bar: Any) -> None:
        self._fh = fh
        self._bar = bar

    def read(self, size: int = -1) -> bytes:
        chunk = self._fh.read(size)
        self._bar.update(len(chunk))
        return chunk


def _open_persistent(path: Path, progress: bool) -> Any | None:
    """The persistent store of the export ``path``, opened read-only: reused when it was built
    from the file as it is now (same size, modification time and inode), else built again
    (into a temporary folder beside it, then renamed). ``None`` when the folder beside the
    export cannot be written."""
    import pyoxigraph

    folder = store_path(path)
    stamp = _stamp(path)
    if folder.is_dir() and _current(folder, stamp):
        if progress:
            print(
                f"reusing the SPARQL store {folder} (built from this {path.name})",
                file=sys.stderr,
                flush=True,
            )
        return _read_only(folder)
    if folder.exists() and not (folder / _STAMP).is_file():  # not ours: leave it alone
        print(
            f"note: {folder} exists and was not made by hake sparql; loading {path.name} into memory",
            file=sys.stderr,
        )
        return None
    try:
        building = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".building", dir=path.parent))
    except OSError as err:
        print(
            f"note: cannot keep a SPARQL store beside {path} ({err.strerror or err}); loading it into memory",
            file=sys.stderr,
        )
        return None
    try:
        start = time.perf_counter()
        ox = pyoxigraph.Store(str(building))
        fmt = _fmt(path.suffix.lstrip("."))
        if progress:
            from tqdm import tqdm

            with (
                path.open("rb") as fh,
                tqdm(
                    total=stamp["size"], desc=f"indexing {path.name} for SPARQL", unit="B", unit_scale=True
                ) as bar,
            ):
                ox.bulk_load(cast(IO[bytes], _Reading(fh, bar)), format=fmt)  # it only calls read()
        else:
            ox.bulk_load(path=str(path), format=fmt)
        triples = len(ox)
        ox.flush()
        del ox  # closes the database before it is moved
        with atomic_write(building / _STAMP) as out:
            json.dump({**stamp, "triples": triples}, out)
        _replace_folder(building, folder)
    except SyntaxError as err:
        shutil.rmtree(building, ignore_errors=True)
        said = " ".join(str(err).split())
        raise StoreError(f"{path} is not valid RDF ({said}); write it with `hake export`") from None
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if progress:
        print(
            f"built {folder} ({triples} triples) in {time.perf_counter() - start:.1f} s; "
            "later queries of this file reuse it",
            file=sys.stderr,
            flush=True,
        )
    return _read_only(folder)


def _read_only(folder: Path) -> Any:
    import pyoxigraph

    try:
        return pyoxigraph.Store.read_only(str(folder))
    except OSError as err:
        said = " ".join(str(err).split())
        raise StoreError(
            f"cannot open the SPARQL store {folder} ({said}); delete that folder and run the query "
            "again to rebuild it"
        ) from None


def _replace_folder(new: Path, target: Path) -> None:
    """Move the finished folder ``new`` to ``target``, replacing a stale one (renamed aside
    first, then deleted). When another process put a store there first, ``new`` is deleted
    and that one is kept."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".stale", dir=target.parent))
        os.rename(target, old / "store")
    try:
        os.rename(new, target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(new)
    if old is not None:
        shutil.rmtree(old)


def sparql(source: str | os.PathLike[str] | Any, query: str, progress: bool = False) -> list[dict[str, Any]]:
    """Run a SPARQL SELECT over an RDF file (format from its extension) or a pyoxigraph store.

    Values come back as Python strings/numbers (IRIs as strings). A file is indexed once into
    a persistent store beside it (:func:`store_path`, ``<file>.oxigraph/``) that later calls
    open instead of parsing the file again; it is rebuilt when the file changed (its size,
    modification time or inode differ from what the store recorded). When the folder cannot
    be written, the file is parsed into memory for this call, with a one-line note on stderr.
    ``progress`` shows a progress bar while the store is built, and says on stderr what is
    being done.

    Measured on the export of the instance-level HAKE annotations (3.8M triples, 171 MB of
    Turtle; this 2-core machine, shared): parsing into memory took 20 s on every call; the
    persistent store takes 46 s to build once (248 MB on disk; 53 s with the progress bar,
    which reads the file through Python), then a query over 101K observations 1-2 s.

    Queries are read-only: the store is opened read-only and SPARQL UPDATE is refused.
    """
    import pyoxigraph

    def note(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise StoreError(f"no RDF file at {path}; write one with `hake export --format ttl`")
        fmt = _fmt(path.suffix.lstrip("."))  # an unknown extension fails before anything is written
        ox = _open_persistent(path, progress)
        if ox is None:
            ox = pyoxigraph.Store()
            start = time.perf_counter()
            note(f"loading {path} ({path.stat().st_size / 1e6:.1f} MB) into an in-memory RDF store ...")
            ox.load(path=str(path), format=fmt)
            note(f"loaded {len(ox)} triples in {time.perf_counter() - start:.1f} s; running the query ...")
    else:
        ox = source
    try:
        solutions = ox.query(query)
    except SyntaxError as err:
        said = " ".join(str(err).split())
        raise StoreError(
            f"SPARQL syntax error: {said} (only read queries run here: SELECT; SPARQL UPDATE is refused)"
        ) from None
    if not isinstance(solutions, pyoxigraph.QuerySolutions):
        raise StoreError("only SPARQL SELECT queries return rows here")
    names = [v.value for v in solutions.variables]
    out = []
    for solution in solutions:
        row: dict[str, Any] = {}
        for name in names:
            term = solution[name]
            row[name] = None if term is None else _python(term)
        out.append(row)
    return out


def _python(term: Any) -> Any:
    import pyoxigraph

    if isinstance(term, pyoxigraph.Literal):
        dt = term.datatype.value
        if dt.endswith(("#integer", "#int", "#long")):
            return int(term.value)
        if dt.endswith(("#double", "#decimal", "#float")):
            return float(term.value)
        if dt.endswith("#boolean"):
            return term.value == "true"
    return term.value


def _by_subject(ox: Any, cls: str) -> Iterator[tuple[str, dict[str, list[Any]]]]:
    import pyoxigraph

    for quad in ox.quads_for_pattern(None, pyoxigraph.NamedNode(RDF_TYPE), pyoxigraph.NamedNode(cls)):
        props: dict[str, list[Any]] = {}
        for q in ox.quads_for_pattern(quad.subject, None, None):
            props.setdefault(q.predicate.value, []).append(q.object)
        yield quad.subject.value, props


def import_rdf(store: GraphStore, path: str | os.PathLike[str], progress: bool = False) -> IngestReport:
    """Read persons, their part-state, body-part and object observations and ground-truth
    activities from an RDF export and ingest them (same rules as any ingest: validated first,
    one transaction, persons already stored are skipped); evidence is recomputed when the file
    holds ground truth. Object instances and the ground-truth triplets (an annotation's
    ``hake:objectInstance``) are imported with them (:func:`kg.ingest_hoi`'s rules). Model
    predictions and explanations in the file (and the instances they name) are not
    imported: re-run reasoning to recreate them.

    Videos: the ingest of the frames' persons builds the video graph again (frames in order,
    tracks; :mod:`kg._video`), with each ``hake:Video``'s fps, frame count and duration.
    Ground-truth segments and clip labels (``hake:source "annotation"``) are written after
    the persons, by :func:`kg.write_segments` and :func:`kg.write_clip_labels` (each all or
    nothing; one that is stored already is replaced, with a new run), their model being
    their dataset's ``hake:file``; counted in the report's ``extra`` as
    ``segments_added`` / ``clip_labels_added``. A model's segments and clip labels are not
    imported, as its predictions are not. When the file holds annotations the persons go in
    by :func:`kg.ingest_annotated`, which takes no video information: the videos' values are
    then set by a second ingest of their frames (every person skipped).
    """
    import pyoxigraph

    path = Path(path)
    if not path.exists():
        raise StoreError(f"no RDF file at {path}")
    ox = pyoxigraph.Store()
    ox.load(path=str(path), format=_fmt(path.suffix.lstrip(".")))
    onto = require_ontology(store)
    h = NAMESPACE

    def one(props: dict[str, list[Any]], key: str) -> Any:
        values = props.get(h + key, [])
        return _python(values[0]) if values else None

    try:
        images = {s: props for s, props in _by_subject(ox, h + "Image")}
        nodes = {s: props for s, props in _by_subject(ox, h + "Keypoint")}
        persons: dict[str, dict[str, Any]] = {}
        for s, props in _by_subject(ox, h + "Person"):
            image = images.get(one(props, "inImage") or "", {})
            corners = [one(props, name) for name in BOX_PROPERTIES]
            legacy = one(props, "bbox")  # exports before the typed corners: a JSON array as text
            bbox = corners if None not in corners else (None if legacy is None else json.loads(legacy))
            keypoints = {
                one(k, "keypointName"): k
                for k in (nodes.get(x.value, {}) for x in props.get(h + "keypoint", []))
            }
            persons[s] = {
                "image_id": one(image, "video") or one(image, "imageId"),
                "person_id": one(props, "personId"),
                "box": None if bbox is None else Box.of(bbox),
                "keypoints": None
                if not keypoints
                else tuple(
                    Keypoint(one(keypoints[n], "x"), one(keypoints[n], "y"), one(keypoints[n], "confidence"))
                    for n in COCO_KEYPOINTS
                ),
                "frame_index": one(image, "frameIndex"),
                "timestamp": one(image, "timestamp"),
                "track_id": one(props, "trackId"),
                "source": one(props, "source") or "model",
                "part_states": {},
                "active_parts": {},
                "objects": [],
                "activities": [],
            }
        term_id = {
            x.iri: x.id for x in [*onto.part_states, *onto.objects, *onto.body_parts, *onto.activities]
        }
        for cls, field, key, value in (
            ("PartStateObservation", "part_states", "partState", "probability"),
            ("BodyPartObservation", "active_parts", "bodyPart", "probability"),
        ):
            for _, props in _by_subject(ox, h + cls):
                person = persons[one(props, "person")]
                person[field][term_id[one(props, key)]] = one(props, value)
        for _, props in _by_subject(ox, h + "ObjectObservation"):
            person = persons[one(props, "person")]
            person["objects"].append(
                DetectedObject(term_id[one(props, "object")], one(props, "score"), ontology=onto)
            )
        instances: dict[str, ObjectInstance] = {}
        for s, props in _by_subject(ox, h + "ObjectInstance"):
            image = images[one(props, "inImage")]
            instances[s] = ObjectInstance(
                image_id=one(image, "video") or one(image, "imageId"),
                object_id=one(props, "objectId"),
                object=term_id[one(props, "object")],
                box=Box.of([one(props, name) for name in BOX_PROPERTIES]),
                score=one(props, "score"),
                frame_index=one(image, "frameIndex"),
                ontology=onto,
            )
        pairs: list[tuple[str, str, str]] = []  # (person IRI, activity id, instance IRI)
        for _, props in _by_subject(ox, h + "ActivityAnnotation"):
            activity = term_id[one(props, "activity")]
            persons[one(props, "person")]["activities"].append(activity)
            for instance in props.get(h + "objectInstance", []):
                pairs.append((one(props, "person"), activity, instance.value))
        for _, props in _by_subject(ox, h + "ActivityPrediction"):  # exports before ActivityAnnotation
            if one(props, "source") == "annotation":
                persons[one(props, "person")]["activities"].append(term_id[one(props, "activity")])
        observations, activities, keys = [], [], {}
        for iri, p in persons.items():
            acts = p.pop("activities")
            p["objects"] = tuple(p["objects"])
            observations.append(PersonObservation(**p, ontology=onto))
            activities.append(tuple(acts))
            keys[iri] = observations[-1].key
        sizes = {  # image key -> (width, height)
            one(image, "imageId"): (one(image, "width"), one(image, "height"))
            for image in images.values()
            if one(image, "width") is not None
        }
        triplets = GroundTruthTriplets(
            list(instances.values()),
            [(keys[person], activity, instances[instance].key) for person, activity, instance in pairs],
            sizes,
        )
        videos = {s: props for s, props in _by_subject(ox, h + "Video")}
        video_info = {
            one(props, "videoId"): VideoInfo(
                one(props, "fps"), one(props, "frameCount"), one(props, "duration")
            )
            for props in videos.values()
            if any(one(props, name) is not None for name in ("fps", "frameCount", "duration"))
        }
        framed = {p["image_id"] for p in persons.values() if p["frame_index"] is not None}
        video_info = {video: info for video, info in video_info.items() if video in framed}
        tracks = {s: props for s, props in _by_subject(ox, h + "Track")}
        datasets = {s: props for s, props in _by_subject(ox, h + "Dataset")}

        def truth(props: dict[str, list[Any]]) -> tuple[str, str] | None:
            """(model, version) of a ground-truth segment or clip label, else None."""
            if one(props, "source") != "annotation":
                return None
            dataset = datasets[props[PROV + "wasAttributedTo"][0].value]
            return one(dataset, "file"), one(props, "modelVersion") or "unversioned"

        segments = []
        for _, props in _by_subject(ox, h + "ActivitySegment"):
            made = truth(props)
            if made is None:
                continue
            track = tracks[one(props, "track")]
            segments.append(
                ActivitySegment(
                    one(videos[one(track, "inVideo")], "videoId"),
                    one(track, "trackId"),
                    term_id[one(props, "activity")],
                    one(props, "startFrame"),
                    one(props, "endFrame"),
                    one(props, "score"),
                    *made,
                    onto,
                    start_time=one(props, "startTime"),
                    end_time=one(props, "endTime"),
                    source="annotation",
                )
            )
        labels = []
        for _, props in _by_subject(ox, h + "ClipLabel"):
            made = truth(props)
            if made is not None:
                video = one(videos[one(props, "clip")], "videoId")
                activity = term_id[one(props, "activity")]
                labels.append(
                    ClipLabel(video, activity, one(props, "score"), *made, onto, source="annotation")
                )
    except (KeyError, TypeError) as err:
        raise StoreError(
            f"{path}: cannot rebuild persons: a reference points at nothing ({err!r}); import only "
            "files written by `hake export` (ontology IRIs under hake:, persons under data:person/)"
        ) from None
    # a person's image size is given by image id, for still images (a frame's is its video's)
    sizes = {split_image_key(key)[0]: size for key, size in sizes.items() if split_image_key(key)[1] is None}
    if any(activities) or instances:  # annotations: stored with the evidence they imply, in one load
        report = ingest_annotated(
            store,
            observations,
            activities,
            image_sizes=sizes,
            source=path.name,
            progress=progress,
            triplets=triplets,
        )
        frames = [o for o in observations if o.frame_index is not None and o.image_id in video_info]
        if frames:  # (ingest_annotated takes no video information)
            ingest_observations(store, frames, source=path.name, video_info=video_info)
    else:
        report = ingest_observations(
            store, observations, image_sizes=sizes, source=path.name, progress=progress, video_info=video_info
        )
    if segments:
        report.extra["segments_added"] = write_segments(store, segments)
    if labels:
        report.extra["clip_labels_added"] = write_clip_labels(store, labels)
    return report
