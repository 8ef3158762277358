/*
 * Float graph execution: a ResNet-8 in the MLPerf Tiny image-classification
 * shape (resnet8.h), random weights, built with the graph API. Prints the
 * time per image at batch 1 and 32 with every rewrite and with none, the arena
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
#include "resnet8.h"

static uint64_t rng_state = 12345;

/* Uniform in [-0.5, 0.5). */
static float frand(void)
{
    return bench_uniform(&rng_state, -0.5f, 0.5f);
}

static void check(tq_status s, const tq_graph *g, const char *what)
{
    bench_graph_ok("graph_bench", s, g, what);
}

/* Conv weights in ±30 / fan_in, every draw from seed 12345. */
static tq_graph *resnet8(uint32_t rewrites)
{
    rng_state = 12345;
    return bench_resnet8_build("graph_bench", &rng_state, 0, rewrites);
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
