/*
 * The control surface's state rules, as a table: every action in every
 * state ("Not started", "Running", "Paused") is accepted, or refused with
 * the exact message a client gets, on a fake VM (fake_vm.h: the table
 * the process host fills too). A refusal changes nothing: not the state,
 * not the model, and nothing reaches the VM.
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

#include "control/control.h"
#include "fake_vm.h"
#include "fcjson/config_json.h"

/* Firecracker's refusals, word for word (its test_api.py asserts them). */
#define FC_PRE "The requested operation is not supported before starting the microVM."
#define FC_POST "The requested operation is not supported after starting the microVM."
/* Open before boot, then closed; or the other way round. */
#define CLOSED_AFTER_BOOT(what) { NULL, FC_POST, FC_POST }
#define BOOTED { FC_PRE, NULL, NULL }
/* Firecracker 1.16's device hotplug: after boot, a PCI VM's; this fake VM is on virtio-mmio. */
#define FC_NO_PCI "PCI is not enabled"
#define PLUG_AFTER_BOOT { NULL, FC_NO_PCI, FC_NO_PCI }
#define UNPLUG { FC_PRE, FC_NO_PCI, FC_NO_PCI }
#define ALWAYS { NULL, NULL, NULL }

/* An action of the model's, with its JSON; the id is the path's ({id} of /drives/{id}). */
#define BODY_ID(t, i, json) { .type = t, .id = i, .body = json, .len = sizeof(json) - 1 }
#define BODY(t, json) BODY_ID(t, NULL, json)

#define BALLOON_SETUP BODY(CTL_PUT_BALLOON, "{\"amount_mib\": 1, \"deflate_on_oom\": true, " \
			       "\"stats_polling_interval_s\": 1, \"free_page_hinting\": true}")

#define PMEM_SETUP BODY_ID(CTL_PUT_PMEM, "p0", "{\"id\": \"p0\", \"path_on_host\": \"/p0\", " \
			    "\"read_only\": true}")
/* A TAP NIC moves only off vhost-net: with track_dirty_pages it stays off it. */
#define MIGRATABLE BODY(CTL_PUT_MACHINE, "{\"vcpu_count\": 1, \"mem_size_mib\": 128, " \
			"\"track_dirty_pages\": true}")
#define HOTPLUG_SETUP BODY(CTL_PUT_HOTPLUG, "{\"total_size_mib\": 1024, \"block_size_mib\": 4}")

