/*
 * The arena of a graph (host only): the lifetime plan of its activations
 * (plan.c places them), the kernel scratch of its nodes, and the checks
 * every run does on its batch and arena.
 *
 * Steps: 0 copies the input in, node i (execution order) runs at step
 * i + 1, and step n + 1 copies the output out. A RESHAPE or IDENTITY
 * output is an alias of its input's storage (no copy), which then lives
 * until the aliases' last use. Offsets are per sample: a run over `batch`
 * samples multiplies them (and the sizes) by batch, which keeps buffers
 * that never met apart. The scratch region follows the activations; one
 * node runs at a time, so all nodes share it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"
#include "plan.h"

static int is_alias_op(int32_t op)
{
    return op == TQ_OP_RESHAPE || op == TQ_OP_IDENTITY;
}

/* Can int8 Add node @p j (two activation inputs of its own size) run in
 * the output stage of the conv producing its input slot @p ci? That conv
 * must be a plain int8 TQ__Q_CONV (int8 weights) whose output only this
 * Add reads, not the output layer, and the other addend must exist
 * before the conv runs.
 * Returns the conv's index, or -1. */
static int32_t fusable_conv(const tq_graph *g, int32_t j, int32_t ci)
{
    const tq__node *add = &g->nodes[j];
    const int32_t t = add->inputs[ci], s = add->inputs[1 - ci];
    const int32_t p = g->tensors[t].producer;
    if (p < 0 || p >= j || g->tensors[t].alias >= 0)
        return -1;
    const struct tq__qnode *qp = g->nodes[p].q;
    /* int8 activations and int8 weights only: tq_s8_conv2d_add. */
    if (!qp || qp->kind != TQ__Q_CONV || qp->dtype == TQ_S16 ||
        qp->weights4 || add->q->dtype == TQ_S16 || p == g->q->output_node ||
        tq__graph_consumers(g, t) != 1 || g->nodes[p].fused_add >= 0)
        return -1;
    const int32_t ps = g->tensors[tq__graph_root(g, s)].producer;
    return ps < p ? p : -1; /* the input (-1) or an earlier node */
}

/* Fuse every int8 Add of two activations into the later of its conv
 * producers that qualifies (fusable_conv()). */
static void fuse_conv_add(tq_graph *g)
{
    for (int32_t j = 0; j < g->n_nodes; ++j) {
        tq__node *add = &g->nodes[j];
        const tq__tensor *o = &g->tensors[add->output];
        if (!add->q || add->q->kind != TQ__Q_ADD || add->n_inputs != 2)
            continue;
        int ok = 1;
        for (int32_t k = 0; k < 2; ++k) {
            const tq__tensor *in = &g->tensors[add->inputs[k]];
            ok &= in->kind != TQ__TENSOR_CONSTANT && in->numel == o->numel;
        }
        if (!ok || add->inputs[0] == add->inputs[1])
            continue;
        const int32_t p0 = fusable_conv(g, j, 0), p1 = fusable_conv(g, j, 1);
        if (p0 < 0 && p1 < 0)
            continue;
        const int32_t ci = p0 > p1 ? 0 : 1, p = ci == 0 ? p0 : p1;
        g->nodes[p].fused_add = j;
        add->fused_by = p;
        add->skip_input = 1 - ci;
    }
}

