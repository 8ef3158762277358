/*
 * The post-training quantization lab on CIFAR-10, end to end, with tinyq:
 *
 *   Stage 1  weight statistics; weights-only fake quantization with several
 *            ranges, per tensor and per channel, and the test accuracy of each
 *   Stage 2  activation statistics on calibration images; output scales from
 *            six range methods; integer-only inference (the input is quantized
 *            once, everything up to the logits is int8 / int32) and its test
 *            accuracy for each method
 *   then     a quantized model file saved and reloaded bit-exactly, the memory
 *            footprint, and the time per image.
 *
 * Usage: ptq [--model FILE] [--calib N] [--calib-first K] [--calib-spread]
 *            [--threads N] [--save FILE] [--predictions FILE] [--logits FILE]
 *            [--quick]
 * --calib-first K calibrates on images K .. K+N-1 of data_batch_1 instead of
 * the first N (another calibration draw, e.g. for compare_ptq.py).
 * --predictions writes the chosen int8 network's class for every test image
 * evaluated, one byte each (for comparisons with other front ends), --logits
 * its ten int8 logits per image.
 * The data comes from $TINYQ_DATA_DIR/cifar10 (default ../shared/data).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lenet.h"

#ifndef PTQ_DEFAULT_MODEL
#define PTQ_DEFAULT_MODEL "examples/cifar10/lenet.safetensors"
#endif

#define DIE_IF(expr)                                                       \
    do {                                                                   \
        tq_status die_s_ = (expr);                                         \
        if (die_s_ != TQ_OK) {                                             \
            fprintf(stderr, "ptq: %s failed: %s\n", #expr,                 \
                    tq_status_message(die_s_));                            \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

typedef struct options {
    const char *model, *save, *data_dir, *predictions, *logits;
    int64_t calib, calib_first;
    int spread, threads, quick;
} options;

static void usage(void)
{
    fprintf(stderr, "usage: ptq [--model FILE] [--calib N] [--calib-first K] "
                    "[--calib-spread] [--threads N] [--save FILE] "
                    "[--predictions FILE] [--logits FILE] [--quick]\n");
    exit(2);
}

static options parse_options(int argc, char **argv)
{
    options o = {PTQ_DEFAULT_MODEL, "lenet_s8.safetensors", NULL, NULL, NULL,
                 400, 0, 0, 2, 0};
    const char *d = getenv("TINYQ_DATA_DIR");
    o.data_dir = d && *d ? d : "../shared/data";
    for (int i = 1; i < argc; ++i) {
        const int more = i + 1 < argc;
        if (!strcmp(argv[i], "--model") && more)
            o.model = argv[++i];
        else if (!strcmp(argv[i], "--save") && more)
            o.save = argv[++i];
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
    if (o.calib < 1 || o.calib > 50000 || o.threads < 1 || o.calib_first < 0 ||
        (o.calib_first > 0 && (o.spread || o.calib_first + o.calib > 10000)))
        usage();
    return o;
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

static void stage1_weight_stats(const lenet_f32 *m)
{
    tq_stats all;
    printf("\n## Stage 1: weight statistics (population sigma)\n\n");
    print_stats_header("layer");
    DIE_IF(tq_stats_init(&all));
    for (int l = 0; l < LENET_LAYERS; ++l) {
        tq_stats s;
        DIE_IF(tq_stats_init(&s));
        DIE_IF(tq_stats_update_f32(&s, m->w[l], lenet_weight_count(l)));
        print_stats_row(lenet_layers[l].name, &s);
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
 * only needed to derive the multipliers, so a deployment drops them. */
