"""Importers for the two HAKE annotation formats (see ``shared/datasets/hake/README.md``).

Both readers take the ``.json`` file or the ``.tar.gz`` archive that holds it, validate
every entry, and return a complete list of records or raise
:class:`~ontology.errors.AnnotationFormatError` naming the file, the image key and the
field: nothing half-parsed is ever returned.

Image level (:func:`read_hake_image`): one :class:`ImageAnnotation` per image.

Instance level (:func:`read_hake_instance`): one :class:`PersonAnnotation` per *person*.
HICO-DET labels human-object pairs, and one person doing several things appears once per
pair with a re-drawn, near-identical box. **Merge rule**: within one image, pairs are taken
in file order; a pair joins the first person so far whose box (the box of that person's
first pair) has IoU >= :data:`MERGE_IOU` (0.5, the HICO-DET detection criterion) with the
pair's human box, otherwise it starts a new person. On the HAKE training file the IoU of
human boxes within an image is bimodal with its trough near 0.4, so 0.5 separates
re-drawn boxes from different people. Pairs without ``action_labels`` (15,204 of them) are
valid: they add their activity and object but no part states.

Input checks (every failure is one :class:`~ontology.errors.AnnotationFormatError`, never
a traceback): the file must exist and be a regular file; ``.tar.gz``/``.tgz``/``.tar``
archives must hold exactly one ``.json`` member and ``.gz`` files must decompress (a
truncated or corrupt archive is named as such); the JSON must be UTF-8 (an invalid byte is
named by line and byte offset), non-empty, nested at most :data:`MAX_JSON_DEPTH` levels
(the HAKE files nest 6) and must not repeat a key in any object: a repeated image key is
named with both of its positions, instead of the second entry silently replacing the first.

Usage: ``persons = read_hake_instance("hico-det-instance-level.tar.gz")``.
"""

from __future__ import annotations

import gzip
import json
import os
import tarfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from ontology.errors import AnnotationFormatError, HakeError, RecordError, brief_repr
from ontology.ontology import COARSE_PART_ORDER, load
from ontology.records import (
    Box,
    DetectedObject,
    HoiAnnotation,
    ImageAnnotation,
    Interaction,
    ObjectInstance,
    PersonAnnotation,
)

__all__ = [
    "MAX_JSON_DEPTH",
    "MERGE_IOU",
    "RepeatedKey",
    "path_to",
    "read_hake_image",
    "read_hake_instance",
    "read_hake_pairs",
    "repeated_key",
]

#: IoU at or above which two human boxes of one image are the same person.
MERGE_IOU = 0.5

#: Called as ``progress(done, total)`` while entries are parsed.
Progress = Callable[[int, int], None]

#: The deepest nesting of JSON arrays and objects an annotation or observations file may
#: have (the file's top level counts as 1). The HAKE files nest 6 deep (file, image entry,
#: ``labels``, pair, ``action_labels``, label), observations lines 4 (line, ``objects``,
#: object, ``box``). Deeper input is refused as such: by the HAKE readers before any field
#: is looked at, by the observations reader (``kg.ingest``) once the line fails validation.
MAX_JSON_DEPTH = 64


def _read_bytes(path: Path) -> bytes:
    """The bytes of the file at ``path``: itself, the single ``.json`` member of a tar
    archive, or the content of a ``.gz`` file."""
    name = str(path)
    if not path.exists():
        raise AnnotationFormatError(name, "(file)", "(path)", "no such file")
    if not path.is_file():
        raise AnnotationFormatError(
            name, "(file)", "(path)", "not a regular file (a directory?); pass the .json file or its .tar.gz"
        )
    try:
        if path.name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(path) as archive:
                members = [m for m in archive.getmembers() if m.isfile() and m.name.endswith(".json")]
                if len(members) != 1:
                    raise AnnotationFormatError(
                        name,
                        "(archive)",
                        "(members)",
                        f"expected exactly one .json file in the archive, found {[m.name for m in members]}",
                    )
                handle: IO[bytes] | None = archive.extractfile(members[0])
                if handle is None:  # isfile() members always extract
                    raise AnnotationFormatError(name, "(archive)", members[0].name, "cannot extract")
                return handle.read()
        if path.name.endswith(".gz"):
            with gzip.open(path) as fh:
                return fh.read()
        return path.read_bytes()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        problem = brief_repr(" ".join(str(err).split()) or type(err).__name__, 200)[1:-1]
        raise AnnotationFormatError(
            name, "(file)", "(archive)", f"cannot read ({problem}); is the file truncated or corrupt?"
        ) from None


