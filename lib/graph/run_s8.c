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

static size_t align16(size_t n)
{
    return (n + 15) / 16 * 16;
}

/* The convolution's own output dims (before the fused pool). */
tq_dims tq__qnode_conv_dims(const struct tq__qnode *qn, const tq_dims *in)
{
    const tq_conv_params *c = &qn->conv;
    const int64_t eh = (int64_t)c->dilation_h * (qn->filter.h - 1) + 1;
    const int64_t ew = (int64_t)c->dilation_w * (qn->filter.w - 1) + 1;
    tq_dims d = {in->n,
                 (int32_t)(((int64_t)in->h + c->pad_top + c->pad_bottom - eh) /
                               c->stride_h + 1),
                 (int32_t)(((int64_t)in->w + c->pad_left + c->pad_right - ew) /
                               c->stride_w + 1),
                 qn->filter.n};
    return d;
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
    const int s16 = qn->dtype == TQ_S16;
    const size_t es = s16 ? 2 : 1;
    const size_t wcount = qn->kind == TQ__Q_FC
                              ? (size_t)qn->channels * (size_t)qn->in_features
                              : (size_t)qn->filter.n * (size_t)qn->filter.h *
                                    (size_t)qn->filter.w * (size_t)qn->filter.c;
    const int acc = node == g->q->output_node;
    *bytes = 0;
    switch (qn->kind) {
    case TQ__Q_CONV: {
        if (s16)
            return tq_s16_conv2d_scratch_size(&qn->conv, &in, &qn->filter,
                                               &out, bytes);
        if (n->fused_add >= 0) { /* int8 weights and output (fusable_conv) */
            /* the packed weights when there are */
            if (qn->packed)
                return tq_s8_conv2d_add_packed_scratch_size(
                    &qn->conv, &in, &qn->filter, &out, bytes);
            return tq_s8_conv2d_add_scratch_size(&qn->conv, &in, &qn->filter,
                                                 &out, bytes);
        }
        if (qn->weights4)
            TQ_CHECK(tq_s4_conv2d_scratch_size(&qn->conv, &in, &qn->filter,
                                               &out, bytes));
        else
            TQ_CHECK(tq_s8_conv2d_scratch_size(&qn->conv, &in, &qn->filter,
                                               &out, bytes));
        /* The output layer may be asked for its accumulators: im2col rows
         * of a block of pixels (and the unpacked int4 filter). */
        size_t cols = (size_t)ACC_BLOCK * (size_t)qn->filter.h *
                      (size_t)qn->filter.w * (size_t)qn->filter.c;
        if (qn->weights4)
            cols = align16(cols) + wcount;
        if (acc && cols > *bytes)
            *bytes = cols;
        return TQ_OK;
    }
    case TQ__Q_FC:
        if (qn->weights4) {
            TQ_CHECK(tq_s4_fully_connected_scratch_size(
                qn->in_features, qn->channels, bytes));
            if (acc && wcount > *bytes)
                *bytes = wcount;
        }
        return TQ_OK;
    case TQ__Q_AVG_POOL: {
        if (!qn->padded_pool)
            return TQ_OK;
        const tq_pool_params *p = &qn->pool;
        const size_t h = (size_t)in.h + (size_t)p->pad_top + (size_t)p->pad_bottom;
        const size_t w = (size_t)in.w + (size_t)p->pad_left + (size_t)p->pad_right;
        if (tq__mul_size((size_t)batch, h * w * (size_t)in.c * es, bytes))
            return TQ_ERR_OVERFLOW;
        return TQ_OK;
    }
    case TQ__Q_CONV_POOL: {
        if (s16) {
            const tq_dims cd = tq__qnode_conv_dims(qn, &in);
            size_t k, c;
            if (tq__mul_size((size_t)cd.n * (size_t)cd.h * (size_t)cd.w,
                             (size_t)cd.c * 2, &c))
                return TQ_ERR_OVERFLOW;
            TQ_CHECK(tq_s16_conv2d_scratch_size(&qn->conv, &in, &qn->filter,
                                                &cd, &k));
            if (c > SIZE_MAX - 16 || tq__add_size(align16(c), k, bytes))
                return TQ_ERR_OVERFLOW;
            return TQ_OK;
        }
        TQ_CHECK(tq_s8_conv2d_relu_maxpool2_scratch_size(&qn->conv, &in,
                                                         &qn->filter, &out,
                                                         bytes));
        if (qn->weights4 && tq__add_size(*bytes, align16(wcount), bytes))
            return TQ_ERR_OVERFLOW;
        return TQ_OK;
    }
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

/* TFLite QUANTIZE int8 <-> int16 of @p n values. */
static void convert(const tq__qcvt *c, int32_t rounding, size_t n,
                    const void *x, void *y)
{
    for (size_t i = 0; i < n; ++i) {
        const int32_t v = c->from == TQ_S16 ? ((const int16_t *)x)[i]
                                            : ((const int8_t *)x)[i];
        int64_t r = (int64_t)tq__requant(v - c->in_zp, c->mult, c->shift,
                                         rounding) +
                    c->out_zp;
        r = r < c->lo ? c->lo : (r > c->hi ? c->hi : r);
        if (c->to == TQ_S16)
            ((int16_t *)y)[i] = (int16_t)r;
        else
            ((int8_t *)y)[i] = (int8_t)r;
    }
}

/* Pad: the input into the middle, the borders at @p value (the zero
 * point: real 0). */
static void pad_copy(int32_t top, int32_t left, int8_t value, size_t es,
                     const tq_dims *in, const void *xv, const tq_dims *out,
                     void *yv)
{
    const uint8_t *x = xv;
    uint8_t *y = yv;
    const size_t c = (size_t)in->c * es; /* bytes per pixel */
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
                                   const int8_t *weights, const tq_dims *in,
                                   const int8_t *x, const tq_dims *out,
                                   int8_t *y, int32_t *acc, int8_t *col,
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
                weights + (size_t)gi * (size_t)cout_g * (size_t)k, k, 0,
                qn->bias ? qn->bias + (size_t)gi * (size_t)cout_g : NULL,
                acc + p0 * (size_t)cout + (size_t)gi * (size_t)cout_g, cout));
        }
    }
    return tq_s8_requantize_rows((int32_t)pixels, cout, acc, cout, &qn->os, y,
                                 cout);
}

