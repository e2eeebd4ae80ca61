from __future__ import annotations

import json
import math

import pytest

from ontology import (
    ActivityPrediction,
    Box,
    Contribution,
    DetectedObject,
    Explanation,
    ImageAnnotation,
    Keypoint,
    PairingContribution,
    PairingExplanation,
    PersonObservation,
    RecordError,
    observation_dict,
)
from ontology.ontology import load
from ontology.records import _fast_observation


def _observation(**overrides: object) -> PersonObservation:
    fields: dict[str, object] = dict(
        image_id="img-1",
        person_id="0",
        box=Box(10, 20, 110, 220),
        part_states={"hand: hold": 0.9, "hip_sit_on": 0.7},
        active_parts={"right hand": 1.0},
        objects=(DetectedObject("bicycle", 0.8, Box(0, 0, 50, 50)),),
        keypoints=tuple(Keypoint(i, i, 0.5) for i in range(17)),
        part_boxes={"left_hand": [1, 2, 3, 4]},
    )
    fields.update(overrides)
    return PersonObservation(**fields)  # type: ignore[arg-type]


def test_terms_are_normalised_to_ids() -> None:
    obs = _observation()
    assert obs.part_states == {"hand_hold": 0.9, "hip_sit_on": 0.7}
    assert obs.active_parts == {"right_hand": 1.0}
    assert obs.part_boxes == {"left_hand": Box(1, 2, 3, 4)}


@pytest.mark.parametrize("bad", [1.5, -0.1, math.nan, "0.5", True])
def test_bad_probability_names_field_and_value(bad: object) -> None:
    with pytest.raises(RecordError, match=r"part_states\['hand: hold'\]: expected a probability in \[0, 1\]"):
        _observation(part_states={"hand: hold": bad})


def test_unknown_term_names_field_value_and_suggestion() -> None:
    with pytest.raises(RecordError, match=r"part_states\['hand: hodl'\].*did you mean 'hand: hold'"):
        _observation(part_states={"hand: hodl": 0.5})
    with pytest.raises(RecordError, match=r"DetectedObject.object.*'bicylce'"):
        DetectedObject("bicylce")


def test_bad_boxes() -> None:
    with pytest.raises(RecordError, match=r"Box.x2: expected x2 >= x1 = 10.0, got 5"):
        Box(10, 0, 5, 10)
    with pytest.raises(RecordError, match=r"Box.y1: expected a number, got nan"):
        Box(0, math.nan, 5, 10)
    with pytest.raises(RecordError, match="four numbers"):
        Box.of([1, 2, 3])
    assert Box(0, 0, 10, 10).iou(Box(5, 0, 15, 10)) == pytest.approx(1 / 3)


def test_other_field_checks() -> None:
    with pytest.raises(RecordError, match="image_id: expected a non-empty string"):
        _observation(image_id="")
    with pytest.raises(RecordError, match="keypoints: expected 17 Keypoint"):
        _observation(keypoints=(Keypoint(0, 0, 1.0),))
    with pytest.raises(RecordError, match="source: expected one of"):
        _observation(source="guess")
    with pytest.raises(RecordError, match="frame_index"):
        _observation(frame_index=-1)


def test_observation_json_round_trip() -> None:
    obs = _observation(frame_index=3, timestamp=0.1, track_id=7, model="tiny")
    line = json.dumps(obs.to_dict())
    assert PersonObservation.from_dict(json.loads(line)) == obs


def test_from_dict_rejects_unknown_and_missing_keys() -> None:
    with pytest.raises(RecordError, match=r"\(keys\).*\['colour'\]"):
        PersonObservation.from_dict({"image_id": "a", "person_id": "0", "colour": "red"})
    with pytest.raises(RecordError, match="person_id: expected a value"):
        PersonObservation.from_dict({"image_id": "a"})


def test_explanation_ranks_thresholds_and_exports() -> None:
    expl = Explanation(
        activity="ride bicycle",
        method="exact-decomposition",
        score=0.9,
        contributions=(
            Contribution("object", "bicycle", 0.2, "object->activity"),
            Contribution("part_state", "hip: sit on", 0.5, "part_state->verb->activity"),
            Contribution("part_state", "head: eat", -0.05),
        ),
    )
    assert [c.term for c in expl.contributions] == ["hip_sit_on", "bicycle", "head_eat"]
    assert [c.term for c in expl.top(1).contributions] == ["hip_sit_on"]
    assert [c.term for c in expl.threshold(0.1).contributions] == ["hip_sit_on", "bicycle"]
    assert expl.activity == "ride-bicycle"
    assert Explanation.from_dict(json.loads(expl.to_json())) == expl
    with pytest.raises(RecordError, match="Contribution.kind"):
        Contribution("verb", "ride", 0.1)


