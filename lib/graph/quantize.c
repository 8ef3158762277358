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
    int32_t *dt; /* per tensor: the activation's type (TQ_S8 / TQ_S16) */
} qctx;

/* The codes an int8 activation @p t may take: its scheme's range when the
 * scheme has fewer than 8 bits (int8 codes restricted to 2^bits levels,
 * kept there by the clamp of the node that writes it), else [−128, 127].
 * Tensors the calibrator does not observe (pool, pad outputs: they carry
 * their input's codes) and int16 tensors are not restricted here. */
static void scheme_codes(const qctx *x, int32_t t, int32_t *qlo,
                         int32_t *qhi)
{
    double lo, hi;
    const tq_qscheme *scheme;
    *qlo = -128;
    *qhi = 127;
    if (t < 0 || t >= x->cal->n_tensors || /* a conversion's own tensor */
        tq__calibrator_tensor_range(x->cal, t, &lo, &hi, &scheme) != TQ_OK ||
        scheme->bits >= 8)
        return;
    int32_t a, b;
    if (tq_qscheme_qrange(scheme, &a, &b) == TQ_OK)
        *qlo = a, *qhi = b;
}

static void code_range(const qctx *x, int32_t t, int32_t *qlo, int32_t *qhi)
{
    *qlo = -128;
    *qhi = 127;
    if (x->dt[t] == TQ_S8)
        scheme_codes(x, t, qlo, qhi);
}

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
    free(n->own_bias64);
    free(n->cvt);
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

/* Activation @p t's parameters as type @p dtype from the calibrator: int8
 * from its range under its scheme; int16 symmetric, zero point 0, scale
 * max(|min|, |max|) / 32767 over the calibration data (TFLite's 16x8). */
static tq_status calib_params(qctx *x, int32_t t, int32_t dtype, float *scale,
                              int32_t *zp)
{
    double lo, hi;
    const tq_qscheme *scheme;
    if (tq__calibrator_tensor_range(x->cal, t, &lo, &hi, &scheme) != TQ_OK)
        return tq__graph_fail(x->src, TQ_ERR_PARAM, "quantize: tensor %d (%s) "
                              "was not observed by the calibrator", t,
                              x->q->tensors[t].name);
    if (dtype == TQ_S16) {
        const tq_stats *st = &x->cal->obs[tq__graph_root(x->q, t)].stats;
        const double m = fabs(st->min) > fabs(st->max) ? fabs(st->min)
                                                        : fabs(st->max);
        const float f = (float)(m / 32767.0);
        if (!isfinite(f) || !(f >= 1e-30f))
            *scale = m > 0.0 ? 1e-30f : 1.0f;
        else
            *scale = f;
        *zp = 0;
        return TQ_OK;
    }
    tq_status s = tq_qparams_from_range(scheme, lo, hi, scale, zp);
    if (s != TQ_OK)
        return tq__graph_fail(x->src, s, "quantize: tensor %s: range [%g, %g] "
                              "gives no usable scale",
                              x->q->tensors[t].name, lo, hi);
    return TQ_OK;
}

/* Tensor @p t's parameters from the calibrator, under its type. */
static tq_status act_from_calibration(qctx *x, int32_t t)
{
    float scale;
    int32_t zp;
    TQ_CHECK(calib_params(x, t, x->dt[t], &scale, &zp));
    return set_qparams(&x->q->tensors[t], 1, 0, &scale, &zp);
}

/* Activation @p t's parameters when read as type @p dtype: its own under
 * its type, else the calibration's (its input is requantized). */
static tq_status params_as(qctx *x, int32_t t, int32_t dtype, float *scale,
                           int32_t *zp)
{
    if (dtype == x->dt[t]) {
        *scale = x->q->tensors[t].scale[0];
        *zp = x->q->tensors[t].zero_point[0];
        return TQ_OK;
    }
    return calib_params(x, t, dtype, scale, zp);
}

/* Tensor @p dst takes @p src's parameters (as read by dst's type). */
static tq_status act_share(qctx *x, int32_t dst, int32_t src)
{
    float scale;
    int32_t zp;
    TQ_CHECK(params_as(x, src, x->dt[dst], &scale, &zp));
    return set_qparams(&x->q->tensors[dst], 1, 0, &scale, &zp);
}

