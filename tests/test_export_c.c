/*
 * The C exporter (tq_graph_export_c, tq-export): the code it generated at
 * build time for two committed model files (fuzz/corpus/model/tiny and
 * lenet, the quantized LeNet of models/lenet), for one with residual
 * blocks (gen_residual_model.c) and for four mixed-precision versions of
 * it (int16 activations everywhere, int4 weights everywhere, a mixture with
 * requantizations at the boundaries and an int16 residual Add, both
 * defaults at once) is compiled into this test
 * and must give, on random inputs, bit for bit the int8 outputs and the
 * output layer's accumulators of tq_graph_run_s8 on the loaded file. The
 * library call's refusals are checked too.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinyq.h"
#include "testutil.h"
#include "exp_tiny.h"
#include "exp_lenet.h"
#include "exp_residual.h"
#include "exp_mixed_s16.h"
#include "exp_mixed_s4.h"
#include "exp_mixed_mix.h"
#include "exp_mixed_both.h"

#ifndef TQ_TEST_MODEL_CORPUS
#define TQ_TEST_MODEL_CORPUS "fuzz/corpus/model"
#endif

typedef struct exported {
    const char *file;
    int8_t *(*input)(void);
    tq_status (*run)(int8_t *, int32_t *);
    size_t in_bytes, outputs, arena;
    int has_acc;
} exported;

static void check_model(const exported *e)
{
    char msg[256];
    tq_graph *g = NULL;
    if (tq_graph_load(e->file, &g, msg, sizeof msg) != TQ_OK)
        fail_msg("%s: %s", e->file, msg);
    int32_t in, out;
    assert_int_equal(tq_graph_io(g, &in, &out), TQ_OK);
    size_t bytes;
    assert_int_equal(tq_graph_arena_size(g, 1, &bytes), TQ_OK);
    void *arena = malloc(bytes);
    int8_t *x = malloc(e->in_bytes), *y = malloc(e->outputs), *z = malloc(e->outputs);
    int32_t *a = calloc(e->outputs, 4), *b = calloc(e->outputs, 4);
    tt_rng r = {21};
    for (int rep = 0; rep < 25; ++rep) {
        for (size_t i = 0; i < e->in_bytes; ++i)
            x[i] = (int8_t)tt_int(&r, -128, 127);
        assert_int_equal(tq_graph_run_s8(g, 1, x, y, e->has_acc ? a : NULL, arena,
                                         bytes),
                         TQ_OK);
        memcpy(e->input(), x, e->in_bytes);
        memset(z, 0x55, e->outputs);
        assert_int_equal(e->run(z, rep % 2 ? NULL : b), TQ_OK);
        assert_memory_equal(y, z, e->outputs);
        if (e->has_acc && rep % 2 == 0)
            assert_memory_equal(a, b, e->outputs * 4);
    }
    print_message("%s: exported arena %zu B, tq_graph_run_s8 arena %zu B\n", e->file,
                  e->arena, bytes);
    free(arena);
    free(x);
    free(y);
    free(z);
    free(a);
    free(b);
    tq_graph_free(g);
}

static void test_generated_code(void **state)
{
    (void)state;
    const exported models[] = {
        {TQ_TEST_MODEL_CORPUS "/tiny", exp_tiny_input, exp_tiny_run,
         EXP_TINY_INPUT_BYTES, EXP_TINY_OUTPUTS, EXP_TINY_ARENA_BYTES,
         EXP_TINY_HAS_ACCUMULATORS},
        {TQ_TEST_MODEL_CORPUS "/lenet", exp_lenet_input, exp_lenet_run,
         EXP_LENET_INPUT_BYTES, EXP_LENET_OUTPUTS, EXP_LENET_ARENA_BYTES,
         EXP_LENET_HAS_ACCUMULATORS},
        /* Residual blocks: two convs with a fused Add (tq_s8_conv2d_add),
         * each writing its sum over the skip tensor. */
        {TQ_TEST_RESIDUAL_MODEL, exp_residual_input, exp_residual_run,
         EXP_RESIDUAL_INPUT_BYTES, EXP_RESIDUAL_OUTPUTS,
         EXP_RESIDUAL_ARENA_BYTES, EXP_RESIDUAL_HAS_ACCUMULATORS},
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; ++i)
        check_model(&models[i]);
}

/* The dtypes of @p file's tensors, counted: the model must really be mixed
 * as its name says (else the test would prove nothing). */
static void count_dtypes(const char *file, int *s16, int *s4, int *cvt)
{
    char msg[256];
    tq_graph *g = NULL;
    if (tq_graph_load(file, &g, msg, sizeof msg) != TQ_OK)
        fail_msg("%s: %s", file, msg);
    *s16 = *s4 = *cvt = 0;
    for (int32_t t = 0; t < tq_graph_tensor_count(g); ++t) {
        tq_graph_tensor_info ti;
        assert_int_equal(tq_graph_tensor(g, t, &ti), TQ_OK);
        *s16 += ti.dtype == TQ_S16;
        *s4 += ti.dtype == TQ_S4;
        *cvt += strstr(ti.name, "/int16") != NULL ||
                strstr(ti.name, "/int8") != NULL;
    }
    tq_graph_free(g);
}

