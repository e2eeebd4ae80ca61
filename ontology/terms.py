"""The five kinds of ontology term, as frozen records.

Every term has a stable ``id`` (lower-case, ``[a-z0-9_-]``), a human ``name`` (the
``rdfs:label``), an ``iri`` under :data:`NAMESPACE` and an ``index``: its position in its
list, which is its tensor channel everywhere in the engine.

>>> import ontology
>>> onto = ontology.load()
>>> onto.part_states["hand: hold"].part
'hand'
>>> onto.activities["ride bicycle"].verb, onto.activities["ride bicycle"].object
('ride', 'bicycle')
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "NAMESPACE",
    "Activity",
    "BodyPart",
    "ObjectClass",
    "PartState",
    "Verb",
]

#: Namespace of every term IRI (``hake:`` in the Turtle file).
NAMESPACE = "https://w3id.org/hake-engine/ontology#"


@dataclass(frozen=True, slots=True)
class BodyPart:
    """A fine body part (10, with a side) or a coarse part (6) that groups fine parts.

    ``coarse`` is the id of the coarse part a fine part belongs to; for a coarse part it is
    its own id. ``side`` is ``"right"``, ``"left"`` or ``"mid"`` for fine parts, ``None``
    for coarse ones.
    """

    id: str
    name: str
    iri: str
    index: int
    granularity: str
    coarse: str
    side: str | None


@dataclass(frozen=True, slots=True)
class PartState:
    """A body-part state (PaSta) such as ``"hand: hold"``.

    ``index`` is the position in the 93-state set; ``hico_index`` the position in the
    76-state instance-level (HICO) set, ``None`` for the 17 states outside it.
    """

    id: str
    name: str
    iri: str
    index: int
    part: str
    verb_phrase: str
    no_interaction: bool
    hico_index: int | None


@dataclass(frozen=True, slots=True)
class Verb:
    """A verb of the 157-verb HAKE set; ``hico_id`` is the 1-based HICO id (117 of them)."""

    id: str
    name: str
    iri: str
    index: int
    hico_id: int | None


@dataclass(frozen=True, slots=True)
class ObjectClass:
    """One of the 80 HICO/COCO object categories; ``hico_id`` is 1-based."""

    id: str
    name: str
    iri: str
    index: int
    hico_id: int


@dataclass(frozen=True, slots=True)
class Activity:
    """A HICO activity: exactly one verb (``verb``, a verb id) and one object (``object``)."""

    id: str
    name: str
    iri: str
    index: int
    hoi_id: int
    verb: str
    object: str
