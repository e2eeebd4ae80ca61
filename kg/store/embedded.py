"""The embedded store: LadybugDB (``ladybug``, the maintained fork of Kuzu) in a directory.

No server to start: ``EmbeddedStore("my-graph")`` creates ``my-graph/graph.lbug`` and the
schema of :mod:`kg.schema` on first use.

Dialect notes (LadybugDB 0.22): lists are 1-based (``p.bbox[1]`` is x1), one label per node,
``label(n)`` rather than ``labels(n)``, no ``shortestPath``. Known bug in 0.22.0:
``UNWIND $rows MERGE (p) MERGE (s) MERGE (p)-[]->(s)`` silently drops edges when ``p`` is
created in the same statement and repeats across rows. This store's writers therefore write
nodes first and then edges with ``MATCH ... MERGE`` (see ``tests/kg/store``, which keeps a
regression test).

>>> import tempfile
>>> from kg.store.embedded import EmbeddedStore
>>> with EmbeddedStore(tempfile.mkdtemp()) as store:
...     _ = store.execute("CREATE (:Verb {id: $id, name: $name})", id="ride", name="ride")
...     store.query("MATCH (v:Verb) RETURN v.name AS name")
[{'name': 'ride'}]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kg.schema import (
    NODE_BY_LABEL,
    REL_BY_TYPE,
    ladybug_added_columns,
    ladybug_added_pairs,
    ladybug_ddl,
    properties_of,
)
from kg.store.base import BatchProgress, BulkLoad, Columns, Rows, batched, check_read_only, column_length
from ontology.errors import QueryError, ReadOnlyError, StoreError

__all__ = ["EmbeddedStore"]

DB_FILE = "graph.lbug"
#: Ids of the nodes a running bulk load adds (see :meth:`EmbeddedStore.bulk_load`).
JOURNAL_FILE = "bulk-load.journal"
#: Rows of the tables a bulk load rebuilds, kept until the load is done (see bulk_load).
SPOOL_DIR = "bulk-load.spool"

_ARROW_TYPES = {"STRING": "string", "INT64": "int64", "DOUBLE": "float64", "BOOLEAN": "bool"}


def _plain(value: Any) -> Any:
    """Nodes/relationships come back from ladybug as dicts with ``_id``/``_label`` and every
    column of their table: keep only the properties that are set, as Neo4j does."""
    if isinstance(value, dict):
        if "_ID" in value or "_LABEL" in value:
            return {k: _plain(v) for k, v in value.items() if not k.startswith("_") and v is not None}
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _StagedLoad:
    """:class:`~kg.store.base.BulkLoad` that keeps Arrow tables until the load ends."""

    def __init__(self, can_rebuild: bool = True) -> None:
        self._nodes: dict[str, list[Any]] = {}
        self._rels: dict[tuple[str, str], list[Any]] = {}
        self.tags: list[Tag] = []
        self.finish: list[tuple[str, dict[str, Any]]] = []
        #: statements that run before the copies, in the load's transaction (see first)
        self.before: list[tuple[str, dict[str, Any]]] = []
        #: whether :meth:`rebuild_nodes` / :meth:`rebuild_rels` may be used (not inside a transaction)
        self.can_rebuild = can_rebuild
        #: tables whose whole content this load replaces: kept rows by (table, COPY options)
        self.rebuilt: set[str] = set()
        self._kept: dict[tuple[str, str], list[Any]] = {}

    def rebuild_nodes(self, label: str, kept: Columns) -> None:
        """After this load, table ``label`` holds exactly the ``kept`` rows plus the rows this
        load inserts: the table is dropped and copied anew (the way to delete many rows:
        LadybugDB 0.22 deletes rows one by one, measured 50 us per relationship and 0.5 ms per
        explanation with its contributions, while a ``COPY`` costs a few us per row)."""
        if not self.can_rebuild:
            raise StoreError("a table cannot be rebuilt inside a transaction")
        self.rebuilt.add(label)
        arrow = _node_arrow(label, kept)
        if arrow is not None:
            self._kept.setdefault((label, ""), []).append(arrow)

    def rebuild_rels(self, rel: str, from_label: str, to_label: str, kept: Columns) -> None:
        """As :meth:`rebuild_nodes` for one (from, to) pair of relationship table ``rel``;
        every pair of a rebuilt table that is not given keeps no rows."""
        if not self.can_rebuild:
            raise StoreError("a table cannot be rebuilt inside a transaction")
        self.rebuilt.add(rel)
        options, arrow = _rel_arrow(rel, from_label, to_label, kept)
        if arrow is not None:
            self._kept.setdefault((rel, options), []).append(arrow)

    def pop_rebuilt(self) -> Iterator[tuple[tuple[str, str], Any]]:
        """The full new content of each piece of a rebuilt table (kept rows, then this load's
        rows, one Arrow table), nodes first."""
        candidates = [*self._kept, *((label, "") for label in self._nodes), *self._rels]
        keys = [k for k in dict.fromkeys(candidates) if k[0] in self.rebuilt]
        for key in sorted(keys, key=lambda k: k[0] not in NODE_BY_LABEL):
            staged = self._nodes.pop(key[0], []) if key[0] in NODE_BY_LABEL else self._rels.pop(key, [])
            yield key, _concat_unified(self._kept.pop(key, []) + staged)

    def insert(self, label: str, columns: Columns) -> None:
        arrow = _node_arrow(label, columns)
        if arrow is not None:
            self._nodes.setdefault(label, []).append(arrow)

    def relate(self, rel: str, from_label: str, to_label: str, columns: Columns) -> None:
        options, arrow = _rel_arrow(rel, from_label, to_label, columns)
        if arrow is not None:
            self._rels.setdefault((rel, options), []).append(arrow)

    def tag(self, table: str, prop: str, value: str) -> None:
        if table not in NODE_BY_LABEL and table not in REL_BY_TYPE:
            raise StoreError(f"bulk load: cannot tag unknown table {table!r}")
        if dict(properties_of(table)).get(prop) != "STRING":
            raise StoreError(f"bulk load: {table} has no string property {prop!r} to tag its new rows with")
        self.tags.append(Tag(table, prop, value))

    def then(self, cypher: str, rows: Rows) -> None:
        self.finish.extend((cypher, {"rows": list(batch)}) for batch in batched(rows, 5_000))

    def then_once(self, cypher: str, params: Mapping[str, Any]) -> None:
        self.finish.append((cypher, dict(params)))

    def first(self, cypher: str, rows: Rows) -> None:
        self.before.extend((cypher, {"rows": list(batch)}) for batch in batched(rows, 5_000))

    def check_tags(self) -> None:
        """Raise unless every staged row of each tagged table carries one of its tags."""
        import pyarrow.compute as pc

        values: dict[tuple[str, str], set[str]] = {}
        for tag in self.tags:
            values.setdefault((tag.table, tag.prop), set()).add(tag.value)
        for (table_name, prop), allowed in values.items():
            tables = self._nodes.get(table_name, []) + [
                t for (rel, _), pieces in self._rels.items() if rel == table_name for t in pieces
            ]
            for table in tables:
                column = table[prop]
                if column.null_count or not set(pc.unique(column.combine_chunks()).to_pylist()) <= allowed:
                    raise StoreError(
                        f"bulk load: new {table_name} rows must all have {prop} in {sorted(allowed)} "
                        "(the load's tags); some do not"
                    )

    def new_node_ids(self) -> dict[str, Any]:
        """Label -> Arrow array of the ids this load inserts, for the check that none is stored
        yet. Labels whose new rows are tagged are left out: their ids are new by construction
        (a fresh run id, or ``"<run>:<n>"``), and checking 2.1M explanation ids would mean
        reading every stored one."""
        import pyarrow as pa

        tagged = {t.table for t in self.tags}
        return {
            label: pa.concat_arrays([t["id"].combine_chunks() for t in tables])
            for label, tables in self._nodes.items()
            if label not in tagged
        }

    def pop_tables(self) -> Iterator[tuple[tuple[str, str], Any]]:
        """(table, COPY options) and its pieces as one Arrow table: nodes first, then
        relationships; each is released once the caller is done with it."""
        import pyarrow as pa

        for label in [n for n in self._nodes if n not in self.rebuilt]:
            yield (label, ""), pa.concat_tables(self._nodes.pop(label))
        for key in [k for k in self._rels if k[0] not in self.rebuilt]:
            yield key, pa.concat_tables(self._rels.pop(key))


def _concat_unified(pieces: list[Any]) -> Any:
    """One Arrow table of ``pieces`` that may differ in string columns being plain or
    dictionary-encoded (dictionary wins: fewer copies of repeated ids)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(pieces) == 1:
        return pieces[0]
    names = pieces[0].column_names
    target = {
        n: next(
            (p.schema.field(n).type for p in pieces if pa.types.is_dictionary(p.schema.field(n).type)), None
        )
        for n in names
    }
    unified = []
    for piece in pieces:
        columns = []
        for name in names:
            col = piece[name]
            want = target[name]
            if want is not None and not pa.types.is_dictionary(col.type):
                col = pc.dictionary_encode(col).cast(want) if len(col) else pa.chunked_array([], type=want)
            columns.append(col)
        unified.append(pa.table(columns, names=names))
    return pa.concat_tables(unified)


