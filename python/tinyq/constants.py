# The enums and limits of tinyq.h as Python IntEnums and constants.
#
# SPDX-License-Identifier: Apache-2.0
"""Enumerations and limits of the C API.

Every function that takes one of these enums also accepts the plain integer
or the member's name in any case (``"relu"``, ``"half_even"``, ``"kl"``).
"""

import enum

import numpy as np


class Status(enum.IntEnum):
    """``tq_status``: the result of every fallible call."""
    OK = 0
    ERR_NULL = 1
    ERR_SHAPE = 2
    ERR_DTYPE = 3
    ERR_OVERFLOW = 4
    ERR_PARAM = 5
    ERR_UNSUPPORTED = 6
    ERR_BUFFER_TOO_SMALL = 7
    ERR_EMPTY = 8
    ERR_NOT_FINITE = 9
    ERR_ALIAS = 10
    ERR_IO = 11
    ERR_FORMAT = 12
    ERR_NOT_FOUND = 13
    ERR_NO_MEMORY = 14


class DType(enum.IntEnum):
    """``tq_dtype``: element types of tensors."""
    F32 = 1
    S8 = 2
    S32 = 3
    S16 = 4
    S64 = 5
    S4 = 6   # packed int4 weights of a quantized graph (two per byte)


class Sigma(enum.IntEnum):
    """``tq_sigma_kind``: population (numpy's ddof=0) or sample (ddof=1)."""
    POPULATION = 0
    SAMPLE = 1


class RangeMethod(enum.IntEnum):
    """``tq_range_method``: how a floating range is chosen from data."""
    MINMAX = 0
    ABSMAX = 1
    KSIGMA = 2
    PERCENTILE = 3
    MSE = 4
    KL = 5


class FloatRounding(enum.IntEnum):
    """``tq_float_rounding``: HALF_AWAY is TFLite's, HALF_EVEN PyTorch's."""
    HALF_AWAY = 0
    HALF_EVEN = 1


class Rounding(enum.IntEnum):
    """``tq_rounding``: the two fixed-point requantization modes."""
    DOUBLE = 0
    SINGLE = 1


class GeometryField(enum.IntEnum):
    """``tq_geometry_field``: the field a geometry check names."""
    OK = 0
    STRIDE_H = 1
    STRIDE_W = 2
    PAD_TOP = 3
    PAD_BOTTOM = 4
    PAD_LEFT = 5
    PAD_RIGHT = 6
    DILATION_H = 7
    DILATION_W = 8
    GROUPS = 9
    KERNEL_H = 10
    KERNEL_W = 11
    IN_N = 12
    IN_H = 13
    IN_W = 14
    IN_C = 15
    FILTER_N = 16
    FILTER_H = 17
    FILTER_W = 18
    FILTER_C = 19
    OUT_N = 20
    OUT_H = 21
    OUT_W = 22
    OUT_C = 23


class Isa(enum.IntEnum):
    """``tq_isa``: instruction-set paths of the kernels, all bit-identical."""
    AUTO = 0
    PORTABLE = 1
    AVX2 = 2
    AVX512 = 3
    NEON = 4
    # Named as TINYQ_ISA spells them ("neondot", "dsp"), so that a name
    # given to set_isa() means what the environment variable means; the C
    # names (TQ_ISA_NEON_DOT, TQ_ISA_ARM_DSP) are aliases.
    NEONDOT = 5
    DSP = 6
    NEON_DOT = 5
    ARM_DSP = 6


class Activation(enum.IntEnum):
    """``tq_activation``: fused activations."""
    NONE = 0
    RELU = 1
    RELU6 = 2
    CLIP = 3  # graph nodes only (tq_node_attrs act_min / act_max)


class Op(enum.IntEnum):
    """``tq_op``: the operations of graph nodes."""
    CONV2D = 1
    DEPTHWISE_CONV2D = 2
    FULLY_CONNECTED = 3
    MAX_POOL = 4
    AVG_POOL = 5
    GLOBAL_AVG_POOL = 6
    ADD = 7
    MUL = 8
    ACTIVATION = 9
    LEAKY_RELU = 10
    BATCH_NORM = 11
    RESHAPE = 12
    SOFTMAX = 13
    CONCAT = 14
    PAD = 15
    IDENTITY = 16
    CONV2D_RELU_MAXPOOL2 = 17


class Rewrite(enum.IntFlag):
    """``tq_rewrite``: the graph rewrites of ``Graph.finalize``."""
    FOLD_BATCH_NORM = 1
    REMOVE_IDENTITY = 2
    FOLD_PAD = 4
    FUSE_ACTIVATION = 8
    FUSE_POOL = 16
    ALL = 31


#: ``TQ_SHIFT_MIN`` and ``TQ_SHIFT_MAX``: the legal requantization shifts.
SHIFT_MIN = -31
SHIFT_MAX = 30
#: ``TQ_S8_MAX_REDUCTION``: the longest int8 dot product.
S8_MAX_REDUCTION = 32768
#: ``TQ_S16_MAX_REDUCTION``: the longest 16x8 dot product (2^24).
S16_MAX_REDUCTION = 16777216
#: ``TQ_S16_SHIFT_MAX``: the largest shift of the int64 requantization.
S16_SHIFT_MAX = 14
#: ``TQ_S16_LUT_SIZE``: entries of each int16 softmax table.
S16_LUT_SIZE = 513
#: ``TQ_MAX_DIMS``.
MAX_DIMS = 4
#: ``TQ_CIFAR10_RECORD_BYTES``.
CIFAR10_RECORD_BYTES = 3073

#: numpy dtype of each tinyq dtype.
NUMPY_DTYPES = {DType.F32: np.dtype(np.float32), DType.S8: np.dtype(np.int8),
                DType.S32: np.dtype(np.int32), DType.S16: np.dtype(np.int16),
                DType.S64: np.dtype(np.int64)}
