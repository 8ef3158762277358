/*
 * NEON int8 elementwise MUL (the dispatch entry s8_mul), bit for bit
 * tq__s8_mul_row_ref() (lib/s8/mul.c): 16 elements per step.
 *
 * d = x + offset lies in [-255, 255] (x in [-128, 127], offset in
 * [-127, 128]): int16 lanes, and SMULL gives the exact int32 products
 * (|d1·d2| <= 65025 < 2^16). Their requantization is tq__requant():
 *
 * - Single rounding: (prod·M + 2^(total-1)) >> total with total = 31 -
 *   shift in [1, 62], in int64 lanes (SMULL of int32, SRSHL by -total,
 *   which rounds half up without overflow), saturated to int32 by SQXTN.
 * - Double rounding (TFLite): x·2^left fits int32 for every product
 *   when left <= 15 (65025·2^15 < 2^31), so the left-shift overflow rule
 *   of tq__requant() never applies; a larger left shift (a real scale
 *   >= 2^15, never seen in a model) goes to the reference. Then
 *   SaturatingRoundingDoublingHighMul is SQRDMULH: (2·a·M + 2^31) >> 32,
 *   ties up, as gemmlowp's nudge of 2^30 or 1 - 2^30 and truncating
 *   division round them too (a = M = INT32_MIN, its one saturating
 *   case, cannot occur with M >= 0). Then RoundingDivideByPOT (ties away
 *   from zero) as gemmlowp's NEON code does it: a negative value less 1
 *   (saturating), SRSHL by -right.
 *
 * The zero point is added with int32 saturation and the clamp to
 * [act_min, act_max] (inside [-128, 127]) applied before narrowing: a
 * saturated sum lies outside the int8 range on the side of the exact one,
 * so the clamp gives the reference's byte.
 *
 * Strides: 0 broadcasts one value (the scalar side of a broadcast MUL), 1
 * reads a full row. An output equal to a full-stride input is fine: each
 * block of 16 is loaded before it is stored.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "aarch64_neon.h"

typedef struct mul_stage {
    int16x8_t off1, off2; /* input offsets */
    int32x4_t mult;       /* output multiplier */
    int32x4_t left;       /* double rounding: left shift (>= 0) */
    int32x4_t right_neg;  /* double rounding: -right (<= 0) */
    int64x2_t total_neg;  /* single rounding: -(31 - shift) */
    int32x4_t offset;     /* output zero point */
    int32x4_t lo, hi;     /* activation clamp */
} mul_stage;

/* tq__requant() of 4 products (see the top of the file); @p single
 * (TQ_ROUND_SINGLE) is a constant in every inlined copy, so the loops
 * carry no test of the rounding mode. */
TQ_NEON_INLINE int32x4_t requant4(int32x4_t x, const mul_stage *s,
                                  int single)
{
    if (single) {
        const int64x2_t p0 =
            vmull_s32(vget_low_s32(x), vget_low_s32(s->mult));
        const int64x2_t p1 = vmull_high_s32(x, s->mult);
        return vcombine_s32(vqmovn_s64(vrshlq_s64(p0, s->total_neg)),
                            vqmovn_s64(vrshlq_s64(p1, s->total_neg)));
    }
    const int32x4_t xs = vshlq_s32(x, s->left);
    const int32x4_t h = vqrdmulhq_s32(xs, s->mult);
    /* RoundingDivideByPOT(h, right): -1 for a negative h when right > 0
     * (the sign bit of right_neg is set then), rounding shift right. */
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(h, s->right_neg), 31);
    return vrshlq_s32(vqaddq_s32(h, fixup), s->right_neg);
}

/* Zero point, clamp, and 4 results as int16. */
TQ_NEON_INLINE int16x4_t finish4(int32x4_t r, const mul_stage *s)
{
    const int32x4_t v = vqaddq_s32(r, s->offset);
    return vmovn_s32(vmaxq_s32(vminq_s32(v, s->hi), s->lo));
}

