/*
 * Tests of the smaller f32 kernels against naive double-precision oracles
 * written here and in oracle_f32.h: fully connected, max / average pooling, add, softmax, and
 * the activation clamps; every error path with the output checked
 * untouched.
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

/* ---- activations -------------------------------------------------------- */

static void test_act_from(void **state)
{
    (void)state;
    tq_f32_act a;
    assert_int_equal(tq_f32_act_from(TQ_ACT_NONE, &a), TQ_OK);
    assert_true(isinf(a.min) && a.min < 0 && isinf(a.max) && a.max > 0);
    assert_int_equal(tq_f32_act_from(TQ_ACT_RELU, &a), TQ_OK);
    assert_true(a.min == 0.0f && !signbit(a.min) && isinf(a.max) &&
                a.max > 0);
    assert_int_equal(tq_f32_act_from(TQ_ACT_RELU6, &a), TQ_OK);
    assert_true(a.min == 0.0f && a.max == 6.0f);

    const tq_f32_act before = {1.25f, 2.5f};
    static const int32_t bad[] = {-1, 3, 4, 100, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        a = before;
        assert_int_equal(tq_f32_act_from(bad[i], &a), TQ_ERR_PARAM);
        assert_memory_equal(&a, &before, sizeof a);
    }
    assert_int_equal(tq_f32_act_from(TQ_ACT_RELU, NULL), TQ_ERR_NULL);
}

/* ---- fully connected ---------------------------------------------------- */

static void test_fc_random(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 200; ++seed) {
        tt_rng r = {seed};
        const int32_t batch = tt_int(&r, 1, 5);
        const int32_t in_f = tt_int(&r, 1, 70);
        const int32_t out_f = tt_int(&r, 1, 40);
        tq_f32_act act_s;
        const tq_f32_act *act = pick_act(&r, &act_s, -0.35f, 0.6f);
        const size_t in_n = (size_t)batch * in_f, w_n = (size_t)out_f * in_f;
        const size_t out_n = (size_t)batch * out_f;
        float *in = xmalloc(in_n * sizeof(float));
        float *w = xmalloc(w_n * sizeof(float));
        float *bias = tt_int(&r, 0, 1) ? xmalloc(out_f * sizeof(float)) : NULL;
        float *out = xmalloc((out_n + 2) * sizeof(float));
        tt_fill_f32(&r, in, in_n, -2.0f, 2.0f);
        tt_fill_f32(&r, w, w_n, -1.0f, 1.0f);
        if (bias)
            tt_fill_f32(&r, bias, (size_t)out_f, -1.0f, 1.0f);
        fill_sentinel(out, out_n + 2);
        assert_int_equal(tq_f32_fully_connected(batch, in_f, out_f, in, w,
                                                bias, act, out),
                         TQ_OK);
        for (int32_t b = 0; b < batch; ++b)
            for (int32_t o = 0; o < out_f; ++o) {
                double mag;
                const double want = clamp_d(
                    dot_d(bias ? bias[o] : 0.0, in + (size_t)b * in_f,
                          w + (size_t)o * in_f, in_f, &mag),
                    act);
                const double got = out[(size_t)b * out_f + o];
                if (!(fabs(got - want) <= sum_tol(want, mag)))
                    fail_msg("seed %llu batch=%d in=%d out=%d: out[%d][%d] = "
                             "%.9g, want %.9g",
                             (unsigned long long)seed, batch, in_f, out_f, b,
                             o, got, want);
            }
        assert_true(is_sentinel(out + out_n, 2));
        free(in);
        free(w);
        free(bias);
        free(out);
    }
}

