/*
 * Tests of the quantization units (lib/quant/scheme.c, range.c,
 * fake_quant.c, metrics.c): integer ranges, scale / zero point selection,
 * (fake-)quantization per tensor and per channel against a naive oracle,
 * bias quantization (lib/quant/bias.c) against an exact rational oracle,
 * range calibration on data whose answer is known, error metrics, and every
 * error path with untouched outputs.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tinyq.h"
#include "testutil.h"

#define SENTINEL_F32 (-12345.5f)
#define SENTINEL_S8 0x5A

static tq_qscheme scheme_of(int32_t bits, int32_t symmetric, int32_t narrow,
                            int32_t pow2)
{
    tq_qscheme s = {bits, symmetric, narrow, pow2};
    return s;
}

/* ======================================================================== */
/* tq_qscheme_qrange                                                        */
/* ======================================================================== */

static void test_qrange(void **state)
{
    (void)state;
    for (int32_t bits = 2; bits <= 8; ++bits) {
        for (int32_t narrow = 0; narrow <= 1; ++narrow) {
            const tq_qscheme s = scheme_of(bits, narrow, narrow, 0);
            int32_t qmin = 99, qmax = 99;
            assert_int_equal(tq_qscheme_qrange(&s, &qmin, &qmax), TQ_OK);
            int32_t p = 1;
            for (int32_t i = 1; i < bits; ++i)
                p *= 2;
            assert_int_equal(qmax, p - 1);
            assert_int_equal(qmin, narrow ? -(p - 1) : -p);
        }
    }
    int32_t qmin = 99, qmax = 98;
    tq_qscheme s = scheme_of(8, 1, 1, 0);
    assert_int_equal(tq_qscheme_qrange(&s, &qmin, &qmax), TQ_OK);
    assert_int_equal(qmin, -127);
    assert_int_equal(qmax, 127);

    qmin = 99;
    qmax = 98;
    const int32_t bad_bits[] = {-1, 0, 1, 9, 16, INT32_MIN};
    for (size_t i = 0; i < sizeof bad_bits / sizeof bad_bits[0]; ++i) {
        s = scheme_of(bad_bits[i], 0, 0, 0);
        assert_int_equal(tq_qscheme_qrange(&s, &qmin, &qmax), TQ_ERR_PARAM);
    }
    s = scheme_of(8, 2, 0, 0);
    assert_int_equal(tq_qscheme_qrange(&s, &qmin, &qmax), TQ_ERR_PARAM);
    s = scheme_of(8, 0, -1, 0);
    assert_int_equal(tq_qscheme_qrange(&s, &qmin, &qmax), TQ_ERR_PARAM);
    s = scheme_of(8, 0, 0, 3);
    assert_int_equal(tq_qscheme_qrange(&s, &qmin, &qmax), TQ_ERR_PARAM);
    s = scheme_of(8, 0, 0, 0);
    assert_int_equal(tq_qscheme_qrange(NULL, &qmin, &qmax), TQ_ERR_NULL);
    assert_int_equal(tq_qscheme_qrange(&s, NULL, &qmax), TQ_ERR_NULL);
    assert_int_equal(tq_qscheme_qrange(&s, &qmin, NULL), TQ_ERR_NULL);
    assert_int_equal(qmin, 99);
    assert_int_equal(qmax, 98);
}

/* ======================================================================== */
/* tq_qparams_from_range                                                    */
/* ======================================================================== */

static void expect_qparams(tq_qscheme s, double lo, double hi, float scale,
                           int32_t zp)
{
    float got_s = -1.0f;
    int32_t got_zp = -999;
    assert_int_equal(tq_qparams_from_range(&s, lo, hi, &got_s, &got_zp), TQ_OK);
    if (got_s != scale || got_zp != zp) {
        print_message("bits %d sym %d narrow %d pow2 %d [%g, %g]: got (%.9g, %d) "
                      "want (%.9g, %d)\n",
                      s.bits, s.symmetric, s.narrow_range, s.pow2_scale, lo, hi,
                      (double)got_s, got_zp, (double)scale, zp);
        fail();
    }
}

static void test_qparams_from_range(void **state)
{
    (void)state;
    const tq_qscheme sym8n = scheme_of(8, 1, 1, 0);
    const tq_qscheme sym8 = scheme_of(8, 1, 0, 0);
    const tq_qscheme asym8 = scheme_of(8, 0, 0, 0);
    const tq_qscheme asym4 = scheme_of(4, 0, 0, 0);

    /* Symmetric: max(|lo|, |hi|) / qmax, zero point 0. */
    expect_qparams(sym8n, -1.0, 0.5, (float)(1.0 / 127.0), 0);
    expect_qparams(sym8n, -0.5, 2.0, (float)(2.0 / 127.0), 0);
    expect_qparams(sym8, -3.0, 1.0, (float)(3.0 / 127.0), 0);
    expect_qparams(scheme_of(4, 1, 1, 0), -0.25, 0.7, (float)(0.7 / 7.0), 0);
    expect_qparams(scheme_of(2, 1, 1, 0), 0.0, 2.0, 2.0f, 0);
    /* Positive-only range still symmetric about 0. */
    expect_qparams(sym8n, 1.0, 2.54, (float)(2.54 / 127.0), 0);

    /* Asymmetric: (hi - lo) / 255, zp = -128 - round(lo / scale). */
    expect_qparams(asym8, -1.0, 3.0, (float)(4.0 / 255.0), -64);
    /* Exactly representable: width 7.5 over 15 steps = 0.5, zp -8 + 6. */
    expect_qparams(asym4, -3.0, 4.5, 0.5f, -2);
    /* Widened to contain 0. */
    expect_qparams(asym8, 2.0, 6.0, (float)(6.0 / 255.0), -128);
    expect_qparams(asym8, -6.0, -2.0, (float)(6.0 / 255.0), 127);
    expect_qparams(asym8, -2.55, 0.0, 0.01f, 127);
    expect_qparams(scheme_of(8, 0, 1, 0), -1.27, 1.27, 0.01f, 0);

    /* Zero width: scale 1, and zero point from the formula. */
    expect_qparams(sym8n, 0.0, 0.0, 1.0f, 0);
    expect_qparams(asym8, 0.0, 0.0, 1.0f, -128);
    expect_qparams(asym4, -0.0, 0.0, 1.0f, -8);

    /* Power-of-two scales, rounded up (and exact ones kept). */
    expect_qparams(scheme_of(8, 1, 1, 1), -1.0, 1.0, 0.015625f, 0); /* 1/127 -> 2^-6 */
    expect_qparams(scheme_of(8, 1, 1, 1), -127.0 / 128.0, 0.1, 0.0078125f, 0);
    expect_qparams(scheme_of(8, 1, 1, 1), -100.0, 100.0, 1.0f, 0);
    expect_qparams(scheme_of(8, 1, 1, 1), 0.0, 1000.0, 8.0f, 0);
    expect_qparams(scheme_of(8, 0, 0, 1), -1.0, 3.0, 0.03125f, -96); /* 4/255 -> 2^-5 */
    expect_qparams(scheme_of(8, 0, 0, 1), 0.0, 0.0, 1.0f, -128);

    /* Tiny but usable ranges. */
    expect_qparams(sym8n, -1e-30, 1e-30, (float)(1e-30 / 127.0), 0);
}

static void test_qparams_from_range_errors(void **state)
{
    (void)state;
    const tq_qscheme good = scheme_of(8, 0, 0, 0);
    float scale = 7.0f;
    int32_t zp = 7;
    struct {
        double lo, hi;
    } bad[] = {
        {1.0, -1.0},          {NAN, 1.0},     {-1.0, NAN},
        {-INFINITY, 1.0},     {-1.0, INFINITY}, {INFINITY, INFINITY},
        {-1e300, 1e300},      /* scale beyond float */
        {0.0, 1e-300},        /* scale underflows to 0 in float */
        {-1e-41, 1e-41},      /* subnormal scale, infinite reciprocal */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        assert_int_equal(tq_qparams_from_range(&good, bad[i].lo, bad[i].hi, &scale, &zp),
                         TQ_ERR_PARAM);
    }
    /* pow2 pushing the scale past FLT_MAX. */
    const tq_qscheme p2 = scheme_of(8, 1, 1, 1);
    assert_int_equal(tq_qparams_from_range(&p2, 0.0, 3.3e38 * 127.0, &scale, &zp),
                     TQ_ERR_PARAM);
    const tq_qscheme bits9 = scheme_of(9, 0, 0, 0);
    assert_int_equal(tq_qparams_from_range(&bits9, -1.0, 1.0, &scale, &zp), TQ_ERR_PARAM);
    assert_int_equal(tq_qparams_from_range(NULL, -1.0, 1.0, &scale, &zp), TQ_ERR_NULL);
    assert_int_equal(tq_qparams_from_range(&good, -1.0, 1.0, NULL, &zp), TQ_ERR_NULL);
    assert_int_equal(tq_qparams_from_range(&good, -1.0, 1.0, &scale, NULL), TQ_ERR_NULL);
    assert_true(scale == 7.0f);
    assert_int_equal(zp, 7);
}

/* ======================================================================== */
/* quantize / dequantize / fake_quant                                       */
/* ======================================================================== */

#define MAX_ELEMS 625 /* 5^4 */

typedef struct case_params {
    int64_t shape[4];
    int32_t ndim;
    float scale[5];
    int32_t zp[5];
    tq_qparams p;
} case_params;

/* Index of flat element i along the channel axis (0 for per tensor). */
static int64_t channel_of(const case_params *c, size_t i)
{
    if (c->p.count == 1)
        return 0;
    int64_t inner = 1;
    for (int32_t d = c->p.axis + 1; d < c->ndim; ++d)
        inner *= c->shape[d];
    return ((int64_t)i / inner) % c->shape[c->p.axis];
}

/* The naive code: rounding on the float quotient or product exactly as the
 * header documents, then zero point and clamp in double. *unclamped gets
 * the code before the clamp; *tie is set when the rounding saw a .5. */
static int32_t oracle_code(float x, float scale, int32_t zp, int32_t qmin,
                           int32_t qmax, int32_t rounding, double *unclamped,
                           int *tie)
{
    double v;
    if (rounding == TQ_FROUND_HALF_EVEN) {
        const float prod = x * (1.0f / scale);
        v = (double)prod;
    } else {
        const float quo = x / scale;
        v = (double)quo;
    }
    if (isfinite(v) && v - floor(v) == 0.5)
        ++*tie;
    const double r = rounding == TQ_FROUND_HALF_EVEN ? nearbyint(v) : round(v);
    const double q = r + zp;
    if (unclamped)
        *unclamped = q;
    return q < qmin ? qmin : (q > qmax ? qmax : (int32_t)q);
}

/* (q − zp) · scale: exact in double, then one rounding to float. */
static float oracle_value(int32_t q, float scale, int32_t zp)
{
    return (float)((double)(q - zp) * (double)scale);
}

