"""The engine's exceptions, one tree for every package.

::

    HakeError                      base of everything the engine raises on purpose
    ├── UnknownTermError           a name, id, IRI or index that the ontology does not hold
    │                              (also a KeyError, so ``except KeyError`` keeps working)
    ├── RecordError                a record failed validation (field name and value in the message)
    │                              (also a ValueError)
    ├── AnnotationFormatError      an annotation file is malformed (file, key and field named)
    │                              (also a ValueError)
    ├── ReasoningError             a reasoner, checkpoint, task or option was refused (bad input
    │                              shape, unknown model, label order of another ontology)
    │                              (also a ValueError)
    ├── OntologyFileError          an ontology extension file is malformed or contradicts the
    │                              ontology it extends (file, line, field and term named)
    │                              (also a ValueError)
    ├── CountError                 counts given to a statistic (NPMI, P(y|x)) that no population
    │                              can have: negative, a pair more often than its event
    │                              (also a ValueError)
    └── StoreError                 a graph store could not be opened, read or written
        ├── ReadOnlyError          a write was attempted on a store or query that is read-only
        └── QueryError             the database rejected a Cypher query (its message included)

Every message says what was expected, what arrived and, where there is one, how to fix it.
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence

__all__ = [
    "AnnotationFormatError",
    "CountError",
    "HakeError",
    "OntologyFileError",
    "QueryError",
    "ReadOnlyError",
    "ReasoningError",
    "RecordError",
    "StoreError",
    "UnknownTermError",
    "brief_repr",
]


class HakeError(Exception):
    """Base class of every error the engine raises on purpose."""


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 12
_REPR.maxstring = _REPR.maxother = 120
_REPR.maxlong = 40


def brief_repr(value: object, limit: int = 240) -> str:
    """``repr(value)`` cut to at most ``limit`` characters, three levels deep: a value from a
    malformed file (a huge string, a list nested 1000 deep) still gives a short one-line
    message, and never a ``RecursionError``.

    >>> brief_repr([[[[1]]]]), len(brief_repr("x" * 1000)), brief_repr(10**100)
    ('[[[[...]]]]', 120, '100000000000000000...0000000000000000000')
    """
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class UnknownTermError(HakeError, KeyError):
    """A term looked up in the ontology does not exist.

    The message lists the closest existing terms. The ontology is a closed vocabulary:
    an unknown term is never minted on the fly.
    """

    def __init__(self, kind: str, key: object, suggestions: list[str]) -> None:
        self.kind = kind
        self.key = key
        self.suggestions = suggestions
        hint = (
            f"; did you mean {', '.join(repr(s) for s in suggestions)}?"
            if suggestions
            else "; list the valid terms with `hake ontology stats` or `ontology.load()`"
        )
        super().__init__(f"unknown {kind} {key!r}{hint}")

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class RecordError(HakeError, ValueError):
    """A record (observation, prediction, explanation) failed validation."""

    def __init__(self, record: str, field: str, value: object, expected: str) -> None:
        self.record = record
        self.field = field
        self.value = value
        super().__init__(f"{record}.{field}: expected {expected}, got {brief_repr(value)}")


class AnnotationFormatError(HakeError, ValueError):
    """An annotation file is malformed; the message names the file, the key and the field."""

    def __init__(self, path: str, key: str, field: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.field = field
        super().__init__(f"{path}: entry {brief_repr(key, 120)}, field {brief_repr(field, 120)}: {problem}")


class OntologyFileError(HakeError, ValueError):
    """An ontology file is malformed or contradicts the ontology it extends.

    The message names the file, the line, the field and the term, and lists close matches
    where a reference was misspelt.
    """

    def __init__(
        self,
        path: str,
        line: int | None,
        field: str,
        term: str | None,
        problem: str,
        suggestions: Sequence[str] = (),
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.term = term
        self.suggestions = list(suggestions)
        where = f"{path}:{line}" if line else path
        of = f" of {brief_repr(term, 80)}" if term else ""
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"{where}: {field}{of}: {problem}{hint}")


class ReasoningError(HakeError, ValueError):
    """Reasoning refused its input: a row of the wrong shape, an unknown model or task, an
    option out of range, a checkpoint of another format or ontology."""


class CountError(HakeError, ValueError):
    """Counts given to a statistic of :mod:`ontology.statistics` that no population can have;
    the message names the statistic, every count and the impossible one."""

    def __init__(self, statistic: str, counts: dict[str, float], problem: str) -> None:
        self.statistic = statistic
        self.counts = dict(counts)
        args = ", ".join(f"{k}={brief_repr(v, 40)}" for k, v in counts.items())
        super().__init__(f"{statistic}({args}): {problem}")


class StoreError(HakeError):
    """A graph store could not be opened, read or written."""


class ReadOnlyError(StoreError):
    """A write was attempted through a read-only store or a read-only query."""


class QueryError(StoreError):
    """The database rejected a Cypher query; the message carries the database's own words."""
