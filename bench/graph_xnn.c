/*
 * XNNPACK rows of graph_s8_bench --models (issue 13 item 4).
 *
 * A finalized tinyq graph is rebuilt node for node as an XNNPACK subgraph
 * (xnn_define_*), one runtime per batch size, one thread (no thread pool):
 *  - f32: tensors and weights of the float graph (the same float model,
 *    BatchNorm folded as tinyq folds it);
 *  - qs8: the quantized graph's int8 weights (per-channel scales as
 *    XNNPACK's qcint8, channel axis 0 for convolutions, 3 for depthwise;
 *    per-tensor qint8 for the fully connected layer, as tinyq makes it),
 *    its int32 biases and every activation's scale and zero point, so
 *    that both run the same int8 network. XNNPACK rounds its
 *    requantization its own way (fp32 multipliers), so its int8 logits may
 *    differ from tinyq's by a code here and there: the agreement printed
 *    is of the top-1 class.
 * Nodes: conv (groups), depthwise conv, fully connected, add of two
 * activations, max pool, global average pool (and an average pool whose
 * window is its whole unpadded input, e.g. ResNet-8's 8x8), clamp;
 * reshape / identity are views. Anything else is reported and skipped.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L
#include "graph_xnn.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TQ_BENCH_SOURCE_ROOT
#define TQ_BENCH_SOURCE_ROOT "."
#endif

#ifndef TQ_BENCH_XNNPACK

int graph_xnn_model(const char *name, const tq_graph *g, const tq_graph *q,
                    const double tq_f32[2], const double tq_s8[2],
                    graph_xnn_timer timer, const float *fallback,
                    int n_fallback)
{
    (void)g, (void)q, (void)tq_f32, (void)tq_s8, (void)timer, (void)fallback,
        (void)n_fallback;
    printf("  %s: XNNPACK rows skipped (built without XNNPACK: install "
           "libxnnpack-dev and reconfigure)\n", name);
    return 1;
}

#else

#include <xnnpack.h>

#ifndef TQ_BENCH_XNNPACK_VERSION
#define TQ_BENCH_XNNPACK_VERSION "version unknown"
#endif

enum { IMG = 3072, CLASSES = 10, EVAL_BATCH = 64 };

/* One XNNPACK runtime of a graph at one batch size. */
typedef struct xnet {
    xnn_subgraph_t sg;
    xnn_runtime_t rt;
    int quantized;
    int64_t batch;
    void *in, *out; /* bound buffers; in has XNN_EXTRA_BYTES slack */
} xnet;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(char *msg, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    return 1;
}

/* Output clamp of a node's fused activation. */
static void clamp_of(const tq_node_attrs *a, float *lo, float *hi)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    if (a->act == TQ_ACT_RELU)
        *lo = 0.0f;
    else if (a->act == TQ_ACT_RELU6)
        *lo = 0.0f, *hi = 6.0f;
    else if (a->act == TQ_ACT_CLIP)
        *lo = a->act_min, *hi = a->act_max;
}

typedef struct builder {
    const tq_graph *f, *q; /* q NULL for f32 */
    int64_t batch;
    int32_t input, output;
    uint32_t *id; /* tinyq tensor -> XNNPACK value */
    xnn_subgraph_t sg;
    char *msg;
    size_t msg_size;
} builder;

