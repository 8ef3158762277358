/*
 * AVX-512 f32 GEMM microkernel (C = A·Bᵀ), bit for bit the portable
 * reference: each C element keeps its 16 FMA lanes in one zmm register
 * (lane l sums the products p with p % 16 == l, in increasing p, one
 * rounding each) and is reduced with the reference tree (x86_avx512.h).
 * A and B rows are read in place, no packing: a 6 x 4 (long k) or 4 x 4
 * tile of C loads its A and B vectors for 16 products and runs 24 or 16
 * FMAs.
 *
 * Tails: the last, partial 16 products are loaded zero-filled under a
 * mask, which adds fmaf(0, 0, s) = s to the idle lanes (see dispatch.h).
 * Tiles past the edge of C repeat a valid row, which is harmless because
 * an element depends on its own rows only, and store nothing there.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "x86_avx512.h"

/* Rows of B a block of the loop nest keeps hot in L2 while all of A
 * streams by: half of a 2 MiB L2 (256 rows at k = 1024), which measured
 * best at 1024^3 (256 KiB: 0.88x OpenBLAS, 1 MiB: 0.93-0.97x, 2 MiB:
 * 0.73x; docs/performance.md). */
#define F32_BLOCK_BYTES (1024 * 1024)

/* From this k on, 6-row tiles (fewer loads per FMA) beat 4-row ones. */
#define SIX_ROWS_MIN_K 256

/* Loads of a tile step: aligned (the rows share one alignment) or not. */
TQ_AVX512_INLINE __m512 load_step(int aligned, __mmask16 m, const float *p)
{
    return aligned ? _mm512_maskz_load_ps(m, p) : _mm512_maskz_loadu_ps(m, p);
}

/* Up to 4 rows of reduced results, row i in 128-bit lane i. */
TQ_AVX512_INLINE void store_rows(__m512 r, float *c, size_t ldc, int32_t rows,
                                 __mmask8 mn)
{
    if (rows > 0)
        _mm_mask_storeu_ps(c, mn, _mm512_castps512_ps128(r));
    if (rows > 1)
        _mm_mask_storeu_ps(c + ldc, mn, _mm512_extractf32x4_ps(r, 1));
    if (rows > 2)
        _mm_mask_storeu_ps(c + 2 * ldc, mn, _mm512_extractf32x4_ps(r, 2));
    if (rows > 3)
        _mm_mask_storeu_ps(c + 3 * ldc, mn, _mm512_extractf32x4_ps(r, 3));
}

/* An M x 4 tile (M = 4 or 6): A rows ar[0..M-1], B rows br[0..3]; stores
 * mr x nr results. Six rows keep 24 accumulators, 6 A vectors and a B
 * vector in the 32 registers and load 10 vectors per 24 FMAs (4 x 4: 8
 * per 16), which is what large products need; 4 rows suit short k, where
 * the reductions weigh more.
 *
 * ALIGNED: every row starts o floats past a 64-byte boundary. The tile then
 * reads whole aligned vectors from o floats before each row (a load that
 * straddles two cache lines costs two), so product p lands in lane
 * (p + o) % 16, in increasing p: the reference's lane sums, rotated by o
 * lanes (masked-off lanes add fmaf(0, 0, s) = s). The reduction tree
 * needs no rotation back: rotating its 16 inputs only permutes the pairs
 * each level adds (lane l meets l + 8, then l + 4, ...), and a + b = b + a
 * exactly, so every level and the total come out bit for bit the same. */
