/*
 * x86-64 CPU feature detection for the dispatch: CPUID says what the CPU
 * implements, XGETBV whether the operating system saves the vector state
 * (without that, using the registers would corrupt other threads).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "dispatch.h"

#include <cpuid.h>

/* CPUID leaf 1, ECX. */
#define L1C_FMA (1u << 12)
#define L1C_OSXSAVE (1u << 27)
#define L1C_AVX (1u << 28)
/* CPUID leaf 7 sub-leaf 0, EBX and ECX. */
#define L7B_AVX2 (1u << 5)
#define L7B_AVX512F (1u << 16)
#define L7B_AVX512DQ (1u << 17)
#define L7B_AVX512BW (1u << 30)
#define L7B_AVX512VL (1u << 31)
#define L7C_AVX512VBMI (1u << 1)
#define L7C_AVX512VNNI (1u << 11)
/* XCR0: SSE and AVX state; opmask, upper ZMM0-15 and ZMM16-31 state. */
#define XCR0_AVX 0x06u
#define XCR0_AVX512 0xe0u

static uint32_t xcr0(void)
{
    uint32_t lo, hi;
    /* The instruction itself, so that no target option is needed. */
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return lo;
}

static uint32_t detect(void)
{
    unsigned a, b, c, d;
    uint32_t isas = 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(1, 0, a, b, c, d);
    if ((c & (L1C_OSXSAVE | L1C_AVX | L1C_FMA)) !=
        (L1C_OSXSAVE | L1C_AVX | L1C_FMA))
        return 0;
    const uint32_t os = xcr0();
    if ((os & XCR0_AVX) != XCR0_AVX)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (!(b & L7B_AVX2))
        return 0;
    isas |= UINT32_C(1) << TQ_ISA_AVX2;
    const unsigned need_b =
        L7B_AVX512F | L7B_AVX512DQ | L7B_AVX512BW | L7B_AVX512VL;
    const unsigned need_c = L7C_AVX512VBMI | L7C_AVX512VNNI;
    if ((b & need_b) == need_b && (c & need_c) == need_c &&
        (os & XCR0_AVX512) == XCR0_AVX512)
        isas |= UINT32_C(1) << TQ_ISA_AVX512;
    return isas;
}

uint32_t tq__x86_isas(void)
{
    /* CPUID is cheap enough to repeat; no cached state to synchronise. */
    return detect();
}
