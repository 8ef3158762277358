/*
 * Range calibration: the floating range [lo, hi] a tensor is quantized
 * over, from its statistics (min/max, abs max, k-sigma) or from its
 * histogram (percentile, MSE-optimal clipping, TensorRT's entropy / KL
 * calibration).
 *
 * MSE and KL work on at most TQ__RANGE_MAX_BINS bins: a histogram with more
 * is viewed with neighbouring bins merged (proportionally, so each merged
 * bin spans floor or ceil(nbins / TQ__RANGE_MAX_BINS) original bins). That
 * bounds both the stack (one array of that many uint64 counters, 16 KiB)
 * and the time (the searches are quadratic in the number of bins). 2048 is
 * the bin count TensorRT and PyTorch's HistogramObserver use.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <float.h>
#include <math.h>

#include "../tq_internal.h"

#define TQ__RANGE_MAX_BINS 2048u

/* Coordinate-descent rounds of the asymmetric MSE search (each round scans
 * the upper edge, then the lower one). It usually settles in two. */
#define TQ__MSE_ROUNDS 4

/* ---- validation ------------------------------------------------------- */

static int method_needs_hist(int32_t method)
{
    return method == TQ_RANGE_PERCENTILE || method == TQ_RANGE_MSE ||
           method == TQ_RANGE_KL;
}

static tq_status check_hist(const tq_histogram *h)
{
    if (!h->bins)
        return TQ_ERR_NULL;
    /* The searches convert bin positions to float, so the range must also
     * fit in float (a histogram of float data always does). */
    if (h->nbins < 1 || !isfinite(h->lo) || !isfinite(h->hi) ||
        !(h->lo < h->hi) || !isfinite(h->hi - h->lo) ||
        fabs(h->lo) > (double)FLT_MAX || fabs(h->hi) > (double)FLT_MAX)
        return TQ_ERR_PARAM;
    return TQ_OK;
}

static tq_status check_options(const tq_range_config *config)
{
    switch (config->method) {
    case TQ_RANGE_MINMAX:
    case TQ_RANGE_ABSMAX:
    case TQ_RANGE_MSE:
    case TQ_RANGE_KL:
        return TQ_OK;
    case TQ_RANGE_KSIGMA:
        return isfinite(config->k) && config->k > 0.0 ? TQ_OK : TQ_ERR_PARAM;
    case TQ_RANGE_PERCENTILE:
        return config->percentile > 50.0 && config->percentile <= 100.0
                   ? TQ_OK
                   : TQ_ERR_PARAM; /* also rejects NaN */
    default:
        return TQ_ERR_PARAM;
    }
}

/* ---- a histogram with at most TQ__RANGE_MAX_BINS bins ------------------ */

typedef struct bin_view {
    uint64_t *count;  /* n counters (the caller's work buffer) */
    uint32_t n;       /* bins in the view */
    uint32_t src_n;   /* bins in the histogram */
    double lo, hi;    /* histogram range */
    double src_w;     /* width of one histogram bin */
} bin_view;

/* Merged bin k spans histogram bins [k·src_n / n, (k+1)·src_n / n). */
static uint32_t view_src_index(const bin_view *v, uint32_t k)
{
    return (uint32_t)((uint64_t)k * v->src_n / v->n);
}

static void view_init(bin_view *v, const tq_histogram *h, uint64_t *work)
{
    v->count = work;
    v->src_n = h->nbins;
    v->n = h->nbins < TQ__RANGE_MAX_BINS ? h->nbins : TQ__RANGE_MAX_BINS;
    v->lo = h->lo;
    v->hi = h->hi;
    v->src_w = (h->hi - h->lo) / (double)h->nbins;
    for (uint32_t k = 0; k < v->n; ++k) {
        uint64_t sum = 0;
        for (uint32_t j = view_src_index(v, k); j < view_src_index(v, k + 1); ++j)
            sum += h->bins[j];
        v->count[k] = sum;
    }
}

/* Edge k of the view, k in [0, n]; the last edge is exactly hi. */
static double view_edge(const bin_view *v, uint32_t k)
{
    return k >= v->n ? v->hi : v->lo + (double)view_src_index(v, k) * v->src_w;
}

