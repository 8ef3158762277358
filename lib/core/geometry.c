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

tq_status tq__check_depthwise(const tq_conv_params *conv, const tq_dims *in,
                              const void *in_data, const tq_dims *filter,
                              const void *filter_data, const tq_dims *out,
                              const void *out_data, int32_t max_taps,
                              size_t *in_count, size_t *filter_count,
                              size_t *out_count)
{
    if (!conv || !in || !in_data || !filter || !filter_data || !out ||
        !out_data)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_dims(filter));
    TQ_CHECK(tq__check_conv_geometry(conv, in, filter->h, filter->w, out));
    if (filter->n != 1 || filter->c != out->c || out->c % in->c != 0)
        return TQ_ERR_SHAPE;
    if (max_taps > 0 && (int64_t)filter->h * filter->w > max_taps)
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__dims_count(in, in_count));
    TQ_CHECK(tq__dims_count(filter, filter_count));
    return tq__dims_count(out, out_count);
}

tq_status tq__check_int_pool(const tq_pool_params *pool, const tq_dims *in,
                             const void *in_data, const tq_dims *out,
                             const void *out_data, size_t elem_size,
                             int32_t act_min, int32_t act_max, int32_t lo,
                             int32_t hi)
{
    size_t in_count, out_count;
    if (!in_data || !out_data)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_pool_geometry(pool, in, out));
    TQ_CHECK(tq__dims_count(in, &in_count));
    TQ_CHECK(tq__dims_count(out, &out_count));
    if (act_min < lo || act_max > hi || act_min > act_max)
        return TQ_ERR_PARAM;
    if (tq__mul_size(in_count, elem_size, &in_count) ||
        tq__mul_size(out_count, elem_size, &out_count))
        return TQ_ERR_OVERFLOW;
    if (tq__overlap(out_data, out_count, in_data, in_count))
        return TQ_ERR_ALIAS;
    return TQ_OK;
}

/* Out of line: every kernel validates through it once per call, and one
 * copy is less code than one per kernel. */
