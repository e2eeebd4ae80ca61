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

This module writes; what it builds on is one concept per module: the observations file
(:mod:`kg._jsonl`), what the store already holds (:mod:`kg._stored`), a person's digest and
the re-ingest comparison (:mod:`kg._digest`), a chunk checked column-wise for writing and
reasoning (:mod:`kg._chunks`), and progress bars (:mod:`kg._progress`). The public names
stay importable from here.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kg._chunks import CheckedChunk, ChunkHook, Item, MapColumns, map_columns
from kg._digest import changed_person, person_digest
from kg._jsonl import iter_observations_jsonl, located, read_jsonl, read_observations_jsonl
from kg._progress import progress_bar, progress_callback
from kg._stored import image_timestamps, refuse_legacy_keys, stored_digests, stored_person
from kg._triplets import DROP_PAIRINGS, PAIRINGS_OF_PERSON, GroundTruthTriplets, stage_annotated_triplets
from kg._video import VideoFrames, stage_video_graph
from kg.store.base import BulkLoad, GraphStore
from kg.store_ontology import init_store, require_ontology
from ontology import (
    HoiAnnotation,
    ImageAnnotation,
    Ontology,
    PersonAnnotation,
    PersonObservation,
    StoreError,
    VideoInfo,
    image_key,
    observation_dict,
    person_key,
    read_hake_image,
    read_hake_pairs,
)

__all__ = [
    "IngestReport",
    "image_node_id",
    "ingest_hake_image",
    "ingest_annotated",
    "ingest_hake_instance",
    "ingest_hoi",
    "ingest_observations",
    "ingest_observations_jsonl",
    "init_store",
    "iter_observations_jsonl",
    "read_observations_jsonl",
]

#: Model name recorded on ground-truth ``DOES`` edges.
ANNOTATION_MODEL = "hake-annotation"


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
    annotation_run: str | None = None,
    video_info: Mapping[str, VideoInfo] | None = None,
) -> IngestReport:
    """Write persons (and their images, part states, parts, objects), all or nothing.

    ``observations`` may be a lazy iterator: it is consumed in chunks of ``chunk_size``
    persons, and an error anywhere (a bad record late in a stream) leaves the store
    unchanged. For an observations file, :func:`ingest_observations_jsonl` is faster.

    Args:
        observations: records; a person already stored with the same data is skipped, one
            stored with other data is refused (:class:`StoreError` naming what differs)
            unless ``replace``.
        activities: per observation, ground-truth activities (ids or names of the store's
            ontology; ``DOES`` edges with source ``"annotation"``); ``None`` for model
            observations.
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
        annotation_run: the id of the ``Run`` the ground truth is written under (default a
            fresh one; :func:`ingest_annotated` passes its own to write triplets under it).
        video_info: video id -> :class:`ontology.VideoInfo` (fps, frame count, duration) of
            videos whose frames are ingested; unknown values stay null.

    Observations of video frames (a ``frame_index``) also build the video graph in the same
    load: ``Video``, ``IN_VIDEO``, ``NEXT`` between consecutive stored frames, ``Track`` and
    ``OF_TRACK`` (only what is missing; see :mod:`kg._video`).
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

    def recheck(chunk: list[Item]) -> list[Item]:
        return [
            (PersonObservation.from_dict(row, onto).to_dict(), truth, where) for row, truth, where in chunk
        ]

    def truth_ids(truth: Sequence[str]) -> tuple[str, ...]:
        # ids or names of the store's ontology -> ids; an unknown one is refused by name
        if isinstance(truth, str):
            raise TypeError(
                f"activities: expected a list of activity ids per observation, got the string {truth!r}"
            )
        return tuple(onto.activities[a].id for a in truth)

    items: Iterable[Item] = (
        ((checked(o), truth_ids(truth), None) for o, truth in zip(observations, activities, strict=True))
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
        annotation_run,
        video_info or {},
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
    video_info: Mapping[str, VideoInfo] | None = None,
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
    :func:`ingest_observations` (terms are checked against the store's ontology), and so
    are ``video_info`` and the video graph.
    """
    path = Path(path)
    onto = require_ontology(store, ontology)

    def light(data: Any) -> dict[str, Any]:
        return observation_dict(data, check_maps=False, ontology=onto)

    def full(data: Any) -> dict[str, Any]:
        return observation_dict(data, ontology=onto)

    def recheck(chunk: list[Item]) -> list[Item]:
        return [(located(path, where, full, row), truth, where) for row, truth, where in chunk]

    items = ((row, None, where) for where, row in read_jsonl(path, light))
    return _ingest_items(
        store,
        onto,
        items,
        None,
        {},
        path.name,
        progress,
        chunk_size,
        recheck,
        into,
        on_chunk,
        label,
        replace,
        None,
        video_info or {},
    )