static void memory_table(const lenet_f32 *f, const lenet_s8 *q,
                         const char *f32_file, const char *s8_file)
{
    size_t weights = 0, biases = 0, channels = 0;
    for (int l = 0; l < LENET_LAYERS; ++l) {
        weights += lenet_weight_count(l);
        channels += (size_t)q->w_channels[l];
        biases += f->has_bias ? (size_t)lenet_layers[l].out : 0;
    }
    const size_t f32_bytes = (weights + biases) * sizeof(float);
    const size_t s8_bytes = weights + biases * sizeof(int32_t) + channels * 5 +
                            LENET_TENSORS + LENET_LAYERS * 2 + sizeof(float);
    printf("\n## Memory\n\n");
    printf("| what | f32 | int8 | ratio |\n|---|---:|---:|---:|\n");
    printf("| weights (%zu values) | %zu B | %zu B | %.2fx |\n", weights,
           weights * 4, weights, 4.0);
    printf("| everything inference needs: weights%s + quantization parameters (%zu channels) | %zu B | %zu B | %.2fx |\n",
           biases ? " + biases" : "", channels, f32_bytes, s8_bytes,
           (double)f32_bytes / (double)s8_bytes);
    const long ff = file_bytes(f32_file), fs = s8_file ? file_bytes(s8_file) : -1;
    if (ff > 0 && fs > 0)
        printf("| model file (safetensors, with its JSON header and float weight scales) | %ld B | %ld B | %.2fx |\n",
               ff, fs, (double)ff / (double)fs);
    const size_t pf = lenet_peak_activation_bytes_f32(),
                 p8 = lenet_peak_activation_bytes_s8();
    printf("| peak activation memory of one forward pass (incl. scratch) | %zu B | %zu B | %.2fx |\n",
           pf, p8, (double)pf / (double)p8);
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

/* The calibration set: the first N training images (the lab's choice), or
 * N images spread evenly over all five training batches (--calib-spread). */
static tq_status load_calibration(const options *o, float **images,
                                  uint8_t **labels)
{
    char path[4096];
    if (!o->spread) {
        path_join(path, sizeof path, o->data_dir, "data_batch_1.bin");
        return lenet_load_images(path, o->calib_first, o->calib, images, labels);
    }
    float *all = malloc((size_t)o->calib * LENET_IMAGE * sizeof(float));
    uint8_t *all_labels = malloc((size_t)o->calib);
    tq_status s = all && all_labels ? TQ_OK : TQ_ERR_NO_MEMORY;
    for (int64_t i = 0; i < o->calib && s == TQ_OK; ++i) {
        const int64_t index = i * 50000 / o->calib;
        char name[32];
        float *one = NULL;
        uint8_t *label = NULL;
        snprintf(name, sizeof name, "data_batch_%d.bin", (int)(index / 10000) + 1);
        path_join(path, sizeof path, o->data_dir, name);
        s = lenet_load_images(path, index % 10000, 1, &one, &label);
        if (s == TQ_OK) {
            memcpy(all + i * LENET_IMAGE, one, LENET_IMAGE * sizeof(float));
            all_labels[i] = label[0];
        }
        free(one);
        free(label);
    }
    if (s != TQ_OK) {
        free(all);
        free(all_labels);
        return s;
    }
    *images = all;
    *labels = all_labels;
    return TQ_OK;
}

static double pct(const lenet_eval *e)
{
    return 100.0 * (double)e->correct / (double)e->images;
}

/* ---- main -------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const options o = parse_options(argc, argv);
    static lenet_f32 model, fq;
    static lenet_s8 q, q2;
    char path[4096];

    printf("# tinyq post-training quantization lab: LeNet on CIFAR-10\n\n");
    printf("tinyq %s, kernel path %s; model %s\n", tq_version_string(),
           tq_kernel_path(), o.model);
    DIE_IF(lenet_load_f32(o.model, &model));
    printf("model: %s, %zu weights%s\n", "conv1-conv2-fc1-fc2-fc3",
           (size_t)61770, model.has_bias ? " plus 236 biases" : ", no biases");

    stage1_weight_stats(&model);

    path_join(path, sizeof path, o.data_dir, "test_batch.bin");
    const lenet_wq_config wq = {1, TQ_RANGE_ABSMAX, 0.0, 1};
    DIE_IF(lenet_quantize_weights(&model, &wq, &q));
    if (access(path, R_OK) != 0) {
        memory_table(&model, &q, o.model, NULL);
        printf("\nCIFAR-10 not found: %s is missing.\n"
               "Get the official binary version (cifar-10-binary.tar.gz from the\n"
               "CIFAR-10 page of the University of Toronto) and point\n"
               "TINYQ_DATA_DIR at the folder that holds cifar10/.\n", path);
        return 0;
    }

    /* ---- test set and float baseline ---- */
    float *test = NULL;
    uint8_t *labels = NULL;
    /* --quick keeps every fifth image: the test file is sorted by class, so
     * a prefix would hold two classes only. */
    const int64_t n_test = o.quick ? 2000 : 10000;
    DIE_IF(lenet_load_images(path, 0, 10000, &test, &labels));
    for (int64_t i = 0; o.quick && i < n_test; ++i) {
        memmove(test + i * LENET_IMAGE, test + 5 * i * LENET_IMAGE,
                LENET_IMAGE * sizeof(float));
        labels[i] = labels[5 * i];
    }
    uint8_t *float_pred = malloc((size_t)n_test);
    lenet_eval fe, e;
    DIE_IF(lenet_eval_f32(&model, test, labels, n_test, o.threads, float_pred,
                          NULL, &fe));
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
            const lenet_wq_config wc = {pc, wranges[r].method, 3.0,
                                        wranges[r].symmetric};
            lenet_f32_copy(&fq, &model);
            DIE_IF(lenet_fake_quant_weights(&fq, &wc));
            DIE_IF(lenet_eval_f32(&fq, test, labels, n_test, o.threads, NULL,
                                  float_pred, &e));
            printf("| %s | %s | %.2f %% | %+.2f pp | %.2f %% |\n",
                   wranges[r].label, pc ? "per channel" : "per tensor", pct(&e),
                   pct(&e) - pct(&fe), 100.0 * (double)e.agree / (double)e.images);
        }
    }

    /* ---- Stage 2: calibration ---- */
    float *calib_images = NULL;
    uint8_t *calib_labels = NULL, *calib_float = malloc((size_t)o.calib);
    static lenet_calib calib;
    DIE_IF(load_calibration(&o, &calib_images, &calib_labels));
    DIE_IF(lenet_eval_f32(&model, calib_images, calib_labels, o.calib, o.threads,
                          calib_float, NULL, &e));
    DIE_IF(lenet_calib_collect(&model, calib_images, o.calib, &calib));
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
    static const char *tensor_names[LENET_TENSORS] = {"input", "pool1", "pool2",
                                                      "fc1", "fc2", "logits"};
    for (int t = 0; t < LENET_TENSORS; ++t)
        print_stats_row(tensor_names[t], &calib.stats[t]);

    /* ---- Stage 2: integer-only inference per range method ---- */
    printf("\nWeights: int8 symmetric [-127, 127], abs-max, per output channel "
           "(fc3 per tensor, so that its int32 accumulators share one scale).\n"
           "Activations: int8 asymmetric per tensor (abs-max: symmetric). "
           "Prediction: argmax of fc3's int32 accumulators.\n\n");
    printf("| activation range | pool1 | pool2 | fc1 | fc2 | logits | calibration-set agreement | int8 accuracy | vs float | agreement | int8-logit ties |\n");
    printf("|---|---|---|---|---|---|---:|---:|---:|---:|---:|\n");
    const int32_t methods[] = {TQ_RANGE_MINMAX, TQ_RANGE_ABSMAX, TQ_RANGE_KSIGMA,
                               TQ_RANGE_PERCENTILE, TQ_RANGE_MSE, TQ_RANGE_KL};
    int64_t best_agree = -1;
    int32_t best_method = TQ_RANGE_MINMAX;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; ++i) {
        const tq_range_config rc = {methods[i], 0, 3.0, 99.99};
        q.rounding = TQ_ROUND_DOUBLE;
        DIE_IF(lenet_quantize_weights(&model, &wq, &q));
        DIE_IF(lenet_calib_apply(&calib, &rc, methods[i] == TQ_RANGE_ABSMAX, &q));
        DIE_IF(lenet_finish_s8(&model, &q));
        lenet_eval ce;
        DIE_IF(lenet_eval_s8(&q, calib_images, calib_labels, o.calib, o.threads,
                             NULL, calib_float, &ce));
        DIE_IF(lenet_eval_s8(&q, test, labels, n_test, o.threads, NULL,
                             float_pred, &e));
        printf("| %s |", method_name(methods[i]));
        for (int t = 1; t < LENET_TENSORS; ++t) {
            const double lo = q.a_scale[t] * (-128 - q.a_zero[t]);
            const double hi = q.a_scale[t] * (127 - q.a_zero[t]);
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
    }

    /* ---- the best model: save, reload, compare bit for bit ---- */
    const tq_range_config best = {best_method, 0, 3.0, 99.99};
    DIE_IF(lenet_quantize_weights(&model, &wq, &q));
    DIE_IF(lenet_calib_apply(&calib, &best, best_method == TQ_RANGE_ABSMAX, &q));
    DIE_IF(lenet_finish_s8(&model, &q));
    DIE_IF(lenet_save_s8(o.save, &q));
    DIE_IF(lenet_load_s8(o.save, &q2));
    uint8_t *p1 = malloc((size_t)n_test), *p2 = malloc((size_t)n_test);
    int8_t *logits = malloc((size_t)n_test * LENET_CLASSES);
    if (!p1 || !p2 || !logits) {
        fprintf(stderr, "ptq: out of memory\n");
        return 1;
    }
    lenet_eval e1, e2;
    DIE_IF(lenet_eval_s8_logits(&q, test, labels, n_test, o.threads, p1, logits,
                                NULL, &e1));
    DIE_IF(lenet_eval_s8(&q2, test, labels, n_test, o.threads, p2, p1, &e2));
    if ((o.predictions && !write_file(o.predictions, p1, (size_t)n_test)) ||
        (o.logits &&
         !write_file(o.logits, logits, (size_t)n_test * LENET_CLASSES)))
        return 1;
    printf("\nChosen activation range (best agreement with float on the calibration "
           "images): %s, test accuracy %.2f %%. Saved to %s and reloaded: "
           "%lld of %lld predictions identical.\n",
           method_name(best_method), pct(&e1), o.save, (long long)e2.agree,
           (long long)n_test);
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

    memory_table(&model, &q, o.model, o.save);

    /* ---- time per image, one thread ---- */
    DIE_IF(lenet_eval_f32(&model, test, labels, n_test, 1, NULL, NULL, &fe));
    DIE_IF(lenet_eval_s8(&q, test, labels, n_test, 1, NULL, NULL, &e));
    printf("\n## Time per image (one thread, kernel path %s; informative)\n\n",
           tq_kernel_path());
    printf("f32: %.1f us   int8 (incl. quantizing the input): %.1f us\n",
           1e6 * fe.seconds / (double)n_test, 1e6 * e.seconds / (double)n_test);

    lenet_calib_free(&calib);
    free(calib_images), free(calib_labels), free(calib_float), free(test), free(labels), free(float_pred), free(p1), free(p2), free(logits);
    return e2.agree == n_test ? 0 : 1;
}
