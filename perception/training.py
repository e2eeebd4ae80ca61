"""Training the part-state heads on HAKE instance-level annotations and your images.

HAKE ships annotations, not images: pass the HICO-DET training images you have
(``image_root / image_id``). :func:`samples_from_hake` turns
:class:`~ontology.PersonAnnotation` records into :class:`PartStateSample` (person box,
10 part boxes from pose keypoints or the template fallback, target states);
:func:`train_part_state_model` runs the loop.

Targets per person (:func:`part_state_targets`):

- a state is positive when the person carries it; for a coarse part with no positive
  state, that part's ``no_interaction`` state is positive (instance-level HAKE labels omit
  ``no_interaction``; the image-level convention is that an unlabelled part does not
  interact);
- only the 76 HICO-set states are supervised (``mask``); the 17 states outside it are
  never labelled in HICO data, so they are neither positive nor negative; the part states
  an extension adds are supervised (the data that trains them is the user's: a sample
  without one of them is its negative);
- a fine part is active when any label was on it;
- persons with no part-state label at all (pairs without ``action_labels``) carry no
  evidence and are skipped by :func:`samples_from_hake`.

Loss: binary cross-entropy on the masked state logits plus binary cross-entropy on the
active-part logits.

Usage::

    persons = ontology.read_hake_instance("hico-det-instance-level.tar.gz")
    samples, report = samples_from_hake(persons, "hico_20160224_det/images/train2015")
    model = PartStateModel.from_backbone("microsoft/resnet-50")
    train_part_state_model(model, samples, epochs=2, device="cuda")
    model.save_pretrained("part-state-heads")
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ontology import Box, Keypoint, Ontology, PersonAnnotation, load
from perception._io import load_image
from perception._loading import progress_bar, resolve_device
from perception.errors import ImageReadError
from perception.part_boxes import part_boxes_from_keypoints

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from perception.part_state_model import PartStateModel
    from perception.pose import PoseEstimator

__all__ = [
    "HakeSampleReport",
    "PartStateSample",
    "TrainingReport",
    "part_state_targets",
    "samples_from_hake",
    "train_part_state_model",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartStateSample:
    """One training person.

    Attributes:
        image: an image path or an RGB PIL image.
        person: the person box (pixels).
        part_boxes: 10 fine-part boxes in ontology order.
        part_states: positive part-state ids (HICO-set states and an extension's are
            supervised).
        active_parts: fine-part ids that carried a label.
        image_id: for reports.
        ontology: the ontology the ids are checked against (``None``: the packaged one); not
            stored.
    """

    image: str | os.PathLike[str] | Image.Image
    person: Box
    part_boxes: tuple[Box, ...]
    part_states: frozenset[str]
    active_parts: frozenset[str]
    image_id: str = "image"
    ontology: InitVar[Ontology | None] = None

    def __post_init__(self, ontology: Ontology | None) -> None:
        onto = load() if ontology is None else ontology
        if len(self.part_boxes) != len(onto.body_parts):
            raise ValueError(
                f"PartStateSample.part_boxes: expected {len(onto.body_parts)} boxes, got "
                f"{len(self.part_boxes)}"
            )
        object.__setattr__(self, "part_states", frozenset(onto.part_states[s].id for s in self.part_states))
        object.__setattr__(self, "active_parts", frozenset(onto.body_parts[p].id for p in self.active_parts))


@dataclass
class HakeSampleReport:
    """What :func:`samples_from_hake` kept and skipped (counts of persons)."""

    samples: int = 0
    missing_images: int = 0
    without_states: int = 0
    missing_examples: list[str] = field(default_factory=list)


@dataclass
class TrainingReport:
    """Losses of :func:`train_part_state_model`: one mean per epoch and every step's."""

    epochs: int
    steps: int
    samples: int
    epoch_losses: list[float]
    step_losses: list[float]

    @property
    def final_loss(self) -> float:
        return self.epoch_losses[-1] if self.epoch_losses else math.nan


