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
    synonyms: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class Verb:
    """A verb: the 157 of HAKE (``hico_id`` is the 1-based HICO id of 117 of them) and any an
    extension adds. ``part_states`` are the characteristic part states of the verb, as
    ``(part state id, weight)`` pairs: prior edges for reasoning (empty for HAKE's verbs,
    whose edges are learnt from the annotations)."""

    id: str
    name: str
    iri: str
    index: int
    hico_id: int | None
    synonyms: tuple[str, ...] = ()
    description: str = ""
    part_states: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectClass:
    """An object category: the 80 of HICO/COCO (``hico_id`` 1-based) and any an extension adds
    (``hico_id`` ``None``)."""

    id: str
    name: str
    iri: str
    index: int
    hico_id: int | None
    synonyms: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class Activity:
    """An activity of one of three shapes:

    - an **interaction**: a verb and an object (the 600 HICO activities, ``hoi_id`` 1-based);
    - a **person-only action**: a verb and no object (``object`` is ``None``: run, jump, wave);
    - a **composite**: no verb; it groups the activities whose ``broader`` names it
      (area -> composite -> atomic, to any depth).

    ``level`` names the level in the hierarchy (``"atomic"`` for anything with a verb and
    ``"composite"`` otherwise, unless the ontology file says e.g. ``"area"``); ``broader``
    the ids of the composites directly above; ``part_states`` the characteristic part states
    as ``(part state id, weight)`` pairs (prior edges for reasoning); ``synonyms`` and
    ``description`` give text for the label embeddings.
    """

    id: str
    name: str
    iri: str
    index: int
    hoi_id: int | None
    verb: str | None
    object: str | None
    level: str = "atomic"
    broader: tuple[str, ...] = ()
    part_states: tuple[tuple[str, float], ...] = ()
    synonyms: tuple[str, ...] = ()
    description: str = ""

    @property
    def is_composite(self) -> bool:
        """True for a composite (no verb): it is scored from the activities under it."""
        return self.verb is None
