"""Graph stores: one protocol (:class:`GraphStore`), two backends."""

from __future__ import annotations

from kg.store.base import GraphStore, is_write_query
from kg.store.embedded import EmbeddedStore
from kg.store.neo4j import Neo4jStore

__all__ = ["EmbeddedStore", "GraphStore", "Neo4jStore", "is_write_query"]
