"""Video evaluation protocols: Kinetics-TPS part-state parsing, and clip-level top-k accuracy.

What ``hake eval --task kinetics-tps`` and ``hake eval --task clip-topk`` run. Both read
plain files a user writes or converts to (formats below); neither needs torch.

**Kinetics-TPS** (:func:`evaluate_tps`): the metric of the Kinetics-TPS track of the
DeeperAction challenge at ICCV 2021 (part-level action parsing), written here from its
published definition: the README ("Evaluation Criteria") and ``eval_detection.py`` of
https://github.com/xiadingZ/Kinetics-TPS-evaluation, read at its last commit ``b6fb668``
(2021-06-13), which merges ``4cd5815`` "fix match pred_human info wrong bug" (before it the
parts of the wrong predicted person were scored). Where the README and the code disagree we
follow the code, which produced the leaderboard; each such point is marked *(code)*.

1. **Frames.** Only sampled frames are scored, one in 5: ``img_00001``, ``img_00006``, ...
   (frame numbers are 1-based, as ``img_%05d.jpg``); "the results of other frames ... will
   not be considered" (README). The code scores every frame its ground-truth file lists,
   which for the challenge were the sampled ones; here a ground-truth frame off the grid
   ``(frame - 1) % frame_step == 0`` is dropped (``frame_step=1`` scores every listed frame,
   as the code would). Predicted frames the ground truth does not list are ignored.
2. **Boxes** are ``[x1, y1, x2, y2]`` (left-top, right-bottom) in *inclusive pixel*
   coordinates: a box is ``x2 - x1 + 1`` wide *(code)*. Two boxes that do not overlap have
   IoU -1 *(code; it only matters to the assignment in step 3)*.
3. **Persons.** In each frame the ground-truth persons and the predicted ones are matched one
   to one by the assignment of largest total IoU (``scipy.optimize.linear_sum_assignment``
   on ``1 - IoU``, the matrix padded to a square with IoU 0) *(code; the README says "the
   predicted human box ... where IoU ... is maximum", which would let two ground-truth
   persons share one prediction)*; a matched pair counts when its IoU is ``> human_iou``
   (``HUMAN_IOU_THRESH`` = 0.5, strict). A ground-truth person without a counted match
   scores 0 on every part.
4. **Parts.** For a matched person, each ground-truth part (one box, one state) scores
   ``1 / N_p`` when the prediction has ``N_p >= 1`` proposals (box + state) for that part
   and at least one of them has IoU ``>= part_iou`` with the ground-truth box *(code; the
   README says "> PART_IOU_THRESH")* and the same state; otherwise 0 (also when the
   prediction lacks the part). ``PART_IOU_THRESH`` = 0.3. Many guesses are penalised: two
   proposals, one right, score 1/2.
5. **Frame score** = the sum of the part scores of all ground-truth persons in the frame
   divided by the number of their ground-truth parts (a person with more parts weighs more).
   **PSC** (part state correctness) of a video = the mean of its frame scores.
   A frame with no ground-truth person is left out. A frame whose persons have no part is
   left out *if the prediction lists the frame*; a frame the prediction does not list counts
   as 0 even then *(code: it checks for the predicted frame before counting parts)*. A video
   with no frame left has PSC 1 *(code)*.
6. **Curve and area.** A video counts as right at threshold ``t`` when its predicted action
   equals the ground truth and ``PSC >= t`` *(code; the README says "> t")*. The accuracy at
   ``t`` is the share of ground-truth videos right at ``t``; the headline **area** is
   ``sum_{i=1}^{steps-1} acc(i / steps) / steps`` with ``steps = 10000`` *(code: the README
   says "from 0 to 1, step 0.0001"; the code's sum leaves out t = 0 and t = 1)*, rounded
   to 6 decimals when reported. Because of this sum, a perfect prediction scores 0.9999,
   not 1; a video right with PSC ``p`` adds ``min(floor(p * steps), steps - 1) / steps``.
   ``area_exact`` is the integral of the same step curve over [0, 1]: the mean over videos
   of ``PSC * [action right]``.

Other points of the code kept: a submission may hold at most 10 persons per frame and 5
proposals per part (the code stops with an ``assert``; here a :class:`~ontology.RecordError`
or :class:`~ontology.AnnotationFormatError`). Points where ours differs in precision only:
the code keeps person IoUs as float32 (ours: float64; a person IoU within ~1e-7 of 0.5 could
be judged differently). Where the code crashes (a ground-truth video with no prediction) we
raise :class:`~ontology.ReasoningError` naming the videos; predicted videos the ground
truth lacks are ignored and counted (``TPSResult.ignored_videos``). Checked when written
(2026-12-06) against the source's own functions on 400 random submissions (1 to 6 videos,
0 to 3 persons a frame, 1 to 5 proposals a part, shuffled person order, missing frames;
``frame_step=1``): every video's PSC and every area bit-identical.

Ground truth (``--data``) and predictions (``--predictions``) are one JSON object each::

    {"videos": {
        "VIDEO_ID": {
            "action": "ACTION",
            "frames": {
                "1": [                                    # frame number (or "img_00001.jpg")
                    {"box": [x1, y1, x2, y2],             # a person
                     "parts": {"left_arm": {"box": [x1, y1, x2, y2], "state": "bend"},
                               ...}},
                    ...],
                "6": [...]}}}}

In predictions a part's value is a list of 1 to 5 proposals
``[{"box": [...], "state": "..."}, ...]`` (one object is read as one proposal). Part names,
states and actions are compared as strings. The challenge's own files
(``gt_part_result.json`` with ``"humans"``, ``"verb"``) convert with a few lines of Python.

>>> gt = [TPSVideo("v", "jump", {1: (TPSPerson((0, 0, 9, 9), {"leg": TPSPart((0, 0, 9, 9), "bend")}),)})]
>>> pred = [TPSVideoPrediction("v", "jump", {1: (TPSPersonPrediction((0, 0, 9, 9),
...     {"leg": (TPSPart((0, 0, 9, 9), "bend"), TPSPart((0, 0, 4, 4), "straight"))}),)})]
>>> result = evaluate_tps(gt, pred)                  # one part right among two proposals
>>> result.videos[0].psc, round(result.area, 6), result.area_exact
(0.5, 0.5, 0.5)

**Clip-level top-k accuracy** (:func:`clip_topk`), as HAA500 (Chung et al., ICCV 2021,
Table 6) reports it for video classification: the share of clips whose ground-truth activity
is among the ``k`` highest-scored activities, for ``k`` = 1 and 3, over any vocabulary (an
:class:`~ontology.Ontology`'s activities, by id, name or IRI, or a plain list of names).
Ties rank in vocabulary order (as a stable sort of the score row in channel order): of two
activities with equal scores the one listed first ranks higher. An activity a clip does not
score ranks below every scored one, and a clip whose ground-truth activity is unscored is a
miss at every ``k``. Scores must be finite.

The input of ``hake eval --task clip-topk --data FILE`` is JSON Lines, one clip a line::

    {"activities": ["a", "b", "c"]}                    # optional first line: the vocabulary
    {"video_id": "clip-1", "activity": "a", "scores": {"a": 0.7, "b": 0.2, "c": 0.1}}

Without the first line the vocabulary is the first clip's score names, in their order.

>>> r = clip_topk([{"a": 0.7, "b": 0.2, "c": 0.1}, {"a": 0.5, "b": 0.5, "c": 0.0}],
...               ["b", "b"], ["a", "b", "c"], k=(1, 3))
>>> r.accuracy                                       # the tie puts "a" first in clip 2
{1: 0.0, 3: 1.0}

Errors (:mod:`ontology.errors`): a malformed file raises
:class:`~ontology.AnnotationFormatError` (file, video or line, frame, field, what was
expected and what arrived); a record built with bad values :class:`~ontology.RecordError`;
an unknown activity :class:`~ontology.UnknownTermError` (with did-you-mean); inputs that do
not fit together (no clip, a video without prediction) :class:`~ontology.ReasoningError`.
"""

