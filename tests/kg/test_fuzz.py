"""Seeded fuzzing of every ingest path and of the read-query path (issue 12, item 7).

Targets: no traceback, no silent corruption, and no rejected input changes the store.

Inputs are mutated from small valid seeds built here (never copied from shared data):

- ``observations``: an observations JSONL file (one ``PersonObservation.to_dict()`` per line);
- ``hake-image`` / ``hake-instance``: the HAKE image- and instance-level JSON files, also as
  ``.tar.gz``, ``.tgz``, ``.tar`` and ``.json.gz`` (the readers accept archives);
- ``query``: Cypher mutated from :data:`kg.queries.EXAMPLES` and from write attacks, sent
  through ``store.query`` on a read-write store (the read-only guard is
  :mod:`kg.store.readonly`).

Mutations: value-level (huge integers, floats beyond float32, NaN/Infinity literals, wrong
types, missing and extra fields, repeated keys, deep nesting, unknown terms, duplicate persons
and images, empty files), byte-level (flips, truncation, invalid UTF-8, NUL, binary garbage)
and archive-level (truncated or corrupt gzip/tar, wrong members); queries get casing,
comments, look-alike letters, invisible characters, escapes, multiple statements, wrappers
and odd parameters.

Every input is fed to the real function on one shared, initialised :class:`EmbeddedStore`
and classified (:class:`Fuzzer`):

- ``clear_error``: a :class:`~ontology.errors.HakeError` whose message is one line naming the
  file (for a query: any ``HakeError``);
- ``unclear_error``: a ``HakeError`` with a multi-line message or one that does not name the file;
- ``traceback``: any other exception;
- ``accepted_valid``: accepted, and the store holds exactly what the validating reader reads
  from the file (boxes compared after float32 rounding; no infinity in the store);
- ``silently_accepted``: accepted, but the store differs from what the file says;
- ``store_changed``: rejected, yet the store changed (or a query changed it, or wrote a file).

Each input is a pure function of ``(seed, index)``: reproduce a reported case with
``make_input(seed, index)`` (``.write(folder)`` writes its file; ``.cypher`` is a query's text,
with ``@SINK@`` / ``@SRC@`` standing for two scratch paths). ``benchmarks/robustness.py``
runs the same generator and classifier at a larger scale.
"""

from __future__ import annotations

import copy
import functools
import gzip
import hashlib
import io
import json
import math
import os
import random
import struct
import tarfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import ontology
from kg.ingest import (
    ingest_hake_image,
    ingest_hake_instance,
    ingest_observations_jsonl,
    init_store,
    read_observations_jsonl,
)
from kg.queries import EXAMPLES
from kg.schema import NODES, RELS, image_key, person_key
from kg.store import EmbeddedStore
from ontology import PersonAnnotation, read_hake_image, read_hake_instance
from ontology.errors import HakeError
from ontology.ontology import COARSE_PART_ORDER

SEED = 127  # issue 12, item 7
N_INPUTS = 520

KINDS = ("observations", "hake-image", "hake-instance", "query")
_KIND_WEIGHTS = (0.36, 0.2, 0.2, 0.24)
OUTCOMES = (
    "clear_error",
    "unclear_error",
    "traceback",
    "accepted_valid",
    "silently_accepted",
    "store_changed",
)
#: Outcomes that are defects.
FAILURES = frozenset({"unclear_error", "traceback", "silently_accepted", "store_changed"})


# ---- JSON with what json.dumps cannot write ------------------------------------------------


class Raw(str):
    """JSON text written as is (``NaN``, ``1e400``, 50,000 nested brackets)."""


@dataclass
class Pairs:
    """A JSON object that may repeat a key."""

    items: list[tuple[str, Any]]


