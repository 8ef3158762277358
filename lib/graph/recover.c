/*
 * tq_graph_recover(): 4-bit weights, AdaRound and bias correction on a
 * quantized graph (host only). See docs/recovery.md.
 *
 * One pass of the FLOAT graph over the caller's calibration inputs gathers,
 * for every weighted layer, the mean of its input patches (im2col rows,
 * zeros where the window leaves the image) per group, and the Gram matrix
 * of a seeded random subset of at most max_patches patches. Both come
 * from the float network's activations (not the partly quantized one), so
 * every layer is handled independently. Then, layer by layer:
 *  1. weight_bits 4: scales max|w| / 7 (per channel or per tensor, as the
 *     graph was quantized), codes round-half-away in [−7, 7], stored in
 *     the int8 weight tensor (the s4 kernels compute the same sums on
 *     these codes);
 *  2. AdaRound (adaround.c) with the layer's Gram matrices;
 *  3. bias correction: the expected error of the layer's pre-activation
 *     output, E[(W~ − W) x] = (W~ − W) · mean patch (empirical) or
 *     (W~ − W) · E[x] from the previous layer's folded BatchNorm statistics
 *     (analytic), is subtracted from the float bias before it is quantized
 *     to int32;
 *  4. the node's weight scales, int32 biases, multipliers and shifts are
 *     recomputed as tq_graph_quantize() computes them, and FC weights are
 *     packed again.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "quant_internal.h"
#include "recover_internal.h"

enum { L_CONV = 0, L_DW = 1, L_FC = 2 };

typedef struct layer {
    int32_t node;          /* node index (the same in both graphs) */
    int32_t kind;          /* L_* */
    int32_t in_root;       /* the input's storage tensor (float graph) */
    int64_t O, G, Og, Kg;  /* output channels, groups, per group, patch */
    int32_t H, W, C, KH, KW, OH, OW, M; /* geometry (FC: C = features) */
    tq_conv_params cp;
    double *mean;          /* G · Kg: sum of patches, then the mean */
    double *gram;          /* G · Kg · Kg (AdaRound only) */
    int64_t seen, sampled;
    double p_sample;
    uint64_t rng;
} layer;

typedef struct rctx {
    const tq_graph *g;
    layer *layers;
    int32_t n_layers;
    int want_gram;
    double *patch;         /* scratch: the largest G · Kg */
} rctx;

/* The lower triangle of G += p pᵀ (k x k, row-major): one sampled patch
 * into a Gram matrix; zero entries (ReLU outputs, padding) skipped. */
static void gram_add(double *G, const double *p, int64_t k)
{
    for (int64_t i = 0; i < k; ++i) {
        const double pi = p[i];
        if (pi == 0.0)
            continue;
        double *Gi = G + i * k;
        for (int64_t j = 0; j <= i; ++j)
            Gi[j] += pi * p[j];
    }
}
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int weighted_op(int32_t op)
{
    return op == TQ_OP_CONV2D || op == TQ_OP_DEPTHWISE_CONV2D ||
           op == TQ_OP_FULLY_CONNECTED || op == TQ_OP_CONV2D_RELU_MAXPOOL2;
}

/* Patch of output position (oy, ox) of one sample x (NHWC [H][W][C]):
 * group-major, G · Kg values. */
static void make_patch(const layer *L, const float *x, int32_t oy, int32_t ox,
                       double *p)
{
    if (L->kind == L_FC) {
        for (int64_t f = 0; f < L->Kg; ++f)
            p[f] = (double)x[f];
        return;
    }
    const int32_t taps = L->KH * L->KW;
    for (int32_t ky = 0; ky < L->KH; ++ky)
        for (int32_t kx = 0; kx < L->KW; ++kx) {
            const int32_t iy = oy * L->cp.stride_h - L->cp.pad_top +
                               ky * L->cp.dilation_h;
            const int32_t ix = ox * L->cp.stride_w - L->cp.pad_left +
                               kx * L->cp.dilation_w;
            const int inside = iy >= 0 && iy < L->H && ix >= 0 && ix < L->W;
            const float *px = inside ? x + ((size_t)iy * L->W + ix) * L->C : NULL;
            const int32_t t = ky * L->KW + kx;
            if (L->kind == L_DW) {
                for (int32_t c = 0; c < L->C; ++c)
                    p[(size_t)c * taps + t] = inside ? (double)px[c] : 0.0;
            } else {
                const int64_t Ig = L->C / L->G;
                for (int64_t g = 0; g < L->G; ++g)
                    for (int64_t i = 0; i < Ig; ++i)
                        p[g * L->Kg + t * Ig + i] =
                            inside ? (double)px[g * Ig + i] : 0.0;
            }
        }
}

