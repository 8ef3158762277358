/*
 * f32 max and average pooling, NHWC. One window walker serves both: it
 * clips each window to the image (padded taps are ignored, and the pool
 * geometry check guarantees at least one real tap), reduces the taps in
 * row-major order straight into the output pixel, then, for the average,
 * divides by the number of real taps. The clamp comes last.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "f32_internal.h"

typedef enum pool_kind { POOL_MAX, POOL_AVG } pool_kind;

/* One output pixel: the taps rows [y0, y1) x columns [x0, x1) of image. */
static void pool_window(const float *image, int32_t in_w, int32_t c,
                        int64_t y0, int64_t y1, int64_t x0, int64_t x1,
                        pool_kind kind, float *o)
{
    int first = 1;
    for (int64_t y = y0; y < y1; ++y) {
        for (int64_t x = x0; x < x1; ++x) {
            const float *tap = image + ((size_t)y * in_w + (size_t)x) * c;
            if (first) {
                memcpy(o, tap, (size_t)c * sizeof(float));
                first = 0;
            } else if (kind == POOL_MAX) {
                for (int32_t i = 0; i < c; ++i)
                    o[i] = tq__f32_max_keep(o[i], tap[i]);
            } else {
                for (int32_t i = 0; i < c; ++i)
                    o[i] += tap[i];
            }
        }
    }
    if (kind == POOL_AVG) {
        const float count = (float)((y1 - y0) * (x1 - x0));
        for (int32_t i = 0; i < c; ++i)
            o[i] /= count;
    }
}

static tq_status pool_run(const tq_pool_params *pool, const tq_dims *in_dims,
                          const float *in, const tq_f32_act *act,
                          const tq_dims *out_dims, float *out, pool_kind kind)
{
    size_t in_count, out_count;
    if (!in || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_pool_geometry(pool, in_dims, out_dims));
    TQ_CHECK(tq__dims_count(in_dims, &in_count));
    TQ_CHECK(tq__dims_count(out_dims, &out_count));
    if (in_count > SIZE_MAX / sizeof(float) ||
        out_count > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__check_f32_act(act));
    if (tq__overlap(out, out_count * sizeof(float), in,
                    in_count * sizeof(float)))
        return TQ_ERR_ALIAS;

    const int32_t in_h = in_dims->h, in_w = in_dims->w, c = in_dims->c;
    const size_t row_floats = (size_t)out_dims->w * (size_t)c;
    for (int32_t n = 0; n < out_dims->n; ++n) {
        const float *image = in + (size_t)n * in_h * in_w * c;
        for (int32_t oy = 0; oy < out_dims->h; ++oy) {
            float *orow =
                out + ((size_t)n * out_dims->h + (size_t)oy) * row_floats;
            int32_t y0, y1;
            tq__pool_window(oy, pool->stride_h, pool->pad_top, pool->kernel_h,
                            in_h, &y0, &y1);
            for (int32_t ox = 0; ox < out_dims->w; ++ox) {
                int32_t x0, x1;
                tq__pool_window(ox, pool->stride_w, pool->pad_left,
                                pool->kernel_w, in_w, &x0, &x1);
                pool_window(image, in_w, c, y0, y1, x0, x1, kind,
                            orow + (size_t)ox * c);
            }
            tq__f32_bias_act_rows(out_dims->w, c, NULL, act, orow, (size_t)c);
        }
    }
    return TQ_OK;
}

tq_status tq_f32_max_pool(const tq_pool_params *pool, const tq_dims *in_dims,
                          const float *in, const tq_f32_act *act,
                          const tq_dims *out_dims, float *out)
{
    return pool_run(pool, in_dims, in, act, out_dims, out, POOL_MAX);
}

tq_status tq_f32_avg_pool(const tq_pool_params *pool, const tq_dims *in_dims,
                          const float *in, const tq_f32_act *act,
                          const tq_dims *out_dims, float *out)
{
    return pool_run(pool, in_dims, in, act, out_dims, out, POOL_AVG);
}
