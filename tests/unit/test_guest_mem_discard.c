/*
 * guest_mem_discard (mem/guest_mem.h) under each kind of RAM: anonymous,
 * a File restore's private mapping, a Uffd restore's, 2 MiB pages, and
 * the hotplug region's plugged memory (anonymous, a File restore's, and
 * named by a free page report). The RAM is balloon_fixture.h's.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "balloon_fixture.h"
#include "mem/guest_mem_hotplug.h"

/* ------------------------------------------------------------ guest_mem_discard */

static void test_discard_anon(void **state)
{
	struct fx *f = *state;
	uint64_t map[64];

	assert_int_equal(guest_mem_dirty_enable(&f->mem), 0);
	fill(f, PAGES, 0x4000, 0xaa);
	assert_int_equal(guest_mem_dirty_collect(&f->mem, -1, 0, map), 0);
	assert_int_equal(guest_mem_discard(&f->mem, PAGES + 0x1000, 0x2000), 0x2000);
	assert_true(all(f, PAGES, 0x1000, 0xaa));
	assert_true(all(f, PAGES + 0x1000, 0x2000, 0));
	assert_true(all(f, PAGES + 0x3000, 0x1000, 0xaa));
	/* Marked for a Diff snapshot. */
	assert_true(guest_mem_dirty_words(&f->mem, 0) <= 64);
	assert_int_equal(guest_mem_dirty_collect(&f->mem, -1, 0, map), 0);
	assert_int_equal((map[PFN(PAGES) / 64] >> (PFN(PAGES) % 64)) & 0xf, 0x6);
	/* Refused whole, nothing touched: unaligned, outside RAM, across a region's end. */
	assert_int_equal(guest_mem_discard(&f->mem, PAGES + 0x800, 0x1000), -EINVAL);
	assert_int_equal(guest_mem_discard(&f->mem, PAGES, 0x800), -EINVAL);
	assert_int_equal(guest_mem_discard(&f->mem, LOW, 0x1000), -EINVAL);
	fill(f, LOW - 0x1000, 0x1000, 0xcc);
	assert_int_equal(guest_mem_discard(&f->mem, LOW - 0x1000, 0x2000), -EINVAL);
	assert_int_equal(guest_mem_discard(&f->mem, UINT64_MAX - 0xfff, 0x1000), -EINVAL);
	assert_true(all(f, LOW - 0x1000, 0x1000, 0xcc));
	assert_true(all(f, PAGES, 0x1000, 0xaa));
	assert_int_equal(guest_mem_discard(&f->mem, PAGES, 0), 0);
	fill(f, HIGH_GPA, HIGH, 0xdd);
	assert_int_equal(guest_mem_discard(&f->mem, HIGH_GPA, HIGH), (int64_t)HIGH);
	assert_true(all(f, HIGH_GPA, HIGH, 0));
}

/* A File restore's RAM: the guest's range reads zeros, the file keeps its bytes. */
static void test_discard_file(void **state)
{
	char path[] = "/tmp/hearth-balloon-XXXXXX";
	uint64_t off = 0;
	struct guest_mem gm;
	uint8_t page[4096];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	for (unsigned int i = 0; i < 512; i++) {
		memset(page, (int)(i + 1), sizeof(page));
		assert_int_equal(pwrite(fd, page, sizeof(page), 4096 * i), 4096);
	}
	assert_int_equal(guest_mem_init_file(&gm, 2ull << 20, fd, &off, 1), 0);
	/* One page the guest wrote (its private copy), one only read. */
	memset(gm.regions[0].hva + 0x3000, 0xee, 0x1000);
	assert_int_equal(gm.regions[0].hva[0x2000], 3);
	assert_int_equal(guest_mem_discard(&gm, 0x2000, 0x2000), 0x2000);
	for (unsigned int i = 0x2000; i < 0x4000; i++)
		assert_int_equal(gm.regions[0].hva[i], 0);
	assert_int_equal(gm.regions[0].hva[0x1fff], 2);
	assert_int_equal(gm.regions[0].hva[0x4000], 5);
	assert_int_equal(pread(fd, page, sizeof(page), 0x2000), 4096);
	assert_int_equal(page[0], 3);
	assert_int_equal(pread(fd, page, sizeof(page), 0x3000), 4096);
	assert_int_equal(page[4095], 4);
	/* The new pages are the guest's RAM like any other. */
	gm.regions[0].hva[0x2000] = 9;
	assert_int_equal(gm.regions[0].hva[0x2000], 9);
	guest_mem_destroy(&gm);
	close(fd);
}

