/*
 * Mixed precision under a budget (host only): per-layer sensitivity to int4
 * weights and int16 activations, and the greedy search of
 * tq_graph_quantize_budget() (docs/mixed-precision-budget.md).
 *
 * One calibration serves every assignment: the calibrator's per-tensor
 * types are read by tq_graph_quantize() only (the int8 ranges, the int16
 * abs-max and the weights' statistics do not depend on them), so the
 * search sets the private calibrator's dtype overrides and quantizes again
 * for each assignment it measures.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"

/* Images per run (float reference and quantized measurements). */
#define BUDGET_BATCH 32

/* Everything one measurement needs. */
typedef struct bctx {
    const tq_graph *g;
    tq_graph *src;          /* g, for its error sentence */
    tq_calibrator *cal;     /* private, complete */
    int64_t count;
    const float *images;
    size_t in_n, out_n;     /* per sample */
    int32_t ref_t;          /* float tensor compared with the output */
    float *ref;             /* count · out_n reference values */
    double ref_power;       /* Σ ref² */
    int32_t *ref_arg;       /* count argmaxes */
    float *capture;         /* the observer's target during a float run */
    int64_t n;              /* layers */
    const tq_layer_sensitivity *rec; /* layer records (node, tensors) */
} bctx;

static int is_weighted(const tq_graph *g, const tq__node *n)
{
    return (n->op == TQ_OP_CONV2D || n->op == TQ_OP_DEPTHWISE_CONV2D ||
            n->op == TQ_OP_FULLY_CONNECTED ||
            n->op == TQ_OP_CONV2D_RELU_MAXPOOL2) &&
           n->n_inputs >= 2 &&
           g->tensors[n->inputs[1]].kind == TQ__TENSOR_CONSTANT;
}

/* The activation the quantized graph's output corresponds to: the graph
 * output, or the input of a trailing Softmax (which quantization drops). */
static int32_t reference_tensor(const tq_graph *g)
{
    int32_t t = tq__graph_root(g, g->output);
    const int32_t p = g->tensors[t].producer;
    if (p >= 0 && g->nodes[p].op == TQ_OP_SOFTMAX)
        t = tq__graph_root(g, g->nodes[p].inputs[0]);
    return t;
}

/* The weighted layers of @p g with their static fields (records may be
 * NULL: count only). */
static int32_t enumerate(const tq_graph *g, tq_layer_sensitivity *rec)
{
    const int32_t out_root = reference_tensor(g);
    int32_t k = 0;
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        const tq__node *n = &g->nodes[i];
        if (!is_weighted(g, n))
            continue;
        if (rec) {
            tq_layer_sensitivity *r = &rec[k];
            memset(r, 0, sizeof *r);
            r->node = i;
            r->weight_tensor = n->inputs[1];
            r->output_tensor = n->output;
            const int32_t root = tq__graph_root(g, n->output);
            r->can_s16 = tq__node_s16(g, n) == TQ__S16_YES &&
                         root != out_root && root != g->input;
            r->weights = (int64_t)g->tensors[n->inputs[1]].numel;
            r->channels = n->n_inputs > 2 && n->inputs[2] >= 0
                              ? (int64_t)g->tensors[n->inputs[2]].numel
                              : 0;
            r->bytes_s8 = r->weights + 4 * r->channels;
            r->bytes_s4 = (int64_t)tq_s4_packed_size((size_t)r->weights) +
                          4 * r->channels;
            r->bytes_s16 = r->weights + 8 * r->channels;
        }
        ++k;
    }
    return k;
}

static void capture_ref(void *vctx, int32_t t, const float *x, size_t n)
{
    bctx *c = vctx;
    if (t == c->ref_t && c->capture)
        memcpy(c->capture, x, n * sizeof *x);
}

static int32_t argmax(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; ++i)
        if (v[i] > v[best])
            best = i;
    return (int32_t)best;
}

static void ctx_free(bctx *c)
{
    tq_calibrator_free(c->cal);
    free(c->ref);
    free(c->ref_arg);
    memset(c, 0, sizeof *c);
}

/* Calibrate a private calibrator on the images and run the float graph once
 * for the reference outputs. */
