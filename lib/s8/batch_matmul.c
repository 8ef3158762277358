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
    for (int32_t b0 = 0; b0 < pl.batch[0]; ++b0)
        for (int32_t b1 = 0; b1 < pl.batch[1]; ++b1)
            for (int32_t b2 = 0; b2 < pl.batch[2]; ++b2) {
                const int8_t *l = lhs + (size_t)b0 * pl.lhs_step[0] +
                                  (size_t)b1 * pl.lhs_step[1] +
                                  (size_t)b2 * pl.lhs_step[2];
                const int8_t *r = rhs + (size_t)b0 * pl.rhs_step[0] +
                                  (size_t)b1 * pl.rhs_step[1] +
                                  (size_t)b2 * pl.rhs_step[2];
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
                        *dst = tq__s8_output_one(os, tq__sat_i64_to_i32(acc),
                                                 j);
                    }
            }
    return TQ_OK;
}
