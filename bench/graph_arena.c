/*
 * Arena report (issue 11 item 3): for each ONNX model given, quantized
 * with the default tq_quant_config (calibrated on 16 random inputs: the
 * plan does not depend on the values), print the planned activation arena
 * (in-place Add / lookups included), the lower bound of that plan (most
 * bytes alive at one step), the sum of all activation buffers, the kernel
 * scratch and tq_graph_arena_size(). Reads the graph's internal plan
 * fields (a measurement program, not an API user).
 *
 * Usage: [GRAPH_ARENA_OUT=dir] [GRAPH_ARENA_WEIGHTS=s4] graph_arena
 *        MODEL.onnx|resnet8 ...
 * "resnet8" is the benchmarks' ResNet-8 (resnet8.h), built in; with
 * GRAPH_ARENA_WEIGHTS=s4 every conv, depthwise and fully connected node
 * gets int4 weights (tq_calibrator_set_default_dtypes).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, via bench_util.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyq.h"
#include "../lib/graph/graph_internal.h"
#include "resnet8.h"

int main(int argc, char **argv)
{
    printf("%-36s %10s %10s %10s %10s %10s\n", "model", "planned", "lower",
           "sum", "scratch", "arena_size");
    for (int a = 1; a < argc; ++a) {
        char msg[512];
        tq_graph *g = NULL, *q = NULL;
        if (strcmp(argv[a], "resnet8") == 0) {
            uint64_t seed = 1;
            g = bench_resnet8_build("graph_arena", &seed, 1, TQ_REWRITE_ALL);
        } else if (tq_graph_load_onnx(argv[a], &g, msg, sizeof msg) !=
                   TQ_OK) {
            fprintf(stderr, "%s: %s\n", argv[a], msg);
            return 1;
        }
        const size_t n = g->tensors[g->input].numel;
        float *x = malloc(16 * n * sizeof *x);
        srand(1);
        for (size_t i = 0; i < 16 * n; ++i)
            x[i] = (float)rand() / (float)RAND_MAX;
        tq_quant_config cfg;
        tq_quant_config_init(&cfg);
        tq_calibrator *c = NULL;
        int32_t again = 1;
        if (tq_calibrator_create(g, &cfg, &c) != TQ_OK)
            return 1;
        const char *wt = getenv("GRAPH_ARENA_WEIGHTS");
        if (wt && strcmp(wt, "s4") == 0 &&
            tq_calibrator_set_default_dtypes(c, TQ_S8, TQ_S4) != TQ_OK)
            return 1;
        while (again)
            if (tq_calibrator_feed(c, 16, x) != TQ_OK ||
                tq_calibrator_end_pass(c, &again) != TQ_OK)
                return 1;
        if (tq_graph_quantize(g, c, &q) != TQ_OK) {
            fprintf(stderr, "%s: %s\n", argv[a], tq_graph_error(g));
            return 1;
        }
        size_t sum = 0, scratch = 0, arena = 0;
        for (int32_t t = 0; t < q->n_tensors; ++t) {
            const tq__tensor *u = &q->tensors[t];
            if (u->kind != TQ__TENSOR_CONSTANT && u->alias < 0 &&
                (u->producer >= 0 || t == q->input))
                sum += (u->numel + 15) / 16 * 16;
        }
        tq__graph_scratch_bytes(q, 1, &scratch);
        tq_graph_arena_size(q, 1, &arena);
        printf("%-36s %10zu %10zu %10zu %10zu %10zu\n", argv[a], q->act_bytes,
               q->act_lower_bound, sum, scratch, arena);
        /* With GRAPH_ARENA_VERBOSE set: where the bytes go, node by node
         * (step, op, output bytes and offset, kernel scratch). */
        if (getenv("GRAPH_ARENA_VERBOSE")) {
            for (int32_t i = 0; i < q->n_nodes; ++i) {
                const tq__node *nd = &q->nodes[i];
                const tq__tensor *o = &q->tensors[nd->output];
                size_t s = 0;
                q->q_scratch(q, i, 1, &s);
                printf("  %3d %-28.28s %-10s out %6zu @ %6zu scratch %6zu\n",
                       (int)i + 1, nd->name, tq__op_name(nd->op), o->numel,
                       o->offset, s);
            }
        }
        /* With GRAPH_ARENA_OUT=<dir>: the model file and its C export there
         * (<dir>/<i>.safetensors, <dir>/m<i>.c / .h). */
        const char *out = getenv("GRAPH_ARENA_OUT");
        if (out) {
            char path[4096], prefix[16];
            snprintf(path, sizeof path, "%s/%d.safetensors", out, a);
            snprintf(prefix, sizeof prefix, "m%d", a);
            if (tq_graph_save(q, path) != TQ_OK)
                printf("  save: %s\n", tq_graph_error(q));
            else if (tq_graph_export_c(q, prefix, out, msg, sizeof msg) != TQ_OK)
                printf("  export: %s\n", msg);
            else
                printf("  saved %s, exported %s/%s.c (host check passed)\n",
                       path, out, prefix);
        }
        free(x);
        tq_calibrator_free(c);
        tq_graph_free(q);
        tq_graph_free(g);
    }
    return 0;
}
