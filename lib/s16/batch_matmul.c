/*
 * int16 batch matmul (TFLite BATCH_MATMUL int16, symmetric): int64 sums,
 * the int64 requantization, the clamp; batch dimensions broadcast.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../s8/bmm_shape.h"
#include "s16_internal.h"

tq_status tq_s16_batch_matmul(const tq_batch_matmul_params *p,
                              const int16_t *lhs, const int16_t *rhs,
                              const tq_s16_output *os, int16_t *out)
{
    tq__bmm_plan pl;
    if (!p || !lhs || !rhs || !os || !out)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__bmm_plan_init(p, TQ_S16_BMM_MAX_REDUCTION, &pl));
    TQ_CHECK(tq__s16_check_stage(TQ_S64, os, p->n));
    const size_t ob = pl.out_n * sizeof(int16_t);
    if (tq__overlap(out, ob, lhs, pl.lhs_n * sizeof(int16_t)) ||
        tq__overlap(out, ob, rhs, pl.rhs_n * sizeof(int16_t)))
        return TQ_ERR_ALIAS;

    int16_t *dst = out;
    for (int32_t b0 = 0; b0 < pl.batch[0]; ++b0)
        for (int32_t b1 = 0; b1 < pl.batch[1]; ++b1)
            for (int32_t b2 = 0; b2 < pl.batch[2]; ++b2) {
                const int16_t *l = lhs + (size_t)b0 * pl.lhs_step[0] +
                                   (size_t)b1 * pl.lhs_step[1] +
                                   (size_t)b2 * pl.lhs_step[2];
                const int16_t *r = rhs + (size_t)b0 * pl.rhs_step[0] +
                                   (size_t)b1 * pl.rhs_step[1] +
                                   (size_t)b2 * pl.rhs_step[2];
                for (int32_t i = 0; i < p->m; ++i)
                    for (int32_t j = 0; j < p->n; ++j, ++dst) {
                        /* |x·y| <= 2^30, k <= 2^17: |acc| <= 2^47. */
                        int64_t acc = 0;
                        for (int32_t q = 0; q < p->k; ++q)
                            acc += (int64_t)l[(size_t)i * pl.lm +
                                              (size_t)q * pl.lk] *
                                   r[(size_t)q * pl.rk + (size_t)j * pl.rn];
                        const int32_t c = os->per_channel ? j : 0;
                        /* 2^47 itself ((-2^15)^2 · 2^17) is one past the
                         * int64 requantization's range: clamp it. */
                        if (acc > TQ__S16_ACC_MAX)
                            acc = TQ__S16_ACC_MAX;
                        const int32_t v =
                            tq__requant64(acc, os->multiplier[c], os->shift[c]);
                        *dst = (int16_t)tq__clamp_i32(v, os->act_min,
                                                      os->act_max);
                    }
            }
    return TQ_OK;
}
