/*
 * The lab's Stage 3 fusion on f32: conv2d, clamp (ReLU by default), 2x2 max
 * pool of stride 2, writing only the pooled output. Only the convolution
 * pixels the pool reads are computed (the last row / column of an odd
 * extent is skipped), a block of pooled pixels at a time: their 4 taps are
 * gathered by the shared im2col, multiplied with the dispatch GEMM into
 * scratch, given bias + clamp by the shared epilogue, and reduced with the
 * pools' max rule in the pools' tap order. Every step is the one conv2d and
 * max pool use, which is why the result is bit-identical to them.
 *
 * Clamp-then-max is kept (rather than max-then-clamp, which is equal as a
 * real number) because the two differ on signed zeros: max(+0, -0) keeps
 * the first tap.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "f32_internal.h"

/* Pooled pixels per block: 4 conv pixels each, so the scratch is
 * 32 · (kh · kw · Cin + Cout) floats at most (LeNet's first layer: 10 KiB). */
#define TQ__F32_POOLED_BLOCK 8

static tq_status fused_plan(const tq_conv_params *conv, const tq_dims *in_dims,
                            const tq_dims *filter_dims,
                            const tq_dims *out_dims, tq__f32_conv_plan *plan)
{
    int32_t oh, ow;
    if (!conv || !in_dims || !filter_dims || !out_dims)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_dims(in_dims));
    TQ_CHECK(tq__check_dims(filter_dims));
    TQ_CHECK(tq__check_dims(out_dims));
    TQ_CHECK(tq__conv_output_hw(conv, in_dims, filter_dims->h,
                                filter_dims->w, &oh, &ow));
    const tq_dims conv_out = {in_dims->n, oh, ow, filter_dims->n};
    TQ_CHECK(tq__f32_conv_plan_init(conv, in_dims, filter_dims, &conv_out,
                                    plan));
    if (conv->groups != 1)
        return TQ_ERR_UNSUPPORTED;
    /* An extent of 1 pools to 0, which no tq_dims may hold. */
    if (out_dims->n != in_dims->n || out_dims->h != oh / 2 ||
        out_dims->w != ow / 2 || out_dims->c != filter_dims->n)
        return TQ_ERR_SHAPE;
    return TQ_OK;
}

static int32_t pooled_block(const tq__f32_conv_plan *plan)
{
    const int32_t pw = plan->out_w / 2;
    return pw < TQ__F32_POOLED_BLOCK ? pw : TQ__F32_POOLED_BLOCK;
}

static tq_status fused_scratch_need(const tq__f32_conv_plan *plan,
                                    size_t *bytes)
{
    size_t floats, raw;
    const size_t conv_pixels = 4 * (size_t)pooled_block(plan);
    const size_t per_pixel = (size_t)plan->kdim + (size_t)plan->out_c;
    if (tq__mul_size(conv_pixels, per_pixel, &floats) ||
        tq__mul_size(floats, sizeof(float), &raw) ||
        tq__add_size(raw, TQ__F32_ALIGN_SLACK, bytes))
        return TQ_ERR_OVERFLOW;
    return TQ_OK;
}

tq_status tq_f32_conv2d_relu_maxpool2_scratch_size(
    const tq_conv_params *conv, const tq_dims *in_dims,
    const tq_dims *filter_dims, const tq_dims *out_dims, size_t *bytes)
{
    tq__f32_conv_plan plan;
    size_t need;
    if (!bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(fused_plan(conv, in_dims, filter_dims, out_dims, &plan));
    TQ_CHECK(fused_scratch_need(&plan, &need));
    *bytes = need;
    return TQ_OK;
}

/* Pooled pixels [px0, px0 + count) of pooled row py of image n. The conv
 * pixels go to scratch row r · 2·count + j for conv row 2·py + r and conv
 * column 2·px0 + j, so the pool's taps are rows 2i, 2i+1 (top) and
 * 2·count + 2i, 2·count + 2i + 1 (bottom). */
static void fused_block(const tq__f32_conv_plan *p, const float *in,
                        const float *filter, const float *bias,
                        const tq_f32_act *act, int32_t n, int32_t py,
                        int32_t px0, int32_t count, float *cols, float *conv,
                        float *out)
{
    const size_t kdim = (size_t)p->kdim;
    const size_t cout = (size_t)p->out_c;
    const int32_t width = 2 * count;
    for (int32_t r = 0; r < 2; ++r)
        for (int32_t j = 0; j < width; ++j)
            tq__f32_im2col_pixel(p, in, n, 2 * py + r, 2 * px0 + j, 0,
                                 cols + (size_t)(r * width + j) * kdim);
    tq__f32_gemm_bias_act(2 * width, p->out_c, p->kdim, cols, kdim, filter,
                          kdim, bias, act, conv, cout);
    const size_t pooled_w = (size_t)(p->out_w / 2);
    float *dst = out + (((size_t)n * (size_t)(p->out_h / 2) + (size_t)py) *
                            pooled_w + (size_t)px0) * cout;
    for (int32_t i = 0; i < count; ++i, dst += cout) {
        const float *t00 = conv + (size_t)(2 * i) * cout;
        const float *t01 = t00 + cout;
        const float *t10 = conv + (size_t)(width + 2 * i) * cout;
        const float *t11 = t10 + cout;
        for (size_t c = 0; c < cout; ++c) {
            float m = t00[c];
            m = tq__f32_max_keep(m, t01[c]);
            m = tq__f32_max_keep(m, t10[c]);
            dst[c] = tq__f32_max_keep(m, t11[c]);
        }
    }
}

tq_status tq_f32_conv2d_relu_maxpool2(
    const tq_conv_params *conv, const tq_dims *in_dims, const float *in,
    const tq_dims *filter_dims, const float *filter, const float *bias,
    const tq_f32_act *act, const tq_dims *out_dims, float *out, void *scratch,
    size_t scratch_bytes)
{
    tq__f32_conv_plan plan;
    size_t need, out_count;
    if (!in || !filter || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(fused_plan(conv, in_dims, filter_dims, out_dims, &plan));
    TQ_CHECK(fused_scratch_need(&plan, &need));
    /* Fits: the pooled output is smaller than the convolution's. */
    out_count = (size_t)out_dims->n * (size_t)out_dims->h *
                (size_t)out_dims->w * (size_t)out_dims->c;
    TQ_CHECK(tq__f32_conv_check_buffers(&plan, in, filter, bias, act, out,
                                        out_count, scratch, scratch_bytes,
                                        need));
    const tq_f32_act relu = {0.0f, INFINITY};
    const tq_f32_act *clamp = act ? act : &relu;
    const int32_t block = pooled_block(&plan);
    float *cols = tq__f32_align(scratch);
    float *conv_px = cols + 4 * (size_t)block * (size_t)plan.kdim;
    for (int32_t n = 0; n < out_dims->n; ++n)
        for (int32_t py = 0; py < out_dims->h; ++py)
            for (int32_t px0 = 0; px0 < out_dims->w; px0 += block) {
                const int32_t count = out_dims->w - px0 < block
                                          ? out_dims->w - px0
                                          : block;
                fused_block(&plan, in, filter, bias, clamp, n, py, px0, count,
                            cols, conv_px, out);
            }
    return TQ_OK;
}
