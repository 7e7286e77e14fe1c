/* `hearth snapshot-merge`: the command line around memfile_merge (snapshot/memfile_layout.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "snapshot/memfile_layout.h"
#include "util/log.h"

#define USAGE_LINE "usage: hearth snapshot-merge --base MEM --diff MEM"

static const char usage[] =
	USAGE_LINE "\n"
	"  Folds a diff snapshot's memory file onto its base's, in place: the base\n"
	"  becomes the full memory file of the diff's moment. Merge diffs in the\n"
	"  order they were taken.\n";

struct merge_opts {
	const char *base, *diff;
	bool help;
};

static const struct opt merge_opts[] = {
	OPT_STRING("--base", struct merge_opts, base),
	OPT_STRING("--diff", struct merge_opts, diff),
	OPT_HELP("--help", struct merge_opts, help),
	OPT_END,
};

static int merge_fault(const struct opt_cmd *cmd, enum opt_fault f, const char *arg,
		       const struct opt *o, struct err *e)
{
	if (f == OPT_UNEXPECTED)
		return err_set(e, true, -EINVAL, "snapshot-merge: unexpected argument %s (%s)", arg,
			       USAGE_LINE);
	return err_set(e, true, -EINVAL, "snapshot-merge: unknown or incomplete option '%s' (%s)",
		       arg, USAGE_LINE);
}

/*
 * Exit status 0; 2 for a usage error or a refused file (nothing written);
 * 1 when writing the base failed (it is then marked half-merged).
 */
int cli_merge_main(int argc, char **argv)
{
	static const struct opt_cmd cmd = { .name = "snapshot-merge", .opts = merge_opts,
					    .gnu = true, .fault = merge_fault };
	struct merge_opts o = { NULL, NULL, false };
	struct err e = ERR_INIT;
	bool started;

	if (opt_parse(&cmd, argc, argv, 2, &o, &e)) {
		fprintf(stderr, "hearth: %s\n", e.msg);
		return HEARTH_EXIT_USAGE;
	}
	if (o.help) {
		fputs(usage, stdout);
		return HEARTH_EXIT_OK;
	}
	if (!o.base || !o.diff) {
		fprintf(stderr, "hearth: snapshot-merge: needs both --base and --diff (%s)\n",
			USAGE_LINE);
		return HEARTH_EXIT_USAGE;
	}
	if (memfile_merge(o.base, o.diff, &started, &e)) {
		fprintf(stderr, "hearth: snapshot-merge: %s\n", e.msg);
		return started ? HEARTH_EXIT_FAILURE : HEARTH_EXIT_USAGE;
	}
	return HEARTH_EXIT_OK;
}
