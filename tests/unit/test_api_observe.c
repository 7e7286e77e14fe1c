/*
 * The logger, metrics and serial endpoints, FlushMetrics and the request
 * counts on a fake VM (when each is allowed: test_control.c); the config
 * file's sections; and the command line of the binary run as
 * `firecracker`.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/routes.h"
#include "api_req.h"
#include "cli/serve.h"
#include "control/control.h"
#include "fake_vm.h"
#include "util/log.h"
#include "fcjson/config_json.h"
#include "vmm/metrics.h"
#include "vmm/metrics_schema.h"

struct fixture {
	struct ctl ctl;
	struct fake_vm vm;
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(ctl_init(&f->ctl, "obs-1", NULL, &fake_vm_ops, &f->vm), 0);
	snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-obs-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	log_close_file();
	ctl_destroy(&f->ctl);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static const char flush[] = "{\"action_type\": \"FlushMetrics\"}";
static const char start[] = "{\"action_type\": \"InstanceStart\"}";

static void boot(struct fixture *f)
{
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 204);
	assert_int_equal(req(f, "PUT", "/actions", start), 204);
}

static void test_metrics_and_flush(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/metrics", "{}"), 400);
	expect_fault_is(SERDE "missing field `metrics_path` at line 1 column 2.");
	assert_int_equal(req(f, "PUT", "/metrics", "{\"metrics_path\": \"\"}"), 400);
	expect_fault("empty");
	/* Firecracker's properties: strings under string keys, nothing else. */
	assert_int_equal(req(f, "PUT", "/metrics", "{\"metrics_path\": \"/m\", \"properties\": "
			     "{\"a\": 1}}"), 400);
	expect_fault("properties: 'a' is not a string");
	assert_int_equal(req(f, "PUT", "/metrics", "{\"metrics_path\": \"/m\", \"properties\": "
			     "[\"a\"]}"), 400);
	assert_int_equal(req(f, "PUT", "/metrics", "{\"metrics_path\": \"/m\", \"emit_id\": 1}"),
			 400);
	assert_null(f->ctl.cfg.metrics.metrics_path);
	f->vm.open_ret = -ENOENT;
	assert_int_equal(req(f, "PUT", "/metrics", "{\"metrics_path\": \"/no/m\"}"), 400);
	expect_fault("cannot open the metrics file /no/m");
	assert_null(f->ctl.cfg.metrics.metrics_path);
	f->vm.open_ret = 0;
	assert_int_equal(req(f, "PUT", "/metrics", "{\"metrics_path\": \"/m\", \"emit_id\": true, "
			     "\"properties\": {\"team\": \"a\", \"az\": \"x\"}}"), 204);
	assert_string_equal(f->vm.opened, "/m");
	assert_string_equal(f->ctl.cfg.metrics.metrics_path, "/m");
	assert_true(f->ctl.cfg.metrics.emit_id);
	assert_string_equal(f->ctl.cfg.metrics.properties, "{\"az\":\"x\",\"team\":\"a\"}");
	assert_int_equal(req(f, "PUT", "/metrics", "{\"metrics_path\": \"/m2\"}"), 400);
	expect_fault("already configured");
	assert_int_equal(f->vm.opens, 2);

	boot(f);
	assert_int_equal(req(f, "PUT", "/actions", flush), 204);
	assert_int_equal(f->vm.flushes, 1);
	f->vm.flush_ret = -EAGAIN;
	assert_int_equal(req(f, "PUT", "/actions", flush), 400);
	expect_fault("the file is full");
}

static void test_flush_unconfigured(void **state)
{
	struct fixture *f = *state;

	boot(f);
	assert_int_equal(req(f, "PUT", "/actions", flush), 400);
	expect_fault("metrics are not configured");
	assert_int_equal(f->vm.flushes, 0);
}

