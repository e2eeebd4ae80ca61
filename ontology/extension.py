"""Ontology files: read the packaged Turtle file and extension files into one :class:`Ontology`.

Two formats load into the same thing:

- **Turtle** (``.ttl``) in the project's own OWL/SKOS vocabulary: what ``ontology/data/hake.ttl``
  and ``hake ontology export`` write. Terms are ``hake:PartState``, ``hake:Verb``,
  ``hake:Object`` and ``hake:Activity`` resources with ``rdfs:label``; ``skos:altLabel``
  (synonyms), ``skos:definition`` (description), ``skos:broader`` (the activity hierarchy),
  ``hake:level``, and ``hake:characteristicPartState [ hake:partState ...; hake:weight ... ]``.
- **YAML** (``.yaml`` / ``.yml``), the compact hand-writable format: one list per kind of
  term. It was chosen over TOML and JSON because it has comments, nests lists without
  brackets, and PyYAML reports the line of every value, so an error names the line of the
  field that is wrong. Every scalar is read as text (``no`` stays ``"no"``, ``1.10`` stays
  ``"1.10"``); numbers are parsed only where a number is expected (weights)::

      hake_extension: 1              # required: the format version
      name: my-actions               # required: [a-z0-9_-]
      version: 0.1.0
      part_states:
        - name: "hand: swing"        # "<coarse part>: <verb phrase>"
      verbs:
        - name: smash
          synonyms: [hit hard]
          part_states: ["hand: swing", "arm: swing"]
      objects:
        - name: racket
      activities:
        - name: sports               # no verb: a composite
          level: area
        - name: smash with racket    # a verb and an object: an interaction
          verb: smash
          object: racket
          broader: [sports]
          part_states: {"hand: swing": 1.0, "arm: swing": 0.5}
        - name: wave                 # a verb and no object: a person-only action
          verb: wave
          broader: sports

Extensions are additive. New terms are appended to their lists (channel order: packaged terms
first, then each extension's terms in file order). Naming an existing term with different
content is refused (restating it exactly, as a reloaded export does, changes nothing); an
extension cannot add body parts. Every reference (a part, verb, object, broader activity or
part state) must name an existing term or one defined in the same file; a misspelt one is an
:class:`OntologyFileError` naming the file, line, field and term, with the closest matches.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ontology.errors import OntologyFileError
from ontology.terms import NAMESPACE, Activity, BodyPart, ObjectClass, PartState, Verb
from ontology.vocabulary import Vocabulary

__all__ = [
    "FORMAT_VERSION",
    "Entry",
    "OntologyFileError",
    "ParsedFile",
    "format_of",
    "read_file",
    "read_text",
]

#: The ``hake_extension`` value a YAML extension must carry.
FORMAT_VERSION = "1"
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
_SKOS = "http://www.w3.org/2004/02/skos/core#"
_OWL_ONTOLOGY = "http://www.w3.org/2002/07/owl#Ontology"
_VERSION = "http://www.w3.org/2002/07/owl#versionInfo"
_CLASS_KIND = {
    NAMESPACE + "BodyPart": "body_parts",
    NAMESPACE + "PartState": "part_states",
    NAMESPACE + "Verb": "verbs",
    NAMESPACE + "Object": "objects",
    NAMESPACE + "Activity": "activities",
}
_PREFIX = {
    "body_parts": "part_",
    "part_states": "ps_",
    "verbs": "verb_",
    "objects": "obj_",
    "activities": "act_",
}
#: The fields each kind of entry may have in a YAML file (Turtle maps onto the same names).
FIELDS: dict[str, tuple[str, ...]] = {
    "part_states": ("name", "id", "part", "synonyms", "description"),
    "verbs": ("name", "id", "synonyms", "description", "part_states"),
    "objects": ("name", "id", "synonyms", "description"),
    "activities": (
        "name",
        "id",
        "verb",
        "object",
        "broader",
        "level",
        "part_states",
        "synonyms",
        "description",
    ),
}
_HEADER_FIELDS = ("hake_extension", "name", "version", "description", *FIELDS)


@dataclass
class Entry:
    """One term as a file states it: raw field values and the line of each (1-based)."""

    kind: str
    values: dict[str, Any]
    lines: dict[str, int]
    line: int
    #: where it is in the file, for messages: ``activities[3]``
    where: str

    def field_line(self, name: str) -> int:
        return self.lines.get(name, self.line)


@dataclass
class ParsedFile:
    """An ontology file read but not yet merged."""

    path: str
    name: str
    version: str
    description: str
    entries: list[Entry] = field(default_factory=list)
    #: ``hake:contentId`` of a written ontology (``hake ontology export``), else None
    content_id: str | None = None


# ---- reading ----------------------------------------------------------------------------


def format_of(path: str | Path) -> str:
    """``"turtle"`` or ``"yaml"``, by the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".ttl":
        return "turtle"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise OntologyFileError(
        str(path),
        None,
        "file",
        None,
        f"unknown format {suffix or '(no suffix)'!r}; an ontology file ends in .ttl (Turtle) or .yaml/.yml",
    )


