/*
 * Snapshot create: the state file's head (what the snapshot needs of the
 * host, the config that built the VM), then one walk of the VM's registry,
 * each component saving its record on its thread, then the memory file,
 * from the dirty log's record and the vCPU records' registers, then the
 * state file.
 */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/kvm.h"
#include "hearth-config.h"
#include "snapshot/config_rec.h"
#include "snapshot/file.h"
#include "snapshot/format.h"
#include "snapshot/memcore.h"
#include "snapshot/records.h"
#include "util/file.h"
#include "vcpu/vcpu_state.h"
#include "vmm/refusal.h"
#include "vmm/vm_pci_hotplug.h"

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

/* What the snapshot needs of the host and the config: read before anything is built. */
static int save_head(struct vm *vm, const struct vm_config *cfg, struct snap_builder *b,
		     struct err *err)
{
	struct snap_host *host = malloc(sizeof(*host));
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
	return 0;
}

struct create_walk {
	struct snap_builder *b;
	struct bytes_out dirty;     /* the dirty log's record: the memory file's, not a section */
	bool dirty_taken;           /* it was saved whole: its pages are out of the log */
};

static int save_component(void *ctx, struct bytes_out *o, struct err *err)
{
	const struct reg_entry *e = ctx;

	return e->comp.ops->save(e->comp.obj, o, err);
}

/* One component, on its thread (registry_each): the VM's and vCPUs' read through KVM. */
static int save_one(struct reg_entry *e, void *ctx, struct err *err)
{
	const struct snap_record_kind *k = snap_record_kind(e->kind);
	struct create_walk *w = ctx;
	char who[96];
	int ret;

	snap_record_who(e, who, sizeof(who));
	if (!e->comp.ops->save)
		return err_set(err, false, -EOPNOTSUPP, "%s (%s) cannot be saved", who, e->type);
	err->msg[0] = '\0';
	if (k->section)
		ret = snap_builder_add_saved(w->b, k->section, e->id, k->version, save_component,
					     e, err);
	else if (!(ret = save_component(e, &w->dirty, err)))
		w->dirty_taken = true;
	if (!ret)
		return 0;
	/* A device's errno says it all (-EBUSY: I/O in flight); KVM's parts say which ioctl. */
	if (e->kind == COMP_DEVICE || !err->msg[0])
		return err_set(err, false, ret, "%s: saving failed: %s", who, strerror(-ret));
	return k->section == SNAP_SEC_VCPU ? err_prefix(err, ret, "%s: ", who) : ret;
}

/* Each vCPU's registers, from its record in the state file, for the memory file's notes. */
static int note_regs(const void *buf, size_t len, unsigned int ncpus,
		     struct memcore_vcpu *regs, struct err *err)
{
	struct snap_file f;
	int ret = snap_parse(buf, len, "(new)", &f, err);

