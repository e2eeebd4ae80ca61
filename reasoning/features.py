"""Records -> tensors: the one input layout every reasoner reads.

A person is one row of ``F = 93 + 10 + 80 = 183`` channels, in ontology order::

    [ part states (93, onto.part_states) | active fine parts (10, onto.body_parts)
      | objects present (80, onto.objects) ]

Values are probabilities (1.0 for ground truth); an absent key is 0. An object seen several
times keeps its highest score. Labels are multi-hot rows over the 600 activities.

>>> import ontology
>>> obs = ontology.PersonObservation(image_id="i", person_id="0",
...     part_states={"hand: hold": 0.9}, objects=(ontology.DetectedObject("cup", 0.7),))
>>> x = encode_observations([obs])
>>> tuple(x.shape), round(float(x[0, part_state_slice().start + 37]), 2)
((1, 183), 0.9)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

import ontology
from ontology import PersonObservation
from ontology.errors import ReasoningError

__all__ = [
    "InputLayout",
    "active_part_slice",
    "encode_indexed",
    "encode_labels",
    "encode_observations",
    "input_layout",
    "matched_positions",
    "object_slice",
    "part_state_slice",
    "remap_labels",
    "remap_rows",
]


@dataclass(frozen=True)
class InputLayout:
    """Channel counts and lookup tables of the input row (built once per process)."""

    n_part_states: int
    n_body_parts: int
    n_objects: int
    n_activities: int
    n_verbs: int
    part_state_index: dict[str, int]
    body_part_index: dict[str, int]
    object_index: dict[str, int]
    activity_index: dict[str, int]
    #: per input channel, the contribution kind (``"part_state"``, ``"body_part"``, ``"object"``)
    channel_kinds: tuple[str, ...]
    #: per input channel, the term id
    channel_terms: tuple[str, ...]
    #: activity ids in channel order
    activity_ids: tuple[str, ...]
    #: per activity, its verb's index (-1 for a composite) and its object's (-1 for a
    #: person-only action or a composite)
    verb_of: tuple[int, ...] = ()
    object_of: tuple[int, ...] = ()
    #: per activity, its level in the hierarchy ("atomic", "composite", "area"...)
    activity_levels: tuple[str, ...] = ()

    @property
    def n_features(self) -> int:
        return self.n_part_states + self.n_body_parts + self.n_objects

    @property
    def part_states(self) -> slice:
        """Channels of the part states in an input row."""
        return slice(0, self.n_part_states)

    @property
    def active_parts(self) -> slice:
        """Channels of the active fine body parts in an input row."""
        return slice(self.n_part_states, self.n_part_states + self.n_body_parts)

    @property
    def objects(self) -> slice:
        """Channels of the objects in an input row."""
        return slice(self.n_part_states + self.n_body_parts, self.n_features)


def input_layout(onto: ontology.Ontology | None = None) -> InputLayout:
    """The layout of ``onto``'s input rows (default: the packaged ontology). Layouts are kept
    per ontology (by content id), never shared between two."""
    return _layout(ontology.load() if onto is None else onto)


@functools.lru_cache(maxsize=8)
def _layout(onto: ontology.Ontology) -> InputLayout:
    return InputLayout(
        n_part_states=len(onto.part_states),
        n_body_parts=len(onto.body_parts),
        n_objects=len(onto.objects),
        n_activities=len(onto.activities),
        n_verbs=len(onto.verbs),
        part_state_index={t.id: t.index for t in onto.part_states},
        body_part_index={t.id: t.index for t in onto.body_parts},
        object_index={t.id: t.index for t in onto.objects},
        activity_index={t.id: t.index for t in onto.activities},
        channel_kinds=(
            ("part_state",) * len(onto.part_states)
            + ("body_part",) * len(onto.body_parts)
            + ("object",) * len(onto.objects)
        ),
        channel_terms=(*onto.part_states.ids, *onto.body_parts.ids, *onto.objects.ids),
        activity_ids=tuple(onto.activities.ids),
        verb_of=tuple(-1 if a.verb is None else onto.verbs[a.verb].index for a in onto.activities),
        object_of=tuple(-1 if a.object is None else onto.objects[a.object].index for a in onto.activities),
        activity_levels=tuple(a.level for a in onto.activities),
    )


def part_state_slice(onto: ontology.Ontology | None = None) -> slice:
    """Channels of the part states in an input row of ``onto`` (default packaged)."""
    return input_layout(onto).part_states


def active_part_slice(onto: ontology.Ontology | None = None) -> slice:
    """Channels of the active fine body parts in an input row of ``onto``."""
    return input_layout(onto).active_parts


def object_slice(onto: ontology.Ontology | None = None) -> slice:
    """Channels of the objects in an input row of ``onto``."""
    return input_layout(onto).objects


def encode_observations(
    observations: Sequence[PersonObservation], onto: ontology.Ontology | None = None
) -> torch.Tensor:
    """Encode observations (made with ``onto``, default the packaged ontology) as input rows.

    Shapes:
        returns ``(len(observations), F)`` float32, ``F = 183`` for the packaged ontology.
    """
    lay = input_layout(onto)
    ps_of, bp_of, ob_of = (
        lay.part_state_index.__getitem__,
        lay.body_part_index.__getitem__,
        lay.object_index.__getitem__,
    )
    # per kind: terms, values and how many each person has (rows follow from the counts;
    # measured 480K persons/s for simulated persons, against 130-190K appending per entry)
    ps_idx: list[int] = []
    ps_val: list[float] = []
    ps_n: list[int] = []
    bp_idx: list[int] = []
    bp_val: list[float] = []
    bp_n: list[int] = []
    ob_idx: list[int] = []
    ob_val: list[float] = []
    ob_n: list[int] = []
    for i, obs in enumerate(observations):
        if not isinstance(obs, PersonObservation):
            raise TypeError(
                f"encode_observations: expected PersonObservation records, got "
                f"{type(obs).__name__} at position {i}; build them with "
                f"ontology.PersonObservation(...) or ImageAnnotation.to_observation()"
            )
        states, parts, objects = obs.part_states, obs.active_parts, obs.objects
        ps_idx.extend(map(ps_of, states))
        ps_val.extend(states.values())
        ps_n.append(len(states))
        if parts:
            bp_idx.extend(map(bp_of, parts))
            bp_val.extend(parts.values())
        bp_n.append(len(parts))
        for det in objects:
            ob_idx.append(ob_of(det.object))
            ob_val.append(det.score)
        ob_n.append(len(objects))
    n = len(observations)
    people = np.arange(n, dtype=np.int64)

    def entries(idx: list[int], val: list[float], counts: list[int]) -> Entries:
        rows = np.repeat(people, np.array(counts, dtype=np.int64))
        return (
            torch.from_numpy(rows),
            torch.from_numpy(np.array(idx, dtype=np.int64)),
            torch.from_numpy(np.array(val, dtype=np.float32)),
        )

    return encode_indexed(
        n,
        part_states=entries(ps_idx, ps_val, ps_n),
        active_parts=entries(bp_idx, bp_val, bp_n),
        objects=entries(ob_idx, ob_val, ob_n),
        onto=onto,
    )


#: Per kind of evidence: (person rows, term positions in ontology order, values), 1-D each.
Entries = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def encode_indexed(
    n: int,
    part_states: Entries | None = None,
    active_parts: Entries | None = None,
    objects: Entries | None = None,
    onto: ontology.Ontology | None = None,
) -> torch.Tensor:
    """Encode evidence given column-wise: the bulk form of :func:`encode_observations`
    (rows in ``onto``'s layout, default the packaged ontology).

    Each argument is ``(rows, terms, values)``: the person's row (0..n-1), the term's
    position in the ontology's order (``onto.part_states``, ``onto.body_parts``,
    ``onto.objects``) and the probability or detection score. Repeated (row, term) pairs
    keep their highest value (an object detected several times).

    Shapes:
        returns ``(n, 183)`` float32.

    >>> import torch
    >>> x = encode_indexed(2, part_states=(torch.tensor([1]), torch.tensor([37]), torch.tensor([0.9])))
    >>> tuple(x.shape), round(float(x[1, 37]), 2), float(x[0].sum())
    ((2, 183), 0.9, 0.0)
    """
    lay = input_layout(onto)
    x = torch.zeros(n, lay.n_features)
    flat = x.view(-1)
    for entries, offset, size in (
        (part_states, 0, lay.n_part_states),
        (active_parts, lay.n_part_states, lay.n_body_parts),
        (objects, lay.n_part_states + lay.n_body_parts, lay.n_objects),
    ):
        if entries is None or not len(entries[0]):
            continue
        rows, terms, values = (torch.as_tensor(t) for t in entries)
        if int(terms.min()) < 0 or int(terms.max()) >= size or int(rows.min()) < 0 or int(rows.max()) >= n:
            raise ReasoningError(
                f"encode_indexed: term positions must be in 0..{size - 1} and rows in 0..{n - 1}, got "
                f"terms {int(terms.min())}..{int(terms.max())}, rows {int(rows.min())}..{int(rows.max())}"
            )
        # scatter "amax": a repeated entry (an object detected several times) keeps its highest value
        flat.scatter_reduce_(
            0,
            rows.long() * lay.n_features + offset + terms.long(),
            values.to(torch.float32),
            reduce="amax",
        )
    return x


def encode_labels(activities: Sequence[Iterable[str]], onto: ontology.Ontology | None = None) -> torch.Tensor:
    """Multi-hot activity labels, one row per example.

    Args:
        activities: per example, activity ids (as on the annotation records).
        onto: the ontology whose activity order the columns follow (default packaged).

    Shapes:
        returns ``(len(activities), n_activities)`` float32 (600 for the packaged ontology).
    """
    lay = input_layout(onto)
    rows: list[int] = []
    cols: list[int] = []
    for i, acts in enumerate(activities):
        for a in acts:
            rows.append(i)
            cols.append(lay.activity_index[a])
    y = torch.zeros(len(activities), lay.n_activities)
    y[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)] = 1.0
    return y


def matched_positions(source: Sequence[str], target: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The positions in ``source`` and in ``target`` of every id both lists hold (in
    ``target``'s order): how a tensor of one ontology's terms is carried into another's.

    >>> matched_positions(["a", "b", "c"], ["c", "x", "a"])
    (tensor([2, 0]), tensor([0, 2]))
    """
    at = {t: i for i, t in enumerate(source)}
    pairs = [(at[t], j) for j, t in enumerate(target) if t in at]
    return (
        torch.tensor([p[0] for p in pairs], dtype=torch.long),
        torch.tensor([p[1] for p in pairs], dtype=torch.long),
    )


