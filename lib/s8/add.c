/*
 * int8 elementwise ADD with TFLite's arithmetic: both inputs are shifted
 * left by 20 bits, rescaled to the common scale 2·max(s1, s2), summed, and
 * the sum is requantized to the output scale.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"
#include "s8_internal.h"

/* Largest left_shift accepted: (x + offset) is in [-255, 255], so the
 * shifted value stays below 2^28 and the sum of two rescaled values below
 * 2^29. TFLite always uses 20 for int8. */
#define ADD_MAX_LEFT_SHIFT 20

static int valid_scale(float s)
{
    return isfinite(s) && s > 0.0f;
}

tq_status tq_s8_add_params_from_scales(float scale1, int32_t zero_point1,
                                       float scale2, int32_t zero_point2,
                                       float scale_out, int32_t zero_point_out,
                                       int32_t act_min, int32_t act_max,
                                       int32_t rounding,
                                       tq_s8_add_params *params)
{
    tq_s8_add_params p;
    if (!params)
        return TQ_ERR_NULL;
    if (!valid_scale(scale1) || !valid_scale(scale2) ||
        !valid_scale(scale_out) || zero_point1 < -128 || zero_point1 > 127 ||
        zero_point2 < -128 || zero_point2 > 127 || zero_point_out < -128 ||
        zero_point_out > 127 || act_min < -128 || act_max > 127 ||
        act_min > act_max ||
        (rounding != TQ_ROUND_DOUBLE && rounding != TQ_ROUND_SINGLE))
        return TQ_ERR_PARAM;

    /* The same mix of float and double as TFLite's Prepare:
     * 2 * std::max(float, float) and (1 << 20) * float are float products
     * (exact powers of two unless they overflow), the quotients double. */
    const float max_scale = scale1 > scale2 ? scale1 : scale2;
    const float twice_max_f = 2.0f * max_scale;
    const float out_denom_f = (float)(1 << ADD_MAX_LEFT_SHIFT) * scale_out;
    if (!isfinite(twice_max_f) || !isfinite(out_denom_f))
        return TQ_ERR_PARAM;
    const double twice_max = (double)twice_max_f;
    const double real1 = (double)scale1 / twice_max;
    const double real2 = (double)scale2 / twice_max;
    const double real_out = twice_max / (double)out_denom_f;

    p.input1_offset = -zero_point1;
    p.input2_offset = -zero_point2;
    p.left_shift = ADD_MAX_LEFT_SHIFT;
    p.output_offset = zero_point_out;
    p.act_min = act_min;
    p.act_max = act_max;
    p.rounding = rounding;
    /* real1, real2 are in (0, 0.5]: their shifts are <= 0 as required.
     * real_out may be 1 or more (TFLite refuses that, tinyq gives a positive
     * shift); from 2^30 - 1/4 up it needs a shift past TQ_SHIFT_MAX, which
     * tq_quantize_multiplier() reports as TQ_ERR_PARAM. */
    TQ_CHECK(tq_quantize_multiplier(real1, &p.input1_multiplier,
                                    &p.input1_shift));
    TQ_CHECK(tq_quantize_multiplier(real2, &p.input2_multiplier,
                                    &p.input2_shift));
    TQ_CHECK(tq_quantize_multiplier(real_out, &p.output_multiplier,
                                    &p.output_shift));
    *params = p;
    return TQ_OK;
}

static tq_status check_params(const tq_s8_add_params *p)
{
    if (p->input1_offset < -127 || p->input1_offset > 128 ||
        p->input2_offset < -127 || p->input2_offset > 128 ||
        p->output_offset < -128 || p->output_offset > 127 ||
        p->input1_multiplier < 0 || p->input2_multiplier < 0 ||
        p->output_multiplier < 0 || p->input1_shift < TQ_SHIFT_MIN ||
        p->input1_shift > 0 || p->input2_shift < TQ_SHIFT_MIN ||
        p->input2_shift > 0 || p->output_shift < TQ_SHIFT_MIN ||
        p->output_shift > TQ_SHIFT_MAX || p->left_shift < 0 ||
        p->left_shift > ADD_MAX_LEFT_SHIFT || p->act_min < -128 ||
        p->act_max > 127 || p->act_min > p->act_max ||
        (p->rounding != TQ_ROUND_DOUBLE && p->rounding != TQ_ROUND_SINGLE))
        return TQ_ERR_PARAM;
    return TQ_OK;
}

/* Exact aliasing is fine (each element is read before it is written);
 * any other overlap would read already-written outputs. */
static int bad_alias(const int8_t *x, const int8_t *out, size_t n)
{
    return x != out && tq__overlap(x, n, out, n);
}

/* The reference of the dispatch entry s8_add (lib/arch/dispatch.h). */
void tq__s8_add_ref(size_t n, const int8_t *a, const int8_t *b,
                    const tq_s8_add_params *params, int8_t *out)
{
    const tq_s8_add_params p = *params;
    for (size_t i = 0; i < n; ++i) {
        /* (x + offset) << left_shift < 2^28: no overflow (see the limit). */
        const int32_t v1 = ((int32_t)a[i] + p.input1_offset) *
                           (INT32_C(1) << p.left_shift);
        const int32_t v2 = ((int32_t)b[i] + p.input2_offset) *
                           (INT32_C(1) << p.left_shift);
        const int32_t s1 =
            tq__requant(v1, p.input1_multiplier, p.input1_shift, p.rounding);
        const int32_t s2 =
            tq__requant(v2, p.input2_multiplier, p.input2_shift, p.rounding);
        const int64_t r =
            (int64_t)tq__requant(s1 + s2, p.output_multiplier, p.output_shift,
                                 p.rounding) +
            p.output_offset;
        out[i] = (int8_t)(r < p.act_min ? p.act_min
                                        : (r > p.act_max ? p.act_max : r));
    }
}

tq_status tq_s8_add(size_t n, const int8_t *a, const int8_t *b,
                    const tq_s8_add_params *params, int8_t *out)
{
    if (!params)
        return TQ_ERR_NULL;
    if (n > 0 && (!a || !b || !out))
        return TQ_ERR_NULL;
    TQ_CHECK(check_params(params));
    if (n > 0 && (bad_alias(a, out, n) || bad_alias(b, out, n)))
        return TQ_ERR_ALIAS;

    if (n > 0)
        tq__s8_add_entry(tq__get_ukernels())(n, a, b, params, out);
    return TQ_OK;
}