def read_file(path: str | Path) -> tuple[ParsedFile, str, str]:
    """Read an ontology file (Turtle or YAML, by suffix) into entries; nothing is checked
    against an ontology yet. Returns the parsed file, its format and its text."""
    file = Path(path)
    shown = str(path)
    fmt = format_of(path)
    if not file.is_file():
        raise OntologyFileError(
            shown, None, "file", None, "no such file; give the path of a .ttl or .yaml ontology extension"
        )
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise OntologyFileError(shown, None, "file", None, f"not UTF-8 text ({err.reason})") from None
    return read_text(text, shown, fmt, file.stem), fmt, text


def read_text(text: str, shown: str, fmt: str, stem: str = "ontology") -> ParsedFile:
    """Parse the text of an ontology file of format ``fmt`` (``shown`` names it in errors)."""
    return _read_turtle(text, shown, stem) if fmt == "turtle" else _read_yaml(text, shown)


def _read_yaml(text: str, shown: str) -> ParsedFile:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark is not None else None
        raise OntologyFileError(shown, line, "file", None, f"not valid YAML: {err.problem}") from None
    if not isinstance(root, yaml.MappingNode):
        raise OntologyFileError(
            shown, 1, "file", None, "expected a mapping with hake_extension, name and term lists at the top"
        )
    top = _mapping(shown, root, "file", set(_HEADER_FIELDS))
    fmt = top.get("hake_extension")
    if fmt is None or _scalar(shown, fmt[1], "hake_extension") != FORMAT_VERSION:
        raise OntologyFileError(
            shown,
            fmt[1].start_mark.line + 1 if fmt else 1,
            "hake_extension",
            None,
            f"expected `hake_extension: {FORMAT_VERSION}` (the format version) at the top of the file",
        )
    name = _scalar(shown, top["name"][1], "name") if "name" in top else ""
    if not _ID.match(name):
        raise OntologyFileError(
            shown,
            top["name"][0] if "name" in top else 1,
            "name",
            None,
            f"expected a name of lower-case letters, digits, '_' and '-' (e.g. my-actions), got {name!r}",
        )
    version = _scalar(shown, top["version"][1], "version") if "version" in top else "0"
    description = _scalar(shown, top["description"][1], "description") if "description" in top else ""
    parsed = ParsedFile(shown, name, version, description)
    for kind in FIELDS:
        if kind not in top:
            continue
        seq = top[kind][1]
        if not isinstance(seq, yaml.SequenceNode):
            raise OntologyFileError(
                shown,
                seq.start_mark.line + 1,
                kind,
                None,
                "expected a list of terms (lines starting with '- ')",
            )
        for position, node in enumerate(seq.value):
            where = f"{kind}[{position}]"
            if not isinstance(node, yaml.MappingNode):
                raise OntologyFileError(
                    shown, node.start_mark.line + 1, where, None, "expected a mapping such as `- name: ...`"
                )
            fields = _mapping(shown, node, where, set(FIELDS[kind]))
            values = {key: _plain(shown, value, f"{where}.{key}") for key, (_, value) in fields.items()}
            lines = {key: line for key, (line, _) in fields.items()}
            parsed.entries.append(Entry(kind, values, lines, node.start_mark.line + 1, where))
    return parsed


