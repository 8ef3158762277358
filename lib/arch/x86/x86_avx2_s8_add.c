/*
 * AVX2 int8 elementwise ADD (the dispatch entry s8_add), bit for bit
 * tq__s8_add_ref() (lib/s8/add.c): 16 elements per step, each of the three
 * TFLite requantizations done exactly in int32 lanes, the activation clamp
 * (a fused ReLU / ReLU6: act_min / act_max) applied on the packed bytes.
 *
 * Input rescales. (x + offset)·2^L is below 2^28 in size (L = left_shift
 * <= 20) and the input multipliers are at most 1 (shift <= 0), so nothing
 * saturates. With L >= 8 (TFLite's int8 ADD always has 20) a rescale stays
 * in 32-bit lanes: with d = x + offset (|d| <= 255), S = 31 - L and the
 * multiplier split m = mh·2^S + ml (ml < 2^S),
 *   SRDHM(d·2^L, m) = floor((d·m + 2^(S-1)) / 2^S)
 *                   = d·mh + floor((d·ml + 2^(S-1)) / 2^S) =: y,
 * |d·mh| < 2^28 and |d·ml| + 2^(S-1) < 2^31; then RoundingDivideByPOT by
 * r = -shift, which for r >= 1 and no overflow is
 *   (y + 2^(r-1) - [y < 0]) >> r      (ties away from zero).
 * Single rounding, floor((d·2^L·m + 2^(t-1)) / 2^t) with t = 31 - shift =
 * S + L + r, is by nested floors floor((d·mh + floor((d·ml + c) / 2^S) +
 * e) / 2^r), with c = 2^(S-1), e = 0 when r = 0, else c = 0, e = 2^(r-1).
 * L < 8 takes the 64-bit products of x86_avx2_stage.h.
 *
 * Output: the sum of the two rescaled values is below 2^29; double
 * rounding without a left shift keeps SRDHM's result below 2^29 as well,
 * so the short RoundingDivideByPOT above applies, and single rounding
 * with t = 31 - shift >= 29 stays below 2^31 with no clamp; other output
 * stages go through tq__avx2_requant_clamped(). The int32 results are packed with
 * signed saturation to int16, the zero point added with int16 saturation,
 * packed with saturation to int8 and clamped there: every value that
 * saturates is outside [-128, 127] on the same side as the exact one, so
 * the clamp gives the reference's bytes.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "x86_avx2_stage.h"

/* One input's rescale. */
typedef struct in_stage {
    int narrow;           /* L >= 8: the 32-bit form above */
    int whole;            /* ml = 0 (the input of the larger scale: m = 2^30) */
    __m256i offset, mh, ml, c, e;
    __m128i s_count, r_count, left;
    __m256i half;         /* double rounding: 2^(r-1), r >= 1 */
    __m256i neg;          /* all ones when r >= 1 */
    int r;                /* -shift */
    tq__avx2_stage wide;  /* L < 8 */
} in_stage;

TQ_AVX2_INLINE void in_stage_init(in_stage *s, int32_t offset, int32_t mult,
                                  int32_t shift, int32_t left, int single)
{
    s->offset = _mm256_set1_epi32(offset);
    s->r = -shift;
    s->r_count = _mm_cvtsi32_si128(s->r);
    s->left = _mm_cvtsi32_si128(left);
    s->half = _mm256_set1_epi32(s->r > 0 ? (INT32_C(1) << (s->r - 1)) : 0);
    s->neg = _mm256_set1_epi32(s->r > 0 ? -1 : 0);
    s->narrow = left >= 8;
    s->whole = 0;
    s->mh = s->ml = s->c = s->e = _mm256_setzero_si256();
    s->s_count = _mm_setzero_si128();
    if (s->narrow) {
        const int32_t sh = 31 - left;
        s->s_count = _mm_cvtsi32_si128(sh);
        s->mh = _mm256_set1_epi32(mult >> sh);
        s->ml = _mm256_set1_epi32(mult & ((INT32_C(1) << sh) - 1));
        /* floor((d·0 + c) / 2^S) = 0 for c < 2^S. */
        s->whole = (mult & ((INT32_C(1) << sh) - 1)) == 0;
        if (single && s->r > 0)
            s->e = s->half;
        else
            s->c = _mm256_set1_epi32(INT32_C(1) << (sh - 1));
    }
    /* The wide form's stage; its clamp is never used. */
    tq__avx2_stage_set(&s->wide, _mm256_set1_epi32(mult),
                       _mm256_set1_epi32(shift),
                       single ? TQ_ROUND_SINGLE : TQ_ROUND_DOUBLE, 0, -128,
                       127);
}

