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
    const int32_t groups = (k + TQ__PACK_DEPTH - 1) / TQ__PACK_DEPTH;
    const size_t group_bytes = TQ__PACK_LANES * TQ__PACK_DEPTH;
    for (int32_t i = 0; i < m; ++i) {
        const int8_t *arow = a + (size_t)i * lda;
        int32_t *crow = c + (size_t)i * ldc;
        /* One block of 16 columns at a time, walking its groups in
         * order: every weight byte is read once per row, in sequence. */
        for (int32_t j0 = 0; j0 < n; j0 += TQ__PACK_LANES) {
            const int8_t *g = codes + (size_t)(j0 / TQ__PACK_LANES) *
                                          (size_t)groups * group_bytes;
            const int32_t lanes =
                n - j0 < TQ__PACK_LANES ? n - j0 : TQ__PACK_LANES;
            int32_t acc[TQ__PACK_LANES] = {0};
            for (int32_t p = 0; p < k; p += TQ__PACK_DEPTH, g += group_bytes) {
                const int32_t depth =
                    k - p < TQ__PACK_DEPTH ? k - p : TQ__PACK_DEPTH;
                for (int32_t l = 0; l < lanes; ++l)
                    for (int32_t q = 0; q < depth; ++q)
                        acc[l] += (int32_t)arow[p + q] *
                                  (int32_t)g[l * TQ__PACK_DEPTH + q];
            }
            for (int32_t l = 0; l < lanes; ++l)
                crow[j0 + l] = acc[l];
        }
    }
}
