"""Malformed input to the HAKE readers and to record validation: one-line errors naming the
file, the place and the field, never a traceback; numbers the stores cannot hold exactly are
refused (or, for float32 coordinates, rounded as documented in :mod:`ontology.records`)."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ontology import (
    AnnotationFormatError,
    Box,
    Keypoint,
    PersonObservation,
    RecordError,
    observation_dict,
    read_hake_image,
    read_hake_instance,
)
from ontology.errors import brief_repr
from ontology.hake import MAX_JSON_DEPTH
from ontology.records import FLOAT32_MAX, INT64_MAX

Reader = Callable[..., list[Any]]
READERS: dict[str, Reader] = {"image": read_hake_image, "instance": read_hake_instance}


def image_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "hoi_id": [153],
        "parts_list": [0] * 10,
        "foot_list": [0] * 12,
        "leg_list": [0] * 10,
        "hip_list": [0] * 5,
        "hand_list": [0] * 31,
        "arm_list": [0] * 5,
        "head_list": [0] * 13,
    }
    entry.update(overrides)
    return entry


def pair(**overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "hoi_id": 153,
        "human_bbox": [10, 10, 100, 200],
        "object_bbox": [0, 0, 50, 50],
        "width": 640,
        "height": 480,
        "action_labels": [{"human_part": 6, "partstate": 0}],
    }
    out.update(overrides)
    return out


def instance_entry(**overrides: Any) -> dict[str, Any]:
    return {"dataset": "hico-det", "labels": [pair(**overrides)]}


ENTRY = {"image": image_entry, "instance": instance_entry}


def valid_text(kind: str) -> str:
    """Two valid entries, pretty-printed so that lines mean something."""
    return json.dumps({"a.jpg": ENTRY[kind](), "b.jpg": ENTRY[kind]()}, indent=1)


def nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _fail(reader: Reader, path: Path) -> AnnotationFormatError:
    with pytest.raises(AnnotationFormatError) as caught:
        reader(path)
    err = caught.value
    message = str(err)
    assert "\n" not in message and len(message) < 600, message
    assert message.startswith(str(path)), message
    return err


# ---- file-level problems, both readers ------------------------------------------------------

#: name -> (file name, bytes, words the message must contain)
FILE_CASES: dict[str, Callable[[str], tuple[str, bytes, tuple[str, ...]]]] = {
    "empty": lambda k: ("a.json", b"", ("empty",)),
    "blank": lambda k: ("a.json", b" \n\t\n", ("empty",)),
    "invalid utf-8": lambda k: (
        "a.json",
        valid_text(k).replace('"b.jpg"', '"b\udcff.jpg"', 1).encode("utf-8", "surrogateescape"),
        ("not UTF-8", "0xff", "byte offset 3 in the line"),
    ),
    "binary garbage": lambda k: ("a.json", bytes(range(256)) * 8, ("not UTF-8",)),
    "ascii garbage": lambda k: ("a.json", bytes(range(1, 128)) * 8, ("invalid JSON",)),
    "truncated json": lambda k: ("a.json", valid_text(k).encode()[:-40], ("invalid JSON", "line")),
    "top-level list": lambda k: ("a.json", b"[1, 2]", ("expected a JSON object",)),
    "parser recursion": lambda k: ("a.json", b'{"a.jpg": ' + b"[" * 5000 + b"]" * 5000 + b"}", ("deep",)),
    "nested deeper than the limit": lambda k: (
        "a.json",
        json.dumps({"a.jpg": ENTRY[k](extra=nested(MAX_JSON_DEPTH))}).encode(),
        ("'a.jpg'", f"more than {MAX_JSON_DEPTH} levels"),
    ),
    "5000-digit integer": lambda k: ("a.json", b'{"a.jpg": {"hoi_id": [1' + b"0" * 5000 + b"]}}", ("JSON",)),
    "repeated image key": lambda k: (
        "a.json",
        valid_text(k).replace('"b.jpg"', '"a.jpg"').encode(),
        ("'a.jpg'", "appears twice", "entries 1 and 2"),
    ),
    "repeated key inside an entry": lambda k: (
        "a.json",
        json.dumps({"a.jpg": ENTRY[k]()}).replace('"hoi_id": ', '"hoi_id": 1, "hoi_id": ', 1).encode(),
        ("'a.jpg'", "hoi_id", "appears twice"),
    ),
    "lone surrogate key": lambda k: ("a.json", b'{"\\ud800.jpg": {}}', ("surrogate",)),
    "empty image key": lambda k: ("a.json", json.dumps({"": ENTRY[k]()}).encode(), ("image_id",)),
    "gzip data named .json": lambda k: ("a.json", gzip.compress(valid_text(k).encode()), ("gzip",)),
    "truncated .json.gz": lambda k: (
        "a.json.gz",
        gzip.compress(valid_text(k).encode())[:-30],
        ("truncated",),
    ),
    "corrupt .json.gz": lambda k: (
        "a.json.gz",
        b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"garbage" * 9,
        ("corrupt",),
    ),
    "truncated .tar.gz": lambda k: (
        "a.tar.gz",
        tar_gz({"x/a.json": valid_text(k).encode() * 50})[:-200],
        ("truncated",),
    ),
    "not an archive": lambda k: ("a.tar.gz", b"plain text, not a tar", ("(archive)",)),
    "archive without json": lambda k: ("a.tar.gz", tar_gz({"x/readme.txt": b"hi"}), ("exactly one .json",)),
    "archive with two json": lambda k: (
        "a.tar.gz",
        tar_gz({"a.json": b"{}", "b.json": b"{}"}),
        ("exactly one .json",),
    ),
}


@pytest.mark.parametrize("kind", sorted(READERS))
@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_malformed_file_is_one_line_error(tmp_path: Path, kind: str, case: str) -> None:
    name, data, words = FILE_CASES[case](kind)
    path = tmp_path / name
    path.write_bytes(data)
    message = str(_fail(READERS[kind], path))
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("kind", sorted(READERS))
def test_missing_file_and_directory(tmp_path: Path, kind: str) -> None:
    assert "no such file" in str(_fail(READERS[kind], tmp_path / "missing.json"))
    assert "not a regular file" in str(_fail(READERS[kind], tmp_path))
    (tmp_path / "dir.tar.gz").mkdir()
    assert "not a regular file" in str(_fail(READERS[kind], tmp_path / "dir.tar.gz"))


@pytest.mark.parametrize("kind", sorted(READERS))
def test_depth_limit_and_harmless_lookalikes_are_accepted(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "a.json"
    # MAX_JSON_DEPTH levels in all: file, entry (and labels, pair), the extra key's lists.
    above = {"image": 2, "instance": 4}[kind]
    path.write_text(json.dumps({"a.jpg": ENTRY[kind](extra=nested(MAX_JSON_DEPTH - above))}))
    assert len(READERS[kind](path)) == 1
    path.write_text(json.dumps({"a.jpg": ENTRY[kind](extra=nested(MAX_JSON_DEPTH - above + 1))}))
    assert f"more than {MAX_JSON_DEPTH} levels" in str(_fail(READERS[kind], path))
    # A ':' inside a string and a byte-order mark are not errors; neither is a .json.gz.
    text = json.dumps({"a.jpg": ENTRY[kind](note="x: y"), "b:c.jpg": ENTRY[kind]()})
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert [r.image_id for r in READERS[kind](path)][-1] == "b:c.jpg"
    gz = tmp_path / "a.json.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    assert len(READERS[kind](gz)) >= 2


def test_invalid_utf8_names_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b'{\n "a.jpg": {},\n "b\xc3(": {}\n}')
    err = _fail(read_hake_image, path)
    assert (err.key, err.field) == ("line 3", "(encoding)")
    assert "byte 0xc3 at line 3, byte offset 3 in the line (19 in the file)" in str(err)


def test_repeated_key_deep_inside_a_pair_names_entry_and_path(tmp_path: Path) -> None:
    text = json.dumps({"a.jpg": instance_entry(), "b.jpg": instance_entry()})
    at = text.rindex('"partstate": 0')
    text = text[:at] + '"partstate": 0, ' + text[at:].replace('"partstate": 0', '"partstate": 3', 1)
    path = tmp_path / "a.json"
    path.write_text(text)
    err = _fail(read_hake_instance, path)
    assert (err.key, err.field) == ("b.jpg", "labels[0].action_labels[0].partstate")
    assert "values 0 and 3" in str(err)


# ---- numbers in the instance file ---------------------------------------------------------------

INSTANCE_NUMBERS: dict[str, tuple[str, str]] = {
    "human box beyond float32": ('"human_bbox": [0, 0, 1e39, 10]', "float32 range"),
    "object box beyond float64": ('"object_bbox": [0, 0, 1' + "0" * 400 + ", 10]", "exceeds float64"),
    "object box just beyond float32": ('"object_bbox": [0, 0, 3.4028235e38, 10]', "float32 range"),
    "NaN in a box": ('"human_bbox": [0, 0, NaN, 10]', "a number"),
    "Infinity in a box": ('"human_bbox": [0, 0, Infinity, 10]', "finite"),
    "width beyond int64": ('"width": 9223372036854775808', "1..1000000"),
    "hoi_id as float": ('"hoi_id": 153.0', "integers"),
    "part index huge": ('"human_part": 1' + "0" * 30, "integers in 0..9"),
}


@pytest.mark.parametrize("case", sorted(INSTANCE_NUMBERS))
def test_instance_numbers_the_store_cannot_hold(tmp_path: Path, case: str) -> None:
    replacement, words = INSTANCE_NUMBERS[case]
    field = replacement.split('"')[1]
    text = json.dumps({"a.jpg": instance_entry()})
    start = text.index(f'"{field}"')
    end = text.index("]", start) + 1 if text[text.index(":", start) + 2] == "[" else text.index(",", start)
    path = tmp_path / "a.json"
    path.write_text(text[:start] + replacement + text[end:])
    err = _fail(read_hake_instance, path)
    assert err.key == "a.jpg" and field in err.field and words in str(err), str(err)


def test_instance_boxes_are_float32(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(
        json.dumps({"a.jpg": instance_entry(human_bbox=[0.1, 0, 3.4028234663852886e38, 2**24 + 1])})
    )
    (person,) = read_hake_instance(path)
    assert person.box.to_list() == [0.10000000149011612, 0.0, FLOAT32_MAX, 16777216.0]


# ---- records ---------------------------------------------------------------------------------


def _f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def test_box_rounds_to_float32_and_is_idempotent() -> None:
    box = Box(0.1, 0.2, 123.456, 1e20)
    assert box.to_list() == [_f32(0.1), _f32(0.2), _f32(123.456), _f32(1e20)]
    assert Box.of(box.to_list()) == box
    assert Box(1, 2, 3, 4).to_list() == [1.0, 2.0, 3.0, 4.0] and type(Box(1, 2, 3, 4).x1) is float
    assert Box(-FLOAT32_MAX, 0.0, FLOAT32_MAX, 0.5).to_list() == [-FLOAT32_MAX, 0.0, FLOAT32_MAX, 0.5]


BOX_REFUSED: dict[str, tuple[list[Any], str, str]] = {
    "beyond float32": ([0.0, 0.0, 1e39, 1.0], "x2", "float32 range"),
    "just beyond float32 (rounds down)": ([0.0, 0.0, 5.0, 3.4028235e38], "y2", "float32 range"),
    "negative beyond float32": ([-1e39, 0.0, 1.5, 1.0], "x1", "float32 range"),
    "beyond float32 with a float to round": ([-3.4028235e38, 0.0, 0.1, 1.0], "x1", "float32 range"),
    "int beyond float64": ([0, 0, 10**400, 1], "x2", "exceeds float64"),
    "NaN": ([0.0, 0.0, float("nan"), 1.0], "x2", "a number"),
    "inf": ([0.0, 0.0, float("inf"), float("inf")], "x2", "finite"),
    "bool": ([0.0, 0.0, True, 1.0], "x2", "a number"),
}


@pytest.mark.parametrize("case", sorted(BOX_REFUSED))
def test_box_refused_the_same_on_fast_and_record_paths(case: str) -> None:
    values, field, words = BOX_REFUSED[case]
    messages = []
    for check in (
        lambda: Box.of(values),
        lambda: observation_dict({"image_id": "a", "person_id": "0", "box": values}),
        lambda: PersonObservation.from_dict({"image_id": "a", "person_id": "0", "box": values}),
    ):
        with pytest.raises(RecordError) as caught:
            check()
        assert caught.value.field == field and words in str(caught.value), str(caught.value)
        messages.append(str(caught.value))
    assert len(set(messages)) == 1


def test_observation_dict_is_what_the_record_holds() -> None:
    """``observation_dict`` (fast path) and ``from_dict().to_dict()`` agree, float32 included."""
    dicts = [
        {"image_id": "a", "person_id": "0", "box": [0.1, 0.2, 10.3, 20.7]},
        {"image_id": "a", "person_id": "1", "box": [0.5, 0.25, 10.0, 20.0], "frame_index": INT64_MAX},
        {"image_id": "a", "person_id": "2", "box": [-FLOAT32_MAX, 0.0, 0.1, 0.2], "track_id": INT64_MAX},
        {"image_id": "a", "person_id": "3", "keypoints": [[0.1, 0.2, 0.3]] * 17},
        {"image_id": "a", "person_id": "4", "part_boxes": {"right_hand": [0.1, 0.1, 0.7, 0.9]}},
        {"image_id": "a", "person_id": "5", "objects": [{"object": "bicycle", "box": [0.1, 0, 1, 1]}]},
    ]
    for d in dicts:
        canonical = observation_dict(d)
        assert canonical == PersonObservation.from_dict(d).to_dict()
        assert observation_dict(canonical) == canonical  # rounding is idempotent
    assert observation_dict(dicts[0])["box"] == [_f32(0.1), _f32(0.2), _f32(10.3), _f32(20.7)]
    assert observation_dict(dicts[3])["keypoints"][0] == [_f32(0.1), _f32(0.2), _f32(0.3)]


OBSERVATION_REFUSED: dict[str, tuple[dict[str, Any], str, str]] = {
    "frame_index beyond int64": ({"frame_index": 2**63}, "frame_index", "int64"),
    "track_id beyond int64": ({"track_id": 2**63}, "track_id", "int64"),
    "frame_index as big float": ({"frame_index": 1.8446744073709552e19}, "frame_index", "int64"),
    "timestamp beyond float64": ({"timestamp": 10**400}, "timestamp", "exceeds float64"),
    "keypoint beyond float32": ({"keypoints": [[1e39, 0.0, 0.5]] * 17}, "x", "float32 range"),
    "part box beyond float32": ({"part_boxes": {"right_hand": [0.0, 0.0, 1.0, 4e38]}}, "y2", "float32 range"),
    "object box beyond float32": (
        {"objects": [{"object": "bicycle", "box": [0.0, 0.0, 1.0, 4e38]}]},
        "y2",
        "float32 range",
    ),
}


@pytest.mark.parametrize("case", sorted(OBSERVATION_REFUSED))
def test_observation_numbers_the_store_cannot_hold(case: str) -> None:
    extra, field, words = OBSERVATION_REFUSED[case]
    with pytest.raises(RecordError) as caught:
        observation_dict({"image_id": "a", "person_id": "0", **extra})
    assert caught.value.field == field and words in str(caught.value), str(caught.value)


def test_keypoint_rounds_score_too() -> None:
    assert Keypoint(0.1, 2.0, 0.3).score == _f32(0.3)
    assert Keypoint(0.0, 0.0, 1.0).score == 1.0


def test_messages_stay_short_for_huge_or_deep_values() -> None:
    deep = nested(5000)
    with pytest.raises(RecordError) as caught:
        PersonObservation.from_dict({"image_id": "a", "person_id": "0", "box": deep})
    assert len(str(caught.value)) < 400
    with pytest.raises(RecordError) as caught:
        PersonObservation.from_dict(
            {"image_id": "a", "person_id": "0", **{f"k{i}": i for i in range(10_000)}}
        )
    assert len(str(caught.value)) < 1000
    assert brief_repr("x" * 10_000).endswith("'") and len(brief_repr("x" * 10_000)) <= 240