/*
 * Shared RAM (a vhost-user backend maps the memfd too): the range reads
 * zeros through every mapping of the file, and its pages leave the file
 * (MADV_DONTNEED alone would keep them: the backend's mapping holds them).
 */
static void test_discard_shared(void **state)
{
	struct guest_mem gm;
	struct stat st;
	uint8_t *other;
	blkcnt_t before;

	(void)state;
	assert_int_equal(guest_mem_init_shared(&gm, 4ull << 20), 0);
	assert_true(gm.shared);
	/* Above 3 GiB too: the second region starts where the first ends in the file. */
	assert_int_equal(gm.shm_offset[0], 0);
	other = mmap(NULL, 4ull << 20, PROT_READ, MAP_SHARED, gm.shm_fd, 0);
	assert_true(other != MAP_FAILED);
	memset(gm.regions[0].hva, 0x5a, 1u << 20);
	assert_int_equal(other[0x1000], 0x5a);
	assert_int_equal(fstat(gm.shm_fd, &st), 0);
	before = st.st_blocks;
	assert_int_equal(guest_mem_discard(&gm, 0x1000, 0x80000), 0x80000);
	/* Before any read: tmpfs allocates a page on a read fault in a hole. */
	assert_int_equal(fstat(gm.shm_fd, &st), 0);
	assert_true(st.st_blocks <= before - (0x80000 / 512));
	assert_int_equal(gm.regions[0].hva[0x1000], 0);
	assert_int_equal(other[0x1000], 0);
	assert_int_equal(other[0x80fff], 0);
	assert_int_equal(other[0x81000], 0x5a);
	assert_int_equal(other[0xfff], 0x5a);
	munmap(other, 4ull << 20);
	guest_mem_destroy(&gm);
}

/* A Uffd restore's RAM: the hole gets the zero page, so no fault waits for a handler. */
static void test_discard_uffd(void **state)
{
	static uint8_t src[0x4000] __attribute__((aligned(4096)));
	struct uffdio_copy c;
	struct guest_mem gm;
	unsigned char vec[4];
	int fd;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, 2ull << 20), 0);
	fd = guest_mem_uffd_register(&gm);
	if (fd < 0) {
		guest_mem_destroy(&gm);
		skip();
	}
	memset(src, 0x5a, sizeof(src));
	c = (struct uffdio_copy){ .dst = (uint64_t)(uintptr_t)gm.regions[0].hva,
				  .src = (uint64_t)(uintptr_t)src, .len = sizeof(src) };
	assert_int_equal(ioctl(fd, UFFDIO_COPY, &c), 0);
	assert_int_equal(guest_mem_discard(&gm, 0x1000, 0x2000), 0x2000);
	/* Present (the zero page), so the reads below cannot block. */
	assert_int_equal(mincore(gm.regions[0].hva, 0x4000, vec), 0);
	for (unsigned int i = 0; i < 4; i++)
		assert_true(vec[i] & 1);
	assert_int_equal(gm.regions[0].hva[0x0fff], 0x5a);
	for (unsigned int i = 0x1000; i < 0x3000; i++)
		assert_int_equal(gm.regions[0].hva[i], 0);
	assert_int_equal(gm.regions[0].hva[0x3000], 0x5a);
	guest_mem_destroy(&gm);
}

