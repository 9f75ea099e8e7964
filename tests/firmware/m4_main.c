/* Firmware harness for the Cortex-M4 under QEMU: reads windows from in.bin through semihosting, runs the student on
   each, writes its outputs to out.bin, prints the window count and the stack's high-water mark.
   Built with -DMMDISTILL_FLOAT_FREE it reads int8 windows and runs mmdistill_invoke_q; otherwise float32 windows and
   mmdistill_invoke (float outputs). */
#include <stdint.h>
#include "semihost.h"
#include "student.h"

#ifdef MMDISTILL_FLOAT_FREE
typedef int8_t in_t; typedef int8_t out_t;
#define INVOKE mmdistill_invoke_q
#else
typedef float in_t; typedef float out_t;
#define INVOKE mmdistill_invoke
#endif

static in_t x[MMDISTILL_INPUT_LEN];
static out_t y[MMDISTILL_OUTPUT_LEN];

static char *utoa10(uint32_t v, char *end)
{
    *--end = 0;
    do { *--end = (char)('0' + v % 10u); v /= 10u; } while (v);
    return end;
}

static void print_kv(const char *key, uint32_t v)
{
    char buf[16];
    sh_write0(key); sh_write0(utoa10(v, buf + sizeof buf)); sh_write0("\n");
}

int main(void)
{
    uint32_t n = 0;
    int in = sh_open("in.bin", 1), out = sh_open("out.bin", 5);
    if (in < 0 || out < 0) { sh_write0("cannot open in.bin or out.bin\n"); return 1; }
    while (sh_read(in, x, sizeof x) == 0) {
        if (INVOKE(x, y) != 0) { sh_write0("invoke failed\n"); return 1; }
        if (sh_write(out, y, sizeof y) != 0) { sh_write0("write failed\n"); return 1; }
        n++;
    }
    sh_close(in); sh_close(out);
    print_kv("windows ", n);
    print_kv("stack_peak_bytes ", stack_peak_bytes());
    print_kv("stack_size_bytes ", stack_size_bytes());
    return 0;
}