def dumps(value: Any) -> str:
    """``value`` as JSON text; :class:`Raw` verbatim, :class:`Pairs` with its repeated keys,
    floats as Python writes them (``NaN``, ``Infinity``), integers of any size."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Pairs):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in value.items) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


# ---- valid seeds ---------------------------------------------------------------------------


def seed_observations() -> list[dict[str, Any]]:
    """Four valid observations (``to_dict`` form): a video frame with everything, a box-less
    annotation, and two persons of one image (a fresh copy at each call)."""
    return copy.deepcopy(_seed_observations())


@functools.cache
def _seed_observations() -> list[dict[str, Any]]:
    onto = ontology.load()
    Box, DetectedObject, Keypoint = ontology.Box, ontology.DetectedObject, ontology.Keypoint
    full = ontology.PersonObservation(
        image_id="fz-video.mp4",
        person_id="0",
        box=Box(10.5, 20.25, 110.0, 220.0),
        part_states={"hand: hold": 0.9, "hip: sit on": 0.75, "foot: tread on": 0.5},
        active_parts={onto.body_parts.ids[0]: 0.6, onto.body_parts.ids[6]: 0.25},
        objects=(DetectedObject("bicycle", 0.875, Box(50, 60, 90, 100)), DetectedObject("bicycle", 0.5)),
        keypoints=tuple(Keypoint(10.0 + i, 20.0 + 2 * i, 0.5) for i in range(17)),
        part_boxes={onto.body_parts.ids[1]: Box(1, 2, 3, 4), onto.body_parts.ids[7]: Box(5, 6, 7, 8)},
        frame_index=3,
        timestamp=0.125,
        track_id=7,
        source="model",
        model="fuzz-model",
    )
    bare = ontology.PersonObservation(
        image_id="fz-bare.jpg", person_id="image", part_states={"head: talk to": 1.0}, source="annotation"
    )
    first = ontology.PersonObservation(
        image_id="fz-pair.jpg",
        person_id="0",
        box=Box(0.1, 0.2, 100.3, 200.7),
        part_states={"hand: hold": 0.3},
        objects=(DetectedObject("cup", 0.25),),
        model="fuzz-model",
    )
    second = ontology.PersonObservation(
        image_id="fz-pair.jpg",
        person_id="1",
        box=Box(300, 40, 380, 200),
        part_states={"leg: walk with": 0.125, "hand: hold": 1.0},
        model="fuzz-model",
    )
    return [o.to_dict() for o in (full, bare, first, second)]


def _hoi(name: str) -> int:
    return ontology.load().activities[name].hoi_id


def seed_hake_image() -> dict[str, Any]:
    """Two valid image-level entries."""
    onto = ontology.load()
    sizes = {part: len(onto.hico_part_states_of(part)) for part in COARSE_PART_ORDER}

    def entry(hoi: list[int], parts: list[int], on: dict[str, int]) -> dict[str, Any]:
        out: dict[str, Any] = {"hoi_id": hoi, "parts_list": parts}
        for part in COARSE_PART_ORDER:
            bits = [0] * sizes[part]
            if part in on:
                bits[on[part]] = 1
            out[f"{part}_list"] = bits
        return out

    return {
        "fz-hico-1.jpg": entry(
            [_hoi("ride bicycle"), _hoi("hold bicycle")],
            [1, 1, 1, 1, 1, 0, 1, 0, 0, 1],
            {"hip": 0, "hand": 0},
        ),
        "fz-hico-2.jpg": entry([_hoi("board airplane")], [0] * 10, {"head": 3}),
    }


def seed_hake_instance() -> dict[str, Any]:
    """Two valid instance-level images: two pairs of one person (merged) and one pair without
    part-state labels."""

    from tests.kg.helpers import pair

    return {
        "fz-det-1.jpg": {
            "labels": [
                pair("ride bicycle", [0, 0, 100, 100], [(4, 0), (0, 1), (6, 0)]),
                pair("hold bicycle", [1, 1, 100, 100], [(6, 0)]),
            ]
        },
        "fz-det-2.jpg": {"labels": [pair("board airplane", [5, 5, 60, 60], None)]},
    }


# ---- value-level mutations -------------------------------------------------------------------

HUGE_INTS: tuple[int, ...] = (2**63, -(2**63) - 1, 2**64, 10**400, -(10**400), 2**63 - 1)
BIG_FLOATS: tuple[float, ...] = (1e39, -1e39, 3.5e38, 3.4028235e38, 3.4028236e38, 1e308, -1e308)
VALID_EDGE_NUMBERS: tuple[Any, ...] = (
    0,
    1,
    -0.0,
    0.5,
    1.0,
    5e-324,
    3.4028234663852886e38,
    16777217,
    0.1,
    2,
    1.0000001,
    -1e-300,
)
SPECIAL_LITERALS = tuple(Raw(t) for t in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1E39", "-0"))
WRONG_TYPES: tuple[Any, ...] = (
    "x",
    "",
    [],
    {},
    True,
    False,
    None,
    0,
    -1,
    1.5,
    [1, 2],
    {"a": 1},
    "0.5",
    "1e39",
)
WEIRD_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "a/b#c%d",
    "\x00",
    "\ud800",
    "é",
    "x" * 5000,
    "\u2028",
    "\n",
    "../../etc/passwd",
    "'; DROP TABLE Person; //",
    "MATCH (n) DETACH DELETE n",
)
UNKNOWN_TERMS: tuple[str, ...] = (
    "hand_hodl",
    "hand: hodl",
    "unicorn",
    "tail",
    "ride_bicycle",
    "HAND_HOLD",
    "hand hold",
    "http://example.org/x",
    "",
)
EXTRA_KEYS: tuple[str, ...] = ("extra", "image", "Box", "part_states ", "__proto__", "")


def _descend(rng: random.Random, root: Any) -> tuple[Any, ...]:
    """A random path into ``root``: at each container, stop there or go into a child."""
    path: tuple[Any, ...] = ()
    node = root
    while True:
        if isinstance(node, dict) and node:
            keys: list[Any] = list(node)
        elif isinstance(node, list) and node:
            keys = list(range(len(node)))
        else:
            return path
        if path and rng.random() < 0.3:
            return path
        key = rng.choice(keys)
        path += (key,)
        node = node[key]


def _get(root: Any, path: Sequence[Any]) -> Any:
    for key in path:
        root = root[key]
    return root


def _replace(root: Any, path: Sequence[Any], value: Any) -> Any:
    if not path:
        return value
    _get(root, path[:-1])[path[-1]] = value
    return root


def _containers(root: Any, kind: type) -> list[tuple[Any, ...]]:
    """Paths of every non-empty container of ``kind`` (``dict`` or ``list``) in ``root``."""
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, kind) and node:
            out.append(path)
        if isinstance(node, dict):
            stack.extend((v, (*path, k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(node))
    return sorted(out, key=repr)


def _deep(rng: random.Random) -> Raw:
    depth = rng.choice((63, 64, 65, 200, 1100, 50_000))
    if rng.random() < 0.5:
        return Raw("[" * depth + "0" + "]" * depth)
    return Raw('{"a": ' * depth + "0" + "}" * depth)


VALUE_MUTATIONS = tuple(
    "huge-int float32-overflow nan-inf wrong-type weird-string unknown-key unknown-term "
    "missing-field extra-field duplicate-key deep-nesting negative edge-number unrounded-float "
    "drop-element duplicate-element empty-container ".split()
)


def mutate_value(rng: random.Random, root: Any) -> tuple[Any, str]:
    """One value-level mutation of the JSON-like ``root`` (changed in place or replaced)."""
    op = rng.choice(VALUE_MUTATIONS)
    if op in ("unknown-key", "missing-field", "extra-field", "duplicate-key"):
        dicts = _containers(root, dict)
        if not dicts:
            return root, op
        path = rng.choice(dicts)
        node = _get(root, path)
        key = rng.choice(sorted(node, key=str))
        if op == "unknown-key":
            node[rng.choice(UNKNOWN_TERMS)] = node.pop(key)
        elif op == "missing-field":
            del node[key]
        elif op == "extra-field":
            node[rng.choice(EXTRA_KEYS)] = rng.choice((*WRONG_TYPES, *VALID_EDGE_NUMBERS))
        else:
            items = list(node.items())
            value = node[key] if rng.random() < 0.5 else rng.choice(WRONG_TYPES)
            items.insert(rng.randrange(len(items) + 1), (key, value))
            root = _replace(root, path, Pairs(items))
        return root, op
    if op in ("drop-element", "duplicate-element"):
        lists = _containers(root, list)
        if not lists:
            return root, op
        node = _get(root, rng.choice(lists))
        i = rng.randrange(len(node))
        if op == "drop-element":
            del node[i]
        else:
            node.insert(i, copy.deepcopy(node[i]))
        return root, op
    path = _descend(rng, root)
    current = _get(root, path)
    new: Any
    if op == "huge-int":
        new = rng.choice(HUGE_INTS)
    elif op == "float32-overflow":
        new = rng.choice(BIG_FLOATS)
    elif op == "nan-inf":
        new = rng.choice(SPECIAL_LITERALS)
    elif op == "wrong-type":
        new = rng.choice(WRONG_TYPES)
    elif op == "weird-string":
        new = rng.choice(WEIRD_STRINGS)
    elif op == "unknown-term":
        new = rng.choice(UNKNOWN_TERMS) if rng.random() < 0.7 else rng.choice((0, 601, -1, 10_000, 93, 76))
    elif op == "deep-nesting":
        new = _deep(rng)
    elif op == "negative":
        number = current if isinstance(current, int | float) and not isinstance(current, bool) else 1
        new = -abs(number) - 1
    elif op == "edge-number":
        new = rng.choice(VALID_EDGE_NUMBERS)
    elif op == "unrounded-float":
        new = round(rng.uniform(0, 1000), rng.randint(1, 12))
    else:  # empty-container
        new = [] if rng.random() < 0.5 else {}
    return _replace(root, path, new), op


# ---- byte-level and archive mutations --------------------------------------------------------

INVALID_UTF8: tuple[bytes, ...] = (
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\x80",
    b"\xc0\xaf",
)


BYTE_MUTATIONS = tuple(
    "byte-flip truncate invalid-utf8 nul binary-garbage bom crlf delete-range duplicate-range ".split()
)


def mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """One byte-level mutation of ``data``."""
    op = rng.choice(BYTE_MUTATIONS)
    n = len(data)
    at = rng.randrange(n + 1)
    if op == "byte-flip" and n:
        out = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(n)
            out[i] ^= rng.randint(1, 255)
        return bytes(out), op
    if op == "truncate":
        return data[:at], op
    if op == "invalid-utf8":
        return data[:at] + rng.choice(INVALID_UTF8) + data[at:], op
    if op == "nul":
        return data[:at] + b"\x00" + data[at:], op
    if op == "binary-garbage":
        return data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:], op
    if op == "bom":
        return b"\xef\xbb\xbf" + data, op
    if op == "crlf":
        return data.replace(b"\n", b"\r\n"), op
    end = min(n, at + rng.randint(1, 40))
    if op == "delete-range":
        return data[:at] + data[end:], op
    return data[:end] + data[at:], op  # duplicate-range


def _tar(members: Sequence[tuple[str, bytes]]) -> bytes:
    """An uncompressed tar archive of ``members`` (deterministic: mtime 0)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def archive(rng: random.Random, payload: bytes) -> tuple[bytes, str, str]:
    """``payload`` in an archive the HAKE readers accept, maybe corrupted: (bytes, suffix,
    mutation)."""
    suffix = rng.choice((".tar.gz", ".tgz", ".tar", ".json.gz"))
    op = rng.choice(
        ("archive-ok", "archive-ok", "archive-truncate", "archive-flip", "archive-members", "archive-not-one")
    )
    members = [("hake/fuzz.json", payload)]
    if op == "archive-members":
        members = rng.choice(
            (
                [],
                [("hake/fuzz.txt", payload)],
                [("a.json", payload), ("b.json", payload)],
                [("hake/fuzz.json", payload), ("README", b"x")],
            )
        )
    if suffix == ".json.gz":
        data = gzip.compress(payload, mtime=0)
    else:
        tar = _tar(members)
        data = tar if suffix == ".tar" else gzip.compress(tar, mtime=0)
    if op == "archive-truncate":
        data = data[: rng.randrange(len(data))]
    elif op == "archive-flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            out[rng.randrange(len(out))] ^= rng.randint(1, 255)
        data = bytes(out)
    elif op == "archive-not-one":
        data = rng.choice((b"", payload, gzip.compress(payload, mtime=0)[:10]))
    return data, suffix, op


