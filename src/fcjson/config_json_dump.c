/*
 * The machine model back to Firecracker's JSON: GET /machine-config,
 * GET /vm/config and the snapshot's config record (which leaves out what
 * is not the VM's to record). The reading side is config_json.c.
 */
#include "fcjson/config_json.h"

#include <stdint.h>
#include <stdio.h>

#include "fcjson/config_json_balloon.h"
#include "fcjson/config_json_fs.h"
#include "fcjson/config_json_pmem.h"
#include "fcjson/config_json_hotplug.h"
#include "fcjson/config_json_cpu.h"
#include "fcjson/config_json_limiter.h"
#include "fcjson/config_json_mmds.h"
#include "firmware/smbios.h"

/*
 * Firecracker's MachineConfig: cpu_template only with a template, its
 * name for a static one and "None" for a custom one (PUT /cpu-config's,
 * which GET /vm/config shows under "cpu-config").
 */
json_t *config_json_dump_machine(const struct vm_config *c)
{
	const char *tmpl = c->cpu_config ? "None" :
			   c->machine.cpu_template != CPU_TEMPLATE_NONE ?
			   cpu_template_name(c->machine.cpu_template) : NULL;

	return json_pack("{s:I, s:I, s:b, s:b, s:s, s:s*}", "vcpu_count",
			 (json_int_t)c->machine.vcpu_count, "mem_size_mib",
			 (json_int_t)c->machine.mem_size_mib, "smt", c->machine.smt,
			 "track_dirty_pages", c->machine.track_dirty_pages, "huge_pages",
			 config_json_huge_pages_name(c->machine.huge_pages),
			 "cpu_template", tmpl);
}

/* A firmware boot's fields (Hearth's): the image, the store and the SMBIOS strings given. */
static json_t *dump_firmware(const struct vm_config *c)
{
	const struct vm_smbios *sm = &c->smbios;
	json_t *o = json_pack("{s:s, s:s?}", "firmware_path", c->firmware.path,
			      "firmware_vars_path", c->firmware.vars_path);
	char uuid[SMBIOS_UUID_TEXT + 1];

	if (!o || (!sm->serial && !sm->product && !sm->has_uuid))
		return o;
	if (sm->has_uuid)
		smbios_uuid_format(sm->uuid, uuid);
	json_object_set_new(o, "smbios", json_pack("{s:s?, s:s?, s:s?}", "serial", sm->serial,
						   "uuid", sm->has_uuid ? uuid : NULL,
						   "product", sm->product));
	return o;
}

static json_t *dump_boot(const struct vm_config *c)
{
	if (c->firmware.path)
		return dump_firmware(c);
	if (!c->boot.kernel_image_path)
		return json_null();
	return json_pack("{s:s, s:s?, s:s?}", "kernel_image_path", c->boot.kernel_image_path,
			 "initrd_path", c->boot.initrd_path, "boot_args", c->boot.boot_args);
}

/*
 * Firecracker's Drive, every key there (null where it has no value:
 * partuuid; socket for an image; path_on_host, is_read_only and io_engine
 * for a vhost-user drive, as Firecracker reports them).
 */
