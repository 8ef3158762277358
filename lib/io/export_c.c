/*
 * A quantized graph as C source for a firmware (host only):
 * tq_graph_export_c() writes <prefix>.h and <prefix>.c: const int8
 * weights (packed int4 ones as bytes), int32 and int64 biases,
 * multipliers, shifts and tables, ONE static arena laid out by the graph's
 * plan (activations of 1 or 2 bytes and each kernel's scratch at their
 * planned offsets; a conv with a fused residual Add writes the sum over the
 * skip tensor), and <prefix>_run(), a straight line of calls to tinyq's
 * kernels: s8, s16 (16x8, int64 bias) and s4 (packed int4 weights) as each
 * node runs in tq_graph_run_s8(), and the requantizations int8 <-> int16
 * at dtype boundaries (TFLite QUANTIZE) as a loop over tq_requantize().
 *
 * Every call is first described as a `step` (kernel, parameters, arena
 * offsets); the same steps are (1) executed here on the host, through the
 * same kernels with the same offsets, and compared bit for bit with
 * tq_graph_run_s8() on two inputs (outputs and, for an FC output layer, its
 * accumulators), and only then (2) printed as C. Nothing is written when
 * the check fails.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/quant_internal.h"

typedef struct step {
    int32_t node;
    int32_t kind;         /* tq__qkind */
    size_t in, in1, out;  /* arena offsets (bytes); a conv with a fused Add:
                             in1 is the skip tensor, out the sum */
    size_t scratch, scratch_bytes; /* the node's planned scratch */
    tq_dims in_dims, out_dims;
    int32_t acc;          /* the output FC, keeping its accumulators */
    int32_t fused_add;    /* a conv running this Add node, or -1 */
} step;

typedef struct ectx {
    const tq_graph *g;
    step *steps;
    int32_t n;
    size_t arena_bytes;
    char *msg;
    size_t msg_size;
} ectx;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static tq_status efail(ectx *x, tq_status s, const char *fmt, ...)
{
    if (x->msg && x->msg_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->msg, x->msg_size, fmt, ap);
        va_end(ap);
    }
    return s;
}

static size_t off(const tq_graph *g, int32_t t)
{
    return g->tensors[tq__graph_root(g, t)].offset;
}

/* The steps of the graph, and the arena. */
static tq_status make_steps(ectx *x)
{
    const tq_graph *g = x->g;
    x->steps = calloc((size_t)g->n_nodes + 1, sizeof *x->steps);
    if (!x->steps)
        return efail(x, TQ_ERR_NO_MEMORY, "out of memory");
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        const tq__node *n = &g->nodes[i];
        const struct tq__qnode *qn = n->q;
        step *s = &x->steps[x->n];
        if (n->fused_by >= 0)
            continue; /* run by its conv */
        switch (qn->kind) {
        case TQ__Q_ALIAS:
            continue;
        case TQ__Q_PAD:
            return efail(x, TQ_ERR_UNSUPPORTED, "node %s (%s): a standalone "
                         "Pad is not exported yet", n->name,
                         tq__op_name(n->op));
        case TQ__Q_AVG_POOL:
            if (qn->padded_pool)
                return efail(x, TQ_ERR_UNSUPPORTED, "node %s (%s): an average "
                             "pool counting its padding is not exported yet",
                             n->name, tq__op_name(n->op));
            break;
        case TQ__Q_CONCAT:
            if (n->n_inputs > 2)
                return efail(x, TQ_ERR_UNSUPPORTED, "node %s (%s): a concat of "
                             "more than two inputs is not exported yet",
                             n->name, tq__op_name(n->op));
            break;
        default:
            break;
        }
        s->node = i;
        s->kind = qn->kind;
        s->in = off(g, n->inputs[0]);
        s->in1 = n->n_inputs > 1 ? off(g, n->inputs[1]) : 0;
        s->out = off(g, n->output);
        s->in_dims = tq__graph_dims(g, n->inputs[0], 1);
        s->out_dims = tq__graph_dims(g, n->output, 1);
        s->acc = i == g->q->output_node && qn->kind == TQ__Q_FC;
        s->fused_add = n->fused_add;
        if (n->fused_add >= 0) {
            const tq__node *a = &g->nodes[n->fused_add];
            s->in1 = off(g, a->inputs[a->skip_input]);
            s->out = off(g, a->output);
        }
        /* Every node's scratch has its place in the plan (batch 1). */
        s->scratch = n->scratch_offset;
        s->scratch_bytes = n->scratch_size;
        x->n++;
    }
    x->arena_bytes = g->act_bytes;
    return TQ_OK;
}

/* The requantization int8 <-> int16 of a TQ__Q_CONVERT node, as the
 * generated code's convert() (CONVERT_SOURCE below) computes it: TFLite
 * QUANTIZE through the public tq_requantize(). */
static tq_status convert(size_t n, const tq__qcvt *c, int32_t rounding,
                         const void *x, void *y)
{
    for (size_t i = 0; i < n; ++i) {
        const int32_t v = c->from == TQ_S16 ? ((const int16_t *)x)[i]
                                            : ((const int8_t *)x)[i];
        int32_t r;
        TQ_CHECK(tq_requantize(v - c->in_zp, c->mult, c->shift, rounding, &r));
        int64_t q = (int64_t)r + c->out_zp;
        q = q < c->lo ? c->lo : (q > c->hi ? c->hi : q);
        if (c->to == TQ_S16)
            ((int16_t *)y)[i] = (int16_t)q;
        else
            ((int8_t *)y)[i] = (int8_t)q;
    }
    return TQ_OK;
}

