"""Explanation exports for one person: JSON, RDF (JSON-LD / Turtle, PROV-O), GraphML; and an
HTML report with pictures for one person or every person of a run.

The person is read from the store as records - its :class:`~ontology.PersonObservation`
(:func:`kg.read_observations`) and its explained :class:`~ontology.ActivityPrediction` records
with their :class:`~ontology.Explanation` (:func:`kg.read_predictions`), the same records that
were written - into a :class:`PersonExplanations`, then rendered.

The HTML report (:func:`write_report`; ``write_explanation(data, "html")`` for one person) is
one self-contained page: inline SVG and CSS, each image embedded once as a data URI when
given, no network. Per person: the image with the person and body-part boxes, the object
instance each triplet prediction names (its box, and a line from it to the person box), the
observed part states, and per explained activity a diverging bar chart of its logit: one bar
per term (its contributions merged over the paths it took; the per-path split in the bar's
tooltip and in a table under the chart), bars for it right of the zero axis, against it
left and hatched, then the rest, the baseline logit ``logit(0)`` and the final logit, with
the sum written out and the score ``sigmoid(logit)``; a legend for every colour; the Cypher
that reproduces the numbers. Term names are :func:`readable` (no underscores); ids stay as
stored, in ``<code>``.

Why one page with an index rather than a folder of pages: a folder would need its own
all-or-nothing protocol (temp folder, rename, a half-replaced old report to undo), while one
file is written by :func:`ontology.files.atomic_write` like every other output; it is one
thing to open, mail or archive, ``report.html`` stays where the README says; and an image
shared by several persons is embedded once. A small inline script shows one person at a
time (chosen in the index; the URL fragment ``#person-N`` selects one, so links work);
without scripts every person is shown, one after another. The report is for the handful of
persons a demo or an ``hake explain`` covers; a run over thousands belongs in the store and
its queries, not in one page.

JSON schema (:meth:`PersonExplanations.to_dict`)::

    {"person": "img.jpg/0", "image": {"id", "width", "height", "video", "frame_index"},
     "box": [x1, y1, x2, y2] | null, "part_boxes": {"right_hand": [x1, y1, x2, y2], ...},
     "part_states": [{"id", "name", "prob", "source"}, ...],
     "objects": [{"id", "name", "score"}, ...],
     "explanations": [{"activity", "activity_name", "score", "method", "model", "version",
                       "created", "baseline", "rest",
                       "object_instance": {"id", "key", "object", "name", "box", "score"} | null,
                       "contributions": [{"kind", "term", "name", "weight",
                                          "rank", "edge"}, ...]}, ...]}

``object_instance`` is the object instance the prediction names (a triplet,
:attr:`ontology.ActivityPrediction.object_id`), ``null`` when it names none; ``pairing`` why
the pairing model chose that instance (:attr:`ontology.ActivityPrediction.pairing`, a
``PairingExplanation`` of the store; ``null`` when none was written), its contributions as
``terms`` with their names::

    "pairing": {"method", "score", "baseline", "rest",
                "terms": [{"kind", "term", "name", "weight"}, ...]}

with ``baseline + sum(weights) + rest = score``, the pair score the instance won by (terms
largest ``|weight|`` first; kinds ``"geometry"`` and ``"cascade"`` name the pairing model's
own terms, ``"part_state"`` and ``"body_part"`` ontology terms). The HTML report draws it
beside the triplet: the line from the instance to the person carries the strongest evidence
as its tooltip, and the activity's section a table of the terms with the sum.

``baseline`` is the activity's logit without evidence and ``rest`` the summed weight of the
contributions too small to store: ``baseline + sum(weights) + rest`` is the logit.
Contributions are ranked by weight, largest first (ties by term name, then path).
"""

from __future__ import annotations

import base64
import html
import json
import math
import mimetypes
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.observations import read_observations, read_predictions
from kg.queries import EXAMPLES
from kg.store.base import GraphStore
from kg.store_ontology import store_ontology
from ontology import (
    ActivityPrediction,
    Box,
    Contribution,
    Explanation,
    ObjectInstance,
    Ontology,
    PairingExplanation,
    PersonObservation,
    StoreError,
    Vocabulary,
    load,
)
from ontology.files import check_file_target, write_text_atomic

__all__ = ["FORMATS", "PersonExplanations", "load_person", "readable", "write_explanation", "write_report"]

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


#: ... and the object instance a triplet prediction names (by its key: an index lookup).
_INSTANCE = (
    "MATCH (o:ObjectInstance {id: $id})-[:IS_A]->(c:Object) RETURN c.id AS object, o.bbox AS box, "
    "o.score AS score"
)


