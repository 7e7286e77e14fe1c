/*
 * The zygote that makes a template's clones (zygote.c; docs/api.md "Fork
 * and reset"): forked by a front end that has --fork-dir, after its
 * sandbox is prepared and before any thread or VM exists.
 */
#ifndef HEARTH_CLI_ZYGOTE_H
#define HEARTH_CLI_ZYGOTE_H

#include "cli/cli.h"
#include "util/err.h"

/*
 * Forks the zygote, which serves the template's end of a socket pair
 * until it closes (or the template dies), and makes each clone beneath
 * fork_dir with sb's flags. *sock: the template's end, for host_opts.
 * 0, or -errno with err (-ENOENT and the like: a usage error).
 */
int cli_zygote_start(const char *fork_dir, const struct cli_sandbox *sb, const char *kvm_path,
		     int *sock, struct err *err);

#endif
