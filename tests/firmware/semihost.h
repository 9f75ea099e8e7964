/* ARM semihosting calls of startup.c (QEMU: -semihosting). */
#ifndef SEMIHOST_H
#define SEMIHOST_H
#include <stdint.h>
int sh_call(int op, void *arg);
void sh_write0(const char *s);
void sh_exit(int ok);
int sh_open(const char *name, int mode);   /* mode 1 = "rb", 5 = "wb"; returns a handle or -1 */
int sh_read(int fd, void *buf, uint32_t len);
int sh_write(int fd, const void *buf, uint32_t len);
int sh_close(int fd);
uint32_t stack_peak_bytes(void);
uint32_t stack_size_bytes(void);
#endif
