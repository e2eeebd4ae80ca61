"""The GNN's fast explanations (contributions at each row's non-zero channels) against the
dense reference (:meth:`ActivityReasoner.attribute_terms`, every one of the 183 channels)."""

from __future__ import annotations

import functools
import gc

import pytest
import torch

from ontology import ActivityPrediction, Contribution, Explanation
from reasoning import ActivityReasoner, PredictionBatch
from reasoning.batch import gc_paused
from reasoning.features import input_layout
from reasoning.gnn import ActivityGNN, nonzero_channels

TOL = 1e-5  # float32 rounding of sums over the hidden units, in logit units


@functools.cache
def _packaged() -> ActivityReasoner:
    """The packaged GNN (hidden width 256: rows are computed in several slices)."""
    return ActivityReasoner.from_pretrained()


def _inputs(kind: str, n: int, seed: int) -> torch.Tensor:
    """``n`` random rows: ``"sparse"`` like the simulated persons (10 part states, an active
    part, an object), ``"dense"`` (every channel non-zero with probability 0.6); every 7th
    row has no evidence at all."""
    g = torch.Generator().manual_seed(seed)
    lay = input_layout()
    if kind == "dense":
        x = torch.rand(n, lay.n_features, generator=g) * (torch.rand(n, lay.n_features, generator=g) < 0.6)
    else:
        x = torch.zeros(n, lay.n_features)
        rows = torch.arange(n)[:, None]
        states = torch.rand(n, lay.n_part_states, generator=g).argsort(dim=1)[:, :10]
        x[rows, states] = torch.rand(n, 10, generator=g)
        part = lay.n_part_states + torch.randint(lay.n_body_parts, (n, 1), generator=g)
        x[rows, part] = torch.rand(n, 1, generator=g)
        obj = lay.n_part_states + lay.n_body_parts + torch.randint(lay.n_objects, (n, 1), generator=g)
        x[rows, obj] = torch.rand(n, 1, generator=g)
    x[::7] = 0.0
    return x


def _check_against_dense(
    reasoner: ActivityReasoner, x: torch.Tensor, top_k: int, min_share: float, batch_size: int
) -> int:
    """Check the fast path's batch against the dense reference; return the number of
    contributions it left out (into ``rest``)."""
    assert isinstance(reasoner.model, ActivityGNN)
    batch = reasoner.predict_rows(x, top_k=top_k, min_share=min_share, batch_size=batch_size)
    assert isinstance(batch, PredictionBatch) and batch.explained
    assert batch.baseline is not None and batch.rest is not None and batch.offsets is not None
    assert batch.channel is not None and batch.weight is not None and batch.path is not None
    assert (batch.path == -1).all() and batch.paths == ()

    logits = reasoner.logits(x)
    top = logits.topk(top_k, dim=1)
    assert (torch.as_tensor(batch.activity) == top.indices).all()
    torch.testing.assert_close(torch.as_tensor(batch.score), torch.sigmoid(top.values), rtol=1e-5, atol=1e-6)
    total, baseline = reasoner.attribute_terms(x, top.indices)  # (P, K, 183), dense
    torch.testing.assert_close(torch.as_tensor(batch.baseline), baseline, rtol=1e-6, atol=1e-6)

    tiny = torch.finfo(torch.float32).tiny
    offsets, channel, weight = batch.offsets.tolist(), batch.channel.tolist(), batch.weight.tolist()
    left_out = 0
    for p in range(x.shape[0]):
        nonzero = set(torch.nonzero(x[p]).flatten().tolist())
        for k in range(top_k):
            ref = total[p, k].double()
            # every contribution is x_i times a weight: none outside the non-zero channels
            assert all(ref[c] == 0.0 for c in range(x.shape[1]) if c not in nonzero)
            mass = float(ref.abs().sum())
            threshold = max(min_share * mass, tiny)
            j = p * top_k + k
            chans, weights = channel[offsets[j] : offsets[j + 1]], weight[offsets[j] : offsets[j + 1]]
            assert len(set(chans)) == len(chans)
            # the same channels as the reference keeps (a channel within rounding of the
            # threshold may go either way), with the reference's weights
            tol = TOL * max(1.0, mass)
            sure = {c for c in nonzero if abs(float(ref[c])) >= threshold + tol}
            out = {c for c in range(x.shape[1]) if abs(float(ref[c])) < threshold - tol}
            assert sure <= set(chans), (p, k, sorted(sure - set(chans)))
            assert not set(chans) & out, (p, k, sorted(set(chans) & out))
            torch.testing.assert_close(
                torch.tensor(weights, dtype=torch.float64), ref[chans], rtol=TOL, atol=TOL
            )
            # ranked as the reference: largest weight first, ties by channel
            expected = sorted(chans, key=lambda c: (-float(ref[c]), c))
            for mine, theirs in zip(chans, expected, strict=True):
                assert mine == theirs or abs(float(ref[mine] - ref[theirs])) <= 2 * TOL
            assert weights == sorted(weights, reverse=True)
            # rest: the left-out weights; exact: baseline + kept + rest = logit
            rest = float(batch.rest[p, k])
            dropped = nonzero - set(chans)
            assert rest == pytest.approx(float(ref[sorted(dropped)].sum()), abs=tol)
            if min_share == 0.0:
                assert rest == 0.0 and set(chans) == {c for c in nonzero if ref[c] != 0.0}
            logit = float(batch.baseline[p, k]) + sum(weights) + rest
            assert logit == pytest.approx(float(top.values[p, k]), abs=1e-4 * max(1.0, mass))
            if not nonzero:
                assert chans == [] and rest == 0.0
            left_out += sum(1 for c in dropped if ref[c] != 0.0)
    return left_out


