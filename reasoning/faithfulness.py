"""Deletion test of explanation faithfulness.

For each person, take the activity the reasoner ranks first; delete (set to 0) the 3 part
states that its explanation ranks highest, and separately 3 part states drawn at random from
the person's active ones; compare the drops of the activity's probability. A faithful
explanation makes the first drop far larger (the issue's target: at least 3x).

Only persons with more than 3 active part states are used (otherwise "top 3" and "random 3"
would be the same set).

Two readings of "the top-3 contributors":

- ``contributors="part_states"`` (default, the stricter test): the explanation's 3 highest
  part states, so both sides delete part states only;
- ``contributors="all"``: the explanation's 3 highest inputs of any kind (part states, active
  body parts, objects), against 3 random active part states, as the issue words it.

On HAKE image-level data nearly every image has exactly one active state per coarse part
(6, counting the ``no_interaction`` states), so 3 random deletions remove half the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ontology.errors import ReasoningError
from reasoning.features import part_state_slice
from reasoning.reasoner import ActivityReasoner

__all__ = ["DeletionResult", "deletion_test"]


@dataclass(frozen=True)
class DeletionResult:
    """Mean probability drops (in [0, 1]) and their ratio.

    Attributes:
        top_drop: mean drop after deleting the 3 highest-ranked part states.
        random_drop: mean drop after deleting 3 random active part states.
        ratio: ``top_drop / random_drop`` (``inf`` when the random drop is 0).
        persons: how many persons were tested.
    """

    top_drop: float
    random_drop: float
    ratio: float
    persons: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "top3_drop": round(self.top_drop, 4),
            "random3_drop": round(self.random_drop, 4),
            "ratio": round(self.ratio, 2),
            "persons": self.persons,
        }


@torch.no_grad()
def deletion_test(
    reasoner: ActivityReasoner,
    x: torch.Tensor,
    k: int = 3,
    seed: int = 0,
    active_threshold: float = 0.5,
    contributors: str = "part_states",
) -> DeletionResult:
    """Run the deletion test on input rows ``x`` ``(N, 183)``.

    Args:
        reasoner: the model whose explanations are tested.
        x: persons' inputs (see :mod:`reasoning.features`).
        k: how many inputs to delete on each side.
        seed: seeds the random deletions.
        active_threshold: a part state with probability above this is "active".
        contributors: ``"part_states"`` or ``"all"`` (see the module docstring).
    """
    if contributors not in ("part_states", "all"):
        raise ReasoningError(f"contributors must be 'part_states' or 'all', got {contributors!r}")
    ps = part_state_slice()
    active = x[:, ps] > active_threshold
    keep = active.sum(1) > k
    x = x[keep].float()
    active = active[keep]
    if x.shape[0] == 0:
        raise ReasoningError(
            f"deletion_test: no person has more than {k} active part states; pass more persons"
        )
    probs = reasoner.scores(x)
    top1 = probs.argmax(1, keepdim=True)  # (N, 1)
    base = probs.gather(1, top1)[:, 0]
    contrib = reasoner.attribute(x, top1).total()[:, 0, :].cpu()  # (N, 183)
    present = x > active_threshold
    if contributors == "part_states":
        present[:, ps.stop :] = False
    top_idx = contrib.masked_fill(~present, float("-inf")).topk(k, dim=1).indices
    gen = torch.Generator().manual_seed(seed)
    noise = torch.rand(active.shape, generator=gen).masked_fill(~active, -1.0)
    rand_idx = noise.topk(k, dim=1).indices

    def drop(idx: torch.Tensor) -> torch.Tensor:
        x_del = x.scatter(1, idx, 0.0)  # idx are input channels (random ones: part states)
        after = reasoner.scores(x_del).gather(1, top1)[:, 0]
        return base - after

    top_drop = float(drop(top_idx).mean())
    random_drop = float(drop(rand_idx).mean())
    ratio = top_drop / random_drop if random_drop > 0 else float("inf")
    return DeletionResult(top_drop, random_drop, ratio, int(x.shape[0]))
