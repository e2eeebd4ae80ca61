"""A small synthetic HAKE-like dataset whose activities follow from their part states.

Each example does one or two of six activities; an activity sets its object and (each with
probability 0.9) its three characteristic part states; every example also carries noise
part states drawn from a pool shared by all activities.
"""

from __future__ import annotations

import json
import tarfile
from io import BytesIO
from pathlib import Path

import numpy as np
import torch

import ontology
from reasoning.features import input_layout

#: activity id -> characteristic part states (93-set ids)
RULES: dict[str, tuple[str, ...]] = {
    "ride-bicycle": ("hip: sit on", "foot: tread on", "hand: hold"),
    "carry-bicycle": ("hand: carry", "arm: shoulder carry", "foot: walk with"),
    "ride-horse": ("hip: sit on", "leg: straddle", "hand: pull"),
    "feed-horse": ("hand: feed", "hand: reach for", "head: be close with"),
    "drink_with-cup": ("head: drink with", "hand: hold", "hand: lift"),
    "wash-cup": ("hand: wash", "hand: squeeze", "hand: touch"),
}
#: A toy ontology of four part states, two verbs, two objects and two activities, and the
#: part states of its two activities (tests/reasoning/test_toy_ontology.py, tests/kg/test_engine.py).
TOY = ontology.load().restricted(
    part_states=["hand: hold", "hip: sit on", "foot: tread on", "head: drink with"],
    verbs=["ride", "drink_with"],
    objects=["bicycle", "cup"],
    name="toy",
)
TOY_RIDE = {"hip: sit on": 1.0, "foot: tread on": 1.0, "hand: hold": 1.0}
TOY_DRINK = {"head: drink with": 1.0, "hand: hold": 1.0}
NOISE = (
    "head: inspect",
    "foot: stand on",
    "arm: swing",
    "head: talk to",
    "hand: point to",
    "leg: walk with",
    "hand: press",
    "hand: gesture to",
)


def examples(
    n: int, seed: int = 0, noise: int = 5
) -> tuple[list[list[str]], list[list[str]], list[list[str]], list[list[str]]]:
    """Per example: activity ids, part-state ids, active fine-part ids, object ids."""
    onto = ontology.load()
    rng = np.random.default_rng(seed)
    names = list(RULES)
    acts, states, parts, objects = [], [], [], []
    for _ in range(n):
        chosen = list(rng.choice(len(names), size=1 + int(rng.random() < 0.2), replace=False))
        a_ids = [onto.activities[names[i]].id for i in chosen]
        ps: set[str] = set()
        for i in chosen:
            for s in RULES[names[i]]:
                if rng.random() < 0.9:
                    ps.add(onto.part_states[s].id)
        for j in rng.choice(len(NOISE), size=noise, replace=False):
            ps.add(onto.part_states[NOISE[int(j)]].id)
        acts.append(a_ids)
        states.append(sorted(ps))
        coarse = {onto.part_states[p].part for p in ps}
        parts.append([b.id for b in onto.body_parts if b.coarse in coarse])
        objects.append(sorted({onto.activities[a].object for a in a_ids}))
    return acts, states, parts, objects


def tensors(n: int, seed: int = 0, noise: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``(n, 183)`` and labels ``(n, 600)``."""
    lay = input_layout()
    acts, states, parts, objects = examples(n, seed, noise)
    x = torch.zeros(n, lay.n_features)
    y = torch.zeros(n, lay.n_activities)
    for i in range(n):
        for s in states[i]:
            x[i, lay.part_state_index[s]] = 1.0
        for b in parts[i]:
            x[i, lay.n_part_states + lay.body_part_index[b]] = 1.0
        for o in objects[i]:
            x[i, lay.n_part_states + lay.n_body_parts + lay.object_index[o]] = 1.0
        for a in acts[i]:
            y[i, lay.activity_index[a]] = 1.0
    return x, y


def write_image_level(folder: Path, n: int, seed: int = 0) -> Path:
    """Write ``hico-image-level.tar.gz`` in the HAKE image-level format; returns the folder."""
    onto = ontology.load()
    acts, states, parts, _ = examples(n, seed)
    data = {}
    for i in range(n):
        entry: dict[str, list[int]] = {
            "hoi_id": [onto.activities[a].hoi_id for a in acts[i]],
            "parts_list": [int(b.id in parts[i]) for b in onto.body_parts],
        }
        for coarse in ontology.COARSE_PART_ORDER:
            group = onto.hico_part_states_of(coarse)
            entry[f"{coarse}_list"] = [int(s.id in states[i]) for s in group]
        data[f"HICO_train2015_{i:08d}.jpg"] = entry
    raw = json.dumps(data).encode()
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "hico-image-level.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo("hico-image-level/hico-training-set-image-level.json")
        info.size = len(raw)
        archive.addfile(info, BytesIO(raw))
    return folder
