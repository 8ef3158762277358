/*
 * Calibration of a float graph: streaming observers on every activation
 * (host only).
 *
 * The scheme has at most two passes over the caller's batches, driven by
 * tq_calibrator_end_pass():
 *  - pass 1: each activation's statistics (tq_stats: count, min, max,
 *    moments), which is all MINMAX, ABSMAX and KSIGMA need;
 *  - pass 2, only when some tensor's method needs a histogram
 *    (PERCENTILE, MSE, KL): a histogram of config.histogram_bins bins over
 *    pass 1's [min, max] of that tensor, so no value falls outside it when
 *    the same batches are fed again.
 * Then every range is chosen once with tq_choose_range() under the
 * tensor's scheme. Nothing holds the activations themselves.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"

static tq_status calib_fail(tq_calibrator *c, tq_status s, const char *fmt,
                            ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static tq_status calib_fail(tq_calibrator *c, tq_status s, const char *fmt,
                            ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    return s;
}

static int needs_histogram(int32_t method)
{
    return method == TQ_RANGE_PERCENTILE || method == TQ_RANGE_MSE ||
           method == TQ_RANGE_KL;
}

/* The options of a range method, as tq_choose_range() checks them. */
static int range_ok(const tq_range_config *r)
{
    switch (r->method) {
    case TQ_RANGE_MINMAX:
    case TQ_RANGE_ABSMAX:
    case TQ_RANGE_MSE:
    case TQ_RANGE_KL:
        return 1;
    case TQ_RANGE_KSIGMA:
        return isfinite(r->k) && r->k > 0.0;
    case TQ_RANGE_PERCENTILE:
        return r->percentile > 50.0 && r->percentile <= 100.0;
    default:
        return 0;
    }
}

/* A scheme the int8 graph can use: legal, and 8 bits; an activation
 * scheme (@p narrow_ok) may have fewer bits: its codes are int8 codes kept
 * in its range by the output clamps (docs/recovery.md "W4A4"). */
static tq_status scheme_check(tq_calibrator *c, const tq_qscheme *s,
                              const char *what, int narrow_ok)
{
    int32_t qmin, qmax;
    if (tq_qscheme_qrange(s, &qmin, &qmax) != TQ_OK)
        return calib_fail(c, TQ_ERR_PARAM, "%s: illegal scheme (bits %d, "
                          "flags %d/%d/%d)", what, s->bits, s->symmetric,
                          s->narrow_range, s->pow2_scale);
    if (s->bits != 8 && !narrow_ok)
        return calib_fail(c, TQ_ERR_UNSUPPORTED, "%s: %d-bit tensors are not "
                          "supported by the integer graph (8 bits only)",
                          what, s->bits);
    return TQ_OK;
}

tq_status tq_quant_config_init(tq_quant_config *config)
{
    if (!config)
        return TQ_ERR_NULL;
    memset(config, 0, sizeof *config);
    config->activation_range.method = TQ_RANGE_MINMAX;
    config->activation_range.k = 3.0;
    config->activation_range.percentile = 99.99;
    config->activation_scheme = (tq_qscheme){8, 0, 0, 0};
    config->weight_range = config->activation_range;
    config->weight_scheme = (tq_qscheme){8, 1, 1, 0};
    config->weight_per_channel = 1;
    config->rounding = TQ_ROUND_DOUBLE;
    config->histogram_bins = 2048;
    return TQ_OK;
}

/* Every field of a configuration, with a sentence for the first fault. */
static tq_status config_check(tq_calibrator *c, const tq_quant_config *q)
{
    if (!range_ok(&q->activation_range))
        return calib_fail(c, TQ_ERR_PARAM, "config: bad activation range "
                          "method %d or option", q->activation_range.method);
    if (!range_ok(&q->weight_range))
        return calib_fail(c, TQ_ERR_PARAM, "config: bad weight range method "
                          "%d or option", q->weight_range.method);
    TQ_CHECK(scheme_check(c, &q->activation_scheme, "config activations",
                          1));
    TQ_CHECK(scheme_check(c, &q->weight_scheme, "config weights", 0));
    if (!q->weight_scheme.symmetric)
        return calib_fail(c, TQ_ERR_UNSUPPORTED, "config: the int8 kernels "
                          "take symmetric weights only");
    if (q->weight_per_channel != 0 && q->weight_per_channel != 1)
        return calib_fail(c, TQ_ERR_PARAM, "config: weight_per_channel %d is "
                          "neither 0 nor 1", q->weight_per_channel);
    if (q->rounding != TQ_ROUND_DOUBLE && q->rounding != TQ_ROUND_SINGLE)
        return calib_fail(c, TQ_ERR_PARAM, "config: rounding %d is no "
                          "tq_rounding", q->rounding);
    if (q->histogram_bins < 1 || q->histogram_bins > TQ__CALIB_MAX_BINS)
        return calib_fail(c, TQ_ERR_PARAM, "config: histogram_bins %d outside "
                          "1..%d", q->histogram_bins, TQ__CALIB_MAX_BINS);
    return TQ_OK;
}

