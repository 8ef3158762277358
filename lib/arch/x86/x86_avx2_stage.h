/*
 * The s8 output stage on 8 int32 lanes at once (AVX2), bit for bit
 * tq__requant() and the clamp of lib/s8/s8_internal.h: the TFLite
 * requantization in both rounding modes with per-lane multipliers and
 * shifts (a lane is an output channel), the output zero point and the
 * activation clamp. Used by the AVX2 GEMM / conv epilogue (s8_finish) and
 * the AVX2 elementwise add.
 *
 * Why the shortcuts are exact:
 *  - SRDHM: the reference adds 2^30 (ab >= 0) or 1 - 2^30 (ab < 0) and
 *    divides by 2^31 truncating toward zero; for ab < 0 that equals
 *    flooring after adding 2^30, so both cases are floor((ab + 2^30) /
 *    2^31) (its saturating case needs a multiplier of -2^31, which no
 *    stage holds). The quotient fits in int32, and its low 32 bits are
 *    bits 31..62 of ab + 2^30 whether the 64-bit shift is arithmetic or
 *    logical, so a logical shift (all AVX2 has for 64-bit lanes) does.
 *  - Single rounding: floor((x·m + 2^(t-1)) / 2^t), t = 31 - shift in
 *    [1, 62]. The sum q is first clamped to [L·2^t, (H+1)·2^t - 1] where
 *    L, H are the clamp bounds less the zero point (for t <= 54, where
 *    these fit; larger t leave |q / 2^t| < 2^9 anyway), so the quotient
 *    lands in [L, H] exactly as the saturated reference would after its
 *    clamp. The arithmetic shift is a logical one of q + 2^63 (unsigned,
 *    no wrap), which adds 2^(63-t) to the quotient; that is taken back in
 *    the 32-bit lane, modulo 2^32.
 *  - Double rounding: x · 2^left is computed with wrap-around; the lanes
 *    where it leaves int32 (TFLite undefined there) are recomputed by
 *    tq__requant() (the exact product, rounded, then saturated: the rule
 *    of docs/quantization.md). Such lanes are rare.
 *  - Clamp and zero point: clamp(r + zp, lo, hi) = clamp(r, lo - zp,
 *    hi - zp) + zp, and the right side never overflows.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_ARCH_X86_AVX2_STAGE_H
#define TQ_ARCH_X86_AVX2_STAGE_H

#include "../../tq_internal.h"
#include "x86_avx2.h"

typedef struct tq__avx2_stage {
    __m256i mult, mult_odd;   /* Q31 multipliers; odd lanes moved down */
    __m256i left, right;      /* double rounding: the shift split in two */
    __m256i rmask, rhalf;     /* 2^right - 1 and its half */
    __m256i total_e, total_o; /* single rounding, per 64-bit half: t, */
    __m256i round_e, round_o; /* 2^(t-1), */
    __m256i qlo_e, qlo_o;     /* the clamp of q, */
    __m256i qhi_e, qhi_o;
    __m256i corr;             /* 2^(63-t) mod 2^32 per int32 lane */
    __m256i lo, hi, offset;   /* clamp less the zero point; zero point */
    int single, any_left;
} tq__avx2_stage;

