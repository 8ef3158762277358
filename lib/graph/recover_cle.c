/*
 * Cross-layer equalization of a finalized float graph (host only), after
 * Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization
 * and Bias Correction", section 4.1 (and 4.2, high-bias absorption).
 *
 * A pair is a weighted node n1 (conv, grouped conv, depthwise, FC, fused
 * conv + ReLU + max pool) whose output reaches exactly one weighted node n2
 * through nothing but positively homogeneous steps: n1's fused ReLU (or
 * none), max / average / global average pools, zero Pad, Reshape /
 * Flatten, Identity and a standalone ReLU. Every tensor on the way has one
 * consumer and is not the graph output. For a positive s_j,
 * f(x / s_j) = f(x) / s_j for all of those, so dividing n1's output
 * channel j (weights, bias, folded-BN shift and scale) by s_j and
 * multiplying every weight of n2 that reads channel j by s_j leaves the
 * graph's function unchanged (up to float rounding). s_j = sqrt(r1_j /
 * r2_j) with r the channel's largest absolute weight makes both ranges
 * sqrt(r1_j · r2_j); sweeping over all pairs repeatedly balances chains.
 *
 * ReLU6 / Clip are not homogeneous (the clip point would have to become
 * 6 / s_j, per channel, which no kernel has): such pairs are skipped, or,
 * with TQ_EQUALIZE_RELU6_REPLACE, the ReLU6 is replaced by a ReLU first
 * (AIMET's choice; this changes the float function where activations
 * exceed 6). TQ_EQUALIZE_RELU6_AWARE keeps the ReLU6 and limits each
 * channel's total scale S_j (the channel is divided by S_j, so the kept
 * clip acts at 6·S_j in the original units) with n1's folded-BatchNorm
 * statistics: u_j = beta_j + k·|gamma_j| (k = absorb_sigmas) is taken as
 * the channel's largest pre-activation; a channel with u_j <= 6 may take
 * any S_j >= u_j / 6 (scaled up at most until u_j reaches the clip;
 * scaled down, the clip moves above 6, which matters only where y > 6),
 * a channel with u_j > 6 or without statistics keeps S_j = 1.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

tq_status tq_equalize_config_init(tq_equalize_config *config)
{
    if (!config)
        return TQ_ERR_NULL;
    memset(config, 0, sizeof *config);
    config->iterations = 20;
    config->relu6 = TQ_EQUALIZE_RELU6_SKIP;
    config->absorb_bias = 0;
    config->absorb_sigmas = 3.0f;
    return TQ_OK;
}

static int is_weighted(int32_t op)
{
    return op == TQ_OP_CONV2D || op == TQ_OP_DEPTHWISE_CONV2D ||
           op == TQ_OP_FULLY_CONNECTED || op == TQ_OP_CONV2D_RELU_MAXPOOL2;
}

/* The only node reading tensor t (-1 if none or several). */
static int32_t sole_consumer(const tq_graph *g, int32_t t)
{
    if (tq__graph_consumers(g, t) != 1)
        return -1;
    for (int32_t i = 0; i < g->n_nodes; ++i)
        for (int32_t j = 0; j < g->nodes[i].n_inputs; ++j)
            if (g->nodes[i].inputs[j] == t)
                return j == 0 ? i : -1;
    return -1;
}

/* An f32 constant input used by this node alone (else NULL). */
static float *own_f32(const tq_graph *g, const tq__node *n, int32_t slot)
{
    if (slot >= n->n_inputs)
        return NULL;
    const int32_t id = n->inputs[slot];
    const tq__tensor *t = &g->tensors[id];
    if (t->kind != TQ__TENSOR_CONSTANT || t->dtype != TQ_F32 ||
        tq__graph_consumers(g, id) != 1)
        return NULL;
    return t->data;
}

/* Output channels of a weighted node. */
static int64_t out_channels(const tq_graph *g, const tq__node *n)
{
    const tq__tensor *w = &g->tensors[n->inputs[1]];
    return n->op == TQ_OP_DEPTHWISE_CONV2D ? w->shape[3] : w->shape[0];
}

/* Elements of n1's output channel j: index list generator. */
typedef struct pair {
    int32_t n1, n2;
    int64_t c1;        /* channels between them */
    int direct;        /* no pool / pad between (for absorption) */
    int relu6;         /* a ReLU6 on the way (kept in RELU6_AWARE mode) */
} pair;

/* Visit every weight of n1 writing channel j (mode 0), or of n2 reading
 * channel j (mode 1): multiply by f (f != 0), and return the largest
 * absolute value seen (before multiplying). */