def _mapping(shown: str, node: Any, where: str, allowed: set[str]) -> dict[str, tuple[int, Any]]:
    """The keys of a YAML mapping node -> (line, value node); unknown or repeated keys refused."""
    out: dict[str, tuple[int, Any]] = {}
    for key_node, value_node in node.value:
        key = _scalar(shown, key_node, where)
        line = key_node.start_mark.line + 1
        if key in out:
            raise OntologyFileError(shown, line, f"{where}.{key}", None, "given twice")
        if key not in allowed:
            import difflib

            close = difflib.get_close_matches(key, sorted(allowed), n=3, cutoff=0.5)
            raise OntologyFileError(
                shown,
                line,
                f"{where}.{key}",
                None,
                f"unknown field; the fields here are {', '.join(sorted(allowed))}",
                close,
            )
        out[key] = (line, value_node)
    return out


def _scalar(shown: str, node: Any, where: str) -> str:
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        raise OntologyFileError(
            shown, node.start_mark.line + 1, where, None, "expected a single value (text)"
        )
    return str(node.value)


def _plain(shown: str, node: Any, where: str) -> Any:
    """A YAML node as text, a list of text or a mapping text -> text (no implicit typing)."""
    import yaml

    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    if isinstance(node, yaml.SequenceNode):
        return [_scalar(shown, item, where) for item in node.value]
    out: dict[str, str] = {}
    for key, value in node.value:
        out[_scalar(shown, key, where)] = _scalar(shown, value, where)
    return out


def _read_turtle(text: str, shown: str, stem: str) -> ParsedFile:
    import pyoxigraph

    props: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    order: dict[str, int] = {}
    try:
        quads = pyoxigraph.parse(text, format=pyoxigraph.RdfFormat.TURTLE)
        for quad in quads:
            subject = quad.subject.value
            order.setdefault(subject, len(order))
            obj = quad.object
            value: Any = obj.value
            if isinstance(obj, pyoxigraph.Literal):
                datatype = obj.datatype.value
                if datatype.endswith("#integer"):
                    value = int(obj.value)
                elif datatype.endswith("#boolean"):
                    value = obj.value == "true"
                elif datatype.endswith("#decimal") or datatype.endswith("#double"):
                    value = float(obj.value)
            props[subject][quad.predicate.value].append(value)
    except SyntaxError as err:
        raise OntologyFileError(shown, _syntax_line(err), "file", None, f"not valid Turtle: {err}") from None
    name, version, description, content_id = stem, "0", "", None
    for p in props.values():
        if _OWL_ONTOLOGY in p.get(_RDF_TYPE, []):
            version = str(p.get(_VERSION, ["0"])[0])
            description = str(p.get("http://www.w3.org/2000/01/rdf-schema#comment", [""])[0])
            name = re.sub(r"[^a-z0-9]+", "-", str(p.get(_RDFS_LABEL, [stem])[0]).lower()).strip("-")
            content_id = p.get(NAMESPACE + "contentId", [None])[0]
    parsed = ParsedFile(shown, name or "ontology", version, description, [], content_id)
    typed = [
        (order[s], s, kinds)
        for s, p in props.items()
        if (kinds := [_CLASS_KIND[t] for t in p.get(_RDF_TYPE, []) if t in _CLASS_KIND])
    ]
    first_line = _first_lines(text)
    for _, subject, kinds in sorted(typed):
        line = first_line.get(_local_name(subject))
        if len(set(kinds)) != 1:
            raise OntologyFileError(shown, line, "rdf:type", subject, f"a term has one kind, found {kinds}")
        kind = kinds[0]
        p = props[subject]
        values: dict[str, Any] = {"iri": subject}
        one = functools.partial(_one_value, shown, line, subject, p, values)
        one(_RDFS_LABEL, "name")
        one(NAMESPACE + "index", "index")
        one(_SKOS + "definition", "description")
        one(NAMESPACE + "level", "level")
        if _SKOS + "altLabel" in p:
            values["synonyms"] = [str(v) for v in p[_SKOS + "altLabel"]]
        if kind == "body_parts":
            one(NAMESPACE + "granularity", "granularity")
            one(NAMESPACE + "coarsePart", "coarse")
            one(NAMESPACE + "side", "side")
        elif kind == "part_states":
            one(NAMESPACE + "bodyPart", "part")
            one(NAMESPACE + "partVerb", "verb_phrase")
            one(NAMESPACE + "noInteraction", "no_interaction")
            one(NAMESPACE + "hicoPartStateIndex", "hico_index")
        elif kind == "verbs":
            one(NAMESPACE + "hicoVerbId", "hico_id")
        elif kind == "objects":
            one(NAMESPACE + "hicoObjectId", "hico_id")
        else:
            one(NAMESPACE + "hoiId", "hoi_id")
            one(NAMESPACE + "verb", "verb")
            one(NAMESPACE + "object", "object")
            if _SKOS + "broader" in p:
                values["broader"] = [str(v) for v in p[_SKOS + "broader"]]
        if kind in ("verbs", "activities") and NAMESPACE + "characteristicPartState" in p:
            weights: dict[str, str] = {}
            for node in p[NAMESPACE + "characteristicPartState"]:
                inner = props.get(str(node), {})
                state = inner.get(NAMESPACE + "partState", [])
                if len(state) != 1:
                    raise OntologyFileError(
                        shown,
                        line,
                        "hake:characteristicPartState",
                        subject,
                        "expected one hake:partState in it",
                    )
                weights[str(state[0])] = str(inner.get(NAMESPACE + "weight", [1.0])[0])
            values["part_states"] = weights
        if "name" not in values:
            raise OntologyFileError(shown, line, "rdfs:label", subject, "every term needs an rdfs:label")
        parsed.entries.append(Entry(kind, values, {}, line or 1, subject))
    return parsed


