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
 *  9. @ref tq_host_sec "host helpers"     - heap, safetensors, CIFAR-10 (not in
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
#define TQ_VERSION_MINOR 3
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
    TQ_S32 = 3  /**< int32_t. */
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
 *  says otherwise. */
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
 *  in the chosen rounding mode, saturated to int32.
 *  @param x          the int32 accumulator
 *  @param multiplier in [0, 2^31 − 1]
 *  @param shift      in [#TQ_SHIFT_MIN, #TQ_SHIFT_MAX]
 *  @param rounding   a ::tq_rounding
 *  @param result     receives the requantized value */
TQ_API tq_status tq_requantize(int32_t x, int32_t multiplier, int32_t shift,
                               int32_t rounding, int32_t *result);

/** @brief The output stage of every s8 kernel: requantize, add the output
 *  zero point, clamp. Multipliers and shifts are per output channel when
 *  tq_s8_output::per_channel is 1, else entry 0 serves every channel. */
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
 *  empty block writes nothing and accepts NULL buffers; the buffers must
 *  not overlap (#TQ_ERR_ALIAS). */
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
 *  (in + pad_before + pad_after − dilation·(k − 1) − 1) / stride + 1. */
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
 *  must equal (in + pad_before + pad_after − k) / stride + 1. */
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

/** @} */

/* ======================================================================== */
/** @defgroup tq_s8_sec s8 kernels
 *  The int8 path, bit-exact with the TFLite int8 reference kernels and
 *  CMSIS-NN. Activations are asymmetric int8: the kernels take
 *  input_offset = −zero_point_in (in [−127, 128]) and the ::tq_s8_output
 *  output_offset = +zero_point_out. Conv and depthwise weights are symmetric
 *  (no weight offset). Biases are int32 at scale s_in · s_w[c], or NULL.
 *
 *  One output element:
 *  acc = Σ w · (x + input_offset) + bias, then the ::tq_s8_output stage.
 *  Accumulation is int32: the reduction length (kh·kw·cin/groups, or K) is
 *  limited to #TQ_S8_MAX_REDUCTION so that no sum can overflow; longer ones
 *  get #TQ_ERR_OVERFLOW.
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
 *          scratch, #TQ_ERR_ALIAS if @p out or the scratch overlaps @p in
 *          or each other. */
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
 *  must not overlap @p in (#TQ_ERR_ALIAS). */
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
 *  #TQ_S8_MAX_REDUCTION; @p out must not overlap @p in or @p weights. */
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

/** @brief Pack symmetric int8 weights [n][k] (row stride @p ldw >= k) once,
 *  ahead of inference, for tq_s8_fully_connected_packed(): the layout the
 *  microkernels read without rearranging anything per call, and each row's
 *  sum, which the input zero point's fold needs.
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
 *  @param w            the weight codes, symmetric (zero point 0)
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
 *          for a short buffer, #TQ_ERR_ALIAS if @p out overlaps @p in or
 *          @p packed. */
TQ_API tq_status tq_s8_fully_connected_packed(
    int32_t batch, int32_t in_features, int32_t out_features, const int8_t *in,
    int32_t input_offset, const void *packed, size_t packed_bytes,
    const int32_t *bias, const tq_s8_output *os, int8_t *out);

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
 *  [act_min, act_max] (−128 <= act_min <= act_max <= 127); the output keeps
 *  the input's scale and zero point. @p out must not overlap @p in. */
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

/** @brief Quantize @p n floats to int8 as TFLite's QUANTIZE:
 *  clamp(round(x / scale) + zero_point, −128, 127), ties away from zero.
 *  Infinities saturate; a NaN gives #TQ_ERR_NOT_FINITE (nothing written). */
TQ_API tq_status tq_s8_quantize_f32(size_t n, const float *in, float scale,
                                    int32_t zero_point, int8_t *out);

/** @brief Dequantize @p n int8 values: (q − zero_point) · scale. */
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
 *  leading zero); strings may not contain control characters or an escaped
 *  NUL; at most 1,000,000 tensors. Every dtype of the format parses (see
 *  tq_safetensors_get() for those tinyq can use).
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
 *  order given. The file is written to a temporary name (@p path + ".tmp")
 *  and renamed, so a failure never leaves a partial file behind.
 *  @return #TQ_ERR_NULL (a NULL pointer, or NULL data for a non-empty
 *          tensor), #TQ_ERR_PARAM (negative counts, more than 1,000,000
 *          tensors, an empty path, a name that is empty, "__metadata__",
 *          repeated or not UTF-8, repeated metadata keys, keys or values not
 *          UTF-8), #TQ_ERR_DTYPE, #TQ_ERR_SHAPE (ndim or a negative
 *          extent), #TQ_ERR_OVERFLOW (a byte count past size_t, an extent or
 *          offset of 2^53 or more, a header over 100,000,000 bytes),
 *          #TQ_ERR_NO_MEMORY, #TQ_ERR_IO. */
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

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* TINYQ_H */