/* The requantization of a conversion node (TFLite QUANTIZE int8 <->
 * int16) from its input's parameters to its output's. */
static tq_status convert_params(qctx *x, const tq__node *n,
                                struct tq__qnode *qn)
{
    const tq__tensor *ti = &x->q->tensors[n->inputs[0]];
    const tq__tensor *to = &x->q->tensors[n->output];
    const int32_t from = x->dt[n->inputs[0]], nd = x->dt[n->output];
    if (!(qn->cvt = calloc(1, sizeof *qn->cvt)))
        return TQ_ERR_NO_MEMORY;
    int32_t m, sh;
    const double eff = (double)ti->scale[0] / (double)to->scale[0];
    if (tq_quantize_multiplier(eff, &m, &sh) != TQ_OK)
        return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node %s: "
                              "requantizing %s from %s to %s: scale ratio %g "
                              "cannot be applied", n->name, ti->name,
                              from == TQ_S16 ? "int16" : "int8",
                              nd == TQ_S16 ? "int16" : "int8", eff);
    qn->kind = TQ__Q_CONVERT;
    int32_t qlo = -32768, qhi = 32767;
    if (nd != TQ_S16) /* read as int8 under the source tensor's scheme */
        scheme_codes(x, n->inputs[0], &qlo, &qhi);
    *qn->cvt = (tq__qcvt){from, nd, m, sh, ti->zero_point[0],
                          to->zero_point[0], qlo, qhi};
    return TQ_OK;
}

/* Where a node reads an activation of the other type, a conversion node
 * (an Identity "<tensor>/int16" or "/int8" whose output has the node's
 * type) goes in before it; later readers share it. */
static tq_status insert_conversions(qctx *x)
{
    tq_graph *q = x->q;
    const int32_t nt0 = q->n_tensors;
    int32_t *copy = malloc((size_t)nt0 * sizeof *copy + 1);
    if (!copy)
        return TQ_ERR_NO_MEMORY;
    for (int32_t t = 0; t < nt0; ++t)
        copy[t] = -1;
    tq_status s = TQ_OK;
    for (int32_t i = 0; i < q->n_nodes && s == TQ_OK; ++i) {
        const int32_t nd = x->dt[q->nodes[i].output];
        for (int32_t j = 0; j < q->nodes[i].n_inputs && s == TQ_OK; ++j) {
            const int32_t t = q->nodes[i].inputs[j];
            if (t >= nt0 || q->tensors[t].kind == TQ__TENSOR_CONSTANT ||
                x->dt[t] == nd)
                continue;
            if (copy[t] < 0) {
                /* A new tensor and node (arrays may move). */
                char name[160];
                snprintf(name, sizeof name, "%.140s/%s", q->tensors[t].name,
                         nd == TQ_S16 ? "int16" : "int8");
                int64_t shape[TQ_MAX_DIMS];
                memcpy(shape, q->tensors[t].shape, sizeof shape);
                int32_t id;
                s = tq__graph_new_tensor(q, name, TQ__TENSOR_ACTIVATION,
                                         TQ_F32, q->tensors[t].ndim, shape,
                                         NULL, &id);
                int32_t *dt = s == TQ_OK
                                  ? realloc(x->dt, (size_t)q->n_tensors *
                                                       sizeof *dt)
                                  : NULL;
                if (s == TQ_OK && !dt)
                    s = TQ_ERR_NO_MEMORY;
                if (s != TQ_OK)
                    break;
                x->dt = dt;
                x->dt[id] = nd;
                if (q->n_nodes == q->cap_nodes) {
                    const int32_t cap = q->cap_nodes ? 2 * q->cap_nodes : 16;
                    tq__node *nn = realloc(q->nodes, (size_t)cap * sizeof *nn);
                    if (!nn) {
                        s = TQ_ERR_NO_MEMORY;
                        break;
                    }
                    q->nodes = nn;
                    q->cap_nodes = cap;
                }
                tq__node node;
                memset(&node, 0, sizeof node);
                node.name = malloc(strlen(name) + 12);
                node.inputs = malloc(sizeof *node.inputs);
                if (!node.name || !node.inputs) {
                    free(node.name);
                    free(node.inputs);
                    s = TQ_ERR_NO_MEMORY;
                    break;
                }
                snprintf(node.name, strlen(name) + 12, "%s/requantize", name);
                node.op = TQ_OP_IDENTITY;
                node.n_inputs = 1;
                node.inputs[0] = t;
                node.output = id;
                tq_node_attrs_init(&node.attrs);
                memmove(&q->nodes[i + 1], &q->nodes[i],
                        (size_t)(q->n_nodes - i) * sizeof node);
                q->nodes[i] = node;
                q->n_nodes++;
                for (int32_t k = 0; k < q->n_tensors; ++k)
                    if (q->tensors[k].producer >= i)
                        q->tensors[k].producer++;
                q->tensors[id].producer = i;
                q->tensors[id].used = 1;
                copy[t] = id;
                ++i; /* the reader moved one on */
            }
            q->nodes[i].inputs[j] = copy[t];
        }
    }
    free(copy);
    if (s == TQ_OK)
        q->q->output_node = q->tensors[tq__graph_root(q, q->output)].producer;
    return s;
}