static void test_logger(void **state)
{
	struct fixture *f = *state;
	char body[256], path[128];
	struct stat st;

	assert_int_equal(req(f, "PUT", "/logger", "{\"level\": \"Loud\"}"), 400);
	expect_fault("level 'Loud' is not one of");
	assert_int_equal(req(f, "PUT", "/logger", "{\"module\": \"api_server\"}"), 400);
	expect_fault("module is not supported");
	assert_int_equal(req(f, "PUT", "/logger", "{\"show_level\": 1}"), 400);
	expect_fault_is(SERDE "invalid type: integer `1`, expected a boolean at line 1 column 16.");
	snprintf(body, sizeof(body), "{\"log_path\": \"%s/none/x.log\"}", f->dir);
	assert_int_equal(req(f, "PUT", "/logger", body), 400);
	expect_fault("cannot open the log file");
	assert_null(f->ctl.cfg.logger.log_path);

	/* Field by field, as Firecracker: the level set first stays with the path set later. */
	assert_int_equal(req(f, "PUT", "/logger", "{\"level\": \"debug\", \"show_level\": true}"),
			 204);
	assert_int_equal(f->ctl.cfg.logger.level, VM_LOG_DEBUG);
	snprintf(path, sizeof(path), "%s/api.log", f->dir);
	snprintf(body, sizeof(body), "{\"log_path\": \"%s\"}", path);
	assert_int_equal(req(f, "PUT", "/logger", body), 204);
	assert_string_equal(f->ctl.cfg.logger.log_path, path);
	assert_int_equal(f->ctl.cfg.logger.level, VM_LOG_DEBUG);
	assert_true(f->ctl.cfg.logger.show_level);
	assert_int_equal(stat(path, &st), 0);
	log_debug("a debug line");
	assert_true(stat(path, &st) == 0 && st.st_size > 0);
}

static void test_serial(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/serial", "{\"serial_out_path\": \"/tmp/s.out\"}"), 204);
	assert_string_equal(f->ctl.cfg.serial_out_path, "/tmp/s.out");
	assert_int_equal(req(f, "PUT", "/serial", "{\"serial_out_path\": 3}"), 400);
	/* A PathBuf in Firecracker: serde's "path string". */
	expect_fault_is(SERDE "invalid type: integer `3`, expected path string at line 1 column 21.");
	/* Firecracker 1.16's rate_limiter: one TokenBucket, in serde's words when malformed. */
	assert_int_equal(req(f, "PUT", "/serial", "{\"rate_limiter\": {\"size\": 1}}"), 400);
	expect_fault("missing field `refill_time`");
	assert_string_equal(f->ctl.cfg.serial_out_path, "/tmp/s.out");
	assert_int_equal(req(f, "PUT", "/serial", "{\"serial_out_path\": \"/tmp/s.out\", "
			     "\"rate_limiter\": {\"size\": 1000, \"refill_time\": 100}}"), 204);
	assert_int_equal(f->ctl.cfg.serial_rl.bandwidth.size, 1000);
	assert_int_equal(f->ctl.cfg.serial_rl.bandwidth.refill_time, 100);
	/* Left out: back to stdout, and no limit. */
	assert_int_equal(req(f, "PUT", "/serial", "{}"), 204);
	assert_null(f->ctl.cfg.serial_out_path);
	assert_false(f->ctl.cfg.serial_rl.bandwidth.set);
}

static long long in(json_t *c, const char *group, const char *name)
{
	json_t *v = json_object_get(json_object_get(c, group), name);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* Hearth's own, by method. */
static long long count(json_t *c, const char *name)
{
	return in(json_object_get(c, METRICS_HEARTH), "api_server", name);
}

static void test_request_counts(void **state)
{
	struct fixture *f = *state;
	json_t *c = json_object();

	req(f, "GET", "/", NULL);
	req(f, "GET", "/nope", NULL);
	req(f, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 128}");
	req(f, "PATCH", "/machine-config", "{\"vcpu_count\": 0}");
	req(f, "DELETE", "/", NULL);
	/* A deprecated field: counted as Firecracker's deprecated_http_api_calls. */
	req(f, "PUT", "/vsock", "{\"vsock_id\": \"v\", \"guest_cid\": 3, \"uds_path\": \"/v\"}");
	ctl_collect_requests(&f->ctl, c);
	assert_int_equal(count(c, "get_requests"), 2);
	assert_int_equal(count(c, "put_requests"), 2);
	assert_int_equal(count(c, "patch_requests"), 1);
	assert_int_equal(count(c, "other_requests"), 1);
	assert_int_equal(count(c, "failed_requests"), 3);
	/* Firecracker's, by endpoint: what its parser would have counted. */
	assert_int_equal(in(c, "get_api_requests", "instance_info_count"), 1);
	assert_int_equal(in(c, "put_api_requests", "machine_cfg_count"), 1);
	assert_int_equal(in(c, "put_api_requests", "machine_cfg_fails"), 0);
	assert_int_equal(in(c, "patch_api_requests", "machine_cfg_count"), 1);
	assert_int_equal(in(c, "patch_api_requests", "machine_cfg_fails"), 1);
	assert_int_equal(in(c, "put_api_requests", "vsock_count"), 1);
	assert_int_equal(in(c, "deprecated_api", "deprecated_http_api_calls"), 1);
	json_decref(c);
}

/* Firecracker's latencies_us: the last pause, resume, snapshot of each, the request's and the VM's. */
static void test_latencies(void **state)
{
	struct fixture *f = *state;
	const struct metrics_group *g = metrics_schema_find("latencies_us");
	json_t *gs = json_object(), *lat;
	const char *k;
	json_t *v;

	boot(f);
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 204);
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Resumed\"}"), 204);
	ctl_collect_latencies(&f->ctl, gs);
	lat = json_object_get(gs, "latencies_us");
	assert_int_equal(json_object_size(lat), g->nfields);
	json_object_foreach(lat, k, v)
		assert_non_null(metrics_schema_field(g, k));
	/* A pause refused is not timed: the last one that succeeded stays. */
	f->ctl.latency_us[0][CTL_LAT_PAUSE] = 12345;
	f->vm.pause_ret = -ETIMEDOUT;
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 400);
	json_decref(gs);
	gs = json_object();
	ctl_collect_latencies(&f->ctl, gs);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(gs, "latencies_us"),
							    "pause_vm")), 12345);
	json_decref(gs);
}

