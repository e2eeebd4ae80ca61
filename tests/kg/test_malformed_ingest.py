"""Malformed input to ``hake ingest {observations,hake-image,hake-instance}``: exit code 1,
exactly one line on stderr naming the file, and the store's content unchanged; a failed
ingest into a folder without a store leaves no database behind. The observations reader
(:func:`kg.ingest.read_observations_jsonl`) is also checked directly, case by case."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ontology
from kg.cli import main
from kg.ingest import read_observations_jsonl
from kg.schema import NODES, RELS
from kg.store import EmbeddedStore
from ontology import AnnotationFormatError, observation_dict
from ontology.hake import MAX_JSON_DEPTH
from tests.ontology.test_malformed import image_entry, instance_entry

OK_LINE = {"image_id": "a.jpg", "person_id": "0", "box": [0.0, 0.0, 10.0, 20.0]}
#: Coordinates that are not float32: the store must give back what validation returned.
ROUNDED = {
    "image_id": "rounded.jpg",
    "person_id": "0",
    "box": [0.1, 0.2, 10.3, 20.7],
    "keypoints": [[0.1 * i, 0.2 * i, 0.3] for i in range(17)],
    "part_boxes": {"right_hand": [1.1, 1.2, 5.3, 7.7]},
}


def _lines(*records: object) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def _obs(**fields: Any) -> bytes:
    return _lines(OK_LINE, {"image_id": "b.jpg", "person_id": "0", **fields})


def _nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def _hake(entry: Callable[..., dict[str, Any]], **overrides: Any) -> bytes:
    return json.dumps({"a.jpg": entry(), "b.jpg": entry(**overrides)}, indent=1).encode()


def _tar_gz(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("x/annotations.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _repeat_key(text: bytes, key: bytes) -> bytes:
    """``text`` with the last ``"key": value`` preceded by a second ``"key": 1``."""
    at = text.rindex(b'"' + key + b'":')
    return text[:at] + b'"' + key + b'": 1, ' + text[at:]


IMAGE = _hake(image_entry)
INSTANCE = _hake(instance_entry)

#: (kind, case) -> (file name, bytes or None for "make a directory"/"missing", words in the message)
CASES: dict[tuple[str, str], tuple[str, bytes | None, tuple[str, ...]]] = {
    # observations: the bulk path (light per-line check, maps column-wise)
    ("observations", "missing file"): ("missing.jsonl", None, ("no such file",)),
    ("observations", "directory"): ("dir.jsonl", b"", ("not a regular file",)),
    ("observations", "invalid utf-8"): (
        "o.jsonl",
        _lines(OK_LINE, b'{"image_id": "b\xff"}'),
        ("line 2", "0xff"),
    ),
    ("observations", "binary garbage"): ("o.jsonl", bytes(range(256)) * 4, ("line 1",)),
    ("observations", "gzip file"): ("o.jsonl", gzip.compress(_lines(OK_LINE)), ("gzip",)),
    ("observations", "invalid json"): (
        "o.jsonl",
        _lines(OK_LINE, b'{"image_id": "b.jpg",'),
        ("line 2", "JSON"),
    ),
    ("observations", "not an object"): ("o.jsonl", _lines(OK_LINE, [1, 2]), ("line 2", "JSON object")),
    ("observations", "nested too deep"): (
        "o.jsonl",
        _obs(model=_nested(MAX_JSON_DEPTH)),
        ("line 2", f"more than {MAX_JSON_DEPTH} levels"),
    ),
    ("observations", "nested too deep in a map"): (
        "o.jsonl",
        _obs(part_states={"hand_hold": _nested(MAX_JSON_DEPTH)}),
        ("line 2", f"more than {MAX_JSON_DEPTH} levels"),
    ),
    ("observations", "nested beyond orjson"): (
        "o.jsonl",
        _lines(OK_LINE, b'{"model": ' + b"[" * 2000 + b"]" * 2000 + b"}"),
        ("line 2",),
    ),
    ("observations", "repeated key"): (
        "o.jsonl",
        _repeat_key(_obs(), b"person_id"),
        ("line 2", "'person_id'", "appears twice"),
    ),
    ("observations", "repeated map key"): (
        "o.jsonl",
        _lines(
            OK_LINE,
            b'{"image_id": "b", "person_id": "0", "part_states": {"hand_hold": 0.1, "hand_hold": 0.9}}',
        ),
        ("line 2", "part_states.hand_hold", "values 0.1 and 0.9"),
    ),
    ("observations", "repeated key with spaces before the colon"): (
        "o.jsonl",
        _lines(OK_LINE, b'{"image_id" : "b", "person_id" : "0", "person_id" : "1"}'),
        ("line 2", "appears twice"),
    ),
    ("observations", "frame_index beyond int64"): ("o.jsonl", _obs(frame_index=2**63), ("line 2", "int64")),
    ("observations", "track_id beyond uint64"): ("o.jsonl", _obs(track_id=2**64), ("line 2", "track_id")),
    ("observations", "box beyond float32"): (
        "o.jsonl",
        _obs(box=[0.0, 0.0, 1e39, 1.0]),
        ("line 2", "float32"),
    ),
    ("observations", "keypoint beyond float32"): (
        "o.jsonl",
        _obs(keypoints=[[4e38, 0.0, 0.5]] * 17),
        ("line 2", "float32"),
    ),
    ("observations", "part box beyond float32"): (
        "o.jsonl",
        _obs(part_boxes={"right_hand": [0.0, 0.0, 1.0, 3.5e38]}),
        ("line 2", "float32"),
    ),
    ("observations", "number beyond float64"): (
        "o.jsonl",
        _lines(OK_LINE, b'{"image_id": "b", "person_id": "0", "timestamp": 1e400}'),
        ("line 2", "infinity"),
    ),
    ("observations", "probability as a list"): (
        "o.jsonl",
        _obs(part_states={"hand_hold": [0.5]}),
        ("line 2",),
    ),
    # hake-image
    ("hake-image", "missing file"): ("missing.json", None, ("no such file",)),
    ("hake-image", "directory"): ("dir.tar.gz", b"", ("not a regular file",)),
    ("hake-image", "empty file"): ("i.json", b"", ("empty",)),
    ("hake-image", "invalid utf-8"): ("i.json", IMAGE.replace(b"b.jpg", b"b\xfe.jpg"), ("0xfe", "line")),
    ("hake-image", "binary garbage"): ("i.json", bytes(range(256)) * 4, ("UTF-8",)),
    ("hake-image", "truncated tar.gz"): ("i.tar.gz", _tar_gz(IMAGE * 30)[:-100], ("truncated",)),
    ("hake-image", "corrupt json.gz"): ("i.json.gz", gzip.compress(IMAGE)[:20] + b"\xff" * 40, ("corrupt",)),
    ("hake-image", "hoi_id beyond int64"): (
        "i.json",
        _hake(image_entry, hoi_id=[2**63]),
        ("'b.jpg'", "hoi_id"),
    ),
    ("hake-image", "nested too deep"): (
        "i.json",
        _hake(image_entry, extra=_nested(MAX_JSON_DEPTH)),
        ("'b.jpg'", "levels"),
    ),
    ("hake-image", "repeated image key"): ("i.json", IMAGE.replace(b"b.jpg", b"a.jpg"), ("'a.jpg'", "twice")),
    ("hake-image", "repeated key in an entry"): (
        "i.json",
        _repeat_key(IMAGE, b"hoi_id"),
        ("'b.jpg'", "hoi_id"),
    ),
    # hake-instance
    ("hake-instance", "missing file"): ("missing.tar.gz", None, ("no such file",)),
    ("hake-instance", "directory"): ("dir.json", b"", ("not a regular file",)),
    ("hake-instance", "empty tar.gz"): ("n.tar.gz", b"", ("empty",)),
    ("hake-instance", "binary garbage"): ("n.json", bytes(range(200, 256)) * 9, ("UTF-8",)),
    ("hake-instance", "truncated tar.gz"): ("n.tar.gz", _tar_gz(INSTANCE * 30)[:-100], ("truncated",)),
    ("hake-instance", "invalid utf-8"): ("n.json", INSTANCE.replace(b"b.jpg", b"b\xc3.jpg"), ("line",)),
    ("hake-instance", "nested beyond the parser"): (
        "n.json",
        b'{"a.jpg": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        ("deep",),
    ),
    ("hake-instance", "repeated image key"): ("n.json", INSTANCE.replace(b"b.jpg", b"a.jpg"), ("twice",)),
    ("hake-instance", "repeated key in a pair"): (
        "n.json",
        _repeat_key(INSTANCE, b"width"),
        ("'b.jpg'", "labels[0].width"),
    ),
    ("hake-instance", "box beyond float32"): (
        "n.json",
        _hake(instance_entry, human_bbox=[0, 0, 1e39, 1e39]),
        ("'b.jpg'", "float32"),
    ),
    ("hake-instance", "box beyond float64"): (
        "n.json",
        INSTANCE.replace(b"100,", b"1" + b"0" * 400 + b","),
        ("float64",),
    ),
    ("hake-instance", "NaN in a box"): ("n.json", INSTANCE.replace(b"100,", b"NaN,"), ("human_bbox",)),
    ("hake-instance", "width beyond int64"): (
        "n.json",
        _hake(instance_entry, width=2**63),
        ("'b.jpg'", "width"),
    ),
}


#: The cases run through the CLI (each opens the store, ~0.4 s): every category for every
#: kind where it applies; the other observations cases are checked on the reader only.
CLI_CASES = [
    c
    for c in sorted(CASES)
    if c[0] != "observations"
    or c[1]
    in {
        "missing file",
        "directory",
        "invalid utf-8",
        "binary garbage",
        "gzip file",
        "nested too deep in a map",
        "repeated map key",
        "frame_index beyond int64",
        "part box beyond float32",
        "probability as a list",
    }
]


def _fingerprint(store_dir: Path) -> str:
    """The store's content: every node's properties, every relationship count (as JSON, so
    that the NaN of a missing part box equals itself)."""
    out: list[Any] = []
    with EmbeddedStore(store_dir, read_only=True) as store:
        for node in NODES:
            names = ", ".join(f"n.{name} AS {name}" for name, _ in node.properties)
            out.append(store.query(f"MATCH (n:{node.label}) RETURN {names} ORDER BY n.id"))
        for rel in RELS:
            out.append(store.query(f"MATCH ()-[r:{rel.type}]->() RETURN count(r) AS n"))
    return json.dumps(out, sort_keys=True, default=str)


def _file_hashes(store_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in store_dir.rglob("*") if p.is_file()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("malformed")
    store = root / "graph"
    assert main(["init", "--store", str(store)]) == 0
    good = root / "good.jsonl"
    good.write_bytes(_lines(OK_LINE, ROUNDED))
    assert main(["ingest", "observations", str(good), "--store", str(store), "--no-progress"]) == 0
    return store


@pytest.fixture(scope="module")
def content(store_dir: Path) -> str:
    return _fingerprint(store_dir)


def _write(tmp_path: Path, name: str, data: bytes | None) -> Path:
    path = tmp_path / name
    if data is not None:
        if name.startswith("dir."):
            path.mkdir()
        else:
            path.write_bytes(data)
    return path


def _ingest_fails(
    capsys: pytest.CaptureFixture[str], kind: str, path: Path, store: Path, named: Path | None = None
) -> str:
    """Run the ingest; it must fail with one line on stderr naming ``named`` (the file)."""
    capsys.readouterr()
    code = main(["ingest", kind, str(path), "--store", str(store), "--no-progress"])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert (code, out, len(lines)) == (1, "", 1), err
    assert lines[0].startswith("hake ingest: error: ") and str(named or path) in lines[0], err
    return lines[0]


@pytest.mark.parametrize(("kind", "case"), CLI_CASES)
def test_malformed_ingest_is_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    store_dir: Path,
    content: str,
    kind: str,
    case: str,
) -> None:
    name, data, words = CASES[kind, case]
    path = _write(tmp_path, name, data)
    line = _ingest_fails(capsys, kind, path, store_dir)
    for word in words:
        assert word in line, line
    assert _fingerprint(store_dir) == content


@pytest.mark.parametrize("kind", ["observations", "hake-image", "hake-instance"])
def test_failed_ingest_into_a_missing_store_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    path = _write(tmp_path, "bad.json", b"\xff\xfe garbage")
    store = tmp_path / "never-initialised"
    _ingest_fails(capsys, kind, path, store, named=store)
    assert not store.exists()


@pytest.mark.xfail(
    strict=True,
    reason="opening the embedded store read-write rewrites its file header, so the bytes change "
    "even when the ingest fails before writing anything (its content does not: see above)",
)
def test_failed_ingest_leaves_the_store_bytes_unchanged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store_dir: Path
) -> None:
    before = _file_hashes(store_dir)
    _ingest_fails(capsys, "observations", tmp_path / "missing.jsonl", store_dir)
    assert _file_hashes(store_dir) == before


def test_store_gives_back_what_validation_returned(store_dir: Path) -> None:
    """Box, keypoints and part boxes are rounded to float32 on validation, so the record and
    the stored values agree exactly."""
    canonical = observation_dict(ROUNDED)
    with EmbeddedStore(store_dir, read_only=True) as store:
        (row,) = store.query(
            "MATCH (p:Person) WHERE p.person_id = '0' AND p.id STARTS WITH 'rounded' "
            "RETURN p.bbox AS bbox, p.keypoints AS keypoints, p.part_boxes AS part_boxes"
        )
    assert row["bbox"] == canonical["box"]
    assert row["keypoints"] == [v for k in canonical["keypoints"] for v in k]
    hand = 4 * [p.id for p in ontology.load().body_parts].index("right_hand")  # channel order
    assert row["part_boxes"][hand : hand + 4] == canonical["part_boxes"]["right_hand"]


@pytest.mark.parametrize(("kind", "case"), [c for c in sorted(CASES) if c[0] == "observations"])
def test_observations_reader_refuses_the_same(tmp_path: Path, kind: str, case: str) -> None:
    name, data, words = CASES[kind, case]
    path = _write(tmp_path, name, data)
    with pytest.raises(AnnotationFormatError) as caught:
        read_observations_jsonl(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path)) and len(message) < 600, message
    for word in words:
        assert word in message, message


def test_observations_lookalikes_are_accepted(tmp_path: Path) -> None:
    """A ':' inside strings, names with ': ' as keys, spaces before colons, an empty file."""
    path = tmp_path / "o.jsonl"
    path.write_bytes(
        _lines(
            {"image_id": "http://x/a.jpg", "person_id": "0", "model": "a:b"},
            {"image_id": "b", "person_id": "0", "part_states": {"hand: hold": 0.5, "hip: sit on": 0.2}},
        )
        + b'{"image_id" : "c", "person_id" : "0"}\n\n'
    )
    records = read_observations_jsonl(path)
    assert [r.image_id for r in records] == ["http://x/a.jpg", "b", "c"]
    assert dict(records[1].part_states) == {"hand_hold": 0.5, "hip_sit_on": 0.2}
    path.write_bytes(b"")
    assert read_observations_jsonl(path) == []
