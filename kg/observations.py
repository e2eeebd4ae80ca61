"""Read stored persons and predictions back as the records that were written.

:func:`read_predictions` gives a person's stored model predictions back as
:class:`ontology.ActivityPrediction` records with their :class:`ontology.Explanation`, the
object instance each names and why the pairing model named it
(:class:`ontology.PairingExplanation`).

:func:`read_observations` is the inverse of :func:`kg.ingest.ingest_observations`: each
stored person comes back as a :class:`ontology.PersonObservation` made with the store's
ontology, equal to the record that was ingested, with one exception: the store keeps a
person's objects as ``NEAR`` edges (highest score of each object class, no box), so an
object's ``box`` comes back ``None`` and an object detected twice comes back once, with its
highest score. Objects come back in ontology order.

>>> import tempfile, kg, ontology
>>> obs = ontology.PersonObservation("a#1.jpg", "0", box=(1, 2, 30, 40),
...                                  part_states={"hand: hold": 0.5}, source="annotation")
>>> with kg.EmbeddedStore(tempfile.mkdtemp()) as store:
...     _ = kg.init_store(store)
...     _ = kg.ingest_observations(store, [obs])
...     kg.read_observations(store) == [obs]
True
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from kg._triplets import has_triplet_tables, read_pairings
from kg.store.base import GraphStore
from kg.store_ontology import store_ontology
from ontology import (
    ActivityPrediction,
    Box,
    Contribution,
    DetectedObject,
    Explanation,
    Keypoint,
    PersonObservation,
    StoreError,
)
from ontology.identity import object_key, split_image_key

__all__ = ["read_annotated", "read_observations", "read_predictions"]

_PERSONS = (
    "MATCH (p:Person)-[:IN_IMAGE]->(i:Image) {where}"
    "RETURN p.id AS key, p.person_id AS person_id, p.bbox AS bbox, p.keypoints AS keypoints, "
    "p.part_boxes AS part_boxes, p.track_id AS track_id, p.source AS source, p.model AS model, "
    "i.id AS image, i.video AS video, i.frame_index AS frame_index, i.timestamp AS timestamp"
)
#: field -> (relationship, term label, value property); names from this table only
_MAPS = {
    "part_states": ("HAS_STATE", "PartState", "prob"),
    "active_parts": ("USES_PART", "BodyPart", "prob"),
    "objects": ("NEAR", "Object", "score"),
}


def _image_id(node_id: str, video: str | None) -> str:
    """The ``image_id`` an Image node was made from (:func:`ontology.identity.split_image_key`)."""
    if video is not None:
        return video
    return split_image_key(node_id)[0]


def read_observations(store: GraphStore, persons: Sequence[str] | None = None) -> list[PersonObservation]:
    """The stored persons (all, or those of the person keys ``persons``, ``"<image>/<person>"``)
    as observation records, sorted by person key. A read: works on a read-only store."""
    onto = store_ontology(store)
    where = "WHERE p.id IN $ids " if persons is not None else ""
    params: dict[str, Any] = {"ids": list(persons)} if persons is not None else {}
    rows = store.query(_PERSONS.format(where=where), **params)
    maps: dict[str, dict[str, dict[str, float]]] = {field: defaultdict(dict) for field in _MAPS}
    for field, (rel, label, value) in _MAPS.items():
        found = store.query(
            f"MATCH (p:Person)-[r:{rel}]->(t:{label}) {where}"
            f"RETURN p.id AS key, t.id AS term, r.{value} AS value",
            **params,
        )
        for r in found:
            maps[field][r["key"]][r["term"]] = r["value"]
    fine = onto.body_parts.ids
    out = []
    for row in sorted(rows, key=lambda r: str(r["key"])):
        key = row["key"]
        keypoints = row["keypoints"]
        flat_boxes = row["part_boxes"] or []
        part_boxes = {
            part: Box(*flat_boxes[4 * i : 4 * i + 4])
            for i, part in enumerate(fine)
            if len(flat_boxes) >= 4 * i + 4 and flat_boxes[4 * i] == flat_boxes[4 * i]  # NaN: no box
        }
        objects = sorted(maps["objects"].get(key, {}).items(), key=lambda item: onto.objects[item[0]].index)
        out.append(
            PersonObservation(
                image_id=_image_id(row["image"], row["video"]),
                person_id=row["person_id"],
                box=None if row["bbox"] is None else Box(*row["bbox"]),
                part_states=maps["part_states"].get(key, {}),
                active_parts=maps["active_parts"].get(key, {}),
                objects=tuple(DetectedObject(o, s, ontology=onto) for o, s in objects),
                keypoints=None
                if keypoints is None
                else tuple(Keypoint(*keypoints[3 * i : 3 * i + 3]) for i in range(len(keypoints) // 3)),
                part_boxes=part_boxes,
                frame_index=row["frame_index"],
                timestamp=row["timestamp"],
                track_id=row["track_id"],
                source=row["source"],
                model=row["model"],
                ontology=onto,
            )
        )
    return out


_PREDICTIONS = (
    "MATCH (p:Person {id: $person})-[d:DOES]->(a:Activity) WHERE d.source = 'model' "
    "MATCH (p)-[:IN_IMAGE]->(i:Image) MATCH (r:Run) WHERE r.id = d.run "
    "RETURN i.id AS image, p.person_id AS person_id, a.id AS activity, d.score AS score, "
    "d.model AS model, r.version AS version, d.run AS run"
)
#: The object instance each prediction names (its ``INTERACTS_WITH`` edge of the same run).
_TRIPLETS = (
    "MATCH (p:Person {id: $person})-[x:INTERACTS_WITH]->(o:ObjectInstance) WHERE x.source = 'model' "
    "RETURN x.run AS run, x.activity AS activity, o.object_id AS object_id"
)
_EXPLANATIONS = (
    "MATCH (p:Person {id: $person})-[:EXPLAINED_BY]->(e:Explanation)-[:EXPLAINS]->(a:Activity) "
    "OPTIONAL MATCH (t)-[c:CONTRIBUTES_TO]->(e) RETURN e.id AS id, e.run AS run, a.id AS activity, "
    "e.method AS method, e.score AS score, e.baseline AS baseline, e.rest AS rest, t.kind AS kind, "
    "t.id AS term, c.weight AS weight, c.edge AS edge"
)


def read_annotated(store: GraphStore) -> tuple[list[PersonObservation], list[tuple[str, ...]]]:
    """The persons with ground-truth activities (``DOES`` edges of source ``"annotation"``:
    an annotation ingest, ``kg.ingest_observations(..., activities=...)``, an RDF import), as
    observation records (:func:`read_observations`) and, per person, their activity ids in
    channel order: a store's training examples (``hake train --init-from CKPT --store DIR``).
    Persons without an annotated activity are left out. A read.

    >>> import tempfile, kg, ontology
    >>> obs = ontology.PersonObservation("a.jpg", "0", part_states={"hip: sit on": 1.0})
    >>> with kg.EmbeddedStore(tempfile.mkdtemp()) as store:
    ...     _ = kg.init_store(store)
    ...     _ = kg.ingest_observations(store, [obs], activities=[["ride bicycle"]])
    ...     people, labels = kg.read_annotated(store)
    >>> people == [obs], labels
    (True, [('ride-bicycle',)])
    """
    onto = store_ontology(store)
    rows = store.query(
        "MATCH (p:Person)-[d:DOES]->(a:Activity) WHERE d.source = 'annotation' "
        "RETURN p.id AS key, a.id AS activity"
    )
    labels: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        labels[str(r["key"])].add(str(r["activity"]))
    people = read_observations(store, sorted(labels)) if labels else []
    return people, [tuple(sorted(labels[p.key], key=lambda a: onto.activities[a].index)) for p in people]


def read_predictions(store: GraphStore, person: str) -> list[ActivityPrediction]:
    """The model predictions stored for ``person`` (``"<image>/<person>"``), best first, each
    with its explanation as an :class:`~ontology.Explanation` record (``None`` when the run
    wrote none), the object instance it names (``object_id``, ``None`` when it names none)
    and why the pairing model named that instance (``pairing``, an
    :class:`~ontology.PairingExplanation`; ``None`` when none was written). ``image_id`` is
    the image node id, as the reasoner's records give it. A read."""
    onto = store_ontology(store)
    rows = store.query(_PREDICTIONS, person=person)
    if not rows and not store.query("MATCH (p:Person {id: $person}) RETURN p.id AS id", person=person):
        raise StoreError(
            f"no person {person!r} in the store; person ids look like '<image id>/<person id>', "
            'list some with: hake query "MATCH (p:Person) RETURN p.id AS id LIMIT 10"'
        )
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for r in store.query(_EXPLANATIONS, person=person):
        entry = found.setdefault((r["run"], r["activity"]), {**r, "contributions": []})
        if r["term"] is not None:
            entry["contributions"].append(Contribution(r["kind"], r["term"], r["weight"], r["edge"], onto))
    instances: dict[tuple[str, str], str] = {}
    if has_triplet_tables(store):
        for r in store.query(_TRIPLETS, person=person):
            instances[(r["run"], r["activity"])] = r["object_id"]
    pairings = read_pairings(store, person, onto) if instances else {}
    out = []
    for r in rows:
        e = found.get((r["run"], r["activity"]))
        object_id = instances.get((r["run"], r["activity"]))
        paired = pairings.get((r["run"], r["activity"]))
        # (written with the triplet; the instance is the one the triplet names)
        pairing = (
            paired[1]
            if paired is not None and object_id is not None and paired[0] == object_key(r["image"], object_id)
            else None
        )
        explanation = (
            None
            if e is None
            else Explanation(
                e["activity"],
                e["method"],
                tuple(e["contributions"]),
                e["score"],
                e["baseline"],
                e["rest"],
                onto,
            )
        )
        out.append(
            ActivityPrediction(
                r["image"],
                r["person_id"],
                r["activity"],
                r["score"],
                r["model"],
                r["version"],
                explanation,
                onto,
                object_id=object_id,
                pairing=pairing,
            )
        )
    return sorted(out, key=lambda p: (-p.score, p.activity))
