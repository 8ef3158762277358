/*
 * Weights packed once, ahead of inference (tq_s8_pack_weights), and the
 * fully connected kernel that reads them. Packing moves the one-off work
 * out of every call: the rearrangement into the microkernels' 16 x 4
 * blocks and the row sums that the input zero point's fold needs. The
 * layout is fixed (include/tinyq.h documents it) and the same for every
 * kernel path, so a packed model can be stored and run anywhere.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "../arch/dispatch.h"
#include "s8_internal.h"

#define PACK_MAGIC UINT32_C(0x57505154) /* "TQPW" read as little-endian */
#define PACK_VERSION 1u

/* Little-endian fields, whatever the host's byte order and the buffer's
 * alignment. */
static void store_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static int32_t load_le_i32(const unsigned char *p)
{
    const uint32_t u = load_le32(p);
    /* Two's complement without an implementation-defined conversion. */
    return u <= INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
}

/* Rows and groups after padding to whole blocks. */
typedef struct pack_geometry {
    size_t rows;        /* n rounded up to 16 */
    size_t groups;      /* k rounded up to 4, divided by 4 */
    size_t block_bytes; /* one block of 16 rows: groups · 64 */
    size_t codes_at;    /* offset of the codes: header + sums */
    size_t bytes;       /* the whole buffer */
} pack_geometry;

static tq_status geometry_of(int32_t n, int32_t k, pack_geometry *g)
{
    if (n < 1 || k < 1)
        return TQ_ERR_SHAPE;
    if (k > TQ_S8_MAX_REDUCTION)
        return TQ_ERR_OVERFLOW;
    g->rows = ((size_t)n + TQ__PACK_LANES - 1) / TQ__PACK_LANES * TQ__PACK_LANES;
    g->groups = ((size_t)k + TQ__PACK_DEPTH - 1) / TQ__PACK_DEPTH;
    g->block_bytes = g->groups * TQ__PACK_LANES * TQ__PACK_DEPTH;
    g->codes_at = TQ__PACK_HEADER + g->rows * sizeof(int32_t);
    size_t codes;
    if (tq__mul_size(g->rows / TQ__PACK_LANES, g->block_bytes, &codes) ||
        tq__add_size(g->codes_at, codes, &g->bytes))
        return TQ_ERR_OVERFLOW;
    return TQ_OK;
}

tq_status tq_s8_packed_weights_size(int32_t n, int32_t k, size_t *bytes)
{
    if (!bytes)
        return TQ_ERR_NULL;
    pack_geometry g;
    TQ_CHECK(geometry_of(n, k, &g));
    *bytes = g.bytes;
    return TQ_OK;
}

tq_status tq_s8_pack_weights(int32_t n, int32_t k, const int8_t *w,
                             int32_t ldw, void *packed, size_t packed_bytes)
{
    if (!w || !packed)
        return TQ_ERR_NULL;
    pack_geometry g;
    TQ_CHECK(geometry_of(n, k, &g));
    if (ldw < k)
        return TQ_ERR_SHAPE;
    size_t w_count;
    if (tq__mul_size((size_t)(n - 1), (size_t)ldw, &w_count) ||
        tq__add_size(w_count, (size_t)k, &w_count))
        return TQ_ERR_OVERFLOW;
    if (packed_bytes < g.bytes)
        return TQ_ERR_BUFFER_TOO_SMALL;
    if (tq__overlap(packed, g.bytes, w, w_count))
        return TQ_ERR_ALIAS;

    unsigned char *out = packed;
    memset(out, 0, g.bytes);
    store_le32(out, PACK_MAGIC);
    store_le32(out + 4, PACK_VERSION);
    store_le32(out + 8, (uint32_t)n);
    store_le32(out + 12, (uint32_t)k);
    for (int32_t o = 0; o < n; ++o) {
        const int8_t *row = w + (size_t)o * (size_t)ldw;
        unsigned char *lane = out + g.codes_at +
                              (size_t)(o / TQ__PACK_LANES) * g.block_bytes +
                              (size_t)(o % TQ__PACK_LANES) * TQ__PACK_DEPTH;
        int32_t sum = 0; /* |sum| <= 128 · 2^15 */
        for (int32_t p = 0; p < k; ++p) {
            sum += row[p];
            lane[(size_t)(p / TQ__PACK_DEPTH) * TQ__PACK_LANES * TQ__PACK_DEPTH +
                 (size_t)(p % TQ__PACK_DEPTH)] = (unsigned char)row[p];
        }
        store_le32(out + TQ__PACK_HEADER + (size_t)o * sizeof(int32_t),
                   (uint32_t)sum);
    }
    return TQ_OK;
}