static const struct rule_case {
	struct ctl_action a;
	/* Run first, before boot: what the action needs to be accepted at all. */
	struct ctl_action setup;
	/* Before boot, on an empty model (a snapshot is loaded only into one). */
	bool empty;
	/* By state: NULL, accepted; else the refusal, word for word. */
	const char *want[CTL_NSTATES];
} cases[] = {
	{ { .type = CTL_GET_INFO }, { 0 }, false, ALWAYS },
	{ { .type = CTL_GET_VERSION }, { 0 }, false, ALWAYS },
	{ { .type = CTL_GET_MACHINE }, { 0 }, false, ALWAYS },
	{ { .type = CTL_GET_CONFIG }, { 0 }, false, ALWAYS },
	{ BODY(CTL_PUT_BOOT_SOURCE, "{\"kernel_image_path\": \"/k2\"}"), { 0 }, false,
	  CLOSED_AFTER_BOOT("PUT /boot-source") },
	{ BODY(CTL_PUT_MACHINE, "{\"vcpu_count\": 2, \"mem_size_mib\": 256}"), { 0 }, false,
	  CLOSED_AFTER_BOOT("PUT /machine-config") },
	{ BODY(CTL_PATCH_MACHINE, "{\"mem_size_mib\": 512}"), { 0 }, false,
	  CLOSED_AFTER_BOOT("PATCH /machine-config") },
	{ BODY_ID(CTL_PUT_DRIVE, "d2", "{\"drive_id\": \"d2\", \"path_on_host\": \"/d2\", "
		  "\"is_root_device\": false}"), { 0 }, false, PLUG_AFTER_BOOT },
	{ BODY_ID(CTL_PUT_NET, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap1\"}"),
	  { 0 }, false, PLUG_AFTER_BOOT },
	{ BODY(CTL_PUT_VSOCK, "{\"guest_cid\": 3}"), { 0 }, false,
	  CLOSED_AFTER_BOOT("PUT /vsock") },
	{ BODY(CTL_PUT_ENTROPY, "{}"), { 0 }, false, CLOSED_AFTER_BOOT("PUT /entropy") },
	{ BODY(CTL_PUT_LOGGER, "{\"level\": \"Info\"}"), { 0 }, false,
	  CLOSED_AFTER_BOOT("PUT /logger") },
	{ BODY(CTL_PUT_METRICS, "{\"metrics_path\": \"/m\"}"), { 0 }, false,
	  CLOSED_AFTER_BOOT("PUT /metrics") },
	{ BODY(CTL_PUT_SERIAL, "{}"), { 0 }, false, CLOSED_AFTER_BOOT("PUT /serial") },
	/* A custom CPU template: before boot only, as Firecracker's PutCpuConfiguration. */
	{ BODY(CTL_PUT_CPU_CONFIG, "{\"cpuid_modifiers\": []}"), { 0 }, false,
	  CLOSED_AFTER_BOOT("PUT /cpu-config") },
	{ { .type = CTL_INSTANCE_START }, { 0 }, false, { NULL, FC_POST, FC_POST } },
	{ { .type = CTL_SEND_CTRL_ALT_DEL }, { 0 }, false, BOOTED },
	{ { .type = CTL_FLUSH_METRICS }, BODY(CTL_PUT_METRICS, "{\"metrics_path\": \"/m\"}"),
	  false, BOOTED },
	{ { .type = CTL_PAUSE }, { 0 }, false, BOOTED },
	{ { .type = CTL_RESUME }, { 0 }, false, BOOTED },
	/* Firecracker's rule since Hearth follows it: no PATCH of a drive before boot. */
	{ { .type = CTL_PATCH_DRIVE, .drive = { .id = "rootfs", .path_on_host = "/b" } }, { 0 },
	  false, BOOTED },
	{ { .type = CTL_PATCH_NET, .net = { .id = "eth0" } }, { 0 }, false, BOOTED },
	{ { .type = CTL_SNAPSHOT_CREATE,
	    .create = { .snapshot_path = "/s", .mem_file_path = "/m" } }, { 0 }, false,
	  { FC_PRE, "Create snapshot error: Cannot save the microVM state: Operation not "
	    "allowed: save/restore unavailable while running (pause it first: PATCH /vm "
	    "{\"state\": \"Paused\"})", NULL } },
	{ { .type = CTL_SNAPSHOT_LOAD, .load = { .snapshot_path = "/s", .mem_path = "/m" } },
	  { 0 }, true, { NULL, FC_POST, FC_POST } },
	/* The MMDS's data in every state, as Firecracker's; its config before boot. */
	{ { .type = CTL_GET_MMDS }, { 0 }, false, { NULL, NULL, NULL } },
	{ BODY(CTL_PUT_MMDS, "{\"a\": 1}"), { 0 }, false, { NULL, NULL, NULL } },
	{ BODY(CTL_PATCH_MMDS, "{\"a\": 2}"), BODY(CTL_PUT_MMDS, "{}"), false, { NULL, NULL, NULL } },
	{ BODY(CTL_PUT_MMDS_CONFIG, "{\"network_interfaces\": [\"eth0\"]}"), { 0 }, false,
	  CLOSED_AFTER_BOOT("PUT /mmds/config") },
	/* The balloon: Firecracker's SetBalloonDevice before boot, the device's actions after. */
	{ BODY(CTL_PUT_BALLOON, "{\"amount_mib\": 1, \"deflate_on_oom\": true}"), { 0 }, false,
	  CLOSED_AFTER_BOOT("PUT /balloon") },
	{ { .type = CTL_GET_BALLOON }, BALLOON_SETUP, false, ALWAYS },
	{ { .type = CTL_PATCH_BALLOON, .balloon = { .amount_mib = 2 } }, BALLOON_SETUP, false,
	  BOOTED },
	{ { .type = CTL_GET_BALLOON_STATS }, BALLOON_SETUP, false, BOOTED },
	{ { .type = CTL_PATCH_BALLOON_STATS, .balloon = { .interval_s = 3 } }, BALLOON_SETUP, false,
	  BOOTED },
	{ { .type = CTL_BALLOON_HINT_START }, BALLOON_SETUP, false, BOOTED },
	{ { .type = CTL_BALLOON_HINT_STATUS }, BALLOON_SETUP, false, BOOTED },
	{ { .type = CTL_BALLOON_HINT_STOP }, BALLOON_SETUP, false, BOOTED },
	/* pmem: Firecracker's InsertPmemDevice before boot, UpdatePmemDevice after. */
	{ BODY_ID(CTL_PUT_PMEM, "p0", "{\"id\": \"p0\", \"path_on_host\": \"/p0\"}"), { 0 }, false,
	  PLUG_AFTER_BOOT },
	{ { .type = CTL_PATCH_PMEM, .pmem = { .id = "p0", .has_rate_limiter = true,
	    .rate_limiter = { .ops = { .set = true, .size = 10, .refill_time = 100 } } } },
	  PMEM_SETUP, false, BOOTED },
	{ BODY(CTL_PUT_HOTPLUG, "{\"total_size_mib\": 1024}"), { 0 }, false,
	  CLOSED_AFTER_BOOT("PUT /hotplug/memory") },
	{ { .type = CTL_GET_HOTPLUG }, HOTPLUG_SETUP, false, BOOTED },
	{ { .type = CTL_PATCH_HOTPLUG, .hotplug_mib = 256 }, HOTPLUG_SETUP, false, BOOTED },
	/* Hearth's virtio-fs: before boot only, as the other devices' configs. */
	{ BODY_ID(CTL_PUT_FS, "f0", "{\"id\": \"f0\", \"tag\": \"t\", \"socket\": \"/f.sock\"}"),
	  { 0 }, false, CLOSED_AFTER_BOOT("PUT /fs") },
	{ { .type = CTL_DELETE_DRIVE, .id = "rootfs" }, { 0 }, false, UNPLUG },
	{ { .type = CTL_DELETE_NET, .id = "eth0" }, { 0 }, false, UNPLUG },
	{ { .type = CTL_DELETE_PMEM, .id = "p0" }, PMEM_SETUP, false, UNPLUG },
	/*
	 * Firecracker's VFIO branch: before boot the model's; after it, Hearth's
	 * plug and unplug, a PCI VM's. This fake VM has no PCI for either.
	 */
	{ BODY_ID(CTL_PUT_PASSTHROUGH, "nvme0", "{\"id\": \"nvme0\", \"sbdf\": \"0000:03:00.0\"}"),
	  { 0 }, false, { "Device passthrough config error: a VFIO device needs PCI (--pci, "
			  "--enable-pci or the config file's \"pci\": {\"enabled\": true})",
			  FC_NO_PCI, FC_NO_PCI } },
	{ { .type = CTL_DELETE_PASSTHROUGH, .id = "nvme0" }, { 0 }, false, UNPLUG },
	/* Hearth's: a booted VM's, paused for the host's work and left as it was. */
	{ { .type = CTL_FORK, .fork = { -1, 2 } }, { 0 }, false, BOOTED },
	{ { .type = CTL_RESET }, { 0 }, false, BOOTED },
	/* Hearth's live migration: the source's after boot, the destination's on a fresh one. */
	{ { .type = CTL_MIGRATE, .migrate = { .uri = "unix:m" } }, MIGRATABLE, false, BOOTED },
	{ { .type = CTL_MIGRATE_INCOMING, .migrate = { .uri = "unix:m" } }, { 0 }, true,
	  { NULL, CTL_NOT_AFTER_START, CTL_NOT_AFTER_START } },
	{ { .type = CTL_GET_MIGRATE }, { 0 }, false, ALWAYS },
	{ { .type = CTL_MIGRATE_SWITCH }, { 0 }, false, BOOTED },
	{ { .type = CTL_MIGRATE_PRELUDE }, { 0 }, false, BOOTED },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

struct fixture {
	struct ctl ctl;
	struct fake_vm vm;
};

static void handle_ok(struct fixture *f, const struct ctl_action *a)
{
	struct err err = ERR_INIT;

	if (ctl_handle(&f->ctl, a, NULL, &err))
		fail_msg("action %d: %s", (int)a->type, err.msg);
}

/* A fresh handler in state s, its model configured unless c wants it empty. */
static void bring_to(struct fixture *f, const struct rule_case *c, enum ctl_state s)
{
	static const struct ctl_action model[] = {
		BODY(CTL_PUT_BOOT_SOURCE, "{\"kernel_image_path\": \"/k\"}"),
		BODY_ID(CTL_PUT_DRIVE, "rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": "
			"\"/a\", \"is_root_device\": true}"),
		BODY_ID(CTL_PUT_NET, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}"),
	};
	static const struct ctl_action start = { .type = CTL_INSTANCE_START };
	static const struct ctl_action pause = { .type = CTL_PAUSE };

	memset(f, 0, sizeof(*f));
	assert_int_equal(ctl_init(&f->ctl, "rules", NULL, &fake_vm_ops, &f->vm), 0);
	for (size_t i = 0; i < sizeof(model) / sizeof(model[0]); i++)
		if (!(c->empty && s == CTL_NOT_STARTED))
			handle_ok(f, &model[i]);
	if (c->setup.body)
		handle_ok(f, &c->setup);
	if (s != CTL_NOT_STARTED)
		handle_ok(f, &start);
	if (s == CTL_PAUSED)
		handle_ok(f, &pause);
	assert_int_equal(f->ctl.state, s);
}

static char *model_json(struct ctl *ctl)
{
	static const struct ctl_action get = { .type = CTL_GET_CONFIG };
	struct err err = ERR_INIT;
	json_t *o;
	char *s;

	assert_int_equal(ctl_handle(ctl, &get, &o, &err), 0);
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	assert_non_null(s);
	return s;
}

/* One action in one state: accepted, or refused with the exact words and nothing changed. */
/* want: the refusal's words in place of the table's (NULL: the table's). */
static void check(const struct rule_case *c, enum ctl_state s, const char *body,
		  const char *want)
{
	struct fixture f;
	struct ctl_action a = c->a;
	struct err err = ERR_INIT;
	char *before, *after;
	json_t *out = NULL;
	int calls, ret;

	bring_to(&f, c, s);
	if (body) {
		a.body = body;
		a.len = strlen(body);
	}
	calls = fake_vm_calls(&f.vm);
	before = model_json(&f.ctl);
	ret = ctl_handle(&f.ctl, &a, &out, &err);
	after = model_json(&f.ctl);
	if (!c->want[s]) {
		if (ret)
			fail_msg("action %d in '%s': refused: %s", (int)a.type, ctl_state_name(s),
				 err.msg);
		/* Only the reads answer, and fork and reset (the clones, the pages). */
		assert_int_equal(out != NULL, a.type <= CTL_GET_CONFIG || a.type == CTL_GET_MMDS ||
				 a.type == CTL_GET_BALLOON || a.type == CTL_GET_BALLOON_STATS ||
				 a.type == CTL_BALLOON_HINT_STATUS || a.type == CTL_GET_HOTPLUG ||
				 a.type == CTL_FORK || a.type == CTL_RESET ||
				 a.type == CTL_GET_MIGRATE);
	} else {
		assert_int_equal(ret, -EINVAL);
		assert_true(err.usage);
		if (!want)
			want = c->want[s];
		if (strcmp(err.msg, want))
			fail_msg("action %d in '%s': '%s', want '%s'", (int)a.type,
				 ctl_state_name(s), err.msg, want);
		assert_null(out);
		assert_int_equal(f.ctl.state, s);
		assert_string_equal(after, before);
		assert_int_equal(fake_vm_calls(&f.vm), calls);
	}
	json_decref(out);
	free(before);
	free(after);
	ctl_destroy(&f.ctl);
}

static void test_every_action_in_every_state(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCASES; i++)
		for (int s = CTL_NOT_STARTED; s < CTL_NSTATES; s++)
			check(&cases[i], (enum ctl_state)s, NULL, NULL);
}

