"""Store fixtures: every store test runs on every backend.

- ``embedded``: a fresh :class:`EmbeddedStore` in a temporary directory per test.
- ``neo4j``: a :class:`Neo4jStore` against a real Bolt server. When ``HAKE_TEST_NEO4J_URI``
  is set that server is used (with ``HAKE_TEST_NEO4J_USER``, ``HAKE_TEST_NEO4J_PASSWORD``,
  ``HAKE_TEST_NEO4J_DATABASE``); the tests empty it between tests, so the session refuses a
  database that already holds nodes. Otherwise the session starts ArcadeDB's Bolt server
  itself (``tests/kg/bolt_server.py``). Each test starts from an empty database.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kg.store import EmbeddedStore, GraphStore, Neo4jStore

BACKENDS = ["embedded", "neo4j"]
_PASSWORD = "hake-test-password"


@pytest.fixture(scope="session")
def bolt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str, str]]:
    """(uri, user, password, database) of a running Bolt server."""
    if os.environ.get("NEO4J_URI"):
        yield (
            os.environ["NEO4J_URI"],
            os.environ.get("NEO4J_USER", "neo4j"),
            os.environ.get("NEO4J_PASSWORD", ""),
            os.environ.get("NEO4J_DATABASE", "neo4j"),
        )
        return
    root = tmp_path_factory.mktemp("arcadedb")
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("bolt_server.py")),
            str(root / "db"),
            _PASSWORD,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=root,
    )
    assert proc.stdout is not None and proc.stdin is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: lines.put(proc.stdout.readline() if proc.stdout else ""), daemon=True
    ).start()
    try:
        line = lines.get(timeout=180)  # the JVM start takes a few seconds; never block forever
    except queue.Empty:
        line = ""
    if not line.startswith("READY"):
        proc.kill()
        log.close()
        raise RuntimeError(
            f"the Bolt test server did not start; see {root / 'server.log'}:\n"
            + (root / "server.log").read_text()[-3000:]
        )
    _, port, database = line.split()
    try:
        yield (f"bolt://127.0.0.1:{port}", "root", _PASSWORD, database)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def neo4j_store(bolt_server: tuple[str, str, str, str]) -> Iterator[Neo4jStore]:
    uri, user, password, database = bolt_server
    store = Neo4jStore(uri, user, password, database)
    yield store
    store.close()


def _empty(store: Neo4jStore) -> Neo4jStore:
    store.execute("MATCH (n) DETACH DELETE n")
    return store


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store (schema created), once per backend."""
    if request.param == "embedded":
        with EmbeddedStore(tmp_path / "graph") as embedded:
            yield embedded
    else:
        yield _empty(request.getfixturevalue("neo4j_store"))
