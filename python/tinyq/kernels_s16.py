# The 16x8 kernels on numpy arrays (int16 activations, int8 weights):
# TFLite's int64 requantization, conv2d, depthwise, fully connected with an
# int64 or int32 bias, pooling, add, mul and the int16 softmax.
#
# SPDX-License-Identifier: Apache-2.0
"""s16 kernels (``tinyq.s16``): int16 activations with int8 weights.

int16 activations are symmetric (zero point 0), so no kernel takes a zero
point. The bias dtype chooses the arithmetic, as in TFLite: an int64 bias
(TFLite's default 16x8 scheme) accumulates in int64 and requantizes with
the int64 overload of MultiplyByQuantizedMultiplier (:func:`requantize64`);
an int32 bias accumulates in int32 and uses the int32 requantization in
the stage's rounding mode. ``bias=None`` takes ``bias_dtype`` ("s64" by
default) to choose. Layouts and ``out=`` work as in :mod:`tinyq.s8`.
"""

import ctypes

import numpy as np

from . import _arrays as A
from . import _geometry as G
from . import _lib
from .constants import DType, Rounding, S16_LUT_SIZE
from .errors import ParamError, ShapeError, check
from .kernels_f32 import fc_shapes
from .kernels_s8 import AddParams, _int_pool
from .requant import OutputStage, _stage

_lib_ = _lib.lib
S8, S16, S32, S64 = A.S8, A.S16, A.S32, A.S64


def requantize64(x, multiplier, shift):
    """TFLite's int64 MultiplyByQuantizedMultiplier of one accumulator in
    ``[-2^47, 2^47)`` (``tq_requantize64``)."""
    fn = "tq_requantize64"
    out = ctypes.c_int32()
    check(_lib_.tq_requantize64(A.int64(x, fn, "x"),
                                A.int32(multiplier, fn, "multiplier"),
                                A.int32(shift, fn, "shift"),
                                ctypes.byref(out)), fn)
    return out.value


def _stage16(os_, channels, fn):
    """The ``tq_s16_output`` of an :class:`~tinyq.OutputStage` (its output
    zero point must be 0: int16 outputs are symmetric; its act_min/act_max
    are the int16 clamp)."""
    os_ = _stage(os_, fn)
    if os_.output_zero_point != 0:
        raise ParamError(fn, "int16 outputs are symmetric: the output "
                             "stage's output_zero_point must be 0")
    if os_.per_channel and os_.multiplier.size != channels:
        raise ShapeError(fn, f"the output stage has {os_.multiplier.size} "
                             f"channels, the kernel {channels}")
    return _lib.S16Output(A.ptr(os_.multiplier), A.ptr(os_.shift),
                          int(os_.per_channel), os_.rounding, os_.act_min,
                          os_.act_max)


def output_stage(multiplier, shift, act_min=-32768, act_max=32767,
                 rounding=Rounding.DOUBLE):
    """An :class:`~tinyq.OutputStage` for the s16 kernels: zero point 0 and
    an int16 clamp."""
    return OutputStage(multiplier, shift, output_zero_point=0,
                       act_min=act_min, act_max=act_max, rounding=rounding)


def _bias(bias, bias_dtype, channels, fn):
    """(checked bias array or None, its C dtype code)."""
    if bias is None:
        code = A.enum_value(bias_dtype, DType, fn, "bias_dtype")
        return None, code
    b = np.asarray(bias) if not isinstance(bias, np.ndarray) else bias
    if b.dtype == S64:
        return G.bias_in(bias, S64, channels, fn), int(DType.S64)
    return G.bias_in(bias, S32, channels, fn), int(DType.S32)


def _vp(a):
    return None if a is None else ctypes.c_void_p(a.ctypes.data)


