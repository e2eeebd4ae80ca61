"""Reasoning: part-state observations -> activities with explanations (a GNN over the ontology).

Not built yet (see the reasoning issue). It will import ``ontology`` only and return
``ontology.ActivityPrediction`` records carrying ``ontology.Explanation``.
"""

from __future__ import annotations

__all__: list[str] = []
