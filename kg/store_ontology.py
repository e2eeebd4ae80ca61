"""The store's vocabulary: write an ontology into a store, read it back, extend it.

A store holds one ontology: its terms as nodes (``kg.schema``) and one ``Ontology`` node
with the content id, the version and the sources (extensions with their text), from which
:func:`store_ontology` rebuilds the same :class:`ontology.Ontology` value without reading a
file. Everything that writes records into a store checks them against that ontology
(:func:`require_ontology`); giving another one is an error that says what the store holds.

- :func:`init_store` writes an ontology (idempotent: ``MERGE`` on ids, one transaction).
- :func:`extend_store` adds the terms of extension files to a store's ontology (additive).
- :func:`store_ontology` reads it back (a read: works on a read-only store).

A store made before the ``Ontology`` node existed holds the packaged terms only and reads as
the packaged ontology.
"""

from __future__ import annotations

import json
import os
from typing import Any

from kg.store.base import GraphStore
from ontology import Ontology, StoreError, load
from ontology.ontology import from_sources

__all__ = ["extend_store", "init_store", "ontology_counts", "require_ontology", "store_ontology"]

_LABELS = ("BodyPart", "PartState", "Verb", "Object", "Activity")


def ontology_counts(store: GraphStore) -> dict[str, int]:
    """Node counts of the ontology labels in ``store``."""
    counts = {}
    for label in _LABELS:
        # The label comes from this fixed list, never from user input.
        counts[label] = int(store.query(f"MATCH (n:{label}) RETURN count(n) AS n")[0]["n"])
    return counts


def _expected_counts(onto: Ontology) -> dict[str, int]:
    return {
        "BodyPart": len(onto.body_parts) + len(onto.coarse_parts),
        "PartState": len(onto.part_states),
        "Verb": len(onto.verbs),
        "Object": len(onto.objects),
        "Activity": len(onto.activities),
    }


def _stored(store: GraphStore) -> Ontology | None:
    """The ontology the store records, ``None`` for a store holding none (empty, or an earlier
    format without the ``Ontology`` node: then its terms must be the packaged ones)."""
    try:
        rows = store.query("MATCH (o:Ontology) RETURN o.id AS id, o.sources AS sources")
    except StoreError:  # a store made before the Ontology table existed
        rows = []
    if len(rows) > 1:
        raise StoreError(
            f"the store holds {len(rows)} Ontology nodes, expected one; it was written by another tool"
        )
    counts = ontology_counts(store)
    if not rows:
        if not any(counts.values()):
            return None
        packaged = load()
        if counts != _expected_counts(packaged):
            raise StoreError(
                f"the store holds ontology terms ({counts}) but no Ontology node and not the packaged "
                f"ontology's counts ({_expected_counts(packaged)}); it was written by another tool"
            )
        return packaged
    try:
        onto = from_sources(json.loads(rows[0]["sources"]))
    except (ValueError, TypeError) as err:
        raise StoreError(
            f"the store's ontology {rows[0]['id']} cannot be rebuilt from its sources: {err}"
        ) from None
    if onto.id != rows[0]["id"]:
        raise StoreError(
            f"the store's ontology is {rows[0]['id']}, but its sources give {onto.id} with this install's "
            "packaged ontology; use the hake-engine version that wrote the store"
        )
    if counts != _expected_counts(onto):
        raise StoreError(
            f"the store's ontology {onto.id} expects {_expected_counts(onto)} terms, found {counts}"
        )
    return onto


def store_ontology(store: GraphStore) -> Ontology:
    """The ontology of ``store`` (rebuilt from the ``Ontology`` node; no file is read).
    Raises :class:`StoreError` for a store without one (run ``hake init`` first)."""
    onto = _stored(store)
    if onto is None:
        raise StoreError(
            "the store does not hold an ontology; run `hake init` on it first (or kg.init_store(store))"
        )
    return onto


def require_ontology(store: GraphStore, ontology: Ontology | None = None) -> Ontology:
    """The store's ontology, after checking that ``ontology`` (if given) is the same one."""
    onto = store_ontology(store)
    if ontology is not None and ontology != onto:
        raise StoreError(_mismatch(onto, ontology))
    return onto


def _mismatch(stored: Ontology, given: Ontology) -> str:
    what = (
        f"the store holds ontology {stored.id} (version {stored.version}), "
        f"not {given.id} (version {given.version})"
    )
    if stored.is_subset_of(given):
        return (
            f"{what}, which extends it; add the new terms to the store first: "
            "`hake ontology extend FILE... --store DIR` (or kg.extend_store)"
        )
    return (
        f"{what}; use the store's own ontology (leave --ontology out; kg.store_ontology(store)), "
        "or another store"
    )


def init_store(store: GraphStore, ontology: Ontology | None = None) -> dict[str, int]:
    """Write ``ontology`` (default: the packaged one) into ``store``, in one transaction.
    Idempotent for the same ontology; a store holding another one is refused (extend it with
    :func:`extend_store`). Returns node counts by label."""
    onto = load() if ontology is None else ontology
    store.ensure_schema()
    current = _stored(store)
    if current is not None and current != onto:
        if onto.is_subset_of(current):
            raise StoreError(
                f"the store already holds ontology {current.id} (version {current.version}), which extends "
                f"{onto.id}; it needs no init (its ontology is kept: kg.store_ontology(store))"
            )
        raise StoreError(_mismatch(current, onto))
    _write(store, onto)
    return ontology_counts(store)


