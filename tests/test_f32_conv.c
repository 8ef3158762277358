/*
 * Tests of the f32 convolutions: conv2d (im2col and 1x1 paths), depthwise,
 * and the fused conv + ReLU + 2x2 max pool, against naive double-precision
 * oracles written here (the clamp and tolerance in oracle_f32.h);
 * scratch-size exactness; every error path with the output checked
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

static size_t dims_count(tq_dims d)
{
    return (size_t)d.n * (size_t)d.h * (size_t)d.w * (size_t)d.c;
}

/* ---- the oracle -------------------------------------------------------- */

/* A convolution problem: shapes, geometry and data. depthwise selects the
 * [1][KH][KW][Cout] filter with channel multiplier Cout / Cin. */
typedef struct conv_case {
    tq_conv_params p;
    tq_dims in_d, f_d, out_d;
    int depthwise;
    float *in, *filter, *bias; /* bias NULL or out_d.c values */
    tq_f32_act act_storage;
    const tq_f32_act *act;
} conv_case;

static int32_t out_extent(int32_t in, int32_t k, int32_t stride, int32_t dil,
                          int32_t pb, int32_t pa)
{
    const int32_t span = in + pb + pa, window = dil * (k - 1) + 1;
    if (window > span)
        return 0;
    return (span - window) / stride + 1;
}

/* want[i] and the sum of |terms| mag[i] of every output element, in double,
 * skipping padded taps. */
static void conv_oracle(const conv_case *cc, double *want, double *mag)
{
    const tq_conv_params *p = &cc->p;
    const int32_t cin = cc->in_d.c, cout = cc->out_d.c;
    const int32_t groups = cc->depthwise ? 1 : p->groups;
    const int32_t cin_g = cin / groups, cout_g = cout / groups;
    const int32_t mult = cout / cin;
    const int32_t kh = cc->f_d.h, kw = cc->f_d.w;
    size_t o = 0;
    for (int32_t n = 0; n < cc->out_d.n; ++n)
        for (int32_t oy = 0; oy < cc->out_d.h; ++oy)
            for (int32_t ox = 0; ox < cc->out_d.w; ++ox)
                for (int32_t oc = 0; oc < cout; ++oc, ++o) {
                    double s = cc->bias ? cc->bias[oc] : 0.0;
                    double m = fabs(s);
                    for (int32_t ky = 0; ky < kh; ++ky) {
                        const int32_t iy =
                            oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                        if (iy < 0 || iy >= cc->in_d.h)
                            continue;
                        for (int32_t kx = 0; kx < kw; ++kx) {
                            const int32_t ix = ox * p->stride_w - p->pad_left +
                                               kx * p->dilation_w;
                            if (ix < 0 || ix >= cc->in_d.w)
                                continue;
                            const float *px =
                                cc->in +
                                (((size_t)n * cc->in_d.h + iy) * cc->in_d.w +
                                 ix) * cin;
                            if (cc->depthwise) {
                                const double t =
                                    (double)px[oc / mult] *
                                    cc->filter[((size_t)ky * kw + kx) * cout +
                                               oc];
                                s += t;
                                m += fabs(t);
                                continue;
                            }
                            const int32_t g = oc / cout_g;
                            for (int32_t ci = 0; ci < cin_g; ++ci) {
                                const double t =
                                    (double)px[g * cin_g + ci] *
                                    cc->filter[(((size_t)oc * kh + ky) * kw +
                                                kx) * cin_g + ci];
                                s += t;
                                m += fabs(t);
                            }
                        }
                    }
                    want[o] = clamp_d(s, cc->act);
                    mag[o] = m;
                }
}

static void describe(const conv_case *cc, char *buf, size_t size)
{
    const tq_conv_params *p = &cc->p;
    snprintf(buf, size,
             "in {%d,%d,%d,%d} filter {%d,%d,%d,%d} out {%d,%d,%d,%d} "
             "stride %d,%d pad t%d b%d l%d r%d dil %d,%d groups %d bias %d "
             "act %s [%g,%g]",
             cc->in_d.n, cc->in_d.h, cc->in_d.w, cc->in_d.c, cc->f_d.n,
             cc->f_d.h, cc->f_d.w, cc->f_d.c, cc->out_d.n, cc->out_d.h,
             cc->out_d.w, cc->out_d.c, p->stride_h, p->stride_w, p->pad_top,
             p->pad_bottom, p->pad_left, p->pad_right, p->dilation_h,
             p->dilation_w, p->groups, cc->bias != NULL,
             cc->act ? "yes" : "NULL", cc->act ? cc->act->min : 0.0,
             cc->act ? cc->act->max : 0.0);
}

static void expect_close(const conv_case *cc, const float *got, uint64_t seed)
{
    const size_t count = dims_count(cc->out_d);
    double *want = xmalloc(count * sizeof(double));
    double *mag = xmalloc(count * sizeof(double));
    conv_oracle(cc, want, mag);
    for (size_t i = 0; i < count; ++i) {
        if (!(fabs((double)got[i] - want[i]) <= sum_tol(want[i], mag[i]))) {
            char buf[512];
            describe(cc, buf, sizeof buf);
            fail_msg("seed %llu %s: out[%zu] = %.9g, want %.9g",
                     (unsigned long long)seed, buf, i, (double)got[i],
                     want[i]);
        }
    }
    free(want);
    free(mag);
}

