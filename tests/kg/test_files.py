"""Files written safely (``ontology.files``) and the ``--out`` of every command that writes one."""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kg.cli import main
from kg.export import write_graphml
from kg.store import EmbeddedStore
from ontology.files import atomic_write, check_file_target, write_bytes_atomic, write_text_atomic
from tests.kg.test_report import PERSON, _fill


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside the output folder that an attacker would like overwritten."""
    path = tmp_path / "bashrc"
    path.write_text("precious\n")
    return path


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded store with the ontology and one explained person (shared, read only)."""
    path = tmp_path_factory.mktemp("files-store") / "graph"
    with EmbeddedStore(path) as store:
        _fill(store)
    return path


# ---- the primitive ----------------------------------------------------------------------


def test_a_planted_partial_link_is_neither_followed_nor_removed(victim: Path, out_dir: Path) -> None:
    target = out_dir / "graph.ttl"
    (out_dir / "graph.ttl.partial").symlink_to(victim)
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert victim.read_text() == "precious\n"
    assert (out_dir / "graph.ttl.partial").is_symlink()
    assert os.readlink(out_dir / "graph.ttl.partial") == str(victim)
    assert _names(out_dir) == ["graph.ttl", "graph.ttl.partial"]


def test_a_link_planted_at_the_temporary_name_is_not_followed(
    victim: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The temporary name is random; make the first guess collide with a planted link.
    tokens: Iterator[str] = iter(["guessed", "fresh"])
    monkeypatch.setattr("ontology.files.secrets.token_hex", lambda n: next(tokens))
    (out_dir / ".graph.ttl.guessed.tmp").symlink_to(victim)
    write_text_atomic(out_dir / "graph.ttl", "new\n")
    assert victim.read_text() == "precious\n"
    assert (out_dir / ".graph.ttl.guessed.tmp").is_symlink()
    assert _names(out_dir) == [".graph.ttl.guessed.tmp", "graph.ttl"]


def test_a_link_at_the_target_is_replaced_not_followed(victim: Path, out_dir: Path) -> None:
    target = out_dir / "graph.ttl"
    target.symlink_to(victim)
    write_text_atomic(target, "new\n")
    assert not target.is_symlink() and target.read_text() == "new\n"
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("interrupt", [RuntimeError("boom"), KeyboardInterrupt()])
def test_an_exception_inside_leaves_the_target_as_it_was(out_dir: Path, interrupt: BaseException) -> None:
    target = out_dir / "obs.jsonl"
    target.write_text("old\n")
    with pytest.raises(type(interrupt)):
        with atomic_write(target) as fh:
            fh.write("half a li")
            fh.flush()
            raise interrupt
    assert target.read_text() == "old\n"
    assert _names(out_dir) == ["obs.jsonl"]


def test_an_exception_inside_creates_no_target(out_dir: Path) -> None:
    with pytest.raises(RuntimeError):
        with atomic_write(out_dir / "new.bin", "wb") as fh:
            fh.write(b"\0" * 100_000)
            raise RuntimeError("boom")
    assert _names(out_dir) == []


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_leaves_the_target_as_it_was(
    out_dir: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def fail(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    target = out_dir / "model.pt"
    target.write_bytes(b"old")
    monkeypatch.setattr(f"ontology.files.os.{failing}", fail)
    with pytest.raises(OSError, match="No space left"):
        write_bytes_atomic(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert _names(out_dir) == ["model.pt"]


def test_a_failed_write_through_a_writer_leaves_the_export_as_it_was(
    out_dir: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import networkx as nx

    def write_half(graph: object, fh: object) -> None:
        fh.write(b"<?xml version='1.0'?><graphml>")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, "No space left on device")

    target = out_dir / "graph.graphml"
    target.write_text("old\n")
    monkeypatch.setattr(nx, "write_graphml", write_half)
    with EmbeddedStore(store_dir, read_only=True) as store, pytest.raises(OSError):
        write_graphml(store, target)
    assert target.read_text() == "old\n"
    assert _names(out_dir) == ["graph.graphml"]


def test_the_content_is_complete(out_dir: Path) -> None:
    data = os.urandom(3_000_000)
    with atomic_write(out_dir / "big.bin", "wb") as fh:
        for i in range(0, len(data), 65_536):
            fh.write(data[i : i + 65_536])
    assert (out_dir / "big.bin").read_bytes() == data
    write_text_atomic(out_dir / "text.txt", "ünïcode\n", encoding="utf-8")
    assert (out_dir / "text.txt").read_bytes() == "ünïcode\n".encode()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_permissions_follow_the_umask_like_open(out_dir: Path) -> None:
    old = os.umask(0o027)
    try:
        write_text_atomic(out_dir / "atomic.txt", "x")
        (out_dir / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((out_dir / "atomic.txt").stat().st_mode)
    assert mode == stat.S_IMODE((out_dir / "plain.txt").stat().st_mode) == 0o640
    # Replacing a file keeps its permission bits, as writing into it would.
    (out_dir / "atomic.txt").chmod(0o600)
    write_text_atomic(out_dir / "atomic.txt", "y")
    assert stat.S_IMODE((out_dir / "atomic.txt").stat().st_mode) == 0o600


def test_a_directory_or_a_missing_folder_is_refused_before_anything_is_written(out_dir: Path) -> None:
    with pytest.raises(IsADirectoryError, match="it is a directory; expected a file path"):
        write_text_atomic(out_dir, "x")
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        write_text_atomic(out_dir / "missing" / "x.txt", "x")
    (out_dir / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        check_file_target(out_dir / "file" / "x.txt")
    with pytest.raises(ValueError, match="mode must be"):
        atomic_write(out_dir / "x", "a").__enter__()  # type: ignore[call-overload]
    assert _names(out_dir) == ["file"]


# ---- the commands -----------------------------------------------------------------------

_FILE_OUTS = {
    "export": lambda store: ["export", "--store", str(store), "--no-progress"],
    "explain": lambda store: ["explain", PERSON, "--format", "html", "--store", str(store)],
    # checked before any model is loaded, so no checkpoint is needed
    "infer": lambda store: ["infer", str(store), "--pose", "none", "--clip", "none", "--no-progress"],
}


@pytest.mark.parametrize("command", sorted(_FILE_OUTS))
def test_out_dir_is_a_one_line_usage_error_that_writes_nothing(
    command: str, out_dir: Path, store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _names(out_dir.parent)
    code = main([*_FILE_OUTS[command](store_dir), "--out", str(out_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"--out must be a file path, {out_dir} is a directory; e.g." in err
    assert _names(out_dir) == [] and _names(out_dir.parent) == before


@pytest.mark.parametrize("command", sorted(_FILE_OUTS))
def test_out_in_a_missing_folder_is_a_one_line_usage_error(
    command: str, out_dir: Path, store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*_FILE_OUTS[command](store_dir), "--out", str(out_dir / "missing" / "x.out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "does not exist; create it first" in err
    assert _names(out_dir) == []


@pytest.mark.parametrize("command", ["demo", "train"])
def test_a_folder_out_that_is_a_file_is_a_usage_error(
    command: str, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = out_dir / "a-file"
    target.write_text("keep\n")
    argv = [command, "--out", str(target)] + (["--data", str(out_dir)] if command == "train" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out must be a folder" in err
    assert target.read_text() == "keep\n" and _names(out_dir) == ["a-file"]


def test_export_through_a_planted_partial_link_leaves_the_victim_alone(
    victim: Path, out_dir: Path, store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyoxigraph

    target = out_dir / "graph.ttl"
    (out_dir / "graph.ttl.partial").symlink_to(victim)
    code = main(["export", "--out", str(target), "--store", str(store_dir), "--json", "--no-progress"])
    assert code == 0
    triples = json.loads(capsys.readouterr().out)["triples"]
    assert victim.read_text() == "precious\n"
    graph = pyoxigraph.Store()
    graph.load(path=str(target), format=pyoxigraph.RdfFormat.TURTLE)
    assert len(graph) == triples > 8_000  # the whole export arrived
    assert _names(out_dir) == ["graph.ttl", "graph.ttl.partial"]


def test_explain_out_writes_the_whole_report(
    out_dir: Path, store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = out_dir / "why.json"
    assert main(["explain", PERSON, "--out", str(target), "--store", str(store_dir)]) == 0
    assert json.loads(target.read_text())["person"] == PERSON
    assert _names(out_dir) == ["why.json"]
