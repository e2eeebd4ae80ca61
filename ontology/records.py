"""Records: the frozen dataclasses that cross package borders.

Perception produces :class:`PersonObservation`; reasoning turns observations into
:class:`ActivityPrediction` records carrying an :class:`Explanation`; the HAKE importers
produce :class:`ImageAnnotation` and :class:`PersonAnnotation`; ``kg`` stores all of them.

Records validate themselves when built: a probability outside [0, 1] or NaN, a term the
ontology does not hold, a box with ``x2 < x1`` raise :class:`~ontology.errors.RecordError`
naming the field and the value. Term keys may be given as ids, names or IRIs; they are
stored as ids.

Numbers are accepted only if the stores can hold them exactly as the record holds them
(``kg.schema``): ``frame_index`` and ``track_id`` must fit in int64 (``0 <= n < 2**63``);
other numbers must be finite float64s. Box coordinates (person, object and part boxes) and
keypoints (``x``, ``y`` and ``score``) are stored as 32-bit floats, so validation **rounds
them to the nearest float32** when it accepts them and refuses any whose magnitude exceeds
the float32 maximum (``3.4028234663852886e38``) instead of letting it become infinity in
the store. Detector and pose outputs are float32 and annotations whole pixels, so rounding
changes nothing for them; any other coordinate moves by at most half a float32 step (under
0.0005 px below 8K). Hence ``PersonObservation.from_dict(d).to_dict()`` is what a store
gives back for ``d``.

>>> Box(0.1, 0, 1e3, 2**24 + 1).to_list()
[0.10000000149011612, 0.0, 1000.0, 16777216.0]

>>> from ontology.records import Box, PersonObservation
>>> obs = PersonObservation(image_id="img1", person_id="0", box=Box(10, 20, 110, 220),
...                         part_states={"hand: hold": 0.9, "hip_sit_on": 0.7})
>>> sorted(obs.part_states.items())
[('hand_hold', 0.9), ('hip_sit_on', 0.7)]
>>> from ontology.errors import RecordError
>>> try:
...     PersonObservation(image_id="img1", person_id="0", part_states={"hand: hold": 1.5})
... except RecordError as err:
...     print(err)
PersonObservation.part_states['hand: hold']: expected a probability in [0, 1], got 1.5
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import InitVar, dataclass, field, fields
from typing import Any

from ontology import identity
from ontology.errors import RecordError, UnknownTermError
from ontology.ontology import Ontology, load
from ontology.vocabulary import Vocabulary

__all__ = [
    "COCO_KEYPOINTS",
    "CONTRIBUTION_KINDS",
    "PAIRING_KINDS",
    "ActivityPrediction",
    "ActivitySegment",
    "Box",
    "ClipLabel",
    "Contribution",
    "DetectedObject",
    "EvidenceEdge",
    "Explanation",
    "HoiAnnotation",
    "ImageAnnotation",
    "ImageObservation",
    "Interaction",
    "Keypoint",
    "ObjectInstance",
    "PairingContribution",
    "PairingExplanation",
    "PersonAnnotation",
    "PersonObservation",
    "VideoInfo",
    "observation_dict",
]

#: What a contribution to an explanation can be.
CONTRIBUTION_KINDS = ("part_state", "object", "body_part")
#: What a contribution to a pairing explanation can be: the pairing model's own terms (a
#: geometric feature of the two boxes, a term of its cascade) or the person's ontology terms.
PAIRING_KINDS = ("geometry", "cascade", "part_state", "body_part")
#: Where an observation came from.
SOURCES = ("model", "annotation")
#: The largest finite float32: box and keypoint coordinates beyond it are refused.
FLOAT32_MAX = 3.4028234663852886e38
#: The largest int64: frame indices and track ids beyond it are refused.
INT64_MAX = 2**63 - 1
_FLOAT32 = struct.Struct("f")
_FLOAT32x4 = struct.Struct("4f")


# ---- validation helpers ---------------------------------------------------------------


def _onto(ontology: Ontology | None) -> Ontology:
    """The ontology a record is checked against: the one given, else the packaged one."""
    return load() if ontology is None else ontology


def _number(record: str, name: str, value: object) -> float:
    if type(value) is float and value - value == 0.0:  # fast path: a finite float (NaN/inf fail)
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(record, name, value, "a number")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float64
        raise RecordError(record, name, value, "a finite number (this one exceeds float64)") from None
    if math.isnan(number):
        raise RecordError(record, name, value, "a number")
    if not math.isfinite(number):
        raise RecordError(record, name, value, "a finite number")
    return number


def _float32_range(record: str, name: str, value: float) -> None:
    if not -FLOAT32_MAX <= value <= FLOAT32_MAX:
        raise RecordError(
            record,
            name,
            value,
            f"a number within float32 range (|x| <= {FLOAT32_MAX!r}; the stores hold it as a 32-bit float)",
        )


def _float32(record: str, name: str, value: object) -> float:
    """A finite number within float32 range, rounded to the nearest float32 (see the module
    docstring)."""
    number = _number(record, name, value)
    _float32_range(record, name, number)
    return float(_FLOAT32.unpack(_FLOAT32.pack(number))[0])


def _float32x4(a: float, b: float, c: float, d: float) -> tuple[float, float, float, float] | None:
    """Four floats rounded to float32, or None when one is not finite or beyond float32 range."""
    try:
        rounded: tuple[float, float, float, float] = _FLOAT32x4.unpack(_FLOAT32x4.pack(a, b, c, d))
    except OverflowError:  # rounds to infinity
        return None
    total = rounded[0] + rounded[1] + rounded[2] + rounded[3]  # finite: no NaN or inf among them
    if total - total != 0.0:
        return None
    if (
        rounded != (a, b, c, d)
        and (FLOAT32_MAX in rounded or -FLOAT32_MAX in rounded)
        and max(abs(a), abs(b), abs(c), abs(d)) > FLOAT32_MAX
    ):
        return None  # rounded down to FLOAT32_MAX from beyond it
    return rounded


def _int64(record: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise RecordError(record, name, value, f"an int in 0..{INT64_MAX} (int64) or None")


def _finite_floats(x1: object, y1: object, x2: object, y2: object) -> bool:
    """Whether all four are finite floats (exactly ``float``: ints and bools take slower paths)."""
    return (
        type(x1) is float
        and type(y1) is float
        and type(x2) is float
        and type(y2) is float
        and x1 - x1 == 0.0  # NaN and inf fail
        and y1 - y1 == 0.0
        and x2 - x2 == 0.0
        and y2 - y2 == 0.0
    )


def _probability(record: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        # NaN fails the range test too, so it lands here with the same message.
        raise RecordError(record, name, value, "a probability in [0, 1]")
    return float(value)


def _text(record: str, name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise RecordError(record, name, value, "a non-empty string")
    return value


def _term(record: str, name: str, vocab: Vocabulary[Any], key: object) -> str:
    try:
        return str(vocab[key].id)
    except UnknownTermError as err:
        raise RecordError(record, name, key, f"a known {vocab.kind} ({err})") from None


def _prob_map(record: str, name: str, vocab: Vocabulary[Any], values: object) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise RecordError(record, name, values, f"a mapping of {vocab.kind} -> probability")
    ids = vocab.id_by_key
    out: dict[str, float] = {}
    for key, prob in values.items():
        term = ids.get(key) if isinstance(key, str) else None
        if term is None or type(prob) is not float or not 0.0 <= prob <= 1.0:
            # The slow path raises the precise error (and accepts ints and int indices).
            term = _term(record, f"{name}[{key!r}]", vocab, key)
            prob = _probability(record, f"{name}[{key!r}]", prob)
        out[term] = prob
    return out


def _ids(record: str, name: str, vocab: Vocabulary[Any], keys: object) -> tuple[str, ...]:
    if isinstance(keys, str) or not isinstance(keys, Iterable):
        raise RecordError(record, name, keys, f"a sequence of {vocab.kind} terms")
    out: list[str] = []
    for i, key in enumerate(keys):
        term = _term(record, f"{name}[{i}]", vocab, key)
        if term not in out:
            out.append(term)
    return tuple(out)


# ---- geometry -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixels, ``(x1, y1)`` top-left, ``(x2, y2)`` bottom-right."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        given = (self.x1, self.y1, self.x2, self.y2)
        floats = _finite_floats(*given)
        if floats:
            x1, y1, x2, y2 = given
        else:  # the slow path converts ints and names errors
            x1, y1, x2, y2 = (_number("Box", n, v) for n, v in zip(_BOX_FIELDS, given, strict=True))
        if x2 < x1:
            raise RecordError("Box", "x2", x2, f"x2 >= x1 = {x1}")
        if y2 < y1:
            raise RecordError("Box", "y2", y2, f"y2 >= y1 = {y1}")
        rounded = _float32x4(x1, y1, x2, y2)
        if rounded is None:
            for n, v in zip(_BOX_FIELDS, (x1, y1, x2, y2), strict=True):
                _float32_range("Box", n, v)  # raises for the first one out of range
            raise RecordError("Box", "xyxy", given, "numbers within float32 range")  # unreachable
        if not floats or rounded != given:
            set_ = object.__setattr__
            set_(self, "x1", rounded[0])
            set_(self, "y1", rounded[1])
            set_(self, "x2", rounded[2])
            set_(self, "y2", rounded[3])

    @classmethod
    def of(cls, values: object) -> Box:
        """A box from ``[x1, y1, x2, y2]``."""
        if isinstance(values, Box):
            return values
        if not isinstance(values, list | tuple) or len(values) != 4:
            raise RecordError("Box", "xyxy", values, "four numbers [x1, y1, x2, y2]")
        return cls(*values)

    @property
    def area(self) -> float:
        return (self.x2 - self.x1) * (self.y2 - self.y1)

    def iou(self, other: Box) -> float:
        """Intersection over union with ``other`` (0 when both are empty)."""
        w = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        h = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = w * h
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def to_list(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]


_BOX_FIELDS = ("x1", "y1", "x2", "y2")


#: The 17 COCO keypoints, in the order a person's keypoints are kept (and pose models give them).
COCO_KEYPOINTS = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)


@dataclass(frozen=True, slots=True)
class Keypoint:
    """One pose keypoint (COCO order in a person's tuple of 17: :data:`COCO_KEYPOINTS`)
    with its confidence."""

    x: float
    y: float
    score: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", _float32("Keypoint", "x", self.x))
        object.__setattr__(self, "y", _float32("Keypoint", "y", self.y))
        score = _probability("Keypoint", "score", self.score)
        object.__setattr__(self, "score", _FLOAT32.unpack(_FLOAT32.pack(score))[0])


@dataclass(frozen=True, slots=True)
class DetectedObject:
    """An object near a person: an ontology object id, a detection score, (maybe) a box and
    (when perception saw the whole image) the :class:`ObjectInstance` it is, by its
    ``object_id`` within the image."""

    object: str
    score: float = 1.0
    box: Box | None = None
    ontology: InitVar[Ontology | None] = None
    object_id: str | None = field(default=None, kw_only=True)

    def __post_init__(self, ontology: Ontology | None) -> None:
        objects = _onto(ontology).objects
        term = objects.id_by_key.get(self.object) if isinstance(self.object, str) else None
        if term is None:
            term = _term("DetectedObject", "object", objects, self.object)
        object.__setattr__(self, "object", term)
        object.__setattr__(self, "score", _probability("DetectedObject", "score", self.score))
        if self.box is not None and not isinstance(self.box, Box):
            object.__setattr__(self, "box", Box.of(self.box))
        if self.object_id is not None:
            object.__setattr__(self, "object_id", _text("DetectedObject", "object_id", self.object_id))

    @classmethod
    def unchecked(
        cls, object_class: str, score: float = 1.0, box: Box | None = None, object_id: str | None = None
    ) -> DetectedObject:
        """Build without validation, for an object class that comes from a validated record."""
        self = object.__new__(cls)
        object.__setattr__(self, "object", object_class)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "object_id", object_id)
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "object": self.object,
            "score": self.score,
            "box": None if self.box is None else self.box.to_list(),
        }
        if self.object_id is not None:
            out["object_id"] = self.object_id
        return out


# ---- perception output ----------------------------------------------------------------


@dataclass(frozen=True)
class PersonObservation:
    """One person in one image or video frame, as perception (or an annotation) saw them.

    Attributes:
        image_id: the image (or video) the person is in.
        person_id: unique within the image (or, for video, within the frame).
        box: the person box, ``None`` for image-level evidence with no box.
        part_states: part-state id -> probability (93-set terms; absent means unobserved).
        active_parts: fine body-part id -> probability that the part takes part in an action.
        objects: objects near the person with detection scores.
        keypoints: 17 COCO keypoints, or ``None`` when pose was not run.
        part_boxes: fine body-part id -> box.
        frame_index, timestamp, track_id: set for video frames.
        source: ``"model"`` (perception) or ``"annotation"`` (ground truth).
        model: which model produced it (checkpoint names), ``None`` for annotations.

    The record carries its identity (:mod:`ontology.identity`, the one rule): :attr:`key`
    names the person in a store, :attr:`image_key` its image or video frame.

    >>> PersonObservation("clip.mp4", "b/0", frame_index=2).key
    'clip.mp4#2/b%2F0'
    """

    image_id: str
    person_id: str
    box: Box | None = None
    part_states: Mapping[str, float] = field(default_factory=dict)
    active_parts: Mapping[str, float] = field(default_factory=dict)
    objects: tuple[DetectedObject, ...] = ()
    keypoints: tuple[Keypoint, ...] | None = None
    part_boxes: Mapping[str, Box] = field(default_factory=dict)
    frame_index: int | None = None
    timestamp: float | None = None
    track_id: int | None = None
    source: str = "model"
    model: str | None = None
    ontology: InitVar[Ontology | None] = None

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "PersonObservation"
        onto = _onto(ontology)
        set_ = object.__setattr__
        set_(self, "image_id", _text(rec, "image_id", self.image_id))
        set_(self, "person_id", _text(rec, "person_id", self.person_id))
        if self.box is not None and not isinstance(self.box, Box):
            set_(self, "box", Box.of(self.box))
        set_(self, "part_states", _prob_map(rec, "part_states", onto.part_states, self.part_states))
        set_(self, "active_parts", _prob_map(rec, "active_parts", onto.body_parts, self.active_parts))
        if not all(isinstance(o, DetectedObject) for o in self.objects):
            raise RecordError(rec, "objects", self.objects, "a tuple of DetectedObject")
        set_(self, "objects", tuple(self.objects))
        if self.keypoints is not None:
            if len(self.keypoints) != 17 or not all(isinstance(k, Keypoint) for k in self.keypoints):
                raise RecordError(rec, "keypoints", self.keypoints, "17 Keypoint records (COCO order)")
            set_(self, "keypoints", tuple(self.keypoints))
        boxes: dict[str, Box] = {}
        for key, box in dict(self.part_boxes).items():
            boxes[_term(rec, f"part_boxes[{key!r}]", onto.body_parts, key)] = Box.of(box)
        set_(self, "part_boxes", boxes)
        if self.frame_index is not None:
            _int64(rec, "frame_index", self.frame_index)
        if self.timestamp is not None:
            set_(self, "timestamp", _number(rec, "timestamp", self.timestamp))
        if self.track_id is not None:
            _int64(rec, "track_id", self.track_id)
        if self.model is not None and not isinstance(self.model, str):
            raise RecordError(rec, "model", self.model, "a string (the model name) or None")
        if self.source not in SOURCES:
            raise RecordError(rec, "source", self.source, f"one of {SOURCES}")

    @property
    def image_key(self) -> str:
        """The key of the person's image, or video frame (:func:`ontology.identity.image_key`;
        the store's ``Image.id``)."""
        return identity.image_key(self.image_id, self.frame_index)

    @property
    def key(self) -> str:
        """The person's store-wide key, ``"<image key>/<person id>"``
        (:func:`ontology.identity.person_key`; the store's ``Person.id``)."""
        return identity.person_key(identity.image_key(self.image_id, self.frame_index), self.person_id)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the one-person-per-line observations format)."""
        return {
            "image_id": self.image_id,
            "person_id": self.person_id,
            "box": None if self.box is None else self.box.to_list(),
            "part_states": dict(self.part_states),
            "active_parts": dict(self.active_parts),
            "objects": [o.to_dict() for o in self.objects],
            "keypoints": None if self.keypoints is None else [[k.x, k.y, k.score] for k in self.keypoints],
            "part_boxes": {k: b.to_list() for k, b in self.part_boxes.items()},
            "frame_index": self.frame_index,
            "timestamp": self.timestamp,
            "track_id": self.track_id,
            "source": self.source,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], ontology: Ontology | None = None) -> PersonObservation:
        """Inverse of :meth:`to_dict`; validates like the constructor (against ``ontology``,
        the packaged one by default)."""
        rec = "PersonObservation"
        if not isinstance(data, Mapping):
            raise RecordError(rec, "(record)", data, "a JSON object")
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise RecordError(rec, "(keys)", sorted(extra), f"only keys from {sorted(known)}")
        for required in ("image_id", "person_id"):
            if required not in data:
                raise RecordError(rec, required, None, "a value (the field is required)")
        kwargs = dict(data)
        if kwargs.get("box") is not None:
            kwargs["box"] = Box.of(kwargs["box"])
        objects = kwargs.get("objects") or []
        if not isinstance(objects, list):
            raise RecordError(rec, "objects", objects, "a list of {object, score, box}")
        parsed = []
        for i, o in enumerate(objects):
            if not isinstance(o, Mapping) or "object" not in o:
                raise RecordError(rec, f"objects[{i}]", o, "an object {object, score, box, object_id}")
            if not _OBJECT_KEYS.union(("object_id",)).issuperset(o):
                raise RecordError(
                    rec, f"objects[{i}]", sorted(o), "only the keys object, score, box and object_id"
                )
            parsed.append(
                DetectedObject(
                    o["object"],
                    o.get("score", 1.0),
                    None if o.get("box") is None else Box.of(o["box"]),
                    ontology,
                    object_id=o.get("object_id"),
                )
            )
        kwargs["objects"] = tuple(parsed)
        if kwargs.get("keypoints") is not None:
            kps = kwargs["keypoints"]
            if not isinstance(kps, list) or not all(isinstance(k, list) and len(k) == 3 for k in kps):
                raise RecordError(rec, "keypoints", kps, "17 [x, y, score] triples")
            kwargs["keypoints"] = tuple(Keypoint(*k) for k in kps)
        for key in ("part_states", "active_parts", "part_boxes"):
            if kwargs.get(key) is None:
                kwargs[key] = {}
        return cls(**kwargs, ontology=ontology)


_OBSERVATION_KEYS = frozenset(f.name for f in fields(PersonObservation))
_OBJECT_KEYS = frozenset(("object", "score", "box"))


def observation_dict(
    data: object, *, check_maps: bool = True, ontology: Ontology | None = None
) -> dict[str, Any]:
    """Validate one observations-format object and return it in canonical form.

    The result equals ``PersonObservation.from_dict(data).to_dict()`` and a bad ``data``
    raises the same error, but the common case (ids or names as keys, float probabilities,
    no keypoints or part boxes) is checked without building the record: bulk ingest reads
    millions of lines through here. Anything else takes the record's own path.

    With ``check_maps=False`` the common case leaves the ``part_states`` and
    ``active_parts`` dicts as given (``None`` becomes ``{}``): the caller checks their terms
    and probabilities itself (``kg`` does it column-wise for a whole chunk) and calls
    again with ``check_maps=True`` when they do not pass.

    >>> observation_dict({"image_id": "a.jpg", "person_id": "0",
    ...                   "part_states": {"hand: hold": 0.5}})["part_states"]
    {'hand_hold': 0.5}
    """
    onto = _onto(ontology)
    fast = _fast_observation(data, onto, check_maps)
    return fast if fast is not None else PersonObservation.from_dict(data, onto).to_dict()  # type: ignore[arg-type]


def _fast_box(value: object) -> list[float] | None:
    """``Box.of(value).to_list()`` when ``value`` is four valid floats, else None (then the
    record's path decides). :func:`_float32x4` inlined: this runs once per bulk-ingested line
    (measured 0.54 us for a float32-exact box, 0.73 us for one to round, 0.36 us before
    rounding was checked)."""
    if type(value) is not list or len(value) != 4:
        return None
    x1, y1, x2, y2 = value
    if (
        type(x1) is not float
        or type(y1) is not float
        or type(x2) is not float
        or type(y2) is not float
        or x2 < x1  # NaN passes these two; the sum below catches it
        or y2 < y1
    ):
        return None
    try:
        rounded = _FLOAT32x4.unpack(_FLOAT32x4.pack(x1, y1, x2, y2))
    except OverflowError:  # rounds to infinity
        return None
    total = rounded[0] + rounded[1] + rounded[2] + rounded[3]
    if total - total != 0.0:  # NaN or inf
        return None
    if rounded[0] == x1 and rounded[1] == y1 and rounded[2] == x2 and rounded[3] == y2:
        return value  # already float32 (detector output, whole pixels)
    if (FLOAT32_MAX in rounded or -FLOAT32_MAX in rounded) and max(
        abs(x1), abs(y1), abs(x2), abs(y2)
    ) > FLOAT32_MAX:
        return None  # rounded down to FLOAT32_MAX from beyond it
    return list(rounded)


def _fast_probs(values: object, ids: Mapping[str, str]) -> dict[str, float] | None:
    if values is None:
        return {}
    if type(values) is not dict:
        return None
    out: dict[str, float] = {}
    for key, prob in values.items():
        term = ids.get(key)
        if term is None or type(prob) is not float or not 0.0 <= prob <= 1.0:
            return None
        out[term] = prob
    return out


def _fast_observation(data: object, onto: Ontology, check_maps: bool = True) -> dict[str, Any] | None:
    """The canonical dict of ``data`` when it takes the common shape and is valid; else None
    (which says nothing about validity: :func:`observation_dict` then builds the record)."""
    if type(data) is not dict or not _OBSERVATION_KEYS.issuperset(data):
        return None
    get = data.get
    image_id, person_id, box = get("image_id"), get("person_id"), get("box")
    if type(image_id) is not str or not image_id or type(person_id) is not str or not person_id:
        return None
    if box is not None:
        box = _fast_box(box)
        if box is None:
            return None
    part_boxes = get("part_boxes")
    no_part_boxes = part_boxes is None or (type(part_boxes) is dict and not part_boxes)
    if get("keypoints") is not None or not no_part_boxes:
        return None
    frame_index, timestamp, track_id = get("frame_index"), get("timestamp"), get("track_id")
    if frame_index is not None and (type(frame_index) is not int or not 0 <= frame_index <= INT64_MAX):
        return None
    if timestamp is not None and (type(timestamp) is not float or timestamp - timestamp != 0.0):
        return None
    if track_id is not None and (type(track_id) is not int or not 0 <= track_id <= INT64_MAX):
        return None
    source, model = get("source", "model"), get("model")
    if source not in SOURCES or (model is not None and type(model) is not str):
        return None
    if check_maps:
        part_states = _fast_probs(get("part_states"), onto.part_states.id_by_key)
        active_parts = _fast_probs(get("active_parts"), onto.body_parts.id_by_key)
    else:
        part_states, active_parts = get("part_states"), get("active_parts")
        part_states = {} if part_states is None else part_states
        active_parts = {} if active_parts is None else active_parts
        if type(part_states) is not dict or type(active_parts) is not dict:
            return None
    if part_states is None or active_parts is None:
        return None
    raw_objects = get("objects")
    objects = []
    if raw_objects:
        if type(raw_objects) is not list:
            return None
        object_ids = onto.objects.id_by_key
        for o in raw_objects:
            if type(o) is not dict or not _OBJECT_KEYS.issuperset(o) or o.get("box") is not None:
                return None
            name, score = o.get("object"), o.get("score", 1.0)
            term = object_ids.get(name) if type(name) is str else None
            if term is None or type(score) is not float or not 0.0 <= score <= 1.0:
                return None
            objects.append({"object": term, "score": score, "box": None})
    return {
        "image_id": image_id,
        "person_id": person_id,
        "box": box,
        "part_states": part_states,
        "active_parts": active_parts,
        "objects": objects,
        "keypoints": None,
        "part_boxes": {},
        "frame_index": frame_index,
        "timestamp": timestamp,
        "track_id": track_id,
        "source": source,
        "model": model,
    }


# ---- reasoning output -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contribution:
    """How much one term pushed one activity's logit, and along which ontology path.

    ``kind`` is one of :data:`CONTRIBUTION_KINDS`; ``term`` the term id; ``weight`` the
    term's signed share of the activity's logit over the no-evidence baseline, in logit
    units (positive supports the activity); ``edge`` the cross-level path it took, e.g.
    ``"part_state->verb->activity"``, or ``None`` when the weight is the term's total over
    every path (the reasoner's default granularity, see :mod:`reasoning.batch`).
    """

    kind: str
    term: str
    weight: float
    edge: str | None = None
    ontology: InitVar[Ontology | None] = None

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "Contribution"
        if self.kind not in CONTRIBUTION_KINDS:
            raise RecordError(rec, "kind", self.kind, f"one of {CONTRIBUTION_KINDS}")
        onto = _onto(ontology)
        vocabs: dict[str, Vocabulary[Any]] = {
            "part_state": onto.part_states,
            "object": onto.objects,
            "body_part": onto.body_parts,
        }
        vocab = vocabs[self.kind]
        object.__setattr__(self, "term", _term(rec, "term", vocab, self.term))
        object.__setattr__(self, "weight", _number(rec, "weight", self.weight))
        if self.edge is not None and not isinstance(self.edge, str):
            raise RecordError(rec, "edge", self.edge, "a path name (str) or None")

    @classmethod
    def unchecked(cls, kind: str, term: str, weight: float, edge: str | None = None) -> Contribution:
        """Build without validation, for producers whose ``kind`` and ``term`` come from the
        ontology's own term order (a reasoner's input channels) and whose ``weight`` is a
        finite float. Anything else must use the constructor."""
        self = object.__new__(cls)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "term", term)
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "edge", edge)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "term": self.term, "weight": self.weight, "edge": self.edge}


@dataclass(frozen=True)
class Explanation:
    """Why one activity was predicted for one person: contributions ranked by weight.

    Exactness: ``baseline + sum(c.weight for c in contributions) + rest`` is the activity's
    logit, where ``baseline`` is the logit of the no-evidence input and ``rest`` the summed
    weight of the contributions left out (too small to keep, see :meth:`threshold`).
    ``baseline`` is ``None`` when the producer does not know it (e.g. a hand-made record).

    JSON form (:meth:`to_dict`)::

        {"activity": "ride-bicycle", "method": "exact-decomposition",
         "score": 0.93, "baseline": -15.2, "rest": 0.012,
         "contributions": [{"kind": "part_state", "term": "hip_sit_on",
                            "weight": 0.41, "edge": null}, ...]}

    >>> e = Explanation("ride bicycle", "m", (Contribution("part_state", "hip: sit on", 2.0),
    ...                 Contribution("object", "bicycle", 0.5)), score=0.9, baseline=-1.0)
    >>> e.threshold(1.0).rest, [c.term for c in e.threshold(1.0).contributions]
    (0.5, ['hip_sit_on'])
    """

    activity: str
    method: str
    contributions: tuple[Contribution, ...]
    score: float | None = None
    baseline: float | None = None
    rest: float = 0.0
    ontology: InitVar[Ontology | None] = None

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "Explanation"
        object.__setattr__(
            self, "activity", _term(rec, "activity", _onto(ontology).activities, self.activity)
        )
        object.__setattr__(self, "method", _text(rec, "method", self.method))
        if not all(isinstance(c, Contribution) for c in self.contributions):
            raise RecordError(rec, "contributions", self.contributions, "a tuple of Contribution")
        ranked = sorted(self.contributions, key=lambda c: -c.weight)
        object.__setattr__(self, "contributions", tuple(ranked))
        if self.score is not None:
            object.__setattr__(self, "score", _probability(rec, "score", self.score))
        if self.baseline is not None:
            object.__setattr__(self, "baseline", _number(rec, "baseline", self.baseline))
        object.__setattr__(self, "rest", _number(rec, "rest", self.rest))

    @classmethod
    def unchecked(
        cls,
        activity: str,
        method: str,
        contributions: tuple[Contribution, ...],
        score: float | None = None,
        baseline: float | None = None,
        rest: float = 0.0,
    ) -> Explanation:
        """Build without validation or re-ranking, for producers whose activity id comes from
        the ontology's own order and whose contributions are already ranked by weight
        (largest first). Anything else must use the constructor."""
        self = object.__new__(cls)
        set_ = object.__setattr__
        set_(self, "activity", activity)
        set_(self, "method", method)
        set_(self, "contributions", contributions)
        set_(self, "score", score)
        set_(self, "baseline", baseline)
        set_(self, "rest", rest)
        return self

    @property
    def logit(self) -> float | None:
        """``baseline + contributions + rest`` (None without a baseline)."""
        if self.baseline is None:
            return None
        return self.baseline + math.fsum(c.weight for c in self.contributions) + self.rest

    def _keep(self, kept: tuple[Contribution, ...]) -> Explanation:
        dropped = math.fsum(c.weight for c in self.contributions) - math.fsum(c.weight for c in kept)
        ranked = tuple(sorted(kept, key=lambda c: -c.weight))  # already validated: no ontology needed
        return Explanation.unchecked(
            self.activity, self.method, ranked, self.score, self.baseline, self.rest + dropped
        )

    def top(self, k: int) -> Explanation:
        """The ``k`` largest contributions; the others' weight moves into ``rest``."""
        return self._keep(self.contributions[:k])

    def threshold(self, min_weight: float) -> Explanation:
        """Only contributions whose absolute weight is at least ``min_weight``; the others'
        weight moves into ``rest``."""
        return self._keep(tuple(c for c in self.contributions if abs(c.weight) >= min_weight))

    def to_dict(self) -> dict[str, Any]:
        return {
            "activity": self.activity,
            "method": self.method,
            "score": self.score,
            "baseline": self.baseline,
            "rest": self.rest,
            "contributions": [c.to_dict() for c in self.contributions],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], ontology: Ontology | None = None) -> Explanation:
        """Inverse of :meth:`to_dict`, checked against ``ontology`` (the packaged one by default)."""
        for key in ("activity", "method", "contributions"):
            if key not in data:
                raise RecordError("Explanation", key, None, "a value (the field is required)")
        contributions = tuple(
            Contribution(c["kind"], c["term"], c["weight"], c.get("edge"), ontology)
            for c in data["contributions"]
        )
        return cls(
            data["activity"],
            data["method"],
            contributions,
            data.get("score"),
            data.get("baseline"),
            data.get("rest", 0.0),
            ontology,
        )


