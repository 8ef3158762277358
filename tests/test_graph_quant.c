/*
 * Tests of graph calibration, quantization and integer-only execution.
 *
 * The oracle is a small interpreter written here from
 * docs/int8-arithmetic.md and the quantization rules of docs/graph.md: it
 * runs each hand-built network in double on the calibration data (its own
 * min/max ranges), quantizes the weights (symmetric, abs-max, per channel
 * except the output layer), the biases (round(b / (s_in · s_w))) and the
 * multipliers (QuantizeMultiplier written with repeated halving), and runs
 * the integer network with naive int64 loops and TFLite requantization
 * (oracle_s8.h). It never calls the library's kernels. The activation
 * scales and zero points it uses are the quantized graph's, after checking
 * them against its own ranges (within float rounding of the range), so
 * that a last-bit difference of a float range cannot hide a real one: the
 * int8 outputs and accumulators must then agree bit for bit.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle_s8.h"
#include "testutil.h"
#include "tinyq.h"

#define SENT8 ((int8_t)0x5A)

/* Allocation count: tests/meson.build links this program with
 * -Wl,--wrap=malloc,calloc,realloc (where the linker has it), so every
 * allocation of the library (linked statically) and of this file passes
 * here. The runs must make none (tinyq.h: "Allocates nothing", "no
 * allocation"). */
#ifdef TQ_TEST_WRAP_ALLOC
void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *p, size_t size);
static size_t n_allocs;
void *__wrap_malloc(size_t size)
{
    ++n_allocs;
    return __real_malloc(size);
}
void *__wrap_calloc(size_t count, size_t size)
{
    ++n_allocs;
    return __real_calloc(count, size);
}
void *__wrap_realloc(void *p, size_t size)
{
    ++n_allocs;
    return __real_realloc(p, size);
}
#define ALLOCS() n_allocs
#else
#define ALLOCS() ((size_t)0)
#endif

/* ---- the oracle's network ------------------------------------------------- */

enum { O_CONV, O_DW, O_FC, O_MAXPOOL, O_AVGPOOL, O_GAP, O_ADD, O_CONCAT,
       O_CONV_POOL };
enum { MAXT = 16, MAXN = 16, MAXW = 4096 };

typedef struct otensor {
    int h, w, c;
    int32_t gid;     /* the graph's tensor id */
    int shared;      /* takes its input's parameters (pools) */
} otensor;

typedef struct onode {
    int op, a, b, out;
    int act;
    tq_conv_params cv;
    tq_pool_params pl;
    int kh, kw, cout, mult; /* conv: kernel, output channels; dw multiplier */
    float w[MAXW], bias[64];
    int has_bias;
    int cip;                /* average pool: count_include_pad */
} onode;

typedef struct onet {
    int nt, nn;
    otensor t[MAXT];
    onode n[MAXN];
    tq_graph *g;
    tt_rng rng;
} onet;

static int add_tensor(onet *o, int h, int w, int c, int32_t gid, int shared)
{
    o->t[o->nt] = (otensor){h, w, c, gid, shared};
    return o->nt++;
}

static int32_t constant(onet *o, const float *v, int ndim, const int64_t *shape)
{
    tq_tensor t;
    int32_t id;
    assert_int_equal(tq_tensor_init(&t, (void *)(uintptr_t)v, TQ_F32, ndim, shape),
                     TQ_OK);
    assert_int_equal(tq_graph_add_constant(o->g, NULL, &t, &id), TQ_OK);
    return id;
}

static int net_input(onet *o, int h, int w, int c)
{
    const int64_t shape[4] = {1, h, w, c};
    int32_t id;
    assert_int_equal(tq_graph_create(&o->g), TQ_OK);
    assert_int_equal(tq_graph_add_input(o->g, "x", 4, shape, &id), TQ_OK);
    return add_tensor(o, h, w, c, id, 0);
}

/* Conv (groups), depthwise (multiplier) or the fused conv + ReLU + pool. */
static int net_conv(onet *o, int op, int in, int cout, int k, int stride,
                    int pad, int groups, int mult, int act)
{
    onode *n = &o->n[o->nn++];
    const otensor *x = &o->t[in];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->a = in;
    n->act = act;
    n->kh = n->kw = k;
    n->cv = (tq_conv_params){stride, stride, pad, pad, pad, pad, 1, 1, groups};
    n->mult = mult;
    n->cout = op == O_DW ? x->c * mult : cout;
    const int cin_g = op == O_DW ? 1 : x->c / groups;
    const int nw = n->cout * k * k * cin_g;
    assert_true(nw <= MAXW && n->cout <= 64);
    for (int i = 0; i < nw; ++i)
        n->w[i] = (float)(tt_normal(&o->rng) * 0.4);
    for (int i = 0; i < n->cout; ++i)
        n->bias[i] = tt_float(&o->rng, -0.3f, 0.3f);
    n->has_bias = 1;
    int32_t ins[3];
    ins[0] = x->gid;
    if (op == O_DW) {
        const int64_t ws[4] = {1, k, k, n->cout};
        ins[1] = constant(o, n->w, 4, ws);
    } else {
        const int64_t ws[4] = {n->cout, k, k, cin_g};
        ins[1] = constant(o, n->w, 4, ws);
    }
    const int64_t bs[1] = {n->cout};
    ins[2] = constant(o, n->bias, 1, bs);
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    at.conv = n->cv;
    at.act = act;
    at.depth_multiplier = mult;
    int32_t out;
    const int gop = op == O_DW ? TQ_OP_DEPTHWISE_CONV2D
                               : (op == O_CONV ? TQ_OP_CONV2D
                                               : TQ_OP_CONV2D_RELU_MAXPOOL2);
    assert_int_equal(tq_graph_add_node(o->g, NULL, gop, 3, ins, &at, &out),
                     TQ_OK);
    int oh = (x->h + 2 * pad - k) / stride + 1, ow = (x->w + 2 * pad - k) / stride + 1;
    if (op == O_CONV_POOL)
        oh /= 2, ow /= 2;
    n->out = add_tensor(o, oh, ow, n->cout, out, 0);
    return n->out;
}

static int net_fc(onet *o, int in, int cout, int act)
{
    onode *n = &o->n[o->nn++];
    const otensor *x = &o->t[in];
    const int k = x->h * x->w * x->c;
    memset(n, 0, sizeof *n);
    n->op = O_FC;
    n->a = in;
    n->act = act;
    n->cout = cout;
    assert_true(cout * k <= MAXW);
    for (int i = 0; i < cout * k; ++i)
        n->w[i] = (float)(tt_normal(&o->rng) * 0.3);
    for (int i = 0; i < cout; ++i)
        n->bias[i] = tt_float(&o->rng, -0.5f, 0.5f);
    n->has_bias = 1;
    const int64_t ws[2] = {cout, k}, bs[1] = {cout};
    int32_t ins[3] = {x->gid, constant(o, n->w, 2, ws), constant(o, n->bias, 1, bs)};
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    at.act = act;
    int32_t out;
    assert_int_equal(tq_graph_add_node(o->g, NULL, TQ_OP_FULLY_CONNECTED, 3, ins,
                                       &at, &out),
                     TQ_OK);
    n->out = add_tensor(o, 1, 1, cout, out, 0);
    return n->out;
}

static int net_pool(onet *o, int op, int in, int k, int stride, int pad)
{
    onode *n = &o->n[o->nn++];
    const otensor *x = &o->t[in];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->a = in;
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    int oh = 1, ow = 1, gop = TQ_OP_GLOBAL_AVG_POOL;
    if (op != O_GAP) {
        n->pl = (tq_pool_params){k, k, stride, stride, pad, pad, pad, pad};
        at.pool = n->pl;
        oh = (x->h + 2 * pad - k) / stride + 1;
        ow = (x->w + 2 * pad - k) / stride + 1;
        gop = op == O_MAXPOOL ? TQ_OP_MAX_POOL : TQ_OP_AVG_POOL;
    } else {
        n->pl = (tq_pool_params){x->h, x->w, 1, 1, 0, 0, 0, 0};
    }
    int32_t out;
    assert_int_equal(tq_graph_add_node(o->g, NULL, gop, 1, &x->gid, &at, &out),
                     TQ_OK);
    n->out = add_tensor(o, oh, ow, x->c, out, 1);
    return n->out;
}

/* An average pool that counts its padding (ONNX count_include_pad). */
static int net_avgpool_cip(onet *o, int in, int k, int stride, int pad)
{
    onode *n = &o->n[o->nn++];
    const otensor *x = &o->t[in];
    memset(n, 0, sizeof *n);
    n->op = O_AVGPOOL;
    n->a = in;
    n->cip = 1;
    n->pl = (tq_pool_params){k, k, stride, stride, pad, pad, pad, pad};
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    at.pool = n->pl;
    at.count_include_pad = 1;
    int32_t out;
    assert_int_equal(tq_graph_add_node(o->g, NULL, TQ_OP_AVG_POOL, 1, &x->gid, &at,
                                       &out),
                     TQ_OK);
    n->out = add_tensor(o, (x->h + 2 * pad - k) / stride + 1,
                        (x->w + 2 * pad - k) / stride + 1, x->c, out, 1);
    return n->out;
}

static int net_binary(onet *o, int op, int a, int b, int act)
{
    onode *n = &o->n[o->nn++];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->a = a;
    n->b = b;
    n->act = act;
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    at.act = act;
    int32_t ins[2] = {o->t[a].gid, o->t[b].gid}, out;
    assert_int_equal(tq_graph_add_node(o->g, NULL,
                                       op == O_ADD ? TQ_OP_ADD : TQ_OP_CONCAT, 2,
                                       ins, op == O_ADD ? &at : NULL, &out),
                     TQ_OK);
    const otensor *x = &o->t[a];
    n->out = add_tensor(o, x->h, x->w,
                        op == O_ADD ? x->c : x->c + o->t[b].c, out, 0);
    return n->out;
}

static size_t t_size(const otensor *t)
{
    return (size_t)t->h * (size_t)t->w * (size_t)t->c;
}

/* ---- the oracle's arithmetic ------------------------------------------------ */

/* Parameters of one tensor. */
typedef struct oparam {
    float s;
    int zp;
} oparam;

/* The accumulator Σ w · (x − zp) of output (oy, ox, oc) of a conv-like
 * node over one sample (x already offset by the caller where needed). */
static double conv_acc(const onode *n, const otensor *ti, const double *x,
                       double zp, const double *w, int oy, int ox, int oc)
{
    double acc = 0.0;
    if (n->op == O_FC) {
        const int k = (int)t_size(ti);
        for (int i = 0; i < k; ++i)
            acc += w[oc * k + i] * (x[i] - zp);
        return acc;
    }
    const int dw = n->op == O_DW;
    const int cin_g = dw ? 1 : ti->c / n->cv.groups;
    const int group = dw ? 0 : oc / (n->cout / n->cv.groups);
    for (int ky = 0; ky < n->kh; ++ky)
        for (int kx = 0; kx < n->kw; ++kx) {
            const int iy = oy * n->cv.stride_h + ky - n->cv.pad_top;
            const int ix = ox * n->cv.stride_w + kx - n->cv.pad_left;
            if (iy < 0 || ix < 0 || iy >= ti->h || ix >= ti->w)
                continue;
            const double *px = x + ((size_t)iy * ti->w + ix) * ti->c;
            if (dw) {
                acc += w[(ky * n->kw + kx) * n->cout + oc] *
                       (px[oc / n->mult] - zp);
            } else {
                for (int ci = 0; ci < cin_g; ++ci)
                    acc += w[((oc * n->kh + ky) * n->kw + kx) * cin_g + ci] *
                           (px[group * cin_g + ci] - zp);
            }
        }
    return acc;
}

static double act_f(int act, double v)
{
    if (act == TQ_ACT_RELU || act == TQ_ACT_RELU6)
        v = v < 0 ? 0 : v;
    if (act == TQ_ACT_RELU6)
        v = v > 6 ? 6 : v;
    return v;
}

