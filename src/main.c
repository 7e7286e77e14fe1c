#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/serve.h"
#include "api/server.h"
#include "hearth-config.h"
#include "sandbox/confine.h"
#include "sandbox/policy.h"
#include "sandbox/sandbox.h"
#include "snapshot/restore_cli.h"
#include "snapshot/snap_cli.h"
#include "snapshot/snapshot.h"
#include "snapshot/memfile_layout.h"
#include "util/log.h"
#include "vmm/cli.h"
#include "vmm/logger.h"
#include "vmm/runner.h"

/* Snapshots for `hearth serve`: the API layer sits above src/snapshot and reaches it through these. */
static const struct serve_snap_hooks snap_serve_hooks = {
	.create = snap_create,
	.load = snap_load,
};

/* The per-thread filters, before any thread starts; --no-seccomp leaves them off. */
static void main_sandbox(bool no_seccomp)
{
	char err[256];

	if (no_seccomp) {
		log_debug("seccomp filters are off (--no-seccomp)");
		return;
	}
	if (sandbox_init(err, sizeof(err)))
		die("%s", err);
}

/*
 * The process sandbox (src/sandbox/confine.h), after the filters are
 * built and before any thread starts. Bad --jail values are usage errors.
 */
static void main_confine(bool no_sandbox, bool no_seccomp, const char *jail, const char *uid,
			 const char *gid, const char *api_sock, const char *snapshot_dir,
			 bool no_nics)
{
	struct sandbox_opts so;
	char err[512];
	const char *probe = getenv("HEARTH_SANDBOX_PROBE");

	if (sandbox_opts_parse(no_sandbox, no_seccomp, jail, uid, gid, geteuid(), &so, err,
			       sizeof(err)))
		die_code(HEARTH_EXIT_USAGE, "%s", err);
	so.probe = probe && !strcmp(probe, "1");
	so.no_nics = no_nics;
	/* The API socket's directory: unlinked at exit, and bound after the seal when booting at once. */
	if (api_sock && !so.jail) {
		int ret = sandbox_allow_parent(api_sock);

		if (ret)
			die_code(HEARTH_EXIT_USAGE, "--api-sock '%s': %s", api_sock,
				 ret == -ENAMETOOLONG ? "path too long" : strerror(-ret));
	}
	/* Snapshots are written after the seal, into a directory it must keep. */
	if (snapshot_dir && !so.jail) {
		int ret = sandbox_allow_dir(snapshot_dir);

		if (ret)
			die_code(HEARTH_EXIT_USAGE, "--snapshot-dir '%s': %s", snapshot_dir,
				 ret == -ENAMETOOLONG ? "path too long" : strerror(-ret));
	}
	if (sandbox_prepare(&so, err, sizeof(err)))
		die("%s", err);
	runner_set_seal(sandbox_seal);
}

/*
 * `hearth serve`, the API front end (src/api), or the binary run under the
 * name `firecracker` (a symlink), which takes Firecracker's flags.
 */
static int main_serve(int argc, char **argv, bool firecracker)
{
	struct serve_opts o;
	char err[VM_CONFIG_ERR_MAX + 256];
	int ret;

	ret = firecracker ? serve_parse_firecracker(argc, argv, &o, err, sizeof(err))
			  : serve_parse(argc, argv, &o, err, sizeof(err));
	if (ret)
		die_code(HEARTH_EXIT_USAGE, "%s", err);
	if (o.help) {
		(firecracker ? serve_usage_firecracker : serve_usage)(stdout);
		return HEARTH_EXIT_OK;
	}
	if (o.version) {
		if (firecracker)
			printf("Firecracker v%s (hearth %s)\n", HEARTH_VERSION, HEARTH_VERSION);
		else
			printf("hearth %s\n", HEARTH_VERSION);
		return HEARTH_EXIT_OK;
	}
	if (o.verbose > 0)
		log_set_level(LOG_DEBUG);
	else if (o.verbose < 0)
		log_set_level(LOG_ERR);
	/* Without a log file, --level is stderr's (Firecracker logs to stderr then); errors always show. */
	if (o.level_set && !o.logger.log_path) {
		int level = vm_logger_level(o.logger.level);

		log_set_level(level < LOG_ERR ? LOG_ERR : (enum log_level)level);
	}
	main_sandbox(o.no_seccomp);
	main_confine(o.no_sandbox, o.no_seccomp, o.jail, o.jail_uid, o.jail_gid,
		     o.no_api ? NULL : o.api_sock, o.snapshot_dir, false);
	o.snap = &snap_serve_hooks;
	return serve_run(&o, NULL);
}

