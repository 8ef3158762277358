# Sizes, output extents, layout conversions and aligned allocations
# against numpy.
#
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

import tinyq as tq
import oracles
from conftest import needs_host


@pytest.mark.parametrize("dtype,size", [(tq.DType.F32, 4), ("s8", 1),
                                        (3, 4), ("s16", 2), (tq.DType.S64, 8),
                                        (6, 0), (7, 0)])
def test_dtype_size(dtype, size):
    assert tq.dtype_size(dtype) == size


def test_numel_nbytes_shape_numel(rng):
    for _ in range(20):
        shape = tuple(int(v) for v in rng.integers(0, 6, rng.integers(0, 5)))
        for dtype in (np.float32, np.int8, np.int32):
            a = np.zeros(shape, dtype=dtype)
            assert tq.numel(a) == a.size
            assert tq.nbytes(a) == a.nbytes
        assert tq.shape_numel(shape) == int(np.prod(shape, dtype=np.int64))
    assert tq.shape_numel([2**32, 2**31 - 1]) == 2**63 - 2**32
    with pytest.raises(tq.SizeOverflowError):
        tq.shape_numel([2**32, 2**32])
    with pytest.raises(tq.ShapeError):
        tq.shape_numel([3, -1])
    with pytest.raises(tq.ShapeError):
        tq.shape_numel([1] * 65)


def test_conv_output_size(rng):
    for _ in range(200):
        size, k = int(rng.integers(1, 40)), int(rng.integers(1, 8))
        s, d = int(rng.integers(1, 4)), int(rng.integers(1, 3))
        a, b = int(rng.integers(0, 4)), int(rng.integers(0, 4))
        want = oracles.conv_out(size, k, s, d, a, b)
        if want < 1 or size + a + b < d * (k - 1) + 1:
            with pytest.raises((tq.ShapeError, tq.ParamError)):
                tq.conv_output_size(size, k, s, d, a, b)
        else:
            assert tq.conv_output_size(size, k, s, d, a, b) == want
    with pytest.raises(tq.ParamError):
        tq.conv_output_size(10, 3, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int32])
def test_layouts(rng, dtype):
    for _ in range(5):
        shape = tuple(int(v) for v in rng.integers(1, 7, 4))
        x = rng.integers(-100, 100, shape).astype(dtype)
        np.testing.assert_array_equal(tq.nchw_to_nhwc(x),
                                      x.transpose(0, 2, 3, 1))
        np.testing.assert_array_equal(tq.nhwc_to_nchw(x),
                                      x.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(tq.oihw_to_ohwi(x),
                                      x.transpose(0, 2, 3, 1))
        dw = x[:, :1].copy()
        np.testing.assert_array_equal(tq.oihw_to_dw(dw),
                                      dw.transpose(1, 2, 3, 0))
        out = np.empty(x.transpose(0, 2, 3, 1).shape, dtype=dtype)
        assert tq.nchw_to_nhwc(x, out=out) is out
        np.testing.assert_array_equal(out, x.transpose(0, 2, 3, 1))


def test_layout_errors():
    x = np.zeros((2, 3, 4, 5), np.float32)
    with pytest.raises(tq.ShapeError):
        tq.nchw_to_nhwc(x[0])
    with pytest.raises(tq.ShapeError):
        tq.nchw_to_nhwc(x, out=np.zeros((2, 3, 4, 5), np.float32))
    with pytest.raises(tq.DtypeError):
        tq.nchw_to_nhwc(x, out=np.zeros((2, 4, 5, 3), np.int8))
    with pytest.raises(tq.DtypeError):
        tq.nchw_to_nhwc(x.astype(np.float64))
    with pytest.raises(tq.ShapeError):
        tq.oihw_to_dw(x)
    with pytest.raises(tq.ArrayLayoutError):
        tq.nchw_to_nhwc(x.transpose(0, 2, 3, 1))


@needs_host
def test_empty_aligned():
    for dtype in (np.float32, np.int8, np.int32):
        a = tq.empty_aligned((3, 5, 7), dtype)
        assert a.shape == (3, 5, 7) and a.dtype == dtype
        assert a.ctypes.data % 64 == 0 and not a.any()
        a[...] = 1
        assert a.sum() == 105
    assert tq.empty_aligned(0, np.float32).shape == (0,)
    with pytest.raises(tq.DtypeError):
        tq.empty_aligned(3, np.float64)
    with pytest.raises(tq.ShapeError):
        tq.empty_aligned((1, 1, 1, 1, 1))


def requires(name):
    from tinyq import _lib
    if name in _lib.missing:
        pytest.skip(f"{name} is not in this libtinyq ({tq.version()})")


def test_isa_paths_compute_the_same_bits(rng):
    requires("tq_set_isa")
    available = tq.isa_available()
    assert tq.Isa.PORTABLE in available and tq.Isa.AUTO not in available
    before = tq.get_isa()
    assert before in available
    x = rng.standard_normal((2, 9, 9, 5)).astype(np.float32)
    w = rng.standard_normal((7, 3, 3, 5)).astype(np.float32)
    xq = rng.integers(-128, 128, (2, 9, 9, 5)).astype(np.int8)
    wq = rng.integers(-127, 128, (7, 3, 3, 5)).astype(np.int8)
    stage = tq.OutputStage([2**30 + 12345] * 7, [-9] * 7)
    results = {}
    try:
        for isa in available:
            tq.set_isa(isa)
            assert tq.get_isa() == isa
            results[isa] = (tq.f32.conv2d(x, w, padding=1),
                            tq.s8.conv2d(xq, wq, stage, input_zero_point=3,
                                         padding=1),
                            tq.f32.gemm(x.reshape(-1, 5), w[:, 0, 0, :].copy()))
        ref = results[tq.Isa.PORTABLE]
        for isa, res in results.items():
            for a, b in zip(res, ref):
                np.testing.assert_array_equal(a, b, err_msg=tq.isa_name(isa))
        tq.set_isa("auto")
        assert tq.get_isa() == max(available)
    finally:
        tq.set_isa(before)


def test_isa_errors_and_names():
    requires("tq_set_isa")
    for isa in tq.Isa:
        assert tq.isa_name(isa) == isa.name.lower()
    with pytest.raises(tq.ParamError):
        tq.isa_name(9)
    with pytest.raises(tq.ParamError):
        tq.set_isa(9)
    with pytest.raises(tq.ParamError):
        tq.set_isa("sse9")
    missing = [i for i in tq.Isa if i != tq.Isa.AUTO and
               i not in tq.isa_available()]
    before = tq.get_isa()
    for isa in missing:
        with pytest.raises(tq.UnsupportedError):
            tq.set_isa(isa)
        assert tq.get_isa() == before
