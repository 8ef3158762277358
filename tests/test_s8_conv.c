/*
 * Tests of the int8 convolutions (conv2d, depthwise, the fused
 * conv + ReLU + 2x2 max pool) against a naive int64 oracle written from
 * docs/int8-arithmetic.md (the accumulators here, the requantization in
 * oracle_s8.h).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "oracle_s8.h"
#include "testutil.h"
#include "tinyq.h"

#define SENT8 ((int8_t)0x5A)

/* ---- oracle (the requantization and the stage are in oracle_s8.h) ---- */

/* A convolution problem: geometry, data, and the oracle's view of it. */
typedef struct conv_case {
    tq_conv_params cp;
    tq_dims in, filter, out;
    int32_t input_offset;
    int8_t *x, *w;
    int32_t *bias;
    stage st;
} conv_case;

/* Exact accumulator of conv2d output (n, oy, ox, oc), int64, bias added. */
static int64_t o_conv_acc(const conv_case *c, int n, int oy, int ox, int oc)
{
    const int cin_g = c->filter.c;
    const int cout_g = c->filter.n / c->cp.groups;
    const int g = oc / cout_g;
    int64_t acc = 0;
    for (int ky = 0; ky < c->filter.h; ++ky) {
        const int iy = oy * c->cp.stride_h + ky * c->cp.dilation_h - c->cp.pad_top;
        for (int kx = 0; kx < c->filter.w; ++kx) {
            const int ix =
                ox * c->cp.stride_w + kx * c->cp.dilation_w - c->cp.pad_left;
            if (iy < 0 || iy >= c->in.h || ix < 0 || ix >= c->in.w)
                continue;
            for (int ci = 0; ci < cin_g; ++ci) {
                const int64_t xv =
                    c->x[(((size_t)n * c->in.h + iy) * c->in.w + ix) * c->in.c +
                         (size_t)g * cin_g + ci];
                const int64_t wv =
                    c->w[(((size_t)oc * c->filter.h + ky) * c->filter.w + kx) *
                             cin_g +
                         ci];
                acc += wv * (xv + c->input_offset);
            }
        }
    }
    return acc + (c->bias ? c->bias[oc] : 0);
}

/* Depthwise accumulator: filter {1, KH, KW, Cout}, oc = ic·M + m. */
static int64_t o_dw_acc(const conv_case *c, int n, int oy, int ox, int oc)
{
    const int mult = c->out.c / c->in.c;
    const int ic = oc / mult;
    int64_t acc = 0;
    for (int ky = 0; ky < c->filter.h; ++ky) {
        const int iy = oy * c->cp.stride_h + ky * c->cp.dilation_h - c->cp.pad_top;
        for (int kx = 0; kx < c->filter.w; ++kx) {
            const int ix =
                ox * c->cp.stride_w + kx * c->cp.dilation_w - c->cp.pad_left;
            if (iy < 0 || iy >= c->in.h || ix < 0 || ix >= c->in.w)
                continue;
            const int64_t xv =
                c->x[(((size_t)n * c->in.h + iy) * c->in.w + ix) * c->in.c + ic];
            const int64_t wv =
                c->w[((size_t)ky * c->filter.w + kx) * c->out.c + oc];
            acc += wv * (xv + c->input_offset);
        }
    }
    return acc + (c->bias ? c->bias[oc] : 0);
}

static size_t dims_count(const tq_dims *d)
{
    return (size_t)d->n * d->h * d->w * d->c;
}

/* ---- random cases ------------------------------------------------------ */

static int out_extent(int in, int k, int s, int d, int p0, int p1)
{
    const int span = in + p0 + p1, win = d * (k - 1) + 1;
    return win > span ? 0 : (span - win) / s + 1;
}

static int pick_input_offset(tt_rng *r)
{
    switch (tt_int(r, 0, 5)) {
    case 0: return 128;  /* zero point -128 */
    case 1: return -127; /* zero point 127 */
    case 2: return 0;
    default: return tt_int(r, -127, 128);
    }
}

static void make_stage(tt_rng *r, int channels, int k, stage *s)
{
    const int per_channel = tt_int(r, 0, 1);
    const int count = per_channel ? channels : 1;
    /* Typical accumulators are ~ 2^14 · sqrt(k): pick shifts around that
     * so outputs land everywhere, with some left shifts and some that
     * saturate. */
    int base = 0;
    while ((1 << base) < k)
        ++base;
    for (int i = 0; i < count; ++i) {
        s->mult[i] = tt_int(r, 0, 9) == 0 ? tt_int(r, 0, INT32_MAX)
                                           : tt_int(r, 1 << 30, INT32_MAX);
        switch (tt_int(r, 0, 5)) {
        case 0: s->shift[i] = tt_int(r, 1, 3); break;
        case 1: s->shift[i] = tt_int(r, -31, -20); break;
        default: s->shift[i] = -7 - base / 2 - tt_int(r, 0, 4);
        }
    }
    finish_random_stage(r, s, per_channel, 5);
}

/* Random geometry whose window fits; groups divide both channel counts. */
static void make_geometry(tt_rng *r, conv_case *c, int depthwise)
{
    for (;;) {
        c->in.n = tt_int(r, 1, 2);
        c->in.h = tt_int(r, 1, 12);
        c->in.w = tt_int(r, 1, 12);
        c->in.c = tt_int(r, 1, 8);
        const int kh = tt_int(r, 1, 5), kw = tt_int(r, 1, 5);
        c->cp.stride_h = tt_int(r, 1, 3);
        c->cp.stride_w = tt_int(r, 1, 3);
        c->cp.dilation_h = tt_int(r, 1, 2);
        c->cp.dilation_w = tt_int(r, 1, 2);
        c->cp.pad_top = tt_int(r, 0, 2);
        c->cp.pad_bottom = tt_int(r, 0, 2);
        c->cp.pad_left = tt_int(r, 0, 2);
        c->cp.pad_right = tt_int(r, 0, 2);
        const int oh = out_extent(c->in.h, kh, c->cp.stride_h, c->cp.dilation_h,
                                  c->cp.pad_top, c->cp.pad_bottom);
        const int ow = out_extent(c->in.w, kw, c->cp.stride_w, c->cp.dilation_w,
                                  c->cp.pad_left, c->cp.pad_right);
        if (oh < 1 || ow < 1)
            continue;
        int cout;
        if (depthwise) {
            cout = c->in.c * tt_int(r, 1, 3);
            c->cp.groups = tt_int(r, 1, 4); /* ignored by depthwise */
            c->filter = (tq_dims){1, kh, kw, cout};
        } else {
            cout = tt_int(r, 1, 9);
            int divs[9], nd = 0;
            for (int g = 1; g <= 8; ++g)
                if (c->in.c % g == 0 && cout % g == 0)
                    divs[nd++] = g;
            c->cp.groups = tt_int(r, 0, 1) ? divs[tt_int(r, 0, nd - 1)] : 1;
            c->filter = (tq_dims){cout, kh, kw, c->in.c / c->cp.groups};
        }
        c->out = (tq_dims){c->in.n, oh, ow, cout};
        return;
    }
}

static void fill_case(tt_rng *r, conv_case *c)
{
    c->input_offset = pick_input_offset(r);
    c->x = malloc(dims_count(&c->in));
    c->w = malloc(dims_count(&c->filter));
    assert_non_null(c->x);
    assert_non_null(c->w);
    /* Mostly uniform; sometimes the extremes only. */
    if (tt_int(r, 0, 4) == 0) {
        for (size_t i = 0; i < dims_count(&c->in); ++i)
            c->x[i] = tt_int(r, 0, 1) ? -128 : 127;
    } else {
        tt_fill_s8(r, c->x, dims_count(&c->in), -128, 127);
    }
    tt_fill_s8(r, c->w, dims_count(&c->filter), tt_int(r, 0, 3) ? -127 : -128,
               127);
    c->bias = NULL;
    if (tt_int(r, 0, 3)) {
        c->bias = malloc((size_t)c->out.c * sizeof(int32_t));
        assert_non_null(c->bias);
        for (int i = 0; i < c->out.c; ++i)
            c->bias[i] = tt_int(r, 0, 9) == 0
                             ? (tt_int(r, 0, 1) ? INT32_MAX - tt_int(r, 0, 99)
                                                : INT32_MIN + tt_int(r, 0, 99))
                             : tt_int(r, -50000, 50000);
    }
    const int k = c->filter.h * c->filter.w * c->filter.c;
    make_stage(r, c->out.c, k, &c->st);
}

static void free_case(conv_case *c)
{
    free(c->x);
    free(c->w);
    free(c->bias);
}

static void describe(const conv_case *c, const char *what, int iter)
{
    print_message("%s case %d: in {%d,%d,%d,%d} filter {%d,%d,%d,%d} out "
                  "{%d,%d,%d,%d} stride %d,%d dil %d,%d pad t%d b%d l%d r%d "
                  "groups %d in_off %d pc %d rnd %d\n",
                  what, iter, c->in.n, c->in.h, c->in.w, c->in.c, c->filter.n,
                  c->filter.h, c->filter.w, c->filter.c, c->out.n, c->out.h,
                  c->out.w, c->out.c, c->cp.stride_h, c->cp.stride_w,
                  c->cp.dilation_h, c->cp.dilation_w, c->cp.pad_top,
                  c->cp.pad_bottom, c->cp.pad_left, c->cp.pad_right,
                  c->cp.groups, c->input_offset, c->st.os.per_channel,
                  c->st.os.rounding);
}

/* Run tq_s8_conv2d with exactly the queried scratch at a pointer that
 * needs the full alignment slack, guard bytes behind it. */
static void run_conv(const conv_case *c, int8_t *out)
{
    size_t bytes = 0;
    assert_int_equal(tq_s8_conv2d_scratch_size(&c->cp, &c->in, &c->filter,
                                               &c->out, &bytes),
                     TQ_OK);
    unsigned char *buf = malloc(bytes + 16);
    assert_non_null(buf);
    unsigned char *scratch = buf;
    while ((uintptr_t)scratch % 4 != 1)
        ++scratch;
    memset(buf, 0xA5, bytes + 16);
    assert_int_equal(tq_s8_conv2d(&c->cp, &c->in, c->x, c->input_offset,
                                  &c->filter, c->w, c->bias, &c->st.os, &c->out,
                                  out, scratch, bytes),
                     TQ_OK);
    for (unsigned char *g = scratch + bytes; g < buf + bytes + 16; ++g)
        assert_int_equal(*g, 0xA5);
    free(buf);
}

static int check_conv_out(const conv_case *c, const int8_t *out, int depthwise,
                          const char *what, int iter, int *lo, int *hi)
{
    size_t idx = 0;
    for (int n = 0; n < c->out.n; ++n)
        for (int oy = 0; oy < c->out.h; ++oy)
            for (int ox = 0; ox < c->out.w; ++ox)
                for (int oc = 0; oc < c->out.c; ++oc, ++idx) {
                    const int64_t acc = depthwise ? o_dw_acc(c, n, oy, ox, oc)
                                                  : o_conv_acc(c, n, oy, ox, oc);
                    const int8_t want = o_stage(&c->st, acc, oc);
                    *lo += want == -128;
                    *hi += want == 127;
                    if (out[idx] != want) {
                        describe(c, what, iter);
                        print_message("  out[%d][%d][%d][%d] = %d, want %d "
                                      "(acc %lld)\n",
                                      n, oy, ox, oc, out[idx], want,
                                      (long long)acc);
                        return 0;
                    }
                }
    return 1;
}