static void test_fc_errors(void **state)
{
    (void)state;
    float in[2 * 3], w[4 * 3], bias[4], out[2 * 4 + 4];
    tt_rng r = {9};
    tt_fill_f32(&r, in, 6, -1, 1);
    tt_fill_f32(&r, w, 12, -1, 1);
    tt_fill_f32(&r, bias, 4, -1, 1);
    fill_sentinel(out, 12);
    const tq_f32_act bad = {0.5f, 0.25f};
    assert_int_equal(tq_f32_fully_connected(2, 3, 4, NULL, w, bias, NULL, out),
                     TQ_ERR_NULL);
    assert_int_equal(tq_f32_fully_connected(2, 3, 4, in, NULL, bias, NULL, out),
                     TQ_ERR_NULL);
    assert_int_equal(tq_f32_fully_connected(2, 3, 4, in, w, bias, NULL, NULL),
                     TQ_ERR_NULL);
    assert_int_equal(tq_f32_fully_connected(0, 3, 4, in, w, bias, NULL, out),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_fully_connected(2, 0, 4, in, w, bias, NULL, out),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_fully_connected(2, 3, -4, in, w, bias, NULL, out),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_fully_connected(-1, 3, 4, in, w, bias, NULL, out),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_fully_connected(2, 3, 4, in, w, bias, &bad, out),
                     TQ_ERR_PARAM);
    /* INT32_MAX² floats only overflow a 32-bit size_t. */
    if (SIZE_MAX / sizeof(float) / INT32_MAX < INT32_MAX)
        assert_int_equal(tq_f32_fully_connected(INT32_MAX, INT32_MAX, 1, in,
                                                w, bias, NULL, out),
                         TQ_ERR_OVERFLOW);
    assert_true(is_sentinel(out, 12));
    /* Output overlapping the input, weights or bias. */
    float buf[32];
    tt_fill_f32(&r, buf, 32, -1, 1);
    float copy[32];
    memcpy(copy, buf, sizeof buf);
    assert_int_equal(tq_f32_fully_connected(2, 3, 4, buf, w, NULL, NULL,
                                            buf + 5),
                     TQ_ERR_ALIAS);
    assert_int_equal(tq_f32_fully_connected(2, 3, 4, in, buf + 10, NULL, NULL,
                                            buf + 20),
                     TQ_ERR_ALIAS);
    assert_int_equal(tq_f32_fully_connected(2, 3, 4, in, w, buf + 27, NULL,
                                            buf + 20),
                     TQ_ERR_ALIAS);
    assert_memory_equal(buf, copy, sizeof buf);
}

/* ---- pooling ------------------------------------------------------------ */

/* Naive pool over the non-padded taps. */
static double pool_oracle(const tq_pool_params *p, const tq_dims *in_d,
                          const float *in, int avg, int32_t n, int32_t oy,
                          int32_t ox, int32_t c)
{
    double best = -INFINITY, sum = 0.0;
    int32_t count = 0;
    for (int32_t ky = 0; ky < p->kernel_h; ++ky)
        for (int32_t kx = 0; kx < p->kernel_w; ++kx) {
            const int32_t iy = oy * p->stride_h - p->pad_top + ky;
            const int32_t ix = ox * p->stride_w - p->pad_left + kx;
            if (iy < 0 || iy >= in_d->h || ix < 0 || ix >= in_d->w)
                continue;
            const double v =
                in[(((size_t)n * in_d->h + iy) * in_d->w + ix) * in_d->c + c];
            best = v > best ? v : best;
            sum += v;
            ++count;
        }
    assert_true(count > 0);
    return avg ? sum / count : best;
}

