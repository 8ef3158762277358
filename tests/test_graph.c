/*
 * The graph API (lib/graph): hand-built graphs run in float against
 * independent double-precision oracles written here (never the f32
 * kernels), every rewrite on and off, batches 1 and 5, the arena query,
 * every rejection path with its status and message, and the lifetime
 * planner (random lifetimes; the LeNet plan tq-export has always made).
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

#include <tinyq.h>

#include "../lib/graph/graph_internal.h"
#include "../lib/graph/plan.h"
#include "testutil.h"

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

static float *rand_floats(tt_rng *r, size_t n, float lo, float hi)
{
    float *x = xmalloc(n * sizeof(float));
    tt_fill_f32(r, x, n, lo, hi);
    return x;
}

/* ---- the oracle: one sample as a double image [h][w][c] ------------------- */

typedef struct img {
    int h, w, c;
    double *v;
} img;

static img img_new(int h, int w, int c)
{
    img m = {h, w, c, calloc((size_t)h * w * c + 1, sizeof(double))};
    assert_non_null(m.v);
    return m;
}

static double *at(const img *m, int y, int x) { return m->v + ((size_t)y * m->w + x) * m->c; }

static img img_from(const float *x, int h, int w, int c)
{
    img m = img_new(h, w, c);
    for (size_t i = 0; i < (size_t)h * w * c; ++i)
        m.v[i] = x[i];
    return m;
}

/* Zero padding (the definition every padded op is checked against). */
static img o_pad(const img *x, int t, int b, int l, int r)
{
    img o = img_new(x->h + t + b, x->w + l + r, x->c);
    for (int y = 0; y < x->h; ++y)
        for (int xx = 0; xx < x->w; ++xx)
            memcpy(at(&o, y + t, xx + l), at(x, y, xx), (size_t)x->c * sizeof(double));
    return o;
}

/* Convolution, OHWI weights, groups; the input already padded. */
static img o_conv(const img *x, const float *w, int oc, int kh, int kw,
                  int groups, const float *bias, int sh, int sw)
{
    const int gin = x->c / groups, gout = oc / groups;
    const int oh = (x->h - kh) / sh + 1, ow = (x->w - kw) / sw + 1;
    img o = img_new(oh, ow, oc);
    for (int y = 0; y < oh; ++y)
        for (int xx = 0; xx < ow; ++xx)
            for (int k = 0; k < oc; ++k) {
                const int gi = k / gout;
                double s = bias ? bias[k] : 0.0;
                for (int i = 0; i < kh; ++i)
                    for (int j = 0; j < kw; ++j)
                        for (int c = 0; c < gin; ++c)
                            s += (double)w[(((size_t)k * kh + i) * kw + j) * gin + c] *
                                 at(x, y * sh + i, xx * sw + j)[gi * gin + c];
                at(&o, y, xx)[k] = s;
            }
    return o;
}

/* Depthwise, weights [1][kh][kw][C·M], output channel c·M + m. */
static img o_dw(const img *x, const float *w, int m, int kh, int kw,
                const float *bias, int sh, int sw)
{
    const int oc = x->c * m;
    const int oh = (x->h - kh) / sh + 1, ow = (x->w - kw) / sw + 1;
    img o = img_new(oh, ow, oc);
    for (int y = 0; y < oh; ++y)
        for (int xx = 0; xx < ow; ++xx)
            for (int k = 0; k < oc; ++k) {
                double s = bias ? bias[k] : 0.0;
                for (int i = 0; i < kh; ++i)
                    for (int j = 0; j < kw; ++j)
                        s += (double)w[((size_t)i * kw + j) * oc + k] *
                             at(x, y * sh + i, xx * sw + j)[k / m];
                at(&o, y, xx)[k] = s;
            }
    return o;
}

static void o_clamp(img *x, double lo, double hi)
{
    for (size_t i = 0; i < (size_t)x->h * x->w * x->c; ++i)
        x->v[i] = x->v[i] < lo ? lo : (x->v[i] > hi ? hi : x->v[i]);
}

/* Pools over an unpadded image with explicit pads: max ignores padded taps;
 * avg divides by the real taps, or by the window when include_pad. */
static img o_pool(const img *x, int is_max, int kh, int kw, int sh, int sw,
                  int t, int b, int l, int r, int include_pad)
{
    const int oh = (x->h + t + b - kh) / sh + 1, ow = (x->w + l + r - kw) / sw + 1;
    img o = img_new(oh, ow, x->c);
    for (int y = 0; y < oh; ++y)
        for (int xx = 0; xx < ow; ++xx)
            for (int c = 0; c < x->c; ++c) {
                double best = -INFINITY, sum = 0.0;
                int count = 0;
                for (int i = 0; i < kh; ++i)
                    for (int j = 0; j < kw; ++j) {
                        const int yy = y * sh + i - t, xj = xx * sw + j - l;
                        if (yy < 0 || yy >= x->h || xj < 0 || xj >= x->w)
                            continue;
                        const double v = at(x, yy, xj)[c];
                        best = v > best ? v : best;
                        sum += v;
                        ++count;
                    }
                at(&o, y, xx)[c] = is_max ? best : sum / (include_pad ? kh * kw : count);
            }
    return o;
}

static img o_gap(const img *x)
{
    img o = img_new(1, 1, x->c);
    for (int c = 0; c < x->c; ++c) {
        double s = 0.0;
        for (int p = 0; p < x->h * x->w; ++p)
            s += x->v[(size_t)p * x->c + c];
        o.v[c] = s / (x->h * x->w);
    }
    return o;
}

static img o_fc(const img *x, const float *w, int out, const float *bias)
{
    const int in = x->h * x->w * x->c;
    img o = img_new(1, 1, out);
    for (int k = 0; k < out; ++k) {
        double s = bias ? bias[k] : 0.0;
        for (int i = 0; i < in; ++i)
            s += (double)w[(size_t)k * in + i] * x->v[i];
        o.v[k] = s;
    }
    return o;
}

static void o_bn(img *x, const float *gamma, const float *beta,
                 const float *mean, const float *var, double eps)
{
    for (size_t p = 0; p < (size_t)x->h * x->w; ++p)
        for (int c = 0; c < x->c; ++c) {
            double *v = &x->v[p * x->c + c];
            *v = (*v - mean[c]) / sqrt((double)var[c] + eps) * gamma[c] + beta[c];
        }
}

static void o_softmax(img *x)
{
    const int n = x->h * x->w * x->c;
    double m = -INFINITY, s = 0.0;
    for (int i = 0; i < n; ++i)
        m = x->v[i] > m ? x->v[i] : m;
    for (int i = 0; i < n; ++i)
        s += exp(x->v[i] - m);
    for (int i = 0; i < n; ++i)
        x->v[i] = exp(x->v[i] - m) / s;
}

static void img_free(img *m) { free(m->v); m->v = NULL; }

/* ---- building helpers -------------------------------------------------------- */

static int32_t konst(tq_graph *g, const char *name, int32_t ndim,
                     const int64_t *shape, const float *v)
{
    tq_tensor t;
    int32_t id;
    assert_int_equal(tq_tensor_init(&t, (void *)(uintptr_t)v, TQ_F32, ndim, shape), TQ_OK);
    assert_int_equal(tq_graph_add_constant(g, name, &t, &id), TQ_OK);
    return id;
}

static int32_t node(tq_graph *g, const char *name, int32_t op, int32_t n,
                    const int32_t *in, const tq_node_attrs *a)
{
    int32_t out;
    const tq_status s = tq_graph_add_node(g, name, op, n, in, a, &out);
    if (s != TQ_OK)
        fail_msg("add_node %s: %s (%s)", name, tq_status_message(s), tq_graph_error(g));
    return out;
}

static tq_node_attrs attrs(void)
{
    tq_node_attrs a;
    assert_int_equal(tq_node_attrs_init(&a), TQ_OK);
    return a;
}

static tq_node_attrs act_attrs(int32_t act, float lo, float hi)
{
    tq_node_attrs a = attrs();
    a.act = act;
    a.act_min = lo;
    a.act_max = hi;
    return a;
}

static tq_node_attrs conv_attrs(int sh, int sw, int t, int b, int l, int r)
{
    tq_node_attrs a = attrs();
    a.conv.stride_h = sh;
    a.conv.stride_w = sw;
    a.conv.pad_top = t;
    a.conv.pad_bottom = b;
    a.conv.pad_left = l;
    a.conv.pad_right = r;
    return a;
}

static tq_node_attrs pool_attrs(int k, int s, int t, int b, int l, int r)
{
    tq_node_attrs a = attrs();
    a.pool.kernel_h = a.pool.kernel_w = k;
    a.pool.stride_h = a.pool.stride_w = s;
    a.pool.pad_top = t;
    a.pool.pad_bottom = b;
    a.pool.pad_left = l;
    a.pool.pad_right = r;
    return a;
}

/* A model: builds itself into a graph, and computes one sample's oracle. */
typedef struct model {
    int in_h, in_w, in_c;
    void (*build)(const struct model *m, tq_graph *g);
    img (*oracle)(const struct model *m, const img *x);
    float *p[24]; /* parameters */
} model;

static void model_free(model *m)
{
    for (int i = 0; i < 24; ++i)
        free(m->p[i]);
}

/* Finalize the model with @p rewrites, run @p batch random samples, compare
 * with the oracle (|diff| <= 1e-5 · max|ref| + 1e-6); returns the graph. */
static tq_graph *check_model(const model *m, uint32_t rewrites, int64_t batch,
                             uint64_t seed)
{
    tq_graph *g;
    tt_rng r = {seed};
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    m->build(m, g);
    tq_status s = tq_graph_finalize(g, rewrites);
    if (s != TQ_OK)
        fail_msg("finalize: %s (%s)", tq_status_message(s), tq_graph_error(g));
    int32_t in_id, out_id;
    assert_int_equal(tq_graph_io(g, &in_id, &out_id), TQ_OK);
    tq_graph_tensor_info oi;
    assert_int_equal(tq_graph_tensor(g, out_id, &oi), TQ_OK);
    size_t out_n = 1;
    for (int d = 0; d < oi.ndim; ++d)
        out_n *= (size_t)oi.shape[d];
    const size_t in_n = (size_t)m->in_h * m->in_w * m->in_c;
    float *x = rand_floats(&r, in_n * (size_t)batch, -1.0f, 1.0f);
    float *y = xmalloc(out_n * (size_t)batch * sizeof(float));
    size_t bytes;
    assert_int_equal(tq_graph_arena_size(g, batch, &bytes), TQ_OK);
    void *arena = xmalloc(bytes);
    s = tq_graph_run_f32(g, batch, x, y, arena, bytes);
    if (s != TQ_OK)
        fail_msg("run: %s (%s)", tq_status_message(s), tq_graph_error(g));
    for (int64_t b = 0; b < batch; ++b) {
        img xi = img_from(x + (size_t)b * in_n, m->in_h, m->in_w, m->in_c);
        img ref = m->oracle(m, &xi);
        assert_int_equal((size_t)ref.h * ref.w * ref.c, out_n);
        double big = 0.0;
        for (size_t i = 0; i < out_n; ++i)
            big = fabs(ref.v[i]) > big ? fabs(ref.v[i]) : big;
        for (size_t i = 0; i < out_n; ++i) {
            const double got = y[(size_t)b * out_n + i];
            if (!(fabs(got - ref.v[i]) <= 1e-5 * big + 1e-6))
                fail_msg("rewrites 0x%x batch %lld sample %lld output %zu: "
                         "%.9g, oracle %.9g",
                         (unsigned)rewrites, (long long)batch, (long long)b, i,
                         got, ref.v[i]);
        }
        img_free(&xi);
        img_free(&ref);
    }
    free(arena);
    free(x);
    free(y);
    return g;
}