/* Run conv2d (or depthwise) on a sentinel-filled output and check every
 * element against the oracle, counting the outputs saturated low and high
 * (lo and hi may be NULL); the caller frees the returned output. */
static int8_t *run_and_check(const conv_case *c, int depthwise,
                             const char *what, int iter, int *lo, int *hi)
{
    const size_t n_out = dims_count(&c->out);
    int8_t *out = malloc(n_out);
    assert_non_null(out);
    memset(out, SENT8, n_out);
    if (depthwise)
        assert_int_equal(tq_s8_depthwise_conv2d(&c->cp, &c->in, c->x,
                                                c->input_offset, &c->filter,
                                                c->w, c->bias, &c->st.os,
                                                &c->out, out),
                         TQ_OK);
    else
        run_conv(c, out);
    int lo_unused = 0, hi_unused = 0;
    if (!check_conv_out(c, out, depthwise, what, iter, lo ? lo : &lo_unused,
                        hi ? hi : &hi_unused))
        fail();
    return out;
}

/* The fused kernel's unfused reference: conv_out (the conv2d output of c)
 * through a 2x2 stride-2 max pool into pooled; the caller frees it. */
static int8_t *max_pool2_reference(const conv_case *c, const int8_t *conv_out,
                                   const tq_dims *pooled)
{
    int8_t *ref = malloc(dims_count(pooled));
    assert_non_null(ref);
    const tq_pool_params pp = {2, 2, 2, 2, 0, 0, 0, 0};
    assert_int_equal(tq_s8_max_pool(&pp, &c->out, conv_out, -128, 127, pooled,
                                    ref),
                     TQ_OK);
    return ref;
}

/* ---- conv2d ------------------------------------------------------------ */

static void test_conv2d_random(void **state)
{
    (void)state;
    tt_rng r = {0xc0de0001u};
    int lo = 0, hi = 0, grouped = 0, left = 0, zp_min = 0, zp_max = 0;
    for (int iter = 0; iter < 400; ++iter) {
        conv_case c;
        make_geometry(&r, &c, 0);
        fill_case(&r, &c);
        grouped += c.cp.groups > 1;
        left += c.st.shift[0] > 0;
        zp_min += c.input_offset == 128;
        zp_max += c.input_offset == -127;
        free(run_and_check(&c, 0, "conv2d", iter, &lo, &hi));
        free_case(&c);
    }
    assert_true(lo > 0 && hi > 0);
    assert_true(grouped > 20 && left > 10 && zp_min > 10 && zp_max > 10);
}

/* The 1x1 / stride 1 / unpadded path reads the input in place. */
static void test_conv2d_pointwise(void **state)
{
    (void)state;
    tt_rng r = {0xc0de0002u};
    for (int iter = 0; iter < 60; ++iter) {
        conv_case c;
        memset(&c, 0, sizeof c);
        c.cp = (tq_conv_params){1, 1, 0, 0, 0, 0, tt_int(&r, 1, 2),
                                tt_int(&r, 1, 2), 1};
        c.in = (tq_dims){tt_int(&r, 1, 3), tt_int(&r, 1, 9), tt_int(&r, 1, 9),
                         tt_int(&r, 1, 16)};
        c.filter = (tq_dims){tt_int(&r, 1, 16), 1, 1, c.in.c};
        c.out = (tq_dims){c.in.n, c.in.h, c.in.w, c.filter.n};
        fill_case(&r, &c);
        free(run_and_check(&c, 0, "pointwise", iter, NULL, NULL));
        free_case(&c);
    }
}

/* The lab's CIFAR-10 LeNet (PyTorch tutorial) and the classic LeNet-5. */
static void test_conv2d_lenet(void **state)
{
    (void)state;
    tt_rng r = {0xc0de0003u};
    const struct {
        tq_dims in, filter;
    } layers[4] = {
        {{2, 32, 32, 3}, {6, 5, 5, 3}},
        {{2, 14, 14, 6}, {16, 5, 5, 6}},
        {{1, 32, 32, 1}, {6, 5, 5, 1}},
        {{1, 14, 14, 6}, {16, 5, 5, 6}},
    };
    for (int l = 0; l < 4; ++l) {
        conv_case c;
        memset(&c, 0, sizeof c);
        c.cp = (tq_conv_params){1, 1, 0, 0, 0, 0, 1, 1, 1};
        c.in = layers[l].in;
        c.filter = layers[l].filter;
        c.out = (tq_dims){c.in.n, c.in.h - 4, c.in.w - 4, c.filter.n};
        fill_case(&r, &c);
        c.st.os.act_min = c.st.os.output_offset; /* ReLU */
        c.st.os.act_max = 127;
        free(run_and_check(&c, 0, "lenet", l, NULL, NULL));
        free_case(&c);
    }
}

/* Wide layers: the pixel block shrinks to keep the scratch small (and the
 * last block is partial); conv and the fused kernel must not care. */
static void test_conv2d_wide_layers(void **state)
{
    (void)state;
    tt_rng r = {0xc0de0008u};
    const struct {
        tq_dims in, filter;
        int pad;
    } layers[3] = {
        {{1, 8, 8, 64}, {64, 3, 3, 64}, 1},
        {{1, 7, 5, 16}, {150, 3, 3, 16}, 1},
        {{1, 9, 9, 200}, {40, 1, 1, 200}, 0},
    };
    for (int l = 0; l < 3; ++l) {
        conv_case c;
        memset(&c, 0, sizeof c);
        const int p = layers[l].pad;
        c.cp = (tq_conv_params){1, 1, p, p, p, p, 1, 1, 1};
        c.in = layers[l].in;
        c.filter = layers[l].filter;
        c.out = (tq_dims){1, c.in.h + 2 * p - c.filter.h + 1,
                          c.in.w + 2 * p - c.filter.w + 1, c.filter.n};
        fill_case(&r, &c);
        int8_t *out = run_and_check(&c, 0, "wide", l, NULL, NULL);
        const tq_dims pooled = {1, c.out.h / 2, c.out.w / 2, c.out.c};
        int8_t *ref = max_pool2_reference(&c, out, &pooled);
        int8_t *fused = malloc(dims_count(&pooled));
        assert_non_null(fused);
        size_t bytes = 0;
        assert_int_equal(tq_s8_conv2d_relu_maxpool2_scratch_size(
                             &c.cp, &c.in, &c.filter, &pooled, &bytes),
                         TQ_OK);
        void *scratch = malloc(bytes);
        assert_non_null(scratch);
        assert_int_equal(tq_s8_conv2d_relu_maxpool2(
                             &c.cp, &c.in, c.x, c.input_offset, &c.filter, c.w,
                             c.bias, &c.st.os, &pooled, fused, scratch, bytes),
                         TQ_OK);
        assert_memory_equal(fused, ref, dims_count(&pooled));
        free(scratch);
        free(ref);
        free(fused);
        free(out);
        free_case(&c);
    }
}

/* The scratch query is exact: one byte less is refused (before anything is
 * written), and the kernel touches the query's last byte when the pointer
 * needs all of the alignment slack. */
static void test_conv2d_scratch_exact(void **state)
{
    (void)state;
    tt_rng r = {0xc0de0004u};
    for (int iter = 0; iter < 40; ++iter) {
        conv_case c;
        memset(&c, 0, sizeof c);
        if (iter % 4 == 0) {
            c.cp = (tq_conv_params){1, 1, 0, 0, 0, 0, 1, 1, 1};
            c.in = (tq_dims){1, tt_int(&r, 1, 8), tt_int(&r, 1, 8),
                             tt_int(&r, 1, 8)};
            c.filter = (tq_dims){tt_int(&r, 1, 8), 1, 1, c.in.c};
            c.out = (tq_dims){1, c.in.h, c.in.w, c.filter.n};
        } else {
            make_geometry(&r, &c, 0);
        }
        fill_case(&r, &c);
        size_t bytes = 0;
        assert_int_equal(tq_s8_conv2d_scratch_size(&c.cp, &c.in, &c.filter,
                                                   &c.out, &bytes),
                         TQ_OK);
        const size_t n_out = dims_count(&c.out);
        int8_t *out = malloc(n_out);
        unsigned char *buf = malloc(bytes + 8);
        assert_non_null(out);
        assert_non_null(buf);
        unsigned char *scratch = buf;
        while ((uintptr_t)scratch % 4 != 1)
            ++scratch;
        memset(out, SENT8, n_out);
        memset(buf, 0xA5, bytes + 8);
        assert_int_equal(tq_s8_conv2d(&c.cp, &c.in, c.x, c.input_offset,
                                      &c.filter, c.w, c.bias, &c.st.os, &c.out,
                                      out, scratch, bytes - 1),
                         TQ_ERR_BUFFER_TOO_SMALL);
        for (size_t i = 0; i < n_out; ++i)
            assert_int_equal(out[i], SENT8);
        for (size_t i = 0; i < bytes + 8; ++i)
            assert_int_equal(buf[i], 0xA5);
        int touched = 0;
        const unsigned char fills[2] = {0xA5, 0x5A};
        for (int f = 0; f < 2; ++f) {
            memset(buf, fills[f], bytes + 8);
            assert_int_equal(tq_s8_conv2d(&c.cp, &c.in, c.x, c.input_offset,
                                          &c.filter, c.w, c.bias, &c.st.os,
                                          &c.out, out, scratch, bytes),
                             TQ_OK);
            touched |= scratch[bytes - 1] != fills[f];
            for (unsigned char *g = scratch + bytes; g < buf + bytes + 8; ++g)
                assert_int_equal(*g, fills[f]);
        }
        if (!touched) {
            describe(&c, "scratch", iter);
            fail_msg("the last scratch byte (of %zu) is never used", bytes);
        }
        free(buf);
        free(out);
        free_case(&c);
    }
}


/* ---- conv2d on packed weights -------------------------------------------- */

/* tq_s8_conv2d_packed on weights packed at an odd address must give the
 * bytes of tq_s8_conv2d (itself checked against the oracle here), with the
 * same scratch; wider layers (up to 40 channels) cross the 16-channel
 * panels. */
