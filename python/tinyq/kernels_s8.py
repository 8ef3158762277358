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


def _int_pool(cfn, dtype, x, kernel_size, stride, padding, act_min, act_max,
              layout, out, fn):
    """An integer max or average pool of `dtype` activations (int8 here,
    int16 for kernels_s16) through the C function `cfn`."""
    layout = G.layout_of(layout, fn)
    x = G.activation_in(x, dtype, layout, fn)
    pool, oh, ow = G.pool_params(x.shape, kernel_size, stride, padding, fn)
    res = G.Output(out, (x.shape[0], oh, ow, x.shape[3]), dtype, layout, fn)
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
    return _int_pool(_lib_.tq_s8_max_pool, S8, x, kernel_size, stride,
                     padding, act_min, act_max, layout, out,
                     "tinyq.s8.max_pool")


@G.documents_padding
def avg_pool(x, kernel_size, stride=None, padding=0, act_min=-128,
             act_max=127, layout="NHWC", out=None):
    """int8 average pool, rounding half away from zero (``tq_s8_avg_pool``)."""
    return _int_pool(_lib_.tq_s8_avg_pool, S8, x, kernel_size, stride,
                     padding, act_min, act_max, layout, out,
                     "tinyq.s8.avg_pool")


class _TwoInputParams:
    """What AddParams and MulParams share: made by the C library's
    ``*_params_from_scales`` (TFLite's Prepare), fields readable as
    attributes."""

    _STRUCT = None       # the ctypes struct
    _FROM_SCALES = ""    # the C function that fills it

    @classmethod
    def from_scales(cls, scale1, zero_point1, scale2, zero_point2, scale_out,
                    zero_point_out, act_min=-128, act_max=127,
                    rounding=Rounding.DOUBLE):
        """Derive the parameters as TFLite's Prepare does."""
        fn = cls._FROM_SCALES
        c = cls._STRUCT()
        check(getattr(_lib_, fn)(
            A.real(scale1, fn, "scale1"),
            A.int32(zero_point1, fn, "zero_point1"),
            A.real(scale2, fn, "scale2"),
            A.int32(zero_point2, fn, "zero_point2"),
            A.real(scale_out, fn, "scale_out"),
            A.int32(zero_point_out, fn, "zero_point_out"),
            A.int32(act_min, fn, "act_min"), A.int32(act_max, fn, "act_max"),
            A.enum_value(rounding, Rounding, fn, "rounding"),
            ctypes.byref(c)), fn)
        p = cls.__new__(cls)
        p._c = c
        return p

    def __getattr__(self, name):
        if name in type(self)._FIELDS:
            return getattr(self.__dict__["_c"], name)
        raise AttributeError(name)

    def as_dict(self):
        return {f: getattr(self._c, f) for f in self._FIELDS}

    def __repr__(self):
        return type(self).__name__ + "(" + ", ".join(
            f"{k}={v}" for k, v in self.as_dict().items()) + ")"


class AddParams(_TwoInputParams):
    """Parameters of TFLite's int8 ADD (``tq_s8_add_params``); make them
    with :meth:`from_scales` (``tq_s8_add_params_from_scales``), or give
    every field. The fields are readable attributes."""

    _STRUCT = _lib.S8AddParams
    _FROM_SCALES = "tq_s8_add_params_from_scales"
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



# ---- more int8 ops (issue 12): mul, max/min, softmax, transpose conv, pad,
# transpose, concatenation, batch matmul, table lookup -----------------------

def _dims4(shape, fn, name):
    """A ``tq_dims`` of a shape of rank 0..4 (leading 1s)."""
    if len(shape) > 4:
        raise ShapeError(fn, f"{name} has {len(shape)} dimensions, at most "
                             "4 are supported")
    return A.dims((1,) * (4 - len(shape)) + tuple(shape), fn, name)


