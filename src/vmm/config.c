#include "vmm/config.h"

#include "core/layout.h"
#include "util/trim.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void vm_config_init(struct vm_config *c)
{
	trim_zero(c, sizeof(*c));
	c->machine.vcpu_count = VM_DEFAULT_VCPUS;
	c->machine.mem_size_mib = VM_DEFAULT_MEM_MIB;
	c->entropy = true;
	c->vmclock = true;
	c->vmgenid = true;
	c->logger.level = VM_LOG_INFO;
}

void vm_config_release(struct vm_config *c)
{
	free(c->boot.kernel_image_path);
	free(c->boot.initrd_path);
	free(c->boot.boot_args);
	for (unsigned int i = 0; i < c->ndrives; i++) {
		free(c->drives[i].path_on_host);
		free(c->drives[i].socket);
		vm_drive_free_chain(&c->drives[i]);
	}
	vm_config_pmem_release(c);
	vm_config_fs_release(c);
	free(c->vsock.uds_path);
	free(c->logger.log_path);
	free(c->metrics.metrics_path);
	free(c->metrics.properties);
	free(c->serial_out_path);
	free(c->kvm_path);
	free(c->kernel_cache);
	free(c->flat.path);
	free(c->debugcon.out_path);
	free(c->cpu_config);
	vm_config_clear_firmware(c);
	trim_zero(c, sizeof(*c));
}

/* Replaces *slot with a copy of s (NULL stays NULL); -ENOMEM leaves it. */
static int set_str(char **slot, const char *s)
{
	char *copy = NULL;

	if (s) {
		copy = strdup(s);
		if (!copy)
			return -ENOMEM;
	}
	free(*slot);
	*slot = copy;
	return 0;
}

static int check_path(const char *what, const char *path, struct err *err)
{
	if (!path || !*path)
		return err_set(err, true, -EINVAL, "%s is empty", what);
	if (strlen(path) >= 4096)
		return err_set(err, true, -EINVAL, "%s is longer than 4095 bytes", what);
	return 0;
}

int vm_config_check_id(const char *what, const char *id, struct err *err)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > VM_ID_MAX)
		return err_set(err, true, -EINVAL, "%s '%.*s': want 1 to %d characters", what,
			       VM_ID_MAX + 8, id ? id : "", VM_ID_MAX);
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return err_set(err, true, -EINVAL, "%s '%s': only letters, digits, '_' and "
				       "'-' are allowed", what, id);
	}
	return 0;
}

int vm_config_set_boot_source(struct vm_config *c, const char *kernel, const char *initrd,
			      const char *boot_args, struct err *err)
{
	struct vm_boot_source b = { NULL, NULL, NULL };
	int ret;

	ret = check_path("kernel_image_path", kernel, err);
	if (!ret && initrd)
		ret = check_path("initrd_path", initrd, err);
	if (ret)
		return ret;
	/*
	 * The command-line area in guest RAM bounds it here; each kernel's
	 * own limit (a bzImage's cmdline_size) is the loader's to enforce.
	 */
	if (boot_args && strlen(boot_args) >= LAYOUT_CMDLINE_MAX)
		return err_set(err, true, -EINVAL, "boot_args is longer than %llu bytes",
			       (unsigned long long)LAYOUT_CMDLINE_MAX - 1);
	if (c->probe && c->probe->boot_source) {
		struct vm_boot_source want = { (char *)kernel, (char *)initrd, (char *)boot_args };

		ret = c->probe->boot_source(c->probe_ctx, &want, err);
		if (ret)
			return ret;
	}
	if (set_str(&b.kernel_image_path, kernel) || set_str(&b.initrd_path, initrd) ||
	    set_str(&b.boot_args, boot_args)) {
		free(b.kernel_image_path);
		free(b.initrd_path);
		return err_set(err, false, -ENOMEM, "out of memory");
	}
	free(c->boot.kernel_image_path);
	free(c->boot.initrd_path);
	free(c->boot.boot_args);
	c->boot = b;
	return 0;
}