/*
 * As Firecracker, a closed endpoint reads its body first: one its
 * deserializer refuses gets serde_json's words, one it reads the state's,
 * even with a value the model would refuse.
 */
static void test_body_read_before_the_state(void **state)
{
	static const char serde[] = "An error occurred when deserializing the json body of a "
				    "request: ";
	char want[ERR_MSG_MAX];

	(void)state;
	for (size_t i = 0; i < NCASES; i++) {
		for (int s = CTL_NOT_STARTED; s < CTL_NSTATES; s++) {
			if (!cases[i].a.body || !cases[i].want[s])
				continue;
			snprintf(want, sizeof(want), "%skey must be a string at line 1 column 2.",
				 serde);
			check(&cases[i], (enum ctl_state)s, "{not json", want);
			snprintf(want, sizeof(want), "%sEOF while parsing a value at line 1 column "
				 "8.", serde);
			check(&cases[i], (enum ctl_state)s, "{\"a\": 1,", want);
			if (cases[i].a.type == CTL_PUT_MACHINE)
				check(&cases[i], (enum ctl_state)s,
				      "{\"vcpu_count\": 0, \"mem_size_mib\": 128}", NULL);
		}
	}
}

/* The table above has one row for every action the handler knows. */
static void test_every_action_has_a_row(void **state)
{
	(void)state;
	for (int t = 0; t < CTL_NTYPES; t++) {
		int rows = 0;

		for (size_t i = 0; i < NCASES; i++)
			rows += cases[i].a.type == (enum ctl_type)t;
		if (rows != 1)
			fail_msg("action %d has %d rows", t, rows);
	}
}