#define CONVERT_SOURCE                                                       \
    "/* TFLite QUANTIZE int8 <-> int16 of n codes: y = clamp(MBQM(x - "      \
    "in_zp) + out_zp). */\n"                                                 \
    "typedef struct convert_params {\n"                                      \
    "    int32_t from16, to16, mult, shift, in_zp, out_zp, lo, hi;\n"        \
    "} convert_params;\n\n"                                                  \
    "static tq_status convert(size_t n, const convert_params *c, int32_t "   \
    "rounding,\n                         const void *x, void *y)\n{\n"       \
    "    /* int16 codes through memcpy: the arena is an int8_t array. */\n" \
    "    for (size_t i = 0; i < n; ++i) {\n"                                 \
    "        int16_t h = 0;\n        int8_t b = 0;\n"                       \
    "        if (c->from16)\n"                                               \
    "            memcpy(&h, (const int16_t *)x + i, sizeof h);\n"            \
    "        else\n            memcpy(&b, (const int8_t *)x + i, 1);\n"     \
    "        const int32_t v = c->from16 ? h : b;\n"                         \
    "        int32_t r;\n"                                                   \
    "        const tq_status s = tq_requantize(v - c->in_zp, c->mult, "      \
    "c->shift,\n                                          rounding, &r);\n"  \
    "        if (s != TQ_OK)\n            return s;\n"                       \
    "        int64_t q = (int64_t)r + c->out_zp;\n"                          \
    "        q = q < c->lo ? c->lo : (q > c->hi ? c->hi : q);\n"             \
    "        if (c->to16) {\n            h = (int16_t)q;\n"                 \
    "            memcpy((int16_t *)y + i, &h, sizeof h);\n"                  \
    "        } else {\n            b = (int8_t)q;\n"                        \
    "            memcpy((int8_t *)y + i, &b, 1);\n        }\n"              \
    "    }\n    return TQ_OK;\n}\n\n"

static size_t align16(size_t n)
{
    return (n + 15) / 16 * 16;
}

static size_t weight_count(const struct tq__qnode *qn)
{
    return qn->kind == TQ__Q_FC
               ? (size_t)qn->channels * (size_t)qn->in_features
               : (size_t)qn->filter.n * (size_t)qn->filter.h *
                     (size_t)qn->filter.w * (size_t)qn->filter.c;
}

/* Bytes of the int16 convolution output a 16x8 CONV_POOL node keeps at
 * the start of its scratch (the kernel's own scratch follows). */
static size_t conv_pool16_bytes(const step *s, const struct tq__qnode *qn)
{
    const tq_dims cd = tq__qnode_conv_dims(qn, &s->in_dims);
    return align16((size_t)cd.n * (size_t)cd.h * (size_t)cd.w * (size_t)cd.c *
                   2);
}

/* A 16x8 step (the tq_s16_* kernels of run_node16 in run_s8.c). */
static tq_status exec_step16(const ectx *x, const step *s, int8_t *arena)
{
    const struct tq__qnode *qn = x->g->nodes[s->node].q;
    const int16_t *in = (const int16_t *)(void *)(arena + s->in);
    const int16_t *in1 = (const int16_t *)(void *)(arena + s->in1);
    int16_t *out = (int16_t *)(void *)(arena + s->out);
    uint8_t *scratch = (uint8_t *)(arena + s->scratch);
    const size_t count = (size_t)s->out_dims.h * (size_t)s->out_dims.w *
                         (size_t)s->out_dims.c;
    switch (s->kind) {
    case TQ__Q_CONV:
        return tq_s16_conv2d(&qn->conv, &s->in_dims, in, &qn->filter,
                             qn->weights, qn->bias64, TQ_S64, &qn->os16,
                             &s->out_dims, out, scratch, s->scratch_bytes);
    case TQ__Q_DEPTHWISE:
        return tq_s16_depthwise_conv2d(&qn->conv, &s->in_dims, in, &qn->filter,
                                       qn->weights, qn->bias64, TQ_S64,
                                       &qn->os16, &s->out_dims, out);
    case TQ__Q_FC:
        return tq_s16_fully_connected(1, qn->in_features, qn->channels, in,
                                      qn->weights, qn->bias64, TQ_S64,
                                      &qn->os16, out);
    case TQ__Q_CONV_POOL: {
        const tq_dims cd = tq__qnode_conv_dims(qn, &s->in_dims);
        const size_t cb = conv_pool16_bytes(s, qn);
        const tq_pool_params pool = tq__qnode_pool_2x2();
        if (s->scratch_bytes < cb)
            return TQ_ERR_BUFFER_TOO_SMALL;
        TQ_CHECK(tq_s16_conv2d(&qn->conv, &s->in_dims, in, &qn->filter,
                               qn->weights, qn->bias64, TQ_S64, &qn->os16, &cd,
                               (int16_t *)(void *)scratch, scratch + cb,
                               s->scratch_bytes - cb));
        return tq_s16_max_pool(&pool, &cd, (const int16_t *)(void *)scratch,
                               -32768, 32767, &s->out_dims, out);
    }
    case TQ__Q_MAX_POOL:
        return tq_s16_max_pool(&qn->pool, &s->in_dims, in, qn->act_min,
                               qn->act_max, &s->out_dims, out);
    case TQ__Q_AVG_POOL:
        return tq_s16_avg_pool(&qn->pool, &s->in_dims, in, qn->act_min,
                               qn->act_max, &s->out_dims, out);
    case TQ__Q_ADD:
        return tq_s16_add(count, in, in1, &qn->add, out);
    default:
        return TQ_ERR_UNSUPPORTED;
    }
}

