"""Training and the benchmark protocol: :func:`fit`, :func:`train`, :func:`evaluate`.

``evaluate`` is what ``hake eval`` runs: read a task, split it by image with a seed, drop
the unseen compositions from training, train one reasoner on the training side, score the
test side and return the metrics of :func:`reasoning.metrics.benchmark_metrics`.

``train`` trains one reasoner on *all* examples of one or more tasks (no split) and returns
an :class:`~reasoning.reasoner.ActivityReasoner`, saved to ``out_dir`` when given. The
packaged default checkpoint is ``train(data_dir, task=("hake-image", "hake-instance"),
model="gnn")``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ontology import Ontology
from ontology.errors import ReasoningError
from reasoning.baselines import LinearReasoner, MLPConfig, MLPReasoner, RuleConfig, RuleReasoner
from reasoning.embeddings import label_embeddings
from reasoning.gnn import ActivityGNN, GNNConfig
from reasoning.graph import Evidence, build_graph, composition_index
from reasoning.metrics import benchmark_metrics, check_ap
from reasoning.reasoner import MODELS, ActivityReasoner, ReasonerModel
from reasoning.tasks import TASKS, drop_unseen, load_task, read_unseen, split_by_image

__all__ = ["TrainOptions", "build_model", "default_options", "evaluate", "fit", "train"]


@dataclass(frozen=True)
class TrainOptions:
    """Optimisation settings (AdamW with a one-cycle learning rate, binary cross-entropy).

    Attributes:
        epochs: passes over the training examples (0 for the training-free rule model).
        batch_size: examples per step.
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
        seed: seeds parameter initialisation and batch order.
    """

    epochs: int = 15
    batch_size: int = 512
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ReasoningError(
                f"TrainOptions: expected epochs >= 0, batch_size >= 1 and lr > 0, got {self}"
            )


def default_options(model: str) -> TrainOptions:
    """The settings the benchmark uses for each model kind.

    The flat baselines get three times the GNN's steps (30 epochs of 256 against 15 of 512):
    with the GNN's budget they stop far from converged (hake-image seed 0: MLP 52.6 mAP with
    the GNN's budget, 77.2 with this one; linear 48.9 and 67.6).
    """
    _check_model(model)
    if model == "rule":
        return TrainOptions(epochs=0)
    if model == "linear":
        return TrainOptions(epochs=30, batch_size=256, lr=1e-2, weight_decay=0.0)
    if model == "mlp":
        return TrainOptions(epochs=30, batch_size=256, lr=3e-3, weight_decay=0.0)
    return TrainOptions(epochs=15)


def _check_model(model: str) -> str:
    if model not in MODELS:
        raise ReasoningError(f"unknown model {model!r}; expected one of {sorted(MODELS)}")
    return model


def build_model(
    model: str,
    evidence: Evidence,
    config: GNNConfig | MLPConfig | RuleConfig | None = None,
    onto: Ontology | None = None,
) -> ReasonerModel:
    """A fresh, untrained reasoner of kind ``model`` over the graph of ``onto`` (default
    packaged) built from ``evidence``.

    The GNN's node features are the MiniLM label embeddings.
    """
    _check_model(model)
    if model == "gnn":
        graph = build_graph(evidence, label_embeddings(onto), onto)
        if config is not None and not isinstance(config, GNNConfig):
            raise ReasoningError(f"model 'gnn' takes a GNNConfig, got {type(config).__name__}")
        return ActivityGNN(graph, config)
    graph = build_graph(evidence, None, onto)
    if model == "mlp":
        if config is not None and not isinstance(config, MLPConfig):
            raise ReasoningError(f"model 'mlp' takes an MLPConfig, got {type(config).__name__}")
        return MLPReasoner(graph, config)
    if model == "rule":
        if config is not None and not isinstance(config, RuleConfig):
            raise ReasoningError(f"model 'rule' takes a RuleConfig, got {type(config).__name__}")
        return RuleReasoner(graph, config)
    if config is not None:
        raise ReasoningError(f"model 'linear' takes no config, got {type(config).__name__}")
    return LinearReasoner(graph)


def _verb_targets(y: torch.Tensor, model: ActivityGNN) -> torch.Tensor:
    verb_of = composition_index(model.ontology)[0].to(y.device)
    atomic = verb_of >= 0
    verbs = y.new_zeros(y.shape[0], model.layout.n_verbs).index_add_(1, verb_of[atomic], y[:, atomic])
    return (verbs[:, model.used_verbs] > 0).to(y.dtype)


def _atomic_columns(model: nn.Module) -> torch.Tensor | None:
    """The label columns a model is trained on: every activity but the composites (scored
    from the activities under them, :mod:`reasoning.extended`); None when that is all."""
    onto = getattr(model, "ontology", None)
    if onto is None or not any(a.is_composite for a in onto.activities):
        return None
    return torch.tensor([a.index for a in onto.activities if not a.is_composite], dtype=torch.long)


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    options: TrainOptions | None = None,
    progress: bool = False,
) -> nn.Module:
    """Train ``model`` in place on inputs ``x`` ``(N, F)`` and labels ``y`` ``(N, A)`` in the
    channels of the model's ontology (183 and 600 for the packaged one).

    The GNN adds its auxiliary verb loss (``GNNConfig.verb_loss``). Composites' columns are
    not trained (they are scored from their members). Models without parameters (the rule
    reasoner) are returned unchanged. ``progress`` writes one line per epoch to stderr.
    """
    opts = options or TrainOptions()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params or opts.epochs == 0:
        return model.eval()
    gen = torch.Generator().manual_seed(opts.seed)
    n = x.shape[0]
    steps_per_epoch = math.ceil(n / opts.batch_size)
    opt = torch.optim.AdamW(params, lr=opts.lr, weight_decay=opts.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=opts.lr, total_steps=opts.epochs * steps_per_epoch
    )
    verb_y = _verb_targets(y, model) if isinstance(model, ActivityGNN) else None
    columns = _atomic_columns(model)
    if columns is not None:
        columns = columns.to(y.device)
    model.train()
    started = time.perf_counter()
    for epoch in range(opts.epochs):
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, opts.batch_size):
            idx = order[start : start + opts.batch_size].to(x.device)
            target = y[idx] if columns is None else y[idx][:, columns]
            if isinstance(model, ActivityGNN):
                logits, verb_logits = model.forward_with_verbs(x[idx])
                logits = logits if columns is None else logits[:, columns]
                loss = F.binary_cross_entropy_with_logits(logits, target)
                assert verb_y is not None
                loss = loss + model.config.verb_loss * F.binary_cross_entropy_with_logits(
                    verb_logits, verb_y[idx]
                )
            else:
                logits = model(x[idx])
                logits = logits if columns is None else logits[:, columns]
                loss = F.binary_cross_entropy_with_logits(logits, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call, unused-ignore]
            opt.step()
            sched.step()
            total += loss.item() * idx.numel()
        if progress:
            elapsed = time.perf_counter() - started
            left = elapsed / (epoch + 1) * (opts.epochs - epoch - 1)
            sys.stderr.write(
                f"epoch {epoch + 1}/{opts.epochs}  loss {total / n:.5f}  "
                f"{duration(elapsed)} elapsed, about {duration(left)} left\n"
            )
    return model.eval()


def duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``.

    >>> duration(4.2), duration(185), duration(3725)
    ('4 s', '3 min 05 s', '1 h 02 min')
    """
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _train_one(
    model: str,
    x: torch.Tensor,
    y: torch.Tensor,
    options: TrainOptions | None,
    config: GNNConfig | MLPConfig | RuleConfig | None,
    progress: bool,
    onto: Ontology | None = None,
) -> tuple[ReasonerModel, Evidence]:
    opts = options or default_options(model)
    torch.manual_seed(opts.seed)
    evidence = Evidence.from_examples(x.cpu(), y.cpu(), onto)
    net = build_model(model, evidence, config, onto).to(x.device)
    fit(net, x, y, opts, progress=progress)
    return net, evidence