static void random_case(tt_rng *r, case_params *c)
{
    c->ndim = 4;
    for (int d = 0; d < 4; ++d)
        c->shape[d] = tt_int(r, 0, 3) == 0 ? 1 : tt_int(r, 1, 5);
    static const int32_t ranges[][2] = {
        {-128, 127}, {-127, 127}, {-8, 7}, {-2, 1}, {-100, 20}, {0, 127}};
    const int ri = tt_int(r, 0, 6);
    if (ri < 6) {
        c->p.qmin = ranges[ri][0];
        c->p.qmax = ranges[ri][1];
    } else {
        c->p.qmin = tt_int(r, -128, 126);
        c->p.qmax = tt_int(r, c->p.qmin + 1, 127);
    }
    c->p.rounding = tt_int(r, 0, 1);
    const int mode = tt_int(r, 0, 3);
    if (mode == 0) {
        c->p.count = 1;
        c->p.axis = tt_int(r, -5, 5); /* ignored per tensor */
    } else {
        c->p.axis = mode == 1 ? 0 : (mode == 2 ? 3 : tt_int(r, 1, 2));
        c->p.count = c->shape[c->p.axis];
    }
    const int pow2 = tt_int(r, 0, 1);
    for (int64_t k = 0; k < c->p.count; ++k) {
        c->scale[k] = pow2 ? ldexpf(1.0f, tt_int(r, -10, 3))
                           : (float)exp(tt_unit(r) * 9.0 - 7.0);
        c->zp[k] = tt_int(r, c->p.qmin, c->p.qmax);
    }
    c->p.scale = c->scale;
    c->p.zero_point = c->zp;
}

static size_t numel_of(const case_params *c)
{
    size_t n = 1;
    for (int32_t d = 0; d < c->ndim; ++d)
        n *= (size_t)c->shape[d];
    return n;
}

/* Values in code space around (and beyond) [qmin, qmax], with exact
 * halves, zeros, huge values and infinities mixed in. */
static void random_data(tt_rng *r, const case_params *c, float *x, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        const int64_t ch = channel_of(c, i);
        const float s = c->scale[ch];
        const int32_t zp = c->zp[ch];
        const double lo = c->p.qmin - zp - 20.0, hi = c->p.qmax - zp + 20.0;
        switch (tt_int(r, 0, 9)) {
        case 0:
            x[i] = s * (float)((double)tt_int(r, (int32_t)lo, (int32_t)hi) + 0.5);
            break;
        case 1:
            x[i] = tt_int(r, 0, 1) ? 0.0f : -0.0f;
            break;
        case 2:
            x[i] = tt_int(r, 0, 3) == 0 ? (tt_int(r, 0, 1) ? INFINITY : -INFINITY)
                                        : (tt_int(r, 0, 1) ? 1e30f : -3e38f);
            break;
        default:
            x[i] = s * (float)(lo + tt_unit(r) * (hi - lo));
            break;
        }
    }
}

static void make_tensor(tq_tensor *t, void *data, int32_t dtype, const case_params *c)
{
    assert_int_equal(tq_tensor_init(t, data, dtype, c->ndim, c->shape), TQ_OK);
}

static void describe(const case_params *c, int iter, size_t i)
{
    print_message("iter %d shape {%lld,%lld,%lld,%lld} count %lld axis %d "
                  "q [%d, %d] rounding %d, element %zu\n",
                  iter, (long long)c->shape[0], (long long)c->shape[1],
                  (long long)c->shape[2], (long long)c->shape[3],
                  (long long)c->p.count, c->p.axis, c->p.qmin, c->p.qmax,
                  c->p.rounding, i);
}

static void test_quant_random(void **state)
{
    (void)state;
    tt_rng r = {0x5EED1001u};
    float x[MAX_ELEMS], fq[MAX_ELEMS], inplace[MAX_ELEMS], deq[MAX_ELEMS];
    int8_t q[MAX_ELEMS], codes[MAX_ELEMS];
    int ties[2] = {0, 0};
    for (int iter = 0; iter < 3000; ++iter) {
        case_params c;
        random_case(&r, &c);
        const size_t n = numel_of(&c);
        random_data(&r, &c, x, n);
        tt_fill_s8(&r, codes, n, -128, 127);
        memset(q, SENTINEL_S8, sizeof q);
        for (size_t i = 0; i < MAX_ELEMS; ++i)
            fq[i] = deq[i] = SENTINEL_F32;
        memcpy(inplace, x, n * sizeof x[0]);

        tq_tensor tx, tq_, tfq, tin, tcodes, tdeq;
        make_tensor(&tx, x, TQ_F32, &c);
        make_tensor(&tq_, q, TQ_S8, &c);
        make_tensor(&tfq, fq, TQ_F32, &c);
        make_tensor(&tin, inplace, TQ_F32, &c);
        make_tensor(&tcodes, codes, TQ_S8, &c);
        make_tensor(&tdeq, deq, TQ_F32, &c);
        assert_int_equal(tq_quantize(&tx, &c.p, &tq_), TQ_OK);
        assert_int_equal(tq_fake_quant(&tx, &c.p, &tfq), TQ_OK);
        assert_int_equal(tq_fake_quant(&tin, &c.p, &tin), TQ_OK);
        assert_int_equal(tq_dequantize(&tcodes, &c.p, &tdeq), TQ_OK);

        for (size_t i = 0; i < n; ++i) {
            const int64_t ch = channel_of(&c, i);
            const int32_t want = oracle_code(x[i], c.scale[ch], c.zp[ch], c.p.qmin,
                                             c.p.qmax, c.p.rounding, NULL,
                                             &ties[c.p.rounding]);
            const float want_fq = oracle_value(want, c.scale[ch], c.zp[ch]);
            const float want_deq = oracle_value(codes[i], c.scale[ch], c.zp[ch]);
            if (q[i] != want || fq[i] != want_fq || inplace[i] != want_fq ||
                deq[i] != want_deq) {
                describe(&c, iter, i);
                print_message("x %.9g scale %.9g zp %d: code %d want %d, fq %.9g "
                              "in-place %.9g want %.9g, deq(%d) %.9g want %.9g\n",
                              (double)x[i], (double)c.scale[ch], c.zp[ch], q[i],
                              want, (double)fq[i], (double)inplace[i],
                              (double)want_fq, codes[i], (double)deq[i],
                              (double)want_deq);
                fail();
            }
        }
        /* Nothing past the tensor was touched. */
        for (size_t i = n; i < MAX_ELEMS; ++i) {
            assert_int_equal(q[i], (int8_t)SENTINEL_S8);
            assert_true(fq[i] == SENTINEL_F32 && deq[i] == SENTINEL_F32);
        }
    }
    /* The exact halves did reach both rounding modes. */
    assert_true(ties[0] > 100 && ties[1] > 100);
}

/* Ties, by hand: the two modes differ exactly there. */
static void test_quant_ties(void **state)
{
    (void)state;
    const float x[6] = {0.25f, 0.75f, -0.25f, -0.75f, 1.25f, -1.25f};
    const int8_t away[6] = {1, 2, -1, -2, 3, -3};
    const int8_t even[6] = {0, 2, 0, -2, 2, -2};
    const float scale = 0.5f;
    const int32_t zp = 0;
    int8_t q[6];
    tq_qparams p = {&scale, &zp, 1, 0, -128, 127, TQ_FROUND_HALF_AWAY};
    const int64_t shape[1] = {6};
    tq_tensor tx, tq_;
    assert_int_equal(tq_tensor_init(&tx, (void *)x, TQ_F32, 1, shape), TQ_OK);
    assert_int_equal(tq_tensor_init(&tq_, q, TQ_S8, 1, shape), TQ_OK);
    assert_int_equal(tq_quantize(&tx, &p, &tq_), TQ_OK);
    assert_memory_equal(q, away, 6);
    p.rounding = TQ_FROUND_HALF_EVEN;
    assert_int_equal(tq_quantize(&tx, &p, &tq_), TQ_OK);
    assert_memory_equal(q, even, 6);
}

static void test_quant_saturation_and_scalar(void **state)
{
    (void)state;
    const float x[4] = {1000.0f, -1000.0f, INFINITY, -INFINITY};
    int8_t q[4];
    float fq[4];
    const float scale = 0.1f;
    const int32_t zp = 3;
    const tq_qparams p = {&scale, &zp, 1, 0, -127, 127, TQ_FROUND_HALF_EVEN};
    const int64_t shape[1] = {4};
    tq_tensor tx, tq_, tfq;
    assert_int_equal(tq_tensor_init(&tx, (void *)x, TQ_F32, 1, shape), TQ_OK);
    assert_int_equal(tq_tensor_init(&tq_, q, TQ_S8, 1, shape), TQ_OK);
    assert_int_equal(tq_tensor_init(&tfq, fq, TQ_F32, 1, shape), TQ_OK);
    assert_int_equal(tq_quantize(&tx, &p, &tq_), TQ_OK);
    assert_int_equal(q[0], 127);
    assert_int_equal(q[1], -127);
    assert_int_equal(q[2], 127);
    assert_int_equal(q[3], -127);
    assert_int_equal(tq_fake_quant(&tx, &p, &tfq), TQ_OK);
    assert_true(fq[0] == 124.0f * 0.1f && fq[1] == -130.0f * 0.1f);

    /* A 0-d tensor is one element. */
    const float one = 0.26f;
    int8_t qone = 0;
    tq_tensor s_in, s_out;
    assert_int_equal(tq_tensor_init(&s_in, (void *)&one, TQ_F32, 0, NULL), TQ_OK);
    assert_int_equal(tq_tensor_init(&s_out, &qone, TQ_S8, 0, NULL), TQ_OK);
    assert_int_equal(tq_quantize(&s_in, &p, &s_out), TQ_OK);
    assert_int_equal(qone, 6); /* 3 + round(2.6) */

    /* Empty tensors: nothing to do, NULL data allowed. */
    tq_tensor e_in = {NULL, TQ_F32, 4, {2, 0, 3, 1}};
    tq_tensor e_out = {NULL, TQ_S8, 4, {2, 0, 3, 1}};
    assert_int_equal(tq_quantize(&e_in, &p, &e_out), TQ_OK);
    e_out.dtype = TQ_F32;
    assert_int_equal(tq_fake_quant(&e_in, &p, &e_out), TQ_OK);
}

