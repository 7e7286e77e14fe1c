/*
 * What the qcow2 engine's tests share: a scratch directory, QEMU's own
 * tools (qemu-img, qemu-io) to make images and to judge the engine's
 * (`qemu-img check`, `qemu-img compare`), and file helpers. Images are
 * made at run time by those tools, never written by hand here; hostile
 * ones are real images with one field changed.
 */
#ifndef HEARTH_TEST_QCOW2_FIXTURE_H
#define HEARTH_TEST_QCOW2_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "disk/qcow2.h"

#define QEMU_IMG "/usr/bin/qemu-img"
#define QEMU_IO "/usr/bin/qemu-io"

static char qdir[64];

/* The tests need QEMU's tools: without them they fail, saying how to get them. */
static inline void need_qemu_tools(void)
{
	if (access(QEMU_IMG, X_OK) || access(QEMU_IO, X_OK))
		fail_msg("%s or %s missing: install qemu-utils (scripts/deps.sh build)", QEMU_IMG,
			 QEMU_IO);
}

static inline int qdir_setup(void **state)
{
	(void)state;
	snprintf(qdir, sizeof(qdir), "/tmp/hearth-qcow2-XXXXXX");
	return mkdtemp(qdir) ? 0 : -1;
}

static inline int qdir_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", qdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A path in the scratch directory (one of a few rotating buffers). */
static inline const char *qpath(const char *name)
{
	static char bufs[8][128];
	static unsigned int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", qdir, name);
	return b;
}

/* Runs a shell command (its output into out, if given); returns its exit status. */
static inline int __attribute__((format(printf, 3, 4)))
sh_out(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[2048];
	size_t n = 0;
	va_list ap;
	FILE *f;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	f = popen(cmd, "r");
	assert_non_null(f);
	if (out && cap) {
		n = fread(out, 1, cap - 1, f);
		out[n] = '\0';
	}
	while (fgetc(f) != EOF)
		;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define sh(...) sh_out(NULL, 0, __VA_ARGS__)

/* A command that must succeed; its output in the failure message if not. */
#define sh_ok(...)                                                                           \
	do {                                                                                 \
		char out_[4096];                                                             \
		int st_ = sh_out(out_, sizeof(out_), __VA_ARGS__);                           \
		if (st_)                                                                     \
			fail_msg("command failed (%d): %s", st_, out_);                      \
	} while (0)

static inline int open_file(const char *path, bool rw)
{
	int fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);

	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	return fd;
}

static inline uint64_t file_len(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* The whole file in a malloc'd buffer. */
static inline uint8_t *slurp(const char *path, size_t *len)
{
	int fd = open_file(path, false);
	size_t n = (size_t)file_len(path);
	uint8_t *b = malloc(n ? n : 1);

	assert_non_null(b);
	assert_int_equal(pread(fd, b, n, 0), (ssize_t)n);
	close(fd);
	*len = n;
	return b;
}

/* Opens path as qcow2, or fails the test with the engine's words. */
static inline struct qcow2 *qopen(const char *path, bool rw, int *fd)
{
	struct qcow2_opts o = { .writable = rw };
	struct err err = ERR_INIT;
	struct qcow2 *q = NULL;

	*fd = open_file(path, rw);
	if (qcow2_open(*fd, &o, &q, &err))
		fail_msg("qcow2_open %s: %s", path, err.msg);
	return q;
}

static inline void qclose(struct qcow2 *q, int fd)
{
	qcow2_close(q);
	close(fd);
}

/* qemu-img check must find no errors and no leaks. */
static inline void check_clean(const char *img)
{
	char out[8192];
	int st = sh_out(out, sizeof(out), QEMU_IMG " check %s", img);

	if (st || !strstr(out, "No errors were found") || strstr(out, "leaked"))
		fail_msg("qemu-img check %s (%d): %s", img, st, out);
}

/* The image's guest contents must equal the raw file's. */
static inline void check_same(const char *img, const char *raw)
{
	char out[4096];
	int st = sh_out(out, sizeof(out), QEMU_IMG " compare -f qcow2 -F raw %s %s", img, raw);

	if (st)
		fail_msg("qemu-img compare %s %s (%d): %s", img, raw, st, out);
}

/* Reads all of the image through the engine, in pieces of step bytes, and compares with raw. */
static inline void read_matches(struct qcow2 *q, const char *raw, size_t step)
{
	size_t n, size = (size_t)qcow2_info(q)->size;
	uint8_t *want = slurp(raw, &n), *got = malloc(size ? size : 1);
	struct err err = ERR_INIT;

	assert_non_null(got);
	assert_true(n >= size);
	for (size_t off = 0; off < size; off += step) {
		size_t len = size - off < step ? size - off : step;

		if (qcow2_read(q, off, got + off, len, &err))
			fail_msg("qcow2_read at %zu: %s", off, err.msg);
	}
	for (size_t i = 0; i < size; i++)
		if (got[i] != want[i])
			fail_msg("byte %zu: read 0x%02x, raw has 0x%02x", i, got[i], want[i]);
	free(want);
	free(got);
}

/* A deterministic pseudo-random sequence (xorshift), so a failure replays. */
static inline uint64_t qrand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#endif
