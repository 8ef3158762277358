/*
 * int8 GEMM: raw int32 and requantized, plus the block output stage and
 * the stack-bounded blocked driver that the fully connected kernel reuses.
 *
 * Raw sums come from the dispatch microkernel; offsets and bias are folded
 * in afterwards (s8_internal.h), so the microkernel never sees an offset.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "../arch/dispatch.h"
#include "s8_internal.h"

/* Block of the requantized driver: 8 x 32 int32 accumulators (1 KiB) plus
 * 40 sums live on the stack, small enough for a Cortex-M thread. */
#define GEMM_BLOCK_ROWS 8
#define GEMM_BLOCK_COLS 32

void tq__s8_row_sums_ref(int32_t rows, int32_t k, const int8_t *x,
                         size_t ld, int32_t *sums)
{
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *row = x + (size_t)r * ld;
        /* |sum| <= 128 * 2^15: no overflow for k <= TQ_S8_MAX_REDUCTION. */
        int32_t s = 0;
        for (int32_t p = 0; p < k; ++p)
            s += row[p];
        sums[r] = s;
    }
}

/* The reference of the dispatch entry s8_finish: fold each raw sum
 * (s8_internal.h), requantize, store int8; column j is channel ch0 + j. */
void tq__s8_finish_block_ref(const tq__s8_fold *f, int32_t rows,
                             int32_t channels, const int32_t *acc,
                             size_t ld_acc, const tq_s8_output *os,
                             int32_t ch0, int8_t *out, size_t ld_out)
{
    for (int32_t r = 0; r < rows; ++r) {
        const int32_t *arow = acc + (size_t)r * ld_acc;
        int8_t *orow = out + (size_t)r * ld_out;
        for (int32_t c = 0; c < channels; ++c)
            orow[c] = tq__s8_output_one(os, tq__s8_fold_one(f, arow[c], r, c),
                                        ch0 + c);
    }
}

void tq__s8_gemm_requant(int32_t m, int32_t n, int32_t k, const int8_t *a,
                         size_t lda, int32_t a_offset, const int8_t *b,
                         size_t ldb, int32_t b_offset, const int32_t *bias,
                         const tq_s8_output *os, int8_t *c, size_t ldc)
{
    const tq__ukernels *uk = tq__get_ukernels();
    const tq__s8_row_sums_fn row_sums = tq__s8_row_sums_entry(uk);
    const tq__s8_finish_fn finish = tq__s8_finish_entry(uk);
    int32_t acc[GEMM_BLOCK_ROWS * GEMM_BLOCK_COLS];
    int32_t a_sums[GEMM_BLOCK_ROWS];
    int32_t b_sums[GEMM_BLOCK_COLS];

    if (k == 0) {
        /* An empty sum is 0 whatever the offsets; A and B may be NULL. */
        const tq__s8_fold f = {0, 0, 0, NULL, NULL, bias};
        for (int32_t i = 0; i < m; ++i)
            for (int32_t j = 0; j < n; ++j)
                c[(size_t)i * ldc + (size_t)j] =
                    tq__s8_output_one(os, tq__s8_fold_one(&f, 0, 0, j), j);
        return;
    }
    if (uk->s8_gemm_requant &&
        uk->s8_gemm_requant(m, n, k, a, lda, a_offset, b, ldb, b_offset, bias,
                            os, c, ldc))
        return;
    /* Columns outside, rows inside: each weight block and its sums are
     * computed once; only the (rare) row sums of a nonzero b_offset are
     * recomputed per column block. */
    for (int32_t j0 = 0; j0 < n; j0 += GEMM_BLOCK_COLS) {
        const int32_t nb = n - j0 < GEMM_BLOCK_COLS ? n - j0 : GEMM_BLOCK_COLS;
        const int8_t *bblk = b + (size_t)j0 * ldb;
        if (a_offset != 0)
            row_sums(nb, k, bblk, ldb, b_sums);
        for (int32_t i0 = 0; i0 < m; i0 += GEMM_BLOCK_ROWS) {
            const int32_t mb =
                m - i0 < GEMM_BLOCK_ROWS ? m - i0 : GEMM_BLOCK_ROWS;
            const int8_t *ablk = a + (size_t)i0 * lda;
            if (b_offset != 0)
                row_sums(mb, k, ablk, lda, a_sums);
            uk->s8_gemm(mb, nb, k, ablk, lda, bblk, ldb, acc,
                        GEMM_BLOCK_COLS);
            const tq__s8_fold f = {a_offset, b_offset, k, a_sums, b_sums,
                                   bias ? bias + j0 : NULL};
            finish(&f, mb, nb, acc, GEMM_BLOCK_COLS, os, j0,
                   c + (size_t)i0 * ldc + (size_t)j0, ldc);
        }
    }
}

/* Bytes spanned by a [rows][cols] matrix with row stride ld, in elements;
 * 0 when empty. Returns 1 on size_t overflow. */
static int span_elems(int32_t rows, int32_t cols, int32_t ld, size_t *out)
{
    size_t s;
    if (rows == 0 || cols == 0) {
        *out = 0;
        return 0;
    }
    if (tq__mul_size((size_t)(rows - 1), (size_t)ld, &s) ||
        tq__add_size(s, (size_t)cols, &s))
        return 1;
    *out = s;
    return 0;
}

