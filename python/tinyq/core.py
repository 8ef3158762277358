# Version and status queries, tensor sizes, layout conversions between
# PyTorch's NCHW / OIHW and tinyq's NHWC / OHWI, output extents, and aligned
# host allocations.
#
# SPDX-License-Identifier: Apache-2.0
"""Core helpers: versions, sizes, layouts."""

import ctypes

import numpy as np

from . import _arrays as A
from . import _lib
from .constants import NUMPY_DTYPES, DType, Isa
from .errors import ParamError, ShapeError, check

_lib_ = _lib.lib


def version():
    """The library's version string, e.g. ``"0.1.0"``."""
    return _lib_.tq_version_string().decode()


def version_number():
    """The library's ``TQ_VERSION_NUMBER`` (MAJOR·10000 + MINOR·100 + PATCH)."""
    return int(_lib_.tq_version_number())


def kernel_path():
    """Name of the microkernel path in use (``"portable-c"``)."""
    return _lib_.tq_kernel_path().decode()


def library_path():
    """File name of the loaded shared library."""
    return _lib.path


# ---- kernel paths (instruction sets) ---------------------------------------

def isa_available():
    """The kernel paths this library and CPU can run, as a list of
    :class:`~tinyq.Isa` (``tq_isa_available``); PORTABLE is always there."""
    mask = int(_lib_.tq_isa_available())
    return [isa for isa in Isa if isa != Isa.AUTO and mask >> int(isa) & 1]


def set_isa(isa):
    """Choose the kernel path of every later call in the process
    (``tq_set_isa``): an :class:`~tinyq.Isa` or its name (``"avx2"``);
    AUTO picks the fastest. :class:`UnsupportedError` for a path this
    machine lacks. Every path computes the same bits."""
    check(_lib_.tq_set_isa(A.enum_value(isa, Isa, "tq_set_isa", "isa")),
          "tq_set_isa")


def get_isa():
    """The :class:`~tinyq.Isa` in use (``tq_get_isa``; never AUTO)."""
    v = int(_lib_.tq_get_isa())
    return Isa(v) if v in Isa._value2member_map_ else v


def isa_name(isa):
    """The name of a path as the TINYQ_ISA environment variable spells it
    (``tq_isa_name``): "auto", "portable", "avx2", "avx512", "neon",
    "neondot", "dsp"."""
    fn = "tq_isa_name"
    name = _lib_.tq_isa_name(A.int32(isa, fn, "isa"))
    if name is None:
        raise ParamError(fn, f"{isa!r} is no tinyq.Isa")
    return name.decode()


def dtype_size(dtype):
    """Bytes of one element of a :class:`~tinyq.DType` (0 if unknown)."""
    code = A.enum_value(dtype, DType, "tinyq.dtype_size", "dtype")
    return int(_lib_.tq_dtype_size(code))


def shape_numel(shape):
    """Element count of a shape (``tq_shape_numel``), overflow-checked
    against size_t: ``shape_numel((2, 3)) == 6``."""
    fn = "tq_shape_numel"
    shape = [A.int64(s, fn, "extent") for s in shape]
    if len(shape) > 64:
        raise ShapeError(fn, f"{len(shape)} dimensions, at most 64")
    arr = (ctypes.c_int64 * max(len(shape), 1))(*shape)
    count = ctypes.c_size_t()
    check(_lib_.tq_shape_numel(len(shape), arr, ctypes.byref(count)), fn)
    return count.value


def numel(a):
    """Element count of an f32/s8/s32 array, as ``tq_tensor_numel``."""
    t = A.tensor(a, "tinyq.numel", "a")
    count = ctypes.c_size_t()
    check(_lib_.tq_tensor_numel(ctypes.byref(t), ctypes.byref(count)),
          "tq_tensor_numel")
    return count.value


def nbytes(a):
    """Byte count of an f32/s8/s32 array, as ``tq_tensor_nbytes``."""
    t = A.tensor(a, "tinyq.nbytes", "a")
    count = ctypes.c_size_t()
    check(_lib_.tq_tensor_nbytes(ctypes.byref(t), ctypes.byref(count)),
          "tq_tensor_nbytes")
    return count.value


def conv_output_size(size, kernel, stride=1, dilation=1, pad_before=0,
                     pad_after=0):
    """Output extent of a convolution or pooling window along one axis:
    ``(size + pad_before + pad_after - dilation*(kernel-1) - 1) // stride + 1``
    (``tq_conv_output_size``)."""
    fn = "tq_conv_output_size"
    args = [A.int32(v, fn, n) for v, n in (
        (size, "size"), (kernel, "kernel"), (stride, "stride"),
        (dilation, "dilation"), (pad_before, "pad_before"),
        (pad_after, "pad_after"))]
    out = ctypes.c_int32()
    check(_lib_.tq_conv_output_size(*args, ctypes.byref(out)), fn)
    return out.value


