/*
 * The dispatch tables of the AArch64 paths. dispatch.c picks one only when
 * cpu_aarch64.c found the features its functions were compiled for. The
 * dot-product path shares the NEON f32 GEMM, row sums and int8 MUL (SDOT
 * helps only the int8 GEMM products); both leave the requantization of
 * the GEMM and the packed-weight GEMM to the references and convolutions
 * to im2col + s8_gemm.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "aarch64_neon.h"

/* Designated: an entry a table does not name is NULL, i.e. the portable
 * reference, also for entries added to tq__ukernels later. */
const tq__ukernels tq__neon_ukernels = {
    .name = "aarch64-neon",
    .isa = TQ_ISA_NEON,
    .s8_gemm = tq__neon_s8_gemm,
    .f32_gemm = tq__neon_f32_gemm,
    .s8_row_sums = tq__neon_s8_row_sums,
    .s16_dot = tq__neon_s16_dot,
    .s4_dot = tq__neon_s4_dot,
    .s8_mul = tq__neon_s8_mul,
};

const tq__ukernels tq__neondot_ukernels = {
    .name = "aarch64-neon-dot",
    .isa = TQ_ISA_NEON_DOT,
    .s8_gemm = tq__neondot_s8_gemm,
    .f32_gemm = tq__neon_f32_gemm,
    .s8_row_sums = tq__neon_s8_row_sums,
    .s16_dot = tq__neon_s16_dot,
    .s4_dot = tq__neon_s4_dot,
    .s8_mul = tq__neon_s8_mul,
};
