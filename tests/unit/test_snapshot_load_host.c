/*
 * What a state file may decide (issue 18, item 2). Its config record,
 * as a save writes it, says what the VM had; a key no save writes is
 * refused; and snap_load_host replaces every host resource the record
 * names (drive images, pmem files and their access, TAP names, user-mode
 * forwards and host loopback, the vsock socket, the KVM path, COM1's
 * output) with the request's,
 * refusing a device the request leaves out. The integration test
 * run_snapshot_host_test.py drives the same through `hearth restore`.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "mmds/mmds.h"
#include "snapshot/config_rec.h"
#include "snapshot/snapshot.h"

/* The record a save writes for a VM with every kind of host resource. */
static char *saved_record(size_t *len)
{
	struct err err = ERR_INIT;
	struct vm_config c;
	struct vm_drive d = { .id = "rootfs", .path_on_host = "/victim/disk.img",
			      .is_read_only = true, .cache_type = BLK_CACHE_WRITEBACK };
	struct vm_net tap = { .id = "eth0" }, user = { .id = "eth1" };
	char *json = NULL;

	vm_config_init(&c);
	assert_int_equal(vm_config_set_machine(&c, &(struct vm_machine){ .vcpu_count = 1,
							.mem_size_mib = 16 }, &err), 0);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), 0);
	assert_int_equal(virtio_net_parse("tap=victim0", &tap.dev, &err), 0);
	assert_int_equal(vm_config_put_net(&c, &tap, false, &err), 0);
	assert_int_equal(virtio_net_parse("user,host-loopback=on,hostfwd=tcp:22-:22",
					  &user.dev, &err), 0);
	assert_int_equal(vm_config_put_net(&c, &user, false, &err), 0);
	assert_int_equal(vm_config_set_vsock(&c, &(struct vm_vsock){ .present = true,
			 .guest_cid = 3, .uds_path = "/victim/v.sock" }, &err), 0);
	assert_int_equal(vm_config_set_kvm_path(&c, "/victim/kvm", &err), 0);
	assert_int_equal(vm_config_put_pmem(&c, &(struct vm_pmem){ .id = "pm0",
			 .path_on_host = "/victim/pm0", .read_only = true }, false, &err), 0);
	assert_int_equal(vm_config_put_pmem(&c, &(struct vm_pmem){ .id = "pm1",
			 .path_on_host = "/victim/pm1" }, false, &err), 0);
	assert_int_equal(vm_config_set_mmds(&c, &(struct vm_mmds){ .on = true,
			 .version = MMDS_V2, .ipv4_be = htonl(0xa9fea9fa), .imds_compat = true,
			 .nets = { "eth1" }, .nnets = 1 }, &err), 0);
	assert_int_equal(snap_config_save(&c, &json, len), 0);
	vm_config_release(&c);
	return json;
}

/* Every override a restore of saved_record() needs. */
static void full_request(struct snap_load_req *req)
{
	memset(req, 0, sizeof(*req));
	req->n_drive_overrides = 1;
	req->drive_overrides[0] = (struct snap_drive_override){ .drive_id = "rootfs",
							      .path_on_host = "/mine/disk.img",
							      .is_read_only = true };
	req->n_overrides = 2;
	req->overrides[0] = (struct snap_net_override){ .iface_id = "eth0",
							.host_dev_name = "tap7" };
	req->overrides[1] = (struct snap_net_override){ .iface_id = "eth1",
							.backend = "user,hostfwd=udp:5000-:53" };
	req->vsock_uds_path = "/mine/v.sock";
	req->n_pmem_overrides = 2;
	req->pmem_overrides[0] = (struct snap_pmem_override){ "pm0", "/mine/pm0", true };
	req->pmem_overrides[1] = (struct snap_pmem_override){ "pm1", "/mine/pm1", false };
}

static int load(const char *json, size_t len, const struct snap_load_req *req,
		struct vm_config *c, struct err *err)
{
	int ret;

	vm_config_init(c);
	ret = snap_config_restore(c, json, len, err);
	return ret ? ret : snap_load_host(c, req, err);
}

