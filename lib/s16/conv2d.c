/*
 * 16x8 2-D convolution (TFLite CONV_2D with int16 input, int8 weights):
 * per output pixel and group, the receptive field is gathered into the
 * caller's scratch (padded taps are 0: int16 activations are symmetric),
 * then one exact inner product per output channel through the dispatched
 * s16_dot (tq__s16_conv_dot_entry(): a path may first reorder the field
 * once per pixel for its dot), then the int64 or int32 output stage.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "../arch/dispatch.h"
#include "s16_internal.h"

/* Shapes of a 16x8 convolution; gives the reduction length K. */
static tq_status conv_shape(const tq_conv_params *conv, const tq_dims *in,
                            const tq_dims *filter, const tq_dims *out,
                            int32_t *k)
{
    size_t count;
    if (!conv || !in || !filter || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_dims(filter));
    if (conv->groups < 1)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq__check_conv_geometry(conv, in, filter->h, filter->w, out));
    TQ_CHECK(tq__check_conv_groups(conv->groups, in, filter, out));
    const int64_t k64 = (int64_t)filter->h * filter->w * filter->c;
    if (k64 > TQ_S16_MAX_REDUCTION)
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__dims_count(in, &count));
    TQ_CHECK(tq__dims_count(filter, &count));
    TQ_CHECK(tq__dims_count(out, &count));
    *k = (int32_t)k64;
    return TQ_OK;
}

/* One int16 receptive field and the alignment slack. */
static size_t scratch_need(int32_t k)
{
    return (size_t)k * sizeof(int16_t) + (sizeof(int16_t) - 1);
}

tq_status tq_s16_conv2d_scratch_size(const tq_conv_params *conv,
                                     const tq_dims *in_dims,
                                     const tq_dims *filter_dims,
                                     const tq_dims *out_dims, size_t *bytes)
{
    int32_t k;
    if (!bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(conv_shape(conv, in_dims, filter_dims, out_dims, &k));
    *bytes = scratch_need(k);
    return TQ_OK;
}

/* The receptive field of output pixel (n, oy, ox), input channels
 * [c0, c0 + cin_g), in OHWI order; padded taps are 0. */
static void gather(const tq_conv_params *conv, const tq_dims *in_dims,
                   const int16_t *in, int32_t kh, int32_t kw, int32_t c0,
                   int32_t cin_g, int32_t n, int32_t oy, int32_t ox,
                   int16_t *dst)
{
    const int64_t y0 = (int64_t)oy * conv->stride_h - conv->pad_top;
    const int64_t x0 = (int64_t)ox * conv->stride_w - conv->pad_left;
    const size_t row_stride = (size_t)in_dims->w * (size_t)in_dims->c;
    const int16_t *img = in + (size_t)n * (size_t)in_dims->h * row_stride;
    for (int32_t ky = 0; ky < kh; ++ky) {
        const int64_t iy = y0 + (int64_t)ky * conv->dilation_h;
        for (int32_t kx = 0; kx < kw; ++kx, dst += cin_g) {
            const int64_t ix = x0 + (int64_t)kx * conv->dilation_w;
            if (iy < 0 || iy >= in_dims->h || ix < 0 || ix >= in_dims->w) {
                memset(dst, 0, (size_t)cin_g * sizeof(int16_t));
            } else {
                memcpy(dst,
                       img + (size_t)iy * row_stride +
                           (size_t)ix * (size_t)in_dims->c + (size_t)c0,
                       (size_t)cin_g * sizeof(int16_t));
            }
        }
    }
}

tq_status tq_s16_conv2d(const tq_conv_params *conv, const tq_dims *in_dims,
                        const int16_t *in, const tq_dims *filter_dims,
                        const int8_t *filter, const void *bias,
                        int32_t bias_dtype, const tq_s16_output *os,
                        const tq_dims *out_dims, int16_t *out, void *scratch,
                        size_t scratch_bytes)
{
    int32_t k;
    size_t in_count, out_count, f_count;
    if (!in || !filter || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(conv_shape(conv, in_dims, filter_dims, out_dims, &k));
    TQ_CHECK(tq__s16_check_stage(bias_dtype, os, filter_dims->n));
    const size_t need = scratch_need(k);
    if (!scratch)
        return TQ_ERR_NULL;
    if (scratch_bytes < need)
        return TQ_ERR_BUFFER_TOO_SMALL;
    TQ_CHECK(tq__dims_count(in_dims, &in_count));
    TQ_CHECK(tq__dims_count(out_dims, &out_count));
    TQ_CHECK(tq__dims_count(filter_dims, &f_count));
    /* Both counts were checked against size_t as elements of 1 byte; the
     * int16 byte counts may still overflow on a 32-bit size_t. */
    if (tq__mul_size(in_count, sizeof(int16_t), &in_count) ||
        tq__mul_size(out_count, sizeof(int16_t), &out_count))
        return TQ_ERR_OVERFLOW;
    /* Nothing written (output, scratch) may overlap anything else of the
     * call, bias and output stage arrays included. */
    const tq__span writes[2] = {{out, out_count}, {scratch, need}};
    tq__span reads[5] = {{in, in_count}, {filter, f_count}};
    tq__s16_stage_spans(os, bias, bias_dtype, filter_dims->n, reads + 2);
    TQ_CHECK(tq__check_alias(writes, 2, reads, 5));

    tq__s16_col_prep_fn prep;
    const tq__s16_dot_fn dot =
        tq__s16_conv_dot_entry(tq__get_ukernels(), &prep);
    const tq__s16_bias b = {bias, bias_dtype};
    const uintptr_t u = (uintptr_t)scratch;
    int16_t *col = (int16_t *)(void *)((unsigned char *)scratch + (u & 1u));
    const int32_t cout = filter_dims->n, cin_g = filter_dims->c;
    const int32_t cout_g = cout / conv->groups;
    int16_t *dst = out;
    for (int32_t n = 0; n < out_dims->n; ++n)
        for (int32_t oy = 0; oy < out_dims->h; ++oy)
            for (int32_t ox = 0; ox < out_dims->w; ++ox, dst += cout)
                for (int32_t g = 0; g < conv->groups; ++g) {
                    gather(conv, in_dims, in, filter_dims->h, filter_dims->w,
                           g * cin_g, cin_g, n, oy, ox, col);
                    if (prep)
                        prep(col, k);
                    for (int32_t j = 0; j < cout_g; ++j) {
                        const int32_t oc = g * cout_g + j;
                        const int64_t sum =
                            dot(col, filter + (size_t)oc * (size_t)k, k);
                        dst[oc] = tq__s16_output_one(os, &b, sum, oc);
                    }
                }
    return TQ_OK;
}