static void test_quant_nan(void **state)
{
    (void)state;
    float x[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, NAN};
    float x_copy[8];
    int8_t q[8];
    float fq[8];
    memcpy(x_copy, x, sizeof x);
    memset(q, SENTINEL_S8, sizeof q);
    for (int i = 0; i < 8; ++i)
        fq[i] = SENTINEL_F32;
    const float scale = 0.1f;
    const int32_t zp = 0;
    const tq_qparams p = {&scale, &zp, 1, 0, -128, 127, TQ_FROUND_HALF_AWAY};
    const int64_t shape[2] = {2, 4};
    tq_tensor tx, tq_, tfq;
    assert_int_equal(tq_tensor_init(&tx, x, TQ_F32, 2, shape), TQ_OK);
    assert_int_equal(tq_tensor_init(&tq_, q, TQ_S8, 2, shape), TQ_OK);
    assert_int_equal(tq_tensor_init(&tfq, fq, TQ_F32, 2, shape), TQ_OK);
    assert_int_equal(tq_quantize(&tx, &p, &tq_), TQ_ERR_NOT_FINITE);
    assert_int_equal(tq_fake_quant(&tx, &p, &tfq), TQ_ERR_NOT_FINITE);
    assert_int_equal(tq_fake_quant(&tx, &p, &tx), TQ_ERR_NOT_FINITE);
    for (int i = 0; i < 8; ++i) {
        assert_int_equal(q[i], (int8_t)SENTINEL_S8);
        assert_true(fq[i] == SENTINEL_F32);
    }
    assert_memory_equal(x, x_copy, sizeof x); /* in place: input untouched */
    tq_quant_error err = {1, 2, 3, 4};
    assert_int_equal(tq_measure_quant_error(&tx, &p, &err), TQ_ERR_NOT_FINITE);
    x[7] = INFINITY;
    assert_int_equal(tq_measure_quant_error(&tx, &p, &err), TQ_ERR_NOT_FINITE);
    assert_true(err.mse == 1 && err.sqnr_db == 2 && err.max_abs == 3 &&
                err.frac_clipped == 4);
}

/* One faulty call of each operation; the outputs must keep their sentinels. */
typedef tq_status (*quant_op)(const tq_tensor *, const tq_qparams *, tq_tensor *);

static void check_untouched(const int8_t *q, const float *f, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        assert_int_equal(q[i], (int8_t)SENTINEL_S8);
        assert_true(f[i] == SENTINEL_F32);
    }
}

