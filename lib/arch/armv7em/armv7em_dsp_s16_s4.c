/*
 * The Armv7E-M DSP-extension inner products of the 16x8 kernels (int16
 * activations x int8 weights: lib/s16 conv2d and fully connected) and of
 * the int4-weight fully connected kernel (lib/s4), the way CMSIS-NN's
 * arm_nn_vec_mat_mult_t_s16 and its s4 kernels do them: weights widened
 * in registers to int16 pairs, two multiply-accumulates per SMLAD/SMLALD.
 *
 * These are not entries of tq__armdsp_ukernels: a table keeps everything
 * it names in the link, and a firmware that runs only int8 kernels must
 * not carry them (issue 12's 6 KiB budget for the M4 LeNet firmware).
 * tq__s16_dot_entry() and tq__s4_dot_entry() (dispatch.h) return them
 * when the DSP table is the current one, so only a program that calls a
 * 16x8 or int4 kernel links this unit; tq_set_isa(TQ_ISA_PORTABLE) still
 * switches them off.
 *
 * Both are exact integer sums: any order of addition gives the
 * reference's value (dispatch.h), which examples/firmware/kernel_check.c
 * checks under QEMU against the portable path and an int64 loop.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../dispatch.h"
#include "armv7em_dsp.h"

/* Σ x[p]·w[p] (tq__s16_dot_fn). Per 4 products: one word of 4 int8
 * weights, widened by SXTB16 into (w0, w2) and (w1, w3) and repacked by
 * PKHBT / PKHTB into (w0, w1) and (w2, w3) to meet the int16 pairs of x
 * as they lie in memory; two SMLALDs add the four products to an int64
 * accumulator, which no k <= TQ_S16_MAX_REDUCTION can overflow (|sum| <=
 * 2^46). SMLALD never sets the Q flag. */
static inline int64_t s16_step4(const int16_t *x, const int8_t *w,
                                int64_t acc)
{
    const uint32_t ww = tq__dsp_load4(w);
    const uint32_t e = (uint32_t)tq__dsp_even_bytes(ww); /* w0, w2 */
    const uint32_t o = (uint32_t)tq__dsp_odd_bytes(ww);  /* w1, w3 */
    acc = __smlald((int16x2_t)tq__dsp_load4(x),
                   (int16x2_t)tq__dsp_pack_low(e, o), acc);
    return __smlald((int16x2_t)tq__dsp_load4(x + 2),
                    (int16x2_t)tq__dsp_pack_high(e, o), acc);
}

int64_t tq__armdsp_s16_dot(const int16_t *x, const int8_t *w, int32_t k)
{
    int64_t acc = 0;
    /* 8 products per trip (a count-down do-while: no index beside the
     * two pointers, one branch per trip), then 4, then the last k % 4 one
     * at a time. */
    int32_t n = k >> 3;
    if (n > 0)
        do {
            acc = s16_step4(x + 4, w + 4, s16_step4(x, w, acc));
            w += 8;
            x += 8;
        } while (--n > 0);
    if (k & 4) {
        acc = s16_step4(x, w, acc);
        w += 4;
        x += 4;
    }
    for (int32_t p = 0; p < (k & 3); ++p)
        acc += (int32_t)x[p] * w[p];
    return acc;
}

/* Value i of a packed int4 tensor, sign-extended (lib/s4's tq__s4_get,
 * which this layer may not include). */
static int32_t s4_value(const uint8_t *packed, size_t i)
{
    const int32_t nib = (packed[i >> 1] >> ((i & 1u) * 4u)) & 0xF;
    return (nib ^ 8) - 8;
}

/* Σ x[p]·w[first + p] over packed int4 weights (tq__s4_dot_fn).
 *
 * Per 8 products: one word of 8 nibbles, v0..v7 (v_{2i} the low nibble of
 * byte i, v_{2i+1} the high one). Masking puts each nibble in the high
 * half of a byte: lo = (word << 4) & 0xF0F0F0F0 holds 16·v0, 16·v2, 16·v4,
 * 16·v6 as int8 bytes, hi = word & 0xF0F0F0F0 holds 16·v1, 16·v3, 16·v5,
 * 16·v7. PKHBT(lo, hi) = bytes (16v0, 16v2, 16v1, 16v3), whose SXTB16 is
 * the int16 pair (16v0, 16v1) and whose SXTB16 rotated by 8 is (16v2,
 * 16v3); PKHTB gives (16v4, 16v5) and (16v6, 16v7) the same way. Each pair
 * meets an int16 pair of x as it lies in memory in one SMLAD. The sum of
 * 16·w·x is exact in int32 (|x| <= 255, |16·w| <= 128, k <= 2^15: |sum| <=
 * 2^30, and no partial sum is larger, so SMLAD never sets Q) and a
 * multiple of 16, which the final division removes exactly. Sign
 * extension of a nibble in the high half of a byte costs no instruction
 * of its own: SXTB16 widens it. */
