/*
 * `hearth serve`, and the binary run as `firecracker`: one table of flags
 * for both (the modes say which takes which), so each Firecracker flag
 * means the same under either name. Flags Hearth cannot honour are in the
 * table too, refused by name, never ignored.
 */
#include "cli/serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/server.h"
#include "cli/cli.h"
#include "zygote/zygote.h"
#include "control/control.h"
#include "hearth-config.h"
#include "snapshot/file.h"
#include "snapshot/format.h"
#include "util/log.h"
#include "util/thread_name.h"
#include "vmm/logger.h"

#define SERVE 1u    /* hearth serve */
#define FC 2u       /* firecracker */

static int arg_log_path(void *ctx, const struct opt *o, const char *v, struct err *e)
{
	((struct serve_opts *)ctx)->host.logger.log_path = (char *)v;
	return 0;
}

static int arg_payload(void *ctx, const struct opt *o, const char *v, struct err *e)
{
	uint64_t n;

	if (opt_parse_uint(v, 1, 1ull << 30, &n))
		return err_set(e, true, -EINVAL, "--http-api-max-payload-size '%.64s': want 1 to "
			       "%llu bytes", v, 1ull << 30);
	((struct serve_opts *)ctx)->max_payload = (size_t)n;
	return 0;
}

static int arg_level(void *ctx, const struct opt *o, const char *v, struct err *e)
{
	struct serve_opts *so = ctx;

	if (vm_log_level_parse(v, &so->host.logger.level))
		return err_set(e, true, -EINVAL, "--level '%.64s': want Error, Warning (or Warn), Info, "
			       "Debug, Trace or Off, in any case", v);
	so->host.level_set = true;
	return 0;
}

/* --start-time-us, --start-time-cpu-us, --parent-cpu-time-us: microseconds. */
static int arg_us(void *ctx, const struct opt *o, const char *v, struct err *e)
{
	struct host_opts *h = &((struct serve_opts *)ctx)->host;
	uint64_t *out = &h->parent_cpu_time_us;
	bool *have = &h->have_parent_cpu;

	if (!strcmp(o->name, "--start-time-us")) {
		out = &h->start_time_us;
		have = &h->have_start_time;
	} else if (!strcmp(o->name, "--start-time-cpu-us")) {
		out = &h->start_time_cpu_us;
		have = &h->have_start_cpu;
	}
	if (opt_parse_uint(v, 0, UINT64_MAX, out))
		return err_set(e, true, -EINVAL, "%s '%.64s': want microseconds, a non-negative "
			       "integer", o->name, v);
	*have = true;
	return 0;
}

/* --mmds-size-limit: the store's bytes of compact JSON (docs/api.md). */
static int arg_mmds_limit(void *ctx, const struct opt *o, const char *v, struct err *e)
{
	uint64_t n;

	if (opt_parse_uint(v, 1, 1ull << 30, &n))
		return err_set(e, true, -EINVAL, "--mmds-size-limit '%.64s': want 1 to %llu bytes",
			       v, 1ull << 30);
	((struct serve_opts *)ctx)->host.mmds_size_limit = (size_t)n;
	return 0;
}

#define FLAG(n, f) OPT_FLAG(n, struct serve_opts, f)
#define STR(n, f) OPT_STRING(n, struct serve_opts, f)