/* ---- MSE-optimal clipping --------------------------------------------- */

typedef struct mse_search {
    bin_view view;
    const tq_qscheme *scheme;
    int32_t qmin, qmax;
    uint64_t below, above; /* outside the histogram: at lo and hi */
} mse_search;

/* Squared fake-quantization error of one value, rounded as TFLite does. */
static double sq_error(float x, float scale, float inv_scale, int32_t zp,
                       int32_t qmin, int32_t qmax)
{
    const int32_t q = tq__quantize_one(x, scale, inv_scale, zp, qmin, qmax,
                                       TQ_FROUND_HALF_AWAY);
    const double d = (double)x - (double)((float)(q - zp) * scale);
    return d * d;
}

/* Σ count · (centre − fq(centre))² with the parameters the scheme gives
 * [a, b]; +inf if it gives none (a range too narrow for a float scale). */
static double range_sse(const mse_search *m, double a, double b)
{
    float scale;
    int32_t zp;
    if (tq_qparams_from_range(m->scheme, a, b, &scale, &zp) != TQ_OK)
        return INFINITY;
    const float inv = 1.0f / scale;
    const bin_view *v = &m->view;
    double sse = 0.0;
    double left = view_edge(v, 0);
    for (uint32_t k = 0; k < v->n; ++k) {
        const double right = view_edge(v, k + 1);
        if (v->count[k] != 0) {
            const float c = (float)(0.5 * (left + right));
            sse += (double)v->count[k] *
                   sq_error(c, scale, inv, zp, m->qmin, m->qmax);
        }
        left = right;
    }
    if (m->below != 0)
        sse += (double)m->below *
               sq_error((float)v->lo, scale, inv, zp, m->qmin, m->qmax);
    if (m->above != 0)
        sse += (double)m->above *
               sq_error((float)v->hi, scale, inv, zp, m->qmin, m->qmax);
    return sse;
}

/* Symmetric: the threshold t of [−t, t] over the edges of a histogram of
 * |x| with as many bins, widest first so that ties keep the wider range. */
static void mse_symmetric(const mse_search *m, double *lo, double *hi)
{
    const bin_view *v = &m->view;
    const double amax = fmax(fabs(v->lo), fabs(v->hi));
    double best_t = amax;
    double best = range_sse(m, -amax, amax);
    for (uint32_t j = v->n - 1; j >= 1; --j) {
        const double t = amax * (double)j / (double)v->n;
        const double e = range_sse(m, -t, t);
        if (e < best) {
            best = e;
            best_t = t;
        }
    }
    *lo = -best_t;
    *hi = best_t;
}

/* Asymmetric: coordinate descent over the view's edges from the full
 * range, alternating a scan of the upper edge with one of the lower. A
 * candidate replaces the current one only if strictly better, so the
 * search is deterministic and never narrows for nothing. */
static void mse_asymmetric(const mse_search *m, double *lo, double *hi)
{
    const bin_view *v = &m->view;
    uint32_t ia = 0, ib = v->n;
    double best = range_sse(m, view_edge(v, ia), view_edge(v, ib));
    for (int round = 0; round < TQ__MSE_ROUNDS; ++round) {
        const uint32_t prev_a = ia, prev_b = ib;
        const double a = view_edge(v, ia);
        for (uint32_t j = v->n; j > ia; --j) {
            const double e = range_sse(m, a, view_edge(v, j));
            if (e < best) {
                best = e;
                ib = j;
            }
        }
        const double b = view_edge(v, ib);
        for (uint32_t i = 0; i < ib; ++i) {
            const double e = range_sse(m, view_edge(v, i), b);
            if (e < best) {
                best = e;
                ia = i;
            }
        }
        if (ia == prev_a && ib == prev_b)
            break;
    }
    *lo = view_edge(v, ia);
    *hi = view_edge(v, ib);
}

static void range_mse(const tq_qscheme *scheme, int32_t qmin, int32_t qmax,
                      const tq_histogram *h, uint64_t *work, double *lo,
                      double *hi)
{
    mse_search m;
    view_init(&m.view, h, work);
    m.scheme = scheme;
    m.qmin = qmin;
    m.qmax = qmax;
    m.below = h->below;
    m.above = h->above;
    if (scheme->symmetric)
        mse_symmetric(&m, lo, hi);
    else
        mse_asymmetric(&m, lo, hi);
}

