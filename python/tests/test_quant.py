# Schemes, range methods, qparams, quantize / dequantize / fake-quant and
# the error metrics against numpy references.
#
# SPDX-License-Identifier: Apache-2.0
import math

import numpy as np
import pytest

import tinyq as tq
import oracles

R = tq.RangeMethod


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("narrow", [False, True])
def test_qrange(bits, narrow):
    for symmetric in (False, True):
        assert tq.QScheme(bits, symmetric, narrow).qrange() == \
            oracles.qrange(bits, narrow)


@pytest.mark.parametrize("scheme", [tq.QScheme(9), tq.QScheme(1),
                                    tq.QScheme(8, 2), tq.QScheme(8, 0, 0, 3)])
def test_qrange_errors(scheme):
    with pytest.raises(tq.ParamError):
        scheme.qrange()


def data(rng, n=5000):
    return (rng.standard_normal(n) * 1.7 + 0.4).astype(np.float32)


def test_choose_range_stat_methods(rng):
    x = data(rng)
    v = x.astype(np.float64)
    s = tq.Stats(x)
    asym, sym = tq.QScheme(), tq.QScheme(symmetric=True)
    assert tq.choose_range(s, "minmax", asym) == (v.min(), v.max())
    a = max(abs(v.min()), abs(v.max()))
    assert tq.choose_range(s, R.ABSMAX, asym) == (-a, a)
    lo, hi = tq.choose_range(s, R.KSIGMA, asym, k=1.5)
    assert lo == pytest.approx(max(v.mean() - 1.5 * v.std(), v.min()),
                               rel=1e-10)
    assert hi == pytest.approx(min(v.mean() + 1.5 * v.std(), v.max()),
                               rel=1e-10)
    lo, hi = tq.choose_range(s, tq.RangeConfig(R.KSIGMA, k=10), asym)
    assert (lo, hi) == (v.min(), v.max())  # intersected with [min, max]
    # symmetric schemes get [-a, a] with the larger magnitude
    for method in (R.MINMAX, R.KSIGMA):
        lo_a, hi_a = tq.choose_range(s, method, asym)
        assert tq.choose_range(s, method, sym) == (
            -max(-lo_a, hi_a), max(-lo_a, hi_a))


def test_choose_range_percentile(rng):
    x = data(rng)
    s = tq.Stats(x)
    h = tq.Histogram(s.min, s.max, 512).add(x)
    bins, below, above = oracles.histogram(x, s.min, s.max, 512)
    for p in (99.0, 99.9, 100.0):
        lo, hi = tq.choose_range(s, "percentile", tq.QScheme(), h,
                                 percentile=p)
        assert lo == pytest.approx(oracles.percentile(
            bins, below, above, s.min, s.max, 100 - p), rel=1e-12)
        assert hi == pytest.approx(oracles.percentile(
            bins, below, above, s.min, s.max, p), rel=1e-12)


def hist_mse(x, lo, hi, scheme):
    """Quantization MSE of x under the range [lo, hi] (numpy)."""
    qmin, qmax = scheme.qrange()
    scale, zp = oracles.qparams_from_range(lo, hi, qmin, qmax,
                                           scheme.symmetric)
    q = oracles.quantize(x, scale, zp, qmin, qmax)
    return float(np.mean((x.astype(np.float64)
                          - oracles.dequantize(q, scale, zp)) ** 2))


@pytest.mark.parametrize("symmetric", [False, True])
def test_choose_range_mse_and_kl(rng, symmetric):
    # A heavy-tailed sample: clipping the tails pays off.
    x = (rng.standard_t(3, 20000)).astype(np.float32)
    s = tq.Stats(x)
    h = tq.Histogram(s.min, s.max, 2048).add(x)
    scheme = tq.QScheme(8, symmetric)
    full = tq.choose_range(s, R.MINMAX, scheme)
    lo, hi = tq.choose_range(s, R.MSE, scheme, h)
    assert full[0] <= lo <= hi <= full[1]
    if symmetric:
        assert lo == -hi
    # the chosen clipping quantizes the data better than no clipping
    assert hist_mse(x, lo, hi, scheme) < hist_mse(x, *full, scheme)
    klo, khi = tq.choose_range(s, R.KL, scheme, h)
    assert full[0] <= klo <= khi <= full[1] and khi > 0
    if symmetric:
        assert klo == -khi
    # deterministic
    assert tq.choose_range(s, R.KL, scheme, h) == (klo, khi)


