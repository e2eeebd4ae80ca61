"""The store protocol every backend implements, and helpers they share.

Callers pass a store object (:class:`~kg.store.embedded.EmbeddedStore` or
:class:`~kg.store.neo4j.Neo4jStore`), never a backend name. Cypher is always a literal
string plus parameters; results come back as plain ``list[dict]`` with nodes and
relationships turned into dicts of their properties.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from kg.store.readonly import check_parameters, check_read_only, is_write_query

__all__ = ["BulkLoad", "GraphStore", "Rows", "check_parameters", "check_read_only", "is_write_query"]

#: Rows for batched writes: JSON-like dicts, each ``r`` after ``UNWIND $rows AS r``.
Rows = Sequence[Mapping[str, Any]]

#: Column-wise data for bulk writes: property name -> equal-length list (or Arrow array) of values.
Columns = Mapping[str, Sequence[Any]]

#: Called as ``progress(rows_done)`` after each written batch.
BatchProgress = Callable[[int], None]

# ``check_read_only`` (raise ReadOnlyError unless a text is one read statement) and
# ``is_write_query`` (whether it raises) come from kg.store.readonly, which documents the rules.


class BulkLoad(Protocol):
    """New nodes and relationships for one all-or-nothing load (see :meth:`GraphStore.bulk_load`).

    Calls may come in any number of pieces; a backend may write each piece at once (inside a
    transaction) or stage them and write each table in one go when the load ends.
    """

    def insert(self, label: str, columns: Columns) -> None:
        """Like :meth:`GraphStore.bulk_insert`."""
        ...

    def relate(self, rel: str, from_label: str, to_label: str, columns: Columns) -> None:
        """Like :meth:`GraphStore.bulk_relate` (the end nodes may come from this load)."""
        ...

    def tag(self, table: str, prop: str, value: str) -> None:
        """Declare that every row this load adds to node label or relationship type
        ``table`` has string property ``prop`` equal to ``value``, a value no older row has
        (e.g. a run id); the load checks the rows and fails when one does not."""
        ...

    def then(self, cypher: str, rows: Rows) -> None:
        """Run ``cypher`` over ``rows`` (as :meth:`GraphStore.run_batches`) after every
        insert and relate of this load, as part of it. It must be idempotent: the embedded
        store runs it again when a process died while it ran."""
        ...

    def then_once(self, cypher: str, params: Mapping[str, Any]) -> None:
        """Run ``cypher`` once with ``params`` after every insert and relate of this load, as
        part of it (idempotent, as :meth:`then`; ``params`` must be JSON values)."""
        ...

    def first(self, cypher: str, rows: Rows) -> None:
        """Run ``cypher`` over ``rows`` (as :meth:`GraphStore.run_batches`) before the inserts
        and relates that follow this call, as part of the load (e.g. delete the persons a
        load replaces before it inserts their new rows). The embedded store runs every such
        statement first, inside the load's transaction; Neo4j at once, inside its own."""
        ...


@runtime_checkable
class GraphStore(Protocol):
    """What every backend offers. All methods raise :class:`ontology.StoreError` subclasses."""

    #: ``"embedded"`` or ``"neo4j"``.
    backend: str
    #: True when the store was opened read-only: :meth:`execute` then raises.
    read_only: bool

    def query(self, cypher: str, /, **params: Any) -> list[dict[str, Any]]:
        """Run a read-only query; a text that is not one read statement (the rules of
        :mod:`kg.store.readonly`) raises :class:`ReadOnlyError` before it reaches the database."""
        ...

    def execute(self, cypher: str, /, **params: Any) -> list[dict[str, Any]]:
        """Run a query that may write (inside the open transaction, if any)."""
        ...

    def is_stale(self) -> bool:
        """Whether another process changed the store since this one began reading a snapshot
        (the embedded store opened read-only reads the snapshot it opened; reopen it to see
        newer data). Neo4j reads the latest commit: never stale."""
        ...

    def query_arrow(self, cypher: str, /, **params: Any) -> Any:
        """Run a read-only query and return its rows as one ``pyarrow.Table``: the bulk form
        of :meth:`query` for scalar columns (reading every stored person back, say)."""
        ...

    def run_batches(
        self,
        cypher: str,
        rows: Rows,
        batch_size: int = 5_000,
        progress: BatchProgress | None = None,
    ) -> None:
        """Run ``cypher`` (which starts ``UNWIND $rows AS r``) over ``rows`` in batches."""
        ...

    def bulk_insert(self, label: str, columns: Columns) -> None:
        """Insert new nodes of ``label`` (ids must not exist yet). Fast path for ingest.

        ``columns`` maps property names of :mod:`kg.schema` to equal-length lists; missing
        properties are null.
        """
        ...

    def bulk_relate(self, rel: str, from_label: str, to_label: str, columns: Columns) -> None:
        """Insert new relationships: columns ``from`` and ``to`` (node ids) and properties."""
        ...

    def bulk_load(self) -> AbstractContextManager[BulkLoad]:
        """A bulk load: ``with store.bulk_load() as load: load.insert(...)``. Everything in it
        is stored when the block ends without an error, and nothing otherwise."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Everything inside the ``with`` block commits together or not at all."""
        ...

    def ensure_schema(self) -> None:
        """Create tables / indexes of :mod:`kg.schema` (idempotent)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> GraphStore: ...

    def __exit__(self, *exc: object) -> None: ...


def column_length(columns: Columns) -> int:
    """The common length of ``columns``; raises ValueError when lengths differ."""
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"bulk columns differ in length: { {k: len(v) for k, v in columns.items()} }")
    return lengths.pop() if lengths else 0


def batched(rows: Rows, size: int) -> Iterator[list[Mapping[str, Any]]]:
    """Consecutive slices of ``rows`` of at most ``size`` rows."""
    for start in range(0, len(rows), size):
        yield list(rows[start : start + size])
