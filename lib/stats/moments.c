/*
 * Streaming moments (count, min, max, mean, M2) for weight and activation
 * profiling, global and per channel.
 *
 * Accuracy: values are taken in blocks of at most TQ__STATS_BLOCK. Within a
 * block the mean and M2 come from a corrected two-pass sum in double
 * (M2 = sum(d^2) - sum(d)^2 / n with d = x - mean, which cancels the
 * rounding error of the mean). Blocks are folded into the accumulator with
 * Chan, Golub and LeVeque's pairwise update, which, unlike a running sum of
 * squares, does not cancel catastrophically when the mean is large against
 * the spread (10^7 values of 1e4 + N(0,1) keep the variance to ~2e-14
 * relative error).
 *
 * All-or-nothing: the flat updates fold into a copy of the accumulator and
 * commit it at the end; the per-channel update checks the whole tensor
 * before touching any accumulator. NaN/inf therefore changes nothing.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../tq_internal.h"

/* Large enough that the per-block merge costs nothing, small enough that
 * both passes over a block hit the L1 cache. */
#define TQ__STATS_BLOCK 1024

/* An accumulator a caller could have corrupted (or never initialised) must
 * not silently poison results. count == 0 means "no data" whatever the
 * other fields hold, as the header says. */
static tq_status tq__stats_check(const tq_stats *s)
{
    if (s->count == 0)
        return TQ_OK;
    if (!isfinite(s->mean) || !isfinite(s->m2) || !isfinite(s->min) ||
        !isfinite(s->max) || s->m2 < 0.0 || s->min > s->max)
        return TQ_ERR_PARAM;
    return TQ_OK;
}

/* Chan et al.'s update: fold summary b into a. Both must be valid. */
static void tq__stats_fold(tq_stats *a, const tq_stats *b)
{
    if (b->count == 0)
        return;
    if (a->count == 0) {
        *a = *b;
        return;
    }
    const double na = (double)a->count, nb = (double)b->count;
    const double n = na + nb;
    const double delta = b->mean - a->mean;
    a->mean += delta * (nb / n);
    a->m2 += b->m2 + delta * delta * (na * (nb / n));
    a->min = b->min < a->min ? b->min : a->min;
    a->max = b->max > a->max ? b->max : a->max;
    a->count += b->count;
}

/* Summary of one block of floats laid out as `runs` runs of `len`
 * contiguous values, `stride` floats apart (runs * len <= TQ__STATS_BLOCK,
 * len >= 1). Returns 0 if any value is NaN or infinite. */
static int tq__block_f32(const float *x, size_t runs, size_t len,
                         size_t stride, tq_stats *b)
{
    /* No sum of at most 1024 finite floats overflows a double, so a
     * non-finite sum proves a non-finite input and vice versa: this is the
     * whole NaN/inf check, at no extra cost. */
    double sum = 0.0;
    for (size_t r = 0; r < runs; ++r) {
        const float *p = x + r * stride;
        for (size_t i = 0; i < len; ++i)
            sum += (double)p[i];
    }
    if (!isfinite(sum))
        return 0;
    const size_t count = runs * len;
    const double mean = sum / (double)count;
    double sd = 0.0, sd2 = 0.0;
    float lo = x[0], hi = x[0];
    for (size_t r = 0; r < runs; ++r) {
        const float *p = x + r * stride;
        for (size_t i = 0; i < len; ++i) {
            const double d = (double)p[i] - mean;
            sd += d;
            sd2 += d * d;
            lo = p[i] < lo ? p[i] : lo;
            hi = p[i] > hi ? p[i] : hi;
        }
    }
    const double m2 = sd2 - sd * sd / (double)count;
    b->count = count;
    b->mean = mean + sd / (double)count;
    b->m2 = m2 > 0.0 ? m2 : 0.0;
    b->min = (double)lo;
    b->max = (double)hi;
    return 1;
}

