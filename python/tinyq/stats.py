# Streaming statistics (count, min, max, mean, sigma), per-channel
# statistics and fixed-range histograms with percentiles, over tq_stats and
# tq_histogram.
#
# SPDX-License-Identifier: Apache-2.0
"""Statistics for weight and activation profiling."""

import ctypes

import numpy as np

from . import _arrays as A
from . import _lib
from .constants import Sigma
from .errors import DtypeError, ParamError, ShapeError, check

_lib_ = _lib.lib


class Stats:
    """A streaming accumulator (``tq_stats``): feed it arrays with
    :meth:`update`, read count, min, max, mean and sigma at any time.

    >>> s = Stats(np.array([1, 2, 3, 4], dtype=np.float32))
    >>> s.count, s.mean, s.std()
    (4, 2.5, 1.118033988749895)
    """

    def __init__(self, x=None):
        self._c = _lib.Stats()
        check(_lib_.tq_stats_init(ctypes.byref(self._c)), "tq_stats_init")
        if x is not None:
            self.update(x)

    @classmethod
    def _wrap(cls, c_stats):
        s = cls.__new__(cls)
        s._c = _lib.Stats()
        ctypes.pointer(s._c)[0] = c_stats
        return s

    def update(self, x):
        """Add every value of a float32 or int8 array (any shape, C order).
        NaN or infinity raise :class:`NotFiniteError` and add nothing."""
        fn = "tinyq.Stats.update"
        if isinstance(x, np.ndarray) and x.dtype not in (A.F32, A.S8):
            raise DtypeError(fn, f"x must be float32 or int8, got {x.dtype}")
        if isinstance(x, np.ndarray) and x.dtype == A.S8:
            A.array(x, A.S8, fn, "x")
            check(_lib_.tq_stats_update_s8(ctypes.byref(self._c), A.ptr(x),
                                           x.size), "tq_stats_update_s8")
        else:
            A.array(x, A.F32, fn, "x")
            check(_lib_.tq_stats_update_f32(ctypes.byref(self._c), A.ptr(x),
                                            x.size), "tq_stats_update_f32")
        return self

    def merge(self, other):
        """Fold another accumulator into this one (``tq_stats_merge``)."""
        if not isinstance(other, Stats):
            raise DtypeError("tinyq.Stats.merge", "other must be a Stats, "
                             f"got {type(other).__name__}")
        check(_lib_.tq_stats_merge(ctypes.byref(self._c),
                                   ctypes.byref(other._c)), "tq_stats_merge")
        return self

    def copy(self):
        """An independent copy."""
        return Stats._wrap(self._c)

    @property
    def count(self):
        return int(self._c.count)

    @property
    def min(self):
        return float(self._c.min)

    @property
    def max(self):
        return float(self._c.max)

    @property
    def mean(self):
        return float(self._c.mean)

    @property
    def m2(self):
        """Sum of squared deviations from the mean."""
        return float(self._c.m2)

    def variance(self, kind=Sigma.POPULATION):
        """Population (numpy's default, ddof=0) or sample (ddof=1) variance.
        :class:`EmptyError` without data (or with one value, for sample)."""
        k = A.enum_value(kind, Sigma, "tq_stats_variance", "kind")
        out = ctypes.c_double()
        check(_lib_.tq_stats_variance(ctypes.byref(self._c), k,
                                      ctypes.byref(out)), "tq_stats_variance")
        return out.value

    def std(self, kind=Sigma.POPULATION):
        """Standard deviation, population (default) or sample."""
        k = A.enum_value(kind, Sigma, "tq_stats_stddev", "kind")
        out = ctypes.c_double()
        check(_lib_.tq_stats_stddev(ctypes.byref(self._c), k,
                                    ctypes.byref(out)), "tq_stats_stddev")
        return out.value

    def ksigma_range(self, k=3.0):
        """``(mean - k·sigma, mean + k·sigma)`` with the population sigma."""
        lo, hi = ctypes.c_double(), ctypes.c_double()
        check(_lib_.tq_stats_ksigma_range(
            ctypes.byref(self._c), A.real(k, "tq_stats_ksigma_range", "k"),
            ctypes.byref(lo), ctypes.byref(hi)), "tq_stats_ksigma_range")
        return lo.value, hi.value

    def __repr__(self):
        if self.count == 0:
            return "Stats(count=0)"
        return (f"Stats(count={self.count}, min={self.min:g}, "
                f"max={self.max:g}, mean={self.mean:g}, std={self.std():g})")


