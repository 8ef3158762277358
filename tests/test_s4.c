/*
 * Tests of the int4-weight kernels: packing (TFLite's layout, odd counts),
 * quantization straight into packed int4, and conv2d / depthwise / fully
 * connected on packed weights. Each kernel is checked against two
 * oracles: a naive int64 loop written from the int8 rules
 * (../shared/docs/int8-arithmetic.md, requantization from oracle_s8.h),
 * and the s8 kernel on the unpacked weights (bit for bit). The packing
 * oracle packs nibbles from the doc's definition, never calling tinyq.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "oracle_conv.h"
#include "oracle_s8.h"
#include "testutil.h"
#include "tinyq.h"

#define SENT8 ((int8_t)0x5A)
#define SENTU ((uint8_t)0xA5)

/* The doc's packing: element 2k in the low nibble of byte k, 2k + 1 in the
 * high one; an odd count's last high nibble is 0. */
static void o_pack(const int8_t *v, size_t n, uint8_t *out)
{
    memset(out, 0, n / 2 + n % 2);
    for (size_t i = 0; i < n; ++i) {
        const unsigned nib = (unsigned)(v[i] < 0 ? v[i] + 16 : v[i]);
        out[i / 2] |= (uint8_t)(i % 2 ? nib << 4 : nib);
    }
}

static void fill_s4(tt_rng *r, int8_t *w, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        w[i] = (int8_t)tt_int(r, -8, 7);
}

/* ---- packing -------------------------------------------------------------- */

static void test_packed_size(void **state)
{
    (void)state;
    assert_int_equal(tq_s4_packed_size(0), 0);
    assert_int_equal(tq_s4_packed_size(1), 1);
    assert_int_equal(tq_s4_packed_size(2), 1);
    assert_int_equal(tq_s4_packed_size(3), 2);
    assert_int_equal(tq_s4_packed_size(SIZE_MAX), SIZE_MAX / 2 + 1);
}

static void test_pack_known(void **state)
{
    (void)state;
    const int8_t v[5] = {1, -1, 7, -8, 3};
    uint8_t p[4] = {SENTU, SENTU, SENTU, SENTU};
    assert_int_equal(tq_s4_pack(5, v, p), TQ_OK);
    assert_int_equal(p[0], 0xF1);
    assert_int_equal(p[1], 0x87);
    assert_int_equal(p[2], 0x03); /* the unused high nibble is 0 */
    assert_int_equal(p[3], SENTU);
    int8_t back[6] = {SENT8, SENT8, SENT8, SENT8, SENT8, SENT8};
    assert_int_equal(tq_s4_unpack(5, p, back), TQ_OK);
    assert_memory_equal(back, v, 5);
    assert_int_equal(back[5], SENT8);
    /* Unpacking ignores an odd count's last high nibble. */
    p[2] = 0x93;
    assert_int_equal(tq_s4_unpack(5, p, back), TQ_OK);
    assert_int_equal(back[4], 3);
}

static void test_pack_random(void **state)
{
    (void)state;
    tt_rng r = {0x4ac1u};
    for (int it = 0; it < 500; ++it) {
        const size_t n = (size_t)tt_int(&r, 1, 300);
        int8_t v[300], back[301];
        uint8_t p[151], want[151];
        fill_s4(&r, v, n);
        memset(p, SENTU, sizeof p);
        assert_int_equal(tq_s4_pack(n, v, p), TQ_OK);
        o_pack(v, n, want);
        assert_memory_equal(p, want, n / 2 + n % 2);
        if (n / 2 + n % 2 < sizeof p)
            assert_int_equal(p[n / 2 + n % 2], SENTU);
        memset(back, SENT8, sizeof back);
        assert_int_equal(tq_s4_unpack(n, p, back), TQ_OK);
        assert_memory_equal(back, v, n);
        assert_int_equal(back[n], SENT8);
    }
}

