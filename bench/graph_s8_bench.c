/*
 * Integer-only graph execution: a ResNet-8 in the MLPerf Tiny shape
 * (resnet8.h) with random weights, built with the graph API and finalized
 * with every rewrite, calibrated (min/max) on 64 random images, quantized,
 * and run in float and in int8. Prints the time per image of each at batch 1 and 32, the arenas,
 * how far the dequantized int8 logits are from the float ones (in output
 * scales) and how often the two argmaxes agree on 256 other random images.
 *
 * With --models, instead: the committed ONNX models models/resnet8/
 * resnet8.onnx and models/dscnn/dscnn.onnx (tq_graph_load_onnx), calibrated
 * with the default configuration on the first 400 CIFAR-10 training
 * images ($TINYQ_DATA_DIR/cifar10/data_batch_1.bin, normalised as the
 * models were trained), quantized, and timed in f32 and int8 at batch 1
 * and 64; --layers adds the time of every node of both runs (the graph
 * runners' bench-only hook, lib/graph/profile.h); --torch also runs
 * bench/torch_graph_bench.py (PyTorch float and FX int8 on the same
 * models, one thread) and prints tinyq's ratios against it, all from this
 * one invocation. Times there are process CPU time (the machine is shared):
 * whole models the fastest of at least 10 calls and 1.5 s, nodes the
 * fastest of at least 20 runs.
 *
 * --xnnpack adds XNNPACK f32 and qs8 of the same graphs (bench/graph_xnn.c:
 * times, ratios, top-1 agreement with tinyq and CIFAR-10 test accuracy).
 *
 * Usage: graph_s8_bench [--min] [--models [--layers] [--torch]
 * [--xnnpack]]. Not a test.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime in bench_util.h */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tinyq.h>

#include "../lib/graph/profile.h"
#include "bench_util.h"
#include "graph_xnn.h"
#include "resnet8.h"

#ifndef TQ_BENCH_SOURCE_ROOT
#define TQ_BENCH_SOURCE_ROOT "."
#endif

static uint64_t seed = 424242;

/* Uniform in [lo, hi). */
static float uniform(float lo, float hi)
{
    return bench_uniform(&seed, lo, hi);
}

static void ok(tq_status s, const tq_graph *g, const char *what)
{
    bench_graph_ok("graph_s8_bench", s, g, what);
}

/* @p g quantized with the default configuration, calibrated on @p n
 * images of @p img floats at @p x, fed @p chunk at a time, as many passes
 * as the calibrator asks for. */
static tq_graph *quantize_default(tq_graph *g, const float *x, int n,
                                  int chunk, size_t img)
{
    tq_quant_config cfg;
    tq_calibrator *cal;
    int32_t again = 1;
    ok(tq_quant_config_init(&cfg), NULL, "config");
    ok(tq_calibrator_create(g, &cfg, &cal), g, "calibrator");
    while (again) {
        for (int b = 0; b < n; b += chunk)
            if (tq_calibrator_feed(cal, chunk, x + (size_t)b * img) != TQ_OK) {
                fprintf(stderr, "feed: %s\n", tq_calibrator_error(cal));
                exit(1);
            }
        ok(tq_calibrator_end_pass(cal, &again), NULL, "end_pass");
    }
    tq_graph *q;
    ok(tq_graph_quantize(g, cal, &q), g, "quantize");
    tq_calibrator_free(cal);
    return q;
}