/* The rescaled values of 8 int8 inputs (in int32 lanes). */
TQ_AVX2_INLINE __m256i rescale(__m256i x, const in_stage *s, int single)
{
    const __m256i d = _mm256_add_epi32(x, s->offset);
    if (s->narrow) {
        __m256i y = _mm256_mullo_epi32(d, s->mh);
        if (!s->whole)
            y = _mm256_add_epi32(
                y, _mm256_sra_epi32(
                       _mm256_add_epi32(_mm256_mullo_epi32(d, s->ml), s->c),
                       s->s_count));
        if (s->r == 0)
            return y;
        if (single)
            return _mm256_sra_epi32(_mm256_add_epi32(y, s->e), s->r_count);
        y = _mm256_add_epi32(_mm256_add_epi32(y, s->half),
                             _mm256_cmpgt_epi32(_mm256_setzero_si256(), y));
        return _mm256_sra_epi32(y, s->r_count);
    }
    const __m256i v = _mm256_sll_epi32(d, s->left);
    if (single) {
        /* v·m + 2^(t-1) + 2^63 lies in [0, 2^64): shift logically, then
         * take 2^(63-t) back (x86_avx2_stage.h). */
        const __m256i bias = _mm256_set1_epi64x(INT64_MIN);
        const tq__avx2_stage *w = &s->wide;
        const __m256i e = _mm256_srlv_epi64(
            _mm256_xor_si256(_mm256_add_epi64(_mm256_mul_epi32(v, w->mult),
                                              w->round_e),
                             bias),
            w->total_e);
        const __m256i o = _mm256_srlv_epi64(
            _mm256_xor_si256(
                _mm256_add_epi64(
                    _mm256_mul_epi32(_mm256_srli_epi64(v, 32), w->mult_odd),
                    w->round_o),
                bias),
            w->total_o);
        return _mm256_sub_epi32(tq__avx2_join(e, o), w->corr);
    }
    return tq__avx2_rdbpot(tq__avx2_srdhm(v, s->wide.mult, s->wide.mult_odd),
                           &s->wide);
}

/* The narrow rescale of the fast loops, its form known at compile time:
 * whole (ml = 0 and r = 0) is d·mh; otherwise double rounding needs
 * r >= 1 (for the short RoundingDivideByPOT). */
TQ_AVX2_INLINE __m256i rescale_narrow(__m256i x, const in_stage *s,
                                      int single, int whole)
{
    const __m256i d = _mm256_add_epi32(x, s->offset);
    __m256i y = _mm256_mullo_epi32(d, s->mh);
    if (whole)
        return y;
    y = _mm256_add_epi32(
        y, _mm256_sra_epi32(_mm256_add_epi32(_mm256_mullo_epi32(d, s->ml), s->c),
                            s->s_count));
    if (single)
        return _mm256_sra_epi32(_mm256_add_epi32(y, s->e), s->r_count);
    y = _mm256_add_epi32(_mm256_add_epi32(y, s->half), _mm256_srai_epi32(y, 31));
    return _mm256_sra_epi32(y, s->r_count);
}

/* The output stage without its zero point and clamp. */
typedef struct out_stage {
    int fast;             /* double rounding without a left shift, or */
    int single;           /* single rounding with t = 31 - shift >= 29 */
    __m128i t_count;
    __m256i neg;          /* all ones when r >= 1 */
    __m256i mult, mult_odd, half;
    __m128i r_count;
    int r;
    tq__avx2_stage full;  /* the others */
    __m256i offset16;     /* the zero point in int16 lanes */
    __m128i lo8, hi8;     /* the clamp in int8 lanes */
} out_stage;

/* The requantization of a fast stage, the rounding known at compile time:
 * single (floor((x·m + 2^(t-1)) / 2^t), t >= 29: below 2^31 in size for
 * |x| < 2^29; a logical shift of the sum plus 2^63 floors it) or double
 * with r >= 1. */
