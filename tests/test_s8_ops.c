/*
 * Tests of the more int8 ops of issue 12: MUL with broadcasting, MAXIMUM /
 * MINIMUM, the integer softmax (int8 and int16 outputs), transpose
 * convolution, pad, transpose, concatenation and batch matmul (int8 and
 * int16). Every expected value comes from an oracle written here from
 * ../shared/docs/int16-int4-arithmetic.md and TFLite's formulas in int64,
 * 128-bit integers or double (the softmax oracle re-implements gemmlowp's
 * fixed-point steps, and the result is also held within one code of the
 * float softmax); none calls the code under test.
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

#include "oracle_s16.h"
#include "oracle_s8.h"
#include "testutil.h"
#include "tinyq.h"

#define SENT ((int8_t)0x5A)
#define SENT16 ((int16_t)0x5A5A)
#define BIG 8192

static int8_t ga[BIG], gb[BIG], gy[BIG], gz[BIG];

static void fill_sent(int8_t *y, size_t n)
{
    memset(y, SENT, n);
}

static void assert_sent(const int8_t *y, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        assert_int_equal(y[i], SENT);
}

static size_t numel(tq_dims d)
{
    return (size_t)d.n * (size_t)d.h * (size_t)d.w * (size_t)d.c;
}

/* Random output shape with small extents, and an operand shape that keeps
 * each extent or makes it 1. */
static tq_dims rand_dims(tt_rng *r, int maxe)
{
    tq_dims d = {tt_int(r, 1, 3), tt_int(r, 1, maxe), tt_int(r, 1, maxe),
                 tt_int(r, 1, 2 * maxe + 1)};
    return d;
}

static tq_dims bcast_of(tt_rng *r, tq_dims o)
{
    const int kind = tt_int(r, 0, 3);
    if (kind == 0)
        return o;                      /* full */
    if (kind == 1)
        return (tq_dims){1, 1, 1, o.c}; /* per channel */
    if (kind == 2)
        return (tq_dims){1, 1, 1, 1};   /* scalar */
    tq_dims d = o;
    if (tt_int(r, 0, 1)) d.n = 1;
    if (tt_int(r, 0, 1)) d.h = 1;
    if (tt_int(r, 0, 1)) d.w = 1;
    if (tt_int(r, 0, 1)) d.c = 1;
    return d;
}

/* Element of a broadcast operand at output index (i0..i3). */
static int8_t at(const int8_t *x, tq_dims d, int i0, int i1, int i2, int i3)
{
    const int a = d.n == 1 ? 0 : i0, b = d.h == 1 ? 0 : i1,
              c = d.w == 1 ? 0 : i2, e = d.c == 1 ? 0 : i3;
    return x[(((size_t)a * d.h + b) * d.w + c) * d.c + e];
}

/* ---- MUL ------------------------------------------------------------------ */

static void random_mul_params(tt_rng *r, tq_s8_mul_params *p)
{
    p->input1_offset = tt_int(r, -127, 128);
    p->input2_offset = tt_int(r, -127, 128);
    p->output_multiplier = tt_int(r, 1 << 30, INT32_MAX);
    p->output_shift = tt_int(r, -18, 2);
    p->output_offset = tt_int(r, -128, 127);
    p->act_min = tt_int(r, -128, 0);
    p->act_max = tt_int(r, p->act_min, 127);
    if (tt_int(r, 0, 2) == 0) {
        p->act_min = -128;
        p->act_max = 127;
    }
    p->rounding = tt_int(r, 0, 1);
}

static int8_t o_mul(const tq_s8_mul_params *p, int8_t a, int8_t b)
{
    const int64_t prod = ((int64_t)a + p->input1_offset) *
                         ((int64_t)b + p->input2_offset);
    return o_output(prod, p->output_multiplier, p->output_shift, p->rounding,
                    p->output_offset, p->act_min, p->act_max);
}

static void test_mul_random(void **state)
{
    (void)state;
    tt_rng r = {12001};
    int saw_lo = 0, saw_hi = 0;
    for (int it = 0; it < 600; ++it) {
        const tq_dims o = rand_dims(&r, 6);
        const tq_dims da = bcast_of(&r, o), db = bcast_of(&r, o);
        const size_t no = numel(o);
        tq_s8_mul_params p;
        random_mul_params(&r, &p);
        tt_fill_s8(&r, ga, numel(da), -128, 127);
        tt_fill_s8(&r, gb, numel(db), -128, 127);
        if (it % 7 == 0) { /* extremes */
            for (size_t i = 0; i < numel(da); ++i)
                ga[i] = (int8_t)(tt_int(&r, 0, 1) ? -128 : 127);
        }
        fill_sent(gy, no + 16);
        assert_int_equal(tq_s8_mul(&da, ga, &db, gb, &p, &o, gy), TQ_OK);
        size_t idx = 0;
        for (int i0 = 0; i0 < o.n; ++i0)
            for (int i1 = 0; i1 < o.h; ++i1)
                for (int i2 = 0; i2 < o.w; ++i2)
                    for (int i3 = 0; i3 < o.c; ++i3, ++idx) {
                        const int8_t want = o_mul(&p, at(ga, da, i0, i1, i2, i3),
                                                  at(gb, db, i0, i1, i2, i3));
                        assert_int_equal(gy[idx], want);
                        saw_lo |= want == -128;
                        saw_hi |= want == 127;
                    }
        assert_sent(gy + no, 16);
        /* In place on a full-shape input gives the same bits. */
        if (da.n == o.n && da.h == o.h && da.w == o.w && da.c == o.c) {
            memcpy(gz, ga, no);
            assert_int_equal(tq_s8_mul(&da, gz, &db, gb, &p, &o, gz), TQ_OK);
            assert_memory_equal(gz, gy, no);
        }
    }
    assert_true(saw_lo && saw_hi);
}

/* Rows of every length up to 200 (the vector paths' blocks of 32 and 16
 * and their tails), a full or broadcast scalar operand on each side, and
 * output stages over the whole legal range: any multiplier, every shift
 * from TQ_SHIFT_MIN to TQ_SHIFT_MAX, so that x · 2^left leaves int32 (the
 * saturation rule of o_requant) as well as deep right shifts. */
static void test_mul_stages(void **state)
{
    (void)state;
    tt_rng r = {12007};
    int saw_overflow = 0;
    for (int it = 0; it < 800; ++it) {
        const int32_t n = tt_int(&r, 1, 200);
        const tq_dims o = {1, 1, 1, n}, one = {1, 1, 1, 1};
        const tq_dims da = tt_int(&r, 0, 3) == 0 ? one : o;
        const tq_dims db = tt_int(&r, 0, 3) == 0 ? one : o;
        tq_s8_mul_params p;
        random_mul_params(&r, &p);
        p.output_multiplier = tt_int(&r, 0, 1) ? tt_int(&r, 0, INT32_MAX)
                                               : tt_int(&r, 1 << 30, INT32_MAX);
        p.output_shift = tt_int(&r, TQ_SHIFT_MIN, TQ_SHIFT_MAX);
        tt_fill_s8(&r, ga, numel(da), -128, 127);
        tt_fill_s8(&r, gb, numel(db), -128, 127);
        fill_sent(gy, (size_t)n + 16);
        assert_int_equal(tq_s8_mul(&da, ga, &db, gb, &p, &o, gy), TQ_OK);
        for (int32_t i = 0; i < n; ++i) {
            const int8_t a = ga[da.c == 1 ? 0 : i], b = gb[db.c == 1 ? 0 : i];
            assert_int_equal(gy[i], o_mul(&p, a, b));
            const int64_t prod = ((int64_t)a + p.input1_offset) *
                                 ((int64_t)b + p.input2_offset);
            if (p.rounding == TQ_ROUND_DOUBLE && p.output_shift > 0) {
                const int64_t v = prod * ((int64_t)1 << p.output_shift);
                saw_overflow |= v > INT32_MAX || v < INT32_MIN;
            }
        }
        assert_sent(gy + n, 16);
    }
    assert_true(saw_overflow);
}

