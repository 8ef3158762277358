/*
 * The post-training quantization lab on CIFAR-10, end to end, with tinyq's
 * graph API:
 *
 *   Stage 1  weight statistics; weights-only fake quantization with several
 *            ranges, per tensor and per channel, and the test accuracy of each
 *   Stage 2  activation statistics on calibration images; output scales from
 *            six range methods; integer-only inference (the input is quantized
 *            once, everything up to the logits is int8 / int32) and its test
 *            accuracy for each method
 *   then     the chosen model saved as a tinyq model file (tq_graph_save())
 *            and reloaded bit-exactly, optionally exported as firmware C
 *            source (tq_graph_export_c()), the memory footprint, and the time
 *            per image.
 *
 * The network is a float graph: an ONNX file (models/lenet/lenet.onnx) is
 * loaded with tq_graph_load_onnx(); a weights file written by train.py
 * (the default, examples/cifar10/lenet.safetensors) is turned into the same
 * graph with the builder (build_lenet() below). Everything after that --
 * calibration, quantization, the integer runs, saving, exporting -- is
 * the graph API and works for any graph it accepts.
 *
 * Usage: ptq [--model FILE] [--calib N] [--calib-first K] [--calib-spread]
 *            [--threads N] [--save FILE] [--export DIR] [--predictions FILE]
 *            [--logits FILE] [--quick]
 * --calib-first K calibrates on images K .. K+N-1 of data_batch_1 instead of
 * the first N (another calibration draw, e.g. for compare_ptq.py).
 * --predictions writes the chosen int8 network's class for every test image
 * evaluated, one byte each (for comparisons with other front ends), --logits
 * its ten int8 logits per image. --export writes DIR/model.c and
 * DIR/model.h for a firmware.
 * The data comes from $TINYQ_DATA_DIR/cifar10 (default ../shared/data).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tinyq.h>

#ifndef PTQ_DEFAULT_MODEL
#define PTQ_DEFAULT_MODEL "examples/cifar10/lenet.safetensors"
#endif

enum { IMAGE = 32 * 32 * 3, CALIB_BATCH = 100, EVAL_CHUNK = 16,
       MAX_THREADS = 16, CLASSES = 10 };

static void die_status(const char *what, tq_status s, const tq_graph *g)
{
    const char *why = g ? tq_graph_error(g) : "";
    fprintf(stderr, "ptq: %s failed: %s%s%s\n", what, tq_status_message(s),
            *why ? ": " : "", why);
    exit(1);
}

#define DIE_IF(expr)                                                       \
    do {                                                                   \
        tq_status die_s_ = (expr);                                         \
        if (die_s_ != TQ_OK)                                               \
            die_status(#expr, die_s_, NULL);                               \
    } while (0)

/* As DIE_IF, with the sentence of graph @p g. */
#define DIE_IF_G(expr, g)                                                  \
    do {                                                                   \
        tq_status die_s_ = (expr);                                         \
        if (die_s_ != TQ_OK)                                               \
            die_status(#expr, die_s_, (g));                                \
    } while (0)

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "ptq: out of memory\n");
        exit(1);
    }
    return p;
}

typedef struct options {
    const char *model, *save, *data_dir, *predictions, *logits, *export_dir;
    int64_t calib, calib_first;
    int spread, threads, quick;
} options;

static void usage(void)
{
    fprintf(stderr, "usage: ptq [--model FILE] [--calib N] [--calib-first K] "
                    "[--calib-spread] [--threads N] [--save FILE] "
                    "[--export DIR] [--predictions FILE] [--logits FILE] "
                    "[--quick]\n");
    exit(2);
}

static options parse_options(int argc, char **argv)
{
    options o = {PTQ_DEFAULT_MODEL, "lenet_s8.safetensors", NULL, NULL, NULL,
                 NULL, 400, 0, 0, 2, 0};
    const char *d = getenv("TINYQ_DATA_DIR");
    o.data_dir = d && *d ? d : "../shared/data";
    for (int i = 1; i < argc; ++i) {
        const int more = i + 1 < argc;
        if (!strcmp(argv[i], "--model") && more)
            o.model = argv[++i];
        else if (!strcmp(argv[i], "--save") && more)
            o.save = argv[++i];
        else if (!strcmp(argv[i], "--export") && more)
            o.export_dir = argv[++i];
        else if (!strcmp(argv[i], "--calib") && more)
            o.calib = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--calib-first") && more)
            o.calib_first = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--predictions") && more)
            o.predictions = argv[++i];
        else if (!strcmp(argv[i], "--logits") && more)
            o.logits = argv[++i];
        else if (!strcmp(argv[i], "--threads") && more)
            o.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--calib-spread"))
            o.spread = 1;
        else if (!strcmp(argv[i], "--quick"))
            o.quick = 1;
        else
            usage();
    }
    if (o.calib < 1 || o.calib > 50000 || o.threads < 1 ||
        o.threads > MAX_THREADS || o.calib_first < 0 ||
        (o.calib_first > 0 && (o.spread || o.calib_first + o.calib > 10000)))
        usage();
    return o;
}

/* ---- the float graph ------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The LeNet of train.py (conv 5x5 + ReLU + 2x2 max pool twice, then three
 * fully connected layers, the first two with ReLU) from its weights file in
 * PyTorch layouts: conv weights OIHW -> OHWI, fc1's input features from
 * PyTorch's (c, h, w) flatten order to the graph's NHWC order. Biases are
 * used when the file has them. */
