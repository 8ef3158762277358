/*
 * Tests of the remaining int8 kernels: fully connected, max / average
 * pooling, ADD (and its parameters), quantize / dequantize, table lookup. Every expected
 * value comes from an oracle written from docs/int8-arithmetic.md and
 * TFLite's formulas, in int64 or double: here, and the requantization in
 * oracle_s8.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tq_internal.h"
#include "oracle_s8.h"
#include "testutil.h"
#include "tinyq.h"

#define SENT8 ((int8_t)0x5A)

/* ---- fully connected ------------------------------------------------------ */

static void test_fc_random(void **state)
{
    (void)state;
    tt_rng r = {0xfc000001u};
    int lo = 0, hi = 0, wo_nonzero = 0, pc_seen[2] = {0, 0};
    for (int iter = 0; iter < 120; ++iter) {
        const int batch = tt_int(&r, 1, 11);
        const int in_f = tt_int(&r, 0, 3) ? tt_int(&r, 1, 80) : tt_int(&r, 1, 600);
        const int out_f = tt_int(&r, 1, 100);
        const int io = tt_int(&r, 0, 4) == 0 ? (tt_int(&r, 0, 1) ? -127 : 128)
                                             : tt_int(&r, -127, 128);
        int wo = 0;
        switch (tt_int(&r, 0, 4)) {
        case 0: wo = -128; break;
        case 1: wo = 128; break;
        case 2: wo = tt_int(&r, -128, 128); break;
        default: wo = 0; /* TFLite's symmetric weights */
        }
        wo_nonzero += wo != 0;
        int8_t *x = malloc((size_t)batch * in_f);
        int8_t *w = malloc((size_t)out_f * in_f);
        int8_t *out = malloc((size_t)batch * out_f);
        int32_t *bias = tt_int(&r, 0, 3) ? malloc((size_t)out_f * 4) : NULL;
        int32_t *mult = malloc((size_t)out_f * 4), *shift = malloc((size_t)out_f * 4);
        assert_non_null(x);
        assert_non_null(w);
        assert_non_null(out);
        assert_non_null(mult);
        assert_non_null(shift);
        tt_fill_s8(&r, x, (size_t)batch * in_f, -128, 127);
        tt_fill_s8(&r, w, (size_t)out_f * in_f, -128, 127);
        if (bias)
            for (int o = 0; o < out_f; ++o)
                bias[o] = tt_int(&r, 0, 9) ? tt_int(&r, -300000, 300000)
                                           : INT32_MAX - tt_int(&r, 0, 9);
        const int pc = tt_int(&r, 0, 1);
        pc_seen[pc]++;
        int base = 0;
        while ((1 << base) < in_f)
            ++base;
        for (int o = 0; o < (pc ? out_f : 1); ++o) {
            mult[o] = tt_int(&r, 1 << 30, INT32_MAX);
            shift[o] = tt_int(&r, 0, 7) == 0 ? tt_int(&r, 1, 2)
                                              : -8 - base / 2 - tt_int(&r, 0, 4);
        }
        const tq_s8_output os = {mult, shift, pc, tt_int(&r, 0, 1),
                                 tt_int(&r, -128, 127), -128, 127};
        memset(out, SENT8, (size_t)batch * out_f);
        assert_int_equal(tq_s8_fully_connected(batch, in_f, out_f, x, io, w, wo,
                                               bias, &os, out),
                         TQ_OK);
        for (int b = 0; b < batch; ++b)
            for (int o = 0; o < out_f; ++o) {
                int64_t acc = 0;
                for (int i = 0; i < in_f; ++i)
                    acc += ((int64_t)w[(size_t)o * in_f + i] + wo) *
                           ((int64_t)x[(size_t)b * in_f + i] + io);
                acc = o_sat32(acc + (bias ? bias[o] : 0));
                const int ch = pc ? o : 0;
                const int8_t want = o_output(acc, mult[ch], shift[ch],
                                             os.rounding, os.output_offset,
                                             -128, 127);
                lo += want == -128;
                hi += want == 127;
                const int8_t got = out[(size_t)b * out_f + o];
                if (got != want)
                    fail_msg("iter %d batch %d in %d out %d io %d wo %d pc %d "
                             "rnd %d: out[%d][%d] = %d, want %d",
                             iter, batch, in_f, out_f, io, wo, pc, os.rounding,
                             b, o, got, want);
            }
        free(x);
        free(w);
        free(out);
        free(bias);
        free(mult);
        free(shift);
    }
    assert_true(lo > 0 && hi > 0 && wo_nonzero > 10);
    assert_true(pc_seen[0] > 0 && pc_seen[1] > 0);
}

static void test_fc_errors(void **state)
{
    (void)state;
    int8_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, w[12] = {0}, out[6];
    int32_t mult[3] = {1 << 30, 1 << 30, 1 << 30}, shift[3] = {0, 0, 0};
    const tq_s8_output os = {mult, shift, 1, TQ_ROUND_DOUBLE, 0, -128, 127};
    tq_s8_output bad;
#define FC(st, ...)                                                          \
    do {                                                                     \
        memset(out, SENT8, sizeof out);                                      \
        assert_int_equal(tq_s8_fully_connected(__VA_ARGS__), st);            \
        for (size_t i_ = 0; i_ < sizeof out; ++i_)                           \
            assert_int_equal(out[i_], SENT8);                                \
    } while (0)
    FC(TQ_ERR_NULL, 2, 4, 3, NULL, 0, w, 0, NULL, &os, out);
    FC(TQ_ERR_NULL, 2, 4, 3, x, 0, NULL, 0, NULL, &os, out);
    FC(TQ_ERR_NULL, 2, 4, 3, x, 0, w, 0, NULL, NULL, out);
    assert_int_equal(tq_s8_fully_connected(2, 4, 3, x, 0, w, 0, NULL, &os, NULL),
                     TQ_ERR_NULL);
    FC(TQ_ERR_SHAPE, 0, 4, 3, x, 0, w, 0, NULL, &os, out);
    FC(TQ_ERR_SHAPE, 2, 0, 3, x, 0, w, 0, NULL, &os, out);
    FC(TQ_ERR_SHAPE, 2, 4, -3, x, 0, w, 0, NULL, &os, out);
    FC(TQ_ERR_OVERFLOW, 1, TQ_S8_MAX_REDUCTION + 1, 1, x, 0, w, 0, NULL, &os,
       out);
    FC(TQ_ERR_PARAM, 2, 4, 3, x, -128, w, 0, NULL, &os, out);
    FC(TQ_ERR_PARAM, 2, 4, 3, x, 129, w, 0, NULL, &os, out);
    FC(TQ_ERR_PARAM, 2, 4, 3, x, 0, w, 129, NULL, &os, out);
    FC(TQ_ERR_PARAM, 2, 4, 3, x, 0, w, -129, NULL, &os, out);
    bad = os;
    bad.per_channel = 3;
    FC(TQ_ERR_PARAM, 2, 4, 3, x, 0, w, 0, NULL, &bad, out);
    mult[2] = -1;
    FC(TQ_ERR_PARAM, 2, 4, 3, x, 0, w, 0, NULL, &os, out);
    mult[2] = 1 << 30;
    shift[1] = 31;
    FC(TQ_ERR_PARAM, 2, 4, 3, x, 0, w, 0, NULL, &os, out);
    shift[1] = 0;
    bad = os;
    bad.act_max = 200;
    FC(TQ_ERR_PARAM, 2, 4, 3, x, 0, w, 0, NULL, &bad, out);
    FC(TQ_ERR_ALIAS, 2, 4, 3, out + 2, 0, w, 0, NULL, &os, out);
#undef FC
    /* The extremes of both offsets are legal. */
    assert_int_equal(tq_s8_fully_connected(2, 4, 3, x, 128, w, -128, NULL, &os,
                                           out),
                     TQ_OK);
    assert_int_equal(tq_s8_fully_connected(2, 4, 3, x, -127, w, 128, NULL, &os,
                                           out),
                     TQ_OK);
}

/* ---- pooling -------------------------------------------------------------- */

