/*
 * `hearth sandboxes` (sandboxes.c): the sandbox server's command line
 * (src/sandboxd, docs/sandboxes.md).
 */
#ifndef HEARTH_CLI_SANDBOXES_H
#define HEARTH_CLI_SANDBOXES_H

#include "sandboxd/sandboxd.h"
#include "util/err.h"

/*
 * argv[1] is "sandboxes": the flags into cfg (defaults filled first).
 * 0, *help set for --help; or -errno with one line in e (exit 2).
 */
int cli_sandboxes_parse(int argc, char **argv, struct sbx_config *cfg, bool *help,
			struct err *e);
/* argv[1] is "sandboxes". The process's exit status. */
int cli_sandboxes_main(int argc, char **argv);

#endif
