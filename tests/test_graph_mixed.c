/*
 * Tests of mixed-precision graphs: int16 activations (TFLite 16x8) and int4
 * weights chosen per tensor or by default (tq_calibrator_set_dtype(),
 * tq_calibrator_set_default_dtypes()), the requantization nodes the
 * quantizer inserts where the type changes, and the refusals.
 *
 * The oracle is written here from ../shared/docs/int16-int4-arithmetic.md
 * and int8-arithmetic.md: a double forward pass gives every tensor's range
 * over the calibration data; the quantized graph's scales are checked
 * against it (int16: max|x| / 32767, zero point 0; int4 weights: abs-max /
 * 7), its weight and bias codes against round(w / s_w) and
 * round(b / (s_in · s_w)) from those scales, and then each network runs in
 * naive int64 loops (the int32 MBQM of oracle_s8.h for int8 nodes and the
 * QUANTIZE requantizations, TFLite's int64 MBQM overload for 16x8 nodes,
 * the int16 ADD with left shift 15). It calls no kernel of the library.
 * Outputs and the output layer's accumulators must agree bit for bit;
 * the quantized graphs then go through a model file and back (same outputs,
 * same bytes when saved again, a corrupted requantization refused).
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

enum { MAXT = 12, MAXN = 8, MAXW = 2048, MAXV = 512 };
enum { K_CONV, K_DW, K_FC, K_MAXPOOL, K_GAP, K_ADD };

typedef struct mnode {
    int kind, a, b, out; /* oracle tensor indexes */
    int act;             /* TQ_ACT_NONE / RELU */
    int k, pad, cout;
    float w[MAXW], bias[64];
} mnode;

typedef struct mnet {
    tq_graph *g;
    int nt, nn;
    int h[MAXT], w[MAXT], c[MAXT];
    int32_t gid[MAXT];
    mnode n[MAXN];
    tt_rng rng;
} mnet;

static size_t tsize(const mnet *m, int t)
{
    return (size_t)m->h[t] * (size_t)m->w[t] * (size_t)m->c[t];
}

static int new_t(mnet *m, int h, int w, int c, int32_t gid)
{
    m->h[m->nt] = h, m->w[m->nt] = w, m->c[m->nt] = c, m->gid[m->nt] = gid;
    return m->nt++;
}

static int32_t constant(mnet *m, const float *v, int ndim, const int64_t *s)
{
    tq_tensor t;
    int32_t id;
    assert_int_equal(tq_tensor_init(&t, (void *)(uintptr_t)v, TQ_F32, ndim, s),
                     TQ_OK);
    assert_int_equal(tq_graph_add_constant(m->g, NULL, &t, &id), TQ_OK);
    return id;
}

static int m_input(mnet *m, int h, int w, int c, uint64_t seed)
{
    const int64_t shape[4] = {1, h, w, c};
    int32_t id;
    memset(m, 0, sizeof *m);
    m->rng.s = seed;
    assert_int_equal(tq_graph_create(&m->g), TQ_OK);
    assert_int_equal(tq_graph_add_input(m->g, "x", 4, shape, &id), TQ_OK);
    return new_t(m, h, w, c, id);
}

/* Conv (k x k, stride 1, pad), depthwise (multiplier 1) or FC. */
static int m_weighted(mnet *m, int kind, int a, int cout, int k, int pad,
                      int act)
{
    mnode *n = &m->n[m->nn++];
    memset(n, 0, sizeof *n);
    n->kind = kind, n->a = a, n->act = act, n->k = k, n->pad = pad;
    const int cin = m->c[a];
    n->cout = kind == K_DW ? cin : cout;
    const int per = kind == K_FC ? (int)tsize(m, a) : (kind == K_DW ? k * k : k * k * cin);
    assert_true(per * n->cout <= MAXW);
    for (int i = 0; i < per * n->cout; ++i)
        n->w[i] = (float)(tt_normal(&m->rng) * 0.4);
    for (int i = 0; i < n->cout; ++i)
        n->bias[i] = tt_float(&m->rng, -0.3f, 0.3f);
    int64_t ws[4];
    int nd = 4, op;
    if (kind == K_FC) {
        ws[0] = n->cout, ws[1] = per, nd = 2, op = TQ_OP_FULLY_CONNECTED;
    } else if (kind == K_DW) {
        ws[0] = 1, ws[1] = k, ws[2] = k, ws[3] = n->cout;
        op = TQ_OP_DEPTHWISE_CONV2D;
    } else {
        ws[0] = n->cout, ws[1] = k, ws[2] = k, ws[3] = cin;
        op = TQ_OP_CONV2D;
    }
    const int64_t bs[1] = {n->cout};
    int32_t ins[3] = {m->gid[a], constant(m, n->w, nd, ws),
                      constant(m, n->bias, 1, bs)};
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    at.act = act;
    at.depth_multiplier = 1;
    at.conv = (tq_conv_params){1, 1, pad, pad, pad, pad, 1, 1, 1};
    int32_t out;
    assert_int_equal(tq_graph_add_node(m->g, NULL, op, 3, ins, &at, &out), TQ_OK);
    if (kind == K_FC)
        n->out = new_t(m, 1, 1, n->cout, out);
    else
        n->out = new_t(m, m->h[a] + 2 * pad - k + 1, m->w[a] + 2 * pad - k + 1,
                       n->cout, out);
    return n->out;
}

