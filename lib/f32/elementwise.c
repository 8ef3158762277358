/*
 * f32 elementwise kernels: the clamps of the fused activations, and add.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "f32_internal.h"

tq_status tq_f32_act_from(int32_t act, tq_f32_act *out)
{
    tq_f32_act r;
    if (!out)
        return TQ_ERR_NULL;
    switch (act) {
    case TQ_ACT_NONE:
        r.min = -INFINITY;
        r.max = INFINITY;
        break;
    case TQ_ACT_RELU:
        r.min = 0.0f;
        r.max = INFINITY;
        break;
    case TQ_ACT_RELU6:
        r.min = 0.0f;
        r.max = 6.0f;
        break;
    default:
        return TQ_ERR_PARAM;
    }
    *out = r;
    return TQ_OK;
}

tq_status tq_f32_add(size_t n, const float *a, const float *b,
                     const tq_f32_act *act, float *out)
{
    if (n == 0)
        return tq__check_f32_act(act);
    if (!a || !b || !out)
        return TQ_ERR_NULL;
    if (n > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__check_f32_act(act));
    /* Element i is read before it is written, so exact aliasing is safe;
     * a shifted overlap would read already-written sums. */
    const size_t bytes = n * sizeof(float);
    if ((out != a && tq__overlap(out, bytes, a, bytes)) ||
        (out != b && tq__overlap(out, bytes, b, bytes)))
        return TQ_ERR_ALIAS;
    for (size_t i = 0; i < n; ++i)
        out[i] = a[i] + b[i];
    /* The shared epilogue takes int32 widths: clamp in slices. */
    for (size_t i = 0; i < n; i += INT32_MAX) {
        const size_t len = n - i < INT32_MAX ? n - i : INT32_MAX;
        tq__f32_bias_act_rows(1, (int32_t)len, NULL, act, out + i, 0);
    }
    return TQ_OK;
}
