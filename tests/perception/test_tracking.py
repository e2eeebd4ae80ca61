"""Tracking persons across frames: IoU + appearance (AppearanceTracker), the embeddings pooled
from the detector's feature maps, and the perceiver's video path on PyAV-written videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ontology import Box
from perception import CheckpointMismatchError, Perceiver
from perception.video import AppearanceTracker, IoUTracker, appearance_embeddings

from .conftest import synthetic_image, write_frames

RED, BLUE, GREEN = (np.eye(3)[i] for i in range(3))


def box(x: float, width: float = 10.0) -> Box:
    """A person-sized box at horizontal position ``x``."""
    return Box(x, 0.0, x + width, 30.0)


# ---- the tracker on hand-made boxes and embeddings ---------------------------------------


def test_crossing_persons_swap_ids_by_iou_and_keep_them_by_appearance() -> None:
    # A walks right, B walks left; after the step each overlaps the other's old box more
    # (IoU 1/3) than its own (IoU 3/17)
    before = [box(0), box(12)]
    after = [box(7), box(5)]  # A, B
    assert after[0].iou(before[1]) > after[0].iou(before[0])

    iou_only = IoUTracker()
    assert iou_only.update(before) == [0, 1]
    assert iou_only.update(after) == [1, 0]  # swapped

    tracker = AppearanceTracker()
    assert tracker.update(before, [RED, BLUE]) == [0, 1]
    assert tracker.update(after, [RED, BLUE]) == [0, 1]
    # and on through the crossing, until they are apart again
    assert tracker.update([box(14), box(-2)], [RED, BLUE]) == [0, 1]
    assert tracker.update([box(21), box(-9)], [RED, BLUE]) == [0, 1]


def test_similar_appearances_fall_back_to_overlap() -> None:
    # two persons dressed alike: appearance cannot tell them apart, IoU still can
    tracker = AppearanceTracker()
    same = [1.0, 0.0, 0.0]
    assert tracker.update([box(0), box(40)], [same, same]) == [0, 1]
    assert tracker.update([box(42), box(2)], [same, same]) == [1, 0]


def test_a_short_occlusion_keeps_the_id_even_after_a_jump() -> None:
    tracker = AppearanceTracker(max_age=3)
    assert tracker.update([box(0), box(50)], [RED, BLUE]) == [0, 1]
    for _ in range(3):  # A hidden behind something for three frames
        assert tracker.update([box(50)], [BLUE]) == [1]
    assert 0 in tracker.live
    # A reappears on the far side of the occluder: no overlap with its last box
    assert box(30).iou(box(0)) == 0.0
    assert tracker.update([box(30), box(50)], [RED, BLUE]) == [0, 1]

    iou_only = IoUTracker(max_age=3)
    iou_only.update([box(0), box(50)])
    for _ in range(3):
        iou_only.update([box(50)])
    assert iou_only.update([box(30), box(50)]) == [2, 1]  # IoU alone loses A


def test_a_new_person_gets_a_new_id_even_where_a_lost_track_was() -> None:
    tracker = AppearanceTracker(max_age=5)
    assert tracker.update([box(0)], [RED]) == [0]
    assert tracker.update([], np.zeros((0, 3))) == []  # A occluded
    # someone else steps into A's place: full overlap, different appearance
    assert tracker.update([box(0)], [GREEN]) == [1]
    # a third person, elsewhere
    assert tracker.update([box(0), box(60)], [GREEN, BLUE]) == [1, 2]
    # A comes back next to them and is recognised
    assert tracker.update([box(0), box(60), box(20)], [GREEN, BLUE, RED]) == [1, 2, 0]

    iou_only = IoUTracker(max_age=5)
    iou_only.update([box(0)])
    iou_only.update([])
    assert iou_only.update([box(0)]) == [0]  # IoU alone hands A's id to the newcomer


@pytest.mark.parametrize("misses, expected", [(2, 0), (3, 1)])
def test_tracks_expire_after_max_age_missed_updates(misses: int, expected: int) -> None:
    tracker = AppearanceTracker(max_age=2)
    assert tracker.update([box(0)], [RED]) == [0]
    for _ in range(misses):
        tracker.update([], [])
    assert (0 in tracker.live) == (misses <= 2)
    assert tracker.update([box(0)], [RED]) == [expected]


def test_track_embedding_is_a_normalised_running_average() -> None:
    tracker = AppearanceTracker(momentum=0.9)
    tracker.update([box(0)], [[2.0, 0.0]])  # rows are normalised on the way in
    np.testing.assert_allclose(tracker.embedding(0), [1.0, 0.0])
    tracker.update([box(1)], [[0.6, 0.8]])
    mixed = np.array([0.9 + 0.1 * 0.6, 0.1 * 0.8])
    np.testing.assert_allclose(tracker.embedding(0), mixed / np.linalg.norm(mixed))
    with pytest.raises(KeyError, match="expected a live track id"):
        tracker.embedding(7)


def test_tracker_refuses_bad_embeddings_and_parameters() -> None:
    tracker = AppearanceTracker()
    with pytest.raises(ValueError, match=r"one row per box, shape \(2, D\)"):
        tracker.update([box(0), box(20)], [RED])
    with pytest.raises(ValueError, match="finite"):
        tracker.update([box(0)], [[np.nan, 1.0, 0.0]])
    with pytest.raises(ValueError, match="non-zero rows"):
        tracker.update([box(0)], [[0.0, 0.0, 0.0]])
    tracker.update([box(0)], [RED])
    with pytest.raises(ValueError, match="expected D = 3"):
        tracker.update([box(0)], [[1.0, 0.0]])
    with pytest.raises(ValueError, match="reid_similarity"):
        AppearanceTracker(min_similarity=0.9, reid_similarity=0.5)
    with pytest.raises(ValueError, match="appearance_weight"):
        AppearanceTracker(appearance_weight=1.5)
    with pytest.raises(ValueError, match="max_age"):
        AppearanceTracker(max_age=-1)


# ---- embeddings from feature maps -----------------------------------------------------------


def test_appearance_embeddings_pool_the_box_region_at_the_image_scale() -> None:
    # one 2-channel map: channel 0 lights the left half, channel 1 the right half
    fmap = torch.zeros(1, 2, 8, 8)
    fmap[0, 0, :, :4] = 1.0
    fmap[0, 1, :, 4:] = 1.0
    # the image is 200 x 100 px: the map's left half is x < 100 px
    left, right = Box(0, 0, 70, 100), Box(130, 0, 200, 100)
    [emb] = appearance_embeddings([fmap], [[left, right]], [(200, 100)])
    assert emb.shape == (2, 2 * 3)  # channels x stripes
    # minus the frame's mean (0.5 in both channels): each stripe is (+0.5, -0.5) on the left
    # and (-0.5, +0.5) on the right, normalised
    one = 6**-0.5
    expected = torch.tensor([[one] * 3 + [-one] * 3, [-one] * 3 + [one] * 3])
    torch.testing.assert_close(emb, expected, atol=1e-5, rtol=0)
    # the same person against another background gives a different vector (centred)
    fmap[0, 1] = 0.0
    [moved] = appearance_embeddings([fmap], [[left]], [(200, 100)])
    assert float(moved[0] @ emb[0]) < 0.99


def test_appearance_embeddings_weigh_levels_equally_and_check_shapes() -> None:
    big, small = torch.rand(2, 4, 8, 8) * 100, torch.rand(2, 6, 4, 4)
    embs = appearance_embeddings([big, small], [[Box(0, 0, 32, 32)], []], [(64, 64), (64, 64)])
    assert [tuple(e.shape) for e in embs] == [(1, 3 * 10), (0, 3 * 10)]
    e = embs[0][0]
    torch.testing.assert_close(e[: 3 * 4].norm(), e[3 * 4 :].norm())  # not dominated by scale
    with pytest.raises(ValueError, match="B = 1 images"):
        appearance_embeddings([big], [[Box(0, 0, 1, 1)]], [(64, 64)])
    with pytest.raises(ValueError, match="one image size per image"):
        appearance_embeddings([big], [[], []], [(64, 64)])


# ---- end to end: a PyAV video through the tiny models -------------------------------------


@pytest.fixture(scope="module")
def static_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six frames of one still scene (a person-ish figure), MPEG-4 encoded (lossy)."""
    frame = synthetic_image(96, 128, seed=3)
    return write_frames(tmp_path_factory.mktemp("video") / "static.mp4", [frame] * 6)