/* After each accepted action of the run, the state it leaves. */
static void test_state_after(void **state)
{
	static const struct {
		enum ctl_type type;
		enum ctl_state from, to;
	} moves[] = {
		{ CTL_INSTANCE_START, CTL_NOT_STARTED, CTL_RUNNING },
		{ CTL_PAUSE, CTL_RUNNING, CTL_PAUSED },
		{ CTL_PAUSE, CTL_PAUSED, CTL_PAUSED },
		{ CTL_RESUME, CTL_PAUSED, CTL_RUNNING },
		{ CTL_RESUME, CTL_RUNNING, CTL_RUNNING },
		{ CTL_SNAPSHOT_LOAD, CTL_NOT_STARTED, CTL_PAUSED },
		{ CTL_FORK, CTL_RUNNING, CTL_RUNNING },
		{ CTL_FORK, CTL_PAUSED, CTL_PAUSED },
		{ CTL_RESET, CTL_RUNNING, CTL_RUNNING },
		{ CTL_RESET, CTL_PAUSED, CTL_PAUSED },
		{ CTL_MIGRATE, CTL_RUNNING, CTL_RUNNING },
		{ CTL_MIGRATE, CTL_PAUSED, CTL_PAUSED },
		/* The switch-over leaves the source paused, for good once the destination may run it. */
		{ CTL_MIGRATE_SWITCH, CTL_RUNNING, CTL_PAUSED },
		/* The prelude's pause is brief: the VM runs on, or stays paused. */
		{ CTL_MIGRATE_PRELUDE, CTL_RUNNING, CTL_RUNNING },
		{ CTL_MIGRATE_PRELUDE, CTL_PAUSED, CTL_PAUSED },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		const struct rule_case *c = NULL;
		struct err err = ERR_INIT;
		struct fixture f;

		for (size_t k = 0; k < NCASES; k++)
			if (cases[k].a.type == moves[i].type)
				c = &cases[k];
		assert_non_null(c);
		bring_to(&f, c, moves[i].from);
		assert_int_equal(ctl_handle(&f.ctl, &c->a, NULL, &err), 0);
		assert_int_equal(f.ctl.state, moves[i].to);
		ctl_destroy(&f.ctl);
	}
}

