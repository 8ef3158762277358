/*
 * The arena planner (host only): buffers with a lifetime (first and last
 * step of use, inclusive) and a size get offsets in one arena such that no
 * two buffers alive at the same step overlap. Shared by the graph
 * (lib/graph/plan_graph.c) and the firmware exporter (tools/tq_export.c).
 * Nothing here is exported.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_GRAPH_PLAN_H
#define TQ_GRAPH_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "../tq_internal.h"

typedef struct tq__plan_buffer {
    size_t size;    /* bytes (0 is allowed and takes no room) */
    size_t align;   /* a power of two >= 1 */
    int32_t first;  /* first step of use */
    int32_t last;   /* last step of use, >= first */
    size_t offset;  /* out: byte offset in the arena, a multiple of align */
} tq__plan_buffer;

/* Place @p n buffers, greedily by size as TFLite Micro's GreedyMemoryPlanner
 * does: largest first (ties in index order), each at the lowest offset
 * (aligned) where it overlaps no buffer already placed whose lifetime meets
 * its own. Writes every offset and the arena size (the end of the highest
 * buffer) to *arena. TQ_ERR_PARAM for a bad lifetime or alignment,
 * TQ_ERR_OVERFLOW, TQ_ERR_NO_MEMORY. */
tq_status tq__plan_place(tq__plan_buffer *buffers, int32_t n, size_t *arena);

/* The least arena any placement can use: the most bytes alive at one step.
 * TQ_ERR_OVERFLOW if a sum does not fit. */
tq_status tq__plan_lower_bound(const tq__plan_buffer *buffers, int32_t n,
                               size_t *bytes);

/* Do the two lifetimes share a step? */
static inline int tq__plan_meet(const tq__plan_buffer *a,
                                const tq__plan_buffer *b)
{
    return a->first <= b->last && b->first <= a->last;
}

#endif /* TQ_GRAPH_PLAN_H */
