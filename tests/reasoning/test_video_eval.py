"""Kinetics-TPS and clip-level top-k, on hand-computed cases (reasoning/video_eval.py).

Boxes are inclusive pixel boxes, as the Kinetics-TPS code has them: [0, 0, 9, 9] is 10 x 10 =
100 pixels. The area is the source's sum over t = i / 10000, i = 1 .. 9999: a right video with
PSC p adds min(floor(p * 10000), 9999) / 10000 divided by the number of videos.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ontology
from kg.cli import main
from ontology.errors import AnnotationFormatError, ReasoningError, RecordError, UnknownTermError
from reasoning.video_eval import (
    TPSPart,
    TPSPerson,
    TPSPersonPrediction,
    TPSVideo,
    TPSVideoPrediction,
    box_iou,
    clip_topk,
    evaluate_tps,
    read_clip_scores,
    read_tps_ground_truth,
    read_tps_predictions,
)

PERSON = (0, 0, 99, 99)  # 100 x 100 = 10,000 pixels
PART = (0, 0, 9, 9)  # 100 pixels


def truth(parts: dict[str, str], box: tuple[float, ...] = PERSON) -> TPSPerson:
    """A ground-truth person whose every part has the box PART and the given state."""
    return TPSPerson(box, {name: TPSPart(PART, state) for name, state in parts.items()})  # type: ignore[arg-type]


def guess(
    parts: dict[str, list[tuple[tuple[float, ...], str]]], box: tuple[float, ...] = PERSON
) -> TPSPersonPrediction:
    """A predicted person: per part, its (box, state) proposals."""
    return TPSPersonPrediction(
        box,  # type: ignore[arg-type]
        {name: tuple(TPSPart(b, s) for b, s in props) for name, props in parts.items()},  # type: ignore[arg-type]
    )


def right(parts: dict[str, str], box: tuple[float, ...] = PERSON) -> TPSPersonPrediction:
    """A prediction that gets every part of ``truth(parts)`` right with one proposal."""
    return guess({name: [(PART, state)] for name, state in parts.items()}, box)


def one_frame(person: TPSPerson, prediction: TPSPersonPrediction, action: str = "jump") -> float:
    """The area of one video, one frame, one person; checks the video's PSC is consistent."""
    result = evaluate_tps(
        [TPSVideo("v", "jump", {1: (person,)})], [TPSVideoPrediction("v", action, {1: (prediction,)})]
    )
    return result.area


def psc_of(person: TPSPerson, prediction: TPSPersonPrediction) -> float:
    result = evaluate_tps(
        [TPSVideo("v", "jump", {1: (person,)})], [TPSVideoPrediction("v", "jump", {1: (prediction,)})]
    )
    return result.videos[0].psc


def test_box_iou_inclusive_pixels() -> None:
    # [0,0,9,9] and [0,0,9,4]: 50 of 100 pixels shared, union 100
    assert box_iou((0, 0, 9, 9), (0, 0, 9, 4)) == 0.5
    # touching at x = 9/10: no pixel shared -> -1 (the source's value for no overlap)
    assert box_iou((0, 0, 9, 9), (10, 0, 19, 9)) == -1.0
    # [0,0,0,0] is one pixel, not an empty box
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 1.0


def test_perfect_prediction() -> None:
    parts = {"head": "none", "left_arm": "bend"}
    gt = [TPSVideo(v, "jump", {1: (truth(parts),), 6: (truth(parts),)}) for v in ("a", "b")]
    pred = [TPSVideoPrediction(v, "jump", {1: (right(parts),), 6: (right(parts),)}) for v in ("a", "b")]
    result = evaluate_tps(gt, pred)
    assert [v.psc for v in result.videos] == [1.0, 1.0]
    assert [v.n_frames for v in result.videos] == [2, 2]
    # every t = 1/10000 .. 9999/10000 has accuracy 1: 9999 * 1/10000 = 0.9999, not 1 (the
    # source's sum leaves out t = 1); the integral over [0, 1] is 1
    assert result.area == pytest.approx(0.9999, abs=1e-12)
    assert result.to_dict()["area"] == 0.9999
    assert result.area_exact == 1.0 and result.action_accuracy == 1.0


