/*
 * Test-only: the VM behind the control surface, faked so no KVM is
 * needed. It fills the same table the process host fills (struct
 * ctl_vm_ops, control/control.h): each entry counts its calls, keeps
 * what it was given and answers what the test asked for (0 unless a
 * *_ret is set). Shared by the control and API unit tests and by
 * fuzz/fuzz_api.c, so it uses no cmocka.
 */
#ifndef HEARTH_TESTS_FAKE_VM_H
#define HEARTH_TESTS_FAKE_VM_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "control/control.h"

struct fake_vm {
	int forks, resets;          /* PUT /fork and PUT /reset */
	int migrates, incomings, switches, preludes;   /* live migration's */
	int starts, pauses, resumes, cads, drive_patches, net_patches, opens, flushes, creates,
	    loads, pmem_patches;
	/* What the next call answers: 0, or this -errno with the fake's message. */
	int start_ret, cad_ret, patch_ret, open_ret, flush_ret, load_ret, pause_ret;
	const char *start_msg;          /* start's message when start_ret is set */
	/* What the calls were given. */
	unsigned int vcpus_seen;        /* start's vcpu_count */
	char drive_id[VM_ID_MAX + 1];   /* the model's drive, as patch_drive saw it */
	char path[64];                  /* the last drive patch's path_on_host */
	bool had_path;
	struct rl_config rl, tx;        /* the last patch's limiters (a NIC's rx in rl) */
	char opened[256];               /* metrics_open's path */
	bool last_diff, last_resume, last_dirty, last_uffd, last_clock_realtime;
	bool last_huge_set;
	int last_huge;
	char last_snap[128], last_mem[128], last_tap[32];
	/* The load's other overrides: "id=path", "id=backend", the socket, the process's paths. */
	char last_drive[64], last_backend[64], last_vsock[64], last_kvm[64], last_serial[64];
	char last_pmem[128];
	/* The PUT-time checks: how many, and what they refuse (a name with "missing" in it). */
	int checks;
	/* The balloon's live actions: how many, the last one, and what the next answers. */
	int balloon_calls, balloon_ret;
	struct ctl_balloon_req last_balloon;
	/* Memory hotplug's live actions: how many, the last size asked, what the next answers. */
	int hotplug_calls, hotplug_ret;
	uint32_t last_requested;
};

/* Firecracker's checks at PUT time, faked: a name with "missing" in it is not there. */
static inline bool fake_missing(const char *name)
{
	return name && strstr(name, "missing");
}

static int fake_check_boot_source(void *ctx, const struct vm_boot_source *b, struct err *err)
{
	((struct fake_vm *)ctx)->checks++;
	if (fake_missing(b->kernel_image_path))
		return err_set(err, true, -EINVAL, "The kernel file cannot be opened: No such file "
			       "or directory (os error 2)");
	if (fake_missing(b->initrd_path))
		return err_set(err, true, -EINVAL, "The initrd file cannot be opened due to invalid "
			       "path or invalid permissions. No such file or directory (os error 2)");
	return 0;
}

static int fake_check_drive(void *ctx, const struct vm_drive *d, struct err *err)
{
	((struct fake_vm *)ctx)->checks++;
	if (fake_missing(d->path_on_host))
		return err_set(err, true, -EINVAL, "Unable to create the virtio block device: Virtio "
			       "backend error: Error manipulating the backing file: No such file or "
			       "directory (os error 2) %s", d->path_on_host);
	return 0;
}

static int fake_check_net(void *ctx, const struct vm_net *n, struct err *err)
{
	((struct fake_vm *)ctx)->checks++;
	if (fake_missing(n->dev.ifname))
		return err_set(err, true, -EINVAL, "Could not create the network device: Open tap "
			       "device failed: tap %s: cannot open: Operation not permitted",
			       n->dev.ifname);
	return 0;
}

/* A device to pass through, faked: device 1f is on no bus of the host, 1e is bound to e1000e. */
static int fake_check_vfio(void *ctx, const struct vm_vfio *v, struct err *err)
{
	const char *name = strrchr(v->path, '/');

	((struct fake_vm *)ctx)->checks++;
	name = name ? name + 1 : v->path;
	if (strstr(name, ":1f."))
		return err_set(err, true, -ENOENT, "no PCI device %s on this host (%s)", name,
			       v->path);
	if (strstr(name, ":1e."))
		return err_set(err, true, -EINVAL, "VFIO device %s: not bound to vfio-pci (its "
			       "driver: e1000e): bind it to vfio-pci first", name);
	return 0;
}

static int fake_start(void *ctx, const struct vm_config *cfg, struct err *err)
{
	struct fake_vm *f = ctx;

	f->starts++;
	f->vcpus_seen = cfg->machine.vcpu_count;
	if (f->start_ret)
		err_set(err, false, f->start_ret, "%s", f->start_msg ? f->start_msg : "no VM");
	return f->start_ret;
}

