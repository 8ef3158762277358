# Wrong arguments from Python never crash: every wrapper, given each kind of
# bad array (None, a list, wrong dtype, non-contiguous, wrong rank, wrong
# extent, read-only output, misaligned) and bad scalars (None, huge, float,
# string), either works or raises a TinyqError; a failing call leaves a
# given output untouched.
#
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

import tinyq as tq
from conftest import _host_helpers_missing

F, B, I = np.float32, np.int8, np.int32


def f(*shape):
    return np.linspace(-1, 1, int(np.prod(shape)), dtype=F).reshape(shape)


def b(*shape):
    return (np.arange(int(np.prod(shape))) % 255 - 127).astype(B) \
        .reshape(shape)


def i(*shape):
    return np.arange(int(np.prod(shape)), dtype=I).reshape(shape)


STAGE4 = tq.OutputStage([2**30] * 4, [-8] * 4)
STAGE1 = tq.OutputStage(2**30, -8)
ADD = tq.s8.AddParams.from_scales(0.1, 0, 0.1, 0, 0.2, 0)
QP = tq.QParams(0.1)

# (callable, positional args, keyword args): each a valid call.
CASES = [
    (tq.nchw_to_nhwc, [f(1, 2, 3, 4)], {}),
    (tq.oihw_to_dw, [f(4, 1, 3, 3)], {}),
    (tq.numel, [f(2, 3)], {}),
    (tq.Stats().update, [f(5)], {}),
    (tq.ChannelStats(2).update, [f(2, 3)], {"axis": 0}),
    (tq.Histogram(0, 1, 8).add, [f(5)], {}),
    (tq.quantize, [f(2, 3), QP], {}),
    (tq.dequantize, [b(2, 3), QP], {}),
    (tq.fake_quant, [f(2, 3), QP], {}),
    (tq.measure_quant_error, [f(2, 3), QP], {}),
    (tq.compare, [f(2, 3), f(2, 3)], {}),
    (tq.calibrate, [f(4, 3)], {"axis": 0}),
    (tq.requantize_rows, [i(2, 4), STAGE4], {}),
    (tq.f32.gemm, [f(3, 5), f(4, 5)], {"bias": f(4)}),
    (tq.f32.conv2d, [f(1, 6, 6, 2), f(4, 3, 3, 2)],
     {"bias": f(4), "stride": 1, "padding": 1, "act": "relu"}),
    (tq.f32.depthwise_conv2d, [f(1, 6, 6, 2), f(1, 3, 3, 4)],
     {"bias": f(4), "padding": (1, 1)}),
    (tq.f32.fully_connected, [f(2, 5), f(4, 5)], {"bias": f(4)}),
    (tq.f32.max_pool, [f(1, 6, 6, 2), 2], {"stride": 2}),
    (tq.f32.avg_pool, [f(1, 6, 6, 2), 3], {"padding": 1}),
    (tq.f32.add, [f(3, 4), f(3, 4)], {}),
    (tq.f32.softmax, [f(3, 4)], {}),
    (tq.f32.conv2d_relu_maxpool2, [f(1, 8, 8, 2), f(4, 3, 3, 2)],
     {"bias": f(4)}),
    (tq.s8.gemm_s32, [b(3, 5), b(4, 5)], {"bias": i(4)}),
    (tq.s8.gemm, [b(3, 5), b(4, 5), STAGE4], {"bias": i(4)}),
    (tq.s8.conv2d, [b(1, 6, 6, 2), b(4, 3, 3, 2), STAGE4],
     {"bias": i(4), "input_zero_point": 3}),
    (tq.s8.depthwise_conv2d, [b(1, 6, 6, 2), b(1, 3, 3, 4), STAGE4],
     {"bias": i(4)}),
    (tq.s8.fully_connected, [b(2, 5), b(4, 5), STAGE4], {"bias": i(4)}),
    (tq.s8.max_pool, [b(1, 6, 6, 2), 2], {}),
    (tq.s8.avg_pool, [b(1, 6, 6, 2), 2], {}),
    (tq.s8.add, [b(3, 4), b(3, 4), ADD], {}),
    (tq.s8.quantize_f32, [f(3, 4), 0.1, 0], {}),
    (tq.s8.dequantize_f32, [b(3, 4), 0.1, 0], {}),
    (tq.s8.conv2d_relu_maxpool2, [b(1, 8, 8, 2), b(4, 3, 3, 2), STAGE4],
     {"bias": i(4)}),
]
if not _host_helpers_missing():
    CASES.append((tq.io.cifar10_normalize,
                  [np.zeros((1, 3, 32, 32), np.uint8)], {}))


