/*
 * Internal helpers shared by the f32 kernels: the bias + clamp epilogue,
 * the GEMM-with-epilogue every matrix kernel goes through, the max rule of
 * the pools, and the conv validation / im2col shared by conv2d and the
 * fused conv + ReLU + max pool. Keeping one copy of each is what makes the
 * fused kernel bit-identical to conv2d followed by max pool.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_F32_INTERNAL_H
#define TQ_F32_INTERNAL_H

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "../tq_internal.h"

/* The max used by every f32 max pool: a later tap replaces the running
 * maximum only when strictly greater, so ties (and +0 / -0) keep the first
 * tap and a NaN tap never replaces a number. The fused kernel must visit the
 * taps in the same row-major order to stay bit-identical. */
static inline float tq__f32_max_keep(float running, float tap)
{
    return tap > running ? tap : running;
}

/* Round a scratch pointer up to float alignment. Callers reserve
 * TQ__F32_ALIGN_SLACK extra bytes in their scratch queries for this. */
#define TQ__F32_ALIGN_SLACK (alignof(float) - 1)
static inline float *tq__f32_align(void *scratch)
{
    const size_t mis = (size_t)((uintptr_t)scratch % alignof(float));
    return (float *)(void *)((unsigned char *)scratch +
                             (mis ? alignof(float) - mis : 0));
}

/* c[i][j] = clamp(c[i][j] + bias[j]) for i < rows, j < n. bias NULL adds
 * nothing (so -0.0 stays -0.0); act NULL clamps nothing. The clamp keeps a
 * NaN as it is. */
void tq__f32_bias_act_rows(int32_t rows, int32_t n, const float *bias,
                           const tq_f32_act *act, float *c, size_t ldc);

/* C = act(A·Bᵀ + bias) through the dispatch microkernel; inputs already
 * validated. m, n, k >= 0: m or n == 0 writes nothing, k == 0 writes the
 * clamped bias (or 0). */
void tq__f32_gemm_bias_act(int32_t m, int32_t n, int32_t k, const float *a,
                           size_t lda, const float *b, size_t ldb,
                           const float *bias, const tq_f32_act *act, float *c,
                           size_t ldc);

/* A validated convolution, in the terms the im2col and GEMM need. */
typedef struct tq__f32_conv_plan {
    const tq_conv_params *conv;
    int32_t batch, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c; /* of the convolution itself */
    int32_t kh, kw;
    int32_t groups, group_in_c, group_out_c;
    int32_t kdim;        /* kh * kw * group_in_c: an im2col row, a filter row */
    int32_t pointwise;   /* 1x1, stride 1, no padding, one group: no im2col */
    size_t in_count;     /* floats of the input */
    size_t filter_count; /* floats of the filter */
    size_t pixels;       /* batch * out_h * out_w */
} tq__f32_conv_plan;

/* Validate the shapes conv2d and the fused conv share: geometry against the
 * convolution's output extents conv_out (stated by the caller of conv2d,
 * derived by the fused kernel), groups, filter shape, and size_t / int32
 * overflow of every count. Fills plan on success. */
tq_status tq__f32_conv_plan_init(const tq_conv_params *conv,
                                 const tq_dims *in_dims,
                                 const tq_dims *filter_dims,
                                 const tq_dims *conv_out,
                                 tq__f32_conv_plan *plan);

/* Validate the buffers of a planned convolution: the clamp, that the
 * out_count output floats overlap neither the input, the filter, the bias
 * nor the scratch (whose first scratch_need bytes are used), and the
 * scratch itself. Data pointers must already be known non-NULL. */
tq_status tq__f32_conv_check_buffers(const tq__f32_conv_plan *plan,
                                     const float *in, const float *filter,
                                     const float *bias, const tq_f32_act *act,
                                     const float *out, size_t out_count,
                                     const void *scratch, size_t scratch_bytes,
                                     size_t scratch_need);

/* One im2col row: the kdim input taps of output pixel (n, oy, ox) for the
 * input channels [group * group_in_c, (group + 1) * group_in_c), in OHWI
 * order [ky][kx][ci]. Padded taps are 0. */
void tq__f32_im2col_pixel(const tq__f32_conv_plan *p, const float *in,
                          int32_t n, int32_t oy, int32_t ox, int32_t group,
                          float *row);

#endif /* TQ_F32_INTERNAL_H */