/* The XNNPACK value of tinyq tensor @p t, defined on first use. */
static int value(builder *b, int32_t t, uint32_t *out)
{
    if (b->id[t] != XNN_INVALID_VALUE_ID) {
        *out = b->id[t];
        return 0;
    }
    tq_graph_tensor_info ti;
    if (tq_graph_tensor(b->q ? b->q : b->f, t, &ti) != TQ_OK)
        return fail(b->msg, b->msg_size, "tensor %d missing", (int)t);
    size_t dims[TQ_MAX_DIMS];
    for (int32_t d = 0; d < ti.ndim; ++d)
        dims[d] = (size_t)ti.shape[d];
    if (!ti.is_constant)
        dims[0] = (size_t)b->batch; /* one sample -> the batch */
    uint32_t ext = XNN_INVALID_VALUE_ID, flags = 0;
    if (t == b->input)
        ext = 0, flags = XNN_VALUE_FLAG_EXTERNAL_INPUT;
    else if (t == b->output)
        ext = 1, flags = XNN_VALUE_FLAG_EXTERNAL_OUTPUT;
    const void *data = ti.is_constant ? ti.data : NULL;
    enum xnn_status s;
    if (!b->q) {
        if (ti.dtype != TQ_F32)
            return fail(b->msg, b->msg_size, "tensor %s: dtype %d", ti.name,
                        (int)ti.dtype);
        s = xnn_define_tensor_value(b->sg, xnn_datatype_fp32,
                                    (size_t)ti.ndim, dims, data, ext, flags,
                                    &b->id[t]);
    } else if (ti.dtype != TQ_S8 && ti.dtype != TQ_S32) {
        return fail(b->msg, b->msg_size,
                    "tensor %s: dtype %d (XNNPACK qs8 takes int8 tensors "
                    "and int32 biases)", ti.name, (int)ti.dtype);
    } else if (ti.qcount > 1) {
        s = xnn_define_channelwise_quantized_tensor_value(
            b->sg,
            ti.dtype == TQ_S8 ? xnn_datatype_qcint8 : xnn_datatype_qcint32,
            ti.scale, (size_t)ti.ndim, (size_t)ti.qaxis, dims, data, ext,
            flags, &b->id[t]);
    } else {
        s = xnn_define_quantized_tensor_value(
            b->sg, ti.dtype == TQ_S8 ? xnn_datatype_qint8 : xnn_datatype_qint32,
            ti.zero_point[0], ti.scale[0], (size_t)ti.ndim, dims, data, ext,
            flags, &b->id[t]);
    }
    if (s != xnn_status_success)
        return fail(b->msg, b->msg_size, "define tensor %s: status %d",
                    ti.name, (int)s);
    *out = b->id[t];
    return 0;
}

