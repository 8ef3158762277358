# Multipliers, the fixed-point multiply in both rounding modes, the output
# stage over blocks of accumulators, and activation clamps, against exact
# integer references.
#
# SPDX-License-Identifier: Apache-2.0
import math

import numpy as np
import pytest

import tinyq as tq
import oracles


def test_quantize_multiplier(rng):
    reals = list(rng.uniform(0, 1, 200)) + list(
        np.exp(rng.uniform(-30, 20, 200))) + [
        0.0, 0.5, 1.0, 0.25, 2.0**-31, 2.0**-32, 2.0**-33, 1 - 2.0**-40,
        3.0, 2.0**29, 2.0**30 - 0.25, 2.0**30 - 0.5]
    for r in reals:
        want = oracles.quantize_multiplier(float(r))
        if want is None:
            with pytest.raises(tq.ParamError):
                tq.quantize_multiplier(r)
        else:
            assert tq.quantize_multiplier(r) == want, r
    m, s = tq.quantize_multipliers([0.25, 0.5, 3.0])
    assert m.dtype == np.int32 and list(m) == [2**30, 2**30, 3 * 2**29]
    assert list(s) == [-1, 0, 2]
    for bad in (-1.0, math.inf, math.nan, 2.0**31):
        with pytest.raises(tq.ParamError):
            tq.quantize_multiplier(bad)
    with pytest.raises(tq.ParamError):
        tq.quantize_multiplier("x")


@pytest.mark.parametrize("rounding", [tq.Rounding.DOUBLE, "single"])
def test_requantize_scalar(rng, rounding):
    mode = 1 if rounding == "single" else 0
    xs = list(rng.integers(-2**31, 2**31, 300)) + [
        0, 1, -1, 2**31 - 1, -2**31, 12345, -12345]
    for x in xs:
        m = int(rng.integers(2**30, 2**31))
        shift = int(rng.integers(-31, 31))
        want = int(oracles.requantize(x, m, shift, mode))
        assert tq.requantize(int(x), m, shift, rounding) == want
    # Ties: the doubling high multiply rounds them toward +infinity, the
    # rounding shift away from zero, single rounding toward +infinity.
    assert tq.requantize(3, 2**30, 0, "double") == 2
    assert tq.requantize(-3, 2**30, 0, "double") == -1
    assert tq.requantize(-3, 2**31 - 1, -1, "double") == -2
    assert tq.requantize(-3, 2**30, 0, "single") == -1


def test_requantize_errors():
    with pytest.raises(tq.ParamError):
        tq.requantize(1, -1, 0)
    with pytest.raises(tq.ParamError):
        tq.requantize(1, 2**30, 31)
    with pytest.raises(tq.ParamError):
        tq.requantize(1, 2**30, -32)
    with pytest.raises(tq.ParamError):
        tq.requantize(1, 2**30, 0, 2)
    with pytest.raises(tq.ParamError):
        tq.requantize(2**31, 2**30, 0)  # does not fit int32
    with pytest.raises(tq.ParamError):
        tq.requantize(1.5, 2**30, 0)


def test_activation_range():
    for scale in (0.01, 0.1, 0.7, 3.0):
        for zp in (-128, -30, 0, 17, 127):
            q6 = zp + float(oracles.round_half_away(
                float(np.float32(6.0) / np.float32(scale))))
            assert tq.activation_range(None, scale, zp) == (-128, 127)
            assert tq.activation_range("relu", scale, zp) == (zp, 127)
            assert tq.activation_range(tq.Activation.RELU6, scale, zp) == \
                (zp, int(min(max(q6, -128), 127)))
    with pytest.raises(tq.ParamError):
        tq.activation_range(3, 0.1, 0)
    with pytest.raises(tq.ParamError):
        tq.activation_range("relu", 0.0, 0)
    with pytest.raises(tq.ParamError):
        tq.activation_range("relu", 0.1, 128)


def random_stage(rng, channels, per_channel, rounding):
    n = channels if per_channel else 1
    mult = rng.integers(2**30, 2**31, n)
    shift = rng.integers(-14, 3, n)
    zp = int(rng.integers(-20, 20))
    lo = int(rng.integers(-128, 0))
    hi = int(rng.integers(lo, 128))
    return (tq.OutputStage(mult, shift, output_zero_point=zp, act_min=lo,
                           act_max=hi, rounding=rounding),
            mult, shift, zp, lo, hi)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("rounding", [0, 1])
