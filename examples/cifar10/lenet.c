/*
 * The CIFAR-10 LeNet on tinyq kernels: loading, weight quantization, and
 * the float and integer-only forward passes. See lenet.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lenet.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const lenet_layer lenet_layers[LENET_LAYERS] = {
    {"conv1", 1, 6, 3, 5, 1},
    {"conv2", 1, 16, 6, 5, 1},
    {"fc1", 0, 120, 400, 1, 1},
    {"fc2", 0, 84, 120, 1, 1},
    {"fc3", 0, 10, 84, 1, 0},
};

const size_t lenet_act_size[LENET_TENSORS] = {32 * 32 * 3, 14 * 14 * 6,
                                              5 * 5 * 16, 120, 84, 10};

/* Spatial geometry of the two conv stages: input side and pooled side. */
static const int32_t conv_in_hw[2] = {32, 14};
static const int32_t conv_out_hw[2] = {14, 5};
static const tq_conv_params valid_conv = {
    .stride_h = 1, .stride_w = 1, .pad_top = 0, .pad_bottom = 0, .pad_left = 0,
    .pad_right = 0, .dilation_h = 1, .dilation_w = 1, .groups = 1};

size_t lenet_weight_count(int l)
{
    const lenet_layer *L = &lenet_layers[l];
    return (size_t)L->out * (size_t)L->in * (size_t)L->k * (size_t)L->k;
}

static void conv_dims(int l, tq_dims *in, tq_dims *filter, tq_dims *out)
{
    const lenet_layer *L = &lenet_layers[l];
    *in = (tq_dims){.n = 1, .h = conv_in_hw[l], .w = conv_in_hw[l], .c = L->in};
    *filter = (tq_dims){.n = L->out, .h = L->k, .w = L->k, .c = L->in};
    *out = (tq_dims){.n = 1, .h = conv_out_hw[l], .w = conv_out_hw[l], .c = L->out};
}

/* ---- float model ------------------------------------------------------- */

static void f32_wire(lenet_f32 *m, int has_bias)
{
    float *p = m->storage;
    for (int l = 0; l < LENET_LAYERS; ++l) {
        m->w[l] = p;
        p += lenet_weight_count(l);
    }
    for (int l = 0; l < LENET_LAYERS; ++l) {
        m->b[l] = has_bias ? p : NULL;
        p += lenet_layers[l].out;
    }
    m->has_bias = has_bias;
}

/* Copy one PyTorch weight into tinyq's layout. Conv weights go OIHW ->
 * OHWI; fc1's input features are PyTorch's NCHW flatten of a2 {16, 5, 5},
 * so its rows are permuted like an NCHW -> NHWC activation. */
static tq_status convert_weight(int l, const tq_tensor *src, float *dst)
{
    const lenet_layer *L = &lenet_layers[l];
    tq_tensor in = *src, out;
    if (src->dtype != TQ_F32)
        return TQ_ERR_DTYPE;
    if (L->is_conv) {
        const int64_t want[4] = {L->out, L->in, L->k, L->k};
        const int64_t ohwi[4] = {L->out, L->k, L->k, L->in};
        if (src->ndim != 4 || memcmp(src->shape, want, sizeof want) != 0)
            return TQ_ERR_SHAPE;
        LENET_TRY(tq_tensor_init(&out, dst, TQ_F32, 4, ohwi));
        return tq_oihw_to_ohwi(&in, &out);
    }
    if (src->ndim != 2 || src->shape[0] != L->out || src->shape[1] != L->in)
        return TQ_ERR_SHAPE;
    if (l == 2) {
        const int64_t nchw[4] = {120, 16, 5, 5}, nhwc[4] = {120, 5, 5, 16};
        LENET_TRY(tq_tensor_init(&in, src->data, TQ_F32, 4, nchw));
        LENET_TRY(tq_tensor_init(&out, dst, TQ_F32, 4, nhwc));
        return tq_nchw_to_nhwc(&in, &out);
    }
    memcpy(dst, src->data, lenet_weight_count(l) * sizeof(float));
    return TQ_OK;
}

