"""The novel-vocabulary protocol: verbs the checkpoint never knew, added back as an extension.

What ``hake eval --novel-verbs FILE`` runs (:func:`evaluate_novel_verbs`), on one HAKE task:

1. **Split** the task by image (:func:`reasoning.split_by_image`, seed ``split_seed``).
2. **The checkpoint's ontology** ``B`` is the packaged ontology without the listed verbs and
   every activity of theirs (:meth:`ontology.Ontology.without_verbs`); every training
   example that carries one of those activities is removed. A GNN is trained on ``B``.
3. **The extension.** The verbs and their activities are written as an extension file
   (YAML, :mod:`ontology.extension`: each verb's name, each activity's verb and object) and
   loaded onto ``B``: ``T = B + extension``, the new terms after ``B``'s, as a user's would be.
4. **Zero-shot.** The checkpoint is carried onto ``T`` (:func:`reasoning.adapt.transfer`):
   a new verb is read through its label embedding and a new activity by its verb and object.
   The new activities' test mAP is the zero-shot number. The rule of
   :class:`reasoning.extended.ExtendedReasoner` (what ``ActivityReasoner.for_ontology``
   gives, with no part-state definitions in the file) is reported beside it.
5. **Few-shot.** For each ``k`` in ``shots``, ``k`` training images per new activity are
   drawn (seeded, from the training side's images that carry it; an image drawn for one
   activity brings all its labels), their counts are added to the evidence and the carried
   model is fine-tuned on the ``B`` training examples plus those images (repeated so that they
   are about :data:`SHOT_SHARE` of an epoch) for ``fine_tune.epochs`` epochs, the rows of the
   terms ``B`` lacks learning ``new_term_lr`` times faster (:func:`reasoning.adapt.fit_new_terms`).
6. **Seen activities**: ``B``'s activities' test mAP before (the checkpoint) and after each
   fine-tuning, to see what learning the new verbs costs the old ones.

The default verb list (:func:`default_novel_verbs_path`, 12 verbs) is
``choose_novel_verbs(ontology.load())``: verbs with 3 to 20 activities, shuffled with
``numpy.random.default_rng(0)``, the first 12 (a verb like "hold", with 61 activities, would
dominate the numbers).

>>> verbs = read_novel_verbs(default_novel_verbs_path())
>>> len(verbs), verbs == choose_novel_verbs(ontology.load())
(12, True)
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ontology
from ontology import Ontology
from ontology.errors import ReasoningError
from reasoning.adapt import FINE_TUNE, NEW_TERM_LR, fit_new_terms, transfer
from reasoning.extended import ExtendedReasoner
from reasoning.gnn import ActivityGNN
from reasoning.graph import Evidence
from reasoning.metrics import check_ap, per_class_ap
from reasoning.reasoner import ActivityReasoner
from reasoning.tasks import TASKS, drop_unseen, load_task, read_term_list, split_by_image
from reasoning.training import TrainOptions, _device, _train_one

__all__ = [
    "SHOT_SHARE",
    "choose_novel_verbs",
    "default_novel_verbs_path",
    "evaluate_novel_verbs",
    "novel_extension_yaml",
    "read_novel_verbs",
]

#: The share of a fine-tuning epoch the few-shot images make up (by repeating them).
SHOT_SHARE = 0.05


def default_novel_verbs_path() -> Path:
    """The project's default list of 12 novel verbs (``reasoning/data/novel_verbs_12.txt``)."""
    return Path(str(resources.files("reasoning") / "data" / "novel_verbs_12.txt"))


def choose_novel_verbs(
    onto: Ontology, n: int = 12, seed: int = 0, min_activities: int = 3, max_activities: int = 20
) -> list[str]:
    """``n`` verb ids of ``onto`` with ``min_activities..max_activities`` activities, chosen
    by ``numpy.random.default_rng(seed).permutation`` of the eligible verbs (in channel
    order); returned in channel order."""
    per_verb: dict[str, int] = {}
    for a in onto.activities:
        if a.verb is not None:
            per_verb[a.verb] = per_verb.get(a.verb, 0) + 1
    eligible = [v.id for v in onto.verbs if min_activities <= per_verb.get(v.id, 0) <= max_activities]
    if len(eligible) < n:
        raise ReasoningError(
            f"choose_novel_verbs: {n} verbs wanted, only {len(eligible)} have "
            f"{min_activities}..{max_activities} activities"
        )
    order = np.random.default_rng(seed).permutation(len(eligible))[:n]
    return sorted((eligible[i] for i in order.tolist()), key=lambda v: onto.verbs[v].index)


