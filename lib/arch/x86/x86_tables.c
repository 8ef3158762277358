/*
 * The dispatch tables of the x86-64 paths. dispatch.c picks one of them
 * only when cpu_x86.c found every feature its functions were compiled for.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "x86_avx2.h"
#include "x86_avx512.h"

const tq__ukernels tq__avx2_ukernels = {
    "x86-avx2",
    TQ_ISA_AVX2,
    tq__avx2_s8_gemm,
    tq__avx2_f32_gemm,
    tq__avx2_s8_finish,
    tq__avx2_s8_row_sums,
    NULL,
    tq__avx2_s8_prepacked_gemm,
    tq__avx2_s8_quantize,
};

const tq__ukernels tq__avx512_ukernels = {
    "x86-avx512-vnni",       TQ_ISA_AVX512,        tq__avx512_s8_gemm,
    tq__avx512_f32_gemm,     tq__avx512_s8_finish, tq__avx512_s8_row_sums,
    tq__avx512_s8_conv_pool, tq__avx512_s8_prepacked_gemm,
    tq__avx512_s8_quantize,
};