/* 16 · Σ x[q]·v[q] over n >= 1 words of 8 nibbles from @p src: the inner
 * loop, in a function of its own so that the caller's scalar head and
 * tail keep no register from it (at -Os gcc otherwise spills in the loop),
 * and a do-while so that each trip ends in one conditional branch. */
static __attribute__((noinline)) int32_t s4_words(const int16_t *x,
                                                  const uint8_t *src,
                                                  int32_t n)
{
    int32_t acc16 = 0;
    do {
        const uint32_t word = tq__dsp_load4(src);
        const uint32_t lo = (word << 4) & 0xF0F0F0F0u;
        const uint32_t hi = word & 0xF0F0F0F0u;
        const uint32_t v0123 = tq__dsp_pack_low(lo, hi);
        const uint32_t v4567 = tq__dsp_pack_high(lo, hi);
        acc16 = __smlad(tq__dsp_even_bytes(v0123),
                        (int16x2_t)tq__dsp_load4(x), acc16);
        acc16 = __smlad(tq__dsp_odd_bytes(v0123),
                        (int16x2_t)tq__dsp_load4(x + 2), acc16);
        acc16 = __smlad(tq__dsp_even_bytes(v4567),
                        (int16x2_t)tq__dsp_load4(x + 4), acc16);
        acc16 = __smlad(tq__dsp_odd_bytes(v4567),
                        (int16x2_t)tq__dsp_load4(x + 6), acc16);
        src += 4;
        x += 8;
    } while (--n > 0);
    return acc16;
}

int32_t tq__armdsp_s4_dot(const int16_t *x, const uint8_t *packed,
                          size_t first, int32_t k)
{
    int32_t sum = 0, p = 0;
    if ((first & 1u) && k > 0) {
        sum = (int32_t)x[0] * s4_value(packed, first);
        p = 1;
    }
    const int32_t words = (k - p) >> 3;
    if (words > 0) {
        sum += s4_words(x + p, packed + ((first + (size_t)p) >> 1), words) /
               16;
        p += 8 * words;
    }
    for (; p < k; ++p)
        sum += (int32_t)x[p] * s4_value(packed, first + (size_t)p);
    return sum;
}

/* ---- the 16x8 convolution: a column laid out once per pixel ------------ */

/* Reorders a gathered receptive field of k int16 values for
 * tq__armdsp_s16_dot_paired(): in each full group of 4, (x0, x1, x2, x3)
 * becomes (x0, x2, x1, x3), the pairs SXTB16 makes of 4 int8 weights; the
 * last k % 4 values stay. Done once per output pixel, it takes the PKHBT /
 * PKHTB of every weight word out of the per-channel loop. */
void tq__armdsp_s16_pair_cols(int16_t *col, int32_t k)
{
    for (int32_t n = k >> 2; n > 0; --n, col += 4) {
        const uint32_t x01 = tq__dsp_load4(col), x23 = tq__dsp_load4(col + 2);
        const uint32_t x02 = tq__dsp_pack_low(x01, x23);
        const uint32_t x13 = tq__dsp_pack_high(x01, x23);
        memcpy(col, &x02, sizeof x02);
        memcpy(col + 2, &x13, sizeof x13);
    }
}

/* Σ x[p]·w[p] with x reordered by tq__armdsp_s16_pair_cols() (the same
 * exact int64 sum as tq__s16_dot_ref() of the column before it): per 4
 * products one weight word, its two SXTB16 halves, two words of x and two
 * SMLALDs. */
static inline int64_t s16_step4_paired(const int16_t *x, const int8_t *w,
                                       int64_t acc)
{
    const uint32_t ww = tq__dsp_load4(w);
    acc = __smlald((int16x2_t)tq__dsp_load4(x), tq__dsp_even_bytes(ww), acc);
    return __smlald((int16x2_t)tq__dsp_load4(x + 2), tq__dsp_odd_bytes(ww),
                    acc);
}

int64_t tq__armdsp_s16_dot_paired(const int16_t *x, const int8_t *w,
                                  int32_t k)
{
    int64_t acc = 0;
    int32_t n = k >> 3;
    if (n > 0)
        do {
            acc = s16_step4_paired(x + 4, w + 4, s16_step4_paired(x, w, acc));
            w += 8;
            x += 8;
        } while (--n > 0);
    if (k & 4) {
        acc = s16_step4_paired(x, w, acc);
        w += 4;
        x += 4;
    }
    for (int32_t p = 0; p < (k & 3); ++p)
        acc += (int32_t)x[p] * w[p];
    return acc;
}
