/*
 * The tinyq model file (host only): a quantized graph as safetensors. The
 * arrays (int8 weights, int32 biases, scales, zero points, multipliers,
 * shifts, lookup tables) are tensors; the graph (tensors, nodes, attributes,
 * the integer parameters that are not arrays, the tq_quant_config that made
 * it, tinyq's version) is JSON text under the metadata key "tinyq-graph",
 * with "format" = "tinyq-graph-v1". docs/model-format.md is the reference.
 *
 * The loader trusts nothing: it checks the JSON, every tensor it names
 * (dtype and shape), every index, the node order (each input defined
 * before it is read: no cycle), every node's shape inference as the
 * builder does it, and every integer parameter's legal range, before the
 * graph exists for anyone to run.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../graph/quant_internal.h"

#define FORMAT_V1 "tinyq-graph-v1"
#define GRAPH_KEY "tinyq-graph"

/* Most tensors and nodes a model file may hold. */
#define MAX_ITEMS 100000

/* ---- saving ----------------------------------------------------------------- */

/* The arrays to write, with their names (owned). */
typedef struct wlist {
    tq_named_tensor *t;
    int32_t n, cap;
    int failed;
    void **owned;          /* converted arrays (int64 as int32 pairs) */
    int32_t n_owned, cap_owned;
} wlist;

static void wadd(wlist *w, const char *name, const void *data, int32_t dtype,
                 int32_t ndim, const int64_t *shape)
{
    if (w->failed)
        return;
    if (w->n == w->cap) {
        const int32_t cap = w->cap ? 2 * w->cap : 64;
        tq_named_tensor *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) {
            w->failed = 1;
            return;
        }
        w->t = t;
        w->cap = cap;
    }
    char *copy = malloc(strlen(name) + 1);
    if (!copy) {
        w->failed = 1;
        return;
    }
    strcpy(copy, name);
    tq_named_tensor *e = &w->t[w->n];
    e->name = copy;
    if (tq_tensor_init(&e->tensor, (void *)(uintptr_t)data, dtype, ndim,
                       shape) != TQ_OK) {
        free(copy);
        w->failed = 1;
        return;
    }
    w->n++;
}

static void wadd1(wlist *w, const char *name, const void *data, int32_t dtype,
                  int64_t count)
{
    wadd(w, name, data, dtype, 1, &count);
}

static void wfree(wlist *w)
{
    for (int32_t i = 0; i < w->n; ++i)
        free((void *)(uintptr_t)w->t[i].name);
    free(w->t);
    for (int32_t i = 0; i < w->n_owned; ++i)
        free(w->owned[i]);
    free(w->owned);
}

/* @p count int64 values as an s32 array [count][2] (low word, high word:
 * the file's int64 layout, independent of the host's byte order). */
static void wadd_s64(wlist *w, const char *name, const int64_t *v,
                     int64_t count)
{
    if (w->failed)
        return;
    if (w->n_owned == w->cap_owned) {
        const int32_t cap = w->cap_owned ? 2 * w->cap_owned : 16;
        void **o = realloc(w->owned, (size_t)cap * sizeof *o);
        if (!o) {
            w->failed = 1;
            return;
        }
        w->owned = o;
        w->cap_owned = cap;
    }
    int32_t *pairs = malloc((size_t)count * 2 * sizeof *pairs + 1);
    if (!pairs) {
        w->failed = 1;
        return;
    }
    w->owned[w->n_owned++] = pairs;
    for (int64_t i = 0; i < count; ++i) {
        const uint64_t u = (uint64_t)v[i];
        pairs[2 * i] = (int32_t)(uint32_t)(u & 0xFFFFFFFFu);
        pairs[2 * i + 1] = (int32_t)(uint32_t)(u >> 32);
    }
    const int64_t shape[2] = {count, 2};
    wadd(w, name, pairs, TQ_S32, 2, shape);
}

static const char *dtype_name(int32_t dtype)
{
    switch (dtype) {
    case TQ_F32:
        return "f32";
    case TQ_S8:
        return "s8";
    case TQ_S32:
        return "s32";
    case TQ_S16:
        return "s16";
    case TQ_S64:
        return "s64";
    case TQ_S4:
        return "s4";
    default:
        return NULL;
    }
}

static const char *const kind_names[] = {"input", "constant", "activation"};

/* A float as a JSON number, or "inf" / "-inf" / "nan" (JSON has none). */
static cJSON *jfloat(double f)
{
    if (isnan(f))
        return cJSON_CreateString("nan");
    if (isinf(f))
        return cJSON_CreateString(f > 0 ? "inf" : "-inf");
    return cJSON_CreateNumber(f);
}

static cJSON *jints(const int32_t *v, int32_t n)
{
    return cJSON_CreateIntArray(v, n);
}

static cJSON *jconv(const tq_conv_params *c)
{
    const int32_t v[9] = {c->stride_h,   c->stride_w,   c->pad_top,
                          c->pad_bottom, c->pad_left,   c->pad_right,
                          c->dilation_h, c->dilation_w, c->groups};
    return jints(v, 9);
}

static cJSON *jpool(const tq_pool_params *p)
{
    const int32_t v[8] = {p->kernel_h, p->kernel_w,   p->stride_h,
                          p->stride_w, p->pad_top,    p->pad_bottom,
                          p->pad_left, p->pad_right};
    return jints(v, 8);
}

static cJSON *jrange(const tq_range_config *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "method", r->method);
    cJSON_AddItemToObject(o, "k", jfloat(r->k));
    cJSON_AddItemToObject(o, "percentile", jfloat(r->percentile));
    return o;
}

static cJSON *jscheme(const tq_qscheme *s)
{
    const int32_t v[4] = {s->bits, s->symmetric, s->narrow_range,
                          s->pow2_scale};
    return jints(v, 4);
}

static cJSON *jattrs(const tq_node_attrs *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "conv", jconv(&a->conv));
    cJSON_AddItemToObject(o, "pool", jpool(&a->pool));
    cJSON_AddNumberToObject(o, "act", a->act);
    cJSON_AddItemToObject(o, "act_min", jfloat(a->act_min));
    cJSON_AddItemToObject(o, "act_max", jfloat(a->act_max));
    cJSON_AddItemToObject(o, "alpha", jfloat(a->alpha));
    cJSON_AddItemToObject(o, "epsilon", jfloat(a->epsilon));
    cJSON_AddNumberToObject(o, "count_include_pad", a->count_include_pad);
    cJSON_AddNumberToObject(o, "depth_multiplier", a->depth_multiplier);
    cJSON *shape = cJSON_CreateArray();
    for (int32_t d = 0; d < a->ndim && d < TQ_MAX_DIMS; ++d)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)a->shape[d]));
    cJSON_AddItemToObject(o, "shape", shape);
    return o;
}

static int is_weighted(int32_t kind)
{
    return kind == TQ__Q_CONV || kind == TQ__Q_DEPTHWISE || kind == TQ__Q_FC ||
           kind == TQ__Q_CONV_POOL;
}

