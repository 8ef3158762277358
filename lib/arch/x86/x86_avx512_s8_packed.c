/*
 * AVX-512 VNNI int8 GEMM for large products (raw int32 sums C = A·Bᵀ),
 * exact like every int8 path: B is packed into panels, A is read in place.
 *
 * A panel holds 48 columns of B for a chunk of k, as u8 (b + 128) in the
 * order vpdpbusd consumes it: [k / 4][48 columns][4 bytes]. A tile of C is
 * 8 rows by the panel's 48 columns in 24 accumulators; each step
 * broadcasts 4 bytes of an A row (the signed operand) against three
 * panel vectors, so no lane is ever summed across: the sums need no
 * horizontal reduction, and a tile subtracts 128·Σa of its rows at the
 * end (Σ a·(b + 128) = Σ a·b + 128·Σ a, within 255·128·2^15 < 2^31).
 *
 * Blocking: up to ROWS rows of A at a time (their Σa taken once per k
 * chunk), k in chunks of KC, and one panel of B packed at a time on the
 * stack (48 KiB) that all 8-row blocks of those rows then stream past:
 * the panel is read from L1/L2 and the A block (ROWS x KC = 512 KiB)
 * stays in L2. KC is large so that C, which lives in L3 for big products,
 * is rarely read back to add a later chunk. A last panel narrower than 48
 * columns runs only the vectors it has.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "x86_avx512.h"

#define PANEL 48
#define KC 1024
#define ROWS 512 /* rows whose Σa stay on the stack (2 KiB) */

/* Packs rows [j0, j0 + nr) of B (nr <= 48), k in [k0, k0 + kc), into a
 * panel; missing columns and the k tail of the last group are zeros. */
TQ_AVX512 static void pack_panel(const int8_t *b, size_t ldb, int32_t j0,
                                 int32_t nr, int32_t k0, int32_t kc,
                                 unsigned char *panel)
{
    const int32_t groups = (kc + 3) / 4;
    const __m512i flip = _mm512_set1_epi8(-128);
    for (int32_t cb = 0; cb < PANEL / 16; ++cb)
        for (int32_t p = 0; p < kc; p += 64) {
            const __mmask64 km = tq__mask64(kc - p);
            __m512i r[16], t[16];
            for (int32_t l = 0; l < 16; ++l) {
                const int32_t j = cb * 16 + l;
                r[l] = j < nr ? _mm512_maskz_mov_epi8(
                                    km, _mm512_xor_si512(
                                            _mm512_maskz_loadu_epi8(
                                                km, b + (size_t)(j0 + j) * ldb +
                                                        (size_t)(k0 + p)),
                                            flip))
                              : _mm512_setzero_si512();
            }
            tq__transpose16_epi32(r, t);
            for (int32_t g = 0; g < 16 && p / 4 + g < groups; ++g)
                _mm512_store_si512(
                    panel + ((size_t)(p / 4 + g) * PANEL + (size_t)cb * 16) * 4,
                    t[g]);
        }
}

