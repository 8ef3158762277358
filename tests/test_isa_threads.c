/*
 * Kernel paths switched while kernels run: worker threads call the int8
 * convolution, the packed and unpacked int8 fully connected kernels and
 * the f32 GEMM over and over, while another thread cycles tq_set_isa()
 * through every path this machine has (and TQ_ISA_AUTO). Every path is
 * bit-exact with the portable one, so every result must equal the one
 * computed on the portable path before the threads start, whichever path
 * each call took. Built under ThreadSanitizer in CI (.ci/run), this is
 * the check that the path switch is free of data races.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinyq.h"

enum { WORKERS = 3, ROUNDS = 300, SWITCHES = 2000 };
enum { CIN = 5, COUT = 7, HW = 9, KS = 3, OHW = HW - KS + 1 };
enum { FC_IN = 45, FC_OUT = 13, BATCH = 3, GM = 17, GN = 19, GK = 23 };

/* Inputs shared read-only by every thread, and the portable results. */
static int8_t conv_in[HW * HW * CIN], conv_w[COUT * KS * KS * CIN];
static int32_t conv_bias[COUT], mult[COUT + FC_OUT], shift[COUT + FC_OUT];
static int8_t conv_ref[OHW * OHW * COUT];
static int8_t fc_in[BATCH * FC_IN], fc_w[FC_OUT * FC_IN], fc_ref[BATCH * FC_OUT];
static int32_t fc_bias[FC_OUT];
static unsigned char packed[8192];
static size_t packed_bytes, conv_scratch_bytes;
static float ga[GM * GK], gb[GN * GK], gbias[GN], g_ref[GM * GN];
static atomic_int stop, mismatches;

static const tq_conv_params conv = {1, 1, 0, 0, 0, 0, 1, 1, 1};
static const tq_dims in_dims = {1, HW, HW, CIN}, w_dims = {COUT, KS, KS, CIN},
                     out_dims = {1, OHW, OHW, COUT};

static tq_s8_output stage(int first, int per_channel)
{
    const tq_s8_output os = {mult + first, shift + first, per_channel,
                             TQ_ROUND_DOUBLE, -4, -128, 127};
    return os;
}

static tq_status run_conv(int8_t *out, void *scratch)
{
    const tq_s8_output os = stage(0, 1);
    return tq_s8_conv2d(&conv, &in_dims, conv_in, 3, &w_dims, conv_w,
                        conv_bias, &os, &out_dims, out, scratch,
                        conv_scratch_bytes);
}

static tq_status run_fc(int8_t *out)
{
    const tq_s8_output os = stage(COUT, 1);
    return tq_s8_fully_connected(BATCH, FC_IN, FC_OUT, fc_in, 11, fc_w, 0,
                                 fc_bias, &os, out);
}

static tq_status run_fc_packed(int8_t *out)
{
    const tq_s8_output os = stage(COUT, 1);
    return tq_s8_fully_connected_packed(BATCH, FC_IN, FC_OUT, fc_in, 11,
                                        packed, packed_bytes, fc_bias, &os,
                                        out);
}

static tq_status run_gemm(float *c)
{
    return tq_f32_gemm(GM, GN, GK, ga, GK, gb, GK, gbias, NULL, c, GN);
}

static void *worker(void *arg)
{
    (void)arg;
    int8_t out[OHW * OHW * COUT], fc[BATCH * FC_OUT];
    float c[GM * GN];
    void *scratch = malloc(conv_scratch_bytes ? conv_scratch_bytes : 1);
    /* At least ROUNDS rounds, and on until the switches are done. */
    for (int r = 0; scratch && (r < ROUNDS || !atomic_load(&stop)); ++r) {
        int bad = 0;
        bad |= run_conv(out, scratch) != TQ_OK ||
               memcmp(out, conv_ref, sizeof out) != 0;
        bad |= run_fc(fc) != TQ_OK || memcmp(fc, fc_ref, sizeof fc) != 0;
        bad |= run_fc_packed(fc) != TQ_OK || memcmp(fc, fc_ref, sizeof fc) != 0;
        bad |= run_gemm(c) != TQ_OK || memcmp(c, g_ref, sizeof c) != 0;
        if (bad)
            atomic_fetch_add(&mismatches, 1);
    }
    free(scratch);
    return NULL;
}

