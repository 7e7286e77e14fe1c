/*
 * A state file written before the parts of a VM became components
 * (data/v1-halt.snap, data/README) still loads: every VM-wide, vCPU and
 * device section is claimed by a component of the registry its config
 * builds (vm_rig.h, no KVM), every record passes that component's check,
 * the devices take theirs up, and each record saved again, by the device
 * or from the host, VM-wide and vCPU records read back, is the same
 * bytes: the records on disk did not change. Devices added since that
 * the config record names (VMGenID) are there only where it names them.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "snapshot/config_rec.h"
#include "snapshot/file.h"
#include "snapshot/format.h"
#include "snapshot/host.h"
#include "snapshot/records.h"
#include "state_check.h"
#include "util/log.h"
#include "vcpu/vcpu_state.h"
#include "vm_rig.h"

#define FIXTURE HEARTH_TEST_DATA "/v1-halt.snap"

static enum comp_kind kind_of(uint32_t section)
{
	return section == SNAP_SEC_VM ? COMP_VM : section == SNAP_SEC_VCPU ? COMP_VCPU : COMP_DEVICE;
}

/* The host, VM-wide and vCPU records read back and written again: the same bytes. */
static void assert_record_kept(const struct snap_section *s)
{
	struct bytes_out o = bytes_out_growing();
	struct snap_host *h;
	struct vm_kvm_state vs;
	struct vcpu_snap v;
	size_t len;

	if (s->kind == SNAP_SEC_HOST) {
		h = malloc(sizeof(*h));
		assert_non_null(h);
		assert_int_equal(s->version, SNAP_HOST_VERSION);
		assert_int_equal(snap_host_restore(h, s->data, s->len), 0);
		assert_int_equal(snap_host_save(h, &o), 0);
		free(h);
	} else if (s->kind == SNAP_SEC_VM) {
		assert_int_equal(vm_state_restore(&vs, s->data, s->len), 0);
		assert_int_equal(vm_state_save(&vs, &o), 0);
	} else {
		assert_int_equal(vcpu_state_restore(&v, s->data, s->len), 0);
		assert_int_equal(vcpu_state_save(&v, &o), 0);
		vcpu_state_release(&v);
	}
	assert_int_equal(bytes_out_finish(&o, &len), 0);
	assert_int_equal(len, s->len);
	assert_memory_equal(o.buf, s->data, len);
	free(o.buf);
}

/*
 * The disk offers SIZE_MAX since this file was written: its record saved
 * again says so (the transport's offered features, at 18 in its record;
 * size_max in the disk's config space, at 150), all else is the same.
 * The restored driver negotiated without it, which the record keeps.
 */
static void disk_now_offers_size_max(uint8_t *rec, size_t len)
{
	assert_true(len > 154);
	assert_int_equal(rec[18] & 0x02, 0);
	assert_memory_equal(rec + 150, "\0\0\0\0", 4);
	rec[18] |= 0x02;
	rec[152] = 0x02; /* le32 128 KiB */
}

static void test_v1_file_loads(void **state)
{
	char dir[] = "/tmp/hearth-compat-XXXXXX", cwd[4096];
	struct err err = ERR_INIT;
	unsigned int claimed = 0, sections = 0;
	struct snap_file f;
	struct vm_config cfg;
	struct vm_rig *r = calloc(1, sizeof(*r));
	void *buf;
	int fd;

	(void)state;
	log_set_level(LOG_ERR);
	assert_int_equal(snap_file_load(FIXTURE, &f, &buf, &err), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	/* Its paths are relative (disk.img, v.sock): a directory of its own, with the disk. */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chdir(dir), 0);
	fd = open("disk.img", O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);

	assert_record_kept(snap_find(&f, SNAP_SEC_HOST, "host"));
	vm_config_init(&cfg);
	assert_int_equal(snap_config_restore(&cfg, snap_find(&f, SNAP_SEC_CONFIG, "config")->data,
					     snap_find(&f, SNAP_SEC_CONFIG, "config")->len, &err), 0);
	assert_int_equal(cfg.machine.vcpu_count, 2);
	/* Written before VMGenID: restored without one (and so with its line free). */
	assert_false(cfg.vmgenid);
	cfg.nets[0].dev.nfwd = 0; /* no listener on a host port: not in the record anyway */
	vm_rig_build(r, &cfg);
	assert_null(registry_find(&r->vm.registry, COMP_DEVICE, "vmgenid"));

	for (unsigned int i = 0; i < f.nsections; i++) {
		const struct snap_section *s = &f.sections[i];
		struct reg_entry *e;

		if (s->kind < SNAP_SEC_VM)
			continue;
		sections++;
		e = registry_find(&r->vm.registry, kind_of(s->kind), s->id);
		assert_non_null(e);
		assert_int_equal(snap_record_kind(e->kind)->section, s->kind);
		assert_int_equal(snap_record_kind(e->kind)->version, s->version);
		assert_int_equal(state_check(&e->comp, s->data, s->len), 0);
		if (s->kind != SNAP_SEC_DEVICE) {
			assert_record_kept(s);
		} else {
			uint8_t *again;
			size_t len;

			uint8_t *want = malloc(s->len);

			assert_non_null(want);
			memcpy(want, s->data, s->len);
			if (!strcmp(s->id, "rootfs"))
				disk_now_offers_size_max(want, s->len);
			assert_int_equal(state_restore(&e->comp, s->data, s->len), 0);
			again = state_save(&e->comp, &len);
			assert_int_equal(len, s->len);
			assert_memory_equal(again, want, len);
			free(again);
			free(want);
		}
	}
	/*
	 * And every component with a section has its record, but the ones
	 * newer than the file: the PCI root, which restores as built.
	 */
	for (unsigned int i = 0; i < r->vm.registry.n; i++) {
		const struct reg_entry *e = &r->vm.registry.entries[i];

		if (e->optional) {
			assert_string_equal(e->id, "pci");
			assert_null(snap_find(&f, SNAP_SEC_DEVICE, e->id));
			continue;
		}
		claimed += snap_record_kind(e->kind)->section != 0;
	}
	assert_int_equal(claimed, sections);
	assert_int_equal(sections, 1 + 2 + 10);

	vm_rig_free(r);
	vm_config_release(&cfg);
	snap_file_release(&f);
	free(buf);
	free(r);
	unlink("disk.img");
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* A config record with key in its hearth part set to v (NULL: without key). */
static char *hearth_key(const char *json, size_t len, const char *key, json_t *v, size_t *out)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	char *s;

	assert_non_null(root);
	if (v)
		json_object_set_new(json_object_get(root, "hearth"), key, v);
	else
		json_object_del(json_object_get(root, "hearth"), key);
	s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	assert_non_null(s);
	*out = strlen(s);
	return s;
}

