/*
 * The ResNet-8 the graph benchmarks build (graph_bench, graph_s8_bench):
 * the MLPerf Tiny image-classification shape (32x32x3, 3x3 convs of
 * 16/32/64 filters with BatchNorm and ReLU, three residual stages with 1x1
 * stride-2 shortcuts, 8x8 average pool, dense 10) with random weights,
 * built with the graph API. Each program keeps its own weight draws: the
 * generator state and the convolution weights' range are the caller's.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_BENCH_RESNET8_H
#define TQ_BENCH_RESNET8_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <tinyq.h>

#include "bench_util.h"

/* Uniform in [lo, hi) from a 64-bit LCG state. */
static inline float bench_uniform(uint64_t *state, float lo, float hi)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (float)((*state >> 40) & 0xFFFFFF) / 16777216.0f;
}

/* Exits with "prog: what: status (graph error)" unless s is TQ_OK. */
static inline void bench_graph_ok(const char *prog, tq_status s,
                                  const tq_graph *g, const char *what)
{
    if (s != TQ_OK) {
        fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, tq_status_message(s),
                g ? tq_graph_error(g) : "");
        exit(1);
    }
}

/* How the weights are drawn: conv weights uniform in ±sqrt(6 / fan_in)
 * (He uniform) when he_init, else in ±30 / fan_in; every draw from *seed. */
typedef struct bench_resnet8 {
    const char *prog; /* for error messages */
    uint64_t *seed;
    int he_init;
    tq_graph *g;
} bench_resnet8;

static inline int32_t bench_resnet8_weights(bench_resnet8 *b, int32_t ndim,
                                            const int64_t *shape, float lo,
                                            float hi)
{
    size_t n = 1;
    for (int32_t d = 0; d < ndim; ++d)
        n *= (size_t)shape[d];
    float *v = xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; ++i)
        v[i] = bench_uniform(b->seed, lo, hi);
    tq_tensor t;
    int32_t id;
    bench_graph_ok(b->prog, tq_tensor_init(&t, v, TQ_F32, ndim, shape), b->g,
                   "tensor");
    bench_graph_ok(b->prog, tq_graph_add_constant(b->g, NULL, &t, &id), b->g,
                   "constant");
    free(v);
    return id;
}

/* k x k conv of stride s with TF "same" padding over a size x size map,
 * BatchNorm, and ReLU when asked. */
static inline int32_t bench_resnet8_conv_bn(bench_resnet8 *b, int32_t x,
                                            int32_t cin, int32_t cout,
                                            int32_t k, int32_t s, int32_t size,
                                            int relu)
{
    tq_graph *g = b->g;
    tq_node_attrs a;
    tq_node_attrs_init(&a);
    const int32_t out = (size + s - 1) / s;
    const int32_t total = (out - 1) * s + k - size;
    const int32_t pad = total > 0 ? total : 0;
    a.conv.stride_h = a.conv.stride_w = s;
    a.conv.pad_top = a.conv.pad_left = pad / 2;
    a.conv.pad_bottom = a.conv.pad_right = pad - pad / 2;
    const int64_t ws[4] = {cout, k, k, cin}, cs[1] = {cout};
    float lo, hi;
    if (b->he_init) {
        const float bound = sqrtf(6.0f / (float)(k * k * cin));
        lo = -bound;
        hi = bound;
    } else {
        const float bound = 1.5f / (float)(k * k * cin);
        lo = -bound * 20;
        hi = bound * 20;
    }
    int32_t in[5] = {x, bench_resnet8_weights(b, 4, ws, lo, hi)};
    int32_t t;
    bench_graph_ok(b->prog,
                   tq_graph_add_node(g, NULL, TQ_OP_CONV2D, 2, in, &a, &t), g,
                   "conv");
    in[0] = t;
    in[1] = bench_resnet8_weights(b, 1, cs, 0.5f, 1.5f);  /* scale */
    in[2] = bench_resnet8_weights(b, 1, cs, -0.2f, 0.2f); /* bias */
    in[3] = bench_resnet8_weights(b, 1, cs, -0.2f, 0.2f); /* mean */
    in[4] = bench_resnet8_weights(b, 1, cs, 0.5f, 1.5f);  /* variance */
    bench_graph_ok(b->prog,
                   tq_graph_add_node(g, NULL, TQ_OP_BATCH_NORM, 5, in, NULL,
                                     &t),
                   g, "bn");
    if (relu) {
        tq_node_attrs r;
        tq_node_attrs_init(&r);
        r.act = TQ_ACT_RELU;
        bench_graph_ok(b->prog,
                       tq_graph_add_node(g, NULL, TQ_OP_ACTIVATION, 1, &t, &r,
                                         &t),
                       g, "relu");
    }
    return t;
}