static void test_config_file_sections(void **state)
{
	struct vm_config c;
	struct err err;
	json_t *root;

	(void)state;
	vm_config_init(&c);
	root = json_loads("{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
			  " \"logger\": {\"log_path\": \"/l\", \"level\": \"Warning\","
			  " \"show_log_origin\": true}, \"metrics\": {\"metrics_path\": \"/m\"},"
			  " \"serial\": {\"serial_out_path\": \"/s\"}}", 0, NULL);
	assert_int_equal(config_json_full(&c, root, &err), 0);
	assert_string_equal(c.logger.log_path, "/l");
	assert_int_equal(c.logger.level, VM_LOG_WARNING);
	assert_true(c.logger.show_log_origin);
	assert_string_equal(c.metrics.metrics_path, "/m");
	assert_string_equal(c.serial_out_path, "/s");
	json_decref(root);
	vm_config_release(&c);

	vm_config_init(&c);
	root = json_loads("{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
			  " \"logger\": {\"level\": \"Chatty\"}}", 0, NULL);
	assert_int_equal(config_json_full(&c, root, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "logger: level 'Chatty'"));
	json_decref(root);
	vm_config_release(&c);
}

#define PARSE_FC(ret, ...)                                                           \
	do {                                                                         \
		char *argv[] = { "/usr/bin/firecracker", __VA_ARGS__, NULL };        \
		int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;                \
		assert_int_equal(cli_firecracker_parse(argc, argv, &o, &e), \
				 ret);                                               \
	} while (0)

