#include "snapshot/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/guest_mem_hotplug.h"
#include "snapshot/config_rec.h"
#include "snapshot/file.h"
#include "snapshot/format.h"
#include "snapshot/memfile_layout.h"
#include "snapshot/memfile_lock.h"
#include "snapshot/records.h"
#include "snapshot/uffd.h"
#include "vmm/vm_ram.h"
#include "vmm/vm_state.h"

/* What a restore read before building anything, for the walk on the io thread. */
struct restore_ctx {
	const char *path;
	struct snap_file f;
	struct snap_host *need;
	const char *tmpl;       /* the config's CPU template, for the host check's words; NULL: none */
	bool clock_realtime;    /* the request's clock_realtime */
};

static int usage(struct err *err, int ret, const char *path, const char *what)
{
	return err_set(err, true, ret ? ret : -EINVAL, "snapshot %s: %s", path, what);
}

/* Reads the config and host sections, and counts the vCPU sections; nothing is built yet. */
static int parse_sections(struct restore_ctx *rc, const struct snap_load_req *req,
			  struct vm_config *cfg, struct err *err)
{
	const struct snap_section *s;
	int ret;

	s = snap_find(&rc->f, SNAP_SEC_CONFIG, "config");
	if (!s || s->version != SNAP_CONFIG_VERSION)
		return usage(err, -EINVAL, rc->path, "no config section this Hearth reads");
	ret = snap_config_restore(cfg, s->data, s->len, err);
	if (ret) {
		err->usage = true;
		return err_prefix(err, ret, "snapshot %s: ", rc->path);
	}
	/* The record's host paths go here, before anything could open one. */
	ret = snap_load_host(cfg, req, err);
	if (ret) {
		if (err->usage)
			err_prefix(err, ret, "snapshot %s: ", rc->path);
		return ret;
	}
	/*
	 * The request's alone, as Firecracker's: the record's would keep KVM's
	 * dirty log on every memslot, and vhost-net off, whatever was asked.
	 */
	cfg->machine.track_dirty_pages = req->track_dirty_pages;
	/* A migration's destination takes its disks' locks only at the switch-over. */
	cfg->drives_unlocked = req->drives_unlocked;
	/* The load's huge_pages over the snapshot's: checked as a machine-config's would be. */
	if (req->huge_pages_set) {
		struct vm_machine m = cfg->machine;

		m.huge_pages = req->huge_pages;
		ret = vm_config_set_machine(cfg, &m, err);
		if (ret)
			return err_prefix(err, ret, "huge_pages: ");
	}
	s = snap_find(&rc->f, SNAP_SEC_HOST, "host");
	rc->need = calloc(1, sizeof(*rc->need));
	if (!rc->need)
		return err_set(err, false, -ENOMEM, "out of memory");
	if (!s || s->version != SNAP_HOST_VERSION ||
	    snap_host_restore(rc->need, s->data, s->len))
		return usage(err, -EINVAL, rc->path, "its host section is missing or corrupt");
	for (unsigned int i = 0; i < rc->f.nsections; i++)
		if (rc->f.sections[i].kind == SNAP_SEC_VCPU &&
		    strtoul(rc->f.sections[i].id, NULL, 10) >= cfg->machine.vcpu_count)
			return usage(err, -EINVAL, rc->path, "it has more vCPU sections than its "
				     "config's vcpu_count");
	return 0;
}

/*
 * The file's regions are RAM's as the config lays it out, then, with
 * memory hotplug, the hotplug region where the config puts it. 0 or
 * -EINVAL.
 */
static int expect_regions(const struct vm_config *cfg, const struct guest_mem *ram,
			  const struct memfile_layout *l)
{
	unsigned int n = ram->nregions;
	uint64_t hp_size = (uint64_t)cfg->hotplug.total_size_mib << 20;

	if (l->nregions != n + (cfg->hotplug.present ? 1u : 0u))
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++)
		if (ram->regions[i].gpa != l->r[i].gpa || ram->regions[i].size != l->r[i].size)
			return -EINVAL;
	if (cfg->hotplug.present &&
	    (l->r[n].gpa != guest_mem_hotplug_gpa(ram, hp_size) || l->r[n].size != hp_size))
		return -EINVAL;
	return 0;
}

static int mem_take(const char *path, const struct vm_config *cfg, struct vm_mem_file *mf,
		    struct err *err);

int snap_mem_open(const char *path, const struct vm_config *cfg, struct vm_mem_file *mf,
		  struct err *err)
{
	mf->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (mf->fd < 0)
		return err_set(err, true, -errno, "memory file %s: %s", path, strerror(errno));
	return mem_take(path, cfg, mf, err);
}

