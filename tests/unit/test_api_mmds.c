/*
 * The MMDS's API on a fake VM: PUT/PATCH/GET /mmds in every state and
 * their 413; PUT /mmds/config's checks in Firecracker's words, its
 * pre-boot rule, boot_path, and GET /vm/config's "mmds-config"; the
 * config file's section; --metadata and --mmds-size-limit's store
 * (ctl_mmds_init); the store's version following the config.
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

#include "api_req.h"
#include "control/control.h"
#include "mmds/mmds.h"
#include "ctl_fixture.h"
#include "fake_vm.h"
#include "fcjson/config_json.h"


static void expect_body(const char *want)
{
	if (strcmp(body_out, want))
		fail_msg("body '%s', want '%s'", body_out, want);
}

static const char net[] = "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}";

static void test_data(void **state)
{
	struct fixture *f = *state;

	/* Never PUT: {}; PATCH refused in Firecracker's words. */
	assert_int_equal(req(f, "GET", "/mmds", NULL), 200);
	expect_body("{}");
	assert_int_equal(req(f, "PATCH", "/mmds", "{\"a\": 1}"), 400);
	expect_fault("MMDS error: The MMDS data store is not initialized.");
	assert_int_equal(req(f, "PUT", "/mmds", "{\"b\": {\"y\": 1, \"x\": [\"s\"]}, \"a\": \"t\"}"),
			 204);
	assert_int_equal(req(f, "GET", "/mmds", NULL), 200);
	expect_body("{\"a\":\"t\",\"b\":{\"x\":[\"s\"],\"y\":1}}");
	assert_int_equal(req(f, "PATCH", "/mmds", "{\"b\": {\"y\": null}, \"c\": 3}"), 204);
	assert_int_equal(req(f, "GET", "/mmds", NULL), 200);
	expect_body("{\"a\":\"t\",\"b\":{\"x\":[\"s\"]},\"c\":3}");
	/* Any JSON value is a document, as Firecracker's. */
	assert_int_equal(req(f, "PUT", "/mmds", "\"text\""), 204);
	assert_int_equal(req(f, "GET", "/mmds", NULL), 200);
	expect_body("\"text\"");
	assert_int_equal(req(f, "PUT", "/mmds", "{\"a\": "), 400);
	expect_fault("not JSON");
	assert_int_equal(req(f, "PUT", "/mmds", NULL), 400);
	/* Only these paths: anything else under /mmds is no route. */
	assert_int_equal(req(f, "GET", "/mmds/config", NULL), 400);
	expect_fault("Invalid request method and/or path: GET /mmds/config");
	assert_int_equal(req(f, "DELETE", "/mmds", NULL), 400);
}

static void test_limit_is_413(void **state)
{
	struct fixture *f = *state;
	struct err e = ERR_INIT;
	char *big = malloc(70000);

	/* The default limit is Firecracker's payload limit, 51200 bytes of compact JSON. */
	memset(big, 'x', 70000);
	memcpy(big, "{\"k\":\"", 6);
	strcpy(big + 51200 - 1, "\"}");   /* 51201 bytes */
	assert_int_equal(req(f, "PUT", "/mmds", big), 413);
	expect_fault("MMDS limit exceeded error: The MMDS patch request doesn't fit.");
	strcpy(big + 51200 - 2, "\"}");   /* 51200 bytes: fits exactly */
	assert_int_equal(req(f, "PUT", "/mmds", big), 204);
	assert_int_equal(req(f, "PATCH", "/mmds", "{\"more\": 1}"), 413);
	free(big);

	/* --mmds-size-limit and --metadata: a new store, filled. */
	assert_int_equal(ctl_mmds_init(&f->ctl, 20, "{\"m\": \"d\"}", 10, &e), 0);
	assert_int_equal(req(f, "GET", "/mmds", NULL), 200);
	expect_body("{\"m\":\"d\"}");
	assert_int_equal(req(f, "PATCH", "/mmds", "{\"n\": \"0123456789\"}"), 413);
	assert_ptr_equal(f->ctl.cfg.mmds_store, f->ctl.mmds);
	/* A file over the limit, or not JSON: refused, the old store kept. */
	assert_int_equal(ctl_mmds_init(&f->ctl, 5, "{\"m\": \"d\"}", 10, &e), -EFBIG);
	assert_true(e.usage);
	assert_int_equal(ctl_mmds_init(&f->ctl, 0, "{", 1, &e), -EINVAL);
	assert_int_equal(req(f, "GET", "/mmds", NULL), 200);
	expect_body("{\"m\":\"d\"}");
}