/* One node of the float graph's structure onto the subgraph. */
static int node(builder *b, const tq_graph_node_info *n)
{
    const tq_node_attrs *a = &n->attrs;
    tq_graph_tensor_info xi;
    if (tq_graph_tensor(b->f, n->inputs[0], &xi) != TQ_OK)
        return fail(b->msg, b->msg_size, "node %s: no input", n->name);
    if (n->op == TQ_OP_RESHAPE || n->op == TQ_OP_IDENTITY) {
        /* A view: XNNPACK's fully connected flattens its input itself. */
        if (n->output == b->output)
            return fail(b->msg, b->msg_size, "node %s: op %d as the output",
                        n->name, (int)n->op);
        uint32_t v;
        if (value(b, n->inputs[0], &v))
            return 1;
        b->id[n->output] = v;
        return 0;
    }
    uint32_t in[3] = {XNN_INVALID_VALUE_ID, XNN_INVALID_VALUE_ID,
                      XNN_INVALID_VALUE_ID};
    uint32_t out;
    for (int32_t i = 0; i < n->n_inputs && i < 3; ++i)
        if (value(b, n->inputs[i], &in[i]))
            return 1;
    if (value(b, n->output, &out))
        return 1;
    float lo, hi;
    clamp_of(a, &lo, &hi);
    const tq_conv_params *c = &a->conv;
    const int64_t ih = xi.ndim == 4 ? xi.shape[1] : 1,
                  iw = xi.ndim == 4 ? xi.shape[2] : 1,
                  ic = xi.shape[xi.ndim - 1];
    enum xnn_status s;
    switch (n->op) {
    case TQ_OP_CONV2D: {
        tq_graph_tensor_info w;
        tq_graph_tensor(b->f, n->inputs[1], &w);
        s = xnn_define_convolution_2d(
            b->sg, (uint32_t)c->pad_top, (uint32_t)c->pad_right,
            (uint32_t)c->pad_bottom, (uint32_t)c->pad_left,
            (uint32_t)w.shape[1], (uint32_t)w.shape[2], (uint32_t)c->stride_h,
            (uint32_t)c->stride_w, (uint32_t)c->dilation_h,
            (uint32_t)c->dilation_w, (uint32_t)c->groups,
            (size_t)(ic / c->groups), (size_t)(w.shape[0] / c->groups), lo, hi,
            in[0], in[1], in[2], out, 0);
        break;
    }
    case TQ_OP_DEPTHWISE_CONV2D: {
        tq_graph_tensor_info w;
        tq_graph_tensor(b->f, n->inputs[1], &w);
        s = xnn_define_depthwise_convolution_2d(
            b->sg, (uint32_t)c->pad_top, (uint32_t)c->pad_right,
            (uint32_t)c->pad_bottom, (uint32_t)c->pad_left,
            (uint32_t)w.shape[1], (uint32_t)w.shape[2], (uint32_t)c->stride_h,
            (uint32_t)c->stride_w, (uint32_t)c->dilation_h,
            (uint32_t)c->dilation_w, (uint32_t)a->depth_multiplier,
            (size_t)ic, lo, hi, in[0], in[1], in[2], out, 0);
        break;
    }
    case TQ_OP_FULLY_CONNECTED:
        s = xnn_define_fully_connected(b->sg, lo, hi, in[0], in[1], in[2], out,
                                       0);
        break;
    case TQ_OP_ADD: {
        tq_graph_tensor_info y;
        tq_graph_tensor(b->f, n->inputs[1], &y);
        if (y.is_constant)
            return fail(b->msg, b->msg_size, "node %s: add of a constant",
                        n->name);
        s = xnn_define_add2(b->sg, lo, hi, in[0], in[1], out, 0);
        break;
    }
    case TQ_OP_GLOBAL_AVG_POOL:
        s = xnn_define_global_average_pooling_2d(b->sg, -INFINITY, INFINITY,
                                                 in[0], out, 0);
        break;
    case TQ_OP_AVG_POOL: {
        const tq_pool_params *p = &a->pool;
        if (p->kernel_h != ih || p->kernel_w != iw || p->pad_top ||
            p->pad_bottom || p->pad_left || p->pad_right)
            return fail(b->msg, b->msg_size,
                        "node %s: average pool other than global",
                        n->name);
        s = xnn_define_global_average_pooling_2d(b->sg, -INFINITY, INFINITY,
                                                 in[0], out, 0);
        break;
    }
    case TQ_OP_MAX_POOL: {
        const tq_pool_params *p = &a->pool;
        s = xnn_define_max_pooling_2d(
            b->sg, (uint32_t)p->pad_top, (uint32_t)p->pad_right,
            (uint32_t)p->pad_bottom, (uint32_t)p->pad_left,
            (uint32_t)p->kernel_h, (uint32_t)p->kernel_w, (uint32_t)p->stride_h,
            (uint32_t)p->stride_w, 1, 1, -INFINITY, INFINITY, in[0], out, 0);
        break;
    }
    case TQ_OP_ACTIVATION:
        s = xnn_define_clamp(b->sg, lo, hi, in[0], out, 0);
        break;
    default:
        return fail(b->msg, b->msg_size, "node %s: op %d not mapped", n->name,
                    (int)n->op);
    }
    if (s != xnn_status_success)
        return fail(b->msg, b->msg_size, "node %s: XNNPACK status %d", n->name,
                    (int)s);
    return 0;
}

static void xnet_free(xnet *x)
{
    if (x->rt)
        xnn_delete_runtime(x->rt);
    if (x->sg)
        xnn_delete_subgraph(x->sg);
    free(x->in);
    free(x->out);
    memset(x, 0, sizeof *x);
}

/* The subgraph of @p f (structure) with @p q's tensors when @p q is not
 * NULL, its runtime at @p batch, and bound input/output buffers. */