/* Run step @p s over @p arena (the generated code's call, on the host). */
static tq_status exec_step(const ectx *x, const step *s, int8_t *arena,
                           int32_t *acc)
{
    const tq__node *n = &x->g->nodes[s->node];
    const struct tq__qnode *qn = n->q;
    int8_t *in = arena + s->in, *in1 = arena + s->in1, *out = arena + s->out;
    int8_t *scratch = arena + s->scratch;
    const size_t count = (size_t)s->out_dims.h * (size_t)s->out_dims.w *
                         (size_t)s->out_dims.c;
    if (s->kind == TQ__Q_CONVERT)
        return convert(count, qn->cvt, x->g->q->config.rounding, in, out);
    if (qn->dtype == TQ_S16)
        return exec_step16(x, s, arena);
    switch (s->kind) {
    case TQ__Q_CONV:
        if (qn->weights4)
            return tq_s4_conv2d(&qn->conv, &s->in_dims, in, qn->input_offset,
                                &qn->filter, qn->weights4, qn->bias, &qn->os,
                                &s->out_dims, out, scratch, s->scratch_bytes);
        if (s->fused_add >= 0) {
            tq_s8_add_params ap;
            tq__graph_fused_add_params(&x->g->nodes[s->fused_add], &ap);
            return tq_s8_conv2d_add(&qn->conv, &s->in_dims, in,
                                    qn->input_offset, &qn->filter, qn->weights,
                                    qn->bias, &qn->os, &s->out_dims, in1, &ap,
                                    out, scratch, s->scratch_bytes);
        }
        return tq_s8_conv2d(&qn->conv, &s->in_dims, in, qn->input_offset,
                            &qn->filter, qn->weights, qn->bias, &qn->os,
                            &s->out_dims, out, scratch, s->scratch_bytes);
    case TQ__Q_CONV_POOL: {
        const int8_t *w = qn->weights;
        size_t wb = 0;
        if (qn->weights4) {
            /* The int4 filter unpacked at the start of the scratch. */
            wb = align16(weight_count(qn));
            if (s->scratch_bytes < wb)
                return TQ_ERR_BUFFER_TOO_SMALL;
            TQ_CHECK(tq_s4_unpack(weight_count(qn), qn->weights4, scratch));
            w = scratch;
        }
        return tq_s8_conv2d_relu_maxpool2(&qn->conv, &s->in_dims, in,
                                          qn->input_offset, &qn->filter, w,
                                          qn->bias, &qn->os, &s->out_dims, out,
                                          scratch + wb, s->scratch_bytes - wb);
    }
    case TQ__Q_DEPTHWISE:
        if (qn->weights4)
            return tq_s4_depthwise_conv2d(&qn->conv, &s->in_dims, in,
                                          qn->input_offset, &qn->filter,
                                          qn->weights4, qn->bias, &qn->os,
                                          &s->out_dims, out);
        return tq_s8_depthwise_conv2d(&qn->conv, &s->in_dims, in,
                                      qn->input_offset, &qn->filter,
                                      qn->weights, qn->bias, &qn->os,
                                      &s->out_dims, out);
    case TQ__Q_FC:
        if (s->acc && acc) {
            const int8_t *w = qn->weights;
            if (qn->weights4) {
                /* The int4 weights unpacked into the scratch. */
                if (s->scratch_bytes < weight_count(qn))
                    return TQ_ERR_BUFFER_TOO_SMALL;
                TQ_CHECK(tq_s4_unpack(weight_count(qn), qn->weights4,
                                      scratch));
                w = scratch;
            }
            TQ_CHECK(tq_s8_gemm_s32(1, qn->channels, qn->in_features, in,
                                    qn->in_features, qn->input_offset, w,
                                    qn->in_features, 0, qn->bias, acc,
                                    qn->channels));
            return tq_s8_requantize_rows(1, qn->channels, acc, qn->channels,
                                         &qn->os, out, qn->channels);
        }
        if (qn->weights4)
            return tq_s4_fully_connected(1, qn->in_features, qn->channels, in,
                                         qn->input_offset, qn->weights4,
                                         qn->bias, &qn->os, out, scratch,
                                         s->scratch_bytes);
        return tq_s8_fully_connected(1, qn->in_features, qn->channels, in,
                                     qn->input_offset, qn->weights, 0,
                                     qn->bias, &qn->os, out);
    case TQ__Q_MAX_POOL:
        return tq_s8_max_pool(&qn->pool, &s->in_dims, in, qn->act_min,
                              qn->act_max, &s->out_dims, out);
    case TQ__Q_AVG_POOL:
        return tq_s8_avg_pool(&qn->pool, &s->in_dims, in, qn->act_min,
                              qn->act_max, &s->out_dims, out);
    case TQ__Q_ADD:
        return tq_s8_add(count, in, in1, &qn->add, out);
    case TQ__Q_LOOKUP:
        return tq_s8_lookup(count, in, qn->tables, out);
    case TQ__Q_CONCAT: {
        const tq_dims d1 = tq__graph_dims(x->g, n->inputs[1], 1);
        const size_t pixels = count / (size_t)s->out_dims.c;
        const size_t c0 = (size_t)s->in_dims.c, c1 = (size_t)d1.c;
        for (size_t p = 0; p < pixels; ++p) {
            TQ_CHECK(tq_s8_lookup(c0, in + p * c0, qn->tables,
                                  out + p * (c0 + c1)));
            TQ_CHECK(tq_s8_lookup(c1, in1 + p * c1, qn->tables + 256,
                                  out + p * (c0 + c1) + c0));
        }
        return TQ_OK;
    }
    default:
        return TQ_ERR_UNSUPPORTED;
    }
}

