"""The whole pipeline on tiny saved models: images, directories, videos, errors, records."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import ontology
from ontology import PersonObservation
from perception import (
    EmptyVideoError,
    ImageReadError,
    Perceiver,
    UnsupportedFormatError,
    VideoReadError,
    read_frames,
)
from perception.video import IoUTracker

from .conftest import synthetic_image, write_video


def check_record(obs: PersonObservation, width: int, height: int) -> None:
    onto = ontology.load()
    assert PersonObservation.from_dict(obs.to_dict()) == obs
    assert obs.box is not None and obs.source == "model"
    assert 0 <= obs.box.x1 <= obs.box.x2 <= width and 0 <= obs.box.y1 <= obs.box.y2 <= height
    assert set(obs.part_states) == set(onto.part_states.ids)
    assert set(obs.active_parts) == set(onto.body_parts.ids)
    assert list(obs.part_boxes) == onto.body_parts.ids
    assert obs.keypoints is not None and len(obs.keypoints) == 17
    assert all(o.object != "person" for o in obs.objects)
    assert obs.model is not None and "detector=" in obs.model and "zero_shot=" in obs.model


def test_infer_image_gives_validated_records(perceiver: Perceiver, tmp_path: Path) -> None:
    path = tmp_path / "person.png"
    synthetic_image(96, 128).save(path)
    records = perceiver.infer_image(path)
    assert 1 <= len(records) <= 4  # thresholds 0 keep persons; max_persons caps them
    assert [r.person_id for r in records] == [str(i) for i in range(len(records))]
    for obs in records:
        assert obs.image_id == "person.png"
        assert obs.frame_index is None and obs.track_id is None
        check_record(obs, 96, 128)
    assert set(perceiver.stage_seconds) == {"detect", "pose", "part_boxes", "part_states", "records"}
    assert perceiver.stage_seconds["detect"] > 0 and min(perceiver.stage_seconds.values()) >= 0
    # the same image as a PIL object gives the same records under another id
    again = perceiver.infer_image(synthetic_image(96, 128), image_id="person.png")
    assert [r.box for r in again] == [r.box for r in records]
    for a, b in zip(again, records, strict=True):
        assert dict(a.part_states) == pytest.approx(dict(b.part_states), abs=1e-5)


def test_objects_are_the_overlapping_non_person_detections(perceiver: Perceiver) -> None:
    image = synthetic_image(96, 128)
    [detections] = perceiver.detector.detect([image], threshold=0.0)
    records = perceiver.infer_image(image)
    others = [d for d in detections if d.object != "person"]
    for obs in records:
        assert obs.box is not None
        for o in obs.objects:
            assert o.box is not None
            assert any(o.box == d.box and o.object == d.object for d in others)


def test_scenes_list_every_instance_and_persons_name_theirs(perceiver: Perceiver) -> None:
    image = synthetic_image(96, 128)
    [detections] = perceiver.detector.detect([image], threshold=0.0)
    [scene] = perceiver.infer_scenes([image], ["img.png"])
    others = [d for d in detections if d.object != "person" and d.score >= perceiver.config.object_threshold]
    assert [(o.object_id, o.object, o.box, o.score) for o in scene.objects] == [
        (str(k), d.object, d.box, pytest.approx(d.score)) for k, d in enumerate(others)
    ]
    assert scene.objects and all(o.key == f"img.png/{o.object_id}" for o in scene.objects)
    assert any(person.objects for person in scene.persons)  # (thresholds 0: the tiny detector finds some)
    instances = {o.object_id: o for o in scene.objects}
    assert scene.persons and [list(scene.persons)] == perceiver.infer_images([image], ["img.png"])
    for person in scene.persons:
        for near in person.objects:  # each nearby object is one of the image's instances
            assert near.object_id is not None
            assert (near.object, near.box) == (
                instances[near.object_id].object,
                instances[near.object_id].box,
            )
        # and survives the JSON round trip that `hake infer` writes
        assert PersonObservation.from_dict(person.to_dict()) == person


def test_no_person_means_no_records_and_no_pose_call(tiny_models: dict[str, Path]) -> None:
    strict = Perceiver.from_pretrained(
        detector=tiny_models["detector"],
        pose=tiny_models["pose"],
        clip=tiny_models["clip"],
        device="cpu",
        person_threshold=1.0,
    )
    assert strict.pose is not None
    calls: list[int] = []
    estimate = strict.pose.estimate

    def counting_estimate(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return estimate(*args, **kwargs)  # type: ignore[arg-type]

    strict.pose.estimate = counting_estimate  # type: ignore[method-assign]
    assert strict.infer_image(synthetic_image()) == []
    assert calls == []  # VitPose fails on zero boxes, so it must not be called


def test_without_pose_or_part_states(tiny_models: dict[str, Path]) -> None:
    bare = Perceiver.from_pretrained(
        detector=tiny_models["detector"],
        pose=None,
        clip=None,
        device="cpu",
        person_threshold=0.0,
        object_threshold=0.0,
    )
    records = bare.infer_image(synthetic_image())
    assert records
    for obs in records:
        assert obs.keypoints is None and obs.part_states == {} and len(obs.part_boxes) == 10
    assert bare.model_name.startswith("detector=") and "pose=" not in bare.model_name


def test_infer_video_sets_frames_timestamps_and_tracks(perceiver: Perceiver, tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", frames=7, fps=5)
    records = perceiver.infer_video(video, stride=2)
    frames = sorted({r.frame_index for r in records if r.frame_index is not None})
    assert frames == [0, 2, 4, 6]
    for obs in records:
        assert obs.image_id == "clip.mp4"
        assert obs.timestamp == pytest.approx(obs.frame_index / 5)  # type: ignore[operator]
        assert obs.track_id is not None and obs.track_id >= 0
        assert obs.person_id.startswith(f"{obs.frame_index}:")
        check_record(obs, 64, 48)
    assert len({(r.frame_index, r.person_id) for r in records}) == len(records)
    # a person id is unique per frame: tracks are one-to-one within a frame
    for f in frames:
        tracks = [r.track_id for r in records if r.frame_index == f]
        assert len(tracks) == len(set(tracks))


def test_read_frames_stride_limits_and_errors(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", frames=5, fps=10)
    frames = list(read_frames(video, stride=2))
    assert [f.index for f in frames] == [0, 2, 4]
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.2, 0.4])
    assert frames[0].image.size == (64, 48) and frames[0].image.mode == "RGB"
    assert [f.index for f in read_frames(video, max_frames=2)] == [0, 1]
    with pytest.raises(ValueError, match="stride"):
        list(read_frames(video, stride=0))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    with pytest.raises(VideoReadError, match="cannot open as a video"):
        list(read_frames(broken))
    with pytest.raises(VideoReadError, match="no such file"):
        list(read_frames(tmp_path / "missing.mp4"))


def test_empty_video_is_refused(tmp_path: Path) -> None:
    import av

    # an AVI with a video stream header and no frames
    path = tmp_path / "empty.avi"
    container = av.open(str(path), mode="w")
    stream = container.add_stream("mpeg4", rate=5)
    stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
    container.start_encoding()
    container.close()
    with pytest.raises(EmptyVideoError, match="decoded to 0 frames"):
        list(read_frames(path))


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    import av
    import numpy as np

    path = tmp_path / "audio.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=8000)
        samples = np.zeros((1, 1024), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(VideoReadError, match="no video stream"):
        list(read_frames(path))


def test_infer_paths_walks_directories_images_and_videos(perceiver: Perceiver, tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(["a.jpg", "b.png", "sub/c.jpeg"]):
        synthetic_image(80 + 8 * i, 100, seed=i).save(folder / name)
    (folder / "notes.txt").write_text("ignored inside a directory")
    write_video(folder / "sub" / "v.mp4", frames=3)
    records = list(perceiver.infer_paths([folder], progress=False, stride=1))
    ids = {r.image_id for r in records}
    assert ids <= {"a.jpg", "b.png", "sub/c.jpeg", "sub/v.mp4"}
    assert {"a.jpg", "b.png", "sub/c.jpeg"} <= ids  # thresholds 0: every image has persons
    video = [r for r in records if r.image_id == "sub/v.mp4"]
    assert {r.frame_index for r in video} == {0, 1, 2}
    # images batched two at a time give the same records as one at a time
    single = perceiver.infer_image(folder / "b.png", image_id="b.png")
    batched = [r for r in records if r.image_id == "b.png"]
    assert [r.box for r in batched] == [r.box for r in single]


def test_unreadable_and_unsupported_inputs(
    perceiver: Perceiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(ImageReadError, match="cannot decode as an image"):
        perceiver.infer_image(bad)
    with pytest.raises(ImageReadError, match="no such file"):
        perceiver.infer_image(tmp_path / "missing.png")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(UnsupportedFormatError, match=r"unsupported format '\.txt'.*\.jpg"):
        list(perceiver.infer_paths([text], progress=False))
    good = tmp_path / "good.png"
    synthetic_image().save(good)
    with pytest.raises(ImageReadError):
        list(perceiver.infer_paths([bad, good], progress=False))
    with caplog.at_level(logging.WARNING, logger="perception.perceiver"):
        records = list(perceiver.infer_paths([bad, good], progress=False, on_error="skip"))
    assert records and {r.image_id for r in records} == {"good.png"}
    assert "bad.jpg" in caplog.text


def test_tracker_keeps_ids_across_frames_and_expires_them() -> None:
    from ontology import Box

    tracker = IoUTracker(iou_threshold=0.3, max_age=1)
    assert tracker.update([Box(0, 0, 10, 10)]) == [0]
    assert tracker.update([]) == []
    assert tracker.update([Box(1, 0, 11, 10)]) == [0]  # one missed frame is tolerated
    assert tracker.update([]) == []
    assert tracker.update([]) == []
    assert tracker.update([Box(1, 0, 11, 10)]) == [1]  # expired after max_age misses
    with pytest.raises(ValueError, match="iou_threshold"):
        IoUTracker(iou_threshold=0.0)
