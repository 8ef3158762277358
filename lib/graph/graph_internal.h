/*
 * The internal representation of a tq_graph (host only), shared by the
 * builder (graph.c), the rewrites (rewrite.c), the planner glue and the
 * runners (run_f32.c here; the calibrator, quantizer and int8 runner of
 * lib/graph/quant*.c). Nothing here is exported.
 *
 * Ownership: a graph owns every array reachable from it (names, input
 * lists, constant data, quantization parameters, folded-BN data). The
 * quantization slots (tq__tensor::scale / zero_point, tq__node::q,
 * tq_graph::q) are filled by the quantizer; scale and zero_point are
 * released with free(), the opaque q slots by the graph's q_free hook.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_GRAPH_INTERNAL_H
#define TQ_GRAPH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../tq_internal.h"

/* Alignment of the arena base inside the run functions, and the slack that
 * tq_graph_arena_size() adds for it. */
#define TQ__GRAPH_ARENA_ALIGN 64

/* Alignment of every activation's per-sample offset in a float plan
 * (multiplying by the batch keeps it). */
#define TQ__GRAPH_F32_ALIGN 16

/* Length of the error buffer (tq_graph_error()). */
#define TQ__GRAPH_ERROR_LEN 512

/* What a tensor is. */
typedef enum tq__tensor_kind {
    TQ__TENSOR_INPUT = 0,      /* the graph input (one per graph) */
    TQ__TENSOR_CONSTANT = 1,   /* weights and other constants (data owned) */
    TQ__TENSOR_ACTIVATION = 2  /* the output of a node */
} tq__tensor_kind;

typedef struct tq__tensor {
    char *name;                 /* owned, never NULL */
    int32_t dtype;              /* TQ_F32 in a float graph; the quantizer sets
                                   TQ_S8 / TQ_S32 */
    int32_t ndim;               /* 1..TQ_MAX_DIMS (constants: 0..) */
    int64_t shape[TQ_MAX_DIMS]; /* one sample (leading 1) for activations */
    size_t numel;               /* elements (one sample for activations) */
    int32_t kind;               /* a tq__tensor_kind */
    int32_t producer;           /* index in tq_graph::nodes, or -1 */
    void *data;                 /* constants: numel elements of dtype, owned;
                                   else NULL */
    /* Quantization parameters (set by the quantizer; 0 / NULL in a float
     * graph): qcount is 0, 1 (per tensor) or the extent of axis qaxis. */
    int64_t qcount;
    float *scale;               /* qcount values, owned (free()) */
    int32_t *zero_point;        /* qcount values, owned (free()) */
    int32_t qaxis;
    /* Plan (finalize; activations and the input only). */
    int32_t used;               /* 1 if a live node (or the output) reads or
                                   writes it after finalization */
    int32_t alias;              /* the tensor whose storage this one shares
                                   (RESHAPE / IDENTITY output), followed to
                                   the root; -1 if it has its own */
    int32_t buffer;             /* planner buffer of its storage, or -1 */
    size_t offset;              /* per-sample byte offset of its storage in
                                   the arena (an alias: the root's) */
} tq__tensor;