def test_choose_range_errors(rng):
    x = data(rng, 100)
    s = tq.Stats(x)
    with pytest.raises(tq.NullError):
        tq.choose_range(s, R.MSE, tq.QScheme())  # needs a histogram
    with pytest.raises(tq.EmptyError):
        tq.choose_range(tq.Stats(), R.MINMAX)
    with pytest.raises(tq.ParamError):
        tq.choose_range(s, 17)
    with pytest.raises(tq.ParamError):
        tq.choose_range(s, "nonsense")
    with pytest.raises(tq.ParamError):
        tq.choose_range(s, R.KSIGMA, k=-1)
    with pytest.raises(tq.ParamError):
        tq.choose_range(s, R.PERCENTILE, hist=tq.Histogram(0, 1, 4).add(x),
                        percentile=40)
    with pytest.raises(tq.EmptyError):
        tq.choose_range(s, R.KL, hist=tq.Histogram(0, 1, 4))
    with pytest.raises(tq.ParamError):
        tq.choose_range(s, R.MINMAX, tq.QScheme(bits=12))
    with pytest.raises(tq.DtypeError):
        tq.choose_range(x, R.MINMAX)
    with pytest.raises(tq.DtypeError):
        tq.choose_range(s, R.MSE, hist=x)
    with pytest.raises(tq.ParamError):
        tq.choose_range(s, R.MINMAX, scheme="int8")


def test_qparams_from_range(rng):
    for _ in range(300):
        bits = int(rng.integers(2, 9))
        symmetric, narrow, pow2 = (bool(b) for b in rng.integers(0, 2, 3))
        lo, hi = sorted(rng.uniform(-5, 5, 2) * 10.0 ** rng.integers(-3, 3))
        scheme = tq.QScheme(bits, symmetric, narrow, pow2)
        qmin, qmax = oracles.qrange(bits, narrow)
        assert tq.qparams_from_range(scheme, lo, hi) == \
            oracles.qparams_from_range(lo, hi, qmin, qmax, symmetric, pow2)
    assert tq.qparams_from_range(tq.QScheme(), 0.0, 0.0) == (1.0, -128)
    with pytest.raises(tq.ParamError):
        tq.qparams_from_range(tq.QScheme(), 1.0, -1.0)
    with pytest.raises(tq.ParamError):
        tq.qparams_from_range(tq.QScheme(), 0.0, float("nan"))
    with pytest.raises(tq.ParamError):
        tq.qparams_from_range(tq.QScheme(), -1e300, 1e300)


def random_qparams(rng, x, axis, rounding, symmetric=False):
    qmin, qmax = (-127, 127) if symmetric else (-128, 127)
    count = 1 if axis is None else x.shape[axis]
    scale = rng.uniform(0.005, 0.05, count).astype(np.float32)
    zp = np.zeros(count, np.int64) if symmetric else \
        rng.integers(-20, 20, count)
    return tq.QParams(scale, zp, axis=0 if axis is None else axis,
                      qmin=qmin, qmax=qmax, rounding=rounding)


def expected_codes(x, p):
    """Codes of x under p, broadcasting the per-channel parameters."""
    shape = [1] * x.ndim
    if p.count > 1:
        shape[p.axis % x.ndim] = p.count
    scale = p.scale.reshape(shape)
    zp = p.zero_point.astype(np.int64).reshape(shape)
    return oracles.quantize(x, scale, zp, p.qmin, p.qmax,
                            int(p.rounding)), scale, zp