/* ---- random problems --------------------------------------------------- */

static void pick_case_act(tt_rng *r, conv_case *cc)
{
    cc->act = pick_act(r, &cc->act_storage, -0.4f, 0.7f);
}

static void alloc_data(tt_rng *r, conv_case *cc)
{
    const size_t in_n = dims_count(cc->in_d), f_n = dims_count(cc->f_d);
    cc->in = xmalloc(in_n * sizeof(float));
    cc->filter = xmalloc(f_n * sizeof(float));
    tt_fill_f32(r, cc->in, in_n, -1.0f, 1.0f);
    tt_fill_f32(r, cc->filter, f_n, -1.0f, 1.0f);
    cc->bias = NULL;
    if (tt_int(r, 0, 2) != 0) {
        cc->bias = xmalloc((size_t)cc->out_d.c * sizeof(float));
        tt_fill_f32(r, cc->bias, (size_t)cc->out_d.c, -0.5f, 0.5f);
    }
}

static void free_case(conv_case *cc)
{
    free(cc->in);
    free(cc->filter);
    free(cc->bias);
}

/* A random valid geometry: input extents in [hw_min, hw_max]. */
static void random_geometry(tt_rng *r, conv_case *cc, int32_t hw_min,
                            int32_t hw_max, int32_t kmax, int32_t smax)
{
    tq_conv_params *p = &cc->p;
    for (;;) {
        cc->in_d.n = tt_int(r, 1, 2);
        cc->in_d.h = tt_int(r, hw_min, hw_max);
        cc->in_d.w = tt_int(r, hw_min, hw_max);
        cc->f_d.h = tt_int(r, 1, kmax);
        cc->f_d.w = tt_int(r, 1, kmax);
        p->stride_h = tt_int(r, 1, smax);
        p->stride_w = tt_int(r, 1, smax);
        p->dilation_h = tt_int(r, 1, 2);
        p->dilation_w = tt_int(r, 1, 2);
        p->pad_top = tt_int(r, 0, 2);
        p->pad_bottom = tt_int(r, 0, 2);
        p->pad_left = tt_int(r, 0, 2);
        p->pad_right = tt_int(r, 0, 2);
        const int32_t oh = out_extent(cc->in_d.h, cc->f_d.h, p->stride_h,
                                      p->dilation_h, p->pad_top,
                                      p->pad_bottom);
        const int32_t ow = out_extent(cc->in_d.w, cc->f_d.w, p->stride_w,
                                      p->dilation_w, p->pad_left,
                                      p->pad_right);
        if (oh < 1 || ow < 1)
            continue;
        cc->out_d.n = cc->in_d.n;
        cc->out_d.h = oh;
        cc->out_d.w = ow;
        return;
    }
}

/* Fails with the case and the status unless st is TQ_OK. */
static void expect_ok(const conv_case *cc, tq_status st, uint64_t seed)
{
    if (st != TQ_OK) {
        char buf[512];
        describe(cc, buf, sizeof buf);
        fail_msg("seed %llu %s: status %d", (unsigned long long)seed, buf,
                 (int)st);
    }
}

/* Run conv2d with a scratch of exactly the queried size, placed at a random
 * misalignment, after checking that one byte less is refused untouched. */
static void run_conv2d(tt_rng *r, conv_case *cc, uint64_t seed)
{
    size_t need = 0;
    assert_int_equal(tq_f32_conv2d_scratch_size(&cc->p, &cc->in_d, &cc->f_d,
                                                &cc->out_d, &need),
                     TQ_OK);
    const size_t count = dims_count(cc->out_d);
    float *out = xmalloc((count + 4) * sizeof(float));
    fill_sentinel(out, count + 4);
    const size_t shift = (size_t)tt_int(r, 0, 3);
    unsigned char *block = xmalloc(need + shift);
    void *scratch = need ? block + shift : NULL;
    if (need > 0) {
        assert_int_equal(tq_f32_conv2d(&cc->p, &cc->in_d, cc->in, &cc->f_d,
                                       cc->filter, cc->bias, cc->act,
                                       &cc->out_d, out, scratch, need - 1),
                         TQ_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(tq_f32_conv2d(&cc->p, &cc->in_d, cc->in, &cc->f_d,
                                       cc->filter, cc->bias, cc->act,
                                       &cc->out_d, out, NULL, need),
                         TQ_ERR_NULL);
        assert_true(is_sentinel(out, count + 4));
    }
    expect_ok(cc,
              tq_f32_conv2d(&cc->p, &cc->in_d, cc->in, &cc->f_d, cc->filter,
                            cc->bias, cc->act, &cc->out_d, out, scratch, need),
              seed);
    expect_close(cc, out, seed);
    assert_true(is_sentinel(out + count, 4));
    free(block);
    free(out);
}

/* Completes a random grouped case whose channel counts and groups are set
 * (the filter, a clamp, the data), runs conv2d on it, and frees it. */
static void complete_and_run_conv2d(tt_rng *r, conv_case *cc, uint64_t seed)
{
    cc->f_d.n = cc->out_d.c;
    cc->f_d.c = cc->in_d.c / cc->p.groups;
    pick_case_act(r, cc);
    alloc_data(r, cc);
    run_conv2d(r, cc, seed);
    free_case(cc);
}

static void test_conv2d_random(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 300; ++seed) {
        tt_rng r = {seed};
        conv_case cc;
        memset(&cc, 0, sizeof cc);
        random_geometry(&r, &cc, 1, 12, 5, 3);
        /* groups in 1..3 dividing both channel counts. */
        for (;;) {
            cc.in_d.c = tt_int(&r, 1, 8);
            cc.out_d.c = tt_int(&r, 1, 9);
            cc.p.groups = tt_int(&r, 1, 3);
            if (cc.in_d.c % cc.p.groups == 0 && cc.out_d.c % cc.p.groups == 0)
                break;
        }
        complete_and_run_conv2d(&r, &cc, seed);
    }
}

