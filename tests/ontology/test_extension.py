"""Ontology extensions: both file formats, the merged value, and every error a file can make."""

from __future__ import annotations

from pathlib import Path

import pytest
import rdflib

import ontology
from ontology import OntologyFileError

EXAMPLE = ontology.example_extension()

HEADER = "hake_extension: 1\nname: toy\nversion: 0.2.0\n"


def write(tmp_path: Path, text: str, name: str = "ext.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_extension_has_the_promised_hierarchy() -> None:
    onto = ontology.load(EXAMPLE)
    packaged = ontology.load()
    new = onto.activities[len(packaged.activities) :]
    areas = [a for a in new if a.level == "area"]
    composites = [a for a in new if a.level == "composite"]
    atomic = [a for a in new if a.level == "atomic"]
    assert len(areas) >= 3 and len(composites) >= 8 and len(atomic) >= 30
    assert any(a.object is None for a in atomic) and any(a.object is not None for a in atomic)
    assert all(a.part_states for a in atomic), "every atomic action names its part states"
    assert all(onto.activities.ancestors(a.id)[0].level == "area" for a in atomic)
    # area -> composite -> atomic, and a composite under two broader activities
    assert {a.name for a in onto.activities.ancestors("stretch")} == {
        "sports",
        "running and jumping",
        "warm-up",
    }
    assert onto.activities["jog"] in onto.activities.descendants("sports")
    assert onto.is_subset_of(onto) and packaged.is_subset_of(onto) and not onto.is_subset_of(packaged)


def test_packaged_terms_keep_their_channels_and_new_ones_are_appended() -> None:
    packaged, onto = ontology.load(), ontology.load(EXAMPLE)
    for kind in ("part_states", "verbs", "objects", "activities"):
        old, new = getattr(packaged, kind), getattr(onto, kind)
        assert list(new)[: len(old)] == list(old)
        assert [t.index for t in new] == list(range(len(new)))
    assert onto.part_states["hand: wave"].part == "hand"
    assert onto.verbs["jog"].part_states == (("foot_run_with", 1.0), ("leg_run_with", 1.0))
    assert onto.activities["skip rope"].object == "jump_rope"
    assert onto.verbs["applaud"].synonyms == ("clap hands",)
    assert onto.version == "1.0.0+everyday-actions-0.1.0"
    assert [s.name for s in onto.sources] == ["hake", "everyday-actions"]
    assert onto.id != packaged.id and ontology.load(EXAMPLE) == onto


def test_export_round_trips_through_turtle_and_rdflib(tmp_path: Path) -> None:
    onto = ontology.load(EXAMPLE)
    path = write(tmp_path, onto.to_turtle(), "merged.ttl")
    again = ontology.load(path)
    assert again.id == onto.id and again.version == onto.version
    assert again.activities["warm-up"].broader == onto.activities["warm-up"].broader
    graph = rdflib.Graph().parse(path, format="turtle")
    hake, skos = (
        rdflib.Namespace(ontology.NAMESPACE),
        rdflib.Namespace("http://www.w3.org/2004/02/skos/core#"),
    )
    assert (hake["act_jog"], skos.broader, hake["act_running_and_jumping"]) in graph
    assert len(set(graph.subjects(rdflib.RDF.type, hake.Activity))) == len(onto.activities)
    # the packaged ontology exported and loaded is itself
    assert ontology.load(write(tmp_path, ontology.load().to_turtle(), "packaged.ttl")) == ontology.load()


def test_a_turtle_extension_loads_like_yaml(tmp_path: Path) -> None:
    ttl = write(
        tmp_path,
        """@prefix hake: <https://w3id.org/hake-engine/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
hake:verb_jog a hake:Verb ; rdfs:label "jog" ; skos:altLabel "run slowly" .
hake:act_outdoors a hake:Activity ; rdfs:label "outdoors" ; hake:level "area" .
hake:act_jog a hake:Activity ; rdfs:label "jog" ; hake:verb hake:verb_jog ; skos:broader hake:act_outdoors ;
    hake:characteristicPartState [ hake:partState hake:ps_foot_run_with ; hake:weight 0.5 ] .
""",
        "ext.ttl",
    )
    yaml = write(
        tmp_path,
        HEADER
        + """verbs:
  - {name: jog, synonyms: [run slowly]}
activities:
  - {name: outdoors, level: area}
  - {name: jog, verb: jog, broader: outdoors, part_states: {"foot: run with": 0.5}}
""",
    )
    a, b = ontology.load(ttl), ontology.load(yaml)
    assert a.id == b.id
    assert a.activities["jog"].part_states == (("foot_run_with", 0.5),)
    assert a.activities["jog"].object is None and a.activities["outdoors"].is_composite


def test_several_extensions_build_on_each_other(tmp_path: Path) -> None:
    first = write(tmp_path, HEADER + "verbs:\n  - name: jog\n", "a.yaml")
    second = write(
        tmp_path, "hake_extension: 1\nname: b\nactivities:\n  - {name: jog, verb: jog}\n", "b.yaml"
    )
    onto = ontology.load(first, second)
    assert onto.activities["jog"].verb == "jog"
    with pytest.raises(OntologyFileError, match="unknown verb 'jog'"):
        ontology.load(second)
    # restating a term exactly is allowed (extending twice changes nothing) ...
    assert ontology.load(first, first) == ontology.load(first)


@pytest.mark.parametrize(
    ("text", "line", "match"),
    [
        ("name: toy\n", 1, r"hake_extension: 1"),
        ("hake_extension: 2\nname: toy\n", 1, r"hake_extension: 1"),
        ("hake_extension: 1\nname: Toy Set\n", 2, r"name: expected a name of lower-case"),
        (HEADER + "verbs: jog\n", 4, r"verbs: expected a list"),
        (HEADER + "verbs:\n  - jog\n", 5, r"verbs\[0\]: expected a mapping"),
        (
            HEADER + "verbs:\n  - name: jog\n    synonym: [x]\n",
            6,
            r"verbs\[0\]\.synonym: unknown field.*'synonyms'",
        ),
        (HEADER + "verbs:\n  - name: jog\n    name: run\n", 6, r"given twice"),
        (HEADER + "verbs:\n  - description: x\n", 5, r"verbs\[0\]\.name: every verb needs a name"),
        (
            HEADER + "verbs:\n  - name: jog\n  - name: jog\n",
            6,
            r"defined twice in this file \(first at line 5\)",
        ),
        (HEADER + "verbs:\n  - name: ride\n", 5, r"redefines the existing verb 'ride'"),
        (
            HEADER + "activities:\n  - {name: jog, verb: jgo}\n",
            5,
            r"activities\[0\]\.verb of 'jog': unknown verb 'jgo'",
        ),
        (HEADER + "activities:\n  - {name: x, verb: ride, object: bycicle}\n", 5, r"did you mean 'bicycle'"),
        (HEADER + "activities:\n  - {name: x, object: bicycle}\n", 5, r"needs a verb"),
        (
            HEADER + "activities:\n  - {name: x, verb: ride, broader: sprots}\n",
            5,
            r"unknown activity 'sprots'",
        ),
        (
            HEADER + "activities:\n  - {name: x, verb: ride, broader: ride bicycle}\n",
            5,
            r"has a verb, so nothing",
        ),
        (
            HEADER + "activities:\n  - {name: a, broader: b}\n  - {name: b, broader: a}\n",
            5,
            r"cycle",
        ),
        (
            HEADER + 'activities:\n  - {name: x, verb: ride, part_states: ["hnad: hold"]}\n',
            5,
            r"did you mean 'hand: hold'",
        ),
        (
            HEADER + 'activities:\n  - {name: x, verb: ride, part_states: {"hand: hold": 2}}\n',
            5,
            r"weight in \(0, 1\]",
        ),
        (HEADER + 'activities:\n  - {name: x, part_states: ["hand: hold"]}\n', 5, r"composite \(no verb\)"),
        (HEADER + 'part_states:\n  - name: "tail: wag"\n', 5, r"unknown coarse body part 'tail'"),
        (HEADER + "part_states:\n  - name: wag\n", 5, r"<coarse part>: <verb phrase>"),
        (HEADER + "verbs:\n  - {name: jog, id: Jog!}\n", 5, r"expected an id of lower-case"),
        (HEADER + "verbs: [\n", 5, r"not valid YAML"),
    ],
)
def test_every_yaml_error_names_file_line_and_field(tmp_path: Path, text: str, line: int, match: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(OntologyFileError, match=match) as caught:
        ontology.load(path)
    assert str(caught.value).startswith(f"{path}:{line}: "), str(caught.value)
    assert caught.value.line == line


def test_turtle_errors(tmp_path: Path) -> None:
    prefix = (
        "@prefix hake: <https://w3id.org/hake-engine/ontology#> .\n"
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
    )
    cases = [
        (prefix + "hake:verb_x a hake:Verb .\n", 3, "needs an rdfs:label"),
        (prefix + 'hake:part_tail a hake:BodyPart ; rdfs:label "tail" .\n', 3, "cannot add body parts"),
        (
            prefix + 'hake:act_x a hake:Activity ; rdfs:label "x" ; hake:verb hake:verb_rdie .\n',
            3,
            "unknown verb",
        ),
        (
            prefix + 'hake:verb_ride a hake:Verb ; rdfs:label "ride" ; hake:index 0 .\n',
            3,
            "redefines the existing verb",
        ),
        (prefix + "hake:x a\n", None, "not valid Turtle"),
    ]
    for text, line, match in cases:
        path = write(tmp_path, text, "ext.ttl")
        with pytest.raises(OntologyFileError, match=match) as caught:
            ontology.load(path)
        if line is not None:
            assert caught.value.line == line, str(caught.value)


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(OntologyFileError, match="no such file"):
        ontology.load(tmp_path / "missing.yaml")
    with pytest.raises(OntologyFileError, match=r"unknown format '\.json'"):
        ontology.load(write(tmp_path, "{}", "ext.json"))
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(OntologyFileError, match="not UTF-8"):
        ontology.load(tmp_path / "bad.yaml")


def test_yaml_scalars_are_text_so_no_is_not_false(tmp_path: Path) -> None:
    onto = ontology.load(write(tmp_path, HEADER + "verbs:\n  - name: no\n  - name: 1.10\n"))
    assert onto.verbs["no"].name == "no" and onto.verbs["1_10"].name == "1.10"


def test_records_are_checked_against_the_ontology_they_are_given() -> None:
    onto = ontology.load(EXAMPLE)
    obs = ontology.PersonObservation(
        image_id="i",
        person_id="0",
        part_states={"hand: wave": 0.9, "hand: hold": 0.5},
        objects=(ontology.DetectedObject("broom", 0.8, ontology=onto),),
        ontology=onto,
    )
    assert obs.part_states == {"hand_wave": 0.9, "hand_hold": 0.5}
    assert ontology.PersonObservation.from_dict(obs.to_dict(), onto) == obs
    with pytest.raises(ontology.RecordError, match="unknown part state 'hand: wave'"):
        ontology.PersonObservation(image_id="i", person_id="0", part_states={"hand: wave": 0.9})
    with pytest.raises(ontology.RecordError, match="unknown object 'broom'"):
        ontology.DetectedObject("broom")
    prediction = ontology.ActivityPrediction("i", "0", "wave hello", 0.7, "m", ontology=onto)
    assert prediction.activity == "wave_hello"
    explanation = ontology.Explanation(
        "wave hello",
        "m",
        (ontology.Contribution("part_state", "hand: wave", 1.0, ontology=onto),),
        ontology=onto,
    )
    assert ontology.Explanation.from_dict(explanation.to_dict(), onto) == explanation
    assert ontology.observation_dict(obs.to_dict(), ontology=onto) == obs.to_dict()


def test_the_documented_examples_load(tmp_path: Path) -> None:
    """The YAML of the README and of ontology/extension.py's docstring load as written."""
    import re
    import textwrap

    readme = Path(__file__).parents[2] / "README.md"
    block = re.search(r"```yaml\n(.*?)```", readme.read_text(), re.S)
    assert block is not None
    onto = ontology.load(write(tmp_path, block.group(1), "my-actions.yaml"))
    assert onto.activities["smash with racket"].object == "racket"
    import ontology.extension as module

    doc = (module.__doc__ or "").split("::\n\n", 1)[1].split("\n\nExtensions are additive")[0]
    assert (
        ontology.load(write(tmp_path, textwrap.dedent(doc) + "\n", "doc.yaml")).activities["wave"].object
        is None
    )
