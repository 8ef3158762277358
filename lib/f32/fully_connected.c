/*
 * f32 fully connected layer: one GEMM with the batch as rows of A and the
 * [out][in] weights as B, through the shared GEMM + bias + clamp.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "f32_internal.h"

tq_status tq_f32_fully_connected(int32_t batch, int32_t in_features,
                                 int32_t out_features, const float *in,
                                 const float *weights, const float *bias,
                                 const tq_f32_act *act, float *out)
{
    size_t in_count, w_count, out_count;
    if (!in || !weights || !out)
        return TQ_ERR_NULL;
    if (batch < 1 || in_features < 1 || out_features < 1)
        return TQ_ERR_SHAPE;
    TQ_CHECK(tq__check_f32_act(act));
    if (tq__mul_size((size_t)batch, (size_t)in_features, &in_count) ||
        tq__mul_size((size_t)out_features, (size_t)in_features, &w_count) ||
        tq__mul_size((size_t)batch, (size_t)out_features, &out_count) ||
        in_count > SIZE_MAX / sizeof(float) ||
        w_count > SIZE_MAX / sizeof(float) ||
        out_count > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    const size_t out_bytes = out_count * sizeof(float);
    if (tq__overlap(out, out_bytes, in, in_count * sizeof(float)) ||
        tq__overlap(out, out_bytes, weights, w_count * sizeof(float)) ||
        (bias && tq__overlap(out, out_bytes, bias,
                             (size_t)out_features * sizeof(float))))
        return TQ_ERR_ALIAS;
    tq__f32_gemm_bias_act(batch, out_features, in_features, in,
                          (size_t)in_features, weights, (size_t)in_features,
                          bias, act, out, (size_t)out_features);
    return TQ_OK;
}
