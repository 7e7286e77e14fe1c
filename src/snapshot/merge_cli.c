/* `hearth snapshot-merge`: the command line around memfile_merge. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "snapshot/memfile_layout.h"
#include "util/log.h"

#define USAGE_LINE "usage: hearth snapshot-merge --base MEM --diff MEM"

static const char usage[] =
	USAGE_LINE "\n"
	"  Folds a diff snapshot's memory file onto its base's, in place: the base\n"
	"  becomes the full memory file of the diff's moment. Merge diffs in the\n"
	"  order they were taken.\n";

int memfile_merge_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "base", required_argument, NULL, 'b' },
		{ "diff", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *base = NULL, *diff = NULL;
	char err[1024];
	bool started;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			base = optarg;
			break;
		case 'd':
			diff = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return HEARTH_EXIT_OK;
		default:
			fprintf(stderr, "hearth: snapshot-merge: unknown or incomplete option '%s' "
				"(%s)\n", argv[optind - 1], USAGE_LINE);
			return HEARTH_EXIT_USAGE;
		}
	}
	if (!base || !diff || optind < argc) {
		fprintf(stderr, "hearth: snapshot-merge: %s%s (%s)\n",
			optind < argc ? "unexpected argument " : "needs both --base and --diff",
			optind < argc ? argv[optind] : "", USAGE_LINE);
		return HEARTH_EXIT_USAGE;
	}
	if (memfile_merge(base, diff, &started, err, sizeof(err))) {
		fprintf(stderr, "hearth: snapshot-merge: %s\n", err);
		return started ? HEARTH_EXIT_FAILURE : HEARTH_EXIT_USAGE;
	}
	return HEARTH_EXIT_OK;
}
