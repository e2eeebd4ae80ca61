"""Files written safely: all or nothing, never through a planted link.

Every file the engine writes (exports, reports, observations, checkpoints, caches) goes
through :func:`atomic_write`; ``ontology`` holds it because every package may import
``ontology`` (and only it).

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> with atomic_write(folder / "notes.txt") as fh:
...     _ = fh.write("written whole or not at all\\n")
>>> (folder / "notes.txt").read_text()
'written whole or not at all\\n'
>>> sorted(p.name for p in folder.iterdir())  # no temporary file left behind
['notes.txt']
>>> with atomic_write(folder) as fh:  # doctest: +ELLIPSIS
...     pass
Traceback (most recent call last):
IsADirectoryError: cannot write ...: it is a directory; expected a file path (e.g. .../<name>)

How a write goes:

1. The target is checked (:func:`check_file_target`): it must not be a directory (nor a
   link to one) and its folder must exist. Folders are never created here; a caller whose
   output is a folder by design (``hake demo --out``, a checkpoint) creates it itself.
2. A temporary file with a random name (``.<name>.<random>.tmp``) is created in the
   target's own folder with ``O_CREAT | O_EXCL | O_NOFOLLOW``: it is always a new file, so
   nothing planted in the folder (a ``<name>.partial`` link, any other link) is followed,
   truncated or deleted. Its permissions are those of a normal ``open()``: ``0o666`` less
   the umask for a new file, the old file's permission bits when a regular file is replaced.
3. The caller writes to it (text or binary, streamed: nothing is held in memory here).
4. It is flushed, ``fsync``-ed and renamed onto the target with ``os.replace``; then the
   folder is ``fsync``-ed (POSIX), so the rename survives a crash.
5. On any exception (``KeyboardInterrupt`` included) the temporary file is removed and
   the target is left exactly as it was.

A symlink at the target path is replaced by the new regular file (the POSIX behaviour of
``rename``); the file it pointed to is not touched.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Literal, TextIO, overload

__all__ = ["atomic_write", "check_file_target", "write_bytes_atomic", "write_text_atomic"]

_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def check_file_target(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path` if a file can be written there, else an error.

    Raises:
        IsADirectoryError: ``path`` is a directory (or a link to one).
        FileNotFoundError: the folder of ``path`` does not exist.
        NotADirectoryError: the folder of ``path`` is not a directory.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(
            f"cannot write {target}: it is a directory; expected a file path (e.g. {target / '<name>'})"
        )
    parent = target.parent
    if not parent.exists():
        raise FileNotFoundError(
            f"cannot write {target}: its folder {parent} does not exist; create it first (mkdir -p {parent})"
        )
    if not parent.is_dir():
        raise NotADirectoryError(f"cannot write {target}: {parent} is not a directory")
    return target


@overload
def atomic_write(
    path: str | os.PathLike[str], mode: Literal["w"] = "w", *, encoding: str = "utf-8"
) -> AbstractContextManager[TextIO]: ...
@overload
def atomic_write(
    path: str | os.PathLike[str], mode: Literal["wb"], *, encoding: None = None
) -> AbstractContextManager[BinaryIO]: ...
@contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "w", *, encoding: str | None = "utf-8"
) -> Iterator[Any]:
    """A file object (text for ``mode="w"``, binary for ``"wb"``) whose contents replace
    ``path`` when the ``with`` block ends without an exception, and vanish otherwise.

    Do not close the file inside the block. Errors as :func:`check_file_target`, and the
    ``OSError`` of a failed write (a full disk, ...), after which ``path`` is unchanged.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb' (got {mode!r})")
    target = check_file_target(path)
    fd, tmp = _create_temp(target)
    try:
        fh = os.fdopen(fd, mode, encoding=encoding if mode == "w" else None)
    except BaseException:  # e.g. an unknown encoding
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    try:
        with fh:
            _keep_mode(fh.fileno(), target)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def write_text_atomic(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` with :func:`atomic_write`."""
    with atomic_write(path, "w", encoding=encoding) as fh:
        fh.write(text)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` with :func:`atomic_write`."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def _create_temp(target: Path) -> tuple[int, Path]:
    """A new file beside ``target`` with a random name, opened for writing (never an existing
    file or link: ``O_EXCL``)."""
    for _ in range(100):
        tmp = target.with_name(f".{target.name[:100]}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, _FLAGS, 0o666), tmp  # the umask applies, as for open()
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot write {target}: no free temporary name in {target.parent}")


def _keep_mode(fd: int, target: Path) -> None:
    """Give the new file the permission bits of the regular file it replaces (as writing
    into that file would have kept them)."""
    try:
        st = target.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode) and hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o777)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable. Best effort: the file is already in place, so a folder that
    cannot be opened (no read permission, Windows) or synced (some network file systems)
    is not an error."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
