# Loading libtinyq and describing its C API to ctypes: the structs of
# tinyq.h, one prototype per exported function, and the version check.
#
# SPDX-License-Identifier: Apache-2.0
"""Low-level access to the shared library (internal).

``lib`` holds every function of ``include/tinyq.h`` as a ctypes function
with its ``argtypes``/``restype`` set (or a stub raising NotImplementedError
where the loaded library lacks it). The wrappers in the other modules
validate every argument before they call into it; calling ``lib`` directly
gives none of that protection.
"""

import ctypes
import ctypes.util
import glob
import os
import sys

#: The major version of the C API this package was written for
#: (``TQ_VERSION_MAJOR`` of include/tinyq.h).
EXPECTED_MAJOR = 0

#: ``TQ_MAX_DIMS``.
MAX_DIMS = 4


class LibraryLoadError(ImportError):
    """libtinyq could not be found or loaded, or has the wrong version."""


# ---- structs of tinyq.h (field order and types exactly as in C) ---------

_i32 = ctypes.c_int32
_i64 = ctypes.c_int64
_u32 = ctypes.c_uint32
_u64 = ctypes.c_uint64
_f32 = ctypes.c_float
_f64 = ctypes.c_double
_size = ctypes.c_size_t
_status = ctypes.c_int  # the tq_status enum


class Tensor(ctypes.Structure):
    """``tq_tensor``."""
    _fields_ = [("data", ctypes.c_void_p), ("dtype", _i32), ("ndim", _i32),
                ("shape", _i64 * MAX_DIMS)]


class Dims(ctypes.Structure):
    """``tq_dims``."""
    _fields_ = [("n", _i32), ("h", _i32), ("w", _i32), ("c", _i32)]


class Stats(ctypes.Structure):
    """``tq_stats``."""
    _fields_ = [("count", _u64), ("min", _f64), ("max", _f64),
                ("mean", _f64), ("m2", _f64)]


class Histogram(ctypes.Structure):
    """``tq_histogram``."""
    _fields_ = [("bins", ctypes.POINTER(_u64)), ("nbins", _u32),
                ("reserved", _u32), ("lo", _f64), ("hi", _f64),
                ("below", _u64), ("above", _u64)]


class QScheme(ctypes.Structure):
    """``tq_qscheme``."""
    _fields_ = [("bits", _i32), ("symmetric", _i32), ("narrow_range", _i32),
                ("pow2_scale", _i32)]


class RangeConfig(ctypes.Structure):
    """``tq_range_config``."""
    _fields_ = [("method", _i32), ("reserved", _i32), ("k", _f64),
                ("percentile", _f64)]


class QParams(ctypes.Structure):
    """``tq_qparams``."""
    _fields_ = [("scale", ctypes.POINTER(_f32)),
                ("zero_point", ctypes.POINTER(_i32)), ("count", _i64),
                ("axis", _i32), ("qmin", _i32), ("qmax", _i32),
                ("rounding", _i32)]


class QuantError(ctypes.Structure):
    """``tq_quant_error``."""
    _fields_ = [("mse", _f64), ("sqnr_db", _f64), ("max_abs", _f64),
                ("frac_clipped", _f64)]


class S8Output(ctypes.Structure):
    """``tq_s8_output``."""
    _fields_ = [("multiplier", ctypes.POINTER(_i32)),
                ("shift", ctypes.POINTER(_i32)), ("per_channel", _i32),
                ("rounding", _i32), ("output_offset", _i32),
                ("act_min", _i32), ("act_max", _i32)]


class F32Act(ctypes.Structure):
    """``tq_f32_act``."""
    _fields_ = [("min", _f32), ("max", _f32)]


class ConvParams(ctypes.Structure):
    """``tq_conv_params``."""
    _fields_ = [("stride_h", _i32), ("stride_w", _i32), ("pad_top", _i32),
                ("pad_bottom", _i32), ("pad_left", _i32), ("pad_right", _i32),
                ("dilation_h", _i32), ("dilation_w", _i32), ("groups", _i32)]


class PoolParams(ctypes.Structure):
    """``tq_pool_params``."""
    _fields_ = [("kernel_h", _i32), ("kernel_w", _i32), ("stride_h", _i32),
                ("stride_w", _i32), ("pad_top", _i32), ("pad_bottom", _i32),
                ("pad_left", _i32), ("pad_right", _i32)]


class GeometryReport(ctypes.Structure):
    """``tq_geometry_report``."""
    _fields_ = [("field", _i32), ("value", _i32), ("expected", _i32),
                ("pad_after", _i32)]


class S8AddParams(ctypes.Structure):
    """``tq_s8_add_params``."""
    _fields_ = [(name, _i32) for name in (
        "input1_offset", "input1_multiplier", "input1_shift",
        "input2_offset", "input2_multiplier", "input2_shift", "left_shift",
        "output_multiplier", "output_shift", "output_offset", "act_min",
        "act_max", "rounding")]