/* Sizes that make the pixel blocks of the im2col path end unevenly and
 * cross image boundaries, with many channels. */
static void test_conv2d_larger(void **state)
{
    (void)state;
    for (uint64_t seed = 500; seed < 530; ++seed) {
        tt_rng r = {seed};
        conv_case cc;
        memset(&cc, 0, sizeof cc);
        random_geometry(&r, &cc, 5, 24, 4, 2);
        cc.p.groups = tt_int(&r, 1, 2);
        cc.in_d.c = cc.p.groups * tt_int(&r, 1, 20);
        cc.out_d.c = cc.p.groups * tt_int(&r, 1, 24);
        complete_and_run_conv2d(&r, &cc, seed);
    }
}

/* 1x1, stride 1, unpadded, ungrouped: no scratch at all. */
static void test_conv2d_pointwise(void **state)
{
    (void)state;
    for (uint64_t seed = 700; seed < 740; ++seed) {
        tt_rng r = {seed};
        conv_case cc;
        memset(&cc, 0, sizeof cc);
        cc.p = (tq_conv_params){1, 1, 0, 0, 0, 0, tt_int(&r, 1, 3),
                                tt_int(&r, 1, 3), 1};
        cc.in_d = (tq_dims){tt_int(&r, 1, 3), tt_int(&r, 1, 9),
                            tt_int(&r, 1, 9), tt_int(&r, 1, 17)};
        cc.out_d = (tq_dims){cc.in_d.n, cc.in_d.h, cc.in_d.w,
                             tt_int(&r, 1, 13)};
        cc.f_d = (tq_dims){cc.out_d.c, 1, 1, cc.in_d.c};
        pick_case_act(&r, &cc);
        alloc_data(&r, &cc);
        size_t need = 99;
        assert_int_equal(tq_f32_conv2d_scratch_size(&cc.p, &cc.in_d, &cc.f_d,
                                                    &cc.out_d, &need),
                         TQ_OK);
        assert_int_equal(need, 0);
        const size_t count = dims_count(cc.out_d);
        float *out = xmalloc(count * sizeof(float));
        fill_sentinel(out, count);
        assert_int_equal(tq_f32_conv2d(&cc.p, &cc.in_d, cc.in, &cc.f_d,
                                       cc.filter, cc.bias, cc.act, &cc.out_d,
                                       out, NULL, 0),
                         TQ_OK);
        expect_close(&cc, out, seed);
        free(out);
        free_case(&cc);
    }
    /* A 1x1 kernel that is not the fast path (stride 2, padding, groups)
     * still goes through im2col and needs scratch. */
    const tq_dims in_d = {1, 5, 5, 4}, f_d = {4, 1, 1, 4}, f2_d = {4, 1, 1, 2};
    const tq_dims out3 = {1, 3, 3, 4}, out5 = {1, 5, 5, 4}, out7 = {1, 7, 5, 4};
    tq_conv_params p = {2, 2, 0, 0, 0, 0, 1, 1, 1};
    size_t need = 0;
    assert_int_equal(tq_f32_conv2d_scratch_size(&p, &in_d, &f_d, &out3, &need),
                     TQ_OK);
    assert_true(need >= 9 * 4 * sizeof(float));
    p = (tq_conv_params){1, 1, 1, 1, 0, 0, 1, 1, 1};
    assert_int_equal(tq_f32_conv2d_scratch_size(&p, &in_d, &f_d, &out7, &need),
                     TQ_OK);
    assert_true(need > 0);
    p = (tq_conv_params){1, 1, 0, 0, 0, 0, 1, 1, 2};
    assert_int_equal(tq_f32_conv2d_scratch_size(&p, &in_d, &f2_d, &out5,
                                                &need),
                     TQ_OK);
    assert_true(need > 0);
}

/* The two LeNet-5 convolutions (CIFAR-10 variant) with ReLU. */
static void test_conv2d_lenet(void **state)
{
    (void)state;
    static const tq_dims shapes[2][3] = {
        {{1, 32, 32, 3}, {6, 5, 5, 3}, {1, 28, 28, 6}},
        {{2, 14, 14, 6}, {16, 5, 5, 6}, {2, 10, 10, 16}},
    };
    for (int i = 0; i < 2; ++i) {
        tt_rng r = {900 + (uint64_t)i};
        conv_case cc;
        memset(&cc, 0, sizeof cc);
        cc.p = (tq_conv_params){1, 1, 0, 0, 0, 0, 1, 1, 1};
        cc.in_d = shapes[i][0];
        cc.f_d = shapes[i][1];
        cc.out_d = shapes[i][2];
        assert_int_equal(tq_f32_act_from(TQ_ACT_RELU, &cc.act_storage), TQ_OK);
        cc.act = &cc.act_storage;
        alloc_data(&r, &cc);
        run_conv2d(&r, &cc, 900 + (uint64_t)i);
        free_case(&cc);
    }
}

