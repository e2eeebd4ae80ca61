"""Videos in the graph (kg._video, kg.schema "Time"): Video, IN_VIDEO, NEXT, Track and
OF_TRACK built by the ingest; segments and clip labels written and read as records; the
interval queries of kg.queries; on both backends."""

from __future__ import annotations

from typing import Any

import pytest

import kg._video
import kg.ingest
from kg import (
    EmbeddedStore,
    Neo4jStore,
    ingest_observations,
    init_store,
    read_clip_labels,
    read_segments,
    write_clip_labels,
    write_segments,
)
from kg.queries import EXAMPLES
from kg.store import GraphStore
from ontology import ActivitySegment, Box, ClipLabel, PersonObservation, RecordError, StoreError, VideoInfo
from ontology.identity import split_track_key, track_key, video_key
from tests.kg.helpers import assert_index_lookups, bulk_relate_statement

VIDEO = "street.mp4"
FPS = 25.0
INFO = {VIDEO: VideoInfo(fps=FPS, frame_count=10, duration=0.4)}
T1, T2 = "street.mp4@1", "street.mp4@2"


def frames(indices: tuple[int, ...] = (0, 2, 4, 6, 8), track_of_1: int = 2) -> list[PersonObservation]:
    """A 10-frame clip stored every 2nd frame: person 0 is track 1 throughout, person 1 joins
    at frame 4 (track ``track_of_1``)."""
    out = []
    for f in indices:
        at = {"frame_index": f, "timestamp": f / FPS}
        out.append(PersonObservation(VIDEO, "0", Box(0, 0, 10, 20), {"hip: sit on": 0.9}, **at, track_id=1))
        if f >= 4:
            out.append(PersonObservation(VIDEO, "1", Box(20, 0, 30, 20), **at, track_id=track_of_1))
    return out


def video_graph(store: GraphStore) -> dict[str, Any]:
    """Everything of the video graph, as plain sets and rows."""
    return {
        "videos": store.query(
            "MATCH (v:Video) RETURN v.id AS id, v.fps AS fps, v.frame_count AS frame_count, "
            "v.duration AS duration ORDER BY id"
        ),
        "in_video": {
            (r["a"], r["b"])
            for r in store.query("MATCH (a)-[:IN_VIDEO]->(b:Video) RETURN a.id AS a, b.id AS b")
        },
        "next": {
            (r["a"], r["b"])
            for r in store.query("MATCH (a:Image)-[:NEXT]->(b:Image) RETURN a.id AS a, b.id AS b")
        },
        "tracks": {
            (r["id"], r["n"]) for r in store.query("MATCH (t:Track) RETURN t.id AS id, t.track_id AS n")
        },
        "of_track": {
            (r["p"], r["t"])
            for r in store.query("MATCH (p:Person)-[:OF_TRACK]->(t:Track) RETURN p.id AS p, t.id AS t")
        },
    }


EXPECTED = {
    "videos": [{"id": VIDEO, "fps": FPS, "frame_count": 10, "duration": 0.4}],
    "in_video": {(f"{VIDEO}#{f}", VIDEO) for f in (0, 2, 4, 6, 8)} | {(T1, VIDEO), (T2, VIDEO)},
    "next": {(f"{VIDEO}#{a}", f"{VIDEO}#{a + 2}") for a in (0, 2, 4, 6)},
    "tracks": {(T1, 1), (T2, 2)},
    "of_track": {(f"{VIDEO}#{f}/0", T1) for f in (0, 2, 4, 6, 8)}
    | {(f"{VIDEO}#{f}/1", T2) for f in (4, 6, 8)},
}


def test_keys() -> None:
    assert video_key("a#b") == "a%23b" and track_key("a#b", 3) == "a%23b@3"
    assert split_track_key(track_key("x@1#", 7)) == ("x@1#", 7)  # '@' in a video id: the last one splits
    assert track_key("a@1", 2) != track_key("a", 12)
    with pytest.raises(ValueError, match="non-negative int track id"):
        track_key("a", -1)


