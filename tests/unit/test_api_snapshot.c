/*
 * PUT /snapshot/create and /snapshot/load on a fake VM (no KVM): the
 * bodies in Firecracker's shapes, bad ones refused with a message, the
 * state after a load (in which states each is allowed: test_control.c);
 * and `hearth restore`'s flags.
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
#include "cli/restore.h"
#include "control/control.h"
#include "ctl_fixture.h"
#include "fake_vm.h"


#define CREATE "{\"snapshot_path\": \"/s/vm.snap\", \"mem_file_path\": \"/s/vm.mem\"}"
#define LOAD "{\"snapshot_path\": \"/s/vm.snap\", \"mem_backend\": {\"backend_type\": " \
	     "\"File\", \"backend_path\": \"/s/vm.mem\"}}"

static void boot(struct fixture *f)
{
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 204);
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
}

static void test_create(void **state)
{
	struct fixture *f = *state;

	boot(f);
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 204);
	assert_int_equal(req(f, "PUT", "/snapshot/create", CREATE), 204);
	assert_int_equal(f->vm.creates, 1);
	assert_false(f->vm.last_diff);
	assert_string_equal(f->vm.last_snap, "/s/vm.snap");
	assert_string_equal(f->vm.last_mem, "/s/vm.mem");
	assert_int_equal(req(f, "PUT", "/snapshot/create", "{\"snapshot_type\": \"Diff\", "
			     "\"snapshot_path\": \"/a\", \"mem_file_path\": \"/b\"}"), 204);
	assert_true(f->vm.last_diff);
}

static void test_create_bad_bodies(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[][2] = {
		{ "{\"mem_file_path\": \"/b\"}",
		  SERDE "missing field `snapshot_path` at line 1 column 23." },
		{ "{\"snapshot_path\": \"/a\"}",
		  SERDE "missing field `mem_file_path` at line 1 column 23." },
		{ "{\"snapshot_type\": \"Half\", \"snapshot_path\": \"/a\", \"mem_file_path\": \"/b\"}",
		  SERDE "unknown variant `Half`, expected `Diff` or `Full` at line 1 column 24." },
		{ "{\"snapshot_path\": \"\", \"mem_file_path\": \"/b\"}", "must not be empty" },
		{ "{\"snapshot_path\": \"/a\", \"mem_file_path\": \"/a\"}", "the same file" },
		{ "{\"snapshot_path\": 3, \"mem_file_path\": \"/b\"}",
		  SERDE "invalid type: integer `3`, expected path string at line 1 column 19." },
		{ "{\"snapshot_path\": \"/a\", \"mem_file_path\": \"/b\", \"x\": 1}",
		  SERDE "unknown field `x`, expected one of `snapshot_type`, `snapshot_path`, "
		  "`mem_file_path`, `version` at line 1 column 50." },
		{ "[1]", SERDE "invalid type: sequence, expected struct CreateSnapshotParams at line "
		  "1 column 0." },
	};

	boot(f);
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 204);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(req(f, "PUT", "/snapshot/create", bad[i][0]), 400);
		if (!strncmp(bad[i][1], SERDE, strlen(SERDE)))
			expect_fault_is(bad[i][1]);
		else
			expect_fault(bad[i][1]);
	}
	assert_int_equal(f->vm.creates, 0);
}

static void test_load_ok_paused_and_resumed(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/snapshot/load", LOAD), 204);
	assert_int_equal(f->vm.loads, 1);
	assert_false(f->vm.last_resume);
	assert_string_equal(f->vm.last_mem, "/s/vm.mem");
	assert_int_equal(f->ctl.state, CTL_PAUSED);
	/* The snapshot's config is the instance's now. */
	assert_int_equal(f->ctl.cfg.machine.vcpu_count, 3);
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Resumed\"}"), 204);
	assert_int_equal(f->ctl.state, CTL_RUNNING);
}

/* The Uffd backend: its backend_path is the handler's socket, and the load is told it is one. */
static void test_load_uffd(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/snapshot/load", "{\"snapshot_path\": \"/s\", "
			     "\"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": "
			     "\"/run/h.sock\"}, \"track_dirty_pages\": true}"), 204);
	assert_int_equal(f->vm.loads, 1);
	assert_true(f->vm.last_uffd);
	assert_true(f->vm.last_dirty);
	assert_string_equal(f->vm.last_mem, "/run/h.sock");
	assert_int_equal(f->ctl.state, CTL_PAUSED);
}

