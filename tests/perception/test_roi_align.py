"""ROI-Align against a float64 reference transcribed from torchvision's C++ kernel."""

from __future__ import annotations

import math

import pytest
import torch

from perception.roi_align import roi_align


def _bilinear(h: int, w: int, y: float, x: float) -> list[tuple[int, int, float]]:
    """torchvision ``bilinear_interpolate``: (row, col, weight) of the 4 neighbours."""
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return []
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= h - 1:
        y_high = y_low = h - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= w - 1:
        x_high = x_low = w - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return [
        (y_low, x_low, hy * hx),
        (y_low, x_high, hy * lx),
        (y_high, x_low, ly * hx),
        (y_high, x_high, ly * lx),
    ]


def reference_roi_align(
    feats: torch.Tensor,
    rois: torch.Tensor,
    pooled: tuple[int, int],
    scale: float,
    sampling_ratio: int,
    aligned: bool,
    grad_out: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward output and input gradient (for upstream ``grad_out``), loops in float64."""
    n, c, h, w = feats.shape
    ph_n, pw_n = pooled
    f = feats.double()
    out = torch.zeros(rois.shape[0], c, ph_n, pw_n, dtype=torch.float64)
    grad = torch.zeros_like(f)
    offset = 0.5 if aligned else 0.0
    for k, roi in enumerate(rois.double().tolist()):
        b = int(roi[0])
        x1, y1 = roi[1] * scale - offset, roi[2] * scale - offset
        x2, y2 = roi[3] * scale - offset, roi[4] * scale - offset
        rw, rh = x2 - x1, y2 - y1
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph_n, rw / pw_n
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / ph_n)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / pw_n)
        count = max(gh * gw, 1)
        for ph in range(ph_n):
            for pw in range(pw_n):
                for iy in range(gh):
                    y = y1 + ph * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        x = x1 + pw * bw + (ix + 0.5) * bw / gw
                        for r, col, wt in _bilinear(h, w, y, x):
                            out[k, :, ph, pw] += wt * f[b, :, r, col] / count
                            grad[b, :, r, col] += wt * grad_out[k, :, ph, pw].double() / count
    return out, grad


ROIS = torch.tensor(
    [
        [0, 1.0, 1.5, 9.0, 12.0],  # inside
        [1, -3.0, -2.0, 6.5, 5.0],  # partly outside, top-left
        [0, 10.0, 8.0, 19.0, 17.5],  # partly outside, bottom-right
        [1, 4.2, 3.1, 4.6, 3.3],  # smaller than a pixel
        [0, 30.0, 30.0, 40.0, 40.0],  # entirely outside
        [1, 0.0, 0.0, 15.9, 13.9],  # the whole map
    ]
)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 0, 1, 2])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_matches_reference_values_and_gradients(aligned: bool, sampling_ratio: int, scale: float) -> None:
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 3, 7, 8, generator=g, dtype=torch.float64)
    rois = ROIS.clone()
    rois[:, 1:] *= 1.0 if scale == 0.5 else 0.5  # keep boxes in range of the map
    grad_out = torch.randn(len(rois), 3, 3, 4, generator=g, dtype=torch.float64)
    expected, expected_grad = reference_roi_align(
        feats, rois, (3, 4), scale, sampling_ratio, aligned, grad_out
    )
    x = feats.clone().requires_grad_(True)
    got = roi_align(x, rois.double(), (3, 4), scale, sampling_ratio, aligned)
    (got * grad_out).sum().backward()
    assert got.shape == (len(rois), 3, 3, 4)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert x.grad is not None
    torch.testing.assert_close(x.grad, expected_grad, rtol=0, atol=1e-12)


def test_float32_within_5e_7_of_float64_reference() -> None:
    g = torch.Generator().manual_seed(1)
    feats = torch.rand(2, 4, 16, 16, generator=g)
    rois = ROIS.clone()
    grad_out = torch.zeros(len(rois), 4, 7, 7, dtype=torch.float64)
    expected, _ = reference_roi_align(feats, rois, (7, 7), 1.0, 2, True, grad_out)
    got = roi_align(feats, rois, 7, 1.0, 2, True)
    assert got.dtype == torch.float32
    assert (got.double() - expected).abs().max().item() < 5e-7


def test_list_of_boxes_equals_indexed_rows() -> None:
    feats = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(2))
    per_image = [ROIS[ROIS[:, 0] == i, 1:] for i in range(2)]
    rows = torch.cat([ROIS[ROIS[:, 0] == 0], ROIS[ROIS[:, 0] == 1]])
    torch.testing.assert_close(
        roi_align(feats, per_image, 2, 0.5, 2, True), roi_align(feats, rows, 2, 0.5, 2, True)
    )


def test_output_order_follows_rois_across_images() -> None:
    feats = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    single = [roi_align(feats, r[None], 2, 1.0, 2, False) for r in ROIS]
    torch.testing.assert_close(roi_align(feats, ROIS, 2, 1.0, 2, False), torch.cat(single))


def test_empty_boxes_and_bad_inputs() -> None:
    feats = torch.zeros(1, 5, 4, 4)
    assert roi_align(feats, torch.zeros(0, 5), (2, 3)).shape == (0, 5, 2, 3)
    with pytest.raises(ValueError, match=r"\(K, 5\)"):
        roi_align(feats, torch.zeros(3, 4), 2)
    with pytest.raises(ValueError, match="batch indices"):
        roi_align(feats, torch.tensor([[1.0, 0, 0, 2, 2]]), 2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        roi_align(torch.zeros(4, 4), torch.zeros(0, 5), 2)
