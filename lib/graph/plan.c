/*
 * The arena planner (plan.h): greedy by size, lowest fitting offset.
 *
 * For each buffer in order of decreasing size, the placed buffers whose
 * lifetimes meet its own are the only obstacles; it goes at the lowest
 * aligned offset that overlaps none of them (tools/tq_export.c planned
 * this way before the planner moved here, and its plans are unchanged).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>

#include "plan.h"

static size_t align_up(size_t x, size_t a, int *overflow)
{
    const size_t r = x % a;
    if (r == 0)
        return x;
    if (x > SIZE_MAX - (a - r)) {
        *overflow = 1;
        return x;
    }
    return x + (a - r);
}

/* Insertion sorts: n is small (a few hundred buffers at most). */
static void sort_by_size(const tq__plan_buffer *b, int32_t *order, int32_t n)
{
    for (int32_t i = 0; i < n; ++i)
        order[i] = i;
    for (int32_t i = 1; i < n; ++i)
        for (int32_t j = i; j > 0 && b[order[j]].size > b[order[j - 1]].size;
             --j) {
            const int32_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

tq_status tq__plan_place(tq__plan_buffer *buffers, int32_t n, size_t *arena)
{
    if (!arena || (n > 0 && !buffers))
        return TQ_ERR_NULL;
    if (n < 0)
        return TQ_ERR_PARAM;
    for (int32_t i = 0; i < n; ++i) {
        const size_t a = buffers[i].align;
        if (buffers[i].first > buffers[i].last || a == 0 || (a & (a - 1)))
            return TQ_ERR_PARAM;
    }
    int32_t *order = malloc(2 * ((size_t)n + 1) * sizeof(int32_t));
    if (!order)
        return TQ_ERR_NO_MEMORY;
    int32_t *obstacles = order + n + 1;
    size_t end = 0;
    int overflow = 0;
    sort_by_size(buffers, order, n);
    for (int32_t i = 0; i < n && !overflow; ++i) {
        tq__plan_buffer *b = &buffers[order[i]];
        int32_t m = 0;
        for (int32_t j = 0; j < i; ++j) {
            const tq__plan_buffer *p = &buffers[order[j]];
            if (p->size && tq__plan_meet(b, p))
                obstacles[m++] = order[j];
        }
        /* Start at 0 and jump past each obstacle met: every offset
         * skipped overlaps that obstacle too, so the first offset that
         * meets none is the lowest feasible one. */
        size_t offset = 0;
        for (int moved = 1; moved && !overflow;) {
            moved = 0;
            offset = align_up(offset, b->align, &overflow);
            if (overflow || offset > SIZE_MAX - b->size) {
                overflow = 1;
                break;
            }
            for (int32_t q = 0; q < m; ++q) {
                const tq__plan_buffer *p = &buffers[obstacles[q]];
                if (b->size && offset < p->offset + p->size &&
                    p->offset < offset + b->size) {
                    offset = p->offset + p->size;
                    moved = 1;
                }
            }
        }
        b->offset = offset;
        if (offset + b->size > end)
            end = offset + b->size;
    }
    free(order);
    if (overflow)
        return TQ_ERR_OVERFLOW;
    *arena = end;
    return TQ_OK;
}

tq_status tq__plan_lower_bound(const tq__plan_buffer *buffers, int32_t n,
                               size_t *bytes)
{
    if (!bytes || (n > 0 && !buffers))
        return TQ_ERR_NULL;
    size_t most = 0;
    /* The busiest step is the first step of some buffer. */
    for (int32_t i = 0; i < n; ++i) {
        const int32_t step = buffers[i].first;
        size_t live = 0;
        for (int32_t j = 0; j < n; ++j)
            if (buffers[j].first <= step && step <= buffers[j].last &&
                tq__add_size(live, buffers[j].size, &live))
                return TQ_ERR_OVERFLOW;
        most = live > most ? live : most;
    }
    *bytes = most;
    return TQ_OK;
}
