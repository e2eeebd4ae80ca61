"""The activity ontology as a value: the packaged HAKE terms plus any extension files.

``ontology.load()`` is the packaged ontology (cached: one object); ``ontology.load(*files)``
merges extension files into it (:mod:`ontology.extension` describes the two formats). Every
layer takes the :class:`Ontology` it works with; nothing fetches one from a global.

The Turtle file ``ontology/data/hake.ttl`` is the single source of truth. It is read with
pyoxigraph's streaming Turtle parser (measured here: 0.05 s for the 8,152 triples, against
1.1 s for importing and parsing with rdflib), so ``import ontology; ontology.load()`` is
fast and never imports torch. rdflib reads the same file where a full RDF graph is wanted
(:func:`ontology.turtle_path` gives its path).

>>> import ontology
>>> onto = ontology.load()
>>> len(onto.part_states), len(onto.hico_part_states), len(onto.activities)
(93, 76, 600)
>>> onto.activities.by_hoi_id(1).name
'board airplane'
>>> onto.id == ontology.load().id, len(onto.id)
(True, 23)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ontology import extension
from ontology.errors import UnknownTermError
from ontology.terms import Activity, BodyPart, ObjectClass, PartState, Verb
from ontology.vocabulary import Vocabulary

__all__ = [
    "ActivityVocabulary",
    "Ontology",
    "OntologySource",
    "example_extension",
    "from_sources",
    "load",
    "read_ontology",
    "turtle_path",
]

#: IRI of the ontology document itself (carries ``owl:versionInfo``).
ONTOLOGY_IRI = "https://w3id.org/hake-engine/ontology"

#: The coarse body parts in the order HAKE groups part states (foot, leg, hip, hand, arm, head).
COARSE_PART_ORDER = ("foot", "leg", "hip", "hand", "arm", "head")


def turtle_path() -> Path:
    """Path of the packaged ontology Turtle file."""
    return Path(str(resources.files("ontology") / "data" / "hake.ttl"))


def example_extension() -> Path:
    """Path of the example extension written for this project: ``everyday-actions.yaml``
    (3 areas, 10 composites, 36 atomic actions; see its comments)."""
    return Path(str(resources.files("ontology") / "data" / "extensions" / "everyday-actions.yaml"))


class ActivityVocabulary(Vocabulary[Activity]):
    """Activities, with lookups by HICO ``hoi_id``, by (verb, object) and down the hierarchy."""

    def __init__(self, terms: list[Activity]) -> None:
        super().__init__("activity", terms)
        self._by_hoi = {a.hoi_id: a for a in terms if a.hoi_id is not None}
        self._by_pair = {(a.verb, a.object): a for a in terms if a.verb is not None}
        narrower: dict[str, list[Activity]] = {a.id: [] for a in terms}
        for a in terms:
            for b in a.broader:
                narrower[b].append(a)
        self._narrower = {k: tuple(v) for k, v in narrower.items()}

    def by_hoi_id(self, hoi_id: int) -> Activity:
        """The activity with 1-based HICO id ``hoi_id``."""
        try:
            return self._by_hoi[hoi_id]
        except KeyError:
            raise UnknownTermError("activity hoi_id", hoi_id, [f"an int in 1..{len(self._by_hoi)}"]) from None

    def by_verb_object(self, verb: str, obj: str | None) -> Activity:
        """The activity of verb id ``verb`` applied to object id ``obj`` (``None``: person-only)."""
        try:
            return self._by_pair[(verb, obj)]
        except KeyError:
            raise UnknownTermError("activity (verb, object)", (verb, obj), []) from None

    def narrower(self, key: object) -> tuple[Activity, ...]:
        """The activities directly under the activity ``key`` (in channel order)."""
        return self._narrower[self[key].id]

    def descendants(self, key: object) -> tuple[Activity, ...]:
        """Every activity under ``key``, at any depth (each once, in channel order)."""
        found: dict[str, Activity] = {}
        todo = list(self.narrower(key))
        while todo:
            a = todo.pop()
            if a.id not in found:
                found[a.id] = a
                todo.extend(self._narrower[a.id])
        return tuple(sorted(found.values(), key=lambda a: a.index))

    def ancestors(self, key: object) -> tuple[Activity, ...]:
        """Every composite above ``key``, at any depth (each once, in channel order)."""
        found: dict[str, Activity] = {}
        todo = list(self[key].broader)
        while todo:
            b = self[todo.pop()]
            if b.id not in found:
                found[b.id] = b
                todo.extend(b.broader)
        return tuple(sorted(found.values(), key=lambda a: a.index))


@dataclass(frozen=True)
class OntologySource:
    """One file an ontology was built from: its name, version and path (``None``: packaged);
    for an extension also its format (``"yaml"``/``"turtle"``) and text, which is what a store
    keeps to rebuild the same ontology (:func:`from_sources`)."""

    name: str
    version: str
    path: str | None
    format: str | None = None
    text: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "version": self.version,
            "path": self.path,
            "format": self.format,
            "text": self.text,
        }


@dataclass(frozen=True, eq=False)
class Ontology:
    """An ontology value. Every list is in channel order; never reorder them.

    Attributes:
        version: ``owl:versionInfo`` of the packaged file, then ``+<name>-<version>`` per
            extension.
        body_parts: the 10 fine parts in HAKE ``parts_list`` order (right foot, right leg,
            left leg, left foot, hip, head, right hand, right arm, left arm, left hand).
        coarse_parts: the 6 coarse parts (foot, leg, hip, hand, arm, head).
        part_states: the 93 HAKE part states, then those of extensions; ``hico_part_states``
            the 76 of the HICO set, in 76-set order.
        verbs: 157 (117 HICO verbs first, in HICO order) then extensions'; objects: 80 then
            extensions'; activities: 600 then extensions'.
        sources: the files, packaged first.

    Two ontologies are equal when their :attr:`id` (a hash of every term and its order) is.
    """

    version: str
    body_parts: Vocabulary[BodyPart]
    coarse_parts: Vocabulary[BodyPart]
    part_states: Vocabulary[PartState]
    hico_part_states: tuple[PartState, ...]
    verbs: Vocabulary[Verb]
    objects: Vocabulary[ObjectClass]
    activities: ActivityVocabulary
    sources: tuple[OntologySource, ...] = ()

    @functools.cached_property
    def id(self) -> str:
        """The content id: ``sha256:`` and 16 hex digits of a hash of every term (all its
        fields) in channel order. Stable across machines, runs and versions of the files'
        formatting; it changes when any term or the order changes."""
        digest = hashlib.sha256()
        for kind, terms in self._lists():
            rows = [dataclasses.astuple(t) for t in terms]  # type: ignore[call-overload]
            digest.update(json.dumps([kind, rows], separators=(",", ":")).encode())
        return "sha256:" + digest.hexdigest()[:16]

    def _lists(self) -> Iterator[tuple[str, tuple[object, ...]]]:
        yield "body_parts", tuple(self.body_parts)
        yield "coarse_parts", tuple(self.coarse_parts)
        yield "part_states", tuple(self.part_states)
        yield "verbs", tuple(self.verbs)
        yield "objects", tuple(self.objects)
        yield "activities", tuple(self.activities)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ontology) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Ontology({self.id}, version {self.version!r}, {len(self.activities)} activities)"

    def extend(self, *files: str | os.PathLike[str]) -> Ontology:
        """This ontology with the terms of ``files`` appended (each may use the earlier ones).
        Raises :class:`~ontology.errors.OntologyFileError`."""
        items = []
        for file in files:
            parsed, fmt, text = extension.read_file(os.fspath(file))
            items.append((parsed, OntologySource(parsed.name, parsed.version, str(file), fmt, text)))
        return _merged(self, items)

    def is_subset_of(self, other: Ontology) -> bool:
        """True when every list of this ontology is a prefix of ``other``'s (same terms, same
        channels): what a checkpoint trained on this ontology needs to run on ``other``."""
        return all(
            tuple(theirs[: len(mine)]) == mine
            for (_, mine), (_, theirs) in zip(self._lists(), other._lists(), strict=True)
        )

    def without_verbs(self, verbs: Iterable[str], name: str = "without-verbs") -> Ontology:
        """This ontology less ``verbs`` and every activity of theirs (:meth:`restricted`). What
        a novel-vocabulary protocol trains on: the removed terms come back as an extension
        file (:mod:`reasoning.novel`).

        >>> small = load().without_verbs(["ride", "feed"])
        >>> len(small.verbs), len(small.activities), "ride bicycle" in small.activities
        (155, 573, False)
        """
        gone = {self.verbs[v].id for v in verbs}
        if not gone:
            raise ValueError("without_verbs: expected at least one verb, got none")
        return self.restricted(verbs=[v.id for v in self.verbs if v.id not in gone], name=name)

    def restricted(
        self,
        *,
        part_states: Iterable[str] | None = None,
        verbs: Iterable[str] | None = None,
        objects: Iterable[str] | None = None,
        name: str = "restricted",
    ) -> Ontology:
        """The terms of this ontology that are kept: the given part states, verbs and objects
        (``None`` keeps all of a kind; body parts are always kept), the activities whose verb
        and object are kept and whose broader activities are (composites need a member
        kept), and the definitions' part states that are kept. Lists keep their order;
        indices (and HICO part-state indices) are renumbered. A small ontology for tests, or
        the checkpoint ontology of a protocol.

        The restriction is recorded as a source (format ``"restricted"``, the kept ids as
        JSON), so :func:`from_sources` rebuilds it.

        >>> toy = load().restricted(part_states=["hand: hold", "hip: sit on"], verbs=["ride", "hold"],
        ...                         objects=["bicycle", "horse"], name="toy")
        >>> [a.name for a in toy.activities], len(toy.part_states), toy.version
        (['hold bicycle', 'ride bicycle', 'hold horse', 'ride horse'], 2, '1.0.0-toy')
        """
        keep_ps = None if part_states is None else {self.part_states[p].id for p in part_states}
        keep_v = None if verbs is None else {self.verbs[v].id for v in verbs}
        keep_o = None if objects is None else {self.objects[o].id for o in objects}

        def kept(ids: set[str] | None, term_id: str | None) -> bool:
            return term_id is None or ids is None or term_id in ids

        states = [p for p in self.part_states if kept(keep_ps, p.id)]
        state_ids = {p.id for p in states}
        hico = sorted((p for p in states if p.hico_index is not None), key=lambda p: p.hico_index or 0)
        hico_at = {p.id: i for i, p in enumerate(hico)}
        states = [dataclasses.replace(p, index=i, hico_index=hico_at.get(p.id)) for i, p in enumerate(states)]
        verbs_left = [
            dataclasses.replace(
                v, index=i, part_states=tuple((s, w) for s, w in v.part_states if s in state_ids)
            )
            for i, v in enumerate(v for v in self.verbs if kept(keep_v, v.id))
        ]
        objects_left = [
            dataclasses.replace(o, index=i)
            for i, o in enumerate(o for o in self.objects if kept(keep_o, o.id))
        ]
        acts = [
            a
            for a in self.activities
            if not a.is_composite and kept(keep_v, a.verb) and kept(keep_o, a.object)
        ]
        alive = {a.id for a in acts}
        changed = True
        while changed:  # composites with a member kept, up the hierarchy
            changed = False
            for a in self.activities:
                if (
                    a.is_composite
                    and a.id not in alive
                    and any(a.id in m.broader for m in self.activities if m.id in alive)
                ):
                    alive.add(a.id)
                    changed = True
        acts_left = [
            dataclasses.replace(
                a,
                index=i,
                broader=tuple(b for b in a.broader if b in alive),
                part_states=tuple((s, w) for s, w in a.part_states if s in state_ids),
            )
            for i, a in enumerate(a for a in self.activities if a.id in alive)
        ]
        lists = extension.Vocabularies(
            list(self.body_parts), list(self.coarse_parts), states, verbs_left, objects_left, acts_left
        )
        version = f"{self.version}-{name}"
        kept_ids = {
            "part_states": None if keep_ps is None else [p.id for p in states],
            "verbs": None if keep_v is None else [v.id for v in verbs_left],
            "objects": None if keep_o is None else [o.id for o in objects_left],
        }
        source = OntologySource(name, version, None, "restricted", json.dumps(kept_ids))
        return _build(version, lists, (*self.sources, source))

    def part_states_of(self, coarse_part: str) -> tuple[PartState, ...]:
        """Part states of one coarse part, in channel order."""
        part = self.coarse_parts[coarse_part].id
        return tuple(p for p in self.part_states if p.part == part)

    def hico_part_states_of(self, coarse_part: str) -> tuple[PartState, ...]:
        """Part states of one coarse part in the 76 set, in 76-set order."""
        part = self.coarse_parts[coarse_part].id
        return tuple(p for p in self.hico_part_states if p.part == part)

    def stats(self) -> dict[str, int | str]:
        """Term counts, as printed by ``hake ontology stats``."""
        return {
            "id": self.id,
            "version": self.version,
            "body_parts_fine": len(self.body_parts),
            "body_parts_coarse": len(self.coarse_parts),
            "part_states": len(self.part_states),
            "part_states_hico": len(self.hico_part_states),
            "verbs": len(self.verbs),
            "verbs_hico": sum(v.hico_id is not None for v in self.verbs),
            "objects": len(self.objects),
            "activities": len(self.activities),
            "activities_person_only": sum(a.verb is not None and a.object is None for a in self.activities),
            "activities_composite": sum(a.is_composite for a in self.activities),
        }

    def to_turtle(self) -> str:
        """The whole ontology as Turtle in the project's vocabulary; ``load(path)`` of the
        written file gives an ontology with the same :attr:`id`."""
        from ontology.turtle import to_turtle

        return to_turtle(self)


def from_sources(sources: list[dict[str, str | None]]) -> Ontology:
    """Rebuild an ontology from :meth:`OntologySource.to_dict` dicts (packaged first, then
    extensions with their text): what a store records of its ontology. Reads no file."""
    onto = load()
    if not sources or sources[0].get("path") is not None:
        raise ValueError("the first source of an ontology is the packaged one")
    if sources[0].get("version") != onto.version:
        raise ValueError(
            f"the ontology was built on packaged version {sources[0].get('version')!r}; this install has "
            f"{onto.version!r}"
        )
    items: list[tuple[extension.ParsedFile, OntologySource]] = []
    for source in sources[1:]:
        text, fmt = source.get("text"), source.get("format")
        if text is None or fmt is None:
            raise ValueError(f"extension source {source.get('name')!r} has no text")
        if fmt == "restricted":
            kept = json.loads(text)
            onto = _merged(onto, items).restricted(**kept, name=str(source.get("name")))
            items = []
            continue
        parsed = extension.read_text(text, str(source.get("path") or source.get("name")), fmt)
        items.append((parsed, OntologySource(parsed.name, parsed.version, source.get("path"), fmt, text)))
    return _merged(onto, items)


def read_ontology(text: str, shown: str = "ontology.ttl") -> Ontology:
    """A whole ontology from the Turtle :meth:`Ontology.to_turtle` wrote (what a reasoner
    checkpoint carries), standing on its own: not merged into the packaged one, so it may
    also hold fewer terms (:meth:`Ontology.without_verbs`). The file's ``hake:contentId``,
    when present, must be the id of what was read.

    >>> small = load().without_verbs(["ride"])
    >>> read_ontology(small.to_turtle()) == small
    True
    """
    parsed = extension.read_text(text, shown, "turtle")
    lists = extension.merge(extension.Vocabularies(), parsed, packaged=True)
    onto = _build(
        parsed.version, lists, (OntologySource(parsed.name, parsed.version, shown, "turtle", text),)
    )
    if parsed.content_id is not None and parsed.content_id != onto.id:
        raise ValueError(
            f"{shown}: the file says its content id is {parsed.content_id}, but its terms give {onto.id}; "
            "the file was edited after it was written"
        )
    return onto


def _merged(base: Ontology, items: list[tuple[extension.ParsedFile, OntologySource]]) -> Ontology:
    """``base`` with each parsed file's terms appended, in order."""
    lists = extension.Vocabularies(
        list(base.body_parts),
        list(base.coarse_parts),
        list(base.part_states),
        list(base.verbs),
        list(base.objects),
        list(base.activities),
    )
    version, sources = base.version, list(base.sources)
    before = base.id
    for parsed, source in items:
        lists = extension.merge(lists, parsed)
        now = _build(version, lists, ()).id
        if now == before:
            continue  # a file that only restates terms changes nothing
        before = now
        version += f"+{parsed.name}-{parsed.version}"
        sources.append(source)
        if parsed.content_id is not None and parsed.content_id == now:
            # a whole ontology written by `hake ontology export`: it is what it says it is
            version = parsed.version
    return _build(version, lists, tuple(sources))