def _one_value(
    shown: str,
    line: int | None,
    subject: str,
    p: Mapping[str, list[Any]],
    values: dict[str, Any],
    prop: str,
    key: str,
) -> None:
    """Copy the single value of ``prop`` into ``values[key]`` (nothing if absent)."""
    found = p.get(prop, [])
    if len(found) > 1:
        raise OntologyFileError(shown, line, key, subject, f"expected one value, found {found}")
    if found:
        values[key] = found[0]


def _syntax_line(err: SyntaxError) -> int | None:
    match = re.search(r"line (\d+)", str(err)) or re.search(r"^(\d+):", str(err))
    return int(match.group(1)) if match else None


def _local_name(iri: str) -> str:
    return "hake:" + iri[len(NAMESPACE) :] if iri.startswith(NAMESPACE) else f"<{iri}>"


def _first_lines(text: str) -> dict[str, int]:
    """The first line on which each ``hake:<local>`` or ``<iri>`` name appears (for messages)."""
    found: dict[str, int] = {}
    pattern = re.compile(r"hake:[\w-]+|<[^>\s]+>")
    for number, line in enumerate(text.splitlines(), 1):
        for match in pattern.findall(line):
            found.setdefault(match, number)
    return found


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


# ---- merging ----------------------------------------------------------------------------


@dataclass
class Vocabularies:
    """Term lists being built; becomes an :class:`~ontology.ontology.Ontology`."""

    body_parts: list[BodyPart] = field(default_factory=list)
    coarse_parts: list[BodyPart] = field(default_factory=list)
    part_states: list[PartState] = field(default_factory=list)
    verbs: list[Verb] = field(default_factory=list)
    objects: list[ObjectClass] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)


