"""Zero-shot part states for an extended ontology: one prompt per part state, new ones too."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ontology
from ontology import Box, PersonObservation, RecordError
from perception import CheckpointMismatchError, Detector, Perceiver, ZeroShotPartStates, prompt_for
from perception.part_boxes import part_boxes_from_keypoints

from .conftest import synthetic_image, write_video

NEW_STATES = ("hand_wave", "arm_raise", "leg_squat", "hand_clap", "hand_stir", "hand_wipe")


@pytest.fixture(scope="module")
def scorer(
    tiny_models_extended: dict[str, Path],
    extended: ontology.Ontology,
    tmp_path_factory: pytest.TempPathFactory,
) -> ZeroShotPartStates:
    cache = tmp_path_factory.mktemp("text-cache-ext")
    return ZeroShotPartStates.from_pretrained(
        tiny_models_extended["clip"], device="cpu", cache_dir=cache, ontology=extended
    )


def test_one_prompt_per_part_state_of_the_ontology_given(
    scorer: ZeroShotPartStates, tiny_models_extended: dict[str, Path], extended: ontology.Ontology
) -> None:
    packaged = ZeroShotPartStates.from_pretrained(tiny_models_extended["clip"], device="cpu")
    assert packaged.ontology == ontology.load() and len(packaged.prompts()) == 93
    prompts = scorer.prompts()
    assert len(prompts) == len(extended.part_states) == 99
    assert prompts[:93] == packaged.prompts()  # HAKE's states keep their prompts and channels
    assert prompts[93:] == [prompt_for(extended.part_states[s]) for s in NEW_STATES]
    assert prompts[93:96] == [
        "a photo of a person's hand waving",
        "a photo of a person's arm raising",
        "a photo of a person's leg squatting",
    ]
    unknown = scorer.tokenizer.unk_token_id
    assert all(unknown not in scorer.tokenizer(p)["input_ids"] for p in prompts[93:])
    text = scorer.text_embeddings()
    assert text.shape == (99, 16)
    torch.testing.assert_close(text[:93], packaged.text_embeddings(), atol=1e-5, rtol=0)
    # each ontology has its own cached embeddings: a second ontology never reads the first's
    assert scorer.cache_dir is not None
    packaged_cached = ZeroShotPartStates.from_pretrained(
        tiny_models_extended["clip"], device="cpu", cache_dir=scorer.cache_dir
    )
    assert packaged_cached.text_embeddings().shape == (93, 16)
    assert len(list(scorer.cache_dir.glob("text-*.pt"))) == 2


def test_new_part_states_are_scored_zero_shot(
    scorer: ZeroShotPartStates, extended: ontology.Ontology
) -> None:
    persons = [Box(20, 5, 76, 120), Box(0, 0, 30, 30)]
    part_boxes = [list(part_boxes_from_keypoints(p, None, (96, 128)).boxes.values()) for p in persons]
    states, active = scorer.score(synthetic_image(), part_boxes)
    assert states.shape == (2, 99) and active.shape == (2, 10)
    new = [extended.part_states[s].index for s in NEW_STATES]
    assert ((states[:, new] > 0) & (states[:, new] < 1)).all()
    # CLIP: per fine part, a softmax over its coarse part's states, the new ones included
    for coarse in ("hand", "leg", "arm"):
        idx = [s.index for s in extended.part_states_of(coarse)]
        assert any(i in idx for i in new)
        sums = states[:, idx].sum(dim=1)  # max over two sides: at least one softmax's mass
        assert (sums >= 1 - 1e-5).all()
    empty_states, _ = scorer.score(synthetic_image(), [])
    assert empty_states.shape == (0, 99)


def test_perceiver_with_the_extension_emits_its_part_states(
    tiny_models_extended: dict[str, Path], extended: ontology.Ontology, tmp_path: Path
) -> None:
    perceiver = Perceiver.from_pretrained(
        detector=tiny_models_extended["detector"],
        pose=tiny_models_extended["pose"],
        clip=tiny_models_extended["clip"],
        device="cpu",
        batch_size=2,
        person_threshold=0.0,
        object_threshold=0.0,
        max_persons=2,
        ontology=extended,
    )
    assert perceiver.ontology == extended
    assert perceiver.detector.ontology == extended and perceiver.part_states is not None
    assert perceiver.part_states.ontology == extended
    records = perceiver.infer_image(synthetic_image(96, 128))
    assert records
    for obs in records:
        assert list(obs.part_states) == extended.part_states.ids
        assert set(NEW_STATES) <= set(obs.part_states)
        assert all(0 < obs.part_states[s] < 1 for s in NEW_STATES)
        assert PersonObservation.from_dict(obs.to_dict(), ontology=extended) == obs
        with pytest.raises(RecordError, match="hand_wave"):  # the packaged ontology lacks them
            PersonObservation.from_dict(obs.to_dict())
    # video frames are re-checked against the perceiver's ontology, not the packaged one
    frames = perceiver.infer_video(write_video(tmp_path / "clip.mp4", frames=2), max_frames=2)
    assert all(set(NEW_STATES) <= set(obs.part_states) for obs in frames)


def test_perceiver_refuses_parts_built_for_another_ontology(
    tiny_models: dict[str, Path], scorer: ZeroShotPartStates, extended: ontology.Ontology
) -> None:
    detector = Detector.from_pretrained(tiny_models["detector"], device="cpu")
    with pytest.raises(CheckpointMismatchError) as err:
        Perceiver(detector, None, scorer)  # the perceiver's ontology is the packaged one
    message = str(err.value)
    assert ontology.load().id in message and extended.id in message and "ontology=" in message
    with pytest.raises(CheckpointMismatchError, match="detector"):
        Perceiver(detector, None, scorer, ontology=extended)
    same = Detector.from_pretrained(tiny_models["detector"], device="cpu", ontology=extended)
    assert Perceiver(same, None, scorer, ontology=extended).ontology == extended
