"""An ordered, closed list of terms with lookup by id, name, IRI or channel index.

>>> import ontology
>>> verbs = ontology.load().verbs
>>> verbs["ride"].index == verbs[verbs["ride"].index].index
True
>>> verbs["rdie"]
Traceback (most recent call last):
...
ontology.errors.UnknownTermError: unknown verb 'rdie'; did you mean 'ride', 'write', 'drive'?
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from typing import Generic, Protocol, TypeVar

from ontology.errors import UnknownTermError

__all__ = ["Term", "Vocabulary"]


class Term(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def iri(self) -> str: ...
    @property
    def index(self) -> int: ...


T = TypeVar("T", bound=Term)


class Vocabulary(Generic[T], Sequence[T]):
    """Terms of one kind in channel order. ``vocab[key]`` takes an id, a name, an IRI or an index
    (a slice gives a tuple of terms).

    Lookups never create terms: an unknown key raises :class:`UnknownTermError` listing the
    closest existing names.
    """

    def __init__(self, kind: str, terms: Sequence[T]) -> None:
        self.kind = kind
        self._terms: tuple[T, ...] = tuple(terms)
        self._by_key: dict[str, T] = {}
        #: str key (id, name or IRI) -> term id: the fast path for bulk validation.
        self.id_by_key: dict[str, str] = {}
        for position, term in enumerate(self._terms):
            if term.index != position:
                raise ValueError(f"{kind} {term.id!r} has index {term.index}, expected {position}")
            for key in (term.id, term.name, term.iri):
                other = self._by_key.get(key)
                if other is not None and other is not term:
                    raise ValueError(f"{kind} key {key!r} names both {other.id!r} and {term.id!r}")
                self._by_key[key] = term
                self.id_by_key[key] = term.id

    def __len__(self) -> int:
        return len(self._terms)

    def __iter__(self) -> Iterator[T]:
        return iter(self._terms)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, int):
            return 0 <= key < len(self._terms)
        return isinstance(key, str) and key in self._by_key

    def __getitem__(self, key: object) -> T:  # type: ignore[override]
        if isinstance(key, bool):
            raise UnknownTermError(self.kind, key, [])
        if isinstance(key, int):
            if 0 <= key < len(self._terms):
                return self._terms[key]
            raise UnknownTermError(self.kind, key, [f"an index in 0..{len(self._terms) - 1}"])
        if isinstance(key, slice):
            return self._terms[key]  # type: ignore[return-value]  # a tuple of terms
        if isinstance(key, str):
            term = self._by_key.get(key)
            if term is not None:
                return term
            raise UnknownTermError(self.kind, key, self.suggest(key))
        raise UnknownTermError(self.kind, key, ["a str id, name or IRI, or an int index"])

    def suggest(self, key: str, n: int = 3) -> list[str]:
        """The ``n`` names closest to ``key`` (ids and names are both searched)."""
        candidates = [t.name for t in self._terms] + [t.id for t in self._terms]
        matches = difflib.get_close_matches(key, candidates, n=n * 2, cutoff=0.5)
        names: list[str] = []
        for match in matches:
            name = self._by_key[match].name
            if name not in names:
                names.append(name)
        return names[:n]

    @property
    def ids(self) -> list[str]:
        """Term ids in channel order."""
        return [t.id for t in self._terms]

    @property
    def names(self) -> list[str]:
        """Term names in channel order."""
        return [t.name for t in self._terms]

    def index(self, key: object, start: int = 0, stop: int | None = None) -> int:
        """Channel index of the term named by ``key`` (id, name, IRI or index)."""
        return self[key].index

    def __repr__(self) -> str:
        return f"Vocabulary({self.kind!r}, {len(self)} terms)"