@G.documents_padding
def conv2d(x, weight, output_stage, *, bias=None, bias_dtype="s64",
           stride=1, padding=0, dilation=1, groups=1, layout="NHWC",
           out=None):
    """16x8 2-D convolution (``tq_s16_conv2d``): x int16 ``{N, H, W, Cin}``,
    weight int8 OHWI, bias int64 or int32 ``[Cout]``."""
    fn = "tinyq.s16.conv2d"
    layout = G.layout_of(layout, fn)
    x = G.activation_in(x, S16, layout, fn)
    w = G.conv_weights_in(weight, S8, layout, fn)
    cout = w.shape[0]
    bias, code = _bias(bias, bias_dtype, cout, fn)
    os_ = _stage16(output_stage, cout, fn)
    conv, oh, ow = G.conv_params(x.shape, w.shape[1], w.shape[2], stride,
                                 padding, dilation, groups, fn)
    din, dw = A.dims(x.shape, fn, "x"), A.dims(w.shape, fn, "weight")
    res = G.Output(out, (x.shape[0], oh, ow, cout), S16, layout, fn)
    dout = A.dims(res.nhwc.shape, fn, "out")
    need = ctypes.c_size_t()
    check(_lib_.tq_s16_conv2d_scratch_size(
        ctypes.byref(conv), ctypes.byref(din), ctypes.byref(dw),
        ctypes.byref(dout), ctypes.byref(need)), "tq_s16_conv2d_scratch_size")
    buf, scratch = A.scratch(need.value)
    check(_lib_.tq_s16_conv2d(
        ctypes.byref(conv), ctypes.byref(din), A.ptr(x), ctypes.byref(dw),
        A.ptr(w), _vp(bias), code, ctypes.byref(os_), ctypes.byref(dout),
        A.ptr(res.nhwc), scratch, need.value), "tq_s16_conv2d")
    return res.result()


@G.documents_padding
def conv2d_scratch_size(x_shape, weight_shape, *, stride=1, padding=0,
                        dilation=1, groups=1):
    """Bytes of scratch :func:`conv2d` allocates
    (``tq_s16_conv2d_scratch_size``)."""
    fn = "tinyq.s16.conv2d_scratch_size"
    conv, oh, ow = G.conv_params(tuple(x_shape), weight_shape[1],
                                 weight_shape[2], stride, padding, dilation,
                                 groups, fn)
    din = A.dims(x_shape, fn, "x")
    dw = A.dims(weight_shape, fn, "weight")
    dout = A.dims((x_shape[0], oh, ow, weight_shape[0]), fn, "out")
    need = ctypes.c_size_t()
    check(_lib_.tq_s16_conv2d_scratch_size(
        ctypes.byref(conv), ctypes.byref(din), ctypes.byref(dw),
        ctypes.byref(dout), ctypes.byref(need)), "tq_s16_conv2d_scratch_size")
    return need.value


@G.documents_padding
def depthwise_conv2d(x, weight, output_stage, *, bias=None, bias_dtype="s64",
                     stride=1, padding=0, dilation=1, layout="NHWC",
                     out=None):
    """16x8 depthwise convolution (``tq_s16_depthwise_conv2d``): weight
    ``{1, KH, KW, Cout}``."""
    fn = "tinyq.s16.depthwise_conv2d"
    layout = G.layout_of(layout, fn)
    x = G.activation_in(x, S16, layout, fn)
    w = G.dw_weights_in(weight, S8, layout, fn)
    cout = w.shape[3]
    bias, code = _bias(bias, bias_dtype, cout, fn)
    os_ = _stage16(output_stage, cout, fn)
    conv, oh, ow = G.conv_params(x.shape, w.shape[1], w.shape[2], stride,
                                 padding, dilation, 1, fn)
    din, dw = A.dims(x.shape, fn, "x"), A.dims(w.shape, fn, "weight")
    res = G.Output(out, (x.shape[0], oh, ow, cout), S16, layout, fn)
    dout = A.dims(res.nhwc.shape, fn, "out")
    check(_lib_.tq_s16_depthwise_conv2d(
        ctypes.byref(conv), ctypes.byref(din), A.ptr(x), ctypes.byref(dw),
        A.ptr(w), _vp(bias), code, ctypes.byref(os_), ctypes.byref(dout),
        A.ptr(res.nhwc)), "tq_s16_depthwise_conv2d")
    return res.result()


def fully_connected(x, weight, output_stage, *, bias=None, bias_dtype="s64",
                    out=None):
    """16x8 fully connected (``tq_s16_fully_connected``): x int16
    ``[batch, in]`` (or ``[in]``), weight int8 ``[out, in]``."""
    fn = "tinyq.s16.fully_connected"
    A.array(x, S16, fn, "x")
    A.array(weight, S8, fn, "weight")
    batch, nin, nout, shape = fc_shapes(x, weight, fn)
    bias, code = _bias(bias, bias_dtype, nout, fn)
    os_ = _stage16(output_stage, nout, fn)
    out = A.out_array(out, shape, S16, fn)
    check(_lib_.tq_s16_fully_connected(
        batch, nin, nout, A.ptr(x), A.ptr(weight), _vp(bias), code,
        ctypes.byref(os_), A.ptr(out)), "tq_s16_fully_connected")
    return out


