"""Temporal reasoning on SIMULATED tracks: per-frame reasoning against the temporal designs.

Tracks are simulated from the real HAKE instance annotations (:mod:`reasoning.simulation`:
real persons' part-state vectors following activity scripts, with perception noise); no real
video is used, and every number printed here is about that simulation. The persons are
split by image (seed ``--split-seed``): the smoothing options and the ``"tcn"`` head are
chosen and fitted on tracks simulated from training persons (:func:`reasoning.temporal.train_temporal`),
the table comes from tracks simulated from test persons at each ``--noise`` level.

Metrics (:func:`reasoning.temporal.evaluate_temporal`): frame mAP (per-activity AP over all
frames of all tracks, a frame's labels being the activities of the real person shown),
segment F1 at temporal IoU 0.5, clip top-1 / top-3 (the clip label is the activity covering
most of a track's frames).

    python benchmarks/temporal.py --data ../shared/datasets/hake [--noise default --noise high]
    python benchmarks/temporal.py --save reasoning/data/temporal    # also write the checkpoint

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import reasoning  # noqa: E402
from reasoning.simulation import NOISE_LEVELS, simulate_tracks  # noqa: E402
from reasoning.temporal import DESIGNS, TemporalReasoner, evaluate_temporal, train_temporal  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="../shared/datasets/hake", help="folder with the HAKE archives")
    parser.add_argument(
        "--noise",
        action="append",
        choices=sorted(NOISE_LEVELS),
        help="noise levels of the test tracks (repeatable; default: default)",
    )
    parser.add_argument(
        "--tracks", type=int, default=600, help="simulated test tracks per noise level (default 600)"
    )
    parser.add_argument(
        "--train-tracks", type=int, default=1500, help="simulated training tracks (default 1500)"
    )
    parser.add_argument(
        "--split-seed", type=int, default=0, help="seed of the person split by image (default 0)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the test simulation (default 0)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--save", help="write the trained temporal reasoner to this folder")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    data = reasoning.load_task(args.data, "hake-instance")
    split = reasoning.split_by_image(data.groups, seed=args.split_seed)
    reasoner = reasoning.ActivityReasoner.from_pretrained()
    lay = reasoner.layout

    t0 = time.perf_counter()
    tcn, info = train_temporal(data.x[split.train], data.y[split.train], reasoner, n_tracks=args.train_tracks)
    train_s = time.perf_counter() - t0

    y_test = data.y[split.test]
    tables: dict[str, Any] = {}
    for level in args.noise or ["default"]:
        test = simulate_tracks(
            data.x[split.test],
            y_test,
            args.tracks,
            seed=args.seed,
            noise=NOISE_LEVELS[level],
            n_part_states=lay.n_part_states,
            object_of=lay.object_of,
        )
        z = TemporalReasoner(reasoner).frame_logits(test.x, test.present)
        rows: dict[str, Any] = {}
        for design in DESIGNS:
            model = (
                tcn
                if design == "tcn"
                else TemporalReasoner(
                    reasoner,
                    reasoning.TemporalConfig(
                        design=design, window=tcn.config.window, switch_penalty=tcn.config.switch_penalty
                    ),
                )
            )
            t0 = time.perf_counter()
            result = model.decode_logits(z, test.present, test.length)
            rows[design] = {
                **evaluate_temporal(result, test, y_test),
                "decode_s": round(time.perf_counter() - t0, 2),
            }
            print(
                f"SIMULATED noise={level:<7} {design:>6}: frame mAP {rows[design]['frame_mAP']:6.2f}  "
                f"segment F1@0.5 {rows[design]['segment_f1']:6.2f}  "
                f"clip top-1 {rows[design]['clip_top1']:6.2f}  "
                f"top-3 {rows[design]['clip_top3']:6.2f}",
                file=sys.stderr,
            )
        tables[level] = {
            "noise": NOISE_LEVELS[level].to_dict(),
            "tracks": len(test),
            "frames": int(test.length.sum()),
            "designs": rows,
        }
    if args.save:
        metrics = {level: table["designs"]["tcn"] for level, table in tables.items()}
        tcn.save_pretrained(
            args.save, provenance={**info, "split_seed": args.split_seed, "test_metrics": metrics}
        )
    out = {
        "benchmark": "temporal",
        "simulated": True,
        "data": "SIMULATED tracks from real HAKE instance annotations (hake-instance), not real video",
        "split_seed": args.split_seed,
        "seed": args.seed,
        "train": {**info, "train_s": round(train_s, 1)},
        "noise_levels": tables,
        "threads": torch.get_num_threads(),
        "load_avg": os.getloadavg()[0],
        "machine": platform.machine(),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
