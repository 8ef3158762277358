/*
 * Float execution of a finalized graph (host only, but allocation-free):
 * every node through the f32 kernels over the caller's arena, the whole
 * batch in one kernel call per node.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "graph_internal.h"
#include "profile.h"
#include "quant_internal.h" /* tq__graph_run_f32_observed() */

/* The clamp of a node's act attribute; NULL for none. */
static const tq_f32_act *node_act(const tq__node *n, tq_f32_act *buf)
{
    switch (n->attrs.act) {
    case TQ_ACT_RELU:
    case TQ_ACT_RELU6:
        tq_f32_act_from(n->attrs.act, buf);
        return buf;
    case TQ_ACT_CLIP:
        buf->min = n->attrs.act_min;
        buf->max = n->attrs.act_max;
        return buf;
    default:
        return NULL;
    }
}

static tq_dims weight_dims(const tq__tensor *w)
{
    const tq_dims d = {(int32_t)w->shape[0], (int32_t)w->shape[1],
                       (int32_t)w->shape[2], (int32_t)w->shape[3]};
    return d;
}

static tq_status run_node(const tq_graph *g, const tq__node *n, uint8_t *base,
                          int64_t batch, uint8_t *scratch,
                          size_t scratch_bytes)
{
    tq_f32_act act_buf;
    const tq_f32_act *act = node_act(n, &act_buf);
    const tq__tensor *xt = &g->tensors[n->inputs[0]];
    const tq__tensor *ot = &g->tensors[n->output];
    const float *x = tq__graph_tensor_at(g, base, n->inputs[0], batch);
    float *y = tq__graph_tensor_at(g, base, n->output, batch);
    const tq_dims in = tq__graph_dims(g, n->inputs[0], batch);
    const tq_dims out = tq__graph_dims(g, n->output, batch);
    const size_t xcount = xt->numel * (size_t)batch;
    const float *w = n->n_inputs > 1 ? g->tensors[n->inputs[1]].data : NULL;
    const float *bias = n->n_inputs > 2 ? g->tensors[n->inputs[2]].data : NULL;

    switch (n->op) {
    case TQ_OP_CONV2D: {
        const tq_dims fd = weight_dims(&g->tensors[n->inputs[1]]);
        return tq_f32_conv2d(&n->attrs.conv, &in, x, &fd, w, bias, act, &out,
                             y, scratch, scratch_bytes);
    }
    case TQ_OP_CONV2D_RELU_MAXPOOL2: {
        const tq_dims fd = weight_dims(&g->tensors[n->inputs[1]]);
        return tq_f32_conv2d_relu_maxpool2(&n->attrs.conv, &in, x, &fd, w,
                                           bias, act, &out, y, scratch,
                                           scratch_bytes);
    }
    case TQ_OP_DEPTHWISE_CONV2D: {
        const tq_dims fd = weight_dims(&g->tensors[n->inputs[1]]);
        return tq_f32_depthwise_conv2d(&n->attrs.conv, &in, x, &fd, w, bias,
                                       act, &out, y);
    }
    case TQ_OP_FULLY_CONNECTED:
        return tq_f32_fully_connected((int32_t)batch, (int32_t)xt->numel,
                                      (int32_t)ot->numel, x, w, bias, act, y);
    case TQ_OP_MAX_POOL:
        return tq_f32_max_pool(&n->attrs.pool, &in, x, NULL, &out, y);
    case TQ_OP_AVG_POOL: {
        const tq_pool_params *p = &n->attrs.pool;
        if (!n->attrs.count_include_pad ||
            (p->pad_top | p->pad_bottom | p->pad_left | p->pad_right) == 0)
            return tq_f32_avg_pool(p, &in, x, NULL, &out, y);
        /* Padding that counts: pad with zeros, then pool unpadded. */
        const tq_dims pd = {in.n, in.h + p->pad_top + p->pad_bottom,
                            in.w + p->pad_left + p->pad_right, in.c};
        const tq_pool_params inner = {p->kernel_h, p->kernel_w, p->stride_h,
                                      p->stride_w, 0, 0, 0, 0};
        const size_t mis = (size_t)((uintptr_t)scratch % sizeof(float));
        float *padded = (float *)(void *)(scratch + (mis ? sizeof(float) - mis : 0));
        TQ_CHECK(tq_f32_pad(&in, x, p->pad_top, p->pad_bottom, p->pad_left,
                            p->pad_right, 0.0f, &pd, padded));
        return tq_f32_avg_pool(&inner, &pd, padded, NULL, &out, y);
    }
    case TQ_OP_GLOBAL_AVG_POOL:
        return tq_f32_global_avg_pool(&in, x, y);
    case TQ_OP_ADD:
    case TQ_OP_MUL: {
        const tq__tensor *bt = &g->tensors[n->inputs[1]];
        const int add = n->op == TQ_OP_ADD;
        if (bt->kind != TQ__TENSOR_CONSTANT) {
            const float *b = tq__graph_tensor_at(g, base, n->inputs[1], batch);
            return add ? tq_f32_add(xcount, x, b, act, y)
                       : tq_f32_mul(xcount, x, b, act, y);
        }
        if (bt->numel == xt->numel && bt->numel != 1 &&
            bt->numel != (size_t)xt->shape[xt->ndim - 1]) {
            /* A constant of the full shape, the same for every sample. */
            for (int64_t s = 0; s < batch; ++s) {
                const size_t o = (size_t)s * xt->numel;
                TQ_CHECK(add ? tq_f32_add(xt->numel, x + o, bt->data, act, y + o)
                             : tq_f32_mul(xt->numel, x + o, bt->data, act, y + o));
            }
            return TQ_OK;
        }
        const int32_t c = (int32_t)xt->shape[xt->ndim - 1];
        const int32_t k = (int32_t)bt->numel;
        return tq_f32_channel_affine(xcount / (size_t)c, c, x,
                                     add ? NULL : bt->data, add ? 0 : k,
                                     add ? bt->data : NULL, add ? k : 0, act,
                                     y);
    }
    case TQ_OP_ACTIVATION:
        return tq_f32_clamp(xcount, x, act, y);
    case TQ_OP_LEAKY_RELU:
        return tq_f32_leaky_relu(xcount, x, n->attrs.alpha, y);
    case TQ_OP_BATCH_NORM: {
        const int32_t c = n->aff_count;
        return tq_f32_channel_affine(xcount / (size_t)c, c, x, n->aff_scale, c,
                                     n->aff_shift, c, NULL, y);
    }
    case TQ_OP_RESHAPE:
    case TQ_OP_IDENTITY:
        return TQ_OK; /* the output is an alias of the input */
    case TQ_OP_SOFTMAX: {
        const int32_t cols = (int32_t)xt->shape[xt->ndim - 1];
        return tq_f32_softmax((int32_t)(xcount / (size_t)cols), cols, x, y);
    }
    case TQ_OP_CONCAT: {
        const float *ins[64];
        int32_t widths[64];
        const size_t rows = xcount / (size_t)xt->shape[xt->ndim - 1];
        for (int32_t i = 0; i < n->n_inputs; ++i) {
            const tq__tensor *t = &g->tensors[n->inputs[i]];
            ins[i] = tq__graph_tensor_at(g, base, n->inputs[i], batch);
            widths[i] = (int32_t)t->shape[t->ndim - 1];
        }
        return tq_f32_concat(rows, n->n_inputs, ins, widths, y);
    }
    case TQ_OP_PAD: {
        const tq_conv_params *c = &n->attrs.conv;
        return tq_f32_pad(&in, x, c->pad_top, c->pad_bottom, c->pad_left,
                          c->pad_right, 0.0f, &out, y);
    }
    default:
        return TQ_ERR_UNSUPPORTED;
    }
}

