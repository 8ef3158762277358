/*
 * tinyq - post-training int8 quantization and integer-only inference
 * for small neural networks, from a laptop down to a Cortex-M.
 *
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * @file tinyq.h
 * @brief The one public header of tinyq: its stable API.
 *
 * Sections, in order:
 *  1. @ref tq_version "version"           - compile-time and run-time versions
 *  2. @ref tq_status_sec "status"         - the error codes every call returns
 *  3. @ref tq_tensor_sec "tensor"         - dtypes, shapes, descriptors, layouts
 *  4. @ref tq_stats_sec "statistics"      - streaming moments, histograms
 *  5. @ref tq_quant_sec "quantization"    - schemes, ranges, (fake-)quant, errors
 *  6. @ref tq_requant_sec "requantization" - multiplier / shift arithmetic
 *  7. @ref tq_f32_sec "f32 kernels"       - the float reference path
 *  8. @ref tq_s8_sec "s8 kernels"         - the int8 path (TFLite int8 semantics)
 *  9. @ref tq_s16_sec "s16 kernels"       - int16 activations, int8 weights (16x8)
 *  10. @ref tq_s4_sec "s4 kernels"        - int4 weights, int8 activations
 *  11. @ref tq_host_sec "host helpers"    - heap, safetensors, CIFAR-10 (not in
 *     firmware builds)
 *
 * Conventions that hold everywhere:
 *  - Every fallible call returns a ::tq_status; #TQ_OK is 0. On any other
 *    status the call has written nothing to its outputs.
 *  - Kernels never allocate, print or abort. Memory is the caller's; where
 *    a kernel needs scratch memory a `*_scratch_size()` query says how many
 *    bytes, and the kernel accepts any buffer at least that large (no
 *    alignment requirement). A NULL scratch is allowed when the query gave 0.
 *  - Activations are NHWC, conv weights OHWI, depthwise weights
 *    [1][kh][kw][out_c], fully connected weights [out][in]. PyTorch layouts
 *    are converted with tq_nchw_to_nhwc() and tq_oihw_to_ohwi().
 *  - Only fixed-width integers, float, double, pointers and plain structs
 *    cross the API, so it can be called from Python through ctypes.
 *  - int8 arithmetic follows the TFLite int8 specification bit for bit: see
 *    docs/quantization.md.
 */
#ifndef TINYQ_H
#define TINYQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @def TQ_API
 * @brief Marks the exported symbols. Everything else in the library is
 * hidden. Define TQ_STATIC when linking the static library on Windows.
 */
#if defined(_WIN32) && !defined(TQ_STATIC)
#  ifdef TQ_BUILDING_LIBRARY
#    define TQ_API __declspec(dllexport)
#  else
#    define TQ_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define TQ_API __attribute__((visibility("default")))
#else
#  define TQ_API
#endif

/* ======================================================================== */
/** @defgroup tq_version Version
 *  Compile-time macros and a run-time query, so that a caller can detect a
 *  header/library mismatch (ctypes callers especially).
 *  @{ */
/* ======================================================================== */

/** Major version: changes when the API or ABI breaks. */
#define TQ_VERSION_MAJOR 0
/** Minor version: changes when the API grows compatibly. */
#define TQ_VERSION_MINOR 4
/** Patch version: bug fixes only. */
#define TQ_VERSION_PATCH 0
/** One number: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define TQ_VERSION_NUMBER \
    (TQ_VERSION_MAJOR * 10000 + TQ_VERSION_MINOR * 100 + TQ_VERSION_PATCH)

/** @brief The library's #TQ_VERSION_NUMBER, as it was compiled.
 *  A caller compiled against this header should check that
 *  `tq_version_number() / 10000 == TQ_VERSION_MAJOR`. */
TQ_API uint32_t tq_version_number(void);

/** @brief The library's version as a static string "MAJOR.MINOR.PATCH". */
TQ_API const char *tq_version_string(void);

/** @} */

/* ======================================================================== */
/** @defgroup tq_status_sec Status codes
 *  @{ */
/* ======================================================================== */

/** @brief Result of every fallible call. 0 is success. The numeric values
 *  are part of the ABI and never change. */
typedef enum tq_status {
    TQ_OK = 0,                  /**< Success. */
    TQ_ERR_NULL = 1,            /**< A required pointer argument is NULL. */
    TQ_ERR_SHAPE = 2,           /**< Shapes or dimensions are invalid or
                                     inconsistent with each other. */
    TQ_ERR_DTYPE = 3,           /**< A tensor has the wrong or an unknown dtype. */
    TQ_ERR_OVERFLOW = 4,        /**< An element or byte count overflows size_t
                                     (or a documented integer limit). */
    TQ_ERR_PARAM = 5,           /**< A parameter is outside its legal range
                                     (negative stride, scale <= 0, bits 9, ...). */
    TQ_ERR_UNSUPPORTED = 6,     /**< A legal but unsupported combination of
                                     parameters. */
    TQ_ERR_BUFFER_TOO_SMALL = 7,/**< A caller buffer (scratch, capacity) is
                                     smaller than required. */
    TQ_ERR_EMPTY = 8,           /**< A statistic was asked of no data. */
    TQ_ERR_NOT_FINITE = 9,      /**< Input data holds NaN or infinity. */
    TQ_ERR_ALIAS = 10,          /**< Input and output overlap where they must not. */
    TQ_ERR_IO = 11,             /**< A file could not be opened, read or written. */
    TQ_ERR_FORMAT = 12,         /**< A file is malformed. */
    TQ_ERR_NOT_FOUND = 13,      /**< A named item is not present. */
    TQ_ERR_NO_MEMORY = 14       /**< A host helper could not allocate. */
} tq_status;

/** @brief A static, human-readable sentence for a status code; never NULL
 *  (unknown codes get "unknown status"). */
TQ_API const char *tq_status_message(tq_status status);

/** @} */

/* ======================================================================== */
/** @defgroup tq_tensor_sec Tensors and layouts
 *  A tensor descriptor describes caller memory; it never owns it (except
 *  through the host helper tq_tensor_alloc()).
 *  @{ */
/* ======================================================================== */

/** @brief Element types. Stored as int32_t in structs for ABI stability. */
typedef enum tq_dtype {
    TQ_F32 = 1, /**< IEEE-754 binary32. */
    TQ_S8 = 2,  /**< int8_t. */
    TQ_S32 = 3, /**< int32_t. */
    TQ_S16 = 4, /**< int16_t: the activations of the 16x8 kernels. */
    TQ_S64 = 5, /**< int64_t: the biases of the 16x8 kernels. */
    TQ_S4 = 6   /**< int4 packed two per byte (tq_s4_pack()): the int4
                     weights of a quantized graph (tq_calibrator_set_dtype()).
                     Not an element type of ::tq_tensor: tq_dtype_size()
                     gives 0; n values take tq_s4_packed_size(n) bytes. */
} tq_dtype;

/** Maximum number of dimensions of a ::tq_tensor. */
#define TQ_MAX_DIMS 4

/** @brief A dense, row-major (C-order) tensor over caller memory. */
typedef struct tq_tensor {
    void *data;                  /**< First element; not owned. */
    int32_t dtype;               /**< A ::tq_dtype value. */
    int32_t ndim;                /**< 0..#TQ_MAX_DIMS; 0 is a scalar. */
    int64_t shape[TQ_MAX_DIMS];  /**< Extents, each >= 0; entries past ndim
                                      are ignored. */
} tq_tensor;

/** @brief NHWC extents of an activation, or of a weight tensor where each
 *  kernel says what n, h, w and c mean. All must be >= 1 unless a kernel
 *  says otherwise.
 *
 *  Field order: n, h, w, c — the same as CMSIS-NN's cmsis_nn_dims, but
 *  tinyq lists the height before the width everywhere (::tq_conv_params,
 *  ::tq_pool_params too), while CMSIS-NN's cmsis_nn_tile (its strides,
 *  pads and dilations) is {w, h}. Fill these structs with designated
 *  initialisers, e.g. `(tq_dims){.n = 1, .h = 32, .w = 32, .c = 3}`: a
 *  positional initialiser copied from CMSIS-NN code swaps height and
 *  width silently on non-square layers. */
typedef struct tq_dims {
    int32_t n; /**< Batch (activations) or output channels (OHWI weights). */
    int32_t h; /**< Height. */
    int32_t w; /**< Width. */
    int32_t c; /**< Channels (innermost). */
} tq_dims;

/** @brief Size in bytes of one element of @p dtype, or 0 if unknown. */
TQ_API size_t tq_dtype_size(int32_t dtype);

/** @brief Fill a descriptor.
 *  @param t      descriptor to fill (written only on success)
 *  @param data   element memory; may be NULL only if the tensor is empty
 *  @param dtype  a ::tq_dtype
 *  @param ndim   0..#TQ_MAX_DIMS
 *  @param shape  @p ndim extents, each >= 0 (may be NULL when ndim is 0)
 *  @return #TQ_ERR_NULL, #TQ_ERR_DTYPE, #TQ_ERR_SHAPE, or #TQ_ERR_OVERFLOW
 *          if the byte count does not fit in size_t. */
TQ_API tq_status tq_tensor_init(tq_tensor *t, void *data, int32_t dtype,
                                int32_t ndim, const int64_t *shape);

/** @brief Number of elements (1 for a scalar, 0 if any extent is 0).
 *  @return #TQ_ERR_SHAPE for a bad ndim or negative extent,
 *          #TQ_ERR_OVERFLOW if the product does not fit in size_t. */
TQ_API tq_status tq_tensor_numel(const tq_tensor *t, size_t *count);

/** @brief Number of bytes: elements times tq_dtype_size(), overflow-checked.
 *  @return as tq_tensor_numel(), plus #TQ_ERR_DTYPE. */
TQ_API tq_status tq_tensor_nbytes(const tq_tensor *t, size_t *bytes);

/** @brief Element count of a shape given as a plain array (same rules as
 *  tq_tensor_numel(), but any ndim from 0 to 64). */
TQ_API tq_status tq_shape_numel(int32_t ndim, const int64_t *shape,
                                size_t *count);

/** @brief Convert a 4-D NCHW tensor (PyTorch activations) to NHWC.
 *  @p out must have the same dtype and shape {N, H, W, C} where @p in has
 *  {N, C, H, W}; the buffers must not overlap (#TQ_ERR_ALIAS). */
TQ_API tq_status tq_nchw_to_nhwc(const tq_tensor *in, tq_tensor *out);

/** @brief Convert a 4-D NHWC tensor back to NCHW (inverse of
 *  tq_nchw_to_nhwc(), same rules). */
TQ_API tq_status tq_nhwc_to_nchw(const tq_tensor *in, tq_tensor *out);

/** @brief Convert PyTorch conv weights OIHW {O, I, H, W} to tinyq's OHWI
 *  {O, H, W, I}. Same rules as tq_nchw_to_nhwc() (it is the same
 *  permutation). */
TQ_API tq_status tq_oihw_to_ohwi(const tq_tensor *in, tq_tensor *out);

/** @brief Convert PyTorch depthwise weights {C·M, 1, H, W} to tinyq's
 *  depthwise layout {1, H, W, C·M}. Same rules as tq_nchw_to_nhwc(), and
 *  #TQ_ERR_SHAPE unless the input's second extent is 1. */
TQ_API tq_status tq_oihw_to_dw(const tq_tensor *in, tq_tensor *out);

/** @} */

/* ======================================================================== */
/** @defgroup tq_stats_sec Statistics
 *  Streaming statistics for weight and activation profiling. Moments are
 *  accumulated in double by blocks: each block is summed with a two-pass
 *  method and blocks are merged with Chan et al.'s pairwise update, which
 *  stays accurate for 10^7 values and more.
 *  @{ */
/* ======================================================================== */

/** @brief A streaming accumulator of count, min, max, mean and the sum of
 *  squared deviations. Plain data: zero it with tq_stats_init(), copy it
 *  freely. Every function taking one returns #TQ_ERR_PARAM (and changes
 *  nothing) for an accumulator with count > 0 whose fields are not finite,
 *  whose m2 is negative or whose min exceeds its max, and #TQ_ERR_OVERFLOW
 *  where the count would pass UINT64_MAX. */
typedef struct tq_stats {
    uint64_t count; /**< Number of values seen. */
    double min;     /**< Smallest value (meaningless while count == 0). */
    double max;     /**< Largest value (meaningless while count == 0). */
    double mean;    /**< Running mean. */
    double m2;      /**< Sum of squared deviations from the mean. */
} tq_stats;

/** @brief Which standard deviation to report. */
typedef enum tq_sigma_kind {
    TQ_SIGMA_POPULATION = 0, /**< sqrt(m2 / n): the lab's σ and numpy's
                                  default (ddof = 0). */
    TQ_SIGMA_SAMPLE = 1      /**< sqrt(m2 / (n - 1)): unbiased variance, as
                                  torch.std's default; needs n >= 2. */
} tq_sigma_kind;

/** @brief Reset an accumulator to "no data". */
TQ_API tq_status tq_stats_init(tq_stats *s);

/** @brief Add @p n float values. NaN or infinity anywhere gives
 *  #TQ_ERR_NOT_FINITE and leaves @p s unchanged. n == 0 is a no-op. */
TQ_API tq_status tq_stats_update_f32(tq_stats *s, const float *x, size_t n);

/** @brief Add @p n int8 values (for profiling quantized tensors). */
TQ_API tq_status tq_stats_update_s8(tq_stats *s, const int8_t *x, size_t n);

/** @brief Fold @p src into @p dst, as if @p dst had also seen @p src's
 *  values. Either may be empty. */
TQ_API tq_status tq_stats_merge(tq_stats *dst, const tq_stats *src);

/** @brief Variance of the values seen, population or sample (see
 *  ::tq_sigma_kind). #TQ_ERR_EMPTY with no data, or with one value for
 *  the sample variance. */
TQ_API tq_status tq_stats_variance(const tq_stats *s, int32_t kind,
                                   double *variance);

/** @brief Standard deviation, the square root of tq_stats_variance(). */
TQ_API tq_status tq_stats_stddev(const tq_stats *s, int32_t kind,
                                 double *sigma);

/** @brief The k-sigma range [μ − kσ, μ + kσ] with the population σ
 *  (k = 3 is the lab's 3-sigma range). Not clipped to [min, max].
 *  @param s   accumulator with at least one value (#TQ_ERR_EMPTY)
 *  @param k   >= 0 and finite, else #TQ_ERR_PARAM
 *  @param lo  receives μ − kσ
 *  @param hi  receives μ + kσ */
TQ_API tq_status tq_stats_ksigma_range(const tq_stats *s, double k,
                                       double *lo, double *hi);

/** @brief Per-channel statistics: add the f32 tensor @p t to @p channels
 *  accumulators, where channel i gathers every element whose index along
 *  @p axis is i.
 *  @param stats     array of @p channels accumulators (initialised)
 *  @param channels  must equal t->shape[axis]
 *  @param t         f32 tensor of 1 to 4 dimensions
 *  @param axis      0 <= axis < t->ndim; e.g. 0 for OIHW/OHWI weights' output
 *                   channels, 3 for NHWC activations
 *  @return #TQ_ERR_SHAPE for a bad axis or channel count, #TQ_ERR_DTYPE,
 *          #TQ_ERR_NOT_FINITE (nothing updated). */
TQ_API tq_status tq_stats_update_axis_f32(tq_stats *stats, int64_t channels,
                                          const tq_tensor *t, int32_t axis);

/** @brief A histogram over a fixed range with caller-owned bins.
 *  Bin i covers [lo + i·w, lo + (i+1)·w) with w = (hi − lo) / nbins; the
 *  last bin also holds hi. Values below lo or above hi are counted in
 *  tq_histogram::below and tq_histogram::above and not binned. */
typedef struct tq_histogram {
    uint64_t *bins;  /**< nbins counters, owned by the caller. */
    uint32_t nbins;  /**< >= 1. */
    uint32_t reserved; /**< Padding; keep 0. */
    double lo;       /**< Lower edge (finite). */
    double hi;       /**< Upper edge, > lo (finite). */
    uint64_t below;  /**< Values < lo. */
    uint64_t above;  /**< Values > hi. */
} tq_histogram;

/** @brief Set up @p h over [lo, hi] with @p nbins caller bins, zeroing them.
 *  @return #TQ_ERR_PARAM unless lo < hi, both finite, nbins >= 1. */
TQ_API tq_status tq_histogram_init(tq_histogram *h, uint64_t *bins,
                                   uint32_t nbins, double lo, double hi);

/** @brief Count @p n float values. A value v in [lo, hi] goes to the
 *  largest bin i < nbins with lo + i·w <= v (edges computed in double), so
 *  values exactly on an edge start the next bin and hi is in the last.
 *  #TQ_ERR_NOT_FINITE leaves @p h unchanged. */
TQ_API tq_status tq_histogram_add_f32(tq_histogram *h, const float *x,
                                      size_t n);

/** @brief Total number of values counted, in range or not (0 for NULL;
 *  saturates at UINT64_MAX rather than wrapping). */
TQ_API uint64_t tq_histogram_total(const tq_histogram *h);

/** @brief The value below which @p percent % of the counted values lie,
 *  interpolating linearly inside a bin (values outside [lo, hi] count as
 *  lo or hi). The rank percent/100 · total is located in the first
 *  non-empty bin that reaches it, so empty bins are never returned into.
 *  @param h        histogram with at least one value (#TQ_ERR_EMPTY)
 *  @param percent  in [0, 100], else #TQ_ERR_PARAM (also for NaN)
 *  @param value    receives the percentile */
TQ_API tq_status tq_histogram_percentile(const tq_histogram *h,
                                         double percent, double *value);

/** @} */

/* ======================================================================== */
/** @defgroup tq_quant_sec Quantization schemes
 *  real = (q − zero_point) · scale, q an integer in [qmin, qmax].
 *  @{ */
/* ======================================================================== */

/** @brief How a floating range [lo, hi] is chosen from observed data. */
typedef enum tq_range_method {
    TQ_RANGE_MINMAX = 0,     /**< [min, max] as observed. */
    TQ_RANGE_ABSMAX = 1,     /**< [−a, a] with a = max(|min|, |max|). */
    TQ_RANGE_KSIGMA = 2,     /**< μ ± kσ (population σ), intersected with
                                  [min, max] so no code is spent where no
                                  value was seen. Needs ::tq_range_config k. */
    TQ_RANGE_PERCENTILE = 3, /**< [P(100 − p), P(p)] from a histogram. */
    TQ_RANGE_MSE = 4,        /**< The clipping range that minimises the
                                  quantization MSE over a histogram (search). */
    TQ_RANGE_KL = 5          /**< The clipping threshold that minimises the
                                  KL divergence between the histogram and its
                                  quantized version (TensorRT entropy
                                  calibration). */
} tq_range_method;

/** @brief Rounding of float-to-int quantization. */
typedef enum tq_float_rounding {
    TQ_FROUND_HALF_AWAY = 0, /**< round(x / scale), ties away from zero:
                                  TFLite's QUANTIZE and CMSIS-NN. */
    TQ_FROUND_HALF_EVEN = 1  /**< nearbyint(x · (1 / scale)) in float, ties
                                  to even: PyTorch's fake_quantize_*. */
} tq_float_rounding;

/** @brief A quantization scheme: how ranges become parameters. */
typedef struct tq_qscheme {
    int32_t bits;         /**< Signed bit width, 2..8 (8 is int8). */
    int32_t symmetric;    /**< 1: zero point 0, range symmetric around 0. */
    int32_t narrow_range; /**< 1: qmin = −(2^(bits−1) − 1) (TFLite weights:
                               [−127, 127]); 0: qmin = −2^(bits−1). */
    int32_t pow2_scale;   /**< 1: round the scale up to a power of two, so
                               requantization is a shift (see docs). */
} tq_qscheme;

/** @brief Options for tq_choose_range(). */
typedef struct tq_range_config {
    int32_t method;     /**< A ::tq_range_method. */
    int32_t reserved;   /**< Padding; keep 0. */
    double k;           /**< TQ_RANGE_KSIGMA: k > 0 (3 for the lab). */
    double percentile;  /**< TQ_RANGE_PERCENTILE: p in (50, 100], e.g. 99.99. */
} tq_range_config;

/** @brief Quantization parameters of a tensor, per tensor (count == 1) or
 *  per channel (count == the extent of tq_qparams::axis). Arrays are the caller's. */
typedef struct tq_qparams {
    const float *scale;        /**< count scales, each > 0 and finite, with
                                    a finite float reciprocal (>= ~2.9e-39). */
    const int32_t *zero_point; /**< count zero points in [qmin, qmax]. */
    int64_t count;             /**< 1, or the number of channels. */
    int32_t axis;              /**< Channel axis when count > 1. */
    int32_t qmin;              /**< Smallest code, >= −128. */
    int32_t qmax;              /**< Largest code, <= 127, > qmin. */
    int32_t rounding;          /**< A ::tq_float_rounding. */
} tq_qparams;

/** @brief Integer range [qmin, qmax] of a scheme.
 *  @return #TQ_ERR_PARAM for bits outside 2..8, or a flag (symmetric,
 *          narrow_range, pow2_scale) other than 0 or 1. */
TQ_API tq_status tq_qscheme_qrange(const tq_qscheme *scheme, int32_t *qmin,
                                   int32_t *qmax);

/** @brief Choose a floating range from observed data.
 *  MINMAX, ABSMAX and KSIGMA use @p stats only (@p hist may be NULL);
 *  PERCENTILE, MSE and KL also need @p hist, a histogram of the same data
 *  over [stats min, stats max]. MSE and KL evaluate candidate ranges with
 *  the parameters @p scheme would give them. For a symmetric scheme the
 *  result is symmetric around 0.
 *
 *  MSE represents each bin's count at its centre (values outside the
 *  histogram at its edges) and rounds half away from zero; a symmetric
 *  scheme scans t of [−t, t] over the edges of the |x| histogram, an
 *  asymmetric one alternates scans of the upper and lower edge over the
 *  histogram's edges from the full range. KL folds the histogram to |x|
 *  and follows TensorRT: 2^(bits−1) target levels (2^bits − 1 for an
 *  asymmetric scheme over data with min >= 0), candidate thresholds at bin
 *  edges from `levels` bins up; Q is built from the unclipped bins, so a
 *  threshold whose last bin holds no data (only clipped values) has an
 *  infinite divergence and is never chosen. Both work on at most 2048 bins
 *  (larger histograms are viewed with neighbouring bins merged) and use up
 *  to 16 KiB of stack; both are deterministic.
 *  @return #TQ_ERR_EMPTY with no data, #TQ_ERR_PARAM for a bad method or
 *          option (or inconsistent statistics), #TQ_ERR_NULL when a needed
 *          histogram is missing. */
TQ_API tq_status tq_choose_range(const tq_range_config *config,
                                 const tq_qscheme *scheme,
                                 const tq_stats *stats,
                                 const tq_histogram *hist, double *lo,
                                 double *hi);

/** @brief Scale and zero point for the range [lo, hi] (widened to contain
 *  0, so that real 0 is exactly representable).
 *  Symmetric: scale = max(|lo|, |hi|) / qmax, zero point 0. Asymmetric:
 *  scale = (hi − lo) / (qmax − qmin), zero point = qmin − round(lo / scale),
 *  clamped to [qmin, qmax]. A range of width 0 gives scale 1 (any scale
 *  represents 0 exactly). With pow2_scale the scale is rounded up to 2^−n.
 *  The zero point is computed with the stored float scale, rounding half
 *  away from zero.
 *  @return #TQ_ERR_PARAM for lo > hi or non-finite bounds, or when the
 *          scale is not a usable float (0 after underflow, subnormal with an
 *          infinite reciprocal, or beyond FLT_MAX). */
TQ_API tq_status tq_qparams_from_range(const tq_qscheme *scheme, double lo,
                                       double hi, float *scale,
                                       int32_t *zero_point);

/** @brief Quantize an f32 tensor into an s8 tensor of the same shape:
 *  q = clamp(round(x / scale) + zero_point, qmin, qmax) with the rounding of
 *  @p p, per tensor or per channel along p->axis.
 *  @return #TQ_ERR_SHAPE if shapes differ or count does not match the
 *  channel extent; #TQ_ERR_DTYPE; #TQ_ERR_PARAM for a bad scale or range;
 *  #TQ_ERR_NOT_FINITE on NaN (infinities saturate); #TQ_ERR_ALIAS if the
 *  buffers overlap. With count == 1 the axis is ignored. */
TQ_API tq_status tq_quantize(const tq_tensor *in, const tq_qparams *p,
                             tq_tensor *out);

/** @brief Dequantize an s8 tensor: x = (float)(q − zero_point) · scale, as
 *  PyTorch computes it. Same rules as tq_quantize() (buffers must not
 *  overlap). */
TQ_API tq_status tq_dequantize(const tq_tensor *in, const tq_qparams *p,
                               tq_tensor *out);

/** @brief Fake-quantize (quantize then dequantize) an f32 tensor into an
 *  f32 tensor of the same shape; @p out may be @p in (in place), any other
 *  overlap gives #TQ_ERR_ALIAS. This is what the lab's Stage 1 did to the
 *  weights. */
TQ_API tq_status tq_fake_quant(const tq_tensor *in, const tq_qparams *p,
                               tq_tensor *out);

/** @brief Quantization error of an f32 tensor under @p p. */
typedef struct tq_quant_error {
    double mse;          /**< Mean of (x − fq(x))². */
    double sqnr_db;      /**< 10·log10(Σx² / Σ(x − fq(x))²); +inf when the
                              error is 0, −inf when the signal is 0. */
    double max_abs;      /**< Largest |x − fq(x)|. */
    double frac_clipped; /**< Fraction of values whose code was clamped to
                              qmin or qmax (they lay outside the range). */
} tq_quant_error;

/** @brief Measure what fake-quantizing @p in under @p p would cost, without
 *  writing any tensor. #TQ_ERR_EMPTY for an empty tensor,
 *  #TQ_ERR_NOT_FINITE if it holds NaN or infinity. */
TQ_API tq_status tq_measure_quant_error(const tq_tensor *in,
                                        const tq_qparams *p,
                                        tq_quant_error *err);

/** @brief MSE, SQNR and max abs error of @p approx against @p ref
 *  (frac_clipped is set to 0). #TQ_ERR_EMPTY when n is 0,
 *  #TQ_ERR_NOT_FINITE if either holds NaN or infinity. */
TQ_API tq_status tq_compare_f32(const float *ref, const float *approx,
                                size_t n, tq_quant_error *err);

