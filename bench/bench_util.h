/*
 * Timing and allocation helpers shared by the benchmark programs.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_BENCH_UTIL_H
#define TQ_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef void (*bench_fn)(void *ctx);

static inline double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Set (by a program's --min option) to report, instead of the median of
 * five 50 ms samples, the fastest of many short batches of calls (each
 * batch at least 20 us, 250 ms in all): on a machine shared with other
 * jobs, the fastest batch is the one least disturbed by them. */
static int bench_report_min = 0;

static inline double time_call_min(bench_fn fn, void *ctx)
{
    fn(ctx); /* warm caches and page in buffers */
    double t0 = now_seconds();
    fn(ctx);
    const double one = now_seconds() - t0;
    const long reps = one >= 20e-6 ? 1 : (long)(20e-6 / (one > 1e-9 ? one : 1e-9)) + 1;
    double best = one;
    const double start = now_seconds();
    do {
        t0 = now_seconds();
        for (long r = 0; r < reps; ++r)
            fn(ctx);
        const double t = (now_seconds() - t0) / (double)reps;
        best = t < best ? t : best;
    } while (now_seconds() - start < 0.25);
    return best;
}

/* Median over 5 samples of the time of one call (the minimum with
 * bench_report_min); each sample repeats the call until it has run for at
 * least 50 ms, so short kernels are timed above the clock's resolution. */
static inline double time_call(bench_fn fn, void *ctx)
{
    if (bench_report_min)
        return time_call_min(fn, ctx);
    double samples[5];
    fn(ctx); /* warm caches and page in buffers */
    for (int s = 0; s < 5; ++s) {
        long reps = 0;
        const double t0 = now_seconds();
        double t1;
        do {
            fn(ctx);
            ++reps;
            t1 = now_seconds();
        } while (t1 - t0 < 0.05);
        samples[s] = (t1 - t0) / (double)reps;
    }
    qsort(samples, 5, sizeof samples[0], cmp_double);
    return samples[2];
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

#endif /* TQ_BENCH_UTIL_H */
