/*
 * int8 convolution with a residual Add fused into its output stage
 * (tq_s8_conv2d_add): each block of output pixels is convolved exactly as
 * tq_s8_conv2d() does (same blocks, same microkernels, same output stage)
 * into a small int8 buffer, and that block then goes through tq_s8_add()
 * with the skip tensor's block. The result is bit for bit conv2d followed
 * by tq_s8_add, but the conv's output tensor never exists: the sum may be
 * written over the skip tensor (exact aliasing), which is what lets a
 * residual block run in two activation maps.
 *
 * Scratch: tq_s8_conv2d()'s (filter sums, int32 sums, im2col rows). The
 * int8 block goes into the im2col rows once the GEMM has read them (they
 * hold block·K >= block·Cout/groups bytes when K >= Cout/groups); only
 * otherwise (the in-place 1x1 case, or K < Cout/groups) does it need
 * block·Cout/groups bytes more at the end.
 *
 * A unit of its own, so that a firmware without residual blocks links
 * neither it nor tq_s8_add().
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"
#include "s8_internal.h"

/* The blocks of tq_s8_conv2d() and the extra int8 bytes, if any. */
tq_status tq__s8_conv_add_plan(const tq_conv_params *conv,
                               const tq_dims *filter, const tq_dims *out,
                               int32_t k, tq__s8_conv_blocks *plan,
                               size_t *extra)
{
    const int direct = tq__conv_is_pointwise(conv, filter->h, filter->w);
    const int32_t cout_g = filter->n / conv->groups;
    TQ_CHECK(tq__s8_conv_blocks_plan(out, 1, filter->n, cout_g,
                                     direct ? 0 : k, plan));
    *extra = 0;
    if (plan->col_len < cout_g) {
        size_t bytes;
        if (tq__mul_size((size_t)plan->block, (size_t)cout_g, &bytes) ||
            tq__add_size(plan->bytes, bytes, &plan->bytes))
            return TQ_ERR_OVERFLOW;
        *extra = bytes;
    }
    return TQ_OK;
}

tq_status tq_s8_conv2d_add_scratch_size(const tq_conv_params *conv,
                                        const tq_dims *in_dims,
                                        const tq_dims *filter_dims,
                                        const tq_dims *out_dims,
                                        size_t *bytes)
{
    int32_t k;
    size_t extra;
    tq__s8_conv_blocks plan;
    if (!bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__s8_conv_shape(conv, in_dims, filter_dims, out_dims, &k));
    TQ_CHECK(tq__s8_conv_add_plan(conv, filter_dims, out_dims, k, &plan,
                                  &extra));
    *bytes = plan.bytes;
    return TQ_OK;
}

tq_status tq_s8_conv2d_add(const tq_conv_params *conv, const tq_dims *in_dims,
                           const int8_t *in, int32_t input_offset,
                           const tq_dims *filter_dims, const int8_t *filter,
                           const int32_t *bias, const tq_s8_output *os,
                           const tq_dims *out_dims, const int8_t *skip,
                           const tq_s8_add_params *add, int8_t *out,
                           void *scratch, size_t scratch_bytes)
{
    int32_t k;
    size_t extra, count;
    tq__s8_conv_blocks plan;
    if (!in || !filter || !out || !skip || !add)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__s8_conv_shape(conv, in_dims, filter_dims, out_dims, &k));
    TQ_CHECK(tq__s8_check_input_stage(input_offset, os, filter_dims->n));
    TQ_CHECK(tq__s8_conv_add_plan(conv, filter_dims, out_dims, k, &plan,
                                  &extra));
    TQ_CHECK(tq__s8_conv_check_buffers(in_dims, in, filter_dims, filter,
                                       bias, os, out_dims, out, scratch,
                                       scratch_bytes, plan.bytes));
    TQ_CHECK(tq__dims_count(out_dims, &count));
    /* The skip tensor is read: it may be the output itself, but no other
     * part of the output or of the scratch. */
    if ((skip != out && tq__overlap(skip, count, out, count)) ||
        tq__overlap(skip, count, scratch, plan.bytes))
        return TQ_ERR_ALIAS;
    /* The add parameters are checked before anything is written. */
    TQ_CHECK(tq_s8_add(0, NULL, NULL, add, NULL));

    const tq__ukernels *uk = tq__get_ukernels();
    const int32_t cout = filter_dims->n;
    const int32_t groups = conv->groups, cout_g = plan.acc_cols;
    const tq__s8_conv_scratch mem = tq__s8_conv_carve(scratch, &plan);
    /* The int8 block: the im2col rows (read by then), or the extra bytes
     * at the end of the scratch. */
    int8_t *y = extra ? (int8_t *)scratch + plan.bytes - extra : mem.col;
    const int8_t pad_value = (int8_t)-input_offset;

    if (input_offset != 0)
        tq__s8_filter_sums(filter, cout, k, mem.filter_sums);
    for (size_t p0 = 0; p0 < plan.pixels; p0 += (size_t)plan.block) {
        const int32_t pb = tq__s8_conv_block_len(&plan, p0);
        for (int32_t g = 0; g < groups; ++g) {
            size_t lda;
            const int8_t *a = tq__s8_conv_block_rows(
                &plan, conv, in_dims, in, filter_dims, out_dims, pad_value, k,
                g, p0, pb, mem.col, &lda);
            const size_t ch0 = (size_t)g * (size_t)cout_g;
            uk->s8_gemm(pb, cout_g, k, a, lda, filter + ch0 * (size_t)k,
                        (size_t)k, mem.acc, (size_t)cout_g);
            const tq__s8_fold f = {input_offset, 0, k, NULL,
                                   mem.filter_sums + ch0,
                                   bias ? bias + ch0 : NULL};
            tq__s8_finish_entry(uk)(&f, pb, cout_g, mem.acc, (size_t)cout_g,
                                    os, (int32_t)ch0, y, (size_t)cout_g);
            TQ_CHECK(tq__s8_conv_add_block(y, skip, add, out, p0, pb, groups,
                                           cout, cout_g, ch0));
        }
    }
    return TQ_OK;
}
