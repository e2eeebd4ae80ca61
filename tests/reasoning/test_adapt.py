"""Reasoning sized from an ontology value: a GNN trained on a smaller ontology, carried onto a
larger one (zero-shot) and fine-tuned there; checkpoints that carry their ontology."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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
    encode_observations,
    fine_tune,
    fit,
    transfer,
)
from reasoning.adapt import fit_new_terms, new_term_rows
from reasoning.extended import ExtendedReasoner
from reasoning.features import input_layout, remap_labels
from reasoning.metrics import per_class_ap
from tests.reasoning.synthetic import tensors

PACKAGED = ontology.load()
#: a small ontology: the packaged one without "ride" and "drink_with" (and their activities)
SMALL = PACKAGED.without_verbs(["ride", "drink_with"], "test-small")


def _features(onto: ontology.Ontology, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random node features, seeded per term id, so that a term has the same features in
    every ontology (as label embeddings do)."""

    def rows(ids: list[str]) -> torch.Tensor:
        out = []
        for t in ids:
            gen = torch.Generator().manual_seed(seed + sum(map(ord, t)) * 131 + len(t))
            out.append(torch.randn(384, generator=gen))
        return torch.nn.functional.normalize(torch.stack(out), dim=1)

    return {
        "part_state": rows(onto.part_states.ids),
        "body_part": rows(onto.body_parts.ids),
        "verb": rows(onto.verbs.ids),
        "object": rows(onto.objects.ids),
        "activity": rows(onto.activities.ids),
    }


@pytest.fixture(scope="module")
def small_model() -> tuple[ActivityGNN, Evidence, torch.Tensor, torch.Tensor]:
    """A tiny GNN trained on the synthetic data without its "ride" and "drink with" examples."""
    torch.set_num_threads(1)
    x, y = tensors(800, seed=1)
    held = [PACKAGED.activities[a].index for a in ("ride-bicycle", "ride-horse", "drink_with-cup")]
    keep = y[:, held].sum(1) == 0
    xs, ys = x[keep], remap_labels(y[keep], PACKAGED, SMALL)
    evidence = Evidence.from_examples(xs, ys, SMALL)
    torch.manual_seed(0)
    model = ActivityGNN(build_graph(evidence, _features(SMALL), SMALL), GNNConfig(hidden=8, query_hidden=8))
    fit(model, xs, ys, TrainOptions(epochs=25, batch_size=64, lr=1e-2))
    return model, evidence, x, y


def test_a_gnn_sizes_itself_from_its_ontology(
    small_model: tuple[ActivityGNN, Evidence, torch.Tensor, torch.Tensor],
) -> None:
    model, evidence, x, _ = small_model
    gone = sum(a.verb in {"ride", "drink_with"} for a in PACKAGED.activities)
    assert model.ontology == SMALL and len(SMALL.activities) == 600 - gone == 581
    assert "ride-horse" not in SMALL.activities and len(SMALL.verbs) == len(PACKAGED.verbs) - 2
    assert model(x[:5]).shape == (5, len(SMALL.activities))
    assert evidence.activity_counts.shape == (len(SMALL.activities),)
    assert evidence.verb_counts.shape == (len(SMALL.verbs),)
    with pytest.raises(ontology.ReasoningError, match="count it with the same ontology"):
        build_graph(evidence, None, PACKAGED)


