/*
 * ONNX import (host only): tq_graph_load_onnx(), tq_graph_load_onnx_memory().
 *
 * The file is parsed by protobuf-c with C code that meson generates at
 * build time (protoc-c) from the onnx.proto the ONNX packages install; the
 * graph is then converted from NCHW to tinyq's NHWC and built through the
 * public builder API only (tq_graph_create, tq_graph_add_input,
 * tq_graph_add_constant, tq_graph_add_node, tq_graph_set_output,
 * tq_graph_finalize). docs/onnx.md lists the operators and attributes.
 *
 * Errors: a file protobuf-c cannot unpack, or whose graph is inconsistent
 * (sizes that lie, undefined inputs, cycles, duplicate names, shapes that do
 * not match) is TQ_ERR_FORMAT; a well-formed model using an operator,
 * attribute value or data type tinyq does not run is TQ_ERR_UNSUPPORTED.
 * Either way the caller's message buffer receives a sentence naming the
 * node (index and name), the op and the attribute, and *graph is untouched.
 *
 * Without protobuf-c (TQ_HAVE_PROTOBUF_C undefined) both functions say so
 * and return TQ_ERR_UNSUPPORTED.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"

/* Write a sentence into the caller's buffer: always NUL-terminated when
 * size > 0, cut at the end if too long. */
static void msg_vset(char *msg, size_t size, const char *prefix,
                     const char *fmt, va_list ap)
{
    size_t len = 0;
    if (msg == NULL || size == 0)
        return;
    msg[0] = '\0';
    if (prefix != NULL) {
        int k = snprintf(msg, size, "%s", prefix);
        if (k < 0)
            return;
        len = (size_t)k < size ? (size_t)k : size - 1;
    }
    if (len < size - 1)
        (void)vsnprintf(msg + len, size - len, fmt, ap);
    msg[size - 1] = '\0';
}

static void msg_set(char *msg, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void msg_set(char *msg, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vset(msg, size, NULL, fmt, ap);
    va_end(ap);
}

#ifndef TQ_HAVE_PROTOBUF_C

static const char no_pb[] =
    "tinyq was built without protobuf-c: ONNX import is unavailable "
    "(install libprotobuf-c-dev, protobuf-c-compiler and python3-onnx and "
    "rebuild; see docs/onnx.md)";

TQ_API tq_status tq_graph_load_onnx(const char *path, tq_graph **graph,
                                    char *message, size_t message_size)
{
    if (path == NULL || graph == NULL) {
        msg_set(message, message_size, "path or graph is NULL");
        return TQ_ERR_NULL;
    }
    msg_set(message, message_size, "%s", no_pb);
    return TQ_ERR_UNSUPPORTED;
}

TQ_API tq_status tq_graph_load_onnx_memory(const void *bytes, size_t size,
                                           tq_graph **graph, char *message,
                                           size_t message_size)
{
    if ((bytes == NULL && size > 0) || graph == NULL) {
        msg_set(message, message_size, "bytes or graph is NULL");
        return TQ_ERR_NULL;
    }
    msg_set(message, message_size, "%s", no_pb);
    return TQ_ERR_UNSUPPORTED;
}

#else /* TQ_HAVE_PROTOBUF_C */

#include "onnx.pb-c.h"

/* ONNX TensorProto data types this importer reads. */
enum {
    ONNX_FLOAT = 1,
    ONNX_INT32 = 6,
    ONNX_INT64 = 7,
    ONNX_DOUBLE = 11
};

#define MAX_RANK 8          /* constants of higher rank are refused */
#define MAX_PB_DEPTH 64     /* nesting of protobuf messages */
#define OPSET_MIN 7
#define OPSET_MAX 17

static const char *S(const char *s) { return s != NULL ? s : ""; }

/* ---- values ------------------------------------------------------------- */

enum { V_UNSET = 0, V_CONST = 1, V_ACT = 2 };

typedef struct val {
    const char *name;      /* into the unpacked message */
    int32_t kind;          /* V_* */
    int32_t producer;      /* node index, -1 for graph inputs / initializers */
    int32_t out_slot;      /* which output of the producer */
    int32_t uses;          /* live node inputs reading it, +1 if graph output */
    int32_t rank;          /* ONNX rank (activations: 2 or 4, N = 1) */
    int64_t dims[MAX_RANK];
    /* constants */
    int32_t dtype;         /* ONNX_FLOAT, ONNX_INT64, or another (unusable) */
    size_t count;
    float *f;              /* owned */
    int64_t *i64;          /* owned */
    /* activations */
    int32_t tid;           /* tq tensor id */
    int64_t chw[3];        /* a flattened C,H,W map stored in H,W,C order
                              (tinyq's NHWC flatten); all 0 when the tinyq
                              order is ONNX's */
    int32_t lay;           /* L_*: how a Transpose changed the layout */
} val;

/* Layouts of rank-4 activations besides ONNX NCHW (held NHWC by tinyq). */
enum {
    L_NCHW = 0, /* ONNX [N,C,H,W], tinyq NHWC: the usual case */
    L_INPUT_NHWC = 1, /* the graph input [N,H,W,C] that a Transpose with perm
                         [0,3,1,2] reads: tinyq holds it as it is */
    L_HWC = 2   /* a Transpose [0,2,3,1] output, ONNX [N,H,W,C]: tinyq's
                   storage order, so only a flatten may read it */
};

typedef struct ctx {
    char *msg;
    size_t msg_size;
    const Onnx__GraphProto *gp;
    int64_t opset;
    val *vals;
    size_t n_vals;
    size_t *slots;         /* hash of value names: index + 1, 0 empty */
    size_t cap;
    tq_graph *g;
    /* per node */
    int32_t *live;         /* 1 if the output needs it */
    int32_t *fused;        /* 1 if an earlier node took it in (MatMul+Add) */
    int32_t *order;        /* topological order */
    size_t *cons_start;    /* consumers of value v: cons[cons_start[v] ..] */
    int32_t *cons;
    /* the node being converted */
    int32_t ni;
    const Onnx__NodeProto *node;
} ctx;

/* ---- messages ----------------------------------------------------------- */

static tq_status fail(ctx *c, tq_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static tq_status fail(ctx *c, tq_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vset(c->msg, c->msg_size, NULL, fmt, ap);
    va_end(ap);
    return st;
}

/* A sentence about the current node: "node 3 'conv1' (Conv): ...". */
static tq_status nfail(ctx *c, tq_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static tq_status nfail(ctx *c, tq_status st, const char *fmt, ...)
{
    char prefix[256];
    va_list ap;
    const char *name = c->node != NULL ? S(c->node->name) : "";
    const char *op = c->node != NULL ? S(c->node->op_type) : "";
    if (name[0] != '\0')
        snprintf(prefix, sizeof prefix, "node %d '%.100s' (%.60s): ",
                 (int)c->ni, name, op);
    else
        snprintf(prefix, sizeof prefix, "node %d (%.60s): ", (int)c->ni, op);
    va_start(ap, fmt);
    msg_vset(c->msg, c->msg_size, prefix, fmt, ap);
    va_end(ap);
    return st;
}

/* ---- protobuf nesting guard --------------------------------------------- */

/* protobuf-c unpacks nested messages recursively without a depth limit, so
 * a few kilobytes of nested length-delimited fields would exhaust the
 * stack. This walks the wire format's structure only (keys and lengths,
 * against the generated descriptors) to bound the nesting before
 * unpacking; the content is left to protobuf-c. Returns 0 when fine, 1 if
 * the structure is malformed, 2 if nested too deep. */
static int pb_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned s = 0; s < 64 && *i < n; s += 7) {
        uint8_t b = p[(*i)++];
        x |= (uint64_t)(b & 0x7f) << s;
        if ((b & 0x80) == 0) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

static int pb_walk(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                   size_t n, int depth)
{
    size_t i = 0;
    if (depth > MAX_PB_DEPTH)
        return 2;
    while (i < n) {
        uint64_t key, len;
        if (!pb_varint(p, n, &i, &key))
            return 1;
        switch (key & 7) {
        case 0:
            if (!pb_varint(p, n, &i, &len))
                return 1;
            break;
        case 1:
            if (n - i < 8)
                return 1;
            i += 8;
            break;
        case 5:
            if (n - i < 4)
                return 1;
            i += 4;
            break;
        case 2: {
            const ProtobufCFieldDescriptor *f = NULL;
            if (!pb_varint(p, n, &i, &len) || len > n - i)
                return 1;
            if ((key >> 3) <= UINT32_MAX && d != NULL)
                f = protobuf_c_message_descriptor_get_field(
                    d, (unsigned)(key >> 3));
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                int r = pb_walk((const ProtobufCMessageDescriptor *)
                                    f->descriptor,
                                p + i, (size_t)len, depth + 1);
                if (r != 0)
                    return r;
            }
            i += (size_t)len;
            break;
        }
        default:
            return 1; /* groups (3, 4) and invalid wire types */
        }
    }
    return 0;
}

/* ---- name table ---------------------------------------------------------- */

static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s != '\0'; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

static val *lookup(const ctx *c, const char *name)
{
    size_t i;
    if (name == NULL || name[0] == '\0' || c->cap == 0)
        return NULL;
    for (i = hash_str(name) & (c->cap - 1); c->slots[i] != 0;
         i = (i + 1) & (c->cap - 1)) {
        val *v = &c->vals[c->slots[i] - 1];
        if (strcmp(v->name, name) == 0)
            return v;
    }
    return NULL;
}

/* A new value called @p name; NULL if the name exists already. */
static val *define(ctx *c, const char *name, int32_t producer, int32_t slot)
{
    size_t i;
    val *v;
    for (i = hash_str(name) & (c->cap - 1); c->slots[i] != 0;
         i = (i + 1) & (c->cap - 1))
        if (strcmp(c->vals[c->slots[i] - 1].name, name) == 0)
            return NULL;
    v = &c->vals[c->n_vals];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->producer = producer;
    v->out_slot = slot;
    v->tid = -1;
    c->slots[i] = ++c->n_vals;
    return v;
}

static size_t val_index(const ctx *c, const val *v)
{
    return (size_t)(v - c->vals);
}

/* ---- tensors --------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Fill constant @p v from a TensorProto: dims checked, float32 and int64
 * data copied (raw little-endian bytes or the typed field); other types are
 * kept as unusable constants (refused where a node reads them). @p what
 * names the tensor for messages. */
static tq_status read_tensor(ctx *c, const Onnx__TensorProto *t, val *v,
                             const char *what)
{
    size_t count = 1, esize = 0;
    if (t->n_dims > MAX_RANK)
        return fail(c, TQ_ERR_UNSUPPORTED,
                    "%s: %zu dimensions (at most %d supported)", what,
                    t->n_dims, MAX_RANK);
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0)
            return fail(c, TQ_ERR_FORMAT, "%s: dimension %zu is negative "
                        "(%lld)", what, d, (long long)t->dims[d]);
        if (tq__mul_size(count, (size_t)t->dims[d], &count) ||
            (uint64_t)t->dims[d] > SIZE_MAX)
            return fail(c, TQ_ERR_FORMAT, "%s: dimensions overflow", what);
        v->dims[d] = t->dims[d];
    }
    v->kind = V_CONST;
    v->rank = (int32_t)t->n_dims;
    v->count = count;
    v->dtype = t->has_data_type ? t->data_type : 0;
    if ((t->has_data_location &&
         t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
        t->n_external_data > 0)
        return fail(c, TQ_ERR_UNSUPPORTED,
                    "%s: external data is not supported (save the model "
                    "with its weights inside the file)", what);
    if (t->segment != NULL)
        return fail(c, TQ_ERR_UNSUPPORTED, "%s: segmented tensors are not "
                    "supported", what);
    if (v->dtype == ONNX_FLOAT)
        esize = 4;
    else if (v->dtype == ONNX_INT64)
        esize = 8;
    else
        return TQ_OK; /* unusable; refused where it is read */
    if (t->has_raw_data) {
        size_t bytes;
        if (tq__mul_size(count, esize, &bytes) || t->raw_data.len != bytes)
            return fail(c, TQ_ERR_FORMAT,
                        "%s: raw_data holds %zu bytes but its dimensions "
                        "need %zu elements of %zu bytes", what,
                        t->raw_data.len, count, esize);
    } else if (esize == 4 ? t->n_float_data != count
                          : t->n_int64_data != count) {
        return fail(c, TQ_ERR_FORMAT,
                    "%s: holds %zu values but its dimensions say %zu", what,
                    esize == 4 ? t->n_float_data : t->n_int64_data, count);
    }
    if (esize == 4) {
        v->f = malloc(count > 0 ? count * sizeof(float) : 1);
        if (v->f == NULL)
            return fail(c, TQ_ERR_NO_MEMORY, "%s: out of memory", what);
        for (size_t k = 0; k < count; k++) {
            if (t->has_raw_data) {
                uint32_t u = le32(t->raw_data.data + 4 * k);
                memcpy(&v->f[k], &u, 4);
            } else {
                v->f[k] = t->float_data[k];
            }
        }
    } else {
        v->i64 = malloc(count > 0 ? count * sizeof(int64_t) : 1);
        if (v->i64 == NULL)
            return fail(c, TQ_ERR_NO_MEMORY, "%s: out of memory", what);
        for (size_t k = 0; k < count; k++) {
            if (t->has_raw_data) {
                uint64_t u = le64(t->raw_data.data + 8 * k);
                memcpy(&v->i64[k], &u, 8);
            } else {
                v->i64[k] = t->int64_data[k];
            }
        }
    }
    return TQ_OK;
}

/* ---- attributes ------------------------------------------------------------ */

static const Onnx__AttributeProto *attr(const ctx *c, const char *name)
{
    for (size_t k = 0; k < c->node->n_attribute; k++)
        if (strcmp(S(c->node->attribute[k]->name), name) == 0)
            return c->node->attribute[k];
    return NULL;
}

/* Refuse attributes the op does not know (NULL-terminated list). */
static tq_status check_attrs(ctx *c, const char *const *known)
{
    for (size_t k = 0; k < c->node->n_attribute; k++) {
        const char *name = S(c->node->attribute[k]->name);
        const char *const *p;
        for (p = known; *p != NULL; p++)
            if (strcmp(*p, name) == 0)
                break;
        if (*p == NULL)
            return nfail(c, TQ_ERR_UNSUPPORTED,
                         "attribute '%.60s' is not supported", name);
        if (c->node->attribute[k]->ref_attr_name != NULL &&
            c->node->attribute[k]->ref_attr_name[0] != '\0')
            return nfail(c, TQ_ERR_UNSUPPORTED, "attribute '%.60s' refers "
                         "to a function attribute", name);
    }
    return TQ_OK;
}

static tq_status attr_int(ctx *c, const char *name, int64_t def,
                          int64_t *out)
{
    const Onnx__AttributeProto *a = attr(c, name);
    *out = def;
    if (a == NULL)
        return TQ_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
        return nfail(c, TQ_ERR_FORMAT, "attribute '%s' is not an int", name);
    *out = a->i;
    return TQ_OK;
}

static tq_status attr_float(ctx *c, const char *name, float def, float *out)
{
    const Onnx__AttributeProto *a = attr(c, name);
    *out = def;
    if (a == NULL)
        return TQ_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
        return nfail(c, TQ_ERR_FORMAT, "attribute '%s' is not a float", name);
    *out = a->f;
    return TQ_OK;
}

/* Ints attribute of exactly @p want values (when present): *present 0/1. */
static tq_status attr_ints(ctx *c, const char *name, size_t want,
                           int64_t *out, int *present)
{
    const Onnx__AttributeProto *a = attr(c, name);
    *present = 0;
    if (a == NULL)
        return TQ_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
        return nfail(c, TQ_ERR_FORMAT, "attribute '%s' is not a list of ints",
                     name);
    if (a->n_ints != want)
        return nfail(c, TQ_ERR_UNSUPPORTED,
                     "attribute '%s' has %zu values (expected %zu: 2-D "
                     "only)", name, a->n_ints, want);
    memcpy(out, a->ints, want * sizeof(int64_t));
    *present = 1;
    return TQ_OK;
}

/* String attribute compared with @p s (strings are bytes, not NUL-ended). */
static int str_is(const Onnx__AttributeProto *a, const char *s)
{
    size_t n = strlen(s);
    return a->s.len == n && (n == 0 || memcmp(a->s.data, s, n) == 0);
}

static tq_status attr_string_present(ctx *c, const char *name,
                                     const Onnx__AttributeProto **out)
{
    const Onnx__AttributeProto *a = attr(c, name);
    *out = NULL;
    if (a == NULL)
        return TQ_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)
        return nfail(c, TQ_ERR_FORMAT, "attribute '%s' is not a string",
                     name);
    *out = a;
    return TQ_OK;
}