static tq_graph *build_lenet(const char *path)
{
    static const struct {
        const char *name, *pool;
        int is_conv;
        int64_t out, in, k;
        int relu;
    } L[5] = {{"conv1", "pool1", 1, 6, 3, 5, 1},
              {"conv2", "pool2", 1, 16, 6, 5, 1},
              {"fc1", NULL, 0, 120, 400, 1, 1},
              {"fc2", NULL, 0, 84, 120, 1, 1},
              {"fc3", NULL, 0, 10, 84, 1, 0}};
    tq_safetensors *file = NULL;
    tq_graph *g = NULL;
    tq_tensor t, dst;
    char name[32];
    const int64_t in_shape[4] = {1, 32, 32, 3};
    int32_t x;
    DIE_IF(tq_safetensors_load(path, &file));
    const int has_bias = tq_safetensors_get(file, "conv1.bias", &t) == TQ_OK;
    DIE_IF(tq_graph_create(&g));
    DIE_IF_G(tq_graph_add_input(g, "input", 4, in_shape, &x), g);
    for (int l = 0; l < 5; ++l) {
        const int64_t count = L[l].out * L[l].in * L[l].k * L[l].k;
        float *w = xmalloc((size_t)count * sizeof *w);
        int32_t ins[3], y;
        snprintf(name, sizeof name, "%s.weight", L[l].name);
        DIE_IF(tq_safetensors_get(file, name, &t));
        if (t.dtype != TQ_F32 || t.ndim != (L[l].is_conv ? 4 : 2) ||
            t.shape[0] != L[l].out || t.shape[1] != L[l].in) {
            fprintf(stderr, "ptq: %s: %s is not a float LeNet weight of "
                            "train.py\n", path, name);
            exit(1);
        }
        if (L[l].is_conv) {
            const int64_t ohwi[4] = {L[l].out, L[l].k, L[l].k, L[l].in};
            DIE_IF(tq_tensor_init(&dst, w, TQ_F32, 4, ohwi));
            DIE_IF(tq_oihw_to_ohwi(&t, &dst));
        } else if (l == 2) {
            const int64_t nchw[4] = {120, 16, 5, 5}, nhwc[4] = {120, 5, 5, 16};
            tq_tensor src;
            DIE_IF(tq_tensor_init(&src, t.data, TQ_F32, 4, nchw));
            DIE_IF(tq_tensor_init(&dst, w, TQ_F32, 4, nhwc));
            DIE_IF(tq_nchw_to_nhwc(&src, &dst));
        } else {
            memcpy(w, t.data, (size_t)count * sizeof *w);
        }
        const int64_t wshape[4] = {L[l].out, L[l].is_conv ? L[l].k : L[l].in,
                                   L[l].k, L[l].in};
        DIE_IF(tq_tensor_init(&dst, w, TQ_F32, L[l].is_conv ? 4 : 2, wshape));
        DIE_IF_G(tq_graph_add_constant(g, name, &dst, &ins[1]), g);
        free(w);
        if (has_bias) {
            snprintf(name, sizeof name, "%s.bias", L[l].name);
            DIE_IF(tq_safetensors_get(file, name, &t));
            if (t.dtype != TQ_F32 || t.ndim != 1 || t.shape[0] != L[l].out) {
                fprintf(stderr, "ptq: %s: bad %s\n", path, name);
                exit(1);
            }
            DIE_IF_G(tq_graph_add_constant(g, name, &t, &ins[2]), g);
        }
        tq_node_attrs at;
        tq_node_attrs_init(&at);
        at.act = L[l].relu ? TQ_ACT_RELU : TQ_ACT_NONE;
        ins[0] = x;
        DIE_IF_G(tq_graph_add_node(g, L[l].name,
                                   L[l].is_conv ? TQ_OP_CONV2D
                                                : TQ_OP_FULLY_CONNECTED,
                                   has_bias ? 3 : 2, ins, &at, &y), g);
        x = y;
        if (L[l].pool) {
            tq_node_attrs_init(&at);
            at.pool = (tq_pool_params){.kernel_h = 2, .kernel_w = 2, .stride_h = 2,
                                       .stride_w = 2, .pad_top = 0, .pad_bottom = 0,
                                       .pad_left = 0, .pad_right = 0};
            DIE_IF_G(tq_graph_add_node(g, L[l].pool, TQ_OP_MAX_POOL, 1, &x, &at,
                                       &y), g);
            x = y;
        }
    }
    tq_safetensors_free(file);
    DIE_IF_G(tq_graph_set_output(g, x), g);
    DIE_IF_G(tq_graph_finalize(g, TQ_REWRITE_ALL), g); /* fuses the pools */
    return g;
}

static tq_graph *load_model(const char *path)
{
    tq_graph *g = NULL;
    char msg[512];
    if (!ends_with(path, ".onnx"))
        return build_lenet(path);
    const tq_status s = tq_graph_load_onnx(path, &g, msg, sizeof msg);
    if (s != TQ_OK) {
        fprintf(stderr, "ptq: %s: %s: %s\n", path, tq_status_message(s), msg);
        exit(1);
    }
    return g;
}

/* Nodes with weights (conv, fused conv, depthwise, fully connected). */
static int has_weights(int32_t op)
{
    return op == TQ_OP_CONV2D || op == TQ_OP_DEPTHWISE_CONV2D ||
           op == TQ_OP_FULLY_CONNECTED || op == TQ_OP_CONV2D_RELU_MAXPOOL2;
}

static size_t numel(const tq_graph_tensor_info *t)
{
    size_t n = 1;
    for (int32_t d = 0; d < t->ndim; ++d)
        n *= (size_t)t->shape[d];
    return n;
}

