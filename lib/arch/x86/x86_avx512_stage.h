/*
 * The s8 output stage on 16 int32 lanes at once (AVX-512), bit for bit
 * tq__requant() and the clamp of lib/s8/s8_internal.h: the TFLite
 * requantization in both rounding modes, the output zero point and the
 * activation clamp, with per-lane multipliers and shifts (a lane is an
 * output channel).
 *
 * Why the shortcuts are exact:
 *  - SRDHM: the reference adds 2^30 (ab >= 0) or 1 - 2^30 (ab < 0) and
 *    divides by 2^31 truncating toward zero. For ab < 0 that sum is
 *    negative and truncation equals flooring after adding 2^31 - 1, so
 *    both cases are floor((ab + 2^30) / 2^31): one add and an arithmetic
 *    shift. (Its saturating case needs a multiplier of -2^31, which no
 *    ::tq_s8_output holds.)
 *  - x · 2^left saturates to int32 in the vector code; the lanes where it
 *    did are recomputed by tq__requant() (the exact product, rounded, then
 *    saturated: the rule of docs/quantization.md).
 *  - The zero point is added after clamping the requantized value to
 *    +-2^16: the final clamp to [act_min, act_max] within [-128, 127]
 *    gives the same result, and nothing can overflow.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_ARCH_X86_AVX512_STAGE_H
#define TQ_ARCH_X86_AVX512_STAGE_H

#include "../../tq_internal.h"
#include "x86_avx512.h"

/* The stage of 16 lanes, set up once per block of channels. */
typedef struct tq__avx512_stage {
    __m512i mult;             /* Q31 multiplier per lane */
    __m512i left, right;      /* double rounding: shift split in two */
    __m512i total_e, total_o; /* single rounding: 31 - shift, even and */
    __m512i round_e, round_o; /* odd lanes as int64, and 2^(total - 1) */
    __m512i offset, lo, hi;   /* zero point and clamp */
    int single;
} tq__avx512_stage;

/* The stage of the output channels ch[0..15] (each < the stage's count). */
TQ_AVX512_INLINE void tq__avx512_stage_init(tq__avx512_stage *s,
                                            const tq_s8_output *os,
                                            const int32_t ch[16])
{
    int32_t m[16], sh[16];
    int64_t te[8], to[8];
    for (int l = 0; l < 16; ++l) {
        const int32_t i = os->per_channel ? ch[l] : 0;
        m[l] = os->multiplier[i];
        sh[l] = os->shift[i];
    }
    for (int l = 0; l < 8; ++l) {
        te[l] = 31 - sh[2 * l];
        to[l] = 31 - sh[2 * l + 1];
    }
    s->mult = _mm512_loadu_si512(m);
    const __m512i shift = _mm512_loadu_si512(sh);
    s->left = _mm512_max_epi32(shift, _mm512_setzero_si512());
    s->right = _mm512_max_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), shift),
                                _mm512_setzero_si512());
    s->total_e = _mm512_loadu_si512(te);
    s->total_o = _mm512_loadu_si512(to);
    const __m512i one = _mm512_set1_epi64(1);
    s->round_e = _mm512_sllv_epi64(one, _mm512_sub_epi64(s->total_e, one));
    s->round_o = _mm512_sllv_epi64(one, _mm512_sub_epi64(s->total_o, one));
    s->offset = _mm512_set1_epi32(os->output_offset);
    s->lo = _mm512_set1_epi32(os->act_min);
    s->hi = _mm512_set1_epi32(os->act_max);
    s->single = os->rounding == TQ_ROUND_SINGLE;
}

/* The stage of the n (1..16) consecutive output channels ch0 .. ch0 + n - 1;
 * idle lanes repeat channel ch0. */
TQ_AVX512_INLINE void tq__avx512_stage_range(tq__avx512_stage *s,
                                             const tq_s8_output *os,
                                             int32_t ch0, int32_t n)
{
    __m512i m, shift;
    if (os->per_channel) {
        const __mmask16 live = (__mmask16)((1u << n) - 1u);
        m = _mm512_mask_loadu_epi32(_mm512_set1_epi32(os->multiplier[ch0]),
                                    live, os->multiplier + ch0);
        shift = _mm512_mask_loadu_epi32(_mm512_set1_epi32(os->shift[ch0]), live,
                                        os->shift + ch0);
    } else {
        m = _mm512_set1_epi32(os->multiplier[0]);
        shift = _mm512_set1_epi32(os->shift[0]);
    }
    const __m512i zero = _mm512_setzero_si512();
    const __m512i one = _mm512_set1_epi64(1);
    const __m512i total = _mm512_sub_epi32(_mm512_set1_epi32(31), shift);
    s->mult = m;
    s->left = _mm512_max_epi32(shift, zero);
    s->right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
    s->total_e = _mm512_srai_epi64(_mm512_slli_epi64(total, 32), 32);
    s->total_o = _mm512_srai_epi64(total, 32);
    s->round_e = _mm512_sllv_epi64(one, _mm512_sub_epi64(s->total_e, one));
    s->round_o = _mm512_sllv_epi64(one, _mm512_sub_epi64(s->total_o, one));
    s->offset = _mm512_set1_epi32(os->output_offset);
    s->lo = _mm512_set1_epi32(os->act_min);
    s->hi = _mm512_set1_epi32(os->act_max);
    s->single = os->rounding == TQ_ROUND_SINGLE;
}