def test_static_scene_keeps_its_track_ids(perceiver: Perceiver, static_video: Path) -> None:
    tracker = AppearanceTracker()
    scenes = list(perceiver.iter_video_scenes(static_video, tracker=tracker))
    assert [s.frame_index for s in scenes] == list(range(6))
    ids = [sorted(r.track_id for r in s.persons if r.track_id is not None) for s in scenes]
    assert ids[0], "the tiny detector keeps every box (threshold 0): expected persons"
    assert all(frame_ids == ids[0] for frame_ids in ids), ids
    assert ids[0] == list(range(len(ids[0])))  # no id was ever started and dropped
    # the tracks carry embeddings pooled from the detector's three feature maps
    dim = 3 * 3 * 16  # levels x stripes x channels (encoder_hidden_dim of the tiny RT-DETR)
    for track_id in ids[0]:
        emb = tracker.embedding(track_id)
        assert emb.shape == (dim,) and np.isfinite(emb).all()
        assert abs(float(np.linalg.norm(emb)) - 1.0) < 1e-6
    # the same persons, boxes and ids by IoU alone (the IoUTracker path still works)
    by_iou = list(perceiver.iter_video_scenes(static_video, tracker=IoUTracker()))
    assert [[(r.person_id, r.box, r.track_id) for r in s.persons] for s in by_iou] == [
        [(r.person_id, r.box, r.track_id) for r in s.persons] for s in scenes
    ]


