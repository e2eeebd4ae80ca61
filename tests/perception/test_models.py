"""Detector, pose and zero-shot CLIP wrappers on tiny saved checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import ontology
from ontology import Box, Keypoint
from perception import (
    CheckpointMismatchError,
    CheckpointNotFoundError,
    Detector,
    PoseEstimator,
    ZeroShotPartStates,
)
from perception.detector import map_labels
from perception.part_boxes import part_boxes_from_keypoints

from .conftest import synthetic_image


@pytest.fixture(scope="module")
def detector(tiny_models: dict[str, Path]) -> Detector:
    return Detector.from_pretrained(tiny_models["detector"], device="cpu", threshold=0.0)


@pytest.fixture(scope="module")
def pose(tiny_models: dict[str, Path]) -> PoseEstimator:
    return PoseEstimator.from_pretrained(tiny_models["pose"], device="cpu", batch_size=3)


@pytest.fixture(scope="module")
def zero_shot(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> ZeroShotPartStates:
    cache = tmp_path_factory.mktemp("text-cache")
    return ZeroShotPartStates.from_pretrained(tiny_models["clip"], device="cpu", cache_dir=cache)


def test_label_mapping_uses_names_and_aliases() -> None:
    assert map_labels({0: "person", 1: "bicycle", 2: "tvmonitor", 3: "traffic cone"}) == {
        0: "person",
        1: "bicycle",
        2: "tv",
    }
    assert map_labels({5: "Dining Table", 6: "sofa", 7: "hair dryer"}) == {
        5: "dining_table",
        6: "couch",
        7: "hair_drier",
    }


def test_detector_boxes_scores_and_labels(detector: Detector) -> None:
    images = [synthetic_image(96, 128), synthetic_image(150, 70, seed=1)]
    results = detector.detect(images)
    assert len(results) == 2
    known = set(ontology.load().objects.ids)
    for img, dets in zip(images, results, strict=True):
        assert dets, "threshold 0 keeps every query whose label maps to the ontology"
        scores = [d.score for d in dets]
        assert scores == sorted(scores, reverse=True)
        for d in dets:
            assert d.object in known and d.object in {"person", "bicycle", "tv"}
            assert 0.0 <= d.score <= 1.0
            assert 0 <= d.box.x1 <= d.box.x2 <= img.width
            assert 0 <= d.box.y1 <= d.box.y2 <= img.height
    assert detector.detect([]) == []
    assert detector.detect(images, threshold=1.0) == [[], []]


def test_detector_without_person_label_is_refused(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    from transformers import AutoModelForObjectDetection

    model = AutoModelForObjectDetection.from_pretrained(tiny_models["detector"])
    model.config.id2label = {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2", 3: "LABEL_3"}
    with pytest.raises(CheckpointMismatchError, match="'person' label"):
        Detector(model, processor=None, name="no-person", device="cpu")


def test_missing_checkpoint_says_what_where_and_how(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(CheckpointNotFoundError) as err:
        Detector.from_pretrained(missing, device="cpu")
    message = str(err.value)
    assert "detector checkpoint" in message and str(missing) in message
    assert "save_pretrained" in message
    # a Hub id that is not in the cache, offline
    with pytest.raises(CheckpointNotFoundError) as err:
        PoseEstimator.from_pretrained("no-such-org/no-such-pose-model", device="cpu")
    message = str(err.value)
    assert "no-such-org/no-such-pose-model" in message
    assert "HF_HUB_OFFLINE" in message and "hf download" in message
    # a directory without weights
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointNotFoundError, match="local directory"):
        ZeroShotPartStates.from_pretrained(tmp_path / "empty", device="cpu")


def test_pose_gives_17_keypoints_per_box_and_skips_images_without_boxes(
    pose: PoseEstimator,
) -> None:
    images = [synthetic_image(), synthetic_image(seed=2), synthetic_image(seed=3)]
    boxes = [[Box(20, 5, 76, 120), Box(0, 0, 40, 60)], [], [Box(10, 10, 90, 120)] * 2]
    result = pose.estimate(images, boxes)
    assert [len(r) for r in result] == [2, 0, 2]
    for persons in result:
        for kps in persons:
            assert len(kps) == 17 and all(isinstance(k, Keypoint) for k in kps)
            assert all(0.0 <= k.score <= 1.0 for k in kps)
    # the same box on the same image gives the same keypoints (batched across images)
    a, b = result[2]
    flat = [v for k in a for v in (k.x, k.y, k.score)]
    assert flat == pytest.approx([v for k in b for v in (k.x, k.y, k.score)], abs=1e-2)
    # keypoints lie in the crop around their box (aspect-fixed to 48:64, padded 1.25x, so
    # 108 x 144 px centred on (48, 62.5)), not at raw heatmap coordinates
    for kp in result[0][0]:
        assert abs(kp.x - 48) <= 0.6 * 144 and abs(kp.y - 62.5) <= 0.6 * 144
    assert max(abs(k.x - 48) for k in result[0][0]) > 16  # not squeezed into the heatmap
    assert pose.estimate([images[0]], [[]]) == [[]]


def test_pose_needs_17_keypoints(tiny_models: dict[str, Path]) -> None:
    from transformers import VitPoseForPoseEstimation

    model = VitPoseForPoseEstimation.from_pretrained(tiny_models["pose"])
    model.config.num_labels = 2
    with pytest.raises(CheckpointMismatchError, match="17 COCO keypoints"):
        PoseEstimator(model, processor=None, device="cpu")


def test_text_embeddings_are_computed_once_and_cached_on_disk(
    zero_shot: ZeroShotPartStates, tiny_models: dict[str, Path]
) -> None:
    first = zero_shot.text_embeddings()
    assert first.shape == (93, 16)
    assert torch.allclose(first.norm(dim=-1), torch.ones(93), atol=1e-5)
    assert zero_shot.text_embeddings() is first
    assert zero_shot.cache_dir is not None
    [cached] = list(zero_shot.cache_dir.glob("text-*.pt"))
    fresh = ZeroShotPartStates.from_pretrained(
        tiny_models["clip"], device="cpu", cache_dir=zero_shot.cache_dir
    )
    # the fresh scorer reads the file rather than recomputing: prove it by poisoning it
    torch.save(torch.full((93, 16), 0.25), cached)
    assert torch.equal(fresh.text_embeddings(), torch.full((93, 16), 0.25))
    torch.save(first.cpu(), cached)


def test_zero_shot_scores_are_probabilities_per_part(zero_shot: ZeroShotPartStates) -> None:
    onto = ontology.load()
    image = synthetic_image()
    persons = [Box(20, 5, 76, 120), Box(0, 0, 30, 30)]
    part_boxes = [list(part_boxes_from_keypoints(p, None, (96, 128)).boxes.values()) for p in persons]
    states, active = zero_shot.score(image, part_boxes)
    assert states.shape == (2, 93) and active.shape == (2, 10)
    assert ((states >= 0) & (states <= 1)).all() and ((active >= 0) & (active <= 1)).all()
    # parts with a single fine part (hip, head): softmax over that part's states sums to 1
    for coarse in ("hip", "head"):
        idx = [s.index for s in onto.part_states_of(coarse)]
        torch.testing.assert_close(states[:, idx].sum(dim=1), torch.ones(2))
        none = next(s.index for s in onto.part_states_of(coarse) if s.no_interaction)
        fine = next(p.index for p in onto.body_parts if p.coarse == coarse)
        torch.testing.assert_close(active[:, fine], 1 - states[:, none])
    # crops of several images batched together score like one image at a time
    other = synthetic_image(seed=5)
    batched = zero_shot.score_many([image, other, image], [part_boxes, [], part_boxes[:1]])
    assert [b[0].shape[0] for b in batched] == [2, 0, 1]
    torch.testing.assert_close(batched[0][0], states, atol=1e-5, rtol=0)
    torch.testing.assert_close(batched[2][1], active[:1], atol=1e-5, rtol=0)
    empty_states, empty_active = zero_shot.score(image, [])
    assert empty_states.shape == (0, 93) and empty_active.shape == (0, 10)


def test_saved_configs_are_what_users_would_download(tiny_models: dict[str, Path]) -> None:
    config = json.loads((tiny_models["detector"] / "config.json").read_text())
    assert config["model_type"] == "rt_detr"
    assert json.loads((tiny_models["pose"] / "config.json").read_text())["model_type"] == "vitpose"
    assert json.loads((tiny_models["clip"] / "config.json").read_text())["model_type"] == "clip"
