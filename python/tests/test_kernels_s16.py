# The 16x8 kernels against numpy references written from
# ../shared/docs/int16-int4-arithmetic.md: exact int64 sums, TFLite's int64
# requantization in int64 (|x · reduced| < 2^62), the int32 one from
# oracles.py, TFLite's softmax tables and int16 softmax.
#
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

import tinyq as tq
import oracles

ACC_MAX = 2**47 - 1


def requant64(acc, mult, shift):
    """The doc's int64 MBQM, elementwise, with the 2^47 clamp of tinyq."""
    acc = np.clip(np.asarray(acc, np.int64), -2**47, ACC_MAX)
    mult = np.asarray(mult, np.int64)
    shift = np.asarray(shift, np.int64)
    reduced = np.where(mult < 0x7FFF0000, (mult + 2**15) >> 16, 0x7FFF)
    total = 15 - shift
    y = (acc * reduced + (np.int64(1) << (total - 1))) >> total
    return np.clip(y, -2**31, 2**31 - 1)


def out16(sum_, bias, mult, shift, lo, hi, rounding, wide):
    """One output of a 16x8 kernel from the exact int64 sum (channels last)."""
    if wide:
        acc = sum_ if bias is None else sum_ + bias.astype(np.int64)
        y = requant64(acc, mult, shift)
    else:
        acc = sum_ if bias is None else sum_ + bias.astype(np.int64)
        y = oracles.requantize(np.clip(acc, -2**31, 2**31 - 1), mult, shift,
                               rounding)
    return np.clip(y, lo, hi).astype(np.int16)


def random_stage(rng, channels, wide, per_channel):
    k = channels if per_channel else 1
    mult = rng.integers(2**30, 2**31, k)
    shift = rng.integers(-20, -8, k)
    lo = int(rng.integers(-32768, 1)) if rng.integers(2) else -32768
    hi = int(rng.integers(0, 32768)) if rng.integers(2) else 32767
    rounding = int(rng.integers(2))
    os_ = tq.s16.output_stage(mult, shift, lo, hi, rounding)
    return os_, (mult, shift, lo, hi, rounding)


def random_bias(rng, channels, wide, none):
    if none:
        return None
    if wide:
        return rng.integers(-2**40, 2**40, channels).astype(np.int64)
    return rng.integers(-2**24, 2**24, channels).astype(np.int32)


def test_requantize64(rng):
    x = rng.integers(-2**47, 2**47, 3000)
    m = rng.integers(0, 2**31, 3000)
    s = rng.integers(-31, 15, 3000)
    want = requant64(x, m, s)
    for i in range(3000):
        assert tq.s16.requantize64(int(x[i]), int(m[i]), int(s[i])) == want[i]
    with pytest.raises(tq.ParamError):
        tq.s16.requantize64(2**47, 2**30, 0)
    with pytest.raises(tq.ParamError):
        tq.s16.requantize64(1, 2**30, 15)


