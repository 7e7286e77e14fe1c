/* The registry: kinds and ids, lookups, counters, the order kept, walks and teardown. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/registry.h"

/* Events in order: a letter per component destroyed, 'p' and 'r' for pauses and resumes. */
static char events[64];
static unsigned int nevents;

struct fake { int n; uint64_t count; };

static void fake_destroy(void *obj)
{
	events[nevents++] = (char)('a' + ((struct fake *)obj)->n);
}

static unsigned int fake_counters(void *obj, struct dev_counter *out, unsigned int max)
{
	struct dev_counter c[] = { { "ops", ((struct fake *)obj)->count }, { "errors", 7 } };

	return dev_counters_copy(out, max, c, 2);
}

static const struct component_ops fake_ops = { .destroy = fake_destroy,
					       .counters = fake_counters };
static const struct component_ops bare_ops = { .destroy = fake_destroy };

#define comp(ops, f) ((struct component){ (ops), (f) })

static void test_add_find_destroy(void **state)
{
	struct fake devs[5] = { { 0, 10 }, { 1, 20 }, { 2, 30 }, { 3, 0 }, { 4, 0 } };
	struct dev_resources res = { .mmio_base = 0xd0000000, .mmio_size = 0x1000, .gsi = 16 };
	struct dev_counter c[4];
	struct registry r;

	(void)state;
	nevents = 0;
	registry_init(&r);
	assert_int_equal(registry_add(&r, COMP_DEVICE, "com1", "serial", NULL,
				      &comp(&bare_ops, &devs[0])), 0);
	assert_int_equal(registry_add(&r, COMP_DEVICE, "rootfs", "virtio-blk", &res,
				      &comp(&fake_ops, &devs[1])), 0);
	assert_int_equal(registry_add(&r, COMP_DEVICE, "eth0", "virtio-net", &res,
				      &comp(&fake_ops, &devs[2])), 0);
	/* Entered later, but kept in the order a restore needs: the VM's, the vCPUs', then devices. */
	assert_int_equal(registry_add(&r, COMP_VCPU, "0", "vcpu", NULL,
				      &comp(&bare_ops, &devs[3])), 0);
	assert_int_equal(registry_add(&r, COMP_VM, "vm", "kvm-vm", NULL,
				      &comp(&bare_ops, &devs[4])), 0);

	assert_int_equal(registry_add(&r, COMP_DEVICE, "rootfs", "virtio-blk", &res,
				      &comp(&fake_ops, &devs[0])), -EEXIST);
	assert_int_equal(registry_add(&r, COMP_DEVICE, "", "x", NULL, &comp(&fake_ops, &devs[0])),
			 -EINVAL);
	/* An id is one kind's: a drive may be called "0" or "vm". */
	assert_int_equal(registry_add(&r, COMP_DEVICE, "vm", "virtio-blk", NULL,
				      &comp(&bare_ops, &devs[0])), 0);
	assert_int_equal(r.n, 6);
	assert_string_equal(r.entries[0].id, "vm");
	assert_string_equal(r.entries[1].id, "0");
	assert_string_equal(r.entries[2].id, "com1");
	assert_string_equal(r.entries[5].id, "vm");

	assert_ptr_equal(registry_find(&r, COMP_DEVICE, "rootfs")->comp.obj, &devs[1]);
	assert_null(registry_find(&r, COMP_DEVICE, "nope"));
	assert_null(registry_find(&r, COMP_VM, "rootfs"));
	assert_ptr_equal(registry_find(&r, COMP_VM, "vm")->comp.obj, &devs[4]);
	assert_int_equal(registry_find(&r, COMP_DEVICE, "com1")->res.gsi, -1);
	assert_int_equal(registry_find(&r, COMP_DEVICE, "eth0")->res.gsi, 16);

	assert_int_equal(registry_counters(registry_find(&r, COMP_DEVICE, "eth0"), c, 4), 2);
	assert_string_equal(c[0].name, "ops");
	assert_int_equal(c[0].value, 30);
	assert_int_equal(c[1].value, 7);
	assert_int_equal(registry_counters(registry_find(&r, COMP_DEVICE, "eth0"), c, 1), 1);
	assert_int_equal(registry_counters(registry_find(&r, COMP_DEVICE, "com1"), c, 4), 0);

	/* The last entry first: devices, then the vCPUs, then the VM's. */
	registry_destroy(&r);
	assert_int_equal(nevents, 6);
	assert_memory_equal(events, "acbade", 6);
	assert_int_equal(r.n, 0);
	registry_destroy(&r);
	assert_int_equal(nevents, 6);
}