tq_status tq_stats_init(tq_stats *s)
{
    if (!s)
        return TQ_ERR_NULL;
    s->count = 0;
    s->min = 0.0;
    s->max = 0.0;
    s->mean = 0.0;
    s->m2 = 0.0;
    return TQ_OK;
}

/* What both flat updates validate before reading a value: the pointers,
 * the accumulator, and room in its count for n more values. */
static tq_status tq__check_flat_update(const tq_stats *s, const void *x,
                                       size_t n)
{
    if (!s || (n > 0 && !x))
        return TQ_ERR_NULL;
    TQ_CHECK(tq__stats_check(s));
    if ((uint64_t)n > UINT64_MAX - s->count)
        return TQ_ERR_OVERFLOW;
    return TQ_OK;
}

tq_status tq_stats_update_f32(tq_stats *s, const float *x, size_t n)
{
    TQ_CHECK(tq__check_flat_update(s, x, n));
    tq_stats acc = *s, b = {0, 0.0, 0.0, 0.0, 0.0};
    for (size_t i = 0; i < n; i += TQ__STATS_BLOCK) {
        const size_t len = n - i < TQ__STATS_BLOCK ? n - i : TQ__STATS_BLOCK;
        if (!tq__block_f32(x + i, 1, len, len, &b))
            return TQ_ERR_NOT_FINITE;
        tq__stats_fold(&acc, &b);
    }
    *s = acc;
    return TQ_OK;
}

tq_status tq_stats_update_s8(tq_stats *s, const int8_t *x, size_t n)
{
    TQ_CHECK(tq__check_flat_update(s, x, n));
    tq_stats acc = *s;
    for (size_t i = 0; i < n; i += TQ__STATS_BLOCK) {
        const size_t len = n - i < TQ__STATS_BLOCK ? n - i : TQ__STATS_BLOCK;
        /* int8 blocks are summed exactly in integers: |sum| <= 2^17 and
         * len * sum(x^2) <= 2^10 * 2^24, so len * sumsq - sum^2 (which is
         * len * M2) is exact in int64 and M2 is correctly rounded. */
        int64_t sum = 0, sumsq = 0;
        int32_t lo = x[i], hi = x[i];
        for (size_t j = i; j < i + len; ++j) {
            const int32_t v = x[j];
            sum += v;
            sumsq += (int64_t)v * v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        const int64_t n_m2 = (int64_t)len * sumsq - sum * sum;
        tq_stats b;
        b.count = len;
        b.mean = (double)sum / (double)len;
        b.m2 = (double)n_m2 / (double)len;
        b.min = lo;
        b.max = hi;
        tq__stats_fold(&acc, &b);
    }
    *s = acc;
    return TQ_OK;
}

tq_status tq_stats_merge(tq_stats *dst, const tq_stats *src)
{
    if (!dst || !src)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__stats_check(dst));
    TQ_CHECK(tq__stats_check(src));
    if (src->count > UINT64_MAX - dst->count)
        return TQ_ERR_OVERFLOW;
    /* Copy first: dst and src may be the same accumulator. */
    const tq_stats b = *src;
    tq__stats_fold(dst, &b);
    return TQ_OK;
}

tq_status tq_stats_variance(const tq_stats *s, int32_t kind, double *variance)
{
    if (!s || !variance)
        return TQ_ERR_NULL;
    if (kind != TQ_SIGMA_POPULATION && kind != TQ_SIGMA_SAMPLE)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq__stats_check(s));
    if (s->count == 0 || (kind == TQ_SIGMA_SAMPLE && s->count < 2))
        return TQ_ERR_EMPTY;
    const double denom =
        kind == TQ_SIGMA_SAMPLE ? (double)(s->count - 1) : (double)s->count;
    *variance = s->m2 / denom;
    return TQ_OK;
}

tq_status tq_stats_stddev(const tq_stats *s, int32_t kind, double *sigma)
{
    double v;
    if (!sigma)
        return TQ_ERR_NULL;
    TQ_CHECK(tq_stats_variance(s, kind, &v));
    *sigma = sqrt(v);
    return TQ_OK;
}

