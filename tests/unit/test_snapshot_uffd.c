/*
 * The Uffd memory backend without KVM: the mapping message built and
 * read back (Firecracker 1.16's fields, in its order) and bad ones
 * refused; the offsets it sends are those of the memory file Hearth
 * writes; and the handshake end to end, Hearth's side (snap_uffd_attach
 * on guest RAM mapped as a restore maps it) served by tests/uffd's
 * handler from a real memory file: pages read back as the snapshot had
 * them, only the pages touched are faulted in (the handler's count), and
 * the handler exits once the RAM is gone; a memory hotplug region is
 * served too, and a block unplugged after the restore reads zeros when
 * plugged again, not the snapshot's bytes. Errors name the socket's
 * problem. The userfaultfd cases skip where the kernel refuses this
 * process one.
 */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem/guest_mem.h"
#include "mem/guest_mem_hotplug.h"
#include "mem/guest_mem_uffd.h"
#include "snapshot/memcore.h"
#include "snapshot/memfile_layout.h"
#include "snapshot/uffd.h"
#include "snapshot/uffd_msg.h"

#define RAM (8ull << 20)

static void test_msg_roundtrip(void **state)
{
	const struct uffd_mapping m[2] = {
		{ 0x7f0000000000ull, 3ull << 30, 2ull << 20, 4096 },
		{ 0x7f2000000000ull, 1ull << 30, 3ull << 30 | 4ull << 20, 4096 },
	};
	struct uffd_mapping back[UFFD_MSG_MAX_REGIONS];
	struct err e = ERR_INIT;
	const char *order[] = { "\"base_host_virt_addr\":", "\"size\":", "\"offset\":",
				"\"page_size\":", "\"page_size_kib\":" };
	const char *p;
	unsigned int n;
	char *s;
	size_t len;

	(void)state;
	assert_int_equal(uffd_msg_build(m, 2, &s, &len), 0);
	assert_true(len < UFFD_MSG_MAX);
	assert_int_equal(s[0], '[');
	/* Firecracker's field order, in each object. */
	p = s;
	for (unsigned int i = 0; i < 5; i++) {
		p = strstr(p, order[i]);
		assert_non_null(p);
	}
	assert_non_null(strstr(s, "\"page_size_kib\":4096"));   /* bytes, as Firecracker's */
	assert_int_equal(uffd_msg_parse(s, len, back, UFFD_MSG_MAX_REGIONS, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(back, m, sizeof(m));
	free(s);
}

static void test_msg_refused(void **state)
{
	static const char *const bad[][2] = {
		{ "[{", "not JSON" },
		{ "{}", "not an array" },
		{ "[]", "not an array" },
		{ "[1]", "region 0: not an object" },
		{ "[{\"size\":4096,\"offset\":0,\"page_size\":4096}]", "'base_host_virt_addr'" },
		{ "[{\"base_host_virt_addr\":4096,\"size\":-4096,\"offset\":0,\"page_size\":4096}]",
		  "'size'" },
		{ "[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":\"0\",\"page_size\":4096}]",
		  "'offset'" },
		{ "[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,\"page_size\":1000}]",
		  "power of two" },
		{ "[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,\"page_size\":4096,"
		  "\"page_size_kib\":4}]", "page_size_kib" },
		{ "[{\"base_host_virt_addr\":4097,\"size\":4096,\"offset\":0,\"page_size\":4096}]",
		  "multiple of its page_size" },
		{ "[{\"base_host_virt_addr\":4096,\"size\":0,\"offset\":0,\"page_size\":4096}]",
		  "multiple of its page_size" },
		{ "[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":12,\"page_size\":4096}]",
		  "offset is not a multiple" },
		{ "[{\"base_host_virt_addr\":4096,\"size\":18446744073709551616,\"offset\":0,"
		  "\"page_size\":4096}]", "too big integer" },
		{ "[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":4096},"
		  "{\"base_host_virt_addr\":8192,\"size\":4096,\"offset\":0,\"page_size\":4096}]",
		  "overlap" },
		{ "[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,\"page_size\":4096,"
		  "\"size\":8192}]", "not JSON" },
	};
	struct uffd_mapping m[UFFD_MSG_MAX_REGIONS];
	unsigned int n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err e = ERR_INIT;

		assert_int_equal(uffd_msg_parse(bad[i][0], strlen(bad[i][0]), m, UFFD_MSG_MAX_REGIONS,
						&n, &e), -EINVAL);
		if (!strstr(e.msg, bad[i][1]))
			fail_msg("%s: '%s' does not say '%s'", bad[i][0], e.msg, bad[i][1]);
		assert_int_equal(n, 0);
	}
	/* More regions than the receiver has room for. */
	{
		struct err e = ERR_INIT;
		const char *two = "[{\"base_host_virt_addr\":4096,\"size\":4096,\"offset\":0,"
				  "\"page_size\":4096},{\"base_host_virt_addr\":8192,\"size\":4096,"
				  "\"offset\":0,\"page_size\":4096}]";

		assert_int_equal(uffd_msg_parse(two, strlen(two), m, 1, &n, &e), -EINVAL);
		assert_int_equal(uffd_msg_parse(two, strlen(two), m, 2, &n, &e), 0);
		assert_int_equal(n, 2);
	}
}

