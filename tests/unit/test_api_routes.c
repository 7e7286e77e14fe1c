/*
 * The API's dispatch on a fake VM (no KVM): paths, bodies and what they
 * become; the state rules themselves are test_control.c's. And the
 * server itself on a temporary Unix socket in this process.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/routes.h"
#include "api/server.h"
#include "api_req.h"
#include "cli/serve.h"
#include "control/control.h"
#include "ctl_fixture.h"
#include "fake_vm.h"
#include "hearth-config.h"


static const char *field(const char *name)
{
	static char val[256];
	json_t *o = json_loads(body_out, 0, NULL);
	json_t *v = json_object_get(o, name);

	if (json_is_string(v))
		snprintf(val, sizeof(val), "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(val, sizeof(val), "%lld", (long long)json_integer_value(v));
	else
		snprintf(val, sizeof(val), "<%s>", v ? "other" : "missing");
	json_decref(o);
	return val;
}

static void expect_body(const char *needle)
{
	if (!strstr(body_out, needle))
		fail_msg("'%s' not in '%s'", needle, body_out);
}

static void test_info_and_version(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_string_equal(field("state"), "Not started");
	assert_string_equal(field("id"), "test-1");
	/* Firecracker 1.16's API is the contract; Hearth's name and version are app_name. */
	assert_string_equal(field("vmm_version"), HEARTH_FIRECRACKER_VERSION);
	assert_string_equal(field("app_name"), "hearth " HEARTH_VERSION);
	assert_int_equal(req(f, "GET", "/version", NULL), 200);
	assert_string_equal(field("firecracker_version"), HEARTH_FIRECRACKER_VERSION);
}

static void test_unknown_and_unsupported(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "GET", "/nope", NULL), 400);
	expect_fault("Invalid request method and/or path: GET /nope");
	assert_int_equal(req(f, "DELETE", "/machine-config", NULL), 400);
	expect_fault("Invalid request method and/or path");
	assert_int_equal(req(f, "PUT", "/drives/", "{}"), 400);
	expect_fault("Invalid request");
	assert_int_equal(req(f, "PUT", "/drives/a/b", "{}"), 400);
	expect_fault("Invalid request");
	static const char *const unsup[][2] = {
		{ "PUT", "/hotplug/other" },
	};
	for (size_t i = 0; i < sizeof(unsup) / sizeof(unsup[0]); i++) {
		assert_int_equal(req(f, unsup[i][0], unsup[i][1],
				     unsup[i][0][0] == 'G' ? NULL : "{}"), 400);
		expect_fault("is not supported yet");
	}
	/* Firecracker's method_to_error, whatever the path. */
	assert_int_equal(req(f, "GET", "/", "{}"), 400);
	expect_fault_is("GET request cannot have a body.");
	assert_int_equal(req(f, "PUT", "/nowhere", NULL), 400);
	expect_fault_is("Empty PUT request.");
	assert_int_equal(req(f, "PATCH", "/vm", ""), 400);
	expect_fault_is("Empty PATCH request.");
}

