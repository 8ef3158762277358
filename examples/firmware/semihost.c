/*
 * The semihosting calls this firmware uses. Each call puts an operation
 * number in r0 and the address of its argument block (or a single value)
 * in r1, executes `bkpt 0xab`, and finds the result in r0. Argument blocks
 * are arrays of 32-bit words.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "semihost.h"

/* Operation numbers of the Arm semihosting specification. */
enum {
    SYS_OPEN = 0x01,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_SEEK = 0x0a,
    SYS_FLEN = 0x0c,
    SYS_GET_CMDLINE = 0x15,
    SYS_EXIT = 0x18,
    SYS_EXIT_EXTENDED = 0x20,
};

/* Reason code of SYS_EXIT for a normal end, and one for an error. */
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define ADP_STOPPED_RUN_TIME_ERROR 0x20023u

static int32_t sh_call(uint32_t op, uintptr_t arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register uintptr_t r1 __asm__("r1") = arg;
    /* "memory": the host reads and writes the block and the buffers. */
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

static uint32_t length(const char *s)
{
    uint32_t n = 0;
    while (s[n])
        ++n;
    return n;
}

int32_t sh_open(const char *path, int32_t mode)
{
    uintptr_t block[3] = {(uintptr_t)path, (uintptr_t)mode, length(path)};
    return sh_call(SYS_OPEN, (uintptr_t)block);
}

int32_t sh_read(int32_t handle, void *buf, uint32_t len)
{
    uintptr_t block[3] = {(uintptr_t)handle, (uintptr_t)buf, len};
    /* The host returns the number of bytes it did NOT read. */
    const int32_t left = sh_call(SYS_READ, (uintptr_t)block);
    if (left < 0 || (uint32_t)left > len)
        return -1;
    return (int32_t)(len - (uint32_t)left);
}

int32_t sh_write(int32_t handle, const void *buf, uint32_t len)
{
    uintptr_t block[3] = {(uintptr_t)handle, (uintptr_t)buf, len};
    return sh_call(SYS_WRITE, (uintptr_t)block);
}

int32_t sh_seek(int32_t handle, uint32_t pos)
{
    uintptr_t block[2] = {(uintptr_t)handle, pos};
    return sh_call(SYS_SEEK, (uintptr_t)block);
}

int32_t sh_flen(int32_t handle)
{
    uintptr_t block[1] = {(uintptr_t)handle};
    return sh_call(SYS_FLEN, (uintptr_t)block);
}

int32_t sh_cmdline(char *buf, uint32_t size)
{
    /* On return the host has set block[1] to the length it wrote. */
    uintptr_t block[2] = {(uintptr_t)buf, size};
    if (size == 0 || sh_call(SYS_GET_CMDLINE, (uintptr_t)block) != 0 ||
        block[1] >= size)
        return -1;
    buf[block[1]] = 0;
    return (int32_t)block[1];
}

_Noreturn void sh_exit(int32_t code)
{
    /* SYS_EXIT_EXTENDED carries the exit code; a host without it returns,
     * and plain SYS_EXIT can only tell success from failure. */
    uintptr_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uintptr_t)code};
    sh_call(SYS_EXIT_EXTENDED, (uintptr_t)block);
    sh_call(SYS_EXIT, code == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                : ADP_STOPPED_RUN_TIME_ERROR);
    for (;;)
        __asm__ volatile("wfi");
}
