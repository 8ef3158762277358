/*
 * tinyq benchmark: f32 and s8 GEMM and convolution throughput, single
 * thread, against the peers installed on this machine (OpenBLAS sgemm;
 * oneDNN sgemm, gemm_u8s8s32 and its matmul primitive), all measured in
 * this same run. The whole-LeNet comparison is lenet_bench.c.
 *
 * Not a test: it asserts nothing and CI does not run it. Usage:
 *   build/bench/bench [--quick] [--min]
 * --quick skips the 1024^3 GEMMs; --min reports the fastest of many short
 * batches of calls instead of the median of five 50 ms samples (for a
 * machine shared with other jobs: bench_util.h).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tinyq.h>

#include "bench_util.h"

#ifdef TQ_BENCH_OPENBLAS
#include <cblas.h>
#endif
#ifdef TQ_BENCH_XNNPACK
#include <xnnpack.h>
#endif
#ifdef TQ_BENCH_DNNL
#include <dnnl.h>
/* Debian's oneDNN runs on OpenMP (libgomp, linked through libdnnl); its
 * environment is read before main, so pin it to one thread by call. */
void omp_set_num_threads(int n);
#endif


static uint64_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

/* ---- GEMM ------------------------------------------------------------- */

typedef struct gemm_ctx {
    int32_t m, n, k;
    float *af, *bf, *cf;
    int8_t *a8, *b8, *c8;
    uint8_t *au8;
    int32_t *c32;
    int32_t mult, shift;
    unsigned char *scratch;
    size_t scratch_bytes;
    unsigned char *packed; /* B packed by tq_s8_pack_weights() */
    size_t packed_bytes;
} gemm_ctx;

static void run_f32_gemm(void *p)
{
    gemm_ctx *g = p;
    tq_f32_gemm(g->m, g->n, g->k, g->af, g->k, g->bf, g->k, NULL, NULL, g->cf, g->n);
}

static void run_s8_gemm_s32(void *p)
{
    gemm_ctx *g = p;
    tq_s8_gemm_s32(g->m, g->n, g->k, g->a8, g->k, 0, g->b8, g->k, 0, NULL, g->c32, g->n);
}

static void run_s8_gemm(void *p)
{
    gemm_ctx *g = p;
    const tq_s8_output os = {&g->mult, &g->shift, 0, TQ_ROUND_DOUBLE, 0, -128, 127};
    tq_s8_gemm(g->m, g->n, g->k, g->a8, g->k, 0, g->b8, g->k, 0, NULL, &os, g->c8,
               g->n, g->scratch, g->scratch_bytes);
}

/* The GEMM as a fully connected layer on weights packed ahead of time. */
static void run_s8_fc_packed(void *p)
{
    gemm_ctx *g = p;
    const tq_s8_output os = {&g->mult, &g->shift, 0, TQ_ROUND_DOUBLE, 0, -128, 127};
    tq_s8_fully_connected_packed(g->m, g->k, g->n, g->a8, 0, g->packed,
                                 g->packed_bytes, NULL, &os, g->c8);
}

/* The same with a weight zero point (tq_s8_fully_connected_packed_offset):
 * the cost of the input row sums it adds. */
static void run_s8_fc_packed_offset(void *p)
{
    gemm_ctx *g = p;
    const tq_s8_output os = {&g->mult, &g->shift, 0, TQ_ROUND_DOUBLE, 0, -128, 127};
    tq_s8_fully_connected_packed_offset(g->m, g->k, g->n, g->a8, 0, g->packed,
                                        g->packed_bytes, 3, NULL, &os, g->c8);
}

#ifdef TQ_BENCH_OPENBLAS
static void run_openblas_sgemm(void *p)
{
    gemm_ctx *g = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->m, g->n, g->k, 1.0f,
                g->af, g->k, g->bf, g->k, 0.0f, g->cf, g->n);
}
#endif

#ifdef TQ_BENCH_DNNL
static void run_dnnl_sgemm(void *p)
{
    gemm_ctx *g = p;
    dnnl_sgemm('N', 'T', g->m, g->n, g->k, 1.0f, g->af, g->k, g->bf, g->k, 0.0f,
               g->cf, g->n);
}

static void run_dnnl_u8s8s32(void *p)
{
    gemm_ctx *g = p;
    const int32_t co = 0;
    dnnl_gemm_u8s8s32('N', 'T', 'F', g->m, g->n, g->k, 1.0f, g->au8, g->k, 0,
                      g->b8, g->k, 0, 0.0f, g->c32, g->n, &co);
}

/* oneDNN's matmul primitive (s8 x s8 -> s32, or f32) on the same buffers.
 * Its weights go to the layout the primitive asks for once, before the
 * timing, as an inference user would do with constant weights. */
typedef struct dnnl_mm {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst;
} dnnl_mm;

static void dnnl_ok(dnnl_status_t s, const char *what)
{
    if (s != dnnl_success) {
        fprintf(stderr, "oneDNN %s failed (%d)\n", what, (int)s);
        exit(1);
    }
}

