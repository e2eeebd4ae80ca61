"""Reading inputs: images (Pillow), path classification and directory expansion.

Supported image extensions are :data:`IMAGE_EXTENSIONS`, video extensions
:data:`VIDEO_EXTENSIONS` (decoded with PyAV, see :mod:`perception.video`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from perception.errors import ImageReadError, UnsupportedFormatError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "check_inputs",
    "expand_paths",
    "is_image_path",
    "is_video_path",
    "load_image",
]

#: File extensions read as images (lower case, with the dot).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: File extensions read as videos.
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has an image extension."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a video extension."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _unsupported(path: Path) -> UnsupportedFormatError:
    return UnsupportedFormatError(
        f"{path}: unsupported format {path.suffix or '(no extension)'!r}; expected an image "
        f"({', '.join(IMAGE_EXTENSIONS)}) or a video ({', '.join(VIDEO_EXTENSIONS)}). "
        "Convert the file, or pass a directory to process the supported files in it."
    )


def load_image(source: str | os.PathLike[str] | Image.Image) -> Image.Image:
    """Open an image as RGB, raising :class:`ImageReadError` when it cannot be decoded.

    >>> from PIL import Image
    >>> load_image(Image.new("L", (4, 3))).mode
    'RGB'
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, Image.Image):
        return source if source.mode == "RGB" else source.convert("RGB")
    path = Path(source)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file; expected an image path that exists")
    if path.is_dir():
        raise ImageReadError(
            f"{path}: is a directory, expected one image file; use Perceiver.infer_paths() for directories"
        )
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise _unsupported(path)
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(
            f"{path}: cannot decode as an image ({type(err).__name__}: {err}); expected a "
            f"valid {path.suffix.lower()} file. Check that the file is complete and not "
            "corrupted (re-download or re-export it)."
        ) from None


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files to process: files as given, directories walked (sorted) for images and videos.

    Files inside a directory with other extensions are skipped; a file named explicitly
    with an unsupported extension raises :class:`UnsupportedFormatError`.
    """
    for item in paths:
        path = Path(item)
        if path.is_dir():
            for sub in sorted(path.rglob("*")):
                if sub.is_file() and (is_image_path(sub) or is_video_path(sub)):
                    yield sub
        elif not path.exists():
            raise ImageReadError(f"{path}: no such file or directory")
        elif is_image_path(path) or is_video_path(path):
            yield path
        else:
            raise _unsupported(path)


def check_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files :func:`expand_paths` finds, checked before any model loads: a missing path or
    an unsupported file raises (:class:`ImageReadError`, :class:`UnsupportedFormatError`),
    and so do inputs that hold no image or video at all."""
    given = [Path(p) for p in paths]
    files = list(expand_paths(given))
    if not files:
        where = ", ".join(str(p) for p in given) or "(no paths given)"
        kinds = ", ".join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
        raise ImageReadError(f"no image or video files in {where} (looked for {kinds})")
    return files
