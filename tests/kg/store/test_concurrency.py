"""Several processes on one embedded store: one writer, any number of readers.

A reader opened before a write keeps reading the snapshot it opened (consistent, never half
a load) and says so when asked (``is_stale``); the messages tell "another process is
writing" from "an unfinished load needs recovery"."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from kg import EmbeddedStore
from kg.ingest import ingest_observations, init_store
from ontology import PersonObservation, StoreError

ROOT = Path(__file__).resolve().parents[3]

_WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from kg import EmbeddedStore
from kg.ingest import ingest_observations
from ontology import PersonObservation
store = EmbeddedStore(sys.argv[1])
print("open", flush=True)
sys.stdin.readline()
ingest_observations(store, [PersonObservation("w.jpg", str(i)) for i in range(50)])
print("written", flush=True)
sys.stdin.readline()
store.close()
"""


def _count(store: EmbeddedStore) -> int:
    return int(store.query("MATCH (p:Person) RETURN count(p) AS n")[0]["n"])


def test_a_reader_keeps_its_snapshot_and_is_told_it_is_stale(tmp_path: Path) -> None:
    path = tmp_path / "g"
    with EmbeddedStore(path) as store:
        init_store(store)
        ingest_observations(store, [PersonObservation("a.jpg", "0")])
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER.format(root=str(ROOT)), str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdin is not None and writer.stdout is not None
    try:
        assert writer.stdout.readline().strip() == "open"
        # A second writer is refused at once, naming the process that writes.
        with pytest.raises(StoreError, match=f"another process \\(PID {writer.pid}\\) has the store"):
            EmbeddedStore(path)
        reader = EmbeddedStore(path, read_only=True)  # readers work while a writer holds the store
        assert _count(reader) == 1 and not reader.is_stale()
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "written"
        assert _count(reader) == 1  # its snapshot: the write is not seen half or whole
        assert reader.is_stale()
        with EmbeddedStore(path, read_only=True) as fresh:
            assert _count(fresh) == 51 and not fresh.is_stale()
        reader.close()
    finally:
        writer.stdin.write("\n")
        writer.stdin.flush()
        writer.wait(timeout=60)


_LOADER = """
import sys
sys.path.insert(0, {root!r})
import kg.store.embedded as embedded
from kg.ingest import ingest_observations
from ontology import PersonObservation
real = embedded.EmbeddedStore._copy
def copy(self, table, arrow, options):
    real(self, table, arrow, options)
    print("copying", flush=True)
    sys.stdin.readline()  # hold the load open (its journal exists) until told
embedded.EmbeddedStore._copy = copy
with embedded.EmbeddedStore(sys.argv[1]) as store:
    ingest_observations(store, [PersonObservation("w.jpg", "0")])
"""


def test_messages_tell_a_running_writer_from_a_load_that_needs_recovery(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "g"
    with EmbeddedStore(path) as store:
        init_store(store)
    loader = subprocess.Popen(
        [sys.executable, "-c", _LOADER.format(root=str(ROOT)), str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert loader.stdin is not None and loader.stdout is not None
    try:
        assert loader.stdout.readline().strip() == "copying"
        assert (path / "bulk-load.journal").exists()
        with pytest.raises(
            StoreError, match=f"another process \\(PID {loader.pid}\\) is writing a bulk load"
        ):
            EmbeddedStore(path, read_only=True)
        loader.kill()  # the load dies before its commit
        loader.wait(timeout=60)
    finally:
        if loader.poll() is None:
            loader.kill()
    deadline = time.monotonic() + 10
    while True:  # the kernel drops the dead process's lock
        try:
            with pytest.raises(StoreError, match="cut short .* needs recovery: open it read-write once"):
                EmbeddedStore(path, read_only=True)
            break
        except pytest.fail.Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    from kg.cli import main

    capsys.readouterr()
    assert (
        main(["query", "--write", "MATCH (p:Person) RETURN count(p) AS n", "--store", str(path), "--json"])
        == 0
    )
    out, err = capsys.readouterr()
    assert out.strip() == '[{"n": 0}]'
    assert (
        err.startswith("hake: warning:") and "nothing of it is stored" in err and len(err.splitlines()) == 1
    )
    with EmbeddedStore(path, read_only=True) as store:
        assert _count(store) == 0


def test_commands_other_than_init_never_create_a_store(tmp_path: Path) -> None:
    from kg.cli import main

    target = tmp_path / "nothing-here"
    data = tmp_path / "obs.jsonl"
    data.write_text('{"image_id": "a.jpg", "person_id": "0"}\n')
    assert main(["ingest", "observations", str(data), "--store", str(target), "--no-progress"]) == 1
    assert not target.exists()
    with pytest.raises(StoreError, match="hake init"):
        EmbeddedStore(target, create=False)
    assert not target.exists()


def test_an_unreadable_journal_is_removed_when_no_load_waits_and_refused_when_one_does(
    tmp_path: Path,
) -> None:
    path = tmp_path / "g"
    with EmbeddedStore(path) as store:
        init_store(store)
        ingest_observations(store, [PersonObservation("a.jpg", "0")])
    journal = path / "bulk-load.journal"
    journal.write_bytes(b"\x00garbage, not an Arrow stream")
    with pytest.raises(StoreError, match="cut short .* needs recovery"):
        EmbeddedStore(path, read_only=True)
    with (
        pytest.warns(UserWarning, match="removed an unreadable bulk-load journal"),
        EmbeddedStore(path) as store,
    ):
        assert _count(store) == 1
    assert not journal.exists()
    # A committed load that never finished (its marker is there) cannot be finished without
    # its journal: the store refuses to open, with advice, rather than guess.
    with EmbeddedStore(path) as store:
        store.execute("CREATE (:BulkLoad {id: 'x', created: '2026-01-01'})")
    journal.write_bytes(b"\x00garbage")
    with pytest.raises(StoreError, match="cannot read the bulk-load journal .* restore a backup"):
        EmbeddedStore(path)
