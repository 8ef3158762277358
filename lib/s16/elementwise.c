/*
 * int16 elementwise ADD and MUL with TFLite's arithmetic (zero points 0):
 * ADD shifts both inputs left by 15 bits (20 for int8), rescales them to
 * the common scale 2·max(s1, s2), sums and requantizes the sum; MUL
 * requantizes the exact int32 product.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "s16_internal.h"

/* TFLite's left shift for int16 ADD: |x| << 15 <= 2^30, each rescaled
 * value (multiplier <= 1/2) at most 2^29, their sum at most 2^30. */
#define ADD_LEFT_SHIFT 15

static int valid_scale(float s)
{
    return isfinite(s) && s > 0.0f;
}

static int valid_clamp(int32_t lo, int32_t hi)
{
    return lo >= INT16_MIN && hi <= INT16_MAX && lo <= hi;
}

static int valid_rounding(int32_t r)
{
    return r == TQ_ROUND_DOUBLE || r == TQ_ROUND_SINGLE;
}

tq_status tq_s16_add_params_from_scales(float scale1, float scale2,
                                        float scale_out, int32_t act_min,
                                        int32_t act_max, int32_t rounding,
                                        tq_s8_add_params *params)
{
    tq_s8_add_params p;
    if (!params)
        return TQ_ERR_NULL;
    if (!valid_scale(scale1) || !valid_scale(scale2) ||
        !valid_scale(scale_out) || !valid_clamp(act_min, act_max) ||
        !valid_rounding(rounding))
        return TQ_ERR_PARAM;
    /* TFLite's Prepare: 2·max(s1, s2) and 2^15·s_out in float, the
     * quotients in double. */
    const float max_scale = scale1 > scale2 ? scale1 : scale2;
    const float twice_max_f = 2.0f * max_scale;
    const float out_denom_f = (float)(1 << ADD_LEFT_SHIFT) * scale_out;
    if (!isfinite(twice_max_f) || !isfinite(out_denom_f))
        return TQ_ERR_PARAM;
    const double twice_max = (double)twice_max_f;
    p.input1_offset = 0;
    p.input2_offset = 0;
    p.left_shift = ADD_LEFT_SHIFT;
    p.output_offset = 0;
    p.act_min = act_min;
    p.act_max = act_max;
    p.rounding = rounding;
    TQ_CHECK(tq_quantize_multiplier((double)scale1 / twice_max,
                                    &p.input1_multiplier, &p.input1_shift));
    TQ_CHECK(tq_quantize_multiplier((double)scale2 / twice_max,
                                    &p.input2_multiplier, &p.input2_shift));
    TQ_CHECK(tq_quantize_multiplier(twice_max / (double)out_denom_f,
                                    &p.output_multiplier, &p.output_shift));
    *params = p;
    return TQ_OK;
}

static tq_status check_add(const tq_s8_add_params *p)
{
    if (p->input1_offset != 0 || p->input2_offset != 0 ||
        p->output_offset != 0 || p->input1_multiplier < 0 ||
        p->input2_multiplier < 0 || p->output_multiplier < 0 ||
        p->input1_shift < TQ_SHIFT_MIN || p->input1_shift > 0 ||
        p->input2_shift < TQ_SHIFT_MIN || p->input2_shift > 0 ||
        p->output_shift < TQ_SHIFT_MIN || p->output_shift > TQ_SHIFT_MAX ||
        p->left_shift < 0 || p->left_shift > ADD_LEFT_SHIFT ||
        !valid_clamp(p->act_min, p->act_max) || !valid_rounding(p->rounding))
        return TQ_ERR_PARAM;
    return TQ_OK;
}

/* Exact aliasing is fine (each element is read before it is written). */
static int bad_alias(const int16_t *x, const int16_t *out, size_t n)
{
    return x != out && tq__overlap(x, n * sizeof(int16_t), out,
                                   n * sizeof(int16_t));
}

static tq_status check_arrays(size_t n, const int16_t *a, const int16_t *b,
                              const int16_t *out)
{
    if (n == 0)
        return TQ_OK;
    if (!a || !b || !out)
        return TQ_ERR_NULL;
    if (n > SIZE_MAX / sizeof(int16_t))
        return TQ_ERR_OVERFLOW;
    if (bad_alias(a, out, n) || bad_alias(b, out, n))
        return TQ_ERR_ALIAS;
    return TQ_OK;
}

static int16_t clamp16(int64_t v, int32_t lo, int32_t hi)
{
    return (int16_t)(v < lo ? lo : (v > hi ? hi : v));
}

tq_status tq_s16_add(size_t n, const int16_t *a, const int16_t *b,
                     const tq_s8_add_params *params, int16_t *out)
{
    if (!params)
        return TQ_ERR_NULL;
    TQ_CHECK(check_add(params));
    TQ_CHECK(check_arrays(n, a, b, out));
    const tq_s8_add_params p = *params;
    for (size_t i = 0; i < n; ++i) {
        const int32_t v1 = (int32_t)a[i] * (INT32_C(1) << p.left_shift);
        const int32_t v2 = (int32_t)b[i] * (INT32_C(1) << p.left_shift);
        const int32_t s1 =
            tq__requant(v1, p.input1_multiplier, p.input1_shift, p.rounding);
        const int32_t s2 =
            tq__requant(v2, p.input2_multiplier, p.input2_shift, p.rounding);
        /* |s1|, |s2| <= 2^30 (multipliers below 2^31): the int64 sum is
         * exact, and with TFLite's multipliers (<= 1/2) it fits int32. */
        const int32_t sum = tq__sat_i64_to_i32((int64_t)s1 + s2);
        out[i] = clamp16(tq__requant(sum, p.output_multiplier, p.output_shift,
                                     p.rounding),
                         p.act_min, p.act_max);
    }
    return TQ_OK;
}

tq_status tq_s16_mul_params_from_scales(float scale1, float scale2,
                                        float scale_out, int32_t act_min,
                                        int32_t act_max, int32_t rounding,
                                        tq_s16_mul_params *params)
{
    tq_s16_mul_params p;
    if (!params)
        return TQ_ERR_NULL;
    if (!valid_scale(scale1) || !valid_scale(scale2) ||
        !valid_scale(scale_out) || !valid_clamp(act_min, act_max) ||
        !valid_rounding(rounding))
        return TQ_ERR_PARAM;
    TQ_CHECK(tq_quantize_multiplier((double)scale1 * (double)scale2 /
                                        (double)scale_out,
                                    &p.output_multiplier, &p.output_shift));
    p.act_min = act_min;
    p.act_max = act_max;
    p.rounding = rounding;
    *params = p;
    return TQ_OK;
}

tq_status tq_s16_mul(size_t n, const int16_t *a, const int16_t *b,
                     const tq_s16_mul_params *params, int16_t *out)
{
    if (!params)
        return TQ_ERR_NULL;
    if (params->output_multiplier < 0 || params->output_shift < TQ_SHIFT_MIN ||
        params->output_shift > TQ_SHIFT_MAX ||
        !valid_clamp(params->act_min, params->act_max) ||
        !valid_rounding(params->rounding))
        return TQ_ERR_PARAM;
    TQ_CHECK(check_arrays(n, a, b, out));
    const tq_s16_mul_params p = *params;
    for (size_t i = 0; i < n; ++i) {
        /* |a · b| <= 2^30: exact in int32. */
        const int32_t prod = (int32_t)a[i] * (int32_t)b[i];
        out[i] = clamp16(tq__requant(prod, p.output_multiplier,
                                     p.output_shift, p.rounding),
                         p.act_min, p.act_max);
    }
    return TQ_OK;
}