tq_status tq_graph_save(const tq_graph *graph, const char *path)
{
    if (!graph || !path)
        return TQ_ERR_NULL;
    tq_graph *g = (tq_graph *)(uintptr_t)graph; /* the error buffer only */
    tq__graph_ok(g);
    if (!graph->finalized || !graph->quantized || !graph->q)
        return tq__graph_fail(g, TQ_ERR_PARAM, "save: only a quantized graph "
                              "(tq_graph_quantize) can be saved");
    /* Keep only the tensors the graph reads or writes, numbered anew in
     * id order. */
    int32_t *map = malloc((size_t)graph->n_tensors * sizeof *map);
    if (!map)
        return tq__graph_fail(g, TQ_ERR_NO_MEMORY, "save: no memory");
    for (int32_t t = 0; t < graph->n_tensors; ++t)
        map[t] = -1;
    map[graph->input] = map[graph->output] = 0;
    for (int32_t i = 0; i < graph->n_nodes; ++i) {
        const tq__node *n = &graph->nodes[i];
        map[n->output] = 0;
        for (int32_t j = 0; j < n->n_inputs; ++j)
            map[n->inputs[j]] = 0;
    }
    int32_t kept = 0;
    for (int32_t t = 0; t < graph->n_tensors; ++t)
        if (map[t] == 0)
            map[t] = kept++;

    wlist w = {0};
    char key[64];
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", FORMAT_V1);
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", TQ_VERSION_MAJOR,
             TQ_VERSION_MINOR, TQ_VERSION_PATCH);
    cJSON_AddStringToObject(root, "tinyq_version", version);
    cJSON_AddNumberToObject(root, "rewrites", graph->rewrites);
    const tq_quant_config *c = &graph->q->config;
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddItemToObject(cfg, "activation_range", jrange(&c->activation_range));
    cJSON_AddItemToObject(cfg, "activation_scheme",
                          jscheme(&c->activation_scheme));
    cJSON_AddItemToObject(cfg, "weight_range", jrange(&c->weight_range));
    cJSON_AddItemToObject(cfg, "weight_scheme", jscheme(&c->weight_scheme));
    cJSON_AddNumberToObject(cfg, "weight_per_channel", c->weight_per_channel);
    cJSON_AddNumberToObject(cfg, "rounding", c->rounding);
    cJSON_AddNumberToObject(cfg, "histogram_bins", c->histogram_bins);
    cJSON_AddItemToObject(root, "config", cfg);
    cJSON_AddNumberToObject(root, "input", map[graph->input]);
    cJSON_AddNumberToObject(root, "output", map[graph->output]);

    cJSON *tensors = cJSON_AddArrayToObject(root, "tensors");
    for (int32_t t = 0; t < graph->n_tensors; ++t) {
        const tq__tensor *x = &graph->tensors[t];
        if (map[t] < 0)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", x->name);
        cJSON_AddStringToObject(o, "kind", kind_names[x->kind]);
        cJSON_AddStringToObject(o, "dtype", dtype_name(x->dtype)
                                                ? dtype_name(x->dtype)
                                                : "?");
        cJSON *shape = cJSON_CreateArray();
        for (int32_t d = 0; d < x->ndim; ++d)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)x->shape[d]));
        cJSON_AddItemToObject(o, "shape", shape);
        cJSON_AddNumberToObject(o, "qcount", (double)x->qcount);
        cJSON_AddNumberToObject(o, "qaxis", x->qaxis);
        cJSON_AddItemToArray(tensors, o);
        if (x->kind == TQ__TENSOR_CONSTANT) {
            snprintf(key, sizeof key, "t%d", (int)map[t]);
            if (x->dtype == TQ_S4) { /* the packed bytes */
                const int64_t nb = (int64_t)tq_s4_packed_size(x->numel);
                wadd(&w, key, x->data, TQ_S8, 1, &nb);
            } else if (x->dtype == TQ_S64) {
                wadd_s64(&w, key, x->data, (int64_t)x->numel);
            } else {
                wadd(&w, key, x->data, x->dtype, x->ndim, x->shape);
            }
        }
        if (x->qcount > 0) {
            snprintf(key, sizeof key, "t%d.scale", (int)map[t]);
            wadd1(&w, key, x->scale, TQ_F32, x->qcount);
            snprintf(key, sizeof key, "t%d.zero_point", (int)map[t]);
            wadd1(&w, key, x->zero_point, TQ_S32, x->qcount);
        }
    }

    cJSON *nodes = cJSON_AddArrayToObject(root, "nodes");
    for (int32_t i = 0; i < graph->n_nodes; ++i) {
        const tq__node *n = &graph->nodes[i];
        const struct tq__qnode *qn = n->q;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", n->name);
        cJSON_AddNumberToObject(o, "op", n->op);
        cJSON *ins = cJSON_CreateArray();
        for (int32_t j = 0; j < n->n_inputs; ++j)
            cJSON_AddItemToArray(ins, cJSON_CreateNumber(map[n->inputs[j]]));
        cJSON_AddItemToObject(o, "inputs", ins);
        cJSON_AddNumberToObject(o, "output", map[n->output]);
        cJSON_AddItemToObject(o, "attrs", jattrs(&n->attrs));
        cJSON *q = cJSON_CreateObject();
        cJSON_AddNumberToObject(q, "kind", qn->kind);
        if (is_weighted(qn->kind)) {
            const int s16 = qn->dtype == TQ_S16;
            const int32_t pc = s16 ? qn->os16.per_channel : qn->os.per_channel;
            const int32_t nm = pc ? qn->channels : 1;
            cJSON_AddNumberToObject(q, "per_channel", pc);
            cJSON_AddNumberToObject(q, "rounding",
                                    s16 ? qn->os16.rounding : qn->os.rounding);
            cJSON_AddNumberToObject(q, "act_min",
                                    s16 ? qn->os16.act_min : qn->os.act_min);
            cJSON_AddNumberToObject(q, "act_max",
                                    s16 ? qn->os16.act_max : qn->os.act_max);
            snprintf(key, sizeof key, "n%d.multiplier", (int)i);
            wadd1(&w, key, qn->mult, TQ_S32, nm);
            snprintf(key, sizeof key, "n%d.shift", (int)i);
            wadd1(&w, key, qn->shift, TQ_S32, nm);
            if (qn->own_weights) {
                snprintf(key, sizeof key, "n%d.weights", (int)i);
                wadd1(&w, key, qn->own_weights, TQ_S8, qn->channels);
                if (qn->own_bias) {
                    snprintf(key, sizeof key, "n%d.bias", (int)i);
                    wadd1(&w, key, qn->own_bias, TQ_S32, qn->channels);
                } else if (qn->own_bias64) {
                    snprintf(key, sizeof key, "n%d.bias", (int)i);
                    wadd_s64(&w, key, qn->own_bias64, qn->channels);
                }
            }
        } else if (qn->kind == TQ__Q_ADD) {
            const tq_s8_add_params *p = &qn->add;
            const int32_t v[13] = {
                p->input1_offset,  p->input1_multiplier, p->input1_shift,
                p->input2_offset,  p->input2_multiplier, p->input2_shift,
                p->left_shift,     p->output_multiplier, p->output_shift,
                p->output_offset,  p->act_min,           p->act_max,
                p->rounding};
            cJSON_AddItemToObject(q, "add", jints(v, 13));
        } else if (qn->kind == TQ__Q_CONVERT) {
            const int32_t v[2] = {qn->cvt->mult, qn->cvt->shift};
            cJSON_AddItemToObject(q, "requantize", jints(v, 2));
        } else if (qn->kind == TQ__Q_LOOKUP || qn->kind == TQ__Q_CONCAT) {
            const int64_t shape[2] = {qn->n_tables, 256};
            snprintf(key, sizeof key, "n%d.tables", (int)i);
            wadd(&w, key, qn->tables, TQ_S8, 2, shape);
        }
        cJSON_AddItemToObject(o, "q", q);
        cJSON_AddItemToArray(nodes, o);
    }
    free(map);

    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    tq_status s = TQ_OK;
    if (!text || w.failed)
        s = TQ_ERR_NO_MEMORY;
    if (s == TQ_OK) {
        const char *keys[2] = {"format", GRAPH_KEY};
        const char *values[2] = {FORMAT_V1, text};
        s = tq_safetensors_save(path, w.t, w.n, keys, values, 2);
    }
    cJSON_free(text);
    wfree(&w);
    if (s != TQ_OK)
        return tq__graph_fail(g, s, "save: %s: %s", path,
                              tq_status_message(s));
    return TQ_OK;
}