@dataclass(frozen=True, slots=True)
class PairingContribution:
    """How much one term pushed the pair score an object instance won by (a
    :class:`PairingExplanation`'s term).

    ``kind`` is one of :data:`PAIRING_KINDS`: ``"part_state"`` and ``"body_part"`` name an
    ontology term (checked, stored by id); ``"geometry"`` and ``"cascade"`` name one of the
    pairing model's own terms (``reasoning.pairing.PAIRING_TERMS``: the ontology cannot know
    them, so any non-empty name passes here; the store refuses one it does not hold).
    ``weight`` is the term's signed share of the pair score, in logit units.

    >>> PairingContribution("part_state", "hand: hold", 0.4).term
    'hand_hold'
    >>> PairingContribution("geometry", "", 1.0)
    Traceback (most recent call last):
    ontology.errors.RecordError: PairingContribution.term: expected a non-empty string, got ''
    """

    kind: str
    term: str
    weight: float
    ontology: InitVar[Ontology | None] = None

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "PairingContribution"
        if self.kind not in PAIRING_KINDS:
            raise RecordError(rec, "kind", self.kind, f"one of {PAIRING_KINDS}")
        if self.kind == "part_state":
            term = _term(rec, "term", _onto(ontology).part_states, self.term)
        elif self.kind == "body_part":
            term = _term(rec, "term", _onto(ontology).body_parts, self.term)
        else:
            term = _text(rec, "term", self.term)
        object.__setattr__(self, "term", term)
        object.__setattr__(self, "weight", _number(rec, "weight", self.weight))

    @classmethod
    def unchecked(cls, kind: str, term: str, weight: float) -> PairingContribution:
        """Build without validation, for producers whose ``kind`` and ``term`` come from the
        ontology's own term order or the pairing model's term list and whose ``weight`` is a
        finite float. Anything else must use the constructor."""
        self = object.__new__(cls)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "term", term)
        object.__setattr__(self, "weight", weight)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "term": self.term, "weight": self.weight}