# ---- queries ---------------------------------------------------------------------------------

#: Read queries besides the documented examples.
EXTRA_READS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("MATCH (p:Person) RETURN p.id AS id, p.bbox AS box ORDER BY id", {}),
    ("MATCH (v:Verb {name: 'create'}) RETURN v.id AS id // DROP TABLE Person", {}),
    ("MATCH (n:`CREATE`) RETURN n", {}),
    ("RETURN 1 AS x;", {}),
    ("CALL table_info('Person') RETURN *", {}),
    ("MATCH (p:Person)-[h:HAS_STATE]->(s:PartState) RETURN s.id AS s, count(*) AS n ORDER BY s", {}),
)

#: Writing or file-touching statements the read path must refuse (``@SINK@`` is a folder
#: that must stay empty, ``@SRC@`` a CSV file of one valid Verb row).
ATTACKS: tuple[str, ...] = (
    "MATCH (n) DETACH DELETE n",
    "MATCH (p:Person) DELETE p",
    "MATCH (v:Verb {id: 'ride'}) DETACH DELETE v",
    "DROP TABLE Person",
    "CREATE (:Verb {id: 'fuzz-created', name: 'x', idx: 999, hico_id: 999})",
    "MERGE (:Verb {id: 'fuzz-merged'})",
    "MATCH (p:Person) SET p.digest = 'fuzz'",
    "MATCH (v:Verb) REMOVE v.name",
    "COPY (MATCH (p:Person) RETURN p.id) TO '@SINK@/out.csv'",
    "COPY Verb FROM '@SRC@'",
    "LOAD FROM '@SRC@' RETURN *",
    "CHECKPOINT",
    "ATTACH '@SINK@/other.lbug' AS other (dbtype lbug)",
    "INSTALL httpfs",
    "LOAD EXTENSION httpfs",
    "EXPORT DATABASE '@SINK@/export'",
    "ALTER TABLE Person ADD fuzz STRING",
    "BEGIN TRANSACTION",
    "CALL threads=1",
    "UNWIND [1, 2] AS x CREATE (:Verb {id: 'fuzz-' + string(x)})",
    "CALL { MATCH (v:Verb) DETACH DELETE v } RETURN 1",
    "MATCH (v:Verb) WITH v LIMIT 1 SET v.name = 'fuzz' RETURN v.id",
)

