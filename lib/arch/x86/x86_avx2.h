/*
 * Shared pieces of the AVX2 path (x86_avx2_*.c): the target attribute
 * every function of the path carries (only these functions may use AVX2
 * and FMA, and they only run after cpu_x86.c found the features), and the
 * horizontal reductions of accumulator registers.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_ARCH_X86_AVX2_H
#define TQ_ARCH_X86_AVX2_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "../dispatch.h"

#define TQ_AVX2 __attribute__((target("avx2,fma")))
#define TQ_AVX2_INLINE static inline __attribute__((always_inline)) TQ_AVX2

/* The reference tree of lib/arch/dispatch.h after its first level: each
 * t_e holds t[0..7] of one element (its 16 lanes live in two registers,
 * lanes 0-7 and 8-15, whose sum is the first level). Returns the totals of
 * t0, t1, t2, t3 in lanes 0-3. Each level adds the two halves of every
 * element's live part, as the reference does. */
TQ_AVX2_INLINE __m128 tq__avx2_tree4_ps(__m256 t0, __m256 t1, __m256 t2,
                                        __m256 t3)
{
    const __m256 r01 = _mm256_add_ps(_mm256_permute2f128_ps(t0, t1, 0x20),
                                     _mm256_permute2f128_ps(t0, t1, 0x31));
    const __m256 r23 = _mm256_add_ps(_mm256_permute2f128_ps(t2, t3, 0x20),
                                     _mm256_permute2f128_ps(t2, t3, 0x31));
    const __m256d x = _mm256_castps_pd(r01), y = _mm256_castps_pd(r23);
    const __m256 q = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(x, y)),
                                   _mm256_castpd_ps(_mm256_unpackhi_pd(x, y)));
    /* 128-bit lane 0 holds the v pairs of t0 and t2, lane 1 of t1, t3. */
    const __m256 f =
        _mm256_add_ps(_mm256_shuffle_ps(q, q, _MM_SHUFFLE(2, 0, 2, 0)),
                      _mm256_shuffle_ps(q, q, _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm256_castps256_ps128(
        _mm256_permutevar8x32_ps(f, _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5)));
}

/* Totals of four int32 accumulators in lanes 0-3 (order is free). */
TQ_AVX2_INLINE __m128i tq__avx2_sum4_epi32(__m256i a0, __m256i a1, __m256i a2,
                                           __m256i a3)
{
    const __m256i h =
        _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
    return _mm_add_epi32(_mm256_castsi256_si128(h),
                         _mm256_extracti128_si256(h, 1));
}

void tq__avx2_f32_gemm(int32_t m, int32_t n, int32_t k, const float *a,
                       size_t lda, const float *b, size_t ldb, float *c,
                       size_t ldc);
int64_t tq__avx2_s16_dot(const int16_t *x, const int8_t *w, int32_t k);
int32_t tq__avx2_s4_dot(const int16_t *x, const uint8_t *packed, size_t first,
                        int32_t k);
void tq__avx2_s8_row_sums(int32_t rows, int32_t k, const int8_t *x, size_t ld,
                          int32_t *sums);
void tq__avx2_s8_gemm(int32_t m, int32_t n, int32_t k, const int8_t *a,
                      size_t lda, const int8_t *b, size_t ldb, int32_t *c,
                      size_t ldc);
void tq__avx2_s8_quantize(size_t n, const float *in, float scale,
                          int32_t zero_point, int8_t *out);
void tq__avx2_s8_prepacked_gemm(int32_t m, int32_t n, int32_t k,
                                const int8_t *a, size_t lda,
                                const int8_t *codes, const int32_t *sums,
                                int32_t *c, size_t ldc);
void tq__avx2_s8_add(size_t n, const int8_t *a, const int8_t *b,
                     const tq_s8_add_params *p, int8_t *out);
void tq__avx2_s8_mul(size_t n, const int8_t *a, size_t sa, const int8_t *b,
                     size_t sb, const tq_s8_mul_params *p, int8_t *out);
void tq__avx2_s8_depthwise(const tq_conv_params *conv, const tq_dims *in_dims,
                           const int8_t *in, int32_t input_offset,
                           const tq_dims *filter_dims, const int8_t *filter,
                           const int32_t *bias, const tq_s8_output *os,
                           const tq_dims *out_dims, int8_t *out);
struct tq__s8_fold;
void tq__avx2_s8_finish(const struct tq__s8_fold *f, int32_t rows,
                        int32_t channels, const int32_t *acc, size_t ld_acc,
                        const tq_s8_output *os, int32_t ch0, int8_t *out,
                        size_t ld_out);

#endif /* TQ_ARCH_X86_AVX2_H */