static int m_simple(mnet *m, int kind, int a, int b, int act)
{
    mnode *n = &m->n[m->nn++];
    memset(n, 0, sizeof *n);
    n->kind = kind, n->a = a, n->b = b, n->act = act;
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    at.act = act;
    at.pool = (tq_pool_params){2, 2, 2, 2, 0, 0, 0, 0};
    int32_t ins[2] = {m->gid[a], kind == K_ADD ? m->gid[b] : 0}, out;
    const int op = kind == K_ADD ? TQ_OP_ADD
                   : kind == K_GAP ? TQ_OP_GLOBAL_AVG_POOL : TQ_OP_MAX_POOL;
    assert_int_equal(tq_graph_add_node(m->g, NULL, op, kind == K_ADD ? 2 : 1,
                                       ins, &at, &out),
                     TQ_OK);
    if (kind == K_MAXPOOL)
        n->out = new_t(m, m->h[a] / 2, m->w[a] / 2, m->c[a], out);
    else if (kind == K_GAP)
        n->out = new_t(m, 1, 1, m->c[a], out);
    else
        n->out = new_t(m, m->h[a], m->w[a], m->c[a], out);
    return n->out;
}

/* ---- the oracle's float pass ------------------------------------------------- */

static double relu(int act, double v)
{
    return act == TQ_ACT_RELU && v < 0 ? 0 : v;
}

/* Σ w · (x − zp) for output (oy, ox, oc) of a weighted node, on one sample. */
static double wsum(const mnet *m, const mnode *n, const double *x, double zp,
                   const double *w, int oy, int ox, int oc)
{
    const int a = n->a;
    double s = 0;
    if (n->kind == K_FC) {
        const int k = (int)tsize(m, a);
        for (int i = 0; i < k; ++i)
            s += w[oc * k + i] * (x[i] - zp);
        return s;
    }
    for (int ky = 0; ky < n->k; ++ky)
        for (int kx = 0; kx < n->k; ++kx) {
            const int iy = oy + ky - n->pad, ix = ox + kx - n->pad;
            if (iy < 0 || ix < 0 || iy >= m->h[a] || ix >= m->w[a])
                continue;
            const double *px = x + ((size_t)iy * m->w[a] + ix) * m->c[a];
            if (n->kind == K_DW)
                s += w[(ky * n->k + kx) * n->cout + oc] * (px[oc] - zp);
            else
                for (int ci = 0; ci < m->c[a]; ++ci)
                    s += w[((oc * n->k + ky) * n->k + kx) * m->c[a] + ci] *
                         (px[ci] - zp);
        }
    return s;
}

static void forward_f(const mnet *m, const float *in, double **v)
{
    for (size_t i = 0; i < tsize(m, 0); ++i)
        v[0][i] = in[i];
    for (int k = 0; k < m->nn; ++k) {
        const mnode *n = &m->n[k];
        const int a = n->a, o = n->out;
        static double wd[MAXW];
        for (int i = 0; i < MAXW; ++i)
            wd[i] = n->w[i];
        for (int y = 0; y < m->h[o]; ++y)
            for (int xx = 0; xx < m->w[o]; ++xx)
                for (int c = 0; c < m->c[o]; ++c) {
                    const size_t at = ((size_t)y * m->w[o] + xx) * m->c[o] + c;
                    double r = 0;
                    if (n->kind <= K_FC) {
                        r = relu(n->act, wsum(m, n, v[a], 0, wd, y, xx, c) + n->bias[c]);
                    } else if (n->kind == K_ADD) {
                        r = relu(n->act, v[a][at] + v[n->b][at]);
                    } else {
                        const int kh = n->kind == K_GAP ? m->h[a] : 2;
                        const int kw = n->kind == K_GAP ? m->w[a] : 2;
                        double mx = -INFINITY, s = 0;
                        for (int ky = 0; ky < kh; ++ky)
                            for (int kx = 0; kx < kw; ++kx) {
                                const double u = v[a][(((size_t)(y * kh + ky)) * m->w[a] +
                                                       (size_t)(xx * kw + kx)) * m->c[a] + c];
                                mx = u > mx ? u : mx;
                                s += u;
                            }
                        r = n->kind == K_GAP ? s / (kh * kw) : mx;
                    }
                    v[o][at] = r;
                }
    }
}

/* ---- the oracle's integer pass ------------------------------------------------- */

/* TFLite QuantizeMultiplier by halving / doubling. */
static void o_qm(double real, int64_t *m, int *shift)
{
    int e = 0;
    while (real >= 1.0)
        real /= 2.0, ++e;
    while (real < 0.5)
        real *= 2.0, --e;
    int64_t q = llround(real * 2147483648.0);
    if (q == (INT64_C(1) << 31))
        q >>= 1, ++e;
    *m = q;
    *shift = e;
}

/* TFLite's int64 MultiplyByQuantizedMultiplier overload. */
static int64_t o_rq64(int64_t acc, int64_t m, int shift)
{
    const int64_t reduced = m < 0x7FFF0000 ? (m + (1 << 15)) >> 16 : 0x7FFF;
    const int total = 15 - shift;
    const int64_t p = acc * reduced + (INT64_C(1) << (total - 1));
    /* floor division by 2^total */
    const int64_t d = INT64_C(1) << total;
    const int64_t q = p / d - ((p % d != 0) && (p < 0));
    return o_sat32(q);
}