/* 2 MiB pages go back whole or not at all. */
static void test_discard_huge(void **state)
{
	struct guest_mem gm;

	(void)state;
	/* The rounding, on RAM that only says it is huge (no pool needed). */
	assert_int_equal(guest_mem_init(&gm, 4ull << 20), 0);
	gm.huge = true;
	memset(gm.regions[0].hva, 0x77, 4ull << 20);
	assert_int_equal(guest_mem_discard(&gm, 0x1000, 0x2000), 0);
	assert_int_equal(gm.regions[0].hva[0x1000], 0x77);
	assert_int_equal(guest_mem_discard(&gm, 0x1000, (4ull << 20) - 0x1000), 2ull << 20);
	assert_int_equal(gm.regions[0].hva[0x1fffff], 0x77);
	assert_int_equal(gm.regions[0].hva[0x200000], 0);
	assert_int_equal(gm.regions[0].hva[0x3fffff], 0);
	/* A Uffd handler would serve the old bytes again there: nothing is given back. */
	memset(gm.regions[0].hva, 0x77, 4ull << 20);
	gm.uffd_held = true;
	assert_int_equal(guest_mem_discard(&gm, 0, 4ull << 20), 0);
	gm.uffd_held = false;
	assert_int_equal(gm.regions[0].hva[0x200000], 0x77);
	guest_mem_destroy(&gm);

	if (guest_mem_init_huge(&gm, 4ull << 20))
		skip();   /* no 2 MiB hugetlbfs pages on this host */
	memset(gm.regions[0].hva, 0x77, 4ull << 20);
	assert_int_equal(guest_mem_discard(&gm, 0x1000, 0x2000), 0);
	assert_int_equal(gm.regions[0].hva[0x1000], 0x77);
	assert_int_equal(guest_mem_discard(&gm, 0x1000, (4ull << 20) - 0x1000), 2ull << 20);
	assert_int_equal(gm.regions[0].hva[0x1fffff], 0x77);
	assert_int_equal(gm.regions[0].hva[0x200000], 0);
	assert_int_equal(gm.regions[0].hva[0x3fffff], 0);
	guest_mem_destroy(&gm);
}

/* ------------------------------------------------- the hotplug region's memory */

#define HP_MiB (1ull << 20)

/* Plugged memory of the hotplug region goes back as RAM does; unplugged memory is never touched. */
static void test_discard_hotplug(void **state)
{
	struct fx *f = *state;
	uint64_t hp;

	assert_int_equal(guest_mem_hotplug_init(&f->mem, 8 * HP_MiB, 2 * HP_MiB, 4 * HP_MiB), 0);
	hp = f->mem.hp->gpa;
	/* Nothing plugged yet: the host's already, refused. */
	assert_int_equal(guest_mem_discard(&f->mem, hp, 0x1000), -EINVAL);
	assert_int_equal(guest_mem_hotplug_set(&f->mem, 0, 4 * HP_MiB, true), 0);
	fill(f, hp, 4 * HP_MiB, 0xbb);
	assert_int_equal(guest_mem_dirty_enable(&f->mem), 0);
	assert_int_equal(guest_mem_discard(&f->mem, hp + 0x3000, 0x5000), 0x5000);
	assert_true(all(f, hp + 0x3000, 0x5000, 0));
	assert_true(all(f, hp, 0x3000, 0xbb));
	assert_true(all(f, hp + 0x8000, 4 * HP_MiB - 0x8000, 0xbb));
	/* Across two plugged blocks: one range. */
	assert_int_equal(guest_mem_discard(&f->mem, hp + 2 * HP_MiB - 0x1000, 0x2000), 0x2000);
	assert_true(all(f, hp + 2 * HP_MiB - 0x1000, 0x2000, 0));
	/* Into an unplugged block, or past the region: refused whole, nothing touched. */
	assert_int_equal(guest_mem_discard(&f->mem, hp + 4 * HP_MiB - 0x1000, 0x2000), -EINVAL);
	assert_true(all(f, hp + 4 * HP_MiB - 0x1000, 0x1000, 0xbb));
	assert_int_equal(guest_mem_discard(&f->mem, hp + 8 * HP_MiB, 0x1000), -EINVAL);
	assert_int_equal(guest_mem_discard(&f->mem, hp + 7 * HP_MiB, 2 * HP_MiB), -EINVAL);
	/* Unplugged again: its pages are no longer the guest's to give. */
	assert_int_equal(guest_mem_hotplug_set(&f->mem, 0, 2 * HP_MiB, false), 0);
	assert_int_equal(guest_mem_discard(&f->mem, hp, 0x1000), -EINVAL);
}