/* The type each activation is requested as: the graph input and output
 * stay int8; else tq_calibrator_set_dtype()'s override or the default. */
static int32_t requested(const qctx *x, int32_t t)
{
    const tq_graph *q = x->q;
    const int32_t r = tq__graph_root(q, t);
    if (r == q->input || r == tq__graph_root(q, q->output))
        return TQ_S8;
    return x->cal->dtype[r] ? x->cal->dtype[r] : x->cal->default_act;
}

/* Every activation's type, in execution order (see
 * tq_calibrator_set_dtype()). */
static tq_status assign_dtypes(qctx *x)
{
    tq_graph *q = x->q;
    const int32_t r_out = tq__graph_root(q, q->output);
    if (x->cal->dtype[r_out] == TQ_S16)
        return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: tensor "
                              "%s is the graph output (a trailing Softmax is "
                              "dropped), which stays int8",
                              q->tensors[r_out].name);
    for (int32_t t = 0; t < q->n_tensors; ++t)
        x->dt[t] = q->tensors[t].kind == TQ__TENSOR_CONSTANT ? 0 : TQ_S8;
    for (int32_t i = 0; i < q->n_nodes; ++i) {
        const tq__node *n = &q->nodes[i];
        const int32_t out = n->output;
        if (q->tensors[out].alias >= 0) {
            x->dt[out] = x->dt[q->tensors[out].alias];
            continue;
        }
        switch (tq__node_s16(q, n)) {
        case TQ__S16_INPUT:
            x->dt[out] = out == r_out ? TQ_S8 : x->dt[n->inputs[0]];
            break;
        case TQ__S16_YES:
            x->dt[out] = requested(x, out);
            break;
        default:
            if (x->cal->dtype[out] == TQ_S16)
                return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: "
                                      "node %s (%s) has no 16x8 kernel for "
                                      "its int16 output %s", n->name,
                                      tq__op_name(n->op), q->tensors[out].name);
            x->dt[out] = TQ_S8;
            break;
        }
    }
    return TQ_OK;
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
    } else if (tq_s8_activation_range(a->act, scale, zp, lo, hi) != TQ_OK) {
        return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node %s "
                              "(%s): fused activation %d", n->name,
                              tq__op_name(n->op), a->act);
    }
    /* ...intersected with the codes of a narrower output scheme. */
    int32_t qlo, qhi;
    code_range(x, n->output, &qlo, &qhi);
    if (*lo < qlo)
        *lo = qlo;
    if (*hi > qhi)
        *hi = qhi;
    if (*lo > *hi) /* the activation's range lies outside: one code */
        *lo = *hi;
    return TQ_OK;
}

/* The clamp of a node's fused activation for an int16 output (scale, zero
 * point 0), TFLite's CalculateActivationRangeQuantized on int16. */
static int32_t bound16(double f, float scale)
{
    if (f == -INFINITY)
        return -32768;
    if (f == INFINITY)
        return 32767;
    const double v = (double)roundf((float)f / scale);
    return v < -32768.0 ? -32768 : (v > 32767.0 ? 32767 : (int32_t)v);
}