from __future__ import annotations

import bisect
import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, cast

import numpy as np
import numpy.typing as npt

from ontology.errors import AnnotationFormatError, ReasoningError, RecordError, UnknownTermError, brief_repr
from ontology.ontology import Ontology

__all__ = [
    "CLIP_TOPK_TASK",
    "HUMAN_IOU_THRESH",
    "MAX_PART_PROPOSALS",
    "MAX_PERSONS_PER_FRAME",
    "PART_IOU_THRESH",
    "TPS_FRAME_STEP",
    "TPS_STEPS",
    "TPS_TASK",
    "ClipScores",
    "ClipTopKResult",
    "TPSPart",
    "TPSPerson",
    "TPSPersonPrediction",
    "TPSResult",
    "TPSVideo",
    "TPSVideoPrediction",
    "TPSVideoScore",
    "box_iou",
    "clip_topk",
    "evaluate_tps",
    "read_clip_scores",
    "read_tps_ground_truth",
    "read_tps_predictions",
]

#: The task names of ``hake eval``.
TPS_TASK = "kinetics-tps"
CLIP_TOPK_TASK = "clip-topk"

#: A predicted person counts when its IoU with a ground-truth person is above this (strict).
HUMAN_IOU_THRESH = 0.5
#: A part proposal counts when its IoU with the ground-truth part is at least this.
PART_IOU_THRESH = 0.3
#: One frame in this many is scored (1, 6, 11, ...).
TPS_FRAME_STEP = 5
#: The PSC threshold sweeps ``i / TPS_STEPS`` for ``i = 1 .. TPS_STEPS - 1``.
TPS_STEPS = 10000
#: The challenge's limits on a submission.
MAX_PERSONS_PER_FRAME = 10
MAX_PART_PROPOSALS = 5

