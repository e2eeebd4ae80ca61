"""ActivityReasoner: PersonObservation records in, ranked ActivityPrediction records out.

The user-facing wrapper around one trained reasoner (GNN or baseline): batching, CPU/GPU
placement, explanations as :class:`ontology.Explanation` records, and checkpoints that carry
their provenance.

A checkpoint is a folder::

    config.json   model kind and config, label orders (term ids in channel order), ontology
                  and library versions, training data, options and held-out metrics
    model.pt      weights and the training evidence counts (``torch.load(weights_only=True)``)
    README.md     the model card

>>> import ontology
>>> reasoner = ActivityReasoner.from_pretrained()     # the packaged default, no network
>>> obs = ontology.PersonObservation(image_id="img", person_id="0",
...     part_states={"hip: sit on": 1.0, "hand: hold": 1.0, "foot: tread on": 1.0},
...     objects=(ontology.DetectedObject("bicycle"),))
>>> best = reasoner.predict([obs], top_k=3)[0][0]
>>> best.activity in {"ride-bicycle", "sit_on-bicycle", "hold-bicycle", "straddle-bicycle"}
True
>>> c = best.explanation.contributions[0]      # the largest share: the object itself
>>> c.kind, c.term, c.edge
('object', 'bicycle', 'object->activity')
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import platform
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import ontology
from ontology import ActivityPrediction, Contribution, Explanation, PersonObservation
from reasoning._attribution import Attribution
from reasoning.baselines import LinearReasoner, MLPConfig, MLPReasoner, RuleConfig, RuleReasoner
from reasoning.features import (
    active_part_slice,
    encode_observations,
    input_layout,
    object_slice,
    part_state_slice,
)
from reasoning.gnn import ActivityGNN, GNNConfig, GNNWeights
from reasoning.graph import Evidence, build_graph

__all__ = ["FORMAT_VERSION", "MODELS", "ActivityReasoner", "ReasonerModel", "default_model_path"]

#: Version of the checkpoint layout written by :meth:`ActivityReasoner.save_pretrained`.
FORMAT_VERSION = 1

ReasonerModel = ActivityGNN | MLPReasoner | LinearReasoner | RuleReasoner

#: Model kinds and their classes.
MODELS: dict[str, type[ReasonerModel]] = {
    "gnn": ActivityGNN,
    "mlp": MLPReasoner,
    "linear": LinearReasoner,
    "rule": RuleReasoner,
}

_NAMES = {
    "gnn": "hake-activity-gnn",
    "mlp": "hake-activity-mlp",
    "linear": "hake-activity-linear",
    "rule": "hake-activity-rule",
}


def default_model_path() -> Path:
    """Folder of the packaged default checkpoint (an :class:`ActivityGNN`)."""
    return Path(str(resources.files("reasoning") / "data" / "activity-gnn"))


def _label_order() -> dict[str, list[str]]:
    onto = ontology.load()
    return {
        "part_states": [t.id for t in onto.part_states],
        "body_parts": [t.id for t in onto.body_parts],
        "objects": [t.id for t in onto.objects],
        "verbs": [t.id for t in onto.verbs],
        "activities": [t.id for t in onto.activities],
    }


def _versions() -> dict[str, str]:
    import torch_geometric  # type: ignore[import-untyped, unused-ignore]

    onto = ontology.load()
    return {
        "ontology": onto.version,
        "hake_engine": ontology.__version__,
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _config_of(model: nn.Module) -> dict[str, Any]:
    config = getattr(model, "config", None)
    return {} if config is None else dict(config.to_dict())


def _build(kind: str, config: dict[str, Any], evidence: Evidence) -> ReasonerModel:
    if kind == "gnn":
        return ActivityGNN(build_graph(evidence), GNNConfig(**config))
    if kind == "mlp":
        return MLPReasoner(None, MLPConfig(**config))
    if kind == "rule":
        return RuleReasoner(build_graph(evidence), RuleConfig(**config))
    return LinearReasoner()


class ActivityReasoner:
    """A trained reasoner that turns observations into explained activity predictions.

    Args:
        model: a trained :data:`ReasonerModel` (``ActivityGNN`` or a baseline).
        evidence: the training evidence the model's graph was built from.
        provenance: training data, options and metrics (stored in the checkpoint).
        name: the ``model`` field of predictions (default per kind).
    """

    def __init__(
        self,
        model: ReasonerModel,
        evidence: Evidence,
        provenance: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        kinds = {cls: kind for kind, cls in MODELS.items()}
        if type(model) not in kinds:
            raise TypeError(
                f"ActivityReasoner: expected one of {[c.__name__ for c in kinds]}, got {type(model).__name__}"
            )
        self.kind = kinds[type(model)]
        self.model = model.eval()
        self.evidence = evidence
        self.provenance = dict(provenance or {})
        self.name = name or _NAMES[self.kind]
        self.version = self._fingerprint()
        self._weights: GNNWeights | None = None

    # ---- checkpoints -----------------------------------------------------------------

    def _fingerprint(self) -> str:
        digest = hashlib.sha256()
        for key, value in sorted(self.model.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        return f"{self.kind}-{digest.hexdigest()[:12]}"

    def save_pretrained(self, path: str | os.PathLike[str]) -> Path:
        """Write ``config.json``, ``model.pt`` and ``README.md`` (model card) into ``path``."""
        from reasoning._model_card import model_card

        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        config = {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "kind": self.kind,
            "model_version": self.version,
            "config": _config_of(self.model),
            "label_order": _label_order(),
            "versions": _versions(),
            "provenance": self.provenance,
        }
        (out / "config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        state = {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "evidence": self.evidence.to_state(),
        }
        torch.save(state, out / "model.pt")
        (out / "README.md").write_text(model_card(config), encoding="utf-8")
        return out

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike[str] | None = None, device: str = "cpu"
    ) -> ActivityReasoner:
        """Load a checkpoint folder (``None``: the packaged default GNN; no network).

        Raises:
            FileNotFoundError: the folder lacks ``config.json`` or ``model.pt``.
            ValueError: the checkpoint's format or label order does not match this install.
        """
        folder = default_model_path() if path is None else Path(path)
        for name in ("config.json", "model.pt"):
            if not (folder / name).is_file():
                raise FileNotFoundError(
                    f"{folder} is not a reasoner checkpoint: {name} is missing; pass a folder "
                    f"written by ActivityReasoner.save_pretrained (or None for the default)"
                )
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if config.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{folder}: checkpoint format {config.get('format_version')!r}, this version "
                f"reads format {FORMAT_VERSION}; re-train or upgrade hake-engine"
            )
        kind = config.get("kind")
        if kind not in MODELS:
            raise ValueError(f"{folder}: unknown model kind {kind!r}; expected one of {sorted(MODELS)}")
        expected = _label_order()
        for key, ids in expected.items():
            if config["label_order"].get(key) != ids:
                raise ValueError(
                    f"{folder}: the checkpoint's {key} order differs from this ontology "
                    f"(version {ontology.load().version}); the checkpoint was trained on "
                    f"ontology {config['versions'].get('ontology')!r}, re-train it"
                )
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        evidence = Evidence.from_state(state["evidence"])
        model = _build(kind, config["config"], evidence)
        model.load_state_dict(state["model"])
        reasoner = cls(model, evidence, config.get("provenance"), name=config.get("name"))
        return reasoner.to(device)

    def to(self, device: str | torch.device) -> ActivityReasoner:
        """Move the model (``"cpu"``, ``"cuda"``, ``"cuda:1"``); returns ``self``."""
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} was asked for but CUDA is not available; use 'cpu'")
        self.model.to(dev)
        self._weights = None
        return self

    @property
    def device(self) -> torch.device:
        for tensor in itertools.chain(self.model.parameters(), self.model.buffers()):
            return tensor.device
        return torch.device("cpu")  # pragma: no cover - every reasoner has a tensor

    # ---- scoring -------------------------------------------------------------------------

    def _gnn_weights(self) -> GNNWeights | None:
        if isinstance(self.model, ActivityGNN):
            if self._weights is None:
                with torch.no_grad():
                    self._weights = self.model.weights()
            return self._weights
        return None

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Activity logits of input rows (see :mod:`reasoning.features`).

        Shapes:
            ``(B, 183)`` -> ``(B, 600)``, on the reasoner's device.
        """
        lay = input_layout()
        if x.ndim != 2 or x.shape[1] != lay.n_features:
            raise ValueError(
                f"expected inputs of shape (B, {lay.n_features}), got {tuple(x.shape)}; "
                f"build them with reasoning.encode_observations"
            )
        x = x.to(self.device, torch.float32)
        if isinstance(self.model, ActivityGNN):
            out: torch.Tensor = self.model(x, self._gnn_weights())
            return out
        out = self.model(x)
        return out

    def scores(self, x: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
        """Activity probabilities ``(B, 600)`` on the CPU, computed in batches."""
        return (
            torch.cat([torch.sigmoid(self.logits(chunk)).cpu() for chunk in torch.split(x, batch_size)])
            if x.shape[0]
            else torch.zeros(0, input_layout().n_activities)
        )

    @torch.no_grad()
    def attribute(self, x: torch.Tensor, activities: torch.Tensor) -> Attribution:
        """Per-path contributions of every input channel to the given activities' logits.

        Shapes:
            x: ``(B, 183)``; activities: ``(B, K)`` indices. Tensors of the result:
            ``(B, K, 183)`` per path, ``(B, K)`` baseline.
        """
        x = x.to(self.device, torch.float32)
        activities = activities.to(self.device)
        if isinstance(self.model, ActivityGNN):
            return self.model.attribute(x, activities, self._gnn_weights())
        return self.model.attribute(x, activities)

    # ---- records -------------------------------------------------------------------------

    def predict(
        self,
        observations: Sequence[PersonObservation],
        top_k: int = 5,
        explain: bool = True,
        batch_size: int = 4096,
        min_contribution: float = 1e-4,
    ) -> list[list[ActivityPrediction]]:
        """Predict each person's ``top_k`` activities, best first, with explanations.

        Args:
            observations: one record per person.
            top_k: predictions per person (1..600).
            explain: attach an :class:`ontology.Explanation` to every prediction.
            batch_size: persons scored per batch.
            min_contribution: contributions smaller than this (in logit units) are left out.

        Returns:
            per person (same order), ``top_k`` :class:`ontology.ActivityPrediction` records.
            An explanation's contribution weights are exact shares of the activity's logit
            over the no-evidence baseline: they sum to ``logit(x) - logit(0)``.
        """
        lay = input_layout()
        if not isinstance(top_k, int) or not 1 <= top_k <= lay.n_activities:
            raise ValueError(f"top_k must be an int in 1..{lay.n_activities}, got {top_k!r}")
        observations = list(observations)
        out: list[list[ActivityPrediction]] = []
        for start in range(0, len(observations), batch_size):
            chunk = observations[start : start + batch_size]
            x = encode_observations(chunk)
            probs = torch.sigmoid(self.logits(x)).cpu()
            top = probs.topk(top_k, dim=1)
            attribution = self.attribute(x, top.indices) if explain else None
            out.extend(self._records(chunk, top.values, top.indices, attribution, min_contribution))
        return out

    def _records(
        self,
        observations: Sequence[PersonObservation],
        values: torch.Tensor,
        indices: torch.Tensor,
        attribution: Attribution | None,
        min_contribution: float,
    ) -> list[list[ActivityPrediction]]:
        onto = ontology.load()
        acts = onto.activities
        # input channel -> (kind, term id)
        channel: list[tuple[str, str]] = []
        for kind, sl, vocab in (
            ("part_state", part_state_slice(), onto.part_states),
            ("body_part", active_part_slice(), onto.body_parts),
            ("object", object_slice(), onto.objects),
        ):
            channel.extend((kind, vocab[i].id) for i in range(sl.stop - sl.start))
        n_persons, n_top = indices.shape
        found: list[list[list[Contribution]]] = [[[] for _ in range(n_top)] for _ in range(n_persons)]
        if attribution is not None:
            for edge, tensor in attribution.paths.items():
                array = tensor.cpu().numpy()
                for b, k, j in zip(*np.nonzero(np.abs(array) >= min_contribution), strict=True):
                    kind, term = channel[j]
                    found[b][k].append(Contribution(kind, term, float(array[b, k, j]), edge))
        vals = values.numpy()
        idx = indices.numpy()
        result: list[list[ActivityPrediction]] = []
        for b, obs in enumerate(observations):
            row: list[ActivityPrediction] = []
            for k in range(n_top):
                activity = acts[int(idx[b, k])].id
                score = float(vals[b, k])
                explanation = None
                if attribution is not None:
                    explanation = Explanation(activity, attribution.method, tuple(found[b][k]), score)
                row.append(
                    ActivityPrediction(
                        image_id=obs.image_id,
                        person_id=obs.person_id,
                        activity=activity,
                        score=score,
                        model=self.name,
                        model_version=self.version,
                        explanation=explanation,
                    )
                )
            result.append(row)
        return result