static tq_status act_clamp16(qctx *x, const tq__node *n, float scale,
                             int32_t *lo, int32_t *hi)
{
    const tq_node_attrs *a = &n->attrs;
    double l = -INFINITY, h = INFINITY;
    switch (a->act) {
    case TQ_ACT_NONE:
        break;
    case TQ_ACT_RELU:
        l = 0.0;
        break;
    case TQ_ACT_RELU6:
        l = 0.0, h = 6.0;
        break;
    case TQ_ACT_CLIP:
        l = a->act_min, h = a->act_max;
        break;
    default:
        return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node %s "
                              "(%s): fused activation %d", n->name,
                              tq__op_name(n->op), a->act);
    }
    *lo = bound16(l, scale);
    *hi = bound16(h, scale);
    return TQ_OK;
}

/* int64 bias codes round(b / (s_in · s_w[c])) (in double, ties away from
 * zero), for the 16x8 kernels. */
static tq_status bias64(int64_t count, const float *b, float s_in,
                        const float *s_w, int per_channel, int64_t *out)
{
    for (int64_t c = 0; c < count; ++c) {
        if (!isfinite(b[c]))
            return TQ_ERR_NOT_FINITE;
        const double v = round((double)b[c] / ((double)s_in *
                               (double)s_w[per_channel ? c : 0]));
        const double lim = 140737488355327.0; /* 2^47 − 1 */
        out[c] = (int64_t)(v < -lim ? -lim : (v > lim ? lim : v));
    }
    return TQ_OK;
}

/* ---- tables --------------------------------------------------------------------- */

enum { FN_COPY = 0, FN_CLAMP = 1, FN_LEAKY = 2 };

/* out code of every input code: f((q − zp_in) · s_in) requantized to
 * (s_out, zp_out), in double, ties away from zero. */
static void build_table(int8_t table[256], float s_in, int32_t zp_in,
                        float s_out, int32_t zp_out, int32_t qlo,
                        int32_t qhi, int fn, double lo, double hi,
                        double alpha)
{
    for (int32_t q = -128; q <= 127; ++q) {
        double v = ((double)q - zp_in) * (double)s_in;
        if (fn == FN_CLAMP)
            v = v < lo ? lo : (v > hi ? hi : v);
        else if (fn == FN_LEAKY && v < 0.0)
            v *= alpha;
        const double r = (double)zp_out + round(v / (double)s_out);
        table[q + 128] = (int8_t)(r < qlo ? qlo : (r > qhi ? qhi : r));
    }
}

/* ---- weights ------------------------------------------------------------------------ */

/* Quantize f32 weights seen as [rows][cols] with channels along @p axis (0:
 * rows, 1: columns), one scale per channel or (per_channel 0) one for all:
 * the config's weight range method and scheme, HALF_AWAY rounding. */