static void test_pool_random(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 300; ++seed) {
        tt_rng r = {seed * 31};
        tq_pool_params p;
        tq_dims in_d, out_d;
        for (;;) {
            p = tt_pool_params(&r);
            in_d = (tq_dims){tt_int(&r, 1, 2), tt_int(&r, 1, 12),
                             tt_int(&r, 1, 12), tt_int(&r, 1, 8)};
            const int32_t sh = in_d.h + p.pad_top + p.pad_bottom;
            const int32_t sw = in_d.w + p.pad_left + p.pad_right;
            if (sh < p.kernel_h || sw < p.kernel_w)
                continue;
            out_d = (tq_dims){in_d.n, (sh - p.kernel_h) / p.stride_h + 1,
                              (sw - p.kernel_w) / p.stride_w + 1, in_d.c};
            break;
        }
        const int avg = (int)(seed % 2);
        tq_f32_act act_s;
        const tq_f32_act *act = pick_act(&r, &act_s, -0.35f, 0.6f);
        const size_t in_n = (size_t)in_d.n * in_d.h * in_d.w * in_d.c;
        const size_t out_n = (size_t)out_d.n * out_d.h * out_d.w * out_d.c;
        float *in = xmalloc(in_n * sizeof(float));
        float *out = xmalloc((out_n + 2) * sizeof(float));
        /* Negative values: a pool that counted padding as 0 would differ. */
        tt_fill_f32(&r, in, in_n, -2.0f, 1.0f);
        fill_sentinel(out, out_n + 2);
        const tq_status st =
            avg ? tq_f32_avg_pool(&p, &in_d, in, act, &out_d, out)
                : tq_f32_max_pool(&p, &in_d, in, act, &out_d, out);
        assert_int_equal(st, TQ_OK);
        size_t i = 0;
        for (int32_t n = 0; n < out_d.n; ++n)
            for (int32_t oy = 0; oy < out_d.h; ++oy)
                for (int32_t ox = 0; ox < out_d.w; ++ox)
                    for (int32_t c = 0; c < out_d.c; ++c, ++i) {
                        const double want = clamp_d(
                            pool_oracle(&p, &in_d, in, avg, n, oy, ox, c), act);
                        const double tol = avg ? 1e-6 * (1 + fabs(want)) : 0.0;
                        if (!(fabs(out[i] - want) <= tol))
                            fail_msg("seed %llu %s k %dx%d s %d,%d pad "
                                     "t%d b%d l%d r%d in {%d,%d,%d,%d}: "
                                     "out[%zu] = %.9g, want %.9g",
                                     (unsigned long long)seed,
                                     avg ? "avg" : "max", p.kernel_h,
                                     p.kernel_w, p.stride_h, p.stride_w,
                                     p.pad_top, p.pad_bottom, p.pad_left,
                                     p.pad_right, in_d.n, in_d.h, in_d.w,
                                     in_d.c, i, (double)out[i], want);
                    }
        assert_true(is_sentinel(out + out_n, 2));
        free(in);
        free(out);
    }
}

/* A 3x3 window of stride 2, padded by 1 at the top and left, on a 4x4 ramp,
 * worked by hand: the windows hold 4, 6, 6 and 9 real taps. */
static void test_pool_exact(void **state)
{
    (void)state;
    float in[16], out[4];
    for (int i = 0; i < 16; ++i)
        in[i] = (float)i;
    const tq_pool_params p = {3, 3, 2, 2, 1, 0, 1, 0};
    const tq_dims in_d = {1, 4, 4, 1}, out_d = {1, 2, 2, 1};
    assert_int_equal(tq_f32_avg_pool(&p, &in_d, in, NULL, &out_d, out), TQ_OK);
    /* Rows {0,1} or {1,2,3} times columns {0,1} or {1,2,3}. */
    assert_true(out[0] == (0 + 1 + 4 + 5) / 4.0f);
    assert_true(out[1] == (1 + 2 + 3 + 5 + 6 + 7) / 6.0f);
    assert_true(out[2] == (4 + 5 + 8 + 9 + 12 + 13) / 6.0f);
    assert_true(out[3] == (5 + 6 + 7 + 9 + 10 + 11 + 13 + 14 + 15) / 9.0f);
    assert_int_equal(tq_f32_max_pool(&p, &in_d, in, NULL, &out_d, out), TQ_OK);
    assert_true(out[0] == 5 && out[1] == 7 && out[2] == 13 && out[3] == 15);
    const tq_f32_act cap = {6.0f, 12.0f};
    assert_int_equal(tq_f32_max_pool(&p, &in_d, in, &cap, &out_d, out), TQ_OK);
    assert_true(out[0] == 6 && out[1] == 7 && out[2] == 12 && out[3] == 12);
}