#: ... and the names of the pairing model's own terms (a few nodes).
_PAIRING_TERMS = "MATCH (t:PairingTerm) RETURN t.id AS id, t.name AS name, t.idx AS idx"


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
    #: the object instances the predictions name, by their id within the image
    instances: dict[str, ObjectInstance] = field(default_factory=dict)
    #: the names and channels of the pairing model's own terms (``PairingTerm``), by id
    pairing_terms: dict[str, tuple[str, int]] = field(default_factory=dict)

    def pairing(self, prediction: ActivityPrediction) -> PairingExplanation | None:
        """Why the pairing model chose ``prediction``'s instance, or ``None``
        (:attr:`ontology.ActivityPrediction.pairing`)."""
        return prediction.pairing

    def term_name(self, kind: str, term: str) -> str:
        """The name of a pairing explanation's term (a ``PairingTerm`` or an ontology term)."""
        if kind in ("part_state", "body_part"):
            return str(_vocabulary(self.ontology, kind)[term].name)
        return self.pairing_terms.get(term, (term, -1))[0]

    def instance(self, prediction: ActivityPrediction) -> ObjectInstance | None:
        """The object instance ``prediction`` names, or ``None``."""
        return None if prediction.object_id is None else self.instances[prediction.object_id]

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
                    "object_instance": self._instance_dict(p),
                    "pairing": self._pairing_dict(p),
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

    def _pairing_dict(self, p: ActivityPrediction) -> dict[str, Any] | None:
        e = self.pairing(p)
        if e is None:
            return None
        return {
            "method": e.method,
            "score": e.score,
            "baseline": e.baseline,
            "rest": e.rest,
            "terms": [
                {"kind": c.kind, "term": c.term, "name": self.term_name(c.kind, c.term), "weight": c.weight}
                for c in e.contributions
            ],
        }

    def _instance_dict(self, p: ActivityPrediction) -> dict[str, Any] | None:
        o = self.instance(p)
        if o is None:
            return None
        return {
            "id": o.object_id,
            "key": o.key,
            "object": o.object,
            "name": self.ontology.objects[o.object].name,
            "box": o.box.to_list(),
            "score": o.score,
        }

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
            self.person,
            self.image,
            self.observation,
            kept,
            self.created,
            self.ontology,
            self.instances,
            self.pairing_terms,
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
    onto = store_ontology(store)
    instances: dict[str, ObjectInstance] = {}
    for p in predictions:
        if p.object_id is None or p.object_id in instances:
            continue
        (row,) = store.query(_INSTANCE, id=p.object_key)  # (written only when it exists)
        instances[p.object_id] = ObjectInstance(
            observation.image_id,
            p.object_id,
            row["object"],
            Box(*row["box"]),
            row["score"],
            observation.frame_index,
            ontology=onto,
        )
    terms = (
        {r["id"]: (r["name"], r["idx"]) for r in store.query(_PAIRING_TERMS)}
        if any(p.pairing is not None for p in predictions)  # (then the store has the tables)
        else {}
    )
    return PersonExplanations(
        person=person,
        image=rows[0],
        observation=observation,
        predictions=sorted(predictions, key=lambda p: (-p.score, p.activity, p.model)),
        created=created,
        ontology=onto,
        instances=instances,
        pairing_terms=terms,
    )


# ---- RDF and GraphML --------------------------------------------------------------------


def _rdf(data: PersonExplanations, fmt: str) -> str:
    """One person's explanations as Turtle or JSON-LD, with the full export's provenance."""
    from kg.rdf import person_rdf  # (kg.rdf imports this module)

    return person_rdf(data, fmt)


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


def readable(label: str) -> str:
    """A term's label as reports and summaries print it: HICO's underscores as spaces
    (``drink_with cup`` -> ``drink with cup``). Ids, query tables and ``--json`` keep labels
    as stored.

    >>> readable("drink_with cup"), readable("hand: no_interaction")
    ('drink with cup', 'hand: no interaction')
    """
    return label.replace("_", " ")


#: Colours, each with its legend entry. A term's bar has its kind's colour, solid when it
#: pushes the logit up, hatched (the pattern ``against-<kind>``) when it pushes it down.
_KIND_COLOR = {"part_state": "#2f6db5", "object": "#c77d14", "body_part": "#4a8a3c"}
_KIND_NAME = {"part_state": "part state", "object": "object", "body_part": "body part"}
_REST_COLOR = "#c9c9c9"
_BASELINE_COLOR = "#8a8a8a"
_LOGIT_COLOR = "#222222"
_PERSON_COLOR = "#d62728"
_INSTANCE_COLOR = _KIND_COLOR["object"]  # the same colour as object bars: the same things
_BODY_PART_BOX = _KIND_COLOR["body_part"]  # the same colour as body-part bars: the same things


def _against(kind: str) -> str:
    return f"url(#against-{kind})"


