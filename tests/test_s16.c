/*
 * Tests of the 16x8 kernels (int16 activations, int8 weights): the int64
 * requantization against exact 128-bit arithmetic, conv2d, depthwise,
 * fully connected (int64 and int32 biases, NULL bias), pooling, ADD, MUL
 * and the int16 softmax. Every expected value comes from an oracle written
 * from ../shared/docs/int16-int4-arithmetic.md and TFLite's formulas in
 * int64 / 128-bit integers or double, never from the library; the int32
 * requantization oracle is oracle_s8.h's.
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
#include <string.h>

#include "oracle_s8.h"
#include "testutil.h"
#include "tinyq.h"

__extension__ typedef __int128 i128;

#define SENT16 ((int16_t)0x5A5A)
#define ACC_MAX ((INT64_C(1) << 47) - 1)
#define ACC_MIN (-(INT64_C(1) << 47))

/* ---- oracles -------------------------------------------------------------- */

/* The doc's int64 MBQM in exact 128-bit arithmetic: floor of
 * (x · reduced + 2^(total − 1)) / 2^total by division (no shift of a
 * negative number), saturated to int32. */
static int64_t o_requant64(int64_t x, int64_t m, int shift)
{
    const int64_t reduced = m < 0x7FFF0000 ? (m + 32768) / 65536 : 0x7FFF;
    const int total = 15 - shift;
    const i128 d = (i128)1 << total;
    const i128 num = (i128)x * reduced + ((i128)1 << (total - 1));
    i128 q = num / d;
    if (num % d != 0 && num < 0)
        q -= 1;
    return q < INT32_MIN ? INT32_MIN : (q > INT32_MAX ? INT32_MAX : (int64_t)q);
}

/* One output of a 16x8 kernel from the exact sum, per the doc. */
typedef struct s16_stage {
    int32_t mult[200], shift[200];
    tq_s16_output os;
    int32_t bias_dtype;
    int64_t bias64[200];
    int32_t bias32[200];
    int has_bias;
} s16_stage;

static const void *stage_bias(const s16_stage *s)
{
    if (!s->has_bias)
        return NULL;
    return s->bias_dtype == TQ_S64 ? (const void *)s->bias64
                                   : (const void *)s->bias32;
}

static int16_t o_out(const s16_stage *s, int64_t sum, int ch)
{
    const int i = s->os.per_channel ? ch : 0;
    int64_t v;
    if (s->bias_dtype == TQ_S64) {
        i128 acc = (i128)sum + (s->has_bias ? s->bias64[ch] : 0);
        acc = acc < ACC_MIN ? ACC_MIN : (acc > ACC_MAX ? ACC_MAX : acc);
        v = o_requant64((int64_t)acc, s->mult[i], s->shift[i]);
    } else {
        const int64_t acc = sum + (s->has_bias ? s->bias32[ch] : 0);
        v = o_requant(o_sat32(acc), s->mult[i], s->shift[i], s->os.rounding);
    }
    return (int16_t)o_clamp(v, s->os.act_min, s->os.act_max);
}

/* A random stage for @p channels outputs of reduction length k: shifts
 * that keep typical outputs inside int16 but saturate now and then. */
static void random_stage(tt_rng *r, s16_stage *s, int channels, int k)
{
    memset(s, 0, sizeof *s);
    s->bias_dtype = tt_int(r, 0, 2) ? TQ_S64 : TQ_S32;
    s->has_bias = tt_int(r, 0, 4) != 0;
    const int pc = tt_int(r, 0, 1);
    int base = 0;
    while ((1 << base) < k)
        ++base;
    for (int c = 0; c < (pc ? channels : 1); ++c) {
        s->mult[c] = tt_int(r, 0, 9) == 0 ? tt_int(r, 0x7FFF0000, INT32_MAX)
                                           : tt_int(r, 1 << 30, INT32_MAX);
        s->shift[c] = tt_int(r, 0, 9) == 0 ? tt_int(r, 1, 7)
                                            : -7 - base / 2 - tt_int(r, 0, 6);
    }
    for (int c = 0; c < channels; ++c) {
        switch (tt_int(r, 0, 9)) {
        case 0: /* past TFLite's 2^47 range: the clamp */
            s->bias64[c] = tt_int(r, 0, 1) ? INT64_MAX - tt_int(r, 0, 5)
                                           : INT64_MIN + tt_int(r, 0, 5);
            s->bias32[c] = tt_int(r, 0, 1) ? INT32_MAX : INT32_MIN;
            break;
        case 1:
            s->bias64[c] = (tt_int(r, 0, 1) ? 1 : -1) *
                           ((INT64_C(1) << 46) + tt_int(r, 0, 1 << 20));
            s->bias32[c] = tt_int(r, INT32_MIN, INT32_MAX);
            break;
        default:
            s->bias64[c] = tt_int(r, -4000000, 4000000);
            s->bias32[c] = tt_int(r, -4000000, 4000000);
        }
    }
    s->os.multiplier = s->mult;
    s->os.shift = s->shift;
    s->os.per_channel = pc;
    s->os.rounding = tt_int(r, 0, 1) ? TQ_ROUND_SINGLE : TQ_ROUND_DOUBLE;
    switch (tt_int(r, 0, 2)) {
    case 0:
        s->os.act_min = 0; /* ReLU */
        s->os.act_max = 32767;
        break;
    case 1:
        s->os.act_min = tt_int(r, -32768, 0);
        s->os.act_max = tt_int(r, s->os.act_min, 32767);
        break;
    default:
        s->os.act_min = -32768;
        s->os.act_max = 32767;
    }
}

static void fill_s16(tt_rng *r, int16_t *x, size_t n)
{
    /* Mostly spread, sometimes the extremes (−32768 · −128 = 2^22). */
    const int extreme = tt_int(r, 0, 5) == 0;
    for (size_t i = 0; i < n; ++i)
        x[i] = extreme ? (int16_t)(tt_int(r, 0, 3) ? -32768 : 32767)
                       : (int16_t)tt_int(r, -32768, 32767);
}

static void fill_w(tt_rng *r, int8_t *w, size_t n)
{
    const int extreme = tt_int(r, 0, 5) == 0;
    for (size_t i = 0; i < n; ++i)
        w[i] = extreme ? (int8_t)(tt_int(r, 0, 3) ? -128 : 127)
                       : (int8_t)tt_int(r, -128, 127);
}

/* ---- tq_requantize64 ---------------------------------------------------- */