/* The 16 output bytes of d1·d2 (int16 lanes, offsets added). */
TQ_NEON_INLINE int8x16_t mul16(int16x8_t a0, int16x8_t a1, int16x8_t b0,
                               int16x8_t b1, const mul_stage *s, int single)
{
    const int32x4_t p0 = vmull_s16(vget_low_s16(a0), vget_low_s16(b0));
    const int32x4_t p1 = vmull_high_s16(a0, b0);
    const int32x4_t p2 = vmull_s16(vget_low_s16(a1), vget_low_s16(b1));
    const int32x4_t p3 = vmull_high_s16(a1, b1);
    const int16x8_t w0 = vcombine_s16(finish4(requant4(p0, s, single), s),
                                      finish4(requant4(p1, s, single), s));
    const int16x8_t w1 = vcombine_s16(finish4(requant4(p2, s, single), s),
                                      finish4(requant4(p3, s, single), s));
    return vcombine_s8(vmovn_s16(w0), vmovn_s16(w1));
}

/* 16 int8 values with the offset added, as two int16x8. */
TQ_NEON_INLINE void widen(int8x16_t v, int16x8_t off, int16x8_t *lo,
                          int16x8_t *hi)
{
    *lo = vaddq_s16(vmovl_s8(vget_low_s8(v)), off);
    *hi = vaddq_s16(vmovl_high_s8(v), off);
}

/* The loop with both strides and the rounding known at compile time. */
TQ_NEON_INLINE void mul_loop(size_t n, const int8_t *a, size_t sa,
                             const int8_t *b, size_t sb, const mul_stage *s,
                             int single, int8_t *out)
{
    int16x8_t ca0, ca1, cb0, cb1; /* a broadcast side, every step */
    widen(vdupq_n_s8(a[0]), s->off1, &ca0, &ca1);
    widen(vdupq_n_s8(b[0]), s->off2, &cb0, &cb1);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        int16x8_t a0 = ca0, a1 = ca1, b0 = cb0, b1 = cb1;
        if (sa)
            widen(vld1q_s8(a + i), s->off1, &a0, &a1);
        if (sb)
            widen(vld1q_s8(b + i), s->off2, &b0, &b1);
        vst1q_s8(out + i, mul16(a0, a1, b0, b1, s, single));
    }
    if (i < n) {
        int8_t ta[16] = {0}, tb[16] = {0}, to[16];
        const size_t r = n - i;
        int16x8_t a0 = ca0, a1 = ca1, b0 = cb0, b1 = cb1;
        if (sa) {
            memcpy(ta, a + i, r);
            widen(vld1q_s8(ta), s->off1, &a0, &a1);
        }
        if (sb) {
            memcpy(tb, b + i, r);
            widen(vld1q_s8(tb), s->off2, &b0, &b1);
        }
        vst1q_s8(to, mul16(a0, a1, b0, b1, s, single));
        memcpy(out + i, to, r);
    }
}

/* The four stride cases for one rounding mode. */
TQ_NEON_INLINE void mul_strides(size_t n, const int8_t *a, size_t sa,
                                const int8_t *b, size_t sb,
                                const mul_stage *s, int single, int8_t *out)
{
    if (sa && sb)
        mul_loop(n, a, 1, b, 1, s, single, out);
    else if (sa)
        mul_loop(n, a, 1, b, 0, s, single, out);
    else if (sb)
        mul_loop(n, a, 0, b, 1, s, single, out);
    else
        mul_loop(n, a, 0, b, 0, s, single, out);
}

void tq__neon_s8_mul(size_t n, const int8_t *a, size_t sa, const int8_t *b,
                     size_t sb, const tq_s8_mul_params *p, int8_t *out)
{
    if (n == 0)
        return;
    const int32_t left = p->output_shift > 0 ? p->output_shift : 0;
    const int32_t right = p->output_shift > 0 ? 0 : -p->output_shift;
    if (p->rounding != TQ_ROUND_SINGLE && left > 15) {
        tq__s8_mul_row_ref(n, a, sa, b, sb, p, out);
        return;
    }
    mul_stage s;
    s.off1 = vdupq_n_s16((int16_t)p->input1_offset);
    s.off2 = vdupq_n_s16((int16_t)p->input2_offset);
    s.mult = vdupq_n_s32(p->output_multiplier);
    s.left = vdupq_n_s32(left);
    s.right_neg = vdupq_n_s32(-right);
    s.total_neg = vdupq_n_s64(-(int64_t)(31 - p->output_shift));
    s.offset = vdupq_n_s32(p->output_offset);
    s.lo = vdupq_n_s32(p->act_min);
    s.hi = vdupq_n_s32(p->act_max);
    if (p->rounding == TQ_ROUND_SINGLE)
        mul_strides(n, a, sa, b, sb, &s, 1, out);
    else
        mul_strides(n, a, sa, b, sb, &s, 0, out);
}