static void test_quant_errors(void **state)
{
    (void)state;
    float x[24];
    int8_t q[24];
    float f[24];
    int8_t codes[24];
    for (int i = 0; i < 24; ++i) {
        x[i] = (float)i * 0.1f - 1.0f;
        codes[i] = (int8_t)(i - 12);
    }
    memset(q, SENTINEL_S8, sizeof q);
    for (int i = 0; i < 24; ++i)
        f[i] = SENTINEL_F32;
    float scales[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    int32_t zps[4] = {0, 1, -1, 2};
    const tq_qparams good = {scales, zps, 4, 2, -128, 127, TQ_FROUND_HALF_AWAY};
    const int64_t shape[3] = {2, 3, 4};
    tq_tensor tx, tq_, tf, tc;
    assert_int_equal(tq_tensor_init(&tx, x, TQ_F32, 3, shape), TQ_OK);
    assert_int_equal(tq_tensor_init(&tq_, q, TQ_S8, 3, shape), TQ_OK);
    assert_int_equal(tq_tensor_init(&tf, f, TQ_F32, 3, shape), TQ_OK);
    assert_int_equal(tq_tensor_init(&tc, codes, TQ_S8, 3, shape), TQ_OK);

    /* NULL pointers. */
    assert_int_equal(tq_quantize(NULL, &good, &tq_), TQ_ERR_NULL);
    assert_int_equal(tq_quantize(&tx, NULL, &tq_), TQ_ERR_NULL);
    assert_int_equal(tq_quantize(&tx, &good, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_dequantize(NULL, &good, &tf), TQ_ERR_NULL);
    assert_int_equal(tq_dequantize(&tc, &good, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_fake_quant(&tx, NULL, &tf), TQ_ERR_NULL);
    tq_qparams p = good;
    p.scale = NULL;
    assert_int_equal(tq_quantize(&tx, &p, &tq_), TQ_ERR_NULL);
    p = good;
    p.zero_point = NULL;
    assert_int_equal(tq_fake_quant(&tx, &p, &tf), TQ_ERR_NULL);
    tq_tensor t = tx;
    t.data = NULL;
    assert_int_equal(tq_quantize(&t, &good, &tq_), TQ_ERR_NULL);
    t = tq_;
    t.data = NULL;
    assert_int_equal(tq_quantize(&tx, &good, &t), TQ_ERR_NULL);
    t = tf;
    t.data = NULL;
    assert_int_equal(tq_dequantize(&tc, &good, &t), TQ_ERR_NULL);
    check_untouched(q, f, 24);

    /* Dtypes. */
    assert_int_equal(tq_quantize(&tc, &good, &tq_), TQ_ERR_DTYPE);
    assert_int_equal(tq_quantize(&tx, &good, &tf), TQ_ERR_DTYPE);
    assert_int_equal(tq_dequantize(&tx, &good, &tf), TQ_ERR_DTYPE);
    assert_int_equal(tq_dequantize(&tc, &good, &tq_), TQ_ERR_DTYPE);
    assert_int_equal(tq_fake_quant(&tx, &good, &tq_), TQ_ERR_DTYPE);
    t = tf;
    t.dtype = 99;
    assert_int_equal(tq_fake_quant(&tx, &good, &t), TQ_ERR_DTYPE);
    check_untouched(q, f, 24);

    /* Shapes. */
    t = tq_;
    t.shape[2] = 3;
    assert_int_equal(tq_quantize(&tx, &good, &t), TQ_ERR_SHAPE);
    t = tq_;
    t.ndim = 4;
    t.shape[3] = 1;
    assert_int_equal(tq_quantize(&tx, &good, &t), TQ_ERR_SHAPE);
    t = tx;
    t.ndim = 5;
    assert_int_equal(tq_quantize(&t, &good, &tq_), TQ_ERR_SHAPE);
    t = tx;
    t.shape[1] = -3;
    assert_int_equal(tq_fake_quant(&t, &good, &tf), TQ_ERR_SHAPE);
    p = good;
    p.count = 3; /* shape[2] is 4 */
    assert_int_equal(tq_quantize(&tx, &p, &tq_), TQ_ERR_SHAPE);
    p = good;
    p.axis = 1; /* shape[1] is 3 */
    assert_int_equal(tq_fake_quant(&tx, &p, &tf), TQ_ERR_SHAPE);
    p.axis = 3;
    assert_int_equal(tq_dequantize(&tc, &p, &tf), TQ_ERR_SHAPE);
    p.axis = -1;
    assert_int_equal(tq_quantize(&tx, &p, &tq_), TQ_ERR_SHAPE);
    p = good;
    p.count = 0;
    assert_int_equal(tq_quantize(&tx, &p, &tq_), TQ_ERR_SHAPE);
    p.count = -4;
    assert_int_equal(tq_fake_quant(&tx, &p, &tf), TQ_ERR_SHAPE);
    check_untouched(q, f, 24);

    /* Element counts beyond size_t. */
    tq_tensor huge_f = {x, TQ_F32, 4, {INT64_C(1) << 40, INT64_C(1) << 40, 1, 4}};
    tq_tensor huge_q = {q, TQ_S8, 4, {INT64_C(1) << 40, INT64_C(1) << 40, 1, 4}};
    p = good;
    p.axis = 3;
    assert_int_equal(tq_quantize(&huge_f, &p, &huge_q), TQ_ERR_OVERFLOW);
    assert_int_equal(tq_quantize(&tx, &good, &huge_q), TQ_ERR_OVERFLOW);
    check_untouched(q, f, 24);

    /* Parameters. */
    const struct {
        int32_t qmin, qmax, rounding;
    } ranges[] = {{-129, 127, 0}, {-128, 128, 0}, {5, 5, 0}, {6, 5, 1}, {-128, 127, 2},
                  {-128, 127, -1}};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; ++i) {
        p = good;
        p.qmin = ranges[i].qmin;
        p.qmax = ranges[i].qmax;
        p.rounding = ranges[i].rounding;
        zps[0] = zps[1] = zps[2] = zps[3] = 5;
        assert_int_equal(tq_quantize(&tx, &p, &tq_), TQ_ERR_PARAM);
        assert_int_equal(tq_dequantize(&tc, &p, &tf), TQ_ERR_PARAM);
        assert_int_equal(tq_fake_quant(&tx, &p, &tf), TQ_ERR_PARAM);
    }
    zps[0] = 0;
    zps[1] = 1;
    zps[2] = -1;
    zps[3] = 2;
    const float bad_scales[] = {0.0f, -0.0f, -0.1f, NAN, INFINITY, 1e-45f, 1e-40f};
    for (size_t i = 0; i < sizeof bad_scales / sizeof bad_scales[0]; ++i) {
        scales[3] = bad_scales[i]; /* only the last channel is bad */
        assert_int_equal(tq_quantize(&tx, &good, &tq_), TQ_ERR_PARAM);
        assert_int_equal(tq_dequantize(&tc, &good, &tf), TQ_ERR_PARAM);
        assert_int_equal(tq_fake_quant(&tx, &good, &tf), TQ_ERR_PARAM);
    }
    scales[3] = 0.4f;
    p = good;
    p.qmin = -10;
    p.qmax = 10;
    zps[3] = 11;
    assert_int_equal(tq_quantize(&tx, &p, &tq_), TQ_ERR_PARAM);
    zps[3] = -11;
    assert_int_equal(tq_dequantize(&tc, &p, &tf), TQ_ERR_PARAM);
    zps[3] = 2;
    check_untouched(q, f, 24);

    /* Overlapping buffers: partial overlap, or any overlap across dtypes. */
    float buf[26];
    for (int i = 0; i < 26; ++i)
        buf[i] = (float)i;
    tq_tensor a, b;
    assert_int_equal(tq_tensor_init(&a, buf, TQ_F32, 3, shape), TQ_OK);
    assert_int_equal(tq_tensor_init(&b, buf + 1, TQ_F32, 3, shape), TQ_OK);
    assert_int_equal(tq_fake_quant(&a, &good, &b), TQ_ERR_ALIAS);
    assert_int_equal(tq_fake_quant(&b, &good, &a), TQ_ERR_ALIAS);
    assert_int_equal(tq_tensor_init(&b, (int8_t *)buf + 3, TQ_S8, 3, shape), TQ_OK);
    assert_int_equal(tq_quantize(&a, &good, &b), TQ_ERR_ALIAS);
    assert_int_equal(tq_tensor_init(&b, buf, TQ_S8, 3, shape), TQ_OK);
    assert_int_equal(tq_quantize(&a, &good, &b), TQ_ERR_ALIAS);
    assert_int_equal(tq_dequantize(&b, &good, &a), TQ_ERR_ALIAS);
    for (int i = 0; i < 26; ++i)
        assert_true(buf[i] == (float)i);
    check_untouched(q, f, 24);
}

/* ======================================================================== */
/* metrics                                                                  */
/* ======================================================================== */

static void assert_close(double got, double want, double rel, const char *what)
{
    if (isinf(want)) {
        if (got != want) {
            print_message("%s: got %.17g want %.17g\n", what, got, want);
            fail();
        }
        return;
    }
    if (!(fabs(got - want) <= rel * fmax(fabs(want), 1e-300))) {
        print_message("%s: got %.17g want %.17g\n", what, got, want);
        fail();
    }
}

static void test_measure_quant_error(void **state)
{
    (void)state;
    tt_rng r = {0x5EED1002u};
    float x[MAX_ELEMS];
    for (int iter = 0; iter < 1000; ++iter) {
        case_params c;
        random_case(&r, &c);
        const size_t n = numel_of(&c);
        random_data(&r, &c, x, n);
        for (size_t i = 0; i < n; ++i) {
            if (!isfinite(x[i]))
                x[i] = 1.0f; /* measure rejects infinities */
        }
        tq_tensor tx;
        make_tensor(&tx, x, TQ_F32, &c);
        tq_quant_error err;
        assert_int_equal(tq_measure_quant_error(&tx, &c.p, &err), TQ_OK);

        double sig = 0, noise = 0, maxe = 0;
        size_t clipped = 0;
        int tie = 0;
        for (size_t i = 0; i < n; ++i) {
            const int64_t ch = channel_of(&c, i);
            double unclamped;
            const int32_t code = oracle_code(x[i], c.scale[ch], c.zp[ch], c.p.qmin,
                                             c.p.qmax, c.p.rounding, &unclamped, &tie);
            const double e = (double)x[i] - (double)oracle_value(code, c.scale[ch], c.zp[ch]);
            sig += (double)x[i] * x[i];
            noise += e * e;
            maxe = fmax(maxe, fabs(e));
            clipped += unclamped < c.p.qmin || unclamped > c.p.qmax;
        }
        const double want_sqnr =
            noise == 0 ? INFINITY : (sig == 0 ? -INFINITY : 10 * log10(sig / noise));
        if (err.max_abs != maxe || err.frac_clipped != (double)clipped / (double)n) {
            describe(&c, iter, 0);
            print_message("max_abs %.17g want %.17g, clipped %.17g want %zu/%zu\n",
                          err.max_abs, maxe, err.frac_clipped, clipped, n);
            fail();
        }
        assert_close(err.mse, noise / (double)n, 1e-12, "mse");
        if (isinf(want_sqnr))
            assert_close(err.sqnr_db, want_sqnr, 0, "sqnr");
        else
            assert_true(fabs(err.sqnr_db - want_sqnr) <= 1e-9);
    }

    /* Exactly representable data: no error at all. */
    const float exact[5] = {0.0f, 0.25f, -0.5f, 31.75f, -32.0f};
    const float scale = 0.25f;
    const int32_t zp = 0;
    const tq_qparams p = {&scale, &zp, 1, 0, -128, 127, TQ_FROUND_HALF_EVEN};
    const int64_t shape[1] = {5};
    tq_tensor t;
    tq_quant_error err;
    assert_int_equal(tq_tensor_init(&t, (void *)exact, TQ_F32, 1, shape), TQ_OK);
    assert_int_equal(tq_measure_quant_error(&t, &p, &err), TQ_OK);
    assert_true(err.mse == 0.0 && err.max_abs == 0.0 && err.frac_clipped == 0.0);
    assert_true(isinf(err.sqnr_db) && err.sqnr_db > 0);
    /* 31.75 and -32 land exactly on qmax and qmin of [-128, 127]: not
     * clipped; 40 is. */
    const float edge[3] = {31.75f, -32.0f, 40.0f};
    const int64_t shape3[1] = {3};
    assert_int_equal(tq_tensor_init(&t, (void *)edge, TQ_F32, 1, shape3), TQ_OK);
    assert_int_equal(tq_measure_quant_error(&t, &p, &err), TQ_OK);
    assert_true(err.frac_clipped == 1.0 / 3.0);
    assert_true(err.max_abs == 40.0 - 31.75);
}

static void test_measure_quant_error_errors(void **state)
{
    (void)state;
    float x[4] = {1, 2, 3, 4};
    const float scale = 0.1f;
    const int32_t zp = 0;
    const tq_qparams good = {&scale, &zp, 1, 0, -128, 127, TQ_FROUND_HALF_AWAY};
    const int64_t shape[1] = {4};
    tq_tensor t;
    assert_int_equal(tq_tensor_init(&t, x, TQ_F32, 1, shape), TQ_OK);
    tq_quant_error err = {1, 2, 3, 4};
    assert_int_equal(tq_measure_quant_error(NULL, &good, &err), TQ_ERR_NULL);
    assert_int_equal(tq_measure_quant_error(&t, NULL, &err), TQ_ERR_NULL);
    assert_int_equal(tq_measure_quant_error(&t, &good, NULL), TQ_ERR_NULL);
    tq_tensor bad = t;
    bad.dtype = TQ_S8;
    assert_int_equal(tq_measure_quant_error(&bad, &good, &err), TQ_ERR_DTYPE);
    bad = t;
    bad.data = NULL;
    assert_int_equal(tq_measure_quant_error(&bad, &good, &err), TQ_ERR_NULL);
    tq_qparams p = good;
    p.count = 2;
    assert_int_equal(tq_measure_quant_error(&t, &p, &err), TQ_ERR_SHAPE);
    p = good;
    p.qmin = 1; /* zero point 0 outside [1, 127] */
    assert_int_equal(tq_measure_quant_error(&t, &p, &err), TQ_ERR_PARAM);
    const tq_tensor empty = {NULL, TQ_F32, 2, {3, 0, 0, 0}};
    assert_int_equal(tq_measure_quant_error(&empty, &good, &err), TQ_ERR_EMPTY);
    assert_true(err.mse == 1 && err.sqnr_db == 2 && err.max_abs == 3 &&
                err.frac_clipped == 4);
}

static void test_compare_f32(void **state)
{
    (void)state;
    tt_rng r = {0x5EED1003u};
    float a[300], b[300];
    for (int iter = 0; iter < 200; ++iter) {
        const size_t n = (size_t)tt_int(&r, 1, 300);
        double sig = 0, noise = 0, maxe = 0;
        for (size_t i = 0; i < n; ++i) {
            a[i] = tt_float(&r, -10.0f, 10.0f);
            b[i] = tt_int(&r, 0, 4) == 0 ? a[i] : a[i] + tt_float(&r, -0.5f, 0.5f);
            const double e = (double)a[i] - (double)b[i];
            sig += (double)a[i] * a[i];
            noise += e * e;
            maxe = fmax(maxe, fabs(e));
        }
        tq_quant_error err;
        assert_int_equal(tq_compare_f32(a, b, n, &err), TQ_OK);
        assert_close(err.mse, noise / (double)n, 1e-12, "mse");
        if (noise == 0)
            assert_true(isinf(err.sqnr_db) && err.sqnr_db > 0);
        else
            assert_true(fabs(err.sqnr_db - 10 * log10(sig / noise)) <= 1e-9);
        assert_true(err.max_abs == maxe);
        assert_true(err.frac_clipped == 0.0);
    }
    const float zeros[3] = {0, 0, 0}, ones[3] = {1, -1, 1};
    tq_quant_error err;
    assert_int_equal(tq_compare_f32(zeros, ones, 3, &err), TQ_OK);
    assert_true(isinf(err.sqnr_db) && err.sqnr_db < 0);
    assert_true(err.mse == 1.0 && err.max_abs == 1.0);
    assert_int_equal(tq_compare_f32(ones, ones, 3, &err), TQ_OK);
    assert_true(isinf(err.sqnr_db) && err.sqnr_db > 0 && err.mse == 0.0);
    assert_int_equal(tq_compare_f32(zeros, zeros, 3, &err), TQ_OK);
    assert_true(isinf(err.sqnr_db) && err.sqnr_db > 0);

    err.mse = 5;
    const float nan3[3] = {0, NAN, 0}, inf3[3] = {0, 0, -INFINITY};
    assert_int_equal(tq_compare_f32(zeros, ones, 0, &err), TQ_ERR_EMPTY);
    assert_int_equal(tq_compare_f32(NULL, ones, 3, &err), TQ_ERR_NULL);
    assert_int_equal(tq_compare_f32(zeros, NULL, 3, &err), TQ_ERR_NULL);
    assert_int_equal(tq_compare_f32(zeros, ones, 3, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_compare_f32(nan3, ones, 3, &err), TQ_ERR_NOT_FINITE);
    assert_int_equal(tq_compare_f32(zeros, inf3, 3, &err), TQ_ERR_NOT_FINITE);
    assert_true(err.mse == 5);
}

/* ======================================================================== */
/* tq_choose_range                                                          */
/* ======================================================================== */

static tq_range_config config_of(int32_t method, double k, double percentile)
{
    tq_range_config c = {method, 0, k, percentile};
    return c;
}

static tq_stats stats_of(uint64_t count, double min, double max, double mean,
                         double m2)
{
    tq_stats s = {count, min, max, mean, m2};
    return s;
}

static void expect_range(int32_t method, double k, tq_qscheme scheme,
                         const tq_stats *s, double want_lo, double want_hi)
{
    const tq_range_config c = config_of(method, k, 99.0);
    double lo = 0, hi = 0;
    assert_int_equal(tq_choose_range(&c, &scheme, s, NULL, &lo, &hi), TQ_OK);
    if (fabs(lo - want_lo) > 1e-12 || fabs(hi - want_hi) > 1e-12) {
        print_message("method %d k %g sym %d: got [%.17g, %.17g] want [%g, %g]\n",
                      method, k, scheme.symmetric, lo, hi, want_lo, want_hi);
        fail();
    }
}

static void test_range_from_stats(void **state)
{
    (void)state;
    const tq_qscheme asym = scheme_of(8, 0, 0, 0), sym = scheme_of(8, 1, 1, 0);
    /* mean 1, population sigma sqrt(40 / 10) = 2. */
    const tq_stats s = stats_of(10, -2.0, 5.0, 1.0, 40.0);
    expect_range(TQ_RANGE_MINMAX, 0, asym, &s, -2.0, 5.0);
    expect_range(TQ_RANGE_MINMAX, 0, sym, &s, -5.0, 5.0);
    expect_range(TQ_RANGE_ABSMAX, 0, asym, &s, -5.0, 5.0);
    expect_range(TQ_RANGE_ABSMAX, 0, sym, &s, -5.0, 5.0);
    expect_range(TQ_RANGE_KSIGMA, 1.0, asym, &s, -1.0, 3.0);
    expect_range(TQ_RANGE_KSIGMA, 1.5, asym, &s, -2.0, 4.0);
    expect_range(TQ_RANGE_KSIGMA, 3.0, asym, &s, -2.0, 5.0);
    expect_range(TQ_RANGE_KSIGMA, 1.0, sym, &s, -3.0, 3.0);
    expect_range(TQ_RANGE_KSIGMA, 0.25, asym, &s, 0.5, 1.5);
    /* All-positive data (a ReLU output). */
    const tq_stats relu = stats_of(4, 0.0, 6.0, 2.0, 16.0); /* sigma 2 */
    expect_range(TQ_RANGE_MINMAX, 0, asym, &relu, 0.0, 6.0);
    expect_range(TQ_RANGE_ABSMAX, 0, asym, &relu, -6.0, 6.0);
    expect_range(TQ_RANGE_KSIGMA, 1.0, asym, &relu, 0.0, 4.0);
    /* One value. */
    const tq_stats one = stats_of(1, -0.5, -0.5, -0.5, 0.0);
    expect_range(TQ_RANGE_MINMAX, 0, asym, &one, -0.5, -0.5);
    expect_range(TQ_RANGE_KSIGMA, 3.0, sym, &one, -0.5, 0.5);
}

#define N_SAMPLES 100000

static double sorted_percentile(const float *sorted, double p)
{
    const double k = ceil(p / 100.0 * N_SAMPLES) - 1.0;
    return sorted[k < 0 ? 0 : (size_t)k];
}

/* Statistics and a histogram of x over [min, max] through the stats API. */
static void profile(const float *x, size_t n, uint64_t *bins, uint32_t nbins,
                    tq_stats *s, tq_histogram *h)
{
    assert_int_equal(tq_stats_init(s), TQ_OK);
    assert_int_equal(tq_stats_update_f32(s, x, n), TQ_OK);
    assert_int_equal(tq_histogram_init(h, bins, nbins, s->min, s->max), TQ_OK);
    assert_int_equal(tq_histogram_add_f32(h, x, n), TQ_OK);
}

static float *sample_buffer(void)
{
    float *x = malloc(N_SAMPLES * sizeof *x);
    assert_non_null(x);
    return x;
}

static void test_range_percentile(void **state)
{
    (void)state;
    float *x = sample_buffer();
    float *sorted = sample_buffer();
    static uint64_t bins[1024];
    tt_rng r = {0x5EED1004u};
    for (int i = 0; i < N_SAMPLES; ++i)
        x[i] = (float)(tt_normal(&r) * 2.0 + 0.5);
    memcpy(sorted, x, N_SAMPLES * sizeof *x);
    qsort(sorted, N_SAMPLES, sizeof *sorted, tt_cmp_float);
    tq_stats s;
    tq_histogram h;
    profile(x, N_SAMPLES, bins, 1024, &s, &h);
    const double w = (h.hi - h.lo) / 1024.0;
    const double ps[] = {99.0, 99.9, 75.0, 100.0};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; ++i) {
        const tq_range_config c = config_of(TQ_RANGE_PERCENTILE, 0, ps[i]);
        const tq_qscheme asym = scheme_of(8, 0, 0, 0), sym = scheme_of(8, 1, 1, 0);
        double lo, hi, slo, shi;
        assert_int_equal(tq_choose_range(&c, &asym, &s, &h, &lo, &hi), TQ_OK);
        assert_int_equal(tq_choose_range(&c, &sym, &s, &h, &slo, &shi), TQ_OK);
        /* Sorted-data percentiles: the smallest value with at least
         * p% of n values at or below it. */
        const double want_lo = sorted_percentile(sorted, 100.0 - ps[i]);
        const double want_hi = sorted_percentile(sorted, ps[i]);
        if (fabs(lo - want_lo) > w * 1.01 || fabs(hi - want_hi) > w * 1.01) {
            print_message("p %g: got [%.9g, %.9g] want [%.9g, %.9g] (bin %g)\n", ps[i],
                          lo, hi, want_lo, want_hi, w);
            fail();
        }
        const double a = fmax(fabs(lo), fabs(hi));
        assert_true(slo == -a && shi == a);
    }
    free(x);
    free(sorted);
}

/* Laplace(0, 1) with a few outliers on both sides. */
static void laplace_with_outliers(tt_rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        const double u = tt_unit(r) - 0.5;
        x[i] = (float)(u < 0 ? log(1.0 + 2.0 * u) : -log(1.0 - 2.0 * u));
        if (!isfinite(x[i]))
            x[i] = 0.0f;
    }
    for (size_t i = 0; i < 20; ++i)
        x[(i * 7919) % n] = (float)((i & 1) ? 30.0 + (double)i : -25.0 - (double)i);
}

static double measured_mse(const float *x, size_t n, tq_qscheme scheme, double lo,
                           double hi)
{
    float scale;
    int32_t zp, qmin, qmax;
    assert_int_equal(tq_qscheme_qrange(&scheme, &qmin, &qmax), TQ_OK);
    assert_int_equal(tq_qparams_from_range(&scheme, lo, hi, &scale, &zp), TQ_OK);
    const tq_qparams p = {&scale, &zp, 1, 0, qmin, qmax, TQ_FROUND_HALF_AWAY};
    const int64_t shape[1] = {(int64_t)n};
    tq_tensor t;
    tq_quant_error err;
    assert_int_equal(tq_tensor_init(&t, (void *)x, TQ_F32, 1, shape), TQ_OK);
    assert_int_equal(tq_measure_quant_error(&t, &p, &err), TQ_OK);
    return err.mse;
}

static void test_range_mse(void **state)
{
    (void)state;
    float *x = sample_buffer();
    static uint64_t bins[10000];
    tt_rng r = {0x5EED1005u};
    laplace_with_outliers(&r, x, N_SAMPLES);
    const tq_qscheme schemes[] = {scheme_of(8, 0, 0, 0), scheme_of(8, 1, 1, 0),
                                  scheme_of(4, 0, 0, 0), scheme_of(4, 1, 0, 0),
                                  scheme_of(8, 1, 1, 1)};
    const uint32_t nbins[] = {2048, 10000, 300};
    const tq_range_config c = config_of(TQ_RANGE_MSE, 0, 0);
    for (size_t b = 0; b < sizeof nbins / sizeof nbins[0]; ++b) {
        tq_stats s;
        tq_histogram h;
        profile(x, N_SAMPLES, bins, nbins[b], &s, &h);
        for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; ++i) {
            double lo, hi, lo2, hi2;
            assert_int_equal(tq_choose_range(&c, &schemes[i], &s, &h, &lo, &hi), TQ_OK);
            assert_int_equal(tq_choose_range(&c, &schemes[i], &s, &h, &lo2, &hi2), TQ_OK);
            assert_true(lo == lo2 && hi == hi2); /* deterministic */
            const double amax = fmax(-s.min, s.max);
            const double full_lo = schemes[i].symmetric ? -amax : s.min;
            const double full_hi = schemes[i].symmetric ? amax : s.max;
            const double got = measured_mse(x, N_SAMPLES, schemes[i], lo, hi);
            const double full = measured_mse(x, N_SAMPLES, schemes[i], full_lo, full_hi);
            if (!(lo > full_lo && hi < full_hi && lo < 0 && hi > 0 && got <= full)) {
                print_message("bins %u scheme %zu: range [%g, %g] of [%g, %g], mse "
                              "%g vs %g\n",
                              nbins[b], i, lo, hi, full_lo, full_hi, got, full);
                fail();
            }
            if (schemes[i].symmetric)
                assert_true(lo == -hi);
        }
    }
    /* Without outliers, 8-bit uniform data keeps (almost) its full range. */
    for (int i = 0; i < N_SAMPLES; ++i)
        x[i] = tt_float(&r, -1.0f, 3.0f);
    tq_stats s;
    tq_histogram h;
    profile(x, N_SAMPLES, bins, 2048, &s, &h);
    double lo, hi;
    const tq_qscheme asym = scheme_of(8, 0, 0, 0);
    assert_int_equal(tq_choose_range(&c, &asym, &s, &h, &lo, &hi), TQ_OK);
    assert_true(lo <= s.min + 0.05 && hi >= s.max - 0.05);
    free(x);
}

