"""A checkpoint on an extended ontology: shared activities as trained, new ones by the rule,
composites by the hierarchy, explanations exact."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import ontology
from reasoning import ActivityReasoner, encode_observations
from reasoning.extended import BIAS, INTERACTION_GAIN, OBJECT_GAIN, PERSON_ONLY_GAIN, ExtendedReasoner

EXAMPLE = ontology.example_extension()


@pytest.fixture(scope="module")
def onto() -> ontology.Ontology:
    return ontology.load(EXAMPLE)


def _person(
    onto: ontology.Ontology, states: dict[str, float], objects: dict[str, float] | None = None
) -> ontology.PersonObservation:
    return ontology.PersonObservation(
        image_id="i",
        person_id="0",
        part_states=states,
        objects=tuple(ontology.DetectedObject(o, s, ontology=onto) for o, s in (objects or {}).items()),
        ontology=onto,
    )


def test_shared_activities_score_as_the_checkpoint(
    trained_gnn: ActivityReasoner, onto: ontology.Ontology
) -> None:
    extended = trained_gnn.for_ontology(onto)
    assert isinstance(extended, ExtendedReasoner) and trained_gnn.for_ontology(ontology.load()) is trained_gnn
    packaged = ontology.load()
    obs = [
        ontology.PersonObservation(
            "i", "0", part_states={"hip: sit on": 0.9}, objects=(ontology.DetectedObject("bicycle"),)
        ),
        ontology.PersonObservation("i", "1", part_states={"hand: hold": 0.7, "head: drink with": 0.8}),
    ]
    base = trained_gnn.logits(encode_observations(obs))
    x = encode_observations(obs, onto)
    assert x.shape[1] == len(onto.part_states) + 10 + len(onto.objects)
    got = extended.logits(x)
    assert torch.allclose(got[:, : len(packaged.activities)], base, atol=1e-5)


def test_new_activities_follow_the_rule_and_composites_the_hierarchy(
    trained_gnn: ActivityReasoner, onto: ontology.Ontology
) -> None:
    extended = trained_gnn.for_ontology(onto)
    person = _person(onto, {"leg: squat": 1.0, "hip: bend": 0.5, "leg: bend": 0.0})
    logits = extended.logits(encode_observations([person], onto))[0]
    squat = onto.activities["squat"]  # person-only: leg: squat 1.0, hip: bend 0.8, leg: bend 0.6
    expected = BIAS + PERSON_ONLY_GAIN * (1.0 * 1.0 + 0.8 * 0.5) / (1.0 + 0.8 + 0.6)
    assert float(logits[squat.index]) == pytest.approx(expected, abs=1e-5)
    sweep = onto.activities["sweep floor"]  # an interaction with a new object, absent here
    weights = 1.0 + 0.8 + 0.5
    assert float(logits[sweep.index]) == pytest.approx(BIAS + INTERACTION_GAIN * 0.0 / weights, abs=1e-5)
    with_broom = _person(onto, {"hand: hold in both hands": 1.0}, {"broom": 0.5})
    broom_logits = extended.logits(encode_observations([with_broom], onto))[0]
    assert float(broom_logits[sweep.index]) == pytest.approx(
        BIAS + INTERACTION_GAIN * 1.0 / weights + OBJECT_GAIN * 0.5, abs=1e-5
    )
    # a composite is its best descendant
    for composite in ("strength training", "sports", "warm-up", "household"):
        members = [a.index for a in onto.activities.descendants(composite) if not a.is_composite]
        assert float(logits[onto.activities[composite].index]) == pytest.approx(float(logits[members].max()))


def test_explanations_are_exact_and_composites_carry_their_best_child(
    trained_gnn: ActivityReasoner, onto: ontology.Ontology
) -> None:
    extended = trained_gnn.for_ontology(onto)
    people = [
        _person(onto, {"leg: squat": 0.95, "hip: bend": 0.8, "leg: bend": 0.7}),
        _person(onto, {"hand: wipe": 0.9, "hand: hold": 0.8}, {"towel": 0.9}),
        _person(onto, {"hip: sit on": 0.9}, {"bicycle": 1.0}),
    ]
    predictions = extended.predict(people, top_k=8, min_share=0.0)
    names = [[p.activity for p in ps] for ps in predictions]
    assert set(names[0][:3]) == {"squat", "sports", "strength_training"}
    assert "wipe_hands_with_towel" in names[1][:3]
    assert any("bicycle" in a for a in names[2][:2])  # a packaged activity, by the checkpoint
    for ps in predictions:
        for p in ps:
            e = p.explanation
            assert e is not None and e.logit is not None
            assert e.logit == pytest.approx(math.log(p.score / (1 - p.score)), abs=2e-4)
    by_name = {p.activity: p for p in predictions[0]}
    assert by_name["sports"].explanation.contributions == by_name["squat"].explanation.contributions  # type: ignore[union-attr]


def test_a_definition_falls_back_to_the_verb_then_its_training_evidence(
    trained_gnn: ActivityReasoner, tmp_path: Path
) -> None:
    ext = tmp_path / "ext.yaml"
    ext.write_text(
        "hake_extension: 1\nname: t\nverbs:\n  - {name: hop, part_states: ['foot: jump with']}\n"
        "activities:\n  - {name: hop about, verb: hop}\n  - {name: ride around, verb: ride}\n"
    )
    onto = ontology.load(ext)
    extended = ExtendedReasoner(trained_gnn, onto)
    hop = extended.weights[onto.activities["hop about"].index - 600]
    assert float(hop[onto.part_states["foot: jump with"].index]) == pytest.approx(PERSON_ONLY_GAIN)
    ride = extended.weights[onto.activities["ride around"].index - 600]
    npmi = trained_gnn.evidence.npmi_part_state_verb()[:, ontology.load().verbs["ride"].index]
    assert int(ride[:93].argmax()) == int(npmi.argmax()) and float(ride.sum()) == pytest.approx(
        PERSON_ONLY_GAIN
    )


def test_an_ontology_that_does_not_extend_the_checkpoint_is_refused(
    trained_gnn: ActivityReasoner, onto: ontology.Ontology
) -> None:
    other = ontology.Ontology(
        version="x",
        body_parts=onto.body_parts,
        coarse_parts=onto.coarse_parts,
        part_states=ontology.Vocabulary("part state", list(onto.part_states)[:90]),
        hico_part_states=onto.hico_part_states,
        verbs=onto.verbs,
        objects=onto.objects,
        activities=onto.activities,
    )
    with pytest.raises(ontology.ReasoningError, match="does not extend"):
        ExtendedReasoner(trained_gnn, other)
    extended = trained_gnn.for_ontology(onto)
    with pytest.raises(ontology.ReasoningError, match=r"expected inputs of shape \(B, 196\)"):
        extended.predict_rows(torch.zeros(1, 183))
    with pytest.raises(ontology.ReasoningError, match="paths=True"):
        extended.predict_rows(torch.zeros(1, 196), paths=True)


def test_reasoning_errors_join_the_engine_exception_tree(trained_gnn: ActivityReasoner) -> None:
    assert issubclass(ontology.ReasoningError, ontology.HakeError)
    assert issubclass(ontology.ReasoningError, ValueError)  # `except ValueError` keeps working
    with pytest.raises(ontology.HakeError, match="top_k must be an int in 1..600"):
        trained_gnn.predict_rows(torch.zeros(1, 183), top_k=0)


def test_each_prediction_says_its_level(trained_gnn: ActivityReasoner, onto: ontology.Ontology) -> None:
    extended = trained_gnn.for_ontology(onto)
    person = _person(onto, {"leg: squat": 1.0, "hip: bend": 0.9, "leg: bend": 0.9})
    predictions = extended.predict([person], top_k=len(onto.activities))[0]
    levels = {p.activity: p.level for p in predictions}
    assert levels == {a.id: a.level for a in onto.activities}
    assert {"atomic", "composite", "area"} <= set(levels.values())
    assert predictions[0].to_dict()["level"] == predictions[0].level
    # a checked record takes its level from the ontology it is checked with
    squat = ontology.ActivityPrediction("i", "0", "squat", 0.5, "m", ontology=onto)
    sports = ontology.ActivityPrediction("i", "0", "sports", 0.5, "m", ontology=onto)
    assert (squat.level, sports.level) == ("atomic", "area")