/* ---- loading ---------------------------------------------------------------- */

typedef struct lctx {
    const tq_safetensors *st;
    tq_graph *g;
    char *msg;
    size_t msg_size;
} lctx;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static tq_status lfail(lctx *x, tq_status s, const char *fmt, ...)
{
    if (x->msg && x->msg_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->msg, x->msg_size, fmt, ap);
        va_end(ap);
    }
    return s;
}

#define BAD(...) lfail(x, TQ_ERR_FORMAT, __VA_ARGS__)

/* Is @p j a JSON number holding an integer in [lo, hi]? (NaN fails.) */
static int json_int_in(const cJSON *j, int64_t lo, int64_t hi)
{
    return cJSON_IsNumber(j) && j->valuedouble >= (double)lo &&
           j->valuedouble <= (double)hi &&
           j->valuedouble == floor(j->valuedouble);
}

/* An integer member in [lo, hi]. */
static tq_status get_int(lctx *x, const cJSON *o, const char *key,
                         const char *where, int64_t lo, int64_t hi,
                         int64_t *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!json_int_in(j, lo, hi))
        return BAD("%s: \"%s\" must be an integer in [%lld, %lld]", where, key,
                   (long long)lo, (long long)hi);
    *v = (int64_t)j->valuedouble;
    return TQ_OK;
}

static tq_status get_i32(lctx *x, const cJSON *o, const char *key,
                         const char *where, int64_t lo, int64_t hi,
                         int32_t *v)
{
    int64_t w = 0; /* set by get_int() on TQ_OK; gcc 12 -O2 cannot tell */
    TQ_CHECK(get_int(x, o, key, where, lo, hi, &w));
    *v = (int32_t)w;
    return TQ_OK;
}

/* A float member: a number or "inf" / "-inf" / "nan". */
static tq_status get_double(lctx *x, const cJSON *o, const char *key,
                            const char *where, double *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(j)) {
        *v = j->valuedouble;
        return TQ_OK;
    }
    if (cJSON_IsString(j)) {
        if (!strcmp(j->valuestring, "inf"))
            return *v = INFINITY, TQ_OK;
        if (!strcmp(j->valuestring, "-inf"))
            return *v = -INFINITY, TQ_OK;
        if (!strcmp(j->valuestring, "nan"))
            return *v = NAN, TQ_OK;
    }
    return BAD("%s: \"%s\" must be a number, \"inf\", \"-inf\" or \"nan\"",
               where, key);
}

static tq_status get_float(lctx *x, const cJSON *o, const char *key,
                           const char *where, float *v)
{
    double d = 0.0; /* set by the call below; gcc -O3 cannot see it */
    TQ_CHECK(get_double(x, o, key, where, &d));
    if (isfinite(d) && (d > 3.4028234663852886e38 || d < -3.4028234663852886e38))
        return BAD("%s: \"%s\" is out of the float range", where, key);
    *v = (float)d;
    return TQ_OK;
}

/* An array member of exactly @p n integers in [lo, hi]. */
static tq_status get_ints(lctx *x, const cJSON *o, const char *key,
                          const char *where, int32_t n, int64_t lo, int64_t hi,
                          int32_t *v)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return BAD("%s: \"%s\" must be an array of %d integers", where, key,
                   (int)n);
    int32_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (!json_int_in(e, lo, hi))
            return BAD("%s: \"%s\"[%d] must be an integer in [%lld, %lld]",
                       where, key, (int)i, (long long)lo, (long long)hi);
        v[i++] = (int32_t)e->valuedouble;
    }
    return TQ_OK;
}

/* A shape array: 0..TQ_MAX_DIMS extents in [lo, INT32_MAX]. */
static tq_status get_shape(lctx *x, const cJSON *o, const char *where,
                           int64_t lo, int32_t *ndim, int64_t *shape)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "shape");
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > TQ_MAX_DIMS)
        return BAD("%s: \"shape\" must be an array of at most %d extents",
                   where, TQ_MAX_DIMS);
    int32_t d = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (!json_int_in(e, lo, INT32_MAX))
            return BAD("%s: extent %d of \"shape\" must be an integer in "
                       "[%lld, %d]", where, (int)d, (long long)lo, INT32_MAX);
        shape[d++] = (int64_t)e->valuedouble;
    }
    *ndim = d;
    return TQ_OK;
}

static tq_status get_string(lctx *x, const cJSON *o, const char *key,
                            const char *where, const char **v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(j) || !j->valuestring[0])
        return BAD("%s: \"%s\" must be a non-empty string", where, key);
    *v = j->valuestring;
    return TQ_OK;
}

/* Array @p name of the file: dtype and shape as given, else FORMAT. */
static tq_status get_array(lctx *x, const char *name, int32_t dtype,
                           int32_t ndim, const int64_t *shape, const char *what,
                           const void **data)
{
    tq_tensor t;
    tq_status s = tq_safetensors_get(x->st, name, &t);
    if (s == TQ_ERR_NOT_FOUND)
        return BAD("%s: the file has no tensor \"%s\"", what, name);
    if (s != TQ_OK)
        return BAD("%s: tensor \"%s\": %s", what, name, tq_status_message(s));
    if (t.dtype != dtype)
        return BAD("%s: tensor \"%s\" is %s, must be %s", what, name,
                   dtype_name(t.dtype) ? dtype_name(t.dtype) : "another dtype",
                   dtype_name(dtype));
    int same = t.ndim == ndim;
    for (int32_t d = 0; same && d < ndim; ++d)
        same = t.shape[d] == shape[d];
    if (!same)
        return BAD("%s: tensor \"%s\" does not have the shape the graph "
                   "gives it", what, name);
    *data = t.data;
    return TQ_OK;
}

/* A copy of array @p name (count elements of dtype). */
static tq_status copy_array(lctx *x, const char *name, int32_t dtype,
                            int32_t ndim, const int64_t *shape, size_t count,
                            const char *what, void **out)
{
    const void *src = NULL;
    TQ_CHECK(get_array(x, name, dtype, ndim, shape, what, &src));
    const size_t bytes = count * tq_dtype_size(dtype);
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        return lfail(x, TQ_ERR_NO_MEMORY, "out of memory");
    if (bytes)
        memcpy(p, src, bytes);
    *out = p;
    return TQ_OK;
}

/* @p count int64 values from array @p name, s32 [count][2] (low, high). */
static tq_status copy_s64(lctx *x, const char *name, int64_t count,
                          const char *what, int64_t **out)
{
    const void *src = NULL;
    const int64_t shape[2] = {count, 2};
    TQ_CHECK(get_array(x, name, TQ_S32, 2, shape, what, &src));
    int64_t *p = malloc((size_t)count * sizeof *p + 1);
    if (!p)
        return lfail(x, TQ_ERR_NO_MEMORY, "out of memory");
    const int32_t *w = src;
    for (int64_t i = 0; i < count; ++i)
        p[i] = (int64_t)(((uint64_t)(uint32_t)w[2 * i + 1] << 32) |
                         (uint64_t)(uint32_t)w[2 * i]);
    *out = p;
    return TQ_OK;
}

