# The int8 kernels on numpy arrays, TFLite int8 semantics: GEMM (raw int32
# and requantized), conv2d, depthwise, fully connected, pooling, add,
# quantize / dequantize at the network's edges, and the fused conv + ReLU +
# 2x2 max pool. Scratch memory is sized by the library's queries.
#
# SPDX-License-Identifier: Apache-2.0
"""s8 kernels (``tinyq.s8``).

Activations are asymmetric int8: kernels take the input's zero point
(``input_zero_point``; the C offset is its negation) and an
:class:`~tinyq.OutputStage` carrying multipliers, shifts, the output zero
point and the clamp. Weights are symmetric int8, biases int32 at scale
``s_in · s_w[c]``. Layouts and ``out=`` work as in :mod:`tinyq.f32`.
"""

import ctypes

import numpy as np

from . import _arrays as A
from . import _geometry as G
from . import _lib
from .constants import Rounding
from .errors import ParamError, ShapeError, check
from .kernels_f32 import _scratch_query, fc_shapes
from .requant import OutputStage, _stage

_lib_ = _lib.lib
S8, S32, F32 = A.S8, A.S32, A.F32


def _offset(zero_point, fn, name):
    """The C offset ``-zero_point`` (the kernels check its range)."""
    return A.int32(-A.int32(zero_point, fn, name), fn, name)


def gemm_s32(a, b, a_zero_point=0, b_zero_point=0, bias=None, out=None):
    """Raw int32 GEMM, ``(a - a_zp) @ (b - b_zp).T + bias`` with int8 a
    ``[m, k]``, b ``[n, k]``, int32 bias ``[n]`` (``tq_s8_gemm_s32``).
    Rows may be strided."""
    fn = "tinyq.s8.gemm_s32"
    a, lda = A.rows(a, S8, fn, "a")
    b, ldb = A.rows(b, S8, fn, "b")
    m, k, n = a.shape[0], a.shape[1], b.shape[0]
    if b.shape[1] != k:
        raise ShapeError(fn, f"a is {a.shape} and b is {b.shape}: their "
                             "second extents must agree")
    bias = G.bias_in(bias, S32, n, fn)
    if out is None:
        out = np.empty((m, n), dtype=np.int32)
    out, ldc = A.rows(out, S32, fn, "out", writeable=True)
    if out.shape != (m, n):
        raise ShapeError(fn, f"out must have shape {(m, n)}, got {out.shape}")
    check(_lib_.tq_s8_gemm_s32(
        A.extent(m, fn, "m"), A.extent(n, fn, "n"), A.extent(k, fn, "k"),
        A.ptr(a), lda, _offset(a_zero_point, fn, "a_zero_point"), A.ptr(b),
        ldb, _offset(b_zero_point, fn, "b_zero_point"), A.ptr(bias),
        A.ptr(out), ldc), "tq_s8_gemm_s32")
    return out


def gemm(a, b, output_stage, a_zero_point=0, b_zero_point=0, bias=None,
         out=None):
    """Requantized GEMM: :func:`gemm_s32` then ``output_stage`` per column
    (``tq_s8_gemm``); int8 result ``[m, n]``."""
    fn = "tinyq.s8.gemm"
    a, lda = A.rows(a, S8, fn, "a")
    b, ldb = A.rows(b, S8, fn, "b")
    m, k, n = a.shape[0], a.shape[1], b.shape[0]
    if b.shape[1] != k:
        raise ShapeError(fn, f"a is {a.shape} and b is {b.shape}: their "
                             "second extents must agree")
    bias = G.bias_in(bias, S32, n, fn)
    os_ = _stage(output_stage, fn)._c(n, fn)
    if out is None:
        out = np.empty((m, n), dtype=np.int8)
    out, ldc = A.rows(out, S8, fn, "out", writeable=True)
    if out.shape != (m, n):
        raise ShapeError(fn, f"out must have shape {(m, n)}, got {out.shape}")
    mm, nn, kk = A.extent(m, fn, "m"), A.extent(n, fn, "n"), A.extent(k, fn,
                                                                      "k")
    need = ctypes.c_size_t()
    check(_lib_.tq_s8_gemm_scratch_size(mm, nn, kk, ctypes.byref(need)),
          "tq_s8_gemm_scratch_size")
    buf, scratch = A.scratch(need.value)
    check(_lib_.tq_s8_gemm(
        mm, nn, kk, A.ptr(a), lda, _offset(a_zero_point, fn, "a_zero_point"),
        A.ptr(b), ldb, _offset(b_zero_point, fn, "b_zero_point"),
        A.ptr(bias), ctypes.byref(os_), A.ptr(out), ldc, scratch,
        need.value), "tq_s8_gemm")
    return out


