from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import rdflib
from PIL import Image

from kg.ingest import ingest_observations, init_store
from kg.observations import read_observations, read_predictions
from kg.predictions import write_predictions
from kg.report import load_person, write_explanation
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
    assert "No contributions above the threshold." in text
    assert "logit -0.75 = baseline -1.00 + these +0.00 + rest +0.25" in text


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


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_html_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "g") as store:
        _fill(store)
        data = load_person(store, PERSON)
    image = tmp_path / "street.png"
    Image.new("RGB", (160, 220), (230, 230, 220)).save(image)
    report = tmp_path / "report.html"
    write_explanation(data, "html", report, image)
    text = report.read_text()
    assert "data:image/png;base64," in text and "MATCH (p:Person {id: $person})" in text
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
        ["chromium", *flags, "--enable-logging=stderr", "--v=0", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The report's own script ran and counted its pictures: scene, 2 bar charts, 2 graphs.
    assert 'data-rendered="5"' in dom.stdout
    assert "CONSOLE" not in dom.stderr, [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln]
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", *flags, f"--screenshot={shot}", "--window-size=1200,1400", report.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = Image.open(shot).convert("RGB")
    colors = {pixels.getpixel((x, y)) for x in range(0, pixels.width, 2) for y in range(0, pixels.height, 2)}
    # The person box (#d62728) and the part-state bars (#2f6db5) are drawn.
    assert any(abs(r - 0xD6) < 20 and abs(g - 0x27) < 20 and abs(b - 0x28) < 20 for r, g, b in colors)
    assert any(abs(r - 0x2F) < 20 and abs(g - 0x6D) < 20 and abs(b - 0xB5) < 20 for r, g, b in colors)