static tq_status get_range(lctx *x, const cJSON *o, const char *key,
                           tq_range_config *r)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsObject(j))
        return BAD("config: \"%s\" must be an object", key);
    memset(r, 0, sizeof *r);
    TQ_CHECK(get_i32(x, j, "method", key, 0, 64, &r->method));
    TQ_CHECK(get_double(x, j, "k", key, &r->k));
    return get_double(x, j, "percentile", key, &r->percentile);
}

static tq_status get_scheme(lctx *x, const cJSON *o, const char *key,
                            tq_qscheme *s)
{
    int32_t v[4];
    TQ_CHECK(get_ints(x, o, key, "config", 4, 0, 64, v));
    *s = (tq_qscheme){v[0], v[1], v[2], v[3]};
    return TQ_OK;
}

static tq_status get_config(lctx *x, const cJSON *root, tq_quant_config *c)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (!cJSON_IsObject(o))
        return BAD("\"config\" must be an object");
    memset(c, 0, sizeof *c);
    TQ_CHECK(get_range(x, o, "activation_range", &c->activation_range));
    TQ_CHECK(get_scheme(x, o, "activation_scheme", &c->activation_scheme));
    TQ_CHECK(get_range(x, o, "weight_range", &c->weight_range));
    TQ_CHECK(get_scheme(x, o, "weight_scheme", &c->weight_scheme));
    TQ_CHECK(get_i32(x, o, "weight_per_channel", "config", 0, 1,
                     &c->weight_per_channel));
    TQ_CHECK(get_i32(x, o, "rounding", "config", 0, 1, &c->rounding));
    return get_i32(x, o, "histogram_bins", "config", 0, INT32_MAX,
                   &c->histogram_bins);
}

/* Scales > 0 and finite (with a finite reciprocal), zero points in the
 * int8 range. */
static tq_status check_qparams(lctx *x, const tq__tensor *t)
{
    for (int64_t i = 0; i < t->qcount; ++i) {
        const float s = t->scale[i];
        if (!(s > 0.0f) || !isfinite(s) || !isfinite(1.0f / s))
            return BAD("tensor '%s': scale %lld is %g, must be > 0 and finite",
                       t->name, (long long)i, (double)s);
        if (t->zero_point[i] < -128 || t->zero_point[i] > 127)
            return BAD("tensor '%s': zero point %lld is %d, must be in "
                       "[-128, 127]", t->name, (long long)i,
                       (int)t->zero_point[i]);
    }
    return TQ_OK;
}

static tq_status load_tensor(lctx *x, const cJSON *o, int32_t id, int32_t input)
{
    char where[64], key[64];
    snprintf(where, sizeof where, "tensor %d", (int)id);
    if (!cJSON_IsObject(o))
        return BAD("%s must be an object", where);
    const char *name = NULL, *kind_s = NULL, *dtype_s = NULL;
    TQ_CHECK(get_string(x, o, "name", where, &name));
    TQ_CHECK(get_string(x, o, "kind", where, &kind_s));
    TQ_CHECK(get_string(x, o, "dtype", where, &dtype_s));
    int32_t kind = -1, dtype = -1, ndim;
    for (int32_t k = 0; k < 3; ++k)
        if (!strcmp(kind_s, kind_names[k]))
            kind = k;
    if (kind < 0)
        return BAD("%s: kind \"%s\" (input, constant or activation)", where,
                   kind_s);
    if ((kind == TQ__TENSOR_INPUT) != (id == input))
        return BAD("%s: only the graph input (tensor %d) has kind \"input\"",
                   where, (int)input);
    const int32_t dtypes[6] = {TQ_F32, TQ_S8, TQ_S32, TQ_S16, TQ_S64, TQ_S4};
    for (int32_t k = 0; k < 6; ++k)
        if (!strcmp(dtype_s, dtype_name(dtypes[k])))
            dtype = dtypes[k];
    if (dtype < 0)
        return BAD("%s: dtype \"%s\" (f32, s8, s32, s16, s64 or s4)", where,
                   dtype_s);
    int64_t shape[TQ_MAX_DIMS] = {0};
    TQ_CHECK(get_shape(x, o, where, kind == TQ__TENSOR_CONSTANT ? 0 : 1, &ndim,
                       shape));
    int64_t numel = 1;
    for (int32_t d = 0; d < ndim; ++d) {
        if (shape[d] && numel > INT32_MAX / shape[d])
            return BAD("%s: more than INT32_MAX elements", where);
        numel *= shape[d];
    }
    if (kind != TQ__TENSOR_CONSTANT && (ndim < 1 || shape[0] != 1 ||
                                        (dtype != TQ_S8 && dtype != TQ_S16)))
        return BAD("%s: an activation must be s8 or s16 with 1..%d extents, "
                   "the first 1", where, TQ_MAX_DIMS);
    if (kind == TQ__TENSOR_CONSTANT && dtype == TQ_S16)
        return BAD("%s: no constant is s16", where);
    int64_t qcount = 0; /* set by get_int() before use (gcc -O3 warns) */
    int32_t qaxis;
    TQ_CHECK(get_int(x, o, "qcount", where, 0, INT32_MAX, &qcount));
    TQ_CHECK(get_i32(x, o, "qaxis", where, 0, ndim ? ndim - 1 : 0, &qaxis));
    if (dtype == TQ_F32 ? qcount != 0
                        : !(qcount == 1 ||
                            (kind == TQ__TENSOR_CONSTANT && ndim > 0 &&
                             qcount == shape[qaxis])))
        return BAD("%s: qcount %lld: an f32 tensor has none, an activation "
                   "1, an integer constant 1 or the extent of axis qaxis",
                   where, (long long)qcount);
    void *data = NULL;
    if (kind == TQ__TENSOR_CONSTANT) {
        snprintf(key, sizeof key, "t%d", (int)id);
        if (dtype == TQ_S4) { /* packed bytes */
            const int64_t nb = (int64_t)tq_s4_packed_size((size_t)numel);
            TQ_CHECK(copy_array(x, key, TQ_S8, 1, &nb, (size_t)nb, where,
                                &data));
        } else if (dtype == TQ_S64) {
            int64_t *d64 = NULL;
            TQ_CHECK(copy_s64(x, key, numel, where, &d64));
            data = d64;
        } else {
            TQ_CHECK(copy_array(x, key, dtype, ndim, shape, (size_t)numel,
                                where, &data));
        }
    }
    int32_t got;
    tq_status s = tq__graph_new_tensor(x->g, name, kind, dtype, ndim, shape,
                                       data, &got);
    if (s != TQ_OK)
        return lfail(x, s, "out of memory");
    tq__tensor *t = &x->g->tensors[got];
    t->used = 1;
    if (qcount > 0) {
        const int64_t qs = qcount;
        t->qcount = qcount;
        t->qaxis = qaxis;
        snprintf(key, sizeof key, "t%d.scale", (int)id);
        TQ_CHECK(copy_array(x, key, TQ_F32, 1, &qs, (size_t)qcount, where,
                            (void **)&t->scale));
        snprintf(key, sizeof key, "t%d.zero_point", (int)id);
        TQ_CHECK(copy_array(x, key, TQ_S32, 1, &qs, (size_t)qcount, where,
                            (void **)&t->zero_point));
        TQ_CHECK(check_qparams(x, t));
        if (dtype == TQ_S16 && t->zero_point[0] != 0)
            return BAD("%s: an s16 activation is symmetric (zero point 0)",
                       where);
    }
    return TQ_OK;
}