/** @brief Quantize a float bias to the int32 codes the s8 kernels add to
 *  their accumulators (scale s_in · s_w[c], zero point 0):
 *
 *      q[c] = clamp(round_half_away(bias[c] / ((double)input_scale
 *                   · weight_scale[per_channel ? c : 0])),
 *                   −INT32_MAX, INT32_MAX)
 *
 *  where the quotient is the exact real number (not a float or double
 *  approximation of it): tinyq decides every rounding exactly, so a bias
 *  that is exactly half-way between two codes always goes away from zero
 *  and one a hair below never does. The clamp is symmetric (−2^31 is never
 *  produced), as in TFLite.
 *
 *  TFLite's converter (quantization_utils SymmetricPerChannelBiasQuantize)
 *  computes the same formula in float: scale = input_scale · weight_scale
 *  rounded to float, inv = 1 / scale rounded to float, round(bias · inv)
 *  with ties away from zero, then the same clamp. Where those float steps
 *  are exact (e.g. power-of-two scales) the results are identical; else
 *  each of the three float roundings can move a value near a half across
 *  it, and TFLite's result is then one code off (0.18 % of 800,000 biases
 *  with typical scales, python/tests/test_quant.py). tinyq rounds the true
 *  value once, so that the result does not depend on evaluation order and
 *  is the code nearest the real bias. TFLite maps a
 *  zero scale to code 0; tinyq rejects it (#TQ_ERR_PARAM).
 *
 *  @param count        number of biases (output channels), >= 0; 0 writes
 *                      nothing and accepts NULL pointers
 *  @param bias         count finite floats
 *  @param input_scale  s_in, > 0 and finite (subnormals allowed)
 *  @param weight_scale s_w: count scales when @p per_channel is 1, one
 *                      when 0; each > 0 and finite
 *  @param per_channel  1: weight_scale[c] for bias c; 0: weight_scale[0]
 *                      for every bias
 *  @param out          count int32 codes; must not overlap @p bias or
 *                      @p weight_scale
 *  @return #TQ_ERR_PARAM for count < 0, per_channel other than 0 or 1, or
 *          a scale that is not > 0 and finite; #TQ_ERR_NULL (count > 0);
 *          #TQ_ERR_OVERFLOW when count · 4 bytes exceeds size_t;
 *          #TQ_ERR_ALIAS; #TQ_ERR_NOT_FINITE for a NaN or infinite bias.
 *          On any error @p out is unchanged. */
TQ_API tq_status tq_quantize_bias(int64_t count, const float *bias,
                                  float input_scale,
                                  const float *weight_scale,
                                  int32_t per_channel, int32_t *out);

/** @} */

/* ======================================================================== */
/** @defgroup tq_requant_sec Requantization
 *  The fixed-point output stage of TFLite int8 kernels. A real multiplier
 *  M = s_in · s_w / s_out is stored as a Q31 integer m in [2^30, 2^31) and a
 *  power-of-two exponent, M ≈ m · 2^(shift − 31).
 *  @{ */
/* ======================================================================== */

/** @brief The two rounding modes of TFLite / CMSIS-NN. */
typedef enum tq_rounding {
    TQ_ROUND_DOUBLE = 0, /**< Default: saturating rounding doubling high
                              multiply, then rounding right shift (TFLite's
                              MultiplyByQuantizedMultiplier). */
    TQ_ROUND_SINGLE = 1  /**< One 64-bit product rounded once, ties toward
                              +infinity (TFLITE_SINGLE_ROUNDING,
                              CMSIS_NN_USE_SINGLE_ROUNDING). */
} tq_rounding;

/** Smallest legal shift (a right shift by 31). */
#define TQ_SHIFT_MIN (-31)
/** Largest legal shift (a left shift by 30). */
#define TQ_SHIFT_MAX 30

/** @brief TFLite's QuantizeMultiplier: split @p real (>= 0, finite) into a
 *  Q31 multiplier and a shift (positive = left). 0 and values that round
 *  below 2^−32 give (0, 0). Values from 2^30 − 1/4 up, whose shift would
 *  exceed #TQ_SHIFT_MAX (TFLite would return 31 or 32, which no kernel can
 *  apply), give #TQ_ERR_PARAM, as do negative and non-finite ones. */
TQ_API tq_status tq_quantize_multiplier(double real, int32_t *multiplier,
                                        int32_t *shift);

/** @brief Requantize one accumulator: approximately round(x · m · 2^(shift−31))
 *  in the chosen rounding mode, saturated to int32: a result past int32
 *  is INT32_MAX or INT32_MIN in both modes. Bit for bit TFLite's
 *  MultiplyByQuantizedMultiplier wherever TFLite's arithmetic is defined;
 *  where its int32 x · 2^shift would overflow (double rounding, shift > 0),
 *  the same rounding of the exact product, saturated (docs/quantization.md).
 *  @param x          the int32 accumulator
 *  @param multiplier in [0, 2^31 − 1]
 *  @param shift      in [#TQ_SHIFT_MIN, #TQ_SHIFT_MAX]
 *  @param rounding   a ::tq_rounding
 *  @param result     receives the requantized value */
TQ_API tq_status tq_requantize(int32_t x, int32_t multiplier, int32_t shift,
                               int32_t rounding, int32_t *result);

/** @brief The output stage of every s8 kernel that makes new codes
 *  (conv2d, depthwise, fully connected, GEMM, the fused conv + pool):
 *  requantize, add the output zero point, clamp. Multipliers and shifts
 *  are per output channel when tq_s8_output::per_channel is 1, else entry 0
 *  serves every channel: a per-tensor layer passes the addresses of one
 *  int32_t each and per_channel = 0, e.g.
 *
 *      int32_t m, sh;
 *      tq_quantize_multiplier((double)s_in * s_w / s_out, &m, &sh);
 *      tq_s8_output os = {.multiplier = &m, .shift = &sh,
 *                         .per_channel = 0, .rounding = TQ_ROUND_DOUBLE,
 *                         .output_offset = z_out,
 *                         .act_min = -128, .act_max = 127};
 *
 *  The int8 pools do not requantize (their output keeps the input's scale
 *  and zero point), so they take no ::tq_s8_output, only the clamp, as
 *  their act_min / act_max arguments. docs/quantization.md (section 5,
 *  "The output stage in C") has both side by side. */
typedef struct tq_s8_output {
    const int32_t *multiplier; /**< Q31 multipliers, each in [0, 2^31 − 1]. */
    const int32_t *shift;      /**< Shifts, each in [#TQ_SHIFT_MIN, #TQ_SHIFT_MAX]. */
    int32_t per_channel;       /**< 0: one entry; 1: one per output channel. */
    int32_t rounding;          /**< A ::tq_rounding. */
    int32_t output_offset;     /**< +zero point of the output, [−128, 127]. */
    int32_t act_min;           /**< Clamp low, [−128, act_max]. */
    int32_t act_max;           /**< Clamp high, [act_min, 127]. */
} tq_s8_output;

/** @brief Requantize a block of int32 accumulators [rows][channels] (e.g. the
 *  output of tq_s8_gemm_s32()) to int8 through @p os, channel = column.
 *  rows, channels >= 0 and ld_acc, ld_out >= channels (#TQ_ERR_SHAPE); an
 *  empty block writes nothing and accepts NULL buffers; @p out must not
 *  overlap @p acc or the arrays of @p os (#TQ_ERR_ALIAS). */
TQ_API tq_status tq_s8_requantize_rows(int32_t rows, int32_t channels,
                                       const int32_t *acc, int32_t ld_acc,
                                       const tq_s8_output *os, int8_t *out,
                                       int32_t ld_out);

/** @brief The clamp range of a fused activation for an output with
 *  (@p scale, @p zero_point) (docs/quantization.md, section 5),
 *  clamped into [−128, 127].
 *  @param act         ::tq_activation: none, ReLU or ReLU6
 *  @param scale       output scale, > 0 and finite
 *  @param zero_point  output zero point, [−128, 127]
 *  @param act_min     receives the lower clamp
 *  @param act_max     receives the upper clamp
 *  @return #TQ_ERR_PARAM for another act, a scale that is not > 0 and
 *          finite, or a zero point outside [−128, 127]. */
TQ_API tq_status tq_s8_activation_range(int32_t act, float scale,
                                        int32_t zero_point, int32_t *act_min,
                                        int32_t *act_max);

/** @} */

/* ======================================================================== */
/** @defgroup tq_f32_sec f32 kernels
 *  The float path: reference kernels, NHWC. Shapes are given as ::tq_dims;
 *  every kernel checks that they agree and returns #TQ_ERR_SHAPE otherwise.
 *  An output may not overlap an input, the bias or the scratch
 *  (#TQ_ERR_ALIAS), except where a kernel allows exact aliasing.
 *  @{ */
/* ======================================================================== */

/** @brief Fused activations. */
typedef enum tq_activation {
    TQ_ACT_NONE = 0,  /**< Identity. */
    TQ_ACT_RELU = 1,  /**< max(x, 0). */
    TQ_ACT_RELU6 = 2  /**< min(max(x, 0), 6). */
} tq_activation;

/** @brief Clamp applied to every f32 kernel output: [min, max]. Use
 *  tq_f32_act_from() for none / ReLU / ReLU6; any min <= max (infinities
 *  allowed) is legal. */
typedef struct tq_f32_act {
    float min; /**< Lower clamp (−INFINITY for none). */
    float max; /**< Upper clamp (+INFINITY for none). */
} tq_f32_act;

/** @brief The clamp of a ::tq_activation: none is [−inf, +inf], ReLU
 *  [0, +inf], ReLU6 [0, 6]. #TQ_ERR_PARAM for other values. */
TQ_API tq_status tq_f32_act_from(int32_t act, tq_f32_act *out);

/** @brief Geometry of a convolution (conv2d, depthwise, and the fused conv).
 *  The output extent must equal
 *  (in + pad_before + pad_after − dilation·(k − 1) − 1) / stride + 1
 *  along each axis, exactly.
 *
 *  Field order: height before width (stride_h, stride_w; dilation_h,
 *  dilation_w), unlike CMSIS-NN's cmsis_nn_tile {w, h}; the pads are
 *  top, bottom, left, right. Use designated initialisers:
 *
 *      tq_conv_params cp = {.stride_h = 2, .stride_w = 1,
 *                           .pad_top = 1, .pad_bottom = 0,
 *                           .pad_left = 1, .pad_right = 1,
 *                           .dilation_h = 1, .dilation_w = 1, .groups = 1};
 *
 *  Coming from CMSIS-NN (one pad per axis plus an output size) or from
 *  TensorFlow SAME padding, do not copy the top pad into the bottom one:
 *  tq_conv_pad_after() and tq_conv_same_padding() give the bottom / right
 *  pads that produce the wanted output size, and tq_conv_check_geometry()
 *  names the field a kernel's #TQ_ERR_SHAPE is about. */
typedef struct tq_conv_params {
    int32_t stride_h;   /**< >= 1. */
    int32_t stride_w;   /**< >= 1. */
    int32_t pad_top;    /**< >= 0. */
    int32_t pad_bottom; /**< >= 0 (SAME padding puts the odd pixel here). */
    int32_t pad_left;   /**< >= 0. */
    int32_t pad_right;  /**< >= 0. */
    int32_t dilation_h; /**< >= 1. */
    int32_t dilation_w; /**< >= 1. */
    int32_t groups;     /**< >= 1; conv2d only (depthwise ignores it):
                             in_c and out_c must be multiples of it. */
} tq_conv_params;

/** @brief Geometry of a pooling window. Pads must be smaller than the
 *  window, so every window holds at least one real pixel. The output extent
 *  must equal (in + pad_before + pad_after − k) / stride + 1. Height
 *  before width, as ::tq_conv_params (CMSIS-NN's tiles are {w, h}); use
 *  designated initialisers, and tq_pool_check_geometry() to learn which
 *  field a #TQ_ERR_SHAPE or #TQ_ERR_PARAM is about. The int8 pools take
 *  their clamp as act_min / act_max arguments (see ::tq_s8_output). */
typedef struct tq_pool_params {
    int32_t kernel_h;   /**< >= 1. */
    int32_t kernel_w;   /**< >= 1. */
    int32_t stride_h;   /**< >= 1. */
    int32_t stride_w;   /**< >= 1. */
    int32_t pad_top;    /**< 0 <= pad < kernel_h. */
    int32_t pad_bottom; /**< 0 <= pad < kernel_h. */
    int32_t pad_left;   /**< 0 <= pad < kernel_w. */
    int32_t pad_right;  /**< 0 <= pad < kernel_w. */
} tq_pool_params;

/** @brief Output extent of a convolution or pooling along one axis:
 *  (in + pad_before + pad_after − dilation·(k − 1) − 1) / stride + 1.
 *  @return #TQ_ERR_PARAM for non-positive sizes or negative pads,
 *          #TQ_ERR_SHAPE if the window does not fit even once. */
TQ_API tq_status tq_conv_output_size(int32_t in, int32_t k, int32_t stride,
                                     int32_t dilation, int32_t pad_before,
                                     int32_t pad_after, int32_t *out);

/** @brief TensorFlow "SAME" padding along one axis for a wanted output
 *  extent: with window = dilation·(k − 1) + 1,
 *  total = max((out − 1)·stride + window − in, 0), pad_before = total / 2
 *  (rounded down) and pad_after = total − pad_before, so the odd pixel
 *  goes after (bottom / right), as TensorFlow and TFLite place it. SAME
 *  means out = ceil(in / stride); any other out is accepted as long as the
 *  pads give it exactly.
 *  @param in         input extent, >= 1
 *  @param k          kernel extent, >= 1
 *  @param stride     >= 1
 *  @param dilation   >= 1 (1 for pooling)
 *  @param out        the wanted output extent, >= 1
 *  @param pad_before receives the top / left pad
 *  @param pad_after  receives the bottom / right pad
 *  @return #TQ_ERR_PARAM for a value below its minimum, #TQ_ERR_SHAPE when
 *          even zero padding gives more than @p out outputs (the output-size
 *          formula of tq_conv_output_size() cannot give @p out),
 *          #TQ_ERR_OVERFLOW when a pad would exceed INT32_MAX. Nothing is
 *          written on error. */
TQ_API tq_status tq_conv_same_padding(int32_t in, int32_t k, int32_t stride,
                                      int32_t dilation, int32_t out,
                                      int32_t *pad_before,
                                      int32_t *pad_after);

/** @brief The bottom / right pad that makes tinyq's output-size formula
 *  give @p out when the top / left pad is @p pad_before: the CMSIS-NN
 *  convention, where a layer has one pad per axis (cmsis_nn_tile
 *  padding) plus its output size, and taps past the bottom / right edge
 *  are skipped. Copying the top pad into the bottom one is wrong whenever
 *  the total padding is odd or the last window runs past the edge;
 *  this gives the smallest pad_after >= 0 with
 *  (in + pad_before + pad_after − dilation·(k − 1) − 1) / stride + 1 == out,
 *  and a convolution with it computes exactly what CMSIS-NN computes.
 *  @param in         input extent, >= 1
 *  @param k          kernel extent, >= 1
 *  @param stride     >= 1
 *  @param dilation   >= 1 (1 for pooling)
 *  @param pad_before top / left pad, >= 0
 *  @param out        the wanted output extent, >= 1
 *  @param pad_after  receives the bottom / right pad
 *  @return #TQ_ERR_PARAM for a value below its minimum, #TQ_ERR_SHAPE when
 *          no pad_after >= 0 gives @p out (even 0 gives more outputs:
 *          @p out is smaller than the input allows), #TQ_ERR_OVERFLOW when
 *          the pad would exceed INT32_MAX. Nothing is written on error.
 *          Pooling also needs the pad below its window
 *          (tq_pool_check_geometry() says so). */
TQ_API tq_status tq_conv_pad_after(int32_t in, int32_t k, int32_t stride,
                                   int32_t dilation, int32_t pad_before,
                                   int32_t out, int32_t *pad_after);

/** @brief The fields tq_conv_check_geometry() and tq_pool_check_geometry()
 *  can name. The values are part of the ABI. */
typedef enum tq_geometry_field {
    TQ_GEOM_OK = 0,          /**< Every field is consistent. */
    TQ_GEOM_STRIDE_H = 1,    /**< stride_h (conv or pool params). */
    TQ_GEOM_STRIDE_W = 2,    /**< stride_w. */
    TQ_GEOM_PAD_TOP = 3,     /**< pad_top. */
    TQ_GEOM_PAD_BOTTOM = 4,  /**< pad_bottom. */
    TQ_GEOM_PAD_LEFT = 5,    /**< pad_left. */
    TQ_GEOM_PAD_RIGHT = 6,   /**< pad_right. */
    TQ_GEOM_DILATION_H = 7,  /**< dilation_h. */
    TQ_GEOM_DILATION_W = 8,  /**< dilation_w. */
    TQ_GEOM_GROUPS = 9,      /**< groups (conv2d). */
    TQ_GEOM_KERNEL_H = 10,   /**< kernel_h (pool params). */
    TQ_GEOM_KERNEL_W = 11,   /**< kernel_w (pool params). */
    TQ_GEOM_IN_N = 12,       /**< in_dims->n. */
    TQ_GEOM_IN_H = 13,       /**< in_dims->h. */
    TQ_GEOM_IN_W = 14,       /**< in_dims->w. */
    TQ_GEOM_IN_C = 15,       /**< in_dims->c. */
    TQ_GEOM_FILTER_N = 16,   /**< filter_dims->n. */
    TQ_GEOM_FILTER_H = 17,   /**< filter_dims->h (the kernel height). */
    TQ_GEOM_FILTER_W = 18,   /**< filter_dims->w (the kernel width). */
    TQ_GEOM_FILTER_C = 19,   /**< filter_dims->c. */
    TQ_GEOM_OUT_N = 20,      /**< out_dims->n. */
    TQ_GEOM_OUT_H = 21,      /**< out_dims->h. */
    TQ_GEOM_OUT_W = 22,      /**< out_dims->w. */
    TQ_GEOM_OUT_C = 23       /**< out_dims->c. */
} tq_geometry_field;

/** @brief What tq_conv_check_geometry() / tq_pool_check_geometry() found. */
typedef struct tq_geometry_report {
    int32_t field;     /**< The first inconsistent ::tq_geometry_field, in
                            the order the functions document; #TQ_GEOM_OK
                            when there is none. */
    int32_t value;     /**< That field's value as given (0 for OK). */
    int32_t expected;  /**< The value the field would need, given the fields
                            checked before it (for OUT_H / OUT_W: the
                            extent the formula gives), or −1 where a range
                            is required rather than one value (a stride
                            below 1, a window that does not fit, ...). */
    int32_t pad_after; /**< For OUT_H / OUT_W, and for a window that does
                            not fit (FILTER_H / FILTER_W, KERNEL_H /
                            KERNEL_W): the pad_bottom / pad_right that would
                            give the output extent as given, keeping
                            pad_top / pad_left (tq_conv_pad_after()), or −1
                            if none does (for a pool: none below its
                            window); −1 for other fields. */
} tq_geometry_report;

/** @brief Check a convolution's geometry the way the conv kernels do and
 *  name the first field that is wrong, since the kernels only return
 *  #TQ_ERR_SHAPE or #TQ_ERR_PARAM (they never print). Fields are checked
 *  in this order and the first fault is reported:
 *  1. the ::tq_conv_params in struct order: strides >= 1, pads >= 0,
 *     dilations >= 1, then groups >= 1 (conv2d only) — #TQ_ERR_PARAM;
 *  2. every extent of @p in_dims, @p filter_dims, @p out_dims >= 1
 *     (n, h, w, c in turn) — #TQ_ERR_SHAPE;
 *  3. the height, then the width: the window must fit the padded input
 *     (else FILTER_H / FILTER_W, #TQ_ERR_SHAPE), the formula's extent must
 *     fit int32 (else OUT_H / OUT_W, #TQ_ERR_OVERFLOW), and out_h / out_w
 *     must equal it (else OUT_H / OUT_W, #TQ_ERR_SHAPE, with the formula's
 *     extent in expected and the pad that would fix it in pad_after);
 *  4. out n == in n (OUT_N);
 *  5. channels, #TQ_ERR_SHAPE. conv2d: groups divides in c (GROUPS),
 *     filter c == in c / groups (FILTER_C), out c == filter n (OUT_C),
 *     groups divides out c (GROUPS). Depthwise: filter n == 1 (FILTER_N),
 *     out c == filter c (OUT_C), in c divides out c (OUT_C).
 *
 *  It does not check the s8 reduction limit (#TQ_S8_MAX_REDUCTION), byte
 *  counts, pointers or the output stage, which the kernels also check.
 *  @param conv        the geometry
 *  @param in_dims     {N, H, W, Cin}
 *  @param filter_dims conv2d: OHWI {Cout, KH, KW, Cin / groups};
 *                     depthwise: {1, KH, KW, Cout}
 *  @param out_dims    {N, OH, OW, Cout}
 *  @param depthwise   0: conv2d (and the fused conv + pool's convolution),
 *                     1: depthwise (groups ignored)
 *  @param report      receives the finding (always written when not NULL)
 *  @return #TQ_OK when the geometry is consistent; else the status the
 *          finding gives (above); #TQ_ERR_NULL for a NULL pointer (report
 *          field #TQ_GEOM_OK); #TQ_ERR_PARAM for @p depthwise other than
 *          0 or 1 (likewise). */
TQ_API tq_status tq_conv_check_geometry(const tq_conv_params *conv,
                                        const tq_dims *in_dims,
                                        const tq_dims *filter_dims,
                                        const tq_dims *out_dims,
                                        int32_t depthwise,
                                        tq_geometry_report *report);

/** @brief Check a pooling geometry the way the pool kernels do and name
 *  the first field that is wrong. Order: the ::tq_pool_params in struct
 *  order (kernel >= 1, stride >= 1, 0 <= pad < kernel of its axis;
 *  #TQ_ERR_PARAM), the extents of @p in_dims and @p out_dims (>= 1,
 *  #TQ_ERR_SHAPE), the height then the width as tq_conv_check_geometry()
 *  (a window that does not fit is KERNEL_H / KERNEL_W), out n == in n
 *  (OUT_N), out c == in c (OUT_C).
 *  @param pool     the window
 *  @param in_dims  {N, H, W, C}
 *  @param out_dims {N, OH, OW, C}
 *  @param report   receives the finding (always written when not NULL)
 *  @return as tq_conv_check_geometry(). */
TQ_API tq_status tq_pool_check_geometry(const tq_pool_params *pool,
                                        const tq_dims *in_dims,
                                        const tq_dims *out_dims,
                                        tq_geometry_report *report);

/** @brief C = act(A · Bᵀ + bias) with A [m][k] (row stride lda), B [n][k]
 *  (row stride ldb), C [m][n] (row stride ldc), bias [n] or NULL.
 *  m, n, k >= 0 (k == 0 writes the clamped bias, or 0; m or n == 0 writes
 *  nothing); lda, ldb >= k, ldc >= n, else #TQ_ERR_SHAPE. A matrix pointer
 *  may be NULL only when that matrix has no element. Columns of C past n
 *  are not touched. @p act may be NULL (no clamp). */
TQ_API tq_status tq_f32_gemm(int32_t m, int32_t n, int32_t k, const float *a,
                             int32_t lda, const float *b, int32_t ldb,
                             const float *bias, const tq_f32_act *act,
                             float *c, int32_t ldc);

/** @brief Bytes of scratch tq_f32_conv2d() needs for these shapes: 0 for
 *  a 1x1, stride-1, unpadded, single-group convolution (which reads the
 *  input directly), else the im2col rows of a block of up to 32 output
 *  pixels: min(32, N·OH·OW) · KH · KW · Cin/groups floats plus
 *  alignof(float) − 1 bytes of alignment slack. Validates the shapes as
 *  tq_f32_conv2d() does. */
TQ_API tq_status tq_f32_conv2d_scratch_size(const tq_conv_params *conv,
                                            const tq_dims *in_dims,
                                            const tq_dims *filter_dims,
                                            const tq_dims *out_dims,
                                            size_t *bytes);

/** @brief 2-D convolution, NHWC. Padded taps count as 0.
 *  @param conv         geometry (stride, padding, dilation, groups)
 *  @param in_dims      {N, H, W, Cin}
 *  @param in           N·H·W·Cin input values
 *  @param filter_dims  OHWI {Cout, KH, KW, Cin / groups}
 *  @param filter       Cout·KH·KW·(Cin / groups) weights
 *  @param bias         Cout values or NULL
 *  @param act          output clamp or NULL
 *  @param out_dims     {N, OH, OW, Cout}
 *  @param out          N·OH·OW·Cout outputs
 *  @param scratch      at least tq_f32_conv2d_scratch_size() bytes, any
 *                      alignment (#TQ_ERR_BUFFER_TOO_SMALL if fewer; may
 *                      be NULL when the query gave 0)
 *  @param scratch_bytes size of @p scratch */
TQ_API tq_status tq_f32_conv2d(const tq_conv_params *conv,
                               const tq_dims *in_dims, const float *in,
                               const tq_dims *filter_dims, const float *filter,
                               const float *bias, const tq_f32_act *act,
                               const tq_dims *out_dims, float *out,
                               void *scratch, size_t scratch_bytes);

/** @brief Depthwise convolution, NHWC, channel multiplier
 *  M = Cout / Cin (output channel oc = ic·M + m).
 *  @param conv        geometry; conv->groups is ignored
 *  @param in_dims     {N, H, W, Cin}
 *  @param in          input values
 *  @param filter_dims {1, KH, KW, Cout}
 *  @param filter      KH·KW·Cout weights
 *  @param bias        Cout values or NULL
 *  @param act         output clamp or NULL
 *  @param out_dims    {N, OH, OW, Cout}
 *  @param out         outputs */
TQ_API tq_status tq_f32_depthwise_conv2d(const tq_conv_params *conv,
                                         const tq_dims *in_dims,
                                         const float *in,
                                         const tq_dims *filter_dims,
                                         const float *filter,
                                         const float *bias,
                                         const tq_f32_act *act,
                                         const tq_dims *out_dims, float *out);

/** @brief Fully connected: out[b][o] = act(Σ_i in[b][i] · w[o][i] + bias[o]).
 *  @param batch        rows of @p in, >= 1
 *  @param in_features  >= 1
 *  @param out_features >= 1
 *  @param in           [batch][in_features]
 *  @param weights      [out_features][in_features]
 *  @param bias         out_features values or NULL
 *  @param act          output clamp or NULL
 *  @param out          [batch][out_features] */
TQ_API tq_status tq_f32_fully_connected(int32_t batch, int32_t in_features,
                                        int32_t out_features, const float *in,
                                        const float *weights, const float *bias,
                                        const tq_f32_act *act, float *out);

/** @brief Max pool, NHWC; padded taps are ignored, then the clamp @p act
 *  (NULL: none). Ties keep the first tap in row-major window order. */
TQ_API tq_status tq_f32_max_pool(const tq_pool_params *pool,
                                 const tq_dims *in_dims, const float *in,
                                 const tq_f32_act *act, const tq_dims *out_dims,
                                 float *out);