@dataclass(frozen=True)
class Tag:
    """Every row a bulk load adds to ``table`` has ``prop = value`` (and no older row has)."""

    table: str
    prop: str
    value: str


def _node_arrow(label: str, columns: Columns) -> Any:
    """New ``label`` nodes as an Arrow table for ``COPY``, or None when there are none."""
    node = NODE_BY_LABEL.get(label)
    if node is None:
        raise StoreError(f"unknown node label {label!r}; expected one of {sorted(NODE_BY_LABEL)}")
    return _arrow(node.properties, columns, ()) if column_length(columns) else None


def _rel_arrow(rel: str, from_label: str, to_label: str, columns: Columns) -> tuple[str, Any]:
    """The ``COPY`` options and an Arrow table of new relationships (None when there are none)."""
    table = REL_BY_TYPE.get(rel)
    if table is None or (from_label, to_label) not in table.pairs:
        raise StoreError(f"unknown relationship {from_label}-[:{rel}]->{to_label}")
    options = f" (from='{from_label}', to='{to_label}')" if len(table.pairs) > 1 else ""
    return options, _arrow(table.properties, columns, ("from", "to")) if column_length(columns) else None


def _arrow(properties: tuple[tuple[str, str], ...], columns: Columns, keys: tuple[str, ...]) -> Any:
    """An Arrow table of ``keys`` (string ids) and ``properties`` in schema order."""
    import pyarrow as pa

    n = column_length(columns)
    unknown = set(columns) - set(keys) - {name for name, _ in properties}
    if unknown:
        raise StoreError(f"bulk columns {sorted(unknown)} are not in the schema")
    arrays: dict[str, Any] = {}
    for key in keys:
        if key not in columns:
            raise StoreError(f"bulk relationship columns need {key!r}")
        arrays[key] = _array(columns[key], pa.string(), n)
    for name, typ in properties:
        if typ.endswith("]"):  # FLOAT[4]: a fixed-size array of float32
            width = int(typ[typ.index("[") + 1 : -1])
            arrow_type = pa.list_(pa.float32() if typ.startswith("FLOAT") else pa.float64(), width)
        else:
            arrow_type = pa.type_for_alias(_ARROW_TYPES[typ])
        arrays[name] = _array(columns.get(name), arrow_type, n)
    return pa.table(arrays)


