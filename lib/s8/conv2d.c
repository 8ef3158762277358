/*
 * int8 2-D convolution (TFLite CONV_2D): im2col of a block of output
 * pixels into the caller's scratch, raw sums from the dispatch
 * microkernel, then the shared fold and output stage.
 *
 * Scratch layout (after rounding the pointer up to int32 alignment):
 *   int32 filter_sums[Cout] | int32 acc[P][Cout / groups] | int8 col[P][K]
 * with P output pixels per block. The 1x1 / stride 1 / unpadded / ungrouped
 * case reads the input in place and has no col part.
 *
 * Also home of the validation, blocking, buffer checks and im2col shared
 * with the fused conv + ReLU + max pool (conv_relu_maxpool.c).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "../arch/dispatch.h"
#include "s8_internal.h"

/* GEMM rows per block and the scratch a block should stay near (LeNet
 * conv2: 32 pixels, 6.8 KiB; a 3x3x64 -> 64 layer: 19 pixels). */
#define CONV_BLOCK_ROWS 32
#define CONV_BLOCK_BUDGET 16384

tq_status tq__s8_conv_shape(const tq_conv_params *conv, const tq_dims *in,
                            const tq_dims *filter, const tq_dims *conv_out,
                            int32_t *k)
{
    size_t count;
    if (!conv || !in || !filter || !conv_out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_dims(filter));
    if (conv->groups < 1)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq__check_conv_geometry(conv, in, filter->h, filter->w,
                                     conv_out));
    TQ_CHECK(tq__check_conv_groups(conv->groups, in, filter, conv_out));
    const int64_t k64 = (int64_t)filter->h * filter->w * filter->c;
    if (k64 > TQ_S8_MAX_REDUCTION)
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__dims_count(in, &count));
    TQ_CHECK(tq__dims_count(filter, &count));
    TQ_CHECK(tq__dims_count(conv_out, &count));
    *k = (int32_t)k64;
    return TQ_OK;
}

tq_status tq__s8_check_input_stage(int32_t input_offset,
                                   const tq_s8_output *os, int32_t channels)
{
    if (input_offset < -127 || input_offset > 128)
        return TQ_ERR_PARAM;
    return tq__check_s8_output(os, channels);
}

tq_status tq__s8_conv_blocks_plan(const tq_dims *grid, int32_t rows_per_pixel,
                                  int32_t cout, int32_t acc_cols,
                                  int32_t col_len, tq__s8_conv_blocks *plan)
{
    size_t pixels, rows, ints, col, bytes;
    if (tq__mul_size((size_t)grid->n, (size_t)grid->h, &pixels) ||
        tq__mul_size(pixels, (size_t)grid->w, &pixels))
        return TQ_ERR_OVERFLOW;
    /* int64: acc_cols < 2^31 and col_len <= 2^15. */
    const int64_t per_pixel =
        rows_per_pixel * (4 * (int64_t)acc_cols + col_len);
    const int64_t max_block = CONV_BLOCK_ROWS / rows_per_pixel;
    /* A pixel over the budget gets a block of its own; below it, per_pixel
     * fits in 32 bits, and so does the division (a 64-bit one would pull a
     * library routine into 32-bit firmware). */
    int64_t block = per_pixel >= CONV_BLOCK_BUDGET
                        ? 1
                        : (uint32_t)CONV_BLOCK_BUDGET / (uint32_t)per_pixel;
    block = block < 1 ? 1 : (block > max_block ? max_block : block);
    if ((size_t)block > pixels)
        block = (int64_t)pixels;
    /* cout + rows·acc_cols int32 values and rows·col_len bytes. Each factor
     * is at most 2^31 and rows <= 32, but size_t may be 32 bits: check. */
    rows = (size_t)rows_per_pixel * (size_t)block;
    if (tq__mul_size(rows, (size_t)acc_cols, &ints) ||
        tq__add_size(ints, (size_t)cout, &ints) ||
        tq__mul_size(ints, sizeof(int32_t), &bytes) ||
        tq__mul_size(rows, (size_t)col_len, &col) ||
        tq__add_size(bytes, col, &bytes) ||
        tq__add_size(bytes, TQ__S8_ALIGN_SLACK, &bytes))
        return TQ_ERR_OVERFLOW;
    plan->pixels = pixels;
    plan->block = (int32_t)block;
    plan->rows_per_pixel = rows_per_pixel;
    plan->cout = cout;
    plan->acc_cols = acc_cols;
    plan->col_len = col_len;
    plan->bytes = bytes;
    return TQ_OK;
}

