"""The model card (``README.md``) written beside every saved checkpoint."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["model_card"]

_KIND_TEXT = {
    "gnn": "ActivityGNN: heterogeneous message passing part state -> verb -> activity <- object "
    "over the HAKE activity graph (plus a per-person node that aggregates the observed part "
    "states), with learned edge weights initialised from NPMI evidence and all-MiniLM-L6-v2 "
    "label embeddings as node features. Activities never seen in training are scored through "
    "their verb and object.",
    "mlp": "A one-hidden-layer MLP baseline over the 183 input channels.",
    "linear": "The linear baseline (the HAKE papers' Linear PaSta-R).",
    "rule": "The training-free evidence reasoner (positive NPMI along the graph's edges).",
}


def _metrics_table(metrics: dict[str, Any]) -> str:
    if not metrics:
        return "No held-out metrics were recorded with this checkpoint.\n"
    lines = []
    for setting, values in metrics.items():
        if not isinstance(values, dict):
            continue
        lines.append(f"**{setting}**\n")
        lines.append("| metric | value |")
        lines.append("|---|---|")
        for key, value in values.items():
            lines.append(f"| {key} | {value} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def model_card(config: dict[str, Any]) -> str:
    """Markdown model card from a checkpoint's ``config.json`` content."""
    prov = config.get("provenance", {})
    data = prov.get("training_data", {})
    training = prov.get("training", {})
    versions = config.get("versions", {})
    return f"""# {config["name"]} ({config["model_version"]})

{_KIND_TEXT.get(config["kind"], config["kind"])}

## Use

```python
from reasoning import ActivityReasoner
reasoner = ActivityReasoner.from_pretrained("path/to/this/folder")  # None: packaged default
predictions = reasoner.predict(observations, top_k=5)   # PersonObservation records in
```

Input: per person, part-state probabilities (93-set ids), active fine body parts (10) and
objects present with scores (80 COCO classes). Output: the 600 HICO activities ranked, each
with an exact explanation (method: see `Explanation.method`) whose contribution weights sum
to the activity's logit minus the no-evidence logit.

## Training data

- tasks: {", ".join(data.get("tasks", [])) or "unknown"} ({data.get("examples", "?")} examples)
- files: {", ".join(data.get("files", [])) or "unknown"}
- split: {data.get("split", "unknown")}
- licence of the annotations: {data.get("licence", "unknown")}
- options: `{json.dumps({k: v for k, v in training.items() if k != "seconds"})}`
- training time: {training.get("seconds", "?")} s

## Held-out metrics

Measured by `reasoning.evaluate` with the same model kind, config and options, trained on the
80% training side of the stated split (not on the full data this checkpoint saw):

{_metrics_table(prov.get("metrics", {}))}
## Limitations

- Trained on ground-truth (annotated) part states; scores on perception output with noisy
  part-state probabilities will be lower.
- The image-level data mixes all persons and objects of an image; a person doing one thing
  next to a person doing another confuses the evidence.
- Unseen compositions are scored through their verb and object; their scores rank well but
  are not calibrated probabilities.

## Versions

`{json.dumps(versions)}`

Label order (term ids in channel order) is stored in `config.json`; loading checks it
against the installed ontology.
"""
