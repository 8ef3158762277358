/*
 * Host side of the firmware test (test_firmware_qemu.sh): runs the int8
 * LeNet the way the CIFAR-10 demo does on the host -- lenet_load_s8(), the
 * float normalization of tq_cifar10_normalize(), tq_s8_quantize_f32(),
 * lenet_forward_s8(), lenet_predict_s8() -- and prints one line per image
 * in the firmware's format (examples/firmware/graph_fw.c), so the two outputs
 * can be compared byte for byte. It shares nothing with the exporter.
 *
 * Usage: fw_host_reference MODEL FILE FIRST COUNT STRIDE
 * (FILE "-": COUNT synthetic images, examples/firmware/synthetic.h).
 *
 * For the graph firmware (examples/firmware/graph_fw.c):
 *   fw_host_reference --quantize MODEL.onnx TRAIN.bin N OUT.safetensors
 * quantizes an ONNX model with the default tq_quant_config, calibrated on
 * the first N images of a CIFAR-10 training batch (normalized with mean and
 * std 0.5), and saves the model file; an optional last argument
 * TENSOR=DTYPE,... (DTYPE s16 for an activation, s4 for a weight) makes it
 * mixed precision (tq_calibrator_set_dtype);
 *   fw_host_reference --graph MODEL.safetensors FILE FIRST COUNT STRIDE
 * runs it the host's way (float normalization, tq_graph_quantize_input,
 * tq_graph_run_s8 with the accumulators) and prints the same lines.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lenet.h"
#include "../examples/firmware/synthetic.h"

static void die_if(tq_status s, const char *what)
{
    if (s != TQ_OK) {
        fprintf(stderr, "fw_host_reference: %s: %s\n", what,
                tq_status_message(s));
        exit(1);
    }
}

static long parse(const char *s, long min)
{
    char *end;
    const long v = strtol(s, &end, 10);
    if (end == s || *end || v < min || v > 100000000L) {
        fprintf(stderr, "fw_host_reference: bad number \"%s\"\n", s);
        exit(2);
    }
    return v;
}

/* Float NHWC images of records [first, first + n) (or synthetic ones). */
static void load_images(const char *file, long first, long n, long stride,
                        uint8_t *labels, float *images)
{
    static uint8_t pixels[LENET_IMAGE];
    const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
    for (long i = 0; i < n; ++i) {
        const long index = first + i * stride;
        labels[i] = 0;
        if (strcmp(file, "-") == 0)
            synthetic_image((uint32_t)index, pixels);
        else
            die_if(tq_cifar10_read(file, index, 1, &labels[i], pixels), file);
        die_if(tq_cifar10_normalize(1, pixels, mean, std,
                                    images + (size_t)i * LENET_IMAGE),
               "normalize");
    }
}

/* The TENSOR=DTYPE,... list of --quantize on calibrator @p c of @p g. */
static void set_dtypes(const tq_graph *g, tq_calibrator *c, const char *spec)
{
    char buf[1024];
    if (strlen(spec) >= sizeof buf) {
        fprintf(stderr, "fw_host_reference: dtype list too long\n");
        exit(1);
    }
    strcpy(buf, spec);
    for (char *item = strtok(buf, ","); item; item = strtok(NULL, ",")) {
        char *eq = strrchr(item, '=');
        int32_t t, dtype = -1;
        if (eq) {
            *eq = 0;
            dtype = !strcmp(eq + 1, "s16") ? TQ_S16
                    : !strcmp(eq + 1, "s4") ? TQ_S4
                    : !strcmp(eq + 1, "s8") ? TQ_S8 : -1;
        }
        if (dtype < 0 || tq_graph_find_tensor(g, item, &t) != TQ_OK) {
            fprintf(stderr, "fw_host_reference: bad dtype entry '%s' (TENSOR="
                    "s16|s4|s8 with a tensor of the model)\n", item);
            exit(1);
        }
        die_if(tq_calibrator_set_dtype(c, t, dtype), tq_calibrator_error(c));
    }
}

static int quantize_main(char **argv, const char *dtypes)
{
    char msg[512];
    tq_graph *g = NULL, *q = NULL;
    tq_calibrator *c = NULL;
    tq_quant_config cfg;
    const long n = parse(argv[4], 1);
    float *x = malloc((size_t)n * LENET_IMAGE * sizeof *x);
    uint8_t *labels = malloc((size_t)n);
    if (!x || !labels)
        die_if(TQ_ERR_NO_MEMORY, "images");
    if (tq_graph_load_onnx(argv[2], &g, msg, sizeof msg) != TQ_OK) {
        fprintf(stderr, "fw_host_reference: %s: %s\n", argv[2], msg);
        return 1;
    }
    load_images(argv[3], 0, n, 1, labels, x);
    die_if(tq_quant_config_init(&cfg), "config");
    die_if(tq_calibrator_create(g, &cfg, &c), tq_graph_error(g));
    if (dtypes)
        set_dtypes(g, c, dtypes);
    for (int32_t again = 1; again;) {
        for (long i = 0; i < n; i += 100)
            die_if(tq_calibrator_feed(c, n - i < 100 ? n - i : 100,
                                      x + (size_t)i * LENET_IMAGE),
                   tq_calibrator_error(c));
        die_if(tq_calibrator_end_pass(c, &again), tq_calibrator_error(c));
    }
    die_if(tq_graph_quantize(g, c, &q), tq_graph_error(g));
    die_if(tq_graph_save(q, argv[5]), tq_graph_error(q));
    tq_graph_free(q);
    tq_calibrator_free(c);
    tq_graph_free(g);
    free(x);
    free(labels);
    return 0;
}

