/*
 * Integer-only execution of a quantized graph (host only): every node
 * through the s8 kernels with the parameters tq_graph_quantize() computed,
 * on the caller's arena. No float and no allocation on this path.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "quant_internal.h"

/* Pixels per block of the accumulator-keeping convolution. */
#define ACC_BLOCK 32

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
    case TQ__Q_CONV: {
        TQ_CHECK(tq_s8_conv2d_scratch_size(&qn->conv, &in, &qn->filter, &out,
                                           bytes));
        /* The output layer may be asked for its accumulators: im2col rows
         * of a block of pixels. */
        const size_t cols = (size_t)ACC_BLOCK * (size_t)qn->filter.h *
                            (size_t)qn->filter.w * (size_t)qn->filter.c;
        if (node == g->q->output_node && cols > *bytes)
            *bytes = cols;
        return TQ_OK;
    }
    case TQ__Q_AVG_POOL: {
        if (!qn->padded_pool)
            return TQ_OK;
        const tq_pool_params *p = &qn->pool;
        const size_t h = (size_t)in.h + (size_t)p->pad_top + (size_t)p->pad_bottom;
        const size_t w = (size_t)in.w + (size_t)p->pad_left + (size_t)p->pad_right;
        if (tq__mul_size((size_t)batch, h * w * (size_t)in.c, bytes))
            return TQ_ERR_OVERFLOW;
        return TQ_OK;
    }
    case TQ__Q_CONV_POOL:
        return tq_s8_conv2d_relu_maxpool2_scratch_size(&qn->conv, &in,
                                                       &qn->filter, &out,
                                                       bytes);
    default:
        return TQ_OK;
    }
}

tq_status tq__qnode_pack_conv(struct tq__qnode *qn)
{
    size_t bytes;
    void *packed;
    TQ_CHECK(tq_s8_conv2d_packed_size(&qn->filter, qn->conv.groups, &bytes));
    if (!(packed = malloc(bytes)))
        return TQ_ERR_NO_MEMORY;
    const tq_status s = tq_s8_conv2d_pack(&qn->filter, qn->conv.groups,
                                          qn->weights, packed, bytes);
    if (s != TQ_OK) {
        free(packed);
        return s;
    }
    qn->packed = packed;
    qn->packed_bytes = bytes;
    return TQ_OK;
}

/* Pad: the input into the middle, the borders at @p value (the zero
 * point: real 0). */
static void pad_copy(int32_t top, int32_t left, int8_t value,
                     const tq_dims *in, const int8_t *x, const tq_dims *out,
                     int8_t *y)
{
    const size_t c = (size_t)in->c;
    const size_t row_in = (size_t)in->w * c, row_out = (size_t)out->w * c;
    memset(y, value, (size_t)out->n * (size_t)out->h * row_out);
    for (int32_t b = 0; b < in->n; ++b)
        for (int32_t r = 0; r < in->h; ++r)
            memcpy(y + (((size_t)b * (size_t)out->h + (size_t)(r + top)) *
                            (size_t)out->w +
                        (size_t)left) * c,
                   x + ((size_t)b * (size_t)in->h + (size_t)r) * row_in,
                   row_in);
}

/* A convolution that keeps its int32 stage: im2col rows of up to
 * ACC_BLOCK pixels (padded taps at the input zero point, which the offset
 * cancels), tq_s8_gemm_s32() per group into @p acc, then the output stage
 * over all of it (bit for bit tq_s8_conv2d()). */
