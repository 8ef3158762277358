/*
 * Tests of the requantization unit (lib/quant/requant.c): QuantizeMultiplier,
 * MultiplyByQuantizedMultiplier in both rounding modes, the s8 output stage
 * over rows of accumulators, and fused-activation clamps. The oracles work
 * on exact rationals with 128-bit integers, not with the library's
 * nudge/mask tricks.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "tinyq.h"
#include "testutil.h"

__extension__ typedef __int128 i128;

#define RANDOM_TRIPLES 1000000

/* ---- exact oracle -------------------------------------------------------- */

/* floor(a / b) for b > 0. */
static i128 floor_div(i128 a, i128 b)
{
    i128 q = a / b;
    if (a % b != 0 && a < 0)
        q -= 1;
    return q;
}

static i128 pow2(int e)
{
    return (i128)1 << e;
}

static int32_t sat32(i128 v)
{
    return v < INT32_MIN ? INT32_MIN : (v > INT32_MAX ? INT32_MAX : (int32_t)v);
}

typedef struct tie_counts {
    long first;  /* double rounding: x·m / 2^31 exactly on .5 */
    long second; /* double rounding: the divide by 2^right exactly on .5 */
    long single; /* single rounding exactly on .5 */
} tie_counts;

/* round(p / 2^e) with ties toward +infinity: floor(p / 2^e + 1/2). */
static i128 round_half_up(i128 p, int e, long *ties)
{
    if (e == 0)
        return p;
    const i128 d = pow2(e);
    if (p - floor_div(p, d) * d == d / 2)
        ++*ties;
    return floor_div(2 * p + d, 2 * d);
}

/* round(v / 2^e) with ties away from zero. */
static i128 round_half_away(i128 v, int e, long *ties)
{
    if (e == 0)
        return v;
    const i128 d = pow2(e);
    const i128 mag = v < 0 ? -v : v;
    if (mag % d == d / 2)
        ++*ties;
    const i128 r = (mag + d / 2) / d;
    return v < 0 ? -r : r;
}

static int32_t oracle_requant(int32_t x, int32_t m, int32_t shift,
                              int32_t rounding, tie_counts *ties)
{
    if (rounding == TQ_ROUND_SINGLE)
        return sat32(round_half_up((i128)x * m, 31 - shift, &ties->single));
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    /* The exact x · 2^left: where it leaves int32 (TFLite undefined),
     * tinyq rounds the exact product and saturates the result. */
    const i128 a = (i128)x * pow2(left);
    const i128 high = sat32(round_half_up(a * m, 31, &ties->first));
    return sat32(round_half_away(high, right, &ties->second));
}

/* ---- random triples ------------------------------------------------------ */

static int32_t odd_below(tt_rng *r, int bits)
{
    /* odd value in [1, 2^bits - 1], bits in [1, 31] */
    const uint64_t v = tt_next(r) & ((UINT64_C(1) << bits) - 1);
    return (int32_t)(v | 1u);
}

static int32_t random_sign(tt_rng *r, int32_t v)
{
    return (tt_next(r) & 1) ? -v : v;
}

static int32_t random_acc(tt_rng *r)
{
    switch (tt_int(r, 0, 5)) {
    case 0:
        return (int32_t)(uint32_t)tt_next(r);
    case 1:
        return INT32_MIN + tt_int(r, 0, 1000);
    case 2:
        return INT32_MAX - tt_int(r, 0, 1000);
    case 3:
        return tt_int(r, -65536, 65536);
    case 4:
        return tt_int(r, -300, 300);
    default:
        return (int32_t)((int64_t)(int32_t)(uint32_t)tt_next(r) >> tt_int(r, 0, 31));
    }
}

static int32_t random_multiplier(tt_rng *r)
{
    switch (tt_int(r, 0, 6)) {
    case 0:
        return 0;
    case 1:
        return INT32_C(1) << 30;
    case 2:
        return INT32_MAX;
    case 3:
        return tt_int(r, 0, 1000);
    case 4:
        return tt_int(r, 0, INT32_MAX);
    default:
        return tt_int(r, INT32_C(1) << 30, INT32_MAX);
    }
}