typedef struct qt {
    int32_t id;
    int dtype;
    float s;
    int zp;
} qt;

static qt info_of(tq_graph *q, int32_t id)
{
    tq_graph_tensor_info i;
    assert_int_equal(tq_graph_tensor(q, id, &i), TQ_OK);
    assert_int_equal(i.qcount, 1);
    qt r = {id, i.dtype, i.scale[0], i.zero_point[0]};
    return r;
}

/* The tensor node @p n reads as @p dtype: @p t itself, or the quantizer's
 * requantization "<name>/int8|int16", whose values the oracle computes
 * from t's (TFLite QUANTIZE: MBQM(x − zp_in) by s_in / s_out, + zp_out). */
static qt read_as(tq_graph *q, const qt *t, int dtype, const int64_t *x,
                  int64_t *y, size_t count, int rounding, double absmax,
                  double lo, double hi)
{
    if (t->dtype == dtype) {
        memcpy(y, x, count * sizeof *y);
        return *t;
    }
    tq_graph_tensor_info i;
    assert_int_equal(tq_graph_tensor(q, t->id, &i), TQ_OK);
    char name[200];
    snprintf(name, sizeof name, "%s/%s", i.name, dtype == TQ_S16 ? "int16" : "int8");
    int32_t id = -1;
    if (tq_graph_find_tensor(q, name, &id) != TQ_OK)
        fail_msg("no requantization %s", name);
    const qt c = info_of(q, id);
    assert_int_equal(c.dtype, dtype);
    if (dtype == TQ_S16) {
        assert_int_equal(c.zp, 0);
        assert_true(fabs(c.s - absmax / 32767) <= 1e-5 * c.s);
    } else {
        const double l = fmin(lo, 0), h = fmax(hi, 0), s = (h - l) / 255;
        assert_true(fabs(c.s - s) <= 1e-5 * s);
    }
    int64_t mm;
    int sh;
    o_qm((double)t->s / (double)c.s, &mm, &sh);
    const int qlo = dtype == TQ_S16 ? -32768 : -128, qhi = dtype == TQ_S16 ? 32767 : 127;
    for (size_t k = 0; k < count; ++k)
        y[k] = o_clamp(o_requant(x[k] - t->zp, mm, sh, rounding) + c.zp, qlo, qhi);
    return c;
}

/* Weight codes of a weighted node, checked: int4 (unpacked here) or int8
 * at abs-max / qmax per channel (or per tensor), codes round(w / s). */
static void weights_of(tq_graph *q, const mnet *m, const mnode *n, int32_t wid,
                       int want_dtype, int per_channel, double *codes,
                       float *sw)
{
    tq_graph_tensor_info i;
    assert_int_equal(tq_graph_tensor(q, wid, &i), TQ_OK);
    assert_int_equal(i.dtype, want_dtype);
    const int qmax = want_dtype == TQ_S4 ? 7 : 127;
    const int per = n->kind == K_FC ? (int)tsize(m, n->a) : (n->kind == K_DW ? n->k * n->k : n->k * n->k * m->c[n->a]);
    const int nw = per * n->cout;
    assert_int_equal(i.qcount, per_channel ? n->cout : 1);
    double all = 0;
    for (int c = 0; c < n->cout; ++c)
        for (int j = 0; j < per; ++j)
            all = fmax(all, fabs((double)n->w[n->kind == K_DW ? j * n->cout + c : c * per + j]));
    for (int c = 0; c < n->cout; ++c) {
        double a = 0;
        for (int j = 0; j < per; ++j)
            a = fmax(a, fabs((double)n->w[n->kind == K_DW ? j * n->cout + c : c * per + j]));
        sw[c] = i.scale[per_channel ? c : 0];
        const double want = (per_channel ? a : all) / qmax;
        assert_true(fabs(sw[c] - want) <= 1e-6 * want);
    }
    for (int k = 0; k < nw; ++k) {
        int v;
        if (want_dtype == TQ_S4) {
            const uint8_t byte = ((const uint8_t *)i.data)[k / 2];
            const int nib = k % 2 ? byte >> 4 : byte & 15;
            v = nib >= 8 ? nib - 16 : nib;
        } else {
            v = ((const int8_t *)i.data)[k];
        }
        const int c = n->kind == K_DW ? k % n->cout : k / per;
        const float r = roundf(n->w[k] / sw[c]);
        const int want = r > qmax ? qmax : (r < -qmax ? -qmax : (int)r);
        if (v != want)
            fail_msg("weight %d: code %d, oracle %d", k, v, want);
        codes[k] = v;
    }
    if (want_dtype == TQ_S4 && nw % 2)
        assert_int_equal(((const uint8_t *)i.data)[nw / 2] >> 4, 0);
}

typedef struct expect {
    int dtype[MAXT];   /* each oracle tensor's dtype in the quantized graph */
    int wdtype[MAXN];  /* each weighted node's weight dtype */
} expect;

/* Calibrate, quantize with the overrides the caller applies through
 * @p setup, check the dtypes of @p e, and run both ways. */
