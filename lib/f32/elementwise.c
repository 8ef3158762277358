/*
 * f32 elementwise kernels: the clamps of the fused activations, add, mul,
 * the per-channel affine (scale and shift), clamp and leaky ReLU.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

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

/* Clamp n values in place, in int32 slices for the shared epilogue. */
static void clamp_slices(size_t n, const tq_f32_act *act, float *out)
{
    for (size_t i = 0; i < n; i += INT32_MAX) {
        const size_t len = n - i < INT32_MAX ? n - i : INT32_MAX;
        tq__f32_bias_act_rows(1, (int32_t)len, NULL, act, out + i, 0);
    }
}

tq_status tq_f32_mul(size_t n, const float *a, const float *b,
                     const tq_f32_act *act, float *out)
{
    if (n == 0)
        return tq__check_f32_act(act);
    if (!a || !b || !out)
        return TQ_ERR_NULL;
    if (n > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__check_f32_act(act));
    const size_t bytes = n * sizeof(float);
    if ((out != a && tq__overlap(out, bytes, a, bytes)) ||
        (out != b && tq__overlap(out, bytes, b, bytes)))
        return TQ_ERR_ALIAS;
    for (size_t i = 0; i < n; ++i)
        out[i] = a[i] * b[i];
    clamp_slices(n, act, out);
    return TQ_OK;
}

tq_status tq_f32_channel_affine(size_t rows, int32_t channels, const float *in,
                                const float *scale, int32_t scale_count,
                                const float *shift, int32_t shift_count,
                                const tq_f32_act *act, float *out)
{
    size_t n;
    if (channels < 1 || (scale_count != 0 && scale_count != 1 &&
                         scale_count != channels) ||
        (shift_count != 0 && shift_count != 1 && shift_count != channels))
        return TQ_ERR_SHAPE;
    if ((scale_count && !scale) || (shift_count && !shift))
        return TQ_ERR_NULL;
    TQ_CHECK(tq__check_f32_act(act));
    if (tq__mul_size(rows, (size_t)channels, &n) ||
        n > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    if (n == 0)
        return TQ_OK;
    if (!in || !out)
        return TQ_ERR_NULL;
    const size_t bytes = n * sizeof(float);
    if (out != in && tq__overlap(out, bytes, in, bytes))
        return TQ_ERR_ALIAS;
    if ((scale_count && tq__overlap(out, bytes, scale,
                                    (size_t)scale_count * sizeof(float))) ||
        (shift_count && tq__overlap(out, bytes, shift,
                                    (size_t)shift_count * sizeof(float))))
        return TQ_ERR_ALIAS;
    const size_t ds = scale_count == channels, dh = shift_count == channels;
    for (size_t r = 0; r < rows; ++r) {
        const float *x = in + r * (size_t)channels;
        float *y = out + r * (size_t)channels;
        for (int32_t c = 0; c < channels; ++c) {
            float v = x[c];
            if (scale_count)
                v *= scale[ds * (size_t)c];
            if (shift_count)
                v += shift[dh * (size_t)c];
            y[c] = v;
        }
    }
    clamp_slices(n, act, out);
    return TQ_OK;
}

tq_status tq_f32_clamp(size_t n, const float *in, const tq_f32_act *act,
                       float *out)
{
    if (n == 0)
        return tq__check_f32_act(act);
    if (!in || !out)
        return TQ_ERR_NULL;
    if (n > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    TQ_CHECK(tq__check_f32_act(act));
    const size_t bytes = n * sizeof(float);
    if (out != in && tq__overlap(out, bytes, in, bytes))
        return TQ_ERR_ALIAS;
    if (out != in)
        memcpy(out, in, bytes);
    clamp_slices(n, act, out);
    return TQ_OK;
}

tq_status tq_f32_leaky_relu(size_t n, const float *in, float alpha, float *out)
{
    if (!isfinite(alpha))
        return TQ_ERR_PARAM;
    if (n == 0)
        return TQ_OK;
    if (!in || !out)
        return TQ_ERR_NULL;
    if (n > SIZE_MAX / sizeof(float))
        return TQ_ERR_OVERFLOW;
    const size_t bytes = n * sizeof(float);
    if (out != in && tq__overlap(out, bytes, in, bytes))
        return TQ_ERR_ALIAS;
    /* A NaN fails the test and is multiplied: it stays a NaN. */
    for (size_t i = 0; i < n; ++i)
        out[i] = in[i] >= 0.0f ? in[i] : alpha * in[i];
    return TQ_OK;
}
