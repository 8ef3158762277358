/*
 * Quantization of a calibrated float graph into an integer-only one (host
 * only). Every parameter the int8 runner needs is computed here, once:
 *
 *  - activations: int8 per tensor, from the calibrator's range under the
 *    tensor's scheme (tq_qparams_from_range()). Max pool, average pool
 *    (global included), Pad, Reshape/Flatten and Identity outputs take
 *    their input's scale and zero point, as TFLite's converter does (the
 *    int8 pool kernels do not requantize; a pad must pad with real 0);
 *  - weights: symmetric int8 (config weight scheme), per output channel or
 *    per tensor, from their own statistics (and histogram for the
 *    histogram methods) with the config's weight range method; the layer
 *    that writes the graph output is always per tensor, so that its int32
 *    accumulators share one scale and their argmax ranks the classes;
 *  - biases: int32 at s_in · s_w[c] (tq_quantize_bias());
 *  - multipliers and shifts: tq_quantize_multiplier(s_in · s_w[c] / s_out)
 *    per output channel; the fused activation's clamp by
 *    tq_s8_activation_range() (Clip: the same rule on its bounds);
 *  - ADD of two activations: tq_s8_add_params_from_scales();
 *  - Mul / Add by a constant (one value or one per channel) and an unfolded
 *    BatchNorm: a per-channel affine a[c]·x + b[c], run as a 1x1 depthwise
 *    convolution with int8 weights a and int32 biases b;
 *  - functions of one value without an arithmetic kernel (a standalone
 *    ReLU / ReLU6 / Clip, LeakyRelu, the requantizing copy of a Concat
 *    input into the output's parameters): a 256-entry table,
 *    out = clamp(zp_out + round(f((q − zp_in) · s_in) / s_out)), computed
 *    in double with ties away from zero;
 *  - a trailing Softmax is dropped: the int8 output is the logits.
 * Anything else is TQ_ERR_UNSUPPORTED here, never at run time.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"

/* The work of one quantization: the source graph (for its error sentence),
 * the new graph, the configuration and the calibrator. */
typedef struct qctx {
    tq_graph *src;
    tq_graph *q;
    const tq_calibrator *cal;
    const tq_quant_config *cfg;
} qctx;

static int needs_histogram(int32_t method)
{
    return method == TQ_RANGE_PERCENTILE || method == TQ_RANGE_MSE ||
           method == TQ_RANGE_KL;
}

/* ---- the q slots ---------------------------------------------------------- */

static void qnode_free(struct tq__qnode *n)
{
    if (!n)
        return;
    free(n->mult);
    free(n->shift);
    free(n->own_weights);
    free(n->own_bias);
    free(n->tables);
    free(n->packed);
    free(n);
}

void tq__quant_free(tq_graph *g)
{
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        qnode_free(g->nodes[i].q);
        g->nodes[i].q = NULL;
    }
    free(g->q);
    g->q = NULL;
}

/* Set a tensor's parameters (copies). */
static tq_status set_qparams(tq__tensor *t, int64_t count, int32_t axis,
                             const float *scale, const int32_t *zero_point)
{
    float *s = malloc((size_t)count * sizeof *s);
    int32_t *z = malloc((size_t)count * sizeof *z);
    if (!s || !z) {
        free(s);
        free(z);
        return TQ_ERR_NO_MEMORY;
    }
    for (int64_t i = 0; i < count; ++i) {
        s[i] = scale[i];
        z[i] = zero_point ? zero_point[i] : 0;
    }
    free(t->scale);
    free(t->zero_point);
    t->scale = s;
    t->zero_point = z;
    t->qcount = count;
    t->qaxis = axis;
    return TQ_OK;
}

/* ---- activations ------------------------------------------------------------- */

