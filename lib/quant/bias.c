/*
 * Bias quantization: int32 biases at scale s_in · s_w[c], rounded exactly.
 *
 * The quotient bias / (s_in · s_w) is rounded once, from its exact value:
 * every float is m · 2^e with an integer m < 2^24, so the quotient is
 * mb · 2^d / ms with ms = ma · mw < 2^48, and the rounding decision is an
 * integer comparison of mb · 2^(d+1) with (2n ± 1) · ms. Those products
 * reach 2^106, so they are compared as 128-bit integers built from 64-bit
 * halves (no __int128: a 32-bit firmware compiler has none). A double
 * division gives the candidate n; the comparisons correct it by one where
 * the division's own rounding moved it across a half.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "../tq_internal.h"

/* ---- 128-bit unsigned integers, as much as the comparison needs -------- */

typedef struct u128 {
    uint64_t hi, lo;
} u128;

static u128 u128_mul(uint64_t a, uint64_t b)
{
    const uint64_t a0 = (uint32_t)a, a1 = a >> 32;
    const uint64_t b0 = (uint32_t)b, b1 = b >> 32;
    const uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    /* Each term < 2^32, so the sum < 3 · 2^32: no overflow. */
    const uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    u128 r;
    r.lo = (mid << 32) | (uint32_t)p00;
    r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return r;
}

/* x << s for 0 <= s < 128; the callers keep the result below 2^128. */
static u128 u128_shl(u128 x, int32_t s)
{
    u128 r;
    if (s == 0)
        return x;
    if (s >= 64) {
        r.hi = x.lo << (s - 64);
        r.lo = 0;
    } else {
        r.hi = (x.hi << s) | (x.lo >> (64 - s));
        r.lo = x.lo << s;
    }
    return r;
}

static int u128_cmp(u128 a, u128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    return a.lo < b.lo ? -1 : (a.lo > b.lo ? 1 : 0);
}

/* ---- exact decomposition of a float ------------------------------------ */

/* |x| = m · 2^e exactly, m < 2^24 (0 for ±0). x must be finite. */
static void float_parts(float x, uint32_t *m, int32_t *e)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    const uint32_t field = (bits >> 23) & 0xFFu, frac = bits & 0x7FFFFFu;
    if (field == 0) { /* zero or subnormal: frac · 2^−149 */
        *m = frac;
        *e = -149;
    } else {
        *m = frac | 0x800000u;
        *e = (int32_t)field - 150;
    }
}

/* Sign of mb · 2^(d+1) − k · ms, for mb < 2^24, ms < 2^48, k <= 2^32 + 1
 * and −25 <= d <= 79 (both sides then stay below 2^107). */
static int cmp_half(uint32_t mb, int32_t d, uint64_t k, uint64_t ms)
{
    u128 x = {0, mb};
    u128 y = u128_mul(k, ms);
    if (d + 1 >= 0)
        x = u128_shl(x, d + 1);
    else
        y = u128_shl(y, -(d + 1));
    return u128_cmp(x, y);
}

/* round_half_away(|b| / s) clamped to INT32_MAX, with s = ma·mw · 2^es. */
static int32_t quantize_magnitude(float b, float in_scale, float w_scale)
{
    uint32_t mb, ma, mw;
    int32_t eb, ea, ew;
    float_parts(b, &mb, &eb);
    if (mb == 0)
        return 0;
    float_parts(in_scale, &ma, &ea);
    float_parts(w_scale, &mw, &ew);
    const uint64_t ms = (uint64_t)ma * mw; /* >= 1, < 2^48 */
    const int32_t d = eb - (ea + ew);      /* |b| / s = mb · 2^d / ms */
    if (d >= 80) /* quotient > 2^(d − 48) >= 2^32 */
        return INT32_MAX;
    if (d <= -26) /* quotient < 2^(24 + d) <= 1/4 */
        return 0;

    /* Candidate from one double division (s = a · w is exact in double),
     * within one of the answer; the comparisons below settle it. */
    const double q = fabs((double)b) / ((double)in_scale * (double)w_scale);
    const uint64_t top = UINT64_C(1) << 31;
    uint64_t n = q >= 2147483648.0 ? top : (uint64_t)(q + 0.5);
    if (n > top)
        n = top;
    /* The answer n satisfies n − 1/2 <= |b| / s < n + 1/2 (ties away from
     * zero), i.e. (2n − 1) · ms <= mb · 2^(d+1) < (2n + 1) · ms. */
    while (n > 0 && cmp_half(mb, d, 2 * n - 1, ms) < 0)
        --n;
    while (n < top && cmp_half(mb, d, 2 * n + 1, ms) >= 0)
        ++n;
    return n > (uint64_t)INT32_MAX ? INT32_MAX : (int32_t)n;
}

static int scale_ok(float s)
{
    return s > 0.0f && isfinite(s);
}

tq_status tq_quantize_bias(int64_t count, const float *bias, float input_scale,
                           const float *weight_scale, int32_t per_channel,
                           int32_t *out)
{
    if (count < 0 || (per_channel != 0 && per_channel != 1))
        return TQ_ERR_PARAM;
    if (count > 0 && (!bias || !weight_scale || !out))
        return TQ_ERR_NULL;
    if (!scale_ok(input_scale))
        return TQ_ERR_PARAM;
    if (count == 0)
        return TQ_OK;
    if ((uint64_t)count > SIZE_MAX / sizeof(int32_t))
        return TQ_ERR_OVERFLOW;
    const size_t n = (size_t)count;
    const size_t n_scales = per_channel ? n : 1;
    for (size_t c = 0; c < n_scales; ++c)
        if (!scale_ok(weight_scale[c]))
            return TQ_ERR_PARAM;
    if (tq__overlap(out, n * sizeof(int32_t), bias, n * sizeof(float)) ||
        tq__overlap(out, n * sizeof(int32_t), weight_scale,
                    n_scales * sizeof(float)))
        return TQ_ERR_ALIAS;
    for (size_t c = 0; c < n; ++c)
        if (!isfinite(bias[c]))
            return TQ_ERR_NOT_FINITE;

    for (size_t c = 0; c < n; ++c) {
        const float w = weight_scale[per_channel ? c : 0];
        const int32_t mag = quantize_magnitude(bias[c], input_scale, w);
        out[c] = bias[c] < 0.0f ? -mag : mag;
    }
    return TQ_OK;
}
