"""Object instances and <person, activity, object instance> triplets in the store
(:mod:`kg.schema`: ``ObjectInstance``, ``IS_A``, ``INTERACTS_WITH``): staged into the bulk
load of an annotation ingest (:func:`stage_annotated_triplets`), checked before predictions
name an instance (:func:`instance_classes`), and read back (:func:`stored_triplets`); why the
pairing model chose a prediction's instance, staged with the predictions
(:func:`stage_pairing_explanations`, from their :attr:`ontology.ActivityPrediction.pairing`)
and read back as the same records (:func:`read_pairings`, which
:func:`kg.read_predictions` puts back on the predictions).

The ground truth of an image is written once: an instance already stored is skipped when
it is the same (class, box, score) and refused otherwise; a person's ground-truth triplets
are written when the store holds none for it (a person stored before triplets existed gains
them when its file is ingested again) and refused when it holds others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kg._stored import LOOKUP_MAX, stored_ids
from kg.store.base import BulkLoad, GraphStore
from ontology import (
    ActivityPrediction,
    HoiAnnotation,
    ObjectInstance,
    Ontology,
    PairingContribution,
    PairingExplanation,
    StoreError,
)
from ontology.identity import image_key, object_key, person_key

__all__ = [
    "GroundTruthTriplets",
    "TripletCounts",
    "has_pairing_tables",
    "has_triplet_tables",
    "instance_classes",
    "read_pairings",
    "stage_annotated_triplets",
    "stage_pairing_explanations",
    "stored_triplets",
]

#: What ``replace`` deletes before it writes a changed instance anew (a primary-key lookup
#: per row on LadybugDB 0.22, as kg.ingest's person deletes; an index lookup on Neo4j).
_DROP_INSTANCES = "UNWIND $rows AS r MATCH (o:ObjectInstance {id: r.id}) DETACH DELETE o"
#: ... and, before it, the pairing explanations that concern those instances: found instance by
#: instance (a scalar parameter: a primary-key lookup on LadybugDB 0.22, where an UNWIND of
#: ids joined to CONCERNS scans both tables), deleted by id (:data:`DROP_PAIRINGS`).
_PAIRINGS_OF_INSTANCE = (
    "MATCH (o:ObjectInstance {id: $id})<-[:CONCERNS]-(e:PairingExplanation) RETURN e.id AS id"
)

#: A ground-truth triplet as the store holds it: (person key, activity id, object key).
Triplet = tuple[str, str, str]


def has_triplet_tables(store: GraphStore) -> bool:
    """Whether the store has the object-instance tables: always, except an embedded store
    of an earlier version opened read-only (opened read-write, it gains them)."""
    if store.backend != "embedded":
        return True
    return any(r["name"] == "INTERACTS_WITH" for r in store.query("CALL show_tables() RETURN name"))


def instance_classes(store: GraphStore, keys: Sequence[str]) -> dict[str, str]:
    """Object key -> object class of the stored instances among ``keys``
    (:func:`_stored_instances`)."""
    return {k: v[0] for k, v in _stored_instances(store, keys).items()}


def stored_triplets(store: GraphStore, source: str = "annotation") -> dict[str, set[tuple[str, str]]]:
    """Person key -> its stored triplets of ``source`` as (activity id, object key)."""
    out: dict[str, set[tuple[str, str]]] = {}
    if not has_triplet_tables(store):
        return out
    rows = store.query(
        "MATCH (p:Person)-[x:INTERACTS_WITH]->(o:ObjectInstance) WHERE x.source = $source "
        "RETURN p.id AS p, x.activity AS a, o.id AS o",
        source=source,
    )
    for r in rows:
        out.setdefault(r["p"], set()).add((r["a"], r["o"]))
    return out


class TripletCounts:
    """What :func:`stage_annotated_triplets` added."""

    def __init__(self) -> None:
        self.instances_added = 0
        self.instances_skipped = 0
        self.instances_replaced = 0
        self.interactions_added = 0


@dataclass(frozen=True)
class GroundTruthTriplets:
    """Object instances and ground-truth triplets to write: each interaction is (person key,
    activity id or name, object key); ``image_sizes`` gives (width, height) by image key for
    an instance whose image is not stored yet."""

    instances: Sequence[ObjectInstance]
    interactions: Sequence[tuple[str, str, str]]
    image_sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def of_images(cls, images: Sequence[HoiAnnotation]) -> GroundTruthTriplets:
        """The instances and triplets of HICO-DET-style images (a person-only interaction,
        with no instance, is the person's ``DOES`` edge only)."""
        interactions = []
        for image in images:
            img = image_key(image.image_id)
            for it in image.interactions:
                if it.object_id is not None:
                    interactions.append(
                        (person_key(img, it.person_id), it.activity, object_key(img, it.object_id))
                    )
        return cls(
            [o for image in images for o in image.objects],
            interactions,
            {image_key(i.image_id): (i.width, i.height) for i in images},
        )


def stage_annotated_triplets(
    load: BulkLoad,
    store: GraphStore,
    triplets: GroundTruthTriplets,
    *,
    run: str,
    model: str,
    persons_written: Iterable[str],
    images_present: set[str],
    source: str,
    ontology: Ontology,
    replace: bool = False,
) -> TripletCounts:
    """Add object instances and ground-truth interactions to ``load``.

    Args:
        run, model: the annotation run (and its model name) the interactions belong to.
        persons_written: person keys this load writes anew (added or replaced): their
            triplets are written whatever the store held.
        images_present: image keys stored before or written by this load (an instance
            in any other image gets its image node from here).
        source: a name for error messages (usually the file).
        ontology: the store's (an interaction may name its activity by name: stored by id).
        replace: an instance stored with another class, box or score is replaced (deleted
            with every interaction that names it, then written anew, in the same load), and
            the stored persons whose triplets named it get theirs from the input; without
            it, such an instance is refused.
    """
    counts = TripletCounts()
    instances = list(triplets.instances)
    keys = [o.key for o in instances]
    if len(set(keys)) != len(keys):
        first = next(k for k in keys if keys.count(k) > 1)
        raise StoreError(f"{source}: object instance {first!r} is given twice; each instance once per image")
    stored = _stored_instances(store, keys)
    new: list[ObjectInstance] = []
    replaced: list[str] = []
    for o in instances:
        old = stored.get(o.key)
        if old is None:
            new.append(o)
            continue
        mine = (o.object, _f32(o.box.to_list()), o.score)
        if old != mine and replace:
            replaced.append(o.key)
            new.append(o)
            continue
        if old != mine:
            raise StoreError(
                f"{source}: object instance {o.key!r} is stored as {old[0]!r} at {old[1]} (score {old[2]}), "
                f"but the input gives {mine[0]!r} at {mine[1]} (score {mine[2]}); an instance is written "
                "once: to change it, ingest annotations with `hake ingest --replace` (replace=True), or "
                "write into a new store (`hake init --store NEW`); perception run again with other "
                "models or thresholds needs a new store"
            )
        counts.instances_skipped += 1
    if replaced:  # the stored instances go first (with the interactions that name them)
        if has_pairing_tables(store):
            pairings = [{"id": r["id"]} for k in replaced for r in store.query(_PAIRINGS_OF_INSTANCE, id=k)]
            load.first(DROP_PAIRINGS, pairings)
        load.first(_DROP_INSTANCES, [{"id": k} for k in replaced])
    counts.instances_replaced = len(replaced)
    new_keys = {o.key for o in new}
    missing_images: dict[str, ObjectInstance] = {}
    for o in instances:
        if o.image_key not in images_present and o.key in new_keys:
            missing_images.setdefault(o.image_key, o)
    if missing_images:
        sizes = [triplets.image_sizes.get(k) for k in missing_images]
        load.insert(
            "Image",
            {
                "id": list(missing_images),
                "width": [None if size is None else size[0] for size in sizes],
                "height": [None if size is None else size[1] for size in sizes],
                "frame_index": [o.frame_index for o in missing_images.values()],
                "video": [None if o.frame_index is None else o.image_id for o in missing_images.values()],
            },
        )
    load.insert(
        "ObjectInstance",
        {
            "id": [o.key for o in new],
            "object_id": [o.object_id for o in new],
            "bbox": [o.box.to_list() for o in new],
            "score": [o.score for o in new],
        },
    )
    load.relate(
        "IN_IMAGE",
        "ObjectInstance",
        "Image",
        {"from": [o.key for o in new], "to": [o.image_key for o in new]},
    )
    load.relate(
        "IS_A", "ObjectInstance", "Object", {"from": [o.key for o in new], "to": [o.object for o in new]}
    )
    counts.instances_added = len(new)

    written = set(persons_written)
    gone = set(replaced)
    held = stored_triplets(store)
    rows: dict[str, list[Any]] = {
        k: [] for k in ("from", "to", "activity", "score", "source", "model", "run")
    }
    given: dict[str, set[tuple[str, str]]] = {}
    known = {o.key for o in instances} | set(stored)
    for person, activity, obj in triplets.interactions:
        if obj not in known:
            raise StoreError(
                f"{source}: person {person!r}'s {activity!r} names object instance {obj!r}, which is "
                "neither given nor stored; give the instance with its image"
            )
        given.setdefault(person, set()).add((ontology.activities[activity].id, obj))
    for person, theirs in given.items():
        kept = person in held and not any(obj in gone for _, obj in held[person])
        if person not in written and kept:
            if held[person] != theirs:
                raise StoreError(
                    f"{source}: person {person!r} has other ground-truth triplets stored "
                    f"({sorted(held[person])}) than the input gives ({sorted(theirs)}); ingest "
                    "with --replace after changing its annotation, or into a new store"
                )
            continue
        for activity, obj in sorted(theirs):
            rows["from"].append(person)
            rows["to"].append(obj)
            rows["activity"].append(activity)
            rows["score"].append(1.0)
            rows["source"].append("annotation")
            rows["model"].append(model)
            rows["run"].append(run)
    if rows["from"]:
        load.tag("INTERACTS_WITH", "run", run)
    load.relate("INTERACTS_WITH", "Person", "ObjectInstance", rows)
    counts.interactions_added = len(rows["from"])
    return counts


def _f32(values: list[float]) -> list[float]:
    from array import array

    return array("f", values).tolist()


def _stored_instances(store: GraphStore, keys: Sequence[str]) -> dict[str, tuple[str, list[float], float]]:
    """Object key -> (class, box, score) of the stored instances among ``keys``: index
    lookups on Neo4j; on the embedded store a primary-key lookup per key for a few keys
    (:data:`kg._stored.LOOKUP_MAX`), else one scan (an UNWIND of ids scans per batch there)."""
    if not keys or not has_triplet_tables(store):
        return {}
    columns = "RETURN o.id AS id, c.id AS c, o.bbox AS box, o.score AS s"
    if store.backend == "neo4j":
        rows = store.query(
            f"UNWIND $ids AS i MATCH (o:ObjectInstance {{id: i}})-[:IS_A]->(c:Object) {columns}",
            ids=list(keys),
        )
    elif len(keys) <= LOOKUP_MAX:
        rows = [r for k in dict.fromkeys(keys) for r in store.query(f"{_INSTANCE_BY_KEY} {columns}", id=k)]
    else:
        rows = store.query(f"MATCH (o:ObjectInstance)-[:IS_A]->(c:Object) {columns}")
    wanted = set(keys)
    return {r["id"]: (r["c"], _f32(list(r["box"])), r["s"]) for r in rows if r["id"] in wanted}


#: An instance and its class by the instance's key (a scalar parameter: the primary-key index).
_INSTANCE_BY_KEY = "MATCH (o:ObjectInstance {id: $id})-[:IS_A]->(c:Object)"


# ---- pairing explanations: why the pairing model chose a prediction's instance ----------

#: Replacing a person's earlier pairing explanations of a model with its triplets, once a run's
#: rows are in (kg.predictions.PredictionWriter.close runs these beside its own): embedded, the
#: run's persons found by one scan of its DOES edges; Neo4j, an index lookup per person.
STALE_PAIRINGS_EMBEDDED = (
    "MATCH (p:Person)-[n:DOES]->(:Activity) WHERE n.run = $run WITH DISTINCT p "
    "MATCH (p)-[:PAIR_EXPLAINED_BY]->(e:PairingExplanation) WHERE e.model = $model "
    "AND (e.run IS NULL OR e.run <> $run) DETACH DELETE e"
)
STALE_PAIRINGS_NEO4J = (
    "UNWIND $rows AS r MATCH (p:Person {id: r.p})-[:PAIR_EXPLAINED_BY]->(e:PairingExplanation) "
    "WHERE e.model = r.model AND (e.run IS NULL OR e.run <> r.run) DETACH DELETE e"
)

#: A person's pairing explanations (a lookup per person), and their delete by id (a primary-key
#: lookup per row on LadybugDB, an index lookup on Neo4j): what kg.ingest's ``replace`` deletes
#: with a replaced person, beside its explanations.
PAIRINGS_OF_PERSON = (
    "MATCH (p:Person {id: $id})-[:PAIR_EXPLAINED_BY]->(e:PairingExplanation) RETURN e.id AS id"
)
DROP_PAIRINGS = "UNWIND $rows AS r MATCH (e:PairingExplanation {id: r.id}) DETACH DELETE e"

#: The node label of each kind of pairing term (kg.schema: PAIR_CONTRIBUTES_TO).
_PAIRING_LABELS = {
    "geometry": "PairingTerm",
    "cascade": "PairingTerm",
    "part_state": "PartState",
    "body_part": "BodyPart",
}


def has_pairing_tables(store: GraphStore) -> bool:
    """Whether the store has the pairing-explanation tables: always, except an embedded store
    of an earlier version opened read-only (opened read-write, it gains them)."""
    if store.backend != "embedded":
        return True
    return any(r["name"] == "PairingExplanation" for r in store.query("CALL show_tables() RETURN name"))


def stage_pairing_explanations(
    load: BulkLoad,
    store: GraphStore,
    predictions: Sequence[tuple[str, ActivityPrediction]],
    *,
    run: str,
    model: str,
) -> int:
    """Add to ``load`` why the pairing model chose each triplet's instance: ``predictions``
    are ``(person key, prediction)`` as :class:`kg.predictions.PredictionWriter` takes them,
    of run ``run`` of ``model`` (the ``INTERACTS_WITH`` edges' run and model); each prediction
    with a :attr:`~ontology.ActivityPrediction.pairing` (it names an instance, stored or staged
    in this load, as its person) is one ``PairingExplanation`` node with its
    ``PAIR_EXPLAINED_BY``, ``CONCERNS`` and ``PAIR_CONTRIBUTES_TO`` edges (:mod:`kg.schema`);
    the others are skipped. The ``PairingTerm`` nodes the terms need are added when the store
    lacks them. They land with the load (all or nothing) and are replaced with the model's
    triplets of the person (:data:`STALE_PAIRINGS_EMBEDDED`). Returns the number staged."""
    from reasoning.pairing import PAIRING_TERMS  # (the caller ran the pairing model)

    explained = [
        (person, p.activity, str(p.object_key), p.pairing)
        for person, p in predictions
        if p.pairing is not None
    ]
    if not explained:
        return 0
    kinds = {c.kind for _, _, _, e in explained for c in e.contributions}
    if kinds - set(_PAIRING_LABELS):
        raise StoreError(
            f"pairing explanations name term kinds {sorted(kinds - set(_PAIRING_LABELS))}; expected "
            f"{sorted(_PAIRING_LABELS)}"
        )
    terms = {t[0]: (i, t) for i, t in enumerate(PAIRING_TERMS)}
    named = {
        c.term
        for _, _, _, e in explained
        for c in e.contributions
        if _PAIRING_LABELS[c.kind] == "PairingTerm"
    }
    if named - set(terms):
        raise StoreError(
            f"pairing explanations name unknown pairing terms {sorted(named - set(terms))}; the "
            f"store knows {sorted(terms)} (reasoning.pairing.PAIRING_TERMS)"
        )
    missing = [t for t in terms if t not in stored_ids(store, "PairingTerm", list(terms))]
    if missing:
        load.insert(
            "PairingTerm",
            {
                "id": missing,
                "kind": [terms[t][1][1] for t in missing],
                "name": [terms[t][1][2] for t in missing],
                "idx": [terms[t][0] for t in missing],
            },
        )
    ids = [f"{run}:pair:{n}" for n in range(len(explained))]
    load.tag("PairingExplanation", "run", run)
    load.insert(
        "PairingExplanation",
        {
            "id": ids,
            "activity": [a for _, a, _, _ in explained],
            "method": [e.method for _, _, _, e in explained],
            "model": [model] * len(ids),
            "score": [e.score for _, _, _, e in explained],
            "baseline": [e.baseline for _, _, _, e in explained],
            "rest": [e.rest for _, _, _, e in explained],
            "run": [run] * len(ids),
        },
    )
    load.relate(
        "PAIR_EXPLAINED_BY",
        "Person",
        "PairingExplanation",
        {"from": [p for p, _, _, _ in explained], "to": ids},
    )
    load.relate(
        "CONCERNS",
        "PairingExplanation",
        "ObjectInstance",
        {"from": ids, "to": [o for _, _, o, _ in explained]},
    )
    by_label: dict[str, dict[str, list[Any]]] = {}
    for i, (_, _, _, e) in zip(ids, explained, strict=True):
        for c in e.contributions:
            cols = by_label.setdefault(_PAIRING_LABELS[c.kind], {"from": [], "to": [], "weight": []})
            cols["from"].append(c.term)
            cols["to"].append(i)
            cols["weight"].append(c.weight)
    for label, cols in by_label.items():
        load.relate("PAIR_CONTRIBUTES_TO", label, "PairingExplanation", cols)
    return len(ids)


#: A person's pairing explanations with their instance and their terms (one read: the
#: OPTIONAL MATCH repeats the explanation per term, which is fine for a few).
_PAIRINGS_OF = (
    "MATCH (p:Person {id: $person})-[:PAIR_EXPLAINED_BY]->(e:PairingExplanation)-[:CONCERNS]->"
    "(o:ObjectInstance) OPTIONAL MATCH (t)-[c:PAIR_CONTRIBUTES_TO]->(e) "
    "RETURN e.id AS id, e.activity AS activity, o.id AS object, e.run AS run, "
    "e.method AS method, e.score AS score, e.baseline AS baseline, e.rest AS rest, "
    "t.kind AS kind, t.id AS term, c.weight AS weight"
)


def read_pairings(
    store: GraphStore, person: str, ontology: Ontology
) -> dict[tuple[str, str], tuple[str, PairingExplanation]]:
    """Why the pairing model chose each of ``person``'s model triplets' instances (person key
    ``"<image>/<person>"``), by ``(run, activity id)``: the instance's key and the
    :class:`ontology.PairingExplanation` that was written, checked against ``ontology`` (the
    store's). :func:`kg.read_predictions` puts each on its prediction. A store without the
    tables (an earlier version, read-only) has none. A read."""
    if not has_pairing_tables(store):
        return {}
    found: dict[str, dict[str, Any]] = {}
    for r in store.query(_PAIRINGS_OF, person=person):
        entry = found.setdefault(r["id"], {**r, "contributions": []})
        if r["term"] is not None:
            entry["contributions"].append(PairingContribution(r["kind"], r["term"], r["weight"], ontology))
    return {
        (e["run"], e["activity"]): (
            e["object"],
            PairingExplanation(
                e["method"], e["score"], e["baseline"], e["rest"], tuple(e["contributions"]), ontology
            ),
        )
        for e in found.values()
    }
