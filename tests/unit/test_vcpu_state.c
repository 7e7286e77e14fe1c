/*
 * The vCPU helpers that need no VM: the MSR request built from a made-up
 * KVM_GET_MSR_INDEX_LIST, and a vCPU's record, from synthetic KVM structs
 * through a snapshot section and back.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapshot/format.h"
#include "vcpu/msr_list.h"
#include "vcpu/vcpu_state.h"

static void test_msr_list_filter_and_order(void **state)
{
	/* As a KVM might list them: unsorted, a repeat, some not saveable. */
	static const uint32_t listed[] = {
		0xc0000080, 0x6e0, 0x174, 0x10, 0x49, 0x4b564d01, 0x808, 0x3a,
		0x174, 0x17b, 0x10b, 0xc0000102, 0x4b564d00, 0x79, 0xbff, 0xc00,
	};
	static const uint32_t want[] = {
		0x10, 0x3a, 0x174, 0xc00, 0x4b564d00, 0x4b564d01, 0xc0000080, 0xc0000102, 0x6e0,
	};
	struct kvm_msrs *m;

	(void)state;
	assert_int_equal(msr_list_build(listed, sizeof(listed) / sizeof(listed[0]), &m), 0);
	assert_int_equal(m->nmsrs, sizeof(want) / sizeof(want[0]));
	for (uint32_t i = 0; i < m->nmsrs; i++) {
		assert_int_equal(m->entries[i].index, want[i]);
		assert_int_equal(m->entries[i].data, 0);
	}
	free(m);

	assert_int_equal(msr_list_build(NULL, 0, &m), 0);
	assert_int_equal(m->nmsrs, 0);
	free(m);
	assert_int_equal(msr_list_build(listed, MSR_LIST_MAX + 1, &m), -EINVAL);
	assert_null(m);
}

static void test_msr_list_batches(void **state)
{
	uint32_t listed[600], from = 0, n, total = 0;
	struct kvm_msrs *all, *batch;

	(void)state;
	for (uint32_t i = 0; i < 600; i++)
		listed[i] = 0xc0010000 + i;
	assert_int_equal(msr_list_build(listed, 600, &all), 0);
	batch = calloc(1, sizeof(*batch) + MSR_BATCH_MAX * sizeof(batch->entries[0]));
	/* KVM takes fewer than 256 per call: 255, 255, 90, then nothing. */
	while ((n = msr_list_batch(all, from, batch, 1000))) {
		assert_true(n <= MSR_BATCH_MAX);
		assert_int_equal(batch->nmsrs, n);
		assert_int_equal(batch->entries[0].index, 0xc0010000 + from);
		from += n;
		total++;
	}
	assert_int_equal(from, 600);
	assert_int_equal(total, 3);
	free(batch);
	free(all);
}

static void fill(void *p, size_t len, uint8_t seed)
{
	uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed + i * 13);
}

/* Every struct a distinct pattern, so a swapped or shifted part shows. */
static void synthetic(struct vcpu_snap *s, uint32_t xsave_len, uint32_t nmsrs)
{
	memset(s, 0, sizeof(*s));
	fill(&s->regs, sizeof(s->regs), 1);
	fill(&s->sregs, sizeof(s->sregs), 2);
	fill(&s->debugregs, sizeof(s->debugregs), 4);
	fill(&s->events, sizeof(s->events), 5);
	fill(&s->lapic, sizeof(s->lapic), 7);
	s->xcrs.nr_xcrs = 1;
	s->xcrs.xcrs[0].value = 0x7;
	s->mp_state.mp_state = KVM_MP_STATE_RUNNABLE;
	s->xsave_len = xsave_len;
	s->xsave = malloc(xsave_len);
	fill(s->xsave, xsave_len, 3);
	s->nmsrs = nmsrs;
	s->msrs = calloc(nmsrs ? nmsrs : 1, sizeof(*s->msrs));
	for (uint32_t i = 0; i < nmsrs; i++)
		s->msrs[i] = (struct kvm_msr_entry){ .index = 0x10 + i, .data = 0x1122334455667788ull + i };
}

