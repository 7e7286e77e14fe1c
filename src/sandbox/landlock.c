#include "sandbox/landlock.h"

#include <errno.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Newer than some distributions' headers: the values are the kernel's ABI. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define SB_LANDLOCK_NET_BIND_TCP (1ULL << 0)
#define SB_LANDLOCK_NET_CONNECT_TCP (1ULL << 1)
#define SB_LANDLOCK_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define SB_LANDLOCK_SCOPE_SIGNAL (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; the size passed matches the ABI. */
struct sb_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define FS_FILE_RIGHTS (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
			LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |   \
			LANDLOCK_ACCESS_FS_IOCTL_DEV)
/*
 * What a read-only path keeps: reading (a directory's listing too), and
 * a device's ioctls, which a drive's size query needs (on a read-only
 * open, the block layer refuses the ones that write).
 */
#define FS_READ_RIGHTS (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | \
			LANDLOCK_ACCESS_FS_IOCTL_DEV)

int landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return v > 0 ? (int)v : 0;
}

/* Every filesystem right this ABI knows: what is not handled is allowed. */
static uint64_t fs_rights(int abi)
{
	uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;   /* ABI 1 */

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

static int add_path(int rfd, int fd, uint64_t allowed)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = allowed, .parent_fd = fd };

	return syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) ? -errno
										      : 0;
}

int landlock_build(int abi, const struct sandbox_paths *paths, const int *fds, bool tcp,
		   struct err *err)
{
	struct sb_ruleset_attr attr = { .handled_access_fs = fs_rights(abi) };
	size_t size = sizeof(attr.handled_access_fs);
	int rfd, ret;

	if (abi >= 4 && !tcp) {
		attr.handled_access_net = SB_LANDLOCK_NET_BIND_TCP | SB_LANDLOCK_NET_CONNECT_TCP;
		size = offsetof(struct sb_ruleset_attr, scoped);
	}
	/* No abstract Unix sockets outside, no signals to other processes. */
	if (abi >= 6) {
		attr.scoped = SB_LANDLOCK_SCOPE_ABSTRACT_UNIX | SB_LANDLOCK_SCOPE_SIGNAL;
		size = sizeof(attr);
	}
	rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (rfd < 0) {
		ret = -errno;
		return err_set(err, false, ret, "Landlock: cannot create the ruleset: %s",
			       strerror(-ret));
	}
	for (unsigned int i = 0; i < paths->n; i++) {
		struct stat st;
		uint64_t allowed = attr.handled_access_fs;

		if (fds[i] < 0)
			continue;
		/* A file rule takes only the rights that apply to files. */
		if (fstat(fds[i], &st) == 0 && !S_ISDIR(st.st_mode))
			allowed &= FS_FILE_RIGHTS;
		/* The VM runs no programs from anywhere. */
		allowed &= ~(uint64_t)LANDLOCK_ACCESS_FS_EXECUTE;
		if (paths->p[i].ro)
			allowed &= FS_READ_RIGHTS;
		ret = add_path(rfd, fds[i], allowed);
		if (ret) {
			err_set(err, false, ret, "Landlock: cannot allow %s: %s", paths->p[i].path,
				strerror(-ret));
			close(rfd);
			return ret;
		}
	}
	return rfd;
}

int landlock_allow_files_beneath(int rfd, int abi, int dirfd, bool ro)
{
	uint64_t allowed = fs_rights(abi) & FS_FILE_RIGHTS & ~(uint64_t)LANDLOCK_ACCESS_FS_EXECUTE;

	return add_path(rfd, dirfd, ro ? allowed & FS_READ_RIGHTS : allowed);
}