_LOOKALIKE = {
    "S": "ſ",
    "s": "ſ",
    "K": "\u212a",
    "E": "Ｅ",
    "T": "Ｔ",
    "A": "Ａ",
    "i": "ı",
    "e": "é",
    "C": "Ｃ",
}
_INVISIBLE = ("\u200b", "\u00a0", "\u2028", "\ufeff", "\x0b", "\x0c", "\t", "\r", "\x85", "\u3000", "\x00")
_COMMENTS = ("/* c */", "/**/", "// c\n", "/* DROP */", "//\r", "/* ; */", "/*/ */")
_WRAPS = (
    "CALL {{ {} }} RETURN 1 AS x",
    "MATCH (n:Verb) WITH n {}",
    "UNWIND [1] AS x {}",
    "RETURN 1 AS x UNION ALL {}",
    "EXPLAIN {}",
    "PROFILE {}",
    "WITH 1 AS x CALL {{ {} }} RETURN x",
)
_ODD_PARAMS: tuple[Any, ...] = (
    2**63,
    -1,
    "5",
    math.nan,
    math.inf,
    "\x00",
    "x" * 10_000,
    None,
    [1, 2],
    {"a": 1},
)


def _words(text: str) -> list[tuple[int, int]]:
    """(start, end) of each ASCII word of ``text``."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text[i].isascii() and text[i].isalpha():
            j = i
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


QUERY_MUTATIONS = tuple(
    "casing comment split-keyword lookalike invisible backtick escape multi-statement wrap "
    "truncate char-flip odd-param ".split()
)


def mutate_query(rng: random.Random, text: str, params: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """One mutation of a Cypher text (or of its parameters)."""
    op = rng.choice(QUERY_MUTATIONS)
    words = _words(text)
    at = rng.randrange(len(text) + 1)
    if op == "casing":
        mode = rng.random()
        if mode < 0.3:
            return text.lower(), params, op
        if mode < 0.5:
            return text.upper(), params, op
        return "".join(c.swapcase() if rng.random() < 0.5 else c for c in text), params, op
    if op == "comment":
        gaps = [s for s, _ in words] or [at]
        i = rng.choice(gaps)
        return text[:i] + rng.choice(_COMMENTS) + " " + text[i:], params, op
    if op in ("split-keyword", "lookalike", "backtick") and words:
        start, end = rng.choice(words)
        word = text[start:end]
        if op == "split-keyword" and len(word) > 1:
            cut = rng.randrange(1, len(word))
            sep = rng.choice(("/**/", "\u200b", "/* x */", "\u00ad", "\t"))
            return text[:start] + word[:cut] + sep + word[cut:] + text[end:], params, op
        if op == "lookalike":
            swapped = "".join(_LOOKALIKE.get(c, c) if rng.random() < 0.6 else c for c in word)
            if rng.random() < 0.3:
                swapped = word[0] + "\u0301" + word[1:]  # a combining accent
            return text[:start] + swapped + text[end:], params, op
        return text[:start] + "`" + word + "`" + text[end:], params, op
    if op == "invisible":
        gaps = [s for s, _ in words] or [at]
        i = rng.choice(gaps)
        return text[:i] + rng.choice(_INVISIBLE) + text[i:], params, op
    if op == "escape":
        literal = rng.choice(
            (
                "'a\\'; DROP TABLE Person; //'",
                '"x\\" DETACH DELETE n //"',
                "'\\\\' ; MATCH (n) DELETE n",
                "'\\u0027; DROP TABLE Person'",
                "'unterminated",
                "`a``b`",
                "`unterminated",
                "'\\'",
            )
        )
        return text[:at] + " " + literal + " " + text[at:], params, op
    if op == "multi-statement":
        attack = rng.choice(ATTACKS)
        sep = rng.choice(("; ", ";\n", " ; ; ", ";/* */", "\n;", ";\u2028"))
        shape = rng.random()
        if shape < 0.5:
            return text.rstrip("; ") + sep + attack, params, op
        if shape < 0.7:
            return attack + sep + text, params, op
        return text + ";", params, op
    if op == "wrap":
        return rng.choice(_WRAPS).format(text), params, op
    if op == "truncate":
        return text[:at], params, op
    if op == "char-flip" and text:
        i = rng.randrange(len(text))
        ch = rng.choice(";'\"`\\/*{}()[]$:\x00\n" + chr(rng.randint(0x80, 0x2FFF)))
        return text[:i] + ch + text[i + 1 :], params, op
    if op == "odd-param" and params:
        key = rng.choice(sorted(params))
        return text, {**params, key: rng.choice(_ODD_PARAMS)}, op
    return text, params, op


# ---- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FuzzInput:
    """One generated input: a file (``data`` with ``suffix``) or a query (``cypher``)."""

    seed: int
    index: int
    kind: str
    mutation: str
    data: bytes = b""
    suffix: str = ""
    cypher: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"fuzz-{self.index:05d}{self.suffix}"

    def write(self, folder: Path) -> Path:
        path = folder / self.filename
        path.write_bytes(self.data)
        return path

    def snippet(self, limit: int = 240) -> str:
        if self.kind == "query":
            return f"{self.cypher[:limit]!r} params={str(self.params)[:limit]}"
        return f"{len(self.data)} bytes {self.suffix}: {self.data[:limit]!r}"

    def reproducer(self) -> str:
        return f"tests.kg.test_fuzz.make_input({self.seed}, {self.index})"


def _fresh(value: dict[str, Any], tag: str) -> dict[str, Any]:
    """HAKE entries under new image keys (new persons instead of already stored ones)."""
    return {f"{k}-{tag}": v for k, v in value.items()}


def _pixel(rng: random.Random, low: float = 0.0) -> float:
    """A float32 pixel coordinate with up to three decimals, as detectors write them."""
    return _f32(round(rng.uniform(low, low + 2000.0), rng.randint(0, 3)))


def _jitter(rng: random.Random, row: dict[str, Any]) -> None:
    """New valid coordinates for ``row``'s boxes and keypoints (the stores must keep any
    float32 value, not only the seeds' round ones)."""
    boxes = [row["box"], *(o["box"] for o in row["objects"]), *row["part_boxes"].values()]
    for box in filter(None, boxes):
        box[0], box[1] = _pixel(rng), _pixel(rng)
        box[2], box[3] = _pixel(rng, box[0]), _pixel(rng, box[1])
    for point in row["keypoints"] or ():
        point[0], point[1] = _pixel(rng), _pixel(rng)


