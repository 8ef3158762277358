# The more int8 ops of issue 12 (mul, maximum / minimum, softmax s8 -> s8 /
# s16, transpose conv, pad, transpose, concatenation, batch matmul s8 / s16,
# table lookup) through the ctypes wrappers, against numpy references
# written from ../shared/docs/int16-int4-arithmetic.md (section 3) and
# int8-arithmetic.md: exact int64 sums and the MBQM of oracles.py. The
# integer softmax (gemmlowp fixed point) is checked bit for bit against
# oracles.s8_softmax (the algorithm in plain Python integers) and against
# the float softmax within its documented resolution.
#
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

import tinyq as tq
import oracles

rng = np.random.default_rng(4242)


def codes(shape, lo=-128, hi=127, dtype=np.int8):
    return rng.integers(lo, hi + 1, size=shape).astype(dtype)


def stage(channels=1, lo=-128, hi=127, zp=0, per_channel=False):
    n = channels if per_channel else 1
    m = rng.integers(2**30, 2**31 - 1, size=n)
    sh = rng.integers(-10, -4, size=n)
    if not per_channel:
        m, sh = int(m[0]), int(sh[0])
    return tq.OutputStage(m, sh, output_zero_point=zp, act_min=lo,
                          act_max=hi), m, sh


@pytest.mark.parametrize("shapes", [((2, 3, 4, 5), (2, 3, 4, 5)),
                                    ((2, 3, 4, 5), (5,)),
                                    ((3, 1, 5), (1, 4, 1)),
                                    ((7,), ())])
def test_mul_broadcast(shapes):
    a, b = codes(shapes[0]), codes(shapes[1])
    s1, s2, so = 0.02, 0.05, 0.07
    z1, z2, zo = 3, -7, 11
    p = tq.s8.MulParams.from_scales(s1, z1, s2, z2, so, zo, -100, 120)
    f = [float(np.float32(v)) for v in (s1, s2, so)]  # the C takes floats
    m, sh = oracles.quantize_multiplier(f[0] * f[1] / f[2])
    assert (p.output_multiplier, p.output_shift) == (m, sh)
    assert (p.input1_offset, p.input2_offset) == (-z1, -z2)
    got = tq.s8.mul(a, b, p)
    prod = (a.astype(np.int64) - z1) * (b.astype(np.int64) - z2)
    want = np.clip(oracles.requantize(prod, m, sh) + zo, -100, 120)
    np.testing.assert_array_equal(got, want.astype(np.int8))
    assert got.shape == np.broadcast_shapes(a.shape, b.shape)


def test_mul_refusals():
    p = tq.s8.MulParams.from_scales(0.1, 0, 0.1, 0, 0.1, 0)
    with pytest.raises(tq.ShapeError):
        tq.s8.mul(codes((3, 4)), codes((5,)), p)
    with pytest.raises(tq.DtypeError):
        tq.s8.mul(codes((3,)).astype(np.int16), codes((3,)), p)
    with pytest.raises(tq.ParamError):
        tq.s8.mul(codes((3,)), codes((3,)), "params")
    with pytest.raises(tq.ParamError):
        tq.s8.MulParams.from_scales(-1.0, 0, 0.1, 0, 0.1, 0)


def test_softmax_exact_random(rng):
    """Random scales, betas and row lengths (1 .. 300), rows that reach the
    diff_min cut-off (large scales) and constant rows: bit for bit."""
    for trial in range(40):
        scale = float(10.0 ** rng.uniform(-3, 0.5))
        beta = float(rng.choice([1.0, 0.5, 2.0, rng.uniform(0.1, 3.0)]))
        cols = int(rng.choice([1, 2, 7, 10, 33, int(rng.integers(1, 301))]))
        x = rng.integers(-128, 128, size=(3, cols)).astype(np.int8)
        x[1] = x[1, 0]  # one constant row
        for bits, dt in ((8, np.int8), (16, np.int16)):
            got = tq.s8.softmax(x, scale, beta, out_dtype=dt)
            np.testing.assert_array_equal(
                got, oracles.s8_softmax(x, scale, beta, out_bits=bits),
                err_msg=f"trial {trial}: scale {scale} beta {beta} "
                        f"cols {cols} int{bits}")


def test_maximum_minimum():
    a, b = codes((2, 4, 4, 3)), codes((1, 1, 4, 3))
    np.testing.assert_array_equal(tq.s8.maximum(a, b), np.maximum(a, b))
    np.testing.assert_array_equal(tq.s8.minimum(a, b), np.minimum(a, b))
    out = a.copy()
    tq.s8.maximum(out, b, out=out)  # in place on the full-shape input
    np.testing.assert_array_equal(out, np.maximum(a, b))


