/*
 * The lab's Stage 3 fusion on int8: conv2d + output stage (whose act_min is
 * the ReLU) + 2x2 / stride 2 max pool, computing only the conv pixels the
 * pool reads.
 *
 * Requantization with a multiplier >= 0 is monotonic non-decreasing in both
 * rounding modes (SRDHM, the rounding shifts and the saturations all are),
 * and so are the zero-point add and the clamp. Hence the max of four
 * requantized values equals the requantization of the max of the four
 * accumulators: one requantization per pooled value, bit-identical to
 * tq_s8_conv2d() followed by tq_s8_max_pool() over the full int8 range.
 *
 * Scratch layout (after rounding up to int32 alignment):
 *   int32 filter_sums[Cout] | int32 acc[4·P][Cout] | int8 col[4·P][K]
 * with P pooled pixels per block; row 4·i + t of a block is tap t of the
 * 2x2 window of pooled pixel i.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"
#include "s8_internal.h"

/* Pooled pixels per block: up to 8 (32 conv rows for the microkernel, as
 * conv2d), fewer when that would take the block past 16 KiB. */
#define POOL_BLOCK_PIXELS 8
#define POOL_BLOCK_BUDGET 16384

typedef struct fused_plan {
    tq_dims conv_out; /* the (unpooled) convolution extents */
    size_t pixels;    /* pooled pixels N·PH·PW */
    int32_t block;    /* pooled pixels per block */
    int32_t k;
    size_t bytes;
} fused_plan;

/* Shapes (pooled output against the convolution's) and the scratch need. */
static tq_status make_plan(const tq_conv_params *conv, const tq_dims *in,
                           const tq_dims *filter, const tq_dims *out,
                           fused_plan *plan)
{
    size_t pixels, ints, col, bytes;
    int32_t oh, ow;
    if (!conv || !in || !filter || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_dims(filter));
    if (conv->groups < 1)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq__check_dims(in));
    TQ_CHECK(tq__check_dims(out));
    /* The geometry's own errors first (bad stride, window too large), then
     * the conv extents that the pooled extents must halve. */
    TQ_CHECK(tq_conv_output_size(in->h, filter->h, conv->stride_h,
                                 conv->dilation_h, conv->pad_top,
                                 conv->pad_bottom, &oh));
    TQ_CHECK(tq_conv_output_size(in->w, filter->w, conv->stride_w,
                                 conv->dilation_w, conv->pad_left,
                                 conv->pad_right, &ow));
    if (conv->groups != 1)
        return TQ_ERR_UNSUPPORTED;
    if (out->h != oh / 2 || out->w != ow / 2)
        return TQ_ERR_SHAPE;
    plan->conv_out.n = out->n;
    plan->conv_out.h = oh;
    plan->conv_out.w = ow;
    plan->conv_out.c = out->c;
    TQ_CHECK(tq__s8_conv_shape(conv, in, filter, &plan->conv_out, &plan->k));
    if (tq__mul_size((size_t)out->n, (size_t)out->h, &pixels) ||
        tq__mul_size(pixels, (size_t)out->w, &pixels))
        return TQ_ERR_OVERFLOW;
    plan->pixels = pixels;
    /* Four conv rows per pooled pixel, each Cout int32 sums + K bytes. */
    const int64_t per_pixel = 4 * (4 * (int64_t)out->c + plan->k);
    int64_t block = POOL_BLOCK_BUDGET / per_pixel;
    block = block < 1 ? 1 : (block > POOL_BLOCK_PIXELS ? POOL_BLOCK_PIXELS
                                                       : block);
    plan->block = (size_t)block < pixels ? (int32_t)block : (int32_t)pixels;
    const size_t rows = 4 * (size_t)plan->block;
    if (tq__mul_size(rows, (size_t)out->c, &ints) ||
        tq__add_size(ints, (size_t)out->c, &ints) ||
        tq__mul_size(ints, sizeof(int32_t), &bytes) ||
        tq__mul_size(rows, (size_t)plan->k, &col) ||
        tq__add_size(bytes, col, &bytes) ||
        tq__add_size(bytes, TQ__S8_ALIGN_SLACK, &bytes))
        return TQ_ERR_OVERFLOW;
    plan->bytes = bytes;
    return TQ_OK;
}

