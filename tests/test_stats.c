/*
 * Tests of the statistics unit: streaming moments (global and per channel)
 * and histograms with percentiles. The oracles are a compensated two-pass
 * computation in long double, exact integer sums for int8, naive binning
 * against the documented edges, and percentiles of sorted data.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyq.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* oracle                                                              */
/* ------------------------------------------------------------------ */

/* Neumaier-compensated sum in long double: exact enough to be the truth
 * even where long double is just double. */
typedef struct ksum {
    long double s, c;
} ksum;

static void kadd(ksum *k, long double x)
{
    const long double t = k->s + x;
    if (fabsl(k->s) >= fabsl(x))
        k->c += (k->s - t) + x;
    else
        k->c += (x - t) + k->s;
    k->s = t;
}

static long double kval(const ksum *k)
{
    return k->s + k->c;
}

typedef struct ref_stats {
    uint64_t n;
    double min, max;
    long double mean, m2;
} ref_stats;

static ref_stats oracle_f32(const float *x, size_t n)
{
    ref_stats r = {0};
    ksum sum = {0, 0};
    r.n = n;
    if (n == 0)
        return r;
    r.min = r.max = x[0];
    for (size_t i = 0; i < n; ++i) {
        kadd(&sum, x[i]);
        r.min = x[i] < r.min ? x[i] : r.min;
        r.max = x[i] > r.max ? x[i] : r.max;
    }
    r.mean = kval(&sum) / (long double)n;
    ksum sq = {0, 0};
    for (size_t i = 0; i < n; ++i) {
        const long double d = (long double)x[i] - r.mean;
        kadd(&sq, d * d);
    }
    r.m2 = kval(&sq);
    return r;
}

/* int8: everything exact in integers. */
static ref_stats oracle_s8(const int8_t *x, size_t n)
{
    ref_stats r = {0};
    int64_t sum = 0;
    long double sumsq = 0;
    r.n = n;
    if (n == 0)
        return r;
    r.min = r.max = x[0];
    for (size_t i = 0; i < n; ++i) {
        sum += x[i];
        sumsq += (long double)((int64_t)x[i] * x[i]);
        r.min = x[i] < r.min ? x[i] : r.min;
        r.max = x[i] > r.max ? x[i] : r.max;
    }
    r.mean = (long double)sum / (long double)n;
    r.m2 = sumsq - (long double)sum * (long double)sum / (long double)n;
    return r;
}

static int close_rel(long double got, long double want, long double rel,
                     long double abs_tol)
{
    return fabsl(got - want) <= rel * fabsl(want) + abs_tol;
}

/* Compare an accumulator with the oracle. The mean is judged relative to
 * the data magnitude, M2 relative to itself. */
static void expect_stats(const tq_stats *s, const ref_stats *r, double rel,
                         const char *what)
{
    const long double mag = fmaxl(fabsl((long double)r->min),
                                  fabsl((long double)r->max));
    const int ok = s->count == r->n &&
                   (r->n == 0 || (s->min == r->min && s->max == r->max)) &&
                   close_rel(s->mean, r->mean, 0, rel * mag) &&
                   close_rel(s->m2, r->m2, rel, 1e-300L);
    if (!ok) {
        print_message("%s: count %llu/%llu min %.17g/%.17g max %.17g/%.17g "
                      "mean %.17g/%.17Lg m2 %.17g/%.17Lg\n",
                      what, (unsigned long long)s->count,
                      (unsigned long long)r->n, s->min, r->min, s->max, r->max,
                      s->mean, r->mean, s->m2, r->m2);
        fail();
    }
}

/* ------------------------------------------------------------------ */
/* data                                                                */
/* ------------------------------------------------------------------ */

enum dist {
    D_UNIFORM,  /* U(-1, 1) */
    D_OFFSET,   /* 1e4 + N(0, 1): catastrophic cancellation bait */
    D_CONSTANT, /* 3.7 everywhere */
    D_WIDE,     /* U(-1e30, 1e30) */
    D_TINY,     /* 1e-30 * N(0, 1) */
    D_SKEWED,   /* exp(N(0, 2)): heavy right tail */
    D_COUNT
};

static const char *dist_name[D_COUNT] = {"uniform", "offset-normal",
                                         "constant", "wide",
                                         "tiny", "lognormal"};

static void fill_dist(tt_rng *rng, enum dist d, float *x, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        switch (d) {
        case D_UNIFORM:
            x[i] = tt_float(rng, -1.0f, 1.0f);
            break;
        case D_OFFSET:
            x[i] = (float)(1e4 + tt_normal(rng));
            break;
        case D_CONSTANT:
            x[i] = 3.7f;
            break;
        case D_WIDE:
            x[i] = (float)((tt_unit(rng) * 2.0 - 1.0) * 1e30);
            break;
        case D_TINY:
            x[i] = (float)(1e-30 * tt_normal(rng));
            break;
        default:
            x[i] = (float)exp(2.0 * tt_normal(rng));
            break;
        }
    }
}

static float *alloc_floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

/* ------------------------------------------------------------------ */
/* moments                                                             */
/* ------------------------------------------------------------------ */

static void test_stats_init(void **state)
{
    (void)state;
    tq_stats s;
    memset(&s, 0xA5, sizeof s);
    assert_int_equal(tq_stats_init(&s), TQ_OK);
    assert_int_equal(s.count, 0);
    assert_true(s.mean == 0.0 && s.m2 == 0.0);
    assert_int_equal(tq_stats_init(NULL), TQ_ERR_NULL);
    double v = 42.0;
    assert_int_equal(tq_stats_variance(&s, TQ_SIGMA_POPULATION, &v),
                     TQ_ERR_EMPTY);
    assert_true(v == 42.0);
}

static void test_stats_f32_distributions(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 3, 7, 1023, 1024, 1025, 2049, 100003};
    const uint64_t seed = 2024;
    tt_rng rng = {seed};
    for (int d = 0; d < D_COUNT; ++d) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; ++si) {
            const size_t n = sizes[si];
            float *x = alloc_floats(n);
            fill_dist(&rng, (enum dist)d, x, n);
            tq_stats s;
            assert_int_equal(tq_stats_init(&s), TQ_OK);
            assert_int_equal(tq_stats_update_f32(&s, x, n), TQ_OK);
            const ref_stats r = oracle_f32(x, n);
            char what[96];
            snprintf(what, sizeof what, "seed %llu %s n=%zu",
                     (unsigned long long)seed, dist_name[d], n);
            expect_stats(&s, &r, 1e-12, what);
            if (d == D_CONSTANT) {
                /* No rounding noise at all on constant data. */
                assert_true(s.m2 == 0.0);
                assert_true(s.mean == (double)3.7f);
            }
            if (n == 1)
                assert_true(s.m2 == 0.0 && s.mean == (double)x[0]);
            free(x);
        }
    }
}

