# Host helpers: safetensors model files (load, parse, save) and the
# CIFAR-10 binary batches (read, count, normalize), over lib/io.
#
# SPDX-License-Identifier: Apache-2.0
"""Files: safetensors and CIFAR-10 (host builds only)."""

import ctypes
import os

import numpy as np

from . import _arrays as A
from . import _lib
from .constants import NUMPY_DTYPES, DType, Status
from .errors import (DtypeError, FormatError, NullError, ParamError,
                     ShapeError, check)

_lib_ = _lib.lib

#: Bytes of one CIFAR-10 image (3 x 32 x 32).
CIFAR10_IMAGE_BYTES = 3072


def _path(path, fn):
    if path is None:
        raise NullError(fn, "path is required, got None")
    try:
        b = os.fsencode(path)
    except TypeError:
        raise ParamError(fn, f"path must be a str, bytes or os.PathLike, "
                             f"got {type(path).__name__}") from None
    if b"\0" in b:
        raise ParamError(fn, "path contains a NUL character")
    return b


def _text(s, fn, what):
    if s is None:
        raise NullError(fn, f"{what} is required, got None")
    if not isinstance(s, str):
        raise ParamError(fn, f"{what} must be a str, got {type(s).__name__}")
    b = s.encode("utf-8", "surrogatepass")
    if b"\0" in b:
        raise ParamError(fn, f"{what} {s!r} contains a NUL character")
    return b


class SafetensorsFile:
    """A loaded safetensors file (``tq_safetensors``), validated strictly by
    the library. Use as a mapping of names to arrays; arrays are copies, so
    they stay valid after :meth:`close`.

    >>> with SafetensorsFile("lenet.safetensors") as f:
    ...     w = f["conv1.weight"]              # numpy float32 (6, 3, 5, 5)
    ...     f.metadata("format")               # NotFoundError if absent
    """

    def __init__(self, path):
        fn = "tq_safetensors_load"
        handle = ctypes.c_void_p()
        check(_lib_.tq_safetensors_load(_path(path, fn),
                                        ctypes.byref(handle)), fn,
              os.fsdecode(path) if isinstance(path, (str, bytes,
                                                     os.PathLike)) else None)
        self._h = handle

    @classmethod
    def parse(cls, data):
        """Parse a safetensors image held in memory (bytes-like)."""
        fn = "tq_safetensors_parse"
        try:
            view = memoryview(data).cast("B")
        except TypeError:
            raise DtypeError(fn, f"data must be bytes-like, got "
                                 f"{type(data).__name__}") from None
        buf = np.frombuffer(view, dtype=np.uint8) if view.nbytes else \
            np.zeros(1, dtype=np.uint8)
        handle = ctypes.c_void_p()
        check(_lib_.tq_safetensors_parse(ctypes.c_void_p(buf.ctypes.data),
                                         view.nbytes, ctypes.byref(handle)),
              fn)
        f = cls.__new__(cls)
        f._h = handle
        return f

    def _handle(self, fn):
        if self._h is None:
            raise NullError(fn, "the file is closed")
        return self._h

    def close(self):
        """Free the file (``tq_safetensors_free``); idempotent."""
        h, self._h = getattr(self, "_h", None), None
        if h is not None and _lib_ is not None:
            _lib_.tq_safetensors_free(h)

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self):
        return int(_lib_.tq_safetensors_count(
            self._handle("tq_safetensors_count")))

    def names(self):
        """Tensor names in the order of the file's header."""
        fn = "tq_safetensors_name"
        h = self._handle(fn)
        out = []
        for i in range(len(self)):
            name = ctypes.c_char_p()
            check(_lib_.tq_safetensors_name(h, i, ctypes.byref(name)), fn)
            out.append(name.value.decode("utf-8", "surrogatepass"))
        return out

    keys = names

    def __iter__(self):
        return iter(self.names())

    def __contains__(self, name):
        if not isinstance(name, str) or "\0" in name:
            return False
        t = _lib.Tensor()
        status = _lib_.tq_safetensors_get(
            self._handle("tq_safetensors_get"), name.encode("utf-8",
                                                           "surrogatepass"),
            ctypes.byref(t))
        # Present with a dtype tinyq cannot use (F16, ...) still counts.
        return status != Status.ERR_NOT_FOUND

    def get(self, name):
        """A copy of tensor ``name`` as a numpy array (float32, int8 or
        int32). :class:`NotFoundError` if absent, :class:`DtypeError` for
        dtypes tinyq cannot compute on (F16, I64, ...)."""
        fn = "tq_safetensors_get"
        h = self._handle(fn)
        t = _lib.Tensor()
        check(_lib_.tq_safetensors_get(h, _text(name, fn, "name"),
                                       ctypes.byref(t)), fn, repr(name))
        dtype = NUMPY_DTYPES[DType(t.dtype)]
        out = np.empty(tuple(t.shape[:t.ndim]), dtype=dtype)
        if out.nbytes:
            ctypes.memmove(out.ctypes.data, t.data, out.nbytes)
        return out

    __getitem__ = get

    def metadata(self, key):
        """Value of a ``__metadata__`` key (:class:`NotFoundError` if absent)."""
        fn = "tq_safetensors_metadata"
        h = self._handle(fn)
        value = ctypes.c_char_p()
        check(_lib_.tq_safetensors_metadata(h, _text(key, fn, "key"),
                                            ctypes.byref(value)), fn,
              repr(key))
        return value.value.decode("utf-8", "surrogatepass")

    def to_dict(self):
        """Every tensor, name -> array copy."""
        return {n: self.get(n) for n in self.names()}