tq_status tq__graph_plan(tq_graph *g, size_t align)
{
    const int32_t n = g->n_nodes;
    int32_t nb = 0;
    tq__plan_buffer *b =
        calloc((size_t)g->n_tensors + (size_t)n + 1, sizeof *b);
    int32_t *scratch_buf = calloc((size_t)n + 1, sizeof *scratch_buf);
    if (!b || !scratch_buf) {
        free(b);
        free(scratch_buf);
        return tq__graph_fail(g, TQ_ERR_NO_MEMORY, "plan: out of memory");
    }
    for (int32_t i = 0; i < g->n_tensors; ++i) {
        g->tensors[i].alias = -1;
        g->tensors[i].buffer = -1;
        g->tensors[i].offset = 0;
    }
    for (int32_t i = 0; i < n; ++i) {
        g->nodes[i].fused_add = g->nodes[i].fused_by = -1;
        g->nodes[i].skip_input = 0;
        g->nodes[i].scratch_offset = g->nodes[i].scratch_size = 0;
        scratch_buf[i] = -1;
    }
    g->scratch_planned = 0;
    /* Storage: the input, then each node's output in execution order (an
     * alias takes its input's root). */
    tq__tensor *in = &g->tensors[g->input];
    in->buffer = nb++;
    b[in->buffer].first = b[in->buffer].last = 0;
    for (int32_t i = 0; i < n; ++i) {
        const tq__node *node = &g->nodes[i];
        tq__tensor *o = &g->tensors[node->output];
        /* (an Identity that changes the type is a requantization) */
        if (is_alias_op(node->op) &&
            o->dtype == g->tensors[node->inputs[0]].dtype) {
            o->alias = tq__graph_root(g, node->inputs[0]);
            continue;
        }
        o->buffer = nb++;
        b[o->buffer].first = b[o->buffer].last = i + 1;
    }
    /* Conv + Add fusion (quantized graphs): the Add's output exists from
     * the conv's step on; the conv's own output never does. */
    if (g->quantized && g->q) {
        g->q->output_node =
            g->tensors[tq__graph_root(g, g->output)].producer;
        fuse_conv_add(g);
        for (int32_t i = 0; i < n; ++i) {
            const tq__node *node = &g->nodes[i];
            if (node->fused_by < 0)
                continue;
            b[g->tensors[node->output].buffer].first = node->fused_by + 1;
            const int32_t c = node->inputs[1 - node->skip_input];
            b[g->tensors[c].buffer].first = 0;
            b[g->tensors[c].buffer].last = 0;
            b[g->tensors[c].buffer].align = 1;
            g->tensors[c].buffer = -1; /* stays an empty buffer */
        }
    }
    /* Lifetimes: every read extends the root's. */
    for (int32_t i = 0; i < n; ++i) {
        const tq__node *node = &g->nodes[i];
        for (int32_t j = 0; j < node->n_inputs; ++j) {
            const tq__tensor *t = &g->tensors[node->inputs[j]];
            if (t->kind == TQ__TENSOR_CONSTANT ||
                g->tensors[tq__graph_root(g, node->inputs[j])].buffer < 0)
                continue;
            tq__plan_buffer *p =
                &b[g->tensors[tq__graph_root(g, node->inputs[j])].buffer];
            p->last = p->last > i + 1 ? p->last : i + 1;
        }
    }
    b[g->tensors[tq__graph_root(g, g->output)].buffer].last = n + 1;
    /* In place (quantized graphs): an int8 Add or table lookup whose
     * activation input dies at that node writes its output over the
     * input's buffer (tq_s8_add and tq_s8_lookup take an output equal to an
     * input); the buffer then lives until the output's last use. */
    for (int32_t i = 0; g->quantized && i < n; ++i) {
        const tq__node *node = &g->nodes[i];
        const struct tq__qnode *qn = node->q;
        if (!qn || (qn->kind != TQ__Q_ADD && qn->kind != TQ__Q_LOOKUP))
            continue;
        if (node->fused_by >= 0) {
            /* A fused Add writes its sum over the skip tensor at the
             * conv's step if the skip dies at the Add and nothing else
             * reads it in between, and the conv does not read it. */
            const int32_t p = node->fused_by;
            const int32_t sr = tq__graph_root(g, node->inputs[node->skip_input]);
            const int32_t ib = g->tensors[sr].buffer;
            tq__tensor *o = &g->tensors[node->output];
            int ok = b[ib].last == i + 1 &&
                     tq__graph_root(g, g->nodes[p].inputs[0]) != sr;
            for (int32_t k = p + 1; ok && k < i; ++k)
                for (int32_t j = 0; j < g->nodes[k].n_inputs; ++j)
                    ok &= tq__graph_root(g, g->nodes[k].inputs[j]) != sr;
            if (!ok)
                continue;
            b[ib].last = b[o->buffer].last;
            b[o->buffer].first = b[o->buffer].last = b[ib].first;
            b[o->buffer].size = 0;
            b[o->buffer].align = 1;
            o->buffer = ib;
            continue;
        }
        tq__tensor *o = &g->tensors[node->output];
        for (int32_t j = 0; j < node->n_inputs; ++j) {
            const tq__tensor *t = &g->tensors[node->inputs[j]];
            if (t->kind == TQ__TENSOR_CONSTANT || t->numel != o->numel ||
                t->dtype != o->dtype)
                continue;
            const int32_t ib = g->tensors[tq__graph_root(g, node->inputs[j])]
                                   .buffer;
            if (ib == o->buffer || b[ib].last != i + 1)
                continue;
            b[ib].last = b[o->buffer].last;
            b[o->buffer].first = b[o->buffer].last = b[ib].first;
            b[o->buffer].size = 0; /* stays empty: no tensor sizes it now */
            b[o->buffer].align = 1;
            o->buffer = ib;
            break;
        }
    }
    for (int32_t i = 0; i < g->n_tensors; ++i) {
        const tq__tensor *t = &g->tensors[i];
        if (t->buffer < 0)
            continue;
        size_t bytes;
        if (tq__mul_size(t->numel, tq_dtype_size(t->dtype), &bytes) ||
            bytes > SIZE_MAX - align) {
            free(b);
            free(scratch_buf);
            return tq__graph_fail(g, TQ_ERR_OVERFLOW,
                                  "plan: tensor '%s' is too large", t->name);
        }
        /* Sizes rounded to the alignment keep batch multiples aligned. */
        b[t->buffer].size = (bytes + align - 1) / align * align;
        b[t->buffer].align = align;
    }
    /* The kernels' scratch (quantized graphs): a buffer of its node's step
     * (one sample's bytes), so that the lower bound and the plan count the
     * scratch where it is needed and not the largest one everywhere. */
    for (int32_t i = 0; g->quantized && g->q_scratch && i < n; ++i) {
        size_t bytes;
        tq_status s = g->q_scratch(g, i, 1, &bytes);
        if (s != TQ_OK || bytes > SIZE_MAX - align) {
            free(b);
            free(scratch_buf);
            return tq__graph_fail(g, s != TQ_OK ? s : TQ_ERR_OVERFLOW,
                                  "plan: the scratch of node '%s' cannot be "
                                  "sized", g->nodes[i].name);
        }
        if (bytes == 0)
            continue;
        scratch_buf[i] = nb++;
        b[scratch_buf[i]].size = (bytes + align - 1) / align * align;
        b[scratch_buf[i]].align = align;
        b[scratch_buf[i]].first = b[scratch_buf[i]].last = i + 1;
        g->scratch_planned = 1;
    }
    size_t arena = 0, lower = 0;
    tq_status s = tq__plan_place(b, nb, &arena);
    if (s == TQ_OK)
        s = tq__plan_lower_bound(b, nb, &lower);
    if (s != TQ_OK) {
        free(b);
        free(scratch_buf);
        return tq__graph_fail(g, s, "plan: the arena cannot be planned (%s)",
                              tq_status_message(s));
    }
    for (int32_t i = 0; i < n; ++i)
        if (scratch_buf[i] >= 0) {
            g->nodes[i].scratch_offset = b[scratch_buf[i]].offset;
            g->nodes[i].scratch_size = b[scratch_buf[i]].size;
        }
    free(scratch_buf);
    for (int32_t i = 0; i < g->n_tensors; ++i) {
        tq__tensor *t = &g->tensors[i];
        if (t->buffer >= 0)
            t->offset = b[t->buffer].offset;
    }
    for (int32_t i = 0; i < g->n_tensors; ++i) {
        tq__tensor *t = &g->tensors[i];
        if (t->alias >= 0)
            t->offset = g->tensors[t->alias].offset;
    }
    free(b);
    g->act_bytes = arena;
    g->act_lower_bound = lower;
    g->act_align = align;
    return TQ_OK;
}