/* Tensor @p t's parameters from the calibrator. */
static tq_status act_from_calibration(qctx *x, int32_t t)
{
    double lo, hi;
    const tq_qscheme *scheme;
    float scale;
    int32_t zp;
    if (tq__calibrator_tensor_range(x->cal, t, &lo, &hi, &scheme) != TQ_OK)
        return tq__graph_fail(x->src, TQ_ERR_PARAM, "quantize: tensor %d (%s) "
                              "was not observed by the calibrator", t,
                              x->q->tensors[t].name);
    tq_status s = tq_qparams_from_range(scheme, lo, hi, &scale, &zp);
    if (s != TQ_OK)
        return tq__graph_fail(x->src, s, "quantize: tensor %s: range [%g, %g] "
                              "gives no usable scale",
                              x->q->tensors[t].name, lo, hi);
    return set_qparams(&x->q->tensors[t], 1, 0, &scale, &zp);
}

/* Tensor @p dst takes @p src's parameters. */
static tq_status act_share(qctx *x, int32_t dst, int32_t src)
{
    const tq__tensor *s = &x->q->tensors[src];
    return set_qparams(&x->q->tensors[dst], 1, 0, s->scale, s->zero_point);
}

/* TFLite's Quantize(f) = zp + round(f / scale), clamped to int8 (an
 * infinite bound clamps to the end of the range). */
static int32_t quantize_bound(float f, float scale, int32_t zp)
{
    const double v = (double)zp + (double)roundf(f / scale);
    return v < -128.0 ? -128 : (v > 127.0 ? 127 : (int32_t)v);
}

/* The clamp of a node's fused activation for its output parameters. */
static tq_status act_clamp(qctx *x, const tq__node *n, float scale,
                           int32_t zp, int32_t *lo, int32_t *hi)
{
    const tq_node_attrs *a = &n->attrs;
    if (a->act == TQ_ACT_CLIP) {
        *lo = quantize_bound(a->act_min, scale, zp);
        *hi = quantize_bound(a->act_max, scale, zp);
        return TQ_OK;
    }
    tq_status s = tq_s8_activation_range(a->act, scale, zp, lo, hi);
    if (s != TQ_OK)
        return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node %s "
                              "(%s): fused activation %d", n->name,
                              tq__op_name(n->op), a->act);
    return TQ_OK;
}

/* ---- tables --------------------------------------------------------------------- */

enum { FN_COPY = 0, FN_CLAMP = 1, FN_LEAKY = 2 };

/* out code of every input code: f((q − zp_in) · s_in) requantized to
 * (s_out, zp_out), in double, ties away from zero. */
static void build_table(int8_t table[256], float s_in, int32_t zp_in,
                        float s_out, int32_t zp_out, int fn, double lo,
                        double hi, double alpha)
{
    for (int32_t q = -128; q <= 127; ++q) {
        double v = ((double)q - zp_in) * (double)s_in;
        if (fn == FN_CLAMP)
            v = v < lo ? lo : (v > hi ? hi : v);
        else if (fn == FN_LEAKY && v < 0.0)
            v *= alpha;
        const double r = (double)zp_out + round(v / (double)s_out);
        table[q + 128] = (int8_t)(r < -128.0 ? -128 : (r > 127.0 ? 127 : r));
    }
}

/* ---- weights ------------------------------------------------------------------------ */

/* Quantize f32 weights seen as [rows][cols] with channels along @p axis (0:
 * rows, 1: columns), one scale per channel or (per_channel 0) one for all:
 * the config's weight range method and scheme, HALF_AWAY rounding. */