def test_records_are_checked() -> None:
    s = ActivitySegment(VIDEO, 1, "ride bicycle", 0, 6, 0.9, "tcn", start_time=0.0, end_time=0.24)
    assert (s.key, s.activity, s.frames, s.source) == (T1, "ride-bicycle", 7, "model")
    with pytest.raises(
        RecordError, match=r"ActivitySegment.end_frame: expected a frame >= start_frame \(6\)"
    ):
        ActivitySegment(VIDEO, 1, "ride bicycle", 6, 0, 0.9, "tcn")
    with pytest.raises(RecordError, match="both times or neither"):
        ActivitySegment(VIDEO, 1, "ride bicycle", 0, 6, 0.9, "tcn", start_time=0.0)
    with pytest.raises(RecordError, match="ActivitySegment.source: expected one of"):
        ActivitySegment(VIDEO, 1, "ride bicycle", 0, 6, 0.9, "tcn", source="truth")
    with pytest.raises(RecordError, match="ClipLabel.activity: expected a known activity"):
        ClipLabel(VIDEO, "ride unicorn", 0.5, "tcn")
    with pytest.raises(RecordError, match="VideoInfo.frame_count"):
        VideoInfo(frame_count=-1)


def test_ingest_builds_the_video_graph(store: GraphStore) -> None:
    init_store(store)
    report = ingest_observations(store, frames(), video_info=INFO)
    assert video_graph(store) == EXPECTED
    assert report.extra == {
        "videos_added": 1,
        "frames_linked": 5,
        "next_added": 4,
        "tracks_added": 2,
        "of_track_added": 8,
    }
    again = ingest_observations(store, frames(), video_info=INFO)  # re-ingest: nothing new
    assert again.persons_skipped == 8 and again.extra == {}
    assert video_graph(store) == EXPECTED


def test_an_observations_file_builds_the_same_graph(store: GraphStore, tmp_path: Any) -> None:
    import json

    from kg import ingest_observations_jsonl

    init_store(store)
    path = tmp_path / "obs.jsonl"
    path.write_text("".join(json.dumps(o.to_dict()) + "\n" for o in frames()))
    ingest_observations_jsonl(store, path, video_info=INFO)
    assert video_graph(store) == EXPECTED


def test_frames_in_several_ingests_make_one_chain(store: GraphStore) -> None:
    init_store(store)
    ingest_observations(store, frames((0, 4, 8)))  # no video_info: unknown values stay null
    assert video_graph(store)["videos"] == [{"id": VIDEO, "fps": None, "frame_count": None, "duration": None}]
    assert video_graph(store)["next"] == {(f"{VIDEO}#0", f"{VIDEO}#4"), (f"{VIDEO}#4", f"{VIDEO}#8")}
    ingest_observations(store, frames((2, 6)), video_info=INFO)  # between the stored ones; info given later
    assert video_graph(store) == EXPECTED
    with pytest.raises(
        StoreError, match=r"video 'street.mp4' is stored with fps 25.0, but video_info gives 30.0"
    ):
        ingest_observations(store, frames((8,)), video_info={VIDEO: VideoInfo(fps=30.0)})
    with pytest.raises(TypeError, match=r"video_info\['street.mp4'\]: expected an ontology.VideoInfo"):
        ingest_observations(store, frames((8,)), video_info={VIDEO: {"fps": 25.0}})  # type: ignore[dict-item]
    with pytest.raises(StoreError, match="video_info names 'other.mp4', but no observation"):
        ingest_observations(store, frames((8,)), video_info={"other.mp4": VideoInfo(fps=30.0)})
    assert video_graph(store) == EXPECTED


