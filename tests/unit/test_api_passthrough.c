/*
 * PUT /device-passthrough/{id}, Firecracker's VFIO branch's endpoint, on
 * a fake VM (fake_vm.h): the sbdf parser (vm_vfio_parse_sbdf) alone, then
 * the route: its body in serde's words, PUT's replace by id, a second id
 * for the same device refused, the host's check at PUT time (the fake's:
 * device 1f is not there, 1e is bound to another driver), the rules a
 * VFIO VM keeps (PCI, no balloon), the device in GET /vm/config's "pci":
 * {"vfio": [...]}, and after boot Hearth's unplug (DELETE) and plug back
 * (PUT) through the VM's plug and unplug (faked here: the VM's side,
 * which takes back only a device it had at start, is vmm/vm_pci_hotplug.c's).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/routes.h"
#include "api_req.h"
#include "control/control.h"
#include "ctl_fixture.h"
#include "vmm/config.h"

#define FC_POST "The requested operation is not supported after starting the microVM."
#define CFG_ERR "Device passthrough config error: "
#define SYSFS "/sys/bus/pci/devices/"

/* The VM's plug and unplug, faked: what they were given, and what the next answers. */
static struct ctl_vm_ops plug_ops;
static char plugged[400], unplugged[96];
static int plug_ret;

static int fake_plug(void *ctx, const struct vm_config *cfg, const char *type, unsigned int i,
		     struct err *err)
{
	(void)ctx;
	snprintf(plugged, sizeof(plugged), "%s:%s=%s", type, cfg->vfio[i].id, cfg->vfio[i].path);
	return plug_ret ? err_set(err, true, plug_ret, "VFIO device was not passed through at "
				  "InstanceStart") : 0;
}

static int fake_unplug(void *ctx, const char *type, const char *id, struct err *err)
{
	(void)ctx;
	(void)err;
	snprintf(unplugged, sizeof(unplugged), "%s:%s", type, id);
	return 0;
}

/* The fixture's handler, its model a PCI VM's (pci false: virtio-mmio's), with a boot source. */
static struct fixture *make(void **state, bool pci)
{
	struct fixture *f;

	setup(state);
	f = *state;
	f->ctl.cfg.pci = pci;
	plug_ops = fake_vm_ops;
	plug_ops.plug = fake_plug;
	plug_ops.unplug = fake_unplug;
	f->ctl.vm = &plug_ops;
	plugged[0] = unplugged[0] = '\0';
	plug_ret = 0;
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 204);
	return f;
}

static int setup_pci(void **state)
{
	make(state, true);
	return 0;
}

/* PUT /device-passthrough/{id} with {"id": id, "sbdf": sbdf}; the status. */
static unsigned int put(struct fixture *f, const char *id, const char *sbdf)
{
	char path[128], body[256];

	snprintf(path, sizeof(path), "/device-passthrough/%s", id);
	snprintf(body, sizeof(body), "{\"id\": \"%s\", \"sbdf\": \"%s\"}", id, sbdf);
	return req(f, "PUT", path, body);
}

/* GET /vm/config's pci.vfio is exactly these "id=path" pairs, in order (NULL-terminated). */
static void expect_vfio(struct fixture *f, const char *const *want)
{
	json_t *o, *list;
	size_t n = 0;

	assert_int_equal(req(f, "GET", "/vm/config", NULL), 200);
	o = json_loads(body_out, 0, NULL);
	list = json_object_get(json_object_get(o, "pci"), "vfio");
	while (want[n])
		n++;
	if (!n) {
		assert_null(list);
	} else {
		assert_int_equal(json_array_size(list), n);
		for (size_t i = 0; i < n; i++) {
			char got[512];
			json_t *e = json_array_get(list, i);

			assert_int_equal(json_object_size(e), 2);
			snprintf(got, sizeof(got), "%s=%s",
				 json_string_value(json_object_get(e, "id")),
				 json_string_value(json_object_get(e, "path")));
			assert_string_equal(got, want[i]);
		}
	}
	json_decref(o);
}