TQ_AVX2_INLINE __m256i output_fast(__m256i x, const out_stage *s, int single)
{
    if (single) {
        const tq__avx2_stage *w = &s->full;
        const __m256i bias = _mm256_set1_epi64x(INT64_MIN);
        const __m256i e = _mm256_srl_epi64(
            _mm256_xor_si256(_mm256_add_epi64(_mm256_mul_epi32(x, w->mult),
                                              w->round_e),
                             bias),
            s->t_count);
        const __m256i o = _mm256_srl_epi64(
            _mm256_xor_si256(
                _mm256_add_epi64(
                    _mm256_mul_epi32(_mm256_srli_epi64(x, 32), w->mult_odd),
                    w->round_o),
                bias),
            s->t_count);
        return _mm256_sub_epi32(tq__avx2_join(e, o), w->corr);
    }
    /* r >= 1 in the fast loops. */
    __m256i y = tq__avx2_srdhm(x, s->mult, s->mult_odd);
    y = _mm256_add_epi32(_mm256_add_epi32(y, s->half), _mm256_srai_epi32(y, 31));
    return _mm256_sra_epi32(y, s->r_count);
}

/* The output stage's requantization of int32 lanes x (before the zero
 * point and the clamp). */
TQ_AVX2_INLINE __m256i output_raw(__m256i x, const out_stage *s)
{
    if (!s->fast)
        return tq__avx2_requant_clamped(x, &s->full);
    if (!s->single && s->r == 0)
        return tq__avx2_srdhm(x, s->mult, s->mult_odd);
    return output_fast(x, s, s->single);
}

/* Bytes of 16 results: int16 lanes r0[0..3] r1[0..3] | r0[4..7] r1[4..7]
 * plus the zero point; then int8, put back in order, and clamped. */
TQ_AVX2_INLINE __m128i pack16(__m256i r0, __m256i r1, const out_stage *o)
{
    const __m256i w = _mm256_adds_epi16(_mm256_packs_epi32(r0, r1), o->offset16);
    const __m256i bytes = _mm256_permutevar8x32_epi32(
        _mm256_packs_epi16(w, w), _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5));
    return _mm_min_epi8(_mm_max_epi8(_mm256_castsi256_si128(bytes), o->lo8),
                        o->hi8);
}

/* The common case: both inputs narrow, a fast output stage; the rounding
 * and which inputs are whole known at compile time. */
TQ_AVX2_INLINE void add_fast(size_t n, const int8_t *a, const int8_t *b,
                             const in_stage *s1, const in_stage *s2,
                             const out_stage *o, int8_t *out, int single,
                             int whole1, int whole2)
{
    /* 32 elements per step: two independent chains for the scheduler. */
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(a + i));
        const __m256i y = _mm256_loadu_si256((const __m256i *)(const void *)(b + i));
        __m256i r[4];
        for (int h = 0; h < 4; ++h) {
            const __m128i xs = h < 2 ? _mm256_castsi256_si128(x)
                                     : _mm256_extracti128_si256(x, 1);
            const __m128i ys = h < 2 ? _mm256_castsi256_si128(y)
                                     : _mm256_extracti128_si256(y, 1);
            const __m256i av = _mm256_cvtepi8_epi32(h & 1 ? _mm_srli_si128(xs, 8) : xs);
            const __m256i bv = _mm256_cvtepi8_epi32(h & 1 ? _mm_srli_si128(ys, 8) : ys);
            r[h] = output_fast(_mm256_add_epi32(rescale_narrow(av, s1, single, whole1),
                                                rescale_narrow(bv, s2, single, whole2)),
                               o, single);
        }
        _mm_storeu_si128((__m128i *)(void *)(out + i), pack16(r[0], r[1], o));
        _mm_storeu_si128((__m128i *)(void *)(out + i + 16), pack16(r[2], r[3], o));
    }
    for (; i + 16 <= n; i += 16) {
        const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(a + i));
        const __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        const __m256i a0 = _mm256_cvtepi8_epi32(x);
        const __m256i a1 = _mm256_cvtepi8_epi32(_mm_srli_si128(x, 8));
        const __m256i b0 = _mm256_cvtepi8_epi32(y);
        const __m256i b1 = _mm256_cvtepi8_epi32(_mm_srli_si128(y, 8));
        const __m256i r0 = output_fast(
            _mm256_add_epi32(rescale_narrow(a0, s1, single, whole1),
                             rescale_narrow(b0, s2, single, whole2)),
            o, single);
        const __m256i r1 = output_fast(
            _mm256_add_epi32(rescale_narrow(a1, s1, single, whole1),
                             rescale_narrow(b1, s2, single, whole2)),
            o, single);
        _mm_storeu_si128((__m128i *)(void *)(out + i), pack16(r0, r1, o));
    }
}