def test_prediction_validates_score_and_explanation() -> None:
    expl = Explanation("ride-bicycle", "rule", ())
    pred = ActivityPrediction("img", "0", "ride bicycle", 0.7, "rule", explanation=expl)
    assert pred.to_dict()["activity"] == "ride-bicycle"
    with pytest.raises(RecordError, match="score: expected a probability"):
        ActivityPrediction("img", "0", "ride-bicycle", 1.2, "rule")
    with pytest.raises(RecordError, match="explanation.activity"):
        ActivityPrediction("img", "0", "board-airplane", 0.5, "rule", explanation=expl)


def test_pairing_explanation_validates_orders_and_adds_up() -> None:
    """A pairing explanation's ontology terms are checked against the ontology given (stored by
    id), the pairing model's own terms need only a name, numbers must be finite, and the
    contributions come in one order whatever order they are given in."""
    terms = (
        PairingContribution("cascade", "interactiveness", -0.5),
        PairingContribution("part_state", "hand: hold", 0.25),
        PairingContribution("geometry", "box_iou", 1.0),
        PairingContribution("body_part", "right hand", -0.25),
    )
    e = PairingExplanation("pairing-integrated-gradients", 1.0, 0.5, 0.0, terms)
    assert [(c.kind, c.term) for c in e.contributions] == [
        ("geometry", "box_iou"),
        ("cascade", "interactiveness"),
        ("body_part", "right_hand"),
        ("part_state", "hand_hold"),
    ]
    assert e.total() == 1.0 == e.score
    assert PairingExplanation("pairing-integrated-gradients", 1.0, 0.5, 0.0, terms[::-1]) == e
    assert e.to_dict()["contributions"][0] == {"kind": "geometry", "term": "box_iou", "weight": 1.0}
    assert json.loads(json.dumps(e.to_dict())) == e.to_dict()
    with pytest.raises(RecordError, match=r"PairingContribution.kind: expected one of \('geometry'"):
        PairingContribution("colour", "red", 1.0)
    with pytest.raises(RecordError, match="PairingContribution.term: expected a known part state"):
        PairingContribution("part_state", "hand: juggle", 1.0)
    with pytest.raises(RecordError, match="PairingContribution.term: expected a non-empty string"):
        PairingContribution("geometry", "", 1.0)
    with pytest.raises(RecordError, match="PairingContribution.weight: expected a finite number"):
        PairingContribution("geometry", "box_iou", math.inf)
    for name in ("score", "baseline", "rest"):
        values = {"score": 1.0, "baseline": 0.5, "rest": 0.0, name: math.nan}
        with pytest.raises(RecordError, match=f"PairingExplanation.{name}: expected a number"):
            PairingExplanation("m", values["score"], values["baseline"], values["rest"], terms)
    with pytest.raises(RecordError, match="PairingExplanation.contributions: expected a tuple of Pairing"):
        PairingExplanation("m", 1.0, 0.5, 0.0, (("geometry", "box_iou", 1.0),))  # type: ignore[arg-type]
    with pytest.raises(RecordError, match="PairingExplanation.method: expected a non-empty string"):
        PairingExplanation("", 1.0, 0.5, 0.0, terms)


def test_pairing_explanation_checks_terms_against_the_ontology_given() -> None:
    """Part states and body parts are checked against the ontology passed: a term of another
    ontology is refused, one of it accepted."""
    toy = load().restricted(part_states=["hand: hold"], verbs=["drink_with"], objects=["cup"], name="toy")
    assert PairingContribution("part_state", "hand: hold", 0.1, toy).term == "hand_hold"
    with pytest.raises(RecordError, match="PairingContribution.term: expected a known part state"):
        PairingContribution("part_state", "hip: sit on", 0.1, toy)


def test_prediction_carries_its_pairing_only_with_an_instance() -> None:
    why = PairingExplanation("m", 0.5, 0.5, 0.0, ())
    pred = ActivityPrediction("img", "0", "hold cup", 0.7, "m", object_id="1", pairing=why)
    assert pred.pairing is why and pred.to_dict()["pairing"] == why.to_dict()
    assert ActivityPrediction("img", "0", "hold cup", 0.7, "m").to_dict()["pairing"] is None
    assert pred != ActivityPrediction("img", "0", "hold cup", 0.7, "m", object_id="1")
    fast = ActivityPrediction.unchecked("img", "0", "hold-cup", 0.7, "m", object_id="1", pairing=why)
    assert fast == pred
    with pytest.raises(RecordError, match="ActivityPrediction.pairing: expected None for a prediction that"):
        ActivityPrediction("img", "0", "hold cup", 0.7, "m", pairing=why)
    with pytest.raises(RecordError, match="ActivityPrediction.pairing: expected a PairingExplanation"):
        ActivityPrediction("img", "0", "hold cup", 0.7, "m", object_id="1", pairing={"score": 1.0})  # type: ignore[arg-type]