/* ---- inputs ---------------------------------------------------------------- */

/* Input @p k of the node, or NULL when absent (past the end or ""). */
static val *in(const ctx *c, size_t k)
{
    if (k >= c->node->n_input || c->node->input[k][0] == '\0')
        return NULL;
    return lookup(c, c->node->input[k]);
}

static tq_status need_inputs(ctx *c, size_t lo, size_t hi)
{
    if (c->node->n_input < lo || c->node->n_input > hi)
        return nfail(c, TQ_ERR_FORMAT, "%zu inputs (expected %zu to %zu)",
                     c->node->n_input, lo, hi);
    for (size_t k = 0; k < lo; k++)
        if (c->node->input[k][0] == '\0')
            return nfail(c, TQ_ERR_FORMAT, "input %zu is missing", k);
    return TQ_OK;
}

/* Refuses input @p k of the current node when a Transpose changed its
 * layout (only a Transpose or a flatten may read such a value). */
static tq_status plain_layout(ctx *c, size_t k, const val *v)
{
    if (v->lay == L_INPUT_NHWC)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input %zu '%.60s' is the NHWC "
                     "graph input, which only a Transpose with perm "
                     "[0, 3, 1, 2] may read", k, v->name);
    if (v->lay == L_HWC)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input %zu '%.60s' comes from a "
                     "Transpose with perm [0, 2, 3, 1], which only a Flatten "
                     "or a Reshape to [N, -1] may read", k, v->name);
    return TQ_OK;
}

/* An activation input, any layout. */
static tq_status need_act_any(ctx *c, size_t k, val **out)
{
    val *v = in(c, k);
    if (v == NULL)
        return nfail(c, TQ_ERR_FORMAT, "input %zu is missing", k);
    if (v->kind != V_ACT)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input %zu '%.60s' must be an "
                     "activation, not a constant", k, v->name);
    *out = v;
    return TQ_OK;
}

static tq_status need_act(ctx *c, size_t k, val **out)
{
    TQ_CHECK(need_act_any(c, k, out));
    return plain_layout(c, k, *out);
}

static tq_status need_const(ctx *c, size_t k, int32_t dtype, val **out)
{
    val *v = in(c, k);
    if (v == NULL)
        return nfail(c, TQ_ERR_FORMAT, "input %zu is missing", k);
    if (v->kind != V_CONST)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input %zu '%.60s' must be a "
                     "constant (an initializer or a Constant node)", k,
                     v->name);
    if (v->dtype != dtype)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input %zu '%.60s' has data "
                     "type %d (%s expected)", k, v->name, (int)v->dtype,
                     dtype == ONNX_FLOAT ? "float32" : "int64");
    *out = v;
    return TQ_OK;
}

/* ---- building ------------------------------------------------------------- */

static tq_status builder_fail(ctx *c, tq_status st, const char *what)
{
    tq_status mapped = st;
    if (st == TQ_ERR_SHAPE || st == TQ_ERR_DTYPE || st == TQ_ERR_OVERFLOW ||
        st == TQ_ERR_NULL)
        mapped = TQ_ERR_FORMAT;
    else if (st == TQ_ERR_PARAM)
        mapped = TQ_ERR_UNSUPPORTED;
    if (c->node != NULL)
        return nfail(c, mapped, "%s: %s", what, tq_graph_error(c->g));
    return fail(c, mapped, "%s: %s", what, tq_graph_error(c->g));
}

static tq_status add_const(ctx *c, const char *name, const float *data,
                           int32_t ndim, const int64_t *shape, int32_t *tid)
{
    tq_tensor t;
    tq_status st = tq_tensor_init(&t, (void *)(uintptr_t)data, TQ_F32, ndim,
                                  shape);
    if (st != TQ_OK)
        return nfail(c, TQ_ERR_FORMAT, "constant '%.60s': %s", name,
                     tq_status_message(st));
    st = tq_graph_add_constant(c->g, name, &t, tid);
    if (st != TQ_OK)
        return builder_fail(c, st, "adding a constant");
    return TQ_OK;
}

/* The tinyq name of the current node's k-th helper node: its ONNX name
 * (else its first output), with a suffix for extra nodes. */
static const char *node_name(const ctx *c, char *buf, size_t size,
                             const char *suffix)
{
    const char *base = S(c->node->name);
    if (base[0] == '\0' && c->node->n_output > 0)
        base = c->node->output[0];
    if (suffix == NULL)
        return base;
    snprintf(buf, size, "%.200s/%s", base, suffix);
    return buf;
}

static tq_status add_node(ctx *c, const char *suffix, int32_t op,
                          int32_t n_in, const int32_t *ins,
                          const tq_node_attrs *a, int32_t *out)
{
    char buf[256];
    tq_status st = tq_graph_add_node(c->g, node_name(c, buf, sizeof buf,
                                                     suffix),
                                     op, n_in, ins, a, out);
    if (st != TQ_OK)
        return builder_fail(c, st, "tinyq refused the node");
    return TQ_OK;
}

/* An activation shape tinyq can hold: every extent >= 1, at most
 * INT32_MAX elements per sample (the kernels' limit). */
static tq_status check_act_shape(ctx *c, int32_t rank, const int64_t *d)
{
    int64_t n = 1;
    for (int32_t k = 0; k < rank; k++) {
        if (d[k] < 1)
            return nfail(c, TQ_ERR_FORMAT, "output extent %d is %lld",
                         (int)k, (long long)d[k]);
        if (d[k] > INT32_MAX / n)
            return nfail(c, TQ_ERR_UNSUPPORTED, "output of more than "
                         "2^31 elements per sample");
        n *= d[k];
    }
    return TQ_OK;
}

/* The current node's output 0 becomes activation @p tid. */
static tq_status set_out(ctx *c, int32_t tid, int32_t rank,
                         const int64_t *dims, const int64_t *chw)
{
    val *o = lookup(c, c->node->output[0]);
    o->kind = V_ACT;
    o->tid = tid;
    o->rank = rank;
    memcpy(o->dims, dims, (size_t)rank * sizeof(int64_t));
    if (chw != NULL)
        memcpy(o->chw, chw, sizeof o->chw);
    return TQ_OK;
}

/* 1 if an activation's tinyq element order is ONNX's (a plain vector, or
 * a map with one channel or one pixel). */
static int plain_order(const val *v)
{
    if (v->rank == 4)
        return v->dims[1] == 1 || v->dims[2] * v->dims[3] == 1;
    return v->chw[0] == 0;
}

/* ONNX element index k of a C,H,W-ordered vector -> position in H,W,C. */
static size_t chw_to_hwc(const int64_t *chw, size_t k)
{
    size_t hw = (size_t)(chw[1] * chw[2]);
    size_t ch = k / hw, p = k % hw;
    return p * (size_t)chw[0] + ch;
}

/* ---- shapes of convolutions and pools -------------------------------------- */

typedef struct geom {
    int64_t k[2], s[2], d[2];
    int64_t pad[4]; /* top, left, bottom, right (ONNX order) */
} geom;

/* Read strides, dilations, pads and auto_pad for input extents @p hw and
 * kernel @p k (already set in g->k); ceil_mode for pools. Fills g->pad and
 * the output extents @p out. */
static tq_status read_geom(ctx *c, geom *g, const int64_t *hw, int pool,
                           int64_t ceil_mode, int64_t *out)
{
    int present;
    const Onnx__AttributeProto *ap;
    g->s[0] = g->s[1] = 1;
    g->d[0] = g->d[1] = 1;
    memset(g->pad, 0, sizeof g->pad);
    TQ_CHECK(attr_ints(c, "strides", 2, g->s, &present));
    TQ_CHECK(attr_ints(c, "dilations", 2, g->d, &present));
    TQ_CHECK(attr_ints(c, "pads", 4, g->pad, &present));
    TQ_CHECK(attr_string_present(c, "auto_pad", &ap));
    for (int a = 0; a < 2; a++) {
        if (g->s[a] < 1 || g->s[a] > INT32_MAX)
            return nfail(c, TQ_ERR_FORMAT, "attribute 'strides' value %lld "
                         "is out of range", (long long)g->s[a]);
        if (g->d[a] < 1 || g->d[a] > INT32_MAX)
            return nfail(c, TQ_ERR_FORMAT, "attribute 'dilations' value "
                         "%lld is out of range", (long long)g->d[a]);
        if (pool && g->d[a] != 1)
            return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'dilations' "
                         "value %lld (pools support 1 only)",
                         (long long)g->d[a]);
        if (g->k[a] < 1 || g->k[a] > INT32_MAX)
            return nfail(c, TQ_ERR_FORMAT, "kernel extent %lld is out of "
                         "range", (long long)g->k[a]);
    }
    for (int a = 0; a < 4; a++)
        if (g->pad[a] < 0 || g->pad[a] > INT32_MAX)
            return nfail(c, TQ_ERR_FORMAT, "attribute 'pads' value %lld is "
                         "out of range", (long long)g->pad[a]);
    if (ap != NULL && !str_is(ap, "NOTSET")) {
        int upper = str_is(ap, "SAME_UPPER"), lower = str_is(ap, "SAME_LOWER");
        if (str_is(ap, "VALID")) {
            memset(g->pad, 0, sizeof g->pad);
        } else if (upper || lower) {
            for (int a = 0; a < 2; a++) {
                int64_t o = (hw[a] + g->s[a] - 1) / g->s[a];
                int64_t need = (o - 1) * g->s[a] + (g->k[a] - 1) * g->d[a] +
                               1 - hw[a];
                if (need < 0)
                    need = 0;
                g->pad[a] = upper ? need / 2 : need - need / 2;
                g->pad[a + 2] = need - g->pad[a];
            }
        } else {
            return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'auto_pad' value "
                         "'%.*s' is not supported", (int)(ap->s.len > 40 ? 40 : ap->s.len),
                         (const char *)ap->s.data);
        }
    }
    for (int a = 0; a < 2; a++) {
        int64_t span = hw[a] + g->pad[a] + g->pad[a + 2] -
                       (g->k[a] - 1) * g->d[a] - 1;
        if (span < 0)
            return nfail(c, TQ_ERR_FORMAT, "the %s window (%lld) is larger "
                         "than the padded input (%lld)", pool ? "pool" : "conv",
                         (long long)((g->k[a] - 1) * g->d[a] + 1),
                         (long long)(hw[a] + g->pad[a] + g->pad[a + 2]));
        out[a] = span / g->s[a] + 1;
        if (ceil_mode && span % g->s[a] != 0) {
            int64_t o = out[a] + 1;
            /* The last window must start inside the input or the leading
             * padding (PyTorch's and ONNX's rule). */
            if ((o - 1) * g->s[a] < hw[a] + g->pad[a]) {
                out[a] = o;
                /* The extra rows are padding at the end, ignored by the
                 * pools (see conv_pool's count_include_pad handling). */
            }
        }
    }
    return TQ_OK;
}

/* ---- operators ------------------------------------------------------------ */