int vm_config_set_machine(struct vm_config *c, const struct vm_machine *m, struct err *err)
{
	/* Firecracker's words, with Hearth's wider limit (its own is 32). */
	if (m->vcpu_count < 1 || m->vcpu_count > VM_MAX_VCPUS)
		return err_set(err, true, -EINVAL, "The number of vCPUs must be greater than 0, less "
			       "than %u and must be 1 or an even number if SMT is enabled.",
			       VM_MAX_VCPUS);
	if (m->mem_size_mib == 0 || (m->huge_pages != VM_HUGE_PAGES_NONE && m->mem_size_mib % 2))
		return err_set(err, true, -EINVAL, "The memory size (MiB) is either 0, or not a "
			       "multiple of the configured page size.");
	/* Hearth's own floor: the loaders' tables and the kernel need room. */
	if (m->mem_size_mib < VM_MIN_MEM_MIB)
		return err_set(err, true, -EINVAL, "The memory size (MiB) %llu is below Hearth's "
			       "minimum of %u.", (unsigned long long)m->mem_size_mib,
			       VM_MIN_MEM_MIB);
	/* Two threads per core: every core whole, or the one vCPU alone. */
	if (m->smt && m->vcpu_count > 1 && m->vcpu_count % 2)
		return err_set(err, true, -EINVAL, "The number of vCPUs must be greater than 0, less "
			       "than %u and must be 1 or an even number if SMT is enabled.",
			       VM_MAX_VCPUS);
	if (m->huge_pages != VM_HUGE_PAGES_NONE && m->huge_pages != VM_HUGE_PAGES_2M &&
	    m->huge_pages != VM_HUGE_PAGES_THP)
		return err_set(err, true, -EINVAL, "huge_pages %d is not a page size",
			       (int)m->huge_pages);
	if (m->cpu_template >= CPU_TEMPLATE_COUNT)
		return err_set(err, true, -EINVAL, "cpu_template %d is not a template",
			       (int)m->cpu_template);
	if (m->cpu_template != CPU_TEMPLATE_NONE && m->cpu_template != c->machine.cpu_template &&
	    c->probe && c->probe->cpu_template) {
		int ret = c->probe->cpu_template(c->probe_ctx, m->cpu_template, err);

		if (ret)
			return ret;
	}
	/* The balloon's target may not pass the memory (Firecracker's update_machine_config). */
	if (c->balloon.present && m->mem_size_mib < c->balloon.amount_mib)
		return err_set(err, true, -EINVAL, "The memory size (MiB) is smaller than the "
			       "previously set balloon device target size.");
	/* A static template replaces a custom one, as in Firecracker. */
	if (m->cpu_template != CPU_TEMPLATE_NONE)
		vm_config_set_cpu_config(c, NULL);
	c->machine = *m;
	return 0;
}

void vm_config_set_cpu_config(struct vm_config *c, struct cpu_template_custom *t)
{
	free(c->cpu_config);
	c->cpu_config = t;
	c->machine.cpu_template = CPU_TEMPLATE_NONE;
}

static int find_net(const struct vm_config *c, const char *id)
{
	for (unsigned int i = 0; i < c->nnets; i++)
		if (!strcmp(c->nets[i].id, id))
			return (int)i;
	return -1;
}

const struct vm_net *vm_config_find_net(const struct vm_config *c, const char *id)
{
	int i = find_net(c, id);

	return i < 0 ? NULL : &c->nets[i];
}

const char *vm_config_net_no_vhost(const struct vm_config *c, const struct vm_net *n)
{
	if (n->dev.backend != NET_TAP)
		return "a user-mode backend";
	if (n->dev.vhost == NET_VHOST_OFF)
		return "vhost=off";
	if (rl_config_enabled(&n->rx_rate_limiter) || rl_config_enabled(&n->tx_rate_limiter))
		return "a rate limiter";
	if (vm_config_mmds_net(c, n->id))
		return "the MMDS";
	if (c->machine.track_dirty_pages)
		return "track_dirty_pages";
	return NULL;
}

bool vm_config_drop_net(struct vm_config *c, const char *id)
{
	int at = find_net(c, id);

	if (at < 0)
		return false;
	memmove(&c->nets[at], &c->nets[at + 1],
		(c->nnets - (unsigned int)at - 1) * sizeof(c->nets[0]));
	c->nnets--;
	return true;
}

/* Everything a NIC's PUT checks past the MAC: a failure here drops what it replaces. */
static int net_check_rest(struct vm_config *c, const struct vm_net *n, int at, struct err *err)
{
	const struct net_config *d = &n->dev;
	char what[VM_ID_MAX + 32];
	int ret;

	if (d->backend == NET_TAP) {
		size_t len = strnlen(d->ifname, sizeof(d->ifname));

		if (len == 0 || len >= IFNAMSIZ)
			return err_set(err, true, -EINVAL, "network interface '%s': host_dev_name "
				       "must be 1 to %d bytes", n->id, IFNAMSIZ - 1);
	} else if (d->backend != NET_USER) {
		return err_set(err, true, -EINVAL, "network interface '%s': unknown backend",
			       n->id);
	}
	if (d->mtu && d->mtu < NET_MTU_MIN)
		return err_set(err, true, -EINVAL, "network interface '%s': mtu %u is out of range "
			       "(%u to 65535)", n->id, d->mtu, NET_MTU_MIN);
	for (unsigned int i = 0; i < c->nnets; i++) {
		const struct net_config *o = &c->nets[i].dev;

		if ((int)i != at && d->backend == NET_TAP && o->backend == NET_TAP &&
		    !strcmp(o->ifname, d->ifname))
			return err_set(err, true, -EINVAL, "Could not create the network device: "
				       "Open tap device failed: host_dev_name %s is already used by "
				       "'%s'", d->ifname, c->nets[i].id);
	}
	snprintf(what, sizeof(what), "network interface '%s'", n->id);
	ret = vm_config_check_limiter(what, "rx_rate_limiter", &n->rx_rate_limiter, err);
	if (!ret)
		ret = vm_config_check_limiter(what, "tx_rate_limiter", &n->tx_rate_limiter, err);
	if (!ret && d->backend == NET_TAP && c->probe && c->probe->net)
		ret = c->probe->net(c->probe_ctx, n, err);
	return ret;
}