def _pairing_order(c: PairingContribution) -> tuple[float, str, str]:
    """Largest ``|weight|`` first, ties by kind then term: the one order of a pairing
    explanation's contributions (as made, as stored, as read back)."""
    return (-abs(c.weight), c.kind, c.term)


@dataclass(frozen=True)
class PairingExplanation:
    """Why a pairing model named a prediction's object instance
    (:attr:`ActivityPrediction.pairing`): the pair score the instance won by, split exactly.

    Exactness: ``score == baseline + sum of the contributions' weights + rest``
    (:meth:`total`, to float64 rounding): ``baseline`` is the model's score for a neutral pair,
    ``contributions`` the terms kept, largest ``|weight|`` first (ties by kind, then term),
    ``rest`` the terms left out and what the method leaves. Scores are logits (log-probabilities
    up to a constant), not probabilities: any finite number.

    JSON form (:meth:`to_dict`)::

        {"method": "pairing-integrated-gradients", "score": 2.61, "baseline": 0.35,
         "rest": 0.011, "contributions": [{"kind": "geometry", "term": "box_iou",
                                           "weight": 1.2}, ...]}

    >>> e = PairingExplanation("m", 1.5, 0.25, 0.0, (PairingContribution("cascade", "interactiveness", -0.25),
    ...                        PairingContribution("geometry", "box_iou", 1.5)))
    >>> [c.term for c in e.contributions], e.total()
    (['box_iou', 'interactiveness'], 1.5)
    """

    method: str
    score: float
    baseline: float
    rest: float
    contributions: tuple[PairingContribution, ...]
    ontology: InitVar[Ontology | None] = None

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "PairingExplanation"
        set_ = object.__setattr__
        set_(self, "method", _text(rec, "method", self.method))
        set_(self, "score", _number(rec, "score", self.score))
        set_(self, "baseline", _number(rec, "baseline", self.baseline))
        set_(self, "rest", _number(rec, "rest", self.rest))
        if isinstance(self.contributions, str | Mapping) or not all(
            isinstance(c, PairingContribution) for c in self.contributions
        ):
            raise RecordError(rec, "contributions", self.contributions, "a tuple of PairingContribution")
        set_(self, "contributions", tuple(sorted(self.contributions, key=_pairing_order)))

    @classmethod
    def unchecked(
        cls,
        method: str,
        score: float,
        baseline: float,
        rest: float,
        contributions: tuple[PairingContribution, ...],
    ) -> PairingExplanation:
        """Build without validation or re-ordering, for producers whose numbers are finite
        floats and whose contributions are already in order (largest ``|weight|`` first, ties
        by kind, then term). Anything else must use the constructor."""
        self = object.__new__(cls)
        set_ = object.__setattr__
        set_(self, "method", method)
        set_(self, "score", score)
        set_(self, "baseline", baseline)
        set_(self, "rest", rest)
        set_(self, "contributions", contributions)
        return self

    def total(self) -> float:
        """``baseline + sum of the contributions' weights + rest`` (equals :attr:`score`)."""
        return self.baseline + math.fsum(c.weight for c in self.contributions) + self.rest

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "score": self.score,
            "baseline": self.baseline,
            "rest": self.rest,
            "contributions": [c.to_dict() for c in self.contributions],
        }