/* ---- depthwise ---------------------------------------------------------- */

static void test_depthwise_random(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 250; ++seed) {
        tt_rng r = {seed * 7919};
        conv_case cc;
        memset(&cc, 0, sizeof cc);
        cc.depthwise = 1;
        random_geometry(&r, &cc, 1, 12, 5, 3);
        cc.p.groups = tt_int(&r, -3, 3); /* ignored by depthwise */
        cc.in_d.c = tt_int(&r, 1, 8);
        cc.out_d.c = cc.in_d.c * tt_int(&r, 1, 3);
        cc.f_d.n = 1;
        cc.f_d.c = cc.out_d.c;
        pick_case_act(&r, &cc);
        alloc_data(&r, &cc);
        const size_t count = dims_count(cc.out_d);
        float *out = xmalloc((count + 3) * sizeof(float));
        fill_sentinel(out, count + 3);
        expect_ok(&cc,
                  tq_f32_depthwise_conv2d(&cc.p, &cc.in_d, cc.in, &cc.f_d,
                                          cc.filter, cc.bias, cc.act,
                                          &cc.out_d, out),
                  seed);
        expect_close(&cc, out, seed);
        assert_true(is_sentinel(out + count, 3));
        free(out);
        free_case(&cc);
    }
}

/* ---- fused conv + clamp + max pool ------------------------------------- */

/* The same act for conv2d and max_pool; NULL means ReLU for the fusion. */
static void check_fused(tt_rng *r, conv_case *cc, uint64_t seed)
{
    char buf[512];
    const tq_dims pooled = {cc->out_d.n, cc->out_d.h / 2, cc->out_d.w / 2,
                            cc->out_d.c};
    tq_f32_act relu;
    assert_int_equal(tq_f32_act_from(TQ_ACT_RELU, &relu), TQ_OK);
    const tq_f32_act *ref_act = cc->act ? cc->act : &relu;
    describe(cc, buf, sizeof buf);

    /* Reference: conv2d, then a 2x2 stride-2 max pool. */
    size_t conv_need = 0;
    assert_int_equal(tq_f32_conv2d_scratch_size(&cc->p, &cc->in_d, &cc->f_d,
                                                &cc->out_d, &conv_need),
                     TQ_OK);
    const size_t conv_count = dims_count(cc->out_d);
    const size_t count = dims_count(pooled);
    float *conv_out = xmalloc(conv_count * sizeof(float));
    float *want = xmalloc(count * sizeof(float));
    void *conv_scratch = xmalloc(conv_need);
    assert_int_equal(tq_f32_conv2d(&cc->p, &cc->in_d, cc->in, &cc->f_d,
                                   cc->filter, cc->bias, ref_act, &cc->out_d,
                                   conv_out, conv_scratch, conv_need),
                     TQ_OK);
    const tq_pool_params pool = {2, 2, 2, 2, 0, 0, 0, 0};
    assert_int_equal(tq_f32_max_pool(&pool, &cc->out_d, conv_out, ref_act,
                                     &pooled, want),
                     TQ_OK);

    /* The pooled values are also checked against the double oracle, so a
     * shared mistake of conv2d and the fusion cannot hide. */
    double *dw = xmalloc(conv_count * sizeof(double));
    double *dm = xmalloc(conv_count * sizeof(double));
    const tq_f32_act *saved = cc->act;
    cc->act = ref_act;
    conv_oracle(cc, dw, dm);
    cc->act = saved;
    const int32_t cout = cc->out_d.c, ow = cc->out_d.w, oh = cc->out_d.h;
    for (size_t i = 0; i < count; ++i) {
        const int32_t c = (int32_t)(i % (size_t)cout);
        const size_t pix = i / (size_t)cout;
        const int32_t px = (int32_t)(pix % (size_t)pooled.w);
        const int32_t py = (int32_t)(pix / (size_t)pooled.w % (size_t)pooled.h);
        const int32_t n = (int32_t)(pix / (size_t)pooled.w / (size_t)pooled.h);
        double best = -INFINITY, tol = 0.0;
        for (int32_t dy = 0; dy < 2; ++dy)
            for (int32_t dx = 0; dx < 2; ++dx) {
                const size_t j =
                    (((size_t)n * oh + 2 * py + dy) * ow + 2 * px + dx) *
                        cout + c;
                best = dw[j] > best ? dw[j] : best;
                const double t = sum_tol(dw[j], dm[j]);
                tol = t > tol ? t : tol;
            }
        if (!(fabs(want[i] - best) <= tol))
            fail_msg("seed %llu %s: pooled[%zu] = %.9g, oracle %.9g",
                     (unsigned long long)seed, buf, i, (double)want[i], best);
    }

    /* The fusion, with exactly the queried scratch at a random shift. */
    size_t need = 0;
    assert_int_equal(tq_f32_conv2d_relu_maxpool2_scratch_size(
                         &cc->p, &cc->in_d, &cc->f_d, &pooled, &need),
                     TQ_OK);
    assert_true(need > 0);
    float *got = xmalloc((count + 4) * sizeof(float));
    fill_sentinel(got, count + 4);
    const size_t shift = (size_t)tt_int(r, 0, 3);
    unsigned char *block = xmalloc(need + shift);
    assert_int_equal(tq_f32_conv2d_relu_maxpool2(
                         &cc->p, &cc->in_d, cc->in, &cc->f_d, cc->filter,
                         cc->bias, cc->act, &pooled, got, block + shift,
                         need - 1),
                     TQ_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(tq_f32_conv2d_relu_maxpool2(
                         &cc->p, &cc->in_d, cc->in, &cc->f_d, cc->filter,
                         cc->bias, cc->act, &pooled, got, NULL, need),
                     TQ_ERR_NULL);
    assert_true(is_sentinel(got, count + 4));
    expect_ok(cc,
              tq_f32_conv2d_relu_maxpool2(&cc->p, &cc->in_d, cc->in, &cc->f_d,
                                          cc->filter, cc->bias, cc->act,
                                          &pooled, got, block + shift, need),
              seed);
    if (memcmp(got, want, count * sizeof(float)) != 0) {
        for (size_t i = 0; i < count; ++i)
            if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
                fail_msg("seed %llu %s: fused[%zu] = %.9g, unfused %.9g",
                         (unsigned long long)seed, buf, i, (double)got[i],
                         (double)want[i]);
    }
    assert_true(is_sentinel(got + count, 4));

    free(block);
    free(got);
    free(dw);
    free(dm);
    free(conv_scratch);
    free(want);
    free(conv_out);
}

static void test_fused_random(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 200; ++seed) {
        tt_rng r = {seed * 104729};
        conv_case cc;
        memset(&cc, 0, sizeof cc);
        do
            random_geometry(&r, &cc, 2, seed % 5 == 0 ? 40 : 14, 5, 2);
        while (cc.out_d.h < 2 || cc.out_d.w < 2);
        cc.p.groups = 1;
        cc.in_d.c = tt_int(&r, 1, 6);
        cc.out_d.c = tt_int(&r, 1, 9);
        cc.f_d.n = cc.out_d.c;
        cc.f_d.c = cc.in_d.c;
        pick_case_act(&r, &cc);
        alloc_data(&r, &cc);
        check_fused(&r, &cc, seed);
        free_case(&cc);
    }
}