/* Float forward of one sample, every tensor (double). */
static void forward_f(const onet *o, const float *in, double **v)
{
    for (size_t i = 0; i < t_size(&o->t[0]); ++i)
        v[0][i] = in[i];
    for (int k = 0; k < o->nn; ++k) {
        const onode *n = &o->n[k];
        const otensor *ti = &o->t[n->a], *to = &o->t[n->out];
        double *y = v[n->out];
        const double *x = v[n->a];
        switch (n->op) {
        case O_CONV:
        case O_DW:
        case O_FC:
        case O_CONV_POOL: {
            static double wd[MAXW];
            const int nw = n->op == O_FC ? n->cout * (int)t_size(ti)
                                         : n->cout * n->kh * n->kw *
                                               (n->op == O_DW ? 1 : ti->c / n->cv.groups);
            for (int i = 0; i < nw; ++i)
                wd[i] = n->w[i];
            const int pool = n->op == O_CONV_POOL;
            for (int oy = 0; oy < to->h; ++oy)
                for (int ox = 0; ox < to->w; ++ox)
                    for (int oc = 0; oc < to->c; ++oc) {
                        double best = -INFINITY;
                        for (int p = 0; p < (pool ? 4 : 1); ++p) {
                            const int cy = pool ? 2 * oy + p / 2 : oy;
                            const int cx = pool ? 2 * ox + p % 2 : ox;
                            const double r = act_f(n->act,
                                conv_acc(n, ti, x, 0.0, wd, cy, cx, oc) + n->bias[oc]);
                            best = r > best ? r : best;
                        }
                        y[((size_t)oy * to->w + ox) * to->c + oc] = best;
                    }
            break;
        }
        case O_MAXPOOL:
        case O_AVGPOOL:
        case O_GAP:
            for (int oy = 0; oy < to->h; ++oy)
                for (int ox = 0; ox < to->w; ++ox)
                    for (int c = 0; c < to->c; ++c) {
                        double m = -INFINITY, s = 0;
                        int cnt = 0;
                        for (int ky = 0; ky < n->pl.kernel_h; ++ky)
                            for (int kx = 0; kx < n->pl.kernel_w; ++kx) {
                                const int iy = oy * n->pl.stride_h + ky - n->pl.pad_top;
                                const int ix = ox * n->pl.stride_w + kx - n->pl.pad_left;
                                if (iy < 0 || ix < 0 || iy >= ti->h || ix >= ti->w)
                                    continue;
                                const double u = x[((size_t)iy * ti->w + ix) * ti->c + c];
                                m = u > m ? u : m;
                                s += u;
                                ++cnt;
                            }
                        if (n->cip)
                            cnt = n->pl.kernel_h * n->pl.kernel_w; /* pads are 0 */
                        y[((size_t)oy * to->w + ox) * to->c + c] =
                            n->op == O_MAXPOOL ? m : s / cnt;
                    }
            break;
        case O_ADD:
            for (size_t i = 0; i < t_size(to); ++i)
                y[i] = act_f(n->act, x[i] + v[n->b][i]);
            break;
        default: { /* O_CONCAT */
            const otensor *tb = &o->t[n->b];
            for (size_t p = 0; p < (size_t)to->h * to->w; ++p) {
                for (int c = 0; c < ti->c; ++c)
                    y[p * to->c + c] = x[p * ti->c + c];
                for (int c = 0; c < tb->c; ++c)
                    y[p * to->c + ti->c + c] = v[n->b][p * tb->c + c];
            }
        }
        }
    }
}

/* TFLite QuantizeMultiplier by halving / doubling. */
static void o_qm(double real, int64_t *m, int *shift)
{
    int e = 0;
    if (real == 0.0) {
        *m = 0, *shift = 0;
        return;
    }
    while (real >= 1.0)
        real /= 2.0, ++e;
    while (real < 0.5)
        real *= 2.0, --e;
    int64_t q = llround(real * 2147483648.0);
    if (q == (INT64_C(1) << 31))
        q >>= 1, ++e;
    if (e < -31)
        q = 0, e = 0;
    *m = q;
    *shift = e;
}

static int o_quant(double f, float s, int zp)
{
    const double v = zp + (double)roundf((float)f / s);
    return (int)(v < -128 ? -128 : (v > 127 ? 127 : v));
}

typedef struct oq {
    oparam p[MAXT];
    int rounding;
    int per_channel;
    int wpow2; /* weight scales: the next power of two up */
} oq;

/* Integer forward of one sample (codes), @p acc receives the output FC's
 * accumulators. */
static void forward_q(const onet *o, const oq *q, const int8_t *in, int64_t **v,
                      int64_t *acc)
{
    for (size_t i = 0; i < t_size(&o->t[0]); ++i)
        v[0][i] = in[i];
    for (int k = 0; k < o->nn; ++k) {
        const onode *n = &o->n[k];
        const otensor *ti = &o->t[n->a], *to = &o->t[n->out];
        const oparam pi = q->p[n->a], po = q->p[n->out];
        int64_t *y = v[n->out];
        const int64_t *x = v[n->a];
        switch (n->op) {
        case O_CONV:
        case O_DW:
        case O_FC:
        case O_CONV_POOL: {
            static double wq[MAXW], xd[4096];
            float sw[64];
            const int nw = n->op == O_FC ? n->cout * (int)t_size(ti)
                                         : n->cout * n->kh * n->kw *
                                               (n->op == O_DW ? 1 : ti->c / n->cv.groups);
            const int per = nw / n->cout;
            const int last = k == o->nn - 1;
            const int pc = q->per_channel && !last;
            /* Weight scales: abs-max / 127 per channel (or whole tensor). */
            double all = 0;
            for (int c = 0; c < n->cout; ++c) {
                double a = 0;
                for (int i = 0; i < per; ++i) {
                    const int idx = n->op == O_DW ? i * n->cout + c : c * per + i;
                    a = fmax(a, fabs((double)n->w[idx]));
                }
                sw[c] = (float)(a / 127.0);
                all = fmax(all, a);
            }
            for (int c = 0; c < n->cout; ++c) {
                if (!pc)
                    sw[c] = (float)(all / 127.0);
                if (q->wpow2 && sw[c] > 0)
                    sw[c] = (float)exp2(ceil(log2((double)sw[c])));
            }
            for (int i = 0; i < nw; ++i) {
                const int c = n->op == O_DW ? i % n->cout : i / per;
                const float r = roundf(n->w[i] / sw[c]);
                wq[i] = r > 127 ? 127 : (r < -127 ? -127 : r);
            }
            for (size_t i = 0; i < t_size(ti); ++i)
                xd[i] = (double)x[i];
            int lo = -128, hi = 127;
            if (n->act != TQ_ACT_NONE)
                lo = o_quant(0.0, po.s, po.zp);
            if (n->act == TQ_ACT_RELU6)
                hi = o_quant(6.0, po.s, po.zp);
            const int pool = n->op == O_CONV_POOL;
            for (int oy = 0; oy < to->h; ++oy)
                for (int ox = 0; ox < to->w; ++ox)
                    for (int oc = 0; oc < to->c; ++oc) {
                        int64_t m;
                        int sh;
                        o_qm((double)pi.s * (double)sw[oc] / (double)po.s, &m, &sh);
                        const int64_t b = llround((double)n->bias[oc] /
                                                  ((double)pi.s * (double)sw[oc]));
                        int best = -129;
                        for (int p = 0; p < (pool ? 4 : 1); ++p) {
                            const int cy = pool ? 2 * oy + p / 2 : oy;
                            const int cx = pool ? 2 * ox + p % 2 : ox;
                            const int64_t a = (int64_t)conv_acc(n, ti, xd, pi.zp, wq,
                                                                cy, cx, oc) + b;
                            if (acc && last && !pool)
                                acc[((size_t)oy * to->w + ox) * to->c + oc] =
                                    o_sat32(a);
                            const int r = o_output(o_sat32(a), m, sh, q->rounding,
                                                   po.zp, lo, hi);
                            best = r > best ? r : best;
                        }
                        y[((size_t)oy * to->w + ox) * to->c + oc] = best;
                    }
            break;
        }
        case O_MAXPOOL:
        case O_AVGPOOL:
        case O_GAP:
            for (int oy = 0; oy < to->h; ++oy)
                for (int ox = 0; ox < to->w; ++ox)
                    for (int c = 0; c < to->c; ++c) {
                        int64_t m = -128, s = 0, cnt = 0;
                        for (int ky = 0; ky < n->pl.kernel_h; ++ky)
                            for (int kx = 0; kx < n->pl.kernel_w; ++kx) {
                                const int iy = oy * n->pl.stride_h + ky - n->pl.pad_top;
                                const int ix = ox * n->pl.stride_w + kx - n->pl.pad_left;
                                if (iy < 0 || ix < 0 || iy >= ti->h || ix >= ti->w)
                                    continue;
                                const int64_t u = x[((size_t)iy * ti->w + ix) * ti->c + c];
                                m = u > m ? u : m;
                                s += u;
                                ++cnt;
                            }
                        if (n->cip) { /* padded taps: the zero point */
                            const int64_t all = n->pl.kernel_h * n->pl.kernel_w;
                            s += (all - cnt) * pi.zp;
                            cnt = all;
                        }
                        y[((size_t)oy * to->w + ox) * to->c + c] =
                            n->op == O_MAXPOOL
                                ? m
                                : (s > 0 ? s + cnt / 2 : s - cnt / 2) / cnt;
                    }
            break;
        case O_ADD: {
            const oparam pb = q->p[n->b];
            const double twice = 2.0 * (double)(pi.s > pb.s ? pi.s : pb.s);
            int64_t m1, m2, mo;
            int s1, s2, so;
            o_qm((double)pi.s / twice, &m1, &s1);
            o_qm((double)pb.s / twice, &m2, &s2);
            o_qm(twice / (1048576.0 * (double)po.s), &mo, &so);
            const int lo = n->act != TQ_ACT_NONE ? o_quant(0.0, po.s, po.zp) : -128;
            for (size_t i = 0; i < t_size(to); ++i) {
                const int64_t a1 = o_requant((x[i] - pi.zp) * 1048576, m1, s1, q->rounding);
                const int64_t a2 = o_requant((v[n->b][i] - pb.zp) * 1048576, m2, s2,
                                             q->rounding);
                y[i] = o_output(a1 + a2, mo, so, q->rounding, po.zp, lo, 127);
            }
            break;
        }
        default: { /* O_CONCAT: each input requantized in double */
            const otensor *tb = &o->t[n->b];
            const oparam pb = q->p[n->b];
            for (size_t p = 0; p < (size_t)to->h * to->w; ++p) {
                for (int c = 0; c < ti->c + tb->c; ++c) {
                    const int first = c < ti->c;
                    const int64_t u = first ? x[p * ti->c + c]
                                            : v[n->b][p * tb->c + c - ti->c];
                    const oparam pu = first ? pi : pb;
                    const double r = po.zp + round((double)(u - pu.zp) * pu.s / po.s);
                    y[p * to->c + c] = r < -128 ? -128 : (r > 127 ? 127 : (int64_t)r);
                }
            }
        }
        }
    }
}

/* ---- running a network both ways ------------------------------------------------- */

enum { N_CAL = 8, N_TEST = 5 };

typedef struct run_opts {
    int per_channel;
    int rounding;
    int pow2;      /* activation scales rounded up to powers of two */
    int wpow2;     /* weight scales rounded up to powers of two */
} run_opts;

/* Calibrate with MINMAX on N_CAL random inputs (two batches), quantize,
 * check every activation's parameters against the oracle's ranges, and
 * compare N_TEST int8 outputs and accumulators bit for bit. */