static void check_mixed(mnet *m, const expect *e,
                        void (*setup)(mnet *, tq_calibrator *), int rounding,
                        tq_graph **keep)
{
    enum { NCAL = 6, NTEST = 4 };
    const int out = m->n[m->nn - 1].out;
    assert_int_equal(tq_graph_set_output(m->g, m->gid[out]), TQ_OK);
    assert_int_equal(tq_graph_finalize(m->g, 0), TQ_OK);
    const size_t in_n = tsize(m, 0), out_n = tsize(m, out);
    float cal[NCAL * MAXV], test[NTEST * MAXV];
    assert_true(in_n <= MAXV);
    tt_fill_f32(&m->rng, cal, NCAL * in_n, -1.0f, 1.0f);
    tt_fill_f32(&m->rng, test, NTEST * in_n, -1.0f, 1.0f);
    tq_quant_config cfg;
    assert_int_equal(tq_quant_config_init(&cfg), TQ_OK);
    cfg.rounding = rounding;
    tq_calibrator *c = NULL;
    int32_t again = -1;
    assert_int_equal(tq_calibrator_create(m->g, &cfg, &c), TQ_OK);
    setup(m, c);
    assert_int_equal(tq_calibrator_feed(c, NCAL, cal), TQ_OK);
    assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
    assert_int_equal(again, 0);
    tq_graph *q = NULL;
    if (tq_graph_quantize(m->g, c, &q) != TQ_OK)
        fail_msg("quantize: %s", tq_graph_error(m->g));
    tq_calibrator_free(c);

    /* Float ranges. */
    double *fv[MAXT], lo[MAXT], hi[MAXT], am[MAXT];
    for (int t = 0; t < m->nt; ++t) {
        fv[t] = malloc(tsize(m, t) * sizeof(double));
        lo[t] = INFINITY, hi[t] = -INFINITY;
    }
    for (int s = 0; s < NCAL; ++s) {
        forward_f(m, cal + s * in_n, fv);
        for (int t = 0; t < m->nt; ++t)
            for (size_t i = 0; i < tsize(m, t); ++i)
                lo[t] = fmin(lo[t], fv[t][i]), hi[t] = fmax(hi[t], fv[t][i]);
    }
    qt p[MAXT];
    for (int t = 0; t < m->nt; ++t) {
        am[t] = fmax(fabs(lo[t]), fabs(hi[t]));
        p[t] = info_of(q, m->gid[t]);
        if (p[t].dtype != e->dtype[t])
            fail_msg("tensor %d: dtype %d, expected %d", t, p[t].dtype, e->dtype[t]);
        if (p[t].dtype == TQ_S16) {
            assert_int_equal(p[t].zp, 0);
            if (fabs(p[t].s - am[t] / 32767) > 1e-5 * p[t].s)
                fail_msg("tensor %d: int16 scale %.9g, oracle %.9g", t,
                         (double)p[t].s, am[t] / 32767);
        }
    }

    /* Integer passes. */
    int64_t *iv[MAXT], tmp[2][MAXV * 4];
    for (int t = 0; t < m->nt; ++t)
        iv[t] = malloc(tsize(m, t) * sizeof(int64_t));
    int8_t xq[NTEST * MAXV], yq[NTEST * MAXV], want_y[NTEST * MAXV];
    int32_t acc[NTEST * MAXV], want_acc[NTEST * MAXV];
    assert_int_equal(tq_graph_quantize_input(q, NTEST * in_n, test, xq), TQ_OK);
    const int last_is_fc = m->n[m->nn - 1].kind == K_FC;
    for (int s = 0; s < NTEST; ++s) {
        for (size_t i = 0; i < in_n; ++i)
            iv[0][i] = xq[s * in_n + i];
        for (int k = 0; k < m->nn; ++k) {
            const mnode *n = &m->n[k];
            const int o = n->out, nd = p[o].dtype;
            const int s16 = nd == TQ_S16;
            const qt pa = read_as(q, &p[n->a], nd, iv[n->a], tmp[0], tsize(m, n->a),
                                  rounding, am[n->a], lo[n->a], hi[n->a]);
            const int qlo = s16 ? -32768 : -128, qhi = s16 ? 32767 : 127;
            if (n->kind <= K_FC) {
                tq_graph_node_info ni;
                int32_t idx = -1;
                for (int32_t j = 0; j < tq_graph_node_count(q); ++j) {
                    assert_int_equal(tq_graph_node(q, j, &ni), TQ_OK);
                    if (ni.output == m->gid[o]) {
                        idx = j;
                        break;
                    }
                }
                assert_true(idx >= 0);
                assert_int_equal(ni.inputs[0], pa.id);
                const int last = k == m->nn - 1;
                static double wq[MAXW], xd[MAXV * 4];
                float sw[64];
                weights_of(q, m, n, ni.inputs[1], e->wdtype[k], !last, wq, sw);
                tq_graph_tensor_info bi;
                assert_int_equal(tq_graph_tensor(q, ni.inputs[2], &bi), TQ_OK);
                assert_int_equal(bi.dtype, s16 ? TQ_S64 : TQ_S32);
                for (size_t i = 0; i < tsize(m, n->a); ++i)
                    xd[i] = (double)tmp[0][i];
                int64_t lo_c = qlo, hi_c = qhi;
                if (n->act == TQ_ACT_RELU)
                    lo_c = s16 ? 0 : o_clamp(p[o].zp, -128, 127);
                for (int y = 0; y < m->h[o]; ++y)
                    for (int x = 0; x < m->w[o]; ++x)
                        for (int oc = 0; oc < n->cout; ++oc) {
                            const double sc = (double)pa.s * (double)sw[oc];
                            const int64_t b = llround((double)n->bias[oc] / sc);
                            const int64_t bq = s16 ? ((const int64_t *)bi.data)[oc]
                                                   : ((const int32_t *)bi.data)[oc];
                            if (bq != b)
                                fail_msg("node %d bias %d: %lld, oracle %lld", k, oc,
                                         (long long)bq, (long long)b);
                            int64_t mm;
                            int sh;
                            o_qm(sc / (double)p[o].s, &mm, &sh);
                            const int64_t a = (int64_t)wsum(m, n, xd, s16 ? 0 : pa.zp, wq,
                                                            y, x, oc) + b;
                            const size_t at = ((size_t)y * m->w[o] + x) * m->c[o] + oc;
                            int64_t r;
                            if (s16) {
                                r = o_clamp(o_rq64(a, mm, sh), lo_c, hi_c);
                            } else {
                                r = o_output(o_sat32(a), mm, sh, rounding, p[o].zp,
                                             (int)lo_c, (int)hi_c);
                                if (last)
                                    want_acc[s * out_n + at] = (int32_t)o_sat32(a);
                            }
                            iv[o][at] = r;
                        }
            } else if (n->kind == K_ADD) {
                const qt pb = read_as(q, &p[n->b], nd, iv[n->b], tmp[1], tsize(m, n->b),
                                      rounding, am[n->b], lo[n->b], hi[n->b]);
                const double twice = 2.0 * (double)(pa.s > pb.s ? pa.s : pb.s);
                const int ls = s16 ? 15 : 20;
                int64_t m1, m2, mo;
                int s1, s2, so;
                o_qm((double)pa.s / twice, &m1, &s1);
                o_qm((double)pb.s / twice, &m2, &s2);
                o_qm(twice / ((double)(INT64_C(1) << ls) * (double)p[o].s), &mo, &so);
                const int64_t l2 = n->act == TQ_ACT_RELU ? (s16 ? 0 : p[o].zp) : qlo;
                for (size_t i = 0; i < tsize(m, o); ++i) {
                    const int64_t a1 = o_requant((tmp[0][i] - pa.zp) * (INT64_C(1) << ls), m1, s1, rounding);
                    const int64_t a2 = o_requant((tmp[1][i] - pb.zp) * (INT64_C(1) << ls), m2, s2, rounding);
                    iv[o][i] = o_clamp(o_requant(a1 + a2, mo, so, rounding) + p[o].zp,
                                       l2, qhi);
                }
            } else {
                /* pools keep the parameters they read */
                assert_true(p[o].s == pa.s && p[o].zp == pa.zp);
                const int a = n->a;
                const int kh = n->kind == K_GAP ? m->h[a] : 2;
                const int kw = n->kind == K_GAP ? m->w[a] : 2;
                for (int y = 0; y < m->h[o]; ++y)
                    for (int x = 0; x < m->w[o]; ++x)
                        for (int c = 0; c < m->c[o]; ++c) {
                            int64_t mx = INT64_MIN, sum = 0, cnt = kh * kw;
                            for (int ky = 0; ky < kh; ++ky)
                                for (int kx = 0; kx < kw; ++kx) {
                                    const int64_t u = tmp[0][(((size_t)(y * kh + ky)) * m->w[a] +
                                                               (size_t)(x * kw + kx)) * m->c[a] + c];
                                    mx = u > mx ? u : mx;
                                    sum += u;
                                }
                            iv[o][((size_t)y * m->w[o] + x) * m->c[o] + c] =
                                n->kind == K_GAP
                                    ? (sum > 0 ? sum + cnt / 2 : sum - cnt / 2) / cnt
                                    : mx;
                        }
            }
        }
        for (size_t i = 0; i < out_n; ++i)
            want_y[s * out_n + i] = (int8_t)iv[out][i];
    }
    size_t bytes = 0;
    assert_int_equal(tq_graph_arena_size(q, NTEST, &bytes), TQ_OK);
    void *arena = malloc(bytes);
    memset(yq, 0x5A, sizeof yq);
    const tq_status rs = tq_graph_run_s8(q, NTEST, xq, yq, last_is_fc ? acc : NULL,
                                         arena, bytes);
    if (rs != TQ_OK)
        fail_msg("run: %s", tq_graph_error(q));
    assert_memory_equal(yq, want_y, NTEST * out_n);
    if (last_is_fc)
        assert_memory_equal(acc, want_acc, NTEST * out_n * sizeof *acc);
    /* Batch 1 gives the same as the batch. */
    int8_t y1[MAXV];
    assert_int_equal(tq_graph_arena_size(q, 1, &bytes), TQ_OK);
    assert_int_equal(tq_graph_run_s8(q, 1, xq + in_n, y1, NULL, arena, bytes), TQ_OK);
    assert_memory_equal(y1, want_y + out_n, out_n);
    free(arena);
    for (int t = 0; t < m->nt; ++t) {
        free(fv[t]);
        free(iv[t]);
    }
    if (keep)
        *keep = q;
    else
        tq_graph_free(q);
}

