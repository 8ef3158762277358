# Fixed-point requantization: TFLite's QuantizeMultiplier, the multiply in
# both rounding modes, the s8 output stage (multipliers, shifts, output zero
# point, clamp) and the clamp of fused activations.
#
# SPDX-License-Identifier: Apache-2.0
"""Requantization: multipliers, shifts and the int8 output stage."""

import ctypes

import numpy as np

from . import _arrays as A
from . import _lib
from .constants import Activation, Rounding
from .errors import ParamError, ShapeError, check

_lib_ = _lib.lib


def quantize_multiplier(real):
    """Split a real multiplier (>= 0) into a Q31 integer and a shift,
    ``real ≈ m · 2^(shift - 31)`` (``tq_quantize_multiplier``).

    >>> quantize_multiplier(0.25)
    (1073741824, -1)
    """
    fn = "tq_quantize_multiplier"
    m, s = ctypes.c_int32(), ctypes.c_int32()
    check(_lib_.tq_quantize_multiplier(A.real(real, fn, "real"),
                                       ctypes.byref(m), ctypes.byref(s)), fn)
    return m.value, s.value


def quantize_multipliers(reals):
    """:func:`quantize_multiplier` of every value of a sequence: two int32
    arrays (multipliers, shifts)."""
    pairs = [quantize_multiplier(float(r)) for r in np.ravel(reals)]
    return (np.array([p[0] for p in pairs], dtype=np.int32),
            np.array([p[1] for p in pairs], dtype=np.int32))


def requantize(x, multiplier, shift, rounding=Rounding.DOUBLE):
    """TFLite's MultiplyByQuantizedMultiplier of one int32 accumulator:
    about ``round(x · multiplier · 2^(shift - 31))`` (``tq_requantize``)."""
    fn = "tq_requantize"
    out = ctypes.c_int32()
    check(_lib_.tq_requantize(
        A.int32(x, fn, "x"), A.int32(multiplier, fn, "multiplier"),
        A.int32(shift, fn, "shift"),
        A.enum_value(rounding, Rounding, fn, "rounding"),
        ctypes.byref(out)), fn)
    return out.value


def activation_range(act, scale, zero_point):
    """``(act_min, act_max)``: the int8 clamp of a fused activation
    (none, ReLU, ReLU6) for an output with this scale and zero point
    (``tq_s8_activation_range``)."""
    fn = "tq_s8_activation_range"
    lo, hi = ctypes.c_int32(), ctypes.c_int32()
    check(_lib_.tq_s8_activation_range(
        A.enum_value(act if act is not None else Activation.NONE,
                     Activation, fn, "act"),
        A.real(scale, fn, "scale"), A.int32(zero_point, fn, "zero_point"),
        ctypes.byref(lo), ctypes.byref(hi)), fn)
    return lo.value, hi.value


