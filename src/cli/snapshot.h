/*
 * `hearth snapshot --api-sock P --snapshot F --mem F [--diff] [--resume]`:
 * a client of a running Hearth's API socket (libcurl). It pauses the VM
 * (PATCH /vm Paused; a no-op when paused already), creates the snapshot
 * (PUT /snapshot/create) and, with --resume, resumes it. A refused step
 * prints the server's fault_message.
 */
#ifndef HEARTH_CLI_SNAPSHOT_H
#define HEARTH_CLI_SNAPSHOT_H

#include <stdbool.h>

#include "util/err.h"

struct cli_snapshot_opts {
	const char *api_sock;
	const char *snapshot_path;
	const char *mem_path;
	bool diff;
	bool resume;
	bool help;
};

/* argv[1] is "snapshot". 0, or -EINVAL with one line in e (exit 2). */
int cli_snapshot_parse(int argc, char **argv, struct cli_snapshot_opts *o, struct err *e);

#endif
