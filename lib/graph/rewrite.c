/*
 * The rewrites of tq_graph_finalize() (host only), then dead-node removal
 * and the execution order.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* Mark the nodes the output needs (live[i]); nodes whose output nobody
 * needs are dead. */
static void mark_live(const tq_graph *g, uint8_t *live)
{
    memset(live, 0, (size_t)g->n_nodes);
    const int32_t p = g->tensors[g->output].producer;
    if (p >= 0)
        live[p] = 1;
    /* Producers come before consumers in the node array (the builder only
     * takes defined inputs), so one backward sweep marks everything. */
    for (int32_t i = g->n_nodes - 1; i >= 0; --i) {
        if (!live[i])
            continue;
        const tq__node *n = &g->nodes[i];
        for (int32_t j = 0; j < n->n_inputs; ++j) {
            const int32_t q = g->tensors[n->inputs[j]].producer;
            if (q >= 0)
                live[q] = 1;
        }
    }
}

/* Keep the live nodes, in a topological order (the lowest-index ready node
 * first, so a built graph keeps its order), and renumber the producers. */
static tq_status compact_and_order(tq_graph *g)
{
    const int32_t n = g->n_nodes;
    uint8_t *live = malloc((size_t)n + 1);
    uint8_t *done = calloc((size_t)n + 1, 1);
    tq__node *nodes = malloc(((size_t)n + 1) * sizeof *nodes);
    if (!live || !done || !nodes) {
        free(live);
        free(done);
        free(nodes);
        return tq__graph_fail(g, TQ_ERR_NO_MEMORY, "finalize: out of memory");
    }
    mark_live(g, live);
    int32_t count = 0;
    for (int progress = 1; progress;) {
        progress = 0;
        for (int32_t i = 0; i < n; ++i) {
            if (!live[i] || done[i])
                continue;
            const tq__node *node = &g->nodes[i];
            int ready = 1;
            for (int32_t j = 0; j < node->n_inputs && ready; ++j) {
                const int32_t q = g->tensors[node->inputs[j]].producer;
                ready = q < 0 || done[q];
            }
            if (!ready)
                continue;
            done[i] = 1;
            nodes[count++] = *node;
            progress = 1;
            break; /* rescan from the lowest index */
        }
    }
    int32_t live_count = 0;
    for (int32_t i = 0; i < n; ++i)
        live_count += live[i];
    if (count != live_count) {
        free(live);
        free(done);
        free(nodes);
        return tq__graph_fail(g, TQ_ERR_PARAM,
                              "finalize: the nodes form a cycle");
    }
    /* Dead nodes go: free what they own. */
    for (int32_t i = 0; i < n; ++i)
        if (!live[i]) {
            tq__node *d = &g->nodes[i];
            free(d->name);
            free(d->inputs);
            free(d->bn_scale);
            free(d->bn_shift);
            free(d->aff_scale);
            free(d->aff_shift);
        }
    free(g->nodes);
    g->nodes = nodes;
    g->n_nodes = count;
    g->cap_nodes = n + 1;
    for (int32_t i = 0; i < g->n_tensors; ++i) {
        g->tensors[i].producer = -1;
        g->tensors[i].used = 0;
    }
    g->tensors[g->input].used = 1;
    g->tensors[g->output].used = 1;
    for (int32_t i = 0; i < count; ++i) {
        g->tensors[nodes[i].output].producer = i;
        g->tensors[nodes[i].output].used = 1;
        for (int32_t j = 0; j < nodes[i].n_inputs; ++j)
            g->tensors[nodes[i].inputs[j]].used = 1;
    }
    free(live);
    free(done);
    return TQ_OK;
}

/* ---- helpers ------------------------------------------------------------------ */

/* The node producing tensor t (an activation), or NULL. */
static tq__node *producer(tq_graph *g, int32_t t)
{
    const int32_t p = g->tensors[t].producer;
    return p >= 0 ? &g->nodes[p] : NULL;
}

