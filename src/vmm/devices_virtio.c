/*
 * The virtio families (devices_priv.h): for each, how many the config
 * asks for, and how one device is made from its part of the config and
 * the host resources the VM opened for it. Transport-free: devices.c
 * attaches what is made here to virtio-mmio or virtio-pci.
 */
#include "vmm/devices_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mem/guest_mem_hotplug.h"
#include "virtio/balloon.h"
#include "virtio/mem.h"
#include "virtio/net.h"
#include "virtio/pmem.h"
#include "virtio/rng.h"
#include "virtio/vsock.h"
#include "virtio/vsock_uds.h"
#include "virtio/vublk.h"
#include "virtio/fs.h"
#include "vmm/vm_hotplug.h"

static unsigned int count_drives(const struct vm_config *cfg)
{
	return cfg->ndrives;
}


static int make_blk(struct virtio_build *b, struct virtio_dev **out, struct err *err)
{
	int ret;

	b->id = b->cfg->drives[b->i].id;
	vm_drive_what(b->cfg, b->i, b->what, sizeof(b->what));
	if (b->drives[b->i].socket) {
		struct vublk_config vc = { b->drives[b->i].socket, b->drives[b->i].cache };

		return virtio_vublk_create(b->env, &vc, out, err);
	}
	ret = virtio_blk_create(b->env, &b->drives[b->i], out, err);
	if (!ret)
		virtio_blk_set_limiter(*out, &b->cfg->drives[b->i].rate_limiter);
	return ret;
}

static unsigned int count_nets(const struct vm_config *cfg)
{
	return cfg->nnets;
}

static int make_net(struct virtio_build *b, struct virtio_dev **out, struct err *err)
{
	const struct vm_net *n = &b->cfg->nets[b->i];
	struct net_config nc = n->dev;
	int ret;

	b->id = n->id;
	if (b->cfg->cli)
		snprintf(b->what, sizeof(b->what), "--net %u", b->i + 1);
	else
		snprintf(b->what, sizeof(b->what), "network interface '%s'", n->id);
	/*
	 * One TX/RX pair per vCPU lets each queue's interrupts stay local,
	 * unless queues=N asks otherwise (fewer vhost workers per VM).
	 */
	nc.queue_pairs = nc.backend != NET_TAP ? 1 : nc.queues ? nc.queues :
		b->cfg->machine.vcpu_count;
	/* As `firecracker`: its one queue pair, on a TAP it opens single-queue only. */
	if (b->cfg->fc_rules && nc.backend == NET_TAP) {
		nc.fc_tap = true;
		nc.queue_pairs = 1;
		/*
		 * And its rings served here, as Firecracker serves them: every
		 * frame in its net metrics (vhost-net's are the kernel's, never
		 * seen). A backend's vhost=on still asks for vhost-net.
		 */
		if (nc.vhost == NET_VHOST_AUTO)
			nc.vhost = NET_VHOST_OFF;
	}
	/* Listed in /mmds/config: the NIC answers the metadata address from the store. */
	if (b->cfg->mmds_store && vm_config_mmds_net(b->cfg, n->id)) {
		nc.mmds = b->cfg->mmds_store;
		nc.mmds_ipv4 = b->cfg->mmds.ipv4_be;
	}
	/* vhost-net's frames and writes bypass Hearth: some NICs must stay here. */
	if (nc.backend == NET_TAP && nc.vhost != NET_VHOST_OFF) {
		const char *why = vm_config_net_no_vhost(b->cfg, n);

		if (why && nc.vhost == NET_VHOST_ON)
			return err_set(err, true, -EINVAL, "vhost=on cannot serve a NIC with %s: "
				       "its frames and writes to guest memory bypass Hearth; use "
				       "vhost=off", why);
		if (why)
			nc.vhost = NET_VHOST_OFF;
	}
	ret = virtio_net_create(b->env, &nc, out, err);
	if (!ret)
		virtio_net_set_limiters(*out, &n->rx_rate_limiter, &n->tx_rate_limiter);
	return ret;
}

unsigned int vm_count_rng(const struct vm_config *cfg)
{
	return cfg->entropy ? 1 : 0;
}

static int make_rng(struct virtio_build *b, struct virtio_dev **out, struct err *err)
{
	int ret;

	b->id = "entropy";
	snprintf(b->what, sizeof(b->what), "virtio-rng");
	ret = virtio_rng_create(b->env, out, err);
	if (!ret)
		virtio_rng_set_limiter(*out, &b->cfg->entropy_rate_limiter);
	return ret;
}

unsigned int vm_count_vsock(const struct vm_config *cfg)
{
	return cfg->vsock.present ? 1 : 0;
}

static int make_vsock(struct virtio_build *b, struct virtio_dev **out, struct err *err)
{
	const struct vm_config *cfg = b->cfg;

	b->id = "vsock";
	snprintf(b->what, sizeof(b->what), "%s", cfg->cli ? "--vsock" : "vsock");
	/* Hybrid vsock: Unix sockets on the host, no vhost_vsock. */
	if (cfg->vsock.uds_path)
		return virtio_vsock_uds_create(b->env, &(struct vsock_uds_config){
			.cid = cfg->vsock.guest_cid, .uds_path = cfg->vsock.uds_path }, out, err);
	return virtio_vsock_create(b->env, &(struct vsock_config){ .cid = cfg->vsock.guest_cid },
				   out, err);
}

