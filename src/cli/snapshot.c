#include "cli/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "util/log.h"
#include "util/opt.h"

static void snapshot_usage(FILE *out)
{
	fputs("usage: hearth snapshot --api-sock PATH --snapshot FILE --mem FILE [--diff] "
	      "[--resume]\n"
	      "  Pauses the VM behind the API socket, writes a snapshot (state FILE and memory\n"
	      "  FILE; --diff: only the pages dirtied since the last one) and, with --resume,\n"
	      "  lets it run again. Exit status 0, 1 when a step was refused, 2 on usage.\n", out);
}

static const struct opt snapshot_opts[] = {
	OPT_STRING("--api-sock", struct cli_snapshot_opts, api_sock),
	OPT_STRING("--snapshot", struct cli_snapshot_opts, snapshot_path),
	OPT_STRING("--mem", struct cli_snapshot_opts, mem_path),
	OPT_FLAG("--diff", struct cli_snapshot_opts, diff),
	OPT_FLAG("--resume", struct cli_snapshot_opts, resume),
	OPT_HELP("--help", struct cli_snapshot_opts, help),
	OPT_HELP("-h", struct cli_snapshot_opts, help),
	OPT_END,
};

int cli_snapshot_parse(int argc, char **argv, struct cli_snapshot_opts *o, struct err *e)
{
	static const struct opt_cmd cmd = { .name = "snapshot", .opts = snapshot_opts, .gnu = true,
					    .fault = cli_gnu_fault };
	int ret;

	memset(o, 0, sizeof(*o));
	ret = opt_parse(&cmd, argc, argv, 2, o, e);
	if (ret || o->help)
		return ret;
	if (!o->api_sock || !o->snapshot_path || !o->mem_path)
		return err_set(e, true, -EINVAL, "snapshot: --api-sock, --snapshot and --mem are "
			       "required");
	return 0;
}

int cli_snapshot_main(int argc, char **argv)
{
	struct cli_snapshot_opts o;
	struct err e = ERR_INIT;
	struct cli_client *c;
	json_t *create;
	int ret;

	if (cli_snapshot_parse(argc, argv, &o, &e)) {
		fprintf(stderr, "hearth: %s\n", e.msg);
		return HEARTH_EXIT_USAGE;
	}
	if (o.help) {
		snapshot_usage(stdout);
		return HEARTH_EXIT_OK;
	}
	if (cli_client_open(&c, "hearth snapshot"))
		return HEARTH_EXIT_FAILURE;
	create = json_pack("{s:s, s:s, s:s}", "snapshot_type", o.diff ? "Diff" : "Full",
			   "snapshot_path", o.snapshot_path, "mem_file_path", o.mem_path);
	ret = cli_client_request(c, o.api_sock, "PATCH", "/vm",
				 json_pack("{s:s}", "state", "Paused"), NULL);
	if (!ret)
		ret = cli_client_request(c, o.api_sock, "PUT", "/snapshot/create",
					 json_incref(create), NULL);
	/* Resumed even after a failed create: the guest should not stay stopped by us. */
	if (o.resume && cli_client_request(c, o.api_sock, "PATCH", "/vm",
					   json_pack("{s:s}", "state", "Resumed"), NULL))
		ret = 1;
	json_decref(create);
	cli_client_close(c);
	return ret ? HEARTH_EXIT_FAILURE : HEARTH_EXIT_OK;
}
