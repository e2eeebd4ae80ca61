"""What the store already holds, read before an ingest writes: ids, digests and timestamps
in bulk, one person's data in the observation dict's terms, and the check that the store's
keys are of today's format (:mod:`ontology.identity`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kg.store.base import GraphStore
from ontology import StoreError, image_key, person_key

__all__ = [
    "all_ids",
    "existing_ids",
    "stored_ids",
    "image_timestamps",
    "refuse_legacy_keys",
    "stored_digests",
    "stored_person",
]

_CHUNK = 20_000


def existing_ids(store: GraphStore, label: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` exist: index lookups on Neo4j (on LadybugDB 0.22 this UNWIND is a full
    scan per batch: use :func:`all_ids` there)."""
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        rows = store.query(
            # The label is one of two fixed names, never user input.
            f"UNWIND $ids AS i MATCH (n:{label} {{id: i}}) RETURN n.id AS id",
            ids=list(ids[start : start + _CHUNK]),
        )
        found.update(r["id"] for r in rows)
    return found


#: Up to this many ids, the embedded store looks each up by its primary key (a scalar
#: parameter: an index lookup, checked with EXPLAIN in the tests); past it, one scan of the
#: table is cheaper (LadybugDB 0.22 scans the table for an UNWIND of ids, once per batch).
LOOKUP_MAX = 256


def stored_ids(store: GraphStore, label: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are stored as ``label`` nodes, the cheapest way on each backend:
    index lookups on Neo4j; on the embedded store a primary-key lookup per id for a few
    ids (:data:`LOOKUP_MAX`), else one scan (:func:`all_ids`)."""
    if store.backend == "neo4j":
        return existing_ids(store, label, ids)
    if len(ids) > LOOKUP_MAX:
        return all_ids(store, label) & set(ids)
    # The label is one of the schema's fixed names, never user input.
    cypher = f"MATCH (n:{label} {{id: $id}}) RETURN n.id AS id"
    return {i for i in dict.fromkeys(ids) if store.query(cypher, id=i)}


def all_ids(store: GraphStore, label: str) -> set[str]:
    """Every id of ``label`` in the store (one scan; cheaper than per-id lookups at scale)."""
    # The label is one of two fixed names, never user input.
    if not store.query(f"MATCH (n:{label}) RETURN count(n) AS n")[0]["n"]:
        return set()
    return {r["id"] for r in store.query(f"MATCH (n:{label}) RETURN n.id AS id")}


def stored_digests(store: GraphStore) -> dict[str, str | None]:
    """Person key -> stored digest (None for persons stored before digests existed)."""
    if not store.query("MATCH (n:Person) RETURN count(n) AS n")[0]["n"]:
        return {}
    table = store.query_arrow("MATCH (n:Person) RETURN n.id AS id, n.digest AS digest")
    return dict(zip(table["id"].to_pylist(), table["digest"].to_pylist(), strict=True))


def image_timestamps(store: GraphStore) -> dict[str, float | None]:
    """Image node id -> timestamp (None for a still image) of every stored image."""
    if not store.query("MATCH (n:Image) RETURN count(n) AS n")[0]["n"]:
        return {}
    table = store.query_arrow("MATCH (n:Image) RETURN n.id AS id, n.timestamp AS timestamp")
    return dict(zip(table["id"].to_pylist(), table["timestamp"].to_pylist(), strict=True))


def stored_person(store: GraphStore, key: str) -> dict[str, Any]:
    """What the store holds about person ``key``, in the observation dict's terms (the fields
    an ingest compares; ``activities`` are the ground-truth ones)."""
    rows = store.query(
        "MATCH (p:Person {id: $id})-[:IN_IMAGE]->(i:Image) RETURN p.bbox AS box, p.track_id AS track_id, "
        "p.source AS source, p.model AS model, i.frame_index AS frame_index, i.timestamp AS timestamp",
        id=key,
    )
    out: dict[str, Any] = dict(rows[0]) if rows else {}
    for field_name, rel, label, value in (
        ("part_states", "HAS_STATE", "PartState", "prob"),
        ("active_parts", "USES_PART", "BodyPart", "prob"),
    ):
        found = store.query(
            # The relationship and label come from the fixed table above.
            f"MATCH (p:Person {{id: $id}})-[r:{rel}]->(t:{label}) RETURN t.id AS term, r.{value} AS value",
            id=key,
        )
        out[field_name] = {r["term"]: r["value"] for r in found}
    truth = store.query(
        "MATCH (p:Person {id: $id})-[d:DOES]->(a:Activity) WHERE d.source = 'annotation' RETURN a.id AS a",
        id=key,
    )
    out["activities"] = sorted(r["a"] for r in truth)
    return out


def refuse_legacy_keys(store: GraphStore) -> None:
    """Raise when the store holds an id of the key format before ids were escaped (a ``#`` in
    an image id, a ``%`` or ``/`` in a person id, not encoded; see :mod:`ontology.identity`):
    new keys of the same images and persons would differ. (Found by two filtered scans; an old
    image id with a ``%`` cannot be told from an escaped one and is not looked for.)"""
    legacy = [
        r["id"]
        for r in store.query(
            "MATCH (i:Image) WHERE i.id CONTAINS '#' OR i.video IS NOT NULL "
            "RETURN i.id AS id, i.video AS video, i.frame_index AS frame"
        )
        if r["id"] != (image_key(r["video"], r["frame"]) if r["frame"] is not None else image_key(r["id"]))
    ][:1]
    legacy += [
        r["id"]
        for r in store.query(
            "MATCH (p:Person) WHERE p.person_id CONTAINS '/' OR p.person_id CONTAINS '%' "
            "RETURN p.id AS id, p.person_id AS pid"
        )
        if not r["id"].endswith(person_key("", r["pid"]))
    ][:1]
    if legacy:
        raise StoreError(
            f"the store holds {legacy[0]!r}, an id of the key format before ids were escaped ('#' in "
            "an image id, '%' or '/' in a person id are now percent-encoded, see kg.schema); new "
            "ingests would not match it: ingest everything into a new store (`hake init --store NEW`)"
        )