def _open_json(path: Path) -> Any:
    """Parse the JSON file at ``path`` (see :func:`_read_bytes`), with the checks of the
    module docstring; a top-level object is checked for depth and repeated keys."""
    name = str(path)
    raw = _read_bytes(path)
    if not raw or raw.isspace():
        raise AnnotationFormatError(name, "(file)", "(json)", "the file is empty; expected a JSON object")
    if raw[:2] == b"\x1f\x8b":
        raise AnnotationFormatError(
            name, "(file)", "(json)", "the file is gzip-compressed; name it .gz or .tar.gz, or decompress it"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1)
        raise AnnotationFormatError(
            name,
            f"line {line}",
            "(encoding)",
            f"not UTF-8: byte 0x{raw[err.start]:02x} at line {line}, byte offset {column} in the "
            f"line ({err.start} in the file); annotation files are UTF-8 JSON",
        ) from None
    if text.startswith("\ufeff"):  # a UTF-8 byte order mark
        text = text[1:]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise AnnotationFormatError(
            name,
            "(file)",
            "(json)",
            f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}",
        ) from None
    except RecursionError:
        raise AnnotationFormatError(
            name, "(file)", "(json)", f"nested too deeply to parse (the limit is {MAX_JSON_DEPTH} levels)"
        ) from None
    except ValueError as err:  # an integer of more than 4300 digits
        problem = "an integer longer than 4300 digits" if "digits" in str(err) else str(err)
        raise AnnotationFormatError(name, "(file)", "(json)", f"invalid JSON: {problem}") from None
    if isinstance(data, dict):
        keys = _object_keys(data)
        if keys is None:
            entry = next((k for k, v in data.items() if _object_keys(v, 2) is None), "(file)")
            raise AnnotationFormatError(
                name, entry, "(json)", f"nested more than {MAX_JSON_DEPTH} levels deep (the limit)"
            )
        # Every key is followed by one ':'; fewer parsed keys than colons means a repeated key
        # (json keeps its last value) or a ':' inside a string: look closer.
        if raw.count(b":") != keys:
            _refuse_repeated_keys(name, text)
    return data


_CONTAINERS = frozenset((dict, list))


def _object_keys(value: object, depth: int = 1) -> int | None:
    """How many keys the objects in ``value`` (at nesting ``depth``) hold together, or None
    when it nests deeper than :data:`MAX_JSON_DEPTH` (one pass per level: ~0.4 s for the
    HAKE instance file)."""
    keys = 0
    level = [value]
    while level:
        deeper: list[Any] = []
        for v in level:
            if type(v) is dict:
                keys += len(v)
                v = v.values()
            elif type(v) is not list:
                continue
            if not _CONTAINERS.isdisjoint(map(type, v)):
                deeper += [c for c in v if type(c) is dict or type(c) is list]
        if deeper and depth == MAX_JSON_DEPTH:
            return None
        level = deeper
        depth += 1
    return keys


@dataclass(frozen=True)
class RepeatedKey:
    """The first key a JSON text repeats within one object: the parsed ``data``, the object
    ``obj`` (inside ``data``), the ``key``, the positions of its two occurrences among the
    object's keys and their values."""

    data: Any
    obj: dict[str, Any]
    key: str
    first: int
    second: int
    value1: Any
    value2: Any

    @property
    def path(self) -> str:
        """Where the repeated key is: ``"labels[0].action_labels[1].partstate"``."""
        where = path_to(self.data, self.obj)
        return f"{where}.{self.key}" if where else self.key


