/*
 * The output stage of the 16x8 kernels: TFLite's int64 requantization
 * (tq_requantize64), the validation of a ::tq_s16_output, and the portable
 * inner product every kernel path must reproduce.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "s16_internal.h"

tq_status tq_requantize64(int64_t x, int32_t multiplier, int32_t shift,
                          int32_t *result)
{
    if (!result)
        return TQ_ERR_NULL;
    if (x < TQ__S16_ACC_MIN || x > TQ__S16_ACC_MAX || multiplier < 0 ||
        shift < TQ_SHIFT_MIN || shift > TQ_S16_SHIFT_MAX)
        return TQ_ERR_PARAM;
    *result = tq__requant64(x, multiplier, shift);
    return TQ_OK;
}

tq_status tq__s16_check_stage(int32_t bias_dtype, const tq_s16_output *os,
                              int32_t channels)
{
    if (bias_dtype != TQ_S64 && bias_dtype != TQ_S32)
        return TQ_ERR_DTYPE;
    if (!os || !os->multiplier || !os->shift)
        return TQ_ERR_NULL;
    if ((os->per_channel != 0 && os->per_channel != 1) ||
        (os->rounding != TQ_ROUND_DOUBLE && os->rounding != TQ_ROUND_SINGLE) ||
        os->act_min < INT16_MIN || os->act_max > INT16_MAX ||
        os->act_min > os->act_max)
        return TQ_ERR_PARAM;
    const int32_t shift_max =
        bias_dtype == TQ_S64 ? TQ_S16_SHIFT_MAX : TQ_SHIFT_MAX;
    const int32_t count = os->per_channel ? channels : 1;
    for (int32_t i = 0; i < count; ++i) {
        if (os->multiplier[i] < 0 || os->shift[i] < TQ_SHIFT_MIN ||
            os->shift[i] > shift_max)
            return TQ_ERR_PARAM;
    }
    return TQ_OK;
}

int64_t tq__s16_dot_ref(const int16_t *x, const int8_t *w, int32_t k)
{
    /* Blocks of 256 products in int32 (|block| <= 2^30), then int64. */
    int64_t sum = 0;
    for (int32_t p0 = 0; p0 < k; p0 += 256) {
        const int32_t end = k - p0 < 256 ? k : p0 + 256;
        int32_t part = 0;
        for (int32_t p = p0; p < end; ++p)
            part += (int32_t)x[p] * (int32_t)w[p];
        sum += part;
    }
    return sum;
}
