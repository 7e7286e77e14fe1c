/* Locks on memory files (memfile_lock.h): flock, and who holds one from /proc/locks. */
#include "snapshot/memfile_lock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define PROC_LOCKS "/proc/locks"
#define MAX_NAMED 4

/*
 * One line of /proc/locks: "ID: TYPE MODE ACCESS PID MAJ:MIN:INODE START END",
 * or, for a waiter that holds nothing, "ID: -> TYPE ...". MAJ and MIN
 * are hex, INODE decimal (fs/locks.c, lock_get_status).
 */
static bool line_holder(const char *line, dev_t dev, ino_t ino, struct memfile_holder *h)
{
	char type[16], mode[16], access[16];
	unsigned int maj, min;
	unsigned long long inode;
	long long pid;
	int n = 0;

	if (sscanf(line, "%*d: %n", &n) < 0 || !n || !strncmp(line + n, "->", 2))
		return false;
	if (sscanf(line + n, "%15s %15s %15s %lld %x:%x:%llu", type, mode, access, &pid, &maj,
		   &min, &inode) != 7)
		return false;
	if (makedev(maj, min) != dev || inode != (unsigned long long)ino)
		return false;
	h->pid = pid > 0 ? (pid_t)pid : 0;
	h->exclusive = !strcmp(access, "WRITE");
	return true;
}

int memfile_lock_holders(int fd, struct memfile_holder *h, size_t max)
{
	FILE *f;
	struct stat st;
	char line[256];
	int found = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	f = fopen(PROC_LOCKS, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct memfile_holder one;

		if (!line_holder(line, st.st_dev, st.st_ino, &one))
			continue;
		if ((size_t)found < max)
			h[found] = one;
		found++;
	}
	fclose(f);
	return found;
}

/*
 * Who is in the way, into buf: "a VM restored from it maps it (PID 12)",
 * "a snapshot-merge is rewriting it (PID 34)", or the same saying
 * that the PID cannot be known.
 */
static bool describe_holders(int fd, char *buf, size_t len)
{
	struct memfile_holder h[MAX_NAMED];
	int n = memfile_lock_holders(fd, h, MAX_NAMED), shown = n < MAX_NAMED ? n : MAX_NAMED;
	int known = 0;
	bool merge = false;
	size_t off;

	for (int i = 0; i < shown; i++) {
		known += h[i].pid > 0;
		merge |= h[i].exclusive;
	}
	off = (size_t)snprintf(buf, len, "%s", merge ? "a snapshot-merge is rewriting it"
			       : n > 1 ? "VMs restored from it map it"
			       : "a VM restored from it maps it");
	if (n < 0) {
		snprintf(buf + off, len - off, " (its PID cannot be known: %s: %s)", PROC_LOCKS,
			 strerror(-n));
		return merge;
	}
	if (!known) {
		snprintf(buf + off, len - off, " (its PID cannot be known: %s)",
			 n ? "in another PID namespace" : "its lock is not in " PROC_LOCKS);
		return merge;
	}
	off += (size_t)snprintf(buf + off, len - off, " (PID%s", known > 1 ? "s" : "");
	for (int i = 0, k = 0; i < shown && off < len; i++)
		if (h[i].pid > 0)
			off += (size_t)snprintf(buf + off, len - off, "%s %d", k++ ? "," : "",
						(int)h[i].pid);
	if (off < len)
		snprintf(buf + off, len - off, "%s)", n > known ? ", and others" : "");
	return merge;
}

int memfile_lock_shared(int fd, const char *path, struct err *err)
{
	char who[192];

	if (!flock(fd, LOCK_SH | LOCK_NB))
		return 0;
	if (errno != EWOULDBLOCK)
		return err_set(err, false, -errno, "memory file %s: cannot lock it: %s", path,
			       strerror(errno));
	describe_holders(fd, who, sizeof(who));
	return err_set(err, true, -EBUSY, "memory file %s is locked: %s; restore once it has "
		       "finished", path, who);
}

int memfile_lock_exclusive(int fd, const char *path, struct err *err)
{
	char who[192];

	if (!flock(fd, LOCK_EX | LOCK_NB))
		return 0;
	if (errno != EWOULDBLOCK)
		return err_set(err, false, -errno, "base %s: cannot lock it: %s", path,
			       strerror(errno));
	if (describe_holders(fd, who, sizeof(who)))
		return err_set(err, true, -EBUSY, "base %s is locked: %s; merge once it has "
			       "finished", path, who);
	return err_set(err, true, -EBUSY, "base %s is locked: %s, and merging would change "
		       "that memory under it; stop the VM first, or merge onto a copy", path, who);
}