static void test_stats_ten_million(void **state)
{
    (void)state;
    const size_t n = 10000000;
    float *x = alloc_floats(n);
    tt_rng rng = {99};
    fill_dist(&rng, D_OFFSET, x, n);
    tq_stats s;
    assert_int_equal(tq_stats_init(&s), TQ_OK);
    assert_int_equal(tq_stats_update_f32(&s, x, n), TQ_OK);
    const ref_stats r = oracle_f32(x, n);
    double var;
    assert_int_equal(tq_stats_variance(&s, TQ_SIGMA_POPULATION, &var), TQ_OK);
    const long double want = r.m2 / (long double)n;
    const long double relerr = fabsl((long double)var - want) / want;
    if (!(relerr < 1e-10L)) {
        print_message("10^7 values of 1e4 + N(0,1): variance %.17g, want "
                      "%.17Lg, relative error %Lg\n",
                      var, want, relerr);
        fail();
    }
    assert_true(fabsl((long double)s.mean - r.mean) < 1e-10L);
    assert_int_equal(s.count, n);
    free(x);
}

/* Random chunking of the same data gives the same statistics. */
static void test_stats_chunked_updates(void **state)
{
    (void)state;
    tt_rng rng = {7};
    const size_t n = 30011;
    float *x = alloc_floats(n);
    for (int d = 0; d < D_COUNT; ++d) {
        fill_dist(&rng, (enum dist)d, x, n);
        const ref_stats r = oracle_f32(x, n);
        tq_stats s;
        tq_stats_init(&s);
        size_t pos = 0;
        while (pos < n) {
            size_t len = (size_t)tt_int(&rng, 0, 3000);
            len = len > n - pos ? n - pos : len;
            assert_int_equal(tq_stats_update_f32(&s, x + pos, len), TQ_OK);
            pos += len;
        }
        expect_stats(&s, &r, 1e-12, dist_name[d]);
    }
    free(x);
}

static void test_stats_merge(void **state)
{
    (void)state;
    const uint64_t seed = 31337;
    tt_rng rng = {seed};
    const size_t n = 20000;
    float *x = alloc_floats(n);
    for (int it = 0; it < 60; ++it) {
        const enum dist d = (enum dist)(it % D_COUNT);
        fill_dist(&rng, d, x, n);
        const ref_stats r = oracle_f32(x, n);
        tq_stats one;
        tq_stats_init(&one);
        assert_int_equal(tq_stats_update_f32(&one, x, n), TQ_OK);

        /* Split at random cut points (pieces may be empty). */
        enum { MAXP = 9 };
        const int pieces = tt_int(&rng, 1, MAXP);
        size_t cuts[MAXP + 1];
        cuts[0] = 0;
        cuts[pieces] = n;
        for (int p = 1; p < pieces; ++p)
            cuts[p] = (size_t)tt_int(&rng, 0, (int32_t)n);
        for (int p = 1; p < pieces; ++p) /* insertion sort */
            for (int q = p; q > 1 && cuts[q] < cuts[q - 1]; --q) {
                const size_t t = cuts[q];
                cuts[q] = cuts[q - 1];
                cuts[q - 1] = t;
            }
        tq_stats part[MAXP];
        for (int p = 0; p < pieces; ++p) {
            tq_stats_init(&part[p]);
            assert_int_equal(tq_stats_update_f32(&part[p], x + cuts[p],
                                                 cuts[p + 1] - cuts[p]),
                             TQ_OK);
        }

        /* Sequential merge in a random order. */
        int order[MAXP];
        for (int p = 0; p < pieces; ++p)
            order[p] = p;
        for (int p = pieces - 1; p > 0; --p) {
            const int q = tt_int(&rng, 0, p);
            const int t = order[p];
            order[p] = order[q];
            order[q] = t;
        }
        tq_stats seq;
        tq_stats_init(&seq);
        for (int p = 0; p < pieces; ++p)
            assert_int_equal(tq_stats_merge(&seq, &part[order[p]]), TQ_OK);

        /* Pairwise (tree) merge. */
        tq_stats tree[MAXP];
        memcpy(tree, part, sizeof part);
        for (int width = 1; width < pieces; width *= 2)
            for (int p = 0; p + width < pieces; p += 2 * width)
                assert_int_equal(tq_stats_merge(&tree[p], &tree[p + width]),
                                 TQ_OK);

        char what[96];
        snprintf(what, sizeof what, "merge seed %llu it %d %s pieces %d",
                 (unsigned long long)seed, it, dist_name[d], pieces);
        expect_stats(&one, &r, 1e-12, what);
        expect_stats(&seq, &r, 1e-12, what);
        expect_stats(&tree[0], &r, 1e-12, what);
    }
    free(x);
}

static void test_stats_merge_edge_cases(void **state)
{
    (void)state;
    const float x[5] = {1.0f, 2.0f, 4.0f, 8.0f, -3.0f};
    tq_stats a, empty, snap;
    tq_stats_init(&a);
    tq_stats_init(&empty);
    assert_int_equal(tq_stats_update_f32(&a, x, 5), TQ_OK);

    /* Empty into non-empty: bit-identical. */
    snap = a;
    assert_int_equal(tq_stats_merge(&a, &empty), TQ_OK);
    assert_memory_equal(&a, &snap, sizeof a);
    /* Non-empty into empty: a copy. */
    assert_int_equal(tq_stats_merge(&empty, &a), TQ_OK);
    assert_memory_equal(&empty, &a, sizeof a);

    /* Self-merge: every value seen twice. */
    assert_int_equal(tq_stats_merge(&a, &a), TQ_OK);
    assert_int_equal(a.count, 10);
    assert_true(fabs(a.mean - snap.mean) <= 1e-15 * fabs(snap.mean));
    assert_true(fabs(a.m2 - 2 * snap.m2) <= 1e-14 * snap.m2);
    assert_true(a.min == -3.0 && a.max == 8.0);

    assert_int_equal(tq_stats_merge(NULL, &a), TQ_ERR_NULL);
    assert_int_equal(tq_stats_merge(&a, NULL), TQ_ERR_NULL);

    /* Count overflow is refused and changes nothing. */
    tq_stats big = snap;
    big.count = UINT64_MAX - 3;
    snap = a;
    assert_int_equal(tq_stats_merge(&a, &big), TQ_ERR_OVERFLOW);
    assert_memory_equal(&a, &snap, sizeof a);
}