/* Every (a, b) pair under multipliers with few low bits (2^30 is the
 * multiplier of a scale ratio of 0.5), where x·2^left·M often lands exactly
 * halfway between two results, for positive and negative products: the
 * doubling high multiply rounds those ties up (gemmlowp's nudge), the
 * division by 2^right away from zero, and the single rounding up. A
 * vector path that gets any of the three tie rules wrong fails here; the
 * random multipliers of the other tests almost never make a tie. */
static void test_mul_ties(void **state)
{
    (void)state;
    static const int32_t mults[] = {1 << 30, (1 << 30) + (1 << 29),
                                    (1 << 30) + (1 << 28) + (1 << 20),
                                    INT32_C(0x7FFF0000), 1 << 29, 3};
    static const int32_t shifts[] = {0, -1, -3, -9, 1, 4, 15};
    tt_rng r = {12011};
    const tq_dims o = {1, 1, 1, 256}, one = {1, 1, 1, 1};
    for (size_t i = 0; i < 256; ++i)
        gb[i] = (int8_t)(i - 128);
    for (size_t m = 0; m < sizeof mults / sizeof mults[0]; ++m)
        for (size_t s = 0; s < sizeof shifts / sizeof shifts[0]; ++s)
            for (int32_t rounding = 0; rounding < 2; ++rounding) {
                tq_s8_mul_params p;
                random_mul_params(&r, &p);
                p.output_multiplier = mults[m];
                p.output_shift = shifts[s];
                p.rounding = rounding;
                p.output_offset = 0;
                p.act_min = -128;
                p.act_max = 127;
                for (int32_t a = -128; a <= 127; ++a) {
                    ga[0] = (int8_t)a;
                    fill_sent(gy, 256 + 16);
                    assert_int_equal(tq_s8_mul(&one, ga, &o, gb, &p, &o, gy),
                                     TQ_OK);
                    for (int32_t i = 0; i < 256; ++i)
                        assert_int_equal(gy[i], o_mul(&p, ga[0], gb[i]));
                    assert_sent(gy + 256, 16);
                }
            }
}

static void test_mul_params(void **state)
{
    (void)state;
    tt_rng r = {12002};
    tq_s8_mul_params p;
    for (int it = 0; it < 200; ++it) {
        const float s1 = tt_float(&r, 1e-3f, 0.1f), s2 = tt_float(&r, 1e-3f, 0.1f);
        const float so = tt_float(&r, 1e-4f, 0.2f);
        const int z1 = tt_int(&r, -128, 127), z2 = tt_int(&r, -128, 127),
                  zo = tt_int(&r, -128, 127);
        assert_int_equal(tq_s8_mul_params_from_scales(s1, z1, s2, z2, so, zo,
                                                      -128, 127, 0, &p),
                         TQ_OK);
        assert_int_equal(p.input1_offset, -z1);
        assert_int_equal(p.input2_offset, -z2);
        assert_int_equal(p.output_offset, zo);
        const double real = (double)s1 * (double)s2 / (double)so;
        const double got = ldexp((double)p.output_multiplier, p.output_shift - 31);
        assert_true(fabs(got - real) <= real * ldexp(1.0, -30));
        assert_true(p.output_multiplier >= (1 << 30));
    }
    tq_s8_mul_params keep;
    memset(&keep, 0x33, sizeof keep);
    p = keep;
    assert_int_equal(tq_s8_mul_params_from_scales(0.0f, 0, 1, 0, 1, 0, -128, 127, 0, &p), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_mul_params_from_scales(1, 0, NAN, 0, 1, 0, -128, 127, 0, &p), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_mul_params_from_scales(1, 128, 1, 0, 1, 0, -128, 127, 0, &p), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_mul_params_from_scales(1, 0, 1, 0, 1, 0, 5, 4, 0, &p), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_mul_params_from_scales(1, 0, 1, 0, 1, 0, -128, 127, 2, &p), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_mul_params_from_scales(1e10f, 0, 1e10f, 0, 1e-10f, 0, -128, 127, 0, &p), TQ_ERR_PARAM);
    assert_memory_equal(&p, &keep, sizeof p);
    assert_int_equal(tq_s8_mul_params_from_scales(1, 0, 1, 0, 1, 0, -128, 127, 0, NULL), TQ_ERR_NULL);
}