/* The exported steps against tq_graph_run_s8() on two inputs. */
static tq_status host_check(ectx *x)
{
    const tq_graph *g = x->g;
    const size_t ni = g->tensors[g->input].numel;
    const size_t no = g->tensors[g->output].numel;
    const int32_t last = g->q->output_node;
    const int fc_out = last >= 0 && g->nodes[last].q->kind == TQ__Q_FC;
    size_t run_bytes;
    TQ_CHECK(tq_graph_arena_size(g, 1, &run_bytes));
    int8_t *arena = malloc(x->arena_bytes + 1), *ref_arena = malloc(run_bytes);
    int8_t *input = malloc(ni), *y = malloc(no), *ref = malloc(no);
    int32_t *acc = calloc(no, sizeof *acc), *ref_acc = calloc(no, sizeof *acc);
    tq_status s = arena && ref_arena && input && y && ref && acc && ref_acc
                      ? TQ_OK
                      : efail(x, TQ_ERR_NO_MEMORY, "out of memory");
    for (int pass = 0; pass < 2 && s == TQ_OK; ++pass) {
        for (size_t i = 0; i < ni; ++i)
            input[i] = (int8_t)(pass ? (int)((i * 97u + 13u) % 256u) - 128
                                     : g->tensors[g->input].zero_point[0]);
        memset(arena, 0x5a, x->arena_bytes + 1);
        memcpy(arena + off(g, g->input), input, ni);
        for (int32_t k = 0; k < x->n && s == TQ_OK; ++k) {
            /* Accumulators asked for in the first pass only, so that both
             * forms of an FC output layer are checked. */
            s = exec_step(x, &x->steps[k], arena, pass ? NULL : acc);
            if (s != TQ_OK)
                s = efail(x, s, "host run of the exported code: node %s: %s",
                          g->nodes[x->steps[k].node].name,
                          tq_status_message(s));
        }
        if (s != TQ_OK)
            break;
        memcpy(y, arena + off(g, g->output), no);
        if ((unsigned char)arena[x->arena_bytes] != 0x5a) {
            s = efail(x, TQ_ERR_BUFFER_TOO_SMALL, "the exported code wrote "
                      "past its arena");
            break;
        }
        s = tq_graph_run_s8(g, 1, input, ref, fc_out ? ref_acc : NULL,
                            ref_arena, run_bytes);
        if (s != TQ_OK) {
            s = efail(x, s, "tq_graph_run_s8: %s", tq_graph_error(g));
            break;
        }
        if (memcmp(y, ref, no) != 0 ||
            (fc_out && !pass && memcmp(acc, ref_acc, no * sizeof *acc) != 0))
            s = efail(x, TQ_ERR_PARAM, "the exported code's %s differ from "
                      "tq_graph_run_s8's (input %d)",
                      memcmp(y, ref, no) ? "outputs" : "accumulators", pass);
    }
    free(arena);
    free(ref_arena);
    free(input);
    free(y);
    free(ref);
    free(acc);
    free(ref_acc);
    return s;
}

/* ---- printing ------------------------------------------------------------------ */

static void put_bytes(FILE *f, const char *decl, const int8_t *v, size_t n)
{
    fprintf(f, "%s[%zu] = {", decl, n ? n : 1);
    for (size_t i = 0; i < n; ++i)
        fprintf(f, "%s%d", i == 0 ? "\n    " : (i % 24 ? "," : ",\n    "),
                v[i]);
    fprintf(f, "%s};\n", n ? "" : "0");
}

static void put_ints(FILE *f, const char *decl, const int32_t *v, size_t n)
{
    fprintf(f, "%s[%zu] = {", decl, n ? n : 1);
    for (size_t i = 0; i < n; ++i)
        fprintf(f, "%s%ld", i == 0 ? "\n    " : (i % 10 ? "," : ",\n    "),
                (long)v[i]);
    fprintf(f, "%s};\n", n ? "" : "0");
}

static void put_dims(FILE *f, const char *name, const tq_dims *d)
{
    fprintf(f, "static const tq_dims %s = {.n = %d, .h = %d, .w = %d, "
            ".c = %d};\n", name, (int)d->n, (int)d->h, (int)d->w, (int)d->c);
}

static void put_os(FILE *f, int32_t k, const struct tq__qnode *qn)
{
    const int32_t nm = qn->os.per_channel ? qn->channels : 1;
    char decl[64];
    snprintf(decl, sizeof decl, "static const int32_t mult%d", (int)k);
    put_ints(f, decl, qn->mult, (size_t)nm);
    snprintf(decl, sizeof decl, "static const int32_t shift%d", (int)k);
    put_ints(f, decl, qn->shift, (size_t)nm);
    fprintf(f, "static const tq_s8_output os%d = {mult%d, shift%d, %d, %d, "
            "%d, %d, %d};\n", (int)k, (int)k, (int)k, (int)qn->os.per_channel,
            (int)qn->os.rounding, (int)qn->os.output_offset,
            (int)qn->os.act_min, (int)qn->os.act_max);
}

static void put_add(FILE *f, int32_t k, const tq_s8_add_params *a)
{
    fprintf(f, "static const tq_s8_add_params add%d = {%ld, %ld, %ld, %ld, "
            "%ld, %ld, %ld, %ld, %ld, %ld, %ld, %ld, %ld};\n", (int)k,
            (long)a->input1_offset, (long)a->input1_multiplier,
            (long)a->input1_shift, (long)a->input2_offset,
            (long)a->input2_multiplier, (long)a->input2_shift,
            (long)a->left_shift, (long)a->output_multiplier,
            (long)a->output_shift, (long)a->output_offset, (long)a->act_min,
            (long)a->act_max, (long)a->rounding);
}

static void put_u8(FILE *f, const char *decl, const uint8_t *v, size_t n)
{
    fprintf(f, "%s[%zu] = {", decl, n ? n : 1);
    for (size_t i = 0; i < n; ++i)
        fprintf(f, "%s%u", i == 0 ? "\n    " : (i % 24 ? "," : ",\n    "),
                (unsigned)v[i]);
    fprintf(f, "%s};\n", n ? "" : "0");
}

static void put_i64(FILE *f, const char *decl, const int64_t *v, size_t n)
{
    fprintf(f, "%s[%zu] = {", decl, n ? n : 1);
    for (size_t i = 0; i < n; ++i) {
        fprintf(f, "%s", i == 0 ? "\n    " : (i % 6 ? "," : ",\n    "));
        if (v[i] == INT64_MIN) /* no such literal */
            fprintf(f, "INT64_MIN");
        else
            fprintf(f, "INT64_C(%lld)", (long long)v[i]);
    }
    fprintf(f, "%s};\n", n ? "" : "0");
}

static void put_os16(FILE *f, int32_t k, const struct tq__qnode *qn)
{
    const int32_t nm = qn->os16.per_channel ? qn->channels : 1;
    char decl[64];
    snprintf(decl, sizeof decl, "static const int32_t mult%d", (int)k);
    put_ints(f, decl, qn->mult, (size_t)nm);
    snprintf(decl, sizeof decl, "static const int32_t shift%d", (int)k);
    put_ints(f, decl, qn->shift, (size_t)nm);
    fprintf(f, "static const tq_s16_output os%d = {mult%d, shift%d, %d, %d, "
            "%d, %d};\n", (int)k, (int)k, (int)k, (int)qn->os16.per_channel,
            (int)qn->os16.rounding, (int)qn->os16.act_min,
            (int)qn->os16.act_max);
}