static void observe(void *vctx, int32_t tensor, const float *data,
                    size_t count)
{
    rctx *c = vctx;
    for (int32_t l = 0; l < c->n_layers; ++l) {
        layer *L = &c->layers[l];
        if (L->in_root != tensor)
            continue;
        const size_t per = (size_t)L->H * L->W * L->C;
        const size_t batch = count / per;
        const int64_t GK = L->G * L->Kg;
        for (size_t b = 0; b < batch; ++b)
            for (int32_t oy = 0; oy < L->OH; ++oy)
                for (int32_t ox = 0; ox < L->OW; ++ox) {
                    make_patch(L, data + b * per, oy, ox, c->patch);
                    for (int64_t i = 0; i < GK; ++i)
                        L->mean[i] += c->patch[i];
                    L->seen++;
                    if (!c->want_gram)
                        continue;
                    const double u =
                        (double)(splitmix(&L->rng) >> 11) * 0x1.0p-53;
                    if (u >= L->p_sample)
                        continue;
                    L->sampled++;
                    for (int64_t g = 0; g < L->G; ++g)
                        gram_add(L->gram + g * L->Kg * L->Kg,
                                 c->patch + g * L->Kg, L->Kg);
                }
    }
}

/* Weight (o, k) index in the tensor layout. */
static size_t widx(const layer *L, int64_t o, int64_t k)
{
    if (L->kind == L_DW) /* [1][KH][KW][C·M], k = tap */
        return (size_t)(k * L->O + o);
    return (size_t)(o * L->Kg + k); /* OHWI rows, FC rows */
}

/* The group of output channel o and the index of its patch block. */
static int64_t group_of(const layer *L, int64_t o)
{
    return L->kind == L_DW ? o / L->M : o / L->Og;
}

static tq_status fail(tq_graph *q, tq_status s, const char *what,
                      const char *node)
{
    return tq__graph_fail(q, s, "recover: node %s: %s: %s", node, what,
                          tq_status_message(s));
}

/* Expected input patch from the producer's folded-BN statistics; 0 if the
 * producer has none. */
static int analytic_mean(const tq_graph *g, const layer *L, double *mean)
{
    const int32_t p = g->tensors[L->in_root].producer;
    if (p < 0)
        return 0;
    const tq__node *n = &g->nodes[p];
    const int64_t C = L->kind == L_FC ? 0 : L->C;
    if (!weighted_op(n->op) || n->op == TQ_OP_CONV2D_RELU_MAXPOOL2 ||
        n->bn_count <= 0 || (C && n->bn_count != C) ||
        (!C && L->Kg % n->bn_count != 0))
        return 0;
    double lo = -INFINITY, hi = INFINITY;
    switch (n->attrs.act) {
    case TQ_ACT_RELU: lo = 0.0; break;
    case TQ_ACT_RELU6: lo = 0.0; hi = 6.0; break;
    case TQ_ACT_CLIP: lo = n->attrs.act_min; hi = n->attrs.act_max; break;
    default: break;
    }
    double *ex = malloc((size_t)n->bn_count * sizeof *ex);
    if (!ex)
        return -1;
    for (int32_t c = 0; c < n->bn_count; ++c)
        if (tq_expected_clamped_normal(n->bn_shift[c], fabs(n->bn_scale[c]),
                                       lo, hi, &ex[c]) != TQ_OK) {
            free(ex);
            return 0;
        }
    if (L->kind == L_FC) {
        for (int64_t f = 0; f < L->Kg; ++f)
            mean[f] = ex[f % n->bn_count];
        free(ex);
        return 1;
    }
    /* Fraction of output positions where each tap is inside the image. */
    const int32_t taps = L->KH * L->KW;
    for (int32_t ky = 0; ky < L->KH; ++ky)
        for (int32_t kx = 0; kx < L->KW; ++kx) {
            int64_t in = 0;
            for (int32_t oy = 0; oy < L->OH; ++oy)
                for (int32_t ox = 0; ox < L->OW; ++ox) {
                    const int32_t iy = oy * L->cp.stride_h - L->cp.pad_top +
                                       ky * L->cp.dilation_h;
                    const int32_t ix = ox * L->cp.stride_w - L->cp.pad_left +
                                       kx * L->cp.dilation_w;
                    in += iy >= 0 && iy < L->H && ix >= 0 && ix < L->W;
                }
            const double frac = (double)in / ((double)L->OH * L->OW);
            const int32_t t = ky * L->KW + kx;
            if (L->kind == L_DW) {
                for (int32_t c = 0; c < L->C; ++c)
                    mean[(size_t)c * taps + t] = ex[c] * frac;
            } else {
                const int64_t Ig = L->C / L->G;
                for (int64_t gg = 0; gg < L->G; ++gg)
                    for (int64_t i = 0; i < Ig; ++i)
                        mean[gg * L->Kg + t * Ig + i] = ex[gg * Ig + i] * frac;
            }
        }
    free(ex);
    return 1;
}

/* New codes / scales / float bias into node L of q: weight scales, int32
 * biases, multipliers and shifts as tq_graph_quantize() computes them. */
