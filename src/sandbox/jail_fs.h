/*
 * The jail's tree, made by root inside a directory its jailed user owns
 * (jail_fs.c). That user may have replaced any entry there with a symlink,
 * a FIFO or a hard link before this start (a VM that ran under the same
 * id), so nothing here is resolved by path: each directory is walked one
 * component at a time from an fd of the jail's root, a component that is
 * a symlink, not a directory, or on another filesystem (a bind mount) is
 * refused, and every change is made on an fd or on a name inside a
 * directory fd held. The device nodes are Firecracker's jailer's, by
 * fixed numbers, whatever the host's /dev holds.
 */
#ifndef HEARTH_SANDBOX_JAIL_FS_H
#define HEARTH_SANDBOX_JAIL_FS_H

#include <stddef.h>
#include <sys/types.h>

/* A device node of the jail: its path below the jail's root, its numbers. */
struct jail_node {
	const char *rel;
	unsigned int major, minor;
};

/* The most nodes jail_nodes gives. */
#define JAIL_NODES_MAX 8

/*
 * The nodes a jail holds: /dev/kvm 10:232, /dev/net/tun 10:200,
 * /dev/urandom 1:9, /dev/vhost-net 10:238 and /dev/vhost-vsock 10:241
 * (their numbers are fixed, Documentation/admin-guide/devices.txt), and
 * /dev/userfaultfd 10:N when /proc/misc lists it (its minor is dynamic).
 * Read /proc/misc before the pivot. Returns how many.
 */
size_t jail_nodes(struct jail_node *out);

/*
 * rel (a relative path, no "." or ".." component) below the directory
 * root, each missing component made with mode (owned by the caller):
 * an O_RDONLY|O_DIRECTORY fd of it, or -errno: -ELOOP a component is a
 * symlink, -ENOTDIR not a directory, -EXDEV on another filesystem than
 * root, -EINVAL a bad path. *bad names the component refused.
 */
int jail_dir_at(int root, const char *rel, mode_t mode, const char **bad);

/*
 * The node name in the directory dir: whatever was there (a file, a
 * FIFO, a symlink, another node) unlinked, made again as a character
 * device major:minor, mode 0600, owned by uid:gid. A directory there is
 * refused (-EISDIR). 0 or -errno.
 */
int jail_node_at(int dir, const char *name, unsigned int major, unsigned int minor,
		 uid_t uid, gid_t gid);

/*
 * Each of nodes[] below root by jail_node_at, its directory walked by
 * jail_dir_at (made 0755 when missing). 0, or -errno with *failed the
 * node's path.
 */
int jail_make_nodes(int root, const struct jail_node *nodes, size_t n, uid_t uid, gid_t gid,
		    const char **failed);

/*
 * Opens name in the directory dir to be written from its start: made
 * with mode when missing; an existing entry only when it is a regular
 * file with no other link (a FIFO, a node, a symlink or a hard link is
 * refused: -EPERM, and *why says which), then emptied. Never blocks on a
 * FIFO. The fd, or -errno (as open(2): ETXTBSY for a running program).
 */
int jail_file_at(int dir, const char *name, mode_t mode, const char **why);

#endif