/* A 16x8 node (tq_s16_* kernels) on int16 @p x into int16 @p y. */
static tq_status run_node16(const tq_graph *g, const tq__node *n,
                            const struct tq__qnode *qn, int64_t batch,
                            const int16_t *x, const int16_t *x1, int16_t *y,
                            uint8_t *scratch, size_t scratch_bytes)
{
    const tq_dims in = tq__graph_dims(g, n->inputs[0], batch);
    const tq_dims out = tq__graph_dims(g, n->output, batch);
    const size_t count = (size_t)out.n * (size_t)out.h * (size_t)out.w *
                         (size_t)out.c;
    const void *bias = qn->bias64;
    switch (qn->kind) {
    case TQ__Q_CONV:
        return tq_s16_conv2d(&qn->conv, &in, x, &qn->filter, qn->weights,
                             bias, TQ_S64, &qn->os16, &out, y, scratch,
                             scratch_bytes);
    case TQ__Q_DEPTHWISE:
        return tq_s16_depthwise_conv2d(&qn->conv, &in, x, &qn->filter,
                                       qn->weights, bias, TQ_S64, &qn->os16,
                                       &out, y);
    case TQ__Q_FC:
        return tq_s16_fully_connected((int32_t)batch, qn->in_features,
                                      qn->channels, x, qn->weights, bias,
                                      TQ_S64, &qn->os16, y);
    case TQ__Q_CONV_POOL: {
        /* conv (its ReLU in the stage) into the scratch, then the 2x2 max
         * pool of stride 2: what the fused int8 kernel computes. */
        const tq_dims cd = tq__qnode_conv_dims(qn, &in);
        const size_t cb = align16((size_t)cd.n * (size_t)cd.h * (size_t)cd.w *
                                  (size_t)cd.c * 2);
        if (scratch_bytes < cb)
            return TQ_ERR_BUFFER_TOO_SMALL;
        int16_t *c = (int16_t *)(void *)scratch;
        TQ_CHECK(tq_s16_conv2d(&qn->conv, &in, x, &qn->filter, qn->weights,
                               bias, TQ_S64, &qn->os16, &cd, c, scratch + cb,
                               scratch_bytes - cb));
        const tq_pool_params pool = tq__qnode_pool_2x2();
        return tq_s16_max_pool(&pool, &cd, c, -32768, 32767, &out, y);
    }
    case TQ__Q_MAX_POOL:
        return tq_s16_max_pool(&qn->pool, &in, x, qn->act_min, qn->act_max,
                               &out, y);
    case TQ__Q_AVG_POOL: {
        if (!qn->padded_pool)
            return tq_s16_avg_pool(&qn->pool, &in, x, qn->act_min,
                                   qn->act_max, &out, y);
        const tq_pool_params *p = &qn->pool;
        const tq_dims pd = {in.n, in.h + p->pad_top + p->pad_bottom,
                            in.w + p->pad_left + p->pad_right, in.c};
        const tq_pool_params inner = {p->kernel_h, p->kernel_w, p->stride_h,
                                      p->stride_w, 0, 0, 0, 0};
        pad_copy(p->pad_top, p->pad_left, 0, 2, &in, x, &pd, scratch);
        return tq_s16_avg_pool(&inner, &pd, (const int16_t *)(void *)scratch,
                               qn->act_min, qn->act_max, &out, y);
    }
    case TQ__Q_ADD:
        return tq_s16_add(count, x, x1, &qn->add, y);
    case TQ__Q_PAD:
        pad_copy(qn->conv.pad_top, qn->conv.pad_left, 0, 2, &in, x, &out, y);
        return TQ_OK;
    case TQ__Q_ALIAS:
        return TQ_OK;
    default:
        return TQ_ERR_UNSUPPORTED;
    }
}

