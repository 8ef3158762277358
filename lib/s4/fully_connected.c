/*
 * int8 fully connected with packed int4 weights: blocks of weight rows are
 * unpacked into the caller's scratch and run through the s8 requantized
 * GEMM driver (and so the s8 microkernels of the path in use), so the
 * result is tq_s8_fully_connected()'s on the unpacked weights.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../s8/s8_internal.h"
#include "s4_internal.h"

/* Unpacked bytes a block should stay near, and its most rows. */
#define FC_BLOCK_BUDGET 16384
#define FC_BLOCK_MAX_ROWS 32

static int32_t block_rows(int32_t in_features, int32_t out_features)
{
    int32_t r = FC_BLOCK_BUDGET / in_features;
    r = r < 1 ? 1 : (r > FC_BLOCK_MAX_ROWS ? FC_BLOCK_MAX_ROWS : r);
    return r > out_features ? out_features : r;
}

static tq_status fc_shape(int32_t in_features, int32_t out_features)
{
    if (in_features < 1 || out_features < 1)
        return TQ_ERR_SHAPE;
    if (in_features > TQ_S8_MAX_REDUCTION)
        return TQ_ERR_OVERFLOW;
    return TQ_OK;
}

tq_status tq_s4_fully_connected_scratch_size(int32_t in_features,
                                             int32_t out_features,
                                             size_t *bytes)
{
    if (!bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(fc_shape(in_features, out_features));
    /* <= 32 · 2^15 bytes. */
    *bytes = (size_t)block_rows(in_features, out_features) *
             (size_t)in_features;
    return TQ_OK;
}

tq_status tq_s4_fully_connected(int32_t batch, int32_t in_features,
                                int32_t out_features, const int8_t *in,
                                int32_t input_offset, const uint8_t *weights,
                                const int32_t *bias, const tq_s8_output *os,
                                int8_t *out, void *scratch,
                                size_t scratch_bytes)
{
    size_t in_count, w_count, out_count;
    if (!in || !weights || !out)
        return TQ_ERR_NULL;
    if (batch < 1)
        return TQ_ERR_SHAPE;
    TQ_CHECK(fc_shape(in_features, out_features));
    if (tq__mul_size((size_t)batch, (size_t)in_features, &in_count) ||
        tq__mul_size((size_t)out_features, (size_t)in_features, &w_count) ||
        tq__mul_size((size_t)batch, (size_t)out_features, &out_count))
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__s8_check_input_stage(input_offset, os, out_features));
    const int32_t rows = block_rows(in_features, out_features);
    const size_t need = (size_t)rows * (size_t)in_features;
    const size_t packed = tq_s4_packed_size(w_count);
    if (!scratch)
        return TQ_ERR_NULL;
    if (scratch_bytes < need)
        return TQ_ERR_BUFFER_TOO_SMALL;
    if (tq__overlap(out, out_count, in, in_count) ||
        tq__overlap(out, out_count, weights, packed) ||
        tq__overlap(scratch, need, in, in_count) ||
        tq__overlap(scratch, need, out, out_count) ||
        tq__overlap(scratch, need, weights, packed))
        return TQ_ERR_ALIAS;

    int8_t *w = scratch;
    for (int32_t o0 = 0; o0 < out_features; o0 += rows) {
        const int32_t nb = out_features - o0 < rows ? out_features - o0 : rows;
        tq__s4_unpack_range(weights, (size_t)o0 * (size_t)in_features,
                            (size_t)nb * (size_t)in_features, w);
        /* The stage and bias of channels [o0, o0 + nb). */
        tq_s8_output bos = *os;
        if (os->per_channel) {
            bos.multiplier = os->multiplier + o0;
            bos.shift = os->shift + o0;
        }
        tq__s8_gemm_requant(batch, nb, in_features, in, (size_t)in_features,
                            input_offset, w, (size_t)in_features, 0,
                            bias ? bias + o0 : NULL, &bos, out + o0,
                            (size_t)out_features);
    }
    return TQ_OK;
}
