"""The pure array functions the stages are built from."""

from __future__ import annotations

import numpy as np
import pytest

from instyle.ops.blend import composite, feather_alpha
from instyle.ops.masks import assign_ownership, box_window, grow, index_pass, nearest_instance
from instyle.ops.tracking import match_nearest_centres


def disc(h, w, cy, cx, r):
    yy, xx = np.mgrid[:h, :w]
    return (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).astype(np.float32)


def test_overlapping_instances_become_disjoint_and_cover_the_union():
    a, b = disc(60, 80, 30, 30, 15), disc(60, 80, 30, 45, 15)
    boxes = np.array([[15, 15, 45, 45], [30, 15, 60, 45]], np.float32)
    owned = assign_ownership(np.stack([a, b]), boxes)
    assert not ((owned[0] > 0) & (owned[1] > 0)).any()
    assert np.array_equal(np.maximum(owned[0], owned[1]) > 0, np.maximum(a, b) > 0)
    assert owned[0][30, 20] == 1 and owned[1][30, 55] == 1


def test_box_window_grow_and_index_pass():
    win = box_window((20, 20), (5, 5, 10, 10), margin=0.0)
    assert win.sum() == 25 and win[5, 5] == 1 and win[10, 10] == 0
    assert grow(win, 1).sum() > 25 and grow(win, -1).sum() < 25
    index = index_pass(np.stack([win, np.zeros_like(win)]))
    assert set(np.unique(index)) == {0.0, 1.0}
    assert index_pass(np.zeros((0, 4, 4), np.float32)).shape == (4, 4)


def test_nearest_instance_splits_the_frame_between_masks():
    masks = np.stack([disc(40, 100, 20, 10, 5), disc(40, 100, 20, 90, 5)])
    owner = nearest_instance(masks)
    assert owner[20, 0] == 0 and owner[20, 99] == 1 and owner[0, 40] == 0 and owner[0, 60] == 1


@pytest.mark.parametrize("band", [2.0, 6.0, 15.0])
def test_feather_alpha_is_exactly_zero_outside_the_band_and_one_inside(band):
    mask = disc(100, 100, 50, 50, 25)
    alpha = feather_alpha(mask, band)
    yy, xx = np.mgrid[:100, :100]
    r = np.hypot(yy - 50, xx - 50)
    assert (alpha[r > 25 + band / 2 + 1.5] == 0).all()
    assert (alpha[r < 25 - band / 2 - 1.5] == 1).all()
    ramp = (alpha > 0) & (alpha < 1)
    assert ramp.any() and (np.abs(r[ramp] - 25) <= band / 2 + 1.5).all()


def test_composite_keeps_original_bits_where_alpha_is_zero():
    rng = np.random.default_rng(0)
    original, stylized = rng.random((2, 30, 30, 3), dtype=np.float32)
    alpha = np.zeros((30, 30), np.float32)
    alpha[10:20, 10:20] = 0.5
    alpha[12:18, 12:18] = 1.0
    out = composite(original, stylized, alpha)
    assert np.array_equal(out[alpha == 0], original[alpha == 0])
    assert np.allclose(out[alpha == 1], stylized[alpha == 1])
    assert np.allclose(out[alpha == 0.5], 0.5 * (original + stylized)[alpha == 0.5])


def test_centre_tracking_follows_small_moves_and_starts_new_ids():
    ids, nxt = match_nearest_centres({}, np.array([[10.0, 10.0], [50.0, 10.0]]), 20, 1)
    assert ids == [1, 2] and nxt == 3
    previous = {1: (10.0, 10.0), 2: (50.0, 10.0)}
    ids, nxt = match_nearest_centres(previous, np.array([[52.0, 11.0], [12.0, 9.0], [200.0, 0.0]]), 20, nxt)
    assert ids == [2, 1, 3] and nxt == 4
