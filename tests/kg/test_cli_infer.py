"""`hake infer` end to end on tiny random-weight checkpoints (saved and loaded like real ones)."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_infer_writes_valid_observations_and_ingests(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "photos"
    images.mkdir()
    for i in range(2):
        Image.new("RGB", (96, 128), color=(40 * i, 90, 160)).save(images / f"p{i}.png")
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