void tq_calibrator_free(tq_calibrator *c)
{
    if (!c)
        return;
    for (int32_t t = 0; c->obs && t < c->n_tensors; ++t)
        free(c->obs[t].bins);
    free(c->obs);
    free(c->batch_stats);
    free(c->dtype);
    free(c->arena);
    free(c);
}

tq_status tq_calibrator_create(const tq_graph *graph,
                               const tq_quant_config *config,
                               tq_calibrator **calibrator)
{
    if (!graph || !config || !calibrator)
        return TQ_ERR_NULL;
    tq_graph *g = (tq_graph *)graph; /* its error sentence, on failure only */
    if (!graph->finalized)
        return tq__graph_fail(g, TQ_ERR_PARAM, "calibrator: the graph is not "
                              "finalized (call tq_graph_finalize() first)");
    if (graph->quantized)
        return tq__graph_fail(g, TQ_ERR_PARAM, "calibrator: the graph is "
                              "already quantized; calibrate its float graph");
    tq_calibrator *c = calloc(1, sizeof *c);
    if (!c)
        return TQ_ERR_NO_MEMORY;
    tq_status s = config_check(c, config);
    if (s != TQ_OK) {
        tq__graph_fail(g, s, "%s", c->error);
        free(c);
        return s;
    }
    c->graph = graph;
    c->config = *config;
    c->n_tensors = graph->n_tensors;
    c->state = TQ__CALIB_PASS1;
    c->obs = calloc((size_t)(c->n_tensors > 0 ? c->n_tensors : 1),
                    sizeof *c->obs);
    c->batch_stats = calloc((size_t)(c->n_tensors > 0 ? c->n_tensors : 1),
                            sizeof *c->batch_stats);
    c->dtype = calloc((size_t)(c->n_tensors > 0 ? c->n_tensors : 1),
                      sizeof *c->dtype);
    c->default_act = TQ_S8;
    c->default_weight = TQ_S8;
    if (!c->obs || !c->batch_stats || !c->dtype) {
        tq_calibrator_free(c);
        return TQ_ERR_NO_MEMORY;
    }
    for (int32_t t = 0; t < c->n_tensors; ++t) {
        tq__observer *o = &c->obs[t];
        o->range = config->activation_range;
        o->scheme = config->activation_scheme;
        tq_stats_init(&o->stats);
    }
    /* The activations with storage of their own: the input and the
     * outputs of the live nodes, aliases (Reshape, Identity) excepted. */
    c->obs[graph->input].observed = 1;
    /* The graph input is quantized to int8 by tq_graph_run_f32(): it keeps
     * 8 bits under a narrower activation scheme. */
    c->obs[graph->input].scheme.bits = 8;
    for (int32_t i = 0; i < graph->n_nodes; ++i) {
        const int32_t t = graph->nodes[i].output;
        c->obs[t].observed = graph->tensors[t].alias < 0;
    }
    *calibrator = c;
    return TQ_OK;
}

const char *tq_calibrator_error(const tq_calibrator *calibrator)
{
    return calibrator ? calibrator->error : "";
}

/* An activation tensor id of the calibrator's graph, else a sentence. */
static tq_status activation_id(tq_calibrator *c, int32_t t)
{
    if (t < 0 || t >= c->n_tensors)
        return calib_fail(c, TQ_ERR_PARAM, "tensor %d does not exist (the "
                          "graph has %d)", t, c->n_tensors);
    const tq__tensor *x = &c->graph->tensors[t];
    if (x->kind == TQ__TENSOR_CONSTANT)
        return calib_fail(c, TQ_ERR_PARAM, "tensor %d (%s) is a constant, "
                          "not an activation", t, x->name);
    if (!c->obs[tq__graph_root(c->graph, t)].observed)
        return calib_fail(c, TQ_ERR_PARAM, "tensor %d (%s) is not used by "
                          "the finalized graph", t, x->name);
    return TQ_OK;
}

