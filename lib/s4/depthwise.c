/*
 * int8 depthwise convolution with packed int4 weights: the loops of
 * tq_s8_depthwise_conv2d() with each weight read from its nibble in place
 * (no scratch), the same int32 sums and output stage.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../s8/s8_internal.h"
#include "s4_internal.h"

/* Output channels accumulated at once, on the stack (256 bytes). */
#define DW_BLOCK_CHANNELS 64

tq_status tq_s4_depthwise_conv2d(const tq_conv_params *conv,
                                 const tq_dims *in_dims, const int8_t *in,
                                 int32_t input_offset,
                                 const tq_dims *filter_dims,
                                 const uint8_t *filter, const int32_t *bias,
                                 const tq_s8_output *os,
                                 const tq_dims *out_dims, int8_t *out)
{
    size_t in_count, out_count, f_count;
    TQ_CHECK(tq__check_depthwise(conv, in_dims, in, filter_dims, filter,
                                 out_dims, out, TQ_S8_MAX_REDUCTION,
                                 &in_count, &f_count, &out_count));
    TQ_CHECK(tq__s8_check_input_stage(input_offset, os, out_dims->c));
    const tq__span writes[1] = {{out, out_count}};
    tq__span reads[5] = {{in, in_count},
                         {filter, tq_s4_packed_size(f_count)}};
    tq__s8_stage_spans(os, bias, out_dims->c, reads + 2);
    TQ_CHECK(tq__check_alias(writes, 1, reads, 5));

    const int32_t cin = in_dims->c, cout = out_dims->c, mult = cout / cin;
    const int32_t kh = filter_dims->h, kw = filter_dims->w;
    const size_t row_stride = (size_t)in_dims->w * (size_t)cin;
    int32_t acc[DW_BLOCK_CHANNELS];
    int8_t *dst = out;

    for (int32_t n = 0; n < out_dims->n; ++n) {
        const int8_t *img = in + (size_t)n * (size_t)in_dims->h * row_stride;
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
                            const int8_t *x = img + (size_t)iy * row_stride +
                                              (size_t)ix * (size_t)cin;
                            const size_t w0 =
                                ((size_t)ky * (size_t)kw + (size_t)kx) *
                                    (size_t)cout +
                                (size_t)c0;
                            /* |w·(x + offset)| <= 8·255, at most 2^15 taps. */
                            int32_t ic = c0 / mult, m = c0 % mult;
                            for (int32_t j = 0; j < cb; ++j) {
                                acc[j] += (int32_t)tq__s4_get(filter,
                                                              w0 + (size_t)j) *
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
                        dst[oc] = tq__s8_output_one(os, tq__sat_i64_to_i32(a),
                                                    oc);
                    }
                }
            }
        }
    }
    return TQ_OK;
}