static void test_mixed_precision(void **state)
{
    (void)state;
    const exported models[] = {
        {TQ_TEST_MIXED_S16, exp_mixed_s16_input, exp_mixed_s16_run,
         EXP_MIXED_S16_INPUT_BYTES, EXP_MIXED_S16_OUTPUTS,
         EXP_MIXED_S16_ARENA_BYTES, EXP_MIXED_S16_HAS_ACCUMULATORS},
        {TQ_TEST_MIXED_S4, exp_mixed_s4_input, exp_mixed_s4_run,
         EXP_MIXED_S4_INPUT_BYTES, EXP_MIXED_S4_OUTPUTS,
         EXP_MIXED_S4_ARENA_BYTES, EXP_MIXED_S4_HAS_ACCUMULATORS},
        {TQ_TEST_MIXED_MIX, exp_mixed_mix_input, exp_mixed_mix_run,
         EXP_MIXED_MIX_INPUT_BYTES, EXP_MIXED_MIX_OUTPUTS,
         EXP_MIXED_MIX_ARENA_BYTES, EXP_MIXED_MIX_HAS_ACCUMULATORS},
        {TQ_TEST_MIXED_BOTH, exp_mixed_both_input, exp_mixed_both_run,
         EXP_MIXED_BOTH_INPUT_BYTES, EXP_MIXED_BOTH_OUTPUTS,
         EXP_MIXED_BOTH_ARENA_BYTES, EXP_MIXED_BOTH_HAS_ACCUMULATORS},
    };
    /* int16 tensors, int4 weights, requantization nodes of each model. */
    const int want[4][3] = {{1, 0, 1}, {0, 1, 0}, {1, 1, 1}, {1, 1, 1}};
    for (size_t i = 0; i < sizeof models / sizeof *models; ++i) {
        int s16, s4, cvt;
        count_dtypes(models[i].file, &s16, &s4, &cvt);
        print_message("%s: %d int16 tensors, %d int4 weights, %d "
                      "requantizations\n", models[i].file, s16, s4, cvt);
        assert_int_equal(s16 > 0, want[i][0]);
        assert_int_equal(s4 > 0, want[i][1]);
        assert_int_equal(cvt > 0, want[i][2]);
        check_model(&models[i]);
    }
    /* The int4 FC output layer keeps its accumulators (unpacked weights). */
    assert_true(EXP_MIXED_S4_HAS_ACCUMULATORS);
    assert_true(EXP_MIXED_MIX_HAS_ACCUMULATORS);
}

