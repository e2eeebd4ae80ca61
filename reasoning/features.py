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

import torch

import ontology
from ontology import PersonObservation

__all__ = [
    "InputLayout",
    "active_part_slice",
    "encode_labels",
    "encode_observations",
    "input_layout",
    "object_slice",
    "part_state_slice",
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

    @property
    def n_features(self) -> int:
        return self.n_part_states + self.n_body_parts + self.n_objects


@functools.cache
def input_layout() -> InputLayout:
    """The layout for the packaged ontology."""
    onto = ontology.load()
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
    )


def part_state_slice() -> slice:
    """Channels of the part states in an input row."""
    return slice(0, input_layout().n_part_states)


def active_part_slice() -> slice:
    """Channels of the active fine body parts in an input row."""
    lay = input_layout()
    return slice(lay.n_part_states, lay.n_part_states + lay.n_body_parts)


def object_slice() -> slice:
    """Channels of the objects in an input row."""
    lay = input_layout()
    return slice(lay.n_part_states + lay.n_body_parts, lay.n_features)


def encode_observations(observations: Sequence[PersonObservation]) -> torch.Tensor:
    """Encode observations as input rows.

    Shapes:
        returns ``(len(observations), 183)`` float32.
    """
    lay = input_layout()
    x = torch.zeros(len(observations), lay.n_features)
    o_ps, o_bp, o_obj = 0, lay.n_part_states, lay.n_part_states + lay.n_body_parts
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, obs in enumerate(observations):
        if not isinstance(obs, PersonObservation):
            raise TypeError(
                f"encode_observations: expected PersonObservation records, got "
                f"{type(obs).__name__} at position {i}; build them with "
                f"ontology.PersonObservation(...) or ImageAnnotation.to_observation()"
            )
        for key, p in obs.part_states.items():
            rows.append(i)
            cols.append(o_ps + lay.part_state_index[key])
            vals.append(p)
        for key, p in obs.active_parts.items():
            rows.append(i)
            cols.append(o_bp + lay.body_part_index[key])
            vals.append(p)
        for det in obs.objects:
            rows.append(i)
            cols.append(o_obj + lay.object_index[det.object])
            vals.append(det.score)
    if rows:
        # scatter "amax": an object detected several times keeps its highest score
        flat = x.view(-1)
        flat.scatter_reduce_(
            0,
            torch.tensor(rows) * lay.n_features + torch.tensor(cols),
            torch.tensor(vals, dtype=torch.float32),
            reduce="amax",
        )
    return x


def encode_labels(activities: Sequence[Iterable[str]]) -> torch.Tensor:
    """Multi-hot activity labels, one row per example.

    Args:
        activities: per example, activity ids (as on the annotation records).

    Shapes:
        returns ``(len(activities), 600)`` float32.
    """
    lay = input_layout()
    rows: list[int] = []
    cols: list[int] = []
    for i, acts in enumerate(activities):
        for a in acts:
            rows.append(i)
            cols.append(lay.activity_index[a])
    y = torch.zeros(len(activities), lay.n_activities)
    y[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)] = 1.0
    return y