static void test_config(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "GET", "/vm/config", NULL), 200);
	assert_non_null(strstr(body_out, "\"mmds-config\":null"));
	/* Firecracker's checks, its words ("MMMDS" is its typo). */
	assert_int_equal(req(f, "PUT", "/mmds/config", "{\"network_interfaces\": []}"), 400);
	expect_fault("MMMDS config error: The list of network interface IDs that allow "
		     "forwarding MMDS requests is empty.");
	assert_int_equal(req(f, "PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"]}"),
			 400);
	expect_fault("MMMDS config error: The list of network interface IDs provided contains at "
		     "least one ID that does not correspond to any existing network interface.");
	assert_int_equal(req(f, "PUT", "/network-interfaces/eth0", net), 204);
	assert_int_equal(req(f, "PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"], "
			     "\"ipv4_address\": \"10.0.0.1\"}"), 400);
	expect_fault("MMMDS config error: The MMDS IPv4 address is not link local.");
	/* The network's own address and its broadcast: link local, but no host's (audit). */
	assert_int_equal(req(f, "PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"], "
			     "\"ipv4_address\": \"169.254.0.0\"}"), 400);
	expect_fault("169.254.0.0 or 169.254.255.255");
	assert_int_equal(req(f, "PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"], "
			     "\"ipv4_address\": \"169.254.255.255\"}"), 400);
	expect_fault("169.254.0.0 or 169.254.255.255");
	assert_int_equal(req(f, "PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"], "
			     "\"ipv4_address\": \"nope\"}"), 400);
	expect_fault("ipv4_address 'nope'");
	assert_int_equal(req(f, "PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"], "
			     "\"version\": \"V3\"}"), 400);
	expect_fault("unknown variant `V3`, expected `V1` or `V2`");
	assert_int_equal(req(f, "PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"], "
			     "\"extra\": 1}"), 400);
	assert_int_equal(req(f, "PUT", "/mmds/config", "{\"version\": \"V2\"}"), 400);
	/* Nothing stuck from the refusals. */
	assert_false(f->ctl.cfg.mmds.on);
	assert_int_equal(mmds_get_version(f->ctl.mmds), MMDS_V1);

	/* Defaults: V1, 169.254.169.254, no imds_compat. */
	assert_int_equal(req(f, "PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"]}"),
			 204);
	assert_int_equal(req(f, "GET", "/vm/config", NULL), 200);
	assert_non_null(strstr(body_out, "\"mmds-config\":{\"version\":\"V1\",\"imds_compat\":false,"
			       "\"network_interfaces\":[\"eth0\"],\"ipv4_address\":\"169.254.169.254\"}"));
	assert_int_equal(req(f, "PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"], "
			     "\"version\": \"V2\", \"ipv4_address\": \"169.254.1.2\", "
			     "\"imds_compat\": true}"), 204);
	/* What the NICs read: the fields, and the store's version. */
	assert_true(f->ctl.cfg.mmds.on);
	assert_int_equal(f->ctl.cfg.mmds.version, MMDS_V2);
	assert_true(f->ctl.cfg.mmds.imds_compat);
	assert_int_equal(f->ctl.cfg.mmds.ipv4_be, __builtin_bswap32(0xa9fe0102u));
	assert_true(vm_config_mmds_net(&f->ctl.cfg, "eth0"));
	assert_false(vm_config_mmds_net(&f->ctl.cfg, "eth1"));
	assert_int_equal(mmds_get_version(f->ctl.mmds), MMDS_V2);
	/* Firecracker's boot_path: a snapshot load is refused after it. */
	assert_true(f->ctl.boot_path);

	/* The config file takes GET /vm/config's section back. */
	{
		struct vm_config c;
		struct err e = ERR_INIT;
		json_t *root;

		assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"),
				 204);
		assert_int_equal(req(f, "GET", "/vm/config", NULL), 200);
		root = json_loads(body_out, 0, NULL);
		assert_non_null(root);
		vm_config_init(&c);
		assert_int_equal(config_json_full(&c, root, &e), 0);
		assert_true(c.mmds.on && c.mmds.version == MMDS_V2 && c.mmds.imds_compat);
		assert_string_equal(c.mmds.nets[0], "eth0");
		vm_config_release(&c);
		/* Naming a NIC the file does not have is Firecracker's refusal. */
		json_object_set_new(root, "network-interfaces", json_array());
		vm_config_init(&c);
		assert_int_equal(config_json_full(&c, root, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "does not correspond to any existing network"));
		vm_config_release(&c);
		json_decref(root);
	}

	/* After boot: the config is closed, the data is not. */
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
	assert_int_equal(req(f, "PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"]}"),
			 400);
	expect_fault(CTL_NOT_AFTER_START);
	assert_int_equal(req(f, "PUT", "/mmds", "{\"after\": \"boot\"}"), 204);
	assert_int_equal(req(f, "PATCH", "/mmds", "{\"again\": 1}"), 204);
	assert_int_equal(req(f, "GET", "/mmds", NULL), 200);
	expect_body("{\"after\":\"boot\",\"again\":1}");
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 204);
	/* As Firecracker, a snapshot carries the MMDS config (not the data): see test_snapshot_load_host. */
	assert_int_equal(req(f, "PUT", "/snapshot/create", "{\"snapshot_path\": \"/s\", "
			     "\"mem_file_path\": \"/m\"}"), 204);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_is_413, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