def test_person_below_the_iou_threshold() -> None:
    person = truth({"head": "none"})
    # [0,0,99,49]: 100 x 50 = 5000 shared of 10000 -> IoU exactly 0.5, not above 0.5: unmatched
    assert box_iou(PERSON, (0, 0, 99, 49)) == 0.5
    assert psc_of(person, right({"head": "none"}, box=(0, 0, 99, 49))) == 0.0
    assert one_frame(person, right({"head": "none"}, box=(0, 0, 99, 49))) == 0.0
    # [0,0,99,50]: 5100 / 10000 = 0.51 > 0.5: matched, its part right -> PSC 1, area 0.9999
    assert psc_of(person, right({"head": "none"}, box=(0, 0, 99, 50))) == 1.0
    assert one_frame(person, right({"head": "none"}, box=(0, 0, 99, 50))) == pytest.approx(0.9999, abs=1e-12)


def test_right_box_wrong_state() -> None:
    person = truth({"head": "none", "left_arm": "bend"})
    prediction = guess({"head": [(PART, "none")], "left_arm": [(PART, "unbend")]})
    # head right (1), left arm on the very box but the wrong state (0): PSC (1 + 0) / 2 = 0.5
    assert psc_of(person, prediction) == 0.5
    # accuracy 1 for t = 0.0001 .. 0.5 (5000 steps), 0 above: 5000 / 10000
    assert one_frame(person, prediction) == pytest.approx(0.5, abs=1e-12)


LINE = (0, 0, 99, 0)  # a part box 100 pixels wide, 1 high: 100 pixels


@pytest.mark.parametrize(
    ("box", "iou", "counted"),
    [
        ((0, 0, 28, 0), 0.29, False),  # 29 of LINE's 100 pixels, nothing outside: IoU 29/100
        ((0, 0, 29, 0), 0.30, True),  # 30/100: the source's code counts IoU >= 0.3 (README: "> 0.3")
        ((0, 0, 30, 0), 0.31, True),  # 31/100
    ],
)
def test_part_iou_threshold(box: tuple[float, ...], iou: float, counted: bool) -> None:
    assert box_iou(LINE, box) == pytest.approx(iou, abs=1e-15)
    person = TPSPerson(PERSON, {"head": TPSPart(LINE, "none")})
    # the right state with this box: PSC 1 when the box counts, else 0
    assert psc_of(person, guess({"head": [(box, "none")]})) == (1.0 if counted else 0.0)


def test_wrong_action() -> None:
    parts = {"head": "none"}
    result = evaluate_tps(
        [TPSVideo("v", "jump", {1: (truth(parts),)})], [TPSVideoPrediction("v", "run", {1: (right(parts),)})]
    )
    # the parts are all right (PSC 1) but the action is not: never right at any threshold
    assert result.videos[0].psc == 1.0 and not result.videos[0].action_correct
    assert result.area == 0.0 and result.area_exact == 0.0 and result.action_accuracy == 0.0


def test_weighted_parts() -> None:
    person = truth({"head": "none", "left_arm": "bend", "right_leg": "step_on"})
    wrong_box = (50, 50, 59, 59)
    prediction = guess(
        {
            "head": [(PART, "none"), (wrong_box, "none")],  # 2 proposals, one right: 1/2
            "left_arm": [
                (wrong_box, "bend"),
                (PART, "unbend"),
                (PART, "none"),
                (PART, "bend"),
            ],  # right last: 1/4
            "right_leg": [(PART, "step_on")],  # 1
        }
    )
    # (1/2 + 1/4 + 1) / 3 parts = 1.75 / 3 = 7/12 = 0.58333...
    assert psc_of(person, prediction) == pytest.approx(7 / 12, abs=1e-15)
    # right for t <= 7/12: i = 1 .. floor(5833.33) = 5833 steps -> 0.5833
    assert one_frame(person, prediction) == pytest.approx(0.5833, abs=1e-12)


