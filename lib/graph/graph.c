/*
 * The graph builder (host only): creation, tensors, nodes with their shape
 * inference and parameter checks, the output, introspection, the error
 * sentence, deep copies. tq_graph_finalize() is here too; its rewrites are
 * in rewrite.c and its plan in plan_graph.c.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* Most inputs of a node (CONCAT is the only one with more than 5). */
#define TQ__MAX_NODE_INPUTS 64

static const char *const op_names[] = {
    "unknown op",   "Conv2D",         "DepthwiseConv2D", "FullyConnected",
    "MaxPool",      "AvgPool",        "GlobalAvgPool",   "Add",
    "Mul",          "Activation",     "LeakyRelu",       "BatchNorm",
    "Reshape",      "Softmax",        "Concat",          "Pad",
    "Identity",     "Conv2DReluMaxPool2"};

const char *tq__op_name(int32_t op)
{
    if (op < 1 || op > TQ_OP_CONV2D_RELU_MAXPOOL2)
        return op_names[0];
    return op_names[op];
}

tq_status tq__graph_fail(tq_graph *g, tq_status status, const char *fmt, ...)
{
    if (g) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->error, sizeof g->error, fmt, ap);
        va_end(ap);
    }
    return status;
}

void tq__graph_ok(tq_graph *g)
{
    if (g)
        g->error[0] = '\0';
}

const char *tq_graph_error(const tq_graph *graph)
{
    return graph ? graph->error : "";
}

tq_status tq_node_attrs_init(tq_node_attrs *attrs)
{
    if (!attrs)
        return TQ_ERR_NULL;
    memset(attrs, 0, sizeof *attrs);
    attrs->conv.stride_h = attrs->conv.stride_w = 1;
    attrs->conv.dilation_h = attrs->conv.dilation_w = 1;
    attrs->conv.groups = 1;
    attrs->pool.kernel_h = attrs->pool.kernel_w = 1;
    attrs->pool.stride_h = attrs->pool.stride_w = 1;
    attrs->act = TQ_ACT_NONE;
    attrs->act_min = -INFINITY;
    attrs->act_max = INFINITY;
    attrs->alpha = 0.01f;
    attrs->epsilon = 1e-5f;
    attrs->depth_multiplier = 1;
    return TQ_OK;
}

tq_status tq_graph_create(tq_graph **graph)
{
    if (!graph)
        return TQ_ERR_NULL;
    tq_graph *g = calloc(1, sizeof *g);
    if (!g)
        return TQ_ERR_NO_MEMORY;
    g->input = -1;
    g->output = -1;
    g->act_align = TQ__GRAPH_F32_ALIGN;
    *graph = g;
    return TQ_OK;
}

static void free_node(tq__node *n)
{
    free(n->name);
    free(n->inputs);
    free(n->bn_scale);
    free(n->bn_shift);
    free(n->aff_scale);
    free(n->aff_shift);
}

void tq_graph_free(tq_graph *graph)
{
    if (!graph)
        return;
    if (graph->q_free)
        graph->q_free(graph);
    for (int32_t i = 0; i < graph->n_tensors; ++i) {
        tq__tensor *t = &graph->tensors[i];
        free(t->name);
        free(t->data);
        free(t->scale);
        free(t->zero_point);
    }
    for (int32_t i = 0; i < graph->n_nodes; ++i)
        free_node(&graph->nodes[i]);
    free(graph->tensors);
    free(graph->nodes);
    free(graph);
}

static char *dup_string(const char *s)
{
    const size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Room for one more tensor / node. */
static int grow_tensors(tq_graph *g)
{
    if (g->n_tensors < g->cap_tensors)
        return 1;
    if (g->cap_tensors > INT32_MAX / 4)
        return 0;
    const int32_t cap = g->cap_tensors ? 2 * g->cap_tensors : 16;
    tq__tensor *t = realloc(g->tensors, (size_t)cap * sizeof *t);
    if (!t)
        return 0;
    g->tensors = t;
    g->cap_tensors = cap;
    return 1;
}

static int grow_nodes(tq_graph *g)
{
    if (g->n_nodes < g->cap_nodes)
        return 1;
    if (g->cap_nodes > INT32_MAX / 4)
        return 0;
    const int32_t cap = g->cap_nodes ? 2 * g->cap_nodes : 16;
    tq__node *n = realloc(g->nodes, (size_t)cap * sizeof *n);
    if (!n)
        return 0;
    g->nodes = n;
    g->cap_nodes = cap;
    return 1;
}

tq_status tq__graph_new_tensor(tq_graph *g, const char *name, int32_t kind,
                               int32_t dtype, int32_t ndim,
                               const int64_t *shape, void *data, int32_t *id)
{
    char made[32];
    size_t numel = 1;
    for (int32_t d = 0; d < ndim; ++d)
        numel *= (size_t)shape[d]; /* callers checked the extents */
    if (!name) {
        snprintf(made, sizeof made, "t%d", (int)g->n_tensors);
        name = made;
    }
    char *copy = dup_string(name);
    if (!copy || !grow_tensors(g)) {
        free(copy);
        free(data);
        return TQ_ERR_NO_MEMORY;
    }
    tq__tensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = copy;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int32_t d = 0; d < ndim; ++d)
        t->shape[d] = shape[d];
    t->numel = numel;
    t->kind = kind;
    t->producer = -1;
    t->data = data;
    t->alias = -1;
    t->buffer = -1;
    *id = g->n_tensors++;
    return TQ_OK;
}

tq_status tq__graph_new_constant_f32(tq_graph *g, const char *name,
                                     int32_t ndim, const int64_t *shape,
                                     const float *values, int32_t *id)
{
    size_t numel = 1;
    for (int32_t d = 0; d < ndim; ++d)
        numel *= (size_t)shape[d];
    float *copy = malloc(numel ? numel * sizeof(float) : 1);
    if (!copy)
        return TQ_ERR_NO_MEMORY;
    if (numel)
        memcpy(copy, values, numel * sizeof(float));
    return tq__graph_new_tensor(g, name, TQ__TENSOR_CONSTANT, TQ_F32, ndim,
                                shape, copy, id);
}

