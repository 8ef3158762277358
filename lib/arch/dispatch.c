/*
 * Microkernel selection. Only the portable C path exists so far; the table
 * is where per-ISA paths chosen from CPU features will go.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "dispatch.h"

#include "tinyq.h"

static const tq__ukernels portable = {
    "portable-c",
    tq__s8_gemm_ref,
    tq__f32_gemm_ref,
};

const tq__ukernels *tq__get_ukernels(void)
{
    return &portable;
}

const char *tq_kernel_path(void)
{
    return tq__get_ukernels()->name;
}