static void test_stats_s8(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 5, 1023, 1024, 1025, 77777};
    tt_rng rng = {88};
    for (int range = 0; range < 3; ++range) {
        const int32_t lo = range == 0 ? -128 : (range == 1 ? 100 : -3);
        const int32_t hi = range == 0 ? 127 : (range == 1 ? 127 : -3);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; ++si) {
            const size_t n = sizes[si];
            int8_t *x = malloc(n);
            assert_non_null(x);
            tt_fill_s8(&rng, x, n, lo, hi);
            tq_stats s;
            tq_stats_init(&s);
            /* Two calls, to cross a call boundary too. */
            assert_int_equal(tq_stats_update_s8(&s, x, n / 3), TQ_OK);
            assert_int_equal(tq_stats_update_s8(&s, x + n / 3, n - n / 3),
                             TQ_OK);
            const ref_stats r = oracle_s8(x, n);
            char what[64];
            snprintf(what, sizeof what, "s8 [%d,%d] n=%zu", lo, hi, n);
            expect_stats(&s, &r, 1e-13, what);
            if (lo == hi)
                assert_true(s.m2 == 0.0 && s.mean == lo);
            free(x);
        }
    }
    /* All extremes. */
    const int8_t ext[4] = {-128, 127, -128, 127};
    tq_stats s;
    tq_stats_init(&s);
    assert_int_equal(tq_stats_update_s8(&s, ext, 4), TQ_OK);
    assert_true(s.mean == -0.5 && s.m2 == 4 * 127.5 * 127.5);
    assert_true(s.min == -128.0 && s.max == 127.0);

    tq_stats snap = s;
    assert_int_equal(tq_stats_update_s8(NULL, ext, 4), TQ_ERR_NULL);
    assert_int_equal(tq_stats_update_s8(&s, NULL, 4), TQ_ERR_NULL);
    assert_int_equal(tq_stats_update_s8(&s, NULL, 0), TQ_OK);
    assert_memory_equal(&s, &snap, sizeof s);
}

static void test_stats_sigma_kinds(void **state)
{
    (void)state;
    /* The textbook example: population sigma exactly 2. */
    const float x[8] = {2, 4, 4, 4, 5, 5, 7, 9};
    const int8_t xs[8] = {2, 4, 4, 4, 5, 5, 7, 9};
    tq_stats f, q;
    tq_stats_init(&f);
    tq_stats_init(&q);
    assert_int_equal(tq_stats_update_f32(&f, x, 8), TQ_OK);
    assert_int_equal(tq_stats_update_s8(&q, xs, 8), TQ_OK);
    const tq_stats *both[2] = {&f, &q};
    for (int i = 0; i < 2; ++i) {
        double v, sd;
        assert_true(both[i]->mean == 5.0);
        assert_int_equal(tq_stats_variance(both[i], TQ_SIGMA_POPULATION, &v),
                         TQ_OK);
        assert_true(v == 4.0);
        assert_int_equal(tq_stats_stddev(both[i], TQ_SIGMA_POPULATION, &sd),
                         TQ_OK);
        assert_true(sd == 2.0);
        assert_int_equal(tq_stats_variance(both[i], TQ_SIGMA_SAMPLE, &v),
                         TQ_OK);
        assert_true(fabs(v - 32.0 / 7.0) <= 1e-15);
        assert_int_equal(tq_stats_stddev(both[i], TQ_SIGMA_SAMPLE, &sd),
                         TQ_OK);
        assert_true(fabs(sd - sqrt(32.0 / 7.0)) <= 1e-15);
    }

    /* Random data: sample = population * n / (n - 1). */
    tt_rng rng = {3};
    float y[333];
    tt_fill_f32(&rng, y, 333, -5.0f, 9.0f);
    tq_stats s;
    tq_stats_init(&s);
    assert_int_equal(tq_stats_update_f32(&s, y, 333), TQ_OK);
    const ref_stats r = oracle_f32(y, 333);
    double pop, smp;
    assert_int_equal(tq_stats_variance(&s, TQ_SIGMA_POPULATION, &pop), TQ_OK);
    assert_int_equal(tq_stats_variance(&s, TQ_SIGMA_SAMPLE, &smp), TQ_OK);
    assert_true(close_rel(pop, r.m2 / 333.0L, 1e-13L, 0));
    assert_true(close_rel(smp, r.m2 / 332.0L, 1e-13L, 0));

    /* One value: population 0, sample undefined. */
    tq_stats one;
    tq_stats_init(&one);
    assert_int_equal(tq_stats_update_f32(&one, x, 1), TQ_OK);
    double v = -1.0;
    assert_int_equal(tq_stats_variance(&one, TQ_SIGMA_POPULATION, &v), TQ_OK);
    assert_true(v == 0.0);
    v = -1.0;
    assert_int_equal(tq_stats_variance(&one, TQ_SIGMA_SAMPLE, &v),
                     TQ_ERR_EMPTY);
    assert_int_equal(tq_stats_stddev(&one, TQ_SIGMA_SAMPLE, &v), TQ_ERR_EMPTY);
    assert_true(v == -1.0);

    /* Errors leave the output alone. */
    assert_int_equal(tq_stats_variance(&s, 2, &v), TQ_ERR_PARAM);
    assert_int_equal(tq_stats_variance(&s, -1, &v), TQ_ERR_PARAM);
    assert_int_equal(tq_stats_stddev(&s, 7, &v), TQ_ERR_PARAM);
    assert_int_equal(tq_stats_variance(NULL, 0, &v), TQ_ERR_NULL);
    assert_int_equal(tq_stats_variance(&s, 0, NULL), TQ_ERR_NULL);
    assert_int_equal(tq_stats_stddev(NULL, 0, &v), TQ_ERR_NULL);
    assert_int_equal(tq_stats_stddev(&s, 0, NULL), TQ_ERR_NULL);
    tq_stats empty;
    tq_stats_init(&empty);
    assert_int_equal(tq_stats_stddev(&empty, 0, &v), TQ_ERR_EMPTY);
    assert_true(v == -1.0);
}

static void test_stats_ksigma(void **state)
{
    (void)state;
    tt_rng rng = {4};
    float y[1000];
    for (int i = 0; i < 1000; ++i)
        y[i] = (float)(3.0 + 0.5 * tt_normal(&rng));
    tq_stats s;
    tq_stats_init(&s);
    assert_int_equal(tq_stats_update_f32(&s, y, 1000), TQ_OK);
    const ref_stats r = oracle_f32(y, 1000);
    const long double sigma = sqrtl(r.m2 / 1000.0L);
    const double ks[] = {0.0, 1.0, 3.0, 5.0, 0.25};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; ++i) {
        double lo = 0, hi = 0;
        assert_int_equal(tq_stats_ksigma_range(&s, ks[i], &lo, &hi), TQ_OK);
        assert_true(close_rel(lo, r.mean - ks[i] * sigma, 0, 1e-12L));
        assert_true(close_rel(hi, r.mean + ks[i] * sigma, 0, 1e-12L));
        if (ks[i] == 0.0)
            assert_true(lo == s.mean && hi == s.mean);
    }
    /* Not clipped to [min, max]: 5 sigma of 1000 normals exceeds both. */
    double lo, hi;
    assert_int_equal(tq_stats_ksigma_range(&s, 5.0, &lo, &hi), TQ_OK);
    assert_true(lo < s.min && hi > s.max);

    lo = hi = 123.0;
    assert_int_equal(tq_stats_ksigma_range(&s, -1.0, &lo, &hi), TQ_ERR_PARAM);
    assert_int_equal(tq_stats_ksigma_range(&s, NAN, &lo, &hi), TQ_ERR_PARAM);
    assert_int_equal(tq_stats_ksigma_range(&s, INFINITY, &lo, &hi),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_stats_ksigma_range(NULL, 3.0, &lo, &hi), TQ_ERR_NULL);
    assert_int_equal(tq_stats_ksigma_range(&s, 3.0, NULL, &hi), TQ_ERR_NULL);
    assert_int_equal(tq_stats_ksigma_range(&s, 3.0, &lo, NULL), TQ_ERR_NULL);
    tq_stats empty;
    tq_stats_init(&empty);
    assert_int_equal(tq_stats_ksigma_range(&empty, 3.0, &lo, &hi),
                     TQ_ERR_EMPTY);
    assert_true(lo == 123.0 && hi == 123.0);
}

