/*
 * The template's warm-up: before the agent serves, it runs once, as the
 * default user, what E2B's SDK runs for every commands.run: "SHELL -l -c
 * true". The shell, its libraries and the login profile are then in the
 * guest's page cache when the template is paused for forking, and every
 * sandbox forked from it shares those pages instead of reading and
 * faulting them in on its first command: in the lab a sandbox's first
 * command took 1887 ms where a later one took 413 ms (bench/README.md,
 * "Sandboxes in the lab").
 */
#ifndef HEARTH_AGENT_WARM_H
#define HEARTH_AGENT_WARM_H

#include "agent/agent.h"

/* What the SDK's commands.run starts (its "/bin/bash -l -c CMD"). */
#define WARM_SHELL_DEFAULT "/bin/bash"
/* A shell that has not ended by then is killed: the agent must come up. */
#define WARM_TIMEOUT_MS 60000

/*
 * Runs cfg->warm_shell (NULL: nothing) as a's default user, in its home,
 * with the environment a command gets, and waits for it (output read and
 * dropped). Best effort: what fails (no such user, shell or home, a
 * nonzero exit, the timeout) is logged and the agent serves as before.
 */
void warm_run(const struct agent *a);

#endif
