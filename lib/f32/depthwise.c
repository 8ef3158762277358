/*
 * f32 depthwise convolution, NHWC, filter [1][KH][KW][Cout] with channel
 * multiplier M = Cout / Cin (output channel ic·M + m reads input channel
 * ic). Direct loops, no scratch: each output pixel's Cout sums are
 * accumulated in place in the output, tap by tap, so the innermost loop runs
 * over contiguous channels of both the input and the filter.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "f32_internal.h"

/* out[oc] += x[oc / M] · w[oc] over one tap of one output pixel. */
static void accumulate_tap(const float *x, const float *w, int32_t in_c,
                           int32_t mult, float *out)
{
    if (mult == 1) {
        for (int32_t c = 0; c < in_c; ++c)
            out[c] += x[c] * w[c];
        return;
    }
    for (int32_t ic = 0; ic < in_c; ++ic) {
        const float xv = x[ic];
        const float *wc = w + (size_t)ic * mult;
        float *oc = out + (size_t)ic * mult;
        for (int32_t m = 0; m < mult; ++m)
            oc[m] += xv * wc[m];
    }
}

tq_status tq_f32_depthwise_conv2d(const tq_conv_params *conv,
                                  const tq_dims *in_dims, const float *in,
                                  const tq_dims *filter_dims,
                                  const float *filter, const float *bias,
                                  const tq_f32_act *act,
                                  const tq_dims *out_dims, float *out)
{
    size_t in_count, filter_count, out_count;
    /* No tap limit: the f32 sums cannot overflow an integer. */
    TQ_CHECK(tq__check_depthwise(conv, in_dims, in, filter_dims, filter,
                                 out_dims, out, 0, &in_count,
                                 &filter_count, &out_count));
    if (in_count > SIZE_MAX / sizeof(float) ||
        filter_count > SIZE_MAX / sizeof(float) ||
        out_count > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__check_f32_act(act));
    const size_t out_bytes = out_count * sizeof(float);
    if (tq__overlap(out, out_bytes, in, in_count * sizeof(float)) ||
        tq__overlap(out, out_bytes, filter, filter_count * sizeof(float)) ||
        (bias && tq__overlap(out, out_bytes, bias,
                             (size_t)out_dims->c * sizeof(float))))
        return TQ_ERR_ALIAS;

    const int32_t in_h = in_dims->h, in_w = in_dims->w, in_c = in_dims->c;
    const int32_t out_c = out_dims->c, mult = out_c / in_c;
    const int32_t kh = filter_dims->h, kw = filter_dims->w;
    const size_t row_floats = (size_t)out_dims->w * (size_t)out_c;
    for (int32_t n = 0; n < out_dims->n; ++n) {
        const float *image = in + (size_t)n * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_dims->h; ++oy) {
            float *orow = out + ((size_t)n * out_dims->h + (size_t)oy) *
                                    row_floats;
            memset(orow, 0, row_floats * sizeof(float));
            /* int64: stride · o and the pads may each approach INT32_MAX. */
            const int64_t iy0 = (int64_t)oy * conv->stride_h - conv->pad_top;
            for (int32_t ox = 0; ox < out_dims->w; ++ox) {
                float *o = orow + (size_t)ox * out_c;
                const int64_t ix0 =
                    (int64_t)ox * conv->stride_w - conv->pad_left;
                for (int32_t ky = 0; ky < kh; ++ky) {
                    const int64_t iy = iy0 + (int64_t)ky * conv->dilation_h;
                    if (iy < 0 || iy >= in_h)
                        continue;
                    for (int32_t kx = 0; kx < kw; ++kx) {
                        const int64_t ix =
                            ix0 + (int64_t)kx * conv->dilation_w;
                        if (ix < 0 || ix >= in_w)
                            continue;
                        accumulate_tap(
                            image + ((size_t)iy * in_w + (size_t)ix) * in_c,
                            filter + ((size_t)ky * kw + (size_t)kx) * out_c,
                            in_c, mult, o);
                    }
                }
            }
            tq__f32_bias_act_rows(out_dims->w, out_c, bias, act, orow,
                                  (size_t)out_c);
        }
    }
    return TQ_OK;
}