static void test_stats_not_finite(void **state)
{
    (void)state;
    tt_rng rng = {5};
    const size_t n = 5000;
    float *x = alloc_floats(n);
    const size_t where[] = {0, 1, 1023, 1024, 2500, 4998, 4999};
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (int prefill = 0; prefill < 2; ++prefill) {
        tq_stats s;
        tq_stats_init(&s);
        if (prefill) {
            fill_dist(&rng, D_OFFSET, x, n);
            assert_int_equal(tq_stats_update_f32(&s, x, n), TQ_OK);
        }
        for (size_t w = 0; w < sizeof where / sizeof where[0]; ++w)
            for (size_t b = 0; b < 3; ++b) {
                fill_dist(&rng, D_UNIFORM, x, n);
                x[where[w]] = bad[b];
                tq_stats snap;
                memcpy(&snap, &s, sizeof s);
                assert_int_equal(tq_stats_update_f32(&s, x, n),
                                 TQ_ERR_NOT_FINITE);
                assert_memory_equal(&s, &snap, sizeof s);
            }
        /* +inf and -inf in one block (their sum is NaN). */
        fill_dist(&rng, D_UNIFORM, x, n);
        x[10] = INFINITY;
        x[20] = -INFINITY;
        tq_stats snap = s;
        assert_int_equal(tq_stats_update_f32(&s, x, n), TQ_ERR_NOT_FINITE);
        assert_memory_equal(&s, &snap, sizeof s);
    }
    /* Largest finite floats are fine. */
    const float edge[3] = {FLT_MAX, -FLT_MAX, FLT_MAX};
    tq_stats s;
    tq_stats_init(&s);
    assert_int_equal(tq_stats_update_f32(&s, edge, 3), TQ_OK);
    assert_true(isfinite(s.m2) && s.max == FLT_MAX && s.min == -FLT_MAX);
    free(x);
}

static void test_stats_errors(void **state)
{
    (void)state;
    const float x[3] = {1, 2, 3};
    tq_stats s, snap;
    tq_stats_init(&s);
    assert_int_equal(tq_stats_update_f32(&s, x, 3), TQ_OK);
    snap = s;
    assert_int_equal(tq_stats_update_f32(NULL, x, 3), TQ_ERR_NULL);
    assert_int_equal(tq_stats_update_f32(&s, NULL, 3), TQ_ERR_NULL);
    assert_int_equal(tq_stats_update_f32(&s, NULL, 0), TQ_OK);
    assert_int_equal(tq_stats_update_f32(&s, x, 0), TQ_OK);
    assert_memory_equal(&s, &snap, sizeof s);

    /* Count overflow. */
    tq_stats big = s;
    big.count = UINT64_MAX - 1;
    tq_stats bsnap = big;
    assert_int_equal(tq_stats_update_f32(&big, x, 3), TQ_ERR_OVERFLOW);
    assert_int_equal(tq_stats_update_s8(&big, (const int8_t *)x, 3),
                     TQ_ERR_OVERFLOW);
    assert_memory_equal(&big, &bsnap, sizeof big);

    /* A corrupt accumulator is refused rather than propagated. */
    tq_stats bad[4];
    for (int i = 0; i < 4; ++i)
        bad[i] = s;
    bad[0].m2 = -1.0;
    bad[1].mean = NAN;
    bad[2].min = 5.0; /* min > max */
    bad[3].max = INFINITY;
    for (int i = 0; i < 4; ++i) {
        tq_stats b = bad[i];
        double v = 9.0, lo = 9.0, hi = 9.0;
        assert_int_equal(tq_stats_update_f32(&b, x, 3), TQ_ERR_PARAM);
        assert_int_equal(tq_stats_merge(&b, &s), TQ_ERR_PARAM);
        assert_int_equal(tq_stats_variance(&b, 0, &v), TQ_ERR_PARAM);
        assert_int_equal(tq_stats_ksigma_range(&b, 3.0, &lo, &hi),
                         TQ_ERR_PARAM);
        assert_memory_equal(&b, &bad[i], sizeof b);
        tq_stats t = s;
        assert_int_equal(tq_stats_merge(&t, &b), TQ_ERR_PARAM);
        assert_memory_equal(&t, &s, sizeof t);
        assert_true(v == 9.0 && lo == 9.0 && hi == 9.0);
    }
}

/* ------------------------------------------------------------------ */
/* per-channel                                                         */
/* ------------------------------------------------------------------ */

/* Naive oracle: unravel every linear index and append the value to its
 * channel's list. */
static void axis_oracle(const float *x, int32_t ndim, const int64_t *shape,
                        int32_t axis, float **lists, size_t *lens)
{
    size_t total = 1;
    for (int32_t k = 0; k < ndim; ++k)
        total *= (size_t)shape[k];
    for (size_t i = 0; i < total; ++i) {
        size_t rem = i, idx[4] = {0, 0, 0, 0};
        for (int32_t k = ndim - 1; k >= 0; --k) {
            idx[k] = rem % (size_t)shape[k];
            rem /= (size_t)shape[k];
        }
        const size_t c = idx[axis];
        lists[c][lens[c]++] = x[i];
    }
}

static void check_axis_case(tt_rng *rng, uint64_t seed, int32_t ndim,
                            const int64_t *shape, int32_t axis, int prefill)
{
    size_t total = 1;
    for (int32_t k = 0; k < ndim; ++k)
        total *= (size_t)shape[k];
    const size_t ch = (size_t)shape[axis];
    const size_t pre = prefill ? 37 : 0;
    float *x = alloc_floats(total);
    for (size_t i = 0; i < total; ++i)
        x[i] = (float)(tt_normal(rng) + 100.0 * (double)(i % 7));
    tq_stats *st = malloc(ch * sizeof *st);
    float **lists = malloc(ch * sizeof *lists);
    size_t *lens = calloc(ch, sizeof *lens);
    assert_true(st && lists && lens);
    for (size_t c = 0; c < ch; ++c) {
        lists[c] = alloc_floats(total / ch + pre);
        tq_stats_init(&st[c]);
        if (pre) {
            /* Earlier data in the accumulator, with a different mean. */
            fill_dist(rng, D_OFFSET, lists[c], pre);
            assert_int_equal(tq_stats_update_f32(&st[c], lists[c], pre), TQ_OK);
            lens[c] = pre;
        }
    }
    axis_oracle(x, ndim, shape, axis, lists, lens);

    tq_tensor t;
    assert_int_equal(tq_tensor_init(&t, x, TQ_F32, ndim, shape), TQ_OK);
    assert_int_equal(tq_stats_update_axis_f32(st, (int64_t)ch, &t, axis), TQ_OK);
    for (size_t c = 0; c < ch; ++c) {
        assert_int_equal(lens[c], total / ch + pre);
        const ref_stats r = oracle_f32(lists[c], lens[c]);
        char what[128];
        snprintf(what, sizeof what,
                 "seed %llu shape {%lld,%lld,%lld,%lld}/%d axis %d ch %zu",
                 (unsigned long long)seed, (long long)shape[0],
                 (long long)(ndim > 1 ? shape[1] : 0),
                 (long long)(ndim > 2 ? shape[2] : 0),
                 (long long)(ndim > 3 ? shape[3] : 0), ndim, axis, c);
        expect_stats(&st[c], &r, 1e-12, what);
        free(lists[c]);
    }
    free(x);
    free(st);
    free(lists);
    free(lens);
}

