/*
 * Microkernel selection: one table per instruction-set path, the choice
 * settled once (TINYQ_ISA, else the best path the CPU runs) and changed
 * only by tq_set_isa().
 *
 * Builds without the x86 paths (other CPUs, other compilers, bare metal)
 * have the portable table alone and neither read the environment nor need
 * atomics.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "dispatch.h"

#include <string.h>

/* The portable f32 entry stays NULL and lib/f32/gemm.c falls back to
 * tq__f32_gemm_ref itself: a table that named it would pull the f32
 * microkernel (and, on a core without an FPU, the soft-float routines) into
 * every program that runs an int8 kernel. */
static const tq__ukernels portable = {
    "portable-c",
    TQ_ISA_PORTABLE,
    tq__s8_gemm_ref,
    NULL,
    tq__s8_finish_block_ref,
    tq__s8_row_sums_ref,
    NULL,
};

static const char *const isa_names[] = {"auto", "portable", "avx2", "avx512"};
#define ISA_COUNT ((int32_t)(sizeof isa_names / sizeof isa_names[0]))

const char *tq_isa_name(int32_t isa)
{
    return isa >= 0 && isa < ISA_COUNT ? isa_names[isa] : NULL;
}

#ifdef TQ_ARCH_X86

#include <stdatomic.h>
#include <stdlib.h>

/* The table of each tq_isa value; [TQ_ISA_AUTO] is unused. */
static const tq__ukernels *const tables[] = {
    NULL, &portable, &tq__avx2_ukernels, &tq__avx512_ukernels};

/* NULL until the first use settles it. Kernels load it once per call, so
 * a change by tq_set_isa() never switches paths in the middle of a call. */
static _Atomic(const tq__ukernels *) current;

uint32_t tq_isa_available(void)
{
    return (UINT32_C(1) << TQ_ISA_PORTABLE) | tq__x86_isas();
}

/* The fastest available path at or below @p isa. */
static const tq__ukernels *best_up_to(int32_t isa)
{
    const uint32_t have = tq_isa_available();
    for (int32_t i = isa; i > TQ_ISA_PORTABLE; --i)
        if (have & (UINT32_C(1) << i))
            return tables[i];
    return &portable;
}

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

tq_status tq_set_isa(int32_t isa)
{
    if (isa < 0 || isa >= ISA_COUNT)
        return TQ_ERR_PARAM;
    if (isa == TQ_ISA_AUTO) {
        atomic_store_explicit(&current, best_up_to(ISA_COUNT - 1),
                              memory_order_release);
        return TQ_OK;
    }
    if (!(tq_isa_available() & (UINT32_C(1) << isa)))
        return TQ_ERR_UNSUPPORTED;
    atomic_store_explicit(&current, tables[isa], memory_order_release);
    return TQ_OK;
}

#else /* portable only */

uint32_t tq_isa_available(void)
{
    return UINT32_C(1) << TQ_ISA_PORTABLE;
}

const tq__ukernels *tq__get_ukernels(void)
{
    return &portable;
}

tq_status tq_set_isa(int32_t isa)
{
    if (isa < 0 || isa >= ISA_COUNT)
        return TQ_ERR_PARAM;
    return isa == TQ_ISA_AUTO || isa == TQ_ISA_PORTABLE ? TQ_OK
                                                        : TQ_ERR_UNSUPPORTED;
}

#endif

int32_t tq_get_isa(void)
{
    return tq__get_ukernels()->isa;
}

const char *tq_kernel_path(void)
{
    return tq__get_ukernels()->name;
}
