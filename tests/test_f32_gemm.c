/*
 * Tests of tq_f32_gemm against a naive double-precision oracle (in
 * oracle_f32.h): random
 * shapes with padded leading dimensions, bias and clamps, the empty cases,
 * and every error path (with the output checked untouched).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "oracle_f32.h"
#include "testutil.h"
#include "tinyq.h"

/* Run one GEMM with padded leading dimensions and compare every element
 * with the double oracle, and every padding element with the sentinel. */
static void run_case(tt_rng *r, int32_t m, int32_t n, int32_t k,
                     uint64_t seed)
{
    const int32_t lda = k + tt_int(r, 0, 3);
    const int32_t ldb = k + tt_int(r, 0, 3);
    const int32_t ldc = n + tt_int(r, 0, 3);
    const int use_bias = tt_int(r, 0, 1);
    tq_f32_act act_storage;
    const tq_f32_act *act = pick_act(r, &act_storage, -0.3f, 0.4f);

    float *a = malloc(sizeof(float) * (size_t)(m * lda + 1));
    float *b = malloc(sizeof(float) * (size_t)(n * ldb + 1));
    float *bias = malloc(sizeof(float) * (size_t)n);
    float *c = malloc(sizeof(float) * (size_t)(m * ldc));
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(bias);
    assert_non_null(c);
    tt_fill_f32(r, a, (size_t)(m * lda), -1.0f, 1.0f);
    tt_fill_f32(r, b, (size_t)(n * ldb), -1.0f, 1.0f);
    tt_fill_f32(r, bias, (size_t)n, -0.5f, 0.5f);
    fill_sentinel(c, (size_t)(m * ldc));

    assert_int_equal(tq_f32_gemm(m, n, k, a, lda, b, ldb,
                                 use_bias ? bias : NULL, act, c, ldc),
                     TQ_OK);
    for (int32_t i = 0; i < m; ++i) {
        for (int32_t j = 0; j < n; ++j) {
            double mag;
            const double want = clamp_d(dot_d(use_bias ? bias[j] : 0.0,
                                              a + i * lda, b + j * ldb, k,
                                              &mag),
                                        act);
            const double got = c[i * ldc + j];
            if (!(fabs(got - want) <= sum_tol(want, mag)))
                fail_msg("seed %llu m=%d n=%d k=%d lda=%d ldb=%d ldc=%d "
                         "bias=%d: c[%d][%d] = %.9g, want %.9g",
                         (unsigned long long)seed, m, n, k, lda, ldb, ldc,
                         use_bias, i, j, got, want);
        }
        if (!is_sentinel(c + i * ldc + n, (size_t)(ldc - n)))
            fail_msg("seed %llu m=%d n=%d k=%d ldc=%d: padding of row %d "
                     "was written",
                     (unsigned long long)seed, m, n, k, ldc, i);
    }
    free(a);
    free(b);
    free(bias);
    free(c);
}

static void test_random_shapes(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 300; ++seed) {
        tt_rng r = {seed};
        const int32_t m = tt_int(&r, 1, 70);
        const int32_t n = tt_int(&r, 1, 70);
        const int32_t k = tt_int(&r, 1, 70);
        run_case(&r, m, n, k, seed);
    }
}

/* Ones, odd sizes and sizes around the microkernel's unroll of 4. */
static void test_edge_shapes(void **state)
{
    (void)state;
    static const int32_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 17, 33};
    const int32_t count = (int32_t)(sizeof sizes / sizeof sizes[0]);
    uint64_t seed = 1000;
    for (int32_t im = 0; im < count; im += 3)
        for (int32_t in = 0; in < count; in += 2)
            for (int32_t ik = 0; ik < count; ++ik) {
                tt_rng r = {++seed};
                run_case(&r, sizes[im], sizes[in], sizes[ik], seed);
            }
}