int vm_config_put_net(struct vm_config *c, const struct vm_net *n, bool replace, struct err *err)
{
	const struct net_config *d = &n->dev;
	int at = find_net(c, n->id);
	int ret;

	ret = vm_config_check_id("iface_id", n->id, err);
	if (ret)
		return ret;
	if (at >= 0 && !replace)
		return err_set(err, true, -EINVAL, "network interface '%s' is given twice", n->id);
	if (at < 0 && c->nnets == VM_MAX_NETS)
		return err_set(err, true, -EINVAL, "network interface '%s': at most %u interfaces",
			       n->id, VM_MAX_NETS);
	/* Any MAC, multicast too, as Firecracker; hearth run's parser is stricter (net/spec.c). */
	for (unsigned int i = 0; i < c->nnets; i++) {
		const struct net_config *o = &c->nets[i].dev;

		if ((int)i != at && d->mac_set && o->mac_set && !memcmp(o->mac, d->mac, 6))
			return err_set(err, true, -EINVAL, "The MAC address is already in use: "
				       "%02x:%02x:%02x:%02x:%02x:%02x (by '%s')", d->mac[0], d->mac[1],
				       d->mac[2], d->mac[3], d->mac[4], d->mac[5], c->nets[i].id);
	}
	/*
	 * As Firecracker's NetBuilder: past the MAC check, the interface this
	 * replaces is gone, whether the new one can be made or not.
	 */
	ret = net_check_rest(c, n, at, err);
	if (ret) {
		if (vm_config_drop_net(c, n->id))
			err_append(err, ret, " (the interface it replaced was removed, as Firecracker "
				   "removes it)");
		return ret;
	}
	if (at >= 0)
		c->nets[at] = *n;
	else
		c->nets[c->nnets++] = *n;
	return 0;
}

int vm_config_set_vsock(struct vm_config *c, const struct vm_vsock *v, struct err *err)
{
	char *uds = NULL;

	/* 0-2 are the hypervisor, local and host; u32 max is VMADDR_CID_ANY. */
	if (v->guest_cid < 3 || v->guest_cid > 0xfffffffeull)
		return err_set(err, true, -EINVAL, "guest_cid %llu is out of range (3 to "
			       "4294967294)", (unsigned long long)v->guest_cid);
	if (v->uds_path) {
		/* sun_path holds 108 bytes; listeners add "_PORT" to it. */
		if (!*v->uds_path || strlen(v->uds_path) > 96)
			return err_set(err, true, -EINVAL, "uds_path must be 1 to 96 bytes");
		uds = strdup(v->uds_path);
		if (!uds)
			return err_set(err, false, -ENOMEM, "out of memory");
	}
	free(c->vsock.uds_path);
	c->vsock = *v;
	c->vsock.present = true;
	c->vsock.uds_path = uds;
	return 0;
}

int vm_config_set_entropy(struct vm_config *c, bool on)
{
	c->entropy = on;
	return 0;
}

int vm_config_set_balloon(struct vm_config *c, const struct vm_balloon *b, struct err *err)
{
	if (b->amount_mib > c->machine.mem_size_mib)
		return err_set(err, true, -EINVAL, "Amount of pages requested is too large.");
	c->balloon = *b;
	c->balloon.present = true;
	return 0;
}

int vm_config_set_hotplug(struct vm_config *c, const struct vm_hotplug *h, struct err *err)
{
	const uint32_t min_block = 2, min_slot = 128;  /* Firecracker's defaults are its bounds */

	if (h->block_size_mib < min_block)
		return err_set(err, true, -EINVAL, "Block size must not be lower than %u MiB",
			       min_block);
	if (h->block_size_mib & (h->block_size_mib - 1))
		return err_set(err, true, -EINVAL, "Block size must be a power of 2");
	if (h->slot_size_mib < min_slot)
		return err_set(err, true, -EINVAL, "Slot size must not be lower than %u MiB",
			       min_slot);
	if (h->slot_size_mib % h->block_size_mib)
		return err_set(err, true, -EINVAL, "Slot size must be a multiple of block size "
			       "(%u MiB)", h->block_size_mib);
	if (h->total_size_mib < h->slot_size_mib)
		return err_set(err, true, -EINVAL, "Total size must not be lower than slot size "
			       "(%u MiB)", h->slot_size_mib);
	if (h->total_size_mib % h->slot_size_mib)
		return err_set(err, true, -EINVAL, "Total size must be a multiple of slot size "
			       "(%u MiB)", h->slot_size_mib);
	c->hotplug = *h;
	c->hotplug.present = true;
	return 0;
}

