"""Checkpoint loading and device choice shared by the model wrappers.

Every model is loaded through ``from_pretrained``: a Hugging Face Hub name (downloaded once
into the Hub cache, then read offline) or a local directory written by ``save_pretrained``.
A checkpoint that cannot be found raises :class:`~perception.errors.CheckpointNotFoundError`
saying what was looked for, where, and how to fix it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from perception.errors import CheckpointNotFoundError

if TYPE_CHECKING:
    import torch

__all__ = [
    "CheckpointStatus",
    "checkpoint_status",
    "hub_reachable",
    "load_checkpoint",
    "progress_bar",
    "quiet_transformers",
    "require_checkpoints",
    "resolve_device",
    "resolve_dtype",
]

T = TypeVar("T")

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> ``cuda`` when available, else ``cpu``; other names are checked."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    base = device.split(":")[0]
    if base not in DEVICES:
        raise ValueError(f"device: expected one of {DEVICES} (or 'cuda:N'), got {device!r}")
    if base == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device: {device!r} was asked for but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}); use device='auto' or 'cpu', or install a CUDA "
            "build of torch"
        )
    return torch.device(device)


def resolve_dtype(device: torch.device, half: bool) -> torch.dtype:
    """float16 on CUDA when ``half`` is set, float32 otherwise (CPU half is slow)."""
    import torch

    return torch.float16 if half and device.type == "cuda" else torch.float32


def progress_bar(**kwargs: Any) -> Any:
    """A ``tqdm.auto.tqdm`` bar (``disable=True`` makes it a no-op)."""
    from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]

    return tqdm(**kwargs)


def quiet_transformers() -> None:
    """Silence transformers' per-load progress bars and info logs (errors still show)."""
    from transformers.utils import logging

    logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def load_checkpoint(what: str, name: str | os.PathLike[str], loader: Callable[..., T], **kwargs: Any) -> T:
    """Call ``loader(name, **kwargs)`` (a ``from_pretrained``), explaining a missing checkpoint.

    Args:
        what: what the checkpoint is for, for the message (e.g. ``"detector"``).
        name: a Hub model id or a local directory.
        loader: ``SomeClass.from_pretrained``.
    """
    text = str(name)
    path = Path(text).expanduser()
    looks_local = path.is_absolute() or text.startswith((".", "~")) or path.exists()
    if looks_local and not path.exists():
        raise CheckpointNotFoundError(
            f"{what} checkpoint {text!r}: no such directory (looked at {path.resolve()}). "
            "Pass an existing directory written by save_pretrained(), or a Hugging Face Hub "
            "model id such as 'PekingU/rtdetr_r50vd'."
        )
    try:
        return loader(str(path) if looks_local else text, **kwargs)
    except (OSError, ValueError) as err:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get(
            "TRANSFORMERS_OFFLINE", ""
        ) not in ("", "0")
        if looks_local:
            where = f"the local directory {path.resolve()}"
            fix = (
                "Check that the directory holds config.json and the weights written by "
                "save_pretrained() for this kind of model."
            )
        else:
            from huggingface_hub import constants

            where = f"the Hugging Face Hub cache {constants.HF_HUB_CACHE}" + (
                " (offline mode: HF_HUB_OFFLINE is set)" if offline else " and the Hub"
            )
            fix = (
                f"Download it once with `hf download {text}` (or run with internet access "
                "and HF_HUB_OFFLINE unset), check the spelling of the model id, or pass a "
                "local directory written by save_pretrained()."
            )
        raise CheckpointNotFoundError(
            f"{what} checkpoint {text!r} could not be loaded from {where} "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). {fix}"
        ) from err


#: About how much each default checkpoint downloads (float32 weights: parameter count x 4
#: bytes, rounded; the Hub's files may differ by a few MB).
KNOWN_SIZES_MB = {
    "PekingU/rtdetr_r50vd": 170,  # RT-DETR R50-vd, ~43M parameters
    "usyd-community/vitpose-base-simple": 360,  # ViT-B backbone + heatmap head, ~90M
    "openai/clip-vit-base-patch32": 605,  # CLIP ViT-B/32, ~151M
    "microsoft/resnet-50": 100,  # ResNet-50, ~25M
}