static void test_load_file_is_not_uffd(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/snapshot/load", LOAD), 204);
	assert_false(f->vm.last_uffd);
}

static void test_load_fields(void **state)
{
	struct fixture *f = *state;

	/* The deprecated names, resume, an override. */
	assert_int_equal(req(f, "PUT", "/snapshot/load", "{\"snapshot_path\": \"/s\", "
			     "\"mem_file_path\": \"/m\", \"enable_diff_snapshots\": true, "
			     "\"resume_vm\": true, \"network_overrides\": [{\"iface_id\": \"eth0\", "
			     "\"host_dev_name\": \"tap9\"}]}"), 204);
	assert_string_equal(f->vm.last_mem, "/m");
	assert_true(f->vm.last_dirty);
	assert_true(f->vm.last_resume);
	assert_string_equal(f->vm.last_tap, "eth0=tap9");
	assert_int_equal(f->ctl.state, CTL_RUNNING);
	assert_string_equal(f->vm.last_drive, "");
	assert_string_equal(f->vm.last_vsock, "");
	assert_false(f->vm.last_clock_realtime);
}

/* Firecracker 1.16's clock_realtime reaches the load. */
static void test_load_clock_realtime(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/snapshot/load", "{\"snapshot_path\": \"/s\", "
			     "\"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": "
			     "\"/m\"}, \"clock_realtime\": true}"), 204);
	assert_true(f->vm.last_clock_realtime);
}

/* Firecracker main's huge_pages on the load (past 1.16): "Snapshot" keeps the snapshot's. */
static void test_load_huge_pages(void **state)
{
	struct fixture *f = *state;
	static const char head[] = "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": "
				   "\"File\", \"backend_path\": \"/m\"}, \"huge_pages\": ";
	char body[256];

	snprintf(body, sizeof(body), "%s\"Transparent\"}", head);
	assert_int_equal(req(f, "PUT", "/snapshot/load", body), 204);
	assert_true(f->vm.last_huge_set);
	assert_int_equal(f->vm.last_huge, VM_HUGE_PAGES_THP);
}

static void test_load_huge_pages_snapshot(void **state)
{
	struct fixture *f = *state;
	static const char head[] = "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": "
				   "\"File\", \"backend_path\": \"/m\"}, \"huge_pages\": ";
	char body[256];

	snprintf(body, sizeof(body), "%s\"2m\"}", head);
	assert_int_equal(req(f, "PUT", "/snapshot/load", body), 400);
	expect_fault("unknown variant `2m`, expected one of `Snapshot`, `None`, `Transparent`, `2M`");
	snprintf(body, sizeof(body), "%s\"Snapshot\"}", head);
	assert_int_equal(req(f, "PUT", "/snapshot/load", body), 204);
	assert_false(f->vm.last_huge_set);
}

/*
 * Hearth's overrides (drive_overrides, a user-mode NIC's backend) and
 * Firecracker's vsock_override reach the load; the KVM path and COM1's
 * output are the process's (PUT /serial before the load), never the
 * body's.
 */
static void test_load_overrides(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/serial", "{\"serial_out_path\": \"/out\"}"), 204);
	assert_int_equal(req(f, "PUT", "/snapshot/load", "{\"snapshot_path\": \"/s\", "
			     "\"mem_file_path\": \"/m\", \"drive_overrides\": [{\"drive_id\": "
			     "\"rootfs\", \"path_on_host\": \"/d.img\", \"is_read_only\": true}], "
			     "\"network_overrides\": "
			     "[{\"iface_id\": \"eth1\", \"backend\": \"user,hostfwd=tcp:1-:2\"}], "
			     "\"vsock_override\": {\"uds_path\": \"/v.sock\"}, \"pmem_overrides\": "
			     "[{\"id\": \"p0\", \"path_on_host\": \"/p0\", \"read_only\": true}, "
			     "{\"id\": \"p1\", \"path_on_host\": \"/p1\", \"read_only\": false}]}"),
			 204);
	assert_string_equal(f->vm.last_drive, "rootfs=/d.img");
	assert_string_equal(f->vm.last_pmem, "p0=ro:/p0 p1=rw:/p1");
	assert_string_equal(f->vm.last_backend, "eth1=user,hostfwd=tcp:1-:2");
	assert_string_equal(f->vm.last_vsock, "/v.sock");
	assert_string_equal(f->vm.last_serial, "/out");
	assert_string_equal(f->vm.last_kvm, "");
}