/* The 64-bit parts of single rounding for the shifts sh[0..7]. */
TQ_AVX2_INLINE void tq__avx2_stage_single(tq__avx2_stage *s,
                                          const int32_t sh[8], int32_t lo,
                                          int32_t hi)
{
    int64_t tot[8], rnd[8], qlo[8], qhi[8];
    uint32_t corr[8];
    for (int l = 0; l < 8; ++l) {
        const int32_t t = 31 - sh[l];
        tot[l] = t;
        rnd[l] = INT64_C(1) << (t - 1);
        if (t <= 54) {
            qlo[l] = (int64_t)lo * (INT64_C(1) << t);
            qhi[l] = ((int64_t)hi + 1) * (INT64_C(1) << t) - 1;
        } else {
            qlo[l] = INT64_MIN;
            qhi[l] = INT64_MAX;
        }
        corr[l] = (uint32_t)(UINT64_C(1) << (63 - t));
    }
    s->total_e = _mm256_setr_epi64x(tot[0], tot[2], tot[4], tot[6]);
    s->total_o = _mm256_setr_epi64x(tot[1], tot[3], tot[5], tot[7]);
    s->round_e = _mm256_setr_epi64x(rnd[0], rnd[2], rnd[4], rnd[6]);
    s->round_o = _mm256_setr_epi64x(rnd[1], rnd[3], rnd[5], rnd[7]);
    s->qlo_e = _mm256_setr_epi64x(qlo[0], qlo[2], qlo[4], qlo[6]);
    s->qlo_o = _mm256_setr_epi64x(qlo[1], qlo[3], qlo[5], qlo[7]);
    s->qhi_e = _mm256_setr_epi64x(qhi[0], qhi[2], qhi[4], qhi[6]);
    s->qhi_o = _mm256_setr_epi64x(qhi[1], qhi[3], qhi[5], qhi[7]);
    s->corr = _mm256_loadu_si256((const __m256i *)(const void *)corr);
}

/* The stage of 8 lanes with multipliers @p m and shifts @p shift (vectors),
 * zero point @p offset and clamp [act_min, act_max]. */
TQ_AVX2_INLINE void tq__avx2_stage_set(tq__avx2_stage *s, __m256i m,
                                       __m256i shift, int32_t rounding,
                                       int32_t offset, int32_t act_min,
                                       int32_t act_max)
{
    const __m256i zero = _mm256_setzero_si256();
    s->mult = m;
    s->mult_odd = _mm256_srli_epi64(m, 32);
    s->lo = _mm256_set1_epi32(act_min - offset);
    s->hi = _mm256_set1_epi32(act_max - offset);
    s->offset = _mm256_set1_epi32(offset);
    s->single = rounding == TQ_ROUND_SINGLE;
    if (s->single) {
        int32_t sh[8];
        s->left = s->right = s->rmask = s->rhalf = zero;
        _mm256_storeu_si256((__m256i *)(void *)sh, shift);
        tq__avx2_stage_single(s, sh, act_min - offset, act_max - offset);
        s->any_left = 0;
        return;
    }
    s->left = _mm256_max_epi32(shift, zero);
    s->right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
    s->rmask = _mm256_sub_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), s->right),
                                _mm256_set1_epi32(1));
    s->rhalf = _mm256_srli_epi32(s->rmask, 1);
    s->total_e = s->total_o = s->round_e = s->round_o = zero;
    s->qlo_e = s->qlo_o = s->qhi_e = s->qhi_o = s->corr = zero;
    s->any_left = !_mm256_testz_si256(s->left, s->left);
}

/* The stage of the n (1..8) consecutive output channels ch0 .. ch0 + n - 1
 * of @p os; idle lanes get multiplier 0 and shift 0. */
TQ_AVX2_INLINE void tq__avx2_stage_range(tq__avx2_stage *s,
                                         const tq_s8_output *os, int32_t ch0,
                                         int32_t n)
{
    __m256i m, shift;
    if (os->per_channel) {
        const __m256i live = _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        m = _mm256_maskload_epi32(os->multiplier + ch0, live);
        shift = _mm256_maskload_epi32(os->shift + ch0, live);
    } else {
        m = _mm256_set1_epi32(os->multiplier[0]);
        shift = _mm256_set1_epi32(os->shift[0]);
    }
    tq__avx2_stage_set(s, m, shift, os->rounding, os->output_offset,
                       os->act_min, os->act_max);
}

/* Even lanes from the low halves of e, odd lanes from the low halves of o. */
TQ_AVX2_INLINE __m256i tq__avx2_join(__m256i e, __m256i o)
{
    return _mm256_blend_epi32(e, _mm256_slli_epi64(o, 32), 0xaa);
}