class ChannelStats:
    """One :class:`Stats` per channel of an axis
    (``tq_stats_update_axis_f32``).

    >>> cs = ChannelStats(16).update(w_ohwi, axis=0)   # per output channel
    >>> cs.max - cs.min                                # numpy arrays
    """

    def __init__(self, channels):
        fn = "tinyq.ChannelStats"
        n = A.int64(channels, fn, "channels")
        if n < 1:
            raise ShapeError(fn, f"channels must be >= 1, got {n}")
        self._c = (_lib.Stats * n)()
        for i in range(n):
            check(_lib_.tq_stats_init(ctypes.byref(self._c[i])),
                  "tq_stats_init")

    def update(self, x, axis):
        """Add a float32 array of 1 to 4 dimensions whose extent along
        ``axis`` equals the channel count. Negative axes count from the end."""
        fn = "tinyq.ChannelStats.update"
        A.array(x, A.F32, fn, "x", ndim=(1, 2, 3, 4))
        axis = A.int32(axis, fn, "axis")
        if -x.ndim <= axis < 0:
            axis += x.ndim
        t = A.tensor(x, fn, "x")
        check(_lib_.tq_stats_update_axis_f32(self._c, len(self._c),
                                             ctypes.byref(t), axis),
              "tq_stats_update_axis_f32")
        return self

    def __len__(self):
        return len(self._c)

    def __getitem__(self, i):
        return Stats._wrap(self._c[range(len(self._c))[i]])

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def _field(self, name):
        return np.array([getattr(s, name) for s in self._c], dtype=np.float64)

    @property
    def count(self):
        return np.array([s.count for s in self._c], dtype=np.uint64)

    @property
    def min(self):
        return self._field("min")

    @property
    def max(self):
        return self._field("max")

    @property
    def mean(self):
        return self._field("mean")

    def std(self, kind=Sigma.POPULATION):
        """Per-channel standard deviations as an array."""
        return np.array([s.std(kind) for s in self])


class Histogram:
    """A histogram over a fixed range ``[lo, hi]`` with ``nbins`` equal bins
    (``tq_histogram``); values outside are counted in :attr:`below` and
    :attr:`above`.

    >>> h = Histogram(s.min, s.max, 2048).add(x)
    >>> h.percentile(99.99)
    """

    def __init__(self, lo, hi, nbins=2048):
        fn = "tq_histogram_init"
        nbins = A.integer(nbins, fn, "nbins")
        if not 1 <= nbins <= 2**32 - 1:
            raise ParamError(fn, f"nbins must be in [1, 2^32 - 1], "
                                 f"got {nbins}")
        self._bins = np.zeros(nbins, dtype=np.uint64)
        self._c = _lib.Histogram()
        check(_lib_.tq_histogram_init(
            ctypes.byref(self._c), A.ptr(self._bins, ctypes.c_uint64), nbins,
            A.real(lo, fn, "lo"), A.real(hi, fn, "hi")), fn)

    def add(self, x):
        """Count every value of a float32 array (:class:`NotFiniteError` for
        NaN or infinity, counting nothing)."""
        fn = "tinyq.Histogram.add"
        A.array(x, A.F32, fn, "x")
        check(_lib_.tq_histogram_add_f32(ctypes.byref(self._c), A.ptr(x),
                                         x.size), "tq_histogram_add_f32")
        return self

    def percentile(self, percent):
        """The value below which ``percent`` % of the counted values lie,
        interpolated inside a bin (``tq_histogram_percentile``)."""
        out = ctypes.c_double()
        check(_lib_.tq_histogram_percentile(
            ctypes.byref(self._c),
            A.real(percent, "tq_histogram_percentile", "percent"),
            ctypes.byref(out)), "tq_histogram_percentile")
        return out.value

    @property
    def total(self):
        """All values counted, in range or not."""
        return int(_lib_.tq_histogram_total(ctypes.byref(self._c)))

    @property
    def bins(self):
        """The bin counters (a read-only view)."""
        v = self._bins.view()
        v.flags.writeable = False
        return v

    @property
    def nbins(self):
        return int(self._c.nbins)

    @property
    def lo(self):
        return float(self._c.lo)

    @property
    def hi(self):
        return float(self._c.hi)

    @property
    def below(self):
        return int(self._c.below)

    @property
    def above(self):
        return int(self._c.above)

    @property
    def edges(self):
        """The ``nbins + 1`` bin edges, ``lo + i·(hi - lo)/nbins``."""
        w = (self.hi - self.lo) / self.nbins
        e = self.lo + np.arange(self.nbins + 1, dtype=np.float64) * w
        e[-1] = self.hi
        return e

    def __repr__(self):
        return (f"Histogram(lo={self.lo:g}, hi={self.hi:g}, "
                f"nbins={self.nbins}, total={self.total})")