class S16Output(ctypes.Structure):
    """``tq_s16_output``."""
    _fields_ = [("multiplier", ctypes.POINTER(_i32)),
                ("shift", ctypes.POINTER(_i32)), ("per_channel", _i32),
                ("rounding", _i32), ("act_min", _i32), ("act_max", _i32)]


class S16MulParams(ctypes.Structure):
    """``tq_s16_mul_params``."""
    _fields_ = [(name, _i32) for name in (
        "output_multiplier", "output_shift", "act_min", "act_max",
        "rounding")]


class S16SoftmaxParams(ctypes.Structure):
    """``tq_s16_softmax_params``."""
    _fields_ = [("input_multiplier", _i32), ("input_shift", _i32),
                ("exp_lut", ctypes.POINTER(ctypes.c_int16)),
                ("recip_lut", ctypes.POINTER(ctypes.c_int16))]


class S8MulParams(ctypes.Structure):
    """``tq_s8_mul_params``."""
    _fields_ = [(name, _i32) for name in (
        "input1_offset", "input2_offset", "output_multiplier",
        "output_shift", "output_offset", "act_min", "act_max", "rounding")]


class S8SoftmaxParams(ctypes.Structure):
    """``tq_s8_softmax_params``."""
    _fields_ = [(name, _i32) for name in (
        "input_multiplier", "input_left_shift", "diff_min")]


class BatchMatmulParams(ctypes.Structure):
    """``tq_batch_matmul_params``."""
    _fields_ = [("lhs_batch", _i32 * 3), ("rhs_batch", _i32 * 3),
                ("m", _i32), ("n", _i32), ("k", _i32), ("adj_x", _i32),
                ("adj_y", _i32)]


class NamedTensor(ctypes.Structure):
    """``tq_named_tensor``."""
    _fields_ = [("name", ctypes.c_char_p), ("tensor", Tensor)]


class NodeAttrs(ctypes.Structure):
    """``tq_node_attrs``."""
    _fields_ = [("conv", ConvParams), ("pool", PoolParams), ("act", _i32),
                ("act_min", _f32), ("act_max", _f32), ("alpha", _f32),
                ("epsilon", _f32), ("count_include_pad", _i32),
                ("depth_multiplier", _i32), ("ndim", _i32),
                ("reserved", _i32), ("shape", _i64 * MAX_DIMS)]


class GraphNodeInfo(ctypes.Structure):
    """``tq_graph_node_info``."""
    _fields_ = [("name", ctypes.c_char_p), ("op", _i32), ("n_inputs", _i32),
                ("inputs", ctypes.POINTER(_i32)), ("output", _i32),
                ("reserved", _i32), ("attrs", NodeAttrs)]


class GraphTensorInfo(ctypes.Structure):
    """``tq_graph_tensor_info``."""
    _fields_ = [("name", ctypes.c_char_p), ("dtype", _i32), ("ndim", _i32),
                ("shape", _i64 * MAX_DIMS), ("is_constant", _i32),
                ("qaxis", _i32), ("data", ctypes.c_void_p), ("qcount", _i64),
                ("scale", ctypes.POINTER(_f32)),
                ("zero_point", ctypes.POINTER(_i32))]


class QuantConfig(ctypes.Structure):
    """``tq_quant_config``."""
    _fields_ = [("activation_range", RangeConfig),
                ("activation_scheme", QScheme),
                ("weight_range", RangeConfig), ("weight_scheme", QScheme),
                ("weight_per_channel", _i32), ("rounding", _i32),
                ("histogram_bins", _i32), ("reserved", _i32)]



class EqualizeConfig(ctypes.Structure):
    """``tq_equalize_config``."""
    _fields_ = [("iterations", _i32), ("relu6", _i32),
                ("absorb_bias", _i32), ("absorb_sigmas", _f32)]


#: ``tq_recovery_progress``.
RECOVERY_PROGRESS = ctypes.CFUNCTYPE(_i32, ctypes.c_void_p, ctypes.c_char_p,
                                     _i32, _i32, _f64)


class RecoveryConfig(ctypes.Structure):
    """``tq_recovery_config``."""
    _fields_ = [("weight_bits", _i32), ("keep_ends_8bit", _i32),
                ("bias_correction", _i32), ("adaround", _i32),
                ("iterations", _i32), ("lambda_", _f32),
                ("beta_start", _f32), ("beta_end", _f32), ("warmup", _f32),
                ("learning_rate", _f32), ("max_patches", _i32),
                ("reserved", _i32), ("seed", _u64), ("time_limit", _f64),
                ("progress", RECOVERY_PROGRESS),
                ("progress_ctx", ctypes.c_void_p)]


