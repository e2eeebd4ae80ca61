"""Tiny random-weight models saved with ``save_pretrained`` once per session.

Every test loads them back through the same ``from_pretrained`` path users take with Hub
names. ``HF_HUB_OFFLINE=1``: nothing here touches the network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import ontology  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)


def synthetic_image(width: int = 96, height: int = 128, seed: int = 0) -> Image.Image:
    """A person-ish figure (head, torso, limbs) on a textured background."""
    g = torch.Generator().manual_seed(seed)
    noise = (torch.rand(height, width, 3, generator=g) * 60 + 90).to(torch.uint8).numpy()
    img = Image.fromarray(noise, "RGB")
    d = ImageDraw.Draw(img)
    cx = width // 2
    d.ellipse([cx - 8, 8, cx + 8, 26], fill=(230, 190, 160))
    d.rectangle([cx - 12, 28, cx + 12, 70], fill=(40, 60, 160))
    d.line([cx - 12, 32, cx - 26, 60], fill=(230, 190, 160), width=5)
    d.line([cx + 12, 32, cx + 26, 60], fill=(230, 190, 160), width=5)
    d.line([cx - 6, 70, cx - 10, 118], fill=(30, 30, 30), width=6)
    d.line([cx + 6, 70, cx + 10, 118], fill=(30, 30, 30), width=6)
    return img


def write_video(path: Path, frames: int = 6, size: tuple[int, int] = (64, 48), fps: int = 5) -> Path:
    """A small MPEG-4 video with a square moving right by 2 px per frame."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            img = Image.new("RGB", size, (20, 120, 60))
            ImageDraw.Draw(img).rectangle([10 + 2 * i, 10, 30 + 2 * i, 40], fill=(250, 250, 250))
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Directories of tiny random detector, pose, CLIP and backbone checkpoints.

    The detector's labels are ``person``, ``bicycle``, ``tvmonitor`` (an alias of ``tv``)
    and ``traffic cone`` (not in the ontology).
    """
    from perception._random_models import save_random_models

    return save_random_models(tmp_path_factory.mktemp("tiny-models"), "tiny", seed=0)


@pytest.fixture(scope="session")
def extended() -> ontology.Ontology:
    """The packaged ontology with the example extension: 99 part states, the 6 new ones
    ("hand: wave", "arm: raise", "leg: squat", "hand: clap", "hand: stir", "hand: wipe") last."""
    return ontology.load(ontology.example_extension())


@pytest.fixture(scope="session")
def tiny_models_extended(
    tmp_path_factory: pytest.TempPathFactory, extended: ontology.Ontology
) -> dict[str, Path]:
    """Like :func:`tiny_models`, with the CLIP tokenizer's words taken from the prompts of the
    :func:`extended` ontology (so "waving", "squatting", ... are words, not unknowns)."""
    from perception._random_models import save_random_models

    return save_random_models(tmp_path_factory.mktemp("tiny-models-ext"), "tiny", seed=0, ontology=extended)


@pytest.fixture(scope="session")
def perceiver(tiny_models: dict[str, Path]) -> Iterator[object]:
    """A Perceiver on the tiny models with every detection kept (thresholds 0)."""
    from perception import Perceiver

    yield Perceiver.from_pretrained(
        detector=tiny_models["detector"],
        pose=tiny_models["pose"],
        clip=tiny_models["clip"],
        device="cpu",
        batch_size=2,
        person_threshold=0.0,
        object_threshold=0.0,
        max_persons=4,
    )


def write_frames(path: Path, images: list[Image.Image], fps: int = 5, codec: str = "mpeg4") -> Path:
    """A video of the given RGB frames (all one size, even sides), encoded with PyAV."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = images[0].size
        stream.pix_fmt = "yuv420p"
        for img in images:
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
