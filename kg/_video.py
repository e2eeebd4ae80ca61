"""Videos in the store (:mod:`kg.schema`, "Time"): the video graph an ingest builds, and
activity segments and clip labels written and read as records.

The video graph. Ingesting observations of video frames (a ``frame_index``) builds, in the
ingest's own all-or-nothing load (:func:`stage_video_graph`, called by
:func:`kg.ingest.ingest_observations` and :func:`kg.ingest.ingest_observations_jsonl`):

- a ``Video`` node per video, with the ``fps``, ``frame_count`` and ``duration`` the ingest
  was given (``video_info``: video id -> :class:`ontology.VideoInfo`), null where unknown.
  A value given for a video stored with that value null is set; one that differs from a
  stored value is refused (:class:`StoreError`);
- ``(:Image)-[:IN_VIDEO]->(:Video)`` for each frame and ``(:Image)-[:NEXT]->(:Image)``
  between consecutive stored frames (by ``frame_index``). Frames may come in any number of
  ingests and in any order: the chain is made whole over every stored frame of the video,
  and a frame that lands between two linked ones replaces their ``NEXT`` edge by two;
- a ``Track`` node per (video, track id) and ``(:Person)-[:OF_TRACK]->(:Track)`` for each
  person with a ``track_id``.

It writes only what is missing, so re-ingesting changes nothing, and a store made before
videos gains the video graph of a video when its observations are ingested again (the
persons themselves are skipped as usual). What is read first: the touched videos' stored
frames, ``NEXT`` and ``IN_VIDEO`` edges, tracks and tracked persons (filtered scans, one
statement each, not per batch). New rows go in by the bulk path (``COPY`` on the embedded
store); two rare corrections are one statement per row by primary key (scalar parameters):
a stored video that gains a value it lacked, and a ``NEXT`` edge that a frame ingested in
between replaces.

Segments and clip labels (:class:`ontology.ActivitySegment`, :class:`ontology.ClipLabel`):
:func:`write_segments` / :func:`write_clip_labels` validate every record against the store
(its ontology's activities; the track or video must be stored), then write them in one bulk
load, all or nothing: ``COPY`` on the embedded store, ``UNWIND`` by id index on Neo4j. Each
(source, model, version) of a write is one ``Run`` (``kind = "segments"`` or
``"clip_labels"``); once the new rows are in, the same source and model's earlier segments of
each track named (clip labels of each video named) are deleted, as predictions are replaced
(one filtered statement per run on the embedded store; an id lookup per track or video on
Neo4j). :func:`read_segments` / :func:`read_clip_labels` give the same records back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from kg.store.base import BulkLoad, GraphStore
from ontology import ActivitySegment, ClipLabel, Ontology, StoreError, VideoInfo
from ontology.identity import image_key, split_image_key, split_track_key, track_key, video_key

__all__ = [
    "VideoFrames",
    "has_video_tables",
    "read_clip_labels",
    "read_segments",
    "stage_video_graph",
    "write_clip_labels",
    "write_segments",
]

#: The two rare corrections, one statement per row with scalar parameters (a primary-key
#: lookup on LadybugDB 0.22, where an ``UNWIND`` of ids scans the table per batch; the id
#: index on Neo4j), after the load's rows are in (idempotent, as finishing statements are).
_DROP_NEXT = "MATCH (a:Image {id: $a})-[n:NEXT]->(b:Image {id: $b}) DELETE n"
_SET_INFO = "MATCH (v:Video {id: $id}) SET v.fps = $fps, v.frame_count = $frame_count, v.duration = $duration"
#: Replacing a model's earlier segments / clip labels, after the new rows are in: on the
#: embedded store one filtered statement per run (a per-batch ``UNWIND ... {id: r.id}`` is a
#: scan per batch on LadybugDB 0.22), on Neo4j an id-index lookup per track or video.
_DROP_SEGMENTS_EMBEDDED = (
    "MATCH (t:Track)-[s:SEGMENT]->(:Activity) WHERE s.source = $source AND s.model = $model "
    "AND s.run <> $run AND t.id IN $ids DELETE s"
)
_DROP_SEGMENTS_NEO4J = (
    "UNWIND $rows AS r MATCH (t:Track {id: r.id})-[s:SEGMENT]->(:Activity) "
    "WHERE s.source = r.source AND s.model = r.model AND s.run <> r.run DELETE s"
)
_DROP_LABELS_EMBEDDED = (
    "MATCH (v:Video)-[c:CLIP_LABEL]->(:Activity) WHERE c.source = $source AND c.model = $model "
    "AND c.run <> $run AND v.id IN $ids DELETE c"
)
_DROP_LABELS_NEO4J = (
    "UNWIND $rows AS r MATCH (v:Video {id: r.id})-[c:CLIP_LABEL]->(:Activity) "
    "WHERE c.source = r.source AND c.model = r.model AND c.run <> r.run DELETE c"
)


def has_video_tables(store: GraphStore) -> bool:
    """Whether the store has the video tables: always, except an embedded store of an
    earlier version opened read-only (opened read-write, it gains them)."""
    if store.backend != "embedded":
        return True
    return any(r["name"] == "SEGMENT" for r in store.query("CALL show_tables() RETURN name"))


# ---- the video graph of an ingest ----------------------------------------------------------


@dataclass
class VideoFrames:
    """The video frames and persons one ingest met, added or already stored."""

    #: video id -> frame index -> image key
    frames: dict[str, dict[int, str]] = field(default_factory=dict)
    #: person key -> (video id, track id), for persons with a track id
    tracked: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: every person key of a video frame this ingest met (tracked or not)
    persons: set[str] = field(default_factory=set)
    #: the person keys of video frames this ingest writes (added, or replaced: written anew)
    written: set[str] = field(default_factory=set)

    def add(
        self,
        rows: Sequence[Mapping[str, Any]],
        keys: Sequence[str],
        images: Sequence[str],
        added: Sequence[bool],
    ) -> None:
        """Note a checked chunk's rows (observation dicts) with their person and image keys and
        whether each is written by this ingest."""
        for row, key, image, new in zip(rows, keys, images, added, strict=True):
            frame = row["frame_index"]
            if frame is None:
                continue
            video = row["image_id"]
            self.frames.setdefault(video, {})[frame] = image
            self.persons.add(key)
            if new:
                self.written.add(key)
            if row["track_id"] is not None:
                self.tracked[key] = (video, row["track_id"])


def stage_video_graph(
    load: BulkLoad,
    store: GraphStore,
    seen: VideoFrames,
    video_info: Mapping[str, VideoInfo],
    source: str,
) -> dict[str, int]:
    """Add to ``load`` what the store lacks of the video graph of the videos in ``seen``
    (module docstring); returns counts of what is added, by kind."""
    for video, info in video_info.items():
        if not isinstance(info, VideoInfo):
            raise TypeError(
                f"video_info[{video!r}]: expected an ontology.VideoInfo(fps, frame_count, duration), "
                f"got {type(info).__name__}"
            )
    unknown = sorted(set(video_info) - set(seen.frames))
    if unknown:
        raise StoreError(
            f"{source}: video_info names {unknown[0]!r}, but no observation of this ingest is a frame "
            f"of it (videos here: {sorted(seen.frames)[:5]}); give video_info for the videos ingested"
        )
    if not seen.frames:
        return {}
    videos = sorted(seen.frames)
    keys = {v: video_key(v) for v in videos}
    counts: dict[str, int] = {}

    # Video nodes: new ones, or stored ones that gain what they lacked
    stored = {
        r["id"]: r
        for r in store.query(
            "MATCH (v:Video) WHERE v.id IN $ids "
            "RETURN v.id AS id, v.fps AS fps, v.frame_count AS frame_count, v.duration AS duration",
            ids=list(keys.values()),
        )
    }
    new_videos: dict[str, list[Any]] = {"id": [], "fps": [], "frame_count": [], "duration": []}
    updates = []
    for video in videos:
        info = video_info.get(video, VideoInfo())
        given = {"fps": info.fps, "frame_count": info.frame_count, "duration": info.duration}
        row = stored.get(keys[video])
        if row is None:
            new_videos["id"].append(keys[video])
            for name, value in given.items():
                new_videos[name].append(value)
            continue
        for name, value in given.items():
            if value is not None and row[name] is not None and row[name] != value:
                raise StoreError(
                    f"{source}: video {video!r} is stored with {name} {row[name]!r}, but video_info gives "
                    f"{value!r}; give the stored value, or leave {name} out (None)"
                )
        if any(value is not None and row[name] is None for name, value in given.items()):
            updates.append({"id": keys[video], **{n: row[n] if v is None else v for n, v in given.items()}})
    load.insert("Video", new_videos)
    for update in updates:
        load.then_once(_SET_INFO, update)
    counts["videos_added"] = len(new_videos["id"])

    # Frames: IN_VIDEO for each, NEXT between consecutive stored frames
    frames: dict[str, dict[int, str]] = {v: dict(seen.frames[v]) for v in videos}
    for r in store.query(
        "MATCH (i:Image) WHERE i.video IN $videos AND i.frame_index IS NOT NULL "
        "RETURN i.video AS video, i.frame_index AS frame",
        videos=videos,
    ):
        frames[r["video"]].setdefault(r["frame"], image_key(r["video"], r["frame"]))
    in_video = {
        r["id"]
        for r in store.query(
            "MATCH (i:Image)-[:IN_VIDEO]->(v:Video) WHERE v.id IN $ids RETURN i.id AS id",
            ids=list(keys.values()),
        )
    }
    linked = {
        (r["a"], r["b"])
        for r in store.query(
            "MATCH (a:Image)-[:NEXT]->(b:Image) WHERE a.video IN $videos RETURN a.id AS a, b.id AS b",
            videos=videos,
        )
    }
    member: dict[str, list[str]] = {"from": [], "to": []}
    chain: set[tuple[str, str]] = set()
    for video in videos:
        ordered = [frames[video][f] for f in sorted(frames[video])]
        for image in ordered:
            if image not in in_video:
                member["from"].append(image)
                member["to"].append(keys[video])
        chain.update(zip(ordered, ordered[1:], strict=False))
    stale = sorted(linked - chain)
    for a, b in stale:  # a frame landed between two linked ones: their edge goes, two new ones come
        load.then_once(_DROP_NEXT, {"a": a, "b": b})
    added = sorted(chain - linked)
    load.relate("IN_VIDEO", "Image", "Video", member)
    load.relate("NEXT", "Image", "Image", {"from": [a for a, _ in added], "to": [b for _, b in added]})
    counts["frames_linked"] = len(member["from"])
    counts["next_added"] = len(added)

    # Tracks and OF_TRACK: this ingest's persons as given, stored ones (e.g. of a store made
    # before videos) as stored
    tracked = dict(seen.tracked)
    for r in store.query(
        "MATCH (p:Person)-[:IN_IMAGE]->(i:Image) WHERE i.video IN $videos AND p.track_id IS NOT NULL "
        "RETURN p.id AS id, i.video AS video, p.track_id AS track",
        videos=videos,
    ):
        if r["id"] not in seen.persons:
            tracked[r["id"]] = (r["video"], r["track"])
    tracks = {track_key(v, t): (v, t) for v, t in tracked.values()}
    stored_tracks = {
        r["id"] for r in store.query("MATCH (t:Track) WHERE t.id IN $ids RETURN t.id AS id", ids=list(tracks))
    }
    new_tracks = sorted(set(tracks) - stored_tracks)
    load.insert("Track", {"id": new_tracks, "track_id": [tracks[t][1] for t in new_tracks]})
    load.relate(
        "IN_VIDEO", "Track", "Video", {"from": new_tracks, "to": [keys[tracks[t][0]] for t in new_tracks]}
    )
    # A person this ingest writes anew (a replaced one) loses its stored edge with it
    of_track = {
        (r["p"], r["t"])
        for r in store.query(
            "MATCH (p:Person)-[:OF_TRACK]->(t:Track)-[:IN_VIDEO]->(v:Video) WHERE v.id IN $ids "
            "RETURN p.id AS p, t.id AS t",
            ids=list(keys.values()),
        )
        if r["p"] not in seen.written
    }
    wanted = sorted(
        edge for edge in ((p, track_key(v, t)) for p, (v, t) in tracked.items()) if edge not in of_track
    )
    load.relate("OF_TRACK", "Person", "Track", {"from": [p for p, _ in wanted], "to": [t for _, t in wanted]})
    counts["tracks_added"] = len(new_tracks)
    counts["of_track_added"] = len(wanted)
    return {k: v for k, v in counts.items() if v}


# ---- segments and clip labels ---------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _checked_activities(records: Sequence[ActivitySegment] | Sequence[ClipLabel], onto: Ontology) -> None:
    known = set(onto.activities.ids)
    for record in records:
        if record.activity not in known:
            raise StoreError(
                f"{type(record).__name__} of {record.key!r}: activity {record.activity!r} is not in the "
                f"store's ontology ({onto.version}); build the records with kg.store_ontology(store), or "
                "extend the store first (kg.extend_store)"
            )


def _missing(store: GraphStore, label: str, keys: Sequence[str]) -> list[str]:
    """Which of ``keys`` are not stored as ``label`` nodes (:func:`kg._stored.stored_ids`)."""
    from kg._stored import stored_ids

    present = stored_ids(store, label, keys)
    return [k for k in keys if k not in present]


def _stage_runs(
    load: BulkLoad,
    store: GraphStore,
    kind: str,
    rel: str,
    groups: Mapping[tuple[str, str, str], list[int]],
    keys: Sequence[str],
    onto: Ontology,
) -> list[str]:
    """One ``Run`` per (source, model, version) group, tagged, and the deletion of the same
    source and model's earlier rows of ``rel`` on the group's tracks or videos; returns the
    run id of each record (by position)."""
    from kg.ingest import _run_id

    runs = [""] * len(keys)
    created = _now()
    for (source, model, version), positions in groups.items():
        run = _run_id()
        for i in positions:
            runs[i] = run
        load.tag(rel, "run", run)
        load.tag("Run", "id", run)
        load.insert(
            "Run",
            {
                "id": [run],
                "kind": [kind],
                "model": [model],
                "version": [version],
                "ontology": [onto.version],
                "created": [created],
                "predictions": [len(positions)],
            },
        )
        ids = sorted({keys[i] for i in positions})
        if store.backend == "neo4j":
            drop = _DROP_SEGMENTS_NEO4J if rel == "SEGMENT" else _DROP_LABELS_NEO4J
            load.then(drop, [{"id": i, "source": source, "model": model, "run": run} for i in ids])
        else:
            drop = _DROP_SEGMENTS_EMBEDDED if rel == "SEGMENT" else _DROP_LABELS_EMBEDDED
            load.then_once(drop, {"source": source, "model": model, "run": run, "ids": ids})
    return runs


def write_segments(store: GraphStore, segments: Iterable[ActivitySegment]) -> int:
    """Write activity segments on stored tracks, all or nothing; returns how many.

    Every segment is checked first: its activity must be in the store's ontology, its track
    stored (ingest the video's observations first), and no two segments of one write may share
    track, source, model, activity and start frame. The same source and model's earlier
    segments of each track named are replaced (module docstring).

    >>> import tempfile, kg, ontology
    >>> frames = [ontology.PersonObservation("clip.mp4", "0", frame_index=f, timestamp=f / 25, track_id=1)
    ...           for f in range(3)]
    >>> with kg.EmbeddedStore(tempfile.mkdtemp()) as store:
    ...     _ = kg.init_store(store)
    ...     _ = kg.ingest_observations(store, frames, video_info={"clip.mp4": ontology.VideoInfo(fps=25.0)})
    ...     ride = ontology.ActivitySegment("clip.mp4", 1, "ride bicycle", 0, 2, 0.8, "m")
    ...     kg.write_segments(store, [ride])
    ...     [(s.key, s.activity, s.start_frame, s.end_frame) for s in kg.read_segments(store)]
    1
    [('clip.mp4@1', 'ride-bicycle', 0, 2)]
    """
    from kg.store_ontology import store_ontology

    records = list(segments)
    if not records:
        return 0
    with store.bulk_load() as load:
        return stage_segments(load, store, records, store_ontology(store))


def stage_segments(
    load: BulkLoad,
    store: GraphStore,
    segments: Sequence[ActivitySegment],
    onto: Ontology,
    staged_tracks: Set[str] = frozenset(),
) -> int:
    """Check ``segments`` as :func:`write_segments` does and stage them into ``load`` (the
    caller's bulk load: they land with it, all or nothing). ``staged_tracks``: track keys the
    same load creates (they count as stored)."""
    records = _checked(segments, ActivitySegment, "write_segments", onto)
    seen: set[tuple[str, str, str, str, int]] = set()
    for s in records:
        ident = (s.key, s.source, s.model, s.activity, s.start_frame)
        if ident in seen:
            raise StoreError(
                f"write_segments: two segments of track {s.key!r} by {s.source} {s.model!r} do "
                f"{s.activity!r} from frame {s.start_frame}; give each once (merge them)"
            )
        seen.add(ident)
    return _stage_rows(
        load,
        store,
        onto,
        records,
        rel="SEGMENT",
        holder="Track",
        staged=staged_tracks,
        missing="write_segments: track {first!r} is not stored ({n} tracks missing); ingest the video's "
        "observations with their track ids first (kg.ingest_observations)",
        columns={
            "start_frame": [s.start_frame for s in records],
            "end_frame": [s.end_frame for s in records],
            "start_time": [s.start_time for s in records],
            "end_time": [s.end_time for s in records],
        },
    )


def write_clip_labels(store: GraphStore, labels: Iterable[ClipLabel]) -> int:
    """Write clip-level labels on stored videos, all or nothing; returns how many.

    Checked as :func:`write_segments` checks segments (the video must be stored; no two labels
    of one write share video, source, model and activity); the same source and model's
    earlier labels of each video named are replaced.
    """
    from kg.store_ontology import store_ontology

    records = list(labels)
    if not records:
        return 0
    with store.bulk_load() as load:
        return stage_clip_labels(load, store, records, store_ontology(store))


def stage_clip_labels(
    load: BulkLoad,
    store: GraphStore,
    labels: Sequence[ClipLabel],
    onto: Ontology,
    staged_videos: Set[str] = frozenset(),
) -> int:
    """Check ``labels`` as :func:`write_clip_labels` does and stage them into ``load``;
    ``staged_videos``: video keys the same load creates."""
    records = _checked(labels, ClipLabel, "write_clip_labels", onto)
    seen: set[tuple[str, str, str, str]] = set()
    for c in records:
        ident = (c.key, c.source, c.model, c.activity)
        if ident in seen:
            raise StoreError(
                f"write_clip_labels: video {c.video_id!r} is labelled {c.activity!r} twice by {c.source} "
                f"{c.model!r}; give each label once"
            )
        seen.add(ident)
    return _stage_rows(
        load,
        store,
        onto,
        records,
        rel="CLIP_LABEL",
        holder="Video",
        staged=staged_videos,
        missing="write_clip_labels: video {first!r} is not stored ({n} videos missing); ingest "
        "observations of its frames first (kg.ingest_observations)",
        columns={},
    )


_Labelled = TypeVar("_Labelled", ActivitySegment, ClipLabel)


def _checked(
    records: Iterable[_Labelled], kind: type[_Labelled], writer: str, onto: Ontology
) -> list[_Labelled]:
    """``records`` as a list, each of ``kind`` and naming an activity of ``onto``."""
    out = list(records)
    for r in out:
        if not isinstance(r, kind):
            raise TypeError(f"{writer}: expected ontology.{kind.__name__} records, got {type(r).__name__}")
    _checked_activities(out, onto)
    return out


def _stage_rows(
    load: BulkLoad,
    store: GraphStore,
    onto: Ontology,
    records: Sequence[_Labelled],
    *,
    rel: str,
    holder: str,
    staged: Set[str],
    missing: str,
    columns: dict[str, list[Any]],
) -> int:
    """What segments and clip labels share: every ``holder`` (track or video) named is stored
    or staged in this load (``missing`` is the error, with ``{first}`` and ``{n}``), one
    ``Run`` per (source, model, version) replacing that model's earlier rows, then the
    ``rel`` rows with their own ``columns``."""
    if not records:
        return 0
    keys = [r.key for r in records]
    absent = _missing(store, holder, sorted(set(keys) - staged))
    if absent:
        raise StoreError(missing.format(first=absent[0], n=len(absent)))
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault((r.source, r.model, r.model_version), []).append(i)
    kind = "segments" if rel == "SEGMENT" else "clip_labels"
    runs = _stage_runs(load, store, kind, rel, groups, keys, onto)
    load.relate(
        rel,
        holder,
        "Activity",
        {
            "from": keys,
            "to": [r.activity for r in records],
            **columns,
            "score": [r.score for r in records],
            "source": [r.source for r in records],
            "model": [r.model for r in records],
            "run": runs,
        },
    )
    return len(records)


def read_segments(store: GraphStore, video_id: str | None = None) -> list[ActivitySegment]:
    """The stored segments (of video ``video_id``, or all) as records, ordered by video,
    track, start frame, end frame, activity, source and model."""
    from kg.store_ontology import store_ontology

    if not has_video_tables(store):
        return []
    returns = (
        "RETURN t.id AS track, a.id AS activity, s.start_frame AS start_frame, s.end_frame AS end_frame, "
        "s.start_time AS start_time, s.end_time AS end_time, s.score AS score, s.source AS source, "
        "s.model AS model, r.version AS version"
    )
    if video_id is None:
        rows = store.query(
            f"MATCH (t:Track)-[s:SEGMENT]->(a:Activity) MATCH (r:Run) WHERE r.id = s.run {returns}"
        )
    else:
        rows = store.query(
            "MATCH (v:Video {id: $video})<-[:IN_VIDEO]-(t:Track)-[s:SEGMENT]->(a:Activity) "
            f"MATCH (r:Run) WHERE r.id = s.run {returns}",
            video=video_key(video_id),
        )
    onto = store_ontology(store) if rows else None
    out = []
    for r in rows:
        video, track = split_track_key(r["track"])
        out.append(
            ActivitySegment(
                video,
                track,
                r["activity"],
                r["start_frame"],
                r["end_frame"],
                r["score"],
                r["model"],
                r["version"],
                onto,
                start_time=r["start_time"],
                end_time=r["end_time"],
                source=r["source"],
            )
        )
    return sorted(
        out,
        key=lambda s: (s.video_id, s.track_id, s.start_frame, s.end_frame, s.activity, s.source, s.model),
    )


def read_clip_labels(store: GraphStore, video_id: str | None = None) -> list[ClipLabel]:
    """The stored clip labels (of video ``video_id``, or all) as records, ordered by video,
    score (highest first), activity, source and model."""
    from kg.store_ontology import store_ontology

    if not has_video_tables(store):
        return []
    returns = (
        "RETURN v.id AS video, a.id AS activity, c.score AS score, c.source AS source, c.model AS model, "
        "r.version AS version"
    )
    if video_id is None:
        rows = store.query(
            f"MATCH (v:Video)-[c:CLIP_LABEL]->(a:Activity) MATCH (r:Run) WHERE r.id = c.run {returns}"
        )
    else:
        rows = store.query(
            "MATCH (v:Video {id: $video})-[c:CLIP_LABEL]->(a:Activity) "
            f"MATCH (r:Run) WHERE r.id = c.run {returns}",
            video=video_key(video_id),
        )
    onto = store_ontology(store) if rows else None
    out = [
        ClipLabel(
            _video_id(r["video"]),
            r["activity"],
            r["score"],
            r["model"],
            r["version"],
            onto,
            source=r["source"],
        )
        for r in rows
    ]
    return sorted(out, key=lambda c: (c.video_id, -c.score, c.activity, c.source, c.model))


def _video_id(key: str) -> str:
    """The video id of a video key (:func:`ontology.identity.video_key`'s inverse)."""
    return split_image_key(key)[0]