static void test_stats_axis_random(void **state)
{
    (void)state;
    const uint64_t seed = 4242;
    tt_rng rng = {seed};
    for (int it = 0; it < 150; ++it) {
        const int32_t ndim = it < 100 ? 4 : tt_int(&rng, 1, 3);
        int64_t shape[4] = {1, 1, 1, 1};
        for (int32_t k = 0; k < ndim; ++k)
            shape[k] = tt_int(&rng, 0, 3) == 0 ? 1 : tt_int(&rng, 2, 9);
        for (int32_t axis = 0; axis < ndim; ++axis)
            check_axis_case(&rng, seed, ndim, shape, axis, it % 2);
    }
}

static void test_stats_axis_large(void **state)
{
    (void)state;
    tt_rng rng = {777};
    /* NHWC activations, last axis: many tiles of strided values. */
    const int64_t nhwc[4] = {2, 40, 40, 16};
    check_axis_case(&rng, 777, 4, nhwc, 3, 0);
    check_axis_case(&rng, 777, 4, nhwc, 0, 1);
    /* Output-channel axis with rows longer than a block. */
    const int64_t wide[2] = {3, 2500};
    check_axis_case(&rng, 777, 2, wide, 0, 1);
    check_axis_case(&rng, 777, 2, wide, 1, 0);
    /* A middle axis with inner runs of 700 and 1024 and 1025. */
    const int64_t mid[3] = {2, 5, 700};
    check_axis_case(&rng, 777, 3, mid, 1, 0);
    const int64_t mid2[3] = {3, 2, 1024};
    check_axis_case(&rng, 777, 3, mid2, 1, 1);
    const int64_t mid3[3] = {3, 2, 1025};
    check_axis_case(&rng, 777, 3, mid3, 1, 0);
    /* One channel, and a single element. */
    const int64_t onech[4] = {5, 7, 3, 1};
    check_axis_case(&rng, 777, 4, onech, 3, 1);
    const int64_t single[1] = {1};
    check_axis_case(&rng, 777, 1, single, 0, 0);
}

static void test_stats_axis_errors(void **state)
{
    (void)state;
    const int64_t shape[4] = {2, 3, 4, 5};
    float x[120];
    for (int i = 0; i < 120; ++i)
        x[i] = (float)i;
    tq_stats st[5], snap[5];
    for (int c = 0; c < 5; ++c) {
        tq_stats_init(&st[c]);
        assert_int_equal(tq_stats_update_f32(&st[c], x, (size_t)c + 1), TQ_OK);
    }
    memcpy(snap, st, sizeof st);
    tq_tensor t, b;
    assert_int_equal(tq_tensor_init(&t, x, TQ_F32, 4, shape), TQ_OK);

#define EXPECT_AXIS(status, ch, tp, ax)                                    \
    do {                                                                   \
        assert_int_equal(tq_stats_update_axis_f32(st, (ch), (tp), (ax)),   \
                         (status));                                        \
        assert_memory_equal(st, snap, sizeof st);                          \
    } while (0)

    assert_int_equal(tq_stats_update_axis_f32(NULL, 5, &t, 3), TQ_ERR_NULL);
    EXPECT_AXIS(TQ_ERR_NULL, 5, NULL, 3);
    b = t;
    b.data = NULL;
    EXPECT_AXIS(TQ_ERR_NULL, 5, &b, 3);
    b = t;
    b.dtype = TQ_S8;
    EXPECT_AXIS(TQ_ERR_DTYPE, 5, &b, 3);
    b.dtype = 0;
    EXPECT_AXIS(TQ_ERR_DTYPE, 5, &b, 3);
    EXPECT_AXIS(TQ_ERR_SHAPE, 5, &t, 4);
    EXPECT_AXIS(TQ_ERR_SHAPE, 5, &t, -1);
    EXPECT_AXIS(TQ_ERR_SHAPE, 4, &t, 3);
    EXPECT_AXIS(TQ_ERR_SHAPE, 6, &t, 3);
    EXPECT_AXIS(TQ_ERR_SHAPE, 3, &t, 0);
    EXPECT_AXIS(TQ_ERR_SHAPE, -5, &t, 3);
    b = t;
    b.ndim = 0;
    EXPECT_AXIS(TQ_ERR_SHAPE, 5, &b, 0);
    b.ndim = 5;
    EXPECT_AXIS(TQ_ERR_SHAPE, 5, &b, 3);
    b = t;
    b.shape[1] = -3;
    EXPECT_AXIS(TQ_ERR_SHAPE, 5, &b, 3);
    b = t;
    b.shape[0] = INT64_C(1) << 62;
    b.shape[1] = 8;
    EXPECT_AXIS(TQ_ERR_OVERFLOW, 5, &b, 3);

    /* NaN or inf anywhere: nothing updated. */
    for (int pos = 0; pos < 120; pos += 17) {
        x[pos] = pos % 2 ? NAN : -INFINITY;
        for (int32_t ax = 0; ax < 4; ++ax) {
            const int64_t ch = shape[ax];
            assert_int_equal(tq_stats_update_axis_f32(st, ch, &t, ax),
                             TQ_ERR_NOT_FINITE);
            assert_memory_equal(st, snap, sizeof st);
        }
        x[pos] = (float)pos;
    }

    /* A corrupt accumulator in the last channel: nothing updated. */
    st[4].m2 = -2.0;
    memcpy(snap, st, sizeof st);
    EXPECT_AXIS(TQ_ERR_PARAM, 5, &t, 3);
    tq_stats_init(&st[4]);
    memcpy(snap, st, sizeof st);

    /* A channel count overflow in one channel: nothing updated. */
    st[2].count = UINT64_MAX - 10;
    memcpy(snap, st, sizeof st);
    EXPECT_AXIS(TQ_ERR_OVERFLOW, 5, &t, 3);
    st[2] = st[1];
    memcpy(snap, st, sizeof st);

    /* Empty along another axis: a legal no-op. */
    b = t;
    b.shape[0] = 0;
    b.data = NULL;
    EXPECT_AXIS(TQ_OK, 5, &b, 3);
#undef EXPECT_AXIS
}

/* ------------------------------------------------------------------ */
/* histogram                                                           */
/* ------------------------------------------------------------------ */

/* The documented binning, by linear scan: bin i holds [lo + i*w,
 * lo + (i+1)*w), the last bin also holds hi; outside [lo, hi] go to the
 * below/above counters. Returns -1 below, nbins above. */
