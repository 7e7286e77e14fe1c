/*
 * The flags of `hearth serve` (argv[1] is "serve") and Firecracker's own
 * (the binary run as `firecracker`: its flags from argv[1]), into the API
 * process's options (api/serve.h).
 */
#ifndef HEARTH_CLI_SERVE_H
#define HEARTH_CLI_SERVE_H

#include <stdio.h>

#include "api/serve.h"
#include "util/err.h"
#include "util/opt.h"

/* 0, or -EINVAL with one line in e. */
int cli_serve_parse(int argc, char **argv, struct serve_opts *o, struct err *e);
int cli_firecracker_parse(int argc, char **argv, struct serve_opts *o, struct err *e);
void cli_serve_usage(FILE *out);
void cli_firecracker_usage(FILE *out);

#endif