def _fills() -> list[str]:
    """Every bar colour, in the order of a chart's legend."""
    kinds = list(_KIND_COLOR)
    return [
        *(_KIND_COLOR[k] for k in kinds),
        *(_against(k) for k in kinds),
        _REST_COLOR,
        _BASELINE_COLOR,
        _LOGIT_COLOR,
    ]


def _legend_text(fill: str) -> str:
    """What a bar colour means (every fill :func:`_bars_svg` uses has one)."""
    for kind, color in _KIND_COLOR.items():
        if fill == color:
            return f"{_KIND_NAME[kind]}, for the activity (raises the logit)"
        if fill == _against(kind):
            return f"{_KIND_NAME[kind]}, against the activity (lowers the logit)"
    return {
        _REST_COLOR: "rest: the contributions too small to store, summed",
        _BASELINE_COLOR: "baseline logit(0): the logit of the all-zero input (no evidence)",
        _LOGIT_COLOR: "logit of this person: the sum of the rows above it",
    }[fill]


def _swatch(fill: str, stroke: str | None = None) -> str:
    """A legend's colour sample: a small filled square, or an outlined one for boxes."""
    if stroke is not None:
        shape = (
            f'<rect x="1.5" y="1.5" width="11" height="11" fill="none" stroke="{stroke}" stroke-width="2.5"/>'
        )
    else:
        shape = f'<rect width="14" height="14" fill="{fill}" stroke="{_stroke(fill)}"/>'
    return f'<svg class="swatch" width="14" height="14" aria-hidden="true">{shape}</svg>'


def _stroke(fill: str) -> str:
    """A hatched bar's outline is its kind's colour; solid bars need none."""
    for kind, color in _KIND_COLOR.items():
        if fill == _against(kind):
            return color
    return "none"


def _legend(items: list[tuple[str, str]]) -> str:
    """``<ul class="legend">`` of (swatch, text) items."""
    return '<ul class="legend">' + "".join(f"<li>{s} {html.escape(t)}</li>" for s, t in items) + "</ul>"


def _defs() -> str:
    """The page's shared SVG definitions: one hatch pattern per term kind."""
    patterns = "".join(
        f'<pattern id="against-{kind}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        f'<rect width="3" height="6" fill="{color}"/></pattern>'
        for kind, color in _KIND_COLOR.items()
    )
    return f'<svg class="defs" width="0" height="0" aria-hidden="true"><defs>{patterns}</defs></svg>'


@dataclass(frozen=True)
class _Row:
    """One bar of a chart: a term (its contributions merged over its paths), the rest, the
    baseline or the logit."""

    role: str  # "term", "rest", "baseline" or "logit"
    label: str
    value: float
    fill: str
    title: str
    kind: str = ""
    #: a term's contributions, one per path (one with ``edge=None`` when stored merged)
    paths: tuple[Contribution, ...] = ()


def _path_name(edge: str | None) -> str:
    """``part_state->verb->activity`` -> ``part state → verb → activity``."""
    return "every path, summed" if edge is None else readable(edge).replace("->", " → ")


def _term_rows(data: PersonExplanations, e: Explanation) -> list[_Row]:
    """One row per (kind, term): its contributions summed over their paths, largest first
    (ties by name); the title lists the paths."""
    paths: dict[tuple[str, str], list[Contribution]] = {}
    for c in data.ranked(e):
        paths.setdefault((c.kind, c.term), []).append(c)
    rows = []
    for (kind, _), cs in paths.items():
        name = readable(data.name(cs[0]))
        total = sum(c.weight for c in cs)
        split = "".join(f"\n  {c.weight:+.3f} via {_path_name(c.edge)}" for c in cs)
        title = f"{name} ({_KIND_NAME[kind]}): {total:+.3f} to the logit{split}"
        fill = _KIND_COLOR[kind] if total >= 0 else _against(kind)
        rows.append(_Row("term", name, total, fill, title, kind, tuple(cs)))
    return sorted(rows, key=lambda r: (-r.value, r.label))


def _probability(x: float) -> str:
    """A score to three decimals, or two significant digits below 0.0005 (not "0.000").

    >>> _probability(0.8522), _probability(1.8e-05), _probability(0.0)
    ('0.852', '1.8e-05', '0.000')
    """
    return f"{x:.3f}" if x >= 0.0005 or x == 0 else f"{x:.1e}"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _chart_rows(data: PersonExplanations, p: ActivityPrediction) -> list[_Row]:
    """The bars of one activity: its terms, the rest, the baseline and the logit (the last
    three only where the explanation stored its baseline)."""
    e = data.explanation(p)
    rows = _term_rows(data, e)
    if e.rest:
        rows.append(
            _Row(
                "rest",
                "rest (small terms)",
                e.rest,
                _REST_COLOR,
                f"rest: {e.rest:+.3f}, the summed contributions too small to store",
            )
        )
    if e.baseline is not None:
        logit = e.baseline + sum(r.value for r in rows)
        score = _probability(_sigmoid(logit))
        rows.append(
            _Row(
                "baseline",
                "baseline logit(0)",
                e.baseline,
                _BASELINE_COLOR,
                f"baseline: {e.baseline:+.3f}, the logit of the all-zero input",
            )
        )
        rows.append(
            _Row(
                "logit",
                f"logit (score {_probability(p.score)})",
                logit,
                _LOGIT_COLOR,
                f"logit: {logit:+.3f} = the sum of the rows above; sigmoid(logit) = {score}",
            )
        )
    return rows


