"""The observations file: one :meth:`ontology.PersonObservation.to_dict` JSON object per line
(what perception writes), read into records (:func:`iter_observations_jsonl`,
:func:`read_observations_jsonl`) or, for a bulk ingest, into checked dicts
(:func:`read_jsonl`); every error names the file, the line and the field."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ontology import AnnotationFormatError, HakeError, Ontology, PersonObservation, RecordError

__all__ = [
    "iter_observations_jsonl",
    "located",
    "read_examples_jsonl",
    "read_jsonl",
    "read_observations_jsonl",
]

_T = TypeVar("_T")


def iter_observations_jsonl(path: str | os.PathLike[str]) -> Iterator[PersonObservation]:
    """Stream an observations file: one :meth:`PersonObservation.to_dict` object per line.

    Blank lines are ignored. A bad line raises :class:`AnnotationFormatError` naming the
    file, the line number and the field, when the iterator reaches it (inside an ingest that
    leaves the store unchanged).
    """
    return (record for _, record in read_jsonl(path, PersonObservation.from_dict))


def read_jsonl(path: str | os.PathLike[str], parse: Callable[[Any], _T]) -> Iterator[tuple[str, _T]]:
    """``("line N", parse(json))`` for each non-blank line; errors name file, line and field.

    Every malformed input raises :class:`AnnotationFormatError` (one line, never a traceback):
    a missing file or a directory, bytes that are not UTF-8 (line and byte offset named), a
    gzip file, invalid JSON, nesting deeper than :data:`ontology.hake.MAX_JSON_DEPTH` (see
    :func:`located`), and a key repeated within one JSON object (orjson would keep its last
    value). An empty file is valid and holds no records (``hake infer`` writes one when it
    finds nobody).

    Repeated keys are found cheaply (~0.8 us a line): every key is followed by a ``:``, so a
    line with no more ``:`` than the keys of the objects where observations keep objects
    (the record, its maps, its ``objects``; under-counting only costs time) repeats none.
    Other lines (a ``:`` inside a string, a repeat, an object elsewhere) are looked at
    closer: keys counted by a regular expression, then parsed again with ``json``'s
    ``object_pairs_hook``.
    """
    import re

    import orjson

    from ontology.errors import brief_repr

    path = Path(path)
    name = str(path)
    key_colon = re.compile(rb'"[ \t\r\n]*:')  # at least one per key (the key's closing quote)

    def invalid(line: bytes, number: int, err: Exception) -> str:
        if number == 1 and line[:2] == b"\x1f\x8b":
            return "the file is gzip-compressed; decompress it first (e.g. gunzip)"
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as bad:
            return (
                f"not UTF-8: byte 0x{line[bad.start]:02x} at byte {bad.start} of the line; "
                "observations files are UTF-8 JSON, one object per line"
            )
        return f"invalid JSON: {err}"

    def counted_keys(data: dict[str, Any]) -> int:
        keys = len(data)
        get = data.get
        value = get("part_states")
        if type(value) is dict:
            keys += len(value)
        value = get("active_parts")
        if type(value) is dict:
            keys += len(value)
        value = get("part_boxes")
        if type(value) is dict:
            keys += len(value)
        value = get("objects")
        if type(value) is list:
            for o in value:
                if type(o) is dict:
                    keys += len(o)
        return keys

    def repeated_key(line: bytes, where: str) -> None:
        from ontology.hake import repeated_key as first_repeated

        found = first_repeated(line)
        if found is None:
            return
        raise AnnotationFormatError(
            name,
            where,
            found.path,
            f"key {brief_repr(found.key)} appears twice in one object (values {brief_repr(found.value1)} "
            f"and {brief_repr(found.value2)}); JSON objects must not repeat a key",
        )

    if not path.exists():
        raise AnnotationFormatError(name, "(file)", "(path)", "no such file")
    if not path.is_file():
        raise AnnotationFormatError(
            name, "(file)", "(path)", "not a regular file (a directory?); expected one JSON object per line"
        )
    try:
        fh = path.open("rb")
    except OSError as err:
        raise AnnotationFormatError(name, "(file)", "(path)", f"cannot open: {err.strerror or err}") from None
    with fh:
        for number, line in enumerate(fh, start=1):
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as err:
                if not line.strip():
                    continue
                raise AnnotationFormatError(
                    name, f"line {number}", "(json)", invalid(line, number, err)
                ) from None
            where = f"line {number}"
            if type(data) is dict:
                keys = counted_keys(data)
                if line.count(b":") != keys and len(key_colon.findall(line)) != keys:
                    repeated_key(line, where)
            yield where, located(path, where, parse, data)


def located(path: Path, where: str | None, parse: Callable[[Any], _T], data: Any) -> _T:
    """``parse(data)``, its errors raised as :class:`AnnotationFormatError` at ``where``.

    ``data`` nested deeper than :data:`ontology.hake.MAX_JSON_DEPTH` is refused as such. No
    valid observation nests deeper than 4, so ``parse`` refuses any such line by the type of
    a field (without recursing: records check shapes level by level) and the depth is looked
    at only then, off the bulk path."""
    try:
        return parse(data)
    except (HakeError, TypeError, ValueError, OverflowError, RecursionError) as err:
        from ontology.errors import brief_repr
        from ontology.hake import MAX_JSON_DEPTH

        level, depth = [data], 1
        while level:
            deeper = [
                c
                for v in level
                if type(v) is dict or type(v) is list
                for c in (v.values() if type(v) is dict else v)
                if type(c) is dict or type(c) is list
            ]
            if deeper and depth == MAX_JSON_DEPTH:
                problem = f"nested more than {MAX_JSON_DEPTH} levels deep (the limit)"
                raise AnnotationFormatError(str(path), str(where), "(json)", problem) from None
            level, depth = deeper, depth + 1
        if isinstance(err, HakeError):
            field_name = getattr(err, "field", "(record)")
            raise AnnotationFormatError(str(path), str(where), str(field_name), str(err)) from None
        problem = brief_repr(str(err), 300)[1:-1]  # a shape no check foresaw
        raise AnnotationFormatError(
            str(path), str(where), "(record)", f"{type(err).__name__}: {problem}"
        ) from None


def read_observations_jsonl(path: str | os.PathLike[str]) -> list[PersonObservation]:
    """All records of an observations file (see :func:`iter_observations_jsonl`), or an error:
    nothing is returned half-read."""
    return list(iter_observations_jsonl(path))


def read_examples_jsonl(
    path: str | os.PathLike[str], onto: Ontology
) -> tuple[list[PersonObservation], list[tuple[str, ...]]]:
    """Labelled examples for fine-tuning (``hake train --init-from ... --examples FILE``): per
    line an observation (:meth:`PersonObservation.to_dict`) with one more key,
    ``"activities"``: a non-empty list of the activities the person does (ids or names of
    ``onto``; a composite counts as given by the activities under it). Returns the records
    (checked against ``onto``) and their activity ids; errors name the file, line and field,
    and nothing is returned half-read.
    """

    def parse(data: Any) -> tuple[PersonObservation, tuple[str, ...]]:
        if not isinstance(data, dict):
            raise RecordError("example", "(record)", data, "a JSON object")
        fields = dict(data)
        acts = fields.pop("activities", None)
        if not isinstance(acts, list) or not acts or not all(isinstance(a, str) for a in acts):
            raise RecordError("example", "activities", acts, "a non-empty list of activity ids or names")
        ids = tuple(onto.activities[a].id for a in acts)
        return PersonObservation.from_dict(fields, ontology=onto), ids

    rows = [row for _, row in read_jsonl(path, parse)]
    if not rows:
        raise AnnotationFormatError(str(path), "(file)", "(records)", "no examples: the file holds no line")
    return [r[0] for r in rows], [r[1] for r in rows]
