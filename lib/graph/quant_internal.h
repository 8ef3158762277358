/*
 * Calibration, quantization and integer-only execution of a graph (host
 * only): the calibrator's state (calibrate.c), the per-node parameters the
 * quantizer computes once (quantize.c) and the int8 runner reads
 * (run_s8.c). Nothing here is exported.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_GRAPH_QUANT_INTERNAL_H
#define TQ_GRAPH_QUANT_INTERNAL_H

#include "graph_internal.h"

/* Length of the calibrator's error buffer (tq_calibrator_error()). */
#define TQ__CALIB_ERROR_LEN 512

/* Largest histogram a calibrator accepts per tensor (bins). */
#define TQ__CALIB_MAX_BINS (1 << 20)

/* One activation's observer. */
typedef struct tq__observer {
    int32_t observed;      /* 1: an activation with its own storage (input
                              or node output, not an alias) */
    tq_range_config range; /* its range method */
    tq_qscheme scheme;     /* its scheme */
    tq_stats stats;        /* pass 1 */
    uint64_t *bins;        /* pass 2 (owned), or NULL */
    tq_histogram hist;     /* pass 2, over pass 1's [min, max] */
    double lo, hi;         /* the chosen range, once calibration is done */
} tq__observer;

/* Calibration states. */
enum {
    TQ__CALIB_PASS1 = 1, /* statistics */
    TQ__CALIB_PASS2 = 2, /* histograms */
    TQ__CALIB_DONE = 3,  /* every range chosen */
    TQ__CALIB_BROKEN = 4 /* a second-pass feed failed half way */
};

struct tq_calibrator {
    const tq_graph *graph;
    tq_quant_config config;
    int32_t n_tensors;      /* graph->n_tensors */
    tq__observer *obs;      /* n_tensors observers */
    tq_stats *batch_stats;  /* n_tensors: one feed's pass-1 statistics,
                               merged only when the whole feed succeeded */
    int32_t state;          /* TQ__CALIB_* */
    int64_t fed;            /* samples fed in the current pass */
    int64_t fed_pass1;      /* samples fed in pass 1 */
    void *arena;            /* heap arena of the float runs */
    size_t arena_bytes;
    int32_t *dtype;         /* n_tensors: tq_calibrator_set_dtype()
                               overrides (activations at their root), 0
                               where none */
    int32_t default_act;    /* TQ_S8 or TQ_S16 (default activations) */
    int32_t default_weight; /* TQ_S8 or TQ_S4 (default weights) */
    tq_status hook_status;  /* the first failure inside a run's hook */
    int32_t hook_tensor;    /* its tensor */
    char error[TQ__CALIB_ERROR_LEN];
};

/* How run_s8.c executes a node. */
typedef enum tq__qkind {
    TQ__Q_CONV = 1,         /* tq_s8_conv2d (groups included) */
    TQ__Q_DEPTHWISE = 2,    /* tq_s8_depthwise_conv2d (also a per-channel
                               affine Mul / Add / BatchNorm as a 1x1
                               depthwise conv) */
    TQ__Q_FC = 3,           /* tq_s8_fully_connected */
    TQ__Q_CONV_POOL = 4,    /* tq_s8_conv2d_relu_maxpool2 */
    TQ__Q_MAX_POOL = 5,     /* tq_s8_max_pool */
    TQ__Q_AVG_POOL = 6,     /* tq_s8_avg_pool (global average pool too) */
    TQ__Q_ADD = 7,          /* tq_s8_add */
    TQ__Q_LOOKUP = 8,       /* tq_s8_lookup through tables[0] */
    TQ__Q_CONCAT = 9,       /* input i through tables[i] into its channels */
    TQ__Q_PAD = 10,         /* copy, borders at the zero point */
    TQ__Q_ALIAS = 11,       /* storage shared with the input: nothing to do */
    TQ__Q_CONVERT = 12      /* requantization int8 <-> int16 through cvt */
} tq__qkind;

/* The requantization of a conversion node (TFLite QUANTIZE int8 <->
 * int16): y = clamp(MBQM(x − in_zp, mult, shift) + out_zp, lo, hi). */
typedef struct tq__qcvt {
    int32_t from, to;         /* dtypes; from == 0: no conversion */
    int32_t mult, shift;
    int32_t in_zp, out_zp;
    int32_t lo, hi;
} tq__qcvt;

/* How node @p n can run in 16x8 (quantize.c): */
enum {
    TQ__S16_NO = 0,     /* int8 only */
    TQ__S16_YES = 1,    /* its output may be int16 (a 16x8 kernel) */
    TQ__S16_INPUT = 2   /* takes its input's type (pools, Pad) */
};
int32_t tq__node_s16(const tq_graph *g, const tq__node *n);

/* 1 if constant @p t is the weight (input 1) of a conv, depthwise, FC or
 * fused conv node of @p g. */
int32_t tq__is_weight(const tq_graph *g, int32_t t);

/* The first tensor of a quantized graph that is not int8 / int32 (an int16
 * activation, int4 weights, an int64 bias), or -1: the graph is mixed
 * precision. */
static inline int32_t tq__graph_mixed_tensor(const tq_graph *g)
{
    for (int32_t t = 0; t < g->n_tensors; ++t)
        if (g->tensors[t].dtype == TQ_S16 || g->tensors[t].dtype == TQ_S4 ||
            g->tensors[t].dtype == TQ_S64)
            return t;
    return -1;
}