static int xnet_build(xnet *x, const tq_graph *f, const tq_graph *q,
                      int64_t batch, char *msg, size_t msg_size)
{
    memset(x, 0, sizeof *x);
    x->quantized = q != NULL;
    x->batch = batch;
    const int32_t nodes = tq_graph_node_count(f);
    if (q && tq_graph_node_count(q) != nodes)
        return fail(msg, msg_size, "the quantized graph has %d nodes",
                    (int)tq_graph_node_count(q));
    builder b = {f, q, batch, 0, 0, NULL, NULL, msg, msg_size};
    tq_graph_io(f, &b.input, &b.output);
    const int32_t nt = tq_graph_tensor_count(f);
    b.id = xmalloc((size_t)nt * sizeof *b.id);
    for (int32_t t = 0; t < nt; ++t)
        b.id[t] = XNN_INVALID_VALUE_ID;
    int bad = xnn_create_subgraph(2, 0, &x->sg) != xnn_status_success;
    if (bad)
        fail(msg, msg_size, "xnn_create_subgraph failed");
    b.sg = x->sg;
    for (int32_t i = 0; i < nodes && !bad; ++i) {
        tq_graph_node_info n, nq;
        tq_graph_node(f, i, &n);
        if (q) { /* the same nodes over the same tensors */
            tq_graph_node(q, i, &nq);
            int same = nq.output == n.output && nq.n_inputs == n.n_inputs;
            for (int32_t k = 0; same && k < n.n_inputs; ++k)
                same = nq.inputs[k] == n.inputs[k];
            if (!same) {
                bad = fail(msg, msg_size, "node %s: the quantized graph "
                           "differs here", n.name);
                break;
            }
        }
        bad = node(&b, &n);
    }
    free(b.id);
    if (!bad) {
        const enum xnn_status s = xnn_create_runtime_v2(x->sg, NULL, 0, &x->rt);
        if (s != xnn_status_success)
            bad = fail(msg, msg_size, "xnn_create_runtime_v2: status %d",
                       (int)s);
    }
    if (!bad) {
        const size_t elem = q ? 1 : sizeof(float);
        x->in = xmalloc((size_t)batch * IMG * elem + XNN_EXTRA_BYTES);
        x->out = xmalloc((size_t)batch * CLASSES * elem + XNN_EXTRA_BYTES);
        memset(x->in, 0, (size_t)batch * IMG * elem + XNN_EXTRA_BYTES);
        const struct xnn_external_value io[2] = {{0, x->in}, {1, x->out}};
        const enum xnn_status s = xnn_setup_runtime(x->rt, 2, io);
        if (s != xnn_status_success)
            bad = fail(msg, msg_size, "xnn_setup_runtime: status %d",
                       (int)s);
    }
    if (bad)
        xnet_free(x);
    return bad;
}

static void xnet_invoke(void *ctx)
{
    xnet *x = ctx;
    const enum xnn_status s = xnn_invoke_runtime(x->rt);
    if (s != xnn_status_success) {
        fprintf(stderr, "graph_s8_bench: xnn_invoke_runtime: status %d\n",
                (int)s);
        exit(1);
    }
}

static int argmax_f32(const float *v)
{
    int m = 0;
    for (int i = 1; i < CLASSES; ++i)
        if (v[i] > v[m])
            m = i;
    return m;
}

static int argmax_s8(const int8_t *v)
{
    int m = 0;
    for (int i = 1; i < CLASSES; ++i)
        if (v[i] > v[m])
            m = i;
    return m;
}

static void tq_ok(tq_status s, const tq_graph *g, const char *what)
{
    if (s != TQ_OK) {
        fprintf(stderr, "graph_s8_bench: %s: %s (%s)\n", what,
                tq_status_message(s), g ? tq_graph_error(g) : "");
        exit(1);
    }
}

/* Agreement and accuracy counts over the evaluation images. */
typedef struct tally {
    int images, labelled;
    int agree_f32, agree_s8, agree_s8_f32; /* xnn f32 = tq f32, xnn qs8 = tq
                                              int8, tq int8 = tq f32 */
    int correct[4]; /* tq f32, tq int8, xnn f32, xnn qs8 */
    int max_codes;             /* largest |qs8 - int8| logit, in codes */
    long long logits, off_codes; /* logits compared, sum of |qs8 - int8| */
    long long same_logits;      /* int8 logits XNNPACK matches exactly */
    double max_f32;             /* largest |XNNPACK f32 - tinyq f32| logit */
} tally;

/* Runs the four networks on @p count (<= EVAL_BATCH) images at @p x (NHWC
 * floats) and counts; @p labels may be NULL. */