typedef struct pool_case {
    tq_pool_params p;
    tq_dims in, out;
} pool_case;

static int pool_extent(int in, int k, int s, int p0, int p1)
{
    return in + p0 + p1 < k ? 0 : (in + p0 + p1 - k) / s + 1;
}

/* Round half away from zero of the exact quotient sum / n, via 2·|sum|. */
static int64_t o_avg(int64_t sum, int64_t n)
{
    const int64_t mag = sum < 0 ? -sum : sum;
    const int64_t q = (2 * mag + n) / (2 * n);
    return sum < 0 ? -q : q;
}

static int64_t o_pool(const pool_case *c, const int8_t *x, int avg, int n,
                      int oy, int ox, int ch, int lo, int hi)
{
    int64_t best = INT64_MIN, sum = 0, count = 0;
    for (int ky = 0; ky < c->p.kernel_h; ++ky)
        for (int kx = 0; kx < c->p.kernel_w; ++kx) {
            const int iy = oy * c->p.stride_h + ky - c->p.pad_top;
            const int ix = ox * c->p.stride_w + kx - c->p.pad_left;
            if (iy < 0 || iy >= c->in.h || ix < 0 || ix >= c->in.w)
                continue;
            const int64_t v =
                x[(((size_t)n * c->in.h + iy) * c->in.w + ix) * c->in.c + ch];
            best = v > best ? v : best;
            sum += v;
            ++count;
        }
    assert_true(count > 0);
    return o_clamp(avg ? o_avg(sum, count) : best, lo, hi);
}

static void test_pool_random(void **state)
{
    (void)state;
    tt_rng r = {0xb001u};
    int runs = 0, padded = 0;
    while (runs < 400) {
        pool_case c;
        c.p = tt_pool_params(&r);
        c.in = (tq_dims){tt_int(&r, 1, 2), tt_int(&r, 1, 9), tt_int(&r, 1, 9),
                         tt_int(&r, 1, 5)};
        /* Sometimes more channels than the kernel's channel block (64). */
        if (tt_int(&r, 0, 3) == 0)
            c.in.c = tt_int(&r, 60, 150);
        const int oh = pool_extent(c.in.h, c.p.kernel_h, c.p.stride_h,
                                   c.p.pad_top, c.p.pad_bottom);
        const int ow = pool_extent(c.in.w, c.p.kernel_w, c.p.stride_w,
                                   c.p.pad_left, c.p.pad_right);
        if (oh < 1 || ow < 1)
            continue;
        ++runs;
        padded += c.p.pad_top + c.p.pad_bottom + c.p.pad_left + c.p.pad_right > 0;
        c.out = (tq_dims){c.in.n, oh, ow, c.in.c};
        const size_t nin = (size_t)c.in.n * c.in.h * c.in.w * c.in.c;
        const size_t nout = (size_t)c.out.n * oh * ow * c.out.c;
        int8_t *x = malloc(nin), *out = malloc(nout);
        assert_non_null(x);
        assert_non_null(out);
        /* Narrow ranges make ties in the average common. */
        if (tt_int(&r, 0, 1))
            tt_fill_s8(&r, x, nin, -128, 127);
        else
            tt_fill_s8(&r, x, nin, -2, 2);
        const int lo = tt_int(&r, 0, 2) ? -128 : tt_int(&r, -128, 0);
        const int hi = tt_int(&r, 0, 2) ? 127 : tt_int(&r, lo, 127);
        for (int avg = 0; avg < 2; ++avg) {
            memset(out, SENT8, nout);
            const tq_status st =
                avg ? tq_s8_avg_pool(&c.p, &c.in, x, lo, hi, &c.out, out)
                    : tq_s8_max_pool(&c.p, &c.in, x, lo, hi, &c.out, out);
            assert_int_equal(st, TQ_OK);
            size_t idx = 0;
            for (int n = 0; n < c.out.n; ++n)
                for (int oy = 0; oy < oh; ++oy)
                    for (int ox = 0; ox < ow; ++ox)
                        for (int ch = 0; ch < c.out.c; ++ch, ++idx) {
                            const int64_t want =
                                o_pool(&c, x, avg, n, oy, ox, ch, lo, hi);
                            if (out[idx] != want)
                                fail_msg("%s pool run %d: in {%d,%d,%d,%d} k "
                                         "%dx%d s %d,%d pad %d,%d,%d,%d: "
                                         "[%d][%d][%d][%d] = %d want %lld",
                                         avg ? "avg" : "max", runs, c.in.n,
                                         c.in.h, c.in.w, c.in.c, c.p.kernel_h,
                                         c.p.kernel_w, c.p.stride_h,
                                         c.p.stride_w, c.p.pad_top,
                                         c.p.pad_bottom, c.p.pad_left,
                                         c.p.pad_right, n, oy, ox, ch, out[idx],
                                         (long long)want);
                        }
        }
        free(x);
        free(out);
    }
    assert_true(padded > 50);
}

/* Ties of the average, both signs, and a padded corner whose divisor is
 * the count of real taps. */
static void test_avg_pool_ties(void **state)
{
    (void)state;
    const tq_pool_params p = {1, 2, 1, 2, 0, 0, 0, 0};
    const tq_dims in = {1, 1, 12, 1}, out = {1, 1, 6, 1};
    const int8_t x[12] = {0, 1, 0, -1, -128, -127, 126, 127, 2, 3, -3, -2};
    /* 0.5 -> 1, -0.5 -> -1, -127.5 -> -128, 126.5 -> 127, 2.5 -> 3,
     * -2.5 -> -3 (away from zero, not to even). */
    const int8_t want[6] = {1, -1, -128, 127, 3, -3};
    int8_t o[6];
    assert_int_equal(tq_s8_avg_pool(&p, &in, x, -128, 127, &out, o), TQ_OK);
    assert_memory_equal(o, want, sizeof want);

    /* 3x3 window, pad 1 all round, on a 2x2 image: every window sees the
     * 4 real pixels, so the sum is divided by 4, not 9. */
    const tq_pool_params p3 = {3, 3, 1, 1, 1, 1, 1, 1};
    const tq_dims in2 = {1, 2, 2, 1}, out2 = {1, 2, 2, 1};
    const int8_t x2[4] = {1, 1, 0, 0}; /* sum 2 / 4 = 0.5 -> 1 */
    int8_t o2[4];
    assert_int_equal(tq_s8_avg_pool(&p3, &in2, x2, -128, 127, &out2, o2),
                     TQ_OK);
    for (int i = 0; i < 4; ++i)
        assert_int_equal(o2[i], 1);
    const int8_t x3[4] = {-1, -1, 0, 0}; /* -0.5 -> -1 */
    assert_int_equal(tq_s8_avg_pool(&p3, &in2, x3, -128, 127, &out2, o2),
                     TQ_OK);
    for (int i = 0; i < 4; ++i)
        assert_int_equal(o2[i], -1);
    /* The clamp comes after the division. */
    assert_int_equal(tq_s8_avg_pool(&p3, &in2, x3, 0, 127, &out2, o2), TQ_OK);
    for (int i = 0; i < 4; ++i)
        assert_int_equal(o2[i], 0);
    /* Max pool ignores padding even when every real tap is negative. */
    const int8_t x4[4] = {-100, -90, -80, -128};
    assert_int_equal(tq_s8_max_pool(&p3, &in2, x4, -128, 127, &out2, o2),
                     TQ_OK);
    for (int i = 0; i < 4; ++i)
        assert_int_equal(o2[i], -80);
    assert_int_equal(tq_s8_max_pool(&p3, &in2, x4, -128, -85, &out2, o2),
                     TQ_OK);
    for (int i = 0; i < 4; ++i)
        assert_int_equal(o2[i], -85);
}