tq_status tq_calibrator_set_tensor(tq_calibrator *c, int32_t tensor,
                                   const tq_range_config *range,
                                   const tq_qscheme *scheme)
{
    if (!c)
        return TQ_ERR_NULL;
    c->error[0] = '\0';
    if (!range && !scheme)
        return calib_fail(c, TQ_ERR_NULL, "set_tensor: neither a range "
                          "method nor a scheme given");
    if (c->state != TQ__CALIB_PASS1 || c->fed > 0)
        return calib_fail(c, TQ_ERR_PARAM, "set_tensor: overrides must come "
                          "before the first tq_calibrator_feed()");
    TQ_CHECK(activation_id(c, tensor));
    if (range && !range_ok(range))
        return calib_fail(c, TQ_ERR_PARAM, "set_tensor: tensor %d: bad range "
                          "method %d or option", tensor, range->method);
    if (scheme) {
        char what[64];
        snprintf(what, sizeof what, "set_tensor: tensor %d", tensor);
        TQ_CHECK(scheme_check(c, scheme, what, 1));
        if (scheme->bits != 8 &&
            tq__graph_root(c->graph, tensor) == c->graph->input)
            return calib_fail(c, TQ_ERR_UNSUPPORTED, "set_tensor: the graph "
                              "input %d keeps 8 bits (its caller gives "
                              "int8 codes)", tensor);
    }
    /* An alias (Reshape, Identity output) is its root's storage: the
     * override is the root's. */
    tq__observer *o = &c->obs[tq__graph_root(c->graph, tensor)];
    if (range)
        o->range = *range;
    if (scheme)
        o->scheme = *scheme;
    return TQ_OK;
}

/* ---- integer types ------------------------------------------------------------ */

int32_t tq__node_s16(const tq_graph *g, const tq__node *n)
{
    switch (n->op) {
    case TQ_OP_CONV2D:
    case TQ_OP_DEPTHWISE_CONV2D:
    case TQ_OP_FULLY_CONNECTED:
    case TQ_OP_CONV2D_RELU_MAXPOOL2:
    case TQ_OP_ADD:
    case TQ_OP_BATCH_NORM:
        return TQ__S16_YES;
    case TQ_OP_MUL: /* by a constant only (a 1x1 depthwise conv) */
        return n->n_inputs > 1 &&
                       g->tensors[n->inputs[1]].kind == TQ__TENSOR_CONSTANT
                   ? TQ__S16_YES
                   : TQ__S16_NO;
    case TQ_OP_MAX_POOL:
    case TQ_OP_AVG_POOL:
    case TQ_OP_GLOBAL_AVG_POOL:
    case TQ_OP_PAD:
        return TQ__S16_INPUT;
    default:
        return TQ__S16_NO;
    }
}

int32_t tq__is_weight(const tq_graph *g, int32_t t)
{
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        const tq__node *n = &g->nodes[i];
        if ((n->op == TQ_OP_CONV2D || n->op == TQ_OP_DEPTHWISE_CONV2D ||
             n->op == TQ_OP_FULLY_CONNECTED ||
             n->op == TQ_OP_CONV2D_RELU_MAXPOOL2) &&
            n->n_inputs > 1 && n->inputs[1] == t)
            return 1;
    }
    return 0;
}

