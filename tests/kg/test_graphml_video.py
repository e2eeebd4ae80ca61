"""The instance graph in GraphML (kg.export, ``instances=True``): videos, frames in order,
tracks, segments and clip labels, object instances and triplets, read back by networkx and
igraph with typed attributes; on both backends."""

from __future__ import annotations

from pathlib import Path

import igraph
import networkx as nx
import pytest

from kg.export import to_networkx, write_graphml
from kg.store import GraphStore
from tests.kg.test_rdf_video import fill_video
from tests.kg.test_video import FPS

ONTOLOGY_NODES = 16 + 93 + 157 + 80 + 600  # body parts, part states, verbs, objects, activities


@pytest.fixture
def video(store: GraphStore) -> GraphStore:
    return fill_video(store)


def test_graphml_of_the_instance_graph_reads_back(video: GraphStore, tmp_path: Path) -> None:
    path = tmp_path / "graph.graphml"
    edges = write_graphml(video, path, instances=True)
    back = nx.read_graphml(path)
    assert back.number_of_edges() == edges
    labels: dict[str, int] = {}
    for _, data in back.nodes(data=True):
        labels[data["label"]] = labels.get(data["label"], 0) + 1
    # 5 frames + the cafe image; 8 persons of frames + 3 in the cafe; 4 object instances
    instance_nodes = {"Video": 1, "Track": 2, "Image": 6, "Person": 11, "ObjectInstance": 4}
    assert {k: v for k, v in labels.items() if k in instance_nodes} == instance_nodes
    assert back.number_of_nodes() == ONTOLOGY_NODES + sum(instance_nodes.values())
    # typed values: GraphML keys say int / double, readers give them back as such
    assert back.nodes["Video:street.mp4"] == {
        "label": "Video",
        "key": "street.mp4",
        "fps": FPS,
        "frame_count": 10,
        "duration": 0.4,
    }
    assert back.nodes["Track:street.mp4@2"] == {"label": "Track", "key": "street.mp4@2", "track_id": 2}
    frame = back.nodes["Image:street.mp4#4"]
    assert (frame["frame_index"], frame["timestamp"], frame["video"]) == (4, 4 / FPS, "street.mp4")
    person = back.nodes["Person:street.mp4#4/1"]
    assert (person["track_id"], person["box_x1"], person["source"]) == (2, 20.0, "model")
    cup = back.nodes["ObjectInstance:cafe.jpg/0"]
    assert (cup["object"], cup["score"], cup["box_x2"]) == ("cup", 1.0, 120.0)

    def typed(kind: str) -> list[tuple[str, str, dict[str, object]]]:
        return sorted(
            (
                (a, b, {k: v for k, v in e.items() if k not in ("type", "id")})
                for a, b, e in back.edges(data=True)
                if e["type"] == kind
            ),
            key=lambda x: (x[0], x[1], sorted(map(str, x[2].items()))),
        )

    # frames in their video, in order; tracks in the video; persons of their tracks
    assert [(a, b) for a, b, _ in typed("NEXT")] == [
        (f"Image:street.mp4#{f}", f"Image:street.mp4#{f + 2}") for f in (0, 2, 4, 6)
    ]
    assert {a for a, b, _ in typed("IN_VIDEO")} == {f"Image:street.mp4#{f}" for f in (0, 2, 4, 6, 8)} | {
        "Track:street.mp4@1",
        "Track:street.mp4@2",
    }
    assert len(typed("OF_TRACK")) == 8 and ("Person:street.mp4#8/0", "Track:street.mp4@1", {}) in typed(
        "OF_TRACK"
    )
    # segments and clip labels: edges to the ontology's activities, with their values
    truth = [e for a, b, e in typed("SEGMENT") if e["source"] == "annotation"]
    assert truth == [
        {
            "start_frame": 0,
            "end_frame": 8,
            "start_time": 0.0,
            "end_time": 8 / FPS,
            "score": 1.0,
            "source": "annotation",
            "model": "street-gt",
            "model_version": "1",
        }
    ]
    assert sorted((a, b, e["model"], e["start_frame"]) for a, b, e in typed("SEGMENT")) == [
        ("Track:street.mp4@1", "Activity:ride-bicycle", "street-gt", 0),
        ("Track:street.mp4@1", "Activity:ride-bicycle", "tcn", 0),
        ("Track:street.mp4@1", "Activity:walk-bicycle", "tcn", 8),
        ("Track:street.mp4@2", "Activity:hold-bicycle", "tcn", 4),
        ("Track:street.mp4@2", "Activity:ride-bicycle", "hmm", 6),
    ]
    assert sorted((b, e["score"], e["source"]) for a, b, e in typed("CLIP_LABEL")) == [
        ("Activity:hold-bicycle", 0.4, "model"),
        ("Activity:ride-bicycle", 0.85, "model"),
        ("Activity:ride-bicycle", 1.0, "annotation"),
    ]
    # object instances: in their image, of their class, and the triplets
    assert ("ObjectInstance:cafe.jpg/3", "Object:dining_table", {}) in typed("IS_A")
    assert ("ObjectInstance:cafe.jpg/0", "Image:cafe.jpg", {}) in typed("IN_IMAGE")
    assert sorted((a, b, e["activity"], e["source"]) for a, b, e in typed("INTERACTS_WITH")) == [
        ("Person:cafe.jpg/0", "ObjectInstance:cafe.jpg/0", "drink_with-cup", "annotation"),
        ("Person:cafe.jpg/0", "ObjectInstance:cafe.jpg/0", "hold-cup", "annotation"),
        ("Person:cafe.jpg/1", "ObjectInstance:cafe.jpg/1", "hold-cup", "annotation"),
    ]
    # igraph: every node key unique, attributes typed, edges where networkx has them
    ig = igraph.Graph.Read_GraphML(str(path))
    assert ig.vcount() == len(set(ig.vs["id"])) == back.number_of_nodes() and ig.ecount() == edges
    (v,) = ig.vs.select(id="Video:street.mp4")
    assert (v["label"], v["fps"], v["frame_count"]) == ("Video", FPS, 10)
    segments = ig.es.select(type="SEGMENT")
    assert len(segments) == 5 and sorted(segments["start_frame"]) == [0, 0, 4, 6, 8]
    ends = {(ig.vs[e.source]["id"], ig.vs[e.target]["id"]) for e in ig.es.select(type="INTERACTS_WITH")}
    assert ends == {
        ("Person:cafe.jpg/0", "ObjectInstance:cafe.jpg/0"),
        ("Person:cafe.jpg/1", "ObjectInstance:cafe.jpg/1"),
    }


def test_without_instances_the_graphml_is_the_ontology(video: GraphStore, tmp_path: Path) -> None:
    path = tmp_path / "onto.graphml"
    assert write_graphml(video, path) == to_networkx(video).number_of_edges()
    assert nx.read_graphml(path).number_of_nodes() == ONTOLOGY_NODES
    assert to_networkx(video, instances=True).number_of_nodes() == ONTOLOGY_NODES + 24


@pytest.mark.parametrize("instances", [False, True])
def test_an_empty_store_writes_its_ontology(store: GraphStore, tmp_path: Path, instances: bool) -> None:
    from kg.ingest import init_store

    init_store(store)
    path = tmp_path / "empty.graphml"
    write_graphml(store, path, instances=instances)
    assert nx.read_graphml(path).number_of_nodes() == ONTOLOGY_NODES
