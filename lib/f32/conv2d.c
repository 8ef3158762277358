/*
 * f32 2-D convolution, NHWC input, OHWI filter, with groups, stride,
 * asymmetric padding and dilation. Output pixels are processed in blocks
 * of TQ__F32_CONV_BLOCK: their im2col rows are gathered into the caller's
 * scratch and multiplied by the group's filter rows (contiguous in OHWI)
 * with the dispatch GEMM, which writes straight into the NHWC output.
 * A 1x1, stride-1, unpadded, ungrouped convolution needs no im2col: the
 * input already is the A matrix.
 *
 * Also home of the plan / validation / im2col shared with the fused
 * conv + ReLU + max pool (conv_relu_maxpool.c).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "f32_internal.h"

/* Output pixels per im2col block: enough rows to keep the microkernel busy,
 * few enough that the scratch stays at 32 · kh · kw · Cin/groups floats
 * (LeNet's 5x5x6 layer: 19 KiB). */
#define TQ__F32_CONV_BLOCK 32

/* The pointwise path hands the microkernel at most this many rows at once,
 * so that N·H·W beyond int32 still works. */
#define TQ__F32_POINTWISE_ROWS (INT32_C(1) << 20)

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

tq_status tq__f32_conv_plan_init(const tq_conv_params *conv,
                                 const tq_dims *in_dims,
                                 const tq_dims *filter_dims,
                                 const tq_dims *conv_out,
                                 tq__f32_conv_plan *plan)
{
    size_t out_count;
    if (!conv || !in_dims || !filter_dims || !conv_out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_dims(filter_dims));
    TQ_CHECK(tq__check_conv_geometry(conv, in_dims, filter_dims->h,
                                     filter_dims->w, conv_out));
    if (conv->groups < 1)
        return TQ_ERR_PARAM;
    const int32_t groups = conv->groups;
    TQ_CHECK(tq__check_conv_groups(groups, in_dims, filter_dims, conv_out));
    TQ_CHECK(tq__dims_count(in_dims, &plan->in_count));
    TQ_CHECK(tq__dims_count(filter_dims, &plan->filter_count));
    TQ_CHECK(tq__dims_count(conv_out, &out_count));
    /* Byte counts are formed for the alias checks; the reduction length is
     * an int32 for the microkernel. */
    if (plan->in_count > SIZE_MAX / sizeof(float) ||
        plan->filter_count > SIZE_MAX / sizeof(float) ||
        out_count > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    const int64_t kdim =
        (int64_t)filter_dims->h * filter_dims->w * filter_dims->c;
    if (kdim > INT32_MAX)
        return TQ_ERR_OVERFLOW;

    plan->conv = conv;
    plan->batch = in_dims->n;
    plan->in_h = in_dims->h;
    plan->in_w = in_dims->w;
    plan->in_c = in_dims->c;
    plan->out_h = conv_out->h;
    plan->out_w = conv_out->w;
    plan->out_c = conv_out->c;
    plan->kh = filter_dims->h;
    plan->kw = filter_dims->w;
    plan->groups = groups;
    plan->group_in_c = filter_dims->c;
    plan->group_out_c = conv_out->c / groups;
    plan->kdim = (int32_t)kdim;
    plan->pointwise = tq__conv_is_pointwise(conv, plan->kh, plan->kw);
    plan->pixels = out_count / (size_t)conv_out->c;
    return TQ_OK;
}

tq_status tq__f32_conv_check_buffers(const tq__f32_conv_plan *plan,
                                     const float *in, const float *filter,
                                     const float *bias, const tq_f32_act *act,
                                     const float *out, size_t out_count,
                                     const void *scratch, size_t scratch_bytes,
                                     size_t scratch_need)
{
    TQ_CHECK(tq__check_f32_act(act));
    const size_t out_bytes = out_count * sizeof(float);
    const size_t in_bytes = plan->in_count * sizeof(float);
    const size_t filter_bytes = plan->filter_count * sizeof(float);
    const size_t bias_bytes = bias ? (size_t)plan->out_c * sizeof(float) : 0;
    if (tq__overlap(out, out_bytes, in, in_bytes) ||
        tq__overlap(out, out_bytes, filter, filter_bytes) ||
        tq__overlap(out, out_bytes, bias, bias_bytes))
        return TQ_ERR_ALIAS;
    if (scratch_need == 0)
        return TQ_OK;
    if (!scratch)
        return TQ_ERR_NULL;
    if (scratch_bytes < scratch_need)
        return TQ_ERR_BUFFER_TOO_SMALL;
    if (tq__overlap(scratch, scratch_need, out, out_bytes) ||
        tq__overlap(scratch, scratch_need, in, in_bytes) ||
        tq__overlap(scratch, scratch_need, filter, filter_bytes) ||
        tq__overlap(scratch, scratch_need, bias, bias_bytes))
        return TQ_ERR_ALIAS;
    return TQ_OK;
}

void tq__f32_im2col_pixel(const tq__f32_conv_plan *p, const float *in,
                          int32_t n, int32_t oy, int32_t ox, int32_t group,
                          float *row)
{
    const tq_conv_params *cv = p->conv;
    const size_t cg = (size_t)p->group_in_c;
    const size_t tap_bytes = cg * sizeof(float);
    const float *image = in + (size_t)n * p->in_h * p->in_w * p->in_c +
                         (size_t)group * cg;
    /* int64: stride · oy and the pads may each approach INT32_MAX. */
    const int64_t iy0 = (int64_t)oy * cv->stride_h - cv->pad_top;
    const int64_t ix0 = (int64_t)ox * cv->stride_w - cv->pad_left;
    for (int32_t ky = 0; ky < p->kh; ++ky) {
        const int64_t iy = iy0 + (int64_t)ky * cv->dilation_h;
        if (iy < 0 || iy >= p->in_h) {
            memset(row, 0, (size_t)p->kw * tap_bytes);
            row += (size_t)p->kw * cg;
            continue;
        }
        const float *line = image + (size_t)iy * p->in_w * p->in_c;
        /* One group, adjacent taps, all inside: the window row is one
         * contiguous run of the input. */
        if (p->groups == 1 && cv->dilation_w == 1 && ix0 >= 0 &&
            ix0 + p->kw <= p->in_w) {
            memcpy(row, line + (size_t)ix0 * cg, (size_t)p->kw * tap_bytes);
            row += (size_t)p->kw * cg;
            continue;
        }
        for (int32_t kx = 0; kx < p->kw; ++kx) {
            const int64_t ix = ix0 + (int64_t)kx * cv->dilation_w;
            if (ix < 0 || ix >= p->in_w)
                memset(row, 0, tap_bytes);
            else
                memcpy(row, line + (size_t)ix * p->in_c, tap_bytes);
            row += cg;
        }
    }
}

/* Bytes of scratch the planned conv2d uses, alignment slack included. */
static tq_status conv_scratch_need(const tq__f32_conv_plan *plan,
                                   size_t *bytes)
{
    size_t floats, raw;
    if (plan->pointwise) {
        *bytes = 0;
        return TQ_OK;
    }
    const size_t block = min_size(TQ__F32_CONV_BLOCK, plan->pixels);
    if (tq__mul_size(block, (size_t)plan->kdim, &floats) ||
        tq__mul_size(floats, sizeof(float), &raw) ||
        tq__add_size(raw, TQ__F32_ALIGN_SLACK, bytes))
        return TQ_ERR_OVERFLOW;
    return TQ_OK;
}

tq_status tq_f32_conv2d_scratch_size(const tq_conv_params *conv,
                                     const tq_dims *in_dims,
                                     const tq_dims *filter_dims,
                                     const tq_dims *out_dims, size_t *bytes)
{
    tq__f32_conv_plan plan;
    size_t need;
    if (!bytes)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__f32_conv_plan_init(conv, in_dims, filter_dims, out_dims,
                                    &plan));
    TQ_CHECK(conv_scratch_need(&plan, &need));
    *bytes = need;
    return TQ_OK;
}