/* He-uniform conv weights, drawn from the seed where the images left it. */
static tq_graph *resnet8(void)
{
    return bench_resnet8_build("graph_s8_bench", &seed, 1, TQ_REWRITE_ALL);
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

/* ---- --models: the committed ONNX models on CIFAR-10 ------------------ */

enum { MODEL_CAL = 400, MODEL_TIMING = 64, MODEL_IMG = 3072, MAX_NODES = 256 };

/* CPU time of this (single-threaded) process: on the shared machine (load
 * 10-17 on 2 cores) a call of a 64-image batch (20-200 ms) is almost never
 * left alone for its whole length, so its wall time mostly measures the
 * other jobs; bench/torch_graph_bench.py measures PyTorch the same way. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Per-node times of hooked runs: the fastest of each node over the runs. */
typedef struct prof {
    double last;
    int32_t nodes;
    double best[MAX_NODES];
} prof;

static void prof_hook(void *ctx, int32_t node)
{
    prof *p = ctx;
    const double t = cpu_seconds();
    if (node >= 0 && node < MAX_NODES && t - p->last < p->best[node])
        p->best[node] = t - p->last;
    p->last = cpu_seconds();
}

static void profile_run(const job *j, int quantized, prof *p)
{
    p->nodes = tq_graph_node_count(j->g);
    for (int32_t i = 0; i < MAX_NODES; ++i)
        p->best[i] = 1e30;
    const double start = cpu_seconds();
    int runs = 0;
    while (runs < 20 || cpu_seconds() - start < 0.5) {
        const tq_status s =
            quantized ? tq__graph_run_s8_hooked(j->g, j->batch, j->xq, j->yq,
                                                NULL, j->arena, j->bytes,
                                                prof_hook, p)
                      : tq__graph_run_f32_hooked(j->g, j->batch, j->xf, j->yf,
                                                 j->arena, j->bytes,
                                                 prof_hook, p);
        ok(s, j->g, "profiled run");
        ++runs;
    }
}

/* The table of one profiled run: node, op, output shape, time per image. */
static void print_profile(const tq_graph *g, const prof *p, int64_t batch,
                          const char *what)
{
    double total = 0.0;
    for (int32_t i = 0; i < p->nodes && i < MAX_NODES; ++i)
        total += p->best[i];
    printf("    %s, batch %d: per node, fastest of the runs, us per image "
           "(sum %.1f)\n", what, (int)batch, 1e6 * total / (double)batch);
    for (int32_t i = 0; i < p->nodes && i < MAX_NODES; ++i) {
        tq_graph_node_info ni;
        tq_graph_tensor_info ti;
        ok(tq_graph_node(g, i, &ni), g, "node");
        ok(tq_graph_tensor(g, ni.output, &ti), g, "tensor");
        char shape[48] = "";
        size_t at = 0;
        for (int32_t d = 0; d < ti.ndim && at < sizeof shape - 12; ++d)
            at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%lld",
                                   d ? "x" : "", (long long)ti.shape[d]);
        printf("      %3d %-40.40s %-22s %-12s %9.2f %5.1f %%\n", (int)i, ni.name,
               tq__op_name(ni.op), shape, 1e6 * p->best[i] / (double)batch,
               100.0 * p->best[i] / total);
    }
}

/* PyTorch's times from bench/torch_graph_bench.py, run once. */
typedef struct torch_row {
    char model[16], cfg[16];
    int batch;
    double us;
} torch_row;

static int torch_rows(torch_row *rows, int max)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/bench/torch_graph_bench.py --models resnet8 "
             "dscnn",
             TQ_BENCH_SOURCE_ROOT);
    printf("\n$ %s\n", cmd);
    fflush(stdout);
    FILE *f = popen(cmd, "r");
    if (!f) {
        fprintf(stderr, "graph_s8_bench: cannot run %s\n", cmd);
        return 0;
    }
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        torch_row r;
        if (sscanf(line, "TORCH %15s %15s %d %lf", r.model, r.cfg, &r.batch,
                   &r.us) == 4) {
            if (n < max)
                rows[n++] = r;
        } else {
            fputs(line, stdout);
        }
    }
    if (pclose(f) != 0)
        fprintf(stderr, "graph_s8_bench: the PyTorch script failed\n");
    return n;
}

typedef struct model_times {
    const char *name;
    double f32[2], s8[2]; /* us per image at batch 1, 64 */
} model_times;

