"""Body-part boxes: the 10 HAKE fine parts of a person from 17 COCO keypoints.

Geometry (every box is a square centred on an anchor point, then clipped to the image):

====================  =================================  =========================
fine part             anchor                             side (x scale ``S``)
====================  =================================  =========================
right_foot/left_foot  right/left ankle                   0.6
right_leg/left_leg    right/left knee                    0.8
mid_hip               mean of the confident hips         1.0
mid_head              mean of the confident face points  0.8
                      (nose, eyes, ears)
right_hand/left_hand  right/left wrist                   0.6
right_arm/left_arm    right/left elbow                   0.7
====================  =================================  =========================

The scale ``S`` is the torso length, the distance from the mean of the confident shoulders
to the mean of the confident hips, clamped to ``[0.1, 0.6] * max(person width, height)``;
when no shoulder or no hip is confident, ``S = 0.3 * max(person width, height)`` (the
torso is about 0.3 of a standing person's height). Parts are sided as the person sees
them (COCO convention): ``right_hand`` is the person's right wrist.

Fallback, part by part, when an anchor keypoint is missing or below ``min_score``:

1. ``"derived"`` (head only): no face point but a confident shoulder: the head centre is
   ``0.5 * S`` beyond the mean shoulder, away from the hips (straight up when no hip is
   confident).
2. ``"template"``: the anchor is placed at a fixed position of an upright person facing
   the camera inside the person box (:data:`TEMPLATE`, in box-relative ``(u, v)``), with
   the side computed as above.

Every box records its source (``"keypoint"``, ``"derived"`` or ``"template"``) in
:attr:`PartBoxes.sources`, so callers can see which boxes are guesses; with no keypoints at
all (pose not run) every part comes from the template.

>>> from ontology import Box
>>> parts = part_boxes_from_keypoints(Box(0, 0, 100, 200), None)
>>> parts.sources["mid_head"], parts.boxes["mid_head"].to_list()
('template', [26.0, 0.0, 74.0, 48.0])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ontology import COCO_KEYPOINTS, Box, Keypoint, load

__all__ = [
    "COCO_KEYPOINTS",
    "PART_ANCHORS",
    "PART_SIDES",
    "TEMPLATE",
    "PartBoxes",
    "part_boxes_from_keypoints",
]

_K = {name: i for i, name in enumerate(COCO_KEYPOINTS)}

#: Fine part -> COCO keypoints whose confident mean is the box centre.
PART_ANCHORS: Mapping[str, tuple[str, ...]] = {
    "right_foot": ("right_ankle",),
    "right_leg": ("right_knee",),
    "left_leg": ("left_knee",),
    "left_foot": ("left_ankle",),
    "mid_hip": ("left_hip", "right_hip"),
    "mid_head": ("nose", "left_eye", "right_eye", "left_ear", "right_ear"),
    "right_hand": ("right_wrist",),
    "right_arm": ("right_elbow",),
    "left_arm": ("left_elbow",),
    "left_hand": ("left_wrist",),
}

#: Fine part -> side of its square box as a multiple of the person scale ``S``.
PART_SIDES: Mapping[str, float] = {
    "right_foot": 0.6,
    "right_leg": 0.8,
    "left_leg": 0.8,
    "left_foot": 0.6,
    "mid_hip": 1.0,
    "mid_head": 0.8,
    "right_hand": 0.6,
    "right_arm": 0.7,
    "left_arm": 0.7,
    "left_hand": 0.6,
}

#: Fine part -> anchor ``(u, v)`` inside the person box for an upright person facing the
#: camera (the person's right is the image's left). Used when the anchor keypoints fail.
TEMPLATE: Mapping[str, tuple[float, float]] = {
    "right_foot": (0.42, 0.93),
    "right_leg": (0.42, 0.72),
    "left_leg": (0.58, 0.72),
    "left_foot": (0.58, 0.93),
    "mid_hip": (0.5, 0.52),
    "mid_head": (0.5, 0.12),
    "right_hand": (0.25, 0.52),
    "right_arm": (0.3, 0.38),
    "left_arm": (0.7, 0.38),
    "left_hand": (0.75, 0.52),
}

#: Torso length bounds and default, as fractions of ``max(person width, height)``.
SCALE_MIN, SCALE_MAX, SCALE_DEFAULT = 0.1, 0.6, 0.3


@dataclass(frozen=True)
class PartBoxes:
    """The 10 fine-part boxes of one person.

    Attributes:
        boxes: fine part id -> box, in the ontology's body-part order.
        sources: fine part id -> ``"keypoint"``, ``"derived"`` or ``"template"``.
        scale: the person scale ``S`` in pixels (see the module docstring).
    """

    boxes: Mapping[str, Box]
    sources: Mapping[str, str]
    scale: float

    @property
    def fallback_parts(self) -> tuple[str, ...]:
        """Parts whose box was not anchored on their own keypoints."""
        return tuple(p for p, s in self.sources.items() if s != "keypoint")

    def as_list(self) -> list[list[float]]:
        """``[x1, y1, x2, y2]`` per fine part in ontology order; shape ``(10, 4)``."""
        return [b.to_list() for b in self.boxes.values()]


def _mean(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    if not points:
        return None
    return (
        sum(p[0] for p in points) / len(points),
        sum(p[1] for p in points) / len(points),
    )


def _square(cx: float, cy: float, side: float, width: float | None, height: float | None) -> Box:
    if width is not None and height is not None:
        cx = min(max(cx, 0.0), width)
        cy = min(max(cy, 0.0), height)
    half = side / 2.0
    x1, y1, x2, y2 = cx - half, cy - half, cx + half, cy + half
    if width is not None and height is not None:
        x1, x2 = max(x1, 0.0), min(x2, width)
        y1, y2 = max(y1, 0.0), min(y2, height)
    return Box(x1, y1, x2, y2)


def part_boxes_from_keypoints(
    person: Box,
    keypoints: Sequence[Keypoint] | None,
    image_size: tuple[int, int] | None = None,
    min_score: float = 0.3,
) -> PartBoxes:
    """The 10 HAKE part boxes of one person (geometry and fallback in the module docstring).

    Args:
        person: the person box in image pixels.
        keypoints: 17 COCO keypoints in image pixels, or ``None`` (every part from the
            template).
        image_size: ``(width, height)``; boxes are clipped to it when given.
        min_score: keypoints scoring below this are treated as missing.

    Returns:
        :class:`PartBoxes` with boxes in the ontology's fine-part order.
    """
    if keypoints is not None and len(keypoints) != len(COCO_KEYPOINTS):
        raise ValueError(
            f"expected {len(COCO_KEYPOINTS)} COCO keypoints, got {len(keypoints)}; pass the "
            "keypoints of a COCO-17 pose model or None"
        )
    width = height = None
    if image_size is not None:
        width, height = float(image_size[0]), float(image_size[1])
    extent = max(person.x2 - person.x1, person.y2 - person.y1, 1.0)

    def confident(*names: str) -> list[tuple[float, float]]:
        if keypoints is None:
            return []
        out = []
        for name in names:
            kp = keypoints[_K[name]]
            if kp.score >= min_score and math.isfinite(kp.x) and math.isfinite(kp.y):
                out.append((kp.x, kp.y))
        return out

    shoulders = _mean(confident("left_shoulder", "right_shoulder"))
    hips = _mean(confident("left_hip", "right_hip"))
    if shoulders is not None and hips is not None:
        torso = math.dist(shoulders, hips)
        scale = min(max(torso, SCALE_MIN * extent), SCALE_MAX * extent)
    else:
        scale = SCALE_DEFAULT * extent

    boxes: dict[str, Box] = {}
    sources: dict[str, str] = {}
    for part in load().body_parts:
        pid = part.id
        side = PART_SIDES[pid] * scale
        centre = _mean(confident(*PART_ANCHORS[pid]))
        source = "keypoint"
        if centre is None and pid == "mid_head" and shoulders is not None:
            if hips is not None and math.dist(shoulders, hips) > 0:
                d = math.dist(shoulders, hips)
                ux, uy = (shoulders[0] - hips[0]) / d, (shoulders[1] - hips[1]) / d
            else:
                ux, uy = 0.0, -1.0
            centre = (shoulders[0] + 0.5 * scale * ux, shoulders[1] + 0.5 * scale * uy)
            source = "derived"
        if centre is None:
            u, v = TEMPLATE[pid]
            centre = (
                person.x1 + u * (person.x2 - person.x1),
                person.y1 + v * (person.y2 - person.y1),
            )
            source = "template"
        boxes[pid] = _square(centre[0], centre[1], side, width, height)
        sources[pid] = source
    return PartBoxes(boxes=boxes, sources=sources, scale=scale)