/* PUT /cpu-config: a custom template, then GET /vm/config shows it and machine-config "None". */
static void test_cpu_config(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/cpu-config", "{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", "
			     "\"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": [{\"register\": "
			     "\"eax\", \"bitmap\": \"0b1x\"}]}]}"), 204);
	assert_int_equal(req(f, "GET", "/vm/config", NULL), 200);
	expect_body("\"cpu-config\":{");
	expect_body("\"bitmap\":\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1x\"");
	expect_body("\"cpu_template\":\"None\"");
	assert_int_equal(req(f, "PUT", "/cpu-config", "{\"msr_modifiers\": [{\"addr\": \"10a\", "
			     "\"bitmap\": \"0b1\"}]}"), 400);
	expect_fault("No supported number system prefix found");
	assert_int_equal(req(f, "GET", "/cpu-config", NULL), 400);
	expect_fault("Invalid request method and/or path");
}

/*
 * Found by fuzz/fuzz_api: a fault that quotes bytes which are not UTF-8
 * (the client's own path, or a value cut inside a character) could not
 * be put in JSON, and the client got a bare 500.
 */
static void test_fault_not_utf8(void **state)
{
	struct fixture *f = *state;
	char body[128] = "{\"level\": \"x";

	assert_int_equal(req(f, "GET", "/E\xc6", NULL), 400);
	expect_fault("Invalid request method and/or path");
	/* "%.64s" of the level keeps 'x' and 31.5 two-byte characters. */
	for (int i = 0; i < 32; i++)
		strcat(body, "\xc3\xa9");
	strcat(body, "\"}");
	assert_int_equal(req(f, "PUT", "/logger", body), 400);
	expect_fault("is not one of Error");
}

/*
 * Firecracker's checks at PUT time (test_api.py's test_api_put_update_pre_boot):
 * the kernel, a drive's file and a NIC's TAP are checked by the VM's host
 * before the model takes them; a refusal is the PUT's 400 in Firecracker's
 * words, and the model stays as it was.
 */
static void test_put_time_checks(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/missing\"}"),
			 400);
	expect_fault("The kernel file cannot be opened: No such file or directory (os error 2)");
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\", "
			     "\"initrd_path\": \"/missing\"}"), 400);
	expect_fault("The initrd file cannot be opened");
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 204);
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/missing\"}"),
			 400);
	assert_string_equal(f->ctl.cfg.boot.kernel_image_path, "/k");
	assert_int_equal(req(f, "PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", "
			     "\"path_on_host\": \"/missing.img\", \"is_root_device\": true}"), 400);
	expect_fault("Error manipulating the backing file: No such file or directory (os error 2) "
		     "/missing.img");
	assert_int_equal(f->ctl.cfg.ndrives, 0);
	assert_int_equal(req(f, "PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", "
			     "\"path_on_host\": \"/r.img\", \"is_root_device\": true}"), 204);
	/* The second root is refused in Firecracker's words before the file is looked at. */
	f->vm.checks = 0;
	assert_int_equal(req(f, "PUT", "/drives/data", "{\"drive_id\": \"data\", "
			     "\"path_on_host\": \"/missing.img\", \"is_root_device\": true}"), 400);
	expect_fault("A root block device already exists!");
	assert_int_equal(f->vm.checks, 0);
	assert_int_equal(req(f, "PUT", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", "
			     "\"host_dev_name\": \"missing0\"}"), 400);
	expect_fault("Could not create the network device");
	assert_int_equal(f->ctl.cfg.nnets, 0);
	assert_int_equal(req(f, "PUT", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", "
			     "\"host_dev_name\": \"tap0\", \"guest_mac\": \"06:00:00:00:00:01\"}"),
			 204);
	assert_int_equal(req(f, "PUT", "/network-interfaces/eth1", "{\"iface_id\": \"eth1\", "
			     "\"host_dev_name\": \"tap1\", \"guest_mac\": \"06:00:00:00:00:01\"}"),
			 400);
	expect_fault("The MAC address is already in use: 06:00:00:00:00:01");
	assert_int_equal(req(f, "PUT", "/network-interfaces/eth1", "{\"iface_id\": \"eth1\", "
			     "\"host_dev_name\": \"tap0\"}"), 400);
	expect_fault("Could not create the network device");
	assert_int_equal(f->ctl.cfg.nnets, 1);
}

/*
 * Firecracker's "Deprecation: true" (test_api.py's test_api_vsock,
 * test_negative_machine_config_api, test_negative_snapshot_load_api):
 * for a deprecated field given, whether the request succeeds or not.
 */
static void test_deprecation(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/vsock", "{\"guest_cid\": 15}"), 204);
	assert_false(deprecated_out);
	assert_int_equal(req(f, "PUT", "/vsock", "{\"vsock_id\": \"vsock1\", \"guest_cid\": 15}"),
			 204);
	assert_true(deprecated_out);
	assert_int_equal(req(f, "PUT", "/vsock", "{\"vsock_id\": null, \"guest_cid\": 16}"), 204);
	assert_false(deprecated_out);
	assert_int_equal(req(f, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": "
			     "256, \"cpu_template\": \"None\"}"), 204);
	assert_true(deprecated_out);
	assert_int_equal(req(f, "PATCH", "/machine-config", "{\"cpu_template\": \"None\"}"), 204);
	assert_true(deprecated_out);
	assert_int_equal(req(f, "PATCH", "/machine-config", "{\"vcpu_count\": 1}"), 204);
	assert_false(deprecated_out);
	/* Refused (the model is configured), and still deprecated. */
	assert_int_equal(req(f, "PUT", "/snapshot/load", "{\"snapshot_path\": \"foo\", "
			     "\"mem_file_path\": \"bar\"}"), 400);
	assert_true(deprecated_out);
	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_false(deprecated_out);
}