static size_t graph_numel(const tq_graph *g, int32_t tensor)
{
    tq_graph_tensor_info t;
    DIE_IF(tq_graph_tensor(g, tensor, &t));
    return numel(&t);
}

/* The activations worth a row: the input, then every node's output that
 * has its own storage (not a Reshape or Identity alias), in order. */
static int activations(const tq_graph *g, int32_t *ids, int max)
{
    int32_t in, out, n = 0;
    DIE_IF(tq_graph_io(g, &in, &out));
    ids[n++] = in;
    for (int32_t i = 0; i < tq_graph_node_count(g) && n < max; ++i) {
        tq_graph_node_info node;
        DIE_IF(tq_graph_node(g, i, &node));
        if (node.op != TQ_OP_RESHAPE && node.op != TQ_OP_IDENTITY)
            ids[n++] = node.output;
    }
    return n;
}

static const char *tensor_label(const tq_graph *g, int32_t tensor)
{
    int32_t in, out;
    tq_graph_tensor_info t;
    DIE_IF(tq_graph_tensor(g, tensor, &t));
    DIE_IF(tq_graph_io(g, &in, &out));
    return tensor == out ? "logits" : t.name;
}

/* A copy of float graph @p g whose conv and fully connected weights went
 * through tq_fake_quant() (Stage 1: the same float network, only 2^8
 * levels per tensor or per output channel). Every node is re-added with
 * its op and attributes, so any finalized graph can be copied. */
static tq_graph *fake_quant_copy(const tq_graph *g, int32_t method,
                                 int symmetric, int per_channel)
{
    const int32_t nt = tq_graph_tensor_count(g);
    int32_t *map = xmalloc((size_t)nt * sizeof *map);
    int32_t in, out, ins[16];
    tq_graph *c = NULL;
    tq_graph_tensor_info t;
    for (int32_t i = 0; i < nt; ++i)
        map[i] = -1;
    DIE_IF(tq_graph_io(g, &in, &out));
    DIE_IF(tq_graph_tensor(g, in, &t));
    DIE_IF(tq_graph_create(&c));
    DIE_IF_G(tq_graph_add_input(c, t.name, t.ndim, t.shape, &map[in]), c);
    for (int32_t i = 0; i < tq_graph_node_count(g); ++i) {
        tq_graph_node_info node;
        DIE_IF(tq_graph_node(g, i, &node));
        if (node.n_inputs > 16) {
            fprintf(stderr, "ptq: node %s has too many inputs\n", node.name);
            exit(1);
        }
        for (int32_t k = 0; k < node.n_inputs; ++k) {
            const int32_t id = node.inputs[k];
            if (map[id] >= 0) {
                ins[k] = map[id];
                continue;
            }
            DIE_IF(tq_graph_tensor(g, id, &t));
            tq_tensor v;
            const size_t n = numel(&t);
            float *data = xmalloc(n * sizeof *data);
            memcpy(data, t.data, n * sizeof *data);
            DIE_IF(tq_tensor_init(&v, data, TQ_F32, t.ndim, t.shape));
            if (k == 1 && has_weights(node.op)) {
                /* Channels along the weight's output axis: 0 for OHWI and
                 * [O][I], the last for depthwise [1][KH][KW][C]. */
                const int32_t axis =
                    node.op == TQ_OP_DEPTHWISE_CONV2D ? t.ndim - 1 : 0;
                const int64_t ch = per_channel ? t.shape[axis] : 1;
                const tq_qscheme scheme = {8, symmetric, symmetric, 0};
                const tq_range_config range = {method, 0, 3.0, 0.0};
                tq_stats *st = xmalloc((size_t)ch * sizeof *st);
                float *scale = xmalloc((size_t)ch * sizeof *scale);
                int32_t *zero = xmalloc((size_t)ch * sizeof *zero);
                tq_qparams p;
                for (int64_t j = 0; j < ch; ++j)
                    DIE_IF(tq_stats_init(&st[j]));
                if (per_channel)
                    DIE_IF(tq_stats_update_axis_f32(st, ch, &v, axis));
                else
                    DIE_IF(tq_stats_update_f32(st, data, n));
                for (int64_t j = 0; j < ch; ++j) {
                    double lo, hi;
                    DIE_IF(tq_choose_range(&range, &scheme, &st[j], NULL, &lo, &hi));
                    DIE_IF(tq_qparams_from_range(&scheme, lo, hi, &scale[j],
                                                 &zero[j]));
                }
                DIE_IF(tq_qscheme_qrange(&scheme, &p.qmin, &p.qmax));
                p.scale = scale;
                p.zero_point = zero;
                p.count = ch;
                p.axis = axis;
                p.rounding = TQ_FROUND_HALF_AWAY;
                DIE_IF(tq_fake_quant(&v, &p, &v));
                free(st), free(scale), free(zero);
            }
            DIE_IF_G(tq_graph_add_constant(c, t.name, &v, &map[id]), c);
            ins[k] = map[id];
            free(data);
        }
        DIE_IF_G(tq_graph_add_node(c, node.name, node.op, node.n_inputs, ins,
                                   &node.attrs, &map[node.output]), c);
    }
    DIE_IF_G(tq_graph_set_output(c, map[out]), c);
    DIE_IF_G(tq_graph_finalize(c, TQ_REWRITE_ALL), c);
    free(map);
    return c;
}

/* ---- Stage 1: weight statistics ------------------------------------------ */

