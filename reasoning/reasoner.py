"""ActivityReasoner: PersonObservation records in, ranked ActivityPrediction records out.

The user-facing wrapper around one trained reasoner (GNN or baseline): batching, CPU/GPU
placement, explanations as :class:`ontology.Explanation` records, and checkpoints that carry
their provenance.

A checkpoint is a folder::

    config.json   model kind and config, label orders (term ids in channel order), ontology
                  and library versions, training data, options and held-out metrics
    model.pt      weights and the training evidence counts (``torch.load(weights_only=True)``)
    README.md     the model card

>>> import ontology, reasoning
>>> onto = ontology.load()
>>> reasoner = ActivityReasoner.from_pretrained()     # the packaged default, no network
>>> obs = ontology.PersonObservation(image_id="img", person_id="0",
...     part_states={"hip: sit on": 1.0, "hand: hold": 1.0, "foot: tread on": 1.0},
...     objects=(ontology.DetectedObject("bicycle"),))
>>> best = reasoner.predict([obs], top_k=3)[0][0]
>>> best.activity in {"ride-bicycle", "sit_on-bicycle", "hold-bicycle", "straddle-bicycle"}
True
>>> c = best.explanation.contributions[0]      # the largest share: the object itself
>>> c.kind, c.term, c.edge                     # edge None: summed over every path
('object', 'bicycle', None)
>>> e = best.explanation                       # exact: baseline + weights + rest = logit
>>> logits = reasoner.logits(reasoning.encode_observations([obs]))[0]
>>> abs(e.logit - float(logits[onto.activities[best.activity].index])) < 1e-4
True
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
from ontology import ActivityPrediction, Ontology, PersonObservation
from ontology.errors import ReasoningError
from ontology.files import atomic_write, write_text_atomic
from reasoning._attribution import Attribution
from reasoning.baselines import LinearReasoner, MLPConfig, MLPReasoner, RuleConfig, RuleReasoner
from reasoning.batch import DEFAULT_MIN_SHARE, PredictionBatch, gc_paused
from reasoning.extended import ExtendedReasoner
from reasoning.features import InputLayout, encode_observations, input_layout
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


def _label_order(onto: Ontology) -> dict[str, list[str]]:
    return {
        "part_states": [t.id for t in onto.part_states],
        "body_parts": [t.id for t in onto.body_parts],
        "objects": [t.id for t in onto.objects],
        "verbs": [t.id for t in onto.verbs],
        "activities": [t.id for t in onto.activities],
    }


def _versions(onto: Ontology) -> dict[str, str]:
    import torch_geometric  # type: ignore[import-untyped, unused-ignore]

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


def _build(kind: str, config: dict[str, Any], evidence: Evidence, onto: Ontology) -> ReasonerModel:
    if kind == "gnn":
        return ActivityGNN(build_graph(evidence, None, onto), GNNConfig(**config))
    if kind == "mlp":
        return MLPReasoner(build_graph(None, None, onto), MLPConfig(**config))
    if kind == "rule":
        return RuleReasoner(build_graph(evidence, None, onto), RuleConfig(**config))
    return LinearReasoner(build_graph(None, None, onto))


#: The file a checkpoint trained on another ontology than the packaged one carries it in.
ONTOLOGY_FILE = "ontology.ttl"


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
        #: the ontology the model was built on (its channels and label order)
        self.ontology: Ontology = model.ontology
        self.layout = input_layout(self.ontology)
        self.evidence = evidence
        self.provenance = dict(provenance or {})
        self.name = name or _NAMES[self.kind]
        self.version = self._fingerprint()
        self._weights: GNNWeights | None = None
        self._method_name: str | None = None

    # ---- checkpoints -----------------------------------------------------------------

    def _fingerprint(self) -> str:
        digest = hashlib.sha256()
        for key, value in sorted(self.model.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        return f"{self.kind}-{digest.hexdigest()[:12]}"

    def save_pretrained(self, path: str | os.PathLike[str]) -> Path:
        """Write ``config.json``, ``model.pt`` and ``README.md`` (model card) into ``path``
        (created with its parents; each file atomically, :func:`ontology.files.atomic_write`),
        and ``ontology.ttl`` (the whole ontology) when it is not the packaged one."""
        from reasoning._model_card import model_card

        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        config = {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "kind": self.kind,
            "model_version": self.version,
            "config": _config_of(self.model),
            "ontology": {"id": self.ontology.id, "version": self.ontology.version},
            "label_order": _label_order(self.ontology),
            "versions": _versions(self.ontology),
            "provenance": self.provenance,
        }
        if self.ontology != ontology.load():
            write_text_atomic(out / ONTOLOGY_FILE, self.ontology.to_turtle())
        elif (out / ONTOLOGY_FILE).exists():
            (out / ONTOLOGY_FILE).unlink()
        write_text_atomic(out / "config.json", json.dumps(config, indent=1) + "\n")
        state = {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "evidence": self.evidence.to_state(),
        }
        with atomic_write(out / "model.pt", "wb") as fh:
            torch.save(state, fh)
        write_text_atomic(out / "README.md", model_card(config))
        return out

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike[str] | None = None, device: str = "cpu"
    ) -> ActivityReasoner:
        """Load a checkpoint folder (``None``: the packaged default GNN; no network).

        Raises:
            FileNotFoundError: the folder lacks ``config.json`` or ``model.pt``.
            ReasoningError: the checkpoint's format or label order does not match this install
                (an :class:`ontology.HakeError` and a ``ValueError``).
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
            raise ReasoningError(
                f"{folder}: checkpoint format {config.get('format_version')!r}, this version "
                f"reads format {FORMAT_VERSION}; re-train or upgrade hake-engine"
            )
        kind = config.get("kind")
        if kind not in MODELS:
            raise ReasoningError(f"{folder}: unknown model kind {kind!r}; expected one of {sorted(MODELS)}")
        onto = ontology.load()
        if (folder / ONTOLOGY_FILE).is_file():
            onto = ontology.read_ontology(
                (folder / ONTOLOGY_FILE).read_text(encoding="utf-8"), str(folder / ONTOLOGY_FILE)
            )
            recorded = config.get("ontology", {}).get("id")
            if recorded != onto.id:
                raise ReasoningError(
                    f"{folder}: config.json names ontology {recorded}, but {ONTOLOGY_FILE} holds {onto.id}; "
                    "the checkpoint's files do not belong together, save it again"
                )
        for key, ids in _label_order(onto).items():
            if config["label_order"].get(key) != ids:
                raise ReasoningError(
                    f"{folder}: the checkpoint's {key} order differs from this ontology "
                    f"(version {onto.version}); the checkpoint was trained on "
                    f"ontology {config['versions'].get('ontology')!r}, re-train it"
                )
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        evidence = Evidence.from_state(state["evidence"])
        model = _build(kind, config["config"], evidence, onto)
        if isinstance(model, ActivityGNN):
            model.take_edges(state["model"])
        model.load_state_dict(state["model"])
        reasoner = cls(model, evidence, config.get("provenance"), name=config.get("name"))
        return reasoner.to(device)

    def for_ontology(self, onto: Ontology) -> ActivityReasoner | ExtendedReasoner:
        """This reasoner for rows of ``onto``: itself for its own ontology when it has no
        composites, else an :class:`~reasoning.extended.ExtendedReasoner` that maps the shared
        terms, scores new activities zero-shot and composites by the hierarchy rule (``onto``
        must extend the checkpoint's ontology)."""
        if onto == self.ontology and not any(a.is_composite for a in onto.activities):
            return self
        return ExtendedReasoner(self, onto)

    def to(self, device: str | torch.device) -> ActivityReasoner:
        """Move the model (``"cpu"``, ``"cuda"``, ``"cuda:1"``); returns ``self``."""
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ReasoningError(f"device {str(device)!r} was asked for but CUDA is not available; use 'cpu'")
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
        lay = self.layout
        if x.ndim != 2 or x.shape[1] != lay.n_features:
            raise ReasoningError(
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
            else torch.zeros(0, self.layout.n_activities)
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

    @torch.no_grad()
    def attribute_terms(self, x: torch.Tensor, activities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Contributions of every input channel summed over paths, and the baseline logits.

        Shapes:
            x: ``(B, 183)``; activities: ``(B, K)``. Returns ``(B, K, 183)`` and ``(B, K)``.
        """
        x = x.to(self.device, torch.float32)
        activities = activities.to(self.device)
        if isinstance(self.model, ActivityGNN):
            return self.model.attribute_terms(x, activities, self._gnn_weights())
        attribution = self.model.attribute(x, activities)
        return attribution.total(), attribution.baseline

    # ---- predictions -------------------------------------------------------------------

    def predict_rows(
        self,
        x: torch.Tensor,
        top_k: int = 5,
        explain: bool = True,
        paths: bool = False,
        min_share: float = DEFAULT_MIN_SHARE,
        batch_size: int = 4096,
    ) -> PredictionBatch:
        """Each input row's ``top_k`` activities, best first, with explanations, as columns.

        Args:
            x: ``(P, 183)`` input rows (:func:`reasoning.encode_observations`,
                :func:`reasoning.encode_indexed`).
            top_k: predictions per person (1..600).
            explain: compute the explanations.
            paths: one contribution per (term, path) instead of one per term.
            min_share: keep a contribution when its absolute weight is at least this share
                of the prediction's attribution mass (0 keeps every non-zero one); the rest
                is summed into ``rest`` (see :mod:`reasoning.batch`).
            batch_size: rows scored at a time.

        The GNN's default explanations (``paths=False``) are computed at each row's non-zero
        channels only (:meth:`ActivityGNN.top_k_explained_sparse`); ``paths=True`` and the
        baselines use the dense ``(B, K, 183)`` contributions. Measured (2-core AMD EPYC VM,
        2 threads, load 0.7-1.0; 100,000 simulated persons of ``benchmarks/ingest.py``, top
        3): 100-115K persons/s explained, 165-200K without explanations.
        """
        check_prediction_options(self.layout, x, top_k, min_share)
        parts = [
            self._predict_chunk(chunk, top_k, explain, paths, float(min_share))
            for chunk in torch.split(x, batch_size)
        ] or [self._predict_chunk(x[:0], top_k, explain, paths, float(min_share))]
        return PredictionBatch.concat(parts)

    def _predict_chunk(
        self, x: torch.Tensor, top_k: int, explain: bool, paths: bool, min_share: float
    ) -> PredictionBatch:
        x = x.to(self.device, torch.float32)
        if explain and not paths and isinstance(self.model, ActivityGNN):
            return self._predict_chunk_sparse(self.model, x, top_k, min_share)
        top = self.logits(x).topk(top_k, dim=1)
        logit, indices = top.values, top.indices
        common = self._columns(indices, logit)
        if not explain:
            return PredictionBatch(**common)
        names: tuple[str, ...] = ()
        if paths:
            attribution = self.attribute(x, indices)
            names = tuple(attribution.paths)
            contrib = torch.stack([attribution.paths[n] for n in names])  # (Q, B, K, F)
            baseline, method = attribution.baseline, attribution.method
        else:
            total, baseline = self.attribute_terms(x, indices)
            contrib, method = total[None], self.attribution_method
        return batch_from_dense(common, contrib, baseline, method, names, min_share, top_k)

    def _columns(self, indices: torch.Tensor, logit: torch.Tensor) -> dict[str, Any]:
        lay = self.layout
        return {
            "model": self.name,
            "model_version": self.version,
            "activity_ids": lay.activity_ids,
            "activity_levels": lay.activity_levels,
            "channel_kinds": lay.channel_kinds,
            "channel_terms": lay.channel_terms,
            "activity": indices.cpu().numpy(),
            "score": torch.sigmoid(logit).cpu().numpy(),
        }

    def _predict_chunk_sparse(
        self, model: ActivityGNN, x: torch.Tensor, top_k: int, min_share: float
    ) -> PredictionBatch:
        """The GNN's explained predictions, contributions computed at each row's non-zero
        channels only (:meth:`ActivityGNN.top_k_explained_sparse`): the same kept
        contributions, order and ``rest`` as the dense selection (up to float32 rounding)."""
        logit, indices, channels, terms, baseline = model.top_k_explained_sparse(
            x, top_k, self._gnn_weights()
        )
        rest, offsets, channel, weight = _keep_sparse(channels, terms, min_share)
        return PredictionBatch(
            **self._columns(indices, logit),
            method=self.attribution_method,
            baseline=baseline.cpu().numpy(),
            rest=rest.cpu().numpy(),
            offsets=offsets.cpu().numpy(),
            channel=channel.to(torch.int16).cpu().numpy(),
            weight=weight.cpu().numpy(),
            path=np.full(len(channel), -1, dtype=np.int8),
            min_share=min_share,
        )

    @property
    def attribution_method(self) -> str:
        """How this reasoner explains (the ``method`` of its explanations), probed once."""
        if self._method_name is None:
            probe = torch.zeros(1, self.layout.n_features, device=self.device)
            self._method_name = self.attribute(probe, torch.zeros(1, 1, dtype=torch.long)).method
        return self._method_name

    def predict(
        self,
        observations: Sequence[PersonObservation],
        top_k: int = 5,
        explain: bool = True,
        paths: bool = False,
        min_share: float = DEFAULT_MIN_SHARE,
        batch_size: int = 4096,
    ) -> list[list[ActivityPrediction]]:
        """Predict each person's ``top_k`` activities, best first, with explanations.

        Records in, records out: :meth:`predict_rows` on the encoded observations, then
        :meth:`PredictionBatch.records <reasoning.batch.PredictionBatch.records>`. Measured
        as :meth:`predict_rows`: 28-37K persons/s (50,000 persons, encoding included).

        Returns:
            per person (same order), ``top_k`` :class:`ontology.ActivityPrediction` records.
            An explanation's contribution weights are exact shares of the activity's logit
            over the no-evidence baseline: with its ``rest`` they sum to
            ``logit(x) - logit(0)`` (``explanation.baseline``).
        """
        observations = list(observations)
        out: list[list[ActivityPrediction]] = []
        with gc_paused():
            for start in range(0, len(observations), batch_size):
                chunk = observations[start : start + batch_size]
                batch = self.predict_rows(
                    encode_observations(chunk, self.ontology), top_k, explain, paths, min_share, batch_size
                )
                out.extend(batch.records([(o.image_key, o.person_id) for o in chunk]))
        if not observations:  # still check the arguments
            self.predict_rows(torch.zeros(0, self.layout.n_features), top_k, explain, paths, min_share)
        return out


def check_prediction_options(lay: InputLayout, x: torch.Tensor, top_k: object, min_share: object) -> None:
    """Raise :class:`~ontology.ReasoningError` (a ``ValueError``) unless ``x`` is ``(B, F)``
    rows of layout ``lay``, ``top_k`` an int in ``1..n_activities`` and ``min_share`` a number
    in [0, 1]."""
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= lay.n_activities:
        raise ReasoningError(f"top_k must be an int in 1..{lay.n_activities}, got {top_k!r}")
    if not isinstance(min_share, int | float) or not 0.0 <= min_share <= 1.0:
        raise ReasoningError(f"min_share must be a number in [0, 1], got {min_share!r}")
    if x.ndim != 2 or x.shape[1] != lay.n_features:
        raise ReasoningError(
            f"expected inputs of shape (B, {lay.n_features}), got {tuple(x.shape)}; "
            f"build them with reasoning.encode_observations (and the rows' ontology)"
        )


def batch_from_dense(
    common: dict[str, Any],
    contrib: torch.Tensor,
    baseline: torch.Tensor,
    method: str,
    names: tuple[str, ...],
    min_share: float,
    top_k: int,
) -> PredictionBatch:
    """An explained batch from dense contributions ``(Q, B, K, F)`` (``Q`` paths, or 1 with
    ``names`` empty) and baselines ``(B, K)``: the contributions of at least ``min_share`` of
    a prediction's attribution mass are kept, by prediction and largest weight first; the
    others are summed into ``rest``."""
    mag = contrib.abs()
    mass = mag.sum(dim=(0, 3))  # (B, K)
    keep = mag >= torch.clamp(min_share * mass, min=torch.finfo(mag.dtype).tiny)[None, ..., None]
    rest = torch.where(keep, 0.0, contrib).sum(dim=(0, 3))
    q, b, k, f = keep.nonzero(as_tuple=True)
    weight = contrib[q, b, k, f]
    j = b * top_k + k
    # by prediction, then largest weight first: one sort on a composite key
    span = 2.0 * float(weight.abs().max()) + 1.0 if weight.numel() else 1.0
    order = torch.argsort(j.double() * span - weight.double(), stable=True)
    counts = torch.bincount(j, minlength=contrib.shape[1] * top_k)
    offsets = torch.zeros(counts.numel() + 1, dtype=torch.long, device=counts.device)
    offsets[1:] = counts.cumsum(0)
    path = q[order].to(torch.int8) if names else torch.full_like(q, -1, dtype=torch.int8)
    return PredictionBatch(
        **common,
        method=method,
        baseline=baseline.cpu().numpy(),
        rest=rest.cpu().numpy(),
        offsets=offsets.cpu().numpy(),
        channel=f[order].to(torch.int16).cpu().numpy(),
        weight=weight[order].cpu().numpy(),
        path=path.cpu().numpy(),
        paths=names,
        min_share=min_share,
    )


def _keep_sparse(
    channels: torch.Tensor, terms: torch.Tensor, min_share: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The kept contributions of contributions given at each row's channels (as the dense
    selection in ``_predict_chunk``: the channels left out contribute 0).

    Args:
        channels: ``(B, L)`` input channel of each position, ascending per row.
        terms: ``(B, K, L)`` contributions (0 at padding).

    Returns:
        ``rest (B, K)``, ``offsets (B*K + 1,)``, and the kept ``channel (C,)`` and ``weight
        (C,)``, by prediction and then largest weight first (ties: lower channel first).
    """
    mag = terms.abs()
    mass = mag.sum(dim=2)  # (B, K)
    keep = mag >= torch.clamp(min_share * mass, min=torch.finfo(mag.dtype).tiny)[..., None]
    rest = torch.where(keep, 0.0, terms).sum(dim=2)
    # per prediction, kept ones first, largest weight first; stable: ties keep channel order
    key, order = torch.where(keep, terms, -torch.inf).sort(dim=2, descending=True, stable=True)
    counts = keep.sum(dim=2)  # (B, K)
    offsets = torch.zeros(counts.numel() + 1, dtype=torch.long, device=terms.device)
    offsets[1:] = counts.reshape(-1).cumsum(0)
    first = torch.arange(terms.shape[2], device=terms.device) < counts[..., None]  # (B, K, L)
    at = first.reshape(-1).nonzero().squeeze(1)  # the kept positions, in output order
    n, k, width = order.shape
    channel = channels.gather(1, order.reshape(n, k * width)).reshape(-1).index_select(0, at)
    return rest, offsets, channel, key.reshape(-1).index_select(0, at)