static int64_t naive_bin(double lo, double hi, uint32_t nbins, double v)
{
    if (v < lo)
        return -1;
    if (v > hi)
        return nbins;
    const double w = (hi - lo) / nbins;
    int64_t bin = 0;
    for (uint32_t i = 0; i < nbins; ++i) {
        if (lo + (double)i * w <= v)
            bin = i;
    }
    return bin;
}

static void check_hist_against_naive(const tq_histogram *h, const float *x,
                                     size_t n, const char *what)
{
    uint64_t *want = calloc(h->nbins, sizeof *want);
    assert_non_null(want);
    uint64_t below = 0, above = 0;
    for (size_t i = 0; i < n; ++i) {
        const int64_t b = naive_bin(h->lo, h->hi, h->nbins, x[i]);
        if (b < 0)
            ++below;
        else if (b >= h->nbins)
            ++above;
        else
            ++want[b];
    }
    int ok = below == h->below && above == h->above;
    for (uint32_t i = 0; i < h->nbins; ++i)
        ok &= want[i] == h->bins[i];
    if (!ok) {
        print_message("%s: lo %.17g hi %.17g nbins %u below %llu/%llu above "
                      "%llu/%llu\n",
                      what, h->lo, h->hi, h->nbins,
                      (unsigned long long)h->below, (unsigned long long)below,
                      (unsigned long long)h->above, (unsigned long long)above);
        for (uint32_t i = 0; i < h->nbins; ++i)
            if (want[i] != h->bins[i])
                print_message("  bin %u: %llu, want %llu\n", i,
                              (unsigned long long)h->bins[i],
                              (unsigned long long)want[i]);
        fail();
    }
    assert_int_equal(tq_histogram_total(h), n);
    free(want);
}

static void test_histogram_init(void **state)
{
    (void)state;
    uint64_t bins[8];
    tq_histogram h, snap;
    memset(bins, 0xA5, sizeof bins);
    memset(&h, 0xA5, sizeof h);
    assert_int_equal(tq_histogram_init(&h, bins, 8, -1.0, 3.0), TQ_OK);
    assert_ptr_equal(h.bins, bins);
    assert_int_equal(h.nbins, 8);
    assert_int_equal(h.reserved, 0);
    assert_true(h.lo == -1.0 && h.hi == 3.0);
    assert_int_equal(h.below, 0);
    assert_int_equal(h.above, 0);
    for (int i = 0; i < 8; ++i)
        assert_int_equal(bins[i], 0);
    assert_int_equal(tq_histogram_total(&h), 0);
    assert_int_equal(tq_histogram_total(NULL), 0);

    memset(bins, 0xA5, sizeof bins);
    memset(&h, 0xA5, sizeof h);
    snap = h;
    uint64_t bsnap[8];
    memcpy(bsnap, bins, sizeof bins);
#define EXPECT_INIT(status, ...)                                   \
    do {                                                           \
        assert_int_equal(tq_histogram_init(__VA_ARGS__), (status)); \
        assert_memory_equal(&h, &snap, sizeof h);                  \
        assert_memory_equal(bins, bsnap, sizeof bins);             \
    } while (0)
    assert_int_equal(tq_histogram_init(NULL, bins, 8, 0, 1), TQ_ERR_NULL);
    EXPECT_INIT(TQ_ERR_NULL, &h, NULL, 8, 0, 1);
    EXPECT_INIT(TQ_ERR_PARAM, &h, bins, 0, 0, 1);
    EXPECT_INIT(TQ_ERR_PARAM, &h, bins, 8, 1, 1);
    EXPECT_INIT(TQ_ERR_PARAM, &h, bins, 8, 2, 1);
    EXPECT_INIT(TQ_ERR_PARAM, &h, bins, 8, NAN, 1);
    EXPECT_INIT(TQ_ERR_PARAM, &h, bins, 8, 0, NAN);
    EXPECT_INIT(TQ_ERR_PARAM, &h, bins, 8, -INFINITY, 1);
    EXPECT_INIT(TQ_ERR_PARAM, &h, bins, 8, 0, INFINITY);
    EXPECT_INIT(TQ_ERR_PARAM, &h, bins, 8, -DBL_MAX, DBL_MAX);
#undef EXPECT_INIT
}

static void test_histogram_edges(void **state)
{
    (void)state;
    /* Edges exactly representable: -2, -1.5, ..., 2. */
    uint64_t bins[8];
    tq_histogram h;
    assert_int_equal(tq_histogram_init(&h, bins, 8, -2.0, 2.0), TQ_OK);
    float x[64];
    size_t n = 0;
    for (int k = 0; k <= 8; ++k) {
        const float e = -2.0f + 0.5f * (float)k;
        x[n++] = e;
        x[n++] = nextafterf(e, -INFINITY);
        x[n++] = nextafterf(e, INFINITY);
    }
    assert_int_equal(tq_histogram_add_f32(&h, x, n), TQ_OK);
    check_hist_against_naive(&h, x, n, "exact edges");
    /* By hand: bin 0 gets -2 and just above it, and just below -1.5 ... */
    assert_int_equal(h.below, 1);  /* just below -2 */
    assert_int_equal(h.above, 1);  /* just above 2 */
    assert_int_equal(bins[0], 3);  /* -2, -2+, -1.5- */
    for (int i = 1; i < 7; ++i)
        assert_int_equal(bins[i], 3); /* e, e+, next e- */
    assert_int_equal(bins[7], 4);  /* 1.5, 1.5+, 2-, 2 */

    /* A single bin holds all of [lo, hi]. */
    uint64_t one[1];
    assert_int_equal(tq_histogram_init(&h, one, 1, 0.0, 1.0), TQ_OK);
    const float y[5] = {0.0f, 0.5f, 1.0f, -0.1f, 1.1f};
    assert_int_equal(tq_histogram_add_f32(&h, y, 5), TQ_OK);
    assert_int_equal(one[0], 3);
    assert_int_equal(h.below, 1);
    assert_int_equal(h.above, 1);
}