static tq_status op_conv(ctx *c)
{
    static const char *const known[] = {"auto_pad", "dilations", "group",
                                        "kernel_shape", "pads", "strides",
                                        NULL};
    val *x, *w, *b = NULL;
    int64_t group, ks[2], out_hw[2], O, Cin, Cg;
    int present;
    geom g;
    tq_node_attrs a;
    tq_status st;
    float *wt = NULL;
    int32_t ins[3], n_in = 2, out;
    int depthwise;
    TQ_CHECK(check_attrs(c, known));
    TQ_CHECK(need_inputs(c, 2, 3));
    TQ_CHECK(need_act(c, 0, &x));
    TQ_CHECK(need_const(c, 1, ONNX_FLOAT, &w));
    if (in(c, 2) != NULL)
        TQ_CHECK(need_const(c, 2, ONNX_FLOAT, &b));
    if (x->rank != 4)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input of rank %d (2-D "
                     "convolutions of NCHW maps only)", (int)x->rank);
    if (w->rank != 4)
        return nfail(c, TQ_ERR_UNSUPPORTED, "weight of rank %d (2-D "
                     "convolutions only)", (int)w->rank);
    TQ_CHECK(attr_int(c, "group", 1, &group));
    O = w->dims[0];
    Cin = x->dims[1];
    Cg = w->dims[1];
    if (group < 1 || group > Cin || Cin % group != 0 || O % group != 0 ||
        Cg * group != Cin)
        return nfail(c, TQ_ERR_FORMAT, "attribute 'group' %lld does not fit "
                     "%lld input channels and weight [%lld, %lld, ...]",
                     (long long)group, (long long)Cin, (long long)O,
                     (long long)Cg);
    if (O < 1 || O > INT32_MAX || w->dims[2] < 1 || w->dims[3] < 1)
        return nfail(c, TQ_ERR_FORMAT, "weight has an empty dimension");
    g.k[0] = w->dims[2];
    g.k[1] = w->dims[3];
    TQ_CHECK(attr_ints(c, "kernel_shape", 2, ks, &present));
    if (present && (ks[0] != g.k[0] || ks[1] != g.k[1]))
        return nfail(c, TQ_ERR_FORMAT, "attribute 'kernel_shape' [%lld, %lld] "
                     "differs from the weight's [%lld, %lld]",
                     (long long)ks[0], (long long)ks[1], (long long)g.k[0],
                     (long long)g.k[1]);
    TQ_CHECK(read_geom(c, &g, x->dims + 2, 0, 0, out_hw));
    if (b != NULL && b->count != (size_t)O)
        return nfail(c, TQ_ERR_FORMAT, "bias has %zu values for %lld output "
                     "channels", b->count, (long long)O);
    {
        int64_t od[4] = {1, O, out_hw[0], out_hw[1]};
        TQ_CHECK(check_act_shape(c, 4, od));
    }
    tq_node_attrs_init(&a);
    a.conv.stride_h = (int32_t)g.s[0];
    a.conv.stride_w = (int32_t)g.s[1];
    a.conv.dilation_h = (int32_t)g.d[0];
    a.conv.dilation_w = (int32_t)g.d[1];
    a.conv.pad_top = (int32_t)g.pad[0];
    a.conv.pad_left = (int32_t)g.pad[1];
    a.conv.pad_bottom = (int32_t)g.pad[2];
    a.conv.pad_right = (int32_t)g.pad[3];
    depthwise = group > 1 && group == Cin && Cg == 1;
    wt = malloc(w->count * sizeof(float));
    if (wt == NULL)
        return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
    {
        tq_tensor ti, to;
        int64_t oshape[4];
        if (depthwise) {
            oshape[0] = 1;
            oshape[1] = g.k[0];
            oshape[2] = g.k[1];
            oshape[3] = O;
        } else {
            oshape[0] = O;
            oshape[1] = g.k[0];
            oshape[2] = g.k[1];
            oshape[3] = Cg;
        }
        st = tq_tensor_init(&ti, w->f, TQ_F32, 4, w->dims);
        if (st == TQ_OK)
            st = tq_tensor_init(&to, wt, TQ_F32, 4, oshape);
        if (st == TQ_OK)
            st = depthwise ? tq_oihw_to_dw(&ti, &to) : tq_oihw_to_ohwi(&ti, &to);
        if (st != TQ_OK) {
            free(wt);
            return nfail(c, TQ_ERR_FORMAT, "weight [%lld, %lld, %lld, %lld]: "
                         "%s", (long long)w->dims[0], (long long)w->dims[1],
                         (long long)w->dims[2], (long long)w->dims[3],
                         tq_status_message(st));
        }
        ins[0] = x->tid;
        st = add_const(c, w->name, wt, 4, oshape, &ins[1]);
        free(wt);
        TQ_CHECK(st);
    }
    if (b != NULL) {
        int64_t bs[1] = {O};
        TQ_CHECK(add_const(c, b->name, b->f, 1, bs, &ins[2]));
        n_in = 3;
    }
    if (depthwise) {
        a.depth_multiplier = (int32_t)(O / Cin);
        TQ_CHECK(add_node(c, NULL, TQ_OP_DEPTHWISE_CONV2D, n_in, ins, &a, &out));
    } else {
        a.conv.groups = (int32_t)group;
        TQ_CHECK(add_node(c, NULL, TQ_OP_CONV2D, n_in, ins, &a, &out));
    }
    {
        int64_t od[4] = {1, O, out_hw[0], out_hw[1]};
        return set_out(c, out, 4, od, NULL);
    }
}

static tq_status op_pool(ctx *c, int avg, int global)
{
    static const char *const known_max[] = {"auto_pad", "ceil_mode",
                                            "dilations", "kernel_shape",
                                            "pads", "storage_order",
                                            "strides", NULL};
    static const char *const known_avg[] = {"auto_pad", "ceil_mode",
                                            "count_include_pad",
                                            "kernel_shape", "pads",
                                            "strides", NULL};
    static const char *const none[] = {NULL};
    val *x;
    int64_t ceil_mode, cip = 0, order, out_hw[2];
    int present;
    geom g;
    tq_node_attrs a;
    int32_t src, out;
    TQ_CHECK(check_attrs(c, global ? none : avg ? known_avg : known_max));
    TQ_CHECK(need_inputs(c, 1, 1));
    TQ_CHECK(need_act(c, 0, &x));
    if (x->rank != 4)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input of rank %d (2-D pools of "
                     "NCHW maps only)", (int)x->rank);
    if (global) {
        int64_t od[4] = {1, x->dims[1], 1, 1};
        TQ_CHECK(add_node(c, NULL, TQ_OP_GLOBAL_AVG_POOL, 1, &x->tid, NULL,
                          &out));
        return set_out(c, out, 4, od, NULL);
    }
    TQ_CHECK(attr_ints(c, "kernel_shape", 2, g.k, &present));
    if (!present)
        return nfail(c, TQ_ERR_FORMAT, "attribute 'kernel_shape' is missing");
    TQ_CHECK(attr_int(c, "ceil_mode", 0, &ceil_mode));
    if (ceil_mode != 0 && ceil_mode != 1)
        return nfail(c, TQ_ERR_FORMAT, "attribute 'ceil_mode' value %lld",
                     (long long)ceil_mode);
    if (avg) {
        TQ_CHECK(attr_int(c, "count_include_pad", 0, &cip));
        if (cip != 0 && cip != 1)
            return nfail(c, TQ_ERR_FORMAT, "attribute 'count_include_pad' "
                         "value %lld", (long long)cip);
    } else {
        TQ_CHECK(attr_int(c, "storage_order", 0, &order));
        if (order != 0)
            return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'storage_order' "
                         "value %lld (0 only)", (long long)order);
    }
    TQ_CHECK(read_geom(c, &g, x->dims + 2, 1, ceil_mode, out_hw));
    {
        int64_t od[4] = {1, x->dims[1], out_hw[0], out_hw[1]};
        TQ_CHECK(check_act_shape(c, 4, od));
    }
    /* The extra end padding ceil_mode adds (never counted by ONNX's or
     * PyTorch's average, whatever count_include_pad says). */
    int64_t extra[2];
    for (int k = 0; k < 2; k++) {
        extra[k] = (out_hw[k] - 1) * g.s[k] + g.k[k] -
                   (x->dims[2 + k] + g.pad[k] + g.pad[k + 2]);
        if (extra[k] < 0)
            extra[k] = 0;
    }
    src = x->tid;
    tq_node_attrs_init(&a);
    if (avg && cip && (extra[0] > 0 || extra[1] > 0) &&
        (g.pad[0] | g.pad[1] | g.pad[2] | g.pad[3]) != 0) {
        /* Counted zero padding and uncounted ceil padding: pad with zeros
         * explicitly, then average over the real (now padded) pixels. */
        a.conv.pad_top = (int32_t)g.pad[0];
        a.conv.pad_left = (int32_t)g.pad[1];
        a.conv.pad_bottom = (int32_t)g.pad[2];
        a.conv.pad_right = (int32_t)g.pad[3];
        TQ_CHECK(add_node(c, "pad", TQ_OP_PAD, 1, &src, &a, &src));
        memset(g.pad, 0, sizeof g.pad);
        cip = 0;
        tq_node_attrs_init(&a);
    } else if (avg && cip && (extra[0] > 0 || extra[1] > 0)) {
        cip = 0; /* no counted padding: only real pixels are counted */
    }
    for (int k = 0; k < 2; k++) {
        if (g.pad[k] >= g.k[k] ||
            g.pad[k + 2] + extra[k] >= g.k[k])
            return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'pads': padding "
                         "of %lld / %lld for a window of %lld (tinyq needs "
                         "pads smaller than the window)",
                         (long long)g.pad[k], (long long)(g.pad[k + 2] + extra[k]),
                         (long long)g.k[k]);
    }
    a.pool.kernel_h = (int32_t)g.k[0];
    a.pool.kernel_w = (int32_t)g.k[1];
    a.pool.stride_h = (int32_t)g.s[0];
    a.pool.stride_w = (int32_t)g.s[1];
    a.pool.pad_top = (int32_t)g.pad[0];
    a.pool.pad_left = (int32_t)g.pad[1];
    a.pool.pad_bottom = (int32_t)(g.pad[2] + extra[0]);
    a.pool.pad_right = (int32_t)(g.pad[3] + extra[1]);
    a.count_include_pad = (int32_t)cip;
    TQ_CHECK(add_node(c, NULL, avg ? TQ_OP_AVG_POOL : TQ_OP_MAX_POOL, 1, &src,
                      &a, &out));
    {
        int64_t od[4] = {1, x->dims[1], out_hw[0], out_hw[1]};
        return set_out(c, out, 4, od, NULL);
    }
}

static tq_status op_batchnorm(ctx *c)
{
    static const char *const known[] = {"epsilon", "momentum", "spatial",
                                        "training_mode", NULL};
    val *x, *p[4];
    float eps;
    int64_t spatial, training;
    int32_t ins[5], out;
    tq_node_attrs a;
    int64_t C;
    TQ_CHECK(check_attrs(c, known));
    TQ_CHECK(need_inputs(c, 5, 5));
    TQ_CHECK(need_act(c, 0, &x));
    for (int k = 0; k < 4; k++)
        TQ_CHECK(need_const(c, (size_t)k + 1, ONNX_FLOAT, &p[k]));
    TQ_CHECK(attr_float(c, "epsilon", 1e-5f, &eps));
    TQ_CHECK(attr_int(c, "spatial", 1, &spatial));
    TQ_CHECK(attr_int(c, "training_mode", 0, &training));
    if (spatial != 1)
        return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'spatial' value %lld "
                     "(1 only)", (long long)spatial);
    if (training != 0)
        return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'training_mode' value "
                     "%lld (inference only)", (long long)training);
    if (!(eps > 0.0f))
        return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'epsilon' value %g "
                     "(must be > 0)", (double)eps);
    if (x->rank != 4 && x->rank != 2)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input of rank %d", (int)x->rank);
    if (x->rank == 2 && x->chw[0] != 0)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input is a flattened C,H,W map");
    C = x->dims[1];
    for (int k = 0; k < 4; k++)
        if (p[k]->count != (size_t)C)
            return nfail(c, TQ_ERR_FORMAT, "input %d '%.60s' has %zu values "
                         "for %lld channels", k + 1, p[k]->name, p[k]->count,
                         (long long)C);
    ins[0] = x->tid;
    for (int k = 0; k < 4; k++)
        TQ_CHECK(add_const(c, p[k]->name, p[k]->f, 1, &C, &ins[k + 1]));
    tq_node_attrs_init(&a);
    a.epsilon = eps;
    TQ_CHECK(add_node(c, NULL, TQ_OP_BATCH_NORM, 5, ins, &a, &out));
    return set_out(c, out, x->rank, x->dims, x->chw);
}

/* A scalar float constant (or absent): Clip's bounds. */
static tq_status scalar_input(ctx *c, size_t k, float def, float *out)
{
    val *v = in(c, k);
    *out = def;
    if (v == NULL)
        return TQ_OK;
    TQ_CHECK(need_const(c, k, ONNX_FLOAT, &v));
    if (v->count != 1)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input %zu '%.60s' has %zu "
                     "values (a scalar bound expected)", k, v->name, v->count);
    *out = v->f[0];
    return TQ_OK;
}