static tq_status install(tq_graph *q, const layer *L, const int8_t *codes,
                         const float *scales, int64_t nscale,
                         const float *fbias)
{
    tq__node *n = &q->nodes[L->node];
    struct tq__qnode *qn = n->q;
    tq__tensor *wt = &q->tensors[n->inputs[1]];
    const float s_in = q->tensors[n->inputs[0]].scale[0];
    const float s_out = q->tensors[n->output].scale[0];
    const int per_channel = nscale > 1;
    int32_t *mult = malloc((size_t)nscale * sizeof *mult);
    int32_t *shift = malloc((size_t)nscale * sizeof *shift);
    int32_t *bias = NULL;
    tq_status s = mult && shift ? TQ_OK : TQ_ERR_NO_MEMORY;
    for (int64_t c = 0; c < nscale && s == TQ_OK; ++c) {
        const double m = (double)s_in * (double)scales[c] / (double)s_out;
        if (tq_quantize_multiplier(m, &mult[c], &shift[c]) != TQ_OK)
            s = tq__graph_fail(q, TQ_ERR_UNSUPPORTED, "recover: node %s: "
                               "output multiplier %g cannot be applied",
                               n->name, m);
    }
    tq__tensor *bt = n->n_inputs > 2 ? &q->tensors[n->inputs[2]] : NULL;
    if (s == TQ_OK && bt && fbias) {
        bias = malloc((size_t)L->O * sizeof *bias);
        s = bias ? tq_quantize_bias(L->O, fbias, s_in, scales, per_channel,
                                    bias)
                 : TQ_ERR_NO_MEMORY;
        if (s != TQ_OK && s != TQ_ERR_NO_MEMORY)
            fail(q, s, "bias", n->name);
    }
    /* The packed copies the int8 runner reads (FC, and conv weights packed
     * once by the quantizer) are made again from the new codes. */
    void *packed = NULL;
    if (s == TQ_OK && qn->packed) {
        packed = malloc(qn->packed_bytes);
        if (!packed)
            s = TQ_ERR_NO_MEMORY;
        else if (qn->kind == TQ__Q_FC)
            s = tq_s8_pack_weights((int32_t)L->O, (int32_t)L->Kg, codes,
                                   (int32_t)L->Kg, packed, qn->packed_bytes);
        else
            s = tq_s8_conv2d_pack(&qn->filter, qn->conv.groups, codes, packed,
                                  qn->packed_bytes);
    }
    if (s != TQ_OK) {
        free(mult), free(shift), free(bias), free(packed);
        if (s == TQ_ERR_NO_MEMORY)
            tq__graph_fail(q, s, "recover: no memory");
        return s;
    }
    memcpy(wt->data, codes, wt->numel);
    memcpy(wt->scale, scales, (size_t)nscale * sizeof *scales);
    memcpy(qn->mult, mult, (size_t)nscale * sizeof *mult);
    memcpy(qn->shift, shift, (size_t)nscale * sizeof *shift);
    if (bias) {
        memcpy(bt->data, bias, (size_t)L->O * sizeof *bias);
        for (int64_t c = 0; c < nscale; ++c)
            bt->scale[c] = (float)((double)s_in * (double)scales[c]);
    }
    if (packed) {
        free(qn->packed);
        qn->packed = packed;
    }
    free(mult), free(shift), free(bias);
    return TQ_OK;
}

static tq_status check_config(tq_graph *q, const tq_recovery_config *c)
{
    if ((c->weight_bits != 8 && c->weight_bits != 4) ||
        (c->keep_ends_8bit != 0 && c->keep_ends_8bit != 1) ||
        c->bias_correction < 0 || c->bias_correction > 2 ||
        (c->adaround != 0 && c->adaround != 1) || c->iterations < 1 ||
        c->iterations > 10000000 || !(c->lambda >= 0.0f) ||
        !(c->beta_start >= 1.0f) || !(c->beta_end >= 1.0f) ||
        !(c->warmup >= 0.0f && c->warmup <= 1.0f) ||
        !(c->learning_rate > 0.0f) || c->max_patches < 1 ||
        !(c->time_limit >= 0.0) || !isfinite(c->time_limit) || c->reserved)
        return tq__graph_fail(q, TQ_ERR_PARAM, "recover: bad configuration "
                              "(weight_bits 8 or 4, bias_correction 0..2, "
                              "iterations 1..10^7, lambda >= 0, betas >= 1, "
                              "warmup 0..1, learning_rate > 0, max_patches "
                              ">= 1, time_limit >= 0, reserved 0)");
    return TQ_OK;
}

