from __future__ import annotations

import pytest
import torch
from torch_geometric.explain import CaptumExplainer, GNNExplainer
from torch_geometric.explain.metric import fidelity

from ontology.errors import ReasoningError
from reasoning import ActivityReasoner, Evidence, LinearReasoner
from reasoning.fidelity import (
    DEFAULT_STRATA,
    exact_scores,
    explained_activities,
    interacting_part_states,
    npmi_scores,
    npmi_table,
    pyg_fidelity,
    pyg_scores,
    random_scores,
    ranking,
    run_fidelity,
    summarize,
    top_sets,
)
from reasoning.pyg_adapter import GivenMask, ReasonerAdapter, person_graph, pyg_explainer
from tests.reasoning.synthetic import tensors

# the hand-built linear case: activity 0 reads five channels with these weights; channel 4
# is active with weight 0, so the exact contributions are (3, 2, -1, 0.5, 0), their sum 4.5
CHANNELS = [0, 1, 2, 3, 4]
WEIGHTS = [3.0, 2.0, -1.0, 0.5, 0.0]
BIAS = -1.0


@pytest.fixture(scope="module")
def linear() -> ActivityReasoner:
    """``logit_0 = 3 x0 + 2 x1 - x2 + 0.5 x3 - 1``; activity 1 is a constant 1.5 (it overtakes
    activity 0 once the top input is removed); every other activity is -100."""
    model = LinearReasoner()
    with torch.no_grad():
        model.linear.weight.zero_()
        model.linear.bias.fill_(-100.0)
        model.linear.weight[0, CHANNELS] = torch.tensor(WEIGHTS)
        model.linear.bias[0] = BIAS
        model.linear.bias[1] = BIAS + 2.5
    evidence = Evidence.from_examples(torch.zeros(1, 183), torch.zeros(1, 600))
    return ActivityReasoner(model, evidence)


def _persons(n: int = 4) -> torch.Tensor:
    x = torch.zeros(n, 183)
    x[:, CHANNELS] = 1.0
    return x


def test_hand_built_curves_are_the_sums_of_the_top_contributions(linear: ActivityReasoner) -> None:
    x = _persons()
    act = explained_activities(linear, x)
    assert act.tolist() == [0, 0, 0, 0]
    ours = exact_scores(linear, x, act)
    assert ours[0, CHANNELS].tolist() == WEIGHTS
    run = run_fidelity(linear, x, {"ours": ours, "reversed": -ours})
    assert run.points == ("k=1", "k=2", "k=3", "k=4", "k=5", "25%", "50%", "75%")
    # ours removes 3, then 2, then 0.5, then 0, then -1 (ranked 0, 1, 3, 4, 2)
    comp = run.drops["ours"]["comprehensiveness_logit"][0]
    suff = run.drops["ours"]["sufficiency_logit"][0]
    expected_comp = [3.0, 5.0, 5.5, 5.5, 4.5]
    assert comp[:5].tolist() == pytest.approx(expected_comp)
    assert suff[:5].tolist() == pytest.approx([4.5 - c for c in expected_comp])
    # shares of 4.5: 25% (1.125) and 50% (2.25) are covered by the first input, 75% by two
    assert run.sizes[0, 5:].tolist() == [1, 1, 2]
    assert comp[5:].tolist() == pytest.approx([3.0, 3.0, 5.0])
    # the reversed ranking removes -1 first: the logit goes up
    assert run.drops["reversed"]["comprehensiveness_logit"][0, 0] == pytest.approx(-1.0)
    # probabilities: sigmoid of the logits before and after
    p = torch.sigmoid(torch.tensor(3.5))
    assert float(run.drops["ours"]["comprehensiveness_prob"][0, 0]) == pytest.approx(
        float(p - torch.sigmoid(torch.tensor(0.5))), abs=1e-6
    )


def test_verdicts_tell_a_good_ranking_from_a_bad_one(linear: ActivityReasoner) -> None:
    x = _persons(6) * torch.linspace(0.5, 1.0, 6)[:, None]  # six persons, different strengths
    act = explained_activities(linear, x)
    ours = exact_scores(linear, x, act)
    run = run_fidelity(linear, x, {"ours": ours, "copy": ours.clone(), "reversed": -ours})
    summary = summarize(run, DEFAULT_STRATA)
    verdicts = summary["all"]["verdicts"]
    for measure in ("comprehensiveness_logit", "sufficiency_logit"):
        assert verdicts["copy"][measure]["k"]["verdict"] == "ties"
        assert verdicts["reversed"][measure]["k"]["verdict"] == "loses"
    # channels 0-4 are five foot states, none of them "no_interaction": stratum 4+
    assert interacting_part_states(x).tolist() == [5] * 6
    assert summary["4+"]["persons"] == 6 and summary["0"]["persons"] == 0
    assert summary["0"]["verdicts"]["reversed"]["comprehensiveness_logit"]["k"]["verdict"] == "n/a"


