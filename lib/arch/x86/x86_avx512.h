/*
 * Shared pieces of the AVX-512 path (x86_avx512_*.c): the target attribute
 * every function of the path carries (the files are compiled with the
 * library's baseline flags; only these functions may use AVX-512, and they
 * only run after cpu_x86.c found the features), and the horizontal
 * reductions of accumulator registers.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_ARCH_X86_AVX512_H
#define TQ_ARCH_X86_AVX512_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "../dispatch.h"

#define TQ_AVX512                                                              \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,"                \
                          "avx512vnni,avx512vbmi,avx2,fma,bmi,bmi2")))
#define TQ_AVX512_INLINE static inline __attribute__((always_inline)) TQ_AVX512

/* ---- reductions of 16 accumulators into one vector ----------------------
 *
 * Each level adds the two halves of every accumulator's live part, two
 * accumulators per instruction. For f32 this is exactly the reference tree
 * of lib/arch/dispatch.h for every element: level 1 adds the 256-bit halves
 * (t[l] = s[l] + s[l + 8]), level 2 the 128-bit halves of those
 * (u[l] = t[l] + t[l + 4]), level 3 the 64-bit halves (v[l] = u[l] +
 * u[l + 2]), level 4 the last pair (v[0] + v[1]).
 *
 * Result: lane 4·L + s holds the total of accumulator x[L + 4·s]. Passing
 * the accumulators of a 4 x 4 tile column by column (x[4·j + i] = tile
 * (i, j)) thus gives the tile row by row, row i in 128-bit lane i. */

TQ_AVX512_INLINE __m512 tq__rd1_ps(__m512 x, __m512 y)
{
    return _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x44),
                         _mm512_shuffle_f32x4(x, y, 0xee));
}

TQ_AVX512_INLINE __m512 tq__rd2_ps(__m512 z1, __m512 z2)
{
    return _mm512_add_ps(_mm512_shuffle_f32x4(z1, z2, 0x88),
                         _mm512_shuffle_f32x4(z1, z2, 0xdd));
}

TQ_AVX512_INLINE __m512 tq__rd3_ps(__m512 r1, __m512 r2)
{
    const __m512d a = _mm512_castps_pd(r1), b = _mm512_castps_pd(r2);
    return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
}

TQ_AVX512_INLINE __m512 tq__rd4_ps(__m512 q1, __m512 q2)
{
    return _mm512_add_ps(_mm512_shuffle_ps(q1, q2, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(q1, q2, _MM_SHUFFLE(3, 1, 3, 1)));
}

TQ_AVX512_INLINE __m512 tq__reduce16_ps(const __m512 x[16])
{
    __m512 r[4];
    for (int i = 0; i < 4; ++i)
        r[i] = tq__rd2_ps(tq__rd1_ps(x[4 * i], x[4 * i + 1]),
                          tq__rd1_ps(x[4 * i + 2], x[4 * i + 3]));
    return tq__rd4_ps(tq__rd3_ps(r[0], r[1]), tq__rd3_ps(r[2], r[3]));
}

/* The same shuffles on int32 sums (whose order does not matter). */
TQ_AVX512_INLINE __m512i tq__rd1_epi32(__m512i x, __m512i y)
{
    return _mm512_add_epi32(_mm512_shuffle_i32x4(x, y, 0x44),
                            _mm512_shuffle_i32x4(x, y, 0xee));
}

TQ_AVX512_INLINE __m512i tq__rd2_epi32(__m512i z1, __m512i z2)
{
    return _mm512_add_epi32(_mm512_shuffle_i32x4(z1, z2, 0x88),
                            _mm512_shuffle_i32x4(z1, z2, 0xdd));
}

TQ_AVX512_INLINE __m512i tq__rd3_epi32(__m512i r1, __m512i r2)
{
    return _mm512_add_epi32(_mm512_unpacklo_epi64(r1, r2),
                            _mm512_unpackhi_epi64(r1, r2));
}

TQ_AVX512_INLINE __m512i tq__rd4_epi32(__m512i q1, __m512i q2)
{
    const __m512 a = _mm512_castsi512_ps(q1), b = _mm512_castsi512_ps(q2);
    return _mm512_add_epi32(
        _mm512_castps_si512(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
        _mm512_castps_si512(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))));
}