static void test_mul_errors(void **state)
{
    (void)state;
    tq_s8_mul_params p = {0, 0, 1 << 30, 0, 0, -128, 127, 0};
    const tq_dims o = {1, 2, 3, 4}, pc = {1, 1, 1, 4}, bad = {1, 1, 1, 3};
    const size_t n = numel(o);
    memset(ga, 1, n);
    memset(gb, 2, n);
    fill_sent(gy, n);
    assert_int_equal(tq_s8_mul(NULL, ga, &pc, gb, &p, &o, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_mul(&o, NULL, &pc, gb, &p, &o, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_mul(&o, ga, &pc, NULL, &p, &o, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_mul(&o, ga, &pc, gb, NULL, &o, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_mul(&o, ga, &pc, gb, &p, &o, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_s8_mul(&o, ga, &bad, gb, &p, &o, gy), TQ_ERR_SHAPE);
    const tq_dims zero = {1, 0, 3, 4};
    assert_int_equal(tq_s8_mul(&o, ga, &pc, gb, &p, &zero, gy), TQ_ERR_SHAPE);
    tq_s8_mul_params q = p;
    q.input1_offset = 129;
    assert_int_equal(tq_s8_mul(&o, ga, &pc, gb, &q, &o, gy), TQ_ERR_PARAM);
    q = p; q.output_shift = 31;
    assert_int_equal(tq_s8_mul(&o, ga, &pc, gb, &q, &o, gy), TQ_ERR_PARAM);
    q = p; q.output_multiplier = -1;
    assert_int_equal(tq_s8_mul(&o, ga, &pc, gb, &q, &o, gy), TQ_ERR_PARAM);
    q = p; q.act_min = 10; q.act_max = 9;
    assert_int_equal(tq_s8_mul(&o, ga, &pc, gb, &q, &o, gy), TQ_ERR_PARAM);
    q = p; q.rounding = 3;
    assert_int_equal(tq_s8_mul(&o, ga, &pc, gb, &q, &o, gy), TQ_ERR_PARAM);
    assert_sent(gy, n);
    /* Partial overlap with a full input; a broadcast input inside out. */
    memcpy(gz, ga, n);
    assert_int_equal(tq_s8_mul(&o, gy + 1, &pc, gb, &p, &o, gy), TQ_ERR_ALIAS);
    assert_int_equal(tq_s8_mul(&o, ga, &pc, gy + 2, &p, &o, gy), TQ_ERR_ALIAS);
    assert_int_equal(tq_s8_mul(&o, ga, &pc, gy, &p, &o, gy), TQ_ERR_ALIAS);
    assert_sent(gy, n);
}

/* ---- MAXIMUM / MINIMUM ---------------------------------------------------- */

static void test_maxmin(void **state)
{
    (void)state;
    tt_rng r = {12003};
    for (int it = 0; it < 300; ++it) {
        const tq_dims o = rand_dims(&r, 5);
        const tq_dims da = bcast_of(&r, o), db = bcast_of(&r, o);
        const size_t no = numel(o);
        tt_fill_s8(&r, ga, numel(da), -128, 127);
        tt_fill_s8(&r, gb, numel(db), -128, 127);
        fill_sent(gy, no + 8);
        fill_sent(gz, no + 8);
        assert_int_equal(tq_s8_maximum(&da, ga, &db, gb, &o, gy), TQ_OK);
        assert_int_equal(tq_s8_minimum(&da, ga, &db, gb, &o, gz), TQ_OK);
        size_t idx = 0;
        for (int i0 = 0; i0 < o.n; ++i0)
            for (int i1 = 0; i1 < o.h; ++i1)
                for (int i2 = 0; i2 < o.w; ++i2)
                    for (int i3 = 0; i3 < o.c; ++i3, ++idx) {
                        const int x = at(ga, da, i0, i1, i2, i3);
                        const int y = at(gb, db, i0, i1, i2, i3);
                        assert_int_equal(gy[idx], x > y ? x : y);
                        assert_int_equal(gz[idx], x < y ? x : y);
                    }
        assert_sent(gy + no, 8);
        assert_sent(gz + no, 8);
    }
    const tq_dims o = {2, 1, 3, 4}, b = {2, 1, 1, 2};
    fill_sent(gy, 24);
    assert_int_equal(tq_s8_maximum(&o, ga, &b, gb, &o, gy), TQ_ERR_SHAPE);
    assert_int_equal(tq_s8_minimum(&o, NULL, &o, gb, &o, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_maximum(&o, ga, &o, gb, NULL, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_maximum(&o, gy + 3, &o, gb, &o, gy), TQ_ERR_ALIAS);
    assert_sent(gy, 24);
}

/* ---- softmax -------------------------------------------------------------- */

/* gemmlowp's fixed-point steps written again, in int64, from its source
 * formulas: values are int32 raws, Q-formats as named. */
static int64_t f_mul(int64_t a, int64_t b) { return o_srdhm(a, b); }

static int64_t f_sat_lshift(int64_t x, int e)
{
    const int64_t y = x * ((int64_t)1 << e);
    return y > INT32_MAX ? INT32_MAX : (y < INT32_MIN ? INT32_MIN : y);
}

static int64_t f_exp_quarter(int64_t a) /* Q0.31, a in [-1/4, 0) */
{
    const int64_t c = 1895147668, third = 715827883;
    const int64_t x = a + (1 << 28);
    const int64_t x2 = f_mul(x, x), x3 = f_mul(x2, x), x4 = f_mul(x2, x2);
    const int64_t t = o_rdbpot(f_mul(o_rdbpot(x4, 2) + x3, third) + x2, 1);
    return c + f_mul(c, x + t);
}

static int64_t f_exp_neg(int64_t a) /* Q5.26 in, Q0.31 out */
{
    if (a == 0)
        return INT32_MAX;
    const int64_t quarter = (int64_t)1 << 24;
    const int64_t m = (a & (quarter - 1)) - quarter;
    int64_t res = f_exp_quarter(f_sat_lshift(m, 5));
    const int64_t rem = m - a;
    /* exp(-2^k) in Q0.31 for k = -2 .. 4 */
    const int64_t mult[7] = {1672461947, 1302514674, 790015084, 290630308,
                             39332535, 720401, 242};
    for (int k = -2; k <= 4; ++k)
        if (rem & ((int64_t)1 << (26 + k)))
            res = f_mul(res, mult[k + 2]);
    return res;
}

static int64_t f_recip(int64_t a) /* 1/(1+a), a in [0, 1) Q0.31 */
{
    const int64_t s = a + INT32_MAX;
    const int64_t hd = (s + (s >= 0 ? 1 : -1)) / 2;
    int64_t x = 1515870810 + f_mul(hd, -1010580540);
    for (int i = 0; i < 3; ++i) {
        const int64_t om = ((int64_t)1 << 29) - f_mul(hd, x);
        x = x + f_sat_lshift(f_mul(x, om), 2);
    }
    return f_sat_lshift(x, 1);
}

/* TFLite's reference softmax for one row, bits = 8 or 16. */
static void o_softmax_row(int cols, const int8_t *x, int32_t mult, int shift,
                          int32_t diff_min, int bits, int32_t *outv)
{
    int mx = -128;
    for (int c = 0; c < cols; ++c)
        mx = x[c] > mx ? x[c] : mx;
    int64_t sum = 0;
    for (int c = 0; c < cols; ++c) {
        const int64_t d = x[c] - mx;
        if (d >= diff_min)
            sum += o_rdbpot(f_exp_neg(f_mul(d * ((int64_t)1 << shift), mult)), 12);
    }
    assert_true(sum > 0 && sum <= INT32_MAX);
    int lz = 0;
    while (!(sum & ((int64_t)1 << (31 - lz))))
        ++lz;
    const int nbou = 12 - lz;
    const int64_t sm1 = (sum << lz) - ((int64_t)1 << 31);
    const int64_t recip = f_recip(sm1);
    const int64_t lo = bits == 8 ? -128 : -32768;
    const int64_t hi = bits == 8 ? 127 : 32767;
    for (int c = 0; c < cols; ++c) {
        const int64_t d = x[c] - mx;
        if (d < diff_min) {
            outv[c] = (int32_t)lo;
            continue;
        }
        const int64_t e = f_exp_neg(f_mul(d * ((int64_t)1 << shift), mult));
        outv[c] = (int32_t)o_clamp(o_rdbpot(f_mul(recip, e), nbou + 31 - bits) + lo, lo, hi);
    }
}

static void test_softmax_random(void **state)
{
    (void)state;
    tt_rng r = {12004};
    static int32_t want[4096];
    static int16_t y16[BIG + 8];
    double worst8 = 0, worst16 = 0;
    for (int it = 0; it < 300; ++it) {
        const int rows = tt_int(&r, 1, 4);
        const int cols = it < 5 ? 4095 - it : tt_int(&r, 1, it % 3 ? 40 : 1200);
        if ((size_t)rows * cols > BIG - 8)
            continue;
        const float scale = (float)exp(tt_float(&r, -6.0f, -0.5f));
        const float beta = it % 4 ? 1.0f : tt_float(&r, 0.3f, 3.0f);
        tq_s8_softmax_params p;
        assert_int_equal(tq_s8_softmax_params_from_scale(scale, beta, &p), TQ_OK);
        /* The helper against TFLite's formulas in double. */
        const double real = fmin((double)beta * scale * 67108864.0, 2147483647.0);
        assert_true(fabs(ldexp(p.input_multiplier, p.input_left_shift - 31) - real) <=
                    real * ldexp(1.0, -30));
        assert_int_equal(p.diff_min,
                         -(int32_t)floor(31.0 * 67108864.0 / ldexp(1.0, p.input_left_shift)));
        const size_t n = (size_t)rows * cols;
        tt_fill_s8(&r, ga, n, it % 5 ? -128 : 120, 127);
        fill_sent(gy, n + 8);
        for (size_t i = 0; i < n + 8; ++i)
            y16[i] = SENT16;
        assert_int_equal(tq_s8_softmax(rows, cols, ga, &p, gy), TQ_OK);
        assert_int_equal(tq_s8_softmax_s16(rows, cols, ga, &p, y16), TQ_OK);
        assert_sent(gy + n, 8);
        for (size_t i = n; i < n + 8; ++i)
            assert_int_equal(y16[i], SENT16);
        for (int rr = 0; rr < rows; ++rr) {
            const int8_t *x = ga + (size_t)rr * cols;
            o_softmax_row(cols, x, p.input_multiplier, p.input_left_shift,
                          p.diff_min, 8, want);
            for (int c = 0; c < cols; ++c)
                assert_int_equal(gy[(size_t)rr * cols + c], want[c]);
            o_softmax_row(cols, x, p.input_multiplier, p.input_left_shift,
                          p.diff_min, 16, want);
            for (int c = 0; c < cols; ++c)
                assert_int_equal(y16[(size_t)rr * cols + c], want[c]);
            /* Against the float softmax. */
            int mx = -128;
            for (int c = 0; c < cols; ++c)
                mx = x[c] > mx ? x[c] : mx;
            double s = 0;
            for (int c = 0; c < cols; ++c)
                s += exp((double)beta * scale * (x[c] - mx));
            for (int c = 0; c < cols; ++c) {
                const double pr = exp((double)beta * scale * (x[c] - mx)) / s;
                const double q8 = fmin(fmax(round(pr * 256.0) - 128, -128), 127);
                const double q16 = fmin(fmax(round(pr * 65536.0) - 32768, -32768), 32767);
                const double e8 = fabs(gy[(size_t)rr * cols + c] - q8);
                const double e16 = fabs(y16[(size_t)rr * cols + c] - q16);
                worst8 = fmax(worst8, e8);
                worst16 = fmax(worst16, e16);
                assert_true(e8 <= 1.0);
            }
        }
        /* In place gives the same bits. */
        memcpy(gz, ga, n);
        assert_int_equal(tq_s8_softmax(rows, cols, gz, &p, gz), TQ_OK);
        assert_memory_equal(gz, gy, n);
    }
    print_message("softmax: worst distance to the float softmax: int8 %.0f, "
                  "int16 %.0f codes\n", worst8, worst16);
    assert_true(worst16 <= 4.0);
}

static void test_softmax_errors(void **state)
{
    (void)state;
    tq_s8_softmax_params p, keep;
    memset(&keep, 0x11, sizeof keep);
    p = keep;
    assert_int_equal(tq_s8_softmax_params_from_scale(0.1f, 1.0f, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_s8_softmax_params_from_scale(0.0f, 1.0f, &p), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_softmax_params_from_scale(0.1f, -1.0f, &p), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_softmax_params_from_scale(INFINITY, 1.0f, &p), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_softmax_params_from_scale(1e-9f, 1.0f, &p), TQ_ERR_PARAM); /* shift < 0 */
    assert_int_equal(tq_s8_softmax_params_from_scale(20.0f, 1.0f, &p), TQ_ERR_PARAM); /* shift > 30 */
    assert_memory_equal(&p, &keep, sizeof p);
    assert_int_equal(tq_s8_softmax_params_from_scale(1.0f / 16, 1.0f, &p), TQ_OK);
    static int16_t y16[16];
    fill_sent(gy, 16);
    memset(ga, 0, 16);
    assert_int_equal(tq_s8_softmax(1, 4, NULL, &p, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_softmax(1, 4, ga, NULL, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_softmax(0, 4, ga, &p, gy), TQ_ERR_SHAPE);
    assert_int_equal(tq_s8_softmax(1, 0, ga, &p, gy), TQ_ERR_SHAPE);
    assert_int_equal(tq_s8_softmax(1, 4096, ga, &p, gy), TQ_ERR_SHAPE);
    tq_s8_softmax_params q = p;
    q.diff_min = 1;
    assert_int_equal(tq_s8_softmax(1, 4, ga, &q, gy), TQ_ERR_PARAM);
    q = p; q.diff_min = p.diff_min - 1;
    assert_int_equal(tq_s8_softmax(1, 4, ga, &q, gy), TQ_ERR_PARAM);
    q = p; q.input_left_shift = 31;
    assert_int_equal(tq_s8_softmax(1, 4, ga, &q, gy), TQ_ERR_PARAM);
    q = p; q.input_multiplier = -5;
    assert_int_equal(tq_s8_softmax(1, 4, ga, &q, gy), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_softmax(1, 8, gy + 1, &p, gy), TQ_ERR_ALIAS);
    assert_sent(gy, 16);
    for (int i = 0; i < 16; ++i)
        y16[i] = SENT16;
    assert_int_equal(tq_s8_softmax_s16(1, 4, ga, &q, y16), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_softmax_s16(1, 4, (const int8_t *)(void *)y16 + 2, &p, y16), TQ_ERR_ALIAS);
    assert_int_equal(tq_s8_softmax_s16(2, 4096, ga, &p, y16), TQ_ERR_SHAPE);
    for (int i = 0; i < 16; ++i)
        assert_int_equal(y16[i], SENT16);
}

/* ---- transpose convolution -------------------------------------------------- */

static void test_transpose_conv_random(void **state)
{
    (void)state;
    tt_rng r = {12005};
    static unsigned char scratch[BIG * 4 + 8];
    static stage st;
    static int8_t w[BIG];
    static int32_t bias[64];
    for (int it = 0; it < 150; ++it) {
        const tq_dims in = {tt_int(&r, 1, 2), tt_int(&r, 1, 5), tt_int(&r, 1, 5), tt_int(&r, 1, 7)};
        const int cout = tt_int(&r, 1, 9), kh = tt_int(&r, 1, 4), kw = tt_int(&r, 1, 4);
        tq_conv_params cv = {tt_int(&r, 1, 3), tt_int(&r, 1, 3), tt_int(&r, 0, kh - 1), 0,
                             tt_int(&r, 0, kw - 1), 0, 1, 1, 1};
        /* TFLite's output extent for VALID-like geometry, sometimes off. */
        tq_dims out = {in.n, (in.h - 1) * cv.stride_h + kh - 2 * cv.pad_top + tt_int(&r, -1, 1),
                       (in.w - 1) * cv.stride_w + kw - 2 * cv.pad_left + tt_int(&r, -1, 1), cout};
        if (out.h < 1) out.h = 1;
        if (out.w < 1) out.w = 1;
        const tq_dims fd = {cout, kh, kw, in.c};
        if (numel(out) > BIG - 8)
            continue;
        const int32_t in_off = tt_int(&r, -127, 128);
        tt_fill_s8(&r, ga, numel(in), -128, 127);
        tt_fill_s8(&r, w, numel(fd), -128, 127);
        const int has_bias = tt_int(&r, 0, 3) != 0;
        for (int c = 0; c < cout; ++c)
            bias[c] = tt_int(&r, -200000, 200000);
        st.os.per_channel = tt_int(&r, 0, 1);
        st.os.rounding = tt_int(&r, 0, 1);
        st.os.output_offset = tt_int(&r, -128, 127);
        st.os.act_min = tt_int(&r, 0, 1) ? -128 : tt_int(&r, -128, 0);
        st.os.act_max = 127;
        for (int c = 0; c < cout; ++c) {
            st.mult[c] = tt_int(&r, 1 << 30, INT32_MAX);
            st.shift[c] = tt_int(&r, -16, -6);
        }
        st.os.multiplier = st.mult;
        st.os.shift = st.shift;
        size_t need;
        assert_int_equal(tq_s8_transpose_conv_scratch_size(&out, &need), TQ_OK);
        assert_int_equal(need, (size_t)out.h * out.w * cout * 4 + 3);
        fill_sent(gy, numel(out) + 8);
        assert_int_equal(tq_s8_transpose_conv(&cv, &in, ga, in_off, &fd, w,
                                              has_bias ? bias : NULL, &st.os, &out,
                                              gy, scratch + (it & 3), need),
                         TQ_OK);
        /* Gather form: output (oy, ox) takes every (iy, ky) with
         * iy·s - pad + ky == oy. */
        size_t idx = 0;
        for (int b = 0; b < out.n; ++b)
            for (int oy = 0; oy < out.h; ++oy)
                for (int ox = 0; ox < out.w; ++ox)
                    for (int oc = 0; oc < cout; ++oc, ++idx) {
                        int64_t acc = has_bias ? bias[oc] : 0;
                        for (int ky = 0; ky < kh; ++ky) {
                            const int ny = oy + cv.pad_top - ky;
                            if (ny < 0 || ny % cv.stride_h || ny / cv.stride_h >= in.h)
                                continue;
                            for (int kx = 0; kx < kw; ++kx) {
                                const int nx = ox + cv.pad_left - kx;
                                if (nx < 0 || nx % cv.stride_w || nx / cv.stride_w >= in.w)
                                    continue;
                                const int iy = ny / cv.stride_h, ix = nx / cv.stride_w;
                                for (int ic = 0; ic < in.c; ++ic)
                                    acc += ((int64_t)ga[(((size_t)b * in.h + iy) * in.w + ix) * in.c + ic] + in_off) *
                                           w[(((size_t)oc * kh + ky) * kw + kx) * in.c + ic];
                            }
                        }
                        assert_int_equal(gy[idx], o_stage(&st, acc, oc));
                    }
        assert_sent(gy + numel(out), 8);
    }
}

static void test_transpose_conv_errors(void **state)
{
    (void)state;
    static unsigned char scratch[4096];
    static int8_t w[256];
    int32_t m = 1 << 30, s = -8;
    tq_s8_output os = {&m, &s, 0, 0, 0, -128, 127};
    tq_conv_params cv = {2, 2, 0, 0, 0, 0, 1, 1, 1};
    const tq_dims in = {1, 3, 3, 2}, fd = {4, 2, 2, 2}, out = {1, 6, 6, 4};
    size_t need;
    assert_int_equal(tq_s8_transpose_conv_scratch_size(&out, &need), TQ_OK);
    assert_int_equal(tq_s8_transpose_conv_scratch_size(NULL, &need), TQ_ERR_NULL);
    const tq_dims bad0 = {1, 0, 6, 4};
    assert_int_equal(tq_s8_transpose_conv_scratch_size(&bad0, &need), TQ_ERR_SHAPE);
    const size_t n = numel(out);
    fill_sent(gy, n);
    memset(ga, 3, 18);
#define TC(cvp, i, f, o, sc, sb) tq_s8_transpose_conv(cvp, i, ga, 0, f, w, NULL, &os, o, gy, sc, sb)
    assert_int_equal(TC(NULL, &in, &fd, &out, scratch, need), TQ_ERR_NULL);
    assert_int_equal(TC(&cv, &in, &fd, &out, NULL, need), TQ_ERR_NULL);
    assert_int_equal(TC(&cv, &in, &fd, &out, scratch, need - 1), TQ_ERR_BUFFER_TOO_SMALL);
    const tq_dims fd_bad = {4, 2, 2, 3}, out_bad = {2, 6, 6, 4}, out_c = {1, 6, 6, 5};
    assert_int_equal(TC(&cv, &in, &fd_bad, &out, scratch, need), TQ_ERR_SHAPE);
    assert_int_equal(TC(&cv, &in, &fd, &out_bad, scratch, 4096), TQ_ERR_SHAPE);
    assert_int_equal(TC(&cv, &in, &fd, &out_c, scratch, 4096), TQ_ERR_SHAPE);
    tq_conv_params c2 = cv;
    c2.dilation_h = 2;
    assert_int_equal(TC(&c2, &in, &fd, &out, scratch, need), TQ_ERR_PARAM);
    c2 = cv; c2.groups = 2;
    assert_int_equal(TC(&c2, &in, &fd, &out, scratch, need), TQ_ERR_PARAM);
    c2 = cv; c2.stride_w = 0;
    assert_int_equal(TC(&c2, &in, &fd, &out, scratch, need), TQ_ERR_PARAM);
    c2 = cv; c2.pad_top = -1;
    assert_int_equal(TC(&c2, &in, &fd, &out, scratch, need), TQ_ERR_PARAM);
    const tq_dims in_big = {1, 3, 3, 4097}, fd_big = {4, 3, 3, 4097};
    assert_int_equal(TC(&cv, &in_big, &fd_big, &out, scratch, need), TQ_ERR_OVERFLOW);
    assert_int_equal(tq_s8_transpose_conv(&cv, &in, ga, 129, &fd, w, NULL, &os, &out, gy, scratch, need), TQ_ERR_PARAM);
    assert_int_equal(TC(&cv, &in, &fd, &out, gy, need), TQ_ERR_ALIAS);
    assert_int_equal(tq_s8_transpose_conv(&cv, &in, gy + 10, 0, &fd, w, NULL, &os, &out, gy, scratch, need), TQ_ERR_ALIAS);
    assert_int_equal(tq_s8_transpose_conv(&cv, &in, ga, 0, &fd, gy + 3, NULL, &os, &out, gy, scratch, need), TQ_ERR_ALIAS);
    assert_int_equal(tq_s8_transpose_conv(&cv, &in, ga, 0, &fd, w, NULL, &os, &out, gy, (void *)ga, need), TQ_ERR_ALIAS);
#undef TC
    assert_sent(gy, n);
}

/* ---- pad ------------------------------------------------------------------ */

static void test_pad(void **state)
{
    (void)state;
    tt_rng r = {12006};
    for (int it = 0; it < 200; ++it) {
        const tq_dims in = rand_dims(&r, 5);
        int32_t pads[8];
        for (int i = 0; i < 8; ++i)
            pads[i] = tt_int(&r, 0, i < 2 ? 1 : 3);
        const tq_dims out = {in.n + pads[0] + pads[1], in.h + pads[2] + pads[3],
                             in.w + pads[4] + pads[5], in.c + pads[6] + pads[7]};
        if (numel(out) > BIG - 8)
            continue;
        const int32_t pv = tt_int(&r, -128, 127);
        tt_fill_s8(&r, ga, numel(in), -128, 127);
        fill_sent(gy, numel(out) + 8);
        assert_int_equal(tq_s8_pad(&in, ga, pads, pv, &out, gy), TQ_OK);
        size_t idx = 0;
        for (int a = 0; a < out.n; ++a)
            for (int b = 0; b < out.h; ++b)
                for (int c = 0; c < out.w; ++c)
                    for (int d = 0; d < out.c; ++d, ++idx) {
                        const int ia = a - pads[0], ib = b - pads[2], ic = c - pads[4], id = d - pads[6];
                        int want = pv;
                        if (ia >= 0 && ia < in.n && ib >= 0 && ib < in.h && ic >= 0 &&
                            ic < in.w && id >= 0 && id < in.c)
                            want = ga[(((size_t)ia * in.h + ib) * in.w + ic) * in.c + id];
                        assert_int_equal(gy[idx], want);
                    }
        assert_sent(gy + numel(out), 8);
    }
    const tq_dims in = {1, 2, 2, 3}, out = {1, 4, 2, 3}, wrong = {1, 4, 3, 3};
    const int32_t pads[8] = {0, 0, 1, 1, 0, 0, 0, 0};
    int32_t neg[8] = {0, 0, 2, 0, 0, 0, -1, 1};
    fill_sent(gy, 24);
    assert_int_equal(tq_s8_pad(NULL, ga, pads, 0, &out, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_pad(&in, ga, NULL, 0, &out, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_pad(&in, ga, pads, 0, &wrong, gy), TQ_ERR_SHAPE);
    assert_int_equal(tq_s8_pad(&in, ga, pads, 128, &out, gy), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_pad(&in, ga, neg, 0, &out, gy), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_pad(&in, gy + 20, pads, 0, &out, gy), TQ_ERR_ALIAS);
    assert_sent(gy, 24);
}

/* ---- transpose ------------------------------------------------------------ */

static void test_transpose(void **state)
{
    (void)state;
    tt_rng r = {12007};
    static unsigned char src[BIG * 4], dst[BIG * 4 + 32];
    for (int it = 0; it < 200; ++it) {
        const tq_dims in = rand_dims(&r, 6);
        int32_t perm[4] = {0, 1, 2, 3};
        for (int i = 3; i > 0; --i) {
            const int j = tt_int(&r, 0, i);
            const int32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        const int32_t e[4] = {in.n, in.h, in.w, in.c};
        const tq_dims out = {e[perm[0]], e[perm[1]], e[perm[2]], e[perm[3]]};
        const int eb = 1 << tt_int(&r, 0, 2);
        const size_t n = numel(in);
        for (size_t i = 0; i < n * eb; ++i)
            src[i] = (unsigned char)tt_int(&r, 0, 255);
        memset(dst, 0xA5, n * eb + 32);
        assert_int_equal(tq_s8_transpose(&in, perm, eb, src, &out, dst), TQ_OK);
        int o[4];
        size_t idx = 0;
        for (o[0] = 0; o[0] < out.n; ++o[0])
            for (o[1] = 0; o[1] < out.h; ++o[1])
                for (o[2] = 0; o[2] < out.w; ++o[2])
                    for (o[3] = 0; o[3] < out.c; ++o[3], ++idx) {
                        int i4[4];
                        for (int k = 0; k < 4; ++k)
                            i4[perm[k]] = o[k];
                        const size_t si = (((size_t)i4[0] * in.h + i4[1]) * in.w + i4[2]) * in.c + i4[3];
                        assert_memory_equal(dst + idx * eb, src + si * eb, (size_t)eb);
                    }
        for (size_t i = n * eb; i < n * eb + 32; ++i)
            assert_int_equal(dst[i], 0xA5);
    }
    const tq_dims in = {1, 2, 3, 4}, out = {1, 3, 2, 4};
    int32_t perm[4] = {0, 2, 1, 3}, dup[4] = {0, 2, 2, 3}, oob[4] = {0, 2, 1, 4};
    memset(dst, 0xA5, 96);
    assert_int_equal(tq_s8_transpose(NULL, perm, 1, src, &out, dst), TQ_ERR_NULL);
    assert_int_equal(tq_s8_transpose(&in, NULL, 1, src, &out, dst), TQ_ERR_NULL);
    assert_int_equal(tq_s8_transpose(&in, perm, 3, src, &out, dst), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_transpose(&in, dup, 1, src, &out, dst), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_transpose(&in, oob, 1, src, &out, dst), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_transpose(&in, perm, 1, src, &in, dst), TQ_ERR_SHAPE);
    assert_int_equal(tq_s8_transpose(&in, perm, 2, dst + 47, &out, dst), TQ_ERR_ALIAS);
    for (int i = 0; i < 96; ++i)
        assert_int_equal(dst[i], 0xA5);
}

/* ---- concatenation -------------------------------------------------------- */

static void test_concat(void **state)
{
    (void)state;
    tt_rng r = {12008};
    static int8_t bufs[4][1024];
    for (int it = 0; it < 300; ++it) {
        const int axis = tt_int(&r, 0, 3), count = tt_int(&r, 1, 4);
        tq_dims base = rand_dims(&r, 4);
        tq_dims dims[4];
        const int8_t *ptrs[4];
        float scales[4];
        int32_t zps[4];
        int32_t tot = 0;
        const float so = tt_float(&r, 0.01f, 0.1f);
        const int32_t zo = tt_int(&r, -128, 127);
        const int mode = tt_int(&r, 0, 2); /* 0: NULL scales, 1: mixed, 2: all equal */
        for (int i = 0; i < count; ++i) {
            dims[i] = base;
            int32_t *e = axis == 0 ? &dims[i].n : axis == 1 ? &dims[i].h : axis == 2 ? &dims[i].w : &dims[i].c;
            *e = tt_int(&r, 1, 4);
            tot += *e;
            tt_fill_s8(&r, bufs[i], numel(dims[i]), -128, 127);
            ptrs[i] = bufs[i];
            const int same = mode == 2 || tt_int(&r, 0, 2) == 0;
            scales[i] = same ? so : tt_float(&r, 0.002f, 0.3f);
            zps[i] = same ? zo : tt_int(&r, -128, 127);
        }
        tq_dims out = base;
        *(axis == 0 ? &out.n : axis == 1 ? &out.h : axis == 2 ? &out.w : &out.c) = tot;
        const size_t no = numel(out);
        fill_sent(gy, no + 8);
        assert_int_equal(tq_s8_concatenation(axis, count, dims, ptrs, mode ? scales : NULL,
                                             mode ? zps : NULL, so, zo, &out, gy),
                         TQ_OK);
        const int32_t eo[4] = {out.n, out.h, out.w, out.c};
        int o[4];
        size_t idx = 0;
        for (o[0] = 0; o[0] < eo[0]; ++o[0])
            for (o[1] = 0; o[1] < eo[1]; ++o[1])
                for (o[2] = 0; o[2] < eo[2]; ++o[2])
                    for (o[3] = 0; o[3] < eo[3]; ++o[3], ++idx) {
                        int i = 0, pos = o[axis];
                        int32_t ei[4];
                        for (;;) {
                            ei[0] = dims[i].n; ei[1] = dims[i].h; ei[2] = dims[i].w; ei[3] = dims[i].c;
                            if (pos < ei[axis])
                                break;
                            pos -= ei[axis];
                            ++i;
                        }
                        int c4[4] = {o[0], o[1], o[2], o[3]};
                        c4[axis] = pos;
                        const int8_t x = bufs[i][(((size_t)c4[0] * ei[1] + c4[1]) * ei[2] + c4[2]) * ei[3] + c4[3]];
                        int want = x;
                        if (mode && !(scales[i] == so && zps[i] == zo)) {
                            const float sc = scales[i] * (1.0f / so);
                            const float bi = -(float)zps[i] * sc;
                            const float v = (float)x * sc;
                            const float v2 = v + bi;
                            const double rr = round((double)v2) + zo;
                            want = (int)fmin(fmax(rr, -128), 127);
                        }
                        assert_int_equal(gy[idx], want);
                    }
        assert_sent(gy + no, 8);
    }
    const tq_dims d = {1, 2, 2, 3}, o = {1, 2, 2, 6}, bad = {1, 2, 3, 3};
    const tq_dims two[2] = {d, d}, mis[2] = {d, bad};
    const int8_t *p2[2] = {ga, gb}, *pn[2] = {ga, NULL}, *pal[2] = {ga, gy + 3};
    const float sc[2] = {0.1f, 0.0f};
    const int32_t zp[2] = {0, 0};
    fill_sent(gy, 24);
    assert_int_equal(tq_s8_concatenation(3, 2, NULL, p2, NULL, NULL, 1, 0, &o, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_concatenation(3, 2, two, pn, NULL, NULL, 1, 0, &o, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_concatenation(3, 2, two, p2, sc, NULL, 1, 0, &o, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_concatenation(4, 2, two, p2, NULL, NULL, 1, 0, &o, gy), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_concatenation(3, 0, two, p2, NULL, NULL, 1, 0, &o, gy), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_concatenation(3, 2, two, p2, sc, zp, 1, 0, &o, gy), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_concatenation(3, 2, mis, p2, NULL, NULL, 1, 0, &o, gy), TQ_ERR_SHAPE);
    assert_int_equal(tq_s8_concatenation(2, 2, two, p2, NULL, NULL, 1, 0, &o, gy), TQ_ERR_SHAPE);
    assert_int_equal(tq_s8_concatenation(3, 2, two, pal, NULL, NULL, 1, 0, &o, gy), TQ_ERR_ALIAS);
    assert_sent(gy, 24);
}

/* ---- batch matmul --------------------------------------------------------- */

static void rand_bmm(tt_rng *r, tq_batch_matmul_params *p, int kmax)
{
    for (int i = 0; i < 3; ++i) {
        const int e = tt_int(r, 1, 3);
        const int kind = tt_int(r, 0, 2);
        p->lhs_batch[i] = kind == 1 ? 1 : e;
        p->rhs_batch[i] = kind == 2 ? 1 : e;
    }
    p->m = tt_int(r, 1, 7);
    p->n = tt_int(r, 1, 9);
    p->k = tt_int(r, 1, kmax);
    p->adj_x = tt_int(r, 0, 1);
    p->adj_y = tt_int(r, 0, 1);
}

static size_t bprod(const int32_t *b)
{
    return (size_t)b[0] * b[1] * b[2];
}

/* Index of batch (b0, b1, b2) in a broadcast operand. */
static size_t bidx(const int32_t *b, int b0, int b1, int b2)
{
    return ((size_t)(b[0] == 1 ? 0 : b0) * b[1] + (b[1] == 1 ? 0 : b1)) * b[2] +
           (b[2] == 1 ? 0 : b2);
}

/* The larger of each pair of batch extents. */
static void out_batch(const tq_batch_matmul_params *p, int32_t ob[3])
{
    for (int i = 0; i < 3; ++i)
        ob[i] = p->lhs_batch[i] > p->rhs_batch[i] ? p->lhs_batch[i] : p->rhs_batch[i];
}

/* Output element idx (row-major over the batches, m and n) of a batch
 * matmul from the definition: Σ_q (x + lo) · (y + ro), exactly, with x
 * and y int8 (s16 0) or int16 values; *col is its column j. */
static int64_t o_bmm_sum(const tq_batch_matmul_params *p, const void *lhs,
                         const void *rhs, int s16, int lo, int ro, size_t idx,
                         int *col)
{
    int32_t ob[3];
    out_batch(p, ob);
    const int j = (int)(idx % (size_t)p->n);
    const int i = (int)(idx / (size_t)p->n % (size_t)p->m);
    const size_t b = idx / ((size_t)p->n * p->m);
    const int b2 = (int)(b % (size_t)ob[2]), b1 = (int)(b / (size_t)ob[2] % (size_t)ob[1]);
    const int b0 = (int)(b / ((size_t)ob[2] * ob[1]));
    const size_t l0 = bidx(p->lhs_batch, b0, b1, b2) * p->m * p->k;
    const size_t r0 = bidx(p->rhs_batch, b0, b1, b2) * p->k * p->n;
    int64_t acc = 0;
    for (int q = 0; q < p->k; ++q) {
        const size_t li = l0 + (size_t)(p->adj_x ? q * p->m + i : i * p->k + q);
        const size_t ri = r0 + (size_t)(p->adj_y ? j * p->k + q : q * p->n + j);
        const int64_t x = s16 ? ((const int16_t *)lhs)[li] : ((const int8_t *)lhs)[li];
        const int64_t y = s16 ? ((const int16_t *)rhs)[ri] : ((const int8_t *)rhs)[ri];
        acc += (x + lo) * (y + ro);
    }
    *col = j;
    return acc;
}

static void test_bmm_s8(void **state)
{
    (void)state;
    tt_rng r = {12009};
    static stage st;
    for (int it = 0; it < 300; ++it) {
        tq_batch_matmul_params p;
        rand_bmm(&r, &p, it % 10 ? 20 : 300);
        const size_t nl = bprod(p.lhs_batch) * p.m * p.k, nr = bprod(p.rhs_batch) * p.k * p.n;
        int32_t ob[3];
        out_batch(&p, ob);
        const size_t no = bprod(ob) * p.m * p.n;
        if (nl > BIG || nr > BIG || no > BIG - 8)
            continue;
        tt_fill_s8(&r, ga, nl, -128, 127);
        tt_fill_s8(&r, gb, nr, -128, 127);
        const int32_t lo = tt_int(&r, -127, 128), ro = tt_int(&r, -127, 128);
        st.os.per_channel = tt_int(&r, 0, 1);
        st.os.rounding = tt_int(&r, 0, 1);
        st.os.output_offset = tt_int(&r, -128, 127);
        st.os.act_min = -128;
        st.os.act_max = 127;
        for (int c = 0; c < p.n; ++c) {
            st.mult[c] = tt_int(&r, 1 << 30, INT32_MAX);
            st.shift[c] = tt_int(&r, -14, -4);
        }
        st.os.multiplier = st.mult;
        st.os.shift = st.shift;
        fill_sent(gy, no + 8);
        assert_int_equal(tq_s8_batch_matmul(&p, ga, lo, gb, ro, &st.os, gy), TQ_OK);
        for (size_t idx = 0; idx < no; ++idx) {
            int j;
            const int64_t acc = o_bmm_sum(&p, ga, gb, 0, lo, ro, idx, &j);
            assert_int_equal(gy[idx], o_stage(&st, acc, j));
        }
        assert_sent(gy + no, 8);
    }
    /* The largest sum, 255^2 · 2^15 (just below 2^31), at the longest k. */
    {
        tq_batch_matmul_params p = {{1, 1, 1}, {1, 1, 1}, 1, 1, TQ_S8_MAX_REDUCTION, 0, 0};
        static int8_t big_l[TQ_S8_MAX_REDUCTION], big_r[TQ_S8_MAX_REDUCTION];
        memset(big_l, 127, sizeof big_l);
        memset(big_r, 127, sizeof big_r);
        int32_t m = INT32_MAX, s = 0;
        tq_s8_output os = {&m, &s, 0, 0, 0, -128, 127};
        int8_t y = 0;
        assert_int_equal(tq_s8_batch_matmul(&p, big_l, 128, big_r, 128, &os, &y), TQ_OK);
        assert_int_equal(y, 127);
    }
    tq_batch_matmul_params p = {{2, 1, 1}, {3, 1, 1}, 2, 2, 2, 0, 0};
    int32_t m = 1 << 30, s = 0;
    tq_s8_output os = {&m, &s, 0, 0, 0, -128, 127};
    fill_sent(gy, 32);
    assert_int_equal(tq_s8_batch_matmul(&p, ga, 0, gb, 0, &os, gy), TQ_ERR_SHAPE);
    p.rhs_batch[0] = 1;
    assert_int_equal(tq_s8_batch_matmul(NULL, ga, 0, gb, 0, &os, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_batch_matmul(&p, NULL, 0, gb, 0, &os, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_batch_matmul(&p, ga, 0, gb, 0, NULL, gy), TQ_ERR_NULL);
    assert_int_equal(tq_s8_batch_matmul(&p, ga, 129, gb, 0, &os, gy), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_batch_matmul(&p, ga, 0, gb, -128, &os, gy), TQ_ERR_PARAM);
    p.adj_x = 2;
    assert_int_equal(tq_s8_batch_matmul(&p, ga, 0, gb, 0, &os, gy), TQ_ERR_PARAM);
    p.adj_x = 0;
    p.k = 0;
    assert_int_equal(tq_s8_batch_matmul(&p, ga, 0, gb, 0, &os, gy), TQ_ERR_SHAPE);
    p.k = TQ_S8_MAX_REDUCTION + 1;
    assert_int_equal(tq_s8_batch_matmul(&p, ga, 0, gb, 0, &os, gy), TQ_ERR_OVERFLOW);
    p.k = 2;
    os.act_min = 100;
    os.act_max = 99;
    assert_int_equal(tq_s8_batch_matmul(&p, ga, 0, gb, 0, &os, gy), TQ_ERR_PARAM);
    os.act_min = -128;
    os.act_max = 127;
    assert_int_equal(tq_s8_batch_matmul(&p, gy + 1, 0, gb, 0, &os, gy), TQ_ERR_ALIAS);
    assert_int_equal(tq_s8_batch_matmul(&p, ga, 0, gy + 7, 0, &os, gy), TQ_ERR_ALIAS);
    assert_sent(gy, 32);
}

static void test_bmm_s16(void **state)
{
    (void)state;
    tt_rng r = {12010};
    static int16_t L16[BIG], R16[BIG], Y16[BIG + 8];
    int32_t mult[16], shift[16];
    for (int it = 0; it < 300; ++it) {
        tq_batch_matmul_params p;
        rand_bmm(&r, &p, it % 10 ? 20 : 300);
        const size_t nl = bprod(p.lhs_batch) * p.m * p.k, nr = bprod(p.rhs_batch) * p.k * p.n;
        int32_t ob[3];
        out_batch(&p, ob);
        const size_t no = bprod(ob) * p.m * p.n;
        if (nl > BIG || nr > BIG || no > BIG - 8)
            continue;
        for (size_t i = 0; i < nl; ++i)
            L16[i] = (int16_t)(it % 9 == 0 ? (tt_int(&r, 0, 1) ? -32768 : 32767) : tt_int(&r, -32768, 32767));
        for (size_t i = 0; i < nr; ++i)
            R16[i] = (int16_t)tt_int(&r, -32768, 32767);
        tq_s16_output os = {mult, shift, tt_int(&r, 0, 1), 0, -32768, 32767};
        if (tt_int(&r, 0, 3) == 0) {
            os.act_min = -1000;
            os.act_max = 20000;
        }
        for (int c = 0; c < p.n; ++c) {
            mult[c] = tt_int(&r, 1 << 30, INT32_MAX);
            shift[c] = tt_int(&r, -24, -12);
        }
        for (size_t i = 0; i < no + 8; ++i)
            Y16[i] = SENT16;
        assert_int_equal(tq_s16_batch_matmul(&p, L16, R16, &os, Y16), TQ_OK);
        for (size_t idx = 0; idx < no; ++idx) {
            int j;
            const int64_t acc = o_bmm_sum(&p, L16, R16, 1, 0, 0, idx, &j);
            const int c = os.per_channel ? j : 0;
            const int64_t v = o_clamp(o_requant64(acc, mult[c], shift[c]), os.act_min, os.act_max);
            assert_int_equal(Y16[idx], v);
        }
        for (size_t i = no; i < no + 8; ++i)
            assert_int_equal(Y16[i], SENT16);
    }
    tq_batch_matmul_params p = {{1, 1, 1}, {1, 1, 1}, 2, 2, 2, 0, 0};
    mult[0] = 1 << 30;
    shift[0] = 0;
    tq_s16_output os = {mult, shift, 0, 0, -32768, 32767};
    for (int i = 0; i < 8; ++i)
        Y16[i] = SENT16;
    assert_int_equal(tq_s16_batch_matmul(NULL, L16, R16, &os, Y16), TQ_ERR_NULL);
    assert_int_equal(tq_s16_batch_matmul(&p, L16, NULL, &os, Y16), TQ_ERR_NULL);
    shift[0] = 15;
    assert_int_equal(tq_s16_batch_matmul(&p, L16, R16, &os, Y16), TQ_ERR_PARAM);
    shift[0] = 0;
    p.k = TQ_S16_BMM_MAX_REDUCTION + 1;
    assert_int_equal(tq_s16_batch_matmul(&p, L16, R16, &os, Y16), TQ_ERR_OVERFLOW);
    p.k = 2;
    assert_int_equal(tq_s16_batch_matmul(&p, Y16 + 3, R16, &os, Y16), TQ_ERR_ALIAS);
    for (int i = 0; i < 8; ++i)
        assert_int_equal(Y16[i], SENT16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mul_random),
        cmocka_unit_test(test_mul_stages),
        cmocka_unit_test(test_mul_ties),
        cmocka_unit_test(test_mul_params),
        cmocka_unit_test(test_mul_errors),
        cmocka_unit_test(test_maxmin),
        cmocka_unit_test(test_softmax_random),
        cmocka_unit_test(test_softmax_errors),
        cmocka_unit_test(test_transpose_conv_random),
        cmocka_unit_test(test_transpose_conv_errors),
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_bmm_s8),
        cmocka_unit_test(test_bmm_s16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
