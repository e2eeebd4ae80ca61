"""The graph schema: one definition for every store (a public contract for users' queries).

Ontology (loaded by ``hake init``, the packaged one or merged with extension files)::

    (:Ontology {id, version, sources})                 one node: the store's vocabulary
    (:BodyPart {id, kind, name, granularity, side, idx})-[:PART_OF]->(:BodyPart)  fine -> coarse
    (:PartState {id, kind, name, part, verb_phrase, no_interaction, idx, hico_idx, description})
        -[:OF_PART]->(:BodyPart)                                             -> coarse part
    (:Verb {id, kind, name, idx, hico_id, description})
    (:Object {id, kind, name, idx, hico_id, description})
    (:Activity {id, kind, name, idx, hoi_id, level, description})-[:HAS_VERB]->(:Verb)
    (:Activity)-[:HAS_OBJECT]->(:Object)           interactions only (person-only: no object)
    (:Activity)-[:BROADER]->(:Activity)            hierarchy: atomic -> composite -> area
    (:Verb|:Activity)-[:CHARACTERISED_BY {weight}]->(:PartState)   an extension's definitions

The schema is the same for every ontology; the ontology decides the rows. ``Ontology.id`` is
the content id of the merged ontology (:attr:`ontology.Ontology.id`) and ``sources`` a JSON
list of the files it was built from, extensions with their text
(:meth:`ontology.OntologySource.to_dict`): :func:`kg.ingest.store_ontology` rebuilds the same
``Ontology`` value from it without reading any file. ``level`` is ``"atomic"`` for an
activity with a verb, ``"composite"`` or what the extension names (``"area"``) otherwise.

Cross-level evidence (computed from ingested annotations, :mod:`kg.evidence`)::

    (:PartState)-[:IMPLIES {count, cond_prob, npmi, weight}]->(:Activity)
    (:PartState)-[:IMPLIES {count, cond_prob, npmi, weight}]->(:Verb)

Instances::

    (:Person {id, person_id, bbox, keypoints, part_boxes, track_id, source, model, digest})
        -[:IN_IMAGE]->(:Image {id, width, height, frame_index, timestamp, video})
    (:Person)-[:HAS_STATE {prob, source}]->(:PartState)            the model is Person.model
    (:Person)-[:USES_PART {prob, source}]->(:BodyPart)             active fine parts
    (:Person)-[:NEAR {score, count}]->(:Object)                    detected / annotated objects
    (:Person)-[:DOES {score, source, model, run}]->(:Activity)
    (:ObjectInstance {id, object_id, bbox, score})-[:IN_IMAGE]->(:Image)    one object in an image
    (:ObjectInstance)-[:IS_A]->(:Object)                                      its class
    (:Person)-[:INTERACTS_WITH {activity, score, source, model, run}]->(:ObjectInstance)
    (:Person)-[:EXPLAINED_BY]->(:Explanation {id, method, model, score, baseline, rest, run})
    (:Explanation)-[:EXPLAINS]->(:Activity)
    (:PartState|:Object|:BodyPart)-[:CONTRIBUTES_TO {weight, edge}]->(:Explanation)
    (:Person)-[:PAIR_EXPLAINED_BY]->(:PairingExplanation {id, activity, method, model, score,
        baseline, rest, run})-[:CONCERNS]->(:ObjectInstance)   why the instance was chosen
    (:PairingTerm|:PartState|:BodyPart)-[:PAIR_CONTRIBUTES_TO {weight}]->(:PairingExplanation)
    (:PairingTerm {id, kind, name, idx})           a geometric feature or a cascade term
    (:Run {id, kind, model, version, ontology, created, method, top_k, min_share, persons,
        predictions})

Time (videos, their frames, tracks, segments and clip labels)::

    (:Video {id, fps, frame_count, duration})
    (:Image)-[:IN_VIDEO]->(:Video)                 a frame of the video (Image.frame_index)
    (:Image)-[:NEXT]->(:Image)                     the next stored frame of the same video
    (:Track {id, track_id})-[:IN_VIDEO]->(:Video)
    (:Person)-[:OF_TRACK]->(:Track)                a person of a frame is one moment of a track
    (:Track)-[:SEGMENT {start_frame, end_frame, start_time, end_time, score, source, model, run}]
        ->(:Activity)                              the track does the activity in that interval
    (:Video)-[:CLIP_LABEL {score, source, model, run}]->(:Activity)   what the whole clip shows

Triplets (<person, activity, object instance>, HICO-DET's human-object pairs): an
``ObjectInstance`` is one object of an image, ``id`` its key ``"<image key>/<object id>"``
(:func:`ontology.identity.object_key`, the same form as a person's; the label tells them
apart), ``object_id`` its id within the image, ``bbox`` its box (``FLOAT[4]`` as a person's)
and ``score`` its detection score (1.0 for an annotation). An ``INTERACTS_WITH`` edge says
that the person does ``activity`` (an activity id, whose object is the instance's class)
with that instance: ``source = "annotation"`` for ground truth (model
``"hake-annotation"``, the run of the ingest that wrote it) or ``"model"`` for a prediction
that names its instance (:attr:`ontology.ActivityPrediction.object_id`), with its score,
model and run, whose ``Run`` node has the version, as for ``DOES``. Every
``INTERACTS_WITH`` edge has a ``DOES`` edge of the same person, activity, source and run
beside it (the person-level fact); a person-only activity has no ``INTERACTS_WITH``. The
``NEAR`` edges stay as they were: a person's objects per class, with no instance. A store made
before object instances (2026-12-06) opens read-write as before: :meth:`EmbeddedStore.ensure_schema
<kg.store.embedded.EmbeddedStore.ensure_schema>` creates the new tables and adds the
``ObjectInstance -> Image`` pair to its ``IN_IMAGE`` table (:func:`ladybug_added_pairs`); opened
read-only it is read as it is (no triplets).

Why a model triplet names its instance (the pairing model's choice, :mod:`reasoning.pairing`;
written by :func:`kg.reason.reason_scenes` and ``Engine.infer`` in the load of the triplets,
all or nothing): one ``PairingExplanation`` per ``INTERACTS_WITH`` edge of ``source =
"model"`` that the pairing model chose, with the same person, ``activity`` (an id), ``model``
and ``run``, ``CONCERNS`` the instance. It is exact as an ``Explanation`` is, on its own
numbers: ``baseline`` plus its ``PAIR_CONTRIBUTES_TO`` weights plus ``rest`` is ``score``, the
pair score the instance won by (:class:`ontology.PairingExplanation`: the pair logit with
the prediction's score as the second round's prior, plus ``log sigmoid`` of the pair's
interactiveness; a log-probability up to the candidates' constant, not a probability).
``method`` is ``"pairing-integrated-gradients"``. The terms kept: the geometric features of
the two boxes (all 13 by default; a ``PairingTerm`` of ``kind = "geometry"``: ``"box_iou"``,
``"centre_distance"``, ...), the strongest part states and active body parts of the person
(their ontology nodes), and always the two ``kind = "cascade"`` terms ``"second_round"``
(the other persons' claim on the instance) and ``"interactiveness"``; ``rest`` is the terms
left out and what the integrated-gradient steps leave. ``PairingTerm`` nodes (``idx``: the
feature's channel, :data:`reasoning.pairing.PAIRING_TERMS`) are added by the first write
that needs them. Separate tables from ``Explanation`` on purpose: the embedded store rebuilds
the ``Explanation`` tables when a write replaces many predictions (:mod:`kg.predictions`),
and a pair of those tables it is not told about would lose its rows. A pairing explanation
is replaced with its model's triplets of the person, deleted with its person or its
instance when an ingest with ``replace`` changes them, and read back by
:func:`kg.read_predictions` as the record that was written (each prediction's
:attr:`~ontology.ActivityPrediction.pairing`, the :class:`ontology.PairingExplanation` that
:func:`reasoning.pairing.explain_pair_predictions` made; example query ``why_paired``). A
store made before pairing explanations opens read-write with the new tables, empty;
read-only, it has none.

Time: ``Video.id`` is the video key (:func:`ontology.identity.video_key`: the video id, with
``%`` and ``#`` encoded as in an image key, so a frame's ``Image.id`` is ``"<video key>#<frame>"``)
and ``Track.id`` the track key ``"<video key>@<track id>"`` (:func:`ontology.identity.track_key`;
``track_id`` the perception's track number). ``fps``, ``frame_count`` and ``duration`` (seconds)
are what the ingest was told (:class:`ontology.VideoInfo`), null when unknown: ``frame_count``
counts the video's frames, not the stored ones (a store may hold every 5th frame). ``NEXT`` joins
consecutive *stored* frames of a video by ``frame_index``, whatever their gap; a frame ingested
later between two stored ones takes its place in the chain (their ``NEXT`` edge is replaced by
two). Segments are intervals of frames, both ends included, with their times in seconds where
known (null otherwise); ``source``, ``model`` and ``run`` as for ``DOES`` (ground truth:
``source = "annotation"``), each write one ``Run`` (``kind = "segments"`` or ``"clip_labels"``,
with the model's version): a model's segments of a track (its clip labels of a video) are replaced
as a whole by the model's next write naming that track (video). Written and read as records:
:func:`kg.write_segments`, :func:`kg.write_clip_labels`, :func:`kg.read_segments`,
:func:`kg.read_clip_labels` (:mod:`kg._video`, which also says how the ingest builds the video
graph). A store made before videos (2026-12-06) opens read-write with the new tables, empty; its
frames gain ``Video``, ``IN_VIDEO``, ``NEXT``, ``Track`` and ``OF_TRACK`` when their video's
observations are ingested again (which writes nothing else); opened read-only it reads as it is
(no video tables: the readers return nothing).

Internal: ``(:BulkLoad {id, created})`` marks a bulk load of the embedded store as committed
until it is finished (no row exists between commands).

A prediction is a ``DOES`` edge with ``source = "model"``; ground truth has ``source =
"annotation"``. Each write of predictions is one ``Run`` (``kind = "reasoning"``), and so is
each ingest that adds ground truth (``kind = "annotation"``, ``version`` = the ingest's
source): its id is the ``run`` of the ``DOES`` edges and ``Explanation`` nodes it wrote
(``MATCH (r:Run {id: d.run})``), and what is the same for all of them (model version,
ontology version, time) is on the ``Run`` only: measured with LadybugDB 0.22 on 2.1M ``DOES``
edges, those three columns cost 4.8 s of the 10.1 s of their ``COPY`` and commit. A person's
predictions of a model are replaced as a whole by the model's next run over that person.
An explanation is exact: ``baseline`` (the no-evidence logit) plus its
contributions' weights plus ``rest`` (the summed weight of the contributions too small to
keep) is the activity's logit. A contribution's ``edge`` is the path it took, or null when it
is the term's total over every path (the default, see :mod:`reasoning.batch`); what it is a
contribution of is the term node's ``kind`` (``t.kind``: ``"part_state"``, ``"object"``,
``"body_part"``; every ontology node has one), its rank the order of ``weight`` (largest
first). Kind and rank were columns of ``CONTRIBUTES_TO`` once: measured with LadybugDB 0.22
on 4.9M contributions, the two cost 4.4 s of the 9.3 s their ``COPY`` and commit took.
Explanation ids are ``"<run>:<n>"``, opaque: reach an explanation from
its person or activity.

``Person.id`` is ``"<image node id>/<person id>"`` and ``Image.id`` is ``"<image id>"`` or,
for a video frame, ``"<video id>#<frame>"``; ``%`` and ``#`` inside an image id and ``%``
and ``/`` inside a person id are percent-encoded (:mod:`ontology.identity`, the one rule: a
``PersonObservation`` carries its ``key`` and ``image_key``, a prediction its ``key``), so keys
never collide (``cam/a.jpg`` stays as it is; person ``b/0`` there is ``cam/a.jpg/b%2F0``);
``Person.person_id`` is the id within the image (as given).
``Person.digest`` is a hash of everything ingested about the person (see :mod:`kg.ingest`):
re-ingesting a person with other data is refused by comparing it.

Every node has ``id``; ontology nodes also ``name`` (the ontology label: ``"hand: hold"``,
``"ride"``, ``"bicycle"``, ``"ride bicycle"``) and ``idx`` (the channel index).
``source`` is ``"annotation"`` or ``"model"``. ``keypoints`` is the 17 COCO keypoints
flattened ``[x, y, score, ...]``; ``part_boxes`` the 10 fine parts' boxes flattened in
channel order ``[x1, y1, x2, y2, ...]`` with NaN for a part without a box.
These three are stored as 32-bit floats on every backend, as fixed-size arrays on the
embedded store (``FLOAT[4]``, ``FLOAT[51]``, ``FLOAT[40]``; Neo4j gets the same float32
values as lists): the records round box and keypoint values to float32 when they accept them
(and refuse values beyond float32's range, see :mod:`ontology.records`), so what is stored is
exactly what was accepted. Detector and pose outputs are float32 and annotations are whole
pixels, so they are unchanged; anything else moves by under 0.001 px below 8K. Fixed-size,
because LadybugDB 0.22 compresses *variable-length* float lists wrongly when later ``COPY``
statements append to a table (values read back zeroed), while fixed-size arrays, scalars and
strings come back exact (see :class:`kg.store.embedded.EmbeddedStore`, which compresses).

Person -> image is ``IN_IMAGE``, not ``IN``: ``IN`` is a reserved word in LadybugDB's parser
(``MATCH (p)-[:IN]->(i)`` fails there), and the schema must read the same on every store.
"""