/** @brief Average pool, NHWC; divides the sum of the non-padded taps by
 *  their count, then the clamp @p act (NULL: none). */
TQ_API tq_status tq_f32_avg_pool(const tq_pool_params *pool,
                                 const tq_dims *in_dims, const float *in,
                                 const tq_f32_act *act, const tq_dims *out_dims,
                                 float *out);

/** @brief Elementwise out = act(a + b) over @p n values; @p out may alias
 *  @p a or @p b exactly (a partial overlap is #TQ_ERR_ALIAS). n == 0 is a
 *  no-op that accepts NULL pointers. */
TQ_API tq_status tq_f32_add(size_t n, const float *a, const float *b,
                            const tq_f32_act *act, float *out);

/** @brief Row-wise softmax of [rows][cols], computed stably (the row maximum
 *  is subtracted first, the sum is taken in double). rows, cols >= 1.
 *  @p out may equal @p in (a partial overlap is #TQ_ERR_ALIAS). Any NaN or
 *  infinity (−inf included) in @p in gives #TQ_ERR_NOT_FINITE before
 *  anything is written. */
TQ_API tq_status tq_f32_softmax(int32_t rows, int32_t cols, const float *in,
                                float *out);

/** @brief Bytes of scratch tq_f32_conv2d_relu_maxpool2() needs: the im2col
 *  rows and conv outputs of a block of up to 8 pooled pixels of one row,
 *  4 · min(8, OW/2) · (KH · KW · Cin + Cout) floats plus alignof(float) − 1
 *  bytes of alignment slack. */
TQ_API tq_status tq_f32_conv2d_relu_maxpool2_scratch_size(
    const tq_conv_params *conv, const tq_dims *in_dims,
    const tq_dims *filter_dims, const tq_dims *out_dims, size_t *bytes);

/** @brief The lab's Stage 3 fusion: conv2d (groups must be 1), then ReLU
 *  (or the clamp @p act, NULL meaning ReLU), then a 2x2 max pool of stride 2
 *  without padding, writing only the pooled output. Bit-identical to
 *  tq_f32_conv2d() with the same clamp followed by tq_f32_max_pool().
 *  groups > 1 is #TQ_ERR_UNSUPPORTED.
 *  @param conv        geometry of the convolution (groups 1)
 *  @param in_dims     {N, H, W, Cin}
 *  @param in          input values
 *  @param filter_dims OHWI {Cout, KH, KW, Cin}
 *  @param filter      weights
 *  @param bias        Cout values or NULL
 *  @param act         clamp applied before pooling; NULL means ReLU
 *  @param out_dims    {N, floor(OH / 2), floor(OW / 2), Cout} where OH, OW
 *                     are the convolution's output extents (so OH or OW of
 *                     1 is #TQ_ERR_SHAPE)
 *  @param out         pooled outputs
 *  @param scratch     tq_f32_conv2d_relu_maxpool2_scratch_size() bytes
 *  @param scratch_bytes size of @p scratch */
TQ_API tq_status tq_f32_conv2d_relu_maxpool2(
    const tq_conv_params *conv, const tq_dims *in_dims, const float *in,
    const tq_dims *filter_dims, const float *filter, const float *bias,
    const tq_f32_act *act, const tq_dims *out_dims, float *out, void *scratch,
    size_t scratch_bytes);

/** @brief Elementwise out = act(a · b) over @p n values; aliasing as in
 *  tq_f32_add() (@p out may equal @p a or @p b). n == 0 is a no-op that
 *  accepts NULL pointers. */
TQ_API tq_status tq_f32_mul(size_t n, const float *a, const float *b,
                            const tq_f32_act *act, float *out);

/** @brief Per-channel affine map of [rows][channels]:
 *  out[r][c] = act(in[r][c] · scale[c] + shift[c]), where a scale or shift
 *  of count 1 is broadcast to every channel and one of count 0 is left out
 *  (its pointer may be NULL). Serves Mul and Add by a per-channel or scalar
 *  constant, and an unfolded BatchNorm.
 *  @param rows        rows (e.g. N·H·W), >= 0 (0 writes nothing)
 *  @param channels    >= 1
 *  @param in          rows · channels values
 *  @param scale       scale_count values, or NULL when scale_count is 0
 *  @param scale_count 0, 1 or @p channels, else #TQ_ERR_SHAPE
 *  @param shift       shift_count values, or NULL when shift_count is 0
 *  @param shift_count 0, 1 or @p channels, else #TQ_ERR_SHAPE
 *  @param act         output clamp or NULL
 *  @param out         rows · channels values; may equal @p in exactly (a
 *                     partial overlap, or one with @p scale or @p shift, is
 *                     #TQ_ERR_ALIAS) */
TQ_API tq_status tq_f32_channel_affine(size_t rows, int32_t channels,
                                       const float *in, const float *scale,
                                       int32_t scale_count, const float *shift,
                                       int32_t shift_count,
                                       const tq_f32_act *act, float *out);

/** @brief out = the clamp @p act of @p in over @p n values (a NaN passes
 *  through; NULL @p act copies). @p out may equal @p in exactly (a partial
 *  overlap is #TQ_ERR_ALIAS). n == 0 accepts NULL pointers. */
TQ_API tq_status tq_f32_clamp(size_t n, const float *in, const tq_f32_act *act,
                              float *out);

/** @brief Leaky ReLU: out = in for in >= 0, else alpha · in, over @p n
 *  values. @p alpha must be finite (#TQ_ERR_PARAM). @p out may equal @p in
 *  exactly (a partial overlap is #TQ_ERR_ALIAS). n == 0 accepts NULL
 *  pointers. */
TQ_API tq_status tq_f32_leaky_relu(size_t n, const float *in, float alpha,
                                   float *out);

/** @brief Concatenate along the last (channel) axis: row r of @p out is row
 *  r of input 0, then row r of input 1, ... (NHWC: rows = N·H·W).
 *  @param rows      rows of every input and of the output, >= 0
 *  @param n_inputs  >= 1
 *  @param inputs    @p n_inputs pointers, input i holding
 *                   rows · channels[i] values (none NULL)
 *  @param channels  @p n_inputs widths, each >= 1 (#TQ_ERR_SHAPE)
 *  @param out       rows · Σ channels values; may overlap no input
 *                   (#TQ_ERR_ALIAS) */
TQ_API tq_status tq_f32_concat(size_t rows, int32_t n_inputs,
                               const float *const *inputs,
                               const int32_t *channels, float *out);

/** @brief Pad the height and width of an NHWC tensor with @p value.
 *  @param in_dims    {N, H, W, C}
 *  @param in         input values
 *  @param pad_top    rows added above, >= 0 (#TQ_ERR_PARAM)
 *  @param pad_bottom rows added below, >= 0
 *  @param pad_left   columns added left, >= 0
 *  @param pad_right  columns added right, >= 0
 *  @param value      the padding value (0 for a zero pad)
 *  @param out_dims   {N, H + pad_top + pad_bottom, W + pad_left + pad_right,
 *                    C}, else #TQ_ERR_SHAPE
 *  @param out        output values; may not overlap @p in (#TQ_ERR_ALIAS) */
TQ_API tq_status tq_f32_pad(const tq_dims *in_dims, const float *in,
                            int32_t pad_top, int32_t pad_bottom,
                            int32_t pad_left, int32_t pad_right, float value,
                            const tq_dims *out_dims, float *out);

/** @brief Global average pool, NHWC: out[n][c] is the mean of channel c of
 *  image n over all H·W pixels (summed in double, then rounded once).
 *  @param in_dims {N, H, W, C}, all >= 1
 *  @param in      input values
 *  @param out     N · C values (the shape {N, 1, 1, C}); may not overlap
 *                 @p in (#TQ_ERR_ALIAS) */
TQ_API tq_status tq_f32_global_avg_pool(const tq_dims *in_dims,
                                        const float *in, float *out);

/** @} */

/* ======================================================================== */
/** @defgroup tq_s8_sec s8 kernels
 *  The int8 path, bit-exact with the TFLite int8 reference kernels and
 *  CMSIS-NN. Activations are asymmetric int8: the kernels take
 *  input_offset = −zero_point_in (in [−127, 128]) and the ::tq_s8_output
 *  output_offset = +zero_point_out. Conv and depthwise weights are symmetric
 *  (no weight offset). Biases are int32 at scale s_in · s_w[c], or NULL
 *  (tq_quantize_bias() makes them from float biases).
 *
 *  One output element:
 *  acc = Σ w · (x + input_offset) + bias, then the ::tq_s8_output stage.
 *  Conv, depthwise, FC and GEMM take the stage (multipliers, shifts, output
 *  zero point, clamp) as a ::tq_s8_output, per tensor with one-element
 *  arrays and per_channel = 0; the pools, which keep their input's scale,
 *  take only the clamp, as act_min / act_max arguments (see
 *  ::tq_s8_output). Packed FC weights with a zero point:
 *  tq_s8_fully_connected_packed_offset().
 *  Accumulation is int32: the reduction length (kh·kw·cin/groups, or K) is
 *  limited to #TQ_S8_MAX_REDUCTION so that no sum can overflow; longer ones
 *  get #TQ_ERR_OVERFLOW.
 *
 *  Buffers: no buffer a kernel writes (output, scratch) may share a byte
 *  with any other buffer of the call (input, weights, bias, the output
 *  stage's multiplier and shift arrays, output, scratch): such a call
 *  gives #TQ_ERR_ALIAS and writes nothing. Buffers that are only read may
 *  overlap. (tq_s8_add() alone allows an output equal to an input.)
 *  @{ */
/* ======================================================================== */

/** Longest reduction an s8 kernel accepts: 255 · 255 · 2^15 < 2^31. */
#define TQ_S8_MAX_REDUCTION 32768

/** @brief Raw int32 GEMM: C = (A + a_offset) · (B + b_offset)ᵀ + bias, with
 *  A [m][k] (lda), B [n][k] (ldb), C [m][n] (ldc), bias [n] or NULL.
 *  Offsets in [−128, 128] (e.g. −zero point); k <= #TQ_S8_MAX_REDUCTION.
 *  m, n, k >= 0 (k == 0 gives the bias alone); lda, ldb >= k, ldc >= n;
 *  a pointer may be NULL only when its matrix is empty. Sums that would
 *  leave int32 saturate: through the bias, or (−256)² · 2^15 = 2^31 when
 *  both offsets are −128 at the longest reduction. C must not overlap A,
 *  B or the bias (#TQ_ERR_ALIAS). */
TQ_API tq_status tq_s8_gemm_s32(int32_t m, int32_t n, int32_t k,
                                const int8_t *a, int32_t lda, int32_t a_offset,
                                const int8_t *b, int32_t ldb, int32_t b_offset,
                                const int32_t *bias, int32_t *c, int32_t ldc);

/** @brief Bytes of scratch tq_s8_gemm() needs (0 in this version: its
 *  blocks live on the stack, about 1.2 KiB). */
TQ_API tq_status tq_s8_gemm_scratch_size(int32_t m, int32_t n, int32_t k,
                                         size_t *bytes);

/** @brief Requantized GEMM: as tq_s8_gemm_s32(), then the output stage @p os
 *  per column (output channel = column of C). Same argument rules; @p os
 *  is always validated. */
TQ_API tq_status tq_s8_gemm(int32_t m, int32_t n, int32_t k, const int8_t *a,
                            int32_t lda, int32_t a_offset, const int8_t *b,
                            int32_t ldb, int32_t b_offset, const int32_t *bias,
                            const tq_s8_output *os, int8_t *c, int32_t ldc,
                            void *scratch, size_t scratch_bytes);

/** @brief Bytes of scratch tq_s8_conv2d() needs for these shapes (includes
 *  3 bytes of slack so that any scratch pointer can be aligned). */
TQ_API tq_status tq_s8_conv2d_scratch_size(const tq_conv_params *conv,
                                           const tq_dims *in_dims,
                                           const tq_dims *filter_dims,
                                           const tq_dims *out_dims,
                                           size_t *bytes);

/** @brief int8 2-D convolution, NHWC, TFLite CONV_2D semantics.
 *  @param conv         geometry (stride, padding, dilation, groups)
 *  @param in_dims      {N, H, W, Cin}
 *  @param in           input codes
 *  @param input_offset −zero point of the input, [−127, 128]
 *  @param filter_dims  OHWI {Cout, KH, KW, Cin / groups}
 *  @param filter       weight codes, symmetric (zero point 0)
 *  @param bias         Cout int32 values at scale s_in · s_w[c], or NULL
 *  @param os           output stage; per_channel entries are per Cout
 *  @param out_dims     {N, OH, OW, Cout}
 *  @param out          output codes
 *  @param scratch      tq_s8_conv2d_scratch_size() bytes, any alignment
 *  @param scratch_bytes size of @p scratch
 *  @return also #TQ_ERR_OVERFLOW when KH·KW·Cin/groups exceeds
 *          #TQ_S8_MAX_REDUCTION, #TQ_ERR_BUFFER_TOO_SMALL for a short
 *          scratch, #TQ_ERR_ALIAS if @p out or the scratch overlaps
 *          another buffer of the call (see the section's rule). */
TQ_API tq_status tq_s8_conv2d(const tq_conv_params *conv,
                              const tq_dims *in_dims, const int8_t *in,
                              int32_t input_offset, const tq_dims *filter_dims,
                              const int8_t *filter, const int32_t *bias,
                              const tq_s8_output *os, const tq_dims *out_dims,
                              int8_t *out, void *scratch,
                              size_t scratch_bytes);

/** @brief int8 depthwise convolution, channel multiplier M = Cout / Cin
 *  (output channel oc = ic·M + m), TFLite DEPTHWISE_CONV_2D semantics.
 *  @param conv         geometry; conv->groups is ignored
 *  @param in_dims      {N, H, W, Cin}
 *  @param in           input codes
 *  @param input_offset −zero point of the input, [−127, 128]
 *  @param filter_dims  {1, KH, KW, Cout}
 *  @param filter       weight codes, symmetric
 *  @param bias         Cout int32 values or NULL
 *  @param os           output stage, per Cout when per channel
 *  @param out_dims     {N, OH, OW, Cout}
 *  @param out          output codes
 *
 *  KH·KW must not exceed #TQ_S8_MAX_REDUCTION (#TQ_ERR_OVERFLOW); @p out
 *  must not overlap @p in, @p filter, @p bias or the arrays of @p os
 *  (#TQ_ERR_ALIAS). */
TQ_API tq_status tq_s8_depthwise_conv2d(const tq_conv_params *conv,
                                        const tq_dims *in_dims,
                                        const int8_t *in, int32_t input_offset,
                                        const tq_dims *filter_dims,
                                        const int8_t *filter,
                                        const int32_t *bias,
                                        const tq_s8_output *os,
                                        const tq_dims *out_dims, int8_t *out);

/** @brief int8 fully connected, TFLite FULLY_CONNECTED semantics:
 *  acc[b][o] = Σ_i (w[o][i] + weight_offset) · (in[b][i] + input_offset)
 *  + bias[o], then @p os (per tensor, or per output feature).
 *  @param batch         rows of @p in, >= 1
 *  @param in_features   >= 1, <= #TQ_S8_MAX_REDUCTION
 *  @param out_features  >= 1
 *  @param in            [batch][in_features] codes
 *  @param input_offset  −zero point of the input, [−127, 128]
 *  @param weights       [out_features][in_features] codes
 *  @param bias          out_features int32 values or NULL
 *  @param os            output stage
 *  @param out           [batch][out_features] codes
 *  @param weight_offset −zero point of the weights, [−128, 128]; 0 for
 *                       TFLite's symmetric weights (ONNX QLinearMatMul
 *                       and gemmlowp may use others)
 *  batch, in_features, out_features >= 1 and in_features <=
 *  #TQ_S8_MAX_REDUCTION; @p out must not overlap @p in, @p weights,
 *  @p bias or the arrays of @p os (#TQ_ERR_ALIAS). */
TQ_API tq_status tq_s8_fully_connected(int32_t batch, int32_t in_features,
                                       int32_t out_features, const int8_t *in,
                                       int32_t input_offset,
                                       const int8_t *weights,
                                       int32_t weight_offset,
                                       const int32_t *bias,
                                       const tq_s8_output *os, int8_t *out);

/** @brief Bytes tq_s8_pack_weights() writes for an [n][k] weight matrix:
 *  a 64-byte header, n int32 row sums (rounded up to 16), and the codes in
 *  blocks of 16 rows by 4 columns, zero-padded (n and k rounded up to 16
 *  and 4).
 *  @param n     output features, >= 1
 *  @param k     input features, 1..#TQ_S8_MAX_REDUCTION
 *  @param bytes receives the size
 *  @return #TQ_ERR_SHAPE for n or k < 1, #TQ_ERR_OVERFLOW for a longer k
 *          or a size beyond size_t. */
TQ_API tq_status tq_s8_packed_weights_size(int32_t n, int32_t k,
                                           size_t *bytes);

/** @brief Pack int8 weights [n][k] (row stride @p ldw >= k) once, ahead
 *  of inference, for tq_s8_fully_connected_packed() (symmetric weights) or
 *  tq_s8_fully_connected_packed_offset() (weights with a zero point; the
 *  same bytes): the layout the microkernels read without rearranging
 *  anything per call, and each row's sum, which the input zero point's
 *  fold needs.
 *
 *  Layout (all integers little-endian, no padding between fields):
 *  - header, 64 bytes: uint32 magic 0x57505154 ("TQPW"), uint32 layout
 *    version 1, int32 n, int32 k, then zeros;
 *  - int32 sums[round_up(n, 16)]: Σ_p w[o][p], 0 for padding rows;
 *  - int8 codes[round_up(n, 16) / 16][round_up(k, 4) / 4][16][4]: block b,
 *    group g, lane l, byte q holds w[16·b + l][4·g + q] (0 outside w).
 *  The same bytes serve every kernel path and can be stored in a file.
 *  @param n            output features (rows of @p w), >= 1
 *  @param k            input features (columns), 1..#TQ_S8_MAX_REDUCTION
 *  @param w            the weight codes (stored as they are; a zero point
 *                      is applied by tq_s8_fully_connected_packed_offset())
 *  @param ldw          row stride of @p w in elements, >= k
 *  @param packed       output, any alignment (64 bytes is fastest)
 *  @param packed_bytes at least tq_s8_packed_weights_size() bytes
 *  @return #TQ_ERR_BUFFER_TOO_SMALL for a short @p packed (nothing
 *          written), #TQ_ERR_ALIAS if @p packed overlaps @p w. */
TQ_API tq_status tq_s8_pack_weights(int32_t n, int32_t k, const int8_t *w,
                                    int32_t ldw, void *packed,
                                    size_t packed_bytes);

/** @brief int8 fully connected with weights packed by tq_s8_pack_weights()
 *  (symmetric, weight zero point 0): bit for bit the output of
 *  tq_s8_fully_connected() with the unpacked weights and weight_offset 0.
 *  Asymmetric weights (a nonzero weight zero point) take
 *  tq_s8_fully_connected_packed_offset() with the same packed bytes.
 *  @param batch         rows of @p in, >= 1
 *  @param in_features   k of the packed weights
 *  @param out_features  n of the packed weights
 *  @param in            [batch][in_features] codes
 *  @param input_offset  −zero point of the input, [−127, 128]
 *  @param packed        the packed weights
 *  @param packed_bytes  their size; at least tq_s8_packed_weights_size()
 *  @param bias          out_features int32 values or NULL
 *  @param os            output stage (per tensor or per output feature)
 *  @param out           [batch][out_features] codes
 *  @return #TQ_ERR_FORMAT for a header that is not a tinyq packed matrix
 *          of this layout version, #TQ_ERR_SHAPE when its n and k are not
 *          @p out_features and @p in_features, #TQ_ERR_BUFFER_TOO_SMALL
 *          for a short buffer, #TQ_ERR_ALIAS if @p out overlaps @p in,
 *          @p packed, @p bias or the arrays of @p os. */
TQ_API tq_status tq_s8_fully_connected_packed(
    int32_t batch, int32_t in_features, int32_t out_features, const int8_t *in,
    int32_t input_offset, const void *packed, size_t packed_bytes,
    const int32_t *bias, const tq_s8_output *os, int8_t *out);

/** @brief tq_s8_fully_connected_packed() with a weight zero point: bit for
 *  bit the output of tq_s8_fully_connected() with the unpacked weights and
 *  the same @p weight_offset, on every kernel path. For asymmetric int8
 *  weights (TFLite's filter_offset, ONNX QLinearMatMul's b_zero_point):
 *  pack the weights' codes as they are with tq_s8_pack_weights() and pass
 *  −zero point here; the packed layout does not change.
 *  acc[b][o] = Σ_i (w[o][i] + weight_offset) · (in[b][i] + input_offset)
 *  + bias[o], computed as the raw product plus the input's row sums times
 *  @p weight_offset (the stored weight sums carry @p input_offset), and
 *  saturated to int32 as tq_s8_fully_connected() saturates it.
 *  @param batch         rows of @p in, >= 1
 *  @param in_features   k of the packed weights
 *  @param out_features  n of the packed weights
 *  @param in            [batch][in_features] codes
 *  @param input_offset  −zero point of the input, [−127, 128]
 *  @param packed        the packed weights
 *  @param packed_bytes  their size; at least tq_s8_packed_weights_size()
 *  @param weight_offset −zero point of the weights, [−128, 128] (0 is
 *                       tq_s8_fully_connected_packed())
 *  @param bias          out_features int32 values or NULL
 *  @param os            output stage (per tensor or per output feature)
 *  @param out           [batch][out_features] codes
 *  @return as tq_s8_fully_connected_packed(), and #TQ_ERR_PARAM for a
 *          @p weight_offset outside [−128, 128]. */
TQ_API tq_status tq_s8_fully_connected_packed_offset(
    int32_t batch, int32_t in_features, int32_t out_features, const int8_t *in,
    int32_t input_offset, const void *packed, size_t packed_bytes,
    int32_t weight_offset, const int32_t *bias, const tq_s8_output *os,
    int8_t *out);

/** @brief Bytes tq_s8_conv2d_pack() writes for a convolution's OHWI weights
 *  @p filter_dims {Cout, KH, KW, Cin / groups} with @p groups groups: a
 *  64-byte header, Cout int32 weight sums (rounded up to 16), and per group
 *  the weights of its Cout / groups output channels in panels of 16
 *  channels of (K + 1) / 2 int16 pairs, K = KH·KW·Cin / groups.
 *  @param filter_dims the filter's OHWI dims, each >= 1
 *  @param groups      >= 1, dividing Cout
 *  @param bytes       receives the size
 *  @return #TQ_ERR_SHAPE for bad dims or groups not dividing Cout,
 *          #TQ_ERR_PARAM for groups < 1, #TQ_ERR_OVERFLOW for K over
 *          #TQ_S8_MAX_REDUCTION or a size beyond size_t. */
TQ_API tq_status tq_s8_conv2d_packed_size(const tq_dims *filter_dims,
                                          int32_t groups, size_t *bytes);

/** @brief Pack an int8 convolution's symmetric OHWI weights once, ahead of
 *  inference, for tq_s8_conv2d_packed(): the weight sums the input zero
 *  point's fold needs, and the weights widened to int16 in the panels the
 *  GEMM microkernels read as they are, so that a call neither sums nor
 *  rearranges weights.
 *
 *  Layout (all integers little-endian, no padding between fields):
 *  - header, 64 bytes: uint32 magic 0x43505154 ("TQPC"), uint32 layout
 *    version 1, int32 Cout, KH, KW, Cin / groups, groups, K, then zeros;
 *  - int32 sums[round_up(Cout, 16)]: Σ over a filter of its weights, 0 for
 *    padding entries;
 *  - for each group g, for each panel b of round_up(Cout / groups, 16) / 16:
 *    int16 w[(K + 1) / 2][16][2], where w[q][j][h] is weight 2q + h (in
 *    KH, KW, Cin / groups order) of output channel g·Cout / groups + 16·b +
 *    j, 0 past the group's channels and past K.
 *  The same bytes serve every kernel path and can be stored in a file.
 *  @param filter_dims  the filter's OHWI dims
 *  @param groups       as the convolution's tq_conv_params::groups
 *  @param filter       the weight codes, symmetric (zero point 0)
 *  @param packed       output, any alignment
 *  @param packed_bytes at least tq_s8_conv2d_packed_size() bytes
 *  @return as tq_s8_conv2d_packed_size(), #TQ_ERR_NULL,
 *          #TQ_ERR_BUFFER_TOO_SMALL for a short @p packed (nothing
 *          written), #TQ_ERR_ALIAS if @p packed overlaps @p filter. */
TQ_API tq_status tq_s8_conv2d_pack(const tq_dims *filter_dims, int32_t groups,
                                   const int8_t *filter, void *packed,
                                   size_t packed_bytes);

/** @brief int8 convolution on weights packed by tq_s8_conv2d_pack(): bit
 *  for bit the output of tq_s8_conv2d() with the unpacked weights. Its
 *  scratch is the one tq_s8_conv2d_scratch_size() gives for the same
 *  shapes.
 *  @param conv          geometry; groups must be the packed groups
 *  @param in_dims       {N, H, W, Cin}
 *  @param in            input codes
 *  @param input_offset  −zero point of the input, [−127, 128]
 *  @param filter_dims   the filter's OHWI dims, as packed
 *  @param packed        the packed weights
 *  @param packed_bytes  their size; at least tq_s8_conv2d_packed_size()
 *  @param bias          Cout int32 values or NULL
 *  @param os            output stage (per tensor or per output channel)
 *  @param out_dims      {N, OH, OW, Cout}
 *  @param out           output codes
 *  @param scratch       tq_s8_conv2d_scratch_size() bytes, any alignment
 *  @param scratch_bytes its size
 *  @return the statuses of tq_s8_conv2d(), plus #TQ_ERR_FORMAT for a header
 *          that is not a tinyq packed convolution of this layout version,
 *          #TQ_ERR_SHAPE when it does not match @p filter_dims and the
 *          groups, #TQ_ERR_BUFFER_TOO_SMALL for a short @p packed, and
 *          #TQ_ERR_ALIAS if @p out or the scratch overlaps @p packed. */
TQ_API tq_status tq_s8_conv2d_packed(
    const tq_conv_params *conv, const tq_dims *in_dims, const int8_t *in,
    int32_t input_offset, const tq_dims *filter_dims, const void *packed,
    size_t packed_bytes, const int32_t *bias, const tq_s8_output *os,
    const tq_dims *out_dims, int8_t *out, void *scratch,
    size_t scratch_bytes);

/** @brief int8 max pool: maximum over the non-padded taps, then the clamp
 *  [act_min, act_max] (−128 <= act_min <= act_max <= 127; −128 and 127 for
 *  none); the output keeps the input's scale and zero point, which is why
 *  the pools take the clamp as arguments rather than a ::tq_s8_output
 *  (they have no multiplier, shift or offset). @p out must not overlap
 *  @p in. */