static void test_clamps_exact(void **state)
{
    (void)state;
    /* 1x2 · (2x2)ᵀ: c = {1·3 + 2·4, 1·(-5) + 2·(-6)} = {11, -17}. */
    const float a[2] = {1.0f, 2.0f};
    const float b[4] = {3.0f, 4.0f, -5.0f, -6.0f};
    const float bias[2] = {0.5f, 0.25f};
    float c[2];
    tq_f32_act act;
    assert_int_equal(tq_f32_gemm(1, 2, 2, a, 2, b, 2, bias, NULL, c, 2), TQ_OK);
    assert_true(c[0] == 11.5f && c[1] == -16.75f);
    assert_int_equal(tq_f32_act_from(TQ_ACT_RELU, &act), TQ_OK);
    assert_int_equal(tq_f32_gemm(1, 2, 2, a, 2, b, 2, bias, &act, c, 2), TQ_OK);
    assert_true(c[0] == 11.5f && c[1] == 0.0f);
    assert_int_equal(tq_f32_act_from(TQ_ACT_RELU6, &act), TQ_OK);
    assert_int_equal(tq_f32_gemm(1, 2, 2, a, 2, b, 2, bias, &act, c, 2), TQ_OK);
    assert_true(c[0] == 6.0f && c[1] == 0.0f);
    act.min = -INFINITY;
    act.max = -20.0f;
    assert_int_equal(tq_f32_gemm(1, 2, 2, a, 2, b, 2, NULL, &act, c, 2), TQ_OK);
    assert_true(c[0] == -20.0f && c[1] == -20.0f);
}

/* k == 0: the product is empty, C holds the clamped bias (or 0), and A and
 * B may be NULL. */
static void test_k_zero(void **state)
{
    (void)state;
    const float bias[3] = {-1.5f, 0.25f, 9.0f};
    float c[2 * 4];
    tq_f32_act relu6;
    assert_int_equal(tq_f32_act_from(TQ_ACT_RELU6, &relu6), TQ_OK);

    fill_sentinel(c, 8);
    assert_int_equal(tq_f32_gemm(2, 3, 0, NULL, 0, NULL, 0, bias, NULL, c, 4),
                     TQ_OK);
    for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 3; ++j)
            assert_true(c[i * 4 + j] == bias[j]);
        assert_true(is_sentinel(c + i * 4 + 3, 1));
    }

    fill_sentinel(c, 8);
    assert_int_equal(tq_f32_gemm(2, 3, 0, NULL, 0, NULL, 0, bias, &relu6, c, 3),
                     TQ_OK);
    for (int i = 0; i < 2; ++i) {
        assert_true(c[i * 3 + 0] == 0.0f);
        assert_true(c[i * 3 + 1] == 0.25f);
        assert_true(c[i * 3 + 2] == 6.0f);
    }
    assert_true(is_sentinel(c + 6, 2));

    fill_sentinel(c, 8);
    const float a[2] = {1.0f, 2.0f};
    assert_int_equal(tq_f32_gemm(2, 3, 0, a, 1, a, 5, NULL, NULL, c, 3), TQ_OK);
    for (int i = 0; i < 6; ++i)
        assert_true(c[i] == 0.0f && !signbit(c[i]));
    assert_true(is_sentinel(c + 6, 2));
}

/* m == 0 or n == 0: nothing to write; NULL matrices are fine. */
static void test_empty_output(void **state)
{
    (void)state;
    float a[6] = {1, 2, 3, 4, 5, 6};
    float c[6];
    fill_sentinel(c, 6);
    assert_int_equal(tq_f32_gemm(0, 3, 2, NULL, 2, a, 2, NULL, NULL, NULL, 3),
                     TQ_OK);
    assert_int_equal(tq_f32_gemm(0, 3, 2, a, 2, a, 2, a, NULL, c, 3), TQ_OK);
    assert_int_equal(tq_f32_gemm(2, 0, 2, a, 2, NULL, 2, NULL, NULL, c, 0),
                     TQ_OK);
    assert_int_equal(tq_f32_gemm(3, 0, 0, NULL, 0, NULL, 0, NULL, NULL, NULL,
                                 0),
                     TQ_OK);
    assert_int_equal(tq_f32_gemm(0, 0, 0, NULL, 0, NULL, 0, NULL, NULL, NULL,
                                 0),
                     TQ_OK);
    assert_true(is_sentinel(c, 6));
}

