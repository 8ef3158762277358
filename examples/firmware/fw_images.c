/*
 * The CIFAR-10 images of a QEMU firmware example; see fw_images.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "fw_images.h"

#include "fw_text.h"
#include "semihost.h"

enum { RECORD_BYTES = 1 + SYNTHETIC_PIXELS, ARGS = 5 };

int fw_images_open(const char *usage, fw_images *im)
{
    static char cmdline[FW_LINE_BYTES];
    char *arg[ARGS];
    int argc = 0;
    if (sh_cmdline(cmdline, sizeof cmdline) >= 0)
        argc = fw_split(cmdline, arg, ARGS);

    const char *file = "-";
    im->first = 0;
    im->count = 4;
    im->stride = 1;
    im->handle = -1;
    if (argc == ARGS) {
        file = arg[1];
        im->first = fw_parse_count(arg[2]);
        im->count = fw_parse_count(arg[3]);
        im->stride = fw_parse_count(arg[4]);
    } else if (argc > 1) {
        fw_say(usage);
        return 2;
    }
    if (im->first < 0 || im->count < 0 || im->stride < 1) {
        fw_say("# bad FIRST, COUNT or STRIDE");
        return 2;
    }

    im->synthetic = file[0] == '-' && file[1] == 0;
    if (!im->synthetic) {
        im->handle = sh_open(file, SH_MODE_RB);
        const int32_t bytes = im->handle >= 0 ? sh_flen(im->handle) : -1;
        if (bytes < 0 || bytes % RECORD_BYTES != 0) {
            fw_say("# cannot read the CIFAR-10 file");
            return 1;
        }
        const int32_t records = bytes / RECORD_BYTES;
        if (im->count > 0 && (int64_t)im->first +
                                     (int64_t)(im->count - 1) * im->stride >=
                                 records) {
            fw_say("# the images asked for run past the end of the file");
            return 1;
        }
    }
    return 0;
}

int fw_images_read(const fw_images *im, int32_t i, int32_t *index,
                   uint8_t *label, uint8_t pixels[SYNTHETIC_PIXELS])
{
    *label = 0;
    if (im->synthetic) {
        *index = i;
        synthetic_image((uint32_t)i, pixels);
        return 1;
    }
    *index = im->first + i * im->stride;
    if (sh_seek(im->handle, (uint32_t)*index * RECORD_BYTES) != 0 ||
        sh_read(im->handle, label, 1) != 1 ||
        sh_read(im->handle, pixels, SYNTHETIC_PIXELS) != SYNTHETIC_PIXELS) {
        fw_say("# read error");
        return 0;
    }
    return 1;
}

void fw_images_report(const fw_images *im, int32_t index, uint8_t label,
                      int32_t pred, int32_t outputs, const int8_t *out,
                      const int32_t *acc)
{
    fw_line l = {{0}, 0};
    fw_put_str(&l, "image ");
    fw_put_int(&l, index);
    fw_put_str(&l, im->synthetic ? " synthetic" : " label ");
    if (!im->synthetic)
        fw_put_int(&l, label);
    fw_put_str(&l, " pred ");
    fw_put_int(&l, pred);
    fw_put_str(&l, " logits");
    for (int32_t c = 0; c < outputs; ++c) {
        fw_put_str(&l, " ");
        fw_put_int(&l, out[c]);
    }
    fw_put_str(&l, " acc");
    for (int32_t c = 0; c < outputs; ++c) {
        fw_put_str(&l, " ");
        fw_put_int(&l, acc[c]);
    }
    fw_flush(&l);
}
