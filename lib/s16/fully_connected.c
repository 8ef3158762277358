/*
 * 16x8 fully connected (TFLite FULLY_CONNECTED with int16 input and int8
 * weights): one exact inner product per output, through the dispatched
 * s16_dot, then the int64 or int32 output stage.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"
#include "s16_internal.h"

tq_status tq_s16_fully_connected(int32_t batch, int32_t in_features,
                                 int32_t out_features, const int16_t *in,
                                 const int8_t *weights, const void *bias,
                                 int32_t bias_dtype, const tq_s16_output *os,
                                 int16_t *out)
{
    size_t in_count, w_count, out_count;
    if (!in || !weights || !out)
        return TQ_ERR_NULL;
    if (batch < 1 || in_features < 1 || out_features < 1)
        return TQ_ERR_SHAPE;
    if (in_features > TQ_S16_MAX_REDUCTION)
        return TQ_ERR_OVERFLOW;
    if (tq__mul_size((size_t)batch, (size_t)in_features, &in_count) ||
        tq__mul_size((size_t)out_features, (size_t)in_features, &w_count) ||
        tq__mul_size((size_t)batch, (size_t)out_features, &out_count) ||
        tq__mul_size(in_count, sizeof(int16_t), &in_count) ||
        tq__mul_size(out_count, sizeof(int16_t), &out_count))
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__s16_check_stage(bias_dtype, os, out_features));
    const tq__span writes[1] = {{out, out_count}};
    tq__span reads[5] = {{in, in_count}, {weights, w_count}};
    tq__s16_stage_spans(os, bias, bias_dtype, out_features, reads + 2);
    TQ_CHECK(tq__check_alias(writes, 1, reads, 5));

    const tq__s16_dot_fn dot = tq__s16_dot_entry(tq__get_ukernels());
    const tq__s16_bias b = {bias, bias_dtype};
    for (int32_t r = 0; r < batch; ++r) {
        const int16_t *x = in + (size_t)r * (size_t)in_features;
        int16_t *dst = out + (size_t)r * (size_t)out_features;
        for (int32_t o = 0; o < out_features; ++o) {
            const int64_t sum =
                dot(x, weights + (size_t)o * (size_t)in_features, in_features);
            dst[o] = tq__s16_output_one(os, &b, sum, o);
        }
    }
    return TQ_OK;
}
