/*
 * The command line of `hearth serve` and of the binary run as
 * `firecracker`: one table of flags for both, so each Firecracker flag
 * means the same under either name. Flags Hearth cannot honour are refused
 * by name, never ignored.
 */
#include "api/serve.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/controller.h"
#include "api/server.h"
#include "vmm/cli.h"

enum arg_mode { ARG_SERVE = 1, ARG_FC = 2, ARG_BOTH = 3 };

struct arg_spec {
	const char *name;
	bool value;              /* takes one */
	unsigned int modes;      /* enum arg_mode */
	const char *unsupported; /* non-NULL: refused, with this reason */
	int (*apply)(struct serve_opts *o, const char *v, char *err, size_t errlen);
};

#define FLAG(fn, field, val)                                                         \
	static int fn(struct serve_opts *o, const char *v, char *err, size_t errlen) \
	{                                                                            \
		(void)v;                                                             \
		(void)err;                                                           \
		(void)errlen;                                                        \
		o->field = val;                                                      \
		return 0;                                                            \
	}

FLAG(arg_help, help, true)
FLAG(arg_version, version, true)
FLAG(arg_verbose, verbose, 1)
FLAG(arg_quiet, verbose, -1)
FLAG(arg_no_api, no_api, true)
FLAG(arg_api_sock, api_sock, v)
FLAG(arg_config_file, config_file, v)
FLAG(arg_id, id, v)
FLAG(arg_log_path, logger.log_path, (char *)v)
FLAG(arg_show_level, logger.show_level, true)
FLAG(arg_show_origin, logger.show_log_origin, true)
FLAG(arg_metrics_path, metrics_path, v)
FLAG(arg_no_sandbox, no_sandbox, true)
FLAG(arg_jail, jail, v)
FLAG(arg_snapshot_dir, snapshot_dir, v)
FLAG(arg_jail_uid, jail_uid, v)
FLAG(arg_jail_gid, jail_gid, v)
FLAG(arg_kvm, kvm_path, v)

/* Firecracker's flag and ours: main() then leaves the per-thread filters off. */
static int arg_no_seccomp(struct serve_opts *o, const char *v, char *err, size_t errlen)
{
	o->no_seccomp = true;
	(void)v;
	(void)err;
	(void)errlen;
	return 0;
}

static int arg_payload(struct serve_opts *o, const char *v, char *err, size_t errlen)
{
	uint64_t n;

	if (cli_parse_uint(v, 1, 1ull << 30, &n)) {
		snprintf(err, errlen, "--http-api-max-payload-size '%.64s': want 1 to %llu bytes", v,
			 1ull << 30);
		return -EINVAL;
	}
	o->max_payload = (size_t)n;
	return 0;
}

static int arg_level(struct serve_opts *o, const char *v, char *err, size_t errlen)
{
	if (vm_log_level_parse(v, &o->logger.level)) {
		snprintf(err, errlen, "--level '%.64s': want Error, Warning, Info, Debug, Trace or "
			 "Off", v);
		return -EINVAL;
	}
	o->level_set = true;
	return 0;
}

static int parse_us(const char *flag, const char *v, uint64_t *out, bool *have, char *err,
		    size_t errlen)
{
	if (cli_parse_uint(v, 0, UINT64_MAX, out)) {
		snprintf(err, errlen, "%s '%.64s': want microseconds, a non-negative integer", flag,
			 v);
		return -EINVAL;
	}
	*have = true;
	return 0;
}

static int arg_start_time(struct serve_opts *o, const char *v, char *err, size_t errlen)
{
	return parse_us("--start-time-us", v, &o->start_time_us, &o->have_start_time, err,
			errlen);
}

static int arg_start_cpu(struct serve_opts *o, const char *v, char *err, size_t errlen)
{
	return parse_us("--start-time-cpu-us", v, &o->start_time_cpu_us, &o->have_start_cpu, err,
			errlen);
}

static int arg_parent_cpu(struct serve_opts *o, const char *v, char *err, size_t errlen)
{
	return parse_us("--parent-cpu-time-us", v, &o->parent_cpu_time_us, &o->have_parent_cpu,
			err, errlen);
}

static const char no_mmds[] = "Hearth has no MMDS yet";
static const char no_snapshots[] = "Hearth's snapshot files carry their own format version (docs/snapshot-format.md)";