/*
 * What a migration refuses, each named: a VM it cannot move (a TAP NIC
 * that may be on vhost-net), what would change the VM under an outgoing
 * one, resuming a VM that moved, and configuring an instance that one
 * comes into.
 */
static void test_migrate_refusals(void **state)
{
	static const struct rule_case plain = { { .type = CTL_MIGRATE }, { 0 }, false, ALWAYS };
	static const struct rule_case tracked = { { .type = CTL_MIGRATE }, MIGRATABLE, false,
						  ALWAYS };
	const struct ctl_action mig = { .type = CTL_MIGRATE, .migrate = { .uri = "unix:m" } };
	const struct ctl_action fork = { .type = CTL_FORK, .fork = { -1, 1 } };
	const struct ctl_action sw = { .type = CTL_MIGRATE_SWITCH };
	const struct ctl_action patch = { .type = CTL_PATCH_DRIVE,
					  .drive = { .id = "rootfs", .path_on_host = "/b" } };
	const struct ctl_action resume = { .type = CTL_RESUME };
	const struct ctl_action in = { .type = CTL_MIGRATE_INCOMING, .migrate = { .uri = "unix:m" } };
	const struct ctl_action boot = BODY(CTL_PUT_BOOT_SOURCE, "{\"kernel_image_path\": \"/k\"}");
	const struct ctl_action load = { .type = CTL_SNAPSHOT_LOAD,
					 .load = { .snapshot_path = "(migration)",
						   .mem_path = "(migration)", .from_fds = true } };
	struct err err = ERR_INIT;
	struct fixture f;

	(void)state;
	bring_to(&f, &plain, CTL_RUNNING);
	assert_int_equal(ctl_handle(&f.ctl, &mig, NULL, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "NIC 'eth0' may be on vhost-net"));
	assert_int_equal(f.vm.migrates, 0);
	ctl_destroy(&f.ctl);

	bring_to(&f, &tracked, CTL_RUNNING);
	handle_ok(&f, &mig);
	assert_int_equal(ctl_handle(&f.ctl, &fork, NULL, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "live migration is under way"));
	assert_int_equal(ctl_handle(&f.ctl, &mig, NULL, &err), -EBUSY);
	assert_int_equal(f.vm.forks, 0);
	/* The destination keeps the prelude's model: no limiter or image changes under it. */
	assert_int_equal(ctl_handle(&f.ctl, &patch, NULL, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "live migration is under way"));
	assert_int_equal(f.vm.drive_patches, 0);
	handle_ok(&f, &sw);
	assert_int_equal(f.ctl.state, CTL_PAUSED);
	assert_int_equal(ctl_handle(&f.ctl, &resume, NULL, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "the VM migrated"));
	assert_int_equal(f.ctl.state, CTL_PAUSED);
	ctl_destroy(&f.ctl);

	memset(&f, 0, sizeof(f));
	assert_int_equal(ctl_init(&f.ctl, "in", NULL, &fake_vm_ops, &f.vm), 0);
	handle_ok(&f, &in);
	assert_int_equal(ctl_handle(&f.ctl, &boot, NULL, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "a live migration is coming in"));
	assert_int_equal(ctl_handle(&f.ctl, &in, NULL, &err), -EBUSY);
	/* Loaded from the stream, paused: it runs on the source's GO only, never a request's. */
	handle_ok(&f, &load);
	assert_int_equal(f.ctl.state, CTL_PAUSED);
	assert_int_equal(ctl_handle(&f.ctl, &resume, NULL, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "coming in"));
	assert_int_equal(ctl_handle(&f.ctl, &fork, NULL, &err), -EBUSY);
	assert_int_equal(f.ctl.state, CTL_PAUSED);
	assert_int_equal(f.vm.forks, 0);
	ctl_migrate_incoming_done(&f.ctl);
	handle_ok(&f, &resume);
	ctl_destroy(&f.ctl);

	memset(&f, 0, sizeof(f));
	assert_int_equal(ctl_init(&f.ctl, "in", NULL, &fake_vm_ops, &f.vm), 0);
	handle_ok(&f, &in);
	ctl_migrate_incoming_done(&f.ctl);
	handle_ok(&f, &boot);
	ctl_destroy(&f.ctl);
}

