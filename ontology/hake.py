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

Usage: ``persons = read_hake_instance("hico-det-instance-level.tar.gz")``.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from ontology.errors import AnnotationFormatError, HakeError
from ontology.ontology import COARSE_PART_ORDER, load
from ontology.records import Box, DetectedObject, ImageAnnotation, PersonAnnotation

__all__ = ["MERGE_IOU", "read_hake_image", "read_hake_instance"]

#: IoU at or above which two human boxes of one image are the same person.
MERGE_IOU = 0.5

#: Called as ``progress(done, total)`` while entries are parsed.
Progress = Callable[[int, int], None]


def _open_json(path: Path) -> Any:
    """Parse the JSON file at ``path``, or the single ``.json`` member of a tar archive."""
    if not path.exists():
        raise AnnotationFormatError(str(path), "(file)", "(path)", "no such file")
    try:
        if path.name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(path) as archive:
                members = [m for m in archive.getmembers() if m.isfile() and m.name.endswith(".json")]
                if len(members) != 1:
                    raise AnnotationFormatError(
                        str(path),
                        "(archive)",
                        "(members)",
                        f"expected exactly one .json file in the archive, found {[m.name for m in members]}",
                    )
                handle: IO[bytes] | None = archive.extractfile(members[0])
                assert handle is not None  # isfile() members always extract
                return json.load(handle)
        with path.open("rb") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise AnnotationFormatError(
            str(path),
            "(file)",
            "(json)",
            f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}",
        ) from None
    except (tarfile.TarError, OSError) as err:
        raise AnnotationFormatError(str(path), "(file)", "(archive)", f"cannot read: {err}") from None


def _entries(path: Path) -> dict[str, Any]:
    data = _open_json(path)
    if not isinstance(data, dict):
        raise AnnotationFormatError(
            str(path),
            "(file)",
            "(top level)",
            f"expected a JSON object keyed by image name, got {type(data).__name__}",
        )
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
            self.fail(name, f"expected a list, got {value!r}")
        assert isinstance(value, list)
        if length is not None and len(value) != length:
            self.fail(name, f"expected {length} entries, got {len(value)}")
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                self.fail(name, f"expected integers in {lo}..{hi}, got {v!r}")
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
        out.append(
            ImageAnnotation(
                image_id=key,
                activities=tuple(onto.activities.by_hoi_id(h).id for h in hoi),
                part_states=tuple(states),
                active_parts=tuple(onto.body_parts[i].id for i, bit in enumerate(parts) if bit),
            )
        )
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
    docstring), persons of an image numbered ``"0"``, ``"1"``, ... in order of appearance.
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
    out: list[PersonAnnotation] = []
    for n, (key, value) in enumerate(entries.items()):
        e = _Entry(path, key, value)
        labels = e.get(e.value, "labels", "labels")
        if not isinstance(labels, list):
            e.fail("labels", f"expected a list of pairs, got {type(labels).__name__}")
        persons: list[_Person] = []
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
            person = next((p for p in persons if p.box.iou(human) >= MERGE_IOU), None)
            if person is None:
                person = _Person(human)
                persons.append(person)
            person.pairs += 1
            person.size = (size[0], size[1])
            person.activities[activity.id] = None
            person.objects.append(DetectedObject(activity.object, 1.0, obj_box))
            action_labels = pair.get("action_labels", [])
            if not isinstance(action_labels, list):
                e.fail(f"{where}.action_labels", f"expected a list, got {action_labels!r}")
            person.state_labels += len(action_labels)
            person.pairs_without_states += not action_labels
            for j, label in enumerate(action_labels):
                lw = f"{where}.action_labels[{j}]"
                if not isinstance(label, Mapping):
                    e.fail(lw, f"expected an object, got {label!r}")
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
        for pid, person in enumerate(persons):
            out.append(
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
            )
        if progress is not None:
            progress(n + 1, len(entries))
    return out
