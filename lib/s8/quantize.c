/*
 * float <-> int8 conversion at a network's edges (TFLite QUANTIZE and
 * DEQUANTIZE, per tensor).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"
#include "s8_internal.h"

/* Everything both directions validate: n floats and n codes (either may
 * be the input), the per-tensor parameters, and that the two buffers do
 * not overlap (each element would be read after a neighbour was written). */
static tq_status check_conversion(size_t n, const float *floats,
                                  const int8_t *codes, float scale,
                                  int32_t zero_point)
{
    size_t float_bytes;
    if (n > 0 && (!floats || !codes))
        return TQ_ERR_NULL;
    /* The scales tq_quantize() takes: > 0, finite, and with a finite
     * float reciprocal (a scale below 2^-128, such as 1e-40, has none). */
    if (!isfinite(scale) || !(scale > 0.0f) || !isfinite(1.0f / scale) ||
        zero_point < -128 || zero_point > 127)
        return TQ_ERR_PARAM;
    if (tq__mul_size(n, sizeof(float), &float_bytes))
        return TQ_ERR_OVERFLOW;
    if (tq__overlap(floats, float_bytes, codes, n))
        return TQ_ERR_ALIAS;
    return TQ_OK;
}

/* The portable QUANTIZE, the reference of the dispatch entry s8_quantize. */
void tq__s8_quantize_ref(size_t n, const float *in, float scale,
                         int32_t zero_point, int8_t *out)
{
    for (size_t i = 0; i < n; ++i)
        out[i] = (int8_t)tq__quantize_one(in[i], scale, 1.0f / scale,
                                          zero_point, -128, 127,
                                          TQ_FROUND_HALF_AWAY);
}

tq_status tq_s8_quantize_f32(size_t n, const float *in, float scale,
                             int32_t zero_point, int8_t *out)
{
    TQ_CHECK(check_conversion(n, in, out, scale, zero_point));
    /* A NaN anywhere fails the call before anything is written. The test
     * has no early exit, so the compiler can vectorize it. */
    int nan_seen = 0;
    for (size_t i = 0; i < n; ++i)
        nan_seen |= in[i] != in[i];
    if (nan_seen)
        return TQ_ERR_NOT_FINITE;
    tq__s8_quantize_entry(tq__get_ukernels())(n, in, scale, zero_point, out);
    return TQ_OK;
}

tq_status tq_s8_dequantize_f32(size_t n, const int8_t *in, float scale,
                               int32_t zero_point, float *out)
{
    TQ_CHECK(check_conversion(n, out, in, scale, zero_point));
    for (size_t i = 0; i < n; ++i)
        out[i] = (float)((int32_t)in[i] - zero_point) * scale;
    return TQ_OK;
}