/* max/min of signed 64-bit lanes. */
TQ_AVX2_INLINE __m256i tq__avx2_clamp_epi64(__m256i x, __m256i lo, __m256i hi)
{
    x = _mm256_blendv_epi8(x, lo, _mm256_cmpgt_epi64(lo, x));
    return _mm256_blendv_epi8(x, hi, _mm256_cmpgt_epi64(x, hi));
}

/* SRDHM(x, mult) of 8 lanes (see the top). */
TQ_AVX2_INLINE __m256i tq__avx2_srdhm(__m256i x, __m256i mult,
                                      __m256i mult_odd)
{
    const __m256i half = _mm256_set1_epi64x(INT64_C(1) << 30);
    const __m256i e = _mm256_srli_epi64(
        _mm256_add_epi64(_mm256_mul_epi32(x, mult), half), 31);
    /* Odd lanes: bits 31..62 of the sum moved to bits 32..63. */
    const __m256i o = _mm256_slli_epi64(
        _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), mult_odd),
                         half),
        1);
    return _mm256_blend_epi32(e, o, 0xaa);
}

/* RoundingDivideByPOT(r, right): ties away from zero. */
TQ_AVX2_INLINE __m256i tq__avx2_rdbpot(__m256i r, const tq__avx2_stage *s)
{
    const __m256i rem = _mm256_and_si256(r, s->rmask);
    const __m256i threshold = _mm256_add_epi32(s->rhalf, _mm256_srli_epi32(r, 31));
    const __m256i q = _mm256_srav_epi32(r, s->right);
    /* cmpgt gives -1 where the remainder is over the threshold. */
    return _mm256_sub_epi32(q, _mm256_cmpgt_epi32(rem, threshold));
}

/* Double rounding of 8 lanes whose shift has a left part: the fast
 * vector value where x · 2^left fits in int32, tq__requant() for the
 * others (their shift is left, right being 0). */
TQ_AVX2_INLINE __m256i tq__avx2_requant_left(__m256i x,
                                             const tq__avx2_stage *s)
{
    const __m256i v = _mm256_sllv_epi32(x, s->left);
    const __m256i ok = _mm256_cmpeq_epi32(_mm256_srav_epi32(v, s->left), x);
    const __m256i r = tq__avx2_rdbpot(tq__avx2_srdhm(v, s->mult, s->mult_odd), s);
    const int okbits = _mm256_movemask_ps(_mm256_castsi256_ps(ok));
    if (okbits == 0xff)
        return r;
    int32_t xs[8], ms[8], ls[8], rs[8];
    _mm256_storeu_si256((__m256i *)(void *)xs, x);
    _mm256_storeu_si256((__m256i *)(void *)ms, s->mult);
    _mm256_storeu_si256((__m256i *)(void *)ls, s->left);
    _mm256_storeu_si256((__m256i *)(void *)rs, r);
    for (int l = 0; l < 8; ++l)
        if (!((okbits >> l) & 1))
            rs[l] = tq__requant(xs[l], ms[l], ls[l], TQ_ROUND_DOUBLE);
    return _mm256_loadu_si256((const __m256i *)(const void *)rs);
}

/* Requantized value of 8 accumulators, clamped to [lo, hi] (less the zero
 * point); the zero point is not yet added. */
