#include "sandbox/ns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int ret = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != strlen(text))
		ret = -EIO;
	close(fd);
	return ret;
}

int ns_enter(bool userns, bool *unshared, struct err *err)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];
	const char *what = "unshare";
	int ret;

	*unshared = false;
	if (unshare((userns ? CLONE_NEWUSER : 0) | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)) {
		ret = -errno;
		goto err_report;
	}
	*unshared = true;
	if (userns) {
		what = "/proc/self/setgroups";
		ret = write_file("/proc/self/setgroups", "deny");
		if (!ret) {
			what = "/proc/self/uid_map";
			snprintf(map, sizeof(map), "%u %u 1\n", (unsigned int)uid, (unsigned int)uid);
			ret = write_file("/proc/self/uid_map", map);
		}
		if (!ret) {
			what = "/proc/self/gid_map";
			snprintf(map, sizeof(map), "%u %u 1\n", (unsigned int)gid, (unsigned int)gid);
			ret = write_file("/proc/self/gid_map", map);
		}
		if (ret)
			goto err_report;
	}
	/*
	 * Nothing we mount from here on may propagate back to the host: a
	 * slave receives and never sends. What the host mounts later over a
	 * file the sealed root holds (where the host's mount is shared) still
	 * reaches us, as Firecracker's jailer has it: Kata swaps a pool
	 * drive's image by bind-mounting over the drive's file after the
	 * start, then PATCHes the drive with that same path.
	 */
	what = "making mounts slaves of the host's";
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL)) {
		ret = -errno;
		goto err_report;
	}
	return 0;
err_report:
	return err_set(err, false, ret, "%s: %s", what, strerror(-ret));
}

int ns_enter_net(struct err *err)
{
	if (!unshare(CLONE_NEWNET))
		return 0;
	return err_set(err, false, -errno, "cannot enter a network namespace: %s",
		       strerror(errno));
}

/* mkdir -p of path's components below root (a directory fd), path absolute. */
static int make_dirs(const char *root, const char *path, bool last_is_file)
{
	char buf[4096 + 64];
	size_t rootlen;
	char *p;
	int fd;

	if (snprintf(buf, sizeof(buf), "%s%s", root, path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	rootlen = strlen(root);
	for (p = buf + rootlen + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (!last_is_file)
		return mkdir(buf, 0755) && errno != EEXIST ? -errno : 0;
	fd = open(buf, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/*
 * Makes the bind mount at dst read only. A remount must keep the flags
 * the source's mount has (in a user namespace the kernel locks nosuid,
 * nodev, noexec and the atime ones, and refuses a remount that drops
 * them): they are read from the source first.
 */
static int bind_read_only(int srcfd, const char *dst)
{
	static const struct {
		unsigned long st, ms;
	} keep[] = {
		{ ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV }, { ST_NOEXEC, MS_NOEXEC },
		{ ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME },
		{ ST_RELATIME, MS_RELATIME },
	};
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
	struct statvfs sv;

	if (fstatvfs(srcfd, &sv))
		return -errno;
	for (unsigned int i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (sv.f_flag & keep[i].st)
			flags |= keep[i].ms;
	return mount(NULL, dst, NULL, flags, NULL) ? -errno : 0;
}

/* a is b, or a directory above it. */
static bool covers(const char *a, const char *b)
{
	size_t n = strlen(a);

	return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '/' || (n == 1 && a[0] == '/'));
}

/*
 * A directory to mount the new root's tmpfs over, in our private namespace
 * only; preferably not one that is bound into the new root. If it is (a
 * disk in /tmp, and no other candidate here), *bound is set: the
 * recursive bind of it carries a copy of the tmpfs along, which
 * ns_pivot then takes off again.
 */
static const char *stage_dir(const struct sandbox_paths *paths, bool *bound)
{
	static const char *const cand[] = { "/tmp", "/mnt", "/run", "/var/tmp", "/media",
					    "/srv", "/opt" };
	const char *first = NULL;
	struct stat st;

	for (unsigned int i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		bool taken = false;

		if (stat(cand[i], &st) || !S_ISDIR(st.st_mode))
			continue;
		for (unsigned int j = 0; j < paths->n && !taken; j++)
			taken = covers(paths->p[j].path, cand[i]);
		if (!taken) {
			*bound = false;
			return cand[i];
		}
		if (!first)
			first = cand[i];
	}
	*bound = first != NULL;
	return first;
}

/*
 * pivot_root(".", "."): the old root is stacked on the new one, then
 * detached. An initramfs root cannot be pivoted away from (EINVAL): there,
 * as switch_root does, the new root is moved over "/" and chrooted into;
 * the old tree stays below it, out of reach once the capabilities (and
 * with them chroot and mount) are gone.
 */
static int enter_root(struct err *err)
{
	const char *what = "pivot_root";
	int ret;

	if (!syscall(SYS_pivot_root, ".", ".")) {
		what = "detaching the old root";
		if (umount2(".", MNT_DETACH) || chdir("/"))
			goto err_report;
		return 0;
	}
	if (errno != EINVAL)
		goto err_report;
	what = "moving the new root over an initramfs";
	if (mount(".", "/", NULL, MS_MOVE, NULL) || chroot(".") || chdir("/"))
		goto err_report;
	return 0;
err_report:
	ret = -errno;
	return err_set(err, false, ret, "pivot_root into an empty root: %s: %s", what,
		       strerror(-ret));
}

int ns_pivot(const struct sandbox_paths *paths, const int *fds, struct err *err)
{
	bool bound;
	const char *stage = stage_dir(paths, &bound);
	const char *what = "mounting the new root";
	char src[64], dst[4096 + 64];
	int ret = 0;

	if (!stage)
		return err_set(err, false, -ENOENT, "pivot_root: no directory to stage the new "
			       "root in (none of /tmp, /mnt, /run, /var/tmp, /media, /srv, /opt)");
	/* The sources were opened before: this tmpfs may hide them (a disk in /tmp). */
	if (mount("hearth-root", stage, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=1m,mode=0755")) {
		ret = -errno;
		goto err_report;
	}
	for (unsigned int i = 0; i < paths->n; i++) {
		if (fds[i] < 0)
			continue;
		what = paths->p[i].path;
		ret = make_dirs(stage, paths->p[i].path, !paths->p[i].dir);
		if (ret)
			goto err_report;
		snprintf(src, sizeof(src), "/proc/self/fd/%d", fds[i]);
		snprintf(dst, sizeof(dst), "%s%s", stage, paths->p[i].path);
		if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL)) {
			ret = -errno;
			goto err_report;
		}
		if (paths->p[i].ro) {
			ret = bind_read_only(fds[i], dst);
			if (ret)
				goto err_report;
		}
		/* The stage itself came along, on top of what it hid: off again. */
		if (bound && !strcmp(paths->p[i].path, stage) && umount2(dst, MNT_DETACH)) {
			ret = -errno;
			goto err_report;
		}
	}
	what = "pivot_root";
	if (chdir(stage)) {
		ret = -errno;
		goto err_report;
	}
	ret = enter_root(err);
	if (ret)
		return ret;
	what = "making the new root read-only";
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV |
		  MS_NOEXEC, NULL)) {
		ret = -errno;
		goto err_report;
	}
	return 0;
err_report:
	return err_set(err, false, ret, "pivot_root into an empty root: %s: %s", what,
		       strerror(-ret));
}
