/*
 * TFLite's integer int8 softmax (reference Softmax for int8 input, int8
 * or int16 output): gemmlowp fixed point, no float at run time. Q-formats
 * below are "Qi.f" with i integer bits of an int32.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "s8_internal.h"

#define SCALED_DIFF_BITS 5 /* kScaledDiffIntegerBits */
#define ACCUM_BITS 12      /* kAccumulationIntegerBits */

/* gemmlowp SaturatingRoundingMultiplyByPOT<e> for e > 0. */
static int32_t sat_mul_pot(int32_t x, int e)
{
    const int32_t threshold = (int32_t)((INT64_C(1) << (31 - e)) - 1);
    if (x > threshold)
        return INT32_MAX;
    if (x < -threshold)
        return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* exp(x) for x in [-1/4, 0), Q0.31 in and out (gemmlowp
 * exp_on_interval_between_negative_one_quarter_and_0_excl). */
static int32_t exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668;   /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = a + (INT32_C(1) << 28);   /* a + 1/8 */
    const int32_t x2 = tq__srdhm(x, x);
    const int32_t x3 = tq__srdhm(x2, x);
    const int32_t x4 = tq__srdhm(x2, x2);
    const int32_t x4_over_4 = tq__rdbpot(x4, 2);
    const int32_t poly =
        tq__rdbpot(tq__srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1);
    return constant_term + tq__srdhm(constant_term, x + poly);
}

/* exp(a) for a <= 0, a in Q5.26, result Q0.31 (gemmlowp
 * exp_on_negative_values with 5 integer bits). */