/* The parser alone: the forms Firecracker's PciSBDF takes that Hearth takes too. */
static void test_parse_good(void **state)
{
	static const char *const good[][2] = {
		{ "0000:03:00.0", "0000:03:00.0" },
		{ "03:00.0", "0000:03:00.0" },          /* short BDF: domain 0000 */
		{ "ABCD:EF:1F.7", "abcd:ef:1f.7" },     /* either case; sysfs's is lower */
		{ "ffff:ff:1f.7", "ffff:ff:1f.7" },
		{ "0001:00:00.0", "0001:00:00.0" },
	};
	char canon[VM_SBDF_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct err err = ERR_INIT;

		if (vm_vfio_parse_sbdf(good[i][0], canon, &err))
			fail_msg("'%s' refused: %s", good[i][0], err.msg);
		assert_string_equal(canon, good[i][1]);
	}
}

/* Everything else, each refusal naming what is wrong. */
static void test_parse_bad(void **state)
{
	static const char *const bad[][2] = {
		{ "", "empty; want DDDD:BB:DD.F or BB:DD.F, in hex" },
		{ "0000", "no colon; want DDDD:BB:DD.F or BB:DD.F, in hex" },
		{ "0000:00:00:01.0", "too many colons; want DDDD:BB:DD.F or BB:DD.F, in hex" },
		{ "000:01:02.3", "the domain '000' is not 4 hex digits" },
		{ "00000:01:02.3", "the domain '00000' is not 4 hex digits" },
		{ "0x00:01:02.3", "the domain '0x00' is not 4 hex digits" },
		{ " 0000:01:02.3", "the domain ' 0000' is not 4 hex digits" },
		{ "0000:1:02.3", "the bus '1' is not 2 hex digits" },
		{ "0000:g1:02.3", "the bus 'g1' is not 2 hex digits" },
		{ "1:02.3", "the bus '1' is not 2 hex digits" },
		{ "0000:01:2.3", "the device '2' is not 2 hex digits" },
		{ "0000:01:-2.3", "the device '-2' is not 2 hex digits" },
		{ "0000:01:20.0", "the device 20 is past 1f" },
		{ "00:ff.0", "the device ff is past 1f" },
		{ "0000:01:02.8", "the function '8' is not one digit, 0 to 7" },
		{ "0000:01:02.03", "the function '03' is not one digit, 0 to 7" },
		{ "0000:01:02.a", "the function 'a' is not one digit, 0 to 7" },
		{ "0000:01:02.", "the function '' is not one digit, 0 to 7" },
		{ "0000:01:02.3 ", "the function '3 ' is not one digit, 0 to 7" },
		{ "0000:01:02", "no '.' before the function; want DDDD:BB:DD.F or BB:DD.F, in hex" },
	};
	char canon[VM_SBDF_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err err = ERR_INIT;

		assert_int_equal(vm_vfio_parse_sbdf(bad[i][0], canon, &err), -EINVAL);
		assert_true(err.usage);
		if (strcmp(err.msg, bad[i][1]))
			fail_msg("'%s': '%s', want '%s'", bad[i][0], err.msg, bad[i][1]);
		assert_string_equal(canon, "");
	}
}

/* Firecracker's PUT semantics: a new id adds, a known id replaces, and GET /vm/config shows them. */
static void test_put_replace(void **state)
{
	struct fixture *f = *state;

	expect_vfio(f, (const char *const[]){ NULL });
	assert_int_equal(put(f, "nvme0", "0000:03:00.0"), 204);
	expect_vfio(f, (const char *const[]){ "nvme0=" SYSFS "0000:03:00.0", NULL });
	/* The same id again: replaced, in its place; the short form is domain 0000's. */
	assert_int_equal(put(f, "nvme0", "04:00.0"), 204);
	expect_vfio(f, (const char *const[]){ "nvme0=" SYSFS "0000:04:00.0", NULL });
	/* And with itself (the same device under the same id is no duplicate). */
	assert_int_equal(put(f, "nvme0", "0000:04:00.0"), 204);
	assert_int_equal(put(f, "gpu", "0000:03:00.0"), 204);
	expect_vfio(f, (const char *const[]){ "nvme0=" SYSFS "0000:04:00.0",
					      "gpu=" SYSFS "0000:03:00.0", NULL });
	assert_int_equal(f->vm.checks, 5);   /* the boot source's, then each device's */
}