static tq_status quantize_weights(qctx *x, const tq__node *n, const float *w,
                                  int64_t rows, int64_t cols, int32_t axis,
                                  int per_channel, int8_t *codes,
                                  float *scales)
{
    const tq_quant_config *cfg = x->cfg;
    const int64_t channels = per_channel ? (axis == 0 ? rows : cols) : 1;
    const int64_t per = rows * cols / channels;
    float *tmp = malloc((size_t)per * sizeof *tmp);
    uint64_t *bins = needs_histogram(cfg->weight_range.method)
                         ? malloc((size_t)cfg->histogram_bins * sizeof *bins)
                         : NULL;
    int32_t *zps = malloc((size_t)channels * sizeof *zps);
    tq_status s = tmp && zps && (bins || !needs_histogram(
                                                 cfg->weight_range.method))
                      ? TQ_OK
                      : TQ_ERR_NO_MEMORY;
    for (int64_t c = 0; c < channels && s == TQ_OK; ++c) {
        /* Gather channel c's values. */
        int64_t k = 0;
        if (channels == 1)
            memcpy(tmp, w, (size_t)per * sizeof *tmp), k = per;
        else if (axis == 0)
            memcpy(tmp, w + c * cols, (size_t)cols * sizeof *tmp), k = cols;
        else
            for (int64_t r = 0; r < rows; ++r)
                tmp[k++] = w[r * cols + c];
        tq_stats st;
        tq_histogram h;
        double lo, hi;
        tq_stats_init(&st);
        if ((s = tq_stats_update_f32(&st, tmp, (size_t)k)) != TQ_OK)
            break;
        if (bins) {
            const double hl = st.min, hh = st.max > hl ? st.max : hl + 1.0;
            if ((s = tq_histogram_init(&h, bins, (uint32_t)cfg->histogram_bins,
                                       hl, hh)) != TQ_OK ||
                (s = tq_histogram_add_f32(&h, tmp, (size_t)k)) != TQ_OK)
                break;
        }
        if ((s = tq_choose_range(&cfg->weight_range, &cfg->weight_scheme, &st,
                                 bins ? &h : NULL, &lo, &hi)) != TQ_OK ||
            (s = tq_qparams_from_range(&cfg->weight_scheme, lo, hi, &scales[c],
                                       &zps[c])) != TQ_OK)
            break;
    }
    if (s == TQ_OK) {
        tq_qparams p = {scales, zps, channels, axis, 0, 0, TQ_FROUND_HALF_AWAY};
        const int64_t shape[2] = {rows, cols};
        tq_tensor src, dst;
        if ((s = tq_qscheme_qrange(&cfg->weight_scheme, &p.qmin, &p.qmax)) ==
                TQ_OK &&
            (s = tq_tensor_init(&src, (void *)(uintptr_t)w, TQ_F32, 2,
                                shape)) == TQ_OK &&
            (s = tq_tensor_init(&dst, codes, TQ_S8, 2, shape)) == TQ_OK)
            s = tq_quantize(&src, &p, &dst);
    }
    free(tmp);
    free(bins);
    free(zps);
    if (s != TQ_OK)
        return tq__graph_fail(x->src, s, "quantize: node %s (%s): weights: %s",
                              n->name, tq__op_name(n->op),
                              tq_status_message(s));
    return TQ_OK;
}

/* The constant input @p slot of node @p n, used by this node alone. */
static tq_status own_constant(qctx *x, const tq__node *n, int32_t slot,
                              const char *what, tq__tensor **out)
{
    const int32_t id = n->inputs[slot];
    tq__tensor *t = &x->q->tensors[id];
    if (t->kind != TQ__TENSOR_CONSTANT || t->dtype != TQ_F32)
        return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node %s "
                              "(%s): the %s (%s) must be an f32 constant",
                              n->name, tq__op_name(n->op), what, t->name);
    if (tq__graph_consumers(x->q, id) != 1)
        return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node %s "
                              "(%s): the %s %s is shared with another node",
                              n->name, tq__op_name(n->op), what, t->name);
    *out = t;
    return TQ_OK;
}

/* Multipliers and shifts of M[c] = s_in · s_w[c] / s_out into the node. */
static tq_status multipliers(qctx *x, const tq__node *n, struct tq__qnode *qn,
                             int32_t count, float s_in, const float *s_w,
                             float s_out)
{
    qn->mult = malloc((size_t)count * sizeof *qn->mult);
    qn->shift = malloc((size_t)count * sizeof *qn->shift);
    if (!qn->mult || !qn->shift)
        return TQ_ERR_NO_MEMORY;
    for (int32_t c = 0; c < count; ++c) {
        const double m = (double)s_in * (double)s_w[c] / (double)s_out;
        if (tq_quantize_multiplier(m, &qn->mult[c], &qn->shift[c]) != TQ_OK)
            return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node "
                                  "%s (%s): output multiplier %g of channel %d "
                                  "cannot be applied", n->name,
                                  tq__op_name(n->op), m, c);
    }
    return TQ_OK;
}