static void check_net(onet *o, run_opts ro)
{
    const int out_t = o->n[o->nn - 1].out;
    assert_int_equal(tq_graph_set_output(o->g, o->t[out_t].gid), TQ_OK);
    assert_int_equal(tq_graph_finalize(o->g, 0), TQ_OK);
    const size_t in_n = t_size(&o->t[0]), out_n = t_size(&o->t[out_t]);
    float *cal = malloc(N_CAL * in_n * sizeof *cal);
    float *test = malloc(N_TEST * in_n * sizeof *test);
    tt_fill_f32(&o->rng, cal, N_CAL * in_n, -1.0f, 1.0f);
    tt_fill_f32(&o->rng, test, N_TEST * in_n, -1.0f, 1.0f);

    tq_quant_config cfg;
    assert_int_equal(tq_quant_config_init(&cfg), TQ_OK);
    cfg.weight_per_channel = ro.per_channel;
    cfg.rounding = ro.rounding;
    cfg.activation_scheme.pow2_scale = ro.pow2;
    cfg.weight_scheme.pow2_scale = ro.wpow2;
    tq_calibrator *c = NULL;
    int32_t again = -1;
    assert_int_equal(tq_calibrator_create(o->g, &cfg, &c), TQ_OK);
    assert_int_equal(tq_calibrator_feed(c, 3, cal), TQ_OK);
    assert_int_equal(tq_calibrator_feed(c, N_CAL - 3, cal + 3 * in_n), TQ_OK);
    assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
    assert_int_equal(again, 0);
    tq_graph *qg = NULL;
    const tq_status qs = tq_graph_quantize(o->g, c, &qg);
    if (qs != TQ_OK)
        fail_msg("quantize: %s", tq_graph_error(o->g));
    assert_int_equal(tq_graph_is_quantized(qg), 1);
    assert_int_equal(tq_graph_is_quantized(o->g), 0);

    /* The oracle's float ranges over the calibration data. */
    double *fv[MAXT];
    int64_t *iv[MAXT];
    double lo[MAXT], hi[MAXT];
    for (int t = 0; t < o->nt; ++t) {
        fv[t] = malloc(t_size(&o->t[t]) * sizeof(double));
        iv[t] = malloc(t_size(&o->t[t]) * sizeof(int64_t));
        lo[t] = INFINITY, hi[t] = -INFINITY;
    }
    for (int s = 0; s < N_CAL; ++s) {
        forward_f(o, cal + s * in_n, fv);
        for (int t = 0; t < o->nt; ++t)
            for (size_t i = 0; i < t_size(&o->t[t]); ++i) {
                lo[t] = fmin(lo[t], fv[t][i]);
                hi[t] = fmax(hi[t], fv[t][i]);
            }
    }
    oq q = {{{0}}, ro.rounding, ro.per_channel, ro.wpow2};
    for (int t = 0; t < o->nt; ++t) {
        tq_graph_tensor_info info;
        assert_int_equal(tq_graph_tensor(qg, o->t[t].gid, &info), TQ_OK);
        assert_int_equal(info.dtype, TQ_S8);
        assert_int_equal(info.qcount, 1);
        q.p[t].s = info.scale[0];
        q.p[t].zp = info.zero_point[0];
        if (o->t[t].shared) {
            /* A pool's output keeps its input's parameters exactly. */
            int src = -1;
            for (int k = 0; k < o->nn; ++k)
                if (o->n[k].out == t)
                    src = o->n[k].a;
            assert_true(q.p[t].s == q.p[src].s);
            assert_int_equal(q.p[t].zp, q.p[src].zp);
            continue;
        }
        /* Asymmetric MINMAX: the range widened to hold 0, 255 steps. */
        const double l = fmin(lo[t], 0.0), h = fmax(hi[t], 0.0);
        double s = (h - l) / 255.0;
        if (ro.pow2) {
            /* The next power of two up: exactly one, within rounding. */
            const double p2 = exp2(ceil(log2(s * (1 - 1e-5))));
            assert_true(frexpf(q.p[t].s, &(int){0}) == 0.5f);
            assert_true(p2 >= s * (1 - 1e-5) && p2 < 2 * s * (1 + 1e-5));
            s = p2;
        }
        if (fabs((double)q.p[t].s - s) > 1e-5 * s)
            fail_msg("tensor %d: scale %.9g, oracle %.9g", t, (double)q.p[t].s, s);
        const double zp = -128.0 - round(l / s);
        if (fabs(q.p[t].zp - zp) > 1.0)
            fail_msg("tensor %d: zero point %d, oracle %g", t, q.p[t].zp, zp);
    }

    /* Weights int8 (per channel except the output layer), biases int32 at
     * s_in · s_w. */
    for (int32_t i = 0; i < tq_graph_node_count(qg); ++i) {
        tq_graph_node_info ni;
        tq_graph_tensor_info wi, bi, xi;
        assert_int_equal(tq_graph_node(qg, i, &ni), TQ_OK);
        if (ni.op != TQ_OP_CONV2D && ni.op != TQ_OP_DEPTHWISE_CONV2D &&
            ni.op != TQ_OP_FULLY_CONNECTED && ni.op != TQ_OP_CONV2D_RELU_MAXPOOL2)
            continue;
        assert_int_equal(tq_graph_tensor(qg, ni.inputs[0], &xi), TQ_OK);
        assert_int_equal(tq_graph_tensor(qg, ni.inputs[1], &wi), TQ_OK);
        assert_int_equal(tq_graph_tensor(qg, ni.inputs[2], &bi), TQ_OK);
        assert_int_equal(wi.dtype, TQ_S8);
        assert_int_equal(bi.dtype, TQ_S32);
        assert_true(wi.is_constant && wi.data && bi.data);
        const int last = ni.output == o->t[out_t].gid;
        const int64_t channels = ni.op == TQ_OP_DEPTHWISE_CONV2D ? wi.shape[3] : wi.shape[0];
        assert_int_equal(wi.qcount, ro.per_channel && !last ? channels : 1);
        assert_int_equal(bi.qcount, wi.qcount);
        for (int64_t k = 0; k < wi.qcount; ++k) {
            assert_int_equal(wi.zero_point[k], 0);
            const double want = (double)xi.scale[0] * (double)wi.scale[k];
            assert_true(fabs((double)bi.scale[k] - want) <= 1e-6 * want);
        }
        const int8_t *codes = wi.data;
        size_t nw = 1;
        for (int d = 0; d < wi.ndim; ++d)
            nw *= (size_t)wi.shape[d];
        for (size_t k = 0; k < nw; ++k)
            assert_true(codes[k] >= -127 && codes[k] <= 127);
        if (ro.wpow2) {
            /* Power-of-two weight scales: each is 2^e, and the next power
             * of two up from abs-max / 127, so the largest |code| of each
             * scale group lies in [64, 127] (abs-max / scale >= 63.5). */
            const int64_t groups = wi.qcount;
            const size_t per = nw / (size_t)groups;
            for (int64_t g = 0; g < groups; ++g) {
                assert_true(frexpf(wi.scale[g], &(int){0}) == 0.5f);
                int big = 0;
                for (size_t k = 0; k < nw; ++k) {
                    /* depthwise [1][KH][KW][C]: channel = k % C; else
                     * [O][...]: channel = k / per. */
                    const int64_t ch = groups == 1 ? 0
                                       : ni.op == TQ_OP_DEPTHWISE_CONV2D
                                           ? (int64_t)(k % (size_t)groups)
                                           : (int64_t)(k / per);
                    if (ch == g && abs(codes[k]) > big)
                        big = abs(codes[k]);
                }
                if (big < 64 || big > 127)
                    fail_msg("node %s channel %lld: largest |code| %d with a "
                             "power-of-two scale", ni.name, (long long)g, big);
            }
        }
    }

    /* Integer run of the test batch, against the oracle. */
    int8_t *xq = malloc(N_TEST * in_n), *yq = malloc(N_TEST * out_n + 1);
    int32_t *acc = malloc((N_TEST * out_n + 1) * sizeof *acc);
    for (size_t i = 0; i < N_TEST * in_n; ++i)
        xq[i] = (int8_t)o_quant(test[i], q.p[0].s, q.p[0].zp);
    int8_t *xq2 = malloc(N_TEST * in_n);
    assert_int_equal(tq_graph_quantize_input(qg, N_TEST * in_n, test, xq2), TQ_OK);
    assert_memory_equal(xq, xq2, N_TEST * in_n);
    size_t bytes = 0;
    assert_int_equal(tq_graph_arena_size(qg, N_TEST, &bytes), TQ_OK);
    void *arena = malloc(bytes);
    memset(yq, SENT8, N_TEST * out_n + 1);
    const int want_acc = o->n[o->nn - 1].op == O_FC || o->n[o->nn - 1].op == O_CONV;
    const size_t allocs = ALLOCS();
    const tq_status rs = tq_graph_run_s8(qg, N_TEST, xq, yq, want_acc ? acc : NULL,
                                         arena, bytes);
    if (rs != TQ_OK)
        fail_msg("run_s8: %s", tq_graph_error(qg));
    if (ALLOCS() != allocs)
        fail_msg("tq_graph_run_s8 allocated %zu times", ALLOCS() - allocs);
    assert_int_equal(yq[N_TEST * out_n], SENT8);
    for (int s = 0; s < N_TEST; ++s) {
        static int64_t oacc[4096];
        assert_true(out_n <= 4096);
        forward_q(o, &q, xq + s * in_n, iv, oacc);
        for (size_t i = 0; i < out_n; ++i) {
            if (yq[s * out_n + i] != iv[out_t][i])
                fail_msg("sample %d output %zu: %d, oracle %lld", s, i,
                         yq[s * out_n + i], (long long)iv[out_t][i]);
            if (want_acc && acc[s * out_n + i] != oacc[i])
                fail_msg("sample %d accumulator %zu: %d, oracle %lld", s, i,
                         acc[s * out_n + i], (long long)oacc[i]);
        }
    }
    /* Batch 1 gives the same as each sample of the batch. */
    size_t b1;
    assert_int_equal(tq_graph_arena_size(qg, 1, &b1), TQ_OK);
    assert_true(b1 <= bytes);
    static int8_t y1[4096];
    assert_int_equal(tq_graph_run_s8(qg, 1, xq + in_n, y1, NULL, arena, b1), TQ_OK);
    assert_memory_equal(y1, yq + out_n, out_n);

    /* Accuracy proxy on calibration samples (inside the calibrated
     * ranges): dequantized int8 outputs within a few output scales of the
     * float graph's. */
    assert_int_equal(tq_graph_quantize_input(qg, N_TEST * in_n, cal, xq), TQ_OK);
    assert_int_equal(tq_graph_run_s8(qg, N_TEST, xq, yq, NULL, arena, bytes), TQ_OK);
    float *yf = malloc(N_TEST * out_n * sizeof *yf), *yd = malloc(N_TEST * out_n * sizeof *yd);
    size_t fb;
    assert_int_equal(tq_graph_arena_size(o->g, N_TEST, &fb), TQ_OK);
    void *farena = malloc(fb);
    const size_t fallocs = ALLOCS();
    assert_int_equal(tq_graph_run_f32(o->g, N_TEST, cal, yf, farena, fb), TQ_OK);
    if (ALLOCS() != fallocs)
        fail_msg("tq_graph_run_f32 allocated %zu times", ALLOCS() - fallocs);
    assert_int_equal(tq_graph_dequantize_output(qg, N_TEST * out_n, yq, yd), TQ_OK);
    double worst = 0;
    for (size_t i = 0; i < N_TEST * out_n; ++i)
        worst = fmax(worst, fabs((double)yf[i] - yd[i]) / q.p[out_t].s);
    if (worst > 4.0)
        fail_msg("int8 output %.1f output scales away from float", worst);

    for (int t = 0; t < o->nt; ++t)
        free(fv[t]), free(iv[t]);
    free(cal), free(test), free(xq), free(xq2), free(yq), free(acc), free(arena);
    free(yf), free(yd), free(farena);
    tq_graph_free(qg);
    tq_calibrator_free(c);
    tq_graph_free(o->g);
}

/* The one network a test builds at a time: zeroed, its draws seeded. */
static onet *fresh_net(uint64_t seed)
{
    static onet o;
    memset(&o, 0, sizeof o);
    o.rng.s = seed;
    return &o;
}

static void test_conv_relu_pool_fc(void **state)
{
    (void)state;
    const run_opts opts[6] = {{1, TQ_ROUND_DOUBLE, 0, 0},
                              {0, TQ_ROUND_DOUBLE, 0, 0},
                              {1, TQ_ROUND_SINGLE, 0, 0},
                              {1, TQ_ROUND_SINGLE, 1, 0},
                              {1, TQ_ROUND_DOUBLE, 0, 1},
                              {0, TQ_ROUND_SINGLE, 1, 1}};
    for (int v = 0; v < 6; ++v) {
        onet *o = fresh_net(0xc0de + (uint64_t)v);
        int x = net_input(o, 8, 8, 3);
        x = net_conv(o, O_CONV, x, 4, 3, 1, 1, 1, 1, TQ_ACT_RELU);
        x = net_pool(o, O_MAXPOOL, x, 2, 2, 0);
        net_fc(o, x, 5, TQ_ACT_NONE);
        check_net(o, opts[v]);
    }
}

static void test_residual_add(void **state)
{
    (void)state;
    onet *o = fresh_net(0xadd);
    const int x = net_input(o, 6, 6, 4);
    const int a = net_conv(o, O_CONV, x, 4, 3, 1, 1, 1, 1, TQ_ACT_RELU);
    const int b = net_conv(o, O_CONV, a, 4, 3, 1, 1, 2, 1, TQ_ACT_NONE);
    int y = net_binary(o, O_ADD, a, b, TQ_ACT_RELU);
    y = net_pool(o, O_GAP, y, 0, 0, 0);
    net_fc(o, y, 4, TQ_ACT_NONE);
    check_net(o, (run_opts){1, TQ_ROUND_DOUBLE, 0, 0});
}

/* Residual blocks as in ResNet-8: the second conv of a block adds the skip
 * tensor in its output stage (tq_s8_conv2d_add) and writes the sum over the
 * skip tensor, which dies there. The oracle knows nothing of that: the
 * outputs must be those of conv then add. The arena shows the fusion: two
 * maps and the conv scratch at the second conv, where conv + add needs
 * three. */
