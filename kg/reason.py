"""Run a reasoner over a store: observations -> predictions + explanations -> written back.

Three sources of persons, one path:

- :func:`reason_records`: observation records (stored first, as by
  :func:`~kg.ingest.ingest_observations`);
- :func:`reason_file`: an observations file (stored first, as by
  :func:`~kg.ingest.ingest_observations_jsonl`), streamed;
- :func:`reason_stored`: the persons already in the store, read back column-wise.

``keep`` bounds how many persons' predictions the returned :class:`ReasonResult` holds for
:meth:`~ReasonResult.predictions_by_person` (``None``: all). Persons go through the reasoner
``chunk_size`` at a time (records or JSON lines are held one
chunk at a time; the reasoner sees dense rows of one chunk), and every chunk's predictions
and explanations are staged as Arrow columns (``reasoning.PredictionBatch`` ->
:class:`~kg.predictions.PredictionWriter`) in one bulk load with the persons it ingests. So
a call is all or nothing: the persons it adds, their predictions and the replacement of
earlier predictions of the model land together or not at all. Memory grows with the persons
as compact columns only (the staged tables and the kept batches; measured in
``benchmarks/core_loop.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kg._chunks import CheckedChunk
from kg._progress import progress_bar
from kg._triplets import stage_pairing_explanations
from kg.ingest import IngestReport, ingest_observations, ingest_observations_jsonl
from kg.predictions import PredictionWriter, Run, new_run
from kg.protocols import Reasoner
from kg.store.base import BulkLoad, GraphStore
from kg.store_ontology import store_ontology
from ontology import (
    ActivityPrediction,
    ActivitySegment,
    ClipLabel,
    ImageObservation,
    ObjectInstance,
    Ontology,
    PersonObservation,
    StoreError,
    VideoInfo,
)

if TYPE_CHECKING:  # reasoning imports torch: imported where a reasoner runs
    from reasoning import PredictionBatch

__all__ = ["ReasonResult", "reason_file", "reason_records", "reason_stored"]


@dataclass
class ReasonResult:
    """What one reasoning call did; :meth:`predictions` gives the records (built on demand).

    Attributes:
        run: the run that wrote the predictions (the ``Run`` node).
        persons: persons reasoned over; persons_added: of them, newly stored by this call.
        predictions, contributions: rows written.
        seconds: wall time of the whole call (reading, reasoning, writing).
    """

    run: Run
    persons: int = 0
    persons_added: int = 0
    predictions: int = 0
    contributions: int = 0
    seconds: float = 0.0
    #: how many persons' predictions :meth:`predictions_by_person` gives (None: all)
    keep: int | None = None
    _chunks: list[tuple[Any, Any, PredictionBatch]] = field(default_factory=list, repr=False)

    def _keep(self, images: Any, persons: Any, batch: PredictionBatch) -> None:
        """Keep (the first ``keep`` persons of) one chunk for :meth:`predictions_by_person`."""
        kept = sum(len(b) for _, _, b in self._chunks)
        room = len(batch) if self.keep is None else max(0, min(len(batch), self.keep - kept))
        if room == len(batch):
            self._chunks.append((images, persons, batch))
        elif room:
            self._chunks.append((images.slice(0, room), persons.slice(0, room), batch.head(room)))

    @property
    def persons_per_s(self) -> float:
        return self.persons / self.seconds if self.seconds > 0 else 0.0

    def predictions_by_person(self) -> Iterator[list[ActivityPrediction]]:
        """Per person, in input order, the ``top_k`` prediction records, best first (the first
        ``keep`` persons only, when ``keep`` is set). Each names its person by the image key
        and person id the ingest stored it under (:mod:`ontology.identity`): ``image_id`` is
        the observation's ``image_key`` (``"<video>#<frame>"`` for a video frame) and ``key``
        the person's store key."""
        for images, persons, batch in self._chunks:
            yield from batch.records(list(zip(images.to_pylist(), persons.to_pylist(), strict=True)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run.id,
            "model": self.run.model,
            "model_version": self.run.version,
            "persons": self.persons,
            "persons_added": self.persons_added,
            "predictions": self.predictions,
            "contributions": self.contributions,
            "seconds": round(self.seconds, 3),
            "persons_per_s": round(self.persons_per_s, 1),
        }


def _prepare(
    store: GraphStore,
    reasoner: Reasoner,
    top_k: int,
    explain: bool,
    paths: bool,
    min_share: float | None,
) -> tuple[Reasoner, Ontology, dict[str, Any], Run]:
    """The reasoner for the store's ontology (:meth:`ActivityReasoner.for_ontology`: the
    checkpoint itself, or with the store's new activities scored zero-shot), its options
    (checked on no persons, before anything is read or written) and the run that will write
    the predictions."""
    from reasoning import DEFAULT_MIN_SHARE

    onto = store_ontology(store)
    reasoner = reasoner.for_ontology(onto)
    share = DEFAULT_MIN_SHARE if min_share is None else min_share
    options: dict[str, Any] = {"top_k": top_k, "explain": explain, "paths": paths, "min_share": share}
    reasoner.predict_rows(_empty_inputs(onto), **options)
    run = new_run(
        reasoner.name,
        reasoner.version,
        reasoner.attribution_method if explain else None,
        onto.version,
        top_k=top_k,
        min_share=share if explain else None,
    )
    return reasoner, onto, options, run


class _ChunkReasoner:
    """Reasons over each checked chunk of an ingest and stages the predictions."""

    def __init__(
        self,
        reasoner: Reasoner,
        writer: PredictionWriter,
        result: ReasonResult,
        options: dict[str, Any],
        onto: Ontology,
    ) -> None:
        self.reasoner, self.writer, self.result, self.options = reasoner, writer, result, options
        self.onto = onto

    def __call__(self, chunk: CheckedChunk) -> None:
        import pyarrow as pa

        x = _chunk_inputs(chunk, self.onto)
        batch = self.reasoner.predict_rows(x, **self.options)
        self.writer.add_batch(chunk.keys, batch)
        images = pa.array(chunk.images, pa.string())
        persons = pa.array([r["person_id"] for r in chunk.rows], pa.string())
        self.result._keep(images, persons, batch)
        self.result.persons += len(chunk.rows)


def _chunk_inputs(chunk: CheckedChunk, onto: Ontology) -> Any:
    """The reasoner's input rows (``onto``'s layout) of a checked chunk (see
    :func:`reasoning.encode_indexed`)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import torch

    from reasoning import encode_indexed

    def entries(columns: tuple[Any, Any, Any], ids: list[str]) -> tuple[Any, Any, Any]:
        item, term, prob = columns
        position = pc.index_in(term, value_set=pa.array(ids, pa.string()))
        return (
            torch.from_numpy(item.to_numpy(zero_copy_only=False).astype(np.int64)),
            torch.from_numpy(position.to_numpy(zero_copy_only=False).astype(np.int64)),
            torch.from_numpy(prob.to_numpy(zero_copy_only=False).astype(np.float32)),
        )

    object_index = {o.id: o.index for o in onto.objects}
    rows, terms, values = [], [], []
    for i, row in enumerate(chunk.rows):
        for det in row["objects"]:
            rows.append(i)
            terms.append(object_index[det["object"]])
            values.append(det["score"])
    return encode_indexed(
        len(chunk.rows),
        part_states=entries(chunk.part_states, onto.part_states.ids),
        active_parts=entries(chunk.active_parts, onto.body_parts.ids),
        objects=(
            torch.tensor(rows, dtype=torch.long),
            torch.tensor(terms, dtype=torch.long),
            torch.tensor(values),
        ),
        onto=onto,
    )


def reason_records(
    store: GraphStore,
    reasoner: Reasoner,
    observations: Iterable[PersonObservation],
    *,
    top_k: int = 5,
    explain: bool = True,
    paths: bool = False,
    min_share: float | None = None,
    chunk_size: int = 50_000,
    progress: bool = False,
    source: str = "observations",
    keep: int | None = None,
) -> ReasonResult:
    """Store ``observations`` (persons already stored are kept as they are), reason over
    every one of them and write the predictions back, all in one load."""
    return _reason_ingest(
        store, reasoner, top_k, explain, paths, min_share, progress, keep,
        lambda load_, hook: ingest_observations(
            store, observations, source=source, progress=progress, chunk_size=chunk_size, into=load_,
            on_chunk=hook, label=f"reasoning over {source}",
        ),
    )  # fmt: skip


def reason_file(
    store: GraphStore,
    reasoner: Reasoner,
    path: str | os.PathLike[str],
    *,
    top_k: int = 5,
    explain: bool = True,
    paths: bool = False,
    min_share: float | None = None,
    chunk_size: int = 50_000,
    progress: bool = False,
    keep: int | None = None,
) -> ReasonResult:
    """As :func:`reason_records` for an observations file, streamed line by line."""
    name = Path(path).name
    return _reason_ingest(
        store, reasoner, top_k, explain, paths, min_share, progress, keep,
        lambda load_, hook: ingest_observations_jsonl(
            store, path, progress=progress, chunk_size=chunk_size, into=load_, on_chunk=hook,
            label=f"reasoning over {name}",
        ),
    )  # fmt: skip


def _reason_ingest(
    store: GraphStore,
    reasoner: Reasoner,
    top_k: int,
    explain: bool,
    paths: bool,
    min_share: float | None,
    progress: bool,
    keep: int | None,
    ingest: Any,
) -> ReasonResult:
    start = time.perf_counter()
    reasoner, onto, options, run = _prepare(store, reasoner, top_k, explain, paths, min_share)
    result = ReasonResult(run, keep=keep)
    with store.bulk_load() as load_:
        writer = PredictionWriter(load_, store, run)
        report: IngestReport = ingest(load_, _ChunkReasoner(reasoner, writer, result, options, onto))
        writer.close()
        _note(progress, f"{result.persons} persons reasoned over; writing {writer.predictions} predictions")
    result.persons_added = report.persons_added
    result.predictions, result.contributions = writer.predictions, writer.contributions
    result.seconds = time.perf_counter() - start
    return result


def reason_scenes(
    store: GraphStore,
    reasoner: Reasoner,
    scenes: Iterable[ImageObservation],
    *,
    pairer: Any = None,
    top_k: int = 5,
    explain: bool = True,
    paths: bool = False,
    min_share: float | None = None,
    progress: bool = False,
    source: str = "perception",
    video_info: Mapping[str, VideoInfo] | None = None,
    temporal: Any = None,
) -> list[list[ActivityPrediction]]:
    """What perception saw, into the store with the triplets it implies, in one load (all
    or nothing): the scenes' persons (as :func:`reason_records`), their object instances
    (``ObjectInstance`` nodes), the persons' predictions, and for each prediction of an
    activity with an object the instance it concerns (``pairer``: a
    :class:`reasoning.pairing.PairingModel` of the store's ontology;
    :func:`reasoning.pairing.pair_predictions` chooses) as an ``INTERACTS_WITH`` edge, with
    why it was chosen when ``explain`` (a ``PairingExplanation``, :mod:`kg.schema`;
    :func:`reasoning.pairing.explain_pair_predictions`). Without a ``pairer`` the
    predictions name no instance; ``video_info`` (video id -> fps, frames, duration) goes on
    the videos' ``Video`` nodes. With a ``temporal`` reasoner
    (``reasoning.TemporalReasoner``) each video's tracks get their activity segments and the
    video its clip label (:func:`temporal_records`), in the same load. Returns per person
    (scene order) the predictions, best first. Scenes are held in memory: this is for a run of images or
    clips, not for a stream of millions of persons (use :func:`reason_file` for those)."""
    from reasoning import encode_observations
    from reasoning.pairing import explain_pair_predictions, pair_predictions

    scenes = list(scenes)
    reasoner, onto, options, run = _prepare(store, reasoner, top_k, explain, paths, min_share)
    persons = [p for scene in scenes for p in scene.persons]
    instances = [o for scene in scenes for o in scene.objects]
    predictions: list[list[ActivityPrediction]] = []
    if persons:
        batch = reasoner.predict_rows(encode_observations(persons, onto), **options)
        predictions = batch.records([(p.image_key, p.person_id) for p in persons])
    if pairer is not None and persons and explain:
        predictions = explain_pair_predictions(pairer, scenes, predictions, onto)
    elif pairer is not None and persons:
        predictions = pair_predictions(pairer, scenes, predictions, onto)
    segments, clip_labels = (
        temporal_records(temporal, scenes, video_info) if temporal is not None else ([], [])
    )
    with store.bulk_load() as load_:
        report = stage_perceived(
            load_,
            store,
            persons,
            instances,
            onto=onto,
            source=source,
            run=run.id,
            model=run.model,
            video_info=video_info,
            segments=segments,
            clip_labels=clip_labels,
            progress=progress,
        )
        writer = PredictionWriter(load_, store, run)
        records = [(p.key, pred) for p, preds in zip(persons, predictions, strict=True) for pred in preds]
        writer.add_records(records, staged_instances={o.key: o.object for o in instances})
        stage_pairing_explanations(load_, store, records, run=run.id, model=run.model)
        writer.close()
    _note(
        progress,
        f"{report.persons_added} persons added, {len(instances)} object instances, "
        f"{writer.predictions} predictions"
        + (
            f", {len(segments)} activity segments, {len(clip_labels)} clip labels"
            if temporal is not None
            else ""
        ),
    )
    return predictions


def stage_perceived(
    load: BulkLoad,
    store: GraphStore,
    persons: Sequence[PersonObservation],
    instances: Sequence[ObjectInstance],
    *,
    onto: Ontology,
    source: str,
    run: str,
    model: str,
    video_info: Mapping[str, VideoInfo] | None = None,
    segments: Sequence[ActivitySegment] = (),
    clip_labels: Sequence[ClipLabel] = (),
    progress: bool = False,
) -> IngestReport:
    """What perception saw, staged into the caller's ``load`` (it lands with it, all or
    nothing): the persons (as :func:`~kg.ingest.ingest_observations`, with their videos'
    graph and ``video_info`` on the ``Video`` nodes of videos someone was seen in), the object
    instances (one already stored with the same class, box and score is skipped, a changed
    one refused; ``run`` and ``model`` would label interactions, none are given here), and
    the videos' activity segments and clip labels. What ``hake infer --store`` and
    :func:`reason_scenes` write; the report's ``extra`` counts the instances added and
    skipped."""
    from kg._stored import stored_ids
    from kg._triplets import GroundTruthTriplets, stage_annotated_triplets
    from kg._video import stage_clip_labels, stage_segments
    from ontology.identity import track_key, video_key

    videos = {p.image_id for p in persons if p.frame_index is not None}  # (with someone in them)
    info = {v: i for v, i in (video_info or {}).items() if v in videos}
    report = ingest_observations(store, persons, source=source, progress=progress, into=load, video_info=info)
    present = {p.image_key for p in persons}
    others = sorted({o.image_key for o in instances} - present)
    present |= stored_ids(store, "Image", others) if others else set()
    added = stage_annotated_triplets(
        load,
        store,
        GroundTruthTriplets(list(instances), []),
        run=run,
        model=model,
        persons_written=[],
        images_present=present,
        source=source,
        ontology=onto,
    )
    report.extra["object_instances_added"] = added.instances_added
    report.extra["object_instances_skipped"] = added.instances_skipped
    tracks = {
        track_key(p.image_id, p.track_id)
        for p in persons
        if p.frame_index is not None and p.track_id is not None
    }
    stage_segments(load, store, segments, onto, staged_tracks=tracks)
    stage_clip_labels(load, store, clip_labels, onto, staged_videos={video_key(v) for v in videos})
    return report


def temporal_records(
    temporal: Any,
    scenes: Iterable[ImageObservation],
    video_info: Mapping[str, VideoInfo] | None = None,
) -> tuple[list[ActivitySegment], list[ClipLabel]]:
    """The activity segments of the videos' tracks and each video's clip label, by
    ``temporal`` (``reasoning.TemporalReasoner``) run as a ``reasoning.TemporalStream`` per
    video over its frames in order (the same path ``hake infer`` streams through), timed by
    the video's fps where ``video_info`` knows it. Scenes of still images are skipped."""
    from reasoning import TemporalStream

    frames: dict[str, list[ImageObservation]] = {}
    for scene in scenes:
        if scene.frame_index is not None:
            frames.setdefault(scene.image_id, []).append(scene)
    segments: list[ActivitySegment] = []
    labels: list[ClipLabel] = []
    for video, video_scenes in frames.items():
        info = (video_info or {}).get(video)
        stream = TemporalStream(temporal, video, fps=None if info is None else info.fps)
        for scene in sorted(video_scenes, key=lambda sc: sc.frame_index or 0):
            segments += stream.push(scene.frame_index or 0, scene.persons)
        more, label = stream.close()
        segments += more
        labels += label
    return segments, labels


