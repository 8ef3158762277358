# The int4-weight kernels on numpy arrays: TFLite's int4 packing, weights
# quantized straight into packed int4, and conv2d / depthwise / fully
# connected on packed weights (int8 activations, the int8 arithmetic).
#
# SPDX-License-Identifier: Apache-2.0
"""s4 kernels (``tinyq.s4``): int4 weights with int8 activations.

Packed weights are uint8 arrays: the weight tensor in its tinyq layout
(conv OHWI, depthwise ``{1, KH, KW, Cout}``, fully connected ``[out, in]``)
flattened, two values per byte, element 2k in the low nibble of byte k.
The kernels take the packed bytes and the unpacked weight shape; every
result is, bit for bit, the :mod:`tinyq.s8` kernel's on the unpacked
weights.
"""

import ctypes

import numpy as np

from . import _arrays as A
from . import _geometry as G
from . import _lib
from .errors import ParamError, ShapeError, check
from .kernels_s8 import _offset
from .quant import QParams
from .requant import _stage

_lib_ = _lib.lib
S8, S32, U8, F32 = A.S8, A.S32, A.U8, A.F32


def packed_size(n):
    """Bytes of ``n`` packed int4 values, ``ceil(n / 2)``
    (``tq_s4_packed_size``)."""
    return int(_lib_.tq_s4_packed_size(A.integer(n, "tq_s4_packed_size",
                                                 "n")))


def pack(values):
    """Pack int8 codes in [-8, 7] (any shape, flattened in C order) into
    int4 (``tq_s4_pack``)."""
    fn = "tinyq.s4.pack"
    A.array(values, S8, fn, "values")
    out = np.empty(packed_size(values.size), dtype=np.uint8)
    check(_lib_.tq_s4_pack(values.size, A.ptr(values), A.ptr(out)),
          "tq_s4_pack")
    return out


def unpack(packed, shape):
    """Unpack int4 values into int8 codes of ``shape`` (``tq_s4_unpack``)."""
    fn = "tinyq.s4.unpack"
    A.array(packed, U8, fn, "packed", ndim=1)
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    n = int(np.prod(shape, dtype=np.int64))
    if n < 0 or packed.size < packed_size(n):
        raise ShapeError(fn, f"{packed.size} bytes cannot hold {n} values")
    out = np.empty(shape, dtype=np.int8)
    check(_lib_.tq_s4_unpack(n, A.ptr(packed), A.ptr(out)), "tq_s4_unpack")
    return out


def quantize(x, qparams):
    """float32 weights -> packed int4 under ``qparams`` (a 4-bit
    :class:`~tinyq.QParams`, qmin >= -8, qmax <= 7) (``tq_s4_quantize``)."""
    fn = "tinyq.s4.quantize"
    A.array(x, F32, fn, "x")
    if not isinstance(qparams, QParams):
        raise ParamError(fn, f"qparams must be a QParams, got "
                             f"{type(qparams).__name__}")
    out = np.empty(packed_size(x.size), dtype=np.uint8)
    t = A.tensor(x, fn, "x")
    cp = qparams._c(fn, x)
    check(_lib_.tq_s4_quantize(ctypes.byref(t), ctypes.byref(cp), A.ptr(out),
                               out.size), "tq_s4_quantize")
    return out


def quantize_weights(w, axis=0):
    """float32 weights -> (packed int4, float32 scales per channel along
    ``axis``) with TFLite's symmetric 4-bit scheme, codes in [-7, 7]
    (``tq_s4_quantize_weights``)."""
    fn = "tinyq.s4.quantize_weights"
    A.array(w, F32, fn, "w")
    axis = A.int32(axis, fn, "axis")
    if not 0 <= axis < w.ndim:
        raise ShapeError(fn, f"axis {axis} out of range for {w.ndim} dims")
    scales = np.empty(w.shape[axis], dtype=np.float32)
    out = np.empty(packed_size(w.size), dtype=np.uint8)
    t = A.tensor(w, fn, "w")
    check(_lib_.tq_s4_quantize_weights(ctypes.byref(t), axis, A.ptr(scales),
                                       A.ptr(out), out.size),
          "tq_s4_quantize_weights")
    return out, scales


def _packed(packed, count, fn):
    A.array(packed, U8, fn, "packed", ndim=1)
    if packed.size < packed_size(count):
        raise ShapeError(fn, f"packed has {packed.size} bytes, the weights "
                             f"need {packed_size(count)}")
    return packed


def _shape4(shape, fn):
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4:
        raise ShapeError(fn, f"weight_shape must have 4 extents, got {shape}")
    return shape


