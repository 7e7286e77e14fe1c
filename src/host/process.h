/*
 * The process that runs a VM (process.c): what a command that starts one
 * asks of the sandbox before any thread exists, then the process host
 * (host.h) with the API, until the VM stops. A command front end (cli/),
 * a fork's clone (zygote/) and nothing else call these.
 */
#ifndef HEARTH_HOST_PROCESS_H
#define HEARTH_HOST_PROCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "host/host.h"
#include "util/err.h"

/* What a command that starts a VM asks of the sandbox (host_sandbox_enter). */
struct tls_creds;

struct host_sandbox {
	bool no_seccomp;            /* --no-seccomp: no per-thread filters */
	bool no_sandbox;            /* --no-sandbox: no process sandbox */
	const char *jail, *uid, *gid;   /* --jail DIR --uid U --gid G as given; NULL: not given */
	const char *api_sock;       /* the API socket, whose directory stays reachable; NULL: none */
	const char *snapshot_dir;   /* --snapshot-dir; NULL: none */
	const char *migrate_dir;    /* --migrate-dir: a migration's sockets; NULL: none */
	bool migrate_net;           /* --migrate-net: sandbox_opts.migrate_net */
	/* --migrate-tls DIR (NULL: none): GnuTLS loaded by host_sandbox_enter, the credentials read
	 * into *tls_out by host_sandbox_tls */
	const char *migrate_tls;
	struct tls_creds **tls_out;
	bool no_nics;               /* no NIC needs the host's network */
	/* --new-pid-ns, --pid-file PATH (NULL: not given); the VM then runs as pid 1 of its own */
	bool new_pid_ns;
	const char *pid_file;
	bool firecracker;           /* the `firecracker` personality: JAIL/firecracker.pid */
	bool uid_shared;            /* a fork's clone: sandbox_opts.uid_shared */
	/*
	 * The zygote's network policy (zygote/request.c), from the template's
	 * command line: the one thing the template's requests cannot forge.
	 */
	const char *fork_taps;
	bool fork_hostfwd;
};

/*
 * Before any thread starts: the per-thread filters (src/sandbox/sandbox.h),
 * then the process sandbox (confine.h), which the host seals once its VM
 * is built. 0, or the exit status after one line on stderr (2: a bad flag
 * or path). With --new-pid-ns only the child, pid 1 of the namespace,
 * returns: the process started exits in there (sandbox/pidns.h).
 */
int host_sandbox_enter(const struct host_sandbox *s);
/*
 * --migrate-tls's credentials, read into *s->tls_out (inside the jail, as
 * every other path), after the zygote is forked and before the seal: the
 * zygote and its clones never hold the host's private keys (and the
 * zygote unmaps GnuTLS, tls_lib_unload). 0, or the exit status after one
 * line on stderr.
 */
int host_sandbox_tls(const struct host_sandbox *s);

/*
 * Every command that runs a VM: the process host (host.h) with
 * boot (taken over; NULL: o's config file, snapshot or none), and the API
 * on api_sock unless it is NULL, until the VM stops or a signal. Returns
 * the exit status (enum hearth_exit).
 */
int host_process_run(const struct host_opts *o, struct vm_config *boot, const char *api_sock,
		 size_t max_payload);

#endif