def _observations_input(rng: random.Random, seed: int, index: int) -> FuzzInput:
    seeds = seed_observations()
    rows: list[Any] = rng.sample(seeds, rng.randint(1, len(seeds)))
    ops: list[str] = []
    if rng.random() < 0.5:  # new image ids: accepted inputs then add persons
        for row in rows:
            row["image_id"] = f"{row['image_id']}-{seed}-{index}"
        ops.append("fresh-ids")
        if rng.random() < 0.5:
            for row in rows:
                _jitter(rng, row)
            ops.append("jitter")
    special = rng.random()
    if special < 0.06:
        row = copy.deepcopy(rng.choice(rows))
        rows.append(row)
        ops.append("duplicate-person")
    elif special < 0.1:
        row = copy.deepcopy(rng.choice(rows))
        row["part_states"] = {"hand_hold": 0.0625}
        rows.append(row)
        ops.append("same-person-other-data")
    elif special < 0.14:
        row = copy.deepcopy(rng.choice(rows))
        row["person_id"] = f"extra-{index}"
        if row.get("timestamp") is not None and rng.random() < 0.5:
            row["timestamp"] = row["timestamp"] + 1.0
        rows.append(row)
        ops.append("another-person-same-image")
    elif special < 0.18:
        data = rng.choice((b"", b"\n\n", b"   \n", b"[]\n", b"null\n", b'"x"\n', b"1\n", b"{}\n"))
        return FuzzInput(seed, index, "observations", "+".join([*ops, "empty-or-scalar"]), data, ".jsonl")
    for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
        i = rng.randrange(len(rows))
        rows[i], op = mutate_value(rng, rows[i])
        ops.append(op)
    lines = [dumps(row) for row in rows]
    if rng.random() < 0.1:
        lines.insert(rng.randrange(len(lines) + 1), "")
        ops.append("blank-line")
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    if rng.random() < 0.4:
        data, op = mutate_bytes(rng, data)
        ops.append(op)
    if rng.random() < 0.03:
        data = gzip.compress(data, mtime=0)
        ops.append("gzip")
    return FuzzInput(seed, index, "observations", "+".join(ops) or "none", data, ".jsonl")


def _hake_input(rng: random.Random, seed: int, index: int, kind: str) -> FuzzInput:
    value: Any = seed_hake_image() if kind == "hake-image" else seed_hake_instance()
    ops: list[str] = []
    if rng.random() < 0.5:
        value = _fresh(value, f"{seed}-{index}")
        ops.append("fresh-ids")
    special = rng.random()
    if special < 0.06:
        items = list(value.items())
        key, entry = rng.choice(items)
        other = copy.deepcopy(entry) if rng.random() < 0.5 else {"labels": []}
        items.insert(rng.randrange(len(items) + 1), (key, other))
        value = Pairs(items)
        ops.append("duplicate-image")
    elif special < 0.1:
        data = rng.choice((b"", b"  \n", b"{}", b"[]", b"null", b"[1, 2]", b'"x"', b"0"))
        return FuzzInput(seed, index, kind, "+".join([*ops, "empty-or-scalar"]), data, ".json")
    elif special < 0.14 and kind == "hake-instance":
        entry = rng.choice(list(value.values()))
        entry["labels"] = rng.choice(([], [*entry["labels"], *entry["labels"]]))
        ops.append("labels-edited")
    else:
        for _ in range(rng.choice((0, 1, 1, 1, 1, 2, 3))):
            value, op = mutate_value(rng, value)
            ops.append(op)
    data = dumps(value).encode("utf-8", "surrogatepass")
    if rng.random() < 0.35:
        data, op = mutate_bytes(rng, data)
        ops.append(op)
    suffix = ".json"
    if rng.random() < 0.2:
        data, suffix, op = archive(rng, data)
        ops.append(op)
    return FuzzInput(seed, index, kind, "+".join(ops) or "none", data, suffix)


def _query_input(rng: random.Random, seed: int, index: int) -> FuzzInput:
    ops: list[str] = []
    if rng.random() < 0.45:
        example = rng.choice(sorted(EXAMPLES))
        text, params = EXAMPLES[example].cypher, dict(EXAMPLES[example].params)
        ops.append(f"example:{example}")
    elif rng.random() < 0.25:
        text, params = rng.choice(EXTRA_READS)
        params = dict(params)
        ops.append("read")
    else:
        text, params = rng.choice(ATTACKS), {}
        ops.append("attack")
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        text, params, op = mutate_query(rng, text, params)
        ops.append(op)
    return FuzzInput(seed, index, "query", "+".join(ops), cypher=text, params=params)


def make_input(seed: int, index: int) -> FuzzInput:
    """Input ``index`` of the run seeded ``seed`` (depends on nothing else)."""
    rng = random.Random(f"{seed}/{index}")
    kind = rng.choices(KINDS, weights=_KIND_WEIGHTS)[0]
    if kind == "observations":
        return _observations_input(rng, seed, index)
    if kind == "query":
        return _query_input(rng, seed, index)
    return _hake_input(rng, seed, index, kind)