/* A triple whose exact result sits on a .5 at one of the rounding steps. */
static void random_tie(tt_rng *r, int32_t rounding, int32_t *x, int32_t *m,
                       int32_t *shift)
{
    if (rounding == TQ_ROUND_SINGLE) {
        /* v2(x · m) = total − 1 with total = 31 − shift. */
        /* total = 62 (shift -31) cannot tie: |x · m| < 2^62. */
        const int32_t total = tt_int(r, 1, 61);
        const int32_t tx_lo = total - 31 > 0 ? total - 31 : 0;
        const int32_t tx_hi = total - 1 < 30 ? total - 1 : 30;
        const int32_t tx = tt_int(r, tx_lo, tx_hi);
        const int32_t tm = total - 1 - tx;
        *x = random_sign(r, odd_below(r, 31 - tx) << tx);
        *m = odd_below(r, 31 - tm) << tm;
        *shift = 31 - total;
        return;
    }
    if (tt_next(r) & 1) {
        /* First step: v2(x · 2^left · m) = 30, no saturation. */
        *shift = tt_int(r, TQ_SHIFT_MIN, TQ_SHIFT_MAX);
        const int32_t left = *shift > 0 ? *shift : 0;
        const int32_t tm = tt_int(r, 0, 30 - left);
        const int32_t tx = 30 - left - tm;
        *x = random_sign(r, odd_below(r, tm + 1) << tx);
        *m = odd_below(r, 31 - tm) << tm;
    } else {
        /* Second step: m = 2^30 halves x exactly when x is even, so
         * x = 2·(k·2^e + 2^(e−1)) lands on a tie of the divide by 2^e. */
        const int32_t e = tt_int(r, 1, 30);
        const int64_t kmax = ((INT64_C(1) << 30) - (INT64_C(1) << (e - 1))) >> e;
        const int64_t k = (int64_t)(tt_next(r) % (uint64_t)(kmax + 1));
        *x = random_sign(r, (int32_t)(2 * (k * (INT64_C(1) << e) + (INT64_C(1) << (e - 1)))));
        *m = INT32_C(1) << 30;
        *shift = -e;
    }
}

static void check_mode(int32_t rounding, uint64_t seed)
{
    tt_rng r = {seed};
    tie_counts ties = {0, 0, 0};
    for (long i = 0; i < RANDOM_TRIPLES; ++i) {
        int32_t x, m, shift;
        if (i % 5 == 0) {
            random_tie(&r, rounding, &x, &m, &shift);
        } else {
            x = random_acc(&r);
            m = random_multiplier(&r);
            shift = tt_int(&r, TQ_SHIFT_MIN, TQ_SHIFT_MAX);
        }
        int32_t got = 0x5A5A5A5A;
        assert_int_equal(tq_requantize(x, m, shift, rounding, &got), TQ_OK);
        const int32_t want = oracle_requant(x, m, shift, rounding, &ties);
        if (got != want) {
            print_message("seed %llu i %ld: x %ld m %ld shift %ld rounding %ld: "
                          "got %ld want %ld\n",
                          (unsigned long long)seed, i, (long)x, (long)m,
                          (long)shift, (long)rounding, (long)got, (long)want);
            fail();
        }
    }
    if (rounding == TQ_ROUND_SINGLE) {
        assert_true(ties.single > RANDOM_TRIPLES / 10);
    } else {
        assert_true(ties.first > RANDOM_TRIPLES / 20);
        assert_true(ties.second > RANDOM_TRIPLES / 20);
    }
}

static void test_requantize_double_random(void **state)
{
    (void)state;
    check_mode(TQ_ROUND_DOUBLE, 0x5EED0001u);
}

static void test_requantize_single_random(void **state)
{
    (void)state;
    check_mode(TQ_ROUND_SINGLE, 0x5EED0002u);
}

