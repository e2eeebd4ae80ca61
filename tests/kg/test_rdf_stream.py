"""The streamed RDF export (Turtle, N-Triples): the same graph as the in-memory one, each
triple once, written batch by batch with the prefixes once."""

from __future__ import annotations

from pathlib import Path

import pytest
import rdflib
import rdflib.compare

import kg.rdf
from kg.engine import DEMO_OBSERVATIONS, Engine
from kg.ingest import ingest_hake_instance, init_store, read_observations_jsonl
from kg.rdf import export_rdf, rdf_store
from kg.store import GraphStore
from tests.kg.helpers import write_instance_fixture


@pytest.fixture
def reasoned(store: GraphStore, tmp_path: Path) -> GraphStore:
    """Annotated persons (the instance fixture) and the demo persons reasoned over by the
    packaged GNN: explanations of several contributions each."""
    import torch

    torch.set_num_threads(1)
    init_store(store)
    ingest_hake_instance(store, write_instance_fixture(tmp_path))
    Engine(store).reason(read_observations_jsonl(DEMO_OBSERVATIONS), top_k=3)
    return store


def test_streamed_export_is_the_graph_with_each_triple_once(
    reasoned: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contributions = reasoned.query("MATCH ()-[c:CONTRIBUTES_TO]->(e:Explanation) RETURN count(c) AS n")[0][
        "n"
    ]
    explanations = reasoned.query("MATCH (e:Explanation) RETURN count(e) AS n")[0]["n"]
    assert contributions > 2 * explanations > 0  # explanations of several rows each
    monkeypatch.setattr(kg.rdf, "_BATCH", 50)  # many batches
    nt, ttl = tmp_path / "graph.nt", tmp_path / "graph.ttl"
    written_nt, written_ttl = export_rdf(reasoned, nt), export_rdf(reasoned, ttl)
    lines = [line for line in nt.read_text().splitlines() if line.strip()]
    assert written_nt > 10 * 50
    assert len(lines) == len(set(lines)) == written_nt == written_ttl
    assert len(rdf_store(reasoned)) == written_nt  # the in-memory graph JSON-LD is made from
    from_ttl = rdflib.Graph().parse(ttl, format="turtle")
    from_nt = rdflib.Graph().parse(nt, format="nt")
    assert len(from_ttl) == written_ttl and rdflib.compare.isomorphic(from_ttl, from_nt)
    text = ttl.read_text()
    assert text.count("@prefix hake: ") == 1 and text.startswith("@prefix ")
