"""Pose: 17 COCO keypoints per person box with ``VitPoseForPoseEstimation``.

Top-down: each person box is cropped (affine warp) to the model's input size, the model
predicts one heatmap per keypoint, and the processor maps heatmap peaks back to image
pixels. Keypoint scores are heatmap peak values clamped to ``[0, 1]``. Images without a
person box are skipped (VitPose fails on zero boxes).

Usage::

    pose = PoseEstimator.from_pretrained("usyd-community/vitpose-base-simple")
    [[keypoints]] = pose.estimate([pil_image], [[person_box]])   # 17 Keypoint records
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ontology import Box, Keypoint
from perception._loading import load_checkpoint, quiet_transformers, resolve_device, resolve_dtype
from perception.errors import CheckpointMismatchError
from perception.part_boxes import COCO_KEYPOINTS

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["DEFAULT_POSE", "PoseEstimator"]

#: The default pose checkpoint (Hugging Face Hub id).
DEFAULT_POSE = "usyd-community/vitpose-base-simple"


class PoseEstimator:
    """A top-down COCO-17 pose model (``VitPoseForPoseEstimation``) with PIL preprocessing.

    Args:
        model: a loaded ``VitPoseForPoseEstimation``.
        processor: its image processor (PIL backend).
        name: checkpoint name, recorded in observations.
        device, half: where and in which precision the model runs.
        batch_size: person crops per forward pass.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        name: str = "pose",
        device: str = "auto",
        half: bool = False,
        batch_size: int = 32,
    ) -> None:
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(self.device, half)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.processor = processor
        self.name = name
        self.batch_size = batch_size
        if int(model.config.num_labels) != len(COCO_KEYPOINTS):
            raise CheckpointMismatchError(
                f"pose model {name!r}: expected {len(COCO_KEYPOINTS)} COCO keypoints "
                f"(config.num_labels), got {model.config.num_labels}. Use a COCO-17 VitPose "
                "checkpoint such as 'usyd-community/vitpose-base-simple'."
            )

    @classmethod
    def from_pretrained(
        cls,
        name: str | os.PathLike[str] = DEFAULT_POSE,
        device: str = "auto",
        half: bool = False,
        batch_size: int = 32,
    ) -> PoseEstimator:
        """Load model and image processor (PIL backend) from a Hub id or a local directory."""
        from transformers import AutoImageProcessor, VitPoseForPoseEstimation

        quiet_transformers()
        model = load_checkpoint("pose", name, VitPoseForPoseEstimation.from_pretrained)
        processor = load_checkpoint(
            "pose image processor", name, AutoImageProcessor.from_pretrained, backend="pil"
        )
        return cls(model, processor, str(name), device, half, batch_size)

    def estimate(
        self, images: Sequence[Image.Image], boxes: Sequence[Sequence[Box]]
    ) -> list[list[tuple[Keypoint, ...]]]:
        """Keypoints for every person box of every image.

        Args:
            images: RGB images.
            boxes: per image, the person boxes (image pixels); may be empty.

        Returns:
            per image, per box, 17 :class:`~ontology.Keypoint` in COCO order (image pixels).
        """
        import numpy as np
        import torch

        if len(images) != len(boxes):
            raise ValueError(
                f"expected one box list per image, got {len(images)} images and {len(boxes)} box lists"
            )
        out: list[list[tuple[Keypoint, ...]]] = [[] for _ in images]
        jobs = [(i, b) for i, bs in enumerate(boxes) for b in bs]
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start : start + self.batch_size]
            # The processor takes images with their boxes; group the chunk by image.
            order: list[int] = []
            chunk_images: list[Image.Image] = []
            chunk_boxes: list[list[list[float]]] = []
            for i, box in chunk:
                coco = [box.x1, box.y1, max(box.x2 - box.x1, 1.0), max(box.y2 - box.y1, 1.0)]
                if order and order[-1] == i:
                    chunk_boxes[-1].append(coco)
                else:
                    order.append(i)
                    chunk_images.append(images[i])
                    chunk_boxes.append([coco])
            inputs = self.processor(images=chunk_images, boxes=chunk_boxes, return_tensors="pt")
            pixel_values = inputs["pixel_values"].to(self.device, self.dtype)
            with torch.inference_mode():
                outputs = self.model(pixel_values=pixel_values)
            outputs.heatmaps = outputs.heatmaps.float()
            results = self.processor.post_process_pose_estimation(
                outputs, boxes=[np.asarray(b, dtype=np.float32) for b in chunk_boxes]
            )
            for i, persons in zip(order, results, strict=True):
                for person in persons:
                    xy = person["keypoints"].tolist()
                    scores = person["scores"].reshape(-1).tolist()
                    out[i].append(
                        tuple(
                            Keypoint(float(x), float(y), min(max(float(s), 0.0), 1.0))
                            for (x, y), s in zip(xy, scores, strict=True)
                        )
                    )
        return out
