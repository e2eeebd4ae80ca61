"""Export the ontology graph (with evidence weights) to networkx, and from there to GraphML.

>>> import tempfile
>>> from kg.store import EmbeddedStore
>>> from kg.ingest import init_store
>>> with EmbeddedStore(tempfile.mkdtemp()) as store:
...     _ = init_store(store)
...     graph = to_networkx(store)
>>> graph.nodes["Activity:ride-bicycle"]["name"], graph.number_of_nodes()
('ride bicycle', 946)
"""

from __future__ import annotations

import os
from typing import Any

from kg.store.base import GraphStore
from ontology.files import atomic_write, check_file_target

__all__ = ["to_networkx", "write_graphml"]

_EDGES = (
    ("BodyPart", "PART_OF", "BodyPart"),
    ("PartState", "OF_PART", "BodyPart"),
    ("Activity", "HAS_VERB", "Verb"),
    ("Activity", "HAS_OBJECT", "Object"),
    ("PartState", "IMPLIES", "Activity"),
    ("PartState", "IMPLIES", "Verb"),
)


def to_networkx(store: GraphStore) -> Any:
    """The ontology as a ``networkx.MultiDiGraph``.

    Nodes are ``"<Label>:<id>"`` with attributes ``label``, ``term`` (the term id), ``name``,
    ``idx``; edges carry ``type`` and, for ``IMPLIES``, ``count``, ``cond_prob``, ``npmi``,
    ``weight``. No node attribute is called ``id``: GraphML readers such as igraph keep the
    node key there, and a verb and an object of one id ("tie") would become one.
    """
    import networkx as nx

    graph = nx.MultiDiGraph()
    for label in ("BodyPart", "PartState", "Verb", "Object", "Activity"):
        # Labels and relationship types come from the fixed lists in this module.
        for r in store.query(f"MATCH (n:{label}) RETURN n.id AS id, n.name AS name, n.idx AS idx"):
            graph.add_node(f"{label}:{r['id']}", label=label, term=r["id"], name=r["name"], idx=r["idx"])
    for src, rel, dst in _EDGES:
        extra = (
            ", e.count AS count, e.cond_prob AS cond_prob, e.npmi AS npmi, e.weight AS weight"
            if rel == "IMPLIES"
            else ""
        )
        for r in store.query(f"MATCH (a:{src})-[e:{rel}]->(b:{dst}) RETURN a.id AS a, b.id AS b{extra}"):
            attrs = {k: v for k, v in r.items() if k not in ("a", "b")}
            graph.add_edge(f"{src}:{r['a']}", f"{dst}:{r['b']}", type=rel, **attrs)
    return graph


def write_graphml(store: GraphStore, path: str | os.PathLike[str]) -> int:
    """Write :func:`to_networkx` as GraphML (atomically: :func:`ontology.files.atomic_write`).
    Returns the number of edges. ``path`` must not be a directory and its folder must exist."""
    import networkx as nx

    path = check_file_target(path)
    graph = to_networkx(store)
    for _, data in graph.nodes(data=True):
        for k in [k for k, v in data.items() if v is None]:
            del data[k]
    with atomic_write(path, "wb") as fh:
        nx.write_graphml(graph, fh)
    return int(graph.number_of_edges())
