# Shared by the f32 and s8 kernel wrappers: PyTorch-style stride / padding /
# dilation arguments turned into tq_conv_params and tq_pool_params, output
# extents from the library, and the NCHW / OIHW layout conversions on the
# way in and out.
#
# SPDX-License-Identifier: Apache-2.0
"""Kernel geometry and layouts (internal)."""

import collections
import ctypes

import numpy as np

from . import _arrays as A
from . import _lib
from . import core
from .constants import GeometryField, Status
from .errors import ParamError, ShapeError, check

LAYOUTS = ("NHWC", "NCHW")

_lib_ = _lib.lib


class Padding(collections.namedtuple("Padding",
                                     ["top", "bottom", "left", "right"])):
    """Explicit padding of a convolution or pooling window, by name, so
    that no tuple order has to be remembered: ``Padding(top=1, bottom=2,
    left=0, right=1)``. Every kernel's ``padding=`` takes one.

    Frameworks order pads differently; build a Padding from theirs:

    * ``Padding.from_onnx(pads)``: ONNX ``pads = [top, left, bottom,
      right]`` (all begins, then all ends; ``x1`` is H, ``x2`` W);
    * ``Padding.from_torch_pad(pad)``: ``torch.nn.functional.pad``'s
      ``(left, right, top, bottom)`` (last dimension first), or
      ``(left, right)``;
    * ``Padding.same(in_hw, kernel, stride, dilation)``: TensorFlow SAME
      (odd pixel at the bottom / right);
    * ``Padding.cmsis(pad_hw, in_hw, kernel, out_hw, stride, dilation)``:
      CMSIS-NN's one pad per axis plus an output size.

    A plain 4-tuple given as ``padding=`` is read as tinyq's order
    ``(top, bottom, left, right)``, which is neither ONNX's nor PyTorch's.
    """
    __slots__ = ()

    def __new__(cls, top=0, bottom=0, left=0, right=0):
        fn = "tinyq.Padding"
        return super().__new__(cls, *(A.int32(v, fn, name) for v, name in (
            (top, "top"), (bottom, "bottom"), (left, "left"),
            (right, "right"))))

    @classmethod
    def from_onnx(cls, pads):
        """From ONNX Conv / MaxPool / AveragePool ``pads`` of a 2-D window:
        ``[top, left, bottom, right]`` (``[x1_begin, x2_begin, x1_end,
        x2_end]``)."""
        pads = list(pads)
        if len(pads) != 4:
            raise ParamError("tinyq.Padding.from_onnx", "ONNX 2-D pads are "
                             f"[top, left, bottom, right], got {pads!r}")
        top, left, bottom, right = pads
        return cls(top, bottom, left, right)

    @classmethod
    def from_torch_pad(cls, pad):
        """From ``torch.nn.functional.pad``'s ``pad`` of an NCHW tensor:
        ``(left, right, top, bottom)``, or ``(left, right)`` (width only)."""
        pad = list(pad)
        if len(pad) == 2:
            pad += [0, 0]
        if len(pad) != 4:
            raise ParamError("tinyq.Padding.from_torch_pad", "F.pad's pad is "
                             f"(left, right, top, bottom), got {pad!r}")
        left, right, top, bottom = pad
        return cls(top, bottom, left, right)

    @classmethod
    def same(cls, in_hw, kernel, stride=1, dilation=1):
        """TensorFlow SAME padding for an input of ``in_hw = (H, W)``:
        ``ceil(in / stride)`` outputs, the odd pixel at the bottom / right
        (``tq_conv_same_padding``)."""
        fn = "tinyq.Padding.same"
        h, w = A.pair(in_hw, fn, "in_hw")
        kh, kw = A.pair(kernel, fn, "kernel")
        sh, sw = A.pair(stride, fn, "stride")
        dh, dw = A.pair(dilation, fn, "dilation")
        top, bottom = conv_same_padding(h, kh, sh, dh)
        left, right = conv_same_padding(w, kw, sw, dw)
        return cls(top, bottom, left, right)

    @classmethod
    def cmsis(cls, pad_hw, in_hw, kernel, out_hw, stride=1, dilation=1):
        """CMSIS-NN's geometry: one pad per axis (``cmsis_nn_tile``
        padding, given here as (h, w) — CMSIS writes ``{w, h}``) and the
        output size; the bottom / right pads are those that give that
        output size (``tq_conv_pad_after``), with which tinyq computes what
        CMSIS-NN computes."""
        fn = "tinyq.Padding.cmsis"
        ph, pw = A.pair(pad_hw, fn, "pad_hw")
        h, w = A.pair(in_hw, fn, "in_hw")
        kh, kw = A.pair(kernel, fn, "kernel")
        oh, ow = A.pair(out_hw, fn, "out_hw")
        sh, sw = A.pair(stride, fn, "stride")
        dh, dw = A.pair(dilation, fn, "dilation")
        return cls(ph, conv_pad_after(h, kh, ph, oh, sh, dh), pw,
                   conv_pad_after(w, kw, pw, ow, sw, dw))

    def to_onnx(self):
        """``[top, left, bottom, right]``."""
        return [self.top, self.left, self.bottom, self.right]

    def to_torch_pad(self):
        """``(left, right, top, bottom)`` for ``torch.nn.functional.pad``."""
        return (self.left, self.right, self.top, self.bottom)


