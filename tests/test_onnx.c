/*
 * ONNX import (tq_graph_load_onnx, tq_graph_load_onnx_memory) against the
 * models tests/onnx/gen_onnx_tests.py generates: every supported operator
 * alone (and its attribute variants), a few PyTorch exports, each with an
 * input and the output numpy or PyTorch computed (never tinyq); and every
 * rejection with its status and message. Plus truncations and byte flips of
 * a model (no crash, no leak, nothing written on failure), the message
 * buffer rules and NULL arguments.
 *
 * Built without protobuf-c, the importer must say so: that is all that is
 * checked then.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tinyq.h"

#ifndef TQ_ONNX_DATA_DIR
#error "TQ_ONNX_DATA_DIR must name tests/onnx/data"
#endif

static tq_graph *const SENTINEL = (tq_graph *)(uintptr_t)0x5e17;

static char *path_of(const char *name, const char *ext)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s%s", TQ_ONNX_DATA_DIR, name, ext);
    return buf;
}

static void *read_all(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    long n;
    void *buf;
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *size = (size_t)n;
    return buf;
}

#ifdef TQ_TEST_HAVE_ONNX

/* ---- the manifest ---------------------------------------------------------- */

typedef struct tcase {
    char name[96];
    int ok;
    int nhwc_in;     /* "ok_nhwc": the ONNX input is [N, H, W, C], fed as is */
    int64_t batch;
    int in_rank, out_rank;
    int64_t in_dims[4], out_dims[4];
    int status;
    char patterns[512];
} tcase;

static tcase *cases;
static size_t n_cases;

static void load_manifest(void)
{
    FILE *fp = fopen(path_of("manifest", ".txt"), "r");
    char line[1024];
    size_t cap = 0;
    if (fp == NULL) {
        fail_msg("cannot open %s", path_of("manifest", ".txt"));
        return;
    }
    while (fgets(line, sizeof line, fp) != NULL) {
        tcase c;
        char kind[16];
        int pos = 0;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        memset(&c, 0, sizeof c);
        assert_int_equal(sscanf(line, "%15s %95s%n", kind, c.name, &pos), 2);
        if (strcmp(kind, "ok") == 0 || strcmp(kind, "ok_nhwc") == 0) {
            char *p = line + pos, *end;
            c.ok = 1;
            c.nhwc_in = strcmp(kind, "ok_nhwc") == 0;
            c.batch = strtoll(p, &end, 10);
            p = end;
            c.in_rank = (int)strtol(p, &end, 10);
            p = end;
            assert_true(c.in_rank == 2 || c.in_rank == 4);
            for (int k = 0; k < c.in_rank; k++) {
                c.in_dims[k] = strtoll(p, &end, 10);
                p = end;
            }
            c.out_rank = (int)strtol(p, &end, 10);
            p = end;
            assert_true(c.out_rank == 2 || c.out_rank == 4);
            for (int k = 0; k < c.out_rank; k++) {
                c.out_dims[k] = strtoll(p, &end, 10);
                p = end;
            }
        } else {
            char *p = line + pos;
            assert_string_equal(kind, "reject");
            c.status = (int)strtol(p, &p, 10);
            while (*p == ' ')
                p++;
            snprintf(c.patterns, sizeof c.patterns, "%s", p);
            c.patterns[strcspn(c.patterns, "\n")] = '\0';
        }
        if (n_cases == cap) {
            cap = cap ? 2 * cap : 64;
            cases = realloc(cases, cap * sizeof *cases);
            assert_non_null(cases);
        }
        cases[n_cases++] = c;
    }
    fclose(fp);
}

static int setup(void **state)
{
    (void)state;
    load_manifest();
    return n_cases > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(cases);
    return 0;
}

static int64_t numel(int rank, const int64_t *d)
{
    int64_t n = 1;
    for (int k = 0; k < rank; k++)
        n *= d[k];
    return n;
}