tq_status tq_calibrator_set_dtype(tq_calibrator *c, int32_t tensor,
                                  int32_t dtype)
{
    if (!c)
        return TQ_ERR_NULL;
    c->error[0] = '\0';
    if (c->state != TQ__CALIB_PASS1 || c->fed > 0)
        return calib_fail(c, TQ_ERR_PARAM, "set_dtype: overrides must come "
                          "before the first tq_calibrator_feed()");
    const tq_graph *g = c->graph;
    if (tensor < 0 || tensor >= c->n_tensors)
        return calib_fail(c, TQ_ERR_PARAM, "set_dtype: tensor %d does not "
                          "exist (the graph has %d)", tensor, c->n_tensors);
    const tq__tensor *x = &g->tensors[tensor];
    if (x->kind == TQ__TENSOR_CONSTANT) {
        if (!tq__is_weight(g, tensor))
            return calib_fail(c, TQ_ERR_PARAM, "set_dtype: constant %d (%s) "
                              "is not the weight of a conv, depthwise or "
                              "fully connected node", tensor, x->name);
        if (dtype != TQ_S8 && dtype != TQ_S4)
            return calib_fail(c, TQ_ERR_PARAM, "set_dtype: weight %s: dtype "
                              "%d (TQ_S8 or TQ_S4)", x->name, (int)dtype);
        c->dtype[tensor] = dtype;
        return TQ_OK;
    }
    TQ_CHECK(activation_id(c, tensor));
    if (dtype != TQ_S8 && dtype != TQ_S16)
        return calib_fail(c, TQ_ERR_PARAM, "set_dtype: activation %s: dtype "
                          "%d (TQ_S8 or TQ_S16)", x->name, (int)dtype);
    const int32_t r = tq__graph_root(g, tensor);
    if (dtype == TQ_S16) {
        if (r == g->input || r == tq__graph_root(g, g->output))
            return calib_fail(c, TQ_ERR_UNSUPPORTED, "set_dtype: %s is the "
                              "graph %s, which stays int8 (tq_graph_run_s8 "
                              "reads and writes int8)", x->name,
                              r == g->input ? "input" : "output");
        const tq__node *p = &g->nodes[g->tensors[r].producer];
        const int32_t how = tq__node_s16(g, p);
        if (how == TQ__S16_INPUT)
            return calib_fail(c, TQ_ERR_UNSUPPORTED, "set_dtype: %s is the "
                              "output of %s (%s), which keeps its input's "
                              "type: choose the input's", x->name, p->name,
                              tq__op_name(p->op));
        if (how != TQ__S16_YES)
            return calib_fail(c, TQ_ERR_UNSUPPORTED, "set_dtype: %s is the "
                              "output of %s (%s), which has no 16x8 kernel",
                              x->name, p->name, tq__op_name(p->op));
    }
    c->dtype[r] = dtype;
    return TQ_OK;
}

tq_status tq_calibrator_set_default_dtypes(tq_calibrator *c,
                                           int32_t activation_dtype,
                                           int32_t weight_dtype)
{
    if (!c)
        return TQ_ERR_NULL;
    c->error[0] = '\0';
    if (c->state != TQ__CALIB_PASS1 || c->fed > 0)
        return calib_fail(c, TQ_ERR_PARAM, "set_default_dtypes: call before "
                          "the first tq_calibrator_feed()");
    if (activation_dtype != TQ_S8 && activation_dtype != TQ_S16)
        return calib_fail(c, TQ_ERR_PARAM, "set_default_dtypes: activation "
                          "dtype %d (TQ_S8 or TQ_S16)", (int)activation_dtype);
    if (weight_dtype != TQ_S8 && weight_dtype != TQ_S4)
        return calib_fail(c, TQ_ERR_PARAM, "set_default_dtypes: weight dtype "
                          "%d (TQ_S8 or TQ_S4)", (int)weight_dtype);
    c->default_act = activation_dtype;
    c->default_weight = weight_dtype;
    return TQ_OK;
}

/* ---- feeding ---------------------------------------------------------------- */

/* The observation hook of the float run: one activation's values over the
 * whole batch. */
static void observe(void *ctx, int32_t t, const float *x, size_t n)
{
    tq_calibrator *c = ctx;
    if (c->hook_status != TQ_OK || t < 0 || t >= c->n_tensors ||
        !c->obs[t].observed)
        return;
    tq_status s;
    if (c->state == TQ__CALIB_PASS1) {
        s = tq_stats_update_f32(&c->batch_stats[t], x, n);
    } else {
        if (!c->obs[t].bins)
            return;
        s = tq_histogram_add_f32(&c->obs[t].hist, x, n);
    }
    if (s != TQ_OK) {
        c->hook_status = s;
        c->hook_tensor = t;
    }
}