static void test_every_host_resource_from_the_request(void **state)
{
	struct snap_load_req req;
	struct err err = ERR_INIT;
	struct vm_config c;
	size_t len;
	char *json = saved_record(&len);

	(void)state;
	full_request(&req);
	req.kvm_path = "/dev/mykvm";
	req.serial_out_path = "/mine/serial.log";
	if (load(json, len, &req, &c, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(c.drives[0].path_on_host, "/mine/disk.img");
	assert_true(c.drives[0].is_read_only);          /* the request's, equal to the record's */
	assert_int_equal(c.nets[0].dev.backend, NET_TAP);
	assert_string_equal(c.nets[0].dev.ifname, "tap7");
	assert_int_equal(c.nets[1].dev.backend, NET_USER);
	assert_false(c.nets[1].dev.host_loopback);      /* the record's "on" is not taken */
	assert_int_equal(c.nets[1].dev.nfwd, 1);
	assert_true(c.nets[1].dev.fwd[0].udp);
	assert_int_equal(c.nets[1].dev.fwd[0].host_port, 5000);
	assert_string_equal(c.vsock.uds_path, "/mine/v.sock");
	/* Issue 47, F2: the files and their access are the request's. */
	assert_int_equal(c.npmem, 2);
	assert_string_equal(c.pmem[0].path_on_host, "/mine/pm0");
	assert_true(c.pmem[0].read_only);
	assert_string_equal(c.pmem[1].path_on_host, "/mine/pm1");
	assert_false(c.pmem[1].read_only);
	/* The MMDS config travels with the snapshot, as Firecracker's (its data does not). */
	assert_true(c.mmds.on);
	assert_int_equal(c.mmds.version, MMDS_V2);
	assert_int_equal(c.mmds.ipv4_be, htonl(0xa9fea9fa));
	assert_true(c.mmds.imds_compat);
	assert_int_equal(c.mmds.nnets, 1);
	assert_string_equal(c.mmds.nets[0], "eth1");
	assert_string_equal(c.kvm_path, "/dev/mykvm");
	assert_string_equal(c.serial_out_path, "/mine/serial.log");
	vm_config_release(&c);
	/* No KVM path given: the default, not the record's. */
	req.kvm_path = NULL;
	req.serial_out_path = NULL;
	assert_int_equal(load(json, len, &req, &c, &err), 0);
	assert_null(c.kvm_path);
	assert_null(c.serial_out_path);
	vm_config_release(&c);
	free(json);
}

static void expect_refused(const char *json, size_t len, const struct snap_load_req *req,
			   const char *needle)
{
	struct err err = ERR_INIT;
	struct vm_config c;
	int ret = load(json, len, req, &c, &err);

	vm_config_release(&c);
	assert_int_equal(ret, -EINVAL);
	assert_true(err.usage);
	if (!strstr(err.msg, needle))
		fail_msg("'%s' does not mention '%s'", err.msg, needle);
}

static void test_left_out_or_misfit_refused(void **state)
{
	struct snap_load_req req;
	size_t len;
	char *json = saved_record(&len);

	(void)state;
	full_request(&req);
	req.n_drive_overrides = 0;
	expect_refused(json, len, &req, "drive 'rootfs' needs its image in drive_overrides");
	full_request(&req);
	req.n_overrides = 1;
	expect_refused(json, len, &req, "network interface 'eth1' needs its host side");
	full_request(&req);
	req.vsock_uds_path = NULL;
	expect_refused(json, len, &req, "vsock device needs its socket in vsock_override");
	full_request(&req);
	req.overrides[0] = (struct snap_net_override){ .iface_id = "eth0", .backend = "user" };
	expect_refused(json, len, &req, "'eth0' is a TAP interface");
	full_request(&req);
	req.overrides[1] = (struct snap_net_override){ .iface_id = "eth1", .backend = "tap=x" };
	expect_refused(json, len, &req, "is not user-mode");
	full_request(&req);
	req.overrides[1] = (struct snap_net_override){ .iface_id = "eth1",
						       .backend = "user,hostfwd=bogus" };
	expect_refused(json, len, &req, "network_overrides: 'eth1': ");
	full_request(&req);
	req.drive_overrides[req.n_drive_overrides++] =
		(struct snap_drive_override){ .drive_id = "nope", .path_on_host = "/x" };
	expect_refused(json, len, &req, "no drive 'nope'");
	full_request(&req);
	req.overrides[req.n_overrides++] = (struct snap_net_override){ .iface_id = "eth9",
								       .host_dev_name = "t" };
	expect_refused(json, len, &req, "no network interface 'eth9'");
	/* Issue 47: nor is whether a drive's image is opened for writing. */
	full_request(&req);
	req.drive_overrides[0].is_read_only = false;
	expect_refused(json, len, &req, "drive 'rootfs' was read-only in the snapshot, and the "
		       "request makes it writable");
	full_request(&req);
	req.vsock_cid = 3;
	expect_refused(json, len, &req, "the snapshot's vsock is hybrid");
	/* Issue 47, F2: a pmem file is never the state file's, nor its access. */
	full_request(&req);
	req.n_pmem_overrides = 1;
	expect_refused(json, len, &req, "pmem 'pm1' needs its file in pmem_overrides");
	full_request(&req);
	req.n_pmem_overrides = 0;
	expect_refused(json, len, &req, "pmem 'pm0' needs its file in pmem_overrides");
	full_request(&req);
	req.pmem_overrides[0].read_only = false;
	expect_refused(json, len, &req, "pmem 'pm0' was read-only in the snapshot, and the "
		       "request makes it writable");
	full_request(&req);
	req.pmem_overrides[1].read_only = true;
	expect_refused(json, len, &req, "pmem 'pm1' was writable in the snapshot, and the "
		       "request makes it read-only");
	full_request(&req);
	req.pmem_overrides[req.n_pmem_overrides++] =
		(struct snap_pmem_override){ "pm9", "/x", true };
	expect_refused(json, len, &req, "no pmem device 'pm9'");
	full_request(&req);
	req.pmem_overrides[1] = (struct snap_pmem_override){ "pm0", "/x", true };
	expect_refused(json, len, &req, "pmem_overrides names 'pm0' twice");
	full_request(&req);
	req.pmem_overrides[1].path_on_host = "";
	expect_refused(json, len, &req, "pmem 'pm1' has an empty path_on_host");
	free(json);
}

/* The saved record with key set to value in its part ("vm" or "hearth"). */
static char *with_key(const char *json, size_t len, const char *part, const char *key,
		      json_t *value, size_t *out_len)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	char *s;

	assert_non_null(root);
	assert_int_equal(json_object_set_new(json_object_get(root, part), key, value), 0);
	s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	assert_non_null(s);
	*out_len = strlen(s);
	return s;
}

static void test_keys_no_save_writes(void **state)
{
	static const struct {
		const char *part, *key, *value;
	} bad[] = {
		{ "vm", "serial", "{\"serial_out_path\": \"/victim/out\"}" },
		{ "vm", "serial", "null" },
		{ "vm", "logger", "{\"log_path\": \"/victim/log\"}" },
		{ "vm", "metrics", "{\"metrics_path\": \"/victim/m\"}" },
		{ "vm", "x-anything", "1" },
		{ "hearth", "serial_out_path", "\"/victim/out\"" },
		{ "hearth", "uds_path", "\"/victim/s\"" },
	};
	struct snap_load_req req;
	size_t len;
	char *json = saved_record(&len);

	(void)state;
	full_request(&req);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char needle[96];
		size_t elen;
		char *edited = with_key(json, len, bad[i].part, bad[i].key,
					json_loads(bad[i].value, JSON_DECODE_ANY, NULL), &elen);

		snprintf(needle, sizeof(needle), "%s part has '%s', which no save writes",
			 bad[i].part, bad[i].key);
		expect_refused(edited, elen, &req, needle);
		free(edited);
	}
	free(json);
}

