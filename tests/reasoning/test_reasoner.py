from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import ontology
from reasoning import (
    ActivityReasoner,
    Evidence,
    LinearReasoner,
    MLPConfig,
    MLPReasoner,
    RuleReasoner,
    build_graph,
    default_model_path,
    encode_observations,
)
from tests.reasoning.synthetic import RULES, tensors


def _observation(person: str = "0") -> ontology.PersonObservation:
    return ontology.PersonObservation(
        image_id="img",
        person_id=person,
        part_states={s: 1.0 for s in RULES["ride-horse"]} | {"head: talk to": 1.0},
        objects=(ontology.DetectedObject("horse", 0.9),),
    )


def test_save_load_round_trip(trained_gnn: ActivityReasoner, tmp_path: Path) -> None:
    trained_gnn.provenance = {"training_data": {"tasks": ["synthetic"]}, "metrics": {"seed 0": {"mAP": 1}}}
    out = trained_gnn.save_pretrained(tmp_path / "ckpt")
    assert {p.name for p in out.iterdir()} == {"config.json", "model.pt", "README.md"}
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "gnn"
    assert config["label_order"]["activities"][0] == ontology.load().activities[0].id
    assert config["versions"]["ontology"] == ontology.load().version
    assert config["provenance"]["training_data"]["tasks"] == ["synthetic"]
    assert "| mAP | 1 |" in (out / "README.md").read_text()

    back = ActivityReasoner.from_pretrained(out)
    x, _ = tensors(20, seed=5)
    assert torch.allclose(back.scores(x), trained_gnn.scores(x))
    assert back.version == trained_gnn.version and back.name == "hake-activity-gnn"


@pytest.mark.parametrize("kind", ["mlp", "linear", "rule"])
def test_baselines_round_trip(kind: str, evidence: Evidence, tmp_path: Path) -> None:
    graph = build_graph(evidence)
    model: MLPReasoner | LinearReasoner | RuleReasoner
    if kind == "mlp":
        model = MLPReasoner(graph, MLPConfig(hidden=6))
    elif kind == "linear":
        model = LinearReasoner()
    else:
        model = RuleReasoner(graph)
    reasoner = ActivityReasoner(model, evidence)
    back = ActivityReasoner.from_pretrained(reasoner.save_pretrained(tmp_path / kind))
    x, _ = tensors(5, seed=6)
    assert back.kind == kind
    assert torch.allclose(back.scores(x), reasoner.scores(x))


def test_predict_records(trained_gnn: ActivityReasoner) -> None:
    preds = trained_gnn.predict([_observation("0"), _observation("1")], top_k=4)
    assert len(preds) == 2 and all(len(p) == 4 for p in preds)
    first = preds[0]
    assert first[0].activity == "ride-horse"  # what the synthetic rules say
    assert [p.score for p in first] == sorted((p.score for p in first), reverse=True)
    assert first[0].person_id == "0" and preds[1][0].person_id == "1"
    assert first[0].model == "hake-activity-gnn" and first[0].model_version.startswith("gnn-")
    exp = first[0].explanation
    assert exp is not None and exp.activity == "ride-horse" and exp.score == first[0].score
    assert exp.method.startswith("integrated-gradients")
    top_terms = {c.term for c in exp.contributions[:3]}
    assert top_terms <= {ontology.load().part_states[s].id for s in RULES["ride-horse"]} | {"horse"}
    assert {c.edge for c in exp.contributions} <= {
        "part_state->verb->activity",
        "body_part->verb->activity",
        "part_state->activity",
        "object->activity",
    }
    # the weights add up to the logit minus the no-evidence logit
    x = encode_observations([_observation()])
    act = torch.tensor([[ontology.load().activities["ride-horse"].index]])
    attr = trained_gnn.attribute(x, act)
    logit = torch.logit(torch.tensor(first[0].score, dtype=torch.float64)).item()
    total = sum(c.weight for c in exp.contributions)
    assert total == pytest.approx(logit - float(attr.baseline[0, 0]), abs=1e-3)
    assert trained_gnn.predict([_observation()], top_k=1, explain=False)[0][0].explanation is None


def test_predict_validates_input(trained_gnn: ActivityReasoner) -> None:
    with pytest.raises(ValueError, match="top_k must be an int in 1..600"):
        trained_gnn.predict([_observation()], top_k=0)
    with pytest.raises(ValueError, match=r"expected inputs of shape \(B, 183\)"):
        trained_gnn.logits(torch.zeros(2, 5))
    assert trained_gnn.predict([]) == []


def test_from_pretrained_errors(trained_gnn: ActivityReasoner, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        ActivityReasoner.from_pretrained(tmp_path)
    out = trained_gnn.save_pretrained(tmp_path / "ckpt")
    config = json.loads((out / "config.json").read_text())
    config["label_order"]["activities"] = list(reversed(config["label_order"]["activities"]))
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="activities order differs"):
        ActivityReasoner.from_pretrained(out)
    with pytest.raises(ValueError, match="CUDA is not available"):
        if not torch.cuda.is_available():
            trained_gnn.to("cuda")
        else:  # pragma: no cover - only on GPU machines
            raise ValueError("CUDA is not available (skipped on GPU)")


def test_packaged_default_checkpoint() -> None:
    if not (default_model_path() / "model.pt").is_file():
        pytest.fail(f"the packaged default checkpoint is missing at {default_model_path()}")
    reasoner = ActivityReasoner.from_pretrained()
    assert reasoner.kind == "gnn"
    assert reasoner.provenance["training_data"]["tasks"] == ["hake-image", "hake-instance"]
    obs = ontology.PersonObservation(
        image_id="img",
        person_id="0",
        part_states={"hip: sit on": 1.0, "foot: tread on": 1.0, "hand: hold": 1.0},
        active_parts={b.id: 1.0 for b in ontology.load().body_parts},
        objects=(ontology.DetectedObject("bicycle"),),
    )
    top = reasoner.predict([obs], top_k=3)[0]
    assert top[0].activity == "ride-bicycle"
    assert all(p.activity.endswith("-bicycle") for p in top)