def _ingest_items(
    store: GraphStore,
    onto: Ontology,
    items: Iterable[Item],
    total: int | None,
    sizes: Mapping[str, tuple[int, int]],
    source: str,
    progress: bool,
    chunk_size: int,
    recheck: Callable[[list[Item]], list[Item]] | None,
    into: BulkLoad | None = None,
    on_chunk: ChunkHook | None = None,
    label: str | None = None,
    replace: bool = False,
    annotation_run: str | None = None,
    video_info: Mapping[str, VideoInfo] | None = None,
) -> IngestReport:
    """Write observation dicts with their ground-truth activities in one
    :meth:`GraphStore.bulk_load` (or into the open load ``into``), ``chunk_size`` at a time.
    ``recheck`` turns a chunk whose maps fail the column-wise check into fully checked items
    (or raises the located error); ``on_chunk`` sees every checked chunk."""
    start = time.perf_counter()
    stored_images = image_timestamps(store)
    stored_persons = stored_digests(store)
    refuse_legacy_keys(store)
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
    if annotation_run is not None:
        state.run = annotation_run
    videos = VideoFrames()
    bar = progress_bar(progress, total, label or f"ingesting {source}")
    # Rows hold no reference cycles, so the cyclic collector only costs time here
    # (measured: 13% of a 200K-person ingest); reference counting still frees everything.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with contextlib.nullcontext(into) if into is not None else store.bulk_load() as bulk:
            iterator = iter(items)
            while chunk := list(itertools.islice(iterator, chunk_size)):
                maps = map_columns(chunk, onto)
                if maps is None:
                    if recheck is None:
                        raise StoreError("internal error: checked records failed the column-wise check")
                    chunk = recheck(chunk)
                    maps = map_columns(chunk, onto)
                    if maps is None:
                        raise StoreError("internal error: rechecked records failed the column-wise check")
                keys, images, added, replaced = _write_chunk(bulk, chunk, maps, state)
                videos.add([row for row, _, _ in chunk], keys, images, added)
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
            state.report.extra.update(stage_video_graph(bulk, store, videos, video_info or {}, source))
            if state.report.activities_added:
                _annotation_run(bulk, state.run, state)
            if into is None:
                bar(0, note="all records checked; writing to the store")
    finally:
        if gc_was_enabled:
            gc.enable()
        bar(0, close=True)
    state.report.seconds = round(time.perf_counter() - start, 3)
    return state.report