/* Every single rewrite, none and all, at batch 1 and 5. */
static void check_all_rewrites(const model *m, uint64_t seed)
{
    const uint32_t sets[] = {0,
                             TQ_REWRITE_FOLD_BATCH_NORM,
                             TQ_REWRITE_REMOVE_IDENTITY,
                             TQ_REWRITE_FOLD_PAD,
                             TQ_REWRITE_FUSE_ACTIVATION,
                             TQ_REWRITE_FUSE_POOL,
                             TQ_REWRITE_ALL};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; ++i)
        for (int64_t batch = 1; batch <= 5; batch += 4)
            tq_graph_free(check_model(m, sets[i], batch, seed + i));
}

static void expect_ops(const tq_graph *g, const int32_t *ops, int32_t n)
{
    if (tq_graph_node_count(g) != n) {
        for (int32_t i = 0; i < tq_graph_node_count(g); ++i) {
            tq_graph_node_info ni;
            tq_graph_node(g, i, &ni);
            print_message("node %d: %s op %d\n", (int)i, ni.name, (int)ni.op);
        }
        fail_msg("%d nodes, expected %d", (int)tq_graph_node_count(g), (int)n);
    }
    for (int32_t i = 0; i < n; ++i) {
        tq_graph_node_info ni;
        assert_int_equal(tq_graph_node(g, i, &ni), TQ_OK);
        if (ni.op != ops[i])
            fail_msg("node %d ('%s') is op %d, expected %d", (int)i, ni.name,
                     (int)ni.op, (int)ops[i]);
    }
}

/* ---- LeNet-like: conv, ReLU, pool, conv, ReLU, pool, flatten, FC, dropout,
 * softmax ------------------------------------------------------------------------ */

static void lenet_build(const model *m, tq_graph *g)
{
    int32_t t;
    const int64_t in[4] = {1, 14, 14, 3};
    const int64_t w1s[4] = {6, 3, 3, 3}, b1s[1] = {6};
    const int64_t w2s[4] = {8, 3, 3, 6}, b2s[1] = {8};
    const int64_t w3s[2] = {10, 32}, b3s[1] = {10};
    assert_int_equal(tq_graph_add_input(g, "image", 4, in, &t), TQ_OK);
    const tq_node_attrs plain = attrs(), relu = act_attrs(TQ_ACT_RELU, 0, 0);
    const tq_node_attrs pool = pool_attrs(2, 2, 0, 0, 0, 0);
    int32_t a[3] = {t, konst(g, "w1", 4, w1s, m->p[0]), konst(g, "b1", 1, b1s, m->p[1])};
    t = node(g, "conv1", TQ_OP_CONV2D, 3, a, &plain);
    t = node(g, "relu1", TQ_OP_ACTIVATION, 1, &t, &relu);
    t = node(g, "pool1", TQ_OP_MAX_POOL, 1, &t, &pool);
    int32_t b[3] = {t, konst(g, "w2", 4, w2s, m->p[2]), konst(g, "b2", 1, b2s, m->p[3])};
    t = node(g, "conv2", TQ_OP_CONV2D, 3, b, &plain);
    t = node(g, "relu2", TQ_OP_ACTIVATION, 1, &t, &relu);
    t = node(g, "pool2", TQ_OP_MAX_POOL, 1, &t, &pool);
    tq_node_attrs flat = attrs();
    flat.ndim = 2;
    flat.shape[0] = 1;
    flat.shape[1] = 32;
    t = node(g, "flatten", TQ_OP_RESHAPE, 1, &t, &flat);
    int32_t c[3] = {t, konst(g, "w3", 2, w3s, m->p[4]), konst(g, "b3", 1, b3s, m->p[5])};
    t = node(g, "fc", TQ_OP_FULLY_CONNECTED, 3, c, NULL);
    t = node(g, "dropout", TQ_OP_IDENTITY, 1, &t, NULL);
    t = node(g, "prob", TQ_OP_SOFTMAX, 1, &t, NULL);
    assert_int_equal(tq_graph_set_output(g, t), TQ_OK);
}

static img lenet_oracle(const model *m, const img *x)
{
    img a = o_conv(x, m->p[0], 6, 3, 3, 1, m->p[1], 1, 1);
    o_clamp(&a, 0, INFINITY);
    img b = o_pool(&a, 1, 2, 2, 2, 2, 0, 0, 0, 0, 0);
    img c = o_conv(&b, m->p[2], 8, 3, 3, 1, m->p[3], 1, 1);
    o_clamp(&c, 0, INFINITY);
    img d = o_pool(&c, 1, 2, 2, 2, 2, 0, 0, 0, 0, 0);
    img e = o_fc(&d, m->p[4], 10, m->p[5]);
    o_softmax(&e);
    img_free(&a);
    img_free(&b);
    img_free(&c);
    img_free(&d);
    return e;
}

static model lenet_model(uint64_t seed)
{
    tt_rng r = {seed};
    model m = {14, 14, 3, lenet_build, lenet_oracle, {0}};
    m.p[0] = rand_floats(&r, 6 * 27, -0.5f, 0.5f);
    m.p[1] = rand_floats(&r, 6, -0.2f, 0.2f);
    m.p[2] = rand_floats(&r, 8 * 54, -0.3f, 0.3f);
    m.p[3] = rand_floats(&r, 8, -0.2f, 0.2f);
    m.p[4] = rand_floats(&r, 320, -0.5f, 0.5f);
    m.p[5] = rand_floats(&r, 10, -0.2f, 0.2f);
    return m;
}

static void test_lenet(void **state)
{
    (void)state;
    model m = lenet_model(11);
    check_all_rewrites(&m, 100);
    tq_graph *g = check_model(&m, TQ_REWRITE_ALL, 3, 7);
    const int32_t ops[] = {TQ_OP_CONV2D_RELU_MAXPOOL2, TQ_OP_CONV2D_RELU_MAXPOOL2,
                           TQ_OP_RESHAPE, TQ_OP_FULLY_CONNECTED, TQ_OP_SOFTMAX};
    expect_ops(g, ops, 5);
    /* The output keeps its name and id through the rewrites. */
    int32_t id;
    assert_int_equal(tq_graph_find_tensor(g, "prob", &id), TQ_OK);
    int32_t in_id, out_id;
    assert_int_equal(tq_graph_io(g, &in_id, &out_id), TQ_OK);
    assert_int_equal(id, out_id);
    tq_graph_free(g);
    g = check_model(&m, 0, 1, 7);
    assert_int_equal(tq_graph_node_count(g), 10);
    tq_graph_free(g);
    /* Fusing the pool alone still takes conv -> ReLU -> pool. */
    g = check_model(&m, TQ_REWRITE_FUSE_POOL, 1, 7);
    assert_int_equal(tq_graph_node_count(g), 6);
    tq_graph_free(g);
    model_free(&m);
}

/* ---- residual block: conv s2 (SAME, asymmetric) + BN + ReLU, conv + BN, 1x1
 * s2 shortcut, add, ReLU, global average pool, FC -------------------------------- */

static int32_t bn_node(tq_graph *g, const char *name, int32_t x, float *const *p)
{
    char n[32];
    const int64_t s[1] = {8};
    int32_t in[5] = {x};
    for (int i = 0; i < 4; ++i) {
        snprintf(n, sizeof n, "%s.%d", name, i);
        in[i + 1] = konst(g, n, 1, s, p[i]);
    }
    tq_node_attrs a = attrs();
    a.epsilon = 1e-3f;
    return node(g, name, TQ_OP_BATCH_NORM, 5, in, &a);
}

static void resblock_build(const model *m, tq_graph *g)
{
    int32_t x, t, u;
    const int64_t in[4] = {1, 8, 8, 4};
    const int64_t was[4] = {8, 3, 3, 4}, wbs[4] = {8, 3, 3, 8};
    const int64_t wss[4] = {8, 1, 1, 4}, bss[1] = {8};
    const int64_t wfs[2] = {5, 8}, bfs[1] = {5};
    assert_int_equal(tq_graph_add_input(g, "x", 4, in, &x), TQ_OK);
    const tq_node_attrs s2 = conv_attrs(2, 2, 0, 1, 0, 1);
    const tq_node_attrs s1 = conv_attrs(1, 1, 1, 1, 1, 1);
    const tq_node_attrs sc = conv_attrs(2, 2, 0, 0, 0, 0);
    const tq_node_attrs relu = act_attrs(TQ_ACT_RELU, 0, 0);
    int32_t a[2] = {x, konst(g, "wa", 4, was, m->p[0])};
    t = node(g, "conv_a", TQ_OP_CONV2D, 2, a, &s2);
    t = bn_node(g, "bn_a", t, &m->p[1]);
    t = node(g, "relu_a", TQ_OP_ACTIVATION, 1, &t, &relu);
    int32_t b[2] = {t, konst(g, "wb", 4, wbs, m->p[5])};
    t = node(g, "conv_b", TQ_OP_CONV2D, 2, b, &s1);
    t = bn_node(g, "bn_b", t, &m->p[6]);
    int32_t c[3] = {x, konst(g, "ws", 4, wss, m->p[10]), konst(g, "bs", 1, bss, m->p[11])};
    u = node(g, "shortcut", TQ_OP_CONV2D, 3, c, &sc);
    int32_t d[2] = {t, u};
    t = node(g, "add", TQ_OP_ADD, 2, d, NULL);
    t = node(g, "relu", TQ_OP_ACTIVATION, 1, &t, &relu);
    t = node(g, "gap", TQ_OP_GLOBAL_AVG_POOL, 1, &t, NULL);
    int32_t e[3] = {t, konst(g, "wf", 2, wfs, m->p[12]), konst(g, "bf", 1, bfs, m->p[13])};
    t = node(g, "fc", TQ_OP_FULLY_CONNECTED, 3, e, NULL);
    assert_int_equal(tq_graph_set_output(g, t), TQ_OK);
}