tq_status lenet_load_f32(const char *path, lenet_f32 *m)
{
    tq_safetensors *file = NULL;
    tq_tensor t;
    char name[32];
    LENET_TRY(tq_safetensors_load(path, &file));
    tq_status s = tq_safetensors_get(file, "conv1.bias", &t);
    const int has_bias = s == TQ_OK;
    f32_wire(m, has_bias);
    for (int l = 0; l < LENET_LAYERS && (s = TQ_OK) == TQ_OK; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        snprintf(name, sizeof name, "%s.weight", L->name);
        if ((s = tq_safetensors_get(file, name, &t)) != TQ_OK ||
            (s = convert_weight(l, &t, m->w[l])) != TQ_OK)
            break;
        if (!has_bias)
            continue;
        snprintf(name, sizeof name, "%s.bias", L->name);
        if ((s = tq_safetensors_get(file, name, &t)) != TQ_OK)
            break;
        if (t.dtype != TQ_F32 || t.ndim != 1 || t.shape[0] != L->out) {
            s = TQ_ERR_SHAPE;
            break;
        }
        memcpy(m->b[l], t.data, (size_t)L->out * sizeof(float));
    }
    tq_safetensors_free(file);
    return s;
}

void lenet_f32_copy(lenet_f32 *dst, const lenet_f32 *src)
{
    memcpy(dst->storage, src->storage, sizeof dst->storage);
    f32_wire(dst, src->has_bias);
}

void lenet_f32_acts_init(lenet_f32_acts *a)
{
    float *p = a->storage;
    for (int i = 0; i < LENET_TENSORS; ++i) {
        a->t[i] = p;
        p += lenet_act_size[i];
    }
}

tq_status lenet_forward_f32(const lenet_f32 *m, lenet_f32_acts *a,
                            void *scratch, size_t scratch_bytes)
{
    tq_f32_act relu, none;
    LENET_TRY(tq_f32_act_from(TQ_ACT_RELU, &relu));
    LENET_TRY(tq_f32_act_from(TQ_ACT_NONE, &none));
    for (int l = 0; l < 2; ++l) {
        tq_dims in, filter, out;
        conv_dims(l, &in, &filter, &out);
        LENET_TRY(tq_f32_conv2d_relu_maxpool2(&valid_conv, &in, a->t[l], &filter,
                                        m->w[l], m->b[l], &relu, &out,
                                        a->t[l + 1], scratch, scratch_bytes));
    }
    for (int l = 2; l < LENET_LAYERS; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        LENET_TRY(tq_f32_fully_connected(1, L->in, L->out, a->t[l], m->w[l], m->b[l],
                                   L->relu ? &relu : &none, a->t[l + 1]));
    }
    return TQ_OK;
}

/* Scratch of each conv stage on the f32 and s8 paths. */
static size_t conv_scratch(int l, int s8)
{
    tq_dims in, filter, out;
    size_t bytes = 0;
    conv_dims(l, &in, &filter, &out);
    if (s8)
        tq_s8_conv2d_relu_maxpool2_scratch_size(&valid_conv, &in, &filter,
                                                &out, &bytes);
    else
        tq_f32_conv2d_relu_maxpool2_scratch_size(&valid_conv, &in, &filter,
                                                 &out, &bytes);
    return bytes;
}

size_t lenet_scratch_bytes(void)
{
    size_t most = 0;
    for (int l = 0; l < 2; ++l)
        for (int s8 = 0; s8 < 2; ++s8)
            if (conv_scratch(l, s8) > most)
                most = conv_scratch(l, s8);
    return most;
}

/* Peak over the steps of (input + output + scratch) bytes: a forward pass
 * needs exactly these buffers alive at once, the rest can be reused. */
static size_t peak_bytes(size_t elem, int s8)
{
    size_t peak = 0;
    for (int l = 0; l < LENET_LAYERS; ++l) {
        size_t step = (lenet_act_size[l] + lenet_act_size[l + 1]) * elem;
        if (l < 2)
            step += conv_scratch(l, s8);
        if (l == LENET_LAYERS - 1 && s8) /* the int32 accumulators */
            step += LENET_CLASSES * sizeof(int32_t);
        if (step > peak)
            peak = step;
    }
    return peak;
}

size_t lenet_peak_activation_bytes_f32(void)
{
    return peak_bytes(sizeof(float), 0);
}

size_t lenet_peak_activation_bytes_s8(void)
{
    return peak_bytes(sizeof(int8_t), 1);
}

/* ---- weight quantization ----------------------------------------------- */

/* Layer l's weights seen as a 2-D tensor [out][rest], channel axis 0. */
static tq_status weight_tensor(int l, void *data, int32_t dtype, tq_tensor *t)
{
    const int64_t shape[2] = {lenet_layers[l].out,
                              (int64_t)(lenet_weight_count(l) / lenet_layers[l].out)};
    return tq_tensor_init(t, data, dtype, 2, shape);
}

/* Scales and zero points of layer l's weights under config c, one per
 * channel or one for the tensor. */
