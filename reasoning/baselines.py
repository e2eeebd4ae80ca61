"""Baseline reasoners in the same harness as :class:`~reasoning.gnn.ActivityGNN`.

- :class:`LinearReasoner`: one linear layer, inputs -> 600 logits (the HAKE papers'
  "Linear PaSta-R").
- :class:`MLPReasoner`: one hidden ReLU layer (512 wide by default).
- :class:`RuleReasoner`: training-free; scores an activity by the NPMI evidence of the
  person's part states along the graph's edges, gated by the activity's object.

All take ``(B, 183)`` inputs (:mod:`reasoning.features`) and return ``(B, 600)`` logits, and
explain exactly: linear models by ``x_i * w_i``, the MLP by closed-form integrated gradients
(:mod:`reasoning._attribution`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch_geometric.data import HeteroData  # type: ignore[import-untyped, unused-ignore]

import ontology
from ontology.errors import ReasoningError
from reasoning._attribution import Attribution, relu_path_fraction
from reasoning.features import InputLayout, input_layout
from reasoning.graph import BODY_PART_TO_VERB, PART_STATE_TO_ACTIVITY, PART_STATE_TO_VERB

__all__ = ["LinearReasoner", "MLPConfig", "MLPReasoner", "RuleConfig", "RuleReasoner"]


def _ontology_of(graph: HeteroData | None) -> ontology.Ontology:
    """The ontology a graph was built with (:func:`reasoning.build_graph`), else the packaged one."""
    onto = None if graph is None else getattr(graph, "ontology", None)
    return ontology.load() if onto is None else onto


def _by_kind(values: torch.Tensor, prefix: str, lay: InputLayout) -> dict[str, torch.Tensor]:
    """Split a ``(B, K, F)`` contribution tensor into per-input-kind paths."""
    out: dict[str, torch.Tensor] = {}
    for kind, sl in (
        ("part_state", lay.part_states),
        ("body_part", lay.active_parts),
        ("object", lay.objects),
    ):
        part = torch.zeros_like(values)
        part[..., sl] = values[..., sl]
        out[f"{kind}->{prefix}activity"] = part
    return out


class LinearReasoner(nn.Module):
    """``logit = x W^T + b``.

    Shapes:
        forward: ``(B, 183)`` -> ``(B, 600)``.
    """

    kind = "linear"

    def __init__(self, graph: HeteroData | None = None, config: None = None) -> None:
        super().__init__()
        del config  # the linear model uses no options, and of the graph only its ontology
        self.ontology = _ontology_of(graph)
        self.layout = lay = input_layout(self.ontology)
        self.linear = nn.Linear(lay.n_features, lay.n_activities)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)  # type: ignore[no-any-return]

    @torch.no_grad()
    def attribute(self, x: torch.Tensor, activities: torch.Tensor) -> Attribution:
        """Exact: contribution of input ``i`` to activity ``a`` is ``x_i W[a, i]``."""
        values = x[:, None, :] * self.linear.weight[activities]  # (B, K, 183)
        baseline = self.linear.bias[activities]
        return Attribution("exact decomposition (linear)", _by_kind(values, "", self.layout), baseline)


@dataclass(frozen=True)
class MLPConfig:
    """Width of the :class:`MLPReasoner`'s hidden layer."""

    hidden: int = 512

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MLPReasoner(nn.Module):
    """``logit = W2 ReLU(W1 x + b1) + b2``.

    Shapes:
        forward: ``(B, 183)`` -> ``(B, 600)``.
    """

    kind = "mlp"

    def __init__(self, graph: HeteroData | None = None, config: MLPConfig | None = None) -> None:
        super().__init__()
        self.config = config or MLPConfig()
        self.ontology = _ontology_of(graph)
        self.layout = lay = input_layout(self.ontology)
        self.hidden = nn.Linear(lay.n_features, self.config.hidden)
        self.out = nn.Linear(self.config.hidden, lay.n_activities)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))  # type: ignore[no-any-return]

    @torch.no_grad()
    def attribute(self, x: torch.Tensor, activities: torch.Tensor) -> Attribution:
        """Exact integrated gradients (closed form) from the all-zero input."""
        z = self.hidden(x)  # (B, H)
        frac = relu_path_fraction(z, self.hidden.bias.expand_as(z))
        coef = self.out.weight[activities] * frac[:, None, :]  # (B, K, H)
        values = x[:, None, :] * (coef @ self.hidden.weight)  # (B, K, 183)
        zeros = x.new_zeros(1, x.shape[1])
        baseline = self.forward(zeros)[0][activities]
        return Attribution(
            "integrated-gradients (exact, closed form; baseline: no evidence)",
            _by_kind(values, "hidden->", self.layout),
            baseline,
        )