static img resblock_oracle(const model *m, const img *x)
{
    img xp = o_pad(x, 0, 1, 0, 1);
    img a = o_conv(&xp, m->p[0], 8, 3, 3, 1, NULL, 2, 2);
    o_bn(&a, m->p[1], m->p[2], m->p[3], m->p[4], 1e-3f);
    o_clamp(&a, 0, INFINITY);
    img ap = o_pad(&a, 1, 1, 1, 1);
    img b = o_conv(&ap, m->p[5], 8, 3, 3, 1, NULL, 1, 1);
    o_bn(&b, m->p[6], m->p[7], m->p[8], m->p[9], 1e-3f);
    img s = o_conv(x, m->p[10], 8, 1, 1, 1, m->p[11], 2, 2);
    for (size_t i = 0; i < (size_t)b.h * b.w * b.c; ++i)
        b.v[i] += s.v[i];
    o_clamp(&b, 0, INFINITY);
    img p = o_gap(&b);
    img f = o_fc(&p, m->p[12], 5, m->p[13]);
    img_free(&xp);
    img_free(&a);
    img_free(&ap);
    img_free(&b);
    img_free(&s);
    img_free(&p);
    return f;
}

static void bn_params(tt_rng *r, float **p)
{
    p[0] = rand_floats(r, 8, 0.5f, 2.0f);   /* gamma */
    p[1] = rand_floats(r, 8, -0.5f, 0.5f);  /* beta */
    p[2] = rand_floats(r, 8, -0.3f, 0.3f);  /* mean */
    p[3] = rand_floats(r, 8, 0.2f, 1.5f);   /* variance */
}

static model resblock_model(uint64_t seed)
{
    tt_rng r = {seed};
    model m = {8, 8, 4, resblock_build, resblock_oracle, {0}};
    m.p[0] = rand_floats(&r, 8 * 36, -0.4f, 0.4f);
    bn_params(&r, &m.p[1]);
    m.p[5] = rand_floats(&r, 8 * 72, -0.3f, 0.3f);
    bn_params(&r, &m.p[6]);
    m.p[10] = rand_floats(&r, 32, -0.5f, 0.5f);
    m.p[11] = rand_floats(&r, 8, -0.1f, 0.1f);
    m.p[12] = rand_floats(&r, 40, -0.5f, 0.5f);
    m.p[13] = rand_floats(&r, 5, -0.1f, 0.1f);
    return m;
}

static void test_residual_block(void **state)
{
    (void)state;
    model m = resblock_model(21);
    check_all_rewrites(&m, 200);
    tq_graph *g = check_model(&m, TQ_REWRITE_ALL, 5, 3);
    const int32_t ops[] = {TQ_OP_CONV2D, TQ_OP_CONV2D, TQ_OP_CONV2D, TQ_OP_ADD,
                           TQ_OP_GLOBAL_AVG_POOL, TQ_OP_FULLY_CONNECTED};
    expect_ops(g, ops, 6);
    tq_graph_node_info ni;
    assert_int_equal(tq_graph_node(g, 0, &ni), TQ_OK);
    assert_string_equal(ni.name, "conv_a");
    assert_int_equal(ni.attrs.act, TQ_ACT_RELU);
    assert_int_equal(ni.n_inputs, 3); /* the folded bias was added */
    assert_int_equal(tq_graph_node(g, 3, &ni), TQ_OK);
    assert_int_equal(ni.attrs.act, TQ_ACT_RELU);
    /* The folded BN record: gamma / sqrt(var + eps) and beta. */
    const tq__node *a = &g->nodes[0];
    assert_int_equal(a->bn_count, 8);
    for (int c = 0; c < 8; ++c) {
        const double s = m.p[1][c] / sqrt((double)m.p[4][c] + 1e-3f);
        assert_true(fabs(a->bn_scale[c] - s) <= 1e-6 * fabs(s));
        assert_true(a->bn_shift[c] == m.p[2][c]);
    }
    tq_graph_free(g);
    model_free(&m);
}

/* ---- depthwise-separable: conv + BN + Clip(0, 6), depthwise (multiplier 2,
 * SAME stride 2) + BN + ReLU6, pointwise + ReLU6, avg pool, FC ------------------ */

static void dwsep_build(const model *m, tq_graph *g)
{
    int32_t t;
    const int64_t in[4] = {1, 10, 10, 3};
    const int64_t w0s[4] = {4, 3, 3, 3};
    const int64_t wds[4] = {1, 3, 3, 8}, bds[1] = {8};
    const int64_t wps[4] = {12, 1, 1, 8}, bps[1] = {12};
    const int64_t wfs[2] = {6, 12 * 2 * 2};
    assert_int_equal(tq_graph_add_input(g, "x", 4, in, &t), TQ_OK);
    int32_t a[2] = {t, konst(g, "w0", 4, w0s, m->p[0])};
    tq_node_attrs c1 = conv_attrs(1, 1, 1, 1, 1, 1);
    t = node(g, "conv0", TQ_OP_CONV2D, 2, a, &c1);
    /* BN over 4 channels */
    {
        const int64_t s[1] = {4};
        int32_t in5[5] = {t, konst(g, "g0", 1, s, m->p[1]), konst(g, "b0", 1, s, m->p[2]),
                          konst(g, "m0", 1, s, m->p[3]), konst(g, "v0", 1, s, m->p[4])};
        t = node(g, "bn0", TQ_OP_BATCH_NORM, 5, in5, NULL);
    }
    tq_node_attrs clip = act_attrs(TQ_ACT_CLIP, 0.0f, 6.0f);
    t = node(g, "clip0", TQ_OP_ACTIVATION, 1, &t, &clip);
    tq_node_attrs dw = conv_attrs(2, 2, 0, 1, 0, 1);
    dw.depth_multiplier = 2;
    int32_t b[3] = {t, konst(g, "wd", 4, wds, m->p[5]), konst(g, "bd", 1, bds, m->p[6])};
    t = node(g, "dw", TQ_OP_DEPTHWISE_CONV2D, 3, b, &dw);
    t = bn_node(g, "bn1", t, &m->p[7]);
    tq_node_attrs relu6 = act_attrs(TQ_ACT_RELU6, 0, 0);
    t = node(g, "relu6a", TQ_OP_ACTIVATION, 1, &t, &relu6);
    int32_t c[3] = {t, konst(g, "wp", 4, wps, m->p[11]), konst(g, "bp", 1, bps, m->p[12])};
    t = node(g, "pw", TQ_OP_CONV2D, 3, c, NULL);
    t = node(g, "relu6b", TQ_OP_ACTIVATION, 1, &t, &relu6);
    tq_node_attrs ap = pool_attrs(2, 2, 0, 0, 0, 0);
    ap.pool.kernel_h = ap.pool.kernel_w = 3; /* 5x5 -> 2x2 */
    t = node(g, "avg", TQ_OP_AVG_POOL, 1, &t, &ap);
    int32_t d[2] = {t, konst(g, "wf", 2, wfs, m->p[13])};
    t = node(g, "fc", TQ_OP_FULLY_CONNECTED, 2, d, NULL);
    assert_int_equal(tq_graph_set_output(g, t), TQ_OK);
}

static img dwsep_oracle(const model *m, const img *x)
{
    img xp = o_pad(x, 1, 1, 1, 1);
    img a = o_conv(&xp, m->p[0], 4, 3, 3, 1, NULL, 1, 1);
    o_bn(&a, m->p[1], m->p[2], m->p[3], m->p[4], 1e-5f);
    o_clamp(&a, 0, 6);
    img ap = o_pad(&a, 0, 1, 0, 1);
    img b = o_dw(&ap, m->p[5], 2, 3, 3, m->p[6], 2, 2);
    o_bn(&b, m->p[7], m->p[8], m->p[9], m->p[10], 1e-3f);
    o_clamp(&b, 0, 6);
    img c = o_conv(&b, m->p[11], 12, 1, 1, 1, m->p[12], 1, 1);
    o_clamp(&c, 0, 6);
    img d = o_pool(&c, 0, 3, 3, 2, 2, 0, 0, 0, 0, 0);
    img f = o_fc(&d, m->p[13], 6, NULL);
    img_free(&xp);
    img_free(&a);
    img_free(&ap);
    img_free(&b);
    img_free(&c);
    img_free(&d);
    return f;
}

static void test_depthwise_separable(void **state)
{
    (void)state;
    tt_rng r = {31};
    model m = {10, 10, 3, dwsep_build, dwsep_oracle, {0}};
    m.p[0] = rand_floats(&r, 4 * 27, -0.6f, 0.6f);
    m.p[1] = rand_floats(&r, 4, 0.5f, 2.0f);
    m.p[2] = rand_floats(&r, 4, -0.5f, 1.5f);
    m.p[3] = rand_floats(&r, 4, -0.3f, 0.3f);
    m.p[4] = rand_floats(&r, 4, 0.2f, 1.5f);
    m.p[5] = rand_floats(&r, 72, -0.6f, 0.6f);
    m.p[6] = rand_floats(&r, 8, -0.1f, 0.1f);
    bn_params(&r, &m.p[7]);
    m.p[11] = rand_floats(&r, 96, -0.6f, 0.6f);
    m.p[12] = rand_floats(&r, 12, 0.0f, 0.5f);
    m.p[13] = rand_floats(&r, 6 * 48, -0.5f, 0.5f);
    check_all_rewrites(&m, 300);
    tq_graph *g = check_model(&m, TQ_REWRITE_ALL, 1, 3);
    const int32_t ops[] = {TQ_OP_CONV2D, TQ_OP_DEPTHWISE_CONV2D, TQ_OP_CONV2D,
                           TQ_OP_AVG_POOL, TQ_OP_FULLY_CONNECTED};
    expect_ops(g, ops, 5);
    assert_int_equal(g->nodes[0].attrs.act, TQ_ACT_CLIP);
    assert_int_equal(g->nodes[1].attrs.act, TQ_ACT_RELU6);
    assert_int_equal(g->nodes[1].bn_count, 8);
    tq_graph_free(g);
    model_free(&m);
}

/* ---- pads: into a conv, a max pool over ReLU outputs, an avg pool; not into
 * a max pool over signed values ------------------------------------------------ */

static tq_node_attrs pad_attrs(int t, int b, int l, int r)
{
    tq_node_attrs a = attrs();
    a.conv.pad_top = t;
    a.conv.pad_bottom = b;
    a.conv.pad_left = l;
    a.conv.pad_right = r;
    return a;
}

