/*
 * f32 row-wise softmax, computed stably: the row maximum is subtracted
 * before exponentiating (so no exp overflows and the largest term is 1),
 * and the row sum is accumulated in double.
 *
 * Non-finite input is rejected up front (TQ_ERR_NOT_FINITE, nothing
 * written): a NaN has no meaningful probability, and +inf minus the row
 * maximum would itself be NaN.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "f32_internal.h"

tq_status tq_f32_softmax(int32_t rows, int32_t cols, const float *in,
                         float *out)
{
    size_t count;
    if (!in || !out)
        return TQ_ERR_NULL;
    if (rows < 1 || cols < 1)
        return TQ_ERR_SHAPE;
    if (tq__mul_size((size_t)rows, (size_t)cols, &count) ||
        count > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    const size_t bytes = count * sizeof(float);
    if (out != in && tq__overlap(out, bytes, in, bytes))
        return TQ_ERR_ALIAS;
    for (size_t i = 0; i < count; ++i) {
        if (!isfinite(in[i]))
            return TQ_ERR_NOT_FINITE;
    }
    for (int32_t r = 0; r < rows; ++r) {
        const float *x = in + (size_t)r * cols;
        float *y = out + (size_t)r * cols;
        float max = x[0];
        for (int32_t j = 1; j < cols; ++j)
            max = x[j] > max ? x[j] : max;
        /* Each element is read before its own slot is written, so out ==
         * in is safe. */
        double sum = 0.0;
        for (int32_t j = 0; j < cols; ++j) {
            const float e = expf(x[j] - max);
            y[j] = e;
            sum += e;
        }
        /* sum >= 1: the maximum contributes exp(0). */
        const double inv = 1.0 / sum;
        for (int32_t j = 0; j < cols; ++j)
            y[j] = (float)(y[j] * inv);
    }
    return TQ_OK;
}
