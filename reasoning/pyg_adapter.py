"""The reasoner as a PyG node-level model, so that ``torch_geometric.explain`` can wrap it.

:class:`~reasoning.gnn.ActivityGNN` takes dense input rows ``(B, 183)``; PyG's
:class:`~torch_geometric.explain.Explainer` calls ``model(x, edge_index)``. The adapter is
the thin module between them: every person is a node whose features are the person's input
row, and the node's outputs are the person's activity logits. Persons are independent (the
reasoner's message passing runs inside each person's own graph, :mod:`reasoning.gnn`), so
the adapter reads no edge; :func:`person_graph` gives PyG the empty ``edge_index`` it asks
for.

PyG's configuration (:func:`pyg_explainer`): ``explanation_type="model"``,
``node_mask_type="attributes"`` (one mask value per person and input channel),
``mode="multiclass_classification"`` with ``return_type="raw"`` and ``task_level="node"``:
PyG's target is then each person's ``argmax`` activity, i.e. the top-ranked one, and an
attribution explains that activity's logit. (The reasoner is multi-label, scored by a sigmoid
per activity; "multiclass" here only decides which output PyG explains. GNNExplainer's loss
is then a softmax cross-entropy over the 600 logits.)

>>> import torch
>>> from torch_geometric.explain import GNNExplainer
>>> from reasoning.reasoner import ActivityReasoner
>>> reasoner = ActivityReasoner.from_pretrained()
>>> x = torch.zeros(2, 183); x[:, [3, 37, 103 + 4]] = 1.0
>>> explainer = pyg_explainer(reasoner, GNNExplainer(epochs=5))
>>> explanation = explainer(*person_graph(x))
>>> tuple(explanation.node_mask.shape), explanation.target.tolist() == reasoner.logits(x).argmax(1).tolist()
((2, 183), True)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch_geometric.explain import (  # type: ignore[import-untyped, unused-ignore]
    Explainer,
    Explanation,
)
from torch_geometric.explain.algorithm import (  # type: ignore[import-untyped, unused-ignore]
    ExplainerAlgorithm,
)
from torch_geometric.explain.config import ModelConfig  # type: ignore[import-untyped, unused-ignore]

from ontology.errors import ReasoningError
from reasoning.gnn import ActivityGNN, GNNWeights
from reasoning.reasoner import ActivityReasoner

__all__ = ["GivenMask", "ReasonerAdapter", "pyg_explainer", "pyg_node_mask", "person_graph"]


class ReasonerAdapter(nn.Module):
    """A reasoner's model with PyG's ``forward(x, edge_index)`` signature.

    The GNN's person-independent weights (:meth:`ActivityGNN.weights`) are computed once, at
    construction, without gradients: explainers differentiate the logits with respect to the
    inputs only, never into the model's parameters. Build a new adapter after training.

    Args:
        reasoner: the reasoner to wrap (any model kind; only a GNN's weights are cached).

    Shapes:
        forward: ``x`` ``(N, 183)`` persons' input rows, ``edge_index`` ``(2, E)`` (ignored)
        -> ``(N, 600)`` logits.
    """

    def __init__(self, reasoner: ActivityReasoner) -> None:
        super().__init__()
        self.model = reasoner.model
        self.n_features = reasoner.layout.n_features
        self._weights: GNNWeights | None = None
        if isinstance(self.model, ActivityGNN):
            with torch.no_grad():
                self._weights = self.model.weights()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor | None = None) -> torch.Tensor:
        del edge_index  # persons are independent: no message crosses from one person to another
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ReasoningError(
                f"ReasonerAdapter: expected node features of shape (N, {self.n_features}) (one "
                f"input row per person), got {tuple(x.shape)}; build them with reasoning.encode_observations"
            )
        if isinstance(self.model, ActivityGNN):
            out: torch.Tensor = self.model(x, self._weights)
            return out
        out = self.model(x)
        return out


def person_graph(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PyG's ``(x, edge_index)`` for persons' input rows ``x`` ``(N, F)``: no edges.

    >>> person_graph(torch.zeros(3, 183))[1].shape
    torch.Size([2, 0])
    """
    return x, torch.zeros((2, 0), dtype=torch.long, device=x.device)


def pyg_explainer(reasoner: ActivityReasoner, algorithm: Any) -> Any:
    """``torch_geometric.explain.Explainer`` around :class:`ReasonerAdapter` (see the module
    docstring for the configuration). ``algorithm``: any node-mask ``ExplainerAlgorithm``
    (``GNNExplainer()``, ``CaptumExplainer("IntegratedGradients")``, :class:`GivenMask`)."""
    return Explainer(
        model=ReasonerAdapter(reasoner),
        algorithm=algorithm,
        explanation_type="model",
        node_mask_type="attributes",
        model_config=ModelConfig(mode="multiclass_classification", task_level="node", return_type="raw"),
    )


def pyg_node_mask(reasoner: ActivityReasoner, x: torch.Tensor, algorithm: Any) -> torch.Tensor:
    """Run a PyG explainer algorithm on persons ``x`` ``(N, 183)``; its node mask ``(N, 183)``.

    The mask explains each person's top-ranked activity (PyG's ``argmax`` target).
    """
    explanation = pyg_explainer(reasoner, algorithm)(*person_graph(x.float()))
    mask: torch.Tensor = explanation.node_mask.detach()
    if mask.shape != x.shape:
        raise ReasoningError(
            f"pyg_node_mask: {type(algorithm).__name__} gave a node mask of shape "
            f"{tuple(mask.shape)}, expected {tuple(x.shape)} (node_mask_type='attributes')"
        )
    return mask


class GivenMask(ExplainerAlgorithm):  # type: ignore[misc]
    """A PyG explainer algorithm that returns a node mask computed elsewhere.

    It lets PyG's metrics (``torch_geometric.explain.metric.fidelity``) score any
    explainer's selection: wrap the selection (e.g. a 0/1 top-k mask ``(N, 183)``) and call
    :func:`pyg_explainer` with it.

    >>> from torch_geometric.explain.metric import fidelity
    >>> reasoner = ActivityReasoner.from_pretrained()
    >>> x = torch.zeros(2, 183); x[:, [3, 37, 103 + 4]] = 1.0
    >>> explainer = pyg_explainer(reasoner, GivenMask(x.clone()))   # keep everything
    >>> fidelity(explainer, explainer(*person_graph(x)))            # (fid+, fid-)
    (1.0, 0.0)
    """

    def __init__(self, node_mask: torch.Tensor) -> None:
        super().__init__()
        self.node_mask = node_mask

    def forward(
        self,
        model: nn.Module,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        *,
        target: torch.Tensor,
        index: int | torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        del model, edge_index, target, index, kwargs
        if self.node_mask.shape != x.shape:
            raise ReasoningError(
                f"GivenMask: the mask has shape {tuple(self.node_mask.shape)}, the node features "
                f"{tuple(x.shape)}; pass one mask value per person and input channel"
            )
        return Explanation(node_mask=self.node_mask.to(x.device, x.dtype))

    def supports(self) -> bool:
        return True