static void test_config_round_trip(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/machine-config",
			     "{\"vcpu_count\": 2, \"mem_size_mib\": 512}"), 204);
	assert_string_equal(body_out, "");
	assert_int_equal(req(f, "GET", "/machine-config", NULL), 200);
	assert_string_equal(field("vcpu_count"), "2");
	assert_string_equal(field("mem_size_mib"), "512");
	assert_int_equal(req(f, "PATCH", "/machine-config", "{\"mem_size_mib\": 1024}"), 204);
	assert_int_equal(req(f, "GET", "/machine-config", NULL), 200);
	assert_string_equal(field("vcpu_count"), "2");
	assert_string_equal(field("mem_size_mib"), "1024");
	assert_int_equal(req(f, "PUT", "/machine-config", "{\"vcpu_count\": 2}"), 400);
	/* Firecracker's test_api_machine_config: "missing field `mem_size_mib` at line 1 column 17." */
	expect_fault_is(SERDE "missing field `mem_size_mib` at line 1 column 17.");
	assert_int_equal(req(f, "PUT", "/machine-config", "{\"mem_size_mib\": 128}"), 400);
	/* ... and "missing field `vcpu_count` at line 1 column 21." */
	expect_fault_is(SERDE "missing field `vcpu_count` at line 1 column 21.");
	assert_int_equal(req(f, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": "
			     "-2}"), 400);
	expect_fault_is(SERDE "invalid value: integer `-2`, expected usize at line 1 column 36.");
	assert_int_equal(req(f, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": "
			     "128, \"smt\": \"random_string\"}"), 400);
	expect_fault_is(SERDE "invalid type: string \"random_string\", expected a boolean at line 1 "
			"column 61.");
	assert_int_equal(req(f, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": "
			     "128, \"cpu_template\": \"random_string\"}"), 400);
	expect_fault_is(SERDE "unknown variant `random_string`, expected one of `C3`, `T2`, `T2S`, "
			"`None`, `T2CL`, `T2A` at line 1 column 70.");
	assert_int_equal(req(f, "PUT", "/machine-config", "{bad"), 400);
	expect_fault_is(SERDE "key must be a string at line 1 column 2.");
	assert_int_equal(req(f, "PUT", "/machine-config", NULL), 400);
	expect_fault_is("Empty PUT request.");
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\", "
			     "\"foo\": 1}"), 400);
	expect_fault_is(SERDE "unknown field `foo`, expected one of `kernel_image_path`, "
			"`initrd_path`, `boot_args` at line 1 column 33.");
	assert_int_equal(req(f, "PUT", "/drives/rootfs",
			     "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r\","
			     " \"is_root_device\": true}"), 204);
	assert_int_equal(req(f, "PUT", "/drives/x",
			     "{\"drive_id\": \"y\", \"path_on_host\": \"/r\","
			     " \"is_root_device\": false}"), 400);
	expect_fault_is("The id from the path does not match the id from the body!");
	assert_int_equal(req(f, "PUT", "/network-interfaces/eth0",
			     "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}"), 204);
	assert_int_equal(req(f, "PUT", "/vsock", "{\"guest_cid\": 3}"), 204);
	assert_int_equal(req(f, "PUT", "/entropy", "{}"), 204);
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 204);
	assert_int_equal(req(f, "GET", "/vm/config", NULL), 200);
	assert_non_null(strstr(body_out, "\"kernel_image_path\":\"/k\""));
	assert_non_null(strstr(body_out, "\"drive_id\":\"rootfs\""));
	assert_non_null(strstr(body_out, "\"host_dev_name\":\"tap0\""));
	assert_non_null(strstr(body_out, "\"guest_cid\":3"));
	assert_non_null(strstr(body_out, "\"mem_size_mib\":1024"));
	assert_non_null(strstr(body_out, "\"entropy\":{\"rate_limiter\":null}"));
}