typedef struct tq__node {
    char *name;                 /* owned, never NULL */
    int32_t op;                 /* a tq_op */
    int32_t n_inputs;
    int32_t *inputs;            /* owned, n_inputs tensor ids */
    int32_t output;             /* tensor id */
    tq_node_attrs attrs;
    /* BatchNorm folded into this node by the rewrite (bn_count channels,
     * else 0 / NULL): the node's output before its activation is, per
     * channel c, bn_scale[c] · x̂ + bn_shift[c] with x̂ the normalized
     * (zero-mean, unit-variance) pre-BN value, so for analytic bias
     * correction bn_shift is the expected output and |bn_scale| its
     * standard deviation. bn_scale = gamma / sqrt(var + eps), bn_shift =
     * beta, both updated when a later Mul / Add by a constant is folded
     * too. */
    int32_t bn_count;
    float *bn_scale;            /* owned */
    float *bn_shift;            /* owned */
    /* A BATCH_NORM node that was not folded runs as the per-channel affine
     * out = x · aff_scale[c] + aff_shift[c], computed at add time
     * (aff_count channels; 0 / NULL for other ops). */
    int32_t aff_count;
    float *aff_scale;           /* owned */
    float *aff_shift;           /* owned */
    /* Quantized parameters of this node (multipliers, shifts, int32 biases,
     * output stage ...), owned by the quantizer (freed by tq_graph::q_free). */
    struct tq__qnode *q;
    /* Plan (tq__graph_plan(); quantized graphs only, else -1 / 0). A conv
     * whose only reader is an int8 Add runs that Add in its output stage
     * (tq_s8_conv2d_add): the conv has fused_add = the Add's index, the Add
     * fused_by = the conv's and does nothing itself; the conv's output
     * tensor then has no storage. skip_input is the Add's input slot of
     * the other addend. Each node's kernel scratch is a buffer of the plan
     * too, at scratch_offset (per sample) of scratch_size bytes. */
    int32_t fused_add;
    int32_t fused_by;
    int32_t skip_input;
    size_t scratch_offset;
    size_t scratch_size;
} tq__node;

struct tq_graph {
    tq__tensor *tensors;
    int32_t n_tensors, cap_tensors;
    tq__node *nodes;            /* after finalize: live nodes, in execution
                                   order */
    int32_t n_nodes, cap_nodes;
    int32_t input;              /* tensor id, -1 until declared */
    int32_t output;             /* tensor id, -1 until set */
    int32_t finalized;          /* 1 after tq_graph_finalize() */
    int32_t quantized;          /* 1 for a graph made by tq_graph_quantize() */
    uint32_t rewrites;          /* the flags finalize applied */
    char error[TQ__GRAPH_ERROR_LEN];

    /* The arena plan (finalize, or tq__graph_plan() again after a change of
     * dtypes). Activations (input and output included) take per-sample
     * offsets in [0, act_bytes); a run over `batch` samples puts tensor t
     * at base + offset(t) · batch, and then the scratch region, shared by
     * every node (one node runs at a time), at
     * align64(act_bytes · batch), of the largest node scratch for that
     * batch (tq__graph_scratch_bytes()). */
    size_t act_bytes;           /* per sample */
    size_t act_lower_bound;     /* per sample: most bytes alive at one step */
    size_t act_align;           /* alignment of per-sample offsets */
    int32_t scratch_planned;    /* 1: act_bytes includes every node's
                                   scratch at its own offset (quantized
                                   graphs); a run whose batch needs more
                                   than batch times the planned bytes uses
                                   a shared region after the activations */

    /* Quantizer state, owned by the quantizer. */
    struct tq__qgraph *q;
    /* Frees g->q and every node's q (and sets them NULL); NULL when there is
     * nothing to free. Called by tq_graph_free(). */
    void (*q_free)(struct tq_graph *g);
    /* Bytes of kernel scratch node @p node needs over @p batch samples in a
     * quantized graph (the s8 kernels' queries); NULL in a float graph, where
     * tq__node_scratch_f32() answers. */
    tq_status (*q_scratch)(const struct tq_graph *g, int32_t node,
                           int64_t batch, size_t *bytes);
};

/* ---- errors --------------------------------------------------------------- */

