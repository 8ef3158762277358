/*
 * Any exported graph on a Cortex-M, the lab's LeNet among them: a model
 * exported by tq-export from a tinyq-graph-v1 file (tq_graph_export_c:
 * <prefix>.c / .h, and <prefix>_pixels.h, the input code of every raw
 * pixel value). Reads CIFAR-10 test images through semihosting, turns the
 * raw CHW pixels into the model's NHWC int8 input through that table (no
 * float), runs <prefix>_run() and prints, per image, the label, the
 * predicted class (the first largest accumulator), the int8 outputs and
 * the output layer's int32 accumulators, as tests/fw_host_reference.c does
 * on the host (the lab's lenet_forward_s8() on the old LeNet file, or
 * tq_graph_run_s8() on a graph file).
 *
 * Built by examples/firmware/meson.build with -DMODEL_PREFIX=<prefix>,
 * -DMODEL_PREFIX_UC=<PREFIX>, -DMODEL_HEADER / -DMODEL_PIXELS naming the
 * generated headers and -DFW_NAME: once as lenet_fw.elf (prefix "model",
 * the option firmware_model, by default the lab's LeNet), and once per
 * model file of the option firmware_graphs (graph_fw_<stem>.elf).
 *
 *   FW_NAME FILE FIRST COUNT STRIDE   (FILE "-": synthetic images)
 *
 * No heap, no stdio, no floating point.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>

#include "firmware.h"
#include "fw_images.h"
#include "fw_text.h"
#include "semihost.h"
#include "synthetic.h"
#include MODEL_HEADER
#include MODEL_PIXELS

#ifndef FW_NAME
#define FW_NAME "graph_fw"
#endif

#define PASTE2(a, b) a##b
#define PASTE(a, b) PASTE2(a, b)
#define M(name) PASTE(MODEL_PREFIX, name)
#define MU(name) PASTE(MODEL_PREFIX_UC, name)

enum { PIXELS = 3 * 32 * 32 };

_Static_assert(MU(_INPUT_BYTES) == PIXELS, "a CIFAR-10 model");
_Static_assert(MU(_HAS_ACCUMULATORS), "an output layer with accumulators");

/* ---- main ------------------------------------------------------------------ */

/* Raw CHW pixels to the model's NHWC input codes. */
static void quantize_input(const uint8_t *chw, int8_t *nhwc)
{
    for (uint32_t c = 0; c < 3; ++c)
        for (uint32_t p = 0; p < 32 * 32; ++p)
            nhwc[p * 3 + c] = M(_pixel_codes)[c][chw[c * 32 * 32 + p]];
}

int main(void)
{
    static uint8_t pixels[PIXELS];
    fw_images im;
    fw_text_open();
    const int bad = fw_images_open(
        "# usage: " FW_NAME " FILE FIRST COUNT STRIDE (FILE - : synthetic)",
        &im);
    if (bad)
        return bad;

    int32_t correct = 0;
    for (int32_t i = 0; i < im.count; ++i) {
        int32_t index;
        uint8_t label;
        if (!fw_images_read(&im, i, &index, &label, pixels))
            return 1;
        quantize_input(pixels, M(_input)());
        int8_t out[MU(_OUTPUTS)];
        int32_t acc[MU(_OUTPUTS)];
        const tq_status s = M(_run)(out, acc);
        if (s != TQ_OK) {
            fw_line l = {{0}, 0};
            fw_put_str(&l, "# model run failed with status ");
            fw_put_int(&l, (int32_t)s);
            fw_flush(&l);
            return 1;
        }
        int32_t pred = 0;
        for (int32_t c = 1; c < MU(_OUTPUTS); ++c)
            pred = acc[c] > acc[pred] ? c : pred;
        correct += !im.synthetic && pred == label;

        fw_images_report(&im, index, label, pred, MU(_OUTPUTS), out, acc);
    }

    fw_line l = {{0}, 0};
    fw_put_str(&l, "# images ");
    fw_put_int(&l, im.count);
    if (!im.synthetic) {
        fw_put_str(&l, " correct ");
        fw_put_int(&l, correct);
    }
    fw_put_str(&l, " | arena ");
    fw_put_int(&l, MU(_ARENA_BYTES));
    fw_put_str(&l, " B | stack high-water ");
    fw_put_int(&l, (int32_t)fw_stack_high_water());
    fw_put_str(&l, " of ");
    fw_put_int(&l, (int32_t)fw_stack_size());
    fw_put_str(&l, " B | kernels ");
    fw_put_str(&l, tq_kernel_path());
    fw_flush(&l);
    return 0;
}