# Bar chart geometry (SVG user units = CSS pixels): label column, bar area, value column.
_LABEL_X, _LEFT, _RIGHT, _VALUE_X, _WIDTH = 214, 222, 590, 598, 660
_STEP, _BAR = 20, 14


def _bars_svg(rows: list[_Row]) -> str:
    """A diverging bar chart: one row per bar, a zero axis, values right of it positive and
    left of it negative; the baseline and logit rows set apart by a line."""
    if not rows:
        return '<p class="empty">No contributions above the threshold.</p>'
    values = [r.value for r in rows]
    lo, hi = min(0.0, *values), max(0.0, *values)
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return _LEFT + (_RIGHT - _LEFT) * (v - lo) / span

    x0 = x(0.0)
    ys = []
    y = 22.0
    for r in rows:
        if r.role == "baseline":
            y += 8  # room for the line between the evidence and the totals
        ys.append(y)
        y += _STEP
    height = y + 14
    out = [
        f'<svg class="bars" role="img" aria-label="logit contributions, baseline and logit" '
        f'viewBox="0 0 {_WIDTH} {height:g}" width="{_WIDTH}" height="{height:g}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<text class="direction" x="{x0 - 6:.1f}" y="12" text-anchor="end">&#8592; against</text>'
        f'<text class="direction" x="{x0 + 6:.1f}" y="12">for &#8594;</text>'
    ]
    for r, y in zip(rows, ys, strict=True):
        if r.role == "baseline":
            out.append(
                f'<line class="totals" x1="0" x2="{_WIDTH}" y1="{y - 5:g}" y2="{y - 5:g}" '
                f'stroke="#bbbbbb" stroke-dasharray="3 3"/>'
            )
        left, right = sorted((x(r.value), x0))
        width = max(right - left, 1.0)  # a tiny bar still shows its side of the axis
        if r.value < 0:
            left = x0 - width
        weight = ' font-weight="bold"' if r.role == "logit" else ""
        out.append(
            f'<g class="row" data-role="{r.role}" data-kind="{r.kind}" data-value="{float(r.value)!r}">'
            f"<title>{html.escape(r.title)}</title>"
            f'<text class="label" x="{_LABEL_X}" y="{y + 11:g}" text-anchor="end"{weight}>'
            f"{html.escape(r.label)}</text>"
            f'<rect class="bar" x="{left:.2f}" y="{y:g}" width="{width:.2f}" height="{_BAR}" '
            f'fill="{r.fill}" stroke="{_stroke(r.fill)}"/>'
            f'<text class="value" x="{_VALUE_X}" y="{y + 11:g}"{weight}>{r.value:+.2f}</text></g>'
        )
    out.append(
        f'<line class="axis" x1="{x0:.2f}" x2="{x0:.2f}" y1="16" y2="{height - 12:g}" stroke="#444444"/>'
        f'<text class="tick" x="{x0:.2f}" y="{height - 2:g}" text-anchor="middle">0</text></svg>'
    )
    return "".join(out)


def _sum_line(p: ActivityPrediction, e: Explanation, rows: list[_Row]) -> str:
    """The numbers of the chart added up: baseline + contributions (+ rest) = logit -> score."""
    terms = sum(r.value for r in rows if r.role == "term")
    score = _probability(p.score)
    if e.baseline is None:
        return (
            '<p class="sum">The baseline logit was not stored with this explanation, so the bars '
            f"do not rebuild the logit. Score {score}: the model's probability that the person does it.</p>"
        )
    rest = f" + rest {e.rest:+.2f}" if e.rest else ""
    logit = e.baseline + terms + e.rest
    line = (
        f'<p class="sum">baseline logit(0) {e.baseline:+.2f} + contributions {terms:+.2f}{rest} '
        f"= logit {logit:+.2f}; score = sigmoid({logit:+.2f}) = {_probability(_sigmoid(logit))}, "
        "the model's probability that the person does it."
    )
    if abs(_sigmoid(logit) - p.score) > 5e-3:
        line += f" The stored score is {score}, not sigmoid(logit): these numbers do not rebuild it."
    return line + "</p>"