static void test_range_kl(void **state)
{
    (void)state;
    float *x = sample_buffer();
    static uint64_t bins[2048];
    tt_rng r = {0x5EED1006u};
    const tq_range_config c = config_of(TQ_RANGE_KL, 0, 0);
    const tq_qscheme sym = scheme_of(8, 1, 1, 0), asym = scheme_of(8, 0, 0, 0);
    tq_stats s;
    tq_histogram h;
    double lo, hi, lo2, hi2;

    /* Gaussian with a few large outliers: the threshold sits well inside. */
    for (int i = 0; i < N_SAMPLES; ++i)
        x[i] = (float)tt_normal(&r);
    for (int i = 0; i < 10; ++i)
        x[i * 997] = (i & 1) ? 60.0f : -55.0f;
    profile(x, N_SAMPLES, bins, 2048, &s, &h);
    assert_int_equal(tq_choose_range(&c, &sym, &s, &h, &lo, &hi), TQ_OK);
    assert_int_equal(tq_choose_range(&c, &sym, &s, &h, &lo2, &hi2), TQ_OK);
    assert_true(lo == lo2 && hi == hi2);
    assert_true(lo == -hi);
    if (!(hi > 2.0 && hi < 0.25 * 60.0)) {
        print_message("gaussian KL threshold %g\n", hi);
        fail();
    }
    /* The threshold is an edge of the folded histogram: i · amax / 2048. */
    const double step = 60.0 / 2048.0;
    assert_true(fabs(hi / step - round(hi / step)) < 1e-6);
    /* Asymmetric over mixed-sign data clips both sides the same way. */
    assert_int_equal(tq_choose_range(&c, &asym, &s, &h, &lo2, &hi2), TQ_OK);
    assert_true(lo2 == fmax(s.min, -hi) && hi2 == fmin(s.max, hi));

    /* ReLU-like data: asymmetric, non-negative (255 levels); the lower end
     * stays at min. The outliers are near enough that the data fills more
     * bins than there are levels (see the KL notes in range.c). */
    for (int i = 0; i < N_SAMPLES; ++i)
        x[i] = (float)fabs(tt_normal(&r));
    x[5] = 9.0f;
    x[50] = 8.5f;
    profile(x, N_SAMPLES, bins, 2048, &s, &h);
    assert_int_equal(tq_choose_range(&c, &asym, &s, &h, &lo, &hi), TQ_OK);
    assert_true(lo == s.min);
    if (!(hi > 2.0 && hi < 0.75 * s.max)) {
        print_message("relu KL [%g, %g] of [%g, %g]\n", lo, hi, s.min, s.max);
        fail();
    }

    /* Uniform data: nothing worth clipping. */
    for (int i = 0; i < N_SAMPLES; ++i)
        x[i] = tt_float(&r, 0.0f, 1.0f);
    profile(x, N_SAMPLES, bins, 2048, &s, &h);
    assert_int_equal(tq_choose_range(&c, &asym, &s, &h, &lo, &hi), TQ_OK);
    assert_true(lo == s.min && hi > 0.9 * s.max);
    for (int i = 0; i < N_SAMPLES; ++i)
        x[i] = tt_float(&r, -1.0f, 1.0f);
    profile(x, N_SAMPLES, bins, 2048, &s, &h);
    assert_int_equal(tq_choose_range(&c, &sym, &s, &h, &lo, &hi), TQ_OK);
    assert_true(hi > 0.9 * fmax(-s.min, s.max));

    /* Fewer bins than levels: the full range. */
    profile(x, N_SAMPLES, bins, 64, &s, &h);
    assert_int_equal(tq_choose_range(&c, &sym, &s, &h, &lo, &hi), TQ_OK);
    assert_true(hi == fmax(-s.min, s.max) && lo == -hi);
    free(x);
}

