/*
 * AVX2 int8 GEMM against weights packed ahead of time (tq_s8_pack_weights;
 * layout in lib/arch/dispatch.h). AVX2 has no exact byte dot product
 * (vpmaddubsw saturates its int16 pair sums), so weights and inputs are
 * widened to int16 and vpmaddwd sums pairs into int32, exactly.
 *
 * A packed group is 16 features by 4 weights. Widened, each 16-byte
 * quarter holds 4 features' weights, against the row's 4 input values
 * repeated; vpmaddwd leaves two partial sums per feature, which the end of
 * the block adds pairwise.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "x86_avx2.h"

#define GROUP_BYTES (TQ__PACK_LANES * TQ__PACK_DEPTH)

/* The row's 4 inputs at p as int16, repeated over the register; a short
 * last group (rem 1..3) is zero-filled. */
TQ_AVX2_INLINE __m256i inputs4(const int8_t *p, int32_t rem)
{
    int32_t v = 0;
    memcpy(&v, p, (size_t)rem);
    const __m128i x16 = _mm_cvtepi8_epi16(_mm_cvtsi32_si128(v));
    return _mm256_broadcastq_epi64(x16);
}

/* Features 0-7 of two quarter accumulators: [f0 f0' f1 f1' | f2 f2' f3 f3']
 * and the same for f4..f7 -> f0..f7 in order. */
TQ_AVX2_INLINE __m256i pair_up(__m256i lo, __m256i hi)
{
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo, hi),
                                    _MM_SHUFFLE(3, 1, 2, 0));
}

TQ_AVX2 void tq__avx2_s8_prepacked_gemm(int32_t m, int32_t n, int32_t k,
                                        const int8_t *a, size_t lda,
                                        const int8_t *codes,
                                        const int32_t *sums, int32_t *c,
                                        size_t ldc)
{
    (void)sums; /* the int16 products need no correction */
    const size_t block_bytes = (size_t)((k + 3) / 4) * GROUP_BYTES;
    for (int32_t i = 0; i < m; ++i) {
        const int8_t *arow = a + (size_t)i * lda;
        int32_t *crow = c + (size_t)i * ldc;
        for (int32_t j0 = 0; j0 < n; j0 += TQ__PACK_LANES) {
            const int8_t *block = codes + (size_t)(j0 / TQ__PACK_LANES) * block_bytes;
            __m256i q0 = _mm256_setzero_si256(), q1 = q0, q2 = q0, q3 = q0;
            for (int32_t p = 0; p < k; p += 4) {
                /* A constant 4 for whole groups keeps the load inline. */
                const __m256i x = k - p >= 4 ? inputs4(arow + p, 4)
                                             : inputs4(arow + p, k - p);
                const int8_t *g = block + (size_t)(p / 4) * GROUP_BYTES;
                const __m128i *w = (const __m128i *)(const void *)g;
                q0 = _mm256_add_epi32(q0, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(_mm_loadu_si128(w))));
                q1 = _mm256_add_epi32(q1, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(_mm_loadu_si128(w + 1))));
                q2 = _mm256_add_epi32(q2, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(_mm_loadu_si128(w + 2))));
                q3 = _mm256_add_epi32(q3, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(_mm_loadu_si128(w + 3))));
            }
            int32_t out[TQ__PACK_LANES];
            _mm256_storeu_si256((__m256i *)(void *)out, pair_up(q0, q1));
            _mm256_storeu_si256((__m256i *)(void *)(out + 8), pair_up(q2, q3));
            const int32_t live = n - j0 < TQ__PACK_LANES ? n - j0 : TQ__PACK_LANES;
            memcpy(crow + j0, out, (size_t)live * sizeof(int32_t));
        }
    }
}