/*
 * Firecracker's drives, NICs and the legacy devices have ids of their own:
 * the go-sdk calls its first drive and its first NIC both "1", and a drive
 * may be called "com1". The second is entered as "<type>:<name>".
 */
static void test_names_per_type(void **state)
{
	struct fake devs[5] = { { 0, 0 }, { 1, 0 }, { 2, 0 }, { 3, 0 }, { 4, 0 } };
	struct registry r;
	char long_id[VM_ID_MAX + 1];

	(void)state;
	nevents = 0;
	registry_init(&r);
	assert_int_equal(registry_add(&r, COMP_DEVICE, "com1", "serial", NULL,
				      &comp(&bare_ops, &devs[0])), 0);
	assert_int_equal(registry_add(&r, COMP_DEVICE, "1", "virtio-blk", NULL,
				      &comp(&bare_ops, &devs[1])), 0);
	assert_int_equal(registry_add(&r, COMP_DEVICE, "1", "virtio-net", NULL,
				      &comp(&bare_ops, &devs[2])), 0);
	assert_int_equal(registry_add(&r, COMP_DEVICE, "com1", "virtio-blk", NULL,
				      &comp(&bare_ops, &devs[3])), 0);
	/* The same type twice is still a clash. */
	assert_int_equal(registry_add(&r, COMP_DEVICE, "1", "virtio-net", NULL,
				      &comp(&bare_ops, &devs[4])), -EEXIST);
	assert_string_equal(r.entries[1].id, "1");
	assert_string_equal(r.entries[2].id, "net:1");
	assert_string_equal(r.entries[2].name, "1");
	assert_string_equal(r.entries[3].id, "blk:com1");
	assert_ptr_equal(registry_find_device(&r, "virtio-blk", "1")->comp.obj, &devs[1]);
	assert_ptr_equal(registry_find_device(&r, "virtio-net", "1")->comp.obj, &devs[2]);
	assert_ptr_equal(registry_find_device(&r, "virtio-blk", "com1")->comp.obj, &devs[3]);
	assert_ptr_equal(registry_find_device(&r, "serial", "com1")->comp.obj, &devs[0]);
	assert_null(registry_find_device(&r, "virtio-net", "com1"));
	/* The longest id still fits, qualified: a snapshot section id holds 71 characters. */
	memset(long_id, 'a', VM_ID_MAX);
	long_id[VM_ID_MAX] = '\0';
	assert_int_equal(registry_add(&r, COMP_DEVICE, long_id, "virtio-vsock", NULL,
				      &comp(&bare_ops, &devs[4])), 0);
	assert_int_equal(registry_add(&r, COMP_DEVICE, long_id, "virtio-rng", NULL,
				      &comp(&bare_ops, &devs[0])), 0);
	assert_int_equal(strlen(r.entries[5].id), VM_ID_MAX + 4);
	assert_true(strlen(r.entries[5].id) < 72);
	registry_destroy(&r);
}

static void test_grows(void **state)
{
	struct fake devs[40];
	struct registry r;
	char id[16];

	(void)state;
	nevents = 0;
	registry_init(&r);
	for (int i = 0; i < 40; i++) {
		devs[i].n = i % 26;
		snprintf(id, sizeof(id), "dev%d", i);
		assert_int_equal(registry_add(&r, i % 2 ? COMP_DEVICE : COMP_VCPU, id, "x", NULL,
					      &comp(&bare_ops, &devs[i])), 0);
	}
	assert_ptr_equal(registry_find(&r, COMP_DEVICE, "dev39")->comp.obj, &devs[39]);
	assert_ptr_equal(registry_find(&r, COMP_VCPU, "dev38")->comp.obj, &devs[38]);
	for (unsigned int i = 1; i < r.n; i++)
		assert_true(r.entries[i - 1].kind <= r.entries[i].kind);
	registry_destroy(&r);
	assert_int_equal(nevents, 40);
}