/*
 * A disk's queues past one are in the record's hearth part and come back;
 * a record without the key (one queue, as every save before) restores
 * one; a count out of range is refused.
 */
static void test_drive_queues_kept(void **state)
{
	struct vm_config c;
	struct err err = ERR_INIT;
	struct vm_drive d = { .id = "data", .path_on_host = "/d.img", .queues = 4 };
	char *json = NULL;
	size_t len;
	json_t *root;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_machine(&c, &(struct vm_machine){ .vcpu_count = 1,
							.mem_size_mib = 16 }, &err), 0);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), 0);
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	vm_config_release(&c);
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, json, len, &err), 0);
	assert_int_equal(c.drives[0].queues, 4);
	vm_config_release(&c);
	root = json_loadb(json, len, 0, NULL);
	free(json);
	json_object_set_new(json_array_get(json_object_get(json_object_get(root, "hearth"),
							   "drives"), 0), "queues", json_integer(17));
	json = json_dumps(root, JSON_COMPACT);
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, json, strlen(json), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "malformed drive"));
	vm_config_release(&c);
	free(json);
	json_decref(root);
	/* A vhost-user drive in the record: a socket the state file would be choosing. */
	{
		json_t *vd;

		json = saved_record(&len);
		root = json_loadb(json, len, 0, NULL);
		free(json);
		vd = json_array_get(json_object_get(json_object_get(root, "vm"), "drives"), 0);
		json_object_set_new(vd, "socket", json_string("/victim/backend.sock"));
		json_object_set_new(vd, "path_on_host", json_null());
		json_object_set_new(vd, "is_read_only", json_null());
		json_object_set_new(vd, "io_engine", json_null());
		json = json_dumps(root, JSON_COMPACT);
		vm_config_init(&c);
		assert_int_equal(snap_config_restore(&c, json, strlen(json), &err), -EINVAL);
		assert_non_null(strstr(err.msg, "vhost-user"));
		vm_config_release(&c);
		free(json);
		json_decref(root);
	}
	/* saved_record's drive has one queue: no key, and one queue back. */
	json = saved_record(&len);
	assert_null(strstr(json, "\"queues\""));
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, json, len, &err), 0);
	assert_true(c.drives[0].queues <= 1);
	vm_config_release(&c);
	free(json);
}

