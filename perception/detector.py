"""Persons and objects: an object detector through transformers (RT-DETR by default).

The detector's label names are mapped to the objects of the detector's ontology by name (the
80 COCO names of the packaged one, with the old VOC-style aliases such as ``"tvmonitor"``
and ``"sofa"``, then any an extension adds). Labels that map to no ontology object are
dropped; a detector with no ``person`` label is refused at load time.

Usage::

    det = Detector.from_pretrained("PekingU/rtdetr_r50vd", device="cuda")
    [detections] = det.detect([pil_image])        # one list of Detection per image
    persons = [d for d in detections if d.object == "person"]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ontology import Box, Ontology, UnknownTermError, load
from perception._loading import load_checkpoint, quiet_transformers, resolve_device, resolve_dtype
from perception.errors import CheckpointMismatchError

if TYPE_CHECKING:
    import torch
    from PIL import Image

__all__ = ["DEFAULT_DETECTOR", "LABEL_ALIASES", "Detection", "Detector", "map_labels"]

#: The default detector checkpoint (Hugging Face Hub id).
DEFAULT_DETECTOR = "PekingU/rtdetr_r50vd"

#: Detector label names (lower case) that differ from the ontology's object names.
LABEL_ALIASES = {
    "aeroplane": "airplane",
    "motorbike": "motorcycle",
    "sofa": "couch",
    "tvmonitor": "tv",
    "tv monitor": "tv",
    "diningtable": "dining table",
    "pottedplant": "potted plant",
    "hair dryer": "hair drier",
    "cellphone": "cell phone",
    "mobile phone": "cell phone",
    "sports_ball": "sports ball",
}


def map_labels(id2label: dict[int, str], ontology: Ontology | None = None) -> dict[int, str]:
    """Detector label index -> object id, for the labels ``ontology`` (default: the packaged
    one) knows.

    >>> map_labels({0: "person", 1: "tvmonitor", 2: "LABEL_2", 3: "dining table"})
    {0: 'person', 1: 'tv', 3: 'dining_table'}
    """
    objects = (load() if ontology is None else ontology).objects
    out: dict[int, str] = {}
    for index, label in id2label.items():
        key = str(label).strip().lower()
        key = LABEL_ALIASES.get(key, key)
        for candidate in (key, key.replace("_", " "), key.replace(" ", "_")):
            try:
                out[int(index)] = objects[candidate].id
            except UnknownTermError:
                continue
            break
    return out


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected box: an ontology object id (``"person"`` for people), a score, a box."""

    object: str
    score: float
    box: Box


class Detector:
    """An object detector (``AutoModelForObjectDetection``, RT-DETR tested) with PIL preprocessing.

    Args:
        model: a loaded transformers object-detection model.
        processor: its image processor (PIL backend).
        name: checkpoint name, recorded in observations.
        device: where the model runs.
        half: float16 on CUDA.
        threshold: minimum score kept by :meth:`detect`.
        ontology: the objects its labels map to (``None``: the packaged ontology).
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        name: str = "detector",
        device: str = "auto",
        half: bool = False,
        threshold: float = 0.5,
        ontology: Ontology | None = None,
    ) -> None:
        self.ontology = load() if ontology is None else ontology
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(self.device, half)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.processor = processor
        self.name = name
        self.threshold = threshold
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        self.labels = map_labels(id2label, self.ontology)
        if "person" not in self.labels.values():
            shown = dict(list(id2label.items())[:8])
            raise CheckpointMismatchError(
                f"detector {name!r}: expected a COCO-style label set with a 'person' label "
                f"(config.id2label), got {len(id2label)} labels such as {shown}. Use a COCO "
                "detector such as 'PekingU/rtdetr_r50vd', or set config.id2label to COCO "
                "names before saving."
            )

    @classmethod
    def from_pretrained(
        cls,
        name: str | os.PathLike[str] = DEFAULT_DETECTOR,
        device: str = "auto",
        half: bool = False,
        threshold: float = 0.5,
        ontology: Ontology | None = None,
    ) -> Detector:
        """Load model and image processor (PIL backend) from a Hub id or a local directory;
        ``ontology`` as in the constructor."""
        from transformers import AutoImageProcessor, AutoModelForObjectDetection

        quiet_transformers()
        model = load_checkpoint("detector", name, AutoModelForObjectDetection.from_pretrained)
        processor = load_checkpoint(
            "detector image processor", name, AutoImageProcessor.from_pretrained, backend="pil"
        )
        return cls(model, processor, str(name), device, half, threshold, ontology)

    def detect(self, images: Sequence[Image.Image], threshold: float | None = None) -> list[list[Detection]]:
        """Detect in a batch of RGB images.

        Returns one list per image of :class:`Detection` with score ``>= threshold``,
        best first, boxes in that image's pixels; labels the ontology lacks are dropped.
        """
        import torch

        if not images:
            return []
        threshold = self.threshold if threshold is None else threshold
        inputs = self.processor(images=list(images), return_tensors="pt")
        pixel_values: torch.Tensor = inputs["pixel_values"].to(self.device, self.dtype)
        with torch.inference_mode():
            outputs = self.model(pixel_values=pixel_values)
        outputs.logits = outputs.logits.float()
        outputs.pred_boxes = outputs.pred_boxes.float()
        sizes = [(img.height, img.width) for img in images]
        results = self.processor.post_process_object_detection(
            outputs, threshold=threshold, target_sizes=sizes
        )
        out: list[list[Detection]] = []
        for (h, w), result in zip(sizes, results, strict=True):
            dets: list[Detection] = []
            for score, label, box in zip(
                result["scores"].tolist(),
                result["labels"].tolist(),
                result["boxes"].tolist(),
                strict=True,
            ):
                obj = self.labels.get(int(label))
                if obj is None:
                    continue
                x1, y1 = min(max(box[0], 0.0), w), min(max(box[1], 0.0), h)
                x2, y2 = min(max(box[2], x1), w), min(max(box[3], y1), h)
                dets.append(Detection(obj, min(max(float(score), 0.0), 1.0), Box(x1, y1, x2, y2)))
            dets.sort(key=lambda d: -d.score)
            out.append(dets)
        return out
