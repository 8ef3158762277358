/*
 * The firmware's microkernel table, chosen at link time.
 *
 * tinyq's own table (lib/arch/dispatch.c) holds the f32 GEMM microkernel
 * next to the s8 one, so linking it pulls float code into any program
 * that runs an s8 kernel; on a core without an FPU that means the soft-
 * float library (__aeabi_fadd, __aeabi_fmul). An int8-only firmware needs
 * the s8 entry alone. Defining tq__get_ukernels() here keeps the linker
 * from taking lib/arch/dispatch.o out of libtinyq.a at all, and with it
 * the run-time choice of an instruction-set path, which a Cortex-M does not
 * need.
 *
 * Remove this file once lib/arch lets the s8 and f32 microkernels be
 * linked separately (docs/embedded.md, "Known limits").
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../../lib/arch/dispatch.h"

/* The f32 entry stays NULL: the int8 path never calls it. */
static const tq__ukernels firmware_ukernels = {
    .name = "portable-c (s8 only, firmware)",
    .isa = TQ_ISA_PORTABLE,
    .s8_gemm = tq__s8_gemm_ref,
};

const tq__ukernels *tq__get_ukernels(void)
{
    return &firmware_ukernels;
}
