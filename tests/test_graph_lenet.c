/*
 * End to end on the committed LeNet: the network built with the graph
 * builder from examples/cifar10/lenet.safetensors, calibrated on the first
 * 400 CIFAR-10 training images with each of the six range methods and
 * quantized by the graph API, must give bit for bit the int8 logits and
 * int32 accumulators of the first lab's hand-written integer path
 * (tests/lenet/lenet.c, configured as the lab configures the graph:
 * abs-max weights per channel, fc3 per tensor,
 * asymmetric activations, symmetric for abs-max, 2048-bin histograms over
 * each tensor's range), and so the same predictions and accuracy, on the
 * first 1000 test images. Exits 77 (skipped) without CIFAR-10.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lenet.h"
#include "testutil.h"

#ifndef TQ_TEST_MODEL_DIR
#define TQ_TEST_MODEL_DIR "examples/cifar10"
#endif

enum { N_CALIB = 400, N_TEST = 1000 };

static char calib_path[4096], test_path[4096];

static int32_t constant(tq_graph *g, const char *name, const float *v, int ndim,
                        int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    const int64_t shape[4] = {d0, d1, d2, d3};
    tq_tensor t;
    int32_t id;
    assert_int_equal(tq_tensor_init(&t, (void *)(uintptr_t)v, TQ_F32, ndim, shape),
                     TQ_OK);
    assert_int_equal(tq_graph_add_constant(g, name, &t, &id), TQ_OK);
    return id;
}

/* LeNet as a graph: conv + ReLU + 2x2 max pool twice (fused by the
 * finalize rewrite), then three fully connected layers. */
static tq_graph *build(const lenet_f32 *m)
{
    tq_graph *g = NULL;
    const int64_t in_shape[4] = {1, 32, 32, 3};
    int32_t x, y;
    assert_int_equal(tq_graph_create(&g), TQ_OK);
    assert_int_equal(tq_graph_add_input(g, "x0", 4, in_shape, &x), TQ_OK);
    for (int l = 0; l < LENET_LAYERS; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        int32_t ins[3];
        tq_node_attrs at;
        tq_node_attrs_init(&at);
        at.act = L->relu ? TQ_ACT_RELU : TQ_ACT_NONE;
        ins[0] = x;
        ins[1] = L->is_conv ? constant(g, NULL, m->w[l], 4, L->out, L->k, L->k, L->in)
                            : constant(g, NULL, m->w[l], 2, L->out, L->in, 0, 0);
        if (m->has_bias)
            ins[2] = constant(g, NULL, m->b[l], 1, L->out, 0, 0, 0);
        assert_int_equal(tq_graph_add_node(g, L->name,
                                           L->is_conv ? TQ_OP_CONV2D
                                                      : TQ_OP_FULLY_CONNECTED,
                                           m->has_bias ? 3 : 2, ins, &at, &y),
                         TQ_OK);
        x = y;
        if (L->is_conv) {
            tq_node_attrs_init(&at);
            at.pool = (tq_pool_params){2, 2, 2, 2, 0, 0, 0, 0};
            assert_int_equal(tq_graph_add_node(g, NULL, TQ_OP_MAX_POOL, 1, &x,
                                               &at, &y),
                             TQ_OK);
            x = y;
        }
    }
    assert_int_equal(tq_graph_set_output(g, x), TQ_OK);
    assert_int_equal(tq_graph_finalize(g, TQ_REWRITE_ALL), TQ_OK);
    /* The pool fusion made the lab's two fused stages. */
    assert_int_equal(tq_graph_node_count(g), 5);
    for (int i = 0; i < 2; ++i) {
        tq_graph_node_info info;
        assert_int_equal(tq_graph_node(g, i, &info), TQ_OK);
        assert_int_equal(info.op, TQ_OP_CONV2D_RELU_MAXPOOL2);
    }
    return g;
}