def _annotation_run(bulk: BulkLoad, run: str, state: _IngestState | _RunFacts) -> None:
    """The ``Run`` node of the ground-truth activities (and triplets) an ingest adds (its
    ``DOES`` and ``INTERACTS_WITH`` edges carry its id): where they come from (``version``:
    the ingest's source) and when."""
    for table, prop in (("Run", "id"), ("DOES", "run")):
        bulk.tag(table, prop, run)
    bulk.insert(
        "Run",
        {
            "id": [run],
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
class _RunFacts:
    """What an annotation ``Run`` node says, when no person of the ingest adds ground truth
    but triplets are added (persons stored before triplets existed)."""

    source: str
    ontology: Ontology
    created: str
    report: IngestReport


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


def _write_chunk(
    bulk: BulkLoad, chunk: list[Item], maps: tuple[MapColumns, MapColumns], state: _IngestState
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
                    raise StoreError(changed_person(state.store, state.source, key, row, truth, where))
                old = stored_person(state.store, key)
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
        pairings = [
            {"id": e["id"]} for person in gone for e in state.store.query(PAIRINGS_OF_PERSON, id=person["id"])
        ]
        bulk.first(DROP_PAIRINGS, pairings)  # (why the pairing model chose their instances, kg._triplets)
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
    """Ingest the instance-level HAKE file (merged persons and object instances, see
    :func:`ontology.read_hake_pairs`) with its triplets (:func:`ingest_hoi`) and the
    cross-level evidence of every stored annotation (``replace`` as for
    :func:`ingest_observations`)."""
    start = time.perf_counter()
    callback, pbar = progress_callback(progress, f"reading {Path(path).name}")
    images = read_hake_pairs(path, progress=callback)
    if pbar is not None:
        pbar.close()
    report = ingest_hoi(store, images, source=Path(path).name, progress=progress, replace=replace)
    report.seconds = round(time.perf_counter() - start, 3)
    return report


def ingest_hoi(
    store: GraphStore,
    images: Sequence[HoiAnnotation],
    *,
    source: str = "annotations",
    progress: bool = False,
    replace: bool = False,
) -> IngestReport:
    """Write HICO-DET-style ground truth: each image's persons (as :func:`ingest_annotated`,
    with their activities and the evidence), its object instances
    (``(:ObjectInstance)-[:IN_IMAGE]->(:Image)``, ``-[:IS_A]->(:Object)``) and its
    interactions (``(:Person)-[:INTERACTS_WITH {activity, source: "annotation"}]->
    (:ObjectInstance)``, under the ingest's annotation ``Run``), all in one all-or-nothing
    load. Re-ingesting changes nothing; an instance stored with another class, box or score
    is refused, and so is a person stored with other triplets (rules in :mod:`kg._triplets`).

    >>> import tempfile, kg, ontology
    >>> cup = ontology.ObjectInstance("a.jpg", "0", "cup", (5, 5, 9, 9))
    >>> me = ontology.PersonAnnotation("a.jpg", "0", ontology.Box(0, 0, 10, 20), (), (), ("hold cup",),
    ...                                (ontology.DetectedObject("cup", 1.0, cup.box),), 1, 10, 20)
    >>> image = ontology.HoiAnnotation("a.jpg", 10, 20, (me,), (cup,),
    ...                                (ontology.Interaction("0", "hold cup", "0"),))
    >>> with kg.EmbeddedStore(tempfile.mkdtemp()) as store:
    ...     _ = kg.init_store(store)
    ...     report = kg.ingest_hoi(store, [image])
    ...     store.query("MATCH (p:Person)-[x:INTERACTS_WITH]->(o:ObjectInstance) "
    ...                 "RETURN p.id AS person, x.activity AS activity, o.id AS object")
    [{'person': 'a.jpg/0', 'activity': 'hold-cup', 'object': 'a.jpg/0'}]
    """
    persons = [p for image in images for p in image.persons]
    return ingest_annotated(
        store,
        [p.to_observation() for p in persons],
        [p.activities for p in persons],
        image_sizes={p.image_id: (p.width, p.height) for p in persons},
        source=source,
        progress=progress,
        replace=replace,
        triplets=GroundTruthTriplets.of_images(images),
    )


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
    callback, pbar = progress_callback(progress, f"reading {Path(path).name}")
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
    triplets: GroundTruthTriplets | None = None,
) -> IngestReport:
    """Write annotated persons with their ground-truth ``activities`` and replace the store's
    cross-level evidence with the evidence of every annotation stored after this call, all in
    one all-or-nothing load: a failure or a kill at any moment leaves the annotations and the
    evidence as before or as after, never one without the other.

    The evidence counts of what is stored are read first; the persons this call adds are
    counted as their chunks are checked, so nothing is read back after the write (a person
    replaced with ``replace`` is counted out with what it had). ``triplets``: the images'
    object instances and interactions (:class:`kg._triplets.GroundTruthTriplets`), written in
    the same load (:func:`ingest_hoi`)."""
    from kg.evidence import stage_evidence, stored_counts

    onto = require_ontology(store)
    run = _run_id()
    written: list[str] = []
    present = set(image_timestamps(store)) if triplets is not None else set()
    counts = stored_counts(store)
    verb_of = {a.id: a.verb for a in onto.activities if a.verb is not None}

    def count(chunk: CheckedChunk) -> None:
        if triplets is not None:
            written.extend(k for k, added in zip(chunk.keys, chunk.added, strict=True) if added)
            present.update(chunk.images)
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
            annotation_run=run,
        )
        if triplets is not None:
            added = stage_annotated_triplets(
                bulk,
                store,
                triplets,
                run=run,
                model=ANNOTATION_MODEL,
                persons_written=written,
                images_present=present,
                source=source,
                ontology=onto,
                replace=replace,
            )
            report.extra["object_instances_added"] = added.instances_added
            report.extra["interactions_added"] = added.interactions_added
            if added.instances_replaced:
                report.extra["object_instances_replaced"] = added.instances_replaced
            if added.interactions_added and not report.activities_added:  # no Run node yet
                _annotation_run(bulk, run, _RunFacts(source, onto, _now(), report))
        edges = counts.edges()
        stage_evidence(bulk, edges)
    report.evidence_edges = len(edges)
    return report