/* ---- KL divergence (TensorRT entropy calibration) --------------------- */

/* Folded bin of a magnitude: [0, amax] in n equal bins, amax in the last. */
static uint32_t fold_index(double mag, double amax, uint32_t n)
{
    const double t = floor(mag / amax * (double)n);
    return t >= (double)(n - 1) ? n - 1 : (uint32_t)t;
}

/* KL(P || Q) for the candidate that keeps the first i folded bins, as
 * TensorRT's entropy calibration (and NVIDIA's pytorch-quantization) define
 * it: P is those bins with the clipped mass (outliers) added to the last
 * one; Q quantizes the same i bins *without* the outliers into `levels`
 * groups (group g = bins [g·i/levels, (g+1)·i/levels)) and spreads each
 * group's mass evenly over the group's non-empty bins. Both are normalised
 * (P sums to total, Q to total − outliers). Q is built from the unclipped
 * bins on purpose: built from P it would equal P at i = levels (one bin
 * per group) and always win with KL 0. No smoothing: bins where P is 0
 * contribute nothing, and a bin where P > 0 but Q = 0 (the last bin was
 * empty before the outliers went in) makes the divergence infinite, so that
 * candidate is never chosen. */
static double kl_of_candidate(const uint64_t *fold, uint32_t i,
                              uint64_t outliers, uint64_t total,
                              uint32_t levels)
{
    const uint64_t kept = total - outliers;
    if (kept == 0)
        return INFINITY;
    double sum = 0.0; /* Σ P_k · log(P_k / Q_k) in counts */
    for (uint32_t g = 0; g < levels; ++g) {
        const uint32_t k0 = (uint32_t)((uint64_t)g * i / levels);
        const uint32_t k1 = (uint32_t)((uint64_t)(g + 1) * i / levels);
        double mass = 0.0;
        uint32_t nonzero = 0;
        for (uint32_t k = k0; k < k1; ++k) {
            mass += (double)fold[k];
            nonzero += fold[k] != 0;
        }
        const double q = nonzero != 0 ? mass / (double)nonzero : 0.0;
        for (uint32_t k = k0; k < k1; ++k) {
            const double p =
                (double)fold[k] + (k == i - 1 ? (double)outliers : 0.0);
            if (p == 0.0)
                continue;
            if (fold[k] == 0)
                return INFINITY; /* P > 0 where Q = 0 */
            sum += p * log(p / q);
        }
    }
    /* Σ (P/T) log((P/T) / (Q/S)) = Σ P log(P/Q) / T + log(S / T). */
    return sum / (double)total + log((double)kept / (double)total);
}

/* The threshold t in (0, amax] minimising the divergence, on the histogram
 * folded to |x| (into @p fold) over [0, amax] with as many bins as the
 * (capped) view. Each bin's mass moves with its centre; values outside the
 * histogram count at its edges. Candidates keep i = levels .. n bins; t is
 * the upper edge of bin i (the first minimum wins). */
static double kl_threshold(const tq_histogram *h, uint32_t levels,
                           uint64_t *fold)
{
    const uint32_t n =
        h->nbins < TQ__RANGE_MAX_BINS ? h->nbins : TQ__RANGE_MAX_BINS;
    const double amax = fmax(fabs(h->lo), fabs(h->hi));
    const double w = (h->hi - h->lo) / (double)h->nbins;
    if (n < levels)
        return amax; /* fewer bins than levels: nothing to clip */

    for (uint32_t k = 0; k < n; ++k)
        fold[k] = 0;
    for (uint32_t j = 0; j < h->nbins; ++j) {
        if (h->bins[j] != 0) {
            const double c = h->lo + ((double)j + 0.5) * w;
            fold[fold_index(fabs(c), amax, n)] += h->bins[j];
        }
    }
    fold[fold_index(fabs(h->lo), amax, n)] += h->below;
    fold[fold_index(fabs(h->hi), amax, n)] += h->above;

    uint64_t total = 0, prefix = 0;
    for (uint32_t k = 0; k < n; ++k)
        total += fold[k];
    for (uint32_t k = 0; k < levels - 1; ++k)
        prefix += fold[k];

    uint32_t best_i = n;
    double best = INFINITY;
    for (uint32_t i = levels; i <= n; ++i) {
        prefix += fold[i - 1]; /* now Σ fold[0 .. i) */
        const double kl =
            kl_of_candidate(fold, i, total - prefix, total, levels);
        if (kl < best) {
            best = kl;
            best_i = i;
        }
    }
    return best_i == n ? amax : amax * (double)best_i / (double)n;
}