#: The weight files a cached checkpoint has one of (``from_pretrained`` reads the first found).
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


@dataclass(frozen=True)
class CheckpointStatus:
    """Whether one checkpoint can be loaded without downloading.

    Attributes:
        what: what it is for (``"detector"``, ``"pose"``, ...); name: Hub id or directory.
        local: a directory rather than a Hub id; found: config and weights are there.
        where: the directory, or the Hub cache folder looked in.
        size_mb: about how much a download is (None: unknown, or local).
    """

    what: str
    name: str
    local: bool
    found: bool
    where: str
    size_mb: int | None

    def state(self) -> str:
        """``"cached"``, ``"found"``, or what is missing and the command that fetches it."""
        if self.local:
            return "found" if self.found else "no such directory"
        size = f", about {self.size_mb} MB" if self.size_mb else ""
        return "cached" if self.found else f"not cached{size}: hf download {self.name}"

    def describe(self) -> str:
        return f"{self.what} {self.name} ({self.state()})"


def _looks_local(text: str) -> bool:
    path = Path(text).expanduser()
    return path.is_absolute() or text.startswith((".", "~")) or path.exists()


def checkpoint_status(what: str, name: str | os.PathLike[str]) -> CheckpointStatus:
    """Look for a checkpoint on disk only (a local directory, or the Hub cache): no network."""
    text = str(name)
    if _looks_local(text):
        path = Path(text).expanduser()
        found = path.is_dir()  # (what it holds is checked by the loader, which names what is wrong)
        return CheckpointStatus(what, text, True, found, str(path.resolve()), None)
    from huggingface_hub import constants, try_to_load_from_cache

    def cached(filename: str) -> bool:
        return isinstance(try_to_load_from_cache(text, filename), str)

    found = cached("config.json") and any(cached(f) for f in _WEIGHT_FILES)
    return CheckpointStatus(what, text, False, found, str(constants.HF_HUB_CACHE), KNOWN_SIZES_MB.get(text))


def hub_reachable(timeout: float = 1.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connection within ``timeout`` seconds
    (False at once in offline mode, ``HF_HUB_OFFLINE=1``)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def require_checkpoints(needed: Sequence[tuple[str, str | os.PathLike[str]]]) -> None:
    """Raise :class:`CheckpointNotFoundError` naming *every* checkpoint of ``needed`` (what,
    name) that cannot be loaded: a missing local directory, or a Hub checkpoint that is not
    cached while the Hub cannot be reached. Checked before any model loads, so that a
    machine without the weights learns it in one line, at once, instead of after retries."""
    statuses = [checkpoint_status(what, name) for what, name in needed]
    missing_local = [s for s in statuses if s.local and not s.found]
    not_cached = [s for s in statuses if not s.local and not s.found]
    unreachable = bool(not_cached) and not hub_reachable()
    problems = missing_local + (not_cached if unreachable else [])
    if not problems:
        return
    parts = "; ".join(s.describe() for s in problems)
    total = sum(s.size_mb or 0 for s in problems if not s.local)
    advice = []
    if unreachable and not_cached:
        advice.append(
            f"The Hugging Face Hub cannot be reached (or HF_HUB_OFFLINE is set) and these are not in "
            f"its cache {not_cached[0].where}: download them once on a machine with internet "
            f"(about {total} MB in all) with the `hf download` commands above"
        )
    if missing_local:
        advice.append("A local checkpoint is a directory written by save_pretrained()")
    raise CheckpointNotFoundError(
        f"{len(problems)} checkpoint(s) needed cannot be loaded: {parts}. " + "; ".join(advice) + ". "
        "Or choose others (`hake infer --detector/--pose/--clip`; `none` skips pose or part states)."
    )
