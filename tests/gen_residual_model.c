/*
 * Build-time helper of test_export_c: writes a small quantized model file
 * with two residual blocks (an identity block and a projection block with
 * a stride-2 1x1 shortcut), so that the exporter's output for a conv with
 * a fused residual Add (tq_s8_conv2d_add, writing over the skip tensor) is
 * compiled and run against tq_graph_run_s8. Seeded weights, calibrated on
 * seeded random inputs with the default tq_quant_config.
 *
 * With a second argument the network starts with a conv + ReLU + 2x2 max
 * pool (fused into one node) and a depthwise conv, ends with a 2x2 max
 * pool of stride 1, the global average pool and two FC layers (a hidden
 * one with ReLU), and is quantized mixed precision for the exporter's 16x8
 * and int4 paths:
 *   s16  int16 activations wherever they can be (default dtypes);
 *   s4   int4 weights everywhere (default dtypes);
 *   mix  int16 activations on the depthwise conv, the first block and its
 *        residual Add (int16) and the hidden FC, int4 weights on the stem,
 *        the projection block's convs and the output FC: requantizations
 *        at every boundary;
 *   both default int16 activations and int4 weights (the int8 nodes, the
 *        output FC, get the int4 weights).
 *
 * Usage: gen_residual_model OUT.safetensors [s16|s4|mix|both]
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyq.h"

static uint32_t seed = 12345u;

/* Weight constants in creation order (the mixed configurations). */
static int32_t weights[16];
static int n_weights;

static float rnd(float lo, float hi)
{
    seed = seed * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(seed >> 8) / 16777216.0f;
}

static void ok(tq_status s, const char *what)
{
    if (s != TQ_OK) {
        fprintf(stderr, "gen_residual_model: %s: %s\n", what,
                tq_status_message(s));
        exit(1);
    }
}

static int32_t constant(tq_graph *g, int ndim, const int64_t *shape,
                        float lo, float hi)
{
    size_t n = 1;
    for (int i = 0; i < ndim; ++i)
        n *= (size_t)shape[i];
    float *v = malloc(n * sizeof *v);
    if (!v)
        ok(TQ_ERR_NO_MEMORY, "weights");
    for (size_t i = 0; i < n; ++i)
        v[i] = rnd(lo, hi);
    tq_tensor t;
    int32_t id;
    ok(tq_tensor_init(&t, v, TQ_F32, ndim, shape), "tensor");
    ok(tq_graph_add_constant(g, NULL, &t, &id), "constant");
    free(v);
    return id;
}

static int32_t conv(tq_graph *g, int32_t x, int cin, int cout, int k,
                    int stride, int act)
{
    const int64_t ws[4] = {cout, k, k, cin}, bs[1] = {cout};
    int32_t ins[3] = {x, constant(g, 4, ws, -0.3f, 0.3f),
                      constant(g, 1, bs, -0.2f, 0.2f)};
    weights[n_weights++] = ins[1];
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    const int p = k / 2;
    at.conv = (tq_conv_params){stride, stride, p, p, p, p, 1, 1, 1};
    at.act = act;
    int32_t out;
    ok(tq_graph_add_node(g, NULL, TQ_OP_CONV2D, 3, ins, &at, &out), "conv");
    return out;
}

static int32_t depthwise(tq_graph *g, int32_t x, int c)
{
    const int64_t ws[4] = {1, 3, 3, c}, bs[1] = {c};
    int32_t ins[3] = {x, constant(g, 4, ws, -0.5f, 0.5f),
                      constant(g, 1, bs, -0.2f, 0.2f)};
    weights[n_weights++] = ins[1];
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    at.conv = (tq_conv_params){1, 1, 1, 1, 1, 1, 1, 1, 1};
    at.depth_multiplier = 1;
    at.act = TQ_ACT_RELU;
    int32_t out;
    ok(tq_graph_add_node(g, NULL, TQ_OP_DEPTHWISE_CONV2D, 3, ins, &at, &out),
       "depthwise");
    return out;
}

static int32_t max_pool(tq_graph *g, int32_t x)
{
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    at.pool = (tq_pool_params){2, 2, 2, 2, 0, 0, 0, 0};
    int32_t out;
    ok(tq_graph_add_node(g, NULL, TQ_OP_MAX_POOL, 1, &x, &at, &out), "pool");
    return out;
}

static int32_t add(tq_graph *g, int32_t a, int32_t b)
{
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    at.act = TQ_ACT_RELU;
    int32_t ins[2] = {a, b}, out;
    ok(tq_graph_add_node(g, NULL, TQ_OP_ADD, 2, ins, &at, &out), "add");
    return out;
}