static tq_status weight_qparams(const lenet_f32 *f, int l,
                                const lenet_wq_config *c, int per_channel,
                                float *scale, int32_t *zero,
                                tq_qparams *p)
{
    const lenet_layer *L = &lenet_layers[l];
    const tq_qscheme scheme = {8, c->symmetric, c->symmetric, 0};
    const tq_range_config range = {c->method, 0, c->k, 0.0};
    tq_stats st[LENET_MAX_OUT];
    tq_tensor t;
    const int32_t n = per_channel ? L->out : 1;
    for (int32_t i = 0; i < n; ++i)
        LENET_TRY(tq_stats_init(&st[i]));
    LENET_TRY(weight_tensor(l, f->w[l], TQ_F32, &t));
    if (per_channel)
        LENET_TRY(tq_stats_update_axis_f32(st, L->out, &t, 0));
    else
        LENET_TRY(tq_stats_update_f32(st, f->w[l], lenet_weight_count(l)));
    for (int32_t i = 0; i < n; ++i) {
        double lo, hi;
        LENET_TRY(tq_choose_range(&range, &scheme, &st[i], NULL, &lo, &hi));
        LENET_TRY(tq_qparams_from_range(&scheme, lo, hi, &scale[i], &zero[i]));
    }
    LENET_TRY(tq_qscheme_qrange(&scheme, &p->qmin, &p->qmax));
    p->scale = scale;
    p->zero_point = zero;
    p->count = n;
    p->axis = 0;
    p->rounding = TQ_FROUND_HALF_AWAY;
    return TQ_OK;
}


tq_status lenet_fake_quant_weights(lenet_f32 *f, const lenet_wq_config *c)
{
    for (int l = 0; l < LENET_LAYERS; ++l) {
        float scale[LENET_MAX_OUT];
        int32_t zero[LENET_MAX_OUT];
        tq_qparams p;
        tq_tensor t;
        LENET_TRY(weight_qparams(f, l, c, c->per_channel, scale, zero, &p));
        LENET_TRY(weight_tensor(l, f->w[l], TQ_F32, &t));
        LENET_TRY(tq_fake_quant(&t, &p, &t));
    }
    return TQ_OK;
}

static void s8_wire(lenet_s8 *q, int has_bias)
{
    int8_t *w = q->wq_storage;
    int32_t *b = q->bias_storage;
    for (int l = 0; l < LENET_LAYERS; ++l) {
        q->w[l] = w;
        w += lenet_weight_count(l);
        q->b[l] = has_bias ? b : NULL;
        b += lenet_layers[l].out;
    }
    q->has_bias = has_bias;
}

tq_status lenet_quantize_weights(const lenet_f32 *f, const lenet_wq_config *c,
                                 lenet_s8 *q)
{
    if (!c->symmetric)
        return TQ_ERR_UNSUPPORTED; /* int8 kernels take symmetric weights */
    s8_wire(q, f->has_bias);
    for (int l = 0; l < LENET_LAYERS; ++l) {
        int32_t zero[LENET_MAX_OUT];
        tq_qparams p;
        tq_tensor src, dst;
        const int per_channel = c->per_channel && l != LENET_LAYERS - 1;
        LENET_TRY(weight_qparams(f, l, c, per_channel, q->w_scale[l], zero, &p));
        LENET_TRY(weight_tensor(l, f->w[l], TQ_F32, &src));
        LENET_TRY(weight_tensor(l, q->w[l], TQ_S8, &dst));
        LENET_TRY(tq_quantize(&src, &p, &dst));
        q->w_channels[l] = (int32_t)p.count;
    }
    return TQ_OK;
}

tq_status lenet_finish_s8(const lenet_f32 *f, lenet_s8 *q)
{
    for (int l = 0; l < LENET_LAYERS; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        const double s_in = q->a_scale[l], s_out = q->a_scale[l + 1];
        for (int32_t c = 0; c < q->w_channels[l]; ++c)
            LENET_TRY(tq_quantize_multiplier(s_in * q->w_scale[l][c] / s_out,
                                       &q->mult[l][c], &q->shift[l][c]));
        LENET_TRY(tq_s8_activation_range(L->relu ? TQ_ACT_RELU : TQ_ACT_NONE,
                                   q->a_scale[l + 1], q->a_zero[l + 1],
                                   &q->act_min[l], &q->act_max[l]));
        if (!q->b[l])
            continue;
        for (int32_t c = 0; c < L->out; ++c) {
            const double s_w = q->w_scale[l][q->w_channels[l] > 1 ? c : 0];
            const double v = round((double)f->b[l][c] / (s_in * s_w));
            q->b[l][c] = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
        }
    }
    return TQ_OK;
}