static void test_residual_blocks(void **state)
{
    (void)state;
    for (int v = 0; v < 3; ++v) {
        static onet o;
        memset(&o, 0, sizeof o);
        o.rng.s = 0xb10c + (uint64_t)v;
        const int c = 8;
        const int x = net_input(&o, 8, 8, c);
        int y;
        if (v < 2) {
            const int a = net_conv(&o, O_CONV, x, c, 3, 1, 1, 1, 1,
                                   TQ_ACT_RELU);
            const int b = net_conv(&o, O_CONV, a, c, 3, 1, 1, 1, 1,
                                   TQ_ACT_NONE);
            y = v == 0 ? net_binary(&o, O_ADD, b, x, TQ_ACT_RELU)
                       : net_binary(&o, O_ADD, x, b, TQ_ACT_RELU);
        } else {
            /* A block with a projection: stride 2, 1x1 shortcut conv made
             * after the block's second conv (so the shortcut is the conv
             * that adds, over the second conv's output). */
            const int a = net_conv(&o, O_CONV, x, 2 * c, 3, 2, 1, 1, 1,
                                   TQ_ACT_RELU);
            const int b = net_conv(&o, O_CONV, a, 2 * c, 3, 1, 1, 1, 1,
                                   TQ_ACT_NONE);
            const int sc = net_conv(&o, O_CONV, x, 2 * c, 1, 2, 0, 1, 1,
                                    TQ_ACT_NONE);
            y = net_binary(&o, O_ADD, b, sc, TQ_ACT_RELU);
        }
        y = net_pool(&o, O_GAP, y, 0, 0, 0);
        net_fc(&o, y, 4, TQ_ACT_NONE);
        check_net(&o, (run_opts){1, v == 2 ? TQ_ROUND_SINGLE : TQ_ROUND_DOUBLE,
                                 0, 0});
    }
    /* The arena of the plain block (rebuilt and quantized the same way). */
    static onet o;
    memset(&o, 0, sizeof o);
    o.rng.s = 0xb10c;
    const int x = net_input(&o, 8, 8, 8);
    const int a = net_conv(&o, O_CONV, x, 8, 3, 1, 1, 1, 1, TQ_ACT_RELU);
    const int b = net_conv(&o, O_CONV, a, 8, 3, 1, 1, 1, 1, TQ_ACT_NONE);
    int y = net_binary(&o, O_ADD, b, x, TQ_ACT_RELU);
    y = net_pool(&o, O_GAP, y, 0, 0, 0);
    const int out = net_fc(&o, y, 4, TQ_ACT_NONE);
    assert_int_equal(tq_graph_set_output(o.g, o.t[out].gid), TQ_OK);
    assert_int_equal(tq_graph_finalize(o.g, 0), TQ_OK);
    tq_quant_config cfg;
    tq_quant_config_init(&cfg);
    tq_calibrator *cal = NULL;
    tq_graph *qg = NULL;
    assert_int_equal(tq_calibrator_create(o.g, &cfg, &cal), TQ_OK);
    static float in[4 * 8 * 8 * 8];
    for (size_t i = 0; i < sizeof in / sizeof in[0]; ++i)
        in[i] = tt_float(&o.rng, -1.0f, 1.0f);
    int32_t again = 1;
    while (again) {
        assert_int_equal(tq_calibrator_feed(cal, 4, in), TQ_OK);
        assert_int_equal(tq_calibrator_end_pass(cal, &again), TQ_OK);
    }
    assert_int_equal(tq_graph_quantize(o.g, cal, &qg), TQ_OK);
    const tq_conv_params cp = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const tq_dims d = {1, 8, 8, 8}, f = {8, 3, 3, 8};
    size_t scratch = 0, arena = 0;
    assert_int_equal(tq_s8_conv2d_scratch_size(&cp, &d, &f, &d, &scratch),
                     TQ_OK);
    assert_int_equal(tq_graph_arena_size(qg, 1, &arena), TQ_OK);
    /* Two 512-byte maps and the scratch (each rounded to 16), plus the
     * 64-byte alignment slack; three maps would not fit. */
    const size_t two_maps = 2 * 512 + (scratch + 15) / 16 * 16;
    if (arena > two_maps + 128)
        fail_msg("arena %zu bytes, two maps and the scratch are %zu", arena,
                 two_maps);
    tq_graph_free(qg);
    tq_calibrator_free(cal);
    tq_graph_free(o.g);
}

static void test_depthwise_relu6_avgpool(void **state)
{
    (void)state;
    onet *o = fresh_net(0xd3);
    int x = net_input(o, 9, 9, 3);
    x = net_conv(o, O_DW, x, 0, 3, 2, 1, 1, 2, TQ_ACT_RELU6);
    x = net_conv(o, O_CONV, x, 4, 1, 1, 0, 2, 1, TQ_ACT_RELU6);
    x = net_pool(o, O_AVGPOOL, x, 3, 1, 1);
    net_fc(o, x, 3, TQ_ACT_NONE);
    check_net(o, (run_opts){1, TQ_ROUND_DOUBLE, 0, 0});
}

static void test_concat(void **state)
{
    (void)state;
    onet *o = fresh_net(0xcc);
    const int x = net_input(o, 6, 6, 3);
    const int a = net_conv(o, O_CONV, x, 3, 1, 1, 0, 1, 1, TQ_ACT_NONE);
    const int b = net_conv(o, O_CONV, x, 2, 3, 1, 1, 1, 1, TQ_ACT_RELU);
    int y = net_binary(o, O_CONCAT, a, b, TQ_ACT_NONE);
    y = net_pool(o, O_MAXPOOL, y, 2, 2, 0);
    net_fc(o, y, 4, TQ_ACT_NONE);
    check_net(o, (run_opts){1, TQ_ROUND_DOUBLE, 0, 0});
}

static void test_conv_pool_fused(void **state)
{
    (void)state;
    onet *o = fresh_net(0xf05e);
    int x = net_input(o, 10, 10, 3);
    x = net_conv(o, O_CONV_POOL, x, 5, 3, 1, 0, 1, 1, TQ_ACT_RELU);
    x = net_conv(o, O_CONV_POOL, x, 4, 3, 1, 0, 1, 1, TQ_ACT_RELU);
    net_fc(o, x, 6, TQ_ACT_NONE);
    check_net(o, (run_opts){1, TQ_ROUND_DOUBLE, 0, 0});
}

/* ---- ops through tables and affine forms ------------------------------------------- */

/* One code through the documented table rule: f((q − zp_in) · s_in)
 * requantized in double, ties away from zero. */
static int64_t o_table(int64_t q, oparam pi, oparam po, int fn, double lo,
                       double hi)
{
    double v = (double)(q - pi.zp) * pi.s;
    if (fn == 1)
        v = v < 0 ? 0.1 * v : v; /* leaky ReLU, alpha 0.1 */
    else if (fn == 2)
        v = v < lo ? lo : (v > hi ? hi : v);
    const double r = po.zp + round(v / po.s);
    return r < -128 ? -128 : (r > 127 ? 127 : (int64_t)r);
}

/* A per-channel affine a·x + b as the 1x1 depthwise the quantizer makes:
 * weights abs-max per channel, bias at s_in · s_w. */
static int64_t o_affine(int64_t q, oparam pi, oparam po, double a, double b,
                        int has_b, int rounding)
{
    const float sw = (float)(fabs(a) / 127.0);
    const float code = roundf((float)a / sw);
    const int64_t bias = has_b ? llround(b / ((double)pi.s * (double)sw)) : 0;
    int64_t m;
    int sh;
    o_qm((double)pi.s * (double)sw / (double)po.s, &m, &sh);
    return o_output(o_sat32((int64_t)code * (q - pi.zp) + bias), m, sh, rounding,
                    po.zp, -128, 127);
}

/* conv 1x1 -> LeakyRelu -> Mul by a per-channel constant -> Add of a
 * scalar -> Clip -> Pad -> MaxPool -> Reshape -> FC -> Softmax (dropped). */
