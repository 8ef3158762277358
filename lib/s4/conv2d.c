/*
 * int8 convolution with packed int4 weights, two ways to the same exact
 * accumulators as tq_s8_conv2d() on the unpacked filter:
 * - fast (scratch >= tq_s4_conv2d_fast_scratch_size()): the whole filter
 *   is unpacked into the front of the scratch once and the rest of the
 *   scratch serves tq_s8_conv2d(), so the result is the s8 kernel's by
 *   construction, on every kernel path;
 * - bounded (less scratch, down to tq_s4_conv2d_scratch_size()): per
 *   output pixel and group, the im2col column plus the input offset goes
 *   to the scratch as int16 once (2·K + 1 bytes), and each output channel
 *   is one dispatched s4_dot over its packed filter row (the fully
 *   connected kernel's inner product), which unpacks the nibbles in
 *   registers: the filter is never copied.
 * Either way acc = Σ w·(x + offset) exactly (padded taps count 0), + bias
 * in int64, saturated to int32, then the s8 output stage.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"
#include "../s8/s8_internal.h"
#include "s4_internal.h"

/* Validated shapes: the reduction length K, the filter's element count,
 * the fast path's scratch (filter + s8 scratch) and the bounded path's
 * (an int16 column of K values, 1 byte for its alignment). */
static tq_status conv_sizes(const tq_conv_params *conv, const tq_dims *in_dims,
                            const tq_dims *filter_dims,
                            const tq_dims *out_dims, int32_t *k,
                            size_t *filter_count, size_t *fast,
                            size_t *bounded)
{
    size_t s8_bytes;
    TQ_CHECK(tq__s8_conv_shape(conv, in_dims, filter_dims, out_dims, k));
    TQ_CHECK(tq_s8_conv2d_scratch_size(conv, in_dims, filter_dims, out_dims,
                                       &s8_bytes));
    TQ_CHECK(tq__dims_count(filter_dims, filter_count));
    if (tq__add_size(*filter_count, s8_bytes, fast))
        return TQ_ERR_OVERFLOW;
    /* K <= TQ_S8_MAX_REDUCTION: no overflow. */
    *bounded = 2 * (size_t)*k + 1;
    return TQ_OK;
}

