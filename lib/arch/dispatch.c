/*
 * Microkernel selection: one table per instruction-set path, the choice
 * settled once (TINYQ_ISA, else the best path the CPU runs) and changed
 * only by tq_set_isa().
 *
 * Builds for an operating system (x86-64, AArch64) read TINYQ_ISA and
 * keep the choice in an atomic; bare-metal builds (a Cortex-M with or
 * without the DSP path) and other CPUs neither read the environment nor
 * need atomics.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "dispatch.h"

#include <string.h>

/* The portable f32 entry stays NULL and lib/f32/gemm.c falls back to
 * tq__f32_gemm_ref itself: a table that named it would pull the f32
 * microkernel (and, on a core without an FPU, the soft-float routines) into
 * every program that runs an int8 kernel. The packed-weights and quantize
 * entries stay NULL for the same reason: only programs that call
 * tq_s8_fully_connected_packed() or tq_s8_quantize_f32() need their
 * references. */
static const tq__ukernels portable = {
    .name = "portable-c",
    .isa = TQ_ISA_PORTABLE,
    .s8_gemm = tq__s8_gemm_ref,
    .s8_finish = tq__s8_finish_block_ref,
    .s8_row_sums = tq__s8_row_sums_ref,
    /* s16_dot, s4_dot, s8_mul, s8_add, ...: NULL, the references reached
     * through the tq__*_entry() helpers of dispatch.h. */
};

static const char *const isa_names[] = {"auto", "portable", "avx2", "avx512",
                                        "neon", "neondot", "dsp"};
#define ISA_COUNT ((int32_t)(sizeof isa_names / sizeof isa_names[0]))

const char *tq_isa_name(int32_t isa)
{
    return isa >= 0 && isa < ISA_COUNT ? isa_names[isa] : NULL;
}

/* The table of each tq_isa value this build contains; NULL for the others
 * and for [TQ_ISA_AUTO]. */
static const tq__ukernels *const tables[ISA_COUNT] = {
    [TQ_ISA_PORTABLE] = &portable,
#ifdef TQ_ARCH_X86
    [TQ_ISA_AVX2] = &tq__avx2_ukernels,
    [TQ_ISA_AVX512] = &tq__avx512_ukernels,
#endif
#ifdef TQ_ARCH_AARCH64
    [TQ_ISA_NEON] = &tq__neon_ukernels,
    [TQ_ISA_NEON_DOT] = &tq__neondot_ukernels,
#endif
#ifdef TQ_ARCH_ARM_DSP
    [TQ_ISA_ARM_DSP] = &tq__armdsp_ukernels,
#endif
};

uint32_t tq_isa_available(void)
{
    uint32_t have = UINT32_C(1) << TQ_ISA_PORTABLE;
#ifdef TQ_ARCH_X86
    have |= tq__x86_isas();
#endif
#ifdef TQ_ARCH_AARCH64
    have |= tq__aarch64_isas();
#endif
#ifdef TQ_ARCH_ARM_DSP
    /* Compiled for a core with the DSP extension: it has it. */
    have |= UINT32_C(1) << TQ_ISA_ARM_DSP;
#endif
    return have;
}

/* The fastest available path at or below @p isa. Within one architecture
 * a higher tq_isa value is the faster path. */
static const tq__ukernels *best_up_to(int32_t isa)
{
    const uint32_t have = tq_isa_available();
    for (int32_t i = isa; i > TQ_ISA_PORTABLE; --i)
        if (tables[i] && (have & (UINT32_C(1) << i)))
            return tables[i];
    return &portable;
}

#if defined(TQ_ARCH_X86) || defined(TQ_ARCH_AARCH64)
/* Builds for an operating system: TINYQ_ISA, and threads. */

#include <stdatomic.h>
#include <stdlib.h>

/* NULL until the first use settles it. Kernels load it once per call, so
 * a change by tq_set_isa() never switches paths in the middle of a call. */
static _Atomic(const tq__ukernels *) current;

/* TINYQ_ISA, read once, the first time anything needs the table. */
static const tq__ukernels *initial_choice(void)
{
    const char *want = getenv("TINYQ_ISA");
    int32_t isa = ISA_COUNT - 1;
    if (want)
        for (int32_t i = TQ_ISA_PORTABLE; i < ISA_COUNT; ++i)
            if (strcmp(want, isa_names[i]) == 0)
                isa = i;
    return best_up_to(isa);
}

const tq__ukernels *tq__get_ukernels(void)
{
    const tq__ukernels *t =
        atomic_load_explicit(&current, memory_order_acquire);
    if (t)
        return t;
    /* Racing first calls all compute the same choice; the first store
     * wins and everyone uses what was stored. */
    const tq__ukernels *expected = NULL;
    t = initial_choice();
    if (!atomic_compare_exchange_strong_explicit(
            &current, &expected, t, memory_order_acq_rel, memory_order_acquire))
        t = expected;
    return t;
}

static void set_current(const tq__ukernels *t)
{
    atomic_store_explicit(&current, t, memory_order_release);
}

#else
/* Bare metal, or a CPU with the portable path alone: no environment to
 * read, and no atomics on a Cortex-M0+. The choice is fixed at compile
 * time and changes only through tq_set_isa(), which a firmware calls, if
 * at all, before it runs kernels. */

#ifdef TQ_ARCH_ARM_DSP
static const tq__ukernels *current = &tq__armdsp_ukernels;
#else
static const tq__ukernels *current = &portable;
#endif

const tq__ukernels *tq__get_ukernels(void)
{
    return current;
}

static void set_current(const tq__ukernels *t)
{
    current = t;
}

#endif

tq_status tq_set_isa(int32_t isa)
{
    if (isa < 0 || isa >= ISA_COUNT)
        return TQ_ERR_PARAM;
    if (isa == TQ_ISA_AUTO) {
        set_current(best_up_to(ISA_COUNT - 1));
        return TQ_OK;
    }
    if (!tables[isa] || !(tq_isa_available() & (UINT32_C(1) << isa)))
        return TQ_ERR_UNSUPPORTED;
    set_current(tables[isa]);
    return TQ_OK;
}

int32_t tq_get_isa(void)
{
    return tq__get_ukernels()->isa;
}

const char *tq_kernel_path(void)
{
    return tq__get_ukernels()->name;
}
