/*
 * Integer-only graph execution: a ResNet-8 in the MLPerf Tiny shape (3x3
 * convs of 16/32/64 filters with BatchNorm and ReLU, three residual stages
 * with 1x1 stride-2 shortcuts, 8x8 average pool, dense 10) with random
 * weights, built with the graph API and finalized with every rewrite,
 * calibrated (min/max) on 64 random images, quantized, and run in float and
 * in int8. Prints the time per image of each at batch 1 and 32, the arenas,
 * how far the dequantized int8 logits are from the float ones (in output
 * scales) and how often the two argmaxes agree on 256 other random images.
 *
 * Usage: graph_s8_bench (no arguments). Not a test.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime in bench_util.h */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tinyq.h>

#include "bench_util.h"

static uint64_t seed = 424242;

/* Uniform in [lo, hi). */
static float uniform(float lo, float hi)
{
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (float)((seed >> 40) & 0xFFFFFF) / 16777216.0f;
}

static void ok(tq_status s, const tq_graph *g, const char *what)
{
    if (s != TQ_OK) {
        fprintf(stderr, "graph_s8_bench: %s: %s (%s)\n", what,
                tq_status_message(s), g ? tq_graph_error(g) : "");
        exit(1);
    }
}

static int32_t weights(tq_graph *g, int32_t ndim, const int64_t *shape,
                       float lo, float hi)
{
    size_t n = 1;
    for (int32_t d = 0; d < ndim; ++d)
        n *= (size_t)shape[d];
    float *v = xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; ++i)
        v[i] = uniform(lo, hi);
    tq_tensor t;
    int32_t id;
    ok(tq_tensor_init(&t, v, TQ_F32, ndim, shape), g, "tensor");
    ok(tq_graph_add_constant(g, NULL, &t, &id), g, "constant");
    free(v);
    return id;
}

/* k x k conv of stride s with TF "same" padding over a size x size map,
 * BatchNorm, and ReLU when asked. */
static int32_t conv_bn_relu(tq_graph *g, int32_t x, int32_t cin, int32_t cout,
                            int32_t k, int32_t s, int32_t size, int relu)
{
    tq_node_attrs a;
    tq_node_attrs_init(&a);
    const int32_t out = (size + s - 1) / s;
    const int32_t total = (out - 1) * s + k - size;
    const int32_t pad = total > 0 ? total : 0;
    a.conv.stride_h = a.conv.stride_w = s;
    a.conv.pad_top = a.conv.pad_left = pad / 2;
    a.conv.pad_bottom = a.conv.pad_right = pad - pad / 2;
    const int64_t ws[4] = {cout, k, k, cin}, cs[1] = {cout};
    const float bound = sqrtf(6.0f / (float)(k * k * cin));
    int32_t in[5] = {x, weights(g, 4, ws, -bound, bound)};
    int32_t t;
    ok(tq_graph_add_node(g, NULL, TQ_OP_CONV2D, 2, in, &a, &t), g, "conv");
    in[0] = t;
    in[1] = weights(g, 1, cs, 0.5f, 1.5f);   /* scale */
    in[2] = weights(g, 1, cs, -0.2f, 0.2f);  /* bias */
    in[3] = weights(g, 1, cs, -0.2f, 0.2f);  /* mean */
    in[4] = weights(g, 1, cs, 0.5f, 1.5f);   /* variance */
    ok(tq_graph_add_node(g, NULL, TQ_OP_BATCH_NORM, 5, in, NULL, &t), g, "bn");
    if (relu) {
        tq_node_attrs r;
        tq_node_attrs_init(&r);
        r.act = TQ_ACT_RELU;
        ok(tq_graph_add_node(g, NULL, TQ_OP_ACTIVATION, 1, &t, &r, &t), g,
           "relu");
    }
    return t;
}