static void test_table_and_affine_ops(void **state)
{
    (void)state;
    enum { C = 3, HW = 16, NC = 8, NT = 4 };
    tt_rng r = {0x7ab1e};
    static float wc[C * C], bc[C], av[C], bv[1] = {0.25f}, wf[4 * 27], bf[4];
    tt_fill_f32(&r, wc, C * C, -1, 1);
    tt_fill_f32(&r, bc, C, -0.2f, 0.2f);
    av[0] = 1.5f, av[1] = -0.75f, av[2] = 0.3f;
    tt_fill_f32(&r, wf, 4 * 27, -0.5f, 0.5f);
    tt_fill_f32(&r, bf, 4, -0.1f, 0.1f);
    tq_graph *g = NULL;
    const int64_t in_shape[4] = {1, 4, 4, C};
    int32_t t[10], cst[6], ins[3];
    tq_tensor tt;
    tq_node_attrs at;
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    assert_int_equal(tq_graph_add_input(g, "x", 4, in_shape, &t[0]), TQ_OK);
    const int64_t swc[4] = {C, 1, 1, C}, sc[1] = {C}, s1[1] = {1}, swf[2] = {4, 27},
                  sbf[1] = {4};
    tq_tensor_init(&tt, wc, TQ_F32, 4, swc);
    tq_graph_add_constant(g, "wc", &tt, &cst[0]);
    tq_tensor_init(&tt, bc, TQ_F32, 1, sc);
    tq_graph_add_constant(g, "bc", &tt, &cst[1]);
    tq_tensor_init(&tt, av, TQ_F32, 1, sc);
    tq_graph_add_constant(g, "a", &tt, &cst[2]);
    tq_tensor_init(&tt, bv, TQ_F32, 1, s1);
    tq_graph_add_constant(g, "b", &tt, &cst[3]);
    tq_tensor_init(&tt, wf, TQ_F32, 2, swf);
    tq_graph_add_constant(g, "wf", &tt, &cst[4]);
    tq_tensor_init(&tt, bf, TQ_F32, 1, sbf);
    tq_graph_add_constant(g, "bf", &tt, &cst[5]);
    tq_node_attrs_init(&at);
    ins[0] = t[0], ins[1] = cst[0], ins[2] = cst[1];
    assert_int_equal(tq_graph_add_node(g, "conv", TQ_OP_CONV2D, 3, ins, &at, &t[1]), TQ_OK);
    at.alpha = 0.1f;
    assert_int_equal(tq_graph_add_node(g, "leaky", TQ_OP_LEAKY_RELU, 1, &t[1], &at, &t[2]),
                     TQ_OK);
    tq_node_attrs_init(&at);
    ins[0] = t[2], ins[1] = cst[2];
    assert_int_equal(tq_graph_add_node(g, "mul", TQ_OP_MUL, 2, ins, &at, &t[3]), TQ_OK);
    ins[0] = t[3], ins[1] = cst[3];
    assert_int_equal(tq_graph_add_node(g, "add", TQ_OP_ADD, 2, ins, &at, &t[4]), TQ_OK);
    at.act = TQ_ACT_CLIP, at.act_min = -0.5f, at.act_max = 1.5f;
    assert_int_equal(tq_graph_add_node(g, "clip", TQ_OP_ACTIVATION, 1, &t[4], &at, &t[5]),
                     TQ_OK);
    tq_node_attrs_init(&at);
    at.conv.pad_top = at.conv.pad_bottom = at.conv.pad_left = at.conv.pad_right = 1;
    assert_int_equal(tq_graph_add_node(g, "pad", TQ_OP_PAD, 1, &t[5], &at, &t[6]), TQ_OK);
    tq_node_attrs_init(&at);
    at.pool = (tq_pool_params){2, 2, 2, 2, 0, 0, 0, 0};
    assert_int_equal(tq_graph_add_node(g, "pool", TQ_OP_MAX_POOL, 1, &t[6], &at, &t[7]),
                     TQ_OK);
    tq_node_attrs_init(&at);
    at.ndim = 2, at.shape[0] = 1, at.shape[1] = 27;
    assert_int_equal(tq_graph_add_node(g, "flat", TQ_OP_RESHAPE, 1, &t[7], &at, &t[8]),
                     TQ_OK);
    tq_node_attrs_init(&at);
    ins[0] = t[8], ins[1] = cst[4], ins[2] = cst[5];
    assert_int_equal(tq_graph_add_node(g, "fc", TQ_OP_FULLY_CONNECTED, 3, ins, &at, &t[9]),
                     TQ_OK);
    int32_t sm;
    assert_int_equal(tq_graph_add_node(g, "softmax", TQ_OP_SOFTMAX, 1, &t[9], NULL, &sm),
                     TQ_OK);
    assert_int_equal(tq_graph_set_output(g, sm), TQ_OK);
    assert_int_equal(tq_graph_finalize(g, 0), TQ_OK);

    static float cal[NC * HW * C], test[NT * HW * C];
    tt_fill_f32(&r, cal, NC * HW * C, -1.5f, 1.5f);
    tt_fill_f32(&r, test, NT * HW * C, -1.8f, 1.8f);
    tq_quant_config cfg;
    tq_quant_config_init(&cfg);
    tq_calibrator *c = NULL;
    int32_t again;
    assert_int_equal(tq_calibrator_create(g, &cfg, &c), TQ_OK);
    assert_int_equal(tq_calibrator_feed(c, NC, cal), TQ_OK);
    assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
    tq_graph *qg = NULL;
    if (tq_graph_quantize(g, c, &qg) != TQ_OK)
        fail_msg("quantize: %s", tq_graph_error(g));
    /* The Softmax is gone: the output is the logits. */
    int32_t qin, qout;
    assert_int_equal(tq_graph_io(qg, &qin, &qout), TQ_OK);
    assert_int_equal(qout, t[9]);
    assert_int_equal(tq_graph_node_count(qg), tq_graph_node_count(g) - 1);

    /* Oracle float ranges: tensors 0..5 and 9 have their own. */
    double lo[10], hi[10];
    for (int k = 0; k < 10; ++k)
        lo[k] = 0, hi[k] = 0; /* MINMAX widens to hold 0 anyway */
    for (int sidx = 0; sidx < NC; ++sidx) {
        double v[6][HW * C], pooled[27], logits[4];
        for (int i = 0; i < HW * C; ++i)
            v[0][i] = cal[sidx * HW * C + i];
        for (int p = 0; p < HW; ++p)
            for (int oc = 0; oc < C; ++oc) {
                double acc = bc[oc];
                for (int ci = 0; ci < C; ++ci)
                    acc += (double)wc[oc * C + ci] * v[0][p * C + ci];
                const int i = p * C + oc;
                v[1][i] = acc;
                v[2][i] = acc < 0 ? 0.1 * acc : acc;
                v[3][i] = av[oc] * v[2][i];
                v[4][i] = v[3][i] + 0.25;
                v[5][i] = v[4][i] < -0.5 ? -0.5 : (v[4][i] > 1.5 ? 1.5 : v[4][i]);
            }
        for (int oy = 0; oy < 3; ++oy)
            for (int ox = 0; ox < 3; ++ox)
                for (int ch = 0; ch < C; ++ch) {
                    double m = -INFINITY;
                    for (int k = 0; k < 4; ++k) {
                        const int py = 2 * oy + k / 2 - 1, px = 2 * ox + k % 2 - 1;
                        const double u = py < 0 || px < 0 || py > 3 || px > 3
                                             ? 0.0
                                             : v[5][(py * 4 + px) * C + ch];
                        m = u > m ? u : m;
                    }
                    pooled[(oy * 3 + ox) * C + ch] = m;
                }
        for (int o = 0; o < 4; ++o) {
            logits[o] = bf[o];
            for (int i = 0; i < 27; ++i)
                logits[o] += (double)wf[o * 27 + i] * pooled[i];
        }
        for (int k = 0; k < 6; ++k)
            for (int i = 0; i < HW * C; ++i)
                lo[k] = fmin(lo[k], v[k][i]), hi[k] = fmax(hi[k], v[k][i]);
        for (int o = 0; o < 4; ++o)
            lo[9] = fmin(lo[9], logits[o]), hi[9] = fmax(hi[9], logits[o]);
    }
    oparam p[10];
    for (int k = 0; k < 10; ++k) {
        tq_graph_tensor_info info;
        assert_int_equal(tq_graph_tensor(qg, t[k], &info), TQ_OK);
        assert_int_equal(info.dtype, TQ_S8);
        p[k].s = info.scale[0];
        p[k].zp = info.zero_point[0];
        if (k >= 6 && k <= 8) {
            assert_true(p[k].s == p[5].s); /* pad, pool, reshape share */
            assert_int_equal(p[k].zp, p[5].zp);
            continue;
        }
        const double sc = (hi[k] - lo[k]) / 255.0;
        if (fabs((double)p[k].s - sc) > 1e-5 * sc)
            fail_msg("tensor %d: scale %.9g, oracle %.9g", k, (double)p[k].s, sc);
    }

    /* Integer oracle on the test batch (it saturates some values). */
    int8_t xq[NT * HW * C], yq[NT * 4];
    int32_t acc[NT * 4];
    assert_int_equal(tq_graph_quantize_input(qg, NT * HW * C, test, xq), TQ_OK);
    size_t bytes;
    assert_int_equal(tq_graph_arena_size(qg, NT, &bytes), TQ_OK);
    void *arena = malloc(bytes);
    if (tq_graph_run_s8(qg, NT, xq, yq, acc, arena, bytes) != TQ_OK)
        fail_msg("run_s8: %s", tq_graph_error(qg));
    for (int sidx = 0; sidx < NT; ++sidx) {
        int64_t v[6][HW * C], pooled[27];
        for (int i = 0; i < HW * C; ++i) {
            const int64_t q0 = o_quant(test[sidx * HW * C + i], p[0].s, p[0].zp);
            assert_int_equal(q0, xq[sidx * HW * C + i]);
            v[0][i] = q0;
        }
        for (int oc = 0; oc < C; ++oc) {
            double a = 0;
            for (int ci = 0; ci < C; ++ci)
                a = fmax(a, fabs((double)wc[oc * C + ci]));
            const float sw = (float)(a / 127.0);
            int64_t m;
            int sh;
            o_qm((double)p[0].s * (double)sw / (double)p[1].s, &m, &sh);
            const int64_t b = llround((double)bc[oc] / ((double)p[0].s * (double)sw));
            for (int pix = 0; pix < HW; ++pix) {
                int64_t s = b;
                for (int ci = 0; ci < C; ++ci)
                    s += (int64_t)roundf(wc[oc * C + ci] / sw) *
                         (v[0][pix * C + ci] - p[0].zp);
                v[1][pix * C + oc] = o_output(o_sat32(s), m, sh, TQ_ROUND_DOUBLE,
                                              p[1].zp, -128, 127);
            }
        }
        for (int i = 0; i < HW * C; ++i) {
            v[2][i] = o_table(v[1][i], p[1], p[2], 1, 0, 0);
            v[3][i] = o_affine(v[2][i], p[2], p[3], av[i % C], 0, 0, TQ_ROUND_DOUBLE);
            v[4][i] = o_affine(v[3][i], p[3], p[4], 1.0, 0.25, 1, TQ_ROUND_DOUBLE);
            v[5][i] = o_table(v[4][i], p[4], p[5], 2, -0.5, 1.5);
        }
        for (int oy = 0; oy < 3; ++oy)
            for (int ox = 0; ox < 3; ++ox)
                for (int ch = 0; ch < C; ++ch) {
                    int64_t m = -128;
                    for (int k = 0; k < 4; ++k) {
                        const int py = 2 * oy + k / 2 - 1, px = 2 * ox + k % 2 - 1;
                        const int64_t u = py < 0 || px < 0 || py > 3 || px > 3
                                              ? p[5].zp
                                              : v[5][(py * 4 + px) * C + ch];
                        m = u > m ? u : m;
                    }
                    pooled[(oy * 3 + ox) * C + ch] = m;
                }
        double a = 0;
        for (int i = 0; i < 4 * 27; ++i)
            a = fmax(a, fabs((double)wf[i]));
        const float sw = (float)(a / 127.0); /* the output layer: per tensor */
        int64_t m;
        int sh;
        o_qm((double)p[8].s * (double)sw / (double)p[9].s, &m, &sh);
        for (int o = 0; o < 4; ++o) {
            int64_t s = llround((double)bf[o] / ((double)p[8].s * (double)sw));
            for (int i = 0; i < 27; ++i)
                s += (int64_t)roundf(wf[o * 27 + i] / sw) * (pooled[i] - p[8].zp);
            assert_int_equal(acc[sidx * 4 + o], o_sat32(s));
            assert_int_equal(yq[sidx * 4 + o],
                             o_output(o_sat32(s), m, sh, TQ_ROUND_DOUBLE, p[9].zp,
                                      -128, 127));
        }
    }
    free(arena);
    tq_graph_free(qg);
    tq_calibrator_free(c);
    tq_graph_free(g);
}

/* ---- the calibrator ------------------------------------------------------------- */

/* input [1,5,5,2] -> conv 3x3 pad 1 (4 channels, ReLU) -> FC 3: a small
 * finalized float graph; *conv_out receives the conv output's id. */
static tq_graph *small_graph(tt_rng *r, int32_t *conv_out, int finalize)
{
    static float w1[4 * 3 * 3 * 2], b1[4], w2[3 * 100], b2[3];
    tq_graph *g = NULL;
    const int64_t in_shape[4] = {1, 5, 5, 2};
    const int64_t s1[4] = {4, 3, 3, 2}, sb1[1] = {4}, s2[2] = {3, 100}, sb2[1] = {3};
    tq_tensor t;
    int32_t x, ins[3], y, z;
    tt_fill_f32(r, w1, sizeof w1 / sizeof *w1, -0.5f, 0.5f);
    tt_fill_f32(r, b1, 4, -0.2f, 0.2f);
    tt_fill_f32(r, w2, sizeof w2 / sizeof *w2, -0.3f, 0.3f);
    tt_fill_f32(r, b2, 3, -0.2f, 0.2f);
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    assert_int_equal(tq_graph_add_input(g, "x", 4, in_shape, &x), TQ_OK);
    ins[0] = x;
    tq_tensor_init(&t, w1, TQ_F32, 4, s1);
    assert_int_equal(tq_graph_add_constant(g, "w1", &t, &ins[1]), TQ_OK);
    tq_tensor_init(&t, b1, TQ_F32, 1, sb1);
    assert_int_equal(tq_graph_add_constant(g, "b1", &t, &ins[2]), TQ_OK);
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    at.conv.pad_top = at.conv.pad_bottom = at.conv.pad_left = at.conv.pad_right = 1;
    at.act = TQ_ACT_RELU;
    assert_int_equal(tq_graph_add_node(g, "conv", TQ_OP_CONV2D, 3, ins, &at, &y), TQ_OK);
    ins[0] = y;
    tq_tensor_init(&t, w2, TQ_F32, 2, s2);
    assert_int_equal(tq_graph_add_constant(g, "w2", &t, &ins[1]), TQ_OK);
    tq_tensor_init(&t, b2, TQ_F32, 1, sb2);
    assert_int_equal(tq_graph_add_constant(g, "b2", &t, &ins[2]), TQ_OK);
    assert_int_equal(tq_graph_add_node(g, "fc", TQ_OP_FULLY_CONNECTED, 3, ins, NULL, &z),
                     TQ_OK);
    assert_int_equal(tq_graph_set_output(g, z), TQ_OK);
    if (finalize)
        assert_int_equal(tq_graph_finalize(g, TQ_REWRITE_ALL), TQ_OK);
    *conv_out = y;
    return g;
}

enum { CAL_N = 11, CAL_IN = 50, CAL_CONV = 100 };

/* The conv output of all CAL_N samples, by one float run. */
static void conv_values(tq_graph *g, int32_t conv, const float *x, float *out)
{
    /* A graph with the conv output as its output gives its values. */
    (void)conv;
    size_t bytes;
    tq_graph_node_info info;
    assert_int_equal(tq_graph_node(g, 0, &info), TQ_OK);
    assert_int_equal(info.op, TQ_OP_CONV2D);
    /* The same conv computed by the library's f32 kernel. */
    tq_graph_tensor_info w, b;
    assert_int_equal(tq_graph_tensor(g, info.inputs[1], &w), TQ_OK);
    assert_int_equal(tq_graph_tensor(g, info.inputs[2], &b), TQ_OK);
    const tq_dims in = {CAL_N, 5, 5, 2}, fd = {4, 3, 3, 2}, od = {CAL_N, 5, 5, 4};
    tq_f32_act relu;
    tq_f32_act_from(TQ_ACT_RELU, &relu);
    assert_int_equal(tq_f32_conv2d_scratch_size(&info.attrs.conv, &in, &fd, &od, &bytes),
                     TQ_OK);
    void *scratch = malloc(bytes);
    assert_int_equal(tq_f32_conv2d(&info.attrs.conv, &in, x, &fd, w.data, b.data,
                                   &relu, &od, out, scratch, bytes),
                     TQ_OK);
    free(scratch);
}

static void range_of(tq_calibrator *c, int32_t t, double *lo, double *hi)
{
    const tq_status s = tq_calibrator_range(c, t, lo, hi);
    if (s != TQ_OK)
        fail_msg("range of %d: %s", t, tq_calibrator_error(c));
}

/* Stats of pass 1 equal one tq_stats over everything fed (so MINMAX and
 * KSIGMA ranges agree with a one-shot computation), and the histograms of
 * pass 2 equal one built in one go over the known range (so PERCENTILE,
 * MSE and KL ranges agree exactly). */