static void test_load_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[][2] = {
		{ "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"Uffd\"}}",
		  "backend_path" },
		{ "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"Uffd\", "
		  "\"backend_path\": \"\"}}", "must not be empty" },
		{ "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"Uffd\", "
		  "\"backend_path\": 7}}", "invalid type: integer `7`, expected path string" },
		{ "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"uffd\", "
		  "\"backend_path\": \"/u\"}}", "unknown variant `uffd`, expected `File` or `Uffd`" },
		{ "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"Disk\", "
		  "\"backend_path\": \"/u\"}}",
		  SERDE "unknown variant `Disk`, expected `File` or `Uffd` at line 1 column 62." },
		/* Firecracker's test_parse_put_snapshot: MISSING_FIELD and TOO_MANY_FIELDS. */
		{ "{\"snapshot_path\": \"/s\"}",
		  SERDE "missing field: either `mem_backend` or `mem_file_path` is required." },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"mem_backend\": "
		  "{\"backend_type\": \"File\", \"backend_path\": \"/m\"}}",
		  SERDE "too many fields: either `mem_backend` or `mem_file_path` exclusively is "
		  "required." },
		/* ... and its two with a body over several lines. */
		{ "{\n            \"snapshot_path\": \"foo\",\n            \"mem_backend\": {\n"
		  "                \"backend_path\": \"bar\"\n            }\n        }",
		  SERDE "missing field `backend_type` at line 5 column 13." },
		{ "{\n            \"mem_backend\": {\n                \"backend_path\": \"bar\",\n"
		  "                \"backend_type\": \"Uffd\"\n            }\n        }",
		  SERDE "missing field `snapshot_path` at line 6 column 9." },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"network_overrides\": "
		  "[{\"iface_id\": \"a\", \"host_dev_name\": \"t\"}, {\"iface_id\": \"a\", "
		  "\"host_dev_name\": \"u\"}]}", "names 'a' twice" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"network_overrides\": "
		  "[{\"iface_id\": \"a\"}]}", "host_dev_name" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"network_overrides\": 1}",
		  SERDE "invalid type: integer `1`, expected a sequence at line 1 column 69." },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"resume_vm\": \"yes\"}",
		  SERDE "invalid type: string \"yes\", expected a boolean at line 1 column 65." },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"clock_realtime\": 1}",
		  SERDE "invalid type: integer `1`, expected a boolean at line 1 column 66." },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"network_overrides\": "
		  "[{\"iface_id\": \"a\", \"host_dev_name\": \"t\", \"backend\": \"user\"}]}",
		  "one of them" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"drive_overrides\": "
		  "[{\"drive_id\": \"a\", \"path_on_host\": \"/x\", \"is_read_only\": true}, "
		  "{\"drive_id\": \"a\", \"path_on_host\": \"/y\", \"is_read_only\": true}]}",
		  "drive_overrides names 'a' twice" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"drive_overrides\": "
		  "[{\"drive_id\": \"a\", \"path_on_host\": \"/x\"}]}", "is_read_only" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"vsock_override\": "
		  "{\"uds_path\": \"/v\", \"guest_cid\": 3}}", "uds_path (hybrid vsock) or guest_cid" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"vsock_override\": "
		  "{\"guest_cid\": 2}}", "guest_cid 2 is out of range" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"drive_overrides\": "
		  "[{\"drive_id\": \"a\"}]}", "path_on_host" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"drive_overrides\": "
		  "[{\"drive_id\": \"a\", \"path_on_host\": \"/x\", \"is_read_only\": true, \"io\": 1}]}", "io" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"vsock_override\": "
		  "{}}", "uds_path (hybrid vsock) or guest_cid (vhost-vsock), one of them" },
		/* Issue 47, F2: a pmem override says its file and its access, each once. */
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"pmem_overrides\": "
		  "[{\"id\": \"a\", \"path_on_host\": \"/x\"}]}", "read_only" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"pmem_overrides\": "
		  "[{\"id\": \"a\", \"read_only\": true}]}", "path_on_host" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"pmem_overrides\": "
		  "[{\"id\": \"a\", \"path_on_host\": \"/x\", \"read_only\": \"no\"}]}",
		  "expected a boolean" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"pmem_overrides\": "
		  "[{\"id\": \"a\", \"path_on_host\": \"/x\", \"read_only\": true}, "
		  "{\"id\": \"a\", \"path_on_host\": \"/y\", \"read_only\": true}]}",
		  "pmem_overrides names 'a' twice" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"pmem_overrides\": "
		  "[\"/x\"]}", "pmem_overrides entries must be objects" },
		{ "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"vsock_override\": "
		  "\"/v\"}", SERDE "invalid type: string \"/v\", expected struct VsockOverride at line "
		  "1 column 69." },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(req(f, "PUT", "/snapshot/load", bad[i][0]), 400);
		if (!strncmp(bad[i][1], SERDE, strlen(SERDE)))
			expect_fault_is(bad[i][1]);
		else
			expect_fault(bad[i][1]);
	}
	assert_int_equal(f->vm.loads, 0);
	/* A load the VM side refuses: 400 with its message, and nothing changed. */
	f->vm.load_ret = -EINVAL;
	assert_int_equal(req(f, "PUT", "/snapshot/load", LOAD), 400);
	expect_fault("snapshot /s/vm.snap: corrupt");
	assert_int_equal(f->ctl.state, CTL_NOT_STARTED);
	assert_int_equal(f->ctl.cfg.machine.vcpu_count, 1);
	/* After a configuration PUT, in Firecracker's words. */
	f->vm.load_ret = 0;
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 204);
	assert_int_equal(req(f, "PUT", "/snapshot/load", LOAD), 400);
	expect_fault("Load snapshot error: Loading a microVM snapshot not allowed after "
		     "configuring boot-specific resources.");
	assert_int_equal(f->vm.loads, 1);
}