static tq_status ctx_init(bctx *c, const tq_graph *g,
                          const tq_quant_config *config, int64_t count,
                          const float *images)
{
    tq_graph *src = (tq_graph *)g;
    memset(c, 0, sizeof *c);
    c->g = g, c->src = src, c->count = count, c->images = images;
    c->ref_t = reference_tensor(g);
    c->in_n = g->tensors[g->input].numel;
    c->out_n = g->tensors[c->ref_t].numel;
    size_t total;
    if (tq__mul_size(c->out_n, (size_t)count, &total) ||
        tq__mul_size(c->in_n, (size_t)count, &total))
        return tq__graph_fail(src, TQ_ERR_OVERFLOW, "budget: %lld images "
                              "are too many", (long long)count);
    for (size_t i = 0; i < total; ++i)
        if (!isfinite(images[i]))
            return tq__graph_fail(src, TQ_ERR_NOT_FINITE, "budget: image "
                                  "value %zu is not finite", i);
    c->ref = malloc(c->out_n * (size_t)count * sizeof *c->ref);
    c->ref_arg = malloc((size_t)count * sizeof *c->ref_arg);
    if (!c->ref || !c->ref_arg) {
        ctx_free(c);
        return tq__graph_fail(src, TQ_ERR_NO_MEMORY, "budget: no memory");
    }

    tq_quant_config def;
    if (!config) {
        tq_quant_config_init(&def);
        config = &def;
    }
    tq_status s = tq_calibrator_create(g, config, &c->cal);
    if (s != TQ_OK) {
        ctx_free(c);
        return s; /* explained by tq_calibrator_create() */
    }
    int32_t again = 1;
    while (again && s == TQ_OK) {
        for (int64_t b = 0; b < count && s == TQ_OK; b += BUDGET_BATCH) {
            const int64_t nb = count - b < BUDGET_BATCH ? count - b
                                                        : BUDGET_BATCH;
            s = tq_calibrator_feed(c->cal, nb, images + (size_t)b * c->in_n);
        }
        if (s == TQ_OK)
            s = tq_calibrator_end_pass(c->cal, &again);
    }
    if (s != TQ_OK) {
        tq__graph_fail(src, s, "budget: calibration: %s",
                       tq_calibrator_error(c->cal));
        ctx_free(c);
        return s;
    }

    size_t bytes;
    s = tq_graph_arena_size(g, BUDGET_BATCH, &bytes);
    void *arena = s == TQ_OK ? malloc(bytes) : NULL;
    if (s == TQ_OK && !arena)
        s = TQ_ERR_NO_MEMORY;
    c->ref_power = 0.0;
    for (int64_t b = 0; b < count && s == TQ_OK; b += BUDGET_BATCH) {
        const int64_t nb = count - b < BUDGET_BATCH ? count - b : BUDGET_BATCH;
        c->capture = c->ref + (size_t)b * c->out_n;
        s = tq__graph_run_f32_observed(g, nb, images + (size_t)b * c->in_n,
                                       arena, bytes, capture_ref, c);
    }
    c->capture = NULL;
    free(arena);
    if (s != TQ_OK) {
        if (s == TQ_ERR_NO_MEMORY)
            tq__graph_fail(src, s, "budget: no memory");
        ctx_free(c);
        return s;
    }
    for (int64_t i = 0; i < count; ++i) {
        const float *y = c->ref + (size_t)i * c->out_n;
        c->ref_arg[i] = argmax(y, c->out_n);
        for (size_t j = 0; j < c->out_n; ++j)
            c->ref_power += (double)y[j] * y[j];
    }
    return TQ_OK;
}

/* Set the calibrator's overrides to one assignment (wdt / adt: TQ_S8,
 * TQ_S4, TQ_S16 per layer; everything else back to the int8 default). */
static void assign(bctx *c, const int32_t *wdt, const int32_t *adt)
{
    for (int64_t i = 0; i < c->n; ++i) {
        const tq_layer_sensitivity *r = &c->rec[i];
        c->cal->dtype[r->weight_tensor] = wdt[i] == TQ_S4 ? TQ_S4 : 0;
        c->cal->dtype[tq__graph_root(c->g, r->output_tensor)] =
            adt[i] == TQ_S16 ? TQ_S16 : 0;
    }
}

static tq_status quantize_as(bctx *c, const int32_t *wdt, const int32_t *adt,
                             tq_graph **q)
{
    assign(c, wdt, adt);
    tq_status s = tq_graph_quantize(c->g, c->cal, q);
    int32_t *zero = calloc((size_t)c->n + 1, sizeof *zero);
    if (zero) {
        assign(c, zero, zero);
        free(zero);
    }
    return s;
}

