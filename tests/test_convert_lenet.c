/*
 * tq-export --convert-lenet-s8: the two committed tinyq-lenet-s8 files
 * (examples/firmware/lenet_s8.safetensors, without biases, and
 * lenet_bias_s8.safetensors, with), converted at build time by meson, must
 * load as tinyq-graph-v1 graphs whose int8 logits and output-layer int32
 * accumulators are bit for bit those of the old format run by the lab's
 * own integer path (lenet_load_s8() + lenet_forward_s8() of
 * tests/lenet/lenet.c), on random inputs over the whole int8 range and
 * on constant ones; and the converted file must keep the old weights,
 * multipliers and shifts byte for byte. The same holds for the converted
 * files committed beside the old ones (examples/firmware/
 * lenet_s8.graph.safetensors, lenet_bias_s8.graph.safetensors), which the
 * Cortex-M firmware embeds.
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

#include "lenet.h"
#include "testutil.h"

#ifndef TQ_TEST_OLD_DIR
#define TQ_TEST_OLD_DIR "examples/firmware"
#endif
#ifndef TQ_TEST_NEW_DIR
#define TQ_TEST_NEW_DIR "."
#endif

enum { N_RANDOM = 200 };

static void check_model(const char *new_dir, const char *stem, int with_bias)
{
    char old_path[4096], new_path[4096], msg[512];
    static lenet_s8 q;
    snprintf(old_path, sizeof old_path, "%s/%s.safetensors", TQ_TEST_OLD_DIR, stem);
    snprintf(new_path, sizeof new_path, "%s/%s.graph.safetensors", new_dir,
             stem);
    assert_int_equal(lenet_load_s8(old_path, &q), TQ_OK);
    assert_int_equal(q.has_bias, with_bias);
    tq_graph *g = NULL;
    if (tq_graph_load(new_path, &g, msg, sizeof msg) != TQ_OK)
        fail_msg("%s: %s", new_path, msg);
    assert_int_equal(tq_graph_is_quantized(g), 1);
    assert_int_equal(tq_graph_node_count(g), LENET_LAYERS);

    /* The old arrays, unchanged, in the new graph. */
    int32_t in, out;
    assert_int_equal(tq_graph_io(g, &in, &out), TQ_OK);
    tq_graph_tensor_info ti;
    assert_int_equal(tq_graph_tensor(g, in, &ti), TQ_OK);
    assert_true(ti.scale[0] == q.a_scale[0]);
    assert_int_equal(ti.zero_point[0], q.a_zero[0]);
    for (int l = 0; l < LENET_LAYERS; ++l) {
        tq_graph_node_info node;
        assert_int_equal(tq_graph_node(g, l, &node), TQ_OK);
        assert_int_equal(node.op, lenet_layers[l].is_conv
                                      ? TQ_OP_CONV2D_RELU_MAXPOOL2
                                      : TQ_OP_FULLY_CONNECTED);
        assert_int_equal(node.n_inputs, with_bias ? 3 : 2);
        assert_int_equal(tq_graph_tensor(g, node.inputs[1], &ti), TQ_OK);
        assert_int_equal(ti.dtype, TQ_S8);
        assert_memory_equal(ti.data, q.w[l], lenet_weight_count(l));
        assert_int_equal(ti.qcount, q.w_channels[l]);
        for (int64_t c = 0; c < ti.qcount; ++c)
            assert_true(ti.scale[c] == q.w_scale[l][c]);
        if (with_bias) {
            assert_int_equal(tq_graph_tensor(g, node.inputs[2], &ti), TQ_OK);
            assert_int_equal(ti.dtype, TQ_S32);
            assert_memory_equal(ti.data, q.b[l],
                                (size_t)lenet_layers[l].out * sizeof(int32_t));
        }
        assert_int_equal(tq_graph_tensor(g, node.output, &ti), TQ_OK);
        assert_true(ti.scale[0] == q.a_scale[l + 1]);
        assert_int_equal(ti.zero_point[0], q.a_zero[l + 1]);
    }

    /* Bit for bit on random and constant inputs, one batch. */
    const int n = N_RANDOM + 3;
    int8_t *x = malloc((size_t)n * LENET_IMAGE);
    int8_t *logits = malloc((size_t)n * LENET_CLASSES);
    int32_t *acc = malloc((size_t)n * LENET_CLASSES * sizeof *acc);
    tt_rng r = {with_bias ? 11u : 7u};
    tt_fill_s8(&r, x, (size_t)N_RANDOM * LENET_IMAGE, -128, 127);
    memset(x + (size_t)N_RANDOM * LENET_IMAGE, -128, LENET_IMAGE);
    memset(x + (size_t)(N_RANDOM + 1) * LENET_IMAGE, 127, LENET_IMAGE);
    memset(x + (size_t)(N_RANDOM + 2) * LENET_IMAGE, q.a_zero[0], LENET_IMAGE);
    size_t bytes;
    assert_int_equal(tq_graph_arena_size(g, n, &bytes), TQ_OK);
    void *arena = malloc(bytes);
    if (tq_graph_run_s8(g, n, x, logits, acc, arena, bytes) != TQ_OK)
        fail_msg("run_s8: %s", tq_graph_error(g));
    const size_t scratch_bytes = lenet_scratch_bytes();
    void *scratch = malloc(scratch_bytes ? scratch_bytes : 1);
    for (int i = 0; i < n; ++i) {
        int8_t lab_logits[LENET_CLASSES];
        int32_t lab_acc[LENET_CLASSES];
        assert_int_equal(lenet_forward_s8(&q, x + (size_t)i * LENET_IMAGE,
                                          lab_logits, lab_acc, scratch,
                                          scratch_bytes),
                         TQ_OK);
        assert_memory_equal(lab_logits, logits + i * LENET_CLASSES, LENET_CLASSES);
        assert_memory_equal(lab_acc, acc + i * LENET_CLASSES,
                            LENET_CLASSES * sizeof(int32_t));
    }
    free(scratch), free(arena), free(x), free(logits), free(acc);
    tq_graph_free(g);
}

static void test_without_bias(void **state)
{
    (void)state;
    check_model(TQ_TEST_NEW_DIR, "lenet_s8", 0);
}

static void test_with_bias(void **state)
{
    (void)state;
    check_model(TQ_TEST_NEW_DIR, "lenet_bias_s8", 1);
}

/* The committed graph files the firmware builds from. */
static void test_committed_without_bias(void **state)
{
    (void)state;
    check_model(TQ_TEST_OLD_DIR, "lenet_s8", 0);
}

static void test_committed_with_bias(void **state)
{
    (void)state;
    check_model(TQ_TEST_OLD_DIR, "lenet_bias_s8", 1);
}

/* The graph loader still refuses the old file, with a message naming the
 * conversion. */
static void test_old_file_refused(void **state)
{
    (void)state;
    char path[4096], msg[512];
    tq_graph *g = NULL;
    snprintf(path, sizeof path, "%s/lenet_s8.safetensors", TQ_TEST_OLD_DIR);
    assert_int_equal(tq_graph_load(path, &g, msg, sizeof msg), TQ_ERR_FORMAT);
    assert_null(g);
    assert_non_null(strstr(msg, "--convert-lenet-s8"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_bias),
        cmocka_unit_test(test_with_bias),
        cmocka_unit_test(test_committed_without_bias),
        cmocka_unit_test(test_committed_with_bias),
        cmocka_unit_test(test_old_file_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
