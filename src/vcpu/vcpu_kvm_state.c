#include "vcpu/vcpu_kvm_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/log.h"
#include "vcpu/msr_list.h"

int vcpu_kvm_msr_list(int kvm_fd, struct kvm_msrs **out)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *l;
	int ret;

	/* The first call fails with E2BIG and says how many there are. */
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -errno;
	if (probe.nmsrs > MSR_LIST_MAX)
		return -E2BIG;
	l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(l->indices[0]));
	if (!l)
		return -ENOMEM;
	l->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		ret = -errno;
		goto out;
	}
	ret = msr_list_build(l->indices, l->nmsrs, out);
out:
	free(l);
	return ret;
}

static int fail(struct err *err, const char *what)
{
	int ret = -errno;

	return err_set(err, false, ret ? ret : -EIO, "%s: %s", what, strerror(errno));
}

/*
 * KVM_GET_MSRS stops at the first MSR it cannot read and returns how many
 * it read; that one is skipped (the index list is the host's, and a guest
 * CPUID can hide an MSR) and reading goes on after it.
 */
static int get_msrs(int fd, const struct kvm_msrs *list, struct vcpu_snap *s, struct err *err)
{
	struct kvm_msrs *batch = calloc(1, sizeof(*batch) + MSR_BATCH_MAX *
					sizeof(batch->entries[0]));
	uint32_t from = 0, n;
	int ret = 0, got;

	s->msrs = calloc(list->nmsrs ? list->nmsrs : 1, sizeof(*s->msrs));
	if (!batch || !s->msrs) {
		free(batch);
		return -ENOMEM;
	}
	while ((n = msr_list_batch(list, from, batch, MSR_BATCH_MAX)) > 0) {
		got = ioctl(fd, KVM_GET_MSRS, batch);
		if (got < 0) {
			ret = fail(err, "KVM_GET_MSRS");
			break;
		}
		memcpy(&s->msrs[s->nmsrs], batch->entries, (size_t)got * sizeof(s->msrs[0]));
		s->nmsrs += (uint32_t)got;
		if ((uint32_t)got < n)
			log_debug("MSR 0x%x is listed but not readable; not saved",
				  batch->entries[got].index);
		from += (uint32_t)got < n ? (uint32_t)got + 1 : n;
	}
	free(batch);
	return ret;
}

int vcpu_kvm_state_get(int fd, int xsave_size, const struct kvm_msrs *list,
		       struct vcpu_snap *s, struct err *err)
{
	int ret;

	memset(s, 0, sizeof(*s));
	if (ioctl(fd, KVM_GET_MP_STATE, &s->mp_state) < 0)
		return fail(err, "KVM_GET_MP_STATE");
	if (ioctl(fd, KVM_GET_REGS, &s->regs) < 0)
		return fail(err, "KVM_GET_REGS");
	if (ioctl(fd, KVM_GET_SREGS, &s->sregs) < 0)
		return fail(err, "KVM_GET_SREGS");
	s->xsave_len = xsave_size > (int)sizeof(struct kvm_xsave) ? (uint32_t)xsave_size
								  : sizeof(struct kvm_xsave);
	if (s->xsave_len > VCPU_XSAVE_MAX)
		return err_set(err, false, -E2BIG, "KVM's XSAVE area is %u bytes, more than %u",
			       s->xsave_len, VCPU_XSAVE_MAX);
	s->xsave = calloc(1, s->xsave_len);
	if (!s->xsave)
		return -ENOMEM;
	if (s->xsave_len > sizeof(struct kvm_xsave) ? ioctl(fd, KVM_GET_XSAVE2, s->xsave) < 0
						    : ioctl(fd, KVM_GET_XSAVE, s->xsave) < 0) {
		ret = fail(err, "KVM_GET_XSAVE");
		goto err_release;
	}
	ret = -1;
	if (ioctl(fd, KVM_GET_XCRS, &s->xcrs) < 0)
		ret = fail(err, "KVM_GET_XCRS");
	else if (ioctl(fd, KVM_GET_DEBUGREGS, &s->debugregs) < 0)
		ret = fail(err, "KVM_GET_DEBUGREGS");
	else if (ioctl(fd, KVM_GET_LAPIC, &s->lapic) < 0)
		ret = fail(err, "KVM_GET_LAPIC");
	else
		ret = get_msrs(fd, list, s, err);
	/* Last: what is pending after everything else was read out. */
	if (!ret && ioctl(fd, KVM_GET_VCPU_EVENTS, &s->events) < 0)
		ret = fail(err, "KVM_GET_VCPU_EVENTS");
	if (ret)
		goto err_release;
	return 0;

err_release:
	vcpu_state_release(s);
	return ret;
}

