/*
 * `hearth sandboxes`: E2B's sandbox API served on Hearth's VMs
 * (docs/sandboxes.md). One option table; the server is src/sandboxd.
 * Flags that would take a VM out of Hearth's sandbox are refused by
 * name: every sandbox keeps its seccomp filters and its process sandbox.
 */
#include "cli/sandboxes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/log.h"
#include "util/opt.h"

struct sbx_opts {
	struct sbx_config *cfg;
	bool help;
	int verbose;
};

static void sandboxes_usage(FILE *out)
{
	fputs("usage: hearth sandboxes --listen ADDR:PORT --api-key-file FILE --templates DIR\n"
	      "                        [--envd-listen ADDR:PORT] [--run-dir DIR]\n"
	      "                        [--max-sandboxes N] [--default-timeout S] [--max-timeout S]\n"
	      "                        [--boot-timeout S] [--op-timeout S] [--api-threads N]\n"
	      "                        [--jail-uids FIRST-LAST --jail-gid G] [-v | -q]\n"
	      "  Serves E2B's sandbox API (E2B_API_URL=http://ADDR:PORT) and envd's endpoint\n"
	      "  (E2B_SANDBOX_URL; by default ADDR:PORT+1) on Hearth's VMs: a template under DIR\n"
	      "  is booted once and paused, each sandbox is a clone of it. --jail-uids (root\n"
	      "  only): every VM runs under --jail in its own directory, as its own uid of the\n"
	      "  range (a clone as its template's), with group G. docs/sandboxes.md.\n",
	      out);
}

/* A whole number in [min, max] into the unsigned int at off of the config. */
static int opt_uint(struct sbx_opts *so, const char *name, const char *val, uint64_t min,
		    uint64_t max, unsigned int *out, struct err *e)
{
	uint64_t v;

	if (opt_parse_uint(val, min, max, &v))
		return err_set(e, true, -EINVAL, "sandboxes: %s '%.64s': want %llu to %llu", name,
			       val, (unsigned long long)min, (unsigned long long)max);
	*out = (unsigned int)v;
	return 0;
}

#define UINT_OPT(fn, field, min, max)                                                         \
	static int fn(void *ctx, const struct opt *o, const char *val, struct err *e)        \
	{                                                                                     \
		struct sbx_opts *so = ctx;                                                    \
		return opt_uint(so, o->name, val, min, max, &so->cfg->field, e);              \
	}
UINT_OPT(opt_max_sandboxes, max_sandboxes, 1, 4096)
UINT_OPT(opt_default_timeout, default_timeout_s, 1, 86400)
UINT_OPT(opt_max_timeout, max_timeout_s, 1, 2592000)
UINT_OPT(opt_boot_timeout, boot_timeout_s, 1, 3600)
UINT_OPT(opt_op_timeout, op_timeout_s, 1, 3600)
UINT_OPT(opt_api_threads, api_threads, 1, 16)

#define STR_OPT(fn, field)                                                                    \
	static int fn(void *ctx, const struct opt *o, const char *val, struct err *e)        \
	{                                                                                     \
		((struct sbx_opts *)ctx)->cfg->field = val;                                   \
		return 0;                                                                     \
	}
STR_OPT(opt_listen, listen)
STR_OPT(opt_envd_listen, envd_listen)
STR_OPT(opt_key, api_key_file)
STR_OPT(opt_templates, templates_dir)
STR_OPT(opt_run_dir, run_dir)

/* FIRST-LAST, 1 <= FIRST <= LAST <= 65534, at most 4096 of them. */
static int opt_jail_uids(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct sbx_opts *so = ctx;
	const char *dash = strchr(val, '-');
	char first[16];
	uint64_t a, b;

	if (!dash || (size_t)(dash - val) >= sizeof(first))
		goto err_bad;
	memcpy(first, val, (size_t)(dash - val));
	first[dash - val] = 0;
	if (opt_parse_uint(first, 1, 65534, &a) || opt_parse_uint(dash + 1, 1, 65534, &b) ||
	    b < a || b - a >= 4096)
		goto err_bad;
	so->cfg->jail_uid_first = (unsigned int)a;
	so->cfg->jail_uid_count = (unsigned int)(b - a + 1);
	return 0;
err_bad:
	return err_set(e, true, -EINVAL, "sandboxes: %s '%.64s': want FIRST-LAST, uids 1 to 65534, "
		       "at most 4096 of them", o->name, val);
}

static int opt_jail_gid(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct sbx_opts *so = ctx;

	so->cfg->jail_gid_set = true;
	return opt_uint(so, o->name, val, 1, 65534, &so->cfg->jail_gid, e);
}

#define NO_WAY "every sandbox keeps Hearth's seccomp filters and process sandbox"