def test_a_store_made_before_videos_gains_the_graph(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Persons ingested without the video graph (as a store of an earlier version holds them)
    gain Video, IN_VIDEO, NEXT, Track and OF_TRACK when the video is ingested again."""
    init_store(store)
    real = kg.ingest.stage_video_graph
    monkeypatch.setattr(kg.ingest, "stage_video_graph", lambda *args: {})
    ingest_observations(store, frames())
    assert video_graph(store)["videos"] == [] and video_graph(store)["of_track"] == set()
    monkeypatch.setattr(kg.ingest, "stage_video_graph", real)
    report = ingest_observations(store, frames(), video_info=INFO)
    assert report.persons_skipped == 8 and report.persons_added == 0
    assert video_graph(store) == EXPECTED


def test_a_replaced_person_follows_its_new_track(store: GraphStore) -> None:
    init_store(store)
    ingest_observations(store, frames(), video_info=INFO)
    report = ingest_observations(store, frames((4,), track_of_1=3), replace=True)
    assert report.extra["persons_replaced"] == 1
    graph = video_graph(store)
    assert (f"{VIDEO}#4/1", "street.mp4@3") in graph["of_track"]
    assert (f"{VIDEO}#4/1", T2) not in graph["of_track"]
    assert graph["of_track"] - {(f"{VIDEO}#4/1", "street.mp4@3")} == EXPECTED["of_track"] - {
        (f"{VIDEO}#4/1", T2)
    }
    assert graph["next"] == EXPECTED["next"]


def _seg(
    track: int, activity: str, start: int, end: int, score: float, model: str, **kw: Any
) -> ActivitySegment:
    return ActivitySegment(
        VIDEO,
        track,
        activity,
        start,
        end,
        score,
        model,
        "1",
        start_time=start / FPS,
        end_time=end / FPS,
        **kw,
    )


SEGMENTS = [
    _seg(1, "ride bicycle", 0, 6, 0.9, "tcn"),  # A
    _seg(2, "hold bicycle", 4, 8, 0.8, "tcn"),  # B
    _seg(1, "walk bicycle", 8, 8, 0.6, "tcn"),  # C
    _seg(2, "ride bicycle", 6, 8, 0.7, "hmm"),  # D
    _seg(1, "ride bicycle", 0, 8, 1.0, "street-gt", source="annotation"),  # ground truth
]
LABELS = [
    ClipLabel(VIDEO, "ride bicycle", 0.85, "tcn", "1"),
    ClipLabel(VIDEO, "hold bicycle", 0.4, "tcn", "1"),
    ClipLabel(VIDEO, "ride bicycle", 1.0, "street-gt", source="annotation"),
]


@pytest.fixture
def clip(store: GraphStore) -> GraphStore:
    init_store(store)
    ingest_observations(store, frames(), video_info=INFO)
    assert write_segments(store, SEGMENTS) == 5
    assert write_clip_labels(store, LABELS) == 3
    return store


def _order(segments: list[ActivitySegment]) -> list[ActivitySegment]:
    return sorted(
        segments,
        key=lambda s: (s.video_id, s.track_id, s.start_frame, s.end_frame, s.activity, s.source, s.model),
    )


def test_segments_and_clip_labels_round_trip(clip: GraphStore) -> None:
    assert read_segments(clip) == _order(SEGMENTS)
    assert read_segments(clip, VIDEO) == _order(SEGMENTS)
    assert read_segments(clip, "other.mp4") == []
    assert read_clip_labels(clip) == [LABELS[2], LABELS[0], LABELS[1]]  # best first
    runs = clip.query(
        "MATCH (r:Run) RETURN r.kind AS kind, r.model AS model, r.version AS version ORDER BY kind, model"
    )
    assert [(r["kind"], r["model"], r["version"]) for r in runs] == [
        ("clip_labels", "street-gt", "unversioned"),
        ("clip_labels", "tcn", "1"),
        ("segments", "hmm", "1"),
        ("segments", "street-gt", "1"),
        ("segments", "tcn", "1"),
    ]


def test_a_models_segments_are_replaced(clip: GraphStore) -> None:
    """A write replaces the same source and model's segments of the tracks it names; other
    tracks, models and the ground truth stay."""
    shorter = _seg(1, "ride bicycle", 0, 4, 0.95, "tcn")
    write_segments(clip, [shorter])
    assert read_segments(clip) == _order([shorter, SEGMENTS[1], SEGMENTS[3], SEGMENTS[4]])
    relabelled = ClipLabel(VIDEO, "walk bicycle", 0.9, "tcn", "2")
    write_clip_labels(clip, [relabelled])
    assert read_clip_labels(clip) == [LABELS[2], relabelled]


def test_writes_are_refused_whole(clip: GraphStore) -> None:
    before = read_segments(clip)
    with pytest.raises(StoreError, match=r"track 'street.mp4@9' is not stored \(1 tracks missing\)"):
        write_segments(
            clip, [_seg(1, "ride bicycle", 0, 2, 0.5, "x"), _seg(9, "ride bicycle", 0, 2, 0.5, "x")]
        )
    with pytest.raises(StoreError, match="two segments of track 'street.mp4@1' by model 'x'"):
        write_segments(
            clip, [_seg(1, "ride bicycle", 0, 2, 0.5, "x"), _seg(1, "ride bicycle", 0, 4, 0.5, "x")]
        )
    with pytest.raises(StoreError, match=r"video 'nowhere.mp4' is not stored"):
        write_clip_labels(clip, [ClipLabel("nowhere.mp4", "ride bicycle", 0.5, "x")])
    with pytest.raises(TypeError, match="expected ontology.ActivitySegment records, got ClipLabel"):
        write_segments(clip, LABELS)  # type: ignore[arg-type]
    assert read_segments(clip) == before


def _fail_on(monkeypatch: pytest.MonkeyPatch, store: GraphStore, table: str) -> None:
    """Make the store fail while it writes ``table`` (inside the load)."""
    if isinstance(store, EmbeddedStore):
        real_copy = EmbeddedStore._copy

        def copy(self: EmbeddedStore, name: str, arrow: Any, options: str) -> None:
            if name == table:
                raise RuntimeError(f"injected failure while copying {table}")
            real_copy(self, name, arrow, options)

        monkeypatch.setattr(EmbeddedStore, "_copy", copy)
    else:
        real_relate = Neo4jStore.bulk_relate

        def relate(self: Neo4jStore, rel: str, a: str, b: str, columns: Any) -> None:
            if rel == table:
                raise RuntimeError(f"injected failure while writing {table}")
            real_relate(self, rel, a, b, columns)

        monkeypatch.setattr(Neo4jStore, "bulk_relate", relate)


def test_all_or_nothing_after_a_failure(clip: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    segments, labels, graph = read_segments(clip), read_clip_labels(clip), video_graph(clip)
    runs = clip.query("MATCH (r:Run) RETURN count(r) AS n")[0]["n"]
    _fail_on(monkeypatch, clip, "SEGMENT")
    with pytest.raises(RuntimeError, match="injected"):
        write_segments(clip, [_seg(1, "ride bicycle", 0, 4, 0.95, "tcn")])  # would replace A and C
    _fail_on(monkeypatch, clip, "CLIP_LABEL")
    with pytest.raises(RuntimeError, match="injected"):
        write_clip_labels(clip, [ClipLabel(VIDEO, "walk bicycle", 0.9, "tcn")])
    _fail_on(monkeypatch, clip, "OF_TRACK")
    with pytest.raises(RuntimeError, match="injected"):
        ingest_observations(
            clip, [PersonObservation("other.mp4", "0", frame_index=0, timestamp=0.0, track_id=1)]
        )
    monkeypatch.undo()
    assert read_segments(clip) == segments and read_clip_labels(clip) == labels
    assert video_graph(clip) == graph
    assert clip.query("MATCH (r:Run) RETURN count(r) AS n")[0]["n"] == runs
    assert clip.query("MATCH (i:Image {id: 'other.mp4#0'}) RETURN count(i) AS n")[0]["n"] == 0


# ---- the interval queries, against hand-computed answers -----------------------------------


def _run(store: GraphStore, name: str, **params: Any) -> list[dict[str, Any]]:
    q = EXAMPLES[name]
    return store.query(q.cypher, **{**q.params, **params})


def test_track_in_window(clip: GraphStore) -> None:
    rows = _run(clip, "track_in_window")  # track 1, 0.1 s to 0.2 s: A (0-0.24 s) and the ground truth
    assert [(r["activity"], r["source"], r["model"]) for r in rows] == [
        ("ride bicycle", "annotation", "street-gt"),
        ("ride bicycle", "model", "tcn"),
    ]
    rows = _run(clip, "track_in_window", since=0.3, until=1.0)  # C (0.32 s) and the ground truth (to 0.32 s)
    assert [(r["activity"], r["start_time"], r["model"]) for r in rows] == [
        ("ride bicycle", 0.0, "street-gt"),
        ("walk bicycle", 0.32, "tcn"),
    ]
    assert _run(clip, "track_in_window", track=T2, since=0.0, until=0.1) == []  # B starts at 0.16 s


def test_overlapping_segments(clip: GraphStore) -> None:
    rows = _run(clip, "overlapping_segments")
    assert [(r["activity"], r["other_activity"], r["first_frame"], r["last_frame"]) for r in rows] == [
        ("ride bicycle", "hold bicycle", 4, 6),  # A and B
        ("ride bicycle", "ride bicycle", 6, 6),  # A and D
        ("walk bicycle", "hold bicycle", 8, 8),  # C and B
        ("walk bicycle", "ride bicycle", 8, 8),  # C and D
    ]
    assert {(r["track"], r["other"]) for r in rows} == {(T1, T2)}


def test_tracks_doing_while(clip: GraphStore) -> None:
    assert _run(clip, "tracks_doing_while") == [{"video": VIDEO, "track": T1, "other": T2}]
    assert _run(clip, "tracks_doing_while", min_score=0.85) == []  # B, the holding, scores 0.8
    # track 2 rides (D, 6-8) while track 1 walks (C, 8-8); nobody else holds while track 2 holds
    assert _run(clip, "tracks_doing_while", activity="ride bicycle", other="walk bicycle") == [
        {"video": VIDEO, "track": T2, "other": T1}
    ]


def test_longest_segment(clip: GraphStore) -> None:
    (row,) = _run(clip, "longest_segment")
    assert (row["track"], row["start_frame"], row["end_frame"], row["frames"], row["model"]) == (
        T1,
        0,
        6,
        7,
        "tcn",
    )
    assert row["seconds"] == pytest.approx(0.24)
    (truth,) = _run(clip, "longest_segment", source="annotation")
    assert (truth["frames"], truth["model"]) == (9, "street-gt")


def test_clips_showing(clip: GraphStore) -> None:
    rows = _run(clip, "clips_showing")
    assert [(r["video"], r["score"], r["source"], r["duration"]) for r in rows] == [
        (VIDEO, 1.0, "annotation", 0.4),
        (VIDEO, 0.85, "model", 0.4),
    ]


# ---- how the writes reach the database ----------------------------------------------------


def test_embedded_runs_no_statement_per_batch(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the embedded store the video graph, segments and clip labels go in by COPY; no
    UNWIND per batch (the reads and the replacement are single filtered statements)."""
    import kg.store.embedded as embedded

    seen: list[str] = []
    real = embedded.EmbeddedStore._run

    def spy(self: EmbeddedStore, cypher: str, params: object) -> object:
        seen.append(cypher)
        return real(self, cypher, params)  # type: ignore[arg-type]

    with EmbeddedStore(tmp_path / "g") as store:
        init_store(store)
        monkeypatch.setattr(embedded.EmbeddedStore, "_run", spy)
        ingest_observations(store, frames(), video_info=INFO)
        write_segments(store, SEGMENTS)
        write_segments(store, SEGMENTS[:1])  # replaces
        write_clip_labels(store, LABELS)
    copies = {c.split(" FROM ")[0] for c in seen if c.startswith("COPY")}
    assert {
        "COPY Video",
        "COPY Track",
        "COPY IN_VIDEO",
        "COPY NEXT",
        "COPY OF_TRACK",
        "COPY SEGMENT",
    } <= copies
    assert not any(c.lstrip().upper().startswith("UNWIND") for c in seen), [c for c in seen if "UNWIND" in c]


@pytest.mark.parametrize("name", ["_DROP_NEXT", "_SET_INFO"])
def test_embedded_corrections_find_their_rows_by_primary_key(tmp_path: Any, name: str) -> None:
    """The two rare corrections (a frame landing between two linked ones, a video gaining a
    value it lacked) run one statement per row by primary key on LadybugDB, whose plans look
    every node up by its key: their cost does not grow with the store."""
    import re

    import kg._video

    cypher = getattr(kg._video, name)
    params = (
        {"a": "v#0", "b": "v#2"}
        if name == "_DROP_NEXT"
        else {"id": "v", "fps": 25.0, "frame_count": 3, "duration": 0.1}
    )
    with EmbeddedStore(tmp_path / "g") as store:
        init_store(store)
        plan = store.execute(f"EXPLAIN {cypher}", **params)[0]["explain result"]
    looked_up = re.findall(r"PRIMARY_KEY_SCAN_NODE_TABLE\[\d+\][^┘]*?Key: \$(\w+)", plan)
    assert sorted(looked_up) == sorted(k for k in params if k in ("a", "b", "id")), plan
    assert not re.findall(r" SCAN_NODE_TABLE\[\d+\]", plan), plan


def test_neo4j_statements_use_index_lookups(bolt_server: tuple[str, str, str, str]) -> None:
    """Every per-batch statement the video writes run on Neo4j finds its nodes by the id index
    (PROFILE in a rolled-back transaction)."""
    from kg._video import _DROP_LABELS_NEO4J, _DROP_NEXT, _DROP_SEGMENTS_NEO4J, _SET_INFO

    uri, user, password, database = bolt_server
    with Neo4jStore(uri, user, password, database) as store:
        store.execute("MATCH (n) DETACH DELETE n")
        init_store(store)
        ingest_observations(store, frames(), video_info=INFO)
        write_segments(store, SEGMENTS)
        write_clip_labels(store, LABELS)
        a, b = f"{VIDEO}#0", f"{VIDEO}#2"
        statements: list[tuple[str, dict[str, Any]]] = [
            (_DROP_SEGMENTS_NEO4J, {"rows": [{"id": T1, "source": "model", "model": "tcn", "run": "r"}]}),
            (_DROP_LABELS_NEO4J, {"rows": [{"id": VIDEO, "source": "model", "model": "tcn", "run": "r"}]}),
            (_DROP_NEXT, {"a": a, "b": b}),
            (_SET_INFO, {"id": VIDEO, "fps": FPS, "frame_count": 10, "duration": 0.4}),
            ("UNWIND $ids AS i MATCH (n:Track {id: i}) RETURN n.id AS id", {"ids": [T1]}),
        ]
        for rel, (x, y), ends in (
            ("IN_VIDEO", ("Image", "Video"), {"from": a, "to": VIDEO}),
            ("IN_VIDEO", ("Track", "Video"), {"from": T1, "to": VIDEO}),
            ("NEXT", ("Image", "Image"), {"from": a, "to": b}),
            ("OF_TRACK", ("Person", "Track"), {"from": f"{a}/0", "to": T1}),
            ("SEGMENT", ("Track", "Activity"), {"from": T1, "to": "ride-bicycle"}),
            ("CLIP_LABEL", ("Video", "Activity"), {"from": VIDEO, "to": "ride-bicycle"}),
        ):
            statements.append(bulk_relate_statement(rel, x, y, ends))
        assert_index_lookups(bolt_server, statements)
        assert read_segments(store) == _order(SEGMENTS)  # every profiled statement was rolled back
        assert video_graph(store) == EXPECTED


def test_store_of_the_schema_before_videos_opens_and_takes_them(tmp_path: Any) -> None:
    """A store made before videos (no Video, Track, IN_VIDEO, NEXT, OF_TRACK, SEGMENT or
    CLIP_LABEL tables) reads as it is read-only (no segments), and opened read-write it gains
    the tables; its frames gain the video graph when the video is ingested again."""
    import ladybug

    from kg import read_observations
    from kg._video import has_video_tables
    from kg.store.embedded import DB_FILE

    with EmbeddedStore(tmp_path / "g") as new:  # a store of today, taken back to the old schema
        init_store(new)
        ingest_observations(new, frames(), video_info=INFO)
    db = ladybug.Database(str(tmp_path / "g" / DB_FILE))
    conn = ladybug.Connection(db)
    for table in ("CLIP_LABEL", "SEGMENT", "OF_TRACK", "NEXT", "IN_VIDEO", "Track", "Video"):
        conn.execute(f"DROP TABLE {table}")
    conn.close()
    db.close()
    with EmbeddedStore(tmp_path / "g", read_only=True) as old:
        assert not has_video_tables(old)
        assert read_segments(old) == [] and read_clip_labels(old) == []
        assert len(read_observations(old)) == 8
    with EmbeddedStore(tmp_path / "g") as store:
        assert has_video_tables(store) and video_graph(store)["videos"] == []
        again = ingest_observations(store, frames(), video_info=INFO)
        assert (again.persons_skipped, again.persons_added) == (8, 0)
        assert video_graph(store) == EXPECTED


def test_infer_on_a_video_builds_its_graph(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`hake infer clip.mp4` (tiny random-weight models, a video written here with PyAV): the
    stored frames and tracked persons have their Video, IN_VIDEO, NEXT, Track and OF_TRACK."""
    import av
    import torch
    from PIL import Image, ImageDraw

    from kg import read_observations
    from kg.cli import main
    from perception._random_models import save_random_models

    torch.set_num_threads(1)
    models = save_random_models(tmp_path / "models", "tiny", seed=0)
    path = tmp_path / "clip.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height = 64, 48
        stream.pix_fmt = "yuv420p"
        for i in range(4):
            img = Image.new("RGB", (64, 48), (20, 120, 60))
            ImageDraw.Draw(img).rectangle([10 + 2 * i, 10, 30 + 2 * i, 40], fill=(250, 250, 250))
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    store_dir = tmp_path / "graph"
    assert main(["init", "--store", str(store_dir)]) == 0
    args = ["infer", str(path), "--threshold", "0", "--device", "cpu", "--store", str(store_dir)]
    for name in ("detector", "pose", "clip"):
        args += [f"--{name}", str(models[name])]
    assert main([*args, "--out", str(tmp_path / "obs.jsonl"), "--json", "--no-progress"]) == 0, (
        capsys.readouterr()
    )
    with EmbeddedStore(store_dir, read_only=True) as store:
        persons = read_observations(store)
        assert persons and all(p.frame_index is not None and p.track_id is not None for p in persons)
        stored_frames = sorted({p.frame_index for p in persons if p.frame_index is not None})
        graph = video_graph(store)
    key = video_key(path.name)
    assert [v["id"] for v in graph["videos"]] == [key]
    assert len(stored_frames) >= 2
    pairs = zip(stored_frames, stored_frames[1:], strict=False)
    assert graph["next"] == {(f"{key}#{a}", f"{key}#{b}") for a, b in pairs}
    tracks = {track_key(path.name, p.track_id) for p in persons if p.track_id is not None}
    assert graph["in_video"] == {(f"{key}#{f}", key) for f in stored_frames} | {(t, key) for t in tracks}
    assert graph["of_track"] == {
        (p.key, track_key(path.name, p.track_id)) for p in persons if p.track_id is not None
    }
    # the Video node holds what the container header says (written at 5 fps, 4 frames)
    from perception.video import read_video_info

    info = read_video_info(path)
    assert info.fps == pytest.approx(5.0) and info.frame_count in (4, None)
    with EmbeddedStore(store_dir, read_only=True) as store:
        (video,) = store.query("MATCH (v:Video) RETURN v.fps AS fps, v.frame_count AS n, v.duration AS d")
    assert (video["fps"], video["n"], video["d"]) == (info.fps, info.frame_count, info.duration)
