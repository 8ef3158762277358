# Quantization schemes, range methods, scale / zero point selection,
# (fake-)quantization per tensor or per channel, and error metrics.
#
# SPDX-License-Identifier: Apache-2.0
"""Quantization: schemes, ranges, quantize / dequantize / fake-quant."""

import collections
import ctypes
import dataclasses

import numpy as np

from . import _arrays as A
from . import _lib
from .constants import FloatRounding, RangeMethod
from .errors import DtypeError, ParamError, ShapeError, check
from .stats import ChannelStats, Histogram, Stats

_lib_ = _lib.lib


@dataclasses.dataclass(frozen=True)
class QScheme:
    """How ranges become parameters (``tq_qscheme``).

    ``bits`` 2..8; ``symmetric``: zero point 0; ``narrow_range``: qmin is
    -(2^(bits-1) - 1), as TFLite's weights; ``pow2_scale``: scales rounded up
    to powers of two. ``QScheme()`` is asymmetric int8 [-128, 127];
    ``QScheme(symmetric=True, narrow_range=True)`` TFLite's weight scheme.
    """
    bits: int = 8
    symmetric: bool = False
    narrow_range: bool = False
    pow2_scale: bool = False

    def _c(self, fn):
        return _lib.QScheme(*(A.int32(getattr(self, f.name), fn, f.name)
                              for f in dataclasses.fields(self)))

    def qrange(self):
        """``(qmin, qmax)`` of the scheme (``tq_qscheme_qrange``)."""
        fn = "tq_qscheme_qrange"
        c = self._c(fn)
        lo, hi = ctypes.c_int32(), ctypes.c_int32()
        check(_lib_.tq_qscheme_qrange(ctypes.byref(c), ctypes.byref(lo),
                                      ctypes.byref(hi)), fn)
        return lo.value, hi.value


@dataclasses.dataclass(frozen=True)
class RangeConfig:
    """A range method with its option (``tq_range_config``): ``k`` for
    KSIGMA, ``percentile`` (in (50, 100]) for PERCENTILE."""
    method: object = RangeMethod.MINMAX
    k: float = 3.0
    percentile: float = 99.99

    def _c(self, fn):
        return _lib.RangeConfig(
            A.enum_value(self.method, RangeMethod, fn, "method"), 0,
            A.real(self.k, fn, "k"), A.real(self.percentile, fn,
                                            "percentile"))


def _scheme(scheme, fn):
    if scheme is None:
        return QScheme()
    if not isinstance(scheme, QScheme):
        raise ParamError(fn, f"scheme must be a QScheme, got {scheme!r}")
    return scheme


def choose_range(stats, method=RangeMethod.MINMAX, scheme=None, hist=None,
                 *, k=3.0, percentile=99.99):
    """Choose a floating range ``(lo, hi)`` from observed data
    (``tq_choose_range``).

    ``stats`` is a :class:`Stats` of the data; ``method`` a
    :class:`RangeMethod` (or its name, or a :class:`RangeConfig`, which then
    also gives k and percentile). PERCENTILE, MSE and KL also need ``hist``,
    a :class:`Histogram` of the same data over ``[stats.min, stats.max]``.
    """
    fn = "tq_choose_range"
    config = method if isinstance(method, RangeConfig) else \
        RangeConfig(method, k, percentile)
    c_config = config._c(fn)
    c_scheme = _scheme(scheme, fn)._c(fn)
    if not isinstance(stats, Stats):
        raise DtypeError(fn, f"stats must be a Stats, got "
                             f"{type(stats).__name__}")
    if hist is not None and not isinstance(hist, Histogram):
        raise DtypeError(fn, f"hist must be a Histogram or None, got "
                             f"{type(hist).__name__}")
    lo, hi = ctypes.c_double(), ctypes.c_double()
    check(_lib_.tq_choose_range(
        ctypes.byref(c_config), ctypes.byref(c_scheme),
        ctypes.byref(stats._c),
        ctypes.byref(hist._c) if hist is not None else None,
        ctypes.byref(lo), ctypes.byref(hi)), fn)
    return lo.value, hi.value