/*
 * A fork pauses a running template for the host's work, then resumes it
 * unless the body said "template": "Paused" (or "Resumed" a paused one);
 * the host's work always runs on a paused VM.
 */
static void test_fork_template_state(void **state)
{
	static const struct {
		int template_state;
		enum ctl_state from, to;
		int resumes;
	} cases_[] = {
		{ -1, CTL_RUNNING, CTL_RUNNING, 1 },
		{ 0, CTL_RUNNING, CTL_PAUSED, 0 },
		{ 1, CTL_PAUSED, CTL_RUNNING, 1 },
		{ -1, CTL_PAUSED, CTL_PAUSED, 0 },
	};
	const struct rule_case *c = NULL;

	(void)state;
	for (size_t k = 0; k < NCASES; k++)
		if (cases[k].a.type == CTL_FORK)
			c = &cases[k];
	assert_non_null(c);
	for (size_t i = 0; i < sizeof(cases_) / sizeof(cases_[0]); i++) {
		struct ctl_action a = c->a;
		struct err err = ERR_INIT;
		json_t *out = NULL;
		struct fixture f;
		int resumes;

		a.fork.template_state = cases_[i].template_state;
		bring_to(&f, c, cases_[i].from);
		resumes = f.vm.resumes;
		assert_int_equal(ctl_handle(&f.ctl, &a, &out, &err), 0);
		assert_non_null(out);
		json_decref(out);
		assert_int_equal(f.vm.forks, 1);
		assert_int_equal(f.ctl.state, cases_[i].to);
		assert_int_equal(f.vm.resumes - resumes, cases_[i].resumes);
		ctl_destroy(&f.ctl);
	}
}

