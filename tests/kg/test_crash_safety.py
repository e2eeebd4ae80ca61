"""A command killed at any moment leaves the store as before or as after it, never between.

Each ingest below runs in a subprocess that counts the embedded store's steps (every
writing statement it runs, ``COPY`` and ``DROP`` included, and every journal write) and kills
itself with SIGKILL right after step N, for every N the command takes: every phase of the
bulk load (journal, copies, spool, rebuild, finishing statements) is hit, not a random
sample. The store is then opened read-write (which recovers) and its fingerprint, every
node and relationship with every property, must equal the fingerprint of the store before
the command or the one after an uninterrupted run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kg import EmbeddedStore
from kg.evidence import compute_evidence, evidence_edges
from kg.ingest import ingest_hake_instance, ingest_observations, init_store
from kg.store.base import GraphStore
from ontology import Box, PersonObservation
from tests.kg.helpers import fingerprint, pair, write_instance_fixture

ROOT = Path(__file__).resolve().parents[2]

# The child: freeze the clock and the run id (an annotation ingest is a Run), count steps, die after step N
# (N = -1: never; the count is printed at the end).
_CHILD = """
import json, os, signal, sys
sys.path.insert(0, {root!r})
import kg.ingest
import kg.store.embedded as embedded
from kg.store.base import is_write_query
kg.ingest._now = lambda: "2026-01-01T00:00:00+00:00"
kg.ingest._run_id = lambda: "0123456789ab"
kill_after, store_dir, kind, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
steps, counting = 0, False
def step():
    global steps
    if not counting:
        return
    steps += 1
    if steps == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
real_run, real_journal = embedded.EmbeddedStore._run, embedded._write_journal
def run(self, cypher, params):
    out = real_run(self, cypher, params)
    if is_write_query(cypher):  # a kill after a read equals a kill before the next write
        step()
    return out
def write_journal(path, journal):
    real_journal(path, journal)
    step()
embedded.EmbeddedStore._run = run
embedded._write_journal = write_journal
with embedded.EmbeddedStore(store_dir) as store:
    counting = True  # opening the store is not part of the command
    if kind == "hake-instance":
        kg.ingest.ingest_hake_instance(store, path)
    else:
        kg.ingest.ingest_observations_jsonl(store, path)
