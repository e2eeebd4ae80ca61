"""Geometry of the 10 HAKE part boxes from COCO keypoints, and its fallbacks."""

from __future__ import annotations

import math

import pytest

import ontology
from ontology import Box, Keypoint, PersonObservation
from perception.part_boxes import (
    COCO_KEYPOINTS,
    PART_SIDES,
    TEMPLATE,
    part_boxes_from_keypoints,
)

PERSON = Box(100, 50, 200, 350)
#: An upright person facing the camera (their right on the image's left), image pixels.
POSE = {
    "nose": (150, 80),
    "left_eye": (155, 75),
    "right_eye": (145, 75),
    "left_ear": (160, 78),
    "right_ear": (140, 78),
    "left_shoulder": (175, 120),
    "right_shoulder": (125, 120),
    "left_elbow": (185, 170),
    "right_elbow": (115, 170),
    "left_wrist": (190, 215),
    "right_wrist": (110, 215),
    "left_hip": (165, 210),
    "right_hip": (135, 210),
    "left_knee": (165, 275),
    "right_knee": (135, 275),
    "left_ankle": (165, 340),
    "right_ankle": (135, 340),
}


def keypoints(missing: tuple[str, ...] = (), score: float = 0.9) -> tuple[Keypoint, ...]:
    return tuple(Keypoint(*POSE[name], 0.05 if name in missing else score) for name in COCO_KEYPOINTS)


def centre(box: Box) -> tuple[float, float]:
    return ((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2)


def test_confident_pose_centres_boxes_on_joints_with_torso_scale() -> None:
    parts = part_boxes_from_keypoints(PERSON, keypoints(), image_size=(640, 480))
    torso = math.dist((150, 120), (150, 210))  # mean shoulder -> mean hip
    assert parts.scale == pytest.approx(torso)
    assert list(parts.boxes) == [p.id for p in ontology.load().body_parts]
    assert set(parts.sources.values()) == {"keypoint"}
    assert parts.fallback_parts == ()
    expected_centres = {
        "right_hand": POSE["right_wrist"],
        "left_hand": POSE["left_wrist"],
        "right_arm": POSE["right_elbow"],
        "left_arm": POSE["left_elbow"],
        "right_leg": POSE["right_knee"],
        "left_leg": POSE["left_knee"],
        "right_foot": POSE["right_ankle"],
        "left_foot": POSE["left_ankle"],
        "mid_hip": (150, 210),
        "mid_head": (150, 77.2),
    }
    for part, (cx, cy) in expected_centres.items():
        box = parts.boxes[part]
        assert centre(box) == pytest.approx((cx, cy)), part
        side = PART_SIDES[part] * torso
        assert box.x2 - box.x1 == pytest.approx(side), part
        assert box.y2 - box.y1 == pytest.approx(side), part
    # the person's right hand is on the image's left for a person facing the camera
    assert centre(parts.boxes["right_hand"])[0] < centre(parts.boxes["left_hand"])[0]


def test_low_confidence_wrist_falls_back_to_template_for_that_part_only() -> None:
    parts = part_boxes_from_keypoints(PERSON, keypoints(missing=("right_wrist",)))
    assert parts.sources["right_hand"] == "template"
    assert parts.fallback_parts == ("right_hand",)
    u, v = TEMPLATE["right_hand"]
    assert centre(parts.boxes["right_hand"]) == pytest.approx((100 + u * 100, 50 + v * 300))
    assert parts.sources["left_hand"] == "keypoint"


def test_missing_face_derives_head_above_shoulders_away_from_hips() -> None:
    face = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
    parts = part_boxes_from_keypoints(PERSON, keypoints(missing=face))
    assert parts.sources["mid_head"] == "derived"
    # mean shoulder (150, 120), hips below: head 0.5 * torso (=45) above the shoulders
    assert centre(parts.boxes["mid_head"]) == pytest.approx((150, 75))


def test_head_direction_follows_the_torso_for_a_lying_person() -> None:
    lying = {name: (y, x) for name, (x, y) in POSE.items()}  # transpose: head to the left
    kps = tuple(
        Keypoint(*lying[n], 0.0 if n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear") else 0.9)
        for n in COCO_KEYPOINTS
    )
    parts = part_boxes_from_keypoints(Box(50, 100, 350, 200), kps)
    cx, cy = centre(parts.boxes["mid_head"])
    assert cx == pytest.approx(120 - 45)  # shoulders at x=120, hips at x=210
    assert cy == pytest.approx(150)


def test_one_hip_is_enough_for_the_hip_box() -> None:
    parts = part_boxes_from_keypoints(PERSON, keypoints(missing=("left_hip",)))
    assert parts.sources["mid_hip"] == "keypoint"
    assert centre(parts.boxes["mid_hip"]) == pytest.approx(POSE["right_hip"])


def test_no_keypoints_uses_template_with_default_scale() -> None:
    parts = part_boxes_from_keypoints(PERSON, None)
    assert set(parts.sources.values()) == {"template"}
    assert parts.scale == pytest.approx(0.3 * 300)
    for part, (u, v) in TEMPLATE.items():
        assert centre(parts.boxes[part]) == pytest.approx((100 + 100 * u, 50 + 300 * v))


def test_scale_is_clamped_when_keypoints_are_implausible() -> None:
    squashed = dict(POSE, left_hip=(175, 121), right_hip=(125, 121))
    kps = tuple(Keypoint(*squashed[n], 0.9) for n in COCO_KEYPOINTS)
    parts = part_boxes_from_keypoints(PERSON, kps)
    assert parts.scale == pytest.approx(0.1 * 300)


def test_boxes_are_clipped_to_the_image() -> None:
    person = Box(0, 0, 60, 100)
    parts = part_boxes_from_keypoints(person, None, image_size=(60, 100))
    for box in parts.boxes.values():
        assert 0 <= box.x1 <= box.x2 <= 60
        assert 0 <= box.y1 <= box.y2 <= 100
    # a keypoint outside the image is clipped onto its border first
    far = tuple(Keypoint(-50.0, -50.0, 0.9) for _ in COCO_KEYPOINTS)
    for box in part_boxes_from_keypoints(person, far, image_size=(60, 100)).boxes.values():
        assert box.x1 == 0 and box.y1 == 0 and box.x2 > 0 and box.y2 > 0


def test_wrong_keypoint_count_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 17 COCO keypoints, got 3"):
        part_boxes_from_keypoints(PERSON, keypoints()[:3])


def test_part_boxes_validate_in_a_record_and_round_trip() -> None:
    kps = keypoints(missing=("left_ankle",))
    parts = part_boxes_from_keypoints(PERSON, kps, image_size=(640, 480))
    obs = PersonObservation("img", "0", box=PERSON, keypoints=kps, part_boxes=parts.boxes)
    again = PersonObservation.from_dict(obs.to_dict())
    assert again.part_boxes == obs.part_boxes
    assert len(again.part_boxes) == 10