static int fake_pause(void *ctx)
{
	((struct fake_vm *)ctx)->pauses++;
	return ((struct fake_vm *)ctx)->pause_ret;
}

static void fake_resume(void *ctx)
{
	((struct fake_vm *)ctx)->resumes++;
}

static int fake_ctrl_alt_del(void *ctx)
{
	struct fake_vm *f = ctx;

	f->cads++;
	return f->cad_ret;
}

static int fake_patch_drive(void *ctx, const struct vm_drive *d, const struct vm_drive_patch *p,
			    struct err *err)
{
	struct fake_vm *f = ctx;

	f->drive_patches++;
	snprintf(f->drive_id, sizeof(f->drive_id), "%s", d ? d->id : "");
	f->had_path = p->path_on_host != NULL;
	snprintf(f->path, sizeof(f->path), "%s", p->path_on_host ? p->path_on_host : "");
	f->rl = p->rate_limiter;
	if (f->patch_ret)
		err_set(err, false, -EIO, "drive '%s': cannot open disk %s: No such file or "
			"directory", p->id, f->path);
	return f->patch_ret;
}

static int fake_patch_net(void *ctx, const struct vm_net_patch *p, struct err *err)
{
	struct fake_vm *f = ctx;

	f->net_patches++;
	f->rl = p->rx_rate_limiter;
	f->tx = p->tx_rate_limiter;
	return f->patch_ret;
}

static int fake_patch_pmem(void *ctx, const struct vm_pmem_patch *p, struct err *err)
{
	struct fake_vm *f = ctx;

	f->pmem_patches++;
	f->rl = p->rate_limiter;
	if (f->patch_ret)
		err_set(err, false, -EIO, "virtio-pmem: no such device");
	return f->patch_ret;
}

/* Nothing is opened: the path only has to reach the model. */
static int fake_metrics_open(void *ctx, const struct vm_metrics *m, struct err *err)
{
	struct fake_vm *f = ctx;

	f->opens++;
	snprintf(f->opened, sizeof(f->opened), "%s", m->metrics_path);
	if (f->open_ret)
		err_set(err, false, -EIO, "cannot open the metrics file %s: nope", m->metrics_path);
	return f->open_ret;
}

static int fake_metrics_flush(void *ctx, struct err *err)
{
	struct fake_vm *f = ctx;

	f->flushes++;
	if (f->flush_ret)
		err_set(err, false, -EIO, "the file is full");
	return f->flush_ret;
}

static int fake_snapshot_create(void *ctx, const struct vm_config *cfg,
				const struct snap_create_req *req, struct err *err)
{
	struct fake_vm *f = ctx;

	f->creates++;
	f->last_diff = req->diff;
	snprintf(f->last_snap, sizeof(f->last_snap), "%s", req->snapshot_path);
	snprintf(f->last_mem, sizeof(f->last_mem), "%s", req->mem_file_path);
	return 0;
}

/* PUT /fork: the clones' answer, and the state the VM was in when it ran (paused). */
static int fake_fork(void *ctx, const struct vm_config *cfg, const char *body, size_t len,
		     json_t **out, struct err *err)
{
	struct fake_vm *f = ctx;

	f->forks++;
	*out = json_pack("{s:[]}", "clones");
	return 0;
}

static int fake_reset(void *ctx, json_t **out, struct err *err)
{
	struct fake_vm *f = ctx;

	f->resets++;
	*out = json_pack("{s:i}", "pages", 0);
	return 0;
}

static int fake_migrate(void *ctx, const struct vm_config *cfg, const struct ctl_migrate_req *r,
			struct err *err)
{
	((struct fake_vm *)ctx)->migrates++;
	return 0;
}

static int fake_migrate_incoming(void *ctx, const struct ctl_migrate_req *r, struct err *err)
{
	((struct fake_vm *)ctx)->incomings++;
	return 0;
}

static int fake_migrate_get(void *ctx, json_t **out)
{
	*out = json_pack("{s:s}", "state", "none");
	return 0;
}

static int fake_migrate_switch(void *ctx, const struct vm_config *cfg, bool *sent_go,
			       struct err *err)
{
	((struct fake_vm *)ctx)->switches++;
	*sent_go = true;
	return 0;
}

static int fake_migrate_prelude(void *ctx, const struct vm_config *cfg, struct err *err)
{
	((struct fake_vm *)ctx)->preludes++;
	return 0;
}

/* A loaded snapshot's config has 3 vCPUs. */
static int fake_snapshot_load(void *ctx, const struct snap_load_req *req, struct vm_config *cfg,
			      struct err *err)
{
	struct fake_vm *f = ctx;