/* Is t read by exactly one node and not the graph output? */
static int single_use(const tq_graph *g, int32_t t)
{
    return g->output != t && tq__graph_consumers(g, t) == 1;
}

/* Node p takes over q's output tensor: q, the only reader of p's output,
 * becomes dead (nothing reads its input any more, and the builder's order
 * keeps p before every reader of q's output). */
static void absorb(tq_graph *g, tq__node *p, tq__node *q)
{
    const int32_t pi = (int32_t)(p - g->nodes);
    g->tensors[p->output].producer = -1;
    p->output = q->output;
    g->tensors[q->output].producer = pi;
    q->n_inputs = 0; /* reads nothing: dead */
}

static int is_weighted(int32_t op)
{
    return op == TQ_OP_CONV2D || op == TQ_OP_DEPTHWISE_CONV2D ||
           op == TQ_OP_FULLY_CONNECTED;
}

/* The lower bound of the clamp a node applies to its output (-inf if
 * none): a max pool may take a zero pad of a non-negative input. */
static float output_floor(const tq__node *n)
{
    if (!n)
        return -INFINITY;
    if (n->op == TQ_OP_ACTIVATION || is_weighted(n->op) ||
        n->op == TQ_OP_ADD || n->op == TQ_OP_MUL ||
        n->op == TQ_OP_CONV2D_RELU_MAXPOOL2)
        switch (n->attrs.act) {
        case TQ_ACT_RELU:
        case TQ_ACT_RELU6:
            return 0.0f;
        case TQ_ACT_CLIP:
            return n->attrs.act_min;
        default:
            break;
        }
    return -INFINITY;
}

/* Scale each output channel of weighted node p by k[c] (kcount 1 or C) and
 * add m[c] (mcount 0, 1 or C) to its bias: new constants for the weight
 * and bias (the old ones may be shared). out channel c of a conv is its
 * weight's row c, of a depthwise conv its weight's last index c. */
static tq_status scale_weights(tq_graph *g, tq__node *p, const double *k,
                               const double *add)
{
    /* Copies: adding the new constants may move g->tensors. */
    const tq__tensor *wt = &g->tensors[p->inputs[1]];
    const int32_t wndim = wt->ndim;
    int64_t wshape[TQ_MAX_DIMS];
    memcpy(wshape, wt->shape, sizeof wshape);
    const int32_t c = (int32_t)g->tensors[p->output].shape[g->tensors[p->output].ndim - 1];
    const size_t n = wt->numel;
    float *w = malloc(n * sizeof(float));
    float *b = malloc((size_t)c * sizeof(float));
    int32_t *ins = malloc(3 * sizeof(int32_t));
    if (!w || !b || !ins) {
        free(w);
        free(b);
        free(ins);
        return tq__graph_fail(g, TQ_ERR_NO_MEMORY, "finalize: out of memory");
    }
    const float *w0 = wt->data;
    const float *b0 = p->n_inputs > 2 ? g->tensors[p->inputs[2]].data : NULL;
    const int last = p->op == TQ_OP_DEPTHWISE_CONV2D;
    const size_t per = n / (size_t)c;
    for (size_t i = 0; i < n; ++i) {
        const size_t ch = last ? i % (size_t)c : i / per;
        w[i] = (float)((double)w0[i] * k[ch]);
    }
    for (int32_t ch = 0; ch < c; ++ch)
        b[ch] = (float)((b0 ? (double)b0[ch] : 0.0) * k[ch] + add[ch]);
    char name[64];
    int32_t wid, bid;
    const int64_t bshape[1] = {c};
    snprintf(name, sizeof name, "%.40s.folded_weight", p->name);
    tq_status s = tq__graph_new_constant_f32(g, name, wndim, wshape, w,
                                             &wid);
    if (s == TQ_OK) {
        snprintf(name, sizeof name, "%.40s.folded_bias", p->name);
        s = tq__graph_new_constant_f32(g, name, 1, bshape, b, &bid);
    }
    free(w);
    free(b);
    if (s != TQ_OK) {
        free(ins);
        return tq__graph_fail(g, s, "finalize: out of memory");
    }
    ins[0] = p->inputs[0];
    ins[1] = wid;
    ins[2] = bid;
    free(p->inputs);
    p->inputs = ins;
    p->n_inputs = 3;
    return TQ_OK;
}