static tq_status get_attrs(lctx *x, const cJSON *o, const char *where,
                           tq_node_attrs *a)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, "attrs");
    if (!cJSON_IsObject(j))
        return BAD("%s: \"attrs\" must be an object", where);
    tq_node_attrs_init(a);
    int32_t v[9];
    TQ_CHECK(get_ints(x, j, "conv", where, 9, INT32_MIN, INT32_MAX, v));
    a->conv = (tq_conv_params){v[0], v[1], v[2], v[3], v[4],
                               v[5], v[6], v[7], v[8]};
    TQ_CHECK(get_ints(x, j, "pool", where, 8, INT32_MIN, INT32_MAX, v));
    a->pool = (tq_pool_params){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
    TQ_CHECK(get_i32(x, j, "act", where, 0, TQ_ACT_CLIP, &a->act));
    TQ_CHECK(get_float(x, j, "act_min", where, &a->act_min));
    TQ_CHECK(get_float(x, j, "act_max", where, &a->act_max));
    TQ_CHECK(get_float(x, j, "alpha", where, &a->alpha));
    TQ_CHECK(get_float(x, j, "epsilon", where, &a->epsilon));
    TQ_CHECK(get_i32(x, j, "count_include_pad", where, 0, 1,
                     &a->count_include_pad));
    TQ_CHECK(get_i32(x, j, "depth_multiplier", where, INT32_MIN, INT32_MAX,
                     &a->depth_multiplier));
    return get_shape(x, j, where, 1, &a->ndim, a->shape);
}

/* Does op @p op take a constant at input @p slot, and of which dtype? */
static int32_t constant_dtype(int32_t op, int32_t slot)
{
    switch (op) {
    case TQ_OP_CONV2D:
    case TQ_OP_DEPTHWISE_CONV2D:
    case TQ_OP_FULLY_CONNECTED:
    case TQ_OP_CONV2D_RELU_MAXPOOL2:
        return slot == 1 ? TQ_S8 : (slot == 2 ? TQ_S32 : -1);
    case TQ_OP_ADD:
    case TQ_OP_MUL:
        return slot == 1 ? TQ_F32 : -1;
    case TQ_OP_BATCH_NORM:
        return slot >= 1 ? TQ_F32 : -1;
    default:
        return -1;
    }
}

/* The output stage of a weighted node. */
static tq_status load_stage(lctx *x, const cJSON *q, int32_t index,
                            const char *where, struct tq__qnode *qn,
                            const tq__tensor *out)
{
    char key[64];
    int32_t pc, lo, hi;
    TQ_CHECK(get_i32(x, q, "per_channel", where, 0, 1, &pc));
    TQ_CHECK(get_i32(x, q, "rounding", where, 0, 1, &qn->os.rounding));
    const int s16 = qn->dtype == TQ_S16;
    const int32_t qlo = s16 ? -32768 : -128, qhi = s16 ? 32767 : 127;
    const int32_t shmax = s16 ? TQ_S16_SHIFT_MAX : TQ_SHIFT_MAX;
    TQ_CHECK(get_i32(x, q, "act_min", where, qlo, qhi, &lo));
    TQ_CHECK(get_i32(x, q, "act_max", where, lo, qhi, &hi));
    const int64_t nm = pc ? qn->channels : 1;
    snprintf(key, sizeof key, "n%d.multiplier", (int)index);
    TQ_CHECK(copy_array(x, key, TQ_S32, 1, &nm, (size_t)nm, where,
                        (void **)&qn->mult));
    snprintf(key, sizeof key, "n%d.shift", (int)index);
    TQ_CHECK(copy_array(x, key, TQ_S32, 1, &nm, (size_t)nm, where,
                        (void **)&qn->shift));
    for (int64_t c = 0; c < nm; ++c) {
        if (qn->mult[c] < 0)
            return BAD("%s: multiplier %lld is %d, must be in [0, 2^31 - 1]",
                       where, (long long)c, (int)qn->mult[c]);
        if (qn->shift[c] < TQ_SHIFT_MIN || qn->shift[c] > shmax)
            return BAD("%s: shift %lld is %d, must be in [%d, %d]", where,
                       (long long)c, (int)qn->shift[c], TQ_SHIFT_MIN, shmax);
    }
    if (s16) {
        qn->os16 = (tq_s16_output){qn->mult, qn->shift, pc, qn->os.rounding,
                                   lo, hi};
        return TQ_OK;
    }
    qn->os.multiplier = qn->mult;
    qn->os.shift = qn->shift;
    qn->os.per_channel = pc;
    qn->os.output_offset = out->zero_point[0];
    qn->os.act_min = lo;
    qn->os.act_max = hi;
    return TQ_OK;
}

/* Do two activations share their quantization parameters? */
static int same_qparams(const tq__tensor *a, const tq__tensor *b)
{
    return a->scale[0] == b->scale[0] && a->zero_point[0] == b->zero_point[0];
}

