"""Load the ontology and instance data into a store, all-or-nothing per call.

- :func:`init_store` writes the ontology (idempotent: ``MERGE`` on ids).
- :func:`ingest_observations` writes persons, images, part-state observations, objects and
  (for annotations) ground-truth activities. Every record is validated before anything is
  written, the write is one :meth:`~kg.store.base.GraphStore.bulk_load` (all or nothing),
  and persons already in the store are skipped, so re-ingesting a file changes nothing.
- :func:`ingest_observations_jsonl` does the same for an observations file, faster: lines
  are checked without building records, part states column-wise.
- :func:`ingest_hake_image` / :func:`ingest_hake_instance` read the HAKE files, ingest
  them as annotations and recompute the cross-level evidence (:mod:`kg.evidence`).
- :func:`read_observations_jsonl` reads the project's observations format into records: one
  :meth:`ontology.PersonObservation.to_dict` JSON object per line (what perception writes).
- Predictions and explanations are written by :mod:`kg.predictions`.

Ids: an image node's id is its image key and a person node's its person key, by the one rule
of :mod:`ontology.identity` (``PersonObservation.image_key``, ``PersonObservation.key``):
``"<image_id>"`` or ``"<image_id>#<frame_index>"`` for a video frame, and ``"<image
key>/<person_id>"``, escaped.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from kg.store.base import BulkLoad, GraphStore
from kg.store_ontology import init_store, require_ontology
from ontology import (
    AnnotationFormatError,
    HakeError,
    ImageAnnotation,
    Ontology,
    PersonAnnotation,
    PersonObservation,
    StoreError,
    image_key,
    observation_dict,
    person_key,
    read_hake_image,
    read_hake_instance,
)

__all__ = [
    "IngestReport",
    "image_node_id",
    "ingest_hake_image",
    "ingest_annotated",
    "ingest_hake_instance",
    "ingest_observations",
    "ingest_observations_jsonl",
    "init_store",
    "iter_observations_jsonl",
    "read_observations_jsonl",
]

_T = TypeVar("_T")

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


def _run_id() -> str:
    """A fresh ``Run`` id (random: no older row carries it; 12 characters, which LadybugDB
    stores inline)."""
    return secrets.token_hex(6)


def image_node_id(obs: PersonObservation) -> str:
    """The ``Image`` node id of an observation: its :attr:`~ontology.PersonObservation.image_key`
    (frames of a video get ``#<frame>``)."""
    return obs.image_key


def _existing(store: GraphStore, label: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` exist: index lookups on Neo4j (on LadybugDB 0.22 this UNWIND is a full
    scan per batch: use :func:`_all_ids` there)."""
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        rows = store.query(
            # The label is one of two fixed names, never user input.
            f"UNWIND $ids AS i MATCH (n:{label} {{id: i}}) RETURN n.id AS id",
            ids=list(ids[start : start + _CHUNK]),
        )
        found.update(r["id"] for r in rows)
    return found


def person_digest(row: Mapping[str, Any], activities: Sequence[str] | None) -> str:
    """A hash of everything an ingest stores about one person: the canonical observation dict
    (:meth:`PersonObservation.to_dict` form) and the ground-truth activities (their set). Two
    ingests of the same person give the same digest whatever the order of map entries."""
    import hashlib

    import orjson

    data = orjson.dumps([row, sorted(set(activities)) if activities else None], option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _stored_digests(store: GraphStore) -> dict[str, str | None]:
    """Person key -> stored digest (None for persons stored before digests existed)."""
    if not store.query("MATCH (n:Person) RETURN count(n) AS n")[0]["n"]:
        return {}
    table = store.query_arrow("MATCH (n:Person) RETURN n.id AS id, n.digest AS digest")
    return dict(zip(table["id"].to_pylist(), table["digest"].to_pylist(), strict=True))


def _refuse_legacy_keys(store: GraphStore) -> None:
    """Raise when the store holds an id of the key format before ids were escaped (a ``#`` in
    an image id, a ``%`` or ``/`` in a person id, not encoded; see :mod:`ontology.identity`):
    new keys of the same images and persons would differ. (Found by two filtered scans; an old
    image id with a ``%`` cannot be told from an escaped one and is not looked for.)"""
    legacy = [
        r["id"]
        for r in store.query(
            "MATCH (i:Image) WHERE i.id CONTAINS '#' OR i.video IS NOT NULL "
            "RETURN i.id AS id, i.video AS video, i.frame_index AS frame"
        )
        if r["id"] != (image_key(r["video"], r["frame"]) if r["frame"] is not None else image_key(r["id"]))
    ][:1]
    legacy += [
        r["id"]
        for r in store.query(
            "MATCH (p:Person) WHERE p.person_id CONTAINS '/' OR p.person_id CONTAINS '%' "
            "RETURN p.id AS id, p.person_id AS pid"
        )
        if not r["id"].endswith(person_key("", r["pid"]))
    ][:1]
    if legacy:
        raise StoreError(
            f"the store holds {legacy[0]!r}, an id of the key format before ids were escaped ('#' in "
            "an image id, '%' or '/' in a person id are now percent-encoded, see kg.schema); new "
            "ingests would not match it: ingest everything into a new store (`hake init --store NEW`)"
        )


def _changed_person(
    state: _IngestState, key: str, row: Mapping[str, Any], truth: Sequence[str] | None, where: str | None
) -> str:
    """The error for re-ingesting person ``key`` with data other than what is stored."""
    stored = _stored_person(state.store, key)
    new = {**row, "activities": sorted(set(truth)) if truth else []}
    differs = sorted(
        k
        for k in new
        if k in stored and _canonical(stored[k], k in _FLOAT32) != _canonical(new[k], k in _FLOAT32)
    )
    at = f" ({where})" if where else ""
    return (
        f"{state.source}{at}: person {key!r} is already stored with other data (differs in "
        f"{', '.join(differs) or 'what was stored'}); an ingest never changes a stored person: "
        "give the person another id, or ingest into a new store"
    )


#: Observation fields the store keeps as 32-bit floats (see kg.schema).
_FLOAT32 = frozenset({"box", "keypoints", "part_boxes"})


def _canonical(value: Any, float32: bool = False) -> Any:
    """``value`` with maps sorted (and, for a ``float32`` field, numbers rounded to float32 as
    the store keeps them), for comparing."""
    import numpy as np

    if isinstance(value, dict):
        return sorted((k, _canonical(v, float32)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return [_canonical(v, float32) for v in value]
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return float(np.float32(value)) if float32 and abs(value) < 3.4e38 else value
    return value


def _stored_person(store: GraphStore, key: str) -> dict[str, Any]:
    """What the store holds about person ``key``, in the observation dict's terms (the fields
    an ingest compares; ``activities`` are the ground-truth ones)."""
    rows = store.query(
        "MATCH (p:Person {id: $id})-[:IN_IMAGE]->(i:Image) RETURN p.bbox AS box, p.track_id AS track_id, "
        "p.source AS source, p.model AS model, i.frame_index AS frame_index, i.timestamp AS timestamp",
        id=key,
    )
    out: dict[str, Any] = dict(rows[0]) if rows else {}
    for field_name, rel, label, value in (
        ("part_states", "HAS_STATE", "PartState", "prob"),
        ("active_parts", "USES_PART", "BodyPart", "prob"),
    ):
        found = store.query(
            # The relationship and label come from the fixed table above.
            f"MATCH (p:Person {{id: $id}})-[r:{rel}]->(t:{label}) RETURN t.id AS term, r.{value} AS value",
            id=key,
        )
        out[field_name] = {r["term"]: r["value"] for r in found}
    truth = store.query(
        "MATCH (p:Person {id: $id})-[d:DOES]->(a:Activity) WHERE d.source = 'annotation' RETURN a.id AS a",
        id=key,
    )
    out["activities"] = sorted(r["a"] for r in truth)
    return out


def _image_timestamps(store: GraphStore) -> dict[str, float | None]:
    """Image node id -> timestamp (None for a still image) of every stored image."""
    if not store.query("MATCH (n:Image) RETURN count(n) AS n")[0]["n"]:
        return {}
    table = store.query_arrow("MATCH (n:Image) RETURN n.id AS id, n.timestamp AS timestamp")
    return dict(zip(table["id"].to_pylist(), table["timestamp"].to_pylist(), strict=True))


def _all_ids(store: GraphStore, label: str) -> set[str]:
    """Every id of ``label`` in the store (one scan; cheaper than per-id lookups at scale)."""
    # The label is one of two fixed names, never user input.
    if not store.query(f"MATCH (n:{label}) RETURN count(n) AS n")[0]["n"]:
        return set()
    return {r["id"] for r in store.query(f"MATCH (n:{label}) RETURN n.id AS id")}


def ingest_observations(
    store: GraphStore,
    observations: Iterable[PersonObservation],
    *,
    activities: Iterable[Sequence[str]] | None = None,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    source: str = "observations",
    progress: bool = False,
    chunk_size: int = 50_000,
    into: BulkLoad | None = None,
    on_chunk: ChunkHook | None = None,
    label: str | None = None,
    replace: bool = False,
    ontology: Ontology | None = None,
) -> IngestReport:
    """Write persons (and their images, part states, parts, objects), all or nothing.

    ``observations`` may be a lazy iterator: it is consumed in chunks of ``chunk_size``
    persons, and an error anywhere (a bad record late in a stream) leaves the store
    unchanged. For an observations file, :func:`ingest_observations_jsonl` is faster.

    Args:
        observations: records; a person already stored with the same data is skipped, one
            stored with other data is refused (:class:`StoreError` naming what differs)
            unless ``replace``.
        activities: per observation, ground-truth activity ids (``DOES`` edges with source
            ``"annotation"``); ``None`` for model observations.
        image_sizes: image id -> (width, height), where known.
        source: a name for the report and error messages (usually the file).
        progress: show a progress bar (persons).
        into, on_chunk, label: as for :func:`ingest_observations_jsonl`.
        replace: a person stored with other data is replaced: deleted with its predictions
            and explanations, then written anew, in the same load (on the embedded store each
            replaced person costs a scan of the persons: meant for a few).
        ontology: the ontology the records were made with; it must be the store's
            (:func:`kg.store_ontology.require_ontology`). Default: the store's. Each record's
            terms are checked against the store's ontology.
    """
    onto = require_ontology(store, ontology)

    object_ids = onto.objects.id_by_key

    def checked(o: PersonObservation) -> dict[str, Any]:
        # Part states and active parts are checked column-wise per chunk (recheck below names a
        # bad one); objects here, so that a record of another ontology is refused by name.
        row = o.to_dict()
        if not all(det.object in object_ids for det in o.objects):
            return observation_dict(row, ontology=onto)  # raises, naming the object
        return row

    def recheck(chunk: list[_Item]) -> list[_Item]:
        return [
            (PersonObservation.from_dict(row, onto).to_dict(), truth, where) for row, truth, where in chunk
        ]

    items: Iterable[_Item] = (
        ((checked(o), truth, None) for o, truth in zip(observations, activities, strict=True))
        if activities is not None
        else ((checked(o), None, None) for o in observations)
    )
    total = len(observations) if isinstance(observations, Sequence) else None
    return _ingest_items(
        store,
        onto,
        items,
        total,
        image_sizes or {},
        source,
        progress,
        chunk_size,
        recheck,
        into,
        on_chunk,
        label,
        replace,
    )


def ingest_observations_jsonl(
    store: GraphStore,
    path: str | os.PathLike[str],
    *,
    progress: bool = False,
    chunk_size: int = 50_000,
    into: BulkLoad | None = None,
    on_chunk: ChunkHook | None = None,
    label: str | None = None,
    replace: bool = False,
    ontology: Ontology | None = None,
) -> IngestReport:
    """Ingest an observations file (see :func:`iter_observations_jsonl`), all or nothing.

    The bulk path: each line is checked as :class:`PersonObservation` would check it
    (:func:`ontology.observation_dict`) without building a record, and the part-state and
    active-part maps of a whole chunk are checked column-wise. A bad line anywhere leaves
    the store unchanged, with an error naming the file, the line and the field.

    ``into`` and ``on_chunk`` are for :mod:`kg.reason`, which reasons over each checked
    chunk and writes the persons and their predictions in one load: ``into`` is a bulk load
    the caller holds open (the ingest then writes nothing itself), ``on_chunk`` is called with
    every checked chunk; ``label`` names the progress bar; ``replace`` and ``ontology`` as for
    :func:`ingest_observations` (terms are checked against the store's ontology).
    """
    path = Path(path)
    onto = require_ontology(store, ontology)

    def light(data: Any) -> dict[str, Any]:
        return observation_dict(data, check_maps=False, ontology=onto)

    def full(data: Any) -> dict[str, Any]:
        return observation_dict(data, ontology=onto)

    def recheck(chunk: list[_Item]) -> list[_Item]:
        return [(_located(path, where, full, row), truth, where) for row, truth, where in chunk]

    items = ((row, None, where) for where, row in _read_jsonl(path, light))
    return _ingest_items(
        store, onto, items, None, {}, path.name, progress, chunk_size, recheck, into, on_chunk, label, replace
    )


#: One person to ingest: its observation dict (``PersonObservation.to_dict()`` form, maps
#: maybe unchecked), its ground-truth activities or None, and where it came from (for errors).
_Item = tuple[dict[str, Any], Sequence[str] | None, str | None]


@dataclass(frozen=True)
class CheckedChunk:
    """One checked chunk of an ingest, for :mod:`kg.reason` and the evidence: the canonical
    observation dicts (:meth:`PersonObservation.to_dict` form), their person keys and image
    node ids, and the part-state and active-part entries column-wise (position in the chunk,
    term id, probability); per item, its ground-truth activities (None for model
    observations), whether this ingest adds the person (False: already stored) and, for a
    person it replaces, what the store held before (:func:`_stored_person`)."""

    rows: list[dict[str, Any]]
    keys: list[str]
    images: list[str]
    part_states: tuple[Any, Any, Any]
    active_parts: tuple[Any, Any, Any]
    activities: list[Sequence[str] | None]
    added: list[bool]
    #: per item, what the store held about a person this ingest replaces (``--replace``), else None
    replaced: list[dict[str, Any] | None]


#: Called with each checked chunk (see :func:`ingest_observations_jsonl`).
ChunkHook = Callable[[CheckedChunk], None]


def _ingest_items(
    store: GraphStore,
    onto: Ontology,
    items: Iterable[_Item],
    total: int | None,
    sizes: Mapping[str, tuple[int, int]],
    source: str,
    progress: bool,
    chunk_size: int,
    recheck: Callable[[list[_Item]], list[_Item]] | None,
    into: BulkLoad | None = None,
    on_chunk: ChunkHook | None = None,
    label: str | None = None,
    replace: bool = False,
) -> IngestReport:
    """Write observation dicts with their ground-truth activities in one
    :meth:`GraphStore.bulk_load` (or into the open load ``into``), ``chunk_size`` at a time.
    ``recheck`` turns a chunk whose maps fail the column-wise check into fully checked items
    (or raises the located error); ``on_chunk`` sees every checked chunk."""
    start = time.perf_counter()
    stored_images = _image_timestamps(store)
    stored_persons = _stored_digests(store)
    _refuse_legacy_keys(store)
    state = _IngestState(
        replace=replace,
        store=store,
        ontology=onto,
        stored_persons=stored_persons,
        stored_images=stored_images,
        sizes=sizes,
        source=source,
        created=_now(),
        report=IngestReport(source=source),
    )
    bar = _bar(progress, total, label or f"ingesting {source}")
    # Rows hold no reference cycles, so the cyclic collector only costs time here
    # (measured: 13% of a 200K-person ingest); reference counting still frees everything.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with contextlib.nullcontext(into) if into is not None else store.bulk_load() as bulk:
            iterator = iter(items)
            while chunk := list(itertools.islice(iterator, chunk_size)):
                maps = _map_columns(chunk, onto)
                if maps is None:
                    if recheck is None:
                        raise StoreError("internal error: checked records failed the column-wise check")
                    chunk = recheck(chunk)
                    maps = _map_columns(chunk, onto)
                    if maps is None:
                        raise StoreError("internal error: rechecked records failed the column-wise check")
                keys, images, added, replaced = _write_chunk(bulk, chunk, maps, state)
                if on_chunk is not None:
                    on_chunk(
                        CheckedChunk(
                            [row for row, _, _ in chunk],
                            keys,
                            images,
                            (maps[0].item, maps[0].term, maps[0].prob),
                            (maps[1].item, maps[1].term, maps[1].prob),
                            [truth for _, truth, _ in chunk],
                            added,
                            replaced,
                        )
                    )
                bar(len(chunk))
            if sizes:  # images stored earlier without a size (e.g. by an image-level ingest) get one
                bulk.then(
                    "UNWIND $rows AS r MATCH (i:Image {id: r.id}) WHERE i.width IS NULL "
                    "SET i.width = r.width, i.height = r.height",
                    [{"id": k, "width": w, "height": h} for k, (w, h) in sizes.items()],
                )
            if state.report.activities_added:
                _annotation_run(bulk, state)
            if into is None:
                bar(0, note="all records checked; writing to the store")
    finally:
        if gc_was_enabled:
            gc.enable()
        bar(0, close=True)
    state.report.seconds = round(time.perf_counter() - start, 3)
    return state.report


def _annotation_run(bulk: BulkLoad, state: _IngestState) -> None:
    """The ``Run`` node of the ground-truth activities an ingest adds (its ``DOES`` edges carry
    its id): where they come from (``version``: the ingest's source) and when."""
    for table, prop in (("Run", "id"), ("DOES", "run")):
        bulk.tag(table, prop, state.run)
    bulk.insert(
        "Run",
        {
            "id": [state.run],
            "kind": ["annotation"],
            "model": [ANNOTATION_MODEL],
            "version": [state.source],
            "ontology": [state.ontology.version],
            "created": [state.created],
            "persons": [state.report.persons_added],
            "predictions": [state.report.activities_added],
        },
    )


@dataclass
class _IngestState:
    """What one ingest call carries from chunk to chunk."""

    replace: bool
    store: GraphStore
    ontology: Ontology
    stored_persons: dict[str, str | None]  # person key -> digest (None: stored without one)
    stored_images: dict[str, float | None]  # image node id -> its timestamp
    sizes: Mapping[str, tuple[int, int]]
    source: str
    created: str
    report: IngestReport
    seen: set[str] = field(default_factory=set)
    #: the id of the ``Run`` node (``kind = "annotation"``) of the ground truth this ingest adds
    run: str = field(default_factory=lambda: _run_id())


@dataclass
class _MapColumns:
    """One observation map (``part_states`` or ``active_parts``) of a chunk, column-wise:
    per entry, the item's position in the chunk, the term id and the probability."""

    item: Any  # pyarrow int32 array
    term: Any  # pyarrow string array
    prob: Any  # pyarrow float64 array


def _map_columns(chunk: list[_Item], onto: Ontology) -> tuple[_MapColumns, _MapColumns] | None:
    """The chunk's part states and active parts column-wise, or None when any entry is not
    a known term id with a probability in [0, 1] (the caller then checks record by record,
    which names the bad entry and also accepts term names)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    for key, vocab in (("part_states", onto.part_states), ("active_parts", onto.body_parts)):
        maps = [row[key] for row, _, _ in chunk]
        terms = list(itertools.chain.from_iterable(maps))
        probs = list(itertools.chain.from_iterable(m.values() for m in maps))
        if not set(map(type, terms)) <= {str} or not set(map(type, probs)) <= {float}:
            return None  # ints (and bools) are made floats by the record-by-record check
        term = pa.array(terms, type=pa.string())
        prob = pa.array(probs, type=pa.float64())
        if len(prob):
            if not pc.all(pc.is_in(term, value_set=pa.array(vocab.ids, type=pa.string()))).as_py():
                return None
            low, high = pc.min_max(prob).values()
            if low.as_py() < 0.0 or high.as_py() > 1.0 or pc.any(pc.is_nan(prob)).as_py():
                return None
        counts = np.fromiter(map(len, maps), dtype=np.int64, count=len(maps))
        item = pa.array(np.repeat(np.arange(len(maps), dtype=np.int32), counts))
        out.append(_MapColumns(item, term, prob))
    return out[0], out[1]


def _write_chunk(
    bulk: BulkLoad, chunk: list[_Item], maps: tuple[_MapColumns, _MapColumns], state: _IngestState
) -> tuple[list[str], list[str], list[bool], list[dict[str, Any] | None]]:
    """Hand one chunk to the bulk load as columns: nodes first, then edges (never node and
    edge in one MERGE). Returns the person key and image node id of every item of the chunk,
    whether it is added (not already stored) and, for a replaced person, its stored data."""
    import pyarrow as pa
    import pyarrow.compute as pc

    images: dict[str, list[Any]] = {
        k: [] for k in ("id", "width", "height", "frame_index", "timestamp", "video")
    }
    persons: dict[str, list[Any]] = {
        k: [] for k in ("id", "person_id", "bbox", "keypoints", "part_boxes", "track_id", "source", "model")
    }
    persons["digest"] = []
    near: dict[str, list[Any]] = {"from": [], "to": [], "score": [], "count": []}
    does: dict[str, list[Any]] = {k: [] for k in ("from", "to", "score", "source", "model", "run")}
    report, seen, stored_images, sizes = state.report, state.seen, state.stored_images, state.sizes
    position: list[int] = []  # per chunk item: its index in ``persons``, -1 when skipped
    replaced: dict[int, dict[str, Any]] = {}  # chunk position -> stored data of a replaced person
    chunk_keys: list[str] = []
    chunk_images: list[str] = []
    stored = state.stored_persons
    for row, truth, where in chunk:
        # the one identity rule (ontology.identity; PersonObservation.key) on the checked rows
        image_id, frame = row["image_id"], row["frame_index"]
        image = image_key(image_id, frame)
        key = person_key(image, row["person_id"])
        if key in seen:
            raise StoreError(
                f"{state.source}: person {key!r} appears twice; person ids must be unique within an "
                "image (and video frame)"
            )
        seen.add(key)
        chunk_keys.append(key)
        chunk_images.append(image)
        if image in stored_images and stored_images[image] != row["timestamp"]:
            raise StoreError(
                f"{state.source}{f' ({where})' if where else ''}: person {key!r} gives image {image!r} "
                f"the timestamp {row['timestamp']!r}, but it has {stored_images[image]!r} (stored, or "
                "from an earlier person): the persons of one image or frame share its timestamp"
            )
        digest = person_digest(row, truth)
        old: dict[str, Any] | None = None
        if key in stored:
            known = stored[key]
            if known is not None and known != digest:
                if not state.replace:
                    raise StoreError(_changed_person(state, key, row, truth, where))
                old = _stored_person(state.store, key)
                replaced[len(position)] = old
                stored[key] = digest
                report.extra["persons_replaced"] = report.extra.get("persons_replaced", 0) + 1
            else:
                report.persons_skipped += 1
                if known is None:
                    report.extra["persons_unverified"] = report.extra.get("persons_unverified", 0) + 1
                position.append(-1)
                continue
        position.append(len(persons["id"]))
        if image not in stored_images:
            stored_images[image] = row["timestamp"]
            size = sizes.get(image_id)
            images["id"].append(image)
            images["width"].append(None if size is None else size[0])
            images["height"].append(None if size is None else size[1])
            images["frame_index"].append(frame)
            images["timestamp"].append(row["timestamp"])
            images["video"].append(None if frame is None else image_id)
        persons["id"].append(key)
        persons["person_id"].append(row["person_id"])
        persons["bbox"].append(row["box"])
        keypoints = row["keypoints"]
        persons["keypoints"].append(None if keypoints is None else [v for k in keypoints for v in k])
        persons["part_boxes"].append(_flat_part_boxes(row["part_boxes"], state.ontology))
        persons["track_id"].append(row["track_id"])
        persons["source"].append(row["source"])
        persons["model"].append(row["model"])
        persons["digest"].append(digest)
        objects = row["objects"]
        if len(objects) == 1:
            near["from"].append(key)
            near["to"].append(objects[0]["object"])
            near["score"].append(objects[0]["score"])
            near["count"].append(1)
        elif objects:
            by_object: dict[str, list[float]] = {}
            for detected in objects:
                by_object.setdefault(detected["object"], []).append(detected["score"])
            for obj, scores in by_object.items():
                near["from"].append(key)
                near["to"].append(obj)
                near["score"].append(max(scores))
                near["count"].append(len(scores))
        if truth:
            n = len(truth)
            does["from"] += [key] * n
            does["to"] += truth
            does["score"] += [1.0] * n
            does["source"] += ["annotation"] * n
            does["model"] += [ANNOTATION_MODEL] * n
            does["run"] += [state.run] * n
    if replaced:  # the stored persons go first (with their predictions), in the same load
        gone = [{"id": chunk_keys[i]} for i in replaced]
        explanations = [
            {"id": e["id"]}
            for person in gone
            for e in state.store.query(_EXPLANATIONS_OF, id=person["id"])  # a lookup per person
        ]
        bulk.first(_DROP_EXPLANATIONS, explanations)
        bulk.first(_DROP_PERSONS, gone)
    person_ids = pa.array(persons["id"], type=pa.string())
    person_sources = pa.array(persons["source"], type=pa.string())
    positions = pa.array(position, type=pa.int32())
    bulk.insert("Image", images)
    bulk.insert("Person", persons)
    added_images = [image for image, at in zip(chunk_images, position, strict=True) if at >= 0]
    bulk.relate("IN_IMAGE", "Person", "Image", {"from": person_ids, "to": added_images})
    for rel, target, columns in (("HAS_STATE", "PartState", maps[0]), ("USES_PART", "BodyPart", maps[1])):
        owner = positions.take(columns.item)
        kept = pc.not_equal(owner, -1)
        owner = owner.filter(kept)
        bulk.relate(
            rel,
            "Person",
            target,
            {
                "from": person_ids.take(owner),
                "to": columns.term.filter(kept),
                "prob": columns.prob.filter(kept),
                "source": person_sources.take(owner),
            },
        )
        if rel == "HAS_STATE":
            report.observations_added += len(owner)
    bulk.relate("NEAR", "Person", "Object", near)
    bulk.relate("DOES", "Person", "Activity", does)
    report.persons_added += len(persons["id"])
    report.images_added += len(images["id"])
    report.activities_added += len(does["from"])
    return (
        chunk_keys,
        chunk_images,
        [at >= 0 for at in position],
        [replaced.get(i) for i in range(len(chunk))],
    )


#: What ``replace`` deletes before it writes a person anew (per batch of replaced persons):
#: their explanations (found person by person with ``_EXPLANATIONS_OF``), then the persons.
#: On LadybugDB 0.22 both deletes find their rows by primary-key lookup
#: (tests/kg/test_identity.py). Deleting still costs more in a bigger store (LadybugDB's
#: relationship deletes): measured for 200 persons' 600 explanations, 0.48 s at 100K
#: persons and 2.86 s at 700K (the lookups 0.04 and 0.05 s); the earlier form, one UNWIND
#: from the persons to their explanations, planned a scan and took 0.86 and 4.77 s.
_EXPLANATIONS_OF = "MATCH (p:Person {id: $id})-[:EXPLAINED_BY]->(e:Explanation) RETURN e.id AS id"
_DROP_EXPLANATIONS = "UNWIND $rows AS r MATCH (e:Explanation {id: r.id}) DETACH DELETE e"
_DROP_PERSONS = "UNWIND $rows AS r MATCH (p:Person {id: r.id}) DETACH DELETE p"


def _flat_part_boxes(part_boxes: Mapping[str, list[float]], onto: Ontology) -> list[float] | None:
    """The fine parts' boxes flattened in channel order, NaN where a part has none."""
    if not part_boxes:
        return None
    out: list[float] = []
    for part in onto.body_parts.ids:
        box = part_boxes.get(part)
        out.extend(box if box is not None else [math.nan] * 4)
    return out


def _bar(enabled: bool, total: int | None, desc: str) -> Callable[..., None]:
    """A tqdm progress bar (on stderr) or a no-op; call ``bar(n)``, ``bar(0, note="...")`` and
    ``bar(0, close=True)``."""
    if not enabled:
        return lambda n, close=False, note=None: None
    from tqdm import tqdm

    pbar = tqdm(total=total, desc=desc, unit="person")

    def update(n: int, close: bool = False, note: str | None = None) -> None:
        pbar.update(n)
        if note is not None:
            pbar.set_postfix_str(note)
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
    store: GraphStore, path: str | os.PathLike[str], progress: bool = False, replace: bool = False
) -> IngestReport:
    """Ingest the image-level HAKE file: one box-less person per image (``person_id`` "image")
    with its part states, active parts, objects and ground-truth activities, and the
    cross-level evidence of every stored annotation (``replace`` as for
    :func:`ingest_observations`)."""
    return _ingest_annotations(store, path, read_hake_image, progress, replace)


def ingest_hake_instance(
    store: GraphStore, path: str | os.PathLike[str], progress: bool = False, replace: bool = False
) -> IngestReport:
    """Ingest the instance-level HAKE file (merged persons, see :mod:`ontology.hake`) and the
    cross-level evidence of every stored annotation (``replace`` as for
    :func:`ingest_observations`)."""
    return _ingest_annotations(store, path, read_hake_instance, progress, replace)


def _ingest_annotations(
    store: GraphStore,
    path: str | os.PathLike[str],
    reader: Callable[..., Sequence[ImageAnnotation | PersonAnnotation]],
    progress: bool,
    replace: bool = False,
) -> IngestReport:
    """Read a HAKE file with ``reader`` (all validated first), ingest it as annotations with
    ground-truth activities and the evidence they imply (:func:`ingest_annotated`)."""
    start = time.perf_counter()
    callback, pbar = _progress_callback(progress, f"reading {Path(path).name}")
    annotations = reader(path, progress=callback)
    if pbar is not None:
        pbar.close()
    report = ingest_annotated(
        store,
        [a.to_observation() for a in annotations],
        [a.activities for a in annotations],
        image_sizes={a.image_id: (a.width, a.height) for a in annotations if isinstance(a, PersonAnnotation)},
        source=Path(path).name,
        progress=progress,
        replace=replace,
    )
    report.seconds = round(time.perf_counter() - start, 3)
    return report


def ingest_annotated(
    store: GraphStore,
    observations: Sequence[PersonObservation],
    activities: Sequence[Sequence[str]],
    *,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    source: str = "annotations",
    progress: bool = False,
    replace: bool = False,
) -> IngestReport:
    """Write annotated persons with their ground-truth ``activities`` and replace the store's
    cross-level evidence with the evidence of every annotation stored after this call, all in
    one all-or-nothing load: a failure or a kill at any moment leaves the annotations and the
    evidence as before or as after, never one without the other.

    The evidence counts of what is stored are read first; the persons this call adds are
    counted as their chunks are checked, so nothing is read back after the write (a person
    replaced with ``replace`` is counted out with what it had)."""
    from kg.evidence import stage_evidence, stored_counts

    onto = require_ontology(store)
    counts = stored_counts(store)
    verb_of = {a.id: a.verb for a in onto.activities if a.verb is not None}

    def count(chunk: CheckedChunk) -> None:
        states: list[list[str]] = [[] for _ in chunk.rows]
        items, terms, _ = chunk.part_states
        for item, term in zip(items.to_pylist(), terms.to_pylist(), strict=True):
            states[item].append(term)
        for row, truth, added, held, old in zip(
            chunk.rows, chunk.activities, chunk.added, states, chunk.replaced, strict=True
        ):
            if old is not None and old["activities"]:
                counts.add_person(
                    old["part_states"] if old["source"] == "annotation" else (),
                    old["activities"],
                    verb_of,
                    -1,
                )
            if added and truth:
                counts.add_person(held if row["source"] == "annotation" else (), truth, verb_of)

    with store.bulk_load() as bulk:
        report = ingest_observations(
            store,
            observations,
            activities=activities,
            image_sizes=image_sizes,
            source=source,
            progress=progress,
            into=bulk,
            on_chunk=count,
            replace=replace,
        )
        edges = counts.edges()
        stage_evidence(bulk, edges)
    report.evidence_edges = len(edges)
    return report


def iter_observations_jsonl(path: str | os.PathLike[str]) -> Iterator[PersonObservation]:
    """Stream an observations file: one :meth:`PersonObservation.to_dict` object per line.

    Blank lines are ignored. A bad line raises :class:`AnnotationFormatError` naming the
    file, the line number and the field, when the iterator reaches it (inside an ingest that
    leaves the store unchanged).
    """
    return (record for _, record in _read_jsonl(path, PersonObservation.from_dict))


def _read_jsonl(path: str | os.PathLike[str], parse: Callable[[Any], _T]) -> Iterator[tuple[str, _T]]:
    """``("line N", parse(json))`` for each non-blank line; errors name file, line and field.

    Every malformed input raises :class:`AnnotationFormatError` (one line, never a traceback):
    a missing file or a directory, bytes that are not UTF-8 (line and byte offset named), a
    gzip file, invalid JSON, nesting deeper than :data:`ontology.hake.MAX_JSON_DEPTH` (see
    :func:`_located`), and a key repeated within one JSON object (orjson would keep its last
    value). An empty file is valid and holds no records (``hake infer`` writes one when it
    finds nobody).

    Repeated keys are found cheaply (~0.8 us a line): every key is followed by a ``:``, so a
    line with no more ``:`` than the keys of the objects where observations keep objects
    (the record, its maps, its ``objects``; under-counting only costs time) repeats none.
    Other lines (a ``:`` inside a string, a repeat, an object elsewhere) are looked at
    closer: keys counted by a regular expression, then parsed again with ``json``'s
    ``object_pairs_hook``.
    """
    import re

    import orjson

    from ontology.errors import brief_repr

    path = Path(path)
    name = str(path)
    key_colon = re.compile(rb'"[ \t\r\n]*:')  # at least one per key (the key's closing quote)

    def invalid(line: bytes, number: int, err: Exception) -> str:
        if number == 1 and line[:2] == b"\x1f\x8b":
            return "the file is gzip-compressed; decompress it first (e.g. gunzip)"
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as bad:
            return (
                f"not UTF-8: byte 0x{line[bad.start]:02x} at byte {bad.start} of the line; "
                "observations files are UTF-8 JSON, one object per line"
            )
        return f"invalid JSON: {err}"

    def counted_keys(data: dict[str, Any]) -> int:
        keys = len(data)
        get = data.get
        value = get("part_states")
        if type(value) is dict:
            keys += len(value)
        value = get("active_parts")
        if type(value) is dict:
            keys += len(value)
        value = get("part_boxes")
        if type(value) is dict:
            keys += len(value)
        value = get("objects")
        if type(value) is list:
            for o in value:
                if type(o) is dict:
                    keys += len(o)
        return keys

    def repeated_key(line: bytes, where: str) -> None:
        from ontology.hake import repeated_key as first_repeated

        found = first_repeated(line)
        if found is None:
            return
        raise AnnotationFormatError(
            name,
            where,
            found.path,
            f"key {brief_repr(found.key)} appears twice in one object (values {brief_repr(found.value1)} "
            f"and {brief_repr(found.value2)}); JSON objects must not repeat a key",
        )

    if not path.exists():
        raise AnnotationFormatError(name, "(file)", "(path)", "no such file")
    if not path.is_file():
        raise AnnotationFormatError(
            name, "(file)", "(path)", "not a regular file (a directory?); expected one JSON object per line"
        )
    try:
        fh = path.open("rb")
    except OSError as err:
        raise AnnotationFormatError(name, "(file)", "(path)", f"cannot open: {err.strerror or err}") from None
    with fh:
        for number, line in enumerate(fh, start=1):
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as err:
                if not line.strip():
                    continue
                raise AnnotationFormatError(
                    name, f"line {number}", "(json)", invalid(line, number, err)
                ) from None
            where = f"line {number}"
            if type(data) is dict:
                keys = counted_keys(data)
                if line.count(b":") != keys and len(key_colon.findall(line)) != keys:
                    repeated_key(line, where)
            yield where, _located(path, where, parse, data)


def _located(path: Path, where: str | None, parse: Callable[[Any], _T], data: Any) -> _T:
    """``parse(data)``, its errors raised as :class:`AnnotationFormatError` at ``where``.

    ``data`` nested deeper than :data:`ontology.hake.MAX_JSON_DEPTH` is refused as such. No
    valid observation nests deeper than 4, so ``parse`` refuses any such line by the type of
    a field (without recursing: records check shapes level by level) and the depth is looked
    at only then, off the bulk path."""
    try:
        return parse(data)
    except (HakeError, TypeError, ValueError, OverflowError, RecursionError) as err:
        from ontology.errors import brief_repr
        from ontology.hake import MAX_JSON_DEPTH

        level, depth = [data], 1
        while level:
            deeper = [
                c
                for v in level
                if type(v) is dict or type(v) is list
                for c in (v.values() if type(v) is dict else v)
                if type(c) is dict or type(c) is list
            ]
            if deeper and depth == MAX_JSON_DEPTH:
                problem = f"nested more than {MAX_JSON_DEPTH} levels deep (the limit)"
                raise AnnotationFormatError(str(path), str(where), "(json)", problem) from None
            level, depth = deeper, depth + 1
        if isinstance(err, HakeError):
            field_name = getattr(err, "field", "(record)")
            raise AnnotationFormatError(str(path), str(where), str(field_name), str(err)) from None
        problem = brief_repr(str(err), 300)[1:-1]  # a shape no check foresaw
        raise AnnotationFormatError(
            str(path), str(where), "(record)", f"{type(err).__name__}: {problem}"
        ) from None


def read_observations_jsonl(path: str | os.PathLike[str]) -> list[PersonObservation]:
    """All records of an observations file (see :func:`iter_observations_jsonl`), or an error:
    nothing is returned half-read."""
    return list(iter_observations_jsonl(path))