def test_a_frame_weighs_persons_by_their_parts() -> None:
    # person A (1 part, right) and person B far away (3 parts, not predicted): the frame is
    # (1 + 0 + 0 + 0) / 4 parts = 0.25, not the mean of the persons' shares (0.5)
    far = (300, 300, 399, 399)
    a, b = truth({"head": "none"}), truth({"head": "none", "hip": "sit", "left_leg": "bend"}, box=far)
    result = evaluate_tps(
        [TPSVideo("v", "jump", {1: (a, b)})],
        [TPSVideoPrediction("v", "jump", {1: (right({"head": "none"}),)})],
    )
    assert result.videos[0].psc == 0.25


def test_frames_off_the_five_frame_grid_are_ignored() -> None:
    parts = {"head": "none"}
    # ground truth on frames 1, 3 (off the grid 1, 6, 11, ...) and 6; frame 3 not predicted,
    # and a prediction on frame 2 (no ground truth there)
    gt = [TPSVideo("v", "jump", {1: (truth(parts),), 3: (truth(parts),), 6: (truth(parts),)})]
    pred = [TPSVideoPrediction("v", "jump", {1: (right(parts),), 2: (right(parts),), 6: (right(parts),)})]
    default = evaluate_tps(gt, pred)
    # frames 1 and 6 only: (1 + 1) / 2
    assert (default.videos[0].psc, default.videos[0].n_frames) == (1.0, 2)
    # frame_step=1 scores every listed frame, as the source's code would: (1 + 0 + 1) / 3
    every = evaluate_tps(gt, pred, frame_step=1)
    assert every.videos[0].psc == pytest.approx(2 / 3) and every.videos[0].n_frames == 3


def test_frames_left_out_and_the_sources_quirks() -> None:
    parts = {"head": "none"}
    bare = TPSPerson(PERSON, {})  # a person with no part
    gt = [
        # frame 6 has no person: left out; frame 11 is not predicted: 0 -> (1 + 0) / 2
        TPSVideo("a", "jump", {1: (truth(parts),), 6: (), 11: (truth(parts),)}),
        # its only frame's person has no part and the frame is predicted: left out -> no frame -> PSC 1
        TPSVideo("b", "jump", {1: (bare,)}),
        # the same frame, not predicted: the source counts it as 0 before it looks at parts
        TPSVideo("c", "jump", {1: (bare,)}),
    ]
    pred = [
        TPSVideoPrediction("a", "jump", {1: (right(parts),)}),
        TPSVideoPrediction("b", "jump", {1: ()}),
        TPSVideoPrediction("c", "jump", {}),
        TPSVideoPrediction("extra", "jump", {}),  # not in the ground truth: ignored, counted
    ]
    result = evaluate_tps(gt, pred)
    assert [(v.psc, v.n_frames) for v in result.videos] == [(0.5, 2), (1.0, 0), (0.0, 1)]
    assert result.ignored_videos == 1


def test_persons_are_matched_one_to_one() -> None:
    p1 = TPSPerson((0, 0, 99, 99), {"arm": TPSPart((0, 0, 9, 9), "bend")})
    p2 = TPSPerson((10, 0, 109, 99), {"leg": TPSPart((10, 0, 19, 9), "bend")})
    # one prediction overlapping both: IoU 9600/10400 = 0.923 with p1, 9400/10600 = 0.887 with p2
    both = TPSPersonPrediction(
        (4, 0, 103, 99), {"arm": (TPSPart((0, 0, 9, 9), "bend"),), "leg": (TPSPart((10, 0, 19, 9), "bend"),)}
    )
    result = evaluate_tps(
        [TPSVideo("v", "jump", {1: (p1, p2)})], [TPSVideoPrediction("v", "jump", {1: (both,)})]
    )
    # the assignment gives it to p1 only: (1 + 0) / 2 parts; "max IoU per person" would give 1
    assert result.videos[0].psc == 0.5


