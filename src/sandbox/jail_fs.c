/* The jail's tree, made without following anything its user planted (jail_fs.h). */
#include "sandbox/jail_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* include/linux/miscdevice.h and devices.txt: the numbers the jailer makes its nodes with. */
#define MISC_MAJOR 10
static const struct jail_node jail_fixed[] = {
	{ "dev/kvm", MISC_MAJOR, 232 },
	{ "dev/net/tun", MISC_MAJOR, 200 },
	{ "dev/urandom", 1, 9 },
	{ "dev/vhost-net", MISC_MAJOR, 238 },
	{ "dev/vhost-vsock", MISC_MAJOR, 241 },
};

/* userfaultfd's dynamic minor, from /proc/misc ("123 userfaultfd"): -1 when it has none. */
static int misc_minor(const char *name)
{
	char line[128], what[64];
	int minor, found = -1;
	FILE *f = fopen("/proc/misc", "re");

	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "%d %63s", &minor, what) == 2 && minor >= 0 && !strcmp(what, name))
			found = minor;
	fclose(f);
	return found;
}

size_t jail_nodes(struct jail_node *out)
{
	size_t n = 0;
	int uffd = misc_minor("userfaultfd");

	for (size_t i = 0; i < sizeof(jail_fixed) / sizeof(jail_fixed[0]); i++)
		out[n++] = jail_fixed[i];
	if (uffd >= 0)
		out[n++] = (struct jail_node){ "dev/userfaultfd", MISC_MAJOR, (unsigned int)uffd };
	return n;
}

/* One component below dir, a directory on dir's filesystem: its fd, or -errno. */
static int jail_step(int dir, const char *name, mode_t mode)
{
	struct stat up, st;
	int fd;

	if (mkdirat(dir, name, mode) && errno != EEXIST)
		return -errno;
	fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR && !fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) &&
		       S_ISLNK(st.st_mode) ? -ELOOP : -errno;
	if (fstat(dir, &up) || fstat(fd, &st)) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	if (up.st_dev != st.st_dev) {
		close(fd);
		return -EXDEV;
	}
	return fd;
}

int jail_dir_at(int root, const char *rel, mode_t mode, const char **bad)
{
	static __thread char comp[256];
	const char *p = rel;
	/* Opened again, not dup'ed: root may be an O_PATH fd, and the caller changes what it gets. */
	int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		int next;

		if (len == 0) {         /* "a//b", a leading or trailing '/' */
			p++;
			continue;
		}
		if (len >= sizeof(comp)) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		*bad = comp;
		if (!strcmp(comp, ".") || !strcmp(comp, "..")) {
			close(fd);
			return -EINVAL;
		}
		next = jail_step(fd, comp, mode);
		close(fd);
		if (next < 0)
			return next;
		fd = next;
		p += len;
	}
	*bad = NULL;
	return fd;
}

int jail_node_at(int dir, const char *name, unsigned int major, unsigned int minor,
		 uid_t uid, gid_t gid)
{
	mode_t old;
	int ret = 0;

	/* Whatever the name held goes: a node is never reused, so never trusted. */
	if (unlinkat(dir, name, 0) && errno != ENOENT)
		return -errno;
	old = umask(0);
	if (mknodat(dir, name, S_IFCHR | 0600, makedev(major, minor)))
		ret = -errno;
	umask(old);
	/* Swapped for a symlink since (its user may be running): that link is all this changes. */
	if (!ret && fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW))
		ret = -errno;
	return ret;
}

int jail_file_at(int dir, const char *name, mode_t mode, const char **why)
{
	struct stat st;
	int fd, ret;

	*why = NULL;
	/* O_NONBLOCK: a FIFO planted here fails at once (ENXIO) rather than wait for a reader. */
	fd = openat(dir, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    mode & 07777);
		return fd < 0 ? -errno : fd;
	}
	if (fd < 0) {
		ret = -errno;
		if (ret == -ELOOP)
			*why = "a symlink";
		else if (ret == -ENXIO)
			*why = "a FIFO";
		return *why ? -EPERM : ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		goto err_close;
	}
	ret = -EPERM;
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		goto err_close;
	}
	if (st.st_nlink > 1) {
		*why = "a hard link";
		goto err_close;
	}
	if (ftruncate(fd, 0) || fcntl(fd, F_SETFL, 0)) {
		ret = -errno;
		goto err_close;
	}
	return fd;
err_close:
	close(fd);
	return ret;
}

int jail_make_nodes(int root, const struct jail_node *nodes, size_t n, uid_t uid, gid_t gid,
		    const char **failed)
{
	char dir[64];
	const char *bad;
	int ret = 0;

	for (size_t i = 0; !ret && i < n; i++) {
		const char *base = strrchr(nodes[i].rel, '/');
		int dfd;

		*failed = nodes[i].rel;
		snprintf(dir, sizeof(dir), "%.*s", base ? (int)(base - nodes[i].rel) : 0,
			 nodes[i].rel);
		dfd = jail_dir_at(root, dir, 0755, &bad);
		if (dfd < 0)
			return dfd;
		ret = jail_node_at(dfd, base ? base + 1 : nodes[i].rel, nodes[i].major,
				   nodes[i].minor, uid, gid);
		close(dfd);
	}
	return ret;
}