def part_state_targets(
    part_states: Iterable[str], active_parts: Iterable[str], ontology: Ontology | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets of one person (rules in the module docstring) in the channels of ``ontology``
    (default: the packaged one).

    Returns:
        ``(states (S,), mask (S,), active (10,))`` float tensors, ``S`` the ontology's part
        states (93 for the packaged one).

    >>> t, m, a = part_state_targets(["hand: hold"], ["right_hand"])
    >>> states = load().part_states
    >>> int(t[states["hand_hold"].index]), int(t[states["foot: no_interaction"].index])
    (1, 1)
    >>> int(m.sum()), int(a.sum())
    (76, 1)
    """
    import torch

    onto = load() if ontology is None else ontology
    hake = set(load().part_states.ids)  # HAKE's 93: the 17 outside the HICO set stay unsupervised
    states = torch.zeros(len(onto.part_states))
    mask = torch.zeros(len(onto.part_states))
    active = torch.zeros(len(onto.body_parts))
    positive = {onto.part_states[s].id for s in part_states}
    for coarse in onto.coarse_parts:
        group = onto.part_states_of(coarse.id)
        has_positive = False
        for s in group:
            if s.hico_index is not None or s.id not in hake:
                mask[s.index] = 1.0
            if s.id in positive and not s.no_interaction:
                states[s.index] = 1.0
                has_positive = True
        if not has_positive:
            for s in group:
                if s.no_interaction:
                    states[s.index] = 1.0
    for p in active_parts:
        active[onto.body_parts[p].index] = 1.0
    return states, mask, active


def samples_from_hake(
    persons: Iterable[PersonAnnotation],
    image_root: str | os.PathLike[str],
    pose: PoseEstimator | None = None,
    keypoint_threshold: float = 0.3,
    ontology: Ontology | None = None,
) -> tuple[list[PartStateSample], HakeSampleReport]:
    """Training samples from HAKE instance-level persons whose image is under ``image_root``.

    Part boxes come from ``pose`` keypoints when a pose estimator is given, else from the
    template fallback of :mod:`perception.part_boxes`. Persons without any part-state
    label, and persons whose image file is missing, are counted in the report and skipped
    (with a warning); a missing ``image_root``, or one that holds none of the images, raises
    :class:`~perception.errors.ImageReadError`. Samples are checked against ``ontology``
    (default: the packaged one).
    """
    root = Path(image_root)
    if not root.is_dir():
        raise ImageReadError(
            f"image folder {root} does not exist (or is not a folder); pass the folder that holds "
            "the annotated images (for HICO-DET: the folder with its train2015 image files)"
        )
    report = HakeSampleReport()
    by_image: dict[str, list[PersonAnnotation]] = {}
    for person in persons:
        if not person.part_states:
            report.without_states += 1
            continue
        by_image.setdefault(person.image_id, []).append(person)
    samples: list[PartStateSample] = []
    for image_id, group in by_image.items():
        path = root / image_id
        if not path.exists():
            report.missing_images += len(group)
            if len(report.missing_examples) < 5:
                report.missing_examples.append(str(path))
            continue
        keypoints: list[Sequence[Keypoint] | None] = [None] * len(group)
        size = (group[0].width, group[0].height)
        if pose is not None:
            img = load_image(path)
            size = (img.width, img.height)
            [found] = pose.estimate([img], [[p.box for p in group]])
            keypoints = list(found)
        for person, kps in zip(group, keypoints, strict=True):
            parts = part_boxes_from_keypoints(person.box, kps, size, keypoint_threshold)
            samples.append(
                PartStateSample(
                    image=path,
                    person=person.box,
                    part_boxes=tuple(parts.boxes.values()),
                    part_states=frozenset(person.part_states),
                    active_parts=frozenset(person.active_parts),
                    image_id=image_id,
                    ontology=ontology,
                )
            )
    report.samples = len(samples)
    if by_image and not samples:
        raise ImageReadError(
            f"none of the {len(by_image)} annotated images is under {root} (looked for e.g. "
            f"{', '.join(report.missing_examples[:2])}); pass the folder that holds them"
        )
    if report.missing_images:
        log.warning(
            "%d annotated persons skipped: their images are not under %s (e.g. %s)",
            report.missing_images,
            root,
            ", ".join(report.missing_examples[:2]),
        )
    return samples, report


def train_part_state_model(
    model: PartStateModel,
    samples: Sequence[PartStateSample],
    epochs: int = 1,
    batch_size: int = 8,
    lr: float = 1e-4,
    weight_decay: float = 1e-4,
    freeze_backbone: bool = True,
    device: str = "auto",
    seed: int = 0,
    progress: bool = False,
    data: str = "user samples",
) -> TrainingReport:
    """Train ``model`` in place (AdamW) and record the run in ``model.provenance``.

    Args:
        model: a :class:`~perception.PartStateModel` (its heads, and the backbone unless
            ``freeze_backbone``).
        samples: training persons (their part states are targets in the channels of
            ``model.ontology``).
        epochs, batch_size, lr, weight_decay: the optimisation.
        freeze_backbone: train the heads only (the backbone stays in eval mode).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        seed: shuffling and dropout seed.
        progress: show a tqdm bar over steps.
        data: a description of the training data, stored in the provenance.
    """
    import torch
    from torch.nn.functional import binary_cross_entropy_with_logits as bce

    if not samples:
        raise ValueError(
            "samples: expected at least one PartStateSample, got none (are the images under "
            "image_root? see the HakeSampleReport of samples_from_hake)"
        )
    dev = resolve_device(device)
    model.to(dev)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    params = [p for n, p in model.named_parameters() if not (freeze_backbone and n.startswith("backbone."))]
    for p in model.backbone.parameters():
        p.requires_grad_(not freeze_backbone)
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    targets = [part_state_targets(s.part_states, s.active_parts, model.ontology) for s in samples]
    step_losses: list[float] = []
    epoch_losses: list[float] = []
    steps_per_epoch = math.ceil(len(samples) / batch_size)
    bar = progress_bar(total=epochs * steps_per_epoch, disable=not progress, desc="train part states")
    for _ in range(epochs):
        model.train()
        if freeze_backbone:
            model.backbone.eval()
        order = torch.randperm(len(samples), generator=generator).tolist()
        losses: list[float] = []
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = model.prepare(
                [load_image(samples[i].image) for i in idx],
                [[samples[i].person] for i in idx],
                [[samples[i].part_boxes] for i in idx],
            ).to(dev)
            out = model(batch)
            t_states = torch.stack([targets[i][0] for i in idx]).to(dev)
            t_mask = torch.stack([targets[i][1] for i in idx]).to(dev)
            t_active = torch.stack([targets[i][2] for i in idx]).to(dev)
            state_loss = (bce(out.state_logits, t_states, reduction="none") * t_mask).sum() / (
                t_mask.sum().clamp(min=1)
            )
            loss = state_loss + bce(out.active_logits, t_active)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        epoch_losses.append(sum(losses) / len(losses))
        step_losses.extend(losses)
    bar.close()
    model.eval()
    report = TrainingReport(epochs, len(step_losses), len(samples), epoch_losses, step_losses)
    runs = list(model.provenance.get("training", []))
    runs.append(
        {
            "data": data,
            "samples": len(samples),
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "freeze_backbone": freeze_backbone,
            "epoch_losses": epoch_losses,
        }
    )
    model.provenance["training"] = runs
    return report