tq_status tq__node_scratch_f32(const tq_graph *g, int32_t node, int64_t batch,
                               size_t *bytes)
{
    const tq__node *n = &g->nodes[node];
    const tq_dims in = tq__graph_dims(g, n->inputs[0], batch);
    const tq_dims out = tq__graph_dims(g, n->output, batch);
    *bytes = 0;
    switch (n->op) {
    case TQ_OP_CONV2D:
    case TQ_OP_CONV2D_RELU_MAXPOOL2: {
        const tq__tensor *w = &g->tensors[n->inputs[1]];
        const tq_dims fd = {(int32_t)w->shape[0], (int32_t)w->shape[1],
                            (int32_t)w->shape[2], (int32_t)w->shape[3]};
        if (n->op == TQ_OP_CONV2D)
            return tq_f32_conv2d_scratch_size(&n->attrs.conv, &in, &fd, &out,
                                              bytes);
        return tq_f32_conv2d_relu_maxpool2_scratch_size(&n->attrs.conv, &in,
                                                        &fd, &out, bytes);
    }
    case TQ_OP_AVG_POOL: {
        /* count_include_pad with padding runs as a zero pad into the
         * scratch, then an unpadded average pool. */
        const tq_pool_params *p = &n->attrs.pool;
        if (!n->attrs.count_include_pad ||
            (p->pad_top | p->pad_bottom | p->pad_left | p->pad_right) == 0)
            return TQ_OK;
        const size_t h = (size_t)in.h + (size_t)p->pad_top + (size_t)p->pad_bottom;
        const size_t w = (size_t)in.w + (size_t)p->pad_left + (size_t)p->pad_right;
        size_t count;
        if (tq__mul_size((size_t)batch, h * w * (size_t)in.c, &count) ||
            tq__mul_size(count, sizeof(float), bytes) ||
            tq__add_size(*bytes, sizeof(float) - 1, bytes))
            return TQ_ERR_OVERFLOW;
        return TQ_OK;
    }
    default:
        return TQ_OK;
    }
}