def _empty_inputs(onto: Ontology) -> Any:
    import torch

    from reasoning.features import input_layout

    return torch.zeros(0, input_layout(onto).n_features)


def _note(progress: bool, text: str) -> None:
    if progress:
        import sys

        print(f"{text} ...", file=sys.stderr, flush=True)


@dataclass
class _StoredInputs:
    """Every stored person's evidence, column-wise, sorted by person (numpy arrays)."""

    keys: Any  # pyarrow string array: person keys
    images: Any  # image node ids
    persons: Any  # person ids within the image
    entries: dict[str, tuple[Any, Any, Any]]  # kind -> (row, term position, value), sorted by row

    def chunk(self, start: int, stop: int, onto: Ontology) -> Any:
        import numpy as np
        import torch

        from reasoning import encode_indexed

        parts = {}
        for kind, (row, term, value) in self.entries.items():
            lo, hi = np.searchsorted(row, [start, stop])
            parts[kind] = (
                torch.from_numpy(row[lo:hi] - start),
                torch.from_numpy(term[lo:hi]),
                torch.from_numpy(value[lo:hi]),
            )
        return encode_indexed(
            stop - start, parts.get("part_states"), parts.get("active_parts"), parts.get("objects"), onto
        )


# Person -> its evidence, one scan per relationship type. The person is named by its key on
# every backend; the embedded store also gives its row offset in the Person table
# (``offset(id(p))``), which joins 7M observations to their persons without a string each.
_STORED_PERSONS = (
    "MATCH (p:Person)-[:IN_IMAGE]->(i:Image) RETURN p.id AS id, p.person_id AS person_id, i.id AS image"
)
_STORED_ENTRIES = {  # t.idx is the term's position in the ontology's order
    "part_states": ("HAS_STATE", "PartState", "prob"),
    "active_parts": ("USES_PART", "BodyPart", "prob"),
    "objects": ("NEAR", "Object", "score"),
}