static double visit(tq_graph *g, const pair *p, int mode, int64_t j, float f)
{
    const tq__node *n = &g->nodes[mode ? p->n2 : p->n1];
    const tq__tensor *wt = &g->tensors[n->inputs[1]];
    float *w = wt->data;
    double r = 0.0;
#define TQ__VISIT(idx)                                   \
    do {                                                 \
        float *e = &w[(idx)];                            \
        if (fabs((double)*e) > r)                        \
            r = fabs((double)*e);                        \
        if (f != 1.0f)                                   \
            *e *= f;                                     \
    } while (0)
    if (mode == 0) {
        if (n->op == TQ_OP_DEPTHWISE_CONV2D) {
            const int64_t taps = wt->shape[1] * wt->shape[2], C = wt->shape[3];
            for (int64_t t = 0; t < taps; ++t)
                TQ__VISIT(t * C + j);
        } else {
            const int64_t row = (int64_t)wt->numel / wt->shape[0];
            for (int64_t k = 0; k < row; ++k)
                TQ__VISIT(j * row + k);
        }
    } else if (n->op == TQ_OP_DEPTHWISE_CONV2D) {
        const int64_t taps = wt->shape[1] * wt->shape[2], C = wt->shape[3];
        const int64_t M = n->attrs.depth_multiplier;
        for (int64_t t = 0; t < taps; ++t)
            for (int64_t m = 0; m < M; ++m)
                TQ__VISIT(t * C + j * M + m);
    } else if (n->op == TQ_OP_FULLY_CONNECTED) {
        const int64_t O = wt->shape[0], I = wt->shape[1];
        for (int64_t o = 0; o < O; ++o)
            for (int64_t f2 = j; f2 < I; f2 += p->c1)
                TQ__VISIT(o * I + f2);
    } else {
        const int64_t O = wt->shape[0], taps = wt->shape[1] * wt->shape[2];
        const int64_t Ig = wt->shape[3], groups = n->attrs.conv.groups;
        const int64_t Og = O / groups, grp = j / Ig, ig = j % Ig;
        for (int64_t o = grp * Og; o < (grp + 1) * Og; ++o)
            for (int64_t t = 0; t < taps; ++t)
                TQ__VISIT((o * taps + t) * Ig + ig);
    }
#undef TQ__VISIT
    return r;
}

/* Is op a step through which positive per-channel scaling passes? */
static int homogeneous(const tq__node *n, int32_t relu6)
{
    switch (n->op) {
    case TQ_OP_MAX_POOL:
    case TQ_OP_AVG_POOL:
    case TQ_OP_GLOBAL_AVG_POOL:
    case TQ_OP_PAD:
    case TQ_OP_RESHAPE:
    case TQ_OP_IDENTITY:
        return 1;
    case TQ_OP_ACTIVATION:
        return n->attrs.act == TQ_ACT_RELU ||
               (n->attrs.act == TQ_ACT_RELU6 &&
                relu6 != TQ_EQUALIZE_RELU6_SKIP);
    default:
        return 0;
    }
}

static int act_ok(int32_t act, int32_t relu6)
{
    return act == TQ_ACT_NONE || act == TQ_ACT_RELU ||
           (act == TQ_ACT_RELU6 && relu6 != TQ_EQUALIZE_RELU6_SKIP);
}

/* Find the pair starting at n1, if any. */
static int find_pair(const tq_graph *g, int32_t i, int32_t relu6, pair *p)
{
    const tq__node *n1 = &g->nodes[i];
    if (!is_weighted(n1->op) || !act_ok(n1->attrs.act, relu6) ||
        !own_f32(g, n1, 1) || (n1->n_inputs > 2 && !own_f32(g, n1, 2)))
        return 0;
    int32_t t = n1->output;
    int direct = 1, r6 = n1->attrs.act == TQ_ACT_RELU6;
    for (;;) {
        if (t == g->output)
            return 0;
        const int32_t c = sole_consumer(g, t);
        if (c < 0)
            return 0;
        const tq__node *n = &g->nodes[c];
        if (is_weighted(n->op)) {
            if (!own_f32(g, n, 1))
                return 0;
            const int64_t C = out_channels(g, n1);
            const tq__tensor *w2 = &g->tensors[n->inputs[1]];
            const tq__tensor *x2 = &g->tensors[t];
            if (n->op == TQ_OP_FULLY_CONNECTED) {
                if (w2->shape[1] % C != 0)
                    return 0;
            } else if (x2->shape[x2->ndim - 1] != C) {
                return 0;
            }
            p->n1 = i;
            p->n2 = c;
            p->c1 = C;
            p->direct = direct;
            p->relu6 = r6;
            return 1;
        }
        if (!homogeneous(n, relu6))
            return 0;
        r6 |= n->op == TQ_OP_ACTIVATION && n->attrs.act == TQ_ACT_RELU6;
        if (n->op != TQ_OP_RESHAPE && n->op != TQ_OP_IDENTITY &&
            n->op != TQ_OP_ACTIVATION)
            direct = 0;
        /* A Reshape may not move channels except for a Flatten into an FC
         * (checked by the channel count above); keep only reshapes whose
         * last extent is C or that flatten. */
        t = n->output;
    }
}