static void pads_build(const model *m, tq_graph *g)
{
    int32_t t, x;
    const int64_t in[4] = {1, 6, 6, 2};
    const int64_t ws[4] = {4, 3, 3, 2}, bs[1] = {4};
    const int64_t wfs[2] = {3, 4 * 3 * 3};
    assert_int_equal(tq_graph_add_input(g, "x", 4, in, &x), TQ_OK);
    tq_node_attrs p = pad_attrs(1, 1, 1, 1);
    t = node(g, "pad0", TQ_OP_PAD, 1, &x, &p);
    int32_t a[3] = {t, konst(g, "w", 4, ws, m->p[0]), konst(g, "b", 1, bs, m->p[1])};
    t = node(g, "conv", TQ_OP_CONV2D, 3, a, NULL);
    tq_node_attrs relu = act_attrs(TQ_ACT_RELU, 0, 0);
    t = node(g, "relu", TQ_OP_ACTIVATION, 1, &t, &relu);
    p = pad_attrs(1, 0, 1, 0);
    t = node(g, "pad1", TQ_OP_PAD, 1, &t, &p);
    tq_node_attrs mp = pool_attrs(2, 2, 0, 0, 0, 0);
    t = node(g, "max", TQ_OP_MAX_POOL, 1, &t, &mp); /* 7x7 -> 3x3 */
    p = pad_attrs(1, 1, 1, 1);
    t = node(g, "pad2", TQ_OP_PAD, 1, &t, &p);
    tq_node_attrs avg = pool_attrs(3, 1, 0, 0, 0, 0);
    t = node(g, "avg", TQ_OP_AVG_POOL, 1, &t, &avg); /* 5x5 -> 3x3 */
    int32_t c[2] = {t, konst(g, "wf", 2, wfs, m->p[2])};
    t = node(g, "fc", TQ_OP_FULLY_CONNECTED, 2, c, NULL);
    assert_int_equal(tq_graph_set_output(g, t), TQ_OK);
}

static img pads_oracle(const model *m, const img *x)
{
    img a = o_pad(x, 1, 1, 1, 1);
    img b = o_conv(&a, m->p[0], 4, 3, 3, 1, m->p[1], 1, 1);
    o_clamp(&b, 0, INFINITY);
    img c = o_pad(&b, 1, 0, 1, 0);
    img d = o_pool(&c, 1, 2, 2, 2, 2, 0, 0, 0, 0, 0);
    img e = o_pad(&d, 1, 1, 1, 1);
    img f = o_pool(&e, 0, 3, 3, 1, 1, 0, 0, 0, 0, 0);
    img o = o_fc(&f, m->p[2], 3, NULL);
    img_free(&a);
    img_free(&b);
    img_free(&c);
    img_free(&d);
    img_free(&e);
    img_free(&f);
    return o;
}

/* A pad straight before a max pool of signed values must stay. */
static void signed_pad_build(const model *m, tq_graph *g)
{
    int32_t t;
    (void)m;
    const int64_t in[4] = {1, 5, 5, 3};
    assert_int_equal(tq_graph_add_input(g, "x", 4, in, &t), TQ_OK);
    tq_node_attrs p = pad_attrs(1, 0, 1, 0);
    t = node(g, "pad", TQ_OP_PAD, 1, &t, &p);
    tq_node_attrs mp = pool_attrs(2, 2, 0, 0, 0, 0);
    t = node(g, "max", TQ_OP_MAX_POOL, 1, &t, &mp);
    assert_int_equal(tq_graph_set_output(g, t), TQ_OK);
}

static img signed_pad_oracle(const model *m, const img *x)
{
    (void)m;
    img a = o_pad(x, 1, 0, 1, 0);
    img b = o_pool(&a, 1, 2, 2, 2, 2, 0, 0, 0, 0, 0);
    img_free(&a);
    return b;
}

static void test_pad_folding(void **state)
{
    (void)state;
    tt_rng r = {41};
    model m = {6, 6, 2, pads_build, pads_oracle, {0}};
    m.p[0] = rand_floats(&r, 72, -0.6f, 0.6f);
    m.p[1] = rand_floats(&r, 4, -0.2f, 0.2f);
    m.p[2] = rand_floats(&r, 108, -0.5f, 0.5f);
    check_all_rewrites(&m, 400);
    tq_graph *g = check_model(&m, TQ_REWRITE_ALL, 5, 9);
    const int32_t ops[] = {TQ_OP_CONV2D, TQ_OP_MAX_POOL, TQ_OP_AVG_POOL,
                           TQ_OP_FULLY_CONNECTED};
    expect_ops(g, ops, 4);
    assert_int_equal(g->nodes[0].attrs.conv.pad_top, 1);
    assert_int_equal(g->nodes[1].attrs.pool.pad_top, 1);
    assert_int_equal(g->nodes[1].attrs.pool.pad_bottom, 0);
    assert_int_equal(g->nodes[2].attrs.count_include_pad, 1);
    tq_graph_free(g);
    g = check_model(&m, TQ_REWRITE_FOLD_PAD, 1, 9);
    const int32_t ops2[] = {TQ_OP_CONV2D, TQ_OP_ACTIVATION, TQ_OP_MAX_POOL,
                            TQ_OP_AVG_POOL, TQ_OP_FULLY_CONNECTED};
    expect_ops(g, ops2, 5);
    tq_graph_free(g);
    model_free(&m);

    model s = {5, 5, 3, signed_pad_build, signed_pad_oracle, {0}};
    check_all_rewrites(&s, 500);
    g = check_model(&s, TQ_REWRITE_ALL, 1, 9);
    const int32_t ops3[] = {TQ_OP_PAD, TQ_OP_MAX_POOL};
    expect_ops(g, ops3, 2);
    tq_graph_free(g);
}

/* ---- the other ops: per-channel Mul / Add after a conv (folded), scalar Add,
 * leaky ReLU, concat, elementwise Mul and Add of activations, a full-shape
 * constant, an unfolded BN, avg pool counting its padding, Clip ------------------- */

static void misc_build(const model *m, tq_graph *g)
{
    int32_t x, t, u;
    const int64_t in[4] = {1, 5, 5, 3};
    const int64_t ws[4] = {4, 3, 3, 3}, cs[1] = {4}, one[1] = {1};
    const int64_t full[4] = {1, 5, 5, 7};
    const int64_t wfs[2] = {4, 7 * 3 * 3};
    assert_int_equal(tq_graph_add_input(g, "x", 4, in, &x), TQ_OK);
    tq_node_attrs same = conv_attrs(1, 1, 1, 1, 1, 1);
    int32_t a[2] = {x, konst(g, "w", 4, ws, m->p[0])};
    t = node(g, "conv", TQ_OP_CONV2D, 2, a, &same);
    int32_t b[2] = {t, konst(g, "scale", 1, cs, m->p[1])};
    t = node(g, "mul", TQ_OP_MUL, 2, b, NULL);
    int32_t c[2] = {t, konst(g, "shift", 1, one, m->p[2])};
    tq_node_attrs clip = act_attrs(TQ_ACT_CLIP, -0.5f, 0.75f);
    t = node(g, "add_c", TQ_OP_ADD, 2, c, &clip);
    tq_node_attrs lk = attrs();
    lk.alpha = 0.2f;
    u = node(g, "leaky", TQ_OP_LEAKY_RELU, 1, &x, &lk);
    int32_t d[2] = {t, u};
    (void)d;
    int32_t e[3] = {t, u, u};
    t = node(g, "concat", TQ_OP_CONCAT, 3, e, NULL); /* 4 + 3 + 3 = 10? */
    (void)t;
    /* keep 7 channels: concat(conv path, leaky) */
    int32_t e2[2] = {e[0], u};
    t = node(g, "concat2", TQ_OP_CONCAT, 2, e2, NULL);
    int32_t f[2] = {t, t};
    t = node(g, "square", TQ_OP_MUL, 2, f, NULL);
    int32_t h[2] = {t, konst(g, "bias_map", 4, full, m->p[3])};
    t = node(g, "add_full", TQ_OP_ADD, 2, h, NULL);
    int32_t k[5] = {t, konst(g, "g", 1, (const int64_t[]){7}, m->p[4]),
                    konst(g, "be", 1, (const int64_t[]){7}, m->p[5]),
                    konst(g, "mu", 1, (const int64_t[]){7}, m->p[6]),
                    konst(g, "va", 1, (const int64_t[]){7}, m->p[7])};
    t = node(g, "bn", TQ_OP_BATCH_NORM, 5, k, NULL);
    tq_node_attrs avg = pool_attrs(3, 2, 1, 1, 1, 1);
    avg.count_include_pad = 1;
    t = node(g, "avg", TQ_OP_AVG_POOL, 1, &t, &avg); /* 5x5 -> 3x3 */
    int32_t l[2] = {t, konst(g, "wf", 2, wfs, m->p[8])};
    t = node(g, "fc", TQ_OP_FULLY_CONNECTED, 2, l, NULL);
    assert_int_equal(tq_graph_set_output(g, t), TQ_OK);
}

static img misc_oracle(const model *m, const img *x)
{
    img xp = o_pad(x, 1, 1, 1, 1);
    img a = o_conv(&xp, m->p[0], 4, 3, 3, 1, NULL, 1, 1);
    for (size_t p = 0; p < 25; ++p)
        for (int c = 0; c < 4; ++c)
            a.v[p * 4 + c] = a.v[p * 4 + c] * m->p[1][c] + m->p[2][0];
    o_clamp(&a, -0.5, 0.75);
    img cat = img_new(5, 5, 7);
    for (size_t p = 0; p < 25; ++p) {
        for (int c = 0; c < 4; ++c)
            cat.v[p * 7 + c] = a.v[p * 4 + c];
        for (int c = 0; c < 3; ++c) {
            const double v = x->v[p * 3 + c];
            cat.v[p * 7 + 4 + c] = v >= 0 ? v : 0.2f * v;
        }
    }
    for (size_t i = 0; i < 25 * 7; ++i)
        cat.v[i] = cat.v[i] * cat.v[i] + m->p[3][i];
    o_bn(&cat, m->p[4], m->p[5], m->p[6], m->p[7], 1e-5f);
    img pooled = o_pool(&cat, 0, 3, 3, 2, 2, 1, 1, 1, 1, 1);
    img o = o_fc(&pooled, m->p[8], 4, NULL);
    img_free(&xp);
    img_free(&a);
    img_free(&cat);
    img_free(&pooled);
    return o;
}