def _broadcast(a, b, fn):
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(fn, f"shapes {a.shape} and {b.shape} do not "
                             "broadcast") from None
    if len(shape) > 4:
        raise ShapeError(fn, f"at most 4 dimensions, got {shape}")
    r = len(shape)
    da = _dims4((1,) * (r - a.ndim) + a.shape, fn, "a")
    db = _dims4((1,) * (r - b.ndim) + b.shape, fn, "b")
    return shape, da, db


class MulParams(_TwoInputParams):
    """Parameters of TFLite's int8 MUL (``tq_s8_mul_params``); make them
    with :meth:`from_scales` (``tq_s8_mul_params_from_scales``). The fields
    are readable attributes."""

    _STRUCT = _lib.S8MulParams
    _FROM_SCALES = "tq_s8_mul_params_from_scales"
    _FIELDS = [f for f, _ in _lib.S8MulParams._fields_]

def mul(a, b, params, out=None):
    """int8 elementwise multiply with numpy broadcasting (up to 4-D),
    TFLite MUL (``tq_s8_mul``)."""
    fn = "tinyq.s8.mul"
    A.array(a, S8, fn, "a")
    A.array(b, S8, fn, "b")
    if not isinstance(params, MulParams):
        raise ParamError(fn, f"params must be a MulParams, got "
                             f"{type(params).__name__}")
    shape, da, db = _broadcast(a, b, fn)
    out = A.out_array(out, shape, S8, fn)
    dout = _dims4(shape, fn, "out")
    check(_lib_.tq_s8_mul(ctypes.byref(da), A.ptr(a), ctypes.byref(db),
                          A.ptr(b), ctypes.byref(params._c),
                          ctypes.byref(dout), A.ptr(out)), "tq_s8_mul")
    return out


def _maxmin(cfn, cname, a, b, out, fn):
    A.array(a, S8, fn, "a")
    A.array(b, S8, fn, "b")
    shape, da, db = _broadcast(a, b, fn)
    out = A.out_array(out, shape, S8, fn)
    dout = _dims4(shape, fn, "out")
    check(cfn(ctypes.byref(da), A.ptr(a), ctypes.byref(db), A.ptr(b),
              ctypes.byref(dout), A.ptr(out)), cname)
    return out


def maximum(a, b, out=None):
    """Elementwise maximum of int8 codes with broadcasting, TFLite MAXIMUM
    (``tq_s8_maximum``; both inputs share the output's parameters)."""
    return _maxmin(_lib_.tq_s8_maximum, "tq_s8_maximum", a, b, out,
                   "tinyq.s8.maximum")


def minimum(a, b, out=None):
    """Elementwise minimum, TFLite MINIMUM (``tq_s8_minimum``)."""
    return _maxmin(_lib_.tq_s8_minimum, "tq_s8_minimum", a, b, out,
                   "tinyq.s8.minimum")


def softmax(x, input_scale, beta=1.0, out=None, out_dtype=np.int8):
    """TFLite's integer softmax over the last axis (``tq_s8_softmax``,
    output scale 1/256 and zero point -128; with ``out_dtype=np.int16``
    ``tq_s8_softmax_s16``, scale 1/65536 and zero point -32768). No float
    at run time; ``out`` may be ``x`` for int8."""
    fn = "tinyq.s8.softmax"
    A.array(x, S8, fn, "x")
    if x.ndim < 1 or x.size == 0:
        raise ShapeError(fn, f"x must be a non-empty array, got {x.shape}")
    p = _lib.S8SoftmaxParams()
    check(_lib_.tq_s8_softmax_params_from_scale(
        A.real(input_scale, fn, "input_scale"), A.real(beta, fn, "beta"),
        ctypes.byref(p)), "tq_s8_softmax_params_from_scale")
    cols = x.shape[-1]
    rows = x.size // cols
    odt = np.dtype(out_dtype)
    if odt == S8:
        out = A.out_array(out, x.shape, S8, fn)
        check(_lib_.tq_s8_softmax(A.extent(rows, fn, "rows"),
                                  A.extent(cols, fn, "cols"), A.ptr(x),
                                  ctypes.byref(p), A.ptr(out)),
              "tq_s8_softmax")
    elif odt == A.S16:
        out = A.out_array(out, x.shape, A.S16, fn)
        check(_lib_.tq_s8_softmax_s16(A.extent(rows, fn, "rows"),
                                      A.extent(cols, fn, "cols"), A.ptr(x),
                                      ctypes.byref(p), A.ptr(out)),
              "tq_s8_softmax_s16")
    else:
        raise ParamError(fn, f"out_dtype must be int8 or int16, got {odt}")
    return out