/* Save @p q, load it back (file and memory), and compare the runs of
 * @p in_n-element random inputs bit for bit, and the bytes of a second
 * save. */
static void round_trip(tq_graph *q, size_t in_n, const char *seed)
{
    const char *path = "test_graph_mixed.safetensors";
    const char *path2 = "test_graph_mixed2.safetensors";
    if (tq_graph_save(q, path) != TQ_OK)
        fail_msg("save: %s", tq_graph_error(q));
    tq_graph *l = NULL;
    char msg[512];
    if (tq_graph_load(path, &l, msg, sizeof msg) != TQ_OK)
        fail_msg("load: %s", msg);
    int32_t in_t, out_t;
    tq_graph_tensor_info ti;
    assert_int_equal(tq_graph_io(q, &in_t, &out_t), TQ_OK);
    assert_int_equal(tq_graph_tensor(q, out_t, &ti), TQ_OK);
    size_t out_n = 1;
    for (int d = 0; d < ti.ndim; ++d)
        out_n *= (size_t)ti.shape[d];
    assert_int_equal(tq_graph_tensor(q, in_t, &ti), TQ_OK);
    size_t nin = 1;
    for (int d = 0; d < ti.ndim; ++d)
        nin *= (size_t)ti.shape[d];
    (void)in_n;
    enum { B = 3 };
    int8_t x[B * MAXV], y1[B * MAXV], y2[B * MAXV];
    tt_rng r = {77};
    tt_fill_s8(&r, x, B * nin, -128, 127);
    size_t b1, b2;
    assert_int_equal(tq_graph_arena_size(q, B, &b1), TQ_OK);
    assert_int_equal(tq_graph_arena_size(l, B, &b2), TQ_OK);
    assert_int_equal(b1, b2);
    void *arena = malloc(b1);
    assert_int_equal(tq_graph_run_s8(q, B, x, y1, NULL, arena, b1), TQ_OK);
    memset(y2, 0x5A, sizeof y2);
    if (tq_graph_run_s8(l, B, x, y2, NULL, arena, b1) != TQ_OK)
        fail_msg("run loaded: %s", tq_graph_error(l));
    assert_memory_equal(y1, y2, B * out_n);
    assert_int_equal(tq_graph_node_count(l), tq_graph_node_count(q));
    for (int32_t t = 0; t < tq_graph_tensor_count(l); ++t) {
        tq_graph_tensor_info a;
        assert_int_equal(tq_graph_tensor(l, t, &a), TQ_OK);
        int32_t id;
        assert_int_equal(tq_graph_find_tensor(q, a.name, &id), TQ_OK);
        assert_int_equal(tq_graph_tensor(q, id, &ti), TQ_OK);
        assert_int_equal(a.dtype, ti.dtype);
    }
    assert_int_equal(tq_graph_save(l, path2), TQ_OK);
    FILE *f1 = fopen(path, "rb"), *f2 = fopen(path2, "rb");
    assert_non_null(f1);
    assert_non_null(f2);
    static char c1[1 << 20], c2[1 << 20];
    const size_t n1 = fread(c1, 1, sizeof c1, f1), n2 = fread(c2, 1, sizeof c2, f2);
    fclose(f1);
    fclose(f2);
    assert_int_equal(n1, n2);
    assert_memory_equal(c1, c2, n1);
    /* With TQ_MODEL_FILE_SEEDS=<dir> set, the file is also written to
     * <dir>/<seed> (the mixed seeds of fuzz/corpus/model are made so). */
    const char *dir = getenv("TQ_MODEL_FILE_SEEDS");
    if (dir) {
        char sp[4096];
        snprintf(sp, sizeof sp, "%s/%s", dir, seed);
        FILE *f = fopen(sp, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(c1, 1, n1, f), n1);
        fclose(f);
    }
    /* from memory too */
    tq_graph *l2 = NULL;
    assert_int_equal(tq_graph_load_memory(c1, n1, &l2, msg, sizeof msg), TQ_OK);
    memset(y2, 0x5A, sizeof y2);
    assert_int_equal(tq_graph_run_s8(l2, B, x, y2, NULL, arena, b1), TQ_OK);
    assert_memory_equal(y1, y2, B * out_n);
    /* A corrupted requantization is refused by the loader. */
    char *hit = NULL;
    for (size_t i = 0; i + 14 < n1; ++i) /* the JSON is escaped in there */
        if (!memcmp(c1 + i, "requantize\\\":[", 14)) {
            hit = c1 + i;
            break;
        }
    assert_non_null(hit);
    char *lb = strchr(hit, '[');
    assert_non_null(lb);
    lb[1] = '-'; /* a negative multiplier */
    tq_graph *bad = (tq_graph *)(uintptr_t)0x1;
    const tq_status ls = tq_graph_load_memory(c1, n1, &bad, msg, sizeof msg);
    assert_true(ls == TQ_ERR_FORMAT);
    assert_ptr_equal(bad, (tq_graph *)(uintptr_t)0x1);
    free(arena);
    tq_graph_free(l);
    tq_graph_free(l2);
    remove(path);
    remove(path2);
}

