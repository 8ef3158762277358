/*
 * The dispatch tables of the x86-64 paths. dispatch.c picks one of them
 * only when cpu_x86.c found every feature its functions were compiled for.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "x86_avx2.h"
#include "x86_avx2_gemm.h"
#include "x86_avx512.h"

/* Designated: an entry a table does not name is NULL, i.e. the portable
 * reference, also for entries added to tq__ukernels later. */
const tq__ukernels tq__avx2_ukernels = {
    .name = "x86-avx2",
    .isa = TQ_ISA_AVX2,
    .s8_gemm = tq__avx2_s8_gemm,
    .f32_gemm = tq__avx2_f32_gemm,
    .s8_finish = tq__avx2_s8_finish,
    .s8_row_sums = tq__avx2_s8_row_sums,
    .s8_packed_gemm = tq__avx2_s8_prepacked_gemm,
    .s8_quantize = tq__avx2_s8_quantize,
    .s8_add = tq__avx2_s8_add,
    .s8_depthwise = tq__avx2_s8_depthwise,
    .s8_gemm_requant = tq__avx2_s8_gemm_requant,
    .s8_gemm_panels = tq__avx2_s8_gemm_prepacked_panels,
    .s8_conv_panels = tq__avx2_s8_conv_panels,
    .s16_dot = tq__avx2_s16_dot,
    .s4_dot = tq__avx2_s4_dot,
    .s8_mul = tq__avx2_s8_mul,
};

const tq__ukernels tq__avx512_ukernels = {
    .name = "x86-avx512-vnni",
    .isa = TQ_ISA_AVX512,
    .s8_gemm = tq__avx512_s8_gemm,
    .f32_gemm = tq__avx512_f32_gemm,
    .s8_finish = tq__avx512_s8_finish,
    .s8_row_sums = tq__avx512_s8_row_sums,
    .s8_conv_pool = tq__avx512_s8_conv_pool,
    .s8_packed_gemm = tq__avx512_s8_prepacked_gemm,
    .s8_quantize = tq__avx512_s8_quantize,
    /* AVX-512 CPUs have AVX2: its elementwise kernels serve them too. */
    .s8_add = tq__avx2_s8_add,
    .s8_depthwise = tq__avx2_s8_depthwise,
    .s8_gemm_panels = tq__avx2_s8_gemm_prepacked_panels,
    .s16_dot = tq__avx2_s16_dot, /* no AVX-512 s16 code */
    .s4_dot = tq__avx2_s4_dot,   /* nor AVX-512 s4 code */
    .s8_mul = tq__avx2_s8_mul,
};