# ---- mixed precision under a budget (tq_graph_quantize_budget) ----------

class LayerSensitivity(ctypes.Structure):
    """``tq_layer_sensitivity``."""
    _fields_ = [("node", _i32), ("weight_tensor", _i32),
                ("output_tensor", _i32), ("can_s16", _i32),
                ("weights", _i64), ("channels", _i64), ("bytes_s8", _i64),
                ("bytes_s4", _i64), ("bytes_s16", _i64),
                ("error_s8", _f64), ("agreement_s8", _f64),
                ("error_s4", _f64), ("agreement_s4", _f64),
                ("error_s16", _f64), ("agreement_s16", _f64),
                ("weight_dtype", _i32), ("activation_dtype", _i32)]


class BudgetConfig(ctypes.Structure):
    """``tq_budget_config``."""
    _fields_ = [("weight_bytes", _i64), ("arena_bytes", _i64),
                ("allow_s16", _i32), ("max_verify", _i32)]


class BudgetResult(ctypes.Structure):
    """``tq_budget_result``."""
    _fields_ = [("weight_bytes", _i64), ("weight_bytes_s8", _i64),
                ("weight_bytes_min", _i64), ("arena_bytes", _i64),
                ("error_s8", _f64), ("predicted_error", _f64),
                ("error", _f64), ("agreement", _f64), ("layers_s4", _i32),
                ("layers_s16", _i32), ("measured", _i32),
                ("backed_off", _i32)]

# ---- end of mixed precision under a budget -------------------------------

# ---- recovery on quantized inputs (tq_graph_recover_ext) ----
class RecoveryExt(ctypes.Structure):
    """``tq_recovery_ext``."""
    _fields_ = [("asymmetric", _i32), ("bias_quantized", _i32),
                ("reserved", _i32 * 6)]


# ---- prototypes ----------------------------------------------------------

def _p(t):
    return ctypes.POINTER(t)


_vp = ctypes.c_void_p
_cp = ctypes.c_char_p
_pf32 = _p(_f32)
_pi32 = _p(_i32)
_pi8 = _p(ctypes.c_int8)
_pu8 = _p(ctypes.c_uint8)
_pd = _p(_f64)
_psize = _p(_size)
_conv = _p(ConvParams)
_dims = _p(Dims)
_act = _p(F32Act)
_os = _p(S8Output)
_pool = _p(PoolParams)
_pi16 = _p(ctypes.c_int16)
_os16 = _p(S16Output)

