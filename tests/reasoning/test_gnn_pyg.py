"""PyGActivityGNN: the dense ActivityGNN's weights as PyG message passing (same logits), and
``torch_geometric.explain.Explainer`` wrapping it directly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch_geometric.explain import Explainer, GNNExplainer  # type: ignore[import-untyped, unused-ignore]
from torch_geometric.explain.algorithm import CaptumExplainer  # type: ignore[import-untyped, unused-ignore]

from ontology.errors import ReasoningError
from reasoning import ActivityGNN, ActivityReasoner
from reasoning.gnn_pyg import (
    OBSERVED_BODY_PART,
    OBSERVED_OBJECT,
    OBSERVED_PART_STATE,
    ObservationConv,
    PyGActivityGNN,
    person_batch,
)
from tests.reasoning.synthetic import tensors

MODEL_CONFIG = dict(mode="multiclass_classification", task_level="node", return_type="raw")


def _dense(reasoner: ActivityReasoner) -> ActivityGNN:
    model = reasoner.model
    assert isinstance(model, ActivityGNN)
    return model


@pytest.fixture(scope="module")
def packaged() -> ActivityGNN:
    return _dense(ActivityReasoner.from_pretrained())


def _rows() -> torch.Tensor:
    """Persons with part states, body parts and objects, probabilities and an empty row."""
    x, _ = tensors(64, seed=3)
    x[::3] *= 0.7  # detector-like probabilities
    x[5] = 0.0  # a person observed with nothing
    return x


def _assert_same_logits(dense: ActivityGNN, x: torch.Tensor) -> None:
    pyg = PyGActivityGNN.from_dense(dense).eval()
    with torch.no_grad():
        want = dense(x)
        got = pyg.logits(x)
    assert got.shape == want.shape
    # float32, the same terms summed in another order (|logits| reach ~20: the object gates
    # are ~15); measured at most 7.6e-6 on 10,000 HAKE rows
    assert float((got - want).abs().max()) <= 2e-5


def test_same_logits_packaged_checkpoint(packaged: ActivityGNN) -> None:
    _assert_same_logits(packaged, _rows())


def test_same_logits_packaged_checkpoint_on_hake_rows(packaged: ActivityGNN, hake_dir: Path) -> None:
    from reasoning import load_task

    x = load_task(hake_dir, "hake-image").x[:500]
    _assert_same_logits(packaged, x)


def test_same_logits_tiny_trained_gnn(trained_gnn: ActivityReasoner) -> None:
    _assert_same_logits(_dense(trained_gnn), _rows())


def test_ontology_states_are_the_dense_weights(packaged: ActivityGNN) -> None:
    """Message passing over the ontology graph gives exactly the dense edge-weight matrices."""
    pyg = PyGActivityGNN.from_dense(packaged)
    with torch.no_grad():
        w, s = packaged.weights(), pyg.ontology_states()
    lay = packaged.layout
    torch.testing.assert_close(s.part_state_evidence, w.act_input[lay.part_states], rtol=0, atol=0)
    torch.testing.assert_close(s.object_evidence, w.act_input[lay.objects], rtol=0, atol=0)
    assert not w.act_input[lay.active_parts].any()  # body parts have no direct edges
    torch.testing.assert_close(s.activity_query, w.act_query, rtol=0, atol=0)
    torch.testing.assert_close(torch.cat([s.part_state, s.body_part]), w.msg, rtol=0, atol=0)


def test_same_gradients_as_the_dense_model(trained_gnn: ActivityReasoner) -> None:
    """The PyG module is the same function of the same parameters: training it would too."""
    dense = _dense(trained_gnn)
    pyg = PyGActivityGNN.from_dense(dense)
    x = _rows()
    target = torch.randn(x.shape[0], 600)
    dense.zero_grad()
    (dense(x) * target).sum().backward()
    batch = person_batch(x)
    (pyg(batch.x_dict, batch.edge_index_dict, batch.edge_weight_dict) * target).sum().backward()
    used = dense.used_verbs
    pairs = [
        (dense.lin_part_state.weight, pyg.lin_part_state.weight),
        (dense.body_part_residual, pyg.body_part_residual),
        (dense.person_bias, pyg.person_bias),
        (dense.ps_verb_weight, pyg.ps_verb_weight),
        (dense.ps_act_weight, pyg.ps_act_weight),
        (dense.query[0].weight, pyg.query[0].weight),
        (dense.query_residual, pyg.query_residual),
        (dense.object_gate, pyg.object_gate),
        (dense.gate_residual, pyg.gate_residual),
        (dense.bias, pyg.bias),
    ]
    for want, got in pairs:
        assert want.grad is not None and got.grad is not None
        torch.testing.assert_close(got.grad, want.grad, atol=1e-4, rtol=1e-4)
    assert dense.verb_query_residual.grad is not None and pyg.verb_query_residual.grad is not None
    torch.testing.assert_close(
        pyg.verb_query_residual.grad[used], dense.verb_query_residual.grad, atol=1e-4, rtol=1e-4
    )
    dense.zero_grad()


def test_person_batch_is_the_nonzeros(packaged: ActivityGNN) -> None:
    x = torch.zeros(3, 183)
    x[0, [3, 95]] = torch.tensor([1.0, 0.25])  # a part state and a body part
    x[2, [37, 103 + 79]] = torch.tensor([0.5, 0.9])  # a part state and the last object
    batch = person_batch(x)
    assert batch["person"].x.shape == (3, 1)
    assert batch[OBSERVED_PART_STATE].edge_index.tolist() == [[3, 37], [0, 2]]
    assert batch[OBSERVED_BODY_PART].edge_index.tolist() == [[95 - 93], [0]]
    assert batch[OBSERVED_OBJECT].edge_index.tolist() == [[79], [2]]
    assert batch[OBSERVED_OBJECT].edge_weight.tolist() == pytest.approx([0.9])
    # the ontology graph is held once by the model, never copied into the batch
    assert set(batch.node_types) == {"person", "part_state", "body_part", "object"}
    with pytest.raises(ReasoningError, match=r"expected input rows of shape \(N, 183\)"):
        person_batch(torch.zeros(2, 10))


def test_forward_needs_person_nodes(packaged: ActivityGNN) -> None:
    pyg = PyGActivityGNN.from_dense(packaged)
    with pytest.raises(ReasoningError, match="x_dict needs 'person'"):
        pyg({}, {})
    with pytest.raises(ReasoningError, match="expected an ActivityGNN"):
        PyGActivityGNN.from_dense(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_observation_conv_weights_and_size() -> None:
    conv = ObservationConv()
    edge_index = torch.tensor([[0, 1], [1, 1]])
    out = conv(torch.tensor([[1.0], [2.0]]), edge_index, torch.tensor([3.0, 0.5]), size=(2, 3))
    assert out.tolist() == [[0.0], [4.0], [0.0]]
    with pytest.raises(ReasoningError, match="number of destination nodes is unknown"):
        conv(torch.ones(2, 1), edge_index)


def _two_persons() -> torch.Tensor:
    x = torch.zeros(2, 183)
    x[0, [3, 37, 95, 103 + 4]] = torch.tensor([1.0, 0.9, 0.6, 1.0])
    x[1, [40, 50, 103 + 41]] = torch.tensor([0.8, 0.5, 0.7])
    return x


def test_gnn_explainer_wraps_the_module(packaged: ActivityGNN) -> None:
    """PyG's Explainer takes the PyG module as it is: node and edge masks per type."""
    torch.manual_seed(0)
    pyg = PyGActivityGNN.from_dense(packaged).eval()
    batch = person_batch(_two_persons())
    explainer = Explainer(
        pyg,
        GNNExplainer(epochs=5),
        explanation_type="model",
        node_mask_type="attributes",
        edge_mask_type="object",
        model_config=MODEL_CONFIG,
    )
    explanation = explainer(
        batch.x_dict, batch.edge_index_dict, index=1, edge_weight_dict=batch.edge_weight_dict
    )
    assert explanation["person"].node_mask.shape == (2, 1)
    for key in batch.edge_types:
        assert explanation[key].edge_mask.shape == (batch[key].num_edges,)
    # the target is the explained person's top activity
    assert int(explanation.target[1]) == int(pyg.logits(_two_persons())[1].argmax())
    # only the explained person's edges can matter (persons share no message)
    mask = explanation[OBSERVED_PART_STATE].edge_mask
    assert not mask[batch[OBSERVED_PART_STATE].edge_index[1] == 0].any()


