/*
 * tinyq quick start: quantize a float convolution and run it in int8.
 *
 * 1. choose ranges and int8 parameters for the input (asymmetric, per
 *    tensor) and the weights (symmetric, per output channel);
 * 2. quantize both;
 * 3. derive each channel's fixed-point multiplier M = s_in·s_w / s_out;
 * 4. run the int8 conv and compare it with the float conv.
 *
 * Build against an installed tinyq:
 *   cc -std=c11 quickstart.c $(pkg-config --cflags --libs tinyq) -lm
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <stdio.h>

#include <tinyq.h>

enum { H = 8, W = 8, CIN = 3, COUT = 4, K = 3, OH = H - K + 1, OW = W - K + 1 };

#define CHECK(call)                                                        \
    do {                                                                   \
        tq_status st_ = (call);                                            \
        if (st_ != TQ_OK) {                                                \
            fprintf(stderr, "%s: %s\n", #call, tq_status_message(st_));    \
            return 1;                                                      \
        }                                                                  \
    } while (0)

/* Asymmetric int8 parameters covering [min, max] of n floats. */
static tq_status activation_params(const float *x, size_t n, float *scale,
                                   int32_t *zero_point)
{
    const tq_qscheme scheme = {8, 0, 0, 0}; /* int8, asymmetric */
    const tq_range_config minmax = {TQ_RANGE_MINMAX, 0, 0.0, 0.0};
    tq_stats st;
    double lo, hi;
    tq_status s;
    if ((s = tq_stats_init(&st)) != TQ_OK ||
        (s = tq_stats_update_f32(&st, x, n)) != TQ_OK ||
        (s = tq_choose_range(&minmax, &scheme, &st, NULL, &lo, &hi)) != TQ_OK)
        return s;
    return tq_qparams_from_range(&scheme, lo, hi, scale, zero_point);
}

int main(void)
{
    static float in[H * W * CIN], wt[COUT * K * K * CIN], ref[OH * OW * COUT];
    static int8_t in_q[H * W * CIN], wt_q[COUT * K * K * CIN], out_q[OH * OW * COUT];
    static float out_dq[OH * OW * COUT];
    /* Designated initialisers: tinyq lists height before width (CMSIS-NN's
     * cmsis_nn_tile is {w, h}), so never fill these structs by position. */
    const tq_dims in_dims = {.n = 1, .h = H, .w = W, .c = CIN},
                  w_dims = {.n = COUT, .h = K, .w = K, .c = CIN},
                  out_dims = {.n = 1, .h = OH, .w = OW, .c = COUT};
    const tq_conv_params conv = {
        .stride_h = 1, .stride_w = 1, .pad_top = 0, .pad_bottom = 0, .pad_left = 0,
        .pad_right = 0, .dilation_h = 1, .dilation_w = 1, .groups = 1};

    /* A smooth input and weights of different magnitude per channel. */
    for (int i = 0; i < H * W * CIN; ++i)
        in[i] = sinf(0.37f * (float)i);
    for (int i = 0; i < COUT * K * K * CIN; ++i)
        wt[i] = (float)(1 + i / (K * K * CIN)) * 0.1f * cosf(0.91f * (float)i);

    /* The float reference; ask first how much scratch the kernel needs. */
    size_t scratch_bytes = 0;
    CHECK(tq_f32_conv2d_scratch_size(&conv, &in_dims, &w_dims, &out_dims,
                                     &scratch_bytes));
    static unsigned char scratch[1 << 16];
    if (scratch_bytes > sizeof scratch)
        return 1;
    CHECK(tq_f32_conv2d(&conv, &in_dims, in, &w_dims, wt, NULL, NULL,
                        &out_dims, ref, scratch, sizeof scratch));

    /* 1-2. Input: asymmetric per tensor. Output: from the reference range
     * (a real calibration would use many inputs). */
    float s_in, s_out;
    int32_t zp_in, zp_out;
    CHECK(activation_params(in, H * W * CIN, &s_in, &zp_in));
    CHECK(activation_params(ref, OH * OW * COUT, &s_out, &zp_out));
    const tq_qparams in_p = {&s_in, &zp_in, 1, 0, -128, 127, TQ_FROUND_HALF_AWAY};
    tq_tensor t_in, t_in_q;
    const int64_t in_shape[4] = {1, H, W, CIN};
    CHECK(tq_tensor_init(&t_in, in, TQ_F32, 4, in_shape));
    CHECK(tq_tensor_init(&t_in_q, in_q, TQ_S8, 4, in_shape));
    CHECK(tq_quantize(&t_in, &in_p, &t_in_q));

    /* Weights: symmetric, narrow range [-127, 127], one scale per channel. */
    const tq_qscheme wscheme = {8, 1, 1, 0};
    const tq_range_config absmax = {TQ_RANGE_ABSMAX, 0, 0.0, 0.0};
    float s_w[COUT];
    int32_t zp_w[COUT];
    tq_stats wst[COUT];
    const int64_t w_shape[4] = {COUT, K, K, CIN};
    tq_tensor t_w, t_w_q;
    CHECK(tq_tensor_init(&t_w, wt, TQ_F32, 4, w_shape));
    CHECK(tq_tensor_init(&t_w_q, wt_q, TQ_S8, 4, w_shape));
    for (int c = 0; c < COUT; ++c)
        CHECK(tq_stats_init(&wst[c]));
    CHECK(tq_stats_update_axis_f32(wst, COUT, &t_w, 0));
    for (int c = 0; c < COUT; ++c) {
        double lo, hi;
        CHECK(tq_choose_range(&absmax, &wscheme, &wst[c], NULL, &lo, &hi));
        CHECK(tq_qparams_from_range(&wscheme, lo, hi, &s_w[c], &zp_w[c]));
    }
    const tq_qparams w_p = {s_w, zp_w, COUT, 0, -127, 127, TQ_FROUND_HALF_AWAY};
    CHECK(tq_quantize(&t_w, &w_p, &t_w_q));

    /* 3. One fixed-point multiplier per output channel. */
    int32_t mult[COUT], shift[COUT];
    for (int c = 0; c < COUT; ++c)
        CHECK(tq_quantize_multiplier((double)s_in * s_w[c] / s_out, &mult[c],
                                     &shift[c]));
    const tq_s8_output os = {mult, shift, 1, TQ_ROUND_DOUBLE, zp_out, -128, 127};

    /* 4. The int8 convolution, then back to float to compare. */
    CHECK(tq_s8_conv2d_scratch_size(&conv, &in_dims, &w_dims, &out_dims,
                                    &scratch_bytes));
    if (scratch_bytes > sizeof scratch)
        return 1;
    CHECK(tq_s8_conv2d(&conv, &in_dims, in_q, -zp_in, &w_dims, wt_q, NULL, &os,
                       &out_dims, out_q, scratch, sizeof scratch));
    CHECK(tq_s8_dequantize_f32(OH * OW * COUT, out_q, s_out, zp_out, out_dq));

    tq_quant_error err;
    CHECK(tq_compare_f32(ref, out_dq, OH * OW * COUT, &err));
    printf("tinyq %s, kernels: %s\n", tq_version_string(), tq_kernel_path());
    printf("int8 conv vs float: SQNR %.1f dB, max abs error %.4f (output step %.4f)\n",
           err.sqnr_db, err.max_abs, (double)s_out);
    return err.sqnr_db > 30.0 ? 0 : 1;
}