def test_a_checkpoint_carries_its_ontology(
    small_model: tuple[ActivityGNN, Evidence, torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    model, evidence, x, _ = small_model
    reasoner = ActivityReasoner(model, evidence)
    folder = reasoner.save_pretrained(tmp_path / "small")
    assert (folder / "ontology.ttl").is_file()
    config = json.loads((folder / "config.json").read_text())
    assert config["ontology"] == {"id": SMALL.id, "version": SMALL.version}
    back = ActivityReasoner.from_pretrained(folder)
    assert back.ontology == SMALL and back.version == reasoner.version
    assert torch.equal(back.logits(x[:20]), reasoner.logits(x[:20]))
    obs = ontology.PersonObservation(
        "i", "0", part_states={"hip: sit on": 1.0}, objects=(ontology.DetectedObject("horse"),)
    )
    assert all(p.activity in SMALL.activities for p in back.predict([obs], top_k=5)[0])
    # the files must belong together: an ontology.ttl of another ontology is refused
    (folder / "ontology.ttl").write_text(PACKAGED.without_verbs(["feed"]).to_turtle())
    with pytest.raises(ontology.ReasoningError, match="do not belong together"):
        ActivityReasoner.from_pretrained(folder)
    # the packaged ontology is not written out (the install has it)
    packaged_folder = ActivityReasoner.from_pretrained().save_pretrained(tmp_path / "packaged")
    assert not (packaged_folder / "ontology.ttl").exists()


def test_transfer_keeps_every_shared_score_and_reads_new_verbs(
    small_model: tuple[ActivityGNN, Evidence, torch.Tensor, torch.Tensor],
) -> None:
    model, evidence, x, _ = small_model
    carried, counts = transfer(model, evidence, PACKAGED, node_features=_features(PACKAGED))
    assert carried.ontology == PACKAGED and counts.activity_counts.shape == (600,)
    shared = torch.tensor([PACKAGED.activities[a].index for a in SMALL.activities.ids])
    assert torch.allclose(carried(x)[:, shared], model(x), atol=1e-5)
    ride = PACKAGED.activities["ride-horse"].index
    assert not bool(carried.seen[ride])  # no example yet: scored by its verb and object
    # the new verb "ride" has part state -> verb edges from the language prior
    slot = int((carried.used_verbs == PACKAGED.verbs["ride"].index).nonzero())
    assert int((carried.ps_verb_index[1] == slot).sum()) > 0
    plain, _ = transfer(model, evidence, PACKAGED, node_features=_features(PACKAGED), language_prior=False)
    assert int((plain.ps_verb_index[1] == slot).sum()) == 0
    # an explanation of a new activity stays exact
    contrib, baseline = carried.attribute_terms(x[:8], torch.full((8, 1), ride))
    assert torch.allclose(contrib.sum(-1)[:, 0] + baseline[:, 0], carried(x[:8])[:, ride], atol=1e-4)


def test_fine_tuning_learns_the_new_verbs_and_keeps_the_old(
    small_model: tuple[ActivityGNN, Evidence, torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    model, evidence, x, y = small_model
    base = ActivityReasoner(model, evidence, name="small")
    x_test, y_test = tensors(400, seed=7)
    new = [PACKAGED.activities[a].index for a in ("ride-bicycle", "ride-horse", "drink_with-cup")]
    old = [PACKAGED.activities[a].index for a in ("carry-bicycle", "feed-horse", "wash-cup")]

    def mean_ap(r: ActivityReasoner, cols: list[int]) -> float:
        return float(np.nanmean(per_class_ap(r.scores(x_test).numpy()[:, cols], y_test.numpy()[:, cols])))

    carried, counts = transfer(model, evidence, PACKAGED, node_features=_features(PACKAGED))
    zero_shot = ActivityReasoner(carried, counts)
    with_new = (y[:, new].sum(1) > 0).nonzero()[:, 0][:30]  # 30 examples of the new activities
    replay = (y[:, new].sum(1) == 0).nonzero()[:, 0][:300]
    torch.manual_seed(0)
    tuned = fine_tune(
        base,
        PACKAGED,
        x[with_new],
        y[with_new],
        TrainOptions(epochs=40, batch_size=64, lr=1e-2),
        replay=(x[replay], y[replay]),
    )
    # fine_tune builds its graph with label embeddings (MiniLM): its model is a real one
    assert tuned.ontology == PACKAGED and tuned.provenance["init_from"]["name"] == "small"
    assert bool(tuned.model.seen[new].all())
    assert mean_ap(tuned, new) > mean_ap(zero_shot, new) and mean_ap(tuned, new) > 0.9
    assert mean_ap(tuned, old) > 0.9
    folder = tuned.save_pretrained(tmp_path / "tuned")  # prior edges survive the round trip
    assert torch.equal(
        ActivityReasoner.from_pretrained(folder).logits(x_test[:10]), tuned.logits(x_test[:10])
    )
    with pytest.raises(ontology.ReasoningError, match="target ontology's channels"):
        fine_tune(base, PACKAGED, x[:3], y[:3, :10])


def test_new_terms_learn_faster_and_nothing_else_changes(
    small_model: tuple[ActivityGNN, Evidence, torch.Tensor, torch.Tensor],
) -> None:
    """fit_new_terms scales the steps of the rows of terms the checkpoint lacks: 1 is fit,
    0 keeps them where they start, 10 moves them further."""
    model, evidence, x, y = small_model
    opts = TrainOptions(epochs=2, batch_size=200, lr=1e-2)

    new = [PACKAGED.activities[a].index for a in ("ride-bicycle", "ride-horse", "drink_with-cup")]
    shots = Evidence.from_examples(x[y[:, new].sum(1) > 0], y[y[:, new].sum(1) > 0], PACKAGED)

    def tuned(factor: float | None) -> tuple[ActivityGNN, dict[str, torch.Tensor]]:
        carried, _ = transfer(model, evidence, PACKAGED, shots, node_features=_features(PACKAGED))
        start = {n: p.detach().clone() for n, p in carried.named_parameters()}
        torch.manual_seed(0)
        if factor is None:
            fit(carried, x, y, opts)
        else:
            fit_new_terms(carried, SMALL, x, y, opts, new_term_lr=factor)
        return carried, start

    rows = new_term_rows(tuned(None)[0], SMALL)
    assert int(rows["verb_bias"].sum()) == 2 and int(rows["bias"].sum()) == len(PACKAGED.activities) - len(
        SMALL.activities
    )
    plain, _ = tuned(None)
    same, _ = tuned(1.0)
    frozen, start = tuned(0.0)
    fast, _ = tuned(10.0)
    params = dict(plain.named_parameters())
    for name, mask in rows.items():
        assert torch.equal(dict(same.named_parameters())[name], params[name])
        moved = dict(frozen.named_parameters())[name]
        assert torch.equal(moved[mask], start[name][mask]) and not torch.equal(
            moved[~mask], start[name][~mask]
        )
    slow = (params["query_residual"] - start["query_residual"])[new].detach()
    quick = (dict(fast.named_parameters())["query_residual"] - start["query_residual"])[new].detach()
    assert float(quick.norm()) > 3 * float(slow.norm()) > 0
    with pytest.raises(ontology.ReasoningError, match="new_term_lr >= 0"):
        fit_new_terms(plain, SMALL, x, y, opts, new_term_lr=-1.0)


def test_a_gnn_trains_on_person_only_and_composite_activities() -> None:
    """The example extension: person-only actions have no object gate, composites are not
    trained (their columns are scored from their members by the hierarchy rule)."""
    onto = ontology.load(ontology.example_extension())
    lay = input_layout(onto)
    atomic = [a for a in onto.activities if a.index >= 600 and not a.is_composite]
    rng = np.random.default_rng(0)
    obs, labels = [], []
    for i in range(300):
        a = atomic[i % len(atomic)]
        states = {s: 1.0 for s, _ in a.part_states if rng.random() < 0.9}
        objects = (ontology.DetectedObject(a.object, ontology=onto),) if a.object else ()
        obs.append(
            ontology.PersonObservation(f"i{i}", "0", part_states=states, objects=objects, ontology=onto)
        )
        labels.append([a.id, *(b.id for b in onto.activities.ancestors(a.id))])
    x = encode_observations(obs, onto)
    y = torch.zeros(len(obs), lay.n_activities)
    for i, acts in enumerate(labels):
        y[i, [onto.activities[a].index for a in acts]] = 1.0
    evidence = Evidence.from_examples(x, y, onto)
    torch.manual_seed(0)
    model = ActivityGNN(build_graph(evidence, _features(onto), onto), GNNConfig(hidden=8, query_hidden=8))
    jog = onto.activities["jog"]
    assert jog.object is None and not bool(model.has_object[jog.index])
    composite = onto.activities["running and jumping"]
    assert not bool(model.has_verb[composite.index]) and not bool(model.seen[composite.index])
    before = model(x).detach()[:, composite.index]
    fit(model, x, y, TrainOptions(epochs=20, batch_size=64, lr=1e-2))
    assert torch.equal(model(x).detach()[:, composite.index], before)  # composites are not trained
    reasoner = ActivityReasoner(model, evidence)
    hierarchy = reasoner.for_ontology(onto)
    assert isinstance(hierarchy, ExtendedReasoner) and hierarchy.name == reasoner.name
    logits = hierarchy.logits(x)
    members = [d.index for d in onto.activities.descendants(composite.id) if not d.is_composite]
    assert torch.allclose(logits[:, composite.index], logits[:, members].max(1).values)
    batch = hierarchy.predict_rows(x[:4], top_k=3)  # explained, composites carry their member's
    assert len(batch) == 4 and batch.explained
    ap = per_class_ap(
        torch.sigmoid(logits).numpy()[:, [a.index for a in atomic]], y.numpy()[:, [a.index for a in atomic]]
    )
    assert float(np.nanmean(ap)) > 0.8  # (training data: the check is that it learns at all)


def test_a_new_verbs_definition_sets_its_prior_edges(
    small_model: tuple[ActivityGNN, Evidence, torch.Tensor, torch.Tensor],
) -> None:
    """An extension's characteristic part states (including part states it adds) are the
    strongest edges of its new verb; the other part states get the language prior."""
    model, evidence, _, _ = small_model
    ext = SMALL.extend(ontology.example_extension())
    carried, _ = transfer(model, evidence, ext, node_features=_features(ext))
    slot = int((carried.used_verbs == ext.verbs["squat"].index).nonzero())
    mine = carried.ps_verb_index[1] == slot
    weights = dict(
        zip(carried.ps_verb_index[0][mine].tolist(), carried.ps_verb_weight[mine].tolist(), strict=True)
    )
    squat = weights.pop(ext.part_states["leg: squat"].index)  # a part state the extension adds
    assert weights and squat > max(weights.values())
