#include "snapshot/restore_cli.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

void snap_restore_usage(FILE *out)
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
	      "  --no-sandbox         no process sandbox (README: Sandbox)\n"
	      "Exit status: as hearth run; 2 when the snapshot or a flag is refused.\n", out);
}

int snap_restore_parse(int argc, char **argv, struct snap_restore_opts *o, char *err,
		       size_t errlen)
{
	static const struct option longopts[] = {
		{ "snapshot", required_argument, NULL, 's' },
		{ "mem", required_argument, NULL, 'm' },
		{ "api-sock", required_argument, NULL, 'a' },
		{ "resume", no_argument, NULL, 'r' },
		{ "track-dirty-pages", no_argument, NULL, 't' },
		{ "no-seccomp", no_argument, NULL, 'S' },
		{ "no-sandbox", no_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, ":hvq", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->load.snapshot_path = optarg;
			break;
		case 'm':
			o->load.mem_path = optarg;
			break;
		case 'a':
			o->api_sock = optarg;
			break;
		case 'r':
			o->load.resume_vm = true;
			break;
		case 't':
			o->load.track_dirty_pages = true;
			break;
		case 'S':
			o->no_seccomp = true;
			break;
		case 'N':
			o->no_sandbox = true;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'q':
			o->verbose = -1;
			break;
		case 'h':
			o->help = true;
			return 0;
		case ':':
			snprintf(err, errlen, "restore: %s needs a value", argv[optind - 1]);
			return -EINVAL;
		default:
			snprintf(err, errlen, "restore: unknown option '%s' (see hearth restore "
				 "--help)", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "restore: unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!o->load.snapshot_path || !o->load.mem_path || !*o->load.snapshot_path ||
	    !*o->load.mem_path) {
		snprintf(err, errlen, "restore: --snapshot FILE and --mem FILE are required");
		return -EINVAL;
	}
	if (!o->api_sock)
		o->load.resume_vm = true;
	return 0;
}
