#include "snapshot/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kvm.h"
#include "hearth-config.h"
#include "snapshot/config_rec.h"
#include "snapshot/file.h"
#include "snapshot/format.h"
#include "snapshot/memcore.h"
#include "vcpu/vcpu_kvm_state.h"
#include "vmm/vm_state.h"

/* The KVM capabilities a restore uses, each needed at least as large as here. */
static const uint32_t snap_caps[] = {
	KVM_CAP_IRQCHIP, KVM_CAP_PIT_STATE2, KVM_CAP_ADJUST_CLOCK, KVM_CAP_VCPU_EVENTS,
	KVM_CAP_DEBUGREGS, KVM_CAP_XCRS, KVM_CAP_XSAVE, KVM_CAP_XSAVE2,
};

int snap_host_collect(int kvm_fd, int vm_fd, const struct kvm_cpuid2 *cpuid,
		      struct snap_host *h)
{
	memset(h, 0, sizeof(*h));
	if (cpuid->nent > SNAP_HOST_MAX_CPUID)
		return -E2BIG;
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		h->cpuid[i] = (struct snap_cpuid_leaf){ e->function, e->index, e->flags, e->eax,
							e->ebx, e->ecx, e->edx };
	}
	h->ncpuid = cpuid->nent;
	for (unsigned int i = 0; i < sizeof(snap_caps) / sizeof(snap_caps[0]); i++) {
		/* XSAVE2's size is the VM's answer; the rest are the system's. */
		int fd = snap_caps[i] == KVM_CAP_XSAVE2 ? vm_fd : kvm_fd;

		h->caps[h->ncaps++] = (struct snap_cap){ snap_caps[i],
			(uint32_t)kvm_check_extension(fd, snap_caps[i]) };
	}
	return 0;
}

static int save_host(void *ctx, struct bytes_out *o, struct err *err)
{
	return snap_host_save(ctx, o);
}

static int save_vcpu(void *ctx, struct bytes_out *o, struct err *err)
{
	return vcpu_state_save(ctx, o);
}

static int save_vm(void *ctx, struct bytes_out *o, struct err *err)
{
	return vm_state_save(ctx, o);
}

struct devices_save {
	struct vm *vm;
	struct snap_builder *b;
};

/* On the io thread, which owns the devices; they are paused (in-flight I/O completed). */
static int save_devices(void *ctx, struct err *err)
{
	struct devices_save *c = ctx;
	struct registry *r = &c->vm->registry;
	int ret;

	for (unsigned int i = 0; i < r->n; i++) {
		const struct reg_entry *e = &r->entries[i];
		struct bytes_out o = bytes_out_growing();
		size_t len;

		if (e->kind != COMP_DEVICE)
			continue;
		if (!e->comp.ops->save)
			return err_set(err, false, -EOPNOTSUPP, "device '%s' (%s) cannot be saved",
				       e->id, e->type);
		ret = e->comp.ops->save(e->comp.obj, &o, err);
		if (!ret)
			ret = bytes_out_finish(&o, &len);
		if (!ret)
			ret = snap_builder_add(c->b, SNAP_SEC_DEVICE, e->id, 1, o.buf, len);
		free(o.buf);
		if (ret)
			return err_set(err, false, ret, "device '%s': saving failed: %s", e->id,
				       strerror(-ret));
	}
	return 0;
}

/* Every vCPU's state, and its registers for the memory file's notes. */
static int save_vcpus(struct vm *vm, struct snap_builder *b, struct memcore_vcpu *regs,
		      struct err *err)
{
	int xsave = kvm_check_extension(vm->fd, KVM_CAP_XSAVE2);
	struct kvm_msrs *list = NULL;
	int ret = vcpu_kvm_msr_list(vm->kvm.fd, &list);

	if (ret)
		return err_set(err, false, ret, "KVM_GET_MSR_INDEX_LIST: %s", strerror(-ret));
	for (unsigned int i = 0; i < vm->ncpus && !ret; i++) {
		struct vcpu_snap s;
		char id[16];

		ret = vcpu_kvm_state_get(vm->vcpus[i]->fd, xsave, list, &s, err);
		if (ret) {
			err_prefix(err, ret, "vcpu%u: ", i);
			break;
		}
		regs[i].regs = s.regs;
		regs[i].sregs = s.sregs;
		snprintf(id, sizeof(id), "%u", i);
		ret = snap_builder_add_saved(b, SNAP_SEC_VCPU, id, VCPU_STATE_VERSION, save_vcpu,
					     &s, err);
		vcpu_state_release(&s);
		if (ret)
			err_set(err, false, ret, "vcpu%u: saving failed: %s", i, strerror(-ret));
	}
	free(list);
	return ret;
}