TQ_API tq_status tq_s8_max_pool(const tq_pool_params *pool,
                                const tq_dims *in_dims, const int8_t *in,
                                int32_t act_min, int32_t act_max,
                                const tq_dims *out_dims, int8_t *out);

/** @brief int8 average pool: sum of the non-padded taps divided by their
 *  count, rounding half away from zero, then the clamp. */
TQ_API tq_status tq_s8_avg_pool(const tq_pool_params *pool,
                                const tq_dims *in_dims, const int8_t *in,
                                int32_t act_min, int32_t act_max,
                                const tq_dims *out_dims, int8_t *out);

/** @brief Parameters of TFLite's int8 ADD; fill with
 *  tq_s8_add_params_from_scales(). */
typedef struct tq_s8_add_params {
    int32_t input1_offset;     /**< −zero point of input 1. */
    int32_t input1_multiplier; /**< Q31, for s1 / (2·max(s1, s2)). */
    int32_t input1_shift;      /**< <= 0. */
    int32_t input2_offset;     /**< −zero point of input 2. */
    int32_t input2_multiplier; /**< Q31, for s2 / (2·max(s1, s2)). */
    int32_t input2_shift;      /**< <= 0. */
    int32_t left_shift;        /**< 20 for int8, as TFLite. */
    int32_t output_multiplier; /**< Q31, for 2·max(s1, s2) / (2^20 · s_out). */
    int32_t output_shift;      /**< Shift of the output multiplier. */
    int32_t output_offset;     /**< +zero point of the output. */
    int32_t act_min;           /**< Clamp low. */
    int32_t act_max;           /**< Clamp high. */
    int32_t rounding;          /**< A ::tq_rounding. */
} tq_s8_add_params;

/** @brief Derive ::tq_s8_add_params as TFLite's Prepare does. Scales > 0
 *  and finite, zero points in [−128, 127]. An output multiplier >= 1 (which
 *  TFLite refuses) gets a positive output_shift; one needing a shift over
 *  #TQ_SHIFT_MAX gives #TQ_ERR_PARAM. */
TQ_API tq_status tq_s8_add_params_from_scales(
    float scale1, int32_t zero_point1, float scale2, int32_t zero_point2,
    float scale_out, int32_t zero_point_out, int32_t act_min, int32_t act_max,
    int32_t rounding, tq_s8_add_params *params);

/** @brief int8 elementwise add of @p n values with TFLite ADD semantics;
 *  @p out may alias @p a or @p b exactly (other overlaps: #TQ_ERR_ALIAS).
 *  @p params are validated: input shifts in [#TQ_SHIFT_MIN, 0], left_shift
 *  in [0, 20], offsets and clamp as tq_s8_add_params_from_scales() gives. */
TQ_API tq_status tq_s8_add(size_t n, const int8_t *a, const int8_t *b,
                           const tq_s8_add_params *params, int8_t *out);

/** @brief Bytes of scratch tq_s8_conv2d_add() needs for these shapes: those
 *  of tq_s8_conv2d(), plus block·Cout/groups bytes when the convolution
 *  reads its input in place (1x1, stride 1, unpadded, ungrouped) or
 *  KH·KW·Cin/groups < Cout/groups (3 bytes of alignment slack included).
 *  @param conv         geometry, as tq_s8_conv2d()
 *  @param in_dims      {N, H, W, Cin}
 *  @param filter_dims  OHWI {Cout, KH, KW, Cin / groups}
 *  @param out_dims     {N, OH, OW, Cout}
 *  @param bytes        receives the size
 *  @return the shape errors of tq_s8_conv2d_scratch_size(). */
TQ_API tq_status tq_s8_conv2d_add_scratch_size(const tq_conv_params *conv,
                                               const tq_dims *in_dims,
                                               const tq_dims *filter_dims,
                                               const tq_dims *out_dims,
                                               size_t *bytes);

/** @brief int8 convolution with a residual Add fused into its output stage:
 *  bit for bit tq_s8_conv2d() into a temporary tensor t, then
 *  tq_s8_add(count, t, @p skip, @p add, @p out), without the temporary (the
 *  conv's int8 output is made one block of pixels at a time in the
 *  scratch). The conv output is input 1 of @p add and @p skip input 2
 *  (swap the input1_* and input2_* fields for the other order: the sum is
 *  the same). With @p out equal to @p skip, a residual block writes its
 *  sum over the skip tensor, which dies there, and needs no third map.
 *  @param conv         geometry (stride, padding, dilation, groups)
 *  @param in_dims      {N, H, W, Cin}
 *  @param in           input codes
 *  @param input_offset −zero point of the input, [−127, 128]
 *  @param filter_dims  OHWI {Cout, KH, KW, Cin / groups}
 *  @param filter       weight codes, symmetric (zero point 0)
 *  @param bias         Cout int32 values at scale s_in · s_w[c], or NULL
 *  @param os           the conv's output stage (to the scale and zero point
 *                      of the conv's int8 output, input 1 of @p add)
 *  @param out_dims     {N, OH, OW, Cout}: the conv output, @p skip and
 *                      @p out all have this shape
 *  @param skip         the other addend's codes (input 2 of @p add)
 *  @param add          the Add's parameters, validated as tq_s8_add()'s
 *  @param out          the sum's codes; may equal @p skip exactly
 *  @param scratch      tq_s8_conv2d_add_scratch_size() bytes, any alignment
 *  @param scratch_bytes size of @p scratch
 *  @return the errors of tq_s8_conv2d() and tq_s8_add(); #TQ_ERR_ALIAS
 *          also when @p skip overlaps the scratch or overlaps @p out
 *          without being equal to it. Nothing is written on an error. */
TQ_API tq_status tq_s8_conv2d_add(const tq_conv_params *conv,
                                  const tq_dims *in_dims, const int8_t *in,
                                  int32_t input_offset,
                                  const tq_dims *filter_dims,
                                  const int8_t *filter, const int32_t *bias,
                                  const tq_s8_output *os,
                                  const tq_dims *out_dims, const int8_t *skip,
                                  const tq_s8_add_params *add, int8_t *out,
                                  void *scratch, size_t scratch_bytes);

/* the fused conv + Add on packed weights */

/** @brief Bytes of scratch tq_s8_conv2d_add_packed() needs for these
 *  shapes: those of tq_s8_conv2d_add_scratch_size().
 *  @param conv         geometry, as tq_s8_conv2d()
 *  @param in_dims      {N, H, W, Cin}
 *  @param filter_dims  OHWI {Cout, KH, KW, Cin / groups}
 *  @param out_dims     {N, OH, OW, Cout}
 *  @param bytes        receives the size
 *  @return the shape errors of tq_s8_conv2d_scratch_size(). */
TQ_API tq_status tq_s8_conv2d_add_packed_scratch_size(
    const tq_conv_params *conv, const tq_dims *in_dims,
    const tq_dims *filter_dims, const tq_dims *out_dims, size_t *bytes);

/** @brief tq_s8_conv2d_add() on weights packed by tq_s8_conv2d_pack() (the
 *  format of tq_s8_conv2d_packed(), sized by tq_s8_conv2d_packed_size()):
 *  bit for bit tq_s8_conv2d_add() with the unpacked weights, without
 *  summing or rearranging weights in the call.
 *  @param conv         geometry; groups must be the packed groups
 *  @param in_dims      {N, H, W, Cin}
 *  @param in           input codes
 *  @param input_offset −zero point of the input, [−127, 128]
 *  @param filter_dims  the filter's OHWI dims, as packed
 *  @param packed       the packed weights, any alignment
 *  @param packed_bytes their size; at least tq_s8_conv2d_packed_size()
 *  @param bias         Cout int32 values or NULL
 *  @param os           the conv's output stage (input 1 of @p add)
 *  @param out_dims     {N, OH, OW, Cout}: the conv output, @p skip and
 *                      @p out all have this shape
 *  @param skip         the other addend's codes (input 2 of @p add)
 *  @param add          the Add's parameters, validated as tq_s8_add()'s
 *  @param out          the sum's codes; may equal @p skip exactly
 *  @param scratch      tq_s8_conv2d_add_packed_scratch_size() bytes, any
 *                      alignment
 *  @param scratch_bytes size of @p scratch
 *  @return the errors of tq_s8_conv2d_add(), plus those of
 *          tq_s8_conv2d_packed() for the packed bytes (#TQ_ERR_FORMAT,
 *          #TQ_ERR_SHAPE, #TQ_ERR_BUFFER_TOO_SMALL, #TQ_ERR_ALIAS when
 *          @p out or the scratch overlaps them). Nothing is written on an
 *          error. */
TQ_API tq_status tq_s8_conv2d_add_packed(
    const tq_conv_params *conv, const tq_dims *in_dims, const int8_t *in,
    int32_t input_offset, const tq_dims *filter_dims, const void *packed,
    size_t packed_bytes, const int32_t *bias, const tq_s8_output *os,
    const tq_dims *out_dims, const int8_t *skip, const tq_s8_add_params *add,
    int8_t *out, void *scratch, size_t scratch_bytes);


/** @brief int8 table lookup: out[i] = table[in[i] + 128] for i < @p n, so
 *  table[0] is the image of code −128 and table[255] that of 127. Any
 *  elementwise function of one int8 code (a requantization to other
 *  parameters, a clamp, leaky ReLU, ...) becomes such a table, computed
 *  once ahead of inference; the graph runner uses it for the ops that have
 *  no arithmetic kernel.
 *  @param n     number of codes; 0 is a no-op that accepts NULL pointers
 *  @param in    @p n input codes
 *  @param table 256 output codes
 *  @param out   @p n output codes; may equal @p in exactly (in place)
 *  @return #TQ_ERR_NULL, #TQ_ERR_ALIAS when @p out partially overlaps
 *          @p in or overlaps @p table (nothing written). */
TQ_API tq_status tq_s8_lookup(size_t n, const int8_t *in,
                              const int8_t table[256], int8_t *out);

/** @brief Quantize @p n floats to int8 as TFLite's QUANTIZE:
 *  clamp(round(x / scale) + zero_point, −128, 127), ties away from zero.
 *  Infinities saturate; a NaN gives #TQ_ERR_NOT_FINITE (nothing written).
 *  @p scale must be one tq_quantize() takes: > 0 and finite, with a finite
 *  float reciprocal (>= ~2.9e-39), else #TQ_ERR_PARAM; @p zero_point in
 *  [−128, 127]. */
TQ_API tq_status tq_s8_quantize_f32(size_t n, const float *in, float scale,
                                    int32_t zero_point, int8_t *out);

/** @brief Dequantize @p n int8 values: (q − zero_point) · scale, with
 *  the parameters tq_s8_quantize_f32() takes (else #TQ_ERR_PARAM). */
TQ_API tq_status tq_s8_dequantize_f32(size_t n, const int8_t *in, float scale,
                                      int32_t zero_point, float *out);

/** @brief Bytes of scratch tq_s8_conv2d_relu_maxpool2() needs. */
TQ_API tq_status tq_s8_conv2d_relu_maxpool2_scratch_size(
    const tq_conv_params *conv, const tq_dims *in_dims,
    const tq_dims *filter_dims, const tq_dims *out_dims, size_t *bytes);

/** @brief The lab's Stage 3 fusion on int8: conv2d (groups must be 1), the
 *  output stage @p os (whose act_min gives the ReLU), and a 2x2 max pool of
 *  stride 2 writing only the pooled output. Bit-exact with tq_s8_conv2d()
 *  followed by tq_s8_max_pool(): requantization is monotonic, so the pool
 *  may take the maximum accumulator first and requantize once.
 *  @param conv         geometry of the convolution (groups 1)
 *  @param in_dims      {N, H, W, Cin}
 *  @param in           input codes
 *  @param input_offset −zero point of the input, [−127, 128]
 *  @param filter_dims  OHWI {Cout, KH, KW, Cin}
 *  @param filter       weight codes, symmetric
 *  @param bias         Cout int32 values or NULL
 *  @param os           output stage (ReLU: act_min = output zero point)
 *  @param out_dims     {N, floor(OH / 2), floor(OW / 2), Cout}
 *  @param out          pooled output codes
 *  @param scratch      tq_s8_conv2d_relu_maxpool2_scratch_size() bytes
 *  @param scratch_bytes size of @p scratch */
TQ_API tq_status tq_s8_conv2d_relu_maxpool2(
    const tq_conv_params *conv, const tq_dims *in_dims, const int8_t *in,
    int32_t input_offset, const tq_dims *filter_dims, const int8_t *filter,
    const int32_t *bias, const tq_s8_output *os, const tq_dims *out_dims,
    int8_t *out, void *scratch, size_t scratch_bytes);

/* ---- more s8 ops (issue 12): mul, softmax, transpose conv, pad,
 *      maximum / minimum, batch matmul, transpose, concatenation ---------- */

/** @brief Parameters of TFLite's int8 MUL; fill with
 *  tq_s8_mul_params_from_scales(). */
typedef struct tq_s8_mul_params {
    int32_t input1_offset;     /**< −zero point of input 1, [−127, 128]. */
    int32_t input2_offset;     /**< −zero point of input 2, [−127, 128]. */
    int32_t output_multiplier; /**< Q31, for s1 · s2 / s_out. */
    int32_t output_shift;      /**< In [#TQ_SHIFT_MIN, #TQ_SHIFT_MAX]. */
    int32_t output_offset;     /**< +zero point of the output, [−128, 127]. */
    int32_t act_min;           /**< Clamp low, [−128, act_max]. */
    int32_t act_max;           /**< Clamp high, [act_min, 127]. */
    int32_t rounding;          /**< A ::tq_rounding. */
} tq_s8_mul_params;

/** @brief Derive ::tq_s8_mul_params as TFLite's Prepare does: the real
 *  multiplier (double)s1 · (double)s2 / (double)s_out through
 *  tq_quantize_multiplier().
 *  @param scale1          scale of input 1, > 0 and finite
 *  @param zero_point1     zero point of input 1, [−128, 127]
 *  @param scale2          scale of input 2, > 0 and finite
 *  @param zero_point2     zero point of input 2, [−128, 127]
 *  @param scale_out       scale of the output, > 0 and finite
 *  @param zero_point_out  zero point of the output, [−128, 127]
 *  @param act_min         clamp low, [−128, act_max]
 *  @param act_max         clamp high, [act_min, 127]
 *  @param rounding        a ::tq_rounding
 *  @param params          receives the parameters (written only on success)
 *  @return #TQ_ERR_NULL, #TQ_ERR_PARAM (also for a multiplier whose shift
 *          would pass #TQ_SHIFT_MAX). */
TQ_API tq_status tq_s8_mul_params_from_scales(
    float scale1, int32_t zero_point1, float scale2, int32_t zero_point2,
    float scale_out, int32_t zero_point_out, int32_t act_min, int32_t act_max,
    int32_t rounding, tq_s8_mul_params *params);

/** @brief int8 elementwise multiply with broadcasting, TFLite MUL:
 *  out = clamp(requantize((a + off1) · (b + off2)) + output_offset,
 *  act_min, act_max); the product is exact in int32 (|·| <= 2^16).
 *  Shapes are 4-D ::tq_dims (lower ranks: leading 1s); each extent of
 *  @p a_dims and @p b_dims is the output's or 1 (numpy broadcasting: a
 *  per-channel operand is {1, 1, 1, C}, a scalar {1, 1, 1, 1}).
 *  @param a_dims   shape of @p a
 *  @param a        input 1 codes
 *  @param b_dims   shape of @p b
 *  @param b        input 2 codes
 *  @param params   validated as documented in ::tq_s8_mul_params
 *  @param out_dims shape of @p out (extents >= 0; an empty output accepts
 *                  NULL arrays)
 *  @param out      output codes; may equal @p a or @p b when that input has
 *                  the output's shape (other overlaps: #TQ_ERR_ALIAS)
 *  @return #TQ_ERR_NULL, #TQ_ERR_SHAPE, #TQ_ERR_PARAM, #TQ_ERR_ALIAS,
 *          #TQ_ERR_OVERFLOW. */
TQ_API tq_status tq_s8_mul(const tq_dims *a_dims, const int8_t *a,
                           const tq_dims *b_dims, const int8_t *b,
                           const tq_s8_mul_params *params,
                           const tq_dims *out_dims, int8_t *out);

/** @brief Elementwise maximum of two int8 tensors with broadcasting (as
 *  tq_s8_mul()), TFLite MAXIMUM: raw codes, no requantization (both inputs
 *  must have the output's scale and zero point, as TFLite requires).
 *  @param a_dims   shape of @p a (each extent the output's or 1)
 *  @param a        input 1 codes
 *  @param b_dims   shape of @p b (each extent the output's or 1)
 *  @param b        input 2 codes
 *  @param out_dims shape of @p out
 *  @param out      output codes; may equal an input of the output's shape
 *                  (other overlaps: #TQ_ERR_ALIAS)
 *  @return #TQ_ERR_NULL, #TQ_ERR_SHAPE, #TQ_ERR_ALIAS, #TQ_ERR_OVERFLOW. */
TQ_API tq_status tq_s8_maximum(const tq_dims *a_dims, const int8_t *a,
                               const tq_dims *b_dims, const int8_t *b,
                               const tq_dims *out_dims, int8_t *out);

/** @brief Elementwise minimum, as tq_s8_maximum() (TFLite MINIMUM).
 *  @param a_dims   shape of @p a
 *  @param a        input 1 codes
 *  @param b_dims   shape of @p b
 *  @param b        input 2 codes
 *  @param out_dims shape of @p out
 *  @param out      output codes
 *  @return as tq_s8_maximum(). */
TQ_API tq_status tq_s8_minimum(const tq_dims *a_dims, const int8_t *a,
                               const tq_dims *b_dims, const int8_t *b,
                               const tq_dims *out_dims, int8_t *out);

/** Most columns of a row of tq_s8_softmax(): the sum of the row's
 *  exponentials, each at most 2^19 in TFLite's Q12.19 accumulator, must
 *  fit int32. */
#define TQ_S8_SOFTMAX_MAX_COLS 4095

/** @brief Parameters of TFLite's integer int8 softmax (gemmlowp fixed
 *  point); fill with tq_s8_softmax_params_from_scale(). */
typedef struct tq_s8_softmax_params {
    int32_t input_multiplier; /**< Q31 multiplier of beta · s_in · 2^26,
                                   [0, 2^31 − 1]. */
    int32_t input_left_shift; /**< Its left shift, [0, 30]. */
    int32_t diff_min;         /**< −CalculateInputRadius(5, left shift): a
                                   difference x − max below it gives the
                                   output minimum. In [−radius, 0], where
                                   radius = floor(31 · 2^26 / 2^shift). */
} tq_s8_softmax_params;

/** @brief TFLite's PreprocessSoftmaxScaling and CalculateInputRadius for
 *  the int8 softmax (5 integer bits for the scaled difference):
 *  real = min(beta · s_in · 2^26, 2^31 − 1) in double, split by
 *  tq_quantize_multiplier() into a multiplier and a left shift, and
 *  diff_min = −floor(31 · 2^26 / 2^shift). No float at run time.
 *  @param input_scale  > 0 and finite
 *  @param beta         > 0 and finite (1 for a plain softmax)
 *  @param params       receives the parameters (written only on success)
 *  @return #TQ_ERR_NULL, #TQ_ERR_PARAM (also when the shift would be
 *          negative, beta · s_in < 2^−27, which TFLite refuses, or above
 *          30, beta · s_in >= 16). */
TQ_API tq_status tq_s8_softmax_params_from_scale(float input_scale,
                                                 float beta,
                                                 tq_s8_softmax_params *params);

/** @brief TFLite's int8 softmax (reference Softmax on int8) over the rows
 *  of [rows][cols]: per row, d = x − max; where d >= diff_min the scaled
 *  difference SRDHM(d · 2^shift, multiplier) (Q5.26) goes through
 *  gemmlowp's exp_on_negative_values (Q0.31), the sum of the exponentials
 *  (each rounded to Q12.19) through GetReciprocal (1/(1+x) on [0, 1],
 *  Newton-Raphson), and out = clamp(RoundingDivideByPOT(SRDHM(recip, e),
 *  bits_over_unit + 23) − 128, −128, 127); where d < diff_min, out = −128.
 *  Output scale 1/256, zero point −128 (docs/quantization.md gives every
 *  step). Where TFLite's rounding shift would pass 31 (a row sum of
 *  2^28 or more), tinyq divides exactly (the result is 0 before the
 *  zero point).
 *  @param rows    >= 1
 *  @param cols    1..#TQ_S8_SOFTMAX_MAX_COLS
 *  @param in      [rows][cols] int8 codes
 *  @param params  validated as documented in ::tq_s8_softmax_params
 *  @param out     [rows][cols]; may equal @p in (other overlaps:
 *                 #TQ_ERR_ALIAS)
 *  @return #TQ_ERR_NULL, #TQ_ERR_SHAPE, #TQ_ERR_PARAM, #TQ_ERR_ALIAS. */
TQ_API tq_status tq_s8_softmax(int32_t rows, int32_t cols, const int8_t *in,
                               const tq_s8_softmax_params *params,
                               int8_t *out);

/** @brief TFLite's int8 -> int16 softmax: as tq_s8_softmax() with 16
 *  output bits, out = clamp(RoundingDivideByPOT(SRDHM(recip, e),
 *  bits_over_unit + 15) − 32768, −32768, 32767). Output scale 1/65536,
 *  zero point −32768.
 *  @param rows    >= 1
 *  @param cols    1..#TQ_S8_SOFTMAX_MAX_COLS
 *  @param in      [rows][cols] int8 codes
 *  @param params  as for tq_s8_softmax()
 *  @param out     [rows][cols] int16 codes, not overlapping @p in
 *                 (#TQ_ERR_ALIAS)
 *  @return as tq_s8_softmax(). */
TQ_API tq_status tq_s8_softmax_s16(int32_t rows, int32_t cols,
                                   const int8_t *in,
                                   const tq_s8_softmax_params *params,
                                   int16_t *out);

/** @brief Bytes of scratch tq_s8_transpose_conv() needs: OH·OW·Cout int32
 *  accumulators (one image at a time) plus alignment slack.
 *  @param out_dims {N, OH, OW, Cout}
 *  @param bytes    receives the size
 *  @return #TQ_ERR_NULL, #TQ_ERR_SHAPE, #TQ_ERR_OVERFLOW. */
TQ_API tq_status tq_s8_transpose_conv_scratch_size(const tq_dims *out_dims,
                                                   size_t *bytes);

/** @brief int8 transpose convolution, TFLite TRANSPOSE_CONV with
 *  per-channel weights (scatter form): for each input pixel (iy, ix) and
 *  tap (ky, kx), oy = iy·stride_h − pad_top + ky, ox = ix·stride_w −
 *  pad_left + kx; inside the output, acc[oy][ox][oc] += (x + input_offset)
 *  · w[oc][ky][kx][ic] (int32 scratch); then the bias and the
 *  ::tq_s8_output stage (per Cout when per channel). The output extents
 *  are the caller's (TFLite's output_shape tensor), any >= 1; taps that
 *  land outside are dropped.
 *  @param conv         stride_h, stride_w >= 1, pad_top, pad_left >= 0
 *                      (TFLite's padding of the equivalent forward conv);
 *                      pad_bottom and pad_right are ignored; dilation must
 *                      be 1 and groups 1 (#TQ_ERR_PARAM)
 *  @param in_dims      {N, H, W, Cin}
 *  @param in           input codes
 *  @param input_offset −zero point of the input, [−127, 128]
 *  @param filter_dims  OHWI {Cout, KH, KW, Cin}; KH·KW·Cin <=
 *                      #TQ_S8_MAX_REDUCTION (#TQ_ERR_OVERFLOW)
 *  @param filter       weight codes, symmetric
 *  @param bias         Cout int32 values or NULL
 *  @param os           output stage
 *  @param out_dims     {N, OH, OW, Cout}
 *  @param out          output codes
 *  @param scratch      tq_s8_transpose_conv_scratch_size() bytes
 *  @param scratch_bytes size of @p scratch
 *  @return #TQ_ERR_NULL, #TQ_ERR_SHAPE, #TQ_ERR_PARAM, #TQ_ERR_OVERFLOW,
 *          #TQ_ERR_BUFFER_TOO_SMALL, #TQ_ERR_ALIAS if @p out or the
 *          scratch overlaps an input (@p in, @p filter, @p bias, the
 *          arrays of @p os) or each other. */
TQ_API tq_status tq_s8_transpose_conv(
    const tq_conv_params *conv, const tq_dims *in_dims, const int8_t *in,
    int32_t input_offset, const tq_dims *filter_dims, const int8_t *filter,
    const int32_t *bias, const tq_s8_output *os, const tq_dims *out_dims,
    int8_t *out, void *scratch, size_t scratch_bytes);

/** @brief Constant padding of a 4-D NHWC int8 tensor, TFLite PAD / PADV2:
 *  out has extent in + before + after on every axis, the input copied at
 *  offset (before), every other element @p pad_value (the output zero
 *  point for TFLite's PAD).
 *  @param in_dims   input shape (lower ranks: leading 1s)
 *  @param in        input codes
 *  @param pads      8 values {n_before, n_after, h_before, h_after,
 *                   w_before, w_after, c_before, c_after}, each >= 0
 *  @param pad_value in [−128, 127]
 *  @param out_dims  the padded shape (#TQ_ERR_SHAPE otherwise)
 *  @param out       output codes, not overlapping @p in (#TQ_ERR_ALIAS)
 *  @return #TQ_ERR_NULL, #TQ_ERR_SHAPE, #TQ_ERR_PARAM, #TQ_ERR_ALIAS,
 *          #TQ_ERR_OVERFLOW. */
TQ_API tq_status tq_s8_pad(const tq_dims *in_dims, const int8_t *in,
                           const int32_t *pads, int32_t pad_value,
                           const tq_dims *out_dims, int8_t *out);

/** @brief Axis permutation of a 4-D tensor of 1-, 2- or 4-byte elements
 *  (s8, s16, s32), TFLite TRANSPOSE: output axis i is input axis
 *  perm[i], so out_dims extent i = in extent perm[i].
 *  @param in_dims    input shape (lower ranks: leading 1s and a
 *                    permutation that keeps them first)
 *  @param perm       4 axis indices, a permutation of {0, 1, 2, 3}
 *  @param elem_bytes 1, 2 or 4 (#TQ_ERR_PARAM)
 *  @param in         input elements
 *  @param out_dims   the permuted shape (#TQ_ERR_SHAPE otherwise)
 *  @param out        output elements, not overlapping @p in (#TQ_ERR_ALIAS)
 *  @return #TQ_ERR_NULL, #TQ_ERR_SHAPE, #TQ_ERR_PARAM, #TQ_ERR_ALIAS,
 *          #TQ_ERR_OVERFLOW. */
