from __future__ import annotations

import pytest
import torch

from reasoning import ActivityReasoner, deletion_test
from tests.reasoning.synthetic import tensors


def test_top3_deletion_beats_random_deletion(trained_gnn: ActivityReasoner) -> None:
    # 3 characteristic part states and 5 noise states per example
    x, _ = tensors(300, seed=11, noise=5)
    result = deletion_test(trained_gnn, x, k=3, seed=0)
    assert result.persons == 300
    assert 0 < result.random_drop < result.top_drop <= 1
    assert result.ratio >= 3.0, result


def test_explanation_ranking_is_what_makes_the_drop(trained_gnn: ActivityReasoner) -> None:
    # deleting the 3 *lowest*-ranked active part states must hurt less than random ones:
    # the ranking carries the information, not the number of deletions
    x, _ = tensors(300, seed=12, noise=5)
    probs = trained_gnn.scores(x)
    top1 = probs.argmax(1, keepdim=True)
    contrib = trained_gnn.attribute(x, top1).total()[:, 0, :93]
    active = x[:, :93] > 0.5
    low = contrib.masked_fill(~active, float("inf")).topk(3, dim=1, largest=False).indices
    x_low = x.clone()
    x_low[:, :93] = x_low[:, :93].scatter(1, low, 0.0)
    low_drop = float((probs.gather(1, top1) - trained_gnn.scores(x_low).gather(1, top1)).mean())
    result = deletion_test(trained_gnn, x, k=3, seed=0)
    assert low_drop < result.random_drop


def test_deletion_test_needs_enough_active_states(trained_gnn: ActivityReasoner) -> None:
    with pytest.raises(ValueError, match="more than 3 active part states"):
        deletion_test(trained_gnn, torch.zeros(4, 183))