	f->loads++;
	f->last_resume = req->resume_vm;
	f->last_dirty = req->track_dirty_pages;
	f->last_uffd = req->mem_uffd;
	f->last_clock_realtime = req->clock_realtime;
	f->last_huge_set = req->huge_pages_set;
	f->last_huge = (int)req->huge_pages;
	snprintf(f->last_snap, sizeof(f->last_snap), "%s", req->snapshot_path);
	snprintf(f->last_mem, sizeof(f->last_mem), "%s", req->mem_path);
	f->last_tap[0] = '\0';
	if (req->n_overrides)
		snprintf(f->last_tap, sizeof(f->last_tap), "%s=%s", req->overrides[0].iface_id,
			 req->overrides[0].host_dev_name);
	f->last_drive[0] = f->last_backend[0] = '\0';
	if (req->n_drive_overrides)
		snprintf(f->last_drive, sizeof(f->last_drive), "%s=%s",
			 req->drive_overrides[0].drive_id, req->drive_overrides[0].path_on_host);
	f->last_pmem[0] = '\0';
	for (unsigned int i = 0; i < req->n_pmem_overrides; i++) {
		size_t at = strlen(f->last_pmem);

		snprintf(f->last_pmem + at, sizeof(f->last_pmem) - at, "%s%s=%s:%s", at ? " " : "",
			 req->pmem_overrides[i].id, req->pmem_overrides[i].read_only ? "ro" : "rw",
			 req->pmem_overrides[i].path_on_host);
	}
	for (unsigned int i = 0; i < req->n_overrides; i++)
		if (req->overrides[i].backend)
			snprintf(f->last_backend, sizeof(f->last_backend), "%s=%s",
				 req->overrides[i].iface_id, req->overrides[i].backend);
	snprintf(f->last_vsock, sizeof(f->last_vsock), "%s",
		 req->vsock_uds_path ? req->vsock_uds_path : "");
	snprintf(f->last_kvm, sizeof(f->last_kvm), "%s", req->kvm_path ? req->kvm_path : "");
	snprintf(f->last_serial, sizeof(f->last_serial), "%s",
		 req->serial_out_path ? req->serial_out_path : "");
	if (f->load_ret)
		return err_set(err, true, f->load_ret, "snapshot %s: corrupt", req->snapshot_path);
	cfg->machine.vcpu_count = 3;
	return 0;
}

/* The device's answers, faked: the reads answer a small object naming the action. */
static int fake_balloon(void *ctx, const struct ctl_balloon_req *req, json_t **out,
			struct err *err)
{
	struct fake_vm *f = ctx;

	f->balloon_calls++;
	f->last_balloon = *req;
	*out = NULL;
	if (f->balloon_ret)
		return err_set(err, true, f->balloon_ret, "Balloon: Device not activated yet.");
	if (req->type == CTL_GET_BALLOON_STATS)
		*out = json_pack("{s:i}", "target_mib", 0);
	else if (req->type == CTL_BALLOON_HINT_STATUS)
		*out = json_pack("{s:i, s:n}", "host_cmd", 0, "guest_cmd");
	return 0;
}

/* The device's answers, faked: the status names the last size asked for. */
static int fake_hotplug(void *ctx, bool patch, uint32_t requested_mib, json_t **out,
			struct err *err)
{
	struct fake_vm *f = ctx;

	f->hotplug_calls++;
	*out = NULL;
	if (f->hotplug_ret)
		return err_set(err, true, f->hotplug_ret, "Failed to create memory hotplug device: "
			       "Device is not active");
	if (patch)
		f->last_requested = requested_mib;
	else
		*out = json_pack("{s:i}", "requested_size_mib", (int)f->last_requested);
	return 0;
}

static const struct ctl_vm_ops fake_vm_ops = {
	.balloon = fake_balloon,
	.hotplug = fake_hotplug,
	.start = fake_start,
	.pause = fake_pause,
	.resume = fake_resume,
	.ctrl_alt_del = fake_ctrl_alt_del,
	.patch_drive = fake_patch_drive,
	.patch_net = fake_patch_net,
	.patch_pmem = fake_patch_pmem,
	.metrics_open = fake_metrics_open,
	.metrics_flush = fake_metrics_flush,
	.snapshot_create = fake_snapshot_create,
	.snapshot_load = fake_snapshot_load,
	.fork = fake_fork,
	.reset = fake_reset,
	.migrate = fake_migrate,
	.migrate_incoming = fake_migrate_incoming,
	.migrate_get = fake_migrate_get,
	.migrate_switch = fake_migrate_switch,
	.migrate_prelude = fake_migrate_prelude,
	.check_boot_source = fake_check_boot_source,
	.check_drive = fake_check_drive,
	.check_net = fake_check_net,
	.check_vfio = fake_check_vfio,
};

/* Every call the fake took, whatever it was. */
static inline int fake_vm_calls(const struct fake_vm *f)
{
	return f->starts + f->pauses + f->resumes + f->cads + f->drive_patches + f->net_patches +
	       f->opens + f->flushes + f->creates + f->loads + f->balloon_calls + f->pmem_patches +
	       f->hotplug_calls + f->forks + f->resets + f->migrates + f->incomings + f->switches +
	       f->preludes;
}

#endif
