from __future__ import annotations

import pytest
import torch
from torch import nn

from reasoning import (
    ActivityGNN,
    Evidence,
    GNNConfig,
    LinearReasoner,
    MLPConfig,
    MLPReasoner,
    RuleReasoner,
)
from reasoning._attribution import relu_path_fraction
from reasoning.graph import build_graph
from tests.reasoning.synthetic import tensors

Model = ActivityGNN | MLPReasoner | LinearReasoner | RuleReasoner


def _models(evidence: Evidence) -> list[Model]:
    torch.manual_seed(0)
    feats = {k: torch.randn(n, 384) for k, n in (("part_state", 93), ("verb", 157), ("activity", 600))}
    graph = build_graph(evidence, feats)
    return [
        ActivityGNN(graph, GNNConfig(hidden=3, query_hidden=5)),
        MLPReasoner(graph, MLPConfig(hidden=7)),
        LinearReasoner(graph),
        RuleReasoner(graph),
    ]


@pytest.fixture(scope="module")
def small_evidence() -> Evidence:
    return Evidence.from_examples(*tensors(40, seed=1))


def test_forward_backward(small_evidence: Evidence) -> None:
    x, y = tensors(6, seed=2)
    for model in _models(small_evidence):
        logits = model(x)
        assert logits.shape == (6, 600), type(model).__name__
        assert torch.isfinite(logits).all()
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:  # the rule reasoner is training-free
            assert isinstance(model, RuleReasoner)
            continue
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y)
        if isinstance(model, ActivityGNN):  # the verb read-out only feeds the verb loss
            loss = loss + model.forward_with_verbs(x)[1].square().mean()
        loss.backward()  # type: ignore[no-untyped-call, unused-ignore]
        grads = [p.grad for p in params]
        assert all(g is not None for g in grads), type(model).__name__
        assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0


def test_gnn_edge_weights_start_from_evidence(small_evidence: Evidence) -> None:
    gnn = _models(small_evidence)[0]
    assert isinstance(gnn, ActivityGNN)
    graph = build_graph(small_evidence)
    npmi = small_evidence.npmi_part_state_verb()
    src, slot = gnn.ps_verb_index
    verbs = gnn.used_verbs[slot]
    assert torch.allclose(gnn.ps_verb_weight.detach(), npmi[src, verbs])
    assert gnn.ps_act_weight.numel() == graph["part_state", "evidence", "activity"].edge_index.shape[1]


def test_gnn_verb_logits_and_unseen_activities_read_their_verb(small_evidence: Evidence) -> None:
    gnn = _models(small_evidence)[0]
    assert isinstance(gnn, ActivityGNN)
    x, _ = tensors(5, seed=3)
    logits, verb_logits = gnn.forward_with_verbs(x)
    assert verb_logits.shape == (5, gnn.used_verbs.numel())
    w = gnn.weights()
    unseen = (~gnn.seen).nonzero()[:, 0]
    assert unseen.numel() > 0
    # an activity without training examples is read out through its verb alone
    assert torch.allclose(w.act_query[unseen], w.verb_query[gnn.verb_slot[unseen]])
    assert torch.allclose(w.act_evidence[:, unseen], w.verb_evidence[:, gnn.verb_slot[unseen]])
    # ... so two unseen activities of one verb differ only by their object term
    verb_term = logits - w.gate * x[:, 103:][:, gnn.object_of] - w.act_bias
    a, b = [int(i) for i in unseen if gnn.verb_slot[i] == gnn.verb_slot[unseen[0]]][:2]
    assert torch.allclose(verb_term[:, a], verb_term[:, b], atol=1e-5)


def test_relu_path_fraction_by_hand() -> None:
    z = torch.tensor([2.0, -2.0, 1.0, -1.0, 0.5])
    c = torch.tensor([-2.0, 2.0, 1.0, -1.0, 0.5])
    # crosses zero half-way (twice), stays on, stays off, stays on (no change)
    assert relu_path_fraction(z, c).tolist() == [0.5, 0.5, 1.0, 0.0, 1.0]


def _riemann_ig(model: nn.Module, x: torch.Tensor, act: int, steps: int = 2000) -> torch.Tensor:
    alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    path = (alphas[:, None] * x.double()[None, :]).float().requires_grad_(True)
    out = model(path)[:, act].sum()
    (grad,) = torch.autograd.grad(out, path)
    return x * grad.mean(0)


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_attribution_is_complete_and_equals_integrated_gradients(
    small_evidence: Evidence, index: int
) -> None:
    model = _models(small_evidence)[index]
    with torch.no_grad():  # make the non-linear units cross zero along the path
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    x, _ = tensors(4, seed=4)
    logits = model(x).detach()
    acts = logits.topk(3, dim=1).indices
    attr = model.attribute(x, acts)
    total = attr.total()
    assert total.shape == (4, 3, 183)
    # completeness: baseline + contributions == logit
    assert torch.allclose(attr.baseline + total.sum(-1), logits.gather(1, acts), atol=1e-4)
    # and it is integrated gradients (checked against a fine Riemann sum)
    ig = _riemann_ig(model, x[1], int(acts[1, 0]))
    assert torch.allclose(total[1, 0], ig, atol=2e-3), (total[1, 0] - ig).abs().max()
    # contributions only on channels that are present
    assert (total[x[:, None, :].expand_as(total) == 0] == 0).all()