tq_status tq__graph_scratch_bytes(const tq_graph *g, int64_t batch,
                                  size_t *bytes)
{
    size_t most = 0;
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        size_t s;
        if (g->q_scratch)
            TQ_CHECK(g->q_scratch(g, i, batch, &s));
        else
            TQ_CHECK(tq__node_scratch_f32(g, i, batch, &s));
        most = s > most ? s : most;
    }
    *bytes = most;
    return TQ_OK;
}

/* Does every node's scratch over @p batch samples fit its planned place
 * (batch times the planned bytes)? */
static int in_plan_scratch(const tq_graph *g, int64_t batch, int *in_plan)
{
    *in_plan = 0;
    if (!g->scratch_planned || !g->q_scratch)
        return 0;
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        size_t s, room;
        if (g->q_scratch(g, i, batch, &s) != TQ_OK ||
            tq__mul_size(g->nodes[i].scratch_size, (size_t)batch, &room) ||
            s > room)
            return 0;
    }
    *in_plan = 1;
    return 1;
}

/* The layout of a run: activations (with each node's scratch at its
 * planned place), or activations then one aligned scratch region shared by
 * every node (*in_plan 0). */
static tq_status layout(const tq_graph *g, int64_t batch, size_t *act,
                        size_t *scratch, size_t *total, int *in_plan)
{
    const size_t A = TQ__GRAPH_ARENA_ALIGN;
    if (batch < 1 || batch > INT32_MAX)
        return TQ_ERR_PARAM;
    /* The kernels count elements in int32. */
    for (int32_t i = 0; i < g->n_tensors; ++i) {
        const tq__tensor *t = &g->tensors[i];
        if (t->kind != TQ__TENSOR_CONSTANT &&
            (t->buffer >= 0 || t->alias >= 0) &&
            (uint64_t)t->numel * (uint64_t)batch > INT32_MAX)
            return TQ_ERR_OVERFLOW;
    }
    if (tq__mul_size(g->act_bytes, (size_t)batch, act) || *act > SIZE_MAX - A)
        return TQ_ERR_OVERFLOW;
    *act = (*act + A - 1) / A * A;
    if (in_plan_scratch(g, batch, in_plan))
        *scratch = 0;
    else
        TQ_CHECK(tq__graph_scratch_bytes(g, batch, scratch));
    if (tq__add_size(*act, *scratch, total) || tq__add_size(*total, A, total))
        return TQ_ERR_OVERFLOW;
    return TQ_OK;
}

