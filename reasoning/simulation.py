"""SIMULATED video tracks built from real HAKE person annotations (no real video is used).

There is no annotated video on this machine, so the temporal reasoner is measured on
simulated tracks: sequences of *real* persons' part-state vectors (the instance-level HAKE
file, ``hake-instance``) that follow activity scripts, with perception noise added at
documented levels. Every number computed from them is a number about this simulation, and
every output that shows one says ``"simulated": true``.

**Script.** A track is ``frames`` long (uniform in :attr:`ScriptConfig.frames`) and made of
consecutive segments, each of one activity, lasting uniform :attr:`ScriptConfig.segment_frames`
frames (the last one is cut at the track's end). The first activity is drawn uniformly from
the activities with at least :attr:`ScriptConfig.min_persons` persons in the pool; each next
one, with probability :attr:`ScriptConfig.related`, from those sharing the previous
activity's object (``hold cup`` -> ``drink with cup``: the hard transitions), else uniformly.
Inside a segment, a real person labelled with the segment's activity is shown for uniform
:attr:`ScriptConfig.hold_frames` frames (a pose held), then another, and so on.

**Ground truth.** A frame's labels are *all* the activities of the real person shown (HAKE
persons do several things at once); the script's segments are the segment ground truth; a
track's clip label is the activity covering most of its frames (ties: the lower index).

**Noise** (:class:`NoiseLevel`, per frame, independently; :data:`NOISE_LEVELS` lists the
levels, ``"default"`` is the one reported):

- *dropped states*: each input channel the person has (part state, active body part,
  object) is set to 0 with probability ``drop``;
- *flipped states*: ``Poisson(flip)`` part states the person does not have are switched on;
- *confidences*: a channel that is on takes a value uniform in ``[confidence, 1]`` (what a
  part-state classifier outputs), not 1;
- *missing frames*: a frame is missing (the person was not detected) with probability
  ``missing``, and an occlusion of uniform 3-8 frames starts at a frame with probability
  ``occlusion``;
- *identity switches*: with probability ``switch`` a track continues, from a uniform frame
  on, with the rest of another track of the batch (its frames and their ground truth), as a
  tracker that swapped two people would.

>>> import torch
>>> x = torch.zeros(4, 8); x[:, 0] = 1; x[2:, 1] = 1
>>> y = torch.zeros(4, 3); y[:2, 0] = 1; y[2:, 1] = 1
>>> sim = simulate_tracks(x, y, n_tracks=3, seed=0, noise=NOISE_LEVELS["none"],
...     script=ScriptConfig(frames=(6, 6), segment_frames=(3, 3), hold_frames=(1, 2), min_persons=1),
...     n_part_states=8)
>>> tuple(sim.x.shape), sim.present.all().item(), [len(s) for s in sim.segments]
((3, 6, 8), True, [2, 2, 2])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ontology.errors import ReasoningError

__all__ = ["NOISE_LEVELS", "NoiseLevel", "ScriptConfig", "SimulatedTracks", "simulate_tracks"]


@dataclass(frozen=True)
class NoiseLevel:
    """Perception noise of simulated tracks (see the module docstring for each field)."""

    name: str
    drop: float
    flip: float
    confidence: float
    missing: float
    occlusion: float
    switch: float

    def __post_init__(self) -> None:
        for name in ("drop", "missing", "occlusion", "switch", "confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ReasoningError(f"NoiseLevel.{name}: expected a probability in [0, 1], got {value!r}")
        if self.flip < 0.0:
            raise ReasoningError(f"NoiseLevel.flip: expected a mean count >= 0, got {self.flip!r}")

    def to_dict(self) -> dict[str, float | str]:
        return dict(self.__dict__)


#: The documented noise levels; ``"default"`` is the one the issue's target is stated at.
NOISE_LEVELS: dict[str, NoiseLevel] = {
    "none": NoiseLevel("none", drop=0.0, flip=0.0, confidence=1.0, missing=0.0, occlusion=0.0, switch=0.0),
    "low": NoiseLevel("low", drop=0.1, flip=0.5, confidence=0.7, missing=0.05, occlusion=0.01, switch=0.05),
    "default": NoiseLevel(
        "default", drop=0.2, flip=1.0, confidence=0.5, missing=0.1, occlusion=0.02, switch=0.1
    ),
    "high": NoiseLevel("high", drop=0.35, flip=2.0, confidence=0.3, missing=0.2, occlusion=0.04, switch=0.2),
}


@dataclass(frozen=True)
class ScriptConfig:
    """How activity scripts are drawn (ranges are inclusive, in frames)."""

    frames: tuple[int, int] = (60, 150)
    segment_frames: tuple[int, int] = (15, 60)
    hold_frames: tuple[int, int] = (3, 10)
    related: float = 0.5
    min_persons: int = 3

    def __post_init__(self) -> None:
        for name in ("frames", "segment_frames", "hold_frames"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi:
                raise ReasoningError(f"ScriptConfig.{name}: expected 1 <= low <= high, got {(lo, hi)!r}")
        if not 0.0 <= self.related <= 1.0:
            raise ReasoningError(f"ScriptConfig.related: expected a probability, got {self.related!r}")
        if self.min_persons < 1:
            raise ReasoningError(f"ScriptConfig.min_persons: expected >= 1, got {self.min_persons!r}")


@dataclass(frozen=True)
class SimulatedTracks:
    """A batch of SIMULATED tracks, padded to the longest.

    Shapes:
        x: ``(N, T, F)`` noisy input rows (0 where a frame is missing or past the end);
        present: ``(N, T)`` the frames observed; length: ``(N,)`` frames per track;
        person: ``(N, T)`` the pool row shown at each frame (-1 past the end);
        activity: ``(N, T)`` the script's activity per frame (-1 past the end).
    ``segments[n]`` lists track ``n``'s ground-truth ``(activity, start, end)`` (end included);
    ``clip[n]`` its clip label.
    """

    x: torch.Tensor
    present: torch.Tensor
    length: torch.Tensor
    person: torch.Tensor
    activity: torch.Tensor
    segments: list[list[tuple[int, int, int]]]
    clip: torch.Tensor
    noise: NoiseLevel
    script: ScriptConfig
    seed: int
    simulated: bool = field(default=True, init=False)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def frame_labels(self, y: torch.Tensor) -> torch.Tensor:
        """``(N, T, K)`` multi-hot labels of each frame: the activities of the person shown
        (``y`` is the pool's ``(P, K)`` labels the tracks were drawn from); 0 past the end."""
        out = y[self.person.clamp(min=0)].clone()
        out[self.person < 0] = 0
        return out


def _runs(activity: np.ndarray, length: int) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    start = 0
    for t in range(1, length + 1):
        if t == length or activity[t] != activity[start]:
            out.append((int(activity[start]), start, t - 1))
            start = t
    return out


def simulate_tracks(
    x: torch.Tensor,
    y: torch.Tensor,
    n_tracks: int,
    seed: int = 0,
    noise: NoiseLevel = NOISE_LEVELS["default"],
    script: ScriptConfig = ScriptConfig(),
    n_part_states: int | None = None,
    object_of: tuple[int, ...] | None = None,
) -> SimulatedTracks:
    """Simulate ``n_tracks`` tracks from the real persons ``x`` (``(P, F)`` ground-truth input
    rows) labelled ``y`` (``(P, K)``), seeded.

    ``n_part_states``: the first channels that are part states (flips switch those on;
    default all). ``object_of``: per activity, its object's index (-1 for none); scripts then
    prefer transitions between activities of the same object (:attr:`ScriptConfig.related`).
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ReasoningError(
            f"expected x (P, F) and y (P, K) with the same P, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if n_tracks < 1:
        raise ReasoningError(f"n_tracks: expected >= 1, got {n_tracks!r}")
    rng = np.random.default_rng(seed)
    n_ps = x.shape[1] if n_part_states is None else n_part_states
    counts = y.sum(0)
    usable = [a for a in range(y.shape[1]) if counts[a] >= script.min_persons]
    if not usable:
        raise ReasoningError(
            f"no activity has {script.min_persons} or more persons in the pool of {x.shape[0]}; "
            "pass more persons or a lower ScriptConfig.min_persons"
        )
    pools = {a: torch.nonzero(y[:, a]).flatten().numpy() for a in usable}
    by_object: dict[int, list[int]] = {}
    if object_of is not None:
        for a in usable:
            if object_of[a] >= 0:
                by_object.setdefault(object_of[a], []).append(a)

    lengths = rng.integers(script.frames[0], script.frames[1] + 1, size=n_tracks)
    t_max = int(lengths.max())
    person = np.full((n_tracks, t_max), -1, dtype=np.int64)
    activity = np.full((n_tracks, t_max), -1, dtype=np.int64)
    for n in range(n_tracks):
        t, act = 0, int(rng.choice(usable))
        while t < lengths[n]:
            seg_end = min(
                int(lengths[n]), t + int(rng.integers(script.segment_frames[0], script.segment_frames[1] + 1))
            )
            while t < seg_end:
                hold = min(seg_end, t + int(rng.integers(script.hold_frames[0], script.hold_frames[1] + 1)))
                person[n, t:hold] = int(rng.choice(pools[act]))
                activity[n, t:hold] = act
                t = hold
            same = by_object.get(object_of[act], []) if object_of is not None else []
            others = [a for a in same if a != act]
            if others and rng.random() < script.related:
                act = int(rng.choice(others))
            else:
                act = int(rng.choice([a for a in usable if a != act] or usable))

    # identity switches: track n continues with the tail of track m from frame s on
    if noise.switch > 0.0 and n_tracks > 1:
        switched = person.copy(), activity.copy(), lengths.copy()
        for n in range(n_tracks):
            if rng.random() < noise.switch:
                m = int(rng.choice([i for i in range(n_tracks) if i != n]))
                s = int(rng.integers(1, min(lengths[n], lengths[m])))
                switched[0][n, s:] = person[m, s:]
                switched[1][n, s:] = activity[m, s:]
                switched[2][n] = lengths[m]
        person, activity, lengths = switched

    present = person >= 0
    if noise.missing > 0.0 or noise.occlusion > 0.0:
        present &= rng.random(person.shape) >= noise.missing
        starts = np.argwhere(rng.random(person.shape) < noise.occlusion)
        for n, t in starts:
            present[n, t : t + int(rng.integers(3, 9))] = False

    rows = x[torch.from_numpy(person.clip(min=0))]  # (N, T, F)
    on = rows > 0
    if noise.drop > 0.0:
        on &= torch.from_numpy(rng.random(on.shape) >= noise.drop)
    if noise.flip > 0.0:
        flips = rng.poisson(noise.flip, size=person.shape)
        for (n, t), k in zip(np.argwhere(flips > 0), flips[flips > 0], strict=True):
            on[n, t, rng.choice(n_ps, size=min(int(k), n_ps), replace=False)] = True
    values = torch.from_numpy(rng.uniform(noise.confidence, 1.0, size=on.shape).astype(np.float32))
    noisy = torch.where(on, values, torch.zeros(()))
    present_t = torch.from_numpy(present)
    noisy[~present_t] = 0.0

    segments = [_runs(activity[n], int(lengths[n])) for n in range(n_tracks)]
    clip = []
    for n in range(n_tracks):
        frames = np.bincount(activity[n, : lengths[n]], minlength=y.shape[1])
        clip.append(int(frames.argmax()))
    return SimulatedTracks(
        x=noisy,
        present=present_t,
        length=torch.from_numpy(lengths.astype(np.int64)),
        person=torch.from_numpy(person),
        activity=torch.from_numpy(activity),
        segments=segments,
        clip=torch.tensor(clip, dtype=torch.long),
        noise=noise,
        script=script,
        seed=seed,
    )
