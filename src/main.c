#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "jailer/jailer.h"
#include "cli/fork.h"
#include "cli/migrate.h"
#include "cli/sandboxes.h"
#include "sandbox/confine.h"
#include "sandbox/sandbox.h"
#include "util/log.h"

/* The command, from argv[1] or the binary's name; each front end (src/cli) takes its own flags. */
int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*main)(int argc, char **argv);
	} commands[] = {
		{ "serve", cli_serve_main },
		{ "snapshot", cli_snapshot_main },
		{ "restore", cli_restore_main },
		{ "snapshot-merge", cli_merge_main },
		{ "fork", cli_fork_main },
		{ "reset", cli_reset_main },
		{ "migrate", cli_migrate_main },
		{ "sandboxes", cli_sandboxes_main },
	};

	/*
	 * One malloc arena for every thread, set before any thread exists.
	 * A thread's own arena, once a free shrinks its heap, makes glibc
	 * read /proc/sys/vm/overcommit_memory (and a new arena past the
	 * eighth counts the CPUs in /sys): an open that a sealed thread's
	 * filter kills the process for. The main arena trims with brk and
	 * opens nothing; its lock is uncontended here, where vCPU threads
	 * allocate nothing, and each arena a thread no longer reserves is
	 * memory a VM process no longer holds.
	 */
	mallopt(M_ARENA_MAX, 1);
	if (argc >= 1 && cli_is_firecracker(argv[0]))
		return cli_firecracker_main(argc, argv);
	if (argc >= 1 && jailer_is_argv0(argv[0]))
		return jailer_main(argc, argv);
	for (size_t i = 0; argc >= 2 && i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].main(argc, argv);
	if (argc == 2 && !strcmp(argv[1], "--seccomp-report")) {
		sandbox_report(stdout);
		return HEARTH_EXIT_OK;
	}
	if (argc == 2 && !strcmp(argv[1], "--sandbox-report")) {
		sandbox_confine_report(stdout);
		return HEARTH_EXIT_OK;
	}
	/* `run`, --help and --version, and the refusal of anything else. */
	return cli_run_main(argc, argv);
}
