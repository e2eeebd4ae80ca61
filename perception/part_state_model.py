"""Trainable part-state heads on ROI features of an image backbone (PaSta-Net style).

One :class:`PartStateHead` per coarse part (foot, leg, hip, hand, arm, head), sized by the
part states of the model's ontology (the packaged 93, or an extension's superset). For each
of a person's 10 fine parts, the part box and the person box are ROI-Aligned on the
backbone's feature map and average-pooled; the head of the part's coarse part maps
``[part feature, person feature]`` to logits over that coarse part's states plus
one "part is active" logit. Left and right parts share their coarse part's head, and a
coarse part's state logits are the max over its fine parts (HAKE merges sides by OR).

Shapes (``B`` images, ``P`` persons, ``C`` backbone channels, ``S`` part states of the
ontology, 93 for the packaged one)::

    pixel_values (B, 3, H, W) -> feature map (B, C, H/s, W/s)
    person_rois (P, 5), part_rois (P, 10, 4) -> part features (P, 10, C)
    -> state_logits (P, S), active_logits (P, 10)

Saved with :meth:`PartStateModel.save_pretrained` as a directory: ``backbone/`` (the
backbone's own ``save_pretrained``), ``heads.safetensors`` and ``part_state_model.json``
(config, label orders, ontology id and version, library versions, training provenance).
:meth:`PartStateModel.from_pretrained` loads it against an ontology (the packaged one by
default) and refuses one whose part states differ from the saved label order, naming both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

import ontology
from ontology import Box, Ontology, load
from ontology.files import write_bytes_atomic, write_text_atomic
from perception._loading import load_checkpoint, quiet_transformers
from perception.errors import CheckpointMismatchError, CheckpointNotFoundError
from perception.roi_align import roi_align

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DEFAULT_BACKBONE",
    "PartStateBatch",
    "PartStateHead",
    "PartStateModel",
    "PartStateModelConfig",
    "PartStateOutput",
]

#: Default backbone for the trainable heads (ImageNet ResNet-50, stride-16 ``stage3``).
DEFAULT_BACKBONE = "microsoft/resnet-50"
CONFIG_FILE = "part_state_model.json"
HEADS_FILE = "heads.safetensors"


@dataclass
class PartStateModelConfig:
    """Hyper-parameters of a :class:`PartStateModel` (saved beside its weights).

    Attributes:
        backbone: the backbone checkpoint it was built from (Hub id or directory).
        feature: the backbone stage whose feature map is ROI-Aligned.
        image_size: images are resized so their longer side is this many pixels.
        roi_size: ROI-Align output size per side.
        hidden_dim: hidden width of each head's MLP.
        dropout: dropout inside the heads (training only).
        image_mean, image_std: RGB normalisation (ImageNet by default).
    """

    backbone: str = DEFAULT_BACKBONE
    feature: str = "stage3"
    image_size: int = 512
    roi_size: int = 7
    hidden_dim: int = 256
    dropout: float = 0.1
    image_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    image_std: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass
class PartStateOutput:
    """Logits of :meth:`PartStateModel.forward`.

    Attributes:
        state_logits: ``(P, S)`` in the ontology's part-state order.
        active_logits: ``(P, 10)`` in the ontology's fine body-part order.
        part_features: ``(P, 10, C)`` pooled ROI features of the fine parts.
    """

    state_logits: Tensor
    active_logits: Tensor
    part_features: Tensor


@dataclass
class PartStateBatch:
    """Model inputs for a batch of images and the persons in them.

    Attributes:
        pixel_values: ``(B, 3, H, W)`` normalised, zero-padded images.
        person_rois: ``(P, 5)`` rows ``[image index, x1, y1, x2, y2]`` in ``pixel_values``
            coordinates.
        part_rois: ``(P, 10, 4)`` fine-part boxes, same coordinates, ontology part order.
    """

    pixel_values: Tensor
    person_rois: Tensor
    part_rois: Tensor

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> PartStateBatch:
        return PartStateBatch(
            self.pixel_values.to(device=device, dtype=dtype),
            self.person_rois.to(device=device),
            self.part_rois.to(device=device),
        )


class PartStateHead(nn.Module):
    """The head of one coarse part: ``(..., in_dim) -> (..., num_states + 1)``.

    The last output is the "part is active" logit; the others are the coarse part's
    states in ontology order.
    """

    def __init__(self, in_dim: int, hidden_dim: int, num_states: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, num_states + 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out


def _load_backbone(name: str | os.PathLike[str], feature: str) -> nn.Module:
    """Load a transformers backbone (``ResNetBackbone``, ...) exposing ``feature``.

    ``AutoBackbone.from_pretrained`` asks the Hub about local directories in this
    transformers release, so the backbone class is looked up from the checkpoint's config.
    """
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_BACKBONE_MAPPING

    quiet_transformers()
    config = load_checkpoint("part-state backbone", name, AutoConfig.from_pretrained)
    try:
        backbone_cls: Any = MODEL_FOR_BACKBONE_MAPPING[type(config)]
    except KeyError:
        raise CheckpointMismatchError(
            f"part-state backbone {str(name)!r}: model type {config.model_type!r} has no "
            "transformers backbone class; use a CNN backbone checkpoint such as "
            f"{DEFAULT_BACKBONE!r}"
        ) from None
    module: nn.Module = load_checkpoint(
        "part-state backbone", name, backbone_cls.from_pretrained, out_features=[feature]
    )
    return module


def _check_part_states(name: str, meta: Mapping[str, Any], onto: Ontology) -> None:
    """Refuse a saved model whose part-state order is not ``onto``'s (see ``from_pretrained``)."""
    saved = list(meta.get("part_states", []))
    expected = onto.part_states.ids
    if saved == expected:
        return
    recorded = meta.get("ontology") or {}
    theirs = (
        f"ontology {recorded['id']}, version {recorded.get('version')}"
        if "id" in recorded
        else f"ontology package {meta.get('ontology_version', '?')}"
    )
    head = (
        f"part-state model {name!r}: expected the part-state order of this ontology "
        f"({onto.id}, version {onto.version}, {len(expected)} states), got a checkpoint "
        f"trained on {len(saved)} states ({theirs})"
    )
    if len(saved) < len(expected) and expected[: len(saved)] == saved:
        added = expected[len(saved) :]
        shown = ", ".join(added[:6]) + (", ..." if len(added) > 6 else "")
        raise CheckpointMismatchError(
            f"{head}. Its part states are a prefix of this ontology's: the ontology adds "
            f"{len(added)} ({shown}) that the heads have no outputs for. Load it with the "
            "ontology it was trained on, score the new states zero-shot (ZeroShotPartStates "
            "with this ontology), or train heads for this ontology "
            "(PartStateModel.from_backbone(..., ontology=...))"
        )
    if len(saved) > len(expected) and saved[: len(expected)] == expected:
        extra = saved[len(expected) :]
        shown = ", ".join(extra[:6]) + (", ..." if len(extra) > 6 else "")
        raise CheckpointMismatchError(
            f"{head}. This ontology's part states are a prefix of the checkpoint's, which has "
            f"{len(extra)} more ({shown}): load it with the ontology it was trained on "
            "(ontology.load(<its extension files>))"
        )
    first = next(
        (i for i, (a, b) in enumerate(zip(saved, expected, strict=False)) if a != b),
        min(len(saved), len(expected)),
    )
    at = (
        f"channel {first} is {saved[first]!r} in the checkpoint and {expected[first]!r} here"
        if first < min(len(saved), len(expected))
        else "the lists differ in length"
    )
    raise CheckpointMismatchError(
        f"{head}; its part-state order differs ({at}). Load it with the ontology it was trained "
        "on, or retrain the heads with this ontology"
    )