/* ---- independent oracles for the histogram searches ------------------- */

#define ORACLE_MAX_BINS 700

/* A random histogram: a bell of random width and centre, holes, sparse
 * outliers, and sometimes values outside [lo, hi]. */
static void random_hist(tt_rng *r, tq_histogram *h, uint64_t *bins, int positive)
{
    const uint32_t n = (uint32_t)tt_int(r, 260, ORACLE_MAX_BINS);
    const double lo = positive ? tt_unit(r) * 0.5 : -0.5 - tt_unit(r) * 4.0;
    const double hi = 0.5 + tt_unit(r) * 4.0;
    assert_int_equal(tq_histogram_init(h, bins, n, lo, hi), TQ_OK);
    const double centre = tt_unit(r) * 0.6 + 0.2, width = 0.02 + tt_unit(r) * 0.3;
    for (uint32_t k = 0; k < n; ++k) {
        const double u = ((double)k / n - centre) / width;
        bins[k] = (uint64_t)(1000.0 * exp(-0.5 * u * u) * tt_unit(r));
        if (tt_int(r, 0, 9) == 0)
            bins[k] = 0;
        if (tt_int(r, 0, 60) == 0)
            bins[k] = (uint64_t)tt_int(r, 1, 5);
    }
    bins[tt_int(r, 0, (int32_t)n - 1)] += 1;
    h->below = tt_int(r, 0, 3) == 0 ? (uint64_t)tt_int(r, 1, 50) : 0;
    h->above = tt_int(r, 0, 3) == 0 ? (uint64_t)tt_int(r, 1, 50) : 0;
}

/* KL(P || Q) of keeping i folded bins, straight from the definition with
 * explicit normalised arrays: P = first i bins plus the clipped mass on the
 * last; Q = the first i bins (no outliers) merged into `levels` groups,
 * group of bin k = ceil((k + 1) · levels / i) − 1, each group's mass spread
 * over its non-empty bins; +inf where P > 0 = Q. */
static double oracle_kl(const double *fold, uint32_t n, uint32_t i, uint32_t levels)
{
    static double p[ORACLE_MAX_BINS], q[ORACLE_MAX_BINS];
    static double gmass[256], gcount[256];
    double total = 0, clipped = 0;
    for (uint32_t k = 0; k < n; ++k) {
        total += fold[k];
        if (k >= i)
            clipped += fold[k];
    }
    for (uint32_t g = 0; g < levels; ++g)
        gmass[g] = gcount[g] = 0;
    for (uint32_t k = 0; k < i; ++k) {
        const uint32_t g = (uint32_t)(((uint64_t)(k + 1) * levels + i - 1) / i) - 1;
        gmass[g] += fold[k];
        gcount[g] += fold[k] != 0;
    }
    double qsum = 0;
    for (uint32_t k = 0; k < i; ++k) {
        const uint32_t g = (uint32_t)(((uint64_t)(k + 1) * levels + i - 1) / i) - 1;
        p[k] = fold[k];
        q[k] = fold[k] != 0 ? gmass[g] / gcount[g] : 0.0;
        qsum += q[k];
    }
    p[i - 1] += clipped;
    double kl = 0;
    for (uint32_t k = 0; k < i; ++k) {
        if (p[k] == 0)
            continue;
        if (q[k] == 0)
            return INFINITY;
        kl += p[k] / total * log((p[k] / total) / (q[k] / qsum));
    }
    return kl;
}

static void test_range_kl_oracle(void **state)
{
    (void)state;
    tt_rng r = {0x5EED1007u};
    static uint64_t bins[ORACLE_MAX_BINS];
    static double fold[ORACLE_MAX_BINS], kl[ORACLE_MAX_BINS + 1];
    const tq_range_config c = config_of(TQ_RANGE_KL, 0, 0);
    int clipped_cases = 0;
    for (int iter = 0; iter < 60; ++iter) {
        tq_histogram h;
        const int positive = tt_int(&r, 0, 1);
        random_hist(&r, &h, bins, positive);
        const tq_qscheme sc = scheme_of(tt_int(&r, 6, 8), tt_int(&r, 0, 1), 0, 0);
        const tq_stats s = stats_of(tq_histogram_total(&h), h.lo, h.hi, 0.5 * (h.lo + h.hi), 1.0);
        const uint32_t levels = !sc.symmetric && positive ? (1u << sc.bits) - 1
                                                          : 1u << (sc.bits - 1);
        /* Fold each bin's count at |centre| onto [0, amax] with n bins. */
        const uint32_t n = h.nbins;
        const double amax = fmax(fabs(h.lo), fabs(h.hi)), w = (h.hi - h.lo) / n;
        for (uint32_t k = 0; k < n; ++k)
            fold[k] = 0;
        for (uint32_t k = 0; k < n; ++k) {
            const double m = fabs(h.lo + (k + 0.5) * w);
            fold[(uint32_t)fmin(floor(m / amax * n), n - 1)] += (double)bins[k];
        }
        fold[(uint32_t)fmin(floor(fabs(h.lo) / amax * n), n - 1)] += (double)h.below;
        fold[(uint32_t)fmin(floor(fabs(h.hi) / amax * n), n - 1)] += (double)h.above;
        uint32_t best = n;
        double best_kl = INFINITY;
        for (uint32_t i = levels; i <= n; ++i) {
            kl[i] = oracle_kl(fold, n, i, levels);
            if (kl[i] < best_kl) {
                best_kl = kl[i];
                best = i;
            }
        }
        double lo, hi;
        assert_int_equal(tq_choose_range(&c, &sc, &s, &h, &lo, &hi), TQ_OK);
        const double t = sc.symmetric ? hi : fmax(-lo, hi);
        const double want_t = amax * best / n;
        /* The library's threshold must be a candidate edge whose divergence
         * is the minimum (the same one barring a float near-tie). */
        const double got_i = round(t * n / amax);
        const int ok = got_i >= levels && got_i <= n &&
                       (got_i == best || kl[(uint32_t)got_i] <= best_kl + 1e-12);
        if (!ok || (sc.symmetric && !(lo == -hi && fabs(hi - want_t) <= 1e-12 * amax))) {
            print_message("iter %d n %u levels %u sym %d: t %.17g (i %g, kl %g) want "
                          "%.17g (i %u, kl %g)\n",
                          iter, n, levels, sc.symmetric, t, got_i,
                          got_i <= n ? kl[(uint32_t)got_i] : -1.0, want_t, best, best_kl);
            fail();
        }
        if (!sc.symmetric) {
            assert_true(lo == fmax(h.lo, -want_t) || fabs(lo - fmax(h.lo, -want_t)) <= 1e-12 * amax);
            assert_true(hi == fmin(h.hi, want_t) || fabs(hi - fmin(h.hi, want_t)) <= 1e-12 * amax);
        }
        clipped_cases += best < n;
    }
    assert_true(clipped_cases > 10);
}

/* Σ count · (centre − fq(centre))² with the scheme's parameters for
 * [a, b], quantizing by float division and rounding half away. */
static double oracle_sse(const tq_histogram *h, tq_qscheme sc, double a, double b)
{
    float scale;
    int32_t zp, qmin, qmax;
    assert_int_equal(tq_qscheme_qrange(&sc, &qmin, &qmax), TQ_OK);
    if (tq_qparams_from_range(&sc, a, b, &scale, &zp) != TQ_OK)
        return INFINITY;
    const double w = (h->hi - h->lo) / h->nbins;
    double sse = 0;
    for (uint32_t k = 0; k <= h->nbins + 1; ++k) {
        double v;
        uint64_t count;
        if (k < h->nbins) {
            v = h->lo + (k + 0.5) * w;
            count = h->bins[k];
        } else {
            v = k == h->nbins ? h->lo : h->hi;
            count = k == h->nbins ? h->below : h->above;
        }
        if (count == 0)
            continue;
        const float x = (float)v;
        const float quo = x / scale;
        double code = round((double)quo) + zp;
        code = fmin(fmax(code, qmin), qmax);
        const double fq = (float)((code - zp) * (double)scale);
        sse += (double)count * ((double)x - fq) * ((double)x - fq);
    }
    return sse;
}

static void test_range_mse_oracle(void **state)
{
    (void)state;
    tt_rng r = {0x5EED1008u};
    static uint64_t bins[ORACLE_MAX_BINS];
    const tq_range_config c = config_of(TQ_RANGE_MSE, 0, 0);
    int clipped_cases = 0;
    for (int iter = 0; iter < 40; ++iter) {
        tq_histogram h;
        random_hist(&r, &h, bins, tt_int(&r, 0, 1));
        const tq_stats s = stats_of(tq_histogram_total(&h), h.lo, h.hi, 0.5 * (h.lo + h.hi), 1.0);
        const uint32_t n = h.nbins;
        const double w = (h.hi - h.lo) / n;

        /* Symmetric: exhaustive over t = amax · j / n. */
        const tq_qscheme sym = scheme_of(tt_int(&r, 3, 8), 1, tt_int(&r, 0, 1), tt_int(&r, 0, 1));
        const double amax = fmax(fabs(h.lo), fabs(h.hi));
        double best = INFINITY;
        for (uint32_t j = 1; j <= n; ++j)
            best = fmin(best, oracle_sse(&h, sym, -amax * j / n, amax * j / n));
        double lo, hi;
        assert_int_equal(tq_choose_range(&c, &sym, &s, &h, &lo, &hi), TQ_OK);
        const double got = oracle_sse(&h, sym, lo, hi);
        const double j = hi * n / amax;
        if (!(lo == -hi && fabs(j - round(j)) < 1e-6 && got <= best * (1 + 1e-9))) {
            print_message("iter %d sym bits %d: t %.17g (j %g) sse %.17g, best %.17g\n",
                          iter, sym.bits, hi, j, got, best);
            fail();
        }
        clipped_cases += hi < amax;

        /* Asymmetric: edges of the histogram, no worse than the full range,
         * and no single edge move improves it (coordinate-wise minimum). */
        const tq_qscheme asym = scheme_of(tt_int(&r, 3, 8), 0, 0, tt_int(&r, 0, 1));
        assert_int_equal(tq_choose_range(&c, &asym, &s, &h, &lo, &hi), TQ_OK);
        const double ia = (lo - h.lo) / w, ib = (hi - h.lo) / w;
        assert_true(fabs(ia - round(ia)) < 1e-6 && fabs(ib - round(ib)) < 1e-6);
        assert_true(lo >= h.lo && hi <= h.hi && lo < hi);
        const double sse = oracle_sse(&h, asym, lo, hi);
        assert_true(sse <= oracle_sse(&h, asym, h.lo, h.hi) * (1 + 1e-9));
        for (uint32_t k = 0; k <= n; ++k) {
            const double e = k == n ? h.hi : h.lo + k * w;
            const double up = e > lo ? oracle_sse(&h, asym, lo, e) : INFINITY;
            const double down = e < hi ? oracle_sse(&h, asym, e, hi) : INFINITY;
            if (!(up >= sse * (1 - 1e-9) && down >= sse * (1 - 1e-9))) {
                print_message("iter %d asym bits %d: [%.9g, %.9g] sse %.17g; edge %u "
                              "gives %.17g / %.17g\n",
                              iter, asym.bits, lo, hi, sse, k, up, down);
                fail();
            }
        }
    }
    assert_true(clipped_cases > 5);
}