def _paths_table(rows: list[_Row]) -> str:
    """The per-path split of the bars whose contributions name their paths ("" if none do)."""
    split = [r for r in rows if any(c.edge is not None for c in r.paths)]
    if not split:
        return ""
    body = []
    for r in split:
        for i, c in enumerate(r.paths):
            bar = (
                f"<td>{html.escape(r.label)}</td><td>{r.value:+.3f}</td>" if i == 0 else "<td></td><td></td>"
            )
            body.append(f"<tr>{bar}<td>{html.escape(_path_name(c.edge))}</td><td>{c.weight:+.3f}</td></tr>")
    return (
        '<table class="paths"><caption>Each bar split by the path its contributions took</caption>'
        "<tr><th>term</th><th>bar</th><th>path</th><th>logit contribution</th></tr>"
        + "".join(body)
        + "</table>"
    )


def _activity_section(data: PersonExplanations, p: ActivityPrediction) -> str:
    e = data.explanation(p)
    rows = _chart_rows(data, p)
    stored_name = data.ontology.activities[p.activity].name
    name = readable(stored_name)
    used = {r.fill for r in rows}
    legend = _legend([(_swatch(f), _legend_text(f)) for f in _fills() if f in used])
    paths = _paths_table(rows)
    where = " and the table under it" if paths else ""
    caption = (
        f"<p><b>Logit contributions</b> to &#8220;{html.escape(name)}&#8221;: how far each term moved "
        "the logit away from the <b>baseline logit</b> logit(0), the logit of the all-zero input. "
        "Right of 0: for the activity; hatched, left of 0: against it. One bar per term, summed over "
        f"the paths it took (the split is in the bar's tooltip{where}).</p>"
    )
    why = EXAMPLES["why_prediction"].cypher
    params = json.dumps({"person": data.person, "activity": stored_name})
    o = data.instance(p)
    which = (
        ""
        if o is None
        else f' <span class="instance" data-object="{html.escape(o.key)}">with '
        f"{html.escape(readable(data.ontology.objects[o.object].name))} {html.escape(o.object_id)}</span>"
    )
    return (
        f'<section class="activity" data-activity="{html.escape(p.activity)}">'
        f"<h3>{html.escape(name)}{which} <small>score {_probability(p.score)} · {html.escape(p.model)} "
        f"{html.escape(str(p.model_version))} · {html.escape(e.method)}</small></h3>"
        f'<figure class="chart">{_bars_svg(rows)}<figcaption>{legend}{caption}'
        f"{_sum_line(p, e, rows)}</figcaption></figure>{paths}{_pairing_table(data, p)}"
        f"<details><summary>Cypher to reproduce</summary><pre><code>{html.escape(why)}</code></pre>"
        f"<p>parameters: <code>{html.escape(params)}</code></p></details></section>"
    )


def _pairing_table(data: PersonExplanations, p: ActivityPrediction) -> str:
    """Why the pairing model chose the instance ``p`` names: its terms with their signed
    weights and the sum to the pair score ("" when none was stored)."""
    e = data.pairing(p)
    o = data.instance(p)
    if e is None or o is None:
        return ""
    what = f"{readable(data.ontology.objects[o.object].name)} {o.object_id}"
    body = "".join(
        f'<tr class="pairing-term" data-kind="{html.escape(c.kind)}">'
        f"<td>{html.escape(readable(data.term_name(c.kind, c.term)))}</td><td>{html.escape(c.kind)}</td>"
        f"<td>{c.weight:+.3f}</td></tr>"
        for c in e.contributions
    )
    terms = math.fsum(c.weight for c in e.contributions)
    query = EXAMPLES["why_paired"].cypher
    params = json.dumps({"person": data.person, "instance": o.key})
    return (
        f'<table class="pairing" data-object="{html.escape(o.key)}"><caption>Why '
        f"{html.escape(what)}: the pairing model's evidence, strongest first (geometry: the layout "
        "of the two boxes; cascade: the other persons' claim on the instance and whether the pair "
        "interacts at all)</caption>"
        "<tr><th>term</th><th>kind</th><th>pair-score contribution</th></tr>"
        f"{body}</table>"
        f'<p class="sum pairing-sum">baseline {e.baseline:+.3f} + terms {terms:+.3f} + rest {e.rest:+.3f} '
        f"= pair score {e.score:+.3f} ({html.escape(e.method)}: the score the instance won by among the "
        "image's instances of its class).</p>"
        f"<details><summary>Cypher for the pairing evidence</summary><pre><code>{html.escape(query)}"
        f"</code></pre><p>parameters: <code>{html.escape(params)}</code></p></details>"
    )


@dataclass(frozen=True)
class _Picture:
    """An image file embedded once in the page's definitions, drawn by reference."""

    ref: str
    width: float
    height: float
    svg: str