static void test_requantize64_random(void **state)
{
    (void)state;
    tt_rng r = {0x16160001u};
    long ties = 0, sat = 0;
    for (long it = 0; it < 1200000; ++it) {
        int64_t x;
        int32_t m = tt_int(&r, 0, 9) == 0 ? tt_int(&r, 0x7FFF0000 - 40, INT32_MAX)
                                          : (int32_t)(tt_next(&r) & 0x7FFFFFFF);
        const int32_t shift = tt_int(&r, TQ_SHIFT_MIN, TQ_S16_SHIFT_MAX);
        switch (tt_int(&r, 0, 5)) {
        case 0: /* the ends of the legal range */
            x = tt_int(&r, 0, 1) ? ACC_MAX - tt_int(&r, 0, 3)
                                 : ACC_MIN + tt_int(&r, 0, 3);
            break;
        case 1: { /* an exact tie: x · reduced = odd · 2^(total − 1) */
            const int total = 15 - shift;
            const int64_t red = 2 * tt_int(&r, 0, 0x3FFE) + 1;
            m = (int32_t)(red * 65536 + tt_int(&r, -32768, 32767));
            const int64_t lim = ACC_MAX >> (total - 1); /* >= 2^(47 - total) */
            int64_t odd = 2 * (int64_t)tt_int(&r, -1000, 1000) + 1;
            while (odd > lim || -odd > lim)
                odd /= 2;
            odd |= 1;
            if (odd <= lim && -odd <= lim) {
                x = odd * (INT64_C(1) << (total - 1));
                ++ties;
            } else {
                x = 0;
            }
            break;
        }
        case 2:
            x = tt_int(&r, -70000, 70000);
            break;
        default: {
            const int bits = tt_int(&r, 1, 47);
            x = (int64_t)(tt_next(&r) >> (64 - bits));
            if (tt_int(&r, 0, 1))
                x = -x - tt_int(&r, 0, 1);
        }
        }
        int32_t got = 0x12345678;
        assert_int_equal(tq_requantize64(x, m, shift, &got), TQ_OK);
        const int64_t want = o_requant64(x, m, shift);
        sat += want == INT32_MAX || want == INT32_MIN;
        if (got != want)
            fail_msg("x %lld m %d shift %d: got %d want %lld", (long long)x, m,
                     shift, got, (long long)want);
    }
    /* The draws reach the ties and the saturation they are meant to. */
    assert_true(ties > 10000);
    assert_true(sat > 1000);
}

static void test_requantize64_known(void **state)
{
    (void)state;
    int32_t y = 0;
    /* reduced = (2^30 + 2^15) >> 16 = 2^14, total 15: x · 2^14 / 2^15. */
    assert_int_equal(tq_requantize64(3, 1 << 30, 0, &y), TQ_OK);
    assert_int_equal(y, 2); /* 1.5 rounds up */
    assert_int_equal(tq_requantize64(-3, 1 << 30, 0, &y), TQ_OK);
    assert_int_equal(y, -1); /* -1.5 rounds toward +inf */
    assert_int_equal(tq_requantize64(5, INT32_MAX, 0, &y), TQ_OK);
    assert_int_equal(y, 5); /* 0x7FFF / 2^15 · 5 = 4.9998 -> 5 */
    assert_int_equal(tq_requantize64(ACC_MAX, INT32_MAX, 14, &y), TQ_OK);
    assert_int_equal(y, INT32_MAX);
    assert_int_equal(tq_requantize64(ACC_MIN, INT32_MAX, 14, &y), TQ_OK);
    assert_int_equal(y, INT32_MIN);
    assert_int_equal(tq_requantize64(0, 0, -31, &y), TQ_OK);
    assert_int_equal(y, 0);
    y = 77;
    assert_int_equal(tq_requantize64(ACC_MAX + 1, 1 << 30, 0, &y), TQ_ERR_PARAM);
    assert_int_equal(tq_requantize64(ACC_MIN - 1, 1 << 30, 0, &y), TQ_ERR_PARAM);
    assert_int_equal(tq_requantize64(1, -1, 0, &y), TQ_ERR_PARAM);
    assert_int_equal(tq_requantize64(1, 1 << 30, 15, &y), TQ_ERR_PARAM);
    assert_int_equal(tq_requantize64(1, 1 << 30, -32, &y), TQ_ERR_PARAM);
    assert_int_equal(y, 77);
    assert_int_equal(tq_requantize64(1, 1 << 30, 0, NULL), TQ_ERR_NULL);
}

/* ---- conv2d --------------------------------------------------------------- */

typedef struct conv_case {
    tq_conv_params p;
    tq_dims in, f, out;
} conv_case;

static int conv_extent(int in, int k, int s, int d, int p0, int p1)
{
    const int span = d * (k - 1) + 1;
    return in + p0 + p1 < span ? 0 : (in + p0 + p1 - span) / s + 1;
}

static int random_conv(tt_rng *r, conv_case *c, int depthwise)
{
    memset(c, 0, sizeof *c);
    const int groups = depthwise ? 1 : (tt_int(r, 0, 3) == 0 ? tt_int(r, 2, 3) : 1);
    const int cin_g = tt_int(r, 1, depthwise ? 6 : 9);
    const int cout_g = tt_int(r, 1, 7);
    c->in.n = tt_int(r, 1, 2);
    c->in.h = tt_int(r, 1, 9);
    c->in.w = tt_int(r, 1, 9);
    c->in.c = cin_g * groups;
    c->f.h = tt_int(r, 1, 4);
    c->f.w = tt_int(r, 1, 4);
    c->p.stride_h = tt_int(r, 1, 3);
    c->p.stride_w = tt_int(r, 1, 3);
    c->p.dilation_h = tt_int(r, 1, 2);
    c->p.dilation_w = tt_int(r, 1, 2);
    c->p.pad_top = tt_int(r, 0, 2);
    c->p.pad_bottom = tt_int(r, 0, 2);
    c->p.pad_left = tt_int(r, 0, 2);
    c->p.pad_right = tt_int(r, 0, 2);
    c->p.groups = groups;
    if (depthwise) {
        c->f.n = 1;
        c->f.c = cin_g * cout_g; /* channel multiplier cout_g */
    } else {
        c->f.n = cout_g * groups;
        c->f.c = cin_g;
    }
    c->out.n = c->in.n;
    c->out.h = conv_extent(c->in.h, c->f.h, c->p.stride_h, c->p.dilation_h,
                           c->p.pad_top, c->p.pad_bottom);
    c->out.w = conv_extent(c->in.w, c->f.w, c->p.stride_w, c->p.dilation_w,
                           c->p.pad_left, c->p.pad_right);
    c->out.c = depthwise ? c->f.c : c->f.n;
    return c->out.h > 0 && c->out.w > 0;
}

static size_t dims_n(const tq_dims *d)
{
    return (size_t)d->n * d->h * d->w * d->c;
}

static int64_t o_conv_sum(const conv_case *c, const int16_t *x, const int8_t *w,
                          int n, int oy, int ox, int oc)
{
    const int cout_g = c->f.n / c->p.groups, g = oc / cout_g;
    int64_t sum = 0;
    for (int ky = 0; ky < c->f.h; ++ky)
        for (int kx = 0; kx < c->f.w; ++kx)
            for (int ci = 0; ci < c->f.c; ++ci) {
                const int iy = oy * c->p.stride_h + ky * c->p.dilation_h - c->p.pad_top;
                const int ix = ox * c->p.stride_w + kx * c->p.dilation_w - c->p.pad_left;
                if (iy < 0 || iy >= c->in.h || ix < 0 || ix >= c->in.w)
                    continue;
                const int64_t xv =
                    x[(((size_t)n * c->in.h + iy) * c->in.w + ix) * c->in.c +
                      (size_t)g * c->f.c + ci];
                const int64_t wv = w[(((size_t)oc * c->f.h + ky) * c->f.w + kx) * c->f.c + ci];
                sum += xv * wv;
            }
    return sum;
}

static int64_t o_dw_sum(const conv_case *c, const int16_t *x, const int8_t *w,
                        int n, int oy, int ox, int oc)
{
    const int mult = c->out.c / c->in.c, ic = oc / mult;
    int64_t sum = 0;
    for (int ky = 0; ky < c->f.h; ++ky)
        for (int kx = 0; kx < c->f.w; ++kx) {
            const int iy = oy * c->p.stride_h + ky * c->p.dilation_h - c->p.pad_top;
            const int ix = ox * c->p.stride_w + kx * c->p.dilation_w - c->p.pad_left;
            if (iy < 0 || iy >= c->in.h || ix < 0 || ix >= c->in.w)
                continue;
            sum += (int64_t)x[(((size_t)n * c->in.h + iy) * c->in.w + ix) * c->in.c + ic] *
                   w[((size_t)ky * c->f.w + kx) * c->out.c + oc];
        }
    return sum;
}