static void print_stats_header(const char *what)
{
    printf("| %-8s | %7s | %9s | %9s | %9s | %9s | %21s |\n", what, "n", "min",
           "max", "mean", "sigma", "3-sigma range");
    printf("|----------|---------|-----------|-----------|-----------|-----------|"
           "-----------------------|\n");
}

static void print_stats_row(const char *name, const tq_stats *s)
{
    double sigma = 0, lo = 0, hi = 0;
    DIE_IF(tq_stats_stddev(s, TQ_SIGMA_POPULATION, &sigma));
    DIE_IF(tq_stats_ksigma_range(s, 3.0, &lo, &hi));
    printf("| %-8s | %7llu | %9.4f | %9.4f | %9.5f | %9.5f | [%9.4f, %8.4f] |\n",
           name, (unsigned long long)s->count, s->min, s->max, s->mean, sigma,
           lo, hi);
}

static void stage1_weight_stats(const tq_graph *g)
{
    tq_stats all;
    printf("\n## Stage 1: weight statistics (population sigma)\n\n");
    print_stats_header("layer");
    DIE_IF(tq_stats_init(&all));
    for (int32_t i = 0; i < tq_graph_node_count(g); ++i) {
        tq_graph_node_info node;
        tq_graph_tensor_info w;
        tq_stats s;
        DIE_IF(tq_graph_node(g, i, &node));
        if (!has_weights(node.op))
            continue;
        DIE_IF(tq_graph_tensor(g, node.inputs[1], &w));
        DIE_IF(tq_stats_init(&s));
        DIE_IF(tq_stats_update_f32(&s, w.data, numel(&w)));
        print_stats_row(node.name, &s);
        DIE_IF(tq_stats_merge(&all, &s));
    }
    print_stats_row("model", &all);
}

/* ---- memory ---------------------------------------------------------------- */

static long file_bytes(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (f)
        fclose(f);
    return n;
}

/* Weight memory as stored: f32 weights (and biases) against what integer-
 * only inference keeps: int8 weights, int32 biases, and per output channel
 * an int32 multiplier and a shift (in [-31, 30]: one byte); per activation
 * tensor a zero point (one byte), per layer the clamp (two bytes), and the
 * input scale (a float, to quantize the image). Float weight scales are
 * only needed to derive the multipliers, so a deployment drops them.
 * @p q may be NULL (no calibration data): the channel count is then the
 * weights' per-channel one (the output layer per tensor). */
static void memory_table(const tq_graph *f, const tq_graph *q,
                         const char *f32_file, const char *s8_file)
{
    size_t weights = 0, biases = 0, channels = 0, layers = 0;
    int32_t acts[64];
    const int n_acts = activations(f, acts, 64);
    int32_t in, out;
    DIE_IF(tq_graph_io(f, &in, &out));
    for (int32_t i = 0; i < tq_graph_node_count(f); ++i) {
        tq_graph_node_info node;
        tq_graph_tensor_info w;
        DIE_IF(tq_graph_node(f, i, &node));
        if (!has_weights(node.op))
            continue;
        ++layers;
        DIE_IF(tq_graph_tensor(f, node.inputs[1], &w));
        weights += numel(&w);
        if (node.n_inputs > 2)
            biases += graph_numel(f, node.inputs[2]);
        if (q) {
            tq_graph_node_info qn;
            tq_graph_tensor_info qw;
            DIE_IF(tq_graph_node(q, i, &qn));
            DIE_IF(tq_graph_tensor(q, qn.inputs[1], &qw));
            channels += (size_t)qw.qcount;
        } else {
            channels += node.output == out ? 1 : (size_t)w.shape[0];
        }
    }
    const size_t f32_bytes = (weights + biases) * sizeof(float);
    const size_t s8_bytes = weights + biases * sizeof(int32_t) + channels * 5 +
                            (size_t)n_acts + layers * 2 + sizeof(float);
    printf("\n## Memory\n\n");
    printf("| what | f32 | int8 | ratio |\n|---|---:|---:|---:|\n");
    printf("| weights (%zu values) | %zu B | %zu B | %.2fx |\n", weights,
           weights * 4, weights, 4.0);
    printf("| everything inference needs: weights%s + quantization parameters (%zu channels) | %zu B | %zu B | %.2fx |\n",
           biases ? " + biases" : "", channels, f32_bytes, s8_bytes,
           (double)f32_bytes / (double)s8_bytes);
    const long ff = file_bytes(f32_file), fs = s8_file ? file_bytes(s8_file) : -1;
    if (ff > 0 && fs > 0)
        printf("| model file (float: as given; int8: tinyq-graph-v1 safetensors with its graph JSON and float scales) | %ld B | %ld B | %.2fx |\n",
               ff, fs, (double)ff / (double)fs);
    size_t pf, p8 = 0;
    DIE_IF(tq_graph_arena_size(f, 1, &pf));
    if (q) {
        DIE_IF(tq_graph_arena_size(q, 1, &p8));
        printf("| arena of one forward pass (planned activations + scratch) | %zu B | %zu B | %.2fx |\n",
               pf, p8, (double)pf / (double)p8);
    }
}

/* ---- evaluation ------------------------------------------------------------ */

typedef struct eval {
    int64_t images, correct;
    int64_t agree;      /* predictions equal to a reference's, if given */
    int64_t int8_ties;  /* images whose top int8 logit is tied */
    /* Other prediction rules on the int8 logits, for comparison with tools
     * that only have those: the first maximum (numpy's and PyTorch's
     * argmax), and the expected count when ties are broken at random. */
    int64_t int8_first_max_correct;
    double int8_ties_random_correct;
    double seconds;     /* wall time of the forward passes */
} eval;