static void test_restore_cli(void **state)
{
	struct cli_restore_opts o;
	struct err e;
	char *ok[] = { "hearth", "restore", "--snapshot", "a", "--mem", "b", "--api-sock", "s",
		       NULL };
	char *noapi[] = { "hearth", "restore", "--snapshot", "a", "--mem", "b", NULL };
	char *nomem[] = { "hearth", "restore", "--snapshot", "a", NULL };
	char *clock[] = { "hearth", "restore", "--snapshot", "a", "--mem", "b", "--clock-realtime",
			  NULL };
	char *junk[] = { "hearth", "restore", "--snapshot", "a", "--mem", "b", "--bogus", NULL };
	char *extra[] = { "hearth", "restore", "--snapshot", "a", "--mem", "b", "x", NULL };

	(void)state;
	assert_int_equal(cli_restore_parse(8, ok, &o, &e), 0);
	assert_string_equal(o.load.snapshot_path, "a");
	assert_string_equal(o.load.mem_path, "b");
	assert_string_equal(o.api_sock, "s");
	assert_false(o.load.resume_vm);
	/* Nothing could resume it without the API: it resumes at once. */
	assert_int_equal(cli_restore_parse(6, noapi, &o, &e), 0);
	assert_true(o.load.resume_vm);
	assert_false(o.load.clock_realtime);
	assert_int_equal(cli_restore_parse(7, clock, &o, &e), 0);
	assert_true(o.load.clock_realtime);
	assert_int_equal(cli_restore_parse(4, nomem, &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "--mem FILE"));
	assert_int_equal(cli_restore_parse(7, junk, &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "--bogus"));
	assert_int_equal(cli_restore_parse(7, extra, &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "'x'"));
}

/* --mem-uffd SOCKET: the same request as mem_backend Uffd; with --mem too, refused. */
static void test_restore_cli_uffd(void **state)
{
	struct cli_restore_opts o;
	struct err e;
	char *uffd[] = { "hearth", "restore", "--snapshot", "a", "--mem-uffd", "h.sock", NULL };
	char *both[] = { "hearth", "restore", "--snapshot", "a", "--mem-uffd", "h.sock", "--mem",
			 "b", NULL };
	char *file[] = { "hearth", "restore", "--snapshot", "a", "--mem", "b", NULL };

	(void)state;
	assert_int_equal(cli_restore_parse(6, uffd, &o, &e), 0);
	assert_true(o.load.mem_uffd);
	assert_string_equal(o.load.mem_path, "h.sock");
	assert_int_equal(cli_restore_parse(8, both, &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "not both"));
	assert_int_equal(cli_restore_parse(6, file, &o, &e), 0);
	assert_false(o.load.mem_uffd);
}

