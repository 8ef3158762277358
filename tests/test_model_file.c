/*
 * The tinyq model file (tq_graph_save / tq_graph_load): save -> load ->
 * save is byte-identical and the loaded graph's int8 outputs and
 * accumulators are bit-identical, on a hand-built graph with every int8
 * node kind and on the LeNet ONNX model of models/; and every kind of
 * damage to a file (made by editing a saved file's JSON or arrays) is
 * rejected with TQ_ERR_FORMAT and a sentence naming it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tinyq.h"
#include "testutil.h"

#ifndef TQ_TEST_MODELS_DIR
#define TQ_TEST_MODELS_DIR "models"
#endif

static char tmp_a[256], tmp_b[256];

static int32_t add_const(tq_graph *g, const char *name, tt_rng *r, int ndim,
                         int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                         float lo, float hi)
{
    const int64_t shape[4] = {d0, d1, d2, d3};
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d)
        n *= shape[d];
    float *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    tt_fill_f32(r, v, (size_t)n, lo, hi);
    tq_tensor t;
    int32_t id;
    assert_int_equal(tq_tensor_init(&t, v, TQ_F32, ndim, shape), TQ_OK);
    assert_int_equal(tq_graph_add_constant(g, name, &t, &id), TQ_OK);
    free(v);
    return id;
}

static int32_t node(tq_graph *g, const char *name, int32_t op, int n,
                    const int32_t *in, const tq_node_attrs *a)
{
    int32_t out;
    const tq_status s = tq_graph_add_node(g, name, op, n, in, a, &out);
    if (s != TQ_OK)
        fail_msg("%s: %s", name, tq_graph_error(g));
    return out;
}

/* A graph with every int8 node kind: conv, depthwise, residual add, max
 * pool, leaky ReLU (table), concat, Mul by a per-channel constant
 * (affine), standalone clip (table), avg pool, global average pool,
 * reshape, fully connected. */
static tq_graph *hand_graph(tt_rng *r)
{
    tq_graph *g = NULL;
    const int64_t in_shape[4] = {1, 8, 8, 4};
    int32_t x, a, b, c, d, e, f, h, k, m, o, p, ins[3];
    tq_node_attrs at;
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    assert_int_equal(tq_graph_add_input(g, "x", 4, in_shape, &x), TQ_OK);
    tq_node_attrs_init(&at);
    at.conv.pad_top = at.conv.pad_bottom = at.conv.pad_left = at.conv.pad_right = 1;
    at.act = TQ_ACT_RELU;
    ins[0] = x;
    ins[1] = add_const(g, "w1", r, 4, 8, 3, 3, 4, -0.5f, 0.5f);
    ins[2] = add_const(g, "b1", r, 1, 8, 0, 0, 0, -0.2f, 0.2f);
    a = node(g, "conv1", TQ_OP_CONV2D, 3, ins, &at);
    at.act = TQ_ACT_RELU6;
    at.depth_multiplier = 1;
    ins[0] = a;
    ins[1] = add_const(g, "w2", r, 4, 1, 3, 3, 8, -0.5f, 0.5f);
    ins[2] = add_const(g, "b2", r, 1, 8, 0, 0, 0, -0.2f, 0.2f);
    b = node(g, "dw", TQ_OP_DEPTHWISE_CONV2D, 3, ins, &at);
    tq_node_attrs_init(&at);
    ins[0] = a;
    ins[1] = b;
    c = node(g, "add", TQ_OP_ADD, 2, ins, &at);
    tq_node_attrs_init(&at);
    at.pool = (tq_pool_params){2, 2, 2, 2, 0, 0, 0, 0};
    ins[0] = c;
    d = node(g, "maxpool", TQ_OP_MAX_POOL, 1, ins, &at);
    tq_node_attrs_init(&at);
    at.alpha = 0.1f;
    ins[0] = d;
    e = node(g, "leaky", TQ_OP_LEAKY_RELU, 1, ins, &at);
    ins[0] = d;
    ins[1] = e;
    f = node(g, "concat", TQ_OP_CONCAT, 2, ins, NULL);
    ins[0] = f;
    ins[1] = add_const(g, "scale", r, 1, 16, 0, 0, 0, 0.5f, 1.5f);
    h = node(g, "mul", TQ_OP_MUL, 2, ins, NULL);
    tq_node_attrs_init(&at);
    at.act = TQ_ACT_CLIP;
    at.act_min = -1.0f;
    at.act_max = INFINITY;
    ins[0] = h;
    k = node(g, "clip", TQ_OP_ACTIVATION, 1, ins, &at);
    tq_node_attrs_init(&at);
    at.pool = (tq_pool_params){3, 3, 1, 1, 1, 1, 1, 1};
    at.count_include_pad = 1;
    ins[0] = k;
    m = node(g, "avgpool", TQ_OP_AVG_POOL, 1, ins, &at);
    ins[0] = m;
    o = node(g, "gap", TQ_OP_GLOBAL_AVG_POOL, 1, ins, NULL);
    tq_node_attrs_init(&at);
    at.ndim = 2;
    at.shape[0] = 1;
    at.shape[1] = 16;
    ins[0] = o;
    p = node(g, "flatten", TQ_OP_RESHAPE, 1, ins, &at);
    ins[0] = p;
    ins[1] = add_const(g, "w3", r, 2, 10, 16, 0, 0, -0.5f, 0.5f);
    ins[2] = add_const(g, "b3", r, 1, 10, 0, 0, 0, -0.2f, 0.2f);
    const int32_t y = node(g, "fc", TQ_OP_FULLY_CONNECTED, 3, ins, NULL);
    assert_int_equal(tq_graph_set_output(g, y), TQ_OK);
    if (tq_graph_finalize(g, TQ_REWRITE_ALL) != TQ_OK)
        fail_msg("finalize: %s", tq_graph_error(g));
    return g;
}

