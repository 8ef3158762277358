/*
 * Internal helpers shared by the compilation units of libtinyq.
 * Nothing here is part of the API; nothing here is exported.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_INTERNAL_H
#define TQ_INTERNAL_H

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyq.h"

/* The int8 arithmetic relies on arithmetic right shifts of negative values
 * (as TFLite and CMSIS-NN do). Every supported compiler does this; refuse to
 * build where it would not hold rather than compute something else. */
_Static_assert((-1 >> 1) == -1, "tinyq needs arithmetic right shifts");
_Static_assert(sizeof(float) == 4, "tinyq needs 32-bit float");

/* Return early with a status: keeps validation blocks short. */
#define TQ_CHECK(expr)                 \
    do {                               \
        tq_status tq__s = (expr);      \
        if (tq__s != TQ_OK)            \
            return tq__s;              \
    } while (0)

/* a * b into *out; returns 1 on size_t overflow (and leaves *out alone). */
static inline int tq__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 1;
    *out = a * b;
    return 0;
}

/* a + b into *out; returns 1 on size_t overflow. */
static inline int tq__add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return 1;
    *out = a + b;
    return 0;
}

/* n / d for n < 2^33 and d >= 1 without a 64-bit division: 32-bit CPUs
 * have no such instruction, and the library routine a compiler would call
 * for it costs a firmware almost a kilobyte. With h = n / 2 = q0·d + r0
 * (a 32-bit division), n = 2·q0·d + 2·r0 + (n & 1) and 2·r0 + (n & 1) <
 * 2·d, so the quotient is 2·q0 or 2·q0 + 1. */
static inline uint64_t tq__udiv_u33_u32(uint64_t n, uint32_t d)
{
    const uint32_t h = (uint32_t)(n >> 1);
    const uint32_t q0 = h / d, r0 = h - q0 * d;
    const uint64_t rest = 2 * (uint64_t)r0 + (n & 1u);
    return 2 * (uint64_t)q0 + (rest >= d);
}

/* Do two byte ranges overlap? Used for the TQ_ERR_ALIAS checks. */
static inline int tq__overlap(const void *a, size_t a_bytes, const void *b,
                              size_t b_bytes)
{
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    if (a_bytes == 0 || b_bytes == 0)
        return 0;
    return pa < pb + b_bytes && pb < pa + a_bytes;
}

/* One buffer of a call, for the TQ_ERR_ALIAS checks: its first byte and
 * its size in bytes (0, or a NULL pointer: the call has no such buffer). */
typedef struct tq__span {
    const void *p;
    size_t bytes;
} tq__span;

/* The one overlap rule of the kernels: no buffer a call writes (output,
 * scratch) may share a byte with any other buffer of the call, written or
 * read; buffers that are only read may share memory. @p w lists the @p nw
 * written buffers, @p r the @p nr read ones. TQ_ERR_ALIAS or TQ_OK. */
tq_status tq__check_alias(const tq__span *w, int nw, const tq__span *r,
                          int nr);

static inline int32_t tq__clamp_i32(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

static inline int32_t tq__sat_i64_to_i32(int64_t x)
{
    return x < INT32_MIN ? INT32_MIN : (x > INT32_MAX ? INT32_MAX : (int32_t)x);
}

/* ---- TFLite fixed-point requantization (docs/quantization.md) ---------- */

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31), ties
 * toward +infinity, saturating the one overflowing case. */
static inline int32_t tq__srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : (1 - (INT64_C(1) << 30));
    return (int32_t)((ab + nudge) / (INT64_C(1) << 31));
}

