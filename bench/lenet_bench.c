/*
 * Whole-LeNet benchmark: the CIFAR-10 LeNet of examples/cifar10 (no
 * biases), time per image of a forward pass at batch 1 and batch 64, one
 * thread, for tinyq f32 and int8 and, when installed, XNNPACK f32 and
 * int8 (qs8) running the same layer shapes with the same weights, all in
 * this same run.
 *
 * The tinyq passes start from the NHWC input (float, or int8 codes already
 * quantized) and end at the logits; so do XNNPACK's (conv + ReLU, max pool,
 * conv + ReLU, max pool, three fully connected layers: XNNPACK has no fused
 * conv + pool). The int8 model is the demo's: per-channel weights, min/max
 * activation ranges calibrated on random images. XNNPACK's int8 output is
 * not compared (its fully connected layers take per-tensor weight scales);
 * it times the same work.
 *
 * Not a test: CI does not run it. Usage: lenet_bench [--min] [MODEL]
 * (--min: the fastest batch of calls instead of the median; bench_util.h)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "lenet.h"

#ifdef TQ_BENCH_XNNPACK
#include <xnnpack.h>
#endif

#ifndef TQ_BENCH_MODEL
#define TQ_BENCH_MODEL "examples/cifar10/lenet.safetensors"
#endif

enum { MAX_BATCH = 64 };

static void check(tq_status s, const char *what)
{
    if (s != TQ_OK) {
        fprintf(stderr, "%s: %s\n", what, tq_status_message(s));
        exit(1);
    }
}

/* ---- tinyq forward passes over a batch ------------------------------- */

typedef struct net {
    const lenet_f32 *f;
    const lenet_s8 *q;
    int32_t batch;
    const float *xf;  /* [batch][32][32][3] */
    const int8_t *x8; /* the same, quantized */
    float *af[LENET_TENSORS];
    int8_t *a8[LENET_TENSORS];
    void *scratch;
    size_t scratch_bytes;
    /* fc1..fc3 weights packed ahead of time (tq_s8_pack_weights), as an
     * XNNPACK operator packs its weights when it is created. */
    unsigned char *packed[LENET_LAYERS];
    size_t packed_bytes[LENET_LAYERS];
} net;

static const tq_conv_params valid = {
    .stride_h = 1, .stride_w = 1, .pad_top = 0, .pad_bottom = 0, .pad_left = 0,
    .pad_right = 0, .dilation_h = 1, .dilation_w = 1, .groups = 1};
static const int32_t conv_in_hw[2] = {32, 14}, pooled_hw[2] = {14, 5};

static void conv_dims(int l, int32_t batch, tq_dims *in, tq_dims *filter,
                      tq_dims *out)
{
    const lenet_layer *L = &lenet_layers[l];
    *in = (tq_dims){.n = batch, .h = conv_in_hw[l], .w = conv_in_hw[l], .c = L->in};
    *filter = (tq_dims){.n = L->out, .h = L->k, .w = L->k, .c = L->in};
    *out = (tq_dims){.n = batch, .h = pooled_hw[l], .w = pooled_hw[l], .c = L->out};
}

static void run_tinyq_f32(void *ctx)
{
    net *n = ctx;
    const tq_f32_act relu = {0.0f, INFINITY};
    n->af[0] = (float *)n->xf;
    for (int l = 0; l < 2; ++l) {
        tq_dims in, filter, out;
        conv_dims(l, n->batch, &in, &filter, &out);
        check(tq_f32_conv2d_relu_maxpool2(
                  &valid, &in, n->af[l], &filter, n->f->w[l], n->f->b[l], &relu,
                  &out, n->af[l + 1], n->scratch, n->scratch_bytes),
              "f32 conv");
    }
    for (int l = 2; l < LENET_LAYERS; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        check(tq_f32_fully_connected(n->batch, L->in, L->out, n->af[l],
                                     n->f->w[l], n->f->b[l],
                                     L->relu ? &relu : NULL, n->af[l + 1]),
              "f32 fc");
    }
}

static tq_s8_output stage(const lenet_s8 *q, int l)
{
    const tq_s8_output os = {
        q->mult[l],       q->shift[l],   q->w_channels[l] > 1, q->rounding,
        q->a_zero[l + 1], q->act_min[l], q->act_max[l]};
    return os;
}

static void run_s8_convs(net *n)
{
    const lenet_s8 *q = n->q;
    n->a8[0] = (int8_t *)n->x8;
    for (int l = 0; l < 2; ++l) {
        tq_dims in, filter, out;
        const tq_s8_output os = stage(q, l);
        conv_dims(l, n->batch, &in, &filter, &out);
        check(tq_s8_conv2d_relu_maxpool2(&valid, &in, n->a8[l], -q->a_zero[l],
                                         &filter, q->w[l], q->b[l], &os, &out,
                                         n->a8[l + 1], n->scratch,
                                         n->scratch_bytes),
              "s8 conv");
    }
}

