/* Command-line parsing into the machine model (vmm/config.h). */
#ifndef HEARTH_VMM_CLI_H
#define HEARTH_VMM_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/config.h"

enum cli_action { CLI_RUN, CLI_HELP, CLI_VERSION };

struct cli_config {
	enum cli_action action;
	int verbose;
	/* What `run` boots; filled through vm_config's setters. */
	struct vm_config vm;
	/* --api-sock: also serve the API for this VM (points into argv); NULL: none. */
	const char *api_sock;
	bool no_seccomp;            /* --no-seccomp: no per-thread filters (src/sandbox) */
	bool no_sandbox;            /* --no-sandbox: no process sandbox (src/sandbox) */
	const char *snapshot_dir;   /* --snapshot-dir: kept writable by the sandbox; NULL: none */
	/* --jail DIR --uid U --gid G as given (argv): src/sandbox checks them; NULL: not given. */
	const char *jail, *jail_uid, *jail_gid;
};

/*
 * Parses argv. Returns 0, or -EINVAL after writing one line that names the
 * problem into err (errlen bytes). Either way cli_release() frees cfg.
 */
int cli_parse(int argc, char **argv, struct cli_config *cfg, char *err, size_t errlen);
void cli_release(struct cli_config *cfg);

/* Parses a whole decimal number in [min, max]; no sign, no junk. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

void cli_usage(FILE *out);

#endif