/* gemmlowp RoundingDivideByPOT: x / 2^e, ties away from zero; e in [0, 31]. */
static inline int32_t tq__rdbpot(int32_t x, int32_t e)
{
    const int32_t mask = (int32_t)((INT64_C(1) << e) - 1);
    const int32_t rem = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier, both rounding modes. Preconditions
 * (checked by the callers once per call, not per element): multiplier in
 * [0, 2^31 - 1], shift in [TQ_SHIFT_MIN, TQ_SHIFT_MAX].
 * The one rule of both modes (docs/quantization.md): the rounding TFLite
 * defines, applied to the exact product, and the result saturated to int32
 * (INT32_MAX / INT32_MIN). Double rounding: TFLite computes x * 2^left in
 * int32, undefined when it overflows; where it does not, this is TFLite's
 * result bit for bit; where it would, SRDHM's rounding is applied to the
 * exact x · 2^left · m: floor((x·m·2^left + 2^30) / 2^31), and saturated
 * (right is 0 then). Saturating x · 2^left first, as tinyq did before,
 * gave 2147483646 / -2147483647 for results far past int32 (issue 14). */
static inline int32_t tq__requant(int32_t x, int32_t multiplier, int32_t shift,
                                  int32_t rounding)
{
    if (rounding == TQ_ROUND_SINGLE) {
        const int32_t total = 31 - shift;
        const int64_t prod = (int64_t)x * multiplier;
        const int64_t round = INT64_C(1) << (total - 1);
        /* prod + round stays far inside int64: |prod| < 2^62. */
        return tq__sat_i64_to_i32((prod + round) >> total);
    }
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int64_t shifted = (int64_t)x * (INT64_C(1) << left);
    if (shifted < INT32_MIN || shifted > INT32_MAX) {
        /* left >= 1; |x·m| < 2^62, so adding 2^(30 - left) cannot
         * overflow, and floor((x·m·2^left + 2^30) / 2^31) is
         * floor((x·m + 2^(30 - left)) / 2^(31 - left)). */
        const int64_t q = (int64_t)x * multiplier;
        return tq__sat_i64_to_i32((q + (INT64_C(1) << (30 - left))) >>
                                  (31 - left));
    }
    return tq__rdbpot(tq__srdhm((int32_t)shifted, multiplier), right);
}

/* ---- float -> int quantization of one value ----------------------------
 * HALF_AWAY is TFLite's QUANTIZE: round(x / scale) in float, ties away from
 * zero. HALF_EVEN is PyTorch's fake_quantize: nearbyint(x * (1/scale)) with
 * inv_scale = 1.0f / scale computed in float. The clamp happens in float
 * before the conversion because converting an out-of-range float (or inf)
 * to int is undefined. NaN must be rejected by the caller. */
/* roundf(v) without the library call (x86-64 has no rounding instruction
 * in its baseline, so roundf is a call per element): for |v| <= 2^30 the
 * truncation is defined and v - trunc(v) is exact, so ties go away from
 * zero exactly as roundf does. Larger magnitudes (and infinities) come out
 * as ±2^30, which every caller saturates anyway; -0.0 may come out as +0.0.
 * v must not be NaN. */
static inline float tq__round_half_away(float v)
{
    const float big = 1073741824.0f; /* 2^30 */
    v = v > big ? big : (v < -big ? -big : v);
    const int32_t t = (int32_t)v;
    const float frac = v - (float)t;
    return (float)t + (frac >= 0.5f ? 1.0f : (frac <= -0.5f ? -1.0f : 0.0f));
}

static inline int32_t tq__quantize_one(float x, float scale, float inv_scale,
                                       int32_t zero_point, int32_t qmin,
                                       int32_t qmax, int32_t rounding)
{
    const float r = rounding == TQ_FROUND_HALF_EVEN
                        ? nearbyintf(x * inv_scale)
                        : tq__round_half_away(x / scale);
    if (r <= (float)(qmin - zero_point))
        return qmin;
    if (r >= (float)(qmax - zero_point))
        return qmax;
    return (int32_t)r + zero_point;
}

/* ---- validation shared by kernels (lib/core/geometry.c) --------------- */

/* All four extents >= 1. */
tq_status tq__check_dims(const tq_dims *d);

/* Validate conv geometry: params legal, pads >= 0, and out_h/out_w equal the
 * output-size formula for a kh x kw window. Batch and channels are the
 * caller's to check. */
tq_status tq__check_conv_geometry(const tq_conv_params *conv,
                                  const tq_dims *in, int32_t kh, int32_t kw,
                                  const tq_dims *out);

/* Output extents of a kh x kw convolution window over @p in: the height
 * first, so that a fault of both axes reports the height's status. */
tq_status tq__conv_output_hw(const tq_conv_params *conv, const tq_dims *in,
                             int32_t kh, int32_t kw, int32_t *oh,
                             int32_t *ow);

/* Channels of a grouped convolution (groups >= 1, already checked): Cin and
 * Cout divisible by groups, filter OHWI {Cout, ., ., Cin / groups}, else
 * TQ_ERR_SHAPE. */
tq_status tq__check_conv_groups(int32_t groups, const tq_dims *in,
                                const tq_dims *filter, const tq_dims *conv_out);

/* Is the convolution a plain product of the input pixels with the filter
 * (1x1 window, stride 1, no padding, one group)? Then the input itself is
 * the im2col matrix and the kernels skip the gather. */
int tq__conv_is_pointwise(const tq_conv_params *conv, int32_t kh, int32_t kw);

/* Validate pooling geometry (pads < window, output-size formula, N and C
 * equal between in and out). */
tq_status tq__check_pool_geometry(const tq_pool_params *pool,
                                  const tq_dims *in, const tq_dims *out);

/* The checks every depthwise convolution (f32, s8, s16, s4) starts with,
 * in this order: no NULL pointer; filter extents >= 1 and the convolution
 * geometry legal; filter {1, KH, KW, Cout} with Cout a multiple of Cin
 * (else TQ_ERR_SHAPE); KH·KW <= max_taps unless max_taps is 0 (else
 * TQ_ERR_OVERFLOW); then the element counts of in, filter and out into
 * *in_count, *filter_count and *out_count. Element sizes, the output stage
 * and aliasing are the caller's. max_taps is an int32_t, not an int64_t:
 * an 8-byte constant argument makes GCC move it through VFP registers on
 * a Cortex-M4F/M7, and the int8 firmware must hold no FPU instruction. */
tq_status tq__check_depthwise(const tq_conv_params *conv, const tq_dims *in,
                              const void *in_data, const tq_dims *filter,
                              const void *filter_data, const tq_dims *out,
                              const void *out_data, int32_t max_taps,
                              size_t *in_count, size_t *filter_count,
                              size_t *out_count);

/* The checks of an integer max or average pool on elem_size-byte elements,
 * in this order: no NULL pointer; legal pooling geometry; the element
 * counts; act_min <= act_max inside [lo, hi] (else TQ_ERR_PARAM); the byte
 * sizes (else TQ_ERR_OVERFLOW); out not overlapping in (else
 * TQ_ERR_ALIAS). */
tq_status tq__check_int_pool(const tq_pool_params *pool, const tq_dims *in,
                             const void *in_data, const tq_dims *out,
                             const void *out_data, size_t elem_size,
                             int32_t act_min, int32_t act_max, int32_t lo,
                             int32_t hi);

/* Element count of a tq_dims, overflow-checked. */
tq_status tq__dims_count(const tq_dims *d, size_t *count);

/* Validate an s8 output stage for `channels` output channels. */
tq_status tq__check_s8_output(const tq_s8_output *os, int32_t channels);

/* Validate an f32 clamp (NULL is "no clamp" and is accepted). */
tq_status tq__check_f32_act(const tq_f32_act *act);

/* ---- per-pixel geometry, inline because kernels call it per pixel ----- */

/* Pixel @p p of a row-major [N][h][w] grid as (n, y, x). */
static inline void tq__pixel_coords(size_t p, int32_t h, int32_t w,
                                    int32_t *n, int32_t *y, int32_t *x)
{
    const size_t row = p / (size_t)w;
    *x = (int32_t)(p % (size_t)w);
    *y = (int32_t)(row % (size_t)h);
    *n = (int32_t)(row / (size_t)h);
}

/* The pooling window of output position @p o along one axis, clipped to
 * the image [0, extent): [*lo, *hi). Padded taps are not part of it; the
 * pool geometry check (pads < window) keeps it non-empty. */
static inline void tq__pool_window(int32_t o, int32_t stride, int32_t pad,
                                   int32_t k, int32_t extent, int32_t *lo,
                                   int32_t *hi)
{
    /* int64: o · stride and the pads may each approach INT32_MAX. */
    const int64_t start = (int64_t)o * stride - pad;
    const int64_t end = start + k;
    *lo = (int32_t)(start < 0 ? 0 : start);
    *hi = (int32_t)(end > extent ? extent : end);
}

/* A tensor seen as [outer][shape[axis]][inner], 0 <= axis < ndim, of a
 * shape tq_tensor_numel() accepted: when the tensor is not empty both
 * products divide its element count, so neither can overflow. */
static inline void tq__axis_split(const tq_tensor *t, int32_t axis,
                                  size_t *outer, size_t *inner)
{
    size_t before = 1, after = 1;
    for (int32_t d = 0; d < axis; ++d)
        before *= (size_t)t->shape[d];
    for (int32_t d = axis + 1; d < t->ndim; ++d)
        after *= (size_t)t->shape[d];
    *outer = before;
    *inner = after;
}

#endif /* TQ_INTERNAL_H */
