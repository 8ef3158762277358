# Argument checking shared by every wrapper: numpy arrays (dtype, layout,
# shape), integers that must fit the C types, enums given by name, and the
# ctypes views of checked arrays. Nothing reaches C unchecked.
#
# SPDX-License-Identifier: Apache-2.0
"""Argument validation helpers (internal)."""

import ctypes
import enum
import operator

import numpy as np

from . import _lib
from .constants import NUMPY_DTYPES, DType
from .errors import (ArrayLayoutError, DtypeError, NullError, ParamError,
                     ShapeError, SizeOverflowError, check)

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1
SIZE_MAX = 2**(8 * ctypes.sizeof(ctypes.c_size_t)) - 1

F32 = np.dtype(np.float32)
S8 = np.dtype(np.int8)
S32 = np.dtype(np.int32)
U8 = np.dtype(np.uint8)
S16 = np.dtype(np.int16)
S64 = np.dtype(np.int64)

_CTYPE_OF = {F32: ctypes.c_float, S8: ctypes.c_int8, S32: ctypes.c_int32,
             U8: ctypes.c_uint8, np.dtype(np.uint64): ctypes.c_uint64,
             S16: ctypes.c_int16, S64: ctypes.c_int64}

_DTYPE_NAMES = {F32: "float32", S8: "int8", S32: "int32", U8: "uint8",
                S16: "int16", S64: "int64"}


def _dtype_name(dtype):
    return _DTYPE_NAMES.get(np.dtype(dtype), str(np.dtype(dtype)))


def array(a, dtype, fn, name, *, ndim=None, shape=None, writeable=False,
          optional=False):
    """Check that ``a`` is a numpy array tinyq can use as it is.

    ``dtype`` is the exact numpy dtype required (native byte order);
    ``ndim`` an int or a tuple of allowed ranks; ``shape`` a tuple whose
    ``None`` entries match anything. With ``optional`` a None passes through.
    Never copies: a wrong array raises instead.
    """
    if a is None:
        if optional:
            return None
        raise NullError(fn, f"{name} is required, got None")
    if not isinstance(a, np.ndarray):
        raise DtypeError(fn, f"{name} must be a numpy.ndarray of "
                             f"{_dtype_name(dtype)}, got {type(a).__name__}")
    if a.dtype != np.dtype(dtype):
        raise DtypeError(fn, f"{name} must be {_dtype_name(dtype)}, "
                             f"got {a.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if a.ndim not in allowed:
            want = " or ".join(str(d) for d in allowed)
            raise ShapeError(fn, f"{name} must have {want} dimensions, "
                                 f"got shape {a.shape}")
    if shape is not None:
        if a.ndim != len(shape) or any(
                s is not None and s != d for s, d in zip(shape, a.shape)):
            want = "(" + ", ".join("?" if s is None else str(s)
                                   for s in shape) + ")"
            raise ShapeError(fn, f"{name} must have shape {want}, "
                                 f"got {a.shape}")
    if not a.flags.c_contiguous:
        raise ArrayLayoutError(fn, f"{name} is not C-contiguous; "
                                   "np.ascontiguousarray(x) makes a copy")
    if not a.flags.aligned:
        raise ArrayLayoutError(fn, f"{name} is not aligned for "
                                   f"{_dtype_name(dtype)}")
    if writeable and not a.flags.writeable:
        raise ArrayLayoutError(fn, f"{name} is read-only but is written")
    return a


def rows(a, dtype, fn, name, *, writeable=False):
    """A 2-D matrix whose rows are contiguous but may be further apart than
    their length (a column slice of a wider matrix). Returns (array, ld):
    ld is the row stride in elements, as the GEMMs take it."""
    if a is None:
        raise NullError(fn, f"{name} is required, got None")
    if not isinstance(a, np.ndarray):
        raise DtypeError(fn, f"{name} must be a numpy.ndarray of "
                             f"{_dtype_name(dtype)}, got {type(a).__name__}")
    if a.dtype != np.dtype(dtype):
        raise DtypeError(fn, f"{name} must be {_dtype_name(dtype)}, "
                             f"got {a.dtype}")
    if a.ndim != 2:
        raise ShapeError(fn, f"{name} must be a 2-D matrix, got shape "
                             f"{a.shape}")
    item = a.itemsize
    r, c = a.shape
    if a.size == 0:  # nothing is read or written: any stride will do
        return a, int32(max(c, 1), fn, f"row stride of {name}",
                        overflow=True)
    if c > 1 and a.strides[1] != item:
        raise ArrayLayoutError(fn, f"{name}'s rows are not contiguous")
    if r > 1 and (a.strides[0] < c * item or a.strides[0] % item):
        raise ArrayLayoutError(fn, f"{name}'s rows overlap, run backwards "
                                   "or are not a whole number of elements "
                                   "apart")
    if not a.flags.aligned:
        raise ArrayLayoutError(fn, f"{name} is not aligned")
    if writeable and not a.flags.writeable:
        raise ArrayLayoutError(fn, f"{name} is read-only but is written")
    ld = a.strides[0] // item if r > 1 else c
    return a, int32(ld, fn, f"row stride of {name}", overflow=True)


def ptr(a, ctype=None):
    """A ctypes pointer to the first element of a checked array (or None)."""
    if a is None:
        return None
    ctype = ctype or _CTYPE_OF[a.dtype]
    return ctypes.cast(a.ctypes.data, ctypes.POINTER(ctype))


def out_array(out, shape, dtype, fn, name="out"):
    """The output array: ``out`` checked against ``shape``, or a new one."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    return array(out, dtype, fn, name, shape=tuple(shape), writeable=True)


def integer(v, fn, name):
    """``v`` as a Python int (bools, numpy integers and ints pass)."""
    if v is None:
        raise NullError(fn, f"{name} is required, got None")
    try:
        return operator.index(v)
    except TypeError:
        raise ParamError(fn, f"{name} must be an integer, got "
                             f"{type(v).__name__} {v!r}") from None


def int32(v, fn, name, *, overflow=False):
    """An int that fits int32_t; out of range is a ParamError (or, for
    extents, ``overflow=True``, a SizeOverflowError)."""
    v = integer(v, fn, name)
    if not INT32_MIN <= v <= INT32_MAX:
        cls = SizeOverflowError if overflow else ParamError
        raise cls(fn, f"{name} = {v} does not fit in int32")
    return v


def int64(v, fn, name):
    v = integer(v, fn, name)
    if not -2**63 <= v < 2**63:
        raise ParamError(fn, f"{name} = {v} does not fit in int64")
    return v


def extent(v, fn, name):
    """An array extent handed to C as int32_t."""
    return int32(v, fn, name, overflow=True)


def real(v, fn, name):
    """A float argument (NaN and infinities pass: C judges them)."""
    if v is None:
        raise NullError(fn, f"{name} is required, got None")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ParamError(fn, f"{name} must be a number, got "
                             f"{type(v).__name__} {v!r}") from None


def enum_value(v, cls, fn, name):
    """An enum argument given as a member, its int value or its name.
    Integers outside the enum pass through (C rejects them as it should),
    provided they fit int32."""
    if isinstance(v, str):
        key = v.strip().upper().replace("-", "_").replace(" ", "_")
        try:
            return int(cls[key])
        except KeyError:
            names = ", ".join(m.name.lower() for m in cls)
            raise ParamError(fn, f"{name} {v!r} is not one of {names}") \
                from None
    if isinstance(v, enum.Enum) and not isinstance(v, cls):
        raise ParamError(fn, f"{name} must be a {cls.__name__}, got {v!r}")
    return int32(v, fn, name)


def pair(v, fn, name):
    """An int or a pair of ints, as PyTorch's stride/kernel arguments."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ParamError(fn, f"{name} must be an int or a pair, "
                                 f"got {v!r}")
        return int32(v[0], fn, name), int32(v[1], fn, name)
    v = int32(v, fn, name)
    return v, v


