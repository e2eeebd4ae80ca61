"""Human-object pairing: which object instance each activity of a person concerns.

An image is a bipartite graph (a PyG ``HeteroData``): its persons and its object instances,
joined by one ``("person", "pair", "object")`` edge per person x instance. :class:`PairingModel`
scores every (person, instance, activity) from three streams, fused in the spirit of HAKE's
cascade HOI recogniser, ``(s_v + s_g) x s_s``:

- geometric ``s_g``: the relative layout of the two boxes (offsets and log size ratios in
  units of the person box, IoU, overlap shares, distance) and how the pair competes in its
  graph, computed by scattering over the edges: the pair's distance against the nearest
  other person of the instance and against the nearest instance of the same class to the
  person (1 when this pair is the nearest);
- visual ``s_v``: the person's part states and active body parts (with ground-truth states
  in the protocol below; perception's in use);
- semantic ``s_s``: the ontology: an instance can only be paired with an activity of its
  object class (a hard 0/1 factor), and the activity's verb and object are embedded so that
  the layout a verb expects ("ride": the object under the person) is learnt per verb.

Logits: ``interact(p, o) = g([geo, visual, object])`` (is the pair interacting at all) and
``pair(p, o, a) = h([geo, visual, verb(a), object(o)])``. Trained with a listwise
pair-ranking loss (softmax over each (person, activity)'s candidate instances) plus binary
cross-entropy on interactiveness. The two heads are combined as the cascade does (a
relation-ranking stage that keeps the pairs likely to interact, then the classifier):

- the instance of a (person, activity) is the candidate with the highest
  ``pair(p, o, a) + log sigmoid(interact(p, o))`` (:meth:`PairingModel.instance_scores`);
- a triplet's score in the full setting is
  ``P(a | p) x softmax_o(pair(p, o, a)) x sigmoid(interact(p, o))`` (:func:`triplet_scores`),
  the softmax over the instances of ``a``'s object class: how likely the person does the
  activity, with which of the instances, and whether they interact with it at all.

Chosen on a validation split carved from the training images only (15% of them, split seed
1; 4,786 ambiguous cases), seed 0: the interactiveness term lifts ambiguous pairing accuracy
from 82.87 to 82.99 (seed 1: 82.89 to 83.08), and the triplet mAP over the same person
model's mAP (81.31) from 0.949 (``P(a | p)`` times the pair score relative to the person's
best instance, the earlier rule; seed 1: 0.945) to 0.995 (seed 1: 0.994); the interactiveness
to the power 0.5 ties (0.996, 0.994), the second round fed the person model's prior gives
0.994 (0.991), the interactiveness alone without the pair score 0.980 (0.982).

Why an instance was chosen (:func:`explain_pair_predictions`, what :mod:`kg` stores beside the
triplet) is the pair score it won by, split exactly into a baseline, the geometric features and
part states (integrated gradients, :func:`explain_pairs`), the second round, the
interactiveness and a rest: an :class:`ontology.PairingExplanation` on the prediction
(:attr:`ontology.ActivityPrediction.pairing`).

Protocol ``hicodet-pairs`` (:func:`evaluate_pairs`; ``hake eval --task hicodet-pairs``), the
"known boxes" setting: the instance-level HAKE file read as images of triplets
(:func:`ontology.read_hake_pairs`), split by image (:func:`reasoning.tasks.split_by_image`,
seed 0, 20% test); each image's persons with their part states merged per person (so the
per-pair labels cannot leak the pairing) and its object instances are given.

- *pairing* (activities given, the object predicted): for each test (person, activity) with
  an object, the candidates are the image's instances of the activity's object class; a case
  is right when the top-scored candidate is one the person does the activity with.
  Reported on every case and on the ambiguous ones (two or more candidates).
- *interactiveness AP* over every test person x instance pair (positive: the pair has an
  interaction).
- *triplets* (the full setting): the person-level reasoner (trained on the training side)
  scores activities, the pairing model picks instances; triplet AP per activity (VOC style,
  as HICO-DET's code: a triplet is right when the activity is and both boxes are a
  ground-truth pair's; with known boxes that is the same person and instance) and its mean
  over Full / Rare (fewer than 10 training triplets) / Non-rare activities, beside the same
  reasoner's person-level mAP on the same test persons (VOC AP too).

Baselines measured in the same run: a random candidate (seeded), the nearest candidate (box
centre distance in units of the person box), a geometric MLP (the same model with the box
layout only: no competition, verb, object or part states) and ``pairing_only`` (the same
:class:`PairingModel` scored by its pair logits alone: the instance by the pair logit, a
triplet by ``P(a | p)`` times the pair score relative to the person's best instance).

Measured (seed 0, 2026-12-06): ambiguous pairing accuracy 82.34 (pair logits alone 82.46),
interactiveness AP 98.86, triplet mAP 79.82 = 0.995 of the person-level mAP (pair logits
alone 0.945). The ambiguous accuracy is bounded by the data: 24% of the ambiguous test cases
offer as a wrong candidate an instance the same person does another activity with (the
object drawn again per activity, mostly overlapping the right box below the merge IoU), and
no layout tells those apart (49.6% right; 92.5% on the other cases). Tried on the validation
split above without gain (ambiguous accuracy, seed 0 against 82.87): area, IoU and overlap
against the person's other same-class instances (82.85), each activity's typical layout as a
z-score (82.74), a second round over the person's activities on one instance (82.32), 10 or
40 epochs (82.76; 81.40 with the first and third), a model twice as wide (83.10; seed 1
82.68 against 82.89), batches of 512 cases for 10 epochs (83.18 and 83.20 with the
interactiveness term, seeds 0 and 1, against 82.99 and 83.08).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.utils import scatter

import ontology
from ontology.errors import ReasoningError
from reasoning.features import encode_observations, input_layout
from reasoning.metrics import voc_average_precision
from reasoning.tasks import TASKS, encode_annotations, split_by_image

__all__ = [
    "GEOMETRY_IDS",
    "GEOMETRY_NAMES",
    "PAIRING_METHOD",
    "PAIRING_TERMS",
    "PAIR_TASK",
    "PairExplanation",
    "explain_pair_predictions",
    "explain_pairs",
    "default_pairing_path",
    "load_pairing",
    "pair_predictions",
    "save_pairing",
    "scene_graph",
    "train_pairing",
    "triplet_scores",
    "PairCases",
    "PairingConfig",
    "PairingModel",
    "evaluate_pairs",
    "fit_pairing",
    "geometry",
    "pair_graph",
]

#: The protocol's task name (``hake eval --task hicodet-pairs``); it reads the instance file.
PAIR_TASK = "hicodet-pairs"

#: Number of geometric features per pair (:func:`geometry`).
N_GEOMETRY = 13
#: Of those, the ones a pair's own two boxes give (the rest compare it with its graph).
N_LAYOUT = 9


def geometry(person: torch.Tensor, obj: torch.Tensor) -> torch.Tensor:
    """Layout features of person boxes ``(E, 4)`` against object boxes ``(E, 4)`` (xyxy):
    centre offsets and log size ratios in units of the person box, IoU, the shares of each box
    the intersection covers, log centre distance, and the object's area over the person's
    (log). Returns ``(E, 9)``."""
    pw = (person[:, 2] - person[:, 0]).clamp(min=1.0)
    ph = (person[:, 3] - person[:, 1]).clamp(min=1.0)
    ow = (obj[:, 2] - obj[:, 0]).clamp(min=1.0)
    oh = (obj[:, 3] - obj[:, 1]).clamp(min=1.0)
    dx = ((obj[:, 0] + obj[:, 2]) - (person[:, 0] + person[:, 2])) / (2 * pw)
    dy = ((obj[:, 1] + obj[:, 3]) - (person[:, 1] + person[:, 3])) / (2 * ph)
    iw = (torch.minimum(person[:, 2], obj[:, 2]) - torch.maximum(person[:, 0], obj[:, 0])).clamp(min=0)
    ih = (torch.minimum(person[:, 3], obj[:, 3]) - torch.maximum(person[:, 1], obj[:, 1])).clamp(min=0)
    inter = iw * ih
    union = pw * ph + ow * oh - inter
    dist = torch.sqrt(dx**2 + dy**2)
    return torch.stack(
        [
            dx,
            dy,
            torch.log(ow / pw),
            torch.log(oh / ph),
            inter / union,
            inter / (ow * oh),
            inter / (pw * ph),
            torch.log(dist + 0.01),
            torch.log(ow * oh / (pw * ph)),
        ],
        dim=1,
    )


def _competition(dist: torch.Tensor, graph: HeteroData) -> torch.Tensor:
    """How each pair competes in its image's graph: its distance over the smallest distance
    of any person to the instance, and over the smallest distance of any instance of the same
    class to the person (both 1 for the nearest, log-scaled), the number of persons of the
    image and of same-class instances (log). Message passing by scatter over the edges."""
    store = graph["person", "pair", "object"]
    p, o = store.edge_index
    n_objects = graph["object"].num_nodes
    n_persons = graph["person"].num_nodes
    n_classes = int(graph["object"].object_class.max()) + 1 if n_objects else 1
    cls = graph["object"].object_class[o]
    nearest_person = scatter(dist, o, dim=0, dim_size=n_objects, reduce="min")[o]
    person_class = p * n_classes + cls
    nearest_instance = scatter(dist, person_class, dim=0, dim_size=n_persons * n_classes, reduce="min")[
        person_class
    ]
    ones = torch.ones_like(dist)
    persons_of_object = scatter(ones, o, dim=0, dim_size=n_objects, reduce="sum")[o]
    same_class = scatter(ones, person_class, dim=0, dim_size=n_persons * n_classes, reduce="sum")[
        person_class
    ]
    eps = 1e-3
    return torch.stack(
        [
            torch.log((dist + eps) / (nearest_person + eps)),
            torch.log((dist + eps) / (nearest_instance + eps)),
            torch.log(persons_of_object),
            torch.log(same_class),
        ],
        dim=1,
    )


def pair_graph(images: list[ontology.HoiAnnotation], onto: ontology.Ontology | None = None) -> HeteroData:
    """The images as one bipartite ``HeteroData`` (a batch of image graphs without copies):
    ``person`` nodes (``x``: part states and active parts, ``box``, ``image``), ``object``
    nodes (``object_class``: index in the ontology's objects, ``box``, ``image``) and one
    ``("person", "pair", "object")`` edge per person x instance of the same image, with
    ``edge_attr`` the :data:`N_GEOMETRY` geometric features and ``y`` whether the pair
    interacts. Also ``person.activities``: the persons' multi-hot activity labels, and
    ``person.objects``: their objects' input columns (the "known objects" of the task)."""
    onto = onto or ontology.load()
    persons = [p for image in images for p in image.persons]
    x, y = encode_annotations(persons)
    interacting = [
        {(it.person_id, it.object_id) for it in image.interactions if it.object_id is not None}
        for image in images
    ]
    labels = [
        (person.person_id, obj.object_id) in pairs
        for image, pairs in zip(images, interacting, strict=True)
        for person in image.persons
        for obj in image.objects
    ]
    graph = _bipartite(
        x,
        [p.box for p in persons],
        [len(image.persons) for image in images],
        [image.objects for image in images],
        onto,
    )
    graph["person"].activities = y
    graph["person", "pair", "object"].y = torch.tensor(labels, dtype=torch.bool)
    return graph


def scene_graph(scenes: list[ontology.ImageObservation], onto: ontology.Ontology | None = None) -> HeteroData:
    """:func:`pair_graph` of what perception saw (:meth:`perception.Perceiver.infer_scenes`):
    persons with their observed part-state and active-part probabilities. Every person needs
    a box."""
    onto = onto or ontology.load()
    persons = [p for scene in scenes for p in scene.persons]
    boxes = []
    for p in persons:
        if p.box is None:
            raise ReasoningError(f"person {p.key} has no box: pairing needs each person's box")
        boxes.append(p.box)
    return _bipartite(
        encode_observations(persons, onto),
        boxes,
        [len(scene.persons) for scene in scenes],
        [scene.objects for scene in scenes],
        onto,
    )


def _bipartite(
    x: torch.Tensor,
    person_boxes: Sequence[ontology.Box],
    persons_per_image: Sequence[int],
    objects_per_image: Sequence[Sequence[ontology.ObjectInstance]],
    onto: ontology.Ontology,
) -> HeteroData:
    """The graph of :func:`pair_graph` from input rows, person boxes and instances."""
    lay = input_layout(onto)
    n_visual = lay.n_part_states + lay.n_body_parts
    person_box = torch.tensor([b.to_list() for b in person_boxes], dtype=torch.float32).reshape(-1, 4)
    objects = [o for image in objects_per_image for o in image]
    object_box = torch.tensor([o.box.to_list() for o in objects], dtype=torch.float32).reshape(-1, 4)
    object_class = torch.tensor([lay.object_index[o.object] for o in objects], dtype=torch.long)
    src: list[int] = []
    dst: list[int] = []
    p0 = o0 = 0
    person_image: list[int] = []
    object_image: list[int] = []
    for i, (n_persons, image_objects) in enumerate(zip(persons_per_image, objects_per_image, strict=True)):
        n_objects = len(image_objects)
        for a in range(n_persons):
            src.extend([p0 + a] * n_objects)
            dst.extend(range(o0, o0 + n_objects))
        person_image.extend([i] * n_persons)
        object_image.extend([i] * n_objects)
        p0 += n_persons
        o0 += n_objects
    graph = HeteroData()
    graph["person"].x = x[:, :n_visual]
    graph["person"].box = person_box
    graph["person"].image = torch.tensor(person_image, dtype=torch.long)
    graph["person"].objects = x[:, n_visual:]
    graph["object"].object_class = object_class
    graph["object"].box = object_box
    graph["object"].image = torch.tensor(object_image, dtype=torch.long)
    graph["object"].num_nodes = len(objects)
    edge_index = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
    store = graph["person", "pair", "object"]
    store.edge_index = edge_index
    layout = geometry(person_box[edge_index[0]], object_box[edge_index[1]])
    dist = torch.exp(layout[:, 7]) - 0.01
    store.edge_attr = torch.cat([layout, _competition(dist, graph)], dim=1)
    return graph


@dataclass(frozen=True)
class PairCases:
    """The protocol's pairing cases: one per (person, activity with an object), its
    candidates the edges from the person to the image's instances of that object class.

    ``case`` / ``edge`` / ``right`` are parallel ``(C,)`` tensors over every (case, candidate):
    the case's number, the candidate edge, whether the person does the activity with it.
    ``activity`` is ``(K,)``: each case's activity index; ``person`` each case's person node.
    """

    case: torch.Tensor
    edge: torch.Tensor
    right: torch.Tensor
    activity: torch.Tensor
    person: torch.Tensor

    @property
    def n_candidates(self) -> torch.Tensor:
        """``(K,)`` candidates per case."""
        return torch.bincount(self.case, minlength=len(self.activity))


def pair_cases(
    images: list[ontology.HoiAnnotation], graph: HeteroData, onto: ontology.Ontology | None = None
) -> PairCases:
    """Every (person, activity) of ``images`` with an object, and its candidate edges in
    ``graph`` (:func:`pair_graph` of the same images). An interaction may name its activity by
    id, name or IRI (:class:`ontology.Interaction`): each is resolved through ``onto``."""
    onto = onto or ontology.load()
    lay = input_layout(onto)
    case: list[int] = []
    edge: list[int] = []
    right: list[bool] = []
    activity: list[int] = []
    person_of: list[int] = []
    p0 = e0 = 0
    for image in images:
        n_obj = len(image.objects)
        by_person: dict[str, dict[str, set[str]]] = {}
        for it in image.interactions:
            if it.object_id is not None:
                act = onto.activities[it.activity].id
                by_person.setdefault(it.person_id, {}).setdefault(act, set()).add(it.object_id)
        for a, person in enumerate(image.persons):
            for act, instances in by_person.get(person.person_id, {}).items():
                wanted = onto.activities[act].object
                k = len(activity)
                activity.append(lay.activity_index[act])
                person_of.append(p0 + a)
                for b, obj in enumerate(image.objects):
                    if obj.object == wanted:
                        case.append(k)
                        edge.append(e0 + a * n_obj + b)
                        right.append(obj.object_id in instances)
        p0 += len(image.persons)
        e0 += len(image.persons) * n_obj
    return PairCases(
        case=torch.tensor(case, dtype=torch.long),
        edge=torch.tensor(edge, dtype=torch.long),
        right=torch.tensor(right, dtype=torch.bool),
        activity=torch.tensor(activity, dtype=torch.long),
        person=torch.tensor(person_of, dtype=torch.long),
    )


@dataclass(frozen=True)
class PairingConfig:
    """:class:`PairingModel`'s shape and which streams it uses (``geometry_only``: the box
    layout alone, the geometric-MLP baseline)."""

    hidden: int = 64
    embed: int = 16
    geometry_only: bool = False


class PairingModel(nn.Module):
    """Scores person x instance pairs (interactiveness) and (person, instance, activity)
    triplets; see the module docstring for the streams and their fusion."""

    verb_of: torch.Tensor
    geo_mean: torch.Tensor
    geo_std: torch.Tensor

    def __init__(self, onto: ontology.Ontology | None = None, config: PairingConfig | None = None) -> None:
        super().__init__()
        onto = onto or ontology.load()
        lay = input_layout(onto)
        self.config = config or PairingConfig()
        #: the content id of the ontology the model is sized for (its checkpoints record it)
        self.ontology_id = onto.id
        c = self.config
        n_geo = N_LAYOUT if c.geometry_only else N_GEOMETRY
        self.n_visual = lay.n_part_states + lay.n_body_parts
        self.register_buffer(
            "verb_of", torch.tensor(lay.verb_of, dtype=torch.long).clamp(min=0), persistent=False
        )
        self.verb = nn.Embedding(lay.n_verbs, c.embed)
        self.object = nn.Embedding(lay.n_objects, c.embed)
        self.visual = nn.Linear(self.n_visual, c.embed)
        extra = 0 if c.geometry_only else 3 * c.embed
        self.geo = nn.Sequential(nn.Linear(n_geo, c.hidden), nn.ReLU())
        self.pair = nn.Sequential(nn.Linear(c.hidden + extra, c.hidden), nn.ReLU(), nn.Linear(c.hidden, 1))
        inter_extra = 0 if c.geometry_only else 2 * c.embed
        self.interact = nn.Sequential(
            nn.Linear(c.hidden + inter_extra, c.hidden), nn.ReLU(), nn.Linear(c.hidden, 1)
        )
        self.round2 = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))
        self.register_buffer("geo_mean", torch.zeros(n_geo))
        self.register_buffer("geo_std", torch.ones(n_geo))

    def _streams(self, graph: HeteroData, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        store = graph["person", "pair", "object"]
        n_geo = self.geo_mean.shape[0]
        geo = (store.edge_attr[edges, :n_geo] - self.geo_mean) / self.geo_std
        h = self.geo(geo)
        if self.config.geometry_only:
            return h, None
        p, o = store.edge_index[:, edges]
        context = torch.cat(
            [self.visual(graph["person"].x[p]), self.object(graph["object"].object_class[o])], dim=1
        )
        return h, context

    def interactiveness(self, graph: HeteroData, edges: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(E,)`` that each pair (all edges, or ``edges``) interacts."""
        if edges is None:
            edges = torch.arange(graph["person", "pair", "object"].edge_index.shape[1])
        h, context = self._streams(graph, edges)
        out: torch.Tensor = self.interact(h if context is None else torch.cat([h, context], dim=1))
        return out.squeeze(1)

    def instance_scores(
        self,
        graph: HeteroData,
        edges: torch.Tensor,
        activity: torch.Tensor,
        prior: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(C,)`` scores to choose each (person, activity)'s instance by:
        :meth:`pair_logits` (same arguments) plus ``log sigmoid`` of the pair's
        interactiveness, a log-probability up to each case's constant."""
        pair = self.pair_logits(graph, edges, activity, prior)
        return pair + F.logsigmoid(self.interactiveness(graph, edges))

    def pair_logits(
        self,
        graph: HeteroData,
        edges: torch.Tensor,
        activity: torch.Tensor,
        prior: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``(C,)`` that the person of each edge does ``activity`` (activity indices,
        ``(C,)``) with the edge's instance (the instance's class is taken to be the
        activity's object: pass only such edges)."""
        h, context = self._streams(graph, edges)
        if context is not None:
            h = torch.cat([h, context, self.verb(self.verb_of[activity])], dim=1)
        out: torch.Tensor = self.pair(h)
        if self.config.geometry_only:
            return out.squeeze(1)
        return self._compete(out.squeeze(1), graph, edges, activity, prior)

    def _compete(
        self,
        logits: torch.Tensor,
        graph: HeteroData,
        edges: torch.Tensor,
        activity: torch.Tensor,
        prior: torch.Tensor | None,
    ) -> torch.Tensor:
        """The second round: each candidate against the best *other* person's candidate for
        the same (instance, activity), scattered over the candidates given (a person who
        clearly does the activity with this instance makes it less likely to be mine).
        ``prior``: log P(activity | person) of each candidate (0 when the activities are given)."""
        o = graph["person", "pair", "object"].edge_index[1, edges]
        score = logits if prior is None else logits + prior
        group = o * self.verb_of.shape[0] + activity
        _, group = torch.unique(group, return_inverse=True)
        n = int(group.max()) + 1 if len(group) else 0
        best = scatter(score, group, dim=0, dim_size=n, reduce="max")
        is_best = score >= best[group]
        # the second best: the best once every candidate equal to the best is set aside
        second = scatter(score.masked_fill(is_best, -math.inf), group, dim=0, dim_size=n, reduce="max")
        count_best = scatter(is_best.float(), group, dim=0, dim_size=n, reduce="sum")
        other = torch.where(is_best & (count_best[group] < 2), second[group], best[group])
        has_other = torch.isfinite(other)
        margin = torch.where(has_other, (score - other).clamp(-8.0, 8.0), torch.zeros_like(score))
        features = torch.stack([logits, margin, has_other.float()], dim=1)
        second_round: torch.Tensor = self.round2(features)
        return logits + second_round.squeeze(1)


#: What each of the :data:`N_GEOMETRY` geometric features of a pair measures (the first
#: :data:`N_LAYOUT` from its two boxes, the rest against its graph), as explanations name them.
GEOMETRY_NAMES = (
    "horizontal offset",
    "vertical offset",
    "width ratio",
    "height ratio",
    "box IoU",
    "share of the object overlapped",
    "share of the person overlapped",
    "centre distance",
    "area ratio",
    "distance against the nearest person's",
    "distance against the nearest same-class instance's",
    "persons in the image",
    "same-class instances in the image",
)


@dataclass(frozen=True)
class PairExplanation:
    """Why the pairing model scored each candidate (person, instance, activity) as it did, as
    columns over the ``C`` candidates explained.

    ``logit = baseline + geometry.sum(1) + part_states.sum(1) + rest + competition`` holds
    exactly: ``baseline`` is the first round's logit for an average pair layout (the training
    mean of every geometric feature) and no part states; ``geometry`` (``(C, G)``, named by
    :data:`GEOMETRY_NAMES`) and ``part_states`` (``(C, F)``, the person's input columns: part
    states, then active body parts) are integrated gradients from there to the candidate's
    inputs (``steps`` midpoint steps); ``rest`` is what those steps leave of the first
    round's logit (measured, small: the method's approximation, never hidden);
    ``competition`` is what the second round added (the best other person of the same
    instance and activity). The activity's verb and the instance's class are the context
    every term is computed in, not terms of their own.
    """

    logit: torch.Tensor
    baseline: torch.Tensor
    geometry: torch.Tensor
    part_states: torch.Tensor
    rest: torch.Tensor
    competition: torch.Tensor

    def top_geometry(self, i: int, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` geometric features that moved candidate ``i``'s logit most, signed."""
        row = self.geometry[i]
        order = torch.argsort(row.abs(), descending=True)[:k].tolist()
        return [(GEOMETRY_NAMES[j], float(row[j])) for j in order]


def explain_pairs(
    model: PairingModel,
    graph: HeteroData,
    edges: torch.Tensor,
    activity: torch.Tensor,
    prior: torch.Tensor | None = None,
    steps: int = 32,
) -> PairExplanation:
    """Explain :meth:`PairingModel.pair_logits` for the same arguments (see
    :class:`PairExplanation` for the decomposition and the method)."""
    if steps < 1:
        raise ReasoningError(f"steps must be at least 1, got {steps}")
    store = graph["person", "pair", "object"]
    n_geo = model.geo_mean.shape[0]
    geo = ((store.edge_attr[edges, :n_geo] - model.geo_mean) / model.geo_std).detach()
    p, o = store.edge_index[:, edges]
    visual = graph["person"].x[p].detach()
    with torch.no_grad():
        context = (
            None
            if model.config.geometry_only
            else torch.cat(
                [model.object(graph["object"].object_class[o]), model.verb(model.verb_of[activity])], 1
            )
        )

    def first_round(g: torch.Tensor, v: torch.Tensor, ctx: torch.Tensor | None) -> torch.Tensor:
        h = model.geo(g)
        if ctx is not None:
            h = torch.cat([h, model.visual(v), ctx[:, : model.config.embed], ctx[:, model.config.embed :]], 1)
        out: torch.Tensor = model.pair(h)
        return out.squeeze(1)

    n = len(edges)
    geometry = torch.zeros(n, n_geo)
    part_states = torch.zeros_like(visual)
    for k in range(steps):
        alpha = (k + 0.5) / steps
        g = (alpha * geo).requires_grad_(True)
        v = (alpha * visual).requires_grad_(True)
        out = first_round(g, v, context)
        grad_g, grad_v = torch.autograd.grad(out.sum(), (g, v), allow_unused=True)
        geometry += grad_g * geo / steps
        if grad_v is not None:
            part_states += grad_v * visual / steps
    with torch.no_grad():
        zero_g, zero_v = torch.zeros_like(geo), torch.zeros_like(visual)
        baseline = first_round(zero_g, zero_v, context)
        first = first_round(geo, visual, context)
        logit = model.pair_logits(graph, edges, activity, prior)
    rest = first - baseline - geometry.sum(1) - part_states.sum(1)
    return PairExplanation(
        logit=logit,
        baseline=baseline,
        geometry=geometry.detach(),
        part_states=part_states.detach(),
        rest=rest,
        competition=logit - first,
    )


def softmax_within(
    logits: torch.Tensor, group: torch.Tensor, n_groups: int, relative: bool = False
) -> torch.Tensor:
    """Softmax of ``logits`` within each group (``group``: the group of each entry, in
    ``0..n_groups-1``): P(instance | person, activity) over a case's candidates; with
    ``relative``, each over its group's largest (``exp(logit - max)``: the best candidate 1)."""
    top = scatter(logits, group, dim=0, dim_size=n_groups, reduce="max")
    z = torch.exp(logits - top[group])
    return z if relative else z / scatter(z, group, dim=0, dim_size=n_groups, reduce="sum")[group]


def _ranking_loss(logits: torch.Tensor, cases: PairCases) -> torch.Tensor:
    """Listwise pair ranking: per case, -log of the softmax mass on its right candidates."""
    k = len(cases.activity)
    prob = softmax_within(logits, cases.case, k)
    good = scatter(prob * cases.right, cases.case, dim=0, dim_size=k, reduce="sum")
    return -torch.log(good.clamp(min=1e-12)).mean()


def _subset(cases: PairCases, ids: torch.Tensor) -> PairCases:
    """The cases ``ids`` (renumbered 0..len(ids)-1) with their candidates; candidates of a
    case are contiguous in ``cases`` (as :func:`pair_cases` builds them)."""
    counts = cases.n_candidates
    starts = torch.cumsum(counts, 0) - counts
    n = counts[ids]
    case = torch.repeat_interleave(torch.arange(len(ids)), n)
    offset = torch.arange(len(case)) - torch.repeat_interleave(torch.cumsum(n, 0) - n, n)
    rows = starts[ids][case] + offset
    return PairCases(
        case=case,
        edge=cases.edge[rows],
        right=cases.right[rows],
        activity=cases.activity[ids],
        person=cases.person[ids],
    )


def fit_pairing(
    graph: HeteroData,
    cases: PairCases,
    onto: ontology.Ontology | None = None,
    config: PairingConfig | None = None,
    epochs: int = 20,
    batch_cases: int = 2048,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = False,
) -> PairingModel:
    """Train a :class:`PairingModel` on ``graph``'s pairs and ``cases``: Adam over
    mini-batches of ``batch_cases`` cases (each with as many random pairs for the
    interactiveness loss), ``epochs`` passes over the cases."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = PairingModel(onto, config)
    store = graph["person", "pair", "object"]
    n_geo = model.geo_mean.shape[0]
    attr = store.edge_attr[:, :n_geo]
    model.geo_mean.copy_(attr.mean(0))
    model.geo_std.copy_(attr.std(0).clamp(min=1e-3))
    target = store.y.float()
    pos_weight = ((1 - target).sum() / target.sum().clamp(min=1)).reshape(1)
    n_edges = len(target)
    case_image = graph["person"].image[cases.person]
    n_images = int(case_image.max()) + 1 if len(case_image) else 0
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-5)
    model.train()
    for epoch in range(epochs):
        total = 0.0
        # cases in a random order of their images, so that a batch holds the other persons'
        # cases of an image (the second round compares them); only batch borders cut images
        rank = torch.randperm(n_images, generator=gen)[case_image]
        order = torch.argsort(rank, stable=True)
        for ids in torch.split(order, batch_cases):
            batch = _subset(cases, ids)
            pairs = torch.randint(n_edges, (len(ids),), generator=gen)
            opt.zero_grad()
            loss = _ranking_loss(model.pair_logits(graph, batch.edge, batch.activity[batch.case]), batch)
            loss = loss + F.binary_cross_entropy_with_logits(
                model.interactiveness(graph, pairs), target[pairs], pos_weight=pos_weight
            )
            loss.backward()  # type: ignore[no-untyped-call, unused-ignore]
            opt.step()
            total += float(loss.detach()) * len(ids)
        if progress:
            print(
                f"pairing epoch {epoch + 1}/{epochs}: loss {total / len(order):.4f}",
                file=sys.stderr,
                flush=True,
            )
    model.eval()
    return model


#: The files of a pairing checkpoint folder.
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.pt"


def default_pairing_path() -> Path:
    """The packaged pairing checkpoint (trained by :func:`train_pairing` on every image of
    the instance-level HAKE file; its ``config.json`` says how)."""
    return Path(str(resources.files("reasoning") / "data" / "pairing"))


def save_pairing(model: PairingModel, out_dir: str | os.PathLike[str], info: dict[str, Any]) -> Path:
    """Write ``model`` as a checkpoint folder: ``config.json`` (its config, the ontology's
    content id and ``info``: training data and metrics) and ``model.pt``. Written into a
    temporary folder beside ``out_dir`` and renamed into place: all or nothing."""
    import json
    import shutil
    import tempfile

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ReasoningError(f"{out} is a file; the checkpoint is a folder: give a folder path")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        config = {
            "kind": "pairing",
            "config": {
                "hidden": model.config.hidden,
                "embed": model.config.embed,
                "geometry_only": model.config.geometry_only,
            },
            "ontology": model.ontology_id,
            **info,
        }
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        torch.save(model.state_dict(), tmp / WEIGHTS_FILE)
        tmp.chmod(0o755)  # (mkdtemp makes it private)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def load_pairing(
    path: str | os.PathLike[str] | None = None, onto: ontology.Ontology | None = None
) -> PairingModel:
    """A pairing checkpoint folder (default: the packaged one) for ``onto`` (default: the
    packaged ontology); refused when it was trained on another ontology."""
    import json

    folder = default_pairing_path() if path is None else Path(path)
    config_file = folder / CONFIG_FILE
    if not config_file.is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise ReasoningError(
            f"{folder} is not a pairing checkpoint: expected {CONFIG_FILE} and {WEIGHTS_FILE} in it "
            "(write one with reasoning.pairing.train_pairing)"
        )
    config = json.loads(config_file.read_text())
    onto = onto or ontology.load()
    if config.get("kind") != "pairing" or config.get("ontology") != onto.id:
        raise ReasoningError(
            f"{folder} holds a {config.get('kind')!r} checkpoint of ontology {config.get('ontology')}, "
            f"not a pairing checkpoint of this ontology ({onto.id}); train one for it with train_pairing"
        )
    model = PairingModel(onto, PairingConfig(**config["config"]))
    model.load_state_dict(torch.load(folder / WEIGHTS_FILE, weights_only=True))
    model.eval()
    return model


def train_pairing(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    epochs: int = 20,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Train the pairing model on every image of the instance-level HAKE file in
    ``data_dir`` and save it to ``out_dir`` (the packaged checkpoint is made this way)."""
    path = Path(data_dir) / TASKS["hake-instance"]
    onto = ontology.load()
    images = [i for i in ontology.read_hake_pairs(path) if i.persons]
    graph = pair_graph(images, onto)
    cases = pair_cases(images, graph, onto)
    start = time.perf_counter()
    model = fit_pairing(graph, cases, onto, epochs=epochs, seed=seed, progress=progress)
    info = {
        "training": {
            "file": path.name,
            "images": len(images),
            "cases": len(cases.activity),
            "epochs": epochs,
            "seed": seed,
            "seconds": round(time.perf_counter() - start, 1),
            "split": "none: every image (held-out numbers: hake eval --task hicodet-pairs)",
        }
    }
    return save_pairing(model, out_dir, info)


@dataclass(frozen=True)
class _Choice:
    """What :func:`_choose` decided: every candidate (edge, activity, log prior, owner
    ``(person n, prediction j)``) of the predictions, and for each prediction that got an
    instance the candidate position and the score it won by."""

    graph: HeteroData
    edges: list[int]
    acts: list[int]
    prior: list[float]
    best: dict[tuple[int, int], tuple[float, int]]
    paired: list[list[ontology.ActivityPrediction]]


def _with_instance(
    pred: ontology.ActivityPrediction, object_id: str, pairing: ontology.PairingExplanation | None = None
) -> ontology.ActivityPrediction:
    """``pred`` naming the instance ``object_id`` (and why, ``pairing``): the same record
    otherwise, not checked again (it was checked against its own ontology when made)."""
    return ontology.ActivityPrediction.unchecked(
        pred.image_id,
        pred.person_id,
        pred.activity,
        pred.score,
        pred.model,
        pred.model_version,
        pred.explanation,
        pred.level,
        object_id,
        pairing,
    )


@torch.no_grad()
def _choose(
    model: PairingModel,
    scenes: Sequence[ontology.ImageObservation],
    predictions: Sequence[Sequence[ontology.ActivityPrediction]],
    onto: ontology.Ontology,
) -> _Choice:
    """:func:`pair_predictions`, keeping the candidates and the winners' scores."""
    lay = input_layout(onto)
    graph = scene_graph(list(scenes), onto)
    persons = [(i, p) for i, scene in enumerate(scenes) for p in scene.persons]
    if len(persons) != len(predictions):
        raise ReasoningError(f"{len(predictions)} prediction lists for {len(persons)} persons of the scenes")
    # candidate (edge, activity, prediction) triples: the person's instances of the activity's class
    edge_index = graph["person", "pair", "object"].edge_index
    first_edge = torch.zeros(len(persons) + 1, dtype=torch.long)
    first_edge[1:] = torch.cumsum(torch.bincount(edge_index[0], minlength=len(persons)), 0)
    classes = graph["object"].object_class
    edges: list[int] = []
    acts: list[int] = []
    prior: list[float] = []
    owner: list[tuple[int, int]] = []
    for n, preds in enumerate(predictions):
        lo, hi = int(first_edge[n]), int(first_edge[n + 1])
        for j, pred in enumerate(preds):
            if pred.key != persons[n][1].key:
                raise ReasoningError(f"prediction {j} of person {persons[n][1].key} is of person {pred.key}")
            a = lay.activity_index[pred.activity]
            wanted = lay.object_of[a]
            for e in range(lo, hi):
                if int(classes[edge_index[1, e]]) == wanted:
                    edges.append(e)
                    acts.append(a)
                    prior.append(math.log(max(pred.score, 1e-12)))
                    owner.append((n, j))
    best: dict[tuple[int, int], tuple[float, int]] = {}
    if edges:
        logits = model.instance_scores(
            graph, torch.tensor(edges), torch.tensor(acts), torch.tensor(prior)
        ).tolist()
        for i, (logit, key) in enumerate(zip(logits, owner, strict=True)):
            if key not in best or logit > best[key][0]:
                best[key] = (logit, i)
    objects = [o for scene in scenes for o in scene.objects]
    out: list[list[ontology.ActivityPrediction]] = []
    for n, preds in enumerate(predictions):
        paired = []
        for j, pred in enumerate(preds):
            hit = best.get((n, j))
            paired.append(
                pred
                if hit is None
                else _with_instance(pred, objects[int(edge_index[1, edges[hit[1]]])].object_id)
            )
        out.append(paired)
    return _Choice(graph, edges, acts, prior, best, out)


def pair_predictions(
    model: PairingModel,
    scenes: Sequence[ontology.ImageObservation],
    predictions: Sequence[Sequence[ontology.ActivityPrediction]],
    onto: ontology.Ontology | None = None,
) -> list[list[ontology.ActivityPrediction]]:
    """Name the object instance each prediction concerns: ``predictions[i]`` are the
    predictions of the ``i``-th person of ``scenes`` (persons in scene order). A prediction
    whose activity has an object gets the scene's instance of that class with the highest
    :meth:`PairingModel.instance_scores` (its own score as the prior of the second round), or
    none when the scene holds no instance of that class; the others are returned as they
    are. :func:`explain_pair_predictions` also says why each instance was chosen."""
    return _choose(model, scenes, predictions, onto or ontology.load()).paired


#: What each of the :data:`GEOMETRY_NAMES` is called in the graph (``PairingTerm.id``), in
#: the same order.
GEOMETRY_IDS = (
    "horizontal_offset",
    "vertical_offset",
    "width_ratio",
    "height_ratio",
    "box_iou",
    "object_overlap",
    "person_overlap",
    "centre_distance",
    "area_ratio",
    "distance_vs_nearest_person",
    "distance_vs_nearest_instance",
    "persons_in_image",
    "same_class_instances",
)

#: Every term of a pairing explanation that is not an ontology term, as ``(id, kind, name)``:
#: the geometric features (kind ``"geometry"``, :data:`GEOMETRY_NAMES` order), then the
#: cascade's two exact terms (kind ``"cascade"``): the second round (the claim of the other
#: persons of the instance on the same activity, :attr:`PairExplanation.competition`) and the
#: pair's interactiveness (``log sigmoid``, the relation-ranking stage).
PAIRING_TERMS: tuple[tuple[str, str, str], ...] = (
    *((i, "geometry", name) for i, name in zip(GEOMETRY_IDS, GEOMETRY_NAMES, strict=True)),
    ("second_round", "cascade", "second round: the other persons' claim on the instance"),
    ("interactiveness", "cascade", "interactiveness: log sigmoid of the pair's interaction logit"),
)

#: The ``method`` of the pairing explanations :func:`explain_pair_predictions` makes.
PAIRING_METHOD = "pairing-integrated-gradients"


def explain_pair_predictions(
    model: PairingModel,
    scenes: Sequence[ontology.ImageObservation],
    predictions: Sequence[Sequence[ontology.ActivityPrediction]],
    onto: ontology.Ontology | None = None,
    *,
    top_k: int = 3,
    top_geometry: int = N_GEOMETRY,
    steps: int = 32,
) -> list[list[ontology.ActivityPrediction]]:
    """:func:`pair_predictions` (the same choices), each prediction that names an instance
    saying why it won: its :attr:`~ontology.ActivityPrediction.pairing`, an
    :class:`ontology.PairingExplanation` (``None`` on the others).

    The explanation's ``score`` is the pair score the instance won by
    (:meth:`PairingModel.instance_scores`: the pair logit with the prediction's score as the
    second round's prior, plus ``log sigmoid`` of the interactiveness), and ``score ==
    baseline + sum of the weights + rest`` (to float64 rounding; ``rest`` is computed from the
    others). ``baseline`` is the first round's logit for the average pair layout and no part
    states (:class:`PairExplanation`); the contributions are the ``top_geometry`` strongest
    geometric features (kind ``"geometry"``, :data:`GEOMETRY_IDS`; by default all
    :data:`N_GEOMETRY` of them), the ``top_k`` strongest part states and active body parts
    (kinds ``"part_state"`` and ``"body_part"``, ontology ids) and always the two ``"cascade"``
    terms (:data:`PAIRING_TERMS`), largest ``|weight|`` first; ``rest`` holds the terms left
    out and what the integrated-gradient steps leave. :func:`explain_pairs` runs over every
    candidate (the second round compares them), so this costs ``steps`` forward and backward
    passes over the candidates on top of the choice.

    Measured (packaged checkpoint, one CPU thread, 2026-12-06; 200 synthetic images of 3
    persons and 6 instances, 5 predictions each: 9,600 candidates, 3,000 named instances):
    0.13 s to choose, 0.59 s with the explanations. What is left in ``rest``, median ``|rest|``
    (p99), on such a run (3,000 named instances of cups, bicycles and chairs at random boxes,
    pair scores 1.7 in absolute value on average), for persons of 2 part states as in the
    earlier measurement and of 8 random ones: with the defaults 0.0084 (0.038; 17 terms kept,
    what remains is the integration's residual) and 0.028 (0.27; 18 terms); with
    ``top_geometry=3``, the earlier default, 0.36 (1.5; 7 terms) and 0.35 (1.5; 8 terms);
    ``top_k=5`` brings 8 part states to 0.011 (0.10; 20 terms). Hence every geometric
    feature by default: there are only 13, and 3 of them left a third of a logit out."""
    if top_k < 0:
        raise ReasoningError(f"top_k must be 0 or more, got {top_k}")
    if top_geometry < 0:
        raise ReasoningError(
            f"top_geometry must be 0 or more (at most {N_GEOMETRY} are kept), got {top_geometry}"
        )
    onto = onto or ontology.load()
    choice = _choose(model, scenes, predictions, onto)
    out = [list(preds) for preds in choice.paired]
    if not choice.best:
        return out
    lay = input_layout(onto)
    edges, acts, prior = torch.tensor(choice.edges), torch.tensor(choice.acts), torch.tensor(choice.prior)
    why = explain_pairs(model, choice.graph, edges, acts, prior, steps=steps)
    with torch.no_grad():
        inter = F.logsigmoid(model.interactiveness(choice.graph, edges))
    term = ontology.PairingContribution
    for (n, j), (score, i) in choice.best.items():
        geo = why.geometry[i].tolist()
        visual = why.part_states[i].tolist()
        kept_geo = sorted(range(len(geo)), key=lambda k: -abs(geo[k]))[:top_geometry]
        kept_vis = sorted(range(len(visual)), key=lambda k: -abs(visual[k]))[:top_k]
        terms = [term("geometry", GEOMETRY_IDS[k], float(geo[k]), onto) for k in kept_geo]
        terms += [  # (the person's input columns: part states, then active body parts)
            term(lay.channel_kinds[k], lay.channel_terms[k], float(visual[k]), onto)
            for k in kept_vis
            if visual[k] != 0.0
        ]
        terms += [
            term("cascade", "second_round", float(why.competition[i]), onto),
            term("cascade", "interactiveness", float(inter[i]), onto),
        ]
        baseline = float(why.baseline[i])
        rest = score - baseline - math.fsum(t.weight for t in terms)
        pred = choice.paired[n][j]
        assert pred.object_id is not None  # (a winner names its instance)
        pairing = ontology.PairingExplanation(PAIRING_METHOD, score, baseline, rest, tuple(terms), onto)
        out[n][j] = _with_instance(pred, pred.object_id, pairing)
    return out


def triplet_scores(
    model: PairingModel,
    graph: HeteroData,
    edges: torch.Tensor,
    activity: torch.Tensor,
    p_activity: torch.Tensor,
    group: torch.Tensor,
) -> torch.Tensor:
    """Scores ``(C,)`` of (person, instance, activity) triplets in the full setting:
    ``p_activity`` (``P(a | p)``, ``(C,)``) x the softmax of the pair logits over the
    candidates of the same (person, activity) (``group``: its number ``0..G-1`` for each
    candidate) x the pair's interactiveness (``sigmoid``). ``edges`` / ``activity`` as for
    :meth:`PairingModel.pair_logits`; every instance of the activity's class is a candidate."""
    n_groups = int(group.max()) + 1 if len(group) else 0
    pair = softmax_within(model.pair_logits(graph, edges, activity), group, n_groups)
    return p_activity * pair * torch.sigmoid(model.interactiveness(graph, edges))


def _pairing_accuracy(scores: torch.Tensor, cases: PairCases, ambiguous: bool) -> float:
    """Share of cases whose top-scored candidate is right (ties: the first candidate)."""
    k = len(cases.activity)
    n = cases.n_candidates
    best = scatter(scores, cases.case, dim=0, dim_size=k, reduce="max")
    is_best = scores >= best[cases.case]
    # the first best candidate of each case
    order = torch.arange(len(scores), dtype=torch.float64)
    first = scatter(torch.where(is_best, order, math.inf), cases.case, dim=0, dim_size=k, reduce="min")
    hit = cases.right[first.long()]
    keep = n >= 2 if ambiguous else n >= 1
    return round(100.0 * float(hit[keep].float().mean()), 2)


def _centre_distance(graph: HeteroData, edges: torch.Tensor) -> torch.Tensor:
    return torch.exp(graph["person", "pair", "object"].edge_attr[edges, 7]) - 0.01


def _candidate_triplets(graph: HeteroData, onto: ontology.Ontology) -> tuple[torch.Tensor, torch.Tensor]:
    """``(edge, activity)`` of every (person, instance, activity whose object is the
    instance's class) of ``graph``."""
    lay = input_layout(onto)
    acts_of_class: list[list[int]] = [[] for _ in range(lay.n_objects)]
    for a, obj in enumerate(lay.object_of):
        if obj >= 0:
            acts_of_class[obj].append(a)
    counts = torch.tensor([len(a) for a in acts_of_class], dtype=torch.long)
    flat = torch.tensor([a for acts in acts_of_class for a in acts], dtype=torch.long)
    starts = torch.cumsum(counts, 0) - counts
    store = graph["person", "pair", "object"]
    cls = graph["object"].object_class[store.edge_index[1]]
    per_edge = counts[cls]
    edge = torch.repeat_interleave(torch.arange(len(cls)), per_edge)
    offset = torch.arange(len(edge)) - torch.repeat_interleave(torch.cumsum(per_edge, 0) - per_edge, per_edge)
    activity = flat[starts[cls[edge]] + offset]
    return edge, activity


def _right_triplets(
    images: list[ontology.HoiAnnotation], onto: ontology.Ontology
) -> set[tuple[int, int, int]]:
    """(global person node, global instance node, activity index) of every interaction."""
    lay = input_layout(onto)
    out: set[tuple[int, int, int]] = set()
    p0 = o0 = 0
    for image in images:
        pid = {p.person_id: p0 + i for i, p in enumerate(image.persons)}
        oid = {o.object_id: o0 + i for i, o in enumerate(image.objects)}
        for it in image.interactions:
            if it.object_id is not None:
                act = onto.activities[it.activity].id
                out.add((pid[it.person_id], oid[it.object_id], lay.activity_index[act]))
        p0 += len(image.persons)
        o0 += len(image.objects)
    return out


def _triplet_map(
    scores: torch.Tensor, activity: torch.Tensor, right: torch.Tensor, rare: set[int]
) -> dict[str, float | int | None]:
    """Triplet mAP (VOC) over activities with a test triplet: Full, Rare, Non-rare."""
    aps: dict[int, float] = {}
    s, a, r = scores.numpy(), activity.numpy(), right.numpy()
    order = np.argsort(a, kind="stable")
    s, a, r = s[order], a[order], r[order]
    bounds = np.flatnonzero(np.diff(a)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(a)], strict=True):
        if r[lo:hi].any():
            aps[int(a[lo])] = voc_average_precision(s[lo:hi], r[lo:hi])

    def mean(keys: list[int]) -> float | None:
        return round(100.0 * float(np.mean([aps[k] for k in keys])), 2) if keys else None

    full = sorted(aps)
    return {
        "triplet_mAP": mean(full),
        "triplet_mAP_rare": mean([k for k in full if k in rare]),
        "triplet_mAP_non_rare": mean([k for k in full if k not in rare]),
        "n_triplet_classes": len(full),
        "n_rare_classes": len([k for k in full if k in rare]),
    }


def evaluate_pairs(
    data_dir: str | os.PathLike[str],
    split_seed: int = 0,
    test_fraction: float = 0.2,
    model: str = "gnn",
    epochs: int = 20,
    progress: bool = False,
) -> dict[str, Any]:
    """The ``hicodet-pairs`` protocol (module docstring); ``model`` is the person-level
    reasoner of the full setting (``"gnn"``, ``"mlp"``, ``"linear"``, ``"rule"``), trained on
    the training side. Returns JSON-ready metrics (percentages rounded to 0.01)."""
    from reasoning.training import _check_model, _train_one

    _check_model(model)
    path = os.path.join(data_dir, TASKS["hake-instance"])
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"task {PAIR_TASK!r} needs {TASKS['hake-instance']} in the HAKE data folder, but {path} does not "
            "exist; pass the folder that holds the HAKE archives (e.g. ../shared/datasets/hake)"
        )
    onto = ontology.load()
    images = [i for i in ontology.read_hake_pairs(path) if i.persons]
    split = split_by_image([i.image_id for i in images], seed=split_seed, test_fraction=test_fraction)
    train_images = [images[i] for i in split.train.tolist()]
    test_images = [images[i] for i in split.test.tolist()]
    train_graph, test_graph = pair_graph(train_images, onto), pair_graph(test_images, onto)
    train_cases, test_cases = (
        pair_cases(train_images, train_graph, onto),
        pair_cases(test_images, test_graph, onto),
    )
    test_edges = torch.arange(test_graph["person", "pair", "object"].edge_index.shape[1])
    interacting = test_graph["person", "pair", "object"].y.numpy()

    result: dict[str, Any] = {
        "task": PAIR_TASK,
        "setting": "known boxes (ground-truth persons, object instances and part states)",
        "ap": "voc",
        "split_seed": split_seed,
        "test_fraction": test_fraction,
        "n_train_images": len(train_images),
        "n_test_images": len(test_images),
        "n_test_cases": len(test_cases.activity),
        "n_test_ambiguous": int((test_cases.n_candidates >= 2).sum()),
        "mean_candidates_ambiguous": round(
            float(test_cases.n_candidates[test_cases.n_candidates >= 2].float().mean()), 2
        ),
    }
    # --- baselines ---
    gen = torch.Generator().manual_seed(split_seed)
    rows: dict[str, dict[str, Any]] = {}
    random_scores = torch.rand(len(test_cases.edge), generator=gen)
    rows["random"] = {"pairing_accuracy_ambiguous": _pairing_accuracy(random_scores, test_cases, True)}
    near = -_centre_distance(test_graph, test_cases.edge)
    rows["nearest"] = {
        "pairing_accuracy_ambiguous": _pairing_accuracy(near, test_cases, True),
        "interactiveness_AP": round(
            100.0 * voc_average_precision(-_centre_distance(test_graph, test_edges).numpy(), interacting), 2
        ),
    }
    models: dict[str, PairingModel] = {}
    for name, config in (
        ("geometric_mlp", PairingConfig(geometry_only=True)),
        ("pairing_gnn", PairingConfig()),
    ):
        start = time.perf_counter()
        net = fit_pairing(
            train_graph, train_cases, onto, config, epochs=epochs, seed=split_seed, progress=progress
        )
        seconds = time.perf_counter() - start
        with torch.no_grad():
            case_activity = test_cases.activity[test_cases.case]
            pair = net.instance_scores(test_graph, test_cases.edge, case_activity)
            inter = net.interactiveness(test_graph)
            if name == "pairing_gnn":
                pair_only = net.pair_logits(test_graph, test_cases.edge, case_activity)
                rows["pairing_only"] = {
                    "pairing_accuracy_ambiguous": _pairing_accuracy(pair_only, test_cases, True),
                    "pairing_accuracy": _pairing_accuracy(pair_only, test_cases, False),
                }
        rows[name] = {
            "pairing_accuracy_ambiguous": _pairing_accuracy(pair, test_cases, True),
            "pairing_accuracy": _pairing_accuracy(pair, test_cases, False),
            "interactiveness_AP": round(100.0 * voc_average_precision(inter.numpy(), interacting), 2),
            "train_seconds": round(seconds, 1),
        }
        models[name] = net
    rows["nearest"]["pairing_accuracy"] = _pairing_accuracy(near, test_cases, False)
    rows["random"]["pairing_accuracy"] = _pairing_accuracy(random_scores, test_cases, False)

    # --- the full setting: person-level activities x pairing ---
    persons_x = torch.cat([train_graph["person"].x, train_graph["person"].objects], dim=1)
    start = time.perf_counter()
    reasoner, _ = _train_one(model, persons_x, train_graph["person"].activities, None, None, progress, onto)
    person_seconds = time.perf_counter() - start
    with torch.no_grad():
        test_x = torch.cat([test_graph["person"].x, test_graph["person"].objects], dim=1)
        person_scores = torch.sigmoid(torch.cat([reasoner(c) for c in torch.split(test_x, 8192)]))
    labels = test_graph["person"].activities.numpy().astype(bool)
    person_aps = [
        voc_average_precision(person_scores[:, a].numpy(), labels[:, a])
        for a in range(labels.shape[1])
        if labels[:, a].any()
    ]
    result["person_model"] = model
    result["person_mAP"] = round(100.0 * float(np.mean(person_aps)), 2)
    result["person_train_seconds"] = round(person_seconds, 1)
    edge, activity = _candidate_triplets(test_graph, onto)
    p_node, o_node = test_graph["person", "pair", "object"].edge_index[:, edge]
    right_set = _right_triplets(test_images, onto)
    right = torch.tensor(
        [
            (p, o, a) in right_set
            for p, o, a in zip(p_node.tolist(), o_node.tolist(), activity.tolist(), strict=True)
        ]
    )
    train_counts = np.zeros(input_layout(onto).n_activities, dtype=np.int64)
    for image in train_images:
        for it in image.interactions:
            train_counts[input_layout(onto).activity_index[onto.activities[it.activity].id]] += 1
    rare = {int(a) for a in np.flatnonzero(train_counts < 10)}
    p_act = person_scores[p_node, activity]
    # a triplet's score: P(activity | person) x how the instance compares with the person's
    # best instance of the activity's class (1 for the best: exp(logit - best logit))
    group = p_node * person_scores.shape[1] + activity
    _, group = torch.unique(group, return_inverse=True)
    n_groups = int(group.max()) + 1
    ones = torch.ones(len(edge))
    n_in_group = scatter(ones, group, dim=0, dim_size=n_groups, reduce="sum")[group]
    dist = _centre_distance(test_graph, edge)
    nearest = dist <= scatter(dist, group, dim=0, dim_size=n_groups, reduce="min")[group]
    n_right = scatter(right.float(), group, dim=0, dim_size=n_groups, reduce="sum")[group]
    result["n_test_triplets"] = int(right.sum())
    result["n_candidate_triplets"] = len(right)
    triplet_rows: dict[str, dict[str, Any]] = {}
    with torch.no_grad():
        log_prior = torch.log(p_act.clamp(min=1e-12))
        candidates = {
            "random": p_act / n_in_group,
            "nearest": p_act * nearest.float(),
            **{
                name: triplet_scores(net, test_graph, edge, activity, p_act, group)
                for name, net in models.items()
            },
            # the earlier rule, pairing alone: P(a | p) x the pair score relative to the
            # person's best instance (1 for the best), the person model's prior in the second round
            "pairing_only": p_act
            * softmax_within(
                models["pairing_gnn"].pair_logits(test_graph, edge, activity, log_prior),
                group,
                n_groups,
                True,
            ),
            # the ceiling: the person model's scores with the pairing known (a person who does
            # not do the activity has no right instance: all of theirs keep P(a | p))
            "oracle_pairing": p_act * torch.where(n_right > 0, right.float(), 1.0),
        }
        for name, scores in candidates.items():
            triplet_rows[name] = _triplet_map(scores, activity, right, rare)
    for name, row in triplet_rows.items():
        rows.setdefault(name, {}).update(row)
    result["methods"] = rows
    ours = rows["pairing_gnn"]
    result["triplet_over_person_mAP"] = (
        None if ours["triplet_mAP"] is None else round(ours["triplet_mAP"] / result["person_mAP"], 3)
    )
    return result
