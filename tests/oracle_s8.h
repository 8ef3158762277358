/*
 * The int8 requantization oracle shared by the s8 kernel tests: TFLite's
 * formulas from docs/int8-arithmetic.md written again in int64, so it
 * never calls the library (no tq__requant, no internals) and a mistake in
 * the library cannot hide in it. Also the end of a random output stage,
 * which the conv and GEMM tests draw alike.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_TEST_ORACLE_S8_H
#define TQ_TEST_ORACLE_S8_H

#include <stdint.h>

#include "testutil.h"
#include "tinyq.h"

static inline int64_t o_sat32(int64_t x)
{
    return x < INT32_MIN ? INT32_MIN : (x > INT32_MAX ? INT32_MAX : x);
}

static inline int64_t o_clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* SaturatingRoundingDoublingHighMul. */
static inline int64_t o_srdhm(int64_t a, int64_t b)
{
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    const int64_t ab = a * b;
    const int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : 1 - (INT64_C(1) << 30);
    return (ab + nudge) / (INT64_C(1) << 31);
}

/* RoundingDivideByPOT: ties away from zero. */
static inline int64_t o_rdbpot(int64_t x, int e)
{
    const int64_t mask = (INT64_C(1) << e) - 1;
    const int64_t rem = x & mask;
    const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > threshold ? 1 : 0);
}

/* MultiplyByQuantizedMultiplier. Where TFLite's int32 x · 2^left would
 * overflow (undefined there), tinyq's rule: SRDHM's rounding (ties up) of
 * the exact x · 2^left · m / 2^31, saturated to int32. */
static inline int64_t o_requant(int64_t x, int64_t m, int shift, int rounding)
{
    if (rounding == TQ_ROUND_SINGLE) {
        const int total = 31 - shift;
        return o_sat32((x * m + (INT64_C(1) << (total - 1))) >> total);
    }
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    const int64_t a = x * (INT64_C(1) << left);
    if (a < INT32_MIN || a > INT32_MAX) {
        /* x·m·2^left / 2^31 = x·m / 2^(31 - left); rounded half up. */
        const int64_t d = INT64_C(1) << (31 - left);
        const int64_t p = x * m;
        const int64_t fl = p / d - ((p % d != 0) && (p < 0));
        const int64_t rem = p - fl * d;
        return o_sat32(fl + (2 * rem >= d ? 1 : 0));
    }
    return o_rdbpot(o_srdhm(a, m), right);
}

/* One output of the s8 output stage: requantize an int32 accumulator, add
 * the zero point, clamp to [lo, hi]. */
static inline int8_t o_output(int64_t acc, int64_t m, int shift, int rounding,
                              int zp, int lo, int hi)
{
    return (int8_t)o_clamp(o_requant(acc, m, shift, rounding) + zp, lo, hi);
}

/* A per-tensor or per-channel output stage with room for its multipliers. */
typedef struct stage {
    int32_t mult[160], shift[160];
    tq_s8_output os;
} stage;

/* The stage applied to channel ch of an exact (unsaturated) accumulator:
 * the accumulator saturates to int32 first, as the kernels' sum does. */
static inline int8_t o_stage(const stage *s, int64_t acc, int ch)
{
    const int i = s->os.per_channel ? ch : 0;
    return o_output(o_sat32(acc), s->mult[i], s->shift[i], s->os.rounding,
                    s->os.output_offset, s->os.act_min, s->os.act_max);
}

/* ---- random stages (not oracle: shared set-up) --------------------------- */

/* Completes a random stage whose multipliers and shifts are drawn: the
 * rounding, an output zero point (an extreme one, -128 or 127, when a draw
 * of 1 in extreme_one_in hits), and a clamp: ReLU from the zero point, a
 * random narrower range, or none. */
static inline void finish_random_stage(tt_rng *r, stage *s, int per_channel,
                                       int32_t extreme_one_in)
{
    s->os.multiplier = s->mult;
    s->os.shift = s->shift;
    s->os.per_channel = per_channel;
    s->os.rounding = tt_int(r, 0, 1) ? TQ_ROUND_SINGLE : TQ_ROUND_DOUBLE;
    s->os.output_offset = tt_int(r, 0, extreme_one_in - 1) == 0
                              ? (tt_int(r, 0, 1) ? -128 : 127)
                              : tt_int(r, -128, 127);
    switch (tt_int(r, 0, 3)) {
    case 0: /* ReLU */
        s->os.act_min = s->os.output_offset;
        s->os.act_max = 127;
        break;
    case 1: /* ReLU6-like */
        s->os.act_min = tt_int(r, -128, 0);
        s->os.act_max = tt_int(r, s->os.act_min, 127);
        break;
    default:
        s->os.act_min = -128;
        s->os.act_max = 127;
    }
}

#endif /* TQ_TEST_ORACLE_S8_H */
