from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
import rdflib
from PIL import Image

from kg.cli import main
from kg.engine import DEMO_OBSERVATIONS
from kg.ingest import ingest_observations, init_store, read_observations_jsonl
from kg.observations import read_observations, read_predictions
from kg.predictions import write_predictions
from kg.report import PersonExplanations, load_person, write_explanation, write_report
from kg.store import EmbeddedStore, GraphStore
from ontology import (
    ActivityPrediction,
    Box,
    Contribution,
    DetectedObject,
    Explanation,
    PersonObservation,
    StoreError,
)

PERSON = "street.jpg/0"


def _fill(store: GraphStore) -> tuple[PersonObservation, list[ActivityPrediction]]:
    """Store one person and two explained predictions; returns the records written."""
    init_store(store)
    obs = PersonObservation(
        "street.jpg",
        "0",
        box=Box(20, 10, 120, 190),
        part_states={"hip: sit on": 0.9, "foot: tread on": 0.8, "hand: hold": 0.7},
        objects=(DetectedObject("bicycle", 0.95, Box(0, 100, 150, 200)),),
        part_boxes={"left_hand": Box(30, 80, 50, 100), "mid_hip": Box(50, 100, 90, 130)},
        model="tiny",
    )
    ingest_observations(store, [obs])
    ride = Explanation(
        "ride bicycle",
        "exact-decomposition",
        (
            Contribution("part_state", "hip: sit on", 0.6, "part_state->verb->activity"),
            Contribution("part_state", "foot: tread on", 0.3, "part_state->verb->activity"),
            Contribution("object", "bicycle", 0.2, "object->activity"),
        ),
    )
    hold = Explanation(
        "hold bicycle", "exact-decomposition", (Contribution("part_state", "hand: hold", 0.4),)
    )
    preds = [
        ActivityPrediction("street.jpg", "0", "ride bicycle", 0.9, "gnn", "v1", ride),
        ActivityPrediction("street.jpg", "0", "hold bicycle", 0.5, "gnn", "v1", hold),
    ]
    write_predictions(store, preds)
    return obs, preds


def test_the_report_draws_the_records_written(store: GraphStore) -> None:
    obs, preds = _fill(store)
    data = load_person(store, PERSON)
    assert data.observation == read_observations(store, [PERSON])[0]
    assert (data.observation.box, data.observation.part_boxes, data.observation.part_states) == (
        obs.box,
        obs.part_boxes,
        obs.part_states,
    )
    assert data.predictions == read_predictions(store, PERSON)
    for read, written in zip(data.predictions, preds, strict=True):
        assert read.explanation is not None and written.explanation is not None
        assert read.explanation.contributions == written.explanation.contributions
        assert (read.activity, read.score, read.model, read.model_version) == (
            written.activity,
            written.score,
            written.model,
            written.model_version,
        )
    # Contributions are ranked by weight, ties by term name then path.
    tied = Explanation(
        "ride bicycle",
        "m",
        (
            Contribution("part_state", "hand: hold", 0.3, "b"),
            Contribution("part_state", "foot: tread on", 0.3, "b"),
            Contribution("part_state", "foot: tread on", 0.3, "a"),
        ),
    )
    assert [(data.name(c), c.edge) for c in data.ranked(tied)] == [
        ("foot: tread on", "a"),
        ("foot: tread on", "b"),
        ("hand: hold", "b"),
    ]


def test_an_explanation_without_stored_contributions_is_reported(store: GraphStore) -> None:
    _fill(store)
    empty = Explanation("repair bicycle", "exact-decomposition", (), baseline=-1.0, rest=0.25)
    write_predictions(
        store,
        [
            ActivityPrediction("street.jpg", "0", "repair bicycle", 0.2, "other", "v2", empty),
            ActivityPrediction("street.jpg", "0", "wash bicycle", 0.1, "other", "v2"),  # not explained
        ],
    )
    data = load_person(store, PERSON)
    names = [e["activity_name"] for e in data.explanations]
    assert names == ["ride bicycle", "hold bicycle", "repair bicycle"]
    repair = data.explanations[-1]
    assert (repair["contributions"], repair["rest"], repair["version"]) == ([], 0.25, "v2")
    text = write_explanation(data.only("repair bicycle"), "html")
    assert "No contributions above the threshold." not in text  # the rest and baseline are bars
    (chart,) = _find(_parse(text), "svg", "bars")
    assert [(r.attrs["data-role"], float(r.attrs["data-value"])) for r in _find(chart, "g", "row")] == [
        ("rest", 0.25),
        ("baseline", -1.0),
        ("logit", -0.75),
    ]
    (line,) = _find(_parse(text), "p", "sum")
    assert "baseline logit(0) -1.00 + contributions +0.00 + rest +0.25 = logit -0.75" in line.text()
    # 0.2 was stored, but sigmoid(-0.75) = 0.321: the report says so instead of hiding it.
    assert "The stored score is 0.200, not sigmoid(logit)" in line.text()