struct files {
	char dir[64], mem[96], sock[96], count[96];
};

static void make_dir(struct files *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-uffd-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->mem, sizeof(f->mem), "%s/vm.mem", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/h.sock", f->dir);
	snprintf(f->count, sizeof(f->count), "%s/count", f->dir);
}

static void remove_dir(struct files *f)
{
	unlink(f->mem);
	unlink(f->sock);
	unlink(f->count);
	rmdir(f->dir);
}

/* A memory file of RAM bytes in which page i starts with i + 1 (page 5 all zero: a hole). */
static void write_memfile(const char *path)
{
	struct guest_mem gm;
	struct memcore_vcpu v;
	struct err e = ERR_INIT;

	memset(&v, 0, sizeof(v));
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	for (uint64_t p = 0; p < RAM / 4096; p++)
		if (p != 5)
			*(uint64_t *)(gm.regions[0].hva + p * 4096) = p + 1;
	assert_int_equal(memcore_write(path, &gm, &v, 1, NULL, &e), 0);
	guest_mem_destroy(&gm);
}

/* The offsets sent are those of the memory file a snapshot of that RAM has. */
static void test_offsets_are_the_files(void **state)
{
	struct uffd_mapping m[MEMCORE_MAX_REGIONS];
	struct memfile_layout l;
	struct guest_mem gm;
	struct err e = ERR_INIT;
	struct files f;
	int fd;

	(void)state;
	make_dir(&f);
	write_memfile(f.mem);
	fd = open(f.mem, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(memfile_layout_read(fd, &l, &e), 0);
	close(fd);
	assert_int_equal(guest_mem_layout(&gm, RAM), 0);
	assert_int_equal(snap_uffd_mappings(&gm, 1, m), 1);
	assert_int_equal(l.nregions, 1);
	assert_int_equal(m[0].offset, l.r[0].offset);
	assert_int_equal(m[0].size, l.r[0].size);
	assert_int_equal(m[0].page_size, 4096);
	/* RAM past the MMIO hole is two regions, the second's data after the first's. */
	assert_int_equal(guest_mem_layout(&gm, 4ull << 30), 0);
	assert_int_equal(snap_uffd_mappings(&gm, 2, m), 2);
	assert_true(m[1].offset >= m[0].offset + m[0].size);
	assert_int_equal(m[1].size, gm.regions[1].size);
	remove_dir(&f);
}

static bool have_uffd(void)
{
	struct guest_mem gm;
	int ret;

	assert_int_equal(guest_mem_init(&gm, 1ull << 20), 0);
	ret = guest_mem_uffd_register(&gm);
	guest_mem_destroy(&gm);
	if (ret == -EPERM)
		return false;
	assert_true(ret >= 0);
	return true;
}

static pid_t start_handler(const struct files *f)
{
	const char *bin = getenv("UFFD_HANDLER");
	pid_t pid;

	assert_non_null(bin);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		execl(bin, bin, f->sock, f->mem, "--count-file", f->count, (char *)NULL);
		_exit(127);
	}
	/* The socket appears once it listens. */
	for (int i = 0; i < 3000 && access(f->sock, F_OK); i++)
		usleep(10000);
	assert_int_equal(access(f->sock, F_OK), 0);
	return pid;
}

static void test_handshake_served(void **state)
{
	struct snap_uffd u;
	struct guest_mem gm;
	struct err e = ERR_INIT;
	struct files f;
	pid_t pid;
	int status;
	FILE *c;
	unsigned long count = 0;

	(void)state;
	if (!have_uffd())
		skip();
	make_dir(&f);
	write_memfile(f.mem);
	pid = start_handler(&f);
	u = (struct snap_uffd){ f.sock, 1 };
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	if (snap_uffd_attach(&u, &gm, &e))
		fail_msg("attach: %s", e.msg);
	/* Three pages touched, one of them the file's hole: each is the snapshot's. */
	assert_int_equal(*(uint64_t *)(gm.regions[0].hva + 0), 1);
	assert_int_equal(*(uint64_t *)(gm.regions[0].hva + 1000 * 4096 + 8), 0);
	assert_int_equal(*(uint64_t *)(gm.regions[0].hva + 1000 * 4096), 1001);
	assert_int_equal(*(uint64_t *)(gm.regions[0].hva + 5 * 4096), 0);
	/* Hearth's writes stay its own; a page written first is served first, then written. */
	*(uint64_t *)(gm.regions[0].hva + 7 * 4096 + 8) = 42;
	assert_int_equal(*(uint64_t *)(gm.regions[0].hva + 7 * 4096), 8);
	guest_mem_destroy(&gm);
	/* The RAM gone, the handler's connection closes and it exits, having served 4 pages. */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	c = fopen(f.count, "r");
	assert_non_null(c);
	assert_int_equal(fscanf(c, "%lu", &count), 1);
	fclose(c);
	assert_int_equal(count, 4);
	remove_dir(&f);
}

