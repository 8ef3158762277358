/*
 * Internal pieces shared by the 16x8 kernels (int16 activations, int8
 * weights): TFLite's int64 requantization, the output stage of one
 * accumulator, validation, and the dispatched inner product. Nothing here
 * is exported.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_S16_INTERNAL_H
#define TQ_S16_INTERNAL_H

#include "../tq_internal.h"

/* TFLite's documented input range of its int64 requantization. */
#define TQ__S16_ACC_MAX ((INT64_C(1) << 47) - 1)
#define TQ__S16_ACC_MIN (-(INT64_C(1) << 47))

/* The int64 overload of MultiplyByQuantizedMultiplier (tinyq.h,
 * tq_requantize64). Preconditions, checked once per call by the callers:
 * x in [-2^47, 2^47 - 1], multiplier in [0, 2^31 - 1], shift in
 * [TQ_SHIFT_MIN, TQ_S16_SHIFT_MAX]. Then |x · reduced| < 2^47 · 2^15 = 2^62
 * and the rounding term is at most 2^45: no int64 overflow. */
static inline int32_t tq__requant64(int64_t x, int32_t multiplier,
                                    int32_t shift)
{
    const int64_t reduced = multiplier < 0x7FFF0000
                                ? ((int64_t)multiplier + (1 << 15)) >> 16
                                : 0x7FFF;
    const int32_t total = 15 - shift;
    const int64_t round = INT64_C(1) << (total - 1);
    const int64_t y = (x * reduced + round) >> total;
    return tq__sat_i64_to_i32(y);
}

/* a + b saturated to int64 (a bias may be any int64). */
static inline int64_t tq__s16_add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* The bias of a 16x8 kernel: its dtype chooses the arithmetic. */
typedef struct tq__s16_bias {
    const void *data; /* NULL: zero */
    int32_t dtype;    /* TQ_S64 or TQ_S32 */
} tq__s16_bias;

/* The spans of a validated output stage's multiplier and shift arrays for
 * @p channels output channels, and of a bias of @p channels values of
 * @p bias_dtype (absent when @p bias is NULL), for tq__check_alias(): the
 * same overlap rule as the int8 kernels (tq__s8_stage_spans()). */
static inline void tq__s16_stage_spans(const tq_s16_output *os,
                                       const void *bias, int32_t bias_dtype,
                                       int32_t channels, tq__span spans[3])
{
    const size_t count = os->per_channel ? (size_t)channels : 1;
    const size_t bias_size = bias_dtype == TQ_S64 ? sizeof(int64_t)
                                                  : sizeof(int32_t);
    spans[0].p = os->multiplier;
    spans[0].bytes = count * sizeof(int32_t);
    spans[1].p = os->shift;
    spans[1].bytes = count * sizeof(int32_t);
    spans[2].p = bias;
    spans[2].bytes = bias ? (size_t)channels * bias_size : 0;
}

/* Validate the bias dtype and the output stage of @p channels outputs. */
tq_status tq__s16_check_stage(int32_t bias_dtype, const tq_s16_output *os,
                              int32_t channels);

/* The output of channel @p ch from the exact sum Σ w·x (|sum| <= 2^46). */
static inline int16_t tq__s16_output_one(const tq_s16_output *os,
                                         const tq__s16_bias *bias,
                                         int64_t sum, int32_t ch)
{
    const int32_t i = os->per_channel ? ch : 0;
    int64_t v;
    if (bias->dtype == TQ_S64) {
        int64_t acc = bias->data
                          ? tq__s16_add_sat(sum, ((const int64_t *)bias->data)[ch])
                          : sum;
        acc = acc < TQ__S16_ACC_MIN ? TQ__S16_ACC_MIN
                                    : (acc > TQ__S16_ACC_MAX ? TQ__S16_ACC_MAX : acc);
        v = tq__requant64(acc, os->multiplier[i], os->shift[i]);
    } else {
        /* |sum| <= 2^46 and |bias| < 2^31: the int64 sum is exact. */
        const int64_t acc =
            sum + (bias->data ? ((const int32_t *)bias->data)[ch] : 0);
        v = tq__requant(tq__sat_i64_to_i32(acc), os->multiplier[i],
                        os->shift[i], os->rounding);
    }
    return (int16_t)(v < os->act_min ? os->act_min
                                     : (v > os->act_max ? os->act_max : v));
}

/* Σ_p x[p] · w[p] over k <= TQ_S16_MAX_REDUCTION products, exact: the
 * dispatch entry s16_dot, whose reference is tq__s16_dot_ref(). */
int64_t tq__s16_dot_ref(const int16_t *x, const int8_t *w, int32_t k);

#endif /* TQ_S16_INTERNAL_H */