static void run_conv_random(int depthwise)
{
    tt_rng r = {depthwise ? 0xd5160001u : 0xc5160001u};
    int kinds[2] = {0, 0}, nullb = 0, done = 0;
    while (done < 300) {
        conv_case c;
        if (!random_conv(&r, &c, depthwise))
            continue;
        ++done;
        const size_t nx = dims_n(&c.in), nw = dims_n(&c.f), no = dims_n(&c.out);
        int16_t *x = malloc(nx * 2), *out = malloc(no * 2);
        int8_t *w = malloc(nw);
        s16_stage *s = malloc(sizeof *s);
        assert_true(x && out && w && s);
        fill_s16(&r, x, nx);
        fill_w(&r, w, nw);
        const int k = depthwise ? c.f.h * c.f.w : c.f.h * c.f.w * c.f.c;
        random_stage(&r, s, c.out.c, k);
        kinds[s->bias_dtype == TQ_S64]++;
        nullb += !s->has_bias;
        for (size_t i = 0; i < no; ++i)
            out[i] = SENT16;
        if (depthwise) {
            assert_int_equal(tq_s16_depthwise_conv2d(&c.p, &c.in, x, &c.f, w,
                                                     stage_bias(s), s->bias_dtype,
                                                     &s->os, &c.out, out),
                             TQ_OK);
        } else {
            size_t bytes = 0;
            assert_int_equal(tq_s16_conv2d_scratch_size(&c.p, &c.in, &c.f, &c.out,
                                                        &bytes),
                             TQ_OK);
            assert_int_equal(bytes, (size_t)k * 2 + 1);
            /* An odd scratch address: the kernel aligns it itself. */
            unsigned char *scratch = malloc(bytes + 1);
            assert_non_null(scratch);
            assert_int_equal(tq_s16_conv2d(&c.p, &c.in, x, &c.f, w, stage_bias(s),
                                           s->bias_dtype, &s->os, &c.out, out,
                                           scratch + 1, bytes),
                             TQ_OK);
            free(scratch);
        }
        size_t i = 0;
        for (int n = 0; n < c.out.n; ++n)
            for (int oy = 0; oy < c.out.h; ++oy)
                for (int ox = 0; ox < c.out.w; ++ox)
                    for (int oc = 0; oc < c.out.c; ++oc, ++i) {
                        const int64_t sum = depthwise
                                                ? o_dw_sum(&c, x, w, n, oy, ox, oc)
                                                : o_conv_sum(&c, x, w, n, oy, ox, oc);
                        const int16_t want = o_out(s, sum, oc);
                        if (out[i] != want)
                            fail_msg("case %d (n %d y %d x %d c %d): got %d want %d",
                                     done, n, oy, ox, oc, out[i], want);
                    }
        free(x);
        free(out);
        free(w);
        free(s);
    }
    assert_true(kinds[0] > 50 && kinds[1] > 50 && nullb > 20);
}

static void test_conv_random(void **state)
{
    (void)state;
    run_conv_random(0);
}

static void test_depthwise_random(void **state)
{
    (void)state;
    run_conv_random(1);
}

/* A long reduction with every product at its extreme, 2^22: the sum
 * leaves int32 by far, which only the int64 path represents. */
static void test_conv_long_reduction(void **state)
{
    (void)state;
    const int cin = 4096;
    tq_conv_params p = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    tq_dims in = {1, 1, 1, cin}, f = {2, 1, 1, cin}, out = {1, 1, 1, 2};
    int16_t *x = malloc(cin * 2);
    int8_t *w = malloc(2 * cin);
    assert_true(x && w);
    for (int i = 0; i < cin; ++i) {
        x[i] = -32768;
        w[i] = -128;
        w[cin + i] = 127;
    }
    int32_t m[1] = {1 << 30}, sh[1] = {-20};
    const tq_s16_output os = {m, sh, 0, TQ_ROUND_DOUBLE, -32768, 32767};
    unsigned char scratch[2 * 4096 + 1];
    int16_t y[2];
    assert_int_equal(tq_s16_conv2d(&p, &in, x, &f, w, NULL, TQ_S64, &os, &out, y,
                                   scratch, sizeof scratch),
                     TQ_OK);
    /* 4096 · 2^22 = 2^34, times 2^-1 · 2^-20 = 2^13. */
    assert_int_equal(y[0], 8192);
    assert_int_equal(y[1], (int16_t)o_requant64(-(INT64_C(4096) * 32768 * 127), 1 << 30, -20));
    /* The int32 variant saturates its accumulator first. */
    assert_int_equal(tq_s16_conv2d(&p, &in, x, &f, w, NULL, TQ_S32, &os, &out, y,
                                   scratch, sizeof scratch),
                     TQ_OK);
    assert_int_equal(y[0], (int16_t)o_requant(INT32_MAX, 1 << 30, -20, TQ_ROUND_DOUBLE));
    free(x);
    free(w);
}