def transpose_conv(x, weight, output_stage, output_size, *,
                   input_zero_point=0, bias=None, stride=1, padding=0,
                   out=None):
    """int8 transpose convolution, TFLite TRANSPOSE_CONV
    (``tq_s8_transpose_conv``), NHWC: x ``{N, H, W, Cin}``, weight OHWI
    ``{Cout, KH, KW, Cin}``, ``output_size`` ``(OH, OW)`` (TFLite's
    output_shape), ``padding`` the (top, left) padding of the equivalent
    forward conv (an int or a pair), ``stride`` an int or a pair."""
    fn = "tinyq.s8.transpose_conv"
    A.array(x, S8, fn, "x", ndim=4)
    A.array(weight, S8, fn, "weight", ndim=4)
    cout = weight.shape[0]
    bias = G.bias_in(bias, S32, cout, fn)
    os_ = _stage(output_stage, fn)._c(cout, fn)
    sh, sw = A.pair(stride, fn, "stride")
    pt, pl = A.pair(padding, fn, "padding")
    oh, ow = A.pair(output_size, fn, "output_size")
    conv = _lib.ConvParams(sh, sw, pt, 0, pl, 0, 1, 1, 1)
    out = A.out_array(out, (x.shape[0], oh, ow, cout), S8, fn)
    din = A.dims(x.shape, fn, "x")
    dw = A.dims(weight.shape, fn, "weight")
    dout = A.dims(out.shape, fn, "out")
    need = ctypes.c_size_t()
    check(_lib_.tq_s8_transpose_conv_scratch_size(ctypes.byref(dout),
                                                  ctypes.byref(need)),
          "tq_s8_transpose_conv_scratch_size")
    buf, scratch = A.scratch(need.value)
    check(_lib_.tq_s8_transpose_conv(
        ctypes.byref(conv), ctypes.byref(din), A.ptr(x),
        _offset(input_zero_point, fn, "input_zero_point"), ctypes.byref(dw),
        A.ptr(weight), A.ptr(bias), ctypes.byref(os_), ctypes.byref(dout),
        A.ptr(out), scratch, need.value), "tq_s8_transpose_conv")
    return out


def pad(x, pads, pad_value=0, out=None):
    """Constant padding of an int8 array of up to 4 dimensions, TFLite PAD
    (``tq_s8_pad``): ``pads`` holds one ``(before, after)`` pair per axis
    of ``x``; ``pad_value`` is the code written (TFLite: the zero point)."""
    fn = "tinyq.s8.pad"
    A.array(x, S8, fn, "x")
    pairs = [A.pair(p, fn, "pads") for p in pads]
    if len(pairs) != x.ndim or x.ndim > 4:
        raise ShapeError(fn, f"pads must give one (before, after) pair per "
                             f"axis of x (up to 4), got {len(pairs)} for "
                             f"{x.shape}")
    full = [(0, 0)] * (4 - x.ndim) + pairs
    c_pads = np.array([v for pr in full for v in pr], dtype=np.int32)
    shape = tuple(d + b + e for d, (b, e) in zip(x.shape, pairs))
    out = A.out_array(out, shape, S8, fn)
    din = _dims4(x.shape, fn, "x")
    dout = _dims4(shape, fn, "out")
    check(_lib_.tq_s8_pad(ctypes.byref(din), A.ptr(x), A.ptr(c_pads),
                          A.int32(pad_value, fn, "pad_value"),
                          ctypes.byref(dout), A.ptr(out)), "tq_s8_pad")
    return out