static tq_status conv_accumulators(const struct tq__qnode *qn,
                                   const tq_dims *in, const int8_t *x,
                                   const tq_dims *out, int8_t *y,
                                   int32_t *acc, int8_t *col,
                                   size_t col_bytes)
{
    const tq_conv_params *cv = &qn->conv;
    const int32_t groups = cv->groups, cin_g = qn->filter.c;
    const int32_t cout = out->c, cout_g = cout / groups;
    const int32_t k = qn->filter.h * qn->filter.w * cin_g;
    const size_t pixels = (size_t)out->n * (size_t)out->h * (size_t)out->w;
    const int8_t pad = (int8_t)(-qn->input_offset);
    if (col_bytes < (size_t)ACC_BLOCK * (size_t)k)
        return TQ_ERR_BUFFER_TOO_SMALL;
    for (size_t p0 = 0; p0 < pixels; p0 += ACC_BLOCK) {
        const size_t np = pixels - p0 < ACC_BLOCK ? pixels - p0 : ACC_BLOCK;
        for (int32_t gi = 0; gi < groups; ++gi) {
            for (size_t i = 0; i < np; ++i) {
                int32_t b, oy, ox;
                tq__pixel_coords(p0 + i, out->h, out->w, &b, &oy, &ox);
                int8_t *row = col + i * (size_t)k;
                for (int32_t ky = 0; ky < qn->filter.h; ++ky)
                    for (int32_t kx = 0; kx < qn->filter.w; ++kx) {
                        const int64_t iy = (int64_t)oy * cv->stride_h +
                                           (int64_t)ky * cv->dilation_h -
                                           cv->pad_top;
                        const int64_t ix = (int64_t)ox * cv->stride_w +
                                           (int64_t)kx * cv->dilation_w -
                                           cv->pad_left;
                        int8_t *dst = row + ((size_t)ky * (size_t)qn->filter.w +
                                             (size_t)kx) * (size_t)cin_g;
                        if (iy < 0 || ix < 0 || iy >= in->h || ix >= in->w)
                            memset(dst, pad, (size_t)cin_g);
                        else
                            memcpy(dst,
                                   x + (((size_t)b * (size_t)in->h +
                                         (size_t)iy) * (size_t)in->w +
                                        (size_t)ix) * (size_t)in->c +
                                       (size_t)gi * (size_t)cin_g,
                                   (size_t)cin_g);
                    }
            }
            TQ_CHECK(tq_s8_gemm_s32(
                (int32_t)np, cout_g, k, col, k, qn->input_offset,
                qn->weights + (size_t)gi * (size_t)cout_g * (size_t)k, k, 0,
                qn->bias ? qn->bias + (size_t)gi * (size_t)cout_g : NULL,
                acc + p0 * (size_t)cout + (size_t)gi * (size_t)cout_g, cout));
        }
    }
    return tq_s8_requantize_rows((int32_t)pixels, cout, acc, cout, &qn->os, y,
                                 cout);
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
        if (acc)
            return conv_accumulators(qn, &in, x, &out, y, acc, scratch,
                                     scratch_bytes);
        if (qn->packed) /* weights packed once: the fast GEMM panels */
            return tq_s8_conv2d_packed(&qn->conv, &in, x, qn->input_offset,
                                       &qn->filter, qn->packed,
                                       qn->packed_bytes, qn->bias, &qn->os,
                                       &out, y, scratch, scratch_bytes);
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
        return tq_s8_fully_connected_packed(
            (int32_t)batch, qn->in_features, qn->channels, x,
            qn->input_offset, qn->packed, qn->packed_bytes, qn->bias, &qn->os,
            y);
    case TQ__Q_CONV_POOL:
        return tq_s8_conv2d_relu_maxpool2(&qn->conv, &in, x, qn->input_offset,
                                          &qn->filter, qn->weights, qn->bias,
                                          &qn->os, &out, y, scratch,
                                          scratch_bytes);
    case TQ__Q_MAX_POOL:
        return tq_s8_max_pool(&qn->pool, &in, x, qn->act_min, qn->act_max,
                              &out, y);
    case TQ__Q_AVG_POOL: {
        if (!qn->padded_pool)
            return tq_s8_avg_pool(&qn->pool, &in, x, qn->act_min, qn->act_max,
                                  &out, y);
        const tq_pool_params *p = &qn->pool;
        const tq_dims pd = {in.n, in.h + p->pad_top + p->pad_bottom,
                            in.w + p->pad_left + p->pad_right, in.c};
        const tq_pool_params inner = {p->kernel_h, p->kernel_w, p->stride_h,
                                      p->stride_w, 0, 0, 0, 0};
        pad_copy(p->pad_top, p->pad_left, qn->pad_value, &in, x, &pd,
                 scratch);
        return tq_s8_avg_pool(&inner, &pd, scratch, qn->act_min, qn->act_max,
                              &out, y);
    }
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
        pad_copy(qn->conv.pad_top, qn->conv.pad_left, qn->pad_value, &in, x,
                 &out, y);
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
    return tq__graph_run_s8_hooked(graph, batch, input, output, accumulators,
                                   arena, arena_bytes, NULL, NULL);
}