@dataclass(frozen=True)
class ActivityPrediction:
    """One activity predicted for one person, with the model that said so and why.

    The person is named by the key of its image or video frame, ``image_id`` (its
    observation's :attr:`PersonObservation.image_key`: the image id, or
    ``"<video id>#<frame>"``), and its ``person_id`` there; :attr:`key` is its store-wide
    key, by the one rule of :mod:`ontology.identity`.

    >>> obs = PersonObservation("clip.mp4", "0", frame_index=2)
    >>> ActivityPrediction(obs.image_key, obs.person_id, "ride bicycle", 0.9, "m").key == obs.key
    True
    """

    image_id: str
    person_id: str
    activity: str
    score: float
    model: str
    model_version: str = "unversioned"
    explanation: Explanation | None = None
    ontology: InitVar[Ontology | None] = None
    #: the activity's level in the hierarchy (``"atomic"``, ``"composite"``, ``"area"``...),
    #: as the ontology says (set from it when the record is checked)
    level: str = field(default="atomic", kw_only=True)
    #: the object instance the prediction concerns, by its id within the prediction's image
    #: (:attr:`ObjectInstance.object_id`; :attr:`object_key` is its store-wide key); ``None``
    #: when the prediction names no instance (a person-only activity, or a model that
    #: predicts activities only)
    object_id: str | None = field(default=None, kw_only=True)
    #: why a pairing model named that instance (``None`` when none said why; only with an
    #: ``object_id``)
    pairing: PairingExplanation | None = field(default=None, kw_only=True)

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "ActivityPrediction"
        if self.object_id is not None:
            object.__setattr__(self, "object_id", _text(rec, "object_id", self.object_id))
        if self.pairing is not None:
            if not isinstance(self.pairing, PairingExplanation):
                raise RecordError(rec, "pairing", self.pairing, "a PairingExplanation or None")
            if self.object_id is None:
                raise RecordError(
                    rec,
                    "pairing",
                    self.pairing,
                    "None for a prediction that names no object instance (give the object_id the "
                    "pairing explains, or leave pairing out)",
                )
        object.__setattr__(self, "image_id", _text(rec, "image_id", self.image_id))
        object.__setattr__(self, "person_id", _text(rec, "person_id", self.person_id))
        activities = _onto(ontology).activities
        object.__setattr__(self, "activity", _term(rec, "activity", activities, self.activity))
        object.__setattr__(self, "level", activities[self.activity].level)
        object.__setattr__(self, "score", _probability(rec, "score", self.score))
        object.__setattr__(self, "model", _text(rec, "model", self.model))
        if self.explanation is not None and self.explanation.activity != self.activity:
            raise RecordError(
                rec,
                "explanation.activity",
                self.explanation.activity,
                f"the predicted activity {self.activity!r}",
            )

    @classmethod
    def unchecked(
        cls,
        image_id: str,
        person_id: str,
        activity: str,
        score: float,
        model: str,
        model_version: str = "unversioned",
        explanation: Explanation | None = None,
        level: str = "atomic",
        object_id: str | None = None,
        pairing: PairingExplanation | None = None,
    ) -> ActivityPrediction:
        """Build without validation, for producers whose activity id comes from the
        ontology's own order, whose score is a probability and whose ids were validated on
        the way in (a reasoner over validated observations)."""
        self = object.__new__(cls)
        set_ = object.__setattr__
        set_(self, "image_id", image_id)
        set_(self, "person_id", person_id)
        set_(self, "activity", activity)
        set_(self, "score", score)
        set_(self, "model", model)
        set_(self, "model_version", model_version)
        set_(self, "explanation", explanation)
        set_(self, "level", level)
        set_(self, "object_id", object_id)
        set_(self, "pairing", pairing)
        return self

    @property
    def key(self) -> str:
        """The predicted person's store-wide key (:func:`ontology.identity.person_key` of
        ``image_id`` and ``person_id``; the store's ``Person.id``)."""
        return identity.person_key(self.image_id, self.person_id)

    @property
    def object_key(self) -> str | None:
        """The store-wide key of the object instance the prediction concerns
        (:func:`ontology.identity.object_key`; the store's ``ObjectInstance.id``), or ``None``.

        >>> ActivityPrediction("a.jpg", "0", "hold cup", 0.8, "m", object_id="1").object_key
        'a.jpg/1'
        """
        return None if self.object_id is None else identity.object_key(self.image_id, self.object_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "person_id": self.person_id,
            "activity": self.activity,
            "score": self.score,
            "model": self.model,
            "model_version": self.model_version,
            "level": self.level,
            "object_id": self.object_id,
            "explanation": None if self.explanation is None else self.explanation.to_dict(),
            "pairing": None if self.pairing is None else self.pairing.to_dict(),
        }


