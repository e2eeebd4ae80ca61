"""Video: frames decoded with PyAV at a stride, and IoU tracking of persons across frames.

Usage::

    for frame in read_frames("clip.mp4", stride=5):
        frame.index, frame.timestamp, frame.image   # source frame number, seconds, PIL RGB

    tracker = IoUTracker(iou_threshold=0.3, max_age=3)
    ids = tracker.update(person_boxes)               # one track id per box, in order
"""

from __future__ import annotations

import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ontology import Box
from perception._io import VIDEO_EXTENSIONS
from perception.errors import EmptyVideoError, UnsupportedFormatError, VideoReadError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["IoUTracker", "VideoFrame", "count_frames", "read_frames"]


@dataclass(frozen=True)
class VideoFrame:
    """A decoded frame: its index in the video, its time in seconds, the RGB image."""

    index: int
    timestamp: float
    image: Image.Image


def _open(path: Path) -> object:
    import av

    if not path.exists():
        raise VideoReadError(f"{path}: no such file; expected a video file that exists")
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise UnsupportedFormatError(
            f"{path}: unsupported video format {path.suffix!r}; expected one of {', '.join(VIDEO_EXTENSIONS)}"
        )
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as err:
        raise VideoReadError(
            f"{path}: cannot open as a video ({type(err).__name__}: {err}); expected a "
            f"{path.suffix.lower()} file that ffmpeg can decode. Check that the file is "
            "complete, or re-encode it (e.g. `ffmpeg -i in.mov -c:v libx264 out.mp4`)."
        ) from None


def count_frames(path: str | os.PathLike[str]) -> int | None:
    """Frame count from the container header (``None`` when the container does not say)."""
    container = _open(Path(path))
    try:
        streams = container.streams.video  # type: ignore[attr-defined]
        if not streams:
            return None
        n = int(streams[0].frames)
        return n or None
    finally:
        container.close()  # type: ignore[attr-defined]


def read_frames(
    path: str | os.PathLike[str], stride: int = 1, max_frames: int | None = None
) -> Generator[VideoFrame, None, None]:
    """Decode every ``stride``-th frame (frames ``0, stride, 2*stride, ...``).

    Args:
        path: a video file (:data:`~perception._io.VIDEO_EXTENSIONS`).
        stride: keep one frame in ``stride`` (``>= 1``).
        max_frames: stop after yielding this many frames.

    Raises:
        VideoReadError: the file cannot be opened, has no video stream or fails to decode.
        EmptyVideoError: no frame could be decoded.
    """
    import av

    if stride < 1:
        raise ValueError(f"stride: expected an int >= 1, got {stride!r}")
    path = Path(path)
    container = _open(path)
    try:
        streams = container.streams.video  # type: ignore[attr-defined]
        if not streams:
            raise VideoReadError(
                f"{path}: the file holds no video stream (audio or data only); expected a "
                "video with at least one video track"
            )
        stream = streams[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate) if stream.average_rate else None
        yielded = 0
        index = -1
        try:
            for frame in container.decode(stream):  # type: ignore[attr-defined]
                index += 1
                if index % stride:
                    continue
                if frame.time is not None:
                    timestamp = float(frame.time)
                elif fps:
                    timestamp = index / fps
                else:
                    timestamp = 0.0
                yield VideoFrame(index, timestamp, frame.to_image().convert("RGB"))
                yielded += 1
                if max_frames is not None and yielded >= max_frames:
                    return
        except av.FFmpegError as err:
            raise VideoReadError(
                f"{path}: decoding failed after {index} frames ({type(err).__name__}: {err})"
            ) from None
        if yielded == 0:
            raise EmptyVideoError(
                f"{path}: the video stream decoded to 0 frames; expected at least one frame. "
                "The file may be truncated or hold an empty stream; re-encode or re-export it."
            )
    finally:
        container.close()  # type: ignore[attr-defined]


class IoUTracker:
    """Frame-to-frame person tracking by box overlap.

    Each :meth:`update` matches the new boxes to live tracks (their last box) by maximum
    total IoU (Hungarian assignment); a match needs ``IoU >= iou_threshold``. Unmatched
    boxes start new tracks (ids count up from 0); a track unmatched for more than
    ``max_age`` consecutive updates ends.

    >>> t = IoUTracker()
    >>> t.update([Box(0, 0, 10, 10), Box(50, 50, 60, 60)])
    [0, 1]
    >>> t.update([Box(51, 50, 61, 60), Box(1, 0, 11, 10), Box(100, 100, 110, 110)])
    [1, 0, 2]
    """

    def __init__(self, iou_threshold: float = 0.3, max_age: int = 2) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold: expected a number in (0, 1], got {iou_threshold}")
        self.iou_threshold = iou_threshold
        self.max_age = max_age
        self._tracks: dict[int, tuple[Box, int]] = {}  # id -> (last box, updates unseen)
        self._next = 0

    def update(self, boxes: Sequence[Box]) -> list[int]:
        """Track ids for ``boxes`` (one per box, in order)."""
        import numpy as np
        from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped,unused-ignore]

        ids: list[int | None] = [None] * len(boxes)
        track_ids = list(self._tracks)
        if boxes and track_ids:
            iou = np.array([[b.iou(self._tracks[t][0]) for t in track_ids] for b in boxes])
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                if iou[r, c] >= self.iou_threshold:
                    ids[r] = track_ids[c]
        matched = {i for i in ids if i is not None}
        for t in track_ids:
            if t not in matched:
                box, unseen = self._tracks[t]
                if unseen + 1 > self.max_age:
                    del self._tracks[t]
                else:
                    self._tracks[t] = (box, unseen + 1)
        out: list[int] = []
        for box, tid in zip(boxes, ids, strict=True):
            if tid is None:
                tid = self._next
                self._next += 1
            self._tracks[tid] = (box, 0)
            out.append(tid)
        return out