/* Shared validation of both GEMMs. Gives the element spans of A, B, C. */
static tq_status check_gemm(int32_t m, int32_t n, int32_t k, const int8_t *a,
                            int32_t lda, int32_t a_offset, const int8_t *b,
                            int32_t ldb, int32_t b_offset, const void *c,
                            int32_t ldc, size_t *a_span, size_t *b_span,
                            size_t *c_span)
{
    if (m < 0 || n < 0 || k < 0 || lda < k || ldb < k || ldc < n)
        return TQ_ERR_SHAPE;
    if ((!a && m > 0 && k > 0) || (!b && n > 0 && k > 0) ||
        (!c && m > 0 && n > 0))
        return TQ_ERR_NULL;
    if (k > TQ_S8_MAX_REDUCTION)
        return TQ_ERR_OVERFLOW;
    if (a_offset < -128 || a_offset > 128 || b_offset < -128 ||
        b_offset > 128)
        return TQ_ERR_PARAM;
    if (span_elems(m, k, lda, a_span) || span_elems(n, k, ldb, b_span) ||
        span_elems(m, n, ldc, c_span))
        return TQ_ERR_OVERFLOW;
    return TQ_OK;
}

tq_status tq_s8_gemm_s32(int32_t m, int32_t n, int32_t k, const int8_t *a,
                         int32_t lda, int32_t a_offset, const int8_t *b,
                         int32_t ldb, int32_t b_offset, const int32_t *bias,
                         int32_t *c, int32_t ldc)
{
    size_t a_span, b_span, c_span, c_bytes;
    TQ_CHECK(check_gemm(m, n, k, a, lda, a_offset, b, ldb, b_offset, c, ldc,
                        &a_span, &b_span, &c_span));
    if (tq__mul_size(c_span, sizeof(int32_t), &c_bytes))
        return TQ_ERR_OVERFLOW;
    const tq__span writes[1] = {{c, c_bytes}};
    const tq__span reads[3] = {
        {a, a_span}, {b, b_span}, {bias, bias ? (size_t)n * sizeof(int32_t) : 0}};
    TQ_CHECK(tq__check_alias(writes, 1, reads, 3));
    if (m == 0 || n == 0)
        return TQ_OK;

    if (k == 0) {
        /* An empty sum is 0 whatever the offsets; A and B may be NULL. */
        for (int32_t i = 0; i < m; ++i)
            for (int32_t j = 0; j < n; ++j)
                c[(size_t)i * ldc + (size_t)j] = bias ? bias[j] : 0;
        return TQ_OK;
    }

    const tq__ukernels *uk = tq__get_ukernels();
    const tq__s8_row_sums_fn row_sums = tq__s8_row_sums_entry(uk);
    int32_t b_sums[GEMM_BLOCK_COLS];
    /* The microkernel writes the raw sums straight into C, in one call so
     * that it can block the whole product for its caches; the fold then
     * rewrites them in place, one column block at a time so that the
     * weight sums fit on the stack. */
    uk->s8_gemm(m, n, k, a, (size_t)lda, b, (size_t)ldb, c, (size_t)ldc);
    if (a_offset == 0 && b_offset == 0 && !bias)
        return TQ_OK;
    for (int32_t j0 = 0; j0 < n; j0 += GEMM_BLOCK_COLS) {
        const int32_t nb = n - j0 < GEMM_BLOCK_COLS ? n - j0 : GEMM_BLOCK_COLS;
        int32_t *cblk = c + j0;
        if (a_offset != 0)
            row_sums(nb, k, b + (size_t)j0 * ldb, (size_t)ldb, b_sums);
        for (int32_t i = 0; i < m; ++i) {
            int32_t *crow = cblk + (size_t)i * ldc;
            int32_t a_sum = 0;
            if (b_offset != 0)
                row_sums(1, k, a + (size_t)i * lda, (size_t)lda, &a_sum);
            const tq__s8_fold f = {a_offset, b_offset, k, &a_sum, b_sums,
                                   bias ? bias + j0 : NULL};
            for (int32_t j = 0; j < nb; ++j)
                crow[j] = tq__s8_fold_one(&f, crow[j], 0, j);
        }
    }
    return TQ_OK;
}

tq_status tq_s8_gemm_scratch_size(int32_t m, int32_t n, int32_t k,
                                  size_t *bytes)
{
    if (!bytes)
        return TQ_ERR_NULL;
    if (m < 0 || n < 0 || k < 0)
        return TQ_ERR_SHAPE;
    if (k > TQ_S8_MAX_REDUCTION)
        return TQ_ERR_OVERFLOW;
    /* The blocked driver keeps its accumulators on the stack. */
    *bytes = 0;
    return TQ_OK;
}

tq_status tq_s8_gemm(int32_t m, int32_t n, int32_t k, const int8_t *a,
                     int32_t lda, int32_t a_offset, const int8_t *b,
                     int32_t ldb, int32_t b_offset, const int32_t *bias,
                     const tq_s8_output *os, int8_t *c, int32_t ldc,
                     void *scratch, size_t scratch_bytes)
{
    size_t a_span, b_span, c_span;
    (void)scratch;
    (void)scratch_bytes;
    TQ_CHECK(check_gemm(m, n, k, a, lda, a_offset, b, ldb, b_offset, c, ldc,
                        &a_span, &b_span, &c_span));
    TQ_CHECK(tq__check_s8_output(os, n));
    const tq__span writes[1] = {{c, c_span}};
    tq__span reads[5] = {{a, a_span}, {b, b_span}};
    tq__s8_stage_spans(os, bias, n, reads + 2);
    TQ_CHECK(tq__check_alias(writes, 1, reads, 5));
    if (m == 0 || n == 0)
        return TQ_OK;
    tq__s8_gemm_requant(m, n, k, a, (size_t)lda, a_offset, b, (size_t)ldb,
                        b_offset, bias, os, c, (size_t)ldc);
    return TQ_OK;
}
