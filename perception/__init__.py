"""Perception: images and video -> persons -> body parts -> part-state probabilities.

``import perception`` is cheap: torch, transformers and PyAV load when a name that needs
them is first used. Everything returns :class:`ontology.PersonObservation` records.

>>> import perception
>>> perception.prompt_for(perception.ontology_part_state("hip: sit on"))
"a photo of a person's hip sitting on"

Main entry point::

    from perception import Perceiver
    perceiver = Perceiver.from_pretrained(detector="PekingU/rtdetr_r50vd",
                                          pose="usyd-community/vitpose-base-simple",
                                          clip="openai/clip-vit-base-patch32")
    records = perceiver.infer_image("photo.jpg")          # list[PersonObservation]
    records = perceiver.infer_video("clip.mp4", stride=5) # frame_index, timestamp, track_id
    for obs in perceiver.infer_paths(["photos/"]): ...    # files, directories, videos

The vocabulary is a value: every piece takes ``ontology=`` (an :class:`ontology.Ontology`,
default the packaged one) and sizes itself from it, so a part state an extension adds
(``ontology.load(ontology.example_extension())``: "hand: wave", ...) is scored zero-shot
from its text by ``Perceiver.from_pretrained(..., ontology=onto)``.

Pieces: :class:`Detector` (RT-DETR), :class:`PoseEstimator` (VitPose),
:func:`part_boxes_from_keypoints`, :func:`roi_align` (pure torch), :class:`PartStateModel`
and :func:`train_part_state_model` (trainable heads), :class:`ZeroShotPartStates`
(CLIP/SigLIP), :class:`Activity2Vec`; video: :func:`read_frames`,
:class:`AppearanceTracker` (IoU + appearance, the default), :func:`appearance_embeddings`
and :class:`IoUTracker`.
Errors: see :mod:`perception.errors`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from perception.errors import (
    CheckpointMismatchError,
    CheckpointNotFoundError,
    EmptyVideoError,
    ImageReadError,
    PerceptionError,
    UnsupportedFormatError,
    VideoReadError,
)

if TYPE_CHECKING:
    from ontology import Ontology
    from perception._io import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, check_inputs, load_image
    from perception.activity2vec import Activity2Vec
    from perception.detector import DEFAULT_DETECTOR, Detection, Detector
    from perception.part_boxes import PartBoxes, part_boxes_from_keypoints
    from perception.part_state_model import (
        DEFAULT_BACKBONE,
        PartStateHead,
        PartStateModel,
        PartStateModelConfig,
    )
    from perception.perceiver import Perceiver, PerceiverConfig
    from perception.pose import DEFAULT_POSE, PoseEstimator
    from perception.roi_align import roi_align
    from perception.training import (
        PartStateSample,
        TrainingReport,
        part_state_targets,
        samples_from_hake,
        train_part_state_model,
    )
    from perception.video import AppearanceTracker, IoUTracker, VideoFrame, appearance_embeddings, read_frames
    from perception.zero_shot import DEFAULT_CLIP, ZeroShotPartStates, prompt_for

__all__ = [
    "DEFAULT_BACKBONE",
    "DEFAULT_CLIP",
    "DEFAULT_DETECTOR",
    "DEFAULT_POSE",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Activity2Vec",
    "AppearanceTracker",
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "Detection",
    "Detector",
    "EmptyVideoError",
    "ImageReadError",
    "IoUTracker",
    "PartBoxes",
    "PartStateHead",
    "PartStateModel",
    "PartStateModelConfig",
    "PartStateSample",
    "Perceiver",
    "PerceiverConfig",
    "PerceptionError",
    "PoseEstimator",
    "TrainingReport",
    "UnsupportedFormatError",
    "VideoFrame",
    "VideoReadError",
    "ZeroShotPartStates",
    "appearance_embeddings",
    "check_inputs",
    "load_image",
    "ontology_part_state",
    "part_boxes_from_keypoints",
    "part_state_targets",
    "prompt_for",
    "read_frames",
    "roi_align",
    "samples_from_hake",
    "train_part_state_model",
]

#: Public name -> module that defines it (imported on first access).
_LAZY = {
    "IMAGE_EXTENSIONS": "perception._io",
    "VIDEO_EXTENSIONS": "perception._io",
    "load_image": "perception._io",
    "check_inputs": "perception._io",
    "Activity2Vec": "perception.activity2vec",
    "DEFAULT_DETECTOR": "perception.detector",
    "Detection": "perception.detector",
    "Detector": "perception.detector",
    "PartBoxes": "perception.part_boxes",
    "part_boxes_from_keypoints": "perception.part_boxes",
    "DEFAULT_BACKBONE": "perception.part_state_model",
    "PartStateHead": "perception.part_state_model",
    "PartStateModel": "perception.part_state_model",
    "PartStateModelConfig": "perception.part_state_model",
    "Perceiver": "perception.perceiver",
    "PerceiverConfig": "perception.perceiver",
    "DEFAULT_POSE": "perception.pose",
    "PoseEstimator": "perception.pose",
    "roi_align": "perception.roi_align",
    "PartStateSample": "perception.training",
    "TrainingReport": "perception.training",
    "part_state_targets": "perception.training",
    "samples_from_hake": "perception.training",
    "train_part_state_model": "perception.training",
    "AppearanceTracker": "perception.video",
    "IoUTracker": "perception.video",
    "appearance_embeddings": "perception.video",
    "VideoFrame": "perception.video",
    "read_frames": "perception.video",
    "DEFAULT_CLIP": "perception.zero_shot",
    "ZeroShotPartStates": "perception.zero_shot",
    "prompt_for": "perception.zero_shot",
}


def ontology_part_state(key: object, ontology: Ontology | None = None) -> Any:
    """The part-state term of ``ontology`` (default: the packaged one) for an id, name, IRI
    or index (a convenience)."""
    from ontology import load

    return (load() if ontology is None else ontology).part_states[key]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'perception' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