static const struct opt serve_opts_table[] = {
	OPT_HELP_IN("--help", struct serve_opts, help, 0),
	OPT_HELP_IN("-h", struct serve_opts, help, SERVE),
	FLAG("--version", version),
	OPT_VERBOSITY(struct serve_opts, verbose, SERVE),
	STR("--api-sock", api_sock),
	STR("--config-file", host.config_file),
	FLAG("--no-api", no_api),
	{ .name = "--kvm", .arg = OPT_VALUE, .kind = OPT_STR, .modes = SERVE,
	  .off = OPT_FIELD(struct serve_opts, host.kvm_path, const char *) },
	STR("--id", host.id),
	{ .name = "--kernel-cache", .arg = OPT_VALUE, .kind = OPT_STR, .modes = SERVE,
	  .off = OPT_FIELD(struct serve_opts, host.kernel_cache, const char *) },
	OPT_CALL("--http-api-max-payload-size", OPT_VALUE, arg_payload),
	OPT_CALL("--log-path", OPT_VALUE, arg_log_path),
	OPT_CALL("--level", OPT_VALUE, arg_level),
	FLAG("--show-level", host.logger.show_level),
	FLAG("--show-log-origin", host.logger.show_log_origin),
	STR("--metrics-path", host.metrics_path),
	/* Firecracker's flag and ours: the command then leaves the per-thread filters off. */
	FLAG("--no-seccomp", no_seccomp),
	/* Hearth's process sandbox (docs/security.md, "Sandbox"); Firecracker leaves these to its jailer. */
	FLAG("--no-sandbox", no_sandbox),
	FLAG("--sandbox", sandbox),
	STR("--jail", jail),
	STR("--snapshot-dir", snapshot_dir),
	/* Hearth's: PUT /fork's clones are made beneath it (docs/api.md "Fork and reset"). */
	STR("--fork-dir", fork_dir),
	/* Hearth's: what a clone's network_overrides may ask (the zygote's policy). */
	STR("--fork-taps", fork_taps),
	FLAG("--fork-hostfwd", fork_hostfwd),
	/* Hearth's: PUT /migrate's destination socket lies beneath it (docs/migration.md). */
	STR("--migrate-dir", migrate_dir),
	/* Hearth's: the host's network kept for PUT /migrate to a tcp: destination. */
	FLAG("--migrate-net", migrate_net),
	/* Hearth's: mutual TLS for PUT /migrate and /migrate/incoming with "tls": true. */
	STR("--migrate-tls", migrate_tls),
	STR("--uid", jail_uid),
	STR("--gid", jail_gid),
	/* Firecracker's jailer's flag, taken by Hearth itself (as --jail is). */
	FLAG("--new-pid-ns", new_pid_ns),
	STR("--pid-file", pid_file),
	OPT_CALL("--start-time-us", OPT_VALUE, arg_us),
	OPT_CALL("--start-time-cpu-us", OPT_VALUE, arg_us),
	OPT_CALL("--parent-cpu-time-us", OPT_VALUE, arg_us),
	OPT_REFUSED("--module", OPT_VALUE, "Hearth's log has no module paths to filter on"),
	FLAG("--boot-timer", host.boot_timer),
	FLAG("--mem-merge", host.mem_merge),
	OPT_REFUSED("--seccomp-filter", OPT_VALUE, "Hearth builds its own per-thread filters (--no-seccomp turns them off)"),
	STR("--metadata", host.metadata),
	OPT_CALL("--mmds-size-limit", OPT_VALUE, arg_mmds_limit),
	FLAG("--snapshot-version", snapshot_version),
	STR("--describe-snapshot", describe_snapshot),
	/* Firecracker 1.13's: every virtio device on PCI (virtio/pci.h). */
	FLAG("--enable-pci", host.pci),
	OPT_END,
};

static int serve_fault(const struct opt_cmd *cmd, enum opt_fault f, const char *arg,
		       const struct opt *o, struct err *e)
{
	switch (f) {
	case OPT_REFUSED:
		return err_set(e, true, -EINVAL, "%s is not supported by Hearth: %s", o->name, o->why);
	case OPT_NO_VALUE:
		return err_set(e, true, -EINVAL, "option '%s' takes no value", o->name);
	case OPT_NEEDS_VALUE:
		return err_set(e, true, -EINVAL, "option '%s' needs a value", o->name);
	case OPT_UNKNOWN:
	case OPT_UNEXPECTED:
		break;
	}
	return err_set(e, true, -EINVAL, "unknown option '%.128s' (see '%s --help')", arg,
		       cmd->name);
}

