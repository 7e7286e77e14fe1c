/*
 * A snapshot/create that fails loses no dirty page (issue 18, item 6).
 * The real snap_create runs on a VM without KVM: RAM of its own with
 * dirty tracking, the dirty log's component and one vCPU component whose
 * record is a zeroed one (the memory file's notes need it). Pages are
 * dirtied the way Hearth's own writers dirty them (guest_mem_write marks
 * them), since there is no KVM log here. A Full base, a create that
 * fails, a Diff that succeeds, and the diff merged onto the base must be
 * the VM's memory byte for byte.
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
#include <unistd.h>

#include <cmocka.h>

#include "snapshot/memfile_layout.h"
#include "snapshot/snapshot.h"
#include "util/log.h"
#include "vcpu/vcpu_state.h"

#define PAGE 4096ull
#define MEM_MIB 16u

/* A vCPU's record as KVM would hand it out, all zeros. */
static int fake_vcpu_save(void *obj, struct bytes_out *o, struct err *err)
{
	uint8_t xsave[sizeof(struct kvm_xsave)] = { 0 };
	struct vcpu_snap v = { .xsave_len = sizeof(xsave), .xsave = xsave };

	(void)obj;
	(void)err;
	return vcpu_state_save(&v, o);
}

static const struct component_ops fake_vcpu_ops = { .save = fake_vcpu_save };

struct rig {
	struct vm vm;
	struct eventloop loop;
	struct vm_config cfg;
	struct { struct kvm_cpuid2 head; } cpuid;
	char dir[64];
	char path[8][128];
};

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct vm *vm = &r->vm;
	struct err err = ERR_INIT;

	assert_non_null(r);
	log_set_level(LOG_ERR);
	snprintf(r->dir, sizeof(r->dir), "/tmp/hearth-snapdirty-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	assert_int_equal(eventloop_init(&r->loop), 0);
	vm->fd = vm->kvm.fd = vm->stop_efd = -1;
	vm->loop = &r->loop;
	vm->ncpus = 1;
	vm->cpuid = &r->cpuid.head;
	registry_init(&vm->registry);
	assert_int_equal(guest_mem_init(&vm->mem, (uint64_t)MEM_MIB << 20), 0);
	assert_int_equal(guest_mem_dirty_enable(&vm->mem), 0);
	assert_int_equal(registry_add(&vm->registry, COMP_MEMORY, "memory", "dirty-log", NULL,
				      &(struct component){ &guest_mem_dirty_component, &vm->mem }),
			 0);
	assert_int_equal(registry_add(&vm->registry, COMP_VCPU, "0", "vcpu", NULL,
				      &(struct component){ &fake_vcpu_ops, NULL }), 0);
	vm_config_init(&r->cfg);
	assert_int_equal(vm_config_set_machine(&r->cfg, &(struct vm_machine){
		.vcpu_count = 1, .mem_size_mib = MEM_MIB, .track_dirty_pages = true }, &err), 0);
	*state = r;
	return 0;
}

static const char *rig_path(struct rig *r, unsigned int i, const char *name)
{
	snprintf(r->path[i], sizeof(r->path[i]), "%s/%s", r->dir, name);
	return r->path[i];
}

static int teardown(void **state)
{
	struct rig *r = *state;

	for (unsigned int i = 0; i < 8; i++)
		if (r->path[i][0])
			unlink(r->path[i]);
	assert_int_equal(rmdir(r->dir), 0);
	vm_config_release(&r->cfg);
	registry_destroy(&r->vm.registry);
	guest_mem_destroy(&r->vm.mem);
	eventloop_destroy(&r->loop);
	free(r);
	return 0;
}

/* n pages from page first filled with byte v, as Hearth's writers write (marked dirty). */
static void dirty(struct rig *r, uint64_t first, unsigned int n, uint8_t v)
{
	uint8_t buf[PAGE];

	memset(buf, v, sizeof(buf));
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(guest_mem_write(&r->vm.mem, (first + i) * PAGE, buf, PAGE), 0);
}

static int create(struct rig *r, bool diff, const char *state_path, const char *mem_path)
{
	struct snap_create_req req = { .diff = diff, .snapshot_path = state_path,
				       .mem_file_path = mem_path };
	struct err err = ERR_INIT;

	return snap_create(&r->vm, &r->cfg, &req, &err);
}

/* The memory file at path holds exactly the VM's RAM. */
static void assert_file_is_ram(struct rig *r, const char *path)
{
	const struct guest_mem *gm = &r->vm.mem;
	struct memfile_layout l;
	struct err err = ERR_INIT;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *buf;

	assert_true(fd >= 0);
	if (memfile_layout_read(fd, &l, &err))
		fail_msg("%s: %s", path, err.msg);
	assert_int_equal(l.nregions, gm->nregions);
	for (unsigned int i = 0; i < gm->nregions; i++) {
		buf = malloc(gm->regions[i].size);
		assert_non_null(buf);
		assert_int_equal(pread(fd, buf, gm->regions[i].size, (off_t)l.r[i].offset),
				 (ssize_t)gm->regions[i].size);
		for (uint64_t p = 0; p < gm->regions[i].size / PAGE; p++)
			if (memcmp(buf + p * PAGE, gm->regions[i].hva + p * PAGE, PAGE))
				fail_msg("region %u page %llu differs from the VM's memory", i,
					 (unsigned long long)p);
		free(buf);
	}
	close(fd);
}