/* ---- the rewrites -------------------------------------------------------------- */

static void remove_identities(tq_graph *g)
{
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        tq__node *q = &g->nodes[i];
        if (q->op != TQ_OP_IDENTITY || q->n_inputs == 0)
            continue;
        const int32_t x = q->inputs[0];
        tq__node *p = producer(g, x);
        if (p && single_use(g, x)) {
            absorb(g, p, q);
            continue;
        }
        if (g->output == q->output)
            continue; /* an alias: costs nothing */
        for (int32_t j = 0; j < g->n_nodes; ++j)
            for (int32_t k = 0; k < g->nodes[j].n_inputs; ++k)
                if (g->nodes[j].inputs[k] == q->output)
                    g->nodes[j].inputs[k] = x;
        q->n_inputs = 0;
    }
}

/* BatchNorm, and Mul / Add by a per-channel or scalar constant, into the
 * conv or fully connected layer before it. */
static tq_status fold_batch_norm(tq_graph *g)
{
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        tq__node *q = &g->nodes[i];
        if (q->n_inputs == 0 || (q->op != TQ_OP_BATCH_NORM &&
                                 q->op != TQ_OP_MUL && q->op != TQ_OP_ADD))
            continue;
        const int32_t x = q->inputs[0];
        tq__node *p = producer(g, x);
        if (!p || !is_weighted(p->op) || p->attrs.act != TQ_ACT_NONE ||
            !single_use(g, x))
            continue;
        const tq__tensor *xt = &g->tensors[x];
        const int32_t c = (int32_t)xt->shape[xt->ndim - 1];
        if (q->op != TQ_OP_BATCH_NORM) {
            const tq__tensor *k = &g->tensors[q->inputs[1]];
            if (k->kind != TQ__TENSOR_CONSTANT ||
                (k->numel != 1 && k->numel != (size_t)c))
                continue;
        }
        double *mul = malloc(2 * (size_t)c * sizeof(double));
        float *bs = malloc((size_t)c * sizeof(float));
        float *bh = malloc((size_t)c * sizeof(float));
        if (!mul || !bs || !bh) {
            free(mul);
            free(bs);
            free(bh);
            return tq__graph_fail(g, TQ_ERR_NO_MEMORY,
                                  "finalize: out of memory");
        }
        double *add = mul + c;
        /* The folded-BN record: an earlier fold's, or the identity. */
        for (int32_t ch = 0; ch < c; ++ch) {
            bs[ch] = p->bn_count ? p->bn_scale[ch] : 1.0f;
            bh[ch] = p->bn_count ? p->bn_shift[ch] : 0.0f;
        }
        if (q->op == TQ_OP_BATCH_NORM) {
            const float *gamma = g->tensors[q->inputs[1]].data;
            const float *beta = g->tensors[q->inputs[2]].data;
            const float *mean = g->tensors[q->inputs[3]].data;
            const float *var = g->tensors[q->inputs[4]].data;
            for (int32_t ch = 0; ch < c; ++ch) {
                const double s = (double)gamma[ch] /
                                 sqrt((double)var[ch] + (double)q->attrs.epsilon);
                mul[ch] = s;
                add[ch] = (double)beta[ch] - (double)mean[ch] * s;
                /* A BN over an already folded BN: the record composes. */
                bs[ch] = p->bn_count ? (float)((double)bs[ch] * s) : (float)s;
                bh[ch] = p->bn_count ? (float)((double)bh[ch] * s + add[ch])
                                     : beta[ch];
            }
        } else {
            const tq__tensor *k = &g->tensors[q->inputs[1]];
            const float *kv = k->data;
            for (int32_t ch = 0; ch < c; ++ch) {
                const double v = kv[k->numel == 1 ? 0 : ch];
                mul[ch] = q->op == TQ_OP_MUL ? v : 1.0;
                add[ch] = q->op == TQ_OP_MUL ? 0.0 : v;
                bs[ch] = (float)((double)bs[ch] * mul[ch]);
                bh[ch] = (float)((double)bh[ch] * mul[ch] + add[ch]);
            }
        }
        const tq_status s = scale_weights(g, p, mul, add);
        free(mul);
        if (s != TQ_OK) {
            free(bs);
            free(bh);
            return s;
        }
        /* Only a BN starts a record; a Mul / Add updates an existing one. */
        if (q->op == TQ_OP_BATCH_NORM || p->bn_count) {
            free(p->bn_scale);
            free(p->bn_shift);
            p->bn_scale = bs;
            p->bn_shift = bh;
            p->bn_count = c;
        } else {
            free(bs);
            free(bh);
        }
        if (q->op != TQ_OP_BATCH_NORM) {
            /* The Mul / Add's own clamp moves onto p. */
            p->attrs.act = q->attrs.act;
            p->attrs.act_min = q->attrs.act_min;
            p->attrs.act_max = q->attrs.act_max;
        }
        absorb(g, p, q);
    }
    return TQ_OK;
}