@pytest.mark.parametrize("wide", [True, False])
def test_conv_depthwise_fc(rng, wide):
    for i in range(40):
        n, h, w = 1 + i % 2, int(rng.integers(1, 8)), int(rng.integers(1, 8))
        groups = 1 + (i % 3 == 0)
        cin = groups * int(rng.integers(1, 5))
        cout = groups * int(rng.integers(1, 5))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        pads = tuple(int(v) for v in rng.integers(0, 2, 4))
        stride = tuple(int(v) for v in rng.integers(1, 3, 2))
        dil = tuple(int(v) for v in rng.integers(1, 3, 2))
        if (h + pads[0] + pads[1] < dil[0] * (kh - 1) + 1 or
                w + pads[2] + pads[3] < dil[1] * (kw - 1) + 1):
            continue
        x = rng.integers(-32768, 32768, (n, h, w, cin)).astype(np.int16)
        wt = rng.integers(-128, 128, (cout, kh, kw, cin // groups)) \
            .astype(np.int8)
        os_, p = random_stage(rng, cout, wide, i % 2 == 0)
        bias = random_bias(rng, cout, wide, i % 4 == 3)
        got = tq.s16.conv2d(x, wt, os_, bias=bias,
                            bias_dtype="s64" if wide else "s32",
                            stride=stride, padding=pads, dilation=dil,
                            groups=groups)
        s = oracles.conv2d(x, wt, stride, pads, dil, groups, np.int64)
        np.testing.assert_array_equal(got, out16(s, bias, *p[:2], *p[2:],
                                                 wide))
        # depthwise, channel multiplier 2
        wd = rng.integers(-128, 128, (1, kh, kw, 2 * cin)).astype(np.int8)
        os_, p = random_stage(rng, 2 * cin, wide, True)
        bias = random_bias(rng, 2 * cin, wide, i % 3 == 0)
        got = tq.s16.depthwise_conv2d(x, wd, os_, bias=bias,
                                      bias_dtype="s64" if wide else "s32",
                                      stride=stride, padding=pads,
                                      dilation=dil)
        s = oracles.depthwise(x, wd, stride, pads, dil, np.int64)
        np.testing.assert_array_equal(got, out16(s, bias, *p[:2], *p[2:],
                                                 wide))
        # fully connected
        xf = x.reshape(n, -1)
        wf = rng.integers(-128, 128, (cout, xf.shape[1])).astype(np.int8)
        os_, p = random_stage(rng, cout, wide, i % 2 == 1)
        bias = random_bias(rng, cout, wide, i % 5 == 0)
        got = tq.s16.fully_connected(xf, wf, os_, bias=bias,
                                     bias_dtype="s64" if wide else "s32")
        s = xf.astype(np.int64) @ wf.astype(np.int64).T
        np.testing.assert_array_equal(got, out16(s, bias, *p[:2], *p[2:],
                                                 wide))


def test_bad_stage_and_bias():
    x = np.zeros((1, 4), np.int16)
    w = np.zeros((2, 4), np.int8)
    with pytest.raises(tq.ParamError):
        tq.s16.fully_connected(x, w, tq.OutputStage(2**30, 0,
                                                    output_zero_point=1))
    with pytest.raises(tq.ParamError):
        tq.s16.fully_connected(x, w, tq.s16.output_stage(2**30, 15))
    # The same shift is fine for the int32 arithmetic.
    tq.s16.fully_connected(x, w, tq.s16.output_stage(2**30, 15),
                           bias_dtype="s32")
    with pytest.raises(tq.DtypeError):
        tq.s16.fully_connected(x, w, tq.s16.output_stage(2**30, 0),
                               bias_dtype="s8")
    with pytest.raises(tq.DtypeError):
        tq.s16.fully_connected(x.astype(np.int8), w,
                               tq.s16.output_stage(2**30, 0))


def test_pools(rng):
    for i in range(20):
        x = rng.integers(-32768, 32768, (2, 7, 6, 3)).astype(np.int16)
        k, s = (2, 3), (2, 1)
        pads = (1, 0, 0, 2)
        got = tq.s16.max_pool(x, k, s, pads, act_min=-1000, act_max=30000)
        want = np.clip(oracles.max_pool(x.astype(np.float64), k, s, pads),
                       -1000, 30000)
        np.testing.assert_array_equal(got, want)
        got = tq.s16.avg_pool(x, k, s, pads)
        np.testing.assert_array_equal(got, oracles.s8_avg_pool(x, k, s,
                                                               pads))


def test_add_mul(rng):
    a = rng.integers(-32768, 32768, 500).astype(np.int16)
    b = rng.integers(-32768, 32768, 500).astype(np.int16)
    for rounding in (0, 1):
        p = tq.s16.add_params(3e-4, 1e-4, 5e-4, rounding=rounding)
        assert p.left_shift == 15 and p.input1_offset == 0
        v1 = oracles.requantize(a.astype(np.int64) << 15, p.input1_multiplier,
                                p.input1_shift, rounding)
        v2 = oracles.requantize(b.astype(np.int64) << 15, p.input2_multiplier,
                                p.input2_shift, rounding)
        want = np.clip(oracles.requantize(v1 + v2, p.output_multiplier,
                                          p.output_shift, rounding),
                       -32768, 32767)
        np.testing.assert_array_equal(tq.s16.add(a, b, p), want)
        m = tq.s16.MulParams.from_scales(3e-4, 1e-4, 1e-6, rounding=rounding)
        assert (m.output_multiplier, m.output_shift) == \
            oracles.quantize_multiplier(np.float32(3e-4).item() *
                                        np.float32(1e-4).item() /
                                        np.float32(1e-6).item())
        want = np.clip(oracles.requantize(a.astype(np.int64) * b,
                                          m.output_multiplier,
                                          m.output_shift, rounding),
                       -32768, 32767)
        np.testing.assert_array_equal(tq.s16.mul(a, b, m), want)


def gen_lut(f, lo, hi):
    """TFLite's gen_lut (doc), numpy's round is half-even so use floor."""
    def rnd(v):
        return np.sign(v) * np.floor(np.abs(v) + 0.5)
    step = (hi - lo) / 512
    t = np.empty(513)
    for i in range(512):
        s = rnd(f(lo + i * step) * 32768.0)
        mi = rnd((f(lo + (i + 1) * step) * 32768.0 + s) / 2.0)
        mv = rnd(f(lo + i * step + step / 2.0) * 32768.0)
        t[i] = s - rnd((mi - mv) / 2.0)
    t[512] = rnd(f(hi) * 32768.0)
    return np.clip(t, -32768, 32767).astype(np.int16)


def lookup(v, lut):
    v = v.astype(np.int64)
    i = 256 + (v >> 7)
    base = lut[i].astype(np.int64)
    slope = lut[i + 1].astype(np.int64) - base
    return base + ((slope * (v & 127) + 64) >> 7)


def softmax_ref(x, scale, beta, el, rl):
    m, s = oracles.quantize_multiplier(float(np.float32(scale)) *
                                       float(np.float32(beta)) /
                                       (10.0 / 65535.0))
    x = x.astype(np.int64)
    d = np.clip(oracles.requantize(x - x.max(axis=-1, keepdims=True), m, s) +
                32767, -32768, 32767)
    e = lookup(d, el)
    total = e.sum(axis=-1, keepdims=True)
    h = 32 - np.floor(np.log2(total)).astype(np.int64) - 1
    t = ((total << (h - 1)) + (1 << 13)) >> 14
    r = lookup(np.clip(t - 98304, -32768, 32767), rl)
    rs = 31 - h
    return np.clip((e * r + (np.int64(1) << (rs - 1))) >> rs, 0, 32767)


def test_softmax(rng):
    el, rl = tq.s16.softmax_luts()
    np.testing.assert_array_equal(el, gen_lut(np.exp, -10.0, 0.0))
    np.testing.assert_array_equal(rl, gen_lut(lambda v: 1 / (1 + v), 0.0,
                                              1.0))
    for i in range(30):
        x = rng.integers(-32768, 32768, (3, int(rng.integers(1, 200)))) \
            .astype(np.int16)
        scale = float(rng.uniform(1e-5, 1e-3))
        got = tq.s16.softmax(x, scale)
        np.testing.assert_array_equal(got, softmax_ref(x, scale, 1.0, el, rl))
        ref = oracles.softmax(np.maximum(x * np.float64(np.float32(scale)) -
                                         (x.max(axis=-1, keepdims=True) *
                                          np.float64(np.float32(scale))),
                                         -10.0))
        assert np.abs(got / 32768.0 - ref).max() < 5e-3
    # Caller-provided tables.
    x = rng.integers(-300, 300, (2, 10)).astype(np.int16)
    np.testing.assert_array_equal(tq.s16.softmax(x, 1e-3, luts=(el, rl)),
                                  tq.s16.softmax(x, 1e-3))
    bad = el.copy()
    bad[3] = -1
    with pytest.raises(tq.ParamError):
        tq.s16.softmax(x, 1e-3, luts=(bad, rl))


def test_int16_layouts(rng):
    x = rng.integers(-32768, 32768, (2, 3, 4, 5)).astype(np.int16)
    y = tq.nchw_to_nhwc(x)
    np.testing.assert_array_equal(y, x.transpose(0, 2, 3, 1))