	for (unsigned int i = 0; !ret && i < ncpus; i++) {
		const struct snap_section *s;
		struct vcpu_snap v;
		char id[16];

		snprintf(id, sizeof(id), "%u", i);
		s = snap_find(&f, SNAP_SEC_VCPU, id);
		ret = s ? vcpu_state_restore(&v, s->data, s->len) : -ENOENT;
		if (ret)
			break;
		regs[i] = (struct memcore_vcpu){ v.regs, v.sregs };
		vcpu_state_release(&v);
	}
	snap_file_release(&f);
	return ret;
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

/* The memory file: every page, or for a diff the pages the dirty log's record names. */
static int write_memory(struct vm *vm, const struct snap_create_req *req, const void *state,
			size_t len, const struct bytes_out *dirty, struct err *err)
{
	struct memcore_vcpu *regs = calloc(vm->ncpus, sizeof(*regs));
	uint64_t *maps[GUEST_MEM_DIRTY_MAPS] = { NULL };
	int ret = regs ? note_regs(state, len, vm->ncpus, regs, err) : -ENOMEM;

	if (!ret && req->diff)
		ret = guest_mem_dirty_parse(&vm->mem, dirty->buf, dirty->len, maps);
	if (!ret && req->to_fds)
		ret = memcore_write_fd(req->mem_fd, &vm->mem, regs, vm->ncpus, err);
	else if (!ret)
		ret = memcore_write(req->mem_file_path, &vm->mem, regs, vm->ncpus,
				    req->diff ? (const uint64_t *const *)maps : NULL, err);
	else if (!err->msg[0])
		err_set(err, false, ret, "snapshot/create: the memory file's notes: %s",
			strerror(-ret));
	for (unsigned int i = 0; i < GUEST_MEM_DIRTY_MAPS; i++)
		free(maps[i]);
	free(regs);
	return ret;
}

/* A fork's state: the whole buffer into its memfd, from offset 0. */
static int state_to_fd(int fd, const void *buf, size_t len, struct err *err)
{
	int ret = ftruncate(fd, (off_t)len) < 0 || file_pwrite_full(fd, buf, len, 0) ? -errno : 0;

	return ret ? err_set(err, false, ret, "fork: writing the state: %s", strerror(-ret)) : 0;
}

/*
 * The checks every snapshot passes, then the state file's bytes into *buf
 * (*len), w->dirty getting the dirty log's record. On failure nothing is
 * kept and the log's pages are given back.
 */
static int build(struct vm *vm, const struct vm_config *cfg, bool diff, struct create_walk *w,
		 void **buf, size_t *len, struct err *err)
{
	struct vm_config *rec = NULL;
	struct snap_builder b;
	int ret;

	char why[512];

	/* Every entry point asked already (control/); here for any other caller. */
	if (vm_refusal(cfg, VM_OP_SNAPSHOT, why, sizeof(why)))
		return err_set(err, true, -EOPNOTSUPP, "%s", why);
	/*
	 * A restore lays the pmem windows out from the model's order; one
	 * unplugged from among the others left the later ones elsewhere.
	 */
	if (!vm_pmem_in_layout(vm))
		return err_set(err, true, -EINVAL, "snapshot/create: a pmem device was unplugged "
			       "from before another one, whose window a restore would put "
			       "elsewhere: not supported yet (unplug the later ones too, or "
			       "snapshot before the unplug)");
	/*
	 * Drives plugged in or out (or a restore of such a VM): the config
	 * records where each device sits now.
	 */
	if (cfg->npci_slots || vm_pci_record_slots(vm, cfg, NULL)) {
		rec = malloc(sizeof(*rec));
		if (!rec)
			return err_set(err, false, -ENOMEM, "snapshot/create: out of memory");
		*rec = *cfg;           /* shallow: rec is read, never released */
		vm_pci_record_slots(vm, cfg, rec);
		cfg = rec;
	}
	if (diff) {
		ret = check_diff(vm, cfg, err);
		if (ret) {
			free(rec);
			return ret;
		}
	}
	snap_builder_init(&b);
	w->b = &b;
	err->msg[0] = '\0';
	/*
	 * The dirty log saves last, after every device's save may have marked
	 * pages (nothing else runs while paused). Saving takes its pages out
	 * of the log, a Full's as well as a Diff's: whatever fails after that
	 * gives them back, so the next snapshot still has every page written
	 * since the last one that was made.
	 */
	ret = save_head(vm, cfg, &b, err);
	if (!ret)
		ret = registry_each(&vm->registry, vm->loop, save_one, w, err);
	if (!ret)
		ret = snap_builder_finish(&b, HEARTH_VERSION, buf, len);
	snap_builder_release(&b);
	free(rec);
	if (ret) {
		if (!err->msg[0])
			err_set(err, false, ret, "%s", strerror(-ret));
		err_prefix(err, ret, "snapshot/create: ");
		if (w->dirty_taken)
			guest_mem_dirty_give_back(&vm->mem, w->dirty.buf, w->dirty.len);
	}
	return ret;
}

int snap_create(struct vm *vm, const struct vm_config *cfg, const struct snap_create_req *req,
		struct err *err)
{
	struct create_walk w = { .dirty = bytes_out_growing() };
	void *buf = NULL;
	size_t len = 0;
	int ret = build(vm, cfg, req->diff, &w, &buf, &len, err);

	if (ret)
		goto out;
	ret = write_memory(vm, req, buf, len, &w.dirty, err);
	if (!ret && req->to_fds)
		ret = state_to_fd(req->state_fd, buf, len, err);
	else if (!ret)
		ret = snap_file_write(req->snapshot_path, buf, len, NULL, err);
	if (ret && w.dirty_taken)
		guest_mem_dirty_give_back(&vm->mem, w.dirty.buf, w.dirty.len);
out:
	free(w.dirty.buf);
	free(buf);
	return ret;
}

int snap_state(struct vm *vm, const struct vm_config *cfg, void **buf, size_t *len,
	       uint64_t *maps[GUEST_MEM_DIRTY_MAPS], struct err *err)
{
	struct create_walk w = { .dirty = bytes_out_growing() };
	int ret;

	*buf = NULL;
	ret = build(vm, cfg, false, &w, buf, len, err);
	if (!ret && guest_mem_dirty_enabled(&vm->mem)) {
		ret = guest_mem_dirty_parse(&vm->mem, w.dirty.buf, w.dirty.len, maps);
		if (ret) {
			err_set(err, false, ret, "the dirty log's record: %s", strerror(-ret));
			guest_mem_dirty_give_back(&vm->mem, w.dirty.buf, w.dirty.len);
			free(*buf);
			*buf = NULL;
		}
	}
	free(w.dirty.buf);
	return ret;
}
