/*
 * Helpers shared by the Armv7E-M DSP-extension units (armv7em_dsp.c, the
 * int8 GEMM; armv7em_dsp_s16_s4.c, the 16x8 and int4-weight inner
 * products): unaligned word loads and the SXTB16 / PKHBT / PKHTB forms
 * <arm_acle.h> lacks. Internal; static inline only.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_ARCH_ARMV7EM_DSP_H
#define TQ_ARCH_ARMV7EM_DSP_H

#include <arm_acle.h>
#include <stdint.h>
#include <string.h>

#if !defined(__ARM_FEATURE_DSP) || !defined(__ARM_FEATURE_SIMD32)
#error "the armv7em units need a core with the DSP extension (Armv7E-M)"
#endif

/* Four bytes from any address: a Cortex-M4/M7 loads unaligned words with a
 * plain LDR, which memcpy() of 4 bytes becomes. */
static inline uint32_t tq__dsp_load4(const void *p)
{
    uint32_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* Bytes 0 and 2 of a word as two int16 halves. */
static inline int16x2_t tq__dsp_even_bytes(uint32_t w)
{
    return __sxtb16((int8x4_t)w);
}

/* Bytes 1 and 3: SXTB16 with its operand rotated by 8, one instruction
 * (gcc 12 would emit the rotation separately from __sxtb16 of a rotated
 * value, and <arm_acle.h> has no rotating form). */
static inline int16x2_t tq__dsp_odd_bytes(uint32_t w)
{
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}

/* PKHBT: the low half of @p lo below the low half of @p hi. */
static inline uint32_t tq__dsp_pack_low(uint32_t lo, uint32_t hi)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

/* PKHTB: the high half of @p lo below the high half of @p hi. */
static inline uint32_t tq__dsp_pack_high(uint32_t lo, uint32_t hi)
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}

#endif /* TQ_ARCH_ARMV7EM_DSP_H */
