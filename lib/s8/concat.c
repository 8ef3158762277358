/*
 * Concatenation of int8 tensors along one axis (TFLite CONCATENATION):
 * inputs with the output's quantization are copied, others requantized as
 * TFLite's ConcatenationWithScaling does (float, two roundings).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "s8_internal.h"

static void dims_array(const tq_dims *d, int32_t e[4])
{
    e[0] = d->n;
    e[1] = d->h;
    e[2] = d->w;
    e[3] = d->c;
}

tq_status tq_s8_concatenation(int32_t axis, int32_t count,
                              const tq_dims *in_dims, const int8_t *const *in,
                              const float *in_scales,
                              const int32_t *in_zero_points, float out_scale,
                              int32_t out_zero_point, const tq_dims *out_dims,
                              int8_t *out)
{
    size_t n_out;
    int32_t eo[4];
    if (!in_dims || !in || !out_dims || !out)
        return TQ_ERR_NULL;
    if (in_scales && !in_zero_points)
        return TQ_ERR_NULL;
    if (axis < 0 || axis > 3 || count < 1)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq__dims_count(out_dims, &n_out));
    dims_array(out_dims, eo);
    if (in_scales && (!isfinite(out_scale) || !(out_scale > 0.0f) ||
                      out_zero_point < -128 || out_zero_point > 127))
        return TQ_ERR_PARAM;
    int64_t total = 0;
    for (int32_t i = 0; i < count; ++i) {
        int32_t e[4];
        size_t n;
        TQ_CHECK(tq__dims_count(&in_dims[i], &n));
        if (!in[i])
            return TQ_ERR_NULL;
        dims_array(&in_dims[i], e);
        for (int d = 0; d < 4; ++d)
            if (d != axis && e[d] != eo[d])
                return TQ_ERR_SHAPE;
        total += e[axis];
        if (in_scales &&
            (!isfinite(in_scales[i]) || !(in_scales[i] > 0.0f) ||
             in_zero_points[i] < -128 || in_zero_points[i] > 127))
            return TQ_ERR_PARAM;
    }
    if (total != eo[axis])
        return TQ_ERR_SHAPE;
    for (int32_t i = 0; i < count; ++i) {
        size_t n;
        (void)tq__dims_count(&in_dims[i], &n);
        if (tq__overlap(in[i], n, out, n_out))
            return TQ_ERR_ALIAS;
    }

    /* outer: product of the extents before the axis; each input then
     * contributes blocks of e[axis] · (product after the axis). */
    size_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d)
        outer *= (size_t)eo[d];
    for (int d = axis + 1; d < 4; ++d)
        inner *= (size_t)eo[d];
    const float inv_out = 1.0f / out_scale;
    size_t col = 0; /* offset of input i's block inside an output row */
    const size_t out_row = (size_t)eo[axis] * inner;
    for (int32_t i = 0; i < count; ++i) {
        int32_t e[4];
        dims_array(&in_dims[i], e);
        const size_t blk = (size_t)e[axis] * inner;
        const int copy = !in_scales || (in_scales[i] == out_scale &&
                                        in_zero_points[i] == out_zero_point);
        float scale = 0.0f, bias = 0.0f;
        if (!copy) {
            scale = in_scales[i] * inv_out;
            bias = (float)(-in_zero_points[i]) * scale;
        }
        for (size_t o = 0; o < outer; ++o) {
            const int8_t *src = in[i] + o * blk;
            int8_t *dst = out + o * out_row + col;
            if (copy) {
                memcpy(dst, src, blk);
                continue;
            }
            for (size_t j = 0; j < blk; ++j) {
                /* Two float roundings, as TFLite: the build is ISO C11
                 * (-std=c11), where the compilers do not fuse x·s + b. */
                const float prod = (float)src[j] * scale;
                const float sum = prod + bias;
                const float r = roundf(sum);
                /* |sum| <= 255 · (s_i / s_out) may be huge: clamp first. */
                int32_t v;
                if (r >= 256.0f)
                    v = 256;
                else if (r <= -256.0f)
                    v = -256;
                else
                    v = (int32_t)r;
                v += out_zero_point;
                dst[j] = (int8_t)tq__clamp_i32(v, -128, 127);
            }
        }
        col += blk;
    }
    return TQ_OK;
}
