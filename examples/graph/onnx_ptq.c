/*
 * onnx_ptq: post-training quantization of any CIFAR-10 CNN exported to
 * ONNX, through the graph API alone.
 *
 *   onnx_ptq MODEL.onnx [--calib N] [--test N] [--method NAME]
 *            [--per-tensor] [--mean M,M,M] [--std S,S,S] [--batch B]
 *            [--predictions FILE]
 *
 * Loads the model (NCHW ONNX becomes NHWC), calibrates it on the first N
 * training images (default 400, as the lab), quantizes it (int8 weights per
 * channel unless --per-tensor, asymmetric int8 activations with the chosen
 * range method, default minmax), and reports float and integer-only test
 * accuracy, their agreement, the arena sizes and the time per image.
 * Data: $TINYQ_DATA_DIR/cifar10 (default ../shared/data/cifar10).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tinyq.h>

#define IMAGE (32 * 32 * 3)

typedef struct options {
    const char *model, *data_dir, *predictions;
    int64_t calib, test, batch;
    int32_t method, per_channel;
    float mean[3], std[3];
} options;

static void usage(void)
{
    fprintf(stderr,
            "usage: onnx_ptq MODEL.onnx [--calib N] [--test N] [--method "
            "minmax|absmax|ksigma|percentile|mse|kl]\n"
            "                [--per-tensor] [--mean M,M,M] [--std S,S,S] "
            "[--batch B] [--predictions FILE]\n");
    exit(2);
}

static int parse_triple(const char *s, float v[3])
{
    return sscanf(s, "%f,%f,%f", &v[0], &v[1], &v[2]) == 3;
}

static const char *const method_names[] = {"minmax", "absmax", "ksigma",
                                            "percentile", "mse", "kl"};

static int32_t method_of(const char *s)
{
    const char *const *names = method_names;
    for (int32_t i = 0; i < 6; ++i)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static options parse(int argc, char **argv)
{
    options o = {.calib = 400, .test = 10000, .batch = 100,
                 .method = TQ_RANGE_MINMAX, .per_channel = 1,
                 .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}};
    const char *d = getenv("TINYQ_DATA_DIR");
    o.data_dir = d && *d ? d : "../shared/data";
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--per-tensor") == 0) {
            o.per_channel = 0;
        } else if (a[0] == '-' && !v) {
            usage();
        } else if (strcmp(a, "--calib") == 0) {
            o.calib = atoll(v), ++i;
        } else if (strcmp(a, "--test") == 0) {
            o.test = atoll(v), ++i;
        } else if (strcmp(a, "--batch") == 0) {
            o.batch = atoll(v), ++i;
        } else if (strcmp(a, "--method") == 0) {
            if ((o.method = method_of(v)) < 0)
                usage();
            ++i;
        } else if (strcmp(a, "--mean") == 0) {
            if (!parse_triple(v, o.mean))
                usage();
            ++i;
        } else if (strcmp(a, "--std") == 0) {
            if (!parse_triple(v, o.std))
                usage();
            ++i;
        } else if (strcmp(a, "--predictions") == 0) {
            o.predictions = v, ++i;
        } else if (a[0] == '-' || o.model) {
            usage();
        } else {
            o.model = a;
        }
    }
    if (!o.model || o.calib < 1 || o.test < 1 || o.batch < 1)
        usage();
    return o;
}

static void die(const char *what, tq_status s, const char *detail)
{
    fprintf(stderr, "onnx_ptq: %s: %s%s%s\n", what, tq_status_message(s),
            detail && *detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* count images of a batch file, normalized to NHWC floats. */
static float *load(const options *o, const char *file, int64_t count,
                   uint8_t **labels)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cifar10/%s", o->data_dir, file);
    uint8_t *pixels = malloc((size_t)count * 3072);
    float *x = malloc((size_t)count * IMAGE * sizeof(float));
    *labels = malloc((size_t)count);
    if (!pixels || !x || !*labels)
        die("load", TQ_ERR_NO_MEMORY, NULL);
    tq_status s = tq_cifar10_read(path, 0, count, *labels, pixels);
    if (s != TQ_OK) {
        fprintf(stderr, "onnx_ptq: cannot read %s (%s); set TINYQ_DATA_DIR "
                "to the folder holding cifar10/\n", path,
                tq_status_message(s));
        exit(77);
    }
    if ((s = tq_cifar10_normalize(count, pixels, o->mean, o->std, x)))
        die("normalize", s, NULL);
    free(pixels);
    return x;
}

static int64_t argmax_f32(const float *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i)
        if (v[i] > v[best])
            best = i;
    return best;
}

static int64_t argmax_s32(const int32_t *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i)
        if (v[i] > v[best])
            best = i;
    return best;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int64_t elements(const tq_graph *g, int32_t tensor)
{
    tq_graph_tensor_info info;
    int64_t n = 1;
    tq_graph_tensor(g, tensor, &info);
    for (int32_t d = 0; d < info.ndim; ++d)
        n *= info.shape[d];
    return n;
}