/* Weights (int8 codes, or packed int4 bytes), bias (int32, or int64 for a
 * 16x8 node) and output stage of node @p k. */
static void put_weights(FILE *f, int32_t k, const struct tq__qnode *qn)
{
    const size_t count = weight_count(qn);
    char decl[64];
    if (qn->weights4) {
        snprintf(decl, sizeof decl, "static const uint8_t w%d", (int)k);
        put_u8(f, decl, qn->weights4, tq_s4_packed_size(count));
    } else {
        snprintf(decl, sizeof decl, "static const int8_t w%d", (int)k);
        put_bytes(f, decl, qn->weights, count);
    }
    if (qn->dtype == TQ_S16) {
        if (qn->bias64) {
            snprintf(decl, sizeof decl, "static const int64_t b%d", (int)k);
            put_i64(f, decl, qn->bias64, (size_t)qn->channels);
        }
        put_os16(f, k, qn);
        return;
    }
    if (qn->bias) {
        snprintf(decl, sizeof decl, "static const int32_t b%d", (int)k);
        put_ints(f, decl, qn->bias, (size_t)qn->channels);
    }
    put_os(f, k, qn);
}

static void upper(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; src[i] && i + 1 < n; ++i)
        dst[i] = (char)toupper((unsigned char)src[i]);
    dst[i] = 0;
}

static int write_header(const ectx *x, const char *path, const char *p)
{
    const tq_graph *g = x->g;
    const tq__tensor *ti = &g->tensors[g->input], *to = &g->tensors[g->output];
    const int32_t last = g->q->output_node;
    char P[80];
    upper(P, p, sizeof P);
    FILE *f = fopen(path, "w");
    if (!f)
        return 0;
    fprintf(f, "/* Generated by tinyq %d.%d.%d (tq_graph_export_c): a quantized "
            "graph of %d nodes\n * as calls to tinyq's integer kernels over one "
            "static arena. Do not edit. */\n",
            TQ_VERSION_MAJOR, TQ_VERSION_MINOR, TQ_VERSION_PATCH,
            (int)g->n_nodes);
    fprintf(f, "#ifndef %s_H\n#define %s_H\n\n#include <stdint.h>\n\n"
            "#include \"tinyq.h\"\n\n", P, P);
    fprintf(f, "/* Bytes of the static arena: activations and each "
            "kernel's scratch, planned\n * over their lifetimes (lower "
            "bound %zu). */\n", g->act_lower_bound);
    fprintf(f, "#define %s_ARENA_BYTES %zu\n", P, x->arena_bytes);
    fprintf(f, "/* The int8 input (NHWC, one sample) and output. */\n");
    fprintf(f, "#define %s_INPUT_BYTES %zu\n#define %s_OUTPUTS %zu\n", P,
            ti->numel, P, to->numel);
    fprintf(f, "/* Input quantization: q = clamp(round(x / scale) + "
            "zero_point). */\n");
    fprintf(f, "#define %s_INPUT_SCALE %.9gf\n#define %s_INPUT_ZERO_POINT %d\n",
            P, (double)ti->scale[0], P, (int)ti->zero_point[0]);
    fprintf(f, "/* Output dequantization: x = (q - zero_point) · scale. */\n");
    fprintf(f, "#define %s_OUTPUT_SCALE %.9gf\n#define %s_OUTPUT_ZERO_POINT "
            "%d\n", P, (double)to->scale[0], P, (int)to->zero_point[0]);
    fprintf(f, "/* 1 when %s_run() can give the output layer's int32 "
            "accumulators. */\n#define %s_HAS_ACCUMULATORS %d\n\n", p, P,
            last >= 0 && g->nodes[last].q->kind == TQ__Q_FC);
    fprintf(f, "/* Where to write the int8 input (%s_INPUT_BYTES, inside the "
            "arena). */\nint8_t *%s_input(void);\n\n", P, p);
    fprintf(f, "/* Run the network on the input: %s_OUTPUTS int8 outputs, "
            "and (if not NULL and\n * %s_HAS_ACCUMULATORS) the output "
            "layer's accumulators. */\ntq_status %s_run(int8_t *output, "
            "int32_t *accumulators);\n\n#endif\n", P, P, p);
    return fclose(f) == 0;
}

/* The call of 16x8 step @p k (as exec_step16). */
static void put_call16(FILE *f, int32_t k, const step *s,
                       const struct tq__qnode *qn, const char *b)
{
    const int i = (int)k;
    const size_t count = (size_t)s->out_dims.h * (size_t)s->out_dims.w *
                         (size_t)s->out_dims.c;
    switch (s->kind) {
    case TQ__Q_CONV:
        fprintf(f, "    s = tq_s16_conv2d(&conv%d, &in%d, A16(%zu), &filter%d, "
                "w%d, %s, TQ_S64, &os%d, &out%d, A16(%zu), arena + %zu, %zu);\n",
                i, i, s->in, i, i, b, i, i, s->out, s->scratch,
                s->scratch_bytes);
        break;
    case TQ__Q_DEPTHWISE:
        fprintf(f, "    s = tq_s16_depthwise_conv2d(&conv%d, &in%d, A16(%zu), "
                "&filter%d, w%d, %s, TQ_S64, &os%d, &out%d, A16(%zu));\n", i,
                i, s->in, i, i, b, i, i, s->out);
        break;
    case TQ__Q_FC:
        fprintf(f, "    s = tq_s16_fully_connected(1, %d, %d, A16(%zu), w%d, "
                "%s, TQ_S64, &os%d, A16(%zu));\n", (int)qn->in_features,
                (int)qn->channels, s->in, i, b, i, s->out);
        break;
    case TQ__Q_CONV_POOL: {
        /* The conv into the scratch, then the 2x2 max pool of stride 2. */
        const tq_dims cd = tq__qnode_conv_dims(qn, &s->in_dims);
        const size_t cb = conv_pool16_bytes(s, qn);
        fprintf(f, "    {\n        static const tq_dims conv_out = {.n = %d, "
                ".h = %d, .w = %d, .c = %d};\n        static const "
                "tq_pool_params pool = {.kernel_h = 2, .kernel_w = 2, "
                ".stride_h = 2, .stride_w = 2};\n        s = tq_s16_conv2d("
                "&conv%d, &in%d, A16(%zu), &filter%d, w%d, %s, TQ_S64, "
                "&os%d, &conv_out, A16(%zu), arena + %zu, %zu);\n"
                "        if (s == TQ_OK)\n"
                "            s = tq_s16_max_pool(&pool, &conv_out, A16(%zu), "
                "-32768, 32767, &out%d, A16(%zu));\n    }\n", (int)cd.n,
                (int)cd.h, (int)cd.w, (int)cd.c, i, i, s->in, i, i, b, i,
                s->scratch, s->scratch + cb, s->scratch_bytes - cb,
                s->scratch, i, s->out);
        break;
    }
    case TQ__Q_MAX_POOL:
    case TQ__Q_AVG_POOL:
        fprintf(f, "    s = %s(&pool%d, &in%d, A16(%zu), %d, %d, &out%d, "
                "A16(%zu));\n",
                s->kind == TQ__Q_MAX_POOL ? "tq_s16_max_pool"
                                          : "tq_s16_avg_pool",
                i, i, s->in, (int)qn->act_min, (int)qn->act_max, i, s->out);
        break;
    case TQ__Q_ADD:
        fprintf(f, "    s = tq_s16_add(%zu, A16(%zu), A16(%zu), &add%d, "
                "A16(%zu));\n", count, s->in, s->in1, i, s->out);
        break;
    default:
        break;
    }
}

