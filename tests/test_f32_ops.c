/*
 * The f32 kernels the graph runner added: mul, channel affine, clamp, leaky
 * ReLU, concat, pad, global average pool. Double-precision oracles written
 * here, seeded random shapes, in-place where allowed, and every bad input
 * (NULL, shapes, aliasing, overflow) refused with the output untouched.
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

#include <tinyq.h>

#include "testutil.h"

#define SENTINEL 7777.0f

static float *fmalloc(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    return p;
}

static void fill_sentinel(float *x, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        x[i] = SENTINEL;
}

static int is_sentinel(const float *x, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (x[i] != SENTINEL)
            return 0;
    return 1;
}

static double clamp_d(double x, const tq_f32_act *act)
{
    if (!act)
        return x;
    return x < act->min ? act->min : (x > act->max ? act->max : x);
}

/* Products and sums of two floats rounded once are exact in double, so the
 * kernels must equal the oracle rounded to float. */
static void test_mul(void **state)
{
    (void)state;
    tt_rng r = {1};
    const tq_f32_act relu6 = {0.0f, 6.0f};
    for (int trial = 0; trial < 50; ++trial) {
        const size_t n = (size_t)tt_int(&r, 1, 300);
        float *a = fmalloc(n), *b = fmalloc(n), *o = fmalloc(n + 1);
        tt_fill_f32(&r, a, n, -4, 4);
        tt_fill_f32(&r, b, n, -4, 4);
        const tq_f32_act *act = trial % 2 ? &relu6 : NULL;
        fill_sentinel(o, n + 1);
        assert_int_equal(tq_f32_mul(n, a, b, act, o), TQ_OK);
        for (size_t i = 0; i < n; ++i)
            assert_true(o[i] == (float)clamp_d((double)a[i] * b[i], act));
        assert_true(is_sentinel(o + n, 1));
        /* In place on either operand. */
        float *c = fmalloc(n);
        memcpy(c, a, n * sizeof(float));
        assert_int_equal(tq_f32_mul(n, c, b, act, c), TQ_OK);
        assert_memory_equal(c, o, n * sizeof(float));
        free(a);
        free(b);
        free(c);
        free(o);
    }
    float x[4] = {1, 2, 3, 4}, y[4];
    fill_sentinel(y, 4);
    const tq_f32_act bad = {1.0f, 0.0f};
    assert_int_equal(tq_f32_mul(4, NULL, x, NULL, y), TQ_ERR_NULL);
    assert_int_equal(tq_f32_mul(4, x, NULL, NULL, y), TQ_ERR_NULL);
    assert_int_equal(tq_f32_mul(4, x, x, NULL, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_f32_mul(4, x, x, &bad, y), TQ_ERR_PARAM);
    assert_int_equal(tq_f32_mul(SIZE_MAX / 2, x, x, NULL, y), TQ_ERR_OVERFLOW);
    assert_true(is_sentinel(y, 4));
    assert_int_equal(tq_f32_mul(3, x, x, NULL, x + 1), TQ_ERR_ALIAS);
    assert_int_equal(tq_f32_mul(0, NULL, NULL, NULL, NULL), TQ_OK);
    assert_int_equal(tq_f32_mul(0, NULL, NULL, &bad, NULL), TQ_ERR_PARAM);
}

static void test_channel_affine(void **state)
{
    (void)state;
    tt_rng r = {2};
    for (int trial = 0; trial < 60; ++trial) {
        const size_t rows = (size_t)tt_int(&r, 0, 40);
        const int32_t c = tt_int(&r, 1, 17);
        const int32_t counts[3] = {0, 1, c};
        const int32_t sc = counts[tt_int(&r, 0, 2)], hc = counts[tt_int(&r, 0, 2)];
        const size_t n = rows * (size_t)c;
        float *x = fmalloc(n), *o = fmalloc(n + 1);
        float *s = fmalloc((size_t)c), *h = fmalloc((size_t)c);
        tt_fill_f32(&r, x, n, -3, 3);
        tt_fill_f32(&r, s, (size_t)c, -2, 2);
        tt_fill_f32(&r, h, (size_t)c, -1, 1);
        const tq_f32_act clip = {-1.5f, 2.0f};
        const tq_f32_act *act = trial % 3 == 0 ? &clip : NULL;
        fill_sentinel(o, n + 1);
        assert_int_equal(tq_f32_channel_affine(rows, c, x, sc ? s : NULL, sc,
                                               hc ? h : NULL, hc, act, o),
                         TQ_OK);
        for (size_t i = 0; i < n; ++i) {
            const size_t ch = i % (size_t)c;
            /* Two roundings (the product, then the sum) as in float. */
            float v = x[i];
            if (sc)
                v = (float)((double)v * s[sc == 1 ? 0 : ch]);
            if (hc)
                v = (float)((double)v + h[hc == 1 ? 0 : ch]);
            assert_true(o[i] == (float)clamp_d(v, act));
        }
        assert_true(is_sentinel(o + n, 1));
        memcpy(o, x, n * sizeof(float));
        float *ref = fmalloc(n);
        assert_int_equal(tq_f32_channel_affine(rows, c, x, s, sc, h, hc, act, ref), TQ_OK);
        assert_int_equal(tq_f32_channel_affine(rows, c, o, s, sc, h, hc, act, o), TQ_OK);
        assert_memory_equal(o, ref, n * sizeof(float));
        free(ref);
        free(x);
        free(o);
        free(s);
        free(h);
    }
    float x[6] = {1, 2, 3, 4, 5, 6}, y[6], s[3] = {1, 2, 3};
    fill_sentinel(y, 6);
    assert_int_equal(tq_f32_channel_affine(2, 3, x, s, 2, NULL, 0, NULL, y), TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_channel_affine(2, 3, x, s, 3, NULL, 4, NULL, y), TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_channel_affine(2, 0, x, s, 0, NULL, 0, NULL, y), TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_channel_affine(2, 3, x, NULL, 3, NULL, 0, NULL, y), TQ_ERR_NULL);
    assert_int_equal(tq_f32_channel_affine(2, 3, x, s, 3, NULL, 1, NULL, y), TQ_ERR_NULL);
    assert_int_equal(tq_f32_channel_affine(2, 3, NULL, s, 3, NULL, 0, NULL, y), TQ_ERR_NULL);
    assert_int_equal(tq_f32_channel_affine(2, 3, x, s, 3, NULL, 0, NULL, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_f32_channel_affine(SIZE_MAX / 2, 3, x, s, 3, NULL, 0, NULL, y),
                     TQ_ERR_OVERFLOW);
    const tq_f32_act bad = {NAN, 1.0f};
    assert_int_equal(tq_f32_channel_affine(2, 3, x, s, 3, NULL, 0, &bad, y), TQ_ERR_PARAM);
    assert_true(is_sentinel(y, 6));
    assert_int_equal(tq_f32_channel_affine(1, 3, x, s, 3, NULL, 0, NULL, x + 1), TQ_ERR_ALIAS);
    assert_int_equal(tq_f32_channel_affine(1, 3, x, x + 2, 3, NULL, 0, NULL, x), TQ_ERR_ALIAS);
    assert_int_equal(tq_f32_channel_affine(0, 3, NULL, NULL, 0, NULL, 0, NULL, NULL), TQ_OK);
}

static void test_clamp_leaky(void **state)
{
    (void)state;
    tt_rng r = {3};
    const size_t n = 257;
    float *x = fmalloc(n), *o = fmalloc(n + 1);
    tt_fill_f32(&r, x, n, -8, 8);
    x[0] = NAN;
    x[1] = -INFINITY;
    x[2] = -0.0f;
    const tq_f32_act act = {-2.0f, 3.5f};
    fill_sentinel(o, n + 1);
    assert_int_equal(tq_f32_clamp(n, x, &act, o), TQ_OK);
    assert_true(isnan(o[0]));
    for (size_t i = 1; i < n; ++i)
        assert_true(o[i] == (float)clamp_d(x[i], &act));
    assert_true(is_sentinel(o + n, 1));
    assert_int_equal(tq_f32_clamp(n, x, NULL, o), TQ_OK);
    assert_true(isnan(o[0]));
    assert_memory_equal(o + 1, x + 1, (n - 1) * sizeof(float));

    const float alpha = 0.1f;
    fill_sentinel(o, n + 1);
    assert_int_equal(tq_f32_leaky_relu(n, x, alpha, o), TQ_OK);
    assert_true(isnan(o[0]));
    assert_true(o[1] == -INFINITY);
    for (size_t i = 2; i < n; ++i) {
        const double want = x[i] >= 0 ? (double)x[i] : (double)alpha * x[i];
        assert_true(o[i] == (float)want);
    }
    assert_true(is_sentinel(o + n, 1));
    float *c = fmalloc(n);
    memcpy(c, x, n * sizeof(float));
    assert_int_equal(tq_f32_leaky_relu(n, c, alpha, c), TQ_OK);
    assert_true(isnan(c[0]));
    assert_memory_equal(c + 1, o + 1, (n - 1) * sizeof(float));

    fill_sentinel(o, n);
    const tq_f32_act bad = {1.0f, -1.0f};
    assert_int_equal(tq_f32_clamp(n, NULL, &act, o), TQ_ERR_NULL);
    assert_int_equal(tq_f32_clamp(n, x, &act, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_f32_clamp(n, x, &bad, o), TQ_ERR_PARAM);
    assert_int_equal(tq_f32_clamp(SIZE_MAX / 2, x, &act, o), TQ_ERR_OVERFLOW);
    assert_int_equal(tq_f32_clamp(n - 1, x, &act, x + 1), TQ_ERR_ALIAS);
    assert_int_equal(tq_f32_leaky_relu(n, NULL, alpha, o), TQ_ERR_NULL);
    assert_int_equal(tq_f32_leaky_relu(n, x, alpha, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_f32_leaky_relu(n, x, NAN, o), TQ_ERR_PARAM);
    assert_int_equal(tq_f32_leaky_relu(n, x, INFINITY, o), TQ_ERR_PARAM);
    assert_int_equal(tq_f32_leaky_relu(SIZE_MAX / 2, x, alpha, o), TQ_ERR_OVERFLOW);
    assert_int_equal(tq_f32_leaky_relu(n - 1, x + 1, alpha, x), TQ_ERR_ALIAS);
    assert_true(is_sentinel(o, n));
    assert_int_equal(tq_f32_clamp(0, NULL, NULL, NULL), TQ_OK);
    assert_int_equal(tq_f32_leaky_relu(0, NULL, alpha, NULL), TQ_OK);
    free(x);
    free(o);
    free(c);
}

static void test_concat(void **state)
{
    (void)state;
    tt_rng r = {4};
    for (int trial = 0; trial < 40; ++trial) {
        const int32_t k = tt_int(&r, 1, 5);
        const size_t rows = (size_t)tt_int(&r, 0, 30);
        const float *ins[5];
        float *bufs[5];
        int32_t ch[5];
        size_t width = 0;
        for (int32_t i = 0; i < k; ++i) {
            ch[i] = tt_int(&r, 1, 9);
            width += (size_t)ch[i];
            bufs[i] = fmalloc(rows * (size_t)ch[i]);
            tt_fill_f32(&r, bufs[i], rows * (size_t)ch[i], -1, 1);
            ins[i] = bufs[i];
        }
        float *o = fmalloc(rows * width + 1);
        fill_sentinel(o, rows * width + 1);
        assert_int_equal(tq_f32_concat(rows, k, ins, ch, o), TQ_OK);
        for (size_t row = 0; row < rows; ++row) {
            size_t col = 0;
            for (int32_t i = 0; i < k; ++i)
                for (int32_t c = 0; c < ch[i]; ++c, ++col)
                    assert_true(o[row * width + col] == bufs[i][row * (size_t)ch[i] + (size_t)c]);
        }
        assert_true(is_sentinel(o + rows * width, 1));
        for (int32_t i = 0; i < k; ++i)
            free(bufs[i]);
        free(o);
    }
    float a[4] = {1, 2, 3, 4}, o[8];
    const float *ins[2] = {a, a};
    const float *with_null[2] = {a, NULL};
    int32_t ch[2] = {2, 2}, bad_ch[2] = {2, 0};
    fill_sentinel(o, 8);
    assert_int_equal(tq_f32_concat(2, 2, NULL, ch, o), TQ_ERR_NULL);
    assert_int_equal(tq_f32_concat(2, 2, ins, NULL, o), TQ_ERR_NULL);
    assert_int_equal(tq_f32_concat(2, 2, ins, ch, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_f32_concat(2, 2, with_null, ch, o), TQ_ERR_NULL);
    assert_int_equal(tq_f32_concat(2, 0, ins, ch, o), TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_concat(2, 2, ins, bad_ch, o), TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_concat(SIZE_MAX / 2, 2, ins, ch, o), TQ_ERR_OVERFLOW);
    assert_true(is_sentinel(o, 8));
    float big[8] = {0};
    const float *over[2] = {big, big};
    assert_int_equal(tq_f32_concat(1, 2, over, ch, big + 1), TQ_ERR_ALIAS);
}

static void test_pad(void **state)
{
    (void)state;
    tt_rng r = {5};
    for (int trial = 0; trial < 40; ++trial) {
        const tq_dims in = {tt_int(&r, 1, 3), tt_int(&r, 1, 6), tt_int(&r, 1, 6), tt_int(&r, 1, 4)};
        const int32_t t = tt_int(&r, 0, 2), b = tt_int(&r, 0, 2);
        const int32_t l = tt_int(&r, 0, 2), rr = tt_int(&r, 0, 2);
        const tq_dims out = {in.n, in.h + t + b, in.w + l + rr, in.c};
        const size_t ni = (size_t)in.n * in.h * in.w * in.c;
        const size_t no = (size_t)out.n * out.h * out.w * out.c;
        float *x = fmalloc(ni), *o = fmalloc(no + 1);
        tt_fill_f32(&r, x, ni, -1, 1);
        fill_sentinel(o, no + 1);
        const float value = trial % 2 ? 0.0f : -3.25f;
        assert_int_equal(tq_f32_pad(&in, x, t, b, l, rr, value, &out, o), TQ_OK);
        for (int32_t n = 0; n < out.n; ++n)
            for (int32_t y = 0; y < out.h; ++y)
                for (int32_t xx = 0; xx < out.w; ++xx)
                    for (int32_t c = 0; c < out.c; ++c) {
                        const int32_t sy = y - t, sx = xx - l;
                        const float want =
                            sy < 0 || sy >= in.h || sx < 0 || sx >= in.w
                                ? value
                                : x[(((size_t)n * in.h + sy) * in.w + sx) * in.c + c];
                        assert_true(o[(((size_t)n * out.h + y) * out.w + xx) * out.c + c] == want);
                    }
        assert_true(is_sentinel(o + no, 1));
        free(x);
        free(o);
    }
    float x[8] = {0}, o[32];
    const tq_dims in = {1, 2, 2, 2}, out = {1, 4, 2, 2}, wrong = {1, 4, 3, 2};
    fill_sentinel(o, 32);
    assert_int_equal(tq_f32_pad(NULL, x, 1, 1, 0, 0, 0, &out, o), TQ_ERR_NULL);
    assert_int_equal(tq_f32_pad(&in, NULL, 1, 1, 0, 0, 0, &out, o), TQ_ERR_NULL);
    assert_int_equal(tq_f32_pad(&in, x, 1, 1, 0, 0, 0, NULL, o), TQ_ERR_NULL);
    assert_int_equal(tq_f32_pad(&in, x, 1, 1, 0, 0, 0, &out, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_f32_pad(&in, x, -1, 3, 0, 0, 0, &out, o), TQ_ERR_PARAM);
    assert_int_equal(tq_f32_pad(&in, x, 1, 1, 0, 0, 0, &wrong, o), TQ_ERR_SHAPE);
    const tq_dims zero = {1, 0, 2, 2};
    assert_int_equal(tq_f32_pad(&zero, x, 1, 1, 0, 0, 0, &out, o), TQ_ERR_SHAPE);
    assert_true(is_sentinel(o, 32));
    assert_int_equal(tq_f32_pad(&in, o, 1, 1, 0, 0, 0, &out, o + 4), TQ_ERR_ALIAS);
}

static void test_global_avg_pool(void **state)
{
    (void)state;
    tt_rng r = {6};
    for (int trial = 0; trial < 40; ++trial) {
        const tq_dims in = {tt_int(&r, 1, 4), tt_int(&r, 1, 9), tt_int(&r, 1, 9),
                            trial % 4 == 0 ? tt_int(&r, 60, 140) : tt_int(&r, 1, 11)};
        const size_t ni = (size_t)in.n * in.h * in.w * in.c;
        float *x = fmalloc(ni), *o = fmalloc((size_t)in.n * in.c + 1);
        tt_fill_f32(&r, x, ni, -5, 5);
        fill_sentinel(o, (size_t)in.n * in.c + 1);
        assert_int_equal(tq_f32_global_avg_pool(&in, x, o), TQ_OK);
        for (int32_t n = 0; n < in.n; ++n)
            for (int32_t c = 0; c < in.c; ++c) {
                double s = 0.0;
                for (int32_t p = 0; p < in.h * in.w; ++p)
                    s += x[((size_t)n * in.h * in.w + (size_t)p) * in.c + c];
                const double want = s / (in.h * in.w);
                assert_true(fabs(o[(size_t)n * in.c + c] - want) <= 1e-6 * (fabs(want) + 1e-3));
            }
        assert_true(is_sentinel(o + (size_t)in.n * in.c, 1));
        free(x);
        free(o);
    }
    float x[8] = {0}, o[2];
    const tq_dims in = {1, 2, 2, 2}, bad = {1, 2, 0, 2};
    fill_sentinel(o, 2);
    assert_int_equal(tq_f32_global_avg_pool(NULL, x, o), TQ_ERR_NULL);
    assert_int_equal(tq_f32_global_avg_pool(&in, NULL, o), TQ_ERR_NULL);
    assert_int_equal(tq_f32_global_avg_pool(&in, x, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_f32_global_avg_pool(&bad, x, o), TQ_ERR_SHAPE);
    assert_true(is_sentinel(o, 2));
    assert_int_equal(tq_f32_global_avg_pool(&in, x, x + 7), TQ_ERR_ALIAS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mul),
        cmocka_unit_test(test_channel_affine),
        cmocka_unit_test(test_clamp_leaky),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_global_avg_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
