# The int4-weight kernels against numpy: packing from the doc's definition,
# quantization, and each kernel both against an exact int64 reference and
# bit for bit against the s8 kernel on the unpacked weights.
#
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

import tinyq as tq
import oracles


def pack_ref(v):
    """Element 2k in the low nibble of byte k, 2k+1 in the high one."""
    v = np.asarray(v, np.int64).ravel() & 0xF
    if v.size % 2:
        v = np.append(v, 0)
    return (v[0::2] | (v[1::2] << 4)).astype(np.uint8)


def test_pack_unpack(rng):
    for n in list(range(0, 9)) + [101, 1000]:
        v = rng.integers(-8, 8, n).astype(np.int8)
        p = tq.s4.pack(v)
        assert p.size == (n + 1) // 2 == tq.s4.packed_size(n)
        np.testing.assert_array_equal(p, pack_ref(v))
        np.testing.assert_array_equal(tq.s4.unpack(p, n), v)
    with pytest.raises(tq.ParamError):
        tq.s4.pack(np.array([1, 8], np.int8))


def test_quantize(rng):
    w = rng.normal(size=(5, 3, 3, 7)).astype(np.float32)
    for axis in (0, 3):
        packed, scales = tq.s4.quantize_weights(w, axis)
        amax = np.abs(np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)) \
            .max(axis=1)
        np.testing.assert_array_equal(scales,
                                      (amax.astype(np.float64) / 7)
                                      .astype(np.float32))
        shape = [1] * 4
        shape[axis] = -1
        codes = np.clip(oracles.round_half_away(
            w / scales.reshape(shape)), -7, 7)
        np.testing.assert_array_equal(packed, pack_ref(codes))
    qp = tq.QParams(0.2, 1, qmin=-8, qmax=7)
    codes = np.clip(oracles.round_half_away(w / np.float32(0.2)) + 1, -8, 7)
    np.testing.assert_array_equal(tq.s4.quantize(w, qp), pack_ref(codes))
    with pytest.raises(tq.ParamError):
        tq.s4.quantize(w, tq.QParams(0.2))


def stage(rng, channels):
    mult = rng.integers(2**30, 2**31, channels)
    shift = rng.integers(-10, -3, channels)
    zp = int(rng.integers(-128, 128))
    return (tq.OutputStage(mult, shift, output_zero_point=zp),
            (mult, shift, zp))


def test_kernels(rng):
    for i in range(30):
        n, h, w = 1, int(rng.integers(2, 8)), int(rng.integers(2, 8))
        cin, cout = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        kh, kw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        x = rng.integers(-128, 128, (n, h, w, cin)).astype(np.int8)
        zp = int(rng.integers(-128, 128))
        wt = rng.integers(-8, 8, (cout, kh, kw, cin)).astype(np.int8)
        os_, (m, s, ozp) = stage(rng, cout)
        bias = rng.integers(-5000, 5000, cout).astype(np.int32)
        got = tq.s4.conv2d(x, tq.s4.pack(wt), wt.shape, os_,
                           input_zero_point=zp, bias=bias, padding=1)
        np.testing.assert_array_equal(
            got, tq.s8.conv2d(x, wt, os_, input_zero_point=zp, bias=bias,
                              padding=1))
        acc = oracles.conv2d(x, wt, pads=(1, 1, 1, 1), acc_dtype=np.int64,
                             offset=-zp) + bias
        np.testing.assert_array_equal(
            got, oracles.output_stage(acc, m, s, ozp, -128, 127))
        wd = rng.integers(-8, 8, (1, kh, kw, 3 * cin)).astype(np.int8)
        os_, (m, s, ozp) = stage(rng, 3 * cin)
        got = tq.s4.depthwise_conv2d(x, tq.s4.pack(wd), wd.shape, os_,
                                     input_zero_point=zp)
        np.testing.assert_array_equal(
            got, tq.s8.depthwise_conv2d(x, wd, os_, input_zero_point=zp))
        acc = oracles.depthwise(x, wd, acc_dtype=np.int64, offset=-zp)
        np.testing.assert_array_equal(
            got, oracles.output_stage(acc, m, s, ozp, -128, 127))
        nin = int(rng.integers(1, 300)) | 1  # odd rows share bytes
        nout = int(rng.integers(1, 70))
        xf = rng.integers(-128, 128, (3, nin)).astype(np.int8)
        wf = rng.integers(-8, 8, (nout, nin)).astype(np.int8)
        os_, (m, s, ozp) = stage(rng, nout)
        got = tq.s4.fully_connected(xf, tq.s4.pack(wf), nout, os_,
                                    input_zero_point=zp)
        np.testing.assert_array_equal(
            got, tq.s8.fully_connected(xf, wf, os_, input_zero_point=zp))
        acc = (xf.astype(np.int64) - zp) @ wf.astype(np.int64).T
        np.testing.assert_array_equal(
            got, oracles.output_stage(acc, m, s, ozp, -128, 127))
    with pytest.raises(tq.ShapeError):
        tq.s4.fully_connected(xf, tq.s4.pack(wf)[:-1], nout, os_)
