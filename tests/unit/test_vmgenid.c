/*
 * VMGenID (devices/vmgenid.c): 16 random bytes at the start of its page,
 * which stay what they are across a pause, a resume and a save, and
 * which every restore replaces, each restore of one record (each clone)
 * with its own; the notification a restore owes goes out once, as an
 * edge on the device's line, only when asked (the vCPUs run again); the
 * record keeps the device's place, not its generation, and a record of
 * another place, version or length is refused, changing nothing.
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
#include "devices/vmgenid.h"
#include "util/bytes.h"

/* What the line was driven to, in order. */
struct line_log {
	unsigned int n;
	unsigned int gsi[8];
	int level[8];
};

static int record_line(void *ctx, unsigned int gsi, int level)
{
	struct line_log *l = ctx;

	assert_true(l->n < 8);
	l->gsi[l->n] = gsi;
	l->level[l->n] = level;
	l->n++;
	return 0;
}

struct genid_rig {
	uint8_t page[LAYOUT_VMGENID_SIZE];
	struct line_log line;
	struct component c;
};

static struct genid_rig *make(void)
{
	struct genid_rig *r = calloc(1, sizeof(*r));
	struct dev_env env = { .vmgenid_page = r->page };
	struct dev_resources res = { .mmio_base = LAYOUT_VMGENID, .mmio_size = LAYOUT_VMGENID_SIZE,
				     .gsi = LAYOUT_VMGENID_GSI };
	struct err err = ERR_INIT;

	assert_non_null(r);
	env.irq = (struct irq_line){ record_line, &r->line, 0 };
	assert_int_equal(vmgenid_create(&env, &res, &r->c, &err), 0);
	return r;
}

static void drop(struct genid_rig *r)
{
	r->c.ops->destroy(r->c.obj);
	free(r);
}

static size_t save(struct genid_rig *r, uint8_t *buf, size_t cap)
{
	struct bytes_out o = bytes_out_init(buf, cap);
	struct err err = ERR_INIT;
	size_t len;

	assert_int_equal(r->c.ops->save(r->c.obj, &o, &err), 0);
	assert_int_equal(bytes_out_finish(&o, &len), 0);
	return len;
}