/* The integer parameters of node @p index (its graph part is checked). */
static tq_status load_q(lctx *x, const cJSON *o, int32_t index,
                        const char *where)
{
    tq_graph *g = x->g;
    tq__node *n = &g->nodes[index];
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "q");
    if (!cJSON_IsObject(q))
        return BAD("%s: \"q\" must be an object", where);
    struct tq__qnode *qn = calloc(1, sizeof *qn);
    if (!qn)
        return lfail(x, TQ_ERR_NO_MEMORY, "out of memory");
    n->q = qn;
    TQ_CHECK(get_i32(x, q, "kind", where, TQ__Q_CONV, TQ__Q_CONVERT,
                     &qn->kind));
    const tq__tensor *in = &g->tensors[n->inputs[0]];
    const tq__tensor *out = &g->tensors[n->output];
    /* Mixed precision: the node runs at its output's type; every
     * activation it reads has that type, except a requantization. */
    qn->dtype = out->dtype == TQ_S16 ? TQ_S16 : TQ_S8;
    const int s16 = qn->dtype == TQ_S16;
    const int convert = n->op == TQ_OP_IDENTITY && in->dtype != out->dtype;
    for (int32_t j = 0; !convert && j < n->n_inputs; ++j) {
        const tq__tensor *t = &g->tensors[n->inputs[j]];
        if (t->kind != TQ__TENSOR_CONSTANT && t->dtype != out->dtype)
            return BAD("%s: input '%s' is %s, the output %s (only a "
                       "requantizing Identity changes the type)", where,
                       t->name, dtype_name(t->dtype), dtype_name(out->dtype));
    }
    const tq__tensor *in1 = n->n_inputs > 1 ? &g->tensors[n->inputs[1]] : NULL;
    const int const1 = in1 && in1->kind == TQ__TENSOR_CONSTANT;
    int32_t want;
    switch (n->op) {
    case TQ_OP_CONV2D:
        want = TQ__Q_CONV;
        break;
    case TQ_OP_DEPTHWISE_CONV2D:
    case TQ_OP_MUL:
    case TQ_OP_BATCH_NORM:
        want = TQ__Q_DEPTHWISE;
        break;
    case TQ_OP_FULLY_CONNECTED:
        want = TQ__Q_FC;
        break;
    case TQ_OP_CONV2D_RELU_MAXPOOL2:
        want = TQ__Q_CONV_POOL;
        break;
    case TQ_OP_MAX_POOL:
        want = TQ__Q_MAX_POOL;
        break;
    case TQ_OP_AVG_POOL:
    case TQ_OP_GLOBAL_AVG_POOL:
        want = TQ__Q_AVG_POOL;
        break;
    case TQ_OP_ADD:
        want = const1 ? TQ__Q_DEPTHWISE : TQ__Q_ADD;
        break;
    case TQ_OP_ACTIVATION:
    case TQ_OP_LEAKY_RELU:
        want = TQ__Q_LOOKUP;
        break;
    case TQ_OP_CONCAT:
        want = TQ__Q_CONCAT;
        break;
    case TQ_OP_PAD:
        want = TQ__Q_PAD;
        break;
    case TQ_OP_RESHAPE:
    case TQ_OP_IDENTITY:
        want = convert ? TQ__Q_CONVERT : TQ__Q_ALIAS;
        break;
    default:
        return BAD("%s: op %s has no int8 kernel", where, tq__op_name(n->op));
    }
    if (s16 && (want == TQ__Q_LOOKUP || want == TQ__Q_CONCAT))
        return BAD("%s: op %s has no 16x8 kernel", where, tq__op_name(n->op));
    if (qn->kind != want || (n->op == TQ_OP_MUL && !const1))
        return BAD("%s: q kind %d does not fit op %s", where, (int)qn->kind,
                   tq__op_name(n->op));
    qn->input_offset = -in->zero_point[0];
    char key[64];
    const int32_t share = (n->op == TQ_OP_MAX_POOL || n->op == TQ_OP_AVG_POOL ||
                           n->op == TQ_OP_GLOBAL_AVG_POOL ||
                           n->op == TQ_OP_PAD || n->op == TQ_OP_RESHAPE ||
                           n->op == TQ_OP_IDENTITY) && !convert;
    if (share && !same_qparams(in, out))
        return BAD("%s: the output of a %s must have its input's scale and "
                   "zero point", where, tq__op_name(n->op));
    switch (qn->kind) {
    case TQ__Q_CONV:
    case TQ__Q_CONV_POOL:
    case TQ__Q_FC:
    case TQ__Q_DEPTHWISE: {
        if (n->op == TQ_OP_ADD || n->op == TQ_OP_MUL ||
            n->op == TQ_OP_BATCH_NORM) {
            /* The per-channel affine as a 1x1 depthwise conv. */
            const int64_t C = in->shape[in->ndim - 1];
            qn->channels = (int32_t)C;
            TQ_CHECK(get_i32(x, q, "per_channel", where, 0, 1,
                             &qn->os.per_channel));
            snprintf(key, sizeof key, "n%d.weights", (int)index);
            TQ_CHECK(copy_array(x, key, TQ_S8, 1, &C, (size_t)C, where,
                                (void **)&qn->own_weights));
            snprintf(key, sizeof key, "n%d.bias", (int)index);
            tq_tensor bt;
            if (tq_safetensors_get(x->st, key, &bt) != TQ_ERR_NOT_FOUND) {
                if (s16)
                    TQ_CHECK(copy_s64(x, key, C, where, &qn->own_bias64));
                else
                    TQ_CHECK(copy_array(x, key, TQ_S32, 1, &C, (size_t)C,
                                        where, (void **)&qn->own_bias));
            }
            qn->weights = qn->own_weights;
            qn->bias = qn->own_bias;
            qn->bias64 = qn->own_bias64;
            qn->filter = (tq_dims){1, 1, 1, (int32_t)C};
            qn->conv = (tq_conv_params){1, 1, 0, 0, 0, 0, 1, 1, 1};
        } else {
            const tq__tensor *w = &g->tensors[n->inputs[1]];
            const tq__tensor *b = n->n_inputs > 2 ? &g->tensors[n->inputs[2]]
                                                  : NULL;
            int32_t reduction;
            if (w->dtype == TQ_S4 && s16)
                return BAD("%s: int4 weights under an s16 output (no 16x4 "
                           "kernel)", where);
            if (b && b->dtype != (s16 ? TQ_S64 : TQ_S32))
                return BAD("%s: the bias of an %s node must be %s", where,
                           s16 ? "s16" : "s8", s16 ? "s64" : "s32");
            if (w->dtype == TQ_S4) {
                qn->weights4 = w->data;
                qn->weights = NULL;
            } else {
                qn->weights = w->data;
            }
            if (s16)
                qn->bias64 = b ? b->data : NULL;
            else
                qn->bias = b ? b->data : NULL;
            qn->conv = n->attrs.conv;
            if (qn->kind == TQ__Q_FC) {
                qn->channels = (int32_t)w->shape[0];
                qn->in_features = (int32_t)w->shape[1];
                reduction = qn->in_features;
            } else if (qn->kind == TQ__Q_DEPTHWISE) {
                qn->channels = (int32_t)w->shape[3];
                qn->filter = (tq_dims){1, (int32_t)w->shape[1],
                                       (int32_t)w->shape[2],
                                       (int32_t)w->shape[3]};
                reduction = qn->filter.h * qn->filter.w;
            } else {
                qn->channels = (int32_t)w->shape[0];
                qn->filter = (tq_dims){(int32_t)w->shape[0],
                                       (int32_t)w->shape[1],
                                       (int32_t)w->shape[2],
                                       (int32_t)w->shape[3]};
                reduction = qn->filter.h * qn->filter.w * qn->filter.c;
                if (qn->kind == TQ__Q_CONV_POOL && qn->conv.groups != 1)
                    return BAD("%s: groups %d (the fused int8 kernel takes 1)",
                               where, (int)qn->conv.groups);
            }
            const int32_t max_red = s16 ? TQ_S16_MAX_REDUCTION
                                        : TQ_S8_MAX_REDUCTION;
            if (reduction > max_red)
                return BAD("%s: reduction length %d exceeds %d", where,
                           (int)reduction, max_red);
            if (w->qcount != 1 && w->qcount != qn->channels)
                return BAD("%s: the weights have %lld scales for %d channels",
                           where, (long long)w->qcount, (int)qn->channels);
            if (b && (b->ndim != 1 || b->shape[0] != qn->channels))
                return BAD("%s: the bias must be [%d]", where,
                           (int)qn->channels);
        }
        if (s16)
            qn->input_offset = 0;
        TQ_CHECK(load_stage(x, q, index, where, qn, out));
        if (qn->kind == TQ__Q_FC && !s16 && !qn->weights4) {
            tq_status s = tq_s8_packed_weights_size(
                qn->channels, qn->in_features, &qn->packed_bytes);
            if (s == TQ_OK && !(qn->packed = malloc(qn->packed_bytes)))
                s = TQ_ERR_NO_MEMORY;
            if (s == TQ_OK)
                s = tq_s8_pack_weights(qn->channels, qn->in_features,
                                       qn->weights, qn->in_features,
                                       qn->packed, qn->packed_bytes);
            if (s != TQ_OK)
                return lfail(x, s, "%s: packing the weights: %s", where,
                             tq_status_message(s));
        }
        if (qn->kind == TQ__Q_CONV && !s16 && !qn->weights4) {
            const tq_status s = tq__qnode_pack_conv(qn);
            if (s != TQ_OK)
                return lfail(x, s, "%s: packing the weights: %s", where,
                             tq_status_message(s));
        }
        return TQ_OK;
    }
    case TQ__Q_MAX_POOL:
    case TQ__Q_AVG_POOL:
        qn->act_min = s16 ? -32768 : -128;
        qn->act_max = s16 ? 32767 : 127;
        qn->pad_value = (int8_t)in->zero_point[0];
        if (n->op == TQ_OP_GLOBAL_AVG_POOL) {
            const tq_dims d = tq__graph_dims(g, n->inputs[0], 1);
            qn->pool = (tq_pool_params){d.h, d.w, 1, 1, 0, 0, 0, 0};
        } else {
            const tq_pool_params *p = &n->attrs.pool;
            qn->pool = *p;
            qn->padded_pool = n->op == TQ_OP_AVG_POOL &&
                              n->attrs.count_include_pad &&
                              (p->pad_top || p->pad_bottom || p->pad_left ||
                               p->pad_right);
        }
        return TQ_OK;
    case TQ__Q_ADD: {
        int32_t v[13];
        TQ_CHECK(get_ints(x, q, "add", where, 13, INT32_MIN, INT32_MAX, v));
        const tq_s8_add_params p = {v[0], v[1], v[2],  v[3],  v[4],
                                    v[5], v[6], v[7],  v[8],  v[9],
                                    v[10], v[11], v[12]};
        if (p.input1_offset != -in->zero_point[0] ||
            p.input2_offset != -in1->zero_point[0] ||
            p.output_offset != out->zero_point[0])
            return BAD("%s: add offsets must be the inputs' negated zero "
                       "points and the output's zero point", where);
        if (p.input1_multiplier < 0 || p.input2_multiplier < 0 ||
            p.output_multiplier < 0)
            return BAD("%s: add multipliers must be in [0, 2^31 - 1]", where);
        if (p.input1_shift < TQ_SHIFT_MIN || p.input1_shift > 0 ||
            p.input2_shift < TQ_SHIFT_MIN || p.input2_shift > 0 ||
            p.output_shift < TQ_SHIFT_MIN || p.output_shift > TQ_SHIFT_MAX ||
            p.left_shift < 0 || p.left_shift > (s16 ? 15 : 20))
            return BAD("%s: add shifts out of range (inputs [%d, 0], left "
                       "[0, 20], output [%d, %d])", where, TQ_SHIFT_MIN,
                       TQ_SHIFT_MIN, TQ_SHIFT_MAX);
        if (p.act_min < (s16 ? -32768 : -128) ||
            p.act_max > (s16 ? 32767 : 127) || p.act_min > p.act_max ||
            p.rounding < 0 || p.rounding > 1)
            return BAD("%s: add clamp or rounding out of range", where);
        qn->add = p;
        return TQ_OK;
    }
    case TQ__Q_LOOKUP:
    case TQ__Q_CONCAT: {
        qn->n_tables = qn->kind == TQ__Q_CONCAT ? n->n_inputs : 1;
        const int64_t shape[2] = {qn->n_tables, 256};
        snprintf(key, sizeof key, "n%d.tables", (int)index);
        return copy_array(x, key, TQ_S8, 2, shape, (size_t)qn->n_tables * 256,
                          where, (void **)&qn->tables);
    }
    case TQ__Q_PAD:
        qn->conv = n->attrs.conv;
        qn->pad_value = (int8_t)in->zero_point[0];
        return TQ_OK;
    case TQ__Q_CONVERT: {
        int32_t v[2];
        TQ_CHECK(get_ints(x, q, "requantize", where, 2, INT32_MIN, INT32_MAX,
                          v));
        if (v[0] < 0 || v[1] < TQ_SHIFT_MIN || v[1] > TQ_SHIFT_MAX)
            return BAD("%s: requantize multiplier %d / shift %d out of range",
                       where, (int)v[0], (int)v[1]);
        if (!(qn->cvt = calloc(1, sizeof *qn->cvt)))
            return lfail(x, TQ_ERR_NO_MEMORY, "out of memory");
        *qn->cvt = (tq__qcvt){in->dtype, out->dtype, v[0], v[1],
                              in->zero_point[0], out->zero_point[0],
                              s16 ? -32768 : -128, s16 ? 32767 : 127};
        return TQ_OK;
    }
    default: /* ALIAS */
        return TQ_OK;
    }
}

