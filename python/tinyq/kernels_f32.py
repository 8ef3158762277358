# The float kernels on numpy arrays: GEMM, conv2d, depthwise, fully
# connected, pooling, add, softmax and the fused conv + ReLU + 2x2 max pool.
# Scratch memory is sized by the library's queries and allocated here.
#
# SPDX-License-Identifier: Apache-2.0
"""f32 kernels (``tinyq.f32``).

Activations are NHWC and conv weights OHWI unless ``layout="NCHW"``, which
takes PyTorch's NCHW activations and OIHW weights, converts them with the
library's layout functions, and returns an NCHW result. Every kernel
allocates its output unless given ``out=``, a C-contiguous float32 array of
the output's shape.

``act`` is None (no clamp), an :class:`~tinyq.Activation` or its name
(``"relu"``, ``"relu6"``), or a ``(min, max)`` pair.
"""

import ctypes

import numpy as np

from . import _arrays as A
from . import _geometry as G
from . import _lib
from .constants import Activation
from .errors import ParamError, ShapeError, check

_lib_ = _lib.lib
F32 = A.F32


def act_from(act):
    """The ``(min, max)`` clamp of an activation (``tq_f32_act_from``):
    none is (-inf, inf), ReLU (0, inf), ReLU6 (0, 6)."""
    fn = "tq_f32_act_from"
    out = _lib.F32Act()
    check(_lib_.tq_f32_act_from(A.enum_value(act, Activation, fn, "act"),
                                ctypes.byref(out)), fn)
    return out.min, out.max


def _act(act, fn):
    """A tq_f32_act pointer (None for no clamp)."""
    if act is None:
        return None
    if isinstance(act, (tuple, list)):
        if len(act) != 2:
            raise ParamError(fn, f"act must be (min, max), got {act!r}")
        return ctypes.pointer(_lib.F32Act(A.real(act[0], fn, "act min"),
                                          A.real(act[1], fn, "act max")))
    lo, hi = act_from(act)
    return ctypes.pointer(_lib.F32Act(lo, hi))


def gemm(a, b, bias=None, act=None, out=None):
    """``act(a @ b.T + bias)`` with a ``[m, k]``, b ``[n, k]``, bias ``[n]``
    (``tq_f32_gemm``). Matrices may be row-strided views (column slices of
    wider matrices): their row stride becomes lda / ldb / ldc."""
    fn = "tinyq.f32.gemm"
    a, lda = A.rows(a, F32, fn, "a")
    b, ldb = A.rows(b, F32, fn, "b")
    m, k = a.shape
    n, kb = b.shape
    if kb != k:
        raise ShapeError(fn, f"a is {a.shape} and b is {b.shape}: their "
                             "second extents must agree")
    bias = G.bias_in(bias, F32, n, fn)
    if out is None:
        out = np.empty((m, n), dtype=np.float32)
    out, ldc = A.rows(out, F32, fn, "out", writeable=True)
    if out.shape != (m, n):
        raise ShapeError(fn, f"out must have shape {(m, n)}, got {out.shape}")
    check(_lib_.tq_f32_gemm(A.extent(m, fn, "m"), A.extent(n, fn, "n"),
                            A.extent(k, fn, "k"), A.ptr(a), lda, A.ptr(b),
                            ldb, A.ptr(bias), _act(act, fn), A.ptr(out), ldc),
          "tq_f32_gemm")
    return out


