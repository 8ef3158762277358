/*
 * f32 kernels that move values rather than compute them, plus the global
 * average pool: channel concatenation, spatial padding.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "f32_internal.h"

tq_status tq_f32_concat(size_t rows, int32_t n_inputs,
                        const float *const *inputs, const int32_t *channels,
                        float *out)
{
    size_t width = 0, total;
    if (!inputs || !channels || !out)
        return TQ_ERR_NULL;
    if (n_inputs < 1)
        return TQ_ERR_SHAPE;
    for (int32_t i = 0; i < n_inputs; ++i) {
        if (channels[i] < 1)
            return TQ_ERR_SHAPE;
        if (!inputs[i])
            return TQ_ERR_NULL;
        width += (size_t)channels[i]; /* < 2^31 · 2^31 */
    }
    if (tq__mul_size(rows, width, &total) || total > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    for (int32_t i = 0; i < n_inputs; ++i)
        if (tq__overlap(out, total * sizeof(float), inputs[i],
                        rows * (size_t)channels[i] * sizeof(float)))
            return TQ_ERR_ALIAS;
    for (size_t r = 0; r < rows; ++r) {
        float *o = out + r * width;
        for (int32_t i = 0; i < n_inputs; ++i) {
            const size_t c = (size_t)channels[i];
            memcpy(o, inputs[i] + r * c, c * sizeof(float));
            o += c;
        }
    }
    return TQ_OK;
}

tq_status tq_f32_pad(const tq_dims *in_dims, const float *in, int32_t pad_top,
                     int32_t pad_bottom, int32_t pad_left, int32_t pad_right,
                     float value, const tq_dims *out_dims, float *out)
{
    size_t in_count, out_count;
    if (!in_dims || !out_dims || !in || !out)
        return TQ_ERR_NULL;
    if (pad_top < 0 || pad_bottom < 0 || pad_left < 0 || pad_right < 0)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq__check_dims(in_dims));
    TQ_CHECK(tq__check_dims(out_dims));
    if (out_dims->n != in_dims->n || out_dims->c != in_dims->c ||
        (int64_t)out_dims->h != (int64_t)in_dims->h + pad_top + pad_bottom ||
        (int64_t)out_dims->w != (int64_t)in_dims->w + pad_left + pad_right)
        return TQ_ERR_SHAPE;
    TQ_CHECK(tq__dims_count(in_dims, &in_count));
    TQ_CHECK(tq__dims_count(out_dims, &out_count));
    if (out_count > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    if (tq__overlap(out, out_count * sizeof(float), in,
                    in_count * sizeof(float)))
        return TQ_ERR_ALIAS;
    const size_t c = (size_t)in_dims->c;
    const size_t ow = (size_t)out_dims->w, iw = (size_t)in_dims->w;
    for (size_t i = 0; i < out_count; ++i)
        out[i] = value;
    for (int32_t n = 0; n < in_dims->n; ++n)
        for (int32_t y = 0; y < in_dims->h; ++y) {
            const float *src =
                in + (((size_t)n * (size_t)in_dims->h + (size_t)y) * iw) * c;
            float *dst = out + (((size_t)n * (size_t)out_dims->h +
                                 (size_t)y + (size_t)pad_top) * ow +
                                (size_t)pad_left) * c;
            memcpy(dst, src, iw * c * sizeof(float));
        }
    return TQ_OK;
}

tq_status tq_f32_global_avg_pool(const tq_dims *in_dims, const float *in,
                                 float *out)
{
    size_t in_count;
    if (!in_dims || !in || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_dims(in_dims));
    TQ_CHECK(tq__dims_count(in_dims, &in_count));
    if (in_count > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    const size_t c = (size_t)in_dims->c;
    const size_t hw = (size_t)in_dims->h * (size_t)in_dims->w;
    if (tq__overlap(out, (size_t)in_dims->n * c * sizeof(float), in,
                    in_count * sizeof(float)))
        return TQ_ERR_ALIAS;
    /* Blocks of channels, each summed over the pixels in row order into
     * double accumulators on the stack: the image is read sequentially. */
    enum { BLOCK = 64 };
    double acc[BLOCK];
    for (int32_t n = 0; n < in_dims->n; ++n) {
        const float *image = in + (size_t)n * hw * c;
        for (size_t c0 = 0; c0 < c; c0 += BLOCK) {
            const size_t len = c - c0 < BLOCK ? c - c0 : BLOCK;
            for (size_t i = 0; i < len; ++i)
                acc[i] = 0.0;
            for (size_t p = 0; p < hw; ++p) {
                const float *px = image + p * c + c0;
                for (size_t i = 0; i < len; ++i)
                    acc[i] += (double)px[i];
            }
            for (size_t i = 0; i < len; ++i)
                out[(size_t)n * c + c0 + i] = (float)(acc[i] / (double)hw);
        }
    }
    return TQ_OK;
}