static int set_msrs(int fd, const struct vcpu_snap *s, struct err *err)
{
	struct kvm_msrs *batch = calloc(1, sizeof(*batch) + MSR_BATCH_MAX *
					sizeof(batch->entries[0]));
	uint32_t from = 0;
	int ret = 0, set;

	if (!batch)
		return -ENOMEM;
	while (from < s->nmsrs) {
		uint32_t n = s->nmsrs - from < MSR_BATCH_MAX ? s->nmsrs - from : MSR_BATCH_MAX;

		batch->nmsrs = n;
		memcpy(batch->entries, &s->msrs[from], n * sizeof(batch->entries[0]));
		set = ioctl(fd, KVM_SET_MSRS, batch);
		if (set < 0) {
			ret = fail(err, "KVM_SET_MSRS");
			break;
		}
		if ((uint32_t)set < n) {
			/* Read back on the same KVM, so this host cannot take the guest's value. */
			ret = err_set(err, false, -EINVAL, "KVM_SET_MSRS: MSR 0x%x refused the "
				      "value 0x%llx", s->msrs[from + (uint32_t)set].index,
				      (unsigned long long)s->msrs[from + (uint32_t)set].data);
			break;
		}
		from += n;
	}
	free(batch);
	return ret;
}

int vcpu_kvm_state_set(int fd, int xsave_size, const struct vcpu_snap *s, struct err *err)
{
	size_t xlen = xsave_size > (int)s->xsave_len ? (size_t)xsave_size : s->xsave_len;
	uint8_t *xsave;
	int ret;

	if (ioctl(fd, KVM_SET_MP_STATE, &s->mp_state) < 0)
		return fail(err, "KVM_SET_MP_STATE");
	if (ioctl(fd, KVM_SET_REGS, &s->regs) < 0)
		return fail(err, "KVM_SET_REGS");
	if (ioctl(fd, KVM_SET_SREGS, &s->sregs) < 0)
		return fail(err, "KVM_SET_SREGS");
	/*
	 * With KVM_CAP_XSAVE2 KVM copies in as many bytes as it reports, which
	 * may be more than the saved area: the rest is zero (features not in use).
	 */
	xsave = calloc(1, xlen);
	if (!xsave)
		return -ENOMEM;
	memcpy(xsave, s->xsave, s->xsave_len);
	ret = ioctl(fd, KVM_SET_XSAVE, xsave) < 0 ? fail(err, "KVM_SET_XSAVE") : 0;
	free(xsave);
	if (ret)
		return ret;
	if (ioctl(fd, KVM_SET_XCRS, &s->xcrs) < 0)
		return fail(err, "KVM_SET_XCRS");
	if (ioctl(fd, KVM_SET_DEBUGREGS, &s->debugregs) < 0)
		return fail(err, "KVM_SET_DEBUGREGS");
	if (ioctl(fd, KVM_SET_LAPIC, &s->lapic) < 0)
		return fail(err, "KVM_SET_LAPIC");
	ret = set_msrs(fd, s, err);
	if (ret)
		return ret;
	if (ioctl(fd, KVM_SET_VCPU_EVENTS, &s->events) < 0)
		return fail(err, "KVM_SET_VCPU_EVENTS");
	return 0;
}