static void test_calibrator_streams(void **state)
{
    (void)state;
    tt_rng r = {0xca1};
    int32_t conv, input, output;
    tq_graph *g = small_graph(&r, &conv, 1);
    assert_int_equal(tq_graph_io(g, &input, &output), TQ_OK);
    float *x = malloc(CAL_N * CAL_IN * sizeof *x);
    float *y = malloc(CAL_N * CAL_CONV * sizeof *y);
    for (int i = 0; i < CAL_N * CAL_IN; ++i)
        x[i] = (float)(tt_normal(&r) * 0.7 + 0.1);
    conv_values(g, conv, x, y);
    const tq_qscheme asym = {8, 0, 0, 0};
    const int32_t methods[6] = {TQ_RANGE_MINMAX, TQ_RANGE_ABSMAX, TQ_RANGE_KSIGMA,
                                TQ_RANGE_PERCENTILE, TQ_RANGE_MSE, TQ_RANGE_KL};
    for (int mi = 0; mi < 6; ++mi) {
        tq_quant_config cfg;
        tq_quant_config_init(&cfg);
        cfg.activation_range.method = methods[mi];
        cfg.activation_range.k = 2.5;
        cfg.activation_range.percentile = 99.5;
        cfg.histogram_bins = 512;
        tq_calibrator *c = NULL;
        assert_int_equal(tq_calibrator_create(g, &cfg, &c), TQ_OK);
        const int hist = mi >= 3;
        int32_t again = -1;
        for (int pass = 0; pass < 1 + hist; ++pass) {
            /* Uneven batches: 4, 1, 6. */
            assert_int_equal(tq_calibrator_feed(c, 4, x), TQ_OK);
            assert_int_equal(tq_calibrator_feed(c, 1, x + 4 * CAL_IN), TQ_OK);
            assert_int_equal(tq_calibrator_feed(c, 6, x + 5 * CAL_IN), TQ_OK);
            assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
            assert_int_equal(again, pass == 0 && hist);
        }
        /* One-shot oracle over the input and the conv output. */
        const struct { int32_t t; const float *v; size_t n; } cases[2] = {
            {input, x, CAL_N * CAL_IN}, {conv, y, CAL_N * CAL_CONV}};
        for (int k = 0; k < 2; ++k) {
            tq_stats st;
            tq_histogram h;
            static uint64_t bins[512];
            double lo, hi, want_lo, want_hi;
            tq_stats_init(&st);
            assert_int_equal(tq_stats_update_f32(&st, cases[k].v, cases[k].n), TQ_OK);
            assert_int_equal(tq_histogram_init(&h, bins, 512, st.min,
                                               st.max > st.min ? st.max : st.min + 1),
                             TQ_OK);
            assert_int_equal(tq_histogram_add_f32(&h, cases[k].v, cases[k].n), TQ_OK);
            assert_int_equal(tq_choose_range(&cfg.activation_range, &asym, &st, &h,
                                             &want_lo, &want_hi),
                             TQ_OK);
            range_of(c, cases[k].t, &lo, &hi);
            if (methods[mi] == TQ_RANGE_KSIGMA) {
                /* Moments merged by batches: equal to rounding. */
                assert_true(fabs(lo - want_lo) <= 1e-12 * (1 + fabs(want_lo)));
                assert_true(fabs(hi - want_hi) <= 1e-12 * (1 + fabs(want_hi)));
            } else if (lo != want_lo || hi != want_hi) {
                fail_msg("method %d tensor %d: [%.17g, %.17g], one-shot [%.17g, %.17g]",
                         methods[mi], cases[k].t, lo, hi, want_lo, want_hi);
            }
            if (methods[mi] == TQ_RANGE_MINMAX)
                assert_true(lo == st.min && hi == st.max);
        }
        /* Done: no more feeding, no second end. */
        assert_int_equal(tq_calibrator_feed(c, 1, x), TQ_ERR_PARAM);
        assert_true(strstr(tq_calibrator_error(c), "complete") != NULL);
        assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_ERR_PARAM);
        tq_calibrator_free(c);
    }
    free(x);
    free(y);
    tq_graph_free(g);
}

static void test_calibrator_overrides(void **state)
{
    (void)state;
    tt_rng r = {0x0e};
    int32_t conv, input, output;
    tq_graph *g = small_graph(&r, &conv, 1);
    assert_int_equal(tq_graph_io(g, &input, &output), TQ_OK);
    float x[CAL_N * CAL_IN];
    for (int i = 0; i < CAL_N * CAL_IN; ++i)
        x[i] = (float)(tt_normal(&r) * 0.5 + 0.3);
    tq_quant_config cfg;
    tq_quant_config_init(&cfg);
    tq_calibrator *c = NULL;
    assert_int_equal(tq_calibrator_create(g, &cfg, &c), TQ_OK);
    const tq_range_config absmax = {TQ_RANGE_ABSMAX, 0, 0, 0};
    const tq_range_config pct = {TQ_RANGE_PERCENTILE, 0, 0, 99.0};
    const tq_qscheme sym = {8, 1, 0, 0}, four = {4, 0, 0, 0}, bad = {9, 0, 0, 0};
    const tq_range_config badr = {TQ_RANGE_PERCENTILE, 0, 0, 40.0};
    /* Bad overrides change nothing. */
    assert_int_equal(tq_calibrator_set_tensor(c, input, NULL, &four), TQ_ERR_UNSUPPORTED);
    assert_true(strstr(tq_calibrator_error(c), "8 bits") != NULL);
    assert_int_equal(tq_calibrator_set_tensor(c, input, NULL, &bad), TQ_ERR_PARAM);
    assert_int_equal(tq_calibrator_set_tensor(c, input, &badr, NULL), TQ_ERR_PARAM);
    assert_int_equal(tq_calibrator_set_tensor(c, input, NULL, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_calibrator_set_tensor(c, 999, &absmax, NULL), TQ_ERR_PARAM);
    tq_graph_node_info fc;
    assert_int_equal(tq_graph_node(g, 1, &fc), TQ_OK);
    assert_int_equal(tq_calibrator_set_tensor(c, fc.inputs[1], &absmax, NULL),
                     TQ_ERR_PARAM); /* a weight */
    assert_true(strstr(tq_calibrator_error(c), "constant") != NULL);
    assert_int_equal(tq_calibrator_set_tensor(NULL, input, &absmax, NULL), TQ_ERR_NULL);
    /* The input by abs-max, the conv output by a percentile under a
     * symmetric scheme, the output by default. */
    assert_int_equal(tq_calibrator_set_tensor(c, input, &absmax, NULL), TQ_OK);
    assert_int_equal(tq_calibrator_set_tensor(c, conv, &pct, &sym), TQ_OK);
    int32_t again;
    assert_int_equal(tq_calibrator_feed(c, CAL_N, x), TQ_OK);
    /* Too late for overrides, and not calibrated yet. */
    assert_int_equal(tq_calibrator_set_tensor(c, input, &pct, NULL), TQ_ERR_PARAM);
    double lo, hi;
    assert_int_equal(tq_calibrator_range(c, input, &lo, &hi), TQ_ERR_PARAM);
    /* Statistics only once the first pass has ended. */
    tq_stats seen, sentinel;
    memset(&sentinel, 0x5a, sizeof sentinel);
    seen = sentinel;
    assert_int_equal(tq_calibrator_stats(c, input, &seen), TQ_ERR_PARAM);
    assert_memory_equal(&seen, &sentinel, sizeof seen);
    assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
    assert_int_equal(again, 1); /* the percentile needs a histogram */
    {
        /* The input's statistics, against a plain double loop. */
        double mn = x[0], mx = x[0], sum = 0.0;
        for (int i = 0; i < CAL_N * CAL_IN; ++i) {
            mn = fmin(mn, x[i]);
            mx = fmax(mx, x[i]);
            sum += x[i];
        }
        assert_int_equal(tq_calibrator_stats(c, input, &seen), TQ_OK);
        assert_int_equal(seen.count, CAL_N * CAL_IN);
        assert_true(seen.min == mn && seen.max == mx);
        assert_true(fabs(seen.mean - sum / (CAL_N * CAL_IN)) < 1e-9);
        assert_int_equal(tq_calibrator_stats(c, conv, &seen), TQ_OK);
        assert_int_equal(tq_calibrator_stats(c, fc.inputs[1], &seen),
                         TQ_ERR_PARAM); /* a weight */
        assert_int_equal(tq_calibrator_stats(c, 999, &seen), TQ_ERR_PARAM);
        assert_int_equal(tq_calibrator_stats(NULL, input, &seen), TQ_ERR_NULL);
        assert_int_equal(tq_calibrator_stats(c, input, NULL), TQ_ERR_NULL);
    }
    /* A second pass that does not see the same values is refused. */
    assert_int_equal(tq_calibrator_feed(c, CAL_N - 1, x), TQ_OK);
    assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_ERR_PARAM);
    assert_true(strstr(tq_calibrator_error(c), "same batches") != NULL);
    assert_int_equal(tq_calibrator_feed(c, 1, x + (CAL_N - 1) * CAL_IN), TQ_OK);
    assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
    assert_int_equal(again, 0);

    tq_stats st;
    tq_stats_init(&st);
    tq_stats_update_f32(&st, x, CAL_N * CAL_IN);
    const double a = fmax(fabs(st.min), fabs(st.max));
    range_of(c, input, &lo, &hi);
    assert_true(lo == -a && hi == a);
    range_of(c, conv, &lo, &hi);
    assert_true(lo == -hi && hi > 0); /* symmetric */
    const double conv_hi = hi;
    range_of(c, output, &lo, &hi);
    assert_true(lo < hi);
    /* The quantized graph: symmetric conv output (zero point 0). */
    tq_graph *qg = NULL;
    assert_int_equal(tq_graph_quantize(g, c, &qg), TQ_OK);
    tq_graph_tensor_info info;
    assert_int_equal(tq_graph_tensor(qg, conv, &info), TQ_OK);
    assert_int_equal(info.zero_point[0], 0);
    if (fabs((double)info.scale[0] - conv_hi / 127.0) > 1e-6 * conv_hi)
        fail_msg("conv scale %.9g, range %.9g", (double)info.scale[0], conv_hi);
    assert_int_equal(tq_graph_tensor(qg, input, &info), TQ_OK);
    assert_true(fabs((double)info.scale[0] - 2 * a / 255.0) <= 1e-6 * a);
    tq_graph_free(qg);
    tq_calibrator_free(c);
    tq_graph_free(g);
}

/* The weight range method reaches the weights: each channel's scale is
 * the one its own statistics (and histogram) give under the config. */
static void test_weight_range_methods(void **state)
{
    (void)state;
    const int32_t methods[4] = {TQ_RANGE_KSIGMA, TQ_RANGE_PERCENTILE, TQ_RANGE_MSE,
                                TQ_RANGE_KL};
    for (int mi = 0; mi < 4; ++mi) {
        tt_rng r = {0x3e1 + (uint64_t)mi};
        int32_t conv;
        tq_graph *g = small_graph(&r, &conv, 1);
        float x[CAL_N * CAL_IN];
        tt_fill_f32(&r, x, CAL_N * CAL_IN, -1, 1);
        tq_quant_config cfg;
        tq_quant_config_init(&cfg);
        cfg.weight_range.method = methods[mi];
        cfg.weight_range.k = 2.0;
        cfg.weight_range.percentile = 95.0;
        cfg.histogram_bins = 256;
        tq_calibrator *c = NULL;
        int32_t again;
        assert_int_equal(tq_calibrator_create(g, &cfg, &c), TQ_OK);
        assert_int_equal(tq_calibrator_feed(c, CAL_N, x), TQ_OK);
        assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
        assert_int_equal(again, 0); /* weights need no second pass */
        tq_graph *qg = NULL;
        assert_int_equal(tq_graph_quantize(g, c, &qg), TQ_OK);
        for (int32_t node = 0; node < 2; ++node) {
            tq_graph_node_info fi, qi;
            tq_graph_tensor_info wf, wq;
            assert_int_equal(tq_graph_node(g, node, &fi), TQ_OK);
            assert_int_equal(tq_graph_node(qg, node, &qi), TQ_OK);
            assert_int_equal(tq_graph_tensor(g, fi.inputs[1], &wf), TQ_OK);
            assert_int_equal(tq_graph_tensor(qg, qi.inputs[1], &wq), TQ_OK);
            const int64_t rows = wf.shape[0];
            const int64_t cols = node == 0 ? wf.shape[1] * wf.shape[2] * wf.shape[3]
                                           : wf.shape[1];
            const int64_t channels = node == 0 ? rows : 1; /* fc: the output */
            assert_int_equal(wq.qcount, channels);
            const float *w = wf.data;
            for (int64_t ch = 0; ch < channels; ++ch) {
                const size_t n = (size_t)(channels == 1 ? rows * cols : cols);
                const float *v = w + ch * cols;
                tq_stats st;
                tq_histogram h;
                static uint64_t bins[256];
                double lo, hi;
                float scale;
                int32_t zp;
                tq_stats_init(&st);
                tq_stats_update_f32(&st, v, n);
                tq_histogram_init(&h, bins, 256, st.min, st.max);
                tq_histogram_add_f32(&h, v, n);
                assert_int_equal(tq_choose_range(&cfg.weight_range, &cfg.weight_scheme,
                                                 &st, &h, &lo, &hi),
                                 TQ_OK);
                assert_int_equal(tq_qparams_from_range(&cfg.weight_scheme, lo, hi,
                                                       &scale, &zp),
                                 TQ_OK);
                if (wq.scale[ch] != scale)
                    fail_msg("method %d node %d channel %lld: scale %.9g, want %.9g",
                             methods[mi], node, (long long)ch, (double)wq.scale[ch],
                             (double)scale);
                /* Clipped weights saturate at ±127. */
                const int8_t *codes = (const int8_t *)wq.data + ch * cols;
                for (size_t i = 0; i < n; ++i) {
                    const float rr = roundf(v[i] / scale);
                    const int want = rr > 127 ? 127 : (rr < -127 ? -127 : (int)rr);
                    assert_int_equal(codes[i], want);
                }
            }
        }
        tq_graph_free(qg);
        tq_calibrator_free(c);
        tq_graph_free(g);
    }
}