/* A File restore's hotplug region: the range reads zeros, the memory file keeps its bytes. */
static void test_discard_hotplug_file(void **state)
{
	struct fx *f = *state;
	int fd = memfd_create("hp", 0);
	uint8_t b = 0;
	uint64_t hp;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 * HP_MiB), 0);
	for (uint64_t off = 0; off < 4 * HP_MiB; off += 0x1000)
		assert_int_equal(pwrite(fd, "\xee", 1, (off_t)off), 1);
	assert_int_equal(guest_mem_hotplug_init(&f->mem, 4 * HP_MiB, 2 * HP_MiB, 4 * HP_MiB), 0);
	assert_int_equal(guest_mem_hotplug_map_file(&f->mem, fd, 0), 0);
	assert_true(f->mem.hp->file_backed);
	assert_int_equal(guest_mem_hotplug_set(&f->mem, 0, 4 * HP_MiB, true), 0);
	hp = f->mem.hp->gpa;
	assert_int_equal(*hva(f, hp + 0x5000, 1), 0xee);
	assert_int_equal(guest_mem_discard(&f->mem, hp + 0x4000, 0x3000), 0x3000);
	assert_true(all(f, hp + 0x4000, 0x3000, 0));
	assert_int_equal(*hva(f, hp + 0x7000, 1), 0xee);
	assert_int_equal(pread(fd, &b, 1, 0x5000), 1);
	assert_int_equal(b, 0xee);
	close(fd);
}

/* A free page report naming plugged hotplug memory: given back, counted freed. */
static void test_report_hotplug(void **state)
{
	struct fx *f = *state;
	uint64_t hp;

	assert_int_equal(guest_mem_hotplug_init(&f->mem, 4 * HP_MiB, 2 * HP_MiB, 4 * HP_MiB), 0);
	assert_int_equal(guest_mem_hotplug_set(&f->mem, 0, 2 * HP_MiB, true), 0);
	hp = f->mem.hp->gpa;
	fill(f, hp, 0x10000, 0xaa);
	start(f, &(struct balloon_config){ .free_page_reporting = true });
	bring_up(f, F(VIRTIO_BALLOON_F_REPORTING), 3);
	put_desc(f, 2, 0, hp + 0x2000, 0x4000, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 2, 0);
	kick(f, 2);
	assert_int_equal(used_idx(f, 2), 1);
	assert_true(all(f, hp + 0x2000, 0x4000, 0));
	assert_true(all(f, hp, 0x2000, 0xaa));
	assert_true(all(f, hp + 0x6000, 0xa000, 0xaa));
	assert_int_equal(counter(f, "free_page_report_freed"), 0x4000);
	assert_int_equal(counter(f, "free_page_report_fails"), 0);
	assert_false(needs_reset(f));
}

/*
 * Page numbers inflated in plugged hotplug memory go back to the host and
 * are counted once, in the map's hotplug part; an unplugged block's or
 * one past the region are invalid. The map travels in the record, and a
 * record of RAM alone (an older Hearth's) is still taken. On the old
 * code every hotplug page number was invalid and stayed with the host.
 */
