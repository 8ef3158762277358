/*
 * Planning of the direct fused s8 conv + ReLU + 2x2 max pool (layout in
 * dispatch.h). Portable, so that the scratch query of the fused kernel is
 * the same whichever path runs; builds without a direct kernel plan
 * nothing and need no extra scratch.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "dispatch.h"

/* The most bytes of converted input rows (and of packed weights) the
 * direct kernel keeps; larger layers go through im2col. */
#define DIRECT_MAX_IMAGE (1024 * 1024)

int tq__s8_direct_plan_init(const tq_conv_params *conv, const tq_dims *in,
                            const tq_dims *filter, const tq_dims *pooled,
                            tq__s8_direct_plan *plan)
{
#ifdef TQ_ARCH_X86
    const int64_t cin = in->c, cout = filter->n;
    const int64_t step = (int64_t)conv->stride_w * cin;
    (void)pooled; /* the kernel covers whatever the pool reads */
    if (conv->groups != 1 || conv->dilation_w != 1)
        return 0;
    /* The widest lane groups whose row segment fits one 64-byte vector. */
    int32_t lanes = cout <= 4 ? 4 : (cout <= 8 ? 8 : 16);
    int64_t seg = 0;
    for (;; lanes *= 2) {
        seg = filter->w * cin + (16 / lanes - 1) * step;
        if (seg <= 64 || lanes == 16)
            break;
    }
    if (seg > 64)
        return 0;
    const int64_t padded_h = (int64_t)in->h + conv->pad_top + conv->pad_bottom;
    const int64_t padded_w = (int64_t)in->w + conv->pad_left + conv->pad_right;
    if (padded_h > DIRECT_MAX_IMAGE || padded_w > DIRECT_MAX_IMAGE)
        return 0; /* keeps the products below in int64 */
    const int64_t row_dwords = (seg + 3) / 4;
    const int64_t group = 16 / lanes;
    const int64_t blocks = lanes == 16 ? (cout + 15) / 16 : 1;
    /* The input rows one pooled row reads: conv rows 2y and 2y + 1. */
    const int64_t rows = (int64_t)conv->stride_h +
                         (int64_t)(filter->h - 1) * conv->dilation_h + 1;
    if (rows > DIRECT_MAX_IMAGE)
        return 0;
    /* Reads past a row's end stay below two segments of it. */
    const int64_t slack = 2 * (group * step + 4 * row_dwords) + 64;
    const int64_t image = rows * padded_w * cin + slack;
    const int64_t weights = blocks * filter->h * row_dwords * 64;
    if (image > DIRECT_MAX_IMAGE || weights > DIRECT_MAX_IMAGE)
        return 0;
    plan->lanes = lanes;
    plan->group = (int32_t)group;
    plan->blocks = (int32_t)blocks;
    plan->row_dwords = (int32_t)row_dwords;
    plan->padded_w = (int32_t)padded_w;
    plan->image_rows = (int32_t)rows;
    plan->weight_bytes = (size_t)weights;
    plan->fold_bytes = (size_t)blocks * 64;
    plan->image_bytes = (size_t)image;
    plan->bytes = (size_t)(weights + blocks * 64 + image) + 63;
    return 1;
#else
    (void)conv, (void)in, (void)filter, (void)pooled, (void)plan;
    return 0;
#endif
}
