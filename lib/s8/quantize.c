/*
 * float <-> int8 conversion at a network's edges (TFLite QUANTIZE and
 * DEQUANTIZE, per tensor).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "s8_internal.h"

static tq_status check_qparams(float scale, int32_t zero_point)
{
    if (!isfinite(scale) || !(scale > 0.0f) || zero_point < -128 ||
        zero_point > 127)
        return TQ_ERR_PARAM;
    return TQ_OK;
}

tq_status tq_s8_quantize_f32(size_t n, const float *in, float scale,
                             int32_t zero_point, int8_t *out)
{
    size_t in_bytes;
    if (n > 0 && (!in || !out))
        return TQ_ERR_NULL;
    TQ_CHECK(check_qparams(scale, zero_point));
    if (tq__mul_size(n, sizeof(float), &in_bytes))
        return TQ_ERR_OVERFLOW;
    if (tq__overlap(in, in_bytes, out, n))
        return TQ_ERR_ALIAS;
    /* A NaN anywhere fails the call before anything is written. */
    for (size_t i = 0; i < n; ++i)
        if (isnan(in[i]))
            return TQ_ERR_NOT_FINITE;
    const float inv_scale = 1.0f / scale;
    for (size_t i = 0; i < n; ++i)
        out[i] = (int8_t)tq__quantize_one(in[i], scale, inv_scale, zero_point,
                                          -128, 127, TQ_FROUND_HALF_AWAY);
    return TQ_OK;
}

tq_status tq_s8_dequantize_f32(size_t n, const int8_t *in, float scale,
                               int32_t zero_point, float *out)
{
    size_t out_bytes;
    if (n > 0 && (!in || !out))
        return TQ_ERR_NULL;
    TQ_CHECK(check_qparams(scale, zero_point));
    if (tq__mul_size(n, sizeof(float), &out_bytes))
        return TQ_ERR_OVERFLOW;
    if (tq__overlap(in, n, out, out_bytes))
        return TQ_ERR_ALIAS;
    for (size_t i = 0; i < n; ++i)
        out[i] = (float)((int32_t)in[i] - zero_point) * scale;
    return TQ_OK;
}