/* Node @p i over @p batch samples; @p acc, if not NULL, receives the
 * accumulators (the output node of an FC, checked by the caller). */
static tq_status run_node(const tq_graph *g, int32_t i, int64_t batch,
                          uint8_t *base, uint8_t *region, size_t region_bytes,
                          int32_t *acc)
{
    const tq__node *n = &g->nodes[i];
    const struct tq__qnode *qn = n->q;
    void *scratch_v;
    size_t scratch_bytes;
    if (n->fused_by >= 0)
        return TQ_OK; /* done by the conv fused_by */
    tq__graph_node_scratch(g, i, batch, base, region, region_bytes,
                           &scratch_v, &scratch_bytes);
    uint8_t *scratch = scratch_v;
    const void *x0 = tq__graph_tensor_at(g, base, n->inputs[0], batch);
    const void *x1 = n->n_inputs > 1 && g->tensors[n->inputs[1]].kind !=
                                            TQ__TENSOR_CONSTANT
                         ? tq__graph_tensor_at(g, base, n->inputs[1], batch)
                         : NULL;
    if (qn->kind == TQ__Q_CONVERT) {
        convert(qn->cvt, g->q->config.rounding,
                g->tensors[n->output].numel * (size_t)batch, x0,
                tq__graph_tensor_at(g, base, n->output, batch));
        return TQ_OK;
    }
    if (qn->dtype == TQ_S16)
        return run_node16(g, n, qn, batch, x0, x1,
                          tq__graph_tensor_at(g, base, n->output, batch),
                          scratch, scratch_bytes);
    const int8_t *x = x0;
    int8_t *y = tq__graph_tensor_at(g, base, n->output, batch);
    const tq_dims in = tq__graph_dims(g, n->inputs[0], batch);
    const tq_dims out = tq__graph_dims(g, n->output, batch);
    const size_t count = (size_t)out.n * (size_t)out.h * (size_t)out.w *
                         (size_t)out.c;
    const size_t wcount = qn->kind == TQ__Q_FC
                              ? (size_t)qn->channels * (size_t)qn->in_features
                              : (size_t)qn->filter.n * (size_t)qn->filter.h *
                                    (size_t)qn->filter.w * (size_t)qn->filter.c;
    switch (qn->kind) {
    case TQ__Q_CONV:
        if (acc && qn->weights4) {
            /* The int4 filter unpacked behind the im2col rows. */
            const size_t col = align16((size_t)ACC_BLOCK * (size_t)qn->filter.h *
                                       (size_t)qn->filter.w *
                                       (size_t)qn->filter.c);
            if (scratch_bytes < col + wcount)
                return TQ_ERR_BUFFER_TOO_SMALL;
            int8_t *w = (int8_t *)(scratch + col);
            TQ_CHECK(tq_s4_unpack(wcount, qn->weights4, w));
            return conv_accumulators(qn, w, &in, x, &out, y, acc,
                                     (int8_t *)scratch, col);
        }
        if (acc)
            return conv_accumulators(qn, qn->weights, &in, x, &out, y, acc,
                                     (int8_t *)scratch, scratch_bytes);
        if (qn->weights4)
            return tq_s4_conv2d(&qn->conv, &in, x, qn->input_offset,
                                &qn->filter, qn->weights4, qn->bias, &qn->os,
                                &out, y, scratch, scratch_bytes);
        if (n->fused_add >= 0) {
            /* The Add in the output stage: the conv's output is input 1 of
             * tq_s8_conv2d_add, the other addend input 2. */
            const tq__node *a = &g->nodes[n->fused_add];
            tq_s8_add_params ap;
            tq__graph_fused_add_params(a, &ap);
            /* weights packed once: the fast GEMM panels */
            if (qn->packed)
                return tq_s8_conv2d_add_packed(
                    &qn->conv, &in, x, qn->input_offset, &qn->filter,
                    qn->packed, qn->packed_bytes, qn->bias, &qn->os, &out,
                    tq__graph_tensor_at(g, base, a->inputs[a->skip_input],
                                        batch),
                    &ap, tq__graph_tensor_at(g, base, a->output, batch),
                    scratch, scratch_bytes);
            return tq_s8_conv2d_add(
                &qn->conv, &in, x, qn->input_offset, &qn->filter, qn->weights,
                qn->bias, &qn->os, &out,
                tq__graph_tensor_at(g, base, a->inputs[a->skip_input], batch),
                &ap, tq__graph_tensor_at(g, base, a->output, batch), scratch,
                scratch_bytes);
        }
        if (qn->packed) /* weights packed once: the fast GEMM panels */
            return tq_s8_conv2d_packed(&qn->conv, &in, x, qn->input_offset,
                                       &qn->filter, qn->packed,
                                       qn->packed_bytes, qn->bias, &qn->os,
                                       &out, y, scratch, scratch_bytes);
        return tq_s8_conv2d(&qn->conv, &in, x, qn->input_offset, &qn->filter,
                            qn->weights, qn->bias, &qn->os, &out, y, scratch,
                            scratch_bytes);
    case TQ__Q_DEPTHWISE:
        if (qn->weights4)
            return tq_s4_depthwise_conv2d(&qn->conv, &in, x, qn->input_offset,
                                          &qn->filter, qn->weights4, qn->bias,
                                          &qn->os, &out, y);
        return tq_s8_depthwise_conv2d(&qn->conv, &in, x, qn->input_offset,
                                      &qn->filter, qn->weights, qn->bias,
                                      &qn->os, &out, y);
    case TQ__Q_FC: {
        const int8_t *w = qn->weights;
        if (acc && qn->weights4) {
            if (scratch_bytes < wcount)
                return TQ_ERR_BUFFER_TOO_SMALL;
            TQ_CHECK(tq_s4_unpack(wcount, qn->weights4, (int8_t *)scratch));
            w = (const int8_t *)scratch;
        }
        if (acc) {
            /* The int32 stage kept: raw GEMM with the bias, then the
             * output stage (bit-exact with the FC kernel). */
            TQ_CHECK(tq_s8_gemm_s32((int32_t)batch, qn->channels,
                                    qn->in_features, x, qn->in_features,
                                    qn->input_offset, w, qn->in_features, 0,
                                    qn->bias, acc, qn->channels));
            return tq_s8_requantize_rows((int32_t)batch, qn->channels, acc,
                                         qn->channels, &qn->os, y,
                                         qn->channels);
        }
        if (qn->weights4)
            return tq_s4_fully_connected((int32_t)batch, qn->in_features,
                                         qn->channels, x, qn->input_offset,
                                         qn->weights4, qn->bias, &qn->os, y,
                                         scratch, scratch_bytes);
        return tq_s8_fully_connected_packed(
            (int32_t)batch, qn->in_features, qn->channels, x,
            qn->input_offset, qn->packed, qn->packed_bytes, qn->bias, &qn->os,
            y);
    }
    case TQ__Q_CONV_POOL: {
        const int8_t *w = qn->weights;
        if (qn->weights4) {
            const size_t wb = align16(wcount);
            if (scratch_bytes < wb)
                return TQ_ERR_BUFFER_TOO_SMALL;
            TQ_CHECK(tq_s4_unpack(wcount, qn->weights4, (int8_t *)scratch));
            w = (const int8_t *)scratch;
            scratch += wb;
            scratch_bytes -= wb;
        }
        return tq_s8_conv2d_relu_maxpool2(&qn->conv, &in, x, qn->input_offset,
                                          &qn->filter, w, qn->bias, &qn->os,
                                          &out, y, scratch, scratch_bytes);
    }
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
        pad_copy(p->pad_top, p->pad_left, qn->pad_value, 1, &in, x, &pd,
                 scratch);
        return tq_s8_avg_pool(&inner, &pd, (const int8_t *)scratch,
                              qn->act_min, qn->act_max, &out, y);
    }
    case TQ__Q_ADD:
        return tq_s8_add(count, x, x1, &qn->add, y);
    case TQ__Q_LOOKUP:
        return tq_s8_lookup(count, x, qn->tables, y);
    case TQ__Q_CONCAT: {
        const size_t pixels = count / (size_t)out.c;
        size_t at = 0;
        for (int32_t j = 0; j < n->n_inputs; ++j) {
            const int8_t *xj = tq__graph_tensor_at(g, base, n->inputs[j],
                                                   batch);
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
        pad_copy(qn->conv.pad_top, qn->conv.pad_left, qn->pad_value, 1, &in,
                 x, &out, y);
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