static void test_conv_errors(void **state)
{
    (void)state;
    tq_conv_params p = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    tq_dims in = {1, 3, 3, 2}, f = {2, 2, 2, 2}, out = {1, 2, 2, 2};
    int16_t x[18] = {0}, y[8];
    int8_t w[16] = {0};
    int64_t b64[2] = {0, 0};
    int32_t m[2] = {1 << 30, 1 << 30}, sh[2] = {-3, -3};
    tq_s16_output os = {m, sh, 1, TQ_ROUND_DOUBLE, -32768, 32767};
    unsigned char scratch[64];
    size_t bytes = 0;
    assert_int_equal(tq_s16_conv2d_scratch_size(&p, &in, &f, &out, &bytes), TQ_OK);
    assert_int_equal(bytes, 17);
#define CONV(st, ...)                                                        \
    do {                                                                     \
        for (int i_ = 0; i_ < 8; ++i_)                                       \
            y[i_] = SENT16;                                                  \
        assert_int_equal(tq_s16_conv2d(__VA_ARGS__), st);                    \
        for (int i_ = 0; i_ < 8; ++i_)                                       \
            assert_int_equal(y[i_], SENT16);                                 \
    } while (0)
    CONV(TQ_ERR_NULL, NULL, &in, x, &f, w, b64, TQ_S64, &os, &out, y, scratch, 64);
    CONV(TQ_ERR_NULL, &p, &in, NULL, &f, w, b64, TQ_S64, &os, &out, y, scratch, 64);
    CONV(TQ_ERR_NULL, &p, &in, x, &f, NULL, b64, TQ_S64, &os, &out, y, scratch, 64);
    CONV(TQ_ERR_NULL, &p, &in, x, &f, w, b64, TQ_S64, NULL, &out, y, scratch, 64);
    CONV(TQ_ERR_NULL, &p, &in, x, &f, w, b64, TQ_S64, &os, &out, y, NULL, 64);
    CONV(TQ_ERR_DTYPE, &p, &in, x, &f, w, b64, TQ_S8, &os, &out, y, scratch, 64);
    CONV(TQ_ERR_DTYPE, &p, &in, x, &f, w, NULL, TQ_S16, &os, &out, y, scratch, 64);
    CONV(TQ_ERR_BUFFER_TOO_SMALL, &p, &in, x, &f, w, b64, TQ_S64, &os, &out, y,
         scratch, 16);
    tq_dims bad = out;
    bad.h = 3;
    CONV(TQ_ERR_SHAPE, &p, &in, x, &f, w, b64, TQ_S64, &os, &bad, y, scratch, 64);
    bad = f;
    bad.c = 1;
    CONV(TQ_ERR_SHAPE, &p, &in, x, &bad, w, b64, TQ_S64, &os, &out, y, scratch, 64);
    tq_conv_params bp = p;
    bp.stride_h = 0;
    CONV(TQ_ERR_PARAM, &bp, &in, x, &f, w, b64, TQ_S64, &os, &out, y, scratch, 64);
    bp = p;
    bp.groups = 0;
    CONV(TQ_ERR_PARAM, &bp, &in, x, &f, w, b64, TQ_S64, &os, &out, y, scratch, 64);
    /* The int64 arithmetic takes shifts up to 14, the int32 one up to 30. */
    sh[1] = 15;
    CONV(TQ_ERR_PARAM, &p, &in, x, &f, w, b64, TQ_S64, &os, &out, y, scratch, 64);
    assert_int_equal(tq_s16_conv2d(&p, &in, x, &f, w, NULL, TQ_S32, &os, &out, y,
                                   scratch, 64),
                     TQ_OK);
    sh[1] = 31;
    CONV(TQ_ERR_PARAM, &p, &in, x, &f, w, NULL, TQ_S32, &os, &out, y, scratch, 64);
    sh[1] = -32;
    CONV(TQ_ERR_PARAM, &p, &in, x, &f, w, NULL, TQ_S32, &os, &out, y, scratch, 64);
    sh[1] = -3;
    m[0] = -1;
    CONV(TQ_ERR_PARAM, &p, &in, x, &f, w, b64, TQ_S64, &os, &out, y, scratch, 64);
    m[0] = 1 << 30;
    tq_s16_output bo = os;
    bo.act_min = -32769;
    CONV(TQ_ERR_PARAM, &p, &in, x, &f, w, b64, TQ_S64, &bo, &out, y, scratch, 64);
    bo = os;
    bo.act_max = 32768;
    CONV(TQ_ERR_PARAM, &p, &in, x, &f, w, b64, TQ_S64, &bo, &out, y, scratch, 64);
    bo = os;
    bo.act_min = 5;
    bo.act_max = 4;
    CONV(TQ_ERR_PARAM, &p, &in, x, &f, w, b64, TQ_S64, &bo, &out, y, scratch, 64);
    bo = os;
    bo.rounding = 2;
    CONV(TQ_ERR_PARAM, &p, &in, x, &f, w, b64, TQ_S64, &bo, &out, y, scratch, 64);
    bo = os;
    bo.per_channel = 2;
    CONV(TQ_ERR_PARAM, &p, &in, x, &f, w, b64, TQ_S64, &bo, &out, y, scratch, 64);
    /* Scratch overlapping the output or the input. */
    CONV(TQ_ERR_ALIAS, &p, &in, x, &f, w, b64, TQ_S64, &os, &out, y, (void *)(y + 2),
         64);
    CONV(TQ_ERR_ALIAS, &p, &in, x, &f, w, b64, TQ_S64, &os, &out, y, (void *)x, 64);
#undef CONV
    /* Output over the input. */
    int16_t xy[32] = {0};
    assert_int_equal(tq_s16_conv2d(&p, &in, xy, &f, w, NULL, TQ_S64, &os, &out,
                                   xy + 10, scratch, 64),
                     TQ_ERR_ALIAS);
    /* Reduction past the limit. */
    tq_dims big_in = {1, 1, 1, TQ_S16_MAX_REDUCTION + 1};
    tq_dims big_f = {1, 1, 1, TQ_S16_MAX_REDUCTION + 1}, one = {1, 1, 1, 1};
    assert_int_equal(tq_s16_conv2d_scratch_size(&p, &big_in, &big_f, &one, &bytes),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(tq_s16_conv2d_scratch_size(&p, &in, &f, &out, NULL),
                     TQ_ERR_NULL);
}

static void test_depthwise_errors(void **state)
{
    (void)state;
    tq_conv_params p = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    tq_dims in = {1, 3, 3, 2}, f = {1, 2, 2, 4}, out = {1, 2, 2, 4};
    int16_t x[18] = {0}, y[16];
    int8_t w[16] = {0};
    int32_t m[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30}, sh[4] = {0, 0, 0, 0};
    tq_s16_output os = {m, sh, 1, TQ_ROUND_DOUBLE, -32768, 32767};
#define DW(st, ...)                                                          \
    do {                                                                     \
        for (int i_ = 0; i_ < 16; ++i_)                                      \
            y[i_] = SENT16;                                                  \
        assert_int_equal(tq_s16_depthwise_conv2d(__VA_ARGS__), st);          \
        for (int i_ = 0; i_ < 16; ++i_)                                      \
            assert_int_equal(y[i_], SENT16);                                 \
    } while (0)
    DW(TQ_ERR_NULL, NULL, &in, x, &f, w, NULL, TQ_S64, &os, &out, y);
    DW(TQ_ERR_NULL, &p, &in, NULL, &f, w, NULL, TQ_S64, &os, &out, y);
    DW(TQ_ERR_NULL, &p, &in, x, &f, NULL, NULL, TQ_S64, &os, &out, y);
    DW(TQ_ERR_NULL, &p, &in, x, &f, w, NULL, TQ_S64, NULL, &out, y);
    DW(TQ_ERR_DTYPE, &p, &in, x, &f, w, NULL, TQ_F32, &os, &out, y);
    tq_dims bad = f;
    bad.n = 2;
    DW(TQ_ERR_SHAPE, &p, &in, x, &bad, w, NULL, TQ_S64, &os, &out, y);
    bad = out;
    bad.c = 3;
    DW(TQ_ERR_SHAPE, &p, &in, x, &f, w, NULL, TQ_S64, &os, &bad, y);
    sh[3] = 15;
    DW(TQ_ERR_PARAM, &p, &in, x, &f, w, NULL, TQ_S64, &os, &out, y);
    sh[3] = 0;
#undef DW
    int16_t xy[40] = {0};
    assert_int_equal(tq_s16_depthwise_conv2d(&p, &in, xy, &f, w, NULL, TQ_S64, &os,
                                             &out, xy + 4),
                     TQ_ERR_ALIAS);
    assert_int_equal(tq_s16_depthwise_conv2d(&p, &in, x, &f, w, NULL, TQ_S64, &os,
                                             &out, y),
                     TQ_OK);
}

/* ---- fully connected ------------------------------------------------------ */

static void test_fc_random(void **state)
{
    (void)state;
    tt_rng r = {0xfc160001u};
    for (int iter = 0; iter < 150; ++iter) {
        const int batch = tt_int(&r, 1, 5);
        /* Short rows, rows past one SIMD block (2048 products), odd tails. */
        const int kind = tt_int(&r, 0, 5);
        const int in_f = kind < 3 ? tt_int(&r, 1, 70)
                                  : (kind < 5 ? tt_int(&r, 1, 1500)
                                              : tt_int(&r, 2000, 9000));
        const int out_f = kind == 5 ? tt_int(&r, 1, 6) : tt_int(&r, 1, 40);
        int16_t *x = malloc((size_t)batch * in_f * 2), *out = malloc((size_t)batch * out_f * 2);
        int8_t *w = malloc((size_t)out_f * in_f);
        s16_stage *s = malloc(sizeof *s);
        assert_true(x && out && w && s);
        fill_s16(&r, x, (size_t)batch * in_f);
        fill_w(&r, w, (size_t)out_f * in_f);
        random_stage(&r, s, out_f, in_f);
        for (int i = 0; i < batch * out_f; ++i)
            out[i] = SENT16;
        assert_int_equal(tq_s16_fully_connected(batch, in_f, out_f, x, w, stage_bias(s),
                                                s->bias_dtype, &s->os, out),
                         TQ_OK);
        for (int b = 0; b < batch; ++b)
            for (int o = 0; o < out_f; ++o) {
                int64_t sum = 0;
                for (int i = 0; i < in_f; ++i)
                    sum += (int64_t)x[(size_t)b * in_f + i] * w[(size_t)o * in_f + i];
                const int16_t want = o_out(s, sum, o);
                if (out[(size_t)b * out_f + o] != want)
                    fail_msg("iter %d b %d o %d: got %d want %d", iter, b, o,
                             out[(size_t)b * out_f + o], want);
            }
        free(x);
        free(out);
        free(w);
        free(s);
    }
}

/* The inner product exactly, on whatever path runs: a bias of minus the
 * exact sum plus r leaves r, which the identity stage (2^30, shift 1:
 * reduced 2^14, total 14) passes through, so an error of 1 anywhere in a
 * sum of any size shows. Rows of every length class: short, SIMD tails,
 * several int32 blocks of the SIMD paths. */
static void test_fc_exact_sums(void **state)
{
    (void)state;
    tt_rng r = {0xe8ac7u};
    int32_t m[1] = {1 << 30}, sh[1] = {1};
    const tq_s16_output os = {m, sh, 0, TQ_ROUND_DOUBLE, -32768, 32767};
    for (int it = 0; it < 200; ++it) {
        const int k = it < 64 ? it + 1 : tt_int(&r, it % 2 ? 2000 : 1, 12000);
        const int nout = 3;
        int16_t *x = malloc((size_t)k * 2), y[3];
        int8_t *w = malloc((size_t)k * nout);
        int64_t bias[3], want[3];
        assert_true(x && w);
        fill_s16(&r, x, (size_t)k);
        fill_w(&r, w, (size_t)k * nout);
        for (int o = 0; o < nout; ++o) {
            int64_t sum = 0;
            for (int i = 0; i < k; ++i)
                sum += (int64_t)x[i] * w[(size_t)o * k + i];
            want[o] = tt_int(&r, -32768, 32767);
            bias[o] = want[o] - sum;
        }
        assert_int_equal(tq_s16_fully_connected(1, k, nout, x, w, bias, TQ_S64, &os, y),
                         TQ_OK);
        for (int o = 0; o < nout; ++o)
            if (y[o] != want[o])
                fail_msg("k %d o %d: got %d want %lld", k, o, y[o], (long long)want[o]);
        free(x);
        free(w);
    }
}

static void test_fc_errors(void **state)
{
    (void)state;
    int16_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[6];
    int8_t w[12] = {0};
    int32_t mult[3] = {1 << 30, 1 << 30, 1 << 30}, shift[3] = {0, 0, 0};
    const tq_s16_output os = {mult, shift, 1, TQ_ROUND_DOUBLE, -32768, 32767};
#define FC(st, ...)                                                          \
    do {                                                                     \
        for (int i_ = 0; i_ < 6; ++i_)                                       \
            out[i_] = SENT16;                                                \
        assert_int_equal(tq_s16_fully_connected(__VA_ARGS__), st);           \
        for (int i_ = 0; i_ < 6; ++i_)                                       \
            assert_int_equal(out[i_], SENT16);                               \
    } while (0)
    FC(TQ_ERR_NULL, 2, 4, 3, NULL, w, NULL, TQ_S64, &os, out);
    FC(TQ_ERR_NULL, 2, 4, 3, x, NULL, NULL, TQ_S64, &os, out);
    FC(TQ_ERR_NULL, 2, 4, 3, x, w, NULL, TQ_S64, NULL, out);
    FC(TQ_ERR_SHAPE, 0, 4, 3, x, w, NULL, TQ_S64, &os, out);
    FC(TQ_ERR_SHAPE, 2, 0, 3, x, w, NULL, TQ_S64, &os, out);
    FC(TQ_ERR_SHAPE, 2, 4, -1, x, w, NULL, TQ_S64, &os, out);
    FC(TQ_ERR_OVERFLOW, 1, TQ_S16_MAX_REDUCTION + 1, 1, x, w, NULL, TQ_S64, &os, out);
    FC(TQ_ERR_DTYPE, 2, 4, 3, x, w, NULL, TQ_S16, &os, out);
    shift[2] = 15;
    FC(TQ_ERR_PARAM, 2, 4, 3, x, w, NULL, TQ_S64, &os, out);
    shift[2] = 0;
    FC(TQ_ERR_ALIAS, 2, 4, 3, out + 1, w, NULL, TQ_S64, &os, out);
    FC(TQ_ERR_ALIAS, 2, 4, 3, x, (const int8_t *)(void *)(out + 1), NULL, TQ_S64, &os,
       out);
#undef FC
    assert_int_equal(tq_s16_fully_connected(2, 4, 3, x, w, NULL, TQ_S32, &os, NULL),
                     TQ_ERR_NULL);
}

/* ---- pooling -------------------------------------------------------------- */

static int64_t o_avg(int64_t sum, int64_t n)
{
    const int64_t mag = sum < 0 ? -sum : sum;
    const int64_t q = (2 * mag + n) / (2 * n);
    return sum < 0 ? -q : q;
}

static void test_pool_random(void **state)
{
    (void)state;
    tt_rng r = {0x9001u};
    for (int it = 0; it < 300; ++it) {
        tq_pool_params p;
        p.kernel_h = tt_int(&r, 1, 4);
        p.kernel_w = tt_int(&r, 1, 4);
        p.stride_h = tt_int(&r, 1, 3);
        p.stride_w = tt_int(&r, 1, 3);
        p.pad_top = tt_int(&r, 0, p.kernel_h - 1);
        p.pad_bottom = tt_int(&r, 0, p.kernel_h - 1);
        p.pad_left = tt_int(&r, 0, p.kernel_w - 1);
        p.pad_right = tt_int(&r, 0, p.kernel_w - 1);
        tq_dims in = {tt_int(&r, 1, 2), tt_int(&r, 1, 8), tt_int(&r, 1, 8),
                      tt_int(&r, 1, 5)};
        const int eh = in.h + p.pad_top + p.pad_bottom - p.kernel_h;
        const int ew = in.w + p.pad_left + p.pad_right - p.kernel_w;
        if (eh < 0 || ew < 0)
            continue;
        tq_dims out = {in.n, eh / p.stride_h + 1, ew / p.stride_w + 1, in.c};
        const int avg = it & 1;
        const int lo = tt_int(&r, 0, 2) ? -32768 : tt_int(&r, -32768, 0);
        const int hi = tt_int(&r, 0, 2) ? 32767 : tt_int(&r, lo, 32767);
        int16_t *x = malloc(dims_n(&in) * 2), *y = malloc(dims_n(&out) * 2);
        assert_true(x && y);
        fill_s16(&r, x, dims_n(&in));
        for (size_t i = 0; i < dims_n(&out); ++i)
            y[i] = SENT16;
        assert_int_equal(avg ? tq_s16_avg_pool(&p, &in, x, lo, hi, &out, y)
                             : tq_s16_max_pool(&p, &in, x, lo, hi, &out, y),
                         TQ_OK);
        size_t i = 0;
        for (int n = 0; n < out.n; ++n)
            for (int oy = 0; oy < out.h; ++oy)
                for (int ox = 0; ox < out.w; ++ox)
                    for (int ch = 0; ch < out.c; ++ch, ++i) {
                        int64_t best = INT64_MIN, sum = 0, cnt = 0;
                        for (int ky = 0; ky < p.kernel_h; ++ky)
                            for (int kx = 0; kx < p.kernel_w; ++kx) {
                                const int iy = oy * p.stride_h + ky - p.pad_top;
                                const int ix = ox * p.stride_w + kx - p.pad_left;
                                if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w)
                                    continue;
                                const int64_t v =
                                    x[(((size_t)n * in.h + iy) * in.w + ix) * in.c + ch];
                                best = v > best ? v : best;
                                sum += v;
                                ++cnt;
                            }
                        const int64_t want = o_clamp(avg ? o_avg(sum, cnt) : best, lo, hi);
                        assert_int_equal(y[i], want);
                    }
        free(x);
        free(y);
    }
}