static tq_status op_unary(ctx *c, const char *op)
{
    static const char *const none[] = {NULL};
    static const char *const clip_known[] = {"min", "max", NULL};
    static const char *const leaky_known[] = {"alpha", NULL};
    val *x;
    tq_node_attrs a;
    int32_t out, top;
    tq_node_attrs_init(&a);
    if (strcmp(op, "Relu") == 0) {
        TQ_CHECK(check_attrs(c, none));
        TQ_CHECK(need_inputs(c, 1, 1));
        a.act = TQ_ACT_RELU;
        top = TQ_OP_ACTIVATION;
    } else if (strcmp(op, "LeakyRelu") == 0) {
        TQ_CHECK(check_attrs(c, leaky_known));
        TQ_CHECK(need_inputs(c, 1, 1));
        TQ_CHECK(attr_float(c, "alpha", 0.01f, &a.alpha));
        top = TQ_OP_LEAKY_RELU;
    } else { /* Clip */
        float lo, hi;
        TQ_CHECK(check_attrs(c, clip_known));
        TQ_CHECK(need_inputs(c, 1, 3));
        TQ_CHECK(attr_float(c, "min", -INFINITY, &lo));
        TQ_CHECK(attr_float(c, "max", INFINITY, &hi));
        TQ_CHECK(scalar_input(c, 1, lo, &lo));
        TQ_CHECK(scalar_input(c, 2, hi, &hi));
        if (isnan(lo) || isnan(hi) || lo > hi)
            return nfail(c, TQ_ERR_UNSUPPORTED, "bounds [%g, %g] (need min "
                         "<= max)", (double)lo, (double)hi);
        if (lo == 0.0f && hi == INFINITY) {
            a.act = TQ_ACT_RELU;
        } else if (lo == 0.0f && hi == 6.0f) {
            a.act = TQ_ACT_RELU6;
        } else {
            a.act = TQ_ACT_CLIP;
            a.act_min = lo;
            a.act_max = hi;
        }
        top = TQ_OP_ACTIVATION;
    }
    TQ_CHECK(need_act(c, 0, &x));
    TQ_CHECK(add_node(c, NULL, top, 1, &x->tid, &a, &out));
    return set_out(c, out, x->rank, x->dims, x->chw);
}

static tq_status op_identity(ctx *c, int dropout)
{
    static const char *const none[] = {NULL};
    static const char *const drop_known[] = {"ratio", "seed", "is_test", NULL};
    val *x = in(c, 0), *o;
    int32_t out;
    TQ_CHECK(check_attrs(c, dropout ? drop_known : none));
    TQ_CHECK(need_inputs(c, 1, dropout ? 3 : 1));
    if (dropout && in(c, 2) != NULL)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input 2 'training_mode' is not "
                     "supported (inference only)");
    if (x == NULL)
        return nfail(c, TQ_ERR_FORMAT, "input 0 is missing");
    if (x->kind == V_CONST) {
        /* A constant passed on: share its values. */
        o = lookup(c, c->node->output[0]);
        {
            float *f = NULL;
            int64_t *i = NULL;
            if (x->f != NULL && (f = malloc(x->count * sizeof(float) + 1)) == NULL)
                return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
            if (x->i64 != NULL &&
                (i = malloc(x->count * sizeof(int64_t) + 1)) == NULL) {
                free(f);
                return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
            }
            if (f != NULL)
                memcpy(f, x->f, x->count * sizeof(float));
            if (i != NULL)
                memcpy(i, x->i64, x->count * sizeof(int64_t));
            const char *name = o->name;
            int32_t prod = o->producer, slot = o->out_slot, uses = o->uses;
            *o = *x;
            o->name = name;
            o->producer = prod;
            o->out_slot = slot;
            o->uses = uses;
            o->f = f;
            o->i64 = i;
        }
        return TQ_OK;
    }
    TQ_CHECK(plain_layout(c, 0, x));
    TQ_CHECK(add_node(c, NULL, TQ_OP_IDENTITY, 1, &x->tid, NULL, &out));
    return set_out(c, out, x->rank, x->dims, x->chw);
}

/* Can constant @p k broadcast over activation @p x as one value or one per
 * channel without changing x's shape? Returns 1 (scalar), 2 (per channel)
 * or 0. */
static int broadcast_kind(const val *x, const val *k)
{
    int64_t C = x->dims[1];
    if (k->count == 1)
        return k->rank <= x->rank ? 1 : 0;
    if (k->rank > x->rank || (int64_t)k->count != C)
        return 0;
    /* Right-aligned: the channel axis (1) of x meets k's axis
     * k->rank - (x->rank - 1); every other axis of k must be 1. */
    for (int32_t a = 0; a < k->rank; a++) {
        int32_t xa = x->rank - k->rank + a;
        if (xa == 1) {
            if (k->dims[a] != C)
                return 0;
        } else if (k->dims[a] != 1) {
            return 0;
        }
    }
    return k->rank >= x->rank - 1 ? 2 : 0;
}

/* Add / Sub / Mul / Div. @p kind: 'a', 's', 'm', 'd'. */
static tq_status op_binary(ctx *c, int kind)
{
    static const char *const none[] = {NULL};
    val *a = NULL, *b = NULL, *x, *k;
    int32_t ins[2], out;
    tq_node_attrs at;
    int x_first;
    TQ_CHECK(check_attrs(c, none));
    TQ_CHECK(need_inputs(c, 2, 2));
    a = in(c, 0);
    b = in(c, 1);
    if (a == NULL || b == NULL)
        return nfail(c, TQ_ERR_FORMAT, "an input is missing");
    TQ_CHECK(plain_layout(c, 0, a));
    TQ_CHECK(plain_layout(c, 1, b));
    tq_node_attrs_init(&at);
    if (a->kind == V_ACT && b->kind == V_ACT) {
        if (a->rank != b->rank ||
            memcmp(a->dims, b->dims, (size_t)a->rank * sizeof(int64_t)) != 0 ||
            memcmp(a->chw, b->chw, sizeof a->chw) != 0)
            return nfail(c, TQ_ERR_UNSUPPORTED, "inputs '%.60s' and '%.60s' "
                         "have different shapes (broadcasting between "
                         "activations is not supported)", a->name, b->name);
        if (kind == 'd')
            return nfail(c, TQ_ERR_UNSUPPORTED, "division of two activations "
                         "is not supported");
        ins[0] = a->tid;
        ins[1] = b->tid;
        if (kind == 's') {
            /* a − b = a + (−1)·b */
            float m1 = -1.0f;
            int64_t one = 1;
            int32_t mi[2];
            TQ_CHECK(add_const(c, "minus_one", &m1, 1, &one, &mi[1]));
            mi[0] = b->tid;
            TQ_CHECK(add_node(c, "neg", TQ_OP_MUL, 2, mi, &at, &ins[1]));
        }
        TQ_CHECK(add_node(c, NULL, kind == 'm' ? TQ_OP_MUL : TQ_OP_ADD, 2, ins,
                          &at, &out));
        return set_out(c, out, a->rank, a->dims, a->chw);
    }
    if (a->kind == V_ACT && b->kind == V_CONST) {
        x = a;
        k = b;
        x_first = 1;
    } else if (a->kind == V_CONST && b->kind == V_ACT) {
        x = b;
        k = a;
        x_first = 0;
    } else {
        return nfail(c, TQ_ERR_UNSUPPORTED, "both inputs are constants");
    }
    if (k->dtype != ONNX_FLOAT)
        return nfail(c, TQ_ERR_UNSUPPORTED, "constant '%.60s' has data type "
                     "%d (float32 expected)", k->name, (int)k->dtype);
    if (kind == 'd' && !x_first)
        return nfail(c, TQ_ERR_UNSUPPORTED, "division of a constant by an "
                     "activation is not supported");
    int bk = broadcast_kind(x, k);
    if (bk == 0)
        return nfail(c, TQ_ERR_UNSUPPORTED, "constant '%.60s' (%zu values, "
                     "rank %d) is neither one value nor one per channel of "
                     "the input", k->name, k->count, (int)k->rank);
    size_t n = k->count;
    float *v = malloc(n * sizeof(float));
    if (v == NULL)
        return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++) {
        float y = k->f[i];
        if (kind == 's' && x_first)
            y = -y;             /* x − k = x + (−k) */
        else if (kind == 'd')
            y = 1.0f / y;       /* x / k = x · (1/k) */
        /* a flattened C,H,W vector is held in H,W,C order */
        if (bk == 2 && x->chw[0] != 0)
            v[chw_to_hwc(x->chw, i)] = y;
        else
            v[i] = y;
    }
    int64_t shape = (int64_t)n;
    tq_status st = add_const(c, k->name, v, 1, &shape, &ins[1]);
    free(v);
    TQ_CHECK(st);
    ins[0] = x->tid;
    if (kind == 's' && !x_first) {
        /* k − x = (−1)·x + k */
        float m1 = -1.0f;
        int64_t one = 1;
        int32_t mi[2];
        TQ_CHECK(add_const(c, "minus_one", &m1, 1, &one, &mi[1]));
        mi[0] = x->tid;
        TQ_CHECK(add_node(c, "neg", TQ_OP_MUL, 2, mi, &at, &ins[0]));
    }
    TQ_CHECK(add_node(c, NULL, (kind == 'm' || kind == 'd') ? TQ_OP_MUL
                                                            : TQ_OP_ADD,
                      2, ins, &at, &out));
    return set_out(c, out, x->rank, x->dims, x->chw);
}

/* A fully connected layer from activation @p x [1, K] and ONNX weight
 * @p w (2-D, [K][N] when @p trans is 0, [N][K] when 1) times @p alpha, with
 * bias values @p bias (N of them, or NULL). */
static tq_status make_fc(ctx *c, val *x, const val *w, int trans, float alpha,
                         const float *bias, const char *bias_name,
                         int32_t *out, int64_t *n_out)
{
    int64_t K = x->dims[1], N;
    float *wt;
    int32_t ins[3];
    tq_status st;
    if (x->rank != 2)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input of rank %d (a [N, K] "
                     "matrix expected; add a Flatten)", (int)x->rank);
    if (w->rank != 2)
        return nfail(c, TQ_ERR_UNSUPPORTED, "weight of rank %d (2-D "
                     "expected)", (int)w->rank);
    if ((trans ? w->dims[1] : w->dims[0]) != K)
        return nfail(c, TQ_ERR_FORMAT, "weight [%lld, %lld] does not match "
                     "%lld input features", (long long)w->dims[0],
                     (long long)w->dims[1], (long long)K);
    N = trans ? w->dims[0] : w->dims[1];
    if (N < 1 || N > INT32_MAX)
        return nfail(c, TQ_ERR_FORMAT, "weight has %lld outputs",
                     (long long)N);
    wt = malloc(w->count * sizeof(float));
    if (wt == NULL)
        return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) {
            float y = trans ? w->f[n * K + k] : w->f[k * N + n];
            size_t p = x->chw[0] != 0 ? chw_to_hwc(x->chw, (size_t)k)
                                      : (size_t)k;
            wt[(size_t)n * (size_t)K + p] = alpha * y;
        }
    {
        int64_t shape[2] = {N, K};
        st = add_const(c, w->name, wt, 2, shape, &ins[1]);
    }
    free(wt);
    TQ_CHECK(st);
    ins[0] = x->tid;
    if (bias != NULL)
        TQ_CHECK(add_const(c, bias_name, bias, 1, &N, &ins[2]));
    TQ_CHECK(add_node(c, NULL, TQ_OP_FULLY_CONNECTED, bias != NULL ? 3 : 2,
                      ins, NULL, out));
    *n_out = N;
    return TQ_OK;
}

/* Bias values from constant @p b broadcast to [1, N] (scalar, [N], [1, N]),
 * times @p beta, into a new array. */
static tq_status fc_bias(ctx *c, const val *b, int64_t N, float beta,
                         float **out)
{
    float *v;
    int ok = b->count == 1 || (b->count == (size_t)N &&
                               (b->rank == 1 || (b->rank == 2 &&
                                                 b->dims[0] == 1)));
    *out = NULL;
    if (b->dtype != ONNX_FLOAT)
        return nfail(c, TQ_ERR_UNSUPPORTED, "bias '%.60s' has data type %d "
                     "(float32 expected)", b->name, (int)b->dtype);
    if (!ok || b->rank > 2)
        return nfail(c, TQ_ERR_UNSUPPORTED, "bias '%.60s' (%zu values) does "
                     "not broadcast to [1, %lld]", b->name, b->count,
                     (long long)N);
    v = malloc((size_t)N * sizeof(float));
    if (v == NULL)
        return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
    for (int64_t n = 0; n < N; n++)
        v[n] = beta * b->f[b->count == 1 ? 0 : n];
    *out = v;
    return TQ_OK;
}

static tq_status op_gemm(ctx *c)
{
    static const char *const known[] = {"alpha", "beta", "transA", "transB",
                                        NULL};
    val *x, *w, *b = NULL;
    float alpha, beta, *bias = NULL;
    int64_t ta, tb, N;
    int32_t out;
    tq_status st;
    TQ_CHECK(check_attrs(c, known));
    TQ_CHECK(need_inputs(c, 2, 3));
    TQ_CHECK(attr_float(c, "alpha", 1.0f, &alpha));
    TQ_CHECK(attr_float(c, "beta", 1.0f, &beta));
    TQ_CHECK(attr_int(c, "transA", 0, &ta));
    TQ_CHECK(attr_int(c, "transB", 0, &tb));
    if (ta != 0)
        return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'transA' value %lld "
                     "(the activation must be [N, K]: 0 only)", (long long)ta);
    if (tb != 0 && tb != 1)
        return nfail(c, TQ_ERR_FORMAT, "attribute 'transB' value %lld",
                     (long long)tb);
    TQ_CHECK(need_act(c, 0, &x));
    TQ_CHECK(need_const(c, 1, ONNX_FLOAT, &w));
    if (in(c, 2) != NULL)
        TQ_CHECK(need_const(c, 2, ONNX_FLOAT, &b));
    if (w->rank != 2)
        return nfail(c, TQ_ERR_UNSUPPORTED, "weight of rank %d", (int)w->rank);
    N = tb ? w->dims[0] : w->dims[1];
    if (b != NULL)
        TQ_CHECK(fc_bias(c, b, N, beta, &bias));
    st = make_fc(c, x, w, (int)tb, alpha, bias, b != NULL ? b->name : NULL,
                 &out, &N);
    free(bias);
    TQ_CHECK(st);
    {
        int64_t od[2] = {1, N};
        return set_out(c, out, 2, od, NULL);
    }
}

