/*
 * NEON inner products of the 16x8 kernels (s16_dot) and of the int4-weight
 * fully connected kernel (s4_dot). Integer sums are exact, so both give
 * the portable references' values whatever order they add in.
 *
 * s16_dot: 8 int16 inputs against 8 int8 weights widened to int16, two
 * widening multiply-accumulates into int32 lanes (one product per lane
 * per step, |product| <= 2^22), widened pairwise into int64 every 256
 * steps (2^30 at most per lane).
 *
 * s4_dot: 16 packed bytes split into sign-extended nibbles ((v ^ 8) − 8),
 * zipped back into element order, widened and multiplied with the int16
 * inputs; |sum| < 2^26 stays in int32.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "aarch64_neon.h"

/* Steps of 8 products an int32 lane may take: 256 · 2^22 = 2^30. */
#define S16_STEPS_PER_BLOCK 256

int64_t tq__neon_s16_dot(const int16_t *x, const int8_t *w, int32_t k)
{
    int64x2_t total = vdupq_n_s64(0);
    int32_t p = 0;
    while (k - p >= 8) {
        const int32_t steps = (k - p) / 8 < S16_STEPS_PER_BLOCK
                                  ? (k - p) / 8
                                  : S16_STEPS_PER_BLOCK;
        int32x4_t a0 = vdupq_n_s32(0), a1 = vdupq_n_s32(0);
        for (int32_t s = 0; s < steps; ++s, p += 8) {
            const int16x8_t xv = vld1q_s16(x + p);
            const int16x8_t wv = vmovl_s8(vld1_s8(w + p));
            a0 = vmlal_s16(a0, vget_low_s16(xv), vget_low_s16(wv));
            a1 = vmlal_high_s16(a1, xv, wv);
        }
        total = vpadalq_s32(total, a0);
        total = vpadalq_s32(total, a1);
    }
    int64_t sum = vaddvq_s64(total);
    for (; p < k; ++p)
        sum += (int32_t)x[p] * (int32_t)w[p];
    return sum;
}

static inline int32_t nibble(const uint8_t *packed, size_t i)
{
    const int32_t v = (packed[i >> 1] >> ((i & 1u) * 4u)) & 0xF;
    return (v ^ 8) - 8;
}

int32_t tq__neon_s4_dot(const int16_t *x, const uint8_t *packed, size_t first,
                        int32_t k)
{
    int32_t sum = 0, p = 0;
    /* A row starting on a high nibble: its first value alone. */
    if ((first & 1u) && k > 0) {
        sum += (int32_t)x[0] * nibble(packed, first);
        p = 1;
    }
    const uint8_t *src = packed + ((first + (size_t)p) >> 1);
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    int32x4_t a0 = vdupq_n_s32(0), a1 = vdupq_n_s32(0);
    for (; k - p >= 32; p += 32, src += 16) {
        const uint8x16_t b = vld1q_u8(src);
        const int8x16_t lo = vsubq_s8(
            veorq_s8(vreinterpretq_s8_u8(vandq_u8(b, low4)), eight), eight);
        const int8x16_t hi = vsubq_s8(
            veorq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), eight), eight);
        /* Element order: byte j's low nibble, then its high nibble. */
        const int8x16_t e0 = vzip1q_s8(lo, hi), e1 = vzip2q_s8(lo, hi);
        const int16x8_t w0 = vmovl_s8(vget_low_s8(e0));
        const int16x8_t w1 = vmovl_high_s8(e0);
        const int16x8_t w2 = vmovl_s8(vget_low_s8(e1));
        const int16x8_t w3 = vmovl_high_s8(e1);
        const int16x8_t x0 = vld1q_s16(x + p), x1 = vld1q_s16(x + p + 8);
        const int16x8_t x2 = vld1q_s16(x + p + 16), x3 = vld1q_s16(x + p + 24);
        a0 = vmlal_s16(a0, vget_low_s16(x0), vget_low_s16(w0));
        a1 = vmlal_high_s16(a1, x0, w0);
        a0 = vmlal_s16(a0, vget_low_s16(x1), vget_low_s16(w1));
        a1 = vmlal_high_s16(a1, x1, w1);
        a0 = vmlal_s16(a0, vget_low_s16(x2), vget_low_s16(w2));
        a1 = vmlal_high_s16(a1, x2, w2);
        a0 = vmlal_s16(a0, vget_low_s16(x3), vget_low_s16(w3));
        a1 = vmlal_high_s16(a1, x3, w3);
    }
    sum += vaddvq_s32(vaddq_s32(a0, a1));
    for (; p < k; ++p)
        sum += (int32_t)x[p] * nibble(packed, first + (size_t)p);
    return sum;
}