def test_json_export_follows_the_documented_schema(store: GraphStore) -> None:
    _fill(store)
    data = json.loads(write_explanation(load_person(store, PERSON), "json"))
    assert set(data) == {"person", "image", "box", "part_boxes", "part_states", "objects", "explanations"}
    assert data["box"] == [20.0, 10.0, 120.0, 190.0]
    assert data["part_boxes"] == {
        "mid_hip": [50.0, 100.0, 90.0, 130.0],
        "left_hand": [30.0, 80.0, 50.0, 100.0],
    }
    assert [e["activity_name"] for e in data["explanations"]] == ["ride bicycle", "hold bicycle"]
    ride = data["explanations"][0]
    assert [(c["name"], c["weight"], c["rank"]) for c in ride["contributions"]] == [
        ("hip: sit on", 0.6, 1),
        ("foot: tread on", 0.3, 2),
        ("bicycle", 0.2, 3),
    ]
    assert ride["model"] == "gnn" and ride["version"] == "v1" and ride["created"]


def test_rdf_and_graphml_exports(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "g") as store:
        _fill(store)
        data = load_person(store, PERSON).only("ride bicycle")
    for fmt, parser in (("ttl", "turtle"), ("jsonld", "json-ld")):
        path = tmp_path / f"why.{fmt}"
        write_explanation(data, fmt, path)
        graph = rdflib.Graph().parse(path, format=parser)
        rows = list(
            graph.query(
                "PREFIX hake: <https://w3id.org/hake-engine/ontology#> "
                "PREFIX prov: <http://www.w3.org/ns/prov#> "
                "SELECT ?w ?t WHERE { ?e a hake:Explanation ; prov:wasAttributedTo ?agent ; "
                "prov:generatedAtTime ?t ; hake:contribution ?c . "
                "?c hake:term hake:ps_hip_sit_on ; hake:weight ?w }"
            )
        )
        assert [float(r[0]) for r in rows] == [0.6]
    graphml = write_explanation(data, "graphml")
    assert "CONTRIBUTES_TO" in graphml and "hip: sit on" in graphml


def test_unknown_person_and_activity(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "g") as store:
        _fill(store)
        with pytest.raises(StoreError, match="no person 'nobody.jpg/0'"):
            load_person(store, "nobody.jpg/0")
        with pytest.raises(StoreError, match="no stored explanation for 'board airplane'"):
            load_person(store, PERSON).only("board airplane")


# ---- the HTML report ---------------------------------------------------------------------


@dataclass
class _El:
    """An element of a parsed page: enough DOM for the structural checks below."""

    tag: str
    attrs: dict[str, str]
    children: list[_El | str] = field(default_factory=list)

    def iter(self) -> Iterator[_El]:
        yield self
        for child in self.children:
            if isinstance(child, _El):
                yield from child.iter()

    def text(self, skip: tuple[str, ...] = ()) -> str:
        """The text inside, without that of elements tagged ``skip``."""
        if self.tag in skip:
            return ""
        return "".join(c if isinstance(c, str) else c.text(skip) for c in self.children)

    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()


