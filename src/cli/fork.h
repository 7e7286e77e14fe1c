/*
 * `hearth fork` and `hearth reset` (fork.c): the command-line twins of
 * PUT /fork and PUT /reset, clients of a running Hearth's API socket.
 */
#ifndef HEARTH_CLI_FORK_H
#define HEARTH_CLI_FORK_H

/* argv[1] is "fork" / "reset". The process's exit status. */
int cli_fork_main(int argc, char **argv);
int cli_reset_main(int argc, char **argv);

#endif
