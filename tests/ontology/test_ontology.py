from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import rdflib
from rdflib.compare import isomorphic
from rdflib.namespace import OWL, RDF, RDFS, SKOS

import ontology
from ontology import UnknownTermError

HAKE = rdflib.Namespace(ontology.NAMESPACE)


@pytest.fixture(scope="module")
def graph() -> rdflib.Graph:
    g = rdflib.Graph()
    g.parse(ontology.turtle_path(), format="turtle")
    return g


def test_counts() -> None:
    stats = ontology.load().stats()
    assert stats == {
        # the content id is a hash of the terms: it changes only when a term or the order does
        "id": "sha256:289a2a8c75fb7d12",
        "version": "1.0.0",
        "body_parts_fine": 10,
        "body_parts_coarse": 6,
        "part_states": 93,
        "part_states_hico": 76,
        "verbs": 157,
        "verbs_hico": 117,
        "objects": 80,
        "activities": 600,
        "activities_person_only": 0,
        "activities_composite": 0,
    }


def test_turtle_parses_with_rdflib_and_round_trips(graph: rdflib.Graph, tmp_path: Path) -> None:
    assert (None, RDF.type, OWL.Ontology) in graph
    for kind, n in [
        ("PartState", 93),
        ("Verb", 157),
        ("Object", 80),
        ("Activity", 600),
        ("BodyPart", 16),
    ]:
        assert len(set(graph.subjects(RDF.type, HAKE[kind]))) == n
        assert all((s, RDF.type, SKOS.Concept) in graph for s in graph.subjects(RDF.type, HAKE[kind]))
    out = tmp_path / "round.ttl"
    graph.serialize(out, format="turtle")
    again = rdflib.Graph().parse(out, format="turtle")
    assert isomorphic(graph, again)


def test_loader_agrees_with_rdflib(graph: rdflib.Graph) -> None:
    onto = ontology.load()
    for term in [*onto.part_states, *onto.verbs, *onto.objects, *onto.activities, *onto.body_parts]:
        assert graph.value(rdflib.URIRef(term.iri), RDFS.label) == rdflib.Literal(term.name)
        assert graph.value(rdflib.URIRef(term.iri), HAKE["index"]).toPython() == term.index


def test_every_activity_has_one_existing_verb_and_object(graph: rdflib.Graph) -> None:
    onto = ontology.load()
    for act in onto.activities:
        subject = rdflib.URIRef(act.iri)
        verbs = list(graph.objects(subject, HAKE["verb"]))
        objects = list(graph.objects(subject, HAKE["object"]))
        assert len(verbs) == 1 and len(objects) == 1, act.id
        assert onto.verbs[str(verbs[0])].id == act.verb
        assert onto.objects[str(objects[0])].id == act.object
        assert act.name == f"{onto.verbs[act.verb].name} {onto.objects[act.object].name}"
    assert sorted(a.hoi_id for a in onto.activities) == list(range(1, 601))
    assert len({(a.verb, a.object) for a in onto.activities}) == 600


def test_body_parts_and_part_states() -> None:
    onto = ontology.load()
    assert onto.coarse_parts.ids == ["foot", "leg", "hip", "hand", "arm", "head"]
    assert [p.side for p in onto.body_parts] == [
        "right",
        "right",
        "left",
        "left",
        "mid",
        "mid",
        "right",
        "right",
        "left",
        "left",
    ]
    assert [len(onto.part_states_of(c)) for c in onto.coarse_parts.ids] == [16, 15, 6, 34, 8, 14]
    assert [len(onto.hico_part_states_of(c)) for c in onto.coarse_parts.ids] == [
        12,
        10,
        5,
        31,
        5,
        13,
    ]
    for part in onto.coarse_parts.ids:
        group = onto.hico_part_states_of(part)
        assert group[-1].no_interaction and not any(s.no_interaction for s in group[:-1])
    hold = onto.part_states["hand: hold"]
    assert (hold.part, hold.verb_phrase, hold.hico_index) == ("hand", "hold", 27)
    assert onto.part_states["head: listen"].hico_index is None
    assert onto.verbs["ride"].hico_id == 77 and onto.verbs[117].hico_id is None