# ---- annotations (what the HAKE importers produce) -------------------------------------


@dataclass(frozen=True)
class ImageAnnotation:
    """Image-level HAKE ground truth: activities, 76-set part states and active fine parts.

    ``objects`` are the objects of the image's activities (the "known objects" setting).
    """

    image_id: str
    activities: tuple[str, ...]
    part_states: tuple[str, ...]
    active_parts: tuple[str, ...]
    ontology: InitVar[Ontology | None] = None

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "ImageAnnotation"
        onto = _onto(ontology)
        object.__setattr__(self, "image_id", _text(rec, "image_id", self.image_id))
        object.__setattr__(self, "activities", _ids(rec, "activities", onto.activities, self.activities))
        object.__setattr__(self, "part_states", _ids(rec, "part_states", onto.part_states, self.part_states))
        object.__setattr__(
            self, "active_parts", _ids(rec, "active_parts", onto.body_parts, self.active_parts)
        )
        objects = (onto.activities[a].object for a in self.activities)
        object.__setattr__(self, "_objects", tuple(dict.fromkeys(o for o in objects if o is not None)))

    @property
    def objects(self) -> tuple[str, ...]:
        """The objects of the image's activities, each once, in activity order."""
        objects: tuple[str, ...] = self.__dict__["_objects"]
        return objects

    def to_observation(self, ontology: Ontology | None = None) -> PersonObservation:
        """The image's evidence as one box-less observation (source ``"annotation"``), checked
        against ``ontology`` (the packaged one by default)."""
        return PersonObservation(
            image_id=self.image_id,
            person_id="image",
            part_states={p: 1.0 for p in self.part_states},
            active_parts={p: 1.0 for p in self.active_parts},
            objects=tuple(DetectedObject.unchecked(o) for o in self.objects),
            source="annotation",
            ontology=ontology,
        )