def merge(base: Vocabularies, parsed: ParsedFile, *, packaged: bool = False) -> Vocabularies:
    """``base`` with the terms of ``parsed`` appended; raises :class:`OntologyFileError`.

    ``packaged`` is true only for the packaged file: it may define body parts and HICO ids.
    """
    out = Vocabularies(*(list(getattr(base, f.name)) for f in dataclasses.fields(Vocabularies)))
    path = parsed.path
    by_kind: dict[str, list[Entry]] = defaultdict(list)
    for entry in parsed.entries:
        by_kind[entry.kind].append(entry)
    if by_kind["body_parts"] and not packaged:
        restated = [e for e in by_kind["body_parts"] if _existing_body_part(out, e)]
        new = [e for e in by_kind["body_parts"] if e not in restated]
        if new:
            e = new[0]
            raise OntologyFileError(
                path,
                e.line,
                e.where,
                str(e.values.get("name")),
                "an extension cannot add body parts; "
                "add part states to the existing coarse parts (foot, leg, hip, hand, arm, head)",
            )
        by_kind["body_parts"] = []
    if by_kind["body_parts"]:
        parts = [_body_part(path, e) for e in by_kind["body_parts"]]
        fine = [p for p in parts if p.granularity == "fine"]
        coarse = [p for p in parts if p.granularity == "coarse"]
        out.body_parts = [
            dataclasses.replace(p, index=i) for i, p in enumerate(sorted(fine, key=lambda p: p.index))
        ]
        out.coarse_parts = [
            dataclasses.replace(p, index=i) for i, p in enumerate(sorted(coarse, key=lambda p: p.index))
        ]
    coarse_vocab = Vocabulary("coarse body part", out.coarse_parts)

    new_states = _new_terms(path, by_kind["part_states"], out.part_states, "part state")
    states_so_far = list(out.part_states)
    for position, e in enumerate(_ordered(path, new_states, len(out.part_states))):
        states_so_far.append(_part_state(path, e, len(out.part_states) + position, coarse_vocab, packaged))
    _check_restated(
        path,
        by_kind["part_states"],
        new_states,
        states_so_far,
        lambda e, v: _part_state(path, e, 0, coarse_vocab, True),
        "part state",
    )
    out.part_states = states_so_far
    state_vocab = Vocabulary("part state", out.part_states)

    new_verbs = _new_terms(path, by_kind["verbs"], out.verbs, "verb")
    verbs = list(out.verbs)
    for position, e in enumerate(_ordered(path, new_verbs, len(out.verbs))):
        verbs.append(_verb(path, e, len(out.verbs) + position, state_vocab, packaged))
    _check_restated(
        path, by_kind["verbs"], new_verbs, verbs, lambda e, v: _verb(path, e, 0, state_vocab, True), "verb"
    )
    out.verbs = verbs
    verb_vocab = Vocabulary("verb", out.verbs)

    new_objects = _new_terms(path, by_kind["objects"], out.objects, "object")
    objects = list(out.objects)
    for position, e in enumerate(_ordered(path, new_objects, len(out.objects))):
        objects.append(_object(path, e, len(out.objects) + position, packaged))
    _check_restated(
        path, by_kind["objects"], new_objects, objects, lambda e, v: _object(path, e, 0, True), "object"
    )
    out.objects = objects
    object_vocab = Vocabulary("object", out.objects)

    new_acts = _new_terms(path, by_kind["activities"], out.activities, "activity")
    ordered_acts = _ordered(path, new_acts, len(out.activities))
    # Activity ids of this file first, so that broader links may point forward in the file.
    planned = {_term_id(path, e, "activities"): e for e in ordered_acts}
    known = Vocabulary(
        "activity",
        [*out.activities]
        + [
            Activity(
                i, str(e.values["name"]), NAMESPACE + "act_" + i, len(out.activities) + k, None, None, None
            )
            for k, (i, e) in enumerate(planned.items())
        ],
    )
    activities = list(out.activities)
    for position, e in enumerate(ordered_acts):
        activities.append(
            _activity(
                path,
                e,
                len(out.activities) + position,
                state_vocab,
                verb_vocab,
                object_vocab,
                known,
                packaged,
            )
        )
    _check_restated(
        path,
        by_kind["activities"],
        new_acts,
        activities,
        lambda e, v: _activity(path, e, 0, state_vocab, verb_vocab, object_vocab, known, True),
        "activity",
    )
    _check_hierarchy(path, activities, ordered_acts, len(out.activities))
    out.activities = activities
    return out