/* Describe weighted node i as a layer (float graph g). */
static void describe(const tq_graph *g, int32_t i, layer *L)
{
    const tq__node *n = &g->nodes[i];
    const tq__tensor *w = &g->tensors[n->inputs[1]];
    const tq__tensor *x = &g->tensors[n->inputs[0]];
    memset(L, 0, sizeof *L);
    L->node = i;
    L->in_root = tq__graph_root(g, n->inputs[0]);
    L->cp = n->attrs.conv;
    if (n->op == TQ_OP_FULLY_CONNECTED) {
        L->kind = L_FC;
        L->O = w->shape[0];
        L->G = 1;
        L->Og = L->O;
        L->Kg = w->shape[1];
        L->H = L->W = 1;
        L->C = (int32_t)L->Kg;
        L->OH = L->OW = 1;
        return;
    }
    const tq_dims d = tq__graph_dims(g, n->inputs[0], 1);
    (void)x;
    L->H = d.h;
    L->W = d.w;
    L->C = d.c;
    L->KH = (int32_t)w->shape[1];
    L->KW = (int32_t)w->shape[2];
    L->OH = (L->H + L->cp.pad_top + L->cp.pad_bottom -
             L->cp.dilation_h * (L->KH - 1) - 1) / L->cp.stride_h + 1;
    L->OW = (L->W + L->cp.pad_left + L->cp.pad_right -
             L->cp.dilation_w * (L->KW - 1) - 1) / L->cp.stride_w + 1;
    if (n->op == TQ_OP_DEPTHWISE_CONV2D) {
        L->kind = L_DW;
        L->M = n->attrs.depth_multiplier;
        L->O = w->shape[3];
        L->G = L->C;
        L->Og = L->M;
        L->Kg = (int64_t)L->KH * L->KW;
    } else {
        L->kind = L_CONV;
        L->O = w->shape[0];
        L->G = n->attrs.conv.groups;
        L->Og = L->O / L->G;
        L->Kg = (int64_t)L->KH * L->KW * w->shape[3];
    }
}

/* ---- statistics from the partly quantized network ----
 * For layer L, one pass of the float graph g and of the quantized graph q
 * (the layers before L already recovered) over the inputs gives, patch by
 * patch, the float input x_f and the dequantized int8 input x_q:
 *   A = mean x_q x_qᵀ, T_o = mean x_q (w_o · x_f), C_o = mean (w_o · x_f)²
 * over the sampled patches (asymmetric AdaRound), and the mean patches of
 * x_q and x_f over all of them (bias correction on quantized inputs). */
typedef struct qstats {
    double *A;          /* G · Kg · Kg */
    double *T;          /* O · Kg */
    double *C;          /* O */
    double *mq, *mf;    /* G · Kg each */
    int64_t seen, sampled;
} qstats;

typedef struct qcap {
    const tq_graph *q;
    int32_t root, producer;
    uint8_t *base;
    int64_t batch;
    float *dst;          /* dequantized copy of the root tensor */
    size_t n;
    float scale;
    int32_t zp;
    int32_t got;
} qcap;

static void qcap_hook(void *ctx, int32_t node)
{
    qcap *h = ctx;
    if (node != h->producer)
        return;
    const int8_t *x = tq__graph_tensor_at(h->q, h->base, h->root, h->batch);
    for (size_t i = 0; i < h->n; ++i)
        h->dst[i] = h->scale * (float)((int32_t)x[i] - h->zp);
    h->got = 1;
}

typedef struct fcap {
    int32_t root;
    float *dst;
    size_t n;
    int32_t got;
} fcap;

static void fcap_observe(void *ctx, int32_t tensor, const float *data,
                         size_t count)
{
    fcap *h = ctx;
    if (tensor != h->root || count != h->n)
        return;
    memcpy(h->dst, data, count * sizeof *data);
    h->got = 1;
}

static void qstats_free(qstats *st)
{
    free(st->A), free(st->T), free(st->C), free(st->mq), free(st->mf);
    memset(st, 0, sizeof *st);
}