tq_status tq_graph_run_f32(const tq_graph *graph, int64_t batch,
                           const float *input, float *output, void *arena,
                           size_t arena_bytes)
{
    return tq__graph_run_f32_hooked(graph, batch, input, output, arena,
                                    arena_bytes, NULL, NULL);
}

tq_status tq__graph_run_f32_hooked(const tq_graph *graph, int64_t batch,
                                   const float *input, float *output,
                                   void *arena, size_t arena_bytes,
                                   tq__graph_node_hook hook, void *ctx)
{
    uint8_t *base, *scratch;
    size_t scratch_bytes;
    if (!graph)
        return TQ_ERR_NULL;
    /* The error buffer only, and only on failure: a finalized graph may be
     * run by several threads at once, each with its own arena. */
    tq_graph *g = (tq_graph *)(uintptr_t)graph;
    if (!input || !output)
        return tq__graph_fail(g, TQ_ERR_NULL, "run_f32: input or output is NULL");
    if (!graph->finalized)
        return tq__graph_fail(g, TQ_ERR_PARAM,
                              "run_f32: the graph is not finalized "
                              "(tq_graph_finalize)");
    if (graph->quantized)
        return tq__graph_fail(g, TQ_ERR_DTYPE,
                              "run_f32: the graph is quantized "
                              "(tq_graph_run_s8)");
    TQ_CHECK(tq__graph_arena(graph, batch, arena, arena_bytes, &base, &scratch,
                             &scratch_bytes));
    const tq__tensor *it = &graph->tensors[graph->input];
    const tq__tensor *ot = &graph->tensors[graph->output];
    const size_t in_bytes = it->numel * (size_t)batch * sizeof(float);
    const size_t out_bytes = ot->numel * (size_t)batch * sizeof(float);
    if (tq__overlap(input, in_bytes, arena, arena_bytes) ||
        tq__overlap(output, out_bytes, arena, arena_bytes) ||
        tq__overlap(output, out_bytes, input, in_bytes))
        return tq__graph_fail(g, TQ_ERR_ALIAS,
                              "run_f32: the input, the output and the arena "
                              "must not overlap");
    memcpy(tq__graph_tensor_at(graph, base, graph->input, batch), input,
           in_bytes);
    if (hook)
        hook(ctx, -1);
    for (int32_t i = 0; i < graph->n_nodes; ++i) {
        const tq__node *n = &graph->nodes[i];
        const tq_status s =
            run_node(graph, n, base, batch, scratch, scratch_bytes);
        if (s != TQ_OK)
            return tq__graph_fail(g, s, "node '%s' (%s): %s", n->name,
                                  tq__op_name(n->op), tq_status_message(s));
        if (hook)
            hook(ctx, i);
    }
    memcpy(output, tq__graph_tensor_at(graph, base, graph->output, batch),
           out_bytes);
    return TQ_OK;
}

