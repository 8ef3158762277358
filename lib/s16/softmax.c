/*
 * TFLite's int16 softmax (SoftmaxInt16): the two 513-entry lookup tables
 * of its gen_lut() and the kernel that interpolates them. Output scale
 * 1/32768, zero point 0.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "s16_internal.h"

static double exp_fn(double x)
{
    return exp(x);
}

static double recip_fn(double x)
{
    return 1.0 / (1.0 + x);
}

static double clamp_d(double v)
{
    return v < -32768.0 ? -32768.0 : (v > 32767.0 ? 32767.0 : v);
}

/* gen_lut(func, min, max, table, 513) in double, std::round = C round():
 * 512 samples at min + i·step, each corrected by half the rounded error
 * of the linear interpolation at the segment's midpoint, then func(max). */
static void gen_lut(double (*func)(double), double min, double max,
                    int16_t *table)
{
    const int num = TQ_S16_LUT_SIZE;
    const double step = (max - min) / (num - 1);
    const double half_step = step / 2.0;
    for (int i = 0; i < num - 1; ++i) {
        const double sample = round(func(min + i * step) * 32768.0);
        const double interp =
            round((func(min + (i + 1) * step) * 32768.0 + sample) / 2.0);
        const double mid = round(func(min + i * step + half_step) * 32768.0);
        const double bias = round((interp - mid) / 2.0);
        table[i] = (int16_t)clamp_d(sample - bias);
    }
    table[num - 1] = (int16_t)clamp_d(round(func(max) * 32768.0));
}

tq_status tq_s16_softmax_luts(int16_t *exp_lut, int16_t *recip_lut)
{
    const size_t bytes = TQ_S16_LUT_SIZE * sizeof(int16_t);
    if (!exp_lut || !recip_lut)
        return TQ_ERR_NULL;
    if (tq__overlap(exp_lut, bytes, recip_lut, bytes))
        return TQ_ERR_ALIAS;
    gen_lut(exp_fn, -10.0, 0.0, exp_lut);
    gen_lut(recip_fn, 0.0, 1.0, recip_lut);
    return TQ_OK;
}

tq_status tq_s16_softmax_params_from_scale(float input_scale, float beta,
                                           tq_s16_softmax_params *params)
{
    int32_t m, s;
    if (!params)
        return TQ_ERR_NULL;
    if (!isfinite(input_scale) || !(input_scale > 0.0f) || !isfinite(beta) ||
        !(beta > 0.0f))
        return TQ_ERR_PARAM;
    TQ_CHECK(tq_quantize_multiplier(
        (double)input_scale * (double)beta / (10.0 / 65535.0), &m, &s));
    params->input_multiplier = m;
    params->input_shift = s;
    return TQ_OK;
}

/* v as int16 with two's complement wrap-around (TFLite's int16_t
 * temporaries), without an implementation-defined conversion. */
static int32_t wrap16(int32_t v)
{
    const int32_t u = v & 0xFFFF;
    return u >= 0x8000 ? u - 0x10000 : u;
}

/* TFLite's generic_int16_table_lookup: segment 256 + (v >> 7), linear
 * interpolation over the low 7 bits, rounded. */
static int16_t lut_lookup(int32_t v, const int16_t *lut)
{
    const int32_t index = 256 + (v >> 7);
    const int32_t offset = v & 0x7F;
    const int32_t base = lut[index];
    const int32_t slope = wrap16((int32_t)lut[index + 1] - base);
    const int32_t delta = wrap16((slope * offset + 64) >> 7);
    return (int16_t)wrap16(base + delta);
}

static int clz32(uint32_t x)
{
    int n = 0;
    for (uint32_t bit = UINT32_C(1) << 31; bit && !(x & bit); bit >>= 1)
        ++n;
    return n;
}

tq_status tq_s16_softmax(int32_t rows, int32_t cols, const int16_t *in,
                         const tq_s16_softmax_params *params, int16_t *out)
{
    size_t count;
    if (!in || !params || !out || !params->exp_lut || !params->recip_lut)
        return TQ_ERR_NULL;
    if (rows < 1 || cols < 1 || cols > 65536)
        return TQ_ERR_SHAPE;
    if (tq__mul_size((size_t)rows, (size_t)cols, &count) ||
        tq__mul_size(count, sizeof(int16_t), &count))
        return TQ_ERR_OVERFLOW;
    if (params->input_multiplier < 0 || params->input_shift < TQ_SHIFT_MIN ||
        params->input_shift > TQ_SHIFT_MAX)
        return TQ_ERR_PARAM;
    for (int i = 0; i < TQ_S16_LUT_SIZE; ++i)
        if (params->exp_lut[i] < 0)
            return TQ_ERR_PARAM;
    if (params->exp_lut[TQ_S16_LUT_SIZE - 2] < 1 ||
        params->exp_lut[TQ_S16_LUT_SIZE - 1] < 1)
        return TQ_ERR_PARAM;
    if (in != out && tq__overlap(in, count, out, count))
        return TQ_ERR_ALIAS;

    const tq_s16_softmax_params p = *params;
    for (int32_t r = 0; r < rows; ++r) {
        const int16_t *x = in + (size_t)r * (size_t)cols;
        int16_t *y = out + (size_t)r * (size_t)cols;
        int32_t max = INT16_MIN;
        for (int32_t j = 0; j < cols; ++j)
            max = x[j] > max ? x[j] : max;
        /* Each e in [0, 32767] (the table's entries are; interpolation
         * stays between neighbours), cols <= 2^16: the sum fits int32, and
         * the row maximum's e is >= 1 (d = 32767 reads the last two
         * entries), so it is positive. */
        int32_t sum = 0;
        for (int32_t j = 0; j < cols; ++j) {
            const int32_t diff = (int32_t)x[j] - max;
            const int32_t scaled = tq__requant(diff, p.input_multiplier,
                                               p.input_shift, TQ_ROUND_DOUBLE);
            const int64_t d = (int64_t)scaled + 32767;
            const int32_t sd = (int32_t)(d < -32768 ? -32768 : (d > 32767 ? 32767 : d));
            const int16_t e = lut_lookup(sd, p.exp_lut);
            y[j] = e;
            sum += e;
        }
        const int h = clz32((uint32_t)sum); /* 1..31 */
        const int32_t shifted =
            (int32_t)((((int64_t)sum << (h - 1)) + (1 << 13)) >> 14);
        const int32_t sym = shifted - ((1 << 15) + (1 << 16));
        const int32_t ssym = sym < -32768 ? -32768 : (sym > 32767 ? 32767 : sym);
        const int64_t recip = lut_lookup(ssym, p.recip_lut);
        const int right = 31 - h; /* 0..30 */
        const int64_t round = right > 0 ? INT64_C(1) << (right - 1) : 0;
        for (int32_t j = 0; j < cols; ++j) {
            const int64_t v = ((int64_t)y[j] * recip + round) >> right;
            y[j] = (int16_t)(v < 0 ? 0 : (v > 32767 ? 32767 : v));
        }
    }
    return TQ_OK;
}