/* mf->fd open: checked, locked and laid out as snap_mem_open's; closed on failure. */
static int mem_take(const char *path, const struct vm_config *cfg, struct vm_mem_file *mf,
		    struct err *err)
{
	struct memfile_layout l;
	struct guest_mem want;
	struct stat st;
	int ret;

	if (fstat(mf->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = err_set(err, true, -EINVAL, "memory file %s: not a regular file", path);
		goto err_close;
	}
	/*
	 * Before its headers are read: a merge rewriting it now holds it
	 * exclusively. Held from here until the VM's RAM is unmapped (the
	 * guest memory keeps a duplicate of this fd), so no merge rewrites
	 * pages this VM has yet to read.
	 */
	ret = memfile_lock_shared(mf->fd, path, err);
	if (ret)
		goto err_close;
	ret = memfile_layout_read(mf->fd, &l, err);
	if (ret) {
		err_prefix(err, ret, "memory file %s: ", path);
		goto err_close;
	}
	ret = guest_mem_layout_below(&want, cfg->machine.mem_size_mib << 20, vm_ram_below_4g(cfg));
	if (!ret)
		ret = expect_regions(cfg, &want, &l);
	if (ret) {
		ret = err_set(err, true, -EINVAL, "memory file %s: its regions are not those "
			      "of the snapshot's %llu MiB of RAM%s (another snapshot's file?)",
			      path, (unsigned long long)cfg->machine.mem_size_mib,
			      cfg->hotplug.present ? " and its memory hotplug region" : "");
		goto err_close;
	}
	mf->nregions = want.nregions;
	for (unsigned int i = 0; i < want.nregions; i++)
		mf->offset[i] = l.r[i].offset;
	mf->hp = cfg->hotplug.present;
	mf->hp_offset = mf->hp ? l.r[want.nregions].offset : 0;
	return 0;

err_close:
	close(mf->fd);
	mf->fd = -1;
	return ret;
}

/*
 * A migration's prelude builds the VM before any page comes: its config's
 * RAM must be the layout the stream gave, checked before it is mapped
 * (the layout's size was bounded; the config's is the state's to say).
 */
static int attach_checked(const struct snap_load_req *req, const struct vm_config *cfg,
			  struct err *err)
{
	struct guest_mem want;
	int ret;

	if (cfg->hotplug.present)
		return err_set(err, true, -EOPNOTSUPP, "snapshot %s: memory hotplug does not "
			       "migrate yet", req->snapshot_path);
	ret = req->mem_layout ? guest_mem_layout_below(&want, cfg->machine.mem_size_mib << 20,
						       vm_ram_below_4g(cfg)) : -EINVAL;
	if (!ret)
		ret = expect_regions(cfg, &want, (const struct memfile_layout *)req->mem_layout);
	return ret ? err_set(err, true, -EINVAL, "snapshot %s: its %llu MiB of RAM are not "
			     "the stream's layout", req->snapshot_path,
			     (unsigned long long)cfg->machine.mem_size_mib) : 0;
}

static const char *refusal(int ret)
{
	return ret == -EPROTO ? "another version" : ret == -ENODATA ? "truncated" : "invalid";
}

/* A record missing or refused by its check: the snapshot is at fault. */
static int refused(const struct restore_ctx *rc, const struct reg_entry *e, bool found,
		   int ret, struct err *err)
{
	switch (e->kind) {
	case COMP_VM:
		return usage(err, -EINVAL, rc->path, "its vm section is missing or corrupt");
	case COMP_VCPU:
		return err_set(err, true, -EINVAL, "snapshot %s: vCPU %s's section is missing or "
			       "corrupt", rc->path, e->id);
	default:
		if (!found)
			return err_set(err, true, -EINVAL, "snapshot %s: no state for device '%s'",
				       rc->path, e->id);
		return err_set(err, true, ret, "snapshot %s: device '%s' refused its state: %s",
			       rc->path, e->id, refusal(ret));
	}
}

/* The first step, for every component: its record is there and passes its check. */
static int check_one(struct reg_entry *e, void *ctx, struct err *err)
{
	const struct snap_record_kind *k = snap_record_kind(e->kind);
	struct restore_ctx *rc = ctx;
	const struct snap_section *s;
	char who[96];
	int ret;

	/* The dirty log's state is the memory file, mapped when the VM was built. */
	if (!k->section)
		return 0;
	s = snap_find(&rc->f, k->section, e->id);
	if (!s && e->optional)
		return 0;
	if (!s)
		return refused(rc, e, false, -EINVAL, err);
	if (!e->comp.ops->restore) {
		snap_record_who(e, who, sizeof(who));
		return err_set(err, true, -EOPNOTSUPP, "%s (%s) cannot be restored", who, e->type);
	}
	ret = e->comp.ops->restore(e->comp.obj, s->data, (size_t)s->len, false, err);
	return ret ? refused(rc, e, true, ret, err) : 0;
}

/* The second, once every record passed: each is taken up; only the host can fail it now. */
static int apply_one(struct reg_entry *e, void *ctx, struct err *err)
{
	const struct snap_record_kind *k = snap_record_kind(e->kind);
	struct restore_ctx *rc = ctx;
	const struct snap_section *s;
	int ret;

	if (!k->section)
		return 0;
	s = snap_find(&rc->f, k->section, e->id);
	if (!s)
		return 0; /* optional, and checked absent: as built */
	err->msg[0] = '\0';
	ret = e->comp.ops->restore(e->comp.obj, s->data, (size_t)s->len, true, err);
	if (!ret)
		return 0;
	if (e->kind == COMP_DEVICE)
		return refused(rc, e, true, ret, err);
	if (!err->msg[0])
		err_set(err, false, ret, "%s", strerror(-ret));
	err->usage = false;
	return e->kind == COMP_VM ? err_prefix(err, ret, "restoring the VM's KVM state: ")
				  : err_prefix(err, ret, "restoring vcpu%s: ", e->id);
}

/*
 * clock_realtime: checked with the other records (the vm section passed
 * its own check already), then the clock set once more, by real time,
 * after everything else was applied.
 */
static int clock_realtime(const struct restore_ctx *rc, struct vm *vm, bool apply,
			  struct err *err)
{
	const struct snap_section *s = snap_find(&rc->f, SNAP_SEC_VM, "vm");
	int ret;