def test_the_curve_and_its_area() -> None:
    four = {"head": "none", "hip": "sit", "left_arm": "bend", "right_arm": "bend"}

    def video(name: str, n_right: int, action: str) -> tuple[TPSVideo, TPSVideoPrediction]:
        parts = {p: s for i, (p, s) in enumerate(four.items()) if i < n_right}
        return TPSVideo(name, "jump", {1: (truth(four),)}), TPSVideoPrediction(
            name, action, {1: (right(parts),)}
        )

    pairs = [video("a", 1, "jump"), video("b", 3, "jump"), video("c", 4, "run")]  # PSC 0.25, 0.75, 1
    result = evaluate_tps([p[0] for p in pairs], [p[1] for p in pairs])
    assert [v.psc for v in result.videos] == [0.25, 0.75, 1.0]
    # a and b right up to 0.25, b alone up to 0.75, c never (wrong action):
    # 2500 * (2/3) / 10000 + 5000 * (1/3) / 10000 = 1/6 + 1/6 = 1/3
    assert result.area == pytest.approx(1 / 3, abs=1e-12)
    assert result.area_exact == pytest.approx((0.25 + 0.75) / 3)
    assert result.action_accuracy == pytest.approx(2 / 3)
    curve = dict(result.curve())
    assert curve[0.0] == pytest.approx(2 / 3) and curve[0.5] == pytest.approx(1 / 3) and curve[1.0] == 0.0
    report = result.to_dict()
    assert report["curve"]["0.3"] == round(1 / 3, 6) and report["area"] == round(1 / 3, 6)
    assert report["videos"]["c"] == {"psc": 1.0, "action_correct": False, "n_frames": 1}


def test_tps_input_is_checked() -> None:
    gt = [TPSVideo("v", "jump", {1: (truth({"head": "none"}),)})]
    with pytest.raises(ReasoningError, match=r"1 ground-truth video\(s\) have no prediction: \['v'\]"):
        evaluate_tps(gt, [TPSVideoPrediction("w", "jump", {})])
    with pytest.raises(ReasoningError, match="'v' twice"):
        evaluate_tps(gt + gt, [TPSVideoPrediction("v", "jump", {})])
    with pytest.raises(ReasoningError, match="at least one ground-truth video"):
        evaluate_tps([], [])
    with pytest.raises(ReasoningError, match="frame_step"):
        evaluate_tps(gt, [TPSVideoPrediction("v", "jump", {})], frame_step=0)
    with pytest.raises(RecordError, match=r"TPSPart.box: expected a box \[x1, y1, x2, y2\] with x1 <= x2"):
        TPSPart((9, 0, 0, 9), "bend")
    with pytest.raises(RecordError, match="1 to 5 TPSPart proposals"):
        guess({"head": [(PART, "none")] * 6})
    with pytest.raises(RecordError, match="at most 10 persons"):
        TPSVideoPrediction("v", "jump", {1: (right({}),) * 11})


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


GT_FILE = {
    "videos": {
        "v1": {
            "action": "jump",
            "frames": {
                "1": [{"box": [0, 0, 99, 99], "parts": {"head": {"box": [0, 0, 9, 9], "state": "none"}}}],
                "img_00006.jpg": [
                    {
                        "box": [0, 0, 99, 99],
                        "parts": {
                            "head": {"box": [0, 0, 9, 9], "state": "none"},
                            "left_arm": {"box": [0, 0, 9, 9], "state": "bend"},
                        },
                    }
                ],
            },
        }
    }
}
PRED_FILE = {
    "videos": {
        "v1": {
            "action": "jump",
            "frames": {
                "1": [{"box": [0, 0, 99, 99], "parts": {"head": {"box": [0, 0, 9, 9], "state": "none"}}}],
                "6": [
                    {
                        "box": [0, 0, 99, 99],
                        "parts": {
                            "head": [
                                {"box": [0, 0, 9, 9], "state": "none"},
                                {"box": [0, 0, 9, 9], "state": "x"},
                            ],
                            "left_arm": [{"box": [0, 0, 9, 9], "state": "unbend"}],
                        },
                    }
                ],
            },
        },
        "v2": {"action": "run", "frames": {}},
    }
}