static void test_pool_errors(void **state)
{
    (void)state;
    tq_pool_params p = {2, 2, 2, 2, 0, 0, 0, 0};
    tq_dims in = {1, 4, 4, 1}, out = {1, 2, 2, 1};
    int16_t x[16] = {0}, y[4];
    for (int avg = 0; avg < 2; ++avg) {
        tq_status (*fn)(const tq_pool_params *, const tq_dims *, const int16_t *,
                        int32_t, int32_t, const tq_dims *, int16_t *) =
            avg ? tq_s16_avg_pool : tq_s16_max_pool;
#define POOL(st, ...)                                                        \
    do {                                                                     \
        for (int i_ = 0; i_ < 4; ++i_)                                       \
            y[i_] = SENT16;                                                  \
        assert_int_equal(fn(__VA_ARGS__), st);                               \
        for (int i_ = 0; i_ < 4; ++i_)                                       \
            assert_int_equal(y[i_], SENT16);                                 \
    } while (0)
        POOL(TQ_ERR_NULL, &p, &in, NULL, -32768, 32767, &out, y);
        POOL(TQ_ERR_PARAM, &p, &in, x, -32769, 32767, &out, y);
        POOL(TQ_ERR_PARAM, &p, &in, x, -32768, 32768, &out, y);
        POOL(TQ_ERR_PARAM, &p, &in, x, 3, 2, &out, y);
        tq_dims bad = out;
        bad.w = 3;
        POOL(TQ_ERR_SHAPE, &p, &in, x, -32768, 32767, &bad, y);
#undef POOL
        int16_t xy[20] = {0};
        assert_int_equal(fn(&p, &in, xy, -32768, 32767, &out, xy + 3), TQ_ERR_ALIAS);
        assert_int_equal(fn(&p, &in, x, -32768, 32767, &out, NULL), TQ_ERR_NULL);
    }
}