static tq_status arena_of(const tq_graph *q, int64_t *bytes)
{
    size_t b;
    TQ_CHECK(tq_graph_arena_size(q, 1, &b));
    *bytes = (int64_t)b;
    return TQ_OK;
}

/* Quantize with one assignment, run it on every image, and compare with the
 * float reference. @p keep receives the quantized graph (or NULL: freed). */
static tq_status measure(bctx *c, const int32_t *wdt, const int32_t *adt,
                         double *error, double *agreement, tq_graph **keep)
{
    tq_graph *q = NULL;
    tq_status s = quantize_as(c, wdt, adt, &q);
    if (s != TQ_OK)
        return s;
    if (q->tensors[q->output].numel != c->out_n) {
        tq_graph_free(q);
        return tq__graph_fail(c->src, TQ_ERR_PARAM, "budget: the quantized "
                              "output has %zu values, the reference %zu",
                              q->tensors[q->output].numel, c->out_n);
    }
    size_t bytes;
    s = tq_graph_arena_size(q, BUDGET_BATCH, &bytes);
    void *arena = s == TQ_OK ? malloc(bytes) : NULL;
    int8_t *xq = malloc((size_t)BUDGET_BATCH * c->in_n);
    int8_t *yq = malloc((size_t)BUDGET_BATCH * c->out_n);
    float *y = malloc((size_t)BUDGET_BATCH * c->out_n * sizeof *y);
    if (s == TQ_OK && (!arena || !xq || !yq || !y))
        s = TQ_ERR_NO_MEMORY;
    double num = 0.0;
    int64_t agree = 0;
    for (int64_t b = 0; b < c->count && s == TQ_OK; b += BUDGET_BATCH) {
        const int64_t nb = c->count - b < BUDGET_BATCH ? c->count - b
                                                       : BUDGET_BATCH;
        s = tq_graph_quantize_input(q, (size_t)nb * c->in_n,
                                    c->images + (size_t)b * c->in_n, xq);
        if (s == TQ_OK)
            s = tq_graph_run_s8(q, nb, xq, yq, NULL, arena, bytes);
        if (s == TQ_OK)
            s = tq_graph_dequantize_output(q, (size_t)nb * c->out_n, yq, y);
        for (int64_t i = 0; i < nb && s == TQ_OK; ++i) {
            const float *yi = y + (size_t)i * c->out_n;
            const float *ri = c->ref + (size_t)(b + i) * c->out_n;
            for (size_t j = 0; j < c->out_n; ++j) {
                const double d = (double)yi[j] - (double)ri[j];
                num += d * d;
            }
            agree += argmax(yi, c->out_n) == c->ref_arg[b + i];
        }
    }
    free(arena);
    free(xq);
    free(yq);
    free(y);
    if (s != TQ_OK) {
        tq__graph_fail(c->src, s, "budget: measuring an assignment: %s",
                       s == TQ_ERR_NO_MEMORY ? "no memory"
                                             : tq_graph_error(q));
        tq_graph_free(q);
        return s;
    }
    *error = c->ref_power > 0.0 ? num / c->ref_power : num;
    *agreement = (double)agree / (double)c->count;
    if (keep)
        *keep = q;
    else
        tq_graph_free(q);
    return TQ_OK;
}

static tq_status check_images(const tq_graph *g, int64_t count,
                              const float *images)
{
    tq_graph *src = (tq_graph *)g;
    if (!images)
        return TQ_ERR_NULL;
    if (!g->finalized || g->quantized)
        return tq__graph_fail(src, TQ_ERR_PARAM, "budget: the graph must be "
                              "a finalized float graph");
    if (count < 1 || count > INT32_MAX)
        return tq__graph_fail(src, TQ_ERR_PARAM, "budget: %lld images "
                              "(1 .. 2^31 - 1)", (long long)count);
    return TQ_OK;
}

tq_status tq_budget_config_init(tq_budget_config *config)
{
    if (!config)
        return TQ_ERR_NULL;
    memset(config, 0, sizeof *config);
    config->allow_s16 = 1;
    config->max_verify = 4;
    return TQ_OK;
}