def bad_arrays(a):
    """Ways to get an array argument wrong."""
    other = {np.dtype(F): np.float64, np.dtype(B): np.uint8,
             np.dtype(I): np.int64, np.dtype(np.uint8): np.int8}[a.dtype]
    wide = np.zeros(a.shape + (2,), a.dtype)[..., 0]  # non-contiguous
    ro = a.copy()
    ro.flags.writeable = False
    raw = np.zeros(a.nbytes + 1, np.uint8)[1:]
    misaligned = raw.view(a.dtype).reshape(a.shape) if a.itemsize > 1 \
        else None
    out = [None, a.tolist(), a.astype(other), wide, a[None], a.reshape(-1),
           np.zeros(a.shape[:-1] + (a.shape[-1] + 1,), a.dtype),
           np.zeros((0,) * a.ndim, a.dtype)]
    if a.ndim > 1:
        out.append(a.T if a.shape != a.T.shape else a.T.copy())
    if misaligned is not None:
        out.append(misaligned)
    return out


BAD_SCALARS = [None, 2**40, -2**40, 1.5, "x", [1, 2], float("nan")]


def call(fn, args, kwargs):
    try:
        fn(*args, **kwargs)
    except tq.TinyqError:
        pass


@pytest.mark.parametrize("fn,args,kwargs", CASES,
                         ids=[getattr(c[0], "__qualname__", "?") for c in
                              CASES])
def test_valid_call_then_every_bad_argument(fn, args, kwargs):
    fn(*args, **kwargs)
    for pos, value in enumerate(args):
        if isinstance(value, np.ndarray):
            subs = bad_arrays(value)
        elif isinstance(value, (int, float)):
            subs = BAD_SCALARS
        else:
            subs = [None, 3, "x", object()]
        for sub in subs:
            bad = list(args)
            bad[pos] = sub
            call(fn, bad, kwargs)
    for key, value in kwargs.items():
        subs = bad_arrays(value) if isinstance(value, np.ndarray) else \
            BAD_SCALARS + [(1, 2, 3), (-1, -1)]
        for sub in subs:
            call(fn, args, dict(kwargs, **{key: sub}))


@pytest.mark.parametrize("fn,args,kwargs", [
    c for c in CASES if "out" in c[0].__code__.co_varnames[
        :c[0].__code__.co_argcount + c[0].__code__.co_kwonlyargcount]])
def test_bad_outputs_and_untouched_output(fn, args, kwargs):
    good = np.asarray(fn(*args, **kwargs))
    for sub in bad_arrays(good):
        if sub is None:
            continue
        try:
            fn(*args, **kwargs, out=sub)
        except tq.TinyqError:
            continue
        # accepted only if it really is a usable output of the right shape
        assert isinstance(sub, np.ndarray) and sub.shape == good.shape
    ro = np.zeros_like(good)
    ro.flags.writeable = False
    with pytest.raises(tq.ArrayLayoutError):
        fn(*args, **kwargs, out=ro)


