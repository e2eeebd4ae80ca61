"""Evidence statistics from co-occurrence counts, one implementation for every layer.

How strongly does event ``x`` (a part state present) point at event ``y`` (an activity or a
verb annotated)? Both statistics take counts over one population of ``n`` examples:
``n_x`` examples with ``x``, ``n_y`` with ``y``, ``n_xy`` with both.

- :func:`cond_prob` = n_xy / n_x = P(y | x);
- :func:`npmi` = log(P(x, y) / (P(x) P(y))) / -log P(x, y), in [-1, 1].

NPMI at the edges of its domain, where the formula divides by zero or takes log(0):

==========================================  =======  ==========================================
counts                                      npmi     why
==========================================  =======  ==========================================
``n_x == 0`` or ``n_y == 0``                 0.0     undefined: no evidence either way
``n_xy == 0``, both events occur            -1.0     the limit as P(x, y) -> 0: never together
``n_xy == n`` (so ``n_x == n_y == n``)       1.0     the limit as P(x, y) -> 1: always together
==========================================  =======  ==========================================

Counts that no population can have (a negative count, a pair seen more often than one of
its events, an event more often than the total, or ``n_x + n_y - n_xy > n``) raise
:class:`ontology.CountError`, naming the counts. ``kg.evidence`` (evidence edges in the store)
and ``reasoning.graph`` (the GNN's evidence edges) both compute with these functions; the
torch code applies the same conventions to whole count matrices.
"""

from __future__ import annotations

import math

from ontology.errors import CountError

__all__ = ["cond_prob", "npmi"]


def _check(statistic: str, counts: dict[str, float]) -> None:
    """Raise :class:`CountError` unless every count is a finite number >= 0."""
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise CountError(statistic, counts, f"{name} must be a finite number, got {value!r}")
        if value < 0:
            raise CountError(statistic, counts, f"{name} must be >= 0, got {value!r}")


def cond_prob(n_xy: float, n_x: float) -> float:
    """P(y | x) = n_xy / n_x from counts: ``n_x`` examples with ``x``, ``n_xy`` of them with ``y``.

    0.0 when ``x`` never occurs (no evidence either way).

    >>> cond_prob(3, 4)
    0.75
    >>> cond_prob(0, 0)                     # x never occurs
    0.0
    >>> cond_prob(5, 4)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ontology.errors.CountError: cond_prob(n_xy=5, n_x=4): n_xy=5 exceeds n_x=4; a pair cannot ...
    """
    counts = {"n_xy": n_xy, "n_x": n_x}
    _check("cond_prob", counts)
    if n_xy > n_x:
        raise CountError(
            "cond_prob",
            counts,
            f"n_xy={n_xy} exceeds n_x={n_x}; a pair cannot occur more often than one of its events",
        )
    return n_xy / n_x if n_x > 0 else 0.0


def npmi(n_xy: float, n_x: float, n_y: float, n: int | float) -> float:
    """Normalised pointwise mutual information of events ``x`` and ``y`` from counts.

    ``n`` examples, ``n_x`` with ``x``, ``n_y`` with ``y``, ``n_xy`` with both. Returns
    log(P(x, y) / (P(x) P(y))) / -log P(x, y), in [-1, 1], with the conventions of the
    module docstring at the edges.

    >>> round(npmi(1, 2, 3, 4), 6)          # P(x,y)=1/4, P(x)=1/2, P(y)=3/4
    -0.292481
    >>> abs(round(npmi(1, 10, 10, 100), 6)) # independent: P(x,y) = P(x) P(y)
    0.0
    >>> npmi(10, 10, 10, 10)                # always together: P(x,y) = 1
    1.0
    >>> npmi(10, 10, 10, 100)               # x and y only ever together
    1.0
    >>> npmi(0, 5, 5, 100)                  # both occur, never together
    -1.0
    >>> npmi(0, 0, 5, 100)                  # x never occurs: undefined, no evidence
    0.0
    >>> npmi(0, 1, 1, 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ontology.errors.CountError: npmi(n_xy=0, n_x=1, n_y=1, n=1): n_x + n_y - n_xy = 2 exceeds n=1; ...
    """
    counts = {"n_xy": n_xy, "n_x": n_x, "n_y": n_y, "n": n}
    _check("npmi", counts)
    for name, value in (("n_x", n_x), ("n_y", n_y)):
        if value > n:
            problem = f"{name}={value} exceeds n={n}; an event cannot occur in more examples than exist"
            raise CountError("npmi", counts, problem)
        if n_xy > value:
            raise CountError(
                "npmi",
                counts,
                f"n_xy={n_xy} exceeds {name}={value}; a pair cannot occur more often than one of its events",
            )
    if n_x + n_y - n_xy > n:
        raise CountError(
            "npmi",
            counts,
            f"n_x + n_y - n_xy = {n_x + n_y - n_xy} exceeds n={n}; more examples have x or y than exist",
        )
    if n_x == 0 or n_y == 0:
        return 0.0
    if n_xy == 0:
        return -1.0
    p_xy, p_x, p_y = n_xy / n, n_x / n, n_y / n
    if p_xy >= 1.0:
        return 1.0
    value = math.log(p_xy / (p_x * p_y)) / -math.log(p_xy)
    return max(-1.0, min(1.0, value))  # rounding can step just outside
