"""ActivityGNN as PyG message passing: the same weights, the same logits, PyG's explainers.

:class:`~reasoning.gnn.ActivityGNN` writes its one round of message passing as dense matrix
products. :class:`PyGActivityGNN` is the same model written with
:class:`~torch_geometric.nn.conv.MessagePassing` layers (:class:`ObservationConv`) and
:class:`~torch_geometric.nn.conv.HeteroConv`, loading the dense model's trained weights
(:meth:`PyGActivityGNN.from_dense`), so that ``torch_geometric.explain.Explainer`` wraps it
directly, without :mod:`reasoning.pyg_adapter`.

The graph, in two parts:

- **the ontology graph**, shared by every person and held by the module (from
  :func:`reasoning.graph.build_graph`: the evidence edges ``part_state -> verb`` and
  ``part_state -> activity`` with their learned weights, the composition edges
  ``verb -> activity`` and ``object -> activity``, the label embeddings as node features);
- **a person batch** (:func:`person_batch`): one ``person`` node per input row, joined to the
  part-state, body-part and object nodes it was observed with by the edge types
  :data:`OBSERVED_PART_STATE`, :data:`OBSERVED_BODY_PART`, :data:`OBSERVED_OBJECT`
  (``(term, "observed_in", "person")``), built from the non-zeros of the rows with
  ``edge_weight`` = the observed probability. The ontology graph is never copied per person.

The message passing (the maths of :mod:`reasoning.gnn`, in graph terms):

1. **Over the ontology graph** (person-independent, :meth:`PyGActivityGNN.ontology_states`).
   Every observable term node starts from the one-hot of its input channel. Two rounds of
   :class:`ObservationConv` over the ontology's edge types: ``part_state -> verb`` (weights
   ``w_pv``) gives each verb its column of part-state weights; ``verb -> activity`` (copy),
   ``part_state -> activity`` (``m_pa``, seen activities) and ``object -> activity`` (the gate
   ``g_a``) give each activity its column of input weights ``A[:, a]`` ``(183,)``. The
   activity queries ``q_a`` come the same way: the verb's query ``W_q e_v + r_v`` copied along
   ``verb -> activity``, plus, for a seen activity, ``MLP([e_a, e_v, e_o]) + r_a`` with
   ``e_v`` and ``e_o`` copied along the composition edges. The part-state and body-part nodes'
   messages to persons are ``W e + R`` (a linear layer per node type).
2. **Terms -> persons** (:class:`~torch_geometric.nn.conv.HeteroConv` over the observed edge
   types; ``x_e`` the edge weight):

       phi_n   = ReLU( sum_{p -> n} x_e (W_ps e_p + R_p) + sum_{j -> n} x_e (W_bp e_j + R_j) + c )
       logit_n = q phi_n + b + sum_{t -> n} x_e A[t, :]

   ``c`` rides on the person node's own feature (1 for every person), so the person node has
   features for PyG's node masks.

Batching without copying: persons are nodes of one bipartite edge set; the ontology stage
runs once per call (or once per process: pass ``states``). Explanations with PyG (see the
example): an edge mask on the observed edges scales each observation's messages, so an
explainer's edge attribution is an attribution of the observation.

PyG 2.8's :class:`~torch_geometric.explain.algorithm.CaptumExplainer` passes a heterogeneous
graph's edge masks through a sigmoid (``set_hetero_masks`` keeps its default
``apply_sigmoid=True``; the homogeneous path turns it off), so its integrated gradients run
from ``sigmoid(0) = 0.5`` to ``sigmoid(1) ~= 0.73`` times each observed value, not from 0 to
1: the edge attributions add up to ``logit(0.73 x) - logit(0.5 x)``
(``tests/reasoning/test_gnn_pyg.py`` checks this). The exact attribution from no evidence is
the dense model's closed form (:meth:`reasoning.gnn.ActivityGNN.attribute_terms`).

Measured (forward only, the packaged checkpoint on the first 10,000 rows of hake-image,
batches of 4096, best of 5, one torch thread, ``OMP_NUM_THREADS=1``, on a 2-core AMD EPYC VM
shared with other jobs, load average 4.8; ``python benchmarks/reasoning.py --threads 1
--models '' --skip-instance --pyg``): dense 79,600 persons/s, PyG 13,400 persons/s (the
person batch built from the rows included; building it alone runs at ~780,000 persons/s).
Three earlier runs at load 5.7-5.8: dense 63,000-118,000, PyG 16,000-24,000. PyG is 3.5-6x slower:
it gathers a 600-wide row of activity weights per observed edge (~9 per person) where the dense
model does one ``(B, 183) x (183, 600)`` matrix product. The ontology stage takes ~20 ms, once
per call without ``states``. So the dense path stays the reasoner's path; the logits of both
differ by at most 7.6e-6 on those rows.

Shapes:
    ``PyGActivityGNN(x_dict, edge_index_dict, edge_weight_dict)``: ``x_dict["person"]``
    ``(N, 1)``, ``edge_index_dict[(term, "observed_in", "person")]`` ``(2, E_t)`` (term index,
    person index), ``edge_weight_dict`` the same keys, ``(E_t,)``; returns ``(N, 600)`` logits.

>>> import torch
>>> from reasoning.reasoner import ActivityReasoner
>>> dense = ActivityReasoner.from_pretrained().model
>>> pyg = PyGActivityGNN.from_dense(dense).eval()
>>> x = torch.zeros(2, 183); x[:, [3, 37, 103 + 4]] = 1.0; x[1, 50] = 0.5; x[0, 95] = 0.8
>>> batch = person_batch(x)
>>> logits = pyg(batch.x_dict, batch.edge_index_dict, batch.edge_weight_dict)
>>> bool(torch.allclose(logits, dense(x), atol=1e-4))
True

``torch_geometric.explain.Explainer`` wraps the module itself:

>>> from torch_geometric.explain import Explainer, GNNExplainer
>>> explainer = Explainer(pyg, GNNExplainer(epochs=3), explanation_type="model",
...     node_mask_type="attributes", edge_mask_type="object",
...     model_config=dict(mode="multiclass_classification", task_level="node", return_type="raw"))
>>> explanation = explainer(batch.x_dict, batch.edge_index_dict, index=0,
...     edge_weight_dict=batch.edge_weight_dict)
>>> tuple(explanation[OBSERVED_PART_STATE].edge_mask.shape), tuple(explanation["person"].node_mask.shape)
((5,), (2, 1))
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.data import HeteroData  # type: ignore[import-untyped, unused-ignore]
from torch_geometric.nn import HeteroConv, MessagePassing  # type: ignore[import-untyped, unused-ignore]

import ontology
from ontology.errors import ReasoningError
from reasoning.features import input_layout
from reasoning.gnn import ActivityGNN
from reasoning.graph import (
    OBJECT_TO_ACTIVITY,
    PART_STATE_TO_ACTIVITY,
    PART_STATE_TO_VERB,
    VERB_TO_ACTIVITY,
    EdgeType,
)

__all__ = [
    "OBSERVED_BODY_PART",
    "OBSERVED_OBJECT",
    "OBSERVED_PART_STATE",
    "ObservationConv",
    "OntologyStates",
    "PyGActivityGNN",
    "person_batch",
]

OBSERVED_PART_STATE: EdgeType = ("part_state", "observed_in", "person")
OBSERVED_BODY_PART: EdgeType = ("body_part", "observed_in", "person")
OBSERVED_OBJECT: EdgeType = ("object", "observed_in", "person")


class ObservationConv(MessagePassing):  # type: ignore[misc]
    """``out_i = sum_{j -> i} w_ji x_j``: the edge-weighted sum of the source nodes' states.

    No parameters of its own: the states are made by the caller (per node type), the weights
    are the edges' (observed probabilities, learned evidence weights; 1 when none).

    Shapes:
        x: ``(x_src (S, F), x_dst (D, *))`` or ``x_src`` alone with ``size=(S, D)``;
        edge_index: ``(2, E)``; edge_weight: ``(E,)`` or None -> ``(D, F)``.

    >>> conv = ObservationConv()
    >>> conv((torch.eye(2), torch.zeros(3, 1)), torch.tensor([[0, 1, 1], [0, 0, 2]]),
    ...      torch.tensor([0.5, 2.0, 1.0]))
    tensor([[0.5000, 2.0000],
            [0.0000, 0.0000],
            [0.0000, 1.0000]])
    """

    def __init__(self) -> None:
        super().__init__(aggr="sum")

    def forward(
        self,
        x: torch.Tensor | tuple[torch.Tensor, torch.Tensor | None],
        edge_index: torch.Tensor,
        edge_weight: torch.Tensor | None = None,
        size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            x = (x, None)
        if size is None:
            dst = x[1]
            if dst is None:
                raise ReasoningError(
                    "ObservationConv: the number of destination nodes is unknown; pass "
                    "(x_src, x_dst) or size=(n_src, n_dst)"
                )
            size = (x[0].shape[0], dst.shape[0])
        out: torch.Tensor = self.propagate(edge_index, x=(x[0], None), edge_weight=edge_weight, size=size)
        return out

    def message(self, x_j: torch.Tensor, edge_weight: torch.Tensor | None) -> torch.Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j


@dataclass(frozen=True)
class OntologyStates:
    """The person-independent node states (:meth:`PyGActivityGNN.ontology_states`).

    Attributes:
        part_state: ``(93, H)`` a part-state node's message to the persons observed with it.
        body_part: ``(10, H)`` the same for body parts.
        part_state_evidence: ``(93, 600)`` a part state's direct weight on every activity.
        object_evidence: ``(80, 600)`` an object's gate on every activity (0 but its own).
        activity_query: ``(600, H)`` how each activity reads the person state ``phi``.
    """

    part_state: torch.Tensor
    body_part: torch.Tensor
    part_state_evidence: torch.Tensor
    object_evidence: torch.Tensor
    activity_query: torch.Tensor


def person_batch(x: torch.Tensor, onto: ontology.Ontology | None = None) -> HeteroData:
    """Persons' input rows ``(N, 183)`` as a PyG batch: ``person`` nodes joined to the terms
    they were observed with (the non-zeros of ``x``), ``edge_weight`` the observed value.

    The ontology's nodes appear with their ``num_nodes`` only (the model holds the ontology
    graph). Edges are in row-major order of ``x``'s non-zeros; an edge type no person was
    observed with is left out (PyG's ``GNNExplainer`` cannot mask an empty edge set).

    >>> b = person_batch(torch.tensor([[0.0] * 37 + [0.5] + [0.0] * 145]))
    >>> b[OBSERVED_PART_STATE].edge_index.tolist(), b[OBSERVED_PART_STATE].edge_weight.tolist()
    ([[37], [0]], [0.5])
    >>> b["person"].x.shape, b.edge_types == [OBSERVED_PART_STATE]
    (torch.Size([1, 1]), True)
    """
    lay = input_layout(onto)
    if x.ndim != 2 or x.shape[1] != lay.n_features:
        raise ReasoningError(
            f"person_batch: expected input rows of shape (N, {lay.n_features}), got "
            f"{tuple(x.shape)}; build them with reasoning.encode_observations"
        )
    rows, cols = x.nonzero(as_tuple=True)
    values = x[rows, cols]
    data = HeteroData()
    data["person"].x = x.new_ones(x.shape[0], 1)
    for key, span in (
        (OBSERVED_PART_STATE, lay.part_states),
        (OBSERVED_BODY_PART, lay.active_parts),
        (OBSERVED_OBJECT, lay.objects),
    ):
        keep = (cols >= span.start) & (cols < span.stop)
        data[key[0]].num_nodes = span.stop - span.start
        if not bool(keep.any()):
            continue
        data[key].edge_index = torch.stack([cols[keep] - span.start, rows[keep]])
        data[key].edge_weight = values[keep]
    return data


class PyGActivityGNN(nn.Module):
    """:class:`~reasoning.gnn.ActivityGNN` as PyG message passing (see the module docstring).

    Build it from a trained dense model with :meth:`from_dense`; it copies the weights (a
    later change to either model does not reach the other).

    Shapes:
        forward: ``x_dict`` (``"person"``: ``(N, 1)``), ``edge_index_dict`` and
        ``edge_weight_dict`` over :data:`OBSERVED_PART_STATE`, :data:`OBSERVED_BODY_PART`,
        :data:`OBSERVED_OBJECT` -> ``(N, 600)`` logits.
    """

    # buffers: the ontology graph and its node features, declared for the type checker
    emb_part_state: torch.Tensor
    emb_body_part: torch.Tensor
    emb_verb: torch.Tensor
    emb_object: torch.Tensor
    emb_activity: torch.Tensor
    seen: torch.Tensor
    has_object: torch.Tensor
    ps_verb_index: torch.Tensor
    ps_act_index: torch.Tensor
    verb_act_index: torch.Tensor
    obj_act_index: torch.Tensor

    def __init__(self, dense: ActivityGNN) -> None:
        super().__init__()
        self.ontology = dense.ontology
        self.layout = lay = dense.layout
        n_act, n_verbs = lay.n_activities, lay.n_verbs
        used = dense.used_verbs

        def buffer(name: str, value: torch.Tensor) -> None:
            self.register_buffer(name, value.detach().clone())

        # node features (label embeddings); a verb no activity uses has no edges: zeros
        buffer("emb_part_state", dense.emb_part_state)
        buffer("emb_body_part", dense.emb_body_part)
        buffer(
            "emb_verb",
            dense.emb_verb.new_zeros(n_verbs, dense.emb_verb.shape[1]).index_copy(0, used, dense.emb_verb),
        )
        buffer("emb_object", dense.emb_object)
        buffer("emb_activity", dense.emb_activity)
        buffer("seen", dense.seen)
        buffer("has_object", dense.has_object)
        # the ontology graph: evidence edges (the checkpoint's, verbs by index) and composition
        verb_of = torch.tensor(lay.verb_of, dtype=torch.long)
        object_of = torch.tensor(lay.object_of, dtype=torch.long)
        act = torch.arange(n_act)
        buffer("ps_verb_index", torch.stack([dense.ps_verb_index[0], used[dense.ps_verb_index[1]]]))
        buffer("ps_act_index", dense.ps_act_index)
        buffer("verb_act_index", torch.stack([verb_of, act])[:, verb_of >= 0])
        buffer("obj_act_index", torch.stack([object_of, act])[:, object_of >= 0])
        self.ps_verb_weight = nn.Parameter(dense.ps_verb_weight.detach().clone())
        self.ps_act_weight = nn.Parameter(dense.ps_act_weight.detach().clone())

        def param(value: torch.Tensor) -> nn.Parameter:
            return nn.Parameter(value.detach().clone())

        # node-wise layers: part-state / body-part messages, verb queries, activity refinement
        self.lin_part_state = nn.Linear(*dense.lin_part_state.weight.T.shape)
        self.lin_part_state.load_state_dict(dense.lin_part_state.state_dict())
        self.lin_body_part = nn.Linear(*dense.lin_body_part.weight.T.shape)
        self.lin_body_part.load_state_dict(dense.lin_body_part.state_dict())
        self.part_state_residual = param(dense.part_state_residual)
        self.body_part_residual = param(dense.body_part_residual)
        self.person_bias = param(dense.person_bias)
        self.lin_verb_query = nn.Linear(*dense.lin_verb_query.weight.T.shape)
        self.lin_verb_query.load_state_dict(dense.lin_verb_query.state_dict())
        residual = dense.verb_query_residual.detach()
        self.verb_query_residual = param(
            residual.new_zeros(n_verbs, residual.shape[1]).index_copy(0, used, residual)
        )
        self.query = nn.Sequential(
            *(nn.Linear(*m.weight.T.shape) if isinstance(m, nn.Linear) else nn.ReLU() for m in dense.query)
        )
        self.query.load_state_dict(dense.query.state_dict())
        self.query_residual = param(dense.query_residual)
        self.object_gate = param(dense.object_gate)
        self.gate_residual = param(dense.gate_residual)
        self.bias = param(dense.bias)

        # message passing: one conv per ontology edge type, and the person stage
        self.ontology_convs = nn.ModuleDict(
            {
                "__".join(key): ObservationConv()
                for key in (PART_STATE_TO_VERB, PART_STATE_TO_ACTIVITY, VERB_TO_ACTIVITY, OBJECT_TO_ACTIVITY)
            }
        )
        with warnings.catch_warnings():  # terms only send to persons, as intended
            warnings.filterwarnings("ignore", message="There exist node types")
            self.person_state = HeteroConv(
                {OBSERVED_PART_STATE: ObservationConv(), OBSERVED_BODY_PART: ObservationConv()}, aggr="sum"
            )
            self.person_evidence = HeteroConv(
                {OBSERVED_PART_STATE: ObservationConv(), OBSERVED_OBJECT: ObservationConv()}, aggr="sum"
            )

    @classmethod
    def from_dense(cls, model: ActivityGNN) -> PyGActivityGNN:
        """The PyG form of a trained :class:`~reasoning.gnn.ActivityGNN` (weights copied)."""
        if not isinstance(model, ActivityGNN):
            raise ReasoningError(
                f"PyGActivityGNN.from_dense: expected an ActivityGNN, got {type(model).__name__}; "
                "only the GNN has a PyG form (reasoner.model of a 'gnn' checkpoint)"
            )
        return cls(model).to(model.bias.device)

    def _conv(self, key: EdgeType) -> ObservationConv:
        conv = self.ontology_convs["__".join(key)]
        if not isinstance(conv, ObservationConv):  # pragma: no cover - built in __init__
            raise ReasoningError(f"PyGActivityGNN: no conv for {key}")
        return conv

    def ontology_states(self) -> OntologyStates:
        """Message passing over the ontology graph: every node state no person changes."""
        lay = self.layout
        n_ps, n_obj, n_verbs, n_act = lay.n_part_states, lay.n_objects, lay.n_verbs, lay.n_activities
        seen = self.seen.to(self.bias.dtype)
        eye_ps = torch.eye(n_ps, device=self.bias.device)  # a part state's input channel
        eye_obj = torch.eye(n_obj, device=self.bias.device)
        # round 1: part state -> verb (w_pv): each verb's column of part-state weights
        verb_cols = self._conv(PART_STATE_TO_VERB)(
            eye_ps, self.ps_verb_index, self.ps_verb_weight, size=(n_ps, n_verbs)
        )  # (157, 93)
        # round 2: verb -> activity (copy) + part state -> activity (m_pa, seen activities)
        to_act = self._conv(VERB_TO_ACTIVITY)
        ps_cols = to_act(verb_cols, self.verb_act_index, size=(n_verbs, n_act)) + self._conv(
            PART_STATE_TO_ACTIVITY
        )(eye_ps, self.ps_act_index, self.ps_act_weight * seen[self.ps_act_index[1]], size=(n_ps, n_act))
        # object -> activity: the gate, shared per object, refined for a seen activity
        dst = self.obj_act_index[1]
        gate = self.object_gate[self.obj_act_index[0]] + self.gate_residual[dst] * seen[dst]
        to_act_obj = self._conv(OBJECT_TO_ACTIVITY)
        obj_cols = to_act_obj(eye_obj, self.obj_act_index, gate, size=(n_obj, n_act))  # (600, 80)
        # activity queries: the verb's query along verb -> activity, refined for seen ones
        verb_query = self.lin_verb_query(self.emb_verb) + self.verb_query_residual  # (157, H)
        query = to_act(verb_query, self.verb_act_index, size=(n_verbs, n_act))
        e_verb = to_act(self.emb_verb, self.verb_act_index, size=(n_verbs, n_act))
        e_obj = to_act_obj(self.emb_object, self.obj_act_index, size=(n_obj, n_act))
        # as the dense model: an activity without an object reads the first object's embedding
        e_obj = torch.where(self.has_object[:, None], e_obj, self.emb_object[:1])
        refine = self.query(torch.cat([self.emb_activity, e_verb, e_obj], dim=1)) + self.query_residual
        return OntologyStates(
            part_state=self.lin_part_state(self.emb_part_state) + self.part_state_residual,
            body_part=self.lin_body_part(self.emb_body_part) + self.body_part_residual,
            part_state_evidence=ps_cols.T,
            object_evidence=obj_cols.T,
            activity_query=query + seen[:, None] * refine,
        )

    def forward(
        self,
        x_dict: dict[str, torch.Tensor],
        edge_index_dict: dict[EdgeType, torch.Tensor],
        edge_weight_dict: dict[EdgeType, torch.Tensor] | None = None,
        states: OntologyStates | None = None,
    ) -> torch.Tensor:
        """Activity logits ``(N, 600)`` of a person batch (:func:`person_batch`).

        ``edge_weight_dict``: the observed values (an edge type without weights counts 1 per
        edge). ``states``: :meth:`ontology_states`, to compute once for many batches.
        """
        if "person" not in x_dict:
            raise ReasoningError(
                f"PyGActivityGNN: x_dict needs 'person' features (N, 1), got the node types "
                f"{sorted(x_dict)}; build the batch with reasoning.gnn_pyg.person_batch"
            )
        s = self.ontology_states() if states is None else states
        person = x_dict["person"]  # (N, 1)
        weights = {} if edge_weight_dict is None else edge_weight_dict
        hidden = self.person_state(
            {"part_state": s.part_state, "body_part": s.body_part, "person": person},
            edge_index_dict,
            edge_weight_dict=weights,
        ).get("person")
        z = person * self.person_bias  # the person's own input carries c: (N, H)
        if hidden is not None:
            z = z + hidden
        direct = self.person_evidence(
            {"part_state": s.part_state_evidence, "object": s.object_evidence, "person": person},
            edge_index_dict,
            edge_weight_dict=weights,
        ).get("person")
        out = torch.addmm(self.bias, torch.relu(z), s.activity_query.T)  # (N, 600)
        return out if direct is None else out + direct

    @torch.no_grad()
    def logits(self, x: torch.Tensor, states: OntologyStates | None = None) -> torch.Tensor:
        """Logits ``(N, 600)`` of dense input rows ``(N, 183)`` (via :func:`person_batch`)."""
        batch = person_batch(x, self.ontology)
        out: torch.Tensor = self(batch.x_dict, batch.edge_index_dict, batch.edge_weight_dict, states)
        return out
