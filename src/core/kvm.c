#include "core/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>



static const struct {
	long cap;
	const char *name;
	const char *why;
} required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "the in-kernel interrupt controllers" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2", "the in-kernel PIT" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING", "ISA interrupt routing" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "CPUID setup" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "real-mode support on VT-x" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "stopping vCPUs without races" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", "device notifications" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD", "device interrupts" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE", "secondary vCPU start-up" },
};

int kvm_check_extension(int fd, long cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

int kvm_open(struct kvm *kvm, const char *path, struct err *err)
{
	int version, ret;

	memset(kvm, 0, sizeof(*kvm));
	kvm->fd = open(path, O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		ret = -errno;
		if (errno == ENOENT)
			return err_set(err, false, ret, "%s does not exist: this host has no KVM "
				       "(load kvm-intel or kvm-amd, or enable virtualization)",
				       path);
		if (errno == EACCES || errno == EPERM)
			return err_set(err, false, ret, "no permission to open %s (join the 'kvm' "
				       "group or run as root)", path);
		return err_set(err, false, ret, "cannot open %s: %s", path, strerror(errno));
	}
	version = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		ret = err_set(err, false, -EINVAL, "%s speaks KVM API version %d; Hearth needs %d",
			      path, version, KVM_API_VERSION);
		goto err_close;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (!kvm_check_extension(kvm->fd, required_caps[i].cap)) {
			ret = err_set(err, false, -ENOTSUP, "KVM lacks %s, needed for %s",
				      required_caps[i].name, required_caps[i].why);
			goto err_close;
		}
	}
	kvm->run_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->run_size <= 0) {
		ret = err_set(err, false, -EINVAL, "KVM_GET_VCPU_MMAP_SIZE failed: %s",
			      strerror(errno));
		goto err_close;
	}
	kvm->max_vcpus = kvm_check_extension(kvm->fd, KVM_CAP_MAX_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = kvm_check_extension(kvm->fd, KVM_CAP_NR_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = 4;
	kvm->pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	return 0;

err_close:
	close(kvm->fd);
	kvm->fd = -1;
	return ret;
}

void kvm_close(struct kvm *kvm)
{
	if (kvm->fd >= 0)
		close(kvm->fd);
	kvm->fd = -1;
}
