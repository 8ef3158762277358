/*
 * AVX-512 VNNI int8 GEMM against weights packed ahead of time
 * (tq_s8_pack_weights; layout in lib/arch/dispatch.h): the fully
 * connected layers of a network, mostly at small batch.
 *
 * One group of a packed block is already the vector vpdpbusd wants: 16
 * output features by 4 consecutive weights. The input supplies the
 * unsigned operand: its rows are flipped once to x + 128 (a small stack
 * copy) and 4 bytes at a time broadcast, so each lane sums Σ (x + 128)·w
 * and the packed row sums take 128·Σw back out at the end, exactly
 * (|Σ (x + 128)·w| <= 255·128·2^15 < 2^31). No lane is summed across and
 * the weights are not rearranged per call.
 *
 * Up to four blocks (64 features) at a time. Two input rows share every
 * weight load; a single row splits its groups over two accumulators per
 * block instead, so that 8 independent chains hide vpdpbusd's latency.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "x86_avx512.h"

#define GROUP_BYTES (TQ__PACK_LANES * TQ__PACK_DEPTH)

/* Input rows as u8 (x + 128), k padded to whole groups with 128 (an input
 * of 0), which the padding's zero weights cancel: broadcasts then come
 * straight from memory, with no per-broadcast flip competing with
 * vpdpbusd for its ports. */
#define FLIP_BYTES 32768 /* >= one row of TQ_S8_MAX_REDUCTION bytes */

TQ_AVX512_INLINE void flip_row(const int8_t *x, int32_t k, int32_t kp,
                               unsigned char *u)
{
    const __m512i flip = _mm512_set1_epi8(-128);
    for (int32_t p = 0; p < kp; p += 64) {
        const __mmask64 in = tq__mask64(k - p), out = tq__mask64(kp - p);
        /* Masked-off input lanes load 0 and come out as 128. */
        _mm512_mask_storeu_epi8(
            u + p, out,
            _mm512_xor_si512(_mm512_maskz_loadu_epi8(in, x + p), flip));
    }
}

TQ_AVX512_INLINE __m512i bcast4(const unsigned char *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

/* C row = acc − 128·sums for the live columns of block b. */
TQ_AVX512_INLINE void store_block(int32_t *crow, __m512i acc,
                                  const int32_t *sums, int32_t n, int32_t b)
{
    const __mmask16 live = tq__mask16(n - 16 * b);
    const __m512i s = _mm512_maskz_loadu_epi32(live, sums + 16 * b);
    _mm512_mask_storeu_epi32(crow + 16 * b, live,
                             _mm512_sub_epi32(acc, _mm512_slli_epi32(s, 7)));
}

/* Two flipped rows, NB blocks (NB is a constant at every call, so the
 * arrays are registers). */
TQ_AVX512_INLINE void two_rows(int32_t nb, int32_t n, int32_t kp,
                               const unsigned char *u0,
                               const unsigned char *u1, const int8_t *codes,
                               size_t block_bytes, const int32_t *sums,
                               int32_t *c0, int32_t *c1)
{
    __m512i x[4], y[4];
    for (int32_t b = 0; b < nb; ++b)
        x[b] = y[b] = _mm512_setzero_si512();
    for (int32_t p = 0; p < kp; p += 4) {
        const __m512i v0 = bcast4(u0 + p), v1 = bcast4(u1 + p);
        const int8_t *g = codes + (size_t)(p / 4) * GROUP_BYTES;
        for (int32_t b = 0; b < nb; ++b) {
            const __m512i w = _mm512_loadu_si512(g + (size_t)b * block_bytes);
            x[b] = tq__dpbusd(x[b], v0, w);
            y[b] = tq__dpbusd(y[b], v1, w);
        }
    }
    for (int32_t b = 0; b < nb; ++b) {
        store_block(c0, x[b], sums, n, b);
        store_block(c1, y[b], sums, n, b);
    }
}

/* One flipped row, NB blocks: even and odd groups in separate
 * accumulators. */
TQ_AVX512_INLINE void one_row(int32_t nb, int32_t n, int32_t kp,
                              const unsigned char *u0, const int8_t *codes,
                              size_t block_bytes, const int32_t *sums,
                              int32_t *c0)
{
    __m512i x[4], y[4];
    for (int32_t b = 0; b < nb; ++b)
        x[b] = y[b] = _mm512_setzero_si512();
    int32_t p = 0;
    for (; p + 8 <= kp; p += 8) {
        const __m512i v0 = bcast4(u0 + p), v1 = bcast4(u0 + p + 4);
        const int8_t *g = codes + (size_t)(p / 4) * GROUP_BYTES;
        for (int32_t b = 0; b < nb; ++b) {
            const int8_t *wb = g + (size_t)b * block_bytes;
            x[b] = tq__dpbusd(x[b], v0, _mm512_loadu_si512(wb));
            y[b] = tq__dpbusd(y[b], v1, _mm512_loadu_si512(wb + GROUP_BYTES));
        }
    }
    if (p < kp) {
        const __m512i v0 = bcast4(u0 + p);
        const int8_t *g = codes + (size_t)(p / 4) * GROUP_BYTES;
        for (int32_t b = 0; b < nb; ++b)
            x[b] = tq__dpbusd(x[b], v0,
                              _mm512_loadu_si512(g + (size_t)b * block_bytes));
    }
    for (int32_t b = 0; b < nb; ++b)
        store_block(c0, _mm512_add_epi32(x[b], y[b]), sums, n, b);
}

#define FOR_BLOCKS(NB)                                                         \
    do {                                                                       \
        int32_t i = 0;                                                         \
        for (; i + 2 <= rows; i += 2)                                          \
            two_rows(NB, n, kp, u + (size_t)i * kp, u + (size_t)(i + 1) * kp,  \
                     codes, block_bytes, sums, crows + (size_t)i * ldc,        \
                     crows + (size_t)(i + 1) * ldc);                           \
        if (i < rows)                                                          \
            one_row(NB, n, kp, u + (size_t)i * kp, codes, block_bytes, sums,   \
                    crows + (size_t)i * ldc);                                  \
    } while (0)

TQ_AVX512 void tq__avx512_s8_prepacked_gemm(int32_t m, int32_t n, int32_t k,
                                            const int8_t *a, size_t lda,
                                            const int8_t *codes,
                                            const int32_t *sums, int32_t *c,
                                            size_t ldc)
{
    __attribute__((aligned(64))) unsigned char u[FLIP_BYTES];
    const int32_t kp = (k + 3) / 4 * 4;
    const size_t block_bytes = (size_t)kp / 4 * GROUP_BYTES;
    const int32_t per_pass = FLIP_BYTES / kp < m ? FLIP_BYTES / kp : m;
    for (int32_t i0 = 0; i0 < m; i0 += per_pass) {
        const int32_t rows = m - i0 < per_pass ? m - i0 : per_pass;
        for (int32_t r = 0; r < rows; ++r)
            flip_row(a + (size_t)(i0 + r) * lda, k, kp, u + (size_t)r * kp);
        int32_t *crows = c + (size_t)i0 * ldc;
        switch ((n + 15) / 16) {
        case 1: FOR_BLOCKS(1); break;
        case 2: FOR_BLOCKS(2); break;
        case 3: FOR_BLOCKS(3); break;
        default: FOR_BLOCKS(4); break;
        }
    }
}
