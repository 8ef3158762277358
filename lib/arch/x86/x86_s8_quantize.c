/*
 * TFLite QUANTIZE (float -> int8 codes) on the AVX2 and AVX-512 paths:
 * the input of every int8 network, one value per pixel and channel, which
 * the scalar loop rounds and clamps one element at a time.
 *
 * Bit for bit tq__quantize_one() (lib/tq_internal.h): the quotient is the
 * same IEEE division (vdivps rounds like divss); truncation is exact and
 * v - trunc(v) is exact, so adding ±1 where that fraction reaches ±0.5
 * rounds half away from zero like roundf; the clamp to [-128 - zp,
 * 127 - zp] happens in float before the conversion, as in the scalar code
 * (infinities clamp too: their fraction is NaN, which no comparison
 * passes). No NaN reaches here (lib/s8/quantize.c checks first).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "x86_avx2.h"
#include "x86_avx512.h"

TQ_AVX512 void tq__avx512_s8_quantize(size_t n, const float *in, float scale,
                                      int32_t zero_point, int8_t *out)
{
    const __m512 s = _mm512_set1_ps(scale);
    const __m512 lo = _mm512_set1_ps((float)(-128 - zero_point));
    const __m512 hi = _mm512_set1_ps((float)(127 - zero_point));
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    const __m512i zp = _mm512_set1_epi32(zero_point);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = tq__mask16(n - i < 16 ? (int32_t)(n - i) : 16);
        /* Masked-off lanes divide 0 by the scale and are not stored. */
        const __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, in + i), s);
        const __m512 t =
            _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m512 f = _mm512_sub_ps(v, t);
        __m512 r = _mm512_mask_add_ps(
            t, _mm512_cmp_ps_mask(f, half, _CMP_GE_OQ), t, one);
        r = _mm512_mask_sub_ps(
            r, _mm512_cmp_ps_mask(f, _mm512_sub_ps(_mm512_setzero_ps(), half),
                                  _CMP_LE_OQ),
            r, one);
        r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
        const __m512i q = _mm512_add_epi32(_mm512_cvttps_epi32(r), zp);
        _mm_mask_storeu_epi8(out + i, m, _mm512_cvtepi32_epi8(q));
    }
}

TQ_AVX2 void tq__avx2_s8_quantize(size_t n, const float *in, float scale,
                                  int32_t zero_point, int8_t *out)
{
    const __m256 s = _mm256_set1_ps(scale);
    const __m256 lo = _mm256_set1_ps((float)(-128 - zero_point));
    const __m256 hi = _mm256_set1_ps((float)(127 - zero_point));
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 minus_half = _mm256_set1_ps(-0.5f);
    const __m256i zp = _mm256_set1_epi32(zero_point);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_div_ps(_mm256_loadu_ps(in + i), s);
        const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO |
                                                _MM_FROUND_NO_EXC);
        const __m256 f = _mm256_sub_ps(v, t);
        __m256 r = _mm256_add_ps(
            t, _mm256_and_ps(_mm256_cmp_ps(f, half, _CMP_GE_OQ), one));
        r = _mm256_sub_ps(
            r, _mm256_and_ps(_mm256_cmp_ps(f, minus_half, _CMP_LE_OQ), one));
        r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
        const __m256i q = _mm256_add_epi32(_mm256_cvttps_epi32(r), zp);
        /* 8 int32 in [-128, 127] to 8 bytes: packs keep them exact. */
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q),
                                          _mm256_extracti128_si256(q, 1));
        const __m128i b = _mm_packs_epi16(w, w);
        _mm_storel_epi64((__m128i *)(void *)(out + i), b);
    }
    if (i < n)
        tq__s8_quantize_ref(n - i, in + i, scale, zero_point, out + i);
}