TQ_AVX2_INLINE __m128i add16(__m128i a, __m128i b, const in_stage *s1,
                             const in_stage *s2, const out_stage *o,
                             int single)
{
    const __m256i a0 = _mm256_cvtepi8_epi32(a);
    const __m256i a1 = _mm256_cvtepi8_epi32(_mm_srli_si128(a, 8));
    const __m256i b0 = _mm256_cvtepi8_epi32(b);
    const __m256i b1 = _mm256_cvtepi8_epi32(_mm_srli_si128(b, 8));
    const __m256i r0 = output_raw(
        _mm256_add_epi32(rescale(a0, s1, single), rescale(b0, s2, single)), o);
    const __m256i r1 = output_raw(
        _mm256_add_epi32(rescale(a1, s1, single), rescale(b1, s2, single)), o);
    return pack16(r0, r1, o);
}

TQ_AVX2 void tq__avx2_s8_add(size_t n, const int8_t *a, const int8_t *b,
                             const tq_s8_add_params *p, int8_t *out)
{
    in_stage s1, s2;
    out_stage o;
    const int single = p->rounding == TQ_ROUND_SINGLE;
    in_stage_init(&s1, p->input1_offset, p->input1_multiplier,
                  p->input1_shift, p->left_shift, single);
    in_stage_init(&s2, p->input2_offset, p->input2_multiplier,
                  p->input2_shift, p->left_shift, single);
    o.fast = single ? p->output_shift <= 2 : p->output_shift <= -1;
    o.single = single;
    o.t_count = _mm_cvtsi32_si128(31 - p->output_shift);
    o.mult = _mm256_set1_epi32(p->output_multiplier);
    o.mult_odd = _mm256_srli_epi64(o.mult, 32);
    o.r = p->output_shift <= 0 ? -p->output_shift : 0;
    o.r_count = _mm_cvtsi32_si128(o.r);
    o.half = _mm256_set1_epi32(o.r > 0 ? (INT32_C(1) << (o.r - 1)) : 0);
    o.neg = _mm256_set1_epi32(o.r > 0 ? -1 : 0);
    /* Clamped to [-128 - zp, 127 - zp]: exact through the packing. */
    tq__avx2_stage_set(&o.full, o.mult, _mm256_set1_epi32(p->output_shift),
                       p->rounding, p->output_offset, -128, 127);
    o.offset16 = _mm256_set1_epi16((int16_t)p->output_offset);
    o.lo8 = _mm_set1_epi8((int8_t)p->act_min);
    o.hi8 = _mm_set1_epi8((int8_t)p->act_max);
    size_t i = 0;
    const int w1 = s1.whole && s1.r == 0, w2 = s2.whole && s2.r == 0;
    if (s1.narrow && s2.narrow && o.fast &&
        (single || ((w1 || s1.r > 0) && (w2 || s2.r > 0)))) {
#define TQ_ADD_FAST(sg)                                                    \
    do {                                                                   \
        if (w1 && w2)                                                      \
            add_fast(n, a, b, &s1, &s2, &o, out, sg, 1, 1);                \
        else if (w1)                                                       \
            add_fast(n, a, b, &s1, &s2, &o, out, sg, 1, 0);                \
        else if (w2)                                                       \
            add_fast(n, a, b, &s1, &s2, &o, out, sg, 0, 1);                \
        else                                                               \
            add_fast(n, a, b, &s1, &s2, &o, out, sg, 0, 0);                \
    } while (0)
        if (single)
            TQ_ADD_FAST(1);
        else
            TQ_ADD_FAST(0);
#undef TQ_ADD_FAST
        i = n - n % 16;
    }
    for (; i + 16 <= n; i += 16) {
        const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(a + i));
        const __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        _mm_storeu_si128((__m128i *)(void *)(out + i),
                         add16(x, y, &s1, &s2, &o, single));
    }
    if (i < n) {
        int8_t ta[16] = {0}, tb[16] = {0}, to[16];
        memcpy(ta, a + i, n - i);
        memcpy(tb, b + i, n - i);
        _mm_storeu_si128(
            (__m128i *)(void *)to,
            add16(_mm_loadu_si128((const __m128i *)(const void *)ta),
                  _mm_loadu_si128((const __m128i *)(const void *)tb), &s1,
                  &s2, &o, single));
        memcpy(out + i, to, n - i);
    }
}
