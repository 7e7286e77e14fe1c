/*
 * A vCPU as the registry sees it: the contract (core/component.h) over
 * its run state and its KVM state. The state is read and loaded through
 * KVM from the caller's thread while the vCPU is parked (KVM takes the
 * vCPU's mutex), so no file I/O or waiting ever runs on a vCPU thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/kvm.h"
#include "vcpu/vcpu.h"
#include "vcpu/vcpu_kvm_state.h"
#include "vcpu/vcpu_state.h"

static int vcpu_component_pause(void *obj)
{
	struct vcpu *v = obj;
	enum vcpu_state s = vcpu_pause(v, VCPU_PAUSE_TIMEOUT_MS);

	return s == VCPU_PAUSED || s == VCPU_STOPPED || !v->started ? 0 : -ETIMEDOUT;
}

static int vcpu_component_resume(void *obj)
{
	vcpu_resume(obj);
	return 0;
}

/* KVM_CAP_XSAVE2's size on the VM (0: the 4 KiB KVM_GET_XSAVE). */
static int vcpu_xsave_size(const struct vcpu *v)
{
	return kvm_check_extension(v->env->vm_fd, KVM_CAP_XSAVE2);
}

static int vcpu_component_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct vcpu *v = obj;
	struct kvm_msrs *list = NULL;
	struct vcpu_snap s;
	int ret = vcpu_kvm_msr_list(v->env->kvm_fd, &list);

	if (ret)
		return err_set(err, false, ret, "KVM_GET_MSR_INDEX_LIST: %s", strerror(-ret));
	ret = vcpu_kvm_state_get(v->fd, vcpu_xsave_size(v), list, &s, err);
	free(list);
	if (ret)
		return ret;
	ret = vcpu_state_save(&s, o);
	vcpu_state_release(&s);
	return ret;
}

static int vcpu_component_restore(void *obj, const void *in, size_t len, bool apply,
				  struct err *err)
{
	struct vcpu *v = obj;
	struct vcpu_snap s;
	int ret = vcpu_state_restore(&s, in, len);

	if (ret)
		return ret;
	if (apply)
		ret = vcpu_kvm_state_set(v->fd, vcpu_xsave_size(v), &s, err);
	vcpu_state_release(&s);
	return ret;
}

static void vcpu_component_destroy(void *obj)
{
	vcpu_destroy(obj);
}

static unsigned int vcpu_component_counters(void *obj, struct dev_counter *out,
					    unsigned int max)
{
	struct dev_counter c[VCPU_EXIT_KINDS];

	for (int k = 0; k < VCPU_EXIT_KINDS; k++)
		c[k] = (struct dev_counter){ vcpu_exit_name((enum vcpu_exit_kind)k),
					     vcpu_exit_count(obj, (enum vcpu_exit_kind)k) };
	return dev_counters_copy(out, max, c, VCPU_EXIT_KINDS);
}

const struct component_ops vcpu_component = {
	.pause = vcpu_component_pause,
	.resume = vcpu_component_resume,
	.save = vcpu_component_save,
	.restore = vcpu_component_restore,
	.destroy = vcpu_component_destroy,
	.counters = vcpu_component_counters,
};