def test_integrated_gradients_over_observed_edges_are_complete(packaged: ActivityGNN) -> None:
    """CaptumExplainer('IntegratedGradients') on the observed edges: per person, the edge
    attributions add up to the difference of the logits at the path's two ends.

    PyG 2.8 passes a heterogeneous graph's Captum edge masks through a sigmoid, so the path
    runs from sigmoid(0) to sigmoid(1) times each observed value (see reasoning.gnn_pyg)."""
    pyg = PyGActivityGNN.from_dense(packaged).eval()
    x = _two_persons()
    batch = person_batch(x)
    with torch.no_grad():
        states = pyg.ontology_states()
    explainer = Explainer(
        pyg,
        CaptumExplainer("IntegratedGradients", n_steps=64),
        explanation_type="model",
        node_mask_type=None,
        edge_mask_type="object",
        model_config=MODEL_CONFIG,
    )
    persons = torch.tensor([0, 1])
    explanation = explainer(
        batch.x_dict,
        batch.edge_index_dict,
        index=persons,
        edge_weight_dict=batch.edge_weight_dict,
        states=states,
    )
    for key in batch.edge_types:
        assert explanation[key].edge_mask.shape == (batch[key].num_edges,)
    top = pyg.logits(x, states).argmax(1)

    def logit_at(scale: float) -> torch.Tensor:
        weights = {key: value * scale for key, value in batch.edge_weight_dict.items()}
        with torch.no_grad():
            out = pyg(batch.x_dict, batch.edge_index_dict, weights, states)
        return out[persons, top]

    lo, hi = torch.sigmoid(torch.tensor(0.0)), torch.sigmoid(torch.tensor(1.0))
    change = logit_at(float(hi)) - logit_at(float(lo))
    for person in persons.tolist():
        total = sum(
            float(explanation[key].edge_mask[batch[key].edge_index[1] == person].sum().detach())
            for key in batch.edge_types
        )
        assert total == pytest.approx(float(change[person]), rel=1e-3, abs=1e-3)
        # every observation of the person has an attribution, the objects' gates the largest
        obj = explanation[OBSERVED_OBJECT].edge_mask[batch[OBSERVED_OBJECT].edge_index[1] == person]
        assert float(obj.detach().abs().max()) > 1.0