static size_t numel_of(const tq_graph *g, int32_t t)
{
    tq_graph_tensor_info info;
    assert_int_equal(tq_graph_tensor(g, t, &info), TQ_OK);
    size_t n = 1;
    for (int32_t d = 0; d < info.ndim; ++d)
        n *= (size_t)info.shape[d];
    return n;
}

/* Calibrate float graph @p g on @p n random samples and quantize it. */
static tq_graph *quantize(tq_graph *g, tt_rng *r, int n, float lo, float hi)
{
    int32_t in, out;
    assert_int_equal(tq_graph_io(g, &in, &out), TQ_OK);
    const size_t per = numel_of(g, in);
    float *x = malloc((size_t)n * per * sizeof *x);
    assert_non_null(x);
    tt_fill_f32(r, x, (size_t)n * per, lo, hi);
    tq_quant_config cfg;
    tq_quant_config_init(&cfg);
    tq_calibrator *c = NULL;
    assert_int_equal(tq_calibrator_create(g, &cfg, &c), TQ_OK);
    int32_t again = 1;
    while (again) {
        assert_int_equal(tq_calibrator_feed(c, n, x), TQ_OK);
        assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
    }
    tq_graph *q = NULL;
    if (tq_graph_quantize(g, c, &q) != TQ_OK)
        fail_msg("quantize: %s", tq_graph_error(g));
    tq_calibrator_free(c);
    free(x);
    return q;
}

static void *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n ? (size_t)n : 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return p;
}

/* With TQ_MODEL_FILE_SEEDS=<dir> set, the saved file is also copied to
 * <dir>/<name> (the fuzz seeds of fuzz/corpus/model are made so). */
static void write_seed(const char *name, const void *bytes, size_t size)
{
    const char *dir = getenv("TQ_MODEL_FILE_SEEDS");
    if (!dir)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, size, f), size);
    fclose(f);
}

/* Save -> load -> save gives the same bytes; both graphs give the same
 * int8 outputs (and accumulators) on @p n random inputs. */
