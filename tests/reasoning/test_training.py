from __future__ import annotations

from pathlib import Path

import pytest

import reasoning
from reasoning import ActivityReasoner, GNNConfig, TrainOptions
from tests.reasoning.synthetic import write_image_level

KEYS = {"mAP", "few@1", "few@5", "few@10", "unseen_mAP", "n_classes", "train_seconds"}


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image_level(tmp_path_factory.mktemp("hake"), n=400, seed=0)


@pytest.mark.parametrize("model", ["gnn", "mlp", "linear", "rule"])
def test_evaluate_on_synthetic_data(synthetic_dir: Path, model: str) -> None:
    opts = None if model == "rule" else TrainOptions(epochs=15, batch_size=64, lr=1e-2)
    config = GNNConfig(hidden=4, query_hidden=8) if model == "gnn" else None
    m = reasoning.evaluate(synthetic_dir, task="hake-image", model=model, options=opts, config=config)
    assert KEYS <= set(m)
    assert m["n_classes"] == 6 and m["n_train"] + m["n_test"] == 400 and m["n_test"] == 80
    assert m["unseen_mAP"] is None
    # the synthetic activities follow from their part states and objects
    assert m["mAP"] > 90, m


def test_evaluate_with_unseen_file(synthetic_dir: Path, tmp_path: Path) -> None:
    unseen = tmp_path / "unseen.txt"
    unseen.write_text("# held out\nride-horse\n")
    opts = TrainOptions(epochs=15, batch_size=64, lr=1e-2)
    m = reasoning.evaluate(
        synthetic_dir, model="gnn", unseen_file=unseen, options=opts, config=GNNConfig(hidden=4)
    )
    assert m["n_unseen"] == 1 and m["unseen_mAP"] is not None
    assert m["few@1"] is not None and m["n_few@1"] == 1  # the unseen class has 0 training images
    # ride-horse is found through "ride" (ride-bicycle) and the horse (feed-horse) alone
    assert m["unseen_mAP"] > 50, m


def test_evaluate_rejects_bad_choices(synthetic_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown task 'hake-video'; expected one of \['hake-image'"):
        reasoning.evaluate(synthetic_dir, task="hake-video")
    with pytest.raises(ValueError, match=r"unknown model 'svm'; expected one of \['gnn', 'linear'"):
        reasoning.evaluate(synthetic_dir, model="svm")
    with pytest.raises(FileNotFoundError, match="hico-det-instance-level.tar.gz"):
        reasoning.evaluate(synthetic_dir, task="hake-instance")
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        reasoning.evaluate(synthetic_dir, model="rule", test_fraction=1.5)


def test_train_saves_a_checkpoint_with_provenance(synthetic_dir: Path, tmp_path: Path) -> None:
    reasoner = reasoning.train(
        synthetic_dir,
        task="hake-image",
        model="mlp",
        out_dir=tmp_path / "mlp",
        options=TrainOptions(epochs=2, batch_size=128),
        metrics={"seed 0": {"mAP": 99.0}},
    )
    assert reasoner.provenance["training_data"]["examples"] == 400
    back = ActivityReasoner.from_pretrained(tmp_path / "mlp")
    assert back.kind == "mlp" and back.provenance["metrics"] == {"seed 0": {"mAP": 99.0}}
    with pytest.raises(ValueError, match="unknown task"):
        reasoning.train(synthetic_dir, task=["hake-image", "nope"])


def test_training_progress_says_how_long_is_left(
    synthetic_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    opts = TrainOptions(epochs=3, batch_size=64, lr=1e-2)
    reasoning.evaluate(synthetic_dir, task="hake-image", model="linear", options=opts, progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all(" elapsed, about " in line and line.endswith(" left") for line in lines)
    assert lines[-1].endswith("about 0 s left")