/* Firecracker's DuplicateSBDF: another id's device; nothing changes. */
static void test_duplicate(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(put(f, "nvme0", "0000:03:00.0"), 204);
	assert_int_equal(put(f, "nvme1", "03:00.0"), 400);
	expect_fault_is(CFG_ERR "Duplicate device passthrough SBDF: 0000:03:00.0 (device 'nvme0' "
			"has it)");
	/* A replace that would take another's device is refused too, and leaves its own. */
	assert_int_equal(put(f, "nvme1", "0000:04:00.0"), 204);
	assert_int_equal(put(f, "nvme1", "0000:03:00.0"), 400);
	expect_fault("Duplicate device passthrough SBDF: 0000:03:00.0");
	expect_vfio(f, (const char *const[]){ "nvme0=" SYSFS "0000:03:00.0",
					      "nvme1=" SYSFS "0000:04:00.0", NULL });
	/* VM_MAX_VFIO devices; a fifth id is refused, a replace still taken. */
	assert_int_equal(put(f, "d2", "0000:05:00.0"), 204);
	assert_int_equal(put(f, "d3", "0000:06:00.0"), 204);
	assert_int_equal(put(f, "d4", "0000:07:00.0"), 400);
	expect_fault_is(CFG_ERR "at most 4 VFIO devices");
	assert_int_equal(put(f, "d3", "0000:07:00.0"), 204);
}

/* The body: serde's words, at serde's line and column; the id the path's. */
static void test_bodies(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/device-passthrough/d", "{\"id\": \"d\", \"sbdf\": "
			     "\"0000:00:20.0\"}"), 400);
	expect_fault_is(SERDE "Invalid device passthrough SBDF: 0000:00:20.0 (the device 20 is "
			"past 1f) at line 1 column 34.");
	assert_int_equal(req(f, "PUT", "/device-passthrough/d", "{\"id\": \"d\"}"), 400);
	expect_fault_is(SERDE "missing field `sbdf` at line 1 column 11.");
	assert_int_equal(req(f, "PUT", "/device-passthrough/d", "{\"id\": \"d\", \"sbdf\": "
			     "\"00:01.0\", \"path\": \"/x\"}"), 400);
	expect_fault_is(SERDE "unknown field `path`, expected `id` or `sbdf` at line 1 column 37.");
	assert_int_equal(req(f, "PUT", "/device-passthrough/d", "{\"id\": \"d\", \"sbdf\": 4}"),
			 400);
	expect_fault_is(SERDE "invalid type: integer `4`, expected a string at line 1 column 21.");
	assert_int_equal(req(f, "PUT", "/device-passthrough/a", "{\"id\": \"b\", \"sbdf\": "
			     "\"00:01.0\"}"), 400);
	expect_fault_is("The id from the path does not match the id from the body!");
	assert_int_equal(put(f, "a.b", "00:01.0"), 400);
	expect_fault_is(CFG_ERR "VFIO device id 'a.b': only letters, digits, '_' and '-' are "
			"allowed");
	assert_int_equal(req(f, "PUT", "/device-passthrough/", "{\"id\": \"\", \"sbdf\": "
			     "\"00:01.0\"}"), 400);
	expect_fault("Invalid request method and/or path");
	expect_vfio(f, (const char *const[]){ NULL });
	assert_int_equal(f->vm.checks, 1);   /* the boot source's only */
}

/* Checked on the host at PUT, as Firecracker checks files: the refusal's words; nothing kept. */
static void test_host_check(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(put(f, "nic", "0000:00:1f.0"), 400);
	expect_fault_is(CFG_ERR "no PCI device 0000:00:1f.0 on this host (" SYSFS "0000:00:1f.0)");
	assert_int_equal(put(f, "nic", "00:1e.0"), 400);
	expect_fault_is(CFG_ERR "VFIO device 0000:00:1e.0: not bound to vfio-pci (its driver: "
			"e1000e): bind it to vfio-pci first");
	expect_vfio(f, (const char *const[]){ NULL });
	/* A replace the host refuses leaves the device it would have replaced. */
	assert_int_equal(put(f, "nic", "0000:00:1d.0"), 204);
	assert_int_equal(put(f, "nic", "0000:00:1e.0"), 400);
	expect_vfio(f, (const char *const[]){ "nic=" SYSFS "0000:00:1d.0", NULL });
}

