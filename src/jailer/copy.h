/*
 * The files the jailer puts in the jail (jailer_copy.c): the exec file,
 * copied rather than linked so that no two jailed VMs share its pages
 * (the jailer's reason), and, for a dynamically linked exec file such as
 * Hearth, the loader and libraries it runs with, which a statically
 * linked Firecracker does not need. Messages are the jailer's.
 */
#ifndef HEARTH_JAILER_COPY_H
#define HEARTH_JAILER_COPY_H

#include <sys/types.h>

#include "util/err.h"

/*
 * src to name in the jail's root (the directory fd root, shown in
 * messages as shown), created with src's mode and owned by uid:gid. An
 * entry already there is rewritten only when it is a regular file with no
 * other link: a symlink, FIFO or node is refused, a hard link too
 * ("Detected hard link at: DST"), and a running copy (ETXTBSY) as
 * open(2) refuses it.
 */
int jailer_copy_exec(const char *src, int root, const char *shown, const char *name, uid_t uid,
		     gid_t gid, struct err *e);
/*
 * When exec names an ELF interpreter: that loader and every library this
 * process runs with (the exec file is Hearth, linked as it is), copied to
 * the same paths below root (an fd), root's, read-only to others; each
 * directory walked without following a symlink its user planted
 * (jail_fs.h). A static exec file gets nothing. 0 or -errno with e.
 */
int jailer_copy_runtime(int root, const char *shown, const char *exec, struct err *e);

#endif
