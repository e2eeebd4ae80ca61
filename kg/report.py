"""Explanation exports for one person: JSON, RDF (JSON-LD / Turtle, PROV-O), GraphML and an
HTML report with pictures.

The person is read from the store as records - its :class:`~ontology.PersonObservation`
(:func:`kg.read_observations`) and its explained :class:`~ontology.ActivityPrediction` records
with their :class:`~ontology.Explanation` (:func:`kg.read_predictions`), the same records that
were written - into a :class:`PersonExplanations`, then rendered. The HTML report is one
self-contained file (inline SVG, the image embedded as a data URI when given): the image with
the person and body-part boxes drawn and labelled, each top activity with a bar chart of its
contributing part states and objects and a small graph of the contributions, and the Cypher
that reproduces the numbers.

JSON schema (:meth:`PersonExplanations.to_dict`)::

    {"person": "img.jpg/0", "image": {"id", "width", "height", "video", "frame_index"},
     "box": [x1, y1, x2, y2] | null, "part_boxes": {"right_hand": [x1, y1, x2, y2], ...},
     "part_states": [{"id", "name", "prob", "source"}, ...],
     "objects": [{"id", "name", "score"}, ...],
     "explanations": [{"activity", "activity_name", "score", "method", "model", "version",
                       "created", "baseline", "rest",
                       "contributions": [{"kind", "term", "name", "weight",
                                          "rank", "edge"}, ...]}, ...]}

``baseline`` is the activity's logit without evidence and ``rest`` the summed weight of the
contributions too small to store: ``baseline + sum(weights) + rest`` is the logit.
Contributions are ranked by weight, largest first (ties by term name, then path).
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.observations import read_observations, read_predictions
from kg.queries import EXAMPLES
from kg.store.base import GraphStore
from kg.store_ontology import store_ontology
from ontology import (
    ActivityPrediction,
    Contribution,
    Explanation,
    Ontology,
    PersonObservation,
    StoreError,
    Vocabulary,
    load,
)
from ontology.files import check_file_target, write_text_atomic

__all__ = ["FORMATS", "PersonExplanations", "load_person", "write_explanation"]

#: ``hake explain --format`` choices.
FORMATS = ("json", "jsonld", "ttl", "graphml", "html")

#: What the records do not carry: the image node (its size, its video) ...
_IMAGE = (
    "MATCH (p:Person {id: $person})-[:IN_IMAGE]->(i:Image) RETURN i.id AS id, i.width AS width, "
    "i.height AS height, i.video AS video, i.frame_index AS frame_index"
)
#: ... and when each prediction's run wrote it.
_CREATED = (
    "MATCH (p:Person {id: $person})-[d:DOES]->(a:Activity) WHERE d.source = 'model' "
    "MATCH (r:Run) WHERE r.id = d.run RETURN a.id AS activity, d.model AS model, r.created AS created"
)


def _vocabulary(onto: Ontology, kind: str) -> Vocabulary[Any]:
    """The terms a contribution of ``kind`` names."""
    vocabs: dict[str, Vocabulary[Any]] = {
        "part_state": onto.part_states,
        "object": onto.objects,
        "body_part": onto.body_parts,
    }
    return vocabs[kind]


@dataclass
class PersonExplanations:
    """Everything the exports need about one person, read from a store as records.

    ``predictions`` are the person's explained model predictions, best first (ties by
    activity id, then model); ``created`` says when the run that wrote each one did, by
    ``(activity, model)``."""

    person: str
    image: dict[str, Any]
    observation: PersonObservation
    predictions: list[ActivityPrediction] = field(default_factory=list)
    created: dict[tuple[str, str], str | None] = field(default_factory=dict)
    #: the store's ontology (names and IRIs of the terms)
    ontology: Ontology = field(default_factory=load, repr=False, compare=False)

    def explanation(self, prediction: ActivityPrediction) -> Explanation:
        """``prediction``'s explanation (every prediction here has one)."""
        if prediction.explanation is None:
            raise StoreError(f"the prediction of {prediction.activity!r} carries no explanation")
        return prediction.explanation

    def name(self, contribution: Contribution) -> str:
        """The name of the term a contribution names."""
        return str(_vocabulary(self.ontology, contribution.kind)[contribution.term].name)

    def ranked(self, explanation: Explanation) -> list[Contribution]:
        """``explanation``'s contributions, largest weight first (ties by term name, then path):
        the order of ``rank`` and of the charts."""
        return sorted(explanation.contributions, key=lambda c: (-c.weight, self.name(c), c.edge or ""))

    # The JSON schema of the module docstring, drawn from the records.

    @property
    def box(self) -> list[float] | None:
        box = self.observation.box
        return None if box is None else box.to_list()

    @property
    def part_boxes(self) -> dict[str, list[float]]:
        return {part: box.to_list() for part, box in self.observation.part_boxes.items()}

    @property
    def part_states(self) -> list[dict[str, Any]]:
        names = self.ontology.part_states
        rows = [
            {"id": s, "name": names[s].name, "prob": prob, "source": self.observation.source}
            for s, prob in self.observation.part_states.items()
        ]
        return sorted(rows, key=lambda r: (-r["prob"], r["name"]))

    @property
    def objects(self) -> list[dict[str, Any]]:
        names = self.ontology.objects
        rows = [
            {"id": o.object, "name": names[o.object].name, "score": o.score} for o in self.observation.objects
        ]
        return sorted(rows, key=lambda r: (-r["score"], r["name"]))

    @property
    def explanations(self) -> list[dict[str, Any]]:
        out = []
        for p in self.predictions:
            e = self.explanation(p)
            out.append(
                {
                    "activity": p.activity,
                    "activity_name": self.ontology.activities[p.activity].name,
                    "score": p.score,
                    "method": e.method,
                    "model": p.model,
                    "version": p.model_version,
                    "created": self.created.get((p.activity, p.model)),
                    "baseline": e.baseline,
                    "rest": e.rest,
                    "contributions": [
                        {
                            "kind": c.kind,
                            "term": c.term,
                            "name": self.name(c),
                            "weight": c.weight,
                            "rank": rank,
                            "edge": c.edge,
                        }
                        for rank, c in enumerate(self.ranked(e), start=1)
                    ],
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "image": self.image,
            "box": self.box,
            "part_boxes": self.part_boxes,
            "part_states": self.part_states,
            "objects": self.objects,
            "explanations": self.explanations,
        }

    def only(self, activity: str | None) -> PersonExplanations:
        """The same person with explanations of one activity (id or name) only."""
        if activity is None:
            return self
        act = self.ontology.activities[activity].id
        kept = [p for p in self.predictions if p.activity == act]
        if not kept:
            names = sorted({self.ontology.activities[p.activity].name for p in self.predictions})
            raise StoreError(
                f"person {self.person!r} has no stored explanation for {activity!r}; it has {names or 'none'}"
            )
        return PersonExplanations(
            self.person, self.image, self.observation, kept, self.created, self.ontology
        )


def load_person(store: GraphStore, person: str) -> PersonExplanations:
    """Read one person (``"<image>/<person>"``): its observation and its explained predictions,
    as records. A read."""
    rows = store.query(_IMAGE, person=person)
    if not rows:
        raise StoreError(
            f"no person {person!r} in the store; person ids look like '<image id>/<person id>', "
            'list some with: hake query "MATCH (p:Person) RETURN p.id AS id LIMIT 10"'
        )
    (observation,) = read_observations(store, [person])
    predictions = [p for p in read_predictions(store, person) if p.explanation is not None]
    created = {(r["activity"], r["model"]): r["created"] for r in store.query(_CREATED, person=person)}
    return PersonExplanations(
        person=person,
        image=rows[0],
        observation=observation,
        predictions=sorted(predictions, key=lambda p: (-p.score, p.activity, p.model)),
        created=created,
        ontology=store_ontology(store),
    )


# ---- RDF and GraphML --------------------------------------------------------------------


def _rdf(data: PersonExplanations, fmt: str) -> str:
    import pyoxigraph

    from kg.rdf import DATA, PROV, RDF_TYPE, _iri, _Triples, contribution_iri

    onto = data.ontology
    h = onto.activities[0].iri.rsplit("#", 1)[0] + "#"
    t = _Triples()
    person = _iri("person", data.person)
    t.a(person, h + "Person", PROV + "Entity")
    t.add(person, h + "inImage", t.node(_iri("image", data.image["id"])))
    for state, prob in data.observation.part_states.items():
        obs = _iri("obs", data.person, state)
        t.a(obs, h + "PartStateObservation")
        t.add(obs, h + "person", t.node(person))
        t.add(obs, h + "partState", t.node(onto.part_states[state].iri))
        t.add(obs, h + "probability", float(prob))
    for p in data.predictions:
        e = data.explanation(p)
        pred = _iri("pred", data.person, p.activity, p.model)
        expl = _iri("expl", data.person, p.activity, p.model)
        agent = _iri("agent", p.model)
        t.a(agent, PROV + "SoftwareAgent")
        t.a(pred, h + "ActivityPrediction", PROV + "Entity")
        t.add(pred, h + "person", t.node(person))
        t.add(pred, h + "activity", t.node(onto.activities[p.activity].iri))
        t.add(pred, h + "score", float(p.score))
        t.add(pred, PROV + "wasAttributedTo", t.node(agent))
        t.a(expl, h + "Explanation", PROV + "Entity")
        t.add(expl, h + "explains", t.node(pred))
        t.add(expl, h + "method", e.method)
        t.add(expl, h + "modelVersion", p.model_version)
        t.add(expl, PROV + "wasAttributedTo", t.node(agent))
        t.time(expl, PROV + "generatedAtTime", data.created.get((p.activity, p.model)))
        for c in data.ranked(e):
            node = contribution_iri(expl, c.kind, c.term, c.edge)
            t.add(expl, h + "contribution", t.node(node))
            t.a(node, h + "Contribution")
            t.add(node, h + "term", t.node(_vocabulary(onto, c.kind)[c.term].iri))
            t.add(node, h + "kind", c.kind)
            t.add(node, h + "weight", float(c.weight))
            t.add(node, h + "edge", c.edge)
            t.add(
                node,
                PROV + "wasDerivedFrom",
                t.node(_iri("obs", data.person, c.term)) if c.kind == "part_state" else None,
            )
    store = pyoxigraph.Store()
    store.extend(t.quads)
    prefixes = {"hake": h, "data": DATA, "prov": PROV, "rdf": RDF_TYPE.rsplit("#", 1)[0] + "#"}
    rdf_format = pyoxigraph.RdfFormat.TURTLE if fmt == "ttl" else pyoxigraph.RdfFormat.JSON_LD
    out = store.dump(format=rdf_format, from_graph=pyoxigraph.DefaultGraph(), prefixes=prefixes)
    if out is None:  # dump() returns the bytes when no output file is given
        raise StoreError("pyoxigraph returned no serialization")
    return bytes(out).decode("utf-8")


def _graphml(data: PersonExplanations) -> str:
    import networkx as nx

    graph = nx.MultiDiGraph()
    person = f"Person:{data.person}"
    graph.add_node(person, label="Person", name=data.person)
    for p in data.predictions:
        e = data.explanation(p)
        expl = f"Explanation:{data.person}|{p.activity}|{p.model}"
        act = f"Activity:{p.activity}"
        graph.add_node(expl, label="Explanation", method=e.method, score=float(p.score))
        graph.add_node(act, label="Activity", name=data.ontology.activities[p.activity].name)
        graph.add_edge(person, expl, type="EXPLAINED_BY")
        graph.add_edge(expl, act, type="EXPLAINS")
        for rank, c in enumerate(data.ranked(e), start=1):
            label = {"part_state": "PartState", "object": "Object", "body_part": "BodyPart"}[c.kind]
            node = f"{label}:{c.term}"
            graph.add_node(node, label=label, name=data.name(c))
            graph.add_edge(
                node,
                expl,
                type="CONTRIBUTES_TO",
                weight=float(c.weight),
                rank=rank,
                edge=c.edge or "",
            )
    return "\n".join(nx.generate_graphml(graph)) + "\n"


# ---- HTML -------------------------------------------------------------------------------

_COLORS = {"part_state": "#2f6db5", "object": "#c77d14", "body_part": "#4a8a3c"}


def _image_svg(data: PersonExplanations, image_path: Path | None) -> str:
    observation = data.observation
    boxes = [b for b in [observation.box, *observation.part_boxes.values()] if b is not None]
    width: float
    height: float
    if image_path is not None:  # the picture's own size, so boxes land where they belong
        from PIL import Image

        with Image.open(image_path) as picture:
            width, height = picture.size
    else:
        width = data.image.get("width") or (max((b.x2 for b in boxes), default=320) + 20)
        height = data.image.get("height") or (max((b.y2 for b in boxes), default=240) + 20)
    u = max(width, height) / 480  # one screen pixel at the displayed size, in image units
    parts = [
        f'<svg class="scene" role="img" aria-label="person and body-part boxes" '
        f'viewBox="0 0 {width:g} {height:g}" width="100%" style="max-width:480px" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    if image_path is not None:
        mime = mimetypes.guess_type(image_path.name)[0] or "image/png"
        payload = base64.b64encode(image_path.read_bytes()).decode("ascii")
        parts.append(
            f'<image href="data:{mime};base64,{payload}" x="0" y="0" width="{width:g}" height="{height:g}"/>'
        )
    else:
        parts.append(
            f'<rect x="0" y="0" width="{width:g}" height="{height:g}" fill="#f3f3f0"/>'
            f'<text x="{4 * u:g}" y="{height - 6 * u:g}" font-size="{11 * u:g}" fill="#777">'
            f"image file not given ({html.escape(str(data.image['id']))}): boxes only</text>"
        )
    if observation.box is not None:
        x1, y1, x2, y2 = observation.box.to_list()
        parts.append(
            f'<rect class="person-box" x="{x1:g}" y="{y1:g}" width="{x2 - x1:g}" height="{y2 - y1:g}" '
            f'fill="none" stroke="#d62728" stroke-width="{3 * u:g}"/>'
            f'<text x="{x1 + 3 * u:g}" y="{y1 + 15 * u:g}" font-size="{13 * u:g}" fill="#d62728">'
            f"person {html.escape(data.person.rsplit('/', 1)[-1])}</text>"
        )
    names = {p.id: p.name for p in data.ontology.body_parts}
    for part, box in observation.part_boxes.items():
        x1, y1, x2, y2 = box.to_list()
        parts.append(
            f'<rect class="part-box" x="{x1:g}" y="{y1:g}" width="{x2 - x1:g}" height="{y2 - y1:g}" '
            f'fill="none" stroke="#1f77b4" stroke-width="{1.5 * u:g}"/>'
            f'<text x="{x1 + 2 * u:g}" y="{y1 + 11 * u:g}" font-size="{10 * u:g}" fill="#1f77b4">'
            f"{html.escape(names.get(part, part))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _bars_svg(data: PersonExplanations, contributions: list[Contribution]) -> str:
    rows = contributions[:12]
    if not rows:
        return "<p>No contributions above the threshold.</p>"
    top = max(abs(c.weight) for c in rows) or 1.0
    height = 22 * len(rows) + 10
    out = [
        f'<svg class="bars" role="img" aria-label="contributions" viewBox="0 0 520 {height}" '
        f'width="520" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, c in enumerate(rows):
        w = 260 * abs(c.weight) / top
        y = 5 + 22 * i
        color = _COLORS.get(c.kind, "#888") if c.weight >= 0 else "#999"
        out.append(
            f'<text x="175" y="{y + 14}" font-size="12" text-anchor="end">'
            f"{html.escape(data.name(c))}</text>"
            f'<rect x="180" y="{y}" width="{w:.1f}" height="16" fill="{color}"/>'
            f'<text x="{185 + w:.1f}" y="{y + 13}" font-size="11">{c.weight:+.3f}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _graph_svg(data: PersonExplanations, activity: str, contributions: list[Contribution]) -> str:
    rows = contributions[:8]
    height = max(60, 34 * len(rows) + 16)
    top = max((abs(c.weight) for c in rows), default=1.0) or 1.0
    mid = height / 2
    out = [
        f'<svg class="graph" role="img" aria-label="contribution graph" viewBox="0 0 520 {height}" '
        f'width="520" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, c in enumerate(rows):
        y = 16 + 34 * i
        stroke = 1 + 6 * abs(c.weight) / top
        color = _COLORS.get(c.kind, "#888")
        out.append(
            f'<line x1="190" y1="{y}" x2="350" y2="{mid:.1f}" stroke="{color}" '
            f'stroke-width="{stroke:.1f}" opacity="0.7"/>'
            f'<circle cx="190" cy="{y}" r="6" fill="{color}"/>'
            f'<text x="180" y="{y + 4}" font-size="11" text-anchor="end">'
            f"{html.escape(data.name(c))}</text>"
        )
    out.append(
        f'<circle cx="356" cy="{mid:.1f}" r="9" fill="#d62728"/>'
        f'<text x="370" y="{mid + 4:.1f}" font-size="13">{html.escape(activity)}</text></svg>'
    )
    return "".join(out)


def _logit_note(e: Explanation, contributions: list[Contribution]) -> str:
    """``; logit = baseline + contributions + rest`` with the numbers, where they are known."""
    if e.baseline is None:
        return ""
    total = sum(c.weight for c in contributions)
    rest = e.rest or 0.0
    logit = e.baseline + total + rest
    return f"; logit {logit:.2f} = baseline {e.baseline:.2f} + these {total:+.2f} + rest {rest:+.2f}"


def _html(data: PersonExplanations, image_path: Path | None) -> str:
    why = EXAMPLES["why_prediction"].cypher
    sections = []
    for p in data.predictions:
        e = data.explanation(p)
        ranked = data.ranked(e)
        name = data.ontology.activities[p.activity].name
        params = json.dumps({"person": data.person, "activity": name})
        sections.append(
            f'<section class="activity"><h2>{html.escape(name)} '
            f"<small>score {p.score:.3f} · {html.escape(p.model)} "
            f"{html.escape(str(p.model_version))} · {html.escape(e.method)}</small></h2>"
            f'<div class="row"><figure>{_bars_svg(data, ranked)}<figcaption>Contributions '
            f"to the activity's logit (blue: part states, orange: objects, green: body parts, grey: "
            f"against){_logit_note(e, ranked)}</figcaption>"
            f"</figure><figure>{_graph_svg(data, name, ranked)}<figcaption>"
            f"Which terms fed the activity, edge width = weight</figcaption></figure></div>"
            f"<details><summary>Cypher to reproduce</summary><pre><code>{html.escape(why)}</code></pre>"
            f"<p>parameters: <code>{html.escape(params)}</code></p></details></section>"
        )
    states = "".join(  # the table lists the observation's part states, most probable first
        f"<tr><td>{html.escape(s['name'])}</td><td>{s['prob']:.2f}</td>"
        f"<td>{html.escape(str(s['source']))}</td></tr>"
        for s in data.part_states[:20]
    )
    objects = ", ".join(f"{html.escape(o['name'])} ({o['score']:.2f})" for o in data.objects)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Why: {html.escape(data.person)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1150px; }}
h1 {{ font-size: 1.4rem; }} h2 {{ font-size: 1.1rem; margin-bottom: .3rem; }}
h2 small {{ color: #666; font-weight: normal; font-size: .8rem; }}
.row {{ display: flex; flex-wrap: wrap; gap: 1.5rem; }} figure {{ margin: 0; }}
figcaption {{ color: #666; font-size: .8rem; }} table {{ border-collapse: collapse; }}
td, th {{ padding: 2px 10px 2px 0; text-align: left; font-size: .9rem; }}
pre {{ background: #f5f5f2; padding: .6rem; white-space: pre-wrap; }}
</style></head>
<body>
<h1>Why was <code>{html.escape(data.person)}</code> predicted to do what it does?</h1>
<div class="row"><figure>{_image_svg(data, image_path)}<figcaption>Person box (red) and body-part
boxes (blue) in image <code>{html.escape(str(data.image["id"]))}</code></figcaption></figure>
<div><h2>Observed part states</h2><table><tr><th>part state</th><th>prob</th><th>source</th></tr>
{states}</table><p>Objects: {objects or "none"}</p></div></div>
{"".join(sections) or "<p>No stored predictions for this person yet: run <code>hake reason</code>.</p>"}
<script>document.body.dataset.rendered = document.querySelectorAll("svg").length;</script>
</body></html>
"""


def write_explanation(
    data: PersonExplanations,
    fmt: str,
    path: str | os.PathLike[str] | None = None,
    image_path: str | os.PathLike[str] | None = None,
) -> str:
    """Render ``data`` as ``fmt`` (one of :data:`FORMATS`); write it to ``path`` (atomically)
    when given (:func:`ontology.files.atomic_write`: ``path`` must not be a directory and its
    folder must exist). Returns the text."""
    if fmt not in FORMATS:
        raise StoreError(f"unknown explanation format {fmt!r}; expected one of {FORMATS}")
    out = None if path is None else check_file_target(path)
    image = None
    if image_path is not None:
        image = Path(image_path)
        if not image.is_file():
            raise StoreError(f"--image {image} does not exist")
    if fmt == "json":
        text = json.dumps(data.to_dict(), indent=2)
    elif fmt in ("jsonld", "ttl"):
        text = _rdf(data, fmt)
    elif fmt == "graphml":
        text = _graphml(data)
    else:
        text = _html(data, image)
    if out is not None:
        write_text_atomic(out, text)
    return text
