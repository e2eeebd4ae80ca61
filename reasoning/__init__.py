"""Reasoning: part-state observations -> activities with explanations (a GNN over the ontology).

Imports ``ontology`` only (plus torch, torch-geometric, numpy; sentence-transformers when
label embeddings are computed for training). Records in, records out:

>>> import ontology, reasoning
>>> reasoner = reasoning.ActivityReasoner.from_pretrained()      # packaged default GNN
>>> obs = ontology.PersonObservation(image_id="img", person_id="0",
...     part_states={"hand: hold": 1.0}, objects=(ontology.DetectedObject("cup"),))
>>> [p.activity for p in reasoner.predict([obs], top_k=2)[0]][0].endswith("-cup")
True

Benchmark (what ``hake eval`` runs): ``reasoning.evaluate(data_dir, task="hake-image",
model="gnn", split_seed=0, unseen_file=reasoning.default_unseen_path())``.
Training: ``reasoning.train(data_dir, task, model, out_dir=...)``. Another vocabulary:
``reasoning.fine_tune(reasoner, ontology.load("mine.yaml"), x, y)`` carries a checkpoint onto
an extended ontology and fine-tunes it (:mod:`~reasoning.adapt`);
``reasoning.evaluate_novel_verbs(data_dir)`` is the novel-verb protocol (:mod:`~reasoning.novel`).

Modules: :mod:`~reasoning.graph` (the ``HeteroData`` activity graph and its evidence),
:mod:`~reasoning.gnn` (``ActivityGNN``, dense: the fast path the reasoner runs),
:mod:`~reasoning.gnn_pyg` (``PyGActivityGNN.from_dense(model)``: the same weights and logits as
PyG ``MessagePassing``/``HeteroConv`` over the ontology graph and a person batch,
``person_batch(x)``, which ``torch_geometric.explain.Explainer`` wraps directly),
:mod:`~reasoning.baselines` (linear, MLP, rule),
:mod:`~reasoning.reasoner` (``ActivityReasoner``), :mod:`~reasoning.batch`
(``PredictionBatch``: predictions and explanations as columns, and their granularity),
:mod:`~reasoning.training` (``fit``/``train``/``evaluate``), :mod:`~reasoning.adapt` (a
checkpoint on another ontology: ``transfer``, ``fine_tune``), :mod:`~reasoning.novel` (the
novel-verb protocol), :mod:`~reasoning.pairing` (which object instance each activity concerns:
``PairingModel`` over a PyG bipartite graph of an image's persons and instances, and the
``hicodet-pairs`` protocol, ``reasoning.evaluate_pairs(data_dir)``), :mod:`~reasoning.fidelity`
(explanation fidelity curves against other explainers; ``benchmarks/explanations.py``) with
:mod:`~reasoning.pyg_adapter` (``torch_geometric.explain.Explainer`` wraps a reasoner),
:mod:`~reasoning.temporal` (``TemporalReasoner``: a track's per-frame part states -> per-frame
scores, segments and a clip label, with exact explanations; designs compared on tracks
SIMULATED from HAKE persons by :mod:`~reasoning.simulation`, ``benchmarks/temporal.py``),
:mod:`~reasoning.tasks` (HAKE tasks, splits, unseen lists), :mod:`~reasoning.video_eval`
(video protocols read from files: the Kinetics-TPS part-state metric, ``evaluate_tps``, and
clip-level top-k accuracy, ``clip_topk``), :mod:`~reasoning.metrics`,
:mod:`~reasoning.faithfulness`, :mod:`~reasoning.features`, :mod:`~reasoning.embeddings`.
"""

from __future__ import annotations