Box = tuple[float, float, float, float]
#: Where :meth:`TPSResult.curve` reads the curve by default: 0, 0.1, ..., 1.
_CURVE_THRESHOLDS = tuple(i / 10 for i in range(11))


# ---- Kinetics-TPS records -------------------------------------------------------------------


def _box_problem(value: object) -> str | None:
    """Why ``value`` is not a box ``[x1, y1, x2, y2]`` (None when it is one)."""
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        return "4 numbers [x1, y1, x2, y2]"
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return "4 finite numbers [x1, y1, x2, y2]"
    if value[0] > value[2] or value[1] > value[3]:
        return "a box [x1, y1, x2, y2] with x1 <= x2 and y1 <= y2 (left-top, then right-bottom)"
    return None


def _check_box(record: str, field: str, value: object) -> Box:
    problem = _box_problem(value)
    if problem is not None:
        raise RecordError(record, field, value, problem)
    x1, y1, x2, y2 = (float(v) for v in cast(Sequence[float], value))
    return (x1, y1, x2, y2)


def _check_name(record: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise RecordError(record, field, value, "a non-empty string")
    return value


@dataclass(frozen=True)
class TPSPart:
    """One body-part box and its state: a ground-truth part, or one predicted proposal."""

    box: Box
    state: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", _check_box("TPSPart", "box", self.box))
        _check_name("TPSPart", "state", self.state)


@dataclass(frozen=True)
class TPSPerson:
    """A ground-truth person in one frame: its box and one :class:`TPSPart` per part name."""

    box: Box
    parts: Mapping[str, TPSPart]

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", _check_box("TPSPerson", "box", self.box))
        for name, part in self.parts.items():
            _check_name("TPSPerson", "parts", name)
            if not isinstance(part, TPSPart):
                raise RecordError("TPSPerson", f"parts[{name!r}]", part, "a TPSPart")


@dataclass(frozen=True)
class TPSPersonPrediction:
    """A predicted person in one frame: its box and 1 to :data:`MAX_PART_PROPOSALS`
    proposals per part name."""

    box: Box
    parts: Mapping[str, tuple[TPSPart, ...]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", _check_box("TPSPersonPrediction", "box", self.box))
        for name, proposals in self.parts.items():
            _check_name("TPSPersonPrediction", "parts", name)
            if (
                not isinstance(proposals, tuple)
                or not 1 <= len(proposals) <= MAX_PART_PROPOSALS
                or not all(isinstance(p, TPSPart) for p in proposals)
            ):
                raise RecordError(
                    "TPSPersonPrediction",
                    f"parts[{name!r}]",
                    proposals,
                    f"a tuple of 1 to {MAX_PART_PROPOSALS} TPSPart proposals",
                )


def _check_frames(record: str, frames: Mapping[int, tuple[Any, ...]], kind: type, limit: int | None) -> None:
    for frame, persons in frames.items():
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 1:
            raise RecordError(
                record, "frames", frame, "frame numbers that are integers >= 1 (img_00001 is 1)"
            )
        if not isinstance(persons, tuple) or not all(isinstance(p, kind) for p in persons):
            raise RecordError(record, f"frames[{frame}]", persons, f"a tuple of {kind.__name__}")
        if limit is not None and len(persons) > limit:
            raise RecordError(
                record, f"frames[{frame}]", f"{len(persons)} persons", f"at most {limit} persons"
            )


@dataclass(frozen=True)
class TPSVideo:
    """A ground-truth video: its action and, per frame number (1-based), its persons."""

    video_id: str
    action: str
    frames: Mapping[int, tuple[TPSPerson, ...]]

    def __post_init__(self) -> None:
        _check_name("TPSVideo", "video_id", self.video_id)
        _check_name("TPSVideo", "action", self.action)
        _check_frames("TPSVideo", self.frames, TPSPerson, None)


@dataclass(frozen=True)
class TPSVideoPrediction:
    """A predicted video: its action and, per frame number, at most
    :data:`MAX_PERSONS_PER_FRAME` predicted persons."""

    video_id: str
    action: str
    frames: Mapping[int, tuple[TPSPersonPrediction, ...]]

    def __post_init__(self) -> None:
        _check_name("TPSVideoPrediction", "video_id", self.video_id)
        _check_name("TPSVideoPrediction", "action", self.action)
        _check_frames("TPSVideoPrediction", self.frames, TPSPersonPrediction, MAX_PERSONS_PER_FRAME)


@dataclass(frozen=True)
class TPSVideoScore:
    """One video's outcome: its PSC, whether its action was right, the frames scored."""

    video_id: str
    psc: float
    action_correct: bool
    n_frames: int


@dataclass(frozen=True)
class TPSResult:
    """What :func:`evaluate_tps` returns.

    Attributes:
        area: the headline number, the source's sum over ``t = i / steps`` (module docstring).
        area_exact: the integral of the same curve over [0, 1] (mean of PSC x action right).
        action_accuracy: the share of videos whose action is right (the curve at ``t = 0``).
        videos: one :class:`TPSVideoScore` per ground-truth video, in its order.
        ignored_videos: predicted videos the ground truth does not hold.
        steps: the threshold grid of :attr:`area`.
    """

    area: float
    area_exact: float
    action_accuracy: float
    videos: tuple[TPSVideoScore, ...]
    ignored_videos: int
    steps: int

    def accuracy_at(self, threshold: float) -> float:
        """The share of videos whose action is right and whose PSC is ``>= threshold``."""
        right = sum(1 for v in self.videos if v.action_correct and v.psc >= threshold)
        return right / len(self.videos)

    def curve(self, thresholds: Sequence[float] = _CURVE_THRESHOLDS) -> list[tuple[float, float]]:
        """``(threshold, accuracy)`` at each threshold (default 0, 0.1, ..., 1)."""
        return [(t, self.accuracy_at(t)) for t in thresholds]

    def to_dict(self) -> dict[str, Any]:
        """The report of ``hake eval --task kinetics-tps --json``: area rounded to 6
        decimals (as the challenge reported it), the curve at 0, 0.1, ..., 1 and every
        video's PSC."""
        return {
            "task": TPS_TASK,
            "area": round(self.area, 6),
            "area_exact": round(self.area_exact, 6),
            "action_accuracy": round(self.action_accuracy, 6),
            "curve": {f"{t:.1f}": round(a, 6) for t, a in self.curve()},
            "n_videos": len(self.videos),
            "ignored_videos": self.ignored_videos,
            "videos": {
                v.video_id: {"psc": v.psc, "action_correct": v.action_correct, "n_frames": v.n_frames}
                for v in self.videos
            },
        }


# ---- Kinetics-TPS metric --------------------------------------------------------------------


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two boxes ``[x1, y1, x2, y2]`` in inclusive pixel coordinates (a box is
    ``x2 - x1 + 1`` wide), -1 when they do not overlap: the Kinetics-TPS convention.

    >>> box_iou((0, 0, 9, 9), (0, 0, 9, 4)), box_iou((0, 0, 9, 9), (10, 0, 19, 9))
    (0.5, -1.0)
    """
    inter_w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    inter_h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if inter_w <= 0 or inter_h <= 0:
        return -1.0
    inter = inter_w * inter_h
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return float(inter / (area_a + area_b - inter))


def _match_persons(
    truth: Sequence[TPSPerson], predicted: Sequence[TPSPersonPrediction], threshold: float
) -> dict[int, int]:
    """Ground-truth person index -> predicted person index, one to one, for the pairs of the
    largest-total-IoU assignment whose IoU is above ``threshold``."""
    if not truth or not predicted:
        return {}
    from scipy.optimize import linear_sum_assignment

    n = max(len(truth), len(predicted))
    iou = np.zeros((n, n))  # padded with IoU 0, as the source pads its matrix
    for i, person in enumerate(truth):
        for j, guess in enumerate(predicted):
            iou[i, j] = box_iou(person.box, guess.box)
    rows, cols = linear_sum_assignment(1.0 - iou)
    return {
        int(r): int(c)
        for r, c in zip(rows, cols, strict=True)
        if r < len(truth) and c < len(predicted) and iou[r, c] > threshold
    }


def _person_score(truth: TPSPerson, guess: TPSPersonPrediction, part_iou: float) -> float:
    """Sum over the ground-truth parts of ``1 / N_p`` for each part with a right proposal."""
    total = 0.0
    for name, part in truth.parts.items():
        proposals = guess.parts.get(name, ())
        if any(p.state == part.state and box_iou(part.box, p.box) >= part_iou for p in proposals):
            total += 1.0 / len(proposals)
    return total


def _video_psc(
    truth: TPSVideo, guess: TPSVideoPrediction, frame_step: int, human_iou: float, part_iou: float
) -> tuple[float, int]:
    """PSC of one video and the number of frames it averages (module docstring, step 5)."""
    frames = [(f, persons) for f, persons in truth.frames.items() if (f - 1) % frame_step == 0]
    counted, total = len(frames), 0.0
    for frame, persons in frames:
        if not persons:
            counted -= 1
            continue
        predicted = guess.frames.get(frame)
        if predicted is None:  # counted, as 0 (even when its persons have no part)
            continue
        matches = _match_persons(persons, predicted, human_iou)
        n_parts = sum(len(person.parts) for person in persons)
        if n_parts == 0:
            counted -= 1
            continue
        right = sum(
            _person_score(p, predicted[matches[i]], part_iou) for i, p in enumerate(persons) if i in matches
        )
        total += right / n_parts
    return (1.0 if counted == 0 else total / counted), counted


def _by_id(videos: Iterable[Any], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for video in videos:
        if video.video_id in out:
            raise ReasoningError(
                f"evaluate_tps: {what} holds video {video.video_id!r} twice; expected each once"
            )
        out[video.video_id] = video
    return out


def evaluate_tps(
    ground_truth: Iterable[TPSVideo],
    predictions: Iterable[TPSVideoPrediction],
    *,
    frame_step: int = TPS_FRAME_STEP,
    human_iou: float = HUMAN_IOU_THRESH,
    part_iou: float = PART_IOU_THRESH,
    steps: int = TPS_STEPS,
) -> TPSResult:
    """The Kinetics-TPS metric (module docstring): per-video PSC, the accuracy curve
    conditioned on PSC and its area.

    Args:
        ground_truth: the videos, each with its action and per-frame persons and parts.
        predictions: one prediction per ground-truth video (others are ignored and counted).
        frame_step: score frames ``1, 1 + frame_step, ...`` (5; 1 scores every listed frame).
        human_iou: a person match counts above this IoU (0.5).
        part_iou: a part proposal counts at or above this IoU (0.3).
        steps: the threshold grid of the area (10000).

    Raises:
        ReasoningError: no ground-truth video, a video twice, a video without prediction,
            an option out of range.
    """
    if not isinstance(frame_step, int) or frame_step < 1:
        raise ReasoningError(f"evaluate_tps: frame_step must be an integer >= 1, got {frame_step!r}")
    if not isinstance(steps, int) or steps < 2:
        raise ReasoningError(f"evaluate_tps: steps must be an integer >= 2, got {steps!r}")
    for name, value in (("human_iou", human_iou), ("part_iou", part_iou)):
        if not 0.0 <= value <= 1.0:
            raise ReasoningError(f"evaluate_tps: {name} must be in [0, 1], got {value!r}")
    truth = _by_id(ground_truth, "the ground truth")
    guesses = _by_id(predictions, "the predictions")
    if not truth:
        raise ReasoningError("evaluate_tps: expected at least one ground-truth video, got none")
    missing = [v for v in truth if v not in guesses]
    if missing:
        raise ReasoningError(
            f"evaluate_tps: {len(missing)} ground-truth video(s) have no prediction: "
            f"{brief_repr(missing[:5])}; predict every video (an empty 'frames' scores 0)"
        )
    scores = []
    for video_id, video in truth.items():
        guess = guesses[video_id]
        psc, n_frames = _video_psc(video, guess, frame_step, human_iou, part_iou)
        scores.append(TPSVideoScore(video_id, psc, guess.action == video.action, n_frames))
    # the area, summed as the source does: acc(t) for t = 1/steps .. (steps-1)/steps
    right = sorted(s.psc for s in scores if s.action_correct)
    n = len(scores)
    area = 0.0
    for i in range(1, steps):
        t = i / steps
        area += 1.0 / steps * ((len(right) - bisect.bisect_left(right, t)) / n)
    return TPSResult(
        area=area,
        area_exact=sum(right) / n,
        action_accuracy=len(right) / n,
        videos=tuple(scores),
        ignored_videos=sum(1 for v in guesses if v not in truth),
        steps=steps,
    )


# ---- Kinetics-TPS files ---------------------------------------------------------------------

_FRAME_KEY = re.compile(r"^(?:img_)?(\d+)(?:\.(?:jpg|jpeg|png|json))?$")


def _read_json(path: Path) -> Any:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationFormatError(name, "(file)", "(path)", "no such file") from None
    except IsADirectoryError:
        raise AnnotationFormatError(name, "(file)", "(path)", "a directory; expected a JSON file") from None
    except UnicodeDecodeError as err:
        raise AnnotationFormatError(name, "(file)", "(encoding)", f"not UTF-8 ({err.reason})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise AnnotationFormatError(
            name, "(file)", "(json)", f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    except RecursionError:
        raise AnnotationFormatError(name, "(file)", "(json)", "nested too deeply to parse") from None


class _Reader:
    """Reads one TPS file into records; every error names the file, video, frame and field."""

    def __init__(self, path: Path, predicted: bool) -> None:
        self.path = path
        self.predicted = predicted
        self.what = "predictions" if predicted else "ground truth"

    def fail(self, key: str, field: str, expected: str, got: object) -> AnnotationFormatError:
        return AnnotationFormatError(
            str(self.path), key, field, f"expected {expected}, got {brief_repr(got, 160)}"
        )

    def keys(
        self, obj: object, key: str, field: str, required: Sequence[str], optional: Sequence[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise self.fail(key, field, f"an object with {list(required)}", obj)
        for name in required:
            if name not in obj:
                raise self.fail(
                    key, f"{field}.{name}" if field else name, "this field", "nothing (it is missing)"
                )
        known = [*required, *optional]
        for name in obj:
            if name not in known:
                close = difflib.get_close_matches(str(name), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(
                    key, f"{field}.{name}" if field else str(name), f"only the fields {known}{hint}", name
                )
        return obj

    def box(self, value: object, key: str, field: str) -> Box:
        problem = _box_problem(value)
        if problem is not None:
            raise self.fail(key, field, problem, value)
        return (float(value[0]), float(value[1]), float(value[2]), float(value[3]))  # type: ignore[index]

    def text(self, value: object, key: str, field: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, field, "a non-empty string", value)
        return value

    def part(self, value: object, key: str, field: str) -> TPSPart:
        obj = self.keys(value, key, field, ("box", "state"))
        return TPSPart(
            self.box(obj["box"], key, f"{field}.box"), self.text(obj["state"], key, f"{field}.state")
        )

    def person(self, value: object, key: str, field: str) -> TPSPerson | TPSPersonPrediction:
        obj = self.keys(value, key, field, ("box", "parts"))
        box = self.box(obj["box"], key, f"{field}.box")
        if not isinstance(obj["parts"], dict):
            raise self.fail(key, f"{field}.parts", 'an object {"PART NAME": ...}', obj["parts"])
        if not self.predicted:
            parts = {name: self.part(p, key, f"{field}.parts.{name}") for name, p in obj["parts"].items()}
            return TPSPerson(box, parts)
        proposals: dict[str, tuple[TPSPart, ...]] = {}
        for name, p in obj["parts"].items():
            where = f"{field}.parts.{name}"
            listed = p if isinstance(p, list) else [p]
            if not 1 <= len(listed) <= MAX_PART_PROPOSALS:
                raise self.fail(
                    key, where, f"1 to {MAX_PART_PROPOSALS} proposals", f"{len(listed)} proposals"
                )
            proposals[name] = tuple(self.part(q, key, f"{where}[{i}]") for i, q in enumerate(listed))
        return TPSPersonPrediction(box, proposals)

    def video(self, video_id: str, value: object) -> TPSVideo | TPSVideoPrediction:
        key = f"video {video_id!r}"
        obj = self.keys(value, key, "", ("action", "frames"))
        action = self.text(obj["action"], key, "action")
        if not isinstance(obj["frames"], dict):
            raise self.fail(key, "frames", 'an object {"FRAME NUMBER": [persons]}', obj["frames"])
        frames: dict[int, tuple[Any, ...]] = {}
        for raw, persons in obj["frames"].items():
            match = _FRAME_KEY.match(raw)
            if match is None or int(match.group(1)) < 1:
                raise self.fail(
                    key, f"frames.{raw}", 'a frame number >= 1 ("6") or a frame name ("img_00006.jpg")', raw
                )
            frame = int(match.group(1))
            where = f"{key}, frame {frame}"
            if frame in frames:
                raise self.fail(where, f"frames.{raw}", "each frame once", f"frame {frame} again")
            if not isinstance(persons, list):
                raise self.fail(where, "persons", "a list of persons", persons)
            if self.predicted and len(persons) > MAX_PERSONS_PER_FRAME:
                raise self.fail(
                    where, "persons", f"at most {MAX_PERSONS_PER_FRAME} persons", f"{len(persons)} persons"
                )
            frames[frame] = tuple(self.person(p, where, f"persons[{i}]") for i, p in enumerate(persons))
        if self.predicted:
            return TPSVideoPrediction(video_id, action, frames)
        return TPSVideo(video_id, action, frames)

    def read(self) -> list[Any]:
        data = _read_json(self.path)
        top = self.keys(data, "(file)", "", ("videos",))
        if not isinstance(top["videos"], dict):
            raise self.fail("(file)", "videos", 'an object {"VIDEO ID": {...}}', top["videos"])
        if not top["videos"]:
            raise self.fail("(file)", "videos", "at least one video", "none")
        return [self.video(video_id, value) for video_id, value in top["videos"].items()]


def read_tps_ground_truth(path: str | Path) -> list[TPSVideo]:
    """The ground-truth videos of a Kinetics-TPS JSON file (format in the module docstring).

    Raises:
        AnnotationFormatError: naming the file, the video, the frame and the field.
    """
    return _Reader(Path(path), predicted=False).read()


def read_tps_predictions(path: str | Path) -> list[TPSVideoPrediction]:
    """The predicted videos of a Kinetics-TPS JSON file: as the ground truth, with 1 to 5
    proposals per part and at most 10 persons per frame.

    Raises:
        AnnotationFormatError: naming the file, the video, the frame and the field.
    """
    return _Reader(Path(path), predicted=True).read()


# ---- clip-level top-k -----------------------------------------------------------------------


def _vocabulary(activities: Ontology | Sequence[str]) -> tuple[tuple[str, ...], dict[str, int]]:
    """Activity names in channel order and every accepted key -> channel."""
    if isinstance(activities, Ontology):
        vocab = activities.activities
        names = tuple(a.name for a in vocab)
        return names, {key: vocab[term_id].index for key, term_id in vocab.id_by_key.items()}
    if isinstance(activities, str) or not isinstance(activities, Sequence):
        raise ReasoningError(
            f"clip_topk: activities must be an Ontology or a list of names, got {brief_repr(activities, 80)}"
        )
    names = tuple(activities)
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ReasoningError(
                f"clip_topk: activity names must be non-empty strings, got {brief_repr(name, 80)}"
            )
        if name in index:
            raise ReasoningError(f"clip_topk: activity {name!r} is listed twice; expected each once")
        index[name] = i
    if not names:
        raise ReasoningError("clip_topk: expected at least one activity, got none")
    return names, index


def _channel(key: object, names: tuple[str, ...], index: Mapping[str, int]) -> int:
    if isinstance(key, str) and key in index:
        return index[key]
    return _unknown(key, names)


def _unknown(key: object, names: Sequence[str]) -> NoReturn:
    raise UnknownTermError("activity", key, difflib.get_close_matches(str(key), names, n=3, cutoff=0.5))


@dataclass(frozen=True)
class ClipTopKResult:
    """What :func:`clip_topk` returns: hits per ``k`` over ``n_clips`` clips."""

    k: tuple[int, ...]
    hits: dict[int, int]
    n_clips: int
    n_activities: int

    @property
    def accuracy(self) -> dict[int, float]:
        """``k`` -> the share of clips whose activity is in the top ``k`` (in [0, 1])."""
        return {k: self.hits[k] / self.n_clips for k in self.k}

    def to_dict(self) -> dict[str, Any]:
        """The report of ``hake eval --task clip-topk --json``: ``top1``, ``top3``, ... in
        percent (rounded to 0.01, as HAA500 and ``hake eval``'s mAP), and the counts."""
        out: dict[str, Any] = {"task": CLIP_TOPK_TASK}
        out.update({f"top{k}": round(100.0 * a, 2) for k, a in self.accuracy.items()})
        out.update(n_clips=self.n_clips, n_activities=self.n_activities)
        return out


def clip_topk(
    scores: Sequence[Mapping[str, float]] | npt.ArrayLike,
    labels: Sequence[str],
    activities: Ontology | Sequence[str],
    k: Sequence[int] = (1, 3),
) -> ClipTopKResult:
    """Clip-level top-k accuracy over the vocabulary ``activities``.

    Args:
        scores: per clip, ``{activity: score}`` (names, or for an ontology ids, names or IRIs;
            activities left out rank last), or an ``(N, C)`` array in the vocabulary's order.
        labels: per clip, its ground-truth activity.
        activities: the vocabulary: an :class:`~ontology.Ontology` (its activities, in
            channel order) or a list of names.
        k: the cut-offs (default 1 and 3).

    Ties rank in vocabulary order; a clip whose activity is unscored misses (module docstring).

    Shapes:
        scores: ``N`` mappings or ``(N, C)``; labels: ``(N,)``.

    Raises:
        UnknownTermError: an activity the vocabulary does not hold (did-you-mean listed).
        ReasoningError: no clip, lengths that differ, a score that is not finite, a bad ``k``.
    """
    names, index = _vocabulary(activities)
    cut = tuple(k)
    if not cut or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in cut):
        raise ReasoningError(f"clip_topk: k must be integers >= 1, got {brief_repr(k, 80)}")
    if len(set(cut)) != len(cut):
        raise ReasoningError(f"clip_topk: k lists a cut-off twice: {cut}")
    n_labels = len(labels)
    if n_labels == 0:
        raise ReasoningError("clip_topk: expected at least one clip, got none")
    n_c = len(names)
    if isinstance(scores, np.ndarray) or (
        isinstance(scores, Sequence) and len(scores) > 0 and not isinstance(scores[0], Mapping)
    ):
        dense = np.asarray(scores, dtype=np.float64)
        if dense.shape != (n_labels, n_c):
            raise ReasoningError(
                f"clip_topk: expected scores of shape ({n_labels}, {n_c}) (clips, activities), "
                f"got {dense.shape}"
            )
        scored = np.ones(dense.shape, dtype=bool)
    else:
        rows = list(scores)  # type: ignore[arg-type]
        if len(rows) != n_labels:
            raise ReasoningError(
                f"clip_topk: expected {n_labels} score rows (one per label), got {len(rows)}"
            )
        dense = np.full((n_labels, n_c), -np.inf)
        scored = np.zeros((n_labels, n_c), dtype=bool)
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise ReasoningError(
                    f"clip_topk: clip {i}: expected {{activity: score}}, got {brief_repr(row, 80)}"
                )
            for key, value in row.items():
                c = _channel(key, names, index)
                if scored[i, c]:
                    raise ReasoningError(
                        f"clip_topk: clip {i} scores activity {names[c]!r} twice (as {key!r})"
                    )
                if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                    raise ReasoningError(
                        f"clip_topk: clip {i}, activity {key!r}: expected a number, got {value!r}"
                    )
                dense[i, c], scored[i, c] = float(value), True
    bad = scored & ~np.isfinite(dense)
    if bad.any():
        i, c = (int(x) for x in np.argwhere(bad)[0])
        raise ReasoningError(
            f"clip_topk: clip {i}, activity {names[c]!r}: expected a finite score, got {dense[i, c]}"
        )
    hits = dict.fromkeys(cut, 0)
    for i, label in enumerate(labels):
        g = _channel(label, names, index)
        if not scored[i, g]:
            continue
        row, s = dense[i], dense[i, g]
        rank = int(np.count_nonzero(row > s)) + int(np.count_nonzero(row[:g] == s))  # 0-based
        for v in cut:
            hits[v] += rank < v
    return ClipTopKResult(k=cut, hits=hits, n_clips=n_labels, n_activities=n_c)


@dataclass(frozen=True)
class ClipScores:
    """The clips of a clip-top-k JSONL file: ids, ground-truth activities, score maps and the
    vocabulary (the header's, or the first clip's score names)."""

    video_ids: tuple[str, ...]
    labels: tuple[str, ...]
    scores: tuple[dict[str, float], ...]
    activities: tuple[str, ...]


def read_clip_scores(path: str | Path) -> ClipScores:
    """Read a clip-top-k JSONL file (format in the module docstring); every error names the
    file, the line and the field.

    Raises:
        AnnotationFormatError: a malformed line, an unknown activity, a repeated video id,
            no clip.
    """
    path = Path(path)
    name = str(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise AnnotationFormatError(name, "(file)", "(path)", "no such file") from None
    except IsADirectoryError:
        raise AnnotationFormatError(name, "(file)", "(path)", "a directory; expected a JSONL file") from None
    except UnicodeDecodeError as err:
        raise AnnotationFormatError(name, "(file)", "(encoding)", f"not UTF-8 ({err.reason})") from None
    vocab: tuple[str, ...] | None = None
    ids: list[str] = []
    labels: list[str] = []
    rows: list[dict[str, float]] = []
    seen: set[str] = set()
    header = False

    def fail(number: int, field: str, expected: str, got: object) -> AnnotationFormatError:
        return AnnotationFormatError(
            name, f"line {number}", field, f"expected {expected}, got {brief_repr(got, 160)}"
        )

    def known(number: int, field: str, activity: str, vocab: tuple[str, ...]) -> None:
        if activity not in vocab:
            close = difflib.get_close_matches(activity, vocab, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            source = "the first line's list" if header else "the first clip's score names"
            raise AnnotationFormatError(
                name,
                f"line {number}",
                field,
                f"unknown activity {activity!r}: not in the vocabulary ({source}){hint}",
            )

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as err:
            raise AnnotationFormatError(name, f"line {number}", "(json)", f"invalid JSON: {err}") from None
        if not isinstance(obj, dict):
            raise fail(number, "(line)", "a JSON object", obj)
        if "activities" in obj and vocab is None and not ids:
            listed = obj["activities"]
            if set(obj) != {"activities"}:
                raise fail(number, "(line)", 'the header {"activities": [...]} alone', sorted(obj))
            if (
                not isinstance(listed, list)
                or not listed
                or not all(isinstance(a, str) and a for a in listed)
                or len(set(listed)) != len(listed)
            ):
                raise fail(number, "activities", "a non-empty list of distinct activity names", listed)
            vocab, header = tuple(listed), True
            continue
        fields = {"video_id", "activity", "scores"}
        if set(obj) != fields:
            extra, lacking = sorted(set(obj) - fields), sorted(fields - set(obj))
            raise fail(
                number,
                "(line)",
                f"the fields {sorted(fields)} (missing {lacking}, unknown {extra})",
                sorted(obj),
            )
        video_id, activity, scores = obj["video_id"], obj["activity"], obj["scores"]
        if not isinstance(video_id, str) or not video_id:
            raise fail(number, "video_id", "a non-empty string", video_id)
        if video_id in seen:
            raise fail(number, "video_id", "each video once", f"{video_id!r} again")
        if not isinstance(activity, str) or not activity:
            raise fail(number, "activity", "an activity name", activity)
        if not isinstance(scores, dict) or not scores:
            raise fail(number, "scores", '{"ACTIVITY": score, ...} with at least one activity', scores)
        for key, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise fail(number, f"scores.{key}", "a finite number", value)
        if vocab is None:
            vocab = tuple(scores)
        for key in scores:
            known(number, f"scores.{key}", key, vocab)
        known(number, "activity", activity, vocab)
        seen.add(video_id)
        ids.append(video_id)
        labels.append(activity)
        rows.append({k: float(v) for k, v in scores.items()})
    if not ids or vocab is None:
        raise AnnotationFormatError(name, "(file)", "(lines)", "expected at least one clip line, got none")
    return ClipScores(tuple(ids), tuple(labels), tuple(rows), vocab)