static void test_lenet_matches_lab(void **state)
{
    (void)state;
    static lenet_f32 m;
    static lenet_s8 q;
    static lenet_calib calib;
    float *cal = NULL, *test = NULL;
    uint8_t *cal_labels = NULL, *labels = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/lenet.safetensors", TQ_TEST_MODEL_DIR);
    assert_int_equal(lenet_load_f32(path, &m), TQ_OK);
    assert_int_equal(lenet_load_images(calib_path, 0, N_CALIB, &cal, &cal_labels),
                     TQ_OK);
    assert_int_equal(lenet_load_images(test_path, 0, N_TEST, &test, &labels), TQ_OK);
    assert_int_equal(lenet_calib_collect(&m, cal, N_CALIB, &calib), TQ_OK);
    tq_graph *g = build(&m);
    int8_t *xq = malloc((size_t)N_TEST * LENET_IMAGE);
    int8_t *logits = malloc((size_t)N_TEST * LENET_CLASSES);
    int32_t *acc = malloc((size_t)N_TEST * LENET_CLASSES * sizeof *acc);
    const size_t scratch_bytes = lenet_scratch_bytes();
    void *scratch = malloc(scratch_bytes ? scratch_bytes : 1);

    /* Every range method, configured as ptq.c does (abs-max with symmetric
     * activations; k = 3; percentile 99.99; 2048-bin histograms). */
    const int32_t methods[6] = {TQ_RANGE_MINMAX, TQ_RANGE_ABSMAX, TQ_RANGE_KSIGMA,
                                TQ_RANGE_PERCENTILE, TQ_RANGE_MSE, TQ_RANGE_KL};
    for (int mi = 0; mi < 6; ++mi) {
        const tq_range_config rc = {methods[mi], 0, 3.0, 99.99};
        const int symmetric = methods[mi] == TQ_RANGE_ABSMAX;
        /* The lab's integer model. */
        const lenet_wq_config wq = {1, TQ_RANGE_ABSMAX, 0.0, 1};
        q.rounding = TQ_ROUND_DOUBLE;
        assert_int_equal(lenet_quantize_weights(&m, &wq, &q), TQ_OK);
        assert_int_equal(lenet_calib_apply(&calib, &rc, symmetric, &q), TQ_OK);
        assert_int_equal(lenet_finish_s8(&m, &q), TQ_OK);

        /* The same through the graph API, calibrated in batches of 100. */
        tq_quant_config cfg;
        tq_calibrator *c = NULL;
        int32_t again = 1, passes = 0;
        assert_int_equal(tq_quant_config_init(&cfg), TQ_OK);
        cfg.activation_range = rc;
        cfg.activation_scheme.symmetric = symmetric;
        assert_int_equal(tq_calibrator_create(g, &cfg, &c), TQ_OK);
        while (again) {
            for (int b = 0; b < N_CALIB; b += 100)
                assert_int_equal(tq_calibrator_feed(c, 100,
                                                    cal + (size_t)b * LENET_IMAGE),
                                 TQ_OK);
            assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
            ++passes;
        }
        assert_int_equal(passes, mi >= 3 ? 2 : 1);
        tq_graph *qg = NULL;
        if (tq_graph_quantize(g, c, &qg) != TQ_OK)
            fail_msg("quantize: %s", tq_graph_error(g));
        size_t bytes;
        assert_int_equal(tq_graph_arena_size(qg, N_TEST, &bytes), TQ_OK);
        void *arena = malloc(bytes);
        assert_int_equal(tq_graph_quantize_input(qg, (size_t)N_TEST * LENET_IMAGE,
                                                 test, xq),
                         TQ_OK);
        if (tq_graph_run_s8(qg, N_TEST, xq, logits, acc, arena, bytes) != TQ_OK)
            fail_msg("run_s8: %s", tq_graph_error(qg));

        int correct_graph = 0, correct_lab = 0, same_pred = 0;
        for (int i = 0; i < N_TEST; ++i) {
            int8_t x0[LENET_IMAGE], lab_logits[LENET_CLASSES];
            int32_t lab_acc[LENET_CLASSES];
            assert_int_equal(tq_s8_quantize_f32(LENET_IMAGE,
                                                test + (size_t)i * LENET_IMAGE,
                                                q.a_scale[0], q.a_zero[0], x0),
                             TQ_OK);
            assert_memory_equal(x0, xq + (size_t)i * LENET_IMAGE, LENET_IMAGE);
            assert_int_equal(lenet_forward_s8(&q, x0, lab_logits, lab_acc, scratch,
                                              scratch_bytes),
                             TQ_OK);
            assert_memory_equal(lab_logits, logits + i * LENET_CLASSES,
                                LENET_CLASSES);
            assert_memory_equal(lab_acc, acc + i * LENET_CLASSES,
                                LENET_CLASSES * sizeof(int32_t));
            const int pg = lenet_predict_s8(acc + i * LENET_CLASSES);
            const int pl = lenet_predict_s8(lab_acc);
            correct_graph += pg == labels[i];
            correct_lab += pl == labels[i];
            same_pred += pg == pl;
        }
        print_message("LeNet int8, activation range method %d, first %d test "
                      "images: graph API %.1f %%, the lab's integer path "
                      "%.1f %%, %d identical predictions\n",
                      methods[mi], N_TEST, 100.0 * correct_graph / N_TEST,
                      100.0 * correct_lab / N_TEST, same_pred);
        assert_int_equal(correct_graph, correct_lab);
        assert_int_equal(same_pred, N_TEST);
        free(arena);
        tq_graph_free(qg);
        tq_calibrator_free(c);
    }

    free(scratch), free(xq), free(logits), free(acc);
    free(cal), free(cal_labels), free(test), free(labels);
    lenet_calib_free(&calib);
    tq_graph_free(g);
}

