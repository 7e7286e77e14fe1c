/* The controlling terminal: raw mode while the guest owns the console. */
#ifndef HEARTH_UTIL_TERM_H
#define HEARTH_UTIL_TERM_H

#include <stdbool.h>

/* Raw mode on fd if it is a terminal; restored by term_restore and at exit. */
int term_raw_enter(int fd);
/* Idempotent and async-signal-safe. */
void term_restore(void);
bool term_is_raw(void);

#endif
