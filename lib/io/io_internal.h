/*
 * File helpers shared by the host-only readers (safetensors.c, cifar10.c):
 * sizes and offsets past 2 GiB, behind one portability switch. Defined in
 * lib/io/safetensors.c. Nothing here is exported.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_IO_INTERNAL_H
#define TQ_IO_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "../tq_internal.h"

/* Byte size of the open file @p fp, which is left at its start.
 * TQ_ERR_IO when it cannot be read or sought: fopen() accepts a directory
 * on POSIX systems, and only reading it fails. */
tq_status tq__file_size(FILE *fp, uint64_t *size);

/* Move @p fp to byte @p offset (at most its size). Returns 1 on success. */
int tq__file_seek(FILE *fp, uint64_t offset);

#endif /* TQ_IO_INTERNAL_H */
