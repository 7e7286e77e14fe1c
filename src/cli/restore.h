/*
 * `hearth restore --snapshot F --mem F [--drive-override ID=PATH]...
 * [--net-override ID=SPEC]... [--vsock-override PATH] [--api-sock P] [--resume]`: the
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
	const char *kvm_path;     /* --kvm; NULL: /dev/kvm */
	const char *mem_uffd;     /* --mem-uffd: the page-fault handler's socket; NULL: --mem */
	/* The IDs of --drive-override and --net-override (their values point into argv). */
	char drive_ids[VM_MAX_DRIVES][VM_ID_MAX + 1];
	char net_ids[VM_MAX_NETS][VM_ID_MAX + 1];
	char pmem_ids[VM_MAX_PMEM][VM_ID_MAX + 1];
	bool mem_merge;           /* --mem-merge: guest RAM offered to KSM */
	bool no_seccomp;
	bool no_sandbox;
	bool new_pid_ns;          /* --new-pid-ns: the VM as pid 1 of a PID namespace */
	const char *pid_file;     /* --pid-file: where its pid goes; NULL: not given */
	int verbose;
	bool help;
};

/* argv[1] is "restore". 0, or -EINVAL with one line in e (exit 2). */
int cli_restore_parse(int argc, char **argv, struct cli_restore_opts *o, struct err *e);
void cli_restore_usage(FILE *out);

#endif
