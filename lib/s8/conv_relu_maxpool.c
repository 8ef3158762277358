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
 * 2x2 window of pooled pixel i. A path with a direct kernel (dispatch.h)
 * computes the same bits without im2col in its own layout; the scratch
 * query covers both, so it does not depend on the path in use.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"
#include "s8_internal.h"

/* The convolution's own extents (the pooled ones halve them), the shapes,
 * and the blocks: four GEMM rows per pooled pixel, one per tap; then the
 * direct kernel's plan, if the build has one for these shapes. */
static tq_status make_plan(const tq_conv_params *conv, const tq_dims *in,
                           const tq_dims *filter, const tq_dims *out,
                           int32_t *k, tq__s8_conv_blocks *plan,
                           tq__s8_direct_plan *direct, int *has_direct)
{
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
    TQ_CHECK(tq__conv_output_hw(conv, in, filter->h, filter->w, &oh, &ow));
    if (conv->groups != 1)
        return TQ_ERR_UNSUPPORTED;
    if (out->h != oh / 2 || out->w != ow / 2)
        return TQ_ERR_SHAPE;
    const tq_dims conv_out = {out->n, oh, ow, out->c};
    TQ_CHECK(tq__s8_conv_shape(conv, in, filter, &conv_out, k));
    TQ_CHECK(tq__s8_conv_blocks_plan(out, 4, out->c, out->c, *k, plan));
    *has_direct = tq__s8_direct_plan_init(conv, in, filter, out, direct);
    if (*has_direct && direct->bytes > plan->bytes)
        plan->bytes = direct->bytes;
    return TQ_OK;
}

tq_status tq_s8_conv2d_relu_maxpool2_scratch_size(const tq_conv_params *conv,
                                                  const tq_dims *in_dims,
                                                  const tq_dims *filter_dims,
                                                  const tq_dims *out_dims,
                                                  size_t *bytes)
{
    int32_t k;
    tq__s8_conv_blocks plan;
    tq__s8_direct_plan direct;
    int has_direct;
    if (!bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(make_plan(conv, in_dims, filter_dims, out_dims, &k, &plan,
                       &direct, &has_direct));
    *bytes = plan.bytes;
    return TQ_OK;
}

/* im2col rows of the pooled pixels [p0, p0 + pb): row 4·i + t is tap t
 * (row-major in the 2x2 window) of pooled pixel p0 + i. */
static void gather_taps(const tq_conv_params *conv, const tq_dims *in_dims,
                        const int8_t *in, const tq_dims *filter_dims,
                        const tq_dims *out_dims, int8_t pad_value, int32_t k,
                        size_t p0, int32_t pb, int8_t *col)
{
    for (int32_t i = 0; i < pb; ++i) {
        int32_t n, py, px;
        tq__pixel_coords(p0 + (size_t)i, out_dims->h, out_dims->w, &n, &py,
                         &px);
        for (int32_t t = 0; t < 4; ++t)
            tq__s8_im2col_pixel(conv, in_dims, in, filter_dims->h,
                                filter_dims->w, 0, in_dims->c, n,
                                2 * py + t / 2, 2 * px + t % 2, pad_value,
                                col + (4 * (size_t)i + (size_t)t) * (size_t)k);
    }
}

/* The pool of pb pooled pixels from their four tap rows of raw sums each:
 * the largest raw sum, folded and requantized once. The fold adds the same
 * per-channel term to all four taps and saturates, which is monotonic like
 * the requantization (see the top), so the largest raw sum gives the
 * largest accumulator. */
static void pool_taps(const tq__s8_fold *f, const tq_s8_output *os,
                      const int32_t *acc, int32_t pb, int32_t cout,
                      int8_t *out)
{
    for (int32_t i = 0; i < pb; ++i) {
        const int32_t *rows = acc + 4 * (size_t)i * (size_t)cout;
        int8_t *dst = out + (size_t)i * (size_t)cout;
        for (int32_t c = 0; c < cout; ++c) {
            int32_t best = rows[c];
            for (int32_t t = 1; t < 4; ++t) {
                const int32_t v = rows[(size_t)t * (size_t)cout + (size_t)c];
                best = v > best ? v : best;
            }
            dst[c] = tq__s8_output_one(os, tq__s8_fold_one(f, best, 0, c), c);
        }
    }
}

tq_status tq_s8_conv2d_relu_maxpool2(
    const tq_conv_params *conv, const tq_dims *in_dims, const int8_t *in,
    int32_t input_offset, const tq_dims *filter_dims, const int8_t *filter,
    const int32_t *bias, const tq_s8_output *os, const tq_dims *out_dims,
    int8_t *out, void *scratch, size_t scratch_bytes)
{
    int32_t k;
    tq__s8_conv_blocks plan;
    tq__s8_direct_plan direct;
    int has_direct;
    if (!in || !filter || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(make_plan(conv, in_dims, filter_dims, out_dims, &k, &plan,
                       &direct, &has_direct));
    TQ_CHECK(tq__s8_check_input_stage(input_offset, os, filter_dims->n));
    TQ_CHECK(tq__s8_conv_check_buffers(in_dims, in, filter_dims, filter,
                                       bias, os, out_dims, out, scratch,
                                       scratch_bytes, plan.bytes));

    const tq__ukernels *uk = tq__get_ukernels();
    if (has_direct && uk->s8_conv_pool) {
        const uintptr_t at = (uintptr_t)scratch;
        const tq__s8_direct_args args = {
            &direct, conv, in_dims, filter_dims, out_dims, in, filter,
            input_offset, bias, os, out,
            (unsigned char *)scratch + ((64 - at % 64) % 64)};
        uk->s8_conv_pool(&args);
        return TQ_OK;
    }
    const int32_t cout = filter_dims->n;
    const tq__s8_conv_scratch mem = tq__s8_conv_carve(scratch, &plan);
    /* Padded taps hold the input zero point: (zp + input_offset) = 0. */
    const int8_t pad_value = (int8_t)-input_offset;
    const tq__s8_fold f = {input_offset, 0, k, NULL, mem.filter_sums, bias};

    if (input_offset != 0)
        tq__s8_filter_sums(filter, cout, k, mem.filter_sums);
    for (size_t p0 = 0; p0 < plan.pixels; p0 += (size_t)plan.block) {
        const int32_t pb = tq__s8_conv_block_len(&plan, p0);
        gather_taps(conv, in_dims, in, filter_dims, out_dims, pad_value, k,
                    p0, pb, mem.col);
        uk->s8_gemm(4 * pb, cout, k, mem.col, (size_t)k, filter, (size_t)k,
                    mem.acc, (size_t)cout);
        pool_taps(&f, os, mem.acc, pb, cout, out + p0 * (size_t)cout);
    }
    return TQ_OK;
}
