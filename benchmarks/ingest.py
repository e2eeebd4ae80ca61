"""Ingest and query benchmarks for the knowledge graph (issue: knowledge graph).

Phases (each in its own subprocess, so peak RSS is that phase's own):
  hake       ingest the full HAKE instance-level file into a fresh embedded store
  synthetic  ingest N synthetic persons (default 700,000, ~10 part states each, fixed seed)
             from an observations JSONL file into a fresh embedded store, then time the
             per-person explanation query (p50) and an aggregate over all observations
  bolt       ingest a smaller synthetic file into a real Bolt server (ArcadeDB) for rows/s

Usage:
    python benchmarks/ingest.py                       # everything, HAKE-Large scale
    python benchmarks/ingest.py --persons 70000 --skip-bolt
The last line printed is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import json
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
HAKE_DIR = ROOT.parent / "shared" / "datasets" / "hake"
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_synthetic(path: Path, persons: int, seed: int = 0, states: int = 10) -> int:
    """Observations JSONL: persons in images of 1-4 people, ~``states`` part states each."""
    import ontology

    onto = ontology.load()
    rng = random.Random(seed)
    part_states = onto.part_states.ids
    objects = onto.objects.ids
    rows = 0
    with path.open("w") as fh:
        image = 0
        written = 0
        while written < persons:
            image += 1
            for pid in range(min(rng.randint(1, 4), persons - written)):
                x, y = rng.uniform(0, 500), rng.uniform(0, 300)
                chosen = rng.sample(part_states, states)
                record = {
                    "image_id": f"synthetic_{image:07d}.jpg",
                    "person_id": str(pid),
                    "box": [x, y, x + rng.uniform(20, 140), y + rng.uniform(40, 180)],
                    "part_states": {s: round(rng.random(), 4) for s in chosen},
                    "objects": [{"object": rng.choice(objects), "score": round(rng.random(), 3)}],
                    "source": "model",
                    "model": "synthetic",
                }
                fh.write(json.dumps(record) + "\n")
                written += 1
                rows += 1 + states + 1 + 1  # person, states, IN_IMAGE, NEAR
    return rows


def phase_hake(store_dir: Path) -> dict[str, object]:
    from kg import EmbeddedStore, ingest_hake_instance, init_store

    path = HAKE_DIR / "hico-det-instance-level.tar.gz"
    with EmbeddedStore(store_dir) as store:
        init_store(store)
        start = time.perf_counter()
        report = ingest_hake_instance(store, path)
        seconds = time.perf_counter() - start
        rows = (
            store.query("MATCH (p:Person)-[r]->() RETURN count(r) AS n")[0]["n"]
            + report.persons_added
            + report.images_added
        )
    return {
        "hake_instance_seconds": round(seconds, 2),
        "hake_instance_persons": report.persons_added,
        "hake_instance_rows": rows,
        "hake_instance_rows_per_s": round(rows / seconds),
        "hake_instance_peak_rss_mb": round(peak_rss_mb()),
    }


def phase_synthetic(store_dir: Path, jsonl: Path, samples: int = 300) -> dict[str, object]:
    import ontology
    from kg import (
        EXAMPLES,
        EmbeddedStore,
        ingest_observations_jsonl,
        init_store,
        write_predictions,
    )

    with EmbeddedStore(store_dir) as store:
        init_store(store)
        start = time.perf_counter()
        report = ingest_observations_jsonl(store, jsonl)
        seconds = time.perf_counter() - start
        rss = peak_rss_mb()
        n_obs = store.query("MATCH (:Person)-[h:HAS_STATE]->(:PartState) RETURN count(h) AS n")[0]["n"]
        # Explanations for a sample of persons, then the documented "why" query on them.
        rng = random.Random(1)
        keys = rng.sample([r["id"] for r in store.query("MATCH (p:Person) RETURN p.id AS id")], samples)
        preds = []
        for key in keys:
            states = store.query(
                "MATCH (p:Person {id: $id})-[h:HAS_STATE]->(s:PartState) RETURN s.id AS state, "
                "h.prob AS prob ORDER BY prob DESC LIMIT 3",
                id=key,
            )
            expl = ontology.Explanation(
                "ride bicycle",
                "benchmark",
                tuple(ontology.Contribution("part_state", r["state"], r["prob"]) for r in states),
            )
            image_id, person_id = key.rsplit("/", 1)
            preds.append(
                ontology.ActivityPrediction(image_id, person_id, "ride bicycle", 0.5, "bench", "1", expl)
            )
        write_predictions(store, preds)
        why = EXAMPLES["why_prediction"]
        times = []
        for p in preds:
            t = time.perf_counter()
            rows = store.query(why.cypher, person=f"{p.image_id}/{p.person_id}", activity="ride bicycle")
            times.append(time.perf_counter() - t)
            if len(rows) != 3:
                raise RuntimeError(f"why query returned {len(rows)} rows, expected 3")
        aggregate = (
            "MATCH (:Person)-[h:HAS_STATE]->(s:PartState) "
            "RETURN s.name AS state, count(*) AS n, avg(h.prob) AS mean_prob"
        )
        agg_times = []
        for _ in range(3):
            t = time.perf_counter()
            store.query(aggregate)
            agg_times.append(time.perf_counter() - t)
    return {
        "synthetic_persons": report.persons_added,
        "synthetic_observations": n_obs,
        "synthetic_ingest_seconds": round(seconds, 2),
        "synthetic_rows_per_s": round(
            (report.persons_added * 2 + report.images_added + n_obs + report.persons_added) / seconds
        ),
        "synthetic_ingest_peak_rss_mb": round(rss),
        "why_query_p50_ms": round(statistics.median(times) * 1000, 3),
        "why_query_p95_ms": round(sorted(times)[int(len(times) * 0.95)] * 1000, 3),
        "aggregate_all_observations_ms": round(statistics.median(agg_times) * 1000, 1),
    }


def phase_bolt(jsonl: Path) -> dict[str, object]:
    from kg import Neo4jStore, ingest_observations, init_store, read_observations_jsonl

    root = Path(tempfile.mkdtemp(prefix="hake-bolt-"))
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "kg" / "bolt_server.py"), str(root / "db"), "bench-password"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=root,
    )
    assert server.stdout is not None and server.stdin is not None
    line = server.stdout.readline()
    if not line.startswith("READY"):
        server.kill()
        raise RuntimeError("the ArcadeDB Bolt server did not start")
    _, port, database = line.split()
    try:
        with Neo4jStore(f"bolt://127.0.0.1:{port}", "root", "bench-password", database) as store:
            init_store(store)
            observations = read_observations_jsonl(jsonl)
            start = time.perf_counter()
            report = ingest_observations(store, observations, source=jsonl.name)
            seconds = time.perf_counter() - start
            rows = store.query("MATCH (p:Person)-[r]->() RETURN count(r) AS n")[0]["n"]
            rows += report.persons_added + report.images_added
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    return {
        "bolt_server": "ArcadeDB Bolt plugin (arcadedb-embedded)",
        "bolt_persons": report.persons_added,
        "bolt_ingest_seconds": round(seconds, 2),
        "bolt_rows_per_s": round(rows / seconds),
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
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=700_000)
    parser.add_argument("--bolt-persons", type=int, default=20_000)
    parser.add_argument("--skip-hake", action="store_true")
    parser.add_argument("--skip-bolt", action="store_true")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, *rest = args.phase
        result = {
            "hake": lambda: phase_hake(Path(rest[0])),
            "synthetic": lambda: phase_synthetic(Path(rest[0]), Path(rest[1])),
            "bolt": lambda: phase_bolt(Path(rest[0])),
        }[name]()
        print(json.dumps(result))
        return
    work = Path(tempfile.mkdtemp(prefix="hake-bench-"))
    summary: dict[str, object] = {"machine_cores": os.cpu_count()}
    if not args.skip_hake:
        if (HAKE_DIR / "hico-det-instance-level.tar.gz").exists():
            summary.update(run_phase("hake", str(work / "hake")))
            print(
                f"HAKE instance-level: {summary['hake_instance_seconds']} s, "
                f"{summary['hake_instance_rows_per_s']} rows/s, "
                f"peak {summary['hake_instance_peak_rss_mb']} MB"
            )
        else:
            print(f"skipping the HAKE phase: {HAKE_DIR} not found")
    jsonl = work / "synthetic.jsonl"
    start = time.perf_counter()
    write_synthetic(jsonl, args.persons)
    print(
        f"wrote {args.persons} synthetic persons in {time.perf_counter() - start:.1f} s "
        f"({jsonl.stat().st_size / 1e6:.0f} MB)"
    )
    summary.update(run_phase("synthetic", str(work / "synthetic"), str(jsonl)))
    print(
        f"synthetic: {summary['synthetic_persons']} persons, {summary['synthetic_observations']} "
        f"observations in {summary['synthetic_ingest_seconds']} s, peak "
        f"{summary['synthetic_ingest_peak_rss_mb']} MB; why p50 {summary['why_query_p50_ms']} ms; "
        f"aggregate {summary['aggregate_all_observations_ms']} ms"
    )
    if not args.skip_bolt:
        small = work / "bolt.jsonl"
        write_synthetic(small, args.bolt_persons, seed=2)
        summary.update(run_phase("bolt", str(small)))
        print(f"bolt: {summary['bolt_persons']} persons at {summary['bolt_rows_per_s']} rows/s")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
