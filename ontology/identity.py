"""Identity: the one rule that names images, video frames and persons, everywhere.

A person is identified by the image it is in, the video frame when the image is a video
(``frame_index``), and its id within that image or frame. Two keys follow from these, and
every layer uses them as they are made here (records carry them:
:attr:`ontology.PersonObservation.image_key`, :attr:`ontology.PersonObservation.key`,
:attr:`ontology.ActivityPrediction.key`); a store's ``Image.id`` and ``Person.id`` are
these keys (``kg.schema``):

- the image key: ``"<image id>"``, or ``"<video id>#<frame>"`` for a video frame;
- the person key: ``"<image key>/<person id>"``;
- the object-instance key: ``"<image key>/<object id>"`` (the same form as a person's: an
  object instance and a person are told apart by what they are, ``ObjectInstance`` or
  ``Person`` nodes, ``hake:ObjectInstance`` or ``hake:Person`` IRIs, never by their key);
- the video key: ``"<video id>"``, encoded as an image id is (a frame's key is the video
  key plus ``#<frame>``);
- the track key: ``"<video key>@<track id>"``. A track spans frames, so its key names the
  video, not a frame: ``#`` would read as a frame number (``clip.mp4#3`` is frame 3,
  ``clip.mp4@3`` track 3). The track id is a whole number (digits only), so the last ``@``
  separates it from the video key, even when the video id holds ``@`` itself.

``%`` and ``#`` inside an image id and ``%`` and ``/`` inside a person id are
percent-encoded, so two different (image, frame, person) never share a key, and the person
id is what follows the key's last ``/``. An id without those characters is used as it is:

>>> person_key(image_key("cam/a.jpg"), "0"), person_key(image_key("clip.mp4", 2), "0")
('cam/a.jpg/0', 'clip.mp4#2/0')

The format is a contract: stores written with keys of another format are refused, and
users' queries name persons by it. Changing a byte here changes every stored key.
"""

from __future__ import annotations

import re

__all__ = [
    "image_key",
    "object_key",
    "person_key",
    "split_image_key",
    "split_person_key",
    "split_track_key",
    "track_key",
    "video_key",
]

_ENCODED = re.compile(r"%(25|23|2F)")
_DECODE = {"25": "%", "23": "#", "2F": "/"}


def image_key(image_id: str, frame_index: int | None = None) -> str:
    """The key of an image, or of frame ``frame_index`` of video ``image_id``:
    ``"<image id>"`` or ``"<image id>#<frame>"``, with ``%`` and ``#`` inside the image id
    percent-encoded (``%25``, ``%23``) so that a frame never shares a key with an image.

    >>> image_key("v#3"), image_key("v", 3), image_key("cam/a.jpg")
    ('v%233', 'v#3', 'cam/a.jpg')
    """
    if "%" in image_id or "#" in image_id:
        image_id = image_id.replace("%", "%25").replace("#", "%23")
    return image_id if frame_index is None else f"{image_id}#{frame_index}"


def person_key(image_node: str, person_id: str) -> str:
    """The store-wide key of a person: ``"<image key>/<person id>"``, with ``%`` and ``/``
    inside the person id percent-encoded (``%25``, ``%2F``; ``image_node`` is an
    :func:`image_key`). The person id is what follows the last ``/``, so two different
    (image, frame, person) never share a key:

    >>> person_key(image_key("cam/a"), "b/0"), person_key(image_key("cam/a/b"), "0")
    ('cam/a/b%2F0', 'cam/a/b/0')
    """
    if "%" in person_id or "/" in person_id:
        person_id = person_id.replace("%", "%25").replace("/", "%2F")
    return f"{image_node}/{person_id}"


def object_key(image_node: str, object_id: str) -> str:
    """The store-wide key of an object instance: ``"<image key>/<object id>"``, encoded as
    :func:`person_key` encodes a person id.

    >>> object_key(image_key("a.jpg"), "0"), object_key(image_key("clip.mp4", 2), "1")
    ('a.jpg/0', 'clip.mp4#2/1')
    """
    return person_key(image_node, object_id)


def video_key(video_id: str) -> str:
    """The key of a video: its id encoded as :func:`image_key` encodes an image id, so that
    ``image_key(video_id, frame)`` is ``video_key(video_id) + "#<frame>"``.

    >>> video_key("clip.mp4"), video_key("a#b"), image_key("a#b", 3)
    ('clip.mp4', 'a%23b', 'a%23b#3')
    """
    return image_key(video_id)


def track_key(video_id: str, track_id: int) -> str:
    """The store-wide key of track ``track_id`` of video ``video_id``: ``"<video key>@<track
    id>"``. The track id is a non-negative whole number, written in decimal, so the key's
    last ``@`` ends the video key and two different (video, track) never share a key:

    >>> track_key("clip.mp4", 3), track_key("a@1", 2), track_key("a", 12)
    ('clip.mp4@3', 'a@1@2', 'a@12')
    """
    if type(track_id) is not int or track_id < 0:
        raise ValueError(f"track_key: expected a non-negative int track id, got {track_id!r}")
    return f"{video_key(video_id)}@{track_id}"


def split_track_key(key: str) -> tuple[str, int]:
    """The video id and track id a :func:`track_key` was made from (its inverse).

    >>> split_track_key(track_key("a@1#x", 2))
    ('a@1#x', 2)
    """
    head, sep, track = key.rpartition("@")
    if not sep or not track.isascii() or not track.isdigit():
        raise ValueError(f"split_track_key: expected '<video key>@<track id>', got {key!r}")
    return split_image_key(head)[0], int(track)


def _decode(text: str) -> str:
    return _ENCODED.sub(lambda m: _DECODE[m.group(1)], text) if "%" in text else text


def split_image_key(key: str) -> tuple[str, int | None]:
    """The image id and frame index an :func:`image_key` was made from (its inverse).

    >>> split_image_key("v%233"), split_image_key("v#3"), split_image_key(image_key("a%23#", 0))
    (('v#3', None), ('v', 3), ('a%23#', 0))
    """
    head, sep, frame = key.rpartition("#")
    if sep and frame.isdigit():
        return _decode(head), int(frame)
    return _decode(key), None


def split_person_key(key: str) -> tuple[str, str]:
    """The image key and person id a :func:`person_key` was made from (its inverse).

    >>> split_person_key(person_key(image_key("cam/a", 2), "b/0%"))
    ('cam/a#2', 'b/0%')
    """
    image, _, person = key.rpartition("/")
    return image, _decode(person)