TQ_AVX2_INLINE __m256i tq__avx2_requant_clamped(__m256i x,
                                                const tq__avx2_stage *s)
{
    __m256i r;
    if (s->single) {
        __m256i e = _mm256_add_epi64(_mm256_mul_epi32(x, s->mult), s->round_e);
        __m256i o = _mm256_add_epi64(
            _mm256_mul_epi32(_mm256_srli_epi64(x, 32), s->mult_odd), s->round_o);
        /* Clamp the signed sum, then add 2^63 (xor with the sign bit) so
         * that a logical shift floors it (see the top). */
        const __m256i sign = _mm256_set1_epi64x(INT64_MIN);
        e = _mm256_xor_si256(tq__avx2_clamp_epi64(e, s->qlo_e, s->qhi_e), sign);
        o = _mm256_xor_si256(tq__avx2_clamp_epi64(o, s->qlo_o, s->qhi_o), sign);
        e = _mm256_srlv_epi64(e, s->total_e);
        o = _mm256_srlv_epi64(o, s->total_o);
        r = _mm256_sub_epi32(tq__avx2_join(e, o), s->corr);
    } else {
        r = s->any_left ? tq__avx2_requant_left(x, s)
                        : tq__avx2_rdbpot(tq__avx2_srdhm(x, s->mult, s->mult_odd), s);
    }
    return _mm256_min_epi32(_mm256_max_epi32(r, s->lo), s->hi);
}

/* Requantized value of 8 accumulators, not yet clamped where nothing can
 * overflow (double rounding), clamped to [lo, hi] otherwise; for
 * tq__avx2_pack16(), which saturates. */
TQ_AVX2_INLINE __m256i tq__avx2_requant_raw(__m256i x, const tq__avx2_stage *s)
{
    if (s->single)
        return tq__avx2_requant_clamped(x, s);
    return s->any_left
               ? tq__avx2_requant_left(x, s)
               : tq__avx2_rdbpot(tq__avx2_srdhm(x, s->mult, s->mult_odd), s);
}

/* The zero point and clamp of 16 requantized values (r0: the first 8)
 * as 16 bytes: packed to int16 with signed saturation, the zero point
 * added with int16 saturation, packed to int8 with saturation, clamped.
 * Every value that saturates lies outside [-128, 127] on the side of the
 * exact one, so the bytes are those of clamp(r + zp, act_min, act_max). */
TQ_AVX2_INLINE __m128i tq__avx2_pack16(__m256i r0, __m256i r1,
                                       __m256i offset16, __m128i lo8,
                                       __m128i hi8)
{
    /* int16 lanes r0[0..3] r1[0..3] | r0[4..7] r1[4..7]. */
    const __m256i w = _mm256_adds_epi16(_mm256_packs_epi32(r0, r1), offset16);
    const __m256i bytes = _mm256_permutevar8x32_epi32(
        _mm256_packs_epi16(w, w), _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5));
    return _mm_min_epi8(_mm_max_epi8(_mm256_castsi256_si128(bytes), lo8), hi8);
}

/* The output stage of 8 accumulators: int8 values in int32 lanes. */
TQ_AVX2_INLINE __m256i tq__avx2_output(__m256i acc, const tq__avx2_stage *s)
{
    return _mm256_add_epi32(tq__avx2_requant_clamped(acc, s), s->offset);
}

/* The low bytes of 8 int32 lanes (each in [-128, 127]) as 8 bytes. */
TQ_AVX2_INLINE __m128i tq__avx2_bytes8(__m256i v)
{
    const __m256i pick = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8,
        12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i b = _mm256_shuffle_epi8(v, pick);
    return _mm_unpacklo_epi32(_mm256_castsi256_si128(b),
                              _mm256_extracti128_si256(b, 1));
}

/* a + b saturated to int32. */
TQ_AVX2_INLINE __m256i tq__avx2_adds_epi32(__m256i a, __m256i b)
{
    const __m256i s = _mm256_add_epi32(a, b);
    const __m256i ovf = _mm256_and_si256(_mm256_xor_si256(a, s),
                                         _mm256_xor_si256(b, s));
    const __m256i sat = _mm256_xor_si256(_mm256_srai_epi32(a, 31),
                                         _mm256_set1_epi32(INT32_MAX));
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(s),
                                                _mm256_castsi256_ps(sat),
                                                _mm256_castsi256_ps(ovf)));
}

#endif /* TQ_ARCH_X86_AVX2_STAGE_H */