/* The whole int8 pass; the fully connected layers read their weights
 * packed ahead of time or as plain [out][in] rows. */
static void run_s8(net *n, int packed)
{
    const lenet_s8 *q = n->q;
    run_s8_convs(n);
    for (int l = 2; l < LENET_LAYERS; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        const tq_s8_output os = stage(q, l);
        check(packed ? tq_s8_fully_connected_packed(
                           n->batch, L->in, L->out, n->a8[l], -q->a_zero[l],
                           n->packed[l], n->packed_bytes[l], q->b[l], &os,
                           n->a8[l + 1])
                     : tq_s8_fully_connected(n->batch, L->in, L->out, n->a8[l],
                                             -q->a_zero[l], q->w[l], 0,
                                             q->b[l], &os, n->a8[l + 1]),
              "s8 fc");
    }
}

static void run_tinyq_s8(void *ctx)
{
    run_s8(ctx, 0);
}

static void run_tinyq_s8_packed(void *ctx)
{
    run_s8(ctx, 1);
}

/* ---- XNNPACK ------------------------------------------------------------ */

#ifdef TQ_BENCH_XNNPACK
typedef struct xnet {
    xnn_operator_t op[7];
    int count;
} xnet;

static void xcheck(enum xnn_status s, const char *what)
{
    if (s != xnn_status_success) {
        fprintf(stderr, "XNNPACK %s failed (%d)\n", what, (int)s);
        exit(1);
    }
}

static void run_xnn(void *ctx)
{
    xnet *x = ctx;
    for (int i = 0; i < x->count; ++i)
        xcheck(xnn_run_operator(x->op[i], NULL), "run");
}

static void xnn_free_net(xnet *x)
{
    for (int i = 0; i < x->count; ++i)
        xnn_delete_operator(x->op[i]);
    x->count = 0;
}

/* conv + ReLU, pool, conv + ReLU, pool, fc + ReLU, fc + ReLU, fc. */
static void xnn_build_f32(xnet *x, const lenet_f32 *f, int32_t batch,
                          const float *in, float *const act[LENET_TENSORS],
                          float *conv_buf)
{
    const float *src = in;
    x->count = 0;
    for (int l = 0; l < 2; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        const size_t hw = (size_t)conv_in_hw[l];
        xcheck(xnn_create_convolution2d_nhwc_f32(
                   0, 0, 0, 0, 5, 5, 1, 1, 1, 1, 1, (size_t)L->in,
                   (size_t)L->out, (size_t)L->in, (size_t)L->out, f->w[l],
                   f->b[l], 0.0f, INFINITY, 0, &x->op[x->count]),
               "conv f32");
        xcheck(xnn_setup_convolution2d_nhwc_f32(x->op[x->count++],
                                                (size_t)batch, hw, hw, src,
                                                conv_buf, NULL),
               "setup conv f32");
        xcheck(xnn_create_max_pooling2d_nhwc_f32(
                   0, 0, 0, 0, 2, 2, 2, 2, 1, 1, (size_t)L->out, (size_t)L->out,
                   (size_t)L->out, -INFINITY, INFINITY, 0, &x->op[x->count]),
               "pool f32");
        xcheck(xnn_setup_max_pooling2d_nhwc_f32(x->op[x->count++],
                                                (size_t)batch, hw - 4, hw - 4,
                                                conv_buf, act[l + 1], NULL),
               "setup pool f32");
        src = act[l + 1];
    }
    for (int l = 2; l < LENET_LAYERS; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        xcheck(xnn_create_fully_connected_nc_f32(
                   (size_t)L->in, (size_t)L->out, (size_t)L->in, (size_t)L->out,
                   f->w[l], f->b[l], L->relu ? 0.0f : -INFINITY, INFINITY, 0,
                   &x->op[x->count]),
               "fc f32");
        xcheck(xnn_setup_fully_connected_nc_f32(
                   x->op[x->count++], (size_t)batch, act[l], act[l + 1], NULL),
               "setup fc f32");
    }
}