/* ONNX [N, C, H, W] -> tinyq [N, H, W, C] (or the reverse), by loops. */
static void permute(const float *src, float *dst, int64_t n, int64_t c,
                    int64_t h, int64_t w, int to_nhwc)
{
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    int64_t nchw = ((b * c + ch) * h + y) * w + x;
                    int64_t nhwc = ((b * h + y) * w + x) * c + ch;
                    if (to_nhwc)
                        dst[nhwc] = src[nchw];
                    else
                        dst[nchw] = src[nhwc];
                }
}

static int run_case(const tcase *c)
{
    char msg[512];
    tq_graph *g = NULL;
    tq_status st = tq_graph_load_onnx(path_of(c->name, ".onnx"), &g, msg,
                                      sizeof msg);
    size_t in_bytes, out_bytes, arena_bytes;
    float *x, *y_ref, *x_tq, *y_tq, *y;
    void *arena;
    int32_t tin, tout;
    tq_graph_tensor_info ti;
    int64_t in_n = numel(c->in_rank, c->in_dims);
    int64_t out_n = numel(c->out_rank, c->out_dims);
    double lo = INFINITY, hi = -INFINITY, worst = 0.0, tol;
    if (st != TQ_OK) {
        printf("FAIL %s: status %d: %s\n", c->name, (int)st, msg);
        return 1;
    }
    assert_non_null(g);
    assert_string_equal(msg, "");

    /* shapes: NHWC of the ONNX ones */
    assert_int_equal(tq_graph_io(g, &tin, &tout), TQ_OK);
    assert_int_equal(tq_graph_tensor(g, tin, &ti), TQ_OK);
    assert_int_equal(ti.ndim, c->in_rank);
    if (c->nhwc_in) {
        /* tf2onnx's NHWC input: tinyq's input is its ONNX shape */
        assert_int_equal(c->in_rank, 4);
        assert_int_equal(ti.shape[1], c->in_dims[1]);
        assert_int_equal(ti.shape[2], c->in_dims[2]);
        assert_int_equal(ti.shape[3], c->in_dims[3]);
    } else if (c->in_rank == 4) {
        assert_int_equal(ti.shape[1], c->in_dims[2]);
        assert_int_equal(ti.shape[2], c->in_dims[3]);
        assert_int_equal(ti.shape[3], c->in_dims[1]);
    } else {
        assert_int_equal(ti.shape[1], c->in_dims[1]);
    }
    assert_int_equal(tq_graph_tensor(g, tout, &ti), TQ_OK);
    if (ti.ndim != c->out_rank)
        fail_msg("%s: output rank %d, expected %d", c->name, (int)ti.ndim,
                 c->out_rank);
    if (c->out_rank == 4) {
        assert_int_equal(ti.shape[1], c->out_dims[2]);
        assert_int_equal(ti.shape[2], c->out_dims[3]);
        assert_int_equal(ti.shape[3], c->out_dims[1]);
    } else {
        assert_int_equal(ti.shape[1], c->out_dims[1]);
    }

    x = read_all(path_of(c->name, ".in.bin"), &in_bytes);
    y_ref = read_all(path_of(c->name, ".out.bin"), &out_bytes);
    assert_int_equal(in_bytes, (size_t)(c->batch * in_n) * sizeof(float));
    assert_int_equal(out_bytes, (size_t)(c->batch * out_n) * sizeof(float));
    x_tq = malloc(in_bytes);
    y_tq = malloc(out_bytes + sizeof(float));
    y = malloc(out_bytes);
    assert_non_null(x_tq);
    assert_non_null(y_tq);
    assert_non_null(y);
    if (c->in_rank == 4 && !c->nhwc_in)
        permute(x, x_tq, c->batch, c->in_dims[1], c->in_dims[2],
                c->in_dims[3], 1);
    else
        memcpy(x_tq, x, in_bytes);
    assert_int_equal(tq_graph_arena_size(g, c->batch, &arena_bytes), TQ_OK);
    arena = malloc(arena_bytes + 1);
    assert_non_null(arena);
    y_tq[c->batch * out_n] = 12345.0f; /* sentinel past the end */
    st = tq_graph_run_f32(g, c->batch, x_tq, y_tq, arena, arena_bytes);
    if (st != TQ_OK) {
        printf("FAIL %s: run status %d: %s\n", c->name, (int)st,
               tq_graph_error(g));
        worst = INFINITY;
    }
    assert_true(y_tq[c->batch * out_n] == 12345.0f);
    if (c->out_rank == 4)
        permute(y_tq, y, c->batch, c->out_dims[1], c->out_dims[2],
                c->out_dims[3], 0);
    else
        memcpy(y, y_tq, out_bytes);
    for (int64_t i = 0; i < c->batch * out_n; i++) {
        lo = y_ref[i] < lo ? y_ref[i] : lo;
        hi = y_ref[i] > hi ? y_ref[i] : hi;
    }
    tol = 1e-5 * (hi - lo > 1.0 ? hi - lo : 1.0);
    for (int64_t i = 0; i < c->batch * out_n; i++) {
        double d = fabs((double)y[i] - (double)y_ref[i]);
        if (!(d <= worst))
            worst = d;
    }
    if (st == TQ_OK && !(worst <= tol))
        printf("FAIL %s: max |tinyq - reference| = %g > %g (output range "
               "[%g, %g])\n", c->name, worst, tol, lo, hi);
    free(arena);
    free(x);
    free(x_tq);
    free(y_ref);
    free(y_tq);
    free(y);
    tq_graph_free(g);
    return !(worst <= tol);
}