static void range_kl(const tq_qscheme *scheme, const tq_stats *stats,
                     const tq_histogram *h, uint64_t *work, double *lo,
                     double *hi)
{
    /* TensorRT's 128 levels for int8 magnitudes; an asymmetric scheme over
     * non-negative data spends all 2^bits − 1 steps on them. */
    const uint32_t levels = !scheme->symmetric && stats->min >= 0.0
                                ? (UINT32_C(1) << scheme->bits) - 1
                                : UINT32_C(1) << (scheme->bits - 1);
    const double t = kl_threshold(h, levels, work);
    if (scheme->symmetric) {
        *lo = -t;
        *hi = t;
    } else {
        *lo = stats->min > -t ? stats->min : -t;
        *hi = stats->max < t ? stats->max : t;
    }
}

/* ---- entry point ------------------------------------------------------ */

tq_status tq_choose_range(const tq_range_config *config,
                          const tq_qscheme *scheme, const tq_stats *stats,
                          const tq_histogram *hist, double *lo, double *hi)
{
    /* The one bounded buffer of the histogram searches, shared so that
     * the stack holds it once whatever the compiler inlines. */
    uint64_t work[TQ__RANGE_MAX_BINS];
    int32_t qmin, qmax;
    if (!config || !scheme || !stats || !lo || !hi)
        return TQ_ERR_NULL;
    if (method_needs_hist(config->method) && !hist)
        return TQ_ERR_NULL;
    TQ_CHECK(check_options(config));
    TQ_CHECK(tq_qscheme_qrange(scheme, &qmin, &qmax));
    if (method_needs_hist(config->method))
        TQ_CHECK(check_hist(hist));
    if (stats->count == 0)
        return TQ_ERR_EMPTY;
    if (!isfinite(stats->min) || !isfinite(stats->max) ||
        stats->min > stats->max)
        return TQ_ERR_PARAM;
    if (method_needs_hist(config->method) && tq_histogram_total(hist) == 0)
        return TQ_ERR_EMPTY;

    double l = stats->min, h = stats->max;
    switch (config->method) {
    case TQ_RANGE_MINMAX:
        break;
    case TQ_RANGE_ABSMAX: {
        const double a = fmax(fabs(l), fabs(h));
        l = -a;
        h = a;
        break;
    }
    case TQ_RANGE_KSIGMA: {
        double kl, kh;
        TQ_CHECK(tq_stats_ksigma_range(stats, config->k, &kl, &kh));
        l = kl > l ? kl : l;
        h = kh < h ? kh : h;
        if (l > h) /* only if the mean lies outside [min, max] */
            return TQ_ERR_PARAM;
        break;
    }
    case TQ_RANGE_PERCENTILE:
        TQ_CHECK(tq_histogram_percentile(hist, 100.0 - config->percentile, &l));
        TQ_CHECK(tq_histogram_percentile(hist, config->percentile, &h));
        break;
    case TQ_RANGE_MSE:
        range_mse(scheme, qmin, qmax, hist, work, &l, &h);
        break;
    default: /* TQ_RANGE_KL; check_options() accepted nothing else */
        range_kl(scheme, stats, hist, work, &l, &h);
        break;
    }
    /* A symmetric scheme only uses the larger magnitude; say so. */
    if (scheme->symmetric) {
        const double a = fmax(fabs(l), fabs(h));
        l = -a;
        h = a;
    }
    *lo = l;
    *hi = h;
    return TQ_OK;
}
