/*
 * Portable C int8 GEMM microkernel: the reference that every SIMD path in
 * lib/arch must reproduce bit for bit.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"

void tq__s8_gemm_ref(int32_t m, int32_t n, int32_t k, const int8_t *a,
                     size_t lda, const int8_t *b, size_t ldb, int32_t *c,
                     size_t ldc)
{
    for (int32_t i = 0; i < m; ++i) {
        const int8_t *arow = a + (size_t)i * lda;
        int32_t *crow = c + (size_t)i * ldc;
        for (int32_t j = 0; j < n; ++j) {
            const int8_t *brow = b + (size_t)j * ldb;
            /* |a·b| <= 2^14 and k <= 2^15, so the sum stays in int32. */
            int32_t acc = 0;
            for (int32_t p = 0; p < k; ++p)
                acc += (int32_t)arow[p] * (int32_t)brow[p];
            crow[j] = acc;
        }
    }
}

void tq__s8_packed_gemm_ref(int32_t m, int32_t n, int32_t k, const int8_t *a,
                            size_t lda, const int8_t *codes,
                            const int32_t *sums, int32_t *c, size_t ldc)
{
    (void)sums; /* the sums are exact without them */
    const size_t block_bytes =
        (size_t)((k + TQ__PACK_DEPTH - 1) / TQ__PACK_DEPTH) * TQ__PACK_LANES *
        TQ__PACK_DEPTH;
    for (int32_t i = 0; i < m; ++i) {
        const int8_t *arow = a + (size_t)i * lda;
        int32_t *crow = c + (size_t)i * ldc;
        for (int32_t j = 0; j < n; ++j) {
            const int8_t *block =
                codes + (size_t)(j / TQ__PACK_LANES) * block_bytes +
                (size_t)(j % TQ__PACK_LANES) * TQ__PACK_DEPTH;
            int32_t acc = 0;
            for (int32_t p = 0; p < k; ++p)
                acc += (int32_t)arow[p] *
                       (int32_t)block[(size_t)(p / TQ__PACK_DEPTH) *
                                          TQ__PACK_LANES * TQ__PACK_DEPTH +
                                      (size_t)(p % TQ__PACK_DEPTH)];
            crow[j] = acc;
        }
    }
}
