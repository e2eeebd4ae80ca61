"""Benchmark the reasoners on HAKE (issue 4's protocol) and print the rows side by side.

For every model (gnn, mlp, linear, rule) on task hake-image, split seed 0, 80/20:

- one run without unseen compositions: mAP, few@1/5/10, train seconds;
- one run with the packaged list of 120 unseen compositions: unseen mAP (and mAP).

Also the GNN on hake-instance (seed 0, 80/20). With ``--write-default DIR`` the default
checkpoint is re-trained on every example of both tasks and saved to ``DIR`` with the GNN's
held-out metrics measured here in its provenance and model card.

Then, for the packaged default checkpoint: batched CPU inference throughput (persons/s) on
the test split's inputs (tensor in, probabilities out), the throughput of ``predict`` with
explanations (records in, records out), and the explanation deletion test (top-3 vs 3
random active part states) on the seed-0 GNN trained here. The LAST line is one JSON object.

Usage::

    python benchmarks/reasoning.py --data ../shared/datasets/hake [--threads 2]
        [--models gnn,mlp] [--task hake-image] [--skip-unseen]
        [--write-default reasoning/data/activity-gnn]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

# This file is itself named reasoning.py: drop its folder from the import path so that
# ``import reasoning`` finds the package, not this script.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import reasoning  # noqa: E402
from reasoning import ActivityReasoner, Evidence, default_unseen_path, deletion_test  # noqa: E402
from reasoning.tasks import drop_unseen, load_task, split_by_image  # noqa: E402
from reasoning.training import build_model, default_options, fit  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "hake"
COLUMNS = ("mAP", "few@1", "few@5", "few@10", "unseen_mAP", "n_classes", "train_seconds")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _table(rows: dict[str, dict[str, Any]]) -> str:
    header = ["model", *COLUMNS, "unseen_run_mAP"]
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for model, row in rows.items():
        lines.append(
            " | ".join([model, *(_fmt(row.get(c)) for c in COLUMNS), _fmt(row.get("unseen_run_mAP"))])
        )
    return "\n".join(lines)


def _throughput(reasoner: ActivityReasoner, x: torch.Tensor, batch: int, repeats: int = 5) -> float:
    reasoner.scores(x[:batch], batch_size=batch)  # warm-up (and caches the GNN's fixed weights)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        reasoner.scores(x, batch_size=batch)
        best = min(best, time.perf_counter() - start)
    return x.shape[0] / best


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the HAKE archives")
    parser.add_argument("--task", default="hake-image", choices=sorted(reasoning.TASKS))
    parser.add_argument("--models", default="gnn,mlp,linear,rule", help="comma-separated model kinds")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="split seed")
    parser.add_argument("--skip-unseen", action="store_true", help="skip the unseen-composition runs")
    parser.add_argument("--skip-instance", action="store_true", help="skip the GNN run on hake-instance")
    parser.add_argument(
        "--write-default", type=Path, default=None, help="re-train the default checkpoint into this folder"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    rows: dict[str, dict[str, Any]] = {}
    for model in models:
        row = reasoning.evaluate(args.data, task=args.task, model=model, split_seed=args.seed)
        if not args.skip_unseen:
            unseen = reasoning.evaluate(
                args.data,
                task=args.task,
                model=model,
                split_seed=args.seed,
                unseen_file=default_unseen_path(),
            )
            row["unseen_mAP"] = unseen["unseen_mAP"]
            row["n_unseen"] = unseen["n_unseen"]
            row["unseen_run_mAP"] = unseen["mAP"]
            row["unseen_run_train_seconds"] = unseen["train_seconds"]
        rows[model] = row
        sys.stderr.write(f"{model}: {json.dumps(row)}\n")
    print(f"task {args.task}, split seed {args.seed}, 80/20 by image; unseen: {default_unseen_path().name}")
    print(_table(rows))
    instance: dict[str, Any] = {}
    if not args.skip_instance:
        instance = reasoning.evaluate(args.data, task="hake-instance", model="gnn", split_seed=args.seed)
        print("hake-instance, gnn: " + ", ".join(f"{c} {_fmt(instance.get(c))}" for c in COLUMNS))

    checkpoint = None
    if args.write_default is not None and "gnn" in rows:
        keep = ("mAP", "few@1", "few@5", "few@10", "n_classes", "n_few@1", "n_few@5", "n_few@10")
        metrics = {f"hake-image, split seed {args.seed}, 80/20": {k: rows["gnn"][k] for k in keep}}
        if "unseen_mAP" in rows["gnn"] and rows["gnn"]["unseen_mAP"] is not None:
            metrics[f"hake-image, split seed {args.seed}, 80/20, 120 unseen compositions removed"] = {
                "unseen_mAP": rows["gnn"]["unseen_mAP"],
                "n_unseen": rows["gnn"]["n_unseen"],
                "mAP": rows["gnn"]["unseen_run_mAP"],
            }
        if instance:
            metrics[f"hake-instance, split seed {args.seed}, 80/20"] = {k: instance[k] for k in keep}
        reasoning.train(
            args.data,
            task=("hake-image", "hake-instance"),
            model="gnn",
            out_dir=args.write_default,
            metrics=metrics,
        )
        checkpoint = args.write_default
        print(f"wrote the default checkpoint to {checkpoint}")

    # --- inference speed of the packaged default checkpoint ---------------------------------
    data = load_task(args.data, args.task)
    split = split_by_image(data.groups, seed=args.seed, test_fraction=0.2)
    x_test = data.x[split.test]
    default = ActivityReasoner.from_pretrained(checkpoint)
    x_many = x_test.repeat(4, 1)  # ~30k persons
    persons_per_s = _throughput(default, x_many, batch=4096)
    observations = _observations(args.data, args.task, split.test[:2000].tolist())
    start = time.perf_counter()
    default.predict(observations, top_k=5, explain=True)
    predict_per_s = len(observations) / (time.perf_counter() - start)
    print(
        f"default checkpoint ({default.version}): {persons_per_s:,.0f} persons/s batched (tensor in, "
        f"probabilities out, batch 4096, {args.threads} threads); predict() with explanations, "
        f"top-5, records in/out: {predict_per_s:,.0f} persons/s"
    )

    # --- explanation faithfulness on the seed-0 GNN (trained on the training side) -----------
    faith: dict[str, Any] = {}
    if "gnn" in models:
        train_idx = drop_unseen(split.train, data.y, [])
        opts = default_options("gnn")
        torch.manual_seed(opts.seed)
        evidence = Evidence.from_examples(data.x[train_idx], data.y[train_idx])
        net = build_model("gnn", evidence)
        fit(net, data.x[train_idx], data.y[train_idx], opts)
        seed0 = ActivityReasoner(net, evidence)
        for contributors in ("part_states", "all"):
            result = deletion_test(seed0, x_test, k=3, seed=0, contributors=contributors)
            faith[contributors] = result.to_dict()
            print(
                f"faithfulness (seed-0 GNN, test split, top-1 activity, top-3 from {contributors}): "
                f"deleting the top 3 drops p by {result.top_drop:.3f}, 3 random active part states by "
                f"{result.random_drop:.3f} (ratio {result.ratio:.2f}x over {result.persons} persons)"
            )

    summary = {
        "task": args.task,
        "split_seed": args.seed,
        "test_fraction": 0.2,
        "threads": args.threads,
        "models": rows,
        "hake_instance_gnn": instance,
        "persons_per_s": round(persons_per_s),
        "predict_with_explanations_persons_per_s": round(predict_per_s),
        "default_model_version": default.version,
        "faithfulness": faith,
    }
    print(json.dumps(summary))
    return 0


def _observations(data_dir: Path, task: str, indices: list[int]) -> list[Any]:
    """The test persons as PersonObservation records (what ``predict`` takes)."""
    import ontology

    path = data_dir / reasoning.TASKS[task]
    records = ontology.read_hake_image(path) if task == "hake-image" else ontology.read_hake_instance(path)
    return [records[i].to_observation() for i in indices]


if __name__ == "__main__":
    sys.exit(main())