static void round_trip(tq_graph *q, tt_rng *r, int n, const char *seed)
{
    char msg[512];
    tq_graph *l = NULL;
    if (tq_graph_save(q, tmp_a) != TQ_OK)
        fail_msg("save: %s", tq_graph_error(q));
    const tq_status s = tq_graph_load(tmp_a, &l, msg, sizeof msg);
    if (s != TQ_OK)
        fail_msg("load: %s", msg);
    assert_string_equal(msg, "");
    assert_int_equal(tq_graph_is_quantized(l), 1);
    assert_int_equal(tq_graph_save(l, tmp_b), TQ_OK);
    size_t na, nb;
    void *fa = read_all(tmp_a, &na), *fb = read_all(tmp_b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(fa, fb, na);
    write_seed(seed, fa, na);
    /* The memory variant reads the same graph. */
    tq_graph *m = NULL;
    assert_int_equal(tq_graph_load_memory(fa, na, &m, msg, sizeof msg), TQ_OK);
    free(fa);
    free(fb);

    int32_t in, out;
    assert_int_equal(tq_graph_io(q, &in, &out), TQ_OK);
    const size_t ni = numel_of(q, in), no = numel_of(q, out);
    int8_t *x = malloc((size_t)n * ni), *y1 = malloc((size_t)n * no),
           *y2 = malloc((size_t)n * no), *y3 = malloc((size_t)n * no);
    int32_t *a1 = calloc((size_t)n * no, 4), *a2 = calloc((size_t)n * no, 4);
    for (size_t i = 0; i < (size_t)n * ni; ++i)
        x[i] = (int8_t)tt_int(r, -128, 127);
    size_t bytes_q, bytes_l;
    assert_int_equal(tq_graph_arena_size(q, n, &bytes_q), TQ_OK);
    assert_int_equal(tq_graph_arena_size(l, n, &bytes_l), TQ_OK);
    assert_int_equal(bytes_q, bytes_l);
    void *arena = malloc(bytes_q);
    assert_int_equal(tq_graph_run_s8(q, n, x, y1, a1, arena, bytes_q), TQ_OK);
    assert_int_equal(tq_graph_run_s8(l, n, x, y2, a2, arena, bytes_q), TQ_OK);
    assert_int_equal(tq_graph_run_s8(m, n, x, y3, NULL, arena, bytes_q), TQ_OK);
    assert_memory_equal(y1, y2, (size_t)n * no);
    assert_memory_equal(y1, y3, (size_t)n * no);
    assert_memory_equal(a1, a2, (size_t)n * no * 4);
    free(arena);
    free(x);
    free(y1);
    free(y2);
    free(y3);
    free(a1);
    free(a2);
    tq_graph_free(l);
    tq_graph_free(m);
}

static void test_hand_graph_round_trip(void **state)
{
    (void)state;
    tt_rng r = {11};
    tq_graph *g = hand_graph(&r);
    tq_graph *q = quantize(g, &r, 16, -1.0f, 1.0f);
    round_trip(q, &r, 7, "hand");
    tq_graph_free(q);
    tq_graph_free(g);
}

/* The smallest useful graph: conv 3x3 + ReLU, flatten, FC. */
static void test_tiny_graph_round_trip(void **state)
{
    (void)state;
    tt_rng r = {15};
    tq_graph *g = NULL;
    const int64_t in_shape[4] = {1, 3, 3, 2};
    int32_t x, ins[3], a, b;
    tq_node_attrs at;
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    assert_int_equal(tq_graph_add_input(g, "x", 4, in_shape, &x), TQ_OK);
    tq_node_attrs_init(&at);
    at.act = TQ_ACT_RELU;
    ins[0] = x;
    ins[1] = add_const(g, "w", &r, 4, 3, 3, 3, 2, -0.5f, 0.5f);
    ins[2] = add_const(g, "b", &r, 1, 3, 0, 0, 0, -0.2f, 0.2f);
    a = node(g, "conv", TQ_OP_CONV2D, 3, ins, &at);
    tq_node_attrs_init(&at);
    at.ndim = 2;
    at.shape[0] = 1;
    at.shape[1] = 3;
    ins[0] = a;
    b = node(g, "flat", TQ_OP_RESHAPE, 1, ins, &at);
    ins[0] = b;
    ins[1] = add_const(g, "w2", &r, 2, 2, 3, 0, 0, -0.5f, 0.5f);
    ins[2] = add_const(g, "b2", &r, 1, 2, 0, 0, 0, -0.2f, 0.2f);
    const int32_t y = node(g, "fc", TQ_OP_FULLY_CONNECTED, 3, ins, NULL);
    assert_int_equal(tq_graph_set_output(g, y), TQ_OK);
    assert_int_equal(tq_graph_finalize(g, TQ_REWRITE_ALL), TQ_OK);
    tq_graph *q = quantize(g, &r, 8, -1.0f, 1.0f);
    round_trip(q, &r, 5, "tiny");
    tq_graph_free(q);
    tq_graph_free(g);
}

/* In place: a chain of table lookups over a 16x16x8 map, each input dying
 * where it is read, runs in one buffer of 2048 bytes (two without the
 * in-place plan). */
static void test_in_place_chain(void **state)
{
    (void)state;
    tt_rng r = {16};
    tq_graph *g = NULL;
    const int64_t in_shape[4] = {1, 16, 16, 8};
    int32_t x, a;
    tq_node_attrs at;
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    assert_int_equal(tq_graph_add_input(g, "x", 4, in_shape, &x), TQ_OK);
    tq_node_attrs_init(&at);
    at.alpha = 0.25f;
    a = node(g, "l1", TQ_OP_LEAKY_RELU, 1, &x, &at);
    a = node(g, "l2", TQ_OP_LEAKY_RELU, 1, &a, &at);
    a = node(g, "l3", TQ_OP_LEAKY_RELU, 1, &a, &at);
    assert_int_equal(tq_graph_set_output(g, a), TQ_OK);
    assert_int_equal(tq_graph_finalize(g, TQ_REWRITE_ALL), TQ_OK);
    tq_graph *q = quantize(g, &r, 4, -1.0f, 1.0f);
    size_t bytes;
    assert_int_equal(tq_graph_arena_size(q, 1, &bytes), TQ_OK);
    assert_true(bytes < 2 * 2048);
    /* Against the tables applied one after another out of place. */
    int8_t *in = malloc(2048), *out = malloc(2048);
    void *arena = malloc(bytes);
    for (int i = 0; i < 2048; ++i)
        in[i] = (int8_t)tt_int(&r, -128, 127);
    assert_int_equal(tq_graph_run_s8(q, 1, in, out, NULL, arena, bytes), TQ_OK);
    /* The same graph over a batch of two (offsets scaled by the batch)
     * gives each sample the same codes. (The values of in-place lookups
     * and adds against an independent oracle: tests/test_graph_quant.) */
    int8_t *in2 = malloc(4096), *out2 = malloc(4096);
    memcpy(in2, in, 2048);
    memcpy(in2 + 2048, in, 2048);
    size_t bytes2;
    assert_int_equal(tq_graph_arena_size(q, 2, &bytes2), TQ_OK);
    void *arena2 = malloc(bytes2);
    assert_int_equal(tq_graph_run_s8(q, 2, in2, out2, NULL, arena2, bytes2), TQ_OK);
    assert_memory_equal(out2, out, 2048);
    assert_memory_equal(out2 + 2048, out, 2048);
    free(in);
    free(out);
    free(arena);
    free(in2);
    free(out2);
    free(arena2);
    tq_graph_free(q);
    tq_graph_free(g);
}

static void test_float_graph_refused(void **state)
{
    (void)state;
    tt_rng r = {12};
    tq_graph *g = hand_graph(&r);
    assert_int_equal(tq_graph_save(g, tmp_a), TQ_ERR_PARAM);
    assert_non_null(strstr(tq_graph_error(g), "quantized"));
    assert_int_equal(tq_graph_save(NULL, tmp_a), TQ_ERR_NULL);
    assert_int_equal(tq_graph_save(g, NULL), TQ_ERR_NULL);
    tq_graph_free(g);
}

static void test_lenet_onnx_round_trip(void **state)
{
    (void)state;
    char msg[512];
    tq_graph *g = NULL;
    const char *path = TQ_TEST_MODELS_DIR "/lenet/lenet.onnx";
    if (access(path, R_OK) != 0)
        skip();
    tq_status s = tq_graph_load_onnx(path, &g, msg, sizeof msg);
    if (s == TQ_ERR_UNSUPPORTED && strstr(msg, "protobuf"))
        skip();
    if (s != TQ_OK)
        fail_msg("%s: %s", path, msg);
    tt_rng r = {13};
    tq_graph *q = quantize(g, &r, 32, -1.0f, 1.0f);
    round_trip(q, &r, 20, "lenet");
    tq_graph_free(q);
    tq_graph_free(g);
}

/* ---- rejections ------------------------------------------------------------------- */

/* A saved file, taken apart: its arrays and its graph JSON. */
typedef struct parts {
    tq_safetensors *st;
    tq_named_tensor t[256];
    void *copies[256];
    int32_t n;
    cJSON *json;
} parts;

static void take_apart(parts *p, const char *path)
{
    memset(p, 0, sizeof *p);
    assert_int_equal(tq_safetensors_load(path, &p->st), TQ_OK);
    p->n = tq_safetensors_count(p->st);
    assert_true(p->n <= 256);
    for (int32_t i = 0; i < p->n; ++i) {
        assert_int_equal(tq_safetensors_name(p->st, i, &p->t[i].name), TQ_OK);
        assert_int_equal(tq_safetensors_get(p->st, p->t[i].name, &p->t[i].tensor),
                         TQ_OK);
    }
    const char *text;
    assert_int_equal(tq_safetensors_metadata(p->st, "tinyq-graph", &text), TQ_OK);
    p->json = cJSON_Parse(text);
    assert_non_null(p->json);
}

static tq_tensor *array(parts *p, const char *name)
{
    for (int32_t i = 0; i < p->n; ++i)
        if (!strcmp(p->t[i].name, name))
            return &p->t[i].tensor;
    fail_msg("no array %s", name);
    return NULL;
}

static void drop_array(parts *p, const char *name)
{
    for (int32_t i = 0; i < p->n; ++i)
        if (!strcmp(p->t[i].name, name)) {
            memmove(&p->t[i], &p->t[i + 1], (size_t)(p->n - i - 1) * sizeof p->t[0]);
            p->n--;
            return;
        }
    fail_msg("no array %s", name);
}

/* A private, writable copy of array @p name. */
static void *writable(parts *p, const char *name)
{
    tq_tensor *t = array(p, name);
    size_t n = tq_dtype_size(t->dtype);
    for (int32_t d = 0; d < t->ndim; ++d)
        n *= (size_t)t->shape[d];
    void *c = malloc(n ? n : 1);
    memcpy(c, t->data, n);
    t->data = c;
    for (int i = 0; i < 256; ++i)
        if (!p->copies[i]) {
            p->copies[i] = c;
            break;
        }
    return c;
}

/* Write the parts (format @p format) and expect the loader to refuse them
 * with TQ_ERR_FORMAT and a message holding @p words. */
static void expect_refused(parts *p, const char *format, const char *words)
{
    char *text = cJSON_PrintUnformatted(p->json);
    const char *keys[2] = {"format", "tinyq-graph"};
    const char *values[2] = {format, text};
    assert_int_equal(tq_safetensors_save(tmp_b, p->t, p->n, keys, values, 2), TQ_OK);
    char msg[512] = "sentinel";
    tq_graph *g = (tq_graph *)(uintptr_t)0x1;
    const tq_status s = tq_graph_load(tmp_b, &g, msg, sizeof msg);
    if (s != TQ_ERR_FORMAT || !strstr(msg, words))
        fail_msg("expected a refusal naming '%s', got status %d: %s", words,
                 (int)s, msg);
    assert_ptr_equal(g, (tq_graph *)(uintptr_t)0x1);
    cJSON_free(text);
    cJSON_Delete(p->json);
    for (int i = 0; i < 256; ++i)
        free(p->copies[i]);
    tq_safetensors_free(p->st);
}

static cJSON *jnode(parts *p, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(p->json, "nodes"), i);
}

