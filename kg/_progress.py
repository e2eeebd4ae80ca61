"""Progress bars of ingests and reasoning (tqdm on stderr, imported only when shown)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["progress_bar", "progress_callback"]


def progress_bar(enabled: bool, total: int | None, desc: str) -> Callable[..., None]:
    """A tqdm progress bar (on stderr) or a no-op; call ``bar(n)``, ``bar(0, note="...")`` and
    ``bar(0, close=True)``."""
    if not enabled:
        return lambda n, close=False, note=None: None
    from tqdm import tqdm

    pbar = tqdm(total=total, desc=desc, unit="person")

    def update(n: int, close: bool = False, note: str | None = None) -> None:
        pbar.update(n)
        if note is not None:
            pbar.set_postfix_str(note)
        if close:
            pbar.close()

    return update


def progress_callback(enabled: bool, desc: str) -> tuple[Callable[[int, int], None] | None, Any]:
    if not enabled:
        return None, None
    from tqdm import tqdm

    pbar = tqdm(desc=desc, unit="entry")

    def callback(done: int, total: int) -> None:
        pbar.total = total
        pbar.n = done
        if done == total or done % 2000 == 0:
            pbar.refresh()

    return callback, pbar