# name -> (restype, argtypes). Every TQ_API function of tinyq.h is here
# (python/tests/test_loading.py checks that against the header).
PROTOTYPES = {
    # version, status, tensors, layouts
    "tq_version_number": (_u32, []),
    "tq_version_string": (_cp, []),
    "tq_status_message": (_cp, [_status]),
    "tq_dtype_size": (_size, [_i32]),
    "tq_tensor_init": (_status, [_p(Tensor), _vp, _i32, _i32, _p(_i64)]),
    "tq_tensor_numel": (_status, [_p(Tensor), _psize]),
    "tq_tensor_nbytes": (_status, [_p(Tensor), _psize]),
    "tq_shape_numel": (_status, [_i32, _p(_i64), _psize]),
    "tq_nchw_to_nhwc": (_status, [_p(Tensor), _p(Tensor)]),
    "tq_nhwc_to_nchw": (_status, [_p(Tensor), _p(Tensor)]),
    "tq_oihw_to_ohwi": (_status, [_p(Tensor), _p(Tensor)]),
    "tq_oihw_to_dw": (_status, [_p(Tensor), _p(Tensor)]),
    # statistics
    "tq_stats_init": (_status, [_p(Stats)]),
    "tq_stats_update_f32": (_status, [_p(Stats), _pf32, _size]),
    "tq_stats_update_s8": (_status, [_p(Stats), _pi8, _size]),
    "tq_stats_merge": (_status, [_p(Stats), _p(Stats)]),
    "tq_stats_variance": (_status, [_p(Stats), _i32, _pd]),
    "tq_stats_stddev": (_status, [_p(Stats), _i32, _pd]),
    "tq_stats_ksigma_range": (_status, [_p(Stats), _f64, _pd, _pd]),
    "tq_stats_update_axis_f32": (_status, [_p(Stats), _i64, _p(Tensor), _i32]),
    "tq_histogram_init": (_status, [_p(Histogram), _p(_u64), _u32, _f64, _f64]),
    "tq_histogram_add_f32": (_status, [_p(Histogram), _pf32, _size]),
    "tq_histogram_total": (_u64, [_p(Histogram)]),
    "tq_histogram_percentile": (_status, [_p(Histogram), _f64, _pd]),
    # quantization
    "tq_qscheme_qrange": (_status, [_p(QScheme), _pi32, _pi32]),
    "tq_choose_range": (_status, [_p(RangeConfig), _p(QScheme), _p(Stats),
                                  _p(Histogram), _pd, _pd]),
    "tq_qparams_from_range": (_status, [_p(QScheme), _f64, _f64, _pf32, _pi32]),
    "tq_quantize": (_status, [_p(Tensor), _p(QParams), _p(Tensor)]),
    "tq_dequantize": (_status, [_p(Tensor), _p(QParams), _p(Tensor)]),
    "tq_fake_quant": (_status, [_p(Tensor), _p(QParams), _p(Tensor)]),
    "tq_measure_quant_error": (_status, [_p(Tensor), _p(QParams),
                                         _p(QuantError)]),
    "tq_compare_f32": (_status, [_pf32, _pf32, _size, _p(QuantError)]),
    "tq_quantize_bias": (_status, [_i64, _pf32, _f32, _pf32, _i32, _pi32]),
    # requantization
    "tq_quantize_multiplier": (_status, [_f64, _pi32, _pi32]),
    "tq_requantize": (_status, [_i32, _i32, _i32, _i32, _pi32]),
    "tq_s8_requantize_rows": (_status, [_i32, _i32, _pi32, _i32, _os, _pi8,
                                        _i32]),
    "tq_s8_activation_range": (_status, [_i32, _f32, _i32, _pi32, _pi32]),
    # f32 kernels
    "tq_f32_act_from": (_status, [_i32, _act]),
    "tq_conv_output_size": (_status, [_i32, _i32, _i32, _i32, _i32, _i32,
                                      _pi32]),
    "tq_conv_same_padding": (_status, [_i32, _i32, _i32, _i32, _i32, _pi32,
                                       _pi32]),
    "tq_conv_pad_after": (_status, [_i32, _i32, _i32, _i32, _i32, _i32,
                                    _pi32]),
    "tq_conv_check_geometry": (_status, [_conv, _dims, _dims, _dims, _i32,
                                         _p(GeometryReport)]),
    "tq_pool_check_geometry": (_status, [_pool, _dims, _dims,
                                         _p(GeometryReport)]),
    "tq_f32_gemm": (_status, [_i32, _i32, _i32, _pf32, _i32, _pf32, _i32,
                              _pf32, _act, _pf32, _i32]),
    "tq_f32_conv2d_scratch_size": (_status, [_conv, _dims, _dims, _dims,
                                             _psize]),
    "tq_f32_conv2d": (_status, [_conv, _dims, _pf32, _dims, _pf32, _pf32,
                                _act, _dims, _pf32, _vp, _size]),
    "tq_f32_depthwise_conv2d": (_status, [_conv, _dims, _pf32, _dims, _pf32,
                                          _pf32, _act, _dims, _pf32]),
    "tq_f32_fully_connected": (_status, [_i32, _i32, _i32, _pf32, _pf32,
                                         _pf32, _act, _pf32]),
    "tq_f32_max_pool": (_status, [_pool, _dims, _pf32, _act, _dims, _pf32]),
    "tq_f32_avg_pool": (_status, [_pool, _dims, _pf32, _act, _dims, _pf32]),
    "tq_f32_add": (_status, [_size, _pf32, _pf32, _act, _pf32]),
    "tq_f32_softmax": (_status, [_i32, _i32, _pf32, _pf32]),
    "tq_f32_conv2d_relu_maxpool2_scratch_size": (_status, [_conv, _dims,
                                                           _dims, _dims,
                                                           _psize]),
    "tq_f32_conv2d_relu_maxpool2": (_status, [_conv, _dims, _pf32, _dims,
                                              _pf32, _pf32, _act, _dims,
                                              _pf32, _vp, _size]),
    "tq_f32_mul": (_status, [_size, _pf32, _pf32, _act, _pf32]),
    "tq_f32_channel_affine": (_status, [_size, _i32, _pf32, _pf32, _i32,
                                        _pf32, _i32, _act, _pf32]),
    "tq_f32_clamp": (_status, [_size, _pf32, _act, _pf32]),
    "tq_f32_leaky_relu": (_status, [_size, _pf32, _f32, _pf32]),
    "tq_f32_concat": (_status, [_size, _i32, _p(_pf32), _pi32, _pf32]),
    "tq_f32_pad": (_status, [_dims, _pf32, _i32, _i32, _i32, _i32, _f32,
                             _dims, _pf32]),
    "tq_f32_global_avg_pool": (_status, [_dims, _pf32, _pf32]),
    # s8 kernels
    "tq_s8_gemm_s32": (_status, [_i32, _i32, _i32, _pi8, _i32, _i32, _pi8,
                                 _i32, _i32, _pi32, _pi32, _i32]),
    "tq_s8_gemm_scratch_size": (_status, [_i32, _i32, _i32, _psize]),
    "tq_s8_gemm": (_status, [_i32, _i32, _i32, _pi8, _i32, _i32, _pi8, _i32,
                             _i32, _pi32, _os, _pi8, _i32, _vp, _size]),
    "tq_s8_conv2d_scratch_size": (_status, [_conv, _dims, _dims, _dims,
                                            _psize]),
    "tq_s8_conv2d": (_status, [_conv, _dims, _pi8, _i32, _dims, _pi8, _pi32,
                               _os, _dims, _pi8, _vp, _size]),
    "tq_s8_conv2d_add_scratch_size": (_status, [_conv, _dims, _dims, _dims,
                                                _psize]),
    "tq_s8_conv2d_add": (_status, [_conv, _dims, _pi8, _i32, _dims, _pi8,
                                   _pi32, _os, _dims, _pi8,
                                   _p(S8AddParams), _pi8, _vp, _size]),
    "tq_s8_depthwise_conv2d": (_status, [_conv, _dims, _pi8, _i32, _dims,
                                         _pi8, _pi32, _os, _dims, _pi8]),
    "tq_s8_fully_connected": (_status, [_i32, _i32, _i32, _pi8, _i32, _pi8,
                                        _i32, _pi32, _os, _pi8]),
    "tq_s8_packed_weights_size": (_status, [_i32, _i32, _psize]),
    "tq_s8_pack_weights": (_status, [_i32, _i32, _pi8, _i32, _vp, _size]),
    "tq_s8_fully_connected_packed": (_status, [_i32, _i32, _i32, _pi8, _i32,
                                               _vp, _size, _pi32, _os,
                                               _pi8]),
    "tq_s8_fully_connected_packed_offset": (_status, [_i32, _i32, _i32,
                                                      _pi8, _i32, _vp, _size,
                                                      _i32, _pi32, _os,
                                                      _pi8]),
    "tq_s8_conv2d_packed_size": (_status, [_dims, _i32, _psize]),
    "tq_s8_conv2d_pack": (_status, [_dims, _i32, _pi8, _vp, _size]),
    "tq_s8_conv2d_packed": (_status, [_conv, _dims, _pi8, _i32, _dims, _vp,
                                      _size, _pi32, _os, _dims, _pi8, _vp,
                                      _size]),
    "tq_s8_conv2d_add_packed_scratch_size": (_status, [_conv, _dims, _dims,
                                                       _dims, _psize]),
    "tq_s8_conv2d_add_packed": (_status, [_conv, _dims, _pi8, _i32, _dims,
                                          _vp, _size, _pi32, _os, _dims,
                                          _pi8, _p(S8AddParams), _pi8, _vp,
                                          _size]),
    "tq_s8_max_pool": (_status, [_pool, _dims, _pi8, _i32, _i32, _dims,
                                 _pi8]),
    "tq_s8_avg_pool": (_status, [_pool, _dims, _pi8, _i32, _i32, _dims,
                                 _pi8]),
    "tq_s8_add_params_from_scales": (_status, [_f32, _i32, _f32, _i32, _f32,
                                               _i32, _i32, _i32, _i32,
                                               _p(S8AddParams)]),
    "tq_s8_add": (_status, [_size, _pi8, _pi8, _p(S8AddParams), _pi8]),
    "tq_s8_quantize_f32": (_status, [_size, _pf32, _f32, _i32, _pi8]),
    "tq_s8_dequantize_f32": (_status, [_size, _pi8, _f32, _i32, _pf32]),
    "tq_s8_conv2d_relu_maxpool2_scratch_size": (_status, [_conv, _dims,
                                                          _dims, _dims,
                                                          _psize]),
    "tq_s8_conv2d_relu_maxpool2": (_status, [_conv, _dims, _pi8, _i32, _dims,
                                             _pi8, _pi32, _os, _dims, _pi8,
                                             _vp, _size]),
    # s16 (16x8) kernels
    "tq_requantize64": (_status, [_i64, _i32, _i32, _pi32]),
    "tq_s16_conv2d_scratch_size": (_status, [_conv, _dims, _dims, _dims,
                                             _psize]),
    "tq_s16_conv2d": (_status, [_conv, _dims, _pi16, _dims, _pi8, _vp, _i32,
                                _os16, _dims, _pi16, _vp, _size]),
    "tq_s16_depthwise_conv2d": (_status, [_conv, _dims, _pi16, _dims, _pi8,
                                          _vp, _i32, _os16, _dims, _pi16]),
    "tq_s16_fully_connected": (_status, [_i32, _i32, _i32, _pi16, _pi8, _vp,
                                         _i32, _os16, _pi16]),
    "tq_s16_max_pool": (_status, [_pool, _dims, _pi16, _i32, _i32, _dims,
                                  _pi16]),
    "tq_s16_avg_pool": (_status, [_pool, _dims, _pi16, _i32, _i32, _dims,
                                  _pi16]),
    "tq_s16_add_params_from_scales": (_status, [_f32, _f32, _f32, _i32, _i32,
                                                _i32, _p(S8AddParams)]),
    "tq_s16_add": (_status, [_size, _pi16, _pi16, _p(S8AddParams), _pi16]),
    "tq_s16_mul_params_from_scales": (_status, [_f32, _f32, _f32, _i32, _i32,
                                                _i32, _p(S16MulParams)]),
    "tq_s16_mul": (_status, [_size, _pi16, _pi16, _p(S16MulParams), _pi16]),
    "tq_s16_softmax_luts": (_status, [_pi16, _pi16]),
    "tq_s16_softmax_params_from_scale": (_status, [_f32, _f32,
                                                   _p(S16SoftmaxParams)]),
    "tq_s16_softmax": (_status, [_i32, _i32, _pi16, _p(S16SoftmaxParams),
                                 _pi16]),
    # more s8 ops (issue 12)
    "tq_s8_mul_params_from_scales": (_status, [
        _f32, _i32, _f32, _i32, _f32, _i32, _i32, _i32, _i32,
        _p(S8MulParams)]),
    "tq_s8_mul": (_status, [_dims, _pi8, _dims, _pi8, _p(S8MulParams),
                            _dims, _pi8]),
    "tq_s8_maximum": (_status, [_dims, _pi8, _dims, _pi8, _dims, _pi8]),
    "tq_s8_minimum": (_status, [_dims, _pi8, _dims, _pi8, _dims, _pi8]),
    "tq_s8_softmax_params_from_scale": (_status, [_f32, _f32,
                                                  _p(S8SoftmaxParams)]),
    "tq_s8_softmax": (_status, [_i32, _i32, _pi8, _p(S8SoftmaxParams),
                                _pi8]),
    "tq_s8_softmax_s16": (_status, [_i32, _i32, _pi8, _p(S8SoftmaxParams),
                                    _pi16]),
    "tq_s8_transpose_conv_scratch_size": (_status, [_dims, _psize]),
    "tq_s8_transpose_conv": (_status, [_conv, _dims, _pi8, _i32, _dims, _pi8,
                                       _pi32, _os, _dims, _pi8, _vp, _size]),
    "tq_s8_pad": (_status, [_dims, _pi8, _pi32, _i32, _dims, _pi8]),
    "tq_s8_transpose": (_status, [_dims, _pi32, _i32, _vp, _dims, _vp]),
    "tq_s8_concatenation": (_status, [_i32, _i32, _dims, _p(_pi8), _pf32,
                                      _pi32, _f32, _i32, _dims, _pi8]),
    "tq_s8_batch_matmul": (_status, [_p(BatchMatmulParams), _pi8, _i32, _pi8,
                                     _i32, _os, _pi8]),
    "tq_s16_batch_matmul": (_status, [_p(BatchMatmulParams), _pi16, _pi16,
                                      _os16, _pi16]),
    # s4 (int4-weight) kernels
    "tq_s4_packed_size": (_size, [_size]),
    "tq_s4_pack": (_status, [_size, _pi8, _pu8]),
    "tq_s4_unpack": (_status, [_size, _pu8, _pi8]),
    "tq_s4_quantize": (_status, [_p(Tensor), _p(QParams), _pu8, _size]),
    "tq_s4_quantize_weights": (_status, [_p(Tensor), _i32, _pf32, _pu8,
                                         _size]),
    "tq_s4_conv2d_scratch_size": (_status, [_conv, _dims, _dims, _dims,
                                            _psize]),
    "tq_s4_conv2d_fast_scratch_size": (_status, [_conv, _dims, _dims,
                                                 _dims, _psize]),
    "tq_s4_conv2d": (_status, [_conv, _dims, _pi8, _i32, _dims, _pu8, _pi32,
                               _os, _dims, _pi8, _vp, _size]),
    "tq_s4_depthwise_conv2d": (_status, [_conv, _dims, _pi8, _i32, _dims,
                                         _pu8, _pi32, _os, _dims, _pi8]),
    "tq_s4_fully_connected_scratch_size": (_status, [_i32, _i32, _psize]),
    "tq_s4_fully_connected": (_status, [_i32, _i32, _i32, _pi8, _i32, _pu8,
                                        _pi32, _os, _pi8, _vp, _size]),
    "tq_isa_available": (_u32, []),
    "tq_set_isa": (_status, [_i32]),
    "tq_get_isa": (_i32, []),
    "tq_isa_name": (_cp, [_i32]),
    "tq_kernel_path": (_cp, []),
    # host helpers
    "tq_tensor_alloc": (_status, [_p(Tensor), _i32, _i32, _p(_i64)]),
    "tq_tensor_free": (None, [_p(Tensor)]),
    "tq_safetensors_parse": (_status, [_vp, _size, _p(_vp)]),
    "tq_safetensors_load": (_status, [_cp, _p(_vp)]),
    "tq_safetensors_free": (None, [_vp]),
    "tq_safetensors_count": (_i32, [_vp]),
    "tq_safetensors_name": (_status, [_vp, _i32, _p(_cp)]),
    "tq_safetensors_get": (_status, [_vp, _cp, _p(Tensor)]),
    "tq_safetensors_metadata": (_status, [_vp, _cp, _p(_cp)]),
    "tq_safetensors_save": (_status, [_cp, _p(NamedTensor), _i32, _p(_cp),
                                      _p(_cp), _i32]),
    "tq_cifar10_read": (_status, [_cp, _i64, _i64, _pu8, _pu8]),
    "tq_cifar10_count": (_status, [_cp, _p(_i64)]),
    "tq_cifar10_normalize": (_status, [_i64, _pu8, _pf32, _pf32, _pf32]),
    "tq_cifar10_affine": (_status, [_i64, _pu8, _pf32, _pf32, _pf32]),
    # graphs (host side)
    "tq_node_attrs_init": (_status, [_p(NodeAttrs)]),
    "tq_graph_create": (_status, [_p(_vp)]),
    "tq_graph_free": (None, [_vp]),
    "tq_graph_error": (_cp, [_vp]),
    "tq_graph_add_input": (_status, [_vp, _cp, _i32, _p(_i64), _pi32]),
    "tq_graph_add_constant": (_status, [_vp, _cp, _p(Tensor), _pi32]),
    "tq_graph_add_node": (_status, [_vp, _cp, _i32, _i32, _pi32,
                                    _p(NodeAttrs), _pi32]),
    "tq_graph_set_output": (_status, [_vp, _i32]),
    "tq_graph_finalize": (_status, [_vp, _u32]),
    "tq_graph_load_onnx": (_status, [_cp, _p(_vp), _cp, _size]),
    "tq_graph_load_onnx_memory": (_status, [_vp, _size, _p(_vp), _cp,
                                            _size]),
    "tq_graph_node_count": (_i32, [_vp]),
    "tq_graph_node": (_status, [_vp, _i32, _p(GraphNodeInfo)]),
    "tq_graph_tensor_count": (_i32, [_vp]),
    "tq_graph_tensor": (_status, [_vp, _i32, _p(GraphTensorInfo)]),
    "tq_graph_find_tensor": (_status, [_vp, _cp, _pi32]),
    "tq_graph_io": (_status, [_vp, _pi32, _pi32]),
    "tq_graph_arena_size": (_status, [_vp, _i64, _psize]),
    "tq_graph_run_f32": (_status, [_vp, _i64, _pf32, _pf32, _vp, _size]),
    "tq_quant_config_init": (_status, [_p(QuantConfig)]),
    "tq_calibrator_create": (_status, [_vp, _p(QuantConfig), _p(_vp)]),
    "tq_calibrator_free": (None, [_vp]),
    "tq_s8_lookup": (_status, [_size, _pi8, _pi8, _pi8]),
    "tq_calibrator_error": (_cp, [_vp]),
    "tq_calibrator_set_tensor": (_status, [_vp, _i32, _p(RangeConfig),
                                           _p(QScheme)]),
    "tq_calibrator_set_dtype": (_status, [_vp, _i32, _i32]),
    "tq_calibrator_set_default_dtypes": (_status, [_vp, _i32, _i32]),
    "tq_calibrator_feed": (_status, [_vp, _i64, _pf32]),
    "tq_calibrator_end_pass": (_status, [_vp, _pi32]),
    "tq_calibrator_range": (_status, [_vp, _i32, _pd, _pd]),
    "tq_calibrator_stats": (_status, [_vp, _i32, _p(Stats)]),
    "tq_graph_quantize": (_status, [_vp, _vp, _p(_vp)]),
    "tq_graph_save": (_status, [_vp, _cp]),
    "tq_graph_load": (_status, [_cp, _p(_vp), _cp, _size]),
    "tq_graph_load_memory": (_status, [_vp, _size, _p(_vp), _cp, _size]),
    "tq_graph_export_c": (_status, [_vp, _cp, _cp, _cp, _size]),
    "tq_graph_is_quantized": (_i32, [_vp]),
    "tq_graph_run_s8": (_status, [_vp, _i64, _pi8, _pi8, _pi32, _vp,
                                  _size]),
    "tq_graph_quantize_input": (_status, [_vp, _size, _pf32, _pi8]),
    "tq_graph_dequantize_output": (_status, [_vp, _size, _pi8, _pf32]),
    # accuracy recovery
    "tq_equalize_config_init": (_status, [_p(EqualizeConfig)]),
    "tq_graph_equalize": (_status, [_vp, _p(EqualizeConfig), _pi32]),
    "tq_recovery_config_init": (_status, [_p(RecoveryConfig)]),
    "tq_graph_recover": (_status, [_vp, _vp, _i64, _pf32,
                                   _p(RecoveryConfig)]),
    "tq_adaround_matrix": (_status, [_i32, _i32, _pf32, _pf32, _i32, _pd,
                                     _i32, _i32, _p(RecoveryConfig), _pi8]),
    "tq_adaround_objective": (_status, [_i32, _pf32, _f32, _pd, _i32, _i32,
                                        _pd, _f64, _f64, _pd, _pd]),
    "tq_expected_clamped_normal": (_status, [_f64, _f64, _f64, _f64, _pd]),
    # mixed precision under a budget
    "tq_budget_config_init": (_status, [_p(BudgetConfig)]),
    "tq_graph_sensitivity": (_status, [_vp, _p(QuantConfig), _i64, _pf32,
                                       _p(LayerSensitivity), _i32, _pi32]),
    "tq_graph_quantize_budget": (_status, [_vp, _p(QuantConfig), _i64,
                                           _pf32, _p(BudgetConfig),
                                           _p(LayerSensitivity), _i32,
                                           _p(BudgetResult), _p(_vp)]),
    # end of mixed precision under a budget

    # recovery on quantized inputs
    "tq_recovery_ext_init": (_status, [_p(RecoveryExt)]),
    "tq_graph_recover_ext": (_status, [_vp, _vp, _i64, _pf32,
                                       _p(RecoveryConfig), _p(RecoveryExt)]),
    "tq_adaround_objective_target": (_status, [_i32, _pf32, _f32, _pd, _pd,
                                               _f64, _i32, _i32, _pd, _f64,
                                               _f64, _pd, _pd]),
    }

