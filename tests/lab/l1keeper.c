/*
 * l1keeper: runs inside the lab's L1 for its whole plan, holding one idle
 * VM open (tests/lab/README.md, "Wedges"). Every VM an L2 run creates and
 * destroys flips kernel static keys when their count crosses zero: KVM's
 * preempt notifiers (patched into __schedule) and the LAPIC's
 * "software-disabled" key. Each flip rewrites L1's kernel text through
 * int3, and under QEMU 7.2's multi-threaded TCG a vCPU could go on hitting
 * that int3 after the patch: L1 wedged. With this VM alive (its vCPU's
 * LAPIC stays software-disabled: it never runs), neither count reaches
 * zero and L1's text is not patched during the plan.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fail(const char *what)
{
	printf("LAB-L1-KEEPER failed: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vm, vcpu;

	if (kvm < 0)
		return fail("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return fail("KVM_CREATE_IRQCHIP");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	printf("LAB-L1-KEEPER ok\n");
	fflush(stdout);
	for (;;)
		pause();
}