static int args_check(struct serve_opts *o, struct err *e)
{
	if (o->help || o->version)
		return 0;
	if (o->host.id && ctl_check_id(o->host.id, e))
		return -EINVAL;
	if (o->no_api && !o->host.config_file)
		return err_set(e, true, -EINVAL, "--no-api needs --config-file: nothing would "
			       "configure the VM");
	if (o->no_api && o->api_sock)
		return err_set(e, true, -EINVAL, "--no-api and --api-sock exclude each other");
	if (o->host.have_parent_cpu && !o->host.have_start_cpu)
		return err_set(e, true, -EINVAL, "--parent-cpu-time-us needs --start-time-cpu-us: "
			       "it is added to the startup CPU time measured from there");
	if (o->sandbox && o->no_sandbox)
		return err_set(e, true, -EINVAL, "--sandbox and --no-sandbox exclude each other");
	/*
	 * As an unjailed Firecracker, `firecracker` without --jail keeps no
	 * sandbox of the process: paths in requests (snapshots, logs, drive
	 * swaps) are the caller's. Its per-thread seccomp filters stay.
	 * --sandbox, or the jailer's --jail or --new-pid-ns, seals it as
	 * `hearth serve` does by default.
	 */
	if (o->firecracker && !o->jail && !o->new_pid_ns && !o->sandbox)
		o->no_sandbox = true;
	/* Firecracker's default socket; `hearth serve` wants it named. */
	if (!o->no_api && !o->api_sock && o->firecracker)
		o->api_sock = SERVE_FIRECRACKER_SOCK;
	if (!o->no_api && !o->api_sock)
		return err_set(e, true, -EINVAL, "serve needs --api-sock PATH (or --no-api "
			       "--config-file FILE)");
	return 0;
}

static int args_parse(const struct opt_cmd *cmd, int argc, char **argv, int first,
		      struct serve_opts *o, struct err *e)
{
	int ret;

	memset(o, 0, sizeof(*o));
	o->max_payload = API_DEFAULT_MAX_PAYLOAD;
	o->host.logger.level = VM_LOG_INFO;
	o->firecracker = cmd->mode == FC;
	ret = opt_parse(cmd, argc, argv, first, o, e);
	/* Firecracker's default: the API's payload limit, whatever it was set to. */
	if (!ret && !o->host.mmds_size_limit)
		o->host.mmds_size_limit = o->max_payload;
	return ret ? ret : args_check(o, e);
}

int cli_serve_parse(int argc, char **argv, struct serve_opts *o, struct err *e)
{
	static const struct opt_cmd cmd = { "hearth serve", serve_opts_table, SERVE, false,
					    serve_fault };

	return args_parse(&cmd, argc, argv, 2, o, e);
}

int cli_firecracker_parse(int argc, char **argv, struct serve_opts *o, struct err *e)
{
	static const struct opt_cmd cmd = { "firecracker", serve_opts_table, FC, false,
					    serve_fault };

	return args_parse(&cmd, argc, argv, 1, o, e);
}

