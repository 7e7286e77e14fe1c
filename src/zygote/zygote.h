/*
 * The zygote that makes a template's clones (zygote.c; docs/api.md "Fork
 * and reset"): forked by a front end that has --fork-dir, after its
 * sandbox is prepared and before any thread or VM exists.
 */
#ifndef HEARTH_ZYGOTE_H
#define HEARTH_ZYGOTE_H

#include "host/process.h"
#include "util/err.h"

/*
 * Forks the zygote, which serves the template's end of a socket pair
 * until it closes (or the template dies), and makes each clone beneath
 * fork_dir with sb's flags. *sock: the template's end, for host_opts.
 * 0, or -errno with err (-ENOENT and the like: a usage error).
 */
int zygote_start(const char *fork_dir, const struct host_sandbox *sb, const char *kvm_path,
		     int *sock, struct err *err);

#endif
