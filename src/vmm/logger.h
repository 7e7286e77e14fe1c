/*
 * The machine model's logger (struct vm_logger: PUT /logger, the config
 * file's "logger", --log-path and friends) applied to Hearth's log.
 */
#ifndef HEARTH_VMM_LOGGER_H
#define HEARTH_VMM_LOGGER_H

#include <stddef.h>

#include "util/err.h"
#include "util/log.h"
#include "vmm/config.h"

/* Firecracker's levels on Hearth's: Trace is Debug, Off is LOG_FILE_OFF. */
int vm_logger_level(enum vm_log_level l);

/*
 * Opens l->log_path (if set) as the log file at l's level and flags, in
 * place of any file open before (Firecracker's logger may be configured
 * again); 0, or -errno with one line in err and the log as before.
 * Without a path, the level and flags apply to the file open now, if any.
 */
int vm_logger_apply(const struct vm_logger *l, struct err *err);

#endif
