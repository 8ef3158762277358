/*
 * tq-export: turn a quantized model file of the graph format
 * (docs/model-format.md, "tinyq-graph-v1") into C source for a firmware,
 * through the library: tq_graph_export_c() writes DIR/NAME.c and
 * DIR/NAME.h (const weights and parameters, one static arena planned at
 * export time, NAME_run(), checked on the host against tq_graph_run_s8()
 * before anything is written); for a graph taking a 32x32x3 image this
 * program also writes DIR/NAME_pixels.h, the input code of every raw pixel
 * value per channel (--mean and --std apply).
 *
 * It also converts the old LeNet format of the CIFAR-10 lab
 * ("tinyq-lenet-s8": a chain of valid, stride-1 convolutions each fused
 * with its ReLU clamp and a 2x2 max pool, then fully connected layers) into
 * a graph file:
 *     tq-export --convert-lenet-s8 OLD.safetensors NEW.safetensors
 * (docs/model-format.md). The old layers are read here, run through the
 * same kernel calls the old format's firmware made (one arena planned by
 * the library's planner, lib/graph/plan.c), and the converted graph must
 * give their int8 outputs and accumulators bit for bit before it is
 * written. Exporting an old file directly is refused with a message naming
 * the conversion.
 *
 * Usage: tq-export [--mean M,M,M] [--std S,S,S] [--prefix NAME]
 *                  [--out-dir DIR] MODEL.safetensors
 *        tq-export [--input HxWxC] --convert-lenet-s8 OLD.safetensors
 *                  NEW.safetensors
 * The first writes DIR/NAME.c and DIR/NAME.h (default: ./model.c,
 * ./model.h); --input gives the old model's input shape (default
 * 32x32x3, which the old files do not record).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tinyq.h>

/* The arena planner, an internal (host-only) unit of the library. */
#include "../lib/graph/plan.h"

enum { MAX_LAYERS = 32, MAX_BUFFERS = 2 * MAX_LAYERS + 2, NAME_LEN = 64 };

typedef struct layer {
    char name[NAME_LEN];  /* as in the file, e.g. "conv1" */
    char ident[NAME_LEN]; /* the same as a C identifier */
    int is_conv;
    tq_dims in_dims;      /* input activation (FC: {1, 1, 1, features}) */
    tq_dims filter_dims;  /* conv: OHWI */
    tq_dims out_dims;     /* output activation (pooled for a conv) */
    int32_t in_features, out_features; /* FC */
    const int8_t *weight;
    const int32_t *bias; /* NULL when the model has none */
    const int32_t *multiplier, *shift;
    int32_t channels;     /* entries of multiplier / shift: 1 or out */
    int32_t act_min, act_max;
    int32_t in_zero, out_zero;
    size_t scratch;       /* bytes (convs only) */
    int in_buf, out_buf, scratch_buf; /* arena buffers, -1 if none */
} layer;

/* One buffer of the arena, alive from step `first` to step `last`
 * inclusive. Step 0 prepares the input, step l + 1 runs layer l. */
typedef struct buffer {
    char what[NAME_LEN + 16];
    size_t size, align, offset;
    int first, last;
} buffer;

typedef struct model {
    const char *path;
    int32_t rounding;
    int32_t input_h, input_w, input_c;
    float mean[3], std[3];
    int32_t input_zero;
    int layers;
    layer l[MAX_LAYERS];
    int buffers;
    buffer b[MAX_BUFFERS];
    int input_buf;
    size_t arena, lower_bound;
} model;

/* The fuzz harness of the model reader (fuzz/fuzz_tq_export.c) includes
 * this file with TQ_EXPORT_FUZZ defined: a refused model then returns to
 * the harness through tq_export_refused, quietly, instead of ending the
 * process, and main() is left out. */
#ifdef TQ_EXPORT_FUZZ
#include <setjmp.h>
static jmp_buf tq_export_refused;
#endif

