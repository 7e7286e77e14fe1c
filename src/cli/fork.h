/*
 * `hearth fork` and `hearth reset` (fork.c): the command-line twins of
 * PUT /fork and PUT /reset, clients of a running Hearth's API socket.
 */
#ifndef HEARTH_CLI_FORK_H
#define HEARTH_CLI_FORK_H

#include <stdbool.h>

#include <jansson.h>

#include "util/err.h"

/*
 * argv[1] is "fork" (reset false) or "reset": the flags into the API
 * socket and the request's body (PUT /fork's; NULL for a reset or --help:
 * json_decref it). 0, or -errno with one line in e (usage: exit 2).
 */
int cli_fork_parse(int argc, char **argv, bool reset, const char **api_sock, json_t **body,
		   bool *help, struct err *e);
/* argv[1] is "fork" / "reset". The process's exit status. */
int cli_fork_main(int argc, char **argv);
int cli_reset_main(int argc, char **argv);

#endif
