from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ontology
from reasoning.tasks import (
    choose_unseen,
    default_unseen_path,
    drop_unseen,
    encode_annotations,
    load_task,
    read_unseen,
    split_by_image,
)


def test_split_is_by_image_and_seeded() -> None:
    groups = ["b", "a", "a", "c", "d", "e", "c"]
    s = split_by_image(groups, seed=0, test_fraction=0.4)
    assert sorted(s.train.tolist() + s.test.tolist()) == list(range(7))
    test_images = {groups[i] for i in s.test.tolist()}
    assert len(test_images) == 2  # round(0.4 * 5 images)
    assert not test_images & {groups[i] for i in s.train.tolist()}
    again = split_by_image(list(groups), seed=0, test_fraction=0.4)
    assert torch.equal(again.test, s.test)
    other = [split_by_image(groups, seed=k, test_fraction=0.4).test.tolist() for k in range(1, 6)]
    assert any(t != s.test.tolist() for t in other)
    with pytest.raises(ValueError, match="leaves one side empty"):
        split_by_image(["a", "b"], test_fraction=0.1)


def test_read_unseen_accepts_ids_names_and_hoi_ids(tmp_path: Path) -> None:
    acts = ontology.load().activities
    f = tmp_path / "u.txt"
    f.write_text("# comment\nride-horse\n\nride horse  # same\n1\n")
    assert read_unseen(f) == sorted({acts["ride-horse"].index, acts.by_hoi_id(1).index})
    f.write_text("ride-unicorn\n")
    with pytest.raises(ValueError, match=r"u.txt:1: expected an activity id"):
        read_unseen(f)
    f.write_text("# nothing\n")
    with pytest.raises(ValueError, match="lists none"):
        read_unseen(f)
    with pytest.raises(FileNotFoundError):
        read_unseen(tmp_path / "missing.txt")


def test_default_unseen_list_is_120_compositions() -> None:
    onto = ontology.load()
    ids = read_unseen(default_unseen_path())
    assert len(ids) == 120
    listed = {onto.activities[i].id for i in ids}
    for i in ids:
        a = onto.activities[i]
        # verb and object each appear in some activity that is not held out
        assert any(b.verb == a.verb and b.id not in listed for b in onto.activities)
        assert any(b.object == a.object and b.id not in listed for b in onto.activities)


def test_drop_unseen_removes_carriers() -> None:
    y = torch.zeros(4, 600)
    y[0, 3] = y[1, 5] = y[2, 3] = y[2, 7] = 1
    assert drop_unseen(torch.arange(4), y, [3]).tolist() == [1, 3]
    assert drop_unseen(torch.arange(4), y, []).tolist() == [0, 1, 2, 3]


def test_encode_annotations_matches_encode_observations() -> None:
    from reasoning.features import encode_observations

    ann = ontology.ImageAnnotation(
        image_id="i",
        activities=("ride-bicycle", "hold-bicycle"),
        part_states=("hand_hold", "hip_sit_on"),
        active_parts=(ontology.load().body_parts[4].id,),
    )
    x, y = encode_annotations([ann])
    assert torch.equal(x, encode_observations([ann.to_observation()]))
    assert y.sum() == 2


@pytest.mark.slow
def test_hake_image_task_and_default_unseen_list(hake_dir: Path) -> None:
    data = load_task(hake_dir, "hake-image")
    assert data.x.shape == (38118, 183) and data.y.shape == (38118, 600)
    assert int(data.y.sum()) == 65273
    # the packaged list is reproducible from the data by its documented rule
    assert choose_unseen(data.y) == read_unseen(default_unseen_path())
    split = split_by_image(data.groups, seed=0, test_fraction=0.2)
    assert split.test.numel() == 7624
