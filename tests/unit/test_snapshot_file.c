/*
 * The snapshot on disk: written whole or not at all. A full disk (a
 * write hook that fails with ENOSPC) and a writer killed with SIGKILL
 * mid-write (a hook that pauses it) leave the old file, or none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapshot/file.h"
#include "snapshot/format.h"

struct dir {
	char path[64];
	char file[128];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	snprintf(d->path, sizeof(d->path), "/tmp/hearth-snap-XXXXXX");
	assert_non_null(mkdtemp(d->path));
	snprintf(d->file, sizeof(d->file), "%s/vm.snap", d->path);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;
	struct dirent *e;
	DIR *dir = opendir(d->path);
	char p[512];

	while (dir && (e = readdir(dir))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, "..")))
			continue;
		snprintf(p, sizeof(p), "%s/%s", d->path, e->d_name);
		unlink(p);
	}
	if (dir)
		closedir(dir);
	rmdir(d->path);
	free(d);
	return 0;
}

/* A file of n device sections of 4 KiB each, their bytes all `fill`. */
static void make(uint8_t fill, unsigned int n, void **buf, size_t *len)
{
	static uint8_t block[4096];
	struct snap_builder b;
	char id[16];

	memset(block, fill, sizeof(block));
	snap_builder_init(&b);
	for (unsigned int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "dev%u", i);
		assert_int_equal(snap_builder_add(&b, SNAP_SEC_DEVICE, id, 1, block, sizeof(block)),
				 0);
	}
	assert_int_equal(snap_builder_finish(&b, "test", buf, len), 0);
}

/* The fill byte of the file at path's first section, or -errno from loading it. */
static int load_fill(const char *path)
{
	struct snap_file f;
	struct err err;
	void *buf;
	int ret = snap_file_load(path, &f, &buf, &err);

	if (ret)
		return ret;
	ret = snap_find(&f, SNAP_SEC_DEVICE, "dev0")->data[0];
	snap_file_release(&f);
	free(buf);
	return ret;
}

static unsigned int count_entries(const char *path)
{
	struct dirent *e;
	DIR *dir = opendir(path);
	unsigned int n = 0;

	assert_non_null(dir);
	while ((e = readdir(dir)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(dir);
	return n;
}

static void test_write_load_replace(void **state)
{
	struct dir *d = *state;
	struct err err;
	size_t len;
	void *buf;

	make(0x11, 3, &buf, &len);
	assert_int_equal(snap_file_write(d->file, buf, len, NULL, &err), 0);
	free(buf);
	assert_int_equal(load_fill(d->file), 0x11);
	make(0x22, 5, &buf, &len);
	assert_int_equal(snap_file_write(d->file, buf, len, NULL, &err), 0);
	free(buf);
	assert_int_equal(load_fill(d->file), 0x22);
	assert_int_equal(count_entries(d->path), 1); /* no temporary file left */
}

struct full_disk {
	size_t room;   /* bytes the "disk" takes before it is full */
	size_t taken;
};

static ssize_t full_write(void *ctx, int fd, const void *buf, size_t len)
{
	struct full_disk *fd_state = ctx;
	size_t n;

	if (fd_state->taken >= fd_state->room) {
		errno = ENOSPC;
		return -1;
	}
	n = fd_state->room - fd_state->taken < len ? fd_state->room - fd_state->taken : len;
	fd_state->taken += n;
	return write(fd, buf, n);
}

static void test_enospc_keeps_old(void **state)
{
	struct dir *d = *state;
	struct full_disk disk = { .room = 100000 };
	struct snap_write_hooks hooks = { .write = full_write, .ctx = &disk };
	struct err err;
	size_t len;
	void *buf;

	make(0x33, 2, &buf, &len);
	assert_int_equal(snap_file_write(d->file, buf, len, NULL, &err), 0);
	free(buf);
	make(0x44, 64, &buf, &len); /* 256 KiB: the disk fills partway */
	assert_int_equal(snap_file_write(d->file, buf, len, &hooks, &err), -ENOSPC);
	free(buf);
	assert_non_null(strstr(err.msg, "writing: No space left on device"));
	assert_int_equal(load_fill(d->file), 0x33);
	assert_int_equal(count_entries(d->path), 1);

	/* No old file: still nothing that loads, and nothing left behind. */
	unlink(d->file);
	disk.taken = 0;
	make(0x55, 64, &buf, &len);
	assert_int_equal(snap_file_write(d->file, buf, len, &hooks, &err), -ENOSPC);
	free(buf);
	assert_int_equal(load_fill(d->file), -ENOENT);
	assert_int_equal(count_entries(d->path), 0);
}

/* In the child: tells the parent the first chunk is out, then waits to be killed. */
static void pause_after_first(void *ctx, size_t done, size_t total)
{
	int fd = *(int *)ctx;

	if (done < total) {
		(void)!write(fd, "w", 1);
		for (;;)
			pause();
	}
}

static void kill_mid_write(const char *path, uint8_t fill)
{
	struct snap_write_hooks hooks = { .progress = pause_after_first };
	int p[2], status;
	pid_t pid;
	char c;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct err err;
		size_t len;
		void *buf;

		close(p[0]);
		hooks.ctx = &p[1];
		make(fill, 64, &buf, &len);
		snap_file_write(path, buf, len, &hooks, &err);
		_exit(0); /* never reached: the hook waits for SIGKILL */
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(p[0]);
}

static void test_killed_writer(void **state)
{
	struct dir *d = *state;
	char tmp[512];
	struct err err;
	struct snap_file f;
	size_t len;
	void *buf;

	/* No old file: the target does not exist afterwards. */
	kill_mid_write(d->file, 0x66);
	assert_int_equal(access(d->file, F_OK), -1);
	assert_int_equal(load_fill(d->file), -ENOENT);

	/* An old file: it is still the one that loads. */
	make(0x77, 2, &buf, &len);
	assert_int_equal(snap_file_write(d->file, buf, len, NULL, &err), 0);
	free(buf);
	kill_mid_write(d->file, 0x88);
	assert_int_equal(load_fill(d->file), 0x77);

	/* Each dead writer left a hidden temporary file (two here), and none loads. */
	assert_int_equal(count_entries(d->path), 3);
	{
		DIR *dir = opendir(d->path);
		struct dirent *e;

		tmp[0] = '\0';
		while ((e = readdir(dir)))
			if (!strncmp(e->d_name, ".vm.snap.tmp-", 13))
				snprintf(tmp, sizeof(tmp), "%s/%s", d->path, e->d_name);
		closedir(dir);
	}
	assert_true(tmp[0]);
	assert_int_equal(snap_file_load(tmp, &f, &buf, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "truncated"));
}

static void test_load_errors(void **state)
{
	struct dir *d = *state;
	struct snap_file f;
	struct err err;
	void *buf;
	int fd;

	assert_int_equal(snap_file_load(d->file, &f, &buf, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "opening: No such file or directory"));
	assert_int_equal(snap_file_load(d->path, &f, &buf, &err), -EISDIR);
	fd = open(d->file, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "HEARTHSN\1", 9), 9);
	close(fd);
	assert_int_equal(snap_file_load(d->file, &f, &buf, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "File too short to contain CRC"));
	assert_int_equal(snap_file_write("/nonexistent-dir/x.snap", "x", 1, NULL, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "opening its directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_load_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
