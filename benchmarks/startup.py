"""Start-up and demo timings (the wall-clock numbers the tests no longer assert).

    python benchmarks/startup.py

Measures, each in a fresh interpreter: ``import ontology; ontology.load()``, ``import kg``,
and ``hake demo`` end to end (offline, packaged checkpoint). The last line printed is one
JSON object.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _timed_import(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    summary: dict[str, object] = {
        "ontology_load_s": round(min(_timed_import("import ontology; ontology.load()") for _ in range(3)), 3),
        "import_kg_s": round(min(_timed_import("import kg") for _ in range(3)), 3),
    }
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "kg.cli", "demo", "--out", str(Path(tmp) / "demo")],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        summary["demo_s"] = round(time.perf_counter() - start, 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