/*
 * A TAP NIC's queue pairs (queues=Q) and vhost choice are in the record
 * (its backend, in GET /vm/config's words) and come back: the device's
 * record holds that many pairs. One without either is a plain TAP name.
 */
static void test_net_queues_kept(void **state)
{
	struct vm_config c;
	struct err err = ERR_INIT;
	struct vm_net q1 = { .id = "eth0" }, plain = { .id = "eth1" };
	char *json = NULL;
	size_t len;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_machine(&c, &(struct vm_machine){ .vcpu_count = 2,
							.mem_size_mib = 16 }, &err), 0);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	assert_int_equal(virtio_net_parse("tap=t0,vhost=off,queues=1", &q1.dev, &err), 0);
	assert_int_equal(vm_config_put_net(&c, &q1, false, &err), 0);
	assert_int_equal(virtio_net_parse("tap=t1", &plain.dev, &err), 0);
	assert_int_equal(vm_config_put_net(&c, &plain, false, &err), 0);
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	vm_config_release(&c);
	assert_non_null(strstr(json, "tap=t0,vhost=off,queues=1"));
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, json, len, &err), 0);
	assert_int_equal(c.nnets, 2);
	assert_int_equal(c.nets[0].dev.queues, 1);
	assert_int_equal(c.nets[0].dev.vhost, NET_VHOST_OFF);
	assert_string_equal(c.nets[0].dev.ifname, "t0");
	assert_int_equal(c.nets[1].dev.queues, 0);
	assert_int_equal(c.nets[1].dev.vhost, NET_VHOST_AUTO);
	vm_config_release(&c);
	free(json);
}

/* The transport is the config's: a PCI VM's record says so, and a malformed one is refused. */
static void test_pci_kept(void **state)
{
	struct vm_config c;
	struct err err = ERR_INIT;
	char *json = NULL, *edited;
	size_t len, elen;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_machine(&c, &(struct vm_machine){ .vcpu_count = 1,
							.mem_size_mib = 16 }, &err), 0);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	c.pci = true;
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	vm_config_release(&c);
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, json, len, &err), 0);
	assert_true(c.pci);
	vm_config_release(&c);
	edited = with_key(json, len, "hearth", "pci", json_string("yes"), &elen);
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, edited, elen, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "malformed pci"));
	vm_config_release(&c);
	free(edited);
	free(json);
	/* Without it: virtio-mmio, as every VM before PCI. */
	json = saved_record(&len);
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, json, len, &err), 0);
	assert_false(c.pci);
	vm_config_release(&c);
	free(json);
}

/* One PCI slot record, a malformed variant of which must be refused with its words. */
static void refuse_slots(const char *json, size_t len, json_t *slots, const char *words)
{
	struct vm_config c;
	struct err err = ERR_INIT;
	size_t elen;
	char *edited = with_key(json, len, "hearth", "pci_slots", slots, &elen);

	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, edited, elen, &err), -EINVAL);
	if (!strstr(err.msg, words))
		fail_msg("'%s' does not say '%s'", err.msg, words);
	vm_config_release(&c);
	free(edited);
}