/* `hearth restore`'s overrides: the same request PUT /snapshot/load makes. */
static void test_restore_cli_overrides(void **state)
{
	static struct cli_restore_opts o;
	struct err e;
	char *ok[] = { "hearth", "restore", "--snapshot", "a", "--mem", "b",
		       "--drive-override", "rootfs=rw:/d.img", "--net-override", "eth0=tap=tap1",
		       "--net-override", "eth1=user,hostfwd=tcp:1-:2", "--vsock-override", "/v",
		       "--kvm", "/k", "--pmem-override", "p0=ro:/p0", "--pmem-override",
		       "p1=rw:/p:1", "--vsock-cid", "9", "--huge-pages", "2M", NULL };
	char *nomode[] = { "hearth", "restore", "--snapshot", "a", "--mem", "b",
			   "--pmem-override", "p0=/p0", NULL };
	char *noeq[] = { "hearth", "restore", "--snapshot", "a", "--mem", "b",
			 "--drive-override", "rootfs", NULL };
	char *noval[] = { "hearth", "restore", "--snapshot", "a", "--mem", "b",
			  "--net-override", "eth0=", NULL };

	(void)state;
	assert_int_equal(cli_restore_parse(24, ok, &o, &e), 0);
	assert_false(o.load.drive_overrides[0].is_read_only);
	assert_int_equal(o.load.vsock_cid, 9);
	assert_true(o.load.huge_pages_set);
	assert_int_equal(o.load.huge_pages, VM_HUGE_PAGES_2M);
	assert_int_equal(o.load.n_pmem_overrides, 2);
	assert_string_equal(o.load.pmem_overrides[0].id, "p0");
	assert_string_equal(o.load.pmem_overrides[0].path_on_host, "/p0");
	assert_true(o.load.pmem_overrides[0].read_only);
	assert_string_equal(o.load.pmem_overrides[1].path_on_host, "/p:1");
	assert_false(o.load.pmem_overrides[1].read_only);
	assert_int_equal(o.load.n_drive_overrides, 1);
	assert_string_equal(o.load.drive_overrides[0].drive_id, "rootfs");
	assert_string_equal(o.load.drive_overrides[0].path_on_host, "/d.img");
	assert_int_equal(o.load.n_overrides, 2);
	assert_string_equal(o.load.overrides[0].iface_id, "eth0");
	assert_string_equal(o.load.overrides[0].host_dev_name, "tap1");
	assert_null(o.load.overrides[0].backend);
	assert_string_equal(o.load.overrides[1].iface_id, "eth1");
	assert_null(o.load.overrides[1].host_dev_name);
	assert_string_equal(o.load.overrides[1].backend, "user,hostfwd=tcp:1-:2");
	assert_string_equal(o.load.vsock_uds_path, "/v");
	assert_string_equal(o.kvm_path, "/k");
	assert_int_equal(cli_restore_parse(8, noeq, &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "--drive-override 'rootfs': want ID=VALUE"));
	noeq[7] = "rootfs=/d.img";
	assert_int_equal(cli_restore_parse(8, noeq, &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "--drive-override 'rootfs=/d.img': want ID=ro:PATH or "
			       "ID=rw:PATH"));
	noeq[6] = "--vsock-cid";
	noeq[7] = "2";
	assert_int_equal(cli_restore_parse(8, noeq, &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "--vsock-cid '2': want a CID from 3"));
	noeq[7] = " -18446744073709551613";
	assert_int_equal(cli_restore_parse(8, noeq, &o, &e), -EINVAL);
	noeq[6] = "--huge-pages";
	noeq[7] = "1G";
	assert_int_equal(cli_restore_parse(8, noeq, &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "--huge-pages '1G': want None, 2M or Transparent"));
	assert_int_equal(cli_restore_parse(8, noval, &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "--net-override"));
	assert_int_equal(cli_restore_parse(8, nomode, &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "--pmem-override 'p0=/p0': want ID=ro:PATH or ID=rw:PATH"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_bad_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_ok_paused_and_resumed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_uffd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_file_is_not_uffd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_huge_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_huge_pages_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_clock_realtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_overrides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refused, setup, teardown),
		cmocka_unit_test(test_restore_cli),
		cmocka_unit_test(test_restore_cli_uffd),
		cmocka_unit_test(test_restore_cli_overrides),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
