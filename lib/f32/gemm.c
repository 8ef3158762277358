/*
 * f32 GEMM: C = act(A·Bᵀ + bias). The public entry point validates and
 * hands the product to the dispatch microkernel; the epilogue (bias and
 * clamp) lives here once and is reused by conv2d, fully connected, the
 * fused conv and the pools.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "../arch/dispatch.h"
#include "f32_internal.h"

void tq__f32_bias_act_rows(int32_t rows, int32_t n, const float *bias,
                           const tq_f32_act *act, float *c, size_t ldc)
{
    if (!bias && !act)
        return;
    const float lo = act ? act->min : 0.0f;
    const float hi = act ? act->max : 0.0f;
    for (int32_t i = 0; i < rows; ++i) {
        float *row = c + (size_t)i * ldc;
        if (bias) {
            for (int32_t j = 0; j < n; ++j)
                row[j] += bias[j];
        }
        if (act) {
            /* Written so that a NaN fails both tests and passes through. */
            for (int32_t j = 0; j < n; ++j) {
                const float x = row[j];
                row[j] = x < lo ? lo : (x > hi ? hi : x);
            }
        }
    }
}

void tq__f32_gemm_bias_act(int32_t m, int32_t n, int32_t k, const float *a,
                           size_t lda, const float *b, size_t ldb,
                           const float *bias, const tq_f32_act *act, float *c,
                           size_t ldc)
{
    if (m == 0 || n == 0)
        return;
    if (k == 0) {
        for (int32_t i = 0; i < m; ++i)
            memset(c + (size_t)i * ldc, 0, (size_t)n * sizeof(float));
    } else {
        tq__f32_gemm_entry(tq__get_ukernels())(m, n, k, a, lda, b, ldb, c,
                                               ldc);
    }
    tq__f32_bias_act_rows(m, n, bias, act, c, ldc);
}

/* Floats spanned by a rows x cols matrix with row stride ld (0 if empty). */
static int matrix_span(int32_t rows, int32_t cols, int32_t ld, size_t *span)
{
    size_t head;
    if (rows == 0 || cols == 0) {
        *span = 0;
        return 0;
    }
    if (tq__mul_size((size_t)(rows - 1), (size_t)ld, &head) ||
        tq__add_size(head, (size_t)cols, span) ||
        *span > SIZE_MAX / sizeof(float))
        return 1;
    return 0;
}

tq_status tq_f32_gemm(int32_t m, int32_t n, int32_t k, const float *a,
                      int32_t lda, const float *b, int32_t ldb,
                      const float *bias, const tq_f32_act *act, float *c,
                      int32_t ldc)
{
    size_t a_span, b_span, c_span;
    if (m < 0 || n < 0 || k < 0)
        return TQ_ERR_SHAPE;
    /* A matrix may be NULL only when it holds no element. */
    if ((!a && m > 0 && k > 0) || (!b && n > 0 && k > 0) ||
        (!c && m > 0 && n > 0))
        return TQ_ERR_NULL;
    if (lda < k || ldb < k || ldc < n)
        return TQ_ERR_SHAPE;
    TQ_CHECK(tq__check_f32_act(act));
    if (matrix_span(m, k, lda, &a_span) || matrix_span(n, k, ldb, &b_span) ||
        matrix_span(m, n, ldc, &c_span))
        return TQ_ERR_OVERFLOW;
    if (c_span == 0)
        return TQ_OK;
    const size_t c_bytes = c_span * sizeof(float);
    if (tq__overlap(c, c_bytes, a, a_span * sizeof(float)) ||
        tq__overlap(c, c_bytes, b, b_span * sizeof(float)) ||
        (bias && tq__overlap(c, c_bytes, bias, (size_t)n * sizeof(float))))
        return TQ_ERR_ALIAS;
    tq__f32_gemm_bias_act(m, n, k, a, (size_t)lda, b, (size_t)ldb, bias, act,
                          c, (size_t)ldc);
    return TQ_OK;
}
