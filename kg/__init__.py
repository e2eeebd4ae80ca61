"""The engine: stores (embedded, Neo4j, RDF), ingest, query, composition and the ``hake`` CLI.

So far it holds the command line (``kg.cli``); stores arrive with the knowledge-graph issue.
``import kg`` never imports torch.
"""

from __future__ import annotations

__all__: list[str] = []
