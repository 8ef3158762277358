/*
 * AArch64 CPU feature detection for the dispatch, on Linux: the kernel's
 * hardware capability bits (getauxval(AT_HWCAP)) say what the CPU has and
 * the OS supports. Reading the ID registers directly would trap on older
 * kernels; the auxiliary vector is the stable interface.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "dispatch.h"

#include <sys/auxv.h>

/* The Linux arm64 HWCAP bits (asm/hwcap.h), should libc not name them. */
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1ul << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20)
#endif

uint32_t tq__aarch64_isas(void)
{
    /* A read of process memory, cheap enough to repeat: no cached state
     * to synchronise between threads. */
    const unsigned long hw = getauxval(AT_HWCAP);
    uint32_t isas = 0;
    if (hw & HWCAP_ASIMD) {
        isas |= UINT32_C(1) << TQ_ISA_NEON;
        if (hw & HWCAP_ASIMDDP)
            isas |= UINT32_C(1) << TQ_ISA_NEON_DOT;
    }
    return isas;
}
