/*
 * Host side of the firmware test (test_firmware_qemu.sh): runs the int8
 * LeNet the way the CIFAR-10 demo does on the host -- lenet_load_s8(), the
 * float normalization of tq_cifar10_normalize(), tq_s8_quantize_f32(),
 * lenet_forward_s8(), lenet_predict_s8() -- and prints one line per image
 * in the firmware's format (examples/firmware/main.c), so the two outputs
 * can be compared byte for byte. It shares nothing with the exporter.
 *
 * Usage: fw_host_reference MODEL FILE FIRST COUNT STRIDE
 * (FILE "-": COUNT synthetic images, examples/firmware/synthetic.h).
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

int main(int argc, char **argv)
{
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
