from __future__ import annotations

import math

import pytest
import torch

import ontology
from reasoning.features import encode_observations, input_layout
from reasoning.graph import (
    BODY_PART_TO_VERB,
    OBJECT_TO_ACTIVITY,
    PART_STATE_TO_ACTIVITY,
    PART_STATE_TO_VERB,
    VERB_TO_ACTIVITY,
    Evidence,
    build_graph,
    npmi,
)


def _tiny() -> tuple[torch.Tensor, torch.Tensor]:
    """4 examples: "hand: hold" in 0,1,2; "hip: sit on" in 0; ride-bicycle in 0,1; hold-cup in 3."""
    onto = ontology.load()
    lay = input_layout()
    x = torch.zeros(4, lay.n_features)
    y = torch.zeros(4, lay.n_activities)
    hold, sit = onto.part_states["hand: hold"].index, onto.part_states["hip: sit on"].index
    x[[0, 1, 2], hold] = 1.0
    x[0, sit] = 1.0
    y[[0, 1], onto.activities["ride-bicycle"].index] = 1.0
    y[3, onto.activities["hold-cup"].index] = 1.0
    return x, y


def test_npmi_by_hand() -> None:
    # p(u)=3/4, p(t)=2/4, p(u,t)=2/4: log((1/2)/(3/8)) / -log(1/2)
    expected = math.log((1 / 2) / (3 / 8)) / -math.log(1 / 2)
    got = npmi(torch.tensor([[2.0, 0.0]]), torch.tensor([3.0]), torch.tensor([2.0, 1.0]), 4)
    assert got[0, 0].item() == pytest.approx(expected)
    assert got[0, 1].item() == -1.0  # never together
    assert npmi(torch.tensor([[0.0]]), torch.tensor([0.0]), torch.tensor([1.0]), 4).item() == 0.0


def test_evidence_counts() -> None:
    onto = ontology.load()
    ev = Evidence.from_examples(*_tiny())
    hold, sit = onto.part_states["hand: hold"].index, onto.part_states["hip: sit on"].index
    ride, hold_v = onto.verbs["ride"].index, onto.verbs["hold"].index
    assert ev.n_examples == 4
    assert ev.part_state_verb[hold, ride] == 2 and ev.part_state_verb[sit, ride] == 1
    assert ev.part_state_verb[hold, hold_v] == 0  # hold-cup's example has no part state
    assert ev.activity_counts.sum() == 3 and ev.verb_counts[ride] == 2
    assert ev.part_state_counts[hold] == 3


def test_graph_structure_and_weights() -> None:
    onto = ontology.load()
    ev = Evidence.from_examples(*_tiny())
    g = build_graph(ev)
    assert g["part_state"].num_nodes == 93 and g["activity"].num_nodes == 600
    assert g["verb"].ids[onto.verbs["ride"].index] == "ride"
    # composition: every activity has exactly its verb and its object
    ride_bike = onto.activities["ride-bicycle"]
    va = g[VERB_TO_ACTIVITY].edge_index
    oa = g[OBJECT_TO_ACTIVITY].edge_index
    assert va.shape == (2, 600) and oa.shape == (2, 600)
    assert va[0, ride_bike.index] == onto.verbs["ride"].index
    assert oa[0, ride_bike.index] == onto.objects["bicycle"].index
    # evidence edges: both part states x both verbs that occur (2 x 2)
    e = g[PART_STATE_TO_VERB]
    pairs = {(int(s), int(t)): float(w) for s, t, w in zip(*e.edge_index, e.edge_weight, strict=True)}
    hold, sit = onto.part_states["hand: hold"].index, onto.part_states["hip: sit on"].index
    ride, hold_v = onto.verbs["ride"].index, onto.verbs["hold"].index
    assert set(pairs) == {(hold, ride), (hold, hold_v), (sit, ride), (sit, hold_v)}
    assert pairs[(sit, ride)] == pytest.approx(ev.npmi_part_state_verb()[sit, ride].item())
    assert pairs[(hold, hold_v)] == -1.0
    assert g[PART_STATE_TO_ACTIVITY].edge_index.shape[1] == 4
    assert BODY_PART_TO_VERB in g.edge_types
    assert g["activity"].train_count[ride_bike.index] == 2


def test_graph_without_evidence_has_only_composition() -> None:
    g = build_graph()
    assert set(g.edge_types) == {VERB_TO_ACTIVITY, OBJECT_TO_ACTIVITY}
    with pytest.raises(ValueError, match="one per part_state"):
        build_graph(node_features={"part_state": torch.zeros(3, 384)})


def test_evidence_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"expected x of shape \(N, 183\)"):
        Evidence.from_examples(torch.zeros(2, 10), torch.zeros(2, 600))
    with pytest.raises(ValueError, match=r"expected y of shape \(2, 600\)"):
        Evidence.from_examples(torch.zeros(2, 183), torch.zeros(3, 600))


def test_evidence_state_round_trip() -> None:
    ev = Evidence.from_examples(*_tiny())
    back = Evidence.from_state(ev.to_state())
    assert back.n_examples == 4
    assert torch.equal(back.part_state_activity, ev.part_state_activity)


def test_encode_observations_layout() -> None:
    onto = ontology.load()
    lay = input_layout()
    obs = ontology.PersonObservation(
        image_id="i",
        person_id="0",
        part_states={"hand: hold": 0.8},
        active_parts={onto.body_parts[6].id: 0.5},
        objects=(ontology.DetectedObject("cup", 0.3), ontology.DetectedObject("cup", 0.7)),
    )
    x = encode_observations([obs, ontology.PersonObservation(image_id="i", person_id="1")])
    assert x.shape == (2, 183)
    assert x[0, onto.part_states["hand: hold"].index].item() == pytest.approx(0.8)
    assert x[0, lay.n_part_states + 6].item() == 0.5
    # the best of two detections of one object
    assert x[0, lay.n_part_states + lay.n_body_parts + onto.objects["cup"].index].item() == pytest.approx(0.7)
    assert x[0].gt(0).sum() == 3 and x[1].sum() == 0
    with pytest.raises(TypeError, match="expected PersonObservation"):
        encode_observations(["not a record"])  # type: ignore[list-item]


def test_npmi_is_the_one_implementation_in_ontology() -> None:
    """reasoning's count matrices and kg's evidence edges use ontology.npmi, conventions
    included (-1 never together, 0 for an event that never occurs, 1 always together)."""
    import ontology
    from reasoning.graph import npmi

    n = 10
    joint = torch.tensor([[0.0, 2.0, 0.0, 6.0], [4.0, 2.0, 0.0, 10.0]])
    count_u = torch.tensor([6.0, 10.0])
    count_t = torch.tensor([4.0, 2.0, 0.0, 10.0])
    got = npmi(joint, count_u, count_t, n)
    want = [
        [ontology.npmi(float(joint[i, j]), float(count_u[i]), float(count_t[j]), n) for j in range(4)]
        for i in range(2)
    ]
    assert torch.allclose(got, torch.tensor(want), atol=1e-7)
    assert got[0, 0] == -1.0 and got[0, 2] == 0.0 and got[1, 3] == 1.0
    with pytest.raises(ontology.CountError):
        npmi(torch.tensor([[5.0]]), torch.tensor([4.0]), torch.tensor([5.0]), n)