static void test_supported_ops(void **state)
{
    size_t n = 0, failed = 0;
    (void)state;
    for (size_t i = 0; i < n_cases; i++)
        if (cases[i].ok) {
            failed += (size_t)run_case(&cases[i]);
            n++;
        }
    if (failed > 0)
        fail_msg("%zu of %zu models failed", failed, n);
    assert_true(n >= 100);
    printf("  %zu accepted models agree with their numpy/PyTorch outputs\n", n);
}

/* The same model from memory gives the same graph. */
static void test_memory_variant(void **state)
{
    size_t size;
    char msg[256];
    void *bytes = read_all(path_of("torch_smallcnn_opset13", ".onnx"), &size);
    tq_graph *a = NULL, *b = NULL;
    (void)state;
    assert_int_equal(tq_graph_load_onnx_memory(bytes, size, &a, msg,
                                               sizeof msg), TQ_OK);
    assert_int_equal(tq_graph_load_onnx(path_of("torch_smallcnn_opset13",
                                                ".onnx"), &b, NULL, 0), TQ_OK);
    assert_int_equal(tq_graph_node_count(a), tq_graph_node_count(b));
    assert_int_equal(tq_graph_tensor_count(a), tq_graph_tensor_count(b));
    for (int32_t i = 0; i < tq_graph_node_count(a); i++) {
        tq_graph_node_info na, nb;
        assert_int_equal(tq_graph_node(a, i, &na), TQ_OK);
        assert_int_equal(tq_graph_node(b, i, &nb), TQ_OK);
        assert_int_equal(na.op, nb.op);
        assert_string_equal(na.name, nb.name);
    }
    tq_graph_free(a);
    tq_graph_free(b);
    free(bytes);
}

/* Which tinyq ops a PyTorch export becomes: BatchNorm folded, Dropout
 * gone, ReLU6 / ReLU fused. */
static void test_torch_export_rewritten(void **state)
{
    tq_graph *g = NULL;
    int counts[32] = {0};
    (void)state;
    assert_int_equal(tq_graph_load_onnx(path_of("torch_smallcnn_opset13",
                                                ".onnx"), &g, NULL, 0), TQ_OK);
    for (int32_t i = 0; i < tq_graph_node_count(g); i++) {
        tq_graph_node_info ni;
        assert_int_equal(tq_graph_node(g, i, &ni), TQ_OK);
        assert_true(ni.op >= 1 && ni.op < 32);
        counts[ni.op]++;
    }
    assert_int_equal(counts[TQ_OP_BATCH_NORM], 0);
    assert_int_equal(counts[TQ_OP_IDENTITY], 0);
    assert_int_equal(counts[TQ_OP_DEPTHWISE_CONV2D], 1);
    assert_int_equal(counts[TQ_OP_FULLY_CONNECTED], 1);
    assert_int_equal(counts[TQ_OP_SOFTMAX], 1);
    tq_graph_free(g);
}