/* Record the sentence in g->error (printf format) and return @p status. */
tq_status tq__graph_fail(tq_graph *g, tq_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clear the error at the start of a call. */
void tq__graph_ok(tq_graph *g);

/* A static name of an op ("Conv2D", ...), "unknown op" for others. */
const char *tq__op_name(int32_t op);

/* ---- building blocks ------------------------------------------------------ */

/* Append a tensor (the name is copied; NULL makes one up), return its id in
 * *id. data, if not NULL, is TAKEN (owned by the graph from then on, also on
 * failure). */
tq_status tq__graph_new_tensor(tq_graph *g, const char *name, int32_t kind,
                               int32_t dtype, int32_t ndim,
                               const int64_t *shape, void *data, int32_t *id);

/* A new f32 constant holding a copy of @p values (count values, shape
 * given), used by the rewrites for folded weights. */
tq_status tq__graph_new_constant_f32(tq_graph *g, const char *name,
                                     int32_t ndim, const int64_t *shape,
                                     const float *values, int32_t *id);

/* Deep copy of a graph (finalized or not): tensors, constants, nodes,
 * folded-BN data, plan. The quantization slots (scale / zero_point, the q
 * pointers and hooks) are NOT copied: the copy is a float graph. */
tq_status tq__graph_clone(const tq_graph *src, tq_graph **dst);

/* Number of nodes reading tensor @p t (each input slot counts), plus 1 if
 * it is the graph output. */
int32_t tq__graph_consumers(const tq_graph *g, int32_t t);

/* The tensor's storage root (follows tq__tensor::alias). */
static inline int32_t tq__graph_root(const tq_graph *g, int32_t t)
{
    return g->tensors[t].alias >= 0 ? g->tensors[t].alias : t;
}

/* Output shape and checks of a node as tq_graph_add_node() does them,
 * without adding anything: used again at finalize (validation) and by
 * the rewrites. On failure the error names the node, op and attribute. */
tq_status tq__graph_infer(tq_graph *g, const char *name, int32_t op,
                          int32_t n_inputs, const int32_t *inputs,
                          const tq_node_attrs *attrs, int32_t *ndim,
                          int64_t shape[TQ_MAX_DIMS]);

/* ---- finalize ------------------------------------------------------------- */

/* The rewrites of tq_graph_finalize() (rewrite.c): apply @p rewrites, mark
 * dead nodes and order the live ones topologically (g->nodes rebuilt,
 * tensor producers updated). */
tq_status tq__graph_rewrite(tq_graph *g, uint32_t rewrites);

/* (Re)make the arena plan from the tensors' dtypes (aliases, lifetimes,
 * offsets); @p align is the per-sample alignment of every buffer. */
tq_status tq__graph_plan(tq_graph *g, size_t align);

/* ---- running -------------------------------------------------------------- */

/* Bytes of f32 kernel scratch of node @p node over @p batch samples. */
tq_status tq__node_scratch_f32(const tq_graph *g, int32_t node, int64_t batch,
                               size_t *bytes);

/* Largest kernel scratch of any node over @p batch samples (through
 * q_scratch in a quantized graph). */
tq_status tq__graph_scratch_bytes(const tq_graph *g, int64_t batch,
                                  size_t *bytes);

/* The arena of a run: checks @p batch (>= 1, sizes fit int32 for the
 * kernels) and the arena size (TQ_ERR_BUFFER_TOO_SMALL), and gives the
 * 64-byte aligned base (tensor t at base + offset · batch) and the scratch
 * region, or NULL when every node's scratch has its planned place
 * (tq__graph_node_scratch()). */
tq_status tq__graph_arena(const tq_graph *g, int64_t batch, void *arena,
                          size_t arena_bytes, uint8_t **base,
                          uint8_t **scratch, size_t *scratch_bytes);

/* The scratch of node @p i in a run: its planned place when
 * tq__graph_arena() gave a NULL scratch region, else that region. */
static inline void tq__graph_node_scratch(const tq_graph *g, int32_t i,
                                          int64_t batch, uint8_t *base,
                                          uint8_t *region, size_t region_bytes,
                                          void **scratch, size_t *bytes)
{
    if (region) {
        *scratch = region;
        *bytes = region_bytes;
    } else {
        *scratch = base + g->nodes[i].scratch_offset * (size_t)batch;
        *bytes = g->nodes[i].scratch_size * (size_t)batch;
    }
}

/* Address of tensor @p t's storage in a run (see tq__graph_arena()). */
static inline void *tq__graph_tensor_at(const tq_graph *g, uint8_t *base,
                                        int32_t t, int64_t batch)
{
    return base + g->tensors[t].offset * (size_t)batch;
}

/* An activation's shape as NHWC dims over @p batch samples: 4-D
 * [1,H,W,C] -> {batch,H,W,C}; 2-D [1,F] -> {batch,1,1,F}; others
 * flattened to {batch,1,1,numel}. */
tq_dims tq__graph_dims(const tq_graph *g, int32_t t, int64_t batch);

#endif /* TQ_GRAPH_INTERNAL_H */