static void test_pool_errors(void **state)
{
    (void)state;
    const tq_pool_params p = {2, 2, 2, 2, 0, 0, 0, 0};
    const tq_dims in = {1, 4, 4, 2}, out = {1, 2, 2, 2};
    int8_t x[32] = {0}, o[8];
    tq_pool_params bp;
    tq_dims d;
#define POOL(st, fn, ...)                                                    \
    do {                                                                     \
        memset(o, SENT8, sizeof o);                                          \
        assert_int_equal(fn(__VA_ARGS__), st);                               \
        for (size_t i_ = 0; i_ < sizeof o; ++i_)                             \
            assert_int_equal(o[i_], SENT8);                                  \
    } while (0)
    for (int avg = 0; avg < 2; ++avg) {
        tq_status (*fn)(const tq_pool_params *, const tq_dims *, const int8_t *,
                        int32_t, int32_t, const tq_dims *, int8_t *) =
            avg ? tq_s8_avg_pool : tq_s8_max_pool;
        POOL(TQ_ERR_NULL, fn, NULL, &in, x, -128, 127, &out, o);
        POOL(TQ_ERR_NULL, fn, &p, NULL, x, -128, 127, &out, o);
        POOL(TQ_ERR_NULL, fn, &p, &in, NULL, -128, 127, &out, o);
        POOL(TQ_ERR_NULL, fn, &p, &in, x, -128, 127, NULL, o);
        assert_int_equal(fn(&p, &in, x, -128, 127, &out, NULL), TQ_ERR_NULL);
        bp = p;
        bp.pad_top = 2; /* not smaller than the window */
        POOL(TQ_ERR_PARAM, fn, &bp, &in, x, -128, 127, &out, o);
        bp = p;
        bp.stride_w = 0;
        POOL(TQ_ERR_PARAM, fn, &bp, &in, x, -128, 127, &out, o);
        bp = p;
        bp.kernel_h = 0;
        POOL(TQ_ERR_PARAM, fn, &bp, &in, x, -128, 127, &out, o);
        d = out;
        d.h = 3;
        POOL(TQ_ERR_SHAPE, fn, &p, &in, x, -128, 127, &d, o);
        d = out;
        d.c = 1;
        POOL(TQ_ERR_SHAPE, fn, &p, &in, x, -128, 127, &d, o);
        bp = p;
        bp.kernel_w = 5; /* larger than the image */
        POOL(TQ_ERR_SHAPE, fn, &bp, &in, x, -128, 127, &out, o);
        POOL(TQ_ERR_PARAM, fn, &p, &in, x, 5, 4, &out, o);
        POOL(TQ_ERR_PARAM, fn, &p, &in, x, -129, 127, &out, o);
        POOL(TQ_ERR_PARAM, fn, &p, &in, x, -128, 128, &out, o);
        POOL(TQ_ERR_ALIAS, fn, &p, &in, o, -128, 127, &out, o);
    }
#undef POOL
}

/* ---- ADD ------------------------------------------------------------------ */

/* QuantizeMultiplier written differently from the library: normalise by
 * repeated halving / doubling instead of frexp. */
static void o_quantize_multiplier(double real, int64_t *m, int *shift)
{
    if (real == 0.0) {
        *m = 0;
        *shift = 0;
        return;
    }
    int e = 0;
    while (real >= 1.0) {
        real /= 2.0;
        ++e;
    }
    while (real < 0.5) {
        real *= 2.0;
        --e;
    }
    int64_t q = llround(real * 2147483648.0); /* half away from zero */
    if (q == (INT64_C(1) << 31)) {
        q >>= 1;
        ++e;
    }
    if (e < -31) {
        q = 0;
        e = 0;
    }
    *m = q;
    *shift = e;
}

static void test_add_params(void **state)
{
    (void)state;
    const float triples[][3] = {
        {0.05f, 0.1f, 0.15f},      {0.1f, 0.05f, 0.15f},
        {1.0f / 255, 1.0f / 255, 2.0f / 255},
        {0.0235294f, 0.0117647f, 0.0313725f},
        {0.5f, 0.25f, 0.001f},     {3.0f, 7.0f, 9.5f},
        {1e-3f, 1.0f, 0.5f},       {0.2f, 0.2f, 1e-7f}, /* output shift > 0 */
    };
    for (size_t t = 0; t < sizeof triples / sizeof triples[0]; ++t) {
        const float s1 = triples[t][0], s2 = triples[t][1], so = triples[t][2];
        tq_s8_add_params p;
        assert_int_equal(tq_s8_add_params_from_scales(s1, -3, s2, 127, so, -128,
                                                      -100, 120,
                                                      TQ_ROUND_SINGLE, &p),
                         TQ_OK);
        const double twice = 2.0 * (double)(s1 > s2 ? s1 : s2);
        int64_t m;
        int sh;
        o_quantize_multiplier((double)s1 / twice, &m, &sh);
        assert_int_equal(p.input1_multiplier, m);
        assert_int_equal(p.input1_shift, sh);
        o_quantize_multiplier((double)s2 / twice, &m, &sh);
        assert_int_equal(p.input2_multiplier, m);
        assert_int_equal(p.input2_shift, sh);
        o_quantize_multiplier(twice / (1048576.0 * (double)so), &m, &sh);
        assert_int_equal(p.output_multiplier, m);
        assert_int_equal(p.output_shift, sh);
        assert_true(p.input1_shift <= 0 && p.input2_shift <= 0);
        assert_int_equal(p.input1_offset, 3);
        assert_int_equal(p.input2_offset, -127);
        assert_int_equal(p.output_offset, -128);
        assert_int_equal(p.left_shift, 20);
        assert_int_equal(p.act_min, -100);
        assert_int_equal(p.act_max, 120);
        assert_int_equal(p.rounding, TQ_ROUND_SINGLE);
    }
    /* Equal scales: both input multipliers are exactly 1/2 = 2^30 · 2^-31. */
    tq_s8_add_params p;
    assert_int_equal(tq_s8_add_params_from_scales(0.5f, 0, 0.5f, 0, 1.0f, 0,
                                                  -128, 127, TQ_ROUND_DOUBLE,
                                                  &p),
                     TQ_OK);
    assert_int_equal(p.input1_multiplier, 1 << 30);
    assert_int_equal(p.input1_shift, 0);

    /* Bad arguments leave the struct alone. */
    tq_s8_add_params keep;
    memset(&keep, 0x33, sizeof keep);
    p = keep;
    const float bad_scales[4] = {0.0f, -1.0f, INFINITY, NAN};
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(tq_s8_add_params_from_scales(bad_scales[i], 0, 1.0f, 0,
                                                      1.0f, 0, -128, 127, 0, &p),
                         TQ_ERR_PARAM);
        assert_int_equal(tq_s8_add_params_from_scales(1.0f, 0, bad_scales[i], 0,
                                                      1.0f, 0, -128, 127, 0, &p),
                         TQ_ERR_PARAM);
        assert_int_equal(tq_s8_add_params_from_scales(1.0f, 0, 1.0f, 0,
                                                      bad_scales[i], 0, -128,
                                                      127, 0, &p),
                         TQ_ERR_PARAM);
    }
    assert_int_equal(tq_s8_add_params_from_scales(1.0f, 128, 1.0f, 0, 1.0f, 0,
                                                  -128, 127, 0, &p),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_s8_add_params_from_scales(1.0f, 0, 1.0f, -129, 1.0f, 0,
                                                  -128, 127, 0, &p),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_s8_add_params_from_scales(1.0f, 0, 1.0f, 0, 1.0f, 128,
                                                  -128, 127, 0, &p),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_s8_add_params_from_scales(1.0f, 0, 1.0f, 0, 1.0f, 0, 3,
                                                  2, 0, &p),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_s8_add_params_from_scales(1.0f, 0, 1.0f, 0, 1.0f, 0,
                                                  -128, 127, 2, &p),
                     TQ_ERR_PARAM);
    /* An output scale so small the multiplier needs a shift over 30. */
    assert_int_equal(tq_s8_add_params_from_scales(1.0f, 0, 1.0f, 0, 1e-20f, 0,
                                                  -128, 127, 0, &p),
                     TQ_ERR_PARAM);
    assert_memory_equal(&p, &keep, sizeof p);
    assert_int_equal(tq_s8_add_params_from_scales(1.0f, 0, 1.0f, 0, 1.0f, 0,
                                                  -128, 127, 0, NULL),
                     TQ_ERR_NULL);
}