typedef struct eval_job {
    const tq_graph *g;
    const float *images;
    const uint8_t *labels;
    int64_t begin, end;
    size_t in_n, out_n;
    uint8_t *preds;
    int8_t *logits; /* [n][out_n] int8 logits, or NULL */
    int64_t correct, ties, first_max_correct;
    double ties_random_correct;
    tq_status status;
} eval_job;

static int argmax_s32(const int32_t *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; ++i)
        if (v[i] > v[best])
            best = i;
    return (int)best;
}

static int argmax_f32(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; ++i)
        if (v[i] > v[best])
            best = i;
    return (int)best;
}

/* Runs images [begin, end) in chunks: float graphs through
 * tq_graph_run_f32(), quantized ones through tq_graph_quantize_input() (the
 * input is quantized once) and tq_graph_run_s8(), whose int32
 * accumulators of the output layer give the class. */
static void *eval_worker(void *arg)
{
    eval_job *j = arg;
    const int s8 = tq_graph_is_quantized(j->g);
    size_t arena_bytes = 0;
    j->status = tq_graph_arena_size(j->g, EVAL_CHUNK, &arena_bytes);
    void *arena = xmalloc(arena_bytes);
    int8_t *xq = xmalloc((size_t)EVAL_CHUNK * j->in_n);
    int8_t *yq = xmalloc((size_t)EVAL_CHUNK * j->out_n);
    int32_t *acc = xmalloc((size_t)EVAL_CHUNK * j->out_n * sizeof *acc);
    float *yf = xmalloc((size_t)EVAL_CHUNK * j->out_n * sizeof *yf);
    for (int64_t b = j->begin; b < j->end && j->status == TQ_OK; b += EVAL_CHUNK) {
        const int64_t n = j->end - b < EVAL_CHUNK ? j->end - b : EVAL_CHUNK;
        const float *img = j->images + (size_t)b * j->in_n;
        if (s8) {
            j->status = tq_graph_quantize_input(j->g, (size_t)n * j->in_n, img, xq);
            if (j->status == TQ_OK)
                j->status = tq_graph_run_s8(j->g, n, xq, yq, acc, arena,
                                            arena_bytes);
        } else {
            j->status = tq_graph_run_f32(j->g, n, img, yf, arena, arena_bytes);
        }
        for (int64_t i = 0; i < n && j->status == TQ_OK; ++i) {
            const int label = j->labels[b + i];
            int pred;
            if (s8) {
                const int8_t *lg = yq + (size_t)i * j->out_n;
                int count = 1, first = 0, has_label = label == 0;
                for (size_t k = 1; k < j->out_n; ++k) {
                    if (lg[k] > lg[first])
                        count = 1, first = (int)k, has_label = label == (int)k;
                    else if (lg[k] == lg[first])
                        ++count, has_label |= label == (int)k;
                }
                j->ties += count > 1;
                j->first_max_correct += first == label;
                j->ties_random_correct += has_label ? 1.0 / count : 0.0;
                pred = argmax_s32(acc + (size_t)i * j->out_n, j->out_n);
                if (j->logits)
                    memcpy(j->logits + (size_t)(b + i) * j->out_n, lg, j->out_n);
            } else {
                pred = argmax_f32(yf + (size_t)i * j->out_n, j->out_n);
            }
            j->correct += pred == label;
            if (j->preds)
                j->preds[b + i] = (uint8_t)pred;
        }
    }
    free(arena), free(xq), free(yq), free(acc), free(yf);
    return NULL;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Accuracy of graph @p g over n images on @p threads threads; @p preds
 * (may be NULL) receives the classes, @p logits (may be NULL, quantized
 * graphs) the int8 logits, and @p ref (may be NULL) is compared with the
 * predictions to count agreement. */
static eval evaluate(const tq_graph *g, const float *images,
                     const uint8_t *labels, int64_t n, int threads,
                     uint8_t *preds, int8_t *logits, const uint8_t *ref)
{
    eval_job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    uint8_t *own = NULL;
    int32_t in, out;
    eval e;
    DIE_IF(tq_graph_io(g, &in, &out));
    const size_t in_n = graph_numel(g, in), out_n = graph_numel(g, out);
    if (in_n != IMAGE || out_n != CLASSES) {
        fprintf(stderr, "ptq: the model must take 32x32x3 images and give "
                        "%d logits\n", CLASSES);
        exit(1);
    }
    if (!preds && ref)
        preds = own = xmalloc((size_t)n);
    const double t0 = seconds_now();
    for (int t = 0; t < threads; ++t)
        jobs[t] = (eval_job){g, images, labels, n * t / threads,
                             n * (t + 1) / threads, in_n, out_n, preds, logits,
                             0, 0, 0, 0.0, TQ_OK};
    for (int t = 1; t < threads; ++t)
        started[t] = pthread_create(&tid[t], NULL, eval_worker, &jobs[t]) == 0;
    for (int t = 0; t < threads; ++t)
        if (!started[t])
            eval_worker(&jobs[t]); /* this thread's share, or a failed start */
    for (int t = 1; t < threads; ++t)
        if (started[t])
            pthread_join(tid[t], NULL);
    memset(&e, 0, sizeof e);
    e.seconds = seconds_now() - t0;
    e.images = n;
    for (int t = 0; t < threads; ++t) {
        if (jobs[t].status != TQ_OK)
            die_status("evaluating the graph", jobs[t].status, g);
        e.correct += jobs[t].correct;
        e.int8_ties += jobs[t].ties;
        e.int8_first_max_correct += jobs[t].first_max_correct;
        e.int8_ties_random_correct += jobs[t].ties_random_correct;
    }
    for (int64_t i = 0; ref && i < n; ++i)
        e.agree += preds[i] == ref[i];
    free(own);
    return e;
}

/* ---- calibration and quantization ---------------------------------------- */

/* Calibrates float graph @p g on the n images with activation range
 * @p method (abs-max with a symmetric scheme), the weights abs-max per
 * output channel (the output layer per tensor, so that its int32
 * accumulators share one scale), and returns the calibrator. */
static tq_calibrator *calibrate(const tq_graph *g, int32_t method,
                                const float *images, int64_t n)
{
    tq_quant_config cfg;
    tq_calibrator *c = NULL;
    int32_t again = 1;
    DIE_IF(tq_quant_config_init(&cfg));
    cfg.activation_range.method = method;
    cfg.activation_scheme.symmetric = method == TQ_RANGE_ABSMAX;
    DIE_IF_G(tq_calibrator_create(g, &cfg, &c), g);
    while (again) {
        for (int64_t b = 0; b < n; b += CALIB_BATCH) {
            const int64_t k = n - b < CALIB_BATCH ? n - b : CALIB_BATCH;
            const tq_status s = tq_calibrator_feed(c, k, images + (size_t)b * IMAGE);
            if (s != TQ_OK) {
                fprintf(stderr, "ptq: calibration: %s: %s\n",
                        tq_status_message(s), tq_calibrator_error(c));
                exit(1);
            }
        }
        const tq_status s = tq_calibrator_end_pass(c, &again);
        if (s != TQ_OK) {
            fprintf(stderr, "ptq: calibration: %s: %s\n", tq_status_message(s),
                    tq_calibrator_error(c));
            exit(1);
        }
    }
    return c;
}

static tq_graph *quantize(const tq_graph *g, int32_t method,
                          const float *images, int64_t n)
{
    tq_calibrator *c = calibrate(g, method, images, n);
    tq_graph *q = NULL;
    DIE_IF_G(tq_graph_quantize(g, c, &q), g);
    tq_calibrator_free(c);
    return q;
}

/* ---- helpers ------------------------------------------------------------------ */

static const char *method_name(int32_t m)
{
    static const char *names[] = {"min/max", "abs-max", "3-sigma",
                                  "percentile 99.99", "MSE", "KL (entropy)"};
    return m >= 0 && m < 6 ? names[m] : "?";
}

static void path_join(char *out, size_t size, const char *dir, const char *file)
{
    snprintf(out, size, "%s/cifar10/%s", dir, file);
}

/* Writes @p bytes to @p path; says why on failure. */
static int write_file(const char *path, const void *data, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, bytes, f) == bytes;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "ptq: cannot write %s\n", path);
    return ok;
}