def repeated_key(text: str | bytes) -> RepeatedKey | None:
    """The first repeated key of any object in the JSON ``text``, or None (a slow parse with
    ``json``: call it when a cheap test says a key may repeat; JSON errors propagate)."""
    found: list[RepeatedKey] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs) and not found:
            seen: dict[str, int] = {}
            for i, (k, _) in enumerate(pairs):
                if k in seen:
                    found.append(RepeatedKey(None, obj, k, seen[k], i, pairs[seen[k]][1], pairs[i][1]))
                    break
                seen[k] = i
        return obj

    data = json.loads(text, object_pairs_hook=pairs_hook)
    return replace(found[0], data=data) if found else None


def _refuse_repeated_keys(name: str, text: str) -> None:
    """Raise naming the first repeated key of any object in ``text`` (its entry, the path to
    the object and both values, or both positions of a repeated image key); return if none."""
    found = repeated_key(text)
    if found is None:
        return
    data, obj, key, first, second = found.data, found.obj, found.key, found.first, found.second
    value1, value2 = found.value1, found.value2
    if obj is data:
        raise AnnotationFormatError(
            name,
            key,
            "(image key)",
            f"the image key appears twice, as entries {first + 1} and {second + 1} of the file; "
            "the second would silently replace the first: merge or rename them",
        )
    for entry, value in data.items():
        where = path_to(value, obj)
        if where is not None:
            raise AnnotationFormatError(
                name,
                entry,
                f"{where}.{key}" if where else key,
                f"key {brief_repr(key)} appears twice in one object (values {brief_repr(value1)} "
                f"and {brief_repr(value2)}); JSON objects must not repeat a key",
            )
    raise AnnotationFormatError(name, "(file)", key, "a key appears twice in one object")  # unreachable


def path_to(root: object, target: object) -> str | None:
    """The path from ``root`` to the container ``target`` (``"labels[0].action_labels[1]"``,
    ``""`` for root itself), or None when it is not inside."""
    stack: list[tuple[object, str]] = [(root, "")]
    while stack:
        value, where = stack.pop()
        if value is target:
            return where
        if type(value) is dict:
            stack.extend((c, f"{where}.{k}" if where else k) for k, c in value.items())
        elif type(value) is list:
            stack.extend((c, f"{where}[{i}]") for i, c in enumerate(value))
    return None


def _entries(path: Path) -> dict[str, Any]:
    data = _open_json(path)
    if not isinstance(data, dict):
        raise AnnotationFormatError(
            str(path),
            "(file)",
            "(top level)",
            f"expected a JSON object keyed by image name, got {type(data).__name__}",
        )
    for key in data:
        if not key.isascii():
            try:
                key.encode("utf-8")
            except UnicodeEncodeError:
                raise AnnotationFormatError(
                    str(path), key, "(image key)", "not valid Unicode (an unpaired surrogate escape)"
                ) from None
    return data


class _Entry:
    """Field access with errors that name file, key and field."""

    def __init__(self, path: Path, key: str, value: object) -> None:
        self.path = str(path)
        self.key = key
        if not isinstance(value, Mapping):
            self.fail("(entry)", f"expected a JSON object, got {type(value).__name__}")
        self.value: Mapping[str, Any] = value  # type: ignore[assignment]

    def fail(self, field: str, problem: str) -> None:
        raise AnnotationFormatError(self.path, self.key, field, problem)

    def get(self, obj: Mapping[str, Any], field: str, name: str) -> Any:
        if field not in obj:
            self.fail(name, "missing")
        return obj[field]

    def int_list(self, value: object, name: str, length: int | None, lo: int, hi: int) -> list[int]:
        if not isinstance(value, list):
            self.fail(name, f"expected a list, got {brief_repr(value)}")
        assert isinstance(value, list)
        if length is not None and len(value) != length:
            self.fail(name, f"expected {length} entries, got {len(value)}")
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                self.fail(name, f"expected integers in {lo}..{hi}, got {brief_repr(v)}")
        return value

    def box(self, value: object, name: str) -> Box:
        try:
            return Box.of(value)
        except HakeError as err:
            self.fail(name, str(err))
            raise  # unreachable: fail() raises