tq_status tq__s8_conv_check_buffers(const tq_dims *in_dims, const int8_t *in,
                                    const tq_dims *filter_dims,
                                    const int8_t *filter, const int32_t *bias,
                                    const tq_s8_output *os,
                                    const tq_dims *out_dims, const int8_t *out,
                                    const void *scratch, size_t scratch_bytes,
                                    size_t need)
{
    size_t in_count, filter_count, out_count;
    if (!scratch)
        return TQ_ERR_NULL;
    if (scratch_bytes < need)
        return TQ_ERR_BUFFER_TOO_SMALL;
    TQ_CHECK(tq__dims_count(in_dims, &in_count));
    TQ_CHECK(tq__dims_count(filter_dims, &filter_count));
    TQ_CHECK(tq__dims_count(out_dims, &out_count));
    const tq__span writes[2] = {{out, out_count}, {scratch, need}};
    tq__span reads[5] = {{in, in_count}, {filter, filter_count}};
    tq__s8_stage_spans(os, bias, filter_dims->n, reads + 2);
    return tq__check_alias(writes, 2, reads, 5);
}

/* A window row of the input: short ones (LeNet's are 15 and 30 bytes)
 * in fixed-size pieces the compiler turns into plain moves, instead of a
 * library call per row; the last piece overlaps the one before it rather
 * than finishing byte by byte. A build for size (a firmware at -Os) keeps
 * the one call, which is less code. */
static void copy_row(int8_t *dst, const int8_t *src, size_t bytes)
{
#ifdef __OPTIMIZE_SIZE__
    memcpy(dst, src, bytes);
#else
    if (bytes > 64) {
        memcpy(dst, src, bytes);
    } else if (bytes >= 8) {
        for (size_t i = 0; i + 8 < bytes; i += 8)
            memcpy(dst + i, src + i, 8);
        memcpy(dst + bytes - 8, src + bytes - 8, 8);
    } else if (bytes >= 4) {
        memcpy(dst, src, 4);
        memcpy(dst + bytes - 4, src + bytes - 4, 4);
    } else {
        for (size_t i = 0; i < bytes; ++i)
            dst[i] = src[i];
    }
#endif
}

void tq__s8_im2col_pixel(const tq_conv_params *conv, const tq_dims *in_dims,
                         const int8_t *in, int32_t kh, int32_t kw, int32_t c0,
                         int32_t cin_g, int32_t n, int32_t oy, int32_t ox,
                         int8_t pad_value, int8_t *dst)
{
    /* int64 coordinates: oy·stride + ky·dilation can exceed int32. */
    const int64_t y0 = (int64_t)oy * conv->stride_h - conv->pad_top;
    const int64_t x0 = (int64_t)ox * conv->stride_w - conv->pad_left;
    const size_t row_stride = (size_t)in_dims->w * (size_t)in_dims->c;
    const int8_t *img = in + (size_t)n * (size_t)in_dims->h * row_stride;
    /* All channels, adjacent taps, the row inside the image: each window
     * row is one contiguous run of the input. */
    const int whole_rows = cin_g == in_dims->c && conv->dilation_w == 1 &&
                           x0 >= 0 && x0 + kw <= in_dims->w;
#ifndef __OPTIMIZE_SIZE__
    /* Left out of builds for size: the loop below gives the same bytes in
     * less code. */
    if (whole_rows && y0 >= 0 &&
        y0 + (int64_t)(kh - 1) * conv->dilation_h < in_dims->h) {
        /* The whole window inside the image (the common case): one run per
         * window row, at a fixed stride. */
        const size_t bytes = (size_t)kw * (size_t)cin_g;
        const size_t step = (size_t)conv->dilation_h * row_stride;
        const int8_t *src =
            img + (size_t)y0 * row_stride + (size_t)x0 * (size_t)cin_g;
        for (int32_t ky = 0; ky < kh; ++ky, src += step, dst += bytes)
            copy_row(dst, src, bytes);
        return;
    }
#endif
    for (int32_t ky = 0; ky < kh; ++ky) {
        const int64_t iy = y0 + (int64_t)ky * conv->dilation_h;
        if (whole_rows && iy >= 0 && iy < in_dims->h) {
            const size_t bytes = (size_t)kw * (size_t)cin_g;
            copy_row(dst,
                     img + (size_t)iy * row_stride + (size_t)x0 * (size_t)cin_g,
                     bytes);
            dst += bytes;
            continue;
        }
        for (int32_t kx = 0; kx < kw; ++kx) {
            const int64_t ix = x0 + (int64_t)kx * conv->dilation_w;
            if (iy < 0 || iy >= in_dims->h || ix < 0 || ix >= in_dims->w) {
                for (int32_t c = 0; c < cin_g; ++c)
                    dst[c] = pad_value;
            } else {
                const int8_t *src = img + (size_t)iy * row_stride +
                                    (size_t)ix * (size_t)in_dims->c +
                                    (size_t)c0;
                for (int32_t c = 0; c < cin_g; ++c)
                    dst[c] = src[c];
            }
            dst += cin_g;
        }
    }
}