static int fake_pause(void *obj)
{
	struct fake *f = obj;

	events[nevents++] = (char)('p');
	return f->n == 1 ? -EIO : 0;
}

static int fake_resume(void *obj)
{
	(void)obj;
	events[nevents++] = 'r';
	return 0;
}

static const struct component_ops pausable_ops = {
	.destroy = fake_destroy, .pause = fake_pause, .resume = fake_resume,
};

/*
 * Pause and resume reach every component of the kind asked that has the
 * op, in order, even after one fails (the VM must not stay half paused);
 * the first error is returned. Components without the op, and of another
 * kind, are skipped.
 */
static void test_pause_resume(void **state)
{
	struct fake devs[4] = { { 0, 0 }, { 1, 0 }, { 2, 0 }, { 3, 0 } };
	struct registry r;

	(void)state;
	registry_init(&r);
	assert_int_equal(registry_add(&r, COMP_DEVICE, "a", "x", NULL,
				      &comp(&pausable_ops, &devs[0])), 0);
	assert_int_equal(registry_add(&r, COMP_DEVICE, "com1", "serial", NULL,
				      &comp(&bare_ops, &devs[2])), 0);
	assert_int_equal(registry_add(&r, COMP_DEVICE, "b", "x", NULL,
				      &comp(&pausable_ops, &devs[1])), 0);
	assert_int_equal(registry_add(&r, COMP_VCPU, "0", "vcpu", NULL,
				      &comp(&pausable_ops, &devs[3])), 0);
	nevents = 0;
	assert_int_equal(registry_pause(&r, COMP_DEVICE), -EIO);
	assert_int_equal(registry_resume(&r, COMP_DEVICE), 0);
	events[nevents] = '\0';
	assert_string_equal(events, "pprr");
	nevents = 0;
	assert_int_equal(registry_pause(&r, COMP_VCPU), 0);
	assert_int_equal(nevents, 1);
	nevents = 0;
	registry_destroy(&r);
}

static int visit(struct reg_entry *e, void *ctx, struct err *err)
{
	(void)ctx;
	events[nevents++] = e->id[0];
	return e->id[0] == 'x' ? err_set(err, false, -EIO, "stopped at %s", e->id) : 0;
}

/* Each walk: every entry in order, here with no loop (each runs inline), to the first failure. */
static void test_each(void **state)
{
	struct fake devs[3] = { { 0, 0 }, { 1, 0 }, { 2, 0 } };
	struct err err = ERR_INIT;
	struct registry r;

	(void)state;
	registry_init(&r);
	assert_int_equal(registry_add(&r, COMP_DEVICE, "d", "x", NULL,
				      &comp(&bare_ops, &devs[0])), 0);
	assert_int_equal(registry_add(&r, COMP_MEMORY, "m", "x", NULL,
				      &comp(&bare_ops, &devs[1])), 0);
	assert_int_equal(registry_add(&r, COMP_VM, "v", "x", NULL,
				      &comp(&bare_ops, &devs[2])), 0);
	nevents = 0;
	assert_int_equal(registry_each(&r, NULL, visit, NULL, &err), 0);
	events[nevents] = '\0';
	assert_string_equal(events, "vdm");
	assert_int_equal(registry_add(&r, COMP_DEVICE, "x", "x", NULL,
				      &comp(&bare_ops, &devs[0])), 0);
	nevents = 0;
	assert_int_equal(registry_each(&r, NULL, visit, NULL, &err), -EIO);
	assert_string_equal(err.msg, "stopped at x");
	assert_int_equal(nevents, 3);
	nevents = 0;
	registry_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_destroy),
		cmocka_unit_test(test_names_per_type),
		cmocka_unit_test(test_grows),
		cmocka_unit_test(test_pause_resume),
		cmocka_unit_test(test_each),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