from __future__ import annotations

from dataclasses import dataclass

# The key rule is defined once, in ontology (records carry their keys); named here too, as
# the schema's ids are these keys.
from ontology.identity import image_key, object_key, person_key, track_key, video_key

__all__ = [
    "NODES",
    "RELS",
    "NodeTable",
    "RelTable",
    "ladybug_added_columns",
    "ladybug_added_pairs",
    "ladybug_ddl",
    "image_key",
    "object_key",
    "person_key",
    "properties_of",
    "track_key",
    "video_key",
]


@dataclass(frozen=True)
class NodeTable:
    """A node label with its typed properties (``id`` is the primary key)."""

    label: str
    properties: tuple[tuple[str, str], ...]  # (name, LadybugDB type)


@dataclass(frozen=True)
class RelTable:
    """A relationship type, the (from label, to label) pairs it joins, and its properties."""

    type: str
    pairs: tuple[tuple[str, str], ...]
    properties: tuple[tuple[str, str], ...] = ()


NODES: tuple[NodeTable, ...] = (
    NodeTable(
        "BodyPart",
        (
            ("id", "STRING"),
            ("kind", "STRING"),
            ("name", "STRING"),
            ("granularity", "STRING"),
            ("side", "STRING"),
            ("idx", "INT64"),
        ),
    ),
    NodeTable(
        "PartState",
        (
            ("id", "STRING"),
            ("kind", "STRING"),
            ("name", "STRING"),
            ("part", "STRING"),
            ("verb_phrase", "STRING"),
            ("no_interaction", "BOOLEAN"),
            ("idx", "INT64"),
            ("hico_idx", "INT64"),
            ("description", "STRING"),
        ),
    ),
    NodeTable(
        "Verb",
        (
            ("id", "STRING"),
            ("kind", "STRING"),
            ("name", "STRING"),
            ("idx", "INT64"),
            ("hico_id", "INT64"),
            ("description", "STRING"),
        ),
    ),
    NodeTable(
        "Object",
        (
            ("id", "STRING"),
            ("kind", "STRING"),
            ("name", "STRING"),
            ("idx", "INT64"),
            ("hico_id", "INT64"),
            ("description", "STRING"),
        ),
    ),
    NodeTable(
        "Activity",
        (
            ("id", "STRING"),
            ("kind", "STRING"),
            ("name", "STRING"),
            ("idx", "INT64"),
            ("hoi_id", "INT64"),
            ("level", "STRING"),
            ("description", "STRING"),
        ),
    ),
    NodeTable("Ontology", (("id", "STRING"), ("version", "STRING"), ("sources", "STRING"))),
    NodeTable(
        "Image",
        (
            ("id", "STRING"),
            ("width", "INT64"),
            ("height", "INT64"),
            ("frame_index", "INT64"),
            ("timestamp", "DOUBLE"),
            ("video", "STRING"),
        ),
    ),
    NodeTable(
        "Person",
        (
            ("id", "STRING"),
            ("person_id", "STRING"),
            ("bbox", "FLOAT[4]"),
            ("keypoints", "FLOAT[51]"),
            ("part_boxes", "FLOAT[40]"),
            ("track_id", "INT64"),
            ("source", "STRING"),
            ("model", "STRING"),
            ("digest", "STRING"),
        ),
    ),
    NodeTable(
        "ObjectInstance",
        (("id", "STRING"), ("object_id", "STRING"), ("bbox", "FLOAT[4]"), ("score", "DOUBLE")),
    ),
    NodeTable(
        "Explanation",
        (
            ("id", "STRING"),
            ("method", "STRING"),
            ("model", "STRING"),
            ("score", "DOUBLE"),
            ("baseline", "DOUBLE"),
            ("rest", "DOUBLE"),
            ("run", "STRING"),
        ),
    ),
    NodeTable(
        "PairingExplanation",
        (
            ("id", "STRING"),
            ("activity", "STRING"),
            ("method", "STRING"),
            ("model", "STRING"),
            ("score", "DOUBLE"),
            ("baseline", "DOUBLE"),
            ("rest", "DOUBLE"),
            ("run", "STRING"),
        ),
    ),
    NodeTable("PairingTerm", (("id", "STRING"), ("kind", "STRING"), ("name", "STRING"), ("idx", "INT64"))),
    NodeTable(
        "Run",
        (
            ("id", "STRING"),
            ("kind", "STRING"),
            ("model", "STRING"),
            ("version", "STRING"),
            ("ontology", "STRING"),
            ("created", "STRING"),
            ("method", "STRING"),
            ("top_k", "INT64"),
            ("min_share", "DOUBLE"),
            ("persons", "INT64"),
            ("predictions", "INT64"),
        ),
    ),
    NodeTable(
        "Video",
        (("id", "STRING"), ("fps", "DOUBLE"), ("frame_count", "INT64"), ("duration", "DOUBLE")),
    ),
    NodeTable("Track", (("id", "STRING"), ("track_id", "INT64"))),
    # The embedded store's commit marker of a bulk load (see EmbeddedStore.bulk_load): a row
    # exists only from the load's commit until it is finished.
    NodeTable("BulkLoad", (("id", "STRING"), ("created", "STRING"))),
)

