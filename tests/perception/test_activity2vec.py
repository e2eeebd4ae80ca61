"""Activity2Vec with the packaged all-MiniLM-L6-v2 (a real small model, loaded once)."""

from __future__ import annotations

import pytest
import torch

import ontology
from ontology import PersonObservation
from perception import Activity2Vec, CheckpointNotFoundError


@pytest.fixture(scope="module")
def a2v() -> Activity2Vec:
    return Activity2Vec.from_pretrained(device="cpu")


def test_phrase_embeddings_are_real_sentence_embeddings(a2v: Activity2Vec) -> None:
    onto = ontology.load()
    emb = a2v.phrase_embeddings
    assert emb.shape == (93, 384) and a2v.dim == 384
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(93), atol=1e-4, rtol=0)

    def sim(a: str, b: str) -> float:
        return float(emb[onto.part_states[a].index] @ emb[onto.part_states[b].index])

    # a trained sentence encoder puts related phrases closer than unrelated ones
    assert sim("hip: sit on", "hip: sit in") > sim("hip: sit on", "head: kiss")


def test_encode_is_a_probability_weighted_sum_per_coarse_part(a2v: Activity2Vec) -> None:
    onto = ontology.load()
    probs = torch.zeros(2, 93)
    hold, carry = onto.part_states["hand_hold"].index, onto.part_states["hand_carry"].index
    probs[0, hold], probs[0, carry] = 0.5, 0.25
    vec = a2v.encode(probs)
    assert vec.shape == (2, 6 * 384)
    per_part = vec.view(2, 6, 384)
    hand = [c.id for c in onto.coarse_parts].index("hand")
    expected = 0.5 * a2v.phrase_embeddings[hold] + 0.25 * a2v.phrase_embeddings[carry]
    torch.testing.assert_close(per_part[0, hand], expected)
    assert per_part[0].abs().sum() == pytest.approx(per_part[0, hand].abs().sum().item())
    assert per_part[1].abs().sum() == 0


def test_encode_with_part_features_and_from_records(a2v: Activity2Vec) -> None:
    onto = ontology.load()
    feats = torch.arange(2 * 10 * 3, dtype=torch.float32).view(2, 10, 3)
    vec = a2v.encode(torch.zeros(2, 93), feats).view(2, 6, 384 + 3)
    head = [c.id for c in onto.coarse_parts].index("head")
    mid_head = onto.body_parts["mid_head"].index
    torch.testing.assert_close(vec[:, head, 384:], feats[:, mid_head])
    obs = PersonObservation("img", "0", part_states={"hand: hold": 1.0})
    from_records = a2v.encode_observations([obs])
    direct = torch.zeros(1, 93)
    direct[0, onto.part_states["hand_hold"].index] = 1.0
    torch.testing.assert_close(from_records, a2v.encode(direct))
    with pytest.raises(ValueError, match=r"expected \(P, 93\)"):
        a2v.encode(torch.zeros(2, 76))


def test_missing_text_model_is_explained(tmp_path: object) -> None:
    with pytest.raises(CheckpointNotFoundError, match="Activity2Vec text"):
        Activity2Vec.from_pretrained(f"{tmp_path}/no-model", device="cpu")


def test_an_extensions_part_states_are_embedded_and_encoded(extended: ontology.Ontology) -> None:
    a2v = Activity2Vec.from_pretrained(device="cpu", ontology=extended)
    assert a2v.ontology == extended and a2v.phrase_embeddings.shape == (99, 384)
    wave = extended.part_states["hand: wave"].index
    obs = PersonObservation("img", "0", part_states={"hand: wave": 1.0}, ontology=extended)
    hand = [c.id for c in extended.coarse_parts].index("hand")
    vec = a2v.encode_observations([obs]).view(1, 6, 384)
    torch.testing.assert_close(vec[0, hand], a2v.phrase_embeddings[wave])
    with pytest.raises(ValueError, match=r"expected \(99, D\), got \(93, 384\)"):
        Activity2Vec(torch.zeros(93, 384), ontology=extended)
