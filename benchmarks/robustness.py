"""Robustness benchmark: seeded malformed inputs against every ingest path and the read path
(issue 12, item 7).

The generator and the classifier are those of ``tests/kg/test_fuzz.py`` (its module
docstring lists the mutations and the outcomes); this runs more of them on one shared,
initialised embedded store in a temporary folder. Targets: no traceback, no silently accepted
input, no rejected input that changed the store.

Usage:
    python benchmarks/robustness.py                   # 5000 inputs, seed 127
    python benchmarks/robustness.py --n 1000 --seed 7

Progress and every failing case (seed, index, mutation, message, input) go to stderr; a case
is reproduced with ``tests.kg.test_fuzz.make_input(seed, index)``. The last line printed is
one JSON object: tried, clear_errors, unclear_errors, tracebacks, silently_accepted,
store_changed, accepted_valid, seconds, seed and, by kind, the count of each outcome and the
seconds spent.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=5000, help="how many inputs (default 5000)")
    parser.add_argument("--seed", type=int, default=127, help="the run's seed (default 127)")
    parser.add_argument("--show", type=int, default=30, help="failing cases described on stderr (default 30)")
    args = parser.parse_args()

    from tests.kg.test_fuzz import Fuzzer, Outcome, make_inputs, summarise

    outcomes: list[Outcome] = []
    seconds: dict[str, float] = defaultdict(float)
    shown = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hake-robustness-") as tmp:
        fuzzer = Fuzzer(Path(tmp))
        print(f"store ready in {time.perf_counter() - start:.1f} s; fuzzing {args.n} inputs", file=sys.stderr)
        try:
            for item in make_inputs(args.seed, args.n):
                began = time.perf_counter()
                outcome = fuzzer.run(item)
                seconds[item.kind] += time.perf_counter() - began
                outcomes.append(outcome)
                if outcome.failed and shown < args.show:
                    shown += 1
                    print(outcome.describe(), file=sys.stderr)
                done = len(outcomes)
                if done % 250 == 0 or done == args.n:
                    failed = sum(o.failed for o in outcomes)
                    print(
                        f"{done}/{args.n} inputs, {failed} failing, {time.perf_counter() - start:.0f} s",
                        file=sys.stderr,
                    )
        finally:
            fuzzer.close()
    summary = summarise(outcomes)
    for kind, counts in summary["by_kind"].items():
        counts["seconds"] = round(seconds[kind], 1)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    summary["seed"] = args.seed
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
