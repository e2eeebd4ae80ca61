"""Perception: images and video -> persons -> body parts -> part-state probabilities.

Not built yet (see the perception issue). It will import ``ontology`` only and return
``ontology.PersonObservation`` records.
"""

from __future__ import annotations

__all__: list[str] = []