tq_status tq_graph_sensitivity(const tq_graph *graph,
                               const tq_quant_config *config, int64_t count,
                               const float *images,
                               tq_layer_sensitivity *layers, int32_t capacity,
                               int32_t *n_layers)
{
    if (!graph || !n_layers || (!layers && capacity != 0))
        return TQ_ERR_NULL;
    /* Like tq_graph_quantize(): the float graph's error sentence is
     * written only on failure (the graph may be in use by other threads). */
    tq_graph *src = (tq_graph *)graph;
    if (!graph->finalized || graph->quantized)
        return tq__graph_fail(src, TQ_ERR_PARAM, "sensitivity: the graph "
                              "must be a finalized float graph");
    if (capacity < 0)
        return tq__graph_fail(src, TQ_ERR_PARAM, "sensitivity: capacity %d "
                              "< 0", (int)capacity);
    const int32_t n = enumerate(graph, NULL);
    if (n == 0)
        return tq__graph_fail(src, TQ_ERR_PARAM, "sensitivity: the graph has "
                              "no conv, depthwise or fully connected layer");
    if (!layers) {
        *n_layers = n;
        return TQ_OK;
    }
    if (capacity < n) {
        *n_layers = n;
        return tq__graph_fail(src, TQ_ERR_BUFFER_TOO_SMALL, "sensitivity: "
                              "%d records for %d layers", (int)capacity,
                              (int)n);
    }
    TQ_CHECK(check_images(graph, count, images));

    tq_layer_sensitivity *rec = malloc((size_t)n * sizeof *rec);
    int32_t *wdt = calloc((size_t)n, sizeof *wdt);
    int32_t *adt = calloc((size_t)n, sizeof *adt);
    if (!rec || !wdt || !adt) {
        free(rec), free(wdt), free(adt);
        return tq__graph_fail(src, TQ_ERR_NO_MEMORY, "sensitivity: no memory");
    }
    enumerate(graph, rec);
    bctx c;
    tq_status s = ctx_init(&c, graph, config, count, images);
    if (s == TQ_OK) {
        c.n = n, c.rec = rec;
        double e0 = 0, a0 = 0;
        s = measure(&c, wdt, adt, &e0, &a0, NULL);
        for (int32_t i = 0; i < n && s == TQ_OK; ++i) {
            rec[i].error_s8 = e0, rec[i].agreement_s8 = a0;
            wdt[i] = TQ_S4;
            s = measure(&c, wdt, adt, &rec[i].error_s4, &rec[i].agreement_s4,
                        NULL);
            wdt[i] = TQ_S8;
            rec[i].error_s16 = e0, rec[i].agreement_s16 = a0;
            if (s == TQ_OK && rec[i].can_s16) {
                adt[i] = TQ_S16;
                s = measure(&c, wdt, adt, &rec[i].error_s16,
                            &rec[i].agreement_s16, NULL);
                adt[i] = TQ_S8;
            }
        }
        ctx_free(&c);
    }
    if (s == TQ_OK) {
        memcpy(layers, rec, (size_t)n * sizeof *rec);
        *n_layers = n;
    }
    free(rec), free(wdt), free(adt);
    return s;
}

/* ---- the search ---------------------------------------------------------- */

/* The int4 cost of layer i: its error increase, never negative. */
static double cost4(const tq_layer_sensitivity *r)
{
    const double d = r->error_s4 - r->error_s8;
    return d > 0.0 ? d : 0.0;
}

/* 1 if layer a comes before layer b in the int4 order: smaller cost per
 * byte saved, ties to the earlier layer (cross-multiplied: exact order, no
 * division by a zero saving). */
static int before4(const tq_layer_sensitivity *rec, int64_t a, int64_t b)
{
    const double sa = (double)(rec[a].bytes_s8 - rec[a].bytes_s4);
    const double sb = (double)(rec[b].bytes_s8 - rec[b].bytes_s4);
    const double l = cost4(&rec[a]) * sb, r = cost4(&rec[b]) * sa;
    if (l != r)
        return l < r;
    return a < b;
}

static int before16(const tq_layer_sensitivity *rec, int64_t a, int64_t b)
{
    const double ga = rec[a].error_s8 - rec[a].error_s16;
    const double gb = rec[b].error_s8 - rec[b].error_s16;
    if (ga != gb)
        return ga > gb;
    return a < b;
}

typedef struct search {
    bctx *c;
    const tq_layer_sensitivity *rec;
    int64_t n;
    const tq_budget_config *budget;
    int64_t *order4;     /* layers in int4 order */
    int64_t *order16;    /* layers in int16 order */
} search;

