/*
 * int16 max and average pooling (TFLite MAX_POOL_2D / AVERAGE_POOL_2D on
 * int16): the int8 rules unchanged on the int16 range. No requantization:
 * the output keeps the input's scale.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "s16_internal.h"

typedef enum pool_kind { POOL_MAX, POOL_AVG } pool_kind;

static tq_status pool(pool_kind kind, const tq_pool_params *p,
                      const tq_dims *in_dims, const int16_t *in,
                      int32_t act_min, int32_t act_max,
                      const tq_dims *out_dims, int16_t *out)
{
    size_t in_count, out_count;
    if (!in || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_pool_geometry(p, in_dims, out_dims));
    TQ_CHECK(tq__dims_count(in_dims, &in_count));
    TQ_CHECK(tq__dims_count(out_dims, &out_count));
    if (act_min < INT16_MIN || act_max > INT16_MAX || act_min > act_max)
        return TQ_ERR_PARAM;
    if (tq__mul_size(in_count, sizeof(int16_t), &in_count) ||
        tq__mul_size(out_count, sizeof(int16_t), &out_count))
        return TQ_ERR_OVERFLOW;
    if (tq__overlap(out, out_count, in, in_count))
        return TQ_ERR_ALIAS;

    const size_t c_count = (size_t)in_dims->c;
    const size_t row_stride = (size_t)in_dims->w * c_count;
    for (int32_t n = 0; n < out_dims->n; ++n) {
        const int16_t *img = in + (size_t)n * (size_t)in_dims->h * row_stride;
        for (int32_t oy = 0; oy < out_dims->h; ++oy) {
            int32_t y0, y1;
            tq__pool_window(oy, p->stride_h, p->pad_top, p->kernel_h,
                            in_dims->h, &y0, &y1);
            for (int32_t ox = 0; ox < out_dims->w; ++ox) {
                int32_t x0, x1;
                tq__pool_window(ox, p->stride_w, p->pad_left, p->kernel_w,
                                in_dims->w, &x0, &x1);
                int16_t *dst = out + (((size_t)n * (size_t)out_dims->h +
                                       (size_t)oy) * (size_t)out_dims->w +
                                      (size_t)ox) * c_count;
                const int64_t taps = (int64_t)(y1 - y0) * (x1 - x0);
                for (size_t c = 0; c < c_count; ++c) {
                    int64_t r;
                    if (kind == POOL_MAX) {
                        int32_t best = INT16_MIN;
                        for (int32_t y = y0; y < y1; ++y)
                            for (int32_t x = x0; x < x1; ++x) {
                                const int32_t v =
                                    img[(size_t)y * row_stride +
                                        (size_t)x * c_count + c];
                                best = v > best ? v : best;
                            }
                        r = best;
                    } else {
                        /* int64: the taps are input pixels held in memory
                         * (far fewer than 2^48), each |v| <= 2^15. */
                        int64_t sum = 0;
                        for (int32_t y = y0; y < y1; ++y)
                            for (int32_t x = x0; x < x1; ++x)
                                sum += img[(size_t)y * row_stride +
                                           (size_t)x * c_count + c];
                        /* Half away from zero, C division truncating. */
                        r = (sum > 0 ? sum + taps / 2 : sum - taps / 2) / taps;
                    }
                    dst[c] = (int16_t)(r < act_min ? act_min
                                                   : (r > act_max ? act_max : r));
                }
            }
        }
    }
    return TQ_OK;
}

tq_status tq_s16_max_pool(const tq_pool_params *pool_params,
                          const tq_dims *in_dims, const int16_t *in,
                          int32_t act_min, int32_t act_max,
                          const tq_dims *out_dims, int16_t *out)
{
    return pool(POOL_MAX, pool_params, in_dims, in, act_min, act_max,
                out_dims, out);
}

tq_status tq_s16_avg_pool(const tq_pool_params *pool_params,
                          const tq_dims *in_dims, const int16_t *in,
                          int32_t act_min, int32_t act_max,
                          const tq_dims *out_dims, int16_t *out)
{
    return pool(POOL_AVG, pool_params, in_dims, in, act_min, act_max,
                out_dims, out);
}
