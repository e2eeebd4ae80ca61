"""Load the ontology and instance data into a store, all-or-nothing per call.

- :func:`init_store` writes the ontology (idempotent: ``MERGE`` on ids).
- :func:`ingest_observations` writes persons, images, part-state observations, objects and
  (for annotations) ground-truth activities. Every record is validated before anything is
  written, the write happens in one transaction, and persons already in the store are
  skipped, so re-ingesting a file changes nothing.
- :func:`ingest_hake_image` / :func:`ingest_hake_instance` read the HAKE files, ingest
  them as annotations and recompute the cross-level evidence (:mod:`kg.evidence`).
- :func:`read_observations_jsonl` reads the project's observations format: one
  :meth:`ontology.PersonObservation.to_dict` JSON object per line (what perception writes).
- :func:`write_predictions` stores predictions and their explanations.

Ids: an image node is ``image_id``, or ``"<image_id>#<frame_index>"`` for a video frame
(:func:`image_node_id`); a person node is ``"<image node id>/<person_id>"``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kg.schema import person_key
from kg.store.base import GraphStore
from ontology import (
    ActivityPrediction,
    AnnotationFormatError,
    HakeError,
    PersonObservation,
    StoreError,
    load,
    read_hake_image,
    read_hake_instance,
)

__all__ = [
    "IngestReport",
    "image_node_id",
    "ingest_hake_image",
    "ingest_hake_instance",
    "ingest_observations",
    "init_store",
    "read_observations_jsonl",
    "write_predictions",
]

#: Model name recorded on ground-truth ``DOES`` edges.
ANNOTATION_MODEL = "hake-annotation"
_CHUNK = 20_000


@dataclass
class IngestReport:
    """What one ingest call did."""

    source: str
    persons_added: int = 0
    persons_skipped: int = 0
    images_added: int = 0
    observations_added: int = 0
    activities_added: int = 0
    evidence_edges: int | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out.update(self.extra)
        return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def image_node_id(obs: PersonObservation) -> str:
    """The ``Image`` node id of an observation (frames of a video get ``#<frame>``)."""
    return obs.image_id if obs.frame_index is None else f"{obs.image_id}#{obs.frame_index}"


def init_store(store: GraphStore) -> dict[str, int]:
    """Write the ontology into ``store`` (idempotent). Returns node counts by label."""
    onto = load()
    store.ensure_schema()
    with store.transaction():
        store.run_batches(
            "UNWIND $rows AS r MERGE (n:BodyPart {id: r.id}) "
            "SET n.name = r.name, n.granularity = r.granularity, n.side = r.side, n.idx = r.idx",
            [
                {
                    "id": p.id,
                    "name": p.name,
                    "granularity": p.granularity,
                    "side": p.side,
                    "idx": p.index,
                }
                for p in [*onto.coarse_parts, *onto.body_parts]
            ],
        )
        store.run_batches(
            "UNWIND $rows AS r MATCH (f:BodyPart {id: r.fine}), (c:BodyPart {id: r.coarse}) "
            "MERGE (f)-[:PART_OF]->(c)",
            [{"fine": p.id, "coarse": p.coarse} for p in onto.body_parts],
        )
        store.run_batches(
            "UNWIND $rows AS r MERGE (n:PartState {id: r.id}) SET n.name = r.name, "
            "n.part = r.part, n.verb_phrase = r.verb_phrase, n.no_interaction = r.no_interaction, "
            "n.idx = r.idx, n.hico_idx = r.hico_idx",
            [
                {
                    "id": s.id,
                    "name": s.name,
                    "part": s.part,
                    "verb_phrase": s.verb_phrase,
                    "no_interaction": s.no_interaction,
                    "idx": s.index,
                    "hico_idx": s.hico_index,
                }
                for s in onto.part_states
            ],
        )
        store.run_batches(
            "UNWIND $rows AS r MATCH (s:PartState {id: r.id}), (b:BodyPart {id: r.part}) "
            "MERGE (s)-[:OF_PART]->(b)",
            [{"id": s.id, "part": s.part} for s in onto.part_states],
        )
        store.run_batches(
            "UNWIND $rows AS r MERGE (n:Verb {id: r.id}) "
            "SET n.name = r.name, n.idx = r.idx, n.hico_id = r.hico_id",
            [{"id": v.id, "name": v.name, "idx": v.index, "hico_id": v.hico_id} for v in onto.verbs],
        )
        store.run_batches(
            "UNWIND $rows AS r MERGE (n:Object {id: r.id}) "
            "SET n.name = r.name, n.idx = r.idx, n.hico_id = r.hico_id",
            [{"id": o.id, "name": o.name, "idx": o.index, "hico_id": o.hico_id} for o in onto.objects],
        )
        store.run_batches(
            "UNWIND $rows AS r MERGE (n:Activity {id: r.id}) "
            "SET n.name = r.name, n.idx = r.idx, n.hoi_id = r.hoi_id",
            [{"id": a.id, "name": a.name, "idx": a.index, "hoi_id": a.hoi_id} for a in onto.activities],
        )
        rows = [{"id": a.id, "verb": a.verb, "object": a.object} for a in onto.activities]
        store.run_batches(
            "UNWIND $rows AS r MATCH (a:Activity {id: r.id}), (v:Verb {id: r.verb}) "
            "MERGE (a)-[:HAS_VERB]->(v)",
            rows,
        )
        store.run_batches(
            "UNWIND $rows AS r MATCH (a:Activity {id: r.id}), (o:Object {id: r.object}) "
            "MERGE (a)-[:HAS_OBJECT]->(o)",
            rows,
        )
    return ontology_counts(store)


def ontology_counts(store: GraphStore) -> dict[str, int]:
    """Node counts of the ontology labels in ``store``."""
    counts = {}
    for label in ("BodyPart", "PartState", "Verb", "Object", "Activity"):
        # The label comes from this fixed list, never from user input.
        counts[label] = int(store.query(f"MATCH (n:{label}) RETURN count(n) AS n")[0]["n"])
    return counts


def _require_ontology(store: GraphStore) -> None:
    counts = ontology_counts(store)
    expected = {"BodyPart": 16, "PartState": 93, "Verb": 157, "Object": 80, "Activity": 600}
    if counts != expected:
        raise StoreError(
            f"the store does not hold the ontology (found {counts}, expected {expected}); "
            "run `hake init` on it first (or kg.init_store(store))"
        )


def _existing(store: GraphStore, label: str, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        rows = store.query(
            # The label is one of two fixed names, never user input.
            # UNWIND + MATCH on the id uses the primary-key index on both backends
            # (``WHERE n.id IN $ids`` scans on LadybugDB: 100x slower at 70K persons).
            f"UNWIND $ids AS i MATCH (n:{label} {{id: i}}) RETURN n.id AS id",
            ids=list(ids[start : start + _CHUNK]),
        )
        found.update(r["id"] for r in rows)
    return found


def ingest_observations(
    store: GraphStore,
    observations: Sequence[PersonObservation],
    *,
    activities: Sequence[Sequence[str]] | None = None,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    source: str = "observations",
    progress: bool = False,
) -> IngestReport:
    """Write persons (and their images, part states, parts, objects) in one transaction.

    Args:
        observations: validated records; persons whose id is already stored are skipped.
        activities: per observation, ground-truth activity ids (``DOES`` edges with source
            ``"annotation"``); ``None`` for model observations.
        image_sizes: image id -> (width, height), where known.
        source: a name for the report (usually the file).
        progress: show a progress bar.
    """
    start = time.perf_counter()
    _require_ontology(store)
    if activities is not None and len(activities) != len(observations):
        raise ValueError(
            f"activities has {len(activities)} entries but there are {len(observations)} observations"
        )
    keys: list[str] = []
    seen: dict[str, int] = {}
    for i, obs in enumerate(observations):
        key = person_key(image_node_id(obs), obs.person_id)
        if key in seen:
            raise StoreError(
                f"{source}: person {key!r} appears twice (records {seen[key] + 1} and {i + 1}); "
                "person ids must be unique within an image (and frame)"
            )
        seen[key] = i
        keys.append(key)
    present = _existing(store, "Person", keys)
    todo = [i for i, key in enumerate(keys) if key not in present]
    image_ids = list(dict.fromkeys(image_node_id(observations[i]) for i in todo))
    images_present = _existing(store, "Image", image_ids)
    new_images = [i for i in image_ids if i not in images_present]

    cols = _Columns()
    first_obs: dict[str, PersonObservation] = {}
    for i in todo:
        first_obs.setdefault(image_node_id(observations[i]), observations[i])
    sizes = image_sizes or {}
    for image in new_images:
        obs = first_obs[image]
        size = sizes.get(obs.image_id)
        cols.add(
            "Image",
            id=image,
            width=None if size is None else size[0],
            height=None if size is None else size[1],
            frame_index=obs.frame_index,
            timestamp=obs.timestamp,
            video=None if obs.frame_index is None else obs.image_id,
        )
    created = _now()
    for i in todo:
        obs, key = observations[i], keys[i]
        cols.add(
            "Person",
            id=key,
            person_id=obs.person_id,
            bbox=None if obs.box is None else obs.box.to_list(),
            keypoints=None
            if obs.keypoints is None
            else [v for k in obs.keypoints for v in (k.x, k.y, k.score)],
            track_id=obs.track_id,
            source=obs.source,
            model=obs.model,
        )
        cols.rel("IN_IMAGE", "Person", "Image", key, image_node_id(obs))
        for state, prob in obs.part_states.items():
            cols.rel(
                "HAS_STATE",
                "Person",
                "PartState",
                key,
                state,
                prob=prob,
                source=obs.source,
                model=obs.model,
            )
        for part, prob in obs.active_parts.items():
            cols.rel("USES_PART", "Person", "BodyPart", key, part, prob=prob, source=obs.source)
        near: dict[str, list[float]] = {}
        for detected in obs.objects:
            near.setdefault(detected.object, []).append(detected.score)
        for obj, scores in near.items():
            cols.rel("NEAR", "Person", "Object", key, obj, score=max(scores), count=len(scores))
        if activities is not None:
            for act in activities[i]:
                cols.rel(
                    "DOES",
                    "Person",
                    "Activity",
                    key,
                    act,
                    score=1.0,
                    source="annotation",
                    model=ANNOTATION_MODEL,
                    version=source,
                    created=created,
                )

    steps = cols.steps()
    bar = _bar(progress, len(steps), f"writing {source}")
    with store.transaction():
        for kind, args, columns in steps:
            if kind == "node":
                store.bulk_insert(args[0], columns)
            else:
                store.bulk_relate(args[0], args[1], args[2], columns)
            bar(1)
    bar(0, close=True)
    return IngestReport(
        source=source,
        persons_added=len(todo),
        persons_skipped=len(present),
        images_added=len(new_images),
        observations_added=cols.count("HAS_STATE"),
        activities_added=cols.count("DOES"),
        seconds=round(time.perf_counter() - start, 3),
    )


class _Columns:
    """Column-wise buffers for bulk writes, in dependency order (nodes, then edges)."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, list[Any]]] = {}
        self.rels: dict[tuple[str, str, str], dict[str, list[Any]]] = {}

    def add(self, label: str, **values: Any) -> None:
        table = self.nodes.setdefault(label, {k: [] for k in values})
        for k, v in values.items():
            table[k].append(v)

    def rel(self, rel: str, src: str, dst: str, a: str, b: str, **values: Any) -> None:
        table = self.rels.setdefault((rel, src, dst), {"from": [], "to": [], **{k: [] for k in values}})
        table["from"].append(a)
        table["to"].append(b)
        for k, v in values.items():
            table[k].append(v)

    def count(self, rel: str) -> int:
        return sum(len(t["from"]) for (r, _, _), t in self.rels.items() if r == rel)

    def steps(self) -> list[tuple[str, tuple[str, ...], dict[str, list[Any]]]]:
        out: list[tuple[str, tuple[str, ...], dict[str, list[Any]]]] = []
        for label in ("Image", "Person"):
            if label in self.nodes:
                out.append(("node", (label,), self.nodes[label]))
        out += [("rel", key, cols) for key, cols in self.rels.items()]
        return out


def _bar(enabled: bool, total: int, desc: str) -> Callable[..., None]:
    """A tqdm progress bar (on stderr) or a no-op; call ``bar(n)`` and ``bar(0, close=True)``."""
    if not enabled:
        return lambda n, close=False: None
    from tqdm import tqdm

    pbar = tqdm(total=total, desc=desc, unit="step")

    def update(n: int, close: bool = False) -> None:
        pbar.update(n)
        if close:
            pbar.close()

    return update


def _progress_callback(enabled: bool, desc: str) -> tuple[Callable[[int, int], None] | None, Any]:
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


def ingest_hake_image(
    store: GraphStore, path: str | os.PathLike[str], progress: bool = False
) -> IngestReport:
    """Ingest the image-level HAKE file: one box-less person per image (``person_id`` "image")
    with its part states, active parts, objects and ground-truth activities; then recompute
    the cross-level evidence."""
    from kg.evidence import update_evidence

    start = time.perf_counter()
    callback, pbar = _progress_callback(progress, f"reading {Path(path).name}")
    annotations = read_hake_image(path, progress=callback)
    if pbar is not None:
        pbar.close()
    report = ingest_observations(
        store,
        [a.to_observation() for a in annotations],
        activities=[a.activities for a in annotations],
        source=Path(path).name,
        progress=progress,
    )
    report.evidence_edges = update_evidence(store)
    report.seconds = round(time.perf_counter() - start, 3)
    return report


def ingest_hake_instance(
    store: GraphStore, path: str | os.PathLike[str], progress: bool = False
) -> IngestReport:
    """Ingest the instance-level HAKE file (merged persons, see :mod:`ontology.hake`), then
    recompute the cross-level evidence."""
    from kg.evidence import update_evidence

    start = time.perf_counter()
    callback, pbar = _progress_callback(progress, f"reading {Path(path).name}")
    persons = read_hake_instance(path, progress=callback)
    if pbar is not None:
        pbar.close()
    report = ingest_observations(
        store,
        [p.to_observation() for p in persons],
        activities=[p.activities for p in persons],
        image_sizes={p.image_id: (p.width, p.height) for p in persons},
        source=Path(path).name,
        progress=progress,
    )
    report.evidence_edges = update_evidence(store)
    report.seconds = round(time.perf_counter() - start, 3)
    return report


def read_observations_jsonl(path: str | os.PathLike[str]) -> list[PersonObservation]:
    """Read an observations file: one :meth:`PersonObservation.to_dict` object per line.

    Blank lines are ignored. Any bad line raises :class:`AnnotationFormatError` naming the
    file, the line number and the field; nothing is returned half-read.
    """
    path = Path(path)
    if not path.exists():
        raise AnnotationFormatError(str(path), "(file)", "(path)", "no such file")
    out: list[PersonObservation] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"line {number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as err:
                raise AnnotationFormatError(
                    str(path), where, "(json)", f"invalid JSON at column {err.colno}: {err.msg}"
                ) from None
            try:
                out.append(PersonObservation.from_dict(data))
            except HakeError as err:
                field_name = getattr(err, "field", "(record)")
                raise AnnotationFormatError(str(path), where, str(field_name), str(err)) from None
            except TypeError as err:
                raise AnnotationFormatError(str(path), where, "(record)", str(err)) from None
    return out


def write_predictions(store: GraphStore, predictions: Iterable[ActivityPrediction]) -> int:
    """Store predictions (``DOES`` edges with score, model, version) and their explanations.

    The person (``"<image_id>/<person_id>"``) must already be in the store. Writing the
    same (person, activity, model) again replaces the earlier prediction and explanation.
    Returns the number of predictions written.
    """
    preds = list(predictions)
    if not preds:
        return 0
    keys = [person_key(p.image_id, p.person_id) for p in preds]
    missing = sorted(set(keys) - _existing(store, "Person", list(dict.fromkeys(keys))))
    if missing:
        raise StoreError(
            f"{len(missing)} predicted persons are not in the store (first: {missing[0]!r}); "
            "ingest their observations first"
        )
    created = _now()
    does, expl, contrib = [], [], []
    for key, p in zip(keys, preds, strict=True):
        does.append(
            {
                "p": key,
                "a": p.activity,
                "score": p.score,
                "model": p.model,
                "version": p.model_version,
                "created": created,
            }
        )
        if p.explanation is not None:
            eid = f"{key}|{p.activity}|{p.model}"
            expl.append(
                {
                    "id": eid,
                    "p": key,
                    "a": p.activity,
                    "method": p.explanation.method,
                    "model": p.model,
                    "version": p.model_version,
                    "score": p.score,
                    "created": created,
                }
            )
            for rank, c in enumerate(p.explanation.contributions, start=1):
                contrib.append(
                    {
                        "e": eid,
                        "t": c.term,
                        "kind": c.kind,
                        "weight": c.weight,
                        "rank": rank,
                        "edge": c.edge,
                    }
                )
    label = {"part_state": "PartState", "object": "Object", "body_part": "BodyPart"}
    with store.transaction():
        store.run_batches(
            "UNWIND $rows AS r MATCH (p:Person {id: r.p})-[d:DOES]->(a:Activity {id: r.a}) "
            "WHERE d.model = r.model DELETE d",
            does,
        )
        store.run_batches(
            "UNWIND $rows AS r MATCH (p:Person {id: r.p}), (a:Activity {id: r.a}) "
            "CREATE (p)-[:DOES {score: r.score, source: 'model', model: r.model, "
            "version: r.version, created: r.created}]->(a)",
            does,
        )
        if expl:
            store.run_batches(
                "UNWIND $rows AS r MATCH (t)-[c:CONTRIBUTES_TO]->(e:Explanation {id: r.id}) DELETE c",
                expl,
            )
            store.run_batches(
                "UNWIND $rows AS r MERGE (e:Explanation {id: r.id}) SET e.method = r.method, "
                "e.model = r.model, e.version = r.version, e.score = r.score, e.created = r.created",
                expl,
            )
            store.run_batches(
                "UNWIND $rows AS r MATCH (p:Person {id: r.p}), (e:Explanation {id: r.id}) "
                "MERGE (p)-[:EXPLAINED_BY]->(e)",
                expl,
            )
            store.run_batches(
                "UNWIND $rows AS r MATCH (e:Explanation {id: r.id}), (a:Activity {id: r.a}) "
                "MERGE (e)-[:EXPLAINS]->(a)",
                expl,
            )
            for kind, lab in label.items():
                rows = [c for c in contrib if c["kind"] == kind]
                if rows:
                    store.run_batches(
                        # The label comes from the fixed mapping above.
                        f"UNWIND $rows AS r MATCH (t:{lab} {{id: r.t}}), (e:Explanation {{id: r.e}}) "
                        "CREATE (t)-[:CONTRIBUTES_TO {weight: r.weight, rank: r.rank, "
                        "kind: r.kind, edge: r.edge}]->(e)",
                        rows,
                    )
    return len(preds)