static int32_t residual(tq_graph *g, int32_t x, int32_t cin, int32_t cout,
                        int32_t s, int32_t size)
{
    int32_t a = conv_bn_relu(g, x, cin, cout, 3, s, size, 1);
    a = conv_bn_relu(g, a, cout, cout, 3, 1, (size + s - 1) / s, 0);
    const int32_t b = s == 1 && cin == cout
                          ? x
                          : conv_bn_relu(g, x, cin, cout, 1, s, size, 0);
    const int32_t in[2] = {a, b};
    int32_t t;
    tq_node_attrs r;
    tq_node_attrs_init(&r);
    r.act = TQ_ACT_RELU;
    ok(tq_graph_add_node(g, NULL, TQ_OP_ADD, 2, in, NULL, &t), g, "add");
    ok(tq_graph_add_node(g, NULL, TQ_OP_ACTIVATION, 1, &t, &r, &t), g, "relu");
    return t;
}

static tq_graph *resnet8(void)
{
    tq_graph *g;
    int32_t x, t;
    const int64_t in[4] = {1, 32, 32, 3};
    ok(tq_graph_create(&g), NULL, "create");
    ok(tq_graph_add_input(g, "image", 4, in, &x), g, "input");
    t = conv_bn_relu(g, x, 3, 16, 3, 1, 32, 1);
    t = residual(g, t, 16, 16, 1, 32);
    t = residual(g, t, 16, 32, 2, 32);
    t = residual(g, t, 32, 64, 2, 16);
    tq_node_attrs p;
    tq_node_attrs_init(&p);
    p.pool = (tq_pool_params){8, 8, 8, 8, 0, 0, 0, 0};
    ok(tq_graph_add_node(g, "pool", TQ_OP_AVG_POOL, 1, &t, &p, &t), g, "pool");
    const int64_t ws[2] = {10, 64}, bs[1] = {10};
    const int32_t fc[3] = {t, weights(g, 2, ws, -0.3f, 0.3f),
                           weights(g, 1, bs, -0.1f, 0.1f)};
    ok(tq_graph_add_node(g, "logits", TQ_OP_FULLY_CONNECTED, 3, fc, NULL, &t),
       g, "fc");
    ok(tq_graph_set_output(g, t), g, "output");
    ok(tq_graph_finalize(g, TQ_REWRITE_ALL), g, "finalize");
    return g;
}

typedef struct job {
    const tq_graph *g;
    int64_t batch;
    const float *xf;
    const int8_t *xq;
    float *yf;
    int8_t *yq;
    void *arena;
    size_t bytes;
} job;

static void run_f32(void *p)
{
    job *j = p;
    ok(tq_graph_run_f32(j->g, j->batch, j->xf, j->yf, j->arena, j->bytes), j->g,
       "run_f32");
}

static void run_s8(void *p)
{
    job *j = p;
    ok(tq_graph_run_s8(j->g, j->batch, j->xq, j->yq, NULL, j->arena, j->bytes),
       j->g, "run_s8");
}

static int argmax_f(const float *v)
{
    int b = 0;
    for (int i = 1; i < 10; ++i)
        if (v[i] > v[b])
            b = i;
    return b;
}

static int argmax_acc(const int32_t *v)
{
    int b = 0;
    for (int i = 1; i < 10; ++i)
        if (v[i] > v[b])
            b = i;
    return b;
}