static int32_t exp_negative(int32_t a)
{
    static const int32_t mults[7] = {1672461947, 1302514674, 790015084,
                                     290630308,  39332535,   720401,
                                     242};
    const int frac = 31 - SCALED_DIFF_BITS; /* 26 */
    const int32_t quarter = INT32_C(1) << (frac - 2);
    const int32_t mod = (a & (quarter - 1)) - quarter;
    int32_t result = exp_quarter(sat_mul_pot(mod, SCALED_DIFF_BITS));
    const int32_t remainder = mod - a;
    for (int i = 0; i < 7; ++i) {      /* exponents -2 .. +4 */
        const int shift = frac - 2 + i;
        if (remainder & (INT32_C(1) << shift))
            result = tq__srdhm(result, mults[i]);
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in, Q0.31 out (gemmlowp
 * one_over_one_plus_x_for_x_in_0_1, three Newton-Raphson steps in Q2.29). */
static int32_t one_over_one_plus_x(int32_t a)
{
    /* RoundingHalfSum(a, One) in int64, One = INT32_MAX in Q0.31. */
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_den = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t c48_17 = 1515870810, cm32_17 = -1010580540; /* Q2.29 */
    int32_t x = c48_17 + tq__srdhm(half_den, cm32_17);
    for (int i = 0; i < 3; ++i) {
        const int32_t hdx = tq__srdhm(half_den, x);             /* Q2.29 */
        const int32_t one_minus = (INT32_C(1) << 29) - hdx;   /* Q2.29 */
        x = x + sat_mul_pot(tq__srdhm(x, one_minus), 2);     /* Q4 -> Q2 */
    }
    /* ExactMulByPot<-1> (Q2 -> Q1, same raw), then Rescale<0>. */
    return sat_mul_pot(x, 1);
}

/* Exact RoundingDivideByPOT of a non-negative or negative int32 by 2^e,
 * e in [0, 62], ties away from zero (gemmlowp's definition; for e > 31,
 * where TFLite's int32 shift is undefined, the exact value). */
static int32_t rdbpot_wide(int32_t x, int e)
{
    if (e <= 31)
        return tq__rdbpot(x, e);
    /* |x| < 2^31 <= 2^(e-1): |x / 2^e| <= 1/2, a tie only for -2^31 / 2^32. */
    return (e == 32 && x == INT32_MIN) ? -1 : 0;
}

static int32_t input_radius(int32_t left_shift)
{
    /* floor(((1 << 5) - 1) · 2^26 / 2^left_shift), in integers. */
    return (int32_t)((INT64_C(31) << (31 - SCALED_DIFF_BITS)) >> left_shift);
}

tq_status tq_s8_softmax_params_from_scale(float input_scale, float beta,
                                          tq_s8_softmax_params *params)
{
    int32_t m, s;
    if (!params)
        return TQ_ERR_NULL;
    if (!isfinite(input_scale) || !(input_scale > 0.0f) || !isfinite(beta) ||
        !(beta > 0.0f))
        return TQ_ERR_PARAM;
    /* PreprocessSoftmaxScaling: min(beta · s · 2^(31 - 5), 2^31 - 1). */
    double real = (double)beta * (double)input_scale *
                  (double)(INT64_C(1) << (31 - SCALED_DIFF_BITS));
    const double max_real = (double)INT32_MAX;
    if (real > max_real)
        real = max_real;
    TQ_CHECK(tq_quantize_multiplier(real, &m, &s));
    if (m == 0 || s < 0 || s > 30)
        return TQ_ERR_PARAM;
    params->input_multiplier = m;
    params->input_left_shift = s;
    params->diff_min = -input_radius(s);
    return TQ_OK;
}

static tq_status check(int32_t rows, int32_t cols, const void *in,
                       const tq_s8_softmax_params *p, const void *out)
{
    if (!in || !p || !out)
        return TQ_ERR_NULL;
    if (rows < 1 || cols < 1 || cols > TQ_S8_SOFTMAX_MAX_COLS)
        return TQ_ERR_SHAPE;
    if (p->input_multiplier < 0 || p->input_left_shift < 0 ||
        p->input_left_shift > 30 || p->diff_min > 0 ||
        p->diff_min < -input_radius(p->input_left_shift))
        return TQ_ERR_PARAM;
    return TQ_OK;
}

/* Scaled difference in Q5.26; d in [diff_min, 0], so |d| · 2^shift <=
 * 31 · 2^26 < 2^31 (the radius). */
static int32_t scaled(int32_t d, const tq_s8_softmax_params *p)
{
    return tq__srdhm(d * (INT32_C(1) << p->input_left_shift),
                     p->input_multiplier);
}

/* One row; bits = 8 (int8 out) or 16 (int16 out). The output is read
 * after the row's input (in-place int8 rows compute everything first). */
static void softmax_row(int32_t cols, const int8_t *x,
                        const tq_s8_softmax_params *p, int bits, int8_t *o8,
                        int16_t *o16)
{
    int32_t mx = -128;
    for (int32_t c = 0; c < cols; ++c)
        mx = x[c] > mx ? x[c] : mx;
    int32_t sum = 0; /* Q12.19; cols <= 4095 keeps it < 2^31 */
    for (int32_t c = 0; c < cols; ++c) {
        const int32_t d = (int32_t)x[c] - mx;
        if (d >= p->diff_min)
            sum += tq__rdbpot(exp_negative(scaled(d, p)),
                              ACCUM_BITS);
    }
    /* GetReciprocal(sum, 12): sum >= 2^19 (the maximum's own term). */
    int lz = 0;
    while (!((uint32_t)sum & (UINT32_C(0x80000000) >> lz)))
        ++lz;
    const int bits_over_unit = ACCUM_BITS - lz;
    const int32_t shifted_minus_one =
        (int32_t)(((uint32_t)sum << lz) - UINT32_C(0x80000000));
    const int32_t recip = one_over_one_plus_x(shifted_minus_one);
    const int e = bits_over_unit + 31 - bits;
    const int32_t lo = bits == 8 ? -128 : -32768;
    const int32_t hi = bits == 8 ? 127 : 32767;
    for (int32_t c = 0; c < cols; ++c) {
        const int32_t d = (int32_t)x[c] - mx;
        int32_t v = lo;
        if (d >= p->diff_min) {
            const int32_t ex = exp_negative(scaled(d, p));
            v = tq__clamp_i32(rdbpot_wide(tq__srdhm(recip, ex), e) + lo, lo,
                              hi);
        }
        if (bits == 8)
            o8[c] = (int8_t)v;
        else
            o16[c] = (int16_t)v;
    }
}

tq_status tq_s8_softmax(int32_t rows, int32_t cols, const int8_t *in,
                        const tq_s8_softmax_params *params, int8_t *out)
{
    TQ_CHECK(check(rows, cols, in, params, out));
    const size_t n = (size_t)rows * (size_t)cols;
    if (in != out && tq__overlap(in, n, out, n))
        return TQ_ERR_ALIAS;
    for (int32_t r = 0; r < rows; ++r) {
        const size_t off = (size_t)r * (size_t)cols;
        softmax_row(cols, in + off, params, 8, out + off, NULL);
    }
    return TQ_OK;
}

tq_status tq_s8_softmax_s16(int32_t rows, int32_t cols, const int8_t *in,
                            const tq_s8_softmax_params *params, int16_t *out)
{
    TQ_CHECK(check(rows, cols, in, params, out));
    const size_t n = (size_t)rows * (size_t)cols;
    if (tq__overlap(in, n, out, n * sizeof(int16_t)))
        return TQ_ERR_ALIAS;
    for (int32_t r = 0; r < rows; ++r) {
        const size_t off = (size_t)r * (size_t)cols;
        softmax_row(cols, in + off, params, 16, NULL, out + off);
    }
    return TQ_OK;
}