TQ_AVX512_INLINE __m512i tq__reduce16_epi32(const __m512i x[16])
{
    __m512i r[4];
    for (int i = 0; i < 4; ++i)
        r[i] = tq__rd2_epi32(tq__rd1_epi32(x[4 * i], x[4 * i + 1]),
                             tq__rd1_epi32(x[4 * i + 2], x[4 * i + 3]));
    return tq__rd4_epi32(tq__rd3_epi32(r[0], r[1]), tq__rd3_epi32(r[2], r[3]));
}

/* acc + the sums of four products of u's unsigned and s's signed bytes
 * per int32 lane (vpdpbusd). gcc 12 copies the intrinsic's accumulator to
 * a scratch register and back on every use, which doubles the work of a
 * kernel with many accumulators; the asm operand "+v" keeps it in place. */
TQ_AVX512_INLINE __m512i tq__dpbusd(__m512i acc, __m512i u, __m512i s)
{
#if defined(__GNUC__) && !defined(__clang__)
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
#else
    return _mm512_dpbusd_epi32(acc, u, s);
#endif
}

/* out[d] = dword d of every r[l]: a 16 x 16 dword transpose in registers
 * (interleave 32-bit, then 64-bit, then 128-bit lanes). */
TQ_AVX512_INLINE void tq__transpose16_epi32(const __m512i r[16],
                                            __m512i out[16])
{
    __m512i a[16], b[16];
    for (int i = 0; i < 8; ++i) {
        a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {
        b[4 * i] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
        b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
    }
    /* b[4i + t], 128-bit lane L: column 4L + t of rows 4i .. 4i + 3. */
    for (int t = 0; t < 4; ++t) {
        const __m512i p0 = _mm512_shuffle_i32x4(b[t], b[4 + t], 0x44);
        const __m512i p1 = _mm512_shuffle_i32x4(b[t], b[4 + t], 0xee);
        const __m512i p2 = _mm512_shuffle_i32x4(b[8 + t], b[12 + t], 0x44);
        const __m512i p3 = _mm512_shuffle_i32x4(b[8 + t], b[12 + t], 0xee);
        out[t] = _mm512_shuffle_i32x4(p0, p2, 0x88);
        out[4 + t] = _mm512_shuffle_i32x4(p0, p2, 0xdd);
        out[8 + t] = _mm512_shuffle_i32x4(p1, p3, 0x88);
        out[12 + t] = _mm512_shuffle_i32x4(p1, p3, 0xdd);
    }
}

/* Mask of the first n bytes / dwords (none for n <= 0, all from 64 / 16). */
TQ_AVX512_INLINE __mmask64 tq__mask64(int32_t n)
{
    if (n <= 0)
        return 0;
    return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
}

TQ_AVX512_INLINE __mmask16 tq__mask16(int32_t n)
{
    if (n <= 0)
        return 0;
    return (__mmask16)(n >= 16 ? 0xffffu : ((1u << n) - 1u));
}

/* ---- the path's kernels (one file each) ------------------------------- */

void tq__avx512_f32_gemm(int32_t m, int32_t n, int32_t k, const float *a,
                         size_t lda, const float *b, size_t ldb, float *c,
                         size_t ldc);
void tq__avx512_s8_gemm(int32_t m, int32_t n, int32_t k, const int8_t *a,
                        size_t lda, const int8_t *b, size_t ldb, int32_t *c,
                        size_t ldc);
void tq__avx512_s8_gemm_packed(int32_t m, int32_t n, int32_t k, const int8_t *a,
                               size_t lda, const int8_t *b, size_t ldb,
                               int32_t *c, size_t ldc);
void tq__avx512_s8_prepacked_gemm(int32_t m, int32_t n, int32_t k,
                                  const int8_t *a, size_t lda,
                                  const int8_t *codes, const int32_t *sums,
                                  int32_t *c, size_t ldc);
void tq__avx512_s8_quantize(size_t n, const float *in, float scale,
                            int32_t zero_point, int8_t *out);
void tq__avx512_s8_finish(const struct tq__s8_fold *f, int32_t rows,
                          int32_t channels, const int32_t *acc, size_t ld_acc,
                          const tq_s8_output *os, int32_t ch0, int8_t *out,
                          size_t ld_out);
void tq__avx512_s8_row_sums(int32_t rows, int32_t k, const int8_t *x, size_t ld,
                            int32_t *sums);
void tq__avx512_s8_conv_pool(const tq__s8_direct_args *args);

#endif /* TQ_ARCH_X86_AVX512_H */