class OutputStage:
    """The output stage of every s8 kernel (``tq_s8_output``): requantize
    each int32 accumulator with its channel's multiplier and shift, add the
    output zero point, clamp to ``[act_min, act_max]``.

    ``multiplier`` and ``shift`` are plain numbers (per tensor: the C
    struct then gets one-element arrays and ``per_channel = 0``, which the
    wrapper fills in) or sequences of one value per output channel; a plain
    number given with a per-channel sequence is repeated for every channel
    (a shared multiplier with per-channel shifts, say). Build one from
    scales with :meth:`from_scales`. The pools take no output stage (their
    output keeps the input's scale): they take ``act_min`` / ``act_max``
    directly, e.g. ``stage.act_min`` of the layer before.
    """

    def __init__(self, multiplier, shift, *, output_zero_point=0,
                 act_min=-128, act_max=127, rounding=Rounding.DOUBLE):
        fn = "tinyq.OutputStage"
        m = self._ints(multiplier, fn, "multiplier")
        s = self._ints(shift, fn, "shift")
        # A plain number next to a per-channel sequence serves every
        # channel (a one-element sequence does not: that is a mismatch).
        if np.ndim(multiplier) == 0 and s.size > 1:
            m = self._ints(np.repeat(m, s.size), fn, "multiplier")
        elif np.ndim(shift) == 0 and m.size > 1:
            s = self._ints(np.repeat(s, m.size), fn, "shift")
        if m.size != s.size:
            raise ShapeError(fn, f"{m.size} multipliers but {s.size} shifts")
        self._multiplier, self._shift = m, s
        self._output_zero_point = A.int32(output_zero_point, fn,
                                          "output_zero_point")
        self._act_min = A.int32(act_min, fn, "act_min")
        self._act_max = A.int32(act_max, fn, "act_max")
        self._rounding = A.enum_value(rounding, Rounding, fn, "rounding")

    @staticmethod
    def _ints(v, fn, name):
        a = np.atleast_1d(np.asarray(v))
        if a.ndim != 1 or a.size < 1 or a.dtype.kind not in "iub":
            raise ParamError(fn, f"{name} must be an integer or a 1-D "
                                 f"sequence of integers, got {v!r}")
        if a.min() < A.INT32_MIN or a.max() > A.INT32_MAX:
            raise ParamError(fn, f"{name} values must fit in int32")
        a = a.astype(np.int32)
        a.flags.writeable = False
        return a

    @classmethod
    def from_scales(cls, input_scale, weight_scale, output_scale,
                    output_zero_point=0, act=Activation.NONE,
                    rounding=Rounding.DOUBLE):
        """The stage of a layer: ``M[c] = s_in · s_w[c] / s_out`` (in
        double, as TFLite) through :func:`quantize_multiplier`, and the
        clamp of ``act`` from :func:`activation_range`."""
        fn = "tinyq.OutputStage.from_scales"
        s_in = A.real(input_scale, fn, "input_scale")
        s_out = A.real(output_scale, fn, "output_scale")
        # Scales are float32 in tinyq: use the float32 value the kernels see.
        s_in, s_out = float(np.float32(s_in)), float(np.float32(s_out))
        s_w = np.atleast_1d(np.asarray(weight_scale, dtype=np.float32))
        if not s_out > 0:
            raise ParamError(fn, f"output_scale must be > 0, got {s_out}")
        mult, shift = quantize_multipliers(
            [s_in * float(w) / s_out for w in s_w])
        lo, hi = activation_range(act, s_out, output_zero_point)
        return cls(mult, shift, output_zero_point=output_zero_point,
                   act_min=lo, act_max=hi, rounding=rounding)

    multiplier = property(lambda self: self._multiplier)
    shift = property(lambda self: self._shift)
    output_zero_point = property(lambda self: self._output_zero_point)
    act_min = property(lambda self: self._act_min)
    act_max = property(lambda self: self._act_max)
    rounding = property(lambda self: self._rounding)

    @property
    def per_channel(self):
        return self._multiplier.size > 1

    def _c(self, channels, fn):
        """The C struct for a kernel with ``channels`` output channels; a
        per-channel stage must have exactly that many entries (C reads
        them all)."""
        if self.per_channel and self._multiplier.size != channels:
            raise ShapeError(fn, f"the output stage has "
                                 f"{self._multiplier.size} channels, the "
                                 f"kernel {channels}")
        return _lib.S8Output(A.ptr(self._multiplier), A.ptr(self._shift),
                             int(self.per_channel), self._rounding,
                             self._output_zero_point, self._act_min,
                             self._act_max)

    def __repr__(self):
        what = (f"{self._multiplier.size} channels" if self.per_channel else
                f"multiplier={self._multiplier[0]}, shift={self._shift[0]}")
        return (f"OutputStage({what}, output_zero_point="
                f"{self._output_zero_point}, act=[{self._act_min}, "
                f"{self._act_max}], rounding={self._rounding})")


def _stage(os_, fn):
    if not isinstance(os_, OutputStage):
        raise ParamError(fn, f"output_stage must be an OutputStage, got "
                             f"{type(os_).__name__}")
    return os_


def requantize_rows(acc, output_stage, out=None):
    """Requantize a block of int32 accumulators ``[rows][channels]`` to
    int8 through ``output_stage``, channel = column
    (``tq_s8_requantize_rows``). Rows may be strided (column slices)."""
    fn = "tinyq.requantize_rows"
    acc, ld_acc = A.rows(acc, A.S32, fn, "acc")
    rows, channels = acc.shape
    os_ = _stage(output_stage, fn)._c(channels, fn)
    if out is None:
        out = np.empty((rows, channels), dtype=np.int8)
    out, ld_out = A.rows(out, A.S8, fn, "out", writeable=True)
    if out.shape != acc.shape:
        raise ShapeError(fn, f"out must have shape {acc.shape}, got "
                             f"{out.shape}")
    check(_lib_.tq_s8_requantize_rows(
        A.extent(rows, fn, "rows"), A.extent(channels, fn, "channels"),
        A.ptr(acc), ld_acc, ctypes.byref(os_), A.ptr(out), ld_out),
        "tq_s8_requantize_rows")
    return out
