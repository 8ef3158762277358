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

/* Set (by a program's --min option) to report the fastest of the 5
 * samples instead of their median: on a machine shared with other jobs
 * the fastest sample is the one least disturbed. */
static int bench_report_min = 0;

/* Median over 5 samples of the time of one call (the minimum with
 * bench_report_min); each sample repeats the call until it has run for at
 * least 50 ms, so short kernels are timed above the clock's resolution. */
static inline double time_call(bench_fn fn, void *ctx)
{
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
    return bench_report_min ? samples[0] : samples[2];
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