/* Records [first, first + count) of a CIFAR-10 batch file as NHWC floats
 * normalised as in training (mean 0.5, std 0.5), and their labels. */
static void load_images(const char *path, int64_t first, int64_t count,
                        float **images, uint8_t **labels)
{
    const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
    uint8_t *pixels = xmalloc((size_t)count * IMAGE);
    *labels = xmalloc((size_t)count);
    *images = xmalloc((size_t)count * IMAGE * sizeof(float));
    tq_status s = tq_cifar10_read(path, first, count, *labels, pixels);
    if (s == TQ_OK)
        s = tq_cifar10_normalize(count, pixels, mean, std, *images);
    free(pixels);
    if (s != TQ_OK) {
        fprintf(stderr, "ptq: %s: %s\n", path, tq_status_message(s));
        exit(1);
    }
}

/* The calibration set: the first N training images (the lab's choice), or
 * N images spread evenly over all five training batches (--calib-spread). */
static void load_calibration(const options *o, float **images, uint8_t **labels)
{
    char path[4096];
    if (!o->spread) {
        path_join(path, sizeof path, o->data_dir, "data_batch_1.bin");
        load_images(path, o->calib_first, o->calib, images, labels);
        return;
    }
    *images = xmalloc((size_t)o->calib * IMAGE * sizeof(float));
    *labels = xmalloc((size_t)o->calib);
    for (int64_t i = 0; i < o->calib; ++i) {
        const int64_t index = i * 50000 / o->calib;
        char name[32];
        float *one = NULL;
        uint8_t *label = NULL;
        snprintf(name, sizeof name, "data_batch_%d.bin", (int)(index / 10000) + 1);
        path_join(path, sizeof path, o->data_dir, name);
        load_images(path, index % 10000, 1, &one, &label);
        memcpy(*images + i * IMAGE, one, IMAGE * sizeof(float));
        (*labels)[i] = label[0];
        free(one);
        free(label);
    }
}

static double pct(const eval *e)
{
    return 100.0 * (double)e->correct / (double)e->images;
}

/* "conv1-conv2-fc1-fc2-fc3, 61770 weights, no biases" */
static void describe_model(const tq_graph *g)
{
    size_t weights = 0, biases = 0;
    int first = 1;
    printf("model: ");
    for (int32_t i = 0; i < tq_graph_node_count(g); ++i) {
        tq_graph_node_info node;
        DIE_IF(tq_graph_node(g, i, &node));
        if (!has_weights(node.op))
            continue;
        printf("%s%s", first ? "" : "-", node.name);
        first = 0;
        weights += graph_numel(g, node.inputs[1]);
        if (node.n_inputs > 2)
            biases += graph_numel(g, node.inputs[2]);
    }
    if (biases)
        printf(", %zu weights plus %zu biases\n", weights, biases);
    else
        printf(", %zu weights, no biases\n", weights);
}