static tq_status quantize_weights(qctx *x, const tq__node *n, const float *w,
                                  int64_t rows, int64_t cols, int32_t axis,
                                  int per_channel, const tq_qscheme *scheme,
                                  int8_t *codes, float *scales)
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
        if ((s = tq_choose_range(&cfg->weight_range, scheme, &st,
                                 bins ? &h : NULL, &lo, &hi)) != TQ_OK ||
            (s = tq_qparams_from_range(scheme, lo, hi, &scales[c],
                                       &zps[c])) != TQ_OK)
            break;
    }
    if (s == TQ_OK) {
        tq_qparams p = {scales, zps, channels, axis, 0, 0, TQ_FROUND_HALF_AWAY};
        const int64_t shape[2] = {rows, cols};
        tq_tensor src, dst;
        if ((s = tq_qscheme_qrange(scheme, &p.qmin, &p.qmax)) ==
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

/* The output stage of a 16x8 node. */
static tq_status output_stage16(qctx *x, const tq__node *n,
                                struct tq__qnode *qn, int32_t per_channel)
{
    const tq__tensor *o = &x->q->tensors[n->output];
    int32_t lo, hi;
    TQ_CHECK(act_clamp16(x, n, o->scale[0], &lo, &hi));
    const int32_t count = per_channel ? qn->channels : 1;
    for (int32_t c = 0; c < count; ++c)
        if (qn->shift[c] > TQ_S16_SHIFT_MAX)
            return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node "
                                  "%s (%s): output shift %d of channel %d "
                                  "exceeds the int64 requantization's %d",
                                  n->name, tq__op_name(n->op), qn->shift[c],
                                  c, TQ_S16_SHIFT_MAX);
    qn->os16 = (tq_s16_output){qn->mult, qn->shift, per_channel,
                               x->cfg->rounding, lo, hi};
    return TQ_OK;
}

/* Conv, depthwise, FC and the fused conv + pool: weights, bias, stage. */
static tq_status weighted(qctx *x, int32_t index, struct tq__qnode *qn)
{
    tq__node *n = &x->q->nodes[index];
    tq__tensor *w, *b = NULL;
    TQ_CHECK(own_constant(x, n, 1, "weight", &w));
    if (n->n_inputs > 2)
        TQ_CHECK(own_constant(x, n, 2, "bias", &b));
    const int32_t nd = x->dt[n->output];
    float s_in;
    int32_t zp_in;
    TQ_CHECK(params_as(x, n->inputs[0], nd, &s_in, &zp_in));
    /* The weights' type: the override, else the default (int8 under a
     * 16x8 node: there is no 16x4 kernel). */
    const int32_t wt_set = x->cal->dtype[n->inputs[1]];
    int32_t wt = wt_set ? wt_set : x->cal->default_weight;
    if (nd == TQ_S16 && wt == TQ_S4) {
        if (wt_set)
            return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node "
                                  "%s (%s): int4 weights %s need int8 "
                                  "activations (no 16x4 kernel), but its "
                                  "output is int16", n->name,
                                  tq__op_name(n->op), w->name);
        wt = TQ_S8;
    }
    const tq_qscheme scheme4 = {4, 1, 1, x->cfg->weight_scheme.pow2_scale};
    const tq_qscheme *scheme = wt == TQ_S4 ? &scheme4 : &x->cfg->weight_scheme;
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
    const int32_t max_red = nd == TQ_S16 ? TQ_S16_MAX_REDUCTION
                                         : TQ_S8_MAX_REDUCTION;
    if (reduction > max_red)
        return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node %s "
                              "(%s): reduction length %d exceeds the %s "
                              "kernels' %d", n->name, tq__op_name(n->op),
                              reduction, nd == TQ_S16 ? "16x8" : "int8",
                              max_red);
    qn->conv = n->attrs.conv;
    qn->input_offset = nd == TQ_S16 ? 0 : -zp_in;
    const int32_t channels = (int32_t)(axis == 0 ? rows : cols);
    /* The output layer is per tensor: its accumulators share one scale. */
    const int per_channel = x->cfg->weight_per_channel &&
                            index != x->q->q->output_node;
    const int32_t nscale = per_channel ? channels : 1;
    qn->channels = channels;
    const size_t count = (size_t)(rows * cols);
    const size_t bsize = nd == TQ_S16 ? sizeof(int64_t) : sizeof(int32_t);
    int8_t *codes = malloc(count ? count : 1);
    float *scales = malloc((size_t)channels * sizeof *scales);
    void *bias = b ? malloc((size_t)channels * bsize) : NULL;
    if (!codes || !scales || (b && !bias)) {
        free(codes);
        free(scales);
        free(bias);
        return TQ_ERR_NO_MEMORY;
    }
    tq_status s = quantize_weights(x, n, w->data, rows, cols, axis,
                                   per_channel, scheme, codes, scales);
    if (s == TQ_OK && b) {
        s = nd == TQ_S16 ? bias64(channels, b->data, s_in, scales,
                                  per_channel, bias)
                         : tq_quantize_bias(channels, b->data, s_in, scales,
                                            per_channel, bias);
        if (s != TQ_OK)
            tq__graph_fail(x->src, s, "quantize: node %s (%s): bias: %s",
                           n->name, tq__op_name(n->op), tq_status_message(s));
    }
    if (s == TQ_OK)
        s = multipliers(x, n, qn, nscale, s_in, scales,
                        x->q->tensors[n->output].scale[0]);
    /* The constants become int8 (int4) / int32 (int64) tensors of the new
     * graph. */
    if (s == TQ_OK)
        s = set_qparams(w, nscale, per_channel ? (axis == 0 ? 0 : w->ndim - 1)
                                               : 0,
                        scales, NULL);
    if (s == TQ_OK && b) {
        float *bs = malloc((size_t)nscale * sizeof *bs);
        if (!bs)
            s = TQ_ERR_NO_MEMORY;
        for (int32_t c = 0; bs && c < nscale; ++c)
            bs[c] = (float)((double)s_in * (double)scales[c]);
        if (s == TQ_OK)
            s = set_qparams(b, nscale, 0, bs, NULL);
        free(bs);
    }
    free(scales);
    uint8_t *packed4 = NULL;
    if (s == TQ_OK && wt == TQ_S4) {
        if (!(packed4 = malloc(tq_s4_packed_size(count) + 1)))
            s = TQ_ERR_NO_MEMORY;
        else
            s = tq_s4_pack(count, codes, packed4);
    }
    if (s != TQ_OK) {
        free(codes);
        free(bias);
        free(packed4);
        return s;
    }
    free(w->data);
    if (packed4) {
        free(codes);
        w->data = packed4;
        w->dtype = TQ_S4;
        qn->weights4 = packed4;
        qn->weights = NULL;
    } else {
        w->data = codes;
        w->dtype = TQ_S8;
        qn->weights = codes;
    }
    qn->dtype = nd;
    if (qn->kind == TQ__Q_FC && nd == TQ_S8 && !packed4) {
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
    if (qn->kind == TQ__Q_CONV && nd == TQ_S8 && !packed4 &&
        (s = tq__qnode_pack_conv(qn)) != TQ_OK) {
        free(bias);
        return tq__graph_fail(x->src, s, "quantize: node %s (%s): packing the "
                              "weights: %s", n->name, tq__op_name(n->op),
                              tq_status_message(s));
    }
    if (b) {
        free(b->data);
        b->data = bias;
        b->dtype = nd == TQ_S16 ? TQ_S64 : TQ_S32;
        if (nd == TQ_S16)
            qn->bias64 = bias;
        else
            qn->bias = bias;
    }
    if (nd == TQ_S16)
        return output_stage16(x, n, qn, per_channel);
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
    const int32_t nd = x->dt[n->output];
    float s_in;
    int32_t zp_in;
    TQ_CHECK(params_as(x, n->inputs[0], nd, &s_in, &zp_in));
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
    if (nd == TQ_S16)
        qn->own_bias64 = b ? malloc((size_t)C * sizeof *qn->own_bias64) : NULL;
    else
        qn->own_bias = b ? malloc((size_t)C * sizeof *qn->own_bias) : NULL;
    if (!wa || !ba || !scales || !qn->own_weights ||
        (b && !qn->own_bias && !qn->own_bias64)) {
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
    tq_status s = quantize_weights(x, n, wa, 1, C, 1, per_channel,
                                   &x->cfg->weight_scheme, qn->own_weights,
                                   scales);
    if (s == TQ_OK && b) {
        s = nd == TQ_S16 ? bias64(C, ba, s_in, scales, per_channel,
                                  qn->own_bias64)
                         : tq_quantize_bias(C, ba, s_in, scales, per_channel,
                                            qn->own_bias);
        if (s != TQ_OK)
            tq__graph_fail(x->src, s, "quantize: node %s (%s): constant "
                           "term: %s", n->name, tq__op_name(n->op),
                           tq_status_message(s));
    }
    const int32_t nscale = per_channel ? (int32_t)C : 1;
    if (s == TQ_OK)
        s = multipliers(x, n, qn, nscale, s_in, scales,
                        x->q->tensors[n->output].scale[0]);
    free(wa);
    free(ba);
    free(scales);
    TQ_CHECK(s);
    qn->kind = TQ__Q_DEPTHWISE;
    qn->weights = qn->own_weights;
    qn->bias = qn->own_bias;
    qn->bias64 = qn->own_bias64;
    qn->dtype = nd;
    qn->channels = (int32_t)C;
    qn->filter = (tq_dims){1, 1, 1, (int32_t)C};
    qn->conv = (tq_conv_params){1, 1, 0, 0, 0, 0, 1, 1, 1};
    qn->input_offset = nd == TQ_S16 ? 0 : -zp_in;
    if (nd == TQ_S16)
        return output_stage16(x, n, qn, per_channel);
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
    int32_t qlo, qhi;
    code_range(x, n->output, &qlo, &qhi);
    for (int32_t i = 0; i < count; ++i) {
        float s_in;
        int32_t zp_in;
        TQ_CHECK(params_as(x, n->inputs[i], TQ_S8, &s_in, &zp_in));
        build_table(qn->tables + 256 * i, s_in, zp_in, o->scale[0],
                    o->zero_point[0], qlo, qhi, fn, lo, hi, alpha);
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
    const tq__tensor *to = &x->q->tensors[out];
    const int32_t nd = x->dt[out];
    const int32_t qlo = nd == TQ_S16 ? -32768 : -128;
    const int32_t qhi = nd == TQ_S16 ? 32767 : 127;
    qn->dtype = nd;

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
        /* (the output shares the input's parameters as read) */
        qn->pad_value = (int8_t)to->zero_point[0];
        qn->act_min = qlo;
        qn->act_max = qhi;
        return TQ_OK;
    case TQ_OP_GLOBAL_AVG_POOL: {
        const tq_dims d = tq__graph_dims(x->q, in0, 1);
        qn->kind = TQ__Q_AVG_POOL;
        qn->pool = (tq_pool_params){d.h, d.w, 1, 1, 0, 0, 0, 0};
        qn->act_min = qlo;
        qn->act_max = qhi;
        return TQ_OK;
    }
    case TQ_OP_RESHAPE:
    case TQ_OP_IDENTITY:
        if (x->dt[in0] != nd)
            return convert_params(x, n, qn);
        if (x->q->tensors[out].alias >= 0) {
            qn->kind = TQ__Q_ALIAS;
            return TQ_OK;
        }
        qn->kind = TQ__Q_LOOKUP;
        return tables(x, n, qn, 1, FN_COPY, 0.0, 0.0, 0.0);
    case TQ_OP_PAD:
        qn->kind = TQ__Q_PAD;
        qn->conv = n->attrs.conv;
        qn->pad_value = (int8_t)to->zero_point[0];
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
        int32_t lo, hi, z0, z1;
        float s0, s1;
        TQ_CHECK(params_as(x, in0, nd, &s0, &z0));
        TQ_CHECK(params_as(x, in1, nd, &s1, &z1));
        qn->kind = TQ__Q_ADD;
        tq_status s;
        if (nd == TQ_S16) {
            TQ_CHECK(act_clamp16(x, n, to->scale[0], &lo, &hi));
            s = tq_s16_add_params_from_scales(s0, s1, to->scale[0], lo, hi,
                                              x->cfg->rounding, &qn->add);
        } else {
            TQ_CHECK(act_clamp(x, n, to->scale[0], to->zero_point[0], &lo,
                               &hi));
            s = tq_s8_add_params_from_scales(s0, z0, s1, z1, to->scale[0],
                                             to->zero_point[0], lo, hi,
                                             x->cfg->rounding, &qn->add);
        }
        if (s != TQ_OK)
            return tq__graph_fail(x->src, TQ_ERR_UNSUPPORTED, "quantize: node "
                                  "%s (%s): scales %g, %g -> %g give no %s "
                                  "ADD parameters", n->name,
                                  tq__op_name(n->op), (double)s0, (double)s1,
                                  (double)to->scale[0],
                                  nd == TQ_S16 ? "int16" : "int8");
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

    qctx x = {src, q, calibrator, &calibrator->config,
              malloc((size_t)q->n_tensors * sizeof(int32_t) + 1)};
    if (!x.dt) {
        tq_graph_free(q);
        return tq__graph_fail(src, TQ_ERR_NO_MEMORY, "quantize: no memory");
    }
    s = assign_dtypes(&x);
    if (s == TQ_OK)
        s = insert_conversions(&x);
    if (s == TQ_OK)
        s = act_from_calibration(&x, q->input);
    for (int32_t i = 0; i < q->n_nodes && s == TQ_OK; ++i)
        s = quantize_node(&x, i);
    if (s == TQ_OK) {
        for (int32_t t = 0; t < q->n_tensors; ++t)
            if (q->tensors[t].kind != TQ__TENSOR_CONSTANT)
                q->tensors[t].dtype = x.dt[t];
        q->quantized = 1;
        q->q_scratch = tq__quant_scratch;
        s = tq__graph_plan(q, 16);
        if (s != TQ_OK)
            tq__graph_fail(src, s, "quantize: arena plan: %s",
                           tq_status_message(s));
    }
    free(x.dt);
    if (s != TQ_OK) {
        if (s == TQ_ERR_NO_MEMORY)
            tq__graph_fail(src, s, "quantize: no memory");
        tq_graph_free(q);
        return s;
    }
    *quantized = q;
    return TQ_OK;
}
