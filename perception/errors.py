"""Errors raised by perception, in the engine's one exception tree.

::

    HakeError (ontology.errors)
    └── PerceptionError            anything perception raises on purpose
        ├── ImageReadError         a file could not be decoded as an image (also OSError)
        ├── VideoReadError         a file could not be opened or decoded as a video (also OSError)
        ├── UnsupportedFormatError a path is neither a supported image nor video (also ValueError)
        ├── EmptyVideoError        a video has no decodable frames (also ValueError)
        ├── CheckpointNotFoundError a model checkpoint was not found (also FileNotFoundError)
        └── CheckpointMismatchError a saved part-state model does not fit this ontology/config
                                   (also ValueError)

Every message says what was expected, what arrived and how to fix it.
"""

from __future__ import annotations

from ontology.errors import HakeError

__all__ = [
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "EmptyVideoError",
    "ImageReadError",
    "PerceptionError",
    "UnsupportedFormatError",
    "VideoReadError",
]


class PerceptionError(HakeError):
    """Base class of every error perception raises on purpose."""


class ImageReadError(PerceptionError, OSError):
    """An image file exists (or was claimed to) but could not be decoded."""


class VideoReadError(PerceptionError, OSError):
    """A video file could not be opened, has no video stream, or failed to decode."""


class UnsupportedFormatError(PerceptionError, ValueError):
    """A path's extension is neither a supported image nor a supported video format."""


class EmptyVideoError(PerceptionError, ValueError):
    """A video decoded to zero frames (or zero frames after the stride)."""


class CheckpointNotFoundError(PerceptionError, FileNotFoundError):
    """A model checkpoint could not be found locally or on the Hugging Face Hub."""


class CheckpointMismatchError(PerceptionError, ValueError):
    """A saved model does not match what this code and ontology expect."""
