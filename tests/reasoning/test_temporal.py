"""The temporal reasoner (reasoning.temporal) and the simulation it is measured on."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import ontology
from ontology.errors import ReasoningError
from reasoning import ActivityReasoner
from reasoning.metrics import segment_f1, temporal_iou
from reasoning.simulation import NOISE_LEVELS, NoiseLevel, ScriptConfig, SimulatedTracks, simulate_tracks
from reasoning.temporal import (
    TemporalConfig,
    TemporalReasoner,
    TemporalStream,
    default_temporal_path,
    encode_tracks,
    evaluate_temporal,
    fit_temporal_head,
)

QUIET = NOISE_LEVELS["none"]


@pytest.fixture(scope="module")
def packaged() -> ActivityReasoner:
    return ActivityReasoner.from_pretrained()


def _logits(k: int, t: int, frames: dict[int, int], high: float = 3.0) -> torch.Tensor:
    """``(1, t, k)`` logits of -6, with activity ``frames[i]`` at ``high`` in frame ``i``."""
    z = torch.full((1, t, k), -6.0)
    for i, a in frames.items():
        z[0, i, a] = high
    return z


# ---- simulation ---------------------------------------------------------------------


def test_simulation_is_seeded_and_follows_its_script(synthetic: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = synthetic
    a = simulate_tracks(x, y, 20, seed=3, noise=QUIET)
    b = simulate_tracks(x, y, 20, seed=3, noise=QUIET)
    assert torch.equal(a.x, b.x) and a.segments == b.segments and a.simulated
    for n in range(len(a)):
        length = int(a.length[n])
        # segments tile the track, in order, and each frame shows a person doing its activity
        assert a.segments[n][0][1] == 0 and a.segments[n][-1][2] == length - 1
        for (_, _, end), (_, start, _) in zip(a.segments[n], a.segments[n][1:], strict=False):
            assert start == end + 1
        for act, start, end in a.segments[n]:
            persons = a.person[n, start : end + 1]
            assert bool(y[persons, act].all())
        # no noise: the rows are the real persons' rows
        assert torch.equal(a.x[n, :length], x[a.person[n, :length]])
        assert bool(a.present[n, :length].all()) and not bool(a.present[n, length:].any())


def test_noise_levels_change_what_they_say(synthetic: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = synthetic
    quiet = simulate_tracks(x, y, 60, seed=0, noise=QUIET)
    missing = NoiseLevel("m", drop=0.0, flip=0.0, confidence=1.0, missing=0.3, occlusion=0.0, switch=0.0)
    sim = simulate_tracks(x, y, 60, seed=0, noise=missing)
    inside = torch.arange(sim.x.shape[1])[None, :] < sim.length[:, None]
    share = 1 - float(sim.present[inside].float().mean())
    assert 0.25 < share < 0.35
    assert float(sim.x[~sim.present].abs().sum()) == 0.0
    dropped = NoiseLevel("d", drop=0.5, flip=0.0, confidence=1.0, missing=0.0, occlusion=0.0, switch=0.0)
    d = simulate_tracks(x, y, 60, seed=0, noise=dropped)
    kept = float((d.x > 0).sum()) / float((quiet.x > 0).sum())
    assert 0.4 < kept < 0.6
    switch = NoiseLevel("s", drop=0.0, flip=0.0, confidence=1.0, missing=0.0, occlusion=0.0, switch=1.0)
    s = simulate_tracks(x, y, 60, seed=0, noise=switch)
    assert not torch.equal(s.person, quiet.person)  # tails swapped, and the ground truth with them
    for n in range(len(s)):
        for act, start, end in s.segments[n]:
            assert bool((s.activity[n, start : end + 1] == act).all())


def test_simulation_refuses_a_pool_without_usable_activities(
    synthetic: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = synthetic
    with pytest.raises(ReasoningError, match="min_persons"):
        simulate_tracks(x[:2], y[:2], 3, script=ScriptConfig(min_persons=50))


# ---- metrics ------------------------------------------------------------------------


def test_segment_f1_by_hand() -> None:
    assert temporal_iou((0, 9), (0, 9)) == 1.0
    assert temporal_iou((0, 9), (5, 14)) == pytest.approx(5 / 15)
    # track 0: one hit (IoU 10/12), a duplicate of it (FP), a wrong activity (FP); track 1: a
    # hit at IoU exactly 0.5 (10 of 20 frames) and a missed ground truth
    got = segment_f1(
        [[(1, 0, 9, 0.9), (1, 0, 8, 0.5), (2, 0, 9, 0.4)], [(3, 0, 9, 0.8)]],
        [[(1, 0, 11)], [(3, 0, 19), (4, 30, 40)]],
    )
    assert (got["tp"], got["fp"], got["fn"]) == (2, 2, 1)
    assert got["precision"] == 50.0 and got["recall"] == pytest.approx(66.67)
    assert got["f1"] == pytest.approx(round(100 * 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3), 2))


# ---- decoding -----------------------------------------------------------------------


def test_smoothing_and_viterbi_remove_a_flicker_per_frame_keeps(packaged: ActivityReasoner) -> None:
    k = packaged.layout.n_activities
    frames = {i: 7 for i in range(20)}
    frames[10] = 8  # one frame says another activity
    z = _logits(k, 20, frames)
    present = torch.ones(1, 20, dtype=torch.bool)
    per_frame = TemporalReasoner(packaged, TemporalConfig(design="frame")).decode_logits(z, present)
    assert [(s.activity, s.start, s.end) for s in per_frame.segments[0]] == [
        (7, 0, 9),
        (8, 10, 10),
        (7, 11, 19),
    ]
    smooth = TemporalReasoner(packaged, TemporalConfig(design="smooth", window=5, switch_penalty=4.0))
    (seg,) = smooth.decode_logits(z, present).segments[0]
    assert (seg.activity, seg.start, seg.end) == (7, 0, 19)
    assert 0.0 < seg.score < 1.0


def test_missing_frames_are_filled_from_neighbours(packaged: ActivityReasoner) -> None:
    k = packaged.layout.n_activities
    z = _logits(k, 12, {i: 5 for i in range(12)})
    present = torch.ones(1, 12, dtype=torch.bool)
    present[0, 4:7] = False
    z[0, 4:7] = 0.0  # what frame_logits gives a missing frame
    per_frame = TemporalReasoner(packaged, TemporalConfig(design="frame")).decode_logits(z, present)
    assert per_frame.scores[0, 5].max() == 0.0
    assert [(s.start, s.end) for s in per_frame.segments[0]] == [(0, 3), (7, 11)]
    smooth = TemporalReasoner(packaged, TemporalConfig(window=9)).decode_logits(z, present)
    assert float(smooth.scores[0, 5, 5]) > 0.9
    assert [(s.activity, s.start, s.end) for s in smooth.segments[0]] == [(5, 0, 11)]


def test_a_switch_needs_enough_evidence(packaged: ActivityReasoner) -> None:
    k = packaged.layout.n_activities
    z = _logits(k, 30, {**{i: 1 for i in range(15)}, **{i: 2 for i in range(15, 30)}})
    present = torch.ones(1, 30, dtype=torch.bool)
    two = TemporalReasoner(packaged, TemporalConfig(window=3, switch_penalty=2.0)).decode_logits(z, present)
    assert [(s.activity, s.start, s.end) for s in two.segments[0]] == [(1, 0, 14), (2, 15, 29)]
    # the same frames with a penalty no 15 frames of evidence can pay: one segment
    one = TemporalReasoner(packaged, TemporalConfig(window=3, switch_penalty=1e4)).decode_logits(z, present)
    assert len(one.segments[0]) == 1


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ReasoningError, match="window"):
        TemporalConfig(window=4)
    with pytest.raises(ReasoningError, match="design"):
        TemporalConfig(design="hmm")
    with pytest.raises(ReasoningError, match="TemporalHead"):
        TemporalReasoner(ActivityReasoner.from_pretrained(), TemporalConfig(design="tcn"))


def test_inputs_are_checked(packaged: ActivityReasoner) -> None:
    tr = TemporalReasoner(packaged)
    with pytest.raises(ReasoningError, match=r"\(N, T, 183\)"):
        tr.run(torch.zeros(2, 5, 7), torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ReasoningError, match="presence mask"):
        tr.run(torch.zeros(2, 5, 183), torch.ones(2, 4, dtype=torch.bool))


def _noisy_tracks_and_reasoner(
    design: str,
    reasoner: ActivityReasoner,
    synthetic: tuple[torch.Tensor, torch.Tensor],
    n: int,
    seed: int,
    frames: tuple[int, int],
    epochs: int,
) -> tuple[TemporalReasoner, SimulatedTracks]:
    """``n`` noisy tracks from the synthetic pool and a reasoner of ``design`` over them
    (``"tcn"``: its head fitted on those tracks for ``epochs``)."""
    x, y = synthetic
    noise = NoiseLevel("t", drop=0.2, flip=0.5, confidence=0.6, missing=0.15, occlusion=0.0, switch=0.0)
    sim = simulate_tracks(x, y, n, seed=seed, noise=noise, script=ScriptConfig(frames=frames))
    config = TemporalConfig(design=design, window=5, switch_penalty=2.0)
    if design == "tcn":
        tr = fit_temporal_head(
            reasoner, sim.x, sim.present, sim.length, sim.frame_labels(y), config, epochs=epochs
        )
        return tr, sim
    return TemporalReasoner(reasoner, config), sim


# ---- explanations -------------------------------------------------------------------


@pytest.mark.parametrize("design", ["frame", "smooth", "tcn"])
def test_segment_explanations_add_up_to_the_score(
    design: str, trained_gnn: ActivityReasoner, synthetic: tuple[torch.Tensor, torch.Tensor]
) -> None:
    tr, sim = _noisy_tracks_and_reasoner(design, trained_gnn, synthetic, 8, seed=1, frames=(20, 30), epochs=2)
    result = tr.run(sim.x, sim.present, sim.length)
    checked = 0
    for n, track in enumerate(result.segments):
        for seg in track:
            length = int(sim.length[n])
            e = tr.explain_segment(sim.x[n, :length], sim.present[n, :length], seg)
            assert e.score == pytest.approx(seg.score, abs=1e-5)
            total = e.baseline + sum(v for _, v in e.terms) + e.context
            assert total == pytest.approx(e.score, abs=1e-4)
            assert sum(share for _, _, share in e.frames) == pytest.approx(e.score - e.context, abs=1e-5)
            assert all(bool(sim.present[n, f]) for f, _, _ in e.frames)  # only observed frames count
            assert (e.context != 0.0) == (design == "tcn")
            checked += 1
    assert checked > 0


# ---- the designs compared on a small simulation (the real comparison: benchmarks/temporal.py) ----


def test_temporal_designs_beat_per_frame_segments(
    trained_gnn: ActivityReasoner, synthetic: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = synthetic
    noise = NoiseLevel("t", drop=0.2, flip=1.0, confidence=0.5, missing=0.1, occlusion=0.02, switch=0.0)
    train = simulate_tracks(x[:400], y[:400], 60, seed=1, noise=noise)
    test = simulate_tracks(x[400:], y[400:], 40, seed=2, noise=noise)
    config = TemporalConfig(window=9, switch_penalty=8.0)
    z = TemporalReasoner(trained_gnn).frame_logits(test.x, test.present)
    frame = evaluate_temporal(
        TemporalReasoner(trained_gnn, TemporalConfig(design="frame")).decode_logits(
            z, test.present, test.length
        ),
        test,
        y[400:],
    )
    smooth = evaluate_temporal(
        TemporalReasoner(trained_gnn, config).decode_logits(z, test.present, test.length), test, y[400:]
    )
    tcn = fit_temporal_head(
        trained_gnn, train.x, train.present, train.length, train.frame_labels(y[:400]), config
    )
    learned = evaluate_temporal(tcn.decode_logits(z, test.present, test.length), test, y[400:])
    assert frame["simulated"] and smooth["simulated"]
    assert smooth["segment_f1"] >= frame["segment_f1"] + 10
    assert smooth["frame_mAP"] >= frame["frame_mAP"]
    assert learned["segment_f1"] > frame["segment_f1"]
    assert all(0.0 <= r[key] <= 100.0 for r in (frame, smooth, learned) for key in ("frame_mAP", "clip_top1"))


# ---- records and checkpoints ------------------------------------------------------------


def _video_observations() -> list[ontology.PersonObservation]:
    """Two tracks in frames 0, 2, 4, ... 18 of clip.mp4 (stride 2); track 1 is missed in frame 8."""
    out = []
    for f in range(0, 20, 2):
        out.append(
            ontology.PersonObservation(
                "clip.mp4",
                "0",
                part_states={"hip: sit on": 0.9, "foot: tread on": 0.8},
                objects=(ontology.DetectedObject("bicycle", 0.9),),
                frame_index=f,
                track_id=0,
            )
        )
        if f != 8 and f >= 4:
            out.append(
                ontology.PersonObservation(
                    "clip.mp4",
                    "1",
                    part_states={"hand: hold": 0.9, "head: drink with": 0.9},
                    objects=(ontology.DetectedObject("cup", 0.9),),
                    frame_index=f,
                    track_id=1,
                )
            )
    out.append(ontology.PersonObservation("photo.jpg", "0", part_states={"hand: hold": 1.0}))  # not video
    return out


def test_tracks_from_records_and_back(packaged: ActivityReasoner) -> None:
    observations = _video_observations()
    batch = encode_tracks(observations)
    assert batch.video_ids == ["clip.mp4", "clip.mp4"] and batch.track_ids == [0, 1]
    assert batch.frames[0] == list(range(0, 20, 2)) and batch.frames[1] == list(range(4, 20, 2))
    assert batch.length.tolist() == [10, 8] and batch.x.shape == (2, 10, 183)
    assert batch.present[1].tolist() == [True, True, False, True, True, True, True, True, False, False]
    assert batch.rows[1][2] == -1 and observations[batch.rows[1][0]].track_id == 1
    tr = TemporalReasoner(packaged, TemporalConfig(window=3))
    result = tr.run(batch.x, batch.present, batch.length)
    segments, labels = tr.segment_records(
        result, batch.video_ids, batch.track_ids, batch.frames, fps=[10.0, 10.0]
    )
    by_track = {s.track_id: s for s in segments}
    assert by_track[0].activity.endswith("-bicycle") and (by_track[0].start_frame, by_track[0].end_frame) == (
        0,
        18,
    )
    assert by_track[0].end_time == pytest.approx(1.8) and by_track[0].key == "clip.mp4@0"
    assert by_track[1].activity.endswith("-cup") and by_track[1].start_frame == 4
    assert [label.video_id for label in labels] == ["clip.mp4"] and labels[0].model == tr.name
    assert all(s.model_version == packaged.version for s in segments)


def test_one_person_twice_in_a_frame_of_a_track_is_refused() -> None:
    obs = [
        ontology.PersonObservation(
            "v.mp4", str(i), frame_index=3, track_id=0, part_states={"hand: hold": 1.0}
        )
        for i in range(2)
    ]
    with pytest.raises(ReasoningError, match="two persons in frame 3"):
        encode_tracks(obs)


def test_checkpoint_round_trip_and_packaged_default(
    tmp_path: Path, trained_gnn: ActivityReasoner, synthetic: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = synthetic
    sim = simulate_tracks(x, y, 10, seed=4, noise=NOISE_LEVELS["low"], script=ScriptConfig(frames=(15, 25)))
    tcn = fit_temporal_head(
        trained_gnn,
        sim.x,
        sim.present,
        sim.length,
        sim.frame_labels(y),
        TemporalConfig(design="tcn"),
        epochs=1,
    )
    folder = tcn.save_pretrained(tmp_path / "t", provenance={"simulated": True})
    again = TemporalReasoner.from_pretrained(folder, trained_gnn)
    assert again.config == tcn.config
    a, b = tcn.run(sim.x, sim.present, sim.length), again.run(sim.x, sim.present, sim.length)
    assert torch.equal(a.scores, b.scores) and a.segments == b.segments
    assert "SIMULATED" in (folder / "README.md").read_text()
    with pytest.warns(UserWarning, match="miscalibrated"):
        TemporalReasoner.from_pretrained(folder)  # the packaged GNN is another reasoner
    with pytest.raises(FileNotFoundError, match="config.json"):
        TemporalReasoner.from_pretrained(tmp_path)
    packaged = TemporalReasoner.from_pretrained()
    assert packaged.config.design == "tcn" and default_temporal_path().is_dir()
    result = packaged.run(torch.zeros(1, 6, 183), torch.ones(1, 6, dtype=torch.bool))
    assert not math.isnan(float(result.scores.sum())) and result.design == "tcn"


@pytest.mark.parametrize("design", ["smooth", "tcn"])
def test_a_track_scores_the_same_alone_and_padded_in_a_batch(
    design: str, trained_gnn: ActivityReasoner, synthetic: tuple[torch.Tensor, torch.Tensor]
) -> None:
    tr, sim = _noisy_tracks_and_reasoner(design, trained_gnn, synthetic, 6, seed=5, frames=(12, 30), epochs=1)
    assert len(set(sim.length.tolist())) > 1  # some tracks are padded
    batch = tr.run(sim.x, sim.present, sim.length)
    for n in range(len(sim)):
        length = int(sim.length[n])
        alone = tr.run(sim.x[n : n + 1, :length], sim.present[n : n + 1, :length])
        assert torch.allclose(alone.scores[0], batch.scores[n, :length], atol=1e-5)
        assert float(batch.scores[n, length:].abs().sum()) == 0.0
        assert [(s.activity, s.start, s.end) for s in alone.segments[0]] == [
            (s.activity, s.start, s.end) for s in batch.segments[n]
        ]


def _ride_then_drink(
    frames: int = 120, missing: tuple[int, ...] = (30, 31, 77)
) -> list[ontology.PersonObservation]:
    """Track 0 rides a bicycle, then holds and drinks from a cup (from frame 60); track 1
    appears at frame 20 and drinks throughout; track 0 is missed in ``missing``."""
    ride = {"hip: sit on": 0.8, "foot: tread on": 0.7, "hand: hold": 0.6}
    drink = {"hand: hold": 0.8, "head: drink with": 0.9}
    out = []
    for f in range(frames):
        if f not in missing:
            states, obj = (ride, "bicycle") if f < 60 else (drink, "cup")
            out.append(
                ontology.PersonObservation(
                    "v.mp4",
                    "0",
                    part_states=states,
                    objects=(ontology.DetectedObject(obj, 0.9),),
                    frame_index=f,
                    track_id=0,
                )
            )
        if f >= 20:
            out.append(
                ontology.PersonObservation(
                    "v.mp4",
                    "1",
                    part_states=drink,
                    objects=(ontology.DetectedObject("cup", 0.9),),
                    frame_index=f,
                    track_id=1,
                )
            )
    return out


@pytest.mark.parametrize("chunk", [7, 32, 1000])
def test_streaming_gives_the_whole_track_segments(packaged: ActivityReasoner, chunk: int) -> None:
    tr = TemporalReasoner(packaged, TemporalConfig(window=9, switch_penalty=8.0))
    observations = _ride_then_drink()
    batch = encode_tracks(observations)
    whole, clip = tr.segment_records(
        tr.run(batch.x, batch.present, batch.length),
        batch.video_ids,
        batch.track_ids,
        batch.frames,
        fps=[25.0, 25.0],
    )
    stream = TemporalStream(tr, "v.mp4", fps=25.0, chunk=chunk)
    streamed = []
    for f in range(120):
        streamed += stream.push(f, [o for o in observations if o.frame_index == f])
        assert stream.buffered_frames <= chunk + 2 * stream.context  # bounded
    rest, labels = stream.close()
    streamed += rest
    key = lambda s: (s.track_id, s.start_frame)  # noqa: E731
    assert [(s.track_id, s.activity, s.start_frame, s.end_frame) for s in sorted(streamed, key=key)] == [
        (s.track_id, s.activity, s.start_frame, s.end_frame) for s in sorted(whole, key=key)
    ]
    for a, b in zip(sorted(streamed, key=key), sorted(whole, key=key), strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-5) and a.end_time == pytest.approx(b.end_time)
    assert [(c.activity, round(c.score, 5)) for c in labels] == [
        (c.activity, round(c.score, 5)) for c in clip
    ]
    # what the clip shows: track 0 rides then drinks, track 1 drinks
    by_track = {(s.track_id, s.activity.split("-")[-1]) for s in streamed}
    assert {(0, "bicycle"), (0, "cup"), (1, "cup")} <= by_track


def test_stream_refuses_frames_out_of_order_and_after_close(packaged: ActivityReasoner) -> None:
    stream = TemporalStream(TemporalReasoner(packaged), "v.mp4")
    stream.push(3, [])
    with pytest.raises(ReasoningError, match="in order"):
        stream.push(3, [])
    untracked = ontology.PersonObservation("v.mp4", "0", frame_index=4, part_states={"hand: hold": 1.0})
    with pytest.raises(ReasoningError, match="no track id"):
        stream.push(4, [untracked])
    assert stream.close() == ([], [])
    with pytest.raises(ReasoningError, match="closed"):
        stream.push(5, [])


def test_on_an_extended_ontology_segments_name_atomic_activities() -> None:
    from pathlib import Path as _Path

    onto = ontology.load(_Path(ontology.__file__).parent / "data" / "extensions" / "everyday-actions.yaml")
    frame_reasoner = ActivityReasoner.from_pretrained().for_ontology(onto)
    tr = TemporalReasoner.from_pretrained(reasoner=frame_reasoner, other_reasoner="smooth")  # type: ignore[arg-type]
    assert tr.config.design == "smooth"  # the head was trained on another reasoner's logits
    frames = [
        ontology.PersonObservation(
            "v.mp4", "0", part_states={"hand: hold": 0.9}, frame_index=f, track_id=0, ontology=onto
        )
        for f in range(12)
    ]
    batch = encode_tracks(frames, onto)
    result = tr.run(batch.x, batch.present, batch.length)
    segments, labels = tr.segment_records(result, batch.video_ids, batch.track_ids, batch.frames)
    assert segments and labels
    for activity in [s.activity for s in segments] + [c.activity for c in labels]:
        assert not onto.activities[activity].is_composite
    with pytest.raises(ReasoningError, match="attribute_terms"):
        tr.explain_segment(batch.x[0], batch.present[0], result.segments[0][0])
