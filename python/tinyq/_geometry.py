# Shared by the f32 and s8 kernel wrappers: PyTorch-style stride / padding /
# dilation arguments turned into tq_conv_params and tq_pool_params, output
# extents from the library, and the NCHW / OIHW layout conversions on the
# way in and out.
#
# SPDX-License-Identifier: Apache-2.0
"""Kernel geometry and layouts (internal)."""

import numpy as np

from . import _arrays as A
from . import _lib
from . import core
from .errors import ParamError, ShapeError

LAYOUTS = ("NHWC", "NCHW")


def layout_of(layout, fn):
    if not isinstance(layout, str) or layout.upper() not in LAYOUTS:
        raise ParamError(fn, f"layout must be 'NHWC' (tinyq) or 'NCHW' "
                             f"(PyTorch), got {layout!r}")
    return layout.upper()


def padding4(padding, fn):
    """(top, bottom, left, right) from an int, a pair (h, w) or a 4-tuple."""
    if isinstance(padding, (tuple, list)):
        if len(padding) == 2:
            ph, pw = (A.int32(p, fn, "padding") for p in padding)
            return ph, ph, pw, pw
        if len(padding) == 4:
            return tuple(A.int32(p, fn, "padding") for p in padding)
        raise ParamError(fn, f"padding must be an int, a pair (h, w), a "
                             f"4-tuple (top, bottom, left, right), 'valid' or "
                             f"'same'; got {padding!r}")
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