/* Every shift with the extreme accumulators and multipliers, both modes. */
static void test_requantize_extremes(void **state)
{
    (void)state;
    static const int32_t xs[] = {INT32_MIN, INT32_MIN + 1, -65537, -2, -1, 0,
                                 1, 2, 3, 65535, INT32_MAX - 1, INT32_MAX};
    static const int32_t ms[] = {0, 1, (INT32_C(1) << 30) - 1, INT32_C(1) << 30,
                                 (INT32_C(1) << 30) + 1, INT32_MAX - 1, INT32_MAX};
    tie_counts ties = {0, 0, 0};
    for (int32_t rounding = 0; rounding <= 1; ++rounding) {
        for (int32_t shift = TQ_SHIFT_MIN; shift <= TQ_SHIFT_MAX; ++shift) {
            for (size_t i = 0; i < sizeof xs / sizeof xs[0]; ++i) {
                for (size_t j = 0; j < sizeof ms / sizeof ms[0]; ++j) {
                    int32_t got;
                    assert_int_equal(
                        tq_requantize(xs[i], ms[j], shift, rounding, &got), TQ_OK);
                    const int32_t want =
                        oracle_requant(xs[i], ms[j], shift, rounding, &ties);
                    if (got != want) {
                        print_message("x %ld m %ld shift %ld rounding %ld: got "
                                      "%ld want %ld\n",
                                      (long)xs[i], (long)ms[j], (long)shift,
                                      (long)rounding, (long)got, (long)want);
                        fail();
                    }
                }
            }
        }
    }
}

