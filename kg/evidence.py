"""Cross-level evidence: how strongly a part state points at an activity (or verb).

Computed from the annotations in the store (``HAS_STATE`` and ``DOES`` edges with source
``"annotation"``), over annotated persons (an image-level entry counts as one person):

- ``count`` = n(s, a): persons with part state ``s`` and activity ``a``;
- ``cond_prob`` = n(s, a) / n(s) = P(a | s);
- ``npmi`` = log(P(s, a) / (P(s) P(a))) / -log P(s, a), in [-1, 1] (1 when P(s, a) = 1);
- ``weight`` = max(npmi, 0): the evidence reasoning starts from.

For verbs, n(s, v) counts persons with ``s`` and any activity of verb ``v``. Only pairs seen
together at least once get an edge. :func:`evidence_edges` hands the stored edges to
reasoning as :class:`ontology.EvidenceEdge` records (no torch here).
"""

from __future__ import annotations

import math

from kg.store.base import GraphStore
from ontology import EvidenceEdge

__all__ = [
    "compute_evidence",
    "evidence_edges",
    "evidence_from_counts",
    "npmi",
    "update_evidence",
    "write_evidence",
]


def npmi(n_xy: int, n_x: int, n_y: int, n: int) -> float:
    """Normalised PMI of two events from counts (``n`` the total).

    >>> round(npmi(10, 10, 10, 100), 6)      # always together
    1.0
    >>> abs(round(npmi(1, 10, 10, 100), 6))  # independent: P(x,y) = P(x) P(y)
    0.0
    """
    if n_xy <= 0 or n_x <= 0 or n_y <= 0 or n <= 0:
        raise ValueError(f"npmi needs positive counts, got n_xy={n_xy}, n_x={n_x}, n_y={n_y}, n={n}")
    p_xy, p_x, p_y = n_xy / n, n_x / n, n_y / n
    if p_xy >= 1.0:
        return 1.0
    value = math.log(p_xy / (p_x * p_y)) / -math.log(p_xy)
    return max(-1.0, min(1.0, value))


def compute_evidence(store: GraphStore) -> list[EvidenceEdge]:
    """Evidence edges from the annotations now in ``store`` (activities, then verbs)."""
    total = store.query(
        "MATCH (p:Person)-[d:DOES]->(:Activity) WHERE d.source = 'annotation' RETURN count(DISTINCT p) AS n"
    )[0]["n"]
    if not total:
        return []
    n_state = {
        r["s"]: r["n"]
        for r in store.query(
            # Only persons with annotated activities: the same population as ``total``.
            "MATCH (s:PartState)<-[h:HAS_STATE]-(p:Person)-[d:DOES]->(:Activity) "
            "WHERE h.source = 'annotation' AND d.source = 'annotation' "
            "RETURN s.id AS s, count(DISTINCT p) AS n"
        )
    }
    out: list[EvidenceEdge] = []
    for kind, target_count, pair_count in (
        (
            "activity",
            "MATCH (p:Person)-[d:DOES]->(a:Activity) WHERE d.source = 'annotation' "
            "RETURN a.id AS t, count(DISTINCT p) AS n",
            "MATCH (s:PartState)<-[h:HAS_STATE]-(p:Person)-[d:DOES]->(a:Activity) "
            "WHERE h.source = 'annotation' AND d.source = 'annotation' "
            "RETURN s.id AS s, a.id AS t, count(DISTINCT p) AS n",
        ),
        (
            "verb",
            "MATCH (p:Person)-[d:DOES]->(:Activity)-[:HAS_VERB]->(v:Verb) "
            "WHERE d.source = 'annotation' RETURN v.id AS t, count(DISTINCT p) AS n",
            "MATCH (s:PartState)<-[h:HAS_STATE]-(p:Person)-[d:DOES]->(:Activity)-[:HAS_VERB]->"
            "(v:Verb) WHERE h.source = 'annotation' AND d.source = 'annotation' "
            "RETURN s.id AS s, v.id AS t, count(DISTINCT p) AS n",
        ),
    ):
        n_target = {r["t"]: r["n"] for r in store.query(target_count)}
        for r in store.query(pair_count):
            value = npmi(r["n"], n_state[r["s"]], n_target[r["t"]], total)
            out.append(
                EvidenceEdge(
                    part_state=r["s"],
                    target=r["t"],
                    target_kind=kind,
                    count=int(r["n"]),
                    cond_prob=min(1.0, r["n"] / n_state[r["s"]]),
                    npmi=value,
                    weight=max(value, 0.0),
                )
            )
    out.sort(key=lambda e: (e.target_kind, e.part_state, e.target))
    return out