/* The call of int8 step @p k with packed int4 weights (as exec_step). */
static void put_call4(FILE *f, int32_t k, const step *s,
                      const struct tq__qnode *qn, const char *b)
{
    const int i = (int)k;
    const size_t wcount = weight_count(qn);
    switch (s->kind) {
    case TQ__Q_CONV:
        fprintf(f, "    s = tq_s4_conv2d(&conv%d, &in%d, arena + %zu, %d, "
                "&filter%d, w%d, %s, &os%d, &out%d, arena + %zu, arena + %zu, "
                "%zu);\n", i, i, s->in, (int)qn->input_offset, i, i, b, i, i,
                s->out, s->scratch, s->scratch_bytes);
        break;
    case TQ__Q_CONV_POOL: {
        /* The int4 filter unpacked at the start of the scratch. */
        const size_t wb = align16(wcount);
        fprintf(f, "    s = tq_s4_unpack(%zu, w%d, arena + %zu);\n    if (s "
                "== TQ_OK)\n        s = tq_s8_conv2d_relu_maxpool2(&conv%d, "
                "&in%d, arena + %zu, %d, &filter%d, arena + %zu, %s, &os%d, "
                "&out%d, arena + %zu, arena + %zu, %zu);\n", wcount, i,
                s->scratch, i, i, s->in, (int)qn->input_offset, i, s->scratch,
                b, i, i, s->out, s->scratch + wb, s->scratch_bytes - wb);
        break;
    }
    case TQ__Q_DEPTHWISE:
        fprintf(f, "    s = tq_s4_depthwise_conv2d(&conv%d, &in%d, arena + "
                "%zu, %d, &filter%d, w%d, %s, &os%d, &out%d, arena + %zu);\n",
                i, i, s->in, (int)qn->input_offset, i, i, b, i, i, s->out);
        break;
    case TQ__Q_FC:
        if (s->acc)
            fprintf(f, "    if (accumulators) {\n        /* The int4 weights "
                    "unpacked into the scratch. */\n        s = "
                    "tq_s4_unpack(%zu, w%d, arena + %zu);\n        if (s == "
                    "TQ_OK)\n            s = tq_s8_gemm_s32(1, %d, %d, arena + "
                    "%zu, %d, %d, arena + %zu, %d, 0, %s, accumulators, %d);\n"
                    "        if (s == TQ_OK)\n            s = "
                    "tq_s8_requantize_rows(1, %d, accumulators, %d, &os%d, "
                    "arena + %zu, %d);\n    } else\n    ", wcount, i,
                    s->scratch, (int)qn->channels, (int)qn->in_features,
                    s->in, (int)qn->in_features, (int)qn->input_offset,
                    s->scratch, (int)qn->in_features, b, (int)qn->channels,
                    (int)qn->channels, (int)qn->channels, i, s->out,
                    (int)qn->channels);
        fprintf(f, "    s = tq_s4_fully_connected(1, %d, %d, arena + %zu, %d, "
                "w%d, %s, &os%d, arena + %zu, arena + %zu, %zu);\n",
                (int)qn->in_features, (int)qn->channels, s->in,
                (int)qn->input_offset, i, b, i, s->out, s->scratch,
                s->scratch_bytes);
        break;
    default:
        break;
    }
}

