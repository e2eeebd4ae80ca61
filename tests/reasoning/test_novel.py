"""The novel-verb protocol: the default list, the extension it writes, and one short run on
the real HAKE image-level data."""

from __future__ import annotations

from pathlib import Path

import pytest

import ontology
from reasoning import (
    ActivityReasoner,
    TrainOptions,
    default_novel_verbs_path,
    evaluate_novel_verbs,
    read_novel_verbs,
)
from reasoning.novel import choose_novel_verbs, novel_extension_yaml

PACKAGED = ontology.load()


def test_the_default_list_is_the_seeded_choice() -> None:
    verbs = read_novel_verbs(default_novel_verbs_path())
    assert verbs == choose_novel_verbs(PACKAGED) and len(verbs) == 12
    per_verb = {v: sum(a.verb == v for a in PACKAGED.activities) for v in verbs}
    assert all(3 <= n <= 20 for n in per_verb.values())
    assert choose_novel_verbs(PACKAGED, seed=1) != verbs


def test_a_verb_list_names_its_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "verbs.txt"
    path.write_text("# held out\nride\n\nfeeed  # a typo\n")
    with pytest.raises(
        ontology.ReasoningError, match=r"verbs.txt:4: expected a verb id or name, got 'feeed'.*feed"
    ):
        read_novel_verbs(path)
    path.write_text("# nothing\n")
    with pytest.raises(ontology.ReasoningError, match="lists none"):
        read_novel_verbs(path)
    with pytest.raises(FileNotFoundError):
        read_novel_verbs(tmp_path / "missing.txt")


def test_the_extension_adds_the_verbs_back(tmp_path: Path) -> None:
    verbs = ["ride", "open", "read"]
    base = PACKAGED.without_verbs(verbs)
    path = tmp_path / "novel.yaml"
    path.write_text(novel_extension_yaml(PACKAGED, verbs))
    target = base.extend(path)
    assert base.is_subset_of(target) and len(target.activities) == 600
    pairs = {(a.verb, a.object) for a in target.activities}
    assert pairs == {(a.verb, a.object) for a in PACKAGED.activities}
    assert all(not a.part_states for a in list(target.activities)[len(base.activities) :])


@pytest.mark.slow
def test_a_short_protocol_run_on_hake(hake_dir: Path, tmp_path: Path) -> None:
    result = evaluate_novel_verbs(
        hake_dir,
        shots=(1,),
        options=TrainOptions(epochs=2),
        fine_tune=TrainOptions(epochs=1, lr=1e-3),
        out_dir=tmp_path,
    )
    assert result["verbs"] == read_novel_verbs(default_novel_verbs_path())
    assert result["n_novel_activities"] == 81 and 0 < result["n_novel_test"] <= 81
    # carrying the checkpoint over changes no score of an activity it knew
    assert result["zero_shot_seen_mAP"] == result["seen_mAP_before"]
    for key in ("zero_shot_mAP", "zero_shot_rule_mAP", "seen_mAP_before"):
        assert 0.0 < result[key] <= 100.0
    assert set(result["few_shot"]) == {"1"} and result["few_shot"]["1"]["n_images"] >= 66
    base = ActivityReasoner.from_pretrained(tmp_path / "base")
    assert "ride" not in base.ontology.verbs and len(base.ontology.activities) == 600 - 81
    assert (tmp_path / "novel-verbs.yaml").is_file()
