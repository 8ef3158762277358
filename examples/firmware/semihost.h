/*
 * Arm semihosting from a Cortex-M: the debugger (here QEMU, run with
 * -semihosting-config enable=on,target=native) serves file and console
 * calls that the program raises with `bkpt 0xab`. It is how this firmware
 * reads CIFAR-10 from the host's disk and prints its results.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef FW_SEMIHOST_H
#define FW_SEMIHOST_H

#include <stdint.h>

/* Open modes of SYS_OPEN (the fopen() strings in the spec's order). */
enum { SH_MODE_RB = 1, SH_MODE_W = 4 };

/* A host file handle, or -1. ":tt" opened with SH_MODE_W is stdout. */
int32_t sh_open(const char *path, int32_t mode);

/* Read up to @p len bytes at the file position; returns how many were
 * read (fewer at the end of the file), or -1 on an error. */
int32_t sh_read(int32_t handle, void *buf, uint32_t len);

/* Write @p len bytes; returns 0 when all were written. */
int32_t sh_write(int32_t handle, const void *buf, uint32_t len);

/* Move the file position to byte @p pos; returns 0 on success. */
int32_t sh_seek(int32_t handle, uint32_t pos);

/* Length of the file in bytes, or -1. */
int32_t sh_flen(int32_t handle);

/* The command line QEMU was given (-semihosting-config arg=...), NUL
 * terminated; returns its length, or -1 when there is none. */
int32_t sh_cmdline(char *buf, uint32_t size);

/* Stop the program; QEMU exits with @p code. */
_Noreturn void sh_exit(int32_t code);

#endif /* FW_SEMIHOST_H */