	if (!s)
		return usage(err, -EINVAL, rc->path, "its vm section is missing or corrupt");
	ret = vm_state_clock_realtime(vm->fd, s->data, (size_t)s->len, apply, err);
	return ret ? err_prefix(err, ret, "snapshot %s: ", rc->path) : 0;
}

/*
 * On the io thread, in the VM vm_create_from just built: the host check
 * (KVM is open now), then every component's record checked, then all of
 * them applied, in the registry's order: the irqchip, PIT and clock
 * before the vCPUs (their LAPICs route through it), the vCPUs before the
 * devices, whose restore raises the interrupt lines they had pending.
 */
static int restore_apply(void *ctx, struct vm *vm, struct err *err)
{
	struct restore_ctx *rc = ctx;
	struct snap_host *have = malloc(sizeof(*have));
	int ret;

	ret = have ? snap_host_collect(vm->kvm.fd, vm->fd, vm->cpuid, have) : -ENOMEM;
	if (!ret) {
		ret = snap_host_check(rc->need, have, err);
		if (ret && rc->tmpl)
			err_prefix(err, ret, "snapshot %s cannot run on this host under its CPU "
				   "template %s: ", rc->path, rc->tmpl);
		else if (ret)
			err_prefix(err, ret, "snapshot %s cannot run on this host: ", rc->path);
	}
	free(have);
	if (ret)
		return err->msg[0] ? ret : err_set(err, false, ret, "out of memory");
	ret = registry_each(&vm->registry, vm->loop, check_one, rc, err);
	if (!ret && rc->clock_realtime)
		ret = clock_realtime(rc, vm, false, err);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < rc->f.nsections; i++)
		if (rc->f.sections[i].kind == SNAP_SEC_DEVICE &&
		    !registry_find(&vm->registry, COMP_DEVICE, rc->f.sections[i].id))
			return err_set(err, true, -EINVAL, "snapshot %s: device '%s' is not "
				       "in its config", rc->path, rc->f.sections[i].id);
	ret = registry_each(&vm->registry, vm->loop, apply_one, rc, err);
	if (!ret && rc->clock_realtime)
		ret = clock_realtime(rc, vm, true, err);
	return ret;
}

int snap_load(struct runner *run, const struct snap_load_req *req, struct vm_config *cfg,
	      struct err *err)
{
	struct restore_ctx rc = { .path = req->snapshot_path,
				  .clock_realtime = req->clock_realtime };
	struct vm_mem_file mf = { .fd = -1 };
	struct snap_uffd uffd;
	struct runner_restore rs = { &mf, restore_apply, &rc, !req->resume_vm, false };
	void *buf = NULL;
	int ret;