def make_inputs(seed: int, n: int, start: int = 0) -> Iterator[FuzzInput]:
    return (make_input(seed, i) for i in range(start, start + n))


# ---- the classifier --------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreState:
    """A cheap fingerprint of a store: the count of every node label and relationship type,
    every person's digest and a hash of its stored coordinates (boxes, keypoints, part
    boxes), and a hash of the evidence edges."""

    counts: tuple[tuple[str, int], ...]
    persons: dict[str, str | None]
    vectors: dict[str, str]
    evidence: str

    def diff(self, other: StoreState) -> str:
        mine, theirs = dict(self.counts), dict(other.counts)
        changed = [f"{k} {mine[k]}->{theirs[k]}" for k in mine if mine[k] != theirs[k]]
        added = sorted(set(other.persons) - set(self.persons))
        gone = sorted(set(self.persons) - set(other.persons))
        kept = [k for k in self.persons if k in other.persons]
        redigested = sorted(k for k in kept if self.persons[k] != other.persons[k])
        moved = sorted(k for k in kept if self.vectors[k] != other.vectors[k])
        if added:
            changed.append(f"persons added {added[:3]}")
        if gone:
            changed.append(f"persons removed {gone[:3]}")
        if redigested:
            changed.append(f"persons' digests changed {redigested[:3]}")
        if moved:
            changed.append(f"persons' stored coordinates changed {moved[:3]}")
        if self.evidence != other.evidence:
            changed.append("evidence edges changed")
        return "; ".join(changed) or "no difference"


def _hash(value: Any) -> str:
    return hashlib.blake2b(repr(value).encode(), digest_size=12).hexdigest()


def store_state(store: EmbeddedStore) -> StoreState:
    counts = dict.fromkeys([n.label for n in NODES] + [r.type for r in RELS], 0)
    # One scan per kind instead of a query per table (label() is LadybugDB's; the fuzzer only
    # runs on the embedded store).
    for row in store.query("MATCH (n) RETURN label(n) AS t, count(*) AS c"):
        counts[row["t"]] = row["c"]
    for row in store.query("MATCH ()-[r]->() RETURN label(r) AS t, count(*) AS c"):
        counts[row["t"]] = row["c"]
    rows = store.query(
        "MATCH (p:Person) RETURN p.id AS id, p.digest AS digest, p.bbox AS bbox, p.keypoints AS k, "
        "p.part_boxes AS pb"
    )
    evidence = store.query(
        "MATCH (s:PartState)-[e:IMPLIES]->(t) RETURN s.id AS s, t.id AS t, e.count AS c, e.weight AS w, "
        "e.npmi AS npmi, e.cond_prob AS p"
    )
    return StoreState(
        tuple(sorted(counts.items())),
        {r["id"]: r["digest"] for r in rows},
        {r["id"]: _hash((r["bbox"], r["k"], r["pb"])) for r in rows},
        _hash(sorted(tuple(r.values()) for r in evidence)),
    )


@dataclass(frozen=True)
class Outcome:
    input: FuzzInput
    outcome: str
    message: str

    @property
    def failed(self) -> bool:
        return self.outcome in FAILURES

    def describe(self) -> str:
        item = self.input
        return (
            f"[seed {item.seed} index {item.index}] {item.kind} ({item.mutation}) -> {self.outcome}: "
            f"{self.message[:600]}\n    input: {item.snippet()}\n    reproduce: {item.reproducer()}"
        )


def _f32(value: float) -> float:
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (inside lists too)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _one_line(message: str) -> bool:
    return bool(message.strip()) and len(message.splitlines()) == 1


_READERS: dict[str, Callable[..., Sequence[Any]]] = {
    "hake-image": read_hake_image,
    "hake-instance": read_hake_instance,
}
_INGESTS: dict[str, Callable[..., Any]] = {
    "observations": ingest_observations_jsonl,
    "hake-image": ingest_hake_image,
    "hake-instance": ingest_hake_instance,
}