@pytest.mark.parametrize("rounding", ["half_away", tq.FloatRounding.HALF_EVEN])
@pytest.mark.parametrize("axis", [None, 0, 1, 3, -1])
def test_quantize_dequantize_fake_quant(rng, rounding, axis):
    x = (rng.standard_normal((3, 4, 5, 6)) * 2).astype(np.float32)
    # exact ties of the division, and values far outside the range
    x.flat[:10] = (np.arange(10) - 5 + 0.5) * 0.01
    x.flat[10:14] = [1e6, -1e6, np.inf, -np.inf]
    p = random_qparams(rng, x, axis, rounding)
    if axis is None:
        p = tq.QParams(0.01, 3, rounding=rounding)
    want, scale, zp = expected_codes(x, p)
    q = tq.quantize(x, p)
    assert q.dtype == np.int8 and q.shape == x.shape
    np.testing.assert_array_equal(q, want)
    back = tq.dequantize(q, p)
    np.testing.assert_array_equal(back, oracles.dequantize(want, scale, zp))
    fq = tq.fake_quant(x, p)
    np.testing.assert_array_equal(fq, oracles.dequantize(want, scale, zp))
    # in place, and into a given output
    y = x.copy()
    assert tq.fake_quant(y, p, out=y) is y
    np.testing.assert_array_equal(y, fq)
    out = np.empty_like(q)
    assert tq.quantize(x, p, out=out) is out