/* TFLite's int8 ADD, element by element, in int64. */
static int8_t o_add(int x1, int x2, const tq_s8_add_params *p)
{
    const int64_t v1 = ((int64_t)x1 + p->input1_offset) * ((int64_t)1 << p->left_shift);
    const int64_t v2 = ((int64_t)x2 + p->input2_offset) * ((int64_t)1 << p->left_shift);
    const int64_t s1 = o_requant(v1, p->input1_multiplier, p->input1_shift,
                                 p->rounding);
    const int64_t s2 = o_requant(v2, p->input2_multiplier, p->input2_shift,
                                 p->rounding);
    return o_output(s1 + s2, p->output_multiplier, p->output_shift,
                    p->rounding, p->output_offset, p->act_min, p->act_max);
}

static void test_add_random(void **state)
{
    (void)state;
    tt_rng r = {0xadd0001u};
    const size_t n = 777;
    int8_t *a = malloc(n), *b = malloc(n), *out = malloc(n), *want = malloc(n);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(out);
    assert_non_null(want);
    int lo = 0, hi = 0;
    for (int iter = 0; iter < 80; ++iter) {
        tq_s8_add_params p;
        const float s1 = tt_float(&r, 0.001f, 0.2f);
        const float s2 = tt_int(&r, 0, 3) ? tt_float(&r, 0.001f, 0.2f) : s1;
        const float so = tt_float(&r, 0.3f, 1.5f) * (s1 + s2);
        const int zo = tt_int(&r, -128, 127);
        const int relu = tt_int(&r, 0, 1);
        assert_int_equal(tq_s8_add_params_from_scales(
                             s1, tt_int(&r, -128, 127), s2,
                             tt_int(&r, -128, 127), so, zo, relu ? zo : -128,
                             127, tt_int(&r, 0, 1), &p),
                         TQ_OK);
        if (iter % 4 == 3) {
            /* Arbitrary legal parameters, incl. a left output shift. */
            p.input1_multiplier = tt_int(&r, 0, INT32_MAX);
            p.input2_multiplier = tt_int(&r, 0, INT32_MAX);
            p.input1_shift = tt_int(&r, -31, 0);
            p.input2_shift = tt_int(&r, -31, 0);
            p.output_multiplier = tt_int(&r, 0, INT32_MAX);
            p.output_shift = tt_int(&r, -25, 3);
        }
        tt_fill_s8(&r, a, n, -128, 127);
        tt_fill_s8(&r, b, n, -128, 127);
        for (size_t i = 0; i < n; ++i) {
            want[i] = o_add(a[i], b[i], &p);
            lo += want[i] == p.act_min;
            hi += want[i] == p.act_max;
        }
        memset(out, SENT8, n);
        assert_int_equal(tq_s8_add(n, a, b, &p, out), TQ_OK);
        for (size_t i = 0; i < n; ++i)
            if (out[i] != want[i])
                fail_msg("iter %d i %zu: add(%d, %d) = %d want %d (rnd %d)",
                         iter, i, a[i], b[i], out[i], want[i], p.rounding);
        /* In place over either input. */
        int8_t *a2 = malloc(n), *b2 = malloc(n);
        assert_non_null(a2);
        assert_non_null(b2);
        memcpy(a2, a, n);
        memcpy(b2, b, n);
        assert_int_equal(tq_s8_add(n, a2, b, &p, a2), TQ_OK);
        assert_memory_equal(a2, want, n);
        assert_int_equal(tq_s8_add(n, a, b2, &p, b2), TQ_OK);
        assert_memory_equal(b2, want, n);
        free(a2);
        free(b2);
    }
    assert_true(lo > 0 && hi > 0);
    free(a);
    free(b);
    free(out);
    free(want);
}

static void test_add_errors(void **state)
{
    (void)state;
    tq_s8_add_params good, p;
    assert_int_equal(tq_s8_add_params_from_scales(0.1f, 0, 0.2f, 0, 0.3f, 0,
                                                  -128, 127, 0, &good),
                     TQ_OK);
    int8_t a[16] = {0}, b[16] = {0}, buf[32];
#define ADD(st, pp, aa, bb, oo)                                              \
    do {                                                                     \
        memset(buf, SENT8, sizeof buf);                                      \
        assert_int_equal(tq_s8_add(8, aa, bb, pp, oo), st);                  \
        for (size_t i_ = 0; i_ < sizeof buf; ++i_)                           \
            assert_int_equal(buf[i_], SENT8);                                \
    } while (0)
    ADD(TQ_ERR_NULL, NULL, a, b, buf);
    ADD(TQ_ERR_NULL, &good, NULL, b, buf);
    ADD(TQ_ERR_NULL, &good, a, NULL, buf);
    assert_int_equal(tq_s8_add(8, a, b, &good, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_s8_add(0, NULL, NULL, &good, NULL), TQ_OK);
    /* Partial overlap of an input with the output. */
    ADD(TQ_ERR_ALIAS, &good, buf + 1, b, buf);
    ADD(TQ_ERR_ALIAS, &good, a, buf + 7, buf);
    ADD(TQ_ERR_ALIAS, &good, buf, buf + 3, buf); /* a exact, b partial */
    int32_t *fields[] = {&p.input1_offset, &p.input2_offset, &p.output_offset,
                         &p.input1_multiplier, &p.input2_multiplier,
                         &p.output_multiplier, &p.input1_shift, &p.input2_shift,
                         &p.output_shift, &p.left_shift, &p.act_min, &p.act_max,
                         &p.rounding};
    const int32_t bad_values[][2] = {
        {-128, 129}, {-128, 129}, {-129, 128},  {-1, INT32_MIN},
        {-1, -7},    {-1, -7},    {1, -32},     {1, -32},
        {31, -32},   {-1, 21},    {-129, 128},  {-129, 128},
        {2, -1},
    };
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; ++f)
        for (int v = 0; v < 2; ++v) {
            p = good;
            *fields[f] = bad_values[f][v];
            ADD(TQ_ERR_PARAM, &p, a, b, buf);
        }
    p = good;
    p.act_min = 10;
    p.act_max = 9;
    ADD(TQ_ERR_PARAM, &p, a, b, buf);
#undef ADD
}

/* ---- quantize / dequantize ------------------------------------------------ */

static int8_t o_quantize(float x, float scale, int zp)
{
    const float q = x / scale; /* TFLite divides in float */
    double r;
    if (isinf(q))
        r = q;
    else
        r = q >= 0 ? floor((double)q + 0.5) : ceil((double)q - 0.5);
    return (int8_t)(r + zp < -128 ? -128 : (r + zp > 127 ? 127 : r + zp));
}