/* The calibrator's run (lib/graph/quant_internal.h): tq_graph_run_f32()
 * over the arena alone, showing every activation that has storage of its
 * own to @p observe as soon as it is computed. */
tq_status tq__graph_run_f32_observed(const tq_graph *graph, int64_t batch,
                                     const float *input, void *arena,
                                     size_t arena_bytes,
                                     tq__f32_observer observe, void *ctx)
{
    uint8_t *base, *scratch;
    size_t scratch_bytes;
    /* The error sentence only, and only on failure: several threads may
     * run one graph, each with its own arena. */
    tq_graph *g = (tq_graph *)(uintptr_t)graph;
    TQ_CHECK(tq__graph_arena(graph, batch, arena, arena_bytes, &base, &scratch,
                             &scratch_bytes));
    const tq__tensor *it = &graph->tensors[graph->input];
    const size_t in_count = it->numel * (size_t)batch;
    float *x = tq__graph_tensor_at(graph, base, graph->input, batch);
    memcpy(x, input, in_count * sizeof(float));
    observe(ctx, graph->input, x, in_count);
    for (int32_t i = 0; i < graph->n_nodes; ++i) {
        const tq__node *n = &graph->nodes[i];
        const tq_status s =
            run_node(graph, n, base, batch, scratch, scratch_bytes);
        if (s != TQ_OK)
            return tq__graph_fail(g, s, "node '%s' (%s): %s", n->name,
                                  tq__op_name(n->op), tq_status_message(s));
        const tq__tensor *o = &graph->tensors[n->output];
        if (o->alias < 0)
            observe(ctx, n->output,
                    tq__graph_tensor_at(graph, base, n->output, batch),
                    o->numel * (size_t)batch);
    }
    return TQ_OK;
}