class Fuzzer:
    """One shared, initialised embedded store with seed persons, and the classifier.

    ``root`` is a scratch folder: the store, the input files, a sink folder that every query
    runs in (its working directory) and that must stay empty, and a CSV file for ``COPY FROM``
    and ``LOAD FROM`` attacks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inputs = root / "inputs"
        self.sink = root / "sink"
        for folder in (self.inputs, self.sink):
            folder.mkdir(parents=True, exist_ok=True)
        self.src = root / "verbs.csv"
        self.src.write_text("fuzz-copied,fuzz copied,998,998\n")
        self.store = EmbeddedStore(root / "store")
        init_store(self.store)
        self.body_parts = ontology.load().body_parts.ids
        seeds = (
            FuzzInput(0, 0, "observations", "seed", dumps_lines(seed_observations()), ".jsonl"),
            FuzzInput(0, 1, "hake-image", "seed", dumps(seed_hake_image()).encode(), ".json"),
            FuzzInput(0, 2, "hake-instance", "seed", dumps(seed_hake_instance()).encode(), ".json"),
        )
        for item in seeds:
            path = self.root / f"seed-{item.index}{item.suffix}"
            path.write_bytes(item.data)
            _INGESTS[item.kind](self.store, path)
        self.reference = store_state(self.store)

    def close(self) -> None:
        self.store.close()

    def run(self, item: FuzzInput) -> Outcome:
        try:
            outcome, message = self._query(item) if item.kind == "query" else self._ingest(item)
        except Exception as err:  # the classifier's own reads failed: the store is broken
            outcome, message = "traceback", f"checking the store afterwards: {type(err).__name__}: {err}"
            self.reference = self._safe_state()
        return Outcome(item, outcome, message)

    def _safe_state(self) -> StoreState:
        try:
            return store_state(self.store)
        except Exception:
            return self.reference

    def _changed(self) -> str | None:
        """How the store differs from the reference (the reference then follows it)."""
        now = store_state(self.store)
        if now == self.reference:
            return None
        diff = self.reference.diff(now)
        self.reference = now  # report the input that changed it, not every later one
        return diff

    def _ingest(self, item: FuzzInput) -> tuple[str, str]:
        path = item.write(self.inputs)
        try:
            try:
                report = _INGESTS[item.kind](self.store, path)
            except HakeError as err:
                message = str(err)
                changed = self._changed()
                if changed is not None:
                    return "store_changed", f"rejected ({type(err).__name__}: {message}) but {changed}"
                if not _one_line(message) or item.filename not in message:
                    return (
                        "unclear_error",
                        f"{type(err).__name__} (multi-line or without the file name): {message!r}",
                    )
                return "clear_error", f"{type(err).__name__}: {message}"
            except Exception as err:
                changed = self._changed()
                extra = f" (and the store changed: {changed})" if changed else ""
                return "traceback", f"{type(err).__name__}: {err}{extra}"
            problems = self._check_accepted(item, path, report)
            if problems:
                return "silently_accepted", "; ".join(problems[:4])
            return "accepted_valid", f"{report.persons_added} added, {report.persons_skipped} skipped"
        finally:
            path.unlink(missing_ok=True)

    def _check_accepted(self, item: FuzzInput, path: Path, report: Any) -> list[str]:
        """What the store holds that the file does not say (empty: nothing)."""
        before = self.reference
        after = store_state(self.store)
        self.reference = after
        try:
            expected = self._expected(item.kind, path)
        except HakeError as err:
            return [f"the ingest accepted a file its reader refuses: {type(err).__name__}: {err}"]
        keys = [key for key, *_ in expected]
        problems: list[str] = []
        if len(set(keys)) != len(keys):
            problems.append(f"accepted a file that names a person twice ({Counter(keys).most_common(1)})")
        added = set(after.persons) - set(before.persons)
        if not added <= set(keys):
            problems.append(f"persons the file does not hold were added: {sorted(added - set(keys))[:3]}")
        if set(before.persons) - set(after.persons):
            problems.append("stored persons were removed")
        kept = [k for k in before.persons if k in after.persons]
        changed = [k for k in kept if before.persons[k] != after.persons[k]]
        if changed:
            problems.append(f"stored persons were changed: {changed[:3]}")
        moved = [k for k in kept if before.vectors[k] != after.vectors[k]]
        if moved:
            problems.append(f"the stored coordinates of persons already stored changed: {moved[:3]}")
        if report.persons_added != len(added) or report.persons_added + report.persons_skipped != len(keys):
            problems.append(
                f"report says {report.persons_added} added + {report.persons_skipped} skipped; the store "
                f"gained {len(added)} of the file's {len(keys)}"
            )
        problems += self._compare(expected)
        return problems

    def _expected(self, kind: str, path: Path) -> list[tuple[str, dict[str, Any], set[str], Any]]:
        """(person key, observation dict, ground-truth activities, image size) per person,
        as the validating readers read the file."""
        out: list[tuple[str, dict[str, Any], set[str], Any]] = []
        if kind == "observations":
            for record in read_observations_jsonl(path):
                row = record.to_dict()
                out.append((_key(row), row, set(), None))
            return out
        for annotation in _READERS[kind](path):
            row = annotation.to_observation().to_dict()
            size = (annotation.width, annotation.height) if isinstance(annotation, PersonAnnotation) else None
            out.append((_key(row), row, set(annotation.activities), size))
        return out

    def _compare(self, expected: list[tuple[str, dict[str, Any], set[str], Any]]) -> list[str]:
        if not expected:
            return []
        ids = [key for key, *_ in expected]
        q = self.store.query
        nodes = {
            r["id"]: r
            for r in q(
                "MATCH (p:Person)-[:IN_IMAGE]->(i:Image) WHERE p.id IN $ids RETURN p.id AS id, "
                "p.person_id AS person_id, p.bbox AS bbox, p.keypoints AS keypoints, p.part_boxes AS "
                "part_boxes, p.track_id AS track_id, p.source AS source, p.model AS model, "
                "i.frame_index AS frame_index, i.timestamp AS timestamp, i.width AS width, "
                "i.height AS height",
                ids=ids,
            )
        }
        maps: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in ("part_states", "active_parts", "near")}
        for name, match, a, b in (
            ("part_states", "-[r:HAS_STATE]->(t:PartState)", "r.prob", "r.source"),
            ("active_parts", "-[r:USES_PART]->(t:BodyPart)", "r.prob", "r.source"),
            ("near", "-[r:NEAR]->(t:Object)", "r.score", "r.count"),
        ):
            for r in q(
                f"MATCH (p:Person){match} WHERE p.id IN $ids "
                f"RETURN p.id AS id, t.id AS term, {a} AS a, {b} AS b",
                ids=ids,
            ):
                maps[name].setdefault(r["id"], {})[r["term"]] = (r["a"], r["b"])
        truth: dict[str, set[str]] = {}
        for r in q(
            "MATCH (p:Person)-[d:DOES]->(a:Activity) WHERE p.id IN $ids AND d.source = 'annotation' "
            "RETURN p.id AS id, a.id AS a",
            ids=ids,
        ):
            truth.setdefault(r["id"], set()).add(r["a"])
        problems: list[str] = []
        for key, row, activities, size in expected:
            node = nodes.get(key)
            if node is None:
                problems.append(f"{key!r}: accepted but not in the store")
                continue
            want: dict[str, Any] = {
                "person_id": row["person_id"],
                "bbox": None if row["box"] is None else [_f32(v) for v in row["box"]],
                "keypoints": None
                if row["keypoints"] is None
                else [_f32(v) for k in row["keypoints"] for v in k],
                "part_boxes": self._part_boxes(row["part_boxes"]),
                "track_id": row["track_id"],
                "source": row["source"],
                "model": row["model"],
                "frame_index": row["frame_index"],
                "timestamp": row["timestamp"],
            }
            if size is not None:
                want["width"], want["height"] = size
            for name, value in want.items():
                if not _same(value, node[name]):
                    problems.append(f"{key!r}.{name}: file says {value!r}, store holds {node[name]!r}")
            for name in ("bbox", "keypoints", "part_boxes"):
                stored = node[name] or []
                if any(math.isinf(v) for v in stored) or (
                    name != "part_boxes" and any(map(math.isnan, stored))
                ):
                    problems.append(f"{key!r}.{name}: a non-finite value in the store: {stored!r}")
            source = row["source"]
            for name in ("part_states", "active_parts"):
                want_map = {t: (p, source) for t, p in row[name].items()}
                got = maps[name].get(key, {})
                if want_map != got:
                    problems.append(f"{key!r}.{name}: file says {want_map}, store holds {got}")
            near: dict[str, tuple[float, int]] = {}
            for o in row["objects"]:
                score, count = near.get(o["object"], (-1.0, 0))
                near[o["object"]] = (max(score, o["score"]), count + 1)
            if near != maps["near"].get(key, {}):
                problems.append(f"{key!r}.objects: file says {near}, store holds {maps['near'].get(key, {})}")
            if activities != truth.get(key, set()):
                problems.append(f"{key!r}.activities: file says {activities}, store holds {truth.get(key)}")
        return problems

    def _part_boxes(self, boxes: dict[str, list[float]]) -> list[float] | None:
        if not boxes:
            return None
        out: list[float] = []
        for part in self.body_parts:
            out.extend([_f32(v) for v in boxes[part]] if part in boxes else [math.nan] * 4)
        return out

    def _query(self, item: FuzzInput) -> tuple[str, str]:
        cypher = item.cypher.replace("@SINK@", str(self.sink)).replace("@SRC@", str(self.src))
        cwd = os.getcwd()
        os.chdir(self.sink)  # a relative path a query writes to lands in the sink
        try:
            try:
                rows = self.store.query(cypher, **item.params)
                outcome, message = "accepted_valid", f"{len(rows)} rows"
            except HakeError as err:
                outcome, message = "clear_error", f"{type(err).__name__}: {' '.join(str(err).split())}"
            except Exception as err:
                outcome, message = "traceback", f"{type(err).__name__}: {err}"
        finally:
            os.chdir(cwd)
        written = sorted(p.name for p in self.sink.iterdir())
        changed = self._changed()
        if written or changed:
            for p in self.sink.iterdir():
                _remove(p)
            what = "; ".join(filter(None, [changed, f"files written: {written}" if written else ""]))
            return "store_changed", f"the query ({message}) changed things: {what}"
        return outcome, message


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            _remove(child)
        path.rmdir()
    else:
        path.unlink()


def dumps_lines(rows: Sequence[Any]) -> bytes:
    return "".join(dumps(r) + "\n" for r in rows).encode()


def _key(row: dict[str, Any]) -> str:
    return person_key(image_key(row["image_id"], row["frame_index"]), row["person_id"])


def summarise(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Counts of every outcome, overall and by kind."""
    total = Counter(o.outcome for o in outcomes)
    by_kind = {
        kind: {
            name: n
            for name in OUTCOMES
            if (n := sum(1 for o in outcomes if o.input.kind == kind and o.outcome == name))
        }
        for kind in KINDS
    }
    return {
        "tried": len(outcomes),
        "clear_errors": total["clear_error"],
        "unclear_errors": total["unclear_error"],
        "tracebacks": total["traceback"],
        "silently_accepted": total["silently_accepted"],
        "store_changed": total["store_changed"],
        "accepted_valid": total["accepted_valid"],
        "by_kind": by_kind,
    }