@pytest.mark.parametrize("scale", [0.01, 0.05, 0.3])
def test_softmax_s8_and_s16(scale):
    x = codes((6, 10))
    y8 = tq.s8.softmax(x, scale)
    y16 = tq.s8.softmax(x, scale, out_dtype=np.int16)
    assert y8.dtype == np.int8 and y16.dtype == np.int16
    ref = oracles.softmax(x.astype(np.float64) * scale)
    # outputs: scale 1/256 (zp -128) and 1/65536 (zp -32768)
    p8 = (y8.astype(np.float64) + 128) / 256
    p16 = (y16.astype(np.float64) + 32768) / 65536
    assert np.abs(p8 - ref).max() <= 2.0 / 256
    assert np.abs(p16 - ref).max() <= 4.0 / 65536 + 1e-3
    # exact properties: the row maximum has the largest code, equal inputs
    # equal codes, a shift of the whole row changes nothing
    np.testing.assert_array_equal(np.argmax(y16, axis=1), np.argmax(x, axis=1))
    same = np.full((1, 8), 5, np.int8)
    assert len(set(tq.s8.softmax(same, scale)[0].tolist())) == 1
    mid = codes((4, 9), -100, 100)
    np.testing.assert_array_equal(tq.s8.softmax(mid - np.int8(20), scale),
                                  tq.s8.softmax(mid, scale))
    # exact: TFLite's fixed-point algorithm written again in oracles.py
    np.testing.assert_array_equal(y8, oracles.s8_softmax(x, scale))
    np.testing.assert_array_equal(y16, oracles.s8_softmax(x, scale,
                                                          out_bits=16))
    inplace = x.copy()
    tq.s8.softmax(inplace, scale, out=inplace)
    np.testing.assert_array_equal(inplace, y8)
    with pytest.raises(tq.ParamError):
        tq.s8.softmax(x, scale, out_dtype=np.int32)
    with pytest.raises(tq.ParamError):
        tq.s8.softmax(x, -1.0)


def transpose_conv_ref(x, w, bias, stride, pad, oh, ow, zp):
    """The doc's scatter form, exact int64."""
    n, h, wd, cin = x.shape
    cout, kh, kw, _ = w.shape
    acc = np.zeros((n, oh, ow, cout), np.int64)
    xs = x.astype(np.int64) - zp
    for iy in range(h):
        for ix in range(wd):
            for ky in range(kh):
                for kx in range(kw):
                    oy = iy * stride[0] - pad[0] + ky
                    ox = ix * stride[1] - pad[1] + kx
                    if 0 <= oy < oh and 0 <= ox < ow:
                        acc[:, oy, ox] += xs[:, iy, ix] @ \
                            w[:, ky, kx, :].astype(np.int64).T
    if bias is not None:
        acc += bias
    return acc


@pytest.mark.parametrize("cfg", [(1, 0, 5, 5), (2, 1, 7, 8), (2, 0, 9, 9),
                                 (3, 2, 10, 11)])
def test_transpose_conv(cfg):
    stride, pad, oh, ow = cfg
    x = codes((2, 4, 4, 3))
    w = codes((5, 3, 3, 3), -127, 127)
    bias = rng.integers(-2000, 2000, 5).astype(np.int32)
    os_, m, sh = stage(5, per_channel=True, zp=-3)
    got = tq.s8.transpose_conv(x, w, os_, (oh, ow), input_zero_point=4,
                               bias=bias, stride=stride, padding=pad)
    acc = transpose_conv_ref(x, w, bias, (stride, stride), (pad, pad), oh, ow,
                             4)
    want = oracles.output_stage(np.clip(acc, -2**31, 2**31 - 1), m, sh, -3,
                                -128, 127)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(tq.TinyqError):
        tq.s8.transpose_conv(x, w[:, :, :, :2], os_, (oh, ow))


def test_pad():
    x = codes((2, 3, 4))
    got = tq.s8.pad(x, [(1, 0), (0, 2), (3, 1)], pad_value=-5)
    want = np.pad(x, [(1, 0), (0, 2), (3, 1)], constant_values=-5)
    np.testing.assert_array_equal(got, want)
    x4 = codes((1, 2, 2, 3))
    np.testing.assert_array_equal(
        tq.s8.pad(x4, [(0, 0), (1, 1), (2, 0), (0, 1)]),
        np.pad(x4, [(0, 0), (1, 1), (2, 0), (0, 1)]))
    with pytest.raises(tq.ShapeError):
        tq.s8.pad(x, [(1, 1)])
    with pytest.raises(tq.TinyqError):
        tq.s8.pad(x, [(0, 0), (0, 0), (-1, 0)])


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
def test_transpose(dtype):
    x = codes((2, 3, 4, 5), dtype=dtype)
    for perm in [(0, 3, 1, 2), (3, 2, 1, 0), (1, 0, 2, 3)]:
        np.testing.assert_array_equal(tq.s8.transpose(x, perm),
                                      np.transpose(x, perm))
    y = codes((3, 7), dtype=dtype)
    np.testing.assert_array_equal(tq.s8.transpose(y, (1, 0)), y.T)
    with pytest.raises(tq.ShapeError):
        tq.s8.transpose(x, (0, 1, 2, 2))
    with pytest.raises(tq.ParamError):
        tq.s8.transpose(x.astype(np.float32), (0, 1, 2, 3))


