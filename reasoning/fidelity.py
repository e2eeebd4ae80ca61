"""Fidelity of explanations: comprehensiveness and sufficiency curves, explainers side by side.

The earlier deletion test (:mod:`reasoning.faithfulness`) removed 3 inputs on each side; on
HAKE, where a person has few active inputs, both sides removed most of the evidence and the
test could not tell a good ranking from a random one. This protocol (after ERASER, DeYoung
et al. 2020) measures whole curves, in strata, and runs every explainer on the same model and
the same persons.

The protocol, for each person (an input row ``x``, :mod:`reasoning.features`):

- **Explained activity** ``a``: the person's top-ranked activity (``argmax`` of the logits;
  also the target PyG's explainers pick, :mod:`reasoning.pyg_adapter`).
- **Candidates**: the active inputs (``x_i != 0``: part states, active body parts,
  objects). An explainer gives every input channel a score; its ranking is the candidates by
  score, highest first, ties in channel order. Inactive channels are never ranked.
- **Remove** an input: set it to 0, the model's baseline (our contributions are integrated
  gradients from the all-zero input).
- **Comprehensiveness** of a set ``S``: ``f(x) - f(x without S)`` (higher is better: the
  explanation found what the score needs). **Sufficiency gap**: ``f(x) - f(only S)``, every
  other input removed (lower is better: ``S`` alone keeps the score). ``f`` is the logit of
  ``a`` (``*_logit``) or its probability, the sigmoid of the logit (``*_prob``).
- **Sets** ``S``: an explainer's top-``k``, ``k = 1..5`` (at most the person's active inputs:
  the ``k`` curve); and its top-``k_s`` where ``k_s`` is the smallest number of inputs whose
  exact contributions (ours, largest first) sum to at least ``s`` of ``logit(x) - logit(0)``,
  ``s`` = 25, 50, 75% (the share curve). ``k_s`` is one budget per person for every
  explainer, so explainers compare at equal set sizes; persons with
  ``logit(x) <= logit(0)`` have no such set and are left out of the share curve.
- **Strata** by the number of active *interacting* part states: the ``no_interaction``
  state of each coarse part is not counted, because every HAKE image-level row has one state
  or ``no_interaction`` per coarse part (counting them, every person has 6 to 9).
  :data:`DEFAULT_STRATA`: 0, 1, 2, 3, 4+ (test split of hake-image, seed 0: 909, 3033, 2123,
  933 and 626 persons).
- **Curve summary** (AOPC, area over the perturbation curve): per person, the mean over the
  curve's points; an explainer is compared with the reference (ours) by the paired
  difference of these means: it **wins** when it is better by more than the tie margin and
  the 95% normal confidence interval of the mean difference excludes 0, **loses** in the
  mirror case, else **ties**. The tie margin is 1% of the reference's curve mean
  (:data:`TIE_SHARE`), at least 0.01 logits or 0.001 in probability (:data:`TIE_MARGINS`):
  differences smaller than that are equivalence, not a ranking.

Explainers here produce ``(N, 183)`` scores: :func:`exact_scores` (ours),
:func:`npmi_scores` (the evidence ranking), :func:`random_scores`, :func:`pyg_scores` (any
PyG algorithm through :mod:`reasoning.pyg_adapter`). Captum's methods run on the dense model
(``ReasonerAdapter`` is a plain ``forward(x)`` too); ``benchmarks/explanations.py`` runs them.

>>> import torch
>>> from reasoning.reasoner import ActivityReasoner
>>> reasoner = ActivityReasoner.from_pretrained()
>>> x = torch.zeros(3, 183); x[:, [3, 37, 66, 93 + 4, 103 + 4]] = 1.0; x[1, 37] = 0.0
>>> act = explained_activities(reasoner, x)
>>> run = run_fidelity(reasoner, x, {"ours": exact_scores(reasoner, x, act),
...                                  "random": random_scores(x, seed=0)})
>>> run.points
('k=1', 'k=2', 'k=3', 'k=4', 'k=5', '25%', '50%', '75%')
>>> comp = run.drops["ours"]["comprehensiveness_logit"]          # (N, P)
>>> bool(torch.allclose(comp[:, 4], run.logit - run.baseline, atol=1e-4))   # all removed: logit(0)
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

import ontology
from ontology.errors import ReasoningError
from reasoning.features import input_layout
from reasoning.graph import npmi
from reasoning.reasoner import ActivityReasoner

__all__ = [
    "DEFAULT_KS",
    "DEFAULT_SHARES",
    "DEFAULT_STRATA",
    "MEASURES",
    "TIE_MARGINS",
    "TIE_SHARE",
    "FidelityRun",
    "Stratum",
    "active_inputs",
    "exact_scores",
    "explained_activities",
    "interacting_part_states",
    "npmi_scores",
    "npmi_table",
    "pyg_fidelity",
    "pyg_scores",
    "random_scores",
    "ranking",
    "run_fidelity",
    "summarize",
    "top_sets",
]

#: Set sizes of the ``k`` curve.
DEFAULT_KS: tuple[int, ...] = (1, 2, 3, 4, 5)
#: Shares of ``logit(x) - logit(0)`` of the share curve.
DEFAULT_SHARES: tuple[float, ...] = (0.25, 0.5, 0.75)
#: The four measured quantities, per person and point.
MEASURES: tuple[str, ...] = (
    "comprehensiveness_logit",
    "comprehensiveness_prob",
    "sufficiency_logit",
    "sufficiency_prob",
)
#: Smallest tie margins: differences of curve means below these are ties, whatever the
#: confidence interval.
TIE_MARGINS: dict[str, float] = {"logit": 0.01, "prob": 0.001}
#: The tie margin as a share of the reference's curve mean (when larger than the floor).
TIE_SHARE = 0.01
_Z95 = 1.959964


@dataclass(frozen=True)
class Stratum:
    """Persons with ``low <= interacting part states <= high`` (``high`` None: no bound)."""

    name: str
    low: int
    high: int | None = None

    def __post_init__(self) -> None:
        if self.low < 0 or (self.high is not None and self.high < self.low):
            raise ReasoningError(
                f"Stratum {self.name!r}: expected 0 <= low <= high, got low={self.low}, high={self.high}"
            )

    def contains(self, counts: torch.Tensor) -> torch.Tensor:
        """Boolean ``(N,)`` membership of persons with these interacting part-state counts."""
        inside = counts >= self.low
        return inside if self.high is None else inside & (counts <= self.high)

    def describe(self) -> str:
        if self.high is None:
            return f">= {self.low}"
        return str(self.low) if self.high == self.low else f"{self.low}-{self.high}"


DEFAULT_STRATA: tuple[Stratum, ...] = (
    Stratum("0", 0, 0),
    Stratum("1", 1, 1),
    Stratum("2", 2, 2),
    Stratum("3", 3, 3),
    Stratum("4+", 4, None),
)


# ---- persons -----------------------------------------------------------------------------


def explained_activities(reasoner: ActivityReasoner, x: torch.Tensor) -> torch.Tensor:
    """Each person's top-ranked activity ``(N,)`` (``argmax`` of the logits)."""
    return reasoner.logits(x).argmax(1).cpu()