def _picture(path: Path, ref: str) -> _Picture:
    from PIL import Image

    with Image.open(path) as picture:  # its own size, so the boxes land where they belong
        width, height = picture.size
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    payload = base64.b64encode(path.read_bytes()).decode("ascii")
    svg = f'<image id="{ref}" href="data:{mime};base64,{payload}" width="{width}" height="{height}"/>'
    return _Picture(ref, float(width), float(height), svg)


def _box(
    cls: str, box: Box, color: str, label: str, u: float, width: float, size: float, above: bool = False
) -> str:
    """A labelled box; ``u`` is one screen pixel in image units. The label sits inside the
    box's top, or ``above`` it where there is room (the person's, clear of its parts' labels)."""
    x1, y1, x2, y2 = box.to_list()
    y = y1 - 3 * u if above and y1 > (size + 4) * u else y1 + (size + 1) * u
    return (
        f'<rect class="{cls}" x="{x1:g}" y="{y1:g}" width="{x2 - x1:g}" height="{y2 - y1:g}" '
        f'fill="none" stroke="{color}" stroke-width="{width * u:g}"/>'
        f'<text x="{x1 + 2 * u:g}" y="{y:g}" font-size="{size * u:g}" fill="{color}" '
        f'stroke="#ffffff" stroke-width="{2.5 * u:g}" stroke-opacity="0.8" paint-order="stroke">'
        f"{html.escape(label)}</text>"
    )


