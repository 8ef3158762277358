/*
 * libFuzzer harness of the ONNX importer (tq_graph_load_onnx_memory).
 * Beyond "no crash, no leak, no undefined behaviour" it checks meaning:
 *  - a refused input gives TQ_ERR_FORMAT, TQ_ERR_UNSUPPORTED or
 *    TQ_ERR_NO_MEMORY, a non-empty NUL-terminated message, and leaves
 *    *graph alone;
 *  - an accepted graph is finalized and runs: tq_graph_run_f32 on one
 *    sample of zeros (when its arena is at most 8 MiB) succeeds, since the
 *    builder promises that a finalized graph never meets a bad shape (or
 *    reports TQ_ERR_NOT_FINITE when the file's weights hold NaN / inf).
 * Seeds: fuzz/corpus/onnx (the models of tests/onnx/data); dictionary:
 * fuzz/dict/onnx.dict.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyq.h"

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: meaning check failed: %s\n",          \
                    __FILE__, __LINE__, #cond);                           \
            abort();                                                      \
        }                                                                 \
    } while (0)

static char sentinel;

static void run_once(const tq_graph *g)
{
    int32_t in, out;
    tq_graph_tensor_info ti, to;
    size_t n_in = 1, n_out = 1, arena_bytes;
    float *x, *y;
    void *arena;
    CHECK(tq_graph_io(g, &in, &out) == TQ_OK);
    CHECK(tq_graph_tensor(g, in, &ti) == TQ_OK);
    CHECK(tq_graph_tensor(g, out, &to) == TQ_OK);
    for (int32_t k = 0; k < ti.ndim; k++)
        n_in *= (size_t)ti.shape[k];
    for (int32_t k = 0; k < to.ndim; k++)
        n_out *= (size_t)to.shape[k];
    if (tq_graph_arena_size(g, 1, &arena_bytes) != TQ_OK ||
        arena_bytes > ((size_t)8 << 20) || n_in > ((size_t)1 << 20) ||
        n_out > ((size_t)1 << 20))
        return;
    x = calloc(n_in, sizeof(float));
    y = malloc(n_out * sizeof(float));
    arena = malloc(arena_bytes + 1);
    CHECK(x != NULL && y != NULL && arena != NULL);
    tq_status st = tq_graph_run_f32(g, 1, x, y, arena, arena_bytes);
    /* NaN or infinite weights (the importer copies them as they are) make
     * the kernels refuse the data: the only refusal allowed here. */
    if (st != TQ_OK && st != TQ_ERR_NOT_FINITE)
        fprintf(stderr, "run: %s\n", tq_graph_error(g));
    CHECK(st == TQ_OK || st == TQ_ERR_NOT_FINITE);
    free(x);
    free(y);
    free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[256];
    tq_graph *g = (tq_graph *)&sentinel;
    memset(msg, 'x', sizeof msg);
    tq_status st = tq_graph_load_onnx_memory(size ? data : NULL, size, &g,
                                             msg, sizeof msg);
    CHECK(memchr(msg, '\0', sizeof msg) != NULL);
    if (st == TQ_OK) {
        CHECK(g != (tq_graph *)&sentinel && g != NULL);
        CHECK(msg[0] == '\0');
        CHECK(tq_graph_node_count(g) >= 0);
        run_once(g);
        tq_graph_free(g);
    } else {
        CHECK(g == (tq_graph *)&sentinel);
        CHECK(st == TQ_ERR_FORMAT || st == TQ_ERR_UNSUPPORTED ||
              st == TQ_ERR_NO_MEMORY);
        CHECK(msg[0] != '\0');
    }
    return 0;
}