static void test_inflate_hotplug(void **state)
{
	struct fx *f = *state;
	struct component old_rec, rec;
	struct virtio_env env = { .mem = &f->mem };
	struct virtio_host host = { .vm_fd = -1, .bus = &f->bus };
	struct virtio_dev *dev2, *ram_only;
	struct virtio_mmio *t2;
	uint32_t pfns[6];
	uint8_t *saved;
	struct err err;
	size_t len;
	uint64_t hp;

	/* A balloon made before the region: its map is RAM's alone, its record an older one. */
	assert_int_equal(virtio_balloon_create(&env, &(struct balloon_config){ 0 }, &ram_only,
					       &err), 0);
	assert_int_equal(guest_mem_hotplug_init(&f->mem, 8 * HP_MiB, 2 * HP_MiB, 4 * HP_MiB), 0);
	assert_int_equal(guest_mem_hotplug_set(&f->mem, 0, 4 * HP_MiB, true), 0);
	hp = f->mem.hp->gpa;
	fill(f, hp, 4 * HP_MiB, 0xaa);
	start(f, &(struct balloon_config){ 0 });
	bring_up(f, 0, 2);
	pfns[0] = PFN(hp) + 2;
	pfns[1] = PFN(hp) + 1;
	pfns[2] = PFN(hp + 2 * HP_MiB) - 1;   /* the last of block 0 and the first of block 1 */
	pfns[3] = PFN(hp + 2 * HP_MiB);
	pfns[4] = PFN(hp + 4 * HP_MiB);       /* block 2: not plugged */
	pfns[5] = PFN(hp + 8 * HP_MiB);       /* past the region */
	pfn_buf(f, 0, 0, BUF, pfns, 6);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(counter(f, "inflated_pages"), 4);
	assert_int_equal(counter(f, "pfn_invalid"), 2);
	assert_int_equal(counter(f, "discard_bytes"), 4 * 4096);
	assert_true(all(f, hp + 0x1000, 0x2000, 0));
	assert_true(all(f, hp, 0x1000, 0xaa));
	assert_true(all(f, hp + 0x3000, 2 * HP_MiB - 0x4000, 0xaa));
	assert_true(all(f, hp + 2 * HP_MiB - 0x1000, 0x2000, 0));
	assert_true(all(f, hp + 2 * HP_MiB + 0x1000, 0x1000, 0xaa));
	/* The same pages again: counted once. */
	offer(f, 0, 0);
	kick(f, 0);
	assert_int_equal(counter(f, "inflated_pages"), 4);

	/* Saved and restored into a second device: the hotplug pages are still in it. */
	rec = (struct component){ &virtio_rec_ops, f->dev };
	saved = state_save(&rec, &len);
	assert_int_equal(virtio_balloon_create(&env, &(struct balloon_config){ 0 }, &dev2, &err), 0);
	assert_int_equal(state_restore(&(struct component){ &virtio_rec_ops, dev2 }, saved, len),
			 0);
	assert_int_equal(balloon_from_dev(dev2)->inflated, 4);
	assert_true(balloon_page_bit(balloon_from_dev(dev2), PFN(hp) + 1, false) >= 0);
	free(saved);
	dev2->ops->destroy(dev2);

	/* Taken back, even from a block unplugged meanwhile: the count stays exact. */
	assert_int_equal(guest_mem_hotplug_set(&f->mem, 2 * HP_MiB, 2 * HP_MiB, false), 0);
	pfn_buf(f, 1, 0, BUF + 0x100, &pfns[2], 2);
	kick(f, 1);
	assert_int_equal(counter(f, "inflated_pages"), 2);
	assert_int_equal(counter(f, "deflate_pages"), 2);

	/* An older record (RAM's map alone) restores into the device with the region. */
	old_rec = (struct component){ &virtio_rec_ops, ram_only };
	assert_int_equal(mmio_attach(ram_only, &host, BASE + 0x1000, 6, &t2), 0);
	saved = state_save(&old_rec, &len);
	assert_int_equal(state_check(&rec, saved, len), 0);
	free(saved);
	mmio_detach_destroy(ram_only, t2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TL(fn) cmocka_unit_test_setup_teardown(fn, setup_loop, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_discard_anon), T(test_discard_file), T(test_discard_shared), T(test_discard_uffd), T(test_discard_huge),
		T(test_discard_hotplug), T(test_discard_hotplug_file), T(test_report_hotplug),
		T(test_inflate_hotplug),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
