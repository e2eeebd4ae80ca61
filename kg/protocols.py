"""What the engine needs of a reasoner and of a perceiver, as Protocols.

``kg`` composes ``reasoning`` and ``perception`` without importing them at module level (they
import torch); these Protocols are the types the engine and :mod:`kg.reason` accept.
:class:`reasoning.ActivityReasoner`, :class:`reasoning.extended.ExtendedReasoner` and
:class:`perception.Perceiver` satisfy them (mypy checks it where the engine builds them).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ontology import ImageObservation, Ontology, PersonObservation, VideoInfo

if TYPE_CHECKING:
    from reasoning import PredictionBatch

__all__ = ["Perceiver", "Reasoner"]


class Reasoner(Protocol):
    """Scores input rows and explains the scores (``reasoning.ActivityReasoner``)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def attribution_method(self) -> str: ...

    @property
    def evidence(self) -> Any: ...

    @property
    def ontology(self) -> Ontology:
        """The ontology the reasoner was built on: its channel and label order."""
        ...

    def predict_rows(
        self,
        x: Any,
        top_k: int = ...,
        explain: bool = ...,
        paths: bool = ...,
        min_share: float = ...,
        batch_size: int = ...,
    ) -> PredictionBatch: ...

    def for_ontology(self, onto: Ontology) -> Reasoner:
        """The reasoner for rows of ``onto`` (itself for its own ontology)."""
        ...


class Perceiver(Protocol):
    """Turns image and video files into observations (``perception.Perceiver``): persons,
    or per image and video frame its persons and object instances (scenes)."""

    def infer_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: bool = ...,
        stride: int = ...,
        on_error: str = ...,
    ) -> Iterator[PersonObservation]: ...

    def iter_scenes(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: bool = ...,
        stride: int = ...,
        on_error: str = ...,
    ) -> Iterator[ImageObservation]: ...

    @property
    def video_info(self) -> Mapping[str, VideoInfo]:
        """Video id -> fps, frame count, duration of the videos it has read."""
        ...