def _scene(data: PersonExplanations, picture: _Picture | None) -> str:
    """The person's figure: the image (or a blank of its size) with the person and body-part
    boxes, the object instances its predictions name (a dashed line from each to the person
    box), and their legend. (A person's ``NEAR`` objects come back without boxes.)"""
    observation = data.observation
    instances = _named_instances(data)
    boxes = [
        b
        for b in [observation.box, *observation.part_boxes.values(), *(o.box for o, _ in instances)]
        if b is not None
    ]
    width: float
    height: float
    if picture is not None:
        width, height = picture.width, picture.height
    else:
        width = data.image.get("width") or (max((b.x2 for b in boxes), default=320) + 20)
        height = data.image.get("height") or (max((b.y2 for b in boxes), default=240) + 20)
    u = max(width, height) / 440  # one screen pixel at the displayed size, in image units
    parts = [
        f'<svg class="scene" role="img" aria-label="person and body-part boxes" '
        f'viewBox="0 0 {width:g} {height:g}" width="100%" style="max-width:440px" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    if picture is not None:
        parts.append(f'<use href="#{picture.ref}"/>')
    else:
        parts.append(
            f'<rect x="0" y="0" width="{width:g}" height="{height:g}" fill="#f3f3f0"/>'
            f'<text x="{4 * u:g}" y="{height - 6 * u:g}" font-size="{11 * u:g}" fill="#777777">'
            "image file not given: boxes only</text>"
        )
    legend = []
    if observation.box is not None:
        person = f"person {data.person.rsplit('/', 1)[-1]}"
        parts.append(_box("person-box", observation.box, _PERSON_COLOR, person, u, 3, 13, above=True))
        legend.append((_swatch("", _PERSON_COLOR), "person box"))
    names = {p.id: p.name for p in data.ontology.body_parts}
    for part, box in observation.part_boxes.items():
        parts.append(_box("part-box", box, _BODY_PART_BOX, readable(names.get(part, part)), u, 1.5, 10))
    if observation.part_boxes:
        legend.append((_swatch("", _BODY_PART_BOX), "body-part boxes"))
    objects = data.ontology.objects
    for o, activities in instances:
        label = f"{readable(objects[o.object].name)} {o.object_id}: {', '.join(activities)}"
        if observation.box is not None:  # the triplet: from the instance's centre to the person's
            (ax, ay), (bx, by) = _centre(o.box), _centre(observation.box)
            evidence = _pairing_tooltip(data, o)
            parts.append(
                f'<line class="triplet-line" data-object="{html.escape(o.key)}" x1="{ax:g}" y1="{ay:g}" '
                f'x2="{bx:g}" y2="{by:g}" stroke="{_INSTANCE_COLOR}" stroke-width="{2 * u:g}" '
                f'stroke-dasharray="{6 * u:g} {4 * u:g}">'
                + (f"<title>{html.escape(evidence)}</title>" if evidence else "")
                + "</line>"
            )
        parts.append(_box("instance-box", o.box, _INSTANCE_COLOR, label, u, 2.5, 11))
    if instances:
        legend.append(
            (
                _swatch("", _INSTANCE_COLOR),
                "object instance a prediction names (its triplet), dashed line to the person",
            )
        )
    parts.append("</svg>")
    image = html.escape(str(data.image["id"]))
    return (
        f'<figure class="scene">{"".join(parts)}<figcaption>{_legend(legend)}'
        f"Image <code>{image}</code></figcaption></figure>"
    )


def _pairing_tooltip(data: PersonExplanations, o: ObjectInstance) -> str:
    """The strongest geometric evidence of each pairing that chose ``o``, one line each."""
    lines = []
    for p in data.predictions:
        e = data.pairing(p)
        if e is None or p.object_key != o.key:
            continue
        geometry = [(c.term, c.weight) for c in e.contributions if c.kind == "geometry"][:3]
        said = ", ".join(f"{readable(data.term_name('geometry', t))} {w:+.2f}" for t, w in geometry)
        lines.append(
            f"{readable(data.ontology.activities[p.activity].name)}: pair score {e.score:+.2f}; {said}"
        )
    return "\n".join(lines)


def _centre(box: Box) -> tuple[float, float]:
    return (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2


def _named_instances(data: PersonExplanations) -> list[tuple[ObjectInstance, list[str]]]:
    """The object instances the person's predictions name, each once, with the (readable)
    activities that name it, best prediction first."""
    out: dict[str, tuple[ObjectInstance, list[str]]] = {}
    for p in data.predictions:
        o = data.instance(p)
        if o is not None:
            name = readable(data.ontology.activities[p.activity].name)
            entry = out.setdefault(o.object_id, (o, []))
            if name not in entry[1]:
                entry[1].append(name)
    return list(out.values())


def _person_section(data: PersonExplanations, number: int, picture: _Picture | None) -> str:
    states = "".join(  # the observation's part states, most probable first
        f"<tr><td>{html.escape(readable(s['name']))}</td><td>{s['prob']:.2f}</td>"
        f"<td>{html.escape(str(s['source']))}</td></tr>"
        for s in data.part_states[:20]
    )
    objects = ", ".join(f"{html.escape(readable(o['name']))} ({o['score']:.2f})" for o in data.objects)
    image, person = data.person.rsplit("/", 1)
    activities = "".join(_activity_section(data, p) for p in data.predictions)
    return (
        f'<section class="person" id="person-{number}" data-person="{html.escape(data.person)}">'
        f"<h2>Person <code>{html.escape(person)}</code> in image <code>{html.escape(image)}</code></h2>"
        f'<div class="row">{_scene(data, picture)}<div><h3>Observed part states</h3>'
        f"<table><tr><th>part state</th><th>probability</th><th>source</th></tr>{states}</table>"
        f"<p>Objects: {objects or 'none'}</p></div></div>"
        f"{activities or '<p>No stored predictions for this person yet: run <code>hake reason</code>.</p>'}"
        "</section>"
    )


def _index(people: Sequence[PersonExplanations]) -> str:
    """The table of persons that picks the one shown."""
    rows = []
    for number, data in enumerate(people, start=1):
        best = data.predictions[0] if data.predictions else None
        activity = readable(data.ontology.activities[best.activity].name) if best else "none stored"
        score = _probability(best.score) if best else ""
        rows.append(
            f'<tr data-target="person-{number}"><td><a href="#person-{number}">'
            f"<code>{html.escape(data.person)}</code></a></td><td>{html.escape(activity)}</td>"
            f"<td>{score}</td><td>{len(data.predictions)}</td></tr>"
        )
    return (
        f'<nav class="index"><h2>{len(people)} persons: choose one</h2><table>'
        "<tr><th>person</th><th>best activity</th><th>score</th><th>activities explained</th></tr>"
        + "".join(rows)
        + "</table></nav>"
    )


_KEY = """<div class="key"><h2>Reading the numbers</h2><ul>
<li><b>score</b>: the model's probability that the person does the activity, sigmoid(logit).</li>
<li><b>logit</b> = <b>baseline logit</b> + the <b>logit contributions</b> + <b>rest</b>.</li>
<li><b>baseline logit</b>, logit(0): the activity's logit for the all-zero input (no part states,
objects or active body parts). It is usually far below 0, which is why an activity with a low
score can still show large contributions for it.</li>
<li><b>logit contributions</b>: each term's share of logit(person) &#8722; logit(0), in logit units,
by the method named with each activity; for the activity when positive, against it when
negative.</li>
<li><b>rest</b>: the contributions too small to store, summed.</li></ul></div>"""

_STYLE = """body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1150px; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin: .4rem 0; }
h3 { font-size: 1rem; margin: .8rem 0 .3rem; }
h3 small { color: #666; font-weight: normal; font-size: .8rem; }
.row { display: flex; flex-wrap: wrap; gap: 1.5rem; } figure { margin: 0; }
figcaption { color: #555; font-size: .8rem; max-width: 660px; } figcaption p { margin: .3rem 0; }
.sum { color: #222; font-weight: 600; }
table { border-collapse: collapse; } td, th { padding: 2px 10px 2px 0; text-align: left; font-size: .9rem; }
table.paths { margin: .3rem 0; } table.paths td, table.paths th { font-size: .8rem; }
table.paths td:nth-child(2), table.paths td:nth-child(4) { text-align: right; }
figure.scene { width: 440px; max-width: 100%; }
table.paths caption { text-align: left; font-size: .8rem; color: #555; }
.legend { list-style: none; padding: 0; margin: .3rem 0; display: flex; flex-wrap: wrap; gap: .2rem 1rem; }
.swatch { vertical-align: -2px; }
.defs { position: absolute; }
.key { background: #f7f7f4; padding: .3rem 1rem; font-size: .9rem; max-width: 900px; }
.key ul { margin: .3rem 0; padding-left: 1.2rem; }
nav.index tr.current { background: #e6eef8; }
section.person { border-top: 2px solid #ddd; margin-top: 1rem; }
section.activity { margin-left: .5rem; }
svg text { font-family: system-ui, sans-serif; } svg .label { font-size: 12px; }
svg .value, svg .tick { font-size: 11px; } svg .direction { font-size: 11px; fill: #666666; }
pre { background: #f5f5f2; padding: .6rem; white-space: pre-wrap; }"""

#: Shows the person the URL fragment names (the first by default) and hides the others.
_SCRIPT = """const people = Array.from(document.querySelectorAll("section.person"));
function show() {
  const wanted = decodeURIComponent(location.hash.slice(1));
  const chosen = people.find((s) => s.id === wanted) || people[0];
  for (const s of people) s.hidden = s !== chosen;
  for (const row of document.querySelectorAll("tr[data-target]")) {
    row.classList.toggle("current", row.dataset.target === chosen.id);
  }
  document.body.dataset.shown = chosen.id;
}
window.addEventListener("hashchange", show);
show();
document.body.dataset.rendered = document.querySelectorAll("svg").length;"""


def _html(people: Sequence[PersonExplanations], images: Mapping[str, Path]) -> str:
    pictures: dict[str, _Picture] = {}
    for data in people:
        image_id = str(data.image["id"])
        if image_id in images and image_id not in pictures:
            pictures[image_id] = _picture(images[image_id], f"image-{len(pictures) + 1}")
    sections = "".join(
        _person_section(data, number, pictures.get(str(data.image["id"])))
        for number, data in enumerate(people, start=1)
    )
    defs = _defs().replace("</defs>", "".join(p.svg for p in pictures.values()) + "</defs>")
    if len(people) == 1:
        title = f"Why: {people[0].person}"
        heading = f"Why was <code>{html.escape(people[0].person)}</code> predicted to do what it does?"
        index = ""
    else:
        title = f"Why: {len(people)} persons"
        heading = f"Why were these {len(people)} persons predicted to do what they do?"
        index = _index(people)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
{_STYLE}
</style></head>
<body>
{defs}
<h1>{heading}</h1>
{_KEY}
{index}
{sections}
<script>
{_SCRIPT}
</script>
</body></html>
"""


def _check_images(images: Mapping[str, str | os.PathLike[str]] | None) -> dict[str, Path]:
    checked = {}
    for image_id, path in (images or {}).items():
        file = Path(path)
        if not file.is_file():
            raise StoreError(f"--image {file} does not exist")
        checked[image_id] = file
    return checked


def write_report(
    people: Sequence[PersonExplanations],
    path: str | os.PathLike[str] | None = None,
    images: Mapping[str, str | os.PathLike[str]] | None = None,
) -> str:
    """The HTML report of ``people`` (one page, an index when there are several; see the
    module docstring), written to ``path`` atomically when given. ``images`` maps image ids
    (``data.image["id"]``) to the files to draw the boxes on; persons of other images get
    boxes on a blank. Returns the text."""
    if not people:
        raise StoreError("no persons to report; reason over some first (hake reason)")
    out = None if path is None else check_file_target(path)
    text = _html(people, _check_images(images))
    if out is not None:
        write_text_atomic(out, text)
    return text


def write_explanation(
    data: PersonExplanations,
    fmt: str,
    path: str | os.PathLike[str] | None = None,
    image_path: str | os.PathLike[str] | None = None,
) -> str:
    """Render ``data`` as ``fmt`` (one of :data:`FORMATS`); write it to ``path`` (atomically)
    when given (:func:`ontology.files.atomic_write`: ``path`` must not be a directory and its
    folder must exist). ``image_path``: html only, the person's image. Returns the text."""
    if fmt not in FORMATS:
        raise StoreError(f"unknown explanation format {fmt!r}; expected one of {FORMATS}")
    if fmt == "html":
        images = {} if image_path is None else {str(data.image["id"]): image_path}
        return write_report([data], path, images)
    out = None if path is None else check_file_target(path)
    if fmt == "json":
        text = json.dumps(data.to_dict(), indent=2)
    elif fmt in ("jsonld", "ttl"):
        text = _rdf(data, fmt)
    else:
        text = _graphml(data)
    if out is not None:
        write_text_atomic(out, text)
    return text