/* ---- ADD and MUL ---------------------------------------------------------- */

/* TFLite's QuantizeMultiplier from the doc, for the parameter checks. */
static void o_quantize_multiplier(double real, int32_t *m, int32_t *shift)
{
    if (real == 0.0) {
        *m = 0;
        *shift = 0;
        return;
    }
    int e;
    const double q = frexp(real, &e);
    int64_t qi = (int64_t)round(q * 2147483648.0);
    if (qi == (INT64_C(1) << 31)) {
        qi /= 2;
        ++e;
    }
    if (e < -31) {
        qi = 0;
        e = 0;
    }
    *m = (int32_t)qi;
    *shift = e;
}

static void test_add_random(void **state)
{
    (void)state;
    tt_rng r = {0xadd16u};
    for (int it = 0; it < 400; ++it) {
        const float s1 = tt_float(&r, 1e-5f, 1e-3f), s2 = tt_float(&r, 1e-5f, 1e-3f);
        const float so = tt_float(&r, 1e-5f, 2e-3f);
        const int lo = tt_int(&r, 0, 1) ? -32768 : tt_int(&r, -32768, 0);
        const int hi = tt_int(&r, 0, 1) ? 32767 : tt_int(&r, lo, 32767);
        const int rounding = tt_int(&r, 0, 1);
        tq_s8_add_params p;
        assert_int_equal(tq_s16_add_params_from_scales(s1, s2, so, lo, hi, rounding, &p),
                         TQ_OK);
        const double twice = (double)(2.0f * (s1 > s2 ? s1 : s2));
        int32_t m1, e1, m2, e2, mo, eo;
        o_quantize_multiplier((double)s1 / twice, &m1, &e1);
        o_quantize_multiplier((double)s2 / twice, &m2, &e2);
        o_quantize_multiplier(twice / (double)(32768.0f * so), &mo, &eo);
        assert_int_equal(p.left_shift, 15);
        assert_int_equal(p.input1_offset, 0);
        assert_int_equal(p.input2_offset, 0);
        assert_int_equal(p.output_offset, 0);
        assert_int_equal(p.input1_multiplier, m1);
        assert_int_equal(p.input1_shift, e1);
        assert_int_equal(p.input2_multiplier, m2);
        assert_int_equal(p.input2_shift, e2);
        assert_int_equal(p.output_multiplier, mo);
        assert_int_equal(p.output_shift, eo);
        enum { N = 67 };
        int16_t a[N], b[N], y[N];
        fill_s16(&r, a, N);
        fill_s16(&r, b, N);
        const int inplace = it % 3 == 0;
        int16_t a_copy[N];
        memcpy(a_copy, a, sizeof a);
        assert_int_equal(tq_s16_add(N, a, b, &p, inplace ? a : y), TQ_OK);
        for (int i = 0; i < N; ++i) {
            const int64_t v1 = o_requant((int64_t)a_copy[i] * 32768, m1, e1, rounding);
            const int64_t v2 = o_requant((int64_t)b[i] * 32768, m2, e2, rounding);
            const int64_t want = o_clamp(o_requant(o_sat32(v1 + v2), mo, eo, rounding), lo, hi);
            assert_int_equal(inplace ? a[i] : y[i], want);
        }
    }
}

static void test_mul_random(void **state)
{
    (void)state;
    tt_rng r = {0x3116u};
    for (int it = 0; it < 400; ++it) {
        const float s1 = tt_float(&r, 1e-5f, 1e-3f), s2 = tt_float(&r, 1e-5f, 1e-3f);
        const float so = tt_float(&r, 1e-9f, 1e-6f);
        const int lo = tt_int(&r, 0, 1) ? -32768 : tt_int(&r, -32768, 0);
        const int hi = tt_int(&r, 0, 1) ? 32767 : tt_int(&r, lo, 32767);
        const int rounding = tt_int(&r, 0, 1);
        tq_s16_mul_params p;
        assert_int_equal(tq_s16_mul_params_from_scales(s1, s2, so, lo, hi, rounding, &p),
                         TQ_OK);
        int32_t m, e;
        o_quantize_multiplier((double)s1 * (double)s2 / (double)so, &m, &e);
        assert_int_equal(p.output_multiplier, m);
        assert_int_equal(p.output_shift, e);
        enum { N = 53 };
        int16_t a[N], b[N], y[N];
        fill_s16(&r, a, N);
        fill_s16(&r, b, N);
        assert_int_equal(tq_s16_mul(N, a, b, &p, y), TQ_OK);
        for (int i = 0; i < N; ++i) {
            const int64_t want =
                o_clamp(o_requant((int64_t)a[i] * b[i], m, e, rounding), lo, hi);
            assert_int_equal(y[i], want);
        }
    }
    /* The extreme product 2^30, exactly. */
    int32_t m1 = 1 << 30;
    tq_s16_mul_params p = {m1, -15, -32768, 32767, TQ_ROUND_DOUBLE};
    int16_t a = -32768, b = -32768, y = 0;
    assert_int_equal(tq_s16_mul(1, &a, &b, &p, &y), TQ_OK);
    assert_int_equal(y, 16384); /* 2^30 · 2^-1 · 2^-15 */
}