# ---- layouts -------------------------------------------------------------

#: The dtypes the layout conversions move (any element size).
_LAYOUT_DTYPES = (DType.F32, DType.S8, DType.S32, DType.S16, DType.S64)


def _permute(cfn, x, out, out_shape, fn):
    code = A.dtype_of(x, fn, "x", allowed=_LAYOUT_DTYPES)
    A.array(x, NUMPY_DTYPES[code], fn, "x", ndim=4)
    out = A.out_array(out, out_shape, NUMPY_DTYPES[code], fn)
    tin, tout = A.tensor(x, fn, "x"), A.tensor(out, fn, "out")
    check(cfn(ctypes.byref(tin), ctypes.byref(tout)), cfn.__name__)
    return out


def nchw_to_nhwc(x, out=None):
    """PyTorch activations {N, C, H, W} to tinyq's {N, H, W, C}
    (any of float32, int8, int32; ``tq_nchw_to_nhwc``)."""
    fn = "tinyq.nchw_to_nhwc"
    shape = _shape4(x, fn)
    n, c, h, w = shape
    return _permute(_lib_.tq_nchw_to_nhwc, x, out, (n, h, w, c), fn)


def nhwc_to_nchw(x, out=None):
    """tinyq activations {N, H, W, C} back to PyTorch's {N, C, H, W}."""
    fn = "tinyq.nhwc_to_nchw"
    n, h, w, c = _shape4(x, fn)
    return _permute(_lib_.tq_nhwc_to_nchw, x, out, (n, c, h, w), fn)


def oihw_to_ohwi(w, out=None):
    """PyTorch conv weights {O, I, H, W} to tinyq's {O, H, W, I}."""
    fn = "tinyq.oihw_to_ohwi"
    o, i, h, ww = _shape4(w, fn)
    return _permute(_lib_.tq_oihw_to_ohwi, w, out, (o, h, ww, i), fn)


def oihw_to_dw(w, out=None):
    """PyTorch depthwise weights {C·M, 1, H, W} to tinyq's {1, H, W, C·M}."""
    fn = "tinyq.oihw_to_dw"
    o, one, h, ww = _shape4(w, fn)
    if one != 1:
        raise ShapeError(fn, f"depthwise weights must be (C*M, 1, H, W), "
                             f"got {w.shape}")
    return _permute(_lib_.tq_oihw_to_dw, w, out, (1, h, ww, o), fn)


def _shape4(x, fn):
    A.dtype_of(x, fn, "x", allowed=_LAYOUT_DTYPES)
    if x.ndim != 4:
        raise ShapeError(fn, f"x must have 4 dimensions, got shape {x.shape}")
    return x.shape


# ---- aligned host memory ---------------------------------------------------

class _HostBlock:
    """Memory from tq_tensor_alloc, freed when the last array using it goes."""

    def __init__(self, t, dtype, shape):
        self._t = t
        self.__array_interface__ = {
            "shape": tuple(shape), "typestr": np.dtype(dtype).str,
            "data": (t.data or 0, False), "version": 3}

    def __del__(self):
        if self._t is not None:
            _lib_.tq_tensor_free(ctypes.byref(self._t))
            self._t = None


def empty_aligned(shape, dtype=np.float32):
    """A zeroed array of up to 4 dimensions in 64-byte aligned memory from
    the library's heap helper (``tq_tensor_alloc``); the memory is freed
    with ``tq_tensor_free`` when the array is garbage-collected."""
    fn = "tinyq.empty_aligned"
    np_dtype = np.dtype(dtype)
    codes = [c for c, d in NUMPY_DTYPES.items() if d == np_dtype]
    if not codes:
        A.dtype_of(np.empty(0, np_dtype), fn, "dtype")
    shape = (shape,) if not isinstance(shape, (tuple, list)) else shape
    shape = [A.int64(s, fn, "extent") for s in shape]
    if len(shape) > _lib.MAX_DIMS:
        raise ShapeError(fn, f"at most {_lib.MAX_DIMS} dimensions")
    t = _lib.Tensor()
    arr = (ctypes.c_int64 * _lib.MAX_DIMS)(*shape)
    check(_lib_.tq_tensor_alloc(ctypes.byref(t), int(codes[0]), len(shape),
                                arr), "tq_tensor_alloc")
    return np.asarray(_HostBlock(t, np_dtype, shape))