# ---- finding and loading the library ----------------------------------

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _names_next_to_package():
    """Shared libraries placed beside the package (by an installer)."""
    patterns = {"win32": ["tinyq.dll", "libtinyq*.dll"],
                "darwin": ["libtinyq*.dylib"]}.get(sys.platform,
                                                    ["libtinyq.so*"])
    found = []
    for pattern in patterns:
        found.extend(sorted(glob.glob(os.path.join(_PACKAGE_DIR, pattern))))
    return found


def _candidates():
    """(description, path) pairs to try, in order."""
    env = os.environ.get("TINYQ_LIBRARY")
    if env:
        # An explicit choice is never second-guessed with a fallback.
        return [("$TINYQ_LIBRARY", env)]
    out = [("next to the package", p) for p in _names_next_to_package()]
    system = ctypes.util.find_library("tinyq")
    if system:
        out.append(("system library path", system))
    # find_library needs the unversioned dev symlink or ldconfig; the
    # runtime soname is enough for dlopen.
    out.append(("system library path",
                f"libtinyq.so.{EXPECTED_MAJOR}" if os.name == "posix"
                else "tinyq"))
    return out


class _Library:
    """The loaded library: its functions by name, with their prototypes.
    A function the library lacks (a firmware build without host helpers,
    or an older minor version) is a stub raising NotImplementedError, so
    that everything else keeps working."""

    def __init__(self, cdll, path):
        self._cdll = cdll
        self.missing = []
        for name, (restype, argtypes) in PROTOTYPES.items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                self.missing.append(name)
                fn = self._stub(name, path)
            else:
                fn.restype = restype
                fn.argtypes = argtypes
            setattr(self, name, fn)

    @staticmethod
    def _stub(name, path):
        def missing(*args):
            raise NotImplementedError(
                f"{name} is not in {path}: a firmware build without host "
                "helpers, or a library older than this package")
        missing.__name__ = name
        return missing


def load_library():
    """Find, load and check libtinyq. Returns (library, path, missing)."""
    tried = []
    for where, path in _candidates():
        try:
            cdll = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"  {where}: {path}: {e}")
            continue
        if not hasattr(cdll, "tq_version_number"):
            tried.append(f"  {where}: {path}: not libtinyq "
                         "(no tq_version_number)")
            continue
        library = _Library(cdll, path)
        number = library.tq_version_number()
        if number // 10000 != EXPECTED_MAJOR:
            raise LibraryLoadError(
                f"{path} is libtinyq {library.tq_version_string().decode()}, "
                f"but this package needs major version {EXPECTED_MAJOR}")
        return library, path, frozenset(library.missing)
    raise LibraryLoadError(
        "libtinyq not found. Build it (meson setup build && ninja -C build) "
        "and set TINYQ_LIBRARY to build/libtinyq.so, or put the library "
        "next to the package. Tried:\n" + "\n".join(tried))


lib, path, missing = load_library()