tq_status tq__check_alias(const tq__span *w, int nw, const tq__span *r,
                          int nr)
{
    for (int i = 0; i < nw; ++i) {
        if (!w[i].p)
            continue;
        for (int j = i + 1; j < nw; ++j)
            if (w[j].p && tq__overlap(w[i].p, w[i].bytes, w[j].p, w[j].bytes))
                return TQ_ERR_ALIAS;
        for (int j = 0; j < nr; ++j)
            if (r[j].p && tq__overlap(w[i].p, w[i].bytes, r[j].p, r[j].bytes))
                return TQ_ERR_ALIAS;
    }
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

/* ---- helpers for callers who know the output size (TF, CMSIS-NN) ----- */

/* (out − 1)·stride + window − in − pad_before: the padding after that the
 * formula needs for exactly `out` outputs, negative when the input is
 * already longer than that. All arguments validated; |result| < 2^63. */
static int64_t pad_needed(int32_t in, int32_t k, int32_t stride,
                          int32_t dilation, int32_t pad_before, int32_t out)
{
    const int64_t window = (int64_t)dilation * (k - 1) + 1;
    return ((int64_t)out - 1) * stride + window - in - pad_before;
}

/* pad_after for `out` outputs given pad_before, or an error: with a
 * negative need the formula gives `out` at pad 0 only while the surplus
 * stays below one stride. */
static tq_status pad_after_for(int32_t in, int32_t k, int32_t stride,
                               int32_t dilation, int32_t pad_before,
                               int32_t out, int64_t *pad_after)
{
    const int64_t need = pad_needed(in, k, stride, dilation, pad_before, out);
    if (need <= -(int64_t)stride)
        return TQ_ERR_SHAPE;
    *pad_after = need > 0 ? need : 0;
    return TQ_OK;
}

tq_status tq_conv_same_padding(int32_t in, int32_t k, int32_t stride,
                               int32_t dilation, int32_t out,
                               int32_t *pad_before, int32_t *pad_after)
{
    if (!pad_before || !pad_after)
        return TQ_ERR_NULL;
    if (in < 1 || k < 1 || stride < 1 || dilation < 1 || out < 1)
        return TQ_ERR_PARAM;
    int64_t total;
    TQ_CHECK(pad_after_for(in, k, stride, dilation, 0, out, &total));
    const int64_t before = total / 2, after = total - before;
    if (after > INT32_MAX)
        return TQ_ERR_OVERFLOW;
    *pad_before = (int32_t)before;
    *pad_after = (int32_t)after;
    return TQ_OK;
}

tq_status tq_conv_pad_after(int32_t in, int32_t k, int32_t stride,
                            int32_t dilation, int32_t pad_before, int32_t out,
                            int32_t *pad_after)
{
    if (!pad_after)
        return TQ_ERR_NULL;
    if (in < 1 || k < 1 || stride < 1 || dilation < 1 || pad_before < 0 ||
        out < 1)
        return TQ_ERR_PARAM;
    int64_t pa;
    TQ_CHECK(pad_after_for(in, k, stride, dilation, pad_before, out, &pa));
    if (pa > INT32_MAX)
        return TQ_ERR_OVERFLOW;
    *pad_after = (int32_t)pa;
    return TQ_OK;
}

/* ---- naming the first inconsistent field ------------------------------ */

static tq_status found(tq_geometry_report *r, tq_status st, int32_t field,
                       int32_t value, int32_t expected, int32_t pad_after)
{
    r->field = field;
    r->value = value;
    r->expected = expected;
    r->pad_after = pad_after;
    return st;
}

/* Extents >= 1, n, h, w, c in turn; `first` is the field of n. */
static tq_status check_extents(const tq_dims *d, int32_t first,
                               tq_geometry_report *r)
{
    const int32_t v[4] = {d->n, d->h, d->w, d->c};
    for (int32_t i = 0; i < 4; ++i)
        if (v[i] < 1)
            return found(r, TQ_ERR_SHAPE, first + i, v[i], -1, -1);
    return TQ_OK;
}

/* One axis: the window fits, the formula's extent fits int32, and the
 * given output extent equals it. A fix for the pad after is offered only
 * up to max_pad (a pool's pads stay below its window). */
static tq_status check_axis(int32_t in, int32_t k, int32_t stride,
                            int32_t dilation, int32_t pad_before,
                            int32_t pad_after, int32_t out,
                            int32_t window_field, int32_t out_field,
                            int32_t max_pad, tq_geometry_report *r)
{
    int32_t want, fix;
    if (tq_conv_pad_after(in, k, stride, dilation, pad_before, out, &fix) !=
            TQ_OK ||
        fix > max_pad)
        fix = -1;
    const tq_status st = tq_conv_output_size(in, k, stride, dilation,
                                             pad_before, pad_after, &want);
    if (st == TQ_ERR_SHAPE)
        return found(r, st, window_field, k, -1, fix);
    if (st != TQ_OK)
        return found(r, st, out_field, out, -1, -1);
    if (want != out)
        return found(r, TQ_ERR_SHAPE, out_field, out, want, fix);
    return TQ_OK;
}

tq_status tq_conv_check_geometry(const tq_conv_params *conv,
                                 const tq_dims *in_dims,
                                 const tq_dims *filter_dims,
                                 const tq_dims *out_dims, int32_t depthwise,
                                 tq_geometry_report *report)
{
    if (!report)
        return TQ_ERR_NULL;
    tq_geometry_report *r = report;
    if (!conv || !in_dims || !filter_dims || !out_dims)
        return found(r, TQ_ERR_NULL, TQ_GEOM_OK, 0, -1, -1);
    if (depthwise != 0 && depthwise != 1)
        return found(r, TQ_ERR_PARAM, TQ_GEOM_OK, 0, -1, -1);
    /* The params in struct order. */
    const int32_t p[8] = {conv->stride_h,   conv->stride_w, conv->pad_top,
                          conv->pad_bottom, conv->pad_left, conv->pad_right,
                          conv->dilation_h, conv->dilation_w};
    for (int32_t i = 0; i < 8; ++i) {
        const int32_t least = (i >= 2 && i < 6) ? 0 : 1;
        if (p[i] < least)
            return found(r, TQ_ERR_PARAM, TQ_GEOM_STRIDE_H + i, p[i], -1, -1);
    }
    if (!depthwise && conv->groups < 1)
        return found(r, TQ_ERR_PARAM, TQ_GEOM_GROUPS, conv->groups, -1, -1);
    TQ_CHECK(check_extents(in_dims, TQ_GEOM_IN_N, r));
    TQ_CHECK(check_extents(filter_dims, TQ_GEOM_FILTER_N, r));
    TQ_CHECK(check_extents(out_dims, TQ_GEOM_OUT_N, r));
    TQ_CHECK(check_axis(in_dims->h, filter_dims->h, conv->stride_h,
                        conv->dilation_h, conv->pad_top, conv->pad_bottom,
                        out_dims->h, TQ_GEOM_FILTER_H, TQ_GEOM_OUT_H, INT32_MAX,
                        r));
    TQ_CHECK(check_axis(in_dims->w, filter_dims->w, conv->stride_w,
                        conv->dilation_w, conv->pad_left, conv->pad_right,
                        out_dims->w, TQ_GEOM_FILTER_W, TQ_GEOM_OUT_W, INT32_MAX,
                        r));
    if (out_dims->n != in_dims->n)
        return found(r, TQ_ERR_SHAPE, TQ_GEOM_OUT_N, out_dims->n, in_dims->n,
                     -1);
    if (depthwise) {
        if (filter_dims->n != 1)
            return found(r, TQ_ERR_SHAPE, TQ_GEOM_FILTER_N, filter_dims->n, 1,
                         -1);
        if (out_dims->c != filter_dims->c)
            return found(r, TQ_ERR_SHAPE, TQ_GEOM_OUT_C, out_dims->c,
                         filter_dims->c, -1);
        if (out_dims->c % in_dims->c != 0)
            return found(r, TQ_ERR_SHAPE, TQ_GEOM_OUT_C, out_dims->c, -1, -1);
    } else {
        const int32_t g = conv->groups;
        if (in_dims->c % g != 0)
            return found(r, TQ_ERR_SHAPE, TQ_GEOM_GROUPS, g, -1, -1);
        if (filter_dims->c != in_dims->c / g)
            return found(r, TQ_ERR_SHAPE, TQ_GEOM_FILTER_C, filter_dims->c,
                         in_dims->c / g, -1);
        if (out_dims->c != filter_dims->n)
            return found(r, TQ_ERR_SHAPE, TQ_GEOM_OUT_C, out_dims->c,
                         filter_dims->n, -1);
        if (out_dims->c % g != 0)
            return found(r, TQ_ERR_SHAPE, TQ_GEOM_GROUPS, g, -1, -1);
    }
    return found(r, TQ_OK, TQ_GEOM_OK, 0, -1, -1);
}

tq_status tq_pool_check_geometry(const tq_pool_params *pool,
                                 const tq_dims *in_dims,
                                 const tq_dims *out_dims,
                                 tq_geometry_report *report)
{
    if (!report)
        return TQ_ERR_NULL;
    tq_geometry_report *r = report;
    if (!pool || !in_dims || !out_dims)
        return found(r, TQ_ERR_NULL, TQ_GEOM_OK, 0, -1, -1);
    if (pool->kernel_h < 1)
        return found(r, TQ_ERR_PARAM, TQ_GEOM_KERNEL_H, pool->kernel_h, -1, -1);
    if (pool->kernel_w < 1)
        return found(r, TQ_ERR_PARAM, TQ_GEOM_KERNEL_W, pool->kernel_w, -1, -1);
    if (pool->stride_h < 1)
        return found(r, TQ_ERR_PARAM, TQ_GEOM_STRIDE_H, pool->stride_h, -1, -1);
    if (pool->stride_w < 1)
        return found(r, TQ_ERR_PARAM, TQ_GEOM_STRIDE_W, pool->stride_w, -1, -1);
    const int32_t pads[4] = {pool->pad_top, pool->pad_bottom, pool->pad_left,
                             pool->pad_right};
    for (int32_t i = 0; i < 4; ++i) {
        const int32_t k = i < 2 ? pool->kernel_h : pool->kernel_w;
        if (pads[i] < 0 || pads[i] >= k)
            return found(r, TQ_ERR_PARAM, TQ_GEOM_PAD_TOP + i, pads[i], -1, -1);
    }
    TQ_CHECK(check_extents(in_dims, TQ_GEOM_IN_N, r));
    TQ_CHECK(check_extents(out_dims, TQ_GEOM_OUT_N, r));
    TQ_CHECK(check_axis(in_dims->h, pool->kernel_h, pool->stride_h, 1,
                        pool->pad_top, pool->pad_bottom, out_dims->h,
                        TQ_GEOM_KERNEL_H, TQ_GEOM_OUT_H, pool->kernel_h - 1,
                        r));
    TQ_CHECK(check_axis(in_dims->w, pool->kernel_w, pool->stride_w, 1,
                        pool->pad_left, pool->pad_right, out_dims->w,
                        TQ_GEOM_KERNEL_W, TQ_GEOM_OUT_W, pool->kernel_w - 1,
                        r));
    if (out_dims->n != in_dims->n)
        return found(r, TQ_ERR_SHAPE, TQ_GEOM_OUT_N, out_dims->n, in_dims->n,
                     -1);
    if (out_dims->c != in_dims->c)
        return found(r, TQ_ERR_SHAPE, TQ_GEOM_OUT_C, out_dims->c, in_dims->c,
                     -1);
    return found(r, TQ_OK, TQ_GEOM_OK, 0, -1, -1);
}