/* Hearth's keys of a qcow2 drive (a raw one's are left out: Firecracker's shape as it was). */
static json_t *dump_qcow2(json_t *o, const struct vm_drive *d)
{
	json_t *files = json_array();

	for (unsigned int i = 0; files && i < d->nbacking; i++)
		if (json_array_append_new(files, json_string(d->backing_files[i]))) {
			json_decref(files);
			files = NULL;
		}
	/* Taken by the object even when it cannot be set: nothing leaks. */
	if (!files || json_object_set_new(o, "backing_files", files) ||
	    json_object_set_new(o, "format", json_string("qcow2")) ||
	    json_object_set_new(o, "backing_from_header", json_boolean(d->backing_from_header))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *dump_drive(const struct vm_drive *d)
{
	const char *cache = d->cache_type == BLK_CACHE_UNSAFE ? "Unsafe" : "Writeback";
	const char *partuuid = d->partuuid[0] ? d->partuuid : NULL;
	json_t *o;

	if (d->socket)
		return json_pack("{s:s, s:n, s:b, s:n, s:s, s:n, s:s?, s:s}", "drive_id", d->id,
				 "path_on_host", "is_root_device", d->is_root_device,
				 "is_read_only", "cache_type", cache, "io_engine", "partuuid",
				 partuuid, "socket", d->socket);
	o = json_pack("{s:s, s:s, s:b, s:b, s:s, s:s, s:s?, s:n}", "drive_id", d->id,
		      "path_on_host", d->path_on_host, "is_root_device", d->is_root_device,
		      "is_read_only", d->is_read_only, "cache_type", cache, "io_engine",
		      d->io_engine == VM_IO_ENGINE_ASYNC ? "Async" : "Sync", "partuuid",
		      partuuid, "socket");
	/* Hearth's key, only where it says more than Firecracker's one queue. */
	if (o && d->queues > 1 && json_object_set_new(o, "num_queues", json_integer(d->queues))) {
		json_decref(o);
		return NULL;
	}
	return o && d->format == BLK_FORMAT_QCOW2 ? dump_qcow2(o, d) : o;
}

static json_t *dump_drives(const struct vm_config *c)
{
	json_t *arr = json_array();

	for (unsigned int i = 0; arr && i < c->ndrives; i++) {
		const struct vm_drive *d = &c->drives[i];

		if (json_array_append_new(arr, dump_drive(d)) ||
		    config_json_dump_limiter(json_array_get(arr, i), "rate_limiter", &d->rate_limiter)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* A user-mode NIC's backend in --net's words, as PUT /network-interfaces takes it. */
static void user_spec(const struct net_config *d, char *out, size_t len)
{
	size_t n = (size_t)snprintf(out, len, "user%s", d->host_loopback ? ",host-loopback=on" : "");

	for (unsigned int i = 0; i < d->nfwd && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, ",hostfwd=%s:%u-:%u",
				      d->fwd[i].udp ? "udp" : "tcp", d->fwd[i].host_port,
				      d->fwd[i].guest_port);
}

static json_t *dump_nets(const struct vm_config *c)
{
	json_t *arr = json_array();

	for (unsigned int i = 0; arr && i < c->nnets; i++) {
		const struct vm_net *n = &c->nets[i];
		const uint8_t *m = n->dev.mac;
		char mac[18], spec[512];
		json_t *o;

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
			 m[4], m[5]);
		/* A TAP with a vhost or queues choice is in backend's words, as PUT took it. */
		bool tap_spec = n->dev.backend == NET_TAP &&
				(n->dev.vhost != NET_VHOST_AUTO || n->dev.queues);

		if (tap_spec) {
			char q[16] = "";

			if (n->dev.queues)
				snprintf(q, sizeof(q), ",queues=%u", n->dev.queues);
			snprintf(spec, sizeof(spec), "tap=%s%s%s", n->dev.ifname,
				 n->dev.vhost == NET_VHOST_AUTO ? "" :
				 n->dev.vhost == NET_VHOST_ON ? ",vhost=on" : ",vhost=off", q);
		} else
			user_spec(&n->dev, spec, sizeof(spec));
		o = json_pack("{s:s, s:s*, s:s*, s:s?, s:o?}", "iface_id", n->id, "host_dev_name",
			      n->dev.backend == NET_TAP && !tap_spec ? n->dev.ifname : NULL, "backend",
			      n->dev.backend == NET_USER || tap_spec ? spec : NULL, "guest_mac",
			      n->dev.mac_set ? mac : NULL, "mtu",
			      n->dev.mtu ? json_integer(n->dev.mtu) : json_null());
		if (config_json_dump_limiter(o, "rx_rate_limiter", &n->rx_rate_limiter) ||
		    config_json_dump_limiter(o, "tx_rate_limiter", &n->tx_rate_limiter) ||
		    json_array_append_new(arr, o)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *dump_vsock(const struct vm_config *c)
{
	if (!c->vsock.present)
		return json_null();
	return json_pack("{s:I, s:s?}", "guest_cid", (json_int_t)c->vsock.guest_cid, "uds_path",
			 c->vsock.uds_path);
}

static json_t *dump_entropy(const struct vm_config *c)
{
	json_t *o = c->entropy ? json_object() : json_null();

	if (c->entropy && config_json_dump_limiter(o, "rate_limiter", &c->entropy_rate_limiter)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Hearth's "pci" section (config_json.c): the passed-through devices only when there are some. */
static json_t *dump_pci(const struct vm_config *c)
{
	json_t *o = json_pack("{s:b}", "enabled", 1), *list;

	if (!o || !c->nvfio)
		return o;
	list = json_array();
	for (unsigned int i = 0; list && i < c->nvfio; i++)
		if (json_array_append_new(list, json_pack("{s:s, s:s}", "id", c->vfio[i].id, "path",
							  c->vfio[i].path))) {
			json_decref(list);
			list = NULL;
		}
	if (!list || json_object_set_new(o, "vfio", list)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * Firecracker's FullVmConfiguration, key for key, null where it has
 * nothing (the section Hearth does not have yet; the logger and metrics,
 * which Firecracker never reports). A PCI VM's adds Hearth's "pci"
 * section (config_json.c), and a VM with virtio-fs Hearth's "fs", which
 * Firecracker's never has.
 */
json_t *config_json_dump_full(const struct vm_config *c)
{
	json_t *o = json_pack("{s:o?, s:o?, s:o?, s:o?, s:o?, s:o?, s:o?, s:o?, s:n, s:n, s:o?, s:o?, s:o?}",
			 "boot-source", dump_boot(c), "machine-config",
			 config_json_dump_machine(c), "drives", dump_drives(c),
			 "network-interfaces", dump_nets(c), "vsock", dump_vsock(c), "entropy",
			 dump_entropy(c), "balloon", config_json_dump_balloon(&c->balloon), "cpu-config",
			 c->cpu_config ? config_json_cpu_dump(&c->cpu_config->t) : NULL, "logger",
			 "metrics", "mmds-config", config_json_dump_mmds(c), "memory-hotplug",
			 config_json_dump_hotplug(&c->hotplug), "pmem", config_json_dump_pmem(c));

	if (o && c->pci && json_object_set_new(o, "pci", dump_pci(c))) {
		json_decref(o);
		return NULL;
	}
	if (o && c->nfs && json_object_set_new(o, "fs", config_json_dump_fs(c))) {
		json_decref(o);
		return NULL;
	}
	return o;
}