def read_novel_verbs(path: str | os.PathLike[str], onto: Ontology | None = None) -> list[str]:
    """Verb ids listed in a file (one id or name per line; ``#`` comments and blank lines
    skipped), checked against ``onto`` (default packaged), in channel order."""
    onto = ontology.load() if onto is None else onto
    found = read_term_list(path, "novel-verb", "a verb id or name", lambda text: onto.verbs[text].id)
    return sorted(set(found), key=lambda v: onto.verbs[v].index)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def novel_extension_yaml(onto: Ontology, verbs: Sequence[str], name: str = "novel-verbs") -> str:
    """The extension file that adds ``verbs`` and their activities (as ``onto`` defines them)
    back onto ``onto.without_verbs(verbs)``: names, synonyms and descriptions only (no
    part-state definitions: nothing the checkpoint could not know)."""
    lines = [
        "hake_extension: 1",
        f"name: {name}",
        "version: 1.0.0",
        "description: verbs held out of training, added back for the novel-verb protocol",
        "verbs:",
    ]
    for v in verbs:
        verb = onto.verbs[v]
        lines.append(f"  - name: {_quote(verb.name)}")
        if verb.synonyms:
            lines.append(f"    synonyms: [{', '.join(_quote(s) for s in verb.synonyms)}]")
    lines.append("activities:")
    wanted = set(verbs)
    for a in onto.activities:
        if a.verb in wanted:
            assert a.object is not None
            lines.append(f"  - name: {_quote(a.name)}")
            lines.append(f"    verb: {_quote(onto.verbs[a.verb].name)}")
            lines.append(f"    object: {_quote(onto.objects[a.object].name)}")
    return "\n".join(lines) + "\n"


def _columns(source: Ontology, target: Ontology) -> torch.Tensor:
    """For each activity of ``target``, its column in ``source``'s labels (matched by verb and
    object)."""
    cols = []
    for a in target.activities:
        assert a.verb is not None
        cols.append(source.activities.by_verb_object(a.verb, a.object).index)
    return torch.tensor(cols, dtype=torch.long)


def _map(aps: np.ndarray, mask: np.ndarray) -> float | None:
    chosen = aps[mask & ~np.isnan(aps)]
    return None if chosen.size == 0 else round(float(chosen.mean()) * 100.0, 2)


def _scores(model: Any, x: torch.Tensor, dev: torch.device) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([torch.sigmoid(model(c.to(dev))).cpu() for c in torch.split(x, 8192)]).numpy()


