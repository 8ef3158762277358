# The s8 kernels against exact int64 references (TFLite int8 semantics:
# offsets, int32 accumulation, fixed-point output stage, clamps).
#
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

import tinyq as tq
import oracles
from test_kernels_f32 import conv_case, pool_case


def codes(rng, shape, lo=-128, hi=127):
    return rng.integers(lo, hi + 1, shape).astype(np.int8)


def stage(rng, channels, per_channel, rounding=0):
    """A random output stage with realistic shifts (and a few positive)."""
    k = channels if per_channel else 1
    mult = rng.integers(2**30, 2**31, k)
    shift = rng.integers(-12, 2, k)
    zp = int(rng.integers(-128, 128))
    lo = int(rng.integers(-128, 0))
    hi = int(rng.integers(0, 128))
    os_ = tq.OutputStage(mult, shift, output_zero_point=zp, act_min=lo,
                         act_max=hi, rounding=rounding)
    return os_, (mult, shift, zp, lo, hi, rounding)


def apply(acc, p):
    mult, shift, zp, lo, hi, rounding = p
    return oracles.output_stage(acc, mult, shift, zp, lo, hi, rounding)


def test_gemm_s32_and_gemm(rng):
    for i in range(30):
        m, n, k = (int(v) for v in rng.integers(0, 24, 3))
        a, b = codes(rng, (m, k)), codes(rng, (n, k))
        azp, bzp = int(rng.integers(-128, 129)), int(rng.integers(-128, 129))
        bias = rng.integers(-2**20, 2**20, n).astype(np.int32) if i % 2 \
            else None
        ref = (a.astype(np.int64) - azp) @ (b.astype(np.int64) - bzp).T
        if bias is not None:
            ref = ref + bias
        out = tq.s8.gemm_s32(a, b, azp, bzp, bias)
        assert out.dtype == np.int32 and out.shape == (m, n)
        np.testing.assert_array_equal(out, ref)
        os_, p = stage(rng, n, i % 3 == 0 and n > 0, i % 2)
        np.testing.assert_array_equal(tq.s8.gemm(a, b, os_, azp, bzp, bias),
                                      apply(ref, p))
        # strided rows
        wa = np.zeros((m, k + 2), np.int8)
        wa[:, 2:] = a
        wc = np.zeros((m, n + 3), np.int32)
        tq.s8.gemm_s32(wa[:, 2:], b, azp, bzp, bias, out=wc[:, :n])
        np.testing.assert_array_equal(wc[:, :n], ref)
    assert tq.s8.gemm_scratch_size(4, 5, 6) >= 0


