/*
 * Float graph execution: a ResNet-8 in the MLPerf Tiny image-classification
 * shape (32x32x3, 3x3 convs of 16/32/64 filters with BatchNorm and ReLU,
 * three residual stages with 1x1 stride-2 shortcuts, 8x8 average pool,
 * dense 10), random weights, built with the graph API. Prints the time per
 * image at batch 1 and 32 with every rewrite and with none, the arena
 * against the sum of all activation tensors, and the plan's lower bound.
 *
 * Usage: graph_bench (no arguments). Not a test.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, via bench_util.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tinyq.h>

#include "bench_util.h"

static uint64_t rng_state = 12345;

static float frand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) & 0xFFFFFF) / 16777216.0f - 0.5f;
}

static void check(tq_status s, const tq_graph *g, const char *what)
{
    if (s != TQ_OK) {
        fprintf(stderr, "graph_bench: %s: %s (%s)\n", what,
                tq_status_message(s), tq_graph_error(g));
        exit(1);
    }
}

static int32_t constant(tq_graph *g, int32_t ndim, const int64_t *shape,
                        float lo, float hi)
{
    size_t n = 1;
    for (int32_t d = 0; d < ndim; ++d)
        n *= (size_t)shape[d];
    float *v = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; ++i)
        v[i] = lo + (hi - lo) * (frand() + 0.5f);
    tq_tensor t;
    int32_t id;
    check(tq_tensor_init(&t, v, TQ_F32, ndim, shape), g, "tensor");
    check(tq_graph_add_constant(g, NULL, &t, &id), g, "constant");
    free(v);
    return id;
}

/* conv k x k, stride s, TF "same" padding, then BatchNorm, then ReLU if
 * relu. */
static int32_t conv_bn(tq_graph *g, int32_t x, int32_t cin, int32_t cout,
                       int32_t k, int32_t s, int32_t size, int relu)
{
    tq_node_attrs a;
    tq_node_attrs_init(&a);
    const int32_t out = (size + s - 1) / s;
    const int32_t pad = (out - 1) * s + k - size > 0 ? (out - 1) * s + k - size : 0;
    a.conv.stride_h = a.conv.stride_w = s;
    a.conv.pad_top = a.conv.pad_left = pad / 2;
    a.conv.pad_bottom = a.conv.pad_right = pad - pad / 2;
    const int64_t ws[4] = {cout, k, k, cin}, cs[1] = {cout};
    const float bound = 1.5f / (float)(k * k * cin);
    int32_t in[5] = {x, constant(g, 4, ws, -bound * 20, bound * 20)};
    int32_t t;
    check(tq_graph_add_node(g, NULL, TQ_OP_CONV2D, 2, in, &a, &t), g, "conv");
    in[0] = t;
    in[1] = constant(g, 1, cs, 0.5f, 1.5f);
    in[2] = constant(g, 1, cs, -0.2f, 0.2f);
    in[3] = constant(g, 1, cs, -0.2f, 0.2f);
    in[4] = constant(g, 1, cs, 0.5f, 1.5f);
    check(tq_graph_add_node(g, NULL, TQ_OP_BATCH_NORM, 5, in, NULL, &t), g, "bn");
    if (relu) {
        tq_node_attrs r;
        tq_node_attrs_init(&r);
        r.act = TQ_ACT_RELU;
        check(tq_graph_add_node(g, NULL, TQ_OP_ACTIVATION, 1, &t, &r, &t), g, "relu");
    }
    return t;
}

static int32_t stage(tq_graph *g, int32_t x, int32_t cin, int32_t cout,
                     int32_t s, int32_t size)
{
    int32_t a = conv_bn(g, x, cin, cout, 3, s, size, 1);
    a = conv_bn(g, a, cout, cout, 3, 1, (size + s - 1) / s, 0);
    const int32_t sc = s == 1 && cin == cout ? x : conv_bn(g, x, cin, cout, 1, s, size, 0);
    const int32_t in[2] = {a, sc};
    int32_t t;
    tq_node_attrs r;
    tq_node_attrs_init(&r);
    check(tq_graph_add_node(g, NULL, TQ_OP_ADD, 2, in, NULL, &t), g, "add");
    r.act = TQ_ACT_RELU;
    check(tq_graph_add_node(g, NULL, TQ_OP_ACTIVATION, 1, &t, &r, &t), g, "relu");
    return t;
}