static void test_pool_errors(void **state)
{
    (void)state;
    float in[1 * 5 * 5 * 2], out[1 * 2 * 2 * 2 + 4];
    tt_rng r = {10};
    tt_fill_f32(&r, in, 50, -1, 1);
    fill_sentinel(out, 12);
    const tq_pool_params good = {2, 2, 2, 2, 0, 0, 0, 0};
    const tq_dims in_d = {1, 5, 5, 2}, out_d = {1, 2, 2, 2};
    const tq_f32_act bad = {NAN, NAN};
    tq_pool_params p;
    tq_dims i2, o2;
    for (int avg = 0; avg < 2; ++avg) {
        tq_status (*fn)(const tq_pool_params *, const tq_dims *, const float *,
                        const tq_f32_act *, const tq_dims *, float *) =
            avg ? tq_f32_avg_pool : tq_f32_max_pool;
#define PL(status, edit)                                                     \
    do {                                                                     \
        p = good;                                                            \
        i2 = in_d;                                                           \
        o2 = out_d;                                                          \
        const float *xi = in;                                                \
        const tq_f32_act *xa = NULL;                                         \
        float *xo = out;                                                     \
        edit;                                                                \
        assert_int_equal(fn(&p, &i2, xi, xa, &o2, xo), status);              \
        assert_true(is_sentinel(out, 12));                                   \
    } while (0)
        PL(TQ_ERR_PARAM, p.kernel_h = 0);
        PL(TQ_ERR_PARAM, p.stride_w = 0);
        PL(TQ_ERR_PARAM, p.pad_top = 2);   /* pad == window */
        PL(TQ_ERR_PARAM, p.pad_right = -1);
        PL(TQ_ERR_PARAM, xa = &bad);
        PL(TQ_ERR_SHAPE, o2.h = 3);
        PL(TQ_ERR_SHAPE, o2.c = 3);
        PL(TQ_ERR_SHAPE, o2.n = 2);
        PL(TQ_ERR_SHAPE, i2.c = 0);
        PL(TQ_ERR_SHAPE, (p.kernel_w = 7, p.stride_w = 1));
        PL(TQ_ERR_NULL, xi = NULL);
        PL(TQ_ERR_NULL, xo = NULL);
        PL(TQ_ERR_ALIAS, xi = out + 4);
        assert_int_equal(fn(NULL, &in_d, in, NULL, &out_d, out), TQ_ERR_NULL);
        assert_int_equal(fn(&good, NULL, in, NULL, &out_d, out), TQ_ERR_NULL);
        assert_int_equal(fn(&good, &in_d, in, NULL, NULL, out), TQ_ERR_NULL);
        assert_true(is_sentinel(out, 12));
#undef PL
    }
}

/* ---- add ---------------------------------------------------------------- */

static void test_add(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 50; ++seed) {
        tt_rng r = {seed * 17};
        const size_t n = (size_t)tt_int(&r, 1, 300);
        tq_f32_act act_s;
        const tq_f32_act *act = pick_act(&r, &act_s, -0.35f, 0.6f);
        float *a = xmalloc(n * sizeof(float));
        float *b = xmalloc(n * sizeof(float));
        float *out = xmalloc((n + 1) * sizeof(float));
        float *want = xmalloc(n * sizeof(float));
        tt_fill_f32(&r, a, n, -5.0f, 5.0f);
        tt_fill_f32(&r, b, n, -5.0f, 5.0f);
        /* float + float rounds once, so the clamped float sum is exact. */
        for (size_t i = 0; i < n; ++i)
            want[i] = (float)clamp_d((double)(a[i] + b[i]), act);
        fill_sentinel(out, n + 1);
        assert_int_equal(tq_f32_add(n, a, b, act, out), TQ_OK);
        assert_memory_equal(out, want, n * sizeof(float));
        assert_true(is_sentinel(out + n, 1));
        /* In place into a, then into b. */
        float *a2 = xmalloc(n * sizeof(float));
        memcpy(a2, a, n * sizeof(float));
        assert_int_equal(tq_f32_add(n, a2, b, act, a2), TQ_OK);
        assert_memory_equal(a2, want, n * sizeof(float));
        memcpy(a2, b, n * sizeof(float));
        assert_int_equal(tq_f32_add(n, a, a2, act, a2), TQ_OK);
        assert_memory_equal(a2, want, n * sizeof(float));
        /* a + a in place. */
        memcpy(a2, a, n * sizeof(float));
        assert_int_equal(tq_f32_add(n, a2, a2, act, a2), TQ_OK);
        for (size_t i = 0; i < n; ++i)
            assert_true(a2[i] == (float)clamp_d((double)(a[i] + a[i]), act));
        free(a2);
        free(a);
        free(b);
        free(out);
        free(want);
    }
}