static tq_status load_node(lctx *x, const cJSON *o, int32_t index,
                           int32_t *dtypes)
{
    tq_graph *g = x->g;
    char where[96];
    snprintf(where, sizeof where, "node %d", (int)index);
    if (!cJSON_IsObject(o))
        return BAD("%s must be an object", where);
    const char *name = NULL;
    int32_t op, output;
    TQ_CHECK(get_string(x, o, "name", where, &name));
    snprintf(where, sizeof where, "node %d ('%.60s')", (int)index, name);
    TQ_CHECK(get_i32(x, o, "op", where, TQ_OP_CONV2D,
                     TQ_OP_CONV2D_RELU_MAXPOOL2, &op));
    TQ_CHECK(get_i32(x, o, "output", where, 0, g->n_tensors - 1, &output));
    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(o, "inputs");
    const int32_t n_in = cJSON_IsArray(ins) ? cJSON_GetArraySize(ins) : -1;
    if (n_in < 1 || n_in > 64)
        return BAD("%s: \"inputs\" must be an array of 1..64 tensor ids",
                   where);
    int32_t inputs[64];
    TQ_CHECK(get_ints(x, o, "inputs", where, n_in, 0, g->n_tensors - 1,
                      inputs));
    tq_node_attrs attrs;
    TQ_CHECK(get_attrs(x, o, where, &attrs));
    /* Order: every activation read is the input or an earlier output. */
    for (int32_t j = 0; j < n_in; ++j) {
        const tq__tensor *t = &g->tensors[inputs[j]];
        if (t->kind == TQ__TENSOR_ACTIVATION && t->producer < 0)
            return BAD("%s: input %d ('%s') is not written by an earlier node "
                       "(a cycle, or nodes out of order)", where, (int)j,
                       t->name);
        const int32_t cd = constant_dtype(op, j);
        const int32_t d = dtypes[inputs[j]];
        if (t->kind == TQ__TENSOR_CONSTANT && d != cd &&
            !(cd == TQ_S8 && j == 1 && d == TQ_S4) &&
            !(cd == TQ_S32 && j == 2 && d == TQ_S64))
            return BAD("%s: input %d ('%s') is a constant of the wrong dtype "
                       "(or where %s takes none)", where, (int)j, t->name,
                       tq__op_name(op));
    }
    tq__tensor *ot = &g->tensors[output];
    if (ot->kind != TQ__TENSOR_ACTIVATION || ot->producer >= 0)
        return BAD("%s: output tensor %d must be an activation no other node "
                   "writes", where, (int)output);
    /* The builder's shape inference (it wants f32 tensors: the dtypes are
     * faked for the call, the constants it reads are f32 as checked). */
    int32_t ndim;
    int64_t shape[TQ_MAX_DIMS] = {0};
    tq_status s = tq__graph_infer(g, name, op, n_in, inputs, &attrs, &ndim,
                                  shape);
    if (s != TQ_OK)
        return BAD("%s", g->error);
    int same = ndim == ot->ndim;
    for (int32_t d = 0; same && d < ndim; ++d)
        same = shape[d] == ot->shape[d];
    if (!same)
        return BAD("%s: output '%s' does not have the inferred shape", where,
                   ot->name);
    tq__node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = malloc(strlen(name) + 1);
    n->inputs = malloc((size_t)n_in * sizeof *n->inputs);
    if (!n->name || !n->inputs) {
        free(n->name);
        free(n->inputs);
        return lfail(x, TQ_ERR_NO_MEMORY, "out of memory");
    }
    strcpy(n->name, name);
    memcpy(n->inputs, inputs, (size_t)n_in * sizeof *inputs);
    n->n_inputs = n_in;
    n->op = op;
    n->output = output;
    n->attrs = attrs;
    g->n_nodes++;
    ot->producer = index;
    return TQ_OK;
}