static void test_start_pause_and_ctrl_alt_del(void **state)
{
	struct fixture *f = *state;

	/* No kernel yet; bodies that are no action. */
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 400);
	expect_fault("kernel_image_path is not set");
	assert_int_equal(f->vm.starts, 0);
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"Reboot\"}"), 400);
	expect_fault_is(SERDE "unknown variant `Reboot`, expected one of `FlushMetrics`, "
			"`InstanceStart`, `SendCtrlAltDel` at line 1 column 24.");
	assert_int_equal(req(f, "PUT", "/actions", "{\"type\": \"InstanceStart\"}"), 400);
	expect_fault_is(SERDE "unknown field `type`, expected `action_type` at line 1 column 7.");

	/* A failing start is a 400 with the VM's message, and the state stays. */
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 204);
	assert_int_equal(req(f, "PUT", "/machine-config",
			     "{\"vcpu_count\": 3, \"mem_size_mib\": 128}"), 204);
	f->vm.start_ret = -ENOENT;
	f->vm.start_msg = "/dev/kvm: cannot open: No such file or directory";
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 400);
	expect_fault("/dev/kvm");
	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_string_equal(field("state"), "Not started");

	f->vm.start_ret = 0;
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
	/*
	 * Firecracker reads a body before it looks at the state: after boot
	 * an unreadable one is answered as unreadable, a readable one (even
	 * with a bad value) as too late.
	 */
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\", "
			     "\"foo\": 1}"), 400);
	expect_fault_is(SERDE "unknown field `foo`, expected one of `kernel_image_path`, "
			"`initrd_path`, `boot_args` at line 1 column 33.");
	assert_int_equal(req(f, "PUT", "/drives/x", "{\"drive_id\": \"y\", \"path_on_host\": "
			     "\"/r\", \"is_root_device\": false}"), 400);
	expect_fault_is("The id from the path does not match the id from the body!");
	/* Firecracker 1.16: after boot a PUT /drives plugs, and DELETE unplugs, on PCI only. */
	assert_int_equal(req(f, "PUT", "/drives/x", "{\"drive_id\": \"x\", \"path_on_host\": "
			     "\"/r\", \"is_root_device\": false}"), 400);
	expect_fault_is("PCI is not enabled");
	assert_int_equal(req(f, "DELETE", "/drives/rootfs", NULL), 400);
	expect_fault_is("PCI is not enabled");
	assert_int_equal(req(f, "DELETE", "/drives/rootfs", "{}"), 400);
	expect_fault_is("Empty Delete request.");
	assert_int_equal(req(f, "PUT", "/machine-config", "{\"vcpu_count\": 0, "
			     "\"mem_size_mib\": 128}"), 400);
	expect_fault_is("The requested operation is not supported after starting the microVM.");
	assert_int_equal(f->vm.starts, 2);
	assert_int_equal(f->vm.vcpus_seen, 3);
	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_string_equal(field("state"), "Running");

	/* A disk whose requests did not complete in time: a 400 that says so, still running. */
	f->vm.pause_ret = -EBUSY;
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 400);
	expect_fault("a disk's requests in flight did not complete in time");
	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_string_equal(field("state"), "Running");
	f->vm.pause_ret = 0;
	f->vm.pauses = 0;

	/* Pause and resume; asking again for the current state is a no-op. */
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 204);
	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_string_equal(field("state"), "Paused");
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 204);
	assert_int_equal(f->vm.pauses, 1);
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Resumed\"}"), 204);
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Resumed\"}"), 204);
	assert_int_equal(f->vm.resumes, 1);
	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_string_equal(field("state"), "Running");
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Stopped\"}"), 400);
	expect_fault_is(SERDE "unknown variant `Stopped`, expected `Paused` or `Resumed` at line 1 "
			"column 19.");

	/* Ctrl-Alt-Del reaches the VM; a guest not reading its keyboard is a 400. */
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), 204);
	assert_int_equal(f->vm.cads, 1);
	f->vm.cad_ret = -ENOSPC;
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), 400);
	expect_fault("not reading its keyboard");
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": 1}"), 400);
	/* serde_json reads an enum from a string only: anything else is "expected value". */
	expect_fault_is(SERDE "expected value at line 1 column 11.");
}