TQ_AVX512_INLINE void tile_mx4(int M, int ALIGNED, const float *const ar[6],
                               const float *const br[4], int32_t k, int32_t o,
                               float *c, size_t ldc, int32_t mr, int32_t nr)
{
    const float *ap[6], *bp[4];
    for (int i = 0; i < M; ++i)
        ap[i] = (const float *)((uintptr_t)ar[i] - (uintptr_t)o * 4);
    for (int j = 0; j < 4; ++j)
        bp[j] = (const float *)((uintptr_t)br[j] - (uintptr_t)o * 4);
    /* lo: rows 0-3, hi: rows 4-5 (and two zero rows), each as the 4 x 4
     * layout tq__reduce16_ps wants: x[4·j + i] = tile (i, j). */
    __m512 lo[16], hi[16];
    for (int q = 0; q < 16; ++q)
        lo[q] = hi[q] = _mm512_setzero_ps();
    const int32_t total = k + o;
#define STEP(LOAD, m, p)                                                       \
    do {                                                                       \
        __m512 av[6];                                                          \
        for (int i = 0; i < M; ++i)                                            \
            av[i] = LOAD(m, ap[i] + (p));                                      \
        for (int j = 0; j < 4; ++j) {                                          \
            const __m512 bv = LOAD(m, bp[j] + (p));                            \
            for (int i = 0; i < 4; ++i)                                        \
                lo[4 * j + i] = _mm512_fmadd_ps(av[i], bv, lo[4 * j + i]);     \
            for (int i = 4; i < M; ++i)                                        \
                hi[4 * j + i - 4] =                                            \
                    _mm512_fmadd_ps(av[i], bv, hi[4 * j + i - 4]);             \
        }                                                                      \
    } while (0)
#define MASKED(m, q) load_step(ALIGNED, m, q)
#define FULL(m, q) (ALIGNED ? _mm512_load_ps(q) : _mm512_loadu_ps(q))
    /* The first step (lanes before o masked off), the full steps, the
     * last partial one. */
    STEP(MASKED, (__mmask16)(~tq__mask16(o) & tq__mask16(total)), 0);
    int32_t p = 16;
    for (; p + 16 <= total; p += 16)
        STEP(FULL, 0, p);
    if (p < total)
        STEP(MASKED, tq__mask16(total - p), p);
#undef STEP
#undef MASKED
#undef FULL
    const __mmask8 mn = (__mmask8)tq__mask16(nr);
    store_rows(tq__reduce16_ps(lo), c, ldc, mr, mn);
    if (M > 4)
        store_rows(tq__reduce16_ps(hi), c + 4 * ldc, ldc, mr - 4, mn);
}

/* One A row against 16 B rows br[0..15]; stores nr results to c. */
TQ_AVX512_INLINE void tile1x16(const float *ar, const float *const br[16],
                               int32_t k, float *c, int32_t nr)
{
    __m512 acc[16];
    for (int q = 0; q < 16; ++q)
        acc[q] = _mm512_setzero_ps();
    int32_t p = 0;
    /* acc[q] belongs to column 4·(q % 4) + q / 4, so that the reduction
     * leaves the 16 results in column order. */
    for (; p + 16 <= k; p += 16) {
        const __m512 av = _mm512_loadu_ps(ar + p);
        for (int q = 0; q < 16; ++q)
            acc[q] = _mm512_fmadd_ps(
                av, _mm512_loadu_ps(br[4 * (q % 4) + q / 4] + p), acc[q]);
    }
    if (p < k) {
        const __mmask16 mk = tq__mask16(k - p);
        const __m512 av = _mm512_maskz_loadu_ps(mk, ar + p);
        for (int q = 0; q < 16; ++q)
            acc[q] = _mm512_fmadd_ps(
                av, _mm512_maskz_loadu_ps(mk, br[4 * (q % 4) + q / 4] + p),
                acc[q]);
    }
    _mm512_mask_storeu_ps(c, tq__mask16(nr), tq__reduce16_ps(acc));
}

/* The float offset from a 64-byte boundary shared by every row of A and
 * B, or -1 when the rows differ. */
static int32_t shared_offset(const float *a, size_t lda, const float *b,
                             size_t ldb)
{
    const uintptr_t oa = (uintptr_t)a % 64, ob = (uintptr_t)b % 64;
    if (oa != ob || oa % 4 != 0 || lda % 16 != 0 || ldb % 16 != 0)
        return -1;
    return (int32_t)(oa / 4);
}