def test_conv2d(rng):
    for i in range(30):
        n, h, w, cin, cout, kh, kw, stride, dil, pads, groups = \
            conv_case(rng, i)
        x = codes(rng, (n, h, w, cin))
        wt = codes(rng, (cout, kh, kw, cin // groups), -127, 127)
        zp_in = int(rng.integers(-128, 128))
        bias = rng.integers(-5000, 5000, cout).astype(np.int32) if i % 2 \
            else None
        os_, p = stage(rng, cout, i % 3 != 0, i % 2)
        acc = oracles.conv2d(x, wt, stride, pads, dil, groups, np.int64,
                             offset=-zp_in)
        if bias is not None:
            acc = acc + bias
        out = tq.s8.conv2d(x, wt, os_, input_zero_point=zp_in, bias=bias,
                           stride=stride, padding=pads, dilation=dil,
                           groups=groups)
        np.testing.assert_array_equal(out, apply(acc, p), f"case {i}")
        nchw = tq.s8.conv2d(x.transpose(0, 3, 1, 2).copy(),
                            wt.transpose(0, 3, 1, 2).copy(), os_,
                            input_zero_point=zp_in, bias=bias, stride=stride,
                            padding=pads, dilation=dil, groups=groups,
                            layout="NCHW")
        np.testing.assert_array_equal(nchw, out.transpose(0, 3, 1, 2))
    assert tq.s8.conv2d_scratch_size((1, 8, 8, 4), (5, 3, 3, 4)) > 0


def test_depthwise(rng):
    for i in range(25):
        n, h, w, cin, _, kh, kw, stride, dil, pads, _ = conv_case(rng, i)
        mult = int(rng.integers(1, 4))
        x = codes(rng, (n, h, w, cin))
        wt = codes(rng, (1, kh, kw, cin * mult), -127, 127)
        zp_in = int(rng.integers(-128, 128))
        bias = rng.integers(-5000, 5000, cin * mult).astype(np.int32) \
            if i % 2 else None
        os_, p = stage(rng, cin * mult, i % 2 == 0, i % 2)
        acc = oracles.depthwise(x, wt, stride, pads, dil, np.int64,
                                offset=-zp_in)
        if bias is not None:
            acc = acc + bias
        out = tq.s8.depthwise_conv2d(x, wt, os_, input_zero_point=zp_in,
                                     bias=bias, stride=stride, padding=pads,
                                     dilation=dil)
        np.testing.assert_array_equal(out, apply(acc, p), f"case {i}")


def test_fully_connected(rng):
    for i in range(20):
        batch, nin, nout = (int(v) for v in rng.integers(1, 50, 3))
        x, wt = codes(rng, (batch, nin)), codes(rng, (nout, nin))
        zp_in, zp_w = int(rng.integers(-128, 128)), int(rng.integers(-128,
                                                                     129))
        bias = rng.integers(-5000, 5000, nout).astype(np.int32) if i % 2 \
            else None
        os_, p = stage(rng, nout, i % 2 == 1, i % 2)
        acc = (x.astype(np.int64) - zp_in) @ (wt.astype(np.int64) - zp_w).T
        if bias is not None:
            acc = acc + bias
        out = tq.s8.fully_connected(x, wt, os_, input_zero_point=zp_in,
                                    weight_zero_point=zp_w, bias=bias)
        np.testing.assert_array_equal(out, apply(acc, p))
        one = tq.s8.fully_connected(x[0].copy(), wt, os_,
                                    input_zero_point=zp_in,
                                    weight_zero_point=zp_w, bias=bias)
        np.testing.assert_array_equal(one, out[0])


def test_fully_connected_packed(rng):
    for i in range(20):
        batch, nin, nout = (int(v) for v in rng.integers(1, 90, 3))
        x, wt = codes(rng, (batch, nin)), codes(rng, (nout, nin))
        zp_in = int(rng.integers(-128, 128))
        bias = rng.integers(-5000, 5000, nout).astype(np.int32) if i % 2 \
            else None
        os_, p = stage(rng, nout, i % 2 == 1, i % 2)
        packed = tq.s8.pack_weights(wt)
        rows = -(-nout // 16) * 16
        assert packed.dtype == np.uint8
        assert packed.size == 64 + 4 * rows + rows * (-(-nin // 4) * 4)
        acc = (x.astype(np.int64) - zp_in) @ wt.astype(np.int64).T
        if bias is not None:
            acc = acc + bias
        out = tq.s8.fully_connected_packed(x, packed, os_,
                                           input_zero_point=zp_in, bias=bias)
        np.testing.assert_array_equal(out, apply(acc, p))
        np.testing.assert_array_equal(
            out, tq.s8.fully_connected(x, wt, os_, input_zero_point=zp_in,
                                       bias=bias))
        one = tq.s8.fully_connected_packed(x[0].copy(), packed, os_,
                                           input_zero_point=zp_in, bias=bias)
        np.testing.assert_array_equal(one, out[0])
    # Strided weight rows pack like contiguous ones.
    wide = codes(rng, (5, 12))
    np.testing.assert_array_equal(tq.s8.pack_weights(wide[:, :7]),
                                  tq.s8.pack_weights(wide[:, :7].copy()))


def test_fully_connected_packed_weight_zero_point(rng):
    # Asymmetric weights through the packed path (issue 16): same packed
    # bytes, the weight zero point given at the call.
    for i in range(12):
        batch, nin, nout = (int(v) for v in rng.integers(1, 90, 3))
        x, wt = codes(rng, (batch, nin)), codes(rng, (nout, nin))
        zp_in = int(rng.integers(-128, 128))
        zp_w = int(rng.integers(-128, 129)) if i else 128
        bias = rng.integers(-5000, 5000, nout).astype(np.int32) if i % 2 \
            else None
        os_, p = stage(rng, nout, i % 2 == 1, i % 2)
        packed = tq.s8.pack_weights(wt)
        acc = (x.astype(np.int64) - zp_in) @ (wt.astype(np.int64) - zp_w).T
        if bias is not None:
            acc = acc + bias
        out = tq.s8.fully_connected_packed(x, packed, os_,
                                           input_zero_point=zp_in,
                                           weight_zero_point=zp_w, bias=bias)
        np.testing.assert_array_equal(out, apply(acc, p))
        np.testing.assert_array_equal(
            out, tq.s8.fully_connected(x, wt, os_, input_zero_point=zp_in,
                                       weight_zero_point=zp_w, bias=bias))
    with pytest.raises(tq.ParamError):
        tq.s8.fully_connected_packed(x, packed, os_, weight_zero_point=-129)


def test_fully_connected_packed_errors(rng):
    wt, x = codes(rng, (3, 8)), codes(rng, (2, 8))
    os_ = tq.OutputStage(2**30, -4)
    packed = tq.s8.pack_weights(wt)
    with pytest.raises(tq.ShapeError):  # 7 inputs, packed for 8
        tq.s8.fully_connected_packed(codes(rng, (2, 7)), packed, os_)
    with pytest.raises(tq.BufferTooSmallError):
        tq.s8.fully_connected_packed(x, packed[:-1].copy(), os_)
    with pytest.raises(tq.BufferTooSmallError):
        tq.s8.fully_connected_packed(x, packed[:20].copy(), os_)
    bad = packed.copy()
    bad[0] ^= 1
    with pytest.raises(tq.FormatError):
        tq.s8.fully_connected_packed(x, bad, os_)
    huge = packed.copy()
    huge[8:12] = np.frombuffer(np.int32(1 << 30).tobytes(), np.uint8)
    with pytest.raises(tq.BufferTooSmallError):
        tq.s8.fully_connected_packed(x, huge, os_)
    with pytest.raises(tq.DtypeError):
        tq.s8.fully_connected_packed(x, packed.view(np.int8), os_)
    with pytest.raises(tq.DtypeError):
        tq.s8.pack_weights(wt.astype(np.int32))


def test_pools(rng):
    for _ in range(30):
        kernel, stride, pads, shape = pool_case(rng)
        x = codes(rng, shape)
        lo, hi = int(rng.integers(-128, 0)), int(rng.integers(0, 128))
        mx = tq.s8.max_pool(x, kernel, stride, pads, lo, hi)
        np.testing.assert_array_equal(
            mx, np.clip(oracles.max_pool(x, kernel, stride, pads), lo, hi))
        av = tq.s8.avg_pool(x, kernel, stride, pads, lo, hi)
        np.testing.assert_array_equal(
            av, np.clip(oracles.s8_avg_pool(x, kernel, stride, pads), lo, hi))
        np.testing.assert_array_equal(
            tq.s8.avg_pool(x.transpose(0, 3, 1, 2).copy(), kernel, stride,
                           pads, lo, hi, layout="NCHW"),
            av.transpose(0, 3, 1, 2))
    with pytest.raises(tq.ParamError):
        tq.s8.max_pool(codes(rng, (1, 4, 4, 1)), 2, act_min=5, act_max=4)


def add_params_oracle(s1, z1, s2, z2, so, zo):
    twice = 2.0 * float(max(np.float32(s1), np.float32(s2)))
    m1 = oracles.quantize_multiplier(float(np.float32(s1)) / twice)
    m2 = oracles.quantize_multiplier(float(np.float32(s2)) / twice)
    mo = oracles.quantize_multiplier(twice / float(np.float32(2**20)
                                                   * np.float32(so)))
    return m1, m2, mo


@pytest.mark.parametrize("rounding", [0, 1])
def test_add(rng, rounding):
    for _ in range(10):
        s1, s2, so = (float(v) for v in rng.uniform(0.01, 0.2, 3))
        z1, z2, zo = (int(v) for v in rng.integers(-128, 128, 3))
        lo, hi = int(rng.integers(-128, 0)), int(rng.integers(0, 128))
        p = tq.s8.AddParams.from_scales(s1, z1, s2, z2, so, zo, lo, hi,
                                        rounding)
        m1, m2, mo = add_params_oracle(s1, z1, s2, z2, so, zo)
        assert (p.input1_multiplier, p.input1_shift) == m1
        assert (p.input2_multiplier, p.input2_shift) == m2
        assert (p.output_multiplier, p.output_shift) == mo
        assert (p.input1_offset, p.input2_offset, p.output_offset) == \
            (-z1, -z2, zo)
        assert p.left_shift == 20 and p.as_dict()["act_min"] == lo
        a, b = codes(rng, (4, 33)), codes(rng, (4, 33))
        v1 = oracles.requantize((a.astype(np.int64) - z1) << 20, *m1,
                                rounding)
        v2 = oracles.requantize((b.astype(np.int64) - z2) << 20, *m2,
                                rounding)
        want = np.clip(oracles.requantize(v1 + v2, *mo, rounding) + zo, lo,
                       hi).astype(np.int8)
        np.testing.assert_array_equal(tq.s8.add(a, b, p), want)
        c = a.copy()
        assert tq.s8.add(c, b, p, out=c) is c
        np.testing.assert_array_equal(c, want)
    with pytest.raises(tq.ParamError):
        tq.s8.AddParams.from_scales(0.0, 0, 0.1, 0, 0.1, 0)
    fields = p.as_dict()
    fields["input1_shift"] = 1  # must be <= 0
    with pytest.raises(tq.ParamError):
        tq.s8.add(a, b, tq.s8.AddParams(**fields))
    with pytest.raises(tq.ParamError):
        tq.s8.AddParams(bogus=1)
    with pytest.raises(tq.ParamError):
        tq.s8.add(a, b, fields)


def test_quantize_dequantize_f32(rng):
    x = (rng.standard_normal(1000) * 3).astype(np.float32)
    x[:6] = [0.05, -0.05, 0.15, -0.15, np.inf, -np.inf]
    for scale, zp in ((0.1, 0), (0.03, -7), (0.5, 100)):
        want = oracles.quantize(x, np.float32(scale), zp, -128, 127)
        q = tq.s8.quantize_f32(x, scale, zp)
        np.testing.assert_array_equal(q, want)
        np.testing.assert_array_equal(tq.s8.dequantize_f32(q, scale, zp),
                                      oracles.dequantize(q, np.float32(scale),
                                                         zp))
    with pytest.raises(tq.NotFiniteError):
        tq.s8.quantize_f32(np.array([np.nan], np.float32), 0.1, 0)
    with pytest.raises(tq.ParamError):
        tq.s8.quantize_f32(x, -0.1, 0)
    with pytest.raises(tq.ParamError):
        tq.s8.dequantize_f32(q, 0.1, 300)


def test_conv2d_relu_maxpool2(rng):
    for i in range(20):
        n, h, w, cin, cout, kh, kw, stride, dil, pads, _ = conv_case(rng, i)
        h, w = h + 2, w + 2
        x = codes(rng, (n, h, w, cin))
        wt = codes(rng, (cout, kh, kw, cin), -127, 127)
        zp_in = int(rng.integers(-128, 128))
        bias = rng.integers(-5000, 5000, cout).astype(np.int32) if i % 2 \
            else None
        os_, p = stage(rng, cout, i % 2 == 0, i % 2)
        fused = tq.s8.conv2d_relu_maxpool2(x, wt, os_, input_zero_point=zp_in,
                                           bias=bias, stride=stride,
                                           padding=pads, dilation=dil)
        acc = oracles.conv2d(x, wt, stride, pads, dil, 1, np.int64,
                             offset=-zp_in)
        if bias is not None:
            acc = acc + bias
        conv = apply(acc, p)
        oh, ow = conv.shape[1] // 2 * 2, conv.shape[2] // 2 * 2
        ref = oracles.max_pool(conv[:, :oh, :ow], (2, 2), (2, 2),
                               (0, 0, 0, 0)).astype(np.int8)
        np.testing.assert_array_equal(fused, ref, f"case {i}")
    assert tq.s8.conv2d_relu_maxpool2_scratch_size((1, 32, 32, 3),
                                                   (6, 5, 5, 3)) > 0


def test_reduction_limit(rng):
    os_ = tq.OutputStage(2**30, -20)
    x = codes(rng, (1, tq.S8_MAX_REDUCTION + 1))
    wt = codes(rng, (1, tq.S8_MAX_REDUCTION + 1))
    with pytest.raises(tq.SizeOverflowError):
        tq.s8.fully_connected(x, wt, os_)
    with pytest.raises(tq.SizeOverflowError):
        tq.s8.gemm_s32(x, wt)
