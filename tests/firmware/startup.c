/* Minimal Cortex-M4 start-up for QEMU's MPS2 AN386 board: vector table, .data copy, .bss clear, FPU on, a painted stack
   (its high-water mark is measured), and ARM semihosting (bkpt 0xAB) for files and exit. No libc. */
#include <stdint.h>
#include "semihost.h"

extern uint32_t _data_load, _data_start, _data_end, _bss_start, _bss_end, _stack_limit, _stack_top;
extern int main(void);
void reset_handler(void);
static void fault_handler(void);

#define STACK_PAINT 0xA5A5A5A5u

__attribute__((section(".isr_vector"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))&_stack_top, reset_handler, fault_handler, fault_handler, fault_handler, fault_handler, fault_handler,
    0, 0, 0, 0, fault_handler, fault_handler, 0, fault_handler, fault_handler,
};

int sh_call(int op, void *arg)
{
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_write0(const char *s) { sh_call(0x04, (void *)s); }

void sh_exit(int ok)
{
    uint32_t reason = ok ? 0x20026u : 0x20024u;   /* ADP_Stopped_ApplicationExit, else ADP_Stopped_RunTimeErrorUnknown */
    for (;;) sh_call(0x18, (void *)reason);
}

int sh_open(const char *name, int mode)
{
    uint32_t n = 0, args[3];
    while (name[n]) n++;
    args[0] = (uint32_t)name; args[1] = (uint32_t)mode; args[2] = n;
    return sh_call(0x01, args);
}

int sh_read(int fd, void *buf, uint32_t len)  /* bytes NOT read */
{
    uint32_t args[3] = {(uint32_t)fd, (uint32_t)buf, len};
    return sh_call(0x06, args);
}

int sh_write(int fd, const void *buf, uint32_t len)
{
    uint32_t args[3] = {(uint32_t)fd, (uint32_t)buf, len};
    return sh_call(0x05, args);
}

int sh_close(int fd) { uint32_t a = (uint32_t)fd; return sh_call(0x02, &a); }

uint32_t stack_peak_bytes(void)
{
    volatile uint32_t *p = &_stack_limit;
    while (p < &_stack_top && *p == STACK_PAINT) p++;
    return (uint32_t)((uint8_t *)&_stack_top - (uint8_t *)p);
}

uint32_t stack_size_bytes(void) { return (uint32_t)((uint8_t *)&_stack_top - (uint8_t *)&_stack_limit); }

void reset_handler(void)
{
    uint32_t *src = &_data_load, *dst = &_data_start;
    volatile uint32_t *p;
    uint32_t sp;
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;   /* CPACR: full access to CP10 and CP11 (the FPU) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    while (dst < &_data_end) *dst++ = *src++;
    for (dst = &_bss_start; dst < &_bss_end; dst++) *dst = 0;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (p = &_stack_limit; (uint32_t)p < sp - 64u; p++) *p = STACK_PAINT;   /* below the start-up frame */
    sh_exit(main() == 0);
}

static void fault_handler(void)
{
    sh_write0("fault: the firmware took an exception\n");
    sh_exit(0);
}
