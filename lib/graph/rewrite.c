/*
 * The rewrites of tq_graph_finalize() (host only), then dead-node removal
 * and the execution order.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* Mark the nodes the output needs (live[i]); nodes whose output nobody
 * needs are dead. */
static void mark_live(const tq_graph *g, uint8_t *live)
{
    memset(live, 0, (size_t)g->n_nodes);
    const int32_t p = g->tensors[g->output].producer;
    if (p >= 0)
        live[p] = 1;
    /* Producers come before consumers in the node array (the builder only
     * takes defined inputs), so one backward sweep marks everything. */
    for (int32_t i = g->n_nodes - 1; i >= 0; --i) {
        if (!live[i])
            continue;
        const tq__node *n = &g->nodes[i];
        for (int32_t j = 0; j < n->n_inputs; ++j) {
            const int32_t q = g->tensors[n->inputs[j]].producer;
            if (q >= 0)
                live[q] = 1;
        }
    }
}

/* Keep the live nodes, in a topological order (the lowest-index ready node
 * first, so a built graph keeps its order), and renumber the producers. */
static tq_status compact_and_order(tq_graph *g)
{
    const int32_t n = g->n_nodes;
    uint8_t *live = malloc((size_t)n + 1);
    uint8_t *done = calloc((size_t)n + 1, 1);
    tq__node *nodes = malloc(((size_t)n + 1) * sizeof *nodes);
    if (!live || !done || !nodes) {
        free(live);
        free(done);
        free(nodes);
        return tq__graph_fail(g, TQ_ERR_NO_MEMORY, "finalize: out of memory");
    }
    mark_live(g, live);
    int32_t count = 0;
    for (int progress = 1; progress;) {
        progress = 0;
        for (int32_t i = 0; i < n; ++i) {
            if (!live[i] || done[i])
                continue;
            const tq__node *node = &g->nodes[i];
            int ready = 1;
            for (int32_t j = 0; j < node->n_inputs && ready; ++j) {
                const int32_t q = g->tensors[node->inputs[j]].producer;
                ready = q < 0 || done[q];
            }
            if (!ready)
                continue;
            done[i] = 1;
            nodes[count++] = *node;
            progress = 1;
            break; /* rescan from the lowest index */
        }
    }
    int32_t live_count = 0;
    for (int32_t i = 0; i < n; ++i)
        live_count += live[i];
    if (count != live_count) {
        free(live);
        free(done);
        free(nodes);
        return tq__graph_fail(g, TQ_ERR_PARAM,
                              "finalize: the nodes form a cycle");
    }
    /* Dead nodes go: free what they own. */
    for (int32_t i = 0; i < n; ++i)
        if (!live[i]) {
            tq__node *d = &g->nodes[i];
            free(d->name);
            free(d->inputs);
            free(d->bn_scale);
            free(d->bn_shift);
            free(d->aff_scale);
            free(d->aff_shift);
        }
    free(g->nodes);
    g->nodes = nodes;
    g->n_nodes = count;
    g->cap_nodes = n + 1;
    for (int32_t i = 0; i < g->n_tensors; ++i) {
        g->tensors[i].producer = -1;
        g->tensors[i].used = 0;
    }
    g->tensors[g->input].used = 1;
    g->tensors[g->output].used = 1;
    for (int32_t i = 0; i < count; ++i) {
        g->tensors[nodes[i].output].producer = i;
        g->tensors[nodes[i].output].used = 1;
        for (int32_t j = 0; j < nodes[i].n_inputs; ++j)
            g->tensors[nodes[i].inputs[j]].used = 1;
    }
    free(live);
    free(done);
    return TQ_OK;
}

tq_status tq__graph_rewrite(tq_graph *g, uint32_t rewrites)
{
    (void)rewrites;
    return compact_and_order(g);
}