def test_tps_files(tmp_path: Path) -> None:
    gt = read_tps_ground_truth(write(tmp_path / "gt.json", GT_FILE))
    pred = read_tps_predictions(write(tmp_path / "pred.json", PRED_FILE))
    assert sorted(gt[0].frames) == [1, 6]  # "img_00006.jpg" is frame 6
    assert pred[0].frames[6][0].parts["head"][1] == TPSPart((0, 0, 9, 9), "x")
    result = evaluate_tps(gt, pred)
    # frame 1: 1; frame 6: head right among 2 proposals (1/2), arm wrong state (0): 0.5 / 2 = 0.25
    # PSC (1 + 0.25) / 2 = 0.625 -> area 6250 / 10000
    assert result.videos[0].psc == 0.625
    assert result.area == pytest.approx(0.625, abs=1e-12)
    assert result.ignored_videos == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["videos"]["v1"]["frames"]["1"][0]["parts"]["head"].update(box=[0, 0, 9]),
            "entry \"video 'v1', frame 1\", field 'persons[0].parts.head.box': expected 4 numbers "
            "[x1, y1, x2, y2], got [0, 0, 9]",
        ),
        (
            lambda d: d["videos"]["v1"]["frames"]["1"][0]["parts"]["head"].update(stat="none"),
            "field 'persons[0].parts.head.stat': expected only the fields ['box', 'state'] "
            "(did you mean 'state'?), got 'stat'",
        ),
        (
            lambda d: d["videos"]["v1"].pop("action"),
            "entry \"video 'v1'\", field 'action': expected this field, got 'nothing (it is missing)'",
        ),
        (
            lambda d: d["videos"]["v1"]["frames"].update({"6": []}),
            "entry \"video 'v1', frame 6\", field 'frames.6': expected each frame once, got 'frame 6 again'",
        ),
        (
            lambda d: d["videos"]["v1"]["frames"].update({"first": []}),
            "field 'frames.first': expected a frame number >= 1",
        ),
        (lambda d: d.update(videos=[]), "field 'videos': expected an object"),
    ],
)
def test_tps_file_errors_name_file_video_frame_and_field(tmp_path: Path, edit: object, message: str) -> None:
    data = json.loads(json.dumps(GT_FILE))
    edit(data)  # type: ignore[operator]
    path = write(tmp_path / "gt.json", data)
    with pytest.raises(AnnotationFormatError) as err:
        read_tps_ground_truth(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_tps_prediction_file_limits_and_bad_json(tmp_path: Path) -> None:
    data = json.loads(json.dumps(PRED_FILE))
    data["videos"]["v1"]["frames"]["6"][0]["parts"]["head"] *= 3  # 6 proposals
    with pytest.raises(
        AnnotationFormatError, match="parts.head': expected 1 to 5 proposals, got '6 proposals'"
    ):
        read_tps_predictions(write(tmp_path / "p.json", data))
    (tmp_path / "bad.json").write_text('{"videos": {', encoding="utf-8")
    with pytest.raises(AnnotationFormatError, match="invalid JSON at line 1"):
        read_tps_predictions(tmp_path / "bad.json")
    with pytest.raises(AnnotationFormatError, match="no such file"):
        read_tps_ground_truth(tmp_path / "missing.json")


# ---- clip-level top-k -----------------------------------------------------------------------

VOCAB = ["a", "b", "c", "d"]
CLIPS = [
    ({"a": 0.9, "b": 0.05, "c": 0.03, "d": 0.02}, "a"),  # rank 1: top-1 and top-3
    ({"a": 0.5, "b": 0.3, "c": 0.1, "d": 0.1}, "b"),  # rank 2: top-3 only
    ({"a": 0.4, "b": 0.3, "c": 0.1, "d": 0.2}, "c"),  # rank 4: neither
    ({"a": 0.5, "b": 0.0, "c": 0.0, "d": 0.5}, "d"),  # tied with "a", listed after it: rank 2
]


def test_clip_topk_by_hand() -> None:
    result = clip_topk([s for s, _ in CLIPS], [y for _, y in CLIPS], VOCAB)
    # top-1: clip 1 only (1/4); top-3: clips 1, 2, 4 (3/4)
    assert result.accuracy == {1: 0.25, 3: 0.75}
    assert result.to_dict() == {
        "task": "clip-topk",
        "top1": 25.0,
        "top3": 75.0,
        "n_clips": 4,
        "n_activities": 4,
    }
    # the same scores as an (N, C) array in vocabulary order; clips 2 and 4 are both rank 2
    dense = np.array([[s[a] for a in VOCAB] for s, _ in CLIPS])
    assert clip_topk(dense, [y for _, y in CLIPS], VOCAB, k=(1, 2, 3)).hits == {1: 1, 2: 3, 3: 3}


def test_clip_topk_ties_and_unscored_activities() -> None:
    # all tied: vocabulary order decides, so "a" is first and "d" fourth
    flat = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}
    assert clip_topk([flat, flat], ["a", "d"], VOCAB, k=(1, 3)).hits == {1: 1, 3: 1}
    # reversing the vocabulary reverses it
    assert clip_topk([flat, flat], ["a", "d"], VOCAB[::-1], k=(1, 3)).hits == {1: 1, 3: 1}
    assert clip_topk([flat], ["d"], VOCAB[::-1], k=(1,)).hits == {1: 1}
    # an unscored ground truth misses even when fewer than k activities are scored
    assert clip_topk([{"a": 0.2}], ["b"], VOCAB, k=(3,)).hits == {3: 0}
    # unscored activities rank below scored ones: "c" (scored 0.0) is second of four
    assert clip_topk([{"a": 0.2, "c": 0.0}], ["c"], VOCAB, k=(1, 2)).hits == {1: 0, 2: 1}


