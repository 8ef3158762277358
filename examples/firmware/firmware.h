/*
 * What the firmware's start-up code offers to main().
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef FW_FIRMWARE_H
#define FW_FIRMWARE_H

#include <stdint.h>

/* Deepest stack use so far, in bytes: the painted words that were
 * overwritten since reset. */
uint32_t fw_stack_high_water(void);

/* Bytes reserved for the stack by the linker script. */
uint32_t fw_stack_size(void);

#endif /* FW_FIRMWARE_H */