static tq_status op_matmul(ctx *c)
{
    static const char *const none[] = {NULL};
    val *x, *w, *o, *bias_v = NULL;
    float *bias = NULL;
    int32_t out, add_node_i = -1;
    int64_t N;
    tq_status st;
    TQ_CHECK(check_attrs(c, none));
    TQ_CHECK(need_inputs(c, 2, 2));
    TQ_CHECK(need_act(c, 0, &x));
    TQ_CHECK(need_const(c, 1, ONNX_FLOAT, &w));
    if (w->rank != 2)
        return nfail(c, TQ_ERR_UNSUPPORTED, "weight of rank %d (2-D "
                     "expected)", (int)w->rank);
    N = w->dims[1];
    /* MatMul followed by Add of a bias: one fully connected layer. */
    o = lookup(c, c->node->output[0]);
    if (o->uses == 1) {
        size_t vi = val_index(c, o);
        if (c->cons_start[vi + 1] - c->cons_start[vi] == 1) {
            int32_t cn = c->cons[c->cons_start[vi]];
            const Onnx__NodeProto *an = c->gp->node[cn];
            if (strcmp(S(an->op_type), "Add") == 0 && an->n_input == 2 &&
                an->n_attribute == 0 && an->n_output >= 1 &&
                (S(an->domain)[0] == '\0' ||
                 strcmp(an->domain, "ai.onnx") == 0)) {
                const char *other = strcmp(an->input[0], o->name) == 0
                                        ? an->input[1] : an->input[0];
                val *bv = lookup(c, other);
                if (strcmp(an->input[0], an->input[1]) != 0 && bv != NULL &&
                    bv->kind == V_CONST && bv->dtype == ONNX_FLOAT &&
                    bv->count == (size_t)N && N > 1 &&
                    (bv->rank == 1 || (bv->rank == 2 && bv->dims[0] == 1))) {
                    bias_v = bv;
                    add_node_i = cn;
                }
            }
        }
    }
    if (bias_v != NULL)
        TQ_CHECK(fc_bias(c, bias_v, N, 1.0f, &bias));
    st = make_fc(c, x, w, 0, 1.0f, bias, bias_v != NULL ? bias_v->name : NULL,
                 &out, &N);
    free(bias);
    TQ_CHECK(st);
    {
        int64_t od[2] = {1, N};
        TQ_CHECK(set_out(c, out, 2, od, NULL));
        if (add_node_i >= 0) {
            val *ao = lookup(c, c->gp->node[add_node_i]->output[0]);
            c->fused[add_node_i] = 1;
            ao->kind = V_ACT;
            ao->tid = out;
            ao->rank = 2;
            memcpy(ao->dims, od, sizeof od);
        }
    }
    return TQ_OK;
}

/* A reshape of @p x to ONNX shape @p d (rank @p r, N = 1). */
static tq_status reshape_to(ctx *c, val *x, int32_t r, const int64_t *d)
{
    tq_node_attrs a;
    int32_t out;
    int64_t chw[3] = {0, 0, 0};
    int64_t numel = 1;
    TQ_CHECK(check_act_shape(c, r, d));
    for (int32_t k = 0; k < r; k++)
        numel *= d[k];
    (void)numel;
    tq_node_attrs_init(&a);
    if (d[0] != 1)
        return nfail(c, TQ_ERR_UNSUPPORTED, "target shape's first extent is "
                     "%lld (it must stay the batch)", (long long)d[0]);
    if (x->lay == L_INPUT_NHWC)
        return plain_layout(c, 0, x);
    if (x->lay == L_HWC && r != 2)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input 0 '%.60s' comes from a "
                     "Transpose with perm [0, 2, 3, 1]: only a reshape to "
                     "[N, H*W*C] is supported, not to rank %d", x->name,
                     (int)r);
    if (r == 2) {
        if (x->lay == L_HWC) {
            /* ONNX flattens H,W,C: tinyq's own order, nothing to permute */
        } else if (x->rank == 4) {
            if (!plain_order(x)) {
                chw[0] = x->dims[1];
                chw[1] = x->dims[2];
                chw[2] = x->dims[3];
            }
        } else {
            memcpy(chw, x->chw, sizeof chw);
        }
        a.ndim = 2;
        a.shape[0] = 1;
        a.shape[1] = d[1];
    } else if (r == 4) {
        int ok;
        if (x->rank == 4)
            ok = (plain_order(x) && (d[1] == 1 || d[2] * d[3] == 1)) ||
                 memcmp(x->dims, d, 4 * sizeof(int64_t)) == 0;
        else if (x->chw[0] != 0)
            ok = x->chw[0] == d[1] && x->chw[1] == d[2] && x->chw[2] == d[3];
        else
            ok = d[1] == 1 || d[2] * d[3] == 1;
        if (!ok)
            return nfail(c, TQ_ERR_UNSUPPORTED, "reshaping to [1, %lld, %lld, "
                         "%lld] would reorder the elements of an NHWC "
                         "tensor", (long long)d[1], (long long)d[2],
                         (long long)d[3]);
        a.ndim = 4;
        a.shape[0] = 1;
        a.shape[1] = d[2];
        a.shape[2] = d[3];
        a.shape[3] = d[1];
    } else {
        return nfail(c, TQ_ERR_UNSUPPORTED, "output of rank %d (2 or 4 "
                     "supported)", (int)r);
    }
    TQ_CHECK(add_node(c, NULL, TQ_OP_RESHAPE, 1, &x->tid, &a, &out));
    return set_out(c, out, r, d, chw);
}

static int64_t numel_of(const val *x)
{
    int64_t n = 1;
    for (int32_t k = 0; k < x->rank; k++)
        n *= x->dims[k];
    return n;
}

static tq_status op_flatten(ctx *c)
{
    static const char *const known[] = {"axis", NULL};
    val *x;
    int64_t axis, d[2];
    TQ_CHECK(check_attrs(c, known));
    TQ_CHECK(need_inputs(c, 1, 1));
    TQ_CHECK(need_act_any(c, 0, &x));
    TQ_CHECK(attr_int(c, "axis", 1, &axis));
    if (axis < -x->rank || axis > x->rank)
        return nfail(c, TQ_ERR_FORMAT, "attribute 'axis' value %lld for "
                     "rank %d", (long long)axis, (int)x->rank);
    if (axis < 0)
        axis += x->rank;
    if (axis != 1)
        return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'axis' value %lld "
                     "(1 only: the batch stays apart)", (long long)axis);
    d[0] = 1;
    d[1] = numel_of(x);
    return reshape_to(c, x, 2, d);
}

static tq_status op_reshape(ctx *c)
{
    static const char *const known[] = {"allowzero", NULL};
    val *x, *s;
    int64_t allowzero, d[MAX_RANK], known_n = 1;
    int neg = -1;
    TQ_CHECK(check_attrs(c, known));
    TQ_CHECK(need_inputs(c, 2, 2));
    TQ_CHECK(need_act_any(c, 0, &x));
    TQ_CHECK(need_const(c, 1, ONNX_INT64, &s));
    TQ_CHECK(attr_int(c, "allowzero", 0, &allowzero));
    if (s->rank != 1 || s->count < 1 || s->count > MAX_RANK)
        return nfail(c, TQ_ERR_UNSUPPORTED, "shape input '%.60s' has %zu "
                     "values", s->name, s->count);
    for (size_t k = 0; k < s->count; k++) {
        int64_t v = s->i64[k];
        if (v == 0 && !allowzero) {
            if ((int32_t)k >= x->rank)
                return nfail(c, TQ_ERR_FORMAT, "shape value 0 at %zu copies a "
                             "missing input extent", k);
            v = x->dims[k];
        }
        if (v == -1) {
            if (neg >= 0)
                return nfail(c, TQ_ERR_FORMAT, "shape has two -1 values");
            neg = (int)k;
            d[k] = -1;
            continue;
        }
        if (v < 1)
            return nfail(c, TQ_ERR_FORMAT, "shape value %lld", (long long)v);
        if (v > INT32_MAX || known_n > INT32_MAX / v)
            return nfail(c, TQ_ERR_FORMAT, "shape does not match the input's "
                         "%lld elements", (long long)numel_of(x));
        d[k] = v;
        known_n *= v;
    }
    if (neg >= 0) {
        if (numel_of(x) % known_n != 0)
            return nfail(c, TQ_ERR_FORMAT, "shape does not match the input's "
                         "%lld elements", (long long)numel_of(x));
        d[neg] = numel_of(x) / known_n;
        known_n *= d[neg];
    }
    if (known_n != numel_of(x))
        return nfail(c, TQ_ERR_FORMAT, "shape holds %lld elements, the input "
                     "%lld", (long long)known_n, (long long)numel_of(x));
    return reshape_to(c, x, (int32_t)s->count, d);
}

static tq_status op_softmax(ctx *c)
{
    static const char *const known[] = {"axis", NULL};
    val *x;
    int64_t axis;
    int32_t out;
    int ok;
    TQ_CHECK(check_attrs(c, known));
    TQ_CHECK(need_inputs(c, 1, 1));
    TQ_CHECK(need_act(c, 0, &x));
    TQ_CHECK(attr_int(c, "axis", c->opset >= 13 ? -1 : 1, &axis));
    if (axis < -x->rank || axis >= x->rank)
        return nfail(c, TQ_ERR_FORMAT, "attribute 'axis' value %lld for "
                     "rank %d", (long long)axis, (int)x->rank);
    if (axis < 0)
        axis += x->rank;
    if (x->rank == 2)
        ok = axis == 1;
    else if (c->opset >= 13)
        ok = axis == 1; /* the channels: tinyq's last axis */
    else /* opset < 13: over the flattened axes axis..3 */
        ok = axis == 1 && x->dims[2] * x->dims[3] == 1;
    if (!ok)
        return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'axis' value %lld on "
                     "[1, %lld, %lld, %lld] (softmax over the channels only)",
                     (long long)axis, (long long)x->dims[1],
                     (long long)(x->rank == 4 ? x->dims[2] : 1),
                     (long long)(x->rank == 4 ? x->dims[3] : 1));
    TQ_CHECK(add_node(c, NULL, TQ_OP_SOFTMAX, 1, &x->tid, NULL, &out));
    return set_out(c, out, x->rank, x->dims, x->chw);
}

static tq_status concat_consts(ctx *c);

static tq_status op_concat(ctx *c)
{
    static const char *const known[] = {"axis", NULL};
    val *x0, *x;
    int64_t axis, d[4], total = 0;
    int32_t *ins, out;
    tq_status st;
    size_t n = c->node->n_input;
    TQ_CHECK(check_attrs(c, known));
    if (n < 1 || n > 4096)
        return nfail(c, TQ_ERR_FORMAT, "%zu inputs", n);
    if (in(c, 0) != NULL && in(c, 0)->kind == V_CONST)
        return concat_consts(c);
    TQ_CHECK(need_act(c, 0, &x0));
    TQ_CHECK(attr_int(c, "axis", INT64_MIN, &axis));
    if (axis == INT64_MIN)
        return nfail(c, TQ_ERR_FORMAT, "attribute 'axis' is missing");
    if (axis < -x0->rank || axis >= x0->rank)
        return nfail(c, TQ_ERR_FORMAT, "attribute 'axis' value %lld for "
                     "rank %d", (long long)axis, (int)x0->rank);
    if (axis < 0)
        axis += x0->rank;
    if (axis != 1)
        return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'axis' value %lld "
                     "(the channel axis 1 only)", (long long)axis);
    ins = malloc(n * sizeof(int32_t));
    if (ins == NULL)
        return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
    st = TQ_OK;
    for (size_t k = 0; k < n && st == TQ_OK; k++) {
        st = need_act(c, k, &x);
        if (st != TQ_OK)
            break;
        if (x->rank != x0->rank ||
            (x->rank == 4 && (x->dims[2] != x0->dims[2] ||
                              x->dims[3] != x0->dims[3]))) {
            st = nfail(c, TQ_ERR_FORMAT, "input %zu '%.60s' does not match "
                       "input 0 outside the channel axis", k, x->name);
            break;
        }
        if (x->chw[0] != 0) {
            st = nfail(c, TQ_ERR_UNSUPPORTED, "input %zu is a flattened "
                       "C,H,W map", k);
            break;
        }
        total += x->dims[1];
        if (total > INT32_MAX) {
            st = nfail(c, TQ_ERR_UNSUPPORTED, "too many channels");
            break;
        }
        ins[k] = x->tid;
    }
    if (st == TQ_OK)
        st = add_node(c, NULL, TQ_OP_CONCAT, (int32_t)n, ins, NULL, &out);
    free(ins);
    TQ_CHECK(st);
    memcpy(d, x0->dims, (size_t)x0->rank * sizeof(int64_t));
    d[1] = total;
    TQ_CHECK(check_act_shape(c, x0->rank, d));
    return set_out(c, out, x0->rank, d, NULL);
}