def conv_same_padding(size, kernel, stride=1, dilation=1, out=None):
    """TensorFlow SAME padding along one axis: ``(before, after)`` with
    ``total = max((out - 1)*stride + dilation*(kernel - 1) + 1 - size, 0)``,
    ``before = total // 2`` (``tq_conv_same_padding``). ``out`` defaults to
    SAME's ``ceil(size / stride)``."""
    fn = "tq_conv_same_padding"
    size = A.int32(size, fn, "size")
    stride = A.int32(stride, fn, "stride")
    if out is None:
        out = -(-size // stride) if stride > 0 else 0
    before, after = ctypes.c_int32(), ctypes.c_int32()
    check(_lib_.tq_conv_same_padding(
        size, A.int32(kernel, fn, "kernel"), stride,
        A.int32(dilation, fn, "dilation"), A.int32(out, fn, "out"),
        ctypes.byref(before), ctypes.byref(after)), fn)
    return before.value, after.value


def conv_pad_after(size, kernel, pad_before, out, stride=1, dilation=1):
    """The bottom / right pad that gives ``out`` outputs with ``pad_before``
    at the top / left, the smallest that does (``tq_conv_pad_after``); the
    CMSIS-NN convention of one pad per axis plus the output size."""
    fn = "tq_conv_pad_after"
    after = ctypes.c_int32()
    st = _lib_.tq_conv_pad_after(
        A.int32(size, fn, "size"), A.int32(kernel, fn, "kernel"),
        A.int32(stride, fn, "stride"), A.int32(dilation, fn, "dilation"),
        A.int32(pad_before, fn, "pad_before"), A.int32(out, fn, "out"),
        ctypes.byref(after))
    check(st, fn, f"no pad after gives {out} outputs from {size} with "
                  f"kernel {kernel}, stride {stride}, dilation {dilation} "
                  f"and pad before {pad_before}: even 0 gives more"
          if st == Status.ERR_SHAPE else None)
    return after.value


#: The padding forms every kernel accepts, for docstrings and errors.
PADDING_FORMS = ("an int (all four sides), a pair (h, w) (top = bottom = h, "
                 "left = right = w), a tinyq.Padding (named sides; "
                 "Padding.from_onnx / from_torch_pad convert those orders), "
                 "'valid', 'same', or a 4-tuple in tinyq's order (top, "
                 "bottom, left, right) -- not ONNX's [top, left, bottom, "
                 "right] nor F.pad's (left, right, top, bottom)")


#: The paragraph every kernel that takes ``padding=`` carries in its
#: docstring (added by :func:`documents_padding`).
PADDING_DOC = """

    ``padding`` is an int (all sides), a pair ``(h, w)``, ``"valid"``,
    ``"same"`` (TensorFlow's: the odd pixel at the bottom / right), a
    :class:`tinyq.Padding` (named sides), or a 4-tuple in tinyq's order
    ``(top, bottom, left, right)``. That is neither ONNX's ``pads``
    ``[top, left, bottom, right]`` (use ``tinyq.Padding.from_onnx(pads)``)
    nor ``torch.nn.functional.pad``'s ``(left, right, top, bottom)`` (use
    ``tinyq.Padding.from_torch_pad(pad)``)."""


def documents_padding(fn):
    """Append :data:`PADDING_DOC` to a kernel wrapper's docstring."""
    fn.__doc__ = (fn.__doc__ or "").rstrip() + PADDING_DOC
    return fn


#: What :func:`check_conv_geometry` and :func:`check_pool_geometry` return:
#: the status a kernel would give, the first inconsistent
#: :class:`GeometryField` (``OK`` when none), its value, the value it would
#: need (-1 when a range is needed instead), and for an output extent the
#: bottom / right pad that would give it (-1 when none does).
GeometryReport = collections.namedtuple(
    "GeometryReport", ["status", "field", "value", "expected", "pad_after"])


def _report(st, r):
    try:
        status = Status(st)
    except ValueError:
        status = st
    return GeometryReport(status, GeometryField(r.field), r.value,
                          r.expected, r.pad_after)


def _raw_dims(shape, fn, name):
    shape = tuple(shape)
    if len(shape) != 4:
        raise ShapeError(fn, f"{name} must be a 4-tuple, got {shape!r}")
    return _lib.Dims(*(A.int32(v, fn, name) for v in shape))


@documents_padding
def check_conv_geometry(in_shape, filter_shape, out_shape, *, stride=1,
                        padding=0, dilation=1, groups=1, depthwise=False):
    """Check a convolution's geometry as the kernels do and name the first
    wrong field (``tq_conv_check_geometry``); returns a
    :data:`GeometryReport` instead of raising. Shapes are tinyq's: NHWC
    input and output, OHWI filter (depthwise ``{1, KH, KW, C*M}``)."""
    fn = "tinyq.check_conv_geometry"
    din = _raw_dims(in_shape, fn, "in_shape")
    dfl = _raw_dims(filter_shape, fn, "filter_shape")
    dout = _raw_dims(out_shape, fn, "out_shape")
    sh, sw = A.pair(stride, fn, "stride")
    dh, dw = A.pair(dilation, fn, "dilation")
    top, bottom, left, right = resolve_padding(
        padding, din.h, din.w, dfl.h, dfl.w, sh, sw, dh, dw, fn)
    cp = _lib.ConvParams(sh, sw, top, bottom, left, right, dh, dw,
                         A.int32(groups, fn, "groups"))
    r = _lib.GeometryReport()
    st = _lib_.tq_conv_check_geometry(ctypes.byref(cp), ctypes.byref(din),
                                      ctypes.byref(dfl), ctypes.byref(dout),
                                      1 if depthwise else 0, ctypes.byref(r))
    return _report(st, r)


@documents_padding
def check_pool_geometry(in_shape, out_shape, kernel_size, stride=None,
                        padding=0):
    """Check a pooling geometry as the kernels do and name the first wrong
    field (``tq_pool_check_geometry``); NHWC shapes."""
    fn = "tinyq.check_pool_geometry"
    din = _raw_dims(in_shape, fn, "in_shape")
    dout = _raw_dims(out_shape, fn, "out_shape")
    kh, kw = A.pair(kernel_size, fn, "kernel_size")
    sh, sw = A.pair(kernel_size if stride is None else stride, fn, "stride")
    top, bottom, left, right = resolve_padding(padding, din.h, din.w, kh, kw,
                                               sh, sw, 1, 1, fn)
    pp = _lib.PoolParams(kh, kw, sh, sw, top, bottom, left, right)
    r = _lib.GeometryReport()
    st = _lib_.tq_pool_check_geometry(ctypes.byref(pp), ctypes.byref(din),
                                      ctypes.byref(dout), ctypes.byref(r))
    return _report(st, r)


def layout_of(layout, fn):
    if not isinstance(layout, str) or layout.upper() not in LAYOUTS:
        raise ParamError(fn, f"layout must be 'NHWC' (tinyq) or 'NCHW' "
                             f"(PyTorch), got {layout!r}")
    return layout.upper()


def padding4(padding, fn):
    """(top, bottom, left, right) from an int, a pair (h, w), a Padding or
    a 4-tuple in tinyq's order."""
    if isinstance(padding, Padding):
        return tuple(padding)
    if isinstance(padding, dict):
        unknown = set(padding) - set(Padding._fields)
        if unknown:
            raise ParamError(fn, f"padding has unknown sides "
                                 f"{sorted(unknown)}; use top, bottom, "
                                 "left, right")
        return tuple(Padding(**padding))
    if isinstance(padding, (tuple, list)):
        if len(padding) == 2:
            ph, pw = (A.int32(p, fn, "padding") for p in padding)
            return ph, ph, pw, pw
        if len(padding) == 4:
            return tuple(A.int32(p, fn, "padding") for p in padding)
        raise ParamError(fn, f"padding must be {PADDING_FORMS}; got "
                             f"{padding!r}")
    p = A.int32(padding, fn, "padding")
    return p, p, p, p


def _same(size, k, stride, dilation):
    """TensorFlow's SAME padding along one axis: the odd pixel goes last."""
    out = -(-size // stride) if stride > 0 else 0
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def resolve_padding(padding, in_h, in_w, kh, kw, sh, sw, dh, dw, fn):
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0, 0, 0
        if mode == "same":
            return _same(in_h, kh, sh, dh) + _same(in_w, kw, sw, dw)
        raise ParamError(fn, f"padding {padding!r} is not 'valid' or 'same'")
    return padding4(padding, fn)


def conv_params(x_shape, kh, kw, stride, padding, dilation, groups, fn):
    """tq_conv_params and the output extents (oh, ow) for an NHWC input."""
    _, in_h, in_w, _ = x_shape
    sh, sw = A.pair(stride, fn, "stride")
    dh, dw = A.pair(dilation, fn, "dilation")
    top, bottom, left, right = resolve_padding(padding, in_h, in_w, kh, kw,
                                               sh, sw, dh, dw, fn)
    groups = A.int32(groups, fn, "groups")
    oh = core.conv_output_size(A.extent(in_h, fn, "height"),
                               A.extent(kh, fn, "kernel height"), sh, dh,
                               top, bottom)
    ow = core.conv_output_size(A.extent(in_w, fn, "width"),
                               A.extent(kw, fn, "kernel width"), sw, dw,
                               left, right)
    return _lib.ConvParams(sh, sw, top, bottom, left, right, dh, dw,
                           groups), oh, ow


def pool_params(x_shape, kernel_size, stride, padding, fn):
    """tq_pool_params and the output extents for an NHWC input."""
    _, in_h, in_w, _ = x_shape
    kh, kw = A.pair(kernel_size, fn, "kernel_size")
    sh, sw = A.pair(kernel_size if stride is None else stride, fn, "stride")
    top, bottom, left, right = resolve_padding(padding, in_h, in_w, kh, kw,
                                               sh, sw, 1, 1, fn)
    oh = core.conv_output_size(A.extent(in_h, fn, "height"), kh, sh, 1, top,
                               bottom)
    ow = core.conv_output_size(A.extent(in_w, fn, "width"), kw, sw, 1, left,
                               right)
    return _lib.PoolParams(kh, kw, sh, sw, top, bottom, left, right), oh, ow


def activation_in(x, dtype, layout, fn, name="x"):
    """A 4-D activation as NHWC: checked as is, or converted from NCHW."""
    if layout == "NCHW":
        A.array(x, dtype, fn, name, ndim=4)
        return core.nchw_to_nhwc(x)
    return A.array(x, dtype, fn, name, ndim=4)


def conv_weights_in(w, dtype, layout, fn):
    """Conv weights as OHWI (from OIHW when the layout is NCHW)."""
    A.array(w, dtype, fn, "weight", ndim=4)
    return core.oihw_to_ohwi(w) if layout == "NCHW" else w


def dw_weights_in(w, dtype, layout, fn):
    """Depthwise weights as {1, KH, KW, C·M} (from PyTorch's
    {C·M, 1, KH, KW} when the layout is NCHW)."""
    A.array(w, dtype, fn, "weight", ndim=4)
    if layout == "NCHW":
        return core.oihw_to_dw(w)
    if w.shape[0] != 1:
        raise ShapeError(fn, f"depthwise weights must be (1, KH, KW, C*M), "
                             f"got {w.shape}")
    return w


class Output:
    """The output of a 4-D kernel: the caller's ``out`` (checked) or a new
    NHWC array, converted to NCHW at the end when that is the layout."""

    def __init__(self, out, nhwc_shape, dtype, layout, fn):
        self.layout, self.user = layout, out
        n, h, w, c = nhwc_shape
        if layout == "NCHW":
            if out is not None:
                A.array(out, dtype, fn, "out", shape=(n, c, h, w),
                        writeable=True)
            self.nhwc = np.empty(nhwc_shape, dtype=dtype)
        else:
            self.nhwc = A.out_array(out, nhwc_shape, dtype, fn)

    def result(self):
        if self.layout == "NCHW":
            return core.nhwc_to_nchw(self.nhwc, out=self.user)
        return self.nhwc


def bias_in(bias, dtype, channels, fn):
    """An optional bias of exactly ``channels`` values."""
    return A.array(bias, dtype, fn, "bias", shape=(channels,), optional=True)
