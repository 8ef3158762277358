/*
 * int8 fully connected with packed int4 weights, two ways to the same
 * exact accumulators as tq_s8_fully_connected() on the unpacked weights:
 * - up to FC_DIRECT_MAX_BATCH input rows: the row plus its offset goes to
 *   the scratch as int16 once, and each output is one dispatched s4_dot
 *   that unpacks the nibbles in registers (no weight copy; batch 1 is the
 *   case int4 weights are for);
 * - more rows: blocks of weight rows are unpacked into the scratch and run
 *   through the s8 requantized GEMM driver (and its microkernels), so each
 *   unpacked weight serves every row.
 * Either way acc = Σ w·(x + offset) exactly, + bias in int64, saturated
 * to int32, then the s8 output stage.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"
#include "../s8/s8_internal.h"
#include "s4_internal.h"

/* Input rows up to which the fused unpack + dot path is used. */
#define FC_DIRECT_MAX_BATCH 3

int32_t tq__s4_dot_ref(const int16_t *x, const uint8_t *packed, size_t first,
                       int32_t k)
{
    /* |x·w| <= 255·8 and k <= 2^15: the int32 sum is exact. */
    int32_t sum = 0, p = 0;
    if ((first & 1u) && k > 0) {
        sum += (int32_t)x[0] * tq__s4_get(packed, first);
        p = 1;
    }
    const uint8_t *src = packed + ((first + (size_t)p) >> 1);
    for (; p + 2 <= k; p += 2, ++src) {
        const int32_t lo = ((*src & 0xF) ^ 8) - 8, hi = ((*src >> 4) ^ 8) - 8;
        sum += (int32_t)x[p] * lo + (int32_t)x[p + 1] * hi;
    }
    if (p < k)
        sum += (int32_t)x[p] * tq__s4_get(packed, first + (size_t)p);
    return sum;
}

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

/* The larger of the two paths' needs: an aligned int16 row (2·K + 1
 * bytes) and a block of unpacked rows (<= 32 · 2^15 bytes). */
static size_t scratch_need(int32_t in_features, int32_t out_features)
{
    const size_t row16 = 2 * (size_t)in_features + 1;
    const size_t block =
        (size_t)block_rows(in_features, out_features) * (size_t)in_features;
    return row16 > block ? row16 : block;
}

tq_status tq_s4_fully_connected_scratch_size(int32_t in_features,
                                             int32_t out_features,
                                             size_t *bytes)
{
    if (!bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(fc_shape(in_features, out_features));
    *bytes = scratch_need(in_features, out_features);
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
    const size_t need = scratch_need(in_features, out_features);
    const size_t packed = tq_s4_packed_size(w_count);
    if (!scratch)
        return TQ_ERR_NULL;
    if (scratch_bytes < need)
        return TQ_ERR_BUFFER_TOO_SMALL;
    const tq__span writes[2] = {{out, out_count}, {scratch, need}};
    tq__span reads[5] = {{in, in_count}, {weights, packed}};
    tq__s8_stage_spans(os, bias, out_features, reads + 2);
    TQ_CHECK(tq__check_alias(writes, 2, reads, 5));

    if (batch <= FC_DIRECT_MAX_BATCH) {
        const tq__s4_dot_fn dot = tq__s4_dot_entry(tq__get_ukernels());
        int16_t *x16 = (int16_t *)(void *)((unsigned char *)scratch +
                                           ((uintptr_t)scratch & 1u));
        for (int32_t r = 0; r < batch; ++r) {
            const int8_t *x = in + (size_t)r * (size_t)in_features;
            int8_t *dst = out + (size_t)r * (size_t)out_features;
            for (int32_t i = 0; i < in_features; ++i)
                x16[i] = (int16_t)(x[i] + input_offset);
            for (int32_t o = 0; o < out_features; ++o) {
                const int64_t acc =
                    (int64_t)dot(x16, weights,
                                 (size_t)o * (size_t)in_features,
                                 in_features) +
                    (bias ? bias[o] : 0);
                dst[o] = tq__s8_output_one(os, tq__sat_i64_to_i32(acc), o);
            }
        }
        return TQ_OK;
    }
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