/* The output stage of a conv / FC-like node from its parameters. */
static tq_status output_stage(qctx *x, const tq__node *n, struct tq__qnode *qn,
                              int32_t per_channel)
{
    const tq__tensor *o = &x->q->tensors[n->output];
    int32_t lo, hi;
    TQ_CHECK(act_clamp(x, n, o->scale[0], o->zero_point[0], &lo, &hi));
    qn->os = (tq_s8_output){qn->mult, qn->shift, per_channel, x->cfg->rounding,
                            o->zero_point[0], lo, hi};
    return TQ_OK;
}

/* Conv, depthwise, FC and the fused conv + pool: weights, bias, stage. */
static tq_status weighted(qctx *x, int32_t index, struct tq__qnode *qn)
{
    tq__node *n = &x->q->nodes[index];
    const tq__tensor *in = &x->q->tensors[n->inputs[0]];
    tq__tensor *w, *b = NULL;
    TQ_CHECK(own_constant(x, n, 1, "weight", &w));
    if (n->n_inputs > 2)
        TQ_CHECK(own_constant(x, n, 2, "bias", &b));
    int64_t rows, cols;
    int32_t axis, reduction;
    switch (n->op) {
    case TQ_OP_DEPTHWISE_CONV2D: /* [1][KH][KW][C] */
        rows = w->shape[1] * w->shape[2];
        cols = w->shape[3];
        axis = 1;
        reduction = (int32_t)rows;
        qn->kind = TQ__Q_DEPTHWISE;
        qn->filter = (tq_dims){1, (int32_t)w->shape[1], (int32_t)w->shape[2],
                               (int32_t)w->shape[3]};
        break;
    case TQ_OP_FULLY_CONNECTED: /* [O][I] */
        rows = w->shape[0];
        cols = w->shape[1];
        axis = 0;
        reduction = (int32_t)cols;
        qn->kind = TQ__Q_FC;
        qn->in_features = (int32_t)cols;
        break;
    default: /* conv, conv + pool: OHWI */
        rows = w->shape[0];
        cols = w->shape[1] * w->shape[2] * w->shape[3];
        axis = 0;
        reduction = (int32_t)cols;
        qn->kind = n->op == TQ_OP_CONV2D ? TQ__Q_CONV : TQ__Q_CONV_POOL;
        qn->filter = (tq_dims){(int32_t)w->shape[0], (int32_t)w->shape[1],
                               (int32_t)w->shape[2], (int32_t)w->shape[3]};
        if (qn->kind == TQ__Q_CONV_POOL && n->attrs.conv.groups != 1)
            return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node "
                                  "%s (%s): groups %d (the fused int8 kernel "
                                  "takes 1)", n->name, tq__op_name(n->op),
                                  n->attrs.conv.groups);
        break;
    }
    if (reduction > TQ_S8_MAX_REDUCTION)
        return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node %s "
                              "(%s): reduction length %d exceeds the int8 "
                              "kernels' %d", n->name, tq__op_name(n->op),
                              reduction, TQ_S8_MAX_REDUCTION);
    qn->conv = n->attrs.conv;
    qn->input_offset = -in->zero_point[0];
    const int32_t channels = (int32_t)(axis == 0 ? rows : cols);
    /* The output layer is per tensor: its accumulators share one scale. */
    const int per_channel = x->cfg->weight_per_channel &&
                            index != x->q->q->output_node;
    const int32_t nscale = per_channel ? channels : 1;
    qn->channels = channels;
    const size_t count = (size_t)(rows * cols);
    int8_t *codes = malloc(count ? count : 1);
    float *scales = malloc((size_t)nscale * sizeof *scales);
    int32_t *bias = b ? malloc((size_t)channels * sizeof *bias) : NULL;
    if (!codes || !scales || (b && !bias)) {
        free(codes);
        free(scales);
        free(bias);
        return TQ_ERR_NO_MEMORY;
    }
    tq_status s = quantize_weights(x, n, w->data, rows, cols, axis,
                                   per_channel, codes, scales);
    if (s == TQ_OK && b) {
        s = tq_quantize_bias(channels, b->data, in->scale[0], scales,
                             per_channel, bias);
        if (s != TQ_OK)
            tq__graph_fail(x->src, s, "quantize: node %s (%s): bias: %s",
                           n->name, tq__op_name(n->op), tq_status_message(s));
    }
    if (s == TQ_OK)
        s = multipliers(x, n, qn, nscale, in->scale[0], scales,
                        x->q->tensors[n->output].scale[0]);
    /* The constants become int8 / int32 tensors of the new graph. */
    if (s == TQ_OK)
        s = set_qparams(w, nscale, per_channel ? (axis == 0 ? 0 : w->ndim - 1)
                                               : 0,
                        scales, NULL);
    if (s == TQ_OK && b) {
        float *bs = malloc((size_t)nscale * sizeof *bs);
        if (!bs)
            s = TQ_ERR_NO_MEMORY;
        for (int32_t c = 0; bs && c < nscale; ++c)
            bs[c] = (float)((double)in->scale[0] * (double)scales[c]);
        if (s == TQ_OK)
            s = set_qparams(b, nscale, 0, bs, NULL);
        free(bs);
    }
    free(scales);
    if (s != TQ_OK) {
        free(codes);
        free(bias);
        return s;
    }
    free(w->data);
    w->data = codes;
    w->dtype = TQ_S8;
    qn->weights = codes;
    if (qn->kind == TQ__Q_FC) {
        /* Packed once for tq_s8_fully_connected_packed() (bit for bit the
         * plain kernel). */
        s = tq_s8_packed_weights_size((int32_t)rows, (int32_t)cols,
                                      &qn->packed_bytes);
        if (s == TQ_OK && !(qn->packed = malloc(qn->packed_bytes)))
            s = TQ_ERR_NO_MEMORY;
        if (s == TQ_OK)
            s = tq_s8_pack_weights((int32_t)rows, (int32_t)cols, codes,
                                   (int32_t)cols, qn->packed,
                                   qn->packed_bytes);
        if (s != TQ_OK) {
            free(bias);
            return tq__graph_fail(x->src, s, "quantize: node %s (%s): "
                                  "packing the weights: %s", n->name,
                                  tq__op_name(n->op), tq_status_message(s));
        }
    }
    if (qn->kind == TQ__Q_CONV && (s = tq__qnode_pack_conv(qn)) != TQ_OK) {
        free(bias);
        return tq__graph_fail(x->src, s, "quantize: node %s (%s): packing the "
                              "weights: %s", n->name, tq__op_name(n->op),
                              tq_status_message(s));
    }
    if (b) {
        free(b->data);
        b->data = bias;
        b->dtype = TQ_S32;
        qn->bias = bias;
    }
    return output_stage(x, n, qn, per_channel);
}

