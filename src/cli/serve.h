/*
 * The flags of `hearth serve` (argv[1] is "serve") and Firecracker's own
 * (the binary run as `firecracker`: its flags from argv[1]): what the
 * process host takes (host/host.h), the API socket, the sandbox's.
 */
#ifndef HEARTH_CLI_SERVE_H
#define HEARTH_CLI_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "host/host.h"
#include "util/err.h"
#include "util/opt.h"

/* Firecracker's default --api-sock, for the binary run as `firecracker`. */
#define SERVE_FIRECRACKER_SOCK "/run/firecracker.socket"

struct serve_opts {
	struct host_opts host;      /* --id, --config-file, --kvm, the logger, metrics, startup */
	const char *api_sock;
	bool no_api;
	size_t max_payload;
	int verbose;
	bool help;
	bool version;
	/* Firecracker's --snapshot-version and --describe-snapshot PATH: print, then exit. */
	bool snapshot_version;
	const char *describe_snapshot;
	bool firecracker;           /* invoked as `firecracker`: its flags and defaults */
	bool no_seccomp;            /* --no-seccomp: no per-thread filters (src/sandbox) */
	bool no_sandbox;            /* --no-sandbox: no process sandbox (src/sandbox) */
	/*
	 * --sandbox: the process sandbox as `firecracker` too, without --jail
	 * (where an unjailed Firecracker has none, and paths in requests are
	 * the caller's).
	 */
	bool sandbox;
	const char *snapshot_dir;   /* --snapshot-dir: kept writable by the sandbox; NULL: none */
	const char *migrate_dir;    /* --migrate-dir: kept by the sandbox for PUT /migrate; NULL: none */
	bool migrate_net;           /* --migrate-net: the host's network kept, for a tcp: migration */
	const char *migrate_tls;    /* --migrate-tls DIR: the migration's TLS credentials; NULL: none */
	const char *fork_dir;       /* --fork-dir: PUT /fork's clones beneath it; NULL: no forks */
	const char *fork_taps;      /* --fork-taps PREFIX: the TAPs a clone may be given; NULL: none */
	bool fork_hostfwd;          /* --fork-hostfwd: a clone's user-mode NIC may forward ports */
	/* --jail DIR --uid U --gid G as given: src/sandbox checks them; NULL: not given. */
	const char *jail, *jail_uid, *jail_gid;
	bool new_pid_ns;            /* --new-pid-ns: the VM as pid 1 of a PID namespace */
	const char *pid_file;       /* --pid-file: where its pid goes; NULL: not given */
};

/* 0, or -EINVAL with one line in e. */
int cli_serve_parse(int argc, char **argv, struct serve_opts *o, struct err *e);
int cli_firecracker_parse(int argc, char **argv, struct serve_opts *o, struct err *e);
void cli_serve_usage(FILE *out);
void cli_firecracker_usage(FILE *out);

#endif
