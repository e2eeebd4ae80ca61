"""Write an :class:`~ontology.ontology.Ontology` as Turtle in the project's OWL/SKOS vocabulary.

The output has the layout of the packaged ``hake.ttl`` (its class and property declarations,
then one resource per term in channel order), so ``ontology.load(written_file)`` restates the
packaged terms exactly and appends the rest: the reloaded ontology has the same id.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ontology.terms import NAMESPACE, Activity, BodyPart, ObjectClass, PartState, Verb

if TYPE_CHECKING:
    from ontology.ontology import Ontology

__all__ = ["to_turtle"]

_SCHEMA_START = "# ---- classes"
_SCHEMA_END = "# ---- coarse body parts"


def _q(text: str) -> str:
    """A Turtle string literal (JSON escaping is valid Turtle escaping for these strings)."""
    return json.dumps(text, ensure_ascii=False)


def _local(iri: str) -> str:
    return "hake:" + iri[len(NAMESPACE) :] if iri.startswith(NAMESPACE) else f"<{iri}>"


def _common(term: PartState | Verb | ObjectClass | Activity) -> list[str]:
    out = [f"rdfs:label {_q(term.name)}", f"skos:prefLabel {_q(term.name)}"]
    out += [f"skos:altLabel {_q(s)}" for s in term.synonyms]
    if term.description:
        out.append(f"skos:definition {_q(term.description)}")
    return out


def _weights(pairs: tuple[tuple[str, float], ...]) -> list[str]:
    return [
        f"hake:characteristicPartState [ hake:partState hake:ps_{state} ; hake:weight {weight!r} ]"
        for state, weight in pairs
    ]


def _resource(iri: str, cls: str, scheme: str, props: list[str]) -> str:
    head = f"{_local(iri)} a hake:{cls} , skos:Concept ; skos:inScheme hake:{scheme} ;"
    return head + "\n    " + " ;\n    ".join(props) + " ."


def _body_part(p: BodyPart) -> str:
    props = [
        f"rdfs:label {_q(p.name)}",
        f"skos:prefLabel {_q(p.name)}",
        f"hake:granularity {_q(p.granularity)}",
    ]
    if p.side is not None:
        props.append(f"hake:side {_q(p.side)}")
    if p.granularity == "fine":
        props += [f"hake:coarsePart hake:part_{p.coarse}", f"skos:broader hake:part_{p.coarse}"]
    return _resource(p.iri, "BodyPart", "BodyParts", [*props, f"hake:index {p.index}"])


def _part_state(s: PartState) -> str:
    props = _common(s) + [
        f"hake:bodyPart hake:part_{s.part}",
        f"hake:partVerb {_q(s.verb_phrase)}",
        f"hake:noInteraction {'true' if s.no_interaction else 'false'}",
        f"hake:index {s.index}",
    ]
    if s.hico_index is not None:
        props.append(f"hake:hicoPartStateIndex {s.hico_index}")
    return _resource(s.iri, "PartState", "PartStates", props)


def _verb(v: Verb) -> str:
    props = _common(v) + _weights(v.part_states) + [f"hake:index {v.index}"]
    if v.hico_id is not None:
        props.append(f"hake:hicoVerbId {v.hico_id}")
    return _resource(v.iri, "Verb", "Verbs", props)


def _object(o: ObjectClass) -> str:
    props = _common(o) + [f"hake:index {o.index}"]
    if o.hico_id is not None:
        props.append(f"hake:hicoObjectId {o.hico_id}")
    return _resource(o.iri, "Object", "Objects", props)


def _activity(a: Activity, default_level: bool) -> str:
    props = _common(a)
    if a.verb is not None:
        props.append(f"hake:verb hake:verb_{a.verb}")
    if a.object is not None:
        props.append(f"hake:object hake:obj_{a.object}")
    if not default_level:
        props.append(f"hake:level {_q(a.level)}")
    props += [f"skos:broader hake:act_{b}" for b in a.broader]
    props += _weights(a.part_states)
    if a.hoi_id is not None:
        props.append(f"hake:hoiId {a.hoi_id}")
    props.append(f"hake:index {a.index}")
    return _resource(a.iri, "Activity", "Activities", props)


def to_turtle(onto: Ontology) -> str:
    """The Turtle text of ``onto`` (see the module docstring)."""
    from ontology.ontology import ONTOLOGY_IRI, turtle_path

    packaged = turtle_path().read_text(encoding="utf-8")
    schema = packaged[packaged.index(_SCHEMA_START) : packaged.index(_SCHEMA_END)].rstrip()
    prefixes = [line for line in packaged.splitlines() if line.startswith("@prefix")]
    sources = " , ".join(
        _q(f"{s.name} {s.version}" + (f" ({s.path})" if s.path else "")) for s in onto.sources
    )
    lines = [
        f"# Ontology {onto.id}, version {onto.version}, written by `hake ontology export`.",
        "# Terms are in channel order (hake:index); load it with ontology.load(path).",
        *prefixes,
        "",
        f"<{ONTOLOGY_IRI}> a owl:Ontology ;",
        '    rdfs:label "HAKE activity ontology" ;',
        f"    owl:versionInfo {_q(onto.version)} ;",
        f"    hake:contentId {_q(onto.id)} ;",
        f"    dcterms:source {sources} .",
        "",
        schema,
        "",
        "# ---- body parts (coarse, then fine) ----------------------------------------------------",
        *(_body_part(p) for p in [*onto.coarse_parts, *onto.body_parts]),
        "",
        "# ---- part states ---------------------------------------------------------------------",
        *(_part_state(s) for s in onto.part_states),
        "",
        "# ---- verbs ---------------------------------------------------------------------------",
        *(_verb(v) for v in onto.verbs),
        "",
        "# ---- objects -------------------------------------------------------------------------",
        *(_object(o) for o in onto.objects),
        "",
        "# ---- activities ----------------------------------------------------------------------",
        *(
            _activity(a, a.level == ("atomic" if a.verb is not None else "composite"))
            for a in onto.activities
        ),
    ]
    return "\n".join(lines) + "\n"
