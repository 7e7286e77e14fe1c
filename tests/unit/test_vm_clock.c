/*
 * clock_realtime on restore (vmm/vm_state.h vm_state_clock_realtime):
 * refused, with words naming why, for a record without a real time, a
 * corrupt one, or a KVM that cannot take one; applied, the guest's clock
 * moves on by the real time since the record's. The v1 fixture (a state
 * file from before clock_realtime) still reads and is judged by its own
 * clock flags.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapshot/file.h"
#include "snapshot/format.h"
#include "vmm/vm_state.h"

#define FIXTURE HEARTH_TEST_DATA "/v1-halt.snap"
#define TEN_S 10000000000ull

static struct err err;

static void record(uint64_t clock, uint32_t flags, uint64_t realtime, struct bytes_out *o)
{
	struct vm_kvm_state s;

	memset(&s, 0, sizeof(s));
	s.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	s.clock.clock = clock;
	s.clock.flags = flags;
	s.clock.realtime = realtime;
	*o = bytes_out_growing();
	assert_int_equal(vm_state_save(&s, o), 0);
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_refusals(void **state)
{
	struct bytes_out o;

	(void)state;
	/* No real time in the record: nothing to advance by (KVM would add all of 1970 since). */
	record(5, KVM_CLOCK_TSC_STABLE, 0, &o);
	assert_int_equal(vm_state_clock_realtime(-1, o.buf, o.len, false, &err), -EOPNOTSUPP);
	assert_true(err.usage);
	assert_non_null(strstr(err.msg, "clock_realtime: the snapshot holds no real time"));
	/* A record that does not read. */
	assert_int_equal(vm_state_clock_realtime(-1, o.buf, o.len - 1, false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "corrupt"));
	free(o.buf);
	/* A KVM that cannot say it takes one (no VM here at all). */
	record(5, KVM_CLOCK_REALTIME, real_ns(), &o);
	assert_int_equal(vm_state_clock_realtime(-1, o.buf, o.len, true, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "KVM_CAP_ADJUST_CLOCK without KVM_CLOCK_REALTIME"));
	free(o.buf);
}

/*
 * On a real KVM that takes it: a record made "ten seconds ago" (its real
 * time ten seconds behind the host's) puts the guest's clock at least ten
 * seconds past the record's, where vm_state_set (flags 0) puts it at the
 * record's value.
 */
static void test_applied(void **state)
{
	struct kvm_clock_data got;
	struct bytes_out o;
	struct vm_kvm_state s;
	int kvm, vm, caps;

	(void)state;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		skip();
		return;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	caps = vm < 0 ? -1 : ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK);
	if (vm < 0 || caps < 0 || !(caps & KVM_CLOCK_REALTIME)) {
		if (vm >= 0)
			close(vm);
		close(kvm);
		skip();
		return;
	}
	record(1000, KVM_CLOCK_REALTIME, real_ns() - TEN_S, &o);
	assert_int_equal(vm_state_restore(&s, o.buf, o.len), 0);
	assert_int_equal(vm_state_clock_realtime(vm, o.buf, o.len, false, &err), 0);
	assert_int_equal(vm_state_clock_realtime(vm, o.buf, o.len, true, &err), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(ioctl(vm, KVM_GET_CLOCK, &got), 0);
	assert_true(got.clock >= 1000 + TEN_S);
	free(o.buf);
	close(vm);
	close(kvm);
}

/* A state file from before clock_realtime: its VM record is the same record. */
static void test_v1_fixture(void **state)
{
	struct snap_file f;
	const struct snap_section *s;
	struct vm_kvm_state vs;
	void *buf;
	int ret;

	(void)state;
	assert_int_equal(snap_file_load(FIXTURE, &f, &buf, &err), 0);
	s = snap_find(&f, SNAP_SEC_VM, "vm");
	assert_non_null(s);
	assert_int_equal(vm_state_restore(&vs, s->data, s->len), 0);
	ret = vm_state_clock_realtime(-1, s->data, s->len, false, &err);
	assert_int_equal(ret, -EOPNOTSUPP);
	if (vs.clock.flags & KVM_CLOCK_REALTIME)
		assert_non_null(strstr(err.msg, "this host's KVM"));
	else
		assert_non_null(strstr(err.msg, "holds no real time"));
	snap_file_release(&f);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_applied),
		cmocka_unit_test(test_v1_fixture),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