static tq_graph *resnet8(uint32_t rewrites)
{
    tq_graph *g;
    int32_t x, t;
    const int64_t in[4] = {1, 32, 32, 3};
    rng_state = 12345;
    check(tq_graph_create(&g), NULL, "create");
    check(tq_graph_add_input(g, "image", 4, in, &x), g, "input");
    t = conv_bn(g, x, 3, 16, 3, 1, 32, 1);
    t = stage(g, t, 16, 16, 1, 32);
    t = stage(g, t, 16, 32, 2, 32);
    t = stage(g, t, 32, 64, 2, 16);
    tq_node_attrs p;
    tq_node_attrs_init(&p);
    p.pool.kernel_h = p.pool.kernel_w = 8;
    p.pool.stride_h = p.pool.stride_w = 8;
    check(tq_graph_add_node(g, "pool", TQ_OP_AVG_POOL, 1, &t, &p, &t), g, "pool");
    const int64_t ws[2] = {10, 64}, bs[1] = {10};
    const int32_t fc[3] = {t, constant(g, 2, ws, -0.3f, 0.3f), constant(g, 1, bs, -0.1f, 0.1f)};
    check(tq_graph_add_node(g, "logits", TQ_OP_FULLY_CONNECTED, 3, fc, NULL, &t), g, "fc");
    check(tq_graph_set_output(g, t), g, "output");
    check(tq_graph_finalize(g, rewrites), g, "finalize");
    return g;
}

typedef struct ctx {
    const tq_graph *g;
    int64_t batch;
    const float *x;
    float *y;
    void *arena;
    size_t bytes;
} ctx;

static void run(void *p)
{
    ctx *c = p;
    check(tq_graph_run_f32(c->g, c->batch, c->x, c->y, c->arena, c->bytes), c->g, "run");
}

int main(void)
{
    const int64_t batches[2] = {1, 32};
    float *x = xmalloc(32 * 3072 * sizeof(float)), *y = xmalloc(32 * 10 * sizeof(float));
    for (size_t i = 0; i < 32 * 3072; ++i)
        x[i] = frand();
    printf("ResNet-8 (MLPerf Tiny shape), float graph, random weights; time per image\n");
    for (int all = 1; all >= 0; --all) {
        tq_graph *g = resnet8(all ? TQ_REWRITE_ALL : 0);
        size_t sum = 0;
        for (int32_t i = 0; i < tq_graph_tensor_count(g); ++i) {
            tq_graph_tensor_info ti;
            check(tq_graph_tensor(g, i, &ti), g, "tensor");
            if (ti.is_constant)
                continue;
            size_t n = 1;
            for (int32_t d = 0; d < ti.ndim; ++d)
                n *= (size_t)ti.shape[d];
            sum += n * sizeof(float);
        }
        printf("rewrites %s: %d nodes\n", all ? "all " : "none", (int)tq_graph_node_count(g));
        for (int b = 0; b < 2; ++b) {
            ctx c = {g, batches[b], x, y, NULL, 0};
            check(tq_graph_arena_size(g, c.batch, &c.bytes), g, "arena size");
            c.arena = xmalloc(c.bytes);
            const double t = time_call(run, &c);
            printf("  batch %2d: %8.1f us/image, arena %8zu B\n", (int)c.batch,
                   1e6 * t / (double)c.batch, c.bytes);
            free(c.arena);
        }
        if (!all)
            printf("sum of all activation tensors of the unrewritten graph: %zu B "
                   "per image\n", sum);
        tq_graph_free(g);
    }
    free(x);
    free(y);
    return 0;
}
