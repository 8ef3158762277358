/*
 * int8 transpose convolution (TFLite TRANSPOSE_CONV, per-channel weights),
 * scatter form: every input pixel adds its products into an int32
 * accumulator image in the caller's scratch; then bias and output stage.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "s8_internal.h"

tq_status tq_s8_transpose_conv_scratch_size(const tq_dims *out_dims,
                                            size_t *bytes)
{
    size_t px, b;
    if (!out_dims || !bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_dims(out_dims));
    if (tq__mul_size((size_t)out_dims->h, (size_t)out_dims->w, &px) ||
        tq__mul_size(px, (size_t)out_dims->c, &px) ||
        tq__mul_size(px, sizeof(int32_t), &b) ||
        tq__add_size(b, TQ__S8_ALIGN_SLACK, &b))
        return TQ_ERR_OVERFLOW;
    *bytes = b;
    return TQ_OK;
}

tq_status tq_s8_transpose_conv(const tq_conv_params *conv,
                               const tq_dims *in_dims, const int8_t *in,
                               int32_t input_offset,
                               const tq_dims *filter_dims,
                               const int8_t *filter, const int32_t *bias,
                               const tq_s8_output *os, const tq_dims *out_dims,
                               int8_t *out, void *scratch,
                               size_t scratch_bytes)
{
    size_t n_in, n_f, n_out, need;
    if (!conv || !in_dims || !in || !filter_dims || !filter || !os ||
        !out_dims || !out || !scratch)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__dims_count(in_dims, &n_in));
    TQ_CHECK(tq__dims_count(filter_dims, &n_f));
    TQ_CHECK(tq__dims_count(out_dims, &n_out));
    if (conv->stride_h < 1 || conv->stride_w < 1 || conv->pad_top < 0 ||
        conv->pad_left < 0 || conv->dilation_h != 1 || conv->dilation_w != 1 ||
        conv->groups != 1)
        return TQ_ERR_PARAM;
    if (in_dims->n != out_dims->n || filter_dims->c != in_dims->c ||
        filter_dims->n != out_dims->c)
        return TQ_ERR_SHAPE;
    if ((int64_t)filter_dims->h * filter_dims->w * filter_dims->c >
        TQ_S8_MAX_REDUCTION)
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__s8_check_input_stage(input_offset, os, out_dims->c));
    TQ_CHECK(tq_s8_transpose_conv_scratch_size(out_dims, &need));
    if (scratch_bytes < need)
        return TQ_ERR_BUFFER_TOO_SMALL;
    const tq__span writes[2] = {{out, n_out}, {scratch, need}};
    tq__span reads[5] = {{in, n_in}, {filter, n_f}};
    tq__s8_stage_spans(os, bias, out_dims->c, reads + 2);
    TQ_CHECK(tq__check_alias(writes, 2, reads, 5));

    int32_t *acc = tq__s8_align_i32(scratch);
    const int32_t ih = in_dims->h, iw = in_dims->w, cin = in_dims->c;
    const int32_t kh = filter_dims->h, kw = filter_dims->w;
    const int32_t oh = out_dims->h, ow = out_dims->w, cout = out_dims->c;
    const size_t image = (size_t)oh * (size_t)ow * (size_t)cout;
    for (int32_t b = 0; b < in_dims->n; ++b) {
        memset(acc, 0, image * sizeof(int32_t));
        for (int32_t iy = 0; iy < ih; ++iy)
            for (int32_t ix = 0; ix < iw; ++ix) {
                const int8_t *x =
                    in + (((size_t)b * (size_t)ih + (size_t)iy) * (size_t)iw +
                          (size_t)ix) * (size_t)cin;
                for (int32_t ky = 0; ky < kh; ++ky) {
                    const int64_t oy =
                        (int64_t)iy * conv->stride_h - conv->pad_top + ky;
                    if (oy < 0 || oy >= oh)
                        continue;
                    for (int32_t kx = 0; kx < kw; ++kx) {
                        const int64_t ox =
                            (int64_t)ix * conv->stride_w - conv->pad_left + kx;
                        if (ox < 0 || ox >= ow)
                            continue;
                        int32_t *a = acc + ((size_t)oy * (size_t)ow +
                                            (size_t)ox) * (size_t)cout;
                        for (int32_t oc = 0; oc < cout; ++oc) {
                            const int8_t *w =
                                filter + (((size_t)oc * (size_t)kh +
                                           (size_t)ky) * (size_t)kw +
                                          (size_t)kx) * (size_t)cin;
                            /* Each output sums at most KH·KW·Cin <= 2^15
                             * products of magnitude < 2^15: no overflow. */
                            int32_t s = 0;
                            for (int32_t ic = 0; ic < cin; ++ic)
                                s += ((int32_t)x[ic] + input_offset) * w[ic];
                            a[oc] += s;
                        }
                    }
                }
            }
        int8_t *dst = out + (size_t)b * image;
        for (size_t p = 0; p < image; p += (size_t)cout)
            for (int32_t oc = 0; oc < cout; ++oc) {
                int64_t v = acc[p + (size_t)oc];
                if (bias)
                    v += bias[oc];
                dst[p + (size_t)oc] =
                    tq__s8_output_one(os, tq__sat_i64_to_i32(v), oc);
            }
    }
    return TQ_OK;
}