static void test_misc_ops(void **state)
{
    (void)state;
    tt_rng r = {51};
    model m = {5, 5, 3, misc_build, misc_oracle, {0}};
    m.p[0] = rand_floats(&r, 108, -0.5f, 0.5f);
    m.p[1] = rand_floats(&r, 4, -2.0f, 2.0f);
    m.p[2] = rand_floats(&r, 1, -0.2f, 0.2f);
    m.p[3] = rand_floats(&r, 175, -0.5f, 0.5f);
    m.p[4] = rand_floats(&r, 7, 0.5f, 2.0f);
    m.p[5] = rand_floats(&r, 7, -0.5f, 0.5f);
    m.p[6] = rand_floats(&r, 7, -0.3f, 0.3f);
    m.p[7] = rand_floats(&r, 7, 0.2f, 1.5f);
    m.p[8] = rand_floats(&r, 4 * 63, -0.5f, 0.5f);
    check_all_rewrites(&m, 600);
    tq_graph *g = check_model(&m, TQ_REWRITE_ALL, 5, 3);
    /* The dead "concat" is gone; Mul and Add by constants went into the
     * conv, with the Add's clip. */
    const int32_t ops[] = {TQ_OP_CONV2D, TQ_OP_LEAKY_RELU, TQ_OP_CONCAT,
                           TQ_OP_MUL, TQ_OP_ADD, TQ_OP_BATCH_NORM,
                           TQ_OP_AVG_POOL, TQ_OP_FULLY_CONNECTED};
    expect_ops(g, ops, 8);
    assert_int_equal(g->nodes[0].attrs.act, TQ_ACT_CLIP);
    assert_int_equal(g->nodes[0].bn_count, 0); /* no BN record to update */
    tq_graph_free(g);
    model_free(&m);
}

/* ---- arena ------------------------------------------------------------------- */

static void test_arena(void **state)
{
    (void)state;
    model m = lenet_model(61);
    tq_graph *g;
    tt_rng r = {5};
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    m.build(&m, g);
    /* Not finalized yet. */
    size_t bytes = 0;
    assert_int_equal(tq_graph_arena_size(g, 1, &bytes), TQ_ERR_PARAM);
    assert_non_null(strstr(tq_graph_error(g), "not finalized"));
    float x[5 * 14 * 14 * 3], y[5 * 10];
    tt_fill_f32(&r, x, sizeof x / sizeof *x, -1, 1);
    char arena0[64];
    assert_int_equal(tq_graph_run_f32(g, 1, x, y, arena0, sizeof arena0), TQ_ERR_PARAM);
    assert_non_null(strstr(tq_graph_error(g), "not finalized"));
    assert_int_equal(tq_graph_finalize(g, TQ_REWRITE_ALL), TQ_OK);
    assert_int_equal(tq_graph_finalize(g, TQ_REWRITE_ALL), TQ_ERR_PARAM);
    assert_non_null(strstr(tq_graph_error(g), "finalized"));

    size_t b1, b5;
    assert_int_equal(tq_graph_arena_size(g, 1, &b1), TQ_OK);
    assert_int_equal(tq_graph_arena_size(g, 5, &b5), TQ_OK);
    assert_true(b5 > b1);
    assert_true(g->act_bytes >= g->act_lower_bound);
    assert_true(g->act_bytes > 0);
    assert_int_equal(tq_graph_arena_size(g, 0, &bytes), TQ_ERR_PARAM);
    assert_non_null(strstr(tq_graph_error(g), "batch 0"));
    assert_int_equal(tq_graph_arena_size(g, -3, &bytes), TQ_ERR_PARAM);
    assert_int_equal(tq_graph_arena_size(g, INT64_MAX, &bytes), TQ_ERR_PARAM);
    assert_int_equal(tq_graph_arena_size(g, INT32_MAX, &bytes), TQ_ERR_OVERFLOW);
    assert_int_equal(tq_graph_arena_size(g, 1, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_graph_arena_size(NULL, 1, &bytes), TQ_ERR_NULL);

    /* Too small by one byte: refused, output untouched. */
    unsigned char *arena = xmalloc(b5 + 1);
    for (size_t i = 0; i < 50; ++i)
        y[i] = 12345.0f;
    assert_int_equal(tq_graph_run_f32(g, 5, x, y, arena, b5 - 1), TQ_ERR_BUFFER_TOO_SMALL);
    assert_non_null(strstr(tq_graph_error(g), "arena"));
    for (size_t i = 0; i < 50; ++i)
        assert_true(y[i] == 12345.0f);
    assert_int_equal(tq_graph_run_f32(g, 5, x, y, NULL, b5), TQ_ERR_NULL);
    assert_int_equal(tq_graph_run_f32(g, 5, NULL, y, arena, b5), TQ_ERR_NULL);
    assert_int_equal(tq_graph_run_f32(g, 5, x, NULL, arena, b5), TQ_ERR_NULL);
    assert_int_equal(tq_graph_run_f32(NULL, 5, x, y, arena, b5), TQ_ERR_NULL);
    assert_int_equal(tq_graph_run_f32(g, 0, x, y, arena, b5), TQ_ERR_PARAM);
    /* Output inside the arena. */
    assert_int_equal(tq_graph_run_f32(g, 1, x, (float *)(void *)arena, arena, b1),
                     TQ_ERR_ALIAS);
    for (size_t i = 0; i < 50; ++i)
        assert_true(y[i] == 12345.0f);
    /* Exactly the size asked, at any alignment: runs, and batch 5 equals
     * five runs of one. */
    assert_int_equal(tq_graph_run_f32(g, 5, x, y, arena + 1, b5), TQ_OK);
    for (int s = 0; s < 5; ++s) {
        float one[10];
        assert_int_equal(tq_graph_run_f32(g, 1, x + s * 588, one, arena, b1), TQ_OK);
        for (int i = 0; i < 10; ++i)
            assert_true(fabsf(one[i] - y[s * 10 + i]) <= 1e-6f);
    }
    /* No two activations alive at once overlap; aliases share storage. */
    const int32_t n = g->n_nodes;
    for (int32_t i = 0; i < g->n_tensors; ++i) {
        const tq__tensor *t = &g->tensors[i];
        if (t->kind == TQ__TENSOR_ACTIVATION && t->alias < 0 && t->buffer >= 0)
            assert_true(t->offset % TQ__GRAPH_F32_ALIGN == 0);
    }
    (void)n;
    free(arena);
    tq_graph_free(g);
    model_free(&m);
}

/* ---- rejections ------------------------------------------------------------------ */

#define EXPECT_FAIL(call, status, ...)                                          \
    do {                                                                        \
        assert_int_equal((call), (status));                                     \
        const char *const want_[] = {__VA_ARGS__};                              \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof *want_; ++i_)            \
            if (!strstr(tq_graph_error(g), want_[i_]))                          \
                fail_msg("message '%s' lacks '%s'", tq_graph_error(g),          \
                         want_[i_]);                                            \
    } while (0)