def run_fuzz(
    fuzzer: Fuzzer, seed: int, n: int, progress: Callable[[int, Outcome], None] | None = None
) -> list[Outcome]:
    out = []
    for item in make_inputs(seed, n):
        outcome = fuzzer.run(item)
        out.append(outcome)
        if progress is not None:
            progress(item.index, outcome)
    return out


# ---- tests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzer]:
    f = Fuzzer(tmp_path_factory.mktemp("fuzz"))
    yield f
    f.close()


def test_generator_is_deterministic() -> None:
    assert [make_input(SEED, i) for i in range(40)] == [make_input(SEED, i) for i in range(40)]
    assert make_input(SEED, 5) != make_input(SEED + 1, 5)
    assert {make_input(SEED, i).kind for i in range(40)} == set(KINDS)


def test_fuzzing_finds_no_traceback_corruption_or_change(fuzzer: Fuzzer) -> None:
    start = time.perf_counter()
    outcomes = run_fuzz(fuzzer, SEED, N_INPUTS)
    summary = summarise(outcomes)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    report = "\n".join(o.describe() for o in outcomes if o.failed)
    assert summary["tracebacks"] == 0, report
    assert summary["silently_accepted"] == 0, report
    assert summary["store_changed"] == 0, report
    assert summary["unclear_errors"] == 0, report
    assert summary["tried"] >= 500
    for kind in KINDS:  # every kind was fuzzed, and most of its inputs were refused clearly
        counts = summary["by_kind"][kind]
        assert sum(counts.values()) >= 60, (kind, counts)
        assert counts.get("clear_error", 0) >= 0.5 * sum(counts.values()), (kind, counts)
    assert summary["accepted_valid"] >= 20  # valid mutations were ingested and round-tripped


def test_cli_gives_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A sample through ``hake ingest``: exit code 0 with nothing on stderr, or 1 / 2 with one
    line that names the file."""
    from kg.cli import main

    with EmbeddedStore(tmp_path / "store") as store:
        init_store(store)
    items = [i for i in make_inputs(SEED + 1, 60) if i.kind != "query"][:20]
    errors = 0
    for item in items:
        path = item.write(tmp_path)
        code = main(["ingest", item.kind, str(path), "--store", str(tmp_path / "store"), "--no-progress"])
        err = capsys.readouterr().err
        where = f"[seed {item.seed} index {item.index}] {item.mutation}: {item.snippet()}"
        if code == 0:
            assert err == "", where
            continue
        errors += 1
        assert code in (1, 2), (code, err, where)
        assert len(err.splitlines()) == 1 and item.filename in err, (err, where)
    assert errors >= 10