@dataclass(frozen=True)
class PersonAnnotation:
    """Instance-level HAKE ground truth for one person (one or more merged human-object pairs).

    ``part_states`` are 76-set part-state ids labelled on any of the merged pairs,
    ``active_parts`` the fine parts those labels were on, ``objects`` one entry per pair
    (with its box), ``activities`` the pairs' activities, ``pairs`` how many pairs merged,
    ``state_labels`` how many part-state labels those pairs carried (before de-duplication)
    and ``pairs_without_states`` how many of them carried none.
    """

    image_id: str
    person_id: str
    box: Box
    part_states: tuple[str, ...]
    active_parts: tuple[str, ...]
    activities: tuple[str, ...]
    objects: tuple[DetectedObject, ...]
    pairs: int
    width: int
    height: int
    state_labels: int = 0
    pairs_without_states: int = 0
    ontology: InitVar[Ontology | None] = None

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "PersonAnnotation"
        onto = _onto(ontology)
        object.__setattr__(self, "image_id", _text(rec, "image_id", self.image_id))
        object.__setattr__(self, "person_id", _text(rec, "person_id", self.person_id))
        if not isinstance(self.box, Box):
            object.__setattr__(self, "box", Box.of(self.box))
        object.__setattr__(self, "part_states", _ids(rec, "part_states", onto.part_states, self.part_states))
        object.__setattr__(
            self, "active_parts", _ids(rec, "active_parts", onto.body_parts, self.active_parts)
        )
        object.__setattr__(self, "activities", _ids(rec, "activities", onto.activities, self.activities))
        if self.pairs < 1:
            raise RecordError(rec, "pairs", self.pairs, "at least 1")

    def to_observation(self, ontology: Ontology | None = None) -> PersonObservation:
        """The person's ground-truth evidence as an observation (source ``"annotation"``),
        checked against ``ontology`` (the packaged one by default)."""
        return PersonObservation(
            image_id=self.image_id,
            person_id=self.person_id,
            box=self.box,
            part_states={p: 1.0 for p in self.part_states},
            active_parts={p: 1.0 for p in self.active_parts},
            objects=self.objects,
            source="annotation",
            ontology=ontology,
        )