def _array(values: Any, arrow_type: Any, n: int) -> Any:
    """``values`` (a list, an Arrow array, or None for all nulls) as an Arrow array of ``arrow_type``."""
    import pyarrow as pa

    if values is None:
        return pa.nulls(n, type=arrow_type)
    if isinstance(values, pa.Array | pa.ChunkedArray):
        if pa.types.is_dictionary(values.type) and values.type.value_type == arrow_type:
            return values  # COPY reads dictionary-encoded columns (repeated ids and names) as they are
        return values if values.type == arrow_type else values.cast(arrow_type)
    return pa.array(values, type=arrow_type)


#: A read-write store closes and reopens its LadybugDB database after this many ``COPY``
#: statements, between loads. LadybugDB 0.22 keeps part of its buffer pool per ``COPY`` until
#: the database is closed, however small the copy (measured: 70 one-row ``COPY`` statements
#: into a two-column table fill a 128 MB pool, 13 one-person ingests a 256 MB one; ``CREATE``
#: keeps nothing, ``CHECKPOINT`` releases nothing, closing does), so a long-lived writer (a
#: service, the fuzzer's 5,000 ingests) grew until the kernel killed it. Reopening took 35 ms
#: on a 700K-person store.
REOPEN_AFTER_COPIES = 32

#: Version of the journal layout (1: ids only; 2: ids, tags, finishing statements, phase;
#: 3: the load's id, committed by a marker row, nothing to undo).
JOURNAL_VERSION = 3

#: The last finishing statement of every load: its commit marker goes (idempotent).
_DELETE_MARK = "MATCH (m:BulkLoad {id: $id}) DELETE m"


@dataclass
class _Journal:
    """What a bulk load must undo (phase ``"copy"``), redo (``"rebuild"``) or finish
    (``"finish"``).

    Undo deletes the nodes in ``ids`` and every row of a tagged table that carries its tag;
    redoing drops the ``rebuilt`` tables and copies the spooled rows of ``manifest`` again;
    finishing runs the ``finish`` statements (idempotent) once more."""

    phase: str
    ids: dict[str, Any]
    tags: list[Tag]
    finish: list[tuple[str, dict[str, Any]]]
    manifest: list[tuple[str, str, str]] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    #: the load's id (version 3): its ``BulkLoad`` marker row exists once the load committed
    load: str | None = None


def _write_journal(path: Path, journal: _Journal) -> None:
    """Write (and fsync) a bulk load's journal: an Arrow IPC stream of (label, id) rows with
    the rest as JSON in the schema metadata. The file appears under its name only once
    complete (write, then rename), so a reader sees the old journal or the new one."""
    import pyarrow as pa

    ids = journal.ids
    table = pa.table(
        {
            "label": pa.concat_arrays(
                [pa.array([label] * len(col), pa.string()) for label, col in ids.items()]
                or [pa.array([], pa.string())]
            ),
            "id": pa.concat_arrays([col for col in ids.values()] or [pa.array([], pa.string())]),
        }
    )
    meta = {
        "version": JOURNAL_VERSION,
        "phase": journal.phase,
        "tags": [[t.table, t.prop, t.value] for t in journal.tags],
        "finish": journal.finish,
        "manifest": journal.manifest,
        "rebuilt": journal.rebuilt,
        "load": journal.load,
    }
    table = table.replace_schema_metadata({"hake": json.dumps(meta)})
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)  # never write through whatever is there (e.g. a link)
    with partial.open("xb") as fh:
        with pa.ipc.new_stream(fh, table.schema) as writer:
            writer.write_table(table)
        fh.flush()
        os.fsync(fh.fileno())
    partial.replace(path)
    _fsync_dir(path.parent)


def _lock_holder(db_file: Path) -> int | None:
    """The PID of the process holding the write lock on ``db_file`` (LadybugDB takes an
    ``fcntl`` lock on the database file when it opens it read-write), or None. Asks with
    ``F_GETLK``, which takes no lock itself."""
    import fcntl
    import struct

    try:
        fd = os.open(db_file, os.O_RDONLY)
    except OSError:
        return None
    try:
        query = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        l_type, _, _, _, pid = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, query))
    except OSError:
        return None
    finally:
        os.close(fd)
    return pid if l_type != fcntl.F_UNLCK and pid > 0 else None