	ret = req->from_fds ? snap_file_load_fd(req->state_fd, req->snapshot_path, &rc.f, &buf, err)
			    : snap_file_load(req->snapshot_path, &rc.f, &buf, err);
	if (ret) {
		err->usage = ret != -ENOMEM;
		return ret;
	}
	ret = parse_sections(&rc, req, cfg, err);
	if (!ret && cfg->cpu_config)
		rc.tmpl = "(custom)";
	else if (!ret && cfg->machine.cpu_template != CPU_TEMPLATE_NONE)
		rc.tmpl = cpu_template_name(cfg->machine.cpu_template);
	/* A migration's destination: anonymous RAM, handed to its stream (snapshot/request.h). */
	if (!ret && req->mem_attach) {
		ret = attach_checked(req, cfg, err);
		mf.attach = req->mem_attach;
		mf.attach_ctx = req->mem_attach_ctx;
		rs.pause_first = true;
	} else if (!ret && req->mem_uffd) {
		/* Uffd: the handler opens the memory file; RAM is handed to it once mapped. */
		uffd = (struct snap_uffd){ req->mem_path, cfg->machine.vcpu_count };
		mf.attach = snap_uffd_attach;
		mf.attach_ctx = &uffd;
	} else if (!ret && req->from_fds) {
		mf.fd = fcntl(req->mem_fd, F_DUPFD_CLOEXEC, 3);
		ret = mf.fd < 0 ? err_set(err, false, -errno, "memory %s: %s", req->mem_path,
					  strerror(errno))
				: mem_take(req->mem_path, cfg, &mf, err);
	} else if (!ret) {
		ret = snap_mem_open(req->mem_path, cfg, &mf, err);
	}
	if (!ret)
		ret = runner_restore_vm(run, cfg, &rs, err);
	/* The VM's RAM holds a duplicate of the fd, and with it the lock. */
	if (mf.fd >= 0)
		close(mf.fd);
	free(rc.need);
	snap_file_release(&rc.f);
	free(buf);
	return ret;
}

/*
 * The records of state_fd onto vm's components, every one checked first.
 * revert: RAM goes back to its base before they are applied (a reset),
 * pages the count; else RAM is as it is (a migration's, filled by the
 * stream). what begins the messages.
 */
static int reapply(struct vm *vm, int state_fd, const char *what, bool revert, bool all,
		   uint64_t *pages, struct err *err)
{
	struct restore_ctx rc = { .path = revert ? "(its base)" : "(the migration's)" };
	void *buf = NULL;
	int ret;

	ret = snap_file_load_fd(state_fd, rc.path, &rc.f, &buf, err);
	if (ret)
		return ret;
	for (unsigned int i = 0; !ret && i < rc.f.nsections; i++)
		if (rc.f.sections[i].kind == SNAP_SEC_DEVICE &&
		    !registry_find(&vm->registry, COMP_DEVICE, rc.f.sections[i].id))
			ret = err_set(err, true, -EINVAL, "snapshot %s: device '%s' is not in "
				      "its config", rc.path, rc.f.sections[i].id);
	/*
	 * A migration's records are checked against the running devices and
	 * the RAM the stream filled before anything changes. A reset's RAM
	 * goes back first: a vhost queue's position is checked against the
	 * rings in RAM, and those are the base's only after the revert (vhost
	 * moved the live ones since). The base's records fitted that same
	 * RAM when it became the base, so this check cannot fail unless it
	 * changed; then the VM cannot go on, and says so.
	 */
	if (!ret && !revert)
		ret = registry_each(&vm->registry, vm->loop, check_one, &rc, err);
	if (ret)
		goto out;
	/* RAM first: a device's restore may write the guest's rings (vsock's reset event). */
	ret = revert ? guest_mem_revert(&vm->mem, vm->fd, all, pages) : 0;
	if (ret) {
		err_set(err, ret == -EOPNOTSUPP, ret, "%s: %s", what, ret == -EOPNOTSUPP ?
			"this VM's RAM is not mapped privately from its base (a File restore or "
			"a fork, without huge pages or memory hotplug)" : strerror(-ret));
		goto out;
	}
	if (revert) {
		ret = registry_each(&vm->registry, vm->loop, check_one, &rc, err);
		if (ret) {
			err_prefix(err, ret, "%s: RAM went back to the base, and the base's records "
				   "do not fit it: the VM cannot go on: ", what);
			ret = -ENOTRECOVERABLE;
			goto out;
		}
	}
	ret = registry_each(&vm->registry, vm->loop, apply_one, &rc, err);
	if (ret)
		err_prefix(err, ret, "%s: ", what);
out:
	snap_file_release(&rc.f);
	free(buf);
	return ret;
}

int snap_reset(struct vm *vm, int state_fd, bool all, uint64_t *pages, struct err *err)
{
	return reapply(vm, state_fd, "reset", true, all, pages, err);
}

int snap_apply(struct vm *vm, int state_fd, struct err *err)
{
	return reapply(vm, state_fd, "the migration's state", false, false, NULL, err);
}
