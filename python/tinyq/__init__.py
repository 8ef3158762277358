# tinyq for Python: the C library through ctypes, on numpy arrays.
#
# SPDX-License-Identifier: Apache-2.0
"""tinyq: post-training int8 quantization and integer-only inference.

A thin, pure-Python binding of libtinyq (found next to this package, through
``$TINYQ_LIBRARY``, or on the system library path; its major version must
be the one this package was written for). Every function takes and returns
numpy arrays, checks dtype, contiguity and shape before calling C, never
copies an input silently, and turns every status code into an exception
(see :mod:`tinyq.errors`).

Areas:
    core        versions, sizes, NCHW/OIHW <-> NHWC/OHWI layouts
    geometry    Padding (named sides; ONNX / F.pad / SAME / CMSIS-NN forms),
                conv_pad_after, check_conv_geometry, ...
    stats       Stats, ChannelStats, Histogram
    quant       QScheme, QParams, choose_range, quantize, quantize_bias, ...
    requant     quantize_multiplier, OutputStage, requantize_rows
    f32         the float kernels (``tinyq.f32.conv2d``, ...)
    s8          the int8 kernels (``tinyq.s8.conv2d``, ...)
    s16         int16 activations, int8 weights (``tinyq.s16.conv2d``, ...)
    s4          int4 weights, int8 activations (``tinyq.s4.fully_connected``)
    io          safetensors files and CIFAR-10 batches
    graph       Graph (ONNX in, float run, calibrate, int8 run), GraphBuilder
"""

from . import errors
from .constants import (CIFAR10_RECORD_BYTES, MAX_DIMS, S8_MAX_REDUCTION,
                        S16_MAX_REDUCTION, SHIFT_MAX, SHIFT_MIN, Activation,
                        DType, FloatRounding, GeometryField, Isa, Op,
                        RangeMethod, Rewrite, Rounding, Sigma, Status)
from .core import (conv_output_size, dtype_size, empty_aligned, get_isa,
                   isa_available, isa_name, kernel_path, library_path, nbytes,
                   nchw_to_nhwc, nhwc_to_nchw, numel, oihw_to_dw,
                   oihw_to_ohwi, set_isa, shape_numel, version,
                   version_number)
from ._geometry import (GeometryReport, Padding, check_conv_geometry,
                        check_pool_geometry, conv_pad_after,
                        conv_same_padding)
from .errors import (AliasError, ArrayLayoutError, BufferTooSmallError,
                     DtypeError, EmptyError, FormatError, NoMemoryError,
                     NotFiniteError, NotFoundError, NullError, ParamError,
                     ShapeError, SizeOverflowError, TinyqError, TinyqIOError,
                     UnsupportedError, status_message)
from .stats import ChannelStats, Histogram, Stats
from .quant import (QParams, QScheme, QuantErrorResult, RangeConfig,
                    calibrate, choose_range, compare, dequantize, fake_quant,
                    measure_quant_error, qparams_from_range, quantize,
                    quantize_bias)
from .requant import (OutputStage, activation_range, quantize_multiplier,
                      quantize_multipliers, requantize, requantize_rows)
from . import kernels_f32 as f32
from . import kernels_s8 as s8
from . import kernels_s16 as s16
from . import kernels_s4 as s4
from . import io
from .graph import Graph, GraphBuilder, QuantConfig
from . import recovery
from . import budget  # mixed precision under a budget
from ._lib import EXPECTED_MAJOR, LibraryLoadError

__version__ = "0.4.0"

__all__ = [
    # constants and enums
    "CIFAR10_RECORD_BYTES", "MAX_DIMS", "S8_MAX_REDUCTION",
    "S16_MAX_REDUCTION", "SHIFT_MAX",
    "SHIFT_MIN", "Activation", "DType", "FloatRounding", "RangeMethod",
    "Rounding", "Sigma", "Status", "Isa", "GeometryField", "Op", "Rewrite",
    "EXPECTED_MAJOR",
    # graphs
    "Graph", "GraphBuilder", "QuantConfig",
    # core
    "conv_output_size", "dtype_size", "empty_aligned", "kernel_path",
    "library_path", "nbytes", "nchw_to_nhwc", "nhwc_to_nchw", "numel",
    "oihw_to_dw", "oihw_to_ohwi", "shape_numel", "version", "version_number",
    "isa_available", "set_isa", "get_isa", "isa_name",
    # geometry
    "Padding", "GeometryReport", "conv_same_padding", "conv_pad_after",
    "check_conv_geometry", "check_pool_geometry",
    # errors
    "errors", "status_message", "LibraryLoadError", "TinyqError",
    "NullError", "ShapeError", "DtypeError", "SizeOverflowError",
    "ParamError", "UnsupportedError", "BufferTooSmallError", "EmptyError",
    "NotFiniteError", "AliasError", "TinyqIOError", "FormatError",
    "NotFoundError", "NoMemoryError", "ArrayLayoutError",
    # statistics, quantization, requantization
    "Stats", "ChannelStats", "Histogram", "QScheme", "RangeConfig",
    "QParams", "QuantErrorResult", "calibrate", "choose_range", "compare",
    "dequantize", "fake_quant", "measure_quant_error", "qparams_from_range",
    "quantize", "quantize_bias", "OutputStage", "activation_range",
    "quantize_multiplier",
    "quantize_multipliers", "requantize", "requantize_rows",
    # kernels and files
    "f32", "s8", "s16", "s4", "io",
]