static void test_rejections(void **state)
{
    (void)state;
    tq_graph *g;
    int32_t x, w, b, t, out = -7;
    const int64_t in[4] = {1, 6, 6, 2}, ws[4] = {3, 3, 3, 2}, bs[1] = {3};
    float wv[54] = {0}, bv[3] = {0};
    tq_node_attrs a = attrs();

    assert_int_equal(tq_graph_create(NULL), TQ_ERR_NULL);
    tq_graph_free(NULL);
    assert_string_equal(tq_graph_error(NULL), "");
    assert_int_equal(tq_node_attrs_init(NULL), TQ_ERR_NULL);
    assert_int_equal(tq_graph_node_count(NULL), 0);
    assert_int_equal(tq_graph_tensor_count(NULL), 0);
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    assert_string_equal(tq_graph_error(g), "");

    /* Inputs. */
    EXPECT_FAIL(tq_graph_add_input(g, "x", 4, NULL, &x), TQ_ERR_NULL, "NULL");
    EXPECT_FAIL(tq_graph_add_input(g, "x", 5, in, &x), TQ_ERR_SHAPE, "dimensions");
    const int64_t two[4] = {2, 6, 6, 2}, zero[4] = {1, 0, 6, 2};
    EXPECT_FAIL(tq_graph_add_input(g, "x", 4, two, &x), TQ_ERR_SHAPE, "leading");
    EXPECT_FAIL(tq_graph_add_input(g, "x", 4, zero, &x), TQ_ERR_SHAPE, "extent 1");
    assert_int_equal(tq_graph_tensor_count(g), 0);
    assert_int_equal(tq_graph_add_input(g, "x", 4, in, &x), TQ_OK);
    EXPECT_FAIL(tq_graph_add_input(g, "y", 4, in, &t), TQ_ERR_PARAM, "already", "'x'");

    /* Constants. */
    tq_tensor tw, tb, bad;
    assert_int_equal(tq_tensor_init(&tw, wv, TQ_F32, 4, ws), TQ_OK);
    assert_int_equal(tq_tensor_init(&tb, bv, TQ_F32, 1, bs), TQ_OK);
    bad = tw;
    bad.dtype = TQ_S8;
    EXPECT_FAIL(tq_graph_add_constant(g, "w", &bad, &w), TQ_ERR_DTYPE, "'w'", "f32");
    bad = tw;
    bad.data = NULL;
    EXPECT_FAIL(tq_graph_add_constant(g, "w", &bad, &w), TQ_ERR_NULL, "'w'");
    EXPECT_FAIL(tq_graph_add_constant(g, "w", NULL, &w), TQ_ERR_NULL, "NULL");
    assert_int_equal(tq_graph_add_constant(g, "w", &tw, &w), TQ_OK);
    assert_int_equal(tq_graph_add_constant(g, "b", &tb, &b), TQ_OK);
    const int32_t n_tensors = tq_graph_tensor_count(g);

    /* Nodes: unknown op, undefined input, constants where activations go,
     * bad attributes, wrong shapes; each names the node, op and attribute,
     * and adds nothing. */
    int32_t cin[3] = {x, w, b};
    EXPECT_FAIL(tq_graph_add_node(g, "n1", 99, 1, &x, NULL, &out), TQ_ERR_UNSUPPORTED,
                "'n1'", "unknown op 99");
    EXPECT_FAIL(tq_graph_add_node(g, "n1", 0, 1, &x, NULL, &out), TQ_ERR_UNSUPPORTED,
                "unknown op 0");
    const int32_t undefined[3] = {x, 42, b};
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, undefined, NULL, &out),
                TQ_ERR_NOT_FOUND, "'c1'", "Conv2D", "tensor 42", "not defined");
    const int32_t neg[1] = {-1};
    EXPECT_FAIL(tq_graph_add_node(g, "r1", TQ_OP_ACTIVATION, 1, neg, NULL, &out),
                TQ_ERR_NOT_FOUND, "'r1'", "Activation");
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 1, cin, NULL, &out),
                TQ_ERR_PARAM, "'c1'", "Conv2D", "1 inputs");
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, NULL, NULL, &out),
                TQ_ERR_NULL, "'c1'");
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, cin, NULL, NULL),
                TQ_ERR_NULL, "'c1'", "output");
    const int32_t swapped[3] = {w, x, b};
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, swapped, NULL, &out),
                TQ_ERR_UNSUPPORTED, "'c1'", "Conv2D", "constant");
    a = attrs();
    a.conv.stride_h = 0;
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, cin, &a, &out),
                TQ_ERR_PARAM, "'c1'", "Conv2D", "stride");
    a = attrs();
    a.conv.dilation_w = -1;
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, cin, &a, &out),
                TQ_ERR_PARAM, "dilation");
    a = attrs();
    a.conv.pad_left = -1;
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, cin, &a, &out),
                TQ_ERR_PARAM, "pads");
    a = attrs();
    a.conv.groups = 2;
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, cin, &a, &out),
                TQ_ERR_SHAPE, "'c1'", "groups");
    a = attrs();
    a.conv.groups = 0;
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, cin, &a, &out),
                TQ_ERR_PARAM, "groups");
    a = attrs();
    a.act = 7;
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, cin, &a, &out),
                TQ_ERR_PARAM, "'c1'", "act");
    a = act_attrs(TQ_ACT_CLIP, 2.0f, 1.0f);
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, cin, &a, &out),
                TQ_ERR_PARAM, "act_min");
    a = act_attrs(TQ_ACT_CLIP, NAN, 1.0f);
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, cin, &a, &out),
                TQ_ERR_PARAM, "act_min");
    a = attrs();
    a.conv.dilation_h = 4; /* window 9 > 6 */
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, cin, &a, &out),
                TQ_ERR_SHAPE, "'c1'", "does not fit");
    {
        const int64_t empty_s[4] = {0, 3, 3, 2};
        tq_tensor te;
        int32_t e;
        assert_int_equal(tq_tensor_init(&te, NULL, TQ_F32, 4, empty_s), TQ_OK);
        assert_int_equal(tq_graph_add_constant(g, "empty", &te, &e), TQ_OK);
        const int32_t ein[2] = {x, e};
        EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 2, ein, NULL, &out),
                    TQ_ERR_SHAPE, "'c1'", "no output channel");
    }
    const int32_t bias_as_weight[3] = {x, b, b};
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, bias_as_weight, NULL, &out),
                TQ_ERR_SHAPE, "'c1'", "weight 'b'");
    const int32_t weight_as_bias[3] = {x, w, w};
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, weight_as_bias, NULL, &out),
                TQ_ERR_SHAPE, "bias");
    a = attrs();
    a.depth_multiplier = 0;
    EXPECT_FAIL(tq_graph_add_node(g, "d1", TQ_OP_DEPTHWISE_CONV2D, 3, cin, &a, &out),
                TQ_ERR_PARAM, "'d1'", "DepthwiseConv2D", "depth_multiplier");
    EXPECT_FAIL(tq_graph_add_node(g, "d1", TQ_OP_DEPTHWISE_CONV2D, 3, cin, NULL, &out),
                TQ_ERR_SHAPE, "'d1'", "weight 'w'");
    EXPECT_FAIL(tq_graph_add_node(g, "f1", TQ_OP_FULLY_CONNECTED, 3, cin, NULL, &out),
                TQ_ERR_SHAPE, "'f1'", "FullyConnected", "weight 'w'");
    a = pool_attrs(2, 2, 2, 0, 0, 0);
    EXPECT_FAIL(tq_graph_add_node(g, "p1", TQ_OP_MAX_POOL, 1, &x, &a, &out),
                TQ_ERR_PARAM, "'p1'", "MaxPool", "pads");
    a = pool_attrs(0, 2, 0, 0, 0, 0);
    EXPECT_FAIL(tq_graph_add_node(g, "p1", TQ_OP_AVG_POOL, 1, &x, &a, &out),
                TQ_ERR_PARAM, "AvgPool", "kernel");
    a = pool_attrs(2, 0, 0, 0, 0, 0);
    EXPECT_FAIL(tq_graph_add_node(g, "p1", TQ_OP_AVG_POOL, 1, &x, &a, &out),
                TQ_ERR_PARAM, "stride");
    a = pool_attrs(2, 2, 0, 0, 0, 0);
    a.count_include_pad = 2;
    EXPECT_FAIL(tq_graph_add_node(g, "p1", TQ_OP_AVG_POOL, 1, &x, &a, &out),
                TQ_ERR_PARAM, "count_include_pad");
    a = pool_attrs(7, 1, 0, 0, 0, 0);
    EXPECT_FAIL(tq_graph_add_node(g, "p1", TQ_OP_MAX_POOL, 1, &x, &a, &out),
                TQ_ERR_SHAPE, "does not fit");
    a = attrs();
    a.act = TQ_ACT_NONE;
    EXPECT_FAIL(tq_graph_add_node(g, "r1", TQ_OP_ACTIVATION, 1, &x, &a, &out),
                TQ_ERR_PARAM, "'r1'", "Activation", "act");
    a = attrs();
    a.alpha = INFINITY;
    EXPECT_FAIL(tq_graph_add_node(g, "l1", TQ_OP_LEAKY_RELU, 1, &x, &a, &out),
                TQ_ERR_PARAM, "'l1'", "LeakyRelu", "alpha");
    const int32_t add_bad[2] = {x, w};
    EXPECT_FAIL(tq_graph_add_node(g, "a1", TQ_OP_ADD, 2, add_bad, NULL, &out),
                TQ_ERR_SHAPE, "'a1'", "Add", "one per channel");
    const int32_t add_three[3] = {x, x, x};
    EXPECT_FAIL(tq_graph_add_node(g, "a1", TQ_OP_MUL, 3, add_three, NULL, &out),
                TQ_ERR_PARAM, "'a1'", "Mul", "3 inputs");
    const int32_t bn_in[5] = {x, b, b, b, b}; /* 3 values, 2 channels */
    EXPECT_FAIL(tq_graph_add_node(g, "bn1", TQ_OP_BATCH_NORM, 5, bn_in, NULL, &out),
                TQ_ERR_SHAPE, "'bn1'", "BatchNorm", "scale");
    a = attrs();
    a.ndim = 2;
    a.shape[0] = 1;
    a.shape[1] = 71;
    EXPECT_FAIL(tq_graph_add_node(g, "rs", TQ_OP_RESHAPE, 1, &x, &a, &out),
                TQ_ERR_SHAPE, "'rs'", "Reshape", "shape");
    a.ndim = 0;
    EXPECT_FAIL(tq_graph_add_node(g, "rs", TQ_OP_RESHAPE, 1, &x, &a, &out),
                TQ_ERR_PARAM, "ndim");
    a = attrs();
    a.conv.pad_top = a.conv.pad_bottom = INT32_MAX;
    a.conv.pad_left = a.conv.pad_right = INT32_MAX / 4;
    EXPECT_FAIL(tq_graph_add_node(g, "pd", TQ_OP_PAD, 1, &x, &a, &out),
                TQ_ERR_OVERFLOW, "'pd'", "Pad", "INT32_MAX");
    EXPECT_FAIL(tq_graph_add_node(g, "c1", TQ_OP_CONV2D, 3, cin, &a, &out),
                TQ_ERR_OVERFLOW, "'c1'", "Conv2D");
    a = attrs();
    a.conv.pad_top = -2;
    EXPECT_FAIL(tq_graph_add_node(g, "pd", TQ_OP_PAD, 1, &x, &a, &out),
                TQ_ERR_PARAM, "'pd'", "Pad", "pads");
    const int32_t cat_bad[2] = {x, b};
    EXPECT_FAIL(tq_graph_add_node(g, "cat", TQ_OP_CONCAT, 2, cat_bad, NULL, &out),
                TQ_ERR_UNSUPPORTED, "'cat'", "Concat", "constant");
    assert_int_equal(out, -7);
    assert_int_equal(tq_graph_tensor_count(g), n_tensors + 1); /* "empty" */
    assert_int_equal(tq_graph_node_count(g), 0);

    /* Output, finalize. */
    EXPECT_FAIL(tq_graph_finalize(g, TQ_REWRITE_ALL), TQ_ERR_PARAM, "output is not set");
    EXPECT_FAIL(tq_graph_set_output(g, 99), TQ_ERR_NOT_FOUND, "99");
    EXPECT_FAIL(tq_graph_set_output(g, x), TQ_ERR_PARAM, "graph input");
    EXPECT_FAIL(tq_graph_set_output(g, w), TQ_ERR_PARAM, "constant");
    assert_int_equal(tq_graph_add_node(g, "conv", TQ_OP_CONV2D, 3, cin, NULL, &t), TQ_OK);
    assert_int_equal(tq_graph_set_output(g, t), TQ_OK);
    EXPECT_FAIL(tq_graph_finalize(g, 64), TQ_ERR_PARAM, "rewrite flags");
    assert_int_equal(tq_graph_finalize(g, TQ_REWRITE_ALL), TQ_OK);
    EXPECT_FAIL(tq_graph_add_node(g, "late", TQ_OP_IDENTITY, 1, &t, NULL, &out),
                TQ_ERR_PARAM, "'late'", "finalized");
    EXPECT_FAIL(tq_graph_add_constant(g, "late", &tb, &out), TQ_ERR_PARAM, "finalized");
    EXPECT_FAIL(tq_graph_add_input(g, "late", 4, in, &out), TQ_ERR_PARAM, "finalized");
    EXPECT_FAIL(tq_graph_set_output(g, x), TQ_ERR_PARAM, "finalized");

    /* Introspection. */
    tq_graph_node_info ni;
    tq_graph_tensor_info ti;
    assert_int_equal(tq_graph_node(g, 1, &ni), TQ_ERR_NOT_FOUND);
    assert_int_equal(tq_graph_node(g, -1, &ni), TQ_ERR_NOT_FOUND);
    assert_int_equal(tq_graph_node(g, 0, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_graph_node(g, 0, &ni), TQ_OK);
    assert_string_equal(ni.name, "conv");
    assert_int_equal(ni.op, TQ_OP_CONV2D);
    assert_int_equal(ni.output, t);
    assert_int_equal(tq_graph_tensor(g, t, &ti), TQ_OK);
    assert_int_equal(ti.ndim, 4);
    assert_true(ti.shape[1] == 4 && ti.shape[2] == 4 && ti.shape[3] == 3);
    assert_int_equal(ti.is_constant, 0);
    assert_int_equal(tq_graph_tensor(g, w, &ti), TQ_OK);
    assert_int_equal(ti.is_constant, 1);
    assert_ptr_not_equal(ti.data, NULL);
    assert_int_equal(tq_graph_tensor(g, 1000, &ti), TQ_ERR_NOT_FOUND);
    assert_int_equal(tq_graph_find_tensor(g, "nothing", &out), TQ_ERR_NOT_FOUND);
    assert_int_equal(tq_graph_find_tensor(g, NULL, &out), TQ_ERR_NULL);
    assert_int_equal(tq_graph_find_tensor(g, "b", &out), TQ_OK);
    assert_int_equal(out, b);
    assert_int_equal(tq_graph_io(g, NULL, &out), TQ_ERR_NULL);
    tq_graph_free(g);

    /* No input declared. */
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    EXPECT_FAIL(tq_graph_finalize(g, 0), TQ_ERR_PARAM, "no input");
    assert_int_equal(tq_graph_io(g, &x, &out), TQ_ERR_NOT_FOUND);
    tq_graph_free(g);
    assert_int_equal(tq_graph_finalize(NULL, 0), TQ_ERR_NULL);
}