def test_scenes_and_appearance_match_infer_scenes(perceiver: Perceiver) -> None:
    images = [synthetic_image(96, 128, seed=s) for s in (1, 2, 3)]
    scenes, embs = perceiver._scenes_and_appearance(images, ["a", "b", "c"])
    assert not perceiver.detector.model._forward_hooks  # the hook is gone
    plain = perceiver.infer_scenes(images, ["a", "b", "c"])
    assert [s.persons for s in scenes] == [s.persons for s in plain]
    for scene, emb in zip(scenes, embs, strict=True):
        assert emb.shape == (len(scene.persons), 144) and emb.dtype == torch.float32
        assert torch.isfinite(emb).all()
        torch.testing.assert_close(emb.norm(dim=1), torch.ones(len(scene.persons)))
    # each image's embeddings are its own, whatever else is in the batch
    for i, image in enumerate(images):
        _, [alone] = perceiver._scenes_and_appearance([image], ["x"])
        torch.testing.assert_close(alone, embs[i], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(embs[0][0], embs[1][0], atol=1e-3)  # another image, another embedding


def test_a_detector_without_feature_maps_is_refused_for_appearance(perceiver: Perceiver) -> None:
    def drop_maps(module: torch.nn.Module, args: object, output: object) -> object:
        output.encoder_last_hidden_state = None  # type: ignore[attr-defined]
        return output

    handle = perceiver.detector.model.register_forward_hook(drop_maps)
    try:
        with pytest.raises(CheckpointMismatchError, match="tracker=IoUTracker()"):
            perceiver._scenes_and_appearance([synthetic_image()], ["a"])
    finally:
        handle.remove()
    assert not perceiver.detector.model._forward_hooks