static void merge(const char *base, const char *diff)
{
	struct err err = ERR_INIT;

	if (memfile_merge(base, diff, NULL, &err))
		fail_msg("merge: %s", err.msg);
}

/* The base every test starts from: a Full snapshot that succeeded. */
static void take_base(struct rig *r)
{
	dirty(r, 0, 4, 0x11);
	dirty(r, 300, 2, 0x22);
	assert_int_equal(create(r, false, rig_path(r, 0, "base.snap"), rig_path(r, 1, "base.mem")),
			 0);
	assert_file_is_ram(r, r->path[1]);
}

/* A Diff whose memory file cannot be written (no such directory). */
static void test_failed_diff_memory_file(void **state)
{
	struct rig *r = *state;
	char bad[192];

	take_base(r);
	dirty(r, 10, 3, 0x33);
	snprintf(bad, sizeof(bad), "%s/missing/diff.mem", r->dir);
	assert_int_equal(create(r, true, rig_path(r, 2, "bad.snap"), bad), -ENOENT);
	dirty(r, 200, 1, 0x44);
	assert_int_equal(create(r, true, rig_path(r, 3, "diff.snap"), rig_path(r, 4, "diff.mem")),
			 0);
	merge(r->path[1], r->path[4]);
	assert_file_is_ram(r, r->path[1]);
}

/* A Diff whose memory file was written but whose state file cannot be. */
static void test_failed_diff_state_file(void **state)
{
	struct rig *r = *state;
	char bad[192];

	take_base(r);
	dirty(r, 10, 3, 0x35);
	snprintf(bad, sizeof(bad), "%s/missing/diff.snap", r->dir);
	assert_int_not_equal(create(r, true, bad, rig_path(r, 2, "bad.mem")), 0);
	dirty(r, 11, 1, 0x45);   /* one of the failed diff's pages, and one more */
	dirty(r, 2000, 1, 0x46);
	assert_int_equal(create(r, true, rig_path(r, 3, "diff.snap"), rig_path(r, 4, "diff.mem")),
			 0);
	merge(r->path[1], r->path[4]);
	assert_file_is_ram(r, r->path[1]);
}

/* A Full that fails collects (resets) the log too: it gives the pages back as well. */
static void test_failed_full(void **state)
{
	struct rig *r = *state;
	char bad[192];

	take_base(r);
	dirty(r, 50, 5, 0x55);
	snprintf(bad, sizeof(bad), "%s/missing/full.mem", r->dir);
	assert_int_equal(create(r, false, rig_path(r, 2, "bad.snap"), bad), -ENOENT);
	assert_int_equal(create(r, true, rig_path(r, 3, "diff.snap"), rig_path(r, 4, "diff.mem")),
			 0);
	merge(r->path[1], r->path[4]);
	assert_file_is_ram(r, r->path[1]);
}

/* Failures in a row, then one Diff: still every page since the base. */
static void test_failures_in_a_row(void **state)
{
	struct rig *r = *state;
	char bad[192];

	take_base(r);
	snprintf(bad, sizeof(bad), "%s/missing/x.mem", r->dir);
	for (unsigned int i = 0; i < 3; i++) {
		dirty(r, 1000 + i * 70, 3, (uint8_t)(0x60 + i));
		assert_int_equal(create(r, true, rig_path(r, 2, "bad.snap"), bad), -ENOENT);
	}
	assert_int_equal(create(r, true, rig_path(r, 3, "diff.snap"), rig_path(r, 4, "diff.mem")),
			 0);
	merge(r->path[1], r->path[4]);
	assert_file_is_ram(r, r->path[1]);
}

/* The record a failed create gives back, read again: exactly its pages are dirty. */
static void test_give_back_exact(void **state)
{
	struct rig *r = *state;
	struct guest_mem *gm = &r->vm.mem;
	struct bytes_out o = bytes_out_growing();
	struct err err = ERR_INIT;
	size_t words = guest_mem_dirty_words(gm, 0);
	uint64_t *map = calloc(words, sizeof(*map));

	assert_non_null(map);
	dirty(r, 7, 2, 0x77);
	assert_int_equal(guest_mem_dirty_component.save(gm, &o, &err), 0);
	assert_int_equal(guest_mem_dirty_collect(gm, -1, 0, map), 0);
	assert_int_equal(map[0], 0);   /* saving took them */
	guest_mem_dirty_give_back(gm, o.buf, o.len);
	assert_int_equal(guest_mem_dirty_collect(gm, -1, 0, map), 0);
	assert_int_equal(map[0], 3ull << 7);
	for (size_t w = 1; w < words; w++)
		assert_int_equal(map[w], 0);
	/* A record that does not read back: every page, never fewer. */
	guest_mem_dirty_give_back(gm, o.buf, o.len - 1);
	assert_int_equal(guest_mem_dirty_collect(gm, -1, 0, map), 0);
	for (size_t w = 0; w < words; w++)
		assert_int_equal(map[w], ~0ull);
	free(o.buf);
	free(map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_failed_diff_memory_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_diff_state_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures_in_a_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_give_back_exact, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