/* A graph whose arrays were assembled by hand (as an importer might) with a
 * cycle or a shape that lies is refused at finalize. */
static void test_finalize_validation(void **state)
{
    (void)state;
    tq_graph *g;
    int32_t x, a, b;
    const int64_t in[2] = {1, 4};
    tq_node_attrs relu = act_attrs(TQ_ACT_RELU, 0, 0);
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    assert_int_equal(tq_graph_add_input(g, "x", 2, in, &x), TQ_OK);
    a = node(g, "r1", TQ_OP_ACTIVATION, 1, &x, &relu);
    b = node(g, "r2", TQ_OP_ACTIVATION, 1, &a, &relu);
    assert_int_equal(tq_graph_set_output(g, b), TQ_OK);
    g->nodes[0].inputs[0] = b; /* r1 reads r2: a cycle */
    EXPECT_FAIL(tq_graph_finalize(g, TQ_REWRITE_ALL), TQ_ERR_PARAM, "'r1'", "cycle");
    g->nodes[0].inputs[0] = 77;
    EXPECT_FAIL(tq_graph_finalize(g, 0), TQ_ERR_NOT_FOUND, "'r1'", "not defined");
    g->nodes[0].inputs[0] = x;
    g->tensors[a].shape[1] = 5;
    EXPECT_FAIL(tq_graph_finalize(g, 0), TQ_ERR_SHAPE, "'r1'", "shape");
    g->tensors[a].shape[1] = 4;
    assert_int_equal(tq_graph_finalize(g, 0), TQ_OK);
    tq_graph_free(g);
}

/* ---- the planner ------------------------------------------------------------------ */

static void check_plan(const tq__plan_buffer *b, int32_t n, size_t arena)
{
    size_t lower;
    assert_int_equal(tq__plan_lower_bound(b, n, &lower), TQ_OK);
    assert_true(arena >= lower);
    for (int32_t i = 0; i < n; ++i) {
        assert_true(b[i].offset % b[i].align == 0);
        assert_true(b[i].offset + b[i].size <= arena);
        for (int32_t j = 0; j < i; ++j)
            if (b[i].first <= b[j].last && b[j].first <= b[i].last && b[i].size && b[j].size)
                assert_false(b[i].offset < b[j].offset + b[j].size &&
                             b[j].offset < b[i].offset + b[i].size);
    }
}

static void test_planner_random(void **state)
{
    (void)state;
    tt_rng r = {71};
    for (int trial = 0; trial < 300; ++trial) {
        const int32_t n = tt_int(&r, 0, 40), steps = tt_int(&r, 1, 30);
        tq__plan_buffer b[40];
        size_t lower_oracle = 0;
        for (int32_t i = 0; i < n; ++i) {
            b[i].first = tt_int(&r, 0, steps - 1);
            b[i].last = tt_int(&r, b[i].first, steps);
            b[i].size = (size_t)tt_int(&r, 0, 5000);
            b[i].align = (size_t)1 << tt_int(&r, 0, 6);
            b[i].offset = 12345;
        }
        for (int32_t s = 0; s <= steps; ++s) {
            size_t live = 0;
            for (int32_t i = 0; i < n; ++i)
                if (b[i].first <= s && s <= b[i].last)
                    live += b[i].size;
            lower_oracle = live > lower_oracle ? live : lower_oracle;
        }
        size_t arena, lower;
        assert_int_equal(tq__plan_place(b, n, &arena), TQ_OK);
        assert_int_equal(tq__plan_lower_bound(b, n, &lower), TQ_OK);
        assert_int_equal(lower, lower_oracle);
        check_plan(b, n, arena);
        /* A chain (each buffer meets only its neighbours) of equal sizes
         * reaches the bound. */
    }
    tq__plan_buffer bad = {10, 3, 0, 1, 0};
    size_t arena;
    assert_int_equal(tq__plan_place(&bad, 1, &arena), TQ_ERR_PARAM);
    bad.align = 4;
    bad.first = 2;
    assert_int_equal(tq__plan_place(&bad, 1, &arena), TQ_ERR_PARAM);
    assert_int_equal(tq__plan_place(NULL, 1, &arena), TQ_ERR_NULL);
    assert_int_equal(tq__plan_place(NULL, 0, &arena), TQ_OK);
    assert_int_equal(arena, 0);
    tq__plan_buffer huge[2] = {{SIZE_MAX - 8, 1, 0, 1, 0}, {100, 1, 0, 1, 0}};
    assert_int_equal(tq__plan_place(huge, 2, &arena), TQ_ERR_OVERFLOW);
    assert_int_equal(tq__plan_lower_bound(huge, 2, &arena), TQ_ERR_OVERFLOW);
}

/* The buffers tq-export's LeNet-only export path planned for
 * examples/firmware/lenet_s8.safetensors (raw pixels, input codes, conv1
 * scratch and output, conv2 scratch and output, fc1 and fc2 outputs; the
 * path is gone, the firmware exports graphs now), and the offsets it
 * printed. */
static void test_planner_lenet(void **state)
{
    (void)state;
    tq__plan_buffer b[8] = {
        {3072, 1, 0, 0, 0}, {3072, 1, 0, 1, 0}, {3195, 1, 1, 1, 0},
        {1176, 1, 1, 2, 0}, {6915, 1, 2, 2, 0}, {400, 1, 2, 3, 0},
        {120, 1, 3, 4, 0},  {84, 1, 4, 5, 0}};
    const size_t want[8] = {0, 3195, 0, 6915, 0, 8091, 0, 120};
    size_t arena, lower;
    assert_int_equal(tq__plan_place(b, 8, &arena), TQ_OK);
    assert_int_equal(tq__plan_lower_bound(b, 8, &lower), TQ_OK);
    assert_int_equal(arena, 8491);
    assert_int_equal(lower, 8491);
    for (int i = 0; i < 8; ++i)
        assert_int_equal(b[i].offset, want[i]);
}

/* A float LeNet graph's activation plan reaches the lifetime bound, and its
 * Reshape shares its input's storage. */
static void test_graph_plan(void **state)
{
    (void)state;
    model m = lenet_model(81);
    tq_graph *g;
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    m.build(&m, g);
    assert_int_equal(tq_graph_finalize(g, 0), TQ_OK);
    int32_t flat, pool2;
    assert_int_equal(tq_graph_find_tensor(g, "flatten", &flat), TQ_OK);
    assert_int_equal(tq_graph_find_tensor(g, "pool2", &pool2), TQ_OK);
    assert_int_equal(g->tensors[flat].alias, pool2);
    assert_int_equal(g->tensors[flat].offset, g->tensors[pool2].offset);
    /* Rebuild the lifetimes independently and check no overlap. */
    const int32_t n = g->n_nodes;
    for (int32_t i = 0; i < g->n_tensors; ++i)
        for (int32_t j = 0; j < i; ++j) {
            const tq__tensor *a = &g->tensors[i], *b = &g->tensors[j];
            if (a->buffer < 0 || b->buffer < 0)
                continue;
            /* first / last steps */
            int32_t fa = a->producer + 1, fb = b->producer + 1, la = fa, lb = fb;
            for (int32_t k = 0; k < n; ++k)
                for (int32_t q = 0; q < g->nodes[k].n_inputs; ++q) {
                    const int32_t in = g->nodes[k].inputs[q];
                    const int32_t root = g->tensors[in].alias >= 0 ? g->tensors[in].alias : in;
                    if (root == i)
                        la = k + 1 > la ? k + 1 : la;
                    if (root == j)
                        lb = k + 1 > lb ? k + 1 : lb;
                }
            if (i == g->output || (g->tensors[g->output].alias == i))
                la = n + 1;
            if (j == g->output || (g->tensors[g->output].alias == j))
                lb = n + 1;
            if (fa <= lb && fb <= la) {
                const size_t sa = a->numel * 4, sb = b->numel * 4;
                assert_false(a->offset < b->offset + sb && b->offset < a->offset + sa);
            }
        }
    assert_true(g->act_bytes >= g->act_lower_bound);
    tq_graph_free(g);
    model_free(&m);
}

/* The deep copy the quantizer starts from: same results, independent
 * storage; re-planned with int8 activations it needs a quarter of the
 * bytes or less. */
static void test_clone(void **state)
{
    (void)state;
    model m = resblock_model(91);
    tq_graph *g = check_model(&m, TQ_REWRITE_ALL, 2, 5), *c = NULL;
    assert_int_equal(tq__graph_clone(g, &c), TQ_OK);
    assert_int_equal(tq__graph_clone(NULL, &c), TQ_ERR_NULL);
    assert_int_equal(c->n_nodes, g->n_nodes);
    assert_int_equal(c->n_tensors, g->n_tensors);
    assert_ptr_not_equal(c->nodes[0].bn_scale, g->nodes[0].bn_scale);
    assert_memory_equal(c->nodes[0].bn_scale, g->nodes[0].bn_scale, 8 * sizeof(float));
    tt_rng r = {3};
    float x[2 * 256], y1[10], y2[10];
    tt_fill_f32(&r, x, 512, -1, 1);
    size_t bytes;
    assert_int_equal(tq_graph_arena_size(g, 2, &bytes), TQ_OK);
    void *arena = xmalloc(bytes);
    assert_int_equal(tq_graph_run_f32(g, 2, x, y1, arena, bytes), TQ_OK);
    tq_graph_free(g);
    assert_int_equal(tq_graph_run_f32(c, 2, x, y2, arena, bytes), TQ_OK);
    assert_memory_equal(y1, y2, sizeof y1);
    const size_t f32_bytes = c->act_bytes;
    for (int32_t i = 0; i < c->n_tensors; ++i)
        if (c->tensors[i].kind != TQ__TENSOR_CONSTANT)
            c->tensors[i].dtype = TQ_S8;
    assert_int_equal(tq__graph_plan(c, 1), TQ_OK);
    assert_true(c->act_bytes * 4 <= f32_bytes);
    assert_true(c->act_bytes >= c->act_lower_bound);
    free(arena);
    tq_graph_free(c);
    model_free(&m);
}

