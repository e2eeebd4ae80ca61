from __future__ import annotations

from pathlib import Path

import pytest

#: The shared HAKE files, read in place (never copied into the repository).
HAKE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "hake"


@pytest.fixture(scope="session")
def hake_dir() -> Path:
    if not (HAKE_DIR / "hico-det-instance-level.tar.gz").exists():
        pytest.skip(f"HAKE data not found at {HAKE_DIR} (needs ../shared/datasets/hake beside the repo)")
    return HAKE_DIR