def load_safetensors(path):
    """All tensors of a safetensors file as a dict name -> numpy array."""
    with SafetensorsFile(path) as f:
        return f.to_dict()


def save_safetensors(path, tensors, metadata=None):
    """Write ``tensors`` (a mapping name -> float32/int8/int32 array of at
    most 4 dimensions, C-contiguous) and string ``metadata`` to ``path``,
    in the mapping's order (``tq_safetensors_save``). The file appears
    atomically."""
    fn = "tq_safetensors_save"
    p = _path(path, fn)
    if tensors is None:
        raise NullError(fn, "tensors is required, got None")
    items = list(tensors.items())
    meta = list((metadata or {}).items())
    arrays, names = [], []
    named = (_lib.NamedTensor * max(len(items), 1))()
    for i, (name, arr) in enumerate(items):
        names.append(_text(name, fn, "tensor name"))
        code = A.dtype_of(arr, fn, f"tensor {name!r}")
        A.array(arr, NUMPY_DTYPES[code], fn, f"tensor {name!r}")
        arrays.append(arr)
        named[i].name = names[-1]
        named[i].tensor = A.tensor(arr, fn, f"tensor {name!r}")
    keys = [_text(k, fn, "metadata key") for k, _ in meta]
    values = [_text(v, fn, f"metadata value of {k!r}") for k, v in meta]
    c_keys = (ctypes.c_char_p * max(len(keys), 1))(*keys)
    c_values = (ctypes.c_char_p * max(len(values), 1))(*values)
    check(_lib_.tq_safetensors_save(p, named, A.int32(len(items), fn,
                                                      "count"),
                                    c_keys, c_values,
                                    A.int32(len(meta), fn, "meta_count")),
          fn, os.fsdecode(p))


# ---- CIFAR-10 ----------------------------------------------------------------

def cifar10_count(path):
    """Number of records in a CIFAR-10 binary batch file."""
    fn = "tq_cifar10_count"
    n = ctypes.c_int64()
    check(_lib_.tq_cifar10_count(_path(path, fn), ctypes.byref(n)), fn,
          os.fsdecode(path))
    return n.value