static void test_quantize(void **state)
{
    (void)state;
    const float scale = 0.25f;
    /* Ties at ±0.5, ±1.5, ±2.5 steps round away from zero. */
    const float x[] = {0.125f, -0.125f, 0.375f, -0.375f, 0.625f, -0.625f,
                       0.0f,   -0.0f,   31.75f, 32.0f,   -32.0f, -32.25f,
                       1e30f,  -1e30f,  INFINITY, -INFINITY, 0.1f, -0.1f};
    const int8_t want0[] = {1, -1, 2, -2, 3, -3, 0, 0, 127, 127, -128, -128,
                            127, -128, 127, -128, 0, 0};
    const size_t n = sizeof x / sizeof x[0];
    int8_t out[sizeof x / sizeof x[0]];
    assert_int_equal(tq_s8_quantize_f32(n, x, scale, 0, out), TQ_OK);
    for (size_t i = 0; i < n; ++i) {
        assert_int_equal(out[i], want0[i]);
        assert_int_equal(out[i], o_quantize(x[i], scale, 0));
    }
    /* With a zero point the clamp is on the shifted value. */
    assert_int_equal(tq_s8_quantize_f32(n, x, scale, -128, out), TQ_OK);
    for (size_t i = 0; i < n; ++i)
        assert_int_equal(out[i], o_quantize(x[i], scale, -128));
    assert_int_equal(out[0], -127);
    assert_int_equal(out[1], -128);

    tt_rng r = {0x9a9au};
    float *xs = malloc(5000 * sizeof(float));
    int8_t *q = malloc(5000);
    float *back = malloc(5000 * sizeof(float));
    assert_non_null(xs);
    assert_non_null(q);
    assert_non_null(back);
    for (int iter = 0; iter < 20; ++iter) {
        const float s = tt_float(&r, 1e-3f, 1.0f);
        const int zp = tt_int(&r, -128, 127);
        for (int i = 0; i < 5000; ++i)
            xs[i] = tt_int(&r, 0, 3) ? tt_float(&r, -200.0f, 200.0f) * s
                                     : (float)tt_int(&r, -300, 300) * 0.5f * s;
        assert_int_equal(tq_s8_quantize_f32(5000, xs, s, zp, q), TQ_OK);
        for (int i = 0; i < 5000; ++i)
            if (q[i] != o_quantize(xs[i], s, zp))
                fail_msg("quantize(%a / %a, zp %d) = %d want %d", (double)xs[i],
                         (double)s, zp, q[i], o_quantize(xs[i], s, zp));
        assert_int_equal(tq_s8_dequantize_f32(5000, q, s, zp, back), TQ_OK);
        for (int i = 0; i < 5000; ++i) {
            /* (q - zp) has 9 bits: the double product is exact, so one
             * rounding to float is the correctly rounded float product. */
            const float w = (float)((double)(q[i] - zp) * (double)s);
            if (back[i] != w)
                fail_msg("dequantize(%d, %a, %d) = %a want %a", q[i], (double)s,
                         zp, (double)back[i], (double)w);
        }
    }
    /* Every length up to 70 (vector bodies and tails), at an odd start,
     * with ties, huge values and infinities mixed in. */
    for (int len = 1; len <= 70; ++len) {
        const float s = tt_float(&r, 1e-3f, 1.0f);
        const int zp = tt_int(&r, -128, 127);
        for (int i = 0; i < len + 1; ++i) {
            switch (tt_int(&r, 0, 5)) {
            case 0: xs[i] = (float)tt_int(&r, -400, 400) * 0.5f * s; break;
            case 1: xs[i] = tt_int(&r, 0, 1) ? INFINITY : -1e38f; break;
            default: xs[i] = tt_float(&r, -300.0f, 300.0f) * s;
            }
        }
        memset(q, 0x5A, 80);
        assert_int_equal(tq_s8_quantize_f32((size_t)len, xs + 1, s, zp, q + 1),
                         TQ_OK);
        assert_int_equal(q[0], 0x5A);
        assert_int_equal(q[len + 1], 0x5A);
        for (int i = 0; i < len; ++i)
            if (q[i + 1] != o_quantize(xs[i + 1], s, zp))
                fail_msg("len %d: quantize(%a / %a, zp %d) = %d want %d", len,
                         (double)xs[i + 1], (double)s, zp, q[i + 1],
                         o_quantize(xs[i + 1], s, zp));
    }
    free(xs);
    free(q);
    free(back);
}