def test_channel_order_is_stable() -> None:
    """The channel order is a contract: these anchors must never move."""
    onto = ontology.load()
    assert onto.part_states.ids[:3] == ["foot_stand_on", "foot_tread_on", "foot_walk_with"]
    assert onto.part_states.ids[-1] == "head_no_interaction"
    assert onto.part_states.index("hand: hold") == 37
    assert [p.id for p in onto.hico_part_states[:2]] == ["foot_stand_on", "foot_tread_on"]
    assert onto.verbs.ids[0] == "adjust" and onto.verbs.ids[57] == "no_interaction"
    assert onto.objects.ids[:2] == ["airplane", "apple"] and onto.objects.ids[-1] == "zebra"
    assert onto.activities[0].id == "board-airplane" and onto.activities[599].id == "no_interaction-zebra"
    assert onto.activities.by_hoi_id(19).id == "ride-bicycle"
    assert ontology.load() is ontology.load()


def test_lookups_by_id_name_iri_and_index() -> None:
    verbs = ontology.load().verbs
    ride = verbs["ride"]
    assert verbs[ride.iri] is ride and verbs[ride.index] is ride
    assert ontology.load().objects["baseball bat"] is ontology.load().objects["baseball_bat"]


def test_misspelled_term_raises_with_close_matches() -> None:
    onto = ontology.load()
    with pytest.raises(UnknownTermError, match=r"unknown part state 'hand: hodl'.*'hand: hold'"):
        onto.part_states["hand: hodl"]
    with pytest.raises(KeyError):  # UnknownTermError is a KeyError too
        onto.activities["ride bicycel"]
    with pytest.raises(UnknownTermError, match="0..79"):
        onto.objects[80]
    assert "hand: hodl" not in onto.part_states
    assert len(onto.part_states) == 93  # nothing minted


def test_import_is_light() -> None:
    """Loading the ontology never imports torch (benchmarks/startup.py times it)."""
    code = "import sys; import ontology; ontology.load(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


def test_turtle_matches_shared_vocabularies(hake_dir: Path) -> None:
    """The project's own Turtle holds exactly the HAKE vocabularies, in their order."""
    onto = ontology.load()

    def lines(name: str) -> list[str]:
        text = (hake_dir / name).read_text()
        return [ln.strip() for ln in text.splitlines() if ln.strip()]

    assert onto.part_states.names == lines("Part_State_93.txt")
    assert [p.name for p in onto.hico_part_states] == lines("Part_State_76.txt")
    assert onto.verbs.names == lines("verb_list_157.txt")
    assert onto.objects.ids == [ln.split()[1] for ln in lines("hico_obj_list.txt")]
    hois = [ln.split() for ln in lines("hico_hoi_list.txt")]
    assert [(a.hoi_id, a.object, onto.verbs[a.verb].name) for a in onto.activities] == [
        (int(h), o, v) for h, o, v in hois
    ]


def test_an_ontology_without_some_verbs() -> None:
    full = ontology.load()
    small = full.without_verbs(["ride", "feed"], "two-fewer")
    assert len(small.verbs) == len(full.verbs) - 2 and "ride" not in small.verbs
    assert [a.index for a in small.activities] == list(range(len(small.activities)))
    assert all(a.verb not in {"ride", "feed"} for a in small.activities)
    assert small.part_states.ids == full.part_states.ids and small.objects.ids == full.objects.ids
    assert small.version == f"{full.version}-two-fewer" and small.id != full.id
    # rebuilt from what a store records of it, and from what a checkpoint carries
    assert ontology.ontology.from_sources([s.to_dict() for s in small.sources]) == small
    assert ontology.read_ontology(small.to_turtle()) == small
    with pytest.raises(ontology.UnknownTermError, match="did you mean"):
        full.without_verbs(["rdie"])
    with pytest.raises(ValueError, match="at least one verb"):
        full.without_verbs([])


def test_a_whole_ontology_file_must_match_its_content_id() -> None:
    small = ontology.load().without_verbs(["ride"])
    text = small.to_turtle()
    edited = text.replace('rdfs:label "board airplane"', 'rdfs:label "board a plane"', 1)
    assert edited != text
    with pytest.raises(ValueError, match="edited after it was written"):
        ontology.read_ontology(edited, "small.ttl")