TQ_AVX512_INLINE __m512i bcast(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

/* The last, partial group of a row: rem (1..3) bytes, zero-filled. */
TQ_AVX512_INLINE __m512i bcast_tail(const int8_t *p, int32_t rem)
{
    int32_t v = 0;
    memcpy(&v, p, (size_t)rem);
    return _mm512_set1_epi32(v);
}

/* C[i][j0 + ...] (+)= acc - corr for the nr live columns of a panel. */
TQ_AVX512_INLINE void update_row(int32_t *c, __m512i x0, __m512i x1, __m512i x2,
                                 int32_t corr, int32_t nr, int first)
{
    const __m512i cv = _mm512_set1_epi32(corr);
    const __m512i x[3] = {_mm512_sub_epi32(x0, cv), _mm512_sub_epi32(x1, cv),
                          _mm512_sub_epi32(x2, cv)};
    for (int v = 0; v < 3; ++v) {
        const __mmask16 m = tq__mask16(nr - 16 * v);
        if (!m)
            break;
        int32_t *dst = c + 16 * v;
        _mm512_mask_storeu_epi32(
            dst, m,
            first ? x[v]
                  : _mm512_add_epi32(x[v], _mm512_maskz_loadu_epi32(m, dst)));
    }
}

/* An MR x 48 tile over one chunk: named accumulators (gcc 12 copies an
 * array of them on every iteration). */
#define ROW(i, c0, c1, c2)                                                     \
    do {                                                                       \
        if (MR > i) {                                                          \
            const __m512i av = bcast(a + (size_t)(i)*lda + 4 * (size_t)g);     \
            c0 = tq__dpbusd(c0, b0, av);                                       \
            if (NV > 1)                                                        \
                c1 = tq__dpbusd(c1, b1, av);                                   \
            if (NV > 2)                                                        \
                c2 = tq__dpbusd(c2, b2, av);                                   \
        }                                                                      \
    } while (0)
#define ROW_TAIL(i, c0, c1, c2)                                                \
    do {                                                                       \
        if (MR > i) {                                                          \
            const __m512i av =                                                 \
                bcast_tail(a + (size_t)(i)*lda + 4 * (size_t)g, rem);          \
            c0 = tq__dpbusd(c0, b0, av);                                       \
            if (NV > 1)                                                        \
                c1 = tq__dpbusd(c1, b1, av);                                   \
            if (NV > 2)                                                        \
                c2 = tq__dpbusd(c2, b2, av);                                   \
        }                                                                      \
    } while (0)
#define STORE(i, c0, c1, c2)                                                   \
    do {                                                                       \
        if (MR > i)                                                            \
            update_row(c + (size_t)(i)*ldc, c0, c1, c2, corr[i], nr, first);   \
    } while (0)

TQ_AVX512_INLINE void tile(int MR, int NV, const int8_t *a, size_t lda,
                           const unsigned char *panel, int32_t kc,
                           const int32_t *corr, int32_t *c, size_t ldc,
                           int32_t nr, int first)
{
    const __m512i z = _mm512_setzero_si512();
    __m512i c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z;
    __m512i c20 = z, c21 = z, c22 = z, c30 = z, c31 = z, c32 = z;
    __m512i c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z;
    __m512i c60 = z, c61 = z, c62 = z, c70 = z, c71 = z, c72 = z;
    const int32_t full = kc / 4, rem = kc % 4;
    int32_t g = 0;
    for (; g < full; ++g) {
        const unsigned char *w = panel + (size_t)g * PANEL * 4;
        const __m512i b0 = _mm512_load_si512(w);
        const __m512i b1 = NV > 1 ? _mm512_load_si512(w + 64) : z;
        const __m512i b2 = NV > 2 ? _mm512_load_si512(w + 128) : z;
        ROW(0, c00, c01, c02);
        ROW(1, c10, c11, c12);
        ROW(2, c20, c21, c22);
        ROW(3, c30, c31, c32);
        ROW(4, c40, c41, c42);
        ROW(5, c50, c51, c52);
        ROW(6, c60, c61, c62);
        ROW(7, c70, c71, c72);
    }
    if (rem) {
        const unsigned char *w = panel + (size_t)g * PANEL * 4;
        const __m512i b0 = _mm512_load_si512(w);
        const __m512i b1 = NV > 1 ? _mm512_load_si512(w + 64) : z;
        const __m512i b2 = NV > 2 ? _mm512_load_si512(w + 128) : z;
        ROW_TAIL(0, c00, c01, c02);
        ROW_TAIL(1, c10, c11, c12);
        ROW_TAIL(2, c20, c21, c22);
        ROW_TAIL(3, c30, c31, c32);
        ROW_TAIL(4, c40, c41, c42);
        ROW_TAIL(5, c50, c51, c52);
        ROW_TAIL(6, c60, c61, c62);
        ROW_TAIL(7, c70, c71, c72);
    }
    STORE(0, c00, c01, c02);
    STORE(1, c10, c11, c12);
    STORE(2, c20, c21, c22);
    STORE(3, c30, c31, c32);
    STORE(4, c40, c41, c42);
    STORE(5, c50, c51, c52);
    STORE(6, c60, c61, c62);
    STORE(7, c70, c71, c72);
}
#undef ROW
#undef ROW_TAIL
#undef STORE

#define TILE_CASES(NV)                                                         \
    do {                                                                       \
        switch (mr) {                                                          \
        case 1:                                                                \
            tile(1, NV, a, lda, panel, kc, corr, c, ldc, nr, first);           \
            break;                                                             \
        case 2:                                                                \
            tile(2, NV, a, lda, panel, kc, corr, c, ldc, nr, first);           \
            break;                                                             \
        case 3:                                                                \
            tile(3, NV, a, lda, panel, kc, corr, c, ldc, nr, first);           \
            break;                                                             \
        case 4:                                                                \
            tile(4, NV, a, lda, panel, kc, corr, c, ldc, nr, first);           \
            break;                                                             \
        case 5:                                                                \
            tile(5, NV, a, lda, panel, kc, corr, c, ldc, nr, first);           \
            break;                                                             \
        case 6:                                                                \
            tile(6, NV, a, lda, panel, kc, corr, c, ldc, nr, first);           \
            break;                                                             \
        case 7:                                                                \
            tile(7, NV, a, lda, panel, kc, corr, c, ldc, nr, first);           \
            break;                                                             \
        default:                                                               \
            tile(8, NV, a, lda, panel, kc, corr, c, ldc, nr, first);           \
            break;                                                             \
        }                                                                      \
    } while (0)

TQ_AVX512 static void tile_rows(int32_t mr, const int8_t *a, size_t lda,
                                const unsigned char *panel, int32_t kc,
                                const int32_t *corr, int32_t *c, size_t ldc,
                                int32_t nr, int first)
{
    /* One instance per row count and vector count, each with its
     * accumulators in registers; a narrow last panel (1024 = 21·48 + 16
     * columns) runs only the vectors it has instead of zero columns. */
    if (nr <= 16)
        TILE_CASES(1);
    else if (nr <= 32)
        TILE_CASES(2);
    else
        TILE_CASES(3);
}
#undef TILE_CASES

TQ_AVX512 void tq__avx512_s8_gemm_packed(int32_t m, int32_t n, int32_t k,
                                         const int8_t *a, size_t lda,
                                         const int8_t *b, size_t ldb,
                                         int32_t *c, size_t ldc)
{
    __attribute__((aligned(64))) unsigned char panel[KC * PANEL];
    int32_t corr[ROWS];
    /* Chunks of equal size (a multiple of 4, <= KC): a k just past KC
     * does not add a sliver of a chunk that reads all of C back. */
    const int32_t chunks = k / KC + (k % KC != 0);
    const int32_t even = k / chunks + (k % chunks != 0);
    const int32_t step = (even + 3) / 4 * 4;
    for (int32_t r0 = 0; r0 < m; r0 += ROWS) {
        const int32_t rows = m - r0 < ROWS ? m - r0 : ROWS;
        int32_t kc;
        for (int32_t k0 = 0; k0 < k; k0 += kc) {
            kc = k - k0 < step ? k - k0 : step;
            const int8_t *arows = a + (size_t)r0 * lda + (size_t)k0;
            tq__avx512_s8_row_sums(rows, kc, arows, lda, corr);
            for (int32_t i = 0; i < rows; ++i)
                corr[i] *= 128; /* |Σ a| <= 2^22 */
            for (int32_t j0 = 0; j0 < n; j0 += PANEL) {
                const int32_t nr = n - j0 < PANEL ? n - j0 : PANEL;
                pack_panel(b, ldb, j0, nr, k0, kc, panel);
                for (int32_t i0 = 0; i0 < rows; i0 += 8) {
                    const int32_t mr = rows - i0 < 8 ? rows - i0 : 8;
                    tile_rows(mr, arows + (size_t)i0 * lda, lda, panel, kc,
                              corr + i0,
                              c + (size_t)(r0 + i0) * ldc + (size_t)j0, ldc,
                              nr, k0 == 0);
                }
            }
        }
    }
}
