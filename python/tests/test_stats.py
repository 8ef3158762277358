# Stats, ChannelStats and Histogram against numpy (float64 moments, an
# independent binning and percentile).
#
# SPDX-License-Identifier: Apache-2.0
import math

import numpy as np
import pytest

import tinyq as tq
import oracles


def check_stats(s, x, rel=1e-12):
    v = x.astype(np.float64).ravel()
    assert s.count == v.size
    assert s.min == v.min() and s.max == v.max()
    assert s.mean == pytest.approx(math.fsum(v) / v.size, rel=rel, abs=1e-15)
    assert s.variance() == pytest.approx(v.var(), rel=1e-10)
    assert s.std() == pytest.approx(v.std(), rel=1e-10)
    if v.size > 1:
        assert s.variance("sample") == pytest.approx(v.var(ddof=1),
                                                     rel=1e-10)
        assert s.std(tq.Sigma.SAMPLE) == pytest.approx(v.std(ddof=1),
                                                       rel=1e-10)
    lo, hi = s.ksigma_range(2.5)
    assert lo == pytest.approx(v.mean() - 2.5 * v.std(), rel=1e-10, abs=1e-12)
    assert hi == pytest.approx(v.mean() + 2.5 * v.std(), rel=1e-10, abs=1e-12)


def test_stats_f32_against_numpy(rng):
    for _ in range(10):
        shape = tuple(int(v) for v in rng.integers(1, 9, rng.integers(1, 5)))
        x = (rng.standard_normal(shape) * rng.uniform(0.01, 100)
             + rng.uniform(-5, 5)).astype(np.float32)
        check_stats(tq.Stats(x), x)
    big = (rng.standard_normal(300001) + 1e4).astype(np.float32)
    check_stats(tq.Stats(big), big)


def test_stats_s8_update_and_merge(rng):
    a = rng.integers(-128, 128, 999).astype(np.int8)
    b = rng.standard_normal(77).astype(np.float32)
    s = tq.Stats(a)
    check_stats(s, a)
    merged = s.copy().merge(tq.Stats(b))
    check_stats(merged, np.concatenate([a.astype(np.float64), b]))
    check_stats(s, a)  # the copy was merged, not s
    assert tq.Stats().merge(tq.Stats(b)).count == 77
    assert tq.Stats(b).merge(tq.Stats()).mean == tq.Stats(b).mean
    # update() accumulates across calls
    s2 = tq.Stats(b[:30]).update(b[30:])
    check_stats(s2, b)