def evaluate(
    data_dir: str | os.PathLike[str],
    task: str = "hake-image",
    model: str = "gnn",
    split_seed: int = 0,
    test_fraction: float = 0.2,
    unseen_file: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    progress: bool = False,
    options: TrainOptions | None = None,
    config: GNNConfig | MLPConfig | RuleConfig | None = None,
    ap: str = "sklearn",
) -> dict[str, Any]:
    """Run the benchmark protocol once and return JSON-ready metrics.

    Args:
        data_dir: folder with the HAKE archives (``../shared/datasets/hake``).
        task: one of :data:`reasoning.tasks.TASKS`.
        model: ``"gnn"``, ``"mlp"``, ``"linear"`` or ``"rule"``.
        split_seed, test_fraction: the split (:func:`reasoning.tasks.split_by_image`).
        unseen_file: activities to hold out of training (see :func:`reasoning.read_unseen`);
            :func:`reasoning.default_unseen_path` is the project's list of 120.
        device: ``"cpu"`` or a CUDA device (training and scoring run there).
        progress: write one line per epoch to stderr.
        options, config: override :func:`default_options` and the model's default config.
        ap: the AP convention (:data:`reasoning.metrics.AP_CONVENTIONS`; ``"voc"`` as
            HICO-DET's code), named in the result as ``ap``.

    Returns:
        ``mAP``, ``few@1``, ``few@5``, ``few@10``, ``unseen_mAP`` (``None`` without
        ``unseen_file``), ``n_classes``, ``train_seconds``, plus ``n_few@k``, ``n_unseen``,
        ``task``, ``model``, ``split_seed``, ``test_fraction``, ``n_train``, ``n_test``,
        ``test_seconds``. Metrics are percentages rounded to 0.01.

    Raises:
        ValueError: unknown task or model (the message lists the valid ones), bad fraction.
    """
    if task not in TASKS:
        raise ReasoningError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    _check_model(model)
    check_ap(ap)
    dev = _device(device)
    data = load_task(data_dir, task)
    split = split_by_image(data.groups, seed=split_seed, test_fraction=test_fraction)
    unseen = read_unseen(unseen_file) if unseen_file is not None else None
    train_idx = drop_unseen(split.train, data.y, unseen or [])
    x_train, y_train = data.x[train_idx], data.y[train_idx]

    start = time.perf_counter()
    net, _ = _train_one(model, x_train.to(dev), y_train.to(dev), options, config, progress)
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    with torch.no_grad():
        scores = torch.cat([net(data.x[chunk].to(dev)).cpu() for chunk in torch.split(split.test, 8192)])
    test_seconds = time.perf_counter() - start
    metrics = benchmark_metrics(
        scores.numpy(), data.y[split.test].numpy(), y_train.sum(0).numpy(), unseen, ap
    )
    metrics.update(
        train_seconds=round(train_seconds, 2),
        test_seconds=round(test_seconds, 3),
        task=task,
        model=model,
        split_seed=split_seed,
        test_fraction=test_fraction,
        unseen_file=None if unseen_file is None else str(unseen_file),
        n_train=int(train_idx.numel()),
        n_test=int(split.test.numel()),
    )
    return metrics


