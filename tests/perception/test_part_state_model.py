"""Trainable part-state heads: shapes, save/load, the training loop on synthetic images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

import ontology
from ontology import Box, PersonAnnotation
from perception import (
    CheckpointMismatchError,
    CheckpointNotFoundError,
    Detector,
    ImageReadError,
    PartStateModel,
    PartStateSample,
    Perceiver,
    part_state_targets,
    samples_from_hake,
    train_part_state_model,
)
from perception.part_boxes import part_boxes_from_keypoints
from perception.roi_align import roi_align

from .conftest import synthetic_image

PERSON = Box(0, 0, 64, 64)


def hand_image(holding: bool, seed: int) -> Image.Image:
    """Noise; a white square on the right-hand box when the person 'holds'."""
    g = torch.Generator().manual_seed(seed)
    arr = (torch.rand(64, 64, 3, generator=g) * 80).to(torch.uint8).numpy()
    img = Image.fromarray(arr, "RGB")
    if holding:
        box = part_boxes_from_keypoints(PERSON, None, (64, 64)).boxes["right_hand"]
        ImageDraw.Draw(img).rectangle([box.x1, box.y1, box.x2, box.y2], fill=(255, 255, 255))
    return img


@pytest.fixture(scope="module")
def samples() -> list[PartStateSample]:
    parts = tuple(part_boxes_from_keypoints(PERSON, None, (64, 64)).boxes.values())
    out = []
    for i in range(12):
        holding = i % 2 == 0
        out.append(
            PartStateSample(
                image=hand_image(holding, seed=i),
                person=PERSON,
                part_boxes=parts,
                part_states=frozenset({"hand: hold"} if holding else set()),
                active_parts=frozenset({"right_hand"} if holding else set()),
                image_id=f"synthetic-{i}",
            )
        )
    return out


@pytest.fixture(scope="module")
def trained(
    tiny_models: dict[str, Path], samples: list[PartStateSample]
) -> tuple[PartStateModel, list[float]]:
    torch.manual_seed(0)
    model = PartStateModel.from_backbone(tiny_models["backbone"], image_size=64, hidden_dim=32)
    report = train_part_state_model(
        model, samples, epochs=12, batch_size=6, lr=1e-2, device="cpu", data="synthetic"
    )
    assert report.steps == 24 and report.samples == 12
    return model, report.epoch_losses


def test_targets_follow_the_hake_rules() -> None:
    onto = ontology.load()
    states, mask, active = part_state_targets(["hand: hold", "hip: sit on"], ["right_hand"])
    positive = {onto.part_states[i].id for i in states.nonzero().flatten().tolist()}
    assert positive == {
        "hand_hold",
        "hip_sit_on",
        "foot_no_interaction",
        "leg_no_interaction",
        "arm_no_interaction",
        "head_no_interaction",
    }
    # the 17 states outside the HICO 76 are never supervised
    unsupervised = {s.id for s in onto.part_states if s.hico_index is None}
    assert {onto.part_states[i].id for i in (mask == 0).nonzero().flatten().tolist()} == (unsupervised)
    assert active.tolist() == [1.0 if p.id == "right_hand" else 0.0 for p in onto.body_parts]


def test_forward_shapes_and_channel_order(tiny_models: dict[str, Path]) -> None:
    model = PartStateModel.from_backbone(tiny_models["backbone"], image_size=64).eval()
    images = [synthetic_image(96, 128), synthetic_image(50, 40, seed=1)]
    persons = [[Box(10, 10, 90, 120), Box(0, 0, 40, 60)], [Box(5, 5, 45, 35)]]
    parts = [[list(part_boxes_from_keypoints(p, None).boxes.values()) for p in ps] for ps in persons]
    batch = model.prepare(images, persons, parts)
    assert batch.pixel_values.shape == (2, 3, 64, 64)  # longer side 64, padded to 32s
    assert batch.person_rois.shape == (3, 5) and batch.part_rois.shape == (3, 10, 4)
    assert batch.person_rois[:, 0].tolist() == [0, 0, 1]
    with torch.no_grad():
        out = model(batch)
    assert out.state_logits.shape == (3, 93) and out.active_logits.shape == (3, 10)
    assert out.part_features.shape == (3, 10, model.channels)
    # the hand head's first output (hand: hold) lands in the ontology's hand_hold channel,
    # as the max over the two hands
    onto = ontology.load()
    hands = [p.index for p in onto.body_parts if p.coarse == "hand"]
    with torch.no_grad():
        feats = model.backbone(batch.pixel_values).feature_maps[-1]
        scale = feats.shape[-1] / batch.pixel_values.shape[-1]
        person = roi_align(feats, batch.person_rois, 7, scale, 2, True).mean((2, 3))
        head_in = torch.cat([out.part_features[:, hands], person[:, None].expand(-1, len(hands), -1)], dim=-1)
        hand_out = model.heads["hand"](head_in)
    hold = onto.part_states["hand_hold"].index
    torch.testing.assert_close(out.state_logits[:, hold], hand_out[..., 0].max(dim=1).values)
    torch.testing.assert_close(out.active_logits[:, hands], hand_out[..., -1])
    empty = model(model.prepare([images[0]], [[]], [[]]))
    assert empty.state_logits.shape == (0, 93)


def test_training_learns_the_synthetic_hold_state(
    trained: tuple[PartStateModel, list[float]], samples: list[PartStateSample]
) -> None:
    model, losses = trained
    assert losses[-1] < 0.5 * losses[0]
    hold = ontology.load().part_states["hand_hold"].index
    with torch.no_grad():
        out = model(
            model.prepare(
                [s.image for s in samples],  # type: ignore[misc]
                [[s.person] for s in samples],
                [[s.part_boxes] for s in samples],
            )
        )
    p = torch.sigmoid(out.state_logits[:, hold])
    positives = p[0::2]
    negatives = p[1::2]
    assert positives.min() > negatives.max()
    assert model.provenance["training"][-1]["data"] == "synthetic"


def test_save_and_load_round_trip(
    trained: tuple[PartStateModel, list[float]], samples: list[PartStateSample], tmp_path: Path
) -> None:
    model, _ = trained
    saved = model.save_pretrained(tmp_path / "heads")
    meta = json.loads((saved / "part_state_model.json").read_text())
    assert meta["part_states"] == ontology.load().part_states.ids
    assert meta["ontology_version"] == ontology.__version__ and "torch" in meta["versions"]
    loaded = PartStateModel.from_pretrained(saved)
    batch = model.prepare([samples[0].image], [[PERSON]], [[samples[0].part_boxes]])  # type: ignore[list-item]
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch).state_logits, model.eval()(batch).state_logits)
    assert loaded.provenance == model.provenance
    meta["part_states"] = meta["part_states"][::-1]
    (saved / "part_state_model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointMismatchError, match="part-state order"):
        PartStateModel.from_pretrained(saved)
    with pytest.raises(CheckpointNotFoundError, match="part_state_model.json"):
        PartStateModel.from_pretrained(tmp_path)


def test_perceiver_with_trained_heads(
    trained: tuple[PartStateModel, list[float]], tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    model, _ = trained
    model.save_pretrained(tmp_path / "heads")
    perceiver = Perceiver.from_pretrained(
        detector=tiny_models["detector"],
        pose=tiny_models["pose"],
        part_state_head=tmp_path / "heads",
        device="cpu",
        person_threshold=0.0,
        object_threshold=0.0,
    )
    records = perceiver.infer_image(synthetic_image())
    assert records and "part_state_head=" in (records[0].model or "")
    for obs in records:
        assert len(obs.part_states) == 93 and len(obs.active_parts) == 10


def test_samples_from_hake_annotations(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    from perception import PoseEstimator

    synthetic_image(96, 128).save(tmp_path / "HICO_train2015_00000001.jpg")

    def person(image_id: str, pid: str, states: tuple[str, ...]) -> PersonAnnotation:
        return PersonAnnotation(
            image_id=image_id,
            person_id=pid,
            box=Box(10, 5, 80, 120),
            part_states=states,
            active_parts=("right_hand",) if states else (),
            activities=("hold-bicycle",) if states else (),
            objects=(),
            pairs=1,
            width=96,
            height=128,
        )

    persons = [
        person("HICO_train2015_00000001.jpg", "0", ("hand_hold",)),
        person("HICO_train2015_00000001.jpg", "1", ()),  # no part-state evidence
        person("HICO_train2015_00000002.jpg", "0", ("hand_hold",)),  # image not supplied
    ]
    pose = PoseEstimator.from_pretrained(tiny_models["pose"], device="cpu")
    samples, report = samples_from_hake(persons, tmp_path, pose=pose)
    assert (report.samples, report.without_states, report.missing_images) == (1, 1, 1)
    [sample] = samples
    assert sample.part_states == {"hand_hold"} and len(sample.part_boxes) == 10
    no_pose, _ = samples_from_hake(persons, tmp_path)
    # a wrong image folder is an error, not 0 samples with a warning
    with pytest.raises(ImageReadError, match="does not exist"):
        samples_from_hake(persons, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageReadError, match="none of the 2 annotated images is under"):
        samples_from_hake(persons, tmp_path / "empty")
    assert no_pose[0].part_boxes == tuple(
        part_boxes_from_keypoints(Box(10, 5, 80, 120), None, (96, 128)).boxes.values()
    )
    with pytest.raises(ValueError, match="at least one PartStateSample"):
        train_part_state_model(PartStateModel.from_backbone(tiny_models["backbone"]), [], device="cpu")


def test_heads_are_sized_by_their_ontology_and_refuse_another(
    tiny_models: dict[str, Path], extended: ontology.Ontology, tmp_path: Path
) -> None:
    packaged = ontology.load()
    model = PartStateModel.from_backbone(tiny_models["backbone"], image_size=64, hidden_dim=8).eval()
    saved = model.save_pretrained(tmp_path / "packaged")
    meta = json.loads((saved / "part_state_model.json").read_text())
    assert meta["ontology"] == {"id": packaged.id, "version": packaged.version}
    # heads of the packaged ontology, loaded for the extension: refused, naming both
    with pytest.raises(CheckpointMismatchError) as err:
        PartStateModel.from_pretrained(saved, ontology=extended)
    message = str(err.value)
    assert packaged.id in message and extended.id in message
    assert "93 states" in message and "99 states" in message
    assert "prefix of this ontology's" in message and "hand_wave" in message
    with pytest.raises(CheckpointMismatchError, match="prefix"):
        Perceiver.from_pretrained(
            detector=tiny_models["detector"],
            pose=None,
            part_state_head=saved,
            device="cpu",
            ontology=extended,
        )
    with pytest.raises(CheckpointMismatchError, match=extended.id):  # an in-memory model too
        Perceiver(
            Detector.from_pretrained(tiny_models["detector"], device="cpu", ontology=extended),
            None,
            model,
            ontology=extended,
        )
    # heads of the extension: one output per part state of it, saved and loaded with it
    wider = PartStateModel.from_backbone(
        tiny_models["backbone"], ontology=extended, image_size=64, hidden_dim=8
    ).eval()
    assert wider.ontology == extended and wider.heads["hand"].net[-1].out_features == 38 + 1
    image = synthetic_image(96, 128)
    parts = [list(part_boxes_from_keypoints(PERSON, None).boxes.values())]
    batch = wider.prepare([image], [[PERSON]], [parts])
    with torch.no_grad():
        assert wider(batch).state_logits.shape == (1, 99)
    wide_dir = wider.save_pretrained(tmp_path / "extended")
    loaded = PartStateModel.from_pretrained(wide_dir, ontology=extended)
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch).state_logits, wider(batch).state_logits)
    with pytest.raises(CheckpointMismatchError, match="ontology it was trained on") as err:
        PartStateModel.from_pretrained(wide_dir)  # the packaged ontology lacks 6 of its states
    assert "6 more" in str(err.value) and extended.id in str(err.value)


def test_targets_supervise_an_extensions_part_states(extended: ontology.Ontology) -> None:
    states, mask, _ = part_state_targets(["hand: wave"], ["right_hand"], extended)
    assert states.shape == mask.shape == (99,)
    wave = extended.part_states["hand: wave"].index
    assert states[wave] == 1 and states[extended.part_states["hand: no_interaction"].index] == 0
    assert int(mask.sum()) == 76 + 6  # HICO's 76 and the extension's 6
    packaged_states, packaged_mask, _ = part_state_targets(["hand: hold"], ["right_hand"])
    extended_states, extended_mask, _ = part_state_targets(["hand: hold"], ["right_hand"], extended)
    assert torch.equal(extended_states[:93], packaged_states)
    assert torch.equal(extended_mask[:93], packaged_mask)