def test_requantize_rows(rng, per_channel, rounding):
    for _ in range(10):
        rows, channels = int(rng.integers(1, 20)), int(rng.integers(1, 30))
        acc = rng.integers(-2**20, 2**20, (rows, channels)).astype(np.int32)
        os_, mult, shift, zp, lo, hi = random_stage(rng, channels,
                                                    per_channel, rounding)
        want = oracles.output_stage(acc, mult, shift, zp, lo, hi, rounding)
        np.testing.assert_array_equal(tq.requantize_rows(acc, os_), want)
        # strided rows: a column slice of a wider matrix, into one too
        wide = np.zeros((rows, channels + 5), np.int32)
        wide[:, 2:2 + channels] = acc
        out = np.zeros((rows, channels + 3), np.int8)
        res = tq.requantize_rows(wide[:, 2:2 + channels], os_,
                                 out=out[:, 1:1 + channels])
        np.testing.assert_array_equal(res, want)
        assert (out[:, 0] == 0).all() and (out[:, 1 + channels:] == 0).all()


def test_output_stage_from_scales_and_errors(rng):
    s_w = rng.uniform(0.001, 0.01, 7).astype(np.float32)
    os_ = tq.OutputStage.from_scales(0.05, s_w, 0.1, -3, "relu")
    for c in range(7):
        want = oracles.quantize_multiplier(
            float(np.float32(0.05)) * float(s_w[c]) / float(np.float32(0.1)))
        assert (os_.multiplier[c], os_.shift[c]) == want
    assert (os_.act_min, os_.act_max, os_.output_zero_point) == (-3, 127, -3)
    assert os_.per_channel and "7 channels" in repr(os_)
    acc = np.zeros((2, 6), np.int32)
    with pytest.raises(tq.ShapeError):
        tq.requantize_rows(acc, os_)  # 7 channels for 6 columns
    with pytest.raises(tq.ShapeError):
        tq.OutputStage([1, 2], [0])
    with pytest.raises(tq.ParamError):
        tq.OutputStage(2**31, 0)
    with pytest.raises(tq.ParamError):
        tq.OutputStage([0.5], [0])
    with pytest.raises(tq.ParamError):
        tq.requantize_rows(acc, tq.OutputStage(2**30, 31))
    with pytest.raises(tq.ParamError):
        tq.requantize_rows(acc, tq.OutputStage(2**30, 0, act_min=5,
                                               act_max=4))
    with pytest.raises(tq.ParamError):
        tq.requantize_rows(acc, "stage")
    with pytest.raises(tq.DtypeError):
        tq.requantize_rows(acc.astype(np.int64), tq.OutputStage(2**30, 0))
    with pytest.raises(tq.ArrayLayoutError):
        tq.requantize_rows(np.zeros((6, 2), np.int32).T,
                           tq.OutputStage(2**30, 0))
    with pytest.raises(tq.ArrayLayoutError):
        tq.requantize_rows(acc, tq.OutputStage(2**30, 0),
                           out=np.zeros((2, 6), np.int8)[::-1])
    with pytest.raises(AttributeError):
        os_.multiplier = np.zeros(3, np.int32)


def test_output_stage_scalars(rng):
    # Issue 16, item 7: a per-tensor layer in C needs one-element arrays
    # and per_channel = 0; from Python plain numbers do, and a number next
    # to per-channel values is shared by every channel.
    x = rng.integers(-128, 128, (3, 40)).astype(np.int8)
    w = rng.integers(-127, 128, (6, 40)).astype(np.int8)
    acc = (x.astype(np.int64) + 5) @ w.astype(np.int64).T
    scalar = tq.OutputStage(1518500250, -9, output_zero_point=4)
    assert not scalar.per_channel
    got = tq.s8.fully_connected(x, w, scalar, input_zero_point=-5)
    np.testing.assert_array_equal(
        got, oracles.output_stage(acc, np.array([1518500250]),
                                  np.array([-9]), 4, -128, 127))
    np.testing.assert_array_equal(
        got, tq.s8.fully_connected(x, w, tq.OutputStage(
            np.int32(1518500250), np.int64(-9), output_zero_point=4),
            input_zero_point=-5))
    shifts = np.array([-9, -8, -10, -9, -7, -11])
    shared = tq.OutputStage(1518500250, shifts, output_zero_point=4)
    assert shared.per_channel and shared.multiplier.tolist() == \
        [1518500250] * 6
    np.testing.assert_array_equal(
        tq.s8.fully_connected(x, w, shared, input_zero_point=-5),
        oracles.output_stage(acc, np.full(6, 1518500250), shifts, 4, -128,
                             127))
    assert tq.OutputStage([2**30, 2**29], -3).shift.tolist() == [-3, -3]
    with pytest.raises(tq.ShapeError):
        tq.OutputStage([2**30, 2**29], [-3])   # a sequence must match
