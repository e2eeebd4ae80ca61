from __future__ import annotations

import math

import pytest

from ontology import CountError, HakeError, cond_prob, npmi


def test_npmi_by_hand() -> None:
    # p(x)=3/4, p(y)=2/4, p(x,y)=2/4: the formula
    assert npmi(2, 3, 2, 4) == pytest.approx(math.log((1 / 2) / (3 / 8)) / -math.log(1 / 2))
    # independent events: P(x,y) = P(x) P(y)
    assert npmi(1, 10, 10, 100) == pytest.approx(0.0, abs=1e-12)
    assert npmi(1, 50, 50, 100) < 0 < npmi(9, 10, 10, 100)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((0, 3, 1, 4), -1.0),  # both occur, never together
        ((0, 0, 1, 4), 0.0),  # x never occurs: undefined, no evidence either way
        ((0, 2, 0, 4), 0.0),  # y never occurs
        ((0, 0, 0, 0), 0.0),  # no examples at all
        ((4, 4, 4, 4), 1.0),  # P(x, y) = 1
        ((2, 2, 2, 4), 1.0),  # x and y only ever together
        ((2, 4, 2, 4), 0.0),  # x always occurs: y tells nothing about it
        ((2.0, 3.0, 2.0, 4), pytest.approx(0.415037, abs=1e-6)),  # float counts (torch sums)
    ],
)
def test_npmi_conventions(counts: tuple[float, float, float, float], expected: float) -> None:
    assert npmi(*counts) == expected


def test_npmi_stays_in_range() -> None:
    values = [
        npmi(n_xy, n_x, n_y, 12)
        for n_x in range(13)
        for n_y in range(13)
        for n_xy in range(min(n_x, n_y) + 1)
        if n_x + n_y - n_xy <= 12
    ]
    assert min(values) == -1.0 and max(values) == 1.0
    assert all(-1.0 <= v <= 1.0 for v in values)


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ((-1, 2, 2, 4), "n_xy must be >= 0, got -1"),
        ((1, 2, 2, -4), "n must be >= 0, got -4"),
        ((3, 2, 5, 10), "n_xy=3 exceeds n_x=2"),
        ((3, 5, 2, 10), "n_xy=3 exceeds n_y=2"),
        ((1, 11, 2, 10), "n_x=11 exceeds n=10"),
        ((1, 2, 11, 10), "n_y=11 exceeds n=10"),
        ((1, 8, 8, 10), "n_x \\+ n_y - n_xy = 15 exceeds n=10"),
        ((float("nan"), 2, 2, 4), "n_xy must be a finite number, got nan"),
        (("1", 2, 2, 4), "n_xy must be a finite number, got '1'"),
    ],
)
def test_npmi_refuses_impossible_counts(counts: tuple[float, float, float, float], message: str) -> None:
    with pytest.raises(CountError, match=message) as info:
        npmi(*counts)
    assert isinstance(info.value, ValueError) and isinstance(info.value, HakeError)
    assert str(info.value).startswith("npmi(n_xy=")
    assert info.value.statistic == "npmi" and list(info.value.counts) == ["n_xy", "n_x", "n_y", "n"]


def test_cond_prob() -> None:
    assert cond_prob(3, 4) == 0.75
    assert cond_prob(4, 4) == 1.0
    assert cond_prob(0, 4) == 0.0
    assert cond_prob(0, 0) == 0.0  # x never occurs: no evidence
    with pytest.raises(CountError, match=r"cond_prob\(n_xy=5, n_x=4\): n_xy=5 exceeds n_x=4"):
        cond_prob(5, 4)
    with pytest.raises(CountError, match="n_x must be >= 0, got -1"):
        cond_prob(0, -1)


def test_statistics_import_nothing_heavy() -> None:
    import subprocess
    import sys

    code = "import sys, ontology.statistics; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