int main(int argc, char **argv)
{
    options o = parse(argc, argv);
    char msg[512] = "";
    tq_graph *g = NULL, *q = NULL;
    tq_status s = tq_graph_load_onnx(o.model, &g, msg, sizeof msg);
    if (s != TQ_OK)
        die(o.model, s, msg);

    int32_t in_id, out_id;
    tq_graph_io(g, &in_id, &out_id);
    const int64_t classes = elements(g, out_id);
    if (elements(g, in_id) != IMAGE)
        die("the model input is not one 32x32x3 image", TQ_ERR_SHAPE, NULL);

    /* Calibration: the first images of the first training batch. */
    uint8_t *calib_labels, *labels;
    float *calib = load(&o, "data_batch_1.bin", o.calib, &calib_labels);
    float *test = load(&o, "test_batch.bin", o.test, &labels);

    tq_quant_config cfg;
    tq_quant_config_init(&cfg);
    cfg.activation_range.method = o.method;
    cfg.activation_range.k = 3.0;
    cfg.activation_range.percentile = 99.99;
    cfg.weight_per_channel = o.per_channel;
    tq_calibrator *cal;
    if ((s = tq_calibrator_create(g, &cfg, &cal)))
        die("calibrator", s, tq_graph_error(g));
    int32_t again = 1;
    while (again) {
        for (int64_t i = 0; i < o.calib; i += o.batch) {
            int64_t n = o.calib - i < o.batch ? o.calib - i : o.batch;
            if ((s = tq_calibrator_feed(cal, n, calib + i * IMAGE)))
                die("calibration", s, tq_graph_error(g));
        }
        if ((s = tq_calibrator_end_pass(cal, &again)))
            die("calibration", s, tq_graph_error(g));
    }
    if ((s = tq_graph_quantize(g, cal, &q)))
        die("quantize", s, tq_graph_error(g));
    tq_calibrator_free(cal);

    size_t f32_arena, s8_arena;
    tq_graph_arena_size(g, o.batch, &f32_arena);
    tq_graph_arena_size(q, o.batch, &s8_arena);
    void *arena = malloc(f32_arena > s8_arena ? f32_arena : s8_arena);
    float *y = malloc((size_t)(o.batch * classes) * sizeof(float));
    int8_t *xq = malloc((size_t)(o.batch * IMAGE));
    int8_t *yq = malloc((size_t)(o.batch * classes));
    int32_t *acc = malloc((size_t)(o.batch * classes) * sizeof(int32_t));
    if (!arena || !y || !xq || !yq || !acc)
        die("buffers", TQ_ERR_NO_MEMORY, NULL);
    FILE *pred = o.predictions ? fopen(o.predictions, "w") : NULL;
    if (o.predictions && !pred)
        die(o.predictions, TQ_ERR_IO, NULL);

    int64_t ok_f32 = 0, ok_s8 = 0, agree = 0;
    double t_f32 = 0, t_s8 = 0;
    for (int64_t i = 0; i < o.test; i += o.batch) {
        int64_t n = o.test - i < o.batch ? o.test - i : o.batch;
        double t0 = now();
        if ((s = tq_graph_run_f32(g, n, test + i * IMAGE, y, arena,
                                  f32_arena)))
            die("float run", s, tq_graph_error(g));
        double t1 = now();
        if ((s = tq_graph_quantize_input(q, (size_t)(n * IMAGE),
                                         test + i * IMAGE, xq)) ||
            (s = tq_graph_run_s8(q, n, xq, yq, acc, arena, s8_arena)))
            die("int8 run", s, tq_graph_error(q));
        double t2 = now();
        t_f32 += t1 - t0;
        t_s8 += t2 - t1;
        for (int64_t b = 0; b < n; ++b) {
            int64_t pf = argmax_f32(y + b * classes, classes);
            int64_t pq = argmax_s32(acc + b * classes, classes);
            ok_f32 += pf == labels[i + b];
            ok_s8 += pq == labels[i + b];
            agree += pf == pq;
            if (pred)
                fprintf(pred, "%lld %lld %lld\n", (long long)labels[i + b],
                        (long long)pf, (long long)pq);
        }
    }
    if (pred)
        fclose(pred);

    printf("model            %s (%d nodes float, %d quantized)\n", o.model,
           tq_graph_node_count(g), tq_graph_node_count(q));
    printf("calibration      first %lld training images, method %s, "
           "weights per %s\n", (long long)o.calib, method_names[o.method],
           o.per_channel ? "channel" : "tensor");
    printf("float accuracy   %.2f %%\n", 100.0 * (double)ok_f32 / (double)o.test);
    printf("int8 accuracy    %.2f %% (argmax of the int32 accumulators)\n",
           100.0 * (double)ok_s8 / (double)o.test);
    printf("agreement        %.2f %%\n", 100.0 * (double)agree / (double)o.test);
    printf("arena, batch %lld  float %zu B, int8 %zu B\n", (long long)o.batch,
           f32_arena, s8_arena);
    printf("time per image   float %.1f us, int8 %.1f us (input "
           "quantization included)\n", 1e6 * t_f32 / (double)o.test,
           1e6 * t_s8 / (double)o.test);

    free(arena), free(y), free(xq), free(yq), free(acc);
    free(calib), free(calib_labels), free(test), free(labels);
    tq_graph_free(q);
    tq_graph_free(g);
    return 0;
}
