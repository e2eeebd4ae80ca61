"""The README runs as written: every ```bash and ```python block, in order, in a fresh folder.

The blocks run in a temporary folder laid out as a checkout (``checkout/kg`` a link to this
one's, ``shared`` beside it a link to the real shared folder); the README's first block goes
into ``hake-work/`` as a user does, so its paths are the ones a user types. Bash blocks run
in one bash process (``set -euo pipefail``), so a variable or a file made by one block is
there for the next; each Python block runs as its own script, in the same folder, at its
place in the README.

A block is left out only when the line above it says why::

    <!-- readme-test: skip -- needs the real detector, pose and CLIP checkpoints -->

(``skip`` for what cannot run here: downloads, a GPU, the test suite itself; the README gives
the time of each long command that is left out). Every other block must succeed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import HAKE_DIR

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(bash|python)\s*$")
_MARK = re.compile(r"^<!-- readme-test: skip -- (.+) -->$")


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # 1-based line of the opening fence
    text: str
    skip: str | None  # the reason, when left out


def readme_blocks(text: str) -> list[Block]:
    """The README's bash and Python blocks with their skip reasons, in order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        above = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = _MARK.match(above.strip())
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        blocks.append(
            Block(fence.group(1), i + 1, "\n".join(lines[i + 1 : end]), mark.group(1) if mark else None)
        )
        i = end + 1
    return blocks


def test_every_block_is_run_or_says_why_not() -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 15
    skipped = [b for b in blocks if b.skip]
    assert all(len(b.skip or "") > 10 for b in skipped)
    assert len(skipped) < len(blocks) / 2, [b.line for b in skipped]


@pytest.mark.slow
def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    if not HAKE_DIR.exists():
        pytest.skip(f"HAKE data not found at {HAKE_DIR}: the README's commands read it")
    (tmp_path / "shared").symlink_to(HAKE_DIR.parents[1], target_is_directory=True)
    work = tmp_path / "checkout"
    work.mkdir()
    for name in ("kg", "benchmarks"):
        (work / name).symlink_to(ROOT / name, target_is_directory=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("HAKE_STORE", None)
    # bash blocks in order in one process; each Python block is written out and run at its place
    script = ["set -euo pipefail"]
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    for n, block in enumerate(blocks):
        if block.skip:
            continue
        script.append(f"echo '>>> README.md:{block.line}' >&2")
        if block.language == "bash":
            script.append(block.text)
        else:
            path = tmp_path / f"block_{n}.py"
            path.write_text(block.text + "\n", encoding="utf-8")
            script.append(f"python {path}")
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=work, env=env, capture_output=True, text=True, timeout=1500
    )
    where = [line for line in done.stderr.splitlines() if line.startswith(">>> README.md:")]
    ran = [b for b in blocks if not b.skip]
    assert done.returncode != 0 or len(where) == len(ran), (len(where), len(ran))
    assert done.returncode == 0, (
        f"the README block at {where[-1][4:] if where else '?'} failed (exit {done.returncode}):\n"
        f"{done.stderr[-4000:]}"
    )