/*
 * Where each device sat, when drives were plugged in or out: kept through
 * the record; a slot out of range, taken twice, of an unknown family, on
 * a VM without PCI or with a key no save writes is refused.
 */
static void test_pci_slots_kept(void **state)
{
	struct vm_config c;
	struct err err = ERR_INIT;
	char *json = NULL;
	size_t len;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_machine(&c, &(struct vm_machine){ .vcpu_count = 1,
							.mem_size_mib = 16 }, &err), 0);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	c.pci = true;
	c.pci_slots[0] = (struct vm_pci_slot){ "virtio-rng", "entropy", 1 };
	c.pci_slots[1] = (struct vm_pci_slot){ "virtio-blk", "hp", 4 };
	c.npci_slots = 2;
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	vm_config_release(&c);
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, json, len, &err), 0);
	assert_int_equal(c.npci_slots, 2);
	assert_string_equal(c.pci_slots[1].type, "virtio-blk");
	assert_string_equal(c.pci_slots[1].name, "hp");
	assert_int_equal(c.pci_slots[1].slot, 4);
	vm_config_release(&c);
	refuse_slots(json, len, json_pack("[{s:s, s:s, s:i}]", "type", "virtio-blk", "name", "hp",
					  "slot", 32), "malformed PCI slot");
	refuse_slots(json, len, json_pack("[{s:s, s:s, s:i}]", "type", "virtio-blk", "name", "hp",
					  "slot", 0), "malformed PCI slot");
	refuse_slots(json, len, json_pack("[{s:s, s:s, s:i}, {s:s, s:s, s:i}]", "type",
					  "virtio-blk", "name", "a", "slot", 3, "type", "virtio-net",
					  "name", "b", "slot", 3), "malformed PCI slot");
	refuse_slots(json, len, json_pack("[{s:s, s:s, s:i}]", "type", "vfio", "name", "x",
					  "slot", 3), "unknown device type");
	refuse_slots(json, len, json_pack("[{s:s, s:s, s:i, s:b}]", "type", "virtio-blk", "name",
					  "hp", "slot", 3, "more", 1), "malformed PCI slot");
	refuse_slots(json, len, json_array(), "malformed pci_slots");
	free(json);
	/* On a VM without PCI, slots mean nothing: refused. */
	json = saved_record(&len);
	refuse_slots(json, len, json_pack("[{s:s, s:s, s:i}]", "type", "virtio-blk", "name", "hp",
					  "slot", 3), "malformed pci_slots");
	free(json);
}

/* The saved record with fn(root) applied: an attacker's edit of a nested field. */
static char *edit_record(const char *json, size_t len, void (*fn)(json_t *root), size_t *out)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	char *s;

	assert_non_null(root);
	fn(root);
	s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	assert_non_null(s);
	*out = strlen(s);
	return s;
}

static void raise_max_sockets(json_t *root)
{
	json_t *nic = json_array_get(json_object_get(json_object_get(root, "hearth"), "nets"), 1);

	json_object_set_new(nic, "max_sockets", json_integer(1000000));
}

static void tap_as_user(json_t *root)
{
	json_t *nic = json_array_get(json_object_get(json_object_get(root, "hearth"), "nets"), 0);

	json_object_set_new(nic, "backend", json_string("user"));
}

static void user_mtu(json_t *root)
{
	json_t *nic = json_array_get(json_object_get(json_object_get(root, "vm"),
						     "network-interfaces"), 1);

	json_object_set_new(nic, "mtu", json_integer(65535));
}

static void mmds_v1(json_t *root)
{
	json_t *m = json_object_get(json_object_get(root, "vm"), "mmds-config");

	json_object_set_new(m, "version", json_string("V1"));
	/* ...and a part the restore refuses after the vm part is read. */
	json_object_set_new(json_object_get(root, "hearth"), "drives", json_array());
}

/*
 * Issue 47, the F2 review: the hearth part's NIC fields that shape the
 * host. A user-mode NIC's socket cap is the request's backend's (the
 * default), never the record's; a record whose parts disagree on a NIC's
 * kind, or that gives a user-mode NIC an MTU libslirp cannot carry, is
 * refused; and a refused record leaves the process's MMDS store as it was.
 */
