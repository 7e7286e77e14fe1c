/*
 * util/trim.h: trim_zero and trim_copy give memset's and memcpy's bytes,
 * at any alignment and length, and write no page whose bytes would not
 * change. That holds on every kernel, and is checked so: the pages that
 * must not change are read-only while the call runs (a write would be a
 * fault). What it buys depends on the kernel: where an untouched page of
 * anonymous memory reads as the shared zero page, a page the calls leave
 * alone stays the kernel's, not this process's own (/proc/self/pagemap's
 * "exclusively mapped" bit); a kernel without a shared zero page
 * (pvm_no_zero_page=1) gives the process a page of its own at the first
 * read. zero_page_shared() proves which, on this machine, first.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/trim.h"

#define PAGES 8

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* Whether the page at p is this process's own: present and mapped by it alone. */
static int page_own(const void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &e, sizeof(e), (off_t)((uintptr_t)p / page_size() * 8)),
			 (ssize_t)sizeof(e));
	close(fd);
	return (e >> 63 & 1) && (e >> 56 & 1);
}

static uint8_t *fresh(void)
{
	void *p = mmap(NULL, PAGES * page_size(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/*
 * The control: whether reading an untouched page leaves it the kernel's
 * (a shared zero page) on this machine. Asked once per test, of a page
 * of its own.
 */
static bool zero_page_shared(void)
{
	uint8_t *m = fresh();
	volatile uint8_t c = m[page_size()];
	bool shared;

	(void)c;
	shared = !page_own(m + page_size());
	munmap(m, PAGES * page_size());
	if (!shared)
		print_message("no shared zero page on this kernel: a read gives the process a "
			      "page of its own (checked: writes only)\n");
	return shared;
}

/* Every page but those in keep (a bit each) read-only: trim must not write them. */
static void freeze_but(uint8_t *m, unsigned int keep)
{
	size_t pg = page_size();

	for (unsigned int i = 0; i < PAGES; i++)
		if (!(keep >> i & 1))
			assert_int_equal(mprotect(m + i * pg, pg, PROT_READ), 0);
}

static void test_zero_writes_only_what_changes(void **state)
{
	size_t pg = page_size();
	bool shared = zero_page_shared();
	uint8_t *m = fresh();

	(void)state;
	m[3 * pg + 17] = 0x5a;
	m[5 * pg + pg - 1] = 1;
	freeze_but(m, 1u << 3 | 1u << 5);
	trim_zero(m, PAGES * pg);
	for (size_t i = 0; i < PAGES * pg; i++)
		assert_int_equal(m[i], 0);
	for (unsigned int i = 0; shared && i < PAGES; i++)
		assert_int_equal(page_own(m + i * pg), i == 3 || i == 5);
	munmap(m, PAGES * pg);
}

static void test_copy_writes_only_what_changes(void **state)
{
	size_t pg = page_size();
	bool shared = zero_page_shared();
	uint8_t *src = calloc(PAGES, pg);
	uint8_t *m = fresh();

	(void)state;
	assert_non_null(src);
	src[2 * pg] = 7;
	src[6 * pg + 100] = 9;
	freeze_but(m, 1u << 2 | 1u << 6);
	trim_copy(m, src, PAGES * pg);
	assert_memory_equal(m, src, PAGES * pg);
	for (unsigned int i = 0; shared && i < PAGES; i++)
		assert_int_equal(page_own(m + i * pg), i == 2 || i == 6);
	/* Again with the bytes already there: nothing more is written. */
	assert_int_equal(mprotect(m + 2 * pg, pg, PROT_READ), 0);
	trim_copy(m + 2 * pg, src + 2 * pg, pg);
	if (shared)
		assert_int_equal(page_own(m + 3 * pg), 0);
	free(src);
	munmap(m, PAGES * pg);
}

static void test_same_bytes_as_libc(void **state)
{
	size_t pg = page_size();
	uint8_t *a = malloc(3 * pg), *b = malloc(3 * pg), *src = malloc(3 * pg);

	(void)state;
	assert_true(a && b && src);
	srand(7);
	for (int round = 0; round < 2000; round++) {
		size_t off = (size_t)rand() % (2 * pg), len = (size_t)rand() % (3 * pg - off + 1);

		for (size_t i = 0; i < 3 * pg; i++) {
			a[i] = b[i] = (uint8_t)(rand() % 3 ? 0 : rand());
			src[i] = (uint8_t)(rand() % 3 ? a[i] : rand());
		}
		if (round & 1) {
			trim_zero(a + off, len);
			memset(b + off, 0, len);
		} else {
			trim_copy(a + off, src + off, len);
			memcpy(b + off, src + off, len);
		}
		assert_memory_equal(a, b, 3 * pg);
	}
	free(a);
	free(b);
	free(src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_writes_only_what_changes),
		cmocka_unit_test(test_copy_writes_only_what_changes),
		cmocka_unit_test(test_same_bytes_as_libc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
