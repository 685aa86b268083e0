"""Relative-position tables resampled by the BEiT geometric progression, checked by hand."""

import numpy as np
import pytest
import torch

from ccrk.models.swin_resample import geometric_ratio, resample_relative_position_table, source_offsets


def test_ratio_stretches_window_7_offsets_over_window_12():
    q = geometric_ratio(13, 23)  # window 7 -> 12: 6 source steps must reach offset 11
    assert 1 + q + q**2 + q**3 + q**4 + q**5 == pytest.approx(11, abs=1e-4)
    x = source_offsets(13, q)
    assert len(x) == 13 and x[6] == 0 and x[7] == 1 and x[-1] == pytest.approx(11, abs=1e-4)
    np.testing.assert_array_equal(x, -x[::-1])


def _table(fn, size):
    """A [size^2, heads] table holding fn(row offset, column offset, head) on the integer grid."""
    offsets = np.arange(size) - size // 2
    yy, xx = np.meshgrid(offsets, offsets, indexing="ij")
    return np.stack([fn(yy, xx, h) for h in range(2)], axis=-1).reshape(size * size, 2)


def test_bicubic_polynomials_are_reproduced_exactly():
    """An interpolating bicubic spline returns any bicubic polynomial unchanged, wherever it is sampled."""
    q = geometric_ratio(13, 23)
    x = source_offsets(13, q)
    poly = lambda y, x_, h: 0.3 + 0.01 * x_**3 - 0.02 * y**2 * x_ + (h + 1) * 0.005 * y**3 * x_**2  # noqa: E731
    yy, xx = np.meshgrid(x, x, indexing="ij")
    src = np.stack([poly(yy, xx, h) for h in range(2)], axis=-1).reshape(169, 2)
    out = resample_relative_position_table(torch.tensor(src, dtype=torch.float64), 529).numpy()
    expected = _table(poly, 23)
    np.testing.assert_allclose(
        out, expected, rtol=0, atol=1e-7 * np.abs(expected).max()
    )  # FITPACK round-off only


def test_rows_and_columns_keep_their_orientation():
    """A table varying only along the row offset (y) still varies only along y: the axes are not swapped."""
    src = torch.tensor(_table(lambda y, x, h: y * (h + 1.0), 13), dtype=torch.float32)
    out = resample_relative_position_table(src, 529).view(23, 23, 2)
    assert torch.allclose(out[:, 0], out[:, 5], atol=1e-5)  # constant along columns
    assert out[0, 0, 0] < out[11, 0, 0] < out[22, 0, 0]
    # offsets 0 and +-1 are source points: kept exactly
    torch.testing.assert_close(out[10:13, 10:13], src.view(13, 13, 2)[5:8, 5:8])


def test_same_window_is_untouched_and_shrinking_is_refused():
    t = torch.randn(169, 4)
    assert resample_relative_position_table(t, 169) is t
    with pytest.raises(ValueError, match="only enlarges"):
        resample_relative_position_table(torch.randn(529, 4), 169)
    with pytest.raises(ValueError, match="square"):
        resample_relative_position_table(torch.randn(170, 4), 529)
