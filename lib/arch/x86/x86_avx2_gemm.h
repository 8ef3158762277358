/*
 * The AVX2 GEMM on int16-widened panels (x86_avx2_s8_gemm_packed.c),
 * shared by the raw GEMM entry and the fused requantized GEMM.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_ARCH_X86_AVX2_GEMM_H
#define TQ_ARCH_X86_AVX2_GEMM_H

#include "x86_avx2.h"

/* k per chunk (even) and rows per tile. */
#define TQ__AVX2_KC 512
#define TQ__AVX2_MR 6

/* Columns [0, nr) (nr <= 16) of a B panel, k values [0, kc): panel[q][j]
 * = the int16 pair (B[j][2q], B[j][2q + 1]), zero past nr and kc; 32-byte
 * aligned, 16·2·((kc + 1) / 2) int16. */
void tq__avx2_pack_b(const int8_t *b, size_t ldb, int32_t nr, int32_t kc,
                     int16_t *panel);

/* mr rows of A, k values [0, kc), widened to int16 rows ld apart, padded
 * to an even length with 0. */
void tq__avx2_pack_a(const int8_t *a, size_t lda, int32_t mr, int32_t kc,
                     int16_t *rows, size_t ld);

/* acc[i][h] (i < mr <= 6, h < 2) = the sums of columns 8h .. 8h + 7 of
 * packed rows times the panel over kp pairs. */
void tq__avx2_tile(int32_t mr, int32_t kp, const int16_t *rows, size_t ld,
                   const int16_t *panel, __m256i acc[6][2]);

/* The raw GEMM (tq__s8_gemm_fn) through the panels. */
void tq__avx2_s8_gemm_packed(int32_t m, int32_t n, int32_t k, const int8_t *a,
                             size_t lda, const int8_t *b, size_t ldb,
                             int32_t *c, size_t ldc);

/* The raw GEMM on convolution weights packed ahead of time
 * (tq__s8_gemm_panels_fn): the panels are read as they are. */
void tq__avx2_s8_gemm_prepacked_panels(int32_t m, int32_t n, int32_t k,
                                       const int8_t *a, size_t lda,
                                       const unsigned char *panels, int32_t *c,
                                       size_t ldc);

/* The requantized GEMM (tq__s8_gemm_requant_fn) with the output stage
 * applied to each tile in registers; returns 0 (having done nothing) for
 * shapes it leaves to the blocked driver. */
int tq__avx2_s8_gemm_requant(int32_t m, int32_t n, int32_t k, const int8_t *a,
                             size_t lda, int32_t a_offset, const int8_t *b,
                             size_t ldb, int32_t b_offset, const int32_t *bias,
                             const tq_s8_output *os, int8_t *c, size_t ldc);

/* The implicit-GEMM convolution on packed panels
 * (tq__s8_conv_panels_fn; x86_avx2_s8_conv_implicit.c). */
int tq__avx2_s8_conv_panels(const tq_conv_params *conv, const tq_dims *in_dims,
                            const int8_t *in, const tq_dims *filter_dims,
                            const tq_dims *out_dims, int8_t pad_value,
                            size_t p0, int32_t pb, const unsigned char *panels,
                            int32_t *c, size_t ldc);

#endif /* TQ_ARCH_X86_AVX2_GEMM_H */
