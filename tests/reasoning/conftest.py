from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from reasoning import ActivityGNN, ActivityReasoner, Evidence, GNNConfig, TrainOptions, fit
from reasoning.graph import build_graph
from tests.reasoning.synthetic import tensors


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def synthetic() -> tuple[torch.Tensor, torch.Tensor]:
    """600 synthetic training examples (inputs, labels)."""
    return tensors(600, seed=0)


@pytest.fixture(scope="session")
def evidence(synthetic: tuple[torch.Tensor, torch.Tensor]) -> Evidence:
    return Evidence.from_examples(*synthetic)


@pytest.fixture(scope="session")
def trained_gnn(synthetic: tuple[torch.Tensor, torch.Tensor], evidence: Evidence) -> ActivityReasoner:
    """A small GNN (random node features, no MiniLM) trained on the synthetic data."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    graph = build_graph(evidence, {"part_state": torch.randn(93, 384), "verb": torch.randn(157, 384)})
    model = ActivityGNN(graph, GNNConfig(hidden=4, query_hidden=8))
    fit(model, *synthetic, TrainOptions(epochs=30, batch_size=64, lr=1e-2))
    return ActivityReasoner(model, evidence)