@G.documents_padding
def max_pool(x, kernel_size, stride=None, padding=0, act_min=-32768,
             act_max=32767, layout="NHWC", out=None):
    """int16 max pool, then the clamp (``tq_s16_max_pool``)."""
    return _int_pool(_lib_.tq_s16_max_pool, S16, x, kernel_size, stride,
                     padding, act_min, act_max, layout, out,
                     "tinyq.s16.max_pool")


@G.documents_padding
def avg_pool(x, kernel_size, stride=None, padding=0, act_min=-32768,
             act_max=32767, layout="NHWC", out=None):
    """int16 average pool, rounding half away from zero
    (``tq_s16_avg_pool``)."""
    return _int_pool(_lib_.tq_s16_avg_pool, S16, x, kernel_size, stride,
                     padding, act_min, act_max, layout, out,
                     "tinyq.s16.avg_pool")


def add_params(scale1, scale2, scale_out, act_min=-32768, act_max=32767,
               rounding=Rounding.DOUBLE):
    """TFLite's int16 ADD parameters (left shift 15, zero points 0) as an
    :class:`tinyq.s8.AddParams` (``tq_s16_add_params_from_scales``)."""
    fn = "tq_s16_add_params_from_scales"
    c = _lib.S8AddParams()
    check(_lib_.tq_s16_add_params_from_scales(
        A.real(scale1, fn, "scale1"), A.real(scale2, fn, "scale2"),
        A.real(scale_out, fn, "scale_out"), A.int32(act_min, fn, "act_min"),
        A.int32(act_max, fn, "act_max"),
        A.enum_value(rounding, Rounding, fn, "rounding"), ctypes.byref(c)),
        fn)
    p = AddParams.__new__(AddParams)
    p._c = c
    return p


def _binary(cfn, a, b, cparams, out, fn):
    A.array(a, S16, fn, "a")
    A.array(b, S16, fn, "b")
    if a.shape != b.shape:
        raise ShapeError(fn, f"shapes differ: {a.shape} and {b.shape}")
    out = A.out_array(out, a.shape, S16, fn)
    check(cfn(a.size, A.ptr(a), A.ptr(b), ctypes.byref(cparams),
              A.ptr(out)), cfn.__name__)
    return out


def add(a, b, params, out=None):
    """int16 elementwise add, TFLite ADD (``tq_s16_add``); ``params`` from
    :func:`add_params`; ``out`` may be ``a`` or ``b``."""
    fn = "tinyq.s16.add"
    if not isinstance(params, AddParams):
        raise ParamError(fn, f"params must be an AddParams, got "
                             f"{type(params).__name__}")
    return _binary(_lib_.tq_s16_add, a, b, params._c, out, fn)


class MulParams:
    """Parameters of TFLite's int16 MUL (``tq_s16_mul_params``)."""

    def __init__(self, output_multiplier, output_shift, act_min=-32768,
                 act_max=32767, rounding=Rounding.DOUBLE):
        fn = "tinyq.s16.MulParams"
        self._c = _lib.S16MulParams(
            A.int32(output_multiplier, fn, "output_multiplier"),
            A.int32(output_shift, fn, "output_shift"),
            A.int32(act_min, fn, "act_min"), A.int32(act_max, fn, "act_max"),
            A.enum_value(rounding, Rounding, fn, "rounding"))

    @classmethod
    def from_scales(cls, scale1, scale2, scale_out, act_min=-32768,
                    act_max=32767, rounding=Rounding.DOUBLE):
        """As TFLite's Prepare (``tq_s16_mul_params_from_scales``)."""
        fn = "tq_s16_mul_params_from_scales"
        c = _lib.S16MulParams()
        check(_lib_.tq_s16_mul_params_from_scales(
            A.real(scale1, fn, "scale1"), A.real(scale2, fn, "scale2"),
            A.real(scale_out, fn, "scale_out"),
            A.int32(act_min, fn, "act_min"), A.int32(act_max, fn, "act_max"),
            A.enum_value(rounding, Rounding, fn, "rounding"),
            ctypes.byref(c)), fn)
        p = cls.__new__(cls)
        p._c = c
        return p

    output_multiplier = property(lambda self: self._c.output_multiplier)
    output_shift = property(lambda self: self._c.output_shift)
    act_min = property(lambda self: self._c.act_min)
    act_max = property(lambda self: self._c.act_max)
    rounding = property(lambda self: self._c.rounding)


