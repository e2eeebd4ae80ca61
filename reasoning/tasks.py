"""Benchmark tasks: HAKE annotations -> (inputs, labels, image groups), splits, unseen lists.

Tasks (:data:`TASKS`):

- ``"hake-image"``: one example per HICO training image (38,118): the image's 76-set
  ground-truth part states, its active fine parts and the objects of its activities (the
  "known objects" setting) -> its activities (multi-label over 600).
- ``"hake-instance"``: one example per merged person of the instance-level file (69,316):
  the person's labelled part states, the fine parts they were on, the objects of the
  person's pairs -> the person's activities.

Split (:func:`split_by_image`): the sorted distinct image keys are permuted with
``numpy.random.default_rng(seed).permutation``; the first ``round(test_fraction * n_images)``
images are the test split, the rest train. Every person of an image lands on the same side.

Unseen compositions (:func:`read_unseen`): a text file with one activity per line (id, name
or 1-based HICO ``hoi_id``; ``#`` starts a comment). Their labels, and every training
example carrying one of them, are removed from training (:func:`drop_unseen`).

>>> ids = read_unseen(default_unseen_path())
>>> len(ids)
120
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

import ontology
from ontology.errors import ReasoningError
from reasoning.features import input_layout

_T = TypeVar("_T")

__all__ = [
    "TASKS",
    "Split",
    "TaskData",
    "choose_unseen",
    "default_unseen_path",
    "drop_unseen",
    "encode_annotations",
    "load_task",
    "read_term_list",
    "read_unseen",
    "split_by_image",
]

#: The benchmark tasks and the annotation archive each reads from ``data_dir``.
TASKS = {
    "hake-image": "hico-image-level.tar.gz",
    "hake-instance": "hico-det-instance-level.tar.gz",
}


@dataclass(frozen=True)
class TaskData:
    """A task's examples.

    Attributes:
        task: the task name.
        x: ``(N, 183)`` inputs (see :mod:`reasoning.features`).
        y: ``(N, 600)`` multi-hot activity labels.
        groups: ``N`` image keys; splits never separate examples of one image.
    """

    task: str
    x: torch.Tensor
    y: torch.Tensor
    groups: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class Split:
    """Example indices of the train and test sides, both sorted."""

    train: torch.Tensor
    test: torch.Tensor


def _check_task(task: str) -> str:
    if task not in TASKS:
        raise ReasoningError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    return task


def encode_annotations(
    records: Sequence[ontology.ImageAnnotation | ontology.PersonAnnotation],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and labels of annotation records (ground truth: every present term is 1.0).

    Equivalent to ``encode_observations([r.to_observation() for r in records])`` but without
    building the intermediate records (about 20x faster on the HAKE files).

    Shapes:
        returns ``x`` of ``(N, 183)`` and ``y`` of ``(N, 600)``, float32.
    """
    lay = input_layout()
    o_bp = lay.n_part_states
    o_obj = lay.n_part_states + lay.n_body_parts
    rows: list[int] = []
    cols: list[int] = []
    y_rows: list[int] = []
    y_cols: list[int] = []
    rec: ontology.ImageAnnotation | ontology.PersonAnnotation
    for i, rec in enumerate(records):
        for key in rec.part_states:
            rows.append(i)
            cols.append(lay.part_state_index[key])
        for key in rec.active_parts:
            rows.append(i)
            cols.append(o_bp + lay.body_part_index[key])
        for obj in rec.objects:
            rows.append(i)
            cols.append(o_obj + lay.object_index[obj if isinstance(obj, str) else obj.object])
        for act in rec.activities:
            y_rows.append(i)
            y_cols.append(lay.activity_index[act])
    x = torch.zeros(len(records), lay.n_features)
    x[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)] = 1.0
    y = torch.zeros(len(records), lay.n_activities)
    y[torch.tensor(y_rows, dtype=torch.long), torch.tensor(y_cols, dtype=torch.long)] = 1.0
    return x, y


@functools.lru_cache(maxsize=2)
def _load_task_cached(path: str, mtime: float, task: str) -> TaskData:
    del mtime  # part of the cache key only: a rewritten file is read again
    records: Sequence[ontology.ImageAnnotation | ontology.PersonAnnotation]
    if task == "hake-image":
        records = ontology.read_hake_image(path)
    else:
        records = ontology.read_hake_instance(path)
    x, y = encode_annotations(records)
    return TaskData(task=task, x=x, y=y, groups=tuple(r.image_id for r in records))


def load_task(data_dir: str | os.PathLike[str], task: str = "hake-image") -> TaskData:
    """Read a task's examples from the HAKE folder ``data_dir`` (cached per file).

    Raises:
        ValueError: unknown ``task``.
        FileNotFoundError: ``data_dir`` lacks the task's archive.
    """
    name = TASKS[_check_task(task)]
    path = Path(data_dir) / name
    if not path.is_file():
        raise FileNotFoundError(
            f"task {task!r} needs {name} in the HAKE data folder, but {path} does not exist; "
            f"pass the folder that holds the HAKE archives (e.g. ../shared/datasets/hake)"
        )
    return _load_task_cached(str(path.resolve()), path.stat().st_mtime, task)


