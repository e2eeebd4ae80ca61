"""The perception pipeline: images and videos -> :class:`~ontology.PersonObservation` records.

Per batch of images (or video frames)::

    detector (RT-DETR)        -> person boxes + object boxes (ontology object ids)
    pose (VitPose)            -> 17 COCO keypoints per person (skipped without persons)
    part boxes                -> 10 HAKE fine-part boxes per person (perception.part_boxes)
    part states               -> one probability per part state of the ontology (93 for the
                                 packaged one) + 10 active-part probabilities per person,
                                 from trained heads (PartStateModel) or zero-shot CLIP/SigLIP
    records                   -> PersonObservation (validated against the perceiver's ontology)

The perceiver and its parts share one :class:`~ontology.Ontology` (``ontology=``; the
packaged one by default): an extension's part states are scored zero-shot by CLIP/SigLIP
from their text, and trained heads must have been trained on that ontology.

Objects attached to a person are the detected non-person objects whose box overlaps the
person box grown by half its size on every side (``object_margin``), best score first.

Usage::

    perceiver = Perceiver.from_pretrained(detector="PekingU/rtdetr_r50vd",
                                          pose="usyd-community/vitpose-base-simple")
    observations = perceiver.infer_image("photo.jpg")
    for obs in perceiver.infer_paths(["photos/", "clip.mp4"], progress=True): ...
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import ontology
from ontology import (
    Box,
    DetectedObject,
    ImageObservation,
    ObjectInstance,
    Ontology,
    PersonObservation,
    VideoInfo,
    load,
)
from perception._io import expand_paths, is_video_path, load_image
from perception._loading import progress_bar, require_checkpoints
from perception.detector import DEFAULT_DETECTOR, Detection, Detector
from perception.errors import CheckpointMismatchError, EmptyVideoError, ImageReadError, VideoReadError
from perception.part_boxes import PartBoxes, part_boxes_from_keypoints
from perception.pose import DEFAULT_POSE, PoseEstimator
from perception.video import (
    AppearanceTracker,
    IoUTracker,
    appearance_embeddings,
    count_frames,
    read_frames,
    read_video_info,
)
from perception.zero_shot import DEFAULT_CLIP, ZeroShotPartStates

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from perception.part_state_model import PartStateModel

__all__ = ["Perceiver", "PerceiverConfig"]

log = logging.getLogger(__name__)

ON_ERROR = ("raise", "skip")
STAGES = ("detect", "pose", "part_boxes", "part_states", "records")


@dataclass
class PerceiverConfig:
    """What :meth:`Perceiver.from_pretrained` loads and how the pipeline runs.

    Attributes:
        detector: detector checkpoint (Hub id or ``save_pretrained`` directory).
        pose: pose checkpoint, or ``None`` to skip pose (part boxes from the template).
        clip: zero-shot CLIP/SigLIP checkpoint for part states, or ``None``.
        part_state_head: a trained :class:`~perception.PartStateModel` directory; used
            instead of ``clip`` when given.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        half: float16 on CUDA (ignored on CPU).
        batch_size: images (or video frames) per detector batch.
        person_threshold: minimum detector score for a person.
        object_threshold: minimum detector score for an object.
        keypoint_threshold: keypoints below this score count as missing for part boxes.
        max_persons: keep at most this many persons per image (best scores).
        object_margin: objects overlapping the person box grown by this fraction of its
            size on every side are attached to the person.
        text_cache_dir: where zero-shot text embeddings are cached (``None``: memory).
    """

    detector: str = DEFAULT_DETECTOR
    pose: str | None = DEFAULT_POSE
    clip: str | None = DEFAULT_CLIP
    part_state_head: str | None = None
    device: str = "auto"
    half: bool = True
    batch_size: int = 8
    person_threshold: float = 0.5
    object_threshold: float = 0.5
    keypoint_threshold: float = 0.3
    max_persons: int = 20
    object_margin: float = 0.5
    text_cache_dir: str | None = None

    def __post_init__(self) -> None:
        for name in ("person_threshold", "object_threshold", "keypoint_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: expected a score in [0, 1], got {value!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size: expected an int >= 1, got {self.batch_size!r}")
        if self.max_persons < 1:
            raise ValueError(f"max_persons: expected an int >= 1, got {self.max_persons!r}")


def _grown(box: Box, margin: float) -> Box:
    dx, dy = margin * (box.x2 - box.x1), margin * (box.y2 - box.y1)
    return Box(box.x1 - dx, box.y1 - dy, box.x2 + dx, box.y2 + dy)


def _overlaps(a: Box, b: Box) -> bool:
    return min(a.x2, b.x2) > max(a.x1, b.x1) and min(a.y2, b.y2) > max(a.y1, b.y1)


def _person_boxes(scene: ImageObservation) -> list[Box]:
    return [r.box for r in scene.persons if r.box is not None]


def _check_same_ontology(onto: Ontology, part: str, theirs: Ontology) -> None:
    if theirs != onto:
        raise CheckpointMismatchError(
            f"Perceiver: expected a {part} built for the perceiver's ontology ({onto.id}, "
            f"version {onto.version}, {len(onto.part_states)} part states), got one built for "
            f"{theirs.id} (version {theirs.version}, {len(theirs.part_states)} part states); "
            "pass the same ontology= to every part, or use Perceiver.from_pretrained(..., "
            "ontology=...), which does"
        )


class Perceiver:
    """Images and videos in, validated :class:`~ontology.PersonObservation` records out.

    Build it with :meth:`from_pretrained` (checkpoints by Hub id or local directory), or
    from loaded parts.

    Args:
        detector: the person/object detector.
        pose: the pose estimator, or ``None`` (part boxes from the template).
        part_states: trained heads, a zero-shot scorer, or ``None`` (no part states).
        config: thresholds and batching (the checkpoint fields are only recorded).
        ontology: the vocabulary records are checked against (``None``: the packaged
            ontology). The detector and the part-state scorer must have been built with the
            same one (:class:`~perception.errors.CheckpointMismatchError` otherwise).
    """

    def __init__(
        self,
        detector: Detector,
        pose: PoseEstimator | None = None,
        part_states: PartStateModel | ZeroShotPartStates | None = None,
        config: PerceiverConfig | None = None,
        ontology: Ontology | None = None,
    ) -> None:
        self.ontology = load() if ontology is None else ontology
        _check_same_ontology(self.ontology, "detector", detector.ontology)
        if part_states is not None:
            kind = "zero-shot scorer" if isinstance(part_states, ZeroShotPartStates) else "part-state model"
            _check_same_ontology(self.ontology, kind, part_states.ontology)
        self.detector = detector
        self.pose = pose
        self.part_states = part_states
        self.config = config or PerceiverConfig()
        names = [f"detector={detector.name}"]
        if pose is not None:
            names.append(f"pose={pose.name}")
        if isinstance(part_states, ZeroShotPartStates):
            names.append(f"zero_shot={part_states.name}")
        elif part_states is not None:
            names.append(f"part_state_head={self.config.part_state_head or 'in-memory'}")
        #: Recorded in every observation's ``model`` field.
        self.model_name = "; ".join(names)
        #: Seconds spent per stage since construction (or :meth:`reset_timings`): detect,
        #: pose, part_boxes, part_states, records. Stages end in a host copy, so GPU work
        #: is counted in its own stage.
        self.stage_seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        #: video id -> what its container header says (fps, frames, duration), for every video
        #: the video methods have opened (the store keeps it on the ``Video`` node)
        self.video_info: dict[str, VideoInfo] = {}

    def reset_timings(self) -> None:
        """Zero :attr:`stage_seconds`."""
        self.stage_seconds = dict.fromkeys(STAGES, 0.0)

    def _lap(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.stage_seconds[stage] += now - start
        return now

    @staticmethod
    def check_checkpoints(
        detector: str | os.PathLike[str] = DEFAULT_DETECTOR,
        pose: str | os.PathLike[str] | None = DEFAULT_POSE,
        clip: str | os.PathLike[str] | None = DEFAULT_CLIP,
        part_state_head: str | os.PathLike[str] | None = None,
    ) -> None:
        """Raise :class:`~perception.errors.CheckpointNotFoundError` naming every checkpoint
        :meth:`from_pretrained` would need and cannot get (not cached while the Hub is out of
        reach, or a missing directory), with its size and the command that fetches it;
        looks at the disk only (and whether the Hub answers within a second)."""
        needed: list[tuple[str, str | os.PathLike[str]]] = [("detector", detector)]
        if pose is not None:
            needed.append(("pose", pose))
        if part_state_head is not None:
            needed.append(("part-state head", part_state_head))
        elif clip is not None:
            needed.append(("part states (CLIP)", clip))
        require_checkpoints(needed)

    @classmethod
    def from_pretrained(
        cls,
        detector: str | os.PathLike[str] = DEFAULT_DETECTOR,
        pose: str | os.PathLike[str] | None = DEFAULT_POSE,
        clip: str | os.PathLike[str] | None = DEFAULT_CLIP,
        part_state_head: str | os.PathLike[str] | None = None,
        device: str = "auto",
        half: bool = True,
        batch_size: int = 8,
        person_threshold: float = 0.5,
        object_threshold: float = 0.5,
        keypoint_threshold: float = 0.3,
        max_persons: int = 20,
        text_cache_dir: str | os.PathLike[str] | None = None,
        ontology: Ontology | None = None,
    ) -> Perceiver:
        """Load every model through ``from_pretrained`` (Hub ids or local directories).

        ``pose=None`` skips pose; ``clip=None`` with no ``part_state_head`` skips part
        states; a ``part_state_head`` directory replaces zero-shot CLIP. ``ontology``
        (default: the packaged one) is passed to every part: CLIP scores one prompt per
        part state of it, and a ``part_state_head`` trained on another ontology is refused
        (:class:`~perception.errors.CheckpointMismatchError`).
        """
        onto = load() if ontology is None else ontology
        config = PerceiverConfig(
            detector=str(detector),
            pose=None if pose is None else str(pose),
            clip=None if clip is None else str(clip),
            part_state_head=None if part_state_head is None else str(part_state_head),
            device=device,
            half=half,
            batch_size=batch_size,
            person_threshold=person_threshold,
            object_threshold=object_threshold,
            keypoint_threshold=keypoint_threshold,
            max_persons=max_persons,
            text_cache_dir=None if text_cache_dir is None else str(text_cache_dir),
        )
        cls.check_checkpoints(detector, pose, clip, part_state_head)  # all missing ones at once
        det = Detector.from_pretrained(
            detector, device, half, min(person_threshold, object_threshold), ontology=onto
        )
        pose_model = (
            None
            if pose is None
            else PoseEstimator.from_pretrained(pose, device, half, batch_size=4 * batch_size)
        )
        scorer: PartStateModel | ZeroShotPartStates | None = None
        if part_state_head is not None:
            from perception._loading import resolve_device, resolve_dtype
            from perception.part_state_model import PartStateModel

            dev = resolve_device(device)
            scorer = PartStateModel.from_pretrained(part_state_head, ontology=onto).to(
                dev, resolve_dtype(dev, half)
            )
        elif clip is not None:
            scorer = ZeroShotPartStates.from_pretrained(
                clip, device, half, cache_dir=text_cache_dir, ontology=onto
            )
        return cls(det, pose_model, scorer, config, onto)

    # ---- the pipeline --------------------------------------------------------------------

    def _score_parts(
        self,
        images: Sequence[Image.Image],
        persons: Sequence[Sequence[Box]],
        parts: Sequence[Sequence[PartBoxes]],
    ) -> list[list[tuple[dict[str, float], dict[str, float]]]]:
        """Per image, per person: (part-state probabilities, active-part probabilities)."""
        import torch

        onto = self.ontology
        out: list[list[tuple[dict[str, float], dict[str, float]]]] = [[] for _ in images]
        scorer = self.part_states
        if scorer is None or not any(persons):
            for i, ps in enumerate(persons):
                out[i] = [({}, {}) for _ in ps]
            return out
        if isinstance(scorer, ZeroShotPartStates):
            per_image: list[tuple[torch.Tensor, torch.Tensor]] = scorer.score_many(
                images, [[list(p.boxes.values()) for p in pp] for pp in parts]
            )
        else:
            batch = scorer.prepare(images, persons, [[list(p.boxes.values()) for p in pp] for pp in parts])
            param = next(scorer.parameters())
            with torch.inference_mode():
                result = scorer(batch.to(param.device, param.dtype))
            states = torch.sigmoid(result.state_logits.float()).cpu()
            active = torch.sigmoid(result.active_logits.float()).cpu()
            per_image = []
            start = 0
            for ps in persons:
                per_image.append((states[start : start + len(ps)], active[start : start + len(ps)]))
                start += len(ps)
        state_ids = [s.id for s in onto.part_states]
        part_ids = [p.id for p in onto.body_parts]
        for i, (states_i, active_i) in enumerate(per_image):
            for s_row, a_row in zip(states_i.tolist(), active_i.tolist(), strict=True):
                out[i].append(
                    (
                        dict(zip(state_ids, s_row, strict=True)),
                        dict(zip(part_ids, a_row, strict=True)),
                    )
                )
        return out

    def infer_images(
        self, images: Sequence[Image.Image], image_ids: Sequence[str]
    ) -> list[list[PersonObservation]]:
        """Run the pipeline on a batch of RGB images; one list of persons per image.

        Person ids are ``"0"``, ``"1"``, ... per image, best detection score first.
        """
        return [list(scene.persons) for scene in self.infer_scenes(images, image_ids)]

    def infer_scenes(self, images: Sequence[Image.Image], image_ids: Sequence[str]) -> list[ImageObservation]:
        """Run the pipeline on a batch of RGB images; per image, its persons (as
        :meth:`infer_images`) and every detected object instance (ids ``"0"``, ``"1"``, ... in
        the detector's order), which the persons' nearby objects name by ``object_id``."""
        if len(images) != len(image_ids):
            raise ValueError(
                f"expected one image id per image, got {len(images)} images and {len(image_ids)} ids"
            )
        if not images:
            return []
        cfg = self.config
        clock = time.perf_counter()
        detections = self.detector.detect(images, threshold=min(cfg.person_threshold, cfg.object_threshold))
        persons: list[list[Detection]] = []
        objects: list[list[Detection]] = []
        for dets in detections:
            persons.append(
                [d for d in dets if d.object == "person" and d.score >= cfg.person_threshold][
                    : cfg.max_persons
                ]
            )
            objects.append([d for d in dets if d.object != "person" and d.score >= cfg.object_threshold])
        person_boxes = [[d.box for d in ps] for ps in persons]
        clock = self._lap("detect", clock)
        if self.pose is not None and any(person_boxes):
            keypoints: list[list[tuple[ontology.Keypoint, ...] | None]] = [
                list(k) for k in self.pose.estimate(images, person_boxes)
            ]
        else:
            keypoints = [[None] * len(ps) for ps in persons]
        clock = self._lap("pose", clock)
        parts = [
            [
                part_boxes_from_keypoints(box, kps, (img.width, img.height), cfg.keypoint_threshold)
                for box, kps in zip(boxes, kp_list, strict=True)
            ]
            for img, boxes, kp_list in zip(images, person_boxes, keypoints, strict=True)
        ]
        clock = self._lap("part_boxes", clock)
        scores = self._score_parts(images, person_boxes, parts)
        clock = self._lap("part_states", clock)
        out: list[ImageObservation] = []
        for i, image_id in enumerate(image_ids):
            records = []
            for j, person in enumerate(persons[i]):
                near = _grown(person.box, cfg.object_margin)
                attached = tuple(
                    DetectedObject(o.object, o.score, o.box, ontology=self.ontology, object_id=str(k))
                    for k, o in enumerate(objects[i])
                    if _overlaps(near, o.box)
                )
                states, active = scores[i][j]
                records.append(
                    PersonObservation(
                        image_id=image_id,
                        person_id=str(j),
                        box=person.box,
                        part_states=states,
                        active_parts=active,
                        objects=attached,
                        keypoints=keypoints[i][j],
                        part_boxes=parts[i][j].boxes,
                        source="model",
                        model=self.model_name,
                        ontology=self.ontology,
                    )
                )
            instances = tuple(
                ObjectInstance(image_id, str(k), o.object, o.box, o.score, ontology=self.ontology)
                for k, o in enumerate(objects[i])
            )
            out.append(ImageObservation(image_id, tuple(records), instances))
        self._lap("records", clock)
        return out

    def infer_image(
        self, image: str | os.PathLike[str] | Image.Image, image_id: str | None = None
    ) -> list[PersonObservation]:
        """Persons in one image (a path or an RGB PIL image).

        ``image_id`` defaults to the file name, or ``"image"`` for a PIL image.
        """
        from PIL import Image as PILImage

        if image_id is None:
            image_id = "image" if isinstance(image, PILImage.Image) else Path(image).name
        [records] = self.infer_images([load_image(image)], [image_id])
        return records

    def infer_video(
        self,
        path: str | os.PathLike[str],
        stride: int = 1,
        max_frames: int | None = None,
        image_id: str | None = None,
        progress: bool = False,
        tracker: IoUTracker | AppearanceTracker | None = None,
    ) -> list[PersonObservation]:
        """Persons in every ``stride``-th frame of a video, tracked across frames.

        Records carry ``frame_index`` (source frame number), ``timestamp`` (seconds) and
        ``track_id``; ``image_id`` is the file name and ``person_id`` is
        ``"<frame_index>:<n>"`` (unique in the video).

        ``tracker`` defaults to a fresh :class:`~perception.video.AppearanceTracker` fed with
        appearance embeddings pooled from the detector's own feature maps
        (:meth:`_scenes_and_appearance`); pass an :class:`~perception.video.IoUTracker` to
        track by box overlap alone (no embeddings computed).
        """
        return list(self.iter_video(path, stride, max_frames, image_id, progress, tracker))

    def iter_video(
        self,
        path: str | os.PathLike[str],
        stride: int = 1,
        max_frames: int | None = None,
        image_id: str | None = None,
        progress: bool = False,
        tracker: IoUTracker | AppearanceTracker | None = None,
    ) -> Iterator[PersonObservation]:
        """Like :meth:`infer_video`, yielding records batch by batch."""
        for scene in self.iter_video_scenes(path, stride, max_frames, image_id, progress, tracker):
            yield from scene.persons

    def iter_video_scenes(
        self,
        path: str | os.PathLike[str],
        stride: int = 1,
        max_frames: int | None = None,
        image_id: str | None = None,
        progress: bool = False,
        tracker: IoUTracker | AppearanceTracker | None = None,
    ) -> Iterator[ImageObservation]:
        """Like :meth:`iter_video`, one :class:`~ontology.ImageObservation` per frame: its
        persons (as :meth:`infer_video` gives them) and its object instances (``frame_index``
        set, ids per frame)."""
        from dataclasses import replace

        path = Path(path)
        video_id = image_id or path.name
        self.video_info[video_id] = read_video_info(path)
        tracker = AppearanceTracker() if tracker is None else tracker
        total = None
        if progress:
            n = count_frames(path)
            if n is not None:
                total = -(-n // stride)
                if max_frames is not None:
                    total = min(total, max_frames)
        bar = progress_bar(total=total, disable=not progress, desc=path.name, unit="frame", leave=False)
        frames = read_frames(path, stride, max_frames)
        try:
            while True:
                batch = [f for _, f in zip(range(self.config.batch_size), frames, strict=False)]
                if not batch:
                    break
                images, ids = [f.image for f in batch], [video_id] * len(batch)
                if isinstance(tracker, IoUTracker):
                    scenes = self.infer_scenes(images, ids)
                    tracks = [tracker.update(_person_boxes(s)) for s in scenes]
                else:
                    scenes, embeddings = self._scenes_and_appearance(images, ids)
                    tracks = [
                        tracker.update(_person_boxes(s), e) for s, e in zip(scenes, embeddings, strict=True)
                    ]
                for frame, scene, track_ids in zip(batch, scenes, tracks, strict=True):
                    persons = tuple(
                        replace(
                            r,
                            person_id=f"{frame.index}:{r.person_id}",
                            frame_index=frame.index,
                            timestamp=frame.timestamp,
                            track_id=track,
                            ontology=self.ontology,  # re-checked by replace(): against ours
                        )
                        for r, track in zip(scene.persons, track_ids, strict=True)
                    )
                    objects = tuple(
                        replace(o, frame_index=frame.index, ontology=self.ontology) for o in scene.objects
                    )
                    yield ImageObservation(video_id, persons, objects, frame_index=frame.index)
                bar.update(len(batch))
        finally:
            bar.close()
            frames.close()  # release the video file even when the caller stops early

    def _scenes_and_appearance(
        self, images: Sequence[Image.Image], image_ids: Sequence[str]
    ) -> tuple[list[ImageObservation], list[torch.Tensor]]:
        """:meth:`infer_scenes`, and per image its persons' appearance embeddings ``(P_i, D)``
        (:func:`~perception.video.appearance_embeddings`, unit norm, CPU float32).

        The embeddings pool the multi-scale feature maps the detector computed for these
        images (RT-DETR's ``encoder_last_hidden_state``: its hybrid encoder's stride-8, 16
        and 32 maps), captured by a forward hook during :meth:`infer_scenes`: no second pass,
        and the same code path for tiny random checkpoints and real ones (``D = 3 x 3 x 256``
        = 2304 for ``PekingU/rtdetr_r50vd``).

        Raises:
            CheckpointMismatchError: the detector returns no such maps.
        """
        import torch

        captured: list[object] = []

        def keep(module: torch.nn.Module, args: object, output: object) -> None:
            captured.append(getattr(output, "encoder_last_hidden_state", None))

        handle = self.detector.model.register_forward_hook(keep)
        try:
            scenes = self.infer_scenes(images, image_ids)
        finally:
            handle.remove()
        per_call: list[list[torch.Tensor]] = []
        for found in captured:
            if not (
                isinstance(found, (list, tuple))
                and found
                and all(isinstance(m, torch.Tensor) and m.dim() == 4 for m in found)
            ):
                got = (
                    type(found).__name__
                    if not isinstance(found, torch.Tensor)
                    else f"a {found.dim()}-d tensor"
                )
                raise CheckpointMismatchError(
                    f"appearance tracking: expected detector {self.detector.name!r} to return its "
                    f"multi-scale feature maps as (B, C, H, W) tensors in encoder_last_hidden_state "
                    f"(as RT-DETR does), got {got}; track by box overlap alone with tracker=IoUTracker()"
                )
            per_call.append(list(found))
        maps = [torch.cat(level) for level in zip(*per_call, strict=True)]
        with torch.inference_mode():
            embeddings = appearance_embeddings(
                maps, [_person_boxes(s) for s in scenes], [(im.width, im.height) for im in images]
            )
        return scenes, embeddings

    def infer_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: bool = True,
        stride: int = 1,
        on_error: str = "raise",
    ) -> Iterator[PersonObservation]:
        """Persons in image files, video files and directories of them: the persons of
        :meth:`iter_scenes`."""
        for scene in self.iter_scenes(paths, progress, stride, on_error):
            yield from scene.persons

    def iter_scenes(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: bool = True,
        stride: int = 1,
        on_error: str = "raise",
    ) -> Iterator[ImageObservation]:
        """What perception sees in image files, video files and directories of them (walked,
        sorted): one :class:`~ontology.ImageObservation` per image or video frame.

        Images are batched ``batch_size`` at a time; each video runs through
        :meth:`iter_video` with ``stride``. ``image_id`` is the path relative to the
        directory given (the file name for files given directly). With
        ``on_error="skip"`` an unreadable image or video (or an empty video) is logged as a
        warning and skipped instead of raised. Two inputs that would get the same image id
        raise ``ValueError`` before any work is done.
        """
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error: expected one of {ON_ERROR}, got {on_error!r}")
        files: list[tuple[Path, str]] = []
        seen: dict[str, Path] = {}
        for item in paths:
            base = Path(item)
            for f in expand_paths([base]):
                image_id = f.relative_to(base).as_posix() if base.is_dir() else f.name
                if image_id in seen and seen[image_id] != f:
                    raise ValueError(
                        f"two inputs get the same image id {image_id!r}: {seen[image_id]} and {f}; "
                        "image ids are paths relative to the folder given, so pass their common "
                        "parent folder instead (or rename one)"
                    )
                seen[image_id] = f
                files.append((f, image_id))
        bar = progress_bar(total=len(files), disable=not progress, desc="perception", unit="file")
        pending: list[tuple[Image.Image, str]] = []

        def flush() -> Iterator[ImageObservation]:
            if pending:
                results = self.infer_scenes([p[0] for p in pending], [p[1] for p in pending])
                bar.update(len(pending))
                pending.clear()
                yield from results

        try:
            for path, image_id in files:
                if is_video_path(path):
                    yield from flush()
                    try:
                        yield from self.iter_video_scenes(path, stride, image_id=image_id, progress=progress)
                    except (VideoReadError, EmptyVideoError) as err:
                        if on_error == "raise":
                            raise
                        log.warning("skipped: %s", err)
                    bar.update(1)
                    continue
                try:
                    pending.append((load_image(path), image_id))
                except ImageReadError as err:
                    if on_error == "raise":
                        raise
                    log.warning("skipped: %s", err)
                    bar.update(1)
                if len(pending) >= self.config.batch_size:
                    yield from flush()
            yield from flush()
        finally:
            bar.close()
