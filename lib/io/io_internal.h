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

/* The safetensors image of tq_safetensors_save()'s arguments, written to
 * @p fp (flushed, not closed): the same checks and statuses, TQ_ERR_IO when
 * a write fails. Lets the fuzz harnesses write to memory. */
tq_status tq__safetensors_write(FILE *fp, const tq_named_tensor *tensors,
                                int32_t count, const char *const *meta_keys,
                                const char *const *meta_values,
                                int32_t meta_count);

/* Metadata pair @p index (0 <= index < tq__safetensors_meta_count()) of a
 * loaded file, in key order. TQ_ERR_PARAM out of range. */
int32_t tq__safetensors_meta_count(const tq_safetensors *file);
tq_status tq__safetensors_meta_at(const tq_safetensors *file, int32_t index,
                                  const char **key, const char **value);

#endif /* TQ_IO_INTERNAL_H */