def transpose(x, perm, out=None):
    """Axis permutation of an int8, int16 or int32 array of up to 4
    dimensions, TFLite TRANSPOSE (``tq_s8_transpose``): as
    ``numpy.transpose(x, perm)``."""
    fn = "tinyq.s8.transpose"
    if not isinstance(x, np.ndarray) or x.dtype not in (S8, A.S16, S32):
        raise ParamError(fn, "x must be an int8, int16 or int32 ndarray")
    A.array(x, x.dtype, fn, "x")
    r = x.ndim
    perm = [A.int32(p, fn, "perm") for p in perm]
    if r > 4 or sorted(perm) != list(range(r)):
        raise ShapeError(fn, f"perm must be a permutation of the {r} axes "
                             f"(at most 4), got {perm}")
    lead = 4 - r
    c_perm = np.array(list(range(lead)) + [p + lead for p in perm],
                      dtype=np.int32)
    shape = tuple(x.shape[p] for p in perm)
    out = A.out_array(out, shape, x.dtype, fn)
    din = _dims4(x.shape, fn, "x")
    dout = _dims4(shape, fn, "out")
    check(_lib_.tq_s8_transpose(ctypes.byref(din), A.ptr(c_perm),
                                x.dtype.itemsize, A.ptr(x),
                                ctypes.byref(dout), A.ptr(out)),
          "tq_s8_transpose")
    return out


def concatenation(xs, axis, *, scales=None, zero_points=None, out_scale=None,
                  out_zero_point=None, out=None):
    """Concatenation of int8 arrays (same rank, up to 4) along ``axis``,
    TFLite CONCATENATION (``tq_s8_concatenation``): a plain copy, or with
    ``scales``/``zero_points`` per input and the output's, each input whose
    parameters differ is requantized as TFLite (in float)."""
    fn = "tinyq.s8.concatenation"
    xs = list(xs)
    if not xs:
        raise ShapeError(fn, "at least one input is required")
    for i, x in enumerate(xs):
        A.array(x, S8, fn, f"xs[{i}]")
    r = xs[0].ndim
    if r > 4 or any(x.ndim != r for x in xs):
        raise ShapeError(fn, "inputs must share one rank of at most 4")
    axis = A.int32(axis, fn, "axis")
    if axis < 0:
        axis += r
    if not 0 <= axis < r:
        raise ShapeError(fn, f"axis {axis} outside the {r} axes")
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    out = A.out_array(out, tuple(shape), S8, fn)
    dims = (_lib.Dims * len(xs))(*[_dims4(x.shape, fn, "xs") for x in xs])
    ptrs = (ctypes.POINTER(ctypes.c_int8) * len(xs))(
        *[A.ptr(x) for x in xs])
    sc = zp = None
    osc, ozp = 1.0, 0
    if scales is not None:
        sc = np.ascontiguousarray(scales, dtype=np.float32)
        zp = np.ascontiguousarray(
            zero_points if zero_points is not None else np.zeros(len(xs)),
            dtype=np.int32)
        if sc.shape != (len(xs),) or zp.shape != (len(xs),):
            raise ShapeError(fn, "scales and zero_points need one entry per "
                                 "input")
        if out_scale is None:
            raise ParamError(fn, "out_scale is required with scales")
        osc = A.real(out_scale, fn, "out_scale")
        ozp = A.int32(out_zero_point or 0, fn, "out_zero_point")
    dout = _dims4(tuple(shape), fn, "out")
    check(_lib_.tq_s8_concatenation(
        axis + 4 - r, len(xs), dims, ptrs, A.ptr(sc) if sc is not None
        else None, A.ptr(zp) if zp is not None else None, osc, ozp,
        ctypes.byref(dout), A.ptr(out)), "tq_s8_concatenation")
    return out


