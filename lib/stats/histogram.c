/*
 * Fixed-range histograms over caller-owned bins, and percentiles read from
 * them (for percentile and entropy range calibration).
 *
 * Bin edges are e_i = lo + i * w in double with w = (hi - lo) / nbins, and a
 * value v in [lo, hi] goes to the largest i < nbins with e_i <= v. Binning
 * compares against those very edges, so a value printed as "exactly on an
 * edge" always lands in the bin that starts there, whatever rounding
 * (v - lo) / w suffered.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "../tq_internal.h"

static int tq__range_ok(double lo, double hi)
{
    /* hi - lo must be finite too, or w would be inf. */
    return isfinite(lo) && isfinite(hi) && lo < hi && isfinite(hi - lo);
}

static tq_status tq__histogram_check(const tq_histogram *h)
{
    if (!h->bins)
        return TQ_ERR_NULL;
    if (h->nbins < 1 || !tq__range_ok(h->lo, h->hi))
        return TQ_ERR_PARAM;
    return TQ_OK;
}

static double tq__bin_width(const tq_histogram *h)
{
    return (h->hi - h->lo) / (double)h->nbins;
}

tq_status tq_histogram_init(tq_histogram *h, uint64_t *bins, uint32_t nbins,
                            double lo, double hi)
{
    if (!h || !bins)
        return TQ_ERR_NULL;
    if (nbins < 1 || !tq__range_ok(lo, hi))
        return TQ_ERR_PARAM;
#if SIZE_MAX / 8 < UINT32_MAX
    /* 32-bit targets: nbins counters may not even be addressable. */
    if ((size_t)nbins > SIZE_MAX / sizeof *bins)
        return TQ_ERR_OVERFLOW;
#endif
    memset(bins, 0, (size_t)nbins * sizeof *bins);
    h->bins = bins;
    h->nbins = nbins;
    h->reserved = 0;
    h->lo = lo;
    h->hi = hi;
    h->below = 0;
    h->above = 0;
    return TQ_OK;
}

/* Bin of v, for lo <= v <= hi. */
static uint32_t tq__bin_index(const tq_histogram *h, double w, double v)
{
    const uint32_t last = h->nbins - 1;
    /* Clamp in double before converting: the quotient can round past
     * nbins (v == hi, or v just below hi), and converting an out-of-range
     * double to an integer is undefined. */
    double t = floor((v - h->lo) / w);
    t = t < 0.0 ? 0.0 : (t > (double)last ? (double)last : t);
    uint32_t i = (uint32_t)t;
    /* The quotient may be off by one near an edge; settle against the
     * edges themselves. Each loop runs at most once or twice. */
    while (i > 0 && v < h->lo + (double)i * w)
        --i;
    while (i < last && v >= h->lo + (double)(i + 1) * w)
        ++i;
    return i;
}

tq_status tq_histogram_add_f32(tq_histogram *h, const float *x, size_t n)
{
    if (!h || (n > 0 && !x))
        return TQ_ERR_NULL;
    TQ_CHECK(tq__histogram_check(h));
    if ((uint64_t)n > UINT64_MAX - tq_histogram_total(h))
        return TQ_ERR_OVERFLOW;
    /* Check first: the bins are the caller's and cannot be rolled back. */
    for (size_t i = 0; i < n; ++i) {
        if (!isfinite(x[i]))
            return TQ_ERR_NOT_FINITE;
    }
    const double w = tq__bin_width(h);
    for (size_t i = 0; i < n; ++i) {
        const double v = (double)x[i];
        if (v < h->lo)
            ++h->below;
        else if (v > h->hi)
            ++h->above;
        else
            ++h->bins[tq__bin_index(h, w, v)];
    }
    return TQ_OK;
}

/* Saturating, so that the overflow check in tq_histogram_add_f32() cannot
 * be fooled by a sum that wrapped around. */
static uint64_t tq__sat_add_u64(uint64_t a, uint64_t b)
{
    return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

uint64_t tq_histogram_total(const tq_histogram *h)
{
    if (!h)
        return 0;
    uint64_t total = tq__sat_add_u64(h->below, h->above);
    if (h->bins) {
        for (uint32_t i = 0; i < h->nbins; ++i)
            total = tq__sat_add_u64(total, h->bins[i]);
    }
    return total;
}

tq_status tq_histogram_percentile(const tq_histogram *h, double percent,
                                  double *value)
{
    if (!h || !value)
        return TQ_ERR_NULL;
    TQ_CHECK(tq__histogram_check(h));
    if (!(percent >= 0.0 && percent <= 100.0)) /* also rejects NaN */
        return TQ_ERR_PARAM;
    const uint64_t total = tq_histogram_total(h);
    if (total == 0)
        return TQ_ERR_EMPTY;

    /* The rank is a count of values; the answer is where the piecewise
     * linear cumulative count (values below lo sit at lo, values above hi
     * at hi, each bin's values spread evenly over it) first reaches it.
     * Empty bins are skipped so the answer stays on data. */
    const double rank = percent / 100.0 * (double)total;
    if (h->below > 0 && rank <= (double)h->below) {
        *value = h->lo;
        return TQ_OK;
    }
    const double w = tq__bin_width(h);
    double cum = (double)h->below;
    for (uint32_t i = 0; i < h->nbins; ++i) {
        const double c = (double)h->bins[i];
        if (c == 0.0)
            continue;
        if (rank <= cum + c) {
            double frac = (rank - cum) / c;
            frac = frac < 0.0 ? 0.0 : (frac > 1.0 ? 1.0 : frac);
            const double left = h->lo + (double)i * w;
            const double right =
                i + 1 == h->nbins ? h->hi : h->lo + (double)(i + 1) * w;
            double v = left + frac * (right - left);
            v = v < h->lo ? h->lo : (v > h->hi ? h->hi : v);
            *value = v;
            return TQ_OK;
        }
        cum += c;
    }
    *value = h->hi;
    return TQ_OK;
}
