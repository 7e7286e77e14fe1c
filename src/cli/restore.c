#include "cli/restore.h"

#include <errno.h>
#include <string.h>

#include "api/server.h"
#include "cli/cli.h"
#include "util/log.h"

void cli_restore_usage(FILE *out)
{
	fputs("usage: hearth restore --snapshot FILE --mem FILE [--api-sock PATH] [--resume]\n"
	      "                      [--track-dirty-pages] [--no-seccomp] [--no-sandbox] [-v|-q]\n"
	      "  Restores a snapshot taken with PUT /snapshot/create (or hearth snapshot).\n"
	      "  --snapshot FILE      the state file\n"
	      "  --mem FILE           its memory file, mapped privately (never modified)\n"
	      "  --api-sock PATH      serve the API; the VM stays paused unless --resume\n"
	      "  --resume             run the guest at once (always so without --api-sock)\n"
	      "  --track-dirty-pages  track dirty pages, for Diff snapshots of this VM\n"
	      "  --no-seccomp         no per-thread seccomp filters\n"
	      "  --no-sandbox         no process sandbox (docs/security.md)\n"
	      "Exit status: as hearth run; 2 when the snapshot or a flag is refused.\n", out);
}

#define R_STR(n, f) OPT_STRING(n, struct cli_restore_opts, f)
#define R_FLAG(n, f) OPT_FLAG(n, struct cli_restore_opts, f)

static const struct opt restore_opts[] = {
	R_STR("--snapshot", load.snapshot_path),
	R_STR("--mem", load.mem_path),
	R_STR("--api-sock", api_sock),
	R_FLAG("--resume", load.resume_vm),
	R_FLAG("--track-dirty-pages", load.track_dirty_pages),
	R_FLAG("--no-seccomp", no_seccomp),
	R_FLAG("--no-sandbox", no_sandbox),
	OPT_VERBOSITY(struct cli_restore_opts, verbose, 0),
	OPT_HELP("--help", struct cli_restore_opts, help),
	OPT_HELP("-h", struct cli_restore_opts, help),
	OPT_END,
};

int cli_restore_parse(int argc, char **argv, struct cli_restore_opts *o, struct err *e)
{
	static const struct opt_cmd cmd = { .name = "restore", .opts = restore_opts, .gnu = true,
					    .fault = cli_gnu_fault };
	int ret;

	memset(o, 0, sizeof(*o));
	ret = opt_parse(&cmd, argc, argv, 2, o, e);
	if (ret || o->help)
		return ret;
	if (!o->load.snapshot_path || !o->load.mem_path || !*o->load.snapshot_path ||
	    !*o->load.mem_path)
		return err_set(e, true, -EINVAL, "restore: --snapshot FILE and --mem FILE are "
			       "required");
	if (!o->api_sock)
		o->load.resume_vm = true;
	return 0;
}

/* `hearth serve` whose VM is a snapshot's. */
int cli_restore_main(int argc, char **argv)
{
	struct err e = ERR_INIT;
	struct cli_restore_opts r;
	struct cli_sandbox sb;
	int code;

	if (cli_restore_parse(argc, argv, &r, &e)) {
		e.usage = true;
		return cli_fail(&e);
	}
	if (r.help) {
		cli_restore_usage(stdout);
		return HEARTH_EXIT_OK;
	}
	cli_log_level(r.verbose);
	sb = (struct cli_sandbox){ .no_seccomp = r.no_seccomp, .no_sandbox = r.no_sandbox,
				   .api_sock = r.api_sock };
	code = cli_sandbox(&sb);
	if (code)
		return code;
	return cli_host_run(&(struct host_opts){ .restore = &r.load }, NULL, r.api_sock,
			    API_DEFAULT_MAX_PAYLOAD);
}
