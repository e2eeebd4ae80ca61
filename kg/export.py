"""Export the ontology graph (with evidence weights) to networkx, and from there to GraphML;
with ``instances=True``, the instance graph of videos and object instances joined to it.

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

from kg._triplets import has_triplet_tables
from kg._video import has_video_tables
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

#: A box in GraphML: one double per corner (x1, y1, x2, y2, in pixels), as in the RDF export.
_BOX = ("box_x1", "box_y1", "box_x2", "box_y2")


def to_networkx(store: GraphStore, instances: bool = False) -> Any:
    """The ontology as a ``networkx.MultiDiGraph``; with ``instances``, also the instance
    graph of videos and object instances.

    Nodes are ``"<Label>:<id>"`` with attributes ``label``, ``term`` (the term id), ``name``,
    ``idx``; edges carry ``type`` and, for ``IMPLIES``, ``count``, ``cond_prob``, ``npmi``,
    ``weight``. No node attribute is called ``id``: GraphML readers such as igraph keep the
    node key there, and a verb and an object of one id ("tie") would become one.

    The instance graph (``instances=True``): the images that are frames of a video or hold an
    object instance, and what is in them. Its nodes are ``"<Label>:<store key>"`` with
    ``label`` and ``key`` (the store key) and typed values (absent where the store has none)::

        Video           fps (double), frame_count (int), duration (double, seconds)
        Track           track_id (int)
        Image           width, height, frame_index (int), timestamp (double), video (the video id)
        Person          person_id, track_id (int), source, model, box_x1 ... box_y2 (double)
        ObjectInstance  object_id, object (its class id), score, box_x1 ... box_y2 (double)

    and its edges (``type``; the Activity and Object ends are the ontology's nodes)::

        Image -IN_VIDEO-> Video, Track -IN_VIDEO-> Video, Image -NEXT-> Image (next stored frame)
        Person -OF_TRACK-> Track, Person -IN_IMAGE-> Image, ObjectInstance -IN_IMAGE-> Image
        ObjectInstance -IS_A-> Object
        Person -INTERACTS_WITH-> ObjectInstance   activity, score, source, model, model_version
        Track -SEGMENT-> Activity    start_frame, end_frame (int), start_time, end_time (double,
                                     when known), score, source, model, model_version
        Video -CLIP_LABEL-> Activity score, source, model, model_version
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
    if instances:
        _add_instances(graph, store)
    return graph


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _box(bbox: list[float] | None) -> dict[str, float]:
    return {} if bbox is None else {k: float(v) for k, v in zip(_BOX, bbox, strict=True)}


def _add_instances(graph: Any, store: GraphStore) -> None:
    """Add the instance graph (:func:`to_networkx`) to ``graph``."""
    videos, triplets = has_video_tables(store), has_triplet_tables(store)
    versions = {
        r["id"]: r["version"] for r in store.query("MATCH (r:Run) RETURN r.id AS id, r.version AS version")
    }

    def node(label: str, key: str, **attrs: Any) -> None:
        graph.add_node(f"{label}:{key}", label=label, key=key, **attrs)

    def edge(src: str, a: str, rel: str, dst: str, b: str, **attrs: Any) -> None:
        graph.add_edge(f"{src}:{a}", f"{dst}:{b}", type=rel, **attrs)

    if videos:
        for r in store.query(
            "MATCH (v:Video) RETURN v.id AS id, v.fps AS fps, v.frame_count AS n, v.duration AS duration"
        ):
            node(
                "Video",
                r["id"],
                fps=_float(r["fps"]),
                frame_count=_int(r["n"]),
                duration=_float(r["duration"]),
            )
        for r in store.query(
            "MATCH (t:Track)-[:IN_VIDEO]->(v:Video) RETURN t.id AS t, t.track_id AS n, v.id AS v"
        ):
            node("Track", r["t"], track_id=_int(r["n"]))
            edge("Track", r["t"], "IN_VIDEO", "Video", r["v"])
        for r in store.query("MATCH (i:Image)-[:IN_VIDEO]->(v:Video) RETURN i.id AS i, v.id AS v"):
            edge("Image", r["i"], "IN_VIDEO", "Video", r["v"])
        for r in store.query("MATCH (a:Image)-[:NEXT]->(b:Image) RETURN a.id AS a, b.id AS b"):
            edge("Image", r["a"], "NEXT", "Image", r["b"])
        for r in store.query("MATCH (p:Person)-[:OF_TRACK]->(t:Track) RETURN p.id AS p, t.id AS t"):
            edge("Person", r["p"], "OF_TRACK", "Track", r["t"])
        for r in store.query(
            "MATCH (t:Track)-[s:SEGMENT]->(a:Activity) RETURN t.id AS t, a.id AS a, "
            "s.start_frame AS start_frame, s.end_frame AS end_frame, s.start_time AS start_time, "
            "s.end_time AS end_time, s.score AS score, s.source AS source, s.model AS model, s.run AS run"
        ):
            edge(
                "Track",
                r["t"],
                "SEGMENT",
                "Activity",
                r["a"],
                start_frame=_int(r["start_frame"]),
                end_frame=_int(r["end_frame"]),
                start_time=_float(r["start_time"]),
                end_time=_float(r["end_time"]),
                score=_float(r["score"]),
                source=r["source"],
                model=r["model"],
                model_version=versions.get(r["run"]),
            )
        for r in store.query(
            "MATCH (v:Video)-[c:CLIP_LABEL]->(a:Activity) RETURN v.id AS v, a.id AS a, c.score AS score, "
            "c.source AS source, c.model AS model, c.run AS run"
        ):
            edge(
                "Video",
                r["v"],
                "CLIP_LABEL",
                "Activity",
                r["a"],
                score=_float(r["score"]),
                source=r["source"],
                model=r["model"],
                model_version=versions.get(r["run"]),
            )
    if triplets:
        for r in store.query(
            "MATCH (o:ObjectInstance)-[:IN_IMAGE]->(i:Image) MATCH (o)-[:IS_A]->(c:Object) "
            "RETURN o.id AS o, o.object_id AS object_id, o.bbox AS bbox, o.score AS score, c.id AS c, "
            "i.id AS i"
        ):
            node(
                "ObjectInstance",
                r["o"],
                object_id=r["object_id"],
                object=r["c"],
                score=_float(r["score"]),
                **_box(r["bbox"]),
            )
            edge("ObjectInstance", r["o"], "IN_IMAGE", "Image", r["i"])
            edge("ObjectInstance", r["o"], "IS_A", "Object", r["c"])
        for r in store.query(
            "MATCH (p:Person)-[x:INTERACTS_WITH]->(o:ObjectInstance) RETURN p.id AS p, o.id AS o, "
            "x.activity AS activity, x.score AS score, x.source AS source, x.model AS model, x.run AS run"
        ):
            edge(
                "Person",
                r["p"],
                "INTERACTS_WITH",
                "ObjectInstance",
                r["o"],
                activity=r["activity"],
                score=_float(r["score"]),
                source=r["source"],
                model=r["model"],
                model_version=versions.get(r["run"]),
            )
    # the images of the instance graph and their persons, by the patterns that hold them
    # (an image may match both, and once per instance: nodes and edges are added once)
    holders = [
        pattern
        for pattern, present in (
            ("MATCH (i:Image)-[:IN_VIDEO]->(:Video)", videos),
            ("MATCH (:ObjectInstance)-[:IN_IMAGE]->(i:Image)", triplets),
        )
        if present
    ]
    persons: set[str] = set()
    for holder in holders:
        # The pattern comes from the fixed pair above.
        for r in store.query(
            f"{holder} RETURN i.id AS id, i.width AS width, i.height AS height, "
            "i.frame_index AS frame_index, i.timestamp AS timestamp, i.video AS video"
        ):
            node(
                "Image",
                r["id"],
                width=_int(r["width"]),
                height=_int(r["height"]),
                frame_index=_int(r["frame_index"]),
                timestamp=_float(r["timestamp"]),
                video=r["video"],
            )
        for r in store.query(
            f"{holder} MATCH (p:Person)-[:IN_IMAGE]->(i) RETURN p.id AS p, p.person_id AS person_id, "
            "p.track_id AS track_id, p.source AS source, p.model AS model, p.bbox AS bbox, i.id AS i"
        ):
            if r["p"] in persons:
                continue
            persons.add(r["p"])
            node(
                "Person",
                r["p"],
                person_id=r["person_id"],
                track_id=_int(r["track_id"]),
                source=r["source"],
                model=r["model"],
                **_box(r["bbox"]),
            )
            edge("Person", r["p"], "IN_IMAGE", "Image", r["i"])


def write_graphml(store: GraphStore, path: str | os.PathLike[str], instances: bool = False) -> int:
    """Write :func:`to_networkx` as GraphML (atomically: :func:`ontology.files.atomic_write`);
    ``instances`` adds the instance graph of videos and object instances. Returns the number
    of edges. ``path`` must not be a directory and its folder must exist. Values the store
    does not have are left out (GraphML keys are typed: int, double, string)."""
    import networkx as nx

    path = check_file_target(path)
    graph = to_networkx(store, instances)
    for _, data in graph.nodes(data=True):
        for k in [k for k, v in data.items() if v is None]:
            del data[k]
    for _, _, data in graph.edges(data=True):
        for k in [k for k, v in data.items() if v is None]:
            del data[k]
    with atomic_write(path, "wb") as fh:
        nx.write_graphml(graph, fh)
    return int(graph.number_of_edges())
