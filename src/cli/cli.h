/*
 * The command front ends, one file per command, each a table of options
 * for the shared parser (util/opt.h), with its usage text. main() only
 * picks one; each returns the process's exit status (enum hearth_exit).
 */
#ifndef HEARTH_CLI_CLI_H
#define HEARTH_CLI_CLI_H

#include <stdbool.h>

#include "control/host.h"
#include "util/err.h"
#include "util/opt.h"

int cli_run_main(int argc, char **argv);        /* run, and `hearth --help`, --version */
int cli_serve_main(int argc, char **argv);      /* argv[1] is "serve" */
int cli_firecracker_main(int argc, char **argv); /* the binary run as `firecracker` */
int cli_snapshot_main(int argc, char **argv);   /* argv[1] is "snapshot" */
int cli_restore_main(int argc, char **argv);    /* argv[1] is "restore" */
int cli_merge_main(int argc, char **argv);      /* argv[1] is "snapshot-merge" */
int cli_jailer_main(int argc, char **argv);     /* the binary run as `jailer` (jailer.c) */

/* argv[0] names the `firecracker` binary (a symlink to Hearth). */
bool cli_is_firecracker(const char *argv0);
/* argv[0] names the `jailer` binary (a symlink to Hearth). */
bool cli_is_jailer(const char *argv0);

/* What a command that starts a VM asks of the sandbox (cli_sandbox). */
struct tls_creds;

struct cli_sandbox {
	bool no_seccomp;            /* --no-seccomp: no per-thread filters */
	bool no_sandbox;            /* --no-sandbox: no process sandbox */
	const char *jail, *uid, *gid;   /* --jail DIR --uid U --gid G as given; NULL: not given */
	const char *api_sock;       /* the API socket, whose directory stays reachable; NULL: none */
	const char *snapshot_dir;   /* --snapshot-dir; NULL: none */
	const char *migrate_dir;    /* --migrate-dir: a migration's sockets; NULL: none */
	bool migrate_net;           /* --migrate-net: sandbox_opts.migrate_net */
	/* --migrate-tls DIR (NULL: none): GnuTLS loaded by cli_sandbox, the credentials read
	 * into *tls_out by cli_sandbox_tls */
	const char *migrate_tls;
	struct tls_creds **tls_out;
	bool no_nics;               /* no NIC needs the host's network */
	/* --new-pid-ns, --pid-file PATH (NULL: not given); the VM then runs as pid 1 of its own */
	bool new_pid_ns;
	const char *pid_file;
	bool firecracker;           /* the `firecracker` personality: JAIL/firecracker.pid */
	bool uid_shared;            /* a fork's clone: sandbox_opts.uid_shared */
	/*
	 * The zygote's network policy (zygote_request.c), from the template's
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
int cli_sandbox(const struct cli_sandbox *s);
/*
 * --migrate-tls's credentials, read into *s->tls_out (inside the jail, as
 * every other path), after the zygote is forked and before the seal: the
 * zygote and its clones never hold the host's private keys (and the
 * zygote unmaps GnuTLS, tls_lib_unload). 0, or the exit status after one
 * line on stderr.
 */
int cli_sandbox_tls(const struct cli_sandbox *s);

/* -v (1) and -q (-1) of every command that logs. */
void cli_log_level(int verbose);

/*
 * The refusals of `hearth snapshot` and `hearth restore` (getopt_long's
 * rules), as "NAME: ..." lines, NAME the opt_cmd's: their opt_cmd fault.
 */
int cli_gnu_fault(const struct opt_cmd *cmd, enum opt_fault f, const char *arg,
		  const struct opt *o, struct err *e);

/*
 * An override flag's ID=VALUE (`hearth restore`, `hearth fork`): the ID
 * and a pointer to VALUE inside argv, or -EINVAL naming cmd and the flag.
 */
int cli_override_split(const char *cmd, const char *flag, const char *val, char *id, size_t len,
		       const char **rest, struct err *e);
/*
 * Its ro:PATH (1) or rw:PATH (0): said, never defaulted, since it decides
 * whether the file is opened for writing; else -EINVAL naming the flag.
 */
int cli_override_access(const char *cmd, const char *flag, const char *val, const char *spec,
			struct err *e);

/* Prints e and returns its exit status: 2 when the input was at fault, else 1. */
int cli_fail(const struct err *e);

/*
 * Every command that runs a VM: the process host (control/host.h) with
 * boot (taken over; NULL: o's config file, snapshot or none), and the API
 * on api_sock unless it is NULL, until the VM stops or a signal. Returns
 * the exit status (enum hearth_exit).
 */
int cli_host_run(const struct host_opts *o, struct vm_config *boot, const char *api_sock,
		 size_t max_payload);

#endif
