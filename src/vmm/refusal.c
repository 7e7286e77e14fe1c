/* What a VM's devices rule out (refusal.h). */
#include "vmm/refusal.h"

#include <stdbool.h>
#include <stdio.h>

#define OP(o) (1u << (o))
#define ALL (OP(VM_OP_SNAPSHOT) | OP(VM_OP_MIGRATE) | OP(VM_OP_FORK))

/*
 * A row: the operations a kind of device rules out, and, when cfg has
 * one, the device and why (in buf, after the operation's words).
 */
struct refusal_row {
	unsigned int ops;
	bool unlogged;      /* it writes guest memory where the dirty log cannot see */
	int (*why)(const struct vm_config *cfg, char *buf, size_t len);
};

static int vfio_why(const struct vm_config *cfg, char *buf, size_t len)
{
	return cfg->nvfio ? snprintf(buf, len, "VFIO %.100s: a device passed through keeps its "
				     "state in the device", cfg->vfio[0].path) : 0;
}

static int flat_why(const struct vm_config *cfg, char *buf, size_t len)
{
	return cfg->flat.present ? snprintf(buf, len, "--flat: it runs without KVM's in-kernel "
					    "irqchip and PIT, which a restore expects") : 0;
}

static int vhost_user_blk_why(const struct vm_config *cfg, char *buf, size_t len)
{
	for (unsigned int i = 0; i < cfg->ndrives; i++)
		if (cfg->drives[i].socket)
			return snprintf(buf, len, "vhost-user-block '%.64s': its rings' state and "
					"requests in flight are its backend's, and its writes to "
					"guest memory out of the dirty log's sight",
					cfg->drives[i].id);
	return 0;
}

static int fs_why(const struct vm_config *cfg, char *buf, size_t len)
{
	return vm_config_fs_any(cfg) ? snprintf(buf, len, "virtio-fs '%.64s': its open files and "
						"the guest's FUSE state are virtiofsd's, which "
						"cannot save, move or share them",
						vm_config_fs_any(cfg)) : 0;
}

static int hotplug_why(const struct vm_config *cfg, char *buf, size_t len)
{
	return cfg->hotplug.present ? snprintf(buf, len, "memory hotplug: its region is not "
					       "sent yet") : 0;
}

static int vsock_why(const struct vm_config *cfg, char *buf, size_t len)
{
	return cfg->vsock.present && !cfg->vsock.uds_path ?
	       snprintf(buf, len, "vhost-vsock: it writes guest memory where the dirty log "
			"cannot see; use a hybrid vsock (uds_path)") : 0;
}

static int vhost_net_why(const struct vm_config *cfg, char *buf, size_t len)
{
	for (unsigned int i = 0; i < cfg->nnets; i++)
		if (!vm_config_net_no_vhost(cfg, &cfg->nets[i]))
			return snprintf(buf, len, "NIC '%.64s' may be on vhost-net, whose writes "
					"to guest memory the dirty log cannot see: boot with "
					"track_dirty_pages, or give it vhost=off", cfg->nets[i].id);
	return 0;
}

/* A new kind of device that cannot take an operation adds its row here. */
static const struct refusal_row rows[] = {
	{ ALL, false, vfio_why },
	{ ALL, false, flat_why },
	{ ALL, true, vhost_user_blk_why },
	{ ALL, true, fs_why },
	{ OP(VM_OP_MIGRATE), false, hotplug_why },
	{ OP(VM_OP_MIGRATE), true, vsock_why },
	{ OP(VM_OP_MIGRATE), true, vhost_net_why },
};

const char *vm_refusal(const struct vm_config *cfg, enum vm_op op, char *buf, size_t len)
{
	static const char *const words[] = {
		[VM_OP_SNAPSHOT] = "snapshot/create: this VM cannot be snapshotted: ",
		[VM_OP_MIGRATE] = "migrate: this VM cannot be migrated: ",
		[VM_OP_FORK] = "fork: this VM cannot be forked: ",
	};
	size_t n = (size_t)snprintf(buf, len, "%s", words[op]);

	/* A buffer too short for the words still gets the answer, cut. */
	if (n >= len)
		n = len - 1;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if ((rows[i].ops & OP(op)) && rows[i].why(cfg, buf + n, len - n) > 0)
			return buf;
	buf[0] = '\0';
	return NULL;
}

const char *vm_unlogged_writer(const struct vm_config *cfg, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (rows[i].unlogged && rows[i].why(cfg, buf, len) > 0)
			return buf;
	return NULL;
}