static void test_range_errors(void **state)
{
    (void)state;
    const tq_qscheme good = scheme_of(8, 0, 0, 0);
    const tq_stats s = stats_of(4, -1.0, 1.0, 0.0, 2.0);
    uint64_t bins[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    tq_histogram h = {bins, 8, 0, -1.0, 1.0, 0, 0};
    double lo = 7, hi = 8;
    tq_range_config c = config_of(TQ_RANGE_MINMAX, 3, 99);

    assert_int_equal(tq_choose_range(NULL, &good, &s, &h, &lo, &hi), TQ_ERR_NULL);
    assert_int_equal(tq_choose_range(&c, NULL, &s, &h, &lo, &hi), TQ_ERR_NULL);
    assert_int_equal(tq_choose_range(&c, &good, NULL, &h, &lo, &hi), TQ_ERR_NULL);
    assert_int_equal(tq_choose_range(&c, &good, &s, &h, NULL, &hi), TQ_ERR_NULL);
    assert_int_equal(tq_choose_range(&c, &good, &s, &h, &lo, NULL), TQ_ERR_NULL);
    const int32_t hist_methods[] = {TQ_RANGE_PERCENTILE, TQ_RANGE_MSE, TQ_RANGE_KL};
    for (size_t i = 0; i < 3; ++i) {
        c = config_of(hist_methods[i], 3, 99);
        assert_int_equal(tq_choose_range(&c, &good, &s, NULL, &lo, &hi), TQ_ERR_NULL);
        tq_histogram bad = h;
        bad.bins = NULL;
        assert_int_equal(tq_choose_range(&c, &good, &s, &bad, &lo, &hi), TQ_ERR_NULL);
        bad = h;
        bad.nbins = 0;
        assert_int_equal(tq_choose_range(&c, &good, &s, &bad, &lo, &hi), TQ_ERR_PARAM);
        bad = h;
        bad.hi = bad.lo;
        assert_int_equal(tq_choose_range(&c, &good, &s, &bad, &lo, &hi), TQ_ERR_PARAM);
        bad = h;
        bad.lo = NAN;
        assert_int_equal(tq_choose_range(&c, &good, &s, &bad, &lo, &hi), TQ_ERR_PARAM);
        bad = h;
        bad.hi = 1e300;
        assert_int_equal(tq_choose_range(&c, &good, &s, &bad, &lo, &hi), TQ_ERR_PARAM);
        /* A histogram with no counts. */
        uint64_t zero[8] = {0};
        bad = h;
        bad.bins = zero;
        assert_int_equal(tq_choose_range(&c, &good, &s, &bad, &lo, &hi), TQ_ERR_EMPTY);
    }
    /* Histogram methods accept a histogram the stat methods ignore. */
    c = config_of(TQ_RANGE_ABSMAX, 0, 0);
    assert_int_equal(tq_choose_range(&c, &good, &s, NULL, &lo, &hi), TQ_OK);
    lo = 7;
    hi = 8;

    const int32_t bad_methods[] = {-1, 6, 100};
    for (size_t i = 0; i < 3; ++i) {
        c = config_of(bad_methods[i], 3, 99);
        assert_int_equal(tq_choose_range(&c, &good, &s, &h, &lo, &hi), TQ_ERR_PARAM);
    }
    const double bad_k[] = {0.0, -1.0, NAN, INFINITY};
    for (size_t i = 0; i < 4; ++i) {
        c = config_of(TQ_RANGE_KSIGMA, bad_k[i], 99);
        assert_int_equal(tq_choose_range(&c, &good, &s, &h, &lo, &hi), TQ_ERR_PARAM);
    }
    const double bad_p[] = {50.0, 10.0, 100.5, NAN, -INFINITY};
    for (size_t i = 0; i < 5; ++i) {
        c = config_of(TQ_RANGE_PERCENTILE, 3, bad_p[i]);
        assert_int_equal(tq_choose_range(&c, &good, &s, &h, &lo, &hi), TQ_ERR_PARAM);
    }
    const tq_qscheme bad_scheme = scheme_of(9, 0, 0, 0);
    c = config_of(TQ_RANGE_MINMAX, 3, 99);
    assert_int_equal(tq_choose_range(&c, &bad_scheme, &s, &h, &lo, &hi), TQ_ERR_PARAM);
    /* No data. */
    const tq_stats empty = stats_of(0, 0, 0, 0, 0);
    for (int32_t m = TQ_RANGE_MINMAX; m <= TQ_RANGE_KL; ++m) {
        c = config_of(m, 3, 99);
        assert_int_equal(tq_choose_range(&c, &good, &empty, &h, &lo, &hi), TQ_ERR_EMPTY);
    }
    /* Inconsistent statistics. */
    const tq_stats inverted = stats_of(4, 1.0, -1.0, 0.0, 2.0);
    const tq_stats nan_min = stats_of(4, NAN, 1.0, 0.0, 2.0);
    const tq_stats far_mean = stats_of(4, -1.0, 1.0, 10.0, 2.0);
    c = config_of(TQ_RANGE_MINMAX, 3, 99);
    assert_int_equal(tq_choose_range(&c, &good, &inverted, &h, &lo, &hi), TQ_ERR_PARAM);
    assert_int_equal(tq_choose_range(&c, &good, &nan_min, &h, &lo, &hi), TQ_ERR_PARAM);
    c = config_of(TQ_RANGE_KSIGMA, 1, 99);
    assert_int_equal(tq_choose_range(&c, &good, &far_mean, &h, &lo, &hi), TQ_ERR_PARAM);
    assert_true(lo == 7 && hi == 8);
}

/* ======================================================================== */
/* tq_quantize_bias                                                         */
/* ======================================================================== */

#define SENTINEL_S32 0x13572468

#if defined(__SIZEOF_INT128__)
/* Exact oracle, written from the formula: round_half_away(b / (a · w)) as
 * a rational number, by one 128-bit integer division. Every float is
 * fr · 2^E with fr in [0.5, 1) (frexpf), so b = mb · 2^eb with an integer
 * mb < 2^24; likewise a and w. floor(|q| + 1/2) = floor((2N + D) / 2D) for
 * |q| = N / D. */
__extension__ typedef unsigned __int128 tt_u128; /* gcc and clang */

static void oracle_parts(float x, int64_t *m, int32_t *e)
{
    int ex;
    const float fr = frexpf(fabsf(x), &ex);
    *m = (int64_t)ldexpf(fr, 24);
    *e = ex - 24;
}

static int32_t oracle_bias(float b, float a, float w)
{
    int64_t mb, ma, mw;
    int32_t eb, ea, ew;
    if (b == 0.0f)
        return 0;
    oracle_parts(b, &mb, &eb);
    oracle_parts(a, &ma, &ea);
    oracle_parts(w, &mw, &ew);
    const int32_t d = eb - ea - ew; /* |q| = mb · 2^d / (ma · mw) */
    int64_t mag;
    if (d > 90) {
        mag = INT32_MAX; /* |q| >= 2^(d − 48) */
    } else if (d < -70) {
        mag = 0; /* |q| < 2^(24 + d) */
    } else {
        tt_u128 num = (tt_u128)mb;
        tt_u128 den = (tt_u128)ma * (tt_u128)mw;
        if (d >= 0)
            num <<= d;
        else
            den <<= -d;
        const tt_u128 n = (2 * num + den) / (2 * den);
        mag = n > INT32_MAX ? INT32_MAX : (int64_t)n;
    }
    return (int32_t)(b < 0.0f ? -mag : mag);
}
#endif

static void test_bias_exact_cases(void **state)
{
    (void)state;
    /* Ties at a power-of-two scale (0.5 · 0.25 = 1/8) and at 3 · 0.75. */
    const float b1[] = {0.3125f, -0.3125f, 0.0625f, -0.0625f, 0.1875f,
                        0.0f, -0.0f, 0.125f, nextafterf(0.0625f, 0.0f)};
    const int32_t e1[] = {3, -3, 1, -1, 2, 0, 0, 1, 0};
    int32_t out[16];
    const float w1 = 0.25f;
    assert_int_equal(tq_quantize_bias(9, b1, 0.5f, &w1, 0, out), TQ_OK);
    for (int i = 0; i < 9; ++i)
        assert_int_equal(out[i], e1[i]);

    const float w3 = 0.75f; /* s = 2.25 */
    const float b3[] = {5.625f, -5.625f, 3.375f, nextafterf(5.625f, 0.0f),
                        nextafterf(-5.625f, 0.0f), nextafterf(3.375f, 9.0f)};
    const int32_t e3[] = {3, -3, 2, 2, -2, 2};
    assert_int_equal(tq_quantize_bias(6, b3, 3.0f, &w3, 0, out), TQ_OK);
    for (int i = 0; i < 6; ++i)
        assert_int_equal(out[i], e3[i]);

    /* Quotients whose double division lands exactly on n + 1/2 though the
     * true value lies below it: rounding the double quotient half away
     * would give n + 1 (found by a search over random float triples and
     * checked with Python's fractions). */
    const float sb[] = {0x1.96296ep+16f, 0x1.3e2b0cp+17f, 0x1.875658p+12f,
                        0x1.7f736ap+19f};
    const float sa[] = {0x1.2f8d5ap-6f, 0x1.0f1094p-6f, 0x1.a526dep-9f,
                        0x1.15087ap-4f};
    const float sw[] = {0x1.7cfdeep-9f, 0x1.6547ccp-8f, 0x1.99814ap-10f,
                        0x1.27269cp-7f};
    const int32_t se[] = {1930722537, 1806110085, 1247449922, 1289062141};
    for (int i = 0; i < 4; ++i) {
        const double q = (double)sb[i] / ((double)sa[i] * (double)sw[i]);
        assert_true(q - floor(q) == 0.5); /* the trap is real */
        assert_int_equal(tq_quantize_bias(1, &sb[i], sa[i], &sw[i], 1, out),
                         TQ_OK);
        assert_int_equal(out[0], se[i]);
        const float neg = -sb[i];
        assert_int_equal(tq_quantize_bias(1, &neg, sa[i], &sw[i], 0, out),
                         TQ_OK);
        assert_int_equal(out[0], -se[i]);
    }

    /* Saturation is symmetric: ±INT32_MAX, never INT32_MIN. */
    const float one = 1.0f, half = 0.5f;
    const float bs[] = {2147483648.0f, -2147483648.0f, 2147483520.0f,
                        -2147483520.0f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX,
                        1073741824.0f, 1073741760.0f};
    const int32_t es1[] = {INT32_MAX, -INT32_MAX, 2147483520, -2147483520,
                           INT32_MAX, -INT32_MAX, INT32_MAX, -INT32_MAX,
                           1073741824, 1073741760};
    assert_int_equal(tq_quantize_bias(10, bs, 1.0f, &one, 0, out), TQ_OK);
    for (int i = 0; i < 10; ++i)
        assert_int_equal(out[i], es1[i]);
    const float bh[] = {1073741824.0f, 1073741760.0f, -1073741760.0f};
    const int32_t eh[] = {INT32_MAX, 2147483520, -2147483520};
    assert_int_equal(tq_quantize_bias(3, bh, 1.0f, &half, 0, out), TQ_OK);
    for (int i = 0; i < 3; ++i)
        assert_int_equal(out[i], eh[i]);

    /* Tiny scales (subnormal floats, a product far below FLT_MIN) and
     * tiny biases. */
    const float sub = 0x1p-149f;
    const float tb[] = {0x1p-149f, 1.0f, -0x1p-149f};
    const int32_t te[] = {INT32_MAX, INT32_MAX, -INT32_MAX};
    assert_int_equal(tq_quantize_bias(3, tb, sub, &sub, 0, out), TQ_OK);
    for (int i = 0; i < 3; ++i)
        assert_int_equal(out[i], te[i]);
    const float tb2[] = {0x3p-149f, 0x1p-130f, -0x1p-149f};
    const int32_t te2[] = {6, 1048576, -2};
    assert_int_equal(tq_quantize_bias(3, tb2, 0.5f, &sub, 0, out), TQ_OK);
    for (int i = 0; i < 3; ++i)
        assert_int_equal(out[i], te2[i]);
    const float big = 0x1p100f;
    const float small_b[] = {0x1p-20f, 0x1p-125f, -3e-38f, FLT_MAX};
    assert_int_equal(tq_quantize_bias(4, small_b, 0x1p100f, &big, 0, out),
                     TQ_OK);
    for (int i = 0; i < 4; ++i)
        assert_int_equal(out[i], 0);
}

static void test_bias_per_channel(void **state)
{
    (void)state;
    /* Per channel each bias has its own scale; per tensor weight_scale[0]
     * serves all (and only that one element is read: a one-element array
     * under ASan). */
    const float bias[4] = {1.0f, 1.0f, -1.0f, 0.75f};
    const float ws[4] = {0.5f, 0.25f, 0.125f, 1.0f};
    int32_t out[4];
    assert_int_equal(tq_quantize_bias(4, bias, 1.0f, ws, 1, out), TQ_OK);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 4);
    assert_int_equal(out[2], -8);
    assert_int_equal(out[3], 1);
    float *one = malloc(sizeof *one);
    assert_non_null(one);
    *one = 0.25f;
    assert_int_equal(tq_quantize_bias(4, bias, 2.0f, one, 0, out), TQ_OK);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 2);
    assert_int_equal(out[2], -2);
    assert_int_equal(out[3], 2); /* 1.5 rounds away */
    free(one);
}