static const char flags_help[] =
	"  --api-sock PATH              serve the API on this Unix socket\n"
	"  --config-file FILE           boot at once from FILE (the JSON of GET /vm/config)\n"
	"  --no-api                     no socket (needs --config-file)\n"
	"  --kvm PATH                   (hearth serve) KVM device (default /dev/kvm)\n"
	"  --kernel-cache DIR           (hearth serve) keep each bzImage's decompressed\n"
	"                               kernel in DIR, keyed by its SHA-256 (docs/running.md)\n"
	"  --id ID                      the instance id (1 to 64 letters, digits and '-')\n"
	"  --http-api-max-payload-size BYTES   request body limit (default %d)\n"
	"  --log-path PATH              log to PATH (a file or a FIFO), as PUT /logger\n"
	"  --level LEVEL                Error, Warning (or Warn), Info (default), Debug,\n"
	"                               Trace or Off, in any case\n"
	"  --show-level, --show-log-origin   add the level, the source file and line\n"
	"  --metrics-path PATH          metrics lines to PATH, as PUT /metrics\n"
	"  --metadata FILE              the MMDS's JSON at start, as PUT /mmds\n"
	"  --mmds-size-limit BYTES      the MMDS store's limit (default: the payload limit)\n"
	"  --mem-merge                  offer guest RAM to KSM (QEMU's mem-merge; docs/density.md)\n"
	"  --no-seccomp                 run without the per-thread seccomp filters\n"
	"  --no-sandbox                 run without the process sandbox (docs/security.md)\n"
	"  --sandbox                    as firecracker: the process sandbox without --jail\n"
	"                               (off by default there, as in an unjailed Firecracker)\n"
	"  --snapshot-dir DIR           with the sandbox, where snapshots may be written\n"
	"                               after boot (not /, /run, /tmp, /dev or $HOME)\n"
	"  --migrate-dir DIR            with the sandbox, where PUT /migrate finds its\n"
	"                               destination's socket (docs/migration.md)\n"
	"  --migrate-net                with the sandbox, keep the host's network (TCP)\n"
	"                               for PUT /migrate to a tcp: destination\n"
	"  --migrate-tls DIR            migrations with \"tls\": true use the certificates\n"
	"                               in DIR (docs/migration.md, Transport security)\n"
	"  --fork-dir DIR               PUT /fork: clones are made, and their files and\n"
	"                               sockets named, beneath DIR (docs/api.md)\n"
	"  --fork-taps PREFIX           a clone may be given a TAP whose name starts with\n"
	"                               PREFIX (none without it)\n"
	"  --fork-hostfwd               a clone's user-mode NIC may forward host ports or\n"
	"                               reach the host's loopback (not without it)\n"
	"  --jail DIR --uid U --gid G   (root only) chroot into DIR, run as U:G; the API's\n"
	"                               paths are then resolved inside DIR\n"
	"  --new-pid-ns --pid-file PATH run the VM as pid 1 of a new PID namespace: this\n"
	"                               process writes its pid to PATH (default with --jail:\n"
	"                               DIR/NAME.pid, NAME hearth or firecracker) and\n"
	"                               exits 0 at once (docs/running.md)\n"
	"  --boot-timer                 the guest's write of 123 at 0xc0000000 logs its boot\n"
	"                               time (Firecracker's boot timer)\n"
	"  --snapshot-version           print the snapshot format this binary writes\n"
	"  --describe-snapshot FILE     print the snapshot format FILE has\n"
	"  --start-time-us, --start-time-cpu-us, --parent-cpu-time-us US\n"
	"                               report the process's startup time in the metrics\n";

void cli_serve_usage(FILE *out)
{
	fprintf(out,
		"Usage: hearth serve --api-sock PATH [--config-file FILE] [--id ID] [FLAGS] [-v | -q]\n"
		"       hearth serve --no-api --config-file FILE [--id ID] [FLAGS] [-v | -q]\n"
		"\n"
		"Serves Firecracker's HTTP API on the Unix socket PATH; the guest's COM1 is this\n"
		"process's stdin and stdout (or PUT /serial's file).\n\n");
	fprintf(out, flags_help, API_DEFAULT_MAX_PAYLOAD);
	fprintf(out,
		"\n"
		"Exit codes: as 'hearth run' once a VM ran; 2 bad usage, a bad config file, or a\n"
		"            log or metrics file that cannot be opened; 3 stopped by SIGINT,\n"
		"            SIGTERM or SIGHUP (with or without a VM); 148 a thread made a\n"
		"            syscall its seccomp filter forbids.\n");
}

void cli_firecracker_usage(FILE *out)
{
	fprintf(out,
		"Usage: firecracker [--api-sock PATH] [--config-file FILE] [FLAGS]\n"
		"\n"
		"Hearth run as 'firecracker': Firecracker's flags, served as 'hearth serve'.\n"
		"The default socket is %s.\n\n", SERVE_FIRECRACKER_SOCK);
	fprintf(out, flags_help, API_DEFAULT_MAX_PAYLOAD);
	fprintf(out,
		"\n"
		"Refused (exit 2): --module, --seccomp-filter.\n");
}

/*
 * Firecracker's --snapshot-version (the snapshot format this binary
 * writes) and --describe-snapshot PATH (the one a state file has), as
 * "vMAJOR.MINOR.PATCH" on stdout: Hearth's format version is its major.
 */