static int graph_main(char **argv)
{
    char msg[512];
    tq_graph *g = NULL;
    const char *file = argv[3];
    const int synthetic = strcmp(file, "-") == 0;
    const long first = parse(argv[4], 0), count = parse(argv[5], 0),
               stride = parse(argv[6], 1);
    if (tq_graph_load(argv[2], &g, msg, sizeof msg) != TQ_OK) {
        fprintf(stderr, "fw_host_reference: %s: %s\n", argv[2], msg);
        return 1;
    }
    int32_t tin, tout;
    tq_graph_tensor_info ti, to;
    die_if(tq_graph_io(g, &tin, &tout), "io");
    die_if(tq_graph_tensor(g, tin, &ti), "input");
    die_if(tq_graph_tensor(g, tout, &to), "output");
    size_t outputs = 1, bytes = 0;
    for (int32_t d = 0; d < to.ndim; ++d)
        outputs *= (size_t)to.shape[d];
    die_if(tq_graph_arena_size(g, 1, &bytes), "arena");
    void *arena = malloc(bytes);
    int8_t *y = malloc(outputs), x8[LENET_IMAGE];
    int32_t *acc = malloc(outputs * sizeof *acc);
    static float image[LENET_IMAGE];
    if (!arena || !y || !acc)
        die_if(TQ_ERR_NO_MEMORY, "arena");
    for (long i = 0; i < count; ++i) {
        const long index = synthetic ? i : first + i * stride;
        uint8_t label;
        load_images(file, index, 1, 1, &label, image);
        die_if(tq_graph_quantize_input(g, LENET_IMAGE, image, x8), "quantize");
        die_if(tq_graph_run_s8(g, 1, x8, y, acc, arena, bytes),
               tq_graph_error(g));
        size_t pred = 0;
        for (size_t c = 1; c < outputs; ++c)
            pred = acc[c] > acc[pred] ? c : pred;
        printf("image %ld", index);
        if (synthetic)
            printf(" synthetic");
        else
            printf(" label %d", label);
        printf(" pred %zu logits", pred);
        for (size_t c = 0; c < outputs; ++c)
            printf(" %d", y[c]);
        printf(" acc");
        for (size_t c = 0; c < outputs; ++c)
            printf(" %ld", (long)acc[c]);
        printf("\n");
    }
    free(arena);
    free(y);
    free(acc);
    tq_graph_free(g);
    return 0;
}

int main(int argc, char **argv)
{
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "--quantize") == 0)
        return quantize_main(argv, argc == 7 ? argv[6] : NULL);
    if (argc == 7 && strcmp(argv[1], "--graph") == 0)
        return graph_main(argv);
    static lenet_s8 q;
    static uint8_t pixels[LENET_IMAGE];
    static float image[LENET_IMAGE];
    static int8_t x0[LENET_IMAGE];
    const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
    if (argc != 6) {
        fprintf(stderr, "usage: fw_host_reference MODEL FILE FIRST COUNT STRIDE\n");
        return 2;
    }
    const char *file = argv[2];
    const int synthetic = strcmp(file, "-") == 0;
    const long first = parse(argv[3], 0), count = parse(argv[4], 0),
               stride = parse(argv[5], 1);
    die_if(lenet_load_s8(argv[1], &q), argv[1]);

    const size_t scratch_bytes = lenet_scratch_bytes();
    void *scratch = malloc(scratch_bytes ? scratch_bytes : 1);
    if (!scratch)
        die_if(TQ_ERR_NO_MEMORY, "scratch");
    for (long i = 0; i < count; ++i) {
        const long index = synthetic ? i : first + i * stride;
        uint8_t label = 0;
        int8_t logits[LENET_CLASSES];
        int32_t acc[LENET_CLASSES];
        if (synthetic)
            synthetic_image((uint32_t)index, pixels);
        else
            die_if(tq_cifar10_read(file, index, 1, &label, pixels), file);
        /* As lenet_load_images() and the demo's evaluation do. */
        die_if(tq_cifar10_normalize(1, pixels, mean, std, image), "normalize");
        die_if(tq_s8_quantize_f32(LENET_IMAGE, image, q.a_scale[0],
                                  q.a_zero[0], x0),
               "quantize");
        die_if(lenet_forward_s8(&q, x0, logits, acc, scratch, scratch_bytes),
               "forward");
        printf("image %ld", index);
        if (synthetic)
            printf(" synthetic");
        else
            printf(" label %d", label);
        printf(" pred %d logits", lenet_predict_s8(acc));
        for (int c = 0; c < LENET_CLASSES; ++c)
            printf(" %d", logits[c]);
        printf(" acc");
        for (int c = 0; c < LENET_CLASSES; ++c)
            printf(" %ld", (long)acc[c]);
        printf("\n");
    }
    free(scratch);
    return 0;
}
