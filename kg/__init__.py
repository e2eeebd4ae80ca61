"""The engine: graph stores (embedded, Neo4j, RDF), ingest, evidence, queries, exports, CLI.

``import kg`` never imports torch (nor the database drivers: backends import them when a
store is opened).

>>> import tempfile, kg
>>> with kg.EmbeddedStore(tempfile.mkdtemp()) as store:
...     counts = kg.init_store(store)
...     rows = store.query("MATCH (a:Activity {name: $name})-[:HAS_VERB]->(v:Verb) "
...                        "RETURN v.name AS verb", name="ride bicycle")
>>> counts["Activity"], rows
(600, [{'verb': 'ride'}])

A store knows its vocabulary: ``kg.init_store(store, ontology.load("my-actions.yaml"))``
writes an extended ontology, ``kg.store_ontology(store)`` reads it back and
``kg.extend_store(store, "more.yaml")`` adds terms (:mod:`kg.store_ontology`).

Videos (``Video``, frames in order, ``Track``, segments, clip labels): :mod:`kg._video`,
written and read as records by :func:`write_segments`, :func:`write_clip_labels`,
:func:`read_segments`, :func:`read_clip_labels`.

Object instances and triplets: :func:`read_predictions` gives each model prediction back with
the object instance it names and why the pairing model chose it
(:attr:`ontology.ActivityPrediction.pairing`, an :class:`ontology.PairingExplanation`: the
record :func:`reasoning.pairing.explain_pair_predictions` made).

Schema: :mod:`kg.schema`. Example queries and the portable Cypher subset: :mod:`kg.queries`.
"""

from __future__ import annotations

from kg._video import read_clip_labels, read_segments, write_clip_labels, write_segments
from kg.engine import Engine
from kg.evidence import compute_evidence, evidence_edges, update_evidence
from kg.export import to_networkx, write_graphml
from kg.ingest import (
    IngestReport,
    image_node_id,
    ingest_hake_image,
    ingest_hake_instance,
    ingest_hoi,
    ingest_observations,
    ingest_observations_jsonl,
    init_store,
    iter_observations_jsonl,
    read_observations_jsonl,
)
from kg.observations import read_annotated, read_observations, read_predictions
from kg.predictions import Run, write_prediction_batch, write_predictions
from kg.queries import EXAMPLES, ExampleQuery
from kg.rdf import export_rdf, import_rdf, sparql
from kg.reason import ReasonResult
from kg.store import EmbeddedStore, GraphStore, Neo4jStore
from kg.store_ontology import extend_store, store_ontology
from ontology.identity import person_key

__all__ = [
    "EXAMPLES",
    "EmbeddedStore",
    "Engine",
    "ExampleQuery",
    "GraphStore",
    "IngestReport",
    "Neo4jStore",
    "ReasonResult",
    "Run",
    "compute_evidence",
    "evidence_edges",
    "export_rdf",
    "extend_store",
    "image_node_id",
    "import_rdf",
    "ingest_hake_image",
    "ingest_hake_instance",
    "ingest_hoi",
    "ingest_observations",
    "ingest_observations_jsonl",
    "init_store",
    "iter_observations_jsonl",
    "person_key",
    "read_annotated",
    "read_clip_labels",
    "read_observations",
    "read_observations_jsonl",
    "read_predictions",
    "read_segments",
    "sparql",
    "store_ontology",
    "to_networkx",
    "update_evidence",
    "write_clip_labels",
    "write_graphml",
    "write_prediction_batch",
    "write_predictions",
    "write_segments",
]
