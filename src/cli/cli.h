/*
 * The command front ends, one file per command, each a table of options
 * for the shared parser (util/opt.h), with its usage text. main() only
 * picks one; each returns the process's exit status (enum hearth_exit).
 */
#ifndef HEARTH_CLI_CLI_H
#define HEARTH_CLI_CLI_H

#include <stdbool.h>

#include "host/process.h"
#include "util/err.h"
#include "util/opt.h"

int cli_run_main(int argc, char **argv);        /* run, and `hearth --help`, --version */
int cli_serve_main(int argc, char **argv);      /* argv[1] is "serve" */
int cli_firecracker_main(int argc, char **argv); /* the binary run as `firecracker` */
int cli_snapshot_main(int argc, char **argv);   /* argv[1] is "snapshot" */
int cli_restore_main(int argc, char **argv);    /* argv[1] is "restore" */
int cli_merge_main(int argc, char **argv);      /* argv[1] is "snapshot-merge" */

/* argv[0] names the `firecracker` binary (a symlink to Hearth). */
bool cli_is_firecracker(const char *argv0);

/* -v (1) and -q (-1) of every command that logs. */
void cli_log_level(int verbose);

/*
 * The refusals of `hearth snapshot` and `hearth restore` (getopt_long's
 * rules), as "NAME: ..." lines, NAME the opt_cmd's: their opt_cmd fault.
 */
int cli_gnu_fault(const struct opt_cmd *cmd, enum opt_fault f, const char *arg,
		  const struct opt *o, struct err *e);

/*
 * An override flag's ID=VALUE (`hearth restore`, `hearth fork`): the ID
 * and a pointer to VALUE inside argv, or -EINVAL naming cmd and the flag.
 */
int cli_override_split(const char *cmd, const char *flag, const char *val, char *id, size_t len,
		       const char **rest, struct err *e);
/*
 * Its ro:PATH (1) or rw:PATH (0): said, never defaulted, since it decides
 * whether the file is opened for writing; else -EINVAL naming the flag.
 */
int cli_override_access(const char *cmd, const char *flag, const char *val, const char *spec,
			struct err *e);

#endif