def _bmm_params(lhs, rhs, adj_x, adj_y, fn):
    """``tq_batch_matmul_params`` and the output shape of lhs ``[..., M, K]``
    (``[..., K, M]`` with adj_x) and rhs ``[..., K, N]`` (``[..., N, K]``
    with adj_y), up to 3 batch axes broadcast as numpy's matmul."""
    if lhs.ndim < 2 or rhs.ndim < 2 or lhs.ndim > 5 or rhs.ndim > 5:
        raise ShapeError(fn, "lhs and rhs need 2..5 dimensions")
    m, k = (lhs.shape[-1], lhs.shape[-2]) if adj_x else lhs.shape[-2:]
    k2, n = (rhs.shape[-1], rhs.shape[-2]) if adj_y else rhs.shape[-2:]
    if k != k2:
        raise ShapeError(fn, f"reduction lengths differ: {k} and {k2}")
    lb = (1,) * (5 - lhs.ndim) + lhs.shape[:-2]
    rb = (1,) * (5 - rhs.ndim) + rhs.shape[:-2]
    try:
        batch = np.broadcast_shapes(lhs.shape[:-2], rhs.shape[:-2])
    except ValueError:
        raise ShapeError(fn, "batch extents do not broadcast") from None
    p = _lib.BatchMatmulParams(
        (ctypes.c_int32 * 3)(*[A.extent(v, fn, "lhs batch") for v in lb]),
        (ctypes.c_int32 * 3)(*[A.extent(v, fn, "rhs batch") for v in rb]),
        A.extent(m, fn, "m"), A.extent(n, fn, "n"), A.extent(k, fn, "k"),
        int(bool(adj_x)), int(bool(adj_y)))
    return p, tuple(batch) + (m, n), n


def batch_matmul(lhs, rhs, output_stage, *, lhs_zero_point=0,
                 rhs_zero_point=0, adj_x=False, adj_y=False, out=None):
    """int8 batch matmul, TFLite BATCH_MATMUL (``tq_s8_batch_matmul``):
    ``(lhs - zp_l) @ (rhs - zp_r)`` over int32, then the output stage (per
    output column when per channel)."""
    fn = "tinyq.s8.batch_matmul"
    A.array(lhs, S8, fn, "lhs")
    A.array(rhs, S8, fn, "rhs")
    p, shape, n = _bmm_params(lhs, rhs, adj_x, adj_y, fn)
    os_ = _stage(output_stage, fn)._c(n, fn)
    out = A.out_array(out, shape, S8, fn)
    check(_lib_.tq_s8_batch_matmul(
        ctypes.byref(p), A.ptr(lhs), _offset(lhs_zero_point, fn,
                                             "lhs_zero_point"),
        A.ptr(rhs), _offset(rhs_zero_point, fn, "rhs_zero_point"),
        ctypes.byref(os_), A.ptr(out)), "tq_s8_batch_matmul")
    return out


def lookup(x, table, out=None):
    """int8 table lookup ``table[x + 128]`` (``tq_s8_lookup``); ``table``
    holds 256 int8 codes (the image of -128 first); ``out`` may be ``x``."""
    fn = "tinyq.s8.lookup"
    A.array(x, S8, fn, "x")
    A.array(table, S8, fn, "table", shape=(256,))
    out = A.out_array(out, x.shape, S8, fn)
    check(_lib_.tq_s8_lookup(x.size, A.ptr(x), A.ptr(table), A.ptr(out)),
          "tq_s8_lookup")
    return out


__all__ = ["gemm_s32", "gemm", "gemm_scratch_size", "conv2d_scratch_size",
           "conv2d_relu_maxpool2_scratch_size", "conv2d", "depthwise_conv2d",
           "fully_connected", "max_pool", "avg_pool", "AddParams", "add",
           "quantize_f32", "dequantize_f32", "conv2d_relu_maxpool2",
           "OutputStage",
           "MulParams", "mul", "maximum", "minimum", "softmax",
           "transpose_conv", "pad", "transpose", "concatenation",
           "batch_matmul", "lookup"]