static void test_firecracker_flags(void **state)
{
	struct serve_opts o;
	struct err e;

	(void)state;
	{
		char *argv[] = { "firecracker", NULL };

		assert_int_equal(cli_firecracker_parse(1, argv, &o, &e), 0);
		assert_string_equal(o.api_sock, "/run/firecracker.socket");
		assert_true(o.firecracker);
		assert_false(o.no_seccomp);
	}
	PARSE_FC(0, "--api-sock=/tmp/fc.sock", "--id", "fc-1", "--log-path", "/l", "--level",
		 "Debug", "--show-level", "--show-log-origin", "--metrics-path", "/m",
		 "--no-seccomp", "--http-api-max-payload-size", "4096", "--start-time-us", "12",
		 "--start-time-cpu-us", "3", "--parent-cpu-time-us", "4");
	assert_string_equal(o.api_sock, "/tmp/fc.sock");
	assert_string_equal(o.host.id, "fc-1");
	assert_true(o.no_seccomp);      /* Firecracker's flag turns Hearth's filters off */
	/* Unjailed, as an unjailed Firecracker: no process sandbox (issue 28). */
	assert_true(o.no_sandbox);
	assert_string_equal(o.host.logger.log_path, "/l");
	assert_int_equal(o.host.logger.level, VM_LOG_DEBUG);
	assert_true(o.host.level_set && o.host.logger.show_level && o.host.logger.show_log_origin);
	assert_string_equal(o.host.metrics_path, "/m");
	assert_int_equal(o.max_payload, 4096);
	assert_true(o.host.have_start_time && o.host.start_time_us == 12);
	assert_true(o.host.have_start_cpu && o.host.start_time_cpu_us == 3 &&
		    o.host.parent_cpu_time_us == 4);
	/* --sandbox, --jail or --new-pid-ns seal it as `hearth serve` does. */
	PARSE_FC(0, "--sandbox");
	assert_false(o.no_sandbox);
	PARSE_FC(0, "--jail", "/j", "--uid", "7", "--gid", "8");
	assert_false(o.no_sandbox);
	PARSE_FC(0, "--new-pid-ns", "--pid-file", "/p");
	assert_false(o.no_sandbox);
	PARSE_FC(-EINVAL, "--sandbox", "--no-sandbox");
	PARSE_FC(0, "--no-api", "--config-file", "/c.json");
	assert_true(o.no_api);
	assert_null(o.api_sock);
	PARSE_FC(0, "--version");
	assert_true(o.version);
	PARSE_FC(0, "--no-sandbox", "--jail", "/j", "--uid", "7", "--gid=8");
	assert_true(o.no_sandbox);
	assert_false(o.no_seccomp);
	assert_string_equal(o.jail, "/j");
	assert_string_equal(o.jail_uid, "7");
	assert_string_equal(o.jail_gid, "8");

	/* Firecracker's boot timer, and its snapshot format flags (issue 28). */
	PARSE_FC(0, "--boot-timer");
	assert_true(o.host.boot_timer);
	PARSE_FC(0, "--snapshot-version");
	assert_true(o.snapshot_version);
	PARSE_FC(0, "--describe-snapshot", "/s");
	assert_string_equal(o.describe_snapshot, "/s");
	/* Firecracker 1.13's PCI: every virtio device on virtio-pci. */
	PARSE_FC(0, "--enable-pci");
	assert_true(o.host.pci);
	PARSE_FC(-EINVAL, "--enable-pci=yes");
	/* The MMDS's: its limit defaults to the API's payload limit, as Firecracker's. */
	PARSE_FC(0, "--metadata", "/m.json");
	assert_string_equal(o.host.metadata, "/m.json");
	assert_int_equal(o.host.mmds_size_limit, 51200);
	PARSE_FC(0, "--http-api-max-payload-size", "1000");
	assert_int_equal(o.host.mmds_size_limit, 1000);
	PARSE_FC(0, "--http-api-max-payload-size", "1000", "--mmds-size-limit", "100");
	assert_int_equal(o.host.mmds_size_limit, 100);
	PARSE_FC(-EINVAL, "--mmds-size-limit", "0");
	assert_string_equal(e.msg, "--mmds-size-limit '0': want 1 to 1073741824 bytes");
	PARSE_FC(-EINVAL, "--mmds-size-limit", "lots");
	assert_non_null(strstr(e.msg, "--mmds-size-limit 'lots'"));
	PARSE_FC(-EINVAL, "--metadata");
	assert_non_null(strstr(e.msg, "'--metadata' needs a value"));
	PARSE_FC(-EINVAL, "--module", "vmm");
	assert_non_null(strstr(e.msg, "--module is not supported by Hearth"));
	PARSE_FC(-EINVAL, "--level", "loud");
	assert_non_null(strstr(e.msg, "--level 'loud'"));
	PARSE_FC(-EINVAL, "--start-time-us", "-1");
	assert_non_null(strstr(e.msg, "--start-time-us '-1'"));
	PARSE_FC(-EINVAL, "--parent-cpu-time-us", "5");
	assert_non_null(strstr(e.msg, "needs --start-time-cpu-us"));
	PARSE_FC(-EINVAL, "--no-seccomp=yes");
	assert_non_null(strstr(e.msg, "takes no value"));
	/* hearth serve's own short flags are not Firecracker's. */
	PARSE_FC(-EINVAL, "-v");
	assert_non_null(strstr(e.msg, "unknown option '-v'"));
	{
		char *argv[] = { "hearth", "serve", "--api-sock", "/s", "--metrics-path", "/m",
				 "--log-path", "/l", "-q", NULL };

		assert_int_equal(cli_serve_parse(9, argv, &o, &e), 0);
		assert_false(o.firecracker);
		assert_string_equal(o.host.metrics_path, "/m");
		assert_int_equal(o.verbose, -1);
	}
	{
		char *argv[] = { "hearth", "serve", "--api-sock", "/s", "--enable-pci", NULL };

		if (cli_serve_parse(5, argv, &o, &e))
			fail_msg("hearth serve --enable-pci: %s", e.msg);
		assert_true(o.host.pci);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_metrics_and_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_unconfigured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_latencies, setup, teardown),
		cmocka_unit_test(test_config_file_sections),
		cmocka_unit_test(test_firecracker_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