def read_hake_image(path: str | os.PathLike[str], progress: Progress | None = None) -> list[ImageAnnotation]:
    """Read the image-level HAKE file (``hico-training-set-image-level.json`` or its archive).

    Each entry gives ``hoi_id`` (1-based HICO ids), ``parts_list`` (10 fine parts, 0/1) and
    six ``*_list`` multi-hot vectors over the coarse part's 76-set states.
    """
    path = Path(path)
    onto = load()
    groups = [(part, onto.hico_part_states_of(part)) for part in COARSE_PART_ORDER]
    entries = _entries(path)
    out: list[ImageAnnotation] = []
    for n, (key, value) in enumerate(entries.items()):
        e = _Entry(path, key, value)
        hoi = e.int_list(e.get(e.value, "hoi_id", "hoi_id"), "hoi_id", None, 1, len(onto.activities))
        parts = e.int_list(
            e.get(e.value, "parts_list", "parts_list"), "parts_list", len(onto.body_parts), 0, 1
        )
        states: list[str] = []
        for part, group in groups:
            name = f"{part}_list"
            bits = e.int_list(e.get(e.value, name, name), name, len(group), 0, 1)
            states.extend(state.id for state, bit in zip(group, bits, strict=True) if bit)
        try:
            annotation = ImageAnnotation(
                image_id=key,
                activities=tuple(onto.activities.by_hoi_id(h).id for h in hoi),
                part_states=tuple(states),
                active_parts=tuple(onto.body_parts[i].id for i, bit in enumerate(parts) if bit),
            )
        except RecordError as err:  # e.g. an empty image key
            e.fail(err.field, str(err))
        out.append(annotation)
        if progress is not None:
            progress(n + 1, len(entries))
    return out


class _Person:
    def __init__(self, box: Box) -> None:
        self.box = box
        self.states: dict[str, None] = {}
        self.parts: dict[str, None] = {}
        self.activities: dict[str, None] = {}
        self.objects: list[DetectedObject] = []
        self.pairs = 0
        self.state_labels = 0
        self.pairs_without_states = 0
        self.size = (0, 0)


def read_hake_instance(
    path: str | os.PathLike[str], progress: Progress | None = None
) -> list[PersonAnnotation]:
    """Read the instance-level HAKE file (``hico-det-training-set-instance-level.json``).

    Returns one :class:`PersonAnnotation` per merged person (merge rule in the module
    docstring), persons of an image numbered ``"0"``, ``"1"``, ... in order of appearance:
    the persons of :func:`read_hake_pairs`, image by image.
    """
    return [person for image in read_hake_pairs(path, progress) for person in image.persons]


