/*
 * 16x8 depthwise convolution (TFLite DEPTHWISE_CONV_2D with int16 input):
 * direct loops with exact int64 sums of w · x, padded taps skipped, then
 * the int64 or int32 output stage. Needs no scratch.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "s16_internal.h"

/* Output channels accumulated at once, on the stack (512 bytes). */
#define DW_BLOCK_CHANNELS 64

tq_status tq_s16_depthwise_conv2d(const tq_conv_params *conv,
                                  const tq_dims *in_dims, const int16_t *in,
                                  const tq_dims *filter_dims,
                                  const int8_t *filter, const void *bias,
                                  int32_t bias_dtype, const tq_s16_output *os,
                                  const tq_dims *out_dims, int16_t *out)
{
    size_t in_count, out_count, f_count;
    TQ_CHECK(tq__check_depthwise(conv, in_dims, in, filter_dims, filter,
                                 out_dims, out, TQ_S16_MAX_REDUCTION,
                                 &in_count, &f_count, &out_count));
    if (tq__mul_size(in_count, sizeof(int16_t), &in_count) ||
        tq__mul_size(out_count, sizeof(int16_t), &out_count))
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__s16_check_stage(bias_dtype, os, out_dims->c));
    const tq__span writes[1] = {{out, out_count}};
    tq__span reads[5] = {{in, in_count}, {filter, f_count}};
    tq__s16_stage_spans(os, bias, bias_dtype, out_dims->c, reads + 2);
    TQ_CHECK(tq__check_alias(writes, 1, reads, 5));

    const tq__s16_bias b = {bias, bias_dtype};
    const int32_t cin = in_dims->c, cout = out_dims->c, mult = cout / cin;
    const int32_t kh = filter_dims->h, kw = filter_dims->w;
    const size_t row_stride = (size_t)in_dims->w * (size_t)cin;
    int64_t acc[DW_BLOCK_CHANNELS];
    int16_t *dst = out;

    for (int32_t n = 0; n < out_dims->n; ++n) {
        const int16_t *img = in + (size_t)n * (size_t)in_dims->h * row_stride;
        for (int32_t oy = 0; oy < out_dims->h; ++oy) {
            const int64_t y0 = (int64_t)oy * conv->stride_h - conv->pad_top;
            for (int32_t ox = 0; ox < out_dims->w; ++ox, dst += cout) {
                const int64_t x0 =
                    (int64_t)ox * conv->stride_w - conv->pad_left;
                for (int32_t c0 = 0; c0 < cout; c0 += DW_BLOCK_CHANNELS) {
                    const int32_t cb = cout - c0 < DW_BLOCK_CHANNELS
                                           ? cout - c0
                                           : DW_BLOCK_CHANNELS;
                    for (int32_t j = 0; j < cb; ++j)
                        acc[j] = 0;
                    for (int32_t ky = 0; ky < kh; ++ky) {
                        const int64_t iy = y0 + (int64_t)ky * conv->dilation_h;
                        if (iy < 0 || iy >= in_dims->h)
                            continue;
                        for (int32_t kx = 0; kx < kw; ++kx) {
                            const int64_t ix =
                                x0 + (int64_t)kx * conv->dilation_w;
                            if (ix < 0 || ix >= in_dims->w)
                                continue;
                            const int16_t *x = img + (size_t)iy * row_stride +
                                               (size_t)ix * (size_t)cin;
                            const int8_t *w =
                                filter +
                                ((size_t)ky * (size_t)kw + (size_t)kx) *
                                    (size_t)cout +
                                (size_t)c0;
                            /* oc = ic·M + m: walk ic and m alongside oc. */
                            int32_t ic = c0 / mult, m = c0 % mult;
                            for (int32_t j = 0; j < cb; ++j) {
                                acc[j] += (int32_t)w[j] * (int32_t)x[ic];
                                if (++m == mult) {
                                    m = 0;
                                    ++ic;
                                }
                            }
                        }
                    }
                    for (int32_t j = 0; j < cb; ++j)
                        dst[c0 + j] =
                            tq__s16_output_one(os, &b, acc[j], c0 + j);
                }
            }
        }
    }
    return TQ_OK;
}