static void test_nic_fields_and_mmds_store(void **state)
{
	struct snap_load_req req;
	struct err err = ERR_INIT;
	struct vm_config c;
	struct mmds *store = NULL;
	size_t len, elen;
	char *json = saved_record(&len), *edited;

	(void)state;
	full_request(&req);
	edited = edit_record(json, len, raise_max_sockets, &elen);
	if (load(edited, elen, &req, &c, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(c.nets[1].dev.max_sockets, 0);     /* the default's, not 1000000 */
	vm_config_release(&c);
	free(edited);
	edited = edit_record(json, len, tap_as_user, &elen);
	expect_refused(edited, elen, &req, "user-mode network interface its vm part calls a TAP");
	free(edited);
	edited = edit_record(json, len, user_mtu, &elen);
	/* The vm part's own rule, as the API's: the stand-in is read as the backend it is. */
	expect_refused(edited, elen, &req, "is above 65520, the largest a user-mode backend "
		       "carries");
	free(edited);
	assert_int_equal(mmds_new(1024, &store), 0);
	mmds_set_version(store, MMDS_V2, false);
	edited = edit_record(json, len, mmds_v1, &elen);
	vm_config_init(&c);
	c.mmds_store = store;
	assert_int_equal(snap_config_restore(&c, edited, elen, &err), -EINVAL);
	assert_int_equal(mmds_get_version(store), MMDS_V2);
	assert_ptr_equal(c.mmds_store, store);
	vm_config_release(&c);
	free(edited);
	mmds_free(store);
	free(json);
}

/* The vm part names a user-mode backend for the NIC the hearth part calls a TAP. */
static void user_in_vm_part(json_t *root)
{
	json_t *nic = json_array_get(json_object_get(json_object_get(root, "vm"),
						     "network-interfaces"), 0);

	json_object_del(nic, "host_dev_name");
	json_object_set_new(nic, "backend", json_string("user"));
}

/*
 * A save writes the stand-in host_dev_name "user" for every user-mode NIC;
 * two of them were once read as one TAP used twice, and the restore
 * refused its own save. Both come back user-mode, with their own rules.
 */
static void test_two_user_nics(void **state)
{
	struct vm_net a = { .id = "eth0" }, b = { .id = "eth1" };
	struct err err = ERR_INIT;
	struct vm_config c;
	char *json = NULL, *edited;
	size_t len, elen;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_machine(&c, &(struct vm_machine){ .vcpu_count = 1,
							.mem_size_mib = 16 }, &err), 0);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	assert_int_equal(virtio_net_parse("user,hostfwd=tcp:2222-:22", &a.dev, &err), 0);
	assert_int_equal(vm_config_put_net(&c, &a, false, &err), 0);
	assert_int_equal(virtio_net_parse("user,host-loopback=on", &b.dev, &err), 0);
	assert_int_equal(vm_config_put_net(&c, &b, false, &err), 0);
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	vm_config_release(&c);
	vm_config_init(&c);
	if (snap_config_restore(&c, json, len, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(c.nnets, 2);
	assert_int_equal(c.nets[0].dev.backend, NET_USER);
	assert_int_equal(c.nets[1].dev.backend, NET_USER);
	assert_int_equal(c.nets[0].dev.nfwd, 1);
	assert_int_equal(c.nets[0].dev.fwd[0].host_port, 2222);
	assert_true(c.nets[1].dev.host_loopback);
	assert_string_equal(c.nets[0].dev.ifname, "");
	vm_config_release(&c);
	free(json);
	/* A TAP in the hearth part that the vm part calls user-mode: edited, refused. */
	json = saved_record(&len);
	edited = edit_record(json, len, user_in_vm_part, &elen);
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, edited, elen, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "whose vm and hearth parts disagree on its backend"));
	vm_config_release(&c);
	free(edited);
	free(json);
}

/*
 * Issue 47, the F2 review: a vhost-vsock device claims its CID on the
 * whole host, so the request names it and it must be the guest's; a
 * hybrid vsock's override is its socket, never a CID.
 */
static void test_vhost_vsock_cid(void **state)
{
	struct snap_load_req req;
	struct err err = ERR_INIT;
	struct vm_config c;
	char *json = NULL;
	size_t len;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_machine(&c, &(struct vm_machine){ .vcpu_count = 1,
							.mem_size_mib = 16 }, &err), 0);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	assert_int_equal(vm_config_set_vsock(&c, &(struct vm_vsock){ .present = true,
			 .guest_cid = 7 }, &err), 0);
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	vm_config_release(&c);
	memset(&req, 0, sizeof(req));
	expect_refused(json, len, &req, "the vhost-vsock device needs its CID in vsock_override");
	req.vsock_cid = 8;
	expect_refused(json, len, &req, "the snapshot's guest has CID 7, and the request gives 8");
	req.vsock_cid = 0;
	req.vsock_uds_path = "/mine/v.sock";
	expect_refused(json, len, &req, "is vhost-vsock, which has no socket");
	req.vsock_uds_path = NULL;
	req.vsock_cid = 7;
	if (load(json, len, &req, &c, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(c.vsock.guest_cid, 7);
	assert_null(c.vsock.uds_path);
	vm_config_release(&c);
	free(json);
}

/*
 * A qcow2 drive: its format comes back from the record, its chain never
 * does. The record's backing files (a victim's) are replaced by the
 * override's, or by none when the override gives none (the image's
 * header then refuses the open by name, virtio/blk/chain.c); a chain for
 * a raw drive, or both kinds of chain, are refused.
 */
static void test_qcow2_chain_from_the_request(void **state)
{
	char victim[] = "/victim/base.qcow2";
	struct vm_drive d = { .id = "q", .path_on_host = "/victim/top.qcow2",
			      .format = BLK_FORMAT_QCOW2, .backing_files = { victim }, .nbacking = 1 };
	struct snap_load_req req = { .n_drive_overrides = 1 };
	struct err err = ERR_INIT;
	struct vm_config c;
	char *json = NULL;
	size_t len;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_machine(&c, &(struct vm_machine){ .vcpu_count = 1,
							.mem_size_mib = 16 }, &err), 0);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), 0);
	d = (struct vm_drive){ .id = "r", .path_on_host = "/victim/raw.img" };
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), 0);
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	vm_config_release(&c);
	assert_non_null(strstr(json, "\"format\":\"qcow2\""));

	req.n_drive_overrides = 2;
	req.drive_overrides[0] = (struct snap_drive_override){
		.drive_id = "q", .path_on_host = "/mine/top.qcow2",
		.backing_files = { "/mine/base.qcow2" }, .n_backing = 1 };
	req.drive_overrides[1] = (struct snap_drive_override){ .drive_id = "r",
							       .path_on_host = "/mine/raw.img" };
	if (load(json, len, &req, &c, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(c.drives[0].format, BLK_FORMAT_QCOW2);
	assert_int_equal(c.drives[0].nbacking, 1);
	assert_string_equal(c.drives[0].backing_files[0], "/mine/base.qcow2");
	vm_config_release(&c);
	/* No chain in the override: none, never the record's. */
	req.drive_overrides[0].n_backing = 0;
	assert_int_equal(load(json, len, &req, &c, &err), 0);
	assert_int_equal(c.drives[0].nbacking, 0);
	assert_false(c.drives[0].backing_from_header);
	vm_config_release(&c);
	req.drive_overrides[0].backing_from_header = true;
	assert_int_equal(load(json, len, &req, &c, &err), 0);
	assert_true(c.drives[0].backing_from_header);
	vm_config_release(&c);
	req.drive_overrides[0].n_backing = 1;
	expect_refused(json, len, &req, "drive 'q': backing_files and backing_from_header");
	req.drive_overrides[0].n_backing = 0;
	req.drive_overrides[0].backing_from_header = false;
	req.drive_overrides[1].backing_from_header = true;
	expect_refused(json, len, &req, "drive 'r' is a raw image in the snapshot");
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_host_resource_from_the_request),
		cmocka_unit_test(test_left_out_or_misfit_refused),
		cmocka_unit_test(test_keys_no_save_writes),
		cmocka_unit_test(test_pci_kept),
		cmocka_unit_test(test_pci_slots_kept),
		cmocka_unit_test(test_drive_queues_kept),
		cmocka_unit_test(test_net_queues_kept),
		cmocka_unit_test(test_nic_fields_and_mmds_store),
		cmocka_unit_test(test_two_user_nics),
		cmocka_unit_test(test_vhost_vsock_cid),
		cmocka_unit_test(test_qcow2_chain_from_the_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