static void fuse_activations(tq_graph *g)
{
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        tq__node *q = &g->nodes[i];
        if (q->op != TQ_OP_ACTIVATION || q->n_inputs == 0)
            continue;
        const int32_t x = q->inputs[0];
        tq__node *p = producer(g, x);
        if (!p || !(is_weighted(p->op) || p->op == TQ_OP_ADD) ||
            p->attrs.act != TQ_ACT_NONE || !single_use(g, x))
            continue;
        p->attrs.act = q->attrs.act;
        p->attrs.act_min = q->attrs.act_min;
        p->attrs.act_max = q->attrs.act_max;
        absorb(g, p, q);
    }
}

static void fold_pads(tq_graph *g)
{
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        tq__node *d = &g->nodes[i];
        if (d->op != TQ_OP_PAD || d->n_inputs == 0 || !single_use(g, d->output))
            continue;
        tq__node *q = NULL;
        for (int32_t j = i + 1; j < g->n_nodes && !q; ++j)
            if (g->nodes[j].n_inputs > 0 && g->nodes[j].inputs[0] == d->output)
                q = &g->nodes[j];
        if (!q)
            continue;
        const tq_conv_params *pd = &d->attrs.conv;
        if (q->op == TQ_OP_CONV2D || q->op == TQ_OP_DEPTHWISE_CONV2D ||
            q->op == TQ_OP_CONV2D_RELU_MAXPOOL2) {
            tq_conv_params *c = &q->attrs.conv;
            if ((int64_t)c->pad_top + pd->pad_top > INT32_MAX ||
                (int64_t)c->pad_bottom + pd->pad_bottom > INT32_MAX ||
                (int64_t)c->pad_left + pd->pad_left > INT32_MAX ||
                (int64_t)c->pad_right + pd->pad_right > INT32_MAX)
                continue;
            c->pad_top += pd->pad_top;
            c->pad_bottom += pd->pad_bottom;
            c->pad_left += pd->pad_left;
            c->pad_right += pd->pad_right;
        } else if (q->op == TQ_OP_MAX_POOL || q->op == TQ_OP_AVG_POOL) {
            tq_pool_params *p = &q->attrs.pool;
            const int64_t t = (int64_t)p->pad_top + pd->pad_top;
            const int64_t b = (int64_t)p->pad_bottom + pd->pad_bottom;
            const int64_t l = (int64_t)p->pad_left + pd->pad_left;
            const int64_t r = (int64_t)p->pad_right + pd->pad_right;
            if (t >= p->kernel_h || b >= p->kernel_h || l >= p->kernel_w ||
                r >= p->kernel_w)
                continue; /* the kernels need a real tap in each window */
            if (q->op == TQ_OP_MAX_POOL) {
                /* Ignored taps equal zero taps only over values >= 0. */
                if (!(output_floor(producer(g, d->inputs[0])) >= 0.0f))
                    continue;
            } else {
                /* Zeros that count: exact only if the pool's own padding
                 * counted too (or it had none). */
                const int own = (p->pad_top | p->pad_bottom | p->pad_left |
                                 p->pad_right) != 0;
                if (own && !q->attrs.count_include_pad)
                    continue;
                q->attrs.count_include_pad = 1;
            }
            p->pad_top = (int32_t)t;
            p->pad_bottom = (int32_t)b;
            p->pad_left = (int32_t)l;
            p->pad_right = (int32_t)r;
        } else {
            continue;
        }
        q->inputs[0] = d->inputs[0];
        d->n_inputs = 0;
    }
}

