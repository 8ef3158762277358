/*
 * Shape checks and batch broadcasting of the batch matmul kernels
 * (lib/s8/batch_matmul.c, lib/s16/batch_matmul.c). Internal.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_S8_BMM_SHAPE_H
#define TQ_S8_BMM_SHAPE_H

#include "../tq_internal.h"

typedef struct tq__bmm_plan {
    int32_t batch[3];         /* output batch extents */
    size_t lhs_step[3];       /* elements between lhs batches (0: broadcast) */
    size_t rhs_step[3];
    size_t lhs_n, rhs_n, out_n; /* element counts */
    size_t lhs_mk, rhs_kn;    /* sizes of one matrix */
    size_t lm, lk, rk, rn;    /* element strides of m, k (lhs), k, n (rhs) */
} tq__bmm_plan;

/* Validate @p p (extents >= 1, adj 0/1, batch extents equal or 1, k <=
 * kmax) and lay out the strides. */
static inline tq_status tq__bmm_plan_init(const tq_batch_matmul_params *p,
                                          int32_t kmax, tq__bmm_plan *pl)
{
    if (p->m < 1 || p->n < 1 || p->k < 1)
        return TQ_ERR_SHAPE;
    if ((p->adj_x != 0 && p->adj_x != 1) || (p->adj_y != 0 && p->adj_y != 1))
        return TQ_ERR_PARAM;
    if (p->k > kmax)
        return TQ_ERR_OVERFLOW;
    size_t lb = 1, rb = 1, ob = 1;
    for (int i = 0; i < 3; ++i) {
        const int32_t l = p->lhs_batch[i], r = p->rhs_batch[i];
        if (l < 1 || r < 1 || (l != r && l != 1 && r != 1))
            return TQ_ERR_SHAPE;
        pl->batch[i] = l > r ? l : r;
        if (tq__mul_size(lb, (size_t)l, &lb) ||
            tq__mul_size(rb, (size_t)r, &rb) ||
            tq__mul_size(ob, (size_t)pl->batch[i], &ob))
            return TQ_ERR_OVERFLOW;
    }
    if (tq__mul_size((size_t)p->m, (size_t)p->k, &pl->lhs_mk) ||
        tq__mul_size((size_t)p->k, (size_t)p->n, &pl->rhs_kn) ||
        tq__mul_size(lb, pl->lhs_mk, &pl->lhs_n) ||
        tq__mul_size(rb, pl->rhs_kn, &pl->rhs_n) ||
        tq__mul_size(ob, (size_t)p->m, &pl->out_n) ||
        tq__mul_size(pl->out_n, (size_t)p->n, &pl->out_n))
        return TQ_ERR_OVERFLOW;
    size_t ls = pl->lhs_mk, rs = pl->rhs_kn;
    for (int i = 2; i >= 0; --i) {
        pl->lhs_step[i] = p->lhs_batch[i] == 1 ? 0 : ls;
        pl->rhs_step[i] = p->rhs_batch[i] == 1 ? 0 : rs;
        ls *= (size_t)p->lhs_batch[i];
        rs *= (size_t)p->rhs_batch[i];
    }
    pl->lm = p->adj_x ? 1 : (size_t)p->k;
    pl->lk = p->adj_x ? (size_t)p->m : 1;
    pl->rk = p->adj_y ? 1 : (size_t)p->n;
    pl->rn = p->adj_y ? (size_t)p->k : 1;
    return TQ_OK;
}

#endif /* TQ_S8_BMM_SHAPE_H */