def qparams_from_range(scheme, lo, hi):
    """``(scale, zero_point)`` for the range ``[lo, hi]`` under ``scheme``
    (``tq_qparams_from_range``); the scale is the float32 value as a
    Python float."""
    fn = "tq_qparams_from_range"
    c_scheme = _scheme(scheme, fn)._c(fn)
    scale, zp = ctypes.c_float(), ctypes.c_int32()
    check(_lib_.tq_qparams_from_range(
        ctypes.byref(c_scheme), A.real(lo, fn, "lo"), A.real(hi, fn, "hi"),
        ctypes.byref(scale), ctypes.byref(zp)), fn)
    return scale.value, zp.value


class QParams:
    """Quantization parameters of a tensor (``tq_qparams``): per tensor
    (one scale) or per channel along ``axis`` (one scale per channel).

    ``scale`` and ``zero_point`` are numbers or 1-D sequences (a single
    zero point is repeated for every scale); codes lie in
    ``[qmin, qmax]``; ``rounding`` is a :class:`FloatRounding`
    (``"half_away"``, TFLite's, by default; ``"half_even"`` for PyTorch's
    fake_quantize_*).
    """

    def __init__(self, scale, zero_point=0, *, axis=0, qmin=-128, qmax=127,
                 rounding=FloatRounding.HALF_AWAY):
        fn = "tinyq.QParams"
        try:
            s = np.asarray(scale, dtype=np.float64)
        except (TypeError, ValueError):
            raise ParamError(fn, f"scale must be numbers, got {scale!r}") \
                from None
        s = np.atleast_1d(s)
        if s.ndim != 1 or s.size < 1:
            raise ShapeError(fn, f"scale must be a number or a 1-D sequence, "
                                 f"got shape {s.shape}")
        z = np.atleast_1d(np.asarray(zero_point))
        if z.ndim != 1 or z.size < 1 or (z.dtype.kind not in "iub"):
            raise ParamError(fn, "zero_point must be an integer or a 1-D "
                                 f"sequence of integers, got {zero_point!r}")
        if z.size == 1 and s.size > 1:
            z = np.repeat(z, s.size)
        if z.size != s.size:
            raise ShapeError(fn, f"{s.size} scales but {z.size} zero points")
        if z.min() < A.INT32_MIN or z.max() > A.INT32_MAX:
            raise ParamError(fn, "zero points must fit in int32")
        with np.errstate(over="ignore"):
            self._scale = s.astype(np.float32)
        self._zero_point = z.astype(np.int32)
        self._scale.flags.writeable = False
        self._zero_point.flags.writeable = False
        self._axis = A.int32(axis, fn, "axis")
        self._qmin = A.int32(qmin, fn, "qmin")
        self._qmax = A.int32(qmax, fn, "qmax")
        r = A.enum_value(rounding, FloatRounding, fn, "rounding")
        self._rounding = FloatRounding(r) if r in (0, 1) else r

    # Read-only: the C struct points into these arrays, whose lengths must
    # stay equal.
    scale = property(lambda self: self._scale,
                     doc="float32 scales (read-only array)")
    zero_point = property(lambda self: self._zero_point,
                          doc="int32 zero points (read-only array)")
    axis = property(lambda self: self._axis, doc="channel axis")
    qmin = property(lambda self: self._qmin, doc="smallest code")
    qmax = property(lambda self: self._qmax, doc="largest code")
    rounding = property(lambda self: self._rounding,
                        doc="a FloatRounding")

    @classmethod
    def from_range(cls, scheme, lo, hi, *, axis=0,
                   rounding=FloatRounding.HALF_AWAY):
        """Parameters for the range [lo, hi] (numbers: per tensor; equal
        length sequences: per channel along ``axis``) under ``scheme``."""
        scheme = _scheme(scheme, "tinyq.QParams.from_range")
        lo, hi = np.atleast_1d(lo), np.atleast_1d(hi)
        if lo.shape != hi.shape or lo.ndim != 1:
            raise ShapeError("tinyq.QParams.from_range",
                             "lo and hi must have the same length")
        pairs = [qparams_from_range(scheme, a, b) for a, b in zip(lo, hi)]
        qmin, qmax = scheme.qrange()
        return cls([p[0] for p in pairs], [p[1] for p in pairs], axis=axis,
                   qmin=qmin, qmax=qmax, rounding=rounding)

    @property
    def count(self):
        """1 (per tensor) or the number of channels."""
        return int(self.scale.size)

    @property
    def per_channel(self):
        return self.count > 1

    def _c(self, fn, x):
        axis = self.axis
        if self.count > 1 and -x.ndim <= axis < 0:
            axis += x.ndim
        return _lib.QParams(A.ptr(self._scale), A.ptr(self._zero_point),
                            self._scale.size, axis, self._qmin, self._qmax,
                            int(self._rounding))

    def __repr__(self):
        if self.count == 1:
            head = f"scale={self.scale[0]!r}, zero_point={self.zero_point[0]}"
        else:
            head = f"{self.count} channels along axis {self.axis}"
        return (f"QParams({head}, qmin={self.qmin}, qmax={self.qmax}, "
                f"rounding={self.rounding!r})")