/* ---- network 1: conv (int16) -> max pool -> depthwise (int4) -> FC (int4) --- */

static void build_chain(mnet *m, uint64_t seed)
{
    const int x = m_input(m, 6, 6, 3, seed);
    const int t1 = m_weighted(m, K_CONV, x, 4, 3, 1, TQ_ACT_RELU);
    const int t2 = m_simple(m, K_MAXPOOL, t1, 0, 0);
    const int t3 = m_weighted(m, K_DW, t2, 0, 3, 1, TQ_ACT_RELU);
    m_weighted(m, K_FC, t3, 5, 0, 0, TQ_ACT_NONE);
}

static void setup_chain(mnet *m, tq_calibrator *c)
{
    /* conv output int16 (its weights stay int8 under the int4 default),
     * the pool follows; depthwise and FC weights int4 by default. */
    assert_int_equal(tq_calibrator_set_default_dtypes(c, TQ_S8, TQ_S4), TQ_OK);
    assert_int_equal(tq_calibrator_set_dtype(c, m->gid[1], TQ_S16), TQ_OK);
}

static void test_chain_int16_int4(void **state)
{
    (void)state;
    for (int r = 0; r < 2; ++r) {
        mnet m;
        build_chain(&m, 100 + (uint64_t)r);
        const expect e = {{TQ_S8, TQ_S16, TQ_S16, TQ_S8, TQ_S8},
                          {TQ_S8, 0, TQ_S4, TQ_S4}};
        tq_graph *q = NULL;
        check_mixed(&m, &e, setup_chain, r ? TQ_ROUND_SINGLE : TQ_ROUND_DOUBLE,
                    &q);
        round_trip(q, 108, r ? "mixed-chain-single" : "mixed-chain");
        tq_graph_free(q);
        tq_graph_free(m.g);
    }
}