static tq_status gather_quantized(tq_graph *q, const tq_graph *g,
                                  const layer *L, int64_t count,
                                  const float *inputs,
                                  const tq_recovery_config *cfg, int want_a,
                                  const float *rows, qstats *st)
{
    const int64_t GK = L->G * L->Kg;
    memset(st, 0, sizeof *st);
    st->mq = calloc((size_t)GK, sizeof *st->mq);
    st->mf = calloc((size_t)GK, sizeof *st->mf);
    if (want_a) {
        st->A = calloc((size_t)(GK * L->Kg), sizeof *st->A);
        st->T = calloc((size_t)(L->O * L->Kg), sizeof *st->T);
        st->C = calloc((size_t)L->O, sizeof *st->C);
    }
    const int64_t chunk = 16;
    const size_t in_numel = g->tensors[g->input].numel;
    const size_t out_numel = q->tensors[q->output].numel;
    const size_t per = (size_t)L->H * L->W * L->C;
    size_t fbytes = 0, qbytes = 0;
    void *farena = NULL, *qarena = NULL;
    float *xf = malloc((size_t)chunk * per * sizeof *xf);
    float *xq = malloc((size_t)chunk * per * sizeof *xq);
    int8_t *qin = malloc((size_t)chunk * in_numel);
    int8_t *qout = malloc((size_t)chunk * out_numel);
    double *pf = malloc((size_t)GK * sizeof *pf);
    double *pq = malloc((size_t)GK * sizeof *pq);
    tq_status s = TQ_OK;
    if (!st->mq || !st->mf || (want_a && (!st->A || !st->T || !st->C)) ||
        !xf || !xq || !qin || !qout || !pf || !pq)
        s = TQ_ERR_NO_MEMORY;
    if (s == TQ_OK && (s = tq_graph_arena_size(g, chunk, &fbytes)) == TQ_OK &&
        (s = tq_graph_arena_size(q, chunk, &qbytes)) == TQ_OK &&
        (!(farena = malloc(fbytes)) || !(qarena = malloc(qbytes))))
        s = TQ_ERR_NO_MEMORY;
    const tq__node *qn = &q->nodes[L->node];
    qcap qc = {q, tq__graph_root(q, qn->inputs[0]), -1, NULL, 0, xq, 0,
               q->tensors[qn->inputs[0]].scale[0],
               q->tensors[qn->inputs[0]].zero_point[0], 0};
    qc.producer = q->tensors[qc.root].producer;
    fcap fc = {L->in_root, xf, 0, 0};
    const double total = (double)count * L->OH * L->OW;
    const double p_sample = total <= cfg->max_patches
                                ? 1.0 : cfg->max_patches / total;
    uint64_t rng = cfg->seed ^ (0x7654321ull * (uint64_t)(L->node + 1));
    for (int64_t b0 = 0; b0 < count && s == TQ_OK; b0 += chunk) {
        const int64_t nb = count - b0 < chunk ? count - b0 : chunk;
        const float *x = inputs + (size_t)b0 * in_numel;
        fc.n = (size_t)nb * per;
        fc.got = 0;
        s = tq__graph_run_f32_observed(g, nb, x, farena, fbytes, fcap_observe,
                                       &fc);
        if (s != TQ_OK)
            break;
        uint8_t *scratch;
        size_t scratch_bytes;
        if ((s = tq_graph_quantize_input(q, (size_t)nb * in_numel, x, qin)) !=
                TQ_OK ||
            (s = tq__graph_arena(q, nb, qarena, qbytes, &qc.base, &scratch,
                                 &scratch_bytes)) != TQ_OK)
            break;
        qc.batch = nb;
        qc.n = (size_t)nb * per;
        qc.got = 0;
        if (qc.producer < 0) /* the graph input: quantized as the run does */
            for (size_t i = 0; i < qc.n; ++i)
                xq[i] = qc.scale * (float)((int32_t)qin[i] - qc.zp);
        s = tq__graph_run_s8_hooked(q, nb, qin, qout, NULL, qarena, qbytes,
                                    qcap_hook, &qc);
        if (s != TQ_OK)
            break;
        if (!fc.got || (qc.producer >= 0 && !qc.got)) {
            s = TQ_ERR_UNSUPPORTED; /* should not happen */
            break;
        }
        for (int64_t b = 0; b < nb; ++b)
            for (int32_t oy = 0; oy < L->OH; ++oy)
                for (int32_t ox = 0; ox < L->OW; ++ox) {
                    make_patch(L, xf + (size_t)b * per, oy, ox, pf);
                    make_patch(L, xq + (size_t)b * per, oy, ox, pq);
                    for (int64_t i = 0; i < GK; ++i) {
                        st->mq[i] += pq[i];
                        st->mf[i] += pf[i];
                    }
                    st->seen++;
                    if (!want_a)
                        continue;
                    const double u = (double)(splitmix(&rng) >> 11) * 0x1.0p-53;
                    if (u >= p_sample)
                        continue;
                    st->sampled++;
                    for (int64_t o = 0; o < L->O; ++o) {
                        const int64_t gg = group_of(L, o);
                        const double *f = pf + gg * L->Kg;
                        const double *xqg = pq + gg * L->Kg;
                        const float *wr = rows + o * L->Kg;
                        double y = 0.0;
                        for (int64_t k = 0; k < L->Kg; ++k)
                            y += (double)wr[k] * f[k];
                        st->C[o] += y * y;
                        double *t = st->T + o * L->Kg;
                        if (y != 0.0)
                            for (int64_t k = 0; k < L->Kg; ++k)
                                t[k] += xqg[k] * y;
                    }
                    for (int64_t gg = 0; gg < L->G; ++gg)
                        gram_add(st->A + gg * L->Kg * L->Kg,
                                 pq + gg * L->Kg, L->Kg);
                }
    }
    if (s == TQ_OK && st->seen > 0) {
        for (int64_t i = 0; i < GK; ++i) {
            st->mq[i] /= (double)st->seen;
            st->mf[i] /= (double)st->seen;
        }
    }
    if (s == TQ_OK && want_a && st->sampled > 0) {
        const double inv = 1.0 / (double)st->sampled;
        for (int64_t gg = 0; gg < L->G; ++gg) {
            double *A = st->A + gg * L->Kg * L->Kg;
            for (int64_t i = 0; i < L->Kg; ++i)
                for (int64_t j = 0; j <= i; ++j) {
                    A[i * L->Kg + j] *= inv;
                    A[j * L->Kg + i] = A[i * L->Kg + j];
                }
        }
        for (int64_t i = 0; i < L->O * L->Kg; ++i)
            st->T[i] *= inv;
        for (int64_t o = 0; o < L->O; ++o)
            st->C[o] *= inv;
    }
    free(farena), free(qarena), free(xf), free(xq), free(qin), free(qout);
    free(pf), free(pq);
    if (s != TQ_OK)
        qstats_free(st);
    return s;
}