def _device(device: str) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ReasoningError(
            f"device {device!r} was asked for but CUDA is not available in this torch build; use device='cpu'"
        )
    return dev


def train(
    data_dir: str | os.PathLike[str],
    task: str | Sequence[str] = ("hake-image", "hake-instance"),
    model: str = "gnn",
    out_dir: str | os.PathLike[str] | None = None,
    options: TrainOptions | None = None,
    config: GNNConfig | MLPConfig | RuleConfig | None = None,
    device: str = "cpu",
    progress: bool = False,
    metrics: dict[str, Any] | None = None,
) -> ActivityReasoner:
    """Train a reasoner on every example of ``task`` (one task or several, concatenated).

    Args:
        data_dir: folder with the HAKE archives.
        task: a task name or a sequence of them; the default checkpoint uses both.
        model: ``"gnn"``, ``"mlp"``, ``"linear"`` or ``"rule"``.
        out_dir: where to :meth:`~ActivityReasoner.save_pretrained` the result (optional).
        options, config: training settings and model config (defaults per model).
        device: where to train; the returned reasoner is on the CPU.
        progress: write one line per epoch to stderr.
        metrics: held-out metrics to record in the checkpoint's provenance and model card.

    Returns:
        the trained :class:`ActivityReasoner`.
    """
    tasks = [task] if isinstance(task, str) else list(task)
    for t in tasks:
        if t not in TASKS:
            raise ReasoningError(f"unknown task {t!r}; expected one of {sorted(TASKS)}")
    _check_model(model)
    parts = [load_task(data_dir, t) for t in tasks]
    x = torch.cat([p.x for p in parts])
    y = torch.cat([p.y for p in parts])
    opts = options or default_options(model)
    start = time.perf_counter()
    dev = _device(device)
    net, evidence = _train_one(model, x.to(dev), y.to(dev), opts, config, progress)
    seconds = time.perf_counter() - start
    provenance: dict[str, Any] = {
        "training_data": {
            "tasks": tasks,
            "files": [TASKS[t] for t in tasks],
            "examples": int(x.shape[0]),
            "split": "none: every example of the tasks (no held-out data)",
            "licence": "HAKE annotations, MIT (SJTU MVIG, DirtyHarryLYL/HAKE)",
        },
        "training": {**asdict(opts), "seconds": round(seconds, 1)},
        "metrics": metrics or {},
    }
    reasoner = ActivityReasoner(net.cpu().eval(), evidence, provenance=provenance)
    if out_dir is not None:
        reasoner.save_pretrained(out_dir)
    return reasoner