static void test_elementwise_errors(void **state)
{
    (void)state;
    tq_s8_add_params p;
    tq_s16_mul_params mp;
    int16_t a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, y[4] = {SENT16, SENT16, SENT16, SENT16};
    assert_int_equal(tq_s16_add_params_from_scales(0.0f, 1.0f, 1.0f, -32768, 32767, 0, &p),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_s16_add_params_from_scales(1.0f, NAN, 1.0f, -32768, 32767, 0, &p),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_s16_add_params_from_scales(1.0f, 1.0f, 1.0f, -32769, 32767, 0, &p),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_s16_add_params_from_scales(1.0f, 1.0f, 1.0f, -32768, 32767, 2, &p),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_s16_add_params_from_scales(1.0f, 1.0f, 1.0f, -32768, 32767, 0, NULL),
                     TQ_ERR_NULL);
    assert_int_equal(tq_s16_add_params_from_scales(1.0f, 1.0f, 1.0f, -32768, 32767, 0, &p),
                     TQ_OK);
    tq_s8_add_params bad = p;
    bad.input1_offset = 1;
    assert_int_equal(tq_s16_add(4, a, b, &bad, y), TQ_ERR_PARAM);
    bad = p;
    bad.left_shift = 16;
    assert_int_equal(tq_s16_add(4, a, b, &bad, y), TQ_ERR_PARAM);
    bad = p;
    bad.input2_shift = 1;
    assert_int_equal(tq_s16_add(4, a, b, &bad, y), TQ_ERR_PARAM);
    bad = p;
    bad.act_max = 40000;
    assert_int_equal(tq_s16_add(4, a, b, &bad, y), TQ_ERR_PARAM);
    assert_int_equal(tq_s16_add(4, NULL, b, &p, y), TQ_ERR_NULL);
    assert_int_equal(tq_s16_add(4, a, b, NULL, y), TQ_ERR_NULL);
    assert_int_equal(tq_s16_add(3, a, b, &p, a + 1), TQ_ERR_ALIAS);
    assert_int_equal(tq_s16_add(0, NULL, NULL, &p, NULL), TQ_OK);
    assert_int_equal(tq_s16_mul_params_from_scales(1.0f, 1.0f, -1.0f, -32768, 32767, 0, &mp),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_s16_mul_params_from_scales(1e20f, 1e20f, 1e-20f, -32768, 32767, 0,
                                                   &mp),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_s16_mul_params_from_scales(1.0f, 1.0f, 1.0f, -32768, 32767, 0, NULL),
                     TQ_ERR_NULL);
    assert_int_equal(tq_s16_mul_params_from_scales(1.0f, 1.0f, 1.0f, -32768, 32767, 0, &mp),
                     TQ_OK);
    tq_s16_mul_params bm = mp;
    bm.output_shift = 31;
    assert_int_equal(tq_s16_mul(4, a, b, &bm, y), TQ_ERR_PARAM);
    bm = mp;
    bm.output_multiplier = -5;
    assert_int_equal(tq_s16_mul(4, a, b, &bm, y), TQ_ERR_PARAM);
    assert_int_equal(tq_s16_mul(4, a, b, NULL, y), TQ_ERR_NULL);
    assert_int_equal(tq_s16_mul(4, a, NULL, &mp, y), TQ_ERR_NULL);
    assert_int_equal(tq_s16_mul(3, a, b, &mp, b + 1), TQ_ERR_ALIAS);
    for (int i = 0; i < 4; ++i)
        assert_int_equal(y[i], SENT16);
    assert_int_equal(tq_s16_mul(0, NULL, NULL, &mp, NULL), TQ_OK);
}

/* ---- softmax -------------------------------------------------------------- */

/* gen_lut from the doc / TFLite, written again. */
static void o_gen_lut(double (*f)(double), double lo, double hi, int16_t *t)
{
    const double step = (hi - lo) / 512.0;
    for (int i = 0; i < 512; ++i) {
        const double s = round(f(lo + i * step) * 32768.0);
        const double mi = round((f(lo + (i + 1) * step) * 32768.0 + s) / 2.0);
        const double mv = round(f(lo + i * step + step / 2.0) * 32768.0);
        const double bias = round((mi - mv) / 2.0);
        const double v = s - bias;
        t[i] = (int16_t)(v < -32768 ? -32768 : (v > 32767 ? 32767 : v));
    }
    const double e = round(f(hi) * 32768.0);
    t[512] = (int16_t)(e < -32768 ? -32768 : (e > 32767 ? 32767 : e));
}

static double o_exp(double x) { return exp(x); }
static double o_recip(double x) { return 1.0 / (1.0 + x); }

static int64_t o_lookup(int64_t v, const int16_t *lut)
{
    const int64_t i = 256 + (v >= 0 ? v / 128 : -((-v + 127) / 128));
    const int64_t off = v - (i - 256) * 128;
    const int64_t base = lut[i], slope = lut[i + 1] - lut[i];
    const int64_t num = slope * off + 64;
    const int64_t q = num >= 0 ? num / 128 : -((-num + 127) / 128);
    return base + q;
}

static void o_softmax_row(const int16_t *x, int cols, int32_t m, int shift,
                          const int16_t *el, const int16_t *rl, int16_t *y)
{
    int64_t mx = -32768, sum = 0, e[300];
    for (int j = 0; j < cols; ++j)
        mx = x[j] > mx ? x[j] : mx;
    for (int j = 0; j < cols; ++j) {
        const int64_t d = o_clamp(o_requant(x[j] - mx, m, shift, TQ_ROUND_DOUBLE) + 32767,
                                  -32768, 32767);
        e[j] = o_lookup(d, el);
        sum += e[j];
    }
    int h = 0;
    while (h < 32 && !((uint64_t)sum & (UINT64_C(1) << (31 - h))))
        ++h;
    const int64_t t = ((sum * (INT64_C(1) << (h - 1))) + 8192) / 16384; /* sum > 0 */
    const int64_t rc = o_lookup(o_clamp(t - 98304, -32768, 32767), rl);
    const int rs = 31 - h;
    for (int j = 0; j < cols; ++j) {
        const int64_t num = e[j] * rc + (rs > 0 ? INT64_C(1) << (rs - 1) : 0);
        const int64_t q = num >= 0 ? num >> rs : -((-num + (INT64_C(1) << rs) - 1) >> rs);
        y[j] = (int16_t)o_clamp(q, 0, 32767);
    }
}

