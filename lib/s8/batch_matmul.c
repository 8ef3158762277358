/*
 * int8 batch matmul (TFLite BATCH_MATMUL int8): int32 sums of offset
 * products, then the s8 output stage; batch dimensions broadcast.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "bmm_shape.h"
#include "s8_internal.h"

tq_status tq_s8_batch_matmul(const tq_batch_matmul_params *p,
                             const int8_t *lhs, int32_t lhs_offset,
                             const int8_t *rhs, int32_t rhs_offset,
                             const tq_s8_output *os, int8_t *out)
{
    tq__bmm_plan pl;
    if (!p || !lhs || !rhs || !os || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__bmm_plan_init(p, TQ_S8_MAX_REDUCTION, &pl));
    if (lhs_offset < -127 || lhs_offset > 128 || rhs_offset < -127 ||
        rhs_offset > 128)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq__check_s8_output(os, p->n));
    if (tq__overlap(out, pl.out_n, lhs, pl.lhs_n) ||
        tq__overlap(out, pl.out_n, rhs, pl.rhs_n))
        return TQ_ERR_ALIAS;

    int8_t *dst = out;
    for (size_t b = 0; b < pl.batches; ++b) {
        size_t lo, ro;
        tq__bmm_batch_offsets(&pl, b, &lo, &ro);
        const int8_t *l = lhs + lo, *r = rhs + ro;
        for (int32_t i = 0; i < p->m; ++i)
            for (int32_t j = 0; j < p->n; ++j, ++dst) {
                /* |sum| <= 255^2 · 2^15 < 2^31 (offsets within
                 * [-127, 128]); int64 and a saturation anyway. */
                int64_t acc = 0;
                for (int32_t q = 0; q < p->k; ++q)
                    acc += (int64_t)((int32_t)l[(size_t)i * pl.lm +
                                                (size_t)q * pl.lk] +
                                     lhs_offset) *
                           ((int32_t)r[(size_t)q * pl.rk +
                                       (size_t)j * pl.rn] +
                            rhs_offset);
                *dst = tq__s8_output_one(os, tq__sat_i64_to_i32(acc), j);
            }
    }
    return TQ_OK;
}
