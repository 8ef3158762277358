/*
 * The CIFAR-10 images a QEMU firmware example runs on (graph_fw.c: the
 * LeNet firmware and any exported graph), named by the semihosting
 * command line
 *
 *   PROGRAM FILE FIRST COUNT STRIDE   (FILE "-": synthetic images)
 *
 * no arguments: four synthetic images. Image i of the run is record
 * FIRST + i·STRIDE of the CIFAR-10 binary FILE.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef FW_IMAGES_H
#define FW_IMAGES_H

#include <stdint.h>

#include "synthetic.h"

typedef struct fw_images {
    int synthetic;
    int32_t handle, first, count, stride;
} fw_images;

/* Parse the command line and open FILE. 0, or the firmware's exit code
 * after a message: 2 for a bad command line (@p usage is printed), 1 for a
 * file that cannot hold the images asked for. */
int fw_images_open(const char *usage, fw_images *im);

/* Image @p i of the run: its record index (or i), its label (0 when
 * synthetic) and its raw CHW pixels. 0 after a message on a read error. */
int fw_images_read(const fw_images *im, int32_t i, int32_t *index,
                   uint8_t *label, uint8_t pixels[SYNTHETIC_PIXELS]);

/* The result line of image @p index: "image INDEX label L pred P logits
 * O... acc A..." ("synthetic" for the label of a synthetic image), the
 * format of tests/fw_host_reference.c. */
void fw_images_report(const fw_images *im, int32_t index, uint8_t label,
                      int32_t pred, int32_t outputs, const int8_t *out,
                      const int32_t *acc);

#endif /* FW_IMAGES_H */