static cJSON *jtensor(parts *p, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(p->json, "tensors"), i);
}

static void set_num(cJSON *o, const char *key, double v)
{
    cJSON_ReplaceItemInObject(o, key, cJSON_CreateNumber(v));
}

/* The first node of op @p op. */
static int node_of(parts *p, int op)
{
    for (int i = 0; jnode(p, i); ++i)
        if (cJSON_GetObjectItem(jnode(p, i), "op")->valueint == op)
            return i;
    fail_msg("no node of op %d", op);
    return -1;
}

static void test_rejections(void **state)
{
    (void)state;
    tt_rng r = {14};
    tq_graph *g = hand_graph(&r);
    tq_graph *q = quantize(g, &r, 16, -1.0f, 1.0f);
    assert_int_equal(tq_graph_save(q, tmp_a), TQ_OK);
    parts p;
    char key[64];

    /* The untouched parts load (the harness itself is sound). */
    take_apart(&p, tmp_a);
    {
        char *text = cJSON_PrintUnformatted(p.json);
        const char *keys[2] = {"format", "tinyq-graph"};
        const char *values[2] = {"tinyq-graph-v1", text};
        assert_int_equal(tq_safetensors_save(tmp_b, p.t, p.n, keys, values, 2),
                         TQ_OK);
        tq_graph *l = NULL;
        char msg[256];
        assert_int_equal(tq_graph_load(tmp_b, &l, msg, sizeof msg), TQ_OK);
        tq_graph_free(l);
        cJSON_free(text);
        cJSON_Delete(p.json);
        tq_safetensors_free(p.st);
    }

    take_apart(&p, tmp_a);
    expect_refused(&p, "tinyq-lenet-s8", "tinyq-lenet-s8");
    take_apart(&p, tmp_a);
    expect_refused(&p, "tinyq-graph-v9", "format");
    take_apart(&p, tmp_a);
    cJSON_ReplaceItemInObject(p.json, "format", cJSON_CreateString("v2"));
    expect_refused(&p, "tinyq-graph-v1", "graph format");

    const int conv = node_of((take_apart(&p, tmp_a), &p), TQ_OP_CONV2D);
    const int w1 = cJSON_GetArrayItem(cJSON_GetObjectItem(jnode(&p, conv), "inputs"), 1)
                       ->valueint;
    const int in = cJSON_GetObjectItem(p.json, "input")->valueint;
    cJSON_Delete(p.json);
    tq_safetensors_free(p.st);

    /* Arrays: missing, wrong dtype, wrong shape. */
    take_apart(&p, tmp_a);
    snprintf(key, sizeof key, "t%d", w1);
    drop_array(&p, key);
    expect_refused(&p, "tinyq-graph-v1", "has no tensor");
    take_apart(&p, tmp_a);
    array(&p, key)->dtype = TQ_F32;
    array(&p, key)->shape[0] = 2; /* 8·3·3·4 bytes as 2·3·3·4 floats */
    expect_refused(&p, "tinyq-graph-v1", "is f32, must be s8");
    take_apart(&p, tmp_a);
    array(&p, key)->shape[0] = 4;
    expect_refused(&p, "tinyq-graph-v1", "shape");

    /* Parameters: scale 0, NaN, infinite; zero point; multiplier; shift. */
    snprintf(key, sizeof key, "t%d.scale", in);
    const float bad_scales[3] = {0.0f, NAN, INFINITY};
    for (int i = 0; i < 3; ++i) {
        take_apart(&p, tmp_a);
        ((float *)writable(&p, key))[0] = bad_scales[i];
        expect_refused(&p, "tinyq-graph-v1", "scale");
    }
    take_apart(&p, tmp_a);
    snprintf(key, sizeof key, "t%d.zero_point", in);
    ((int32_t *)writable(&p, key))[0] = 128;
    expect_refused(&p, "tinyq-graph-v1", "zero point");
    take_apart(&p, tmp_a);
    snprintf(key, sizeof key, "n%d.multiplier", conv);
    ((int32_t *)writable(&p, key))[0] = -5;
    expect_refused(&p, "tinyq-graph-v1", "multiplier");
    take_apart(&p, tmp_a);
    snprintf(key, sizeof key, "n%d.shift", conv);
    ((int32_t *)writable(&p, key))[0] = TQ_SHIFT_MAX + 1;
    expect_refused(&p, "tinyq-graph-v1", "shift");
    take_apart(&p, tmp_a);
    snprintf(key, sizeof key, "n%d.shift", conv);
    ((int32_t *)writable(&p, key))[0] = TQ_SHIFT_MIN - 1;
    expect_refused(&p, "tinyq-graph-v1", "shift");

    /* Indices, order, kinds, clamps. */
    take_apart(&p, tmp_a);
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(jnode(&p, conv), "inputs"), 0,
                             cJSON_CreateNumber(999));
    expect_refused(&p, "tinyq-graph-v1", "inputs");
    take_apart(&p, tmp_a);
    set_num(p.json, "output", -1);
    expect_refused(&p, "tinyq-graph-v1", "output");
    take_apart(&p, tmp_a);
    { /* a cycle: the first node reads the last node's output */
        const int last = cJSON_GetArraySize(cJSON_GetObjectItem(p.json, "nodes")) - 1;
        const int y = cJSON_GetObjectItem(jnode(&p, last), "output")->valueint;
        cJSON_ReplaceItemInArray(cJSON_GetObjectItem(jnode(&p, 0), "inputs"), 0,
                                 cJSON_CreateNumber(y));
    }
    expect_refused(&p, "tinyq-graph-v1", "earlier node");
    take_apart(&p, tmp_a);
    set_num(cJSON_GetObjectItem(jnode(&p, conv), "q"), "kind", 8);
    expect_refused(&p, "tinyq-graph-v1", "q kind");
    take_apart(&p, tmp_a);
    set_num(cJSON_GetObjectItem(jnode(&p, conv), "q"), "act_min", 100);
    set_num(cJSON_GetObjectItem(jnode(&p, conv), "q"), "act_max", 50);
    expect_refused(&p, "tinyq-graph-v1", "act_max");
    take_apart(&p, tmp_a);
    set_num(jnode(&p, conv), "op", 99);
    expect_refused(&p, "tinyq-graph-v1", "\"op\"");
    take_apart(&p, tmp_a);
    { /* a conv whose stride no longer gives the output shape */
        cJSON *cv = cJSON_GetObjectItem(cJSON_GetObjectItem(jnode(&p, conv), "attrs"),
                                        "conv");
        cJSON_ReplaceItemInArray(cv, 0, cJSON_CreateNumber(2));
    }
    expect_refused(&p, "tinyq-graph-v1", "inferred shape");
    take_apart(&p, tmp_a);
    cJSON_ReplaceItemInObject(jtensor(&p, in), "dtype", cJSON_CreateString("f32"));
    expect_refused(&p, "tinyq-graph-v1", "activation");
    take_apart(&p, tmp_a);
    cJSON_ReplaceItemInObject(jtensor(&p, w1), "dtype", cJSON_CreateString("s32"));
    snprintf(key, sizeof key, "t%d", w1);
    drop_array(&p, key);
    expect_refused(&p, "tinyq-graph-v1", "has no tensor");
    take_apart(&p, tmp_a);
    { /* the add's offsets no longer match its inputs */
        const int add = node_of(&p, TQ_OP_ADD);
        cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(jnode(&p, add), "q"), "add");
        cJSON_ReplaceItemInArray(a, 0, cJSON_CreateNumber(77));
    }
    expect_refused(&p, "tinyq-graph-v1", "offsets");
    take_apart(&p, tmp_a);
    cJSON_DeleteItemFromObject(p.json, "config");
    expect_refused(&p, "tinyq-graph-v1", "config");

    /* Not JSON, not safetensors. */
    take_apart(&p, tmp_a);
    cJSON_Delete(p.json);
    p.json = cJSON_CreateString("not an object");
    expect_refused(&p, "tinyq-graph-v1", "JSON");
    char msg[128];
    tq_graph *l = NULL;
    assert_int_equal(tq_graph_load_memory("garbage", 7, &l, msg, sizeof msg),
                     TQ_ERR_FORMAT);
    assert_null(l);
    assert_int_equal(tq_graph_load(NULL, &l, msg, sizeof msg), TQ_ERR_NULL);
    assert_int_equal(tq_graph_load("/nonexistent/x", &l, msg, sizeof msg),
                     TQ_ERR_IO);

    tq_graph_free(q);
    tq_graph_free(g);
}

int main(void)
{
    snprintf(tmp_a, sizeof tmp_a, "test_model_file_%d_a.safetensors", (int)getpid());
    snprintf(tmp_b, sizeof tmp_b, "test_model_file_%d_b.safetensors", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_graph_round_trip),
        cmocka_unit_test(test_tiny_graph_round_trip),
        cmocka_unit_test(test_in_place_chain),
        cmocka_unit_test(test_float_graph_refused),
        cmocka_unit_test(test_lenet_onnx_round_trip),
        cmocka_unit_test(test_rejections),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    remove(tmp_a);
    remove(tmp_b);
    return rc;
}
