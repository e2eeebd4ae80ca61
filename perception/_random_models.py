"""Random-weight checkpoints for offline tests and benchmarks (no download).

``save_random_models(root, size="tiny")`` writes four directories with
``save_pretrained`` (detector, pose, clip, backbone) that load through the same
``from_pretrained`` calls as the real Hub checkpoints. ``size="tiny"`` builds models of a
few thousand parameters and small input sizes; ``size="full"`` builds the real
architectures from their default configs (RT-DETR R50-vd at 640 px, ViTPose-B at
256x192, CLIP ViT-B/32 at 224 px, ResNet-50) with random weights.

The CLIP tokenizer is a word-level tokenizer over the part-state prompts of the ontology
given (the packaged one by default; the real BPE vocabulary is a download); it only feeds
the text embeddings, which are computed once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ontology import Ontology, load

__all__ = ["DETECTOR_LABELS", "save_random_models"]

#: The tiny detector's labels: COCO names, one VOC-style alias and one the ontology lacks.
DETECTOR_LABELS = ("person", "bicycle", "tvmonitor", "traffic cone")

SIZES = ("tiny", "full")


def _save_detector(out: Path, tiny: bool, onto: Ontology) -> None:
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrResNetConfig
    from transformers.models.rt_detr.image_processing_pil_rt_detr import RTDetrImageProcessorPil

    if tiny:
        labels = list(DETECTOR_LABELS)
        backbone_kwargs: dict[str, Any] = {
            "embedding_size": 8,
            "hidden_sizes": [8, 16, 24, 32],
            "depths": [1, 1, 1, 1],
            "layer_type": "basic",
            "out_features": ["stage2", "stage3", "stage4"],
        }
        backbone = RTDetrResNetConfig(**backbone_kwargs)
        config = RTDetrConfig(
            backbone_config=backbone,
            encoder_hidden_dim=16,
            encoder_in_channels=[16, 24, 32],
            encoder_ffn_dim=32,
            encoder_attention_heads=2,
            d_model=16,
            num_queries=12,
            decoder_in_channels=[16, 16, 16],
            decoder_ffn_dim=32,
            decoder_layers=1,
            decoder_attention_heads=2,
            decoder_n_points=2,
            num_denoising=0,
            hidden_expansion=0.5,
        )
        size = {"height": 64, "width": 64}
    else:
        labels = onto.objects.names
        config = RTDetrConfig()  # the R50-vd architecture of PekingU/rtdetr_r50vd
        size = {"height": 640, "width": 640}
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    RTDetrForObjectDetection(config).save_pretrained(out)
    RTDetrImageProcessorPil(size=size).save_pretrained(out)


def _save_pose(out: Path, tiny: bool) -> None:
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation
    from transformers.models.vitpose.image_processing_pil_vitpose import VitPoseImageProcessorPil

    if tiny:
        kwargs: dict[str, Any] = {
            "image_size": [64, 48],
            "patch_size": [16, 16],
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "mlp_ratio": 2,
            "out_indices": [1],
        }
        size = {"height": 64, "width": 48}
    else:
        kwargs = {"out_indices": [12]}  # ViT-B, 256x192
        size = {"height": 256, "width": 192}
    config: dict[str, Any] = {"backbone_config": VitPoseBackboneConfig(**kwargs), "num_labels": 17}
    VitPoseForPoseEstimation(VitPoseConfig(**config)).save_pretrained(out)
    VitPoseImageProcessorPil(size=size).save_pretrained(out)


def _save_clip(out: Path, tiny: bool, onto: Ontology) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPConfig, CLIPModel, PreTrainedTokenizerFast
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from perception.zero_shot import prompt_for

    words = sorted({w for s in onto.part_states for w in prompt_for(s).split()})
    vocab = {"[PAD]": 0, "[UNK]": 1, "[EOS]": 2} | {w: i + 3 for i, w in enumerate(words)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]"
    )
    tokenizer.save_pretrained(out)
    ids = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    if tiny:
        text = {
            "vocab_size": len(vocab),
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 32,
            **ids,
        }
        vision = {
            "image_size": 32,
            "patch_size": 16,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        }
        config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
        processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    else:
        # ViT-B/32 (openai/clip-vit-base-patch32), text tower sized to this vocabulary
        config = CLIPConfig(text_config={"vocab_size": len(vocab), **ids}, vision_config={"patch_size": 32})
        processor = CLIPImageProcessorPil(
            size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
        )
    CLIPModel(config).save_pretrained(out)
    processor.save_pretrained(out)


def _save_backbone(out: Path, tiny: bool) -> None:
    from transformers import ResNetConfig, ResNetModel

    # Saved as a plain ResNetModel, as Hub ResNet checkpoints are (not as a backbone).
    if tiny:
        config = ResNetConfig(
            embedding_size=8, hidden_sizes=[8, 16, 24], depths=[1, 1, 1], layer_type="basic"
        )
    else:
        config = ResNetConfig()  # ResNet-50 (microsoft/resnet-50)
    ResNetModel(config).save_pretrained(out)


def save_random_models(
    root: str | Path, size: str = "tiny", seed: int = 0, ontology: Ontology | None = None
) -> dict[str, Path]:
    """Write random-weight detector, pose, clip and backbone checkpoints under ``root``.

    ``ontology`` (default: the packaged one) gives the full detector's labels (its objects)
    and the CLIP tokenizer's words (those of its part-state prompts).

    Returns:
        ``{"detector": dir, "pose": dir, "clip": dir, "backbone": dir}``.
    """
    import torch
    from transformers.utils import logging

    if size not in SIZES:
        raise ValueError(f"size: expected one of {SIZES}, got {size!r}")
    logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    tiny = size == "tiny"
    root = Path(root)
    dirs = {name: root / name for name in ("detector", "pose", "clip", "backbone")}
    torch.manual_seed(seed)
    onto = load() if ontology is None else ontology
    _save_detector(dirs["detector"], tiny, onto)
    _save_pose(dirs["pose"], tiny)
    _save_clip(dirs["clip"], tiny, onto)
    _save_backbone(dirs["backbone"], tiny)
    return dirs