static void test_pack_errors(void **state)
{
    (void)state;
    int8_t v[4] = {1, 2, 8, 3};
    uint8_t p[2] = {SENTU, SENTU};
    assert_int_equal(tq_s4_pack(4, v, p), TQ_ERR_PARAM);
    v[2] = -9;
    assert_int_equal(tq_s4_pack(4, v, p), TQ_ERR_PARAM);
    assert_int_equal(p[0], SENTU);
    assert_int_equal(p[1], SENTU);
    v[2] = 0;
    assert_int_equal(tq_s4_pack(4, NULL, p), TQ_ERR_NULL);
    assert_int_equal(tq_s4_pack(4, v, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_s4_pack(4, v, (uint8_t *)(void *)(v + 1)), TQ_ERR_ALIAS);
    assert_int_equal(tq_s4_pack(0, NULL, NULL), TQ_OK);
    assert_int_equal(tq_s4_unpack(4, NULL, v), TQ_ERR_NULL);
    assert_int_equal(tq_s4_unpack(4, p, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_s4_unpack(4, (const uint8_t *)(void *)(v + 3), v),
                     TQ_ERR_ALIAS);
    assert_int_equal(tq_s4_unpack(0, NULL, NULL), TQ_OK);
}

/* ---- quantization --------------------------------------------------------- */

/* TFLite's QUANTIZE of one value: round(x / s) half away from zero in
 * float, clamped. */
static int8_t o_q(float x, float s, int lo, int hi)
{
    const double v = (double)roundf(x / s);
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

static void test_quantize_random(void **state)
{
    (void)state;
    tt_rng r = {0x4a11u};
    for (int it = 0; it < 200; ++it) {
        int64_t shape[4] = {tt_int(&r, 1, 6), tt_int(&r, 1, 3), tt_int(&r, 1, 3),
                            tt_int(&r, 1, 7)};
        const size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
        float x[6 * 3 * 3 * 7];
        tt_fill_f32(&r, x, n, -2.0f, 2.0f);
        if (it % 5 == 0)
            x[0] = 0.0f;
        tq_tensor t;
        assert_int_equal(tq_tensor_init(&t, x, TQ_F32, 4, shape), TQ_OK);
        /* tq_s4_quantize_weights along axis 0 or 3. */
        const int axis = it % 2 ? 3 : 0;
        float scales[7];
        uint8_t p[200], want[200];
        memset(p, SENTU, sizeof p);
        assert_int_equal(tq_s4_quantize_weights(&t, axis, scales, p, sizeof p), TQ_OK);
        int8_t codes[6 * 3 * 3 * 7];
        const size_t ch = (size_t)shape[axis];
        for (size_t c = 0; c < ch; ++c) {
            float amax = 0.0f;
            for (size_t i = 0; i < n; ++i) {
                const size_t ci = axis == 0 ? i / (n / ch) : i % ch;
                if (ci == c)
                    amax = fmaxf(amax, fabsf(x[i]));
            }
            const float s = amax == 0.0f ? 1.0f : (float)((double)amax / 7.0);
            assert_true(scales[c] == s);
        }
        for (size_t i = 0; i < n; ++i) {
            const size_t ci = axis == 0 ? i / (n / ch) : i % ch;
            codes[i] = o_q(x[i], scales[ci], -7, 7);
        }
        o_pack(codes, n, want);
        assert_memory_equal(p, want, n / 2 + n % 2);
        assert_int_equal(p[n / 2 + n % 2], SENTU);
        /* tq_s4_quantize with per-tensor parameters of 4 asymmetric bits. */
        const float sc = tt_float(&r, 0.05f, 0.5f);
        const int32_t zp = tt_int(&r, -3, 3);
        tq_qparams qp = {&sc, &zp, 1, 0, -8, 7, TQ_FROUND_HALF_AWAY};
        memset(p, SENTU, sizeof p);
        assert_int_equal(tq_s4_quantize(&t, &qp, p, n / 2 + n % 2), TQ_OK);
        for (size_t i = 0; i < n; ++i) {
            const double v = (double)roundf(x[i] / sc) + zp;
            codes[i] = (int8_t)(v < -8 ? -8 : (v > 7 ? 7 : v));
        }
        o_pack(codes, n, want);
        assert_memory_equal(p, want, n / 2 + n % 2);
    }
}

static void test_quantize_errors(void **state)
{
    (void)state;
    float x[5] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f}, sc = 0.1f, scales[5];
    int32_t zp = 0;
    int64_t shape[2] = {5, 1};
    tq_tensor t;
    assert_int_equal(tq_tensor_init(&t, x, TQ_F32, 2, shape), TQ_OK);
    uint8_t p[4] = {SENTU, SENTU, SENTU, SENTU};
    tq_qparams qp = {&sc, &zp, 1, 0, -8, 7, TQ_FROUND_HALF_AWAY};
    assert_int_equal(tq_s4_quantize(&t, &qp, p, 2), TQ_ERR_BUFFER_TOO_SMALL);
    qp.qmax = 8;
    assert_int_equal(tq_s4_quantize(&t, &qp, p, 3), TQ_ERR_PARAM);
    qp.qmax = 7;
    qp.qmin = -9;
    assert_int_equal(tq_s4_quantize(&t, &qp, p, 3), TQ_ERR_PARAM);
    qp.qmin = -8;
    assert_int_equal(tq_s4_quantize(NULL, &qp, p, 3), TQ_ERR_NULL);
    assert_int_equal(tq_s4_quantize(&t, NULL, p, 3), TQ_ERR_NULL);
    assert_int_equal(tq_s4_quantize(&t, &qp, NULL, 3), TQ_ERR_NULL);
    assert_int_equal(tq_s4_quantize(&t, &qp, (uint8_t *)(void *)x, 3), TQ_ERR_ALIAS);
    x[3] = NAN;
    assert_int_equal(tq_s4_quantize(&t, &qp, p, 3), TQ_ERR_NOT_FINITE);
    assert_int_equal(tq_s4_quantize_weights(&t, 0, scales, p, 3), TQ_ERR_NOT_FINITE);
    x[3] = INFINITY;
    assert_int_equal(tq_s4_quantize_weights(&t, 0, scales, p, 3), TQ_ERR_NOT_FINITE);
    x[3] = 0.4f;
    assert_int_equal(tq_s4_quantize_weights(&t, 2, scales, p, 3), TQ_ERR_SHAPE);
    assert_int_equal(tq_s4_quantize_weights(&t, -1, scales, p, 3), TQ_ERR_SHAPE);
    assert_int_equal(tq_s4_quantize_weights(&t, 0, scales, p, 2),
                     TQ_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(tq_s4_quantize_weights(&t, 0, NULL, p, 3), TQ_ERR_NULL);
    assert_int_equal(tq_s4_quantize_weights(&t, 0, scales, (uint8_t *)(void *)scales, 3),
                     TQ_ERR_ALIAS);
    t.dtype = TQ_S8;
    assert_int_equal(tq_s4_quantize_weights(&t, 0, scales, p, 3), TQ_ERR_DTYPE);
    for (int i = 0; i < 4; ++i)
        assert_int_equal(p[i], SENTU);
}

/* ---- kernels -------------------------------------------------------------- */

static void random_stage(tt_rng *r, stage *s, int channels)
{
    const int pc = tt_int(r, 0, 1);
    for (int c = 0; c < (pc ? channels : 1); ++c) {
        s->mult[c] = tt_int(r, 1 << 30, INT32_MAX);
        s->shift[c] = tt_int(r, 0, 9) == 0 ? tt_int(r, 1, 2) : -tt_int(r, 3, 9);
    }
    finish_random_stage(r, s, pc, 8);
}

static const conv_limits conv_lim = {5, 8, 3, 2, 2, 1, 1, 2};

static void run_conv(int depthwise)
{
    tt_rng r = {depthwise ? 0xd54u : 0xc54u};
    int done = 0, odd_k = 0, bounded = 0;
    while (done < 250) {
        conv_case c;
        if (!random_conv(&r, &c, depthwise, &conv_lim))
            continue;
        ++done;
        const size_t nx = dims_n(&c.in), nw = dims_n(&c.f), no = dims_n(&c.out);
        int8_t *x = malloc(nx), *w = malloc(nw), *y = malloc(no), *y8 = malloc(no);
        uint8_t *pw = malloc(nw / 2 + 1);
        int32_t *bias = tt_int(&r, 0, 3) ? malloc((size_t)c.out.c * 4) : NULL;
        stage s;
        assert_true(x && w && y && y8 && pw);
        tt_fill_s8(&r, x, nx, -128, 127);
        fill_s4(&r, w, nw);
        o_pack(w, nw, pw);
        odd_k += (c.f.h * c.f.w * c.f.c) % 2;
        if (bias)
            for (int i = 0; i < c.out.c; ++i)
                bias[i] = tt_int(&r, -20000, 20000);
        random_stage(&r, &s, c.out.c);
        const int io = tt_int(&r, -127, 128);
        memset(y, SENT8, no);
        memset(y8, SENT8, no);
        if (depthwise) {
            assert_int_equal(tq_s4_depthwise_conv2d(&c.p, &c.in, x, io, &c.f, pw, bias,
                                                    &s.os, &c.out, y),
                             TQ_OK);
            assert_int_equal(tq_s8_depthwise_conv2d(&c.p, &c.in, x, io, &c.f, w, bias,
                                                    &s.os, &c.out, y8),
                             TQ_OK);
        } else {
            size_t b4 = 0, bf = 0, b8 = 0;
            const size_t k2 = 2 * (size_t)c.f.h * (size_t)c.f.w * (size_t)c.f.c + 1;
            assert_int_equal(tq_s4_conv2d_scratch_size(&c.p, &c.in, &c.f, &c.out, &b4),
                             TQ_OK);
            assert_int_equal(tq_s4_conv2d_fast_scratch_size(&c.p, &c.in, &c.f, &c.out,
                                                            &bf),
                             TQ_OK);
            assert_int_equal(tq_s8_conv2d_scratch_size(&c.p, &c.in, &c.f, &c.out, &b8),
                             TQ_OK);
            /* Fast: the unpacked filter + the s8 scratch; least: the
             * bounded path's int16 column unless the fast one is less. */
            assert_int_equal(bf, b8 + nw);
            assert_int_equal(b4, k2 < bf ? k2 : bf);
            bounded += b4 < bf;
            unsigned char *scr = malloc(bf + 1);
            assert_non_null(scr);
            /* The fast path (an odd scratch address). */
            assert_int_equal(tq_s4_conv2d(&c.p, &c.in, x, io, &c.f, pw, bias, &s.os,
                                          &c.out, y, scr + 1, bf),
                             TQ_OK);
            assert_int_equal(tq_s8_conv2d(&c.p, &c.in, x, io, &c.f, w, bias, &s.os,
                                          &c.out, y8, scr, b8),
                             TQ_OK);
            assert_memory_equal(y, y8, no);
            /* One byte less than the least: refused, nothing written. */
            memset(y, SENT8, no);
            memset(scr, SENT8, bf + 1);
            assert_int_equal(tq_s4_conv2d(&c.p, &c.in, x, io, &c.f, pw, bias, &s.os,
                                          &c.out, y, scr, b4 - 1),
                             TQ_ERR_BUFFER_TOO_SMALL);
            for (size_t j = 0; j < no; ++j)
                assert_int_equal(y[j], SENT8);
            for (size_t j = 0; j < bf + 1; ++j)
                assert_int_equal((int8_t)scr[j], SENT8);
            /* The least scratch, at an even and an odd address, and one
             * byte short of the fast path: the same bytes. */
            for (int odd = 0; odd < 2; ++odd) {
                memset(y, SENT8, no);
                assert_int_equal(tq_s4_conv2d(&c.p, &c.in, x, io, &c.f, pw, bias,
                                              &s.os, &c.out, y, scr + odd, b4),
                                 TQ_OK);
                assert_memory_equal(y, y8, no);
            }
            if (bf - 1 >= b4) {
                memset(y, SENT8, no);
                assert_int_equal(tq_s4_conv2d(&c.p, &c.in, x, io, &c.f, pw, bias,
                                              &s.os, &c.out, y, scr, bf - 1),
                                 TQ_OK);
                assert_memory_equal(y, y8, no);
            }
            free(scr);
        }
        assert_memory_equal(y, y8, no);
        size_t i = 0;
        for (int n = 0; n < c.out.n; ++n)
            for (int oy = 0; oy < c.out.h; ++oy)
                for (int ox = 0; ox < c.out.w; ++ox)
                    for (int oc = 0; oc < c.out.c; ++oc, ++i) {
                        const int64_t acc = o_conv_sum(&c, x, 0, io, w, depthwise, n, oy, ox, oc) +
                                            (bias ? bias[oc] : 0);
                        assert_int_equal(y[i], o_stage(&s, acc, oc));
                    }
        free(x);
        free(w);
        free(y);
        free(y8);
        free(pw);
        free(bias);
    }
    assert_true(odd_k > 30);
    assert_true(depthwise || bounded > 150);
}

/* A ResNet-sized filter row (K = 3·3·63 = 567, odd: every other row
 * starts mid-byte), extreme inputs and weights, biases that saturate the
 * int32 accumulator, per-channel stages, stride 2, padding and dilation:
 * the bounded path (least scratch) and the fast path against the oracle. */
static void test_conv_saturation(void **state)
{
    (void)state;
    tt_rng r = {0x5a7u};
    conv_case c;
    memset(&c, 0, sizeof c);
    c.p = (tq_conv_params){.stride_h = 2, .stride_w = 2, .pad_top = 1,
                           .pad_bottom = 1, .pad_left = 1, .pad_right = 1,
                           .dilation_h = 2, .dilation_w = 1, .groups = 1};
    c.in = (tq_dims){.n = 1, .h = 7, .w = 6, .c = 63};
    c.f = (tq_dims){.n = 8, .h = 3, .w = 3, .c = 63};
    c.out = (tq_dims){.n = 1, .h = 3, .w = 3, .c = 8};
    const size_t nx = dims_n(&c.in), nw = dims_n(&c.f), no = dims_n(&c.out);
    int8_t x[7 * 6 * 63], w[8 * 9 * 63], y[72], y8[72];
    uint8_t pw[8 * 9 * 63 / 2 + 1];
    int32_t bias[8];
    stage s;
    for (size_t i = 0; i < nx; ++i)
        x[i] = tt_int(&r, 0, 3) ? -128 : 127;
    for (size_t i = 0; i < nw; ++i)
        w[i] = (int8_t)(tt_int(&r, 0, 1) ? -8 : 7);
    o_pack(w, nw, pw);
    for (int o = 0; o < 8; ++o) {
        bias[o] = o % 3 == 0 ? INT32_MAX - 5 : (o % 3 == 1 ? INT32_MIN + 5 : 1000);
        s.mult[o] = (1 << 30) + o;
        s.shift[o] = o < 4 ? -24 : -12;
    }
    s.os = (tq_s8_output){s.mult, s.shift, 1, TQ_ROUND_DOUBLE, -3, -128, 127};
    size_t b4 = 0, bf = 0;
    assert_int_equal(tq_s4_conv2d_scratch_size(&c.p, &c.in, &c.f, &c.out, &b4), TQ_OK);
    assert_int_equal(tq_s4_conv2d_fast_scratch_size(&c.p, &c.in, &c.f, &c.out, &bf),
                     TQ_OK);
    assert_int_equal(b4, 2 * 567 + 1);
    assert_true(bf > b4);
    unsigned char *scr = malloc(bf + 1);
    assert_non_null(scr);
    for (int io = -127; io <= 128; io += 255) {
        memset(y8, SENT8, no);
        assert_int_equal(tq_s4_conv2d(&c.p, &c.in, x, io, &c.f, pw, bias, &s.os,
                                      &c.out, y8, scr + 1, bf),
                         TQ_OK);
        memset(y, SENT8, no);
        assert_int_equal(tq_s4_conv2d(&c.p, &c.in, x, io, &c.f, pw, bias, &s.os,
                                      &c.out, y, scr + 1, b4),
                         TQ_OK);
        assert_memory_equal(y, y8, no);
        size_t i = 0;
        for (int oy = 0; oy < c.out.h; ++oy)
            for (int ox = 0; ox < c.out.w; ++ox)
                for (int oc = 0; oc < c.out.c; ++oc, ++i) {
                    const int64_t acc =
                        o_conv_sum(&c, x, 0, io, w, 0, 0, oy, ox, oc) + bias[oc];
                    assert_int_equal(y[i], o_stage(&s, acc, oc));
                }
    }
    free(scr);
}

static void test_conv_random(void **state)
{
    (void)state;
    run_conv(0);
}

static void test_depthwise_random(void **state)
{
    (void)state;
    run_conv(1);
}

static void test_fc_random(void **state)
{
    (void)state;
    tt_rng r = {0xfc4u};
    for (int it = 0; it < 150; ++it) {
        const int batch = tt_int(&r, 0, 2) ? tt_int(&r, 1, 3) : tt_int(&r, 4, 9);
        /* Odd and even rows (odd ones start mid-byte every other row),
         * rows shorter and longer than a 32-weight SIMD step. */
        const int in_f = tt_int(&r, 0, 3) ? tt_int(&r, 1, 99) : tt_int(&r, 500, 3001);
        const int out_f = tt_int(&r, 1, 100);
        int8_t *x = malloc((size_t)batch * in_f), *w = malloc((size_t)out_f * in_f);
        int8_t *y = malloc((size_t)batch * out_f), *y8 = malloc((size_t)batch * out_f);
        uint8_t *pw = malloc((size_t)out_f * in_f / 2 + 1);
        int32_t *bias = tt_int(&r, 0, 3) ? malloc((size_t)out_f * 4) : NULL;
        stage *s = malloc(sizeof *s);
        assert_true(x && w && y && y8 && pw && s);
        memset(s, 0, sizeof *s);
        tt_fill_s8(&r, x, (size_t)batch * in_f, -128, 127);
        fill_s4(&r, w, (size_t)out_f * in_f);
        o_pack(w, (size_t)out_f * in_f, pw);
        if (bias)
            for (int i = 0; i < out_f; ++i)
                bias[i] = tt_int(&r, -100000, 100000);
        if (out_f <= 160) {
            random_stage(&r, s, out_f);
        }
        const int io = tt_int(&r, -127, 128);
        size_t bytes = 0;
        assert_int_equal(tq_s4_fully_connected_scratch_size(in_f, out_f, &bytes), TQ_OK);
        int rows = 16384 / in_f;
        rows = rows < 1 ? 1 : (rows > 32 ? 32 : rows);
        rows = rows > out_f ? out_f : rows;
        const size_t row16 = 2 * (size_t)in_f + 1, block = (size_t)rows * in_f;
        assert_int_equal(bytes, row16 > block ? row16 : block);
        unsigned char *scr = malloc(bytes + 1);
        assert_non_null(scr);
        memset(y, SENT8, (size_t)batch * out_f);
        assert_int_equal(tq_s4_fully_connected(batch, in_f, out_f, x, io, pw, bias, &s->os,
                                               y, scr + 1, bytes),
                         TQ_OK);
        assert_int_equal(tq_s8_fully_connected(batch, in_f, out_f, x, io, w, 0, bias, &s->os,
                                               y8),
                         TQ_OK);
        assert_memory_equal(y, y8, (size_t)batch * out_f);
        for (int b = 0; b < batch; ++b)
            for (int o = 0; o < out_f; ++o) {
                int64_t acc = bias ? bias[o] : 0;
                for (int i = 0; i < in_f; ++i)
                    acc += (int64_t)w[(size_t)o * in_f + i] * (x[(size_t)b * in_f + i] + io);
                assert_int_equal(y[(size_t)b * out_f + o], o_stage(s, acc, o));
            }
        free(x);
        free(w);
        free(y);
        free(y8);
        free(pw);
        free(bias);
        free(s);
        free(scr);
    }
}

/* The inner product exactly, on whatever path runs: a bias of minus the
 * exact sum plus r leaves r through the identity stage (2^30, shift 1),
 * for rows of every length and both nibble alignments, batch 1 (the fused
 * unpack + dot) and batch 5 (unpacked blocks through the s8 GEMM). */
static void test_fc_exact_sums(void **state)
{
    (void)state;
    tt_rng r = {0xe4ac7u};
    int32_t m[1] = {1 << 30}, sh[1] = {1};
    const tq_s8_output os = {m, sh, 0, TQ_ROUND_DOUBLE, 0, -128, 127};
    for (int it = 0; it < 200; ++it) {
        const int k = it < 70 ? it + 1 : tt_int(&r, 1, 5000);
        const int nout = 5, batch = it % 3 ? 1 : 5;
        int8_t *x = malloc((size_t)k * batch), *w = malloc((size_t)k * nout);
        int8_t y[25];
        uint8_t *pw = malloc((size_t)k * nout / 2 + 1);
        int32_t bias[5], want[5];
        assert_true(x && w && pw);
        tt_fill_s8(&r, x, (size_t)k * batch, -128, 127);
        fill_s4(&r, w, (size_t)k * nout);
        o_pack(w, (size_t)k * nout, pw);
        const int io = tt_int(&r, -127, 128);
        for (int o = 0; o < nout; ++o) {
            int64_t sum = 0;
            for (int i = 0; i < k; ++i)
                sum += (int64_t)w[(size_t)o * k + i] * (x[i] + io);
            want[o] = tt_int(&r, -128, 127);
            bias[o] = (int32_t)(want[o] - sum);
        }
        size_t bytes = 0;
        assert_int_equal(tq_s4_fully_connected_scratch_size(k, nout, &bytes), TQ_OK);
        unsigned char *scr = malloc(bytes);
        assert_non_null(scr);
        assert_int_equal(tq_s4_fully_connected(batch, k, nout, x, io, pw, bias, &os, y,
                                               scr, bytes),
                         TQ_OK);
        for (int o = 0; o < nout; ++o)
            if (y[o] != want[o])
                fail_msg("k %d o %d: got %d want %d", k, o, y[o], want[o]);
        free(x);
        free(w);
        free(pw);
        free(scr);
    }
}

static void test_kernel_errors(void **state)
{
    (void)state;
    int8_t x[18] = {0}, y[8];
    uint8_t w[8] = {0};
    int32_t m[2] = {1 << 30, 1 << 30}, sh[2] = {-3, -3};
    tq_s8_output os = {m, sh, 1, TQ_ROUND_DOUBLE, 0, -128, 127};
    unsigned char scr[128];
    tq_conv_params p = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    tq_dims in = {1, 3, 3, 2}, f = {2, 2, 2, 2}, out = {1, 2, 2, 2};
    size_t bytes = 0;
    assert_int_equal(tq_s4_conv2d_scratch_size(&p, &in, &f, &out, &bytes), TQ_OK);
    assert_true(bytes <= sizeof scr);
#define CHECK_UNCHANGED(call, st)                                            \
    do {                                                                     \
        memset(y, SENT8, sizeof y);                                          \
        assert_int_equal(call, st);                                          \
        for (size_t i_ = 0; i_ < sizeof y; ++i_)                             \
            assert_int_equal(y[i_], SENT8);                                  \
    } while (0)
    CHECK_UNCHANGED(tq_s4_conv2d(&p, &in, x, 0, &f, NULL, NULL, &os, &out, y, scr, bytes),
                    TQ_ERR_NULL);
    CHECK_UNCHANGED(tq_s4_conv2d(&p, &in, x, 0, &f, w, NULL, &os, &out, y, NULL, bytes),
                    TQ_ERR_NULL);
    CHECK_UNCHANGED(tq_s4_conv2d(&p, &in, x, 0, &f, w, NULL, &os, &out, y, scr, bytes - 1),
                    TQ_ERR_BUFFER_TOO_SMALL);
    CHECK_UNCHANGED(tq_s4_conv2d(&p, &in, x, 129, &f, w, NULL, &os, &out, y, scr, bytes),
                    TQ_ERR_PARAM);
    CHECK_UNCHANGED(tq_s4_conv2d(&p, &in, x, 0, &f, w, NULL, &os, &out, y,
                                 (void *)w, bytes),
                    TQ_ERR_ALIAS);
    CHECK_UNCHANGED(tq_s4_conv2d(&p, &in, x, 0, &f, (const uint8_t *)(void *)y, NULL,
                                 &os, &out, y, scr, bytes),
                    TQ_ERR_ALIAS);
    tq_dims bad = out;
    bad.c = 3;
    CHECK_UNCHANGED(tq_s4_conv2d(&p, &in, x, 0, &f, w, NULL, &os, &bad, y, scr, bytes),
                    TQ_ERR_SHAPE);
    tq_dims df = {1, 2, 2, 2};
    CHECK_UNCHANGED(tq_s4_depthwise_conv2d(&p, &in, x, 0, &df, NULL, NULL, &os, &out, y),
                    TQ_ERR_NULL);
    CHECK_UNCHANGED(tq_s4_depthwise_conv2d(&p, &in, x, -128, &df, w, NULL, &os, &out, y),
                    TQ_ERR_PARAM);
    CHECK_UNCHANGED(tq_s4_depthwise_conv2d(&p, &in, x, 0, &f, w, NULL, &os, &out, y),
                    TQ_ERR_SHAPE);
    CHECK_UNCHANGED(tq_s4_depthwise_conv2d(&p, &in, x, 0, &df, (const uint8_t *)(void *)y,
                                           NULL, &os, &out, y),
                    TQ_ERR_ALIAS);
    assert_int_equal(tq_s4_fully_connected_scratch_size(4, 2, &bytes), TQ_OK);
    assert_int_equal(bytes, 9); /* the int16 row: 2 · 4 + 1 */
    CHECK_UNCHANGED(tq_s4_fully_connected(2, 4, 2, x, 0, w, NULL, &os, y, scr, 8),
                    TQ_ERR_BUFFER_TOO_SMALL);
    CHECK_UNCHANGED(tq_s4_fully_connected(2, 4, 2, x, 0, w, NULL, &os, y, NULL, 9),
                    TQ_ERR_NULL);
    CHECK_UNCHANGED(tq_s4_fully_connected(2, 4, 2, NULL, 0, w, NULL, &os, y, scr, 9),
                    TQ_ERR_NULL);
    CHECK_UNCHANGED(tq_s4_fully_connected(0, 4, 2, x, 0, w, NULL, &os, y, scr, 9),
                    TQ_ERR_SHAPE);
    CHECK_UNCHANGED(tq_s4_fully_connected(2, TQ_S8_MAX_REDUCTION + 1, 2, x, 0, w, NULL,
                                          &os, y, scr, 9),
                    TQ_ERR_OVERFLOW);
    CHECK_UNCHANGED(tq_s4_fully_connected(2, 4, 2, x, -200, w, NULL, &os, y, scr, 9),
                    TQ_ERR_PARAM);
    CHECK_UNCHANGED(tq_s4_fully_connected(2, 4, 2, x, 0, w, NULL, &os, y, (void *)x, 9),
                    TQ_ERR_ALIAS);
    CHECK_UNCHANGED(tq_s4_fully_connected(2, 4, 2, x, 0, (const uint8_t *)(void *)(y + 1),
                                          NULL, &os, y, scr, 9),
                    TQ_ERR_ALIAS);
    sh[1] = 31;
    CHECK_UNCHANGED(tq_s4_fully_connected(2, 4, 2, x, 0, w, NULL, &os, y, scr, 9),
                    TQ_ERR_PARAM);
#undef CHECK_UNCHANGED
    assert_int_equal(tq_s4_fully_connected_scratch_size(0, 2, &bytes), TQ_ERR_SHAPE);
    assert_int_equal(tq_s4_fully_connected_scratch_size(4, 2, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_s4_conv2d_scratch_size(&p, &in, &f, &out, NULL), TQ_ERR_NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_size),
        cmocka_unit_test(test_pack_known),
        cmocka_unit_test(test_pack_random),
        cmocka_unit_test(test_pack_errors),
        cmocka_unit_test(test_quantize_random),
        cmocka_unit_test(test_quantize_errors),
        cmocka_unit_test(test_conv_random),
        cmocka_unit_test(test_conv_saturation),
        cmocka_unit_test(test_depthwise_random),
        cmocka_unit_test(test_fc_random),
        cmocka_unit_test(test_fc_exact_sums),
        cmocka_unit_test(test_kernel_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
