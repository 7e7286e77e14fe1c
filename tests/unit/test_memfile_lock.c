/*
 * Memory files are locked (issue 18, item 5): a process that maps a
 * memory file as a restore does (snap_mem_open, then guest RAM mapped
 * from it with guest_mem_init_file, its own fd closed) keeps
 * `hearth snapshot-merge` off it, and the refusal names that process's
 * PID; once its RAM is unmapped the merge goes through. A restore is
 * refused the same way while a merge holds the file. The other process
 * is a child, driven through pipes (no timing).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "mem/guest_mem_file.h"
#include "snapshot/memcore.h"
#include "snapshot/memfile_layout.h"
#include "snapshot/memfile_lock.h"
#include "snapshot/snapshot.h"

#define RAM (1ull << 20)
#define PAGE 4096ull

struct fx {
	char dir[64], base[96], diff[96];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct guest_mem gm;
	struct memcore_vcpu regs = { 0 };
	struct err err = ERR_INIT;
	uint64_t map[RAM / PAGE / 64] = { 0 };
	const uint64_t *maps[1] = { map };

	assert_non_null(f);
	strcpy(f->dir, "/tmp/hearth-memlock-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->base, sizeof(f->base), "%s/base.mem", f->dir);
	snprintf(f->diff, sizeof(f->diff), "%s/diff.mem", f->dir);
	/* A base of 0x11 pages, then a diff whose page 3 is 0x22: what create writes. */
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	memset(gm.regions[0].hva, 0x11, RAM);
	assert_int_equal(memcore_write(f->base, &gm, &regs, 1, NULL, &err), 0);
	memset(gm.regions[0].hva + 3 * PAGE, 0x22, PAGE);
	map[0] = 1ull << 3;
	assert_int_equal(memcore_write(f->diff, &gm, &regs, 1, maps, &err), 0);
	guest_mem_destroy(&gm);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->base);
	unlink(f->diff);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

/* Byte b of page 3 of the base's RAM. */
static uint8_t base_page3(struct fx *f)
{
	struct memfile_layout l;
	struct err err = ERR_INIT;
	int fd = open(f->base, O_RDONLY | O_CLOEXEC);
	uint8_t b = 0;

	assert_true(fd >= 0);
	assert_int_equal(memfile_layout_read(fd, &l, &err), 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)(l.r[0].offset + 3 * PAGE)), 1);
	close(fd);
	return b;
}

/*
 * What a restore does with the memory file: snap_load opens and locks it
 * (snap_mem_open), the VM maps its RAM from it (vm_create_from:
 * guest_mem_init_file), then snap_load closes its fd.
 */
static int restore_map(const char *path, struct guest_mem *gm, struct err *err)
{
	struct vm_mem_file mf = { .fd = -1 };
	struct vm_config cfg;
	int ret;

	vm_config_init(&cfg);
	cfg.machine.mem_size_mib = RAM >> 20;
	ret = snap_mem_open(path, &cfg, &mf, err);
	vm_config_release(&cfg);
	if (ret)
		return ret;
	ret = guest_mem_init_file(gm, RAM, mf.fd, mf.offset, mf.nregions);
	close(mf.fd);
	return ret;
}

struct child {
	pid_t pid;
	int to, from;   /* our ends of the two pipes */
};

static void child_say(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		_exit(3);
}

static char child_hear(int fd)
{
	char c = 0;

	return read(fd, &c, 1) == 1 ? c : 0;
}

/*
 * A child that runs what(path) and says 'y' (or 'n'), waits for any
 * byte, undoes it and says 'u', then waits for the pipe to close.
 */
