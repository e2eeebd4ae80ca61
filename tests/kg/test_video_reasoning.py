"""A synthetic video through perception (tiny random-weight models) and the temporal reasoner
into tracks, activity segments and a clip label that the documented queries return, on both
backends (`Engine.infer`) and through `hake infer` (streaming)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kg import Engine, read_clip_labels, read_segments
from kg.cli import main
from kg.queries import EXAMPLES
from kg.store import EmbeddedStore
from kg.store.base import GraphStore
from ontology.identity import track_key, video_key


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    from perception._random_models import save_random_models

    torch.set_num_threads(1)
    return save_random_models(tmp_path_factory.mktemp("tiny-models"), "tiny", seed=0)


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames at 5 fps: two light figures moving across a green field (PyAV)."""
    import av
    from PIL import Image, ImageDraw

    path = tmp_path_factory.mktemp("video") / "walk.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height = 96, 64
        stream.pix_fmt = "yuv420p"
        for i in range(12):
            img = Image.new("RGB", (96, 64), (20, 120, 60))
            draw = ImageDraw.Draw(img)
            draw.rectangle([8 + 2 * i, 8, 28 + 2 * i, 56], fill=(250, 250, 250))
            draw.rectangle([60 - i, 10, 80 - i, 58], fill=(240, 200, 160))
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _perceiver(models: dict[str, Path]) -> Any:
    from perception import Perceiver

    return Perceiver.from_pretrained(
        detector=str(models["detector"]),
        pose=str(models["pose"]),
        clip=str(models["clip"]),
        device="cpu",
        person_threshold=0.0,
    )


def _query(store: GraphStore, name: str, **params: Any) -> list[dict[str, Any]]:
    example = EXAMPLES[name]
    return store.query(example.cypher, **{**example.params, **params})


def _check_documented_queries(store: GraphStore, video: str) -> None:
    segments = read_segments(store, video)
    (label,) = read_clip_labels(store, video)
    assert segments, "the temporal reasoner found no segment on the clip"
    assert all(s.source == "model" and s.model.endswith("+tcn") for s in segments)
    # the clip label, by the documented query
    (name,) = store.query("MATCH (a:Activity {id: $id}) RETURN a.name AS name", id=label.activity)
    rows = _query(store, "clips_showing", activity=name["name"], min_score=0.0)
    assert [(r["video"], r["source"]) for r in rows] == [(video_key(video), "model")]
    assert rows[0]["score"] == pytest.approx(label.score)
    # what a track did in a window covering its first segment: that segment, by name and time
    first = segments[0]
    assert first.start_time is not None and first.end_time is not None
    (seg_name,) = store.query("MATCH (a:Activity {id: $id}) RETURN a.name AS name", id=first.activity)
    rows = _query(
        store,
        "track_in_window",
        track=track_key(video, first.track_id),
        since=first.start_time,
        until=first.end_time,
    )
    assert (seg_name["name"], pytest.approx(first.start_time), "model") in [
        (r["activity"], r["start_time"], r["source"]) for r in rows
    ]
    # the longest segment of that activity is at least as long as this one
    (longest,) = _query(store, "longest_segment", activity=seg_name["name"], source="model")
    assert longest["frames"] >= first.frames


def test_engine_infer_on_a_video_writes_segments_and_a_clip_label(
    store: GraphStore, tiny_models: dict[str, Path], clip_path: Path
) -> None:
    engine = Engine(store)
    engine.init()
    engine.infer([clip_path], perceiver=_perceiver(tiny_models), top_k=2, progress=False)
    _check_documented_queries(store, clip_path.name)
    # segments lie on stored tracks, inside the frames the video has
    tracks = {r["id"] for r in store.query("MATCH (t:Track) RETURN t.id AS id")}
    for s in read_segments(store, clip_path.name):
        assert s.key in tracks and 0 <= s.start_frame <= s.end_frame <= 11


def test_a_failed_segment_write_leaves_nothing(
    tmp_path: Path, tiny_models: dict[str, Path], clip_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kg._video

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("disk full while staging segments")

    monkeypatch.setattr(kg._video, "stage_clip_labels", broken)
    with EmbeddedStore(tmp_path / "graph") as store:
        engine = Engine(store)
        engine.init()
        with pytest.raises(RuntimeError, match="disk full"):
            engine.infer([clip_path], perceiver=_perceiver(tiny_models), progress=False)
        assert store.query("MATCH (p:Person) RETURN count(p) AS n") == [{"n": 0}]
        assert store.query("MATCH (t:Track) RETURN count(t) AS n") == [{"n": 0}]
        assert read_segments(store) == []


def test_hake_infer_streams_a_video_into_segments(
    tmp_path: Path, tiny_models: dict[str, Path], clip_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_dir = tmp_path / "graph"
    assert main(["init", "--store", str(store_dir)]) == 0
    infer = ["infer", str(clip_path), "--threshold", "0", "--device", "cpu"]
    for name in ("detector", "pose", "clip"):
        infer += [f"--{name}", str(tiny_models[name])]
    assert main([*infer, "--store", str(store_dir), "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (video,) = summary["videos"]
    assert video["video"] == clip_path.name and video["segments"]
    with EmbeddedStore(store_dir, read_only=True) as store:
        _check_documented_queries(store, clip_path.name)
        stored = read_segments(store, clip_path.name)
    assert [(s.track_id, s.activity, s.start_frame, s.end_frame) for s in stored] == sorted(
        (s["track"], s["activity"], s["start_frame"], s["end_frame"]) for s in video["segments"]
    )
    # without a store: observations on stdout, the clip's segments in one line on stderr
    assert main([*infer, "--no-progress"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines and all(json.loads(line)["image_id"] == clip_path.name for line in lines)
    assert f"{clip_path.name}: clip label " in captured.err
    # --no-temporal: no segments
    other = tmp_path / "other"
    assert main(["init", "--store", str(other)]) == 0
    assert main([*infer, "--store", str(other), "--no-temporal", "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["videos"] == []
    with EmbeddedStore(other, read_only=True) as store:
        assert read_segments(store) == [] and store.query("MATCH (t:Track) RETURN count(t) AS n")[0]["n"] > 0


def test_hake_infer_writes_a_videos_segments_to_neo4j(
    tiny_models: dict[str, Path],
    clip_path: Path,
    capsys: pytest.CaptureFixture[str],
    bolt_server: tuple[str, str, str, str],
    neo4j_store: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.kg.conftest import _empty

    _empty(neo4j_store)  # the server is shared between tests
    uri, user, password, database = bolt_server
    for name, value in (("NEO4J_USER", user), ("NEO4J_PASSWORD", password), ("NEO4J_DATABASE", database)):
        monkeypatch.setenv(name, value)
    assert main(["init", "--neo4j", uri]) == 0
    infer = ["infer", str(clip_path), "--threshold", "0", "--device", "cpu", "--neo4j", uri]
    for name in ("detector", "pose", "clip"):
        infer += [f"--{name}", str(tiny_models[name])]
    assert main([*infer, "--json", "--no-progress"]) == 0
    (video,) = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["videos"]
    _check_documented_queries(neo4j_store, clip_path.name)
    assert len(read_segments(neo4j_store, clip_path.name)) == len(video["segments"])