def cifar10_read(path, first=0, count=None):
    """Records ``[first, first + count)`` of a CIFAR-10 batch file
    (all from ``first`` when count is None): ``(labels, pixels)``, uint8
    arrays of shape ``(count,)`` and ``(count, 3, 32, 32)`` (CHW planes)."""
    fn = "tq_cifar10_read"
    p = _path(path, fn)
    first = A.int64(first, fn, "first")
    if first < 0 or (count is not None and A.int64(count, fn, "count") < 0):
        raise ParamError(fn, f"first = {first} and count = {count} must be "
                             ">= 0")
    total = cifar10_count(path)
    count = total - first if count is None else A.int64(count, fn, "count")
    # Checked before the outputs are allocated, so that a wrong count
    # cannot ask for terabytes first.
    if first + count > total:
        raise FormatError(fn, f"records [{first}, {first + count}) run past "
                              f"the {total} of {os.fsdecode(p)}")
    labels = np.empty(count, dtype=np.uint8)
    pixels = np.empty((count, 3, 32, 32), dtype=np.uint8)
    check(_lib_.tq_cifar10_read(p, first, count, A.ptr(labels),
                                A.ptr(pixels)), fn, os.fsdecode(p))
    return labels, pixels


def _cifar10_pixels(pixels, fn):
    A.array(pixels, A.U8, fn, "pixels", ndim=4)
    if pixels.shape[1:] != (3, 32, 32):
        raise ShapeError(fn, f"pixels must be (count, 3, 32, 32), got "
                             f"{pixels.shape}")
    return pixels.shape[0]


def cifar10_normalize(pixels, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                      out=None, *, raw=False):
    """CHW uint8 records ``(count, 3, 32, 32)`` to NHWC float32
    ``(count, 32, 32, 3)``: ``((p / 255) - mean[c]) / std[c]``, rounded as
    torchvision's ToTensor + Normalize (``tq_cifar10_normalize``).

    ``raw=True`` gives the pixel values 0..255 themselves, exactly (for
    models that take raw pixels, such as MLPerf Tiny's ResNet-8; ``mean``
    and ``std`` are then ignored). Do not emulate that with ``mean=0,
    std=1/255``: ``p / 255 * 255`` in float is one ULP off on about half of
    the pixels. Other affine maps: :func:`cifar10_affine`."""
    fn = "tinyq.cifar10_normalize"
    if raw:
        return cifar10_affine(pixels, 1.0, 0.0, out)
    count = _cifar10_pixels(pixels, fn)
    out = A.out_array(out, (count, 32, 32, 3), A.F32, fn)
    check(_lib_.tq_cifar10_normalize(count, A.ptr(pixels),
                                     A.float_tuple(mean, 3, fn, "mean"),
                                     A.float_tuple(std, 3, fn, "std"),
                                     A.ptr(out)), "tq_cifar10_normalize")
    return out


def cifar10_affine(pixels, scale=1.0, offset=0.0, out=None):
    """CHW uint8 records to NHWC float32 by ``p * scale[c] + offset[c]``
    computed in double and rounded once to float (``tq_cifar10_affine``):
    integer pixels stay exact, so ``scale=1, offset=0`` returns the raw
    pixel values. ``scale`` and ``offset`` are numbers or 3 values
    (R, G, B); for mean / std in pixel units use ``scale = 1 / std``,
    ``offset = -mean / std``."""
    fn = "tinyq.cifar10_affine"
    count = _cifar10_pixels(pixels, fn)
    out = A.out_array(out, (count, 32, 32, 3), A.F32, fn)
    check(_lib_.tq_cifar10_affine(count, A.ptr(pixels),
                                  A.float_tuple(scale, 3, fn, "scale"),
                                  A.float_tuple(offset, 3, fn, "offset"),
                                  A.ptr(out)), "tq_cifar10_affine")
    return out


def load_cifar10(path, first=0, count=None, mean=(0.5, 0.5, 0.5),
                 std=(0.5, 0.5, 0.5), *, raw=False):
    """Read and normalize: ``(images NHWC float32, labels uint8)``;
    ``raw=True`` keeps the pixel values 0..255 exactly (see
    :func:`cifar10_normalize`)."""
    labels, pixels = cifar10_read(path, first, count)
    return cifar10_normalize(pixels, mean, std, raw=raw), labels