static void child_start(struct child *c, const char *path, bool exclusive)
{
	int down[2], up[2];

	assert_int_equal(pipe(down), 0);
	assert_int_equal(pipe(up), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (!c->pid) {
		struct guest_mem gm;
		struct err err = ERR_INIT;
		int fd = -1, ret;

		close(down[1]);
		close(up[0]);
		if (exclusive) {
			fd = open(path, O_RDWR | O_CLOEXEC);
			ret = fd < 0 ? -errno : memfile_lock_exclusive(fd, path, &err);
		} else {
			ret = restore_map(path, &gm, &err);
		}
		child_say(up[1], ret ? 'n' : 'y');
		child_hear(down[0]);
		if (exclusive)
			close(fd);
		else if (!ret)
			guest_mem_destroy(&gm);
		child_say(up[1], 'u');
		child_hear(down[0]);
		_exit(0);
	}
	close(down[0]);
	close(up[1]);
	c->to = down[1];
	c->from = up[0];
	assert_int_equal(child_hear(c->from), 'y');
}

static void child_release(struct child *c)
{
	child_say(c->to, 'g');
	assert_int_equal(child_hear(c->from), 'u');
}

static void child_end(struct child *c)
{
	int status;

	close(c->to);
	close(c->from);
	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void assert_mentions(const char *msg, const char *needle)
{
	if (!strstr(msg, needle))
		fail_msg("'%s' does not mention '%s'", msg, needle);
}

/* A VM restored from the base: merge refuses, names its PID, writes nothing; then it may. */
static void test_merge_refused_while_mapped(void **state)
{
	struct fx *f = *state;
	char *argv[] = { "hearth", "snapshot-merge", "--base", f->base, "--diff", f->diff, NULL };
	struct err err = ERR_INIT;
	struct child c;
	char pid[32];
	bool started = true;

	child_start(&c, f->base, false);
	snprintf(pid, sizeof(pid), "PID %d)", (int)c.pid);
	assert_int_equal(memfile_merge(f->base, f->diff, &started, &err), -EBUSY);
	assert_false(started);
	assert_mentions(err.msg, pid);
	assert_mentions(err.msg, "a VM restored from it maps it");
	assert_int_equal(base_page3(f), 0x11);
	/* The command line: a refusal, nothing written (exit status 2). */
	assert_int_equal(cli_merge_main(6, argv), 2);
	assert_int_equal(base_page3(f), 0x11);
	/* Its RAM unmapped (the process still running): the lock went with it. */
	child_release(&c);
	assert_int_equal(memfile_merge(f->base, f->diff, &started, &err), 0);
	assert_int_equal(base_page3(f), 0x22);
	child_end(&c);
}

/* The lock lasts as long as the mapping, not as long as the restore's own fd. */
static void test_lock_held_by_the_mapping(void **state)
{
	struct fx *f = *state;
	struct guest_mem gm;
	struct err err = ERR_INIT;
	char pid[32];

	assert_int_equal(restore_map(f->base, &gm, &err), 0);   /* its fd is closed already */
	snprintf(pid, sizeof(pid), "PID %d)", (int)getpid());
	assert_int_equal(memfile_merge(f->base, f->diff, NULL, &err), -EBUSY);
	assert_mentions(err.msg, pid);
	/* Two VMs from one base share it. */
	{
		struct guest_mem gm2;

		assert_int_equal(restore_map(f->base, &gm2, &err), 0);
		guest_mem_destroy(&gm2);
	}
	assert_int_equal(memfile_merge(f->base, f->diff, NULL, &err), -EBUSY);
	guest_mem_destroy(&gm);
	assert_int_equal(memfile_merge(f->base, f->diff, NULL, &err), 0);
	assert_int_equal(base_page3(f), 0x22);
}

/* A merge holding the base: a restore from it is refused, naming the merge's PID. */
static void test_restore_refused_while_merging(void **state)
{
	struct fx *f = *state;
	struct guest_mem gm;
	struct err err = ERR_INIT;
	struct child c;
	char pid[32];

	child_start(&c, f->base, true);
	snprintf(pid, sizeof(pid), "PID %d)", (int)c.pid);
	assert_int_equal(restore_map(f->base, &gm, &err), -EBUSY);
	assert_mentions(err.msg, "snapshot-merge is rewriting it");
	assert_mentions(err.msg, pid);
	/* And a second merge onto the same base. */
	assert_int_equal(memfile_merge(f->base, f->diff, NULL, &err), -EBUSY);
	assert_mentions(err.msg, "snapshot-merge is rewriting it");
	child_release(&c);
	assert_int_equal(restore_map(f->base, &gm, &err), 0);
	guest_mem_destroy(&gm);
	child_end(&c);
}

/* Holders are found by the file's device and inode; other files' locks are not theirs. */
static void test_holders(void **state)
{
	struct fx *f = *state;
	struct memfile_holder h[4];
	int a = open(f->base, O_RDONLY | O_CLOEXEC), b = open(f->diff, O_RDONLY | O_CLOEXEC);

	assert_true(a >= 0 && b >= 0);
	assert_int_equal(memfile_lock_holders(a, h, 4), 0);
	assert_int_equal(flock(b, LOCK_SH), 0);
	assert_int_equal(memfile_lock_holders(a, h, 4), 0);
	assert_int_equal(memfile_lock_holders(b, h, 4), 1);
	assert_int_equal(h[0].pid, getpid());
	assert_false(h[0].exclusive);
	assert_int_equal(flock(b, LOCK_EX), 0);
	assert_int_equal(memfile_lock_holders(b, h, 4), 1);
	assert_true(h[0].exclusive);
	close(a);
	close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_merge_refused_while_mapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_held_by_the_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refused_while_merging, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_holders, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