def active_inputs(x: torch.Tensor) -> torch.Tensor:
    """The candidates: ``x != 0``, ``(N, F)`` bool."""
    return x != 0


def interacting_part_states(x: torch.Tensor, onto: ontology.Ontology | None = None) -> torch.Tensor:
    """Active part states of each row that are not a ``no_interaction`` state, ``(N,)``.

    >>> x = torch.zeros(2, 183)
    >>> onto = ontology.load()
    >>> x[0, onto.part_states["hand: hold"].index] = 1.0
    >>> x[:, onto.part_states["foot: no_interaction"].index] = 1.0
    >>> interacting_part_states(x).tolist()
    [1, 0]
    """
    onto = ontology.load() if onto is None else onto
    lay = input_layout(onto)
    interacting = torch.tensor([not p.no_interaction for p in onto.part_states])
    return ((x[:, lay.part_states] != 0) & interacting).sum(1)


# ---- explainers --------------------------------------------------------------------------


def exact_scores(reasoner: ActivityReasoner, x: torch.Tensor, activities: torch.Tensor) -> torch.Tensor:
    """Ours: the exact contributions ``(N, F)`` of each input to ``activities`` ``(N,)``."""
    contributions, _ = reasoner.attribute_terms(x, activities[:, None])
    return contributions[:, 0, :].cpu()