unsigned int vm_count_balloon(const struct vm_config *cfg)
{
	return cfg->balloon.present ? 1 : 0;
}

static int make_balloon(struct virtio_build *b, struct virtio_dev **out, struct err *err)
{
	const struct vm_balloon *v = &b->cfg->balloon;
	struct balloon_config bc = {
		.amount_mib = v->amount_mib, .deflate_on_oom = v->deflate_on_oom,
		.stats_polling_interval_s = v->stats_polling_interval_s,
		.free_page_hinting = v->free_page_hinting,
		.free_page_reporting = v->free_page_reporting,
	};

	b->id = "balloon";
	snprintf(b->what, sizeof(b->what), "balloon");
	return virtio_balloon_create(b->env, &bc, out, err);
}

static unsigned int count_pmem(const struct vm_config *cfg)
{
	return cfg->npmem;
}

static int make_pmem(struct virtio_build *b, struct virtio_dev **out, struct err *err)
{
	const struct vm_pmem *p = &b->cfg->pmem[b->i];
	const struct vm_pmem_map *m = &b->pmem[b->i];
	struct pmem_config pc = { .fd = m->fd, .gpa = m->gpa, .size = m->size,
				  .file_len = m->file_len, .read_only = m->read_only,
				  .ring = m->ring };
	int ret;

	b->id = p->id;
	snprintf(b->what, sizeof(b->what), "pmem '%s'", p->id);
	ret = virtio_pmem_create(b->env, &pc, out, err);
	if (!ret)
		virtio_pmem_set_limiter(*out, &p->rate_limiter);
	return ret;
}

unsigned int vm_count_mem(const struct vm_config *cfg)
{
	return cfg->hotplug.present ? 1 : 0;
}

/* Over the region vm_ram_init mapped (vm_hotplug_map); its ops plug and unplug there. */
static int make_mem(struct virtio_build *b, struct virtio_dev **out, struct err *err)
{
	const struct guest_hotplug *hp = b->vm->mem.hp;

	/* Its metrics' group is then Firecracker's "memory_hotplug" (vmm/metrics.c). */
	b->id = "memory_hotplug";
	snprintf(b->what, sizeof(b->what), "memory-hotplug");
	if (!hp)
		return err_set(err, false, -EINVAL, "no hotplug region mapped");
	return virtio_mem_create(b->env, &(struct virtio_mem_config){
		.addr = hp->gpa, .region_size = hp->size, .block_size = hp->block_size,
		.slot_size = hp->slot_size, .ops = &vm_hotplug_ops, .ctx = &b->vm->mem }, out, err);
}

static unsigned int count_fs(const struct vm_config *cfg)
{
	return cfg->nfs;
}

static int make_fs(struct virtio_build *b, struct virtio_dev **out, struct err *err)
{
	const struct vm_fs *f = &b->cfg->fs[b->i];

	b->id = f->id;
	snprintf(b->what, sizeof(b->what), "%s '%s'", b->cfg->cli ? "--fs" : "fs", f->id);
	return virtio_fs_create(b->env, &(struct virtio_fs_config){ f->socket, f->tag }, out, err);
}

/*
 * In layout order: drives, network interfaces, entropy, vsock, balloon,
 * pmem (each family added after the ones before: snapshots from before
 * it find every other device where it was), then memory hotplug and
 * virtio-fs (whose VMs take no snapshots).
 */
const struct virtio_family vm_virtio_families[] = {
	{ .type = "virtio-blk", .count = count_drives, .create = make_blk },
	{ .type = "virtio-net", .count = count_nets, .create = make_net },
	{ .type = "virtio-rng", .count = vm_count_rng, .create = make_rng },
	{ .type = "virtio-vsock", .count = vm_count_vsock, .create = make_vsock },
	{ .type = "virtio-balloon", .count = vm_count_balloon, .create = make_balloon },
	{ .type = "virtio-pmem", .count = count_pmem, .create = make_pmem },
	{ .type = "virtio-mem", .count = vm_count_mem, .create = make_mem },
	{ .type = "virtio-fs", .count = count_fs, .create = make_fs },
};

const unsigned int vm_virtio_nfamilies = sizeof(vm_virtio_families) / sizeof(vm_virtio_families[0]);

/* The id the i-th device of family f gets (what its maker sets as b->id). */
const char *vm_virtio_family_id(const struct virtio_family *f, const struct vm_config *cfg,
			     unsigned int i)
{
	if (f->create == make_blk)
		return cfg->drives[i].id;
	if (f->create == make_net)
		return cfg->nets[i].id;
	if (f->create == make_pmem)
		return cfg->pmem[i].id;
	if (f->create == make_rng)
		return "entropy";
	if (f->create == make_vsock)
		return "vsock";
	if (f->create == make_balloon)
		return "balloon";
	if (f->create == make_fs)
		return cfg->fs[i].id;
	return "memory_hotplug";
}
