"""One chunk of an ingest: the items it writes and their part-state and active-part maps
checked column-wise (:func:`map_columns`), handed to :mod:`kg.reason` and the evidence as a
:class:`CheckedChunk`."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ontology import Ontology

__all__ = ["CheckedChunk", "ChunkHook", "Item", "MapColumns", "map_columns"]


#: One person to ingest: its observation dict (``PersonObservation.to_dict()`` form, maps
#: maybe unchecked), its ground-truth activities or None, and where it came from (for errors).
Item = tuple[dict[str, Any], Sequence[str] | None, str | None]


@dataclass(frozen=True)
class CheckedChunk:
    """One checked chunk of an ingest, for :mod:`kg.reason` and the evidence: the canonical
    observation dicts (:meth:`PersonObservation.to_dict` form), their person keys and image
    node ids, and the part-state and active-part entries column-wise (position in the chunk,
    term id, probability); per item, its ground-truth activities (None for model
    observations), whether this ingest adds the person (False: already stored) and, for a
    person it replaces, what the store held before (:func:`kg._stored.stored_person`)."""

    rows: list[dict[str, Any]]
    keys: list[str]
    images: list[str]
    part_states: tuple[Any, Any, Any]
    active_parts: tuple[Any, Any, Any]
    activities: list[Sequence[str] | None]
    added: list[bool]
    #: per item, what the store held about a person this ingest replaces (``--replace``), else None
    replaced: list[dict[str, Any] | None]


#: Called with each checked chunk (see :func:`kg.ingest.ingest_observations_jsonl`).
ChunkHook = Callable[[CheckedChunk], None]


@dataclass
class MapColumns:
    """One observation map (``part_states`` or ``active_parts``) of a chunk, column-wise:
    per entry, the item's position in the chunk, the term id and the probability."""

    item: Any  # pyarrow int32 array
    term: Any  # pyarrow string array
    prob: Any  # pyarrow float64 array


def map_columns(chunk: list[Item], onto: Ontology) -> tuple[MapColumns, MapColumns] | None:
    """The chunk's part states and active parts column-wise, or None when any entry is not
    a known term id with a probability in [0, 1] (the caller then checks record by record,
    which names the bad entry and also accepts term names)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    for key, vocab in (("part_states", onto.part_states), ("active_parts", onto.body_parts)):
        maps = [row[key] for row, _, _ in chunk]
        terms = list(itertools.chain.from_iterable(maps))
        probs = list(itertools.chain.from_iterable(m.values() for m in maps))
        if not set(map(type, terms)) <= {str} or not set(map(type, probs)) <= {float}:
            return None  # ints (and bools) are made floats by the record-by-record check
        term = pa.array(terms, type=pa.string())
        prob = pa.array(probs, type=pa.float64())
        if len(prob):
            if not pc.all(pc.is_in(term, value_set=pa.array(vocab.ids, type=pa.string()))).as_py():
                return None
            low, high = pc.min_max(prob).values()
            if low.as_py() < 0.0 or high.as_py() > 1.0 or pc.any(pc.is_nan(prob)).as_py():
                return None
        counts = np.fromiter(map(len, maps), dtype=np.int64, count=len(maps))
        item = pa.array(np.repeat(np.arange(len(maps), dtype=np.int32), counts))
        out.append(MapColumns(item, term, prob))
    return out[0], out[1]
