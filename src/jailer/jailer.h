/*
 * The binary run as `jailer` (jailer.c): Firecracker 1.16's jailer, a
 * program of its own that shares Hearth's binary. docs/jailer.md.
 */
#ifndef HEARTH_JAILER_JAILER_H
#define HEARTH_JAILER_JAILER_H

#include <stdbool.h>

/* argv[0] names the `jailer` binary (a symlink to Hearth). */
bool jailer_is_argv0(const char *argv0);
/* The jailer's main: its exit status (1 for every refusal, as the jailer's). */
int jailer_main(int argc, char **argv);

#endif
