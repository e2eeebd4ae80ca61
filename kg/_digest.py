"""A person's digest and the re-ingest comparison: an ingest stores a hash of everything it
stores about a person (``Person.digest``) and compares it when the person comes again, so a
known person with the same data is skipped and one with other data refused, naming what
differs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from kg._stored import stored_person
from kg.store.base import GraphStore

__all__ = ["changed_person", "person_digest"]


def person_digest(row: Mapping[str, Any], activities: Sequence[str] | None) -> str:
    """A hash of everything an ingest stores about one person: the canonical observation dict
    (:meth:`PersonObservation.to_dict` form) and the ground-truth activities (their set). Two
    ingests of the same person give the same digest whatever the order of map entries."""
    import hashlib

    import orjson

    data = orjson.dumps([row, sorted(set(activities)) if activities else None], option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def changed_person(
    store: GraphStore,
    source: str,
    key: str,
    row: Mapping[str, Any],
    truth: Sequence[str] | None,
    where: str | None,
) -> str:
    """The error for re-ingesting person ``key`` (from ``source``) with data other than what
    ``store`` holds."""
    stored = stored_person(store, key)
    new = {**row, "activities": sorted(set(truth)) if truth else []}
    differs = sorted(
        k
        for k in new
        if k in stored and _canonical(stored[k], k in _FLOAT32) != _canonical(new[k], k in _FLOAT32)
    )
    at = f" ({where})" if where else ""
    return (
        f"{source}{at}: person {key!r} is already stored with other data (differs in "
        f"{', '.join(differs) or 'what was stored'}); an ingest never changes a stored person: "
        "give the person another id, or ingest into a new store"
    )


#: Observation fields the store keeps as 32-bit floats (see kg.schema).
_FLOAT32 = frozenset({"box", "keypoints", "part_boxes"})


def _canonical(value: Any, float32: bool = False) -> Any:
    """``value`` with maps sorted (and, for a ``float32`` field, numbers rounded to float32 as
    the store keeps them), for comparing."""
    import numpy as np

    if isinstance(value, dict):
        return sorted((k, _canonical(v, float32)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return [_canonical(v, float32) for v in value]
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return float(np.float32(value)) if float32 and abs(value) < 3.4e38 else value
    return value