_EVIDENCE = (("count", "INT64"), ("cond_prob", "DOUBLE"), ("npmi", "DOUBLE"), ("weight", "DOUBLE"))

RELS: tuple[RelTable, ...] = (
    RelTable("PART_OF", (("BodyPart", "BodyPart"),)),
    RelTable("OF_PART", (("PartState", "BodyPart"),)),
    RelTable("HAS_VERB", (("Activity", "Verb"),)),
    RelTable("HAS_OBJECT", (("Activity", "Object"),)),
    RelTable("BROADER", (("Activity", "Activity"),)),
    RelTable("CHARACTERISED_BY", (("Verb", "PartState"), ("Activity", "PartState")), (("weight", "DOUBLE"),)),
    RelTable("IMPLIES", (("PartState", "Activity"), ("PartState", "Verb")), _EVIDENCE),
    RelTable("IN_IMAGE", (("Person", "Image"), ("ObjectInstance", "Image"))),
    RelTable("IS_A", (("ObjectInstance", "Object"),)),
    RelTable(
        "HAS_STATE",
        (("Person", "PartState"),),
        (("prob", "DOUBLE"), ("source", "STRING")),
    ),
    RelTable("USES_PART", (("Person", "BodyPart"),), (("prob", "DOUBLE"), ("source", "STRING"))),
    RelTable("NEAR", (("Person", "Object"),), (("score", "DOUBLE"), ("count", "INT64"))),
    RelTable(
        "DOES",
        (("Person", "Activity"),),
        (
            ("score", "DOUBLE"),
            ("source", "STRING"),
            ("model", "STRING"),
            ("run", "STRING"),
        ),
    ),
    RelTable(
        "INTERACTS_WITH",
        (("Person", "ObjectInstance"),),
        (
            ("activity", "STRING"),
            ("score", "DOUBLE"),
            ("source", "STRING"),
            ("model", "STRING"),
            ("run", "STRING"),
        ),
    ),
    RelTable("IN_VIDEO", (("Image", "Video"), ("Track", "Video"))),
    RelTable("NEXT", (("Image", "Image"),)),
    RelTable("OF_TRACK", (("Person", "Track"),)),
    RelTable(
        "SEGMENT",
        (("Track", "Activity"),),
        (
            ("start_frame", "INT64"),
            ("end_frame", "INT64"),
            ("start_time", "DOUBLE"),
            ("end_time", "DOUBLE"),
            ("score", "DOUBLE"),
            ("source", "STRING"),
            ("model", "STRING"),
            ("run", "STRING"),
        ),
    ),
    RelTable(
        "CLIP_LABEL",
        (("Video", "Activity"),),
        (("score", "DOUBLE"), ("source", "STRING"), ("model", "STRING"), ("run", "STRING")),
    ),
    RelTable("EXPLAINED_BY", (("Person", "Explanation"),)),
    RelTable("EXPLAINS", (("Explanation", "Activity"),)),
    RelTable(
        "CONTRIBUTES_TO",
        (("PartState", "Explanation"), ("Object", "Explanation"), ("BodyPart", "Explanation")),
        (("weight", "DOUBLE"), ("edge", "STRING")),
    ),
    RelTable("PAIR_EXPLAINED_BY", (("Person", "PairingExplanation"),)),
    RelTable("CONCERNS", (("PairingExplanation", "ObjectInstance"),)),
    RelTable(
        "PAIR_CONTRIBUTES_TO",
        (
            ("PairingTerm", "PairingExplanation"),
            ("PartState", "PairingExplanation"),
            ("BodyPart", "PairingExplanation"),
        ),
        (("weight", "DOUBLE"),),
    ),
)