/* @p fits: 1 when there is no arena budget or the graph quantized with
 * this assignment plans an arena within it (quantized once to measure). */
static tq_status arena_fits(const search *S, const int32_t *wdt,
                            const int32_t *adt, int *fits)
{
    tq_graph *q;
    int64_t a;
    *fits = 1;
    if (S->budget->arena_bytes <= 0)
        return TQ_OK;
    TQ_CHECK(quantize_as(S->c, wdt, adt, &q));
    tq_status s = arena_of(q, &a);
    tq_graph_free(q);
    TQ_CHECK(s);
    *fits = a <= S->budget->arena_bytes;
    return TQ_OK;
}

/* One greedy run: int4 in order (skipping layer @p exclude, -1: none) until
 * the bytes fit, then int16 (if @p allow16) while bytes and arena fit.
 * *fits 0 when the bytes cannot fit. @p taken receives the int4 layers in
 * the order taken (n_taken of them). */
static tq_status greedy(search *S, int64_t exclude, int32_t allow16,
                        int32_t *wdt, int32_t *adt, int64_t *taken,
                        int64_t *n_taken, int64_t *bytes_out, int *fits)
{
    const tq_layer_sensitivity *rec = S->rec;
    int64_t bytes = 0;
    *n_taken = 0;
    for (int64_t i = 0; i < S->n; ++i) {
        wdt[i] = TQ_S8, adt[i] = TQ_S8;
        bytes += rec[i].bytes_s8;
    }
    for (int64_t k = 0; k < S->n && bytes > S->budget->weight_bytes; ++k) {
        const int64_t i = S->order4[k];
        if (i == exclude || rec[i].bytes_s4 >= rec[i].bytes_s8)
            continue;
        wdt[i] = TQ_S4;
        bytes -= rec[i].bytes_s8 - rec[i].bytes_s4;
        taken[(*n_taken)++] = i;
    }
    *fits = bytes <= S->budget->weight_bytes;
    if (!*fits)
        return TQ_OK;
    TQ_CHECK(arena_fits(S, wdt, adt, fits));
    if (!*fits)
        return TQ_OK;
    for (int64_t k = 0; k < S->n && allow16; ++k) {
        const int64_t i = S->order16[k];
        if (!rec[i].can_s16 || wdt[i] != TQ_S8 ||
            !(rec[i].error_s16 < rec[i].error_s8))
            continue;
        const int64_t extra = rec[i].bytes_s16 - rec[i].bytes_s8;
        if (bytes + extra > S->budget->weight_bytes)
            continue;
        adt[i] = TQ_S16;
        int ok;
        TQ_CHECK(arena_fits(S, wdt, adt, &ok));
        if (!ok) {
            adt[i] = TQ_S8;
            continue;
        }
        bytes += extra;
    }
    *bytes_out = bytes;
    return TQ_OK;
}

static double predict(const tq_layer_sensitivity *rec, int64_t n,
                      const int32_t *wdt, const int32_t *adt)
{
    double e = rec[0].error_s8;
    for (int64_t i = 0; i < n; ++i) {
        if (wdt[i] == TQ_S4)
            e += rec[i].error_s4 - rec[i].error_s8;
        if (adt[i] == TQ_S16)
            e += rec[i].error_s16 - rec[i].error_s8;
    }
    return e;
}

static tq_status check_records(const tq_graph *g,
                               const tq_layer_sensitivity *layers, int32_t n,
                               tq_layer_sensitivity *fresh)
{
    tq_graph *src = (tq_graph *)g;
    const int32_t have = enumerate(g, NULL);
    if (n != have)
        return tq__graph_fail(src, TQ_ERR_PARAM, "budget: %d records, the "
                              "graph has %d weighted layers", (int)n,
                              (int)have);
    enumerate(g, fresh);
    for (int32_t i = 0; i < n; ++i) {
        const tq_layer_sensitivity *r = &layers[i];
        if (r->node != fresh[i].node ||
            r->weight_tensor != fresh[i].weight_tensor)
            return tq__graph_fail(src, TQ_ERR_PARAM, "budget: record %d is "
                                  "not layer %d of this graph (use "
                                  "tq_graph_sensitivity())", (int)i,
                                  (int)fresh[i].node);
        if (!(r->error_s8 >= 0.0) || !(r->error_s4 >= 0.0) ||
            !(r->error_s16 >= 0.0) || !isfinite(r->error_s8) ||
            !isfinite(r->error_s4) || !isfinite(r->error_s16))
            return tq__graph_fail(src, TQ_ERR_PARAM, "budget: record %d has "
                                  "an error outside [0, inf)", (int)i);
        /* Everything else is recomputed (the caller's copies are not
         * trusted). */
        fresh[i].error_s8 = r->error_s8, fresh[i].agreement_s8 = r->agreement_s8;
        fresh[i].error_s4 = r->error_s4, fresh[i].agreement_s4 = r->agreement_s4;
        fresh[i].error_s16 = fresh[i].can_s16 ? r->error_s16 : r->error_s8;
        fresh[i].agreement_s16 = r->agreement_s16;
    }
    return TQ_OK;
}