static void test_quantize_errors(void **state)
{
    (void)state;
    const float x[4] = {1.0f, 2.0f, NAN, 3.0f};
    int8_t o[8];
    float f[8];
    memset(o, SENT8, sizeof o);
    assert_int_equal(tq_s8_quantize_f32(4, x, 1.0f, 0, o), TQ_ERR_NOT_FINITE);
    for (int i = 0; i < 8; ++i)
        assert_int_equal(o[i], SENT8);
    const float bad_scales[5] = {0.0f, -1.0f, INFINITY, NAN, -0.0f};
    for (int i = 0; i < 5; ++i) {
        assert_int_equal(tq_s8_quantize_f32(2, x, bad_scales[i], 0, o),
                         TQ_ERR_PARAM);
        assert_int_equal(tq_s8_dequantize_f32(2, o, bad_scales[i], 0, f),
                         TQ_ERR_PARAM);
    }
    for (int i = 0; i < 8; ++i)
        assert_int_equal(o[i], SENT8);
    /* The scales tq_quantize() refuses, this refuses too (issue 14): a
     * scale whose float reciprocal is not finite (below 2^-128), as 1e-40.
     * Each is put to both calls; the smallest usable scale passes both. */
    const float tiny[6] = {1e-40f, 1.4e-45f, 2.9e-39f, 0x1p-128f,
                           0x1.000002p-128f, 3e-39f};
    for (int i = 0; i < 6; ++i) {
        const float s = tiny[i];
        const int usable = isfinite(1.0f / s);
        const int32_t zp = 0;
        const tq_qparams qp = {&s, &zp, 1, 0, -128, 127, TQ_FROUND_HALF_AWAY};
        float xin[2] = {0.0f, 1e-39f};
        int8_t q2[2] = {SENT8, SENT8};
        const int64_t shape[1] = {2};
        tq_tensor tin, tout;
        assert_int_equal(tq_tensor_init(&tin, xin, TQ_F32, 1, shape), TQ_OK);
        assert_int_equal(tq_tensor_init(&tout, q2, TQ_S8, 1, shape), TQ_OK);
        const tq_status want = usable ? TQ_OK : TQ_ERR_PARAM;
        assert_int_equal(tq_quantize(&tin, &qp, &tout), want);
        memset(o, SENT8, sizeof o);
        assert_int_equal(tq_s8_quantize_f32(2, xin, s, 0, o), want);
        if (!usable)
            for (int k = 0; k < 8; ++k)
                assert_int_equal(o[k], SENT8);
        for (int k = 0; k < 8; ++k)
            f[k] = 42.0f;
        assert_int_equal(tq_s8_dequantize_f32(2, o, s, 0, f), want);
        if (!usable)
            for (int k = 0; k < 8; ++k)
                assert_true(f[k] == 42.0f);
    }
    memset(o, SENT8, sizeof o);
    assert_int_equal(tq_s8_quantize_f32(2, x, 1.0f, 128, o), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_quantize_f32(2, x, 1.0f, -129, o), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_quantize_f32(2, NULL, 1.0f, 0, o), TQ_ERR_NULL);
    assert_int_equal(tq_s8_quantize_f32(2, x, 1.0f, 0, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_s8_quantize_f32(0, NULL, 1.0f, 0, NULL), TQ_OK);
    for (int i = 0; i < 8; ++i)
        assert_int_equal(o[i], SENT8);
    for (int i = 0; i < 8; ++i)
        f[i] = 42.0f;
    assert_int_equal(tq_s8_dequantize_f32(2, o, 1.0f, 128, f), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_dequantize_f32(2, NULL, 1.0f, 0, f), TQ_ERR_NULL);
    assert_int_equal(tq_s8_dequantize_f32(2, o, 1.0f, 0, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_s8_dequantize_f32(0, NULL, 1.0f, 0, NULL), TQ_OK);
    for (int i = 0; i < 8; ++i)
        assert_true(f[i] == 42.0f);
    /* Overlapping buffers. */
    float fx[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    assert_int_equal(tq_s8_quantize_f32(4, fx, 1.0f, 0, (int8_t *)(void *)fx + 2),
                     TQ_ERR_ALIAS);
    assert_true(fx[0] == 1.0f && fx[1] == 2.0f && fx[2] == 3.0f && fx[3] == 4.0f);
    assert_int_equal(tq_s8_dequantize_f32(4, (const int8_t *)(void *)fx, 1.0f, 0,
                                          fx),
                     TQ_ERR_ALIAS);
    assert_true(fx[0] == 1.0f && fx[1] == 2.0f && fx[2] == 3.0f && fx[3] == 4.0f);
}

/* The library's inline rounding against the C library's roundf(): every
 * half-integer tie and its two neighbours up to 2^24, random bit patterns
 * of every exponent, and the clamp to ±2^30 beyond. */
static void check_round(float v)
{
    const float want = fabsf(v) > 1073741824.0f ? copysignf(1073741824.0f, v)
                                                 : roundf(v);
    const float got = tq__round_half_away(v);
    if (got != want)
        fail_msg("round(%.9g) = %.9g, roundf gives %.9g", (double)v,
                 (double)got, (double)want);
}

static void test_round_half_away(void **state)
{
    (void)state;
    for (int32_t k = -(1 << 22); k <= (1 << 22); k += 97) {
        const float tie = (float)k + 0.5f;
        check_round(tie);
        check_round(nextafterf(tie, INFINITY));
        check_round(nextafterf(tie, -INFINITY));
        check_round((float)k);
    }
    tt_rng r = {0x0f10a7u};
    for (int i = 0; i < 2000000; ++i) {
        const uint32_t bits = (uint32_t)tt_int(&r, INT32_MIN, INT32_MAX);
        float v;
        memcpy(&v, &bits, sizeof v);
        if (!isnan(v))
            check_round(v);
    }
    check_round(INFINITY);
    check_round(-INFINITY);
    check_round(0.49999997f);
    check_round(-0.49999997f);
    check_round(8388607.5f);
    check_round(-8388607.5f);
}

/* ---- table lookup --------------------------------------------------------- */

/* Every code through a random table, at odd lengths, in place and not. */
static void test_lookup(void **state)
{
    (void)state;
    tt_rng r = {0x100c0u};
    int8_t table[256], in[300], out[302];
    tt_fill_s8(&r, table, 256, -128, 127);
    for (int i = 0; i < 300; ++i)
        in[i] = (int8_t)(i % 256 - 128);
    const size_t lens[] = {1, 2, 3, 7, 16, 31, 256, 300};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; ++li) {
        const size_t n = lens[li];
        memset(out, SENT8, sizeof out);
        assert_int_equal(tq_s8_lookup(n, in, table, out + 1), TQ_OK);
        for (size_t i = 0; i < n; ++i)
            assert_int_equal(out[1 + i], table[in[i] + 128]);
        assert_int_equal(out[0], SENT8);
        assert_int_equal(out[n + 1], SENT8);
        /* In place. */
        int8_t x[300];
        memcpy(x, in, n);
        assert_int_equal(tq_s8_lookup(n, x, table, x), TQ_OK);
        assert_memory_equal(x, out + 1, n);
    }
    /* The identity table copies; a constant table writes the constant. */
    int8_t id[256], k[256];
    for (int i = 0; i < 256; ++i)
        id[i] = (int8_t)(i - 128), k[i] = -7;
    assert_int_equal(tq_s8_lookup(300, in, id, out), TQ_OK);
    assert_memory_equal(out, in, 300);
    assert_int_equal(tq_s8_lookup(300, in, k, out), TQ_OK);
    for (int i = 0; i < 300; ++i)
        assert_int_equal(out[i], -7);
}

static void test_lookup_errors(void **state)
{
    (void)state;
    int8_t table[256], buf[64], out[8];
    for (int i = 0; i < 256; ++i)
        table[i] = (int8_t)(127 - i);
    for (int i = 0; i < 64; ++i)
        buf[i] = (int8_t)i;
    memset(out, SENT8, sizeof out);
    assert_int_equal(tq_s8_lookup(4, NULL, table, out), TQ_ERR_NULL);
    assert_int_equal(tq_s8_lookup(4, buf, NULL, out), TQ_ERR_NULL);
    assert_int_equal(tq_s8_lookup(4, buf, table, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_s8_lookup(0, NULL, NULL, NULL), TQ_OK);
    for (int i = 0; i < 8; ++i)
        assert_int_equal(out[i], SENT8);
    /* Partial overlap of in and out, and an out over the table. */
    assert_int_equal(tq_s8_lookup(8, buf, table, buf + 1), TQ_ERR_ALIAS);
    assert_int_equal(tq_s8_lookup(8, buf + 1, table, buf), TQ_ERR_ALIAS);
    for (int i = 0; i < 64; ++i)
        assert_int_equal(buf[i], i);
    assert_int_equal(tq_s8_lookup(8, buf, table, table + 250), TQ_ERR_ALIAS);
    assert_int_equal(tq_s8_lookup(8, buf, table, table), TQ_ERR_ALIAS);
    for (int i = 0; i < 256; ++i)
        assert_int_equal(table[i], (int8_t)(127 - i));
}

/* ---- overlap checks of every int8 kernel (issue 14) ----------------------
 * Each kernel gets a small valid problem whose buffers live in one arena,
 * in slots far apart. For every buffer the call writes (output, scratch)
 * and every other buffer of the call, the written one is moved to overlap
 * the other by its last bytes, then by its first bytes: the call must give
 * TQ_ERR_ALIAS and leave the whole arena, output included, as it was. With
 * the buffers apart the same call succeeds (the control). */

enum { A_IN, A_FILTER, A_BIAS, A_MULT, A_SHIFT, A_OUT, A_SCRATCH, A_COUNT };
static const char *const alias_names[A_COUNT] = {
    "input", "filter/weights", "bias", "multipliers", "shifts", "output",
    "scratch"};
enum { A_SLOT = 8192, A_CH = 4 };

typedef struct alias_kernel {
    const char *name;
    size_t bytes[A_COUNT];   /* 0: the kernel has no such buffer */
    int writes[A_COUNT];     /* buffers the call writes */
    tq_status (*run)(void *const p[A_COUNT], const size_t bytes[A_COUNT]);
    const void *filter_image; /* copied as the filter (packed formats);
                                 NULL: random codes */
} alias_kernel;

static const tq_conv_params alias_conv = {1, 1, 0, 0, 0, 0, 1, 1, 1};
static const tq_dims conv_in = {1, 5, 5, 3}, conv_filter = {A_CH, 3, 3, 3},
                     conv_out = {1, 3, 3, A_CH};
static const tq_dims dw_in = {1, 5, 5, 2}, dw_filter = {1, 3, 3, A_CH},
                     dw_out = {1, 3, 3, A_CH};
static const tq_dims pool_in = {1, 6, 6, 3}, pool_out = {1, 2, 2, A_CH};
static uint8_t alias_packed_image[4096];
static uint8_t alias_conv_packed_image[4096];
/* The int16 and int4 kernels (issue 14: the same rule in every kernel). */
static const tq_dims tconv_in = {1, 3, 3, 3}, tconv_out = {1, 5, 5, A_CH};

static tq_s8_output alias_stage(void *const p[A_COUNT])
{
    const tq_s8_output os = {(const int32_t *)p[A_MULT],
                             (const int32_t *)p[A_SHIFT], 1, TQ_ROUND_DOUBLE,
                             -3, -128, 127};
    return os;
}

static tq_status run_conv(void *const p[A_COUNT], const size_t b[A_COUNT])
{
    const tq_s8_output os = alias_stage(p);
    return tq_s8_conv2d(&alias_conv, &conv_in, p[A_IN], 5, &conv_filter,
                        p[A_FILTER], p[A_BIAS], &os, &conv_out, p[A_OUT],
                        p[A_SCRATCH], b[A_SCRATCH]);
}

static tq_status run_conv_pool(void *const p[A_COUNT], const size_t b[A_COUNT])
{
    const tq_s8_output os = alias_stage(p);
    return tq_s8_conv2d_relu_maxpool2(&alias_conv, &pool_in, p[A_IN], 5,
                                      &conv_filter, p[A_FILTER], p[A_BIAS],
                                      &os, &pool_out, p[A_OUT], p[A_SCRATCH],
                                      b[A_SCRATCH]);
}

static tq_status run_depthwise(void *const p[A_COUNT], const size_t b[A_COUNT])
{
    (void)b;
    const tq_s8_output os = alias_stage(p);
    return tq_s8_depthwise_conv2d(&alias_conv, &dw_in, p[A_IN], 5, &dw_filter,
                                  p[A_FILTER], p[A_BIAS], &os, &dw_out,
                                  p[A_OUT]);
}

static tq_status run_fc(void *const p[A_COUNT], const size_t b[A_COUNT])
{
    (void)b;
    const tq_s8_output os = alias_stage(p);
    return tq_s8_fully_connected(3, 10, A_CH, p[A_IN], 7, p[A_FILTER], 0,
                                 p[A_BIAS], &os, p[A_OUT]);
}

static tq_status run_fc_packed(void *const p[A_COUNT], const size_t b[A_COUNT])
{
    const tq_s8_output os = alias_stage(p);
    return tq_s8_fully_connected_packed(3, 10, A_CH, p[A_IN], 7, p[A_FILTER],
                                        b[A_FILTER], p[A_BIAS], &os, p[A_OUT]);
}

static tq_status run_gemm(void *const p[A_COUNT], const size_t b[A_COUNT])
{
    (void)b;
    const tq_s8_output os = alias_stage(p);
    return tq_s8_gemm(3, A_CH, 10, p[A_IN], 10, 7, p[A_FILTER], 10, 1,
                      p[A_BIAS], &os, p[A_OUT], A_CH, NULL, 0);
}

static tq_status run_gemm_s32(void *const p[A_COUNT], const size_t b[A_COUNT])
{
    (void)b;
    return tq_s8_gemm_s32(3, A_CH, 10, p[A_IN], 10, 7, p[A_FILTER], 10, 1,
                          p[A_BIAS], p[A_OUT], A_CH);
}

static tq_status run_requant_rows(void *const p[A_COUNT],
                                  const size_t b[A_COUNT])
{
    (void)b;
    const tq_s8_output os = alias_stage(p);
    return tq_s8_requantize_rows(3, A_CH, p[A_IN], A_CH, &os, p[A_OUT], A_CH);
}

static tq_status run_conv_packed(void *const p[A_COUNT],
                                 const size_t b[A_COUNT])
{
    const tq_s8_output os = alias_stage(p);
    return tq_s8_conv2d_packed(&alias_conv, &conv_in, p[A_IN], 5,
                               &conv_filter, p[A_FILTER], b[A_FILTER],
                               p[A_BIAS], &os, &conv_out, p[A_OUT],
                               p[A_SCRATCH], b[A_SCRATCH]);
}

static tq_status run_transpose_conv(void *const p[A_COUNT],
                                    const size_t b[A_COUNT])
{
    const tq_s8_output os = alias_stage(p);
    return tq_s8_transpose_conv(&alias_conv, &tconv_in, p[A_IN], 5,
                                &conv_filter, p[A_FILTER], p[A_BIAS], &os,
                                &tconv_out, p[A_OUT], p[A_SCRATCH],
                                b[A_SCRATCH]);
}

static tq_status run_s4_conv(void *const p[A_COUNT], const size_t b[A_COUNT])
{
    const tq_s8_output os = alias_stage(p);
    return tq_s4_conv2d(&alias_conv, &conv_in, p[A_IN], 5, &conv_filter,
                        p[A_FILTER], p[A_BIAS], &os, &conv_out, p[A_OUT],
                        p[A_SCRATCH], b[A_SCRATCH]);
}

static tq_status run_s4_depthwise(void *const p[A_COUNT],
                                  const size_t b[A_COUNT])
{
    (void)b;
    const tq_s8_output os = alias_stage(p);
    return tq_s4_depthwise_conv2d(&alias_conv, &dw_in, p[A_IN], 5, &dw_filter,
                                  p[A_FILTER], p[A_BIAS], &os, &dw_out,
                                  p[A_OUT]);
}

static tq_status run_s4_fc(void *const p[A_COUNT], const size_t b[A_COUNT])
{
    const tq_s8_output os = alias_stage(p);
    return tq_s4_fully_connected(3, 10, A_CH, p[A_IN], 7, p[A_FILTER],
                                 p[A_BIAS], &os, p[A_OUT], p[A_SCRATCH],
                                 b[A_SCRATCH]);
}

static tq_s16_output alias_stage16(void *const p[A_COUNT])
{
    const tq_s16_output os = {(const int32_t *)p[A_MULT],
                              (const int32_t *)p[A_SHIFT], 1,
                              TQ_ROUND_DOUBLE, -32768, 32767};
    return os;
}

static tq_status run_s16_conv(void *const p[A_COUNT], const size_t b[A_COUNT])
{
    const tq_s16_output os = alias_stage16(p);
    return tq_s16_conv2d(&alias_conv, &conv_in, p[A_IN], &conv_filter,
                         p[A_FILTER], p[A_BIAS], TQ_S32, &os, &conv_out,
                         p[A_OUT], p[A_SCRATCH], b[A_SCRATCH]);
}

static tq_status run_s16_depthwise(void *const p[A_COUNT],
                                   const size_t b[A_COUNT])
{
    (void)b;
    const tq_s16_output os = alias_stage16(p);
    return tq_s16_depthwise_conv2d(&alias_conv, &dw_in, p[A_IN], &dw_filter,
                                   p[A_FILTER], p[A_BIAS], TQ_S32, &os,
                                   &dw_out, p[A_OUT]);
}

/* An int64 bias: 2 · A_CH int32 values of the fill make A_CH int64 ones. */
static tq_status run_s16_fc(void *const p[A_COUNT], const size_t b[A_COUNT])
{
    (void)b;
    const tq_s16_output os = alias_stage16(p);
    return tq_s16_fully_connected(3, 10, A_CH, p[A_IN], p[A_FILTER],
                                  p[A_BIAS], TQ_S64, &os, p[A_OUT]);
}

static tq_status run_pack(void *const p[A_COUNT], const size_t b[A_COUNT])
{
    return tq_s8_pack_weights(A_CH, 10, p[A_FILTER], 10, p[A_OUT], b[A_OUT]);
}

/* Valid contents for every buffer the call reads. */
static void alias_fill(const alias_kernel *k, void *const p[A_COUNT],
                       tt_rng *r)
{
    for (int b = 0; b < A_COUNT; ++b) {
        if (!k->bytes[b] || k->writes[b])
            continue;
        if (b == A_MULT || b == A_SHIFT ||
            (b == A_IN && k->run == run_requant_rows)) {
            int32_t *v = p[b];
            for (size_t i = 0; i < k->bytes[b] / 4; ++i)
                v[i] = b == A_MULT ? tt_int(r, 1 << 30, INT32_MAX)
                                   : (b == A_SHIFT ? tt_int(r, -12, 2)
                                                   : tt_int(r, -5000, 5000));
        } else if (b == A_BIAS) {
            int32_t *v = p[b];
            for (size_t i = 0; i < k->bytes[b] / 4; ++i)
                v[i] = tt_int(r, -300, 300);
        } else if (b == A_FILTER && k->filter_image) {
            memcpy(p[b], k->filter_image, k->bytes[b]);
        } else {
            tt_fill_s8(r, p[b], k->bytes[b], -128, 127);
        }
    }
}

static void alias_kernel_check(const alias_kernel *k, uint8_t *arena,
                               uint8_t *copy, size_t arena_bytes, int *pairs,
                               int *failed)
{
    tt_rng r = {0xa11a5u};
    void *p[A_COUNT];
    for (int b = 0; b < A_COUNT; ++b) {
        assert_true(k->bytes[b] <= A_SLOT / 2);
        p[b] = k->bytes[b] ? arena + (size_t)(b + 1) * A_SLOT : NULL;
    }
    /* The control: every buffer apart. */
    memset(arena, 0x5A, arena_bytes);
    alias_fill(k, p, &r);
    if (k->run(p, k->bytes) != TQ_OK)
        fail_msg("%s: the control call fails", k->name);

    for (int w = 0; w < A_COUNT; ++w) {
        if (!k->writes[w])
            continue;
        for (int x = 0; x < A_COUNT; ++x) {
            if (x == w || !k->bytes[x])
                continue;
            for (int side = 0; side < 2; ++side) {
                void *q[A_COUNT];
                memcpy(q, p, sizeof q);
                uint8_t *xs = p[x];
                /* Overlap x's last bytes, or its first: 4-byte steps keep
                 * int32 buffers aligned. */
                const size_t wb = (k->bytes[w] + 3) & ~(size_t)3;
                q[w] = side == 0 ? xs + ((k->bytes[x] - 1) & ~(size_t)3)
                                 : xs + 4 - wb;
                memset(arena, 0x5A, arena_bytes);
                alias_fill(k, q, &r);
                memcpy(copy, arena, arena_bytes);
                const tq_status st = k->run(q, k->bytes);
                const int changed = memcmp(arena, copy, arena_bytes) != 0;
                if (st != TQ_ERR_ALIAS || changed) {
                    print_message("%s: %s overlapping the %s of %s: status "
                                  "%d%s, expected TQ_ERR_ALIAS\n", k->name,
                                  alias_names[w], side ? "start" : "end",
                                  alias_names[x], (int)st,
                                  changed ? ", memory changed" : "");
                    ++*failed;
                }
                ++*pairs;
            }
        }
    }
}

static void test_alias_every_kernel(void **state)
{
    (void)state;
    size_t conv_scratch, pool_scratch, packed_bytes;
    assert_int_equal(tq_s8_conv2d_scratch_size(&alias_conv, &conv_in,
                                               &conv_filter, &conv_out,
                                               &conv_scratch), TQ_OK);
    assert_int_equal(tq_s8_conv2d_relu_maxpool2_scratch_size(
                         &alias_conv, &pool_in, &conv_filter, &pool_out,
                         &pool_scratch), TQ_OK);
    assert_int_equal(tq_s8_packed_weights_size(A_CH, 10, &packed_bytes),
                     TQ_OK);
    assert_true(packed_bytes <= sizeof alias_packed_image);
    int8_t w[A_CH * 10];
    tt_rng r = {77};
    tt_fill_s8(&r, w, sizeof w, -128, 127);
    assert_int_equal(tq_s8_pack_weights(A_CH, 10, w, 10, alias_packed_image,
                                        packed_bytes), TQ_OK);
    size_t conv_packed_bytes, tconv_scratch, s4_conv_scratch, s4_conv_fast,
        s4_fc_scratch, s16_conv_scratch;
    int8_t cw[A_CH * 27];
    tt_fill_s8(&r, cw, sizeof cw, -127, 127);
    assert_int_equal(tq_s8_conv2d_packed_size(&conv_filter, 1,
                                              &conv_packed_bytes), TQ_OK);
    assert_true(conv_packed_bytes <= sizeof alias_conv_packed_image);
    assert_int_equal(tq_s8_conv2d_pack(&conv_filter, 1, cw,
                                       alias_conv_packed_image,
                                       conv_packed_bytes), TQ_OK);
    assert_int_equal(tq_s8_transpose_conv_scratch_size(&tconv_out,
                                                       &tconv_scratch), TQ_OK);
    assert_int_equal(tq_s4_conv2d_scratch_size(&alias_conv, &conv_in,
                                               &conv_filter, &conv_out,
                                               &s4_conv_scratch), TQ_OK);
    assert_int_equal(tq_s4_conv2d_fast_scratch_size(&alias_conv, &conv_in,
                                                    &conv_filter, &conv_out,
                                                    &s4_conv_fast), TQ_OK);
    assert_int_equal(tq_s4_fully_connected_scratch_size(10, A_CH,
                                                        &s4_fc_scratch),
                     TQ_OK);
    assert_int_equal(tq_s16_conv2d_scratch_size(&alias_conv, &conv_in,
                                                &conv_filter, &conv_out,
                                                &s16_conv_scratch), TQ_OK);
    const size_t ch4 = A_CH * sizeof(int32_t);
    const alias_kernel kernels[] = {
        {"tq_s8_conv2d", {75, 108, ch4, ch4, ch4, 36, conv_scratch},
         {0, 0, 0, 0, 0, 1, 1}, run_conv, NULL},
        {"tq_s8_conv2d_relu_maxpool2",
         {108, 108, ch4, ch4, ch4, 16, pool_scratch},
         {0, 0, 0, 0, 0, 1, 1}, run_conv_pool, NULL},
        {"tq_s8_depthwise_conv2d", {50, 36, ch4, ch4, ch4, 36, 0},
         {0, 0, 0, 0, 0, 1, 0}, run_depthwise, NULL},
        {"tq_s8_fully_connected", {30, 10 * A_CH, ch4, ch4, ch4, 3 * A_CH, 0},
         {0, 0, 0, 0, 0, 1, 0}, run_fc, NULL},
        {"tq_s8_fully_connected_packed",
         {30, packed_bytes, ch4, ch4, ch4, 3 * A_CH, 0},
         {0, 0, 0, 0, 0, 1, 0}, run_fc_packed, alias_packed_image},
        {"tq_s8_gemm", {30, 10 * A_CH, ch4, ch4, ch4, 3 * A_CH, 0},
         {0, 0, 0, 0, 0, 1, 0}, run_gemm, NULL},
        {"tq_s8_gemm_s32", {30, 10 * A_CH, ch4, 0, 0, 3 * ch4, 0},
         {0, 0, 0, 0, 0, 1, 0}, run_gemm_s32, NULL},
        {"tq_s8_requantize_rows", {3 * ch4, 0, 0, ch4, ch4, 3 * A_CH, 0},
         {0, 0, 0, 0, 0, 1, 0}, run_requant_rows, NULL},
        {"tq_s8_pack_weights", {0, 10 * A_CH, 0, 0, 0, packed_bytes, 0},
         {0, 0, 0, 0, 0, 1, 0}, run_pack, NULL},
        {"tq_s8_conv2d_packed",
         {75, conv_packed_bytes, ch4, ch4, ch4, 36, conv_scratch},
         {0, 0, 0, 0, 0, 1, 1}, run_conv_packed, alias_conv_packed_image},
        {"tq_s8_transpose_conv", {27, 108, ch4, ch4, ch4, 100, tconv_scratch},
         {0, 0, 0, 0, 0, 1, 1}, run_transpose_conv, NULL},
        {"tq_s4_conv2d (bounded)", {75, 54, ch4, ch4, ch4, 36, s4_conv_scratch},
         {0, 0, 0, 0, 0, 1, 1}, run_s4_conv, NULL},
        {"tq_s4_conv2d (fast)", {75, 54, ch4, ch4, ch4, 36, s4_conv_fast},
         {0, 0, 0, 0, 0, 1, 1}, run_s4_conv, NULL},
        {"tq_s4_depthwise_conv2d", {50, 18, ch4, ch4, ch4, 36, 0},
         {0, 0, 0, 0, 0, 1, 0}, run_s4_depthwise, NULL},
        {"tq_s4_fully_connected",
         {30, 5 * A_CH, ch4, ch4, ch4, 3 * A_CH, s4_fc_scratch},
         {0, 0, 0, 0, 0, 1, 1}, run_s4_fc, NULL},
        {"tq_s16_conv2d",
         {150, 108, ch4, ch4, ch4, 72, s16_conv_scratch},
         {0, 0, 0, 0, 0, 1, 1}, run_s16_conv, NULL},
        {"tq_s16_depthwise_conv2d", {100, 36, ch4, ch4, ch4, 72, 0},
         {0, 0, 0, 0, 0, 1, 0}, run_s16_depthwise, NULL},
        {"tq_s16_fully_connected",
         {60, 10 * A_CH, 2 * ch4, ch4, ch4, 6 * A_CH, 0},
         {0, 0, 0, 0, 0, 1, 0}, run_s16_fc, NULL},
    };
    const size_t arena_bytes = (A_COUNT + 2) * (size_t)A_SLOT;
    uint8_t *arena = aligned_alloc(64, arena_bytes);
    uint8_t *copy = malloc(arena_bytes);
    assert_non_null(arena);
    assert_non_null(copy);
    int pairs = 0, failed = 0;
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; ++i)
        alias_kernel_check(&kernels[i], arena, copy, arena_bytes, &pairs,
                           &failed);
    print_message("overlap checks: %d cases in %zu kernels, %d failed\n",
                  pairs, sizeof kernels / sizeof kernels[0], failed);
    free(arena);
    free(copy);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fc_random),
        cmocka_unit_test(test_fc_errors),
        cmocka_unit_test(test_pool_random),
        cmocka_unit_test(test_avg_pool_ties),
        cmocka_unit_test(test_pool_errors),
        cmocka_unit_test(test_add_params),
        cmocka_unit_test(test_add_random),
        cmocka_unit_test(test_add_errors),
        cmocka_unit_test(test_quantize),
        cmocka_unit_test(test_round_half_away),
        cmocka_unit_test(test_quantize_errors),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_lookup_errors),
        cmocka_unit_test(test_alias_every_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