def read_hake_pairs(path: str | os.PathLike[str], progress: Progress | None = None) -> list[HoiAnnotation]:
    """Read the instance-level HAKE file as human-object interactions: one
    :class:`HoiAnnotation` per image with its merged persons (as :func:`read_hake_instance`),
    its object instances and which person does which activity with which instance.

    **Object merge rule**: within one image, pairs are taken in file order; a pair's object
    box joins the first instance so far *of the same object class* whose box (the box of the
    instance's first pair) has IoU >= :data:`MERGE_IOU`, otherwise it starts a new
    instance. Instances are numbered ``"0"``, ``"1"``, ... in order of appearance, and each
    pair becomes the interaction (its person, its activity, its instance), listed once.
    """
    path = Path(path)
    onto = load()
    # human_part (0..9, parts_list order) -> fine part; partstate indexes the coarse part's
    # 76-set group without its trailing no_interaction state.
    interacting = {
        part: [s for s in onto.hico_part_states_of(part) if not s.no_interaction]
        for part in COARSE_PART_ORDER
    }
    entries = _entries(path)
    out: list[HoiAnnotation] = []
    for n, (key, value) in enumerate(entries.items()):
        e = _Entry(path, key, value)
        labels = e.get(e.value, "labels", "labels")
        if not isinstance(labels, list):
            e.fail("labels", f"expected a list of pairs, got {type(labels).__name__}")
        persons: list[_Person] = []
        instances: list[tuple[str, Box]] = []  # (object class, first box)
        interactions: dict[Interaction, None] = {}
        size = [0, 0]
        for i, pair in enumerate(labels):
            where = f"labels[{i}]"
            if not isinstance(pair, Mapping):
                e.fail(where, f"expected a JSON object, got {type(pair).__name__}")
            hoi = e.int_list(
                [e.get(pair, "hoi_id", f"{where}.hoi_id")],
                f"{where}.hoi_id",
                1,
                1,
                len(onto.activities),
            )[0]
            activity = onto.activities.by_hoi_id(hoi)
            human = e.box(e.get(pair, "human_bbox", f"{where}.human_bbox"), f"{where}.human_bbox")
            obj_box = e.box(e.get(pair, "object_bbox", f"{where}.object_bbox"), f"{where}.object_bbox")
            size = e.int_list(
                [e.get(pair, "width", f"{where}.width"), e.get(pair, "height", f"{where}.height")],
                f"{where}.width/height",
                2,
                1,
                1_000_000,
            )
            pid = next((k for k, p in enumerate(persons) if p.box.iou(human) >= MERGE_IOU), None)
            if pid is None:
                pid = len(persons)
                persons.append(_Person(human))
            person = persons[pid]
            person.pairs += 1
            person.size = (size[0], size[1])
            person.activities[activity.id] = None
            object_id: str | None = None
            if activity.object is not None:  # every HICO activity has one
                person.objects.append(DetectedObject(activity.object, 1.0, obj_box))
                cls = activity.object
                oid = next(
                    (k for k, (c, b) in enumerate(instances) if c == cls and b.iou(obj_box) >= MERGE_IOU),
                    None,
                )
                if oid is None:
                    oid = len(instances)
                    instances.append((activity.object, obj_box))
                object_id = str(oid)
            interactions[Interaction(str(pid), activity.id, object_id)] = None
            action_labels = pair.get("action_labels", [])
            if not isinstance(action_labels, list):
                e.fail(f"{where}.action_labels", f"expected a list, got {brief_repr(action_labels)}")
            person.state_labels += len(action_labels)
            person.pairs_without_states += not action_labels
            for j, label in enumerate(action_labels):
                lw = f"{where}.action_labels[{j}]"
                if not isinstance(label, Mapping):
                    e.fail(lw, f"expected an object, got {brief_repr(label)}")
                part_index = e.int_list(
                    [e.get(label, "human_part", f"{lw}.human_part")],
                    f"{lw}.human_part",
                    1,
                    0,
                    len(onto.body_parts) - 1,
                )[0]
                fine = onto.body_parts[part_index]
                group = interacting[fine.coarse]
                state_index = e.int_list(
                    [e.get(label, "partstate", f"{lw}.partstate")],
                    f"{lw}.partstate",
                    1,
                    0,
                    len(group) - 1,
                )[0]
                person.states[group[state_index].id] = None
                person.parts[fine.id] = None
        try:
            annotations = tuple(
                PersonAnnotation(
                    image_id=key,
                    person_id=str(pid),
                    box=person.box,
                    part_states=tuple(person.states),
                    active_parts=tuple(person.parts),
                    activities=tuple(person.activities),
                    objects=tuple(person.objects),
                    pairs=person.pairs,
                    width=person.size[0],
                    height=person.size[1],
                    state_labels=person.state_labels,
                    pairs_without_states=person.pairs_without_states,
                )
                for pid, person in enumerate(persons)
            )
            image = HoiAnnotation(
                image_id=key,
                width=size[0],
                height=size[1],
                persons=annotations,
                objects=tuple(
                    ObjectInstance(key, str(oid), cls, box) for oid, (cls, box) in enumerate(instances)
                ),
                interactions=tuple(interactions),
            )
        except RecordError as err:  # e.g. an empty image key
            e.fail(err.field, str(err))
        out.append(image)
        if progress is not None:
            progress(n + 1, len(entries))
    return out