tq_status tq_graph_quantize_budget(const tq_graph *graph,
                                   const tq_quant_config *config,
                                   int64_t count, const float *images,
                                   const tq_budget_config *budget,
                                   tq_layer_sensitivity *layers,
                                   int32_t n_layers, tq_budget_result *result,
                                   tq_graph **quantized)
{
    if (!graph || !budget || !layers || !quantized)
        return TQ_ERR_NULL;
    /* Like tq_graph_quantize(): the float graph's error sentence is
     * written only on failure (the graph may be in use by other threads). */
    tq_graph *src = (tq_graph *)graph;
    TQ_CHECK(check_images(graph, count, images));
    if (budget->weight_bytes < 1 || budget->arena_bytes < 0 ||
        (budget->allow_s16 != 0 && budget->allow_s16 != 1) ||
        budget->max_verify < 0 || budget->max_verify > 64)
        return tq__graph_fail(src, TQ_ERR_PARAM, "budget: weight_bytes %lld "
                              "(>= 1), arena_bytes %lld (>= 0), allow_s16 %d "
                              "(0 or 1), max_verify %d (0 .. 64)",
                              (long long)budget->weight_bytes,
                              (long long)budget->arena_bytes,
                              (int)budget->allow_s16, (int)budget->max_verify);
    if (n_layers < 1)
        return tq__graph_fail(src, TQ_ERR_PARAM, "budget: %d records",
                              (int)n_layers);
    const int64_t n = n_layers;
    tq_layer_sensitivity *rec = malloc((size_t)n * sizeof *rec);
    int64_t *buf = malloc((size_t)n * 4 * sizeof *buf);
    int32_t *dt = malloc((size_t)n * 4 * sizeof *dt);
    if (!rec || !buf || !dt) {
        free(rec), free(buf), free(dt);
        return tq__graph_fail(src, TQ_ERR_NO_MEMORY, "budget: no memory");
    }
    tq_status s = check_records(graph, layers, n_layers, rec);
    int64_t b8 = 0, bmin = 0;
    for (int64_t i = 0; i < n && s == TQ_OK; ++i) {
        b8 += rec[i].bytes_s8;
        bmin += rec[i].bytes_s4 < rec[i].bytes_s8 ? rec[i].bytes_s4
                                                   : rec[i].bytes_s8;
    }
    if (s == TQ_OK && budget->weight_bytes < bmin)
        s = tq__graph_fail(src, TQ_ERR_UNSUPPORTED, "budget: %lld bytes is "
                           "below the smallest reachable, %lld (every "
                           "layer's weights int4; int8: %lld)",
                           (long long)budget->weight_bytes, (long long)bmin,
                           (long long)b8);
    if (s != TQ_OK) {
        free(rec), free(buf), free(dt);
        return s;
    }

    search S = {NULL, rec, n, budget, buf, buf + n};
    int64_t *taken = buf + 2 * n, *taken2 = buf + 3 * n;
    int32_t *wdt = dt, *adt = dt + n, *w2 = dt + 2 * n, *a2 = dt + 3 * n;
    for (int64_t i = 0; i < n; ++i)
        S.order4[i] = S.order16[i] = i;
    /* Insertion sorts: n is small and the order must be exact. */
    for (int64_t i = 1; i < n; ++i)
        for (int64_t j = i; j > 0 && before4(rec, S.order4[j], S.order4[j - 1]);
             --j) {
            const int64_t t = S.order4[j];
            S.order4[j] = S.order4[j - 1], S.order4[j - 1] = t;
        }
    for (int64_t i = 1; i < n; ++i)
        for (int64_t j = i;
             j > 0 && before16(rec, S.order16[j], S.order16[j - 1]); --j) {
            const int64_t t = S.order16[j];
            S.order16[j] = S.order16[j - 1], S.order16[j - 1] = t;
        }

    bctx c;
    s = ctx_init(&c, graph, config, count, images);
    if (s != TQ_OK) {
        free(rec), free(buf), free(dt);
        return s;
    }
    c.n = n, c.rec = rec;
    S.c = &c;

    int fits = 0;
    int64_t n_taken = 0, bytes = 0, bytes2 = 0, n2 = 0;
    tq_graph *best = NULL;
    double best_err = 0, best_agree = 0;
    int32_t measured = 0, backed_off = 0;
    s = greedy(&S, -1, budget->allow_s16, wdt, adt, taken, &n_taken, &bytes,
               &fits);
    if (s == TQ_OK && !fits)
        s = tq__graph_fail(src, TQ_ERR_UNSUPPORTED, "budget: no assignment "
                           "fits an arena of %lld bytes",
                           (long long)budget->arena_bytes);
    double predicted = 0.0;
    if (s == TQ_OK) {
        predicted = predict(rec, n, wdt, adt);
        s = measure(&c, wdt, adt, &best_err, &best_agree, &best);
        measured = 1;
    }
    /* Verification: worse than predicted (beyond rounding) -> measure the
     * alternatives, keep the best measured. */
    int have16 = 0;
    for (int64_t i = 0; i < n; ++i)
        have16 |= adt[i] == TQ_S16;
    if (s == TQ_OK && best_err > predicted * (1.0 + 1e-9) + 1e-15) {
        int32_t tries = 0;
        for (int64_t k = n_taken; k >= 0 && tries < budget->max_verify &&
                                  s == TQ_OK; --k) {
            /* k == n_taken: the same greedy without int16 (if any); else
             * without int4 layer taken[k]. */
            int64_t excl = -1;
            int32_t allow = budget->allow_s16;
            if (k == n_taken) {
                if (!have16)
                    continue;
                allow = 0;
            } else {
                excl = taken[k];
            }
            s = greedy(&S, excl, allow, w2, a2, taken2, &n2, &bytes2, &fits);
            if (s != TQ_OK || !fits)
                continue;
            if (!memcmp(w2, wdt, (size_t)n * sizeof *w2) &&
                !memcmp(a2, adt, (size_t)n * sizeof *a2))
                continue;
            ++tries;
            double e, a;
            tq_graph *q = NULL;
            s = measure(&c, w2, a2, &e, &a, &q);
            ++measured;
            if (s == TQ_OK && e < best_err) {
                tq_graph_free(best);
                best = q, best_err = e, best_agree = a, bytes = bytes2;
                backed_off = 1;
                memcpy(wdt, w2, (size_t)n * sizeof *w2);
                memcpy(adt, a2, (size_t)n * sizeof *a2);
                predicted = predict(rec, n, wdt, adt);
            } else {
                tq_graph_free(q);
            }
        }
        /* The alternatives' loop compared against the original choice
         * (wdt/adt are replaced only by a better one), so the result is
         * the least measured error among those tried. */
    }
    int64_t arena = 0;
    if (s == TQ_OK)
        s = arena_of(best, &arena);
    ctx_free(&c);
    if (s != TQ_OK) {
        tq_graph_free(best);
        free(rec), free(buf), free(dt);
        return s;
    }
    tq_budget_result r;
    memset(&r, 0, sizeof r);
    r.weight_bytes = bytes, r.weight_bytes_s8 = b8, r.weight_bytes_min = bmin;
    r.arena_bytes = arena, r.error_s8 = rec[0].error_s8;
    r.predicted_error = predicted, r.error = best_err, r.agreement = best_agree;
    r.measured = measured, r.backed_off = backed_off;
    for (int64_t i = 0; i < n; ++i) {
        layers[i].weight_dtype = wdt[i];
        layers[i].activation_dtype = adt[i];
        r.layers_s4 += wdt[i] == TQ_S4;
        r.layers_s16 += adt[i] == TQ_S16;
    }
    if (result)
        *result = r;
    *quantized = best;
    free(rec), free(buf), free(dt);
    return TQ_OK;
}
