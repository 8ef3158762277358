/*
 * Integer-only execution of a quantized graph (host only): every node
 * through the s8 kernels with the parameters tq_graph_quantize() computed,
 * on the caller's arena. No float and no allocation on this path.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "quant_internal.h"

int32_t tq_graph_is_quantized(const tq_graph *graph)
{
    return graph && graph->quantized ? 1 : 0;
}

tq_status tq__quant_scratch(const tq_graph *g, int32_t node, int64_t batch,
                            size_t *bytes)
{
    const tq__node *n = &g->nodes[node];
    const struct tq__qnode *qn = n->q;
    *bytes = 0;
    if (!qn)
        return TQ_OK;
    const tq_dims in = tq__graph_dims(g, n->inputs[0], batch);
    const tq_dims out = tq__graph_dims(g, n->output, batch);
    switch (qn->kind) {
    case TQ__Q_CONV:
        return tq_s8_conv2d_scratch_size(&qn->conv, &in, &qn->filter, &out,
                                         bytes);
    case TQ__Q_CONV_POOL:
        return tq_s8_conv2d_relu_maxpool2_scratch_size(&qn->conv, &in,
                                                       &qn->filter, &out,
                                                       bytes);
    default:
        return TQ_OK;
    }
}

/* Pad: the input into the middle, the borders at the zero point. */
static void pad_copy(const struct tq__qnode *qn, const tq_dims *in,
                     const int8_t *x, const tq_dims *out, int8_t *y)
{
    const size_t c = (size_t)in->c;
    const size_t row_in = (size_t)in->w * c, row_out = (size_t)out->w * c;
    memset(y, qn->pad_value, (size_t)out->n * (size_t)out->h * row_out);
    for (int32_t b = 0; b < in->n; ++b)
        for (int32_t r = 0; r < in->h; ++r)
            memcpy(y + (((size_t)b * (size_t)out->h +
                         (size_t)(r + qn->conv.pad_top)) * (size_t)out->w +
                        (size_t)qn->conv.pad_left) * c,
                   x + ((size_t)b * (size_t)in->h + (size_t)r) * row_in,
                   row_in);
}

/* Node @p i over @p batch samples; @p acc, if not NULL, receives the
 * accumulators (the output node of an FC, checked by the caller). */
static tq_status run_node(const tq_graph *g, int32_t i, int64_t batch,
                          uint8_t *base, void *scratch, size_t scratch_bytes,
                          int32_t *acc)
{
    const tq__node *n = &g->nodes[i];
    const struct tq__qnode *qn = n->q;
    const int8_t *x = tq__graph_tensor_at(g, base, n->inputs[0], batch);
    int8_t *y = tq__graph_tensor_at(g, base, n->output, batch);
    const tq_dims in = tq__graph_dims(g, n->inputs[0], batch);
    const tq_dims out = tq__graph_dims(g, n->output, batch);
    const size_t count = (size_t)out.n * (size_t)out.h * (size_t)out.w *
                         (size_t)out.c;
    switch (qn->kind) {
    case TQ__Q_CONV:
        return tq_s8_conv2d(&qn->conv, &in, x, qn->input_offset, &qn->filter,
                            qn->weights, qn->bias, &qn->os, &out, y, scratch,
                            scratch_bytes);
    case TQ__Q_DEPTHWISE:
        return tq_s8_depthwise_conv2d(&qn->conv, &in, x, qn->input_offset,
                                      &qn->filter, qn->weights, qn->bias,
                                      &qn->os, &out, y);
    case TQ__Q_FC:
        if (acc) {
            /* The int32 stage kept: raw GEMM with the bias, then the
             * output stage (bit-exact with the FC kernel). */
            TQ_CHECK(tq_s8_gemm_s32((int32_t)batch, qn->channels,
                                    qn->in_features, x, qn->in_features,
                                    qn->input_offset, qn->weights,
                                    qn->in_features, 0, qn->bias, acc,
                                    qn->channels));
            return tq_s8_requantize_rows((int32_t)batch, qn->channels, acc,
                                         qn->channels, &qn->os, y,
                                         qn->channels);
        }
        return tq_s8_fully_connected((int32_t)batch, qn->in_features,
                                     qn->channels, x, qn->input_offset,
                                     qn->weights, 0, qn->bias, &qn->os, y);
    case TQ__Q_CONV_POOL:
        return tq_s8_conv2d_relu_maxpool2(&qn->conv, &in, x, qn->input_offset,
                                          &qn->filter, qn->weights, qn->bias,
                                          &qn->os, &out, y, scratch,
                                          scratch_bytes);
    case TQ__Q_MAX_POOL:
        return tq_s8_max_pool(&qn->pool, &in, x, qn->act_min, qn->act_max,
                              &out, y);
    case TQ__Q_AVG_POOL:
        return tq_s8_avg_pool(&qn->pool, &in, x, qn->act_min, qn->act_max,
                              &out, y);
    case TQ__Q_ADD: {
        const int8_t *x1 = tq__graph_tensor_at(g, base, n->inputs[1], batch);
        return tq_s8_add(count, x, x1, &qn->add, y);
    }
    case TQ__Q_LOOKUP:
        return tq_s8_lookup(count, x, qn->tables, y);
    case TQ__Q_CONCAT: {
        const size_t pixels = count / (size_t)out.c;
        size_t at = 0;
        for (int32_t j = 0; j < n->n_inputs; ++j) {
            const int8_t *xj = tq__graph_tensor_at(g, base, n->inputs[j], batch);
            const tq_dims dj = tq__graph_dims(g, n->inputs[j], batch);
            const size_t cj = (size_t)dj.c;
            for (size_t p = 0; p < pixels; ++p)
                TQ_CHECK(tq_s8_lookup(cj, xj + p * cj, qn->tables + 256 * j,
                                      y + p * (size_t)out.c + at));
            at += cj;
        }
        return TQ_OK;
    }
    case TQ__Q_PAD:
        pad_copy(qn, &in, x, &out, y);
        return TQ_OK;
    default: /* TQ__Q_ALIAS */
        return TQ_OK;
    }
}

