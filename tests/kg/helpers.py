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


def bulk_relate_statement(
    rel: str, from_label: str, to_label: str, ends: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """The statement ``Neo4jStore.bulk_relate`` runs per batch for ``rel``, with one row."""
    from kg.schema import REL_BY_TYPE

    props = ", ".join(f"{name}: r.{name}" for name, _ in REL_BY_TYPE[rel].properties)
    cypher = (
        f"UNWIND $rows AS r MATCH (a:{from_label} {{id: r.from}}), (b:{to_label} {{id: r.to}}) "
        f"CREATE (a)-[:{rel} {{{props}}}]->(b)"
    )
    return cypher, {"rows": [ends]}


def assert_index_lookups(
    bolt_server: tuple[str, str, str, str], statements: list[tuple[str, dict[str, Any]]]
) -> None:
    """PROFILE each statement on the Bolt server (rolled back) and assert its plan finds
    nodes by the id index, never by a label scan (ArcadeDB, in its two plan formats, and Neo4j
    name it differently)."""
    import neo4j

    uri, user, password, database = bolt_server
    driver = neo4j.GraphDatabase.driver(uri, auth=(user, password))
    try:
        with driver.session(database=database) as session:
            for cypher, params in statements:
                tx = session.begin_transaction()
                summary = tx.run("PROFILE " + cypher, params).consume()
                tx.rollback()
                plan = json.dumps(summary.profile or summary.plan)
                if "Cost-Based Optimizer" in plan:  # ArcadeDB's plan of a match by scalar parameters
                    assert "NodeIndexSeek" in plan, (cypher, plan)
                    assert "NodeByLabelScan" not in plan and "AllNodesScan" not in plan, (cypher, plan)
                elif "ArcadeDB" in plan:
                    lines = [ln for ln in plan.split("\\n") if "MATCH NODE" in ln]
                    assert lines and all("[index: " in ln and "[id]]" in ln for ln in lines), (cypher, plan)
                else:  # Neo4j names the operator
                    assert "IndexSeek" in plan and "NodeByLabelScan" not in plan, (cypher, plan)
    finally:
        driver.close()