static int write_source(const ectx *x, const char *path, const char *p)
{
    const tq_graph *g = x->g;
    char P[80];
    upper(P, p, sizeof P);
    FILE *f = fopen(path, "w");
    if (!f)
        return 0;
    fprintf(f, "/* Generated by tinyq (tq_graph_export_c). Do not edit. */\n"
            "#include <string.h>\n\n#include \"%s.h\"\n\n", p);
    fprintf(f, "/* Activations and kernel scratch at their planned offsets. "
            "*/\nstatic _Alignas(16) int8_t arena[%s_ARENA_BYTES];\n\n", P);
    int any16 = 0, any_cvt = 0;
    for (int32_t k = 0; k < x->n; ++k) {
        any16 |= g->nodes[x->steps[k].node].q->dtype == TQ_S16;
        any_cvt |= x->steps[k].kind == TQ__Q_CONVERT;
    }
    if (any16)
        fprintf(f, "/* An int16 tensor (or scratch) at byte offset o of the "
                "arena. */\n#define A16(o) ((int16_t *)(void *)(arena + (o)))"
                "\n\n");
    if (any_cvt)
        fputs(CONVERT_SOURCE, f);
    for (int32_t k = 0; k < x->n; ++k) {
        const step *s = &x->steps[k];
        const tq__node *n = &g->nodes[s->node];
        const struct tq__qnode *qn = n->q;
        char name[32];
        fprintf(f, "/* %d: %s (%s) */\n", (int)k, n->name, tq__op_name(n->op));
        if (s->kind == TQ__Q_CONV || s->kind == TQ__Q_CONV_POOL ||
            s->kind == TQ__Q_DEPTHWISE || s->kind == TQ__Q_MAX_POOL ||
            s->kind == TQ__Q_AVG_POOL) {
            snprintf(name, sizeof name, "in%d", (int)k);
            put_dims(f, name, &s->in_dims);
            snprintf(name, sizeof name, "out%d", (int)k);
            put_dims(f, name, &s->out_dims);
        }
        switch (s->kind) {
        case TQ__Q_CONV:
        case TQ__Q_CONV_POOL:
        case TQ__Q_DEPTHWISE: {
            const tq_conv_params *c = &qn->conv;
            fprintf(f, "static const tq_conv_params conv%d = {.stride_h = %d, "
                    ".stride_w = %d, .pad_top = %d, .pad_bottom = %d, "
                    ".pad_left = %d, .pad_right = %d, .dilation_h = %d, "
                    ".dilation_w = %d, .groups = %d};\n", (int)k,
                    (int)c->stride_h, (int)c->stride_w, (int)c->pad_top,
                    (int)c->pad_bottom, (int)c->pad_left, (int)c->pad_right,
                    (int)c->dilation_h, (int)c->dilation_w, (int)c->groups);
            snprintf(name, sizeof name, "filter%d", (int)k);
            put_dims(f, name, &qn->filter);
            put_weights(f, k, qn);
            if (s->fused_add >= 0) {
                tq_s8_add_params ap;
                tq__graph_fused_add_params(&g->nodes[s->fused_add], &ap);
                put_add(f, k, &ap);
            }
            break;
        }
        case TQ__Q_FC:
            put_weights(f, k, qn);
            break;
        case TQ__Q_MAX_POOL:
        case TQ__Q_AVG_POOL: {
            const tq_pool_params *q = &qn->pool;
            fprintf(f, "static const tq_pool_params pool%d = {.kernel_h = %d, "
                    ".kernel_w = %d, .stride_h = %d, .stride_w = %d, "
                    ".pad_top = %d, .pad_bottom = %d, .pad_left = %d, "
                    ".pad_right = %d};\n", (int)k, (int)q->kernel_h,
                    (int)q->kernel_w, (int)q->stride_h, (int)q->stride_w,
                    (int)q->pad_top, (int)q->pad_bottom, (int)q->pad_left,
                    (int)q->pad_right);
            break;
        }
        case TQ__Q_ADD:
            put_add(f, k, &qn->add);
            break;
        case TQ__Q_CONVERT: {
            const tq__qcvt *c = qn->cvt;
            fprintf(f, "static const convert_params cvt%d = {%d, %d, %ld, %ld, "
                    "%ld, %ld, %ld, %ld};\n", (int)k, c->from == TQ_S16,
                    c->to == TQ_S16, (long)c->mult, (long)c->shift,
                    (long)c->in_zp, (long)c->out_zp, (long)c->lo, (long)c->hi);
            break;
        }
        case TQ__Q_LOOKUP:
        case TQ__Q_CONCAT: {
            char decl[64];
            snprintf(decl, sizeof decl, "static const int8_t table%d", (int)k);
            put_bytes(f, decl, qn->tables, (size_t)qn->n_tables * 256);
            break;
        }
        default:
            break;
        }
        fprintf(f, "\n");
    }
    fprintf(f, "int8_t *%s_input(void)\n{\n    return arena + %zu;\n}\n\n", p,
            off(g, g->input));
    fprintf(f, "tq_status %s_run(int8_t *output, int32_t *accumulators)\n{\n"
            "    tq_status s;\n    (void)accumulators;\n", p);
    for (int32_t k = 0; k < x->n; ++k) {
        const step *s = &x->steps[k];
        const struct tq__qnode *qn = g->nodes[s->node].q;
        const size_t count = (size_t)s->out_dims.h * (size_t)s->out_dims.w *
                             (size_t)s->out_dims.c;
        char b[16];
        if (qn->dtype == TQ_S16 ? qn->bias64 != NULL : qn->bias != NULL)
            snprintf(b, sizeof b, "b%d", (int)k);
        else
            snprintf(b, sizeof b, "NULL");
        if (s->kind == TQ__Q_CONVERT) {
            fprintf(f, "    s = convert(%zu, &cvt%d, %d, arena + %zu, arena + "
                    "%zu);\n", count, (int)k, (int)g->q->config.rounding,
                    s->in, s->out);
            fprintf(f, "    if (s != TQ_OK)\n        return s;\n");
            continue;
        }
        if (qn->dtype == TQ_S16) {
            put_call16(f, k, s, qn, b);
            fprintf(f, "    if (s != TQ_OK)\n        return s;\n");
            continue;
        }
        if (qn->weights4) {
            put_call4(f, k, s, qn, b);
            fprintf(f, "    if (s != TQ_OK)\n        return s;\n");
            continue;
        }
        switch (s->kind) {
        case TQ__Q_CONV:
        case TQ__Q_CONV_POOL:
            if (s->fused_add >= 0) {
                fprintf(f, "    s = tq_s8_conv2d_add(&conv%d, &in%d, arena + "
                        "%zu, %d, &filter%d, w%d, %s, &os%d, &out%d, arena + "
                        "%zu, &add%d, arena + %zu, arena + %zu, %zu);\n",
                        (int)k, (int)k, s->in, (int)qn->input_offset, (int)k,
                        (int)k, b, (int)k, (int)k, s->in1, (int)k, s->out,
                        s->scratch, s->scratch_bytes);
                break;
            }
            fprintf(f, "    s = %s(&conv%d, &in%d, arena + %zu, %d, &filter%d, "
                    "w%d, %s, &os%d, &out%d, arena + %zu, arena + %zu, "
                    "%zu);\n",
                    s->kind == TQ__Q_CONV ? "tq_s8_conv2d"
                                          : "tq_s8_conv2d_relu_maxpool2",
                    (int)k, (int)k, s->in, (int)qn->input_offset, (int)k,
                    (int)k, b, (int)k, (int)k, s->out, s->scratch,
                    s->scratch_bytes);
            break;
        case TQ__Q_DEPTHWISE:
            fprintf(f, "    s = tq_s8_depthwise_conv2d(&conv%d, &in%d, arena + "
                    "%zu, %d, &filter%d, w%d, %s, &os%d, &out%d, arena + "
                    "%zu);\n", (int)k, (int)k, s->in, (int)qn->input_offset,
                    (int)k, (int)k, b, (int)k, (int)k, s->out);
            break;
        case TQ__Q_FC:
            if (s->acc)
                fprintf(f, "    if (accumulators) {\n        s = "
                        "tq_s8_gemm_s32(1, %d, %d, arena + %zu, %d, %d, w%d, "
                        "%d, 0, %s, accumulators, %d);\n        if (s == TQ_OK)"
                        "\n            s = tq_s8_requantize_rows(1, %d, "
                        "accumulators, %d, &os%d, arena + %zu, %d);\n    } "
                        "else\n    ", (int)qn->channels, (int)qn->in_features,
                        s->in, (int)qn->in_features, (int)qn->input_offset,
                        (int)k, (int)qn->in_features, b, (int)qn->channels,
                        (int)qn->channels, (int)qn->channels, (int)k, s->out,
                        (int)qn->channels);
            fprintf(f, "    s = tq_s8_fully_connected(1, %d, %d, arena + %zu, "
                    "%d, w%d, 0, %s, &os%d, arena + %zu);\n",
                    (int)qn->in_features, (int)qn->channels, s->in,
                    (int)qn->input_offset, (int)k, b, (int)k, s->out);
            break;
        case TQ__Q_MAX_POOL:
        case TQ__Q_AVG_POOL:
            fprintf(f, "    s = %s(&pool%d, &in%d, arena + %zu, %d, %d, "
                    "&out%d, arena + %zu);\n",
                    s->kind == TQ__Q_MAX_POOL ? "tq_s8_max_pool"
                                              : "tq_s8_avg_pool",
                    (int)k, (int)k, s->in, (int)qn->act_min, (int)qn->act_max,
                    (int)k, s->out);
            break;
        case TQ__Q_ADD:
            fprintf(f, "    s = tq_s8_add(%zu, arena + %zu, arena + %zu, "
                    "&add%d, arena + %zu);\n", count, s->in, s->in1, (int)k,
                    s->out);
            break;
        case TQ__Q_LOOKUP:
            fprintf(f, "    s = tq_s8_lookup(%zu, arena + %zu, table%d, arena "
                    "+ %zu);\n", count, s->in, (int)k, s->out);
            break;
        case TQ__Q_CONCAT: {
            const tq_dims d1 = tq__graph_dims(g, g->nodes[s->node].inputs[1], 1);
            const int c0 = (int)s->in_dims.c, c1 = (int)d1.c;
            fprintf(f, "    s = TQ_OK;\n    for (size_t p = 0; p < %zu && s == "
                    "TQ_OK; ++p) {\n        s = tq_s8_lookup(%d, arena + %zu "
                    "+ p * %d, table%d, arena + %zu + p * %d);\n        if (s "
                    "== TQ_OK)\n            s = tq_s8_lookup(%d, arena + %zu + "
                    "p * %d, table%d + 256, arena + %zu + p * %d + %d);\n    "
                    "}\n", count / (size_t)s->out_dims.c, c0, s->in, c0,
                    (int)k, s->out, c0 + c1, c1, s->in1, c1, (int)k, s->out,
                    c0 + c1, c0);
            break;
        }
        default:
            break;
        }
        fprintf(f, "    if (s != TQ_OK)\n        return s;\n");
    }
    fprintf(f, "    memcpy(output, arena + %zu, %s_OUTPUTS);\n    return "
            "TQ_OK;\n}\n", off(g, g->output), P);
    return fclose(f) == 0;
}