/* Replace every ReLU6 on the pair's path by a ReLU. */
static void relu6_to_relu(tq_graph *g, const pair *p)
{
    tq__node *n1 = &g->nodes[p->n1];
    if (n1->attrs.act == TQ_ACT_RELU6)
        n1->attrs.act = TQ_ACT_RELU;
    int32_t t = n1->output;
    while (t != g->nodes[p->n2].inputs[0]) {
        const int32_t c = sole_consumer(g, t);
        if (g->nodes[c].op == TQ_OP_ACTIVATION &&
            g->nodes[c].attrs.act == TQ_ACT_RELU6)
            g->nodes[c].attrs.act = TQ_ACT_RELU;
        t = g->nodes[c].output;
    }
}

/* Divide n1's channel j by s (bias, BN data too), multiply n2's inputs. */
static void scale_channel(tq_graph *g, const pair *p, int64_t j, float s)
{
    tq__node *n1 = &g->nodes[p->n1];
    visit(g, p, 0, j, 1.0f / s);
    visit(g, p, 1, j, s);
    if (n1->n_inputs > 2)
        ((float *)g->tensors[n1->inputs[2]].data)[j] /= s;
    if (n1->bn_count > j) {
        n1->bn_scale[j] /= s;
        n1->bn_shift[j] /= s;
    }
}

/* High-bias absorption (Nagel 2019, 4.2) for a direct pair through a ReLU
 * with folded-BN statistics, into an unpadded conv / depthwise or an FC
 * with a bias: c_j = max(0, beta_j − k·|gamma_j|) leaves n1's output,
 * n2's bias gains W2 · c. Exact only while n1's pre-activation stays >= c_j
 * (which BN statistics make likely, not certain). Returns 1 if done. */
static int absorb(tq_graph *g, const pair *p, float k)
{
    tq__node *n1 = &g->nodes[p->n1];
    tq__node *n2 = &g->nodes[p->n2];
    if (!p->direct || n1->attrs.act != TQ_ACT_RELU ||
        n1->op == TQ_OP_CONV2D_RELU_MAXPOOL2 || n1->bn_count != p->c1 ||
        n1->n_inputs < 3 || n2->n_inputs < 3 || !own_f32(g, n2, 2) ||
        n2->attrs.act == TQ_ACT_CLIP)
        return 0;
    const tq_conv_params *cp = &n2->attrs.conv;
    if (n2->op != TQ_OP_FULLY_CONNECTED &&
        (cp->pad_top || cp->pad_bottom || cp->pad_left || cp->pad_right))
        return 0;
    float *b1 = g->tensors[n1->inputs[2]].data;
    float *b2 = g->tensors[n2->inputs[2]].data;
    const tq__tensor *wt = &g->tensors[n2->inputs[1]];
    const float *w = wt->data;
    for (int64_t j = 0; j < p->c1; ++j) {
        const double c = fmax(0.0, (double)n1->bn_shift[j] -
                                       (double)k * fabs((double)n1->bn_scale[j]));
        if (c <= 0.0)
            continue;
        b1[j] = (float)((double)b1[j] - c);
        n1->bn_shift[j] = (float)((double)n1->bn_shift[j] - c);
        if (n2->op == TQ_OP_DEPTHWISE_CONV2D) {
            const int64_t taps = wt->shape[1] * wt->shape[2], C = wt->shape[3];
            const int64_t M = n2->attrs.depth_multiplier;
            for (int64_t m = 0; m < M; ++m) {
                double acc = 0.0;
                for (int64_t t = 0; t < taps; ++t)
                    acc += (double)w[t * C + j * M + m];
                b2[j * M + m] = (float)((double)b2[j * M + m] + acc * c);
            }
        } else if (n2->op == TQ_OP_FULLY_CONNECTED) {
            const int64_t O = wt->shape[0], I = wt->shape[1];
            for (int64_t o = 0; o < O; ++o) {
                double acc = 0.0;
                for (int64_t f = j; f < I; f += p->c1)
                    acc += (double)w[o * I + f];
                b2[o] = (float)((double)b2[o] + acc * c);
            }
        } else {
            const int64_t O = wt->shape[0], taps = wt->shape[1] * wt->shape[2];
            const int64_t Ig = wt->shape[3], Og = O / n2->attrs.conv.groups;
            const int64_t grp = j / Ig, ig = j % Ig;
            for (int64_t o = grp * Og; o < (grp + 1) * Og; ++o) {
                double acc = 0.0;
                for (int64_t t = 0; t < taps; ++t)
                    acc += (double)w[(o * taps + t) * Ig + ig];
                b2[o] = (float)((double)b2[o] + acc * c);
            }
        }
    }
    return 1;
}

