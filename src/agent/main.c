/*
 * hearth-agent: the command line (run.h does the rest).
 *
 *   hearth-agent [--listen ADDR]... [--user NAME] [--max-body BYTES]
 *                [--max-upload BYTES] [--max-conns N] [--idle-timeout S]
 *                [--spool-dir DIR] [--keep-clock] [--no-warm] [--version] [--help]
 *
 * ADDR is vsock:PORT (default vsock:49983: the host reaches it through
 * Hearth's hybrid vsock), tcp:ADDRESS:PORT or unix:PATH; --listen may be
 * given several times. --keep-clock: POST /init's timestamp never sets
 * the clock (another service keeps it). --no-warm: no warm-up shell
 * before serving (warm.h; by default /bin/bash -l -c true runs once).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/run.h"
#include "agent/warm.h"
#include "hearth-config.h"
#include "util/opt.h"

#define MAX_LISTEN 8

struct main_opts {
	struct agent_cfg cfg;
	const char *listen[MAX_LISTEN];
	unsigned int nlisten;
	bool help, version, no_warm;
};

static const char usage[] =
	"usage: hearth-agent [--listen vsock:PORT|tcp:ADDRESS:PORT|unix:PATH]...\n"
	"                    [--user NAME] [--max-body BYTES] [--max-upload BYTES]\n"
	"                    [--max-conns N] [--idle-timeout SECONDS] [--spool-dir DIR]\n"
	"                    [--keep-clock] [--no-warm] [--version] [--help]\n"
	"Serves E2B's envd API (process and filesystem RPCs, /files, /init, /health).\n"
	"Default: --listen vsock:49983 --user user --max-body 16777216\n"
	"         --max-upload 4294967296 --max-conns 1024 --idle-timeout 640 --spool-dir /tmp\n";

static int opt_listen(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct main_opts *m = ctx;

	if (m->nlisten == MAX_LISTEN)
		return err_set(e, true, -E2BIG, "--listen: at most %d", MAX_LISTEN);
	m->listen[m->nlisten++] = val;
	return 0;
}

static int opt_number(const char *name, const char *val, uint64_t min, uint64_t max,
		      uint64_t *out, struct err *e)
{
	if (opt_parse_uint(val, min, max, out))
		return err_set(e, true, -EINVAL, "%s '%s': want a number from %llu to %llu", name,
			       val, (unsigned long long)min, (unsigned long long)max);
	return 0;
}

static int opt_max_body(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	uint64_t v;
	int ret = opt_number(o->name, val, 1024, 1ull << 30, &v, e);

	((struct main_opts *)ctx)->cfg.max_body = (size_t)v;
	return ret;
}

static int opt_max_upload(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	return opt_number(o->name, val, 1, UINT64_MAX, &((struct main_opts *)ctx)->cfg.max_upload,
			  e);
}

static int opt_max_conns(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	uint64_t v;
	int ret = opt_number(o->name, val, 1, 65536, &v, e);

	((struct main_opts *)ctx)->cfg.max_conns = (unsigned int)v;
	return ret;
}

static int opt_idle(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	uint64_t v;
	int ret = opt_number(o->name, val, 1, 86400, &v, e);

	((struct main_opts *)ctx)->cfg.idle_s = (unsigned int)v;
	return ret;
}

static const struct opt main_table[] = {
	OPT_CALL("--listen", OPT_VALUE, opt_listen),
	{ .name = "--user", .arg = OPT_VALUE, .kind = OPT_STR,
	  .off = OPT_FIELD(struct main_opts, cfg.default_user, const char *) },
	OPT_CALL("--max-body", OPT_VALUE, opt_max_body),
	OPT_CALL("--max-upload", OPT_VALUE, opt_max_upload),
	OPT_CALL("--max-conns", OPT_VALUE, opt_max_conns),
	OPT_CALL("--idle-timeout", OPT_VALUE, opt_idle),
	{ .name = "--spool-dir", .arg = OPT_VALUE, .kind = OPT_STR,
	  .off = OPT_FIELD(struct main_opts, cfg.spool_dir, const char *) },
	OPT_FLAG("--keep-clock", struct main_opts, cfg.keep_clock),
	OPT_FLAG("--no-warm", struct main_opts, no_warm),
	OPT_HELP("--help", struct main_opts, help),
	OPT_HELP("-h", struct main_opts, help),
	OPT_FLAG("--version", struct main_opts, version),
	OPT_END,
};

static int main_fault(const struct opt_cmd *cmd, enum opt_fault f, const char *arg,
		      const struct opt *o, struct err *e)
{
	if (f == OPT_NEEDS_VALUE)
		return err_set(e, true, -EINVAL, "%s needs a value", arg);
	return err_set(e, true, -EINVAL, "unknown argument '%s'", arg);
}

int main(int argc, char **argv)
{
	struct main_opts m = {
		.cfg = { .default_user = "user", .max_body = 16u << 20, .max_upload = 4ull << 30,
			 .max_conns = 1024, .idle_s = 640, .spool_dir = "/tmp",
			 .warm_shell = WARM_SHELL_DEFAULT },
	};
	const struct opt_cmd cmd = { .name = "hearth-agent", .opts = main_table,
				     .fault = main_fault };
	struct err e = ERR_INIT;
	int fds[MAX_LISTEN];
	unsigned int n = 0;
	int ret;

	if (opt_parse(&cmd, argc, argv, 1, &m, &e)) {
		fprintf(stderr, "hearth-agent: %s\n%s", e.msg, usage);
		return 2;
	}
	if (m.help) {
		fputs(usage, stdout);
		return 0;
	}
	if (m.version) {
		printf("hearth-agent %s (envd %s)\n", HEARTH_VERSION, AGENT_ENVD_VERSION);
		return 0;
	}
	if (m.no_warm)
		m.cfg.warm_shell = NULL;
	if (!m.nlisten)
		m.listen[m.nlisten++] = "vsock:49983";
	for (; n < m.nlisten; n++) {
		fds[n] = run_listen(m.listen[n], &e);
		if (fds[n] < 0)
			goto err_close;
	}
	ret = run_agent(&m.cfg, fds, n, &e);
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
	if (ret) {
		fprintf(stderr, "hearth-agent: %s\n", e.msg);
		return 1;
	}
	return 0;

err_close:
	fprintf(stderr, "hearth-agent: %s\n", e.msg);
	while (n--)
		close(fds[n]);
	return e.usage ? 2 : 1;
}