static void dnnl_mm_init(dnnl_mm *mm, gemm_ctx *g, int s8)
{
    const dnnl_data_type_t dt = s8 ? dnnl_s8 : dnnl_f32;
    const dnnl_dims_t ad = {g->m, g->k}, bd = {g->k, g->n}, cd = {g->m, g->n};
    dnnl_memory_desc_t a_md, b_any, b_plain, c_md;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd, rpd;
    dnnl_primitive_t reorder;
    dnnl_memory_t b_src;
    dnnl_ok(dnnl_engine_create(&mm->engine, dnnl_cpu, 0), "engine");
    dnnl_ok(dnnl_stream_create(&mm->stream, mm->engine,
                               dnnl_stream_default_flags),
            "stream");
    dnnl_ok(dnnl_memory_desc_init_by_tag(&a_md, 2, ad, dt, dnnl_ab), "md");
    dnnl_ok(dnnl_memory_desc_init_by_tag(&b_any, 2, bd, dt,
                                         dnnl_format_tag_any),
            "md");
    /* B is stored [n][k]: the k x n weights transposed. */
    dnnl_ok(dnnl_memory_desc_init_by_tag(&b_plain, 2, bd, dt, dnnl_ba), "md");
    dnnl_ok(dnnl_memory_desc_init_by_tag(&c_md, 2, cd,
                                         s8 ? dnnl_s32 : dnnl_f32, dnnl_ab),
            "md");
    dnnl_ok(dnnl_matmul_desc_init(&desc, &a_md, &b_any, NULL, &c_md),
            "matmul desc");
    dnnl_ok(dnnl_primitive_desc_create(&pd, &desc, NULL, mm->engine, NULL),
            "matmul primitive desc");
    const dnnl_memory_desc_t *b_md =
        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_ok(dnnl_primitive_create(&mm->prim, pd), "matmul primitive");
    dnnl_ok(dnnl_memory_create(&mm->src, &a_md, mm->engine,
                               s8 ? (void *)g->a8 : (void *)g->af),
            "memory");
    dnnl_ok(dnnl_memory_create(&mm->dst, &c_md, mm->engine,
                               s8 ? (void *)g->c32 : (void *)g->cf),
            "memory");
    dnnl_ok(dnnl_memory_create(&mm->wei, b_md, mm->engine,
                               DNNL_MEMORY_ALLOCATE),
            "memory");
    dnnl_ok(dnnl_memory_create(&b_src, &b_plain, mm->engine,
                               s8 ? (void *)g->b8 : (void *)g->bf),
            "memory");
    dnnl_ok(dnnl_reorder_primitive_desc_create(&rpd, &b_plain, mm->engine,
                                               b_md, mm->engine, NULL),
            "reorder desc");
    dnnl_ok(dnnl_primitive_create(&reorder, rpd), "reorder");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, b_src}, {DNNL_ARG_TO, mm->wei}};
    dnnl_ok(dnnl_primitive_execute(reorder, mm->stream, 2, args), "reorder");
    dnnl_ok(dnnl_stream_wait(mm->stream), "wait");
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(b_src);
}

static void dnnl_mm_free(dnnl_mm *mm)
{
    dnnl_memory_destroy(mm->src);
    dnnl_memory_destroy(mm->wei);
    dnnl_memory_destroy(mm->dst);
    dnnl_primitive_destroy(mm->prim);
    dnnl_stream_destroy(mm->stream);
    dnnl_engine_destroy(mm->engine);
}

static void run_dnnl_matmul(void *p)
{
    dnnl_mm *mm = p;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, mm->src},
                               {DNNL_ARG_WEIGHTS, mm->wei},
                               {DNNL_ARG_DST, mm->dst}};
    dnnl_primitive_execute(mm->prim, mm->stream, 3, args);
    dnnl_stream_wait(mm->stream);
}
#endif

static void report(const char *what, const char *who, double ops, double t,
                   double ours)
{
    printf("  %-32s %-22s %9.2f GOPS", what, who, ops / t * 1e-9);
    if (ours > 0)
        printf("   tinyq/peer = %.3f", t / ours);
    printf("\n");
}