def gemm_scratch_size(m, n, k):
    """Bytes of scratch :func:`gemm` allocates (``tq_s8_gemm_scratch_size``)."""
    fn = "tq_s8_gemm_scratch_size"
    need = ctypes.c_size_t()
    check(_lib_.tq_s8_gemm_scratch_size(A.extent(m, fn, "m"),
                                        A.extent(n, fn, "n"),
                                        A.extent(k, fn, "k"),
                                        ctypes.byref(need)), fn)
    return need.value


@G.documents_padding
def conv2d_scratch_size(x_shape, weight_shape, *, stride=1, padding=0,
                        dilation=1, groups=1):
    """Bytes of scratch :func:`conv2d` allocates for these NHWC / OHWI
    shapes (``tq_s8_conv2d_scratch_size``)."""
    return _scratch_query(_lib_.tq_s8_conv2d_scratch_size, x_shape,
                          weight_shape, stride, padding, dilation, groups,
                          False, "tinyq.s8.conv2d_scratch_size")


@G.documents_padding
def conv2d_relu_maxpool2_scratch_size(x_shape, weight_shape, *, stride=1,
                                      padding=0, dilation=1):
    """Bytes of scratch :func:`conv2d_relu_maxpool2` allocates
    (``tq_s8_conv2d_relu_maxpool2_scratch_size``)."""
    return _scratch_query(_lib_.tq_s8_conv2d_relu_maxpool2_scratch_size,
                          x_shape, weight_shape, stride, padding, dilation, 1,
                          True, "tinyq.s8.conv2d_relu_maxpool2_scratch_size")


def _conv_setup(x, w, bias, output_stage, stride, padding, dilation, groups,
                layout, fn, depthwise=False):
    layout = G.layout_of(layout, fn)
    x = G.activation_in(x, S8, layout, fn)
    w = (G.dw_weights_in if depthwise else G.conv_weights_in)(w, S8, layout,
                                                               fn)
    cout = w.shape[3] if depthwise else w.shape[0]
    bias = G.bias_in(bias, S32, cout, fn)
    os_ = _stage(output_stage, fn)._c(cout, fn)
    conv, oh, ow = G.conv_params(x.shape, w.shape[1], w.shape[2], stride,
                                 padding, dilation, groups, fn)
    return (layout, x, w, bias, os_, conv, oh, ow, cout,
            A.dims(x.shape, fn, "x"), A.dims(w.shape, fn, "weight"))


