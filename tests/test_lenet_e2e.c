/*
 * End to end on the committed LeNet models: a quantized model survives a
 * save/load round trip bit for bit (no data needed), and on the real
 * CIFAR-10 test set the float C forward reproduces train.py's accuracy and
 * integer-only int8 inference stays within 1 pp of float.
 *
 * The round trip is of the old tinyq-lenet-s8 format (tests/lenet's
 * lenet_save_s8 / lenet_load_s8), kept on purpose: it is the reference
 * that tq-export --convert-lenet-s8 (test_convert_lenet) and the firmware
 * test's host side (fw_host_reference) read; the firmware itself embeds
 * the converted graph files.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lenet.h"
#include "testutil.h"

#ifndef TQ_TEST_MODEL_DIR
#define TQ_TEST_MODEL_DIR "examples/cifar10"
#endif

static const char *model_files[] = {"lenet.safetensors", "lenet_bias.safetensors"};

static void model_path(char *out, size_t size, int which)
{
    snprintf(out, size, "%s/%s", TQ_TEST_MODEL_DIR, model_files[which]);
}

/* Quantize @m calibrating on @calib images with min/max ranges. */
static void quantize_model(const lenet_f32 *m, const float *calib, int64_t n,
                           lenet_s8 *q)
{
    const lenet_wq_config wq = {1, TQ_RANGE_ABSMAX, 0.0, 1};
    const tq_range_config minmax = {TQ_RANGE_MINMAX, 0, 0.0, 0.0};
    static lenet_calib c;
    assert_int_equal(lenet_calib_collect(m, calib, n, &c), TQ_OK);
    q->rounding = TQ_ROUND_DOUBLE;
    assert_int_equal(lenet_quantize_weights(m, &wq, q), TQ_OK);
    assert_int_equal(lenet_calib_apply(&c, &minmax, 0, q), TQ_OK);
    assert_int_equal(lenet_finish_s8(m, q), TQ_OK);
    lenet_calib_free(&c);
}

/* Save, load, and compare logits and accumulators on random inputs. Needs
 * no dataset: synthetic images in the normalised range [-1, 1]. */
static void test_quantized_round_trip(void **state)
{
    (void)state;
    static lenet_f32 m;
    static lenet_s8 q, back;
    enum { CALIB = 16, TRIES = 64 };
    static float images[CALIB * LENET_IMAGE];
    tt_rng rng = {2026};
    char path[4096], tmp[] = "/tmp/tinyq_lenet_XXXXXX";
    const int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    void *scratch = malloc(lenet_scratch_bytes());
    assert_non_null(scratch);

    for (int which = 0; which < 2; ++which) {
        model_path(path, sizeof path, which);
        assert_int_equal(lenet_load_f32(path, &m), TQ_OK);
        assert_int_equal(m.has_bias, which);
        tt_fill_f32(&rng, images, CALIB * LENET_IMAGE, -1.0f, 1.0f);
        quantize_model(&m, images, CALIB, &q);
        assert_int_equal(lenet_save_s8(tmp, &q), TQ_OK);
        memset(&back, 0x5a, sizeof back);
        assert_int_equal(lenet_load_s8(tmp, &back), TQ_OK);
        assert_int_equal(back.has_bias, which);
        for (int t = 0; t < TRIES; ++t) {
            float img[LENET_IMAGE];
            int8_t x0[LENET_IMAGE], l1[LENET_CLASSES], l2[LENET_CLASSES];
            int32_t a1[LENET_CLASSES], a2[LENET_CLASSES];
            tt_fill_f32(&rng, img, LENET_IMAGE, -1.0f, 1.0f);
            assert_int_equal(tq_s8_quantize_f32(LENET_IMAGE, img, q.a_scale[0],
                                                q.a_zero[0], x0), TQ_OK);
            assert_int_equal(lenet_forward_s8(&q, x0, l1, a1, scratch,
                                              lenet_scratch_bytes()), TQ_OK);
            assert_int_equal(lenet_forward_s8(&back, x0, l2, a2, scratch,
                                              lenet_scratch_bytes()), TQ_OK);
            assert_memory_equal(l1, l2, sizeof l1);
            assert_memory_equal(a1, a2, sizeof a1);
        }
    }
    unlink(tmp);
    free(scratch);
}

/* The test set, or skip with a message saying where it was looked for. */
static int load_test_set(float **images, uint8_t **labels)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cifar10/test_batch.bin", tt_data_dir());
    if (access(path, R_OK) != 0) {
        print_message("CIFAR-10 not found at %s: set TINYQ_DATA_DIR to the folder "
                      "holding cifar10/ to run this test\n", path);
        return 0;
    }
    assert_int_equal(lenet_load_images(path, 0, 10000, images, labels), TQ_OK);
    return 1;
}

static void test_accuracy_on_cifar10(void **state)
{
    (void)state;
    static lenet_f32 m;
    static lenet_s8 q;
    float *test = NULL, *calib = NULL;
    uint8_t *labels = NULL, *calib_labels = NULL;
    char path[4096];
    if (!load_test_set(&test, &labels)) {
        skip();
        return;
    }
    snprintf(path, sizeof path, "%s/cifar10/data_batch_1.bin", tt_data_dir());
    assert_int_equal(lenet_load_images(path, 0, 400, &calib, &calib_labels), TQ_OK);

    for (int which = 0; which < 2; ++which) {
        tq_safetensors *file = NULL;
        const char *recorded = NULL;
        lenet_eval fe, qe;
        model_path(path, sizeof path, which);
        assert_int_equal(tq_safetensors_load(path, &file), TQ_OK);
        assert_int_equal(tq_safetensors_metadata(file, "test_accuracy", &recorded), TQ_OK);
        const double trained = atof(recorded);
        tq_safetensors_free(file);

        assert_int_equal(lenet_load_f32(path, &m), TQ_OK);
        assert_int_equal(lenet_eval_f32(&m, test, labels, 10000, 2, NULL, NULL, &fe), TQ_OK);
        const double f = 100.0 * (double)fe.correct / 10000.0;
        print_message("%s: train.py recorded %.2f %%, C float %.2f %%\n",
                      model_files[which], trained, f);
        assert_true(f > trained - 0.1 && f < trained + 0.1);

        quantize_model(&m, calib, 400, &q);
        assert_int_equal(lenet_eval_s8(&q, test, labels, 10000, 2, NULL, NULL, &qe), TQ_OK);
        const double i8 = 100.0 * (double)qe.correct / 10000.0;
        print_message("%s: integer-only int8 (min/max ranges) %.2f %%\n",
                      model_files[which], i8);
        assert_true(i8 > f - 1.0);
    }
    free(test), free(labels), free(calib), free(calib_labels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantized_round_trip),
        cmocka_unit_test(test_accuracy_on_cifar10),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
