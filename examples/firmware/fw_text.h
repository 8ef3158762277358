/*
 * Lines of text and the command line for the QEMU firmware examples
 * (graph_fw.c), without stdio: decimal numbers are written by
 * hand and each line goes to the semihosting console in one write.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef FW_TEXT_H
#define FW_TEXT_H

#include <stdint.h>

/* A CIFAR-10 result line (label, class, 10 outputs, 10 accumulators) takes
 * about 210 characters; longer text is cut. */
enum { FW_LINE_BYTES = 256 };

typedef struct fw_line {
    char text[FW_LINE_BYTES];
    uint32_t len;
} fw_line;

/* Open the console (":tt") for fw_flush() and fw_say(). */
void fw_text_open(void);

void fw_put_str(fw_line *l, const char *s);

void fw_put_int(fw_line *l, int32_t v);

/* End the line, write it to the console and empty it. */
void fw_flush(fw_line *l);

/* One line of text. */
void fw_say(const char *s);

/* Split @p s at spaces into at most @p max words (in place). */
int fw_split(char *s, char **words, int max);

/* A decimal number in [0, 2^31); -1 if @p s is not one. */
int32_t fw_parse_count(const char *s);

#endif /* FW_TEXT_H */