static void test_add_errors(void **state)
{
    (void)state;
    float a[8], b[8], out[8], buf[16];
    tt_rng r = {11};
    tt_fill_f32(&r, a, 8, -1, 1);
    tt_fill_f32(&r, b, 8, -1, 1);
    tt_fill_f32(&r, buf, 16, -1, 1);
    float copy[16];
    memcpy(copy, buf, sizeof buf);
    fill_sentinel(out, 8);
    const tq_f32_act bad = {1.0f, 0.0f};
    assert_int_equal(tq_f32_add(8, NULL, b, NULL, out), TQ_ERR_NULL);
    assert_int_equal(tq_f32_add(8, a, NULL, NULL, out), TQ_ERR_NULL);
    assert_int_equal(tq_f32_add(8, a, b, NULL, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_f32_add(8, a, b, &bad, out), TQ_ERR_PARAM);
    assert_int_equal(tq_f32_add(SIZE_MAX, a, b, NULL, out), TQ_ERR_OVERFLOW);
    assert_int_equal(tq_f32_add(SIZE_MAX / 2, a, b, NULL, out),
                     TQ_ERR_OVERFLOW);
    assert_true(is_sentinel(out, 8));
    /* Shifted overlaps. */
    assert_int_equal(tq_f32_add(8, buf, b, NULL, buf + 1), TQ_ERR_ALIAS);
    assert_int_equal(tq_f32_add(8, a, buf + 3, NULL, buf), TQ_ERR_ALIAS);
    assert_int_equal(tq_f32_add(8, buf + 8, buf + 1, NULL, buf + 8),
                     TQ_ERR_ALIAS);
    assert_memory_equal(buf, copy, sizeof buf);
    /* Nothing to add: no pointer is needed. */
    assert_int_equal(tq_f32_add(0, NULL, NULL, NULL, NULL), TQ_OK);
    assert_int_equal(tq_f32_add(0, NULL, NULL, &bad, NULL), TQ_ERR_PARAM);
    /* Overlapping inputs are fine: they are only read. */
    assert_int_equal(tq_f32_add(8, buf, buf + 3, NULL, out), TQ_OK);
    for (int i = 0; i < 8; ++i)
        assert_true(out[i] == buf[i] + buf[i + 3]);
}

/* ---- softmax ------------------------------------------------------------ */

static void softmax_oracle(int32_t cols, const float *x, double *y)
{
    double max = x[0], sum = 0.0;
    for (int32_t j = 1; j < cols; ++j)
        max = x[j] > max ? x[j] : max;
    for (int32_t j = 0; j < cols; ++j)
        sum += exp((double)x[j] - max);
    for (int32_t j = 0; j < cols; ++j)
        y[j] = exp((double)x[j] - max) / sum;
}

static void check_softmax(int32_t rows, int32_t cols, const float *in,
                          const float *out, uint64_t seed)
{
    double *y = xmalloc((size_t)cols * sizeof(double));
    for (int32_t r = 0; r < rows; ++r) {
        softmax_oracle(cols, in + (size_t)r * cols, y);
        double sum = 0.0;
        for (int32_t j = 0; j < cols; ++j) {
            const double got = out[(size_t)r * cols + j];
            sum += got;
            /* float x - max rounds by up to 40 · 2^-24 in the exponent. */
            if (!(fabs(got - y[j]) <= 1e-5 * y[j] + 1e-30))
                fail_msg("seed %llu rows=%d cols=%d: out[%d][%d] = %.9g, "
                         "want %.9g",
                         (unsigned long long)seed, rows, cols, r, j, got, y[j]);
        }
        if (!(fabs(sum - 1.0) <= 1e-5))
            fail_msg("seed %llu: row %d sums to %.9g", (unsigned long long)seed,
                     r, sum);
    }
    free(y);
}

static void test_softmax(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 100; ++seed) {
        tt_rng r = {seed * 13};
        const int32_t rows = tt_int(&r, 1, 5), cols = tt_int(&r, 1, 60);
        const size_t n = (size_t)rows * cols;
        float *in = xmalloc(n * sizeof(float));
        float *out = xmalloc((n + 1) * sizeof(float));
        /* Some rows far from 0 (exp(1000) overflows any float). */
        const float shift = seed % 3 == 0 ? 1000.0f
                            : seed % 3 == 1 ? -1000.0f
                                            : 0.0f;
        for (size_t i = 0; i < n; ++i)
            in[i] = shift + tt_float(&r, -20.0f, 20.0f);
        fill_sentinel(out, n + 1);
        assert_int_equal(tq_f32_softmax(rows, cols, in, out), TQ_OK);
        check_softmax(rows, cols, in, out, seed);
        assert_true(is_sentinel(out + n, 1));
        /* In place gives the same bits. */
        float *inplace = xmalloc(n * sizeof(float));
        memcpy(inplace, in, n * sizeof(float));
        assert_int_equal(tq_f32_softmax(rows, cols, inplace, inplace), TQ_OK);
        assert_memory_equal(inplace, out, n * sizeof(float));
        free(inplace);
        free(in);
        free(out);
    }
    /* Extremes: a single column is 1; equal values share evenly; the huge
     * spread of ±FLT_MAX-scale logits underflows cleanly to 0 and 1. */
    float x[4] = {1000.0f, 1000.0f, 1000.0f, 1000.0f}, y[4];
    assert_int_equal(tq_f32_softmax(4, 1, x, y), TQ_OK);
    for (int i = 0; i < 4; ++i)
        assert_true(y[i] == 1.0f);
    assert_int_equal(tq_f32_softmax(1, 4, x, y), TQ_OK);
    for (int i = 0; i < 4; ++i)
        assert_true(y[i] == 0.25f);
    const float spread[2] = {-3e38f, 3e38f};
    assert_int_equal(tq_f32_softmax(1, 2, spread, y), TQ_OK);
    assert_true(y[0] == 0.0f && y[1] == 1.0f);
}