def test_quantize_errors(rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    with pytest.raises(tq.ShapeError):
        tq.quantize(x, tq.QParams([0.1] * 3, axis=0))  # 3 scales, 4 channels
    with pytest.raises(tq.ShapeError):
        tq.quantize(x, tq.QParams([0.1] * 4, axis=2))
    with pytest.raises(tq.ParamError):
        tq.quantize(x, tq.QParams(0.0))
    with pytest.raises(tq.ParamError):
        tq.quantize(x, tq.QParams(0.1, 200))
    with pytest.raises(tq.ParamError):
        tq.quantize(x, tq.QParams(0.1, qmin=5, qmax=5))
    with pytest.raises(tq.ParamError):
        tq.quantize(x, tq.QParams(0.1, rounding=5))
    with pytest.raises(tq.ShapeError):
        tq.QParams([0.1, 0.2], [1, 2, 3])
    with pytest.raises(tq.ParamError):
        tq.QParams(0.1, 0.5)
    with pytest.raises(tq.ParamError):
        tq.QParams(0.1, 2**40)
    with pytest.raises(tq.ParamError):
        tq.QParams("x")
    with pytest.raises(tq.ParamError):
        tq.quantize(x, "not qparams")
    out = np.full(x.shape, 7, np.int8)
    bad = x.copy()
    bad[2, 3] = np.nan
    with pytest.raises(tq.NotFiniteError):
        tq.quantize(bad, tq.QParams(0.1), out=out)
    assert (out == 7).all()  # nothing written
    with pytest.raises(tq.ShapeError):
        tq.quantize(x, tq.QParams(0.1), out=np.empty((5, 4), np.int8))
    with pytest.raises(tq.DtypeError):
        tq.dequantize(x, tq.QParams(0.1))
    buf = np.zeros(x.size + 1, np.float32)
    a, b = buf[:-1].reshape(x.shape), buf[1:].reshape(x.shape)
    with pytest.raises(tq.AliasError):
        tq.fake_quant(a, tq.QParams(0.1), out=b)
    p = tq.QParams(0.1)
    with pytest.raises(AttributeError):
        p.scale = np.ones(3, np.float32)  # the parameters are immutable
    with pytest.raises(ValueError):
        p.scale[0] = 2.0


def test_measure_quant_error_and_compare(rng):
    x = (rng.standard_normal((6, 50)) * 3).astype(np.float32)
    p = tq.QParams(0.02, -5)
    want, _, _ = expected_codes(x, p)
    fq = oracles.dequantize(want, np.float32(0.02), -5).astype(np.float64)
    d = x.astype(np.float64) - fq
    e = tq.measure_quant_error(x, p)
    assert e.mse == pytest.approx(np.mean(d**2), rel=1e-9)
    assert e.max_abs == pytest.approx(np.abs(d).max(), rel=1e-12)
    assert e.sqnr_db == pytest.approx(
        10 * math.log10(np.sum(x.astype(np.float64)**2) / np.sum(d**2)),
        rel=1e-9)
    clipped = np.count_nonzero((want == -128) | (want == 127))
    assert e.frac_clipped == pytest.approx(clipped / x.size)
    c = tq.compare(x, fq.astype(np.float32))
    assert c.mse == pytest.approx(e.mse, rel=1e-6)
    assert c.frac_clipped == 0.0
    assert tq.compare(x, x).sqnr_db == math.inf
    with pytest.raises(tq.EmptyError):
        tq.compare(np.zeros(0, np.float32), np.zeros(0, np.float32))
    with pytest.raises(tq.ShapeError):
        tq.compare(x, x.T.copy())
    with pytest.raises(tq.EmptyError):
        tq.measure_quant_error(np.zeros((0, 3), np.float32), p)
    with pytest.raises(tq.NotFiniteError):
        tq.measure_quant_error(np.array([np.inf], np.float32), p)


@pytest.mark.parametrize("method", list(R))
def test_calibrate_matches_the_steps(rng, method):
    w = rng.standard_normal((8, 3, 3, 4)).astype(np.float32)
    scheme = tq.QScheme(8, True, True)
    for axis in (None, 0, 3):
        p = tq.calibrate(w, scheme, method, axis=axis, bins=256)
        groups = [w] if axis is None else [
            np.ascontiguousarray(np.moveaxis(w, axis, 0)[c])
            for c in range(w.shape[axis])]
        assert p.count == len(groups) and (p.qmin, p.qmax) == (-127, 127)
        for c, g in enumerate(groups):
            s = tq.Stats(g)
            h = tq.Histogram(s.min, s.max, 256).add(g)
            lo, hi = tq.choose_range(s, method, scheme, h)
            scale, zp = tq.qparams_from_range(scheme, lo, hi)
            assert (p.scale[c], p.zero_point[c]) == (np.float32(scale), zp)


# ---- quantize_bias ------------------------------------------------------

def bias_oracle(b, s_in, s_w):
    """round_half_away(b / (s_in * s_w)) on exact rationals, clamped to
    +-INT32_MAX; the float32 values are what C sees."""
    from fractions import Fraction
    q = Fraction(float(np.float32(b))) / (Fraction(float(np.float32(s_in))) *
                                         Fraction(float(np.float32(s_w))))
    n = math.floor(abs(q) + Fraction(1, 2))
    n = min(n, 2**31 - 1)
    return -n if q < 0 else n


def test_quantize_bias_ties_and_saturation():
    b = np.array([0.3125, -0.3125, 0.0625, -0.0625, 1e30, -1e30, 2.0**31,
                  0.0], np.float32)
    got = tq.quantize_bias(b, 0.5, 0.25)
    assert got.dtype == np.int32
    assert got.tolist() == [3, -3, 1, -1, 2**31 - 1, -(2**31 - 1),
                            2**31 - 1, 0]
    # A quotient whose double division lands on n + 1/2 though the exact
    # value is below it.
    b = np.array([float.fromhex("0x1.96296ep+16")], np.float32)
    a, w = float.fromhex("0x1.2f8d5ap-6"), float.fromhex("0x1.7cfdeep-9")
    assert tq.quantize_bias(b, a, w)[0] == 1930722537 == bias_oracle(b[0], a,
                                                                     w)


def test_quantize_bias_per_channel_vs_tensor(rng):
    n = 300
    b = (rng.standard_normal(n) * 0.3).astype(np.float32)
    s_in = 0.0234
    ws = rng.uniform(1e-4, 2e-2, n).astype(np.float32)
    got = tq.quantize_bias(b, s_in, ws)
    assert got.tolist() == [bias_oracle(b[i], s_in, ws[i]) for i in range(n)]
    per_tensor = tq.quantize_bias(b, s_in, [ws[0]])
    assert (per_tensor == tq.quantize_bias(b, s_in, float(ws[0]))).all()
    assert per_tensor.tolist() == [bias_oracle(x, s_in, ws[0]) for x in b]
    out = np.full(n, 7, np.int32)
    assert tq.quantize_bias(b, s_in, ws, out=out) is out
    assert (out == got).all()


def test_quantize_bias_errors():
    b = np.ones(4, np.float32)
    out = np.full(4, 99, np.int32)
    with pytest.raises(tq.ShapeError):
        tq.quantize_bias(b, 1.0, [1.0, 2.0], out=out)
    with pytest.raises(tq.ParamError):
        tq.quantize_bias(b, 0.0, 1.0, out=out)
    with pytest.raises(tq.ParamError):
        tq.quantize_bias(b, 1.0, [1.0, 1.0, -1.0, 1.0], out=out)
    with pytest.raises(tq.NotFiniteError):
        tq.quantize_bias(np.array([1, np.nan, 2, 3], np.float32), 1.0, 1.0,
                         out=out)
    with pytest.raises(tq.DtypeError):
        tq.quantize_bias(b.astype(np.float64), 1.0, 1.0, out=out)
    assert (out == 99).all()
    assert tq.quantize_bias(np.zeros(0, np.float32), 1.0, 1.0).size == 0


def tflite_bias(b, s_in, s_w):
    """TFLite's converter rule (quantization_utils.cc,
    SymmetricPerChannelBiasQuantize) emulated: scale = s_in * s_w in
    float, inv = 1.0 / scale stored to float, bias * inv in float,
    std::round (ties away), clamp to +-INT32_MAX."""
    scale = np.float32(s_in) * s_w.astype(np.float32)
    inv = (1.0 / scale.astype(np.float64)).astype(np.float32)
    v = (b.astype(np.float32) * inv).astype(np.float64)
    r = np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5))
    return np.clip(r, -(2**31 - 1), 2**31 - 1).astype(np.int64)