NODE_BY_LABEL = {n.label: n for n in NODES}
REL_BY_TYPE = {r.type: r for r in RELS}


def ladybug_ddl() -> list[str]:
    """``CREATE ... TABLE IF NOT EXISTS`` statements for LadybugDB, nodes first (a table made by
    an earlier version gets its new columns from :func:`ladybug_added_columns`)."""
    out = []
    for node in NODES:
        cols = ", ".join(f"{name} {typ}" for name, typ in node.properties)
        out.append(f"CREATE NODE TABLE IF NOT EXISTS {node.label}({cols}, PRIMARY KEY(id))")
    for rel in RELS:
        parts = [f"FROM {a} TO {b}" for a, b in rel.pairs]
        parts += [f"{name} {typ}" for name, typ in rel.properties]
        out.append(f"CREATE REL TABLE IF NOT EXISTS {rel.type}({', '.join(parts)})")
    return out


def properties_of(table: str) -> tuple[tuple[str, str], ...]:
    """The (name, type) properties of node label or relationship type ``table``."""
    if table in NODE_BY_LABEL:
        return NODE_BY_LABEL[table].properties
    if table in REL_BY_TYPE:
        return REL_BY_TYPE[table].properties
    raise KeyError(f"{table!r} is neither a node label nor a relationship type of kg.schema")


def ladybug_added_pairs(rel: str, present: set[tuple[str, str]]) -> list[str]:
    """``ALTER TABLE`` statements adding the (from, to) pairs of relationship table ``rel``
    that ``present`` lacks (a store made before the pair existed: ``IN_IMAGE`` joined persons
    to images only until object instances came, 2026-12-06)."""
    return [
        f"ALTER TABLE {rel} ADD FROM {a} TO {b}" for a, b in REL_BY_TYPE[rel].pairs if (a, b) not in present
    ]


def ladybug_added_columns(table: str, present: set[str]) -> list[str]:
    """``ALTER TABLE`` statements adding the columns of ``table`` that ``present`` lacks (a
    store created before the column existed; the new column is null on old rows)."""
    return [
        f"ALTER TABLE {table} ADD IF NOT EXISTS {name} {typ}"
        for name, typ in properties_of(table)
        if name not in present
    ]