/* The integer parameters of one node, computed once by the quantizer. */
struct tq__qnode {
    int32_t kind;             /* a tq__qkind */
    int32_t input_offset;     /* −zero point of input 0 */
    int32_t channels;         /* output channels (entries of mult / shift) */
    int32_t *mult, *shift;    /* owned; one or `channels` entries */
    tq_s8_output os;          /* points at mult / shift */
    const int8_t *weights;    /* codes: a constant's data, or own_weights */
    const int32_t *bias;      /* int32 codes, or NULL */
    int8_t *own_weights;      /* owned (the affine ops' 1x1 weights) */
    int32_t *own_bias;        /* owned (the affine ops' biases) */
    tq_dims filter;           /* conv / depthwise filter dims */
    tq_conv_params conv;      /* conv / depthwise geometry */
    int32_t in_features;      /* FC */
    int32_t act_min, act_max; /* pools */
    tq_pool_params pool;      /* pools (global average pool: the image) */
    tq_s8_add_params add;     /* ADD */
    int8_t *tables;           /* owned: n_tables × 256 codes */
    int32_t n_tables;
    int8_t pad_value;         /* PAD, and AVG_POOL with padded_pool: the
                                 input zero point */
    int32_t padded_pool;      /* AVG_POOL counting its padding: pad into the
                                 scratch with the zero point (real 0), then
                                 pool unpadded */
    void *packed;             /* FC and CONV: weights packed once (owned;
                                 tq_s8_pack_weights / tq_s8_conv2d_pack),
                                 or NULL */
    size_t packed_bytes;
    /* Mixed precision (0 / NULL in an all-int8 node). */
    int32_t dtype;            /* the node's activations: TQ_S8 (also 0) or
                                 TQ_S16 (the tq_s16_* kernels) */
    const uint8_t *weights4;  /* int4 weights, packed (a constant's data),
                                 run by the tq_s4_* kernels; else NULL */
    const int64_t *bias64;    /* TQ_S16: int64 bias codes, or NULL */
    int64_t *own_bias64;      /* owned (the affine ops' int64 biases) */
    tq_s16_output os16;       /* TQ_S16: points at mult / shift */
    tq__qcvt *cvt;            /* owned: TQ__Q_CONVERT's requantization */
};

/* Graph-wide state of a quantized graph. */
struct tq__qgraph {
    int32_t output_node;      /* index of the node writing the output, or
                                 -1 (the output is the input) */
    tq_quant_config config;   /* the configuration that produced the graph
                                 (saved in model files) */
};

/* Called by tq__graph_run_f32_observed() with every activation that has
 * storage of its own (the input, then each node's output in execution
 * order) over the whole batch: @p count floats at @p data. */
typedef void (*tq__f32_observer)(void *ctx, int32_t tensor, const float *data,
                                 size_t count);

/* tq_graph_run_f32() without an output buffer, calling @p observe on every
 * activation as soon as it is computed. */
tq_status tq__graph_run_f32_observed(const tq_graph *g, int64_t batch,
                                     const float *input, void *arena,
                                     size_t arena_bytes,
                                     tq__f32_observer observe, void *ctx);

/* The calibrator's chosen range of activation @p t (an alias: its root's);
 * the calibrator must be complete. */
tq_status tq__calibrator_tensor_range(const tq_calibrator *c, int32_t t,
                                      double *lo, double *hi,
                                      const tq_qscheme **scheme);

/* Pack a TQ__Q_CONV node's weights once (tq_s8_conv2d_pack, into
 * qn->packed, owned) so that run_s8.c calls tq_s8_conv2d_packed(), bit for
 * bit tq_s8_conv2d() on every path; qn->weights stays (the accumulators
 * path and the C exporter read it). TQ_ERR_NO_MEMORY or a packing error,
 * leaving qn->packed NULL. */
tq_status tq__qnode_pack_conv(struct tq__qnode *qn);

/* The parameters of fused Add node @p add for tq_s8_conv2d_add(): the
 * conv's output as input 1, the skip tensor as input 2 (the Add's own
 * fields swapped when the skip is its input 1; the sum is the same). */
static inline void tq__graph_fused_add_params(const tq__node *add,
                                              tq_s8_add_params *p)
{
    *p = add->q->add;
    if (add->skip_input == 0) {
        p->input1_offset = add->q->add.input2_offset;
        p->input1_multiplier = add->q->add.input2_multiplier;
        p->input1_shift = add->q->add.input2_shift;
        p->input2_offset = add->q->add.input1_offset;
        p->input2_multiplier = add->q->add.input1_multiplier;
        p->input2_shift = add->q->add.input1_shift;
    }
}

/* Free a quantized graph's q slots (tq_graph::q_free). */
void tq__quant_free(tq_graph *g);

/* The output dims of a CONV / CONV_POOL node's convolution itself (before
 * a fused pool) over input dims @p in: the runner and the C exporter. */
tq_dims tq__qnode_conv_dims(const struct tq__qnode *qn, const tq_dims *in);

/* The pool a CONV_POOL node fuses after its convolution: 2x2 max pool of
 * stride 2, no padding (the runner and the C exporter's host check). */
static inline tq_pool_params tq__qnode_pool_2x2(void)
{
    const tq_pool_params p = {.kernel_h = 2, .kernel_w = 2, .stride_h = 2,
                              .stride_w = 2};
    return p;
}

/* Scratch bytes of node @p node of a quantized graph (tq_graph::q_scratch). */
tq_status tq__quant_scratch(const tq_graph *g, int32_t node, int64_t batch,
                            size_t *bytes);

#endif /* TQ_GRAPH_QUANT_INTERNAL_H */