static void die(const char *fmt, ...)
{
#ifdef TQ_EXPORT_FUZZ
    (void)fmt;
    longjmp(tq_export_refused, 1);
#else
    va_list ap;
    va_start(ap, fmt);
    fputs("tq-export: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
#endif
}

static void check(tq_status s, const char *what)
{
    if (s != TQ_OK)
        die("%s: %s", what, tq_status_message(s));
}

/* ---- reading the model file ---------------------------------------------- */

/* Tensor @p name of @p dtype and rank 1 with 1..max entries (max 0: any). */
static int get_vector(const tq_safetensors *f, const char *name,
                      int32_t dtype, int64_t max, tq_tensor *t)
{
    tq_status s = tq_safetensors_get(f, name, t);
    if (s == TQ_ERR_NOT_FOUND)
        return 0;
    check(s, name);
    if (t->dtype != dtype || t->ndim != 1 || t->shape[0] < 1 ||
        (max > 0 && t->shape[0] > max))
        die("%s: expected a vector of %s", name,
            dtype == TQ_S32 ? "int32" : "float32");
    return 1;
}

static void layer_tensor(const tq_safetensors *f, const layer *L,
                         const char *suffix, int32_t dtype, int64_t max,
                         int required, tq_tensor *t)
{
    char name[NAME_LEN + 32];
    snprintf(name, sizeof name, "%s.%s", L->name, suffix);
    if (!get_vector(f, name, dtype, max, t)) {
        if (required)
            die("%s: missing tensor %s", L->name, name);
        t->data = NULL;
    }
}

static void make_ident(const char *name, char *ident)
{
    size_t i = 0;
    if (isdigit((unsigned char)name[0]))
        ident[i++] = '_';
    for (; *name && i + 1 < NAME_LEN; ++name)
        ident[i++] = isalnum((unsigned char)*name) ? *name : '_';
    ident[i] = 0;
}

/* "lo:hi,lo:hi,..." with one pair per layer. */
static void parse_clamps(const char *v, model *m)
{
    for (int l = 0; l < m->layers; ++l) {
        char *end;
        errno = 0;
        const long lo = strtol(v, &end, 10);
        if (end == v || *end != ':')
            die("activation_clamps: cannot parse \"%s\"", v);
        v = end + 1;
        const long hi = strtol(v, &end, 10);
        if (end == v || errno || lo < -128 || hi > 127 || lo > hi)
            die("activation_clamps: bad pair for layer %d", l);
        m->l[l].act_min = (int32_t)lo;
        m->l[l].act_max = (int32_t)hi;
        v = end + (*end == ',');
    }
    if (*v)
        die("activation_clamps: more pairs than layers");
}

static void load_model(const tq_safetensors *f, model *m)
{
    const char *v;
    tq_tensor t;
    check(tq_safetensors_metadata(f, "format", &v), "metadata \"format\"");
    if (strcmp(v, "tinyq-lenet-s8") != 0)
        die("%s: format \"%s\", expected \"tinyq-lenet-s8\"", m->path, v);
    check(tq_safetensors_metadata(f, "rounding", &v), "metadata \"rounding\"");
    if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
        die("metadata rounding \"%s\": expected 0 or 1", v);
    m->rounding = v[0] == '1' ? TQ_ROUND_SINGLE : TQ_ROUND_DOUBLE;

    /* The layers, in the order of their weight tensors in the file. */
    const int32_t count = tq_safetensors_count(f);
    for (int32_t i = 0; i < count; ++i) {
        const char *name;
        check(tq_safetensors_name(f, i, &name), "tensor name");
        const size_t len = strlen(name), sfx = strlen(".weight");
        if (len <= sfx || strcmp(name + len - sfx, ".weight") != 0)
            continue;
        if (m->layers == MAX_LAYERS)
            die("more than %d layers", MAX_LAYERS);
        if (len - sfx >= NAME_LEN)
            die("layer name too long: %s", name);
        layer *L = &m->l[m->layers++];
        memcpy(L->name, name, len - sfx);
        L->name[len - sfx] = 0;
        make_ident(L->name, L->ident);
        check(tq_safetensors_get(f, name, &t), name);
        if (t.dtype != TQ_S8 || (t.ndim != 4 && t.ndim != 2))
            die("%s: expected int8 OHWI (4-D) or [out][in] (2-D) weights", name);
        for (int d = 0; d < t.ndim; ++d)
            if (t.shape[d] < 1 || t.shape[d] > TQ_S8_MAX_REDUCTION)
                die("%s: extent %lld out of range", name, (long long)t.shape[d]);
        L->is_conv = t.ndim == 4;
        L->weight = t.data;
        if (L->is_conv)
            L->filter_dims = (tq_dims){.n = (int32_t)t.shape[0],
                                       .h = (int32_t)t.shape[1],
                                       .w = (int32_t)t.shape[2],
                                       .c = (int32_t)t.shape[3]};
        else
            L->out_features = (int32_t)t.shape[0], L->in_features = (int32_t)t.shape[1];
    }
    if (m->layers == 0)
        die("%s: no \"<layer>.weight\" tensor", m->path);

    for (int l = 0; l < m->layers; ++l) {
        layer *L = &m->l[l];
        const int32_t out = L->is_conv ? L->filter_dims.n : L->out_features;
        tq_tensor mult, shift, bias;
        layer_tensor(f, L, "multiplier", TQ_S32, out, 1, &mult);
        layer_tensor(f, L, "shift", TQ_S32, out, 1, &shift);
        layer_tensor(f, L, "bias", TQ_S32, out, 0, &bias);
        if (mult.shape[0] != shift.shape[0] ||
            (mult.shape[0] != 1 && mult.shape[0] != out))
            die("%s: %lld multipliers and %lld shifts for %d channels", L->name,
                (long long)mult.shape[0], (long long)shift.shape[0], (int)out);
        if (bias.data && bias.shape[0] != out)
            die("%s: %lld biases for %d channels", L->name,
                (long long)bias.shape[0], (int)out);
        L->multiplier = mult.data;
        L->shift = shift.data;
        L->channels = (int32_t)mult.shape[0];
        L->bias = bias.data;
    }

    if (!get_vector(f, "activation.zero_point", TQ_S32, 0, &t) ||
        t.shape[0] != m->layers + 1)
        die("activation.zero_point: expected %d int32 values", m->layers + 1);
    const int32_t *zero = t.data;
    for (int i = 0; i <= m->layers; ++i)
        if (zero[i] < -128 || zero[i] > 127)
            die("activation.zero_point[%d] = %d is not an int8 code", i, (int)zero[i]);
    for (int l = 0; l < m->layers; ++l) {
        m->l[l].in_zero = zero[l];
        m->l[l].out_zero = zero[l + 1];
    }
    m->input_zero = zero[0];
    if (!get_vector(f, "activation.scale", TQ_F32, 0, &t) ||
        t.shape[0] != m->layers + 1)
        die("activation.scale: expected %d float values", m->layers + 1);
    check(tq_safetensors_metadata(f, "activation_clamps", &v),
          "metadata \"activation_clamps\"");
    parse_clamps(v, m);
}

/* ---- shapes ----------------------------------------------------------------- */

static const tq_conv_params valid_conv = {
    .stride_h = 1, .stride_w = 1, .pad_top = 0, .pad_bottom = 0, .pad_left = 0,
    .pad_right = 0, .dilation_h = 1, .dilation_w = 1, .groups = 1};

static void chain_shapes(model *m)
{
    tq_dims cur = {.n = 1, .h = m->input_h, .w = m->input_w, .c = m->input_c};
    for (int l = 0; l < m->layers; ++l) {
        layer *L = &m->l[l];
        L->in_dims = cur;
        if (L->is_conv) {
            int32_t oh, ow;
            if (l > 0 && !m->l[l - 1].is_conv)
                die("%s: a convolution after a fully connected layer", L->name);
            if (L->filter_dims.c != cur.c)
                die("%s: %d input channels, the activation has %d", L->name,
                    (int)L->filter_dims.c, (int)cur.c);
            check(tq_conv_output_size(cur.h, L->filter_dims.h, 1, 1, 0, 0, &oh), L->name);
            check(tq_conv_output_size(cur.w, L->filter_dims.w, 1, 1, 0, 0, &ow), L->name);
            if (oh < 2 || ow < 2)
                die("%s: output %dx%d is too small to pool", L->name, (int)oh, (int)ow);
            L->out_dims =
                (tq_dims){.n = 1, .h = oh / 2, .w = ow / 2, .c = L->filter_dims.n};
            check(tq_s8_conv2d_relu_maxpool2_scratch_size(
                      &valid_conv, &L->in_dims, &L->filter_dims, &L->out_dims,
                      &L->scratch),
                  L->name);
        } else {
            const int64_t flat = (int64_t)cur.h * cur.w * cur.c;
            if (flat != L->in_features)
                die("%s: %d input features, the activation has %lld", L->name,
                    (int)L->in_features, (long long)flat);
            L->out_dims = (tq_dims){.n = 1, .h = 1, .w = 1, .c = L->out_features};
        }
        cur = L->out_dims;
    }
    if (m->l[m->layers - 1].is_conv)
        die("the last layer must be fully connected (its accumulators give the class)");
}

/* ---- the arena plan ------------------------------------------------------- */

static int add_buffer(model *m, const char *what, const char *name,
                      size_t size, int first, int last)
{
    buffer *b = &m->b[m->buffers];
    snprintf(b->what, sizeof b->what, "%s%s", what, name);
    b->size = size;
    b->align = 1; /* the s8 kernels take any alignment */
    b->first = first;
    b->last = last;
    return m->buffers++;
}

static size_t dims_bytes(const tq_dims *d)
{
    return (size_t)d->n * (size_t)d->h * (size_t)d->w * (size_t)d->c;
}

/* Offsets from the library's planner (lib/graph/plan.c, shared with the
 * graph runtime): greedy by size, largest first, each at the lowest offset
 * that overlaps no placed buffer alive at the same time; then the lifetime
 * lower bound, the bytes alive at the busiest step, which no plan can beat
 * (each kernel needs its input, output and scratch at once, and refuses
 * overlap) and which this one reaches for a chain like LeNet. */
static void place_buffers(model *m)
{
    tq__plan_buffer p[MAX_BUFFERS];
    for (int i = 0; i < m->buffers; ++i) {
        p[i].size = m->b[i].size;
        p[i].align = m->b[i].align;
        p[i].first = m->b[i].first;
        p[i].last = m->b[i].last;
        p[i].offset = 0;
    }
    check(tq__plan_place(p, m->buffers, &m->arena), "arena plan");
    check(tq__plan_lower_bound(p, m->buffers, &m->lower_bound),
          "arena lower bound");
    for (int i = 0; i < m->buffers; ++i)
        m->b[i].offset = p[i].offset;
}

static void plan_arena(model *m)
{
    const size_t image = (size_t)m->input_h * m->input_w * m->input_c;
    m->input_buf = add_buffer(m, "input codes", "", image, 0, 1);
    for (int l = 0; l < m->layers; ++l) {
        layer *L = &m->l[l];
        L->in_buf = l == 0 ? m->input_buf : m->l[l - 1].out_buf;
        L->scratch_buf = L->is_conv
                             ? add_buffer(m, "scratch of ", L->ident, L->scratch,
                                          l + 1, l + 1)
                             : -1;
        /* The last layer writes the caller's accumulators and logits. */
        L->out_buf = l + 1 < m->layers
                         ? add_buffer(m, "output of ", L->ident,
                                      dims_bytes(&L->out_dims), l + 1, l + 2)
                         : -1;
    }
    place_buffers(m);
}

/* ---- the old layers' kernel calls ------------------------------------------- */

static tq_s8_output output_stage(const model *m, const layer *L)
{
    const tq_s8_output os = {L->multiplier, L->shift, L->channels > 1,
                             m->rounding, L->out_zero, L->act_min, L->act_max};
    return os;
}

/* The old format's network, as its firmware ran it (the kernel calls the
 * LeNet-only exporter generated until the firmware moved to graph files),
 * on a host arena at the planned offsets: the reference the conversion is
 * checked against. */
static tq_status run_layers(const model *m, int8_t *arena, int8_t *logits,
                            int32_t *acc)
{
    for (int l = 0; l < m->layers; ++l) {
        const layer *L = &m->l[l];
        const tq_s8_output os = output_stage(m, L);
        const int8_t *in = arena + m->b[L->in_buf].offset;
        tq_status s;
        if (L->is_conv)
            s = tq_s8_conv2d_relu_maxpool2(
                &valid_conv, &L->in_dims, in, -L->in_zero, &L->filter_dims,
                L->weight, L->bias, &os, &L->out_dims,
                arena + m->b[L->out_buf].offset,
                arena + m->b[L->scratch_buf].offset, m->b[L->scratch_buf].size);
        else if (l + 1 < m->layers)
            s = tq_s8_fully_connected(1, L->in_features, L->out_features, in,
                                      -L->in_zero, L->weight, 0, L->bias, &os,
                                      arena + m->b[L->out_buf].offset);
        else if ((s = tq_s8_gemm_s32(1, L->out_features, L->in_features, in,
                                     L->in_features, -L->in_zero, L->weight,
                                     L->in_features, 0, L->bias, acc,
                                     L->out_features)) == TQ_OK)
            s = tq_s8_requantize_rows(1, L->out_features, acc, L->out_features,
                                      &os, logits, L->out_features);
        if (s != TQ_OK) {
#ifndef TQ_EXPORT_FUZZ
            fprintf(stderr, "tq-export: %s: layer %s: %s\n", m->path, L->name,
                    tq_status_message(s));
#endif
            return s;
        }
    }
    return TQ_OK;
}

#ifndef TQ_EXPORT_FUZZ /* the harness has no main() and writes no file */

/* ---- main ---------------------------------------------------------------- */

static void parse_floats3(const char *s, float v[3], const char *what)
{
    for (int i = 0; i < 3; ++i) {
        char *end;
        v[i] = strtof(s, &end);
        if (end == s || (i < 2 && *end != ',') || (i == 2 && *end))
            die("%s: expected three comma-separated numbers", what);
        s = end + 1;
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: tq-export [--mean M,M,M] [--std S,S,S] [--prefix NAME]\n"
                    "                 [--out-dir DIR] MODEL.safetensors\n"
                    "       tq-export [--input HxWxC] --convert-lenet-s8 OLD.safetensors "
                    "NEW.safetensors\n");
    exit(2);
}

/* For a graph taking one 32x32x3 image: DIR/PREFIX_pixels.h, the int8
 * input code of every raw pixel value of every channel (R, G, B), made the
 * host's way: tq_cifar10_normalize() with --mean / --std, then
 * tq_s8_quantize_f32() with the graph's input scale and zero point. A
 * firmware turns CIFAR-10 records into the model's NHWC input with it,
 * without float. */
static void write_pixel_table(const tq_graph *g, const model *m,
                              const char *prefix, const char *dir)
{
    int32_t in, out;
    tq_graph_tensor_info ti;
    if (tq_graph_io(g, &in, &out) != TQ_OK ||
        tq_graph_tensor(g, in, &ti) != TQ_OK || ti.ndim != 4 ||
        ti.shape[1] != 32 || ti.shape[2] != 32 || ti.shape[3] != 3 ||
        ti.qcount != 1)
        return;
    static uint8_t record[3 * 32 * 32];
    static float normalized[3 * 32 * 32];
    int8_t codes[3][256];
    for (int p = 0; p < 256; ++p) {
        memset(record, p, sizeof record);
        check(tq_cifar10_normalize(1, record, m->mean, m->std, normalized),
              "input normalization");
        for (int c = 0; c < 3; ++c) /* NHWC: pixel 0's channels */
            check(tq_s8_quantize_f32(1, &normalized[c], ti.scale[0],
                                     ti.zero_point[0], &codes[c][p]),
                  "input quantization");
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_pixels.h", dir, prefix);
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write %s", path);
    fprintf(f, "/* Generated by tq-export: the int8 input code of raw pixel "
            "value v of channel c\n * (R, G, B) is %s_pixel_codes[c][v]: "
            "(v / 255 - mean) / std with mean\n * %.9g, %.9g, %.9g and std "
            "%.9g, %.9g, %.9g (tq_cifar10_normalize), quantized\n * with "
            "scale %.9g, zero point %d (tq_s8_quantize_f32). Do not edit. "
            "*/\n#include <stdint.h>\n\nstatic const int8_t "
            "%s_pixel_codes[3][256] = {\n", prefix, (double)m->mean[0],
            (double)m->mean[1], (double)m->mean[2], (double)m->std[0],
            (double)m->std[1], (double)m->std[2], (double)ti.scale[0],
            (int)ti.zero_point[0], prefix);
    for (int c = 0; c < 3; ++c) {
        fprintf(f, "    {");
        for (int p = 0; p < 256; ++p)
            fprintf(f, "%s%d", p == 0 ? "" : (p % 16 ? ", " : ",\n     "),
                    codes[c][p]);
        fprintf(f, "}%s\n", c < 2 ? "," : "");
    }
    fprintf(f, "};\n");
    if (fclose(f) != 0)
        die("cannot write %s", path);
}

/* A tinyq-graph-v1 model file through tq_graph_load() and
 * tq_graph_export_c(). */
static int export_graph(const char *path, const model *m, const char *prefix,
                        const char *dir)
{
    char msg[512];
    tq_graph *g = NULL;
    if (tq_graph_load(path, &g, msg, sizeof msg) != TQ_OK)
        die("%s: %s", path, msg);
    if (tq_graph_export_c(g, prefix, dir, msg, sizeof msg) != TQ_OK) {
        tq_graph_free(g);
        die("%s: export: %s", path, msg);
    }
    write_pixel_table(g, m, prefix, dir);
    size_t arena = 0;
    tq_graph_arena_size(g, 1, &arena);
    printf("%s: %d nodes, exported to %s/%s.c and %s/%s.h (checked on the "
           "host against tq_graph_run_s8)\n", path,
           (int)tq_graph_node_count(g), dir, prefix, dir, prefix);
    tq_graph_free(g);
    return 0;
}

/* ---- --convert-lenet-s8: an old model file as a tinyq-graph-v1 one ---------- */

/* A growing text buffer for the graph JSON. */
typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void put(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int n = vsnprintf(t->s ? t->s + t->len : NULL,
                                t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            die("formatting the graph JSON");
        if (t->s && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        t->cap = 2 * (t->cap + (size_t)n + 64);
        if (!(t->s = realloc(t->s, t->cap)))
            die("out of memory");
    }
}

/* @p s as a JSON string (quotes, backslashes and control bytes escaped). */
static void put_string(text *t, const char *s)
{
    put(t, "\"");
    for (; *s; ++s) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            put(t, "\\%c", c);
        else if (c < 0x20)
            put(t, "\\u%04x", c);
        else
            put(t, "%c", c);
    }
    put(t, "\"");
}

static void put_tensor(text *t, int first, const char *name, const char *kind,
                       const char *dtype, int ndim, const int64_t *shape,
                       int64_t qcount)
{
    put(t, "%s{\"name\":", first ? "" : ",");
    put_string(t, name);
    put(t, ",\"kind\":\"%s\",\"dtype\":\"%s\",\"shape\":[", kind, dtype);
    for (int d = 0; d < ndim; ++d)
        put(t, "%s%lld", d ? "," : "", (long long)shape[d]);
    put(t, "],\"qcount\":%lld,\"qaxis\":0}", (long long)qcount);
}

enum { CONV_MAX_ARRAYS = 4 + 8 * MAX_LAYERS };

typedef struct arrays {
    int n;
    char names[CONV_MAX_ARRAYS][24];
    tq_named_tensor t[CONV_MAX_ARRAYS];
} arrays;

static void add_array(arrays *a, const char *name, void *data, int32_t dtype,
                      int64_t count, int ndim, const int64_t *shape)
{
    const int64_t vec[1] = {count};
    if (a->n == CONV_MAX_ARRAYS)
        die("too many arrays");
    if (strlen(name) >= sizeof a->names[a->n])
        die("array name \"%s\" too long", name);
    memcpy(a->names[a->n], name, strlen(name) + 1);
    a->t[a->n].name = a->names[a->n];
    check(tq_tensor_init(&a->t[a->n].tensor, data, dtype, ndim ? ndim : 1,
                         ndim ? shape : vec),
          name);
    ++a->n;
}

/* Converts the tinyq-lenet-s8 model @p m (already read from @p f and
 * chained) into a tinyq-graph-v1 file at @p out_path: the same int8
 * weights, int32 biases, multipliers, shifts, clamps, zero points and
 * scales, as fused conv + ReLU + 2x2 max pool nodes (TQ_OP_CONV2D_RELU_
 * MAXPOOL2) and fully connected nodes. The file is validated by
 * tq_graph_load(), written through tq_graph_save(), and its int8 outputs
 * and output-layer accumulators are checked bit for bit against the old
 * format's kernel calls (run_layers(), what tq-export's firmware code does)
 * on random inputs before the command succeeds. */
static int convert_lenet_s8(model *m, const tq_safetensors *f,
                            const char *out_path)
{
    static arrays a;
    static float wscale[MAX_LAYERS][4096], bscale[MAX_LAYERS][4096];
    static int32_t wzero[4096];
    static int32_t zero1[MAX_LAYERS + 1];
    static float scale1[MAX_LAYERS + 1];
    text j = {NULL, 0, 0};
    char name[NAME_LEN + 32];
    tq_tensor t;
    int32_t tensor = 0;
    int32_t act_id[MAX_LAYERS + 1];

    check(tq_safetensors_get(f, "activation.scale", &t), "activation.scale");
    memcpy(scale1, t.data, (size_t)(m->layers + 1) * sizeof(float));
    for (int i = 0; i <= m->layers; ++i) {
        zero1[i] = i == 0 ? m->input_zero : m->l[i - 1].out_zero;
        if (!(scale1[i] > 0.0f) || !isfinite(scale1[i]))
            die("activation.scale[%d] is not a positive finite scale", i);
    }
    const char *version = tq_version_string();
    put(&j, "{\"format\":\"tinyq-graph-v1\",\"tinyq_version\":\"%s\","
            "\"rewrites\":31,\"config\":{\"activation_range\":{\"method\":0,"
            "\"k\":3,\"percentile\":99.99},\"activation_scheme\":[8,0,0,0],"
            "\"weight_range\":{\"method\":1,\"k\":3,\"percentile\":99.99},"
            "\"weight_scheme\":[8,1,1,0],\"weight_per_channel\":%d,"
            "\"rounding\":%d,\"histogram_bins\":2048},",
        version, m->l[0].channels > 1, (int)m->rounding);

    /* Tensors: the input, then per layer its weight, bias and output. */
    const int64_t in_shape[4] = {1, m->input_h, m->input_w, m->input_c};
    put(&j, "\"tensors\":[");
    put_tensor(&j, 1, "input", "input", "s8", 4, in_shape, 1);
    add_array(&a, "t0.scale", &scale1[0], TQ_F32, 1, 0, NULL);
    add_array(&a, "t0.zero_point", &zero1[0], TQ_S32, 1, 0, NULL);
    act_id[0] = tensor++;
    int32_t w_id[MAX_LAYERS], b_id[MAX_LAYERS];
    for (int l = 0; l < m->layers; ++l) {
        layer *L = &m->l[l];
        const int32_t out = L->is_conv ? L->filter_dims.n : L->out_features;
        if (out > 4096)
            die("%s: more than 4096 output channels", L->name);
        snprintf(name, sizeof name, "%s.weight_scale", L->name);
        check(tq_safetensors_get(f, name, &t), name);
        if (t.dtype != TQ_F32 || t.ndim != 1 || t.shape[0] != L->channels)
            die("%s: expected %d float scales", name, (int)L->channels);
        for (int32_t c = 0; c < L->channels; ++c) {
            wscale[l][c] = ((const float *)t.data)[c];
            bscale[l][c] = (float)((double)scale1[l] * (double)wscale[l][c]);
        }
        /* The weight. */
        const int64_t wshape4[4] = {L->filter_dims.n, L->filter_dims.h,
                                    L->filter_dims.w, L->filter_dims.c};
        const int64_t wshape2[2] = {L->out_features, L->in_features};
        snprintf(name, sizeof name, "%s.weight", L->name);
        put_tensor(&j, 0, name, "constant", "s8", L->is_conv ? 4 : 2,
                   L->is_conv ? wshape4 : wshape2, L->channels);
        w_id[l] = tensor++;
        snprintf(name, sizeof name, "t%d", (int)w_id[l]);
        add_array(&a, name, (void *)(uintptr_t)L->weight, TQ_S8, 0,
                  L->is_conv ? 4 : 2, L->is_conv ? wshape4 : wshape2);
        snprintf(name, sizeof name, "t%d.scale", (int)w_id[l]);
        add_array(&a, name, wscale[l], TQ_F32, L->channels, 0, NULL);
        snprintf(name, sizeof name, "t%d.zero_point", (int)w_id[l]);
        add_array(&a, name, wzero, TQ_S32, L->channels, 0, NULL);
        /* The bias. */
        b_id[l] = -1;
        if (L->bias) {
            const int64_t bshape[1] = {out};
            snprintf(name, sizeof name, "%s.bias", L->name);
            put_tensor(&j, 0, name, "constant", "s32", 1, bshape, L->channels);
            b_id[l] = tensor++;
            snprintf(name, sizeof name, "t%d", (int)b_id[l]);
            add_array(&a, name, (void *)(uintptr_t)L->bias, TQ_S32, out, 0, NULL);
            snprintf(name, sizeof name, "t%d.scale", (int)b_id[l]);
            add_array(&a, name, bscale[l], TQ_F32, L->channels, 0, NULL);
            snprintf(name, sizeof name, "t%d.zero_point", (int)b_id[l]);
            add_array(&a, name, wzero, TQ_S32, L->channels, 0, NULL);
        }
        /* The output activation. */
        const int64_t oshape4[4] = {1, L->out_dims.h, L->out_dims.w, L->out_dims.c};
        const int64_t oshape2[2] = {1, L->out_features};
        put_tensor(&j, 0, L->name, "activation", "s8", L->is_conv ? 4 : 2,
                   L->is_conv ? oshape4 : oshape2, 1);
        act_id[l + 1] = tensor++;
        snprintf(name, sizeof name, "t%d.scale", (int)act_id[l + 1]);
        add_array(&a, name, &scale1[l + 1], TQ_F32, 1, 0, NULL);
        snprintf(name, sizeof name, "t%d.zero_point", (int)act_id[l + 1]);
        add_array(&a, name, &zero1[l + 1], TQ_S32, 1, 0, NULL);
    }
    put(&j, "],\"input\":0,\"output\":%d,\"nodes\":[", (int)act_id[m->layers]);

    /* Nodes, one per layer, in order. */
    for (int l = 0; l < m->layers; ++l) {
        const layer *L = &m->l[l];
        /* ReLU when the clamp starts at the output zero point (what
         * tq_s8_activation_range() gives for ReLU); the int8 runner uses
         * the clamp itself. */
        const int relu = L->is_conv || (l + 1 < m->layers && L->act_min == L->out_zero);
        put(&j, "%s{\"name\":", l ? "," : "");
        put_string(&j, L->name);
        put(&j, ",\"op\":%d,\"inputs\":[%d,%d",
            L->is_conv ? TQ_OP_CONV2D_RELU_MAXPOOL2 : TQ_OP_FULLY_CONNECTED,
            (int)act_id[l], (int)w_id[l]);
        if (b_id[l] >= 0)
            put(&j, ",%d", (int)b_id[l]);
        put(&j, "],\"output\":%d,\"attrs\":{\"conv\":[1,1,0,0,0,0,1,1,1],"
                "\"pool\":[1,1,1,1,0,0,0,0],\"act\":%d,\"act_min\":\"-inf\","
                "\"act_max\":\"inf\",\"alpha\":0.01,\"epsilon\":1e-05,"
                "\"count_include_pad\":0,\"depth_multiplier\":1,\"shape\":[]},"
                "\"q\":{\"kind\":%d,\"per_channel\":%d,\"rounding\":%d,"
                "\"act_min\":%d,\"act_max\":%d}}",
            (int)act_id[l + 1], relu, L->is_conv ? 4 : 3, L->channels > 1,
            (int)m->rounding, (int)L->act_min, (int)L->act_max);
        snprintf(name, sizeof name, "n%d.multiplier", l);
        add_array(&a, name, (void *)(uintptr_t)L->multiplier, TQ_S32,
                  L->channels, 0, NULL);
        snprintf(name, sizeof name, "n%d.shift", l);
        add_array(&a, name, (void *)(uintptr_t)L->shift, TQ_S32, L->channels,
                  0, NULL);
    }
    put(&j, "]}");

    /* Written once as built, read back through the validating loader,
     * saved again by the library (its canonical bytes). */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.convert-tmp", out_path);
    const char *keys[2] = {"format", "tinyq-graph"};
    const char *values[2] = {"tinyq-graph-v1", j.s};
    check(tq_safetensors_save(tmp, a.t, a.n, keys, values, 2), tmp);
    free(j.s);
    char msg[512];
    tq_graph *g = NULL;
    const tq_status ls = tq_graph_load(tmp, &g, msg, sizeof msg);
    remove(tmp);
    if (ls != TQ_OK)
        die("%s: the converted graph does not load: %s", m->path, msg);

    /* Bit for bit against the old format's kernel calls. */
    const layer *last = &m->l[m->layers - 1];
    const size_t in_n = (size_t)m->input_h * m->input_w * m->input_c;
    const size_t out_n = (size_t)last->out_features;
    size_t garena_bytes = 0;
    check(tq_graph_arena_size(g, 1, &garena_bytes), "arena size");
    int8_t *arena = calloc(m->arena ? m->arena : 1, 1);
    void *garena = malloc(garena_bytes);
    int8_t *x = malloc(in_n), *y0 = malloc(out_n), *y1 = malloc(out_n);
    int32_t *acc0 = malloc(out_n * sizeof *acc0), *acc1 = malloc(out_n * sizeof *acc1);
    if (!arena || !garena || !x || !y0 || !y1 || !acc0 || !acc1)
        die("out of memory");
    uint32_t seed = 12345u;
    for (int trial = 0; trial < 64; ++trial) {
        for (size_t i = 0; i < in_n; ++i) {
            seed = seed * 1664525u + 1013904223u;
            x[i] = (int8_t)((int32_t)((seed >> 24) & 0xff) - 128);
        }
        if (trial == 0)
            memset(x, -128, in_n);
        else if (trial == 1)
            memset(x, 127, in_n);
        memcpy(arena + m->b[m->input_buf].offset, x, in_n);
        if (run_layers(m, arena, y0, acc0) != TQ_OK)
            die("%s: the old model does not run", m->path);
        if (tq_graph_run_s8(g, 1, x, y1, acc1, garena, garena_bytes) != TQ_OK)
            die("%s: the converted graph does not run: %s", m->path,
                tq_graph_error(g));
        if (memcmp(y0, y1, out_n) != 0 ||
            memcmp(acc0, acc1, out_n * sizeof *acc0) != 0)
            die("%s: the converted graph differs from the old model on "
                "input %d", m->path, trial);
    }
    free(arena), free(garena), free(x), free(y0), free(y1), free(acc0), free(acc1);
    if (tq_graph_save(g, out_path) != TQ_OK)
        die("%s: %s", out_path, tq_graph_error(g));
    printf("%s (tinyq-lenet-s8, %d layers) -> %s (tinyq-graph-v1, %d nodes): "
           "int8 outputs and accumulators identical on 64 inputs\n",
           m->path, m->layers, out_path, (int)tq_graph_node_count(g));
    tq_graph_free(g);
    return 0;
}

int main(int argc, char **argv)
{
    static model m;
    const char *dir = ".", *prefix = "model";
    const char *convert_in = NULL, *convert_out = NULL;
    m.input_h = 32, m.input_w = 32, m.input_c = 3;
    for (int c = 0; c < 3; ++c)
        m.mean[c] = 0.5f, m.std[c] = 0.5f;
    for (int i = 1; i < argc; ++i) {
        const int more = i + 1 < argc;
        if (!strcmp(argv[i], "--input") && more) {
            if (sscanf(argv[++i], "%dx%dx%d", &m.input_h, &m.input_w, &m.input_c) != 3 ||
                m.input_h < 1 || m.input_w < 1 || m.input_c < 1 ||
                m.input_h > 4096 || m.input_w > 4096 || m.input_c > 4096)
                die("--input: expected HxWxC, e.g. 32x32x3");
        } else if (!strcmp(argv[i], "--mean") && more)
            parse_floats3(argv[++i], m.mean, "--mean");
        else if (!strcmp(argv[i], "--std") && more)
            parse_floats3(argv[++i], m.std, "--std");
        else if (!strcmp(argv[i], "--prefix") && more)
            prefix = argv[++i];
        else if (!strcmp(argv[i], "--out-dir") && more)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--convert-lenet-s8") && i + 2 < argc)
            convert_in = argv[++i], convert_out = argv[++i];
        else if (argv[i][0] != '-' && !m.path)
            m.path = argv[i];
        else
            usage();
    }
    if (convert_in) {
        /* tq-export --convert-lenet-s8 OLD NEW (docs/model-format.md). */
        if (m.path)
            usage();
        m.path = convert_in;
        tq_safetensors *old = NULL;
        check(tq_safetensors_load(m.path, &old), m.path);
        load_model(old, &m);
        chain_shapes(&m);
        plan_arena(&m);
        const int rc = convert_lenet_s8(&m, old, convert_out);
        tq_safetensors_free(old);
        return rc;
    }
    if (!m.path)
        usage();
    int ident_ok = *prefix && !isdigit((unsigned char)prefix[0]) &&
                   strlen(prefix) < NAME_LEN - 8;
    for (const char *c = prefix; *c; ++c)
        ident_ok &= isalnum((unsigned char)*c) || *c == '_';
    if (!ident_ok)
        die("--prefix must be a C identifier of at most %d characters", NAME_LEN - 9);

    /* A graph model file (docs/model-format.md): any quantized graph,
     * exported by the library (tq_graph_export_c()). The loader refuses
     * an old tinyq-lenet-s8 file with a message naming --convert-lenet-s8. */
    return export_graph(m.path, &m, prefix, dir);
}
#endif /* TQ_EXPORT_FUZZ */
