"""The HAKE activity ontology, typed records and HAKE annotation importers.

``import ontology`` is light: standard library plus pyoxigraph/rdflib, never torch.

>>> import ontology
>>> onto = ontology.load()
>>> onto.stats()["part_states"], onto.stats()["activities"]
(93, 600)
>>> onto.part_states["hand: hold"].index
37

``ontology.load(*files)`` merges extension files (YAML or Turtle, :mod:`ontology.extension`)
into the packaged ontology; every layer takes the resulting :class:`Ontology` value.

Term lists (``onto.body_parts``, ``coarse_parts``, ``part_states``, ``hico_part_states``,
``verbs``, ``objects``, ``activities``) are in the fixed channel order used by every tensor
in the engine. Records (``PersonObservation``, ``ActivityPrediction``, ``Explanation``, ...)
are the only things that cross package borders. Records carry their identity: images,
video frames and persons are named by the one rule of :mod:`ontology.identity`
(``ontology.image_key``, ``ontology.person_key``; ``PersonObservation.key``).
"""

from __future__ import annotations

from ontology.errors import (
    AnnotationFormatError,
    CountError,
    HakeError,
    OntologyFileError,
    QueryError,
    ReadOnlyError,
    ReasoningError,
    RecordError,
    StoreError,
    UnknownTermError,
)
from ontology.hake import MERGE_IOU, read_hake_image, read_hake_instance, read_hake_pairs
from ontology.identity import image_key, object_key, person_key, track_key, video_key
from ontology.ontology import (
    COARSE_PART_ORDER,
    ActivityVocabulary,
    Ontology,
    OntologySource,
    example_extension,
    load,
    read_ontology,
    turtle_path,
)
from ontology.records import (
    COCO_KEYPOINTS,
    ActivityPrediction,
    ActivitySegment,
    Box,
    ClipLabel,
    Contribution,
    DetectedObject,
    EvidenceEdge,
    Explanation,
    HoiAnnotation,
    ImageAnnotation,
    ImageObservation,
    Interaction,
    Keypoint,
    ObjectInstance,
    PairingContribution,
    PairingExplanation,
    PersonAnnotation,
    PersonObservation,
    VideoInfo,
    observation_dict,
)
from ontology.statistics import cond_prob, npmi
from ontology.terms import NAMESPACE, Activity, BodyPart, ObjectClass, PartState, Verb
from ontology.vocabulary import Vocabulary

__version__ = "0.1.0"

__all__ = [
    "COARSE_PART_ORDER",
    "COCO_KEYPOINTS",
    "MERGE_IOU",
    "NAMESPACE",
    "Activity",
    "ActivityPrediction",
    "ActivitySegment",
    "ActivityVocabulary",
    "AnnotationFormatError",
    "BodyPart",
    "Box",
    "ClipLabel",
    "Contribution",
    "CountError",
    "DetectedObject",
    "EvidenceEdge",
    "Explanation",
    "HakeError",
    "HoiAnnotation",
    "Interaction",
    "OntologyFileError",
    "ImageAnnotation",
    "ImageObservation",
    "Keypoint",
    "ObjectClass",
    "ObjectInstance",
    "Ontology",
    "OntologySource",
    "PairingContribution",
    "PairingExplanation",
    "PartState",
    "PersonAnnotation",
    "PersonObservation",
    "QueryError",
    "ReadOnlyError",
    "ReasoningError",
    "RecordError",
    "StoreError",
    "UnknownTermError",
    "Verb",
    "VideoInfo",
    "Vocabulary",
    "__version__",
    "cond_prob",
    "example_extension",
    "image_key",
    "load",
    "npmi",
    "object_key",
    "observation_dict",
    "person_key",
    "read_hake_image",
    "read_hake_instance",
    "read_hake_pairs",
    "read_ontology",
    "track_key",
    "turtle_path",
    "video_key",
]