static tq_status check_building(tq_graph *g, const char *what)
{
    if (g->finalized)
        return tq__graph_fail(g, TQ_ERR_PARAM,
                              "%s: the graph is finalized and can no longer "
                              "change",
                              what);
    return TQ_OK;
}

/* Extents of an activation: 1..TQ_MAX_DIMS of them, a leading 1, each in
 * [1, INT32_MAX], element count at most INT32_MAX (the kernels count in
 * int32). */
static tq_status check_sample_shape(tq_graph *g, const char *who,
                                    int32_t ndim, const int64_t *shape)
{
    if (ndim < 1 || ndim > TQ_MAX_DIMS)
        return tq__graph_fail(g, TQ_ERR_SHAPE,
                              "%s: %d dimensions, must be 1..%d", who,
                              (int)ndim, TQ_MAX_DIMS);
    int64_t numel = 1;
    for (int32_t d = 0; d < ndim; ++d) {
        if (shape[d] < 1 || shape[d] > INT32_MAX)
            return tq__graph_fail(g, TQ_ERR_SHAPE,
                                  "%s: extent %d is %lld, must be 1..%d", who,
                                  (int)d, (long long)shape[d], INT32_MAX);
        numel *= shape[d];
        if (numel > INT32_MAX)
            return tq__graph_fail(g, TQ_ERR_OVERFLOW,
                                  "%s: more than %d elements per sample", who,
                                  INT32_MAX);
    }
    if (shape[0] != 1)
        return tq__graph_fail(g, TQ_ERR_SHAPE,
                              "%s: the leading extent is %lld, must be 1 (one "
                              "sample)",
                              who, (long long)shape[0]);
    return TQ_OK;
}

tq_status tq_graph_add_input(tq_graph *graph, const char *name, int32_t ndim,
                             const int64_t *shape, int32_t *tensor)
{
    if (!graph)
        return TQ_ERR_NULL;
    tq__graph_ok(graph);
    if (!shape || !tensor)
        return tq__graph_fail(graph, TQ_ERR_NULL,
                              "add_input: shape or tensor is NULL");
    TQ_CHECK(check_building(graph, "add_input"));
    if (graph->input >= 0)
        return tq__graph_fail(graph, TQ_ERR_PARAM,
                              "add_input: the graph already has its input "
                              "'%s' (one input per graph)",
                              graph->tensors[graph->input].name);
    TQ_CHECK(check_sample_shape(graph, "add_input", ndim, shape));
    int32_t id;
    TQ_CHECK(tq__graph_new_tensor(graph, name ? name : "input",
                                  TQ__TENSOR_INPUT, TQ_F32, ndim, shape, NULL,
                                  &id));
    graph->input = id;
    *tensor = id;
    return TQ_OK;
}

tq_status tq_graph_add_constant(tq_graph *graph, const char *name,
                                const tq_tensor *value, int32_t *tensor)
{
    size_t count;
    if (!graph)
        return TQ_ERR_NULL;
    tq__graph_ok(graph);
    if (!value || !tensor)
        return tq__graph_fail(graph, TQ_ERR_NULL,
                              "add_constant: value or tensor is NULL");
    TQ_CHECK(check_building(graph, "add_constant"));
    if (value->dtype != TQ_F32)
        return tq__graph_fail(graph, TQ_ERR_DTYPE,
                              "add_constant '%s': dtype %d, constants are f32",
                              name ? name : "", (int)value->dtype);
    if (value->ndim < 0 || value->ndim > TQ_MAX_DIMS)
        return tq__graph_fail(graph, TQ_ERR_SHAPE,
                              "add_constant '%s': %d dimensions, must be "
                              "0..%d",
                              name ? name : "", (int)value->ndim, TQ_MAX_DIMS);
    for (int32_t d = 0; d < value->ndim; ++d)
        if (value->shape[d] > INT32_MAX)
            return tq__graph_fail(graph, TQ_ERR_SHAPE,
                                  "add_constant '%s': extent %d is %lld, at "
                                  "most %d",
                                  name ? name : "", (int)d,
                                  (long long)value->shape[d], INT32_MAX);
    tq_status s = tq_tensor_numel(value, &count);
    if (s == TQ_OK && count > (size_t)INT32_MAX)
        s = TQ_ERR_OVERFLOW;
    if (s != TQ_OK)
        return tq__graph_fail(graph, s,
                              "add_constant '%s': bad shape (%s)",
                              name ? name : "", tq_status_message(s));
    if (count && !value->data)
        return tq__graph_fail(graph, TQ_ERR_NULL,
                              "add_constant '%s': data is NULL",
                              name ? name : "");
    float *copy = malloc(count ? count * sizeof(float) : 1);
    if (!copy)
        return tq__graph_fail(graph, TQ_ERR_NO_MEMORY,
                              "add_constant: out of memory");
    if (count)
        memcpy(copy, value->data, count * sizeof(float));
    s = tq__graph_new_tensor(graph, name, TQ__TENSOR_CONSTANT, TQ_F32,
                             value->ndim, value->shape, copy, tensor);
    if (s != TQ_OK)
        return tq__graph_fail(graph, s, "add_constant: out of memory");
    return TQ_OK;
}

/* ---- shape inference ------------------------------------------------------- */