static int snapshot_version_main(const struct serve_opts *o)
{
	struct err e = ERR_INIT;
	struct snap_file f;
	void *buf;

	if (!o->describe_snapshot) {
		printf("v%u.0.0\n", SNAP_FORMAT_VERSION);
		return HEARTH_EXIT_OK;
	}
	if (snap_file_load(o->describe_snapshot, &f, &buf, &e))
		return log_fail(&e);
	printf("v%u.0.0\n", f.format_version);
	snap_file_release(&f);
	free(buf);
	return HEARTH_EXIT_OK;
}

/* Both names: the flags, the sandbox, then the process host with the API. */
static int serve_main(int argc, char **argv, bool firecracker)
{
	struct err e = ERR_INIT;
	struct serve_opts o;
	struct host_sandbox sb;
	int ret;

	ret = firecracker ? cli_firecracker_parse(argc, argv, &o, &e)
			  : cli_serve_parse(argc, argv, &o, &e);
	if (ret) {
		e.usage = true;
		return log_fail(&e);
	}
	if (o.help) {
		(firecracker ? cli_firecracker_usage : cli_serve_usage)(stdout);
		return HEARTH_EXIT_OK;
	}
	if (o.snapshot_version || o.describe_snapshot)
		return snapshot_version_main(&o);
	if (o.version) {
		/*
		 * Firecracker's first line, which version checks parse (Kata's
		 * wants at least 0.21.1); then who answers.
		 */
		if (firecracker)
			printf("Firecracker v%s\n\nhearth %s, implementing Firecracker %s's API\n",
			       HEARTH_FIRECRACKER_VERSION, HEARTH_VERSION,
			       HEARTH_FIRECRACKER_VERSION);
		else
			printf("hearth %s\n", HEARTH_VERSION);
		return HEARTH_EXIT_OK;
	}
	cli_log_level(o.verbose);
	/* Without a log file, --level is stderr's (Firecracker logs to stderr then); errors always show. */
	if (o.host.level_set && !o.host.logger.log_path) {
		int level = vm_logger_level(o.host.logger.level);

		log_set_level(level < LOG_ERR ? LOG_ERR : (enum log_level)level);
	}
	if (o.migrate_tls && o.no_api) {
		e = (struct err){ .usage = true, .msg = "--migrate-tls needs the API (a migration "
				  "is asked for there), not --no-api" };
		return log_fail(&e);
	}
	sb = (struct host_sandbox){ .no_seccomp = o.no_seccomp, .no_sandbox = o.no_sandbox,
				   .jail = o.jail, .uid = o.jail_uid, .gid = o.jail_gid,
				   .api_sock = o.no_api ? NULL : o.api_sock,
				   .snapshot_dir = o.snapshot_dir, .migrate_dir = o.migrate_dir,
				   .migrate_net = o.migrate_net,
				   .migrate_tls = o.migrate_tls, .tls_out = &o.host.migrate_tls,
				   .new_pid_ns = o.new_pid_ns,
				   .pid_file = o.pid_file, .firecracker = firecracker,
				   .fork_taps = o.fork_taps, .fork_hostfwd = o.fork_hostfwd };
	ret = host_sandbox_enter(&sb);
	if (ret)
		return ret;
	if (o.fork_dir && zygote_start(o.fork_dir, &sb, o.host.kvm_path, &o.host.zygote_fd,
					   &e))
		return log_fail(&e);
	ret = host_sandbox_tls(&sb);
	if (ret)
		return ret;
	o.host.has_zygote = o.fork_dir != NULL;
	if (firecracker)
		o.host.product = "Firecracker";
	return host_process_run(&o.host, NULL, o.no_api ? NULL : o.api_sock, o.max_payload);
}

int cli_serve_main(int argc, char **argv)
{
	return serve_main(argc, argv, false);
}

int cli_firecracker_main(int argc, char **argv)
{
	thread_name_use_firecracker(true);
	return serve_main(argc, argv, true);
}