/* A per-channel affine a[c]·x + b[c] (Mul / Add by a constant, BatchNorm)
 * as a 1x1 depthwise convolution; @p a or @p b NULL means 1 or 0, and
 * @p a_count / @p b_count (1 or C) say whether they broadcast. */
static tq_status affine(qctx *x, int32_t index, struct tq__qnode *qn,
                        const float *a, int64_t a_count, const float *b,
                        int64_t b_count)
{
    tq__node *n = &x->q->nodes[index];
    const tq__tensor *in = &x->q->tensors[n->inputs[0]];
    const int64_t C = in->shape[in->ndim - 1];
    if ((a && a_count != 1 && a_count != C) ||
        (b && b_count != 1 && b_count != C))
        return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node %s "
                              "(%s): a constant operand must hold one value "
                              "or one per channel", n->name,
                              tq__op_name(n->op));
    float *wa = calloc((size_t)C, sizeof *wa);
    float *ba = calloc((size_t)C, sizeof *ba);
    float *scales = malloc((size_t)C * sizeof *scales);
    qn->own_weights = malloc((size_t)C);
    qn->own_bias = b ? malloc((size_t)C * sizeof *qn->own_bias) : NULL;
    if (!wa || !ba || !scales || !qn->own_weights || (b && !qn->own_bias)) {
        free(wa);
        free(ba);
        free(scales);
        return TQ_ERR_NO_MEMORY;
    }
    const int per_channel = x->cfg->weight_per_channel;
    for (int64_t c = 0; c < C; ++c) {
        wa[c] = a ? a[a_count == 1 ? 0 : c] : 1.0f;
        ba[c] = b ? b[b_count == 1 ? 0 : c] : 0.0f;
    }
    tq_status s = quantize_weights(x, n, wa, 1, C, 1, per_channel, qn->own_weights,
                             scales);
    if (s == TQ_OK && b) {
        s = tq_quantize_bias(C, ba, in->scale[0], scales, per_channel,
                             qn->own_bias);
        if (s != TQ_OK)
            tq__graph_fail(x->src, s, "quantize: node %s (%s): constant "
                           "term: %s", n->name, tq__op_name(n->op),
                           tq_status_message(s));
    }
    const int32_t nscale = per_channel ? (int32_t)C : 1;
    if (s == TQ_OK)
        s = multipliers(x, n, qn, nscale, in->scale[0], scales,
                        x->q->tensors[n->output].scale[0]);
    free(wa);
    free(ba);
    free(scales);
    TQ_CHECK(s);
    qn->kind = TQ__Q_DEPTHWISE;
    qn->weights = qn->own_weights;
    qn->bias = qn->own_bias;
    qn->channels = (int32_t)C;
    qn->filter = (tq_dims){1, 1, 1, (int32_t)C};
    qn->conv = (tq_conv_params){1, 1, 0, 0, 0, 0, 1, 1, 1};
    qn->input_offset = -in->zero_point[0];
    return output_stage(x, n, qn, per_channel);
}

