from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

import ontology
from ontology import AnnotationFormatError, read_hake_image, read_hake_instance


def _image_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "hoi_id": [153, 156],
        "parts_list": [1, 1, 1, 1, 1, 0, 1, 0, 0, 1],
        "foot_list": [1] + [0] * 11,
        "leg_list": [0] * 6 + [1] + [0] * 3,
        "hip_list": [1, 0, 0, 0, 0],
        "hand_list": [1] + [0] * 30,
        "arm_list": [0, 0, 0, 0, 1],
        "head_list": [0] * 12 + [1],
    }
    entry.update(overrides)
    return entry


def _pair(hoi: int, box: list[int], labels: list[tuple[int, int]] | None) -> dict[str, Any]:
    pair: dict[str, Any] = {
        "hoi_id": hoi,
        "human_bbox": box,
        "object_bbox": [0, 0, 50, 50],
        "width": 640,
        "height": 480,
    }
    if labels is not None:
        pair["action_labels"] = [{"human_part": p, "partstate": s} for p, s in labels]
    return pair


def _write(tmp_path: Path, data: object, name: str = "ann.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_image_level_fixture(tmp_path: Path) -> None:
    path = _write(tmp_path, {"a.jpg": _image_entry(), "b.jpg": _image_entry(hoi_id=[])})
    a, b = read_hake_image(path)
    onto = ontology.load()
    assert a.image_id == "a.jpg"
    assert [onto.activities[x].hoi_id for x in a.activities] == [153, 156]
    assert a.part_states == (
        "foot_stand_on",
        "leg_straddle",
        "hip_sit_on",
        "hand_hold",
        "arm_no_interaction",
        "head_no_interaction",
    )
    assert a.active_parts == (
        "right_foot",
        "right_leg",
        "left_leg",
        "left_foot",
        "mid_hip",
        "right_hand",
        "left_hand",
    )
    assert b.activities == ()


def test_instance_level_merges_near_identical_boxes(tmp_path: Path) -> None:
    entry = {
        "dataset": "hico-det",
        "path_prefix": "x",
        "labels": [
            _pair(153, [208, 33, 427, 300], [(6, 0), (4, 0)]),  # hand: hold, hip: sit on
            _pair(156, [209, 26, 444, 317], [(1, 6)]),  # same person (IoU 0.88): leg: straddle
            _pair(155, [500, 10, 600, 100], None),  # another person, no part states
            _pair(154, [210, 30, 430, 300], [(6, 0)]),  # the first person again
        ],
    }
    path = _write(tmp_path, {"img.jpg": entry, "empty.jpg": {"labels": []}})
    first, second = read_hake_instance(path)
    assert (first.person_id, first.pairs, second.person_id, second.pairs) == ("0", 3, "1", 1)
    assert first.part_states == ("hand_hold", "hip_sit_on", "leg_straddle")
    assert first.active_parts == ("right_hand", "mid_hip", "right_leg")
    assert [ontology.load().activities[a].hoi_id for a in first.activities] == [153, 156, 154]
    assert (first.state_labels, first.pairs_without_states) == (4, 0)
    assert (second.part_states, second.pairs_without_states) == ((), 1)
    assert first.box == ontology.Box(208, 33, 427, 300)
    assert [o.object for o in first.objects] == ["motorcycle"] * 3
    obs = first.to_observation()
    assert obs.part_states == {"hand_hold": 1.0, "hip_sit_on": 1.0, "leg_straddle": 1.0}


def _pair_with(hoi: int, human: list[int], obj: list[int]) -> dict[str, Any]:
    return {**_pair(hoi, human, None), "object_bbox": obj}


def test_pairs_align_activities_to_object_instances(tmp_path: Path) -> None:
    onto = ontology.load()
    hoi = {
        onto.activities[a].name: onto.activities[a].hoi_id
        for a in ("hold-cup", "drink_with-cup", "ride-bicycle")
    }
    left, right = [0, 0, 100, 200], [300, 0, 400, 200]
    cup_a, cup_b = [80, 50, 110, 80], [290, 50, 320, 80]
    entry = {
        "labels": [
            _pair_with(hoi["hold cup"], left, cup_a),
            _pair_with(hoi["drink_with cup"], [1, 0, 100, 201], [81, 50, 111, 81]),  # same person, same cup
            _pair_with(hoi["hold cup"], right, cup_b),  # the other person, the other cup
            _pair_with(hoi["ride bicycle"], right, cup_b),  # same box, another class: a new instance
            _pair_with(hoi["hold cup"], right, cup_b),  # a repeated pair: one interaction
        ]
    }
    (image,) = ontology.read_hake_pairs(_write(tmp_path, {"img.jpg": entry}))
    assert [p.person_id for p in image.persons] == ["0", "1"]
    assert [(o.object_id, o.object, o.box.to_list()) for o in image.objects] == [
        ("0", "cup", [80.0, 50.0, 110.0, 80.0]),
        ("1", "cup", [290.0, 50.0, 320.0, 80.0]),
        ("2", "bicycle", [290.0, 50.0, 320.0, 80.0]),
    ]
    assert [(i.person_id, i.activity, i.object_id) for i in image.interactions] == [
        ("0", "hold-cup", "0"),
        ("0", "drink_with-cup", "0"),
        ("1", "hold-cup", "1"),
        ("1", "ride-bicycle", "2"),
    ]
    assert (image.width, image.height) == (640, 480)
    assert image.objects[1].key == "img.jpg/1"
    # read_hake_instance gives the same persons
    assert list(image.persons) == read_hake_instance(_write(tmp_path, {"img.jpg": entry}, "again.json"))


def test_hoi_annotation_refuses_inconsistent_interactions() -> None:
    box = ontology.Box(0, 0, 10, 10)
    person = ontology.PersonAnnotation("a", "0", box, (), (), ("hold-cup",), (), 1, 10, 10)
    cup = ontology.ObjectInstance("a", "0", "cup", box)
    bike = ontology.ObjectInstance("a", "1", "bicycle", box)

    def image(*interactions: ontology.Interaction) -> ontology.HoiAnnotation:
        return ontology.HoiAnnotation("a", 10, 10, (person,), (cup, bike), interactions)

    assert len(image(ontology.Interaction("0", "hold-cup", "0")).interactions) == 1
    with pytest.raises(ontology.RecordError, match="instance of class 'cup'"):
        image(ontology.Interaction("0", "hold-cup", "1"))
    with pytest.raises(ontology.RecordError, match="one of"):
        image(ontology.Interaction("0", "hold-cup", "7"))
    with pytest.raises(ontology.RecordError, match="a person of the image"):
        image(ontology.Interaction("3", "hold-cup", "0"))
    with pytest.raises(ontology.RecordError, match="an object instance of class 'cup'"):
        image(ontology.Interaction("0", "hold-cup", None))
    with pytest.raises(ontology.RecordError, match="each interaction once"):
        image(ontology.Interaction("0", "hold-cup", "0"), ontology.Interaction("0", "hold-cup", "0"))
    with pytest.raises(ontology.RecordError, match="a known object"):
        ontology.ObjectInstance("a", "0", "unicorn", box)


def test_reads_tar_gz(tmp_path: Path) -> None:
    payload = json.dumps({"a.jpg": _image_entry()}).encode()
    archive = tmp_path / "ann.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("dir/ann.json")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    assert [a.image_id for a in read_hake_image(archive)] == ["a.jpg"]


@pytest.mark.parametrize(
    ("entry", "field", "problem"),
    [
        (_image_entry(hoi_id=[601]), "hoi_id", "expected integers in 1..600, got 601"),
        (_image_entry(parts_list=[1, 0]), "parts_list", "expected 10 entries, got 2"),
        (_image_entry(hand_list=[2] + [0] * 30), "hand_list", "got 2"),
        ({k: v for k, v in _image_entry().items() if k != "head_list"}, "head_list", "missing"),
        ([1, 2], "(entry)", "expected a JSON object"),
    ],
)
def test_image_level_bad_input_names_file_key_field(
    tmp_path: Path, entry: object, field: str, problem: str
) -> None:
    path = _write(tmp_path, {"good.jpg": _image_entry(), "bad.jpg": entry})
    with pytest.raises(AnnotationFormatError) as err:
        read_hake_image(path)
    message = str(err.value)
    assert str(path) in message and "'bad.jpg'" in message and f"field {field!r}" in message
    assert problem in message


@pytest.mark.parametrize(
    ("pair", "field", "problem"),
    [
        (_pair(0, [0, 0, 10, 10], None), "labels[0].hoi_id", "1..600"),
        (_pair(1, [10, 0, 5, 10], None), "labels[0].human_bbox", "x2 >= x1"),
        (_pair(1, [0, 0, 10, 10], [(10, 0)]), "labels[0].action_labels[0].human_part", "0..9"),
        (_pair(1, [0, 0, 10, 10], [(4, 4)]), "labels[0].action_labels[0].partstate", "0..3"),
        ({"hoi_id": 1, "object_bbox": [0, 0, 1, 1]}, "labels[0].human_bbox", "missing"),
    ],
)
def test_instance_level_bad_input_names_file_key_field(
    tmp_path: Path, pair: object, field: str, problem: str
) -> None:
    path = _write(tmp_path, {"bad.jpg": {"labels": [pair]}})
    with pytest.raises(AnnotationFormatError) as err:
        read_hake_instance(path)
    message = str(err.value)
    assert "'bad.jpg'" in message and f"field {field!r}" in message and problem in message


def test_bad_json_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"a.jpg": {"labels": [}')
    with pytest.raises(AnnotationFormatError, match=r"broken.json.*invalid JSON at line 1"):
        read_hake_instance(path)
    with pytest.raises(AnnotationFormatError, match="no such file"):
        read_hake_image(tmp_path / "nope.json")
    with pytest.raises(AnnotationFormatError, match="expected a JSON object keyed by image name"):
        read_hake_image(_write(tmp_path, [1, 2, 3]))


@pytest.mark.slow
def test_full_image_level_file(hake_dir: Path) -> None:
    images = read_hake_image(hake_dir / "hico-image-level.tar.gz")
    assert len(images) == 38_118
    assert sum(len(i.activities) for i in images) == 65_273


@pytest.mark.slow
def test_full_instance_level_file(hake_dir: Path) -> None:
    persons = read_hake_instance(hake_dir / "hico-det-instance-level.tar.gz")
    assert len({p.image_id for p in persons}) <= 38_118
    assert sum(p.pairs for p in persons) == 117_654
    assert sum(p.state_labels for p in persons) == 224_332
    # 15,204 pairs have no action_labels key and 302 an empty list: all are kept.
    assert sum(p.pairs_without_states for p in persons) == 15_204 + 302
    # Merging: fewer persons than pairs, and every person's id is unique within its image.
    assert 50_000 < len(persons) < 117_654
    assert len({(p.image_id, p.person_id) for p in persons}) == len(persons)


@pytest.mark.slow
def test_full_instance_level_file_as_pairs(hake_dir: Path) -> None:
    images = ontology.read_hake_pairs(hake_dir / "hico-det-instance-level.tar.gz")
    # every pair is an interaction; 548 pairs repeat one (same person, activity and instance)
    assert sum(len(i.interactions) for i in images) == 117_106
    # merging same-class object boxes: fewer instances than pairs
    assert 40_000 < sum(len(i.objects) for i in images) < 117_106
