"""Small HAKE-format fixtures written by the tests (never copied from shared data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ontology


def hoi(name: str) -> int:
    return ontology.load().activities[name].hoi_id


def pair(activity: str, box: list[int], labels: list[tuple[int, int]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "hoi_id": hoi(activity),
        "human_bbox": box,
        "object_bbox": [50, 50, 90, 90],
        "width": 640,
        "height": 480,
    }
    if labels is not None:
        out["action_labels"] = [{"human_part": p, "partstate": s} for p, s in labels]
    return out


def write_instance_fixture(tmp_path: Path) -> Path:
    """Three persons: A rides and holds a bicycle, B rides one, C boards an airplane.

    Part states: A has hip: sit on, foot: tread on, hand: hold; B hip: sit on, foot: tread on;
    C none. (human_part 4 = hip, 0 = right foot, 6 = right hand; see the HAKE README.)
    """
    data = {
        "img1.jpg": {
            "labels": [
                pair("ride bicycle", [0, 0, 100, 100], [(4, 0), (0, 1), (6, 0)]),
                pair("hold bicycle", [1, 1, 100, 100], [(6, 0)]),
            ]
        },
        "img2.jpg": {"labels": [pair("ride bicycle", [10, 10, 80, 90], [(4, 0), (0, 1)])]},
        "img3.jpg": {"labels": [pair("board airplane", [5, 5, 60, 60], None)]},
    }
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(data))
    return path


def fingerprint(store: Any) -> str:
    """Every node and relationship of ``store`` with every property, as one canonical JSON
    text: two stores have the same fingerprint exactly when they hold the same graph."""
    from kg.schema import NODES, RELS

    out: dict[str, list[str]] = {}
    for node in NODES:
        names = [name for name, _ in node.properties]
        returns = ", ".join(f"n.{name} AS {name}" for name in names)
        rows = store.query(f"MATCH (n:{node.label}) RETURN {returns}")
        out[node.label] = sorted(json.dumps(r, sort_keys=True) for r in rows)
    for rel in RELS:
        for source, target in rel.pairs:
            props = "".join(f", r.{name} AS {name}" for name, _ in rel.properties)
            match = f"MATCH (a:{source})-[r:{rel.type}]->(b:{target})"
            rows = store.query(f"{match} RETURN a.id AS start_node, b.id AS end_node{props}")
            out[f"{source}-{rel.type}->{target}"] = sorted(json.dumps(r, sort_keys=True) for r in rows)
    return json.dumps(out, sort_keys=True)