def _existing_body_part(out: Vocabularies, e: Entry) -> bool:
    name = str(e.values.get("name"))
    return any(p.name == name for p in [*out.body_parts, *out.coarse_parts])


def _term_id(path: str, e: Entry, kind: str) -> str:
    """The id a new term gets: its ``id`` field, the local name of its IRI, or a slug of its name."""
    values = e.values
    if "iri" in values:
        iri = str(values["iri"])
        prefix = NAMESPACE + _PREFIX[kind]
        if not iri.startswith(prefix):
            raise OntologyFileError(
                path, e.line, "IRI", iri, f"a {kind[:-1].replace('_', ' ')} IRI starts with {prefix!r}"
            )
        term_id = iri[len(prefix) :]
    elif "id" in values:
        term_id = str(values["id"])
    else:
        name = str(values.get("name", ""))
        if kind == "part_states" and ":" in name:
            part, _, phrase = name.partition(":")
            term_id = f"{_slug(part)}_{_slug(phrase)}"
        else:
            term_id = _slug(name)
    if not _ID.match(term_id):
        raise OntologyFileError(
            path,
            e.field_line("id"),
            f"{e.where}.id",
            str(values.get("name")),
            f"expected an id of lower-case letters, digits, '_' and '-', got {term_id!r}",
        )
    return term_id


def _new_terms(path: str, entries: list[Entry], existing: Sequence[Any], kind: str) -> list[Entry]:
    """The entries that name no existing term (by id or name); the others are restatements."""
    ids = {t.id for t in existing}
    names = {t.name for t in existing}
    kind_key = {"part state": "part_states", "verb": "verbs", "object": "objects", "activity": "activities"}[
        kind
    ]
    new: list[Entry] = []
    seen: dict[str, Entry] = {}
    for e in entries:
        name = e.values.get("name")
        if not isinstance(name, str) or not name.strip():
            raise OntologyFileError(
                path, e.field_line("name"), f"{e.where}.name", None, f"every {kind} needs a name"
            )
        term_id = _term_id(path, e, kind_key)
        for key in (term_id, name):
            if key in seen:
                raise OntologyFileError(
                    path,
                    e.line,
                    e.where,
                    name,
                    f"defined twice in this file (first at line {seen[key].line})",
                )
        seen[term_id] = seen[name] = e
        if term_id in ids or name in names:
            continue
        new.append(e)
    return new


def _check_restated(
    path: str,
    entries: list[Entry],
    new: list[Entry],
    terms: Sequence[Any],
    build: Any,
    kind: str,
) -> None:
    """Entries naming existing terms must restate them exactly."""
    by_key = {}
    for t in terms:
        by_key[t.id] = t
        by_key[t.name] = t
    kind_key = {"part state": "part_states", "verb": "verbs", "object": "objects", "activity": "activities"}[
        kind
    ]
    new_ids = {id(n) for n in new}
    for e in entries:
        if id(e) in new_ids:
            continue
        existing = by_key.get(_term_id(path, e, kind_key)) or by_key.get(str(e.values["name"]))
        assert existing is not None
        try:
            stated = build(e, existing)
        except OntologyFileError:
            stated = None
        if stated is None or dataclasses.replace(stated, index=existing.index, iri=existing.iri) != existing:
            raise OntologyFileError(
                path,
                e.line,
                e.where,
                str(e.values["name"]),
                f"redefines the existing {kind} {existing.name!r} (id {existing.id!r}); extensions are "
                "additive: give the new term another name, or restate the existing one exactly",
            )


def _ordered(path: str, entries: list[Entry], start: int) -> list[Entry]:
    """New terms in channel order: by ``index`` where the file gives one, else file order; a
    given index must be the position the term gets."""
    indexed = sorted(
        enumerate(entries),
        key=lambda pair: (
            _as_int(path, pair[1], "index") if "index" in pair[1].values else math.inf,
            pair[0],
        ),
    )
    ordered = [e for _, e in indexed]
    for position, e in enumerate(ordered, start):
        if "index" in e.values and _as_int(path, e, "index") != position:
            raise OntologyFileError(
                path,
                e.line,
                "hake:index",
                str(e.values.get("name")),
                f"index {e.values['index']} but the term comes at position {position} (terms are appended; "
                "leave the index out)",
            )
    return ordered


