/* What the commands that start a VM share: the sandbox, the log level, the host and its API. */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/server.h"
#include "sandbox/confine.h"
#include "sandbox/policy.h"
#include "sandbox/sandbox.h"
#include "util/log.h"

bool cli_is_firecracker(const char *argv0)
{
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;

	return argv0 && !strcmp(base ? base + 1 : argv0, "firecracker");
}

void cli_log_level(int verbose)
{
	if (verbose > 0)
		log_set_level(LOG_DEBUG);
	else if (verbose < 0)
		log_set_level(LOG_ERR);
}

int cli_fail(const struct err *e)
{
	log_err("%s", e->msg);
	return e->usage ? HEARTH_EXIT_USAGE : HEARTH_EXIT_FAILURE;
}

int cli_gnu_fault(const struct opt_cmd *cmd, enum opt_fault f, const char *arg,
		  const struct opt *o, struct err *e)
{
	if (f == OPT_NEEDS_VALUE)
		return err_set(e, true, -EINVAL, "%s: %s needs a value", cmd->name, arg);
	if (f == OPT_UNEXPECTED)
		return err_set(e, true, -EINVAL, "%s: unexpected argument '%s'", cmd->name, arg);
	return err_set(e, true, -EINVAL, "%s: unknown option '%s' (see hearth %s --help)",
		       cmd->name, arg, cmd->name);
}

/* A directory the sealed process keeps; a bad one is a usage error naming its flag. */
static int keep(int ret, const char *flag, const char *path, struct err *e)
{
	if (!ret)
		return 0;
	return err_set(e, true, ret, "%s '%s': %s", flag, path,
		       ret == -ENAMETOOLONG ? "path too long" : strerror(-ret));
}

int cli_sandbox(const struct cli_sandbox *s)
{
	const char *probe = getenv("HEARTH_SANDBOX_PROBE");
	struct err e = ERR_INIT;
	struct sandbox_opts so;

	/* The per-thread filters, before any thread starts. */
	if (s->no_seccomp) {
		log_debug("seccomp filters are off (--no-seccomp)");
	} else if (sandbox_init(&e)) {
		return cli_fail(&e);
	}
	/* The process sandbox, after the filters are built; bad --jail values are usage errors. */
	if (sandbox_opts_parse(s->no_sandbox, s->no_seccomp, s->jail, s->uid, s->gid, geteuid(),
			       &so, &e)) {
		e.usage = true;
		return cli_fail(&e);
	}
	so.probe = probe && !strcmp(probe, "1");
	so.no_nics = s->no_nics;
	/* The API socket's directory: unlinked at exit, and bound after the seal when booting at once. */
	if (s->api_sock && !so.jail &&
	    keep(sandbox_allow_parent(s->api_sock), "--api-sock", s->api_sock, &e))
		return cli_fail(&e);
	/* Snapshots are written after the seal, into a directory it must keep. */
	if (s->snapshot_dir && !so.jail &&
	    keep(sandbox_allow_dir(s->snapshot_dir), "--snapshot-dir", s->snapshot_dir, &e))
		return cli_fail(&e);
	if (sandbox_prepare(&so, &e))
		return cli_fail(&e);
	return 0;
}

int cli_host_run(const struct host_opts *o, struct vm_config *boot, const char *api_sock,
		 size_t max_payload)
{
	struct api_server *srv = NULL;
	struct err e = ERR_INIT;
	struct host h;
	int ret;

	if (host_open(&h, o, boot, &e))
		return cli_fail(&e);
	if (api_sock) {
		ret = api_server_start(&srv, api_sock, &h.ctl, max_payload, &e);
		if (ret) {
			/* A path taken or unfit is the user's; a VM booted already is joined. */
			e.usage = ret == -EEXIST || ret == -EINVAL;
			return host_close(&h, cli_fail(&e));
		}
		log_info("serving the API on %s", api_sock);
		host_measure_startup(&h, o);
	}
	host_run(&h);
	/* No request may reach the VM from here on. */
	api_server_stop(srv);
	return host_close(&h, -1);
}