/*
 * Firecracker's boot_path: a boot source, machine config or device PUT
 * (failed ones too) closes snapshot/load in its words; the logger,
 * metrics and serial do not.
 */
static void test_load_after_boot_path(void **state)
{
	static const struct ctl_action load = {
		.type = CTL_SNAPSHOT_LOAD, .load = { .snapshot_path = "/s", .mem_path = "/m" } };
	static const struct ctl_action closing[] = {
		BODY(CTL_PUT_BOOT_SOURCE, "{\"kernel_image_path\": \"/k\"}"),
		BODY(CTL_PUT_MACHINE, "{\"vcpu_count\": 2, \"mem_size_mib\": 256}"),
		BODY(CTL_PATCH_MACHINE, "{\"vcpu_count\": 0}"),   /* refused, and still counts */
		BODY(CTL_PUT_VSOCK, "{\"guest_cid\": 3}"),
		BODY(CTL_PUT_ENTROPY, "{}"),
		BODY(CTL_PUT_CPU_CONFIG, "{}"),
	};
	static const struct ctl_action open[] = {
		BODY(CTL_PUT_LOGGER, "{\"level\": \"Info\"}"),
		BODY(CTL_PUT_METRICS, "{\"metrics_path\": \"/m\"}"),
		BODY(CTL_PUT_SERIAL, "{}"),
	};
	struct err err = ERR_INIT;
	struct fixture f;

	(void)state;
	for (size_t i = 0; i < sizeof(closing) / sizeof(closing[0]); i++) {
		memset(&f, 0, sizeof(f));
		assert_int_equal(ctl_init(&f.ctl, "rules", NULL, &fake_vm_ops, &f.vm), 0);
		ctl_handle(&f.ctl, &closing[i], NULL, &err);
		assert_int_equal(ctl_handle(&f.ctl, &load, NULL, &err), -EINVAL);
		assert_string_equal(err.msg, "Load snapshot error: Loading a microVM snapshot not "
				    "allowed after configuring boot-specific resources.");
		assert_int_equal(f.vm.loads, 0);
		ctl_destroy(&f.ctl);
	}
	memset(&f, 0, sizeof(f));
	assert_int_equal(ctl_init(&f.ctl, "rules", NULL, &fake_vm_ops, &f.vm), 0);
	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++)
		handle_ok(&f, &open[i]);
	handle_ok(&f, &load);
	assert_int_equal(f.vm.loads, 1);
	ctl_destroy(&f.ctl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_action_has_a_row),
		cmocka_unit_test(test_every_action_in_every_state),
		cmocka_unit_test(test_body_read_before_the_state),
		cmocka_unit_test(test_state_after),
		cmocka_unit_test(test_migrate_refusals),
		cmocka_unit_test(test_fork_template_state),
		cmocka_unit_test(test_load_after_boot_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