static const struct arg_spec args[] = {
	{ "--help", false, ARG_BOTH, NULL, arg_help },
	{ "-h", false, ARG_SERVE, NULL, arg_help },
	{ "--version", false, ARG_BOTH, NULL, arg_version },
	{ "--verbose", false, ARG_SERVE, NULL, arg_verbose },
	{ "-v", false, ARG_SERVE, NULL, arg_verbose },
	{ "--quiet", false, ARG_SERVE, NULL, arg_quiet },
	{ "-q", false, ARG_SERVE, NULL, arg_quiet },
	{ "--api-sock", true, ARG_BOTH, NULL, arg_api_sock },
	{ "--config-file", true, ARG_BOTH, NULL, arg_config_file },
	{ "--no-api", false, ARG_BOTH, NULL, arg_no_api },
	{ "--kvm", true, ARG_SERVE, NULL, arg_kvm },
	{ "--id", true, ARG_BOTH, NULL, arg_id },
	{ "--http-api-max-payload-size", true, ARG_BOTH, NULL, arg_payload },
	{ "--log-path", true, ARG_BOTH, NULL, arg_log_path },
	{ "--level", true, ARG_BOTH, NULL, arg_level },
	{ "--show-level", false, ARG_BOTH, NULL, arg_show_level },
	{ "--show-log-origin", false, ARG_BOTH, NULL, arg_show_origin },
	{ "--metrics-path", true, ARG_BOTH, NULL, arg_metrics_path },
	{ "--no-seccomp", false, ARG_BOTH, NULL, arg_no_seccomp },
	/* Hearth's process sandbox (README "Sandbox"); Firecracker leaves these to its jailer. */
	{ "--no-sandbox", false, ARG_BOTH, NULL, arg_no_sandbox },
	{ "--jail", true, ARG_BOTH, NULL, arg_jail },
	{ "--snapshot-dir", true, ARG_BOTH, NULL, arg_snapshot_dir },
	{ "--uid", true, ARG_BOTH, NULL, arg_jail_uid },
	{ "--gid", true, ARG_BOTH, NULL, arg_jail_gid },
	{ "--start-time-us", true, ARG_BOTH, NULL, arg_start_time },
	{ "--start-time-cpu-us", true, ARG_BOTH, NULL, arg_start_cpu },
	{ "--parent-cpu-time-us", true, ARG_BOTH, NULL, arg_parent_cpu },
	{ "--module", true, ARG_BOTH, "Hearth's log has no module paths to filter on", NULL },
	{ "--boot-timer", false, ARG_BOTH, "there is no boot timer device", NULL },
	{ "--seccomp-filter", true, ARG_BOTH, "Hearth builds its own per-thread filters (--no-seccomp turns them off)", NULL },
	{ "--metadata", true, ARG_BOTH, no_mmds, NULL },
	{ "--mmds-size-limit", true, ARG_BOTH, no_mmds, NULL },
	{ "--snapshot-version", false, ARG_BOTH, no_snapshots, NULL },
	{ "--describe-snapshot", true, ARG_BOTH, no_snapshots, NULL },
	{ "--enable-pci", false, ARG_BOTH, "Hearth's devices are on virtio-mmio only", NULL },
	{ NULL, false, 0, NULL, NULL },
};

/* a is "--name" or "--name=value"; *inline_v is the value after '=' (or NULL). */
static const struct arg_spec *arg_find(const char *a, enum arg_mode mode, const char **inline_v)
{
	const char *eq = strchr(a, '=');
	size_t n = eq && a[0] == '-' && a[1] == '-' ? (size_t)(eq - a) : strlen(a);

	*inline_v = n < strlen(a) ? a + n + 1 : NULL;
	for (const struct arg_spec *s = args; s->name; s++)
		if ((s->modes & mode) && strlen(s->name) == n && !strncmp(s->name, a, n))
			return s;
	return NULL;
}

static int args_check(struct serve_opts *o, enum arg_mode mode, char *err, size_t errlen)
{
	if (o->help || o->version)
		return 0;
	if (o->id && api_ctl_check_id(o->id, err, errlen))
		return -EINVAL;
	if (o->no_api && !o->config_file) {
		snprintf(err, errlen, "--no-api needs --config-file: nothing would configure the VM");
		return -EINVAL;
	}
	if (o->no_api && o->api_sock) {
		snprintf(err, errlen, "--no-api and --api-sock exclude each other");
		return -EINVAL;
	}
	if (o->have_parent_cpu && !o->have_start_cpu) {
		snprintf(err, errlen, "--parent-cpu-time-us needs --start-time-cpu-us: it is added "
			 "to the startup CPU time measured from there");
		return -EINVAL;
	}
	/* Firecracker's default socket; `hearth serve` wants it named. */
	if (!o->no_api && !o->api_sock && mode == ARG_FC)
		o->api_sock = SERVE_FIRECRACKER_SOCK;
	if (!o->no_api && !o->api_sock) {
		snprintf(err, errlen, "serve needs --api-sock PATH (or --no-api --config-file FILE)");
		return -EINVAL;
	}
	return 0;
}