/* Quotients that round up to nbins, tiny widths, huge ranges. */
static void test_histogram_rounding(void **state)
{
    (void)state;
    uint64_t *bins = malloc(4096 * sizeof *bins);
    assert_non_null(bins);
    tq_histogram h;
    tt_rng rng = {8};
    for (uint32_t nb = 1; nb <= 400; ++nb) {
        const double lo = nb % 2 ? 0.1 : -7.3, hi = nb % 3 ? 0.7 : 1e6 + 1.0;
        assert_int_equal(tq_histogram_init(&h, bins, nb, lo, hi), TQ_OK);
        float x[8] = {(float)hi,
                      nextafterf((float)hi, -INFINITY),
                      nextafterf(nextafterf((float)hi, -INFINITY), -INFINITY),
                      (float)lo,
                      nextafterf((float)lo, INFINITY),
                      nextafterf((float)lo, -INFINITY),
                      tt_float(&rng, (float)lo, (float)hi),
                      (float)(lo + (hi - lo) / nb * tt_int(&rng, 0, (int)nb))};
        assert_int_equal(tq_histogram_add_f32(&h, x, 8), TQ_OK);
        char what[64];
        snprintf(what, sizeof what, "rounding nbins %u", nb);
        check_hist_against_naive(&h, x, 8, what);
    }
    /* Width far below the float spacing of the data: most bins empty. */
    assert_int_equal(tq_histogram_init(&h, bins, 4096, 1e6, 1e6 + 1), TQ_OK);
    float z[300];
    for (int i = 0; i < 300; ++i)
        z[i] = tt_float(&rng, 999999.0f, 1000002.0f);
    assert_int_equal(tq_histogram_add_f32(&h, z, 300), TQ_OK);
    check_hist_against_naive(&h, z, 300, "tiny width");
    /* Range near the float limits. */
    assert_int_equal(tq_histogram_init(&h, bins, 1000, -3e38, 3e38), TQ_OK);
    const float big[4] = {FLT_MAX, -FLT_MAX, 3e38f, -3e38f};
    assert_int_equal(tq_histogram_add_f32(&h, big, 4), TQ_OK);
    check_hist_against_naive(&h, big, 4, "float limits");
    free(bins);
}

static void test_histogram_random(void **state)
{
    (void)state;
    const uint64_t seed = 9001;
    tt_rng rng = {seed};
    uint64_t *bins = malloc(300 * sizeof *bins);
    assert_non_null(bins);
    const size_t n = 3000;
    float *x = alloc_floats(n);
    for (int it = 0; it < 100; ++it) {
        const double scale = pow(10.0, tt_int(&rng, -6, 6));
        double lo = (double)tt_float(&rng, -1.0f, 1.0f) * scale;
        double hi = lo + (double)tt_float(&rng, 0.01f, 2.0f) * scale;
        if (it % 4 == 0) { /* float-valued edges */
            lo = (float)lo;
            hi = (float)hi;
        }
        const uint32_t nb = (uint32_t)tt_int(&rng, 1, 300);
        tq_histogram h;
        assert_int_equal(tq_histogram_init(&h, bins, nb, lo, hi), TQ_OK);
        const double w = (hi - lo) / nb;
        for (size_t i = 0; i < n; ++i) {
            const int kind = tt_int(&rng, 0, 9);
            if (kind < 6) /* inside and a margin outside */
                x[i] = (float)(lo - 0.2 * (hi - lo) +
                               1.4 * (hi - lo) * tt_unit(&rng));
            else if (kind < 8) /* on an edge, as near as float gets */
                x[i] = (float)(lo + w * tt_int(&rng, 0, (int32_t)nb));
            else if (kind == 8)
                x[i] = nextafterf((float)(lo + w * tt_int(&rng, 0, (int32_t)nb)),
                                  tt_int(&rng, 0, 1) ? INFINITY : -INFINITY);
            else
                x[i] = tt_int(&rng, 0, 1) ? (float)lo : (float)hi;
        }
        /* In two calls, to check accumulation. */
        assert_int_equal(tq_histogram_add_f32(&h, x, n / 2), TQ_OK);
        assert_int_equal(tq_histogram_add_f32(&h, x + n / 2, n - n / 2), TQ_OK);
        char what[64];
        snprintf(what, sizeof what, "seed %llu it %d", (unsigned long long)seed,
                 it);
        check_hist_against_naive(&h, x, n, what);
    }
    free(x);
    free(bins);
}

static void test_histogram_add_errors(void **state)
{
    (void)state;
    uint64_t bins[16];
    tq_histogram h;
    assert_int_equal(tq_histogram_init(&h, bins, 16, -1.0, 1.0), TQ_OK);
    float x[100];
    tt_rng rng = {10};
    tt_fill_f32(&rng, x, 100, -2.0f, 2.0f);
    assert_int_equal(tq_histogram_add_f32(&h, x, 100), TQ_OK);
    tq_histogram snap = h;
    uint64_t bsnap[16];
    memcpy(bsnap, bins, sizeof bins);
#define EXPECT_UNCHANGED()                                  \
    do {                                                    \
        assert_memory_equal(&h, &snap, sizeof h);           \
        assert_memory_equal(bins, bsnap, sizeof bins);      \
    } while (0)
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int b = 0; b < 3; ++b)
        for (int pos = 0; pos < 100; pos += 33) {
            const float keep = x[pos];
            x[pos] = bad[b];
            assert_int_equal(tq_histogram_add_f32(&h, x, 100),
                             TQ_ERR_NOT_FINITE);
            EXPECT_UNCHANGED();
            x[pos] = keep;
        }
    x[99] = NAN;
    assert_int_equal(tq_histogram_add_f32(&h, x, 100), TQ_ERR_NOT_FINITE);
    EXPECT_UNCHANGED();
    assert_int_equal(tq_histogram_add_f32(NULL, x, 100), TQ_ERR_NULL);
    assert_int_equal(tq_histogram_add_f32(&h, NULL, 100), TQ_ERR_NULL);
    assert_int_equal(tq_histogram_add_f32(&h, NULL, 0), TQ_OK);
    EXPECT_UNCHANGED();
    /* A descriptor damaged after init. */
    tq_histogram d = h;
    d.bins = NULL;
    assert_int_equal(tq_histogram_add_f32(&d, x, 10), TQ_ERR_NULL);
    d = h;
    d.nbins = 0;
    assert_int_equal(tq_histogram_add_f32(&d, x, 10), TQ_ERR_PARAM);
    d = h;
    d.hi = d.lo;
    assert_int_equal(tq_histogram_add_f32(&d, x, 10), TQ_ERR_PARAM);
    d = h;
    d.above = UINT64_MAX - 5;
    assert_int_equal(tq_histogram_add_f32(&d, x, 10), TQ_ERR_OVERFLOW);
    EXPECT_UNCHANGED();
#undef EXPECT_UNCHANGED
}