def _as_int(path: str, e: Entry, key: str) -> int:
    value = e.values[key]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise OntologyFileError(
            path,
            e.field_line(key),
            f"{e.where}.{key}",
            str(e.values.get("name")),
            f"expected an integer, got {value!r}",
        ) from None


def _opt_int(path: str, e: Entry, key: str) -> int | None:
    return _as_int(path, e, key) if key in e.values else None


def _text_list(path: str, e: Entry, key: str) -> tuple[str, ...]:
    value = e.values.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise OntologyFileError(
            path,
            e.field_line(key),
            f"{e.where}.{key}",
            str(e.values.get("name")),
            "expected a text or a list of texts",
        )
    return tuple(str(v) for v in value)


def _ref(
    path: str, e: Entry, key: str, vocab: Vocabulary[Any], prefix: str, value: object | None = None
) -> str:
    """The id of the term ``e.values[key]`` names (id, name or IRI); never mints one."""
    raw = str(e.values[key] if value is None else value)
    if raw in vocab:
        return str(vocab[raw].id)
    raise OntologyFileError(
        path,
        e.field_line(key),
        f"{e.where}.{key}",
        str(e.values.get("name")),
        f"unknown {vocab.kind} {raw!r} (it must be packaged or defined in this file)",
        vocab.suggest(raw.removeprefix(NAMESPACE + prefix)),
    )


def _weights(path: str, e: Entry, states: Vocabulary[PartState]) -> tuple[tuple[str, float], ...]:
    value = e.values.get("part_states")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    pairs = value.items() if isinstance(value, dict) else [(v, "1") for v in value]
    out: dict[str, float] = {}
    for key, raw in pairs:
        state = _ref(path, e, "part_states", states, "ps_", key)
        try:
            weight = float(raw)
        except (TypeError, ValueError):
            weight = math.nan
        if not math.isfinite(weight) or not 0.0 < weight <= 1.0:
            raise OntologyFileError(
                path,
                e.field_line("part_states"),
                f"{e.where}.part_states[{key!r}]",
                str(e.values.get("name")),
                f"expected a weight in (0, 1], got {raw!r}",
            )
        if state in out:
            raise OntologyFileError(
                path,
                e.field_line("part_states"),
                f"{e.where}.part_states",
                str(e.values.get("name")),
                f"part state {key!r} is listed twice",
            )
        out[state] = weight
    return tuple(out.items())


def _body_part(path: str, e: Entry) -> BodyPart:
    v = e.values
    iri = str(v["iri"])
    coarse = str(v.get("coarse", iri))
    return BodyPart(
        id=_term_id(path, e, "body_parts"),
        name=str(v["name"]),
        iri=iri,
        index=_as_int(path, e, "index"),
        granularity=str(v.get("granularity")),
        coarse=coarse.removeprefix(NAMESPACE + "part_"),
        side=None if v.get("side") is None else str(v["side"]),
    )


def _part_state(path: str, e: Entry, index: int, coarse: Vocabulary[BodyPart], packaged: bool) -> PartState:
    v = e.values
    name = str(v["name"])
    part_key, colon, phrase = name.partition(":")
    if "part" in v:
        part = _ref(path, e, "part", coarse, "part_")
    elif colon:
        part = _ref(path, e, "name", coarse, "part_", part_key.strip())
    else:
        raise OntologyFileError(
            path,
            e.field_line("name"),
            f"{e.where}.name",
            name,
            "a part state is named '<coarse part>: <verb phrase>' (e.g. 'hand: swing'), or give `part:`",
        )
    verb_phrase = str(v.get("verb_phrase", phrase.strip() if colon else name))
    term_id = _term_id(path, e, "part_states")
    return PartState(
        id=term_id,
        name=name,
        iri=NAMESPACE + "ps_" + term_id,
        index=index,
        part=part,
        verb_phrase=verb_phrase,
        no_interaction=bool(v.get("no_interaction", False)) if packaged else False,
        hico_index=_opt_int(path, e, "hico_index") if packaged else None,
        synonyms=_text_list(path, e, "synonyms"),
        description=str(v.get("description", "")),
    )