/* `hearth restore`: `hearth serve` whose VM is a snapshot's. */
static int main_restore(int argc, char **argv)
{
	struct snap_restore_opts r;
	struct serve_opts o = { .max_payload = API_DEFAULT_MAX_PAYLOAD };
	char err[512];

	if (snap_restore_parse(argc, argv, &r, err, sizeof(err)))
		die_code(HEARTH_EXIT_USAGE, "%s", err);
	if (r.help) {
		snap_restore_usage(stdout);
		return HEARTH_EXIT_OK;
	}
	if (r.verbose > 0)
		log_set_level(LOG_DEBUG);
	else if (r.verbose < 0)
		log_set_level(LOG_ERR);
	main_sandbox(r.no_seccomp);
	main_confine(r.no_sandbox, r.no_seccomp, NULL, NULL, NULL, r.api_sock, NULL, false);
	o.snap = &snap_serve_hooks;
	o.restore = &r.load;
	o.api_sock = r.api_sock;
	o.no_api = !r.api_sock;
	return serve_run(&o, NULL);
}

static bool invoked_as_firecracker(const char *argv0)
{
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;

	return argv0 && !strcmp(base ? base + 1 : argv0, "firecracker");
}

int main(int argc, char **argv)
{
	struct cli_config cfg;
	char err[VM_CONFIG_ERR_MAX + 256];
	int code;

	if (argc >= 1 && invoked_as_firecracker(argv[0]))
		return main_serve(argc, argv, true);
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return main_serve(argc, argv, false);
	if (argc >= 2 && !strcmp(argv[1], "snapshot"))
		return snap_cli_main(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "restore"))
		return main_restore(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "snapshot-merge"))
		return memfile_merge_main(argc - 1, argv + 1);
	if (argc == 2 && !strcmp(argv[1], "--seccomp-report")) {
		sandbox_report(stdout);
		return HEARTH_EXIT_OK;
	}
	if (argc == 2 && !strcmp(argv[1], "--sandbox-report")) {
		sandbox_confine_report(stdout);
		return HEARTH_EXIT_OK;
	}
	if (cli_parse(argc, argv, &cfg, err, sizeof(err))) {
		cli_release(&cfg);
		die_code(HEARTH_EXIT_USAGE, "%s", err);
	}
	if (cfg.action == CLI_HELP) {
		cli_usage(stdout);
		cli_release(&cfg);
		return HEARTH_EXIT_OK;
	}
	if (cfg.action == CLI_VERSION) {
		printf("hearth %s\n", HEARTH_VERSION);
		cli_release(&cfg);
		return HEARTH_EXIT_OK;
	}
	if (cfg.verbose > 0)
		log_set_level(LOG_DEBUG);
	else if (cfg.verbose < 0)
		log_set_level(LOG_ERR);
	main_sandbox(cfg.no_seccomp);
	main_confine(cfg.no_sandbox, cfg.no_seccomp, cfg.jail, cfg.jail_uid, cfg.jail_gid,
		     cfg.api_sock, cfg.snapshot_dir, cfg.vm.nnets == 0);
	if (cfg.api_sock) {
		/* The same VM, plus the API: `hearth serve` with this config booted at once. */
		struct serve_opts o = { .api_sock = cfg.api_sock,
					.max_payload = API_DEFAULT_MAX_PAYLOAD,
					.snap = &snap_serve_hooks };

		code = serve_run(&o, &cfg.vm);
	} else {
		code = runner_run(&cfg.vm);
	}
	cli_release(&cfg);
	return code;
}
