#include "snapshot/config_rec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fcjson/config_json.h"

static json_t *hearth_nets(const struct vm_config *c)
{
	json_t *arr = json_array();

	for (unsigned int i = 0; arr && i < c->nnets; i++) {
		const struct net_config *d = &c->nets[i].dev;
		json_t *fwd = json_array(), *o;

		for (unsigned int j = 0; fwd && j < d->nfwd; j++)
			if (json_array_append_new(fwd, json_pack("[b, i, i]", d->fwd[j].udp,
								 d->fwd[j].host_port,
								 d->fwd[j].guest_port))) {
				json_decref(fwd);
				fwd = NULL;
			}
		o = json_pack("{s:s, s:s, s:o?, s:b, s:i}", "iface_id", c->nets[i].id, "backend",
			      d->backend == NET_USER ? "user" : "tap", "hostfwd", fwd,
			      "host_loopback", d->host_loopback, "max_sockets", d->max_sockets);
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static const char *cache_name(enum blk_cache c)
{
	return c == BLK_CACHE_NONE ? "none" : c == BLK_CACHE_UNSAFE ? "unsafe" : "writeback";
}

/*
 * The drive fields Firecracker's shape flattens: the cache mode and the
 * guest-visible serial. The mode is Hearth's own, not cache_type: records
 * from before "unsafe" existed say "writeback" for drives whose
 * cache_type said "Unsafe", and those disks did honour flushes.
 */
static json_t *hearth_drives(const struct vm_config *c)
{
	json_t *arr = json_array();

	for (unsigned int i = 0; arr && i < c->ndrives; i++) {
		const struct vm_drive *d = &c->drives[i];

		json_t *o = json_pack("{s:s, s:s, s:s}", "drive_id", d->id, "cache",
				      cache_name(d->cache_type), "serial", d->serial);

		/* Queues past one: a record saves without it never had more. */
		if (o && d->queues > 1)
			json_object_set_new(o, "queues", json_integer(d->queues));
		if (json_array_append_new(arr, o)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

int snap_config_save(const struct vm_config *c, char **out, size_t *len)
{
	json_t *vm = config_json_dump_full(c), *root;

	if (!vm)
		return -ENOMEM;
	/*
	 * GET /vm/config's sections that are not the VM's to record: the
	 * logger and metrics (the restoring process's own), and those Hearth
	 * does not have (always null or empty), so the record stays what
	 * saves have always written and restore's saved_vm_keys holds. The
	 * pmem devices are recorded when there are any (their files are the
	 * user's, mapped again at restore: virtio/pmem/state.c), and so is
	 * memory hotplug (its region's geometry: the plugged blocks are the
	 * device's record and the memory file's).
	 */
	json_object_del(vm, "logger");
	json_object_del(vm, "metrics");
	if (!c->hotplug.present)
		json_object_del(vm, "memory-hotplug");
	if (!c->npmem)
		json_object_del(vm, "pmem");
	/* The transport is the hearth part's "pci", as saves have always written it. */
	json_object_del(vm, "pci");
	/*
	 * The record keeps Firecracker's shape, TAP names only: a user-mode
	 * NIC's backend (GET /vm/config's) becomes a stand-in name the hearth
	 * part undoes, as saves have always written it.
	 */
	for (unsigned int i = 0; i < c->nnets; i++) {
		json_t *nic = json_array_get(json_object_get(vm, "network-interfaces"), i);

		if (c->nets[i].dev.backend == NET_USER && nic) {
			json_object_del(nic, "backend");
			json_object_set_new(nic, "host_dev_name", json_string("user"));
		}
	}
	root = json_pack("{s:o, s:{s:o?, s:o?, s:s?}}", "vm", vm, "hearth", "nets", hearth_nets(c),
			 "drives", hearth_drives(c), "kvm_path", c->kvm_path);
	/*
	 * Hearth's own port devices: the guest may use them after the restore
	 * as before. Their place only; debugcon's output is the restoring
	 * process's (stdout), never the state file's to choose.
	 */
	if (root && c->debug_exit.present)
		json_object_set_new(json_object_get(root, "hearth"), "debug_exit",
				    json_pack("{s:i, s:i}", "iobase", c->debug_exit.iobase, "iosize",
					      c->debug_exit.iosize));
	/* VMClock: a VM made before it had none, so its restore has none either. */
	if (root && c->vmclock && !c->flat.present)
		json_object_set_new(json_object_get(root, "hearth"), "vmclock", json_true());
	/* VMGenID likewise; its record keeps its place, never its generation. */
	if (root && c->vmgenid && !c->flat.present)
		json_object_set_new(json_object_get(root, "hearth"), "vmgenid", json_true());
	if (root && c->boot_timer)
		json_object_set_new(json_object_get(root, "hearth"), "boot_timer", json_true());
	/* The transport: a PCI VM restores as a PCI VM (its records are virtio-pci's). */
	if (root && c->pci)
		json_object_set_new(json_object_get(root, "hearth"), "pci", json_true());
	if (root && c->debugcon.present)
		json_object_set_new(json_object_get(root, "hearth"), "debugcon",
				    json_pack("{s:i}", "port", c->debugcon.port));
	/* Slots out of the layout order (drives plugged in or out): each device's, to keep. */
	if (root && c->npci_slots) {
		json_t *slots = json_array();

		for (unsigned int i = 0; slots && i < c->npci_slots; i++)
			json_array_append_new(slots, json_pack("{s:s, s:s, s:i}", "type",
							       c->pci_slots[i].type, "name",
							       c->pci_slots[i].name, "slot",
							       (int)c->pci_slots[i].slot));
		json_object_set_new(json_object_get(root, "hearth"), "pci_slots", slots);
	}
	*out = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (!*out)
		return -ENOMEM;
	*len = strlen(*out);
	return 0;
}

static int bad(struct err *err, const char *why)
{
	return err_set(err, true, -EINVAL, "its config section %s", why);
}

/* Puts back what Firecracker's shape lost: a NIC's backend and forwards. */
static int restore_nets(struct vm_config *c, json_t *nets, struct err *err)
{
	size_t i, j;
	json_t *n, *f;

	if (!json_is_array(nets) || json_array_size(nets) != c->nnets)
		return bad(err, "does not list every network interface");
	json_array_foreach(nets, i, n) {
		struct net_config *d = &c->nets[i].dev;
		const char *id = NULL, *backend = NULL;
		json_t *fwd = NULL;
		int loop = 0, maxs = 0;

		if (json_unpack(n, "{s:s, s:s, s:o, s:b, s:i}", "iface_id", &id, "backend",
				&backend, "hostfwd", &fwd, "host_loopback", &loop, "max_sockets",
				&maxs) || strcmp(id, c->nets[i].id) || !json_is_array(fwd) ||
		    json_array_size(fwd) > NET_MAX_HOSTFWD || maxs < 0)
			return bad(err, "has a malformed network interface");
		/*
		 * user_standins read the vm part's stand-ins as user-mode NICs:
		 * a record whose parts still disagree was edited, and would skip
		 * what the vm part's checks ask of one kind or the other.
		 */
		if (strcmp(backend, "user") && strcmp(backend, "tap"))
			return bad(err, "has a network interface of an unknown backend");
		if (!strcmp(backend, "user") != (d->backend == NET_USER))
			return bad(err, "has a network interface whose vm and hearth parts disagree "
				   "on its backend");
		if (d->backend == NET_USER && d->mtu > NET_SLIRP_MTU_MAX)
			return bad(err, "has a user-mode network interface whose mtu is above what "
				   "libslirp carries");
		if (d->backend == NET_USER)
			memset(d->ifname, 0, sizeof(d->ifname));
		d->host_loopback = loop;
		d->max_sockets = (unsigned int)maxs;
		d->nfwd = 0;
		json_array_foreach(fwd, j, f) {
			int udp = 0, hp = 0, gp = 0;

			if (json_unpack(f, "[b, i, i]", &udp, &hp, &gp) || hp <= 0 || hp > 65535 ||
			    gp <= 0 || gp > 65535)
				return bad(err, "has a malformed hostfwd rule");
			d->fwd[d->nfwd++] = (struct net_hostfwd){ udp, (uint16_t)hp, (uint16_t)gp };
		}
	}
	return 0;
}

/*
 * A save writes the stand-in host_dev_name "user" in the vm part for each
 * user-mode NIC (the hearth part says "user"). Read as TAP names, two of
 * them would be one TAP used twice: each becomes the user-mode backend it
 * stands for before the vm part is read. A NIC the hearth part calls
 * user-mode must have the stand-in, as every save wrote it.
 */
static int user_standins(json_t *vm, json_t *nets, struct err *err)
{
	json_t *vnics = json_object_get(vm, "network-interfaces"), *n;
	size_t i;

	if (!json_is_array(nets))
		return 0;    /* restore_nets refuses it */
	json_array_foreach(nets, i, n) {
		json_t *nic = json_array_get(vnics, i);
		const char *tap = json_string_value(json_object_get(nic, "host_dev_name"));

		if (!json_is_object(n) || !json_is_string(json_object_get(n, "backend")) ||
		    strcmp(json_string_value(json_object_get(n, "backend")), "user"))
			continue;
		if (!nic || !tap || strcmp(tap, "user") || json_object_get(nic, "backend"))
			return bad(err, "has a user-mode network interface its vm part calls a TAP");
		if (json_object_del(nic, "host_dev_name") ||
		    json_object_set_new(nic, "backend", json_string("user")))
			return -ENOMEM;
	}
	return 0;
}

static int restore_drives(struct vm_config *c, json_t *drives, struct err *err)
{
	size_t i;
	json_t *d;

	if (!json_is_array(drives) || json_array_size(drives) != c->ndrives)
		return bad(err, "does not list every drive");
	json_array_foreach(drives, i, d) {
		const char *id = NULL, *cache = NULL, *serial = NULL;
		struct vm_drive *v = &c->drives[i];
		json_int_t queues = 1;

		/*
		 * No save holds one (their snapshots are refused), and a socket
		 * is a host resource a state file must never choose.
		 */
		if (v->socket)
			return bad(err, "names a vhost-user drive's socket, which no save writes");

		if (json_unpack(d, "{s:s, s:s, s:s, s?I !}", "drive_id", &id, "cache", &cache,
				"serial", &serial, "queues", &queues) || strcmp(id, v->id) ||
		    strlen(serial) >= sizeof(v->serial) || queues < 1 || queues > 16 ||
		    (strcmp(cache, "none") && strcmp(cache, "writeback") && strcmp(cache, "unsafe")))
			return bad(err, "has a malformed drive");
		v->queues = (unsigned int)queues;
		v->cache_type = !strcmp(cache, "none") ? BLK_CACHE_NONE
			: !strcmp(cache, "unsafe") ? BLK_CACHE_UNSAFE : BLK_CACHE_WRITEBACK;
		snprintf(v->serial, sizeof(v->serial), "%s", serial);
	}
	return 0;
}

/*
 * Keys a save never writes are refused, not read: a state file may say
 * what the VM had, and a section only a hand could have added (a serial
 * output file, a logger or metrics path) is a host resource it would be
 * choosing.
 */
static int only_saved_keys(json_t *o, const char *const *saved, const char *part,
			   struct err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		bool known = false;

		for (int i = 0; saved[i] && !known; i++)
			known = !strcmp(key, saved[i]);
		if (!known)
			return err_set(err, true, -EINVAL, "its config section's %s part has "
				       "'%.64s', which no save writes", part, key);
	}
	return 0;
}

static const char *const saved_vm_keys[] = {
	"boot-source", "machine-config", "drives", "network-interfaces", "vsock", "entropy",
	"balloon", "cpu-config", "mmds-config", "pmem", "memory-hotplug", NULL,
};
static const char *const saved_hearth_keys[] = { "nets", "drives", "kvm_path", "debug_exit",
						  "debugcon", "boot_timer", "vmclock", "vmgenid",
						  "pci", "pci_slots", NULL };

/*
 * The devices' recorded PCI slots (saves whose layout was the boot's have
 * none): each a known family, an id, a slot 1-31 none other has. That
 * every device has one, and no more, is the build's check (vmm/devices.c).
 */
static int restore_pci_slots(struct vm_config *c, json_t *slots, struct err *err)
{
	static const char *const types[] = { "virtio-blk", "virtio-net", "virtio-rng",
					      "virtio-vsock", "virtio-balloon", "virtio-pmem",
					      "virtio-mem" };
	uint32_t taken = 0;
	size_t i;
	json_t *e;

	c->npci_slots = 0;
	if (!slots)
		return 0;
	if (!c->pci || !json_is_array(slots) || !json_array_size(slots) ||
	    json_array_size(slots) > VM_PCI_SLOTS_MAX)
		return bad(err, "has malformed pci_slots");
	json_array_foreach(slots, i, e) {
		const char *type = NULL, *name = NULL;
		struct vm_pci_slot *p = &c->pci_slots[i];
		bool known = false;
		json_int_t slot = 0;

		if (json_unpack(e, "{s:s, s:s, s:I !}", "type", &type, "name", &name, "slot", &slot) ||
		    slot < 1 || slot > VM_PCI_SLOTS_MAX || (taken & (1u << slot)) || !*name ||
		    strlen(name) >= sizeof(p->name))
			return bad(err, "has a malformed PCI slot");
		for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
			known = known || !strcmp(type, types[k]);
		if (!known)
			return bad(err, "has a PCI slot of an unknown device type");
		taken |= 1u << slot;
		snprintf(p->type, sizeof(p->type), "%s", type);
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->slot = (unsigned int)slot;
	}
	c->npci_slots = (unsigned int)json_array_size(slots);
	return 0;
}

/* The port devices a save recorded (older saves have none: both optional). */
static int restore_ports(struct vm_config *c, json_t *h, struct err *err)
{
	json_t *de = json_object_get(h, "debug_exit"), *dc = json_object_get(h, "debugcon");
	json_t *bt = json_object_get(h, "boot_timer"), *vc = json_object_get(h, "vmclock");
	json_t *pci = json_object_get(h, "pci"), *vg = json_object_get(h, "vmgenid");
	int base = 0, size = 0, port = 0;
	int ret;

	if (bt && !json_is_boolean(bt))
		return bad(err, "has a malformed boot_timer");
	c->boot_timer = json_is_true(bt);
	if (pci && !json_is_boolean(pci))
		return bad(err, "has a malformed pci");
	c->pci = json_is_true(pci);
	if (vc && !json_is_boolean(vc))
		return bad(err, "has a malformed vmclock");
	c->vmclock = json_is_true(vc);
	/* A VM saved by a Hearth without VMGenID had none: restored, it has none either. */
	if (vg && !json_is_boolean(vg))
		return bad(err, "has a malformed vmgenid");
	c->vmgenid = json_is_true(vg);

	if (de) {
		struct vm_debug_exit d = { 0 };

		if (json_unpack(de, "{s:i, s:i !}", "iobase", &base, "iosize", &size) || base < 0 ||
		    base > 0xffff || size < 0 || size > 4)
			return bad(err, "has a malformed debug_exit");
		d.iobase = (uint16_t)base;
		d.iosize = (uint8_t)size;
		ret = vm_config_set_debug_exit(c, &d, err);
		if (ret)
			return err_prefix(err, ret, "its config section's debug_exit: ");
	}
	if (dc) {
		struct vm_debugcon d = { 0 };

		if (json_unpack(dc, "{s:i !}", "port", &port) || port < 0 || port > 0xffff)
			return bad(err, "has a malformed debugcon");
		d.port = (uint16_t)port;
		ret = vm_config_set_debugcon(c, &d, err);
		if (ret)
			return err_prefix(err, ret, "its config section's debugcon: ");
	}
	return 0;
}

int snap_config_restore(struct vm_config *c, const void *in, size_t len, struct err *err)
{
	json_t *root = json_loadb(in, len, JSON_REJECT_DUPLICATES, NULL), *vm, *h;
	const char *kvm_path = NULL;
	struct mmds *store;
	int ret;

	if (!root)
		return bad(err, "is not JSON");
	vm = json_object_get(root, "vm");
	h = json_object_get(root, "hearth");
	if (!json_is_object(vm) || !json_is_object(h)) {
		ret = bad(err, "lacks its vm or hearth part");
		goto out;
	}
	ret = only_saved_keys(vm, saved_vm_keys, "vm", err);
	if (!ret)
		ret = only_saved_keys(h, saved_hearth_keys, "hearth", err);
	if (ret)
		goto out;
	/*
	 * A save writes its custom CPU template itself; a path there (the
	 * config file's way) is a host file the state file would be choosing.
	 */
	if (json_is_string(json_object_get(vm, "cpu-config"))) {
		ret = bad(err, "names a cpu-config file, which no save writes");
		goto out;
	}
	/*
	 * The MMDS store is the process's: a record only says its version, which
	 * the caller applies once the whole load succeeded, never a refused one.
	 */
	ret = user_standins(vm, json_object_get(h, "nets"), err);
	if (ret)
		goto out;
	/*
	 * The transport before the vm part: its checks ask a firmware boot for
	 * PCI (restore_ports reads the same key again, with the other ports).
	 */
	c->pci = json_is_true(json_object_get(h, "pci"));
	store = c->mmds_store;
	c->mmds_store = NULL;
	ret = config_json_full(c, vm, err);
	c->mmds_store = store;
	if (ret) {
		err_prefix(err, ret, "its config section is refused: ");
		goto out;
	}
	ret = restore_nets(c, json_object_get(h, "nets"), err);
	if (!ret)
		ret = restore_drives(c, json_object_get(h, "drives"), err);
	if (!ret)
		ret = restore_ports(c, h, err);
	if (!ret)
		ret = restore_pci_slots(c, json_object_get(h, "pci_slots"), err);
	if (ret)
		goto out;
	kvm_path = json_string_value(json_object_get(h, "kvm_path"));
	if (kvm_path) {
		free(c->kvm_path);
		c->kvm_path = strdup(kvm_path);
		if (!c->kvm_path)
			ret = -ENOMEM;
	}
out:
	json_decref(root);
	return ret;
}