/* What start would refuse, refused at the PUT: no PCI, a balloon, memory hotplug. */
static void test_vm_rules(void **state)
{
	struct fixture *g = *state, *f;
	void *other;

	f = make(&other, false);
	assert_int_equal(put(f, "nvme0", "0000:03:00.0"), 400);
	expect_fault_is(CFG_ERR "a VFIO device needs PCI (--pci, --enable-pci or the config "
			"file's \"pci\": {\"enabled\": true})");
	expect_vfio(f, (const char *const[]){ NULL });
	assert_int_equal(f->vm.checks, 1);
	teardown(&other);
	assert_int_equal(req(g, "PUT", "/balloon", "{\"amount_mib\": 1, \"deflate_on_oom\": true}"),
			 204);
	assert_int_equal(put(g, "nvme0", "0000:03:00.0"), 400);
	expect_fault_is(CFG_ERR "a VM with a VFIO device cannot have a balloon: its RAM is pinned "
			"for the device's DMA");
}

/* Before boot only, as Firecracker's InsertPassthroughDevice; a bad body still gets serde's words. */
static void test_after_boot(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "DELETE", "/device-passthrough/nvme0", NULL), 400);
	expect_fault_is("The requested operation is not supported before starting the microVM.");
	assert_int_equal(put(f, "nvme0", "0000:03:00.0"), 204);
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
	/* Its id is taken; a bad sbdf is the body's fault, before the VM is asked. */
	assert_int_equal(put(f, "nvme0", "0000:04:00.0"), 400);
	expect_fault_is("Device ID in use");
	assert_int_equal(put(f, "nvme1", "0000:04:00.9"), 400);
	expect_fault_is(SERDE "Invalid device passthrough SBDF: 0000:04:00.9 (the function '9' is "
			"not one digit, 0 to 7) at line 1 column 38.");
	assert_string_equal(plugged, "");
	/* Unplugged: the model lets go of it. */
	assert_int_equal(req(f, "DELETE", "/device-passthrough/nvme9", NULL), 400);
	expect_fault_is("Device not found");
	assert_int_equal(req(f, "DELETE", "/device-passthrough/nvme0", NULL), 204);
	assert_string_equal(unplugged, "vfio:nvme0");
	expect_vfio(f, (const char *const[]){ NULL });
	/* Plugged back under a new id; the VM's refusal leaves the model as it was. */
	assert_int_equal(put(f, "nvme1", "03:00.0"), 204);
	assert_string_equal(plugged, "vfio:nvme1=" SYSFS "0000:03:00.0");
	expect_vfio(f, (const char *const[]){ "nvme1=" SYSFS "0000:03:00.0", NULL });
	plug_ret = -EINVAL;
	assert_int_equal(put(f, "nvme2", "0000:05:00.0"), 400);
	expect_fault_is("VFIO device was not passed through at InstanceStart");
	expect_vfio(f, (const char *const[]){ "nvme1=" SYSFS "0000:03:00.0", NULL });
	/* Paused: neither. */
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 204);
	assert_int_equal(req(f, "DELETE", "/device-passthrough/nvme1", NULL), 400);
	expect_fault_is("hotplug needs a running microVM: resume it first (PATCH /vm Resumed)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test_setup_teardown(test_put_replace, setup_pci, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup_pci, teardown),
		cmocka_unit_test_setup_teardown(test_bodies, setup_pci, teardown),
		cmocka_unit_test_setup_teardown(test_host_check, setup_pci, teardown),
		cmocka_unit_test_setup_teardown(test_vm_rules, setup_pci, teardown),
		cmocka_unit_test_setup_teardown(test_after_boot, setup_pci, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