def test_only_active_inputs_are_ever_chosen() -> None:
    scores = torch.tensor([[9.0, 1.0, 5.0, 8.0], [0.0, 0.0, 0.0, 0.0]])
    active = torch.tensor([[False, True, True, False], [True, True, True, True]])
    order = ranking(scores, active)
    assert order[0, :2].tolist() == [2, 1]  # 9 and 8 are inactive
    assert order[1].tolist() == [0, 1, 2, 3]  # ties in channel order
    chosen = top_sets(order, torch.tensor([2, 1]))
    assert chosen.tolist() == [[False, True, True, False], [True, False, False, False]]
    with pytest.raises(ReasoningError, match="NaN"):
        ranking(torch.full((1, 4), float("nan")), torch.ones(1, 4, dtype=torch.bool))


def test_k_is_capped_at_the_active_inputs_and_removing_all_of_ours_gives_the_baseline(
    trained_gnn: ActivityReasoner,
) -> None:
    x, _ = tensors(40, seed=5)
    act = explained_activities(trained_gnn, x)
    ours = exact_scores(trained_gnn, x, act)
    big = int((x != 0).sum(1).max())
    run = run_fidelity(trained_gnn, x, {"ours": ours}, ks=(1, big), shares=(1.0,))
    assert run.sizes[:, 1].tolist() == (x != 0).sum(1).tolist()
    everything = run.drops["ours"]["comprehensiveness_logit"][:, 1]
    # exactness: every active input removed = logit(0), and the contributions sum to the drop
    assert torch.allclose(everything, run.logit - run.baseline, atol=1e-4)
    assert torch.allclose(ours.sum(1), everything, atol=1e-4)
    assert torch.allclose(run.drops["ours"]["sufficiency_logit"][:, 1], torch.zeros(40), atol=1e-4)


def test_ours_beats_random_and_the_npmi_ranking_on_the_synthetic_model(
    trained_gnn: ActivityReasoner, synthetic: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, _ = tensors(200, seed=6)
    act = explained_activities(trained_gnn, x)
    scores = {
        "ours": exact_scores(trained_gnn, x, act),
        "npmi": npmi_scores(npmi_table(*synthetic), act),
        "random": random_scores(x, seed=0),
    }
    summary = summarize(run_fidelity(trained_gnn, x, scores))
    verdicts = summary["all"]["verdicts"]
    for curve in ("k", "share"):
        assert verdicts["random"]["comprehensiveness_logit"][curve]["verdict"] == "loses"
        assert verdicts["random"]["sufficiency_logit"][curve]["verdict"] == "loses"
    for explainer in ("npmi", "random"):
        assert verdicts[explainer]["comprehensiveness_logit"]["k"]["verdict"] in ("ties", "loses")
    means = summary["all"]["curve_means"]
    assert means["ours"]["comprehensiveness_logit"]["k"] > means["random"]["comprehensiveness_logit"]["k"]


def test_npmi_scores_read_the_explained_activity_column() -> None:
    table = torch.arange(12.0).reshape(3, 4)  # 3 channels, 4 activities
    assert npmi_scores(table, torch.tensor([1, 3])).tolist() == [[1.0, 5.0, 9.0], [3.0, 7.0, 11.0]]


def test_the_adapter_lets_pyg_explainers_wrap_the_reasoner(trained_gnn: ActivityReasoner) -> None:
    x, _ = tensors(12, seed=7)
    adapter = ReasonerAdapter(trained_gnn)
    assert torch.allclose(adapter(*person_graph(x)), trained_gnn.logits(x), atol=1e-5)
    with pytest.raises(ReasoningError, match=r"\(N, 183\)"):
        adapter(torch.zeros(2, 10))
    explanation = pyg_explainer(trained_gnn, GNNExplainer(epochs=3))(*person_graph(x))
    assert explanation.node_mask.shape == (12, 183)
    assert explanation.target.tolist() == explained_activities(trained_gnn, x).tolist()
    assert bool((explanation.node_mask[x == 0] == 0).all())  # inactive inputs get no mask
    # PyG's CaptumExplainer through the adapter: integrated gradients, close to our exact ones
    ig = pyg_scores(trained_gnn, x, CaptumExplainer("IntegratedGradients", n_steps=64))
    ours = exact_scores(trained_gnn, x, explained_activities(trained_gnn, x))
    assert ig.shape == (12, 183)
    assert float((ig - ours).abs().sum() / ours.abs().sum()) < 0.02


def test_pyg_fidelity_of_hand_built_sets(linear: ActivityReasoner) -> None:
    x = _persons()
    act = explained_activities(linear, x)
    ours = exact_scores(linear, x, act)
    run = run_fidelity(linear, x, {"ours": ours, "reversed": -ours}, ks=(1, 2))
    metrics = pyg_fidelity(linear, x, run, ks=(1, 2))
    # ours' top input (weight 3) removed: activity 1 (1.5) overtakes 0 (0.5); kept alone: 2 > 1.5
    assert metrics["ours"]["k=1"] == {"fid+": 1.0, "fid-": 0.0, "characterization": 1.0}
    # reversed removes the -1 first: activity 0 stays on top (fid+ 0); kept alone it is -2 (fid- 1)
    assert metrics["reversed"]["k=1"]["fid+"] == 0.0 and metrics["reversed"]["k=1"]["fid-"] == 1.0
    # the GivenMask route is PyG's own fidelity on a 0/1 node mask
    keep_all = pyg_explainer(linear, GivenMask((x != 0).float()))
    assert fidelity(keep_all, keep_all(*person_graph(x))) == (1.0, 0.0)