def _entries_query(rel: str, label: str, value: str, by_offset: bool) -> str:
    person = "offset(id(p))" if by_offset else "p.id"
    # The names come from the fixed table above, never from user input.
    return (
        f"MATCH (p:Person)-[r:{rel}]->(t:{label}) "
        f"RETURN {person} AS person, t.idx AS term, r.{value} AS value"
    )


def _read_stored(store: GraphStore) -> _StoredInputs:
    """Every stored person and its evidence: one scan per relationship type."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    by_offset = store.backend == "embedded"
    persons_query = (
        _STORED_PERSONS.replace("RETURN p.id", "RETURN offset(id(p)) AS row, p.id")
        if by_offset
        else _STORED_PERSONS
    )
    people = store.query_arrow(persons_query)
    if people.num_rows == 0:
        return _StoredInputs(
            pa.array([], pa.string()), pa.array([], pa.string()), pa.array([], pa.string()), {}
        )
    keys = people["id"].combine_chunks().cast(pa.string())
    if by_offset:  # row offset -> position in ``people``
        offsets = people["row"].to_numpy().astype(np.int64)
        position = np.full(int(offsets.max()) + 1, -1, dtype=np.int64)
        position[offsets] = np.arange(len(offsets))
    entries = {}
    for kind, (rel, label, value) in _STORED_ENTRIES.items():
        table = store.query_arrow(_entries_query(rel, label, value, by_offset))
        if table.num_rows == 0:
            continue
        if by_offset:
            row = position[table["person"].to_numpy().astype(np.int64)]
        else:
            row = pc.index_in(table["person"].combine_chunks().cast(pa.string()), value_set=keys)
            row = row.to_numpy(zero_copy_only=False).astype(np.int64)
        term = table["term"].to_numpy().astype(np.int64)
        value_ = table["value"].to_numpy().astype(np.float32)
        del table
        order = np.argsort(row, kind="stable")
        entries[kind] = (row[order], term[order], value_[order])
    return _StoredInputs(
        keys,
        people["image"].combine_chunks().cast(pa.string()),
        people["person_id"].combine_chunks().cast(pa.string()),
        entries,
    )


def reason_stored(
    store: GraphStore,
    reasoner: Reasoner,
    *,
    top_k: int = 5,
    explain: bool = True,
    paths: bool = False,
    min_share: float | None = None,
    chunk_size: int = 50_000,
    progress: bool = False,
    keep: int | None = None,
) -> ReasonResult:
    """Reason over every person already in the store (their stored part states, active
    parts and objects) and write the predictions back, replacing the model's earlier ones:
    the way to run a new model over a graph. All or nothing."""
    start = time.perf_counter()
    reasoner, onto, options, run = _prepare(store, reasoner, top_k, explain, paths, min_share)
    _note(progress, "reading the stored persons")
    stored = _read_stored(store)
    n = len(stored.keys)
    if n == 0:
        raise StoreError("the store holds no persons to reason over; ingest observations first (hake ingest)")
    result = ReasonResult(run, keep=keep)
    bar = progress_bar(progress, n, "reasoning over the stored persons")
    try:
        with store.bulk_load() as load_:
            writer = PredictionWriter(load_, store, run)
            for lo in range(0, n, chunk_size):
                hi = min(lo + chunk_size, n)
                batch = reasoner.predict_rows(stored.chunk(lo, hi, onto), **options)
                writer.add_batch(stored.keys.slice(lo, hi - lo).to_pylist(), batch)
                result._keep(stored.images.slice(lo, hi - lo), stored.persons.slice(lo, hi - lo), batch)
                result.persons += hi - lo
                bar(hi - lo)
            del stored  # the inputs are not needed for the write: free them before the COPY
            writer.close()
            bar(0, note=f"writing {writer.predictions} predictions to the store")
    finally:
        bar(0, close=True)
    result.predictions, result.contributions = writer.predictions, writer.contributions
    result.seconds = time.perf_counter() - start
    return result