static tq_status op_pad(ctx *c)
{
    static const char *const known[] = {"mode", "pads", "value", NULL};
    const Onnx__AttributeProto *mode;
    val *x, *pv;
    int64_t pads[8];
    float value = 0.0f;
    int present = 0;
    tq_node_attrs a;
    int32_t out;
    TQ_CHECK(check_attrs(c, known));
    TQ_CHECK(need_inputs(c, 1, 3));
    TQ_CHECK(need_act(c, 0, &x));
    TQ_CHECK(attr_string_present(c, "mode", &mode));
    if (mode != NULL && !str_is(mode, "constant"))
        return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'mode' value '%.*s' "
                     "(constant only)", (int)(mode->s.len > 40 ? 40 : mode->s.len),
                     (const char *)mode->s.data);
    if (x->rank != 4)
        return nfail(c, TQ_ERR_UNSUPPORTED, "input of rank %d (NCHW maps "
                     "only)", (int)x->rank);
    if (in(c, 1) != NULL) {
        TQ_CHECK(need_const(c, 1, ONNX_INT64, &pv));
        if (pv->count != 8)
            return nfail(c, TQ_ERR_FORMAT, "input 1 'pads' has %zu values "
                         "(8 expected)", pv->count);
        memcpy(pads, pv->i64, sizeof pads);
    } else {
        TQ_CHECK(attr_ints(c, "pads", 8, pads, &present));
        if (!present)
            return nfail(c, TQ_ERR_FORMAT, "no pads (input 1 or attribute "
                         "'pads')");
    }
    TQ_CHECK(attr_float(c, "value", 0.0f, &value));
    TQ_CHECK(scalar_input(c, 2, value, &value));
    if (value != 0.0f)
        return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'value' / constant "
                     "value %g (zero padding only)", (double)value);
    if (pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0)
        return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'pads' pads the batch "
                     "or channel axis (spatial padding only)");
    for (int k = 0; k < 8; k++)
        if (pads[k] < 0 || pads[k] > INT32_MAX)
            return nfail(c, TQ_ERR_UNSUPPORTED, "attribute 'pads' value %lld "
                         "(0 to 2^31 - 1 only)", (long long)pads[k]);
    int64_t d[4] = {1, x->dims[1], x->dims[2] + pads[2] + pads[6],
                    x->dims[3] + pads[3] + pads[7]};
    TQ_CHECK(check_act_shape(c, 4, d));
    tq_node_attrs_init(&a);
    a.conv.pad_top = (int32_t)pads[2];
    a.conv.pad_left = (int32_t)pads[3];
    a.conv.pad_bottom = (int32_t)pads[6];
    a.conv.pad_right = (int32_t)pads[7];
    TQ_CHECK(add_node(c, NULL, TQ_OP_PAD, 1, &x->tid, &a, &out));
    return set_out(c, out, 4, d, NULL);
}

/* Constant node: the value becomes a constant of the importer. */
static tq_status op_constant(ctx *c)
{
    static const char *const known[] = {"value", "value_float", "value_floats",
                                        "value_int", "value_ints", NULL};
    val *o = lookup(c, c->node->output[0]);
    const Onnx__AttributeProto *a;
    if (c->node->n_attribute != 1)
        return nfail(c, TQ_ERR_FORMAT, "%zu attributes (exactly one "
                     "expected)", c->node->n_attribute);
    {
        /* sparse_value, value_string(s): named in the message */
        tq_status st = check_attrs(c, known);
        if (st != TQ_OK)
            return st;
    }
    a = c->node->attribute[0];
    o->kind = V_CONST;
    if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR &&
        strcmp(S(a->name), "value") == 0) {
        char what[128];
        if (a->t == NULL)
            return nfail(c, TQ_ERR_FORMAT, "attribute 'value' has no tensor");
        snprintf(what, sizeof what, "node %d (Constant) value", (int)c->ni);
        return read_tensor(c, a->t, o, what);
    }
    if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT &&
        strcmp(S(a->name), "value_float") == 0) {
        o->dtype = ONNX_FLOAT;
        o->count = 1;
        o->rank = 0;
        o->f = malloc(sizeof(float));
        if (o->f == NULL)
            return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
        o->f[0] = a->f;
        return TQ_OK;
    }
    if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT &&
        strcmp(S(a->name), "value_int") == 0) {
        o->dtype = ONNX_INT64;
        o->count = 1;
        o->rank = 0;
        o->i64 = malloc(sizeof(int64_t));
        if (o->i64 == NULL)
            return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
        o->i64[0] = a->i;
        return TQ_OK;
    }
    if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS &&
        strcmp(S(a->name), "value_floats") == 0) {
        o->dtype = ONNX_FLOAT;
        o->count = a->n_floats;
        o->rank = 1;
        o->dims[0] = (int64_t)a->n_floats;
        o->f = malloc(a->n_floats * sizeof(float) + 1);
        if (o->f == NULL)
            return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
        if (a->n_floats > 0)
            memcpy(o->f, a->floats, a->n_floats * sizeof(float));
        return TQ_OK;
    }
    if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS &&
        strcmp(S(a->name), "value_ints") == 0) {
        o->dtype = ONNX_INT64;
        o->count = a->n_ints;
        o->rank = 1;
        o->dims[0] = (int64_t)a->n_ints;
        o->i64 = malloc(a->n_ints * sizeof(int64_t) + 1);
        if (o->i64 == NULL)
            return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
        if (a->n_ints > 0)
            memcpy(o->i64, a->ints, a->n_ints * sizeof(int64_t));
        return TQ_OK;
    }
    return nfail(c, TQ_ERR_FORMAT, "attribute '%.60s' has the wrong type",
                 S(a->name));
}

/* ---- shape arithmetic on constants ------------------------------------------
 * What exporters emit around a Reshape with a dynamic batch
 * (x.view(x.size(0), -1): Shape, Gather, Unsqueeze, Concat): folded here,
 * with the batch extent 1 (tinyq's shapes are one sample). */

/* The current node's output 0 becomes a constant (takes @p f / @p i64). */
static tq_status const_out(ctx *c, int32_t dtype, int32_t rank,
                           const int64_t *dims, size_t count, float *f,
                           int64_t *i64)
{
    val *o = lookup(c, c->node->output[0]);
    o->kind = V_CONST;
    o->dtype = dtype;
    o->rank = rank;
    if (rank > 0)
        memcpy(o->dims, dims, (size_t)rank * sizeof(int64_t));
    o->count = count;
    o->f = f;
    o->i64 = i64;
    return TQ_OK;
}

/* A copy of constant @p v's values (float or int64). */
static tq_status copy_values(ctx *c, const val *v, float **f, int64_t **i64)
{
    *f = NULL;
    *i64 = NULL;
    if (v->dtype == ONNX_FLOAT) {
        *f = malloc(v->count * sizeof(float) + 1);
        if (*f == NULL)
            return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
        if (v->count > 0)
            memcpy(*f, v->f, v->count * sizeof(float));
    } else if (v->dtype == ONNX_INT64) {
        *i64 = malloc(v->count * sizeof(int64_t) + 1);
        if (*i64 == NULL)
            return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
        if (v->count > 0)
            memcpy(*i64, v->i64, v->count * sizeof(int64_t));
    } else {
        return nfail(c, TQ_ERR_UNSUPPORTED, "constant '%.60s' has data type "
                     "%d (float32 or int64 expected)", v->name, (int)v->dtype);
    }
    return TQ_OK;
}

static tq_status op_shape(ctx *c)
{
    static const char *const known[] = {"start", "end", NULL};
    val *x;
    int64_t start, end, *out;
    int64_t n;
    TQ_CHECK(check_attrs(c, known));
    TQ_CHECK(need_inputs(c, 1, 1));
    x = in(c, 0);
    if (x == NULL || x->kind == V_UNSET)
        return nfail(c, TQ_ERR_FORMAT, "input 0 is missing");
    TQ_CHECK(attr_int(c, "start", 0, &start));
    TQ_CHECK(attr_int(c, "end", x->rank, &end));
    if (start < 0)
        start += x->rank;
    if (end < 0)
        end += x->rank;
    start = start < 0 ? 0 : (start > x->rank ? x->rank : start);
    end = end < 0 ? 0 : (end > x->rank ? x->rank : end);
    n = end > start ? end - start : 0;
    out = malloc((size_t)n * sizeof(int64_t) + 1);
    if (out == NULL)
        return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
    for (int64_t k = 0; k < n; k++)
        out[k] = x->dims[start + k]; /* the batch extent is 1 */
    return const_out(c, ONNX_INT64, 1, &n, (size_t)n, NULL, out);
}

static tq_status op_gather(ctx *c)
{
    static const char *const known[] = {"axis", NULL};
    val *d, *ix;
    int64_t axis;
    float *f = NULL;
    int64_t *i64 = NULL;
    TQ_CHECK(check_attrs(c, known));
    TQ_CHECK(need_inputs(c, 2, 2));
    TQ_CHECK(attr_int(c, "axis", 0, &axis));
    d = in(c, 0);
    if (d == NULL || d->kind != V_CONST || d->rank != 1 || axis != 0)
        return nfail(c, TQ_ERR_UNSUPPORTED, "only gathers from a 1-D "
                     "constant (shape arithmetic) are supported");
    TQ_CHECK(need_const(c, 1, ONNX_INT64, &ix));
    if (ix->rank > 1)
        return nfail(c, TQ_ERR_UNSUPPORTED, "indices of rank %d",
                     (int)ix->rank);
    if (d->dtype == ONNX_FLOAT)
        f = malloc(ix->count * sizeof(float) + 1);
    else if (d->dtype == ONNX_INT64)
        i64 = malloc(ix->count * sizeof(int64_t) + 1);
    else
        return nfail(c, TQ_ERR_UNSUPPORTED, "data type %d", (int)d->dtype);
    if (f == NULL && i64 == NULL)
        return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
    for (size_t k = 0; k < ix->count; k++) {
        int64_t j = ix->i64[k];
        if (j < 0)
            j += (int64_t)d->count;
        if (j < 0 || j >= (int64_t)d->count) {
            free(f);
            free(i64);
            return nfail(c, TQ_ERR_FORMAT, "index %lld is out of range",
                         (long long)ix->i64[k]);
        }
        if (f != NULL)
            f[k] = d->f[j];
        else
            i64[k] = d->i64[j];
    }
    return const_out(c, d->dtype, ix->rank, ix->dims, ix->count, f, i64);
}

/* Unsqueeze (@p squeeze 0) or Squeeze (1) of a constant. */
static tq_status op_squeeze(ctx *c, int squeeze)
{
    static const char *const known[] = {"axes", NULL};
    val *x, *av;
    int64_t axes[MAX_RANK], dims[MAX_RANK];
    size_t n_axes = 0;
    int32_t rank;
    float *f;
    int64_t *i64;
    const Onnx__AttributeProto *a;
    TQ_CHECK(check_attrs(c, known));
    TQ_CHECK(need_inputs(c, 1, 2));
    x = in(c, 0);
    if (x == NULL || x->kind != V_CONST)
        return nfail(c, TQ_ERR_UNSUPPORTED, "only constants (shape "
                     "arithmetic) can be %ssqueezed", squeeze ? "" : "un");
    a = attr(c, "axes");
    if (in(c, 1) != NULL) {
        TQ_CHECK(need_const(c, 1, ONNX_INT64, &av));
        if (av->count > MAX_RANK)
            return nfail(c, TQ_ERR_UNSUPPORTED, "too many axes");
        n_axes = av->count;
        if (n_axes > 0) /* an empty constant may have no buffer at all */
            memcpy(axes, av->i64, n_axes * sizeof(int64_t));
    } else if (a != NULL) {
        if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS ||
            a->n_ints > MAX_RANK)
            return nfail(c, TQ_ERR_FORMAT, "attribute 'axes'");
        n_axes = a->n_ints;
        if (n_axes > 0) /* protobuf-c leaves an empty list's array NULL */
            memcpy(axes, a->ints, n_axes * sizeof(int64_t));
    } else if (!squeeze) {
        return nfail(c, TQ_ERR_FORMAT, "no axes");
    }
    if (squeeze) {
        int drop[MAX_RANK] = {0};
        for (size_t k = 0; k < n_axes; k++) {
            int64_t ax = axes[k] < 0 ? axes[k] + x->rank : axes[k];
            if (ax < 0 || ax >= x->rank || x->dims[ax] != 1)
                return nfail(c, TQ_ERR_FORMAT, "attribute 'axes' value %lld",
                             (long long)axes[k]);
            drop[ax] = 1;
        }
        rank = 0;
        for (int32_t k = 0; k < x->rank; k++)
            if (!(n_axes == 0 ? x->dims[k] == 1 : drop[k]))
                dims[rank++] = x->dims[k];
    } else {
        int ins[MAX_RANK] = {0};
        int32_t r = x->rank + (int32_t)n_axes, src = 0;
        if (r > MAX_RANK)
            return nfail(c, TQ_ERR_UNSUPPORTED, "rank %d", (int)r);
        for (size_t k = 0; k < n_axes; k++) {
            int64_t ax = axes[k] < 0 ? axes[k] + r : axes[k];
            if (ax < 0 || ax >= r || ins[ax])
                return nfail(c, TQ_ERR_FORMAT, "attribute 'axes' value %lld",
                             (long long)axes[k]);
            ins[ax] = 1;
        }
        for (int32_t k = 0; k < r; k++)
            dims[k] = ins[k] ? 1 : x->dims[src++];
        rank = r;
    }
    TQ_CHECK(copy_values(c, x, &f, &i64));
    return const_out(c, x->dtype, rank, dims, x->count, f, i64);
}

/* Concat of 1-D constants (shape arithmetic). */
static tq_status concat_consts(ctx *c)
{
    size_t n = c->node->n_input, total = 0, at = 0;
    int32_t dtype = -1;
    float *f = NULL;
    int64_t *i64 = NULL, t;
    for (size_t k = 0; k < n; k++) {
        val *v = in(c, k);
        if (v == NULL || v->kind != V_CONST || v->rank != 1 ||
            (dtype >= 0 && v->dtype != dtype) ||
            (v->dtype != ONNX_INT64 && v->dtype != ONNX_FLOAT))
            return nfail(c, TQ_ERR_UNSUPPORTED, "input %zu: a Concat of "
                         "constants needs 1-D float32 or int64 constants "
                         "of one type", k);
        dtype = v->dtype;
        total += v->count; /* bounded by the file size */
    }
    if (dtype == ONNX_FLOAT)
        f = malloc(total * sizeof(float) + 1);
    else
        i64 = malloc(total * sizeof(int64_t) + 1);
    if (f == NULL && i64 == NULL)
        return nfail(c, TQ_ERR_NO_MEMORY, "out of memory");
    for (size_t k = 0; k < n; k++) {
        val *v = in(c, k);
        if (f != NULL && v->count > 0)
            memcpy(f + at, v->f, v->count * sizeof(float));
        else if (v->count > 0)
            memcpy(i64 + at, v->i64, v->count * sizeof(int64_t));
        at += v->count;
    }
    t = (int64_t)total;
    return const_out(c, dtype, 1, &t, total, f, i64);
}