/* ---- integer-only forward ------------------------------------------------ */

static tq_s8_output output_stage(const lenet_s8 *q, int l)
{
    const tq_s8_output os = {q->mult[l], q->shift[l], q->w_channels[l] > 1,
                             q->rounding, q->a_zero[l + 1], q->act_min[l],
                             q->act_max[l]};
    return os;
}

tq_status lenet_forward_s8(const lenet_s8 *q, const int8_t *x0,
                           int8_t logits[LENET_CLASSES],
                           int32_t acc[LENET_CLASSES], void *scratch,
                           size_t scratch_bytes)
{
    int8_t a1[14 * 14 * 6], a2[5 * 5 * 16], a3[120], a4[84];
    const int8_t *in[LENET_LAYERS] = {x0, a1, a2, a3, a4};
    int8_t *out[LENET_LAYERS - 1] = {a1, a2, a3, a4};
    for (int l = 0; l < 2; ++l) {
        tq_dims di, df, dout;
        const tq_s8_output os = output_stage(q, l);
        conv_dims(l, &di, &df, &dout);
        LENET_TRY(tq_s8_conv2d_relu_maxpool2(&valid_conv, &di, in[l], -q->a_zero[l],
                                       &df, q->w[l], q->b[l], &os, &dout,
                                       out[l], scratch, scratch_bytes));
    }
    for (int l = 2; l < LENET_LAYERS - 1; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        const tq_s8_output os = output_stage(q, l);
        LENET_TRY(tq_s8_fully_connected(1, L->in, L->out, in[l], -q->a_zero[l],
                                  q->w[l], 0, q->b[l], &os, out[l]));
    }
    /* The last layer in two steps, to keep its int32 accumulators: they,
     * not the int8 logits, decide the class (int8 logits often tie). */
    const int l = LENET_LAYERS - 1;
    const lenet_layer *L = &lenet_layers[l];
    const tq_s8_output os = output_stage(q, l);
    LENET_TRY(tq_s8_gemm_s32(1, L->out, L->in, in[l], L->in, -q->a_zero[l], q->w[l],
                       L->in, 0, q->b[l], acc, L->out));
    return tq_s8_requantize_rows(1, L->out, acc, L->out, &os, logits, L->out);
}

int lenet_predict_s8(const int32_t acc[LENET_CLASSES])
{
    int best = 0;
    for (int i = 1; i < LENET_CLASSES; ++i)
        if (acc[i] > acc[best])
            best = i;
    return best;
}

int lenet_predict_f32(const float logits[LENET_CLASSES])
{
    int best = 0;
    for (int i = 1; i < LENET_CLASSES; ++i)
        if (logits[i] > logits[best])
            best = i;
    return best;
}

/* ---- quantized model files ------------------------------------------------ */

/* The tensors of a quantized model file, one table for save and load so
 * the two cannot drift apart. */
enum { PER_LAYER = 5, MAX_ENTRIES = LENET_LAYERS * PER_LAYER + 2 };

typedef struct entry {
    char name[32];
    void *data;
    int32_t dtype;
    int32_t ndim;
    int64_t shape[4];
} entry;

static int model_entries(lenet_s8 *q, entry *e)
{
    int n = 0;
    for (int l = 0; l < LENET_LAYERS; ++l) {
        const lenet_layer *L = &lenet_layers[l];
        const int64_t ch = q->w_channels[l];
        e[n] = (entry){"", q->w[l], TQ_S8, L->is_conv ? 4 : 2,
                       {L->out, L->is_conv ? L->k : L->in, L->k, L->in}};
        snprintf(e[n++].name, sizeof e->name, "%s.weight", L->name);
        e[n] = (entry){"", q->w_scale[l], TQ_F32, 1, {ch, 0, 0, 0}};
        snprintf(e[n++].name, sizeof e->name, "%s.weight_scale", L->name);
        e[n] = (entry){"", q->mult[l], TQ_S32, 1, {ch, 0, 0, 0}};
        snprintf(e[n++].name, sizeof e->name, "%s.multiplier", L->name);
        e[n] = (entry){"", q->shift[l], TQ_S32, 1, {ch, 0, 0, 0}};
        snprintf(e[n++].name, sizeof e->name, "%s.shift", L->name);
        if (q->b[l]) {
            e[n] = (entry){"", q->b[l], TQ_S32, 1, {L->out, 0, 0, 0}};
            snprintf(e[n++].name, sizeof e->name, "%s.bias", L->name);
        }
    }
    e[n++] = (entry){"activation.scale", q->a_scale, TQ_F32, 1, {LENET_TENSORS, 0, 0, 0}};
    e[n++] = (entry){"activation.zero_point", q->a_zero, TQ_S32, 1, {LENET_TENSORS, 0, 0, 0}};
    return n;
}