tq_status tq_recovery_ext_init(tq_recovery_ext *ext)
{
    if (!ext)
        return TQ_ERR_NULL;
    memset(ext, 0, sizeof *ext);
    return TQ_OK;
}

static tq_status recover(tq_graph *quantized, const tq_graph *graph,
                         int64_t count, const float *inputs,
                         const tq_recovery_config *config,
                         const tq_recovery_ext *ext);

tq_status tq_graph_recover(tq_graph *quantized, const tq_graph *graph,
                           int64_t count, const float *inputs,
                           const tq_recovery_config *config)
{
    return tq_graph_recover_ext(quantized, graph, count, inputs, config, NULL);
}

tq_status tq_graph_recover_ext(tq_graph *quantized, const tq_graph *graph,
                               int64_t count, const float *inputs,
                               const tq_recovery_config *config,
                               const tq_recovery_ext *ext)
{
    if (!quantized || !graph || !inputs)
        return TQ_ERR_NULL;
    tq_recovery_ext dext;
    if (!ext) {
        tq_recovery_ext_init(&dext);
        ext = &dext;
    }
    return recover(quantized, graph, count, inputs, config, ext);
}

static tq_status recover(tq_graph *quantized, const tq_graph *graph,
                         int64_t count, const float *inputs,
                         const tq_recovery_config *config,
                         const tq_recovery_ext *ext)
{
    if (!quantized || !graph || !inputs)
        return TQ_ERR_NULL;
    tq__graph_ok(quantized);
    tq_recovery_config def;
    if (!config) {
        tq_recovery_config_init(&def);
        config = &def;
    }
    tq_graph *q = quantized;
    if (!q->quantized || !q->q || !graph->finalized || graph->quantized)
        return tq__graph_fail(q, TQ_ERR_PARAM, "recover: needs a quantized "
                              "graph and the finalized float graph it was "
                              "made from");
    if (q->n_nodes > graph->n_nodes || graph->n_nodes > q->n_nodes + 1 ||
        q->n_tensors != graph->n_tensors)
        return tq__graph_fail(q, TQ_ERR_PARAM, "recover: the quantized graph "
                              "was not made from this float graph");
    for (int32_t i = 0; i < q->n_nodes; ++i)
        if (strcmp(q->nodes[i].name, graph->nodes[i].name) != 0 ||
            q->nodes[i].op != graph->nodes[i].op)
            return tq__graph_fail(q, TQ_ERR_PARAM, "recover: the quantized "
                                  "graph was not made from this float graph "
                                  "(node %d)", i);
    if (count < 1 || count > INT32_MAX)
        return tq__graph_fail(q, TQ_ERR_PARAM, "recover: count %lld is not "
                              "in 1..INT32_MAX", (long long)count);
    TQ_CHECK(check_config(q, config));
    int ext_bad = (ext->asymmetric != 0 && ext->asymmetric != 1) ||
                  (ext->bias_quantized != 0 && ext->bias_quantized != 1) ||
                  (ext->bias_quantized &&
                   config->bias_correction != TQ_BIAS_CORRECTION_EMPIRICAL);
    for (int i = 0; i < 6; ++i)
        ext_bad |= ext->reserved[i] != 0;
    if (ext_bad)
        return tq__graph_fail(q, TQ_ERR_PARAM, "recover: bad extended "
                              "configuration (asymmetric and bias_quantized "
                              "0 or 1, bias_quantized only with empirical "
                              "bias correction, reserved 0)");
    const int asym = ext->asymmetric && config->adaround;
    const size_t in_numel = graph->tensors[graph->input].numel;
    for (size_t i = 0; i < (size_t)count * in_numel; ++i)
        if (!isfinite(inputs[i]))
            return tq__graph_fail(q, TQ_ERR_NOT_FINITE, "recover: input value "
                                  "%zu is not finite", i);

    /* The layers. */
    rctx c = {graph, NULL, 0, config->adaround && !asym, NULL};
    c.layers = calloc((size_t)q->n_nodes + 1, sizeof *c.layers);
    if (!c.layers)
        return tq__graph_fail(q, TQ_ERR_NO_MEMORY, "recover: no memory");
    tq_status s = TQ_OK;
    int64_t biggest = 1;
    for (int32_t i = 0; i < q->n_nodes && s == TQ_OK; ++i) {
        const tq__node *n = &q->nodes[i];
        if (!weighted_op(n->op) || !n->q)
            continue;
        if (n->q->weights4 || n->q->dtype == TQ_S16) {
            s = tq__graph_fail(q, TQ_ERR_UNSUPPORTED, "recover: node %s has "
                               "int4 weights or int16 activations; recover "
                               "an all-int8 graph (weight_bits 4 gives "
                               "4-bit codes)", n->name);
            break;
        }
        layer *L = &c.layers[c.n_layers];
        describe(graph, i, L);
        const int64_t GK = L->G * L->Kg;
        biggest = GK > biggest ? GK : biggest;
        L->mean = calloc((size_t)GK, sizeof *L->mean);
        if (c.want_gram)
            L->gram = calloc((size_t)(GK * L->Kg), sizeof *L->gram);
        const double total = (double)count * L->OH * L->OW;
        L->p_sample = total <= config->max_patches ? 1.0
                                                   : config->max_patches / total;
        L->rng = config->seed ^ (0x1234567ull * (uint64_t)(i + 1));
        c.n_layers++;
        if (!L->mean || (c.want_gram && !L->gram))
            s = TQ_ERR_NO_MEMORY;
    }
    c.patch = malloc((size_t)biggest * sizeof *c.patch);
    if (!c.patch)
        s = TQ_ERR_NO_MEMORY;

    /* One pass of the float graph. */
    const int64_t chunk = 16;
    size_t abytes = 0;
    void *arena = NULL;
    if (s == TQ_OK && (s = tq_graph_arena_size(graph, chunk, &abytes)) == TQ_OK &&
        !(arena = malloc(abytes)))
        s = TQ_ERR_NO_MEMORY;
    for (int64_t b = 0; b < count && s == TQ_OK; b += chunk) {
        const int64_t nb = count - b < chunk ? count - b : chunk;
        s = tq__graph_run_f32_observed(graph, nb, inputs + (size_t)b * in_numel,
                                       arena, abytes, observe, &c);
        if (s != TQ_OK)
            tq__graph_fail(q, s, "recover: float run: %s (%s)",
                           tq_status_message(s), tq_graph_error(graph));
    }
    free(arena);

    /* Layer by layer. */
    int32_t qmin8 = -127, qmax8 = 127;
    if (s == TQ_OK)
        s = tq_qscheme_qrange(&q->q->config.weight_scheme, &qmin8, &qmax8);
    for (int32_t l = 0; l < c.n_layers && s == TQ_OK; ++l) {
        layer *L = &c.layers[l];
        qstats qs;
        memset(&qs, 0, sizeof qs);
        const tq__node *n = &q->nodes[L->node];
        const tq__tensor *wq = &q->tensors[n->inputs[1]];
        const float *wf = graph->tensors[n->inputs[1]].data;
        const float *bf = n->n_inputs > 2 ? graph->tensors[n->inputs[2]].data
                                          : NULL;
        const int64_t nscale = wq->qcount;
        const int per_channel = nscale > 1;
        const size_t numel = wq->numel;
        int8_t *codes = malloc(numel);
        float *scales = malloc((size_t)nscale * sizeof *scales);
        float *rows = malloc(numel * sizeof *rows);   /* [O][Kg] */
        int8_t *rcodes = malloc(numel);
        float *rscales = malloc((size_t)L->O * sizeof *rscales);
        float *bias = bf ? malloc((size_t)L->O * sizeof *bias) : NULL;
        double *mean = malloc((size_t)(L->G * L->Kg) * sizeof *mean);
        if (!codes || !scales || !rows || !rcodes || !rscales || !mean ||
            (bf && !bias)) {
            s = tq__graph_fail(q, TQ_ERR_NO_MEMORY, "recover: no memory");
            goto next;
        }
        memcpy(codes, wq->data, numel);
        memcpy(scales, wq->scale, (size_t)nscale * sizeof *scales);
        for (int64_t o = 0; o < L->O; ++o)
            for (int64_t k = 0; k < L->Kg; ++k)
                rows[o * L->Kg + k] = wf[widx(L, o, k)];
        int32_t qmin = qmin8, qmax = qmax8;
        const int end = l == 0 || l == c.n_layers - 1;
        if (config->weight_bits == 4 && !(config->keep_ends_8bit && end)) {
            qmin = -7;
            qmax = 7;
            for (int64_t ch = 0; ch < nscale; ++ch) {
                double r = 0.0;
                for (int64_t o = 0; o < L->O; ++o)
                    if (!per_channel || o == ch)
                        for (int64_t k = 0; k < L->Kg; ++k)
                            r = fmax(r, fabs((double)rows[o * L->Kg + k]));
                scales[ch] = r > 0.0 ? (float)(r / 7.0) : 1.0f;
            }
            for (int64_t o = 0; o < L->O; ++o) {
                const double sc = scales[per_channel ? o : 0];
                for (int64_t k = 0; k < L->Kg; ++k) {
                    const double x = (double)rows[o * L->Kg + k] / sc;
                    double r = x < 0 ? -floor(-x + 0.5) : floor(x + 0.5);
                    r = r < qmin ? qmin : r > qmax ? qmax : r;
                    codes[widx(L, o, k)] = (int8_t)r;
                }
            }
        }
        for (int64_t o = 0; o < L->O; ++o)
            rscales[o] = scales[per_channel ? o : 0];
        /* statistics from the partly quantized network. */
        const int bq = ext->bias_quantized && bf;
        if (asym || bq) {
            s = gather_quantized(q, graph, L, count, inputs, config, asym,
                                 rows, &qs);
            if (s != TQ_OK) {
                if (s == TQ_ERR_NO_MEMORY)
                    tq__graph_fail(q, s, "recover: no memory");
                else
                    fail(q, s, "statistics of the quantized network",
                         n->name);
                goto next;
            }
        }
        if (asym && qs.sampled > 0) {
            for (int64_t g = 0; g < L->G && s == TQ_OK; ++g)
                s = tq__adaround_rows((int32_t)L->Og, (int32_t)L->Kg,
                                      rows + g * L->Og * L->Kg,
                                      rscales + g * L->Og, 1,
                                      qs.A + g * L->Kg * L->Kg, qmin, qmax,
                                      config, n->name,
                                      qs.T + g * L->Og * L->Kg,
                                      qs.C + g * L->Og,
                                      rcodes + g * L->Og * L->Kg);
            if (s != TQ_OK) {
                fail(q, s, "AdaRound", n->name);
                goto next;
            }
            for (int64_t o = 0; o < L->O; ++o)
                for (int64_t k = 0; k < L->Kg; ++k)
                    codes[widx(L, o, k)] = rcodes[o * L->Kg + k];
        } else if (!asym && config->adaround && L->sampled > 0) {
            /* Mirror the lower triangles and take the mean. */
            for (int64_t g = 0; g < L->G; ++g) {
                double *G = L->gram + g * L->Kg * L->Kg;
                for (int64_t i = 0; i < L->Kg; ++i)
                    for (int64_t j = 0; j <= i; ++j) {
                        G[i * L->Kg + j] /= (double)L->sampled;
                        G[j * L->Kg + i] = G[i * L->Kg + j];
                    }
            }
            for (int64_t g = 0; g < L->G && s == TQ_OK; ++g) {
                /* Rows of group g are contiguous: o in [g·Og, (g+1)·Og). */
                s = tq__adaround_rows((int32_t)L->Og, (int32_t)L->Kg,
                                      rows + g * L->Og * L->Kg,
                                      rscales + g * L->Og, 1,
                                      L->gram + g * L->Kg * L->Kg, qmin, qmax,
                                      config, n->name, NULL, NULL,
                                      rcodes + g * L->Og * L->Kg);
            }
            if (s != TQ_OK) {
                fail(q, s, "AdaRound", n->name);
                goto next;
            }
            for (int64_t o = 0; o < L->O; ++o)
                for (int64_t k = 0; k < L->Kg; ++k)
                    codes[widx(L, o, k)] = rcodes[o * L->Kg + k];
        } else if (config->progress) {
            (void)config->progress(config->progress_ctx, n->name, 0, 0, 0.0);
        }
        if (bias)
            memcpy(bias, bf, (size_t)L->O * sizeof *bias);
        int have_mean = 0;
        if (bq && qs.seen > 0) {
            /* E[W~ x_q] − E[W x_f]: the error of the whole network so far. */
            for (int64_t o = 0; o < L->O; ++o) {
                const double sc = rscales[o];
                const int64_t gg = group_of(L, o);
                const double *mq = qs.mq + gg * L->Kg, *mf = qs.mf + gg * L->Kg;
                double e = 0.0;
                for (int64_t k = 0; k < L->Kg; ++k) {
                    const size_t wi = widx(L, o, k);
                    e += sc * codes[wi] * mq[k] - (double)wf[wi] * mf[k];
                }
                bias[o] = (float)((double)bias[o] - e);
            }
        } else if (config->bias_correction == TQ_BIAS_CORRECTION_EMPIRICAL &&
                   L->seen > 0) {
            for (int64_t i = 0; i < L->G * L->Kg; ++i)
                mean[i] = L->mean[i] / (double)L->seen;
            have_mean = 1;
        } else if (config->bias_correction == TQ_BIAS_CORRECTION_ANALYTIC) {
            have_mean = analytic_mean(graph, L, mean);
            if (have_mean < 0) {
                s = tq__graph_fail(q, TQ_ERR_NO_MEMORY, "recover: no memory");
                goto next;
            }
        }
        if (bias && have_mean)
            for (int64_t o = 0; o < L->O; ++o) {
                const double sc = rscales[o];
                const double *m = mean + group_of(L, o) * L->Kg;
                double e = 0.0;
                for (int64_t k = 0; k < L->Kg; ++k) {
                    const size_t wi = widx(L, o, k);
                    e += (sc * codes[wi] - (double)wf[wi]) * m[k];
                }
                bias[o] = (float)((double)bias[o] - e);
            }
        s = install(q, L, codes, scales, nscale, bias ? bias : bf);
    next:
        qstats_free(&qs);
        free(codes), free(scales), free(rows), free(rcodes), free(rscales);
        free(bias), free(mean);
    }
    for (int32_t l = 0; l < c.n_layers; ++l)
        free(c.layers[l].mean), free(c.layers[l].gram);
    free(c.layers);
    free(c.patch);
    if (s == TQ_ERR_NO_MEMORY)
        tq__graph_fail(q, s, "recover: no memory");
    return s;
}