static tq_status load_graph(lctx *x, const char *text)
{
    cJSON *root = cJSON_Parse(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return BAD("the \"" GRAPH_KEY "\" metadata is not a JSON object");
    }
    tq_graph *g = x->g;
    tq_status s = TQ_OK;
    const char *fmt = NULL;
    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(root, "tensors");
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
    int32_t *dtypes = NULL;
    int64_t rewrites = 0; /* set by get_int() below (gcc -O3 warns) */
    int32_t input, output;
    tq_quant_config config;
    if ((s = get_string(x, root, "format", "graph", &fmt)) != TQ_OK)
        goto out;
    if (strcmp(fmt, FORMAT_V1) != 0) {
        s = BAD("graph format \"%.40s\", this tinyq reads \"" FORMAT_V1 "\"",
                fmt);
        goto out;
    }
    if (!cJSON_IsArray(tensors) || !cJSON_IsArray(nodes) ||
        cJSON_GetArraySize(tensors) < 1 ||
        cJSON_GetArraySize(tensors) > MAX_ITEMS ||
        cJSON_GetArraySize(nodes) > MAX_ITEMS) {
        s = BAD("\"tensors\" (1..%d) and \"nodes\" (0..%d) must be arrays",
                MAX_ITEMS, MAX_ITEMS);
        goto out;
    }
    const int32_t nt = cJSON_GetArraySize(tensors);
    const int32_t nn = cJSON_GetArraySize(nodes);
    if ((s = get_int(x, root, "rewrites", "graph", 0, TQ_REWRITE_ALL,
                     &rewrites)) != TQ_OK ||
        (s = get_i32(x, root, "input", "graph", 0, nt - 1, &input)) != TQ_OK ||
        (s = get_i32(x, root, "output", "graph", 0, nt - 1, &output)) !=
            TQ_OK ||
        (s = get_config(x, root, &config)) != TQ_OK)
        goto out;
    const cJSON *e;
    int32_t id = 0;
    cJSON_ArrayForEach(e, tensors)
    {
        if ((s = load_tensor(x, e, id++, input)) != TQ_OK)
            goto out;
    }
    g->input = input;
    /* Nodes: the shape inference wants f32; keep the real dtypes aside. */
    dtypes = malloc((size_t)nt * sizeof *dtypes);
    g->nodes = calloc(nn ? (size_t)nn : 1, sizeof *g->nodes);
    if (!dtypes || !g->nodes) {
        s = lfail(x, TQ_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    g->cap_nodes = nn ? nn : 1;
    for (int32_t t = 0; t < nt; ++t) {
        dtypes[t] = g->tensors[t].dtype;
        g->tensors[t].dtype = TQ_F32;
    }
    id = 0;
    cJSON_ArrayForEach(e, nodes)
    {
        if ((s = load_node(x, e, id++, dtypes)) != TQ_OK)
            break;
    }
    for (int32_t t = 0; t < nt; ++t)
        g->tensors[t].dtype = dtypes[t];
    if (s != TQ_OK)
        goto out;
    for (int32_t t = 0; t < nt; ++t)
        if (g->tensors[t].kind == TQ__TENSOR_ACTIVATION &&
            g->tensors[t].producer < 0) {
            s = BAD("tensor %d ('%s') is an activation no node writes",
                    (int)t, g->tensors[t].name);
            goto out;
        }
    if (g->tensors[output].kind == TQ__TENSOR_CONSTANT) {
        s = BAD("the output (tensor %d) is a constant", (int)output);
        goto out;
    }
    g->output = output;
    g->q = calloc(1, sizeof *g->q);
    if (!g->q) {
        s = lfail(x, TQ_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    g->q_free = tq__quant_free;
    g->q->config = config;
    g->q->output_node = -1;
    id = 0;
    cJSON_ArrayForEach(e, nodes)
    {
        char where[96];
        snprintf(where, sizeof where, "node %d ('%.60s')", (int)id,
                 g->nodes[id].name);
        if ((s = load_q(x, e, id, where)) != TQ_OK)
            goto out;
        id++;
    }
    g->rewrites = (uint32_t)rewrites;
    g->quantized = 1;
    g->q_scratch = tq__quant_scratch;
    g->act_align = 16;
    if ((s = tq__graph_plan(g, 16)) != TQ_OK) {
        s = lfail(x, s, "arena plan: %s", g->error);
        goto out;
    }
    g->q->output_node = g->tensors[tq__graph_root(g, g->output)].producer;
    if (g->tensors[g->input].dtype != TQ_S8 ||
        g->tensors[tq__graph_root(g, g->output)].dtype != TQ_S8) {
        s = BAD("the graph input and output must be s8");
        goto out;
    }
    g->finalized = 1;
    /* Every node's scratch must be computable (shapes fit the kernels). */
    size_t bytes;
    if ((s = tq__graph_scratch_bytes(g, 1, &bytes)) != TQ_OK) {
        s = BAD("a node's kernel scratch cannot be sized: %s",
                tq_status_message(s));
        goto out;
    }
out:
    free(dtypes);
    cJSON_Delete(root);
    return s;
}

static tq_status load_file(const tq_safetensors *st, tq_graph **graph,
                           char *message, size_t message_size)
{
    lctx ctx = {st, NULL, message, message_size};
    lctx *x = &ctx;
    const char *fmt, *text;
    if (tq_safetensors_metadata(st, "format", &fmt) != TQ_OK)
        return BAD("no \"format\" metadata: not a tinyq model file");
    if (!strcmp(fmt, "tinyq-lenet-s8"))
        return BAD("a tinyq-lenet-s8 file (the old LeNet format): convert it "
                   "with 'tq-export --convert-lenet-s8 OLD NEW' "
                   "(docs/model-format.md)");
    if (strcmp(fmt, FORMAT_V1) != 0)
        return BAD("format \"%.40s\", this tinyq reads \"" FORMAT_V1 "\"",
                   fmt);
    if (tq_safetensors_metadata(st, GRAPH_KEY, &text) != TQ_OK)
        return BAD("no \"" GRAPH_KEY "\" metadata");
    tq_status s = tq_graph_create(&ctx.g);
    if (s != TQ_OK)
        return lfail(x, s, "out of memory");
    s = load_graph(x, text);
    if (s != TQ_OK) {
        tq_graph_free(ctx.g);
        return s;
    }
    if (message && message_size)
        message[0] = '\0';
    *graph = ctx.g;
    return TQ_OK;
}

static void set_message(char *message, size_t size, const char *text)
{
    if (message && size)
        snprintf(message, size, "%s", text);
}

tq_status tq_graph_load_memory(const void *bytes, size_t size,
                               tq_graph **graph, char *message,
                               size_t message_size)
{
    if (!bytes || !graph)
        return TQ_ERR_NULL;
    tq_safetensors *st = NULL;
    tq_status s = tq_safetensors_parse(bytes, size, &st);
    if (s != TQ_OK) {
        set_message(message, message_size,
                    s == TQ_ERR_FORMAT ? "not a valid safetensors file"
                                       : tq_status_message(s));
        return s;
    }
    s = load_file(st, graph, message, message_size);
    tq_safetensors_free(st);
    return s;
}

tq_status tq_graph_load(const char *path, tq_graph **graph, char *message,
                        size_t message_size)
{
    if (!path || !graph)
        return TQ_ERR_NULL;
    tq_safetensors *st = NULL;
    tq_status s = tq_safetensors_load(path, &st);
    if (s != TQ_OK) {
        if (message && message_size)
            snprintf(message, message_size, "%s: %s", path,
                     s == TQ_ERR_FORMAT ? "not a valid safetensors file"
                                        : tq_status_message(s));
        return s;
    }
    s = load_file(st, graph, message, message_size);
    tq_safetensors_free(st);
    return s;
}