def _scratch_query(cfn, x_shape, w_shape, stride, padding, dilation, groups,
                   pooled, fn):
    """Bytes of scratch a conv kernel needs for an NHWC input shape and an
    OHWI weight shape."""
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ShapeError(fn, "x_shape and weight_shape must have 4 extents")
    conv, oh, ow = G.conv_params(x_shape, w_shape[1], w_shape[2], stride,
                                 padding, dilation, groups, fn)
    out = (x_shape[0], oh // 2, ow // 2, w_shape[0]) if pooled else \
        (x_shape[0], oh, ow, w_shape[0])
    din, dw = A.dims(x_shape, fn, "x"), A.dims(w_shape, fn, "weight")
    dout = A.dims(out, fn, "out")
    need = ctypes.c_size_t()
    check(cfn(ctypes.byref(conv), ctypes.byref(din), ctypes.byref(dw),
              ctypes.byref(dout), ctypes.byref(need)), cfn.__name__)
    return need.value


@G.documents_padding
def conv2d_scratch_size(x_shape, weight_shape, *, stride=1, padding=0,
                        dilation=1, groups=1):
    """Bytes of scratch :func:`conv2d` allocates for these NHWC / OHWI
    shapes (``tq_f32_conv2d_scratch_size``)."""
    return _scratch_query(_lib_.tq_f32_conv2d_scratch_size, x_shape,
                          weight_shape, stride, padding, dilation, groups,
                          False, "tinyq.f32.conv2d_scratch_size")


@G.documents_padding
def conv2d_relu_maxpool2_scratch_size(x_shape, weight_shape, *, stride=1,
                                      padding=0, dilation=1):
    """Bytes of scratch :func:`conv2d_relu_maxpool2` allocates
    (``tq_f32_conv2d_relu_maxpool2_scratch_size``)."""
    return _scratch_query(_lib_.tq_f32_conv2d_relu_maxpool2_scratch_size,
                          x_shape, weight_shape, stride, padding, dilation, 1,
                          True, "tinyq.f32.conv2d_relu_maxpool2_scratch_size")


def _conv_setup(x, w, bias, stride, padding, dilation, groups, layout, fn,
                depthwise=False):
    layout = G.layout_of(layout, fn)
    x = G.activation_in(x, F32, layout, fn)
    w = (G.dw_weights_in if depthwise else G.conv_weights_in)(w, F32, layout,
                                                               fn)
    cout = w.shape[3] if depthwise else w.shape[0]
    bias = G.bias_in(bias, F32, cout, fn)
    conv, oh, ow = G.conv_params(x.shape, w.shape[1], w.shape[2], stride,
                                 padding, dilation, groups, fn)
    din = A.dims(x.shape, fn, "x")
    dw = A.dims(w.shape, fn, "weight")
    return layout, x, w, bias, conv, oh, ow, cout, din, dw


@G.documents_padding
def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1,
           groups=1, act=None, layout="NHWC", out=None):
    """2-D convolution (``tq_f32_conv2d``): x ``{N, H, W, Cin}``, weight
    OHWI ``{Cout, KH, KW, Cin/groups}``, bias ``{Cout}``."""
    fn = "tinyq.f32.conv2d"
    layout, x, w, bias, conv, oh, ow, cout, din, dw = _conv_setup(
        x, weight, bias, stride, padding, dilation, groups, layout, fn)
    res = G.Output(out, (x.shape[0], oh, ow, cout), F32, layout, fn)
    dout = A.dims(res.nhwc.shape, fn, "out")
    need = ctypes.c_size_t()
    check(_lib_.tq_f32_conv2d_scratch_size(ctypes.byref(conv),
                                           ctypes.byref(din),
                                           ctypes.byref(dw),
                                           ctypes.byref(dout),
                                           ctypes.byref(need)),
          "tq_f32_conv2d_scratch_size")
    buf, scratch = A.scratch(need.value)
    check(_lib_.tq_f32_conv2d(ctypes.byref(conv), ctypes.byref(din),
                              A.ptr(x), ctypes.byref(dw), A.ptr(w),
                              A.ptr(bias), _act(act, fn), ctypes.byref(dout),
                              A.ptr(res.nhwc), scratch, need.value),
          "tq_f32_conv2d")
    return res.result()


@G.documents_padding
def depthwise_conv2d(x, weight, bias=None, *, stride=1, padding=0,
                     dilation=1, act=None, layout="NHWC", out=None):
    """Depthwise convolution (``tq_f32_depthwise_conv2d``): weight
    ``{1, KH, KW, Cout}`` with Cout = Cin·M (PyTorch's ``{Cout, 1, KH, KW}``
    with ``layout="NCHW"``)."""
    fn = "tinyq.f32.depthwise_conv2d"
    layout, x, w, bias, conv, oh, ow, cout, din, dw = _conv_setup(
        x, weight, bias, stride, padding, dilation, 1, layout, fn,
        depthwise=True)
    res = G.Output(out, (x.shape[0], oh, ow, cout), F32, layout, fn)
    dout = A.dims(res.nhwc.shape, fn, "out")
    check(_lib_.tq_f32_depthwise_conv2d(ctypes.byref(conv), ctypes.byref(din),
                                        A.ptr(x), ctypes.byref(dw), A.ptr(w),
                                        A.ptr(bias), _act(act, fn),
                                        ctypes.byref(dout), A.ptr(res.nhwc)),
          "tq_f32_depthwise_conv2d")
    return res.result()


def fc_shapes(x, w, fn):
    """(batch, in_features, out_features, out shape) of a fully connected
    layer; x is [batch, in] or [in]."""
    if x.ndim not in (1, 2):
        raise ShapeError(fn, f"x must be [batch, in] or [in], got {x.shape}")
    if w.ndim != 2:
        raise ShapeError(fn, f"weight must be [out, in], got {w.shape}")
    batch = x.shape[0] if x.ndim == 2 else 1
    if x.shape[-1] != w.shape[1]:
        raise ShapeError(fn, f"x has {x.shape[-1]} features, weight "
                             f"{w.shape} expects {w.shape[1]}")
    out_shape = (batch, w.shape[0]) if x.ndim == 2 else (w.shape[0],)
    return (A.extent(batch, fn, "batch"), A.extent(w.shape[1], fn, "in"),
            A.extent(w.shape[0], fn, "out"), out_shape)