/* ---- the graph ------------------------------------------------------------ */

/* 1 if node @p nd is an ONNX Transpose whose 'perm' is exactly the four
 * values @p p. */
static int is_transpose(const Onnx__NodeProto *nd, const int64_t *p)
{
    const char *dom = S(nd->domain);
    if (strcmp(S(nd->op_type), "Transpose") != 0 ||
        (dom[0] != '\0' && strcmp(dom, "ai.onnx") != 0))
        return 0;
    for (size_t k = 0; k < nd->n_attribute; k++) {
        const Onnx__AttributeProto *a = nd->attribute[k];
        if (strcmp(S(a->name), "perm") == 0)
            return a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS &&
                   a->n_ints == 4 && memcmp(a->ints, p, 4 * sizeof *p) == 0;
    }
    return 0;
}

static const int64_t perm_to_nchw[4] = {0, 3, 1, 2};
static const int64_t perm_to_nhwc[4] = {0, 2, 3, 1};

/* Transpose: layout bookkeeping only, no tinyq node. Perm [0,3,1,2] of the
 * rank-4 graph input (declared NHWC by declare_input) gives that input as
 * an NCHW activation; perm [0,2,3,1] of an activation gives tinyq's own
 * H,W,C order, which a Flatten / Reshape to [N, -1] then reads as it is. */