void tq__s8_filter_sums(const int8_t *filter, int32_t cout, int32_t k,
                        int32_t *sums)
{
    tq__s8_row_sums_entry(tq__get_ukernels())(cout, k, filter, (size_t)k,
                                              sums);
}

/* The blocks of a validated convolution: one GEMM row per output pixel,
 * with the sums of one group's channels; no im2col when the input itself
 * is the A matrix. */
static tq_status make_plan(const tq_conv_params *conv,
                           const tq_dims *filter, const tq_dims *out,
                           int32_t k, tq__s8_conv_blocks *plan)
{
    const int direct = tq__conv_is_pointwise(conv, filter->h, filter->w);
    return tq__s8_conv_blocks_plan(out, 1, filter->n,
                                   filter->n / conv->groups, direct ? 0 : k,
                                   plan);
}

tq_status tq_s8_conv2d_scratch_size(const tq_conv_params *conv,
                                    const tq_dims *in_dims,
                                    const tq_dims *filter_dims,
                                    const tq_dims *out_dims, size_t *bytes)
{
    int32_t k;
    tq__s8_conv_blocks plan;
    if (!bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__s8_conv_shape(conv, in_dims, filter_dims, out_dims, &k));
    TQ_CHECK(make_plan(conv, filter_dims, out_dims, k, &plan));
    *bytes = plan.bytes;
    return TQ_OK;
}

tq_status tq_s8_conv2d(const tq_conv_params *conv, const tq_dims *in_dims,
                       const int8_t *in, int32_t input_offset,
                       const tq_dims *filter_dims, const int8_t *filter,
                       const int32_t *bias, const tq_s8_output *os,
                       const tq_dims *out_dims, int8_t *out, void *scratch,
                       size_t scratch_bytes)
{
    int32_t k;
    tq__s8_conv_blocks plan;
    if (!in || !filter || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__s8_conv_shape(conv, in_dims, filter_dims, out_dims, &k));
    TQ_CHECK(tq__s8_check_input_stage(input_offset, os, filter_dims->n));
    TQ_CHECK(make_plan(conv, filter_dims, out_dims, k, &plan));
    TQ_CHECK(tq__s8_conv_check_buffers(in_dims, in, filter_dims, filter,
                                       bias, os, out_dims, out, scratch,
                                       scratch_bytes, plan.bytes));

    const tq__ukernels *uk = tq__get_ukernels();
    const int32_t cout = filter_dims->n;
    const int32_t groups = conv->groups, cout_g = plan.acc_cols;
    const tq__s8_conv_scratch mem = tq__s8_conv_carve(scratch, &plan);
    /* Padded taps hold the input zero point: (zp + input_offset) = 0. */
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
                                    os, (int32_t)ch0,
                                    out + p0 * (size_t)cout + ch0,
                                    (size_t)cout);
        }
    }
    return TQ_OK;
}