static void *switcher(void *arg)
{
    int *switches = arg;
    const uint32_t have = tq_isa_available();
    for (int i = 0; i < SWITCHES; ++i) {
        const int32_t isa = i % (TQ_ISA_ARM_DSP + 1);
        const tq_status st = tq_set_isa(isa);
        if (st == TQ_OK)
            ++*switches;
        else if (st != TQ_ERR_UNSUPPORTED || (have >> isa) & 1u)
            atomic_fetch_add(&mismatches, 1000);
        (void)tq_get_isa();
        (void)tq_kernel_path();
    }
    return NULL;
}

static void test_switch_while_running(void **state)
{
    (void)state;
    if (tt_no_processes()) {
        print_message("no threads here (TINYQ_TEST_NO_PROCESSES): skipped\n");
        skip();
    }
    tt_rng r = {0x15a7};
    tt_fill_s8(&r, conv_in, sizeof conv_in, -128, 127);
    tt_fill_s8(&r, conv_w, sizeof conv_w, -127, 127);
    tt_fill_s8(&r, fc_in, sizeof fc_in, -128, 127);
    tt_fill_s8(&r, fc_w, sizeof fc_w, -127, 127);
    for (int i = 0; i < COUT; ++i)
        conv_bias[i] = tt_int(&r, -20000, 20000);
    for (int i = 0; i < FC_OUT; ++i)
        fc_bias[i] = tt_int(&r, -20000, 20000);
    for (int i = 0; i < COUT + FC_OUT; ++i) {
        mult[i] = tt_int(&r, 1 << 30, INT32_MAX);
        shift[i] = tt_int(&r, -12, -6);
    }
    tt_fill_f32(&r, ga, GM * GK, -2.0f, 2.0f);
    tt_fill_f32(&r, gb, GN * GK, -2.0f, 2.0f);
    tt_fill_f32(&r, gbias, GN, -1.0f, 1.0f);
    assert_int_equal(tq_s8_conv2d_scratch_size(&conv, &in_dims, &w_dims,
                                               &out_dims, &conv_scratch_bytes),
                     TQ_OK);
    assert_int_equal(tq_s8_packed_weights_size(FC_OUT, FC_IN, &packed_bytes),
                     TQ_OK);
    assert_true(packed_bytes <= sizeof packed);
    assert_int_equal(tq_s8_pack_weights(FC_OUT, FC_IN, fc_w, FC_IN, packed,
                                        packed_bytes), TQ_OK);

    /* The references, on the portable path. */
    assert_int_equal(tq_set_isa(TQ_ISA_PORTABLE), TQ_OK);
    void *scratch = malloc(conv_scratch_bytes ? conv_scratch_bytes : 1);
    assert_non_null(scratch);
    assert_int_equal(run_conv(conv_ref, scratch), TQ_OK);
    free(scratch);
    assert_int_equal(run_fc(fc_ref), TQ_OK);
    assert_int_equal(run_gemm(g_ref), TQ_OK);

    pthread_t w[WORKERS], s;
    int switches = 0;
    for (int i = 0; i < WORKERS; ++i)
        assert_int_equal(pthread_create(&w[i], NULL, worker, NULL), 0);
    assert_int_equal(pthread_create(&s, NULL, switcher, &switches), 0);
    assert_int_equal(pthread_join(s, NULL), 0);
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; ++i)
        assert_int_equal(pthread_join(w[i], NULL), 0);
    print_message("%d path switches (paths available: 0x%x), %d bad results\n",
                  switches, (unsigned)tq_isa_available(),
                  atomic_load(&mismatches));
    assert_int_equal(atomic_load(&mismatches), 0);
    assert_true(switches > 0);
    assert_int_equal(tq_set_isa(TQ_ISA_AUTO), TQ_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switch_while_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