TQ_API tq_status tq_s8_transpose(const tq_dims *in_dims, const int32_t *perm,
                                 int32_t elem_bytes, const void *in,
                                 const tq_dims *out_dims, void *out);

/** @brief Concatenation of @p count 4-D int8 tensors along @p axis
 *  (0 = N .. 3 = C), TFLite CONCATENATION. An input whose scale and zero
 *  point equal the output's (or every input when @p in_scales is NULL) is
 *  copied; any other is requantized exactly as TFLite's
 *  ConcatenationWithScaling, in float: scale = s_i · (1 / s_out),
 *  bias = −zp_i · scale, out = clamp((int32)round(x · scale + bias) +
 *  zp_out, −128, 127) (round: ties away from zero; the product and the sum
 *  are two float roundings, never fused).
 *  @param axis          0..3
 *  @param count         >= 1
 *  @param in_dims       @p count shapes, equal to @p out_dims except on
 *                       @p axis
 *  @param in            @p count input pointers (NULL allowed for an empty
 *                       input)
 *  @param in_scales     @p count scales > 0 and finite, or NULL (all equal
 *                       to the output's: plain copy)
 *  @param in_zero_points @p count zero points in [−128, 127] (read only
 *                       with @p in_scales)
 *  @param out_scale     > 0 and finite (read only with @p in_scales)
 *  @param out_zero_point [−128, 127] (read only with @p in_scales)
 *  @param out_dims      output shape: extent on @p axis = Σ of the inputs'
 *  @param out           output codes, not overlapping any input
 *                       (#TQ_ERR_ALIAS)
 *  @return #TQ_ERR_NULL, #TQ_ERR_SHAPE, #TQ_ERR_PARAM, #TQ_ERR_ALIAS,
 *          #TQ_ERR_OVERFLOW. */
TQ_API tq_status tq_s8_concatenation(int32_t axis, int32_t count,
                                     const tq_dims *in_dims,
                                     const int8_t *const *in,
                                     const float *in_scales,
                                     const int32_t *in_zero_points,
                                     float out_scale, int32_t out_zero_point,
                                     const tq_dims *out_dims, int8_t *out);

/** @brief Shapes of a batch matmul, TFLite BATCH_MATMUL: lhs
 *  [lhs_batch[0]][lhs_batch[1]][lhs_batch[2]][M][K] ([K][M] when adj_x),
 *  rhs [rhs_batch...][K][N] ([N][K] when adj_y), out [batch...][M][N]
 *  with batch[i] = max(lhs_batch[i], rhs_batch[i]): each batch extent is
 *  equal in both or 1 in one of them (broadcast). Lower ranks: leading 1s. */
typedef struct tq_batch_matmul_params {
    int32_t lhs_batch[3]; /**< Batch extents of lhs, each >= 1. */
    int32_t rhs_batch[3]; /**< Batch extents of rhs, each >= 1. */
    int32_t m;            /**< Rows of the output, >= 1. */
    int32_t n;            /**< Columns of the output, >= 1. */
    int32_t k;            /**< Reduction length, >= 1. */
    int32_t adj_x;        /**< 0 or 1: lhs stored transposed ([K][M]). */
    int32_t adj_y;        /**< 0 or 1: rhs stored transposed ([N][K]). */
} tq_batch_matmul_params;

/** @brief int8 batch matmul, TFLite BATCH_MATMUL int8:
 *  acc = Σ_k (lhs + lhs_offset)·(rhs + rhs_offset) (int32, k <=
 *  #TQ_S8_MAX_REDUCTION, else #TQ_ERR_OVERFLOW: |sum| <= 255² · 2^15 <
 *  2^31), then the ::tq_s8_output
 *  stage (channel = output column n when per channel).
 *  @param p          shapes (validated)
 *  @param lhs        lhs codes
 *  @param lhs_offset −zero point of lhs, [−127, 128]
 *  @param rhs        rhs codes
 *  @param rhs_offset −zero point of rhs, [−127, 128]
 *  @param os         output stage
 *  @param out        output codes, not overlapping lhs or rhs
 *                    (#TQ_ERR_ALIAS)
 *  @return #TQ_ERR_NULL, #TQ_ERR_SHAPE, #TQ_ERR_PARAM, #TQ_ERR_OVERFLOW,
 *          #TQ_ERR_ALIAS. */
TQ_API tq_status tq_s8_batch_matmul(const tq_batch_matmul_params *p,
                                    const int8_t *lhs, int32_t lhs_offset,
                                    const int8_t *rhs, int32_t rhs_offset,
                                    const tq_s8_output *os, int8_t *out);


/** @brief Instruction-set paths of the kernels. Every path computes, bit
 *  for bit, what #TQ_ISA_PORTABLE computes (f32 included, see
 *  lib/arch/dispatch.h for the defined order of the float operations; a
 *  NaN result is a NaN on every path, its payload unspecified). The s8
 *  GEMM, convolution and fully connected kernels and the f32 GEMM,
 *  convolution and fully connected kernels go through the chosen path. */
typedef enum tq_isa {
    TQ_ISA_AUTO = 0,     /**< The fastest path available (for tq_set_isa()). */
    TQ_ISA_PORTABLE = 1, /**< Plain C for any CPU: the reference. */
    TQ_ISA_AVX2 = 2,     /**< x86-64 AVX2 and FMA (Haswell, Zen 1 and later). */
    TQ_ISA_AVX512 = 3,   /**< x86-64 AVX-512 F, BW, DQ, VL with VNNI and VBMI
                              (Ice Lake, Sapphire Rapids, Zen 4 and later). */
    TQ_ISA_NEON = 4,     /**< AArch64 Advanced SIMD (every ARMv8-A core). */
    TQ_ISA_NEON_DOT = 5, /**< AArch64 Advanced SIMD with the SDOT dot-product
                              instructions (ARMv8.2-A DotProd: Cortex-A55,
                              A76, Neoverse N1, Apple M1 and later). */
    TQ_ISA_ARM_DSP = 6   /**< Armv7E-M / Armv8-M DSP extension (SMLAD dual
                              16-bit multiply-accumulate: Cortex-M4, M7, M33,
                              M55), chosen when the library is compiled for
                              such a core. */
} tq_isa;

/** @brief The paths this build of the library contains and this CPU and
 *  operating system can run: bit (1u << isa) for each ::tq_isa.
 *  #TQ_ISA_PORTABLE is always there. */
TQ_API uint32_t tq_isa_available(void);

/** @brief Choose the kernel path for every later kernel call of the
 *  process (calls already running finish on their path). #TQ_ISA_AUTO
 *  picks the fastest available path.
 *  @return #TQ_ERR_PARAM for a value that is no ::tq_isa,
 *          #TQ_ERR_UNSUPPORTED for a path that tq_isa_available() lacks
 *          (the path in use does not change). */
TQ_API tq_status tq_set_isa(int32_t isa);

/** @brief The ::tq_isa in use (never #TQ_ISA_AUTO). Until tq_set_isa() is
 *  called, the first kernel call or query settles it once: the path named
 *  by the environment variable TINYQ_ISA (auto, portable, avx2, avx512,
 *  neon, neondot, dsp) if available, else the fastest available path below
 *  the named one (an unknown name counts as auto). Builds for an operating
 *  system read TINYQ_ISA; bare-metal builds start on their fastest path. */
TQ_API int32_t tq_get_isa(void);

/** @brief The name of a ::tq_isa as TINYQ_ISA spells it ("auto",
 *  "portable", "avx2", "avx512", "neon", "neondot", "dsp"), or NULL for a
 *  value that is no ::tq_isa. */
TQ_API const char *tq_isa_name(int32_t isa);

/** @brief Name of the microkernel path in use: "portable-c", "x86-avx2",
 *  "x86-avx512-vnni", "aarch64-neon", "aarch64-neon-dot" or
 *  "armv7em-dsp". */
TQ_API const char *tq_kernel_path(void);

/** @} */

/* ======================================================================== */
/** @defgroup tq_s16_sec s16 kernels (16x8)
 *  int16 activations with int8 weights, bit-exact with TFLite's 16x8
 *  reference kernels and CMSIS-NN's s16 kernels (docs/quantization.md,
 *  "16x8"). Activations are int16 and **symmetric**: zero point 0 for every
 *  input and output, so no kernel takes an input or output offset. Weights
 *  are int8 codes (symmetric, zero point 0; any code in [−128, 127] is
 *  accepted), per output channel for conv / depthwise, per tensor or per
 *  channel for fully connected, as the ::tq_s16_output says.
 *
 *  One output element of conv, depthwise and fully connected:
 *  sum = Σ w · x (exact, int64), then, chosen by the bias dtype:
 *  - #TQ_S64 (TFLite's default 16x8 scheme): acc = sum + bias (int64,
 *    saturating), clamped to [−2^47, 2^47 − 1] (TFLite's documented input
 *    range of its int64 requantization; identical wherever TFLite is
 *    defined), then tq_requantize64() with the channel's multiplier and
 *    shift (shift <= #TQ_S16_SHIFT_MAX);
 *  - #TQ_S32 (TFLite's int32-bias 16x8 option): acc = sum + bias saturated
 *    to int32 (TFLite's int32 sum overflows, undefined, beyond 511 products
 *    of extreme codes; tinyq saturates, identical wherever TFLite is
 *    defined), then the int32 requantization in the ::tq_s16_output's
 *    rounding mode (tq_requantize()).
 *  Then the clamp [act_min, act_max]. A NULL bias is a zero bias (the dtype
 *  still chooses the arithmetic).
 *
 *  Reduction limit: |w · x| <= 128 · 32768 = 2^22, so with at most
 *  #TQ_S16_MAX_REDUCTION = 2^24 products |sum| <= 2^46: the int64 sum never
 *  overflows, and it stays inside the 2^47 range TFLite's int64
 *  requantization assumes. Longer reductions give #TQ_ERR_OVERFLOW.
 *
 *  Buffers: the rule of the s8 kernels. Nothing a kernel writes (output,
 *  scratch) may share a byte with any other buffer of the call (input,
 *  weights, bias, the ::tq_s16_output's multiplier and shift arrays,
 *  output, scratch): #TQ_ERR_ALIAS, nothing written. (An output may equal
 *  an input exactly where a function says so: tq_s16_add(), tq_s16_mul(),
 *  tq_s16_softmax().)
 *  @{ */
/* ======================================================================== */

/** Longest reduction (KH·KW·Cin/groups, KH·KW or K) of an s16 kernel:
 *  2^24, so that |Σ w·x| <= 2^24 · 2^22 = 2^46. */
#define TQ_S16_MAX_REDUCTION 16777216
/** Largest shift of the int64 requantization: 15 − shift must be >= 1
 *  (TFLite itself asserts shift < 8). */
#define TQ_S16_SHIFT_MAX 14

/** @brief TFLite's int64 overload of MultiplyByQuantizedMultiplier, the
 *  requantization of the 16x8 kernels with an int64 bias:
 *  reduced = multiplier < 0x7FFF0000 ? (multiplier + 2^15) >> 16 : 0x7FFF,
 *  total = 15 − shift,
 *  y = (x · reduced + 2^(total − 1)) >> total (one rounding, ties toward
 *  +infinity, arithmetic shift), saturated to int32.
 *  @param x          accumulator in [−2^47, 2^47 − 1] (TFLite's range),
 *                    else #TQ_ERR_PARAM
 *  @param multiplier Q31 multiplier in [0, 2^31 − 1]
 *  @param shift      in [#TQ_SHIFT_MIN, #TQ_S16_SHIFT_MAX] (positive = left)
 *  @param result     receives y
 *  @return #TQ_ERR_NULL, #TQ_ERR_PARAM (nothing written). */
TQ_API tq_status tq_requantize64(int64_t x, int32_t multiplier, int32_t shift,
                                 int32_t *result);

/** @brief The output stage of the s16 kernels: requantize (the int64 or
 *  int32 arithmetic, chosen by the kernel's bias dtype), clamp. No zero
 *  point: int16 outputs are symmetric. Multipliers and shifts are per
 *  output channel when tq_s16_output::per_channel is 1, else entry 0
 *  serves every channel. */
typedef struct tq_s16_output {
    const int32_t *multiplier; /**< Q31 multipliers, each in [0, 2^31 − 1]. */
    const int32_t *shift;      /**< Shifts, each in [#TQ_SHIFT_MIN,
                                    #TQ_S16_SHIFT_MAX] with an int64 bias,
                                    [#TQ_SHIFT_MIN, #TQ_SHIFT_MAX] with an
                                    int32 bias. */
    int32_t per_channel;       /**< 0: one entry; 1: one per output channel. */
    int32_t rounding;          /**< A ::tq_rounding, used by the int32-bias
                                    arithmetic only (the int64 one has a
                                    single formula); must be valid anyway. */
    int32_t act_min;           /**< Clamp low, [−32768, act_max]; ReLU is 0. */
    int32_t act_max;           /**< Clamp high, [act_min, 32767]. */
} tq_s16_output;

/** @brief Bytes of scratch tq_s16_conv2d() needs: one receptive field of
 *  KH·KW·Cin/groups int16 values, plus 1 byte of alignment slack.
 *  @return the shape errors of tq_s16_conv2d(). */
TQ_API tq_status tq_s16_conv2d_scratch_size(const tq_conv_params *conv,
                                            const tq_dims *in_dims,
                                            const tq_dims *filter_dims,
                                            const tq_dims *out_dims,
                                            size_t *bytes);

/** @brief 16x8 2-D convolution, NHWC, TFLite CONV_2D with int16 input.
 *  @param conv         geometry (stride, padding, dilation, groups), as
 *                      tq_s8_conv2d()
 *  @param in_dims      {N, H, W, Cin}
 *  @param in           int16 input codes (zero point 0)
 *  @param filter_dims  OHWI {Cout, KH, KW, Cin / groups}
 *  @param filter       int8 weight codes, symmetric
 *  @param bias         Cout values of @p bias_dtype at scale s_in · s_w[c],
 *                      or NULL
 *  @param bias_dtype   #TQ_S64 (int64 bias, int64 requantization) or #TQ_S32
 *                      (int32 bias, int32 requantization); else #TQ_ERR_DTYPE
 *  @param os           output stage; per_channel entries are per Cout
 *  @param out_dims     {N, OH, OW, Cout}
 *  @param out          int16 output codes
 *  @param scratch      tq_s16_conv2d_scratch_size() bytes, any alignment
 *  @param scratch_bytes size of @p scratch
 *  @return #TQ_ERR_NULL, #TQ_ERR_SHAPE, #TQ_ERR_PARAM (geometry or output
 *          stage), #TQ_ERR_DTYPE, #TQ_ERR_OVERFLOW when KH·KW·Cin/groups
 *          exceeds #TQ_S16_MAX_REDUCTION, #TQ_ERR_BUFFER_TOO_SMALL,
 *          #TQ_ERR_ALIAS if @p out or the scratch overlaps @p in, the
 *          filter, @p bias, the arrays of @p os or each other (the rule of
 *          the int8 kernels). Nothing is written on error. */
TQ_API tq_status tq_s16_conv2d(const tq_conv_params *conv,
                               const tq_dims *in_dims, const int16_t *in,
                               const tq_dims *filter_dims,
                               const int8_t *filter, const void *bias,
                               int32_t bias_dtype, const tq_s16_output *os,
                               const tq_dims *out_dims, int16_t *out,
                               void *scratch, size_t scratch_bytes);

/** @brief 16x8 depthwise convolution, channel multiplier M = Cout / Cin
 *  (output channel oc = ic·M + m), TFLite DEPTHWISE_CONV_2D with int16
 *  input. No scratch.
 *  @param conv         geometry; conv->groups is ignored
 *  @param in_dims      {N, H, W, Cin}
 *  @param in           int16 input codes
 *  @param filter_dims  {1, KH, KW, Cout}, Cout a multiple of Cin
 *  @param filter       int8 weight codes, symmetric
 *  @param bias         Cout values of @p bias_dtype, or NULL
 *  @param bias_dtype   #TQ_S64 or #TQ_S32 (see tq_s16_conv2d())
 *  @param os           output stage, per Cout when per channel
 *  @param out_dims     {N, OH, OW, Cout}
 *  @param out          int16 output codes, not overlapping @p in, the
 *                      filter, @p bias or the arrays of @p os
 *                      (#TQ_ERR_ALIAS)
 *  @return as tq_s16_conv2d(); KH·KW is limited to #TQ_S16_MAX_REDUCTION. */
TQ_API tq_status tq_s16_depthwise_conv2d(const tq_conv_params *conv,
                                         const tq_dims *in_dims,
                                         const int16_t *in,
                                         const tq_dims *filter_dims,
                                         const int8_t *filter,
                                         const void *bias, int32_t bias_dtype,
                                         const tq_s16_output *os,
                                         const tq_dims *out_dims,
                                         int16_t *out);

/** @brief 16x8 fully connected, TFLite FULLY_CONNECTED with int16 input:
 *  out[b][o] = stage(Σ_i w[o][i] · in[b][i] + bias[o]). No scratch.
 *  @param batch         rows of @p in, >= 1
 *  @param in_features   >= 1, <= #TQ_S16_MAX_REDUCTION (#TQ_ERR_OVERFLOW)
 *  @param out_features  >= 1
 *  @param in            [batch][in_features] int16 codes
 *  @param weights       [out_features][in_features] int8 codes, symmetric
 *  @param bias          out_features values of @p bias_dtype, or NULL
 *  @param bias_dtype    #TQ_S64 or #TQ_S32 (see tq_s16_conv2d())
 *  @param os            output stage (per tensor or per output feature)
 *  @param out           [batch][out_features] int16 codes, not overlapping
 *                       @p in, @p weights, @p bias or the arrays of @p os
 *                       (#TQ_ERR_ALIAS) */
TQ_API tq_status tq_s16_fully_connected(int32_t batch, int32_t in_features,
                                        int32_t out_features,
                                        const int16_t *in,
                                        const int8_t *weights,
                                        const void *bias, int32_t bias_dtype,
                                        const tq_s16_output *os, int16_t *out);

/** @brief int16 max pool: maximum over the non-padded taps, then the clamp
 *  [act_min, act_max] (−32768 <= act_min <= act_max <= 32767); the output
 *  keeps the input's scale. @p out must not overlap @p in. */
TQ_API tq_status tq_s16_max_pool(const tq_pool_params *pool,
                                 const tq_dims *in_dims, const int16_t *in,
                                 int32_t act_min, int32_t act_max,
                                 const tq_dims *out_dims, int16_t *out);

/** @brief int16 average pool: sum of the non-padded taps divided by their
 *  count, rounding half away from zero, then the clamp (as
 *  tq_s16_max_pool()). */
TQ_API tq_status tq_s16_avg_pool(const tq_pool_params *pool,
                                 const tq_dims *in_dims, const int16_t *in,
                                 int32_t act_min, int32_t act_max,
                                 const tq_dims *out_dims, int16_t *out);

/** @brief Parameters of TFLite's int16 ADD in a ::tq_s8_add_params (the same
 *  arithmetic as int8 with left_shift 15, offsets 0): as
 *  tq_s8_add_params_from_scales() with zero points 0 and the output
 *  multiplier for 2·max(s1, s2) / (2^15 · s_out).
 *  @param scale1     scale of input 1, > 0 and finite
 *  @param scale2     scale of input 2, > 0 and finite
 *  @param scale_out  scale of the output, > 0 and finite
 *  @param act_min    clamp low, [−32768, act_max]
 *  @param act_max    clamp high, [act_min, 32767]
 *  @param rounding   a ::tq_rounding
 *  @param params     receives the parameters (written only on success)
 *  @return #TQ_ERR_NULL, #TQ_ERR_PARAM. */
TQ_API tq_status tq_s16_add_params_from_scales(float scale1, float scale2,
                                               float scale_out,
                                               int32_t act_min,
                                               int32_t act_max,
                                               int32_t rounding,
                                               tq_s8_add_params *params);

/** @brief int16 elementwise add of @p n values with TFLite ADD semantics:
 *  each input shifted left by left_shift and rescaled (int32
 *  requantization), summed, the sum requantized to the output, clamped.
 *  @p out may alias @p a or @p b exactly (other overlaps: #TQ_ERR_ALIAS).
 *  @p params are validated: offsets 0, input shifts in [#TQ_SHIFT_MIN, 0],
 *  left_shift in [0, 15], output shift in [#TQ_SHIFT_MIN, #TQ_SHIFT_MAX],
 *  clamp inside [−32768, 32767]. n == 0 accepts NULL arrays. */
TQ_API tq_status tq_s16_add(size_t n, const int16_t *a, const int16_t *b,
                            const tq_s8_add_params *params, int16_t *out);

/** @brief Parameters of TFLite's int16 MUL (zero points 0). */
typedef struct tq_s16_mul_params {
    int32_t output_multiplier; /**< Q31, for s1 · s2 / s_out. */
    int32_t output_shift;      /**< In [#TQ_SHIFT_MIN, #TQ_SHIFT_MAX]. */
    int32_t act_min;           /**< Clamp low, [−32768, act_max]. */
    int32_t act_max;           /**< Clamp high, [act_min, 32767]. */
    int32_t rounding;          /**< A ::tq_rounding. */
} tq_s16_mul_params;

/** @brief Derive ::tq_s16_mul_params as TFLite's Prepare does: the real
 *  multiplier (double)s1 · (double)s2 / (double)s_out through
 *  tq_quantize_multiplier().
 *  @param scale1     scale of input 1, > 0 and finite
 *  @param scale2     scale of input 2, > 0 and finite
 *  @param scale_out  scale of the output, > 0 and finite
 *  @param act_min    clamp low, [−32768, act_max]
 *  @param act_max    clamp high, [act_min, 32767]
 *  @param rounding   a ::tq_rounding
 *  @param params     receives the parameters (written only on success)
 *  @return #TQ_ERR_NULL, #TQ_ERR_PARAM (also for a multiplier whose shift
 *          would pass #TQ_SHIFT_MAX). */
TQ_API tq_status tq_s16_mul_params_from_scales(float scale1, float scale2,
                                               float scale_out,
                                               int32_t act_min,
                                               int32_t act_max,
                                               int32_t rounding,
                                               tq_s16_mul_params *params);

/** @brief int16 elementwise multiply of @p n values, TFLite MUL:
 *  out = clamp(requantize(a · b), act_min, act_max), the product exact in
 *  int32 (|a · b| <= 2^30). @p out may alias @p a or @p b exactly (other
 *  overlaps: #TQ_ERR_ALIAS); @p params are validated; n == 0 accepts NULL
 *  arrays. */
TQ_API tq_status tq_s16_mul(size_t n, const int16_t *a, const int16_t *b,
                            const tq_s16_mul_params *params, int16_t *out);

/** Entries of each int16 softmax lookup table: 512 segments and the end
 *  point (TFLite's kInt16LUTArraySize). */
#define TQ_S16_LUT_SIZE 513

/** @brief Build TFLite's two int16 softmax tables (its gen_lut(), in
 *  double): @p exp_lut samples exp(x) on [−10, 0] and @p recip_lut
 *  1 / (1 + x) on [0, 1], 512 segments each, in Q0.15 with a per-segment
 *  bias that centres the interpolation error, saturated to int16.
 *  @param exp_lut    #TQ_S16_LUT_SIZE entries
 *  @param recip_lut  #TQ_S16_LUT_SIZE entries
 *  @return #TQ_ERR_NULL, #TQ_ERR_ALIAS if the tables overlap. */
TQ_API tq_status tq_s16_softmax_luts(int16_t *exp_lut, int16_t *recip_lut);

/** @brief Parameters of TFLite's int16 softmax: the input rescaling and the
 *  two tables (the library's, or the caller's: TFLite stores them with the
 *  model). Output scale 1/32768, zero point 0. */
typedef struct tq_s16_softmax_params {
    int32_t input_multiplier;  /**< Q31, for s_in · beta / (10 / 65535). */
    int32_t input_shift;       /**< In [#TQ_SHIFT_MIN, #TQ_SHIFT_MAX]. */
    const int16_t *exp_lut;    /**< #TQ_S16_LUT_SIZE entries, each in
                                    [0, 32767], the last two >= 1 (so that
                                    every row's sum is positive). */
    const int16_t *recip_lut;  /**< #TQ_S16_LUT_SIZE entries. */
} tq_s16_softmax_params;

/** @brief Fill the rescaling of ::tq_s16_softmax_params as TFLite's
 *  Prepare: tq_quantize_multiplier() of (double)input_scale · beta /
 *  (10 / 65535), so that the input range [−65535, 0] maps onto [−10, 0].
 *  The table pointers are left to the caller.
 *  @param input_scale  > 0 and finite
 *  @param beta         > 0 and finite (1 for a plain softmax)
 *  @param params       receives input_multiplier and input_shift
 *  @return #TQ_ERR_NULL, #TQ_ERR_PARAM. */
TQ_API tq_status tq_s16_softmax_params_from_scale(float input_scale,
                                                  float beta,
                                                  tq_s16_softmax_params *params);

/** @brief TFLite's SoftmaxInt16 over the rows of [rows][cols]: per row,
 *  d = clamp(requantize(x − max, input_multiplier, input_shift) + 32767)
 *  (int32 double rounding), e = LUT_exp(d), the reciprocal of Σ e from
 *  LUT_recip after normalising by its leading zeros, out = clamp(e · r
 *  rounded, 0, 32767) (docs/quantization.md gives every step). Output
 *  scale 1/32768.
 *  @param rows    >= 1
 *  @param cols    1..65536 (so that Σ e fits int32)
 *  @param in      [rows][cols] int16 codes
 *  @param params  rescaling and tables (validated)
 *  @param out     [rows][cols]; may equal @p in (other overlaps:
 *                 #TQ_ERR_ALIAS)
 *  @return #TQ_ERR_NULL, #TQ_ERR_SHAPE, #TQ_ERR_PARAM. */
TQ_API tq_status tq_s16_softmax(int32_t rows, int32_t cols, const int16_t *in,
                                const tq_s16_softmax_params *params,
                                int16_t *out);

/** Longest reduction of tq_s16_batch_matmul(): 2^17, so that
 *  |Σ x·y| <= 2^17 · 2^30 = 2^47 stays in the int64 requantization's range. */
#define TQ_S16_BMM_MAX_REDUCTION 131072