tq_status tq_s8_conv2d_relu_maxpool2_scratch_size(const tq_conv_params *conv,
                                                  const tq_dims *in_dims,
                                                  const tq_dims *filter_dims,
                                                  const tq_dims *out_dims,
                                                  size_t *bytes)
{
    fused_plan plan;
    if (!bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(make_plan(conv, in_dims, filter_dims, out_dims, &plan));
    *bytes = plan.bytes;
    return TQ_OK;
}

tq_status tq_s8_conv2d_relu_maxpool2(
    const tq_conv_params *conv, const tq_dims *in_dims, const int8_t *in,
    int32_t input_offset, const tq_dims *filter_dims, const int8_t *filter,
    const int32_t *bias, const tq_s8_output *os, const tq_dims *out_dims,
    int8_t *out, void *scratch, size_t scratch_bytes)
{
    fused_plan plan;
    int32_t k;
    size_t in_count, out_count;
    if (!in || !filter || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(make_plan(conv, in_dims, filter_dims, out_dims, &plan));
    TQ_CHECK(tq__s8_conv_check(conv, in_dims, filter_dims, &plan.conv_out,
                               input_offset, os, &k));
    if (!scratch)
        return TQ_ERR_NULL;
    if (scratch_bytes < plan.bytes)
        return TQ_ERR_BUFFER_TOO_SMALL;
    TQ_CHECK(tq__dims_count(in_dims, &in_count));
    TQ_CHECK(tq__dims_count(out_dims, &out_count));
    if (tq__overlap(out, out_count, in, in_count) ||
        tq__overlap(scratch, plan.bytes, in, in_count) ||
        tq__overlap(scratch, plan.bytes, out, out_count))
        return TQ_ERR_ALIAS;

    const tq__s8_gemm_fn ukernel = tq__get_ukernels()->s8_gemm;
    const int32_t cout = filter_dims->n, cin = in_dims->c;
    const int32_t pw = out_dims->w, ph = out_dims->h;
    int32_t *filter_sums = tq__s8_align_i32(scratch);
    int32_t *acc = filter_sums + cout;
    int8_t *col =
        (int8_t *)(acc + 4 * (size_t)plan.block * (size_t)cout);
    const int8_t pad_value = (int8_t)-input_offset;
    const tq__s8_fold f = {input_offset, 0, k, NULL, filter_sums, bias};

    if (input_offset != 0)
        tq__s8_filter_sums(filter, cout, k, filter_sums);
    for (size_t p0 = 0; p0 < plan.pixels; p0 += (size_t)plan.block) {
        const size_t left = plan.pixels - p0;
        const int32_t pb =
            left < (size_t)plan.block ? (int32_t)left : plan.block;
        for (int32_t i = 0; i < pb; ++i) {
            const size_t p = p0 + (size_t)i;
            const int32_t px = (int32_t)(p % (size_t)pw);
            const size_t rest = p / (size_t)pw;
            const int32_t py = (int32_t)(rest % (size_t)ph);
            const int32_t n = (int32_t)(rest / (size_t)ph);
            for (int32_t t = 0; t < 4; ++t)
                tq__s8_im2col_pixel(conv, in_dims, in, filter_dims->h,
                                    filter_dims->w, 0, cin, n,
                                    2 * py + t / 2, 2 * px + t % 2,
                                    pad_value,
                                    col + (4 * (size_t)i + (size_t)t) *
                                              (size_t)k);
        }
        ukernel(4 * pb, cout, k, col, (size_t)k, filter, (size_t)k, acc,
                (size_t)cout);
        for (int32_t i = 0; i < pb; ++i) {
            const int32_t *rows = acc + 4 * (size_t)i * (size_t)cout;
            int8_t *dst = out + (p0 + (size_t)i) * (size_t)cout;
            for (int32_t c = 0; c < cout; ++c) {
                int32_t best = tq__s8_fold_one(&f, rows[c], 0, c);
                for (int32_t t = 1; t < 4; ++t) {
                    const int32_t v = tq__s8_fold_one(
                        &f, rows[(size_t)t * (size_t)cout + (size_t)c], 0, c);
                    best = v > best ? v : best;
                }
                dst[c] = tq__s8_output_one(os, best, c);
            }
        }
    }
    return TQ_OK;
}