/* Accumulators of an output layer that has none (a pool) are refused
 * before anything runs; without them the graph runs. */
static void test_accumulators_need_conv_or_fc(void **state)
{
    (void)state;
    const int64_t in_shape[4] = {1, 4, 4, 2};
    float x[2 * 32];
    tt_rng r = {0xacc};
    tt_fill_f32(&r, x, 64, -1, 1);
    tq_graph *g = NULL;
    int32_t in, a, y;
    tq_node_attrs at;
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    assert_int_equal(tq_graph_add_input(g, "x", 4, in_shape, &in), TQ_OK);
    tq_node_attrs_init(&at);
    at.act = TQ_ACT_RELU6;
    assert_int_equal(tq_graph_add_node(g, "relu6", TQ_OP_ACTIVATION, 1, &in, &at, &a),
                     TQ_OK);
    tq_node_attrs_init(&at);
    at.pool = (tq_pool_params){2, 2, 2, 2, 0, 0, 0, 0};
    assert_int_equal(tq_graph_add_node(g, "pool", TQ_OP_MAX_POOL, 1, &a, &at, &y),
                     TQ_OK);
    assert_int_equal(tq_graph_set_output(g, y), TQ_OK);
    assert_int_equal(tq_graph_finalize(g, 0), TQ_OK);
    tq_quant_config cfg;
    tq_quant_config_init(&cfg);
    tq_calibrator *c = NULL;
    int32_t again;
    assert_int_equal(tq_calibrator_create(g, &cfg, &c), TQ_OK);
    assert_int_equal(tq_calibrator_feed(c, 2, x), TQ_OK);
    assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
    tq_graph *qg = NULL;
    assert_int_equal(tq_graph_quantize(g, c, &qg), TQ_OK);
    int8_t xq[64], yq[17];
    int32_t acc[17];
    size_t bytes;
    assert_int_equal(tq_graph_quantize_input(qg, 64, x, xq), TQ_OK);
    assert_int_equal(tq_graph_arena_size(qg, 2, &bytes), TQ_OK);
    void *arena = malloc(bytes);
    memset(yq, SENT8, sizeof yq);
    assert_int_equal(tq_graph_run_s8(qg, 2, xq, yq, acc, arena, bytes),
                     TQ_ERR_UNSUPPORTED);
    assert_true(strstr(tq_graph_error(qg), "accumulators") != NULL);
    for (int i = 0; i < 17; ++i)
        assert_int_equal(yq[i], SENT8);
    assert_int_equal(tq_graph_run_s8(qg, 2, xq, yq, NULL, arena, bytes), TQ_OK);
    assert_int_equal(yq[16], SENT8);
    /* ReLU6 through its table, then the pool on the same parameters: the
     * dequantized maximum of each window, clamped to [0, 6]. */
    float yd[16];
    assert_int_equal(tq_graph_dequantize_output(qg, 16, yq, yd), TQ_OK);
    tq_graph_tensor_info ti, tx;
    assert_int_equal(tq_graph_tensor(qg, y, &ti), TQ_OK);
    assert_int_equal(tq_graph_tensor(qg, in, &tx), TQ_OK);
    /* Half a step of the input's rounding, half of the table's. */
    const double tol = 0.5 * tx.scale[0] + 0.5 * ti.scale[0] + 1e-6;
    for (int s = 0; s < 2; ++s)
        for (int p = 0; p < 4; ++p) {
            const int oy = p / 2, ox = p % 2;
            for (int ch = 0; ch < 2; ++ch) {
                double m = -1e9;
                for (int k = 0; k < 4; ++k) {
                    const int iy = 2 * oy + k / 2, ix = 2 * ox + k % 2;
                    const double v = x[s * 32 + (iy * 4 + ix) * 2 + ch];
                    m = fmax(m, fmin(fmax(v, 0.0), 6.0));
                }
                assert_true(fabs(yd[s * 8 + p * 2 + ch] - m) <= tol);
            }
        }
    free(arena);
    tq_graph_free(qg);
    tq_calibrator_free(c);
    tq_graph_free(g);
}

/* ---- rejection paths --------------------------------------------------------------- */

static void test_rejections(void **state)
{
    (void)state;
    tt_rng r = {0xbad};
    int32_t conv, input, output;
    tq_graph *raw = small_graph(&r, &conv, 0);
    tq_graph *g = small_graph(&r, &conv, 1);
    assert_int_equal(tq_graph_io(g, &input, &output), TQ_OK);
    float x[CAL_N * CAL_IN];
    tt_fill_f32(&r, x, CAL_N * CAL_IN, -1, 1);
    tq_quant_config cfg;
    tq_quant_config_init(&cfg);
    tq_calibrator *c = NULL, *keep = (tq_calibrator *)(uintptr_t)0x1;
    int32_t again;

    /* Creating. */
    assert_int_equal(tq_quant_config_init(NULL), TQ_ERR_NULL);
    assert_int_equal(tq_calibrator_create(NULL, &cfg, &c), TQ_ERR_NULL);
    assert_int_equal(tq_calibrator_create(g, NULL, &c), TQ_ERR_NULL);
    assert_int_equal(tq_calibrator_create(g, &cfg, NULL), TQ_ERR_NULL);
    c = keep;
    assert_int_equal(tq_calibrator_create(raw, &cfg, &c), TQ_ERR_PARAM);
    assert_true(strstr(tq_graph_error(raw), "not finalized") != NULL);
    assert_ptr_equal(c, keep);
    tq_quant_config bad = cfg;
    bad.weight_scheme.symmetric = 0;
    assert_int_equal(tq_calibrator_create(g, &bad, &c), TQ_ERR_UNSUPPORTED);
    assert_true(strstr(tq_graph_error(g), "symmetric") != NULL);
    bad = cfg;
    bad.weight_scheme.bits = 6; /* narrow weights: tq_calibrator_set_dtype */
    assert_int_equal(tq_calibrator_create(g, &bad, &c), TQ_ERR_UNSUPPORTED);
    bad = cfg;
    bad.activation_scheme.bits = 9;
    assert_int_equal(tq_calibrator_create(g, &bad, &c), TQ_ERR_PARAM);
    bad = cfg;
    bad.activation_scheme.bits = 1;
    assert_int_equal(tq_calibrator_create(g, &bad, &c), TQ_ERR_PARAM);
    bad = cfg;
    bad.histogram_bins = 0;
    assert_int_equal(tq_calibrator_create(g, &bad, &c), TQ_ERR_PARAM);
    bad = cfg;
    bad.rounding = 7;
    assert_int_equal(tq_calibrator_create(g, &bad, &c), TQ_ERR_PARAM);
    bad = cfg;
    bad.activation_range.method = 9;
    assert_int_equal(tq_calibrator_create(g, &bad, &c), TQ_ERR_PARAM);
    assert_ptr_equal(c, keep);

    /* Feeding. */
    assert_int_equal(tq_calibrator_feed(NULL, 1, x), TQ_ERR_NULL);
    assert_int_equal(tq_calibrator_end_pass(NULL, &again), TQ_ERR_NULL);
    assert_int_equal(tq_calibrator_range(NULL, 0, NULL, NULL), TQ_ERR_NULL);
    assert_string_equal(tq_calibrator_error(NULL), "");
    assert_int_equal(tq_calibrator_create(g, &cfg, &c), TQ_OK);
    assert_int_equal(tq_calibrator_feed(c, 1, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_calibrator_feed(c, 0, x), TQ_ERR_PARAM);
    assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_ERR_EMPTY);
    float nan_x[CAL_IN];
    memcpy(nan_x, x, sizeof nan_x);
    nan_x[7] = NAN;
    assert_int_equal(tq_calibrator_feed(c, 1, nan_x), TQ_ERR_NOT_FINITE);
    assert_true(strstr(tq_calibrator_error(c), "not finite") != NULL);
    assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_ERR_EMPTY); /* nothing counted */

    /* Quantizing before calibration is complete. */
    tq_graph *qg = (tq_graph *)(uintptr_t)0x1;
    assert_int_equal(tq_graph_quantize(g, c, &qg), TQ_ERR_PARAM);
    assert_true(strstr(tq_graph_error(g), "not complete") != NULL);
    assert_int_equal(tq_graph_quantize(raw, c, &qg), TQ_ERR_PARAM);
    assert_true(strstr(tq_graph_error(raw), "not finalized") != NULL);
    assert_int_equal(tq_graph_quantize(NULL, c, &qg), TQ_ERR_NULL);
    assert_int_equal(tq_graph_quantize(g, NULL, &qg), TQ_ERR_NULL);
    assert_int_equal(tq_graph_quantize(g, c, NULL), TQ_ERR_NULL);
    assert_ptr_equal(qg, (tq_graph *)(uintptr_t)0x1);
    assert_int_equal(tq_calibrator_feed(c, CAL_N, x), TQ_OK);
    assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
    /* A calibrator of another graph. */
    tq_graph *g2 = small_graph(&r, &conv, 1);
    assert_int_equal(tq_graph_quantize(g2, c, &qg), TQ_ERR_PARAM);
    assert_true(strstr(tq_graph_error(g2), "another graph") != NULL);
    assert_ptr_equal(qg, (tq_graph *)(uintptr_t)0x1);
    tq_graph_free(g2);
    /* Success writes nothing to the graph: the last failure's sentence
     * stays. */
    assert_int_equal(tq_graph_quantize(g, c, &qg), TQ_OK);
    assert_true(strstr(tq_graph_error(g), "not complete") != NULL);

    /* Running the wrong kind of graph, or with the wrong arena. */
    size_t fbytes, qbytes;
    assert_int_equal(tq_graph_arena_size(g, 2, &fbytes), TQ_OK);
    assert_int_equal(tq_graph_arena_size(qg, 2, &qbytes), TQ_OK);
    assert_true(qbytes < fbytes);
    void *arena = malloc(fbytes);
    int8_t xq[2 * CAL_IN], yq[8];
    int32_t acc[8];
    float yf[8];
    memset(xq, 3, sizeof xq);
    memset(yq, SENT8, sizeof yq);
    for (int i = 0; i < 8; ++i)
        yf[i] = 42.0f, acc[i] = 4242;
    assert_int_equal(tq_graph_run_s8(g, 2, xq, yq, NULL, arena, fbytes), TQ_ERR_PARAM);
    assert_true(strstr(tq_graph_error(g), "not quantized") != NULL);
    assert_int_not_equal(tq_graph_run_f32(qg, 2, x, yf, arena, fbytes), TQ_OK);
    assert_true(strstr(tq_graph_error(qg), "quantized") != NULL);
    assert_int_equal(tq_graph_run_s8(qg, 2, xq, yq, acc, arena, qbytes - 1),
                     TQ_ERR_BUFFER_TOO_SMALL);
    assert_true(strstr(tq_graph_error(qg), "arena") != NULL);
    assert_int_equal(tq_graph_run_s8(qg, 2, xq, yq, acc, NULL, qbytes), TQ_ERR_NULL);
    assert_int_equal(tq_graph_run_s8(qg, 2, NULL, yq, acc, arena, qbytes), TQ_ERR_NULL);
    assert_int_equal(tq_graph_run_s8(qg, 2, xq, NULL, acc, arena, qbytes), TQ_ERR_NULL);
    assert_int_equal(tq_graph_run_s8(NULL, 2, xq, yq, acc, arena, qbytes), TQ_ERR_NULL);
    assert_int_equal(tq_graph_run_s8(qg, 0, xq, yq, acc, arena, qbytes), TQ_ERR_PARAM);
    assert_int_equal(tq_graph_run_s8(qg, 2, xq, (int8_t *)arena + 8, acc, arena, qbytes),
                     TQ_ERR_ALIAS);
    assert_int_equal(tq_graph_run_s8(qg, 2, xq, yq, (int32_t *)(void *)xq, arena, qbytes),
                     TQ_ERR_ALIAS);
    assert_true(strstr(tq_graph_error(qg), "overlap") != NULL);
    assert_int_equal(tq_graph_quantize_input(g, 2, x, xq), TQ_ERR_PARAM);
    assert_int_equal(tq_graph_dequantize_output(g, 2, yq, yf), TQ_ERR_PARAM);
    assert_int_equal(tq_graph_quantize_input(NULL, 2, x, xq), TQ_ERR_NULL);
    assert_int_equal(tq_graph_dequantize_output(NULL, 2, yq, yf), TQ_ERR_NULL);
    assert_int_equal(tq_graph_quantize_input(qg, 2, nan_x + 6, xq), TQ_ERR_NOT_FINITE);
    assert_int_equal(xq[0], 3);
    for (int i = 0; i < 8; ++i) {
        assert_int_equal(yq[i], SENT8);
        assert_int_equal(acc[i], 4242);
        assert_true(yf[i] == 42.0f);
    }
    /* And it runs. */
    assert_int_equal(tq_graph_run_s8(qg, 2, xq, yq, acc, arena, qbytes), TQ_OK);
    assert_int_equal(yq[6], SENT8);
    assert_int_equal(tq_graph_is_quantized(NULL), 0);
    tq_graph_free(qg);
    tq_calibrator_free(c);
    tq_calibrator_free(NULL);
    free(arena);
    tq_graph_free(g);
    tq_graph_free(raw);
}

