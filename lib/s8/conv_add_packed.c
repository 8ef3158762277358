/*
 * int8 convolution with a residual Add fused into its output stage, on
 * weights packed by tq_s8_conv2d_pack() (tq_s8_conv2d_add_packed): the
 * blocks, the scratch and the int8 block of tq_s8_conv2d_add()
 * (lib/s8/conv_add.c), the sums of tq_s8_conv2d_packed()
 * (lib/s8/conv_packed.c). Bit for bit tq_s8_conv2d_add() with the
 * unpacked weights.
 *
 * A unit of its own, like conv_add.c: a firmware without residual blocks
 * on packed weights links neither it nor tq_s8_add().
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"
#include "s8_internal.h"

tq_status tq_s8_conv2d_add_packed_scratch_size(const tq_conv_params *conv,
                                               const tq_dims *in_dims,
                                               const tq_dims *filter_dims,
                                               const tq_dims *out_dims,
                                               size_t *bytes)
{
    return tq_s8_conv2d_add_scratch_size(conv, in_dims, filter_dims, out_dims,
                                         bytes);
}

tq_status tq_s8_conv2d_add_packed(
    const tq_conv_params *conv, const tq_dims *in_dims, const int8_t *in,
    int32_t input_offset, const tq_dims *filter_dims, const void *packed,
    size_t packed_bytes, const int32_t *bias, const tq_s8_output *os,
    const tq_dims *out_dims, const int8_t *skip, const tq_s8_add_params *add,
    int8_t *out, void *scratch, size_t scratch_bytes)
{
    int32_t k;
    size_t extra, in_count, count;
    tq__s8_packed_conv pc;
    tq__s8_conv_blocks plan;
    if (!in || !packed || !out || !skip || !add)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__s8_conv_shape(conv, in_dims, filter_dims, out_dims, &k));
    TQ_CHECK(tq__s8_packed_conv_open(conv, filter_dims, k, packed,
                                     packed_bytes, &pc));
    TQ_CHECK(tq__s8_check_input_stage(input_offset, os, pc.cout));
    TQ_CHECK(tq__s8_conv_add_plan(conv, filter_dims, out_dims, k, &plan,
                                  &extra));
    if (!scratch)
        return TQ_ERR_NULL;
    if (scratch_bytes < plan.bytes)
        return TQ_ERR_BUFFER_TOO_SMALL;
    TQ_CHECK(tq__dims_count(in_dims, &in_count));
    TQ_CHECK(tq__dims_count(out_dims, &count));
    {
        /* tq_s8_conv2d_add()'s rules, the packed bytes standing for the
         * filter. */
        const tq__span writes[2] = {{out, count}, {scratch, plan.bytes}};
        tq__span reads[5] = {{in, in_count}, {packed, pc.bytes}};
        tq__s8_stage_spans(os, bias, pc.cout, reads + 2);
        TQ_CHECK(tq__check_alias(writes, 2, reads, 5));
    }
    /* The skip tensor is read: it may be the output itself, but no other
     * part of the output or of the scratch. */
    if ((skip != out && tq__overlap(skip, count, out, count)) ||
        tq__overlap(skip, count, scratch, plan.bytes))
        return TQ_ERR_ALIAS;
    /* The add parameters are checked before anything is written. */
    TQ_CHECK(tq_s8_add(0, NULL, NULL, add, NULL));

    const tq__ukernels *uk = tq__get_ukernels();
    const tq__s8_finish_fn finish = tq__s8_finish_entry(uk);
    const int32_t cout = pc.cout, groups = pc.groups, cout_g = pc.cout_g;
    const tq__s8_conv_scratch mem = tq__s8_conv_carve(scratch, &plan);
    /* The int8 block: the im2col rows (read by then), or the extra bytes
     * at the end of the scratch. */
    int8_t *y = extra ? (int8_t *)scratch + plan.bytes - extra : mem.col;
    const int8_t pad_value = (int8_t)-input_offset;

    if (input_offset != 0)
        tq__s8_packed_conv_sums(&pc, mem.filter_sums);
    for (size_t p0 = 0; p0 < plan.pixels; p0 += (size_t)plan.block) {
        const int32_t pb = tq__s8_conv_block_len(&plan, p0);
        for (int32_t g = 0; g < groups; ++g) {
            tq__s8_packed_conv_block(&pc, &plan, conv, in_dims, in,
                                     filter_dims, out_dims, pad_value, g, p0,
                                     pb, mem.col, mem.acc);
            const size_t ch0 = (size_t)g * (size_t)cout_g;
            const tq__s8_fold f = {input_offset, 0, k, NULL,
                                   mem.filter_sums + ch0,
                                   bias ? bias + ch0 : NULL};
            finish(&f, pb, cout_g, mem.acc, (size_t)cout_g, os, (int32_t)ch0,
                   y, (size_t)cout_g);
            TQ_CHECK(tq__s8_conv_add_block(y, skip, add, out, p0, pb, groups,
                                           cout, cout_g, ch0));
        }
    }
    return TQ_OK;
}