def _verb(path: str, e: Entry, index: int, states: Vocabulary[PartState], packaged: bool) -> Verb:
    v = e.values
    term_id = _term_id(path, e, "verbs")
    return Verb(
        id=term_id,
        name=str(v["name"]),
        iri=NAMESPACE + "verb_" + term_id,
        index=index,
        hico_id=_opt_int(path, e, "hico_id") if packaged else None,
        synonyms=_text_list(path, e, "synonyms"),
        description=str(v.get("description", "")),
        part_states=_weights(path, e, states),
    )


def _object(path: str, e: Entry, index: int, packaged: bool) -> ObjectClass:
    v = e.values
    term_id = _term_id(path, e, "objects")
    return ObjectClass(
        id=term_id,
        name=str(v["name"]),
        iri=NAMESPACE + "obj_" + term_id,
        index=index,
        hico_id=_opt_int(path, e, "hico_id") if packaged else None,
        synonyms=_text_list(path, e, "synonyms"),
        description=str(v.get("description", "")),
    )


def _activity(
    path: str,
    e: Entry,
    index: int,
    states: Vocabulary[PartState],
    verbs: Vocabulary[Verb],
    objects: Vocabulary[ObjectClass],
    activities: Vocabulary[Activity],
    packaged: bool,
) -> Activity:
    v = e.values
    name = str(v["name"])
    verb = _ref(path, e, "verb", verbs, "verb_") if "verb" in v else None
    obj = _ref(path, e, "object", objects, "obj_") if "object" in v else None
    if obj is not None and verb is None:
        raise OntologyFileError(
            path,
            e.field_line("object"),
            f"{e.where}.object",
            name,
            "an activity with an object needs a verb (an interaction is a verb applied to an object)",
        )
    broader = tuple(_ref(path, e, "broader", activities, "act_", b) for b in _text_list(path, e, "broader"))
    level = str(v.get("level", "atomic" if verb is not None else "composite"))
    if not _ID.match(level):
        raise OntologyFileError(
            path,
            e.field_line("level"),
            f"{e.where}.level",
            name,
            f"expected a level name of lower-case letters, digits, '_' and '-' (e.g. area), got {level!r}",
        )
    if verb is None and "part_states" in v:
        raise OntologyFileError(
            path,
            e.field_line("part_states"),
            f"{e.where}.part_states",
            name,
            "a composite (no verb) is scored from the activities under it; give part states to those",
        )
    term_id = _term_id(path, e, "activities")
    return Activity(
        id=term_id,
        name=name,
        iri=NAMESPACE + "act_" + term_id,
        index=index,
        hoi_id=_opt_int(path, e, "hoi_id") if packaged else None,
        verb=verb,
        object=obj,
        level=level,
        broader=broader,
        part_states=_weights(path, e, states),
        synonyms=_text_list(path, e, "synonyms"),
        description=str(v.get("description", "")),
    )


def _check_hierarchy(path: str, activities: list[Activity], new: list[Entry], start: int) -> None:
    """``broader`` points at composites only, and the hierarchy has no cycle."""
    by_id = {a.id: a for a in activities}
    for position, a in enumerate(activities[start:]):
        e = new[position]
        for b in a.broader:
            if not by_id[b].is_composite:
                raise OntologyFileError(
                    path,
                    e.field_line("broader"),
                    f"{e.where}.broader",
                    a.name,
                    f"{by_id[b].name!r} has a verb, so nothing can be under it; broader names a composite "
                    "(an activity without a verb)",
                )
        seen: list[str] = []
        todo = list(a.broader)
        while todo:
            b = todo.pop()
            if b == a.id:
                raise OntologyFileError(
                    path,
                    e.field_line("broader"),
                    f"{e.where}.broader",
                    a.name,
                    "the hierarchy has a cycle: this activity is (indirectly) broader than itself",
                )
            if b not in seen:
                seen.append(b)
                todo.extend(by_id[b].broader)