def test_quantize_bias_against_tflite_rule():
    # The documented deviation: identical for power-of-two scales, at most
    # one code (on a small fraction) otherwise, where TFLite's float steps
    # round; tinyq is then the exact nearest code.
    rng = np.random.default_rng(7)
    total = differ = 0
    for _ in range(40):
        n = 20000
        s_in = np.float32(rng.uniform(0.005, 0.05))
        s_w = rng.uniform(1e-4, 1e-2, n).astype(np.float32)
        b = (rng.standard_normal(n) *
             rng.choice([0.01, 0.1, 1.0, 10.0])).astype(np.float32)
        ours = tq.quantize_bias(b, s_in, s_w).astype(np.int64)
        theirs = tflite_bias(b, s_in, s_w)
        assert np.abs(ours - theirs).max() <= 1
        total += n
        differ += np.count_nonzero(ours != theirs)
        for i in np.nonzero(ours != theirs)[0][:3]:
            assert ours[i] == bias_oracle(b[i], s_in, s_w[i])
    print(f"TFLite float rule differs on {differ} of {total} biases "
          f"({100 * differ / total:.2f} %)")
    assert 0 < differ < total // 100     # 1473 of 800,000 with this seed
    s_w = (2.0 ** rng.integers(-14, -4, 20000)).astype(np.float32)
    b = (rng.standard_normal(20000) * 3).astype(np.float32)
    np.testing.assert_array_equal(tq.quantize_bias(b, 2.0**-7, s_w),
                                  tflite_bias(b, 2.0**-7, s_w))