int main(void)
{
    enum { CAL = 64, EVAL = 256, IMG = 3072 };
    float *x = xmalloc((size_t)(CAL + EVAL) * IMG * sizeof *x);
    for (size_t i = 0; i < (size_t)(CAL + EVAL) * IMG; ++i)
        x[i] = uniform(-1.0f, 1.0f);
    tq_graph *g = resnet8();

    tq_quant_config cfg;
    tq_calibrator *cal;
    int32_t again = 1;
    ok(tq_quant_config_init(&cfg), NULL, "config");
    ok(tq_calibrator_create(g, &cfg, &cal), g, "calibrator");
    while (again) {
        for (int b = 0; b < CAL; b += 16)
            if (tq_calibrator_feed(cal, 16, x + (size_t)b * IMG) != TQ_OK) {
                fprintf(stderr, "feed: %s\n", tq_calibrator_error(cal));
                return 1;
            }
        ok(tq_calibrator_end_pass(cal, &again), NULL, "end_pass");
    }
    tq_graph *q;
    ok(tq_graph_quantize(g, cal, &q), g, "quantize");
    printf("ResNet-8 (MLPerf Tiny shape), random weights, every rewrite: %d "
           "float nodes, %d int8 nodes; calibrated on %d random images "
           "(min/max)\n",
           (int)tq_graph_node_count(g), (int)tq_graph_node_count(q), CAL);

    /* Agreement and error on EVAL other images. */
    const float *xe = x + (size_t)CAL * IMG;
    int8_t *xq = xmalloc((size_t)EVAL * IMG);
    float *yf = xmalloc((size_t)EVAL * 10 * sizeof *yf);
    float *yd = xmalloc((size_t)EVAL * 10 * sizeof *yd);
    int8_t *yq = xmalloc((size_t)EVAL * 10);
    int32_t *acc = xmalloc((size_t)EVAL * 10 * sizeof *acc);
    size_t fb, qb;
    ok(tq_graph_arena_size(g, EVAL, &fb), g, "arena");
    ok(tq_graph_arena_size(q, EVAL, &qb), q, "arena");
    void *arena = xmalloc(fb > qb ? fb : qb);
    ok(tq_graph_run_f32(g, EVAL, xe, yf, arena, fb), g, "run_f32");
    ok(tq_graph_quantize_input(q, (size_t)EVAL * IMG, xe, xq), q, "quantize");
    ok(tq_graph_run_s8(q, EVAL, xq, yq, acc, arena, qb), q, "run_s8");
    ok(tq_graph_dequantize_output(q, (size_t)EVAL * 10, yq, yd), q, "deq");
    tq_graph_tensor_info out;
    int32_t tin, tout;
    ok(tq_graph_io(q, &tin, &tout), q, "io");
    ok(tq_graph_tensor(q, tout, &out), q, "tensor");
    int agree = 0;
    double worst = 0.0, mean = 0.0;
    for (int i = 0; i < EVAL; ++i) {
        agree += argmax_f(yf + i * 10) == argmax_acc(acc + i * 10);
        for (int k = 0; k < 10; ++k) {
            const double e = fabs((double)yf[i * 10 + k] - yd[i * 10 + k]) /
                             out.scale[0];
            worst = e > worst ? e : worst;
            mean += e / (EVAL * 10);
        }
    }
    printf("int8 vs float on %d other images: argmax agreement %d/%d, logit "
           "error mean %.2f / max %.2f output scales (scale %.4g)\n",
           EVAL, agree, EVAL, mean, worst, (double)out.scale[0]);

    const int64_t batches[2] = {1, 32};
    for (int b = 0; b < 2; ++b) {
        job jf = {g, batches[b], xe, xq, yf, yq, NULL, 0};
        job jq = jf;
        jq.g = q;
        ok(tq_graph_arena_size(g, jf.batch, &jf.bytes), g, "arena");
        ok(tq_graph_arena_size(q, jq.batch, &jq.bytes), q, "arena");
        jf.arena = xmalloc(jf.bytes);
        jq.arena = xmalloc(jq.bytes);
        const double tf = time_call(run_f32, &jf), tq = time_call(run_s8, &jq);
        printf("batch %2d: f32 %8.1f us/image (arena %7zu B), int8 %8.1f "
               "us/image (arena %7zu B)\n",
               (int)batches[b], 1e6 * tf / (double)batches[b], jf.bytes,
               1e6 * tq / (double)batches[b], jq.bytes);
        free(jf.arena);
        free(jq.arena);
    }
    printf("kernel path %s\n", tq_kernel_path());
    free(x), free(xq), free(yf), free(yd), free(yq), free(acc), free(arena);
    tq_graph_free(q);
    tq_calibrator_free(cal);
    tq_graph_free(g);
    return 0;
}