/*
 * A VM with VMGenID (every VM now) says so in its config record and is
 * restored with it; a record without the key (an older Hearth's) is
 * restored without it, and one whose key is no boolean is refused.
 */
static void test_vmgenid_in_the_config(void **state)
{
	struct vm_config c;
	struct err err = ERR_INIT;
	char *json = NULL, *edited;
	size_t len, elen;

	(void)state;
	vm_config_init(&c);
	assert_true(c.vmgenid);
	assert_int_equal(vm_config_set_machine(&c, &(struct vm_machine){ .vcpu_count = 1,
							.mem_size_mib = 16 }, &err), 0);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	assert_non_null(strstr(json, "\"vmgenid\":true"));
	vm_config_release(&c);
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, json, len, &err), 0);
	assert_true(c.vmgenid);
	vm_config_release(&c);

	edited = hearth_key(json, len, "vmgenid", NULL, &elen);
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, edited, elen, &err), 0);
	assert_false(c.vmgenid);
	vm_config_release(&c);
	free(edited);

	edited = hearth_key(json, len, "vmgenid", json_string("yes"), &elen);
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, edited, elen, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "malformed vmgenid"));
	vm_config_release(&c);
	free(edited);
	free(json);
}

/* A config record with one more drive, in both parts, than c had: the 32nd. */
static char *one_more_drive(const char *json, size_t len, size_t *out)
{
	json_t *root = json_loadb(json, len, 0, NULL), *vm, *h, *d;
	char *s;

	assert_non_null(root);
	vm = json_object_get(json_object_get(root, "vm"), "drives");
	h = json_object_get(json_object_get(root, "hearth"), "drives");
	d = json_deep_copy(json_array_get(vm, 0));
	json_object_set_new(d, "drive_id", json_string("d31"));
	json_array_append_new(vm, d);
	d = json_deep_copy(json_array_get(h, 0));
	json_object_set_new(d, "drive_id", json_string("d31"));
	json_array_append_new(h, d);
	s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	assert_non_null(s);
	*out = strlen(s);
	return s;
}

/*
 * A PCI VM with every drive and NIC the model takes (31 of each, one a
 * PCI slot) saves and restores them all; a record listing a 32nd drive
 * is refused by the model's own limit, never read past the arrays.
 */
static void test_every_drive_and_nic(void **state)
{
	struct vm_config c;
	struct err err = ERR_INIT;
	char *json = NULL, *edited;
	size_t len, elen;

	(void)state;
	vm_config_init(&c);
	c.pci = true;
	assert_int_equal(vm_config_set_machine(&c, &(struct vm_machine){ .vcpu_count = 1,
							.mem_size_mib = 16 }, &err), 0);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	for (unsigned int i = 0; i < VM_MAX_DRIVES; i++) {
		struct vm_drive d = { .path_on_host = "/img", .is_root_device = !i };
		struct vm_net n = { .dev = { .backend = NET_TAP } };

		snprintf(d.id, sizeof(d.id), "d%u", i);
		snprintf(n.id, sizeof(n.id), "eth%u", i);
		snprintf(n.dev.ifname, sizeof(n.dev.ifname), "tap%u", i);
		assert_int_equal(vm_config_put_drive(&c, &d, false, &err), 0);
		assert_int_equal(vm_config_put_net(&c, &n, false, &err), 0);
	}
	assert_int_equal(c.ndrives, 31);
	assert_int_equal(c.nnets, 31);
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	vm_config_release(&c);
	vm_config_init(&c);
	if (snap_config_restore(&c, json, len, &err))
		fail_msg("%s", err.msg);
	assert_true(c.pci);
	assert_int_equal(c.ndrives, 31);
	assert_int_equal(c.nnets, 31);
	assert_string_equal(c.drives[30].id, "d30");
	assert_string_equal(c.nets[30].id, "eth30");
	vm_config_release(&c);

	edited = one_more_drive(json, len, &elen);
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, edited, elen, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "drive 'd31': at most 31 drives"));
	assert_true(c.ndrives <= VM_MAX_DRIVES);
	vm_config_release(&c);
	free(edited);
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_file_loads),
		cmocka_unit_test(test_vmgenid_in_the_config),
		cmocka_unit_test(test_every_drive_and_nic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