def _qparams(p, fn):
    if not isinstance(p, QParams):
        raise ParamError(fn, f"qparams must be a QParams, got "
                             f"{type(p).__name__}")
    return p


def calibrate(x, scheme=None, method=RangeMethod.MINMAX, *, axis=None,
              k=3.0, percentile=99.99, bins=2048,
              rounding=FloatRounding.HALF_AWAY):
    """Observe a float32 array and return its :class:`QParams`: statistics
    (per tensor, or per channel along ``axis``), a histogram over
    [min, max] when the method needs one, ``choose_range`` and
    ``qparams_from_range``."""
    fn = "tinyq.calibrate"
    scheme = _scheme(scheme, fn)
    A.array(x, A.F32, fn, "x", ndim=(1, 2, 3, 4) if axis is not None
            else None)
    config = method if isinstance(method, RangeConfig) else \
        RangeConfig(method, k, percentile)
    needs_hist = A.enum_value(config.method, RangeMethod, fn, "method") in (
        RangeMethod.PERCENTILE, RangeMethod.MSE, RangeMethod.KL)

    def one(stats, data):
        hist = None
        if needs_hist and stats.count:
            hi = stats.max if stats.max > stats.min else stats.min + 1.0
            hist = Histogram(stats.min, hi, bins).add(data)
        return choose_range(stats, config, scheme, hist)

    if axis is None:
        ranges = [one(Stats(x), x)]
        axis = 0
    else:
        axis = A.int32(axis, fn, "axis")
        if not -x.ndim <= axis < x.ndim:
            raise ShapeError(fn, f"axis {axis} out of range for shape "
                                 f"{x.shape}")
        axis %= x.ndim
        per = ChannelStats(x.shape[axis]).update(x, axis)
        moved = np.moveaxis(x, axis, 0)
        ranges = [one(per[c], np.ascontiguousarray(moved[c]))
                  for c in range(len(per))]
    return QParams.from_range(scheme, [r[0] for r in ranges],
                              [r[1] for r in ranges], axis=axis,
                              rounding=rounding)


def _op(cfn, x, in_dtype, p, out, out_dtype, fn):
    A.array(x, in_dtype, fn, "x")
    p = _qparams(p, fn)
    out = A.out_array(out, x.shape, out_dtype, fn)
    tin, tout = A.tensor(x, fn, "x"), A.tensor(out, fn, "out")
    cp = p._c(fn, x)
    check(cfn(ctypes.byref(tin), ctypes.byref(cp), ctypes.byref(tout)),
          cfn.__name__)
    return out


def quantize(x, qparams, out=None):
    """float32 array -> int8 codes,
    ``clamp(round(x / scale) + zero_point, qmin, qmax)`` (``tq_quantize``)."""
    return _op(_lib_.tq_quantize, x, A.F32, qparams, out, A.S8,
               "tinyq.quantize")


def dequantize(q, qparams, out=None):
    """int8 codes -> float32, ``(q - zero_point) * scale``
    (``tq_dequantize``)."""
    return _op(_lib_.tq_dequantize, q, A.S8, qparams, out, A.F32,
               "tinyq.dequantize")