static void check_rejection(const tcase *c, const void *bytes, size_t size)
{
    char msg[512], pats[512], *p, *save = NULL;
    tq_graph *g = SENTINEL;
    tq_status st = bytes != NULL
        ? tq_graph_load_onnx_memory(bytes, size, &g, msg, sizeof msg)
        : tq_graph_load_onnx(path_of(c->name, ".onnx"), &g, msg, sizeof msg);
    if ((int)st != c->status)
        fail_msg("%s: status %d, expected %d (%s)", c->name, (int)st,
                 c->status, msg);
    assert_ptr_equal(g, SENTINEL);
    assert_true(strlen(msg) > 0);
    snprintf(pats, sizeof pats, "%s", c->patterns);
    for (p = strtok_r(pats, "|", &save); p != NULL;
         p = strtok_r(NULL, "|", &save))
        if (strstr(msg, p) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, msg, p);
}

static void test_rejections(void **state)
{
    size_t n = 0;
    (void)state;
    for (size_t i = 0; i < n_cases; i++) {
        size_t size;
        void *bytes;
        if (cases[i].ok)
            continue;
        check_rejection(&cases[i], NULL, 0);
        bytes = read_all(path_of(cases[i].name, ".onnx"), &size);
        if (size > 0)
            check_rejection(&cases[i], bytes, size);
        free(bytes);
        n++;
    }
    assert_true(n >= 20);
}

/* The message buffer: cut, always NUL-terminated, never written past its
 * size; NULL or 0 accepted. */
static void test_message_buffer(void **state)
{
    char msg[16];
    tq_graph *g = SENTINEL;
    const char *bad = path_of("rej_unsupported_op", ".onnx");
    (void)state;
    for (size_t size = 1; size <= sizeof msg; size++) {
        memset(msg, 'x', sizeof msg);
        assert_int_equal(tq_graph_load_onnx(bad, &g, msg, size),
                         TQ_ERR_UNSUPPORTED);
        assert_int_equal(strlen(msg), size - 1);
        for (size_t k = size; k < sizeof msg; k++)
            assert_int_equal(msg[k], 'x');
    }
    memset(msg, 'x', sizeof msg);
    assert_int_equal(tq_graph_load_onnx(bad, &g, msg, 0), TQ_ERR_UNSUPPORTED);
    assert_int_equal(msg[0], 'x');
    assert_int_equal(tq_graph_load_onnx(bad, &g, NULL, 100),
                     TQ_ERR_UNSUPPORTED);
    assert_ptr_equal(g, SENTINEL);
}

static void test_null_and_io(void **state)
{
    char msg[128];
    tq_graph *g = SENTINEL;
    (void)state;
    assert_int_equal(tq_graph_load_onnx(NULL, &g, msg, sizeof msg),
                     TQ_ERR_NULL);
    assert_int_equal(tq_graph_load_onnx(path_of("relu", ".onnx"), NULL, msg,
                                        sizeof msg), TQ_ERR_NULL);
    assert_int_equal(tq_graph_load_onnx_memory(NULL, 10, &g, msg, sizeof msg),
                     TQ_ERR_NULL);
    assert_int_equal(tq_graph_load_onnx_memory("x", 1, NULL, msg, sizeof msg),
                     TQ_ERR_NULL);
    assert_int_equal(tq_graph_load_onnx(path_of("no_such_model", ".onnx"), &g,
                                        msg, sizeof msg), TQ_ERR_IO);
    assert_non_null(strstr(msg, "no_such_model"));
    assert_int_equal(tq_graph_load_onnx(TQ_ONNX_DATA_DIR, &g, msg, sizeof msg),
                     TQ_ERR_IO);
    assert_ptr_equal(g, SENTINEL);
}

/* Every prefix of a model, and every byte of it flipped: a status, no
 * crash, no leak (ASan), nothing written on failure. */