/* a + b saturated to int32. */
TQ_AVX512_INLINE __m512i tq__avx512_adds_epi32(__m512i a, __m512i b)
{
    const __m512i s = _mm512_add_epi32(a, b);
    const __mmask16 ovf = _mm512_movepi32_mask(
        _mm512_and_si512(_mm512_xor_si512(a, s), _mm512_xor_si512(b, s)));
    const __m512i sat = _mm512_xor_si512(_mm512_srai_epi32(a, 31),
                                         _mm512_set1_epi32(INT32_MAX));
    return _mm512_mask_mov_epi32(s, ovf, sat);
}

/* The high lanes' products: each odd int32 lane times its multiplier. */
TQ_AVX512_INLINE __m512i tq__avx512_mul_odd(__m512i x, __m512i m)
{
    return _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(m, 32));
}

/* Even lanes from e (low halves), odd lanes from o (low halves). */
TQ_AVX512_INLINE __m512i tq__avx512_join(__m512i e, __m512i o)
{
    return _mm512_mask_blend_epi32(0xaaaa, e, _mm512_slli_epi64(o, 32));
}

TQ_AVX512_INLINE __m512i tq__avx512_requant_double(__m512i x,
                                                   const tq__avx512_stage *s)
{
    /* x · 2^left, saturated. */
    __m512i v = _mm512_sllv_epi32(x, s->left);
    const __mmask16 ovf =
        _mm512_cmpneq_epi32_mask(_mm512_srav_epi32(v, s->left), x);
    v = _mm512_mask_mov_epi32(v, ovf,
                              _mm512_xor_si512(_mm512_srai_epi32(x, 31),
                                               _mm512_set1_epi32(INT32_MAX)));
    /* SRDHM: floor((v·m + 2^30) / 2^31), see the top. */
    const __m512i half = _mm512_set1_epi64(INT64_C(1) << 30);
    const __m512i e = _mm512_srai_epi64(
        _mm512_add_epi64(_mm512_mul_epi32(v, s->mult), half), 31);
    const __m512i o = _mm512_srai_epi64(
        _mm512_add_epi64(tq__avx512_mul_odd(v, s->mult), half), 31);
    const __m512i r = tq__avx512_join(e, o);
    /* RoundingDivideByPOT by right: ties away from zero. */
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i mask =
        _mm512_sub_epi32(_mm512_sllv_epi32(one, s->right), one);
    const __m512i rem = _mm512_and_si512(r, mask);
    const __m512i threshold =
        _mm512_add_epi32(_mm512_srai_epi32(mask, 1), _mm512_srli_epi32(r, 31));
    const __m512i q = _mm512_srav_epi32(r, s->right);
    const __m512i res = _mm512_mask_add_epi32(
        q, _mm512_cmpgt_epi32_mask(rem, threshold), q, one);
    if (!ovf)
        return res;
    /* Lanes whose x · 2^left leaves int32 (TFLite undefined there): the
     * scalar rule of tq__requant(), lane by lane; such lanes are rare. */
    int32_t xs[16], ms[16], ls[16], rs[16];
    _mm512_storeu_si512(xs, x);
    _mm512_storeu_si512(ms, s->mult);
    _mm512_storeu_si512(ls, s->left);
    _mm512_storeu_si512(rs, res);
    for (int l = 0; l < 16; ++l)
        if ((ovf >> l) & 1u)
            rs[l] = tq__requant(xs[l], ms[l], ls[l], TQ_ROUND_DOUBLE);
    return _mm512_loadu_si512(rs);
}

TQ_AVX512_INLINE __m512i tq__avx512_requant_single(__m512i x,
                                                   const tq__avx512_stage *s)
{
    const __m512i lo = _mm512_set1_epi64(INT32_MIN);
    const __m512i hi = _mm512_set1_epi64(INT32_MAX);
    __m512i e = _mm512_srav_epi64(
        _mm512_add_epi64(_mm512_mul_epi32(x, s->mult), s->round_e), s->total_e);
    __m512i o = _mm512_srav_epi64(
        _mm512_add_epi64(tq__avx512_mul_odd(x, s->mult), s->round_o),
        s->total_o);
    e = _mm512_min_epi64(_mm512_max_epi64(e, lo), hi);
    o = _mm512_min_epi64(_mm512_max_epi64(o, lo), hi);
    return tq__avx512_join(e, o);
}

/* The output stage of 16 accumulators: int8 values in int32 lanes. */
TQ_AVX512_INLINE __m512i tq__avx512_output(__m512i acc,
                                           const tq__avx512_stage *s)
{
    __m512i r = s->single ? tq__avx512_requant_single(acc, s)
                          : tq__avx512_requant_double(acc, s);
    const __m512i bound = _mm512_set1_epi32(1 << 16);
    r = _mm512_min_epi32(
        _mm512_max_epi32(r, _mm512_sub_epi32(_mm512_setzero_si512(), bound)),
        bound);
    r = _mm512_add_epi32(r, s->offset);
    return _mm512_min_epi32(_mm512_max_epi32(r, s->lo), s->hi);
}

#endif /* TQ_ARCH_X86_AVX512_STAGE_H */