/* ---- main -------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const options o = parse_options(argc, argv);
    char path[4096];

    printf("# tinyq post-training quantization lab: LeNet on CIFAR-10\n\n");
    printf("tinyq %s, kernel path %s; model %s\n", tq_version_string(),
           tq_kernel_path(), o.model);
    tq_graph *model = load_model(o.model);
    describe_model(model);

    stage1_weight_stats(model);

    path_join(path, sizeof path, o.data_dir, "test_batch.bin");
    if (access(path, R_OK) != 0) {
        memory_table(model, NULL, o.model, NULL);
        printf("\nCIFAR-10 not found: %s is missing.\n"
               "Get the official binary version (cifar-10-binary.tar.gz from the\n"
               "CIFAR-10 page of the University of Toronto) and point\n"
               "TINYQ_DATA_DIR at the folder that holds cifar10/.\n", path);
        tq_graph_free(model);
        return 0;
    }

    /* ---- test set and float baseline ---- */
    float *test = NULL;
    uint8_t *labels = NULL;
    /* --quick keeps every fifth image: the test file is sorted by class, so
     * a prefix would hold two classes only. */
    const int64_t n_test = o.quick ? 2000 : 10000;
    load_images(path, 0, 10000, &test, &labels);
    for (int64_t i = 0; o.quick && i < n_test; ++i) {
        memmove(test + i * IMAGE, test + 5 * i * IMAGE, IMAGE * sizeof(float));
        labels[i] = labels[5 * i];
    }
    uint8_t *float_pred = xmalloc((size_t)n_test);
    eval fe = evaluate(model, test, labels, n_test, o.threads, float_pred, NULL,
                       NULL), e;
    printf("\n## Float baseline\n\n");
    printf("CIFAR-10 (JPEG-decoded copy), %lld test images: float accuracy %.2f %%\n",
           (long long)n_test, pct(&fe));

    /* ---- Stage 1: weights only, fake-quantized ---- */
    printf("\n## Stage 1: weights only (fake-quantized int8, activations float)\n\n");
    printf("| weight range | granularity | accuracy | vs float | agreement with float |\n");
    printf("|---|---|---:|---:|---:|\n");
    const struct {
        int32_t method;
        int symmetric;
        const char *label;
    } wranges[] = {{TQ_RANGE_MINMAX, 0, "min/max (asymmetric)"},
                   {TQ_RANGE_ABSMAX, 1, "[-max, max] (abs-max, symmetric)"},
                   {TQ_RANGE_KSIGMA, 1, "3-sigma (symmetric)"}};
    for (size_t r = 0; r < sizeof wranges / sizeof wranges[0]; ++r) {
        for (int pc = 0; pc < 2; ++pc) {
            tq_graph *fq = fake_quant_copy(model, wranges[r].method,
                                           wranges[r].symmetric, pc);
            e = evaluate(fq, test, labels, n_test, o.threads, NULL, NULL,
                         float_pred);
            printf("| %s | %s | %.2f %% | %+.2f pp | %.2f %% |\n",
                   wranges[r].label, pc ? "per channel" : "per tensor", pct(&e),
                   pct(&e) - pct(&fe), 100.0 * (double)e.agree / (double)e.images);
            tq_graph_free(fq);
        }
    }

    /* ---- Stage 2: calibration ---- */
    float *calib_images = NULL;
    uint8_t *calib_labels = NULL, *calib_float = xmalloc((size_t)o.calib);
    load_calibration(&o, &calib_images, &calib_labels);
    evaluate(model, calib_images, calib_labels, o.calib, o.threads, calib_float,
             NULL, NULL);
    char calib_from[96];
    if (o.spread)
        snprintf(calib_from, sizeof calib_from,
                 "spread over all five training batches");
    else if (o.calib_first)
        snprintf(calib_from, sizeof calib_from,
                 "images %lld..%lld of data_batch_1", (long long)o.calib_first,
                 (long long)(o.calib_first + o.calib - 1));
    else
        snprintf(calib_from, sizeof calib_from,
                 "the first images of data_batch_1");
    printf("\n## Stage 2: activation statistics on %lld calibration images (%s)\n\n",
           (long long)o.calib, calib_from);
    print_stats_header("tensor");
    int32_t acts[64];
    const int n_acts = activations(model, acts, 64);
    {
        tq_calibrator *c = calibrate(model, TQ_RANGE_MINMAX, calib_images, o.calib);
        for (int t = 0; t < n_acts; ++t) {
            tq_stats st;
            DIE_IF(tq_calibrator_stats(c, acts[t], &st));
            print_stats_row(tensor_label(model, acts[t]), &st);
        }
        tq_calibrator_free(c);
    }

    /* ---- Stage 2: integer-only inference per range method ---- */
    printf("\nWeights: int8 symmetric [-127, 127], abs-max, per output channel "
           "(fc3 per tensor, so that its int32 accumulators share one scale).\n"
           "Activations: int8 asymmetric per tensor (abs-max: symmetric). "
           "Prediction: argmax of fc3's int32 accumulators.\n\n");
    printf("| activation range |");
    for (int t = 1; t < n_acts; ++t)
        printf(" %s |", tensor_label(model, acts[t]));
    printf(" calibration-set agreement | int8 accuracy | vs float | agreement | int8-logit ties |\n|---|");
    for (int t = 1; t < n_acts; ++t)
        printf("---|");
    printf("---:|---:|---:|---:|---:|\n");
    const int32_t methods[] = {TQ_RANGE_MINMAX, TQ_RANGE_ABSMAX, TQ_RANGE_KSIGMA,
                               TQ_RANGE_PERCENTILE, TQ_RANGE_MSE, TQ_RANGE_KL};
    int64_t best_agree = -1;
    int32_t best_method = TQ_RANGE_MINMAX;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; ++i) {
        tq_graph *q = quantize(model, methods[i], calib_images, o.calib);
        const eval ce = evaluate(q, calib_images, calib_labels, o.calib,
                                 o.threads, NULL, NULL, calib_float);
        e = evaluate(q, test, labels, n_test, o.threads, NULL, NULL, float_pred);
        printf("| %s |", method_name(methods[i]));
        for (int t = 1; t < n_acts; ++t) {
            tq_graph_tensor_info info;
            DIE_IF(tq_graph_tensor(q, acts[t], &info));
            const double lo = info.scale[0] * (-128 - info.zero_point[0]);
            const double hi = info.scale[0] * (127 - info.zero_point[0]);
            printf(" %.2f..%.2f |", lo, hi);
        }
        printf(" %.2f %% | %.2f %% | %+.2f pp | %.2f %% | %.2f %% |\n",
               100.0 * (double)ce.agree / (double)ce.images, pct(&e),
               pct(&e) - pct(&fe), 100.0 * (double)e.agree / (double)e.images,
               100.0 * (double)e.int8_ties / (double)e.images);
        /* Choose without looking at the test set: the method whose int8
         * network agrees best with the float one on the calibration images. */
        if (ce.agree > best_agree)
            best_agree = ce.agree, best_method = methods[i];
        tq_graph_free(q);
    }

    /* ---- the best model: save, reload, compare bit for bit ---- */
    tq_graph *q = quantize(model, best_method, calib_images, o.calib);
    tq_graph *q2 = NULL;
    char msg[512];
    DIE_IF_G(tq_graph_save(q, o.save), q);
    const tq_status ls = tq_graph_load(o.save, &q2, msg, sizeof msg);
    if (ls != TQ_OK) {
        fprintf(stderr, "ptq: reloading %s: %s: %s\n", o.save,
                tq_status_message(ls), msg);
        return 1;
    }
    if (o.export_dir) {
        const tq_status xs = tq_graph_export_c(q2, "model", o.export_dir, msg,
                                               sizeof msg);
        if (xs != TQ_OK) {
            fprintf(stderr, "ptq: exporting to %s: %s: %s\n", o.export_dir,
                    tq_status_message(xs), msg);
            return 1;
        }
    }
    uint8_t *p1 = xmalloc((size_t)n_test), *p2 = xmalloc((size_t)n_test);
    int8_t *logits = xmalloc((size_t)n_test * CLASSES);
    const eval e1 = evaluate(q, test, labels, n_test, o.threads, p1, logits, NULL);
    const eval e2 = evaluate(q2, test, labels, n_test, o.threads, p2, NULL, p1);
    if ((o.predictions && !write_file(o.predictions, p1, (size_t)n_test)) ||
        (o.logits && !write_file(o.logits, logits, (size_t)n_test * CLASSES)))
        return 1;
    printf("\nChosen activation range (best agreement with float on the calibration "
           "images): %s, test accuracy %.2f %%. Saved to %s and reloaded: "
           "%lld of %lld predictions identical.\n",
           method_name(best_method), pct(&e1), o.save, (long long)e2.agree,
           (long long)n_test);
    if (o.export_dir)
        printf("Exported as firmware C source: %s/model.c, %s/model.h.\n",
               o.export_dir, o.export_dir);
    /* PyTorch's quantized models only give int8 logits, which tie often;
     * these rows put tinyq on the same footing (torch_ptq.py prints the
     * same two figures). */
    const double n_d = (double)n_test;
    printf("\nPrediction rules on the chosen network (%.2f %% of images have "
           "a tied top int8 logit):\n\n"
           "| prediction rule | int8 accuracy |\n|---|---:|\n"
           "| argmax of fc3's int32 accumulators (tinyq's rule) | %.2f %% |\n"
           "| argmax of the int8 logits, first maximum (numpy, PyTorch) | %.2f %% |\n"
           "| argmax of the int8 logits, ties broken at random (expected) | %.2f %% |\n",
           100.0 * (double)e1.int8_ties / n_d, pct(&e1),
           100.0 * (double)e1.int8_first_max_correct / n_d,
           100.0 * e1.int8_ties_random_correct / n_d);

    memory_table(model, q, o.model, o.save);

    /* ---- time per image, one thread ---- */
    fe = evaluate(model, test, labels, n_test, 1, NULL, NULL, NULL);
    e = evaluate(q, test, labels, n_test, 1, NULL, NULL, NULL);
    printf("\n## Time per image (one thread, kernel path %s; informative)\n\n",
           tq_kernel_path());
    printf("f32: %.1f us   int8 (incl. quantizing the input): %.1f us\n",
           1e6 * fe.seconds / (double)n_test, 1e6 * e.seconds / (double)n_test);

    tq_graph_free(q), tq_graph_free(q2), tq_graph_free(model);
    free(calib_images), free(calib_labels), free(calib_float), free(test),
        free(labels), free(float_pred), free(p1), free(p2), free(logits);
    return e2.agree == n_test ? 0 : 1;
}