/* LeNet's first stage: 32x32x3 -> conv 5x5 -> 28x28x6 -> pool 14x14x6, and
 * the 1x1 shape (which conv2d runs on its pointwise path) with odd extents. */
static void test_fused_lenet_and_pointwise(void **state)
{
    (void)state;
    static const struct {
        tq_dims in_d, f_d, out_d;
        int relu6; /* else no clamp: the fusion's own ReLU */
        uint64_t seed;
    } cases[2] = {
        {{2, 32, 32, 3}, {6, 5, 5, 3}, {2, 28, 28, 6}, 0, 4242},
        {{1, 7, 9, 5}, {3, 1, 1, 5}, {1, 7, 9, 3}, 1, 4243},
    };
    tt_rng r = {4242};
    for (int i = 0; i < 2; ++i) {
        conv_case cc;
        memset(&cc, 0, sizeof cc);
        cc.p = (tq_conv_params){1, 1, 0, 0, 0, 0, 1, 1, 1};
        cc.in_d = cases[i].in_d;
        cc.f_d = cases[i].f_d;
        cc.out_d = cases[i].out_d;
        if (cases[i].relu6) {
            assert_int_equal(tq_f32_act_from(TQ_ACT_RELU6, &cc.act_storage),
                             TQ_OK);
            cc.act = &cc.act_storage;
        }
        alloc_data(&r, &cc);
        check_fused(&r, &cc, cases[i].seed);
        free_case(&cc);
    }
}

/* Ties: zero input and a negative bias make every conv output clamp to
 * exactly 0 under the default ReLU, and a constant input makes whole pool
 * windows equal; the fusion must pick the same bits as max_pool. */
static void test_fused_ties(void **state)
{
    (void)state;
    conv_case cc;
    tt_rng r = {31337};
    memset(&cc, 0, sizeof cc);
    cc.p = (tq_conv_params){1, 1, 1, 0, 0, 1, 1, 1, 1};
    cc.in_d = (tq_dims){1, 6, 6, 2};
    cc.f_d = (tq_dims){4, 3, 3, 2};
    cc.out_d = (tq_dims){1, 5, 5, 4};
    alloc_data(&r, &cc);
    free(cc.bias);
    cc.bias = xmalloc(4 * sizeof(float));
    for (int i = 0; i < 4; ++i)
        cc.bias[i] = i % 2 ? -0.25f : 0.0f;
    for (size_t i = 0; i < dims_count(cc.in_d); ++i)
        cc.in[i] = (i % 3 == 0) ? -0.0f : 0.0f;
    cc.act = NULL;
    check_fused(&r, &cc, 31337);
    for (size_t i = 0; i < dims_count(cc.in_d); ++i)
        cc.in[i] = 0.5f;
    check_fused(&r, &cc, 31338);
    free_case(&cc);
}

/* ---- error paths -------------------------------------------------------- */

typedef struct conv_args {
    tq_conv_params p;
    tq_dims in_d, f_d, out_d;
    const float *in, *filter, *bias;
    const tq_f32_act *act;
    float *out;
    void *scratch;
    size_t scratch_bytes;
} conv_args;

