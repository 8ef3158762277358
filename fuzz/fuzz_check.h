/*
 * What every fuzz harness shares: a meaning check that stops the run (an
 * abort, which libFuzzer reports as a crash and saves the input), and a
 * scratch file on a RAM file system for the readers that take a path.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_FUZZ_CHECK_H
#define TQ_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_CHECK(cond)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: meaning check failed: %s\n",          \
                    __FILE__, __LINE__, #cond);                           \
            abort();                                                      \
        }                                                                 \
    } while (0)

static char fuzz_scratch_path[4096];

static inline void fuzz_scratch_remove(void)
{
    unlink(fuzz_scratch_path);
}

/* A file of this process (in /dev/shm when there is one, else $TMPDIR or
 * /tmp) holding exactly @p size bytes of @p data; its path, owned here. */
static inline const char *fuzz_scratch_file(const void *data, size_t size)
{
    char *path = fuzz_scratch_path;
    static int fd = -1;
    if (fd < 0) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;
        if (!dir)
            dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(path, sizeof fuzz_scratch_path, "%s/tinyq-fuzz-XXXXXX", dir);
        fd = mkstemp(path);
        FUZZ_CHECK(fd >= 0);
        atexit(fuzz_scratch_remove); /* a crash leaves it; it is small */
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);
    return path;
}

#endif /* TQ_FUZZ_CHECK_H */
