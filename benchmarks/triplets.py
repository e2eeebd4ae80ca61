"""Human-object triplets (issue 14 item 6): pairing throughput on CPU, the store write of
triplets, and the triplet example queries.

Data: SIMULATED images built from real HAKE annotations. The instance-level HAKE file
(``hico-det-instance-level.tar.gz`` read by ``ontology.read_hake_pairs``: 38,118 HICO-DET
training images, of which 37,633 have persons; 69,316 merged persons with their boxes and
ground-truth part states, 56,915 object instances, 117,106 ground-truth triplets) gives the
images with persons in a seeded order (seed 0); N images are taken from that order, cycled
when N exceeds it, each copy under a new image id (``sim<c>_<image id>``, copy 0 keeps the
HICO id) with the same persons, boxes, part states, instances and triplets. As perception's
records (``ontology.ImageObservation``), a person is its annotation's evidence (part states
and active parts at probability 1.0, its objects' boxes, as in the ``hicodet-pairs`` "known
boxes" protocol) labelled ``source="model"``, ``model="hake-annotation-as-perception"``; the
instances are the annotated ones (score 1.0), not a detector's. Every number printed comes
from these simulated images.

Per size (default 100K images), each stage in its own subprocess so that its peak RSS is
its own:

  prepare  build the images; predict each person's top-3 activities with the packaged
           reasoner (``ActivityReasoner.from_pretrained().predict(top_k=3, explain=False)``;
           timed, reported as ``reason_*``, and NOT part of the pairing numbers)
  pair     ``reasoning.pairing.pair_predictions`` with the packaged checkpoint
           (``load_pairing()``) over the images as ``ontology.ImageObservation`` scenes, in
           batches of ``--pair-batch`` images (the bipartite graph building included; the
           records -> scenes conversion and the reasoner excluded). ``pair_predictions_per_s``
           counts every (person, activity) prediction handled; ``pair_triplets_per_s`` the
           ones given an object instance (a prediction whose activity has no object, or whose
           object class has no instance in the image, is handed back unpaired)
  ingest   a fresh embedded store (``kg.EmbeddedStore``, ``kg.init_store``), then
           ``kg.ingest_hoi`` of the images: persons (with their ground-truth activities and
           the evidence), object instances and ground-truth triplets, one bulk load. This is
           the only public path that stores object instances: perception's detected
           instances have none yet (``ingest_observations`` writes persons, not instances)
  write    ``kg.write_predictions`` of the paired predictions (``ActivityPrediction(...,
           object_id=...)``, no explanations): ``DOES`` edges plus one model
           ``INTERACTS_WITH`` edge per named instance, one run, one bulk load
  scenes   the store path of ``Engine.infer`` for model-detected instances,
           ``kg.reason.reason_scenes`` (not in ``kg.reason.__all__``), into another fresh
           store: reason (top-3, no explanations), pair with the packaged checkpoint (one
           ``pair_predictions`` call over every scene), then one bulk load of the persons, the
           instances, the predictions and the model triplets. Its seconds include the
           reasoner and the pairing; ``scenes_store_s_estimate`` subtracts this size's
           ``reason_s`` and ``pair_s`` measured above (rough: it carries the noise of both,
           and the pairing here is one call, not batches; meaningless at small sizes)
  query    the documented triplet queries of ``kg.queries.EXAMPLES``
           (``who_does_what_with_which``, ``persons_sharing_instance`` for annotation and for
           model triplets, ``instances_nobody_uses``) with their documented parameters, on
           the ingest + write store read-only: one warm-up run, then the median of
           ``--query-runs`` runs
  incremental  ``--incremental-images`` (default 10) of the images again into the large
           stores, median of 3 runs: ``write_predictions`` of their paired predictions under
           another model name per run (nothing to replace), and ``reason_scenes`` of them
           under new image ids (``extra<r>_<image id>``): what a write costs whatever its
           size, i.e. the parts of it that grow with the store

Measured (2-core VM, ``OMP_NUM_THREADS=2``, load average 1.1-2.8 from others' tests; the
100K size: 184,268 persons, 150,958 instances, 311,006 ground-truth and 526,445 model
triplets): pairing 18.3K triplets/s (28.7 s; 1.0 GB); ``ingest_hoi`` 21.4 s (1.8 GB);
``write_predictions`` 11.6 s, 45K triplets/s (1.1 GB); ``reason_scenes`` 46.6 s (2.9 GB);
10 more images: ``write_predictions`` 2.2 s (0.22 s into the 5K stores: a COMMIT after a
``COPY`` into the large relationship tables, ~0.75 s, and full scans of ``Person`` and of
``ObjectInstance``, ~0.37 s each, grow with the store), ``reason_scenes`` 2.0 s; queries p50
``who_does_what_with_which`` 24 ms, ``persons_sharing_instance`` 1.2 s (annotation) / 3.0 s
(model), ``instances_nobody_uses`` 240 ms (0 rows: every annotated instance is used).

Usage:
    OMP_NUM_THREADS=2 python benchmarks/triplets.py                    # 100K images
    OMP_NUM_THREADS=2 python benchmarks/triplets.py --images 5000 100000
The last line printed is one JSON object: the largest size's numbers at the top level
(``images``, ``persons``, ``pair_triplets_per_s``, ``ingest_s``, ``write_s``,
``write_triplets_per_s``, ``scenes_s``, ``peak_rss_mb`` (the largest of the pair, ingest,
write and scenes stages'), the queries' ``*_p50_ms`` and ``*_rows``), every size under
``sizes`` with each stage's seconds, rate, peak RSS and the 1-minute load average as it
starts (``<stage>_load_before``), the load average before and after the size, and, given two
sizes or more, the exponents of each stage's time between the two largest.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HAKE_FILE = ROOT.parent / "shared" / "datasets" / "hake" / "hico-det-instance-level.tar.gz"
sys.path.insert(0, str(ROOT))

DATA = (
    "SIMULATED: images of HAKE's hico-det-instance-level.tar.gz (ontology.read_hake_pairs; annotated "
    "persons, boxes, part states at 1.0, object instances, triplets) in a seeded order (seed 0), cycled "
    "under new image ids past its 37,633 images with persons; as perception's records the persons are "
    "labelled source 'model' and the instances are the annotated ones (score 1.0)"
)
#: (label, example query name, parameters over its documented ones)
QUERIES: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("who_does_what_with_which", "who_does_what_with_which", {}),
    ("persons_sharing_instance", "persons_sharing_instance", {}),
    ("persons_sharing_instance_model", "persons_sharing_instance", {"source": "model"}),
    ("instances_nobody_uses", "instances_nobody_uses", {}),
)
#: the stages whose peak RSS is the top-level ``peak_rss_mb`` (prepare only builds the data)
MEASURED = ("pair", "ingest", "write", "scenes")
#: the model name of the simulated persons' evidence (the annotation, stored as perception's)
EVIDENCE_MODEL = "hake-annotation-as-perception"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def _dump(value: object, path: Path) -> None:
    with path.open("wb") as fh:
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _load(path: Path) -> Any:
    with path.open("rb") as fh:
        return pickle.load(fh)


def renamed(image: Any, new_id: str) -> Any:
    """An ``ontology.HoiAnnotation`` with its persons and instances under another image id."""
    from dataclasses import replace

    import ontology

    onto = ontology.load()
    return ontology.HoiAnnotation(
        new_id,
        image.width,
        image.height,
        tuple(replace(p, image_id=new_id, ontology=onto) for p in image.persons),
        tuple(replace(o, image_id=new_id, ontology=onto) for o in image.objects),
        image.interactions,
        ontology=onto,
    )


def simulated_images(hake_file: Path, n: int, seed: int = 0) -> list[Any]:
    """``n`` ``ontology.HoiAnnotation`` images: the file's images with persons in a seeded
    order, cycled, copy ``c > 0`` of an image renamed ``sim<c>_<image id>``."""
    import ontology

    base = [i for i in ontology.read_hake_pairs(hake_file) if i.persons]
    random.Random(seed).shuffle(base)
    out = []
    for k in range(n):
        image = base[k % len(base)]
        copy = k // len(base)
        out.append(renamed(image, f"sim{copy}_{image.image_id}") if copy else image)
    return out


def scenes_of(images: list[Any]) -> list[Any]:
    """The images as perception's records: each person its annotation's evidence (source
    ``"model"``, :data:`EVIDENCE_MODEL`), the annotated instances."""
    import ontology

    onto = ontology.load()

    def person(p: Any) -> Any:
        return ontology.PersonObservation(
            p.image_id,
            p.person_id,
            p.box,
            part_states=dict.fromkeys(p.part_states, 1.0),
            active_parts=dict.fromkeys(p.active_parts, 1.0),
            objects=p.objects,
            source="model",
            model=EVIDENCE_MODEL,
            ontology=onto,
        )

    return [
        ontology.ImageObservation(i.image_id, tuple(person(p) for p in i.persons), i.objects) for i in images
    ]


def phase_prepare(work: Path, n: int, hake_file: Path) -> dict[str, object]:
    import torch

    import reasoning

    torch.set_num_threads(os.cpu_count() or 1)
    start = time.perf_counter()
    images = simulated_images(hake_file, n)
    build = time.perf_counter() - start
    observations = [p for scene in scenes_of(images) for p in scene.persons]
    reasoner = reasoning.ActivityReasoner.from_pretrained()
    reasoner.predict(observations[:64], top_k=3, explain=False)  # warm up
    start = time.perf_counter()
    predictions = reasoner.predict(observations, top_k=3, explain=False)
    reason = time.perf_counter() - start
    _dump(images, work / "images.pkl")
    _dump(predictions, work / "predictions.pkl")
    return {
        "images": len(images),
        "persons": len(observations),
        "object_instances": sum(len(i.objects) for i in images),
        "ground_truth_triplets": sum(1 for i in images for t in i.interactions if t.object_id is not None),
        "build_images_s": round(build, 2),
        "reason_s": round(reason, 2),
        "reason_persons_per_s": round(len(observations) / reason),
        "reason_kind": "ActivityReasoner.predict(top_k=3, explain=False), records, encoding included",
        "prepare_peak_rss_mb": round(peak_rss_mb()),
    }


def phase_pair(work: Path, batch_images: int) -> dict[str, object]:
    import torch

    from reasoning.pairing import load_pairing, pair_predictions

    torch.set_num_threads(os.cpu_count() or 1)
    scenes = scenes_of(_load(work / "images.pkl"))
    predictions: list[list[Any]] = _load(work / "predictions.pkl")
    model = load_pairing()
    n_persons = sum(len(s.persons) for s in scenes[:64])
    pair_predictions(model, scenes[:64], predictions[:n_persons])  # warm up
    paired: list[list[Any]] = []
    start = time.perf_counter()
    first = 0
    for lo in range(0, len(scenes), batch_images):
        batch = scenes[lo : lo + batch_images]
        n_persons = sum(len(s.persons) for s in batch)
        paired.extend(pair_predictions(model, batch, predictions[first : first + n_persons]))
        first += n_persons
    seconds = time.perf_counter() - start
    flat = [p for person in paired for p in person]
    named = sum(1 for p in flat if p.object_id is not None)
    _dump(flat, work / "paired.pkl")
    return {
        "pair_s": round(seconds, 2),
        "pair_predictions": len(flat),
        "pair_triplets": named,
        "pair_predictions_per_s": round(len(flat) / seconds),
        "pair_triplets_per_s": round(named / seconds),
        "pair_peak_rss_mb": round(peak_rss_mb()),
    }


def phase_ingest(work: Path) -> dict[str, object]:
    from kg import EmbeddedStore, ingest_hoi, init_store

    images = _load(work / "images.pkl")
    with EmbeddedStore(work / "store") as store:
        init_store(store)
        start = time.perf_counter()
        report = ingest_hoi(store, images, source="simulated")
        seconds = time.perf_counter() - start
    instances = int(report.extra.get("object_instances_added", 0))
    triplets = int(report.extra.get("interactions_added", 0))
    return {
        "ingest_s": round(seconds, 2),
        "ingest_persons": report.persons_added,
        "ingest_instances": instances,
        "ingest_triplets": triplets,
        "ingest_images_per_s": round(len(images) / seconds),
        "ingest_triplets_per_s": round(triplets / seconds),
        "ingest_peak_rss_mb": round(peak_rss_mb()),
    }


def phase_write(work: Path) -> dict[str, object]:
    from kg import EmbeddedStore, write_predictions

    predictions = _load(work / "paired.pkl")
    with EmbeddedStore(work / "store") as store:
        start = time.perf_counter()
        written = write_predictions(store, predictions)
        seconds = time.perf_counter() - start
        stored = store.query(
            "MATCH (:Person)-[x:INTERACTS_WITH]->(:ObjectInstance) WHERE x.source = 'model' "
            "RETURN count(x) AS n"
        )[0]["n"]
    return {
        "write_s": round(seconds, 2),
        "write_predictions": written,
        "write_triplets": stored,
        "write_predictions_per_s": round(written / seconds),
        "write_triplets_per_s": round(stored / seconds),
        "write_peak_rss_mb": round(peak_rss_mb()),
    }


def phase_scenes(work: Path) -> dict[str, object]:
    import torch

    import reasoning
    from kg import EmbeddedStore, init_store
    from kg.reason import reason_scenes
    from reasoning.pairing import load_pairing

    torch.set_num_threads(os.cpu_count() or 1)
    scenes = scenes_of(_load(work / "images.pkl"))
    reasoner = reasoning.ActivityReasoner.from_pretrained()
    pairer = load_pairing()
    with EmbeddedStore(work / "store-scenes") as store:
        init_store(store)
        start = time.perf_counter()
        predictions = reason_scenes(store, reasoner, scenes, pairer=pairer, top_k=3, explain=False)
        seconds = time.perf_counter() - start
        counts = store.query(
            "MATCH (:Person)-[x:INTERACTS_WITH]->(:ObjectInstance) WHERE x.source = 'model' "
            "RETURN count(x) AS n"
        )[0]["n"]
        instances = store.query("MATCH (o:ObjectInstance) RETURN count(o) AS n")[0]["n"]
    return {
        "scenes_s": round(seconds, 2),
        "scenes_persons": sum(len(s.persons) for s in scenes),
        "scenes_instances": instances,
        "scenes_predictions": sum(len(p) for p in predictions),
        "scenes_triplets": counts,
        "scenes_triplets_per_s": round(counts / seconds),
        "scenes_peak_rss_mb": round(peak_rss_mb()),
    }


def phase_query(work: Path, runs: int) -> dict[str, object]:
    from kg import EXAMPLES, EmbeddedStore

    out: dict[str, object] = {}
    with EmbeddedStore(work / "store", read_only=True) as store:
        for label, name, override in QUERIES:
            example = EXAMPLES[name]
            params = {**example.params, **override}
            rows = store.query(example.cypher, **params)  # warm the caches once
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                store.query(example.cypher, **params)
                times.append(time.perf_counter() - t)
            out[f"{label}_p50_ms"] = round(statistics.median(times) * 1000, 2)
            out[f"{label}_rows"] = len(rows)
    return out


def phase_incremental(work: Path, n_images: int, runs: int) -> dict[str, object]:
    """A few images into the large stores, as a user adds one batch of images: the fixed
    cost of a write, whatever in it grows with the store."""
    from dataclasses import replace

    import torch

    import reasoning
    from kg import EmbeddedStore, write_predictions
    from kg.reason import reason_scenes
    from reasoning.pairing import load_pairing

    torch.set_num_threads(os.cpu_count() or 1)
    images = _load(work / "images.pkl")[:n_images]
    ids = {i.image_id for i in images}
    paired = [p for p in _load(work / "paired.pkl") if p.image_id in ids]
    write_times = []
    with EmbeddedStore(work / "store") as store:
        for r in range(runs):  # another model each run: a new run, nothing of it to replace
            preds = [replace(p, model=f"incremental-{r}") for p in paired]
            t = time.perf_counter()
            write_predictions(store, preds)
            write_times.append(time.perf_counter() - t)
    reasoner = reasoning.ActivityReasoner.from_pretrained()
    pairer = load_pairing()
    scene_times = []
    with EmbeddedStore(work / "store-scenes") as store:
        for r in range(runs):  # new images each run
            scenes = scenes_of([renamed(i, f"extra{r}_{i.image_id}") for i in images])
            t = time.perf_counter()
            reason_scenes(store, reasoner, scenes, pairer=pairer, top_k=3, explain=False)
            scene_times.append(time.perf_counter() - t)
    return {
        "incremental_images": len(images),
        "incremental_predictions": len(paired),
        "incremental_triplets": sum(1 for p in paired if p.object_id is not None),
        "incremental_write_p50_s": round(statistics.median(write_times), 3),
        "incremental_scenes_p50_s": round(statistics.median(scene_times), 3),
        "incremental_runs": runs,
        "incremental_peak_rss_mb": round(peak_rss_mb()),
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


def run_stage(row: dict[str, object], *args: str) -> dict[str, object]:
    """:func:`run_phase`, with the 1-minute load average as the stage starts (others may be
    using the machine) recorded in ``row`` as ``<stage>_load_before``."""
    row[f"{args[0]}_load_before"] = load_average()
    return run_phase(*args)


def _exponent(a: dict[str, object], b: dict[str, object], key: str) -> float:
    ratio_n = float(str(b["images"])) / float(str(a["images"]))
    return round(math.log(float(str(b[key])) / float(str(a[key]))) / math.log(ratio_n), 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, nargs="+", default=[100_000])
    parser.add_argument("--pair-batch", type=int, default=1024, help="images per pair_predictions call")
    parser.add_argument("--query-runs", type=int, default=5)
    parser.add_argument("--incremental-images", type=int, default=10)
    parser.add_argument("--hake-file", type=Path, default=HAKE_FILE)
    parser.add_argument("--keep", action="store_true", help="keep the stores and data files")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, *rest = args.phase
        phases: dict[str, Callable[[], dict[str, object]]] = {
            "prepare": lambda: phase_prepare(Path(rest[0]), int(rest[1]), Path(rest[2])),
            "pair": lambda: phase_pair(Path(rest[0]), int(rest[1])),
            "ingest": lambda: phase_ingest(Path(rest[0])),
            "write": lambda: phase_write(Path(rest[0])),
            "scenes": lambda: phase_scenes(Path(rest[0])),
            "query": lambda: phase_query(Path(rest[0]), int(rest[1])),
            "incremental": lambda: phase_incremental(Path(rest[0]), int(rest[1]), int(rest[2])),
        }
        print(json.dumps(phases[name]()))
        return
    if not args.hake_file.exists():
        raise SystemExit(f"{args.hake_file} not found: pass --hake-file PATH to HAKE's instance-level file")

    from kg import EXAMPLES

    root = Path(tempfile.mkdtemp(prefix="hake-triplets-"))
    sizes: list[dict[str, object]] = []
    try:
        for n in sorted(args.images):
            work = root / f"images-{n}"
            work.mkdir()
            row: dict[str, object] = {"images": n, "load_average_before": load_average()}
            row.update(run_stage(row, "prepare", str(work), str(n), str(args.hake_file)))
            print(
                f"SIMULATED {n} images: {row['persons']} persons, {row['object_instances']} instances, "
                f"{row['ground_truth_triplets']} ground-truth triplets; reasoner top-3 (not part of pairing) "
                f"{row['reason_s']} s ({row['reason_persons_per_s']} persons/s)",
                flush=True,
            )
            row.update(run_stage(row, "pair", str(work), str(args.pair_batch)))
            print(
                f"SIMULATED {n} images: pair_predictions {row['pair_s']} s for {row['pair_predictions']} "
                f"predictions ({row['pair_predictions_per_s']}/s), {row['pair_triplets']} triplets named "
                f"({row['pair_triplets_per_s']} triplets/s, batches of {args.pair_batch} images), "
                f"peak {row['pair_peak_rss_mb']} MB",
                flush=True,
            )
            row.update(run_stage(row, "ingest", str(work)))
            print(
                f"SIMULATED {n} images: ingest_hoi {row['ingest_s']} s ({row['ingest_persons']} persons, "
                f"{row['ingest_instances']} instances, {row['ingest_triplets']} ground-truth triplets; "
                f"{row['ingest_triplets_per_s']} triplets/s), peak {row['ingest_peak_rss_mb']} MB",
                flush=True,
            )
            row.update(run_stage(row, "write", str(work)))
            print(
                f"SIMULATED {n} images: write_predictions {row['write_s']} s ({row['write_predictions']} "
                f"predictions, {row['write_triplets']} model triplets; {row['write_triplets_per_s']} "
                f"triplets/s), peak {row['write_peak_rss_mb']} MB",
                flush=True,
            )
            row.update(run_stage(row, "scenes", str(work)))
            estimate = float(str(row["scenes_s"])) - float(str(row["reason_s"])) - float(str(row["pair_s"]))
            row["scenes_store_s_estimate"] = round(estimate, 2)
            print(
                f"SIMULATED {n} images: reason_scenes (reason + pair + store, one load) {row['scenes_s']} s "
                f"({row['scenes_persons']} persons, {row['scenes_instances']} instances, "
                f"{row['scenes_triplets']} model triplets; {row['scenes_triplets_per_s']} triplets/s; "
                f"store part ~{row['scenes_store_s_estimate']} s by subtraction), "
                f"peak {row['scenes_peak_rss_mb']} MB",
                flush=True,
            )
            row.update(run_stage(row, "query", str(work), str(args.query_runs)))
            print(
                f"SIMULATED {n} images: queries p50 who_does_what_with_which "
                f"{row['who_does_what_with_which_p50_ms']} ms, persons_sharing_instance "
                f"{row['persons_sharing_instance_p50_ms']} ms (annotation), "
                f"{row['persons_sharing_instance_model_p50_ms']} ms (model), instances_nobody_uses "
                f"{row['instances_nobody_uses_p50_ms']} ms",
                flush=True,
            )
            row.update(run_stage(row, "incremental", str(work), str(args.incremental_images), "3"))
            print(
                f"SIMULATED {n} images: {row['incremental_images']} more images into the stores of "
                f"{n}: write_predictions of {row['incremental_predictions']} predictions "
                f"({row['incremental_triplets']} triplets) p50 {row['incremental_write_p50_s']} s; "
                f"reason_scenes p50 {row['incremental_scenes_p50_s']} s",
                flush=True,
            )
            row["peak_rss_mb"] = max(int(str(row[f"{stage}_peak_rss_mb"])) for stage in MEASURED)
            row["load_average_after"] = load_average()
            print(
                f"{n} images: load average (1 min) before {row['load_average_before']}, "
                f"after {row['load_average_after']}",
                flush=True,
            )
            sizes.append(row)
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    summary: dict[str, object] = {
        "data": DATA,
        "machine_cores": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "pair_batch_images": args.pair_batch,
        "query_runs": args.query_runs,
        "query_params": {label: {**EXAMPLES[name].params, **o} for label, name, o in QUERIES},
        **sizes[-1],
        "sizes": sizes,
    }
    if len(sizes) >= 2:
        a, b = sizes[-2], sizes[-1]
        summary["exponents"] = {k: _exponent(a, b, k) for k in ("pair_s", "ingest_s", "write_s", "scenes_s")}
        summary["exponents_between"] = [a["images"], b["images"]]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
