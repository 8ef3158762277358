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
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"
#include "s8_internal.h"

/* Output pixels per block: up to 32 rows to keep the microkernel busy and
 * reuse each weight row, fewer when a pixel's int32 sums and im2col row
 * are large, so that the block stays near 16 KiB (LeNet conv2: 32 pixels,
 * 6.8 KiB; a 3x3x64 -> 64 layer: 19 pixels). */
#define CONV_BLOCK_PIXELS 32
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
    const int32_t groups = conv->groups;
    if (in->c % groups != 0 || filter->n % groups != 0 ||
        filter->c != in->c / groups || conv_out->c != filter->n)
        return TQ_ERR_SHAPE;
    const int64_t k64 = (int64_t)filter->h * filter->w * filter->c;
    if (k64 > TQ_S8_MAX_REDUCTION)
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__dims_count(in, &count));
    TQ_CHECK(tq__dims_count(filter, &count));
    TQ_CHECK(tq__dims_count(conv_out, &count));
    *k = (int32_t)k64;
    return TQ_OK;
}

tq_status tq__s8_conv_check(const tq_conv_params *conv, const tq_dims *in,
                            const tq_dims *filter, const tq_dims *conv_out,
                            int32_t input_offset, const tq_s8_output *os,
                            int32_t *k)
{
    int32_t kk;
    TQ_CHECK(tq__s8_conv_shape(conv, in, filter, conv_out, &kk));
    if (input_offset < -127 || input_offset > 128)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq__check_s8_output(os, filter->n));
    *k = kk;
    return TQ_OK;
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
    for (int32_t ky = 0; ky < kh; ++ky) {
        const int64_t iy = y0 + (int64_t)ky * conv->dilation_h;
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
    for (int32_t c = 0; c < cout; ++c)
        sums[c] = tq__s8_sum(filter + (size_t)c * (size_t)k, k);
}

/* How a validated convolution runs: pixels per block, whether it needs
 * im2col, and the exact scratch bytes (alignment slack included). */
typedef struct conv_plan {
    size_t pixels;     /* N·OH·OW */
    int32_t block;     /* output pixels per block */
    int32_t k;         /* reduction length */
    int32_t cout_g;    /* output channels per group */
    int direct;        /* 1x1 fast path: A is the input itself */
    size_t bytes;
} conv_plan;

static tq_status make_plan(const tq_conv_params *conv,
                           const tq_dims *filter, const tq_dims *out,
                           int32_t k, conv_plan *plan)
{
    size_t pixels, ints, col, bytes;
    if (tq__mul_size((size_t)out->n, (size_t)out->h, &pixels) ||
        tq__mul_size(pixels, (size_t)out->w, &pixels))
        return TQ_ERR_OVERFLOW;
    plan->pixels = pixels;
    plan->k = k;
    plan->cout_g = filter->n / conv->groups;
    plan->direct = filter->h == 1 && filter->w == 1 && conv->stride_h == 1 &&
                   conv->stride_w == 1 && conv->pad_top == 0 &&
                   conv->pad_bottom == 0 && conv->pad_left == 0 &&
                   conv->pad_right == 0 && conv->groups == 1;
    /* int64: cout_g < 2^31 and k <= 2^15. */
    const int64_t per_pixel = 4 * (int64_t)plan->cout_g +
                              (plan->direct ? 0 : (int64_t)k);
    int64_t block = CONV_BLOCK_BUDGET / per_pixel;
    block = block < 1 ? 1 : (block > CONV_BLOCK_PIXELS ? CONV_BLOCK_PIXELS
                                                       : block);
    plan->block = (size_t)block < pixels ? (int32_t)block : (int32_t)pixels;
    /* Cout + P·cout_g int32 values, and P·K bytes of im2col. Each factor
     * is at most 2^31 and P <= 32, but size_t may be 32 bits: check. */
    if (tq__mul_size((size_t)plan->block, (size_t)plan->cout_g, &ints) ||
        tq__add_size(ints, (size_t)filter->n, &ints) ||
        tq__mul_size(ints, sizeof(int32_t), &bytes) ||
        tq__mul_size((size_t)plan->block, plan->direct ? 0 : (size_t)k,
                     &col) ||
        tq__add_size(bytes, col, &bytes) ||
        tq__add_size(bytes, TQ__S8_ALIGN_SLACK, &bytes))
        return TQ_ERR_OVERFLOW;
    plan->bytes = bytes;
    return TQ_OK;
}

tq_status tq_s8_conv2d_scratch_size(const tq_conv_params *conv,
                                    const tq_dims *in_dims,
                                    const tq_dims *filter_dims,
                                    const tq_dims *out_dims, size_t *bytes)
{
    int32_t k;
    conv_plan plan;
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
    conv_plan plan;
    size_t in_count, out_count;
    if (!in || !filter || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__s8_conv_check(conv, in_dims, filter_dims, out_dims,
                               input_offset, os, &k));
    TQ_CHECK(make_plan(conv, filter_dims, out_dims, k, &plan));
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
    const int32_t groups = conv->groups, cout_g = plan.cout_g;
    const int32_t cin_g = filter_dims->c;
    int32_t *filter_sums = tq__s8_align_i32(scratch);
    int32_t *acc = filter_sums + cout;
    int8_t *col = (int8_t *)(acc + (size_t)plan.block * (size_t)cout_g);
    /* Padded taps hold the input zero point: (zp + input_offset) = 0. */
    const int8_t pad_value = (int8_t)-input_offset;

    if (input_offset != 0)
        tq__s8_filter_sums(filter, cout, k, filter_sums);
    for (size_t p0 = 0; p0 < plan.pixels; p0 += (size_t)plan.block) {
        const size_t left = plan.pixels - p0;
        const int32_t pb =
            left < (size_t)plan.block ? (int32_t)left : plan.block;
        for (int32_t g = 0; g < groups; ++g) {
            const int8_t *a;
            size_t lda;
            if (plan.direct) {
                a = in + p0 * (size_t)cin;
                lda = (size_t)cin;
            } else {
                for (int32_t i = 0; i < pb; ++i) {
                    const size_t p = p0 + (size_t)i;
                    const int32_t ox = (int32_t)(p % (size_t)out_dims->w);
                    const size_t rest = p / (size_t)out_dims->w;
                    const int32_t oy = (int32_t)(rest % (size_t)out_dims->h);
                    const int32_t n = (int32_t)(rest / (size_t)out_dims->h);
                    tq__s8_im2col_pixel(conv, in_dims, in, filter_dims->h,
                                        filter_dims->w, g * cin_g, cin_g, n,
                                        oy, ox, pad_value,
                                        col + (size_t)i * (size_t)k);
                }
                a = col;
                lda = (size_t)k;
            }
            const size_t ch0 = (size_t)g * (size_t)cout_g;
            ukernel(pb, cout_g, k, a, lda, filter + ch0 * (size_t)k,
                    (size_t)k, acc, (size_t)cout_g);
            const tq__s8_fold f = {input_offset, 0, k, NULL,
                                   filter_sums + ch0,
                                   bias ? bias + ch0 : NULL};
            tq__s8_finish_block(&f, pb, cout_g, acc, (size_t)cout_g, os,
                                (int32_t)ch0,
                                out + p0 * (size_t)cout + ch0, (size_t)cout);
        }
    }
    return TQ_OK;
}
