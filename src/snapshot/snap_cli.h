/*
 * `hearth snapshot --api-sock P --snapshot F --mem F [--diff] [--resume]`:
 * a client of a running Hearth's API socket (libcurl). It pauses the VM
 * (PATCH /vm Paused; a no-op when paused already), creates the snapshot
 * (PUT /snapshot/create) and, with --resume, resumes it. A refused step
 * prints the server's fault_message.
 */
#ifndef HEARTH_SNAPSHOT_SNAP_CLI_H
#define HEARTH_SNAPSHOT_SNAP_CLI_H

#include <stdbool.h>
#include <stddef.h>

struct snap_cli_opts {
	const char *api_sock;
	const char *snapshot_path;
	const char *mem_path;
	bool diff;
	bool resume;
	bool help;
};

/* argv[1] is "snapshot". 0, or -EINVAL with one line in err (exit 2). */
int snap_cli_parse(int argc, char **argv, struct snap_cli_opts *o, char *err, size_t errlen);
/* Exit status: 0, 1 (a step failed; one line on stderr) or 2 (usage). */
int snap_cli_main(int argc, char **argv);

#endif