/* The input is the A matrix: pixel p of the output reads pixel p of the
 * input, Cin floats long. */
static void conv_pointwise(const tq__f32_conv_plan *p, const float *in,
                           const float *filter, const float *bias,
                           const tq_f32_act *act, float *out)
{
    for (size_t p0 = 0; p0 < p->pixels; p0 += TQ__F32_POINTWISE_ROWS) {
        const int32_t rows =
            (int32_t)min_size(TQ__F32_POINTWISE_ROWS, p->pixels - p0);
        tq__f32_gemm_bias_act(rows, p->out_c, p->kdim,
                              in + p0 * (size_t)p->in_c, (size_t)p->in_c,
                              filter, (size_t)p->kdim, bias, act,
                              out + p0 * (size_t)p->out_c, (size_t)p->out_c);
    }
}

static void conv_im2col(const tq__f32_conv_plan *p, const float *in,
                        const float *filter, const float *bias,
                        const tq_f32_act *act, float *out, float *cols)
{
    const size_t kdim = (size_t)p->kdim;
    const size_t cout_g = (size_t)p->group_out_c;
    for (size_t p0 = 0; p0 < p->pixels; p0 += TQ__F32_CONV_BLOCK) {
        const int32_t rows =
            (int32_t)min_size(TQ__F32_CONV_BLOCK, p->pixels - p0);
        int32_t n0, oy0, ox0;
        tq__pixel_coords(p0, p->out_h, p->out_w, &n0, &oy0, &ox0);
        float *c = out + p0 * (size_t)p->out_c;
        for (int32_t g = 0; g < p->groups; ++g) {
            int32_t n = n0, oy = oy0, ox = ox0;
            for (int32_t r = 0; r < rows; ++r) {
                tq__f32_im2col_pixel(p, in, n, oy, ox, g,
                                     cols + (size_t)r * kdim);
                if (++ox == p->out_w) {
                    ox = 0;
                    if (++oy == p->out_h) {
                        oy = 0;
                        ++n;
                    }
                }
            }
            tq__f32_gemm_bias_act(rows, (int32_t)cout_g, p->kdim, cols, kdim,
                                  filter + (size_t)g * cout_g * kdim, kdim,
                                  bias ? bias + (size_t)g * cout_g : NULL, act,
                                  c + (size_t)g * cout_g, (size_t)p->out_c);
        }
    }
}

tq_status tq_f32_conv2d(const tq_conv_params *conv, const tq_dims *in_dims,
                        const float *in, const tq_dims *filter_dims,
                        const float *filter, const float *bias,
                        const tq_f32_act *act, const tq_dims *out_dims,
                        float *out, void *scratch, size_t scratch_bytes)
{
    tq__f32_conv_plan plan;
    size_t need;
    if (!in || !filter || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__f32_conv_plan_init(conv, in_dims, filter_dims, out_dims,
                                    &plan));
    TQ_CHECK(conv_scratch_need(&plan, &need));
    TQ_CHECK(tq__f32_conv_check_buffers(&plan, in, filter, bias, act, out,
                                        plan.pixels * (size_t)plan.out_c,
                                        scratch, scratch_bytes, need));
    if (plan.pointwise)
        conv_pointwise(&plan, in, filter, bias, act, out);
    else
        conv_im2col(&plan, in, filter, bias, act, out,
                    tq__f32_align(scratch));
    return TQ_OK;
}