def test_records_carry_their_keys_by_the_one_rule() -> None:
    """A record's keys are :mod:`ontology.identity`'s, byte for byte (the stored format)."""
    import ontology
    from ontology import identity

    assert ontology.image_key is identity.image_key and ontology.person_key is identity.person_key
    cases = [
        (PersonObservation("cam/a.jpg", "0"), "cam/a.jpg", "cam/a.jpg/0"),
        (PersonObservation("cam/a", "b/0"), "cam/a", "cam/a/b%2F0"),
        (PersonObservation("v#3", "0"), "v%233", "v%233/0"),
        (PersonObservation("v", "0", frame_index=3), "v#3", "v#3/0"),
        (PersonObservation("100%", "5%", frame_index=0), "100%25#0", "100%25#0/5%25"),
    ]
    for obs, image, key in cases:
        assert (obs.image_key, obs.key) == (image, key)
        image_key = identity.image_key(obs.image_id, obs.frame_index)
        assert obs.key == identity.person_key(image_key, obs.person_id)
        prediction = ActivityPrediction(obs.image_key, obs.person_id, "ride bicycle", 0.5, "m")
        assert prediction.key == obs.key
        unchecked = ActivityPrediction.unchecked(obs.image_key, obs.person_id, "ride-bicycle", 0.5, "m")
        assert unchecked.key == obs.key
    # The key is not a field: the observations format is unchanged.
    assert "key" not in cases[0][0].to_dict() and "image_key" not in cases[0][0].to_dict()


def test_image_annotation_objects_and_observation() -> None:
    ann = ImageAnnotation(
        "img", ("ride-bicycle", "hold-bicycle", "board-airplane"), ("hand_hold",), ("mid_hip",)
    )
    assert ann.objects == ("bicycle", "airplane")
    obs = ann.to_observation()
    assert obs.source == "annotation" and obs.part_states == {"hand_hold": 1.0}
    assert [o.object for o in obs.objects] == ["bicycle", "airplane"]


_BASE = {
    "image_id": "a.jpg",
    "person_id": "0",
    "box": [1.0, 2.0, 30.0, 40.0],
    "part_states": {"hand_hold": 0.9, "hip: sit on": 0.25},
    "objects": [{"object": "bicycle", "score": 0.8}],
    "source": "model",
    "model": "m",
}


@pytest.mark.parametrize(
    ("change", "fast"),
    [
        ({}, True),
        ({"frame_index": 3, "timestamp": 0.1, "track_id": 2, "active_parts": {"left_hand": 1.0}}, True),
        ({"part_states": None, "objects": None, "box": None}, True),
        ({"box": [1, 2, 30, 40]}, False),  # ints: the record converts them
        ({"part_states": {"hand_hold": 1}}, False),
        ({"objects": [{"object": "bicycle", "score": 1, "box": [0, 0, 1, 1]}]}, False),
        ({"keypoints": [[1.0, 2.0, 0.5]] * 17, "part_boxes": {"left_hand": [0.0, 0.0, 1.0, 1.0]}}, False),
        ({"part_states": {"hand_hold": 1.5}}, False),
        ({"part_states": {"hand_hold": True}}, False),
        ({"part_states": {"hand_holds": 0.5}}, False),
        ({"part_states": []}, False),
        ({"box": [5.0, 0.0, 1.0, 1.0]}, False),
        ({"box": [0.0, 0.0, 1.0]}, False),
        ({"objects": [{"object": "bicycles"}]}, False),
        ({"objects": [{"object": ["bicycle"]}]}, False),
        ({"objects": {"object": "bicycle"}}, False),
        ({"frame_index": -1}, False),
        ({"frame_index": True}, False),
        ({"track_id": 1.5}, False),
        ({"timestamp": "now"}, False),
        ({"source": "guess"}, False),
        ({"source": None}, False),
        ({"model": 3}, False),
        ({"person_id": 7}, False),
        ({"image_id": ""}, False),
        ({"extra": 1}, False),
        ({"part_boxes": 0}, False),
    ],
)
def test_observation_dict_matches_the_record(change: dict[str, object], fast: bool) -> None:
    """The bulk validator accepts and rejects exactly what the record does, with its message."""
    data = {**_BASE, **change}
    assert (_fast_observation(data, load()) is not None) == fast
    try:
        expected = PersonObservation.from_dict(data).to_dict()
    except (RecordError, TypeError) as err:
        with pytest.raises(type(err)) as got:
            observation_dict(data)
        assert str(got.value) == str(err)
    else:
        assert observation_dict(data) == expected


@pytest.mark.parametrize(
    ("image_id", "frame", "person_id"),
    [("a.jpg", None, "0"), ("cam/a#1", None, "b/0"), ("v%23", 7, "%2F"), ("#", 0, "/"), ("%25%", None, "%")],
)
def test_keys_split_back_into_what_they_were_made_from(
    image_id: str, frame: int | None, person_id: str
) -> None:
    from ontology.identity import image_key, person_key, split_image_key, split_person_key

    image = image_key(image_id, frame)
    assert split_image_key(image) == (image_id, frame)
    assert split_person_key(person_key(image, person_id)) == (image, person_id)