@G.documents_padding
def conv2d(x, weight, output_stage, *, input_zero_point=0, bias=None,
           stride=1, padding=0, dilation=1, groups=1, layout="NHWC",
           out=None):
    """int8 2-D convolution, TFLite CONV_2D (``tq_s8_conv2d``): x
    ``{N, H, W, Cin}`` codes, weight OHWI symmetric codes, int32 bias."""
    fn = "tinyq.s8.conv2d"
    layout, x, w, bias, os_, conv, oh, ow, cout, din, dw = _conv_setup(
        x, weight, bias, output_stage, stride, padding, dilation, groups,
        layout, fn)
    offset = _offset(input_zero_point, fn, "input_zero_point")
    res = G.Output(out, (x.shape[0], oh, ow, cout), S8, layout, fn)
    dout = A.dims(res.nhwc.shape, fn, "out")
    need = ctypes.c_size_t()
    check(_lib_.tq_s8_conv2d_scratch_size(ctypes.byref(conv),
                                          ctypes.byref(din), ctypes.byref(dw),
                                          ctypes.byref(dout),
                                          ctypes.byref(need)),
          "tq_s8_conv2d_scratch_size")
    buf, scratch = A.scratch(need.value)
    check(_lib_.tq_s8_conv2d(ctypes.byref(conv), ctypes.byref(din), A.ptr(x),
                             offset, ctypes.byref(dw), A.ptr(w), A.ptr(bias),
                             ctypes.byref(os_), ctypes.byref(dout),
                             A.ptr(res.nhwc), scratch, need.value),
          "tq_s8_conv2d")
    return res.result()


@G.documents_padding
def depthwise_conv2d(x, weight, output_stage, *, input_zero_point=0,
                     bias=None, stride=1, padding=0, dilation=1,
                     layout="NHWC", out=None):
    """int8 depthwise convolution, TFLite DEPTHWISE_CONV_2D
    (``tq_s8_depthwise_conv2d``): weight ``{1, KH, KW, Cout}``."""
    fn = "tinyq.s8.depthwise_conv2d"
    layout, x, w, bias, os_, conv, oh, ow, cout, din, dw = _conv_setup(
        x, weight, bias, output_stage, stride, padding, dilation, 1, layout,
        fn, depthwise=True)
    offset = _offset(input_zero_point, fn, "input_zero_point")
    res = G.Output(out, (x.shape[0], oh, ow, cout), S8, layout, fn)
    dout = A.dims(res.nhwc.shape, fn, "out")
    check(_lib_.tq_s8_depthwise_conv2d(
        ctypes.byref(conv), ctypes.byref(din), A.ptr(x), offset,
        ctypes.byref(dw), A.ptr(w), A.ptr(bias), ctypes.byref(os_),
        ctypes.byref(dout), A.ptr(res.nhwc)), "tq_s8_depthwise_conv2d")
    return res.result()


def fully_connected(x, weight, output_stage, *, input_zero_point=0,
                    weight_zero_point=0, bias=None, out=None):
    """int8 fully connected, TFLite FULLY_CONNECTED
    (``tq_s8_fully_connected``): x ``[batch, in]`` (or ``[in]``), weight
    ``[out, in]``; the output stage is per tensor or per output feature."""
    fn = "tinyq.s8.fully_connected"
    A.array(x, S8, fn, "x")
    A.array(weight, S8, fn, "weight")
    batch, nin, nout, shape = fc_shapes(x, weight, fn)
    bias = G.bias_in(bias, S32, nout, fn)
    os_ = _stage(output_stage, fn)._c(nout, fn)
    out = A.out_array(out, shape, S8, fn)
    check(_lib_.tq_s8_fully_connected(
        batch, nin, nout, A.ptr(x),
        _offset(input_zero_point, fn, "input_zero_point"), A.ptr(weight),
        _offset(weight_zero_point, fn, "weight_zero_point"), A.ptr(bias),
        ctypes.byref(os_), A.ptr(out)), "tq_s8_fully_connected")
    return out


def pack_weights(weight):
    """int8 weights ``[out, in]`` (codes as they are, whatever their zero
    point) packed once, ahead of inference,
    for :func:`fully_connected_packed` (``tq_s8_pack_weights``): a uint8
    array in tinyq's fixed layout (64-byte header, row sums, 16 x 4 blocks),
    the same for every kernel path, so it can be stored in a file."""
    fn = "tinyq.s8.pack_weights"
    weight, ldw = A.rows(weight, S8, fn, "weight")
    n, k = A.extent(weight.shape[0], fn, "out"), A.extent(weight.shape[1], fn, "in")
    size = ctypes.c_size_t()
    check(_lib_.tq_s8_packed_weights_size(n, k, ctypes.byref(size)),
          "tq_s8_packed_weights_size")
    packed = np.empty(size.value, dtype=np.uint8)
    check(_lib_.tq_s8_pack_weights(n, k, A.ptr(weight), ldw,
                                   packed.ctypes.data, packed.size),
          "tq_s8_pack_weights")
    return packed


