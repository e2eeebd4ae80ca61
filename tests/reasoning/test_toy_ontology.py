"""The whole reasoning path on a toy ontology of four part states, two verbs, two objects and
two activities: layouts, the GNN, explanations and checkpoints size themselves from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ontology
from reasoning import (
    ActivityGNN,
    ActivityReasoner,
    Evidence,
    GNNConfig,
    TrainOptions,
    build_graph,
    encode_labels,
    encode_observations,
    fit,
)
from reasoning.features import input_layout
from tests.reasoning.synthetic import TOY
from tests.reasoning.synthetic import TOY_DRINK as DRINK
from tests.reasoning.synthetic import TOY_RIDE as RIDE


def _person(i: int, states: dict[str, float], obj: str) -> ontology.PersonObservation:
    return ontology.PersonObservation(
        f"img{i}",
        "0",
        part_states=states,
        objects=(ontology.DetectedObject(obj, ontology=TOY),),
        ontology=TOY,
    )


@pytest.fixture(scope="module")
def toy_reasoner() -> ActivityReasoner:
    people = [_person(i, RIDE if i % 2 else DRINK, "bicycle" if i % 2 else "cup") for i in range(40)]
    labels = [["ride-bicycle"] if i % 2 else ["drink_with-cup"] for i in range(40)]
    x, y = encode_observations(people, TOY), encode_labels(labels, TOY)
    evidence = Evidence.from_examples(x, y, TOY)
    torch.manual_seed(0)
    features = {"part_state": torch.randn(4, 384), "verb": torch.randn(2, 384)}
    model = ActivityGNN(build_graph(evidence, features, TOY), GNNConfig(hidden=4, query_hidden=4))
    fit(model, x, y, TrainOptions(epochs=40, batch_size=8, lr=1e-2))
    return ActivityReasoner(model, evidence)


def test_the_toy_ontology_is_small_and_consistent() -> None:
    assert [a.id for a in TOY.activities] == ["ride-bicycle", "drink_with-cup"]
    assert len(TOY.part_states) == 4 and [p.hico_index for p in TOY.hico_part_states] == [0, 1, 2, 3]
    lay = input_layout(TOY)
    assert (lay.n_features, lay.n_activities) == (4 + 10 + 2, 2)
    assert ontology.read_ontology(TOY.to_turtle()) == TOY
    assert ontology.ontology.from_sources([s.to_dict() for s in TOY.sources]) == TOY
    with pytest.raises(ontology.RecordError):  # a packaged part state the toy does not have
        ontology.PersonObservation("i", "0", part_states={"hand: carry": 1.0}, ontology=TOY)


def test_reasoning_on_the_toy_ontology(toy_reasoner: ActivityReasoner, tmp_path: Path) -> None:
    riding = _person(100, {"hip: sit on": 0.9, "foot: tread on": 0.8}, "bicycle")
    best = toy_reasoner.predict([riding], top_k=2)[0]
    assert [p.activity for p in best] == ["ride-bicycle", "drink_with-cup"]
    e = best[0].explanation
    assert e is not None and {c.term for c in e.contributions} <= {"hip_sit_on", "foot_tread_on", "bicycle"}
    x = encode_observations([riding], TOY)
    assert e.baseline + sum(c.weight for c in e.contributions) + e.rest == pytest.approx(
        float(toy_reasoner.logits(x)[0, 0]), abs=1e-4
    )
    back = ActivityReasoner.from_pretrained(toy_reasoner.save_pretrained(tmp_path / "toy"))
    assert back.ontology == TOY and torch.equal(back.logits(x), toy_reasoner.logits(x))
