/*
 * One dispatch point per hot microkernel. Callers (the conv, FC and GEMM
 * kernels) fetch the table once per call; a SIMD path only has to fill in a
 * table entry, never to touch a caller.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_ARCH_DISPATCH_H
#define TQ_ARCH_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

/* Contract shared by every path: each C element must depend only on its A
 * row, its B row and k -- never on m, n, the tile it falls in or the leading
 * dimensions. The fused conv+pool kernels compute a subset of a conv's
 * pixels and rely on getting the very same bits (f32 included).
 *
 * C[i][j] = sum_p A[i][p] * B[j][p] for i < m, j < n, p < k (raw int32 sums,
 * no offsets): A rows are pixels, B rows are output channels. m, n >= 1,
 * 1 <= k <= TQ_S8_MAX_REDUCTION, so no sum overflows (|a·b| <= 2^14). */
typedef void (*tq__s8_gemm_fn)(int32_t m, int32_t n, int32_t k,
                               const int8_t *a, size_t lda, const int8_t *b,
                               size_t ldb, int32_t *c, size_t ldc);

/* C[i][j] = sum_p A[i][p] * B[j][p] (overwrites C); m, n, k >= 1. */
typedef void (*tq__f32_gemm_fn)(int32_t m, int32_t n, int32_t k,
                                const float *a, size_t lda, const float *b,
                                size_t ldb, float *c, size_t ldc);

typedef struct tq__ukernels {
    const char *name;
    tq__s8_gemm_fn s8_gemm;
    tq__f32_gemm_fn f32_gemm;
} tq__ukernels;

/* The table for this CPU; never NULL. */
const tq__ukernels *tq__get_ukernels(void);

/* The portable C microkernels, the reference every other path must match. */
void tq__s8_gemm_ref(int32_t m, int32_t n, int32_t k, const int8_t *a,
                     size_t lda, const int8_t *b, size_t ldb, int32_t *c,
                     size_t ldc);
void tq__f32_gemm_ref(int32_t m, int32_t n, int32_t k, const float *a,
                      size_t lda, const float *b, size_t ldb, float *c,
                      size_t ldc);

#endif /* TQ_ARCH_DISPATCH_H */