static void test_softmax_luts(void **state)
{
    (void)state;
    int16_t el[513], rl[513], oe[513], orl[513];
    assert_int_equal(tq_s16_softmax_luts(el, rl), TQ_OK);
    o_gen_lut(o_exp, -10.0, 0.0, oe);
    o_gen_lut(o_recip, 0.0, 1.0, orl);
    assert_memory_equal(el, oe, sizeof el);
    assert_memory_equal(rl, orl, sizeof rl);
    assert_int_equal(el[512], 32767); /* exp(0) saturates */
    assert_int_equal(rl[512], 16384); /* 1/2 */
    assert_int_equal(el[0], 2); /* exp(-10) · 2^15 = 1.49, minus the bias -1 */
    for (int i = 0; i < 513; i += 16)
        assert_true(fabs(el[i] / 32768.0 - exp(-10.0 + i * 10.0 / 512)) < 2.0 / 32768);
    assert_int_equal(tq_s16_softmax_luts(NULL, rl), TQ_ERR_NULL);
    assert_int_equal(tq_s16_softmax_luts(el, el + 100), TQ_ERR_ALIAS);
}

static void test_softmax_random(void **state)
{
    (void)state;
    tt_rng r = {0x50f7u};
    int16_t el[513], rl[513];
    assert_int_equal(tq_s16_softmax_luts(el, rl), TQ_OK);
    double max_err = 0;
    for (int it = 0; it < 300; ++it) {
        const int rows = tt_int(&r, 1, 4), cols = tt_int(&r, 1, 300);
        const float scale = tt_float(&r, 1e-5f, 2e-3f);
        const float beta = tt_int(&r, 0, 3) ? 1.0f : tt_float(&r, 0.1f, 3.0f);
        tq_s16_softmax_params p;
        assert_int_equal(tq_s16_softmax_params_from_scale(scale, beta, &p), TQ_OK);
        int32_t m, e;
        o_quantize_multiplier((double)scale * beta / (10.0 / 65535.0), &m, &e);
        assert_int_equal(p.input_multiplier, m);
        assert_int_equal(p.input_shift, e);
        p.exp_lut = el;
        p.recip_lut = rl;
        int16_t *x = malloc((size_t)rows * cols * 2), *y = malloc((size_t)rows * cols * 2);
        int16_t want[300];
        assert_true(x && y);
        fill_s16(&r, x, (size_t)rows * cols);
        const int inplace = it % 4 == 0;
        int16_t *xc = malloc((size_t)rows * cols * 2);
        assert_non_null(xc);
        memcpy(xc, x, (size_t)rows * cols * 2);
        assert_int_equal(tq_s16_softmax(rows, cols, x, &p, inplace ? x : y), TQ_OK);
        for (int rr = 0; rr < rows; ++rr) {
            o_softmax_row(xc + (size_t)rr * cols, cols, m, e, el, rl, want);
            const int16_t *got = (inplace ? x : y) + (size_t)rr * cols;
            assert_memory_equal(got, want, (size_t)cols * 2);
            /* And near the real softmax (a check of the oracle itself),
             * whose exponent TFLite clips at −10 (the exp table's range). */
            double mx = -1e300, s = 0;
            for (int j = 0; j < cols; ++j)
                mx = fmax(mx, (double)xc[(size_t)rr * cols + j] * scale * beta);
            for (int j = 0; j < cols; ++j)
                s += exp(fmax((double)xc[(size_t)rr * cols + j] * scale * beta - mx, -10.0));
            for (int j = 0; j < cols; ++j) {
                const double ref =
                    exp(fmax((double)xc[(size_t)rr * cols + j] * scale * beta - mx, -10.0)) / s;
                const double err = fabs(got[j] / 32768.0 - ref);
                max_err = err > max_err ? err : max_err;
            }
        }
        free(x);
        free(y);
        free(xc);
    }
    print_message("softmax: max |out - softmax| = %g\n", max_err);
    assert_true(max_err < 5e-3); /* Q15 tables and the clipped exponent */
}

static void test_softmax_errors(void **state)
{
    (void)state;
    int16_t el[513], rl[513], x[6] = {1, 2, 3, 4, 5, 6}, y[6];
    assert_int_equal(tq_s16_softmax_luts(el, rl), TQ_OK);
    tq_s16_softmax_params p;
    assert_int_equal(tq_s16_softmax_params_from_scale(0.0f, 1.0f, &p), TQ_ERR_PARAM);
    assert_int_equal(tq_s16_softmax_params_from_scale(1.0f, -1.0f, &p), TQ_ERR_PARAM);
    assert_int_equal(tq_s16_softmax_params_from_scale(INFINITY, 1.0f, &p), TQ_ERR_PARAM);
    assert_int_equal(tq_s16_softmax_params_from_scale(1.0f, 1.0f, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_s16_softmax_params_from_scale(1e-4f, 1.0f, &p), TQ_OK);
    p.exp_lut = el;
    p.recip_lut = rl;
#define SM(st, ...)                                                          \
    do {                                                                     \
        for (int i_ = 0; i_ < 6; ++i_)                                       \
            y[i_] = SENT16;                                                  \
        assert_int_equal(tq_s16_softmax(__VA_ARGS__), st);                   \
        for (int i_ = 0; i_ < 6; ++i_)                                       \
            assert_int_equal(y[i_], SENT16);                                 \
    } while (0)
    SM(TQ_ERR_NULL, 2, 3, NULL, &p, y);
    SM(TQ_ERR_NULL, 2, 3, x, NULL, y);
    SM(TQ_ERR_SHAPE, 0, 3, x, &p, y);
    SM(TQ_ERR_SHAPE, 2, 0, x, &p, y);
    SM(TQ_ERR_SHAPE, 1, 65537, x, &p, y);
    tq_s16_softmax_params bp = p;
    bp.exp_lut = NULL;
    SM(TQ_ERR_NULL, 2, 3, x, &bp, y);
    bp = p;
    bp.input_shift = 31;
    SM(TQ_ERR_PARAM, 2, 3, x, &bp, y);
    bp = p;
    bp.input_multiplier = -1;
    SM(TQ_ERR_PARAM, 2, 3, x, &bp, y);
    int16_t bad_lut[513];
    memcpy(bad_lut, el, sizeof bad_lut);
    bad_lut[7] = -1;
    bp = p;
    bp.exp_lut = bad_lut;
    SM(TQ_ERR_PARAM, 2, 3, x, &bp, y);
    memcpy(bad_lut, el, sizeof bad_lut);
    bad_lut[512] = 0;
    SM(TQ_ERR_PARAM, 2, 3, x, &bp, y);
#undef SM
    int16_t xy[8] = {0};
    assert_int_equal(tq_s16_softmax(2, 3, xy, &p, xy + 1), TQ_ERR_ALIAS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requantize64_known),
        cmocka_unit_test(test_requantize64_random),
        cmocka_unit_test(test_conv_random),
        cmocka_unit_test(test_conv_long_reduction),
        cmocka_unit_test(test_conv_errors),
        cmocka_unit_test(test_depthwise_random),
        cmocka_unit_test(test_depthwise_errors),
        cmocka_unit_test(test_fc_random),
        cmocka_unit_test(test_fc_exact_sums),
        cmocka_unit_test(test_fc_errors),
        cmocka_unit_test(test_pool_random),
        cmocka_unit_test(test_pool_errors),
        cmocka_unit_test(test_add_random),
        cmocka_unit_test(test_mul_random),
        cmocka_unit_test(test_elementwise_errors),
        cmocka_unit_test(test_softmax_luts),
        cmocka_unit_test(test_softmax_random),
        cmocka_unit_test(test_softmax_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