tq_status tq_s4_conv2d_scratch_size(const tq_conv_params *conv,
                                    const tq_dims *in_dims,
                                    const tq_dims *filter_dims,
                                    const tq_dims *out_dims, size_t *bytes)
{
    int32_t k;
    size_t f, fast, bounded;
    if (!bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(conv_sizes(conv, in_dims, filter_dims, out_dims, &k, &f, &fast,
                        &bounded));
    *bytes = bounded < fast ? bounded : fast;
    return TQ_OK;
}

tq_status tq_s4_conv2d_fast_scratch_size(const tq_conv_params *conv,
                                         const tq_dims *in_dims,
                                         const tq_dims *filter_dims,
                                         const tq_dims *out_dims,
                                         size_t *bytes)
{
    int32_t k;
    size_t f, fast, bounded;
    if (!bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(conv_sizes(conv, in_dims, filter_dims, out_dims, &k, &f, &fast,
                        &bounded));
    *bytes = fast;
    return TQ_OK;
}

/* The int16 column of output pixel (n, oy, ox), group channels
 * [c0, c0 + cin_g), in the filter's [ky][kx][c] order: input + offset,
 * 0 for a padded tap (the input zero point plus the offset). */
static void column16(const tq_conv_params *conv, const tq_dims *in_dims,
                     const int8_t *in, int32_t input_offset, int32_t kh,
                     int32_t kw, int32_t c0, int32_t cin_g, int32_t n,
                     int32_t oy, int32_t ox, int16_t *dst)
{
    /* int64 coordinates: oy·stride + ky·dilation can exceed int32. */
    const int64_t y0 = (int64_t)oy * conv->stride_h - conv->pad_top;
    const int64_t x0 = (int64_t)ox * conv->stride_w - conv->pad_left;
    const size_t row_stride = (size_t)in_dims->w * (size_t)in_dims->c;
    const int8_t *img = in + (size_t)n * (size_t)in_dims->h * row_stride;
    for (int32_t ky = 0; ky < kh; ++ky) {
        const int64_t iy = y0 + (int64_t)ky * conv->dilation_h;
        for (int32_t kx = 0; kx < kw; ++kx, dst += cin_g) {
            const int64_t ix = x0 + (int64_t)kx * conv->dilation_w;
            if (iy < 0 || iy >= in_dims->h || ix < 0 || ix >= in_dims->w) {
                for (int32_t c = 0; c < cin_g; ++c)
                    dst[c] = 0;
                continue;
            }
            const int8_t *src = img + (size_t)iy * row_stride +
                                (size_t)ix * (size_t)in_dims->c + (size_t)c0;
            for (int32_t c = 0; c < cin_g; ++c)
                dst[c] = (int16_t)(src[c] + input_offset);
        }
    }
}

/* The bounded path over validated arguments; @p scratch holds at least
 * 2·K + 1 bytes. */
static void conv_bounded(const tq_conv_params *conv, const tq_dims *in_dims,
                         const int8_t *in, int32_t input_offset,
                         const tq_dims *filter_dims, const uint8_t *filter,
                         const int32_t *bias, const tq_s8_output *os,
                         const tq_dims *out_dims, int8_t *out, int32_t k,
                         void *scratch)
{
    const tq__s4_dot_fn dot = tq__s4_dot_entry(tq__get_ukernels());
    int16_t *x16 = (int16_t *)(void *)((unsigned char *)scratch +
                                       ((uintptr_t)scratch & 1u));
    const int32_t groups = conv->groups, cout = filter_dims->n;
    const int32_t cin_g = filter_dims->c, cout_g = cout / groups;
    for (int32_t n = 0; n < out_dims->n; ++n)
        for (int32_t oy = 0; oy < out_dims->h; ++oy)
            for (int32_t ox = 0; ox < out_dims->w; ++ox) {
                int8_t *dst =
                    out + (((size_t)n * (size_t)out_dims->h + (size_t)oy) *
                               (size_t)out_dims->w +
                           (size_t)ox) *
                              (size_t)cout;
                for (int32_t g = 0; g < groups; ++g) {
                    column16(conv, in_dims, in, input_offset, filter_dims->h,
                             filter_dims->w, g * cin_g, cin_g, n, oy, ox, x16);
                    for (int32_t j = 0; j < cout_g; ++j) {
                        const int32_t o = g * cout_g + j;
                        const int64_t acc =
                            (int64_t)dot(x16, filter,
                                         (size_t)o * (size_t)k, k) +
                            (bias ? bias[o] : 0);
                        dst[o] = tq__s8_output_one(
                            os, tq__sat_i64_to_i32(acc), o);
                    }
                }
            }
}

tq_status tq_s4_conv2d(const tq_conv_params *conv, const tq_dims *in_dims,
                       const int8_t *in, int32_t input_offset,
                       const tq_dims *filter_dims, const uint8_t *filter,
                       const int32_t *bias, const tq_s8_output *os,
                       const tq_dims *out_dims, int8_t *out, void *scratch,
                       size_t scratch_bytes)
{
    int32_t k;
    size_t f_count, fast, bounded, in_count, out_count;
    if (!in || !filter || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(conv_sizes(conv, in_dims, filter_dims, out_dims, &k, &f_count,
                        &fast, &bounded));
    TQ_CHECK(tq__s8_check_input_stage(input_offset, os, filter_dims->n));
    if (!scratch)
        return TQ_ERR_NULL;
    const int use_fast = scratch_bytes >= fast;
    if (!use_fast && scratch_bytes < bounded)
        return TQ_ERR_BUFFER_TOO_SMALL;
    const size_t used = use_fast ? fast : bounded;
    TQ_CHECK(tq__dims_count(in_dims, &in_count));
    TQ_CHECK(tq__dims_count(out_dims, &out_count));
    const size_t packed = tq_s4_packed_size(f_count);
    /* Nothing written may overlap anything else of the call, bias and
     * output stage arrays included (checked before anything is written,
     * on both paths). */
    const tq__span writes[2] = {{out, out_count}, {scratch, used}};
    tq__span reads[5] = {{in, in_count}, {filter, packed}};
    tq__s8_stage_spans(os, bias, filter_dims->n, reads + 2);
    TQ_CHECK(tq__check_alias(writes, 2, reads, 5));
    if (!use_fast) {
        conv_bounded(conv, in_dims, in, input_offset, filter_dims, filter,
                     bias, os, out_dims, out, k, scratch);
        return TQ_OK;
    }
    /* Everything tq_s8_conv2d() checks has been checked: it cannot fail. */
    int8_t *w = scratch;
    tq__s4_unpack_range(filter, 0, f_count, w);
    return tq_s8_conv2d(conv, in_dims, in, input_offset, filter_dims, w, bias,
                        os, out_dims, out, w + f_count, scratch_bytes - f_count);
}
