# The exception hierarchy: one class per tq_status code, each carrying the
# library's own message for it.
#
# SPDX-License-Identifier: Apache-2.0
"""Exceptions.

Every status code other than ``TQ_OK`` becomes an instance of one subclass
of :class:`TinyqError`; the wrappers raise the same classes when they reject
an argument before calling C. Each class also derives from the closest
built-in exception, so ``except ValueError`` and friends keep working.

==========================  ==============================  =================
status                      class                           also a
==========================  ==============================  =================
``TQ_ERR_NULL``             :class:`NullError`              ``ValueError``
``TQ_ERR_SHAPE``            :class:`ShapeError`             ``ValueError``
``TQ_ERR_DTYPE``            :class:`DtypeError`             ``TypeError``
``TQ_ERR_OVERFLOW``         :class:`SizeOverflowError`      ``OverflowError``
``TQ_ERR_PARAM``            :class:`ParamError`             ``ValueError``
``TQ_ERR_UNSUPPORTED``      :class:`UnsupportedError`       ``ValueError``
``TQ_ERR_BUFFER_TOO_SMALL`` :class:`BufferTooSmallError`    ``ValueError``
``TQ_ERR_EMPTY``            :class:`EmptyError`             ``ValueError``
``TQ_ERR_NOT_FINITE``       :class:`NotFiniteError`         ``ValueError``
``TQ_ERR_ALIAS``            :class:`AliasError`             ``ValueError``
``TQ_ERR_IO``               :class:`TinyqIOError`           ``OSError``
``TQ_ERR_FORMAT``           :class:`FormatError`            ``ValueError``
``TQ_ERR_NOT_FOUND``        :class:`NotFoundError`          ``LookupError``
``TQ_ERR_NO_MEMORY``        :class:`NoMemoryError`          ``MemoryError``
(none: Python side only)    :class:`ArrayLayoutError`       ``ValueError``
==========================  ==============================  =================
"""

from . import _lib
from .constants import Status


def status_message(status):
    """The library's sentence for a status code (``tq_status_message``)."""
    code = int(status)
    if not -2**31 <= code < 2**31:
        code = -1  # any unknown code gets the library's "unknown status"
    return _lib.lib.tq_status_message(code).decode("utf-8", "replace")


class TinyqError(Exception):
    """Base class of every tinyq error.

    Attributes:
        status: the :class:`~tinyq.Status` code (``None`` for
            :class:`ArrayLayoutError`, which has no C counterpart).
        message: ``tq_status_message(status)``, the library's sentence.
        function: the C function that returned the code, or the Python
            wrapper that rejected the argument.
        detail: what exactly was wrong, when the wrapper knows.
    """

    status = None

    def __init__(self, function=None, detail=None, status=None):
        code = self.status if status is None else status
        if code is not None:
            try:
                code = Status(code)
            except ValueError:
                code = int(code)  # unknown to this package: keep the number
        self.status = code
        self.message = (status_message(code) if code is not None
                        else "array not usable as it is")
        self.function = function
        self.detail = detail
        text = self.message
        if function:
            text = f"{function}: {text}"
        if detail:
            text = f"{text} ({detail})"
        super().__init__(text)


class NullError(TinyqError, ValueError):
    """``TQ_ERR_NULL``: a required argument is missing (None)."""
    status = Status.ERR_NULL


class ShapeError(TinyqError, ValueError):
    """``TQ_ERR_SHAPE``: invalid or inconsistent shapes."""
    status = Status.ERR_SHAPE


class DtypeError(TinyqError, TypeError):
    """``TQ_ERR_DTYPE``: an array has the wrong dtype (or is no array)."""
    status = Status.ERR_DTYPE


class SizeOverflowError(TinyqError, OverflowError):
    """``TQ_ERR_OVERFLOW``: a size or extent exceeds its limit."""
    status = Status.ERR_OVERFLOW


class ParamError(TinyqError, ValueError):
    """``TQ_ERR_PARAM``: a parameter is outside its legal range."""
    status = Status.ERR_PARAM


class UnsupportedError(TinyqError, ValueError):
    """``TQ_ERR_UNSUPPORTED``: a legal but unsupported combination."""
    status = Status.ERR_UNSUPPORTED


class BufferTooSmallError(TinyqError, ValueError):
    """``TQ_ERR_BUFFER_TOO_SMALL``: a buffer is smaller than required."""
    status = Status.ERR_BUFFER_TOO_SMALL


class EmptyError(TinyqError, ValueError):
    """``TQ_ERR_EMPTY``: a statistic was asked of no data."""
    status = Status.ERR_EMPTY


class NotFiniteError(TinyqError, ValueError):
    """``TQ_ERR_NOT_FINITE``: the data holds NaN or infinity."""
    status = Status.ERR_NOT_FINITE


class AliasError(TinyqError, ValueError):
    """``TQ_ERR_ALIAS``: an output overlaps an input."""
    status = Status.ERR_ALIAS


class TinyqIOError(TinyqError, OSError):
    """``TQ_ERR_IO``: a file could not be opened, read or written."""
    status = Status.ERR_IO


class FormatError(TinyqError, ValueError):
    """``TQ_ERR_FORMAT``: a file is malformed."""
    status = Status.ERR_FORMAT


class NotFoundError(TinyqError, LookupError):
    """``TQ_ERR_NOT_FOUND``: a named item is not present."""
    status = Status.ERR_NOT_FOUND


class NoMemoryError(TinyqError, MemoryError):
    """``TQ_ERR_NO_MEMORY``: a host helper could not allocate."""
    status = Status.ERR_NO_MEMORY


class ArrayLayoutError(TinyqError, ValueError):
    """An array is not C-contiguous, not aligned, or not writeable where
    tinyq must write. tinyq never copies silently; ``np.ascontiguousarray``
    makes a suitable copy."""
    status = None


_BY_STATUS = {cls.status: cls for cls in (
    NullError, ShapeError, DtypeError, SizeOverflowError, ParamError,
    UnsupportedError, BufferTooSmallError, EmptyError, NotFiniteError,
    AliasError, TinyqIOError, FormatError, NotFoundError, NoMemoryError)}


def error_class(status):
    """The exception class of a status code (TinyqError for unknown ones)."""
    try:
        return _BY_STATUS[Status(status)]
    except (ValueError, KeyError):
        return TinyqError


def check(status, function, detail=None):
    """Raise the exception of ``status`` unless it is ``TQ_OK``."""
    if status == 0:
        return
    raise error_class(status)(function, detail, status)