def _file_state(db_file: Path) -> list[tuple[int, int, int] | None]:
    """What changes when the database is written: inode, size and modification time of the
    database file and of its write-ahead log."""
    out: list[tuple[int, int, int] | None] = []
    for path in (db_file, db_file.with_name(db_file.name + ".wal")):
        try:
            st = path.stat()
        except OSError:
            out.append(None)
            continue
        out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return out


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_journal(path: Path) -> _Journal:
    import pyarrow as pa

    try:
        with path.open("rb") as fh:
            table = pa.ipc.open_stream(fh).read_all()
        raw = (table.schema.metadata or {}).get(b"hake")
        legacy: dict[str, Any] = {"version": 1, "phase": "copy", "tags": [], "finish": []}
        meta: dict[str, Any] = json.loads(raw) if raw is not None else legacy
    except (OSError, pa.ArrowInvalid, ValueError) as err:
        raise StoreError(
            f"cannot read the bulk-load journal {path}: {err}; the store may hold part of an "
            "unfinished load: restore a backup, or move the journal away to open the store as it is"
        ) from None
    if meta.get("version") not in (1, 2, JOURNAL_VERSION) or meta.get("phase") not in (
        "copy",
        "rebuild",
        "finish",
    ):
        raise StoreError(
            f"{path} is a bulk-load journal of another hake-engine version ({meta.get('version')!r}); "
            "open the store with that version once to finish or undo the load"
        )
    ids: dict[str, list[str]] = {}
    for label, node_id in zip(table["label"].to_pylist(), table["id"].to_pylist(), strict=True):
        ids.setdefault(label, []).append(node_id)
    tags = [Tag(*t) for t in meta["tags"]]
    finish = [(c, dict(p)) for c, p in meta["finish"]]
    manifest = [(t, o, f) for t, o, f in meta.get("manifest", [])]
    return _Journal(
        meta["phase"], ids, tags, finish, manifest, list(meta.get("rebuilt", [])), meta.get("load")
    )


