/*
 * Synthetic CIFAR-10-shaped images, for runs without the data set: the
 * firmware and the host reference build the same pixels from the image
 * index, so their results can still be compared bit for bit. Image 0 is
 * all black and image 1 all white (the extremes of the input table); the
 * others are xorshift32 noise.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef FW_SYNTHETIC_H
#define FW_SYNTHETIC_H

#include <stdint.h>

#define SYNTHETIC_PIXELS 3072

static inline void synthetic_image(uint32_t index,
                                   uint8_t pixels[SYNTHETIC_PIXELS])
{
    uint32_t x = 0x9e3779b9u * (index + 1u);
    for (uint32_t i = 0; i < SYNTHETIC_PIXELS; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        pixels[i] = index == 0 ? 0 : index == 1 ? 255 : (uint8_t)(x >> 24);
    }
}

#endif /* FW_SYNTHETIC_H */