static void test_errors(void **state)
{
    (void)state;
    float a[4 * 3], b[5 * 3], bias[5], c[4 * 5 + 8];
    tt_rng r = {77};
    tt_fill_f32(&r, a, 12, -1, 1);
    tt_fill_f32(&r, b, 15, -1, 1);
    tt_fill_f32(&r, bias, 5, -1, 1);
    fill_sentinel(c, 28);
    tq_f32_act bad = {1.0f, 0.0f};
    tq_f32_act nan_act = {NAN, 1.0f};

    /* NULL where the matrix is not empty. */
    assert_int_equal(tq_f32_gemm(4, 5, 3, NULL, 3, b, 3, bias, NULL, c, 5),
                     TQ_ERR_NULL);
    assert_int_equal(tq_f32_gemm(4, 5, 3, a, 3, NULL, 3, bias, NULL, c, 5),
                     TQ_ERR_NULL);
    assert_int_equal(tq_f32_gemm(4, 5, 3, a, 3, b, 3, bias, NULL, NULL, 5),
                     TQ_ERR_NULL);
    /* Leading dimensions too small. */
    assert_int_equal(tq_f32_gemm(4, 5, 3, a, 2, b, 3, bias, NULL, c, 5),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_gemm(4, 5, 3, a, 3, b, 2, bias, NULL, c, 5),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_gemm(4, 5, 3, a, 3, b, 3, bias, NULL, c, 4),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_gemm(4, 5, 3, a, 3, b, 3, bias, NULL, c, -1),
                     TQ_ERR_SHAPE);
    /* Negative sizes. */
    assert_int_equal(tq_f32_gemm(-1, 5, 3, a, 3, b, 3, bias, NULL, c, 5),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_gemm(4, -5, 3, a, 3, b, 3, bias, NULL, c, 5),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_gemm(4, 5, -3, a, 3, b, 3, bias, NULL, c, 5),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_gemm(INT32_MIN, 5, 3, a, 3, b, 3, bias, NULL, c,
                                 5),
                     TQ_ERR_SHAPE);
    /* Bad clamps. */
    assert_int_equal(tq_f32_gemm(4, 5, 3, a, 3, b, 3, bias, &bad, c, 5),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_f32_gemm(4, 5, 3, a, 3, b, 3, bias, &nan_act, c, 5),
                     TQ_ERR_PARAM);
    nan_act.min = 0.0f;
    nan_act.max = NAN;
    assert_int_equal(tq_f32_gemm(4, 5, 3, a, 3, b, 3, bias, &nan_act, c, 5),
                     TQ_ERR_PARAM);
    assert_true(is_sentinel(c, 28));

    /* Output overlapping an input. */
    float buf[64];
    tt_fill_f32(&r, buf, 64, -1, 1);
    float copy[64];
    memcpy(copy, buf, sizeof buf);
    assert_int_equal(tq_f32_gemm(2, 2, 2, buf, 2, b, 3, NULL, NULL, buf + 2, 2),
                     TQ_ERR_ALIAS);
    assert_int_equal(tq_f32_gemm(2, 2, 2, a, 2, buf, 2, NULL, NULL, buf, 2),
                     TQ_ERR_ALIAS);
    assert_int_equal(tq_f32_gemm(2, 2, 2, a, 2, b, 3, buf + 1, NULL, buf, 2),
                     TQ_ERR_ALIAS);
    assert_memory_equal(buf, copy, sizeof buf);
    /* Disjoint parts of one buffer are fine. */
    assert_int_equal(tq_f32_gemm(2, 2, 2, buf, 2, buf + 4, 2, buf + 8, NULL,
                                 buf + 10, 2),
                     TQ_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_shapes),
        cmocka_unit_test(test_edge_shapes),
        cmocka_unit_test(test_clamps_exact),
        cmocka_unit_test(test_k_zero),
        cmocka_unit_test(test_empty_output),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