def remap_rows(x: torch.Tensor, source: ontology.Ontology, target: ontology.Ontology) -> torch.Tensor:
    """Input rows of ``source``'s layout in ``target``'s: every channel whose term (matched by
    id) both have is copied, the others are 0.

    >>> import ontology
    >>> full = ontology.load(); ext = ontology.load(ontology.example_extension())
    >>> x = torch.zeros(1, 183); x[0, 37] = 1.0
    >>> y = remap_rows(x, full, ext)
    >>> tuple(y.shape), float(y[0, 37]), float(y.sum())
    ((1, 196), 1.0, 1.0)
    """
    src, dst = input_layout(source), input_layout(target)
    out = x.new_zeros(x.shape[0], dst.n_features)
    for s_terms, d_terms, s_at, d_at in (
        (source.part_states.ids, target.part_states.ids, src.part_states.start, dst.part_states.start),
        (source.body_parts.ids, target.body_parts.ids, src.active_parts.start, dst.active_parts.start),
        (source.objects.ids, target.objects.ids, src.objects.start, dst.objects.start),
    ):
        i, j = matched_positions(s_terms, d_terms)
        out[:, d_at + j] = x[:, s_at + i]
    return out


def remap_labels(y: torch.Tensor, source: ontology.Ontology, target: ontology.Ontology) -> torch.Tensor:
    """Labels of ``source``'s activities in ``target``'s columns (matched by id; an activity
    ``target`` lacks is dropped, one ``source`` lacks is 0)."""
    out = y.new_zeros(y.shape[0], len(target.activities))
    i, j = matched_positions(source.activities.ids, target.activities.ids)
    out[:, j] = y[:, i]
    return out