def fully_connected_packed(x, packed, output_stage, *, input_zero_point=0,
                           weight_zero_point=0, bias=None, out=None):
    """int8 fully connected on weights from :func:`pack_weights`
    (``tq_s8_fully_connected_packed``, or with a nonzero
    ``weight_zero_point`` ``tq_s8_fully_connected_packed_offset``): bit for
    bit :func:`fully_connected` with the unpacked weights and the same
    ``weight_zero_point`` (asymmetric weights are packed as they are). x is
    ``[batch, in]`` (or ``[in]``); the output has the packed matrix's
    ``out`` features."""
    fn = "tinyq.s8.fully_connected_packed"
    w_offset = _offset(weight_zero_point, fn, "weight_zero_point")
    A.array(x, S8, fn, "x", ndim=(1, 2))
    A.array(packed, A.U8, fn, "packed", ndim=1)
    batch = A.extent(x.shape[0] if x.ndim == 2 else 1, fn, "batch")
    nin = A.extent(x.shape[-1], fn, "in")
    # The header says how many features come out. A header the buffer
    # cannot back (short, corrupt) is for the library to refuse, before
    # anything is allocated for its output.
    nout = int(np.frombuffer(packed[8:12].tobytes(), "<i4")[0]) \
        if packed.size >= 64 else 1
    size = ctypes.c_size_t()
    if (nout < 1 or _lib_.tq_s8_packed_weights_size(
            nout, nin, ctypes.byref(size)) != 0 or packed.size < size.value):
        nout = max(nout, 1)
        stub = np.empty(1, dtype=S8)
        # A per-tensor stage: the library validates the stage for the
        # header's feature count before it reads the header, and a
        # per-channel one sized for another count would be read past its
        # end. The call exists only to get the library's error.
        os_ = OutputStage(2**30, 0)._c(1, fn)
        check(_lib_.tq_s8_fully_connected_packed(
            1, nin, nout, A.ptr(x), _offset(input_zero_point, fn,
                                            "input_zero_point"),
            packed.ctypes.data, packed.size, None, ctypes.byref(os_),
            A.ptr(stub)), "tq_s8_fully_connected_packed")
        raise ShapeError(fn, "packed is not a complete packed matrix")
    bias = G.bias_in(bias, S32, nout, fn)
    os_ = _stage(output_stage, fn)._c(nout, fn)
    out = A.out_array(out, (batch, nout) if x.ndim == 2 else (nout,), S8, fn)
    in_offset = _offset(input_zero_point, fn, "input_zero_point")
    if w_offset == 0:
        check(_lib_.tq_s8_fully_connected_packed(
            batch, nin, nout, A.ptr(x), in_offset, packed.ctypes.data,
            packed.size, A.ptr(bias), ctypes.byref(os_), A.ptr(out)),
            "tq_s8_fully_connected_packed")
    else:
        check(_lib_.tq_s8_fully_connected_packed_offset(
            batch, nin, nout, A.ptr(x), in_offset, packed.ctypes.data,
            packed.size, w_offset, A.ptr(bias), ctypes.byref(os_),
            A.ptr(out)), "tq_s8_fully_connected_packed_offset")
    return out