tq_status lenet_save_s8(const char *path, const lenet_s8 *q)
{
    entry e[MAX_ENTRIES];
    tq_named_tensor t[MAX_ENTRIES];
    lenet_s8 *mq = (lenet_s8 *)q; /* entries only read from it here */
    const int n = model_entries(mq, e);
    for (int i = 0; i < n; ++i) {
        t[i].name = e[i].name;
        LENET_TRY(tq_tensor_init(&t[i].tensor, e[i].data, e[i].dtype, e[i].ndim,
                           e[i].shape));
    }
    char rounding[2] = {(char)('0' + q->rounding), 0};
    const char *keys[] = {"format", "rounding", "activation_clamps"};
    char clamps[128];
    int len = 0;
    for (int l = 0; l < LENET_LAYERS; ++l)
        len += snprintf(clamps + len, sizeof clamps - (size_t)len, "%s%d:%d",
                        l ? "," : "", q->act_min[l], q->act_max[l]);
    const char *values[] = {"tinyq-lenet-s8", rounding, clamps};
    return tq_safetensors_save(path, t, n, keys, values, 3);
}

tq_status lenet_load_s8(const char *path, lenet_s8 *q)
{
    tq_safetensors *file = NULL;
    tq_tensor t;
    const char *v;
    LENET_TRY(tq_safetensors_load(path, &file));
    tq_status s = tq_safetensors_metadata(file, "format", &v);
    if (s == TQ_OK && strcmp(v, "tinyq-lenet-s8") != 0)
        s = TQ_ERR_FORMAT;
    /* Channel counts and bias presence come from the file itself. */
    const int has_bias = tq_safetensors_get(file, "conv1.bias", &t) == TQ_OK;
    s8_wire(q, has_bias);
    for (int l = 0; l < LENET_LAYERS && s == TQ_OK; ++l) {
        char name[32];
        snprintf(name, sizeof name, "%s.weight_scale", lenet_layers[l].name);
        s = tq_safetensors_get(file, name, &t);
        if (s == TQ_OK && (t.ndim != 1 || t.shape[0] < 1 ||
                           t.shape[0] > lenet_layers[l].out))
            s = TQ_ERR_SHAPE;
        if (s == TQ_OK)
            q->w_channels[l] = (int32_t)t.shape[0];
    }
    entry e[MAX_ENTRIES];
    const int n = s == TQ_OK ? model_entries(q, e) : 0;
    for (int i = 0; i < n && s == TQ_OK; ++i) {
        size_t bytes, want;
        tq_tensor w;
        if ((s = tq_safetensors_get(file, e[i].name, &t)) != TQ_OK ||
            (s = tq_tensor_init(&w, e[i].data, e[i].dtype, e[i].ndim,
                                e[i].shape)) != TQ_OK ||
            (s = tq_tensor_nbytes(&t, &bytes)) != TQ_OK ||
            (s = tq_tensor_nbytes(&w, &want)) != TQ_OK)
            break;
        if (t.dtype != w.dtype || t.ndim != w.ndim ||
            memcmp(t.shape, w.shape, sizeof(int64_t) * (size_t)w.ndim) != 0 ||
            bytes != want) {
            s = TQ_ERR_SHAPE;
            break;
        }
        memcpy(e[i].data, t.data, bytes);
    }
    if (s == TQ_OK && (s = tq_safetensors_metadata(file, "rounding", &v)) == TQ_OK)
        q->rounding = v[0] == '1' ? TQ_ROUND_SINGLE : TQ_ROUND_DOUBLE;
    if (s == TQ_OK && (s = tq_safetensors_metadata(file, "activation_clamps", &v)) == TQ_OK) {
        for (int l = 0; l < LENET_LAYERS && s == TQ_OK; ++l) {
            int lo, hi, used = 0;
            if (sscanf(v, "%d:%d%n", &lo, &hi, &used) != 2)
                s = TQ_ERR_FORMAT;
            q->act_min[l] = lo, q->act_max[l] = hi;
            v += used + (v[used] == ',');
        }
    }
    tq_safetensors_free(file);
    return s;
}
