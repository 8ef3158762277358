/*
 * Runs a test program on one kernel path: `isa_run NAME PROGRAM [ARGS...]`
 * sets TINYQ_ISA=NAME and executes PROGRAM, or, when this CPU (or this
 * build) lacks the path, says so and exits with 77, which meson reports
 * as a skipped test.
 *
 * PROGRAM is looked up in PATH when it has no slash. A cross build tested
 * under qemu-user passes the emulator as PROGRAM and the test program as
 * its argument (tests/meson.build): without binfmt_misc, an emulated
 * process cannot exec a foreign binary itself, but it can exec the
 * emulator, a program of the build machine. The check above still runs on
 * the emulated CPU, and the emulator passes QEMU_CPU on to the program.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinyq.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ISA PROGRAM [ARGS...]\n", argv[0]);
        return 2;
    }
    int32_t isa = -1;
    for (int32_t i = TQ_ISA_PORTABLE; tq_isa_name(i); ++i)
        if (strcmp(argv[1], tq_isa_name(i)) == 0)
            isa = i;
    if (isa < 0) {
        fprintf(stderr, "%s: unknown path %s\n", argv[0], argv[1]);
        return 2;
    }
    if (!(tq_isa_available() & (UINT32_C(1) << isa))) {
        printf("skipped: this CPU or build has no %s path\n", argv[1]);
        return 77;
    }
    if (setenv("TINYQ_ISA", argv[1], 1) != 0) {
        perror("setenv");
        return 2;
    }
    /* Which path the program gets: the log then shows what really ran. */
    if (tq_set_isa(isa) == TQ_OK)
        printf("isa_run: TINYQ_ISA=%s, kernel path %s\n", argv[1],
               tq_kernel_path());
    fflush(stdout);
    execvp(argv[2], argv + 2);
    perror(argv[2]);
    return 2;
}