/* The node being checked, for the messages. */
typedef struct who {
    tq_graph *g;
    const char *name;
    int32_t op;
} who;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static tq_status bad(const who *w, tq_status status, const char *fmt, ...)
{
    char what[TQ__GRAPH_ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return tq__graph_fail(w->g, status, "node '%s' (%s): %s", w->name,
                          tq__op_name(w->op), what);
}

static const tq__tensor *tensor_of(const who *w, int32_t id)
{
    return &w->g->tensors[id];
}

/* Input @p slot must be an activation (or the graph input). */
static tq_status want_activation(const who *w, const int32_t *inputs,
                                 int32_t slot, int32_t ndim)
{
    const tq__tensor *t = tensor_of(w, inputs[slot]);
    if (t->kind == TQ__TENSOR_CONSTANT)
        return bad(w, TQ_ERR_UNSUPPORTED,
                   "input %d ('%s') is a constant, must be an activation",
                   (int)slot, t->name);
    if (ndim && t->ndim != ndim)
        return bad(w, TQ_ERR_SHAPE,
                   "input %d ('%s') has %d dimensions, must be %d (NHWC)",
                   (int)slot, t->name, (int)t->ndim, (int)ndim);
    return TQ_OK;
}

/* Input @p slot must be a constant of @p count elements (count < 0: any). */
static tq_status want_constant(const who *w, const int32_t *inputs,
                               int32_t slot, const char *role, int64_t count)
{
    const tq__tensor *t = tensor_of(w, inputs[slot]);
    if (t->kind != TQ__TENSOR_CONSTANT)
        return bad(w, TQ_ERR_UNSUPPORTED,
                   "input %d (%s, '%s') must be a constant", (int)slot, role,
                   t->name);
    if (t->dtype != TQ_F32)
        return bad(w, TQ_ERR_DTYPE, "input %d (%s, '%s') is not f32",
                   (int)slot, role, t->name);
    if (count >= 0 && (int64_t)t->numel != count)
        return bad(w, TQ_ERR_SHAPE,
                   "input %d (%s, '%s') has %zu elements, must be %lld",
                   (int)slot, role, t->name, t->numel, (long long)count);
    return TQ_OK;
}

static tq_status want_inputs(const who *w, int32_t n, int32_t lo, int32_t hi)
{
    if (n < lo || n > hi) {
        if (lo == hi)
            return bad(w, TQ_ERR_PARAM, "%d inputs, must be %d", (int)n,
                       (int)lo);
        return bad(w, TQ_ERR_PARAM, "%d inputs, must be %d..%d", (int)n,
                   (int)lo, (int)hi);
    }
    return TQ_OK;
}

static tq_status check_act(const who *w, const tq_node_attrs *a, int none_ok)
{
    if (a->act < (none_ok ? TQ_ACT_NONE : TQ_ACT_RELU) || a->act > TQ_ACT_CLIP)
        return bad(w, TQ_ERR_PARAM,
                   "attribute act is %d, must be %s", (int)a->act,
                   none_ok ? "TQ_ACT_NONE, TQ_ACT_RELU, TQ_ACT_RELU6 or "
                             "TQ_ACT_CLIP"
                           : "TQ_ACT_RELU, TQ_ACT_RELU6 or TQ_ACT_CLIP");
    if (a->act == TQ_ACT_CLIP &&
        (isnan(a->act_min) || isnan(a->act_max) || a->act_min > a->act_max))
        return bad(w, TQ_ERR_PARAM,
                   "attributes act_min %g and act_max %g are not a range "
                   "(act_min <= act_max, no NaN)",
                   (double)a->act_min, (double)a->act_max);
    return TQ_OK;
}

static tq_status check_conv_attrs(const who *w, const tq_conv_params *c)
{
    if (c->stride_h < 1 || c->stride_w < 1)
        return bad(w, TQ_ERR_PARAM, "attribute stride %dx%d, must be >= 1",
                   (int)c->stride_h, (int)c->stride_w);
    if (c->dilation_h < 1 || c->dilation_w < 1)
        return bad(w, TQ_ERR_PARAM, "attribute dilation %dx%d, must be >= 1",
                   (int)c->dilation_h, (int)c->dilation_w);
    if (c->pad_top < 0 || c->pad_bottom < 0 || c->pad_left < 0 ||
        c->pad_right < 0)
        return bad(w, TQ_ERR_PARAM,
                   "attribute pads (top %d, bottom %d, left %d, right %d) "
                   "must be >= 0",
                   (int)c->pad_top, (int)c->pad_bottom, (int)c->pad_left,
                   (int)c->pad_right);
    return TQ_OK;
}

/* Convolution output extents for input h, w and a kh x kw kernel. */
static tq_status conv_out(const who *w, const tq_conv_params *c, int64_t h,
                          int64_t wd, int64_t kh, int64_t kw, int64_t *oh,
                          int64_t *ow)
{
    int32_t a, b;
    tq_status s = tq_conv_output_size((int32_t)h, (int32_t)kh, c->stride_h,
                                      c->dilation_h, c->pad_top, c->pad_bottom,
                                      &a);
    if (s == TQ_OK)
        s = tq_conv_output_size((int32_t)wd, (int32_t)kw, c->stride_w,
                                c->dilation_w, c->pad_left, c->pad_right, &b);
    if (s != TQ_OK)
        return bad(w, s,
                   "a %lldx%lld kernel (dilation %dx%d) does not fit the "
                   "%lldx%lld input with pads %d,%d,%d,%d",
                   (long long)kh, (long long)kw, (int)c->dilation_h,
                   (int)c->dilation_w, (long long)h, (long long)wd,
                   (int)c->pad_top, (int)c->pad_bottom, (int)c->pad_left,
                   (int)c->pad_right);
    *oh = a;
    *ow = b;
    return TQ_OK;
}

static tq_status infer_conv(const who *w, int32_t n, const int32_t *in,
                            const tq_node_attrs *a, int64_t *shape)
{
    const int32_t op = w->op;
    TQ_CHECK(want_inputs(w, n, 2, 3));
    TQ_CHECK(want_activation(w, in, 0, 4));
    TQ_CHECK(want_constant(w, in, 1, "weight", -1));
    TQ_CHECK(check_conv_attrs(w, &a->conv));
    TQ_CHECK(check_act(w, a, op != TQ_OP_CONV2D_RELU_MAXPOOL2));
    const tq__tensor *x = tensor_of(w, in[0]), *wt = tensor_of(w, in[1]);
    const int64_t cin = x->shape[3];
    int64_t cout;
    if (wt->ndim != 4)
        return bad(w, TQ_ERR_SHAPE,
                   "weight '%s' has %d dimensions, must be 4 (%s)", wt->name,
                   (int)wt->ndim,
                   op == TQ_OP_DEPTHWISE_CONV2D ? "[1][KH][KW][C*M]"
                                                : "OHWI");
    if (op == TQ_OP_DEPTHWISE_CONV2D) {
        const int32_t m = a->depth_multiplier;
        if (m < 1)
            return bad(w, TQ_ERR_PARAM,
                       "attribute depth_multiplier is %d, must be >= 1",
                       (int)m);
        if (wt->shape[0] != 1 || wt->shape[3] != cin * m)
            return bad(w, TQ_ERR_SHAPE,
                       "weight '%s' is [%lld][%lld][%lld][%lld], must be "
                       "[1][KH][KW][%lld] (input channels %lld times "
                       "depth_multiplier %d)",
                       wt->name, (long long)wt->shape[0],
                       (long long)wt->shape[1], (long long)wt->shape[2],
                       (long long)wt->shape[3], (long long)(cin * m),
                       (long long)cin, (int)m);
        cout = cin * m;
    } else {
        const int32_t gr = a->conv.groups;
        if (gr < 1)
            return bad(w, TQ_ERR_PARAM, "attribute groups is %d, must be >= 1",
                       (int)gr);
        if (op == TQ_OP_CONV2D_RELU_MAXPOOL2 && gr != 1)
            return bad(w, TQ_ERR_UNSUPPORTED,
                       "attribute groups is %d, the fused kernel takes 1",
                       (int)gr);
        cout = wt->shape[0];
        if (cout < 1)
            return bad(w, TQ_ERR_SHAPE, "weight '%s' has no output channel",
                       wt->name);
        if (cin % gr != 0 || cout % gr != 0)
            return bad(w, TQ_ERR_SHAPE,
                       "attribute groups %d does not divide the %lld input "
                       "and %lld output channels",
                       (int)gr, (long long)cin, (long long)cout);
        if (wt->shape[3] * gr != cin)
            return bad(w, TQ_ERR_SHAPE,
                       "weight '%s' has %lld input channels per group, the "
                       "input %lld channels in %d groups",
                       wt->name, (long long)wt->shape[3], (long long)cin,
                       (int)gr);
    }
    if (n == 3)
        TQ_CHECK(want_constant(w, in, 2, "bias", cout));
    int64_t oh, ow;
    TQ_CHECK(conv_out(w, &a->conv, x->shape[1], x->shape[2], wt->shape[1],
                      wt->shape[2], &oh, &ow));
    if (op == TQ_OP_CONV2D_RELU_MAXPOOL2) {
        if (oh < 2 || ow < 2)
            return bad(w, TQ_ERR_SHAPE,
                       "the convolution output %lldx%lld is too small for "
                       "the 2x2 max pool",
                       (long long)oh, (long long)ow);
        oh /= 2;
        ow /= 2;
    }
    shape[0] = 1;
    shape[1] = oh;
    shape[2] = ow;
    shape[3] = cout;
    return TQ_OK;
}

static tq_status infer_pool(const who *w, int32_t n, const int32_t *in,
                            const tq_node_attrs *a, int64_t *shape)
{
    const tq_pool_params *p = &a->pool;
    TQ_CHECK(want_inputs(w, n, 1, 1));
    TQ_CHECK(want_activation(w, in, 0, 4));
    if (p->kernel_h < 1 || p->kernel_w < 1)
        return bad(w, TQ_ERR_PARAM, "attribute kernel %dx%d, must be >= 1",
                   (int)p->kernel_h, (int)p->kernel_w);
    if (p->stride_h < 1 || p->stride_w < 1)
        return bad(w, TQ_ERR_PARAM, "attribute stride %dx%d, must be >= 1",
                   (int)p->stride_h, (int)p->stride_w);
    if (p->pad_top < 0 || p->pad_bottom < 0 || p->pad_left < 0 ||
        p->pad_right < 0 || p->pad_top >= p->kernel_h ||
        p->pad_bottom >= p->kernel_h || p->pad_left >= p->kernel_w ||
        p->pad_right >= p->kernel_w)
        return bad(w, TQ_ERR_PARAM,
                   "attribute pads (top %d, bottom %d, left %d, right %d) "
                   "must be >= 0 and smaller than the %dx%d window",
                   (int)p->pad_top, (int)p->pad_bottom, (int)p->pad_left,
                   (int)p->pad_right, (int)p->kernel_h, (int)p->kernel_w);
    if (w->op == TQ_OP_AVG_POOL && a->count_include_pad != 0 &&
        a->count_include_pad != 1)
        return bad(w, TQ_ERR_PARAM,
                   "attribute count_include_pad is %d, must be 0 or 1",
                   (int)a->count_include_pad);
    const tq__tensor *x = tensor_of(w, in[0]);
    tq_conv_params c = {p->stride_h, p->stride_w, p->pad_top, p->pad_bottom,
                        p->pad_left, p->pad_right, 1, 1, 1};
    int64_t oh, ow;
    TQ_CHECK(conv_out(w, &c, x->shape[1], x->shape[2], p->kernel_h,
                      p->kernel_w, &oh, &ow));
    shape[0] = 1;
    shape[1] = oh;
    shape[2] = ow;
    shape[3] = x->shape[3];
    return TQ_OK;
}

/* ADD, MUL: b has a's shape, or is a constant of 1 or C values. */
static tq_status infer_binary(const who *w, int32_t n, const int32_t *in,
                              const tq_node_attrs *a, int32_t *ndim,
                              int64_t *shape)
{
    TQ_CHECK(want_inputs(w, n, 2, 2));
    TQ_CHECK(want_activation(w, in, 0, 0));
    TQ_CHECK(check_act(w, a, 1));
    const tq__tensor *x = tensor_of(w, in[0]), *y = tensor_of(w, in[1]);
    const int64_t c = x->shape[x->ndim - 1];
    int same = y->ndim == x->ndim;
    for (int32_t d = 0; same && d < x->ndim; ++d)
        same = y->shape[d] == x->shape[d];
    if (y->dtype != TQ_F32)
        return bad(w, TQ_ERR_DTYPE, "input 1 ('%s') is not f32", y->name);
    if (!same) {
        if (y->kind != TQ__TENSOR_CONSTANT)
            return bad(w, TQ_ERR_SHAPE,
                       "input 1 ('%s') must have the shape of input 0 ('%s') "
                       "unless it is a constant of one value or one per "
                       "channel",
                       y->name, x->name);
        if (y->numel != 1 && (int64_t)y->numel != c)
            return bad(w, TQ_ERR_SHAPE,
                       "constant input 1 ('%s') has %zu values, must be 1, "
                       "%lld (one per channel) or input 0's shape",
                       y->name, y->numel, (long long)c);
    }
    *ndim = x->ndim;
    memcpy(shape, x->shape, sizeof x->shape);
    return TQ_OK;
}

static tq_status infer_op(tq_graph *g, const char *name, int32_t op,
                          int32_t n_inputs, const int32_t *inputs,
                          const tq_node_attrs *attrs, int32_t *ndim,
                          int64_t shape[TQ_MAX_DIMS])
{
    const who w = {g, name, op};
    tq_node_attrs defaults;
    if (op < TQ_OP_CONV2D || op > TQ_OP_CONV2D_RELU_MAXPOOL2)
        return tq__graph_fail(g, TQ_ERR_UNSUPPORTED,
                              "node '%s': unknown op %d", name, (int)op);
    if (n_inputs < 1 || n_inputs > TQ__MAX_NODE_INPUTS)
        return bad(&w, TQ_ERR_PARAM, "%d inputs, must be 1..%d",
                   (int)n_inputs, TQ__MAX_NODE_INPUTS);
    if (!inputs)
        return bad(&w, TQ_ERR_NULL, "inputs is NULL");
    for (int32_t i = 0; i < n_inputs; ++i)
        if (inputs[i] < 0 || inputs[i] >= g->n_tensors)
            return bad(&w, TQ_ERR_NOT_FOUND,
                       "input %d is tensor %d, which is not defined (%d "
                       "tensors)",
                       (int)i, (int)inputs[i], (int)g->n_tensors);
    if (!attrs) {
        tq_node_attrs_init(&defaults);
        attrs = &defaults;
    }
    for (int32_t i = 0; i < n_inputs; ++i) {
        const tq__tensor *t = &g->tensors[inputs[i]];
        if (t->kind != TQ__TENSOR_CONSTANT && t->dtype != TQ_F32)
            return bad(&w, TQ_ERR_DTYPE, "input %d ('%s') is not f32",
                       (int)i, t->name);
    }
    const tq__tensor *x = &g->tensors[inputs[0]];
    *ndim = x->ndim;
    memcpy(shape, x->shape, sizeof x->shape);
    switch (op) {
    case TQ_OP_CONV2D:
    case TQ_OP_DEPTHWISE_CONV2D:
    case TQ_OP_CONV2D_RELU_MAXPOOL2:
        *ndim = 4;
        return infer_conv(&w, n_inputs, inputs, attrs, shape);
    case TQ_OP_FULLY_CONNECTED: {
        TQ_CHECK(want_inputs(&w, n_inputs, 2, 3));
        TQ_CHECK(want_activation(&w, inputs, 0, 0));
        TQ_CHECK(want_constant(&w, inputs, 1, "weight", -1));
        TQ_CHECK(check_act(&w, attrs, 1));
        const tq__tensor *wt = &g->tensors[inputs[1]];
        if (wt->ndim != 2 || wt->shape[1] != (int64_t)x->numel)
            return bad(&w, TQ_ERR_SHAPE,
                       "weight '%s' must be [O][%zu] (the input's %zu "
                       "features), it has %d dimensions%s",
                       wt->name, x->numel, x->numel, (int)wt->ndim,
                       wt->ndim == 2 ? " and another width" : "");
        if (wt->shape[0] < 1)
            return bad(&w, TQ_ERR_SHAPE, "weight '%s' has no output row",
                       wt->name);
        if (n_inputs == 3)
            TQ_CHECK(want_constant(&w, inputs, 2, "bias", wt->shape[0]));
        *ndim = 2;
        shape[0] = 1;
        shape[1] = wt->shape[0];
        return TQ_OK;
    }
    case TQ_OP_MAX_POOL:
    case TQ_OP_AVG_POOL:
        return infer_pool(&w, n_inputs, inputs, attrs, shape);
    case TQ_OP_GLOBAL_AVG_POOL:
        TQ_CHECK(want_inputs(&w, n_inputs, 1, 1));
        TQ_CHECK(want_activation(&w, inputs, 0, 4));
        shape[1] = shape[2] = 1;
        return TQ_OK;
    case TQ_OP_ADD:
    case TQ_OP_MUL:
        return infer_binary(&w, n_inputs, inputs, attrs, ndim, shape);
    case TQ_OP_ACTIVATION:
        TQ_CHECK(want_inputs(&w, n_inputs, 1, 1));
        TQ_CHECK(want_activation(&w, inputs, 0, 0));
        return check_act(&w, attrs, 0);
    case TQ_OP_LEAKY_RELU:
        TQ_CHECK(want_inputs(&w, n_inputs, 1, 1));
        TQ_CHECK(want_activation(&w, inputs, 0, 0));
        if (!isfinite(attrs->alpha))
            return bad(&w, TQ_ERR_PARAM, "attribute alpha is not finite");
        return TQ_OK;
    case TQ_OP_BATCH_NORM: {
        static const char *const roles[] = {"x", "scale", "bias", "mean",
                                            "variance"};
        TQ_CHECK(want_inputs(&w, n_inputs, 5, 5));
        TQ_CHECK(want_activation(&w, inputs, 0, 0));
        const int64_t c = x->shape[x->ndim - 1];
        for (int32_t i = 1; i < 5; ++i)
            TQ_CHECK(want_constant(&w, inputs, i, roles[i], c));
        if (!(attrs->epsilon > 0.0f) || !isfinite(attrs->epsilon))
            return bad(&w, TQ_ERR_PARAM,
                       "attribute epsilon is %g, must be > 0 and finite",
                       (double)attrs->epsilon);
        const float *var = g->tensors[inputs[4]].data;
        for (int64_t i = 0; i < c; ++i)
            if (!(var[i] >= 0.0f) || !isfinite(var[i]))
                return bad(&w, TQ_ERR_PARAM,
                           "variance '%s'[%lld] is %g, must be >= 0 and "
                           "finite",
                           g->tensors[inputs[4]].name, (long long)i,
                           (double)var[i]);
        return TQ_OK;
    }
    case TQ_OP_RESHAPE: {
        TQ_CHECK(want_inputs(&w, n_inputs, 1, 1));
        TQ_CHECK(want_activation(&w, inputs, 0, 0));
        if (attrs->ndim < 1 || attrs->ndim > TQ_MAX_DIMS)
            return bad(&w, TQ_ERR_PARAM, "attribute ndim is %d, must be 1..%d",
                       (int)attrs->ndim, TQ_MAX_DIMS);
        int64_t count = 1;
        for (int32_t d = 0; d < attrs->ndim; ++d) {
            if (attrs->shape[d] < 1 || attrs->shape[d] > INT32_MAX)
                return bad(&w, TQ_ERR_PARAM,
                           "attribute shape[%d] is %lld, must be >= 1", (int)d,
                           (long long)attrs->shape[d]);
            count *= attrs->shape[d];
            if (count > INT32_MAX)
                return bad(&w, TQ_ERR_SHAPE, "attribute shape is too large");
        }
        if (attrs->shape[0] != 1)
            return bad(&w, TQ_ERR_PARAM,
                       "attribute shape[0] is %lld, must be 1 (one sample)",
                       (long long)attrs->shape[0]);
        if (count != (int64_t)x->numel)
            return bad(&w, TQ_ERR_SHAPE,
                       "attribute shape holds %lld elements, the input %zu",
                       (long long)count, x->numel);
        *ndim = attrs->ndim;
        memset(shape, 0, TQ_MAX_DIMS * sizeof *shape);
        for (int32_t d = 0; d < attrs->ndim; ++d)
            shape[d] = attrs->shape[d];
        return TQ_OK;
    }
    case TQ_OP_SOFTMAX:
    case TQ_OP_IDENTITY:
        TQ_CHECK(want_inputs(&w, n_inputs, 1, 1));
        return want_activation(&w, inputs, 0, 0);
    case TQ_OP_CONCAT: {
        int64_t c = 0;
        for (int32_t i = 0; i < n_inputs; ++i) {
            TQ_CHECK(want_activation(&w, inputs, i, x->ndim));
            const tq__tensor *t = &g->tensors[inputs[i]];
            for (int32_t d = 0; d + 1 < x->ndim; ++d)
                if (t->shape[d] != x->shape[d])
                    return bad(&w, TQ_ERR_SHAPE,
                               "input %d ('%s') has extent %lld on axis %d, "
                               "input 0 ('%s') %lld: only the channel axis "
                               "may differ",
                               (int)i, t->name, (long long)t->shape[d], (int)d,
                               x->name, (long long)x->shape[d]);
            c += t->shape[x->ndim - 1];
        }
        shape[x->ndim - 1] = c; /* < 64 · 2^31: checked with the output */
        return TQ_OK;
    }
    case TQ_OP_PAD: {
        const tq_conv_params *c = &attrs->conv;
        TQ_CHECK(want_inputs(&w, n_inputs, 1, 1));
        TQ_CHECK(want_activation(&w, inputs, 0, 4));
        if (c->pad_top < 0 || c->pad_bottom < 0 || c->pad_left < 0 ||
            c->pad_right < 0)
            return bad(&w, TQ_ERR_PARAM,
                       "attribute pads (top %d, bottom %d, left %d, right "
                       "%d) must be >= 0",
                       (int)c->pad_top, (int)c->pad_bottom, (int)c->pad_left,
                       (int)c->pad_right);
        shape[1] += (int64_t)c->pad_top + c->pad_bottom;
        shape[2] += (int64_t)c->pad_left + c->pad_right;
        return TQ_OK; /* the size is checked with every output's */
    }
    default:
        break;
    }
    return tq__graph_fail(g, TQ_ERR_UNSUPPORTED, "node '%s': unknown op %d",
                          name, (int)op);
}

tq_status tq__graph_infer(tq_graph *g, const char *name, int32_t op,
                          int32_t n_inputs, const int32_t *inputs,
                          const tq_node_attrs *attrs, int32_t *ndim,
                          int64_t shape[TQ_MAX_DIMS])
{
    TQ_CHECK(infer_op(g, name, op, n_inputs, inputs, attrs, ndim, shape));
    /* Every output fits the kernels' int32 counts. */
    int64_t count = 1;
    for (int32_t d = 0; d < *ndim; ++d) {
        if (shape[d] < 1 || shape[d] > INT32_MAX / count) {
            const who w = {g, name, op};
            return bad(&w, shape[d] < 1 ? TQ_ERR_SHAPE : TQ_ERR_OVERFLOW,
                       "the output would have %s",
                       shape[d] < 1 ? "an empty extent"
                                    : "more than INT32_MAX elements");
        }
        count *= shape[d];
    }
    return TQ_OK;
}

/* gamma / sqrt(var + eps) and beta - mean · that, per channel, in double. */
static tq_status batch_norm_affine(tq_graph *g, const int32_t *in,
                                   float epsilon, int32_t c, float **scale,
                                   float **shift)
{
    const float *gamma = g->tensors[in[1]].data, *beta = g->tensors[in[2]].data;
    const float *mean = g->tensors[in[3]].data, *var = g->tensors[in[4]].data;
    *scale = malloc((size_t)c * sizeof(float));
    *shift = malloc((size_t)c * sizeof(float));
    if (!*scale || !*shift) {
        free(*scale);
        free(*shift);
        *scale = *shift = NULL;
        return TQ_ERR_NO_MEMORY;
    }
    for (int32_t i = 0; i < c; ++i) {
        const double s = (double)gamma[i] / sqrt((double)var[i] + epsilon);
        (*scale)[i] = (float)s;
        (*shift)[i] = (float)((double)beta[i] - (double)mean[i] * s);
    }
    return TQ_OK;
}

tq_status tq_graph_add_node(tq_graph *graph, const char *name, int32_t op,
                            int32_t n_inputs, const int32_t *inputs,
                            const tq_node_attrs *attrs, int32_t *output)
{
    char made[32];
    int32_t ndim;
    int64_t shape[TQ_MAX_DIMS] = {0};
    tq_node_attrs a;
    if (!graph)
        return TQ_ERR_NULL;
    tq__graph_ok(graph);
    if (!name) {
        snprintf(made, sizeof made, "node%d", (int)graph->n_nodes);
        name = made;
    }
    if (!output)
        return tq__graph_fail(graph, TQ_ERR_NULL,
                              "node '%s' (%s): output is NULL", name,
                              tq__op_name(op));
    if (graph->finalized)
        return tq__graph_fail(graph, TQ_ERR_PARAM,
                              "node '%s' (%s): the graph is finalized and can "
                              "no longer change",
                              name, tq__op_name(op));
    if (attrs)
        a = *attrs;
    else
        tq_node_attrs_init(&a);
    TQ_CHECK(tq__graph_infer(graph, name, op, n_inputs, inputs, &a, &ndim,
                             shape));

    tq__node node;
    memset(&node, 0, sizeof node);
    node.op = op;
    node.attrs = a;
    node.n_inputs = n_inputs;
    node.name = dup_string(name);
    node.inputs = malloc((size_t)n_inputs * sizeof(int32_t));
    if (node.name && node.inputs && op == TQ_OP_BATCH_NORM) {
        const tq__tensor *x = &graph->tensors[inputs[0]];
        node.aff_count = (int32_t)x->shape[x->ndim - 1];
        if (batch_norm_affine(graph, inputs, a.epsilon, node.aff_count,
                              &node.aff_scale, &node.aff_shift) != TQ_OK)
            node.aff_count = -1;
    }
    if (!node.name || !node.inputs || node.aff_count < 0 ||
        !grow_nodes(graph)) {
        free_node(&node);
        return tq__graph_fail(graph, TQ_ERR_NO_MEMORY,
                              "node '%s' (%s): out of memory", name,
                              tq__op_name(op));
    }
    memcpy(node.inputs, inputs, (size_t)n_inputs * sizeof(int32_t));
    int32_t id;
    tq_status s = tq__graph_new_tensor(graph, name, TQ__TENSOR_ACTIVATION,
                                       TQ_F32, ndim, shape, NULL, &id);
    if (s != TQ_OK) {
        free_node(&node);
        return tq__graph_fail(graph, s, "node '%s' (%s): out of memory",
                              name, tq__op_name(op));
    }
    node.output = id;
    graph->tensors[id].producer = graph->n_nodes;
    graph->nodes[graph->n_nodes++] = node;
    *output = id;
    return TQ_OK;
}

tq_status tq_graph_set_output(tq_graph *graph, int32_t tensor)
{
    if (!graph)
        return TQ_ERR_NULL;
    tq__graph_ok(graph);
    TQ_CHECK(check_building(graph, "set_output"));
    if (tensor < 0 || tensor >= graph->n_tensors)
        return tq__graph_fail(graph, TQ_ERR_NOT_FOUND,
                              "set_output: tensor %d is not defined (%d "
                              "tensors)",
                              (int)tensor, (int)graph->n_tensors);
    if (graph->tensors[tensor].kind != TQ__TENSOR_ACTIVATION)
        return tq__graph_fail(graph, TQ_ERR_PARAM,
                              "set_output: tensor '%s' is %s, the output must "
                              "be a node's output",
                              graph->tensors[tensor].name,
                              graph->tensors[tensor].kind == TQ__TENSOR_INPUT
                                  ? "the graph input"
                                  : "a constant");
    graph->output = tensor;
    return TQ_OK;
}

int32_t tq__graph_consumers(const tq_graph *g, int32_t t)
{
    int32_t n = g->output == t;
    for (int32_t i = 0; i < g->n_nodes; ++i)
        for (int32_t j = 0; j < g->nodes[i].n_inputs; ++j)
            n += g->nodes[i].inputs[j] == t;
    return n;
}

/* ---- finalize ------------------------------------------------------------------ */

tq_status tq_graph_finalize(tq_graph *graph, uint32_t rewrites)
{
    if (!graph)
        return TQ_ERR_NULL;
    tq__graph_ok(graph);
    TQ_CHECK(check_building(graph, "finalize"));
    if (rewrites & ~(uint32_t)TQ_REWRITE_ALL)
        return tq__graph_fail(graph, TQ_ERR_PARAM,
                              "finalize: unknown rewrite flags 0x%x",
                              (unsigned)(rewrites & ~(uint32_t)TQ_REWRITE_ALL));
    if (graph->input < 0)
        return tq__graph_fail(graph, TQ_ERR_PARAM,
                              "finalize: the graph has no input "
                              "(tq_graph_add_input)");
    if (graph->output < 0)
        return tq__graph_fail(graph, TQ_ERR_PARAM,
                              "finalize: the graph output is not set "
                              "(tq_graph_set_output)");
    /* The builder checked each node when it was added, against inputs that
     * existed then; check the whole graph again, so that a graph whose
     * arrays were assembled otherwise (an importer, a copy) meets the same
     * rules: inputs defined earlier (no cycle), shapes as inferred. */
    for (int32_t i = 0; i < graph->n_nodes; ++i) {
        const tq__node *n = &graph->nodes[i];
        int32_t ndim;
        int64_t shape[TQ_MAX_DIMS] = {0};
        for (int32_t j = 0; j < n->n_inputs; ++j) {
            const int32_t t = n->inputs[j];
            if (t < 0 || t >= graph->n_tensors)
                return tq__graph_fail(graph, TQ_ERR_NOT_FOUND,
                                      "node '%s' (%s): input %d is tensor %d, "
                                      "which is not defined",
                                      n->name, tq__op_name(n->op), (int)j,
                                      (int)t);
            const int32_t p = graph->tensors[t].producer;
            if (graph->tensors[t].kind == TQ__TENSOR_ACTIVATION && p >= i)
                return tq__graph_fail(graph, TQ_ERR_PARAM,
                                      "node '%s' (%s): input %d ('%s') is "
                                      "produced by a node that depends on it "
                                      "(a cycle) or comes later",
                                      n->name, tq__op_name(n->op), (int)j,
                                      graph->tensors[t].name);
        }
        TQ_CHECK(tq__graph_infer(graph, n->name, n->op, n->n_inputs,
                                 n->inputs, &n->attrs, &ndim, shape));
        const tq__tensor *o = &graph->tensors[n->output];
        int same = ndim == o->ndim;
        for (int32_t d = 0; same && d < ndim; ++d)
            same = shape[d] == o->shape[d];
        if (!same)
            return tq__graph_fail(graph, TQ_ERR_SHAPE,
                                  "node '%s' (%s): its output '%s' does not "
                                  "have the inferred shape",
                                  n->name, tq__op_name(n->op), o->name);
    }
    TQ_CHECK(tq__graph_rewrite(graph, rewrites));
    TQ_CHECK(tq__graph_plan(graph, graph->act_align));
    graph->rewrites = rewrites;
    graph->finalized = 1;
    return TQ_OK;
}

/* ---- introspection ------------------------------------------------------------- */

int32_t tq_graph_node_count(const tq_graph *graph)
{
    return graph ? graph->n_nodes : 0;
}

tq_status tq_graph_node(const tq_graph *graph, int32_t index,
                        tq_graph_node_info *info)
{
    if (!graph || !info)
        return TQ_ERR_NULL;
    if (index < 0 || index >= graph->n_nodes)
        return TQ_ERR_NOT_FOUND;
    const tq__node *n = &graph->nodes[index];
    memset(info, 0, sizeof *info);
    info->name = n->name;
    info->op = n->op;
    info->n_inputs = n->n_inputs;
    info->inputs = n->inputs;
    info->output = n->output;
    info->attrs = n->attrs;
    return TQ_OK;
}

int32_t tq_graph_tensor_count(const tq_graph *graph)
{
    return graph ? graph->n_tensors : 0;
}

tq_status tq_graph_tensor(const tq_graph *graph, int32_t tensor,
                          tq_graph_tensor_info *info)
{
    if (!graph || !info)
        return TQ_ERR_NULL;
    if (tensor < 0 || tensor >= graph->n_tensors)
        return TQ_ERR_NOT_FOUND;
    const tq__tensor *t = &graph->tensors[tensor];
    memset(info, 0, sizeof *info);
    info->name = t->name;
    info->dtype = t->dtype;
    info->ndim = t->ndim;
    for (int32_t d = 0; d < t->ndim; ++d)
        info->shape[d] = t->shape[d];
    info->is_constant = t->kind == TQ__TENSOR_CONSTANT;
    info->qaxis = t->qaxis;
    info->data = t->data;
    info->qcount = t->qcount;
    info->scale = t->scale;
    info->zero_point = t->zero_point;
    return TQ_OK;
}

tq_status tq_graph_find_tensor(const tq_graph *graph, const char *name,
                               int32_t *tensor)
{
    if (!graph || !name || !tensor)
        return TQ_ERR_NULL;
    for (int32_t i = 0; i < graph->n_tensors; ++i)
        if (strcmp(graph->tensors[i].name, name) == 0) {
            *tensor = i;
            return TQ_OK;
        }
    return TQ_ERR_NOT_FOUND;
}

tq_status tq_graph_io(const tq_graph *graph, int32_t *input, int32_t *output)
{
    if (!graph || !input || !output)
        return TQ_ERR_NULL;
    if (graph->input < 0 || graph->output < 0)
        return TQ_ERR_NOT_FOUND;
    *input = graph->input;
    *output = graph->output;
    return TQ_OK;
}

/* ---- copies --------------------------------------------------------------------- */

static void *dup_bytes(const void *p, size_t n)
{
    if (!p)
        return NULL;
    void *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

tq_status tq__graph_clone(const tq_graph *src, tq_graph **dst)
{
    tq_graph *g;
    if (!src || !dst)
        return TQ_ERR_NULL;
    TQ_CHECK(tq_graph_create(&g));
    *g = *src;
    g->q = NULL;
    g->q_free = NULL;
    g->q_scratch = NULL;
    g->quantized = 0;
    g->tensors = calloc(src->n_tensors ? (size_t)src->n_tensors : 1,
                        sizeof *g->tensors);
    g->nodes = calloc(src->n_nodes ? (size_t)src->n_nodes : 1,
                      sizeof *g->nodes);
    g->n_tensors = g->n_nodes = 0;
    g->cap_tensors = src->n_tensors;
    g->cap_nodes = src->n_nodes;
    int ok = g->tensors && g->nodes;
    for (int32_t i = 0; ok && i < src->n_tensors; ++i) {
        const tq__tensor *s = &src->tensors[i];
        tq__tensor *t = &g->tensors[i];
        *t = *s;
        t->scale = NULL;
        t->zero_point = NULL;
        t->qcount = 0;
        t->name = dup_string(s->name);
        t->data = s->data ? dup_bytes(s->data,
                                      s->dtype == TQ_S4
                                          ? tq_s4_packed_size(s->numel)
                                          : s->numel * tq_dtype_size(s->dtype))
                          : NULL;
        g->n_tensors = i + 1;
        ok = t->name && (!s->data || t->data);
    }
    for (int32_t i = 0; ok && i < src->n_nodes; ++i) {
        const tq__node *s = &src->nodes[i];
        tq__node *n = &g->nodes[i];
        *n = *s;
        n->q = NULL;
        n->name = dup_string(s->name);
        n->inputs = dup_bytes(s->inputs, (size_t)s->n_inputs * sizeof(int32_t));
        n->bn_scale = dup_bytes(s->bn_scale, (size_t)s->bn_count * sizeof(float));
        n->bn_shift = dup_bytes(s->bn_shift, (size_t)s->bn_count * sizeof(float));
        n->aff_scale = dup_bytes(s->aff_scale, (size_t)s->aff_count * sizeof(float));
        n->aff_shift = dup_bytes(s->aff_shift, (size_t)s->aff_count * sizeof(float));
        g->n_nodes = i + 1;
        ok = n->name && n->inputs && (!s->bn_scale || n->bn_scale) &&
             (!s->bn_shift || n->bn_shift) && (!s->aff_scale || n->aff_scale) &&
             (!s->aff_shift || n->aff_shift);
    }
    if (!ok) {
        tq_graph_free(g);
        return TQ_ERR_NO_MEMORY;
    }
    *dst = g;
    return TQ_OK;
}

tq_dims tq__graph_dims(const tq_graph *g, int32_t t, int64_t batch)
{
    const tq__tensor *x = &g->tensors[t];
    tq_dims d = {(int32_t)batch, 1, 1, (int32_t)x->numel};
    if (x->ndim == 4) {
        d.h = (int32_t)x->shape[1];
        d.w = (int32_t)x->shape[2];
        d.c = (int32_t)x->shape[3];
    }
    return d;
}