/* Hand-computed values, including ones where the two modes differ. */
static void test_requantize_hand(void **state)
{
    (void)state;
    const int32_t half = INT32_C(1) << 30; /* 0.5 in Q31 */
    struct {
        int32_t x, m, shift, rounding, want;
    } cases[] = {
        {100, half, 0, TQ_ROUND_DOUBLE, 50},
        {3, half, 0, TQ_ROUND_DOUBLE, 2},   /* 1.5 -> 2 */
        {-3, half, 0, TQ_ROUND_DOUBLE, -1}, /* -1.5 -> -1 (toward +inf) */
        {-3, half, 0, TQ_ROUND_SINGLE, -1},
        /* -4 · 0.5 / 4 = -0.5: double rounding gives exactly -2 / 4, which
         * RDBPOT rounds away from zero; single rounding goes toward +inf. */
        {-4, half, -2, TQ_ROUND_DOUBLE, -1},
        {-4, half, -2, TQ_ROUND_SINGLE, 0},
        /* 5 · 0.5 / 2 = 1.25: double rounds 2.5 up to 3, then 3/2 -> 2;
         * single rounds 1.25 -> 1. The classic double-rounding error. */
        {5, half, -1, TQ_ROUND_DOUBLE, 2},
        {5, half, -1, TQ_ROUND_SINGLE, 1},
        {1, half, 30, TQ_ROUND_DOUBLE, INT32_C(1) << 29},
        /* x · 2^left past int32: the exact product, rounded, saturated
         * (issue 14: these gave 2^30, 2147483646 and -2147483647) */
        {3, half, 30, TQ_ROUND_DOUBLE, 3 * (INT32_C(1) << 29)},
        {INT32_MAX, INT32_MAX, 1, TQ_ROUND_DOUBLE, INT32_MAX},
        {INT32_MIN, INT32_MAX, 1, TQ_ROUND_DOUBLE, INT32_MIN},
        {INT32_MAX, INT32_MAX, 30, TQ_ROUND_DOUBLE, INT32_MAX},
        {INT32_MIN, INT32_MAX, 30, TQ_ROUND_DOUBLE, INT32_MIN},
        {INT32_C(1) << 29, 100, 3, TQ_ROUND_DOUBLE, 200},
        {-(INT32_C(1) << 29), 100, 3, TQ_ROUND_DOUBLE, -200},
        {INT32_C(1) << 29, 0, 3, TQ_ROUND_DOUBLE, 0},
        {INT32_MAX, INT32_MAX, 1, TQ_ROUND_SINGLE, INT32_MAX},
        {INT32_MIN, INT32_MAX, 1, TQ_ROUND_SINGLE, INT32_MIN},
        /* inside TFLite's domain the largest results are legit roundings:
         * (2^31 - 1)^2 / 2^31 = 2^31 - 2 + 2^-31 */
        {INT32_MAX, INT32_MAX, 0, TQ_ROUND_DOUBLE, INT32_MAX - 1},
        {3, half, 30, TQ_ROUND_SINGLE, 3 * (INT32_C(1) << 29)},
        {5, half, 30, TQ_ROUND_SINGLE, INT32_MAX}, /* 5 · 2^29 saturates */
        {-5, half, 30, TQ_ROUND_SINGLE, INT32_MIN},
        {INT32_MIN, INT32_MAX, 0, TQ_ROUND_DOUBLE, -INT32_MAX},
        {INT32_MAX, INT32_MAX, -31, TQ_ROUND_DOUBLE, 1},
        {12345, 0, 7, TQ_ROUND_SINGLE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        int32_t got = 0;
        assert_int_equal(tq_requantize(cases[i].x, cases[i].m, cases[i].shift,
                                       cases[i].rounding, &got),
                         TQ_OK);
        if (got != cases[i].want) {
            print_message("case %zu: got %ld want %ld\n", i, (long)got,
                          (long)cases[i].want);
            fail();
        }
    }
}

static void test_requantize_errors(void **state)
{
    (void)state;
    int32_t out = 77;
    assert_int_equal(tq_requantize(1, 1, 0, TQ_ROUND_DOUBLE, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_requantize(1, -1, 0, TQ_ROUND_DOUBLE, &out), TQ_ERR_PARAM);
    assert_int_equal(tq_requantize(1, INT32_MIN, 0, TQ_ROUND_SINGLE, &out),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_requantize(1, 1, TQ_SHIFT_MIN - 1, TQ_ROUND_DOUBLE, &out),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_requantize(1, 1, TQ_SHIFT_MAX + 1, TQ_ROUND_SINGLE, &out),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_requantize(1, 1, 0, 2, &out), TQ_ERR_PARAM);
    assert_int_equal(tq_requantize(1, 1, 0, -1, &out), TQ_ERR_PARAM);
    assert_int_equal(out, 77);
}

/* ---- QuantizeMultiplier -------------------------------------------------- */

/* Independent oracle: normalise by exact halvings/doublings (no frexp),
 * M = f · 2^e with f in [1, 2); m = round(f · 2^30), ties away. */
static void oracle_multiplier(double real, int32_t *m, int32_t *shift)
{
    double f = real;
    int e = 0;
    while (f >= 2.0) {
        f /= 2.0;
        ++e;
    }
    while (f < 1.0) {
        f *= 2.0;
        --e;
    }
    double mm = round(f * 1073741824.0);
    int s = e + 1;
    if (mm == 2147483648.0) {
        mm = 1073741824.0;
        ++s;
    }
    if (s < -31) {
        *m = 0;
        *shift = 0;
        return;
    }
    *m = (int32_t)mm;
    *shift = s;
}

static void check_multiplier(double real)
{
    int32_t m = -7, shift = -7, wm, ws;
    assert_int_equal(tq_quantize_multiplier(real, &m, &shift), TQ_OK);
    oracle_multiplier(real, &wm, &ws);
    if (m != wm || shift != ws) {
        print_message("M %.17g: got (%ld, %ld) want (%ld, %ld)\n", real,
                      (long)m, (long)shift, (long)wm, (long)ws);
        fail();
    }
    if (m == 0) {
        assert_int_equal(shift, 0);
        /* Only values rounding below 2^-32 vanish. */
        assert_true(real < ldexp(1.0, -32));
        return;
    }
    assert_true(m >= (INT32_C(1) << 30));
    assert_true(shift >= TQ_SHIFT_MIN && shift <= TQ_SHIFT_MAX);
    /* Both terms are within a factor 2, so the difference is exact. */
    const double approx = ldexp((double)m, shift - 31);
    if (!(fabs(approx - real) <= ldexp(1.0, shift - 32))) {
        print_message("M %.17g: (%ld, %ld) is off by %g\n", real, (long)m,
                      (long)shift, approx - real);
        fail();
    }
}

static void test_quantize_multiplier_random(void **state)
{
    (void)state;
    tt_rng r = {0x5EED0003u};
    const double lg_lo = log(1e-12), lg_hi = log(1e9);
    for (int i = 0; i < 300000; ++i)
        check_multiplier(exp(lg_lo + tt_unit(&r) * (lg_hi - lg_lo)));
    /* Ties of the Q31 rounding: q · 2^31 = k + 0.5 exactly. */
    for (int i = 0; i < 10000; ++i) {
        const double q = ((double)tt_int(&r, INT32_C(1) << 30, INT32_MAX - 1) + 0.5) /
                         2147483648.0;
        check_multiplier(ldexp(q, tt_int(&r, -31, 30)));
    }
}

static void test_quantize_multiplier_special(void **state)
{
    (void)state;
    int32_t m, s;
    const double two_m32 = ldexp(1.0, -32);
    struct {
        double real;
        int32_t m, shift;
    } cases[] = {
        {0.0, 0, 0},
        {-0.0, 0, 0},
        {1e-310, 0, 0},
        {ldexp(1.0, -33), 0, 0},
        {0.75 * two_m32, 0, 0},
        {two_m32, INT32_C(1) << 30, -31},
        /* Just below 2^-32, the mantissa rounds up to 2^31: kept. */
        {nextafter(two_m32, 0.0), INT32_C(1) << 30, -31},
        {0.5, INT32_C(1) << 30, 0},
        {1.0, INT32_C(1) << 30, 1},
        {1.0 - ldexp(1.0, -40), INT32_C(1) << 30, 1}, /* m would be 2^31 */
        {0.75, 3 * (INT32_C(1) << 29), 0},
        {ldexp(1.0, 29), INT32_C(1) << 30, 30},
        {ldexp(1.0, 30) - 1.0, INT32_MAX - 1, 30},
        {ldexp(1.0, 30) - 0.375, INT32_MAX, 30},
        /* (2^30 + 0.5) / 2^31 rounds half away to 2^30 + 1. */
        {(1073741824.0 + 0.5) / 2147483648.0, (INT32_C(1) << 30) + 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        m = -7;
        s = -7;
        assert_int_equal(tq_quantize_multiplier(cases[i].real, &m, &s), TQ_OK);
        if (m != cases[i].m || s != cases[i].shift) {
            print_message("case %zu (%.17g): got (%ld, %ld)\n", i, cases[i].real,
                          (long)m, (long)s);
            fail();
        }
    }
    /* Too large for any shift a kernel accepts (TFLite would return shift
     * 31 or 32), negative, or not finite. */
    const double bad[] = {ldexp(1.0, 30) - 0.25, ldexp(1.0, 30), ldexp(1.0, 31),
                          1e300, INFINITY, -INFINITY, NAN, -1.0, -1e-300};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        m = 123;
        s = 45;
        assert_int_equal(tq_quantize_multiplier(bad[i], &m, &s), TQ_ERR_PARAM);
        assert_int_equal(m, 123);
        assert_int_equal(s, 45);
    }
    assert_int_equal(tq_quantize_multiplier(0.5, NULL, &s), TQ_ERR_NULL);
    assert_int_equal(tq_quantize_multiplier(0.5, &m, NULL), TQ_ERR_NULL);
    assert_int_equal(m, 123);
    assert_int_equal(s, 45);
}

/* ---- output stage over rows --------------------------------------------- */

#define MAX_CH 40
#define MAX_ROWS 7
#define MAX_LD (MAX_CH + 3)
#define SENTINEL 0x5A

static void fill_output_stage(tt_rng *r, tq_s8_output *os, int32_t *mult,
                              int32_t *shift, int32_t channels)
{
    for (int32_t c = 0; c < channels; ++c) {
        mult[c] = tt_int(r, 0, 9) == 0 ? random_multiplier(r)
                                       : tt_int(r, INT32_C(1) << 30, INT32_MAX);
        shift[c] = tt_int(r, 0, 9) == 0 ? tt_int(r, TQ_SHIFT_MIN, TQ_SHIFT_MAX)
                                        : tt_int(r, -14, 2);
    }
    os->multiplier = mult;
    os->shift = shift;
    os->per_channel = tt_int(r, 0, 1);
    os->rounding = tt_int(r, 0, 1);
    os->output_offset = tt_int(r, -128, 127);
    os->act_min = tt_int(r, -128, 127);
    os->act_max = tt_int(r, os->act_min, 127);
    if (tt_int(r, 0, 2) == 0) {
        os->act_min = -128;
        os->act_max = 127;
    }
}

static void test_requantize_rows_random(void **state)
{
    (void)state;
    tt_rng r = {0x5EED0004u};
    int32_t acc[MAX_ROWS * MAX_LD];
    int8_t out[MAX_ROWS * MAX_LD];
    int32_t mult[MAX_CH], shift[MAX_CH];
    tie_counts ties = {0, 0, 0};
    for (int iter = 0; iter < 3000; ++iter) {
        const int32_t rows = tt_int(&r, 0, MAX_ROWS);
        const int32_t channels = tt_int(&r, 1, MAX_CH);
        const int32_t ld_acc = channels + tt_int(&r, 0, 3);
        const int32_t ld_out = channels + tt_int(&r, 0, 3);
        tq_s8_output os;
        fill_output_stage(&r, &os, mult, shift, channels);
        for (size_t i = 0; i < sizeof acc / sizeof acc[0]; ++i)
            acc[i] = tt_int(&r, 0, 3) == 0 ? random_acc(&r) : tt_int(&r, -40000, 40000);
        memset(out, SENTINEL, sizeof out);
        assert_int_equal(
            tq_s8_requantize_rows(rows, channels, acc, ld_acc, &os, out, ld_out),
            TQ_OK);
        for (int32_t i = 0; i < MAX_ROWS * MAX_LD; ++i) {
            const int32_t row = i / ld_out, c = i % ld_out;
            int32_t want = (int8_t)SENTINEL;
            if (row < rows && c < channels) {
                const int32_t k = os.per_channel ? c : 0;
                const int64_t v =
                    (int64_t)oracle_requant(acc[row * ld_acc + c], mult[k],
                                            shift[k], os.rounding, &ties) +
                    os.output_offset;
                want = (int32_t)(v < os.act_min ? os.act_min
                                                : (v > os.act_max ? os.act_max : v));
            }
            if (out[i] != want) {
                print_message("iter %d rows %ld ch %ld ld %ld/%ld per_ch %ld "
                              "rnd %ld: out[%ld] = %d, want %ld\n",
                              iter, (long)rows, (long)channels, (long)ld_acc,
                              (long)ld_out, (long)os.per_channel,
                              (long)os.rounding, (long)i, out[i], (long)want);
                fail();
            }
        }
    }
}

/* A saturated requantization plus a positive offset must not wrap. */
static void test_requantize_rows_saturation(void **state)
{
    (void)state;
    const int32_t acc[4] = {INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN};
    const int32_t mult = INT32_MAX, shift = 30;
    int8_t out[4];
    tq_s8_output os = {&mult, &shift, 0, TQ_ROUND_SINGLE, 127, -128, 127};
    assert_int_equal(tq_s8_requantize_rows(2, 2, acc, 2, &os, out, 2), TQ_OK);
    assert_int_equal(out[0], 127);
    assert_int_equal(out[1], -128);
    os.output_offset = -128;
    os.rounding = TQ_ROUND_DOUBLE;
    assert_int_equal(tq_s8_requantize_rows(2, 2, acc, 2, &os, out, 2), TQ_OK);
    assert_int_equal(out[2], 127);
    assert_int_equal(out[3], -128);
}

static void expect_rows_error(int32_t rows, int32_t channels, const int32_t *acc,
                              int32_t ld_acc, const tq_s8_output *os,
                              int8_t *out, int32_t ld_out, tq_status want,
                              const int8_t *buf, size_t n)
{
    assert_int_equal(
        tq_s8_requantize_rows(rows, channels, acc, ld_acc, os, out, ld_out), want);
    for (size_t i = 0; i < n; ++i)
        assert_int_equal(buf[i], (int8_t)SENTINEL);
}

static void test_requantize_rows_errors(void **state)
{
    (void)state;
    int32_t acc[64];
    int8_t out[64];
    int32_t mult[4] = {INT32_C(1) << 30, INT32_C(1) << 30, INT32_C(1) << 30,
                       INT32_C(1) << 30};
    int32_t shift[4] = {-3, -3, -3, -3};
    for (int i = 0; i < 64; ++i)
        acc[i] = i * 1000 - 20000;
    memset(out, SENTINEL, sizeof out);
    const tq_s8_output good = {mult, shift, 1, TQ_ROUND_DOUBLE, 3, -128, 127};
    tq_s8_output os = good;
    const size_t n = sizeof out;

    expect_rows_error(2, 4, acc, 4, NULL, out, 4, TQ_ERR_NULL, out, n);
    os.multiplier = NULL;
    expect_rows_error(2, 4, acc, 4, &os, out, 4, TQ_ERR_NULL, out, n);
    os = good;
    os.shift = NULL;
    expect_rows_error(2, 4, acc, 4, &os, out, 4, TQ_ERR_NULL, out, n);
    os = good;
    expect_rows_error(2, 4, NULL, 4, &os, out, 4, TQ_ERR_NULL, out, n);
    assert_int_equal(tq_s8_requantize_rows(2, 4, acc, 4, &os, NULL, 4), TQ_ERR_NULL);
    expect_rows_error(-1, 4, acc, 4, &os, out, 4, TQ_ERR_SHAPE, out, n);
    expect_rows_error(2, -1, acc, 4, &os, out, 4, TQ_ERR_SHAPE, out, n);
    expect_rows_error(2, 4, acc, 3, &os, out, 4, TQ_ERR_SHAPE, out, n);
    expect_rows_error(2, 4, acc, 4, &os, out, 3, TQ_ERR_SHAPE, out, n);
    expect_rows_error(2, 0, acc, -1, &os, out, 0, TQ_ERR_SHAPE, out, n);

    os = good;
    os.per_channel = 2;
    expect_rows_error(2, 4, acc, 4, &os, out, 4, TQ_ERR_PARAM, out, n);
    os = good;
    os.rounding = 2;
    expect_rows_error(2, 4, acc, 4, &os, out, 4, TQ_ERR_PARAM, out, n);
    os = good;
    os.output_offset = 128;
    expect_rows_error(2, 4, acc, 4, &os, out, 4, TQ_ERR_PARAM, out, n);
    os = good;
    os.output_offset = -129;
    expect_rows_error(2, 4, acc, 4, &os, out, 4, TQ_ERR_PARAM, out, n);
    os = good;
    os.act_min = -129;
    expect_rows_error(2, 4, acc, 4, &os, out, 4, TQ_ERR_PARAM, out, n);
    os = good;
    os.act_max = 128;
    expect_rows_error(2, 4, acc, 4, &os, out, 4, TQ_ERR_PARAM, out, n);
    os = good;
    os.act_min = 10;
    os.act_max = 9;
    expect_rows_error(2, 4, acc, 4, &os, out, 4, TQ_ERR_PARAM, out, n);
    /* A bad entry in the last channel only: nothing may be written. */
    os = good;
    mult[3] = -1;
    expect_rows_error(2, 4, acc, 4, &os, out, 4, TQ_ERR_PARAM, out, n);
    mult[3] = INT32_C(1) << 30;
    shift[3] = TQ_SHIFT_MAX + 1;
    expect_rows_error(2, 4, acc, 4, &os, out, 4, TQ_ERR_PARAM, out, n);
    shift[3] = TQ_SHIFT_MIN - 1;
    expect_rows_error(2, 4, acc, 4, &os, out, 4, TQ_ERR_PARAM, out, n);
    shift[3] = -3;
    /* Per tensor, only entry 0 is read: a bad entry 3 is fine. */
    int8_t other[8];
    os.per_channel = 0;
    mult[3] = -1;
    assert_int_equal(tq_s8_requantize_rows(2, 4, acc, 4, &os, other, 4), TQ_OK);
    for (int i = 0; i < 8; ++i)
        assert_int_equal(other[i], -128); /* acc / 16 + 3 < -128 */
    mult[3] = INT32_C(1) << 30;

    /* The output overlapping the accumulators. */
    int32_t shared[16];
    for (int i = 0; i < 16; ++i)
        shared[i] = 0x5A5A5A5A;
    assert_int_equal(
        tq_s8_requantize_rows(2, 4, shared, 4, &good, (int8_t *)shared + 8, 4),
        TQ_ERR_ALIAS);
    for (int i = 0; i < 16; ++i)
        assert_int_equal(shared[i], 0x5A5A5A5A);

    /* Empty blocks are legal and write nothing, even with NULL buffers. */
    assert_int_equal(tq_s8_requantize_rows(0, 4, NULL, 4, &good, NULL, 4), TQ_OK);
    assert_int_equal(tq_s8_requantize_rows(3, 0, NULL, 0, &good, NULL, 0), TQ_OK);
    for (size_t i = 0; i < n; ++i)
        assert_int_equal(out[i], (int8_t)SENTINEL);
}

/* ---- fused activation ranges -------------------------------------------- */

/* zp + round(f / scale) with the float quotient, ties away, clamped. */
static int32_t oracle_quantize(float f, float scale, int32_t zp)
{
    const double v = (double)zp + round((double)(f / scale));
    return v < -128.0 ? -128 : (v > 127.0 ? 127 : (int32_t)v);
}

static void test_activation_range(void **state)
{
    (void)state;
    int32_t lo, hi;
    assert_int_equal(tq_s8_activation_range(TQ_ACT_NONE, 0.1f, 5, &lo, &hi), TQ_OK);
    assert_int_equal(lo, -128);
    assert_int_equal(hi, 127);
    assert_int_equal(tq_s8_activation_range(TQ_ACT_RELU, 0.1f, 5, &lo, &hi), TQ_OK);
    assert_int_equal(lo, 5);
    assert_int_equal(hi, 127);
    assert_int_equal(tq_s8_activation_range(TQ_ACT_RELU6, 0.5f, -100, &lo, &hi),
                     TQ_OK);
    assert_int_equal(lo, -100);
    assert_int_equal(hi, -88); /* -100 + 6 / 0.5 */
    /* 6 / 0.05f rounds to 120 although 0.05f is not 0.05. */
    assert_int_equal(tq_s8_activation_range(TQ_ACT_RELU6, 0.05f, -10, &lo, &hi),
                     TQ_OK);
    assert_int_equal(hi, 110);
    /* A tie: 6 / 4 = 1.5 rounds away to 2. */
    assert_int_equal(tq_s8_activation_range(TQ_ACT_RELU6, 4.0f, 0, &lo, &hi), TQ_OK);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 2);
    /* 6 / scale beyond int8, and beyond float: clamped to 127. */
    assert_int_equal(tq_s8_activation_range(TQ_ACT_RELU6, 0.01f, 0, &lo, &hi), TQ_OK);
    assert_int_equal(hi, 127);
    assert_int_equal(tq_s8_activation_range(TQ_ACT_RELU6, 1e-45f, -128, &lo, &hi),
                     TQ_OK);
    assert_int_equal(lo, -128);
    assert_int_equal(hi, 127);

    tt_rng r = {0x5EED0005u};
    for (int i = 0; i < 20000; ++i) {
        const float scale = (float)exp(tt_unit(&r) * 12.0 - 9.0);
        const int32_t zp = tt_int(&r, -128, 127);
        const int32_t act = tt_int(&r, 0, 2);
        assert_int_equal(tq_s8_activation_range(act, scale, zp, &lo, &hi), TQ_OK);
        const int32_t want_lo = act == TQ_ACT_NONE ? -128 : oracle_quantize(0.0f, scale, zp);
        const int32_t want_hi = act == TQ_ACT_RELU6 ? oracle_quantize(6.0f, scale, zp) : 127;
        if (lo != want_lo || hi != want_hi) {
            print_message("act %ld scale %.9g zp %ld: got [%ld, %ld] want [%ld, %ld]\n",
                          (long)act, (double)scale, (long)zp, (long)lo, (long)hi,
                          (long)want_lo, (long)want_hi);
            fail();
        }
        assert_true(lo <= hi);
    }
}

static void test_activation_range_errors(void **state)
{
    (void)state;
    int32_t lo = 11, hi = 22;
    assert_int_equal(tq_s8_activation_range(TQ_ACT_RELU, 0.1f, 0, NULL, &hi), TQ_ERR_NULL);
    assert_int_equal(tq_s8_activation_range(TQ_ACT_RELU, 0.1f, 0, &lo, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_s8_activation_range(3, 0.1f, 0, &lo, &hi), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_activation_range(-1, 0.1f, 0, &lo, &hi), TQ_ERR_PARAM);
    const float bad_scales[] = {0.0f, -0.0f, -1.0f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad_scales / sizeof bad_scales[0]; ++i)
        assert_int_equal(tq_s8_activation_range(TQ_ACT_RELU6, bad_scales[i], 0, &lo, &hi),
                         TQ_ERR_PARAM);
    assert_int_equal(tq_s8_activation_range(TQ_ACT_NONE, 0.1f, 128, &lo, &hi), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_activation_range(TQ_ACT_NONE, 0.1f, -129, &lo, &hi), TQ_ERR_PARAM);
    assert_int_equal(lo, 11);
    assert_int_equal(hi, 22);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requantize_hand),
        cmocka_unit_test(test_requantize_extremes),
        cmocka_unit_test(test_requantize_double_random),
        cmocka_unit_test(test_requantize_single_random),
        cmocka_unit_test(test_requantize_errors),
        cmocka_unit_test(test_quantize_multiplier_special),
        cmocka_unit_test(test_quantize_multiplier_random),
        cmocka_unit_test(test_requantize_rows_random),
        cmocka_unit_test(test_requantize_rows_saturation),
        cmocka_unit_test(test_requantize_rows_errors),
        cmocka_unit_test(test_activation_range),
        cmocka_unit_test(test_activation_range_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