from reasoning._attribution import Attribution
from reasoning.adapt import fine_tune, transfer
from reasoning.baselines import LinearReasoner, MLPConfig, MLPReasoner, RuleConfig, RuleReasoner
from reasoning.batch import DEFAULT_MIN_SHARE, PredictionBatch
from reasoning.embeddings import label_embeddings
from reasoning.faithfulness import DeletionResult, deletion_test
from reasoning.features import encode_indexed, encode_labels, encode_observations
from reasoning.gnn import ActivityGNN, GNNConfig
from reasoning.gnn_pyg import PyGActivityGNN, person_batch
from reasoning.graph import (
    BODY_PART_TO_VERB,
    OBJECT_TO_ACTIVITY,
    PART_STATE_TO_ACTIVITY,
    PART_STATE_TO_VERB,
    VERB_TO_ACTIVITY,
    Evidence,
    build_graph,
)
from reasoning.metrics import average_precision, benchmark_metrics
from reasoning.novel import default_novel_verbs_path, evaluate_novel_verbs, read_novel_verbs
from reasoning.pairing import PAIR_TASK, PairingConfig, PairingModel, evaluate_pairs, fit_pairing, pair_graph
from reasoning.pyg_adapter import ReasonerAdapter, pyg_explainer
from reasoning.reasoner import MODELS, ActivityReasoner, default_model_path
from reasoning.simulation import NOISE_LEVELS, NoiseLevel, ScriptConfig, SimulatedTracks, simulate_tracks
from reasoning.tasks import TASKS, default_unseen_path, load_task, read_unseen, split_by_image
from reasoning.temporal import (
    DESIGNS,
    Segment,
    SegmentExplanation,
    TemporalConfig,
    TemporalReasoner,
    TemporalResult,
    TemporalStream,
    TrackBatch,
    encode_tracks,
    evaluate_temporal,
    train_temporal,
)
from reasoning.training import TrainOptions, default_options, evaluate, fit, train
from reasoning.video_eval import (
    ClipScores,
    ClipTopKResult,
    TPSPart,
    TPSPerson,
    TPSPersonPrediction,
    TPSResult,
    TPSVideo,
    TPSVideoPrediction,
    clip_topk,
    evaluate_tps,
    read_clip_scores,
    read_tps_ground_truth,
    read_tps_predictions,
)

__all__ = [
    "BODY_PART_TO_VERB",
    "DEFAULT_MIN_SHARE",
    "DESIGNS",
    "MODELS",
    "NOISE_LEVELS",
    "OBJECT_TO_ACTIVITY",
    "PAIR_TASK",
    "PART_STATE_TO_ACTIVITY",
    "PART_STATE_TO_VERB",
    "TASKS",
    "VERB_TO_ACTIVITY",
    "ActivityGNN",
    "ActivityReasoner",
    "Attribution",
    "ClipScores",
    "ClipTopKResult",
    "DeletionResult",
    "Evidence",
    "GNNConfig",
    "LinearReasoner",
    "MLPConfig",
    "MLPReasoner",
    "NoiseLevel",
    "PairingConfig",
    "PairingModel",
    "PredictionBatch",
    "PyGActivityGNN",
    "ReasonerAdapter",
    "RuleConfig",
    "RuleReasoner",
    "ScriptConfig",
    "Segment",
    "SegmentExplanation",
    "SimulatedTracks",
    "TPSPart",
    "TPSPerson",
    "TPSPersonPrediction",
    "TPSResult",
    "TPSVideo",
    "TPSVideoPrediction",
    "TemporalConfig",
    "TemporalReasoner",
    "TemporalResult",
    "TemporalStream",
    "TrackBatch",
    "TrainOptions",
    "average_precision",
    "benchmark_metrics",
    "build_graph",
    "clip_topk",
    "default_model_path",
    "default_novel_verbs_path",
    "default_options",
    "default_unseen_path",
    "deletion_test",
    "encode_indexed",
    "encode_labels",
    "encode_observations",
    "encode_tracks",
    "evaluate",
    "evaluate_novel_verbs",
    "evaluate_pairs",
    "evaluate_temporal",
    "evaluate_tps",
    "fine_tune",
    "fit",
    "fit_pairing",
    "label_embeddings",
    "load_task",
    "pair_graph",
    "person_batch",
    "pyg_explainer",
    "read_clip_scores",
    "read_novel_verbs",
    "read_tps_ground_truth",
    "read_tps_predictions",
    "read_unseen",
    "simulate_tracks",
    "split_by_image",
    "train",
    "train_temporal",
    "transfer",
]