static void test_truncations_and_flips(void **state)
{
    size_t size, accepted = 0;
    uint8_t *bytes = read_all(path_of("torch_smallcnn_opset13", ".onnx"),
                              &size), *copy = malloc(size);
    char msg[256];
    (void)state;
    assert_non_null(copy);
    for (size_t n = 0; n < size; n++) {
        tq_graph *g = SENTINEL;
        tq_status st = tq_graph_load_onnx_memory(bytes, n, &g, msg,
                                                 sizeof msg);
        if (st == TQ_OK) {
            tq_graph_free(g);
            accepted++;
        } else {
            assert_ptr_equal(g, SENTINEL);
            assert_true(strlen(msg) > 0);
        }
    }
    for (size_t i = 0; i < size; i += 3) {
        tq_graph *g = SENTINEL;
        tq_status st;
        memcpy(copy, bytes, size);
        copy[i] ^= (uint8_t)(1u << (i % 8));
        st = tq_graph_load_onnx_memory(copy, size, &g, msg, sizeof msg);
        if (st == TQ_OK)
            tq_graph_free(g);
        else
            assert_ptr_equal(g, SENTINEL);
        assert_true(st == TQ_OK || st == TQ_ERR_FORMAT ||
                    st == TQ_ERR_UNSUPPORTED);
    }
    /* the whole model, then, is accepted */
    {
        tq_graph *g = NULL;
        assert_int_equal(tq_graph_load_onnx_memory(bytes, size, &g, msg,
                                                   sizeof msg), TQ_OK);
        tq_graph_free(g);
    }
    free(copy);
    free(bytes);
}

/* Messages nested 100,000 deep (Model.graph, then Graph.node ->
 * Node.attribute -> Attribute.g ...): protobuf-c would recurse once per
 * level and exhaust the stack; the importer refuses the nesting first. */
static void test_deep_nesting(void **state)
{
    const size_t levels = 100000, cap = levels * 12 + 16;
    static const uint8_t keys[3] = {0x0a, 0x2a, 0x32};
    uint8_t *buf = malloc(cap), tmp[12];
    size_t pos = cap;
    char msg[256];
    tq_graph *g = SENTINEL;
    (void)state;
    assert_non_null(buf);
    for (size_t lv = 0; lv <= levels; lv++) {
        size_t len = cap - pos, n = 0;
        do {
            tmp[n++] = (uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
            len >>= 7;
        } while (len > 0);
        pos -= n;
        memcpy(buf + pos, tmp, n);
        buf[--pos] = lv == levels ? 0x3a : keys[(levels - 1 - lv) % 3];
    }
    assert_int_equal(tq_graph_load_onnx_memory(buf + pos, cap - pos, &g, msg,
                                               sizeof msg), TQ_ERR_FORMAT);
    assert_non_null(strstr(msg, "nested"));
    assert_ptr_equal(g, SENTINEL);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_supported_ops),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_memory_variant),
        cmocka_unit_test(test_torch_export_rewritten),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_message_buffer),
        cmocka_unit_test(test_null_and_io),
        cmocka_unit_test(test_truncations_and_flips),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#else /* built without protobuf-c */

static void test_says_what_it_lacks(void **state)
{
    char msg[256];
    tq_graph *g = SENTINEL;
    size_t size;
    void *bytes = read_all(path_of("relu", ".onnx"), &size);
    (void)state;
    assert_int_equal(tq_graph_load_onnx(path_of("relu", ".onnx"), &g, msg,
                                        sizeof msg), TQ_ERR_UNSUPPORTED);
    assert_non_null(strstr(msg, "without protobuf-c"));
    assert_int_equal(tq_graph_load_onnx_memory(bytes, size, &g, msg,
                                               sizeof msg),
                     TQ_ERR_UNSUPPORTED);
    assert_non_null(strstr(msg, "without protobuf-c"));
    assert_ptr_equal(g, SENTINEL);
    free(bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_says_what_it_lacks),
    };
    printf("tinyq was built without protobuf-c: only the refusal is "
           "tested\n");
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
