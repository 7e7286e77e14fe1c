/* The device registry: ids, lookups, counters and teardown order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/registry.h"

/* Teardown events in order: 'T'+n for a transport, 'D'+n for a device. */
static char events[64];
static unsigned int nevents;

struct fake { int n; uint64_t count; };

static void fake_destroy(void *dev)
{
	events[nevents++] = (char)('a' + ((struct fake *)dev)->n);
}

static unsigned int fake_counters(void *dev, struct dev_counter *out, unsigned int max)
{
	struct dev_counter c[] = { { "ops", ((struct fake *)dev)->count }, { "errors", 7 } };

	return dev_counters_copy(out, max, c, 2);
}

static void fake_transport_destroy(void *t)
{
	events[nevents++] = (char)('A' + ((struct fake *)t)->n);
}

static const struct dev_ops fake_ops = { .destroy = fake_destroy, .counters = fake_counters };
static const struct dev_ops bare_ops = { .destroy = fake_destroy };
static const struct dev_transport_ops fake_tops = { "fake", fake_transport_destroy };

static void test_add_find_destroy(void **state)
{
	struct fake devs[3] = { { 0, 10 }, { 1, 20 }, { 2, 30 } };
	struct fake trans[3] = { { 0, 0 }, { 1, 0 }, { 2, 0 } };
	struct dev_resources res = { .mmio_base = 0xd0000000, .mmio_size = 0x1000, .gsi = 16 };
	struct dev_counter c[4];
	struct registry r;

	(void)state;
	nevents = 0;
	registry_init(&r);
	assert_int_equal(registry_add(&r, "com1", DEV_LEGACY, "serial", NULL, &bare_ops,
				      &devs[0]), 0);
	assert_int_equal(registry_add(&r, "rootfs", DEV_VIRTIO, "virtio-blk", &res, &fake_ops,
				      &devs[1]), 0);
	registry_set_transport(&r, &fake_tops, &trans[1]);
	assert_int_equal(registry_add(&r, "eth0", DEV_VIRTIO, "virtio-net", &res, &fake_ops,
				      &devs[2]), 0);
	registry_set_transport(&r, &fake_tops, &trans[2]);

	assert_int_equal(registry_add(&r, "rootfs", DEV_VIRTIO, "virtio-blk", &res, &fake_ops,
				      &devs[0]), -EEXIST);
	assert_int_equal(registry_add(&r, "", DEV_VIRTIO, "x", NULL, &fake_ops, &devs[0]), -EINVAL);
	assert_int_equal(r.n, 3);

	assert_ptr_equal(registry_find(&r, "rootfs")->dev, &devs[1]);
	assert_null(registry_find(&r, "nope"));
	assert_int_equal(registry_find(&r, "com1")->res.gsi, -1);
	assert_int_equal(registry_find(&r, "eth0")->res.gsi, 16);
	assert_ptr_equal(registry_find_kind(&r, DEV_VIRTIO, NULL, 1)->dev, &devs[2]);
	assert_ptr_equal(registry_find_kind(&r, DEV_VIRTIO, "virtio-blk", 0)->dev, &devs[1]);
	assert_null(registry_find_kind(&r, DEV_VIRTIO, "virtio-blk", 1));

	assert_int_equal(registry_counters(registry_find(&r, "eth0"), c, 4), 2);
	assert_string_equal(c[0].name, "ops");
	assert_int_equal(c[0].value, 30);
	assert_int_equal(c[1].value, 7);
	assert_int_equal(registry_counters(registry_find(&r, "eth0"), c, 1), 1);
	assert_int_equal(registry_counters(registry_find(&r, "com1"), c, 4), 0);

	/* Newest first, and each transport before its device. */
	registry_destroy(&r);
	assert_int_equal(nevents, 5);
	assert_memory_equal(events, "CcBba", 5);
	assert_int_equal(r.n, 0);
	registry_destroy(&r);
	assert_int_equal(nevents, 5);
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
		assert_int_equal(registry_add(&r, id, DEV_LEGACY, "x", NULL, &bare_ops, &devs[i]), 0);
	}
	assert_ptr_equal(registry_find(&r, "dev39")->dev, &devs[39]);
	registry_destroy(&r);
	assert_int_equal(nevents, 40);
}

static int fake_pause(void *dev)
{
	struct fake *f = dev;

	events[nevents++] = (char)('p');
	return f->n == 1 ? -EIO : 0;
}

static int fake_resume(void *dev)
{
	(void)dev;
	events[nevents++] = 'r';
	return 0;
}

static const struct dev_ops pausable_ops = {
	.destroy = fake_destroy, .pause = fake_pause, .resume = fake_resume,
};

/*
 * Pause and resume reach every device that has the op, in order, even
 * after one fails (the VM must not stay half paused); the first error is
 * returned. Devices without the op are skipped.
 */
static void test_pause_resume(void **state)
{
	struct fake devs[3] = { { 0, 0 }, { 1, 0 }, { 2, 0 } };
	struct registry r;

	(void)state;
	registry_init(&r);
	assert_int_equal(registry_add(&r, "a", DEV_VIRTIO, "x", NULL, &pausable_ops, &devs[0]), 0);
	assert_int_equal(registry_add(&r, "com1", DEV_LEGACY, "serial", NULL, &bare_ops,
				      &devs[2]), 0);
	assert_int_equal(registry_add(&r, "b", DEV_VIRTIO, "x", NULL, &pausable_ops, &devs[1]), 0);
	nevents = 0;
	assert_int_equal(registry_pause(&r), -EIO);
	assert_int_equal(registry_resume(&r), 0);
	events[nevents] = '\0';
	assert_string_equal(events, "pprr");
	nevents = 0;
	registry_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_destroy),
		cmocka_unit_test(test_grows),
		cmocka_unit_test(test_pause_resume),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