def mul(a, b, params, out=None):
    """int16 elementwise multiply, TFLite MUL (``tq_s16_mul``)."""
    fn = "tinyq.s16.mul"
    if not isinstance(params, MulParams):
        raise ParamError(fn, f"params must be a MulParams, got "
                             f"{type(params).__name__}")
    return _binary(_lib_.tq_s16_mul, a, b, params._c, out, fn)


def softmax_luts():
    """TFLite's two int16 softmax tables (exp on [-10, 0], 1/(1+x) on
    [0, 1]), 513 entries each (``tq_s16_softmax_luts``)."""
    exp_lut = np.empty(S16_LUT_SIZE, dtype=np.int16)
    recip_lut = np.empty(S16_LUT_SIZE, dtype=np.int16)
    check(_lib_.tq_s16_softmax_luts(A.ptr(exp_lut), A.ptr(recip_lut)),
          "tq_s16_softmax_luts")
    return exp_lut, recip_lut


def softmax(x, input_scale, beta=1.0, luts=None, out=None):
    """TFLite's int16 softmax over the last axis (``tq_s16_softmax``):
    output scale 1/32768. ``luts`` is ``(exp_lut, recip_lut)`` (int16, 513
    each), the library's when None; ``out`` may be ``x``."""
    fn = "tinyq.s16.softmax"
    A.array(x, S16, fn, "x")
    if x.ndim < 1 or x.size == 0:
        raise ShapeError(fn, f"x must be a non-empty array, got {x.shape}")
    if luts is None:
        luts = softmax_luts()
    exp_lut = A.array(luts[0], S16, fn, "exp_lut", shape=(S16_LUT_SIZE,))
    recip_lut = A.array(luts[1], S16, fn, "recip_lut", shape=(S16_LUT_SIZE,))
    p = _lib.S16SoftmaxParams()
    check(_lib_.tq_s16_softmax_params_from_scale(
        A.real(input_scale, fn, "input_scale"), A.real(beta, fn, "beta"),
        ctypes.byref(p)), "tq_s16_softmax_params_from_scale")
    p.exp_lut = A.ptr(exp_lut)
    p.recip_lut = A.ptr(recip_lut)
    cols = x.shape[-1]
    rows = x.size // cols
    out = A.out_array(out, x.shape, S16, fn)
    check(_lib_.tq_s16_softmax(A.extent(rows, fn, "rows"),
                               A.extent(cols, fn, "cols"), A.ptr(x),
                               ctypes.byref(p), A.ptr(out)), "tq_s16_softmax")
    return out


def batch_matmul(lhs, rhs, output_stage, *, adj_x=False, adj_y=False,
                 out=None):
    """int16 batch matmul, TFLite BATCH_MATMUL int16
    (``tq_s16_batch_matmul``): ``lhs @ rhs`` (zero points 0) in int64, then
    the int64 requantization (``output_stage``: zero point 0, shifts <= 14;
    per output column when per channel) and the clamp."""
    from .kernels_s8 import _bmm_params
    fn = "tinyq.s16.batch_matmul"
    A.array(lhs, S16, fn, "lhs")
    A.array(rhs, S16, fn, "rhs")
    p, shape, n = _bmm_params(lhs, rhs, adj_x, adj_y, fn)
    os_ = _stage16(output_stage, n, fn)
    out = A.out_array(out, shape, S16, fn)
    check(_lib_.tq_s16_batch_matmul(ctypes.byref(p), A.ptr(lhs), A.ptr(rhs),
                                    ctypes.byref(os_), A.ptr(out)),
          "tq_s16_batch_matmul")
    return out


__all__ = ["requantize64", "output_stage", "conv2d", "conv2d_scratch_size",
           "depthwise_conv2d", "fully_connected", "max_pool", "avg_pool",
           "add_params", "add", "MulParams", "mul", "softmax_luts",
           "softmax", "batch_matmul"]