tq_status tq_graph_equalize(tq_graph *graph, const tq_equalize_config *config,
                            int32_t *pairs)
{
    if (!graph)
        return TQ_ERR_NULL;
    tq__graph_ok(graph);
    tq_equalize_config def;
    if (!config) {
        tq_equalize_config_init(&def);
        config = &def;
    }
    if (!graph->finalized || graph->quantized)
        return tq__graph_fail(graph, TQ_ERR_PARAM, "equalize: the graph must "
                              "be a finalized float graph");
    if (config->iterations < 0 || config->iterations > 100000 ||
        (config->relu6 != TQ_EQUALIZE_RELU6_SKIP &&
         config->relu6 != TQ_EQUALIZE_RELU6_REPLACE &&
         config->relu6 != TQ_EQUALIZE_RELU6_AWARE) ||
        !(config->absorb_sigmas >= 0.0f) || !isfinite(config->absorb_sigmas))
        return tq__graph_fail(graph, TQ_ERR_PARAM, "equalize: bad "
                              "configuration (iterations 0..100000, relu6 "
                              "skip, replace or aware, absorb_sigmas >= 0)");
    pair *list = malloc(((size_t)graph->n_nodes + 1) * sizeof *list);
    if (!list)
        return tq__graph_fail(graph, TQ_ERR_NO_MEMORY, "equalize: no memory");
    int32_t np = 0;
    for (int32_t i = 0; i < graph->n_nodes; ++i)
        if (find_pair(graph, i, config->relu6, &list[np]))
            ++np;
    const int aware = config->relu6 == TQ_EQUALIZE_RELU6_AWARE;
    /* RELU6_AWARE: per pair channel, the lowest total scale allowed (0:
     * the channel keeps scale 1) and the total scale so far. */
    size_t nch = 0;
    for (int32_t k = 0; k < np && aware; ++k)
        nch += (size_t)list[k].c1;
    double *lo = aware ? malloc((nch + 1) * sizeof *lo) : NULL;
    double *tot = aware ? malloc((nch + 1) * sizeof *tot) : NULL;
    if (aware && (!lo || !tot)) {
        free(list), free(lo), free(tot);
        return tq__graph_fail(graph, TQ_ERR_NO_MEMORY, "equalize: no memory");
    }
    for (int32_t k = 0, at = 0; k < np && aware; at += (int32_t)list[k].c1, ++k) {
        const tq__node *n1 = &graph->nodes[list[k].n1];
        for (int64_t j = 0; j < list[k].c1; ++j) {
            tot[at + j] = 1.0;
            lo[at + j] = -1.0; /* no ReLU6: free */
            if (!list[k].relu6)
                continue;
            lo[at + j] = 0.0;
            if (n1->bn_count == list[k].c1) {
                const double u = (double)n1->bn_shift[j] +
                                 (double)config->absorb_sigmas *
                                     fabs((double)n1->bn_scale[j]);
                if (u <= 6.0)
                    lo[at + j] = fmax(u, 1e-3) / 6.0;
            }
        }
    }
    if (!aware)
        for (int32_t k = 0; k < np; ++k)
            relu6_to_relu(graph, &list[k]);
    for (int32_t it = 0; it < config->iterations; ++it) {
        double change = 0.0;
        size_t at = 0;
        for (int32_t k = 0; k < np; at += (size_t)list[k].c1, ++k) {
            for (int64_t j = 0; j < list[k].c1; ++j) {
                const double r1 = visit(graph, &list[k], 0, j, 1.0f);
                const double r2 = visit(graph, &list[k], 1, j, 1.0f);
                if (!(r1 > 0.0) || !(r2 > 0.0))
                    continue;
                float s = (float)sqrt(r1 / r2);
                if (aware && lo[at + j] >= 0.0) {
                    if (lo[at + j] == 0.0)
                        continue; /* the clip would move: keep scale 1 */
                    const double want = tot[at + j] * (double)s;
                    const double got = fmax(want, lo[at + j]);
                    s = (float)(got / tot[at + j]);
                    if (s == 1.0f || !isfinite(s) || !(s > 0.0f))
                        continue;
                    tot[at + j] *= (double)s;
                }
                if (s == 1.0f || !isfinite(s) || !(s > 0.0f))
                    continue;
                change = fmax(change, fabs(log((double)s)));
                scale_channel(graph, &list[k], j, s);
            }
        }
        if (change < 1e-6)
            break;
    }
    if (config->absorb_bias)
        for (int32_t k = 0; k < np; ++k)
            absorb(graph, &list[k], config->absorb_sigmas);
    free(list), free(lo), free(tot);
    if (pairs)
        *pairs = np;
    return TQ_OK;
}