/** @brief int16 batch matmul, TFLite BATCH_MATMUL int16 (symmetric, zero
 *  points 0): acc = Σ_k lhs·rhs in int64 (k <= #TQ_S16_BMM_MAX_REDUCTION,
 *  else #TQ_ERR_OVERFLOW), then tq_requantize64() with the
 *  ::tq_s16_output's multiplier and shift (channel = column n when per
 *  channel; shift <= #TQ_S16_SHIFT_MAX; rounding must be valid but is
 *  unused) and the clamp.
 *  @param p    shapes (validated, as tq_s8_batch_matmul())
 *  @param lhs  lhs int16 codes
 *  @param rhs  rhs int16 codes
 *  @param os   output stage
 *  @param out  output int16 codes, not overlapping lhs or rhs
 *  @return as tq_s8_batch_matmul(). */
TQ_API tq_status tq_s16_batch_matmul(const tq_batch_matmul_params *p,
                                     const int16_t *lhs, const int16_t *rhs,
                                     const tq_s16_output *os, int16_t *out);

/** @} */

/* ======================================================================== */
/** @defgroup tq_s4_sec s4 kernels (int4 weights)
 *  int4 weights with int8 activations, bit-exact with TFLite's and
 *  CMSIS-NN's int4 kernels (docs/quantization.md, "int4 weights"): the
 *  arithmetic is exactly the int8 one (see @ref tq_s8_sec "s8 kernels": int32
 *  accumulator, (x + input_offset)·w, int32 bias, the ::tq_s8_output
 *  stage), only the weights are stored as packed int4. Each kernel gives,
 *  bit for bit, what its s8 counterpart gives on the unpacked weights.
 *
 *  Packing (TFLite's): the weight tensor is flattened in its int8 layout
 *  (conv OHWI, depthwise [kh][kw][out_c], fully connected [out][in]) and
 *  packed two values per byte over the whole tensor: element 2k is the low
 *  nibble of byte k, element 2k + 1 its high nibble, two's complement in
 *  [−8, 7]. Rows do not start on a fresh byte (a row of odd length shares a
 *  byte with the next row); with an odd element count the last byte's high
 *  nibble is 0. A tensor of n values takes tq_s4_packed_size(n) =
 *  ceil(n / 2) bytes.
 *
 *  Buffers: the rule of the s8 kernels. Nothing a kernel writes (output,
 *  packed bytes, scratch) may share a byte with any other buffer of the
 *  call (input, packed weights, bias, the ::tq_s8_output's multiplier and
 *  shift arrays, output, scratch): #TQ_ERR_ALIAS, nothing written.
 *  @{ */
/* ======================================================================== */

/** @brief Bytes of @p n packed int4 values: ceil(n / 2) (never overflows). */
TQ_API size_t tq_s4_packed_size(size_t n);

/** @brief Pack @p n int4 values (int8 codes in [−8, 7]) into
 *  tq_s4_packed_size(n) bytes, low nibble first; an odd count's last high
 *  nibble is written as 0.
 *  @param n       number of values; 0 writes nothing and accepts NULL
 *  @param values  n codes, each in [−8, 7] (else #TQ_ERR_PARAM, nothing
 *                 written)
 *  @param packed  ceil(n / 2) bytes, not overlapping @p values
 *                 (#TQ_ERR_ALIAS) */
TQ_API tq_status tq_s4_pack(size_t n, const int8_t *values, uint8_t *packed);

/** @brief Unpack @p n int4 values (sign-extended: nibble v gives v − 16
 *  when v >= 8) from tq_s4_packed_size(n) bytes.
 *  @param n       number of values; 0 writes nothing and accepts NULL
 *  @param packed  ceil(n / 2) bytes (an odd count's last high nibble is
 *                 ignored)
 *  @param values  n int8 codes, not overlapping @p packed (#TQ_ERR_ALIAS) */
TQ_API tq_status tq_s4_unpack(size_t n, const uint8_t *packed,
                              int8_t *values);

/** @brief Quantize an f32 tensor straight into packed int4 under @p p (per
 *  tensor or per channel along p->axis, the rounding of @p p): the codes of
 *  tq_quantize(), packed as tq_s4_pack() packs them.
 *  @param in           f32 tensor (any shape of 0..4 dimensions), in its
 *                      kernel layout (OHWI, depthwise, [out][in])
 *  @param p            quantization parameters with qmin >= −8 and
 *                      qmax <= 7 (a 4-bit ::tq_qscheme gives them)
 *  @param packed       output, not overlapping the input (#TQ_ERR_ALIAS)
 *  @param packed_bytes at least tq_s4_packed_size() of the element count
 *                      (#TQ_ERR_BUFFER_TOO_SMALL)
 *  @return the errors of tq_quantize(), #TQ_ERR_PARAM for a code range
 *          outside [−8, 7]; nothing is written on error. */
TQ_API tq_status tq_s4_quantize(const tq_tensor *in, const tq_qparams *p,
                                uint8_t *packed, size_t packed_bytes);

/** @brief Quantize f32 weights to packed int4 in one call, with TFLite's
 *  per-channel symmetric 4-bit scheme: for each channel c along @p axis,
 *  the ::tq_qscheme {bits 4, symmetric, narrow range} over the channel's
 *  absolute maximum gives scale[c] = absmax / 7 (tq_qparams_from_range(),
 *  1 for an all-zero channel) and codes in [−7, 7], rounded half away from
 *  zero (TFLite's), then packed.
 *  @param in           f32 weights of 1..4 dimensions, in kernel layout,
 *                      finite (#TQ_ERR_NOT_FINITE)
 *  @param axis         channel axis, 0 <= axis < ndim: 0 for conv OHWI and
 *                      fully connected [out][in], 3 for depthwise
 *  @param scales       receives shape[axis] scales (the weight scales s_w[c]
 *                      of the output stage)
 *  @param packed       output, tq_s4_packed_size() of the element count
 *  @param packed_bytes its size (#TQ_ERR_BUFFER_TOO_SMALL)
 *  @return #TQ_ERR_NULL, #TQ_ERR_DTYPE, #TQ_ERR_SHAPE (bad axis, or an
 *          empty tensor), #TQ_ERR_NOT_FINITE, #TQ_ERR_PARAM (a scale that
 *          is not a usable float), #TQ_ERR_ALIAS, #TQ_ERR_BUFFER_TOO_SMALL;
 *          nothing written on error. */
TQ_API tq_status tq_s4_quantize_weights(const tq_tensor *in, int32_t axis,
                                        float *scales, uint8_t *packed,
                                        size_t packed_bytes);

/** @brief The least scratch, in bytes, tq_s4_conv2d() works with: its
 *  bounded path's int16 im2col column, 2·K + 1 bytes with
 *  K = KH·KW·Cin/groups (1 153 bytes for a 3x3x64 filter), or the fast
 *  path's tq_s4_conv2d_fast_scratch_size() when that is smaller. This is
 *  what a memory plan should reserve: it does not grow with Cout.
 *  @param conv        geometry (stride, padding, dilation, groups)
 *  @param in_dims     {N, H, W, Cin}
 *  @param filter_dims OHWI {Cout, KH, KW, Cin / groups}
 *  @param out_dims    {N, OH, OW, Cout}
 *  @param bytes       receives the size (written only on success)
 *  @return #TQ_ERR_NULL, and the shape errors of
 *          tq_s8_conv2d_scratch_size(). */
TQ_API tq_status tq_s4_conv2d_scratch_size(const tq_conv_params *conv,
                                           const tq_dims *in_dims,
                                           const tq_dims *filter_dims,
                                           const tq_dims *out_dims,
                                           size_t *bytes);

/** @brief Scratch, in bytes, with which tq_s4_conv2d() takes its fast
 *  path: the whole filter unpacked to int8 once (Cout·KH·KW·Cin/groups
 *  bytes) followed by the scratch of tq_s8_conv2d(), which then runs on it
 *  (the int8 GEMM microkernels). Faster on larger layers, at the cost of
 *  the unpacked filter in RAM (36 864 bytes more for a 3x3x64 -> 64
 *  layer); same arguments as tq_s4_conv2d_scratch_size(), and the same
 *  results bit for bit as the bounded path.
 *  @param conv        geometry (stride, padding, dilation, groups)
 *  @param in_dims     {N, H, W, Cin}
 *  @param filter_dims OHWI {Cout, KH, KW, Cin / groups}
 *  @param out_dims    {N, OH, OW, Cout}
 *  @param bytes       receives the size (written only on success)
 *  @return #TQ_ERR_NULL, #TQ_ERR_OVERFLOW, and the shape errors of
 *          tq_s8_conv2d_scratch_size(). */
TQ_API tq_status tq_s4_conv2d_fast_scratch_size(const tq_conv_params *conv,
                                                const tq_dims *in_dims,
                                                const tq_dims *filter_dims,
                                                const tq_dims *out_dims,
                                                size_t *bytes);

/** @brief int8 2-D convolution with packed int4 weights: exactly
 *  tq_s8_conv2d() on the unpacked filter, same arguments and rules except
 *  the filter. Two paths give the same bytes; the scratch size picks one:
 *  - @p scratch_bytes >= tq_s4_conv2d_fast_scratch_size(): the filter is
 *    unpacked into the scratch once and tq_s8_conv2d() runs on it;
 *  - else, from tq_s4_conv2d_scratch_size() up: per output pixel (and
 *    group) the im2col column plus the input offset is gathered as int16,
 *    then each output channel is one inner product over its packed filter
 *    row, unpacked in registers (the int4 fully connected kernel's); the
 *    filter is never copied.
 *  @param conv         geometry (stride, padding, dilation, groups)
 *  @param in_dims      {N, H, W, Cin}
 *  @param in           input codes
 *  @param input_offset −zero point of the input, [−127, 128]
 *  @param filter_dims  OHWI {Cout, KH, KW, Cin / groups}
 *  @param filter       the OHWI filter packed as tq_s4_pack() packs it,
 *                      tq_s4_packed_size(Cout·KH·KW·Cin/groups) bytes
 *  @param bias         Cout int32 values or NULL
 *  @param os           output stage
 *  @param out_dims     {N, OH, OW, Cout}
 *  @param out          output codes
 *  @param scratch      at least tq_s4_conv2d_scratch_size() bytes, any
 *                      alignment
 *  @param scratch_bytes size of @p scratch
 *  @return as tq_s8_conv2d() (#TQ_ERR_BUFFER_TOO_SMALL below
 *          tq_s4_conv2d_scratch_size()), and #TQ_ERR_ALIAS when the
 *          scratch or the output overlaps @p in, the packed filter, @p bias,
 *          the arrays of @p os or each other; nothing
 *          written on error. */
TQ_API tq_status tq_s4_conv2d(const tq_conv_params *conv,
                              const tq_dims *in_dims, const int8_t *in,
                              int32_t input_offset, const tq_dims *filter_dims,
                              const uint8_t *filter, const int32_t *bias,
                              const tq_s8_output *os, const tq_dims *out_dims,
                              int8_t *out, void *scratch,
                              size_t scratch_bytes);

/** @brief int8 depthwise convolution with packed int4 weights: exactly
 *  tq_s8_depthwise_conv2d() on the unpacked filter; the nibbles are read in
 *  place (no scratch).
 *  @param conv         geometry; conv->groups is ignored
 *  @param in_dims      {N, H, W, Cin}
 *  @param in           input codes
 *  @param input_offset −zero point of the input, [−127, 128]
 *  @param filter_dims  {1, KH, KW, Cout}
 *  @param filter       the [kh][kw][Cout] filter packed,
 *                      tq_s4_packed_size(KH·KW·Cout) bytes
 *  @param bias         Cout int32 values or NULL
 *  @param os           output stage
 *  @param out_dims     {N, OH, OW, Cout}
 *  @param out          output codes, not overlapping @p in, the filter,
 *                      @p bias or the arrays of @p os (#TQ_ERR_ALIAS)
 *  @return as tq_s8_depthwise_conv2d(). */
TQ_API tq_status tq_s4_depthwise_conv2d(const tq_conv_params *conv,
                                        const tq_dims *in_dims,
                                        const int8_t *in, int32_t input_offset,
                                        const tq_dims *filter_dims,
                                        const uint8_t *filter,
                                        const int32_t *bias,
                                        const tq_s8_output *os,
                                        const tq_dims *out_dims, int8_t *out);

/** @brief Bytes of scratch tq_s4_fully_connected() needs: the larger of
 *  2·in_features + 1 (one input row as int16, the path of batches up to 3)
 *  and R·in_features (R unpacked weight rows, the path of larger
 *  batches), R = min(out_features, max(1, min(32, 16384 / in_features))).
 *  @return #TQ_ERR_NULL, #TQ_ERR_SHAPE (sizes < 1), #TQ_ERR_OVERFLOW
 *          (in_features over #TQ_S8_MAX_REDUCTION). */
TQ_API tq_status tq_s4_fully_connected_scratch_size(int32_t in_features,
                                                    int32_t out_features,
                                                    size_t *bytes);

/** @brief int8 fully connected with packed int4 weights: exactly
 *  tq_s8_fully_connected() with the unpacked weights and weight_offset 0.
 *  Up to 3 input rows, each output is one inner product that unpacks the
 *  nibbles in registers; larger batches unpack blocks of weight rows into
 *  the scratch and run them through the s8 microkernels.
 *  @param batch         rows of @p in, >= 1
 *  @param in_features   1..#TQ_S8_MAX_REDUCTION
 *  @param out_features  >= 1
 *  @param in            [batch][in_features] codes
 *  @param input_offset  −zero point of the input, [−127, 128]
 *  @param weights       [out_features][in_features] packed,
 *                       tq_s4_packed_size(out_features·in_features) bytes
 *  @param bias          out_features int32 values or NULL
 *  @param os            output stage (per tensor or per output feature)
 *  @param out           [batch][out_features] codes, not overlapping @p in,
 *                       @p weights, @p bias or the arrays of @p os
 *  @param scratch       tq_s4_fully_connected_scratch_size() bytes
 *  @param scratch_bytes size of @p scratch
 *  @return as tq_s8_fully_connected(), plus #TQ_ERR_BUFFER_TOO_SMALL and
 *          #TQ_ERR_ALIAS for the scratch. */
TQ_API tq_status tq_s4_fully_connected(int32_t batch, int32_t in_features,
                                       int32_t out_features, const int8_t *in,
                                       int32_t input_offset,
                                       const uint8_t *weights,
                                       const int32_t *bias,
                                       const tq_s8_output *os, int8_t *out,
                                       void *scratch, size_t scratch_bytes);

/** @} */

/* ======================================================================== */
/** @defgroup tq_host_sec Host helpers
 *  Files and heap. These live in their own compilation units, which a
 *  firmware build (meson option host_helpers=false) leaves out.
 *  @{ */
/* ======================================================================== */

/** @brief Allocate a tensor's memory (64-byte aligned, zeroed) and fill the
 *  descriptor. Release it with tq_tensor_free(). An empty tensor still gets
 *  a (non-NULL) block. On failure @p t is untouched.
 *  @return the errors of tq_tensor_init(), or #TQ_ERR_NO_MEMORY. */
TQ_API tq_status tq_tensor_alloc(tq_tensor *t, int32_t dtype, int32_t ndim,
                                 const int64_t *shape);

/** @brief Free memory from tq_tensor_alloc() and clear the descriptor.
 *  NULL and already-freed descriptors are accepted. */
TQ_API void tq_tensor_free(tq_tensor *t);

/** @brief A loaded safetensors file (opaque; owns its tensor memory). */
typedef struct tq_safetensors tq_safetensors;

/** @brief Parse a safetensors image held in memory, validating it strictly
 *  (header bounds, JSON, unique names, dtype/shape/size agreement, offsets
 *  in range, no overlap, no hole). The bytes are copied; @p bytes may be
 *  freed afterwards.
 *
 *  Beyond the reference implementation's rules: the header must be UTF-8
 *  and start with `{` (trailing whitespace allowed); every number in it must
 *  be a plain integer literal below 2^53 (no sign, fraction, exponent or
 *  leading zero); the only whitespace is space, tab, LF and CR, and there
 *  is nothing but ASCII outside strings; strings may not contain control
 *  characters, and every
 *  escape must be one JSON defines, a `\u` escape exactly four hex digits
 *  that decode neither to NUL nor to half of a surrogate pair (a high
 *  surrogate must be followed at once by an escaped low one); tensor names
 *  are not empty; at most 1,000,000 tensors. Every dtype of the format
 *  parses (see tq_safetensors_get() for those tinyq can use).
 *
 *  The reader accepts what tq_safetensors_save() can write: a file whose
 *  tensors all have a dtype tinyq computes on (F32, I8, I32) and at most
 *  4 dimensions saves back with the same names, dtypes, shapes, data and
 *  metadata.
 *  @return #TQ_ERR_NULL, #TQ_ERR_FORMAT for any malformed input,
 *          #TQ_ERR_NO_MEMORY; @p *file is written only on success. */
TQ_API tq_status tq_safetensors_parse(const void *bytes, size_t size,
                                      tq_safetensors **file);

/** @brief Read and parse a safetensors file (see tq_safetensors_parse()).
 *  Tensor data is read straight into the file's aligned memory (the file
 *  is not held twice). @return as tq_safetensors_parse(), plus #TQ_ERR_IO
 *  when the file cannot be opened or read (a directory, say). */
TQ_API tq_status tq_safetensors_load(const char *path, tq_safetensors **file);

/** @brief Free a loaded file; NULL is accepted. Tensors obtained from it
 *  become invalid. */
TQ_API void tq_safetensors_free(tq_safetensors *file);

/** @brief Number of tensors in the file (0 for NULL). */
TQ_API int32_t tq_safetensors_count(const tq_safetensors *file);

/** @brief Name of tensor @p index (0 <= index < count), in the order of
 *  the header's keys ("__metadata__" excluded). The string is owned by
 *  @p file. @return #TQ_ERR_PARAM for an index out of range. */
TQ_API tq_status tq_safetensors_name(const tq_safetensors *file,
                                     int32_t index, const char **name);

/** @brief A descriptor of tensor @p name pointing into memory owned by
 *  @p file (64-byte aligned). Tensors of dtypes tinyq cannot compute on
 *  (F16, I64, ...) give #TQ_ERR_DTYPE; more than 4 dimensions
 *  #TQ_ERR_SHAPE; an absent name #TQ_ERR_NOT_FOUND. */
TQ_API tq_status tq_safetensors_get(const tq_safetensors *file,
                                    const char *name, tq_tensor *tensor);

/** @brief Value of metadata key @p key ("__metadata__"), owned by @p file.
 *  @return #TQ_ERR_NOT_FOUND if the key is absent. */
TQ_API tq_status tq_safetensors_metadata(const tq_safetensors *file,
                                         const char *key, const char **value);

/** @brief A tensor to write, with its name. */
typedef struct tq_named_tensor {
    const char *name;  /**< Unique, non-empty UTF-8 name. */
    tq_tensor tensor;  /**< Its data (f32, s8 or s32). */
} tq_named_tensor;

/** @brief Write @p count tensors and @p meta_count metadata pairs
 *  (@p meta_keys[i] = @p meta_values[i]) to @p path as safetensors, in the
 *  order given. The file is published atomically: the bytes go to a new
 *  temporary file beside it (@p path + ".tmp." + a unique suffix, created
 *  with O_EXCL, so an existing file or a symbolic link at that name is
 *  never written through), which is synced to disk and renamed over
 *  @p path; then the directory is synced. A reader, or another process
 *  saving to the same path at the same time, sees the old file or one
 *  whole new one, never a mix; a failure leaves no partial or temporary
 *  file behind. The new file keeps the permission bits of the regular file
 *  it replaces; a new file gets 0666 less the umask. A symbolic link at
 *  @p path itself is replaced by the file, not followed.
 *
 *  Every file this writes reads back with tq_safetensors_load(), and every
 *  file the reader accepts whose tensors tinyq can represent (see
 *  tq_safetensors_parse()) can be written back.
 *  @return #TQ_ERR_NULL (a NULL pointer, or NULL data for a non-empty
 *          tensor), #TQ_ERR_PARAM (negative counts, more than 1,000,000
 *          tensors, an empty path, a name that is empty, "__metadata__",
 *          repeated or not UTF-8, repeated metadata keys, keys or values not
 *          UTF-8), #TQ_ERR_DTYPE, #TQ_ERR_SHAPE (ndim or a negative
 *          extent), #TQ_ERR_OVERFLOW (a byte count past size_t, an extent or
 *          offset of 2^53 or more, a header over 100,000,000 bytes),
 *          #TQ_ERR_NO_MEMORY, #TQ_ERR_IO (the file or its temporary cannot
 *          be created, written, synced or renamed; also when only the
 *          final sync of the directory fails, the new file being in
 *          place then). */
TQ_API tq_status tq_safetensors_save(const char *path,
                                     const tq_named_tensor *tensors,
                                     int32_t count,
                                     const char *const *meta_keys,
                                     const char *const *meta_values,
                                     int32_t meta_count);

/** Bytes of one CIFAR-10 record: a label byte and 3 x 32 x 32 pixels. */
#define TQ_CIFAR10_RECORD_BYTES 3073

/** @brief Read @p count CIFAR-10 records starting at record @p first from an
 *  official binary batch file (e.g. data_batch_1.bin, test_batch.bin).
 *  The range is read into a private buffer (count · 3073 bytes) and checked
 *  before the outputs are written.
 *  @param path    the batch file
 *  @param first   first record, >= 0
 *  @param count   number of records, >= 0
 *  @param labels  count bytes, 0..9 (may be NULL when count is 0)
 *  @param pixels  count · 3072 bytes, each record as CHW planes (R, G, B)
 *  @return #TQ_ERR_PARAM for a negative @p first or @p count, #TQ_ERR_IO if
 *          the file cannot be read, #TQ_ERR_FORMAT if it is not a whole
 *          number of records, a label in the range is over 9, or the range
 *          runs past its end, #TQ_ERR_NO_MEMORY. */
TQ_API tq_status tq_cifar10_read(const char *path, int64_t first,
                                 int64_t count, uint8_t *labels,
                                 uint8_t *pixels);

/** @brief Number of records in a CIFAR-10 batch file.
 *  @return #TQ_ERR_IO, or #TQ_ERR_FORMAT if its size is not a multiple of
 *          #TQ_CIFAR10_RECORD_BYTES. */
TQ_API tq_status tq_cifar10_count(const char *path, int64_t *count);

/** @brief Turn @p count CHW uint8 records into NHWC floats
 *  ((p / 255) − mean[c]) / std[c] (the tutorial uses 0.5 and 0.5), each
 *  step rounded to float exactly as torchvision's ToTensor + Normalize.
 *
 *  For a model that takes raw 0..255 values (MLPerf Tiny's ResNet-8, ...)
 *  do not pass mean 0 and std 1/255: p / 255 · 255 is one ULP off the pixel
 *  value for about half of the pixels. Use tq_cifar10_affine() with scale 1
 *  and offset 0, which gives the pixel values exactly.
 *  @param count  number of records
 *  @param pixels count · 3072 bytes as read by tq_cifar10_read()
 *  @param mean   per-channel (R, G, B) mean in [0, 1] units
 *  @param std    per-channel standard deviation, > 0
 *  @param out    count · 32 · 32 · 3 floats, not overlapping @p pixels
 *  @return #TQ_ERR_PARAM for a negative count, a non-finite mean or a std
 *          that is not finite and > 0, #TQ_ERR_OVERFLOW, #TQ_ERR_ALIAS.
 *          @p pixels and @p out may be NULL when count is 0. */
TQ_API tq_status tq_cifar10_normalize(int64_t count, const uint8_t *pixels,
                                      const float mean[3], const float std[3],
                                      float *out);

/** @brief Turn @p count CHW uint8 records into NHWC floats by an affine map
 *  per channel, out = p · scale[c] + offset[c], computed in double (p ·
 *  scale[c] is exact there) and rounded to float: integer pixels stay
 *  exact. scale 1, offset 0 gives the raw pixel values 0..255 exactly;
 *  integer scales and offsets give exact integers; mean / std in pixel
 *  units are scale = 1 / std, offset = −mean / std.
 *  @param count  number of records
 *  @param pixels count · 3072 bytes as read by tq_cifar10_read()
 *  @param scale  per-channel (R, G, B) factor, finite
 *  @param offset per-channel (R, G, B) offset, finite
 *  @param out    count · 32 · 32 · 3 floats, not overlapping @p pixels
 *  @return #TQ_ERR_PARAM for a negative count, a non-finite scale or offset,
 *          or one whose results could exceed FLT_MAX (255 · |scale| +
 *          |offset| > FLT_MAX); #TQ_ERR_NULL, #TQ_ERR_OVERFLOW,
 *          #TQ_ERR_ALIAS. Nothing is written on error. @p pixels and @p out
 *          may be NULL when count is 0. */
TQ_API tq_status tq_cifar10_affine(int64_t count, const uint8_t *pixels,
                                   const float scale[3], const float offset[3],
                                   float *out);

/** @} */

/* ======================================================================== */
/** @defgroup tq_graph_sec Graphs (host side)
 *  A network as a graph of nodes over tensors, built by the builder
 *  functions below or loaded from ONNX, validated and rewritten once
 *  (tq_graph_finalize()), then run in float, calibrated on caller batches,
 *  quantized, and run integer-only. The graph object lives on the heap
 *  (host helpers); running it allocates nothing: the caller passes an
 *  arena whose size tq_graph_arena_size() gives, and tensor offsets in it
 *  come from a lifetime plan made at finalization.
 *
 *  Conventions:
 *  - Activations are NHWC. A tensor's shape is that of ONE sample with a
 *    leading 1: images [1, H, W, C], vectors [1, F]. The run functions take
 *    a batch count and process batch samples stored one after another.
 *  - Constant weights are f32 in tinyq's layouts: conv OHWI
 *    [O][KH][KW][I / groups], depthwise [1][KH][KW][C · multiplier] (as
 *    tq_oihw_to_dw() writes), fully connected [O][I] with I in the NHWC
 *    order of the flattened input; biases [O].
 *  - Every call that fails on a graph returns a status and leaves a
 *    sentence naming the node, op and attribute at fault in
 *    tq_graph_error(); the graph is then unchanged.
 *  - A finalized graph may be run by several threads at once, each with
 *    its own arena: the calls that take a const graph write nothing to it
 *    but the error sentence of a failure.
 *  - Graphs have one input and one output.
 *  @{ */
/* ======================================================================== */

/** @brief A network (opaque; owns its tensors, weights and plan). */
typedef struct tq_graph tq_graph;

/** @brief Node operations. Values are stored in model files and never
 *  change. Inputs are tensor ids, activation first. */