/* ---- network 2: int16 by default, an int8 branch, Add, global pool -------- */

static void build_add(mnet *m, uint64_t seed)
{
    const int x = m_input(m, 4, 4, 4, seed);
    const int t1 = m_weighted(m, K_CONV, x, 4, 1, 0, TQ_ACT_NONE);
    const int t2 = m_weighted(m, K_CONV, x, 4, 3, 1, TQ_ACT_RELU);
    const int t3 = m_simple(m, K_ADD, t1, t2, TQ_ACT_RELU);
    const int t4 = m_weighted(m, K_CONV, t3, 6, 1, 0, TQ_ACT_NONE);
    m_simple(m, K_GAP, t4, 0, 0);
}

static void setup_add(mnet *m, tq_calibrator *c)
{
    assert_int_equal(tq_calibrator_set_default_dtypes(c, TQ_S16, TQ_S8), TQ_OK);
    assert_int_equal(tq_calibrator_set_dtype(c, m->gid[2], TQ_S8), TQ_OK);
}

static void test_add_default_int16(void **state)
{
    (void)state;
    for (int r = 0; r < 3; ++r) {
        mnet m;
        build_add(&m, 200 + (uint64_t)r);
        const expect e = {{TQ_S8, TQ_S16, TQ_S8, TQ_S16, TQ_S16, TQ_S8},
                          {TQ_S8, TQ_S8, 0, TQ_S8, 0}};
        tq_graph *q = NULL;
        check_mixed(&m, &e, setup_add, TQ_ROUND_DOUBLE, &q);
        /* The requantization nodes: x and t2 to int16, t4 to int8. */
        int32_t id;
        assert_int_equal(tq_graph_find_tensor(q, "x/int16", &id), TQ_OK);
        assert_int_equal(tq_graph_node_count(q), 5 + 3);
        /* Saved and loaded: the same outputs, the same bytes again; the C
         * exporter's host run of its code agrees with tq_graph_run_s8
         * (checked before anything is written: the directory's error). */
        round_trip(q, 16, r == 0 ? "mixed-add" : "mixed-add-more");
        char msg[256];
        assert_int_equal(tq_graph_export_c(q, "m", "/nonexistent-dir", msg, sizeof msg),
                         TQ_ERR_IO);
        assert_non_null(strstr(msg, "/nonexistent-dir"));
        tq_graph_free(q);
        tq_graph_free(m.g);
    }
}

/* ---- refusals ---------------------------------------------------------------------- */

