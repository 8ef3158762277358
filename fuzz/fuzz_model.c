/*
 * libFuzzer harness of the model file loader (tq_graph_load_memory).
 * Beyond "no crash, no leak, no undefined behaviour" it checks meaning:
 *  - a refused input gives TQ_ERR_FORMAT (or TQ_ERR_NO_MEMORY), a message,
 *    and leaves the output alone;
 *  - an accepted graph is quantized and runs: tq_graph_run_s8 on two
 *    inputs (all zero points, a byte pattern) succeeds, with the output
 *    layer's accumulators when it is a conv or FC, since the loader
 *    validated everything a kernel would refuse;
 *  - what the loader accepts the writer reproduces: saving it and loading
 *    that gives a graph with the same outputs, and saving again gives the
 *    very same bytes.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyq.h"
#include "fuzz_check.h"

/* Largest arena the harness runs a graph in. */
enum { MAX_ARENA = 64 << 20 };

static char path_a[4200], path_b[4200];

static void remove_paths(void)
{
    remove(path_a);
    remove(path_b);
}

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f);
    FUZZ_CHECK(fseek(f, 0, SEEK_END) == 0);
    const long n = ftell(f);
    FUZZ_CHECK(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
    unsigned char *p = malloc((size_t)n + 1);
    FUZZ_CHECK(p && fread(p, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return p;
}

static size_t numel(const tq_graph *g, int32_t t)
{
    tq_graph_tensor_info info;
    FUZZ_CHECK(tq_graph_tensor(g, t, &info) == TQ_OK);
    size_t n = 1;
    for (int32_t d = 0; d < info.ndim; ++d)
        n *= (size_t)info.shape[d];
    return n;
}

/* Run @p g on one sample of @p fill into @p out (NULL: too large to run);
 * returns 0 when skipped. */
static int run(const tq_graph *g, int fill, int8_t **out, size_t *n_out)
{
    int32_t in, o;
    FUZZ_CHECK(tq_graph_io(g, &in, &o) == TQ_OK);
    size_t bytes;
    if (tq_graph_arena_size(g, 1, &bytes) != TQ_OK || bytes > MAX_ARENA)
        return 0;
    const size_t ni = numel(g, in), no = numel(g, o);
    int8_t *x = malloc(ni), *y = malloc(no);
    int32_t *acc = malloc(no * sizeof *acc);
    void *arena = malloc(bytes ? bytes : 1);
    FUZZ_CHECK(x && y && acc && arena);
    for (size_t i = 0; i < ni; ++i)
        x[i] = (int8_t)(fill ? (int)(i * 37u % 256u) - 128 : 0);
    tq_status s = tq_graph_run_s8(g, 1, x, y, acc, arena, bytes);
    if (s == TQ_ERR_UNSUPPORTED) /* no conv / FC output: no accumulators */
        s = tq_graph_run_s8(g, 1, x, y, NULL, arena, bytes);
    if (s != TQ_OK)
        fprintf(stderr, "run_s8: %s\n", tq_graph_error(g));
    FUZZ_CHECK(s == TQ_OK);
    free(x);
    free(acc);
    free(arena);
    *out = y;
    *n_out = no;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path_a[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path_a, sizeof path_a, "%s/tinyq-fuzz-model-%d-a", dir,
                 (int)getpid());
        snprintf(path_b, sizeof path_b, "%s/tinyq-fuzz-model-%d-b", dir,
                 (int)getpid());
        atexit(remove_paths);
    }
    static const uint8_t empty[1];
    char msg[512];
    msg[0] = '\0';
    tq_graph *sentinel = (tq_graph *)(uintptr_t)&msg;
    tq_graph *g = sentinel;
    const tq_status s = tq_graph_load_memory(size ? data : empty, size, &g,
                                             msg, sizeof msg);
    if (s != TQ_OK) {
        FUZZ_CHECK(s == TQ_ERR_FORMAT || s == TQ_ERR_NO_MEMORY);
        FUZZ_CHECK(g == sentinel);
        FUZZ_CHECK(msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(g != sentinel && tq_graph_is_quantized(g) == 1);
    int8_t *y0 = NULL, *y1 = NULL;
    size_t n0 = 0, n1 = 0;
    const int ran = run(g, 0, &y0, &n0) && run(g, 1, &y1, &n1);

    /* Save, load, save: the same bytes and the same outputs. */
    FUZZ_CHECK(tq_graph_save(g, path_a) == TQ_OK);
    tq_graph *h = NULL;
    if (tq_graph_load(path_a, &h, msg, sizeof msg) != TQ_OK)
        fprintf(stderr, "reload: %s\n", msg);
    FUZZ_CHECK(h);
    FUZZ_CHECK(tq_graph_save(h, path_b) == TQ_OK);
    size_t na, nb;
    unsigned char *fa = slurp(path_a, &na), *fb = slurp(path_b, &nb);
    FUZZ_CHECK(na == nb && memcmp(fa, fb, na) == 0);
    free(fa);
    free(fb);
    if (ran) {
        int8_t *z0 = NULL, *z1 = NULL;
        size_t m0 = 0, m1 = 0;
        FUZZ_CHECK(run(h, 0, &z0, &m0) && run(h, 1, &z1, &m1));
        FUZZ_CHECK(m0 == n0 && memcmp(z0, y0, n0) == 0);
        FUZZ_CHECK(m1 == n1 && memcmp(z1, y1, n1) == 0);
        free(z0);
        free(z1);
    }
    free(y0);
    free(y1);
    tq_graph_free(h);
    tq_graph_free(g);
    return 0;
}
