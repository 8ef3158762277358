/*
 * int8 fully connected (TFLite FULLY_CONNECTED, plus an optional weight
 * zero point as in ONNX QLinearMatMul): a GEMM of the input rows against
 * the weight rows, through the stack-bounded blocked driver of gemm.c, so
 * it needs no scratch.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "s8_internal.h"

tq_status tq_s8_fully_connected(int32_t batch, int32_t in_features,
                                int32_t out_features, const int8_t *in,
                                int32_t input_offset, const int8_t *weights,
                                int32_t weight_offset, const int32_t *bias,
                                const tq_s8_output *os, int8_t *out)
{
    size_t in_count, w_count, out_count;
    if (!in || !weights || !out)
        return TQ_ERR_NULL;
    if (batch < 1 || in_features < 1 || out_features < 1)
        return TQ_ERR_SHAPE;
    if (in_features > TQ_S8_MAX_REDUCTION)
        return TQ_ERR_OVERFLOW;
    if (tq__mul_size((size_t)batch, (size_t)in_features, &in_count) ||
        tq__mul_size((size_t)out_features, (size_t)in_features, &w_count) ||
        tq__mul_size((size_t)batch, (size_t)out_features, &out_count))
        return TQ_ERR_OVERFLOW;
    if (input_offset < -127 || input_offset > 128 || weight_offset < -128 ||
        weight_offset > 128)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq__check_s8_output(os, out_features));
    const tq__span writes[1] = {{out, out_count}};
    tq__span reads[5] = {{in, in_count}, {weights, w_count}};
    tq__s8_stage_spans(os, bias, out_features, reads + 2);
    TQ_CHECK(tq__check_alias(writes, 1, reads, 5));
    tq__s8_gemm_requant(batch, out_features, in_features, in,
                        (size_t)in_features, input_offset, weights,
                        (size_t)in_features, weight_offset, bias, os, out,
                        (size_t)out_features);
    return TQ_OK;
}