def fully_connected(x, weight, bias=None, act=None, out=None):
    """``act(x @ weight.T + bias)`` with x ``[batch, in]`` (or ``[in]``),
    weight ``[out, in]`` (``tq_f32_fully_connected``)."""
    fn = "tinyq.f32.fully_connected"
    A.array(x, F32, fn, "x")
    A.array(weight, F32, fn, "weight")
    batch, nin, nout, shape = fc_shapes(x, weight, fn)
    bias = G.bias_in(bias, F32, nout, fn)
    out = A.out_array(out, shape, F32, fn)
    check(_lib_.tq_f32_fully_connected(batch, nin, nout, A.ptr(x),
                                       A.ptr(weight), A.ptr(bias),
                                       _act(act, fn), A.ptr(out)),
          "tq_f32_fully_connected")
    return out


def _pool(cfn, x, kernel_size, stride, padding, act, layout, out, fn):
    layout = G.layout_of(layout, fn)
    x = G.activation_in(x, F32, layout, fn)
    pool, oh, ow = G.pool_params(x.shape, kernel_size, stride, padding, fn)
    res = G.Output(out, (x.shape[0], oh, ow, x.shape[3]), F32, layout, fn)
    din, dout = A.dims(x.shape, fn, "x"), A.dims(res.nhwc.shape, fn, "out")
    check(cfn(ctypes.byref(pool), ctypes.byref(din), A.ptr(x), _act(act, fn),
              ctypes.byref(dout), A.ptr(res.nhwc)), cfn.__name__)
    return res.result()


@G.documents_padding
def max_pool(x, kernel_size, stride=None, padding=0, act=None,
             layout="NHWC", out=None):
    """Max pool (``tq_f32_max_pool``); stride defaults to the kernel size,
    padded taps are ignored."""
    return _pool(_lib_.tq_f32_max_pool, x, kernel_size, stride, padding, act,
                 layout, out, "tinyq.f32.max_pool")


@G.documents_padding
def avg_pool(x, kernel_size, stride=None, padding=0, act=None,
             layout="NHWC", out=None):
    """Average pool over the non-padded taps (``tq_f32_avg_pool``; PyTorch's
    ``count_include_pad=False``)."""
    return _pool(_lib_.tq_f32_avg_pool, x, kernel_size, stride, padding, act,
                 layout, out, "tinyq.f32.avg_pool")


def add(a, b, act=None, out=None):
    """Elementwise ``act(a + b)`` of two float32 arrays of one shape
    (``tq_f32_add``); ``out`` may be ``a`` or ``b``."""
    fn = "tinyq.f32.add"
    A.array(a, F32, fn, "a")
    A.array(b, F32, fn, "b")
    if a.shape != b.shape:
        raise ShapeError(fn, f"shapes differ: {a.shape} and {b.shape}")
    out = A.out_array(out, a.shape, F32, fn)
    check(_lib_.tq_f32_add(a.size, A.ptr(a), A.ptr(b), _act(act, fn),
                           A.ptr(out)), "tq_f32_add")
    return out


def softmax(x, out=None):
    """Row-wise softmax of a ``[rows, cols]`` (or 1-D) float32 array
    (``tq_f32_softmax``); ``out`` may be ``x``."""
    fn = "tinyq.f32.softmax"
    A.array(x, F32, fn, "x", ndim=(1, 2))
    rows, cols = (1, x.shape[0]) if x.ndim == 1 else x.shape
    out = A.out_array(out, x.shape, F32, fn)
    check(_lib_.tq_f32_softmax(A.extent(rows, fn, "rows"),
                               A.extent(cols, fn, "cols"), A.ptr(x),
                               A.ptr(out)), "tq_f32_softmax")
    return out


@G.documents_padding
def conv2d_relu_maxpool2(x, weight, bias=None, *, stride=1, padding=0,
                         dilation=1, act=None, layout="NHWC", out=None):
    """The fused conv2d + ReLU + 2x2 max pool of stride 2
    (``tq_f32_conv2d_relu_maxpool2``), bit-identical to :func:`conv2d`
    then :func:`max_pool`. ``act=None`` means ReLU here."""
    fn = "tinyq.f32.conv2d_relu_maxpool2"
    layout, x, w, bias, conv, oh, ow, cout, din, dw = _conv_setup(
        x, weight, bias, stride, padding, dilation, 1, layout, fn)
    res = G.Output(out, (x.shape[0], oh // 2, ow // 2, cout), F32, layout,
                   fn)
    dout = A.dims(res.nhwc.shape, fn, "out")
    need = ctypes.c_size_t()
    check(_lib_.tq_f32_conv2d_relu_maxpool2_scratch_size(
        ctypes.byref(conv), ctypes.byref(din), ctypes.byref(dw),
        ctypes.byref(dout), ctypes.byref(need)),
        "tq_f32_conv2d_relu_maxpool2_scratch_size")
    buf, scratch = A.scratch(need.value)
    check(_lib_.tq_f32_conv2d_relu_maxpool2(
        ctypes.byref(conv), ctypes.byref(din), A.ptr(x), ctypes.byref(dw),
        A.ptr(w), A.ptr(bias), _act(act, fn), ctypes.byref(dout),
        A.ptr(res.nhwc), scratch, need.value),
        "tq_f32_conv2d_relu_maxpool2")
    return res.result()