class _Tree(HTMLParser):
    _VOID = {"meta", "br", "hr", "img", "input", "link"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _El("#document", {})
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = _El(tag, {k: v or "" for k, v in attrs})
        self.open[-1].children.append(el)
        if tag not in self._VOID:
            self.open.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open[-1].children.append(_El(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        while len(self.open) > 1:
            if self.open.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def _parse(text: str) -> _El:
    tree = _Tree()
    tree.feed(text)
    tree.close()
    return tree.root


def _find(root: _El, tag: str, cls: str | None = None) -> list[_El]:
    return [e for e in root.iter() if e.tag == tag and (cls is None or cls in e.classes())]


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _explanation(
    activity: str, baseline: float, rest: float, *weights: tuple[str, str, float, str]
) -> Explanation:
    return Explanation(
        activity,
        "exact-decomposition",
        tuple(Contribution(kind, term, w, edge) for kind, term, w, edge in weights),
        baseline=baseline,
        rest=rest,
    )


#: Two persons of one image, explanations stored per path, with their baselines: "hip: sit on"
#: reaches "ride bicycle" along two paths, "hand: no_interaction" pushes against it, a body
#: part and an object take part, and names carry HICO's underscores.
RIDE = _explanation(
    "ride bicycle",
    -3.0,
    0.05,
    ("part_state", "hip: sit on", 0.6, "part_state->verb->activity"),
    ("part_state", "hip: sit on", 0.3, "part_state->activity"),
    ("part_state", "foot: tread on", 0.5, "part_state->verb->activity"),
    ("object", "bicycle", 2.0, "object->activity"),
    ("part_state", "hand: no_interaction", -0.4, "part_state->activity"),
    ("body_part", "right_hand", 0.25, "body_part->activity"),
    ("body_part", "mid_hip", -0.1, "body_part->activity"),
)
WALK = _explanation(
    "no_interaction bicycle", -2.0, 0.0, ("part_state", "foot: walk with", 1.5, "part_state->activity")
)


def _logit(e: Explanation) -> float:
    assert e.baseline is not None
    return e.baseline + sum(c.weight for c in e.contributions) + e.rest


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> list[PersonExplanations]:
    """The two persons, read back from a store."""
    with EmbeddedStore(tmp_path_factory.mktemp("run") / "g") as store:
        init_store(store)
        observations = [
            PersonObservation(
                "street.jpg",
                "0",
                box=Box(20, 10, 120, 190),
                part_states={"hip: sit on": 0.9, "foot: tread on": 0.8, "hand: no_interaction": 0.6},
                objects=(DetectedObject("bicycle", 0.95),),
                part_boxes={"right_hand": Box(30, 80, 50, 100), "mid_hip": Box(50, 100, 90, 130)},
                model="tiny",
            ),
            PersonObservation(
                "street.jpg",
                "1",
                box=Box(130, 20, 150, 180),
                part_states={"foot: walk with": 0.7},
                model="tiny",
            ),
        ]
        ingest_observations(store, observations)
        write_predictions(
            store,
            [
                ActivityPrediction(
                    "street.jpg", "0", "ride bicycle", _sigmoid(_logit(RIDE)), "gnn", "v1", RIDE
                ),
                ActivityPrediction(
                    "street.jpg", "1", "no_interaction bicycle", _sigmoid(_logit(WALK)), "gnn", "v1", WALK
                ),
            ],
        )
        return [load_person(store, "street.jpg/0"), load_person(store, "street.jpg/1")]


def _charts(page: _El) -> dict[str, _El]:
    """Each activity section by activity id."""
    return {s.attrs["data-activity"]: s for s in _find(page, "section", "activity")}


def _rows(section: _El) -> list[_El]:
    (chart,) = _find(section, "svg", "bars")
    return _find(chart, "g", "row")


def test_the_report_covers_every_person_of_the_run(run: list[PersonExplanations], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    page = _parse(write_report(run, out))
    assert _parse(out.read_text()) == page and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    sections = _find(page, "section", "person")
    assert [(s.attrs["id"], s.attrs["data-person"]) for s in sections] == [
        ("person-1", "street.jpg/0"),
        ("person-2", "street.jpg/1"),
    ]
    # The index picks one: a row per person linking to its section, with its best activity.
    (index,) = _find(page, "nav", "index")
    rows = [r for r in _find(index, "tr") if "data-target" in r.attrs]
    assert [(r.attrs["data-target"], _find(r, "a")[0].attrs["href"]) for r in rows] == [
        ("person-1", "#person-1"),
        ("person-2", "#person-2"),
    ]
    assert "ride bicycle" in rows[0].text() and "no interaction bicycle" in rows[1].text()
    assert [list(_charts(s)) for s in sections] == [["ride-bicycle"], ["no_interaction-bicycle"]]
    # One person (hake explain --format html): no index, the same sections.
    single = _parse(write_explanation(run[1], "html"))
    assert not _find(single, "nav") and len(_find(single, "section", "person")) == 1
    with pytest.raises(StoreError, match="no persons to report"):
        write_report([])


def test_the_numbers_add_up_and_the_captions_say_what_they_are(run: list[PersonExplanations]) -> None:
    page = _parse(write_report(run))
    for data in run:
        (prediction,) = data.predictions
        e = data.explanation(prediction)
        section = _charts(page)[prediction.activity]
        values: dict[str, list[float]] = {}
        for row in _rows(section):
            values.setdefault(row.attrs["data-role"], []).append(float(row.attrs["data-value"]))
        (logit,) = values["logit"]
        # The bars: the terms + rest + baseline = the logit = the records' numbers; score = sigmoid.
        assert sum(values["term"]) + sum(values.get("rest", [])) + sum(values["baseline"]) == pytest.approx(
            logit
        )
        assert logit == pytest.approx(_logit(e)) and values["baseline"] == [e.baseline]
        assert values.get("rest", [0.0]) == [e.rest]
        assert _sigmoid(logit) == pytest.approx(prediction.score)
        # The caption names the numbers, and its sum adds up as printed.
        (figure,) = _find(section, "figure", "chart")
        caption = " ".join(_find(figure, "figcaption")[0].text().split())
        for words in ("Logit contributions", "baseline logit logit(0)", "all-zero input", "probability"):
            assert words in caption
        numbers = re.search(
            r"baseline logit\(0\) ([-+][\d.]+) \+ contributions ([-+][\d.]+)(?: \+ rest ([-+][\d.]+))? "
            r"= logit ([-+][\d.]+); score = sigmoid\(([-+][\d.]+)\) = ([\d.]+)",
            caption,
        )
        assert numbers is not None, caption
        base, terms, rest, total, inside, score = numbers.groups()
        assert float(base) + float(terms) + float(rest or 0) == pytest.approx(float(total), abs=0.02)
        assert (float(total), float(inside)) == (round(logit, 2), round(logit, 2))
        assert score == f"{prediction.score:.3f}" and "not sigmoid(logit)" not in caption
    key = " ".join(_find(page, "div", "key")[0].text().split())
    assert "logit = baseline logit + the logit contributions + rest" in key and "probability" in key


def test_one_bar_per_term_with_its_paths_as_detail(run: list[PersonExplanations]) -> None:
    (section,) = _charts(_parse(write_report(run[:1]))).values()
    terms = [r for r in _rows(section) if r.attrs["data-role"] == "term"]
    labels = [_find(r, "text", "label")[0].text() for r in terms]
    assert len(labels) == len(set(labels)) == 6  # 7 contributions, "hip: sit on" twice
    hip = terms[labels.index("hip: sit on")]
    assert float(hip.attrs["data-value"]) == pytest.approx(0.9)
    title = _find(hip, "title")[0].text()
    assert "+0.600 via part state → verb → activity" in title and "+0.300 via part state → activity" in title
    (table,) = _find(section, "table", "paths")
    cells = [[td.text() for td in _find(tr, "td")] for tr in _find(table, "tr")[1:]]
    at = cells.index(["hip: sit on", "+0.900", "part state → verb → activity", "+0.600"])
    assert cells[at + 1] == ["", "", "part state → activity", "+0.300"]


def test_negative_contributions_go_to_the_other_side_of_the_axis(run: list[PersonExplanations]) -> None:
    page = _parse(write_report(run))
    (section,) = [s for s in _find(page, "section", "activity") if s.attrs["data-activity"] == "ride-bicycle"]
    (chart,) = _find(section, "svg", "bars")
    (axis,) = _find(chart, "line", "axis")
    zero = float(axis.attrs["x1"])
    patterns = {p.attrs["id"] for p in _find(page, "pattern")}
    signs = set()
    for row in _find(chart, "g", "row"):
        value = float(row.attrs["data-value"])
        (bar,) = _find(row, "rect", "bar")
        x, width, fill = float(bar.attrs["x"]), float(bar.attrs["width"]), bar.attrs["fill"]
        if value < 0:
            assert x + width == pytest.approx(zero) and x < zero, row.attrs
        else:
            assert x == pytest.approx(zero) and width > 0, row.attrs
        if row.attrs["data-role"] == "term":  # against: hatched with the kind's colour, defined once
            hatched = fill.startswith("url(#")
            assert hatched == (value < 0) and (not hatched or fill[5:-1] in patterns)
            signs.add((row.attrs["data-kind"], value < 0, fill))
    assert {(k, neg) for k, neg, _ in signs} >= {
        ("part_state", True),
        ("part_state", False),
        ("body_part", True),
    }
    assert len({fill for _, _, fill in signs}) == len({(k, neg) for k, neg, _ in signs})  # all different


def test_every_colour_has_a_legend_entry(run: list[PersonExplanations]) -> None:
    page = _parse(write_report(run))
    charts = _find(page, "figure", "chart")
    scenes = _find(page, "figure", "scene")
    assert len(charts) == 2 and len(scenes) == 2
    for figure, shapes, paint in [(f, "bar", "fill") for f in charts] + [(f, "", "stroke") for f in scenes]:
        used = {
            r.attrs[paint]
            for r in _find(figure, "rect")
            if (shapes in r.classes() if shapes else {"person-box", "part-box"} & set(r.classes()))
        }
        (legend,) = _find(figure, "ul", "legend")
        entries = {}
        for item in _find(legend, "li"):
            (swatch,) = _find(item, "rect")
            color = swatch.attrs["fill"] if paint == "fill" else swatch.attrs["stroke"]
            entries[color] = item.text().strip()
        assert used and used <= set(entries), (used, entries)
        assert all(entries.values())
    ride = _find(charts[0], "ul", "legend")[0].text()
    assert "body part, for the activity" in ride and "baseline logit(0)" in ride
    assert "body part, against the activity" in ride and "part state, against the activity" in ride
    assert "body-part boxes" in _find(scenes[0], "ul", "legend")[0].text()


def test_a_triplet_draws_its_instance_box_and_a_line_to_the_person(store: GraphStore) -> None:
    """A prediction that names an object instance: the scene draws the instance's box (the
    legend's colour) and a line from its centre to the person box's, and the activity's
    heading names the instance; instances no prediction names are not drawn."""
    from kg.ingest import ingest_hoi
    from tests.kg.test_triplets import cafe

    init_store(store)
    ingest_hoi(store, [cafe()])
    write_predictions(
        store,
        [
            ActivityPrediction("cafe.jpg", "1", "hold cup", 0.8, "pairs", "1", HOLD_CUP, object_id="0"),
            ActivityPrediction(
                "cafe.jpg", "1", "drink_with cup", 0.6, "pairs", "1", DRINK_CUP, object_id="0"
            ),
        ],
    )
    data = load_person(store, "cafe.jpg/1")
    page = _parse(write_report([data]))
    (scene,) = _find(page, "figure", "scene")
    (box,) = _find(scene, "rect", "instance-box")  # one instance, named by both predictions
    assert [float(box.attrs[k]) for k in ("x", "y", "width", "height")] == [100.0, 100.0, 20.0, 30.0]
    (line,) = _find(scene, "line", "triplet-line")
    assert line.attrs["data-object"] == "cafe.jpg/0"
    ends = [float(line.attrs[k]) for k in ("x1", "y1", "x2", "y2")]
    assert ends == [110.0, 115.0, 325.0, 210.0]  # the instance's centre, the person box's centre
    assert line.attrs["stroke"] == box.attrs["stroke"]
    labels = [t.text() for t in _find(scene, "text")]
    assert "cup 0: hold cup, drink with cup" in labels
    (legend,) = _find(scene, "ul", "legend")
    entries = {_find(item, "rect")[0].attrs["stroke"]: item.text().strip() for item in _find(legend, "li")}
    assert "object instance a prediction names" in entries[box.attrs["stroke"]]
    headings = {s.attrs["data-activity"]: s for s in _find(page, "section", "activity")}
    (named,) = _find(headings["hold-cup"], "span", "instance")
    assert named.text() == "with cup 0" and named.attrs["data-object"] == "cafe.jpg/0"
    # without a triplet nothing of it is drawn
    write_predictions(store, [ActivityPrediction("cafe.jpg", "1", "hold cup", 0.8, "pairs", "2", HOLD_CUP)])
    bare = _parse(write_report([load_person(store, "cafe.jpg/1")]))
    assert not _find(bare, "rect", "instance-box") and not _find(bare, "line", "triplet-line")
    assert "object instance" not in _find(bare, "ul", "legend")[0].text()


HOLD_CUP = Explanation("hold cup", "exact-decomposition", (Contribution("part_state", "hand: hold", 1.2),))
DRINK_CUP = Explanation(
    "drink_with cup", "exact-decomposition", (Contribution("part_state", "hand: hold", 0.8),)
)


def test_names_are_readable(run: list[PersonExplanations]) -> None:
    page = _parse(write_report(run))
    shown = page.text(skip=("code", "pre", "script", "style"))  # ids and Cypher stay as stored
    assert "_" not in shown, re.findall(r"\S*_\S*", shown)
    assert "hand: no interaction" in shown and "no interaction bicycle" in shown
    assert "right hand" in shown  # body-part names in the bars and the boxes


def test_demo_reports_every_person(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    torch.set_num_threads(1)
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    report = tmp_path / "demo" / "report.html"
    assert f"HTML report of 6 persons: {report.resolve()}" in capsys.readouterr().out
    page = _parse(report.read_text())
    expected = [o.key for o in read_observations_jsonl(DEMO_OBSERVATIONS)]
    assert [s.attrs["data-person"] for s in _find(page, "section", "person")] == expected
    assert len([r for r in _find(page, "tr") if "data-target" in r.attrs]) == len(expected) == 6
    for section in _find(page, "section", "activity"):
        values: dict[str, list[float]] = {}
        for row in _rows(section):
            values.setdefault(row.attrs["data-role"], []).append(float(row.attrs["data-value"]))
        parts = sum(values["term"]) + sum(values.get("rest", [])) + values["baseline"][0]
        assert parts == pytest.approx(values["logit"][0], abs=1e-4)


def test_explain_html_for_one_person(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with EmbeddedStore(tmp_path / "g") as store:
        _fill(store)
    out = tmp_path / "why.html"
    assert (
        main(["explain", PERSON, "--format", "html", "--out", str(out), "--store", str(tmp_path / "g")]) == 0
    )
    page = _parse(out.read_text())
    assert [s.attrs["data-person"] for s in _find(page, "section", "person")] == [PERSON]
    assert set(_charts(page)) == {"ride-bicycle", "hold-bicycle"}
    # Hand-made records without a baseline: no made-up logit, and the caption says why.
    assert all(r.attrs["data-role"] == "term" for s in _charts(page).values() for r in _rows(s))
    assert "baseline logit was not stored" in out.read_text()


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_html_report_renders_in_headless_chromium(run: list[PersonExplanations], tmp_path: Path) -> None:
    image = tmp_path / "street.png"
    Image.new("RGB", (160, 220), (230, 230, 220)).save(image)
    report = tmp_path / "report.html"
    text = write_report(run, report, {"street.jpg": image})
    assert text.count("data:image/png;base64,") == 1  # both persons' scenes draw the one copy
    assert "MATCH (p:Person {id: $person})" in text
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        ["chromium", *flags, "--enable-logging=stderr", "--v=0", "--dump-dom", report.as_uri() + "#person-2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "CONSOLE" not in dom.stderr, [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln]
    page = _parse(dom.stdout)
    (body,) = _find(page, "body")
    # The report's script ran: it counted the pictures and showed the person the URL names.
    assert body.attrs["data-rendered"] == str(text.count("<svg"))
    assert body.attrs["data-shown"] == "person-2"
    sections = _find(page, "section", "person")
    assert [("hidden" in s.attrs) for s in sections] == [True, False]
    current = [r.attrs["data-target"] for r in _find(page, "tr") if "current" in r.classes()]
    assert current == ["person-2"]
    # The browser's DOM has the structure the checks above read from the text.
    assert [len(_rows(s)) for s in _find(page, "section", "activity")] == [
        len(_rows(s)) for s in _find(_parse(text), "section", "activity")
    ]
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            "chromium",
            *flags,
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            report.as_uri() + "#person-1",
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = Image.open(shot).convert("RGB")
    colors = {pixels.getpixel((x, y)) for x in range(0, pixels.width, 2) for y in range(0, pixels.height, 2)}
    rgb = [c for c in colors if isinstance(c, tuple)]

    def drawn(hex_color: str) -> bool:
        r0, g0, b0 = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
        return any(abs(r - r0) < 20 and abs(g - g0) < 20 and abs(b - b0) < 20 for r, g, b in rgb)

    # The person box, part-state, object and body-part bars, and the baseline are drawn.
    assert all(drawn(c) for c in ("#d62728", "#2f6db5", "#c77d14", "#4a8a3c", "#8a8a8a")), len(rgb)