def test_clip_topk_over_an_ontology() -> None:
    toy = ontology.load().restricted(verbs=["ride", "hold"], objects=["bicycle", "horse"], name="toy")
    names = [a.name for a in toy.activities]  # ['hold bicycle', 'ride bicycle', 'hold horse', 'ride horse']
    # ids, names and IRIs all name an activity
    scores = [
        {"ride-bicycle": 0.9, "hold bicycle": 0.1},
        {toy.activities["ride horse"].iri: 0.7, "hold-horse": 0.8},
    ]
    result = clip_topk(scores, ["ride bicycle", "ride-horse"], toy)
    assert result.n_activities == len(names) == 4
    assert result.hits == {1: 1, 3: 2}
    with pytest.raises(UnknownTermError, match="unknown activity 'ride bicyle'; did you mean 'ride bicycle'"):
        clip_topk(scores, ["ride bicyle", "ride horse"], toy)


def test_clip_topk_errors() -> None:
    with pytest.raises(ReasoningError, match="at least one clip"):
        clip_topk([], [], VOCAB)
    with pytest.raises(UnknownTermError, match="unknown activity 'e'"):
        clip_topk([{"e": 1.0}], ["a"], VOCAB)
    with pytest.raises(ReasoningError, match="finite score"):
        clip_topk([{"a": float("nan")}], ["a"], VOCAB)
    with pytest.raises(ReasoningError, match=r"shape \(1, 4\)"):
        clip_topk(np.zeros((1, 3)), ["a"], VOCAB)
    with pytest.raises(ReasoningError, match="listed twice"):
        clip_topk([{"a": 1.0}], ["a"], ["a", "a"])
    with pytest.raises(ReasoningError, match="k must be integers >= 1"):
        clip_topk([{"a": 1.0}], ["a"], VOCAB, k=(0,))


