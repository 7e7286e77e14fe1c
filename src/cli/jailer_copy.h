/*
 * The files the jailer puts in the jail (jailer_copy.c): the exec file,
 * copied rather than linked so that no two jailed VMs share its pages
 * (the jailer's reason), and, for a dynamically linked exec file such as
 * Hearth, the loader and libraries it runs with, which a statically
 * linked Firecracker does not need. Messages are the jailer's.
 */
#ifndef HEARTH_CLI_JAILER_COPY_H
#define HEARTH_CLI_JAILER_COPY_H

#include <sys/types.h>

#include "util/err.h"

/*
 * src to dst (created with src's mode, never through a symlink; a dst
 * with other links is refused, "Detected hard link at: DST"), owned by
 * uid:gid.
 */
int jailer_copy_exec(const char *src, const char *dst, uid_t uid, gid_t gid, struct err *e);
/*
 * When exec names an ELF interpreter: that loader and every library this
 * process runs with (the exec file is Hearth, linked as it is), copied to
 * the same paths below root, root's, read-only to others. A static exec
 * file gets nothing. 0 or -errno with e.
 */
int jailer_copy_runtime(const char *root, const char *exec, struct err *e);

#endif