@dataclass(frozen=True)
class ObjectInstance:
    """One object in an image: its class (an ontology object id), box, detection score and
    id within the image. :attr:`key` names it in a store (:func:`ontology.identity.object_key`).

    >>> ObjectInstance("a.jpg", "0", "cup", Box(0, 0, 10, 10)).key
    'a.jpg/0'
    """

    image_id: str
    object_id: str
    object: str
    box: Box
    score: float = 1.0
    frame_index: int | None = None
    ontology: InitVar[Ontology | None] = None

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "ObjectInstance"
        objects = _onto(ontology).objects
        object.__setattr__(self, "image_id", _text(rec, "image_id", self.image_id))
        object.__setattr__(self, "object_id", _text(rec, "object_id", self.object_id))
        term = objects.id_by_key.get(self.object) if isinstance(self.object, str) else None
        if term is None:
            term = _term(rec, "object", objects, self.object)
        object.__setattr__(self, "object", term)
        object.__setattr__(self, "box", Box.of(self.box))
        object.__setattr__(self, "score", _probability(rec, "score", self.score))
        if self.frame_index is not None:
            _int64(rec, "frame_index", self.frame_index)

    @property
    def image_key(self) -> str:
        """The key of the instance's image or video frame (:func:`ontology.identity.image_key`)."""
        return identity.image_key(self.image_id, self.frame_index)

    @property
    def key(self) -> str:
        """The instance's store-wide key (:func:`ontology.identity.object_key`)."""
        return identity.object_key(self.image_key, self.object_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "object_id": self.object_id,
            "object": self.object,
            "box": self.box.to_list(),
            "score": self.score,
            "frame_index": self.frame_index,
        }


@dataclass(frozen=True)
class ImageObservation:
    """What perception saw in one image: its persons and every object instance detected in
    it (a person's :attr:`PersonObservation.objects` name the instances near them by
    ``object_id``)."""

    image_id: str
    persons: tuple[PersonObservation, ...]
    objects: tuple[ObjectInstance, ...]
    frame_index: int | None = None

    @property
    def image_key(self) -> str:
        """The key of the image or video frame (:func:`ontology.identity.image_key`)."""
        return identity.image_key(self.image_id, self.frame_index)

    def __post_init__(self) -> None:
        rec = "ImageObservation"
        for what, keys in (
            ("persons", {p.image_key for p in self.persons}),
            ("objects", {o.image_key for o in self.objects}),
        ):
            if keys - {self.image_key}:
                raise RecordError(rec, what, sorted(keys), f"records of this image, {self.image_key!r}")
        ids = {o.object_id for o in self.objects}
        if len(ids) != len(self.objects):
            raise RecordError(rec, "objects", [o.object_id for o in self.objects], "each object id once")
        for i, p in enumerate(self.persons):
            for o in p.objects:
                if o.object_id is not None and o.object_id not in ids:
                    raise RecordError(rec, f"persons[{i}].objects", o.object_id, f"one of {sorted(ids)}")


@dataclass(frozen=True, slots=True)
class Interaction:
    """A <person, activity, object instance> triplet of one image: ids within the image
    (``object_id`` is ``None`` for an activity with no object, e.g. "run")."""

    person_id: str
    activity: str
    object_id: str | None


@dataclass(frozen=True)
class HoiAnnotation:
    """HICO-DET-style ground truth for one image: its persons (as :class:`PersonAnnotation`),
    its object instances and which person does what with which instance.

    Each interaction names a person and (for an activity with an object) an object instance
    of the image, and the instance's class is the activity's object; an interaction is
    listed once.
    """

    image_id: str
    width: int
    height: int
    persons: tuple[PersonAnnotation, ...]
    objects: tuple[ObjectInstance, ...]
    interactions: tuple[Interaction, ...]
    ontology: InitVar[Ontology | None] = None

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "HoiAnnotation"
        onto = _onto(ontology)
        object.__setattr__(self, "image_id", _text(rec, "image_id", self.image_id))
        persons = {p.person_id for p in self.persons}
        instances = {o.object_id: o for o in self.objects}
        if len(persons) != len(self.persons) or len(instances) != len(self.objects):
            raise RecordError(rec, "persons/objects", self.image_id, "each person and object id once")
        seen: set[Interaction] = set()
        for i, it in enumerate(self.interactions):
            where = f"interactions[{i}]"
            if it.person_id not in persons:
                raise RecordError(rec, where, it.person_id, f"a person of the image: {sorted(persons)}")
            wanted = onto.activities[_term(rec, where, onto.activities, it.activity)].object
            if it.object_id is None:
                if wanted is not None:
                    raise RecordError(rec, where, it, f"an object instance of class {wanted!r}")
            else:
                inst = instances.get(it.object_id)
                if inst is None:
                    raise RecordError(rec, where, it.object_id, f"one of {sorted(instances)}")
                if inst.object != wanted:
                    raise RecordError(rec, where, inst.object, f"an instance of class {wanted!r}")
            if it in seen:
                raise RecordError(rec, where, it, "each interaction once")
            seen.add(it)


# ---- cross-level evidence (what kg hands to reasoning) -----------------------------------

#: What a cross-level evidence edge can point at.
EVIDENCE_TARGETS = ("activity", "verb")


