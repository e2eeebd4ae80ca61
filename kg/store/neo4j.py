"""The Neo4j backend: the official ``neo4j`` driver over Bolt, same schema, same queries.

For users who outgrow one machine (a Neo4j server, cluster or Aura). Any Bolt server that
speaks Neo4j 5 Cypher works; the test suite runs against ArcadeDB's Bolt plugin.

Connection settings come from arguments or the usual environment variables
``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD``, ``NEO4J_DATABASE``
(:meth:`Neo4jStore.from_env`). Writes are batched ``UNWIND`` statements inside explicit
transactions.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from kg.schema import NODE_BY_LABEL, NODES, REL_BY_TYPE
from kg.store.base import BatchProgress, BulkLoad, Columns, Rows, batched, check_read_only, column_length
from ontology.errors import QueryError, ReadOnlyError, StoreError

__all__ = ["Neo4jStore"]


def _plain(value: Any) -> Any:
    """Driver values -> plain Python: nodes and relationships become dicts of properties."""
    from neo4j.graph import Node, Path, Relationship

    if isinstance(value, Node | Relationship):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return [_plain(n) for n in value.nodes]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _return_names(cypher: str) -> list[str]:
    """The ``AS`` names of a query's final ``RETURN`` (for an empty result's columns)."""
    import re

    tail = re.split(r"\bRETURN\b", cypher, flags=re.IGNORECASE)[-1]
    tail = re.split(r"\b(ORDER|SKIP|LIMIT)\b", tail, flags=re.IGNORECASE)[0]
    return re.findall(r"\bAS\s+(\w+)", tail, flags=re.IGNORECASE)


def _float32_lists(values: Sequence[Any]) -> list[list[float] | None]:
    """Each list of numbers rounded to float32 (``None`` stays ``None``)."""
    return [None if v is None else array("f", v).tolist() for v in values]


def _rows(columns: Columns, keys: list[str]) -> list[dict[str, Any]]:
    n = column_length(columns)
    unknown = set(columns) - set(keys)
    if unknown:
        raise StoreError(f"bulk columns {sorted(unknown)} are not in the schema")
    # Arrow arrays (from the bulk ingest) become plain lists for the driver.
    present = [(k, v.to_pylist() if hasattr(v, "to_pylist") else v) for k, v in columns.items() if k in keys]
    return [{k: values[i] for k, values in present} for i in range(n)]


class _TransactionalLoad:
    """:class:`~kg.store.base.BulkLoad` that writes at once (inside the caller's transaction)."""

    def __init__(self, store: Neo4jStore) -> None:
        self._store = store
        self.deferred: list[tuple[str, Rows | None, Mapping[str, Any]]] = []

    def insert(self, label: str, columns: Columns) -> None:
        self._store.bulk_insert(label, columns)

    def relate(self, rel: str, from_label: str, to_label: str, columns: Columns) -> None:
        self._store.bulk_relate(rel, from_label, to_label, columns)

    def tag(self, table: str, prop: str, value: str) -> None:
        """Nothing to do: the transaction undoes a failed load (the tag is checked only)."""
        if table not in NODE_BY_LABEL and table not in REL_BY_TYPE:
            raise StoreError(f"bulk load: cannot tag unknown table {table!r}")

    def then(self, cypher: str, rows: Rows) -> None:
        self.deferred.append((cypher, rows, {}))

    def then_once(self, cypher: str, params: Mapping[str, Any]) -> None:
        self.deferred.append((cypher, None, params))

    def first(self, cypher: str, rows: Rows) -> None:
        self._store.run_batches(cypher, rows)


class Neo4jStore:
    """A graph in a Neo4j (or Neo4j-compatible Bolt) database.

    Args:
        uri: ``bolt://host:7687``, ``neo4j://...``, ``neo4j+s://...`` and so on.
        user, password: credentials (``None`` for a server without auth).
        database: database name (``None`` = the server's default).
        read_only: refuse writes in this client.
    """

    backend = "neo4j"

    def __init__(
        self,
        uri: str,
        user: str | None = "neo4j",
        password: str | None = None,
        database: str | None = None,
        read_only: bool = False,
    ) -> None:
        import neo4j

        self.uri = uri
        self.database = database
        self.read_only = read_only
        auth = (user, password) if user is not None and password is not None else None
        try:
            self._driver = neo4j.GraphDatabase.driver(uri, auth=auth)
        except (ValueError, neo4j.exceptions.ConfigurationError) as err:
            raise StoreError(f"bad Neo4j URI {uri!r}: {err}; expected e.g. bolt://localhost:7687") from None
        try:
            self._driver.verify_connectivity()
        except (
            neo4j.exceptions.Neo4jError,
            neo4j.exceptions.DriverError,
            ValueError,
            OSError,
        ) as err:
            self._driver.close()
            raise StoreError(
                f"cannot connect to {uri} (database {database or 'default'}): {err}; check "
                "the URI and that the server is up, and NEO4J_USER / NEO4J_PASSWORD"
            ) from None
        self._session: Any = None
        self._tx: Any = None
        if not read_only:
            try:
                self.ensure_schema()
            except BaseException:
                self._driver.close()
                raise

    @classmethod
    def from_env(cls, uri: str | None = None, read_only: bool = False) -> Neo4jStore:
        """A store set up from NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD and NEO4J_DATABASE."""
        uri = uri or os.environ.get("NEO4J_URI")
        if not uri:
            raise StoreError("no Neo4j URI: pass --neo4j bolt://HOST:7687 or set NEO4J_URI")
        return cls(
            uri,
            os.environ.get("NEO4J_USER", "neo4j"),
            os.environ.get("NEO4J_PASSWORD"),
            os.environ.get("NEO4J_DATABASE") or None,
            read_only=read_only,
        )

    # -- protocol ------------------------------------------------------------------------

    def _run(self, cypher: str, params: Mapping[str, Any] | None, write: bool) -> list[dict[str, Any]]:
        import neo4j

        try:
            if self._tx is not None:
                result = self._tx.run(cypher, dict(params or {}))
                return [{k: _plain(rec[k]) for k in rec.keys()} for rec in result]  # noqa: SIM118
            records, _, _ = self._driver.execute_query(
                cypher,
                dict(params or {}),
                database_=self.database,
                routing_=neo4j.RoutingControl.WRITE if write else neo4j.RoutingControl.READ,
            )
            return [{k: _plain(rec[k]) for k in rec.keys()} for rec in records]  # noqa: SIM118
        except neo4j.exceptions.Neo4jError as err:
            raise QueryError(f"{err.message or err}\n  in query: {cypher.strip()}") from None
        except neo4j.exceptions.DriverError as err:
            raise StoreError(f"lost the connection to {self.uri}: {err}") from None

    def is_stale(self) -> bool:
        """Always False: every query outside a transaction reads what is committed now."""
        return False

    def query(self, cypher: str, /, **params: Any) -> list[dict[str, Any]]:
        """A read query: :func:`~kg.store.readonly.check_read_only` first, then (outside
        :meth:`transaction`) a READ transaction (``execute_query`` with ``routing_=READ`` is
        the driver's ``execute_read``), in which a Neo4j server refuses writes itself.
        ArcadeDB's Bolt plugin (the test server) ignores the access mode and runs writes."""
        check_read_only(cypher)
        return self._run(cypher, params, write=False)

    def execute(self, cypher: str, /, **params: Any) -> list[dict[str, Any]]:
        self._check_writable()
        return self._run(cypher, params, write=True)

    def query_arrow(self, cypher: str, /, **params: Any) -> Any:
        """A read-only query as one ``pyarrow.Table`` (scalar columns; built from the records),
        checked and run as :meth:`query`."""
        import pyarrow as pa

        rows = self.query(cypher, **params)
        if rows:
            return pa.Table.from_pylist(rows)
        names = _return_names(cypher)
        return pa.table({n: pa.array([], pa.null()) for n in names})

    def run_batches(
        self,
        cypher: str,
        rows: Rows,
        batch_size: int = 5_000,
        progress: BatchProgress | None = None,
    ) -> None:
        self._check_writable()
        done = 0
        for batch in batched(rows, batch_size):
            self._run(cypher, {"rows": batch}, write=True)
            done += len(batch)
            if progress is not None:
                progress(done)

    def bulk_insert(self, label: str, columns: Columns) -> None:
        node = NODE_BY_LABEL.get(label)
        if node is None:
            raise StoreError(f"unknown node label {label!r}; expected one of {sorted(NODE_BY_LABEL)}")
        props = ", ".join(f"{name}: r.{name}" for name, _ in node.properties)
        # The label and property names come from kg.schema, never from user input.
        cypher = f"UNWIND $rows AS r CREATE (:{label} {{{props}}})"
        floats32 = [name for name, typ in node.properties if typ.startswith("FLOAT[") and name in columns]
        if floats32:  # the values the embedded store keeps (kg.schema: FLOAT[n] is float32)
            columns = {**columns, **{name: _float32_lists(columns[name]) for name in floats32}}
        self.run_batches(cypher, _rows(columns, [name for name, _ in node.properties]))

    def bulk_relate(self, rel: str, from_label: str, to_label: str, columns: Columns) -> None:
        table = REL_BY_TYPE.get(rel)
        if table is None or (from_label, to_label) not in table.pairs:
            raise StoreError(f"unknown relationship {from_label}-[:{rel}]->{to_label}")
        props = ", ".join(f"{name}: r.{name}" for name, _ in table.properties)
        cypher = (
            f"UNWIND $rows AS r MATCH (a:{from_label} {{id: r.from}}), (b:{to_label} {{id: r.to}}) "
            f"CREATE (a)-[:{rel} {{{props}}}]->(b)"
        )
        keys = ["from", "to", *(name for name, _ in table.properties)]
        self.run_batches(cypher, _rows(columns, keys))

    @contextmanager
    def bulk_load(self) -> Iterator[BulkLoad]:
        """Writes each piece as it comes (batched ``UNWIND``), all in one transaction."""
        load = _TransactionalLoad(self)
        with self.transaction():
            yield load
            for cypher, rows, params in load.deferred:
                if rows is None:
                    self._run(cypher, params, write=True)
                else:
                    self.run_batches(cypher, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._check_writable()
        if self._tx is not None:
            raise StoreError("transactions do not nest: a transaction is already open on this store")
        self._session = self._driver.session(database=self.database)
        self._tx = self._session.begin_transaction()
        try:
            yield
        except BaseException:
            tx, self._tx = self._tx, None
            tx.rollback()
            self._session.close()
            raise
        tx, self._tx = self._tx, None
        try:
            tx.commit()
        finally:
            self._session.close()

    def ensure_schema(self) -> None:
        """A uniqueness constraint on ``id`` for every label (idempotent).

        Fails with the server's message when a constraint cannot be made, e.g. because the
        database already holds two nodes of one label with the same id.
        """
        self._check_writable()
        for node in NODES:
            # The label comes from kg.schema, never from user input.
            self._run(
                f"CREATE CONSTRAINT hake_{node.label.lower()}_id IF NOT EXISTS "
                f"FOR (n:{node.label}) REQUIRE n.id IS UNIQUE",
                None,
                write=True,
            )

    def close(self) -> None:
        self._driver.close()

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Neo4jStore({self.uri!r}, database={self.database!r})"

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(
                f"the store {self.uri} is open read-only; open it with read_only=False "
                "(or pass --write to `hake query`) to change it"
            )