class PartStateModel(nn.Module):
    """Backbone + ROI-Align + one :class:`PartStateHead` per coarse part.

    Build a fresh one on a pretrained backbone with :meth:`from_backbone`, train it with
    :func:`perception.train_part_state_model`, and reload it with :meth:`from_pretrained`.

    Args:
        backbone: a transformers backbone exposing ``channels`` and ``feature_maps``.
        config: hyper-parameters.
        provenance: training runs and data, saved with the model.
        ontology: the part states the heads predict, one output each (``None``: the
            packaged ontology, 93 states).
    """

    _state_perm: Tensor
    _fine_perm: Tensor

    def __init__(
        self,
        backbone: nn.Module,
        config: PartStateModelConfig,
        provenance: Mapping[str, Any] | None = None,
        ontology: Ontology | None = None,
    ) -> None:
        super().__init__()
        onto = load() if ontology is None else ontology
        self.ontology = onto
        self.config = config
        self.backbone = backbone
        self.provenance: dict[str, Any] = dict(provenance or {})
        channels = int(backbone.channels[-1])  # type: ignore[index]
        self.channels = channels
        self.heads = nn.ModuleDict()
        fine_index = {p.id: i for i, p in enumerate(onto.body_parts)}
        self._fine: dict[str, list[int]] = {}
        state_order: list[int] = []
        for coarse in onto.coarse_parts:
            states = onto.part_states_of(coarse.id)
            self.heads[coarse.id] = PartStateHead(
                2 * channels, config.hidden_dim, len(states), config.dropout
            )
            self._fine[coarse.id] = [fine_index[p.id] for p in onto.body_parts if p.coarse == coarse.id]
            state_order.extend(s.index for s in states)
        # concatenating the heads' outputs gives states in coarse-part order; this maps
        # them back to the ontology's channel order.
        self.register_buffer("_state_perm", torch.argsort(torch.tensor(state_order)), persistent=False)
        fine_order = [i for c in onto.coarse_parts for i in self._fine[c.id]]
        self.register_buffer("_fine_perm", torch.argsort(torch.tensor(fine_order)), persistent=False)

    # ---- construction and persistence ---------------------------------------------------

    @classmethod
    def from_backbone(
        cls,
        backbone: str | os.PathLike[str] = DEFAULT_BACKBONE,
        ontology: Ontology | None = None,
        **config: Any,
    ) -> PartStateModel:
        """Fresh heads for the part states of ``ontology`` (default: the packaged one) on a
        pretrained backbone (Hub id or local directory)."""
        cfg = PartStateModelConfig(backbone=str(backbone), **config)
        return cls(_load_backbone(backbone, cfg.feature), cfg, ontology=ontology)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``backbone/``, ``heads.safetensors`` and ``part_state_model.json`` (the last
        two atomically, :func:`ontology.files.atomic_write`; ``backbone/`` by transformers)."""
        import transformers
        from safetensors.torch import save

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(out / "backbone")  # type: ignore[operator]
        heads = {k: v.detach().cpu().contiguous() for k, v in self.heads.state_dict().items()}
        write_bytes_atomic(out / HEADS_FILE, save(heads))
        onto = self.ontology
        meta = {
            "config": asdict(self.config),
            "part_states": [s.id for s in onto.part_states],
            "body_parts": [p.id for p in onto.body_parts],
            "ontology_version": ontology.__version__,
            "ontology": {"id": onto.id, "version": onto.version},
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
            "provenance": self.provenance,
        }
        write_text_atomic(out / CONFIG_FILE, json.dumps(meta, indent=2) + "\n")
        return out

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike[str], ontology: Ontology | None = None
    ) -> PartStateModel:
        """Load a model written by :meth:`save_pretrained` for ``ontology`` (default: the
        packaged one).

        Raises :class:`~perception.errors.CheckpointMismatchError` when the saved part-state
        order is not ``ontology``'s, naming both ontologies (and saying so when the saved
        states are the first ones of ``ontology``'s: an extension's new states have no
        trained outputs).
        """
        from safetensors.torch import load_file

        path = Path(directory)
        meta_path = path / CONFIG_FILE
        if not meta_path.exists():
            raise CheckpointNotFoundError(
                f"part-state model {str(directory)!r}: expected {CONFIG_FILE} in "
                f"{path.resolve()}, found none. Pass a directory written by "
                "PartStateModel.save_pretrained() (train one with "
                "perception.train_part_state_model), or use zero-shot CLIP scoring."
            )
        meta = json.loads(meta_path.read_text())
        onto = load() if ontology is None else ontology
        _check_part_states(str(directory), meta, onto)
        cfg_dict = dict(meta["config"])
        for key in ("image_mean", "image_std"):
            cfg_dict[key] = tuple(cfg_dict[key])
        cfg = PartStateModelConfig(**cfg_dict)
        model = cls(_load_backbone(path / "backbone", cfg.feature), cfg, meta.get("provenance"), onto)
        model.heads.load_state_dict(load_file(str(path / HEADS_FILE)))
        return model.eval()

    # ---- inputs --------------------------------------------------------------------------

    def prepare(
        self,
        images: Sequence[Image.Image],
        persons: Sequence[Sequence[Box]],
        parts: Sequence[Sequence[Sequence[Box]]],
    ) -> PartStateBatch:
        """Resize, normalise and pad images; scale boxes to match.

        Args:
            images: RGB images.
            persons: per image, its person boxes (pixels).
            parts: per image, per person, the 10 fine-part boxes in ontology order.
        """
        import numpy as np

        size = self.config.image_size
        mean = torch.tensor(self.config.image_mean).view(3, 1, 1)
        std = torch.tensor(self.config.image_std).view(3, 1, 1)
        tensors: list[Tensor] = []
        person_rows: list[list[float]] = []
        part_rows: list[list[list[float]]] = []
        for i, img in enumerate(images):
            factor = size / max(img.width, img.height)
            w, h = max(round(img.width * factor), 1), max(round(img.height * factor), 1)
            resized = img.resize((w, h))
            arr = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0)
            tensors.append((arr.permute(2, 0, 1) - mean) / std)
            if len(persons[i]) != len(parts[i]):
                raise ValueError(
                    f"image {i}: expected one set of part boxes per person, got "
                    f"{len(persons[i])} persons and {len(parts[i])} part sets"
                )
            for person, person_parts in zip(persons[i], parts[i], strict=True):
                person_rows.append([float(i)] + [v * factor for v in person.to_list()])
                if len(person_parts) != 10:
                    raise ValueError(f"expected 10 fine-part boxes, got {len(person_parts)}")
                part_rows.append([[v * factor for v in b.to_list()] for b in person_parts])
        stride = 32
        height = -(-max(t.shape[1] for t in tensors) // stride) * stride
        width = -(-max(t.shape[2] for t in tensors) // stride) * stride
        batch = torch.zeros(len(tensors), 3, height, width)
        for i, t in enumerate(tensors):
            batch[i, :, : t.shape[1], : t.shape[2]] = t
        return PartStateBatch(
            batch,
            torch.tensor(person_rows, dtype=torch.float32).reshape(-1, 5),
            torch.tensor(part_rows, dtype=torch.float32).reshape(-1, 10, 4),
        )

    # ---- forward -------------------------------------------------------------------------

    def forward(self, batch: PartStateBatch) -> PartStateOutput:
        """Logits for every person of the batch (shapes in the module docstring)."""
        feats: Tensor = self.backbone(batch.pixel_values).feature_maps[-1]  # (B, C, h, w)
        scale = feats.shape[-1] / batch.pixel_values.shape[-1]
        p = batch.person_rois.shape[0]
        if p == 0:
            n_states = len(self._state_perm)
            return PartStateOutput(
                feats.new_zeros((0, n_states)),
                feats.new_zeros((0, 10)),
                feats.new_zeros((0, 10, self.channels)),
            )
        rs = self.config.roi_size
        person = roi_align(feats, batch.person_rois, rs, scale, 2, True).mean((2, 3))  # (P, C)
        index = batch.person_rois[:, :1].repeat_interleave(10, dim=0)  # (P*10, 1)
        part_rois = torch.cat([index, batch.part_rois.reshape(-1, 4)], dim=1)  # (P*10, 5)
        parts = roi_align(feats, part_rois, rs, scale, 2, True).mean((2, 3)).view(p, 10, -1)
        x = torch.cat([parts, person[:, None, :].expand_as(parts)], dim=-1)  # (P, 10, 2C)
        states: list[Tensor] = []
        active: list[Tensor] = []
        for coarse, fine in self._fine.items():
            out = self.heads[coarse](x[:, fine])  # (P, n_fine, S_c + 1)
            states.append(out[..., :-1].max(dim=1).values)  # (P, S_c): OR over sides
            active.append(out[..., -1])  # (P, n_fine)
        state_logits = torch.cat(states, dim=1)[:, self._state_perm]
        active_logits = torch.cat(active, dim=1)[:, self._fine_perm]
        return PartStateOutput(state_logits, active_logits, parts)