tq_status tq__graph_run_s8_hooked(const tq_graph *graph, int64_t batch,
                                  const int8_t *input, int8_t *output,
                                  int32_t *accumulators, void *arena,
                                  size_t arena_bytes, tq__graph_node_hook hook,
                                  void *ctx)
{
    if (!graph)
        return TQ_ERR_NULL;
    /* The error sentence only, and only on failure: several threads may
     * run one graph, each with its own arena. */
    tq_graph *g = (tq_graph *)(uintptr_t)graph;
    if (!graph->quantized)
        return tq__graph_fail(g, TQ_ERR_PARAM, "run_s8: the graph is not "
                              "quantized (tq_graph_quantize); run a float "
                              "graph with tq_graph_run_f32");
    if (!input || !output)
        return tq__graph_fail(g, TQ_ERR_NULL, "run_s8: %s is NULL",
                              input ? "output" : "input");
    const int32_t last = graph->q->output_node;
    if (accumulators &&
        (last < 0 || (graph->nodes[last].q->kind != TQ__Q_FC &&
                      graph->nodes[last].q->kind != TQ__Q_CONV)))
        return tq__graph_fail(g, TQ_ERR_UNSUPPORTED, "run_s8: accumulators "
                              "are kept for a fully connected or conv output "
                              "layer only");
    uint8_t *base, *scratch;
    size_t scratch_bytes;
    TQ_CHECK(tq__graph_arena(graph, batch, arena, arena_bytes, &base, &scratch,
                             &scratch_bytes));
    const int32_t tin = graph->input, tout = graph->output;
    const size_t n_in = graph->tensors[tin].numel * (size_t)batch;
    const size_t n_out = graph->tensors[tout].numel * (size_t)batch;
    const size_t acc_bytes = accumulators ? n_out * sizeof(int32_t) : 0;
    if (tq__overlap(input, n_in, arena, arena_bytes) ||
        tq__overlap(output, n_out, arena, arena_bytes) ||
        tq__overlap(output, n_out, input, n_in) ||
        tq__overlap(accumulators, acc_bytes, arena, arena_bytes) ||
        tq__overlap(accumulators, acc_bytes, input, n_in) ||
        tq__overlap(accumulators, acc_bytes, output, n_out))
        return tq__graph_fail(g, TQ_ERR_ALIAS, "run_s8: the input, the "
                              "output, the accumulators and the arena must "
                              "not overlap");
    memcpy(tq__graph_tensor_at(graph, base, tin, batch), input, n_in);
    if (hook)
        hook(ctx, -1);
    for (int32_t i = 0; i < graph->n_nodes; ++i) {
        const tq_status s =
            run_node(graph, i, batch, base, scratch, scratch_bytes,
                     i == last ? accumulators : NULL);
        if (s != TQ_OK)
            return tq__graph_fail(g, s, "run_s8: node %s (%s): %s",
                                  graph->nodes[i].name,
                                  tq__op_name(graph->nodes[i].op),
                                  tq_status_message(s));
        if (hook)
            hook(ctx, i);
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