static float *cifar_images(int count)
{
    const char *d = getenv("TINYQ_DATA_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/cifar10/data_batch_1.bin",
             d && *d ? d : TQ_BENCH_SOURCE_ROOT "/../shared/data");
    uint8_t *labels = xmalloc((size_t)count);
    uint8_t *pixels = xmalloc((size_t)count * MODEL_IMG);
    if (tq_cifar10_read(path, 0, count, labels, pixels) != TQ_OK) {
        fprintf(stderr, "graph_s8_bench: CIFAR-10 not found at %s (set "
                        "TINYQ_DATA_DIR to the folder that holds cifar10/)\n",
                path);
        exit(77);
    }
    float *x = xmalloc((size_t)count * MODEL_IMG * sizeof *x);
    const float mean[3] = {0.5f, 0.5f, 0.5f}, sd[3] = {0.5f, 0.5f, 0.5f};
    ok(tq_cifar10_normalize(count, pixels, mean, sd, x), NULL, "normalize");
    free(labels), free(pixels);
    return x;
}

/* A whole-model time: the fastest of at least 10 calls and 1.5 s of CPU
 * time (one call of a batch of 64 takes 20-200 ms, too long for
 * time_call()'s batches). */
static double time_model(bench_fn fn, void *ctx)
{
    fn(ctx);
    double best = 1e30;
    const double start = cpu_seconds();
    for (int runs = 0; runs < 10 || cpu_seconds() - start < 1.5; ++runs) {
        const double t0 = cpu_seconds();
        fn(ctx);
        const double t = cpu_seconds() - t0;
        best = t < best ? t : best;
    }
    return best;
}

/* --xnnpack: XNNPACK rows after tinyq's (graph_xnn.c). */
static int with_xnnpack;

static void bench_model(const char *name, const float *x, int layers,
                        model_times *mt)
{
    char path[1024], msg[512];
    snprintf(path, sizeof path, "%s/models/%s/%s.onnx", TQ_BENCH_SOURCE_ROOT,
             name, name);
    tq_graph *g;
    if (tq_graph_load_onnx(path, &g, msg, sizeof msg) != TQ_OK) {
        fprintf(stderr, "graph_s8_bench: %s: %s\n", path, msg);
        exit(1);
    }
    tq_graph *q = quantize_default(g, x, MODEL_CAL, 100, MODEL_IMG);
    printf("\n%s (%s): %d float nodes, %d int8 nodes; calibrated on "
           "images 0..%d of data_batch_1.bin (default configuration)\n",
           name, path, (int)tq_graph_node_count(g), (int)tq_graph_node_count(q),
           MODEL_CAL - 1);
    int8_t *xq = xmalloc((size_t)MODEL_TIMING * MODEL_IMG);
    float *yf = xmalloc((size_t)MODEL_TIMING * 10 * sizeof *yf);
    int8_t *yq = xmalloc((size_t)MODEL_TIMING * 10);
    ok(tq_graph_quantize_input(q, (size_t)MODEL_TIMING * MODEL_IMG, x, xq), q,
       "quantize input");
    const int64_t batches[2] = {1, MODEL_TIMING};
    mt->name = name;
    for (int b = 0; b < 2; ++b) {
        job jf = {g, batches[b], x, xq, yf, yq, NULL, 0};
        job jq = jf;
        jq.g = q;
        ok(tq_graph_arena_size(g, jf.batch, &jf.bytes), g, "arena");
        ok(tq_graph_arena_size(q, jq.batch, &jq.bytes), q, "arena");
        jf.arena = xmalloc(jf.bytes);
        jq.arena = xmalloc(jq.bytes);
        const double tf = time_model(run_f32, &jf), t8 = time_model(run_s8, &jq);
        mt->f32[b] = 1e6 * tf / (double)batches[b];
        mt->s8[b] = 1e6 * t8 / (double)batches[b];
        printf("  batch %2d: f32 %8.1f us/image, int8 %8.1f us/image; int8 "
               "speed-up over f32 %.2fx\n",
               (int)batches[b], mt->f32[b], mt->s8[b], tf / t8);
        if (layers) {
            static prof pf, pq;
            profile_run(&jq, 1, &pq);
            print_profile(q, &pq, batches[b], "int8");
            profile_run(&jf, 0, &pf);
            print_profile(g, &pf, batches[b], "f32");
        }
        free(jf.arena);
        free(jq.arena);
    }
    if (with_xnnpack)
        graph_xnn_model(name, g, q, mt->f32, mt->s8, time_model, x, MODEL_CAL);
    free(xq), free(yf), free(yq);
    tq_graph_free(q);
    tq_graph_free(g);
}