def update_evidence(store: GraphStore) -> int:
    """Recompute the evidence from the store's annotations and replace every ``IMPLIES`` edge."""
    return write_evidence(store, compute_evidence(store))


def evidence_from_counts(
    n: int,
    state_counts: list[float],
    target_counts: list[float],
    pair_counts: list[list[float]],
    target_kind: str,
) -> list[EvidenceEdge]:
    """Evidence edges from co-occurrence counts (e.g. a trained reasoner's training counts).

    ``state_counts[s]`` persons with part state ``s`` (93-set channel order),
    ``target_counts[t]`` persons with target ``t`` (activity or verb channel order),
    ``pair_counts[s][t]`` persons with both, out of ``n``.
    """
    from ontology import load

    onto = load()
    targets = onto.activities if target_kind == "activity" else onto.verbs
    out = []
    for s, row in enumerate(pair_counts):
        for t, both in enumerate(row):
            if both <= 0:
                continue
            value = npmi(int(both), int(state_counts[s]), int(target_counts[t]), n)
            out.append(
                EvidenceEdge(
                    part_state=onto.part_states[s].id,
                    target=targets[t].id,
                    target_kind=target_kind,
                    count=int(both),
                    cond_prob=min(1.0, both / state_counts[s]),
                    npmi=value,
                    weight=max(value, 0.0),
                )
            )
    return out


def write_evidence(store: GraphStore, edges: list[EvidenceEdge]) -> int:
    """Replace every ``IMPLIES`` edge with ``edges`` (one transaction). Returns how many."""
    with store.transaction():
        store.execute("MATCH (:PartState)-[e:IMPLIES]->() DELETE e")
        for kind, label in (("activity", "Activity"), ("verb", "Verb")):
            chosen = [e for e in edges if e.target_kind == kind]
            if chosen:
                store.bulk_relate(
                    "IMPLIES",
                    "PartState",
                    label,
                    {
                        "from": [e.part_state for e in chosen],
                        "to": [e.target for e in chosen],
                        "count": [e.count for e in chosen],
                        "cond_prob": [e.cond_prob for e in chosen],
                        "npmi": [e.npmi for e in chosen],
                        "weight": [e.weight for e in chosen],
                    },
                )
    return len(edges)


def evidence_edges(store: GraphStore) -> list[EvidenceEdge]:
    """The stored ``IMPLIES`` edges as records (what the reasoning package consumes)."""
    out = []
    for kind, label in (("activity", "Activity"), ("verb", "Verb")):
        rows = store.query(
            # The label comes from the fixed pair above.
            f"MATCH (s:PartState)-[e:IMPLIES]->(t:{label}) RETURN s.id AS state, t.id AS target, "
            "e.count AS count, e.cond_prob AS cond_prob, e.npmi AS npmi, e.weight AS weight "
            "ORDER BY state, target"
        )
        out += [
            EvidenceEdge(
                r["state"],
                r["target"],
                kind,
                int(r["count"]),
                float(r["cond_prob"]),
                float(r["npmi"]),
                float(r["weight"]),
            )
            for r in rows
        ]
    return out
