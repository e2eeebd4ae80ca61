"""`hake infer` end to end on tiny random-weight checkpoints (saved and loaded like real ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kg.cli import main
from kg.ingest import read_observations_jsonl


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    from perception._random_models import save_random_models

    torch.set_num_threads(1)
    return save_random_models(tmp_path_factory.mktemp("tiny-models"), "tiny", seed=0)


def _two_photos(tmp_path: Path) -> Path:
    """A folder of two plain photos."""
    images = tmp_path / "photos"
    images.mkdir()
    for i in range(2):
        Image.new("RGB", (96, 128), color=(40 * i, 90, 160)).save(images / f"p{i}.png")
    return images


def _tiny_perceiver(tiny_models: dict[str, Path], **options: Any) -> Any:
    """The tiny random-weight models keeping every detection (thresholds 0)."""
    from perception import Perceiver

    return Perceiver.from_pretrained(
        detector=tiny_models["detector"],
        pose=tiny_models["pose"],
        clip=tiny_models["clip"],
        device="cpu",
        person_threshold=0.0,
        object_threshold=0.0,
        **options,
    )


def test_infer_writes_valid_observations_and_ingests(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = _two_photos(tmp_path)
    out = tmp_path / "obs.jsonl"
    store = tmp_path / "graph"
    assert main(["init", "--store", str(store)]) == 0
    code = main(
        [
            "infer",
            str(images),
            "--detector",
            str(tiny_models["detector"]),
            "--pose",
            str(tiny_models["pose"]),
            "--clip",
            str(tiny_models["clip"]),
            "--threshold",
            "0",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--store",
            str(store),
            "--json",
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    records = read_observations_jsonl(out)  # validates every record
    assert summary["persons"] == len(records) > 0
    assert {r.image_id for r in records} == {"p0.png", "p1.png"}
    assert all(r.part_states and r.keypoints is not None for r in records)
    assert summary["ingested"]["persons_added"] == len(records)


def test_infer_stores_the_object_instances_once(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hake infer --store` writes the object instances perception detected in the same load
    as the persons (each person's detected objects name stored instances); the same inputs
    again add nothing. `hake export --format graphml` then holds them, `--ontology-only` not."""
    import networkx as nx

    from kg import EmbeddedStore
    from ontology.identity import object_key

    images = _two_photos(tmp_path)
    perceiver = _tiny_perceiver(tiny_models)
    perceived = {o.key: o.object for s in perceiver.iter_scenes([images], progress=False) for o in s.objects}
    assert perceived  # (the tiny detector at threshold 0 finds objects)
    store = tmp_path / "graph"
    out = tmp_path / "obs.jsonl"
    assert main(["init", "--store", str(store)]) == 0
    args = ["infer", str(images), "--detector", str(tiny_models["detector"])]
    args += ["--pose", str(tiny_models["pose"]), "--clip", str(tiny_models["clip"]), "--device", "cpu"]
    args += ["--threshold", "0", "--object-threshold", "0", "--store", str(store), "--no-progress"]
    code = main([*args, "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    ingested = json.loads(captured.out.strip().splitlines()[-1])["ingested"]
    assert ingested["object_instances_added"] == len(perceived)
    assert ingested["object_instances_skipped"] == 0
    count = "MATCH (o:ObjectInstance)-[:IN_IMAGE]->(:Image) RETURN count(o) AS n"
    with EmbeddedStore(store, read_only=True) as s:
        assert s.query(count) == [{"n": len(perceived)}]
        stored = {
            r["id"]: r["c"]
            for r in s.query("MATCH (o:ObjectInstance)-[:IS_A]->(c:Object) RETURN o.id AS id, c.id AS c")
        }
    assert stored == perceived
    records = read_observations_jsonl(out)
    named = [
        (object_key(r.image_key, o.object_id), o.object) for r in records for o in r.objects if o.object_id
    ]
    assert named and all(stored.get(key) == cls for key, cls in named)

    assert main(args) == 0  # the same inputs again: persons skipped, instances not duplicated
    said = capsys.readouterr().out
    assert f"0 added to the store, {len(records)} already there" in said
    assert f"0 object instances added, {len(perceived)} already there" in said
    with EmbeddedStore(store, read_only=True) as s:
        assert s.query(count) == [{"n": len(perceived)}]

    export = ["export", "--format", "graphml", "--store", str(store), "--no-progress"]
    assert main([*export, "--out", str(tmp_path / "all.graphml")]) == 0
    assert main([*export, "--out", str(tmp_path / "onto.graphml"), "--ontology-only"]) == 0
    labels = [d["label"] for _, d in nx.read_graphml(tmp_path / "all.graphml").nodes(data=True)]
    assert labels.count("ObjectInstance") == len(perceived)
    onto = nx.read_graphml(tmp_path / "onto.graphml")
    assert "ObjectInstance" not in {d["label"] for _, d in onto.nodes(data=True)}
    assert main(["export", "--format", "ttl", "--out", str(tmp_path / "g.ttl"), "--store", str(store),
                 "--ontology-only"]) == 2  # fmt: skip
    assert "--ontology-only is for GraphML" in capsys.readouterr().err


def test_infer_missing_checkpoint_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    code = main(
        [
            "infer",
            str(tmp_path / "a.png"),
            "--detector",
            str(tmp_path / "no-such-model"),
            "--pose",
            "none",
            "--clip",
            "none",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "no-such-model" in err and len(err.strip().splitlines()) == 1


def _no_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty Hub cache and no Hub (offline mode), as on a machine without the weights."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def _fail_if_a_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import perception.detector

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded before the inputs and checkpoints were checked")

    monkeypatch.setattr(perception.detector.Detector, "from_pretrained", refuse)


def test_infer_names_a_missing_input_before_loading_models(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fail_if_a_model_loads(monkeypatch)
    assert main(["infer", str(tmp_path / "missing.jpg"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.jpg: no such file or directory" in err
    (tmp_path / "empty").mkdir()
    assert main(["infer", str(tmp_path / "empty"), "--no-progress"]) == 1
    assert "no image or video files in" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["infer", "demo"])
def test_without_weights_one_line_names_every_checkpoint(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No cache and no Hub: one line, before any model loads (or the demo's store is made),
    naming each default checkpoint with its size and the command that fetches it."""
    _no_hub(monkeypatch, tmp_path)
    _fail_if_a_model_loads(monkeypatch)
    Image.new("RGB", (32, 32)).save(tmp_path / "a.jpg")
    args = ["infer", str(tmp_path / "a.jpg"), "--no-progress"] if command == "infer" else [
        "demo", "--image", str(tmp_path / "a.jpg"), "--out", str(tmp_path / "demo")
    ]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "3 checkpoint(s) needed cannot be loaded" in err
    for name, size in (
        ("PekingU/rtdetr_r50vd", 170),
        ("usyd-community/vitpose-base-simple", 360),
        ("openai/clip-vit-base-patch32", 605),
    ):
        assert f"about {size} MB: hf download {name}" in err
    assert not (tmp_path / "demo").exists()


def test_cached_or_local_checkpoints_pass_the_check(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from perception import Perceiver

    _no_hub(monkeypatch, tmp_path)
    Perceiver.check_checkpoints(tiny_models["detector"], tiny_models["pose"], tiny_models["clip"])
    Perceiver.check_checkpoints(tiny_models["detector"], None, None)
    # a Hub checkpoint in the cache (the layout huggingface_hub writes) passes offline
    repo = tmp_path / "empty-hub-cache" / "models--org--detector"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (repo / "snapshots" / "abc123" / name).write_text("{}")
    Perceiver.check_checkpoints("org/detector", None, None)
    (repo / "snapshots" / "abc123" / "model.safetensors").unlink()  # config without weights
    with pytest.raises(Exception, match=r"detector org/detector \(not cached: hf download org/detector\)"):
        Perceiver.check_checkpoints("org/detector", None, None)
    with pytest.raises(Exception, match=r"1 checkpoint\(s\).*pose .*nowhere \(no such directory\)"):
        Perceiver.check_checkpoints(tiny_models["detector"], tmp_path / "nowhere", None)


def test_doctor_says_what_is_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_hub(monkeypatch, tmp_path)
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reasoner"]["found"] is True and report["hub_reachable"] is False
    assert [(c["name"], c["cached"]) for c in report["image_checkpoints"]] == [
        ("PekingU/rtdetr_r50vd", False),
        ("usyd-community/vitpose-base-simple", False),
        ("openai/clip-vit-base-patch32", False),
    ]
    assert report["packages"]["torch"].startswith("2.13")
    assert main(["doctor"]) == 0
    assert "images: not ready" in capsys.readouterr().out


def test_infer_perceives_the_part_states_of_the_stores_ontology(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store of an extended ontology: `hake infer` scores the extension's part states too
    (zero-shot prompts from their names) and the store takes them."""
    import torch

    import ontology
    from kg import EmbeddedStore, read_observations
    from perception._random_models import save_random_models

    torch.set_num_threads(1)
    ext = ontology.load(ontology.example_extension())
    models = save_random_models(tmp_path / "models", "tiny", seed=0, ontology=ext)
    Image.new("RGB", (96, 128), color=(40, 90, 160)).save(tmp_path / "p.png")
    store = tmp_path / "graph"
    assert main(["init", "--ontology", str(ontology.example_extension()), "--store", str(store)]) == 0
    args = [
        "infer",
        str(tmp_path / "p.png"),
        "--detector",
        str(models["detector"]),
        "--pose",
        str(models["pose"]),
    ]
    args += ["--clip", str(models["clip"]), "--threshold", "0", "--store", str(store), "--no-progress"]
    assert main(args) == 0, capsys.readouterr().err
    with EmbeddedStore(store, read_only=True) as s:
        people = read_observations(s)
    assert people and all("hand_wave" in p.part_states and "leg_squat" in p.part_states for p in people)


@pytest.mark.parametrize("backend", ["embedded", "neo4j"])
def test_engine_infer_writes_instances_and_triplets(
    tiny_models: dict[str, Path], tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """Images -> perception (tiny models) -> persons, object instances, predictions and the
    instance each prediction concerns, in the store; the same scenes as perception gives."""
    import ontology
    from kg import EmbeddedStore, Engine
    from kg.ingest import init_store

    images = _two_photos(tmp_path)
    perceiver = _tiny_perceiver(tiny_models, max_persons=3)
    scenes = list(perceiver.iter_scenes([images], progress=False))
    instances = {o.key: o for scene in scenes for o in scene.objects}
    assert instances and any(p.objects for scene in scenes for p in scene.persons)
    if backend == "embedded":
        store = EmbeddedStore(tmp_path / "graph")
    else:
        store = request.getfixturevalue("neo4j_store")
        store.execute("MATCH (n) DETACH DELETE n")
    try:
        init_store(store)
        engine = Engine(store)
        predictions = engine.infer([images], perceiver=perceiver, top_k=40, progress=False)
        stored = {
            r["id"]: r["c"]
            for r in store.query("MATCH (o:ObjectInstance)-[:IS_A]->(c:Object) RETURN o.id AS id, c.id AS c")
        }
        assert stored == {k: o.object for k, o in instances.items()}
        onto = ontology.load()
        named = [p for person in predictions for p in person if p.object_id is not None]
        assert named  # (among the 40 best, activities of the objects near a person)
        for p in (p for person in predictions for p in person):
            wanted = onto.activities[p.activity].object
            classes_here = {o.object for o in instances.values() if o.image_id == p.image_id}
            # an activity names an instance exactly when its image holds one of its class
            assert (p.object_id is not None) == (wanted in classes_here), p
            if p.object_id is not None:
                assert instances[str(p.object_key)].object == wanted
        edges = store.query(
            "MATCH (p:Person)-[x:INTERACTS_WITH]->(o:ObjectInstance) "
            "RETURN p.id AS p, x.activity AS a, o.id AS o, x.source AS s"
        )
        assert sorted((e["p"], e["a"], e["o"]) for e in edges) == sorted(
            (p.key, p.activity, str(p.object_key)) for p in named
        )
        assert {e["s"] for e in edges} <= {"model"}
    finally:
        if backend == "embedded":
            store.close()