static void eval_chunk(const tq_graph *g, const tq_graph *q, xnet *xf,
                       xnet *x8, const float *x, const uint8_t *labels,
                       int count, void *arena, size_t arena_bytes, tally *t)
{
    static float yf[EVAL_BATCH * CLASSES];
    static int8_t yq[EVAL_BATCH * CLASSES];
    memset(xf->in, 0, (size_t)EVAL_BATCH * IMG * sizeof(float));
    memcpy(xf->in, x, (size_t)count * IMG * sizeof(float));
    memset(x8->in, 0, (size_t)EVAL_BATCH * IMG);
    tq_ok(tq_graph_quantize_input(q, (size_t)count * IMG, x, x8->in), q,
          "quantize input");
    tq_ok(tq_graph_run_f32(g, count, x, yf, arena, arena_bytes), g, "run_f32");
    tq_ok(tq_graph_run_s8(q, count, x8->in, yq, NULL, arena, arena_bytes), q,
          "run_s8");
    xnet_invoke(xf);
    xnet_invoke(x8);
    const float *of = xf->out;
    const int8_t *o8 = x8->out;
    for (int i = 0; i < count; ++i) {
        const int p[4] = {argmax_f32(yf + i * CLASSES),
                          argmax_s8(yq + i * CLASSES),
                          argmax_f32(of + i * CLASSES),
                          argmax_s8(o8 + i * CLASSES)};
        t->agree_f32 += p[2] == p[0];
        t->agree_s8 += p[3] == p[1];
        t->agree_s8_f32 += p[1] == p[0];
        for (int k = i * CLASSES; k < (i + 1) * CLASSES; ++k) {
            const int d = abs((int)o8[k] - (int)yq[k]);
            const double e = fabs((double)of[k] - (double)yf[k]);
            t->max_codes = d > t->max_codes ? d : t->max_codes;
            t->off_codes += d;
            t->same_logits += d == 0;
            t->max_f32 = e > t->max_f32 ? e : t->max_f32;
        }
        t->logits += CLASSES;
        if (labels)
            for (int k = 0; k < 4; ++k)
                t->correct[k] += p[k] == labels[i];
    }
    t->images += count;
    t->labelled += labels ? count : 0;
}

static double pct(int a, int n)
{
    return n ? 100.0 * a / n : 0.0;
}

static int initialized;