static void assert_same(const struct vcpu_snap *a, const struct vcpu_snap *b)
{
	assert_memory_equal(&a->regs, &b->regs, sizeof(a->regs));
	assert_memory_equal(&a->sregs, &b->sregs, sizeof(a->sregs));
	assert_memory_equal(&a->xcrs, &b->xcrs, sizeof(a->xcrs));
	assert_memory_equal(&a->debugregs, &b->debugregs, sizeof(a->debugregs));
	assert_memory_equal(&a->events, &b->events, sizeof(a->events));
	assert_memory_equal(&a->mp_state, &b->mp_state, sizeof(a->mp_state));
	assert_memory_equal(&a->lapic, &b->lapic, sizeof(a->lapic));
	assert_int_equal(a->xsave_len, b->xsave_len);
	assert_memory_equal(a->xsave, b->xsave, a->xsave_len);
	assert_int_equal(a->nmsrs, b->nmsrs);
	assert_memory_equal(a->msrs, b->msrs, a->nmsrs * sizeof(a->msrs[0]));
}

static int save_vcpu(void *ctx, struct bytes_out *o, struct err *err)
{
	(void)err;
	return vcpu_state_save(ctx, o);
}

/* The record into a fresh buffer of exactly its size (free() it), as a section holds it. */
static uint8_t *record(const struct vcpu_snap *s, size_t *len)
{
	struct bytes_out o = bytes_out_growing();
	uint8_t *exact;

	assert_int_equal(vcpu_state_save(s, &o), 0);
	assert_int_equal(bytes_out_finish(&o, len), 0);
	exact = malloc(*len);
	memcpy(exact, o.buf, *len);
	free(o.buf);
	return exact;
}

static void test_record_through_a_section(void **state)
{
	struct vcpu_snap a, b;
	struct snap_builder sb;
	struct snap_file f;
	const struct snap_section *s;
	struct err err;
	size_t len;
	void *file;

	(void)state;
	synthetic(&a, sizeof(struct kvm_xsave), 150);
	snap_builder_init(&sb);
	assert_int_equal(snap_builder_add_saved(&sb, SNAP_SEC_VCPU, "0", VCPU_STATE_VERSION,
						save_vcpu, &a, &err), 0);
	assert_int_equal(snap_builder_finish(&sb, "t", &file, &len), 0);
	assert_int_equal(snap_parse(file, len, "F", &f, &err), 0);
	s = snap_find(&f, SNAP_SEC_VCPU, "0");
	assert_non_null(s);
	assert_int_equal(vcpu_state_restore(&b, s->data, s->len), 0);
	assert_same(&a, &b);
	vcpu_state_release(&b);
	snap_file_release(&f);
	free(file);
	vcpu_state_release(&a);

	/* A larger XSAVE area (KVM_CAP_XSAVE2) and no MSRs come back too. */
	synthetic(&a, 11008, 0);
	file = record(&a, &len);
	assert_int_equal(vcpu_state_restore(&b, file, len), 0);
	assert_same(&a, &b);
	vcpu_state_release(&b);
	free(file);
	vcpu_state_release(&a);
}

static void test_record_refusals(void **state)
{
	struct vcpu_snap a, b;
	struct bytes_out o = bytes_out_init(NULL, 0);
	uint8_t *buf, *copy;
	size_t len;

	(void)state;
	synthetic(&a, sizeof(struct kvm_xsave), 3);
	buf = record(&a, &len);
	for (size_t n = 0; n < len; n++) {
		copy = malloc(n ? n : 1);
		memcpy(copy, buf, n);
		assert_int_equal(vcpu_state_restore(&b, copy, n), -ENODATA);
		assert_null(b.xsave);
		assert_null(b.msrs);
		free(copy);
	}
	buf[4]++;
	assert_int_equal(vcpu_state_restore(&b, buf, len), -EPROTO);
	buf[4]--;
	/* REGS one byte short of struct kvm_regs: another kernel's layout. */
	buf[12]--;
	assert_int_equal(vcpu_state_restore(&b, buf, len), -EINVAL);
	buf[12]++;
	/* Parts out of order. */
	memcpy(buf + 8, "SREG", 4);
	assert_int_equal(vcpu_state_restore(&b, buf, len), -EINVAL);
	memcpy(buf + 8, "REGS", 4);
	/* An MSR count that does not match the part's length. */
	buf[len - 3 * 12 - 4] = 4;
	assert_int_equal(vcpu_state_restore(&b, buf, len), -EINVAL);
	buf[len - 3 * 12 - 4] = 3;
	assert_int_equal(vcpu_state_restore(&b, buf, len), 0);
	vcpu_state_release(&b);
	free(buf);

	/* Nothing to save from a state without an XSAVE area. */
	free(a.xsave);
	a.xsave = NULL;
	assert_int_equal(vcpu_state_save(&a, &o), -EINVAL);
	vcpu_state_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msr_list_filter_and_order),
		cmocka_unit_test(test_msr_list_batches),
		cmocka_unit_test(test_record_through_a_section),
		cmocka_unit_test(test_record_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