/* Random graphs: random ops with random (often illegal) attributes. A
 * refused node changes nothing and says why; a built graph runs, and every
 * rewrite set gives the outputs of no rewrite (within rounding). */
static int32_t random_const(tt_rng *r, tq_graph *g, int64_t n, float lo, float hi)
{
    float *v = rand_floats(r, (size_t)n, lo, hi);
    const int64_t s[1] = {n};
    const int32_t id = konst(g, NULL, 1, s, v);
    free(v);
    return id;
}

static void build_random(uint64_t seed, tq_graph *g, int32_t *refused)
{
    tt_rng r = {seed};
    int32_t x, t, shape_id[4];
    const int64_t in[4] = {1, tt_int(&r, 3, 12), tt_int(&r, 3, 12), tt_int(&r, 1, 6)};
    assert_int_equal(tq_graph_add_input(g, "x", 4, in, &x), TQ_OK);
    t = x;
    for (int i = 0; i < 4; ++i)
        shape_id[i] = -1;
    const int steps = tt_int(&r, 1, 12);
    for (int step = 0; step < steps; ++step) {
        tq_graph_tensor_info ti;
        assert_int_equal(tq_graph_tensor(g, t, &ti), TQ_OK);
        const int64_t h = ti.shape[1], w = ti.shape[2], c = ti.shape[3];
        tq_node_attrs a = attrs();
        int32_t ins[5] = {t}, n = 1, op;
        const int kind = tt_int(&r, 0, 11);
        const int sloppy = tt_int(&r, 0, 9) == 0; /* an illegal attribute */
        switch (kind) {
        case 0:
        case 1: { /* conv or depthwise */
            const int32_t k = tt_int(&r, 1, 3);
            a.conv.stride_h = tt_int(&r, 1, 2);
            a.conv.stride_w = tt_int(&r, 1, 2);
            a.conv.pad_top = tt_int(&r, 0, 1);
            a.conv.pad_bottom = tt_int(&r, 0, 1);
            a.conv.pad_left = tt_int(&r, 0, 1);
            a.conv.pad_right = tt_int(&r, 0, 1);
            a.conv.dilation_h = tt_int(&r, 1, 2);
            a.act = tt_int(&r, 0, 3);
            a.act_min = -0.5f;
            a.act_max = 1.0f;
            int64_t ws[4];
            if (kind == 0) {
                op = TQ_OP_CONV2D;
                a.conv.groups = c % 2 == 0 && tt_int(&r, 0, 1) ? 2 : 1;
                const int64_t o = (int64_t)a.conv.groups * tt_int(&r, 1, 4);
                ws[0] = o; ws[1] = k; ws[2] = k; ws[3] = c / a.conv.groups;
            } else {
                op = TQ_OP_DEPTHWISE_CONV2D;
                a.depth_multiplier = tt_int(&r, 1, 2);
                ws[0] = 1; ws[1] = k; ws[2] = k; ws[3] = c * a.depth_multiplier;
            }
            if (sloppy)
                a.conv.stride_w = 0;
            float *wv = rand_floats(&r, (size_t)(ws[0] * k * k * ws[3]), -0.5f, 0.5f);
            ins[1] = konst(g, NULL, 4, ws, wv);
            free(wv);
            n = 2;
            if (tt_int(&r, 0, 1)) {
                ins[2] = random_const(&r, g, kind == 0 ? ws[0] : ws[3], -0.2f, 0.2f);
                n = 3;
            }
            break;
        }
        case 2:
        case 3:
            op = kind == 2 ? TQ_OP_MAX_POOL : TQ_OP_AVG_POOL;
            a.pool.kernel_h = a.pool.kernel_w = tt_int(&r, 1, 3);
            a.pool.stride_h = a.pool.stride_w = tt_int(&r, 1, 2);
            a.pool.pad_top = tt_int(&r, 0, a.pool.kernel_h - 1);
            a.pool.pad_left = tt_int(&r, 0, a.pool.kernel_w - 1);
            a.count_include_pad = tt_int(&r, 0, 1);
            if (sloppy)
                a.pool.pad_bottom = a.pool.kernel_h;
            break;
        case 4:
            op = TQ_OP_PAD;
            a.conv.pad_top = tt_int(&r, 0, 2);
            a.conv.pad_left = tt_int(&r, 0, 2);
            a.conv.pad_right = sloppy ? -1 : tt_int(&r, 0, 1);
            break;
        case 5:
            op = TQ_OP_ACTIVATION;
            a.act = sloppy ? 0 : tt_int(&r, 1, 3);
            a.act_min = 0.0f;
            a.act_max = 0.8f;
            break;
        case 6:
            op = TQ_OP_BATCH_NORM;
            ins[1] = random_const(&r, g, c, 0.5f, 1.5f);
            ins[2] = random_const(&r, g, c, -0.3f, 0.3f);
            ins[3] = random_const(&r, g, c, -0.3f, 0.3f);
            ins[4] = random_const(&r, g, sloppy ? c + 1 : c, 0.5f, 1.5f);
            n = 5;
            break;
        case 7:
        case 8:
            op = kind == 7 ? TQ_OP_MUL : TQ_OP_ADD;
            a.act = tt_int(&r, 0, 2);
            if (shape_id[0] >= 0 && tt_int(&r, 0, 1)) {
                tq_graph_tensor_info si;
                assert_int_equal(tq_graph_tensor(g, shape_id[0], &si), TQ_OK);
                ins[1] = shape_id[0]; /* may not match: then refused */
            } else {
                ins[1] = random_const(&r, g, tt_int(&r, 0, 1) ? c : 1, 0.5f, 1.5f);
            }
            n = 2;
            break;
        case 9:
            op = TQ_OP_IDENTITY;
            break;
        case 10:
            op = TQ_OP_LEAKY_RELU;
            a.alpha = sloppy ? NAN : 0.1f;
            break;
        default:
            op = TQ_OP_GLOBAL_AVG_POOL;
            break;
        }
        (void)h;
        (void)w;
        const int32_t before = tq_graph_tensor_count(g), nodes = tq_graph_node_count(g);
        int32_t out = -1;
        const tq_status s = tq_graph_add_node(g, NULL, op, n, ins, &a, &out);
        if (s != TQ_OK) {
            ++*refused;
            assert_true(strlen(tq_graph_error(g)) > 10);
            assert_non_null(strstr(tq_graph_error(g), tq__op_name(op)));
            assert_int_equal(tq_graph_tensor_count(g), before);
            assert_int_equal(tq_graph_node_count(g), nodes);
            assert_int_equal(out, -1);
            continue;
        }
        if (tt_int(&r, 0, 2) == 0)
            shape_id[0] = t; /* a branch for a later Add / Mul */
        t = out;
    }
    if (t == x) {
        tq_node_attrs a = act_attrs(TQ_ACT_RELU, 0, 0);
        t = node(g, "last", TQ_OP_ACTIVATION, 1, &x, &a);
    }
    assert_int_equal(tq_graph_set_output(g, t), TQ_OK);
}

static void test_random_graphs(void **state)
{
    (void)state;
    int32_t refused = 0, nodes_saved = 0;
    for (uint64_t seed = 1; seed <= 150; ++seed) {
        tq_graph *ref, *g;
        assert_int_equal(tq_graph_create(&ref), TQ_OK);
        build_random(seed, ref, &refused);
        assert_int_equal(tq_graph_finalize(ref, 0), TQ_OK);
        const uint32_t rw = seed % 3 == 0 ? TQ_REWRITE_ALL : (uint32_t)(seed % 32);
        int32_t dummy = 0;
        assert_int_equal(tq_graph_create(&g), TQ_OK);
        build_random(seed, g, &dummy);
        const tq_status fs = tq_graph_finalize(g, rw);
        if (fs != TQ_OK)
            fail_msg("seed %llu: %s", (unsigned long long)seed, tq_graph_error(g));
        nodes_saved += tq_graph_node_count(ref) - tq_graph_node_count(g);
        int32_t in_id, out_id;
        tq_graph_tensor_info ii, oi;
        assert_int_equal(tq_graph_io(g, &in_id, &out_id), TQ_OK);
        assert_int_equal(tq_graph_tensor(g, in_id, &ii), TQ_OK);
        assert_int_equal(tq_graph_tensor(g, out_id, &oi), TQ_OK);
        const size_t ni = (size_t)(ii.shape[1] * ii.shape[2] * ii.shape[3]);
        size_t no = 1;
        for (int d = 0; d < oi.ndim; ++d)
            no *= (size_t)oi.shape[d];
        const int64_t batch = (int64_t)(seed % 3) + 1;
        tt_rng r = {seed * 7};
        float *x = rand_floats(&r, ni * (size_t)batch, -1, 1);
        float *y0 = xmalloc(no * (size_t)batch * sizeof(float));
        float *y1 = xmalloc(no * (size_t)batch * sizeof(float));
        size_t b0, b1;
        assert_int_equal(tq_graph_arena_size(ref, batch, &b0), TQ_OK);
        assert_int_equal(tq_graph_arena_size(g, batch, &b1), TQ_OK);
        void *arena = xmalloc(b0 > b1 ? b0 : b1);
        assert_int_equal(tq_graph_run_f32(ref, batch, x, y0, arena, b0), TQ_OK);
        assert_int_equal(tq_graph_run_f32(g, batch, x, y1, arena, b1), TQ_OK);
        double big = 0.0;
        for (size_t i = 0; i < no * (size_t)batch; ++i)
            big = fabs(y0[i]) > big ? fabs(y0[i]) : big;
        for (size_t i = 0; i < no * (size_t)batch; ++i)
            if (!(fabs(y0[i] - y1[i]) <= 1e-5 * big + 1e-6))
                fail_msg("seed %llu rewrites 0x%x output %zu: %.9g vs %.9g",
                         (unsigned long long)seed, (unsigned)rw, i, y1[i], y0[i]);
        free(arena);
        free(x);
        free(y0);
        free(y1);
        tq_graph_free(ref);
        tq_graph_free(g);
    }
    print_message("random graphs: %d nodes refused, %d nodes removed by rewrites\n",
                  (int)refused, (int)nodes_saved);
    assert_true(refused > 20);
    assert_true(nodes_saved > 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lenet),
        cmocka_unit_test(test_residual_block),
        cmocka_unit_test(test_depthwise_separable),
        cmocka_unit_test(test_pad_folding),
        cmocka_unit_test(test_misc_ops),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_finalize_validation),
        cmocka_unit_test(test_planner_random),
        cmocka_unit_test(test_planner_lenet),
        cmocka_unit_test(test_graph_plan),
        cmocka_unit_test(test_clone),
        cmocka_unit_test(test_random_graphs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