static void fuse_pools(tq_graph *g)
{
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        tq__node *m = &g->nodes[i];
        const tq_pool_params *p = &m->attrs.pool;
        if (m->op != TQ_OP_MAX_POOL || m->n_inputs == 0 || p->kernel_h != 2 ||
            p->kernel_w != 2 || p->stride_h != 2 || p->stride_w != 2 ||
            (p->pad_top | p->pad_bottom | p->pad_left | p->pad_right) != 0)
            continue;
        const int32_t x = m->inputs[0];
        tq__node *a = producer(g, x), *c = a;
        if (!a || !single_use(g, x))
            continue;
        if (a->op == TQ_OP_ACTIVATION) {
            /* conv -> activation -> pool without the activation rewrite. */
            c = producer(g, a->inputs[0]);
            if (!c || c->op != TQ_OP_CONV2D || c->attrs.act != TQ_ACT_NONE ||
                !single_use(g, a->inputs[0]) || c->attrs.conv.groups != 1)
                continue;
            c->attrs.act = a->attrs.act;
            c->attrs.act_min = a->attrs.act_min;
            c->attrs.act_max = a->attrs.act_max;
            absorb(g, c, a);
        } else if (c->op != TQ_OP_CONV2D || c->attrs.act == TQ_ACT_NONE ||
                   c->attrs.conv.groups != 1) {
            continue;
        }
        c->op = TQ_OP_CONV2D_RELU_MAXPOOL2;
        absorb(g, c, m);
    }
}

tq_status tq__graph_rewrite(tq_graph *g, uint32_t rewrites)
{
    if (rewrites & TQ_REWRITE_REMOVE_IDENTITY)
        remove_identities(g);
    if (rewrites & TQ_REWRITE_FOLD_BATCH_NORM)
        TQ_CHECK(fold_batch_norm(g));
    if (rewrites & TQ_REWRITE_FUSE_ACTIVATION)
        fuse_activations(g);
    if (rewrites & TQ_REWRITE_FOLD_PAD)
        fold_pads(g);
    if (rewrites & TQ_REWRITE_FUSE_POOL)
        fuse_pools(g);
    TQ_CHECK(compact_and_order(g));
    /* Each rewrite keeps every output shape; check that it did. */
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        const tq__node *n = &g->nodes[i];
        const tq__tensor *o = &g->tensors[n->output];
        int32_t ndim;
        int64_t shape[TQ_MAX_DIMS] = {0};
        TQ_CHECK(tq__graph_infer(g, n->name, n->op, n->n_inputs, n->inputs,
                                 &n->attrs, &ndim, shape));
        int same = ndim == o->ndim;
        for (int32_t d = 0; same && d < ndim; ++d)
            same = shape[d] == o->shape[d];
        if (!same)
            return tq__graph_fail(g, TQ_ERR_SHAPE,
                                  "node '%s' (%s): a rewrite changed its "
                                  "output shape (a tinyq bug)",
                                  n->name, tq__op_name(n->op));
    }
    return TQ_OK;
}