def _pool(cfn, x, kernel_size, stride, padding, act_min, act_max, layout,
          out, fn):
    layout = G.layout_of(layout, fn)
    x = G.activation_in(x, S8, layout, fn)
    pool, oh, ow = G.pool_params(x.shape, kernel_size, stride, padding, fn)
    res = G.Output(out, (x.shape[0], oh, ow, x.shape[3]), S8, layout, fn)
    din, dout = A.dims(x.shape, fn, "x"), A.dims(res.nhwc.shape, fn, "out")
    check(cfn(ctypes.byref(pool), ctypes.byref(din), A.ptr(x),
              A.int32(act_min, fn, "act_min"),
              A.int32(act_max, fn, "act_max"), ctypes.byref(dout),
              A.ptr(res.nhwc)), cfn.__name__)
    return res.result()


@G.documents_padding
def max_pool(x, kernel_size, stride=None, padding=0, act_min=-128,
             act_max=127, layout="NHWC", out=None):
    """int8 max pool, then the clamp (``tq_s8_max_pool``); the output keeps
    the input's scale and zero point."""
    return _pool(_lib_.tq_s8_max_pool, x, kernel_size, stride, padding,
                 act_min, act_max, layout, out, "tinyq.s8.max_pool")


@G.documents_padding
def avg_pool(x, kernel_size, stride=None, padding=0, act_min=-128,
             act_max=127, layout="NHWC", out=None):
    """int8 average pool, rounding half away from zero (``tq_s8_avg_pool``)."""
    return _pool(_lib_.tq_s8_avg_pool, x, kernel_size, stride, padding,
                 act_min, act_max, layout, out, "tinyq.s8.avg_pool")


class AddParams:
    """Parameters of TFLite's int8 ADD (``tq_s8_add_params``); make them
    with :meth:`from_scales`. The fields are readable attributes."""

    _FIELDS = [f for f, _ in _lib.S8AddParams._fields_]

    def __init__(self, **fields):
        fn = "tinyq.s8.AddParams"
        unknown = set(fields) - set(self._FIELDS)
        if unknown:
            raise ParamError(fn, f"unknown fields {sorted(unknown)}")
        missing = set(self._FIELDS) - set(fields)
        if missing:
            raise ParamError(fn, f"missing fields {sorted(missing)}")
        self._c = _lib.S8AddParams(**{k: A.int32(v, fn, k)
                                      for k, v in fields.items()})

    @classmethod
    def from_scales(cls, scale1, zero_point1, scale2, zero_point2, scale_out,
                    zero_point_out, act_min=-128, act_max=127,
                    rounding=Rounding.DOUBLE):
        """Derive the parameters as TFLite's Prepare does
        (``tq_s8_add_params_from_scales``)."""
        fn = "tq_s8_add_params_from_scales"
        c = _lib.S8AddParams()
        check(_lib_.tq_s8_add_params_from_scales(
            A.real(scale1, fn, "scale1"), A.int32(zero_point1, fn,
                                                  "zero_point1"),
            A.real(scale2, fn, "scale2"), A.int32(zero_point2, fn,
                                                  "zero_point2"),
            A.real(scale_out, fn, "scale_out"),
            A.int32(zero_point_out, fn, "zero_point_out"),
            A.int32(act_min, fn, "act_min"), A.int32(act_max, fn, "act_max"),
            A.enum_value(rounding, Rounding, fn, "rounding"),
            ctypes.byref(c)), fn)
        p = cls.__new__(cls)
        p._c = c
        return p

    def __getattr__(self, name):
        if name in AddParams._FIELDS:
            return getattr(self.__dict__["_c"], name)
        raise AttributeError(name)

    def as_dict(self):
        return {f: getattr(self._c, f) for f in self._FIELDS}

    def __repr__(self):
        return "AddParams(" + ", ".join(f"{k}={v}" for k, v in
                                        self.as_dict().items()) + ")"