@G.documents_padding
def conv2d(x, packed, weight_shape, output_stage, *, input_zero_point=0,
           bias=None, stride=1, padding=0, dilation=1, groups=1,
           layout="NHWC", out=None):
    """int8 convolution with packed int4 OHWI weights of ``weight_shape``
    ``(Cout, KH, KW, Cin / groups)`` (``tq_s4_conv2d``)."""
    fn = "tinyq.s4.conv2d"
    layout = G.layout_of(layout, fn)
    x = G.activation_in(x, S8, layout, fn)
    ws = _shape4(weight_shape, fn)
    packed = _packed(packed, int(np.prod(ws, dtype=np.int64)), fn)
    cout = ws[0]
    bias = G.bias_in(bias, S32, cout, fn)
    os_ = _stage(output_stage, fn)._c(cout, fn)
    conv, oh, ow = G.conv_params(x.shape, ws[1], ws[2], stride, padding,
                                 dilation, groups, fn)
    din, dw = A.dims(x.shape, fn, "x"), A.dims(ws, fn, "weight")
    res = G.Output(out, (x.shape[0], oh, ow, cout), S8, layout, fn)
    dout = A.dims(res.nhwc.shape, fn, "out")
    need = ctypes.c_size_t()
    # The fast path's scratch (the filter unpacked once): host memory.
    check(_lib_.tq_s4_conv2d_fast_scratch_size(
        ctypes.byref(conv), ctypes.byref(din), ctypes.byref(dw),
        ctypes.byref(dout), ctypes.byref(need)),
        "tq_s4_conv2d_fast_scratch_size")
    buf, scratch = A.scratch(need.value)
    check(_lib_.tq_s4_conv2d(
        ctypes.byref(conv), ctypes.byref(din), A.ptr(x),
        _offset(input_zero_point, fn, "input_zero_point"), ctypes.byref(dw),
        A.ptr(packed), A.ptr(bias), ctypes.byref(os_), ctypes.byref(dout),
        A.ptr(res.nhwc), scratch, need.value), "tq_s4_conv2d")
    return res.result()


@G.documents_padding
def depthwise_conv2d(x, packed, weight_shape, output_stage, *,
                     input_zero_point=0, bias=None, stride=1, padding=0,
                     dilation=1, layout="NHWC", out=None):
    """int8 depthwise convolution with packed int4 weights of
    ``weight_shape`` ``(1, KH, KW, Cout)`` (``tq_s4_depthwise_conv2d``)."""
    fn = "tinyq.s4.depthwise_conv2d"
    layout = G.layout_of(layout, fn)
    x = G.activation_in(x, S8, layout, fn)
    ws = _shape4(weight_shape, fn)
    packed = _packed(packed, int(np.prod(ws, dtype=np.int64)), fn)
    cout = ws[3]
    bias = G.bias_in(bias, S32, cout, fn)
    os_ = _stage(output_stage, fn)._c(cout, fn)
    conv, oh, ow = G.conv_params(x.shape, ws[1], ws[2], stride, padding,
                                 dilation, 1, fn)
    din, dw = A.dims(x.shape, fn, "x"), A.dims(ws, fn, "weight")
    res = G.Output(out, (x.shape[0], oh, ow, cout), S8, layout, fn)
    dout = A.dims(res.nhwc.shape, fn, "out")
    check(_lib_.tq_s4_depthwise_conv2d(
        ctypes.byref(conv), ctypes.byref(din), A.ptr(x),
        _offset(input_zero_point, fn, "input_zero_point"), ctypes.byref(dw),
        A.ptr(packed), A.ptr(bias), ctypes.byref(os_), ctypes.byref(dout),
        A.ptr(res.nhwc)), "tq_s4_depthwise_conv2d")
    return res.result()


def fully_connected(x, packed, out_features, output_stage, *,
                    input_zero_point=0, bias=None, out=None):
    """int8 fully connected with packed int4 weights ``[out_features, in]``
    (``tq_s4_fully_connected``); x is ``[batch, in]`` or ``[in]``."""
    fn = "tinyq.s4.fully_connected"
    A.array(x, S8, fn, "x", ndim=(1, 2))
    batch = A.extent(x.shape[0] if x.ndim == 2 else 1, fn, "batch")
    nin = A.extent(x.shape[-1], fn, "in")
    nout = A.extent(out_features, fn, "out_features")
    packed = _packed(packed, nin * nout, fn)
    bias = G.bias_in(bias, S32, nout, fn)
    os_ = _stage(output_stage, fn)._c(nout, fn)
    out = A.out_array(out, (batch, nout) if x.ndim == 2 else (nout,), S8, fn)
    need = ctypes.c_size_t()
    check(_lib_.tq_s4_fully_connected_scratch_size(nin, nout,
                                                   ctypes.byref(need)),
          "tq_s4_fully_connected_scratch_size")
    buf, scratch = A.scratch(need.value)
    check(_lib_.tq_s4_fully_connected(
        batch, nin, nout, A.ptr(x),
        _offset(input_zero_point, fn, "input_zero_point"), A.ptr(packed),
        A.ptr(bias), ctypes.byref(os_), A.ptr(out), scratch, need.value),
        "tq_s4_fully_connected")
    return out


__all__ = ["packed_size", "pack", "unpack", "quantize", "quantize_weights",
           "conv2d", "depthwise_conv2d", "fully_connected"]
