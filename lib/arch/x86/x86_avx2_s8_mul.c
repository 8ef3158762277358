/*
 * AVX2 int8 elementwise MUL (the dispatch entry s8_mul), bit for bit
 * tq__s8_mul_row_ref() (lib/s8/mul.c): 16 elements per step.
 *
 * d = x + offset lies in [-255, 255] (x in [-128, 127], offset in
 * [-127, 128]), so both factors are int16 lanes and their product, below
 * 2^16 in size, is put together from vpmullw / vpmulhw into int32 lanes.
 * The requantization of those products is the output stage of
 * x86_avx2_stage.h (both roundings, the left-shift overflow rule of
 * tq__requant()), set up once per call with the clamp [-128, 127] less
 * the zero point. The int32 results are packed with signed saturation to
 * int16, the zero point added with int16 saturation, packed with
 * saturation to int8 and clamped to [act_min, act_max]: every value that
 * saturates lies outside [-128, 127] on the side of the exact one, so the
 * clamp gives the reference's bytes.
 *
 * Strides: a stride of 0 broadcasts one value (the scalar side of a
 * broadcast MUL), 1 reads a full row. An output equal to a full-stride
 * input is fine: each block of 16 is loaded before it is stored.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "x86_avx2_stage.h"

typedef struct mul_stage {
    tq__avx2_stage st;
    __m256i off1, off2; /* input offsets, int16 lanes */
    __m256i offset16;   /* output zero point, int16 lanes */
    __m128i lo8, hi8;   /* the activation clamp, int8 lanes */
} mul_stage;

/* 16 int8 values widened to int16 lanes. */
TQ_AVX2_INLINE __m256i widen16(__m128i x)
{
    return _mm256_cvtepi8_epi16(x);
}

/* The 16 output bytes of d1·d2 (int16 lanes, offsets added). */
TQ_AVX2_INLINE __m128i mul16(__m256i d1, __m256i d2, const mul_stage *s)
{
    const __m256i lo = _mm256_mullo_epi16(d1, d2);
    const __m256i hi = _mm256_mulhi_epi16(d1, d2);
    /* int32 products of elements 0-3, 8-11 and 4-7, 12-15. */
    const __m256i p0 = _mm256_unpacklo_epi16(lo, hi);
    const __m256i p1 = _mm256_unpackhi_epi16(lo, hi);
    const __m256i r0 = tq__avx2_requant_raw(p0, &s->st);
    const __m256i r1 = tq__avx2_requant_raw(p1, &s->st);
    /* packs_epi32 works within 128-bit lanes: elements 0-7 | 8-15. */
    const __m256i w = _mm256_adds_epi16(_mm256_packs_epi32(r0, r1), s->offset16);
    const __m256i b = _mm256_packs_epi16(w, w); /* 0-7 0-7 | 8-15 8-15 */
    const __m128i bytes =
        _mm256_castsi256_si128(_mm256_permute4x64_epi64(b, 0x08));
    return _mm_min_epi8(_mm_max_epi8(bytes, s->lo8), s->hi8);
}

/* 16 elements of an input at stride @p st (0 or 1) as int16 lanes with
 * the offset added. */
TQ_AVX2_INLINE __m256i load16(const int8_t *x, size_t st, __m256i off)
{
    const __m128i v = st ? _mm_loadu_si128((const __m128i *)(const void *)x)
                         : _mm_set1_epi8(x[0]);
    return _mm256_add_epi16(widen16(v), off);
}

/* The loop with both strides known at compile time. */
TQ_AVX2_INLINE void mul_loop(size_t n, const int8_t *a, size_t sa,
                             const int8_t *b, size_t sb, const mul_stage *s,
                             int8_t *out)
{
    size_t i = 0;
    /* A broadcast side is the same vector every step. */
    const __m256i ca = load16(a, 0, s->off1), cb = load16(b, 0, s->off2);
    for (; i + 32 <= n; i += 32) {
        const __m256i a0 = sa ? load16(a + i, 1, s->off1) : ca;
        const __m256i b0 = sb ? load16(b + i, 1, s->off2) : cb;
        const __m256i a1 = sa ? load16(a + i + 16, 1, s->off1) : ca;
        const __m256i b1 = sb ? load16(b + i + 16, 1, s->off2) : cb;
        const __m128i o0 = mul16(a0, b0, s);
        const __m128i o1 = mul16(a1, b1, s);
        _mm_storeu_si128((__m128i *)(void *)(out + i), o0);
        _mm_storeu_si128((__m128i *)(void *)(out + i + 16), o1);
    }
    for (; i + 16 <= n; i += 16) {
        const __m256i a0 = sa ? load16(a + i, 1, s->off1) : ca;
        const __m256i b0 = sb ? load16(b + i, 1, s->off2) : cb;
        _mm_storeu_si128((__m128i *)(void *)(out + i), mul16(a0, b0, s));
    }
    if (i < n) {
        int8_t ta[16] = {0}, tb[16] = {0}, to[16];
        const size_t r = n - i;
        if (sa)
            memcpy(ta, a + i, r);
        if (sb)
            memcpy(tb, b + i, r);
        const __m256i a0 = sa ? load16(ta, 1, s->off1) : ca;
        const __m256i b0 = sb ? load16(tb, 1, s->off2) : cb;
        _mm_storeu_si128((__m128i *)(void *)to, mul16(a0, b0, s));
        memcpy(out + i, to, r);
    }
}

TQ_AVX2 void tq__avx2_s8_mul(size_t n, const int8_t *a, size_t sa,
                             const int8_t *b, size_t sb,
                             const tq_s8_mul_params *p, int8_t *out)
{
    mul_stage s;
    if (n == 0)
        return;
    /* Clamped to [-128 - zp, 127 - zp] where the stage clamps (single
     * rounding): exact through the packing. */
    tq__avx2_stage_set(&s.st, _mm256_set1_epi32(p->output_multiplier),
                       _mm256_set1_epi32(p->output_shift), p->rounding,
                       p->output_offset, -128, 127);
    s.off1 = _mm256_set1_epi16((int16_t)p->input1_offset);
    s.off2 = _mm256_set1_epi16((int16_t)p->input2_offset);
    s.offset16 = _mm256_set1_epi16((int16_t)p->output_offset);
    s.lo8 = _mm_set1_epi8((int8_t)p->act_min);
    s.hi8 = _mm_set1_epi8((int8_t)p->act_max);
    if (sa && sb)
        mul_loop(n, a, 1, b, 1, &s, out);
    else if (sa)
        mul_loop(n, a, 1, b, 0, &s, out);
    else if (sb)
        mul_loop(n, a, 0, b, 1, &s, out);
    else
        mul_loop(n, a, 0, b, 0, &s, out);
}
