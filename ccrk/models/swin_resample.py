"""Swin relative-position-bias tables resampled to another window (docs/method.md#vision-encoder).

The BEiT geometric-progression method of the original `interpolate_relative_pos_embed`: source
offsets are spread over the target range with distances growing by a ratio q, then a per-head
bicubic interpolating spline maps them onto the integer target offsets. The original calls
`scipy.interpolate.interp2d(x, y, z, kind="cubic")(dx, dy)`, gone since SciPy 1.14. On a rectangular
grid that is FITPACK's `regrid_smth(x, y, z.T, s=0)` evaluated by `bispev(dx, dy)` and transposed back;
`RectBivariateSpline(x, y, z.T, kx=3, ky=3, s=0)(dx, dy).T` makes the same calls in the same axis order.
"""

import math

import numpy as np
import torch
from scipy.interpolate import RectBivariateSpline


def geometric_ratio(src_size: int, dst_size: int) -> float:
    """The q in (1.01, 1.5) by bisection for which 1 + q + ... + q^(n-1), n = src_size // 2, meets dst_size // 2."""
    left, right = 1.01, 1.5
    n = src_size // 2
    while right - left > 1e-6:
        q = (left + right) / 2.0
        if (1.0 - q**n) / (1.0 - q) > dst_size // 2:
            right = q
        else:
            left = q
    return q  # the last midpoint, as the original


def source_offsets(src_size: int, q: float) -> np.ndarray:
    """Stretched offsets of the source rows/columns: -d_n .. -d_1, 0, d_1 .. d_n with d_i = 1 + q + ... + q^(i-1)."""
    dis, cur = [], 1.0
    for i in range(src_size // 2):
        dis.append(cur)
        cur += q ** (i + 1)
    return np.array([-d for d in reversed(dis)] + [0.0] + dis)


def resample_relative_position_table(table: torch.Tensor, dst_rows: int) -> torch.Tensor:
    """A [(2w-1)^2, heads] table resampled to [dst_rows, heads], dst_rows = (2w'-1)^2, w' >= w."""
    src_rows, heads = table.shape
    src_size, dst_size = math.isqrt(src_rows), math.isqrt(dst_rows)
    if src_size**2 != src_rows or dst_size**2 != dst_rows:
        raise ValueError(f"relative position tables must be square grids: {src_rows} -> {dst_rows} rows")
    if dst_size == src_size:
        return table
    if dst_size < src_size:
        raise ValueError(
            f"relative position table {src_size}x{src_size} cannot shrink to {dst_size}x{dst_size}: "
            "the geometric resampling only enlarges the window"
        )
    x = source_offsets(src_size, geometric_ratio(src_size, dst_size))
    t = dst_size // 2
    dx = np.arange(-t, t + 0.1, 1.0)
    z = table.detach().float().cpu().numpy()
    columns = []
    for h in range(heads):
        grid = z[:, h].reshape(src_size, src_size)  # [row offset (y), column offset (x)]
        columns.append(RectBivariateSpline(x, x, grid.T, kx=3, ky=3, s=0)(dx, dx).T.reshape(-1))
    return torch.from_numpy(np.stack(columns, axis=1)).to(dtype=table.dtype, device=table.device)


def fit_relative_position_tables(state_dict: dict, target_shapes: dict) -> list[str]:
    """Resample, in place, every `relative_position_bias_table` whose row count differs from the target model's.

    Returns the keys resampled. Keys absent from `target_shapes` are left for the caller's key report.
    """
    changed = []
    for key, value in state_dict.items():
        if key.endswith("relative_position_bias_table") and key in target_shapes:
            rows = target_shapes[key][0]
            if value.shape[0] != rows:
                state_dict[key] = resample_relative_position_table(value, rows)
                changed.append(key)
    return changed


def fit_absolute_position_embedding(state_dict: dict, target_shapes: dict) -> list[str]:
    """Resample, in place, a Swin `absolute_pos_embed` [1, side^2, C] to the target model's patch grid (bicubic)."""
    from timm.layers import resample_abs_pos_embed

    changed = []
    for key, value in state_dict.items():
        if key.endswith("absolute_pos_embed") and key in target_shapes and value.shape != target_shapes[key]:
            side, new_side = math.isqrt(value.shape[1]), math.isqrt(target_shapes[key][1])
            state_dict[key] = resample_abs_pos_embed(
                value, [new_side, new_side], [side, side], num_prefix_tokens=0
            )
            changed.append(key)
    return changed
