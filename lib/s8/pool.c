/*
 * int8 max and average pooling (TFLite MAX_POOL_2D / AVERAGE_POOL_2D):
 * both walk the same clipped windows, so only the reduction differs.
 * No offsets, no requantization: the output keeps the input's scale and
 * zero point.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "s8_internal.h"

typedef enum pool_kind { POOL_MAX, POOL_AVG } pool_kind;

/* Channels reduced at once: the window is walked once per block, pixel by
 * pixel, and the channel loop innermost over contiguous NHWC bytes is one
 * the compiler vectorises (SSE2 in the x86-64 baseline, NEON on AArch64). */
#define POOL_BLOCK 64

/* The reduction of one window over channels [c0, c0 + cb), cb <=
 * POOL_BLOCK, into dst: the same values as the per-channel loop below. An
 * int32 sum is exact for windows of at most 2^23 taps (|x| <= 128). */
static void pool_block(pool_kind kind, const int8_t *img, size_t row_stride,
                       size_t c_count, int32_t y0, int32_t y1, int32_t x0,
                       int32_t x1, int32_t taps, size_t c0, int32_t cb,
                       int32_t act_min, int32_t act_max, int8_t *dst)
{
    int32_t acc[POOL_BLOCK];
    int8_t best[POOL_BLOCK];
    for (int32_t j = 0; j < cb; ++j) {
        acc[j] = 0;
        best[j] = -128;
    }
    for (int32_t y = y0; y < y1; ++y)
        for (int32_t x = x0; x < x1; ++x) {
            const int8_t *src =
                img + (size_t)y * row_stride + (size_t)x * c_count + c0;
            if (kind == POOL_MAX) {
                for (int32_t j = 0; j < cb; ++j)
                    best[j] = src[j] > best[j] ? src[j] : best[j];
            } else {
                for (int32_t j = 0; j < cb; ++j)
                    acc[j] += src[j];
            }
        }
    for (int32_t j = 0; j < cb; ++j) {
        int32_t r;
        if (kind == POOL_MAX) {
            r = best[j];
        } else {
            /* Half away from zero, C division truncating. */
            const int32_t sum = acc[j];
            r = (sum > 0 ? sum + taps / 2 : sum - taps / 2) / taps;
        }
        dst[c0 + (size_t)j] =
            (int8_t)(r < act_min ? act_min : (r > act_max ? act_max : r));
    }
}

static tq_status pool(pool_kind kind, const tq_pool_params *p,
                      const tq_dims *in_dims, const int8_t *in,
                      int32_t act_min, int32_t act_max,
                      const tq_dims *out_dims, int8_t *out)
{
    TQ_CHECK(tq__check_int_pool(p, in_dims, in, out_dims, out,
                                sizeof(int8_t), act_min, act_max, -128, 127));

    const size_t c_count = (size_t)in_dims->c;
    const size_t row_stride = (size_t)in_dims->w * c_count;
    for (int32_t n = 0; n < out_dims->n; ++n) {
        const int8_t *img = in + (size_t)n * (size_t)in_dims->h * row_stride;
        for (int32_t oy = 0; oy < out_dims->h; ++oy) {
            int32_t y0, y1;
            tq__pool_window(oy, p->stride_h, p->pad_top, p->kernel_h,
                            in_dims->h, &y0, &y1);
            for (int32_t ox = 0; ox < out_dims->w; ++ox) {
                int32_t x0, x1;
                tq__pool_window(ox, p->stride_w, p->pad_left, p->kernel_w,
                                in_dims->w, &x0, &x1);
                int8_t *dst = out + (((size_t)n * (size_t)out_dims->h +
                                      (size_t)oy) * (size_t)out_dims->w +
                                     (size_t)ox) * c_count;
                /* int64: the window may hold more than 2^24 pixels. */
                const int64_t taps = (int64_t)(y1 - y0) * (x1 - x0);
                if (taps <= (INT64_C(1) << 23)) {
                    for (size_t c0 = 0; c0 < c_count; c0 += POOL_BLOCK) {
                        const size_t left = c_count - c0;
                        pool_block(kind, img, row_stride, c_count, y0, y1, x0,
                                   x1, (int32_t)taps, c0,
                                   left < POOL_BLOCK ? (int32_t)left
                                                     : POOL_BLOCK,
                                   act_min, act_max, dst);
                    }
                    continue;
                }
                for (size_t c = 0; c < c_count; ++c) {
                    int64_t r;
                    if (kind == POOL_MAX) {
                        int32_t best = -128;
                        for (int32_t y = y0; y < y1; ++y)
                            for (int32_t x = x0; x < x1; ++x) {
                                const int32_t v =
                                    img[(size_t)y * row_stride +
                                        (size_t)x * c_count + c];
                                best = v > best ? v : best;
                            }
                        r = best;
                    } else {
                        int64_t sum = 0;
                        for (int32_t y = y0; y < y1; ++y)
                            for (int32_t x = x0; x < x1; ++x)
                                sum += img[(size_t)y * row_stride +
                                           (size_t)x * c_count + c];
                        /* Half away from zero, C division truncating. */
                        r = (sum > 0 ? sum + taps / 2 : sum - taps / 2) / taps;
                    }
                    dst[c] = (int8_t)(r < act_min ? act_min
                                                  : (r > act_max ? act_max : r));
                }
            }
        }
    }
    return TQ_OK;
}

tq_status tq_s8_max_pool(const tq_pool_params *pool_params,
                         const tq_dims *in_dims, const int8_t *in,
                         int32_t act_min, int32_t act_max,
                         const tq_dims *out_dims, int8_t *out)
{
    return pool(POOL_MAX, pool_params, in_dims, in, act_min, act_max,
                out_dims, out);
}

tq_status tq_s8_avg_pool(const tq_pool_params *pool_params,
                         const tq_dims *in_dims, const int8_t *in,
                         int32_t act_min, int32_t act_max,
                         const tq_dims *out_dims, int8_t *out)
{
    return pool(POOL_AVG, pool_params, in_dims, in, act_min, act_max,
                out_dims, out);
}
