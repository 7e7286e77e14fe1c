/*
 * The two halves of diff snapshots that work on memory files: writing
 * only the dirty pages of a region (the rest stay holes of the file the
 * writer created with ftruncate), and snapshot-merge, which folds such a
 * diff onto its base. Holes are the diff's "unchanged" marker, which is
 * why a dirty page of zeros is written out explicitly: left a hole, a
 * merge would keep the base's stale bytes there.
 */
#include "snapshot/memfile_layout.h"
#include "snapshot/memfile_lock.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One pwrite carries at most this much: bounded syscalls, progress on a slow disk. */
#define DIFF_CHUNK (8ull << 20)
#define MERGE_BUF (1u << 20)

static int pwrite_full(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len < DIFF_CHUNK ? len : DIFF_CHUNK, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static bool page_set(const uint64_t *bitmap, uint64_t page)
{
	return (bitmap[page / 64] >> (page % 64)) & 1;
}

int memfile_diff_write_region(int fd, uint64_t file_off, const uint8_t *src, uint64_t size,
			      const uint64_t *bitmap, uint64_t *written)
{
	uint64_t pages = size / MEMFILE_PAGE;

	for (uint64_t p = 0; p < pages;) {
		uint64_t run;
		int ret;

		/* Whole clean words at once: most of a diff is clean. */
		if (p % 64 == 0 && !bitmap[p / 64]) {
			p += 64;
			continue;
		}
		if (!page_set(bitmap, p)) {
			p++;
			continue;
		}
		for (run = 1; p + run < pages && page_set(bitmap, p + run); run++)
			;
		ret = pwrite_full(fd, src + p * MEMFILE_PAGE, run * MEMFILE_PAGE,
				  file_off + p * MEMFILE_PAGE);
		if (ret)
			return ret;
		if (written)
			*written += run * MEMFILE_PAGE;
		p += run;
	}
	return 0;
}

static int copy_range(int from, int to, uint64_t off, uint64_t end, uint8_t *buf)
{
	while (off < end) {
		size_t want = end - off < MERGE_BUF ? (size_t)(end - off) : MERGE_BUF;
		ssize_t n = pread(from, buf, want, (off_t)off);
		int ret;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA; /* the diff shrank under us */
		ret = pwrite_full(to, buf, (uint64_t)n, off);
		if (ret)
			return ret;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * Every data extent of diff onto base, the ELF header's bytes excepted
 * (the caller writes those last). Filesystems without SEEK_DATA report
 * the whole file as data: the merge is then a full copy, still correct.
 */
static int copy_extents(int diff, int base, uint64_t size, struct err *err)
{
	uint8_t *buf = malloc(MERGE_BUF);
	off_t data = 0, hole;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	while ((uint64_t)data < size) {
		data = lseek(diff, data, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO) /* no data after this point */
				break;
			ret = err_set(err, true, -errno, "diff: seeking data: %s", strerror(errno));
			goto out;
		}
		hole = lseek(diff, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > size)
			hole = (off_t)size;
		ret = copy_range(diff, base, data < (off_t)sizeof(Elf64_Ehdr) ? sizeof(Elf64_Ehdr)
									   : (uint64_t)data,
				 (uint64_t)hole, buf);
		if (ret) {
			err_set(err, false, ret, "copying to the base at %lld: %s", (long long)data,
				strerror(-ret));
			goto out;
		}
		data = hole;
	}
out:
	free(buf);
	return ret;
}

/*
 * The layout of fd. A base left half-merged (MEMFILE_ET_MERGING) is read
 * as the core it was: merging the same diff again is how it is repaired.
 */
static int read_layout(int fd, bool is_base, struct memfile_layout *l, struct stat *st,
		       struct err *err)
{
	uint8_t hdr[sizeof(Elf64_Ehdr) + (MEMFILE_MAX_REGIONS + 1) * sizeof(Elf64_Phdr)];
	Elf64_Ehdr *eh = (Elf64_Ehdr *)hdr;
	ssize_t n;

	if (fstat(fd, st) < 0 || (n = pread(fd, hdr, sizeof(hdr), 0)) < 0)
		return err_set(err, true, -errno, "%s", strerror(errno));
	if (!S_ISREG(st->st_mode))
		return err_set(err, true, -EINVAL, "not a regular file");
	if (is_base && (size_t)n >= sizeof(*eh) && eh->e_type == MEMFILE_ET_MERGING)
		eh->e_type = ET_CORE;
	return memfile_layout_parse(hdr, (size_t)n, (uint64_t)st->st_size, l, err);
}

static int open_checked(const char *what, const char *path, int flags, struct memfile_layout *l,
			struct stat *st, struct err *err)
{
	int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int ret;

	if (fd < 0) {
		ret = -errno;
		return err_set(err, true, ret, "%s %s: %s", what, path, strerror(errno));
	}
	ret = read_layout(fd, flags != O_RDONLY, l, st, err);
	if (ret) {
		close(fd);
		return err_prefix(err, ret, "%s %s: ", what, path);
	}
	return fd;
}

int memfile_merge(const char *base_path, const char *diff_path, bool *started, struct err *err)
{
	struct memfile_layout bl, dl;
	struct stat bst, dst;
	Elf64_Ehdr eh;
	uint16_t merging = MEMFILE_ET_MERGING;
	int base, diff, ret;

	if (started)
		*started = false;
	diff = open_checked("diff", diff_path, O_RDONLY, &dl, &dst, err);
	if (diff < 0)
		return diff;
	base = open_checked("base", base_path, O_RDWR, &bl, &bst, err);
	if (base < 0) {
		ret = base;
		goto err_diff;
	}
	/* A VM restored from the base maps it, and reads its untouched pages from it. */
	ret = memfile_lock_exclusive(base, base_path, err);
	if (ret)
		goto err_base;
	ret = -EINVAL;
	if (bst.st_dev == dst.st_dev && bst.st_ino == dst.st_ino) {
		err_set(err, true, ret, "--base and --diff are the same file");
		goto err_base;
	}
	if (!memfile_layout_same(&bl, &dl)) {
		err_set(err, true, ret, "diff %s does not match base %s: different RAM regions or "
			"size (another VM's, or another memory size)", diff_path, base_path);
		goto err_base;
	}
	if (pread(diff, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh)) {
		ret = err_set(err, true, -EIO, "diff %s: cannot read its ELF header", diff_path);
		goto err_base;
	}
	/*
	 * From here the base is changed: mark it first (and make the mark
	 * durable), so a merge cut short leaves a file every reader refuses.
	 */
	if (started)
		*started = true;
	errno = 0;
	if (pwrite(base, &merging, sizeof(merging), offsetof(Elf64_Ehdr, e_type)) !=
		    (ssize_t)sizeof(merging) || fdatasync(base) < 0) {
		ret = -errno ? -errno : -EIO;
		err_set(err, false, ret, "base %s: %s", base_path, strerror(-ret));
		goto err_base;
	}
	ret = copy_extents(diff, base, dl.file_size, err);
	if (!ret && fdatasync(base) < 0)
		ret = err_set(err, false, -errno, "base %s: sync: %s", base_path, strerror(errno));
	errno = 0;
	if (!ret && (pwrite(base, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || fdatasync(base) < 0))
		ret = err_set(err, false, -errno ? -errno : -EIO, "base %s: finishing: %s",
			      base_path, strerror(errno ? errno : EIO));
	if (ret) {
		size_t n = strlen(err->msg);

		snprintf(err->msg + n, sizeof(err->msg) - n,
			 "; the base is marked half-merged, run the merge again");
	}
err_base:
	close(base);
err_diff:
	close(diff);
	return ret;
}