typedef enum tq_op {
    TQ_OP_CONV2D = 1,            /**< x, weight OHWI, [bias]: attrs conv (groups
                                      allowed), fused act. */
    TQ_OP_DEPTHWISE_CONV2D = 2,  /**< x, weight [1][KH][KW][C·M], [bias]:
                                      attrs conv, depth_multiplier, act. */
    TQ_OP_FULLY_CONNECTED = 3,   /**< x (any shape, read as [1, I] in NHWC
                                      order), weight [O][I], [bias]: act.
                                      Output [1, O]. */
    TQ_OP_MAX_POOL = 4,          /**< x: attrs pool. */
    TQ_OP_AVG_POOL = 5,          /**< x: attrs pool, count_include_pad. */
    TQ_OP_GLOBAL_AVG_POOL = 6,   /**< x [1,H,W,C] -> [1,1,1,C]. */
    TQ_OP_ADD = 7,               /**< a, b: same shape, or b a constant of
                                      one value or one per channel; act. */
    TQ_OP_MUL = 8,               /**< a, b: as ADD. */
    TQ_OP_ACTIVATION = 9,        /**< x: the clamp of attrs act (ReLU, ReLU6,
                                      Clip). */
    TQ_OP_LEAKY_RELU = 10,       /**< x: attrs alpha. */
    TQ_OP_BATCH_NORM = 11,       /**< x, scale, bias, mean, variance (constants
                                      [C]): attrs epsilon. */
    TQ_OP_RESHAPE = 12,          /**< x: attrs ndim, shape (one sample, the
                                      same element count, NHWC element
                                      order kept). Flatten is [1, n]. */
    TQ_OP_SOFTMAX = 13,          /**< x: along the last axis. */
    TQ_OP_CONCAT = 14,           /**< x0, x1, ...: along the channel (last)
                                      axis; other extents equal. */
    TQ_OP_PAD = 15,              /**< x: zero padding of H and W by attrs
                                      conv's pad_top/bottom/left/right. */
    TQ_OP_IDENTITY = 16,         /**< x (Identity, Dropout at inference). */
    TQ_OP_CONV2D_RELU_MAXPOOL2 = 17 /**< x, weight, [bias]: conv (groups 1),
                                      ReLU, 2x2 stride-2 max pool; made by
                                      the pool-fusion rewrite. */
} tq_op;

/** @brief Fused activation of a node (tq_node_attrs::act): ::tq_activation
 *  values, plus this clip for graph nodes. Kernels reject it. */
#define TQ_ACT_CLIP 3

/** @brief Attributes of a node; each op reads only the fields its
 *  ::tq_op entry names. Start from tq_node_attrs_init(). */
typedef struct tq_node_attrs {
    tq_conv_params conv;        /**< Convolutions (and PAD's pads). */
    tq_pool_params pool;        /**< MAX_POOL, AVG_POOL. */
    int32_t act;                /**< Fused clamp: TQ_ACT_NONE, TQ_ACT_RELU,
                                     TQ_ACT_RELU6 or #TQ_ACT_CLIP. */
    float act_min;              /**< #TQ_ACT_CLIP: lower bound (may be
                                     −inf). */
    float act_max;              /**< #TQ_ACT_CLIP: upper bound, >= act_min. */
    float alpha;                /**< LEAKY_RELU slope for x < 0. */
    float epsilon;              /**< BATCH_NORM, > 0. */
    int32_t count_include_pad;  /**< AVG_POOL: 1 to divide by the whole
                                     window, padding included. */
    int32_t depth_multiplier;   /**< DEPTHWISE_CONV2D, >= 1. */
    int32_t ndim;               /**< RESHAPE: 1..#TQ_MAX_DIMS. */
    int32_t reserved;           /**< Keep 0. */
    int64_t shape[TQ_MAX_DIMS]; /**< RESHAPE: target shape of one sample. */
} tq_node_attrs;

/** @brief Defaults: act none, clip [−inf, +inf], strides, dilations,
 *  groups and depth multiplier 1, pads 0, pool window 1x1, alpha 0.01,
 *  epsilon 1e-5. @return #TQ_ERR_NULL. */
TQ_API tq_status tq_node_attrs_init(tq_node_attrs *attrs);

/** @brief Graph rewrites of tq_graph_finalize(), as bit flags. */
typedef enum tq_rewrite {
    TQ_REWRITE_FOLD_BATCH_NORM = 1,  /**< BatchNorm into the conv/FC before it
                                          (the node keeps BN's per-channel
                                          shift and scale for analytic bias
                                          correction); likewise a Mul or Add
                                          by a constant of one value or one
                                          per channel. */
    TQ_REWRITE_REMOVE_IDENTITY = 2,  /**< Identity and Dropout removed. */
    TQ_REWRITE_FOLD_PAD = 4,         /**< A zero Pad into the next conv or
                                          max/avg pool that can take it. */
    TQ_REWRITE_FUSE_ACTIVATION = 8,  /**< ReLU / ReLU6 / Clip into the conv,
                                          FC or Add before it. */
    TQ_REWRITE_FUSE_POOL = 16,       /**< conv + ReLU + 2x2 max pool onto
                                          TQ_OP_CONV2D_RELU_MAXPOOL2. */
    TQ_REWRITE_ALL = 31              /**< Every rewrite. */
} tq_rewrite;

/** @brief A new, empty float graph. @return #TQ_ERR_NULL,
 *  #TQ_ERR_NO_MEMORY. */
TQ_API tq_status tq_graph_create(tq_graph **graph);

/** @brief Free a graph; NULL is accepted. */
TQ_API void tq_graph_free(tq_graph *graph);

/** @brief The sentence explaining the last failed call on @p graph ("" if
 *  none failed); owned by the graph, valid until its next call. */
TQ_API const char *tq_graph_error(const tq_graph *graph);

/** @brief Declare the graph input: @p ndim extents of one sample (NHWC,
 *  leading 1). @p name may be NULL (a name is made up). */
TQ_API tq_status tq_graph_add_input(tq_graph *graph, const char *name,
                                    int32_t ndim, const int64_t *shape,
                                    int32_t *tensor);

/** @brief Add a constant (an f32 tensor, copied). */
TQ_API tq_status tq_graph_add_constant(tq_graph *graph, const char *name,
                                       const tq_tensor *value,
                                       int32_t *tensor);

/** @brief Add a node of @p op over @p n_inputs defined tensors; its output
 *  shape is inferred and checked now (#TQ_ERR_SHAPE, #TQ_ERR_PARAM,
 *  #TQ_ERR_UNSUPPORTED with a message otherwise), and its new output
 *  tensor's id written to @p output. Inputs must exist already, so a built
 *  graph has no cycle. @p attrs may be NULL for ops without attributes. */
TQ_API tq_status tq_graph_add_node(tq_graph *graph, const char *name,
                                   int32_t op, int32_t n_inputs,
                                   const int32_t *inputs,
                                   const tq_node_attrs *attrs,
                                   int32_t *output);

/** @brief Name the graph output (an activation tensor). */
TQ_API tq_status tq_graph_set_output(tq_graph *graph, int32_t tensor);

/** @brief Validate the whole graph, apply the @p rewrites (::tq_rewrite
 *  flags), drop nodes the output does not need, order the nodes and plan
 *  the arena. The graph is immutable afterwards; the run and quantization
 *  functions need a finalized graph. */
TQ_API tq_status tq_graph_finalize(tq_graph *graph, uint32_t rewrites);

/** @brief Load an ONNX model (opsets 7..17 accepted, 10..17 tested;
 *  docs/onnx.md lists the operators) from a file or from memory, convert
 *  it to NHWC and finalize it with every rewrite.
 *  @param path          the .onnx file
 *  @param graph         receives the new finalized float graph (free it
 *                       with tq_graph_free()); untouched on failure
 *  @param message       receives a sentence on failure (the node, op and
 *                       attribute at fault), always NUL-terminated; may be
 *                       NULL
 *  @param message_size  bytes of @p message
 *  @return #TQ_ERR_FORMAT for a malformed file, #TQ_ERR_UNSUPPORTED for an
 *          operator, attribute value or data type tinyq cannot run (also
 *          when the library was built without protobuf-c), #TQ_ERR_IO. */
TQ_API tq_status tq_graph_load_onnx(const char *path, tq_graph **graph,
                                    char *message, size_t message_size);

/** @brief tq_graph_load_onnx() from @p size bytes in memory. */
TQ_API tq_status tq_graph_load_onnx_memory(const void *bytes, size_t size,
                                           tq_graph **graph, char *message,
                                           size_t message_size);

/** @brief A node as a finalized graph holds it. */
typedef struct tq_graph_node_info {
    const char *name;       /**< Owned by the graph. */
    int32_t op;             /**< A ::tq_op. */
    int32_t n_inputs;       /**< Entries of @p inputs. */
    const int32_t *inputs;  /**< Tensor ids, owned by the graph. */
    int32_t output;         /**< Tensor id. */
    int32_t reserved;       /**< 0. */
    tq_node_attrs attrs;    /**< Its attributes. */
} tq_graph_node_info;

/** @brief A tensor as the graph holds it. */
typedef struct tq_graph_tensor_info {
    const char *name;            /**< Owned by the graph. */
    int32_t dtype;               /**< f32 in a float graph; s8 activations
                                      and weights, s32 biases once quantized
                                      (mixed precision: s16 activations, s64
                                      biases, #TQ_S4 packed weights). */
    int32_t ndim;                /**< Extents in @p shape. */
    int64_t shape[TQ_MAX_DIMS];  /**< One sample for activations. */
    int32_t is_constant;         /**< 1 for weights and other constants. */
    int32_t qaxis;               /**< Channel axis of per-channel params. */
    const void *data;            /**< Constants: the values; else NULL. */
    int64_t qcount;              /**< 0 (float), 1 or the channel count. */
    const float *scale;          /**< qcount scales, or NULL. */
    const int32_t *zero_point;   /**< qcount zero points, or NULL. */
} tq_graph_tensor_info;

/** @brief Number of nodes of a finalized graph, in execution order
 *  (0 for NULL). */
TQ_API int32_t tq_graph_node_count(const tq_graph *graph);

/** @brief Node @p index (execution order). */
TQ_API tq_status tq_graph_node(const tq_graph *graph, int32_t index,
                               tq_graph_node_info *info);

/** @brief Number of tensors (0 for NULL); ids run from 0. */
TQ_API int32_t tq_graph_tensor_count(const tq_graph *graph);

/** @brief Tensor @p tensor. */
TQ_API tq_status tq_graph_tensor(const tq_graph *graph, int32_t tensor,
                                 tq_graph_tensor_info *info);

/** @brief The id of the tensor called @p name (#TQ_ERR_NOT_FOUND). */
TQ_API tq_status tq_graph_find_tensor(const tq_graph *graph,
                                      const char *name, int32_t *tensor);

/** @brief The input and output tensor ids. */
TQ_API tq_status tq_graph_io(const tq_graph *graph, int32_t *input,
                             int32_t *output);

/** @brief Bytes of the arena that a run over @p batch samples needs
 *  (activations and kernel scratch as planned, plus alignment slack).
 *  @return #TQ_ERR_PARAM for a graph not finalized or a batch outside
 *          1..INT32_MAX, #TQ_ERR_OVERFLOW when a tensor of the batch would
 *          exceed INT32_MAX elements. */
TQ_API tq_status tq_graph_arena_size(const tq_graph *graph, int64_t batch,
                                     size_t *bytes);

/** @brief Run a finalized float graph on @p batch samples with the f32
 *  kernels: @p input holds batch · (input elements) floats, @p output
 *  receives batch · (output elements). Allocates nothing. @p arena may
 *  have any alignment. @return #TQ_ERR_BUFFER_TOO_SMALL when
 *  @p arena_bytes is below tq_graph_arena_size(), #TQ_ERR_ALIAS when the
 *  input, output and arena overlap, a kernel's status (e.g.
 *  #TQ_ERR_NOT_FINITE from a softmax) naming the node otherwise; on any
 *  error @p output is untouched. */
TQ_API tq_status tq_graph_run_f32(const tq_graph *graph, int64_t batch,
                                  const float *input, float *output,
                                  void *arena, size_t arena_bytes);

/** @brief How a float graph becomes an int8 one (tq_quant_config_init()
 *  gives the defaults in brackets). */
typedef struct tq_quant_config {
    tq_range_config activation_range; /**< Range method of every activation
                                           [min/max]. */
    tq_qscheme activation_scheme;     /**< [8 bits, asymmetric]; 2..8
                                           bits (4: W4A4, codes in the
                                           scheme's range, e.g. [−8, 7],
                                           in int8 tensors). */
    tq_range_config weight_range;     /**< Range method of weights [min/max,
                                           which a symmetric scheme makes
                                           abs-max]. */
    tq_qscheme weight_scheme;         /**< [8 bits, symmetric, narrow];
                                           pow2_scale allowed. */
    int32_t weight_per_channel;       /**< [1]: one scale per output channel. */
    int32_t rounding;                 /**< Requantization ::tq_rounding
                                           [TQ_ROUND_DOUBLE]. */
    int32_t histogram_bins;           /**< Bins of activation histograms
                                           [2048]. */
    int32_t reserved;                 /**< Keep 0. */
} tq_quant_config;

/** @brief The defaults of ::tq_quant_config (in brackets there), with k 3
 *  and percentile 99.99 preset in both range configs.
 *  @param config  the configuration to fill
 *  @return #TQ_ERR_NULL. */
TQ_API tq_status tq_quant_config_init(tq_quant_config *config);

/** @brief Streaming observers on every activation of a float graph
 *  (opaque). */
typedef struct tq_calibrator tq_calibrator;

/** @brief Observers for the activations of finalized float graph @p graph
 *  (which must outlive them) under @p config (copied). See
 *  docs/graph-quantization.md for the passes and the rules.
 *  @param graph       a finalized float graph
 *  @param config      the configuration: an activation scheme of 2..8 bits
 *                     (fewer than 8: int8 codes restricted to the scheme's
 *                     range by the output clamps; the graph input keeps 8
 *                     bits), an 8-bit symmetric weight scheme,
 *                     legal range methods, histogram_bins in 1..2^20
 *  @param calibrator  receives the new calibrator (written only on success)
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM for a graph that is not finalized or
 *          already quantized, or a bad configuration field;
 *          #TQ_ERR_UNSUPPORTED for a weight width other than 8 bits or
 *          asymmetric weights; #TQ_ERR_NO_MEMORY. The sentence is in
 *          tq_graph_error() of @p graph. */
TQ_API tq_status tq_calibrator_create(const tq_graph *graph,
                                      const tq_quant_config *config,
                                      tq_calibrator **calibrator);

/** @brief Free a calibrator; NULL is accepted.
 *  @param calibrator  the calibrator, or NULL */
TQ_API void tq_calibrator_free(tq_calibrator *calibrator);

/** @brief The sentence explaining the last failed call on @p calibrator
 *  ("" if none failed, or for NULL); owned by the calibrator, valid until
 *  its next call. (tq_calibrator_create() and tq_graph_quantize() report
 *  through tq_graph_error() of the float graph.)
 *  @param calibrator  the calibrator, or NULL */
TQ_API const char *tq_calibrator_error(const tq_calibrator *calibrator);

/** @brief Override the range method and/or the scheme of one activation
 *  tensor (a Reshape or Identity output: its input's). Call before the
 *  first tq_calibrator_feed().
 *  @param calibrator  the calibrator
 *  @param tensor      an activation of the graph (its input or a live
 *                     node's output)
 *  @param range       the range method, or NULL to keep the default
 *  @param scheme      the scheme (2..8 bits, as the configuration's
 *                     activation scheme; 8 for the graph input), or NULL
 *                     to keep the default
 *  @return #TQ_ERR_NULL (also when both are NULL); #TQ_ERR_PARAM for a
 *          constant, unknown or dead tensor, a bad method or scheme, or a
 *          call after the first feed; #TQ_ERR_UNSUPPORTED for fewer than
 *          8 bits on the graph input. Nothing changes on failure. */
TQ_API tq_status tq_calibrator_set_tensor(tq_calibrator *calibrator,
                                          int32_t tensor,
                                          const tq_range_config *range,
                                          const tq_qscheme *scheme);

/** @brief Choose the integer type of one tensor of the quantized graph
 *  (mixed precision, docs/graph-quantization.md "int16 activations and
 *  int4 weights"). Call before the first tq_calibrator_feed().
 *
 *  - An activation (a Reshape or Identity output: its input's) may be
 *    #TQ_S8 (the default) or #TQ_S16: symmetric int16, zero point 0, scale
 *    max(|min|, |max|) / 32767 over the calibration data (TFLite's 16x8
 *    rule; the tensor's range method is not used). The node writing it then
 *    runs TFLite's 16x8 kernel (int8 weights, int64 bias, tq_s16_*()). Only
 *    the outputs of Conv2D, DepthwiseConv2D, FullyConnected, the fused
 *    conv + ReLU + max pool, an Add of two activations, and an Add / Mul by a
 *    constant or BatchNorm (a 1x1 depthwise conv) can be int16; pools and
 *    Pad keep their input's type; the graph input and output stay int8
 *    (tq_graph_run_s8() reads and writes int8).
 *  - A weight (the weight constant of a Conv2D, DepthwiseConv2D,
 *    FullyConnected or fused conv node) may be #TQ_S8 (the default) or
 *    #TQ_S4: 4-bit symmetric narrow-range codes in [−7, 7], per channel as
 *    the configuration says, packed (tq_s4_pack()) and run by the tq_s4_*()
 *    kernels. A node with int4 weights must run on int8 activations
 *    (tq_graph_quantize() refuses int4 weights under an int16 output).
 *  Where a node's input has the other type, tq_graph_quantize() inserts
 *  TFLite's requantization (QUANTIZE int8 <-> int16: MBQM of x − zp_in by
 *  s_in / s_out, plus zp_out, clamped) into the node's input, with the
 *  input's parameters under the node's type taken from the calibration.
 *  @param calibrator  the calibrator
 *  @param tensor      an activation or weight tensor of the graph
 *  @param dtype       #TQ_S8 or #TQ_S16 (activations), #TQ_S8 or #TQ_S4
 *                     (weights)
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM for an unknown, dead or other
 *          constant tensor, a dtype that is none of these, or a call after
 *          the first feed; #TQ_ERR_UNSUPPORTED for #TQ_S16 on the graph
 *          input or output, a pool or Pad output, or an op without a 16x8
 *          kernel (named in tq_calibrator_error()). Nothing changes on
 *          failure. */
TQ_API tq_status tq_calibrator_set_dtype(tq_calibrator *calibrator,
                                         int32_t tensor, int32_t dtype);

/** @brief The integer types of every tensor without a
 *  tq_calibrator_set_dtype() override: @p activation_dtype #TQ_S8 (the
 *  default) or #TQ_S16 applies to each activation that can be int16 (see
 *  tq_calibrator_set_dtype(); the others, and the graph input and output,
 *  stay int8); @p weight_dtype #TQ_S8 (the default) or #TQ_S4 applies to
 *  the weights of the int8 conv, depthwise and fully connected nodes
 *  (those of 16x8 nodes stay int8). Call before the first feed.
 *  @param calibrator        the calibrator
 *  @param activation_dtype  #TQ_S8 or #TQ_S16
 *  @param weight_dtype      #TQ_S8 or #TQ_S4
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM for another dtype or a call after
 *          the first feed. */
TQ_API tq_status tq_calibrator_set_default_dtypes(tq_calibrator *calibrator,
                                                  int32_t activation_dtype,
                                                  int32_t weight_dtype);

/** @brief Run the float graph on @p batch samples and observe every
 *  activation: statistics in the first pass, histograms over the first
 *  pass's ranges in the second (feed the same batches in both).
 *  @param calibrator  the calibrator
 *  @param batch       samples in @p input, >= 1
 *  @param input       batch · (input elements) floats, all finite
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM for a bad batch, a finished or
 *          broken calibration; #TQ_ERR_NOT_FINITE for a non-finite input or
 *          activation; #TQ_ERR_NO_MEMORY. A failed first-pass feed counts
 *          nothing; a second-pass feed that fails after the run started
 *          leaves the calibrator unusable (every later call fails). */
TQ_API tq_status tq_calibrator_feed(tq_calibrator *calibrator, int64_t batch,
                                    const float *input);

/** @brief End a pass over the calibration data.
 *  @param calibrator    the calibrator
 *  @param another_pass  receives 1 when some chosen range method needs a
 *                       histogram and the same batches must be fed once
 *                       more, else 0 (calibration is complete)
 *  @return #TQ_ERR_NULL; #TQ_ERR_EMPTY when nothing was fed in the pass;
 *          #TQ_ERR_PARAM when calibration is already complete or a second
 *          pass did not see as many values as the first; the status of
 *          tq_choose_range() for a tensor whose range cannot be chosen. */
TQ_API tq_status tq_calibrator_end_pass(tq_calibrator *calibrator,
                                        int32_t *another_pass);

/** @brief The range chosen for activation @p tensor after calibration.
 *  @param calibrator  a calibrator whose calibration is complete
 *  @param tensor      an activation (an alias: its input's range)
 *  @param lo          receives the lower end
 *  @param hi          receives the upper end
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM before the last pass ended or for a
 *          tensor that is no activation. */
TQ_API tq_status tq_calibrator_range(const tq_calibrator *calibrator,
                                     int32_t tensor, double *lo, double *hi);

/** @brief The statistics (count, min, max, mean, moments) that the first
 *  pass observed on activation @p tensor, over every value of every sample
 *  fed: for reports such as the lab's activation table.
 *  @param calibrator  a calibrator whose first pass has ended
 *                     (tq_calibrator_end_pass() returned)
 *  @param tensor      an activation (an alias: its input's statistics)
 *  @param stats       receives a copy of the statistics
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM before the first pass ended, for a
 *          broken calibration or for a tensor that is no activation
 *          (@p stats is then untouched). */
TQ_API tq_status tq_calibrator_stats(const tq_calibrator *calibrator,
                                     int32_t tensor, tq_stats *stats);

/** @brief Quantize a calibrated float graph into a new integer-only graph:
 *  int8 weights (per channel or per tensor; the output layer per tensor),
 *  int32 biases at s_in · s_w, every multiplier and shift computed once
 *  (rules in docs/graph-quantization.md). A trailing Softmax is dropped (it
 *  does not change the argmax): the int8 output is the logits.
 *  @param graph       the finalized float graph @p calibrator observed
 *  @param calibrator  a complete calibration of @p graph
 *  @param quantized   receives the new graph (written only on success);
 *                     free it with tq_graph_free()
 *  The types chosen by tq_calibrator_set_dtype() and
 *  tq_calibrator_set_default_dtypes() make a mixed-precision graph (16x8
 *  nodes, int4 weights, requantization nodes at type boundaries).
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM for a graph that is not finalized,
 *          already quantized or not the calibrator's, or an incomplete
 *          calibration; #TQ_ERR_UNSUPPORTED for an op or parameter the
 *          int8 kernels cannot run (or int4 weights under an int16 output) (the node is named in tq_graph_error()
 *          of @p graph); #TQ_ERR_NO_MEMORY. */
TQ_API tq_status tq_graph_quantize(const tq_graph *graph,
                                   const tq_calibrator *calibrator,
                                   tq_graph **quantized);

/** @brief 1 if @p graph is a quantized graph, else 0 (also for NULL).
 *  @param graph  a graph or NULL */
TQ_API int32_t tq_graph_is_quantized(const tq_graph *graph);

/** @brief Run a quantized graph integer-only on @p batch samples. No float,
 *  no allocation.
 *  @param graph        a graph made by tq_graph_quantize()
 *  @param batch        samples, >= 1
 *  @param input        batch · (input elements) int8 codes, quantized with
 *                      the input tensor's parameters
 *                      (tq_graph_quantize_input())
 *  @param output       receives batch · (output elements) int8 codes
 *  @param accumulators NULL, or receives batch · (output elements) int32
 *                      accumulators of the output layer (bias included,
 *                      before requantization); the output layer must be a
 *                      conv or fully connected one
 *  @param arena        tq_graph_arena_size() bytes for @p batch, any
 *                      alignment
 *  @param arena_bytes  size of @p arena
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM for a float graph or a bad batch;
 *          #TQ_ERR_UNSUPPORTED for accumulators of another output layer;
 *          #TQ_ERR_BUFFER_TOO_SMALL for a short arena; #TQ_ERR_ALIAS when
 *          the input, output, accumulators and arena overlap;
 *          #TQ_ERR_OVERFLOW. The outputs are written only on success. */
TQ_API tq_status tq_graph_run_s8(const tq_graph *graph, int64_t batch,
                                 const int8_t *input, int8_t *output,
                                 int32_t *accumulators, void *arena,
                                 size_t arena_bytes);

/** @brief Quantize @p count floats with the input tensor's parameters, as
 *  tq_s8_quantize_f32() (TFLite QUANTIZE rounding).
 *  @param graph  a quantized graph
 *  @param count  number of values (a whole number of samples, usually)
 *  @param x      @p count floats
 *  @param q      receives @p count codes
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM for a float graph; the errors of
 *          tq_s8_quantize_f32(). */
TQ_API tq_status tq_graph_quantize_input(const tq_graph *graph, size_t count,
                                         const float *x, int8_t *q);

/** @brief Dequantize @p count int8 outputs with the output tensor's
 *  parameters, as tq_s8_dequantize_f32().
 *  @param graph  a quantized graph
 *  @param count  number of values
 *  @param q      @p count codes
 *  @param x      receives @p count floats
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM for a float graph; the errors of
 *          tq_s8_dequantize_f32(). */
TQ_API tq_status tq_graph_dequantize_output(const tq_graph *graph,
                                            size_t count, const int8_t *q,
                                            float *x);

/** @brief Save a quantized graph as a tinyq model file (docs/model-format.md):
 *  safetensors holding its int8 weights, int32 biases, scales, zero points,
 *  multipliers, shifts and lookup tables, with the graph (tensors, nodes,
 *  attributes, the ::tq_quant_config that produced it, tinyq's version) as
 *  JSON under the metadata key "tinyq-graph" and "format" =
 *  "tinyq-graph-v1". Only the tensors the graph reads or writes are kept.
 *  Saving a loaded graph again gives the same bytes. The file is written
 *  through a temporary name and renamed (see tq_safetensors_save()).
 *  @param graph  a graph made by tq_graph_quantize() or tq_graph_load()
 *  @param path   the file to write
 *  Mixed-precision graphs (int16 activations, int4 weights, int64 biases)
 *  are saved too (docs/model-format.md, "Mixed precision").
 *  @return #TQ_ERR_NULL, #TQ_ERR_PARAM for a float graph, #TQ_ERR_IO,
 *          #TQ_ERR_NO_MEMORY; the reason is in tq_graph_error(). */
TQ_API tq_status tq_graph_save(const tq_graph *graph, const char *path);

