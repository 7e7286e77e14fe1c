/*
 * Test-only: state files written with Hearth's own writer (snap_builder,
 * snap_file_write: the header, the sections and their CRC), for the
 * integration test that edits a snapshot's config record to name other
 * host files (run_snapshot_host_test.py).
 *
 *   snap_craft config DIR        prints the config record a save writes for
 *                                a VM with a drive (DIR/disk.img), a TAP NIC
 *                                (tap0), a user-mode NIC with a forward and
 *                                host loopback, hybrid vsock (DIR/v.sock)
 *                                a read-only pmem device (DIR/pm.img) and a
 *                                KVM path (DIR/kvm)
 *   snap_craft state OUT JSON    a state file with a host section and JSON
 *                                (a file) as its config record
 *   snap_craft mem OUT MIB       a memory file of MIB MiB of zeros
 *   snap_craft config-of IN      prints IN's config record
 *   snap_craft edit IN OUT JSON  IN (a real snapshot) with JSON as its config
 *                                record, every other section kept, the CRC
 *                                computed again: what an attacker who edits
 *                                a state file writes
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth-config.h"
#include "snapshot/config_rec.h"
#include "snapshot/file.h"
#include "snapshot/format.h"
#include "snapshot/host.h"
#include "snapshot/memcore.h"
#include "vmm/config.h"

static int fail(const char *what, struct err *err)
{
	fprintf(stderr, "snap_craft: %s: %s\n", what, err ? err->msg : strerror(errno));
	return 1;
}

static int craft_config(const char *dir)
{
	struct err err = ERR_INIT;
	struct vm_config c;
	struct vm_drive d = { .id = "rootfs", .cache_type = BLK_CACHE_WRITEBACK };
	struct vm_net tap = { .id = "eth0" }, user = { .id = "eth1" };
	char path[4096], *json = NULL;
	size_t len;

	vm_config_init(&c);
	if (vm_config_set_machine(&c, &(struct vm_machine){ .vcpu_count = 1,
							    .mem_size_mib = 16 }, &err) ||
	    vm_config_set_boot_source(&c, "/nonexistent/vmlinux", NULL, NULL, &err))
		return fail("machine", &err);
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	d.path_on_host = path;
	if (vm_config_put_drive(&c, &d, false, &err))
		return fail("drive", &err);
	if (virtio_net_parse("tap=tap0", &tap.dev, &err) || vm_config_put_net(&c, &tap, false, &err))
		return fail("tap", &err);
	if (virtio_net_parse("user,host-loopback=on,hostfwd=tcp:5556-:7778", &user.dev, &err) ||
	    vm_config_put_net(&c, &user, false, &err))
		return fail("user", &err);
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	if (vm_config_set_vsock(&c, &(struct vm_vsock){ .present = true, .guest_cid = 3,
							.uds_path = path }, &err))
		return fail("vsock", &err);
	snprintf(path, sizeof(path), "%s/pm.img", dir);
	if (vm_config_put_pmem(&c, &(struct vm_pmem){ .id = "pm0", .path_on_host = path,
						      .read_only = true }, false, &err))
		return fail("pmem", &err);
	snprintf(path, sizeof(path), "%s/kvm", dir);
	if (vm_config_set_kvm_path(&c, path, &err))
		return fail("kvm", &err);
	if (snap_config_save(&c, &json, &len))
		return fail("save", NULL);
	fwrite(json, 1, len, stdout);
	free(json);
	vm_config_release(&c);
	return 0;
}

static int save_host(void *ctx, struct bytes_out *o, struct err *err)
{
	return snap_host_save(ctx, o);
}

static char json[1 << 16];

static int read_json(const char *json_path, size_t *n)
{
	FILE *f = fopen(json_path, "re");

	if (!f)
		return -1;
	*n = fread(json, 1, sizeof(json), f);
	fclose(f);
	return 0;
}

static int craft_edit(const char *in, const char *out, const char *json_path)
{
	struct err err = ERR_INIT;
	struct snap_file f;
	struct snap_builder b;
	void *inbuf = NULL, *buf = NULL;
	size_t len, n;
	int ret;

	if (read_json(json_path, &n))
		return fail(json_path, NULL);
	if (snap_file_load(in, &f, &inbuf, &err))
		return fail(in, &err);
	snap_builder_init(&b);
	ret = 0;
	for (unsigned int i = 0; !ret && i < f.nsections; i++) {
		const struct snap_section *s = &f.sections[i];

		ret = s->kind == SNAP_SEC_CONFIG
			? snap_builder_add(&b, s->kind, s->id, s->version, json, n)
			: snap_builder_add(&b, s->kind, s->id, s->version, s->data, s->len);
	}
	if (!ret)
		ret = snap_builder_finish(&b, f.hearth_version, &buf, &len);
	snap_builder_release(&b);
	snap_file_release(&f);
	free(inbuf);
	if (ret)
		return fail("building", NULL);
	ret = snap_file_write(out, buf, len, NULL, &err);
	free(buf);
	return ret ? fail(out, &err) : 0;
}

static int config_of(const char *in)
{
	struct err err = ERR_INIT;
	const struct snap_section *s;
	struct snap_file f;
	void *buf = NULL;

	if (snap_file_load(in, &f, &buf, &err))
		return fail(in, &err);
	s = snap_find(&f, SNAP_SEC_CONFIG, "config");
	if (s)
		fwrite(s->data, 1, s->len, stdout);
	snap_file_release(&f);
	free(buf);
	return s ? 0 : fail("no config section", NULL);
}

static int craft_state(const char *out, const char *json_path)
{
	static struct snap_host host;
	struct err err = ERR_INIT;
	struct snap_builder b;
	void *buf = NULL;
	size_t len, n;
	int ret;

	if (read_json(json_path, &n))
		return fail(json_path, NULL);
	snap_builder_init(&b);
	ret = snap_builder_add_saved(&b, SNAP_SEC_HOST, "host", SNAP_HOST_VERSION, save_host,
				     &host, &err);
	if (!ret)
		ret = snap_builder_add(&b, SNAP_SEC_CONFIG, "config", SNAP_CONFIG_VERSION, json, n);
	if (!ret)
		ret = snap_builder_finish(&b, HEARTH_VERSION, &buf, &len);
	snap_builder_release(&b);
	if (ret)
		return fail("building", &err);
	ret = snap_file_write(out, buf, len, NULL, &err);
	free(buf);
	return ret ? fail(out, &err) : 0;
}

static int craft_mem(const char *out, const char *mib)
{
	struct err err = ERR_INIT;
	struct memcore_vcpu regs = { 0 };
	struct guest_mem gm;

	if (guest_mem_init(&gm, strtoull(mib, NULL, 10) << 20))
		return fail("memory", NULL);
	if (memcore_write(out, &gm, &regs, 1, NULL, &err))
		return fail(out, &err);
	guest_mem_destroy(&gm);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "config"))
		return craft_config(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "state"))
		return craft_state(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "config-of"))
		return config_of(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "edit"))
		return craft_edit(argv[2], argv[3], argv[4]);
	if (argc == 4 && !strcmp(argv[1], "mem"))
		return craft_mem(argv[2], argv[3]);
	fprintf(stderr, "usage: snap_craft config DIR | state OUT JSON | mem OUT MIB\n");
	return 2;
}