static int args_parse(int argc, char **argv, int first, enum arg_mode mode,
		      struct serve_opts *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	o->max_payload = API_DEFAULT_MAX_PAYLOAD;
	o->logger.level = VM_LOG_INFO;
	o->firecracker = mode == ARG_FC;
	for (int i = first; i < argc; i++) {
		const char *a = argv[i], *v;
		const struct arg_spec *s = arg_find(a, mode, &v);
		int ret;

		if (!s) {
			snprintf(err, errlen, "unknown option '%.128s' (see '%s --help')", a,
				 mode == ARG_FC ? "firecracker" : "hearth serve");
			return -EINVAL;
		}
		if (s->unsupported) {
			snprintf(err, errlen, "%s is not supported by Hearth: %s", s->name,
				 s->unsupported);
			return -EINVAL;
		}
		if (!s->value && v) {
			snprintf(err, errlen, "option '%s' takes no value", s->name);
			return -EINVAL;
		}
		if (s->value && !v) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "option '%s' needs a value", s->name);
				return -EINVAL;
			}
			v = argv[++i];
		}
		ret = s->apply(o, v, err, errlen);
		if (ret)
			return ret;
		if (o->help)
			return 0;
	}
	return args_check(o, mode, err, errlen);
}

int serve_parse(int argc, char **argv, struct serve_opts *o, char *err, size_t errlen)
{
	return args_parse(argc, argv, 2, ARG_SERVE, o, err, errlen);
}

int serve_parse_firecracker(int argc, char **argv, struct serve_opts *o, char *err,
			    size_t errlen)
{
	return args_parse(argc, argv, 1, ARG_FC, o, err, errlen);
}

static const char flags_help[] =
	"  --api-sock PATH              serve the API on this Unix socket\n"
	"  --config-file FILE           boot at once from FILE (the JSON of GET /vm/config)\n"
	"  --no-api                     no socket (needs --config-file)\n"
	"  --kvm PATH                   (hearth serve) KVM device (default /dev/kvm)\n"
	"  --id ID                      the instance id (1 to 64 letters, digits and '-')\n"
	"  --http-api-max-payload-size BYTES   request body limit (default %d)\n"
	"  --log-path PATH              log to PATH (a file or a FIFO), as PUT /logger\n"
	"  --level LEVEL                Error, Warning, Info (default), Debug, Trace or Off\n"
	"  --show-level, --show-log-origin   add the level, the source file and line\n"
	"  --metrics-path PATH          metrics lines to PATH, as PUT /metrics\n"
	"  --no-seccomp                 run without the per-thread seccomp filters\n"
	"  --no-sandbox                 run without the process sandbox (see README)\n"
	"  --snapshot-dir DIR           with the sandbox, where snapshots may be written\n"
	"                               after boot (besides the API socket's directory)\n"
	"  --jail DIR --uid U --gid G   (root only) chroot into DIR, run as U:G; the API's\n"
	"                               paths are then resolved inside DIR\n"
	"  --start-time-us, --start-time-cpu-us, --parent-cpu-time-us US\n"
	"                               report the process's startup time in the metrics\n";

void serve_usage(FILE *out)
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

void serve_usage_firecracker(FILE *out)
{
	fprintf(out,
		"Usage: firecracker [--api-sock PATH] [--config-file FILE] [FLAGS]\n"
		"\n"
		"Hearth run as 'firecracker': Firecracker's flags, served as 'hearth serve'.\n"
		"The default socket is %s.\n\n", SERVE_FIRECRACKER_SOCK);
	fprintf(out, flags_help, API_DEFAULT_MAX_PAYLOAD);
	fprintf(out,
		"\n"
		"Refused (exit 2): --boot-timer, --module, --seccomp-filter, --metadata,\n"
		"--mmds-size-limit, --snapshot-version, --describe-snapshot, --enable-pci.\n");
}