tq_status tq_s8_fully_connected_packed(
    int32_t batch, int32_t in_features, int32_t out_features, const int8_t *in,
    int32_t input_offset, const void *packed, size_t packed_bytes,
    const int32_t *bias, const tq_s8_output *os, int8_t *out)
{
    return tq_s8_fully_connected_packed_offset(batch, in_features, out_features,
                                               in, input_offset, packed,
                                               packed_bytes, 0, bias, os, out);
}

/* A weight offset adds, per output, w_off · Σ_p (x[p] + input_offset) =
 * w_off · Σ_p x[p] + k · input_offset · w_off: the input's row sums, which
 * the fold of tq_s8_gemm() already takes (tq__s8_fold.a_sums / b_offset),
 * computed here per block of batch rows. The packed codes and their stored
 * sums stay those of the weights' codes. */
tq_status tq_s8_fully_connected_packed_offset(
    int32_t batch, int32_t in_features, int32_t out_features, const int8_t *in,
    int32_t input_offset, const void *packed, size_t packed_bytes,
    int32_t weight_offset, const int32_t *bias, const tq_s8_output *os,
    int8_t *out)
{
    if (!in || !packed || !os || !out)
        return TQ_ERR_NULL;
    if (batch < 1)
        return TQ_ERR_SHAPE;
    pack_geometry g;
    TQ_CHECK(geometry_of(out_features, in_features, &g));
    size_t in_count, out_count;
    if (tq__mul_size((size_t)batch, (size_t)in_features, &in_count) ||
        tq__mul_size((size_t)batch, (size_t)out_features, &out_count))
        return TQ_ERR_OVERFLOW;
    if (input_offset < -127 || input_offset > 128 || weight_offset < -128 ||
        weight_offset > 128)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq__check_s8_output(os, out_features));
    const unsigned char *pk = packed;
    if (packed_bytes < TQ__PACK_HEADER)
        return TQ_ERR_BUFFER_TOO_SMALL;
    if (load_le32(pk) != PACK_MAGIC || load_le32(pk + 4) != PACK_VERSION)
        return TQ_ERR_FORMAT;
    if (load_le_i32(pk + 8) != out_features ||
        load_le_i32(pk + 12) != in_features)
        return TQ_ERR_SHAPE;
    if (packed_bytes < g.bytes)
        return TQ_ERR_BUFFER_TOO_SMALL;
    const tq__span writes[1] = {{out, out_count}};
    tq__span reads[5] = {{in, in_count}, {packed, g.bytes}};
    tq__s8_stage_spans(os, bias, out_features, reads + 2);
    TQ_CHECK(tq__check_alias(writes, 1, reads, 5));

    const tq__ukernels *uk = tq__get_ukernels();
    const tq__s8_packed_gemm_fn gemm = tq__s8_packed_gemm_entry(uk);
    const tq__s8_finish_fn finish = tq__s8_finish_entry(uk);
    const tq__s8_row_sums_fn row_sums = tq__s8_row_sums_entry(uk);
    int32_t acc[TQ__PACK_MAX_ROWS * TQ__PACK_MAX_COLS];
    int32_t sums[TQ__PACK_MAX_COLS];
    int32_t in_sums[TQ__PACK_MAX_ROWS];
    const int8_t *codes = (const int8_t *)(const void *)(pk + g.codes_at);
    for (int32_t j0 = 0; j0 < out_features; j0 += TQ__PACK_MAX_COLS) {
        const int32_t nb = out_features - j0 < TQ__PACK_MAX_COLS
                               ? out_features - j0
                               : TQ__PACK_MAX_COLS;
        for (int32_t j = 0; j < nb; ++j)
            sums[j] = load_le_i32(pk + TQ__PACK_HEADER +
                                  (size_t)(j0 + j) * sizeof(int32_t));
        const tq__s8_fold f = {input_offset, weight_offset, in_features,
                               in_sums, sums, bias ? bias + j0 : NULL};
        const int8_t *block = codes + (size_t)(j0 / TQ__PACK_LANES) * g.block_bytes;
        for (int32_t i0 = 0; i0 < batch; i0 += TQ__PACK_MAX_ROWS) {
            const int32_t mb = batch - i0 < TQ__PACK_MAX_ROWS
                                   ? batch - i0
                                   : TQ__PACK_MAX_ROWS;
            if (weight_offset != 0)
                row_sums(mb, in_features,
                         in + (size_t)i0 * (size_t)in_features,
                         (size_t)in_features, in_sums);
            gemm(mb, nb, in_features, in + (size_t)i0 * (size_t)in_features,
                 (size_t)in_features, block, sums, acc, TQ__PACK_MAX_COLS);
            finish(&f, mb, nb, acc, TQ__PACK_MAX_COLS, os, j0,
                   out + (size_t)i0 * (size_t)out_features + (size_t)j0,
                   (size_t)out_features);
        }
    }
    return TQ_OK;
}
