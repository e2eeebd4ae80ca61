"""The activity graph as PyG ``HeteroData``, with evidence weights learned from annotations.

Node types (channel order = ontology order): ``part_state`` (93), ``body_part`` (10 fine
parts), ``verb`` (157), ``object`` (80), ``activity`` (600).

Edge types (the relation keys, defined once here):

- :data:`VERB_TO_ACTIVITY`, :data:`OBJECT_TO_ACTIVITY`: the ontology's composition, every
  activity has exactly one verb and one object (600 edges each).
- :data:`PART_STATE_TO_VERB`, :data:`BODY_PART_TO_VERB`: cross-level evidence between
  every part state (or active fine part) and every verb that both occur in the training
  examples; ``edge_weight`` is the NPMI of their co-occurrence (-1 when they never
  co-occur: negative evidence is evidence too), ``count`` the co-occurring examples.
- :data:`PART_STATE_TO_ACTIVITY`: the same evidence, straight to activities. Activities
  without a training example have no such edge.

NPMI (normalised pointwise mutual information) of events ``u`` and ``t`` over ``N``
examples: ``log(p(u, t) / (p(u) p(t))) / -log p(u, t)``, in [-1, 1]; 1 means ``u`` and ``t``
always occur together.

The graph is the same for every person. Reasoners turn it into dense, learned edge-weight
matrices once per forward pass and run the message passing for a whole batch of persons as
matrix products (see :mod:`reasoning.gnn`), never by copying the graph per person.

>>> import torch
>>> from reasoning.features import input_layout, matched_positions
>>> lay = input_layout()
>>> x = torch.zeros(4, lay.n_features); y = torch.zeros(4, lay.n_activities)
>>> x[:2, 37] = 1; y[:2, 0] = 1      # "hand: hold" twice, with activity 0
>>> g = build_graph(Evidence.from_examples(x, y))
>>> g["activity"].num_nodes, g[PART_STATE_TO_VERB].edge_index.tolist()
(600, [[37], [4]])
>>> g["verb"].ids[4], g[VERB_TO_ACTIVITY].edge_index[:, 0].tolist()   # activity 0's verb
('board', [4, 0])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch_geometric.data import HeteroData  # type: ignore[import-untyped, unused-ignore]

import ontology
from ontology.errors import ReasoningError
from reasoning.features import input_layout, matched_positions

__all__ = [
    "BODY_PART_TO_VERB",
    "EdgeType",
    "Evidence",
    "OBJECT_TO_ACTIVITY",
    "PART_STATE_TO_ACTIVITY",
    "PART_STATE_TO_VERB",
    "VERB_TO_ACTIVITY",
    "build_graph",
    "composition_index",
    "npmi",
]

EdgeType = tuple[str, str, str]

PART_STATE_TO_VERB: EdgeType = ("part_state", "evidence", "verb")
BODY_PART_TO_VERB: EdgeType = ("body_part", "evidence", "verb")
PART_STATE_TO_ACTIVITY: EdgeType = ("part_state", "evidence", "activity")
VERB_TO_ACTIVITY: EdgeType = ("verb", "composes", "activity")
OBJECT_TO_ACTIVITY: EdgeType = ("object", "composes", "activity")


def composition_index(onto: ontology.Ontology | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Verb index and object index of every activity of ``onto`` (default packaged): -1 for
    a composite's verb and for the object of a person-only action or a composite.

    Shapes:
        two ``(n_activities,)`` long tensors (600 for the packaged ontology).
    """
    lay = input_layout(onto)
    return torch.tensor(lay.verb_of, dtype=torch.long), torch.tensor(lay.object_of, dtype=torch.long)


def npmi(joint: torch.Tensor, count_u: torch.Tensor, count_t: torch.Tensor, n: int) -> torch.Tensor:
    """NPMI of every pair from co-occurrence counts, pair by pair with :func:`ontology.npmi`
    (the engine's one implementation, shared with ``kg.evidence``): -1 where the pair never
    co-occurs, 0 where either event never occurs. About 2 us a pair (0.1 s for 93 x 600).

    Shapes:
        joint: ``(U, T)``; count_u: ``(U,)``; count_t: ``(T,)``. Returns ``(U, T)``.

    >>> npmi(torch.tensor([[2.0]]), torch.tensor([2.0]), torch.tensor([2.0]), 4)
    tensor([[1.]])
    >>> npmi(torch.tensor([[0.0]]), torch.tensor([2.0]), torch.tensor([2.0]), 4)
    tensor([[-1.]])
    """
    rows, us, ts = joint.tolist(), count_u.tolist(), count_t.tolist()
    value = [
        [ontology.npmi(j, u, t, n) for j, t in zip(row, ts, strict=True)]
        for row, u in zip(rows, us, strict=True)
    ]
    return torch.tensor(value, dtype=torch.float32).reshape(joint.shape)


