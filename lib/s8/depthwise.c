/*
 * int8 depthwise convolution (TFLite DEPTHWISE_CONV_2D): direct loops with
 * int32 accumulation of w · (x + input_offset), padded taps skipped, then
 * the per-channel output stage. Needs no scratch.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"
#include "s8_internal.h"

/* Output channels accumulated at once, on the stack (256 bytes). */
#define DW_BLOCK_CHANNELS 64

static tq_status check_depthwise(const tq_conv_params *conv,
                                 const tq_dims *in, const int8_t *in_data,
                                 int32_t input_offset, const tq_dims *filter,
                                 const int8_t *filter_data,
                                 const int32_t *bias, const tq_s8_output *os,
                                 const tq_dims *out, const int8_t *out_data)
{
    size_t in_count, out_count, count;
    TQ_CHECK(tq__check_depthwise(conv, in, in_data, filter, filter_data, out,
                                 out_data, TQ_S8_MAX_REDUCTION, &in_count,
                                 &count, &out_count));
    TQ_CHECK(tq__s8_check_input_stage(input_offset, os, out->c));
    const tq__span writes[1] = {{out_data, out_count}};
    tq__span reads[5] = {{in_data, in_count}, {filter_data, count}};
    tq__s8_stage_spans(os, bias, out->c, reads + 2);
    return tq__check_alias(writes, 1, reads, 5);
}

tq_status tq_s8_depthwise_conv2d(const tq_conv_params *conv,
                                 const tq_dims *in_dims, const int8_t *in,
                                 int32_t input_offset,
                                 const tq_dims *filter_dims,
                                 const int8_t *filter, const int32_t *bias,
                                 const tq_s8_output *os,
                                 const tq_dims *out_dims, int8_t *out)
{
    TQ_CHECK(check_depthwise(conv, in_dims, in, input_offset, filter_dims,
                             filter, bias, os, out_dims, out));
    const int32_t cin = in_dims->c, cout = out_dims->c, mult = cout / cin;
    const int32_t kh = filter_dims->h, kw = filter_dims->w;
    const tq__ukernels *uk = tq__get_ukernels();
    if (uk->s8_depthwise && mult == 1 && kh * kw <= TQ__DW_MAX_TAPS) {
        uk->s8_depthwise(conv, in_dims, in, input_offset, filter_dims, filter,
                         bias, os, out_dims, out);
        return TQ_OK;
    }
    const size_t row_stride = (size_t)in_dims->w * (size_t)cin;
    int32_t acc[DW_BLOCK_CHANNELS];

    for (int32_t n = 0; n < out_dims->n; ++n) {
        const int8_t *img = in + (size_t)n * (size_t)in_dims->h * row_stride;
        for (int32_t oy = 0; oy < out_dims->h; ++oy) {
            const int64_t y0 = (int64_t)oy * conv->stride_h - conv->pad_top;
            for (int32_t ox = 0; ox < out_dims->w; ++ox) {
                const int64_t x0 =
                    (int64_t)ox * conv->stride_w - conv->pad_left;
                int8_t *dst = out + (((size_t)n * (size_t)out_dims->h +
                                      (size_t)oy) * (size_t)out_dims->w +
                                     (size_t)ox) * (size_t)cout;
                for (int32_t c0 = 0; c0 < cout; c0 += DW_BLOCK_CHANNELS) {
                    const int32_t cb = cout - c0 < DW_BLOCK_CHANNELS
                                           ? cout - c0
                                           : DW_BLOCK_CHANNELS;
                    for (int32_t j = 0; j < cb; ++j)
                        acc[j] = 0;
                    for (int32_t ky = 0; ky < kh; ++ky) {
                        const int64_t iy =
                            y0 + (int64_t)ky * conv->dilation_h;
                        if (iy < 0 || iy >= in_dims->h)
                            continue;
                        for (int32_t kx = 0; kx < kw; ++kx) {
                            const int64_t ix =
                                x0 + (int64_t)kx * conv->dilation_w;
                            if (ix < 0 || ix >= in_dims->w)
                                continue;
                            const int8_t *x = img + (size_t)iy * row_stride +
                                              (size_t)ix * (size_t)cin;
                            const int8_t *w =
                                filter + ((size_t)ky * (size_t)kw +
                                          (size_t)kx) * (size_t)cout +
                                (size_t)c0;
                            /* oc = ic·M + m: walk ic and m alongside oc.
                             * |w·(x + offset)| <= 128·255 and at most 2^15
                             * taps: the int32 sum cannot overflow. */
                            int32_t ic = c0 / mult, m = c0 % mult;
                            for (int32_t j = 0; j < cb; ++j) {
                                acc[j] += (int32_t)w[j] *
                                          ((int32_t)x[ic] + input_offset);
                                if (++m == mult) {
                                    m = 0;
                                    ++ic;
                                }
                            }
                        }
                    }
                    for (int32_t j = 0; j < cb; ++j) {
                        const int32_t oc = c0 + j;
                        const int64_t a =
                            (int64_t)acc[j] + (bias ? bias[oc] : 0);
                        dst[oc] = tq__s8_output_one(
                            os, tq__sat_i64_to_i32(a), oc);
                    }
                }
            }
        }
    }
    return TQ_OK;
}