/* Ops without an int8 kernel fail at quantize time with the node named. */
static void test_unsupported_ops(void **state)
{
    (void)state;
    const int64_t in_shape[4] = {1, 2, 2, 3};
    float x[4 * 12];
    tt_rng r = {0x515};
    tt_fill_f32(&r, x, 48, -1, 1);
    for (int which = 0; which < 2; ++which) {
        tq_graph *g = NULL;
        int32_t in, a, y;
        assert_int_equal(tq_graph_create(&g), TQ_OK);
        assert_int_equal(tq_graph_add_input(g, "x", 4, in_shape, &in), TQ_OK);
        tq_node_attrs at;
        tq_node_attrs_init(&at);
        assert_int_equal(tq_graph_add_node(g, "relu", TQ_OP_ACTIVATION, 1, &in,
                                           &(tq_node_attrs){.act = TQ_ACT_RELU,
                                                            .act_max = INFINITY,
                                                            .act_min = -INFINITY},
                                           &a),
                         TQ_OK);
        const char *name = which == 0 ? "square" : "mid_softmax";
        if (which == 0) {
            const int32_t ins[2] = {a, a};
            assert_int_equal(tq_graph_add_node(g, name, TQ_OP_MUL, 2, ins, &at, &y),
                             TQ_OK);
        } else {
            assert_int_equal(tq_graph_add_node(g, name, TQ_OP_SOFTMAX, 1, &a, NULL, &y),
                             TQ_OK);
            int32_t z;
            assert_int_equal(tq_graph_add_node(g, "after", TQ_OP_MAX_POOL, 1, &y,
                                               &at, &z),
                             TQ_OK);
            y = z;
        }
        assert_int_equal(tq_graph_set_output(g, y), TQ_OK);
        assert_int_equal(tq_graph_finalize(g, 0), TQ_OK);
        tq_quant_config cfg;
        tq_quant_config_init(&cfg);
        tq_calibrator *c = NULL;
        int32_t again;
        assert_int_equal(tq_calibrator_create(g, &cfg, &c), TQ_OK);
        assert_int_equal(tq_calibrator_feed(c, 4, x), TQ_OK);
        assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
        tq_graph *qg = (tq_graph *)(uintptr_t)0x1;
        assert_int_equal(tq_graph_quantize(g, c, &qg), TQ_ERR_UNSUPPORTED);
        assert_ptr_equal(qg, (tq_graph *)(uintptr_t)0x1);
        if (!strstr(tq_graph_error(g), name))
            fail_msg("message '%s' does not name %s", tq_graph_error(g), name);
        tq_calibrator_free(c);
        tq_graph_free(g);
    }
}

/* A grouped conv as the output layer (its accumulators kept through
 * im2col and the raw GEMM), after an average pool that counts its
 * padding. */
static void test_conv_output_and_padded_avgpool(void **state)
{
    (void)state;
    const run_opts opts[2] = {{1, TQ_ROUND_DOUBLE, 0, 0},
                              {0, TQ_ROUND_SINGLE, 1, 1}};
    for (int v = 0; v < 2; ++v) {
        onet *o = fresh_net(0xacc0 + (uint64_t)v);
        int x = net_input(o, 7, 7, 4);
        x = net_avgpool_cip(o, x, 3, 2, 1);
        x = net_conv(o, O_CONV, x, 6, 3, 1, 1, 2, 1, TQ_ACT_NONE);
        check_net(o, opts[v]);
    }
}

/* W4A4 activations (docs/recovery.md): a 4-bit asymmetric activation
 * scheme makes every activation but the graph input int8 codes in [−8, 7].
 * Oracle: the float network in double with the quantized graph's weights
 * (codes · scales) and fake quantization of every activation to its 16
 * levels (round, clamp to [−8, 7]), written from the definition; tinyq's
 * integer run agrees within one step and never leaves [−8, 7], also on
 * inputs beyond the calibration range (the clamps are exercised). */
enum { W4_N = 40 };

static double w4_fq(double v, double s, int32_t z, int32_t lo, int32_t hi,
                    double *raw)
{
    double q = round(v / s) + z;
    if (raw)
        *raw = q;
    return q < lo ? lo : (q > hi ? hi : q);
}

static void test_w4a4_activations(void **state)
{
    (void)state;
    tt_rng r = {0x4a4};
    int32_t conv, input, output;
    tq_graph *g = small_graph(&r, &conv, 1);
    assert_int_equal(tq_graph_io(g, &input, &output), TQ_OK);
    float *xc = malloc(CAL_N * CAL_IN * sizeof *xc);
    float *xt = malloc(W4_N * CAL_IN * sizeof *xt);
    for (int i = 0; i < CAL_N * CAL_IN; ++i)
        xc[i] = (float)(tt_normal(&r) * 0.7 + 0.1);
    for (int i = 0; i < W4_N * CAL_IN; ++i)
        xt[i] = (float)(tt_normal(&r) * 1.2 + 0.1); /* wider than calibration */

    tq_quant_config cfg;
    tq_quant_config_init(&cfg);
    cfg.activation_scheme.bits = 4;
    tq_calibrator *c = NULL;
    assert_int_equal(tq_calibrator_create(g, &cfg, &c), TQ_OK);
    /* Bad: a 4-bit graph input, nothing changes. */
    const tq_qscheme s4 = {4, 0, 0, 0}, s8 = {8, 0, 0, 0}, s9 = {9, 0, 0, 0};
    assert_int_equal(tq_calibrator_set_tensor(c, input, NULL, &s4),
                     TQ_ERR_UNSUPPORTED);
    assert_true(strstr(tq_calibrator_error(c), "8 bits") != NULL);
    assert_int_equal(tq_calibrator_set_tensor(c, conv, NULL, &s9), TQ_ERR_PARAM);
    assert_int_equal(tq_calibrator_set_tensor(c, input, NULL, &s8), TQ_OK);
    assert_int_equal(tq_calibrator_set_tensor(c, conv, NULL, &s4), TQ_OK);
    int32_t again = 1;
    while (again) {
        assert_int_equal(tq_calibrator_feed(c, CAL_N, xc), TQ_OK);
        assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
    }
    tq_graph *qg = NULL;
    if (tq_graph_quantize(g, c, &qg) != TQ_OK)
        fail_msg("quantize: %s", tq_graph_error(g));

    tq_graph_tensor_info ti, tc, to, w1, w2, b1, b2;
    tq_graph_node_info n0, n1;
    assert_int_equal(tq_graph_node(qg, 0, &n0), TQ_OK);
    assert_int_equal(tq_graph_node(qg, 1, &n1), TQ_OK);
    assert_int_equal(tq_graph_tensor(qg, input, &ti), TQ_OK);
    assert_int_equal(tq_graph_tensor(qg, conv, &tc), TQ_OK);
    assert_int_equal(tq_graph_tensor(qg, output, &to), TQ_OK);
    assert_int_equal(tq_graph_tensor(qg, n0.inputs[1], &w1), TQ_OK);
    assert_int_equal(tq_graph_tensor(qg, n1.inputs[1], &w2), TQ_OK);
    assert_int_equal(tq_graph_tensor(g, n0.inputs[2], &b1), TQ_OK);
    assert_int_equal(tq_graph_tensor(g, n1.inputs[2], &b2), TQ_OK);
    assert_true(w1.qcount == 4 || w1.qcount == 1);
    assert_true(w2.qcount == 3 || w2.qcount == 1);
    /* The input keeps 8 bits: its zero point may lie outside [−8, 7] for
     * this range only if it were 8-bit; the 4-bit tensors' must not. */
    assert_true(tc.zero_point[0] >= -8 && tc.zero_point[0] <= 7);
    assert_true(to.zero_point[0] >= -8 && to.zero_point[0] <= 7);
    double clo, chi;
    assert_int_equal(tq_calibrator_range(c, conv, &clo, &chi), TQ_OK);
    assert_true(fabs(tc.scale[0] - (chi - clo) / 15.0) <= 1e-6 * (chi - clo));

    size_t bytes;
    assert_int_equal(tq_graph_arena_size(qg, W4_N, &bytes), TQ_OK);
    void *arena = malloc(bytes);
    int8_t *qx = malloc(W4_N * CAL_IN), out[W4_N * 3];
    const double si = ti.scale[0], sc = tc.scale[0], so = to.scale[0];
    const int32_t zi = ti.zero_point[0], zc = tc.zero_point[0],
                  zo = to.zero_point[0];
    for (int i = 0; i < W4_N * CAL_IN; ++i)
        qx[i] = (int8_t)w4_fq(xt[i], si, zi, -128, 127, NULL);
    memset(out, 0x55, sizeof out);
    assert_int_equal(tq_graph_run_s8(qg, W4_N, qx, out, NULL, arena, bytes), TQ_OK);

    const int8_t *wc1 = w1.data, *wc2 = w2.data;
    const float *bf1 = b1.data, *bf2 = b2.data;
    int clamped = 0, mid_clamped = 0;
    for (int n = 0; n < W4_N; ++n) {
        double a1[100];
        for (int h = 0; h < 5; ++h)
            for (int w = 0; w < 5; ++w)
                for (int o = 0; o < 4; ++o) {
                    double v = bf1[o];
                    for (int kh = 0; kh < 3; ++kh)
                        for (int kw = 0; kw < 3; ++kw) {
                            const int y = h + kh - 1, xx = w + kw - 1;
                            if (y < 0 || y >= 5 || xx < 0 || xx >= 5)
                                continue;
                            for (int ci = 0; ci < 2; ++ci) {
                                const double xin =
                                    (qx[n * CAL_IN + (y * 5 + xx) * 2 + ci] - zi) * si;
                                v += xin * wc1[((o * 3 + kh) * 3 + kw) * 2 + ci] *
                                     (double)w1.scale[w1.qcount > 1 ? o : 0];
                            }
                        }
                    v = v < 0.0 ? 0.0 : v;
                    double raw;
                    const double q = w4_fq(v, sc, zc, -8, 7, &raw);
                    mid_clamped += raw != q;
                    a1[(h * 5 + w) * 4 + o] = (q - zc) * sc;
                }
        for (int o = 0; o < 3; ++o) {
            double v = bf2[o];
            for (int k = 0; k < 100; ++k)
                v += a1[k] * wc2[o * 100 + k] * (double)w2.scale[w2.qcount > 1 ? o : 0];
            double raw;
            const double q = w4_fq(v, so, zo, -8, 7, &raw);
            clamped += raw != q;
            const int32_t got = out[n * 3 + o];
            assert_true(got >= -8 && got <= 7);
            if (fabs(got - q) > 1.0)
                fail_msg("sample %d output %d: tinyq %d, oracle %g", n, o,
                         (int)got, q);
        }
    }
    assert_true(mid_clamped > 0); /* the clamps were exercised */
    (void)clamped;
    free(arena);
    free(qx);
    tq_graph_free(qg);
    tq_calibrator_free(c);
    tq_graph_free(g);
    free(xc);
    free(xt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_relu_pool_fc),
        cmocka_unit_test(test_residual_add),
        cmocka_unit_test(test_residual_blocks),
        cmocka_unit_test(test_depthwise_relu6_avgpool),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_conv_pool_fused),
        cmocka_unit_test(test_table_and_affine_ops),
        cmocka_unit_test(test_conv_output_and_padded_avgpool),
        cmocka_unit_test(test_calibrator_streams),
        cmocka_unit_test(test_calibrator_overrides),
        cmocka_unit_test(test_weight_range_methods),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_w4a4_activations),
        cmocka_unit_test(test_accumulators_need_conv_or_fc),
        cmocka_unit_test(test_unsupported_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