@dataclass(frozen=True)
class Evidence:
    """Co-occurrence counts of inputs and labels in the training examples.

    Attributes:
        n_examples: how many training examples were counted.
        part_state_verb: ``(93, 157)`` examples with the part state and an activity of the verb.
        body_part_verb: ``(10, 157)`` the same for active fine parts.
        part_state_activity: ``(93, 600)`` examples with the part state and the activity.
        part_state_counts: ``(93,)``; body_part_counts: ``(10,)``; verb_counts: ``(157,)``;
        activity_counts: ``(600,)`` training examples per activity (the few-shot counts).
    """

    n_examples: int
    part_state_verb: torch.Tensor
    body_part_verb: torch.Tensor
    part_state_activity: torch.Tensor
    part_state_counts: torch.Tensor
    body_part_counts: torch.Tensor
    verb_counts: torch.Tensor
    activity_counts: torch.Tensor

    @classmethod
    def from_examples(
        cls, x: torch.Tensor, y: torch.Tensor, onto: ontology.Ontology | None = None
    ) -> Evidence:
        """Count evidence in inputs ``x`` ``(N, F)`` (values > 0.5 count as present) and
        labels ``y`` ``(N, n_activities)`` of ``onto`` (default packaged: 183 and 600)."""
        lay = input_layout(onto)
        if x.ndim != 2 or x.shape[1] != lay.n_features:
            raise ReasoningError(
                f"Evidence.from_examples: expected x of shape (N, {lay.n_features}), got {tuple(x.shape)}"
            )
        if y.shape != (x.shape[0], lay.n_activities):
            raise ReasoningError(
                f"Evidence.from_examples: expected y of shape ({x.shape[0]}, "
                f"{lay.n_activities}), got {tuple(y.shape)}"
            )
        present = (x > 0.5).float()
        ps = present[:, lay.part_states]
        bp = present[:, lay.active_parts]
        act = (y > 0.5).float()
        verb_of, _ = composition_index(onto)
        atomic = verb_of >= 0  # a composite's label says nothing of one verb
        verb = (
            torch.zeros(x.shape[0], lay.n_verbs)
            .index_add_(1, verb_of[atomic], act[:, atomic])
            .clamp_(max=1.0)
        )
        return cls(
            n_examples=int(x.shape[0]),
            part_state_verb=ps.T @ verb,
            body_part_verb=bp.T @ verb,
            part_state_activity=ps.T @ act,
            part_state_counts=ps.sum(0),
            body_part_counts=bp.sum(0),
            verb_counts=verb.sum(0),
            activity_counts=act.sum(0),
        )

    def to_state(self) -> dict[str, torch.Tensor]:
        """Tensors for a checkpoint (``n_examples`` as a 0-d tensor)."""
        state = {k: v for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        state["n_examples"] = torch.tensor(self.n_examples)
        return state

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> Evidence:
        """Inverse of :meth:`to_state`."""
        fields = dict(state)
        n = int(fields.pop("n_examples"))
        return cls(n_examples=n, **fields)

    def __add__(self, other: Evidence) -> Evidence:
        """The counts of both sets of examples (same ontology: same shapes)."""
        if not isinstance(other, Evidence):
            return NotImplemented
        mine, theirs = self.to_state(), other.to_state()
        for key, value in mine.items():
            if value.shape != theirs[key].shape:
                raise ReasoningError(
                    f"Evidence: cannot add counts of two ontologies ({key}: {tuple(value.shape)} "
                    f"and {tuple(theirs[key].shape)}); remap one with Evidence.remapped"
                )
        return Evidence.from_state({k: v + theirs[k] for k, v in mine.items()})

    def remapped(self, source: ontology.Ontology, target: ontology.Ontology) -> Evidence:
        """These counts (made with ``source``) in the channels of ``target``: a term of both
        keeps its counts, a term only ``target`` has counts 0 (it was never seen).

        >>> import torch, ontology
        >>> onto = ontology.load(); small = onto.without_verbs(["ride"])
        >>> x = torch.zeros(2, 183); y = torch.zeros(2, len(small.activities)); x[:, 37] = 1; y[:, 0] = 1
        >>> ev = Evidence.from_examples(x, y, small).remapped(small, onto)
        >>> int(ev.activity_counts[onto.activities["board airplane"].index]), ev.activity_counts.shape
        (2, torch.Size([600]))
        """
        ids = {
            kind: (tuple(getattr(source, kind).ids), tuple(getattr(target, kind).ids))
            for kind in ("part_states", "body_parts", "verbs", "activities")
        }
        maps = {kind: matched_positions(*pair) for kind, pair in ids.items()}
        axes = {
            "part_state_verb": ("part_states", "verbs"),
            "body_part_verb": ("body_parts", "verbs"),
            "part_state_activity": ("part_states", "activities"),
            "part_state_counts": ("part_states",),
            "body_part_counts": ("body_parts",),
            "verb_counts": ("verbs",),
            "activity_counts": ("activities",),
        }
        state = self.to_state()
        out: dict[str, torch.Tensor] = {"n_examples": state["n_examples"]}
        for key, kinds in axes.items():
            value = state[key]
            shape = tuple(len(ids[k][1]) for k in kinds)
            new = value.new_zeros(shape)
            if len(kinds) == 1:
                src, dst = maps[kinds[0]]
                new[dst] = value[src]
            else:
                (s0, d0), (s1, d1) = maps[kinds[0]], maps[kinds[1]]
                new[d0[:, None], d1[None, :]] = value[s0[:, None], s1[None, :]]
            out[key] = new
        return Evidence.from_state(out)

    def npmi_part_state_verb(self) -> torch.Tensor:
        """``(93, 157)`` NPMI of part states and verbs."""
        return npmi(self.part_state_verb, self.part_state_counts, self.verb_counts, self.n_examples)

    def npmi_body_part_verb(self) -> torch.Tensor:
        """``(10, 157)`` NPMI of active fine parts and verbs."""
        return npmi(self.body_part_verb, self.body_part_counts, self.verb_counts, self.n_examples)

    def npmi_part_state_activity(self) -> torch.Tensor:
        """``(93, 600)`` NPMI of part states and activities."""
        return npmi(
            self.part_state_activity,
            self.part_state_counts,
            self.activity_counts,
            self.n_examples,
        )


def _evidence_edges(
    data: HeteroData,
    key: EdgeType,
    counts: torch.Tensor,
    weight: torch.Tensor,
    src_counts: torch.Tensor,
    dst_counts: torch.Tensor,
) -> None:
    # an edge between every pair of terms that both occur in training
    both = (src_counts > 0)[:, None] & (dst_counts > 0)[None, :]
    src, dst = torch.nonzero(both, as_tuple=True)
    data[key].edge_index = torch.stack([src, dst])
    data[key].edge_weight = weight[src, dst].float()
    data[key].count = counts[src, dst].float()


def build_graph(
    evidence: Evidence | None = None,
    node_features: dict[str, torch.Tensor] | None = None,
    onto: ontology.Ontology | None = None,
) -> HeteroData:
    """The activity graph of ``onto`` (default: the packaged ontology).

    Args:
        evidence: training co-occurrence counts (in ``onto``'s channels); without it the graph
            has only the ontology's composition edges (verb -> activity, object -> activity).
        node_features: optional ``x`` per node type (e.g. :func:`reasoning.label_embeddings`).
        onto: the ontology; kept as the graph's ``ontology`` attribute, which is where the
            reasoners read their sizes from.

    Returns:
        ``HeteroData`` with ``num_nodes`` and ``ids`` (term ids in channel order) per node
        type and ``train_count`` ``(600,)`` on activities when evidence is given;
        ``edge_index`` ``(2, E)`` per edge type, with ``edge_weight`` (NPMI) and ``count``
        ``(E,)`` on the evidence edges.
    """
    onto = ontology.load() if onto is None else onto
    data = HeteroData()
    data.ontology = onto
    ids: dict[str, list[str]] = {
        "part_state": [t.id for t in onto.part_states],
        "body_part": [t.id for t in onto.body_parts],
        "verb": [t.id for t in onto.verbs],
        "object": [t.id for t in onto.objects],
        "activity": [t.id for t in onto.activities],
    }
    for kind, vocab in ids.items():
        data[kind].num_nodes = len(vocab)
        data[kind].ids = vocab
        if node_features is not None and kind in node_features:
            feats = node_features[kind]
            if feats.shape[0] != len(vocab):
                raise ReasoningError(
                    f"build_graph: node_features[{kind!r}] has {feats.shape[0]} rows, "
                    f"expected {len(vocab)} (one per {kind}, in ontology order)"
                )
            data[kind].x = feats
    verb_of, object_of = composition_index(onto)
    act = torch.arange(len(onto.activities))
    data[VERB_TO_ACTIVITY].edge_index = torch.stack([verb_of, act])[:, verb_of >= 0]
    data[OBJECT_TO_ACTIVITY].edge_index = torch.stack([object_of, act])[:, object_of >= 0]
    if evidence is not None:
        lay = input_layout(onto)
        if (
            evidence.activity_counts.shape[0] != lay.n_activities
            or evidence.verb_counts.shape[0] != lay.n_verbs
        ):
            raise ReasoningError(
                f"build_graph: the evidence counts {evidence.activity_counts.shape[0]} activities and "
                f"{evidence.verb_counts.shape[0]} verbs, the ontology has {lay.n_activities} and "
                f"{lay.n_verbs}; count it with the same ontology (or Evidence.remapped)"
            )
        data["activity"].train_count = evidence.activity_counts.float()
        ps, bp, verbs = evidence.part_state_counts, evidence.body_part_counts, evidence.verb_counts
        _evidence_edges(
            data, PART_STATE_TO_VERB, evidence.part_state_verb, evidence.npmi_part_state_verb(), ps, verbs
        )
        _evidence_edges(
            data, BODY_PART_TO_VERB, evidence.body_part_verb, evidence.npmi_body_part_verb(), bp, verbs
        )
        _evidence_edges(
            data,
            PART_STATE_TO_ACTIVITY,
            evidence.part_state_activity,
            evidence.npmi_part_state_activity(),
            ps,
            evidence.activity_counts,
        )
    return data