int graph_xnn_model(const char *name, const tq_graph *g, const tq_graph *q,
                    const double tq_f32[2], const double tq_s8[2],
                    graph_xnn_timer timer, const float *fallback,
                    int n_fallback)
{
    char msg[512];
    if (!initialized) {
        if (xnn_initialize(NULL) != xnn_status_success) {
            printf("  %s: xnn_initialize failed\n", name);
            return 1;
        }
        initialized = 1;
    }
    printf("  XNNPACK (%s; subgraph API, one thread), %s from tinyq's "
           "graphs:\n", TQ_BENCH_XNNPACK_VERSION, name);
    const int64_t batches[2] = {1, EVAL_BATCH};
    xnet big_f = {0}, big_8 = {0};
    for (int bi = 0; bi < 2; ++bi) {
        xnet xf, x8;
        if (xnet_build(&xf, g, NULL, batches[bi], msg, sizeof msg) ||
            xnet_build(&x8, g, q, batches[bi], msg, sizeof msg)) {
            printf("  %s: XNNPACK cannot run it: %s\n", name, msg);
            xnet_free(&xf);
            xnet_free(&big_f);
            xnet_free(&big_8);
            return 1;
        }
        const double b = (double)batches[bi];
        const double uf = 1e6 * timer(xnet_invoke, &xf) / b;
        const double u8 = 1e6 * timer(xnet_invoke, &x8) / b;
        printf("  batch %2d: XNNPACK f32 %8.1f us/image, qs8 %8.1f us/image; "
               "XNNPACK qs8 / tinyq int8 %.2fx, XNNPACK f32 / tinyq f32 "
               "%.2fx, XNNPACK f32 / tinyq int8 %.2fx\n",
               (int)batches[bi], uf, u8, u8 / tq_s8[bi], uf / tq_f32[bi],
               uf / tq_s8[bi]);
        if (!strcmp(name, "resnet8"))
            printf("            target tinyq int8 >= 3x faster than XNNPACK "
                   "qs8: %s (%.2fx)\n",
                   u8 / tq_s8[bi] >= 3.0 ? "met" : "NOT met", u8 / tq_s8[bi]);
        if (bi == 1) {
            big_f = xf;
            big_8 = x8;
        } else {
            xnet_free(&xf);
            xnet_free(&x8);
        }
    }

    /* Agreement and accuracy, EVAL_BATCH images at a time. */
    const char *d = getenv("TINYQ_DATA_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/cifar10/test_batch.bin",
             d && *d ? d : TQ_BENCH_SOURCE_ROOT "/../shared/data");
    int64_t records = 0;
    const int have_test = tq_cifar10_count(path, &records) == TQ_OK &&
                          records > 0;
    size_t arena_bytes, qb;
    tq_ok(tq_graph_arena_size(g, EVAL_BATCH, &arena_bytes), g, "arena");
    tq_ok(tq_graph_arena_size(q, EVAL_BATCH, &qb), q, "arena");
    arena_bytes = qb > arena_bytes ? qb : arena_bytes;
    void *arena = xmalloc(arena_bytes);
    float *x = xmalloc((size_t)EVAL_BATCH * IMG * sizeof *x);
    tally t;
    memset(&t, 0, sizeof t);
    const int total = have_test ? (int)records : n_fallback;
    if (have_test) {
        uint8_t labels[EVAL_BATCH], *pixels = xmalloc((size_t)EVAL_BATCH * IMG);
        const float mean[3] = {0.5f, 0.5f, 0.5f}, sd[3] = {0.5f, 0.5f, 0.5f};
        for (int at = 0; at < total; at += EVAL_BATCH) {
            const int n = total - at < EVAL_BATCH ? total - at : EVAL_BATCH;
            tq_ok(tq_cifar10_read(path, at, n, labels, pixels), NULL, path);
            tq_ok(tq_cifar10_normalize(n, pixels, mean, sd, x), NULL,
                  "normalize");
            eval_chunk(g, q, &big_f, &big_8, x, labels, n, arena, arena_bytes,
                       &t);
        }
        free(pixels);
    } else {
        for (int at = 0; at < total; at += EVAL_BATCH) {
            const int n = total - at < EVAL_BATCH ? total - at : EVAL_BATCH;
            eval_chunk(g, q, &big_f, &big_8, fallback + (size_t)at * IMG, NULL,
                       n, arena, arena_bytes, &t);
        }
    }
    printf("  top-1 agreement on %d %s: XNNPACK f32 = tinyq f32 %.2f %%, "
           "XNNPACK qs8 = tinyq int8 %.2f %% (tinyq int8 = tinyq f32 "
           "%.2f %%)\n", t.images,
           have_test ? "CIFAR-10 test images" : "calibration images (no "
                                                "test_batch.bin)",
           pct(t.agree_f32, t.images), pct(t.agree_s8, t.images),
           pct(t.agree_s8_f32, t.images));
    printf("  logits: XNNPACK qs8 vs tinyq int8 equal %.2f %%, mean |diff| "
           "%.3f, max %d output codes; XNNPACK f32 vs tinyq f32 max |diff| "
           "%.2g\n", pct((int)t.same_logits, (int)t.logits),
           t.logits ? (double)t.off_codes / (double)t.logits : 0.0,
           t.max_codes, t.max_f32);
    if (t.labelled)
        printf("  accuracy: tinyq f32 %.2f %%, tinyq int8 %.2f %%, XNNPACK f32 "
               "%.2f %%, XNNPACK qs8 %.2f %%\n", pct(t.correct[0], t.labelled),
               pct(t.correct[1], t.labelled), pct(t.correct[2], t.labelled),
               pct(t.correct[3], t.labelled));
    free(x);
    free(arena);
    xnet_free(&big_f);
    xnet_free(&big_8);
    return 0;
}

#endif
