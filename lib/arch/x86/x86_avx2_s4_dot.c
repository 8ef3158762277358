/*
 * AVX2 inner product of the int4-weight fully connected kernel: 16 packed
 * bytes (32 weights) are split into their low and high nibbles,
 * sign-extended with (v ^ 8) − 8, interleaved back into element order,
 * widened to int16 and multiplied with vpmaddwd against the int16 inputs
 * (offset already added). |sum| < 2^26: exact in int32, the reference's
 * value.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "x86_avx2.h"

static inline int32_t nibble(const uint8_t *packed, size_t i)
{
    const int32_t v = (packed[i >> 1] >> ((i & 1u) * 4u)) & 0xF;
    return (v ^ 8) - 8;
}

TQ_AVX2 int32_t tq__avx2_s4_dot(const int16_t *x, const uint8_t *packed,
                                size_t first, int32_t k)
{
    int32_t sum = 0, p = 0;
    /* A row starting on a high nibble: its first value alone. */
    if ((first & 1u) && k > 0) {
        sum += (int32_t)x[0] * nibble(packed, first);
        p = 1;
    }
    const uint8_t *src = packed + ((first + (size_t)p) >> 1);
    const __m128i low4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
    for (; k - p >= 32; p += 32, src += 16) {
        const __m128i b = _mm_loadu_si128((const __m128i *)src);
        __m128i lo = _mm_and_si128(b, low4);
        __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), low4);
        lo = _mm_sub_epi8(_mm_xor_si128(lo, eight), eight);
        hi = _mm_sub_epi8(_mm_xor_si128(hi, eight), eight);
        /* Element order: byte j's low nibble, then its high nibble. */
        const __m256i w0 = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(lo, hi));
        const __m256i w1 = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(lo, hi));
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + p));
        const __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + p + 16));
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, w0));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x1, w1));
    }
    const __m256i a = _mm256_add_epi32(a0, a1);
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(a),
                              _mm256_extracti128_si256(a, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
    sum += _mm_cvtsi128_si32(t);
    for (; p < k; ++p)
        sum += (int32_t)x[p] * nibble(packed, first + (size_t)p);
    return sum;
}