def _build(version: str, lists: extension.Vocabularies, sources: tuple[OntologySource, ...]) -> Ontology:
    hico = sorted((p for p in lists.part_states if p.hico_index is not None), key=lambda p: p.hico_index or 0)
    if [p.hico_index for p in hico] != list(range(len(hico))):
        raise ValueError("hake.ttl: hicoPartStateIndex values are not 0..n-1")
    return Ontology(
        version=version,
        body_parts=Vocabulary("body part", lists.body_parts),
        coarse_parts=Vocabulary("coarse body part", lists.coarse_parts),
        part_states=Vocabulary("part state", lists.part_states),
        hico_part_states=tuple(hico),
        verbs=Vocabulary("verb", lists.verbs),
        objects=Vocabulary("object", lists.objects),
        activities=ActivityVocabulary(lists.activities),
        sources=sources,
    )


@functools.cache
def _packaged() -> Ontology:
    parsed, _, _ = extension.read_file(turtle_path())
    lists = extension.merge(extension.Vocabularies(), parsed, packaged=True)
    return _build(parsed.version, lists, (OntologySource("hake", parsed.version, None),))


def load(*extensions: str | os.PathLike[str]) -> Ontology:
    """The packaged ontology (one cached object), merged with ``extensions`` if given.

    Raises :class:`~ontology.extension.OntologyFileError` for a malformed extension, naming
    the file, line, field and term.
    """
    packaged = _packaged()
    return packaged.extend(*extensions) if extensions else packaged