@dataclass(frozen=True, slots=True)
class EvidenceEdge:
    """``(:PartState)-[:IMPLIES]->(:Activity|:Verb)`` with the statistics behind it.

    ``count``: persons annotated with both; ``cond_prob``: P(target | part state);
    ``npmi``: normalised pointwise mutual information in [-1, 1]; ``weight``: the evidence
    weight reasoning starts from (``max(npmi, 0)``).
    """

    part_state: str
    target: str
    target_kind: str
    count: int
    cond_prob: float
    npmi: float
    weight: float
    ontology: InitVar[Ontology | None] = None

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "EvidenceEdge"
        onto = _onto(ontology)
        object.__setattr__(self, "part_state", _term(rec, "part_state", onto.part_states, self.part_state))
        if self.target_kind not in EVIDENCE_TARGETS:
            raise RecordError(rec, "target_kind", self.target_kind, f"one of {EVIDENCE_TARGETS}")
        vocab: Vocabulary[Any] = onto.activities if self.target_kind == "activity" else onto.verbs
        object.__setattr__(self, "target", _term(rec, "target", vocab, self.target))
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise RecordError(rec, "count", self.count, "an int >= 0")
        object.__setattr__(self, "cond_prob", _probability(rec, "cond_prob", self.cond_prob))
        npmi = _number(rec, "npmi", self.npmi)
        if not -1.0 - 1e-9 <= npmi <= 1.0 + 1e-9:
            raise RecordError(rec, "npmi", npmi, "a value in [-1, 1]")
        object.__setattr__(self, "npmi", npmi)
        object.__setattr__(self, "weight", _number(rec, "weight", self.weight))


# ---- video: what a video is, what a track did, what a clip shows ---------------------------


def _seconds(record: str, name: str, value: object) -> float:
    number = _number(record, name, value)
    if number < 0.0:
        raise RecordError(record, name, value, "a number of seconds >= 0")
    return number


def _source(record: str, value: object) -> str:
    if value not in SOURCES:
        raise RecordError(record, "source", value, f"one of {SOURCES} ('annotation' for ground truth)")
    return str(value)


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What is known of a video as a whole: frames per second, number of frames and duration
    in seconds (each ``None`` when unknown; the store keeps it null, nothing is derived).

    >>> VideoInfo(fps=25.0, frame_count=250, duration=10.0)
    VideoInfo(fps=25.0, frame_count=250, duration=10.0)
    >>> VideoInfo(fps=0)
    Traceback (most recent call last):
    ontology.errors.RecordError: VideoInfo.fps: expected a number of frames per second > 0 or None, got 0
    """

    fps: float | None = None
    frame_count: int | None = None
    duration: float | None = None

    def __post_init__(self) -> None:
        rec = "VideoInfo"
        if self.fps is not None:
            fps = _number(rec, "fps", self.fps)
            if fps <= 0.0:
                raise RecordError(rec, "fps", self.fps, "a number of frames per second > 0 or None")
            object.__setattr__(self, "fps", fps)
        if self.frame_count is not None:
            _int64(rec, "frame_count", self.frame_count)
        if self.duration is not None:
            object.__setattr__(self, "duration", _seconds(rec, "duration", self.duration))


@dataclass(frozen=True)
class ActivitySegment:
    """A track doing an activity from frame ``start_frame`` to frame ``end_frame`` (both
    included), with the times of those frames in seconds where known, a score, and the model
    that said so (``source = "annotation"`` for ground truth, named by its dataset as
    ``model``). :attr:`key` is the track's key (:func:`ontology.identity.track_key`), as a
    prediction's key is its person's.

    >>> s = ActivitySegment("clip.mp4", 3, "ride bicycle", 10, 40, 0.9, "tcn", start_time=0.4, end_time=1.6)
    >>> s.key, s.activity, s.frames
    ('clip.mp4@3', 'ride-bicycle', 31)
    >>> ActivitySegment("clip.mp4", 3, "ride bicycle", 40, 10, 0.9, "tcn")
    Traceback (most recent call last):
    ontology.errors.RecordError: ActivitySegment.end_frame: expected a frame >= start_frame (40), got 10
    """

    video_id: str
    track_id: int
    activity: str
    start_frame: int
    end_frame: int
    score: float
    model: str
    model_version: str = "unversioned"
    ontology: InitVar[Ontology | None] = None
    start_time: float | None = field(default=None, kw_only=True)
    end_time: float | None = field(default=None, kw_only=True)
    #: ``"model"`` for a prediction, ``"annotation"`` for ground truth
    source: str = field(default="model", kw_only=True)

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "ActivitySegment"
        set_ = object.__setattr__
        set_(self, "video_id", _text(rec, "video_id", self.video_id))
        _int64(rec, "track_id", self.track_id)
        set_(self, "activity", _term(rec, "activity", _onto(ontology).activities, self.activity))
        _int64(rec, "start_frame", self.start_frame)
        _int64(rec, "end_frame", self.end_frame)
        if self.end_frame < self.start_frame:
            raise RecordError(
                rec, "end_frame", self.end_frame, f"a frame >= start_frame ({self.start_frame})"
            )
        set_(self, "score", _probability(rec, "score", self.score))
        set_(self, "model", _text(rec, "model", self.model))
        set_(self, "model_version", _text(rec, "model_version", self.model_version))
        if self.start_time is not None:
            set_(self, "start_time", _seconds(rec, "start_time", self.start_time))
        if self.end_time is not None:
            set_(self, "end_time", _seconds(rec, "end_time", self.end_time))
        if (self.start_time is None) != (self.end_time is None):
            raise RecordError(rec, "end_time", self.end_time, "both times or neither (start and end)")
        if self.start_time is not None and self.end_time is not None and self.end_time < self.start_time:
            raise RecordError(rec, "end_time", self.end_time, f"a time >= start_time ({self.start_time})")
        set_(self, "source", _source(rec, self.source))

    @property
    def key(self) -> str:
        """The track's store-wide key (:func:`ontology.identity.track_key`; the store's ``Track.id``)."""
        return identity.track_key(self.video_id, self.track_id)

    @property
    def frames(self) -> int:
        """How many frames the segment spans (both ends included)."""
        return self.end_frame - self.start_frame + 1


@dataclass(frozen=True)
class ClipLabel:
    """An activity a whole video (clip) shows, with a score and the model that said so
    (``source = "annotation"`` for ground truth). :attr:`key` is the video's key
    (:func:`ontology.identity.video_key`).

    >>> ClipLabel("clip.mp4", "ride bicycle", 0.7, "tcn").key
    'clip.mp4'
    """

    video_id: str
    activity: str
    score: float
    model: str
    model_version: str = "unversioned"
    ontology: InitVar[Ontology | None] = None
    #: ``"model"`` for a prediction, ``"annotation"`` for ground truth
    source: str = field(default="model", kw_only=True)

    def __post_init__(self, ontology: Ontology | None) -> None:
        rec = "ClipLabel"
        set_ = object.__setattr__
        set_(self, "video_id", _text(rec, "video_id", self.video_id))
        set_(self, "activity", _term(rec, "activity", _onto(ontology).activities, self.activity))
        set_(self, "score", _probability(rec, "score", self.score))
        set_(self, "model", _text(rec, "model", self.model))
        set_(self, "model_version", _text(rec, "model_version", self.model_version))
        set_(self, "source", _source(rec, self.source))

    @property
    def key(self) -> str:
        """The video's store-wide key (:func:`ontology.identity.video_key`; the store's ``Video.id``)."""
        return identity.video_key(self.video_id)