def test_concatenation_copy_and_requantize():
    xs = [codes((2, 3, 4)), codes((2, 5, 4)), codes((2, 1, 4))]
    np.testing.assert_array_equal(tq.s8.concatenation(xs, 1),
                                  np.concatenate(xs, axis=1))
    ys = [codes((2, 3, 4)), codes((2, 3, 2))]
    np.testing.assert_array_equal(tq.s8.concatenation(ys, -1),
                                  np.concatenate(ys, axis=-1))
    # requantized: TFLite's float formula, the first input kept as it is
    scales = [0.05, 0.11]
    zps = [3, -9]
    got = tq.s8.concatenation(ys, 2, scales=scales, zero_points=zps,
                              out_scale=0.05, out_zero_point=3)
    sc = np.float32(scales[1]) * (np.float32(1) / np.float32(0.05))
    bias = np.float32(-zps[1]) * sc
    v = (ys[1].astype(np.float32) * sc).astype(np.float32) + bias
    r = np.sign(v) * np.floor(np.abs(v.astype(np.float64)) + 0.5)
    want1 = np.clip(r + 3, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(got[..., :4], ys[0])
    np.testing.assert_array_equal(got[..., 4:], want1)
    with pytest.raises(tq.ShapeError):
        tq.s8.concatenation([codes((2, 3)), codes((3, 3))], 1)
    with pytest.raises(tq.ShapeError):
        tq.s8.concatenation([], 0)


def bmm_ref(lhs, rhs, adj_x, adj_y, zl=0, zr=0):
    a = lhs.astype(np.int64) - zl
    b = rhs.astype(np.int64) - zr
    if adj_x:
        a = np.swapaxes(a, -1, -2)
    if adj_y:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b)


@pytest.mark.parametrize("adj", [(False, False), (True, False),
                                 (False, True), (True, True)])
def test_batch_matmul_s8(adj):
    m, k, n = 3, 7, 5
    lhs = codes((2, 1, k, m) if adj[0] else (2, 1, m, k))
    rhs = codes((1, 4, n, k) if adj[1] else (1, 4, k, n))
    os_, mult, sh = stage(n, per_channel=True, zp=2, lo=-120)
    got = tq.s8.batch_matmul(lhs, rhs, os_, lhs_zero_point=-3,
                             rhs_zero_point=5, adj_x=adj[0], adj_y=adj[1])
    acc = bmm_ref(lhs, rhs, adj[0], adj[1], -3, 5)
    want = oracles.output_stage(acc, mult, sh, 2, -120, 127)
    assert got.shape == (2, 4, m, n)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(tq.ShapeError):
        tq.s8.batch_matmul(codes((3, 4)), codes((5, 6)), os_)


def test_batch_matmul_s16():
    lhs = codes((3, 4, 6), -32768, 32767, np.int16)
    rhs = codes((3, 6, 5), -32768, 32767, np.int16)
    mult = rng.integers(2**30, 2**31 - 1, size=5)
    sh = rng.integers(-20, -14, size=5)
    os_ = tq.s16.output_stage(mult, sh, act_min=-30000, act_max=32767)
    got = tq.s16.batch_matmul(lhs, rhs, os_)
    acc = np.clip(bmm_ref(lhs, rhs, False, False), -2**47, 2**47 - 1)
    reduced = np.where(mult < 0x7FFF0000, (mult + 2**15) >> 16, 0x7FFF)
    total = 15 - sh
    y = (acc * reduced + (np.int64(1) << (total - 1))) >> total
    want = np.clip(np.clip(y, -2**31, 2**31 - 1), -30000, 32767)
    np.testing.assert_array_equal(got, want.astype(np.int16))
    with pytest.raises(tq.ParamError):
        tq.s16.batch_matmul(lhs, rhs, tq.OutputStage(2**30, -15,
                                                     output_zero_point=1))


def test_lookup():
    table = codes((256,))
    x = codes((3, 50))
    np.testing.assert_array_equal(tq.s8.lookup(x, table),
                                  table[x.astype(np.int16) + 128])
    inplace = x.copy()
    tq.s8.lookup(inplace, table, out=inplace)
    np.testing.assert_array_equal(inplace, table[x.astype(np.int16) + 128])
    with pytest.raises(tq.ShapeError):
        tq.s8.lookup(x, table[:255])