static int restore(struct genid_rig *r, const uint8_t *rec, size_t len, bool apply)
{
	struct err err = ERR_INIT;

	return r->c.ops->restore(r->c.obj, rec, len, apply, &err);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Made: 16 bytes of the host's, the rest of the page left alone; another VM, others. */
static void test_made_with_a_generation(void **state)
{
	struct genid_rig *a = make(), *b = make();

	(void)state;
	assert_false(all_zero(a->page, VMGENID_SIZE));
	assert_true(all_zero(a->page + VMGENID_SIZE, sizeof(a->page) - VMGENID_SIZE));
	assert_memory_not_equal(a->page, b->page, VMGENID_SIZE);
	/* A boot owes the guest nothing: its driver reads the bytes when it binds. */
	assert_false(vmgenid_notify(a->c.obj));
	assert_int_equal(a->line.n, 0);
	drop(a);
	drop(b);
}

/* Pause, resume and a save (a snapshot of this VM) leave the generation as it was. */
static void test_pause_keeps_it(void **state)
{
	struct genid_rig *r = make();
	uint8_t before[VMGENID_SIZE], rec[64];

	(void)state;
	memcpy(before, r->page, sizeof(before));
	if (r->c.ops->pause)
		assert_int_equal(r->c.ops->pause(r->c.obj), 0);
	(void)save(r, rec, sizeof(rec));
	if (r->c.ops->resume)
		assert_int_equal(r->c.ops->resume(r->c.obj), 0);
	assert_false(vmgenid_notify(r->c.obj));
	assert_memory_equal(r->page, before, sizeof(before));
	assert_int_equal(r->line.n, 0);
	drop(r);
}

/*
 * The record: "VGID" 1, the address and the line, nothing of the
 * generation. Its check changes nothing; its apply writes a new
 * generation and owes one notification, which goes out as one edge on
 * the line when asked, and not again.
 */
static void test_restore_makes_a_new_one(void **state)
{
	struct genid_rig *a = make(), *b = make();
	uint8_t rec[64], was[VMGENID_SIZE], made[VMGENID_SIZE];
	size_t len = save(a, rec, sizeof(rec));

	(void)state;
	assert_int_equal(len, 8 + 8 + 4);
	assert_memory_equal(rec, "VGID", 4);
	assert_null(memmem(rec, len, a->page, VMGENID_SIZE));
	memcpy(was, a->page, sizeof(was));
	memcpy(made, b->page, sizeof(made));

	assert_int_equal(restore(b, rec, len, false), 0);
	assert_memory_equal(b->page, made, sizeof(made));
	assert_false(vmgenid_notify(b->c.obj));

	assert_int_equal(restore(b, rec, len, true), 0);
	assert_memory_not_equal(b->page, made, sizeof(made));
	assert_memory_not_equal(b->page, was, sizeof(was));
	assert_true(all_zero(b->page + VMGENID_SIZE, sizeof(b->page) - VMGENID_SIZE));
	assert_int_equal(b->line.n, 0);            /* owed, not raised: the vCPUs do not run yet */
	assert_true(vmgenid_notify(b->c.obj));
	assert_int_equal(b->line.n, 2);
	assert_int_equal(b->line.gsi[0], LAYOUT_VMGENID_GSI);
	assert_int_equal(b->line.level[0], 1);
	assert_int_equal(b->line.gsi[1], LAYOUT_VMGENID_GSI);
	assert_int_equal(b->line.level[1], 0);
	assert_false(vmgenid_notify(b->c.obj));
	assert_int_equal(b->line.n, 2);
	/* The restored VM saves the same place again. */
	{
		uint8_t again[64];

		assert_int_equal(save(b, again, sizeof(again)), len);
		assert_memory_equal(again, rec, len);
	}
	drop(a);
	drop(b);
}

/* Two clones of one snapshot: each its own generation, neither the snapshot's VM's. */
static void test_each_clone_its_own(void **state)
{
	struct genid_rig *a = make(), *c1 = make(), *c2 = make();
	uint8_t rec[64];
	size_t len = save(a, rec, sizeof(rec));

	(void)state;
	assert_int_equal(restore(c1, rec, len, false), 0);
	assert_int_equal(restore(c1, rec, len, true), 0);
	assert_int_equal(restore(c2, rec, len, false), 0);
	assert_int_equal(restore(c2, rec, len, true), 0);
	assert_memory_not_equal(c1->page, a->page, VMGENID_SIZE);
	assert_memory_not_equal(c2->page, a->page, VMGENID_SIZE);
	assert_memory_not_equal(c1->page, c2->page, VMGENID_SIZE);
	/* A VM restored twice over (a second load of the same process) is told twice. */
	assert_true(vmgenid_notify(c1->c.obj));
	assert_int_equal(restore(c1, rec, len, true), 0);
	assert_true(vmgenid_notify(c1->c.obj));
	assert_int_equal(c1->line.n, 4);
	drop(a);
	drop(c1);
	drop(c2);
}

/* Another place, version or length: refused by the check, nothing changed, nothing owed. */
static void test_refused_records(void **state)
{
	struct genid_rig *r = make();
	uint8_t rec[64], bad[64], before[VMGENID_SIZE];
	size_t len = save(r, rec, sizeof(rec));

	(void)state;
	memcpy(before, r->page, sizeof(before));
	memcpy(bad, rec, len);
	bad[8] ^= 0x10;                                /* the address */
	assert_int_equal(restore(r, bad, len, false), -EINVAL);
	memcpy(bad, rec, len);
	bad[16] = LAYOUT_VMGENID_GSI + 1;              /* the line */
	assert_int_equal(restore(r, bad, len, false), -EINVAL);
	memcpy(bad, rec, len);
	bad[4] = 2;                                    /* the version */
	assert_int_equal(restore(r, bad, len, false), -EPROTO);
	assert_int_equal(restore(r, rec, len - 1, false), -ENODATA);
	memcpy(bad, rec, len);
	bad[len] = 0;
	assert_int_equal(restore(r, bad, len + 1, false), -EINVAL);
	memcpy(bad, rec, len);
	memcpy(bad, "VMCK", 4);                        /* another device's */
	assert_int_not_equal(restore(r, bad, len, false), 0);
	assert_memory_equal(r->page, before, sizeof(before));
	assert_false(vmgenid_notify(r->c.obj));
	assert_int_equal(r->line.n, 0);
	drop(r);
}

/* Made without its page or its line: refused, not half made. */
static void test_needs_page_and_line(void **state)
{
	uint8_t page[LAYOUT_VMGENID_SIZE];
	struct dev_env env = { 0 };
	struct dev_resources res = { .mmio_base = LAYOUT_VMGENID, .mmio_size = LAYOUT_VMGENID_SIZE,
				     .gsi = LAYOUT_VMGENID_GSI };
	struct err err = ERR_INIT;
	struct component c;

	(void)state;
	assert_int_equal(vmgenid_create(&env, &res, &c, &err), -EINVAL);
	env.vmgenid_page = page;
	res.gsi = -1;
	assert_int_equal(vmgenid_create(&env, &res, &c, &err), -EINVAL);
	res.gsi = LAYOUT_VMGENID_GSI;
	res.mmio_size = VMGENID_SIZE - 1;
	assert_int_equal(vmgenid_create(&env, &res, &c, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_made_with_a_generation),
		cmocka_unit_test(test_pause_keeps_it),
		cmocka_unit_test(test_restore_makes_a_new_one),
		cmocka_unit_test(test_each_clone_its_own),
		cmocka_unit_test(test_refused_records),
		cmocka_unit_test(test_needs_page_and_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
