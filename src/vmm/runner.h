/* `hearth run`: one VM from a config, on this process's event loop, to its exit code. */
#ifndef HEARTH_VMM_RUNNER_H
#define HEARTH_VMM_RUNNER_H

#include "vmm/config.h"

/*
 * Builds the VM, connects COM1 to this terminal, runs it until the guest
 * or the host (Ctrl-A x, SIGINT, SIGTERM, SIGHUP) stops it, and tears it
 * down. Returns the process exit code (enum hearth_exit); errors are
 * printed as one line.
 */
int runner_run(const struct vm_config *cfg);

#endif