def evaluate_novel_verbs(
    data_dir: str | os.PathLike[str],
    verbs_file: str | os.PathLike[str] | None = None,
    task: str = "hake-image",
    split_seed: int = 0,
    test_fraction: float = 0.2,
    shots: Sequence[int] = (1, 5, 10),
    options: TrainOptions | None = None,
    fine_tune: TrainOptions | None = None,
    device: str = "cpu",
    progress: bool = False,
    out_dir: str | os.PathLike[str] | None = None,
    language_prior: bool = True,
    ap: str = "sklearn",
    new_term_lr: float = NEW_TERM_LR,
) -> dict[str, Any]:
    """Run the novel-verb protocol (module docstring) and return JSON-ready metrics.

    Args:
        data_dir: folder with the HAKE archives.
        verbs_file: the verbs to hold out (default :func:`default_novel_verbs_path`).
        task, split_seed, test_fraction: as :func:`reasoning.evaluate`.
        shots: the few-shot sizes (images per new activity).
        options: the base model's training (default: the GNN's benchmark settings).
        fine_tune: the fine-tuning (default :data:`reasoning.adapt.FINE_TUNE`: 3 epochs
            of 512 at lr 1e-3).
        device: where to train and score.
        progress: one line per stage and epoch on stderr.
        out_dir: keep the base checkpoint (``base/``) and the extension file there.
        ap: the AP convention (:data:`reasoning.metrics.AP_CONVENTIONS`), named as ``ap``.
        language_prior: give new verbs the language prior of
            :func:`reasoning.adapt.transfer` (False: no evidence edges until examples).
        new_term_lr: how many times larger the fine-tuning steps are on the new terms' rows
            (default :data:`reasoning.adapt.NEW_TERM_LR`; 1: every row alike).

    Returns:
        ``verbs``, ``n_novel_activities`` (with a test positive: ``n_novel_test``),
        ``zero_shot_mAP`` (GNN carried over), ``zero_shot_rule_mAP``, ``few_shot`` (per
        ``k``: ``novel_mAP``, ``seen_mAP``, ``n_images``), ``seen_mAP_before``, the split and
        timing fields. Percentages rounded to 0.01.
    """
    if task not in TASKS:
        raise ReasoningError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    check_ap(ap)
    if any(not isinstance(k, int) or k < 1 for k in shots):
        raise ReasoningError(f"shots must be positive ints, got {list(shots)}")
    if not new_term_lr >= 0:
        raise ReasoningError(f"new_term_lr must be >= 0 (1: every row alike), got {new_term_lr!r}")
    started = time.perf_counter()
    packaged = ontology.load()
    verbs = read_novel_verbs(default_novel_verbs_path() if verbs_file is None else verbs_file, packaged)
    dev = _device(device)

    def say(text: str) -> None:
        if progress:
            import sys

            sys.stderr.write(f"[novel-verbs {time.perf_counter() - started:6.0f} s] {text}\n")

    data = load_task(data_dir, task)
    split = split_by_image(data.groups, seed=split_seed, test_fraction=test_fraction)
    base_onto = packaged.without_verbs(verbs, "novel-verbs-held-out")
    held_out = set(verbs)
    novel_cols = torch.tensor([a.index for a in packaged.activities if a.verb in held_out], dtype=torch.long)
    train_idx = drop_unseen(split.train, data.y, novel_cols.tolist())
    base_cols = _columns(packaged, base_onto)
    x_train, y_train = data.x[train_idx], data.y[train_idx][:, base_cols]
    say(f"training the base GNN on {len(train_idx)} examples, {len(base_onto.activities)} activities")
    net, evidence = _train_one("gnn", x_train.to(dev), y_train.to(dev), options, None, progress, base_onto)
    assert isinstance(net, ActivityGNN)
    base = ActivityReasoner(net.cpu().eval(), evidence, {"protocol": "novel-verbs", "verbs": verbs})

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(out_dir) if out_dir is not None else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        ext_path = folder / "novel-verbs.yaml"
        ext_path.write_text(novel_extension_yaml(packaged, verbs), encoding="utf-8")
        target = base_onto.extend(ext_path)
        if out_dir is not None:
            base.save_pretrained(folder / "base")
    t_cols = _columns(packaged, target)
    base_ids = set(base_onto.activities.ids)
    is_new = np.array([a.id not in base_ids for a in target.activities])
    x_test = data.x[split.test]
    y_test = data.y[split.test][:, t_cols].numpy()
    net = net.to(dev)

    seen_aps = per_class_ap(_scores(net, x_test, dev), data.y[split.test][:, base_cols].numpy(), ap)
    result: dict[str, Any] = {
        "task": task,
        "split_seed": split_seed,
        "test_fraction": test_fraction,
        "verbs": verbs,
        "n_novel_activities": int(is_new.sum()),
        "n_train": int(train_idx.numel()),
        "n_test": int(split.test.numel()),
        "seen_mAP_before": _map(seen_aps, np.ones(seen_aps.shape, dtype=bool)),
        "ap": ap,
    }
    say("zero-shot: carrying the GNN onto the extended ontology")
    carried, _ = transfer(net.cpu(), evidence, target, language_prior=language_prior)
    aps = per_class_ap(_scores(carried.to(dev), x_test, dev), y_test, ap)
    result["n_novel_test"] = int((is_new & ~np.isnan(aps)).sum())
    result["zero_shot_mAP"] = _map(aps, is_new)
    result["zero_shot_seen_mAP"] = _map(aps, ~is_new)
    rule = ExtendedReasoner(base, target)
    rule_aps = per_class_ap(torch.sigmoid(rule.logits(x_test)).numpy(), y_test, ap)
    result["zero_shot_rule_mAP"] = _map(rule_aps, is_new)

    ft = fine_tune or FINE_TUNE
    y_train_t = data.y[train_idx][:, t_cols]
    candidates = split.train[(data.y[split.train][:, novel_cols].sum(1) > 0)]
    rng = np.random.default_rng(split_seed)
    few: dict[str, Any] = {}
    for k in sorted(set(shots)):
        chosen: set[int] = set()
        for col in novel_cols.tolist():
            having = candidates[data.y[candidates, col] > 0].tolist()
            if having:
                picks = rng.choice(len(having), size=min(k, len(having)), replace=False)
                chosen.update(having[i] for i in picks.tolist())
        shot_idx = torch.tensor(sorted(chosen), dtype=torch.long)
        x_shot, y_shot = data.x[shot_idx], data.y[shot_idx][:, t_cols]
        repeat = max(1, round(SHOT_SHARE * len(train_idx) / max(1, len(shot_idx))))
        say(f"{k}-shot: {len(shot_idx)} images (each repeated {repeat}x), fine-tuning {ft.epochs} epochs")
        shot_counts = Evidence.from_examples(x_shot, y_shot, target)
        model, _ = transfer(net.cpu(), evidence, target, shot_counts, language_prior=language_prior)
        model = model.to(dev)
        x_ft = torch.cat([data.x[train_idx], x_shot.repeat(repeat, 1)])
        y_ft = torch.cat([y_train_t, y_shot.repeat(repeat, 1)])
        fit_new_terms(model, base_onto, x_ft.to(dev), y_ft.to(dev), ft, new_term_lr, progress)
        aps = per_class_ap(_scores(model, x_test, dev), y_test, ap)
        few[str(k)] = {
            "novel_mAP": _map(aps, is_new),
            "seen_mAP": _map(aps, ~is_new),
            "n_images": int(len(shot_idx)),
        }
    result["few_shot"] = few
    result["language_prior"] = language_prior
    result["fine_tune"] = {
        "epochs": ft.epochs,
        "batch_size": ft.batch_size,
        "lr": ft.lr,
        "new_term_lr": new_term_lr,
        "shot_share": SHOT_SHARE,
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result