def test_stats_errors():
    s = tq.Stats()
    with pytest.raises(tq.EmptyError):
        s.variance()
    with pytest.raises(tq.EmptyError):
        s.ksigma_range()
    s.update(np.array([1.5], np.float32))
    with pytest.raises(tq.EmptyError):
        s.variance("sample")
    with pytest.raises(tq.ParamError):
        s.ksigma_range(-1)
    with pytest.raises(tq.ParamError):
        s.std(7)
    with pytest.raises(tq.ParamError):
        s.std("bogus")
    before = (s.count, s.min, s.max, s.mean)
    with pytest.raises(tq.NotFiniteError):
        s.update(np.array([1, np.nan], np.float32))
    with pytest.raises(tq.NotFiniteError):
        s.update(np.array([np.inf], np.float32))
    assert (s.count, s.min, s.max, s.mean) == before
    with pytest.raises(tq.DtypeError):
        s.update(np.zeros(3, np.float64))
    with pytest.raises(tq.DtypeError):
        s.update([1.0, 2.0])
    with pytest.raises(tq.NullError):
        s.update(None)
    with pytest.raises(tq.DtypeError):
        s.merge("x")
    assert "count=1" in repr(s)


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_channel_stats_every_axis(rng, ndim):
    shape = tuple(int(v) for v in rng.integers(1, 6, ndim))
    x = rng.standard_normal(shape).astype(np.float32)
    for axis in range(-ndim, ndim):
        cs = tq.ChannelStats(shape[axis]).update(x, axis)
        moved = np.moveaxis(x, axis, 0).reshape(shape[axis], -1)
        assert len(cs) == shape[axis]
        for c in range(shape[axis]):
            check_stats(cs[c], moved[c])
        np.testing.assert_array_equal(cs.min, moved.min(axis=1))
        np.testing.assert_array_equal(cs.max, moved.max(axis=1))
        np.testing.assert_allclose(cs.mean, moved.astype(np.float64)
                                   .mean(axis=1), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(cs.std(), moved.astype(np.float64)
                                   .std(axis=1), rtol=1e-10, atol=1e-15)
        assert list(cs.count) == [moved.shape[1]] * shape[axis]
        assert cs[-1].count == cs[len(cs) - 1].count
    with pytest.raises(IndexError):
        cs[len(cs)]


def test_channel_stats_errors():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(tq.ShapeError):
        tq.ChannelStats(5).update(x, 0)
    with pytest.raises(tq.ShapeError):
        tq.ChannelStats(3).update(x, 2)
    with pytest.raises(tq.ShapeError):
        tq.ChannelStats(0)
    with pytest.raises(tq.ShapeError):
        tq.ChannelStats(1).update(np.zeros((1,) * 5, np.float32), 0)
    with pytest.raises(tq.ArrayLayoutError):
        tq.ChannelStats(4).update(x.T, 0)
    cs = tq.ChannelStats(3)
    with pytest.raises(tq.NotFiniteError):
        cs.update(np.full((3, 4), np.nan, np.float32), 0)
    assert list(cs.count) == [0, 0, 0]


def test_histogram_against_numpy(rng):
    for _ in range(20):
        nbins = int(rng.integers(1, 300))
        lo = float(rng.uniform(-3, 0))
        hi = lo + float(rng.uniform(0.1, 6))
        x = rng.uniform(lo - 1, hi + 1, int(rng.integers(1, 5000)))
        # values exactly on edges, on lo and on hi
        w = (hi - lo) / nbins
        edges = (lo + rng.integers(0, nbins, 50) * w)
        x = np.concatenate([x, edges, [lo, hi]]).astype(np.float32)
        h = tq.Histogram(lo, hi, nbins).add(x[:100]).add(x[100:])
        bins, below, above = oracles.histogram(x, lo, hi, nbins)
        np.testing.assert_array_equal(h.bins, bins)
        assert (h.below, h.above, h.total) == (below, above, x.size)
        assert (h.lo, h.hi, h.nbins) == (lo, hi, nbins)
        e = h.edges
        assert e[0] == lo and e[-1] == hi and len(e) == nbins + 1
        for p in (0.0, 0.01, 1.0, 37.5, 50.0, 99.0, 99.99, 100.0):
            assert h.percentile(p) == pytest.approx(
                oracles.percentile(bins, below, above, lo, hi, p),
                rel=1e-12, abs=1e-12)


def test_histogram_errors():
    with pytest.raises(tq.ParamError):
        tq.Histogram(1.0, 1.0, 10)
    with pytest.raises(tq.ParamError):
        tq.Histogram(0.0, 1.0, 0)
    with pytest.raises(tq.ParamError):
        tq.Histogram(0.0, 1.0, 2**32)
    with pytest.raises(tq.ParamError):
        tq.Histogram(0.0, float("inf"), 3)
    with pytest.raises(tq.ParamError):
        tq.Histogram(0.0, 1.0, 2.5)
    h = tq.Histogram(0.0, 1.0, 4)
    with pytest.raises(tq.EmptyError):
        h.percentile(50)
    h.add(np.array([0.5], np.float32))
    with pytest.raises(tq.ParamError):
        h.percentile(101)
    with pytest.raises(tq.ParamError):
        h.percentile(float("nan"))
    with pytest.raises(tq.NotFiniteError):
        h.add(np.array([0.1, np.inf], np.float32))
    assert h.total == 1
    with pytest.raises(ValueError):
        h.bins[0] = 5  # read-only view
    with pytest.raises(tq.DtypeError):
        h.add(np.array([0.5]))