def fake_quant(x, qparams, out=None):
    """Quantize then dequantize a float32 array (``tq_fake_quant``);
    ``out=x`` works in place."""
    return _op(_lib_.tq_fake_quant, x, A.F32, qparams, out, A.F32,
               "tinyq.fake_quant")


#: What :func:`measure_quant_error` and :func:`compare` return.
QuantErrorResult = collections.namedtuple(
    "QuantErrorResult", ["mse", "sqnr_db", "max_abs", "frac_clipped"])


def _result(c):
    return QuantErrorResult(c.mse, c.sqnr_db, c.max_abs, c.frac_clipped)


def measure_quant_error(x, qparams):
    """What fake-quantizing ``x`` would cost: MSE, SQNR in dB, max abs
    error and the fraction of clipped values (``tq_measure_quant_error``)."""
    fn = "tinyq.measure_quant_error"
    A.array(x, A.F32, fn, "x")
    p = _qparams(qparams, fn)
    t, cp, err = A.tensor(x, fn, "x"), p._c(fn, x), _lib.QuantError()
    check(_lib_.tq_measure_quant_error(ctypes.byref(t), ctypes.byref(cp),
                                       ctypes.byref(err)),
          "tq_measure_quant_error")
    return _result(err)


def compare(ref, approx):
    """MSE, SQNR and max abs error of ``approx`` against ``ref``, two
    float32 arrays of one shape (``tq_compare_f32``)."""
    fn = "tinyq.compare"
    A.array(ref, A.F32, fn, "ref")
    A.array(approx, A.F32, fn, "approx")
    if ref.shape != approx.shape:
        raise ShapeError(fn, f"shapes differ: {ref.shape} and "
                             f"{approx.shape}")
    err = _lib.QuantError()
    check(_lib_.tq_compare_f32(A.ptr(ref), A.ptr(approx), ref.size,
                               ctypes.byref(err)), "tq_compare_f32")
    return _result(err)


def quantize_bias(bias, input_scale, weight_scale, out=None):
    """float32 biases -> the int32 codes the s8 kernels add
    (``tq_quantize_bias``): ``q[c] = clamp(round_half_away(bias[c] /
    (input_scale * weight_scale[c])), -(2**31 - 1), 2**31 - 1)``, the
    quotient taken exactly (every tie goes away from zero, nothing a hair
    below a tie does).

    ``bias`` is a 1-D float32 array (one value per output channel);
    ``input_scale`` a number; ``weight_scale`` a number or a one-element
    sequence (per tensor: one scale for every channel), or a 1-D sequence
    of ``bias.size`` scales (per channel). Scales are taken as float32, as
    the C call takes them. Non-finite biases raise NotFiniteError, scales
    that are not > 0 and finite ParamError. TFLite's converter computes
    the same formula in float and is one code off on about 0.2 % of biases
    with typical scales, where its float steps round (identical for
    power-of-two scales; see docs/quantization.md)."""
    fn = "tinyq.quantize_bias"
    A.array(bias, A.F32, fn, "bias", ndim=1)
    s_in = A.real(input_scale, fn, "input_scale")
    try:
        ws = np.atleast_1d(np.asarray(weight_scale, dtype=np.float64))
    except (TypeError, ValueError):
        raise ParamError(fn, f"weight_scale must be numbers, got "
                             f"{weight_scale!r}") from None
    if ws.ndim != 1 or ws.size < 1:
        raise ShapeError(fn, "weight_scale must be a number or a 1-D "
                             f"sequence, got shape {ws.shape}")
    if ws.size == 1:
        per_channel = 0
    elif ws.size == bias.size:
        per_channel = 1
    else:
        raise ShapeError(fn, f"{bias.size} biases but {ws.size} weight "
                             "scales (give one, or one per bias)")
    with np.errstate(over="ignore"):
        ws32 = np.ascontiguousarray(ws, dtype=np.float32)
    out = A.out_array(out, bias.shape, A.S32, fn)
    check(_lib_.tq_quantize_bias(bias.size, A.ptr(bias), s_in, A.ptr(ws32),
                                 per_channel, A.ptr(out)), "tq_quantize_bias")
    return out
