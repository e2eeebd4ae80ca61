"""The core loop at HAKE-Large scale: ingest, reason + explain + write back, then query.

Data: SIMULATED persons (the ingest benchmark's generator, ``benchmarks/ingest.py``
``write_synthetic``: images of 1-4 persons, 10 random part states with random probabilities
and one random object each, fixed seed). Every number printed comes from these simulated
persons, not from HAKE annotations.

Per size (default 10K, 100K and 700K persons), each stage in its own subprocess so that its
peak RSS is its own:

  ingest    ``kg.ingest_observations_jsonl`` into a fresh embedded store
  reason    ``Engine.reason_stored(top_k=3)``: read every stored person back column-wise,
            predict with the packaged GNN, explain, write predictions, explanations and
            contributions back (one bulk load)
  query     the documented "why" query (``kg.EXAMPLES["why_prediction"]``) on 200 random
            persons (p50 / p95), and an aggregate over every stored contribution
  predict   (once, on 100K persons held in memory) ``ActivityReasoner.predict_rows``
            (columns) and ``ActivityReasoner.predict`` (records) with explanations

Usage:
    python benchmarks/core_loop.py                      # 10K, 100K, 700K
    python benchmarks/core_loop.py --persons 10000 100000
The last line printed is one JSON object: the largest size's numbers at the top level
(``persons``, ``ingest_s``, ``reason_s``, ``reason_persons_per_s``, ``peak_rss_mb``,
``why_p50_ms``, ``why_p95_ms``, ``predict_explained_persons_per_s`` (columns),
``predict_records_persons_per_s``), every size under ``sizes``, and the exponent of reason
time between the two largest sizes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_ingest(store_dir: str, jsonl: str) -> dict[str, object]:
    from kg import EmbeddedStore, ingest_observations_jsonl, init_store

    with EmbeddedStore(store_dir) as store:
        init_store(store)
        start = time.perf_counter()
        report = ingest_observations_jsonl(store, jsonl)
        seconds = time.perf_counter() - start
    return {
        "ingest_s": round(seconds, 2),
        "ingest_peak_rss_mb": round(peak_rss_mb()),
        "persons": report.persons_added,
    }


def phase_reason(store_dir: str, top_k: int) -> dict[str, object]:
    import torch

    from kg import EmbeddedStore, Engine

    torch.set_num_threads(os.cpu_count() or 1)
    with EmbeddedStore(store_dir) as store:
        engine = Engine(store)
        engine.reasoner  # noqa: B018 - load the checkpoint outside the timed part
        result = engine.reason_stored(top_k=top_k, keep=0)
    return {
        "reason_s": round(result.seconds, 2),
        "reason_persons_per_s": round(result.persons_per_s),
        "reason_peak_rss_mb": round(peak_rss_mb()),
        "predictions": result.predictions,
        "contributions": result.contributions,
        "contributions_per_prediction": round(result.contributions / max(result.predictions, 1), 2),
    }


def phase_query(store_dir: str, samples: int) -> dict[str, object]:
    from kg import EXAMPLES, EmbeddedStore

    with EmbeddedStore(store_dir, read_only=True) as store:
        rng = random.Random(1)
        rows = store.query(
            "MATCH (p:Person)-[:EXPLAINED_BY]->(:Explanation)-[:EXPLAINS]->(a:Activity) "
            "RETURN p.id AS person, a.name AS activity"
        )
        picks = rng.sample(rows, min(samples, len(rows)))
        del rows
        why = EXAMPLES["why_prediction"].cypher
        store.query(why, **picks[0])  # warm the caches once
        times = []
        for pick in picks:
            t = time.perf_counter()
            found = store.query(why, **pick)
            times.append(time.perf_counter() - t)
            if not found:
                raise RuntimeError(f"the why query found nothing for {pick}")
        aggregate = (
            "MATCH (t:PartState)-[c:CONTRIBUTES_TO]->(:Explanation) "
            "RETURN t.name AS state, count(*) AS n, avg(c.weight) AS mean_weight ORDER BY n DESC LIMIT 5"
        )
        agg = []
        for _ in range(3):
            t = time.perf_counter()
            store.query(aggregate)
            agg.append(time.perf_counter() - t)
    times.sort()
    return {
        "why_p50_ms": round(statistics.median(times) * 1000, 3),
        "why_p95_ms": round(times[int(len(times) * 0.95)] * 1000, 3),
        "aggregate_all_contributions_ms": round(statistics.median(agg) * 1000, 1),
    }


def phase_predict(jsonl: str, persons: int) -> dict[str, object]:
    import torch

    import reasoning
    from kg import iter_observations_jsonl

    torch.set_num_threads(os.cpu_count() or 1)
    observations = []
    for obs in iter_observations_jsonl(jsonl):
        observations.append(obs)
        if len(observations) == persons:
            break
    reasoner = reasoning.ActivityReasoner.from_pretrained()
    x = reasoning.encode_observations(observations)
    reasoner.predict_rows(x[:4096], top_k=3)  # warm up
    start = time.perf_counter()
    batch = reasoner.predict_rows(x, top_k=3)
    columns = time.perf_counter() - start
    n_records = min(len(observations), 50_000)
    start = time.perf_counter()
    reasoner.predict(observations[:n_records], top_k=3)
    records = time.perf_counter() - start
    return {
        "predict_persons": len(observations),
        "predict_explained_persons_per_s": round(len(observations) / columns),
        "predict_explained_kind": "columns (PredictionBatch), inputs already encoded",
        "predict_records_persons_per_s": round(n_records / records),
        "predict_records_kind": "records (ActivityPrediction), encoding included",
        "predict_contributions_per_prediction": round(batch.n_contributions / (3 * len(observations)), 2),
    }


def run_phase(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if out.returncode != 0:
        raise RuntimeError(f"phase {args[0]} failed:\n{out.stderr[-4000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, nargs="+", default=[10_000, 100_000, 700_000])
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--why-samples", type=int, default=200)
    parser.add_argument("--predict-persons", type=int, default=100_000)
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, *rest = args.phase
        result = {
            "ingest": lambda: phase_ingest(rest[0], rest[1]),
            "reason": lambda: phase_reason(rest[0], int(rest[1])),
            "query": lambda: phase_query(rest[0], int(rest[1])),
            "predict": lambda: phase_predict(rest[0], int(rest[1])),
        }[name]()
        print(json.dumps(result))
        return

    import importlib.util

    # the ingest benchmark's generator (benchmarks/ is not a package, and its reasoning.py
    # would shadow ours on sys.path)
    spec = importlib.util.spec_from_file_location("ingest_benchmark", ROOT / "benchmarks" / "ingest.py")
    assert spec is not None and spec.loader is not None
    ingest_benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ingest_benchmark)
    write_synthetic = ingest_benchmark.write_synthetic

    work = Path(tempfile.mkdtemp(prefix="hake-core-loop-"))
    sizes = []
    for n in sorted(args.persons):
        jsonl = work / f"synthetic-{n}.jsonl"
        write_synthetic(jsonl, n)
        store = work / f"store-{n}"
        row: dict[str, object] = {"persons": n, "load_average_before": round(os.getloadavg()[0], 2)}
        row.update(run_phase("ingest", str(store), str(jsonl)))
        row.update(run_phase("reason", str(store), str(args.top_k)))
        row.update(run_phase("query", str(store), str(args.why_samples)))
        row["peak_rss_mb"] = max(int(row["ingest_peak_rss_mb"]), int(row["reason_peak_rss_mb"]))  # type: ignore[call-overload]
        row["load_average_after"] = round(os.getloadavg()[0], 2)
        print(
            f"SIMULATED {n} persons: ingest {row['ingest_s']} s; reason+explain+write {row['reason_s']} s "
            f"({row['reason_persons_per_s']} persons/s, {row['contributions_per_prediction']} contributions "
            f"per prediction, peak {row['reason_peak_rss_mb']} MB); why p50 {row['why_p50_ms']} ms, "
            f"p95 {row['why_p95_ms']} ms; aggregate {row['aggregate_all_contributions_ms']} ms",
            flush=True,
        )
        sizes.append(row)
        jsonl_for_predict = jsonl
    predict = run_phase("predict", str(jsonl_for_predict), str(args.predict_persons))
    print(
        f"SIMULATED predict on {predict['predict_persons']} persons: "
        f"{predict['predict_explained_persons_per_s']} persons/s (columns), "
        f"{predict['predict_records_persons_per_s']} persons/s (records)",
        flush=True,
    )
    summary: dict[str, object] = {
        "data": "SIMULATED (benchmarks/ingest.py write_synthetic, seed 0)",
        "machine_cores": os.cpu_count(),
        **{k: v for k, v in sizes[-1].items()},
        **predict,
        "sizes": sizes,
    }
    if len(sizes) >= 2:
        (a, b) = sizes[-2], sizes[-1]
        ratio_n = int(b["persons"]) / int(a["persons"])  # type: ignore[call-overload]
        summary["reason_exponent"] = round(
            math.log(float(b["reason_s"]) / float(a["reason_s"])) / math.log(ratio_n),  # type: ignore[arg-type]
            2,
        )
        summary["reason_exponent_between"] = [a["persons"], b["persons"]]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