def test_failing_calls_leave_outputs_untouched():
    x = b(1, 6, 6, 2)
    out = np.full((1, 4, 4, 4), 55, np.int8)
    bad_stage = tq.OutputStage([2**30] * 4, [31] * 4)
    with pytest.raises(tq.ParamError):
        tq.s8.conv2d(x, b(4, 3, 3, 2), bad_stage, out=out)
    assert (out == 55).all()
    with pytest.raises(tq.ParamError):
        tq.s8.conv2d(x, b(4, 3, 3, 2), STAGE4, input_zero_point=-200,
                     out=out)
    assert (out == 55).all()
    y = np.full((3, 4), 9.0, F)
    nan = f(3, 4)
    nan[1, 1] = np.nan
    with pytest.raises(tq.NotFiniteError):
        tq.f32.softmax(nan, out=y)
    assert (y == 9).all()
    o = np.full((1, 3, 3, 4), 7.0, F)
    with pytest.raises(tq.ShapeError):  # channels of weight and input differ
        tq.f32.conv2d(f(1, 5, 5, 3), f(4, 3, 3, 2), out=o)
    assert (o == 7).all()


def test_specific_statuses():
    with pytest.raises(tq.NullError):
        tq.f32.conv2d(None, f(4, 3, 3, 2))
    with pytest.raises(tq.DtypeError):
        tq.f32.conv2d(b(1, 6, 6, 2), f(4, 3, 3, 2))
    with pytest.raises(tq.ArrayLayoutError):
        tq.f32.conv2d(f(1, 6, 6, 2)[:, ::-1], f(4, 3, 3, 2))
    with pytest.raises(tq.ShapeError):
        tq.f32.conv2d(f(6, 6, 2), f(4, 3, 3, 2))
    with pytest.raises(tq.ShapeError):  # bias of the wrong length
        tq.f32.conv2d(f(1, 6, 6, 2), f(4, 3, 3, 2), f(3))
    with pytest.raises(tq.ShapeError):  # 4-channel stage for 3 outputs
        tq.s8.fully_connected(b(2, 5), b(3, 5), STAGE4)
    tq.s8.fully_connected(b(2, 5), b(3, 5), STAGE1)  # per tensor fits all
    with pytest.raises(tq.ParamError):
        tq.f32.conv2d(f(1, 6, 6, 2), f(4, 3, 3, 2), stride=0)
    with pytest.raises(tq.ParamError):
        tq.f32.conv2d(f(1, 6, 6, 2), f(4, 3, 3, 2), stride=2**33)
    with pytest.raises(tq.ShapeError):
        tq.f32.conv2d(f(1, 2, 2, 2), f(4, 3, 3, 2))  # window does not fit
    with pytest.raises(tq.UnsupportedError):
        fused_with_groups()
    with pytest.raises(tq.ShapeError):
        tq.f32.conv2d(f(1, 6, 6, 3), f(4, 3, 3, 2), groups=2)
    with pytest.raises(tq.ParamError):
        tq.f32.conv2d(f(1, 6, 6, 2), f(4, 3, 3, 2), layout="NWHC")
    with pytest.raises(tq.ParamError):
        tq.f32.max_pool(f(1, 6, 6, 2), 2, padding=2)  # pad >= kernel
    with pytest.raises(tq.AliasError):
        buf = np.zeros(25, F)
        tq.f32.gemm(buf[:20].reshape(4, 5), f(4, 5),
                    out=buf[5:21].reshape(4, 4))


def fused_with_groups():
    """The fused kernel has no groups argument; reach TQ_ERR_UNSUPPORTED
    through the raw library with groups = 2."""
    import ctypes
    from tinyq import _lib
    conv = _lib.ConvParams(1, 1, 0, 0, 0, 0, 1, 1, 2)
    din, dw = _lib.Dims(1, 8, 8, 2), _lib.Dims(4, 3, 3, 1)
    dout = _lib.Dims(1, 3, 3, 4)
    need = ctypes.c_size_t()
    status = _lib.lib.tq_f32_conv2d_relu_maxpool2_scratch_size(
        ctypes.byref(conv), ctypes.byref(din), ctypes.byref(dw),
        ctypes.byref(dout), ctypes.byref(need))
    tq.errors.check(status, "tq_f32_conv2d_relu_maxpool2_scratch_size")
