"""A long-lived read-write embedded store keeps its memory bounded across many small loads."""

from __future__ import annotations

from pathlib import Path

import pytest

import kg.store.embedded
from kg import ingest_observations, init_store
from kg.store import EmbeddedStore
from ontology import PersonObservation
from ontology.errors import StoreError

POOL = 192 << 20  # a small buffer pool: LadybugDB 0.22 keeps ~36 MB of it per one-person ingest


def _ingest_one_by_one(store: EmbeddedStore, n: int) -> None:
    for i in range(n):
        ingest_observations(store, [PersonObservation(f"img{i}.jpg", "0", part_states={"hand: hold": 0.5})])


def test_many_small_loads_fit_in_a_small_buffer_pool(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "graph", buffer_pool_bytes=POOL) as store:
        init_store(store)
        _ingest_one_by_one(store, 40)
        assert store.query("MATCH (p:Person) RETURN count(p) AS n")[0]["n"] == 40
        assert store.query("MATCH (:Person)-[s:HAS_STATE]->(:PartState) RETURN count(s) AS n")[0]["n"] == 40


def test_without_reopening_the_pool_fills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the reopening is for (LadybugDB 0.22): were this to pass, the reopening could go."""
    monkeypatch.setattr(kg.store.embedded, "REOPEN_AFTER_COPIES", 10**9)
    with EmbeddedStore(tmp_path / "graph", buffer_pool_bytes=POOL) as store:
        init_store(store)
        with pytest.raises(StoreError, match="buffer pool filled up"):
            _ingest_one_by_one(store, 40)