tq_status tq_calibrator_feed(tq_calibrator *c, int64_t batch,
                             const float *input)
{
    if (!c || !input)
        return TQ_ERR_NULL;
    c->error[0] = '\0';
    if (c->state == TQ__CALIB_BROKEN)
        return calib_fail(c, TQ_ERR_PARAM, "feed: an earlier feed of the "
                          "second pass failed; create a new calibrator");
    if (c->state == TQ__CALIB_DONE)
        return calib_fail(c, TQ_ERR_PARAM, "feed: calibration is complete");
    const tq_graph *g = c->graph;
    if (batch < 1)
        return calib_fail(c, TQ_ERR_PARAM, "feed: batch %lld < 1",
                          (long long)batch);
    size_t count;
    if (tq__mul_size(g->tensors[g->input].numel, (size_t)batch, &count))
        return calib_fail(c, TQ_ERR_OVERFLOW, "feed: batch %lld is too large",
                          (long long)batch);
    for (size_t i = 0; i < count; ++i)
        if (!isfinite(input[i]))
            return calib_fail(c, TQ_ERR_NOT_FINITE, "feed: input value %zu "
                              "is not finite", i);

    size_t need;
    tq_status s = tq_graph_arena_size(g, batch, &need);
    if (s != TQ_OK)
        return calib_fail(c, s, "feed: %s", tq_graph_error(g));
    if (need > c->arena_bytes) {
        void *a = malloc(need);
        if (!a)
            return calib_fail(c, TQ_ERR_NO_MEMORY, "feed: no memory for a "
                              "%zu-byte arena", need);
        free(c->arena);
        c->arena = a;
        c->arena_bytes = need;
    }
    for (int32_t t = 0; t < c->n_tensors; ++t)
        tq_stats_init(&c->batch_stats[t]);
    c->hook_status = TQ_OK;
    c->hook_tensor = -1;
    s = tq__graph_run_f32_observed(g, batch, input, c->arena, c->arena_bytes,
                                   observe, c);
    if (s == TQ_OK && c->hook_status != TQ_OK)
        s = c->hook_status;
    if (s != TQ_OK) {
        const char *why = c->hook_tensor >= 0
                              ? g->tensors[c->hook_tensor].name
                              : tq_graph_error(g);
        if (c->state == TQ__CALIB_PASS2) {
            c->state = TQ__CALIB_BROKEN;
            return calib_fail(c, s, "feed: second pass failed (%s: %s); the "
                              "histograms are incomplete, create a new "
                              "calibrator", why, tq_status_message(s));
        }
        return calib_fail(c, s, "feed: %s: %s", why, tq_status_message(s));
    }
    if (c->state == TQ__CALIB_PASS1)
        for (int32_t t = 0; t < c->n_tensors; ++t)
            if (c->obs[t].observed)
                tq_stats_merge(&c->obs[t].stats, &c->batch_stats[t]);
    c->fed += batch;
    return TQ_OK;
}

/* ---- ending a pass ------------------------------------------------------------ */

static tq_status choose_ranges(tq_calibrator *c)
{
    for (int32_t t = 0; t < c->n_tensors; ++t) {
        tq__observer *o = &c->obs[t];
        if (!o->observed)
            continue;
        const tq_status s =
            tq_choose_range(&o->range, &o->scheme, &o->stats,
                            o->bins ? &o->hist : NULL, &o->lo, &o->hi);
        if (s != TQ_OK)
            return calib_fail(c, s, "end_pass: tensor %d (%s): no range "
                              "(method %d): %s", t, c->graph->tensors[t].name,
                              o->range.method, tq_status_message(s));
    }
    return TQ_OK;
}

static tq_status start_histograms(tq_calibrator *c)
{
    const uint32_t nb = (uint32_t)c->config.histogram_bins;
    for (int32_t t = 0; t < c->n_tensors; ++t) {
        tq__observer *o = &c->obs[t];
        if (!o->observed || !needs_histogram(o->range.method))
            continue;
        o->bins = malloc((size_t)nb * sizeof *o->bins);
        if (!o->bins) {
            for (int32_t u = 0; u <= t; ++u) {
                free(c->obs[u].bins);
                c->obs[u].bins = NULL;
            }
            return calib_fail(c, TQ_ERR_NO_MEMORY, "end_pass: no memory for "
                              "the histograms");
        }
        /* Pass 1's range; a constant tensor gets a unit-wide one. */
        const double lo = o->stats.min;
        const double hi = o->stats.max > lo ? o->stats.max : lo + 1.0;
        tq_histogram_init(&o->hist, o->bins, nb, lo, hi);
    }
    return TQ_OK;
}