static tq_status fail_batch(const tq_graph *g, tq_status s, const char *who,
                            int64_t batch)
{
    tq_graph *m = (tq_graph *)(uintptr_t)g; /* the error buffer only */
    if (s == TQ_ERR_PARAM)
        return tq__graph_fail(m, s, "%s: batch %lld, must be 1..%d", who,
                              (long long)batch, INT32_MAX);
    return tq__graph_fail(m, s,
                          "%s: batch %lld makes a tensor or the arena too "
                          "large (%s)",
                          who, (long long)batch, tq_status_message(s));
}

tq_status tq_graph_arena_size(const tq_graph *graph, int64_t batch,
                              size_t *bytes)
{
    size_t act, scratch, total;
    int in_plan;
    if (!graph)
        return TQ_ERR_NULL;
    /* A const graph may be shared by threads: only a failure writes its
     * error sentence (the last failed call's, as documented). */
    tq_graph *m = (tq_graph *)(uintptr_t)graph;
    if (!bytes)
        return tq__graph_fail(m, TQ_ERR_NULL, "arena_size: bytes is NULL");
    if (!graph->finalized)
        return tq__graph_fail(m, TQ_ERR_PARAM,
                              "arena_size: the graph is not finalized "
                              "(tq_graph_finalize)");
    tq_status s = layout(graph, batch, &act, &scratch, &total, &in_plan);
    if (s != TQ_OK)
        return fail_batch(graph, s, "arena_size", batch);
    *bytes = total;
    return TQ_OK;
}

tq_status tq__graph_arena(const tq_graph *g, int64_t batch, void *arena,
                          size_t arena_bytes, uint8_t **base,
                          uint8_t **scratch, size_t *scratch_bytes)
{
    size_t act, s_bytes, total;
    int in_plan;
    tq_graph *m = (tq_graph *)(uintptr_t)g;
    tq_status s = layout(g, batch, &act, &s_bytes, &total, &in_plan);
    if (s != TQ_OK)
        return fail_batch(g, s, "run", batch);
    if (!arena || arena_bytes < total)
        return tq__graph_fail(m, arena ? TQ_ERR_BUFFER_TOO_SMALL : TQ_ERR_NULL,
                              "run: the arena has %zu bytes, %zu needed for "
                              "batch %lld (tq_graph_arena_size)",
                              arena ? arena_bytes : (size_t)0, total,
                              (long long)batch);
    const uintptr_t p = (uintptr_t)arena;
    const size_t skip = (size_t)((TQ__GRAPH_ARENA_ALIGN - p % TQ__GRAPH_ARENA_ALIGN) %
                                 TQ__GRAPH_ARENA_ALIGN);
    *base = (uint8_t *)arena + skip;
    *scratch = in_plan ? NULL : *base + act;
    *scratch_bytes = s_bytes;
    return TQ_OK;
}