def random_scores(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A seeded random ranking: uniform scores ``(N, F)``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(x.shape, generator=generator)


def npmi_table(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """NPMI of every (input channel, activity) pair over examples ``x`` ``(M, F)``, ``y``
    ``(M, A)`` (present: value > 0.5), with :func:`reasoning.graph.npmi`: the statistic
    of the graph's evidence edges, for body parts and objects too. Shapes: ``(F, A)``.

    >>> x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]); y = torch.tensor([[1.0], [1.0], [0.0]])
    >>> [round(v, 3) for v in npmi_table(x, y)[:, 0].tolist()]   # channel 0 always with it
    [1.0, -0.262]
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ReasoningError(
            f"npmi_table: expected x (M, F) and y (M, A) with the same M, "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    present, labels = (x > 0.5).float(), (y > 0.5).float()
    return npmi(present.T @ labels, present.sum(0), labels.sum(0), int(x.shape[0]))


def npmi_scores(table: torch.Tensor, activities: torch.Tensor) -> torch.Tensor:
    """The evidence ranking: each input's NPMI with the explained activity, ``(N, F)``
    (``table`` from :func:`npmi_table`)."""
    return table[:, activities].T.contiguous()


def pyg_scores(reasoner: ActivityReasoner, x: torch.Tensor, algorithm: Any) -> torch.Tensor:
    """A PyG explainer algorithm's node mask ``(N, F)`` (through :mod:`reasoning.pyg_adapter`),
    explaining each person's top-ranked activity."""
    from reasoning.pyg_adapter import pyg_node_mask

    return pyg_node_mask(reasoner, x, algorithm).cpu()


# ---- sets --------------------------------------------------------------------------------


def ranking(scores: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Channels ``(N, F)`` by score, highest first: the active ones, then the rest (ties in
    channel order).

    >>> ranking(torch.tensor([[0.1, 0.9, 0.5, 0.9]]), torch.tensor([[True, False, True, True]]))
    tensor([[3, 2, 0, 1]])
    """
    if scores.shape != active.shape:
        raise ReasoningError(f"ranking: scores {tuple(scores.shape)} and active {tuple(active.shape)} differ")
    if bool(torch.isnan(scores[active]).any()):
        raise ReasoningError("ranking: an explainer gave NaN scores to active inputs")
    keyed = scores.float().masked_fill(~active, float("-inf"))
    return torch.sort(keyed, dim=1, descending=True, stable=True).indices


def top_sets(order: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """Boolean ``(N, F)``: the first ``sizes[i]`` channels of each ranking ``order`` ``(N, F)``.

    >>> top_sets(torch.tensor([[3, 2, 0, 1], [0, 1, 2, 3]]), torch.tensor([2, 0]))
    tensor([[False, False,  True,  True],
            [False, False, False, False]])
    """
    position = torch.empty_like(order)
    position.scatter_(1, order, torch.arange(order.shape[1]).expand_as(order).contiguous())
    return position < sizes[:, None]


def share_sizes(
    contributions: torch.Tensor, active: torch.Tensor, delta: torch.Tensor, shares: Sequence[float]
) -> torch.Tensor:
    """The share budgets ``(N, S)``: per person and share ``s``, the smallest number of active
    inputs whose contributions, largest first, sum to at least ``s * delta``; 0 where
    ``delta <= 0`` (no such set).

    >>> c = torch.tensor([[2.0, 1.0, 1.0, 0.0], [1.0, -1.0, 0.0, 0.0]])
    >>> share_sizes(c, c != 0, c.sum(1), (0.25, 0.5, 0.75))
    tensor([[1, 1, 2],
            [0, 0, 0]])
    """
    ordered = contributions.float().masked_fill(~active, float("-inf")).sort(dim=1, descending=True).values
    ordered = ordered.masked_fill(~torch.isfinite(ordered), 0.0)
    cumulative = ordered.cumsum(1)  # (N, F)
    out = torch.zeros((contributions.shape[0], len(shares)), dtype=torch.long)
    for j, share in enumerate(shares):
        if not 0.0 < share <= 1.0:
            raise ReasoningError(f"share_sizes: shares must be in (0, 1], got {share!r}")
        reached = cumulative >= share * delta[:, None]
        size = reached.float().argmax(1) + 1
        out[:, j] = torch.where((delta > 0) & reached.any(1), size, 0)
    return out


# ---- the run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FidelityRun:
    """Per-person results of :func:`run_fidelity`.

    Attributes:
        points: the curve points, ``"k=1"``... then ``"25%"``...
        curves: the curve of each point (``"k"`` or ``"share"``).
        activities: ``(N,)`` explained activity; logit, baseline: ``(N,)`` its logit at
            ``x`` and at the all-zero input.
        n_active: ``(N,)`` active inputs; interacting: ``(N,)`` interacting part states.
        sizes: ``(N, P)`` set size per point (0: no set, the point is left out).
        drops: explainer -> measure (:data:`MEASURES`) -> ``(N, P)`` (NaN where size is 0).
        top: explainer -> ``(N, max k)`` its top channels (for :func:`pyg_fidelity`).
    """

    points: tuple[str, ...]
    curves: tuple[str, ...]
    activities: torch.Tensor
    logit: torch.Tensor
    baseline: torch.Tensor
    n_active: torch.Tensor
    interacting: torch.Tensor
    sizes: torch.Tensor
    drops: dict[str, dict[str, torch.Tensor]]
    top: dict[str, torch.Tensor]

    @property
    def explainers(self) -> tuple[str, ...]:
        return tuple(self.drops)


def _logit_of(reasoner: ActivityReasoner, x: torch.Tensor, activities: torch.Tensor) -> torch.Tensor:
    return reasoner.logits(x).cpu().gather(1, activities[:, None])[:, 0]


def run_fidelity(
    reasoner: ActivityReasoner,
    x: torch.Tensor,
    scores: Mapping[str, torch.Tensor],
    ks: Sequence[int] = DEFAULT_KS,
    shares: Sequence[float] = DEFAULT_SHARES,
    activities: torch.Tensor | None = None,
) -> FidelityRun:
    """Comprehensiveness and sufficiency of every explainer's sets (see the module docstring).

    Args:
        reasoner: the model explained.
        x: ``(N, F)`` persons' inputs.
        scores: explainer name -> ``(N, F)`` scores (higher: more important).
        ks: set sizes of the ``k`` curve; shares: shares of the share curve.
        activities: ``(N,)`` explained activities (default :func:`explained_activities`).
    """
    x = x.float().cpu()
    n, n_features = x.shape
    if not scores:
        raise ReasoningError("run_fidelity: expected at least one explainer's scores, got none")
    for name, value in scores.items():
        if value.shape != x.shape:
            raise ReasoningError(
                f"run_fidelity: scores of {name!r} have shape {tuple(value.shape)}, expected {tuple(x.shape)}"
            )
    if any(k < 1 for k in ks):
        raise ReasoningError(f"run_fidelity: set sizes must be >= 1, got {list(ks)}")
    acts = explained_activities(reasoner, x) if activities is None else activities.cpu()
    active = active_inputs(x)
    n_active = active.sum(1)
    contributions, baseline = reasoner.attribute_terms(x, acts[:, None])
    baseline = baseline[:, 0].cpu()
    logit = _logit_of(reasoner, x, acts)
    delta = logit - baseline
    k_sizes = torch.stack([n_active.clamp(max=k) for k in ks], 1)
    sizes = torch.cat([k_sizes, share_sizes(contributions[:, 0].cpu(), active, delta, shares)], 1)
    points = tuple(f"k={k}" for k in ks) + tuple(f"{round(100 * s)}%" for s in shares)
    curves = ("k",) * len(ks) + ("share",) * len(shares)
    prob = torch.sigmoid(logit)
    drops: dict[str, dict[str, torch.Tensor]] = {}
    top: dict[str, torch.Tensor] = {}
    for name, value in scores.items():
        order = ranking(value.cpu(), active)
        top[name] = order[:, : min(max(ks), n_features)]
        out = {m: torch.full((n, len(points)), float("nan")) for m in MEASURES}
        for j in range(len(points)):
            chosen = top_sets(order, sizes[:, j]) & active
            valid = sizes[:, j] > 0
            removed = _logit_of(reasoner, x.masked_fill(chosen, 0.0), acts)
            kept = _logit_of(reasoner, x.masked_fill(~chosen, 0.0), acts)
            for measure, after in (("comprehensiveness", removed), ("sufficiency", kept)):
                out[f"{measure}_logit"][valid, j] = (logit - after)[valid]
                out[f"{measure}_prob"][valid, j] = (prob - torch.sigmoid(after))[valid]
        drops[name] = out
    return FidelityRun(
        points=points,
        curves=curves,
        activities=acts,
        logit=logit,
        baseline=baseline,
        n_active=n_active,
        interacting=interacting_part_states(x, reasoner.ontology),
        sizes=sizes,
        drops=drops,
        top=top,
    )


# ---- summaries ---------------------------------------------------------------------------


def _verdict(diff: torch.Tensor, higher_is_better: bool, margin: float) -> dict[str, Any]:
    """Paired comparison of an explainer with the reference: ``diff`` = theirs - reference.

    >>> _verdict(torch.tensor([0.5, 0.7, 0.6]), higher_is_better=True, margin=0.1)["verdict"]
    'wins'
    >>> _verdict(torch.tensor([0.5, 0.7, 0.6]), higher_is_better=False, margin=0.1)["verdict"]
    'loses'
    >>> _verdict(torch.tensor([0.5, -0.5, 0.1]), higher_is_better=True, margin=0.01)["verdict"]
    'ties'
    >>> v = _verdict(torch.tensor([0.010, 0.011, 0.012]), higher_is_better=False, margin=0.1)
    >>> v["verdict"], v["significant"], v["ahead"]      # a real difference, within the margin
    ('ties', True, 'reference')
    """
    n = int(diff.numel())
    if n < 2:
        return {
            "verdict": "n/a",
            "diff": None,
            "ci95": None,
            "margin": round(margin, 5),
            "significant": False,
            "ahead": None,
            "persons": n,
        }
    mean = float(diff.mean())
    half = _Z95 * float(diff.std()) / math.sqrt(n)
    gain = mean if higher_is_better else -mean
    if gain > margin and gain - half > 0:
        verdict = "wins"
    elif gain < -margin and gain + half < 0:
        verdict = "loses"
    else:
        verdict = "ties"
    return {
        "verdict": verdict,
        "diff": round(mean, 5),
        "ci95": round(half, 5),
        "margin": round(margin, 5),
        "significant": abs(mean) > half,
        "ahead": None if abs(mean) <= half else ("theirs" if gain > 0 else "reference"),
        "persons": n,
    }


def _curve_means(values: torch.Tensor, columns: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per person, the mean over the valid points of a curve, and which persons have one."""
    part = values[:, columns]
    valid = ~torch.isnan(part)
    has = valid.any(1)
    means = torch.where(valid, part, 0.0).sum(1) / valid.sum(1).clamp(min=1)
    return means, has


def summarize(
    run: FidelityRun,
    strata: Sequence[Stratum] = DEFAULT_STRATA,
    reference: str = "ours",
    margins: Mapping[str, float] = TIE_MARGINS,
    tie_share: float = TIE_SHARE,
) -> dict[str, Any]:
    """Means per stratum, explainer, measure and point; curve means (AOPC); verdicts against
    ``reference`` (see the module docstring; tie margin ``max(margins[unit], tie_share *
    |reference's curve mean|)``). Stratum ``"all"`` comes first. JSON-ready.

    Returns:
        stratum -> ``persons``, ``persons_per_point``, ``mean_set_size`` (point ->),
        ``means`` (explainer -> measure -> point ->), ``curve_means`` (explainer -> measure
        -> curve ->) and ``verdicts`` (explainer -> measure -> curve -> ``verdict``,
        ``diff`` theirs minus reference, ``ci95`` half-width, ``margin``, ``significant``: the
        interval excludes 0, which a tie within the margin may too, ``ahead``: ``"theirs"``
        or ``"reference"`` when significant, ``persons``).
    """
    if reference not in run.drops:
        raise ReasoningError(
            f"summarize: the reference explainer {reference!r} is not in the run; "
            f"expected one of {list(run.drops)}"
        )
    groups: list[tuple[str, str, torch.Tensor]] = [
        ("all", "every person", torch.ones(run.logit.shape[0], dtype=torch.bool))
    ]
    groups += [(s.name, s.describe(), s.contains(run.interacting)) for s in strata]
    curve_names = list(dict.fromkeys(run.curves))
    columns = {c: [j for j, name in enumerate(run.curves) if name == c] for c in curve_names}
    out: dict[str, Any] = {}
    for name, description, members in groups:
        sizes = run.sizes[members]
        entry: dict[str, Any] = {
            "interacting_part_states": description,
            "persons": int(members.sum()),
            "persons_per_point": {p: int((sizes[:, j] > 0).sum()) for j, p in enumerate(run.points)},
            "mean_set_size": {p: _positive_mean(sizes[:, j]) for j, p in enumerate(run.points)},
            "means": {},
            "curve_means": {},
            "verdicts": {},
        }
        for explainer, drops in run.drops.items():
            mine = {m: drops[m][members] for m in MEASURES}
            entry["means"][explainer] = {
                m: {p: _nanmean(mine[m][:, j]) for j, p in enumerate(run.points)} for m in MEASURES
            }
            entry["curve_means"][explainer] = {
                m: {c: _mean_of(*_curve_means(mine[m], columns[c])) for c in curve_names} for m in MEASURES
            }
            if explainer != reference:
                entry["verdicts"][explainer] = {
                    m: {
                        c: _compare(
                            mine[m], run.drops[reference][m][members], columns[c], m, margins, tie_share
                        )
                        for c in curve_names
                    }
                    for m in MEASURES
                }
        out[name] = entry
    return out


def _compare(
    theirs: torch.Tensor,
    reference: torch.Tensor,
    columns: list[int],
    measure: str,
    margins: Mapping[str, float],
    tie_share: float,
) -> dict[str, Any]:
    """The verdict of one explainer against the reference on one curve of one measure."""
    mine, has = _curve_means(theirs, columns)
    ref, has_ref = _curve_means(reference, columns)
    both = has & has_ref
    scale = abs(float(ref[both].mean())) if bool(both.any()) else 0.0
    return _verdict(
        mine[both] - ref[both],
        higher_is_better=measure.startswith("comprehensiveness"),
        margin=max(margins[measure.rsplit("_", 1)[1]], tie_share * scale),
    )


def _mean_of(means: torch.Tensor, has: torch.Tensor) -> float | None:
    return round(float(means[has].mean()), 5) if bool(has.any()) else None


def _nanmean(values: torch.Tensor) -> float | None:
    valid = values[~torch.isnan(values)]
    return round(float(valid.mean()), 5) if valid.numel() else None


def _positive_mean(sizes: torch.Tensor) -> float | None:
    chosen = sizes[sizes > 0]
    return round(float(chosen.float().mean()), 3) if chosen.numel() else None


# ---- PyG's metrics -----------------------------------------------------------------------


def pyg_fidelity(
    reasoner: ActivityReasoner, x: torch.Tensor, run: FidelityRun, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, dict[str, dict[str, float]]]:
    """PyG's ``fidelity`` and ``characterization_score`` of every explainer's top-``k`` sets.

    Each set becomes a 0/1 node mask (:class:`~reasoning.pyg_adapter.GivenMask`) and goes
    through ``torch_geometric.explain.metric.fidelity`` with the adapter's explainer
    (model explanations, argmax target): ``fid+`` is the share of persons whose top-ranked
    activity changes when the set is removed (higher is better), ``fid-`` the share whose
    top-ranked activity changes when only the set is kept (lower is better), and the
    characterization score their weighted harmonic mean (weights 0.5, 0.5; higher is better).

    These ask whether the *ranking of activities* survives, not how much of the explained
    logit a set carries: a set that carries most of the logit but also every rival's (an
    object shared by all activities of that object) scores a high ``fid-``.

    Returns:
        explainer -> ``"k=1"``... -> ``{"fid+", "fid-", "characterization"}``.
    """
    from torch_geometric.explain.metric import (  # type: ignore[import-untyped, unused-ignore]
        characterization_score,
        fidelity,
    )

    from reasoning.pyg_adapter import GivenMask, person_graph, pyg_explainer

    x = x.float().cpu()
    active = active_inputs(x)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for explainer_name, top in run.top.items():
        out[explainer_name] = {}
        for k in ks:
            if k > top.shape[1]:
                raise ReasoningError(
                    f"pyg_fidelity: the run kept {top.shape[1]} ranked channels, k={k} asks for more"
                )
            mask = torch.zeros_like(x)
            mask.scatter_(1, top[:, :k], 1.0)
            mask = mask * active  # only active inputs are ever chosen
            explainer = pyg_explainer(reasoner, GivenMask(mask))
            explanation = explainer(*person_graph(x))
            pos, neg = fidelity(explainer, explanation)
            charact = characterization_score(torch.tensor(pos), torch.tensor(neg))
            out[explainer_name][f"k={k}"] = {
                "fid+": round(float(pos), 5),
                "fid-": round(float(neg), 5),
                "characterization": round(float(charact), 5),
            }
    return out