static void test_bias_random_oracle(void **state)
{
    (void)state;
#if defined(__SIZEOF_INT128__)
    tt_rng rng = {0xB1A5};
    enum { N = 257 };
    float bias[N], ws[N];
    int32_t out[N];
    for (int round = 0; round < 400; ++round) {
        const int per_channel = round & 1;
        /* Exponents spread so that quotients run from far below 1/2 to
         * far beyond INT32_MAX, with many near the saturation edge. */
        const float in_scale = ldexpf(tt_float(&rng, 0.5f, 1.0f),
                                      tt_int(&rng, -40, 10));
        for (int i = 0; i < N; ++i) {
            ws[i] = ldexpf(tt_float(&rng, 0.5f, 1.0f), tt_int(&rng, -30, 5));
            const float w = ws[per_channel ? i : 0];
            const double s = (double)in_scale * (double)w;
            double target;
            switch (tt_int(&rng, 0, 3)) {
            case 0: /* near a tie */
                target = (double)tt_int(&rng, -100000, 100000) + 0.5;
                break;
            case 1: /* near saturation */
                target = 2147483647.0 + tt_float(&rng, -300.0f, 300.0f);
                break;
            case 2: /* any magnitude */
                target = ldexp(tt_unit(&rng) - 0.5, tt_int(&rng, -4, 40));
                break;
            default: /* large, not saturated */
                target = (tt_unit(&rng) - 0.5) * 4.0e9;
                break;
            }
            float b = (float)(target * s);
            if (!isfinite(b))
                b = tt_int(&rng, 0, 1) ? FLT_MAX : -FLT_MAX;
            const int32_t nudge = tt_int(&rng, -2, 2);
            for (int k = 0; k < (nudge < 0 ? -nudge : nudge); ++k)
                b = nextafterf(b, nudge < 0 ? -INFINITY : INFINITY);
            bias[i] = b;
        }
        assert_int_equal(tq_quantize_bias(N, bias, in_scale, ws, per_channel,
                                          out), TQ_OK);
        for (int i = 0; i < N; ++i) {
            const int32_t want =
                oracle_bias(bias[i], in_scale, ws[per_channel ? i : 0]);
            if (out[i] != want)
                fail_msg("bias %a, scales %a · %a: got %d, want %d",
                         (double)bias[i], (double)in_scale,
                         (double)ws[per_channel ? i : 0], out[i], want);
        }
    }
#else
    skip();
#endif
}

static void test_bias_errors(void **state)
{
    (void)state;
    float bias[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    float ws[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    int32_t out[4];
    for (int i = 0; i < 4; ++i)
        out[i] = SENTINEL_S32;
#define EXPECT(call, status)                              \
    do {                                                  \
        assert_int_equal((call), (status));               \
        for (int j_ = 0; j_ < 4; ++j_)                    \
            assert_int_equal(out[j_], SENTINEL_S32);      \
    } while (0)
    EXPECT(tq_quantize_bias(4, NULL, 1.0f, ws, 1, out), TQ_ERR_NULL);
    EXPECT(tq_quantize_bias(4, bias, 1.0f, NULL, 1, out), TQ_ERR_NULL);
    EXPECT(tq_quantize_bias(4, bias, 1.0f, ws, 1, NULL), TQ_ERR_NULL);
    EXPECT(tq_quantize_bias(-1, bias, 1.0f, ws, 1, out), TQ_ERR_PARAM);
    EXPECT(tq_quantize_bias(4, bias, 1.0f, ws, 2, out), TQ_ERR_PARAM);
    EXPECT(tq_quantize_bias(4, bias, 1.0f, ws, -1, out), TQ_ERR_PARAM);
    const float bad[] = {0.0f, -0.0f, -1.0f, NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 6; ++i) {
        EXPECT(tq_quantize_bias(4, bias, bad[i], ws, 1, out), TQ_ERR_PARAM);
        ws[3] = bad[i]; /* the last per-channel scale */
        EXPECT(tq_quantize_bias(4, bias, 1.0f, ws, 1, out), TQ_ERR_PARAM);
        ws[3] = 0.5f;
        ws[0] = bad[i];
        EXPECT(tq_quantize_bias(4, bias, 1.0f, ws, 0, out), TQ_ERR_PARAM);
        ws[0] = 0.5f;
    }
    /* Per tensor, entries past weight_scale[0] are never looked at. */
    ws[3] = NAN;
    assert_int_equal(tq_quantize_bias(1, bias, 1.0f, ws, 0, out), TQ_OK);
    assert_int_equal(out[0], 2);
    out[0] = SENTINEL_S32;
    ws[3] = 0.5f;
    const float nf[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; ++i) {
        bias[2] = nf[i];
        EXPECT(tq_quantize_bias(4, bias, 1.0f, ws, 1, out), TQ_ERR_NOT_FINITE);
    }
    bias[2] = 3.0f;
    /* Overlap: out over the biases or the scales. */
    union {
        float f[8];
        int32_t i[8];
    } u;
    for (int i = 0; i < 8; ++i)
        u.f[i] = 1.0f;
    assert_int_equal(tq_quantize_bias(4, u.f, 1.0f, ws, 1, u.i + 3),
                     TQ_ERR_ALIAS);
    assert_int_equal(tq_quantize_bias(4, bias, 1.0f, u.f + 2, 1, u.i),
                     TQ_ERR_ALIAS);
    assert_int_equal(tq_quantize_bias(4, bias, 1.0f, u.f + 3, 0, u.i),
                     TQ_ERR_ALIAS);
    for (int i = 0; i < 8; ++i)
        assert_true(u.f[i] == 1.0f);
    /* Per tensor, a scale just past out is no overlap. */
    assert_int_equal(tq_quantize_bias(3, bias, 1.0f, u.f + 3, 0, u.i), TQ_OK);
    /* Nothing to do: NULL pointers accepted. */
    assert_int_equal(tq_quantize_bias(0, NULL, 1.0f, NULL, 0, NULL), TQ_OK);
    assert_int_equal(tq_quantize_bias(0, NULL, 1.0f, NULL, 1, NULL), TQ_OK);
    if (sizeof(size_t) < 8)
        EXPECT(tq_quantize_bias(INT64_MAX, bias, 1.0f, ws, 1, out),
               TQ_ERR_OVERFLOW);
#undef EXPECT
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qrange),
        cmocka_unit_test(test_qparams_from_range),
        cmocka_unit_test(test_qparams_from_range_errors),
        cmocka_unit_test(test_quant_random),
        cmocka_unit_test(test_quant_ties),
        cmocka_unit_test(test_quant_saturation_and_scalar),
        cmocka_unit_test(test_quant_nan),
        cmocka_unit_test(test_quant_errors),
        cmocka_unit_test(test_measure_quant_error),
        cmocka_unit_test(test_measure_quant_error_errors),
        cmocka_unit_test(test_compare_f32),
        cmocka_unit_test(test_range_from_stats),
        cmocka_unit_test(test_range_percentile),
        cmocka_unit_test(test_range_mse),
        cmocka_unit_test(test_range_kl),
        cmocka_unit_test(test_range_kl_oracle),
        cmocka_unit_test(test_range_mse_oracle),
        cmocka_unit_test(test_range_errors),
        cmocka_unit_test(test_bias_exact_cases),
        cmocka_unit_test(test_bias_per_channel),
        cmocka_unit_test(test_bias_random_oracle),
        cmocka_unit_test(test_bias_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