def write_lines(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_clip_scores_file(tmp_path: Path) -> None:
    rows: list[object] = [
        {"video_id": f"clip-{i}", "activity": y, "scores": s} for i, (s, y) in enumerate(CLIPS)
    ]
    clips = read_clip_scores(write_lines(tmp_path / "c.jsonl", rows))
    assert clips.activities == ("a", "b", "c", "d") and clips.labels == ("a", "b", "c", "d")
    assert clip_topk(clips.scores, clips.labels, clips.activities).accuracy == {1: 0.25, 3: 0.75}
    # a header line declares the vocabulary; clips may then score only some activities
    headed = read_clip_scores(
        write_lines(
            tmp_path / "h.jsonl",
            [{"activities": ["x", "y"]}, {"video_id": "1", "activity": "y", "scores": {"y": 1}}],
        )
    )
    assert headed.activities == ("x", "y") and headed.scores == ({"y": 1.0},)
    bad = write_lines(
        tmp_path / "bad.jsonl", [*rows[:2], {"video_id": "9", "activity": "e", "scores": {"a": 1}}]
    )
    with pytest.raises(
        AnnotationFormatError, match=r"entry 'line 3', field 'activity': unknown activity 'e'"
    ):
        read_clip_scores(bad)
    dup = write_lines(tmp_path / "dup.jsonl", [rows[0], rows[0]])
    with pytest.raises(AnnotationFormatError, match=r"line 2', field 'video_id': expected each video once"):
        read_clip_scores(dup)
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(AnnotationFormatError, match="at least one clip line"):
        read_clip_scores(tmp_path / "empty.jsonl")


# ---- hake eval --------------------------------------------------------------------------------


def test_cli_kinetics_tps_and_clip_topk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, pred = write(tmp_path / "gt.json", GT_FILE), write(tmp_path / "pred.json", PRED_FILE)
    assert (
        main(["eval", "--task", "kinetics-tps", "--data", str(gt), "--predictions", str(pred), "--json"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert (report["task"], report["area"], report["n_videos"]) == ("kinetics-tps", 0.625, 1)
    assert report["videos"]["v1"]["psc"] == 0.625
    assert main(["eval", "--task", "kinetics-tps", "--data", str(gt), "--predictions", str(pred)]) == 0
    assert "area                   0.625" in capsys.readouterr().out

    rows: list[object] = [
        {"video_id": f"clip-{i}", "activity": y, "scores": s} for i, (s, y) in enumerate(CLIPS)
    ]
    clips = write_lines(tmp_path / "clips.jsonl", rows)
    assert main(["eval", "--task", "clip-topk", "--data", str(clips), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "task": "clip-topk",
        "top1": 25.0,
        "top3": 75.0,
        "n_clips": 4,
        "n_activities": 4,
    }


def test_cli_video_task_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = write(tmp_path / "gt.json", GT_FILE)
    # usage errors: exit 2, one line
    assert main(["eval", "--task", "kinetics-tps", "--data", str(gt)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--task kinetics-tps needs --predictions PRED.json" in err
    assert main(["eval", "--task", "clip-topk", "--data", str(gt), "--predictions", str(gt)]) == 2
    assert "leave out --predictions" in capsys.readouterr().err
    assert main(["eval", "--task", "clip-topk", "--data", str(gt), "--unseen", "default"]) == 2
    assert "none of the training options" in capsys.readouterr().err
    assert (
        main(
            ["eval", "--task", "kinetics-tps", "--data", str(gt), "--predictions", str(gt), "--model", "rule"]
        )
        == 2
    )
    assert "none of the training options" in capsys.readouterr().err
    assert main(["eval", "--task", "hake-image", "--data", str(tmp_path), "--predictions", str(gt)]) == 2
    assert "--predictions is the prediction file of --task kinetics-tps" in capsys.readouterr().err
    # a malformed file: exit 1 naming the file, video, frame and field
    data = json.loads(json.dumps(PRED_FILE))
    data["videos"]["v1"]["frames"]["6"][0]["box"] = "0 0 99 99"
    pred = write(tmp_path / "pred.json", data)
    assert main(["eval", "--task", "kinetics-tps", "--data", str(gt), "--predictions", str(pred)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"hake eval: error: {pred}: entry \"video 'v1', frame 6\", field 'persons[0].box'")