static void xnn_build_qs8(xnet *x, const lenet_s8 *q, int32_t batch,
                          const int8_t *in, int8_t *const act[LENET_TENSORS],
                          int8_t *conv_buf)
{
    const int8_t *src = in;
    x->count = 0;
    for (int l = 0; l < 2; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        const size_t hw = (size_t)conv_in_hw[l];
        float scales[LENET_MAX_OUT];
        for (int32_t c = 0; c < L->out; ++c)
            scales[c] = q->w_scale[l][q->w_channels[l] > 1 ? c : 0];
        xcheck(xnn_create_convolution2d_nhwc_qc8(
                   0, 0, 0, 0, 5, 5, 1, 1, 1, 1, 1, (size_t)L->in,
                   (size_t)L->out, (size_t)L->in, (size_t)L->out,
                   (int8_t)q->a_zero[l], q->a_scale[l], scales, q->w[l],
                   q->b[l], (int8_t)q->a_zero[l + 1], q->a_scale[l + 1],
                   (int8_t)q->act_min[l], (int8_t)q->act_max[l], 0,
                   &x->op[x->count]),
               "conv qc8");
        xcheck(xnn_setup_convolution2d_nhwc_qc8(x->op[x->count++],
                                                (size_t)batch, hw, hw, src,
                                                conv_buf, NULL),
               "setup conv qc8");
        xcheck(xnn_create_max_pooling2d_nhwc_s8(
                   0, 0, 0, 0, 2, 2, 2, 2, 1, 1, (size_t)L->out, (size_t)L->out,
                   (size_t)L->out, -128, 127, 0, &x->op[x->count]),
               "pool s8");
        xcheck(xnn_setup_max_pooling2d_nhwc_s8(x->op[x->count++], (size_t)batch,
                                               hw - 4, hw - 4, conv_buf,
                                               act[l + 1], NULL),
               "setup pool s8");
        src = act[l + 1];
    }
    for (int l = 2; l < LENET_LAYERS; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        xcheck(xnn_create_fully_connected_nc_qs8(
                   (size_t)L->in, (size_t)L->out, (size_t)L->in, (size_t)L->out,
                   (int8_t)q->a_zero[l], q->a_scale[l], q->w_scale[l][0],
                   q->w[l], q->b[l], (int8_t)q->a_zero[l + 1],
                   q->a_scale[l + 1], (int8_t)q->act_min[l],
                   (int8_t)q->act_max[l], 0, &x->op[x->count]),
               "fc qs8");
        xcheck(xnn_setup_fully_connected_nc_qs8(
                   x->op[x->count++], (size_t)batch, act[l], act[l + 1], NULL),
               "setup fc qs8");
    }
}
#endif

/* ---- the model -------------------------------------------------------- */

static void quantize_model(const lenet_f32 *f, const float *calib, int64_t n,
                           lenet_s8 *q)
{
    const lenet_wq_config wq = {1, TQ_RANGE_ABSMAX, 0.0, 1};
    const tq_range_config minmax = {TQ_RANGE_MINMAX, 0, 0.0, 0.0};
    static lenet_calib c;
    check(lenet_calib_collect(f, calib, n, &c), "calibration");
    q->rounding = TQ_ROUND_DOUBLE;
    check(lenet_quantize_weights(f, &wq, q), "weights");
    check(lenet_calib_apply(&c, &minmax, 0, q), "ranges");
    check(lenet_finish_s8(f, q), "multipliers");
    lenet_calib_free(&c);
}

static size_t scratch_for(int32_t batch)
{
    size_t most = 0;
    for (int l = 0; l < 2; ++l) {
        tq_dims in, filter, out;
        size_t b8 = 0, bf = 0;
        conv_dims(l, batch, &in, &filter, &out);
        check(tq_s8_conv2d_relu_maxpool2_scratch_size(&valid, &in, &filter,
                                                      &out, &b8),
              "scratch");
        check(tq_f32_conv2d_relu_maxpool2_scratch_size(&valid, &in, &filter,
                                                       &out, &bf),
              "scratch");
        most = b8 > most ? b8 : most;
        most = bf > most ? bf : most;
    }
    return most;
}

static void report(const char *who, int32_t batch, double seconds, double ours)
{
    const double us = seconds / batch * 1e6;
    printf("  batch %2d  %-22s %9.2f us/image", (int)batch, who, us);
    if (ours > 0)
        printf("   peer/tinyq s8 = %.2fx", seconds / ours);
    printf("\n");
}