int main(int argc, char **argv)
{
    const char *mode = argc == 3 ? argv[2] : "";
    if ((argc != 2 && argc != 3) ||
        (argc == 3 && strcmp(mode, "s16") && strcmp(mode, "s4") &&
         strcmp(mode, "mix") && strcmp(mode, "both"))) {
        fprintf(stderr, "usage: gen_residual_model OUT.safetensors "
                "[s16|s4|mix|both]\n");
        return 2;
    }
    tq_graph *g = NULL, *q = NULL;
    const int64_t in_shape[4] = {1, 12, 12, 3};
    int32_t x;
    ok(tq_graph_create(&g), "create");
    ok(tq_graph_add_input(g, "x", 4, in_shape, &x), "input");
    int32_t s = conv(g, x, 3, 8, 3, 1, TQ_ACT_RELU), dw = -1;
    if (mode[0]) /* conv + ReLU + max pool (one node), depthwise */
        s = dw = depthwise(g, max_pool(g, s), 8);
    /* Identity block: the second conv adds s and writes over it. */
    const int32_t a = conv(g, s, 8, 8, 3, 1, TQ_ACT_RELU);
    const int32_t y1 = add(g, conv(g, a, 8, 8, 3, 1, TQ_ACT_NONE), s);
    /* Projection block: the addend order the other way round. */
    const int32_t a2 = conv(g, y1, 8, 16, 3, 2, TQ_ACT_RELU);
    const int32_t sc = conv(g, y1, 8, 16, 1, 2, TQ_ACT_NONE);
    const int32_t y2 = add(g, sc, conv(g, a2, 16, 16, 3, 1, TQ_ACT_NONE));
    tq_node_attrs at;
    tq_node_attrs_init(&at);
    int32_t pooled, logits, y3 = y2, fc1 = -1;
    if (mode[0]) { /* a max pool of its own (2x2, stride 1) */
        at.pool = (tq_pool_params){2, 2, 1, 1, 0, 0, 0, 0};
        ok(tq_graph_add_node(g, NULL, TQ_OP_MAX_POOL, 1, &y2, &at, &y3),
           "max pool");
        tq_node_attrs_init(&at);
    }
    ok(tq_graph_add_node(g, NULL, TQ_OP_GLOBAL_AVG_POOL, 1, &y3, &at, &pooled),
       "pool");
    if (mode[0]) { /* a hidden FC layer: 16 -> 12, ReLU */
        const int64_t hs[2] = {12, 16}, hb[1] = {12};
        int32_t hin[3] = {pooled, constant(g, 2, hs, -0.5f, 0.5f),
                          constant(g, 1, hb, -0.1f, 0.1f)};
        weights[n_weights++] = hin[1];
        at.act = TQ_ACT_RELU;
        ok(tq_graph_add_node(g, NULL, TQ_OP_FULLY_CONNECTED, 3, hin, &at,
                             &fc1), "fc1");
        at.act = TQ_ACT_NONE;
        pooled = fc1;
    }
    const int64_t fs[2] = {5, mode[0] ? 12 : 16}, fb[1] = {5};
    int32_t fin[3] = {pooled, constant(g, 2, fs, -0.5f, 0.5f),
                      constant(g, 1, fb, -0.1f, 0.1f)};
    weights[n_weights++] = fin[1];
    ok(tq_graph_add_node(g, NULL, TQ_OP_FULLY_CONNECTED, 3, fin, &at, &logits),
       "fc");
    ok(tq_graph_set_output(g, logits), "output");
    ok(tq_graph_finalize(g, TQ_REWRITE_ALL), "finalize");

    enum { N = 16, PIX = 12 * 12 * 3 };
    static float data[N * PIX];
    for (size_t i = 0; i < sizeof data / sizeof data[0]; ++i)
        data[i] = rnd(-1.0f, 1.0f);
    tq_quant_config cfg;
    tq_calibrator *c = NULL;
    ok(tq_quant_config_init(&cfg), "config");
    ok(tq_calibrator_create(g, &cfg, &c), "calibrator");
    /* Weights in order: stem, depthwise, block 1 (2), projection block
     * (3x3, 1x1 shortcut, 3x3), hidden FC, output FC. */
    if (!strcmp(mode, "s16"))
        ok(tq_calibrator_set_default_dtypes(c, TQ_S16, TQ_S8), "dtypes");
    else if (!strcmp(mode, "s4"))
        ok(tq_calibrator_set_default_dtypes(c, TQ_S8, TQ_S4), "dtypes");
    else if (!strcmp(mode, "both"))
        ok(tq_calibrator_set_default_dtypes(c, TQ_S16, TQ_S4), "dtypes");
    else if (!strcmp(mode, "mix")) {
        ok(tq_calibrator_set_dtype(c, dw, TQ_S16), "dtype dw");
        ok(tq_calibrator_set_dtype(c, a, TQ_S16), "dtype a");
        ok(tq_calibrator_set_dtype(c, y1, TQ_S16), "dtype y1");
        ok(tq_calibrator_set_dtype(c, fc1, TQ_S16), "dtype fc1");
        const int w4[] = {0, 4, 5, 6, 8};
        for (size_t i = 0; i < sizeof w4 / sizeof *w4; ++i)
            ok(tq_calibrator_set_dtype(c, weights[w4[i]], TQ_S4), "dtype w");
    }
    for (int32_t again = 1; again;) {
        ok(tq_calibrator_feed(c, N, data), "feed");
        ok(tq_calibrator_end_pass(c, &again), "pass");
    }
    ok(tq_graph_quantize(g, c, &q), "quantize");
    ok(tq_graph_save(q, argv[1]), "save");
    tq_graph_free(q);
    tq_calibrator_free(c);
    tq_graph_free(g);
    return 0;
}