def extend_store(store: GraphStore, *files: str | os.PathLike[str]) -> Ontology:
    """Add the terms of extension ``files`` to the store's ontology, in one transaction (all or
    nothing; additive: the files may not redefine a term). Returns the new ontology."""
    current = store_ontology(store)
    extended = current.extend(*files)
    store.ensure_schema()
    _write(store, extended)
    return extended


def _write(store: GraphStore, onto: Ontology) -> None:
    with store.transaction():
        run = store.run_batches
        run(
            "UNWIND $rows AS r MERGE (n:BodyPart {id: r.id}) "
            "SET n.kind = 'body_part', n.name = r.name, n.granularity = r.granularity, "
            "n.side = r.side, n.idx = r.idx",
            [
                {"id": p.id, "name": p.name, "granularity": p.granularity, "side": p.side, "idx": p.index}
                for p in [*onto.coarse_parts, *onto.body_parts]
            ],
        )
        run(
            "UNWIND $rows AS r MATCH (f:BodyPart {id: r.fine}), (c:BodyPart {id: r.coarse}) "
            "MERGE (f)-[:PART_OF]->(c)",
            [{"fine": p.id, "coarse": p.coarse} for p in onto.body_parts],
        )
        run(
            "UNWIND $rows AS r MERGE (n:PartState {id: r.id}) SET n.kind = 'part_state', n.name = r.name, "
            "n.part = r.part, n.verb_phrase = r.verb_phrase, n.no_interaction = r.no_interaction, "
            "n.idx = r.idx, n.hico_idx = r.hico_idx, n.description = r.description",
            [
                {
                    "id": s.id,
                    "name": s.name,
                    "part": s.part,
                    "verb_phrase": s.verb_phrase,
                    "no_interaction": s.no_interaction,
                    "idx": s.index,
                    "hico_idx": s.hico_index,
                    "description": s.description or None,
                }
                for s in onto.part_states
            ],
        )
        run(
            "UNWIND $rows AS r MATCH (s:PartState {id: r.id}), (b:BodyPart {id: r.part}) "
            "MERGE (s)-[:OF_PART]->(b)",
            [{"id": s.id, "part": s.part} for s in onto.part_states],
        )
        run(
            "UNWIND $rows AS r MERGE (n:Verb {id: r.id}) SET n.kind = 'verb', n.name = r.name, "
            "n.idx = r.idx, n.hico_id = r.hico_id, n.description = r.description",
            [
                {
                    "id": v.id,
                    "name": v.name,
                    "idx": v.index,
                    "hico_id": v.hico_id,
                    "description": v.description or None,
                }
                for v in onto.verbs
            ],
        )
        run(
            "UNWIND $rows AS r MERGE (n:Object {id: r.id}) SET n.kind = 'object', n.name = r.name, "
            "n.idx = r.idx, n.hico_id = r.hico_id, n.description = r.description",
            [
                {
                    "id": o.id,
                    "name": o.name,
                    "idx": o.index,
                    "hico_id": o.hico_id,
                    "description": o.description or None,
                }
                for o in onto.objects
            ],
        )
        run(
            "UNWIND $rows AS r MERGE (n:Activity {id: r.id}) SET n.kind = 'activity', n.name = r.name, "
            "n.idx = r.idx, n.hoi_id = r.hoi_id, n.level = r.level, n.description = r.description",
            [
                {
                    "id": a.id,
                    "name": a.name,
                    "idx": a.index,
                    "hoi_id": a.hoi_id,
                    "level": a.level,
                    "description": a.description or None,
                }
                for a in onto.activities
            ],
        )
        links: list[tuple[str, str, list[dict[str, Any]]]] = [
            (
                "MATCH (a:Activity {id: r.id}), (v:Verb {id: r.to}) MERGE (a)-[:HAS_VERB]->(v)",
                "verb",
                [{"id": a.id, "to": a.verb} for a in onto.activities if a.verb is not None],
            ),
            (
                "MATCH (a:Activity {id: r.id}), (o:Object {id: r.to}) MERGE (a)-[:HAS_OBJECT]->(o)",
                "object",
                [{"id": a.id, "to": a.object} for a in onto.activities if a.object is not None],
            ),
            (
                "MATCH (a:Activity {id: r.id}), (b:Activity {id: r.to}) MERGE (a)-[:BROADER]->(b)",
                "broader",
                [{"id": a.id, "to": b} for a in onto.activities for b in a.broader],
            ),
            (
                "MATCH (a:Activity {id: r.id}), (s:PartState {id: r.to}) "
                "MERGE (a)-[e:CHARACTERISED_BY]->(s) SET e.weight = r.weight",
                "activity definitions",
                [{"id": a.id, "to": s, "weight": w} for a in onto.activities for s, w in a.part_states],
            ),
            (
                "MATCH (a:Verb {id: r.id}), (s:PartState {id: r.to}) "
                "MERGE (a)-[e:CHARACTERISED_BY]->(s) SET e.weight = r.weight",
                "verb definitions",
                [{"id": v.id, "to": s, "weight": w} for v in onto.verbs for s, w in v.part_states],
            ),
        ]
        for statement, _, rows in links:
            if rows:
                run("UNWIND $rows AS r " + statement, rows)
        store.execute("MATCH (o:Ontology) DELETE o")
        store.execute(
            "CREATE (o:Ontology {id: $id, version: $version, sources: $sources})",
            id=onto.id,
            version=onto.version,
            sources=json.dumps([s.to_dict() for s in onto.sources]),
        )