static tq_status call_conv(const conv_args *a)
{
    return tq_f32_conv2d(&a->p, &a->in_d, a->in, &a->f_d, a->filter, a->bias,
                         a->act, &a->out_d, a->out, a->scratch,
                         a->scratch_bytes);
}

static void test_conv2d_errors(void **state)
{
    (void)state;
    static float in[2 * 6 * 6 * 4], filter[6 * 3 * 3 * 2], bias[6];
    static float out[2 * 4 * 4 * 6 + 16];
    static unsigned char scratch[1 << 16];
    tt_rng r = {5};
    tt_fill_f32(&r, in, sizeof in / sizeof in[0], -1, 1);
    tt_fill_f32(&r, filter, sizeof filter / sizeof filter[0], -1, 1);
    tt_fill_f32(&r, bias, 6, -1, 1);
    const size_t out_n = sizeof out / sizeof out[0];
    fill_sentinel(out, out_n);

    const conv_args good = {{1, 1, 0, 0, 0, 0, 1, 1, 2},
                            {2, 6, 6, 4},
                            {6, 3, 3, 2},
                            {2, 4, 4, 6},
                            in,
                            filter,
                            bias,
                            NULL,
                            out,
                            scratch,
                            sizeof scratch};
    size_t need = 0;
    assert_int_equal(tq_f32_conv2d_scratch_size(&good.p, &good.in_d, &good.f_d,
                                                &good.out_d, &need),
                     TQ_OK);
    assert_true(need > 0 && need <= sizeof scratch);
    conv_args a;
    tq_f32_act bad_act = {2.0f, 1.0f};

    /* Applies one edit to the good call and expects status from the kernel
     * with the output untouched, and (query != 0) from the scratch query. */
#define EXPECT_Q(status, query, edit)                                        \
    do {                                                                     \
        a = good;                                                            \
        edit;                                                                \
        assert_int_equal(call_conv(&a), status);                            \
        assert_true(is_sentinel(out, out_n));                                \
        size_t q_ = 12345;                                                   \
        if (query)                                                           \
            assert_int_equal(tq_f32_conv2d_scratch_size(&a.p, &a.in_d,       \
                                                        &a.f_d, &a.out_d,    \
                                                        &q_),                \
                             status);                                        \
        assert_true(!(query) || q_ == 12345);                                \
    } while (0)
#define EXPECT(status, edit) EXPECT_Q(status, 1, edit)
#define EXPECT_K(status, edit) EXPECT_Q(status, 0, edit)

    /* Output extents that disagree with the geometry. */
    EXPECT(TQ_ERR_SHAPE, a.out_d.h = 5);
    EXPECT(TQ_ERR_SHAPE, a.out_d.w = 3);
    EXPECT(TQ_ERR_SHAPE, a.out_d.n = 1);
    EXPECT(TQ_ERR_SHAPE, a.out_d.c = 4);
    EXPECT(TQ_ERR_SHAPE, a.out_d.c = 0);
    /* Filter inconsistent with the input or output channels. */
    EXPECT(TQ_ERR_SHAPE, a.f_d.c = 4);
    EXPECT(TQ_ERR_SHAPE, a.f_d.n = 4);
    EXPECT(TQ_ERR_SHAPE, a.f_d.h = 0);
    EXPECT(TQ_ERR_SHAPE, a.in_d.c = 3);
    /* Groups not dividing the channels, or illegal. */
    EXPECT(TQ_ERR_SHAPE, a.p.groups = 3);
    EXPECT(TQ_ERR_SHAPE, (a.p.groups = 4, a.f_d.c = 1));
    EXPECT(TQ_ERR_PARAM, a.p.groups = 0);
    EXPECT(TQ_ERR_PARAM, a.p.groups = -2);
    /* Illegal geometry parameters. */
    EXPECT(TQ_ERR_PARAM, a.p.stride_h = 0);
    EXPECT(TQ_ERR_PARAM, a.p.stride_w = -1);
    EXPECT(TQ_ERR_PARAM, a.p.pad_top = -1);
    EXPECT(TQ_ERR_PARAM, a.p.pad_right = -1);
    EXPECT(TQ_ERR_PARAM, a.p.dilation_w = 0);
    /* A window larger than the padded input. */
    EXPECT(TQ_ERR_SHAPE, (a.f_d.h = 7, a.out_d.h = 1));
    /* NULL pointers. */
    EXPECT_K(TQ_ERR_NULL, a.in = NULL);
    EXPECT_K(TQ_ERR_NULL, a.filter = NULL);
    EXPECT_K(TQ_ERR_NULL, a.out = NULL);
    EXPECT_K(TQ_ERR_NULL, a.scratch = NULL);
    /* Bad clamp. */
    EXPECT_K(TQ_ERR_PARAM, a.act = &bad_act);
    /* Scratch one byte short. */
    EXPECT_K(TQ_ERR_BUFFER_TOO_SMALL, a.scratch_bytes = need - 1);
    EXPECT_K(TQ_ERR_BUFFER_TOO_SMALL, a.scratch_bytes = 0);
    /* Output overlapping the input, filter, bias or scratch. */
    EXPECT_K(TQ_ERR_ALIAS, a.in = out + 10);
    EXPECT_K(TQ_ERR_ALIAS, a.filter = out + 100);
    EXPECT_K(TQ_ERR_ALIAS, a.bias = out + 191);
    EXPECT_K(TQ_ERR_ALIAS, a.scratch = (unsigned char *)(void *)(out + 50));
#undef EXPECT_K
#undef EXPECT_Q
#undef EXPECT

    /* NULL descriptors and query output. */
    size_t q;
    assert_int_equal(tq_f32_conv2d(NULL, &good.in_d, in, &good.f_d, filter,
                                   NULL, NULL, &good.out_d, out, scratch,
                                   need),
                     TQ_ERR_NULL);
    assert_int_equal(tq_f32_conv2d(&good.p, NULL, in, &good.f_d, filter, NULL,
                                   NULL, &good.out_d, out, scratch, need),
                     TQ_ERR_NULL);
    assert_int_equal(tq_f32_conv2d(&good.p, &good.in_d, in, NULL, filter, NULL,
                                   NULL, &good.out_d, out, scratch, need),
                     TQ_ERR_NULL);
    assert_int_equal(tq_f32_conv2d(&good.p, &good.in_d, in, &good.f_d, filter,
                                   NULL, NULL, NULL, out, scratch, need),
                     TQ_ERR_NULL);
    assert_int_equal(tq_f32_conv2d_scratch_size(&good.p, &good.in_d,
                                                &good.f_d, &good.out_d, NULL),
                     TQ_ERR_NULL);
    assert_int_equal(tq_f32_conv2d_scratch_size(NULL, &good.in_d, &good.f_d,
                                                &good.out_d, &q),
                     TQ_ERR_NULL);
    assert_true(is_sentinel(out, out_n));

    /* Element counts beyond size_t, and a reduction beyond int32: refused
     * before anything is touched (the buffers are far too small, so any
     * access would be caught by the sanitizers). */
    const tq_conv_params unit = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    const tq_dims huge = {INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX};
    const tq_dims huge_f = {INT32_MAX, 1, 1, INT32_MAX};
    assert_int_equal(tq_f32_conv2d_scratch_size(&unit, &huge, &huge_f, &huge,
                                                &q),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(tq_f32_conv2d(&unit, &huge, in, &huge_f, filter, NULL,
                                   NULL, &huge, out, scratch, sizeof scratch),
                     TQ_ERR_OVERFLOW);
    const tq_dims wide_in = {1, 65536, 65536, 1};
    const tq_dims wide_f = {1, 65536, 65536, 1};
    const tq_dims wide_out = {1, 1, 1, 1};
    assert_int_equal(tq_f32_conv2d_scratch_size(&unit, &wide_in, &wide_f,
                                                &wide_out, &q),
                     TQ_ERR_OVERFLOW);
    assert_true(is_sentinel(out, out_n));
}

static void test_depthwise_errors(void **state)
{
    (void)state;
    static float in[1 * 5 * 5 * 3], filter[3 * 3 * 6], bias[6];
    static float out[1 * 3 * 3 * 6 + 8];
    tt_rng r = {6};
    tt_fill_f32(&r, in, sizeof in / sizeof in[0], -1, 1);
    tt_fill_f32(&r, filter, sizeof filter / sizeof filter[0], -1, 1);
    const size_t out_n = sizeof out / sizeof out[0];
    fill_sentinel(out, out_n);
    const tq_conv_params good = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    const tq_dims in_d = {1, 5, 5, 3}, f_d = {1, 3, 3, 6}, out_d = {1, 3, 3, 6};
    tq_conv_params p;
    tq_dims i2, f2, o2;
    tq_f32_act bad_act = {NAN, 0.0f};

#define DW(status, edit)                                                     \
    do {                                                                     \
        p = good;                                                            \
        i2 = in_d;                                                           \
        f2 = f_d;                                                            \
        o2 = out_d;                                                          \
        const float *xi = in, *xf = filter, *xb = bias;                      \
        const tq_f32_act *xa = NULL;                                         \
        float *xo = out;                                                     \
        edit;                                                                \
        assert_int_equal(tq_f32_depthwise_conv2d(&p, &i2, xi, &f2, xf, xb,   \
                                                 xa, &o2, xo),               \
                         status);                                            \
        assert_true(is_sentinel(out, out_n));                                \
    } while (0)

    DW(TQ_ERR_SHAPE, f2.n = 2);
    DW(TQ_ERR_SHAPE, (f2.c = 4, o2.c = 4));
    DW(TQ_ERR_SHAPE, f2.c = 3);
    DW(TQ_ERR_SHAPE, o2.c = 3);
    DW(TQ_ERR_SHAPE, o2.h = 4);
    DW(TQ_ERR_SHAPE, i2.c = 4);
    DW(TQ_ERR_SHAPE, o2.n = 2);
    DW(TQ_ERR_PARAM, p.stride_h = 0);
    DW(TQ_ERR_PARAM, p.pad_left = -1);
    DW(TQ_ERR_PARAM, p.dilation_h = 0);
    DW(TQ_ERR_PARAM, xa = &bad_act);
    DW(TQ_ERR_NULL, xi = NULL);
    DW(TQ_ERR_NULL, xf = NULL);
    DW(TQ_ERR_NULL, xo = NULL);
    DW(TQ_ERR_ALIAS, xi = out + 1);
    DW(TQ_ERR_ALIAS, xb = out + 53);
    assert_int_equal(tq_f32_depthwise_conv2d(NULL, &in_d, in, &f_d, filter,
                                             bias, NULL, &out_d, out),
                     TQ_ERR_NULL);
    assert_int_equal(tq_f32_depthwise_conv2d(&good, &in_d, in, NULL, filter,
                                             bias, NULL, &out_d, out),
                     TQ_ERR_NULL);
    assert_true(is_sentinel(out, out_n));
#undef DW
    /* Sanity: the unedited call succeeds. */
    assert_int_equal(tq_f32_depthwise_conv2d(&good, &in_d, in, &f_d, filter,
                                             bias, NULL, &out_d, out),
                     TQ_OK);
    assert_true(is_sentinel(out + 54, out_n - 54));
}

static void test_fused_errors(void **state)
{
    (void)state;
    static float in[1 * 9 * 8 * 2], filter[4 * 3 * 3 * 2], bias[4];
    static float out[1 * 3 * 3 * 4 + 8];
    static unsigned char scratch[1 << 14];
    tt_rng r = {7};
    tt_fill_f32(&r, in, sizeof in / sizeof in[0], -1, 1);
    tt_fill_f32(&r, filter, sizeof filter / sizeof filter[0], -1, 1);
    const size_t out_n = sizeof out / sizeof out[0];
    fill_sentinel(out, out_n);
    /* conv: 9x8 -> 7x6 (odd height), pooled 3x3. */
    const tq_conv_params good = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    const tq_dims in_d = {1, 9, 8, 2}, f_d = {4, 3, 3, 2}, out_d = {1, 3, 3, 4};
    size_t need = 0;
    assert_int_equal(tq_f32_conv2d_relu_maxpool2_scratch_size(
                         &good, &in_d, &f_d, &out_d, &need),
                     TQ_OK);
    assert_true(need > 0 && need <= sizeof scratch);
    tq_conv_params p;
    tq_dims i2, f2, o2;
    tq_f32_act bad_act = {1.0f, -1.0f};

#define FU(status, edit)                                                     \
    do {                                                                     \
        p = good;                                                            \
        i2 = in_d;                                                           \
        f2 = f_d;                                                            \
        o2 = out_d;                                                          \
        const float *xi = in, *xf = filter, *xb = bias;                      \
        const tq_f32_act *xa = NULL;                                         \
        float *xo = out;                                                     \
        void *xs = scratch;                                                  \
        size_t xn = sizeof scratch;                                          \
        edit;                                                                \
        assert_int_equal(tq_f32_conv2d_relu_maxpool2(&p, &i2, xi, &f2, xf,   \
                                                     xb, xa, &o2, xo, xs,    \
                                                     xn),                    \
                         status);                                            \
        assert_true(is_sentinel(out, out_n));                                \
    } while (0)

    FU(TQ_ERR_UNSUPPORTED, (p.groups = 2, f2.c = 1));
    FU(TQ_ERR_PARAM, p.groups = 0);
    FU(TQ_ERR_SHAPE, o2.h = 4); /* a wrong pooled extent */
    FU(TQ_ERR_SHAPE, o2.w = 2);
    FU(TQ_ERR_SHAPE, o2.c = 3);
    FU(TQ_ERR_SHAPE, o2.n = 2);
    FU(TQ_ERR_SHAPE, (o2.h = 7, o2.w = 6)); /* the conv extents */
    FU(TQ_ERR_SHAPE, f2.c = 3);
    /* Conv height 1 pools to 0 rows. */
    FU(TQ_ERR_SHAPE, (i2.h = 3, o2.h = 0));
    FU(TQ_ERR_SHAPE, (i2.h = 3, o2.h = 1));
    FU(TQ_ERR_PARAM, p.stride_w = 0);
    FU(TQ_ERR_PARAM, p.pad_bottom = -2);
    FU(TQ_ERR_PARAM, xa = &bad_act);
    FU(TQ_ERR_NULL, xi = NULL);
    FU(TQ_ERR_NULL, xf = NULL);
    FU(TQ_ERR_NULL, xo = NULL);
    FU(TQ_ERR_NULL, xs = NULL);
    FU(TQ_ERR_BUFFER_TOO_SMALL, xn = need - 1);
    FU(TQ_ERR_ALIAS, xi = out + 3);
    FU(TQ_ERR_ALIAS, xs = (void *)(out + 20));
#undef FU
    size_t q;
    assert_int_equal(tq_f32_conv2d_relu_maxpool2_scratch_size(
                         &good, &in_d, &f_d, &out_d, NULL),
                     TQ_ERR_NULL);
    p = good;
    p.groups = 2;
    f2 = f_d;
    f2.c = 1;
    assert_int_equal(tq_f32_conv2d_relu_maxpool2_scratch_size(&p, &in_d, &f2,
                                                              &out_d, &q),
                     TQ_ERR_UNSUPPORTED);
    assert_true(is_sentinel(out, out_n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_random),
        cmocka_unit_test(test_conv2d_larger),
        cmocka_unit_test(test_conv2d_pointwise),
        cmocka_unit_test(test_conv2d_lenet),
        cmocka_unit_test(test_depthwise_random),
        cmocka_unit_test(test_fused_random),
        cmocka_unit_test(test_fused_lenet_and_pointwise),
        cmocka_unit_test(test_fused_ties),
        cmocka_unit_test(test_conv2d_errors),
        cmocka_unit_test(test_depthwise_errors),
        cmocka_unit_test(test_fused_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