static int valid_prefix(const char *p)
{
    if (!p[0] || strlen(p) > 40 || !(isalpha((unsigned char)p[0]) || p[0] == '_'))
        return 0;
    for (; *p; ++p)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return 0;
    return 1;
}

tq_status tq_graph_export_c(const tq_graph *graph, const char *prefix,
                            const char *out_dir, char *message,
                            size_t message_size)
{
    ectx ctx = {graph, NULL, 0, 0, message, message_size};
    ectx *x = &ctx;
    if (!graph || !prefix || !out_dir)
        return efail(x, TQ_ERR_NULL, "a NULL argument");
    if (!graph->finalized || !graph->quantized || !graph->q)
        return efail(x, TQ_ERR_PARAM, "only a quantized graph can be exported");
    if (!valid_prefix(prefix))
        return efail(x, TQ_ERR_PARAM, "prefix \"%.60s\" is not a C identifier "
                     "of at most 40 characters", prefix);
    tq_status s = make_steps(x);
    if (s == TQ_OK)
        s = host_check(x);
    if (s == TQ_OK) {
        const size_t n = strlen(out_dir) + strlen(prefix) + 4;
        char *h = malloc(n), *c = malloc(n);
        if (!h || !c)
            s = efail(x, TQ_ERR_NO_MEMORY, "out of memory");
        if (s == TQ_OK) {
            snprintf(h, n, "%s/%s.h", out_dir, prefix);
            snprintf(c, n, "%s/%s.c", out_dir, prefix);
            if (!write_header(x, h, prefix))
                s = efail(x, TQ_ERR_IO, "cannot write %s", h);
            else if (!write_source(x, c, prefix))
                s = efail(x, TQ_ERR_IO, "cannot write %s", c);
        }
        free(h);
        free(c);
    }
    free(x->steps);
    if (s == TQ_OK && message && message_size)
        message[0] = '\0';
    return s;
}
