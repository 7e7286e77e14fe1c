/*
 * `hearth restore --snapshot F --mem F [--api-sock P] [--resume]`: the
 * same load as PUT /snapshot/load, from the command line, then `hearth
 * serve` on the restored VM. Without --api-sock nothing could resume a
 * paused VM, so it resumes at once.
 */
#ifndef HEARTH_CLI_RESTORE_H
#define HEARTH_CLI_RESTORE_H

#include <stdbool.h>
#include <stdio.h>

#include "snapshot/request.h"
#include "util/err.h"

struct cli_restore_opts {
	struct snap_load_req load;
	const char *api_sock;     /* NULL: no API */
	bool no_seccomp;
	bool no_sandbox;
	int verbose;
	bool help;
};

/* argv[1] is "restore". 0, or -EINVAL with one line in e (exit 2). */
int cli_restore_parse(int argc, char **argv, struct cli_restore_opts *o, struct err *e);
void cli_restore_usage(FILE *out);

#endif
