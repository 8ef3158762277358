/*
 * Start-up code of the firmware: the vector table, the reset handler that
 * prepares RAM (copies .data, zeroes .bss), enables the FPU on cores that
 * have one, paints the stack so that its deepest use can be measured, and
 * runs main(). Faults end the program with a message instead of hanging.
 *
 * Symbols come from sections.ld.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>

#include "firmware.h"
#include "semihost.h"

extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_limit[], __stack_top[];

int main(void);
void reset_handler(void);

/* Any value unlikely to be pushed by chance. */
#define STACK_PAINT 0xc0ffee42u

static void write_stdout(const char *s)
{
    const int32_t out = sh_open(":tt", SH_MODE_W);
    uint32_t n = 0;
    while (s[n])
        ++n;
    if (out >= 0)
        sh_write(out, s, n);
}

static void fault_handler(void)
{
    write_stdout("# fault: the firmware stopped\n");
    sh_exit(3);
}

static void unexpected_handler(void)
{
    write_stdout("# unexpected exception\n");
    sh_exit(4);
}

typedef void (*handler)(void);

/* Armv6-M / Armv7-M: the initial stack pointer, then the 15 system
 * exceptions (reset, NMI, HardFault, MemManage, BusFault, UsageFault, four
 * reserved, SVCall, DebugMonitor, reserved, PendSV, SysTick). No external
 * interrupt is enabled, so the table stops there. */
struct vector_table {
    uint32_t *initial_sp;
    handler exceptions[15];
};

__attribute__((section(".vectors"), used))
const struct vector_table vector_table = {
    __stack_top,
    {
        reset_handler,      /* Reset */
        unexpected_handler, /* NMI */
        fault_handler,      /* HardFault */
        fault_handler,      /* MemManage */
        fault_handler,      /* BusFault */
        fault_handler,      /* UsageFault */
        0, 0, 0, 0,         /* reserved */
        unexpected_handler, /* SVCall */
        unexpected_handler, /* DebugMonitor */
        0,                  /* reserved */
        unexpected_handler, /* PendSV */
        unexpected_handler, /* SysTick */
    },
};

void reset_handler(void)
{
#if defined(__ARM_FP)
    /* CPACR: full access to coprocessors 10 and 11 (the FPU) before any
     * code that the compiler might give a floating-point instruction. */
    volatile uint32_t *const cpacr = (volatile uint32_t *)0xe000ed88u;
    *cpacr |= 0xfu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;)
        *dst++ = *src++;
    for (uint32_t *dst = __bss_start; dst < __bss_end;)
        *dst++ = 0;

    /* Paint the stack below the current frame, with a margin. */
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = __stack_limit; p < sp - 16; ++p)
        *p = STACK_PAINT;

    sh_exit(main());
}

uint32_t fw_stack_high_water(void)
{
    const uint32_t *p = __stack_limit;
    while (p < __stack_top && *p == STACK_PAINT)
        ++p;
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

uint32_t fw_stack_size(void)
{
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_limit);
}