static void test_bad_configurations(void **state)
{
    (void)state;
    mnet m;
    build_chain(&m, 7);
    assert_int_equal(tq_graph_set_output(m.g, m.gid[4]), TQ_OK);
    assert_int_equal(tq_graph_finalize(m.g, 0), TQ_OK);
    tq_quant_config cfg;
    tq_quant_config_init(&cfg);
    tq_calibrator *c = NULL;
    assert_int_equal(tq_calibrator_create(m.g, &cfg, &c), TQ_OK);
    tq_graph_node_info ni;
    assert_int_equal(tq_graph_node(m.g, 2, &ni), TQ_OK); /* the depthwise */
    const int32_t wdw = ni.inputs[1], bdw = ni.inputs[2];

    assert_int_equal(tq_calibrator_set_dtype(NULL, 0, TQ_S16), TQ_ERR_NULL);
    assert_int_equal(tq_calibrator_set_default_dtypes(NULL, TQ_S8, TQ_S8), TQ_ERR_NULL);
    /* input, output, a pool output: int16 refused, with a sentence */
    assert_int_equal(tq_calibrator_set_dtype(c, m.gid[0], TQ_S16), TQ_ERR_UNSUPPORTED);
    assert_non_null(strstr(tq_calibrator_error(c), "input"));
    assert_int_equal(tq_calibrator_set_dtype(c, m.gid[4], TQ_S16), TQ_ERR_UNSUPPORTED);
    assert_non_null(strstr(tq_calibrator_error(c), "output"));
    assert_int_equal(tq_calibrator_set_dtype(c, m.gid[2], TQ_S16), TQ_ERR_UNSUPPORTED);
    assert_non_null(strstr(tq_calibrator_error(c), "input's"));
    /* wrong dtypes for the kind of tensor, unknown tensors, a bias */
    assert_int_equal(tq_calibrator_set_dtype(c, m.gid[1], TQ_S4), TQ_ERR_PARAM);
    assert_int_equal(tq_calibrator_set_dtype(c, m.gid[1], TQ_F32), TQ_ERR_PARAM);
    assert_int_equal(tq_calibrator_set_dtype(c, wdw, TQ_S16), TQ_ERR_PARAM);
    assert_int_equal(tq_calibrator_set_dtype(c, bdw, TQ_S4), TQ_ERR_PARAM);
    assert_int_equal(tq_calibrator_set_dtype(c, -1, TQ_S8), TQ_ERR_PARAM);
    assert_int_equal(tq_calibrator_set_dtype(c, 1000, TQ_S8), TQ_ERR_PARAM);
    assert_int_equal(tq_calibrator_set_default_dtypes(c, TQ_S4, TQ_S8), TQ_ERR_PARAM);
    assert_int_equal(tq_calibrator_set_default_dtypes(c, TQ_S8, TQ_S16), TQ_ERR_PARAM);
    /* int4 weights under an int16 output: refused by the quantizer */
    assert_int_equal(tq_calibrator_set_dtype(c, m.gid[3], TQ_S16), TQ_OK);
    assert_int_equal(tq_calibrator_set_dtype(c, wdw, TQ_S4), TQ_OK);
    float cal[4 * 108];
    tt_fill_f32(&m.rng, cal, 4 * 108, -1, 1);
    assert_int_equal(tq_calibrator_feed(c, 4, cal), TQ_OK);
    /* after the first feed: refused */
    assert_int_equal(tq_calibrator_set_dtype(c, m.gid[1], TQ_S16), TQ_ERR_PARAM);
    assert_int_equal(tq_calibrator_set_default_dtypes(c, TQ_S16, TQ_S8), TQ_ERR_PARAM);
    int32_t again;
    assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
    tq_graph *q = (tq_graph *)(uintptr_t)0x1;
    assert_int_equal(tq_graph_quantize(m.g, c, &q), TQ_ERR_UNSUPPORTED);
    assert_ptr_equal(q, (tq_graph *)(uintptr_t)0x1);
    assert_non_null(strstr(tq_graph_error(m.g), "16x4"));
    tq_calibrator_free(c);

    /* An op without a 16x8 kernel: a standalone LeakyRelu. */
    tq_graph *g;
    const int64_t shape[4] = {1, 2, 2, 2};
    int32_t x, y, z;
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    at.alpha = 0.1f;
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    assert_int_equal(tq_graph_add_input(g, "x", 4, shape, &x), TQ_OK);
    assert_int_equal(tq_graph_add_node(g, "l", TQ_OP_LEAKY_RELU, 1, &x, &at, &y), TQ_OK);
    assert_int_equal(tq_graph_add_node(g, "l2", TQ_OP_LEAKY_RELU, 1, &y, &at, &z), TQ_OK);
    assert_int_equal(tq_graph_set_output(g, z), TQ_OK);
    assert_int_equal(tq_graph_finalize(g, 0), TQ_OK);
    assert_int_equal(tq_calibrator_create(g, &cfg, &c), TQ_OK);
    assert_int_equal(tq_calibrator_set_dtype(c, y, TQ_S16), TQ_ERR_UNSUPPORTED);
    assert_non_null(strstr(tq_calibrator_error(c), "no 16x8 kernel"));
    /* ... while the int16 default leaves it int8 */
    assert_int_equal(tq_calibrator_set_default_dtypes(c, TQ_S16, TQ_S4), TQ_OK);
    float v[8];
    tt_fill_f32(&m.rng, v, 8, -1, 1);
    assert_int_equal(tq_calibrator_feed(c, 1, v), TQ_OK);
    assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
    q = NULL;
    assert_int_equal(tq_graph_quantize(g, c, &q), TQ_OK);
    tq_graph_tensor_info ti;
    assert_int_equal(tq_graph_tensor(q, y, &ti), TQ_OK);
    assert_int_equal(ti.dtype, TQ_S8);
    assert_int_equal(tq_graph_node_count(q), 2);
    tq_graph_free(q);
    tq_calibrator_free(c);
    tq_graph_free(g);
    tq_graph_free(m.g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_int16_int4),
        cmocka_unit_test(test_add_default_int16),
        cmocka_unit_test(test_bad_configurations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