static int models_main(int layers, int with_torch)
{
    float *x = cifar_images(MODEL_CAL);
    printf("tinyq %s, kernel path %s, one thread; process CPU time; whole "
           "models: fastest of >= 10 calls and 1.5 s\n",
           tq_version_string(), tq_kernel_path());
    model_times mt[2];
    bench_model("resnet8", x, layers, &mt[0]);
    bench_model("dscnn", x, layers, &mt[1]);
    free(x);
    if (!with_torch)
        return 0;
    torch_row rows[64];
    const int n = torch_rows(rows, 64);
    printf("\ntinyq int8 speed-up (time ratio) over each, same invocation\n");
    printf("  %-8s %5s %10s %10s %12s %12s %12s\n", "model", "batch",
           "tinyq int8", "tinyq f32", "torch float", "torch onednn",
           "torch qnnpack");
    for (int m = 0; m < 2; ++m)
        for (int b = 0; b < 2; ++b) {
            const int batch = b ? MODEL_TIMING : 1;
            double tf = 0, to = 0, tqn = 0;
            for (int i = 0; i < n; ++i) {
                if (strcmp(rows[i].model, mt[m].name) || rows[i].batch != batch)
                    continue;
                if (!strcmp(rows[i].cfg, "float"))
                    tf = rows[i].us;
                else if (!strcmp(rows[i].cfg, "onednn"))
                    to = rows[i].us;
                else if (!strcmp(rows[i].cfg, "qnnpack"))
                    tqn = rows[i].us;
            }
            const double s8 = mt[m].s8[b];
            printf("  %-8s %5d %8.1fus %8.2fx %11.2fx %11.2fx %11.2fx\n",
                   mt[m].name, batch, s8, mt[m].f32[b] / s8, tf / s8, to / s8,
                   tqn / s8);
        }
    printf("  (ratios are the peer's time over tinyq int8's; times in us per "
           "image: tinyq above, PyTorch in its lines)\n");
    return 0;
}

int main(int argc, char **argv)
{
    int models = 0, layers = 0, with_torch = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--min"))
            bench_report_min = 1;
        else if (!strcmp(argv[i], "--models"))
            models = 1;
        else if (!strcmp(argv[i], "--layers"))
            layers = 1;
        else if (!strcmp(argv[i], "--torch"))
            with_torch = 1;
        else if (!strcmp(argv[i], "--xnnpack"))
            with_xnnpack = 1;
        else {
            fprintf(stderr, "usage: graph_s8_bench [--min] [--models "
                            "[--layers] [--torch] [--xnnpack]]\n");
            return 2;
        }
    }
    if (models)
        return models_main(layers, with_torch);
    enum { CAL = 64, EVAL = 256, IMG = 3072 };
    float *x = xmalloc((size_t)(CAL + EVAL) * IMG * sizeof *x);
    for (size_t i = 0; i < (size_t)(CAL + EVAL) * IMG; ++i)
        x[i] = uniform(-1.0f, 1.0f);
    tq_graph *g = resnet8();

    tq_graph *q = quantize_default(g, x, CAL, 16, IMG);
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
    tq_graph_free(g);
    return 0;
}