print(json.dumps({{"steps": steps}}))
"""


def _second_instance_file(tmp_path: Path) -> Path:
    """Two new persons (one in an image the first file already has) and one already stored."""
    data = {
        "img1.jpg": {  # as in write_instance_fixture: the same person, skipped
            "labels": [
                pair("ride bicycle", [0, 0, 100, 100], [(4, 0), (0, 1), (6, 0)]),
                pair("hold bicycle", [1, 1, 100, 100], [(6, 0)]),
            ]
        },
        "img4.jpg": {"labels": [pair("hold bicycle", [3, 3, 70, 70], [(6, 0)])]},
        "img5.jpg": {"labels": [pair("board airplane", [2, 2, 50, 50], [(4, 0)])]},
    }
    path = tmp_path / "instance-2.json"
    path.write_text(json.dumps(data))
    return path


def _observations_file(tmp_path: Path) -> Path:
    rows = [
        PersonObservation(
            f"cam/{i}.jpg", "0", box=Box(0, 0, 10 + i, 20), part_states={"hand: hold": 0.5 + i / 100}
        ).to_dict()
        for i in range(5)
    ]
    path = tmp_path / "obs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def _run_child(
    script: Path, kill_after: int, store_dir: Path, kind: str, path: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), str(kill_after), str(store_dir), kind, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _fingerprint_of(store_dir: Path) -> str:
    with EmbeddedStore(store_dir) as store:
        return fingerprint(store)


@pytest.mark.parametrize("kind", ["hake-instance", "observations"])
def test_a_command_killed_after_any_step_leaves_the_store_before_or_after(tmp_path: Path, kind: str) -> None:
    base = tmp_path / "base"
    with EmbeddedStore(base) as store:
        init_store(store)
        ingest_hake_instance(store, write_instance_fixture(tmp_path))
    before = _fingerprint_of(base)
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(root=str(ROOT)))
    path = _second_instance_file(tmp_path) if kind == "hake-instance" else _observations_file(tmp_path)

    reference = tmp_path / "after"
    shutil.copytree(base, reference)
    done = _run_child(script, -1, reference, kind, path)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = json.loads(done.stdout.strip().splitlines()[-1])["steps"]
    after = _fingerprint_of(reference)
    assert after != before
    print(f"{kind}: {steps} kill points")
    assert steps >= 8, steps  # journal, copies, finishing statements: every one is a kill point

    outcomes: dict[int, str] = {}
    for kill_after in range(1, steps + 1):
        victim = tmp_path / f"killed-{kill_after}"
        shutil.copytree(base, victim)
        proc = _run_child(script, kill_after, victim, kind, path)
        assert proc.returncode == -9, (kill_after, proc.stderr[-3000:])
        state = _fingerprint_of(victim)  # a read-write open recovers
        assert state in (before, after), f"killed after step {kill_after} of {steps}: the store is in between"
        outcomes[kill_after] = "before" if state == before else "after"
        shutil.rmtree(victim)
    # The kills hit both sides of the commit point (undo before it, finish after it).
    assert set(outcomes.values()) == {"before", "after"}, outcomes


def test_evidence_counted_during_ingest_equals_a_recount(store: GraphStore, tmp_path: Path) -> None:
    """The evidence an annotation ingest writes (from the stored counts plus the persons it
    adds) is what counting every stored annotation afresh gives, after several ingests and a
    re-ingest of persons already stored."""
    init_store(store)
    ingest_hake_instance(store, write_instance_fixture(tmp_path))
    ingest_observations(store, [PersonObservation("x.jpg", "0", part_states={"hand: hold": 0.9})])
    report = ingest_hake_instance(store, _second_instance_file(tmp_path))
    assert report.persons_added == 2 and report.persons_skipped == 1
    assert evidence_edges(store) == compute_evidence(store)
    assert report.evidence_edges == len(compute_evidence(store)) > 0


def test_recovery_on_open_shows_progress(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A load killed after its commit is finished by the next read-write open, with a
    progress bar (on stderr) when asked for."""
    base = tmp_path / "base"
    with EmbeddedStore(base) as store:
        init_store(store)
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(root=str(ROOT)))
    path = _second_instance_file(tmp_path)
    reference = tmp_path / "after"
    shutil.copytree(base, reference)
    steps = json.loads(_run_child(script, -1, reference, "hake-instance", path).stdout.splitlines()[-1])[
        "steps"
    ]
    proc = _run_child(script, steps, base, "hake-instance", path)  # the last step: a finishing statement
    assert proc.returncode == -9 and (base / "bulk-load.journal").exists()
    capfd.readouterr()
    with pytest.warns(UserWarning, match="finishing"), EmbeddedStore(base, progress=True) as store:
        assert fingerprint(store) == _fingerprint_of(reference)
    assert "finishing a committed load" in capfd.readouterr().err


_BOLT_CHILD = """
import os, signal, sys
sys.path.insert(0, {root!r})
import kg.ingest
import kg.store.neo4j as neo4j_store
from kg.store.base import is_write_query
kill_after, uri, user, password, database, path = sys.argv[1:]
kill_after, steps = int(kill_after), 0
real = neo4j_store.Neo4jStore._run
def run(self, cypher, params, write):
    global steps
    out = real(self, cypher, params, write)
    if self._tx is not None and is_write_query(cypher):
        steps += 1
        if steps == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # inside the load's open transaction
    return out
neo4j_store.Neo4jStore._run = run
with neo4j_store.Neo4jStore(uri, user, password, database) as store:
    kg.ingest.ingest_hake_instance(store, path)
print(steps)
"""


def test_a_command_killed_inside_its_bolt_transaction_leaves_the_store_as_before(
    tmp_path: Path, neo4j_store: GraphStore, bolt_server: tuple[str, str, str, str]
) -> None:
    """On Neo4j (here ArcadeDB's Bolt server) a command is one transaction: a client killed
    after any of its statements leaves the database as it was."""
    neo4j_store.execute("MATCH (n) DETACH DELETE n")
    init_store(neo4j_store)
    ingest_hake_instance(neo4j_store, write_instance_fixture(tmp_path))
    before = fingerprint(neo4j_store)
    script = tmp_path / "bolt_child.py"
    script.write_text(_BOLT_CHILD.format(root=str(ROOT)))
    path = _second_instance_file(tmp_path)

    def child(kill_after: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(script), str(kill_after), *bolt_server, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )

    for kill_after in range(1, 6):
        proc = child(kill_after)
        assert proc.returncode == -9, (kill_after, proc.stderr[-3000:])
        assert fingerprint(neo4j_store) == before, f"killed after statement {kill_after}: not as before"
    done = child(-1)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip().splitlines()[-1]) >= 5  # every kill above landed inside the load
    assert fingerprint(neo4j_store) != before
    assert evidence_edges(neo4j_store) == compute_evidence(neo4j_store)