tq_status tq_graph_run_s8(const tq_graph *graph, int64_t batch,
                          const int8_t *input, int8_t *output,
                          int32_t *accumulators, void *arena,
                          size_t arena_bytes)
{
    if (!graph)
        return TQ_ERR_NULL;
    tq_graph *g = (tq_graph *)(uintptr_t)graph; /* the error buffer only */
    tq__graph_ok(g);
    if (!graph->quantized)
        return tq__graph_fail(g, TQ_ERR_PARAM, "run_s8: the graph is not "
                              "quantized (tq_graph_quantize); run a float "
                              "graph with tq_graph_run_f32");
    if (!input || !output)
        return tq__graph_fail(g, TQ_ERR_NULL, "run_s8: %s is NULL",
                              input ? "output" : "input");
    const int32_t last = graph->q->output_node;
    if (accumulators &&
        (last < 0 || graph->nodes[last].q->kind != TQ__Q_FC))
        return tq__graph_fail(g, TQ_ERR_UNSUPPORTED, "run_s8: accumulators "
                              "are kept for a fully connected output layer "
                              "only");
    uint8_t *base, *scratch;
    size_t scratch_bytes;
    TQ_CHECK(tq__graph_arena(graph, batch, arena, arena_bytes, &base, &scratch,
                             &scratch_bytes));
    const int32_t tin = graph->input, tout = graph->output;
    const size_t n_in = graph->tensors[tin].numel * (size_t)batch;
    const size_t n_out = graph->tensors[tout].numel * (size_t)batch;
    memcpy(tq__graph_tensor_at(graph, base, tin, batch), input, n_in);
    for (int32_t i = 0; i < graph->n_nodes; ++i) {
        const tq_status s =
            run_node(graph, i, batch, base, scratch, scratch_bytes,
                     i == last ? accumulators : NULL);
        if (s != TQ_OK)
            return tq__graph_fail(g, s, "run_s8: node %s (%s): %s",
                                  graph->nodes[i].name,
                                  tq__op_name(graph->nodes[i].op),
                                  tq_status_message(s));
    }
    memcpy(output, tq__graph_tensor_at(graph, base, tout, batch), n_out);
    return TQ_OK;
}

tq_status tq_graph_quantize_input(const tq_graph *graph, size_t count,
                                  const float *x, int8_t *q)
{
    if (!graph)
        return TQ_ERR_NULL;
    tq_graph *g = (tq_graph *)(uintptr_t)graph;
    tq__graph_ok(g);
    if (!graph->quantized)
        return tq__graph_fail(g, TQ_ERR_PARAM, "quantize_input: the graph "
                              "is not quantized");
    const tq__tensor *t = &graph->tensors[graph->input];
    const tq_status s =
        tq_s8_quantize_f32(count, x, t->scale[0], t->zero_point[0], q);
    if (s != TQ_OK)
        return tq__graph_fail(g, s, "quantize_input: %s",
                              tq_status_message(s));
    return TQ_OK;
}

tq_status tq_graph_dequantize_output(const tq_graph *graph, size_t count,
                                     const int8_t *q, float *x)
{
    if (!graph)
        return TQ_ERR_NULL;
    tq_graph *g = (tq_graph *)(uintptr_t)graph;
    tq__graph_ok(g);
    if (!graph->quantized)
        return tq__graph_fail(g, TQ_ERR_PARAM, "dequantize_output: the graph "
                              "is not quantized");
    const tq__tensor *t = &graph->tensors[graph->output];
    const tq_status s =
        tq_s8_dequantize_f32(count, q, t->scale[0], t->zero_point[0], x);
    if (s != TQ_OK)
        return tq__graph_fail(g, s, "dequantize_output: %s",
                              tq_status_message(s));
    return TQ_OK;
}
