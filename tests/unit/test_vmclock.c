/*
 * VMClock (devices/vmclock.c): the page as Linux's vmclock-abi.h lays it
 * out, and a restore that tells the guest its clock was disrupted; its
 * record refused when cut short, of another version, or longer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/layout.h"
#include "devices/vmclock.h"
#include "util/bytes.h"

struct clock_rig {
	uint8_t page[LAYOUT_VMCLOCK_SIZE];
	struct component c;
};

static void make(struct clock_rig *r)
{
	struct dev_env env = { .vmclock_page = r->page };
	struct dev_resources res = { .mmio_base = LAYOUT_VMCLOCK, .mmio_size = LAYOUT_VMCLOCK_SIZE,
				     .gsi = -1 };
	struct err err = ERR_INIT;

	memset(r->page, 0xa5, sizeof(r->page));
	assert_int_equal(vmclock_create(&env, &res, &r->c, &err), 0);
}

static size_t save(struct clock_rig *r, uint8_t *buf, size_t cap)
{
	struct bytes_out o = bytes_out_init(buf, cap);
	struct err err = ERR_INIT;
	size_t len;

	assert_int_equal(r->c.ops->save(r->c.obj, &o, &err), 0);
	assert_int_equal(bytes_out_finish(&o, &len), 0);
	return len;
}

static void test_page(void **state)
{
	struct clock_rig *r = calloc(1, sizeof(*r));
	const struct vmclock_abi *p = (const void *)r->page;

	(void)state;
	make(r);
	/* The ABI's header: "VCLK", the page's size, version 1; no counter, no time. */
	assert_memory_equal(r->page, "VCLK", 4);
	assert_int_equal(p->size, LAYOUT_VMCLOCK_SIZE);
	assert_int_equal(p->version, 1);
	assert_int_equal(p->counter_id, VMCLOCK_COUNTER_INVALID);
	assert_int_equal(p->clock_status, VMCLOCK_STATUS_UNKNOWN);
	assert_int_equal(p->flags, VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT);
	assert_int_equal(p->seq_count, 0);
	assert_int_equal(p->disruption_marker, 0);
	assert_int_equal(p->vm_generation_counter, 0);
	/* The rest of the ABI's 112 bytes is zero. */
	for (size_t i = offsetof(struct vmclock_abi, counter_value);
	     i < offsetof(struct vmclock_abi, vm_generation_counter); i++)
		assert_int_equal(r->page[i], 0);
	r->c.ops->destroy(r->c.obj);
	free(r);
}

/* A restore, then another (a clone of a clone): each bumps both counters, seq_count even after. */
static void test_restore_disrupts(void **state)
{
	struct clock_rig *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	const struct vmclock_abi *pb = (const void *)b->page;
	struct err err = ERR_INIT;
	uint8_t rec[64];
	size_t len;

	(void)state;
	make(a);
	make(b);
	len = save(a, rec, sizeof(rec));
	/* The check changes nothing. */
	assert_int_equal(b->c.ops->restore(b->c.obj, rec, len, false, &err), 0);
	assert_int_equal(pb->disruption_marker, 0);
	assert_int_equal(b->c.ops->restore(b->c.obj, rec, len, true, &err), 0);
	assert_int_equal(pb->disruption_marker, 1);
	assert_int_equal(pb->vm_generation_counter, 1);
	assert_int_equal(pb->seq_count % 2, 0);
	assert_true(pb->seq_count > 0);
	len = save(b, rec, sizeof(rec));
	assert_int_equal(a->c.ops->restore(a->c.obj, rec, len, true, &err), 0);
	assert_int_equal(((const struct vmclock_abi *)a->page)->disruption_marker, 2);
	assert_int_equal(((const struct vmclock_abi *)a->page)->vm_generation_counter, 2);
	a->c.ops->destroy(a->c.obj);
	b->c.ops->destroy(b->c.obj);
	free(a);
	free(b);
}

static void test_record_refusals(void **state)
{
	struct clock_rig *r = calloc(1, sizeof(*r));
	const struct vmclock_abi *p = (const void *)r->page;
	struct err err = ERR_INIT;
	uint8_t rec[64];
	size_t len;

	(void)state;
	make(r);
	len = save(r, rec, sizeof(rec));
	for (size_t n = 0; n < len; n++)
		assert_int_equal(r->c.ops->restore(r->c.obj, rec, n, true, &err), -ENODATA);
	rec[len] = 0;
	assert_int_not_equal(r->c.ops->restore(r->c.obj, rec, len + 1, true, &err), 0);
	rec[4]++; /* the version */
	assert_int_equal(r->c.ops->restore(r->c.obj, rec, len, true, &err), -EPROTO);
	assert_int_equal(p->disruption_marker, 0);
	r->c.ops->destroy(r->c.obj);
	free(r);
}

/* No page, or one smaller than the ABI: refused, nothing made. */
static void test_no_page(void **state)
{
	struct dev_env env = { 0 };
	struct dev_resources res = { .mmio_size = LAYOUT_VMCLOCK_SIZE, .gsi = -1 };
	struct component c;
	struct err err = ERR_INIT;
	uint8_t small[64];

	(void)state;
	assert_int_equal(vmclock_create(&env, &res, &c, &err), -EINVAL);
	env.vmclock_page = small;
	res.mmio_size = sizeof(small);
	assert_int_equal(vmclock_create(&env, &res, &c, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page),
		cmocka_unit_test(test_restore_disrupts),
		cmocka_unit_test(test_record_refusals),
		cmocka_unit_test(test_no_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