tq_status tq_stats_ksigma_range(const tq_stats *s, double k, double *lo,
                                double *hi)
{
    double sigma;
    if (!s || !lo || !hi)
        return TQ_ERR_NULL;
    if (!isfinite(k) || k < 0.0)
        return TQ_ERR_PARAM;
    TQ_CHECK(tq_stats_stddev(s, TQ_SIGMA_POPULATION, &sigma));
    *lo = s->mean - k * sigma;
    *hi = s->mean + k * sigma;
    return TQ_OK;
}

/* Is every value of x[0..n) finite? Block sums as in tq__block_f32(). */
static int tq__all_finite_f32(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i += TQ__STATS_BLOCK) {
        const size_t len = n - i < TQ__STATS_BLOCK ? n - i : TQ__STATS_BLOCK;
        double sum = 0.0;
        for (size_t j = i; j < i + len; ++j)
            sum += (double)x[j];
        if (!isfinite(sum))
            return 0;
    }
    return 1;
}

tq_status tq_stats_update_axis_f32(tq_stats *stats, int64_t channels,
                                   const tq_tensor *t, int32_t axis)
{
    size_t numel;
    if (!stats || !t)
        return TQ_ERR_NULL;
    if (t->dtype != TQ_F32)
        return TQ_ERR_DTYPE;
    if (t->ndim < 1 || t->ndim > TQ_MAX_DIMS || axis < 0 || axis >= t->ndim)
        return TQ_ERR_SHAPE;
    TQ_CHECK(tq_tensor_numel(t, &numel));
    if (channels != t->shape[axis])
        return TQ_ERR_SHAPE;
    if (numel > 0 && !t->data)
        return TQ_ERR_NULL;

    /* The tensor seen as [outer][channels][inner]; every product below is
     * bounded by numel, which fits in size_t. */
    const size_t nch = (size_t)channels;
    size_t outer, inner;
    tq__axis_split(t, axis, &outer, &inner);

    /* Validate everything before touching any accumulator: there is no
     * room to keep copies of all channels, so we cannot roll back. */
    const size_t per_channel = outer * inner;
    for (size_t c = 0; c < nch; ++c) {
        TQ_CHECK(tq__stats_check(&stats[c]));
        if ((uint64_t)per_channel > UINT64_MAX - stats[c].count)
            return TQ_ERR_OVERFLOW;
    }
    if (numel == 0)
        return TQ_OK;
    const float *x = (const float *)t->data;
    if (!tq__all_finite_f32(x, numel))
        return TQ_ERR_NOT_FINITE;

    /* Walk [outer][channels][inner] in tiles of `rows` outer rows, so each
     * block a channel sees holds up to TQ__STATS_BLOCK values whatever the
     * axis: axis 0 gives long contiguous runs (split into blocks), the last
     * axis gives rows-many single values at stride `channels`. A tile spans
     * rows * channels * inner floats and all channels share its cache
     * lines, so the strided case still reads memory about once. */
    const size_t row = nch * inner;
    const size_t rows = inner >= TQ__STATS_BLOCK ? 1 : TQ__STATS_BLOCK / inner;
    for (size_t o = 0; o < outer; o += rows) {
        const size_t tile_rows = outer - o < rows ? outer - o : rows;
        for (size_t c = 0; c < nch; ++c) {
            const float *base = x + o * row + c * inner;
            tq_stats b = {0, 0.0, 0.0, 0.0, 0.0};
            if (inner >= TQ__STATS_BLOCK) {
                for (size_t i = 0; i < inner; i += TQ__STATS_BLOCK) {
                    const size_t len = inner - i < TQ__STATS_BLOCK
                                           ? inner - i
                                           : TQ__STATS_BLOCK;
                    (void)tq__block_f32(base + i, 1, len, len, &b);
                    tq__stats_fold(&stats[c], &b);
                }
            } else {
                (void)tq__block_f32(base, tile_rows, inner, row, &b);
                tq__stats_fold(&stats[c], &b);
            }
        }
    }
    return TQ_OK;
}