def add(a, b, params, out=None):
    """int8 elementwise add with TFLite ADD semantics (``tq_s8_add``);
    ``out`` may be ``a`` or ``b``."""
    fn = "tinyq.s8.add"
    A.array(a, S8, fn, "a")
    A.array(b, S8, fn, "b")
    if a.shape != b.shape:
        raise ShapeError(fn, f"shapes differ: {a.shape} and {b.shape}")
    if not isinstance(params, AddParams):
        raise ParamError(fn, f"params must be an AddParams, got "
                             f"{type(params).__name__}")
    out = A.out_array(out, a.shape, S8, fn)
    check(_lib_.tq_s8_add(a.size, A.ptr(a), A.ptr(b), ctypes.byref(params._c),
                          A.ptr(out)), "tq_s8_add")
    return out


def _convert(src, src_dtype, dst_dtype, cname, scale, zero_point, out, fn):
    """The shared body of quantize_f32 and dequantize_f32: one flat C call
    from an array of src_dtype into one of dst_dtype, same shape."""
    A.array(src, src_dtype, fn, "x" if src_dtype is F32 else "q")
    out = A.out_array(out, src.shape, dst_dtype, fn)
    check(getattr(_lib_, cname)(src.size, A.ptr(src), A.real(scale, fn, "scale"),
                                A.int32(zero_point, fn, "zero_point"),
                                A.ptr(out)), cname)
    return out


def quantize_f32(x, scale, zero_point, out=None):
    """float32 -> int8 as TFLite's QUANTIZE, per tensor, ties away from zero
    (``tq_s8_quantize_f32``)."""
    return _convert(x, F32, S8, "tq_s8_quantize_f32", scale, zero_point, out,
                    "tinyq.s8.quantize_f32")


def dequantize_f32(q, scale, zero_point, out=None):
    """int8 -> float32, ``(q - zero_point) * scale``
    (``tq_s8_dequantize_f32``)."""
    return _convert(q, S8, F32, "tq_s8_dequantize_f32", scale, zero_point, out,
                    "tinyq.s8.dequantize_f32")


@G.documents_padding
def conv2d_relu_maxpool2(x, weight, output_stage, *, input_zero_point=0,
                         bias=None, stride=1, padding=0, dilation=1,
                         layout="NHWC", out=None):
    """The fused int8 conv2d + ReLU + 2x2 max pool
    (``tq_s8_conv2d_relu_maxpool2``); the ReLU is the output stage's
    act_min (set it to the output zero point). Bit-exact with
    :func:`conv2d` then :func:`max_pool`."""
    fn = "tinyq.s8.conv2d_relu_maxpool2"
    layout, x, w, bias, os_, conv, oh, ow, cout, din, dw = _conv_setup(
        x, weight, bias, output_stage, stride, padding, dilation, 1, layout,
        fn)
    offset = _offset(input_zero_point, fn, "input_zero_point")
    res = G.Output(out, (x.shape[0], oh // 2, ow // 2, cout), S8, layout, fn)
    dout = A.dims(res.nhwc.shape, fn, "out")
    need = ctypes.c_size_t()
    check(_lib_.tq_s8_conv2d_relu_maxpool2_scratch_size(
        ctypes.byref(conv), ctypes.byref(din), ctypes.byref(dw),
        ctypes.byref(dout), ctypes.byref(need)),
        "tq_s8_conv2d_relu_maxpool2_scratch_size")
    buf, scratch = A.scratch(need.value)
    check(_lib_.tq_s8_conv2d_relu_maxpool2(
        ctypes.byref(conv), ctypes.byref(din), A.ptr(x), offset,
        ctypes.byref(dw), A.ptr(w), A.ptr(bias), ctypes.byref(os_),
        ctypes.byref(dout), A.ptr(res.nhwc), scratch, need.value),
        "tq_s8_conv2d_relu_maxpool2")
    return res.result()


__all__ = ["gemm_s32", "gemm", "gemm_scratch_size", "conv2d_scratch_size",
           "conv2d_relu_maxpool2_scratch_size", "conv2d", "depthwise_conv2d",
           "fully_connected", "max_pool", "avg_pool", "AddParams", "add",
           "quantize_f32", "dequantize_f32", "conv2d_relu_maxpool2",
           "OutputStage"]