class EmbeddedStore:
    """A LadybugDB database in directory ``path``, opened read-write or read-only.

    Args:
        path: directory holding the database (created when missing, unless read-only or
            ``create=False``).
        read_only: open without write access; several read-only stores may share a path.
        buffer_pool_bytes: LadybugDB buffer pool size (0 = its default).
        create: create the store when there is none (else :class:`StoreError`).
        progress: show a progress bar while an unfinished load is recovered on opening
            (None: when stderr is a terminal).

    Concurrency: one process at a time opens a store read-write (a second one gets a
    :class:`StoreError` naming the process that holds it); any number open it read-only,
    also while a writer works. A read-only store reads the snapshot it was opened on: a
    write committed later is not seen until the store is opened again, and
    :meth:`is_stale` says whether that has happened. A read-only open refuses a store
    whose bulk load is unfinished, saying whether a writer is still at work (wait) or the
    load was cut short (open it read-write once: that recovers it).
    """

    backend = "embedded"

    def __init__(
        self,
        path: str | os.PathLike[str],
        read_only: bool = False,
        buffer_pool_bytes: int = 0,
        *,
        create: bool = True,
        progress: bool | None = None,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._progress = sys.stderr.isatty() if progress is None else progress
        db_file = self.path / DB_FILE
        if self.path.exists() and not self.path.is_dir():
            hint = (
                f" (the store is its folder: --store {self.path.parent})" if self.path.name == DB_FILE else ""
            )
            raise StoreError(f"--store must be a directory, but {self.path} is a file{hint}")
        if (read_only or not create) and not db_file.exists():
            inside = sorted(p.parent for p in self.path.glob(f"*/{DB_FILE}")) if self.path.is_dir() else []
            hint = (
                f"; {inside[0]} holds one: --store {inside[0]}"
                if inside
                else f"; create one with `hake init --store {self.path}`"
            )
            raise StoreError(f"no embedded store at {self.path} (looked for {db_file}){hint}")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            # LadybugDB 0.22 compresses variable-length float lists wrongly when later COPYs
            # append to a table (values read back zeroed; found by tests/kg/test_fuzz.py,
            # tests/kg/store/test_stores.py keeps the upstream bug in sight); fixed-size
            # arrays, scalars and strings come back exact, and kg.schema stores boxes and
            # keypoints as fixed-size arrays. Compression pays: measured on 700K simulated
            # persons, ingest 60 s -> 36 s and reason + write back 104 s -> 80 s.
            self._buffer_pool_bytes = buffer_pool_bytes
            self._copies = 0  # COPY statements since the database was opened (REOPEN_AFTER_COPIES)
            self._connect()
        except RuntimeError as err:
            holder = _lock_holder(db_file)
            if holder is not None:
                raise StoreError(
                    f"another process (PID {holder}) has the store {self.path} open for writing; one "
                    "writer at a time: wait for it to finish (read-only commands work meanwhile)"
                ) from None
            raise StoreError(f"cannot open embedded store {self.path}: {err}") from None
        self._in_tx = False
        if not read_only and self._earlier_format():
            self.close()
            raise StoreError(
                f"{self.path} was made by an earlier hake (store format 1: boxes as variable-length "
                "lists, contribution kind and rank as columns), which this version does not write "
                "to; it can still be read (`hake query --store ...`). Ingest into a new store "
                "(`hake init --store NEW`) to keep working"
            )
        self._opened_on = _file_state(db_file)
        journal = self.path / JOURNAL_FILE
        if read_only and journal.exists():
            self.close()
            holder = _lock_holder(db_file)
            if holder is not None:
                raise StoreError(
                    f"another process (PID {holder}) is writing a bulk load into {self.path}; wait for "
                    "it to finish, then retry"
                )
            raise StoreError(
                f"{self.path} holds a bulk load that was cut short ({journal}) and needs recovery: "
                "open it read-write once (e.g. `hake query --write 'RETURN 1'` or EmbeddedStore(path)), "
                "which finishes or undoes it"
            )
        if not read_only:
            try:
                self.ensure_schema()
                if journal.exists():
                    self._recover(journal)
                # A journal whose writing was cut short: no COPY had started, nothing to undo.
                journal.with_name(JOURNAL_FILE + ".partial").unlink(missing_ok=True)
                if not journal.exists():  # a spool written by a load that died before its journal
                    shutil.rmtree(self.path / SPOOL_DIR, ignore_errors=True)
            except BaseException:
                self.close()  # release the file lock before reporting
                raise

    def _connect(self) -> None:
        import ladybug

        self._db = ladybug.Database(
            str(self.path / DB_FILE),
            read_only=self.read_only,
            buffer_pool_size=self._buffer_pool_bytes,
            compression=True,
        )
        self._conn = ladybug.Connection(self._db)

    def _earlier_format(self) -> bool:
        """Whether the store is of format 1 (before 2026-12-02): its ``Person`` table keeps
        boxes as variable-length lists (``FLOAT[]``), which must not be appended to with
        compression on, and its ``CONTRIBUTES_TO`` has ``kind`` and ``rank`` columns."""
        tables = {r["name"] for r in self._run("CALL show_tables() RETURN name", None)}
        if "Person" not in tables:
            return False
        rows = self._run("CALL table_info('Person') RETURN name, type", None)
        return any(r["name"] == "bbox" and str(r["type"]).endswith("[]") for r in rows)

    def is_stale(self) -> bool:
        """Whether the database changed on disk since this store was opened (another process
        wrote to it): a read-only store then still reads its old snapshot; open it again to
        see the new data. A read-write store is never stale (it is the only writer)."""
        return self.read_only and _file_state(self.path / DB_FILE) != self._opened_on

    # -- protocol ------------------------------------------------------------------------

    def _run(self, cypher: str, params: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        try:
            result = self._conn.execute(cypher, dict(params) if params else None)
        except RuntimeError as err:
            raise self._error(err, cypher) from None
        results = result if isinstance(result, list) else [result]
        last = results[-1]
        columns = last.get_column_names()
        rows = [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in last]
        for r in results:
            r.close()
        return rows

    def _error(self, err: RuntimeError, cypher: str) -> StoreError:
        """LadybugDB's error as ours: a refused write (read-only store or transaction), or the
        database's message with the query."""
        message = str(err)
        if "buffer pool is full" in message:
            return StoreError(
                f"LadybugDB's buffer pool filled up ({message}); a bulk load is one transaction and "
                "must fit in it, and what failed was not written: open the store with a larger "
                "buffer pool (EmbeddedStore(path, buffer_pool_bytes=...); the default is most of "
                "the machine's memory) or load the input in parts"
            )
        if "read-only" in message.lower() or "read only" in message.lower():
            return ReadOnlyError(f"the store {self.path} refused a write (read-only): {message}")
        return QueryError(f"{message}\n  in query: {cypher.strip()}")

    def query(self, cypher: str, /, **params: Any) -> list[dict[str, Any]]:
        """A read query (:func:`~kg.store.readonly.check_read_only` first; on a read-write
        store outside :meth:`transaction`, inside a read-only LadybugDB transaction)."""
        check_read_only(cypher)
        with self._read_transaction():
            return self._run(cypher, params)

    def query_arrow(self, cypher: str, /, **params: Any) -> Any:
        """A read-only query whose result comes back as one ``pyarrow.Table`` (for bulk reads:
        scalar columns only, no nodes or relationships); checked and run as :meth:`query`."""
        check_read_only(cypher)
        with self._read_transaction():
            try:
                result = self._conn.execute(cypher, dict(params) if params else None)
            except RuntimeError as err:
                raise self._error(err, cypher) from None
            last = result[-1] if isinstance(result, list) else result
            try:
                return last.get_as_arrow(1_000_000)
            finally:
                for r in result if isinstance(result, list) else [result]:
                    r.close()

    @contextmanager
    def _read_transaction(self) -> Iterator[None]:
        """Run the block in ``BEGIN TRANSACTION READ ONLY`` ... ``COMMIT`` when the store is
        read-write and no :meth:`transaction` is open, so that LadybugDB itself refuses a
        write that the check let through (it refuses writes, not ``COPY ... TO``, ``LOAD
        FROM`` or settings: those only the check stops). It costs about 0.2 ms a query."""
        if self.read_only or self._in_tx:
            yield
            return
        error = self._control("BEGIN TRANSACTION READ ONLY")
        if error is not None:
            if "active transaction" not in error.lower():
                raise StoreError(f"cannot start a read-only transaction on {self.path}: {error}")
            yield  # a transaction begun by hand with store.execute("BEGIN ..."): read in it
            return

        def end(statement: str) -> None:
            # LadybugDB ends the transaction itself after some errors (binder, runtime): fine.
            error = self._control(statement)
            if error is not None and "no active transaction" not in error.lower():
                raise StoreError(f"{statement} of a read-only transaction on {self.path} failed: {error}")

        try:
            yield
        except ReadOnlyError:
            end("ROLLBACK")
            raise ReadOnlyError(
                f"LadybugDB refused a write inside the read-only transaction of a read query on "
                f"{self.path}; to write, run it with store.execute(...) in Python or "
                "`hake query --write` on the command line"
            ) from None
        except BaseException:
            end("ROLLBACK")
            raise
        end("COMMIT")

    def _control(self, statement: str) -> str | None:
        """Run a transaction statement of :meth:`_read_transaction` on the connection (not
        through ``_run``: it is no part of what the store writes); LadybugDB's error, if any."""
        try:
            result = self._conn.execute(statement)
        except RuntimeError as err:
            return str(err)
        for r in result if isinstance(result, list) else [result]:
            r.close()
        return None

    def _rollback(self) -> None:
        """Roll back the open write transaction. LadybugDB has already rolled back one whose
        statement failed inside the engine (e.g. a ``COPY`` that outgrew the buffer pool): that
        is no second error, and the caller re-raises the first one."""
        error = self._control("ROLLBACK")
        if error is not None and "no active transaction" not in error.lower():
            # (e.g. the buffer pool is still full): the uncommitted transaction goes with the
            # connection, and the store is as before it
            self.close()
            self._connect()

    def execute(self, cypher: str, /, **params: Any) -> list[dict[str, Any]]:
        self._check_writable()
        return self._run(cypher, params)

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
            self._run(cypher, {"rows": batch})
            done += len(batch)
            if progress is not None:
                progress(done)

    def bulk_insert(self, label: str, columns: Columns) -> None:
        """``COPY`` new nodes from an Arrow table built from ``columns`` (schema order)."""
        self._check_writable()
        arrow = _node_arrow(label, columns)
        if arrow is not None:
            self._copy(label, arrow, "")

    def bulk_relate(self, rel: str, from_label: str, to_label: str, columns: Columns) -> None:
        """``COPY`` new relationships; rows carry ``from``/``to`` node ids and properties."""
        self._check_writable()
        options, arrow = _rel_arrow(rel, from_label, to_label, columns)
        if arrow is not None:
            self._copy(rel, arrow, options)

    @contextmanager
    def bulk_load(self) -> Iterator[BulkLoad]:
        """Stage every piece as Arrow, then ``COPY`` each table once; all or nothing.

        Outside a transaction each ``COPY`` commits on its own, which is what makes a large
        load fast in LadybugDB 0.22. Measured on 700K persons / 7M part states (64-bit boxes
        then; ``COPY`` and commit time only): one ``COPY`` per table, 45 s; the same inside
        one transaction, 53-57 s, of which 16 s is the commit; seven pieces per table in one
        transaction, 61 s. Measured for the 2.1M contributions of 300K predictions: one
        ``COPY`` 8.7 s, the same rows in seven ``COPY`` pieces 22.8 s (appending to a
        relationship table rewrites its adjacency lists), hence one ``COPY`` per table.

        All-or-nothing: the ``COPY`` statements of the new rows run in one LadybugDB
        transaction, which also writes a ``BulkLoad`` marker row with the load's id: the
        commit of that transaction is the load's commit point. A journal,
        ``bulk-load.journal`` in the store directory, is written (fsynced, renamed into
        place) before the transaction begins: the load's id, the finishing statements
        (:meth:`~kg.store.base.BulkLoad.then`, idempotent) and, for tables the load
        rebuilds, their whole new content spooled to ``bulk-load.spool``. After the commit
        the rebuilt tables are dropped and copied from the spool, then the finishing
        statements run, the marker is deleted and the journal removed. A process that dies
        before the commit leaves nothing (LadybugDB discards the open transaction; the
        next read-write open finds no marker and removes the journal), one that dies after
        it is finished by the next read-write open (rebuild and finishing statements done
        over). Nothing is ever undone row by row (LadybugDB deletes relationships at ~50 us
        each: undoing a 20K-person load that way took 18 s, 4 times the 5K one's 9x).

        The price, measured: LadybugDB holds the load's new rows in memory until the commit
        (a load must fit in its buffer pool; one that does not is refused with advice). For
        the core-loop benchmark's 700K persons (2.1M predictions, 14.8M contributions) that
        is about 2.6 GB of the 4.6 GB peak of reason + write back (48.9 s; README,
        Benchmarks); the commit itself took 14 s of a 53.5 s run.

        Inside :meth:`transaction`, the ``COPY`` statements simply join that transaction.
        """
        self._check_writable()
        journal = self.path / JOURNAL_FILE
        if journal.exists():  # an earlier load on this store object failed half-way: settle it first
            self._recover(journal)
        load = _StagedLoad(can_rebuild=not self._in_tx)
        yield load
        load.check_tags()
        if self._in_tx:
            self._write_staged(load)
            self._finish(load.finish)
            return
        if not load.before:  # (statements that run first may delete ids the load inserts again)
            self._check_new(load.new_node_ids())  # a clear error rather than a failed COPY
        load_id = uuid.uuid4().hex
        finish = [*load.finish, (_DELETE_MARK, {"id": load_id})]
        rebuilt = sorted(load.rebuilt)
        try:
            manifest = self._spool(load) if load.rebuilt else []
            _write_journal(journal, _Journal("copy", {}, [], finish, manifest, rebuilt, load_id))
            self._run("BEGIN TRANSACTION", None)
            try:
                self._write_staged(load)
                self._run(
                    "CREATE (:BulkLoad {id: $id, created: $created})",
                    {"id": load_id, "created": datetime.now(UTC).isoformat(timespec="seconds")},
                )
            except BaseException:
                self._rollback()
                raise
            self._run("COMMIT", None)
        except BaseException:
            journal.unlink(missing_ok=True)  # nothing was committed: nothing to undo
            shutil.rmtree(self.path / SPOOL_DIR, ignore_errors=True)
            raise
        self._complete(
            journal, _Journal("rebuild" if rebuilt else "finish", {}, [], finish, manifest, rebuilt)
        )
        self._reopen_if_due()

    def _complete(self, journal: Path, state: _Journal, recovering: bool = False) -> None:
        """Finish a committed load: rebuild its tables from the spool, run its finishing
        statements (the last deletes its commit marker), remove the journal and the spool."""
        if state.phase == "rebuild":
            _write_journal(journal, state)
            self._rebuild(state.manifest, state.rebuilt, recovering=recovering)
            state = _Journal("finish", {}, [], state.finish)
        _write_journal(journal, state)
        bar = self._bar(len(state.finish), "finishing a committed load", "statement") if recovering else None
        for cypher, params in state.finish:
            self._run(cypher, params)
            if bar is not None:
                bar(1)
        if bar is not None:
            bar(0, close=True)
        journal.unlink()
        shutil.rmtree(self.path / SPOOL_DIR, ignore_errors=True)

    def _spool(self, load: _StagedLoad) -> list[tuple[str, str, str]]:
        """Write the new content of every rebuilt table piece to ``SPOOL_DIR`` (Arrow IPC,
        fsynced); returns the manifest: (table, COPY options, file name)."""
        import pyarrow as pa

        spool = self.path / SPOOL_DIR
        shutil.rmtree(spool, ignore_errors=True)
        spool.mkdir()
        manifest = []
        for i, ((table, options), arrow) in enumerate(load.pop_rebuilt()):
            name = f"{i:03d}-{table}.arrow"
            with (spool / name).open("xb") as fh:
                with pa.ipc.new_stream(fh, arrow.schema) as writer:  # (streams allow per-batch dictionaries)
                    writer.write_table(arrow)
                fh.flush()
                os.fsync(fh.fileno())
            manifest.append((table, options, name))
        _fsync_dir(spool)
        return manifest

    def _rebuild(
        self, manifest: list[tuple[str, str, str]], tables: list[str], recovering: bool = False
    ) -> None:
        """Drop ``tables`` (relationships first), create them again and copy the spooled rows
        (idempotent: a crash in here is redone by the next read-write open)."""
        import pyarrow as pa

        for table in sorted(tables, key=lambda t: t in NODE_BY_LABEL):
            if table not in NODE_BY_LABEL and table not in REL_BY_TYPE:
                raise StoreError(f"the bulk-load journal names an unknown table {table!r}")
            # The table name was checked against kg.schema just above.
            self._run(f"DROP TABLE IF EXISTS {table}", None)
        self.ensure_schema()
        spool = self.path / SPOOL_DIR
        bar = self._bar(len(manifest), "redoing a rebuilt table", "table") if recovering else None
        for table, options, name in manifest:
            with pa.memory_map(str(spool / name)) as source:
                arrow = pa.ipc.open_stream(source).read_all()
            self._copy(table, arrow, options)
            del arrow
            if bar is not None:
                bar(1)
        if bar is not None:
            bar(0, close=True)

    def _write_staged(self, load: _StagedLoad) -> None:
        for cypher, params in load.before:
            self._run(cypher, params)
        for (table, options), arrow in load.pop_tables():
            self._copy(table, arrow, options)

    def _finish(self, statements: list[tuple[str, dict[str, Any]]]) -> None:
        for cypher, params in statements:
            self._run(cypher, params)

    def _check_new(self, ids: Mapping[str, Any]) -> None:
        """Raise when any of ``ids`` (label -> Arrow array) is already stored."""
        import pyarrow.compute as pc

        for label, new in ids.items():
            # The label comes from kg.schema (checked by _StagedLoad.insert).
            result = self._conn.execute(f"MATCH (n:{label}) RETURN n.id AS id")
            stored = result.get_as_arrow(0)["id"].combine_chunks()  # type: ignore[union-attr]
            result.close()  # type: ignore[union-attr]
            clash = new.filter(pc.is_in(new, value_set=stored))
            if len(clash):
                raise StoreError(
                    f"bulk load: {len(clash)} {label} ids are already stored (first: "
                    f"{clash[0].as_py()!r}); a bulk load only adds new nodes"
                )

    def _recover(self, journal: Path) -> None:
        """Finish or undo the bulk load that ``journal`` describes (see :meth:`bulk_load`)."""
        try:
            state = _read_journal(journal)
        except StoreError:
            # An unreadable journal (it is written atomically, so a disk fault or a hand edit):
            # without a commit marker no load waits to be finished, and the journal can go.
            if self._run("MATCH (m:BulkLoad) RETURN count(m) AS n", None)[0]["n"]:
                raise
            warnings.warn(
                f"{self.path}: removed an unreadable bulk-load journal ({journal}); no load had "
                "committed without finishing, so nothing was lost",
                stacklevel=3,
            )
            journal.unlink()
            shutil.rmtree(self.path / SPOOL_DIR, ignore_errors=True)
            return
        if state.phase == "copy" and state.load is not None:  # this version's journal
            committed = self._run("MATCH (m:BulkLoad {id: $id}) RETURN count(m) AS n", {"id": state.load})
            if not committed[0]["n"]:
                warnings.warn(
                    f"{self.path}: a bulk load was cut short before its commit: nothing of it is "
                    f"stored ({journal} removed)",
                    stacklevel=3,
                )
                journal.unlink()
                shutil.rmtree(self.path / SPOOL_DIR, ignore_errors=True)
                return
            state.phase = "rebuild" if state.rebuilt else "finish"
        if state.phase == "rebuild":
            warnings.warn(f"{self.path}: redoing a bulk load that was cut short ({journal})", stacklevel=3)
            self._complete(journal, state, recovering=True)
        elif state.phase == "finish":
            warnings.warn(f"{self.path}: finishing a bulk load that was cut short ({journal})", stacklevel=3)
            self._complete(journal, state, recovering=True)
        else:  # a "copy" journal of version 1 or 2, which undid loads row by row
            warnings.warn(f"{self.path}: undoing a bulk load that never finished ({journal})", stacklevel=3)
            self._undo_journal(journal)

    def _undo_journal(self, journal: Path) -> None:
        """Delete what a bulk load recorded in ``journal``: its tagged rows, then its new nodes
        (with their relationships)."""
        state = _read_journal(journal)
        for tag in state.tags:  # relationships first: a tagged node's DETACH DELETE takes its own
            if tag.table in REL_BY_TYPE:
                # The type and property were checked against kg.schema when the tag was made.
                self._run(
                    f"MATCH ()-[r:{tag.table}]->() WHERE r.{tag.prop} = $value DELETE r", {"value": tag.value}
                )
        for tag in state.tags:
            if tag.table in NODE_BY_LABEL:
                self._run(
                    f"MATCH (n:{tag.table}) WHERE n.{tag.prop} = $value DETACH DELETE n", {"value": tag.value}
                )
        bar = self._bar(sum(map(len, state.ids.values())), "undoing an unfinished load", "node")
        for label, ids in state.ids.items():
            if label not in NODE_BY_LABEL:
                raise StoreError(f"{journal} names an unknown label {label!r}; remove the file by hand")
            done = 0

            def advance(rows_done: int) -> None:
                nonlocal done
                bar(rows_done - done)
                done = rows_done

            self.run_batches(
                # The label was checked against kg.schema just above.
                f"UNWIND $rows AS r MATCH (n:{label} {{id: r.id}}) DETACH DELETE n",
                [{"id": i} for i in ids],
                batch_size=20_000,
                progress=advance,
            )
        bar(0, close=True)
        journal.unlink()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._check_writable()
        if self._in_tx:
            raise StoreError("transactions do not nest: a transaction is already open on this store")
        self._run("BEGIN TRANSACTION", None)
        self._in_tx = True
        try:
            yield
        except BaseException:
            self._in_tx = False
            self._rollback()
            raise
        self._in_tx = False
        self._run("COMMIT", None)
        self._reopen_if_due()

    def ensure_schema(self) -> None:
        self._check_writable()
        for statement in ladybug_ddl():
            self._run(statement, None)
        for table in [*NODE_BY_LABEL, *REL_BY_TYPE]:
            # The table name comes from kg.schema (table_info takes a literal, not a parameter).
            present = {r["name"] for r in self._run(f"CALL table_info('{table}') RETURN name", None)}
            for statement in ladybug_added_columns(table, present):
                self._run(statement, None)
        for rel in REL_BY_TYPE:
            # A relationship table made before one of its (from, to) pairs existed gets it:
            # stores of earlier versions open and take object instances (kg.schema).
            pairs = {
                (r["from"], r["to"])
                for r in self._run(
                    f"CALL show_connection('{rel}') RETURN `source table name` AS `from`, "
                    "`destination table name` AS `to`",
                    None,
                )
            }
            for statement in ladybug_added_pairs(rel, pairs):
                self._run(statement, None)

    def close(self) -> None:
        self._conn.close()
        self._db.close()

    def __enter__(self) -> EmbeddedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"EmbeddedStore({str(self.path)!r}, {mode})"

    # -- helpers -------------------------------------------------------------------------

    def _bar(self, total: int, desc: str, unit: str) -> Any:
        """A progress bar for recovery (when this store shows progress) or a no-op: call
        ``bar(n)`` and ``bar(0, close=True)``."""
        if not self._progress:
            return lambda n, close=False: None
        from tqdm import tqdm

        pbar = tqdm(total=total, desc=f"{self.path}: {desc}", unit=unit)

        def update(n: int, close: bool = False) -> None:
            pbar.update(n)
            if close:
                pbar.close()

        return update

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(
                f"the store {self.path} is open read-only; open it with read_only=False "
                "(or pass --write to `hake query`) to change it"
            )

    def _copy(self, table: str, arrow: Any, options: str) -> None:
        # COPY reads the Arrow table from this local variable by name.
        _hake_copy_table = arrow  # noqa: F841
        # ``table`` and ``options`` come from kg.schema, never from user input.
        self._copies += 1
        self._run(f"COPY {table} FROM _hake_copy_table{options}", None)

    def _reopen_if_due(self) -> None:
        """Close and reopen the database once :data:`REOPEN_AFTER_COPIES` copies have run
        (outside a transaction), which gives back the buffer pool LadybugDB keeps per copy."""
        if self._in_tx or self._copies < REOPEN_AFTER_COPIES:
            return
        self._conn.close()
        self._db.close()
        self._copies = 0
        try:
            self._connect()
        except RuntimeError as err:
            raise StoreError(
                f"{self.path}: reopening the database (done every {REOPEN_AFTER_COPIES} COPY statements to "
                f"give back LadybugDB's memory) failed: {err}; what was written is stored: open the store "
                "again"
            ) from None
