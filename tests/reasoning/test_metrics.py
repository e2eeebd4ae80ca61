from __future__ import annotations

import math

import numpy as np
import pytest

from reasoning.metrics import average_precision, benchmark_metrics, per_class_ap


def test_average_precision_by_hand() -> None:
    # ranks 1..4: pos, neg, pos, neg -> precision at the positives 1/1 and 2/3
    assert average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
    # a perfect ranking and a reversed one
    assert average_precision([3, 2, 1], [1, 1, 0]) == 1.0
    assert average_precision([1, 2, 3], [1, 0, 0]) == pytest.approx(1 / 3)


def test_ties_form_one_threshold() -> None:
    # two tied scores, one positive: precision 1/2 at recall 1, whatever the order
    assert average_precision([0.5, 0.5], [1, 0]) == 0.5
    assert average_precision([0.5, 0.5], [0, 1]) == 0.5
    # [0.9 pos] then a tie of {pos, neg, neg}: (1 * 1/2) + (2/4 * 1/2)
    assert average_precision([0.9, 0.4, 0.4, 0.4], [1, 0, 1, 0]) == pytest.approx(0.75)


def test_no_positive_is_nan_and_shapes_checked() -> None:
    assert math.isnan(average_precision([0.1, 0.2], [0, 0]))
    with pytest.raises(ValueError, match="same length"):
        average_precision([0.1, 0.2], [1])
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        per_class_ap(np.zeros((2, 3)), np.zeros((2, 2)))


def test_benchmark_metrics_by_hand() -> None:
    scores = np.array(
        [
            [0.9, 0.1, 0.3, 0.5],
            [0.2, 0.8, 0.6, 0.5],
            [0.7, 0.3, 0.9, 0.5],
            [0.1, 0.2, 0.1, 0.5],
        ]
    )
    labels = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]])
    # class 0 and class 2: the positive scores highest -> AP 1. Class 1 (scores 0.1, 0.8,
    # 0.3, 0.2; positives rows 1 and 3): pos, neg, pos, neg -> AP (1 + 2/3) / 2.
    # Class 3 has no positive and is left out.
    ap1 = (1 + 2 / 3) / 2
    counts = np.array([0, 3, 12, 1])
    m = benchmark_metrics(scores, labels, counts, unseen=[1, 3])
    assert m["n_classes"] == 3
    assert m["mAP"] == round(100 * (1 + ap1 + 1) / 3, 2)
    assert (m["few@1"], m["n_few@1"]) == (100.0, 1)
    assert (m["few@5"], m["n_few@5"]) == (round(100 * (1 + ap1) / 2, 2), 2)
    assert m["n_few@10"] == 2
    # class 3 is unseen but has no test positive: only class 1 counts
    assert (m["unseen_mAP"], m["n_unseen"]) == (round(100 * ap1, 2), 1)
    none = benchmark_metrics(scores, labels, np.array([50, 50, 50, 50]))
    assert none["few@10"] is None and none["unseen_mAP"] is None


def test_matches_sklearn_on_random_ties() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(2, 40))
        y = rng.integers(0, 2, n)
        if y.sum() == 0:
            continue
        s = rng.integers(0, 4, n) / 3
        assert average_precision(s, y) == pytest.approx(sklearn_metrics.average_precision_score(y, s))


def test_voc_ap_is_interpolated_and_never_below_the_default() -> None:
    from reasoning.metrics import voc_average_precision

    rng = np.random.default_rng(0)
    scores = rng.random((200, 6)).round(1)  # many ties
    labels = rng.random((200, 6)) < 0.2
    voc, plain = per_class_ap(scores, labels, "voc"), per_class_ap(scores, labels)
    assert (voc >= plain - 1e-12).all() and (voc > plain).any()
    # precision 1/2 at recall 1/2 is lifted to the 2/3 reached at full recall
    assert voc_average_precision(np.array([0.9, 0.8, 0.7]), np.array([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="unknown AP convention 'vocc'"):
        per_class_ap(scores, labels, "vocc")
    assert benchmark_metrics(scores, labels, np.full(6, 20), ap="voc")["ap"] == "voc"