#define HP_BLOCK (2ull << 20)
#define HP_SIZE (128ull << 20)

/*
 * The hotplug region through the handler: its mapping comes after RAM's
 * at the memory file's offset for it, a plugged block's page is the
 * snapshot's, and once unplugged and plugged again it reads zeros (the
 * range left the userfaultfd: the handler would have served 77 again).
 */
static void test_handshake_hotplug(void **state)
{
	struct uffd_mapping m[MEMCORE_MAX_REGIONS];
	struct memfile_layout l;
	struct snap_uffd u;
	struct guest_mem gm;
	struct memcore_vcpu v;
	struct err e = ERR_INIT;
	struct files f;
	unsigned long count = 0;
	int status, fd;
	pid_t pid;
	FILE *c;

	(void)state;
	if (!have_uffd())
		skip();
	make_dir(&f);
	memset(&v, 0, sizeof(v));
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	assert_int_equal(guest_mem_hotplug_init(&gm, HP_SIZE, HP_BLOCK, HP_SIZE), 0);
	assert_int_equal(guest_mem_hotplug_set(&gm, HP_BLOCK, HP_BLOCK, true), 0);
	*(uint64_t *)(gm.hp->hva + HP_BLOCK) = 77;
	assert_int_equal(memcore_write(f.mem, &gm, &v, 1, NULL, &e), 0);
	guest_mem_destroy(&gm);
	fd = open(f.mem, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(memfile_layout_read(fd, &l, &e), 0);
	close(fd);

	pid = start_handler(&f);
	u = (struct snap_uffd){ f.sock, 1 };
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	assert_int_equal(guest_mem_hotplug_init(&gm, HP_SIZE, HP_BLOCK, HP_SIZE), 0);
	assert_int_equal(snap_uffd_mappings(&gm, 1, m), 2);
	assert_int_equal(m[1].base_host_virt_addr, (uint64_t)(uintptr_t)gm.hp->hva);
	assert_int_equal(m[1].offset, l.r[1].offset);
	assert_int_equal(m[1].size, HP_SIZE);
	assert_int_equal(m[1].page_size, 4096);
	if (snap_uffd_attach(&u, &gm, &e))
		fail_msg("attach: %s", e.msg);
	assert_int_equal(guest_mem_hotplug_set(&gm, HP_BLOCK, HP_BLOCK, true), 0);
	assert_int_equal(*(uint64_t *)(gm.hp->hva + HP_BLOCK), 77);
	assert_int_equal(guest_mem_hotplug_set(&gm, HP_BLOCK, HP_BLOCK, false), 0);
	assert_int_equal(guest_mem_hotplug_set(&gm, HP_BLOCK, HP_BLOCK, true), 0);
	assert_int_equal(*(uint64_t *)(gm.hp->hva + HP_BLOCK), 0);
	guest_mem_destroy(&gm);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	c = fopen(f.count, "r");
	assert_non_null(c);
	assert_int_equal(fscanf(c, "%lu", &count), 1);
	fclose(c);
	assert_int_equal(count, 1);
	remove_dir(&f);
}

static void expect_refused(const char *path, int want, const char *words)
{
	struct snap_uffd u = { path, 1 };
	struct guest_mem gm;
	struct err e = ERR_INIT;

	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	assert_int_equal(snap_uffd_attach(&u, &gm, &e), want);
	if (!strstr(e.msg, words) || !strstr(e.msg, path))
		fail_msg("'%s' does not name %s and say '%s'", e.msg, path, words);
	guest_mem_destroy(&gm);
}

static void test_handshake_errors(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct files f;
	char longp[200];
	int fd;

	(void)state;
	if (!have_uffd())
		skip();
	make_dir(&f);
	expect_refused(f.sock, -ENOENT, "no such socket");
	/* Bound but not listening: a handler that is gone. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f.sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	expect_refused(f.sock, -ECONNREFUSED, "nothing listens");
	close(fd);
	unlink(f.sock);
	write_memfile(f.mem);
	expect_refused(f.mem, -ECONNREFUSED, "nothing listens");
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	expect_refused(longp, -EINVAL, "longer than");
	remove_dir(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_roundtrip),
		cmocka_unit_test(test_msg_refused),
		cmocka_unit_test(test_offsets_are_the_files),
		cmocka_unit_test(test_handshake_served),
		cmocka_unit_test(test_handshake_hotplug),
		cmocka_unit_test(test_handshake_errors),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