static void test_softmax_errors(void **state)
{
    (void)state;
    float in[6] = {1, 2, 3, 4, 5, 6}, out[6];
    fill_sentinel(out, 6);
    assert_int_equal(tq_f32_softmax(2, 3, NULL, out), TQ_ERR_NULL);
    assert_int_equal(tq_f32_softmax(2, 3, in, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_f32_softmax(0, 3, in, out), TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_softmax(2, 0, in, out), TQ_ERR_SHAPE);
    assert_int_equal(tq_f32_softmax(-2, 3, in, out), TQ_ERR_SHAPE);
    if (SIZE_MAX / sizeof(float) / INT32_MAX < INT32_MAX)
        assert_int_equal(tq_f32_softmax(INT32_MAX, INT32_MAX, in, out),
                         TQ_ERR_OVERFLOW);
    /* Non-finite anywhere (even in the last row): nothing is written. */
    in[5] = NAN;
    assert_int_equal(tq_f32_softmax(2, 3, in, out), TQ_ERR_NOT_FINITE);
    in[5] = INFINITY;
    assert_int_equal(tq_f32_softmax(2, 3, in, out), TQ_ERR_NOT_FINITE);
    in[5] = -INFINITY;
    assert_int_equal(tq_f32_softmax(2, 3, in, out), TQ_ERR_NOT_FINITE);
    assert_true(is_sentinel(out, 6));
    in[5] = NAN;
    float copy[6];
    memcpy(copy, in, sizeof in);
    assert_int_equal(tq_f32_softmax(2, 3, in, in), TQ_ERR_NOT_FINITE);
    assert_memory_equal(in, copy, sizeof in);
    /* Shifted overlap. */
    in[5] = 6.0f;
    memcpy(copy, in, sizeof in);
    assert_int_equal(tq_f32_softmax(1, 5, in, in + 1), TQ_ERR_ALIAS);
    assert_memory_equal(in, copy, sizeof in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_act_from),
        cmocka_unit_test(test_fc_random),
        cmocka_unit_test(test_fc_errors),
        cmocka_unit_test(test_pool_random),
        cmocka_unit_test(test_pool_exact),
        cmocka_unit_test(test_pool_errors),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_add_errors),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_softmax_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