static void test_refusals(void **state)
{
    (void)state;
    char msg[256];
    tq_graph *g = NULL;
    assert_int_equal(tq_graph_load(TQ_TEST_MODEL_CORPUS "/tiny", &g, msg, sizeof msg),
                     TQ_OK);
    assert_int_equal(tq_graph_export_c(NULL, "m", ".", msg, sizeof msg), TQ_ERR_NULL);
    assert_int_equal(tq_graph_export_c(g, NULL, ".", msg, sizeof msg), TQ_ERR_NULL);
    assert_int_equal(tq_graph_export_c(g, "9x", ".", msg, sizeof msg), TQ_ERR_PARAM);
    assert_non_null(strstr(msg, "identifier"));
    assert_int_equal(tq_graph_export_c(g, "a-b", ".", msg, sizeof msg), TQ_ERR_PARAM);
    assert_int_equal(tq_graph_export_c(g, "m", "/nonexistent/dir", msg, sizeof msg),
                     TQ_ERR_IO);
    tq_graph_free(g);
    /* A node the exporter does not emit: refused before anything is
     * written. */
    assert_int_equal(tq_graph_load(TQ_TEST_MODEL_CORPUS "/hand", &g, msg, sizeof msg),
                     TQ_OK);
    assert_int_equal(tq_graph_export_c(g, "m", "/nonexistent/dir", msg, sizeof msg),
                     TQ_ERR_UNSUPPORTED);
    assert_non_null(strstr(msg, "avgpool"));
    tq_graph_free(g);
    /* Mixed precision exports, but what is refused in int8 is refused in
     * int16 too: an int16 average pool counting its padding. */
    {
        tq_graph *f = NULL, *q = NULL;
        tq_calibrator *c = NULL;
        tq_quant_config cfg;
        const int64_t shape[4] = {1, 6, 6, 4}, ws[4] = {4, 3, 3, 4};
        float w[4 * 3 * 3 * 4], x[8 * 6 * 6 * 4];
        tt_rng r = {5};
        for (size_t i = 0; i < sizeof w / sizeof *w; ++i)
            w[i] = tt_float(&r, -0.5f, 0.5f);
        for (size_t i = 0; i < sizeof x / sizeof *x; ++i)
            x[i] = tt_float(&r, -1.0f, 1.0f);
        int32_t in, conv, pool, ins[2];
        tq_tensor t;
        tq_node_attrs at;
        assert_int_equal(tq_graph_create(&f), TQ_OK);
        assert_int_equal(tq_graph_add_input(f, "x", 4, shape, &in), TQ_OK);
        assert_int_equal(tq_tensor_init(&t, w, TQ_F32, 4, ws), TQ_OK);
        ins[0] = in;
        assert_int_equal(tq_graph_add_constant(f, "w", &t, &ins[1]), TQ_OK);
        tq_node_attrs_init(&at);
        at.conv = (tq_conv_params){1, 1, 1, 1, 1, 1, 1, 1, 1};
        assert_int_equal(tq_graph_add_node(f, "conv", TQ_OP_CONV2D, 2, ins, &at,
                                           &conv), TQ_OK);
        tq_node_attrs_init(&at);
        at.pool = (tq_pool_params){3, 3, 1, 1, 1, 1, 1, 1};
        at.count_include_pad = 1;
        assert_int_equal(tq_graph_add_node(f, "pool", TQ_OP_AVG_POOL, 1, &conv,
                                           &at, &pool), TQ_OK);
        tq_node_attrs_init(&at);
        at.act = TQ_ACT_RELU;
        int32_t out;
        assert_int_equal(tq_graph_add_node(f, "relu", TQ_OP_ACTIVATION, 1, &pool,
                                           &at, &out), TQ_OK);
        assert_int_equal(tq_graph_set_output(f, out), TQ_OK);
        assert_int_equal(tq_graph_finalize(f, 0), TQ_OK);
        assert_int_equal(tq_quant_config_init(&cfg), TQ_OK);
        assert_int_equal(tq_calibrator_create(f, &cfg, &c), TQ_OK);
        assert_int_equal(tq_calibrator_set_default_dtypes(c, TQ_S16, TQ_S8), TQ_OK);
        for (int32_t again = 1; again;) {
            assert_int_equal(tq_calibrator_feed(c, 8, x), TQ_OK);
            assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
        }
        assert_int_equal(tq_graph_quantize(f, c, &q), TQ_OK);
        int32_t pid;
        tq_graph_tensor_info ti;
        assert_int_equal(tq_graph_find_tensor(q, tq_graph_tensor(f, pool, &ti) ==
                                                         TQ_OK ? ti.name : "",
                                              &pid), TQ_OK);
        assert_int_equal(tq_graph_tensor(q, pid, &ti), TQ_OK);
        assert_int_equal(ti.dtype, TQ_S16);
        assert_int_equal(tq_graph_export_c(q, "m", "/nonexistent/dir", msg,
                                           sizeof msg), TQ_ERR_UNSUPPORTED);
        assert_non_null(strstr(msg, "counting its padding"));
        print_message("refused: %s\n", msg);
        tq_graph_free(q);
        tq_calibrator_free(c);
        tq_graph_free(f);
    }
    /* A float graph. */
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    assert_int_equal(tq_graph_export_c(g, "m", ".", msg, sizeof msg), TQ_ERR_PARAM);
    tq_graph_free(g);
}

/* The generated code fills tq_dims, tq_conv_params and tq_pool_params by
 * name (issue 16, item 3): code copied from it cannot swap height and
 * width, whatever order the reader assumes. Every such initialiser in the
 * exported sources of the int8 LeNet and the int16 model (its fused conv
 * + pool writes a pool of its own) must be designated. */
static void count_initialisers(const char *path, int counts[3])
{
    static const char *const types[3] = {"tq_dims ", "tq_conv_params ",
                                         "tq_pool_params "};
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s", path);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        for (int t = 0; t < 3; ++t) {
            const char *decl = strstr(line, types[t]);
            if (!decl || !strstr(line, "static const"))
                continue;
            const char *brace = strchr(decl, '{');
            if (!brace)
                fail_msg("%s: %s", path, line);
            if (strncmp(brace, "{.", 2) != 0)
                fail_msg("%s: positional initialiser: %s", path, line);
            ++counts[t];
        }
    }
    fclose(f);
}

static void test_designated_initialisers(void **state)
{
    (void)state;
    const char *const files[] = {TQ_TEST_MODEL_CORPUS "/lenet",
                                 TQ_TEST_MIXED_S16};
    char dir[] = "/tmp/tq_export_XXXXXX";
    assert_non_null(mkdtemp(dir));
    int counts[3] = {0, 0, 0};
    for (size_t i = 0; i < sizeof files / sizeof *files; ++i) {
        char msg[256], path[64];
        tq_graph *g = NULL;
        if (tq_graph_load(files[i], &g, msg, sizeof msg) != TQ_OK)
            fail_msg("%s: %s", files[i], msg);
        if (tq_graph_export_c(g, "m", dir, msg, sizeof msg) != TQ_OK)
            fail_msg("%s: %s", files[i], msg);
        tq_graph_free(g);
        snprintf(path, sizeof path, "%s/m.c", dir);
        count_initialisers(path, counts);
        remove(path);
        snprintf(path, sizeof path, "%s/m.h", dir);
        remove(path);
    }
    rmdir(dir);
    print_message("designated: %d tq_dims, %d tq_conv_params, %d "
                  "tq_pool_params\n", counts[0], counts[1], counts[2]);
    assert_true(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_code),
        cmocka_unit_test(test_mixed_precision),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_designated_initialisers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
