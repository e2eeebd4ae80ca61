"""Checkpoint loading and device choice shared by the model wrappers.

Every model is loaded through ``from_pretrained``: a Hugging Face Hub name (downloaded once
into the Hub cache, then read offline) or a local directory written by ``save_pretrained``.
A checkpoint that cannot be found raises :class:`~perception.errors.CheckpointNotFoundError`
saying what was looked for, where, and how to fix it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from perception.errors import CheckpointNotFoundError

if TYPE_CHECKING:
    import torch

__all__ = [
    "load_checkpoint",
    "progress_bar",
    "quiet_transformers",
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