def float_tuple(v, n, fn, name):
    """Exactly ``n`` floats as a ctypes float array."""
    if v is None:
        raise NullError(fn, f"{name} is required, got None")
    try:
        seq = [real(x, fn, name) for x in v]
    except TypeError:
        seq = [real(v, fn, name)] * n
    if len(seq) != n:
        raise ShapeError(fn, f"{name} must hold {n} values, got {len(seq)}")
    return (ctypes.c_float * n)(*seq)


def dtype_of(a, fn, name, allowed=(DType.F32, DType.S8, DType.S32)):
    """The tinyq dtype of a numpy array (DtypeError for others)."""
    if not isinstance(a, np.ndarray):
        raise DtypeError(fn, f"{name} must be a numpy.ndarray, "
                             f"got {type(a).__name__}")
    for code in allowed:
        if a.dtype == NUMPY_DTYPES[code]:
            return code
    want = ", ".join(_dtype_name(NUMPY_DTYPES[c]) for c in allowed)
    raise DtypeError(fn, f"{name} must be one of {want}, got {a.dtype}")


def tensor(a, fn, name="tensor"):
    """A ``tq_tensor`` describing a checked array, made by tq_tensor_init
    (any tinyq dtype: the C function receiving it rejects the ones it
    cannot use)."""
    code = dtype_of(a, fn, name, allowed=tuple(NUMPY_DTYPES))
    if a.ndim > _lib.MAX_DIMS:
        raise ShapeError(fn, f"{name} has {a.ndim} dimensions, tinyq "
                             f"tensors have at most {_lib.MAX_DIMS}")
    t = _lib.Tensor()
    shape = (ctypes.c_int64 * _lib.MAX_DIMS)(*a.shape)
    check(_lib.lib.tq_tensor_init(ctypes.byref(t), a.ctypes.data, int(code),
                                  a.ndim, shape), "tq_tensor_init")
    return t


def dims(shape, fn, name):
    """A ``tq_dims`` from a 4-tuple of extents."""
    n, h, w, c = (extent(x, fn, f"{name} extent") for x in shape)
    return _lib.Dims(n, h, w, c)


def scratch(nbytes):
    """A scratch buffer of ``nbytes`` (None when 0) and its ctypes pointer."""
    if nbytes == 0:
        return None, None
    buf = np.empty(nbytes, dtype=np.uint8)
    return buf, ctypes.c_void_p(buf.ctypes.data)