@pytest.mark.parametrize("kind", ["sparse", "dense"])
@pytest.mark.parametrize("top_k", [1, 5])
@pytest.mark.parametrize("min_share", [0.0, 0.02])
def test_fast_explanations_equal_the_dense_reference(kind: str, top_k: int, min_share: float) -> None:
    reasoner = _packaged()
    x = _inputs(kind, 400 if kind == "sparse" else 60, seed=top_k)
    left_out = _check_against_dense(reasoner, x, top_k, min_share, batch_size=150)
    assert (left_out > 0) == (min_share > 0)  # the threshold was exercised


@pytest.mark.parametrize("min_share", [0.0, 0.02])
def test_fast_explanations_of_a_small_trained_gnn(min_share: float, trained_gnn: ActivityReasoner) -> None:
    x = torch.cat([_inputs("sparse", 50, seed=3), _inputs("dense", 20, seed=4)])
    for top_k in (1, 3, 5):
        _check_against_dense(trained_gnn, x, top_k, min_share, batch_size=32)


def test_rows_without_evidence_have_no_contributions() -> None:
    reasoner = _packaged()
    x = torch.zeros(3, input_layout().n_features)
    batch = reasoner.predict_rows(x, top_k=2)
    assert batch.n_contributions == 0 and batch.rest is not None and (batch.rest == 0).all()
    assert batch.offsets is not None and (batch.offsets == 0).all()
    assert reasoner.predict_rows(x[:0], top_k=2).n_contributions == 0


def test_nonzero_channels_pads_each_row() -> None:
    x = _inputs("sparse", 30, seed=0)
    channels, values = nonzero_channels(x)
    assert channels.shape == values.shape == (30, 12)  # 10 part states, a part, an object
    for p in range(30):
        want = torch.nonzero(x[p]).flatten()
        n = want.numel()
        assert channels[p, :n].tolist() == want.tolist()
        assert (values[p, :n] == x[p, want]).all() and (values[p, n:] == 0).all()
    empty, none = nonzero_channels(torch.zeros(4, input_layout().n_features))
    assert empty.shape == none.shape == (4, 0)


@pytest.mark.parametrize("options", [{}, {"paths": True}, {"explain": False}])
def test_records_equal_validated_records(options: dict[str, bool]) -> None:
    """The records built without validation equal those of the validating constructors."""
    reasoner = _packaged()
    x = _inputs("sparse", 40, seed=5)
    batch = reasoner.predict_rows(x, top_k=3, **options)
    persons = [(f"img{p // 2}.jpg", str(p % 2)) for p in range(len(x))]
    records = batch.records(persons)
    assert [len(row) for row in records] == [3] * len(x)
    names = (*batch.paths, None)
    for p, row in enumerate(records):
        for k, pred in enumerate(row):
            j = p * 3 + k
            explanation = None
            if batch.explained:
                assert batch.offsets is not None and batch.channel is not None
                assert batch.weight is not None and batch.path is not None
                assert batch.baseline is not None and batch.rest is not None and batch.method is not None
                lo, hi = int(batch.offsets[j]), int(batch.offsets[j + 1])
                contributions = tuple(
                    Contribution(batch.channel_kinds[c], batch.channel_terms[c], float(w), names[int(q)])
                    for c, w, q in zip(
                        batch.channel[lo:hi], batch.weight[lo:hi], batch.path[lo:hi], strict=True
                    )
                )
                explanation = Explanation(
                    batch.activity_ids[batch.activity[p, k]],
                    batch.method,
                    contributions,
                    float(batch.score[p, k]),
                    float(batch.baseline[p, k]),
                    float(batch.rest[p, k]),
                )
                assert pred.explanation is not None
                assert pred.explanation.contributions == contributions
            expected = ActivityPrediction(
                *persons[p],
                batch.activity_ids[batch.activity[p, k]],
                float(batch.score[p, k]),
                batch.model,
                batch.model_version,
                explanation,
            )
            assert pred == expected and pred.to_dict() == expected.to_dict()
            assert vars(pred) == vars(expected)


def test_gc_paused_restores_the_collector() -> None:
    enabled = gc.isenabled()
    try:
        gc.enable()
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():  # nested: only the outer one re-enables
                pass
            assert not gc.isenabled()
        assert gc.isenabled()
        gc.disable()
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off: it stays off
    finally:
        (gc.enable if enabled else gc.disable)()