static int build_state(struct vm *vm, const struct vm_config *cfg, struct snap_builder *b,
		       struct memcore_vcpu *regs, struct err *err)
{
	struct devices_save dc = { vm, b };
	struct snap_host *host = malloc(sizeof(*host));
	struct vm_kvm_state vs;
	char *json = NULL;
	size_t jlen = 0;
	int ret;

	ret = host ? snap_host_collect(vm->kvm.fd, vm->fd, vm->cpuid, host) : -ENOMEM;
	if (!ret)
		ret = snap_builder_add_saved(b, SNAP_SEC_HOST, "host", SNAP_HOST_VERSION, save_host,
					     host, err);
	free(host);
	if (!ret)
		ret = snap_config_save(cfg, &json, &jlen);
	if (!ret)
		ret = snap_builder_add(b, SNAP_SEC_CONFIG, "config", SNAP_CONFIG_VERSION, json, jlen);
	free(json);
	if (ret)
		return err_set(err, false, ret, "recording the host and config: %s",
			       strerror(-ret));
	ret = vm_state_get(vm->fd, &vs, err);
	if (!ret)
		ret = snap_builder_add_saved(b, SNAP_SEC_VM, "vm", VM_STATE_VERSION, save_vm, &vs,
					     err);
	if (!ret)
		ret = save_vcpus(vm, b, regs, err);
	if (ret)
		return ret;
	return eventloop_run_on(vm->loop, save_devices, &dc, err);
}

/*
 * The pages dirtied since the last snapshot (or boot), per region; reading
 * clears them, so every snapshot, Full or Diff, starts the next diff.
 * NULL in *dirty when tracking is off.
 */
static int collect_dirty(struct vm *vm, uint64_t *dirty[GUEST_MEM_MAX_REGIONS], struct err *err)
{
	int ret;

	if (!guest_mem_dirty_enabled(&vm->mem))
		return 0;
	for (unsigned int i = 0; i < vm->mem.nregions; i++) {
		dirty[i] = calloc(guest_mem_dirty_words(&vm->mem, i), sizeof(uint64_t));
		if (!dirty[i])
			return -ENOMEM;
		ret = guest_mem_dirty_collect(&vm->mem, vm->fd, i, dirty[i]);
		if (ret)
			return err_set(err, false, ret, "snapshot/create: reading the dirty log: "
				       "%s", strerror(-ret));
	}
	return 0;
}

static int check_diff(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	if (!guest_mem_dirty_enabled(&vm->mem))
		return err_set(err, true, -EINVAL, "a Diff snapshot needs dirty page tracking: "
			       "boot with machine-config track_dirty_pages, or load with "
			       "track_dirty_pages");
	/* The host kernel writes vhost-vsock's rings, and KVM's log does not see it. */
	if (cfg->vsock.present && !cfg->vsock.uds_path)
		return err_set(err, true, -EINVAL, "a Diff snapshot cannot include vhost-vsock "
			       "(its kernel writes to guest memory are not tracked); take a Full "
			       "snapshot");
	return 0;
}

int snap_create(struct vm *vm, const struct vm_config *cfg, const struct snap_create_req *req,
		struct err *err)
{
	struct memcore_vcpu *regs = calloc(vm->ncpus, sizeof(*regs));
	uint64_t *dirty[GUEST_MEM_MAX_REGIONS] = { NULL };
	struct snap_builder b;
	void *buf = NULL;
	size_t len = 0;
	int ret;

	if (!regs)
		return -ENOMEM;
	if (req->diff) {
		ret = check_diff(vm, cfg, err);
		if (ret) {
			free(regs);
			return ret;
		}
	}
	snap_builder_init(&b);
	err->msg[0] = '\0';
	ret = build_state(vm, cfg, &b, regs, err);
	if (!ret)
		ret = snap_builder_finish(&b, HEARTH_VERSION, &buf, &len);
	snap_builder_release(&b);
	if (ret) {
		if (!err->msg[0])
			err_set(err, false, ret, "%s", strerror(-ret));
		err_prefix(err, ret, "snapshot/create: ");
		goto out;
	}
	/*
	 * After the state is read: nothing runs while paused, and the device
	 * saves above may have marked pages. A failed write loses these bits,
	 * so the next snapshot after a failure should be a Full one (README).
	 */
	ret = collect_dirty(vm, dirty, err);
	if (!ret)
		ret = memcore_write(req->mem_file_path, &vm->mem, regs, vm->ncpus,
				    req->diff ? (const uint64_t *const *)dirty : NULL, err);
	if (!ret)
		ret = snap_file_write(req->snapshot_path, buf, len, NULL, err);
out:
	for (unsigned int i = 0; i < GUEST_MEM_MAX_REGIONS; i++)
		free(dirty[i]);
	free(buf);
	free(regs);
	return ret;
}