/* Accuracy (%) of a quantized graph on the first N_TEST test images. */
static double accuracy_q(tq_graph *qg, const float *test, const uint8_t *labels,
                         int8_t *xq, int8_t *logits, int32_t *acc)
{
    size_t bytes;
    assert_int_equal(tq_graph_arena_size(qg, N_TEST, &bytes), TQ_OK);
    void *arena = malloc(bytes);
    assert_int_equal(tq_graph_quantize_input(qg, (size_t)N_TEST * LENET_IMAGE,
                                             test, xq),
                     TQ_OK);
    if (tq_graph_run_s8(qg, N_TEST, xq, logits, acc, arena, bytes) != TQ_OK)
        fail_msg("run_s8: %s", tq_graph_error(qg));
    free(arena);
    int correct = 0;
    for (int i = 0; i < N_TEST; ++i)
        correct += lenet_predict_s8(acc + i * LENET_CLASSES) == labels[i];
    return 100.0 * correct / N_TEST;
}

/* Mixed precision end to end: LeNet with int16 activations (16x8), with
 * int4 weights, and with one int16 layer and int4 FC weights; each runs
 * integer-only and keeps close to the float accuracy. */
static void test_lenet_mixed(void **state)
{
    (void)state;
    static lenet_f32 m;
    float *cal = NULL, *test = NULL;
    uint8_t *cal_labels = NULL, *labels = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/lenet.safetensors", TQ_TEST_MODEL_DIR);
    assert_int_equal(lenet_load_f32(path, &m), TQ_OK);
    assert_int_equal(lenet_load_images(calib_path, 0, N_CALIB, &cal, &cal_labels),
                     TQ_OK);
    assert_int_equal(lenet_load_images(test_path, 0, N_TEST, &test, &labels), TQ_OK);
    tq_graph *g = build(&m);
    int8_t *xq = malloc((size_t)N_TEST * LENET_IMAGE);
    int8_t *logits = malloc((size_t)N_TEST * LENET_CLASSES);
    int32_t *acc = malloc((size_t)N_TEST * LENET_CLASSES * sizeof *acc);
    float *yf = malloc((size_t)N_TEST * LENET_CLASSES * sizeof *yf);
    size_t bytes;
    assert_int_equal(tq_graph_arena_size(g, N_TEST, &bytes), TQ_OK);
    void *arena = malloc(bytes);
    assert_int_equal(tq_graph_run_f32(g, N_TEST, test, yf, arena, bytes), TQ_OK);
    free(arena);
    int correct = 0;
    for (int i = 0; i < N_TEST; ++i) {
        int best = 0;
        for (int k = 1; k < LENET_CLASSES; ++k)
            if (yf[i * LENET_CLASSES + k] > yf[i * LENET_CLASSES + best])
                best = k;
        correct += best == labels[i];
    }
    const double float_acc = 100.0 * correct / N_TEST;
    /* The graph: conv1+pool, conv2+pool, fc1, fc2, fc3. */
    tq_graph_node_info n0, n3;
    assert_int_equal(tq_graph_node(g, 0, &n0), TQ_OK);
    assert_int_equal(tq_graph_node(g, 3, &n3), TQ_OK);
    struct {
        const char *name;
        int32_t act, weight, conv1_s16, fc2_w4;
        double min_acc; /* below the float accuracy, at most */
    } cases[4] = {
        {"int8", TQ_S8, TQ_S8, 0, 0, 3.0},
        {"int16 activations (16x8)", TQ_S16, TQ_S8, 0, 0, 2.0},
        {"int4 weights", TQ_S8, TQ_S4, 0, 0, 12.0},
        {"conv1 int16, fc2 weights int4", TQ_S8, TQ_S8, 1, 1, 4.0},
    };
    for (int k = 0; k < 4; ++k) {
        tq_quant_config cfg;
        tq_calibrator *c = NULL;
        int32_t again = 1;
        assert_int_equal(tq_quant_config_init(&cfg), TQ_OK);
        assert_int_equal(tq_calibrator_create(g, &cfg, &c), TQ_OK);
        assert_int_equal(tq_calibrator_set_default_dtypes(c, cases[k].act,
                                                          cases[k].weight),
                         TQ_OK);
        if (cases[k].conv1_s16)
            assert_int_equal(tq_calibrator_set_dtype(c, n0.output, TQ_S16), TQ_OK);
        if (cases[k].fc2_w4)
            assert_int_equal(tq_calibrator_set_dtype(c, n3.inputs[1], TQ_S4), TQ_OK);
        while (again) {
            assert_int_equal(tq_calibrator_feed(c, N_CALIB, cal), TQ_OK);
            assert_int_equal(tq_calibrator_end_pass(c, &again), TQ_OK);
        }
        tq_graph *qg = NULL;
        if (tq_graph_quantize(g, c, &qg) != TQ_OK)
            fail_msg("quantize: %s", tq_graph_error(g));
        tq_graph_tensor_info ti;
        assert_int_equal(tq_graph_tensor(qg, n0.output, &ti), TQ_OK);
        assert_int_equal(ti.dtype, cases[k].act == TQ_S16 || cases[k].conv1_s16
                                       ? TQ_S16 : TQ_S8);
        assert_int_equal(tq_graph_tensor(qg, n3.inputs[1], &ti), TQ_OK);
        assert_int_equal(ti.dtype, cases[k].weight == TQ_S4 || cases[k].fc2_w4
                                       ? TQ_S4 : TQ_S8);
        const double a = accuracy_q(qg, test, labels, xq, logits, acc);
        print_message("LeNet %s: %.1f %% on the first %d test images (float "
                      "%.1f %%), %d nodes\n", cases[k].name, a, N_TEST,
                      float_acc, (int)tq_graph_node_count(qg));
        assert_true(a >= float_acc - cases[k].min_acc);
        tq_graph_free(qg);
        tq_calibrator_free(c);
    }
    free(xq), free(logits), free(acc), free(yf);
    free(cal), free(cal_labels), free(test), free(labels);
    tq_graph_free(g);
}

int main(void)
{
    snprintf(calib_path, sizeof calib_path, "%s/cifar10/data_batch_1.bin",
             tt_data_dir());
    snprintf(test_path, sizeof test_path, "%s/cifar10/test_batch.bin",
             tt_data_dir());
    if (access(calib_path, R_OK) != 0 || access(test_path, R_OK) != 0) {
        printf("CIFAR-10 not found at %s/cifar10: set TINYQ_DATA_DIR to the "
               "folder holding cifar10/ to run this test\n", tt_data_dir());
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lenet_matches_lab),
        cmocka_unit_test(test_lenet_mixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
