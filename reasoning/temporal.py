"""Temporal reasoning: a track's per-frame part states ``(T, F)`` -> per-frame activity
scores, activity segments and a clip label, batched over tracks, with exact explanations.

Every design starts from the per-frame reasoner (:class:`~reasoning.ActivityReasoner`): its
activity logits ``z[t]`` of each observed frame. Designs (:data:`DESIGNS`):

- ``"frame"``: per-frame reasoning, the baseline. A frame's scores are ``sigmoid(z[t])``
  (0 where the frame is missing); a frame does its top activity when that scores at least
  :attr:`TemporalConfig.background`, nothing otherwise; runs of one activity are segments.
- ``"smooth"``: ``p[t] = sum_u w[t, u] sigmoid(z[u])``, a centred moving average of the
  probabilities over :attr:`TemporalConfig.window` frames taken over the *observed* frames
  only (missing frames are filled from their neighbours; a frame with no observed neighbour
  in the window scores 0), then Viterbi decoding over each track's
  :attr:`TemporalConfig.candidates` best activities and a "nothing" state: a frame's
  evidence for a state is the log-softmax over the states of their logits (``logit(p[t, a])``
  for an activity, ``logit(background)`` for nothing), so it says which state is likeliest
  there even when every score is low (weak detections); the path maximises the sum of the
  evidence minus :attr:`TemporalConfig.switch_penalty` per change; segments shorter than
  :attr:`TemporalConfig.min_frames` are dropped. (Averaging logits instead was measured and
  lost: one frame whose object was not detected has a logit near -10 and drags its
  neighbours down; clip top-1 fell from 41 to 23-29 on the simulation.)
- ``"tcn"``: ``"smooth"`` plus a small learned temporal convolution (:class:`TemporalHead`,
  dilated 1-D convolutions shared by all activities) that adds a correction ``d[t, a]`` to
  the logits ``logit(p[t])`` of the candidates, from their own sequence, the frames'
  presence and the competing candidates; trained on tracks (:func:`fit_temporal_head`).
  Same decoding.

A segment's score is the mean probability over its scored frames; a clip's scores are the
mean of its frames' scores, and its label is the best one.

**Explanations** (:meth:`TemporalReasoner.explain_segment`) add up exactly to the segment's
score. Smoothing is linear in the frames' probabilities, so

    score = sum_u W[u] sigmoid(z[u]) + context

with ``W[u]`` the weight of observed frame ``u`` in the segment (``mean_t w[t, u]`` over its
scored frames ``t``) and ``context`` the learned head's part (``"tcn"`` only: the segment's
score minus the same without the head). That is each frame's share. Each frame's
probability is split over the input terms by the GNN's exact logit attribution
(``z[u] = b[u] + sum_f c[u, f]``) with the rescale rule: term ``f`` gets
``c[u, f] / (z[u] - b[u]) * (sigmoid(z[u]) - sigmoid(b[u]))`` and ``sigmoid(b[u])`` is the
frame's baseline, so baseline + terms + context == score.

Which design is the default was measured (``benchmarks/temporal.py`` on SIMULATED tracks,
:mod:`reasoning.simulation`), not assumed: ``"tcn"`` (:data:`DEFAULT_DESIGN`) had the best
frame mAP and segment F1 at every noise level and is the packaged checkpoint
(``TemporalReasoner.from_pretrained()``); ``"smooth"`` came second and is what runs over a
reasoner the head was not trained on. At the default noise level, on 600 test tracks
(64,561 frames), frame mAP / segment F1 at IoU 0.5 / clip top-1 were: ``"frame"`` 42.60 /
0.29 / 41.67, ``"smooth"`` 71.56 / 53.09 / 43.00, ``"tcn"`` 78.96 / 54.28 / 45.33 (SIMULATED;
the packaged head's numbers at every level are in its model card).

>>> import torch, reasoning
>>> tr = TemporalReasoner(reasoning.ActivityReasoner.from_pretrained())
>>> x = torch.zeros(1, 12, tr.reasoner.layout.n_features)
>>> result = tr.run(x, torch.ones(1, 12, dtype=torch.bool))
>>> result.scores.shape, len(result.segments)
(torch.Size([1, 12, 600]), 1)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ontology import ActivitySegment, ClipLabel, Ontology, PersonObservation
from ontology.errors import ReasoningError
from reasoning.reasoner import ActivityReasoner

__all__ = [
    "DEFAULT_DESIGN",
    "DESIGNS",
    "Segment",
    "SegmentExplanation",
    "TemporalConfig",
    "TemporalHead",
    "TemporalReasoner",
    "TemporalResult",
    "TemporalStream",
    "TrackBatch",
    "default_temporal_path",
    "encode_tracks",
    "evaluate_temporal",
    "fit_temporal_head",
    "train_temporal",
]

#: The temporal designs compared (see the module docstring).
DESIGNS = ("frame", "smooth", "tcn")
#: The design that measured best on the simulation (benchmarks/temporal.py: best frame mAP
#: and segment F1 at every noise level), the packaged checkpoint's (:func:`default_temporal_path`).
DEFAULT_DESIGN = "tcn"


@dataclass(frozen=True)
class TemporalConfig:
    """Options of the temporal reasoner (see the module docstring for each)."""

    #: ``"smooth"`` by default: the best design that needs nothing trained (``"tcn"``,
    #: :data:`DEFAULT_DESIGN`, needs a head: :meth:`TemporalReasoner.from_pretrained`)
    design: str = "smooth"
    window: int = 9
    switch_penalty: float = 4.0
    background: float = 0.01
    min_frames: int = 3
    candidates: int = 10

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ReasoningError(
                f"TemporalConfig.design: expected one of {list(DESIGNS)}, got {self.design!r}"
            )
        if self.window < 1 or self.window % 2 == 0:
            raise ReasoningError(
                f"TemporalConfig.window: expected an odd number of frames >= 1, got {self.window!r}"
            )
        if self.switch_penalty < 0:
            raise ReasoningError(f"TemporalConfig.switch_penalty: expected >= 0, got {self.switch_penalty!r}")
        if not 0.0 < self.background < 1.0:
            raise ReasoningError(
                f"TemporalConfig.background: expected a probability in (0, 1), got {self.background!r}"
            )
        if self.min_frames < 1 or self.candidates < 1:
            raise ReasoningError(
                "TemporalConfig: min_frames and candidates must be >= 1, "
                f"got {self.min_frames!r}, {self.candidates!r}"
            )


@dataclass(frozen=True)
class Segment:
    """Track ``track`` (its index in the batch) doing activity index ``activity`` from frame
    ``start`` to ``end`` (both included); ``score`` is the sigmoid of its mean logit."""

    track: int
    activity: int
    start: int
    end: int
    score: float

    @property
    def frames(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class TemporalResult:
    """What :meth:`TemporalReasoner.run` returns.

    Shapes:
        scores: ``(N, T, K)`` per-frame activity probabilities; logits: the same before the
        sigmoid (``-inf`` where a frame has no score); clip: ``(N, K)`` per-track mean score;
        labels: ``(N, T)`` each frame's decoded activity (``-1``: none), before runs shorter
        than ``min_frames`` are dropped.
    ``segments[n]`` are track ``n``'s segments in time order.
    """

    scores: torch.Tensor
    logits: torch.Tensor
    clip: torch.Tensor
    labels: torch.Tensor
    segments: list[list[Segment]]
    design: str


@dataclass(frozen=True)
class SegmentExplanation:
    """Why a segment was found: shares of its score that add up exactly (module docstring).

    ``frames``: ``(frame, weight, share)`` per observed frame with a weight, the share being
    ``weight * sigmoid(z[frame])`` (the frames' shares add up to ``score - context``);
    ``terms``: ``(term id, share)`` per input channel with a non-zero share, largest
    magnitude first; ``baseline``: the frames' weighted baseline probabilities;
    ``context``: the learned head's part (0 but for ``"tcn"``).
    ``baseline + sum(terms) + context == score`` (to float precision).
    """

    segment: Segment
    score: float
    baseline: float
    context: float
    frames: list[tuple[int, float, float]]
    terms: list[tuple[str, float]] = field(default_factory=list)

    def top_terms(self, k: int = 5) -> list[tuple[str, float]]:
        return self.terms[:k]


class TemporalHead(nn.Module):
    """Dilated 1-D convolutions shared by all activities: a candidate's sequence of
    ``[smoothed logit, raw logit, observed, best other candidate's smoothed logit, track
    mean of its smoothed logit]`` (each 0 where the frame has no score, the raw logit 0
    where the frame was not observed) -> a correction to its smoothed logit per frame.

    Shapes:
        ``(B, 5, T)`` -> ``(B, T)``.
    """

    IN = 5

    def __init__(self, hidden: int = 32, kernel: int = 5) -> None:
        super().__init__()
        self.hidden = hidden
        self.kernel = kernel
        pad = kernel // 2
        self.layers = nn.ModuleList(
            [
                nn.Conv1d(self.IN, hidden, kernel, padding=pad),
                nn.Conv1d(hidden, hidden, kernel, padding=2 * pad, dilation=2),
                nn.Conv1d(hidden, hidden, kernel, padding=4 * pad, dilation=4),
            ]
        )
        self.out = nn.Conv1d(hidden, 1, 1)

    def forward(self, channels: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``valid`` ``(B, T)``: 1 inside the track; hidden states are zeroed past its end,
        as the convolutions' own zero padding would, so padding a track changes nothing."""
        mask = valid[:, None, :]
        h = channels
        for layer in self.layers:
            h = torch.relu(layer(h)) * mask  # (B, hidden, T)
        out: torch.Tensor = self.out(h).squeeze(1)
        return out


_EPS = 1e-7


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class TemporalReasoner:
    """Per-frame reasoner + a temporal design (:data:`DESIGNS`), batched over tracks.

    Args:
        reasoner: the per-frame reasoner whose logits every design starts from.
        config: the design and its options.
        head: the trained :class:`TemporalHead` (required by ``"tcn"``).
    """

    def __init__(
        self,
        reasoner: ActivityReasoner,
        config: TemporalConfig | None = None,
        head: TemporalHead | None = None,
    ) -> None:
        self.reasoner = reasoner
        self.config = config or TemporalConfig()
        if self.config.design == "tcn" and head is None:
            raise ReasoningError(
                "design 'tcn' needs a trained TemporalHead: fit one with reasoning.fit_temporal_head"
            )
        self.head = None if head is None else head.eval()
        #: the activities segments and clip labels may name: the atomic ones (a composite's
        #: score is its best descendant's, so it would tie with it; the store's hierarchy
        #: gives the composites of what a track did)
        self.atomic = torch.tensor([level == "atomic" for level in reasoner.layout.activity_levels])

    @property
    def ontology(self) -> Ontology:
        return self.reasoner.ontology

    @property
    def name(self) -> str:
        return f"{self.reasoner.name}+{self.config.design}"

    # ---- per-frame logits and smoothing ----------------------------------------------

    def _check(self, x: torch.Tensor, present: torch.Tensor) -> None:
        n_f = self.reasoner.layout.n_features
        if x.ndim != 3 or x.shape[2] != n_f:
            raise ReasoningError(f"expected tracks of shape (N, T, {n_f}), got {tuple(x.shape)}")
        if present.shape != x.shape[:2] or present.dtype != torch.bool:
            raise ReasoningError(
                f"expected a boolean presence mask of shape {tuple(x.shape[:2])}, "
                f"got {tuple(present.shape)} {present.dtype}"
            )

    def frame_logits(self, x: torch.Tensor, present: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
        """The per-frame reasoner's logits ``(N, T, K)``; 0 where a frame is missing."""
        self._check(x, present)
        n, t, _ = x.shape
        out = torch.zeros(n, t, self.reasoner.layout.n_activities)
        rows = x[present]
        if rows.shape[0]:
            out[present] = torch.cat([self.reasoner.logits(c).cpu() for c in torch.split(rows, batch_size)])
        return out

    @property
    def half_window(self) -> int:
        """Frames on each side of a frame that its smoothed score averages (0 for ``"frame"``)."""
        return 0 if self.config.design == "frame" else self.config.window // 2

    def weights(self, present: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Smoothing weights ``w[t, u]`` of the frames ``rows`` ``(R,)`` of one track with
        presence ``present`` ``(T,)``: ``(R, T)``, each row summing to 1 (or 0 where frame
        ``t`` has no observed frame in its window); ``"frame"``: the identity on observed
        frames. (Only the rows asked for: a long track's ``(T, T)`` would not fit.)"""
        idx = torch.arange(present.shape[0])
        w = ((rows[:, None] - idx[None, :]).abs() <= self.half_window).double() * present[None, :].double()
        total = w.sum(-1, keepdim=True)
        return torch.where(total > 0, w / total.clamp(min=1e-12), torch.zeros((), dtype=torch.float64))

    def _smooth(
        self, z: torch.Tensor, present: torch.Tensor, inside: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Smoothed logits ``(N, T, K)`` and which frames have a score ``(N, T)`` (frames
        outside ``inside``, past a track's end, have none): the mean probability over the
        observed frames of each window, by running sums (linear in ``T``)."""
        h = self.half_window
        t = z.shape[1]
        mask = present.double()[..., None]  # (N, T, 1)
        p = torch.sigmoid(z.double()) * mask
        hi = torch.arange(t).add(h + 1).clamp(max=t)
        lo = torch.arange(t).sub(h).clamp(min=0)

        def window_sum(v: torch.Tensor) -> torch.Tensor:  # sum of v over frames [t - h, t + h]
            c = torch.nn.functional.pad(v.cumsum(1), (0, 0, 1, 0))  # c[:, i] = sum of v[:, :i]
            return c[:, hi] - c[:, lo]

        den = window_sum(mask)  # observed frames in each window
        has = den[..., 0] > 0.5
        if inside is not None:
            has &= inside
        mean = window_sum(p) / den.clamp(min=1.0)
        return torch.logit(mean.float().clamp(_EPS, 1 - _EPS)), has

    def _head_inputs(
        self, s: torch.Tensor, z: torch.Tensor, present: torch.Tensor, has: torch.Tensor, cand: torch.Tensor
    ) -> torch.Tensor:
        """``(N * C, 5, T)`` head inputs of each track's candidates ``cand`` ``(N, C)``; every
        channel is 0 at a frame without a score (and past a track's end), so a track padded
        in a batch gets what it gets alone."""
        n, t, _ = s.shape
        c = cand.shape[1]
        gather = cand[:, None, :].expand(n, t, c)
        scored = has[..., None].float()
        sc = s.gather(2, gather) * scored  # (N, T, C)
        zc = z.gather(2, gather) * present[..., None]
        top2 = sc.topk(min(2, c), dim=2).values
        best_other = torch.where(sc >= top2[..., :1], top2[..., -1:], top2[..., :1]) * scored
        mean = sc.sum(1, keepdim=True) / scored.sum(1, keepdim=True).clamp(min=1)
        pres = present[..., None].float().expand(n, t, c)
        stacked = torch.stack([sc, zc, pres, best_other, mean * scored], dim=-1)  # (N, T, C, 5)
        return stacked.permute(0, 2, 3, 1).reshape(n * c, TemporalHead.IN, t)

    @staticmethod
    def _valid(has: torch.Tensor, c: int) -> torch.Tensor:
        """``(N * C, T)``: 1 from a track's first to its last scored frame (the head's extent)."""
        n, t = has.shape
        idx = torch.arange(t)[None, :].expand(n, t)
        first = torch.where(has, idx, t).min(1, keepdim=True).values
        last = torch.where(has, idx, -1).max(1, keepdim=True).values
        valid = ((idx >= first) & (idx <= last)).float()
        return valid[:, None, :].expand(n, c, t).reshape(n * c, t)

    def candidates(self, s: torch.Tensor, has: torch.Tensor) -> torch.Tensor:
        """Each track's ``candidates`` activities ``(N, C)``: the best by mean smoothed
        probability over its scored frames."""
        p = torch.sigmoid(s) * has[..., None]
        mean = p.sum(1) / has.sum(1, keepdim=True).clamp(min=1)
        mean = mean.masked_fill(~self.atomic, -1.0)
        return mean.topk(min(self.config.candidates, int(self.atomic.sum())), dim=1).indices

    # ---- the whole pass ---------------------------------------------------------------

    @torch.no_grad()
    def run(
        self, x: torch.Tensor, present: torch.Tensor, length: torch.Tensor | None = None
    ) -> TemporalResult:
        """Scores, segments and clip scores of ``N`` tracks.

        Shapes:
            x: ``(N, T, F)`` input rows (:mod:`reasoning.features`); present: ``(N, T)``
            bool, the observed frames; length: ``(N,)`` frames per track (default ``T``).
        """
        z = self.frame_logits(x, present)
        return self.decode_logits(z, present, length)

    @torch.no_grad()
    def decode_logits(
        self, z: torch.Tensor, present: torch.Tensor, length: torch.Tensor | None = None
    ) -> TemporalResult:
        """:meth:`run` from per-frame logits ``z`` ``(N, T, K)`` already computed."""
        n, t, _ = z.shape
        length = torch.full((n,), t, dtype=torch.long) if length is None else length
        inside = torch.arange(t)[None, :] < length[:, None]
        present = present & inside
        s, has = self._smooth(z, present, inside)  # "frame": identity weights, s = z on observed frames
        d = self.corrections(s, z, present, has)
        refined = s + d
        logits = torch.where(has[..., None], refined, torch.full((), -math.inf))
        scores = torch.sigmoid(logits)
        clip = scores.sum(1) / length.clamp(min=1)[:, None].float()
        if self.config.design == "frame":
            labels, min_frames = self._per_frame_labels(scores, has), 1
        else:
            labels, min_frames = (
                self._viterbi(logits, has, inside, self.candidates(s, has)),
                self.config.min_frames,
            )
        segments = [self._runs(k, labels[k].tolist(), scores[k], has[k], min_frames) for k in range(n)]
        return TemporalResult(
            scores=scores,
            logits=logits,
            clip=clip,
            labels=labels,
            segments=segments,
            design=self.config.design,
        )

    def corrections(
        self, s: torch.Tensor, z: torch.Tensor, present: torch.Tensor, has: torch.Tensor
    ) -> torch.Tensor:
        """The learned head's corrections ``d`` ``(N, T, K)`` (zeros except for ``"tcn"``'s
        candidates)."""
        d = torch.zeros_like(s)
        if self.config.design != "tcn" or self.head is None:
            return d
        cand = self.candidates(s, has)
        n, t, _ = s.shape
        valid = self._valid(has, cand.shape[1])
        out = self.head(self._head_inputs(s, z, present, has, cand), valid)
        out = out.reshape(n, cand.shape[1], t).transpose(1, 2)
        d.scatter_(2, cand[:, None, :].expand(n, t, cand.shape[1]), out * has[..., None])
        return d

    # ---- decoding -------------------------------------------------------------------

    def _per_frame_labels(self, scores: torch.Tensor, has: torch.Tensor) -> torch.Tensor:
        best = scores.masked_fill(~self.atomic, -1.0).max(2)
        return torch.where(has & (best.values >= self.config.background), best.indices, torch.full((), -1))

    def _runs(
        self, n: int, label: list[int], scores: torch.Tensor, has: torch.Tensor, min_frames: int
    ) -> list[Segment]:
        """Runs of one activity in ``label`` (``-1``: nothing) as segments of at least
        ``min_frames`` frames with a scored frame; a segment's score is the mean probability
        over its scored frames."""
        out: list[Segment] = []
        start = 0
        for t in range(1, len(label) + 1):
            if t == len(label) or label[t] != label[start]:
                a = label[start]
                scored = has[start:t]
                if a >= 0 and t - start >= min_frames and bool(scored.any()):
                    out.append(Segment(n, a, start, t - 1, float(scores[start:t, a][scored].mean())))
                start = t
        return out

    def _viterbi(
        self, logits: torch.Tensor, has: torch.Tensor, inside: torch.Tensor, cand: torch.Tensor
    ) -> torch.Tensor:
        n, t, _ = logits.shape
        c = cand.shape[1]
        bg = _logit(self.config.background)
        emit = logits.gather(2, cand[:, None, :].expand(n, t, c))
        emit = torch.cat([torch.full((n, t, 1), bg), emit], dim=2)  # state 0: nothing
        # a frame's evidence is relative: how the states compare there (log-softmax), so that
        # a frame whose logits are all low (weak detections) still says which is likeliest
        emit = torch.log_softmax(torch.where(has[..., None], emit, torch.zeros(())), dim=2)
        emit = torch.where((has & inside)[..., None], emit, torch.zeros(()))  # unscored: no evidence
        pen = self.config.switch_penalty
        score = emit[:, 0].clone()
        back = torch.zeros(n, t, c + 1, dtype=torch.long)
        for i in range(1, t):
            best, arg = score.max(1, keepdim=True)
            switch = best - pen
            stay = score >= switch
            back[:, i] = torch.where(stay, torch.arange(c + 1)[None, :], arg)
            score = torch.where(stay, score, switch) + emit[:, i]
        state = torch.zeros(n, t, dtype=torch.long)
        state[:, -1] = score.argmax(1)
        for i in range(t - 1, 0, -1):
            state[:, i - 1] = back[:, i].gather(1, state[:, i : i + 1]).squeeze(1)
        label = torch.where(state > 0, cand.gather(1, (state - 1).clamp(min=0)), torch.full((), -1))
        return torch.where(inside, label, torch.full((), -1))

    # ---- explanations -----------------------------------------------------------------

    @torch.no_grad()
    def explain_segment(self, x: torch.Tensor, present: torch.Tensor, segment: Segment) -> SegmentExplanation:
        """Which frames and input terms made ``segment`` of the track ``x`` ``(T, F)`` with
        presence ``present`` ``(T,)`` (the same track :meth:`run` was given); the shares add
        up to the segment's score (see the module docstring)."""
        self._check(x[None], present[None])
        if not hasattr(self.reasoner, "attribute_terms"):
            raise ReasoningError(
                f"segment explanations split each frame's score by the per-frame reasoner's exact "
                f"attribution (attribute_terms), which {type(self.reasoner).__name__} does not offer; "
                "explain with an ActivityReasoner of this ontology (reasoning.fine_tune makes one)"
            )
        a, t0, t1 = segment.activity, segment.start, segment.end
        z = self.frame_logits(x[None], present[None])
        s, has = self._smooth(z, present[None])
        d = self.corrections(s, z, present[None], has)
        scored = torch.nonzero(has[0, t0 : t1 + 1]).flatten() + t0  # the frames the score averages
        if scored.numel() == 0:
            raise ReasoningError(
                f"segment {segment} has no scored frame in this track; pass the track it came from"
            )
        seg_w = self.weights(present, scored).mean(0).float()  # (T,) W[u]
        used = torch.nonzero(seg_w > 0).flatten()
        contrib, base = self.reasoner.attribute_terms(
            x[used], torch.full((used.numel(), 1), a, dtype=torch.long)
        )
        contrib, base = contrib[:, 0].cpu(), base[:, 0].cpu()  # (U, F), (U,)
        z_u = z[0, used, a]
        wu = seg_w[used]
        p_u, p_b = torch.sigmoid(z_u), torch.sigmoid(base)
        moved = z_u - base
        scale = torch.where(
            moved.abs() > 1e-9, (p_u - p_b) / torch.where(moved.abs() > 1e-9, moved, 1.0), 0.0
        )
        terms = (wu[:, None] * scale[:, None] * contrib).sum(0)  # rescale rule, per frame
        smooth_score = float((wu * p_u).sum())
        score = float(torch.sigmoid(s[0, scored, a] + d[0, scored, a]).mean())
        channel_terms = self.reasoner.layout.channel_terms
        order = torch.argsort(terms.abs(), descending=True).tolist()
        return SegmentExplanation(
            segment=segment,
            score=score,
            baseline=float((wu * p_b).sum()),
            context=score - smooth_score if self.config.design == "tcn" else 0.0,
            frames=[(int(u), float(wu[i]), float(wu[i] * p_u[i])) for i, u in enumerate(used.tolist())],
            terms=[(channel_terms[i], float(terms[i])) for i in order if float(terms[i]) != 0.0],
        )

    # ---- records --------------------------------------------------------------------

    def segment_records(
        self,
        result: TemporalResult,
        video_ids: Sequence[str],
        track_ids: Sequence[int],
        frame_numbers: Sequence[Sequence[int]] | None = None,
        fps: Sequence[float | None] | None = None,
    ) -> tuple[list[ActivitySegment], list[ClipLabel]]:
        """``result`` as records: one :class:`~ontology.ActivitySegment` per segment (its
        frames mapped through ``frame_numbers[n]``, the video frame of each position, and
        timed at ``fps[n]`` when known) and, per video, the :class:`~ontology.ClipLabel` of
        its best activity by mean score over its tracks' frames."""
        onto = self.ontology
        ids = self.reasoner.layout.activity_ids
        version = self.reasoner.version
        segments = []
        for n, track in enumerate(result.segments):
            frames = None if frame_numbers is None else frame_numbers[n]
            rate = None if fps is None else fps[n]
            for seg in track:
                start = seg.start if frames is None else frames[seg.start]
                end = seg.end if frames is None else frames[seg.end]
                segments.append(
                    ActivitySegment(
                        video_ids[n],
                        track_ids[n],
                        ids[seg.activity],
                        start,
                        end,
                        seg.score,
                        self.name,
                        version,
                        onto,
                        start_time=None if rate is None else start / rate,
                        end_time=None if rate is None else end / rate,
                    )
                )
        labels = []
        by_video: dict[str, list[int]] = {}
        for n, video in enumerate(video_ids):
            by_video.setdefault(video, []).append(n)
        for video, rows in by_video.items():
            mean = result.clip[rows].mean(0)
            best = int(mean.masked_fill(~self.atomic, -1.0).argmax())
            labels.append(ClipLabel(video, ids[best], float(mean[best]), self.name, version, onto))
        return segments, labels

    # ---- checkpoints -----------------------------------------------------------------

    def save_pretrained(self, path: str | os.PathLike[str], provenance: dict[str, Any] | None = None) -> Path:
        """Write the folder :meth:`from_pretrained` reads: ``config.json`` (the options, the
        head's size, the per-frame reasoner's name and version, ``provenance``),
        ``model.pt`` (the ``"tcn"`` head's weights; absent for the other designs) and a
        ``README.md`` model card."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "format_version": 1,
            "config": dataclasses.asdict(self.config),
            "head": None if self.head is None else {"hidden": self.head.hidden, "kernel": self.head.kernel},
            "reasoner": {"name": self.reasoner.name, "version": self.reasoner.version},
            "provenance": provenance or {},
        }
        if self.head is not None:
            torch.save(self.head.state_dict(), folder / "model.pt")
        (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        (folder / "README.md").write_text(_card(config), encoding="utf-8")
        return folder

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str] | None = None,
        reasoner: ActivityReasoner | None = None,
        other_reasoner: str = "warn",
    ) -> TemporalReasoner:
        """Load a folder written by :meth:`save_pretrained` (``None``: the packaged default,
        :func:`default_temporal_path`) on top of ``reasoner`` (default: the packaged GNN).

        A learned head was trained on one reasoner's logits. Over another reasoner,
        ``other_reasoner="warn"`` loads it with a warning; ``"smooth"`` returns the
        ``"smooth"`` design with the saved options instead (nothing learned to miscalibrate).
        """
        if other_reasoner not in ("warn", "smooth"):
            raise ReasoningError(f"other_reasoner: expected 'warn' or 'smooth', got {other_reasoner!r}")
        folder = default_temporal_path() if path is None else Path(path)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"{folder} is not a temporal reasoner folder: config.json is missing; pass a folder "
                "written by TemporalReasoner.save_pretrained (or None for the packaged default)"
            )
        saved = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if saved.get("format_version") != 1:
            raise ReasoningError(
                f"{folder}: format {saved.get('format_version')!r}, this version reads format 1"
            )
        reasoner = ActivityReasoner.from_pretrained() if reasoner is None else reasoner
        other = saved["reasoner"]["version"] != reasoner.version
        if other and saved["head"] is not None and other_reasoner == "smooth":
            return cls(reasoner, dataclasses.replace(TemporalConfig(**saved["config"]), design="smooth"))
        if other:
            warnings.warn(
                f"{folder} was trained on the logits of reasoner {saved['reasoner']['name']} "
                f"{saved['reasoner']['version']}, not {reasoner.name} {reasoner.version}; its head may be "
                "miscalibrated: retrain it with reasoning.temporal.train_temporal",
                stacklevel=2,
            )
        head = None
        if saved["head"] is not None:
            head = TemporalHead(saved["head"]["hidden"], saved["head"]["kernel"])
            head.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
        return cls(reasoner, TemporalConfig(**saved["config"]), head)


def default_temporal_path() -> Path:
    """The packaged temporal reasoner (``reasoning/data/temporal``)."""
    return Path(__file__).parent / "data" / "temporal"


def _card(config: dict[str, Any]) -> str:
    prov = config.get("provenance", {})
    lines = [
        "# Temporal reasoner",
        "",
        f"Design `{config['config']['design']}` over the per-frame reasoner "
        f"`{config['reasoner']['name']}` {config['reasoner']['version']} (see reasoning/temporal.py).",
        "",
        "**Trained and measured on SIMULATED tracks** built from the real HAKE instance annotations "
        "(reasoning/simulation.py), not on real video.",
        "",
        "```json",
        json.dumps({"config": config["config"], "head": config["head"], "provenance": prov}, indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def fit_temporal_head(
    reasoner: ActivityReasoner,
    x: torch.Tensor,
    present: torch.Tensor,
    length: torch.Tensor,
    y: torch.Tensor,
    config: TemporalConfig | None = None,
    epochs: int = 8,
    batch_tracks: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    hidden: int = 32,
) -> TemporalReasoner:
    """Train a ``"tcn"`` head on tracks ``x`` ``(N, T, F)`` with per-frame labels ``y``
    ``(N, T, K)`` (binary cross-entropy of the candidates' refined logits, frames inside
    each track's length). Returns the ``"tcn"`` :class:`TemporalReasoner`."""
    config = config or TemporalConfig(design="tcn")
    if config.design != "tcn":
        config = dataclasses.replace(config, design="tcn")
    torch.manual_seed(seed)
    head = TemporalHead(hidden)
    smooth = TemporalReasoner(reasoner, dataclasses.replace(config, design="smooth"))
    n, t, _ = x.shape
    inside = torch.arange(t)[None, :] < length[:, None]
    z = smooth.frame_logits(x, present & inside)
    s, has = smooth._smooth(z, present & inside, inside)
    cand = smooth.candidates(s, has)
    inputs = smooth._head_inputs(s, z, present & inside, has, cand)  # (N*C, 5, T)
    c = cand.shape[1]
    target = y.gather(2, cand[:, None, :].expand(n, t, c)).transpose(1, 2).reshape(n * c, t).float()
    base = s.gather(2, cand[:, None, :].expand(n, t, c)).transpose(1, 2).reshape(n * c, t)
    mask = (has & inside)[:, None, :].expand(n, c, t).reshape(n * c, t).float()
    valid = smooth._valid(has, c)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    rows = batch_tracks * c
    for _ in range(epochs):
        order = torch.randperm(n * c, generator=gen)
        for i in range(0, n * c, rows):
            idx = order[i : i + rows]
            out = base[idx] + head(inputs[idx], valid[idx]) * mask[idx]
            loss = nn.functional.binary_cross_entropy_with_logits(out, target[idx], weight=mask[idx])
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call, unused-ignore]
            opt.step()
    return TemporalReasoner(reasoner, config, head)


# ---- tracks from records ---------------------------------------------------------------


@dataclass(frozen=True)
class TrackBatch:
    """Tracks gathered from video observations, padded to the longest.

    Shapes:
        x: ``(N, T, F)``; present: ``(N, T)``; length: ``(N,)``.
    ``video_ids[n]`` and ``track_ids[n]`` name track ``n``; ``frames[n][i]`` is the video
    frame at position ``i`` of track ``n``; ``rows[n][i]`` the index, in the observations
    given, of the observation there (``-1`` where the track was not seen).
    """

    x: torch.Tensor
    present: torch.Tensor
    length: torch.Tensor
    video_ids: list[str]
    track_ids: list[int]
    frames: list[list[int]]
    rows: list[list[int]]


def encode_tracks(observations: Sequence[PersonObservation], onto: Ontology | None = None) -> TrackBatch:
    """Group the video observations (``frame_index`` and ``track_id`` set; others are
    ignored) into tracks. A video's timeline is the sorted distinct frames of its
    observations (the frames that were read); a track runs on it from the first frame it was
    seen in to the last, absent (``present`` false) where it was not seen.
    """
    from reasoning.features import encode_observations

    timeline: dict[str, set[int]] = {}
    by_track: dict[tuple[str, int], dict[int, int]] = {}
    for i, obs in enumerate(observations):
        if obs.frame_index is None or obs.track_id is None:
            continue
        timeline.setdefault(obs.image_id, set()).add(obs.frame_index)
        seen = by_track.setdefault((obs.image_id, obs.track_id), {})
        if obs.frame_index in seen:
            raise ReasoningError(
                f"track {obs.track_id} of {obs.image_id!r} has two persons in frame {obs.frame_index}; "
                "a tracker gives a track one person per frame"
            )
        seen[obs.frame_index] = i
    order = {video: sorted(frames) for video, frames in timeline.items()}
    keys = sorted(by_track)
    frames_of: list[list[int]] = []
    rows_of: list[list[int]] = []
    for video, track in keys:
        seen = by_track[(video, track)]
        line = order[video]
        lo, hi = line.index(min(seen)), line.index(max(seen))
        frames_of.append(line[lo : hi + 1])
        rows_of.append([seen.get(f, -1) for f in line[lo : hi + 1]])
    n = len(keys)
    t = max((len(f) for f in frames_of), default=0)
    encoded = encode_observations(observations, onto) if n else torch.zeros(0, 0)
    x = torch.zeros(n, t, encoded.shape[1] if n else 0)
    present = torch.zeros(n, t, dtype=torch.bool)
    for k, rows in enumerate(rows_of):
        idx = torch.tensor(rows, dtype=torch.long)
        where = idx >= 0
        positions = torch.nonzero(where).flatten()
        x[k, positions] = encoded[idx[where]]
        present[k, positions] = True
    return TrackBatch(
        x=x,
        present=present,
        length=torch.tensor([len(f) for f in frames_of], dtype=torch.long),
        video_ids=[v for v, _ in keys],
        track_ids=[tr for _, tr in keys],
        frames=frames_of,
        rows=rows_of,
    )


# ---- measuring and training on SIMULATED tracks ----------------------------------------


def evaluate_temporal(result: TemporalResult, tracks: Any, y: torch.Tensor) -> dict[str, Any]:
    """Frame mAP, segment F1 at IoU 0.5 and clip top-1 / top-3 (percent) of ``result`` on
    the SIMULATED ``tracks`` (:class:`~reasoning.simulation.SimulatedTracks`) drawn from a
    pool labelled ``y`` (``(P, K)``). The output says ``"simulated": true``."""
    import numpy as np

    from reasoning.metrics import per_class_ap, segment_f1
    from reasoning.video_eval import clip_topk

    labels = tracks.frame_labels(y)
    inside = torch.arange(tracks.x.shape[1])[None, :] < tracks.length[:, None]
    aps = per_class_ap(result.scores[inside].numpy(), labels[inside].numpy())
    f1 = segment_f1(
        [[(s.activity, s.start, s.end, s.score) for s in t] for t in result.segments], tracks.segments
    )
    ids = [str(i) for i in range(result.scores.shape[2])]  # channels by position: clip_topk compares names
    clip = clip_topk(result.clip.numpy(), [ids[i] for i in tracks.clip.tolist()], ids).to_dict()
    return {
        "simulated": True,
        "frame_mAP": round(100 * float(np.nanmean(aps)), 2),
        "segment_f1": f1["f1"],
        "segment_precision": f1["precision"],
        "segment_recall": f1["recall"],
        "clip_top1": clip["top1"],
        "clip_top3": clip["top3"],
        "segments": sum(len(t) for t in result.segments),
    }


#: The smoothing options :func:`train_temporal` chooses from (on training tracks).
WINDOWS = (9, 15, 21)
SWITCH_PENALTIES = (4.0, 8.0, 16.0, 32.0)


def train_temporal(
    x: torch.Tensor,
    y: torch.Tensor,
    reasoner: ActivityReasoner,
    n_tracks: int = 1500,
    noise: str = "default",
    seed: int = 1,
) -> tuple[TemporalReasoner, dict[str, Any]]:
    """Choose the smoothing window and switch penalty (best segment F1 of ``"smooth"``) and
    fit the ``"tcn"`` head, on ``n_tracks`` tracks SIMULATED from the training persons
    ``x`` ``(P, F)`` labelled ``y`` ``(P, K)``. Returns the ``"tcn"`` reasoner and what was
    chosen (for the checkpoint's provenance)."""
    from reasoning.simulation import NOISE_LEVELS, simulate_tracks

    lay = reasoner.layout
    sim = simulate_tracks(
        x,
        y,
        n_tracks,
        seed=seed,
        noise=NOISE_LEVELS[noise],
        n_part_states=lay.n_part_states,
        object_of=lay.object_of,
    )
    z = TemporalReasoner(reasoner).frame_logits(sim.x, sim.present)
    scores: dict[tuple[int, float], float] = {}
    for window in WINDOWS:
        for penalty in SWITCH_PENALTIES:
            smooth = TemporalReasoner(
                reasoner, TemporalConfig(design="smooth", window=window, switch_penalty=penalty)
            )
            scores[(window, penalty)] = evaluate_temporal(
                smooth.decode_logits(z, sim.present, sim.length), sim, y
            )["segment_f1"]
    window, penalty = max(scores, key=lambda k: (scores[k], -k[0], -k[1]))
    config = TemporalConfig(design="tcn", window=window, switch_penalty=penalty)
    model = fit_temporal_head(
        reasoner, sim.x, sim.present, sim.length, sim.frame_labels(y), config, seed=seed
    )
    info = {
        "data": "SIMULATED tracks from real HAKE instance annotations (reasoning.simulation)",
        "simulated": True,
        "train_tracks": n_tracks,
        "noise": noise,
        "simulation_seed": seed,
        "chosen_on_train": {"window": window, "switch_penalty": penalty},
        "segment_f1_on_train_by_option": {f"{w}/{p}": f for (w, p), f in scores.items()},
    }
    return model, info


# ---- streaming ------------------------------------------------------------------------


@dataclass
class _OpenRun:
    activity: int
    start: int
    end: int
    score_sum: float
    scored: int
    frames: int


@dataclass
class _TrackState:
    clip_sum: torch.Tensor
    clip_frames: int = 0
    run: _OpenRun | None = None


class TemporalStream:
    """Temporal reasoning over one video while its frames arrive, in bounded memory.

    :meth:`push` takes the video's frames in order, each with the persons seen in it (their
    ``track_id`` set); every ``chunk`` frames, those frames are decoded with
    :attr:`context` frames on each side (the smoothing window's half plus the learned head's
    reach), and each track's run of one activity continues across chunks as one segment.
    A segment is returned once it has ended (by :meth:`push`, or by :meth:`close` at the end
    of the video, with the video's :class:`~ontology.ClipLabel`). The stream holds at most
    ``chunk + 2 * context`` frames of observations, and per track its clip-score sum and its
    open run: memory does not grow with the video's length.

    Within a chunk a track runs from its first to its last frame seen in the chunk and its
    context; a track unseen for more than :attr:`context` frames ends its run. So the
    segments equal :meth:`TemporalReasoner.run` on the whole track whenever no track is
    unseen for longer than that and the track's best candidates are the same in every chunk
    (tested); they can differ in where a segment is cut otherwise.
    """

    def __init__(
        self,
        temporal: TemporalReasoner,
        video_id: str,
        fps: float | None = None,
        chunk: int = 256,
    ) -> None:
        if chunk < 1:
            raise ReasoningError(f"TemporalStream: chunk must be >= 1 frame, got {chunk!r}")
        self.temporal = temporal
        self.video_id = video_id
        self.fps = fps
        self.chunk = chunk
        head_reach = 0 if temporal.head is None else (temporal.head.kernel // 2) * 7  # dilations 1, 2, 4
        #: frames of context decoded on each side of a chunk
        self.context = temporal.config.window // 2 + head_reach
        self._frames: list[int] = []  # frame numbers of the buffered frames
        self._persons: list[dict[int, PersonObservation]] = []  # per buffered frame: track -> person
        self._done = 0  # buffered frames before this index are decoded (kept as left context)
        self._tracks: dict[int, _TrackState] = {}
        self._closed = False
        self.frames_seen = 0

    @property
    def buffered_frames(self) -> int:
        """Frames held now (at most ``chunk + 2 * context``)."""
        return len(self._frames)

    def push(self, frame_index: int, persons: Sequence[PersonObservation]) -> list[ActivitySegment]:
        """Add the next frame and the persons seen in it; returns the segments that ended."""
        if self._closed:
            raise ReasoningError(
                f"TemporalStream of {self.video_id!r} is closed; start another for another video"
            )
        if self._frames and frame_index <= self._frames[-1]:
            raise ReasoningError(
                f"TemporalStream of {self.video_id!r}: frames must come in order, got frame {frame_index} "
                f"after {self._frames[-1]}"
            )
        by_track: dict[int, PersonObservation] = {}
        for p in persons:
            if p.track_id is None:
                raise ReasoningError(
                    f"TemporalStream of {self.video_id!r}: person {p.person_id!r} of frame {frame_index} "
                    "has no track id; track the video's persons first (perception does)"
                )
            if p.track_id in by_track:
                raise ReasoningError(
                    f"track {p.track_id} of {self.video_id!r} has two persons in frame {frame_index}; "
                    "a tracker gives a track one person per frame"
                )
            by_track[p.track_id] = p
        self._frames.append(frame_index)
        self._persons.append(by_track)
        self.frames_seen += 1
        if len(self._frames) - self._done >= self.chunk + self.context:
            return self._decode(self._done + self.chunk)
        return []

    def close(self) -> tuple[list[ActivitySegment], list[ClipLabel]]:
        """Decode what is left; returns the last segments and the video's clip label (none
        when no track was seen)."""
        if self._closed:
            raise ReasoningError(f"TemporalStream of {self.video_id!r} is already closed")
        segments = self._decode(len(self._frames)) if len(self._frames) > self._done else []
        for track, state in self._tracks.items():
            segments.extend(self._end_run(track, state))
        self._closed = True
        labels: list[ClipLabel] = []
        means = [s.clip_sum / s.clip_frames for s in self._tracks.values() if s.clip_frames]
        if means:
            mean = torch.stack(means).mean(0)
            best = int(mean.masked_fill(~self.temporal.atomic, -1.0).argmax())
            ids = self.temporal.reasoner.layout.activity_ids
            labels.append(
                ClipLabel(
                    self.video_id,
                    ids[best],
                    float(mean[best]),
                    self.temporal.name,
                    self.temporal.reasoner.version,
                    self.temporal.ontology,
                )
            )
        return segments, labels

    # ---- internals ----------------------------------------------------------------------

    def _decode(self, stop: int) -> list[ActivitySegment]:
        """Decode buffered frames ``[self._done, stop)`` (the core) with their context."""
        lo = max(0, self._done - self.context)
        hi = min(len(self._frames), stop + self.context)
        window = self._persons[lo:hi]
        tracks = sorted({t for frame in window for t in frame})
        out: list[ActivitySegment] = []
        if tracks:
            out.extend(self._decode_tracks(tracks, window, lo, stop))
        # tracks not in the window at all end their runs
        for track, state in self._tracks.items():
            if track not in tracks:
                out.extend(self._end_run(track, state))
        drop = max(0, stop - self.context)  # keep the left context of the next chunk
        del self._frames[:drop]
        del self._persons[:drop]
        self._done = stop - drop
        return out

    def _decode_tracks(
        self, tracks: list[int], window: list[dict[int, PersonObservation]], lo: int, stop: int
    ) -> list[ActivitySegment]:
        from reasoning.features import encode_observations

        tr = self.temporal
        n_f = tr.reasoner.layout.n_features
        spans = []
        for track in tracks:
            seen = [i for i, frame in enumerate(window) if track in frame]
            spans.append((seen[0], seen[-1]))
        t = max(b - a + 1 for a, b in spans)
        x = torch.zeros(len(tracks), t, n_f)
        present = torch.zeros(len(tracks), t, dtype=torch.bool)
        persons = [
            window[i][track]
            for track, (a, b) in zip(tracks, spans, strict=True)
            for i in range(a, b + 1)
            if track in window[i]
        ]
        rows = encode_observations(persons, tr.ontology) if persons else torch.zeros(0, n_f)
        k = 0
        for n, (track, (a, b)) in enumerate(zip(tracks, spans, strict=True)):
            for i in range(a, b + 1):
                if track in window[i]:
                    x[n, i - a] = rows[k]
                    present[n, i - a] = True
                    k += 1
        length = torch.tensor([b - a + 1 for a, b in spans])
        result = tr.run(x, present, length)
        min_frames = 1 if tr.config.design == "frame" else tr.config.min_frames
        out: list[ActivitySegment] = []
        core_lo, core_hi = self._done - lo, stop - lo  # core positions in the window
        for n, (track, (a, b)) in enumerate(zip(tracks, spans, strict=True)):
            state = self._tracks.setdefault(track, _TrackState(torch.zeros(tr.reasoner.layout.n_activities)))
            for i in range(core_lo, core_hi):
                frame = self._frames[lo + i]
                if not a <= i <= b:  # outside the track's extent here
                    out.extend(self._end_run(track, state))
                    continue
                pos = i - a
                scores = result.scores[n, pos]
                state.clip_sum += scores
                state.clip_frames += 1
                label = int(result.labels[n, pos])
                scored = bool(torch.isfinite(result.logits[n, pos, 0]))
                run = state.run
                if run is not None and run.activity == label:
                    run.end = frame
                    run.frames += 1
                    if scored:
                        run.score_sum += float(scores[label])
                        run.scored += 1
                    continue
                out.extend(self._end_run(track, state, min_frames))
                if label >= 0:
                    state.run = _OpenRun(
                        label, frame, frame, float(scores[label]) if scored else 0.0, int(scored), 1
                    )
        return out

    def _end_run(
        self, track: int, state: _TrackState, min_frames: int | None = None
    ) -> list[ActivitySegment]:
        run, state.run = state.run, None
        tr = self.temporal
        if min_frames is None:
            min_frames = 1 if tr.config.design == "frame" else tr.config.min_frames
        if run is None or run.frames < min_frames or run.scored == 0:
            return []
        rate = self.fps
        return [
            ActivitySegment(
                self.video_id,
                track,
                tr.reasoner.layout.activity_ids[run.activity],
                run.start,
                run.end,
                run.score_sum / run.scored,
                tr.name,
                tr.reasoner.version,
                tr.ontology,
                start_time=None if rate is None else run.start / rate,
                end_time=None if rate is None else run.end / rate,
            )
        ]