static const char *const level_names[] = {
	[VM_LOG_OFF] = "Off",     [VM_LOG_ERROR] = "Error", [VM_LOG_WARNING] = "Warning",
	[VM_LOG_INFO] = "Info",   [VM_LOG_DEBUG] = "Debug", [VM_LOG_TRACE] = "Trace",
};

const char *vm_log_level_name(enum vm_log_level l)
{
	return (unsigned int)l <= VM_LOG_TRACE ? level_names[l] : "?";
}

int vm_log_level_parse(const char *s, enum vm_log_level *out)
{
	/* Firecracker takes "Warn" as well as "Warning", in any case. */
	if (s && !strcasecmp(s, "warn")) {
		*out = VM_LOG_WARNING;
		return 0;
	}
	for (unsigned int i = 0; i <= VM_LOG_TRACE; i++) {
		if (s && !strcasecmp(s, level_names[i])) {
			*out = (enum vm_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int vm_config_set_logger(struct vm_config *c, const struct vm_logger *l, struct err *err)
{
	char *path = NULL;

	if ((unsigned int)l->level > VM_LOG_TRACE)
		return err_set(err, true, -EINVAL, "level must be Off, Error, Warning, Info, Debug "
			       "or Trace");
	if (l->log_path) {
		if (check_path("log_path", l->log_path, err))
			return -EINVAL;
		path = strdup(l->log_path);
		if (!path)
			return err_set(err, false, -ENOMEM, "out of memory");
	}
	free(c->logger.log_path);
	c->logger = *l;
	c->logger.log_path = path;
	return 0;
}

int vm_config_set_metrics(struct vm_config *c, const struct vm_metrics *m, struct err *err)
{
	if (check_path("metrics_path", m->metrics_path, err))
		return -EINVAL;
	if (set_str(&c->metrics.metrics_path, m->metrics_path) ||
	    set_str(&c->metrics.properties, m->properties))
		return err_set(err, false, -ENOMEM, "out of memory");
	c->metrics.emit_id = m->emit_id;
	return 0;
}

int vm_config_set_serial(struct vm_config *c, const char *out_path, const struct rl_config *rl,
			 struct err *err)
{
	if (out_path && check_path("serial_out_path", out_path, err))
		return -EINVAL;
	if (rl && rl_config_check(rl, err))
		return err_prefix(err, -EINVAL, "rate_limiter: ");
	if (set_str(&c->serial_out_path, out_path))
		return err_set(err, false, -ENOMEM, "out of memory");
	memset(&c->serial_rl, 0, sizeof(c->serial_rl));
	if (rl)
		c->serial_rl = *rl;
	return 0;
}

int vm_config_set_kvm_path(struct vm_config *c, const char *path, struct err *err)
{
	if (check_path("the KVM device path", path, err))
		return -EINVAL;
	if (set_str(&c->kvm_path, path))
		return err_set(err, false, -ENOMEM, "out of memory");
	return 0;
}

int vm_config_set_kernel_cache(struct vm_config *c, const char *dir, struct err *err)
{
	if (check_path("the kernel cache directory", dir, err))
		return -EINVAL;
	if (set_str(&c->kernel_cache, dir))
		return err_set(err, false, -ENOMEM, "out of memory");
	return 0;
}

int vm_config_check_bootable(const struct vm_config *c, struct err *err)
{
	if (!c->boot.kernel_image_path && !c->flat.present && !c->firmware.path)
		return err_set(err, true, -EINVAL, "no boot source: kernel_image_path is not set");
	if (vm_config_check_firmware(c, err))
		return -EINVAL;
	/*
	 * As Firecracker, which takes any size at PUT and fails when it maps
	 * the memory: Hearth's limit is checked here, at InstanceStart.
	 */
	if (c->machine.mem_size_mib > VM_MAX_MEM_MIB)
		return err_set(err, true, -EINVAL, "Invalid Memory Configuration: mem_size_mib %llu "
			       "is more than Hearth's limit of %llu (1 TiB)",
			       (unsigned long long)c->machine.mem_size_mib,
			       (unsigned long long)VM_MAX_MEM_MIB);
	if (vm_config_check_vfio(c, err))
		return -EINVAL;
	return vm_config_check_flat(c, err);
}
