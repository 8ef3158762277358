/*
 * Shape validation and convolution geometry shared by the f32 and s8
 * kernels, so that both paths accept exactly the same geometries, report
 * the same status codes and take the same fast paths.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>

#include "../tq_internal.h"

tq_status tq__check_dims(const tq_dims *d)
{
    if (!d)
        return TQ_ERR_NULL;
    if (d->n < 1 || d->h < 1 || d->w < 1 || d->c < 1)
        return TQ_ERR_SHAPE;
    return TQ_OK;
}

tq_status tq__dims_count(const tq_dims *d, size_t *count)
{
    size_t a, b, c;
    TQ_CHECK(tq__check_dims(d));
    if (tq__mul_size((size_t)d->n, (size_t)d->h, &a) ||
        tq__mul_size(a, (size_t)d->w, &b) || tq__mul_size(b, (size_t)d->c, &c))
        return TQ_ERR_OVERFLOW;
    *count = c;
    return TQ_OK;
}

tq_status tq_conv_output_size(int32_t in, int32_t k, int32_t stride,
                              int32_t dilation, int32_t pad_before,
                              int32_t pad_after, int32_t *out)
{
    if (!out)
        return TQ_ERR_NULL;
    if (in < 1 || k < 1 || stride < 1 || dilation < 1 || pad_before < 0 ||
        pad_after < 0)
        return TQ_ERR_PARAM;
    /* int64: in + pads and dilation * (k - 1) can each exceed int32. */
    const int64_t span = (int64_t)in + pad_before + pad_after;
    const int64_t window = (int64_t)dilation * (k - 1) + 1;
    if (window > span)
        return TQ_ERR_SHAPE;
    /* span - window < 3 · 2^31 < 2^33 */
    const uint64_t n =
        tq__udiv_u33_u32((uint64_t)(span - window), (uint32_t)stride) + 1;
    if (n > INT32_MAX)
        return TQ_ERR_OVERFLOW;
    *out = (int32_t)n;
    return TQ_OK;
}

tq_status tq__conv_output_hw(const tq_conv_params *conv, const tq_dims *in,
                             int32_t kh, int32_t kw, int32_t *oh, int32_t *ow)
{
    TQ_CHECK(tq_conv_output_size(in->h, kh, conv->stride_h, conv->dilation_h,
                                 conv->pad_top, conv->pad_bottom, oh));
    TQ_CHECK(tq_conv_output_size(in->w, kw, conv->stride_w, conv->dilation_w,
                                 conv->pad_left, conv->pad_right, ow));
    return TQ_OK;
}

tq_status tq__check_conv_geometry(const tq_conv_params *conv,
                                  const tq_dims *in, int32_t kh, int32_t kw,
                                  const tq_dims *out)
{
    int32_t oh, ow;
    if (!conv || !in || !out)
        return TQ_ERR_NULL;
    if (conv->stride_h < 1 || conv->stride_w < 1 || conv->dilation_h < 1 ||
        conv->dilation_w < 1 || conv->pad_top < 0 || conv->pad_bottom < 0 ||
        conv->pad_left < 0 || conv->pad_right < 0)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq__check_dims(in));
    TQ_CHECK(tq__check_dims(out));
    if (kh < 1 || kw < 1)
        return TQ_ERR_SHAPE;
    TQ_CHECK(tq__conv_output_hw(conv, in, kh, kw, &oh, &ow));
    if (oh != out->h || ow != out->w || in->n != out->n)
        return TQ_ERR_SHAPE;
    return TQ_OK;
}

tq_status tq__check_conv_groups(int32_t groups, const tq_dims *in,
                                const tq_dims *filter, const tq_dims *conv_out)
{
    if (in->c % groups != 0 || conv_out->c % groups != 0 ||
        filter->c != in->c / groups || filter->n != conv_out->c)
        return TQ_ERR_SHAPE;
    return TQ_OK;
}

int tq__conv_is_pointwise(const tq_conv_params *conv, int32_t kh, int32_t kw)
{
    return kh == 1 && kw == 1 && conv->stride_h == 1 && conv->stride_w == 1 &&
           conv->pad_top == 0 && conv->pad_bottom == 0 &&
           conv->pad_left == 0 && conv->pad_right == 0 && conv->groups == 1;
}

tq_status tq__check_pool_geometry(const tq_pool_params *pool,
                                  const tq_dims *in, const tq_dims *out)
{
    int32_t oh, ow;
    if (!pool || !in || !out)
        return TQ_ERR_NULL;
    if (pool->kernel_h < 1 || pool->kernel_w < 1 || pool->stride_h < 1 ||
        pool->stride_w < 1 || pool->pad_top < 0 || pool->pad_bottom < 0 ||
        pool->pad_left < 0 || pool->pad_right < 0 ||
        pool->pad_top >= pool->kernel_h || pool->pad_bottom >= pool->kernel_h ||
        pool->pad_left >= pool->kernel_w || pool->pad_right >= pool->kernel_w)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq__check_dims(in));
    TQ_CHECK(tq__check_dims(out));
    TQ_CHECK(tq_conv_output_size(in->h, pool->kernel_h, pool->stride_h, 1,
                                 pool->pad_top, pool->pad_bottom, &oh));
    TQ_CHECK(tq_conv_output_size(in->w, pool->kernel_w, pool->stride_w, 1,
                                 pool->pad_left, pool->pad_right, &ow));
    if (oh != out->h || ow != out->w || in->n != out->n || in->c != out->c)
        return TQ_ERR_SHAPE;
    return TQ_OK;
}

tq_status tq__check_s8_output(const tq_s8_output *os, int32_t channels)
{
    if (!os || !os->multiplier || !os->shift)
        return TQ_ERR_NULL;
    if ((os->per_channel != 0 && os->per_channel != 1) ||
        (os->rounding != TQ_ROUND_DOUBLE && os->rounding != TQ_ROUND_SINGLE) ||
        os->output_offset < -128 || os->output_offset > 127 ||
        os->act_min < -128 || os->act_max > 127 || os->act_min > os->act_max)
        return TQ_ERR_PARAM;
    const int32_t count = os->per_channel ? channels : 1;
    for (int32_t i = 0; i < count; ++i) {
        if (os->multiplier[i] < 0 || os->shift[i] < TQ_SHIFT_MIN ||
            os->shift[i] > TQ_SHIFT_MAX)
            return TQ_ERR_PARAM;
    }
    return TQ_OK;
}

tq_status tq__check_f32_act(const tq_f32_act *act)
{
    if (!act)
        return TQ_OK;
    if (isnan(act->min) || isnan(act->max) || act->min > act->max)
        return TQ_ERR_PARAM;
    return TQ_OK;
}