/* One table per input into the output's parameters. */
static tq_status tables(qctx *x, const tq__node *n, struct tq__qnode *qn,
                        int32_t count, int fn, double lo, double hi,
                        double alpha)
{
    const tq__tensor *o = &x->q->tensors[n->output];
    qn->tables = malloc((size_t)count * 256);
    if (!qn->tables)
        return TQ_ERR_NO_MEMORY;
    qn->n_tables = count;
    for (int32_t i = 0; i < count; ++i) {
        const tq__tensor *in = &x->q->tensors[n->inputs[i]];
        build_table(qn->tables + 256 * i, in->scale[0], in->zero_point[0],
                    o->scale[0], o->zero_point[0], fn, lo, hi, alpha);
    }
    return TQ_OK;
}

static int is_constant(const qctx *x, int32_t t)
{
    return x->q->tensors[t].kind == TQ__TENSOR_CONSTANT;
}

static tq_status unsupported(qctx *x, const tq__node *n, const char *why)
{
    return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node %s "
                          "(%s): %s", n->name, tq__op_name(n->op), why);
}

/* Node @p index: its output's parameters, then its own. */
static tq_status quantize_node(qctx *x, int32_t index)
{
    tq__node *n = &x->q->nodes[index];
    const int32_t in0 = n->inputs[0], out = n->output;
    struct tq__qnode *qn = calloc(1, sizeof *qn);
    if (!qn)
        return TQ_ERR_NO_MEMORY;
    n->q = qn; /* freed with the graph from here on */
    if (is_constant(x, in0))
        return unsupported(x, n, "its first input is a constant");

    /* The output's parameters. */
    switch (n->op) {
    case TQ_OP_MAX_POOL:
    case TQ_OP_AVG_POOL:
    case TQ_OP_GLOBAL_AVG_POOL:
    case TQ_OP_RESHAPE:
    case TQ_OP_IDENTITY:
    case TQ_OP_PAD:
        TQ_CHECK(act_share(x, out, in0));
        break;
    default:
        TQ_CHECK(act_from_calibration(x, out));
        break;
    }
    const tq__tensor *ti = &x->q->tensors[in0], *to = &x->q->tensors[out];

    switch (n->op) {
    case TQ_OP_CONV2D:
    case TQ_OP_DEPTHWISE_CONV2D:
    case TQ_OP_FULLY_CONNECTED:
    case TQ_OP_CONV2D_RELU_MAXPOOL2:
        return weighted(x, index, qn);
    case TQ_OP_MAX_POOL:
    case TQ_OP_AVG_POOL:
        qn->kind = n->op == TQ_OP_MAX_POOL ? TQ__Q_MAX_POOL : TQ__Q_AVG_POOL;
        qn->pool = n->attrs.pool;
        /* Padding that counts: the padded taps are real 0, the zero point
         * (the int8 kernel alone divides by the real taps). */
        qn->padded_pool = n->op == TQ_OP_AVG_POOL && n->attrs.count_include_pad &&
                          (n->attrs.pool.pad_top || n->attrs.pool.pad_bottom ||
                           n->attrs.pool.pad_left || n->attrs.pool.pad_right);
        qn->pad_value = (int8_t)ti->zero_point[0];
        qn->act_min = -128;
        qn->act_max = 127;
        return TQ_OK;
    case TQ_OP_GLOBAL_AVG_POOL: {
        const tq_dims d = tq__graph_dims(x->q, in0, 1);
        qn->kind = TQ__Q_AVG_POOL;
        qn->pool = (tq_pool_params){d.h, d.w, 1, 1, 0, 0, 0, 0};
        qn->act_min = -128;
        qn->act_max = 127;
        return TQ_OK;
    }
    case TQ_OP_RESHAPE:
    case TQ_OP_IDENTITY:
        if (x->q->tensors[out].alias >= 0) {
            qn->kind = TQ__Q_ALIAS;
            return TQ_OK;
        }
        qn->kind = TQ__Q_LOOKUP;
        return tables(x, n, qn, 1, FN_COPY, 0.0, 0.0, 0.0);
    case TQ_OP_PAD:
        qn->kind = TQ__Q_PAD;
        qn->conv = n->attrs.conv;
        qn->pad_value = (int8_t)ti->zero_point[0];
        return TQ_OK;
    case TQ_OP_ACTIVATION: {
        double lo = -INFINITY, hi = INFINITY;
        switch (n->attrs.act) {
        case TQ_ACT_NONE:
            break;
        case TQ_ACT_RELU:
            lo = 0.0;
            break;
        case TQ_ACT_RELU6:
            lo = 0.0, hi = 6.0;
            break;
        case TQ_ACT_CLIP:
            lo = n->attrs.act_min, hi = n->attrs.act_max;
            break;
        default:
            return unsupported(x, n, "unknown activation");
        }
        qn->kind = TQ__Q_LOOKUP;
        return tables(x, n, qn, 1, FN_CLAMP, lo, hi, 0.0);
    }
    case TQ_OP_LEAKY_RELU:
        qn->kind = TQ__Q_LOOKUP;
        return tables(x, n, qn, 1, FN_LEAKY, 0.0, 0.0, n->attrs.alpha);
    case TQ_OP_CONCAT:
        for (int32_t i = 0; i < n->n_inputs; ++i)
            if (is_constant(x, n->inputs[i]))
                return unsupported(x, n, "a constant input");
        qn->kind = TQ__Q_CONCAT;
        return tables(x, n, qn, n->n_inputs, FN_COPY, 0.0, 0.0, 0.0);
    case TQ_OP_ADD:
    case TQ_OP_MUL: {
        const int32_t in1 = n->inputs[1];
        const tq__tensor *t1 = &x->q->tensors[in1];
        if (is_constant(x, in1)) {
            if (t1->dtype != TQ_F32)
                return unsupported(x, n, "its constant is not f32");
            return n->op == TQ_OP_ADD
                       ? affine(x, index, qn, NULL, 0, t1->data,
                                (int64_t)t1->numel)
                       : affine(x, index, qn, t1->data, (int64_t)t1->numel,
                                NULL, 0);
        }
        if (n->op == TQ_OP_MUL)
            return unsupported(x, n, "a product of two activations has no "
                                     "int8 kernel");
        int32_t lo, hi;
        TQ_CHECK(act_clamp(x, n, to->scale[0], to->zero_point[0], &lo, &hi));
        qn->kind = TQ__Q_ADD;
        tq_status s = tq_s8_add_params_from_scales(
            ti->scale[0], ti->zero_point[0], t1->scale[0], t1->zero_point[0],
            to->scale[0], to->zero_point[0], lo, hi, x->cfg->rounding,
            &qn->add);
        if (s != TQ_OK)
            return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node "
                                  "%s (%s): scales %g, %g -> %g give no int8 "
                                  "ADD parameters", n->name,
                                  tq__op_name(n->op), (double)ti->scale[0],
                                  (double)t1->scale[0], (double)to->scale[0]);
        return TQ_OK;
    }
    case TQ_OP_BATCH_NORM:
        if (n->aff_count <= 0)
            return unsupported(x, n, "no per-channel affine form");
        return affine(x, index, qn, n->aff_scale, n->aff_count, n->aff_shift,
                      n->aff_count);
    case TQ_OP_SOFTMAX:
        return unsupported(x, n, "a Softmax that is not the last node has no "
                                 "int8 kernel");
    default:
        return unsupported(x, n, "no int8 kernel for this op");
    }
}

