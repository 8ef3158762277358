/*
 * Per-node profiling of the graph runners, for benchmark programs only
 * (bench/graph_s8_bench.c links the static library): nothing here is
 * exported from the shared library, and nothing in the library times
 * anything. The hooked runners are tq_graph_run_f32() and
 * tq_graph_run_s8() (same arguments, checks and results) that call
 * @p hook(ctx, -1) once the input is in the arena, then hook(ctx, i) right
 * after node i (execution order) has run, so that a caller reading a clock
 * in the hook gets each node's time. A NULL hook is the plain run.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_GRAPH_PROFILE_H
#define TQ_GRAPH_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "tinyq.h"

typedef void (*tq__graph_node_hook)(void *ctx, int32_t node);

tq_status tq__graph_run_f32_hooked(const tq_graph *graph, int64_t batch,
                                   const float *input, float *output,
                                   void *arena, size_t arena_bytes,
                                   tq__graph_node_hook hook, void *ctx);

tq_status tq__graph_run_s8_hooked(const tq_graph *graph, int64_t batch,
                                  const int8_t *input, int8_t *output,
                                  int32_t *accumulators, void *arena,
                                  size_t arena_bytes, tq__graph_node_hook hook,
                                  void *ctx);

/* The op's name as the graph's messages print it ("conv2d", ...). */
const char *tq__op_name(int32_t op);

#endif /* TQ_GRAPH_PROFILE_H */
