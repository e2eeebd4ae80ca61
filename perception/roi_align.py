"""ROI-Align in pure torch, with torchvision's ``roi_align`` semantics (no torchvision).

Each output cell averages ``grid_h * grid_w`` bilinear samples taken at regular points
inside its bin. Bilinear interpolation is separable: the weight of feature pixel
``(y, x)`` for sample ``(sy, sx)`` is ``wy(sy, y) * wx(sx, x)``, and torchvision's
out-of-range rule (a sample with ``y < -1``, ``y > H``, ``x < -1`` or ``x > W``
contributes 0) is a product of a row and a column test. So each ROI's output is
``Ay @ F @ Ax^T`` with dense interpolation matrices ``Ay`` (``PH x H``) and ``Ax``
(``PW x W``): one gather to build them and two matmuls per ROI batch. Gradients flow to
the features (and to the box coordinates, which torchvision does not provide).

Semantics followed from torchvision (``ops/roi_align.py`` and its C++ kernel):

- ``aligned=False``: ROI corners are scaled by ``spatial_scale`` as given, and ROI width and
  height are clamped to at least 1 feature pixel (the legacy Detectron behaviour).
- ``aligned=True``: corners are shifted by -0.5 after scaling (pixel centres), and no clamp.
- ``sampling_ratio > 0``: that many samples per bin along each axis; ``<= 0``:
  ``ceil(roi_size / output_size)`` per ROI and axis (adaptive).
- A sample outside ``[-1, H] x [-1, W]`` contributes 0; otherwise coordinates are clamped to
  ``>= 0`` and samples beyond the last row/column use that row/column.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["roi_align"]


def _as_rois(boxes: Tensor | Sequence[Tensor], like: Tensor) -> Tensor:
    if isinstance(boxes, Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ValueError(
                "boxes: expected a (K, 5) tensor [batch_index, x1, y1, x2, y2] or a list of "
                f"(K_i, 4) tensors, one per image; got a tensor of shape {tuple(boxes.shape)}"
            )
        return boxes
    parts = []
    for i, b in enumerate(boxes):
        if b.dim() != 2 or b.shape[1] != 4:
            raise ValueError(
                f"boxes[{i}]: expected a (K_i, 4) tensor [x1, y1, x2, y2], got shape {tuple(b.shape)}"
            )
        index = torch.full((b.shape[0], 1), float(i), dtype=b.dtype, device=b.device)
        parts.append(torch.cat([index, b], dim=1))
    if not parts:
        return like.new_zeros((0, 5))
    return torch.cat(parts, dim=0)


def _axis_weights(
    start: Tensor, end: Tensor, pooled: int, size: int, sampling_ratio: int, aligned: bool
) -> Tensor:
    """Interpolation matrix of one axis.

    Shapes:
        start, end: ``(K,)`` ROI extent in feature-map coordinates (offset applied).
        returns: ``(K, pooled, size)``, rows already divided by the sample count.
    """
    length = end - start
    if not aligned:
        length = length.clamp(min=1.0)
    bin_size = length / pooled  # (K,)
    if sampling_ratio > 0:
        grid = torch.full_like(length, float(sampling_ratio))
    else:
        grid = torch.ceil(length.detach() / pooled)
    g_max = max(int(grid.max().item()) if grid.numel() else 1, 1)
    steps = torch.arange(g_max, device=start.device, dtype=start.dtype)
    bins = torch.arange(pooled, device=start.device, dtype=start.dtype)
    # sample coordinates, (K, pooled, G)
    coords = (
        start[:, None, None]
        + bins[None, :, None] * bin_size[:, None, None]
        + (steps[None, None, :] + 0.5) * bin_size[:, None, None] / grid.clamp(min=1)[:, None, None]
    )
    keep = (steps[None, None, :] < grid[:, None, None]) & (coords >= -1.0) & (coords <= size)
    c = coords.clamp(min=0.0)
    low = torch.floor(c.detach()).long()
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    c = torch.where(at_edge, low.to(c.dtype), c)
    frac_high = (c - low.to(c.dtype)) * keep
    frac_low = (1.0 - (c - low.to(c.dtype))) * keep
    k, p, g = coords.shape
    weights = coords.new_zeros((k, p, g, size))
    weights = weights.scatter_add(-1, low[..., None], frac_low[..., None])
    weights = weights.scatter_add(-1, high[..., None], frac_high[..., None])
    return weights.sum(dim=2) / grid.clamp(min=1)[:, None, None]


def roi_align(
    input: Tensor,
    boxes: Tensor | Sequence[Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """Average of bilinear samples over each bin of each ROI (torchvision semantics).

    Args:
        input: feature maps.
        boxes: ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]``, or a list of ``N`` tensors of
            shape ``(K_i, 4)`` (rows ``[x1, y1, x2, y2]`` for image ``i``), in input-image
            coordinates.
        output_size: ``(PH, PW)`` or one int for both.
        spatial_scale: feature-map size over input-image size (``1 / stride``).
        sampling_ratio: samples per bin and axis; ``<= 0`` for adaptive
            (``ceil(roi_size / output_size)``).
        aligned: shift corners by -0.5 pixel (pixel-centre convention); see the module
            docstring.

    Shapes:
        input: ``(N, C, H, W)``; returns ``(K, C, PH, PW)``.

    >>> feats = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> roi_align(feats, torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]]), 2, aligned=True)
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    """
    if input.dim() != 4:
        raise ValueError(f"input: expected (N, C, H, W), got shape {tuple(input.shape)}")
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    rois = _as_rois(boxes, input)
    n, channels, height, width = input.shape
    if rois.shape[0] == 0:
        return input.new_zeros((0, channels, ph, pw))
    # Interpolation weights in at least float32 (half-precision weights lose samples).
    wdtype = torch.promote_types(input.dtype, torch.float32)
    rois = rois.to(device=input.device, dtype=wdtype)
    offset = 0.5 if aligned else 0.0
    scaled = rois[:, 1:] * spatial_scale - offset  # (K, 4)
    wy = _axis_weights(scaled[:, 1], scaled[:, 3], ph, height, sampling_ratio, aligned)
    wx = _axis_weights(scaled[:, 0], scaled[:, 2], pw, width, sampling_ratio, aligned)
    wy, wx = wy.to(input.dtype), wx.to(input.dtype)
    batch = rois[:, 0].detach().long()
    if batch.numel() and (int(batch.min()) < 0 or int(batch.max()) >= n):
        raise ValueError(
            f"boxes: batch indices must be in [0, {n - 1}] for {n} feature maps, got "
            f"{sorted(set(batch.tolist()))}"
        )
    chunks: list[Tensor] = []
    order: list[Tensor] = []
    for b in torch.unique(batch).tolist():
        sel = torch.nonzero(batch == b).squeeze(1)
        rows = torch.einsum("kph,chw->kcpw", wy[sel], input[b])  # (k, C, PH, W)
        chunks.append(torch.einsum("kcpw,kqw->kcpq", rows, wx[sel]))  # (k, C, PH, PW)
        order.append(sel)
    out = torch.cat(chunks, dim=0)
    inverse = torch.empty_like(batch)
    inverse[torch.cat(order)] = torch.arange(batch.numel(), device=batch.device)
    return out[inverse]