/** @brief Load a tinyq model file written by tq_graph_save(). Everything is
 *  validated before the graph is returned: the JSON, every tensor the graph
 *  names (present, with the right dtype and shape), every index, the node
 *  order (no cycle), each node's shapes and attributes as
 *  tq_graph_add_node() checks them, and every parameter (scales > 0 and
 *  finite, zero points in [−128, 127] (0 for int16 activations),
 *  multipliers >= 0, shifts in [#TQ_SHIFT_MIN, #TQ_SHIFT_MAX] (at most
 *  #TQ_S16_SHIFT_MAX in 16x8 nodes), clamps in the int8 or int16 range,
 *  each node's types). The result is
 *  a finalized quantized graph, ready for tq_graph_run_s8().
 *  @param path          the file
 *  @param graph         receives the new graph (only on success)
 *  @param message       receives a sentence naming the fault on failure, ""
 *                       on success; may be NULL
 *  @param message_size  bytes of @p message
 *  @return #TQ_ERR_NULL, #TQ_ERR_IO, #TQ_ERR_FORMAT for anything malformed
 *          or illegal (also an old "tinyq-lenet-s8" file, whose message
 *          says how to convert it), #TQ_ERR_NO_MEMORY. */
TQ_API tq_status tq_graph_load(const char *path, tq_graph **graph,
                               char *message, size_t message_size);

/** @brief Write a quantized graph as C source for a firmware:
 *  @p out_dir/@p prefix.h and @p out_dir/@p prefix.c. The source holds the
 *  int8 weights (packed int4 weights as bytes), int32 biases (int64 in
 *  16x8 nodes), multipliers, shifts and tables as `const` data, ONE static
 *  arena laid out by the graph's plan (activations of 1 or 2 bytes at
 *  their planned offsets, then the kernel scratch), `int8_t
 *  *<prefix>_input(void)` (where the int8 input goes) and `tq_status
 *  <prefix>_run(int8_t *output, int32_t *accumulators)`, a straight line of
 *  calls to tinyq's kernels as tq_graph_run_s8() runs each node (s8; s16
 *  for int16 activations; s4 for int4 weights; a loop over tq_requantize()
 *  for each int8 <-> int16 requantization node of a mixed-precision
 *  graph); the header states the arena size, the input
 *  and output sizes and their quantization (scale, zero point). Before
 *  writing anything the same kernel calls run on the host over the same
 *  arena offsets and must give bit for bit the outputs (and an FC output
 *  layer's accumulators) of tq_graph_run_s8() on two inputs.
 *  @param graph         a quantized graph
 *  @param prefix        a C identifier of at most 40 characters ("model")
 *  @param out_dir       an existing directory
 *  @param message       receives a sentence on failure; may be NULL
 *  @param message_size  bytes of @p message
 *  @return #TQ_ERR_NULL, #TQ_ERR_PARAM (a float graph, a bad prefix, or a
 *          host check that failed), #TQ_ERR_UNSUPPORTED for a node the
 *          exporter does not emit yet (a standalone Pad, an average pool
 *          counting its padding, a Concat of more than two inputs, in
 *          int8 and in int16 alike),
 *          #TQ_ERR_IO, #TQ_ERR_NO_MEMORY. */
TQ_API tq_status tq_graph_export_c(const tq_graph *graph, const char *prefix,
                                   const char *out_dir, char *message,
                                   size_t message_size);

/** @brief tq_graph_load() from @p size bytes in memory (copied). */
TQ_API tq_status tq_graph_load_memory(const void *bytes, size_t size,
                                      tq_graph **graph, char *message,
                                      size_t message_size);

/** @} */

/* ---- mixed precision under a budget (lib/graph/budget.c) ---------------- */
/* ======================================================================== */
/** @defgroup tq_budget_sec Mixed precision under a budget (host side)
 *  Per-layer sensitivity to int4 weights and int16 activations, and a
 *  greedy search choosing them per layer to meet a weight-byte (and
 *  optionally an arena) budget with the least output error
 *  (docs/mixed-precision-budget.md). Both measure on the caller's
 *  calibration images against the float graph. A "weighted layer" is a
 *  conv, depthwise, fully connected or fused conv + ReLU + max pool node of
 *  the finalized float graph; its "bytes" are those of its quantized
 *  weights (int8: one per value, int4: tq_s4_packed_size()) plus its bias
 *  (int32, or int64 under a 16x8 node). The "error" of a quantized graph
 *  is the relative squared error of its dequantized output against the
 *  float output (the logits before a trailing Softmax) over the images:
 *  Σ (y_q − y_f)² / Σ y_f², a value >= 0 (0: identical); "agreement" is
 *  the fraction of images whose argmax (first maximum) equals the float
 *  one, in [0, 1].
 *  @{ */
/* ======================================================================== */

/** @brief One weighted layer's sensitivity record (tq_graph_sensitivity()),
 *  and the precision tq_graph_quantize_budget() chose for it. */
typedef struct tq_layer_sensitivity {
    int32_t node;             /**< The layer's node index in the float graph
                                   (tq_graph_node()). */
    int32_t weight_tensor;    /**< Its weight constant (float graph id). */
    int32_t output_tensor;    /**< Its output activation (float graph id). */
    int32_t can_s16;          /**< 1 when its output may be int16 (a 16x8
                                   kernel exists and it is not the graph
                                   output), else 0. */
    int64_t weights;          /**< Weight values, >= 1. */
    int64_t channels;         /**< Bias values (output channels); 0 without
                                   a bias. */
    int64_t bytes_s8;         /**< Bytes at int8 weights, int32 bias. */
    int64_t bytes_s4;         /**< Bytes at int4 weights, int32 bias. */
    int64_t bytes_s16;        /**< Bytes under int16 activations (int8
                                   weights, int64 bias). */
    double error_s8;          /**< Error of the all-int8 graph (the same in
                                   every record), >= 0. */
    double agreement_s8;      /**< Its agreement, [0, 1]. */
    double error_s4;          /**< Error with only this layer's weights
                                   int4, >= 0. */
    double agreement_s4;      /**< Its agreement, [0, 1]. */
    double error_s16;         /**< Error with only this layer's output
                                   int16 (error_s8 when can_s16 is 0). */
    double agreement_s16;     /**< Its agreement, [0, 1]. */
    int32_t weight_dtype;     /**< Chosen by tq_graph_quantize_budget():
                                   #TQ_S8 or #TQ_S4 (0 before). */
    int32_t activation_dtype; /**< Chosen: #TQ_S8 or #TQ_S16 (0 before). */
} tq_layer_sensitivity;

/** @brief The budget of tq_graph_quantize_budget() (tq_budget_config_init()
 *  gives the defaults in brackets). */
typedef struct tq_budget_config {
    int64_t weight_bytes;     /**< Largest total bytes of the weighted
                                   layers, >= 1 [0: must be set]. */
    int64_t arena_bytes;      /**< 0: no arena budget [0]; else the largest
                                   tq_graph_arena_size() for a batch of 1. */
    int32_t allow_s16;        /**< 1: int16 activations may be chosen where
                                   they lower the error [1]; 0: weights only. */
    int32_t max_verify;       /**< Alternative assignments the verification
                                   may measure when the chosen one is worse
                                   than predicted, 0..64 [4]. */
} tq_budget_config;

/** @brief What tq_graph_quantize_budget() chose and measured. */
typedef struct tq_budget_result {
    int64_t weight_bytes;     /**< Bytes of the chosen assignment (<= the
                                   budget). */
    int64_t weight_bytes_s8;  /**< Bytes with every layer int8. */
    int64_t weight_bytes_min; /**< Bytes with every layer's weights int4
                                   (the smallest reachable). */
    int64_t arena_bytes;      /**< tq_graph_arena_size() of the result for a
                                   batch of 1. */
    double error_s8;          /**< Measured error of the all-int8 graph. */
    double predicted_error;   /**< error_s8 plus the chosen layers' error
                                   changes (the additive model). */
    double error;             /**< Measured error of the result. */
    double agreement;         /**< Measured agreement of the result. */
    int32_t layers_s4;        /**< Layers with int4 weights. */
    int32_t layers_s16;       /**< Layers with int16 outputs. */
    int32_t measured;         /**< Assignments measured by the verification
                                   (>= 1). */
    int32_t backed_off;       /**< 1 when the verification replaced the
                                   greedy assignment by a better measured
                                   alternative. */
} tq_budget_result;

/** @brief The defaults of ::tq_budget_config (weight_bytes 0: the caller
 *  sets it).
 *  @param config  the configuration to fill
 *  @return #TQ_ERR_NULL. */
TQ_API tq_status tq_budget_config_init(tq_budget_config *config);

/** @brief Measure each weighted layer's sensitivity on @p count calibration
 *  images: calibrate @p graph on them (one or two passes as @p config
 *  needs), then quantize and run it all int8, once per layer with only
 *  that layer's weights int4, and once per layer with only its output
 *  int16 (where can_s16), each against the float output.
 *  @param graph     a finalized float graph (unchanged; its error sentence
 *                   explains a failure)
 *  @param config    quantization configuration, or NULL for
 *                   tq_quant_config_init()'s
 *  @param count     images, 1..2^31 − 1
 *  @param images    @p count · (input elements) finite floats
 *  @param layers    @p capacity records to fill in execution order, or NULL
 *                   with capacity 0 to ask for the number only
 *  @param capacity  records at @p layers, >= 0
 *  @param n_layers  receives the number of weighted layers (also when
 *                   @p capacity is too small)
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM (graph not finalized or quantized,
 *          count < 1, no weighted layer, a bad config);
 *          #TQ_ERR_BUFFER_TOO_SMALL (capacity below the layers);
 *          #TQ_ERR_NOT_FINITE; the errors of calibration, quantization and
 *          the runs; #TQ_ERR_NO_MEMORY. @p layers is written only on
 *          success. */
TQ_API tq_status tq_graph_sensitivity(const tq_graph *graph,
                                      const tq_quant_config *config,
                                      int64_t count, const float *images,
                                      tq_layer_sensitivity *layers,
                                      int32_t capacity, int32_t *n_layers);

/** @brief Quantize @p graph with int4 / int8 weights and int8 / int16
 *  activations chosen per layer to fit @p budget with the least error.
 *  Greedy (deterministic): layers go int4 in increasing order of
 *  max(error_s4 − error_s8, 0) per byte saved (ties: the earlier layer)
 *  until the bytes fit; then, if allowed, int8-weight layers whose int16
 *  output lowers the error go int16 in decreasing order of gain while the
 *  bytes and the arena still fit. The chosen assignment is then quantized
 *  and measured; if its error exceeds the additive prediction, up to
 *  max_verify alternatives (the greedy run again without each chosen int4
 *  layer, the last chosen first, and without the int16 choices) are
 *  measured and the least measured error that fits is kept.
 *  @param graph     a finalized float graph (unchanged)
 *  @param config    as for tq_graph_sensitivity(), the same one
 *  @param count     images, >= 1 (the same as for the sensitivity)
 *  @param images    @p count · (input elements) finite floats
 *  @param budget    the budget (weight_bytes >= 1)
 *  @param layers    the @p n_layers records tq_graph_sensitivity() filled
 *                   for @p graph; their weight_dtype and activation_dtype
 *                   receive the choice (only on success)
 *  @param n_layers  records at @p layers (all of the graph's weighted
 *                   layers)
 *  @param result    receives the bytes, errors and counts (only on
 *                   success), or NULL
 *  @param quantized receives the new quantized graph, an ordinary one
 *                   (tq_graph_run_s8(), tq_graph_save()); free it with
 *                   tq_graph_free(); untouched on failure
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM (bad budget or records, count < 1);
 *          #TQ_ERR_UNSUPPORTED when no assignment fits the budget (the
 *          smallest reachable bytes or arena are named in tq_graph_error());
 *          the errors of tq_graph_sensitivity(). Nothing is written on
 *          failure. */
TQ_API tq_status tq_graph_quantize_budget(const tq_graph *graph,
                                          const tq_quant_config *config,
                                          int64_t count, const float *images,
                                          const tq_budget_config *budget,
                                          tq_layer_sensitivity *layers,
                                          int32_t n_layers,
                                          tq_budget_result *result,
                                          tq_graph **quantized);

/** @} */
/* ---- end of mixed precision under a budget ------------------------------ */

/* ======================================================================== */
/** @defgroup tq_recovery_sec Accuracy recovery (host side)
 *  Post-training remedies for the accuracy lost by round-to-nearest
 *  quantization (docs/recovery.md): cross-layer equalization of a float
 *  graph before calibration, and on a quantized graph 4-bit weights,
 *  AdaRound and bias correction, all from calibration data the caller
 *  passes. Nothing here runs on a firmware.
 *  @{ */
/* ======================================================================== */

/** @brief What tq_graph_equalize() does with a ReLU6 between two layers
 *  (tq_equalize_config::relu6). */
typedef enum tq_equalize_relu6 {
    TQ_EQUALIZE_RELU6_SKIP = 0,    /**< Leave such pairs alone (exact). */
    TQ_EQUALIZE_RELU6_REPLACE = 1, /**< Replace the ReLU6 by a ReLU and
                                        equalize (changes the float function
                                        where activations exceed 6). */
    TQ_EQUALIZE_RELU6_AWARE = 2    /**< Keep the ReLU6 and limit each
                                        channel's total scale S_j with the
                                        first layer's folded-BatchNorm
                                        statistics: with u_j = beta_j +
                                        k·|gamma_j| (k: absorb_sigmas) <= 6,
                                        S_j >= u_j / 6; channels with
                                        u_j > 6 or no statistics keep
                                        S_j = 1 (see docs/recovery.md). */
} tq_equalize_relu6;

/** @brief Options of tq_graph_equalize() (tq_equalize_config_init() gives
 *  the defaults in brackets). */
typedef struct tq_equalize_config {
    int32_t iterations;   /**< Sweeps over all pairs, 0..100000 [20]; stops
                               early once no scale moves by more than 1e-6
                               (relative). */
    int32_t relu6;        /**< A ::tq_equalize_relu6 [SKIP]. */
    int32_t absorb_bias;  /**< 1: high-bias absorption after equalizing
                               (not exact; see docs/recovery.md) [0]. */
    float absorb_sigmas;  /**< k of the absorbed amount
                               max(0, beta − k·|gamma|), and of the
                               channel bound of RELU6_AWARE, >= 0 [3]. */
} tq_equalize_config;

/** @brief The defaults of ::tq_equalize_config.
 *  @param config  the options to fill
 *  @return #TQ_ERR_NULL. */
TQ_API tq_status tq_equalize_config_init(tq_equalize_config *config);

/** @brief Cross-layer equalization (Nagel et al. 2019), in place, on a
 *  finalized float graph before calibration: for each pair of weighted
 *  nodes (conv, depthwise, FC) joined through a ReLU or no activation,
 *  pools, zero pad, reshape or identity only (one consumer at every step,
 *  not the graph output, constants not shared), output channel j of the
 *  first is divided by s_j = sqrt(r1_j / r2_j) and the second's weights
 *  reading j multiplied by it (r: largest absolute weight of the channel),
 *  iterated. The float function is unchanged up to float rounding (unless
 *  ReLU6 replacement or bias absorption is asked for). This is the one
 *  call that changes a finalized graph: do not run the graph meanwhile.
 *  @param graph   a finalized float graph
 *  @param config  the options, or NULL for the defaults
 *  @param pairs   receives the number of pairs equalized; may be NULL
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM for a graph not finalized or
 *          quantized, or a bad option; #TQ_ERR_NO_MEMORY. */
TQ_API tq_status tq_graph_equalize(tq_graph *graph,
                                   const tq_equalize_config *config,
                                   int32_t *pairs);

/** @brief Bias correction methods (tq_recovery_config::bias_correction). */
typedef enum tq_bias_correction {
    TQ_BIAS_CORRECTION_NONE = 0,      /**< None. */
    TQ_BIAS_CORRECTION_EMPIRICAL = 1, /**< The mean output error per
                                           channel measured on the
                                           calibration inputs. */
    TQ_BIAS_CORRECTION_ANALYTIC = 2   /**< The expected input from the
                                           previous layer's folded-BatchNorm
                                           statistics (layers without them
                                           are left alone). */
} tq_bias_correction;

/** @brief Progress of tq_graph_recover(): called before a layer's work
 *  (@p iteration 0) and every 100 AdaRound iterations.
 *  @param ctx         tq_recovery_config::progress_ctx
 *  @param node        the node's name
 *  @param iteration   iterations done on this layer
 *  @param iterations  iterations planned for it (0 without AdaRound)
 *  @param loss        the layer's current AdaRound loss (0 without)
 *  @return 0 to go on; anything else ends this layer's AdaRound now,
 *          keeping its current rounding. */
typedef int32_t (*tq_recovery_progress)(void *ctx, const char *node,
                                        int32_t iteration, int32_t iterations,
                                        double loss);

/** @brief Options of tq_graph_recover() (tq_recovery_config_init() gives the
 *  defaults in brackets). */
typedef struct tq_recovery_config {
    int32_t weight_bits;        /**< 8 or 4 [8]: 4 makes weights symmetric
                                     4-bit codes in [−7, 7], per channel as
                                     the graph was quantized, scale
                                     max|w| / 7, stored in the int8
                                     tensors. */
    int32_t keep_ends_8bit;     /**< 1: the first and the last weighted
                                     layer keep 8 bits [1]. */
    int32_t bias_correction;    /**< A ::tq_bias_correction [NONE]. */
    int32_t adaround;           /**< 1: AdaRound every weighted layer [0]. */
    int32_t iterations;         /**< AdaRound Adam steps per layer, 1..10^7
                                     [1000]. */
    float lambda;               /**< Regulariser weight, >= 0 [0.01]. */
    float beta_start;           /**< Regulariser beta at the end of the
                                     warm-up [20], annealed linearly... */
    float beta_end;             /**< ...to this at the last step [2]. */
    float warmup;               /**< Fraction of steps without regulariser,
                                     0..1 [0.2]. */
    float learning_rate;        /**< Adam step size, > 0 [0.01]. */
    int32_t max_patches;        /**< Input patches per layer kept for the
                                     AdaRound Gram matrix, >= 1 [8192];
                                     sampled with @p seed when there are
                                     more. */
    int32_t reserved;           /**< Keep 0. */
    uint64_t seed;              /**< Seed of the patch sampling [1]. */
    double time_limit;          /**< Seconds of AdaRound per layer, 0 for
                                     no limit [0]. */
    tq_recovery_progress progress; /**< Progress callback, or NULL. */
    void *progress_ctx;         /**< Passed to @p progress. */
} tq_recovery_config;

/** @brief The defaults of ::tq_recovery_config.
 *  @param config  the options to fill
 *  @return #TQ_ERR_NULL. */
TQ_API tq_status tq_recovery_config_init(tq_recovery_config *config);

/** @brief Improve the weights and biases of a quantized graph in place
 *  from calibration inputs: per weighted layer (conv, depthwise, FC, fused
 *  conv + pool), first 4-bit weights if asked, then AdaRound, then bias
 *  correction; each layer's inputs are those of the FLOAT graph on
 *  @p inputs. Scales, multipliers, shifts, int32 biases and packed
 *  weights are recomputed; activations keep their parameters. The graph
 *  stays an ordinary quantized graph (saves, loads, runs, exports).
 *  @param quantized  a graph made by tq_graph_quantize() from @p graph
 *  @param graph      the finalized float graph it was made from
 *  @param count      samples in @p inputs, >= 1
 *  @param inputs     count · (input elements) floats, all finite
 *  @param config     the options, or NULL for the defaults
 *  @return #TQ_ERR_NULL; #TQ_ERR_PARAM for graphs that do not match, a bad
 *          count or option; #TQ_ERR_NOT_FINITE; #TQ_ERR_UNSUPPORTED for a
 *          multiplier no kernel can apply; #TQ_ERR_NO_MEMORY. The error
 *          sentence is in tq_graph_error() of @p quantized. On failure
 *          some layers may already have been changed. */
TQ_API tq_status tq_graph_recover(tq_graph *quantized, const tq_graph *graph,
                                  int64_t count, const float *inputs,
                                  const tq_recovery_config *config);

/** @brief AdaRound of one weight matrix (the kernel of tq_graph_recover()):
 *  rows w[o] (k values each) with scale scales[o] (or scales[0] for all
 *  when @p per_channel is 0) get codes in [qmin, qmax] that are floor or
 *  ceil of w / s, chosen to minimise the row's (s·q − w)ᵀ G (s·q − w)
 *  with G = gram (k × k, the mean of x xᵀ over the layer's input
 *  patches). A row whose result reconstructs worse than round-to-nearest
 *  keeps round-to-nearest.
 *  @param rows, k      matrix shape, >= 1
 *  @param w            rows · k weights
 *  @param scales       rows (per channel) or 1 scales, > 0
 *  @param per_channel  1 or 0
 *  @param gram         k · k values (symmetric)
 *  @param qmin, qmax   code range, −128 <= qmin < qmax <= 127
 *  @param config       iterations, lambda, betas, warmup, learning rate,
 *                      time limit (for the whole matrix), progress; NULL
 *                      for the defaults
 *  @param codes        receives rows · k codes
 *  @return #TQ_ERR_NULL, #TQ_ERR_PARAM, #TQ_ERR_NOT_FINITE,
 *          #TQ_ERR_NO_MEMORY. */
TQ_API tq_status tq_adaround_matrix(int32_t rows, int32_t k, const float *w,
                                    const float *scales, int32_t per_channel,
                                    const double *gram, int32_t qmin,
                                    int32_t qmax,
                                    const tq_recovery_config *config,
                                    int8_t *codes);

/** @brief The AdaRound objective of one row and its closed-form gradient
 *  (exposed for testing): with h = clip(sigmoid(v)·(zeta − gamma) + gamma,
 *  0, 1), zeta 1.1, gamma −0.1, q = clamp(floor(w / s) + h, qmin, qmax),
 *  d = s·q − w: loss = dᵀ G d + lambda · Σ (1 − |2h − 1|^beta).
 *  @param k            values in the row, >= 1
 *  @param w            k weights
 *  @param scale        the row's scale, > 0
 *  @param gram         k · k values
 *  @param qmin, qmax   code range
 *  @param v            k relaxation variables
 *  @param lambda       regulariser weight (0: none)
 *  @param beta         regulariser exponent, >= 1
 *  @param loss         receives the loss
 *  @param grad         receives k values dloss/dv, or NULL
 *  @return #TQ_ERR_NULL, #TQ_ERR_PARAM. */
TQ_API tq_status tq_adaround_objective(int32_t k, const float *w, float scale,
                                       const double *gram, int32_t qmin,
                                       int32_t qmax, const double *v,
                                       double lambda, double beta,
                                       double *loss, double *grad);

/* ---- asymmetric AdaRound, bias correction on quantized inputs
 *      (issue 15 leftovers) ---- */

/** @brief More options of tq_graph_recover_ext() (tq_recovery_ext_init()
 *  gives the defaults in brackets). A separate struct so that
 *  ::tq_recovery_config keeps its layout; new options go into reserved
 *  fields (which must stay 0) or a new struct. */
typedef struct tq_recovery_ext {
    int32_t asymmetric;      /**< 1: AdaRound reconstructs each layer's
                                  FLOAT output W·x_f from the input x_q of
                                  the partly quantized network (the layers
                                  before it already rounded, their
                                  activations quantized), minimising
                                  mean ‖W~·x_q − W·x_f‖² over the sampled
                                  patches (Nagel et al. 2020, asymmetric
                                  reconstruction); layers are handled in
                                  execution order [0]. */
    int32_t bias_quantized;  /**< 1: empirical bias correction measures the
                                  mean pre-activation error on the partly
                                  quantized network's inputs,
                                  E[W~·x_q] − E[W·x_f], so it also removes
                                  the mean error the earlier layers and the
                                  activation quantization cause (needs
                                  bias_correction = EMPIRICAL) [0]. */
    int32_t reserved[6];     /**< Keep 0. */
} tq_recovery_ext;

/** @brief The defaults of ::tq_recovery_ext (all 0: tq_graph_recover()).
 *  @param ext  the options to fill
 *  @return #TQ_ERR_NULL. */
TQ_API tq_status tq_recovery_ext_init(tq_recovery_ext *ext);

/** @brief tq_graph_recover() with the options of ::tq_recovery_ext. With
 *  asymmetric or bias_quantized, each layer's statistics come from one
 *  pass of both graphs over @p inputs, taken after the layers before it
 *  were recovered (so the time grows with the number of layers).
 *  @param quantized  a graph made by tq_graph_quantize() from @p graph
 *  @param graph      the finalized float graph it was made from
 *  @param count      samples in @p inputs, >= 1
 *  @param inputs     count · (input elements) floats, all finite
 *  @param config     the options, or NULL for the defaults
 *  @param ext        the further options, or NULL for the defaults
 *  @return as tq_graph_recover(); #TQ_ERR_PARAM also for an ext field out
 *          of range or bias_quantized without empirical bias correction. */
TQ_API tq_status tq_graph_recover_ext(tq_graph *quantized,
                                      const tq_graph *graph, int64_t count,
                                      const float *inputs,
                                      const tq_recovery_config *config,
                                      const tq_recovery_ext *ext);

/** @brief The asymmetric AdaRound objective of one row and its closed-form
 *  gradient (exposed for testing): with q as in tq_adaround_objective(),
 *  u = scale·q, loss = uᵀ A u − 2 uᵀ t + c + lambda · Σ (1 − |2h − 1|^beta),
 *  which is the mean of (u·x_q − w·x_f)² over patches when A = mean x_q x_qᵀ,
 *  t = mean x_q (w·x_f) and c = mean (w·x_f)².
 *  @param k            values in the row, >= 1
 *  @param w            k weights (their floor(w / scale) anchors the codes)
 *  @param scale        the row's scale, > 0
 *  @param gram         A, k · k values
 *  @param target       t, k values
 *  @param constant     c
 *  @param qmin, qmax   code range
 *  @param v            k relaxation variables
 *  @param lambda       regulariser weight (0: none)
 *  @param beta         regulariser exponent, >= 1
 *  @param loss         receives the loss
 *  @param grad         receives k values dloss/dv, or NULL
 *  @return #TQ_ERR_NULL, #TQ_ERR_PARAM. */
TQ_API tq_status tq_adaround_objective_target(int32_t k, const float *w,
                                              float scale, const double *gram,
                                              const double *target,
                                              double constant, int32_t qmin,
                                              int32_t qmax, const double *v,
                                              double lambda, double beta,
                                              double *loss, double *grad);


/** @brief E[clamp(x, lo, hi)] for x ~ N(mean, std²), in closed form (the
 *  expected output of a BatchNorm + ReLU / ReLU6 channel, used by analytic
 *  bias correction).
 *  @param mean      the normal's mean
 *  @param std       its standard deviation, >= 0
 *  @param lo        lower clamp (may be −inf)
 *  @param hi        upper clamp (may be +inf), >= lo
 *  @param expected  receives the expectation
 *  @return #TQ_ERR_NULL, #TQ_ERR_PARAM (NaN, std < 0, hi < lo). */
TQ_API tq_status tq_expected_clamped_normal(double mean, double std,
                                            double lo, double hi,
                                            double *expected);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* TINYQ_H */