/* Two convs and a shortcut (the input, or a 1x1 conv when the shape
 * changes), added, then ReLU. */
static inline int32_t bench_resnet8_stage(bench_resnet8 *b, int32_t x,
                                          int32_t cin, int32_t cout,
                                          int32_t s, int32_t size)
{
    tq_graph *g = b->g;
    int32_t a = bench_resnet8_conv_bn(b, x, cin, cout, 3, s, size, 1);
    a = bench_resnet8_conv_bn(b, a, cout, cout, 3, 1, (size + s - 1) / s, 0);
    const int32_t sc = s == 1 && cin == cout
                           ? x
                           : bench_resnet8_conv_bn(b, x, cin, cout, 1, s,
                                                   size, 0);
    const int32_t in[2] = {a, sc};
    int32_t t;
    tq_node_attrs r;
    tq_node_attrs_init(&r);
    r.act = TQ_ACT_RELU;
    bench_graph_ok(b->prog,
                   tq_graph_add_node(g, NULL, TQ_OP_ADD, 2, in, NULL, &t), g,
                   "add");
    bench_graph_ok(b->prog,
                   tq_graph_add_node(g, NULL, TQ_OP_ACTIVATION, 1, &t, &r, &t),
                   g, "relu");
    return t;
}

/* The whole network, finalized with @p rewrites (tq_rewrite flags);
 * weights drawn from *seed. */
static inline tq_graph *bench_resnet8_build(const char *prog, uint64_t *seed,
                                            int he_init, uint32_t rewrites)
{
    bench_resnet8 b = {prog, seed, he_init, NULL};
    int32_t x, t;
    const int64_t in[4] = {1, 32, 32, 3};
    bench_graph_ok(prog, tq_graph_create(&b.g), NULL, "create");
    tq_graph *g = b.g;
    bench_graph_ok(prog, tq_graph_add_input(g, "image", 4, in, &x), g,
                   "input");
    t = bench_resnet8_conv_bn(&b, x, 3, 16, 3, 1, 32, 1);
    t = bench_resnet8_stage(&b, t, 16, 16, 1, 32);
    t = bench_resnet8_stage(&b, t, 16, 32, 2, 32);
    t = bench_resnet8_stage(&b, t, 32, 64, 2, 16);
    tq_node_attrs p;
    tq_node_attrs_init(&p);
    p.pool.kernel_h = p.pool.kernel_w = 8;
    p.pool.stride_h = p.pool.stride_w = 8;
    bench_graph_ok(prog,
                   tq_graph_add_node(g, "pool", TQ_OP_AVG_POOL, 1, &t, &p, &t),
                   g, "pool");
    const int64_t ws[2] = {10, 64}, bs[1] = {10};
    const int32_t fc[3] = {t, bench_resnet8_weights(&b, 2, ws, -0.3f, 0.3f),
                           bench_resnet8_weights(&b, 1, bs, -0.1f, 0.1f)};
    bench_graph_ok(prog,
                   tq_graph_add_node(g, "logits", TQ_OP_FULLY_CONNECTED, 3, fc,
                                     NULL, &t),
                   g, "fc");
    bench_graph_ok(prog, tq_graph_set_output(g, t), g, "output");
    bench_graph_ok(prog, tq_graph_finalize(g, rewrites), g, "finalize");
    return g;
}

#endif /* TQ_BENCH_RESNET8_H */