static void bench_gemm(int32_t m, int32_t n, int32_t k)
{
    gemm_ctx g = {0};
    char what[64];
    const size_t a = (size_t)m * k, b = (size_t)n * k, c = (size_t)m * n;
    g.m = m, g.n = n, g.k = k;
    g.af = xmalloc(a * 4), g.bf = xmalloc(b * 4), g.cf = xmalloc(c * 4);
    g.a8 = xmalloc(a), g.b8 = xmalloc(b), g.c8 = xmalloc(c), g.au8 = xmalloc(a);
    g.c32 = xmalloc(c * 4);
    for (size_t i = 0; i < a; ++i) {
        g.af[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
        g.a8[i] = (int8_t)(rnd() % 255 - 127);
        g.au8[i] = (uint8_t)(rnd() % 256);
    }
    for (size_t i = 0; i < b; ++i) {
        g.bf[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
        g.b8[i] = (int8_t)(rnd() % 255 - 127);
    }
    tq_quantize_multiplier(1.0 / (double)k / 64.0, &g.mult, &g.shift);
    tq_s8_gemm_scratch_size(m, n, k, &g.scratch_bytes);
    g.scratch = xmalloc(g.scratch_bytes);

    const double ops = 2.0 * m * n * k;
    snprintf(what, sizeof what, "gemm %dx%dx%d", m, n, k);
    const double tf = time_call(run_f32_gemm, &g);
    report(what, "tinyq f32", ops, tf, 0);
#ifdef TQ_BENCH_OPENBLAS
    report(what, "OpenBLAS sgemm", ops, time_call(run_openblas_sgemm, &g), tf);
#endif
#ifdef TQ_BENCH_DNNL
    report(what, "oneDNN sgemm", ops, time_call(run_dnnl_sgemm, &g), tf);
    dnnl_mm mm;
    dnnl_mm_init(&mm, &g, 0);
    report(what, "oneDNN matmul f32", ops, time_call(run_dnnl_matmul, &mm), tf);
    dnnl_mm_free(&mm);
#endif
    const double t32 = time_call(run_s8_gemm_s32, &g);
    report(what, "tinyq s8->s32", ops, t32, 0);
    report(what, "tinyq s8->s8 (requant)", ops, time_call(run_s8_gemm, &g), 0);
    /* Fully connected shapes: also with the weights packed ahead of time. */
    if ((double)m * n * k <= (double)(1 << 24)) {
        tq_s8_packed_weights_size(n, k, &g.packed_bytes);
        g.packed = xmalloc(g.packed_bytes);
        tq_s8_pack_weights(n, k, g.b8, k, g.packed, g.packed_bytes);
        report(what, "tinyq s8->s8 packed FC", ops,
               time_call(run_s8_fc_packed, &g), 0);
        report(what, "tinyq packed FC w_zp", ops,
               time_call(run_s8_fc_packed_offset, &g), 0);
        free(g.packed);
    }
#ifdef TQ_BENCH_DNNL
    report(what, "oneDNN gemm_u8s8s32", ops, time_call(run_dnnl_u8s8s32, &g), t32);
    dnnl_mm_init(&mm, &g, 1);
    report(what, "oneDNN matmul s8", ops, time_call(run_dnnl_matmul, &mm), t32);
    dnnl_mm_free(&mm);
#endif
    free(g.af), free(g.bf), free(g.cf), free(g.a8), free(g.b8), free(g.c8);
    free(g.au8), free(g.c32), free(g.scratch);
}

/* ---- convolution -------------------------------------------------------- */

/* The geometry of a stride-1, unpadded ("VALID") k x k convolution of an
 * h x w x cin image into cout channels: the shape every conv benchmark uses. */
static void valid_conv(int32_t h, int32_t w, int32_t cin, int32_t cout,
                       int32_t k, tq_conv_params *conv, tq_dims *in,
                       tq_dims *filter, tq_dims *out)
{
    *conv = (tq_conv_params){.stride_h = 1, .stride_w = 1, .pad_top = 0,
                             .pad_bottom = 0, .pad_left = 0, .pad_right = 0,
                             .dilation_h = 1, .dilation_w = 1, .groups = 1};
    *in = (tq_dims){.n = 1, .h = h, .w = w, .c = cin};
    *filter = (tq_dims){.n = cout, .h = k, .w = k, .c = cin};
    *out = (tq_dims){.n = 1, .h = h - k + 1, .w = w - k + 1, .c = cout};
}

typedef struct conv_ctx {
    tq_conv_params conv;
    tq_dims in, filter, out, pooled;
    float *inf, *wf, *outf;
    int8_t *in8, *w8, *out8;
    int32_t *mult, *shift;
    unsigned char *scratch;
    size_t scratch_bytes;
} conv_ctx;

/* The buffers of @p c for ni input, nw weight and no output values and
 * @p channels output stages: random float and int8 data, per-channel
 * multipliers from @p mult0 up in steps of 0.0001. */
static void conv_ctx_fill(conv_ctx *c, size_t ni, size_t nw, size_t no,
                          int32_t channels, double mult0)
{
    c->inf = xmalloc(ni * 4), c->wf = xmalloc(nw * 4);
    c->outf = xmalloc(no * 4);
    c->in8 = xmalloc(ni), c->w8 = xmalloc(nw), c->out8 = xmalloc(no);
    c->mult = xmalloc((size_t)channels * 4);
    c->shift = xmalloc((size_t)channels * 4);
    for (size_t i = 0; i < ni; ++i) {
        c->inf[i] = (float)(rnd() % 1000) / 1000.0f;
        c->in8[i] = (int8_t)(rnd() % 256 - 128);
    }
    for (size_t i = 0; i < nw; ++i) {
        c->wf[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
        c->w8[i] = (int8_t)(rnd() % 255 - 127);
    }
    for (int32_t i = 0; i < channels; ++i)
        tq_quantize_multiplier(mult0 + 0.0001 * i, &c->mult[i], &c->shift[i]);
}

static void run_f32_conv(void *p)
{
    conv_ctx *c = p;
    tq_f32_conv2d(&c->conv, &c->in, c->inf, &c->filter, c->wf, NULL, NULL, &c->out,
                  c->outf, c->scratch, c->scratch_bytes);
}

static void run_s8_conv(void *p)
{
    conv_ctx *c = p;
    const tq_s8_output os = {c->mult, c->shift, 1, TQ_ROUND_DOUBLE, -128, -128, 127};
    tq_s8_conv2d(&c->conv, &c->in, c->in8, 128, &c->filter, c->w8, NULL, &os, &c->out,
                 c->out8, c->scratch, c->scratch_bytes);
}

static void run_f32_fused(void *p)
{
    conv_ctx *c = p;
    const tq_f32_act relu = {0.0f, INFINITY};
    tq_f32_conv2d_relu_maxpool2(&c->conv, &c->in, c->inf, &c->filter, c->wf,
                                NULL, &relu, &c->pooled, c->outf, c->scratch,
                                c->scratch_bytes);
}

static void run_s8_fused(void *p)
{
    conv_ctx *c = p;
    const tq_s8_output os = {c->mult, c->shift, 1, TQ_ROUND_DOUBLE, -128, -128, 127};
    tq_s8_conv2d_relu_maxpool2(&c->conv, &c->in, c->in8, 128, &c->filter, c->w8,
                               NULL, &os, &c->pooled, c->out8, c->scratch,
                               c->scratch_bytes);
}

static void bench_conv(const char *name, int32_t h, int32_t w, int32_t cin,
                       int32_t cout, int32_t k)
{
    conv_ctx c = {0};
    size_t sf, s8;
    valid_conv(h, w, cin, cout, k, &c.conv, &c.in, &c.filter, &c.out);
    c.pooled = (tq_dims){.n = 1, .h = c.out.h / 2, .w = c.out.w / 2, .c = cout};
    const size_t ni = (size_t)h * w * cin, nw = (size_t)cout * k * k * cin,
                 no = (size_t)c.out.h * c.out.w * cout;
    conv_ctx_fill(&c, ni, nw, no, cout, 0.0007);
    size_t ff, f8;
    tq_f32_conv2d_scratch_size(&c.conv, &c.in, &c.filter, &c.out, &sf);
    tq_s8_conv2d_scratch_size(&c.conv, &c.in, &c.filter, &c.out, &s8);
    tq_f32_conv2d_relu_maxpool2_scratch_size(&c.conv, &c.in, &c.filter,
                                             &c.pooled, &ff);
    tq_s8_conv2d_relu_maxpool2_scratch_size(&c.conv, &c.in, &c.filter,
                                            &c.pooled, &f8);
    c.scratch_bytes = sf > s8 ? sf : s8;
    c.scratch_bytes = ff > c.scratch_bytes ? ff : c.scratch_bytes;
    c.scratch_bytes = f8 > c.scratch_bytes ? f8 : c.scratch_bytes;
    c.scratch = xmalloc(c.scratch_bytes);

    const double ops = 2.0 * (double)no * k * k * cin;
    char what[64];
    snprintf(what, sizeof what, "conv %s", name);
    const double tf = time_call(run_f32_conv, &c), t8 = time_call(run_s8_conv, &c);
    report(what, "tinyq f32", ops, tf, 0);
    report(what, "tinyq s8", ops, t8, 0);
    printf("  %-32s s8 speed-up over f32: %.2fx\n", what, tf / t8);
    /* As LeNet runs it: fused with ReLU and the 2x2 max pool, which
     * needs the conv pixels of even rows and columns (all of them here). */
    const double fops = 2.0 * 4 * c.pooled.h * c.pooled.w * cout * k * k * cin;
    snprintf(what, sizeof what, "conv+pool %s", name);
    const double tff = time_call(run_f32_fused, &c);
    const double tf8 = time_call(run_s8_fused, &c);
    report(what, "tinyq f32", fops, tff, 0);
    report(what, "tinyq s8", fops, tf8, 0);
    printf("  %-32s s8 speed-up over f32: %.2fx\n", what, tff / tf8);
    free(c.inf), free(c.wf), free(c.outf), free(c.in8), free(c.w8), free(c.out8);
    free(c.mult), free(c.shift), free(c.scratch);
}


/* ---- elementwise add ------------------------------------------------------ */

typedef struct add_ctx {
    size_t n;
    float *af, *bf, *of;
    int8_t *a8, *b8, *o8;
    tq_s8_add_params p;
    tq_s8_mul_params mp;
    tq_dims dims;
    tq_f32_act relu;
} add_ctx;

static void run_f32_mul(void *p)
{
    add_ctx *c = p;
    tq_f32_mul(c->n, c->af, c->bf, &c->relu, c->of);
}

static void run_s8_mul(void *p)
{
    add_ctx *c = p;
    tq_s8_mul(&c->dims, c->a8, &c->dims, c->b8, &c->mp, &c->dims, c->o8);
}

static void run_f32_add(void *p)
{
    add_ctx *c = p;
    tq_f32_add(c->n, c->af, c->bf, &c->relu, c->of);
}

static void run_s8_add(void *p)
{
    add_ctx *c = p;
    tq_s8_add(c->n, c->a8, c->b8, &c->p, c->o8);
}

/* A residual add with its ReLU (tinyq's s8 add clamps to act_min/act_max
 * itself: the ReLU is fused), f32 and s8, time per element. */
static void bench_add(const char *name, size_t n)
{
    add_ctx c;
    c.n = n;
    c.af = xmalloc(n * 4), c.bf = xmalloc(n * 4), c.of = xmalloc(n * 4);
    c.a8 = xmalloc(n), c.b8 = xmalloc(n), c.o8 = xmalloc(n);
    for (size_t i = 0; i < n; ++i) {
        c.af[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
        c.bf[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
        c.a8[i] = (int8_t)(rnd() % 256 - 128);
        c.b8[i] = (int8_t)(rnd() % 256 - 128);
    }
    c.relu = (tq_f32_act){0.0f, INFINITY};
    tq_s8_add_params_from_scales(0.031f, -3, 0.047f, 5, 0.052f, -128, -128,
                                 127, TQ_ROUND_DOUBLE, &c.p);
    const double tf = time_call(run_f32_add, &c), t8 = time_call(run_s8_add, &c);
    printf("  add+relu %-23s tinyq f32 %8.3f ns/element\n", name, tf / (double)n * 1e9);
    printf("  add+relu %-23s tinyq s8  %8.3f ns/element   s8 speed-up over f32: %.2fx\n",
           name, t8 / (double)n * 1e9, tf / t8);
    c.p.rounding = TQ_ROUND_SINGLE;
    const double t1 = time_call(run_s8_add, &c);
    printf("  add+relu %-23s tinyq s8 single rounding %8.3f ns/element\n", name,
           t1 / (double)n * 1e9);
    /* The same tensors multiplied (TFLite MUL with its ReLU clamp). */
    c.dims = (tq_dims){.n = 1, .h = 1, .w = 1, .c = (int32_t)n};
    tq_s8_mul_params_from_scales(0.031f, -3, 0.047f, 5, 0.052f, -128, -128,
                                 127, TQ_ROUND_DOUBLE, &c.mp);
    const double mf = time_call(run_f32_mul, &c), m8 = time_call(run_s8_mul, &c);
    printf("  mul+relu %-23s tinyq f32 %8.3f ns/element\n", name, mf / (double)n * 1e9);
    printf("  mul+relu %-23s tinyq s8  %8.3f ns/element   s8 speed-up over f32: %.2fx\n",
           name, m8 / (double)n * 1e9, mf / m8);
    free(c.af), free(c.bf), free(c.of), free(c.a8), free(c.b8), free(c.o8);
}

/* ---- ResNet-8-like layers (batch 1): conv with padding and stride, the
 * 1x1 stride-2 shortcut, depthwise 3x3, global average pool ----------- */

typedef struct packed_conv {
    conv_ctx *c;
    void *packed;
    size_t bytes;
} packed_conv;

static void run_s8_conv_packed(void *p)
{
    packed_conv *pc = p;
    conv_ctx *c = pc->c;
    const tq_s8_output os = {c->mult, c->shift, 1, TQ_ROUND_DOUBLE, -128, -128, 127};
    tq_s8_conv2d_packed(&c->conv, &c->in, c->in8, 128, &c->filter, pc->packed,
                        pc->bytes, NULL, &os, &c->out, c->out8, c->scratch,
                        c->scratch_bytes);
}


#ifdef TQ_BENCH_XNNPACK
/* XNNPACK's convolution (f32, or qc8: int8 with per-channel weight
 * scales, as tinyq's per-channel stage) of the same shape, weights and
 * SAME padding, created (its weights packed) before the timing; depthwise
 * as groups of one channel. Reports it against tinyq's time @p ours. */
static void xcheck(enum xnn_status st, const char *what)
{
    if (st != xnn_status_success) {
        fprintf(stderr, "XNNPACK %s failed (%d)\n", what, (int)st);
        exit(1);
    }
}

static void run_xnn_op(void *p)
{
    xcheck(xnn_run_operator(*(xnn_operator_t *)p, NULL), "run");
}

static void xnn_conv_rows(const char *what, conv_ctx *c, int depthwise,
                          double ops, double ours_f32, double ours_s8)
{
    const tq_conv_params *cp = &c->conv;
    const int32_t kh = c->filter.h, kw = c->filter.w, ch = c->out.c;
    const uint32_t groups = depthwise ? (uint32_t)ch : 1;
    const size_t gin = depthwise ? 1 : (size_t)c->in.c;
    const size_t gout = depthwise ? 1 : (size_t)ch;
    const uint32_t flags = depthwise ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0;
    float *scales = xmalloc((size_t)ch * 4);
    int32_t *bias = xmalloc((size_t)ch * 4);
    float *biasf = xmalloc((size_t)ch * 4);
    for (int32_t i = 0; i < ch; ++i) {
        scales[i] = 0.001f * (float)(1 + i % 7);
        bias[i] = 0;
        biasf[i] = 0.0f;
    }
    xnn_operator_t op;
    xcheck(xnn_create_convolution2d_nhwc_f32(
               (uint32_t)cp->pad_top, (uint32_t)cp->pad_right,
               (uint32_t)cp->pad_bottom, (uint32_t)cp->pad_left, (uint32_t)kh,
               (uint32_t)kw, (uint32_t)cp->stride_h, (uint32_t)cp->stride_w, 1,
               1, groups, gin, gout, (size_t)c->in.c, (size_t)ch, c->wf, biasf,
               -INFINITY, INFINITY, flags, &op),
           "conv f32");
    xcheck(xnn_setup_convolution2d_nhwc_f32(op, 1, (size_t)c->in.h,
                                            (size_t)c->in.w, c->inf, c->outf,
                                            NULL),
           "setup conv f32");
    report(what, "XNNPACK f32", ops, time_call(run_xnn_op, &op), ours_f32);
    xnn_delete_operator(op);
    xcheck(xnn_create_convolution2d_nhwc_qc8(
               (uint32_t)cp->pad_top, (uint32_t)cp->pad_right,
               (uint32_t)cp->pad_bottom, (uint32_t)cp->pad_left, (uint32_t)kh,
               (uint32_t)kw, (uint32_t)cp->stride_h, (uint32_t)cp->stride_w, 1,
               1, groups, gin, gout, (size_t)c->in.c, (size_t)ch, -128, 0.05f,
               scales, c->w8, bias, -128, 0.1f, -128, 127, flags, &op),
           "conv qc8");
    xcheck(xnn_setup_convolution2d_nhwc_qc8(op, 1, (size_t)c->in.h,
                                            (size_t)c->in.w, c->in8, c->out8,
                                            NULL),
           "setup conv qc8");
    report(what, "XNNPACK qc8", ops, time_call(run_xnn_op, &op), ours_s8);
    xnn_delete_operator(op);
    free(scales), free(bias), free(biasf);
}
#endif

/* A square conv of an h x h x cin input, k x k window, stride st, SAME
 * padding (k / 2 on each side), cout outputs: f32 and s8 (per-channel
 * requantization, ReLU). */
static void bench_resnet_conv(const char *name, int32_t h, int32_t cin,
                              int32_t cout, int32_t k, int32_t st)
{
    conv_ctx c = {0};
    size_t sf, s8;
    const int32_t pad = k / 2;
    const int32_t oh = (h + 2 * pad - k) / st + 1;
    c.conv = (tq_conv_params){.stride_h = st, .stride_w = st, .pad_top = pad,
                              .pad_bottom = pad, .pad_left = pad, .pad_right = pad,
                              .dilation_h = 1, .dilation_w = 1, .groups = 1};
    c.in = (tq_dims){.n = 1, .h = h, .w = h, .c = cin};
    c.filter = (tq_dims){.n = cout, .h = k, .w = k, .c = cin};
    c.out = (tq_dims){.n = 1, .h = oh, .w = oh, .c = cout};
    const size_t ni = (size_t)h * h * cin, nw = (size_t)cout * k * k * cin,
                 no = (size_t)oh * oh * cout;
    conv_ctx_fill(&c, ni, nw, no, cout, 0.0007);
    tq_f32_conv2d_scratch_size(&c.conv, &c.in, &c.filter, &c.out, &sf);
    tq_s8_conv2d_scratch_size(&c.conv, &c.in, &c.filter, &c.out, &s8);
    c.scratch_bytes = sf > s8 ? sf : s8;
    c.scratch = xmalloc(c.scratch_bytes);
    const double ops = 2.0 * (double)no * k * k * cin;
    char what[64];
    snprintf(what, sizeof what, "conv %s", name);
    const double tf = time_call(run_f32_conv, &c), t8 = time_call(run_s8_conv, &c);
    report(what, "tinyq f32", ops, tf, 0);
    report(what, "tinyq s8", ops, t8, 0);
    packed_conv pc = {&c, NULL, 0};
    tq_s8_conv2d_packed_size(&c.filter, 1, &pc.bytes);
    pc.packed = xmalloc(pc.bytes);
    tq_s8_conv2d_pack(&c.filter, 1, c.w8, pc.packed, pc.bytes);
    const double tp = time_call(run_s8_conv_packed, &pc);
    report(what, "tinyq s8, packed weights", ops, tp, 0);
#ifdef TQ_BENCH_XNNPACK
    xnn_conv_rows(what, &c, 0, ops, tf, tp);
#endif
    printf("  %-32s %.2f us f32, %.2f us s8, %.2f us s8 packed; s8 packed speed-up over f32: %.2fx\n",
           what, tf * 1e6, t8 * 1e6, tp * 1e6, tf / tp);
    free(pc.packed);
    free(c.inf), free(c.wf), free(c.outf), free(c.in8), free(c.w8), free(c.out8);
    free(c.mult), free(c.shift), free(c.scratch);
}

static void run_f32_dw(void *p)
{
    conv_ctx *c = p;
    tq_f32_depthwise_conv2d(&c->conv, &c->in, c->inf, &c->filter, c->wf, NULL,
                            NULL, &c->out, c->outf);
}

static void run_s8_dw(void *p)
{
    conv_ctx *c = p;
    const tq_s8_output os = {c->mult, c->shift, 1, TQ_ROUND_DOUBLE, -128, -128, 127};
    tq_s8_depthwise_conv2d(&c->conv, &c->in, c->in8, 128, &c->filter, c->w8,
                           NULL, &os, &c->out, c->out8);
}

/* Depthwise 3x3, SAME padding, stride st, over an h x h x ch input. */
static void bench_dw(int32_t h, int32_t ch, int32_t st)
{
    conv_ctx c = {0};
    const int32_t oh = (h + 2 - 3) / st + 1;
    c.conv = (tq_conv_params){.stride_h = st, .stride_w = st, .pad_top = 1,
                              .pad_bottom = 1, .pad_left = 1, .pad_right = 1,
                              .dilation_h = 1, .dilation_w = 1, .groups = 1};
    c.in = (tq_dims){.n = 1, .h = h, .w = h, .c = ch};
    c.filter = (tq_dims){.n = 1, .h = 3, .w = 3, .c = ch};
    c.out = (tq_dims){.n = 1, .h = oh, .w = oh, .c = ch};
    const size_t ni = (size_t)h * h * ch, nw = (size_t)9 * ch,
                 no = (size_t)oh * oh * ch;
    conv_ctx_fill(&c, ni, nw, no, ch, 0.003);
    char what[64];
    snprintf(what, sizeof what, "dw3x3 s%d %dx%dx%d", st, h, h, ch);
    const double ops = 2.0 * (double)no * 9;
    const double tf = time_call(run_f32_dw, &c), t8 = time_call(run_s8_dw, &c);
    report(what, "tinyq f32", ops, tf, 0);
    report(what, "tinyq s8", ops, t8, 0);
#ifdef TQ_BENCH_XNNPACK
    xnn_conv_rows(what, &c, 1, ops, tf, t8);
#endif
    printf("  %-32s %.2f us f32, %.2f us s8; s8 speed-up over f32: %.2fx\n",
           what, tf * 1e6, t8 * 1e6, tf / t8);
    free(c.inf), free(c.wf), free(c.outf), free(c.in8), free(c.w8), free(c.out8);
    free(c.mult), free(c.shift);
}

typedef struct pool_ctx {
    tq_pool_params p;
    tq_dims in, out;
    float *inf, *outf;
    int8_t *in8, *out8;
} pool_ctx;

static void run_f32_avgpool(void *p)
{
    pool_ctx *c = p;
    tq_f32_avg_pool(&c->p, &c->in, c->inf, NULL, &c->out, c->outf);
}

static void run_s8_avgpool(void *p)
{
    pool_ctx *c = p;
    tq_s8_avg_pool(&c->p, &c->in, c->in8, -128, 127, &c->out, c->out8);
}

/* ResNet-8's global average pool: 8x8x64 -> 1x1x64. */
static void bench_gap(int32_t h, int32_t ch)
{
    pool_ctx c;
    c.p = (tq_pool_params){.kernel_h = h, .kernel_w = h, .stride_h = h, .stride_w = h,
                           .pad_top = 0, .pad_bottom = 0, .pad_left = 0,
                           .pad_right = 0};
    c.in = (tq_dims){.n = 1, .h = h, .w = h, .c = ch};
    c.out = (tq_dims){.n = 1, .h = 1, .w = 1, .c = ch};
    const size_t ni = (size_t)h * h * ch;
    c.inf = xmalloc(ni * 4), c.in8 = xmalloc(ni);
    c.outf = xmalloc((size_t)ch * 4), c.out8 = xmalloc((size_t)ch);
    for (size_t i = 0; i < ni; ++i) {
        c.inf[i] = (float)(rnd() % 1000) / 1000.0f;
        c.in8[i] = (int8_t)(rnd() % 256 - 128);
    }
    const double tf = time_call(run_f32_avgpool, &c);
    const double t8 = time_call(run_s8_avgpool, &c);
    printf("  avgpool %dx%dx%d global          %.3f us f32, %.3f us s8; s8 speed-up over f32: %.2fx\n",
           h, h, ch, tf * 1e6, t8 * 1e6, tf / t8);
    free(c.inf), free(c.in8), free(c.outf), free(c.out8);
}

static void bench_resnet8_layers(void)
{
    printf("\nResNet-8 layer shapes (batch 1, SAME padding, per-channel requantization)\n");
    bench_resnet_conv("32x32x16 3x3 s1 ->16", 32, 16, 16, 3, 1);
    bench_resnet_conv("32x32x16 3x3 s2 ->32", 32, 16, 32, 3, 2);
    bench_resnet_conv("32x32x16 1x1 s2 ->32", 32, 16, 32, 1, 2);
    bench_resnet_conv("16x16x32 3x3 s1 ->32", 16, 32, 32, 3, 1);
    bench_resnet_conv("16x16x32 3x3 s2 ->64", 16, 32, 64, 3, 2);
    bench_resnet_conv("16x16x32 1x1 s2 ->64", 16, 32, 64, 1, 2);
    bench_resnet_conv("8x8x64 3x3 s1 ->64", 8, 64, 64, 3, 1);
    bench_resnet_conv("32x32x16 1x1 s1 ->32", 32, 16, 32, 1, 1);
    bench_dw(32, 32, 1);
    bench_dw(32, 32, 2);
    bench_dw(16, 64, 1);
    bench_dw(16, 64, 2);
    bench_dw(8, 128, 1);
    bench_dw(8, 128, 2);
    bench_gap(8, 64);
}

/* ---- 16x8 conv and int4-weight FC against their s8 counterparts ---------- */

typedef struct narrow_ctx {
    tq_conv_params conv;
    tq_dims in, filter, out;
    int8_t *in8, *w8, *out8;
    int16_t *in16, *out16;
    uint8_t *w4;
    int32_t *mult, *shift;
    unsigned char *scratch;
    size_t scratch_bytes;
    int32_t nin, nout;
} narrow_ctx;

static void run_s8_conv_n(void *p)
{
    narrow_ctx *c = p;
    const tq_s8_output os = {c->mult, c->shift, 1, TQ_ROUND_DOUBLE, -128, -128, 127};
    tq_s8_conv2d(&c->conv, &c->in, c->in8, 128, &c->filter, c->w8, NULL, &os,
                 &c->out, c->out8, c->scratch, c->scratch_bytes);
}

static void run_s16_conv(void *p)
{
    narrow_ctx *c = p;
    const tq_s16_output os = {c->mult, c->shift, 1, TQ_ROUND_DOUBLE, -32768, 32767};
    tq_s16_conv2d(&c->conv, &c->in, c->in16, &c->filter, c->w8, NULL, TQ_S64,
                  &os, &c->out, c->out16, c->scratch, c->scratch_bytes);
}

static void run_s8_fc(void *p)
{
    narrow_ctx *c = p;
    const tq_s8_output os = {c->mult, c->shift, 1, TQ_ROUND_DOUBLE, -128, -128, 127};
    tq_s8_fully_connected(1, c->nin, c->nout, c->in8, 128, c->w8, 0, NULL, &os,
                          c->out8);
}

static void run_s4_fc(void *p)
{
    narrow_ctx *c = p;
    const tq_s8_output os = {c->mult, c->shift, 1, TQ_ROUND_DOUBLE, -128, -128, 127};
    tq_s4_fully_connected(1, c->nin, c->nout, c->in8, 128, c->w4, NULL, &os,
                          c->out8, c->scratch, c->scratch_bytes);
}

static void run_s16_fc(void *p)
{
    narrow_ctx *c = p;
    const tq_s16_output os = {c->mult, c->shift, 1, TQ_ROUND_DOUBLE, -32768, 32767};
    tq_s16_fully_connected(1, c->nin, c->nout, c->in16, c->w8, NULL, TQ_S64, &os,
                           c->out16);
}

static void fill_narrow(narrow_ctx *c, size_t ni, size_t nw, size_t no,
                        int32_t cout)
{
    c->in8 = xmalloc(ni), c->in16 = xmalloc(ni * 2), c->w8 = xmalloc(nw);
    c->w4 = xmalloc(tq_s4_packed_size(nw));
    c->out8 = xmalloc(no), c->out16 = xmalloc(no * 2);
    c->mult = xmalloc((size_t)cout * 4), c->shift = xmalloc((size_t)cout * 4);
    for (size_t i = 0; i < ni; ++i) {
        c->in8[i] = (int8_t)(rnd() % 256 - 128);
        c->in16[i] = (int16_t)(rnd() % 65536 - 32768);
    }
    for (size_t i = 0; i < nw; ++i)
        c->w8[i] = (int8_t)(rnd() % 15 - 7); /* int4 codes, also as int8 */
    tq_s4_pack(nw, c->w8, c->w4);
    for (int32_t i = 0; i < cout; ++i)
        tq_quantize_multiplier(0.0007 + 0.0001 * i, &c->mult[i], &c->shift[i]);
}

static void free_narrow(narrow_ctx *c)
{
    free(c->in8), free(c->in16), free(c->w8), free(c->w4), free(c->out8);
    free(c->out16), free(c->mult), free(c->shift), free(c->scratch);
}

static void bench_s16_conv(const char *name, int32_t h, int32_t w, int32_t cin,
                           int32_t cout, int32_t k)
{
    narrow_ctx c = {0};
    size_t s8, s16;
    valid_conv(h, w, cin, cout, k, &c.conv, &c.in, &c.filter, &c.out);
    const size_t no = (size_t)c.out.h * c.out.w * cout;
    fill_narrow(&c, (size_t)h * w * cin, (size_t)cout * k * k * cin, no, cout);
    tq_s8_conv2d_scratch_size(&c.conv, &c.in, &c.filter, &c.out, &s8);
    tq_s16_conv2d_scratch_size(&c.conv, &c.in, &c.filter, &c.out, &s16);
    c.scratch_bytes = s8 > s16 ? s8 : s16;
    c.scratch = xmalloc(c.scratch_bytes);
    const double ops = 2.0 * (double)no * k * k * cin;
    char what[64];
    snprintf(what, sizeof what, "conv %s", name);
    const double t8 = time_call(run_s8_conv_n, &c), t16 = time_call(run_s16_conv, &c);
    report(what, "tinyq s8", ops, t8, 0);
    report(what, "tinyq s16 (16x8)", ops, t16, 0);
    printf("  %-32s s16 speed / s8 speed: %.2f\n", what, t8 / t16);
    free_narrow(&c);
}

static void bench_s4_fc(int32_t nout, int32_t nin)
{
    narrow_ctx c = {0};
    c.nin = nin, c.nout = nout;
    fill_narrow(&c, (size_t)nin, (size_t)nin * nout, (size_t)nout, nout);
    tq_s4_fully_connected_scratch_size(nin, nout, &c.scratch_bytes);
    c.scratch = xmalloc(c.scratch_bytes);
    const double ops = 2.0 * nin * nout;
    char what[64];
    snprintf(what, sizeof what, "fc batch 1 %d->%d", nin, nout);
    const double t8 = time_call(run_s8_fc, &c), t4 = time_call(run_s4_fc, &c);
    report(what, "tinyq s8", ops, t8, 0);
    report(what, "tinyq s4 weights", ops, t4, 0);
    report(what, "tinyq s16 (16x8)", ops, time_call(run_s16_fc, &c), 0);
    printf("  %-32s s4 speed / s8 speed: %.2f\n", what, t8 / t4);
    free_narrow(&c);
}

int main(int argc, char **argv)
{
    int quick = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--min") == 0)
            bench_report_min = 1;
    }
#ifdef TQ_BENCH_OPENBLAS
    openblas_set_num_threads(1);
#endif
#ifdef TQ_BENCH_DNNL
    omp_set_num_threads(1);
#endif
#ifdef TQ_BENCH_XNNPACK
    if (xnn_initialize(NULL) != xnn_status_success) {
        fprintf(stderr, "XNNPACK initialization failed\n");
        return 1;
    }
#endif
    printf("tinyq %s, kernel path %s, single thread; GOPS = 2*MACs / s, %s\n",
           tq_version_string(), tq_kernel_path(),
           bench_report_min ? "fastest batch of calls (--min)" : "median of 5");
    printf("peers:%s%s%s%s\n",
#ifdef TQ_BENCH_OPENBLAS
           " OpenBLAS (kernel ", openblas_get_corename(), ")",
#else
           "", "", "",
#endif
#ifdef TQ_BENCH_DNNL
           " oneDNN"
#else
           " (oneDNN not found)"
#endif
#ifdef TQ_BENCH_XNNPACK
           ", XNNPACK (ResNet-8 layers: f32 against tinyq f32, qc8 against tinyq s8 on packed weights)"
#endif
    );
    bench_resnet8_layers();
    printf("\nResidual adds and elementwise muls (ResNet-8 activations, batch 1 and 64)\n");
    bench_add("32x32x16", 32 * 32 * 16);
    bench_add("32x32x16 x64", (size_t)64 * 32 * 32 * 16);
    printf("\nLeNet layers (batch 1)\n");
    bench_conv("conv1 32x32x3 k5 ->6", 32, 32, 3, 6, 5);
    bench_conv("conv2 14x14x6 k5 ->16", 14, 14, 6, 16, 5);
    bench_gemm(1, 120, 400);
    bench_gemm(64, 120, 400);
    printf("\n16x8 conv and int4-weight FC against s8 (batch 1)\n");
    bench_s16_conv("conv2 14x14x6 k5 ->16", 14, 14, 6, 16, 5);
    bench_s16_conv("16x16x64 k3 ->64", 16, 16, 64, 64, 3);
    bench_s4_fc(120, 400);
    bench_s4_fc(1024, 1024);
    bench_s4_fc(1024, 4096);
    printf("\nSquare GEMMs\n");
    bench_gemm(256, 256, 256);
    if (!quick)
        bench_gemm(1024, 1024, 1024);
    return 0;
}