/* Remove node @p p (a trailing Softmax): its output stops being used, the
 * Softmax's input becomes the graph output. */
static void drop_node(tq_graph *g, int32_t p)
{
    tq__node *n = &g->nodes[p];
    g->tensors[n->output].used = 0;
    g->tensors[n->output].producer = -1;
    g->output = n->inputs[0];
    free(n->name);
    free(n->inputs);
    free(n->bn_scale);
    free(n->bn_shift);
    free(n->aff_scale);
    free(n->aff_shift);
    memmove(n, n + 1, (size_t)(g->n_nodes - p - 1) * sizeof *n);
    g->n_nodes--;
    for (int32_t t = 0; t < g->n_tensors; ++t)
        if (g->tensors[t].producer > p)
            g->tensors[t].producer--;
}

tq_status tq_graph_quantize(const tq_graph *graph,
                            const tq_calibrator *calibrator,
                            tq_graph **quantized)
{
    if (!graph || !calibrator || !quantized)
        return TQ_ERR_NULL;
    /* Only its error sentence, and only on failure: the float graph may be
     * in use by other threads. */
    tq_graph *src = (tq_graph *)graph;
    if (!graph->finalized)
        return tq__graph_fail(src, TQ_ERR_PARAM, "quantize: the graph is not "
                              "finalized");
    if (graph->quantized)
        return tq__graph_fail(src, TQ_ERR_PARAM, "quantize: the graph is "
                              "already quantized");
    if (calibrator->graph != graph)
        return tq__graph_fail(src, TQ_ERR_PARAM, "quantize: the calibrator "
                              "observes another graph");
    if (calibrator->state != TQ__CALIB_DONE)
        return tq__graph_fail(src, TQ_ERR_PARAM, "quantize: calibration is "
                              "not complete (feed batches and end every pass "
                              "until tq_calibrator_end_pass() reports no "
                              "other pass)");

    tq_graph *q = NULL;
    tq_status s = tq__graph_clone(graph, &q);
    if (s != TQ_OK)
        return tq__graph_fail(src, s, "quantize: cannot copy the graph: %s",
                              tq_status_message(s));
    q->q = calloc(1, sizeof *q->q);
    q->q_free = tq__quant_free;
    if (!q->q) {
        tq_graph_free(q);
        return tq__graph_fail(src, TQ_ERR_NO_MEMORY, "quantize: no memory");
    }
    /* A trailing Softmax does not change the argmax: drop it. */
    const int32_t last = q->tensors[q->output].producer;
    if (last >= 0 && q->nodes[last].op == TQ_OP_SOFTMAX)
        drop_node(q, last);
    q->q->output_node = q->tensors[tq__graph_root(q, q->output)].producer;
    q->q->config = calibrator->config;

    qctx x = {src, q, calibrator, &calibrator->config};
    s = act_from_calibration(&x, q->input);
    for (int32_t i = 0; i < q->n_nodes && s == TQ_OK; ++i)
        s = quantize_node(&x, i);
    if (s == TQ_OK) {
        for (int32_t t = 0; t < q->n_tensors; ++t)
            if (q->tensors[t].kind != TQ__TENSOR_CONSTANT)
                q->tensors[t].dtype = TQ_S8;
        q->quantized = 1;
        q->q_scratch = tq__quant_scratch;
        s = tq__graph_plan(q, 16);
        if (s != TQ_OK)
            tq__graph_fail(src, s, "quantize: arena plan: %s",
                           tq_status_message(s));
    }
    if (s != TQ_OK) {
        if (s == TQ_ERR_NO_MEMORY)
            tq__graph_fail(src, s, "quantize: no memory");
        tq_graph_free(q);
        return s;
    }
    *quantized = q;
    return TQ_OK;
}