static void test_conv2d_packed(void **state)
{
    (void)state;
    tt_rng r = {0xc0de000cu};
    for (int iter = 0; iter < 250; ++iter) {
        conv_case c;
        make_geometry(&r, &c, 0);
        if (tt_int(&r, 0, 2) == 0) {
            const int32_t cout = tt_int(&r, 10, 40);
            c.cp.groups = 1;
            c.filter = (tq_dims){cout, c.filter.h, c.filter.w, c.in.c};
            c.out.c = cout;
        }
        if (iter % 10 == 0) {
            /* Long reductions (K up to 3500): the kernels' k chunks. */
            c.in.c = tt_int(&r, 60, 140);
            c.cp.groups = 1;
            c.filter.c = c.in.c;
        }
        fill_case(&r, &c);
        int8_t *want = run_and_check(&c, 0, "conv2d (packed)", iter, NULL, NULL);
        size_t bytes = 0, sbytes = 0;
        assert_int_equal(tq_s8_conv2d_packed_size(&c.filter, c.cp.groups, &bytes),
                         TQ_OK);
        assert_int_equal(tq_s8_conv2d_scratch_size(&c.cp, &c.in, &c.filter,
                                                   &c.out, &sbytes),
                         TQ_OK);
        unsigned char *buf = malloc(bytes + 17), *scratch = malloc(sbytes + 1);
        assert_non_null(buf);
        assert_non_null(scratch);
        unsigned char *packed = buf + 1; /* any alignment */
        memset(buf, 0xA5, bytes + 17);
        /* One byte short: refused, nothing written. */
        assert_int_equal(tq_s8_conv2d_pack(&c.filter, c.cp.groups, c.w, packed,
                                           bytes - 1),
                         TQ_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(packed[0], 0xA5);
        assert_int_equal(tq_s8_conv2d_pack(&c.filter, c.cp.groups, c.w, packed,
                                           bytes),
                         TQ_OK);
        for (size_t i = bytes; i < bytes + 16; ++i)
            assert_int_equal(packed[i], 0xA5);
        const size_t nout = dims_count(&c.out);
        int8_t *got = malloc(nout);
        assert_non_null(got);
        memset(got, SENT8, nout);
        assert_int_equal(tq_s8_conv2d_packed(&c.cp, &c.in, c.x, c.input_offset,
                                             &c.filter, packed, bytes, c.bias,
                                             &c.st.os, &c.out, got, scratch + 1,
                                             sbytes),
                         TQ_OK);
        if (memcmp(got, want, nout) != 0) {
            describe(&c, "conv2d packed", iter);
            fail_msg("packed conv differs from tq_s8_conv2d");
        }
        free(got);
        free(want);
        free(buf);
        free(scratch);
        free_case(&c);
    }
}

/* tq_s8_conv2d_packed on case c (weights packed at an odd
 * address, the conv2d scratch at a misaligned pointer with guard bytes)
 * must give tq_s8_conv2d's bytes, themselves checked against the oracle. */
static void check_packed(const conv_case *c, const char *what, int iter)
{
    int8_t *want = run_and_check(c, 0, what, iter, NULL, NULL);
    size_t bytes = 0, sbytes = 0;
    assert_int_equal(tq_s8_conv2d_packed_size(&c->filter, c->cp.groups,
                                              &bytes),
                     TQ_OK);
    assert_int_equal(tq_s8_conv2d_scratch_size(&c->cp, &c->in, &c->filter,
                                               &c->out, &sbytes),
                     TQ_OK);
    unsigned char *buf = malloc(bytes + 1), *sbuf = malloc(sbytes + 19);
    const size_t nout = dims_count(&c->out);
    int8_t *got = malloc(nout);
    assert_non_null(buf);
    assert_non_null(sbuf);
    assert_non_null(got);
    assert_int_equal(tq_s8_conv2d_pack(&c->filter, c->cp.groups, c->w,
                                       buf + 1, bytes),
                     TQ_OK);
    memset(sbuf, 0xA5, sbytes + 19);
    memset(got, SENT8, nout);
    assert_int_equal(tq_s8_conv2d_packed(&c->cp, &c->in, c->x,
                                         c->input_offset, &c->filter, buf + 1,
                                         bytes, c->bias, &c->st.os, &c->out,
                                         got, sbuf + 3, sbytes),
                     TQ_OK);
    for (size_t i = sbytes + 3; i < sbytes + 19; ++i)
        assert_int_equal(sbuf[i], 0xA5);
    if (memcmp(got, want, nout) != 0) {
        describe(c, what, iter);
        fail_msg("packed conv differs from tq_s8_conv2d");
    }
    free(got);
    free(want);
    free(buf);
    free(sbuf);
}

/* The shapes of the implicit-GEMM paths: ResNet-8's convs
 * (3 -> 16 first conv, 16..64 channels, stride 1 and 2, 1x1 stride-2
 * projections) on odd grids with batch 2 (blocks across images, every
 * border), asymmetric padding, dilation, Cout not a multiple of 16 or
 * over 64, and a K on each side of the AVX2 kernel's limit (2048). */
static void test_conv2d_packed_shapes(void **state)
{
    (void)state;
    tt_rng r = {0xc0de000du};
    static const struct {
        int n, h, w, cin, cout, kh, kw, sh, sw, pt, pb, pl, pr, dh, dw;
    } shapes[] = {
        {1, 32, 32, 3, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
        {2, 9, 11, 3, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
        {2, 7, 9, 3, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
        {1, 32, 32, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
        {2, 17, 15, 16, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
        {1, 16, 16, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
        {2, 9, 9, 32, 64, 3, 3, 2, 2, 0, 1, 0, 1, 1, 1},
        {1, 8, 8, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
        {2, 5, 6, 64, 40, 3, 3, 1, 2, 2, 0, 0, 2, 1, 1},
        {2, 16, 16, 16, 32, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1},
        {1, 11, 10, 16, 24, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},
        {1, 9, 8, 24, 17, 5, 3, 1, 2, 2, 1, 0, 1, 1, 2},
        {1, 4, 5, 227, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
        {1, 4, 5, 228, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
        {1, 3, 3, 5, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
        {1, 6, 7, 16, 80, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    };
    for (int iter = 0; iter < (int)(sizeof shapes / sizeof shapes[0]); ++iter) {
        for (int rep = 0; rep < 3; ++rep) {
            conv_case c;
            memset(&c, 0, sizeof c);
            c.cp = (tq_conv_params){shapes[iter].sh, shapes[iter].sw,
                                    shapes[iter].pt, shapes[iter].pb,
                                    shapes[iter].pl, shapes[iter].pr,
                                    shapes[iter].dh, shapes[iter].dw, 1};
            c.in = (tq_dims){shapes[iter].n, shapes[iter].h, shapes[iter].w,
                             shapes[iter].cin};
            c.filter = (tq_dims){shapes[iter].cout, shapes[iter].kh,
                                 shapes[iter].kw, shapes[iter].cin};
            c.out = (tq_dims){shapes[iter].n,
                              out_extent(c.in.h, shapes[iter].kh, c.cp.stride_h,
                                         c.cp.dilation_h, c.cp.pad_top,
                                         c.cp.pad_bottom),
                              out_extent(c.in.w, shapes[iter].kw, c.cp.stride_w,
                                         c.cp.dilation_w, c.cp.pad_left,
                                         c.cp.pad_right),
                              shapes[iter].cout};
            fill_case(&r, &c);
            check_packed(&c, "conv2d packed (shapes)", iter);
            free_case(&c);
        }
    }
}

/* Bad packed weights and arguments: a clear status, the output untouched. */
static void test_conv2d_packed_errors(void **state)
{
    (void)state;
    const tq_conv_params cp = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const tq_dims in = {1, 4, 4, 3}, f = {5, 3, 3, 3}, out = {1, 4, 4, 5};
    int8_t x[48], w[135], y[80];
    int32_t mult = 1 << 30, shift = -3;
    const tq_s8_output os = {&mult, &shift, 0, TQ_ROUND_DOUBLE, 0, -128, 127};
    memset(x, 3, sizeof x);
    memset(w, -2, sizeof w);
    size_t bytes = 0, sbytes = 0;
    assert_int_equal(tq_s8_conv2d_packed_size(&f, 1, &bytes), TQ_OK);
    assert_int_equal(bytes, 64 + 64 + 14 * 64); /* k = 27: 14 pairs */
    assert_int_equal(tq_s8_conv2d_packed_size(&f, 2, &bytes), TQ_ERR_SHAPE);
    assert_int_equal(tq_s8_conv2d_packed_size(&f, 0, &bytes), TQ_ERR_PARAM);
    assert_int_equal(tq_s8_conv2d_packed_size(NULL, 1, &bytes), TQ_ERR_NULL);
    const tq_dims huge = {1, 200, 200, 3};
    assert_int_equal(tq_s8_conv2d_packed_size(&huge, 1, &bytes),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(tq_s8_conv2d_packed_size(&f, 1, &bytes), TQ_OK);
    assert_int_equal(tq_s8_conv2d_scratch_size(&cp, &in, &f, &out, &sbytes),
                     TQ_OK);
    unsigned char *packed = malloc(bytes), *scratch = malloc(sbytes);
    assert_non_null(packed);
    assert_non_null(scratch);
    assert_int_equal(tq_s8_conv2d_pack(&f, 1, NULL, packed, bytes), TQ_ERR_NULL);
    assert_int_equal(tq_s8_conv2d_pack(&f, 1, w, packed, bytes), TQ_OK);
    assert_int_equal(tq_s8_conv2d_pack(&f, 1, (const int8_t *)packed + 8,
                                       packed, bytes),
                     TQ_ERR_ALIAS);
#define PACKED_RUN(pk, nbytes, fd)                                             \
    tq_s8_conv2d_packed(&cp, &in, x, 0, fd, pk, nbytes, NULL, &os, &out, y,    \
                        scratch, sbytes)
    memset(y, SENT8, sizeof y);
    assert_int_equal(PACKED_RUN(packed, bytes - 1, &f), TQ_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(PACKED_RUN(packed, 10, &f), TQ_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(PACKED_RUN(NULL, bytes, &f), TQ_ERR_NULL);
    const tq_dims f2 = {5, 3, 3, 3}, fw = {5, 1, 9, 3};
    (void)f2;
    assert_int_equal(tq_s8_conv2d_packed(&cp, &in, x, 0, &fw, packed, bytes,
                                         NULL, &os, &out, y, scratch, sbytes),
                     TQ_ERR_SHAPE); /* a 1x9 window: the output size differs */
    packed[0] ^= 1;
    assert_int_equal(PACKED_RUN(packed, bytes, &f), TQ_ERR_FORMAT);
    packed[0] ^= 1;
    packed[8] ^= 1; /* Cout 4 in the header */
    assert_int_equal(PACKED_RUN(packed, bytes, &f), TQ_ERR_SHAPE);
    packed[8] ^= 1;
    for (size_t i = 0; i < sizeof y; ++i)
        assert_int_equal(y[i], SENT8);
    assert_int_equal(PACKED_RUN(packed, bytes, &f), TQ_OK);
    /* All weights -2, inputs 3: interior pixels 27·(-6) · 2^30/2^31 / 8. */
    assert_int_equal(y[(1 * 4 + 1) * 5], -10);
    assert_int_equal(tq_s8_conv2d_packed(&cp, &in, x, 0, &f, packed, bytes, NULL,
                                         &os, &out, (int8_t *)packed + 4,
                                         scratch, sbytes),
                     TQ_ERR_ALIAS);
#undef PACKED_RUN
    free(packed);
    free(scratch);
}

/* ---- depthwise --------------------------------------------------------- */

static void test_depthwise_random(void **state)
{
    (void)state;
    tt_rng r = {0xc0de0005u};
    int lo = 0, hi = 0, mult_seen[4] = {0, 0, 0, 0};
    for (int iter = 0; iter < 300; ++iter) {
        conv_case c;
        make_geometry(&r, &c, 1);
        fill_case(&r, &c);
        mult_seen[c.out.c / c.in.c]++;
        free(run_and_check(&c, 1, "depthwise", iter, &lo, &hi));
        free_case(&c);
    }
    assert_true(lo > 0 && hi > 0);
    assert_true(mult_seen[1] > 0 && mult_seen[2] > 0 && mult_seen[3] > 0);
}

/* Depth multiplier 1 with many channels: the vector kernels' channel
 * blocks (16 on AVX2) and their short last block, every geometry. */
static void test_depthwise_channels(void **state)
{
    (void)state;
    tt_rng r = {0xc0de000bu};
    int lo = 0, hi = 0;
    for (int iter = 0; iter < 200; ++iter) {
        conv_case c;
        make_geometry(&r, &c, 1);
        /* Up to 160 (the oracle stage's room): past the AVX2 kernel's
         * group of 8 blocks (128 channels). */
        const int32_t ch = tt_int(&r, 0, 3)   ? tt_int(&r, 1, 70)
                           : tt_int(&r, 0, 1) ? 16 * tt_int(&r, 1, 4)
                                              : tt_int(&r, 129, 160);
        c.in.c = ch;
        c.filter.n = 1;
        c.filter.c = ch;
        c.out.c = ch;
        fill_case(&r, &c);
        free(run_and_check(&c, 1, "depthwise channels", iter, &lo, &hi));
        free_case(&c);
    }
    assert_true(lo > 0 && hi > 0);
}

/* More output channels than the kernel's channel block. */
static void test_depthwise_wide(void **state)
{
    (void)state;
    tt_rng r = {0xc0de0006u};
    conv_case c;
    memset(&c, 0, sizeof c);
    c.cp = (tq_conv_params){2, 1, 1, 1, 0, 1, 1, 2, 1};
    c.in = (tq_dims){1, 5, 6, 50};
    c.filter = (tq_dims){1, 3, 3, 150};
    c.out = (tq_dims){1, 3, 3, 150};
    fill_case(&r, &c);
    free(run_and_check(&c, 1, "depthwise wide", 0, NULL, NULL));
    free_case(&c);
}

/* ---- fused conv + ReLU + 2x2 max pool ---------------------------------- */

static void test_fused_matches_unfused(void **state)
{
    (void)state;
    tt_rng r = {0xc0de0007u};
    int odd = 0, runs = 0;
    for (int iter = 0; runs < 250; ++iter) {
        conv_case c;
        make_geometry(&r, &c, 0);
        if (c.out.h < 2 || c.out.w < 2)
            continue;
        c.cp.groups = 1;
        c.filter.c = c.in.c;
        fill_case(&r, &c);
        if (tt_int(&r, 0, 1)) { /* ReLU from act_min */
            c.st.os.act_min = c.st.os.output_offset;
            c.st.os.act_max = 127;
        }
        ++runs;
        odd += (c.out.h % 2) || (c.out.w % 2);
        const tq_dims pooled = {c.out.n, c.out.h / 2, c.out.w / 2, c.out.c};
        const size_t n_conv = dims_count(&c.out), n_pool = dims_count(&pooled);
        int8_t *conv_out = malloc(n_conv), *fused = malloc(n_pool);
        assert_non_null(conv_out);
        assert_non_null(fused);
        run_conv(&c, conv_out);
        int8_t *ref = max_pool2_reference(&c, conv_out, &pooled);
        size_t bytes = 0;
        assert_int_equal(tq_s8_conv2d_relu_maxpool2_scratch_size(
                             &c.cp, &c.in, &c.filter, &pooled, &bytes),
                         TQ_OK);
        unsigned char *buf = malloc(bytes + 8);
        assert_non_null(buf);
        unsigned char *scratch = buf;
        while ((uintptr_t)scratch % 4 != 3)
            ++scratch;
        memset(buf, 0xA5, bytes + 8);
        memset(fused, SENT8, n_pool);
        assert_int_equal(tq_s8_conv2d_relu_maxpool2(
                             &c.cp, &c.in, c.x, c.input_offset, &c.filter, c.w,
                             c.bias, &c.st.os, &pooled, fused, scratch, bytes),
                         TQ_OK);
        for (unsigned char *g = scratch + bytes; g < buf + bytes + 8; ++g)
            assert_int_equal(*g, 0xA5);
        if (memcmp(fused, ref, n_pool) != 0) {
            describe(&c, "fused", iter);
            fail();
        }
        /* One byte short of the query is refused. */
        memset(fused, SENT8, n_pool);
        assert_int_equal(tq_s8_conv2d_relu_maxpool2(
                             &c.cp, &c.in, c.x, c.input_offset, &c.filter, c.w,
                             c.bias, &c.st.os, &pooled, fused, scratch,
                             bytes - 1),
                         TQ_ERR_BUFFER_TOO_SMALL);
        for (size_t i = 0; i < n_pool; ++i)
            assert_int_equal(fused[i], SENT8);
        free(buf);
        free(conv_out);
        free(ref);
        free(fused);
        free_case(&c);
    }
    assert_true(odd > 20);
}

/* ---- bad inputs: each gives its status and writes nothing ----------------- */

typedef struct err_env {
    tq_conv_params cp;
    tq_dims in, filter, out;
    int8_t x[4 * 6 * 6 * 4];
    int8_t w[6 * 3 * 3 * 4];
    int32_t bias[6];
    int32_t mult[6], shift[6];
    tq_s8_output os;
    int8_t out_buf[4 * 4 * 4 * 6];
    unsigned char scratch[4096];
} err_env;

static err_env *env_new(void)
{
    err_env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->cp = (tq_conv_params){1, 1, 0, 0, 0, 0, 1, 1, 1};
    e->in = (tq_dims){1, 6, 6, 4};
    e->filter = (tq_dims){6, 3, 3, 4};
    e->out = (tq_dims){1, 4, 4, 6};
    for (int i = 0; i < 6; ++i) {
        e->mult[i] = 1 << 30;
        e->shift[i] = -8;
    }
    e->os = (tq_s8_output){e->mult, e->shift, 1, TQ_ROUND_DOUBLE, 0, -128, 127};
    return e;
}

static int out_untouched(const err_env *e)
{
    for (size_t i = 0; i < sizeof e->out_buf; ++i)
        if (e->out_buf[i] != SENT8)
            return 0;
    return 1;
}

static tq_status call_conv(err_env *e, const tq_conv_params *cp,
                           const tq_dims *in, const int8_t *x, int32_t io,
                           const tq_dims *f, const int8_t *w,
                           const tq_s8_output *os, const tq_dims *out,
                           int8_t *o, void *scratch, size_t bytes)
{
    memset(e->out_buf, SENT8, sizeof e->out_buf);
    return tq_s8_conv2d(cp, in, x, io, f, w, e->bias, os, out, o, scratch,
                        bytes);
}

#define CONV_ERR(st, ...)                                                    \
    do {                                                                     \
        assert_int_equal(call_conv(e, __VA_ARGS__), st);                     \
        assert_true(out_untouched(e));                                       \
    } while (0)

static void test_conv2d_errors(void **state)
{
    (void)state;
    err_env *e = env_new();
    const size_t sb = sizeof e->scratch;
    tq_conv_params cp;
    tq_dims d;
    tq_s8_output os;

    /* The baseline is valid. */
    assert_int_equal(call_conv(e, &e->cp, &e->in, e->x, 0, &e->filter, e->w,
                               &e->os, &e->out, e->out_buf, e->scratch, sb),
                     TQ_OK);

    CONV_ERR(TQ_ERR_NULL, NULL, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    CONV_ERR(TQ_ERR_NULL, &e->cp, NULL, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    CONV_ERR(TQ_ERR_NULL, &e->cp, &e->in, NULL, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    CONV_ERR(TQ_ERR_NULL, &e->cp, &e->in, e->x, 0, NULL, e->w, &e->os, &e->out,
             e->out_buf, e->scratch, sb);
    CONV_ERR(TQ_ERR_NULL, &e->cp, &e->in, e->x, 0, &e->filter, NULL, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    CONV_ERR(TQ_ERR_NULL, &e->cp, &e->in, e->x, 0, &e->filter, e->w, NULL,
             &e->out, e->out_buf, e->scratch, sb);
    CONV_ERR(TQ_ERR_NULL, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             NULL, e->out_buf, e->scratch, sb);
    CONV_ERR(TQ_ERR_NULL, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, NULL, sb);
    assert_int_equal(call_conv(e, &e->cp, &e->in, e->x, 0, &e->filter, e->w,
                               &e->os, &e->out, NULL, e->scratch, sb),
                     TQ_ERR_NULL);

    /* Geometry and shapes. */
    cp = e->cp;
    cp.stride_h = 0;
    CONV_ERR(TQ_ERR_PARAM, &cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    cp = e->cp;
    cp.dilation_w = 0;
    CONV_ERR(TQ_ERR_PARAM, &cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    cp = e->cp;
    cp.pad_left = -1;
    CONV_ERR(TQ_ERR_PARAM, &cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    cp = e->cp;
    cp.groups = 0;
    CONV_ERR(TQ_ERR_PARAM, &cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    cp = e->cp;
    cp.groups = 3; /* divides Cout 6 but not Cin 4 */
    CONV_ERR(TQ_ERR_SHAPE, &cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    cp = e->cp;
    cp.groups = 2; /* filter still has Cin 4 channels instead of 2 */
    CONV_ERR(TQ_ERR_SHAPE, &cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    d = e->out;
    d.h = 5;
    CONV_ERR(TQ_ERR_SHAPE, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &d, e->out_buf, e->scratch, sb);
    d = e->out;
    d.c = 5;
    CONV_ERR(TQ_ERR_SHAPE, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &d, e->out_buf, e->scratch, sb);
    d = e->out;
    d.n = 2;
    CONV_ERR(TQ_ERR_SHAPE, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &d, e->out_buf, e->scratch, sb);
    d = e->filter;
    d.c = 3;
    CONV_ERR(TQ_ERR_SHAPE, &e->cp, &e->in, e->x, 0, &d, e->w, &e->os, &e->out,
             e->out_buf, e->scratch, sb);
    d = e->filter;
    d.h = 0;
    CONV_ERR(TQ_ERR_SHAPE, &e->cp, &e->in, e->x, 0, &d, e->w, &e->os, &e->out,
             e->out_buf, e->scratch, sb);
    d = e->filter;
    d.h = 7; /* larger than the padded input */
    CONV_ERR(TQ_ERR_SHAPE, &e->cp, &e->in, e->x, 0, &d, e->w, &e->os, &e->out,
             e->out_buf, e->scratch, sb);
    d = e->in;
    d.c = -4;
    CONV_ERR(TQ_ERR_SHAPE, &e->cp, &d, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);

    /* Offsets and the output stage. */
    CONV_ERR(TQ_ERR_PARAM, &e->cp, &e->in, e->x, 129, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    CONV_ERR(TQ_ERR_PARAM, &e->cp, &e->in, e->x, -128, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    os = e->os;
    os.multiplier = NULL;
    CONV_ERR(TQ_ERR_NULL, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &os,
             &e->out, e->out_buf, e->scratch, sb);
    e->mult[5] = -5;
    CONV_ERR(TQ_ERR_PARAM, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    e->mult[5] = 1 << 30;
    e->shift[3] = 31;
    CONV_ERR(TQ_ERR_PARAM, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    e->shift[3] = -32;
    CONV_ERR(TQ_ERR_PARAM, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->scratch, sb);
    e->shift[3] = -8;
    os = e->os;
    os.act_min = 10;
    os.act_max = 9;
    CONV_ERR(TQ_ERR_PARAM, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &os,
             &e->out, e->out_buf, e->scratch, sb);
    os = e->os;
    os.output_offset = -129;
    CONV_ERR(TQ_ERR_PARAM, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &os,
             &e->out, e->out_buf, e->scratch, sb);
    os = e->os;
    os.rounding = 7;
    CONV_ERR(TQ_ERR_PARAM, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &os,
             &e->out, e->out_buf, e->scratch, sb);

    /* Scratch too small, and aliasing. */
    size_t need = 0;
    assert_int_equal(tq_s8_conv2d_scratch_size(&e->cp, &e->in, &e->filter,
                                               &e->out, &need),
                     TQ_OK);
    CONV_ERR(TQ_ERR_BUFFER_TOO_SMALL, &e->cp, &e->in, e->x, 0, &e->filter, e->w,
             &e->os, &e->out, e->out_buf, e->scratch, need - 1);
    CONV_ERR(TQ_ERR_BUFFER_TOO_SMALL, &e->cp, &e->in, e->x, 0, &e->filter, e->w,
             &e->os, &e->out, e->out_buf, e->scratch, 0);
    CONV_ERR(TQ_ERR_ALIAS, &e->cp, &e->in, e->x, 0, &e->filter, e->w, &e->os,
             &e->out, e->out_buf, e->out_buf + 8, sb - 8);
    memset(e->out_buf, SENT8, sizeof e->out_buf);
    assert_int_equal(tq_s8_conv2d(&e->cp, &e->in, e->out_buf + 1, 0, &e->filter,
                                  e->w, e->bias, &e->os, &e->out, e->out_buf,
                                  e->scratch, sb),
                     TQ_ERR_ALIAS);

    /* The scratch query validates too and leaves *bytes alone. */
    size_t bytes = 12345;
    assert_int_equal(tq_s8_conv2d_scratch_size(&e->cp, &e->in, &e->filter,
                                               &e->out, NULL),
                     TQ_ERR_NULL);
    d = e->out;
    d.w = 3;
    assert_int_equal(tq_s8_conv2d_scratch_size(&e->cp, &e->in, &e->filter, &d,
                                               &bytes),
                     TQ_ERR_SHAPE);
    cp = e->cp;
    cp.groups = 0;
    assert_int_equal(tq_s8_conv2d_scratch_size(&cp, &e->in, &e->filter, &e->out,
                                               &bytes),
                     TQ_ERR_PARAM);
    assert_int_equal(bytes, 12345);
    free(e);
}

/* A reduction longer than TQ_S8_MAX_REDUCTION is refused; the limit itself
 * works and is exact with the extreme values. */
static void test_conv2d_reduction_limit(void **state)
{
    (void)state;
    const int kmax = TQ_S8_MAX_REDUCTION;
    /* K = 8 · 8 · 512 = 32768 exactly. */
    const tq_dims in = {1, 8, 8, 512}, filter = {2, 8, 8, 512},
                  out = {1, 1, 1, 2};
    const tq_conv_params cp = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    int8_t *x = malloc((size_t)kmax), *w = malloc(2 * (size_t)kmax);
    assert_non_null(x);
    assert_non_null(w);
    memset(x, -128, (size_t)kmax);
    memset(w, -128, (size_t)kmax);
    memset(w + kmax, 127, (size_t)kmax);
    int32_t mult = 1 << 30, shift = -24;
    const tq_s8_output os = {&mult, &shift, 0, TQ_ROUND_DOUBLE, 0, -128, 127};
    size_t bytes = 0;
    assert_int_equal(tq_s8_conv2d_scratch_size(&cp, &in, &filter, &out, &bytes),
                     TQ_OK);
    void *scratch = malloc(bytes);
    assert_non_null(scratch);
    int8_t o[2];
    /* (-128 - 127) · (-128) · 2^15 = 1069547520 and the negative twin. */
    assert_int_equal(tq_s8_conv2d(&cp, &in, x, -127, &filter, w, NULL, &os, &out,
                                  o, scratch, bytes),
                     TQ_OK);
    const int64_t acc0 = (int64_t)(-255) * (-128) * kmax;
    const int64_t acc1 = (int64_t)(-255) * 127 * kmax;
    stage st;
    st.mult[0] = mult;
    st.shift[0] = shift;
    st.os = os;
    assert_int_equal(o[0], o_stage(&st, acc0, 0));
    assert_int_equal(o[1], o_stage(&st, acc1, 1));
    free(scratch);

    /* One more channel: K = 32769... use a 1x1 filter over 32769 channels. */
    const tq_dims in2 = {1, 1, 1, kmax + 1}, filter2 = {1, 1, 1, kmax + 1},
                  out2 = {1, 1, 1, 1};
    int8_t *x2 = calloc((size_t)kmax + 1, 1), *w2 = calloc((size_t)kmax + 1, 1);
    assert_non_null(x2);
    assert_non_null(w2);
    unsigned char sbuf[256];
    o[0] = SENT8;
    assert_int_equal(tq_s8_conv2d(&cp, &in2, x2, 0, &filter2, w2, NULL, &os,
                                  &out2, o, sbuf, sizeof sbuf),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(o[0], SENT8);
    bytes = 7;
    assert_int_equal(tq_s8_conv2d_scratch_size(&cp, &in2, &filter2, &out2,
                                               &bytes),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(bytes, 7);
    /* The fused kernel: a 2x2 input, a 1x1 filter over 32769 channels. */
    const tq_dims in4 = {1, 2, 2, kmax + 1}, pooled4 = {1, 1, 1, 1};
    int8_t *x4 = calloc(4 * ((size_t)kmax + 1), 1);
    assert_non_null(x4);
    o[0] = SENT8;
    assert_int_equal(tq_s8_conv2d_relu_maxpool2(&cp, &in4, x4, 0, &filter2, w2,
                                                NULL, &os, &pooled4, o, sbuf,
                                                sizeof sbuf),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(o[0], SENT8);
    assert_int_equal(tq_s8_conv2d_relu_maxpool2_scratch_size(
                         &cp, &in4, &filter2, &pooled4, &bytes),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(bytes, 7);
    free(x4);
    free(x2);
    free(w2);
    /* Depthwise: kh·kw taps over the limit. */
    const tq_dims in3 = {1, 182, 181, 1}, f3 = {1, 182, 181, 1},
                  out3 = {1, 1, 1, 1};
    int8_t *x3 = calloc(182 * 181, 1), *w3 = calloc(182 * 181, 1);
    assert_non_null(x3);
    assert_non_null(w3);
    o[0] = SENT8;
    assert_int_equal(tq_s8_depthwise_conv2d(&cp, &in3, x3, 0, &f3, w3, NULL, &os,
                                            &out3, o),
                     TQ_ERR_OVERFLOW);
    assert_int_equal(o[0], SENT8);
    free(x3);
    free(w3);
    free(x);
    free(w);
}

static void test_depthwise_errors(void **state)
{
    (void)state;
    const tq_conv_params cp = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const tq_dims in = {1, 4, 4, 3}, f = {1, 3, 3, 6}, out = {1, 4, 4, 6};
    int8_t x[48] = {0}, w[54] = {0}, o[96];
    int32_t mult[6] = {1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30};
    int32_t shift[6] = {0, 0, 0, 0, 0, 0};
    const tq_s8_output os = {mult, shift, 1, TQ_ROUND_DOUBLE, 0, -128, 127};
    tq_dims d;
#define DW(st, ...)                                                          \
    do {                                                                     \
        memset(o, SENT8, sizeof o);                                          \
        assert_int_equal(tq_s8_depthwise_conv2d(__VA_ARGS__), st);           \
        for (size_t i_ = 0; i_ < sizeof o; ++i_)                             \
            assert_int_equal(o[i_], SENT8);                                  \
    } while (0)
    DW(TQ_ERR_NULL, NULL, &in, x, 0, &f, w, NULL, &os, &out, o);
    DW(TQ_ERR_NULL, &cp, &in, NULL, 0, &f, w, NULL, &os, &out, o);
    DW(TQ_ERR_NULL, &cp, &in, x, 0, &f, NULL, NULL, &os, &out, o);
    DW(TQ_ERR_NULL, &cp, &in, x, 0, &f, w, NULL, NULL, &out, o);
    assert_int_equal(tq_s8_depthwise_conv2d(&cp, &in, x, 0, &f, w, NULL, &os,
                                            &out, NULL),
                     TQ_ERR_NULL);
    d = f;
    d.n = 2;
    DW(TQ_ERR_SHAPE, &cp, &in, x, 0, &d, w, NULL, &os, &out, o);
    d = f;
    d.c = 5;
    DW(TQ_ERR_SHAPE, &cp, &in, x, 0, &d, w, NULL, &os, &out, o);
    d = out;
    d.c = 5; /* not a multiple of Cin */
    const tq_dims f5 = {1, 3, 3, 5};
    DW(TQ_ERR_SHAPE, &cp, &in, x, 0, &f5, w, NULL, &os, &d, o);
    d = out;
    d.w = 3;
    DW(TQ_ERR_SHAPE, &cp, &in, x, 0, &f, w, NULL, &os, &d, o);
    DW(TQ_ERR_PARAM, &cp, &in, x, 200, &f, w, NULL, &os, &out, o);
    DW(TQ_ERR_PARAM, &cp, &in, x, -128, &f, w, NULL, &os, &out, o);
    mult[4] = -1;
    DW(TQ_ERR_PARAM, &cp, &in, x, 0, &f, w, NULL, &os, &out, o);
    mult[4] = 1 << 30;
    tq_conv_params bad = cp;
    bad.stride_w = 0;
    DW(TQ_ERR_PARAM, &bad, &in, x, 0, &f, w, NULL, &os, &out, o);
    /* groups is ignored by depthwise */
    bad = cp;
    bad.groups = 0;
    memset(o, SENT8, sizeof o);
    assert_int_equal(tq_s8_depthwise_conv2d(&bad, &in, x, 0, &f, w, NULL, &os,
                                            &out, o),
                     TQ_OK);
    DW(TQ_ERR_ALIAS, &cp, &in, o + 4, 0, &f, w, NULL, &os, &out, o);
#undef DW
}

static void test_fused_errors(void **state)
{
    (void)state;
    const tq_conv_params cp = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    const tq_dims in = {1, 7, 7, 2}, f = {4, 3, 3, 2}, pooled = {1, 2, 2, 4};
    int8_t x[98] = {0}, w[72] = {0}, o[16];
    int32_t mult = 1 << 30, shift = -3;
    const tq_s8_output os = {&mult, &shift, 0, TQ_ROUND_SINGLE, 0, 0, 127};
    unsigned char scratch[2048];
    size_t bytes = 0;
    assert_int_equal(tq_s8_conv2d_relu_maxpool2_scratch_size(&cp, &in, &f,
                                                             &pooled, &bytes),
                     TQ_OK);
    assert_true(bytes <= sizeof scratch);
    tq_dims d;
#define FU(st, cpp, outd, io, sc, sb)                                        \
    do {                                                                     \
        memset(o, SENT8, sizeof o);                                          \
        assert_int_equal(tq_s8_conv2d_relu_maxpool2(cpp, &in, x, io, &f, w,  \
                                                    NULL, &os, outd, o, sc,  \
                                                    sb),                     \
                         st);                                                \
        for (size_t i_ = 0; i_ < sizeof o; ++i_)                             \
            assert_int_equal(o[i_], SENT8);                                  \
    } while (0)
    tq_conv_params g2 = cp;
    g2.groups = 2;
    const tq_dims f2 = {4, 3, 3, 1};
    memset(o, SENT8, sizeof o);
    assert_int_equal(tq_s8_conv2d_relu_maxpool2(&g2, &in, x, 0, &f2, w, NULL,
                                                &os, &pooled, o, scratch,
                                                sizeof scratch),
                     TQ_ERR_UNSUPPORTED);
    assert_int_equal(tq_s8_conv2d_relu_maxpool2_scratch_size(&g2, &in, &f2,
                                                             &pooled, &bytes),
                     TQ_ERR_UNSUPPORTED);
    d = pooled;
    d.h = 3; /* the conv is 5x5: pooled must be 2x2 */
    FU(TQ_ERR_SHAPE, &cp, &d, 0, scratch, sizeof scratch);
    d = pooled;
    d.c = 3;
    FU(TQ_ERR_SHAPE, &cp, &d, 0, scratch, sizeof scratch);
    FU(TQ_ERR_PARAM, &cp, &pooled, 129, scratch, sizeof scratch);
    FU(TQ_ERR_NULL, NULL, &pooled, 0, scratch, sizeof scratch);
    FU(TQ_ERR_NULL, &cp, &pooled, 0, NULL, sizeof scratch);
    FU(TQ_ERR_BUFFER_TOO_SMALL, &cp, &pooled, 0, scratch, bytes - 1);
    FU(TQ_ERR_ALIAS, &cp, &pooled, 0, (void *)o, sizeof scratch);
#undef FU
}

/* ---- CMSIS-NN geometry: one pad per axis plus the output size ---------- */

/* CMSIS-NN's convolution loop (arm_convolve_s8's reference semantics): the
 * output size is given, each output row starts at oy·stride − pad (pads
 * are top / left only), and taps outside the image are skipped. Groups 1,
 * or depthwise with oc = ic·M + m. */
static int64_t cmsis_acc(const conv_case *c, int depthwise, int n, int oy,
                         int ox, int oc)
{
    const int mult = depthwise ? c->out.c / c->in.c : 1;
    int64_t acc = c->bias ? c->bias[oc] : 0;
    for (int ky = 0; ky < c->filter.h; ++ky) {
        const int iy = oy * c->cp.stride_h - c->cp.pad_top + ky * c->cp.dilation_h;
        if (iy < 0 || iy >= c->in.h)
            continue;
        for (int kx = 0; kx < c->filter.w; ++kx) {
            const int ix =
                ox * c->cp.stride_w - c->cp.pad_left + kx * c->cp.dilation_w;
            if (ix < 0 || ix >= c->in.w)
                continue;
            const int8_t *px =
                c->x + (((size_t)n * c->in.h + iy) * c->in.w + ix) * c->in.c;
            if (depthwise) {
                acc += (int64_t)c->w[((size_t)ky * c->filter.w + kx) * c->out.c + oc] *
                       (px[oc / mult] + c->input_offset);
            } else {
                for (int ci = 0; ci < c->in.c; ++ci)
                    acc += (int64_t)c->w[(((size_t)oc * c->filter.h + ky) *
                                              c->filter.w + kx) * c->in.c + ci] *
                           (px[ci] + c->input_offset);
            }
        }
    }
    return acc;
}

/* The CMSIS-NN user's trap (issue 16): pad_bottom = pad_top and
 * pad_right = pad_left is refused for many of CMSIS-NN's own shapes; the
 * geometry report names the axis and the pad that fixes it, and
 * tq_conv_pad_after() gives pads with which tinyq computes exactly what
 * CMSIS-NN computes. Shapes as CMSIS-NN's test generator makes them
 * (TFLite SAME or VALID: the pad is the SAME split's top / left part). */
static void test_cmsis_style_padding(void **state)
{
    (void)state;
    tt_rng r = {0xC3515u};
    int refused = 0, total = 0;
    for (int iter = 0; iter < 200; ++iter) {
        const int depthwise = iter % 3 == 2;
        conv_case c;
        memset(&c, 0, sizeof c);
        c.in = (tq_dims){tt_int(&r, 1, 2), tt_int(&r, 1, 12), tt_int(&r, 1, 12),
                         tt_int(&r, 1, 5)};
        const int kh = tt_int(&r, 1, 5), kw = tt_int(&r, 1, 5);
        c.cp.stride_h = tt_int(&r, 1, 3);
        c.cp.stride_w = tt_int(&r, 1, 3);
        c.cp.dilation_h = tt_int(&r, 1, 2);
        c.cp.dilation_w = tt_int(&r, 1, 2);
        c.cp.groups = 1;
        /* Per axis: SAME (out = ceil(in / s), pad = floor(total / 2)) or
         * VALID (pad 0, the windows that fit). */
        const int same = tt_int(&r, 0, 3) != 0;
        int out_hw[2], pad[2];
        const int in_hw[2] = {c.in.h, c.in.w}, k_hw[2] = {kh, kw};
        const int s_hw[2] = {c.cp.stride_h, c.cp.stride_w};
        const int d_hw[2] = {c.cp.dilation_h, c.cp.dilation_w};
        int ok = 1;
        for (int a = 0; a < 2; ++a) {
            const int win = d_hw[a] * (k_hw[a] - 1) + 1;
            if (same) {
                out_hw[a] = (in_hw[a] + s_hw[a] - 1) / s_hw[a];
                int t = (out_hw[a] - 1) * s_hw[a] + win - in_hw[a];
                pad[a] = (t < 0 ? 0 : t) / 2;
            } else {
                out_hw[a] = in_hw[a] >= win ? (in_hw[a] - win) / s_hw[a] + 1 : 0;
                pad[a] = 0;
            }
            ok &= out_hw[a] >= 1;
        }
        if (!ok) {
            --iter;
            continue;
        }
        const int cout = depthwise ? c.in.c * tt_int(&r, 1, 2) : tt_int(&r, 1, 6);
        c.filter = depthwise ? (tq_dims){1, kh, kw, cout}
                             : (tq_dims){cout, kh, kw, c.in.c};
        c.out = (tq_dims){c.in.n, out_hw[0], out_hw[1], cout};
        /* The copy a CMSIS-NN user makes. */
        c.cp.pad_top = c.cp.pad_bottom = pad[0];
        c.cp.pad_left = c.cp.pad_right = pad[1];
        fill_case(&r, &c);
        const size_t n_out = dims_count(&c.out);
        int8_t *got = malloc(n_out);
        assert_non_null(got);
        ++total;

        tq_geometry_report rep;
        const tq_status st =
            tq_conv_check_geometry(&c.cp, &c.in, &c.filter, &c.out, depthwise,
                                   &rep);
        if (st != TQ_OK) {
            ++refused;
            /* The kernel refuses it too, and the report says which axis
             * and which pad: the one tq_conv_pad_after() gives. */
            assert_int_equal(st, TQ_ERR_SHAPE);
            memset(got, SENT8, n_out);
            if (depthwise)
                assert_int_equal(tq_s8_depthwise_conv2d(
                                     &c.cp, &c.in, c.x, c.input_offset,
                                     &c.filter, c.w, c.bias, &c.st.os, &c.out,
                                     got),
                                 TQ_ERR_SHAPE);
            else {
                static unsigned char scratch[1 << 16];
                assert_int_equal(tq_s8_conv2d_scratch_size(&c.cp, &c.in,
                                                           &c.filter, &c.out,
                                                           &(size_t){0}),
                                 TQ_ERR_SHAPE);
                assert_int_equal(tq_s8_conv2d(&c.cp, &c.in, c.x, c.input_offset,
                                              &c.filter, c.w, c.bias, &c.st.os,
                                              &c.out, got, scratch,
                                              sizeof scratch),
                                 TQ_ERR_SHAPE);
            }
            /* Refused: nothing written. */
            for (size_t i = 0; i < n_out; ++i)
                if (got[i] != (int8_t)SENT8) {
                    describe(&c, "cmsis-style", iter);
                    fail_msg("refused geometry wrote out[%zu] = %d", i, got[i]);
                }
            /* An output extent the formula does not give, or (pads too
             * small for a dilated window) a window that does not fit. */
            if (rep.field != TQ_GEOM_OUT_H && rep.field != TQ_GEOM_OUT_W &&
                rep.field != TQ_GEOM_FILTER_H && rep.field != TQ_GEOM_FILTER_W) {
                describe(&c, "cmsis-style", iter);
                fail_msg("field %d value %d expected %d", rep.field, rep.value,
                         rep.expected);
            }
            const int a =
                rep.field == TQ_GEOM_OUT_H || rep.field == TQ_GEOM_FILTER_H ? 0 : 1;
            int32_t fix = -1;
            assert_int_equal(tq_conv_pad_after(in_hw[a], k_hw[a], s_hw[a],
                                               d_hw[a], pad[a], out_hw[a], &fix),
                             TQ_OK);
            assert_int_equal(rep.pad_after, fix);
            if (rep.field == TQ_GEOM_OUT_H || rep.field == TQ_GEOM_OUT_W) {
                assert_int_equal(rep.value, out_hw[a]);
                assert_true(rep.expected != out_hw[a]);
            } else {
                assert_int_equal(rep.value, k_hw[a]);
            }
        }
        /* The fix: pads after from the helper, both axes. */
        assert_int_equal(tq_conv_pad_after(c.in.h, kh, c.cp.stride_h,
                                           c.cp.dilation_h, pad[0], out_hw[0],
                                           &c.cp.pad_bottom),
                         TQ_OK);
        assert_int_equal(tq_conv_pad_after(c.in.w, kw, c.cp.stride_w,
                                           c.cp.dilation_w, pad[1], out_hw[1],
                                           &c.cp.pad_right),
                         TQ_OK);
        assert_int_equal(tq_conv_check_geometry(&c.cp, &c.in, &c.filter, &c.out,
                                                depthwise, &rep),
                         TQ_OK);
        assert_int_equal(rep.field, TQ_GEOM_OK);
        if (depthwise) {
            assert_int_equal(tq_s8_depthwise_conv2d(&c.cp, &c.in, c.x,
                                                    c.input_offset, &c.filter,
                                                    c.w, c.bias, &c.st.os,
                                                    &c.out, got),
                             TQ_OK);
        } else {
            run_conv(&c, got);
        }
        for (int n = 0; n < c.out.n; ++n)
            for (int oy = 0; oy < c.out.h; ++oy)
                for (int ox = 0; ox < c.out.w; ++ox)
                    for (int oc = 0; oc < c.out.c; ++oc) {
                        const int8_t want = o_stage(
                            &c.st, cmsis_acc(&c, depthwise, n, oy, ox, oc), oc);
                        const size_t i =
                            (((size_t)n * c.out.h + oy) * c.out.w + ox) * c.out.c + oc;
                        if (got[i] != want) {
                            describe(&c, "cmsis-style", iter);
                            fail_msg("out[%d][%d][%d][%d] = %d, want %d", n, oy,
                                     ox, oc, got[i], want);
                        }
                    }
        free(got);
        free_case(&c);
    }
    /* The trap is real on these shapes, and every refused one now runs. */
    print_message("cmsis-style shapes: %d of %d refused with copied pads\n",
                  refused, total);
    assert_true(refused > total / 10);
}

/* ---- conv2d + residual add (tq_s8_conv2d_add) --------------------------- */

/* TFLite's int8 ADD of one pair, in int64, from the spec. */
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

static void random_add_params(tt_rng *r, tq_s8_add_params *p)
{
    const float s1 = tt_float(r, 0.001f, 0.2f);
    const float s2 = tt_int(r, 0, 3) ? tt_float(r, 0.001f, 0.2f) : s1;
    const float so = tt_float(r, 0.3f, 1.5f) * (s1 + s2);
    const int zo = tt_int(r, -128, 127);
    assert_int_equal(tq_s8_add_params_from_scales(
                         s1, tt_int(r, -128, 127), s2, tt_int(r, -128, 127), so,
                         zo, tt_int(r, 0, 1) ? zo : -128, 127,
                         tt_int(r, 0, 1), p),
                     TQ_OK);
}

/* tq_s8_conv2d_add_packed on case c, weights packed at an odd
 * address, exactly the queried scratch at a misaligned pointer with guard
 * bytes behind it, in place or not: must give @p want (tq_s8_conv2d_add's
 * bytes, checked against the oracle by the caller). */
static void check_conv_add_packed(const conv_case *c,
                                  const tq_s8_add_params *ap,
                                  const int8_t *skip, int in_place,
                                  const int8_t *want, const char *what,
                                  int iter)
{
    const size_t n_out = dims_count(&c->out);
    size_t pbytes = 0, bytes = 0, add_bytes = 0;
    assert_int_equal(tq_s8_conv2d_packed_size(&c->filter, c->cp.groups,
                                              &pbytes),
                     TQ_OK);
    assert_int_equal(tq_s8_conv2d_add_packed_scratch_size(
                         &c->cp, &c->in, &c->filter, &c->out, &bytes),
                     TQ_OK);
    assert_int_equal(tq_s8_conv2d_add_scratch_size(&c->cp, &c->in, &c->filter,
                                                   &c->out, &add_bytes),
                     TQ_OK);
    assert_int_equal(bytes, add_bytes);
    unsigned char *pbuf = malloc(pbytes + 1), *buf = malloc(bytes + 16);
    int8_t *out = malloc(n_out), *skip_copy = malloc(n_out);
    assert_non_null(pbuf);
    assert_non_null(buf);
    assert_non_null(out);
    assert_non_null(skip_copy);
    assert_int_equal(tq_s8_conv2d_pack(&c->filter, c->cp.groups, c->w,
                                       pbuf + 1, pbytes),
                     TQ_OK);
    unsigned char *scratch = buf;
    while ((uintptr_t)scratch % 4 != 1)
        ++scratch;
    memset(buf, 0xA5, bytes + 16);
    memcpy(skip_copy, skip, n_out);
    int8_t *dst = in_place ? skip_copy : out;
    if (!in_place)
        memset(out, SENT8, n_out);
    assert_int_equal(tq_s8_conv2d_add_packed(
                         &c->cp, &c->in, c->x, c->input_offset, &c->filter,
                         pbuf + 1, pbytes, c->bias, &c->st.os, &c->out,
                         skip_copy, ap, dst, scratch, bytes),
                     TQ_OK);
    for (unsigned char *g = scratch + bytes; g < buf + bytes + 16; ++g)
        assert_int_equal(*g, 0xA5);
    if (!in_place)
        assert_memory_equal(skip_copy, skip, n_out);
    if (memcmp(dst, want, n_out) != 0) {
        describe(c, what, iter);
        fail_msg("conv2d_add_packed differs from tq_s8_conv2d_add");
    }
    free(pbuf);
    free(buf);
    free(out);
    free(skip_copy);
}

/* Run tq_s8_conv2d_add on case c with exactly the queried scratch at a
 * misaligned pointer with guard bytes behind it; in place (out = a copy of
 * skip) or not. Checks every output against the int64 oracle and against
 * tq_s8_conv2d followed by tq_s8_add. */
static void check_conv_add(const conv_case *c, const tq_s8_add_params *ap,
                           const int8_t *skip, int in_place, const char *what,
                           int iter)
{
    const size_t n_out = dims_count(&c->out);
    size_t bytes = 0, conv_bytes = 0;
    assert_int_equal(tq_s8_conv2d_add_scratch_size(&c->cp, &c->in, &c->filter,
                                                   &c->out, &bytes),
                     TQ_OK);
    assert_int_equal(tq_s8_conv2d_scratch_size(&c->cp, &c->in, &c->filter,
                                               &c->out, &conv_bytes),
                     TQ_OK);
    assert_true(bytes >= conv_bytes);
    unsigned char *buf = malloc(bytes + 16);
    int8_t *out = malloc(n_out), *skip_copy = malloc(n_out);
    int8_t *conv_out = malloc(n_out), *ref = malloc(n_out);
    assert_non_null(buf);
    assert_non_null(out);
    assert_non_null(skip_copy);
    assert_non_null(conv_out);
    assert_non_null(ref);
    unsigned char *scratch = buf;
    while ((uintptr_t)scratch % 4 != 3)
        ++scratch;
    memset(buf, 0xA5, bytes + 16);
    memcpy(skip_copy, skip, n_out);
    int8_t *dst = in_place ? skip_copy : out;
    if (!in_place)
        memset(out, SENT8, n_out);
    assert_int_equal(tq_s8_conv2d_add(&c->cp, &c->in, c->x, c->input_offset,
                                      &c->filter, c->w, c->bias, &c->st.os,
                                      &c->out, skip_copy, ap, dst, scratch,
                                      bytes),
                     TQ_OK);
    for (unsigned char *g = scratch + bytes; g < buf + bytes + 16; ++g)
        assert_int_equal(*g, 0xA5);
    if (!in_place)
        assert_memory_equal(skip_copy, skip, n_out);
    /* Oracle 1: int64 conv, stage and add from the spec. */
    size_t idx = 0;
    for (int n = 0; n < c->out.n; ++n)
        for (int oy = 0; oy < c->out.h; ++oy)
            for (int ox = 0; ox < c->out.w; ++ox)
                for (int oc = 0; oc < c->out.c; ++oc, ++idx) {
                    const int8_t conv = o_stage(&c->st,
                                                o_conv_acc(c, n, oy, ox, oc), oc);
                    const int8_t want = o_add(conv, skip[idx], ap);
                    if (dst[idx] != want) {
                        describe(c, what, iter);
                        print_message("  out[%zu] = %d, want %d (conv %d, skip "
                                      "%d, in place %d)\n", idx, dst[idx], want,
                                      conv, skip[idx], in_place);
                        fail();
                    }
                }
    /* Oracle 2: the two kernels it fuses. */
    run_conv(c, conv_out);
    assert_int_equal(tq_s8_add(n_out, conv_out, skip, ap, ref), TQ_OK);
    assert_memory_equal(dst, ref, n_out);
    /* The same on packed weights (odd address): the same bytes. */
    check_conv_add_packed(c, ap, skip, in_place, dst, what, iter);
    free(buf);
    free(out);
    free(skip_copy);
    free(conv_out);
    free(ref);
}

static void test_conv_add_random(void **state)
{
    (void)state;
    tt_rng r = {0xc0de00a1u};
    int grouped = 0, strided = 0, padded = 0;
    for (int iter = 0; iter < 300; ++iter) {
        conv_case c;
        make_geometry(&r, &c, 0);
        fill_case(&r, &c);
        tq_s8_add_params ap;
        random_add_params(&r, &ap);
        const size_t n_out = dims_count(&c.out);
        int8_t *skip = malloc(n_out);
        assert_non_null(skip);
        tt_fill_s8(&r, skip, n_out, -128, 127);
        grouped += c.cp.groups > 1;
        strided += c.cp.stride_h > 1 || c.cp.stride_w > 1;
        padded += c.cp.pad_top + c.cp.pad_left + c.cp.pad_bottom +
                      c.cp.pad_right > 0;
        check_conv_add(&c, &ap, skip, iter % 2, "conv2d_add", iter);
        free(skip);
        free_case(&c);
    }
    assert_true(grouped > 20 && strided > 50 && padded > 50);
}

/* Shapes of residual blocks: many blocks of pixels (3x3 16->16 on 32x32,
 * ResNet-8's first block), the in-place 1x1 path (extra bytes), and a
 * 1x1 stride-2 projection whose K is smaller than Cout. */
static void test_conv_add_residual_shapes(void **state)
{
    (void)state;
    tt_rng r = {0xc0de00a2u};
    static const struct {
        int h, w, cin, cout, k, stride, pad;
    } shapes[] = {
        {32, 32, 16, 16, 3, 1, 1},
        {16, 16, 32, 32, 3, 1, 1},
        {9, 7, 8, 24, 1, 1, 0},
        {16, 16, 4, 32, 1, 2, 0},
        {8, 8, 64, 64, 3, 1, 1},
    };
    for (int iter = 0; iter < (int)(sizeof shapes / sizeof shapes[0]); ++iter) {
        conv_case c;
        memset(&c, 0, sizeof c);
        c.cp = (tq_conv_params){shapes[iter].stride, shapes[iter].stride,
                                shapes[iter].pad, shapes[iter].pad,
                                shapes[iter].pad, shapes[iter].pad, 1, 1, 1};
        c.in = (tq_dims){1, shapes[iter].h, shapes[iter].w, shapes[iter].cin};
        const int kk = shapes[iter].k;
        c.filter = (tq_dims){shapes[iter].cout, kk, kk, shapes[iter].cin};
        c.out = (tq_dims){1,
                          out_extent(c.in.h, kk, c.cp.stride_h, 1,
                                     c.cp.pad_top, c.cp.pad_bottom),
                          out_extent(c.in.w, kk, c.cp.stride_w, 1,
                                     c.cp.pad_left, c.cp.pad_right),
                          shapes[iter].cout};
        fill_case(&r, &c);
        tq_s8_add_params ap;
        random_add_params(&r, &ap);
        const size_t n_out = dims_count(&c.out);
        int8_t *skip = malloc(n_out);
        assert_non_null(skip);
        tt_fill_s8(&r, skip, n_out, -128, 127);
        check_conv_add(&c, &ap, skip, 0, "residual", iter);
        check_conv_add(&c, &ap, skip, 1, "residual in place", iter);
        size_t a = 0, b = 0;
        assert_int_equal(tq_s8_conv2d_add_scratch_size(&c.cp, &c.in, &c.filter,
                                                       &c.out, &a),
                         TQ_OK);
        assert_int_equal(tq_s8_conv2d_scratch_size(&c.cp, &c.in, &c.filter,
                                                   &c.out, &b),
                         TQ_OK);
        /* 3x3 convs reuse the im2col rows: no extra scratch. */
        if (kk == 3)
            assert_int_equal(a, b);
        else
            assert_true(a > b);
        free(skip);
        free_case(&c);
    }
}

static void test_conv_add_errors(void **state)
{
    (void)state;
    tt_rng r = {0xc0de00a3u};
    conv_case c;
    memset(&c, 0, sizeof c);
    c.cp = (tq_conv_params){1, 1, 1, 1, 1, 1, 1, 1, 1};
    c.in = (tq_dims){1, 6, 5, 4};
    c.filter = (tq_dims){4, 3, 3, 4};
    c.out = (tq_dims){1, 6, 5, 4};
    fill_case(&r, &c);
    tq_s8_add_params ap;
    random_add_params(&r, &ap);
    const size_t n_out = dims_count(&c.out), n_in = dims_count(&c.in);
    size_t bytes = 0;
    assert_int_equal(tq_s8_conv2d_add_scratch_size(&c.cp, &c.in, &c.filter,
                                                   &c.out, &bytes),
                     TQ_OK);
    /* One buffer holding everything, so that overlaps can be made. */
    const size_t total = n_in + 3 * n_out + bytes + 64;
    int8_t *mem = malloc(total), *keep = malloc(total);
    assert_non_null(mem);
    assert_non_null(keep);
    memset(mem, 0x5a, total); /* the gaps and the scratch too: compared */
    int8_t *in = mem, *skip = in + n_in, *out = skip + n_out;
    int8_t *scr = out + n_out + 16;
    memcpy(in, c.x, n_in);
    tt_fill_s8(&r, skip, n_out, -128, 127);
    memset(out, SENT8, n_out);
    memcpy(keep, mem, total);
#define CALL(IN, SKIP, AP, OUT, SCR, BYTES)                                    \
    tq_s8_conv2d_add(&c.cp, &c.in, (IN), c.input_offset, &c.filter, c.w,       \
                     c.bias, &c.st.os, &c.out, (SKIP), (AP), (OUT), (SCR),     \
                     (BYTES))
    assert_int_equal(CALL(NULL, skip, &ap, out, scr, bytes), TQ_ERR_NULL);
    assert_int_equal(CALL(in, NULL, &ap, out, scr, bytes), TQ_ERR_NULL);
    assert_int_equal(CALL(in, skip, NULL, out, scr, bytes), TQ_ERR_NULL);
    assert_int_equal(CALL(in, skip, &ap, NULL, scr, bytes), TQ_ERR_NULL);
    assert_int_equal(CALL(in, skip, &ap, out, NULL, bytes), TQ_ERR_NULL);
    assert_int_equal(CALL(in, skip, &ap, out, scr, bytes - 1),
                     TQ_ERR_BUFFER_TOO_SMALL);
    /* Bad add parameters are found before anything is written. */
    tq_s8_add_params bad = ap;
    bad.input1_shift = 1;
    assert_int_equal(CALL(in, skip, &bad, out, scr, bytes), TQ_ERR_PARAM);
    bad = ap;
    bad.act_min = 5;
    bad.act_max = 4;
    assert_int_equal(CALL(in, skip, &bad, out, scr, bytes), TQ_ERR_PARAM);
    /* Overlaps: skip partly over the output, skip in the scratch, the
     * output over the input (also in place), the scratch over the skip. */
    assert_int_equal(CALL(in, out + 1, &ap, out, scr, bytes), TQ_ERR_ALIAS);
    assert_int_equal(CALL(in, out - 1, &ap, out, scr, bytes), TQ_ERR_ALIAS);
    assert_int_equal(CALL(in, scr + 4, &ap, out, scr, bytes), TQ_ERR_ALIAS);
    assert_int_equal(CALL(in, skip, &ap, skip, skip + n_out - 3, bytes),
                     TQ_ERR_ALIAS);
    assert_int_equal(CALL(in, in, &ap, in, scr, bytes), TQ_ERR_ALIAS);
    assert_int_equal(CALL(in, skip, &ap, in + 1, scr, bytes), TQ_ERR_ALIAS);
    /* Shapes: the conv's own checks. */
    const tq_dims wrong = {1, 6, 5, 5};
    assert_int_equal(tq_s8_conv2d_add(&c.cp, &c.in, in, c.input_offset,
                                      &c.filter, c.w, c.bias, &c.st.os, &wrong,
                                      skip, &ap, out, scr, bytes),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_s8_conv2d_add_scratch_size(&c.cp, &c.in, &c.filter,
                                                   &wrong, &bytes),
                     TQ_ERR_SHAPE);
    assert_int_equal(tq_s8_conv2d_add_scratch_size(&c.cp, &c.in, &c.filter,
                                                   &c.out, NULL),
                     TQ_ERR_NULL);
    assert_memory_equal(mem, keep, total);
    /* The input may be read while the skip is the output, and the skip may
     * be the input (both only read). */
    assert_int_equal(CALL(in, in, &ap, out, scr, bytes), TQ_OK);
#undef CALL
    free(mem);
    free(keep);
    free_case(&c);
}

/* Bad packed weights and arguments of tq_s8_conv2d_add_packed:
 * a clear status, nothing written. */
static void test_conv_add_packed_errors(void **state)
{
    (void)state;
    tt_rng r = {0xc0de00a4u};
    conv_case c;
    memset(&c, 0, sizeof c);
    c.cp = (tq_conv_params){1, 1, 1, 1, 1, 1, 1, 1, 1};
    c.in = (tq_dims){1, 6, 5, 4};
    c.filter = (tq_dims){4, 3, 3, 4};
    c.out = (tq_dims){1, 6, 5, 4};
    fill_case(&r, &c);
    tq_s8_add_params ap;
    random_add_params(&r, &ap);
    const size_t n_out = dims_count(&c.out), n_in = dims_count(&c.in);
    size_t bytes = 0, pbytes = 0;
    assert_int_equal(tq_s8_conv2d_add_packed_scratch_size(&c.cp, &c.in,
                                                          &c.filter, &c.out,
                                                          &bytes),
                     TQ_OK);
    assert_int_equal(tq_s8_conv2d_packed_size(&c.filter, 1, &pbytes), TQ_OK);
    const size_t total = n_in + 3 * n_out + bytes + pbytes + 96;
    int8_t *mem = malloc(total), *keep = malloc(total);
    assert_non_null(mem);
    assert_non_null(keep);
    memset(mem, 0x5a, total);
    int8_t *in = mem, *skip = in + n_in, *out = skip + n_out;
    int8_t *scr = out + n_out + 16;
    unsigned char *pk = (unsigned char *)(scr + bytes + 16);
    memcpy(in, c.x, n_in);
    tt_fill_s8(&r, skip, n_out, -128, 127);
    memset(out, SENT8, n_out);
    assert_int_equal(tq_s8_conv2d_pack(&c.filter, 1, c.w, pk, pbytes), TQ_OK);
    memcpy(keep, mem, total);
#define CALL(PK, PB, FD, IN, SKIP, AP, OUT, SCR, BYTES)                        \
    tq_s8_conv2d_add_packed(&c.cp, &c.in, (IN), c.input_offset, (FD), (PK),    \
                            (PB), c.bias, &c.st.os, &c.out, (SKIP), (AP),      \
                            (OUT), (SCR), (BYTES))
    assert_int_equal(CALL(NULL, pbytes, &c.filter, in, skip, &ap, out, scr,
                          bytes),
                     TQ_ERR_NULL);
    assert_int_equal(CALL(pk, pbytes, &c.filter, NULL, skip, &ap, out, scr,
                          bytes),
                     TQ_ERR_NULL);
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, NULL, &ap, out, scr,
                          bytes),
                     TQ_ERR_NULL);
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, skip, NULL, out, scr,
                          bytes),
                     TQ_ERR_NULL);
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, skip, &ap, NULL, scr,
                          bytes),
                     TQ_ERR_NULL);
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, skip, &ap, out, NULL,
                          bytes),
                     TQ_ERR_NULL);
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, skip, &ap, out, scr,
                          bytes - 1),
                     TQ_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(CALL(pk, pbytes - 1, &c.filter, in, skip, &ap, out, scr,
                          bytes),
                     TQ_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(CALL(pk, 10, &c.filter, in, skip, &ap, out, scr, bytes),
                     TQ_ERR_BUFFER_TOO_SMALL);
    tq_s8_add_params bad = ap;
    bad.input1_shift = 1;
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, skip, &bad, out, scr,
                          bytes),
                     TQ_ERR_PARAM);
    /* Overlaps: the output or the scratch over the packed bytes, the skip
     * partly over the output or in the scratch. */
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, (int8_t *)pk + 8, &ap,
                          (int8_t *)pk + 8, scr, bytes),
                     TQ_ERR_ALIAS);
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, skip, &ap, out,
                          (int8_t *)pk + 4, bytes),
                     TQ_ERR_ALIAS);
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, out + 1, &ap, out, scr,
                          bytes),
                     TQ_ERR_ALIAS);
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, scr + 4, &ap, out, scr,
                          bytes),
                     TQ_ERR_ALIAS);
    assert_memory_equal(mem, keep, total);
    /* A corrupted magic: not a packed convolution. */
    pk[0] ^= 1;
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, skip, &ap, out, scr,
                          bytes),
                     TQ_ERR_FORMAT);
    pk[0] ^= 1;
    /* Weights packed for another filter (Cout 5 in the header). */
    pk[8] ^= 1;
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, skip, &ap, out, scr,
                          bytes),
                     TQ_ERR_SHAPE);
    pk[8] ^= 1;
    assert_int_equal(tq_s8_conv2d_add_packed_scratch_size(&c.cp, &c.in,
                                                          &c.filter, &c.out,
                                                          NULL),
                     TQ_ERR_NULL);
    for (size_t i = 0; i < n_out; ++i)
        assert_int_equal(out[i], SENT8);
    assert_int_equal(CALL(pk, pbytes, &c.filter, in, skip, &ap, out, scr,
                          bytes),
                     TQ_OK);
#undef CALL
    free(mem);
    free(keep);
    free_case(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_random),
        cmocka_unit_test(test_conv2d_pointwise),
        cmocka_unit_test(test_conv2d_lenet),
        cmocka_unit_test(test_conv2d_wide_layers),
        cmocka_unit_test(test_conv2d_scratch_exact),
        cmocka_unit_test(test_depthwise_random),
        cmocka_unit_test(test_conv2d_packed),
        cmocka_unit_test(test_conv2d_packed_errors),
        cmocka_unit_test(test_conv2d_packed_shapes),
        cmocka_unit_test(test_depthwise_channels),
        cmocka_unit_test(test_depthwise_wide),
        cmocka_unit_test(test_fused_matches_unfused),
        cmocka_unit_test(test_conv2d_errors),
        cmocka_unit_test(test_conv2d_reduction_limit),
        cmocka_unit_test(test_depthwise_errors),
        cmocka_unit_test(test_fused_errors),
        cmocka_unit_test(test_cmsis_style_padding),
        cmocka_unit_test(test_conv_add_random),
        cmocka_unit_test(test_conv_add_residual_shapes),
        cmocka_unit_test(test_conv_add_errors),
        cmocka_unit_test(test_conv_add_packed_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