static tq_status op_transpose(ctx *c)
{
    static const char *const known[] = {"perm", NULL};
    const Onnx__AttributeProto *pa;
    char ptxt[96];
    size_t len = 0;
    val *x, *o;
    TQ_CHECK(check_attrs(c, known));
    TQ_CHECK(need_inputs(c, 1, 1));
    TQ_CHECK(need_act_any(c, 0, &x));
    pa = attr(c, "perm");
    if (pa == NULL)
        return nfail(c, TQ_ERR_UNSUPPORTED, "no attribute 'perm' (the axes "
                     "reversed) is not supported; perm [0, 3, 1, 2] of the "
                     "graph input and [0, 2, 3, 1] before a flatten are");
    if (pa->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
        return nfail(c, TQ_ERR_FORMAT, "attribute 'perm' is not a list of "
                     "ints");
    ptxt[0] = '\0';
    for (size_t k = 0; k < pa->n_ints && k < 8 && len < 64; k++) {
        int w = snprintf(ptxt + len, sizeof ptxt - len, "%s%lld",
                         k > 0 ? ", " : "", (long long)pa->ints[k]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (pa->n_ints > 8 && len < sizeof ptxt - 5)
        strcat(ptxt, ", ...");
    if (pa->n_ints != (size_t)x->rank)
        return nfail(c, TQ_ERR_FORMAT, "perm [%s] has %zu values for an input "
                     "of rank %d", ptxt, pa->n_ints, (int)x->rank);
    o = lookup(c, c->node->output[0]);
    if (x->rank == 4 && memcmp(pa->ints, perm_to_nchw, sizeof perm_to_nchw)
                            == 0) {
        int64_t d[4];
        if (x->lay != L_INPUT_NHWC)
            return nfail(c, TQ_ERR_UNSUPPORTED, "perm [%s] is supported on "
                         "the rank-4 graph input only ('%.60s' is not it)",
                         ptxt, x->name);
        d[0] = 1;
        d[1] = x->dims[3];
        d[2] = x->dims[1];
        d[3] = x->dims[2];
        return set_out(c, x->tid, 4, d, NULL);
    }
    if (x->rank == 4 && memcmp(pa->ints, perm_to_nhwc, sizeof perm_to_nhwc)
                            == 0) {
        int64_t d[4];
        size_t vi = val_index(c, o), readers = 0;
        if (x->lay != L_NCHW)
            return nfail(c, TQ_ERR_UNSUPPORTED, "perm [%s] of '%.60s', which "
                         "is not an NCHW activation", ptxt, x->name);
        for (size_t e = c->cons_start[vi]; e < c->cons_start[vi + 1]; e++) {
            const Onnx__NodeProto *nd = c->gp->node[c->cons[e]];
            const char *op = S(nd->op_type);
            if (!c->live[c->cons[e]])
                continue;
            if (strcmp(op, "Flatten") != 0 && strcmp(op, "Reshape") != 0)
                return nfail(c, TQ_ERR_UNSUPPORTED, "perm [%s]: node %d "
                             "'%.60s' (%.60s) reads the output, but only a "
                             "Flatten or a Reshape to [N, -1] may", ptxt,
                             (int)c->cons[e], S(nd->name), op);
            readers++;
        }
        if ((size_t)o->uses != readers)
            return nfail(c, TQ_ERR_UNSUPPORTED, "perm [%s]: the output is the "
                         "graph output (only a Flatten or a Reshape to "
                         "[N, -1] may read it)", ptxt);
        d[0] = 1;
        d[1] = x->dims[2];
        d[2] = x->dims[3];
        d[3] = x->dims[1];
        TQ_CHECK(set_out(c, x->tid, 4, d, NULL));
        o->lay = L_HWC;
        return TQ_OK;
    }
    return nfail(c, TQ_ERR_UNSUPPORTED, "perm [%s] is not supported (only "
                 "[0, 3, 1, 2] of the rank-4 graph input and [0, 2, 3, 1] "
                 "before a Flatten / Reshape to [N, -1])", ptxt);
}

static tq_status convert_node(ctx *c)
{
    const char *op = S(c->node->op_type);
    const char *dom = S(c->node->domain);
    if (dom[0] != '\0' && strcmp(dom, "ai.onnx") != 0)
        return nfail(c, TQ_ERR_UNSUPPORTED, "operator domain '%.60s' is not "
                     "supported", dom);
    if (c->node->n_output < 1 || c->node->output[0][0] == '\0')
        return nfail(c, TQ_ERR_FORMAT, "no output");
    /* Only the first output of any supported op is produced. */
    for (size_t k = 1; k < c->node->n_output; k++) {
        val *v = lookup(c, c->node->output[k]);
        if (v != NULL && v->uses > 0)
            return nfail(c, TQ_ERR_UNSUPPORTED, "output %zu '%.60s' is used "
                         "(only the first output is supported)", k, v->name);
    }
    if (strcmp(op, "Conv") == 0)
        return op_conv(c);
    if (strcmp(op, "MaxPool") == 0)
        return op_pool(c, 0, 0);
    if (strcmp(op, "AveragePool") == 0)
        return op_pool(c, 1, 0);
    if (strcmp(op, "GlobalAveragePool") == 0)
        return op_pool(c, 1, 1);
    if (strcmp(op, "BatchNormalization") == 0)
        return op_batchnorm(c);
    if (strcmp(op, "Relu") == 0 || strcmp(op, "Clip") == 0 ||
        strcmp(op, "LeakyRelu") == 0)
        return op_unary(c, op);
    if (strcmp(op, "Add") == 0)
        return op_binary(c, 'a');
    if (strcmp(op, "Sub") == 0)
        return op_binary(c, 's');
    if (strcmp(op, "Mul") == 0)
        return op_binary(c, 'm');
    if (strcmp(op, "Div") == 0)
        return op_binary(c, 'd');
    if (strcmp(op, "Gemm") == 0)
        return op_gemm(c);
    if (strcmp(op, "MatMul") == 0)
        return op_matmul(c);
    if (strcmp(op, "Flatten") == 0)
        return op_flatten(c);
    if (strcmp(op, "Reshape") == 0)
        return op_reshape(c);
    if (strcmp(op, "Softmax") == 0)
        return op_softmax(c);
    if (strcmp(op, "Concat") == 0)
        return op_concat(c);
    if (strcmp(op, "Pad") == 0)
        return op_pad(c);
    if (strcmp(op, "Identity") == 0)
        return op_identity(c, 0);
    if (strcmp(op, "Dropout") == 0)
        return op_identity(c, 1);
    if (strcmp(op, "Constant") == 0)
        return op_constant(c);
    if (strcmp(op, "Shape") == 0)
        return op_shape(c);
    if (strcmp(op, "Gather") == 0)
        return op_gather(c);
    if (strcmp(op, "Unsqueeze") == 0)
        return op_squeeze(c, 0);
    if (strcmp(op, "Squeeze") == 0)
        return op_squeeze(c, 1);
    if (strcmp(op, "Transpose") == 0)
        return op_transpose(c);
    return nfail(c, TQ_ERR_UNSUPPORTED, "operator '%.60s' is not supported",
                 op);
}

/* The graph input: a float tensor [N, C, H, W] or [N, F], N dynamic or 1. */
static tq_status declare_input(ctx *c, const Onnx__ValueInfoProto *vi)
{
    const Onnx__TypeProto *tp = vi->type;
    const Onnx__TensorShapeProto *sh;
    val *v = lookup(c, vi->name);
    int64_t d[4], tq_shape[4];
    int32_t rank;
    tq_status st;
    if (tp == NULL || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        tp->tensor_type == NULL)
        return fail(c, TQ_ERR_UNSUPPORTED, "graph input '%.60s' is not a "
                    "tensor", S(vi->name));
    if (!tp->tensor_type->has_elem_type ||
        tp->tensor_type->elem_type != ONNX_FLOAT)
        return fail(c, TQ_ERR_UNSUPPORTED, "graph input '%.60s' has data type "
                    "%d (float32 only)", S(vi->name),
                    (int)tp->tensor_type->elem_type);
    sh = tp->tensor_type->shape;
    if (sh == NULL || (sh->n_dim != 4 && sh->n_dim != 2))
        return fail(c, TQ_ERR_UNSUPPORTED, "graph input '%.60s' has rank %d "
                    "([N, C, H, W] or [N, F] with static C, H, W, F)",
                    S(vi->name), sh == NULL ? -1 : (int)sh->n_dim);
    rank = (int32_t)sh->n_dim;
    for (int32_t k = 0; k < rank; k++) {
        const Onnx__TensorShapeProto__Dimension *dim = sh->dim[k];
        int has = dim->value_case ==
                  ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        if (k == 0) {
            if (has && dim->dim_value != 1)
                return fail(c, TQ_ERR_UNSUPPORTED, "graph input '%.60s': batch "
                            "extent %lld (1 or symbolic)", S(vi->name),
                            (long long)dim->dim_value);
            d[0] = 1;
            continue;
        }
        if (!has)
            return fail(c, TQ_ERR_UNSUPPORTED, "graph input '%.60s': extent %d "
                        "is symbolic (only the batch may be)", S(vi->name),
                        (int)k);
        if (dim->dim_value < 1 || dim->dim_value > INT32_MAX)
            return fail(c, TQ_ERR_FORMAT, "graph input '%.60s': extent %d is "
                        "%lld", S(vi->name), (int)k, (long long)dim->dim_value);
        d[k] = dim->dim_value;
    }
    {
        int64_t n = 1;
        for (int32_t k = 1; k < rank; k++) {
            if (d[k] > INT32_MAX / n)
                return fail(c, TQ_ERR_UNSUPPORTED, "graph input '%.60s' has "
                            "more than 2^31 elements", S(vi->name));
            n *= d[k];
        }
    }
    if (rank == 4) {
        /* Read by a live Transpose with perm [0,3,1,2] (tf2onnx's NHWC
         * input): tinyq takes [N, d1, d2, d3] as NHWC as it is. */
        size_t vi = val_index(c, v);
        for (size_t e = c->cons_start[vi]; e < c->cons_start[vi + 1]; e++)
            if (c->live[c->cons[e]] &&
                is_transpose(c->gp->node[c->cons[e]], perm_to_nchw))
                v->lay = L_INPUT_NHWC;
    }
    if (rank == 4 && v->lay == L_INPUT_NHWC) {
        tq_shape[0] = 1;
        tq_shape[1] = d[1];
        tq_shape[2] = d[2];
        tq_shape[3] = d[3];
    } else if (rank == 4) {
        tq_shape[0] = 1;
        tq_shape[1] = d[2];
        tq_shape[2] = d[3];
        tq_shape[3] = d[1];
    } else {
        tq_shape[0] = 1;
        tq_shape[1] = d[1];
    }
    st = tq_graph_add_input(c->g, vi->name, rank, tq_shape, &v->tid);
    if (st != TQ_OK)
        return builder_fail(c, st, "graph input");
    v->kind = V_ACT;
    v->rank = rank;
    memcpy(v->dims, d, (size_t)rank * sizeof(int64_t));
    return TQ_OK;
}

static void free_ctx(ctx *c)
{
    for (size_t k = 0; k < c->n_vals; k++) {
        free(c->vals[k].f);
        free(c->vals[k].i64);
    }
    free(c->vals);
    free(c->slots);
    free(c->live);
    free(c->fused);
    free(c->order);
    free(c->cons_start);
    free(c->cons);
}

/* Check the model, index its names, order and convert its nodes. */
static tq_status convert(ctx *c, const Onnx__ModelProto *m)
{
    const Onnx__GraphProto *gp = m->graph;
    size_t n_nodes, n_vals = 0, k;
    const Onnx__ValueInfoProto *input = NULL;
    val *outv;
    int64_t opset = -1;
    tq_status st;

    if (gp == NULL)
        return fail(c, TQ_ERR_FORMAT, "the model has no graph");
    c->gp = gp;
    for (k = 0; k < m->n_opset_import; k++) {
        const char *d = S(m->opset_import[k]->domain);
        if (d[0] == '\0' || strcmp(d, "ai.onnx") == 0)
            opset = m->opset_import[k]->has_version
                        ? m->opset_import[k]->version : -1;
    }
    if (opset < 0)
        return fail(c, TQ_ERR_FORMAT, "the model imports no version of the "
                    "default operator set");
    if (opset < OPSET_MIN || opset > OPSET_MAX)
        return fail(c, TQ_ERR_UNSUPPORTED, "opset %lld is not supported "
                    "(%d to %d)", (long long)opset, OPSET_MIN, OPSET_MAX);
    c->opset = opset;
    if (gp->n_sparse_initializer > 0)
        return fail(c, TQ_ERR_UNSUPPORTED, "sparse initializers are not "
                    "supported");
    n_nodes = gp->n_node;
    if (n_nodes > INT32_MAX / 2)
        return fail(c, TQ_ERR_UNSUPPORTED, "too many nodes");

    /* Values: graph inputs, initializers, node outputs. */
    n_vals = gp->n_input + gp->n_initializer;
    for (k = 0; k < n_nodes; k++)
        n_vals += gp->node[k]->n_output;
    c->cap = 16;
    while (c->cap < 2 * n_vals + 1)
        c->cap *= 2;
    c->vals = calloc(n_vals + 1, sizeof(val));
    c->slots = calloc(c->cap, sizeof(size_t));
    c->live = calloc(n_nodes + 1, sizeof(int32_t));
    c->fused = calloc(n_nodes + 1, sizeof(int32_t));
    c->order = calloc(n_nodes + 1, sizeof(int32_t));
    c->cons_start = calloc(n_vals + 2, sizeof(size_t));
    if (c->vals == NULL || c->slots == NULL || c->live == NULL ||
        c->fused == NULL || c->order == NULL || c->cons_start == NULL)
        return fail(c, TQ_ERR_NO_MEMORY, "out of memory");

    for (k = 0; k < gp->n_initializer; k++) {
        const Onnx__TensorProto *t = gp->initializer[k];
        char what[160];
        val *v;
        if (S(t->name)[0] == '\0')
            return fail(c, TQ_ERR_FORMAT, "initializer %zu has no name", k);
        v = define(c, t->name, -1, 0);
        if (v == NULL)
            return fail(c, TQ_ERR_FORMAT, "initializer '%.60s' is defined "
                        "twice", t->name);
        snprintf(what, sizeof what, "initializer '%.60s'", t->name);
        TQ_CHECK(read_tensor(c, t, v, what));
    }
    for (k = 0; k < gp->n_input; k++) {
        const Onnx__ValueInfoProto *vi = gp->input[k];
        if (S(vi->name)[0] == '\0')
            return fail(c, TQ_ERR_FORMAT, "graph input %zu has no name", k);
        if (lookup(c, vi->name) != NULL) {
            if (lookup(c, vi->name)->producer == -1 &&
                lookup(c, vi->name)->kind == V_CONST)
                continue; /* an initializer listed as input (IR < 4) */
            return fail(c, TQ_ERR_FORMAT, "graph input '%.60s' is listed "
                        "twice", vi->name);
        }
        if (input != NULL)
            return fail(c, TQ_ERR_UNSUPPORTED, "the graph has more than one "
                        "input ('%.60s', '%.60s')", S(input->name), vi->name);
        input = vi;
        (void)define(c, vi->name, -1, 0);
    }
    if (input == NULL)
        return fail(c, TQ_ERR_FORMAT, "the graph has no input");
    for (k = 0; k < n_nodes; k++) {
        const Onnx__NodeProto *nd = gp->node[k];
        for (size_t o = 0; o < nd->n_output; o++) {
            if (nd->output[o][0] == '\0')
                continue;
            if (define(c, nd->output[o], (int32_t)k, (int32_t)o) == NULL) {
                c->ni = (int32_t)k;
                c->node = nd;
                return nfail(c, TQ_ERR_FORMAT, "output '%.60s' is defined "
                             "twice", nd->output[o]);
            }
        }
    }
    if (gp->n_output != 1)
        return fail(c, gp->n_output == 0 ? TQ_ERR_FORMAT : TQ_ERR_UNSUPPORTED,
                    "the graph has %zu outputs (one supported)",
                    gp->n_output);
    outv = lookup(c, gp->output[0]->name);
    if (outv == NULL)
        return fail(c, TQ_ERR_FORMAT, "graph output '%.60s' is not defined",
                    S(gp->output[0]->name));

    /* Every input defined; consumers (edges) of each value. */
    {
        size_t n_edges = 0, *fill;
        for (k = 0; k < n_nodes; k++) {
            const Onnx__NodeProto *nd = gp->node[k];
            for (size_t i = 0; i < nd->n_input; i++) {
                val *v;
                if (nd->input[i][0] == '\0')
                    continue;
                v = lookup(c, nd->input[i]);
                if (v == NULL) {
                    c->ni = (int32_t)k;
                    c->node = nd;
                    return nfail(c, TQ_ERR_FORMAT, "input %zu '%.60s' is not "
                                 "defined (no initializer, graph input or "
                                 "node output has that name)", i,
                                 nd->input[i]);
                }
                c->cons_start[val_index(c, v) + 1]++;
                n_edges++;
            }
        }
        for (k = 0; k < c->n_vals; k++)
            c->cons_start[k + 1] += c->cons_start[k];
        c->cons = malloc((n_edges + 1) * sizeof(int32_t));
        fill = calloc(c->n_vals + 1, sizeof(size_t));
        if (c->cons == NULL || fill == NULL) {
            free(fill);
            return fail(c, TQ_ERR_NO_MEMORY, "out of memory");
        }
        for (k = 0; k < n_nodes; k++) {
            const Onnx__NodeProto *nd = gp->node[k];
            for (size_t i = 0; i < nd->n_input; i++) {
                size_t vi;
                if (nd->input[i][0] == '\0')
                    continue;
                vi = val_index(c, lookup(c, nd->input[i]));
                c->cons[c->cons_start[vi] + fill[vi]++] = (int32_t)k;
            }
        }
        free(fill);
    }

    /* Topological order (Kahn; ties in file order): a cycle is malformed. */
    {
        int32_t *indeg = calloc(n_nodes + 1, sizeof(int32_t));
        size_t head = 0, tail = 0;
        if (indeg == NULL)
            return fail(c, TQ_ERR_NO_MEMORY, "out of memory");
        for (k = 0; k < n_nodes; k++) {
            const Onnx__NodeProto *nd = gp->node[k];
            for (size_t i = 0; i < nd->n_input; i++)
                if (nd->input[i][0] != '\0' &&
                    lookup(c, nd->input[i])->producer >= 0)
                    indeg[k]++;
        }
        for (k = 0; k < n_nodes; k++)
            if (indeg[k] == 0)
                c->order[tail++] = (int32_t)k;
        while (head < tail) {
            const Onnx__NodeProto *nd = gp->node[c->order[head++]];
            for (size_t o = 0; o < nd->n_output; o++) {
                val *v;
                size_t vi;
                if (nd->output[o][0] == '\0')
                    continue;
                v = lookup(c, nd->output[o]);
                vi = val_index(c, v);
                for (size_t e = c->cons_start[vi]; e < c->cons_start[vi + 1];
                     e++)
                    if (--indeg[c->cons[e]] == 0)
                        c->order[tail++] = c->cons[e];
            }
        }
        if (tail != n_nodes) {
            for (k = 0; k < n_nodes && indeg[k] == 0; k++)
                ;
            free(indeg);
            c->ni = (int32_t)k;
            c->node = gp->node[k];
            return nfail(c, TQ_ERR_FORMAT, "the graph has a cycle through "
                         "this node");
        }
        free(indeg);
    }

    /* Live nodes: those the output needs (walk back from it). */
    {
        int32_t *stack = malloc((n_nodes + 1) * sizeof(int32_t));
        size_t sp = 0;
        if (stack == NULL)
            return fail(c, TQ_ERR_NO_MEMORY, "out of memory");
        if (outv->producer >= 0) {
            c->live[outv->producer] = 1;
            stack[sp++] = outv->producer;
        }
        while (sp > 0) {
            const Onnx__NodeProto *nd = gp->node[stack[--sp]];
            for (size_t i = 0; i < nd->n_input; i++) {
                val *v;
                if (nd->input[i][0] == '\0')
                    continue;
                v = lookup(c, nd->input[i]);
                if (v->producer >= 0 && !c->live[v->producer]) {
                    c->live[v->producer] = 1;
                    stack[sp++] = v->producer;
                }
            }
        }
        free(stack);
        for (k = 0; k < n_nodes; k++) {
            const Onnx__NodeProto *nd = gp->node[k];
            if (!c->live[k])
                continue;
            for (size_t i = 0; i < nd->n_input; i++)
                if (nd->input[i][0] != '\0')
                    lookup(c, nd->input[i])->uses++;
        }
        outv->uses++;
    }

    /* Build. */
    st = tq_graph_create(&c->g);
    if (st != TQ_OK)
        return fail(c, st, "cannot create a graph: %s",
                    tq_status_message(st));
    TQ_CHECK(declare_input(c, input));
    for (k = 0; k < n_nodes; k++) {
        int32_t ni = c->order[k];
        if (!c->live[ni] || c->fused[ni])
            continue;
        c->ni = ni;
        c->node = gp->node[ni];
        TQ_CHECK(convert_node(c));
    }
    c->node = NULL;
    if (outv->kind != V_ACT)
        return fail(c, TQ_ERR_UNSUPPORTED, "graph output '%.60s' is a "
                    "constant", outv->name);
    if (outv->lay == L_INPUT_NHWC)
        return fail(c, TQ_ERR_UNSUPPORTED, "graph output '%.60s' is the NHWC "
                    "graph input, which only a Transpose with perm "
                    "[0, 3, 1, 2] may read", outv->name);
    if (!plain_order(outv) && outv->rank == 2)
        return fail(c, TQ_ERR_UNSUPPORTED, "graph output '%.60s' is a "
                    "flattened C,H,W map, which tinyq holds in H,W,C order",
                    outv->name);
    st = tq_graph_set_output(c->g, outv->tid);
    if (st != TQ_OK)
        return builder_fail(c, st, "graph output");
    st = tq_graph_finalize(c->g, TQ_REWRITE_ALL);
    if (st != TQ_OK)
        return builder_fail(c, st, "finalizing the graph");
    return TQ_OK;
}

TQ_API tq_status tq_graph_load_onnx_memory(const void *bytes, size_t size,
                                           tq_graph **graph, char *message,
                                           size_t message_size)
{
    Onnx__ModelProto *m;
    ctx c;
    tq_status st;
    int walk;
    if (message != NULL && message_size > 0)
        message[0] = '\0';
    if ((bytes == NULL && size > 0) || graph == NULL) {
        msg_set(message, message_size, "bytes or graph is NULL");
        return TQ_ERR_NULL;
    }
    memset(&c, 0, sizeof c);
    c.msg = message;
    c.msg_size = message_size;
    c.ni = -1;
    if (size == 0) {
        msg_set(message, message_size, "not an ONNX model: the file is empty");
        return TQ_ERR_FORMAT;
    }
    walk = pb_walk(&onnx__model_proto__descriptor, bytes, size, 0);
    if (walk == 2) {
        msg_set(message, message_size, "not an ONNX model: protobuf messages "
                "nested more than %d deep", MAX_PB_DEPTH);
        return TQ_ERR_FORMAT;
    }
    m = onnx__model_proto__unpack(NULL, size, bytes);
    if (m == NULL || walk != 0) {
        if (m != NULL)
            onnx__model_proto__free_unpacked(m, NULL);
        msg_set(message, message_size, "not an ONNX model: protobuf-c "
                "cannot unpack the %zu bytes (truncated or corrupt)", size);
        return TQ_ERR_FORMAT;
    }
    st = convert(&c, m);
    if (st != TQ_OK) {
        tq_graph_free(c.g);
        c.g = NULL;
    } else {
        *graph = c.g;
        if (message != NULL && message_size > 0)
            message[0] = '\0';
    }
    free_ctx(&c);
    onnx__model_proto__free_unpacked(m, NULL);
    return st;
}

TQ_API tq_status tq_graph_load_onnx(const char *path, tq_graph **graph,
                                    char *message, size_t message_size)
{
    FILE *fp;
    uint64_t size;
    uint8_t *buf;
    tq_status st;
    if (message != NULL && message_size > 0)
        message[0] = '\0';
    if (path == NULL || graph == NULL) {
        msg_set(message, message_size, "path or graph is NULL");
        return TQ_ERR_NULL;
    }
    fp = fopen(path, "rb");
    if (fp == NULL) {
        msg_set(message, message_size, "cannot open '%.200s'", path);
        return TQ_ERR_IO;
    }
    st = tq__file_size(fp, &size);
    if (st != TQ_OK) {
        fclose(fp);
        msg_set(message, message_size, "cannot read '%.200s'", path);
        return st;
    }
    if (size > (uint64_t)INT32_MAX) {
        fclose(fp);
        msg_set(message, message_size, "'%.200s' is larger than 2 GiB (the "
                "protobuf limit): not a single-file ONNX model", path);
        return TQ_ERR_FORMAT;
    }
    buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) {
        fclose(fp);
        msg_set(message, message_size, "out of memory reading '%.200s'", path);
        return TQ_ERR_NO_MEMORY;
    }
    if (size > 0 && fread(buf, 1, (size_t)size, fp) != (size_t)size) {
        free(buf);
        fclose(fp);
        msg_set(message, message_size, "cannot read '%.200s'", path);
        return TQ_ERR_IO;
    }
    fclose(fp);
    st = tq_graph_load_onnx_memory(buf, (size_t)size, graph, message,
                                   message_size);
    free(buf);
    return st;
}

#endif /* TQ_HAVE_PROTOBUF_C */
