/*
 * Requantization: TFLite's QuantizeMultiplier, the fixed-point
 * MultiplyByQuantizedMultiplier in both rounding modes, the s8 output stage
 * over a block of accumulators, and the clamp of fused activations.
 * The arithmetic itself lives in tq__requant (lib/tq_internal.h) and the
 * output stage in tq__s8_output_one (lib/s8/s8_internal.h), so that every
 * kernel shares one copy.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>

#include "../tq_internal.h"
#include "../s8/s8_internal.h" /* tq__s8_output_one: the one output stage */

tq_status tq_quantize_multiplier(double real, int32_t *multiplier,
                                 int32_t *shift)
{
    if (!multiplier || !shift)
        return TQ_ERR_NULL;
    if (!isfinite(real) || real < 0.0)
        return TQ_ERR_PARAM;
    if (real == 0.0) {
        *multiplier = 0;
        *shift = 0;
        return TQ_OK;
    }
    if (real >= 2147483648.0)
        return TQ_ERR_PARAM;
    int e;
    const double q = frexp(real, &e); /* real = q · 2^e, q in [0.5, 1) */
    int64_t m = (int64_t)round(ldexp(q, 31)); /* ties away from zero */
    if (m == (INT64_C(1) << 31)) {
        m = INT64_C(1) << 30;
        ++e;
    }
    if (e < -31) {
        *multiplier = 0;
        *shift = 0;
        return TQ_OK;
    }
    /* TFLite would hand back shift 31 or 32 here (real >= 2^30 - 1/4),
     * which no kernel can apply: x · 2^31 overflows for every x != 0. */
    if (e > TQ_SHIFT_MAX)
        return TQ_ERR_PARAM;
    *multiplier = (int32_t)m;
    *shift = e;
    return TQ_OK;
}

static int rounding_ok(int32_t rounding)
{
    return rounding == TQ_ROUND_DOUBLE || rounding == TQ_ROUND_SINGLE;
}

tq_status tq_requantize(int32_t x, int32_t multiplier, int32_t shift,
                        int32_t rounding, int32_t *result)
{
    if (!result)
        return TQ_ERR_NULL;
    if (multiplier < 0 || shift < TQ_SHIFT_MIN || shift > TQ_SHIFT_MAX ||
        !rounding_ok(rounding))
        return TQ_ERR_PARAM;
    *result = tq__requant(x, multiplier, shift, rounding);
    return TQ_OK;
}

int8_t tq__s8_output_shared(const tq_s8_output *os, int32_t acc, int32_t ch)
{
    return tq__s8_output_inline(os, acc, ch);
}

/* Bytes spanned by @p rows rows of @p cols elements @p ld apart, or 1 on
 * size_t overflow. rows, cols >= 1. */
static int span_bytes(int32_t rows, int32_t cols, int32_t ld, size_t elem,
                      size_t *bytes)
{
    size_t a, b;
    return tq__mul_size((size_t)(rows - 1), (size_t)ld, &a) ||
           tq__add_size(a, (size_t)cols, &b) || tq__mul_size(b, elem, bytes);
}

tq_status tq_s8_requantize_rows(int32_t rows, int32_t channels,
                                const int32_t *acc, int32_t ld_acc,
                                const tq_s8_output *os, int8_t *out,
                                int32_t ld_out)
{
    size_t acc_bytes = 0, out_bytes = 0;
    if (!os)
        return TQ_ERR_NULL;
    if (rows < 0 || channels < 0 || ld_acc < channels || ld_out < channels)
        return TQ_ERR_SHAPE;
    TQ_CHECK(tq__check_s8_output(os, channels));
    if (rows == 0 || channels == 0)
        return TQ_OK;
    if (!acc || !out)
        return TQ_ERR_NULL;
    if (span_bytes(rows, channels, ld_acc, sizeof(int32_t), &acc_bytes) ||
        span_bytes(rows, channels, ld_out, sizeof(int8_t), &out_bytes))
        return TQ_ERR_OVERFLOW;
    const tq__span writes[1] = {{out, out_bytes}};
    tq__span reads[4] = {{acc, acc_bytes}};
    tq__s8_stage_spans(os, NULL, channels, reads + 1);
    TQ_CHECK(tq__check_alias(writes, 1, reads, 4));

    for (int32_t r = 0; r < rows; ++r) {
        const int32_t *a = acc + (size_t)r * (size_t)ld_acc;
        int8_t *o = out + (size_t)r * (size_t)ld_out;
        for (int32_t c = 0; c < channels; ++c)
            o[c] = tq__s8_output_one(os, a[c], c);
    }
    return TQ_OK;
}

/* TFLite's Quantize(f) = zp + (int)round(f / scale), clamped to int8. The
 * quotient is in float as TFLite computes it; the clamp happens in double
 * before any conversion, since f / scale may be huge or infinite. */
static int32_t quantize_clamped(float f, float scale, int32_t zero_point)
{
    const double v = (double)zero_point + (double)roundf(f / scale);
    return v < -128.0 ? -128 : (v > 127.0 ? 127 : (int32_t)v);
}

tq_status tq_s8_activation_range(int32_t act, float scale, int32_t zero_point,
                                 int32_t *act_min, int32_t *act_max)
{
    if (!act_min || !act_max)
        return TQ_ERR_NULL;
    if (!(scale > 0.0f) || !isfinite(scale) || zero_point < -128 ||
        zero_point > 127)
        return TQ_ERR_PARAM;
    int32_t lo = -128, hi = 127;
    switch (act) {
    case TQ_ACT_NONE:
        break;
    case TQ_ACT_RELU:
        lo = quantize_clamped(0.0f, scale, zero_point);
        break;
    case TQ_ACT_RELU6:
        lo = quantize_clamped(0.0f, scale, zero_point);
        hi = quantize_clamped(6.0f, scale, zero_point);
        break;
    default:
        return TQ_ERR_PARAM;
    }
    *act_min = lo;
    *act_max = hi;
    return TQ_OK;
}