int main(int argc, char **argv)
{
    int arg = 1;
    if (argc > 1 && strcmp(argv[1], "--min") == 0) {
        bench_report_min = 1;
        arg = 2;
    }
    const char *path = argc > arg ? argv[arg] : TQ_BENCH_MODEL;
    static lenet_f32 f;
    static lenet_s8 q;
    check(lenet_load_f32(path, &f), path);

    /* Inputs and calibration: random images in the normalised range. */
    uint64_t state = 2026;
    const size_t image = LENET_IMAGE;
    float *xf = xmalloc(MAX_BATCH * image * sizeof(float));
    int8_t *x8 = xmalloc(MAX_BATCH * image);
    for (size_t i = 0; i < MAX_BATCH * image; ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        xf[i] = (float)((state >> 40) % 2001) / 1000.0f - 1.0f;
    }
    quantize_model(&f, xf, MAX_BATCH, &q);
    check(tq_s8_quantize_f32(MAX_BATCH * image, xf, q.a_scale[0], q.a_zero[0],
                             x8),
          "quantize input");

    net n = {&f, &q, 1, xf, x8, {NULL}, {NULL}, NULL, 0, {NULL}, {0}};
    for (int t = 1; t < LENET_TENSORS; ++t) {
        n.af[t] = xmalloc(MAX_BATCH * lenet_act_size[t] * sizeof(float));
        n.a8[t] = xmalloc(MAX_BATCH * lenet_act_size[t]);
    }
    n.scratch_bytes = scratch_for(MAX_BATCH);
    n.scratch = xmalloc(n.scratch_bytes);

    for (int l = 2; l < LENET_LAYERS; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        check(tq_s8_packed_weights_size(L->out, L->in, &n.packed_bytes[l]),
              "packed size");
        n.packed[l] = xmalloc(n.packed_bytes[l]);
        check(tq_s8_pack_weights(L->out, L->in, q.w[l], L->in, n.packed[l],
                                 n.packed_bytes[l]),
              "pack");
    }

    /* The batched int8 passes are the example's, image for image. */
    n.batch = MAX_BATCH;
    run_tinyq_s8_packed(&n);
    int8_t *packed_logits = xmalloc(MAX_BATCH * LENET_CLASSES);
    memcpy(packed_logits, n.a8[5], MAX_BATCH * LENET_CLASSES);
    run_tinyq_s8(&n);
    if (memcmp(packed_logits, n.a8[5], MAX_BATCH * LENET_CLASSES) != 0) {
        fprintf(stderr, "the packed int8 pass differs from the unpacked one\n");
        return 1;
    }
    free(packed_logits);
    for (int32_t b = 0; b < MAX_BATCH; ++b) {
        int8_t logits[LENET_CLASSES];
        int32_t acc[LENET_CLASSES];
        check(lenet_forward_s8(&q, x8 + (size_t)b * image, logits, acc,
                               n.scratch, n.scratch_bytes),
              "lenet_forward_s8");
        if (memcmp(logits, n.a8[5] + (size_t)b * LENET_CLASSES,
                   sizeof logits) != 0) {
            fprintf(stderr,
                    "batched int8 pass differs from lenet_forward_s8\n");
            return 1;
        }
    }

    printf("LeNet (CIFAR-10, %s, 1.3 M ops per image), time per image, "
           "single thread, %s\ntinyq %s, kernel path %s\n",
           f.has_bias ? "with biases" : "no biases",
           bench_report_min ? "fastest batch of calls" : "median of 5",
           tq_version_string(),
           tq_kernel_path());
#ifdef TQ_BENCH_XNNPACK
    xcheck(xnn_initialize(NULL), "initialize");
    printf("peer: XNNPACK (Debian libxnnpack-dev)\n");
#else
    printf("peer: (XNNPACK not found)\n");
#endif
    static const int32_t batches[2] = {1, MAX_BATCH};
    for (int bi = 0; bi < 2; ++bi) {
        n.batch = batches[bi];
        const double t8 = time_call(run_tinyq_s8_packed, &n);
        const double tu = time_call(run_tinyq_s8, &n);
        const double tf = time_call(run_tinyq_f32, &n);
        report("tinyq s8", n.batch, t8, 0);
        report("tinyq s8, FC unpacked", n.batch, tu, t8);
        report("tinyq f32", n.batch, tf, t8);
#ifdef TQ_BENCH_XNNPACK
        xnet x;
        float *convf = xmalloc((size_t)n.batch * 28 * 28 * 6 * sizeof(float));
        int8_t *conv8 = xmalloc((size_t)n.batch * 28 * 28 * 6);
        xnn_build_qs8(&x, &q, n.batch, x8, n.a8, conv8);
        report("XNNPACK qs8", n.batch, time_call(run_xnn, &x), t8);
        xnn_free_net(&x);
        xnn_build_f32(&x, &f, n.batch, xf, n.af, convf);
        report("XNNPACK f32", n.batch, time_call(run_xnn, &x), t8);
        xnn_free_net(&x);
        free(convf);
        free(conv8);
#endif
    }
    for (int t = 1; t < LENET_TENSORS; ++t) {
        free(n.af[t]);
        free(n.a8[t]);
    }
    for (int l = 2; l < LENET_LAYERS; ++l)
        free(n.packed[l]);
    free(n.scratch);
    free(xf);
    free(x8);
    return 0;
}