/* Rows i0 .. i0 + mr - 1 (mr <= M) against B rows j0 .. j1 - 1. */
TQ_AVX512_INLINE void rows_m(int M, int32_t i0, int32_t mr, int32_t j0,
                             int32_t j1, int32_t k, const float *a, size_t lda,
                             const float *b, size_t ldb, float *c, size_t ldc)
{
    const int32_t o = shared_offset(a, lda, b, ldb);
    const float *ar[6];
    for (int i = 0; i < M; ++i)
        ar[i] = a + (size_t)(i0 + (i < mr ? i : mr - 1)) * lda;
    for (int32_t j = j0; j < j1; j += 4) {
        const int32_t nr = j1 - j < 4 ? j1 - j : 4;
        const float *br[4];
        for (int q = 0; q < 4; ++q)
            br[q] = b + (size_t)(j + (q < nr ? q : nr - 1)) * ldb;
        float *ct = c + (size_t)i0 * ldc + (size_t)j;
        if (o >= 0)
            tile_mx4(M, 1, ar, br, k, o, ct, ldc, mr, nr);
        else
            tile_mx4(M, 0, ar, br, k, 0, ct, ldc, mr, nr);
    }
}

TQ_AVX512 static void rows4(int32_t i0, int32_t mr, int32_t j0, int32_t j1,
                            int32_t k, const float *a, size_t lda,
                            const float *b, size_t ldb, float *c, size_t ldc)
{
    rows_m(4, i0, mr, j0, j1, k, a, lda, b, ldb, c, ldc);
}

TQ_AVX512 static void rows6(int32_t i0, int32_t j0, int32_t j1, int32_t k,
                            const float *a, size_t lda, const float *b,
                            size_t ldb, float *c, size_t ldc)
{
    rows_m(6, i0, 6, j0, j1, k, a, lda, b, ldb, c, ldc);
}

TQ_AVX512 static void row1(int32_t i, int32_t j0, int32_t j1, int32_t k,
                           const float *a, size_t lda, const float *b,
                           size_t ldb, float *c, size_t ldc)
{
    const float *ar = a + (size_t)i * lda;
    for (int32_t j = j0; j < j1; j += 16) {
        const int32_t nr = j1 - j < 16 ? j1 - j : 16;
        const float *br[16];
        for (int q = 0; q < 16; ++q)
            br[q] = b + (size_t)(j + (q < nr ? q : nr - 1)) * ldb;
        tile1x16(ar, br, k, c + (size_t)i * ldc + (size_t)j, nr);
    }
}

TQ_AVX512 void tq__avx512_f32_gemm(int32_t m, int32_t n, int32_t k,
                                   const float *a, size_t lda, const float *b,
                                   size_t ldb, float *c, size_t ldc)
{
    const size_t row_bytes = (size_t)k * sizeof(float);
    int32_t nb = (int32_t)(F32_BLOCK_BYTES / row_bytes);
    nb = nb < 16 ? 16 : nb - nb % 16;
    for (int32_t j0 = 0; j0 < n; j0 += nb) {
        const int32_t j1 = n - j0 < nb ? n : j0 + nb;
        int32_t i = 0;
        if (k >= SIX_ROWS_MIN_K)
            for (; i + 6 <= m; i += 6)
                rows6(i, j0, j1, k, a, lda, b, ldb, c, ldc);
        for (; i + 4 <= m; i += 4)
            rows4(i, 4, j0, j1, k, a, lda, b, ldb, c, ldc);
        /* One or two rows are cheaper alone than in a padded 4-row tile. */
        if (m - i == 3) {
            rows4(i, 3, j0, j1, k, a, lda, b, ldb, c, ldc);
            i += 3;
        }
        for (; i < m; ++i)
            row1(i, j0, j1, k, a, lda, b, ldb, c, ldc);
    }
}
