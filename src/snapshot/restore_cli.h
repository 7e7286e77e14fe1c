/*
 * `hearth restore --snapshot F --mem F [--api-sock P] [--resume]`: the
 * same load as PUT /snapshot/load, from the command line. Without
 * --api-sock nothing could resume a paused VM, so it resumes at once.
 */
#ifndef HEARTH_SNAPSHOT_RESTORE_CLI_H
#define HEARTH_SNAPSHOT_RESTORE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "snapshot/request.h"

struct snap_restore_opts {
	struct snap_load_req load;
	const char *api_sock;     /* NULL: no API */
	bool no_seccomp;
	bool no_sandbox;
	int verbose;
	bool help;
};

/* argv[1] is "restore". 0, or -EINVAL with one line in err (exit 2). */
int snap_restore_parse(int argc, char **argv, struct snap_restore_opts *o, char *err,
		       size_t errlen);
void snap_restore_usage(FILE *out);

#endif
