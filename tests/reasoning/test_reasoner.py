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
    # one contribution per term (summed over paths), and the weights add up exactly
    assert {c.edge for c in exp.contributions} == {None}
    assert len({c.term for c in exp.contributions}) == len(exp.contributions)
    x = encode_observations([_observation()])
    logit = float(trained_gnn.logits(x)[0, ontology.load().activities["ride-horse"].index])
    assert exp.baseline is not None and exp.logit == pytest.approx(logit, abs=1e-4)
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


def _mixed_observations(n: int = 12) -> list[ontology.PersonObservation]:
    x, _ = tensors(n, seed=11)
    onto = ontology.load()
    out = []
    for i, row in enumerate(x):
        states = {onto.part_states[j].id: float(row[j]) for j in range(93) if row[j] > 0}
        out.append(
            ontology.PersonObservation(
                image_id="img",
                person_id=str(i),
                part_states=states,
                active_parts={onto.body_parts[i % 10].id: 0.8},
                objects=(ontology.DetectedObject(onto.objects[i % 80].id, 0.7),),
            )
        )
    return out


@pytest.mark.parametrize("kind", ["gnn", "mlp", "linear", "rule"])
@pytest.mark.parametrize("paths", [False, True])
@pytest.mark.parametrize("min_share", [0.0, 0.05, 0.3])
def test_explanations_are_exact_at_every_granularity(
    kind: str, paths: bool, min_share: float, trained_gnn: ActivityReasoner, evidence: Evidence
) -> None:
    graph = build_graph(evidence)
    models = {
        "mlp": MLPReasoner(graph, MLPConfig(hidden=6)),
        "linear": LinearReasoner(),
        "rule": RuleReasoner(graph),
    }
    reasoner = trained_gnn if kind == "gnn" else ActivityReasoner(models[kind], evidence)
    observations = _mixed_observations()
    x = encode_observations(observations)
    batch = reasoner.predict_rows(x, top_k=3, paths=paths, min_share=min_share, batch_size=5)
    logits = reasoner.logits(x).gather(1, torch.as_tensor(batch.activity))
    preds = batch.records([(o.image_id, o.person_id) for o in observations])
    for b, person in enumerate(preds):
        for k, pred in enumerate(person):
            e = pred.explanation
            assert e is not None and e.baseline is not None
            assert e.logit == pytest.approx(float(logits[b, k]), abs=1e-4)
            weights = [c.weight for c in e.contributions]
            assert weights == sorted(weights, reverse=True)
            mass = sum(abs(w) for w in weights) + abs(e.rest)  # an upper bound of the full mass
            assert all(abs(w) >= min_share * (mass - abs(e.rest)) - 1e-6 for w in weights)
            if paths:
                assert all(c.edge is not None for c in e.contributions)
            else:
                assert {c.edge for c in e.contributions} <= {None}
                assert len({(c.kind, c.term) for c in e.contributions}) == len(e.contributions)
            if min_share == 0.0:
                assert e.rest == 0.0
    # the record API gives the same predictions as the columns (up to BLAS rounding)
    again = reasoner.predict(observations, top_k=3, paths=paths, min_share=min_share, batch_size=5)
    for mine, theirs in zip(again, preds, strict=True):
        for p, q in zip(mine, theirs, strict=True):
            assert (p.image_id, p.person_id, p.activity) == (q.image_id, q.person_id, q.activity)
            assert p.score == pytest.approx(q.score, abs=1e-5)
            assert p.explanation is not None and q.explanation is not None
            assert p.explanation.logit == pytest.approx(q.explanation.logit, abs=1e-4)


def test_term_attribution_equals_the_sum_over_paths(trained_gnn: ActivityReasoner) -> None:
    x = encode_observations(_mixed_observations())
    acts = trained_gnn.scores(x).topk(4, dim=1).indices
    total, baseline = trained_gnn.attribute_terms(x, acts)
    full = trained_gnn.attribute(x, acts)
    torch.testing.assert_close(total, full.total(), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(baseline, full.baseline)


def test_a_higher_share_keeps_fewer_contributions_and_a_larger_rest(trained_gnn: ActivityReasoner) -> None:
    x = encode_observations(_mixed_observations())
    all_kept = trained_gnn.predict_rows(x, top_k=2, min_share=0.0)
    some = trained_gnn.predict_rows(x, top_k=2, min_share=0.2)
    assert some.n_contributions < all_kept.n_contributions
    assert all_kept.rest is not None and some.rest is not None
    assert float(abs(all_kept.rest).sum()) == 0.0 < float(abs(some.rest).sum())
    with pytest.raises(ValueError, match=r"min_share must be a number in \[0, 1\]"):
        trained_gnn.predict_rows(x, min_share=2)
    unexplained = trained_gnn.predict_rows(x, top_k=2, explain=False)
    assert not unexplained.explained and unexplained.n_contributions == 0
    assert (unexplained.activity == all_kept.activity).all()


def test_predictions_carry_their_persons_key(trained_gnn: ActivityReasoner) -> None:
    """The one identity rule (ontology.identity): a frame's person is keyed by its frame."""
    frame = ontology.PersonObservation("v#1", "a/b", frame_index=3, part_states={"hand: hold": 1.0})
    prediction = trained_gnn.predict([frame], top_k=1)[0][0]
    assert prediction.key == frame.key == "v%231#3/a%2Fb"
