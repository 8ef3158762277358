/*
 * AVX2 inner product of the 16x8 kernels (lib/s16): 16 int16 inputs
 * against 16 int8 weights widened to int16, vpmaddwd pair sums in int32.
 * A pair sum is at most 2 · 2^22 = 2^23, so each int32 lane takes 128
 * steps (2^30) before it is widened into the int64 total. Integer sums are
 * exact: the result is tq__s16_dot_ref()'s.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "x86_avx2.h"

/* Steps of 16 products an int32 lane may take: 128 · 2^23 = 2^30. */
#define STEPS_PER_BLOCK 128

TQ_AVX2 int64_t tq__avx2_s16_dot(const int16_t *x, const int8_t *w, int32_t k)
{
    __m256i total = _mm256_setzero_si256(); /* 4 x int64 */
    int32_t p = 0;
    while (k - p >= 16) {
        const int32_t steps = (k - p) / 16 < STEPS_PER_BLOCK
                                  ? (k - p) / 16
                                  : STEPS_PER_BLOCK;
        /* Two accumulators to hide the add latency. */
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
        int32_t s = 0;
        for (; s + 2 <= steps; s += 2, p += 32) {
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + p));
            const __m256i x1 =
                _mm256_loadu_si256((const __m256i *)(x + p + 16));
            const __m256i w0 = _mm256_cvtepi8_epi16(
                _mm_loadu_si128((const __m128i *)(w + p)));
            const __m256i w1 = _mm256_cvtepi8_epi16(
                _mm_loadu_si128((const __m128i *)(w + p + 16)));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, w0));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x1, w1));
        }
        if (s < steps) {
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + p));
            const __m256i w0 = _mm256_cvtepi8_epi16(
                _mm_loadu_si128((const __m128i *)(w + p)));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, w0));
            p += 16;
        }
        /* Each of a0, a1 took at most 64 steps per lane here (<= 2^29),
         * but widen them apart all the same. */
        total = _mm256_add_epi64(
            total, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(a0)));
        total = _mm256_add_epi64(
            total, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(a0, 1)));
        total = _mm256_add_epi64(
            total, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(a1)));
        total = _mm256_add_epi64(
            total, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(a1, 1)));
    }
    const __m128i t2 = _mm_add_epi64(_mm256_castsi256_si128(total),
                                     _mm256_extracti128_si256(total, 1));
    int64_t sum = _mm_cvtsi128_si64(t2) + _mm_extract_epi64(t2, 1);
    for (; p < k; ++p)
        sum += (int32_t)x[p] * (int32_t)w[p];
    return sum;
}