static void test_histogram_percentile_exact(void **state)
{
    (void)state;
    uint64_t bins[10];
    tq_histogram h;
    assert_int_equal(tq_histogram_init(&h, bins, 10, 0.0, 10.0), TQ_OK);
    float x[10];
    for (int i = 0; i < 10; ++i)
        x[i] = (float)i + 0.5f; /* one per bin */
    assert_int_equal(tq_histogram_add_f32(&h, x, 10), TQ_OK);
    double v;
    /* rank p/100 * 10 spread evenly: the p-th percentile is p / 10. */
    for (int p = 0; p <= 100; p += 5) {
        assert_int_equal(tq_histogram_percentile(&h, p, &v), TQ_OK);
        assert_true(fabs(v - p / 10.0) < 1e-12);
    }
    /* One below, one above: they sit at lo and hi. */
    const float out[2] = {-5.0f, 20.0f};
    assert_int_equal(tq_histogram_add_f32(&h, out, 2), TQ_OK);
    assert_int_equal(tq_histogram_percentile(&h, 0.0, &v), TQ_OK);
    assert_true(v == 0.0);
    assert_int_equal(tq_histogram_percentile(&h, 100.0, &v), TQ_OK);
    assert_true(v == 10.0);
    assert_int_equal(tq_histogram_percentile(&h, 50.0, &v), TQ_OK);
    assert_true(fabs(v - 5.0) < 1e-12); /* rank 6: end of bin 4 */

    /* Empty bins are skipped: all data in bins 2 and 7. */
    assert_int_equal(tq_histogram_init(&h, bins, 10, 0.0, 10.0), TQ_OK);
    const float two[4] = {2.5f, 2.5f, 7.5f, 7.5f};
    assert_int_equal(tq_histogram_add_f32(&h, two, 4), TQ_OK);
    assert_int_equal(tq_histogram_percentile(&h, 0.0, &v), TQ_OK);
    assert_true(v == 2.0);
    assert_int_equal(tq_histogram_percentile(&h, 25.0, &v), TQ_OK);
    assert_true(fabs(v - 2.5) < 1e-12);
    assert_int_equal(tq_histogram_percentile(&h, 75.0, &v), TQ_OK);
    assert_true(fabs(v - 7.5) < 1e-12);
    assert_int_equal(tq_histogram_percentile(&h, 100.0, &v), TQ_OK);
    assert_true(v == 8.0);

    /* Only out-of-range data. */
    assert_int_equal(tq_histogram_init(&h, bins, 10, 0.0, 10.0), TQ_OK);
    const float far[1] = {50.0f};
    assert_int_equal(tq_histogram_add_f32(&h, far, 1), TQ_OK);
    assert_int_equal(tq_histogram_percentile(&h, 0.0, &v), TQ_OK);
    assert_true(v == 10.0);
}

/* numpy's default ("linear") percentile of sorted data. */
static double sorted_percentile(const float *s, size_t n, double p)
{
    const double pos = p / 100.0 * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    if (i >= n - 1)
        return s[n - 1];
    return s[i] + (pos - (double)i) * ((double)s[i + 1] - s[i]);
}

static void test_histogram_percentile_vs_sorted(void **state)
{
    (void)state;
    const uint64_t seed = 123;
    tt_rng rng = {seed};
    const size_t n = 100000;
    float *x = alloc_floats(n), *sorted = alloc_floats(n);
    uint64_t bins[256];
    static const double ps[] = {0,  0.1, 1,  2.5, 5,    10,   25,  50,
                                75, 90,  95, 99,  99.9, 99.99, 100};
    for (int d = 0; d < 4; ++d) {
        for (size_t i = 0; i < n; ++i)
            x[i] = d == 0   ? tt_float(&rng, -3.0f, 5.0f)
                   : d == 1 ? (float)(2.0 + 0.3 * tt_normal(&rng))
                   : d == 2 ? (float)exp(tt_normal(&rng))
                            : (float)tt_normal(&rng);
        memcpy(sorted, x, n * sizeof *x);
        qsort(sorted, n, sizeof *sorted, tt_cmp_float);
        /* d < 3: range = [min, max]. d == 3: a clipped range, so some data
         * lies below and above and counts as lo and hi. */
        const double lo = d < 3 ? sorted[0] : -1.5;
        const double hi = d < 3 ? sorted[n - 1] : 2.0;
        if (d == 3)
            for (size_t i = 0; i < n; ++i)
                sorted[i] = sorted[i] < lo ? (float)lo
                                           : (sorted[i] > hi ? (float)hi
                                                             : sorted[i]);
        tq_histogram h;
        assert_int_equal(tq_histogram_init(&h, bins, 256, lo, hi), TQ_OK);
        assert_int_equal(tq_histogram_add_f32(&h, x, n), TQ_OK);
        const double w = (hi - lo) / 256;
        double prev = -INFINITY;
        for (size_t i = 0; i < sizeof ps / sizeof ps[0]; ++i) {
            double v;
            assert_int_equal(tq_histogram_percentile(&h, ps[i], &v), TQ_OK);
            const double want = sorted_percentile(sorted, n, ps[i]);
            if (!(fabs(v - want) <= w) || v < prev || v < lo || v > hi) {
                print_message("seed %llu dist %d p %g: %.9g want %.9g (bin "
                              "width %.3g)\n",
                              (unsigned long long)seed, d, ps[i], v, want, w);
                fail();
            }
            prev = v;
        }
    }
    free(x);
    free(sorted);
}

static void test_histogram_percentile_errors(void **state)
{
    (void)state;
    uint64_t bins[4];
    tq_histogram h;
    assert_int_equal(tq_histogram_init(&h, bins, 4, 0.0, 1.0), TQ_OK);
    double v = 55.0;
    assert_int_equal(tq_histogram_percentile(&h, 50.0, &v), TQ_ERR_EMPTY);
    const float x[3] = {0.1f, 0.2f, 0.9f};
    assert_int_equal(tq_histogram_add_f32(&h, x, 3), TQ_OK);
    assert_int_equal(tq_histogram_percentile(&h, -1e-9, &v), TQ_ERR_PARAM);
    assert_int_equal(tq_histogram_percentile(&h, 100.000001, &v),
                     TQ_ERR_PARAM);
    assert_int_equal(tq_histogram_percentile(&h, NAN, &v), TQ_ERR_PARAM);
    assert_int_equal(tq_histogram_percentile(&h, INFINITY, &v), TQ_ERR_PARAM);
    assert_int_equal(tq_histogram_percentile(&h, -INFINITY, &v), TQ_ERR_PARAM);
    assert_int_equal(tq_histogram_percentile(NULL, 50.0, &v), TQ_ERR_NULL);
    assert_int_equal(tq_histogram_percentile(&h, 50.0, NULL), TQ_ERR_NULL);
    tq_histogram d = h;
    d.lo = NAN;
    assert_int_equal(tq_histogram_percentile(&d, 50.0, &v), TQ_ERR_PARAM);
    d = h;
    d.bins = NULL;
    assert_int_equal(tq_histogram_percentile(&d, 50.0, &v), TQ_ERR_NULL);
    assert_true(v == 55.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_init),
        cmocka_unit_test(test_stats_f32_distributions),
        cmocka_unit_test(test_stats_ten_million),
        cmocka_unit_test(test_stats_chunked_updates),
        cmocka_unit_test(test_stats_merge),
        cmocka_unit_test(test_stats_merge_edge_cases),
        cmocka_unit_test(test_stats_s8),
        cmocka_unit_test(test_stats_sigma_kinds),
        cmocka_unit_test(test_stats_ksigma),
        cmocka_unit_test(test_stats_not_finite),
        cmocka_unit_test(test_stats_errors),
        cmocka_unit_test(test_stats_axis_random),
        cmocka_unit_test(test_stats_axis_large),
        cmocka_unit_test(test_stats_axis_errors),
        cmocka_unit_test(test_histogram_init),
        cmocka_unit_test(test_histogram_edges),
        cmocka_unit_test(test_histogram_rounding),
        cmocka_unit_test(test_histogram_random),
        cmocka_unit_test(test_histogram_add_errors),
        cmocka_unit_test(test_histogram_percentile_exact),
        cmocka_unit_test(test_histogram_percentile_vs_sorted),
        cmocka_unit_test(test_histogram_percentile_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