def split_by_image(groups: Sequence[str], seed: int = 0, test_fraction: float = 0.2) -> Split:
    """Seeded split by image key (see the module docstring for the exact rule).

    >>> s = split_by_image(["b", "a", "a", "c", "d", "e"], seed=0, test_fraction=0.4)
    >>> s.train.tolist(), s.test.tolist()     # 2 of the 5 images ("c", "e") are test
    ([0, 1, 2, 4], [3, 5])
    """
    if not 0.0 < test_fraction < 1.0:
        raise ReasoningError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    keys = sorted(set(groups))
    perm = np.random.default_rng(seed).permutation(len(keys))
    n_test = round(test_fraction * len(keys))
    if n_test == 0 or n_test == len(keys):
        raise ReasoningError(
            f"test_fraction={test_fraction} of {len(keys)} images leaves one side empty; "
            f"use more images or a fraction nearer 0.5"
        )
    test_keys = {keys[i] for i in perm[:n_test].tolist()}
    is_test = torch.tensor([g in test_keys for g in groups])
    idx = torch.arange(len(groups))
    return Split(train=idx[~is_test], test=idx[is_test])


def default_unseen_path() -> Path:
    """The project's default list of 120 unseen compositions (``reasoning/data``).

    Each listed activity has at least 10 images in the HAKE image-level file, and after
    removing every image that carries any listed activity, its verb and its object each
    keep at least 20 images through other activities. Chosen by a seeded shuffle (seed 0)
    of the eligible activities (10 to 200 images), admitted greedily under that rule; the
    removal drops 5,979 of the 38,118 images.
    """
    return Path(str(resources.files("reasoning") / "data" / "unseen_120.txt"))


def read_unseen(path: str | os.PathLike[str]) -> list[int]:
    """Activity indices listed in an unseen-composition file (sorted, de-duplicated).

    Lines hold an activity id (``ride-horse``), name (``ride horse``) or 1-based HICO
    ``hoi_id``; blank lines and ``#`` comments are skipped.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line names no activity (the message gives the line number).
    """
    acts = ontology.load().activities
    found = read_term_list(
        path,
        "unseen-composition",
        "an activity id, name or hoi_id",
        lambda text: (acts.by_hoi_id(int(text)) if text.isdigit() else acts[text]).index,
    )
    return sorted(set(found))


def read_term_list(
    path: str | os.PathLike[str], what: str, expected: str, lookup: Callable[[str], _T]
) -> list[_T]:
    """``lookup`` of each line of a term-list file (blank lines and ``#`` comments skipped),
    in file order; the files of :func:`read_unseen` and :func:`reasoning.read_novel_verbs`.

    Raises:
        FileNotFoundError: no such file (named as a ``what`` file).
        ReasoningError: a line ``lookup`` refuses (the message gives file, line, what was
            ``expected`` and the lookup's advice), or a file that lists nothing.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} file {p} does not exist")
    out: list[_T] = []
    for number, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            out.append(lookup(text))
        except KeyError as err:
            raise ReasoningError(f"{p}:{number}: expected {expected}, got {text!r} ({err})") from None
    if not out:
        raise ReasoningError(f"{p}: expected at least one entry, the file lists none")
    return out


def drop_unseen(train: torch.Tensor, y: torch.Tensor, unseen: Sequence[int]) -> torch.Tensor:
    """Training indices left after removing every example that carries an unseen activity.

    Shapes:
        train: ``(N_train,)`` indices into ``y`` (``(N, 600)``). Returns ``(N_kept,)``.
    """
    if not unseen:
        return train
    carries = y[train][:, torch.as_tensor(list(unseen), dtype=torch.long)].sum(1) > 0
    return train[~carries]


def choose_unseen(
    y: torch.Tensor,
    n: int = 120,
    seed: int = 0,
    min_images: int = 10,
    max_images: int = 200,
    min_kept: int = 20,
) -> list[int]:
    """Choose ``n`` unseen compositions from labels ``y`` ``(N, 600)`` (the default list's rule).

    Eligible: activities with ``min_images..max_images`` examples. They are shuffled with
    ``numpy.random.default_rng(seed)`` and admitted one by one while, after removing every
    example that carries any admitted activity, the verb and the object of each admitted
    activity still have ``min_kept`` examples through other activities. The packaged
    :func:`default_unseen_path` is ``choose_unseen(hake-image labels)``.

    Returns:
        sorted activity indices (fewer than ``n`` when the rule runs out of candidates).
    """
    from reasoning.graph import composition_index

    labels = y > 0.5
    counts = labels.sum(0)
    verb_of, object_of = composition_index()
    eligible = torch.nonzero((counts >= min_images) & (counts <= max_images))[:, 0].tolist()
    order = np.random.default_rng(seed).permutation(len(eligible))
    chosen: list[int] = []
    removed = torch.zeros(labels.shape[0], dtype=torch.bool)
    kept = counts.clone()  # examples per activity among those not removed
    n_verbs, n_objects = int(verb_of.max()) + 1, int(object_of.max()) + 1
    for i in order.tolist():
        a = eligible[i]
        newly = labels[:, a] & ~removed
        trial = kept - labels[newly].sum(0)
        trial[torch.tensor(chosen + [a])] = 0  # held-out activities do not count
        per_verb = torch.zeros(n_verbs, dtype=trial.dtype).index_add_(0, verb_of, trial)
        per_object = torch.zeros(n_objects, dtype=trial.dtype).index_add_(0, object_of, trial)
        held = torch.tensor(chosen + [a])
        if bool(
            (per_verb[verb_of[held]] >= min_kept).all() and (per_object[object_of[held]] >= min_kept).all()
        ):
            chosen.append(a)
            removed |= newly
            kept = kept - labels[newly].sum(0)
        if len(chosen) == n:
            break
    return sorted(chosen)