@dataclass(frozen=True)
class RuleConfig:
    """Options of the :class:`RuleReasoner`.

    Attributes:
        object_weight: score of the activity's object being present; large, so that an
            activity whose object is absent ranks below every one whose object is present.
    """

    object_weight: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RuleReasoner(nn.Module):
    """Training-free evidence reasoner: positive NPMI along the graph's edges.

    ``score_a = C x_o + sum_p x_p [npmi(p, v) + npmi(p, a)]_+ + sum_j x_j [npmi(j, v)]_+``
    for activity ``a = (v, o)``: the part-state -> verb and part-state -> activity evidence
    (so compositions never seen still score through their verb), gated by the object.

    Shapes:
        forward: ``(B, 183)`` -> ``(B, 600)``.
    """

    kind = "rule"
    weight: torch.Tensor

    def __init__(self, graph: HeteroData, config: RuleConfig | None = None) -> None:
        super().__init__()
        self.config = config or RuleConfig()
        self.ontology = _ontology_of(graph)
        self.layout = lay = input_layout(self.ontology)
        verb_of = torch.tensor(lay.verb_of, dtype=torch.long)
        object_of = torch.tensor(lay.object_of, dtype=torch.long)
        has_verb, has_object = verb_of >= 0, object_of >= 0

        def dense(key: tuple[str, str, str], rows: int, cols: int) -> torch.Tensor:
            if key not in graph.edge_types:
                raise ReasoningError(
                    f"RuleReasoner: the graph has no {key} edges; build it with evidence: "
                    f"build_graph(Evidence.from_examples(x, y))"
                )
            out = torch.zeros(rows, cols)
            idx = graph[key].edge_index
            out[idx[0], idx[1]] = graph[key].edge_weight.float()
            return out.clamp(min=0.0)

        # (a composite has no verb: its columns stay 0; it is scored from its members elsewhere)
        ps_verb = (
            dense(PART_STATE_TO_VERB, lay.n_part_states, lay.n_verbs)[:, verb_of.clamp(min=0)] * has_verb
        )
        ps_act = dense(PART_STATE_TO_ACTIVITY, lay.n_part_states, lay.n_activities)
        bp_verb = dense(BODY_PART_TO_VERB, lay.n_body_parts, lay.n_verbs)[:, verb_of.clamp(min=0)] * has_verb
        weight = torch.zeros(lay.n_features, lay.n_activities)
        weight[lay.part_states] = ps_verb + ps_act
        weight[lay.active_parts] = bp_verb
        acts = torch.arange(lay.n_activities)[has_object]
        weight[lay.objects.start + object_of[has_object], acts] = self.config.object_weight
        self.register_buffer("weight", weight)  # (183, 600), no learned parameter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight

    @torch.no_grad()
    def attribute(self, x: torch.Tensor, activities: torch.Tensor) -> Attribution:
        """Exact: contribution of input ``i`` to activity ``a`` is ``x_i weight[i, a]``."""
        values = x[:, None, :] * self.weight.T[activities]
        baseline = torch.zeros(activities.shape, dtype=x.dtype, device=x.device)
        paths = _by_kind(values, "", self.layout)
        paths["part_state->verb->activity"] = paths.pop("part_state->activity")
        paths["body_part->verb->activity"] = paths.pop("body_part->activity")
        return Attribution("exact decomposition (linear evidence sum)", paths, baseline)
