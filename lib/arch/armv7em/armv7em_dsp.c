/*
 * The Armv7E-M DSP-extension path (Cortex-M4, M7): an int8 GEMM
 * microkernel built on SXTB16 and SMLAD, the way CMSIS-NN's kernels are.
 *
 * One 32-bit load brings four int8 of a row. SXTB16 sign-extends bytes 0
 * and 2 into two int16 halves, SXTB16 of the word rotated by 8 bytes 1 and
 * 3, so that two SMLADs multiply-accumulate all four products of an A
 * word with the matching B word. The pairing differs from the reference's
 * order, which cannot matter: int32 addition of these products is exact
 * and associative as long as no partial sum leaves int32, and the contract
 * (dispatch.h) bounds every sum of k <= TQ_S8_MAX_REDUCTION products by
 * 2^15 · 2^14 = 2^29 in magnitude, whatever the order. SMLAD wraps and
 * sets the sticky Q flag on overflow; with these bounds it never does.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../dispatch.h"
#include "armv7em_dsp.h"

/* acc + the four products of the int8 of @p x with those of B's widened
 * word (be, bo): two SMLADs. */
static inline int32_t dot4(uint32_t x, int16x2_t be, int16x2_t bo,
                           int32_t acc)
{
    return __smlad(tq__dsp_odd_bytes(x), bo,
                   __smlad(tq__dsp_even_bytes(x), be, acc));
}

/* The sums of `rows` (1 or 2) A rows with two B rows, out[2·r + c]. Always
 * inlined with a constant `rows`, so that each caller gets a loop with
 * only the accumulators it needs. Both B words are widened once per step
 * and serve both A rows; each A word is widened where it is used, which
 * keeps fewer values live than widening all four words first (the 2x2
 * loop still spills a few to the stack at -Os: the core has 14 registers
 * for four accumulators, four row pointers and six widened halves). */
static inline __attribute__((always_inline)) void
tile(int rows, int32_t k, const int8_t *a0, const int8_t *a1,
     const int8_t *b0, const int8_t *b1, int32_t out[4])
{
    int32_t c00 = 0, c01 = 0, c10 = 0, c11 = 0;
    const int8_t *const a0_end = a0 + (k & ~3);
    while (a0 != a0_end) {
        const uint32_t w0 = tq__dsp_load4(b0), w1 = tq__dsp_load4(b1);
        const int16x2_t b0e = tq__dsp_even_bytes(w0);
        const int16x2_t b0o = tq__dsp_odd_bytes(w0);
        const int16x2_t b1e = tq__dsp_even_bytes(w1);
        const int16x2_t b1o = tq__dsp_odd_bytes(w1);
        const uint32_t x0 = tq__dsp_load4(a0);
        c00 = dot4(x0, b0e, b0o, c00);
        c01 = dot4(x0, b1e, b1o, c01);
        if (rows == 2) {
            const uint32_t x1 = tq__dsp_load4(a1);
            c10 = dot4(x1, b0e, b0o, c10);
            c11 = dot4(x1, b1e, b1o, c11);
            a1 += 4;
        }
        a0 += 4;
        b0 += 4;
        b1 += 4;
    }
    /* The last k % 4 products one at a time (all of them when k < 4). */
    for (int32_t p = 0; p < (k & 3); ++p) {
        c00 += (int32_t)a0[p] * b0[p];
        c01 += (int32_t)a0[p] * b1[p];
        if (rows == 2) {
            c10 += (int32_t)a1[p] * b0[p];
            c11 += (int32_t)a1[p] * b1[p];
        }
    }
    out[0] = c00;
    out[1] = c01;
    out[2] = c10;
    out[3] = c11;
}

/* Tiles of two A rows by two B rows; a last odd A row takes a one-row tile
 * (a fully connected layer of batch 1 has only that). A last odd B row is
 * paired with itself and its copy of the result dropped: this costs half
 * a tile once per row pair and keeps a third loop out of the code. */
static void armdsp_s8_gemm(int32_t m, int32_t n, int32_t k, const int8_t *a,
                           size_t lda, const int8_t *b, size_t ldb,
                           int32_t *c, size_t ldc)
{
    int32_t acc[4];
    for (int32_t i = 0; i < m; i += 2) {
        const int8_t *a0 = a + (size_t)i * lda;
        int32_t *c0 = c + (size_t)i * ldc;
        const int two_rows = m - i >= 2;
        for (int32_t j = 0; j < n; j += 2) {
            const int8_t *b0 = b + (size_t)j * ldb;
            const int8_t *b1 = n - j >= 2 ? b0 + ldb : b0;
            if (two_rows)
                tile(2, k, a0, a0 + lda, b0, b1, acc);
            else
                tile(1, k, a0, a0, b0, b1, acc);
            c0[j] = acc[0];
            if (two_rows)
                c0[ldc + (size_t)j] = acc[2];
            if (n - j >= 2) {
                c0[j + 1] = acc[1];
                if (two_rows)
                    c0[ldc + (size_t)j + 1] = acc[3];
            }
        }
    }
}

/* Designated: every entry not named here is NULL, which dispatch.h
 * reads as the reference (im2col + s8_gemm for s8_conv_pool). */
const tq__ukernels tq__armdsp_ukernels = {
    .name = "armv7em-dsp",
    .isa = TQ_ISA_ARM_DSP,
    .s8_gemm = armdsp_s8_gemm,
};
