"""Cross-level evidence: how strongly a part state points at an activity (or verb).

Computed from the annotations in the store (``HAS_STATE`` and ``DOES`` edges with source
``"annotation"``), over annotated persons (an image-level entry counts as one person):

- ``count`` = n(s, a): persons with part state ``s`` and activity ``a``;
- ``cond_prob`` = n(s, a) / n(s) = P(a | s) (:func:`ontology.cond_prob`);
- ``npmi`` = log(P(s, a) / (P(s) P(a))) / -log P(s, a), in [-1, 1] (1 when P(s, a) = 1;
  :func:`ontology.npmi`, the one implementation reasoning uses too);
- ``weight`` = max(npmi, 0): the evidence reasoning starts from.

For verbs, n(s, v) counts persons with ``s`` and any activity of verb ``v``. Only pairs seen
together at least once get an edge. :func:`evidence_edges` hands the stored edges to
reasoning as :class:`ontology.EvidenceEdge` records (no torch here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kg.store.base import BulkLoad, GraphStore
from ontology import EvidenceEdge, Ontology, cond_prob, npmi

__all__ = [
    "EvidenceCounts",
    "compute_evidence",
    "evidence_edges",
    "evidence_from_counts",
    "npmi",
    "stage_evidence",
    "stored_counts",
    "update_evidence",
    "write_evidence",
]


#: The two kinds of evidence target.
_KINDS = ("activity", "verb")


@dataclass
class EvidenceCounts:
    """The counts the evidence is computed from (see the module docstring): ``persons``
    annotated persons, ``states[s]`` = n(s), ``targets[kind][t]`` = n(t) and
    ``pairs[kind][(s, t)]`` = n(s, t) for ``kind`` in ``("activity", "verb")``."""

    persons: int = 0
    states: Counter[str] = field(default_factory=Counter)
    targets: dict[str, Counter[str]] = field(default_factory=lambda: {k: Counter() for k in _KINDS})
    pairs: dict[str, Counter[tuple[str, str]]] = field(default_factory=lambda: {k: Counter() for k in _KINDS})

    def add_person(
        self, states: Iterable[str], activities: Iterable[str], verb_of: Mapping[str, str], sign: int = 1
    ) -> None:
        """Count one more annotated person with part states ``states`` and ground-truth
        ``activities`` (``verb_of`` maps an activity id to its verb id); ``sign=-1`` counts
        one out (a person whose annotation is replaced)."""
        acts = set(activities)
        if not acts:
            return  # not an annotated person: outside the population
        verbs = {verb_of[a] for a in acts}
        kept = set(states)
        self.persons += sign
        self.states.update({s: sign for s in kept})
        for kind, targets in (("activity", acts), ("verb", verbs)):
            self.targets[kind].update({t: sign for t in targets})
            self.pairs[kind].update({(s, t): sign for s in kept for t in targets})

    def edges(self) -> list[EvidenceEdge]:
        """The evidence edges of these counts (activities, then verbs; sorted)."""
        out: list[EvidenceEdge] = []
        if not self.persons:
            return out
        for kind in _KINDS:
            n_target = self.targets[kind]
            for (s, t), both in self.pairs[kind].items():
                if both <= 0:
                    continue
                value = npmi(both, self.states[s], n_target[t], self.persons)
                out.append(
                    EvidenceEdge(
                        part_state=s,
                        target=t,
                        target_kind=kind,
                        count=int(both),
                        cond_prob=cond_prob(both, self.states[s]),
                        npmi=value,
                        weight=max(value, 0.0),
                    )
                )
        out.sort(key=lambda e: (e.target_kind, e.part_state, e.target))
        return out


def stored_counts(store: GraphStore) -> EvidenceCounts:
    """The evidence counts of the annotations now in ``store``."""
    counts = EvidenceCounts()
    counts.persons = store.query(
        "MATCH (p:Person)-[d:DOES]->(:Activity) WHERE d.source = 'annotation' RETURN count(DISTINCT p) AS n"
    )[0]["n"]
    if not counts.persons:
        return counts
    counts.states.update(
        {
            r["s"]: r["n"]
            for r in store.query(
                # Only persons with annotated activities: the same population as ``persons``.
                "MATCH (s:PartState)<-[h:HAS_STATE]-(p:Person)-[d:DOES]->(:Activity) "
                "WHERE h.source = 'annotation' AND d.source = 'annotation' "
                "RETURN s.id AS s, count(DISTINCT p) AS n"
            )
        }
    )
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
        counts.targets[kind].update({r["t"]: r["n"] for r in store.query(target_count)})
        counts.pairs[kind].update({(r["s"], r["t"]): r["n"] for r in store.query(pair_count)})
    return counts


def compute_evidence(store: GraphStore) -> list[EvidenceEdge]:
    """Evidence edges from the annotations now in ``store`` (activities, then verbs)."""
    return stored_counts(store).edges()


def update_evidence(store: GraphStore) -> int:
    """Recompute the evidence from the store's annotations and replace every ``IMPLIES`` edge
    (one all-or-nothing load)."""
    return write_evidence(store, compute_evidence(store))


def evidence_from_counts(
    n: int,
    state_counts: list[float],
    target_counts: list[float],
    pair_counts: list[list[float]],
    target_kind: str,
    *,
    onto: Ontology,
) -> list[EvidenceEdge]:
    """Evidence edges from co-occurrence counts (e.g. a trained reasoner's training counts,
    :attr:`reasoning.Evidence`), in the channel order of ``onto`` (the ontology the counts
    were made with: the reasoner's).

    ``state_counts[s]`` persons with part state ``s``, ``target_counts[t]`` persons with
    target ``t`` (activity or verb), ``pair_counts[s][t]`` persons with both, out of ``n``.
    """
    if target_kind not in _KINDS:
        raise ValueError(f"target_kind must be one of {list(_KINDS)}, got {target_kind!r}")
    states = onto.part_states.ids
    targets = (onto.activities if target_kind == "activity" else onto.verbs).ids
    sizes = (len(state_counts), len(target_counts), len(pair_counts))
    if sizes != (len(states), len(targets), len(states)):
        raise ValueError(
            f"evidence_from_counts: ontology {onto.version} has {len(states)} part states and "
            f"{len(targets)} {target_kind} targets, but the counts are for {len(state_counts)} part states "
            f"and {len(target_counts)} targets ({len(pair_counts)} rows of pairs); pass the ontology the "
            "counts were made with (a reasoner's is reasoner.ontology)"
        )
    counts = EvidenceCounts(persons=n)
    counts.states.update({states[s]: int(c) for s, c in enumerate(state_counts)})
    counts.targets[target_kind].update({targets[t]: int(c) for t, c in enumerate(target_counts)})
    counts.pairs[target_kind].update(
        {
            (states[s], targets[t]): int(both)
            for s, row in enumerate(pair_counts)
            for t, both in enumerate(row)
            if both > 0
        }
    )
    return counts.edges()


def stage_evidence(load: BulkLoad, edges: list[EvidenceEdge]) -> None:
    """Make ``edges`` the store's whole evidence as part of bulk load ``load``: every older
    ``IMPLIES`` edge goes, in the same all-or-nothing load as the annotations the edges were
    computed from (so a crash never leaves evidence that disagrees with the annotations).

    The embedded store rebuilds the ``IMPLIES`` table (drop and ``COPY``: LadybugDB deletes
    relationships one by one); inside a transaction (Neo4j, or a load within
    :meth:`~kg.store.base.GraphStore.transaction`) the old edges are deleted and the new ones
    created by statements that run after the load's inserts."""
    by_kind = {kind: [e for e in edges if e.target_kind == kind] for kind in _KINDS}
    if getattr(load, "can_rebuild", False):
        for kind, label in (("activity", "Activity"), ("verb", "Verb")):
            chosen = by_kind[kind]
            load.rebuild_rels(  # type: ignore[attr-defined]
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
        return
    load.then_once("MATCH (:PartState)-[e:IMPLIES]->() DELETE e", {})
    for kind, label in (("activity", "Activity"), ("verb", "Verb")):
        load.then(
            # The label comes from the fixed pair above.
            f"UNWIND $rows AS r MATCH (s:PartState {{id: r.s}}), (t:{label} {{id: r.t}}) "
            "CREATE (s)-[:IMPLIES {count: r.count, cond_prob: r.cond_prob, npmi: r.npmi, "
            "weight: r.weight}]->(t)",
            [
                {
                    "s": e.part_state,
                    "t": e.target,
                    "count": e.count,
                    "cond_prob": e.cond_prob,
                    "npmi": e.npmi,
                    "weight": e.weight,
                }
                for e in by_kind[kind]
            ],
        )


def write_evidence(store: GraphStore, edges: list[EvidenceEdge]) -> int:
    """Replace every ``IMPLIES`` edge with ``edges`` (one all-or-nothing load). Returns how many."""
    with store.bulk_load() as load:
        stage_evidence(load, edges)
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