static void test_instance_id(void **state)
{
	struct err err;

	(void)state;
	assert_int_equal(ctl_check_id("vm-01", &err), 0);
	assert_int_equal(ctl_check_id("", &err), -EINVAL);
	assert_int_equal(ctl_check_id("a_b", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'a_b'"));
	assert_int_equal(ctl_check_id(
		"0123456789012345678901234567890123456789012345678901234567890123", &err), 0);
	assert_int_equal(ctl_check_id(
		"01234567890123456789012345678901234567890123456789012345678901234", &err), -EINVAL);
}

static void test_serve_parse(void **state)
{
	struct serve_opts o;
	struct err e;

	(void)state;
	{
		char *argv[] = { "hearth", "serve", "--api-sock", "/tmp/s", "--id", "a-1",
				 "--http-api-max-payload-size", "1000", NULL };
		assert_int_equal(cli_serve_parse(8, argv, &o, &e), 0);
		assert_string_equal(o.api_sock, "/tmp/s");
		assert_string_equal(o.host.id, "a-1");
		assert_int_equal(o.max_payload, 1000);
		assert_false(o.no_api);
	}
	{
		char *argv[] = { "hearth", "serve", "--no-api", "--config-file", "/c.json", NULL };
		assert_int_equal(cli_serve_parse(5, argv, &o, &e), 0);
		assert_true(o.no_api);
		assert_int_equal(o.max_payload, API_DEFAULT_MAX_PAYLOAD);
	}
	{
		char *argv[] = { "hearth", "serve", NULL };
		assert_int_equal(cli_serve_parse(2, argv, &o, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "--api-sock"));
	}
	{
		char *argv[] = { "hearth", "serve", "--no-api", NULL };
		assert_int_equal(cli_serve_parse(3, argv, &o, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "--config-file"));
	}
	{
		char *argv[] = { "hearth", "serve", "--api-sock", NULL };
		assert_int_equal(cli_serve_parse(3, argv, &o, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "needs a value"));
	}
	{
		char *argv[] = { "hearth", "serve", "--api-sock", "/s", "--id", "x y", NULL };
		assert_int_equal(cli_serve_parse(6, argv, &o, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "--id 'x y'"));
	}
	{
		char *argv[] = { "hearth", "serve", "--api-sock", "/s", "--no-api", "--config-file",
				 "/c", NULL };
		assert_int_equal(cli_serve_parse(7, argv, &o, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "exclude"));
	}
	{
		char *argv[] = { "hearth", "serve", "--api-sock", "/s",
				 "--http-api-max-payload-size", "12k", NULL };
		assert_int_equal(cli_serve_parse(6, argv, &o, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "'12k'"));
	}
}

/* Sends one raw HTTP request on a new connection; returns the status code. */
static int http(const char *path, const char *request, char *resp, size_t resplen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t got = 0;
	int fd, code = -1;
	ssize_t n;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while (got + 1 < resplen && (n = read(fd, resp + got, resplen - 1 - got)) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	close(fd);
	if (sscanf(resp, "HTTP/1.1 %d", &code) != 1)
		fail_msg("no status line in '%s'", resp);
	return code;
}

static void test_server_on_socket(void **state)
{
	struct fixture *f = *state;
	char dir[] = "/tmp/hearth-api-XXXXXX";
	char path[96], resp[2048];
	struct err err;
	struct api_server *srv;
	struct stat st;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/api.sock", dir);

	/* A regular file at the path is refused and left alone. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(api_server_start(&srv, path, &f->ctl, 64, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "not a socket"));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(path);

	/* A stale socket (nobody listening) is replaced. */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	assert_int_equal(api_server_start(&srv, path, &f->ctl, 64, &err), 0);
	{
		struct api_server *second;

		/* A live one is not. */
		assert_int_equal(api_server_start(&second, path, &f->ctl, 64, &err),
				 -EEXIST);
		assert_non_null(strstr(err.msg, "another process"));
	}
	assert_int_equal(http(path, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			      resp, sizeof(resp)), 200);
	assert_non_null(strstr(resp, "\"state\":\"Not started\""));
	assert_int_equal(http(path, "PUT /vsock HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			      "Content-Length: 16\r\n\r\n{\"guest_cid\": 3}", resp, sizeof(resp)), 204);
	/* Over the 64-byte limit: 400, and the server goes on. */
	assert_int_equal(http(path, "PUT /vsock HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			      "Content-Length: 80\r\n\r\n{\"guest_cid\": 3,                                "
			      "                                }", resp, sizeof(resp)), 400);
	assert_non_null(strstr(resp, "larger than the limit of 64"));
	assert_int_equal(http(path, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			      resp, sizeof(resp)), 400);
	assert_int_equal(http(path, "GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			      resp, sizeof(resp)), 200);
	api_server_stop(srv);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_info_and_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_unsupported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_not_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_time_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deprecation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_pause_and_ctrl_alt_del, setup, teardown),
		cmocka_unit_test(test_instance_id),
		cmocka_unit_test(test_serve_parse),
		cmocka_unit_test_setup_teardown(test_server_on_socket, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
