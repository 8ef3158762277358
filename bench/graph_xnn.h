/*
 * XNNPACK rows of graph_s8_bench --models (issue 13 item 4): a tinyq graph
 * rebuilt as an XNNPACK subgraph, f32 from the float graph and qs8 from
 * the quantized one (same weights, same scales and zero points), timed and
 * checked against tinyq in the same run. Without XNNPACK (the optional
 * Debian libxnnpack-dev) the entry point only says so.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_BENCH_GRAPH_XNN_H
#define TQ_BENCH_GRAPH_XNN_H

#include <tinyq.h>

#include "bench_util.h"

/* A whole-model timer: seconds of one call of fn(ctx). */
typedef double (*graph_xnn_timer)(bench_fn fn, void *ctx);

/* XNNPACK f32 and qs8 of model @p name: @p g is the float graph, @p q the
 * graph tq_graph_quantize() made from it. Times one thread at batch 1 and
 * 64 with @p timer, prints them with their ratios against tinyq's times
 * of this run (@p tq_f32 and @p tq_s8, us per image at batch 1 and 64),
 * then the top-1 agreement with tinyq and the accuracy of all four on the
 * CIFAR-10 test images ($TINYQ_DATA_DIR/cifar10/test_batch.bin, or the
 * @p n_fallback images at @p fallback when absent). Returns 0, or 1 when
 * XNNPACK cannot build or run the model (the reason is printed). */
int graph_xnn_model(const char *name, const tq_graph *g, const tq_graph *q,
                    const double tq_f32[2], const double tq_s8[2],
                    graph_xnn_timer timer, const float *fallback,
                    int n_fallback);

#endif