static const struct opt sandboxes_opts[] = {
	OPT_CALL("--listen", OPT_VALUE, opt_listen),
	OPT_CALL("--envd-listen", OPT_VALUE, opt_envd_listen),
	OPT_CALL("--api-key-file", OPT_VALUE, opt_key),
	OPT_CALL("--templates", OPT_VALUE, opt_templates),
	OPT_CALL("--run-dir", OPT_VALUE, opt_run_dir),
	OPT_CALL("--max-sandboxes", OPT_VALUE, opt_max_sandboxes),
	OPT_CALL("--default-timeout", OPT_VALUE, opt_default_timeout),
	OPT_CALL("--max-timeout", OPT_VALUE, opt_max_timeout),
	OPT_CALL("--boot-timeout", OPT_VALUE, opt_boot_timeout),
	OPT_CALL("--op-timeout", OPT_VALUE, opt_op_timeout),
	OPT_CALL("--api-threads", OPT_VALUE, opt_api_threads),
	OPT_REFUSED("--no-seccomp", OPT_NONE, NO_WAY),
	OPT_REFUSED("--no-sandbox", OPT_NONE, NO_WAY),
	OPT_CALL("--jail-uids", OPT_VALUE, opt_jail_uids),
	OPT_CALL("--jail-gid", OPT_VALUE, opt_jail_gid),
	OPT_REFUSED("--jail", OPT_VALUE, "each VM has a jail of its own: give --jail-uids and "
		    "--jail-gid"),
	OPT_HELP("--help", struct sbx_opts, help),
	OPT_HELP("-h", struct sbx_opts, help),
	OPT_VERBOSITY(struct sbx_opts, verbose, 0),
	OPT_END,
};

static int sandboxes_fault(const struct opt_cmd *cmd, enum opt_fault f, const char *arg,
			   const struct opt *o, struct err *e)
{
	switch (f) {
	case OPT_NEEDS_VALUE:
		return err_set(e, true, -EINVAL, "sandboxes: %s needs a value", arg);
	case OPT_REFUSED:
		return err_set(e, true, -EINVAL, "sandboxes: %s is refused: %s", o->name, o->why);
	case OPT_NO_VALUE:
		return err_set(e, true, -EINVAL, "sandboxes: %s takes no value", o->name);
	default:
		return err_set(e, true, -EINVAL, "sandboxes: unknown argument '%.64s'", arg);
	}
}

int cli_sandboxes_parse(int argc, char **argv, struct sbx_config *cfg, bool *help,
			struct err *e)
{
	const struct opt_cmd cmd = { .name = "sandboxes", .opts = sandboxes_opts,
				     .fault = sandboxes_fault };
	struct sbx_opts so = { .cfg = cfg };
	int ret;

	*cfg = (struct sbx_config){ .exe = "/proc/self/exe", .max_sandboxes = 64,
				    .default_timeout_s = 300, .max_timeout_s = 86400,
				    .boot_timeout_s = 300, .op_timeout_s = 150, .api_threads = 4 };
	ret = opt_parse(&cmd, argc, argv, 2, &so, e);
	*help = so.help;
	if (ret || so.help)
		return ret;
	cli_log_level(so.verbose);
	if (!cfg->listen || !cfg->api_key_file || !cfg->templates_dir)
		return err_set(e, true, -EINVAL, "sandboxes: --listen, --api-key-file and "
			       "--templates are required");
	if (!cfg->jail_uid_count != !cfg->jail_gid_set)
		return err_set(e, true, -EINVAL, "sandboxes: --jail-uids and --jail-gid go "
			       "together");
	if (cfg->jail_uid_count && geteuid())
		return err_set(e, true, -EPERM, "sandboxes: --jail-uids needs root (each VM's "
			       "jail is a chroot and a change of user)");
	if (cfg->default_timeout_s > cfg->max_timeout_s)
		return err_set(e, true, -EINVAL, "sandboxes: --default-timeout %u is past "
			       "--max-timeout %u", cfg->default_timeout_s, cfg->max_timeout_s);
	return 0;
}

int cli_sandboxes_main(int argc, char **argv)
{
	struct sbx_config cfg;
	struct err e = ERR_INIT;
	bool help;
	int ret = cli_sandboxes_parse(argc, argv, &cfg, &help, &e);

	if (help) {
		sandboxes_usage(stdout);
		return HEARTH_EXIT_OK;
	}
	if (!ret)
		ret = sbx_main(&cfg, &e);
	if (ret) {
		fprintf(stderr, "hearth: %s\n", e.msg);
		if (e.usage)
			sandboxes_usage(stderr);
		return e.usage ? HEARTH_EXIT_USAGE : HEARTH_EXIT_FAILURE;
	}
	return HEARTH_EXIT_OK;
}