tq_status tq_calibrator_end_pass(tq_calibrator *c, int32_t *another_pass)
{
    if (!c || !another_pass)
        return TQ_ERR_NULL;
    c->error[0] = '\0';
    if (c->state == TQ__CALIB_BROKEN)
        return calib_fail(c, TQ_ERR_PARAM, "end_pass: an earlier feed of the "
                          "second pass failed; create a new calibrator");
    if (c->state == TQ__CALIB_DONE)
        return calib_fail(c, TQ_ERR_PARAM, "end_pass: calibration is "
                          "already complete");
    if (c->fed == 0)
        return calib_fail(c, TQ_ERR_EMPTY, "end_pass: nothing was fed in "
                          "this pass");
    if (c->state == TQ__CALIB_PASS1) {
        int need = 0;
        for (int32_t t = 0; t < c->n_tensors; ++t)
            need |= c->obs[t].observed &&
                    needs_histogram(c->obs[t].range.method);
        if (need) {
            TQ_CHECK(start_histograms(c));
            c->state = TQ__CALIB_PASS2;
            c->fed_pass1 = c->fed;
            c->fed = 0;
            *another_pass = 1;
            return TQ_OK;
        }
        TQ_CHECK(choose_ranges(c));
        c->state = TQ__CALIB_DONE;
        *another_pass = 0;
        return TQ_OK;
    }
    /* Pass 2 must have seen exactly pass 1's values. */
    for (int32_t t = 0; t < c->n_tensors; ++t) {
        const tq__observer *o = &c->obs[t];
        if (o->bins && tq_histogram_total(&o->hist) != o->stats.count)
            return calib_fail(c, TQ_ERR_PARAM, "end_pass: the second pass "
                              "saw %llu values of tensor %d (%s), the first "
                              "%llu: feed the same batches again",
                              (unsigned long long)tq_histogram_total(&o->hist),
                              t, c->graph->tensors[t].name,
                              (unsigned long long)o->stats.count);
    }
    TQ_CHECK(choose_ranges(c));
    c->state = TQ__CALIB_DONE;
    *another_pass = 0;
    return TQ_OK;
}

tq_status tq__calibrator_tensor_range(const tq_calibrator *c, int32_t t,
                                      double *lo, double *hi,
                                      const tq_qscheme **scheme)
{
    const tq__observer *o = &c->obs[tq__graph_root(c->graph, t)];
    if (!o->observed)
        return TQ_ERR_PARAM;
    *lo = o->lo;
    *hi = o->hi;
    *scheme = &o->scheme;
    return TQ_OK;
}

tq_status tq_calibrator_range(const tq_calibrator *calibrator, int32_t tensor,
                              double *lo, double *hi)
{
    if (!calibrator || !lo || !hi)
        return TQ_ERR_NULL;
    tq_calibrator *c = (tq_calibrator *)calibrator; /* its error only */
    c->error[0] = '\0';
    if (c->state != TQ__CALIB_DONE)
        return calib_fail(c, TQ_ERR_PARAM, "range: calibration is not "
                          "complete (tq_calibrator_end_pass() has not "
                          "reported the last pass)");
    TQ_CHECK(activation_id(c, tensor));
    const tq_qscheme *scheme;
    return tq__calibrator_tensor_range(c, tensor, lo, hi, &scheme);
}

tq_status tq_calibrator_stats(const tq_calibrator *calibrator, int32_t tensor,
                              tq_stats *stats)
{
    if (!calibrator || !stats)
        return TQ_ERR_NULL;
    tq_calibrator *c = (tq_calibrator *)calibrator; /* its error only */
    c->error[0] = '\0';
    if (c->state != TQ__CALIB_PASS2 && c->state != TQ__CALIB_DONE)
        return calib_fail(c, TQ_ERR_PARAM, "stats: the first pass has not "
                          "ended (or an earlier feed broke the calibration)");
    TQ_CHECK(activation_id(c, tensor));
    *stats = c->obs[tq__graph_root(c->graph, tensor)].stats;
    return TQ_OK;
}
