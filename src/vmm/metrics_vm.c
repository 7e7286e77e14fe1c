/*
 * The VM's counters as metrics: each device's, read through the registry,
 * into Firecracker's groups and, under their own names, Hearth's.
 */
#include "vmm/metrics.h"

#include <stdio.h>
#include <string.h>

#include "virtio/vublk.h"
#include "vmm/devices.h"
#include "vmm/metrics_schema.h"
#include "vmm/vm.h"

/* More than any device reports (balloon has 22); the rest would be cut, not overrun. */
#define METRICS_DEV_COUNTERS_MAX 48

/*
 * A counter of Hearth's that is a Firecracker field of another name,
 * added to it (two renamed into one add up: a vCPU's failures). group
 * NULL: the device's own group; else that group (a NIC's MMDS frames go
 * to "mmds").
 */
struct metrics_rename {
	const char *from, *group, *to;
};

struct metrics_kind {
	const char *type;   /* the registry's */
	const char *name;   /* the first part of Hearth's group name, Firecracker's word */
	const char *fc;     /* Firecracker's group; NULL: none */
	const struct metrics_rename *renames;   /* ends with a NULL from */
};

static const struct metrics_rename blk_renames[] = {
	{ "read_requests", NULL, "read_count" },
	{ "write_requests", NULL, "write_count" },
	{ "flush_requests", NULL, "flush_count" },
	/* Requests completed with an error status: Firecracker's failed executions. */
	{ "errors", NULL, "execute_fails" },
	{ "rate_limiter_throttled", NULL, "rate_limiter_throttled_events" },
	{ NULL, NULL, NULL },
};

static const struct metrics_rename net_renames[] = {
	/* Firecracker counts a frame in both: one read or write of its TAP per frame. */
	{ "rx_packets", NULL, "rx_packets_count" },
	{ "rx_packets", NULL, "rx_count" },
	{ "rx_bytes", NULL, "rx_bytes_count" },
	{ "tx_packets", NULL, "tx_packets_count" },
	{ "tx_packets", NULL, "tx_count" },
	{ "tx_bytes", NULL, "tx_bytes_count" },
	/* The MMDS stack behind the NIC: Firecracker's one "mmds" group for all of them. */
	{ "mmds_frames_in", "mmds", "rx_accepted" },
	{ "mmds_frames_out", "mmds", "tx_frames" },
	{ "mmds_dropped_out", "mmds", "tx_errors" },
	{ NULL, NULL, NULL },
};

static const struct metrics_rename rng_renames[] = {
	{ "bytes", NULL, "entropy_bytes" },
	{ "rate_limiter_throttled", NULL, "entropy_rate_limiter_throttled" },
	{ NULL, NULL, NULL },
};

/* The hybrid (Unix socket) vsock's; rx is towards the guest in both. */
static const struct metrics_rename vsock_renames[] = {
	{ "rx_bytes", NULL, "rx_bytes_count" },
	{ "tx_bytes", NULL, "tx_bytes_count" },
	{ "conns_opened", NULL, "conns_added" },
	{ NULL, NULL, NULL },
};

static const struct metrics_rename pmem_renames[] = {
	{ "rate_limiter_throttled", NULL, "rate_limiter_throttled_events" },
	{ NULL, NULL, NULL },
};

/* The guest's bytes out (written to THR), lost (the sink full) and in. */
static const struct metrics_rename uart_renames[] = {
	{ "out_bytes", NULL, "write_count" },
	{ "out_dropped_bytes", NULL, "missed_write_count" },
	{ "in_bytes", NULL, "read_count" },
	{ NULL, NULL, NULL },
};

/* Exits Firecracker ends the vCPU for, and failed KVM_RUNs: its "failures". */
static const struct metrics_rename vcpu_renames[] = {
	{ "exit_fail_entry", NULL, "failures" },
	{ "exit_internal_error", NULL, "failures" },
	{ "exit_other", NULL, "failures" },
	{ "kvm_run_failures", NULL, "failures" },
	{ NULL, NULL, NULL },
};

static const struct metrics_rename no_renames[] = {
	{ NULL, NULL, NULL },
};

static const struct metrics_kind kinds[] = {
	{ "serial", "uart", "uart", uart_renames },
	{ "i8042", "i8042", "i8042", no_renames },
	{ "virtio-blk", "block", "block", blk_renames },
	{ "virtio-net", "net", "net", net_renames },
	{ "virtio-rng", "entropy", "entropy", rng_renames },
	{ "virtio-vsock", "vsock", "vsock", vsock_renames },
	{ "virtio-balloon", "balloon", "balloon", no_renames },
	{ "virtio-pmem", "pmem", "pmem", pmem_renames },
	{ "virtio-mem", "memory_hotplug", "memory_hotplug", no_renames },
};

static const struct metrics_kind vcpu_kind = { "vcpu", "vcpu", "vcpu", vcpu_renames };

static const struct metrics_kind *kind_of(const char *type)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(type, kinds[i].type))
			return &kinds[i];
	return NULL;
}

/*
 * The device's Firecracker group in counters, made now so that a device
 * that counted nothing yet has its own: per device by id, or the one.
 * A vhost-user disk is vhost_user's "block_<id>" (Firecracker's name for
 * it), never one of "block"'s.
 */
static json_t *fc_group(json_t *counters, const struct metrics_kind *k,
			const struct reg_entry *e, const struct metrics_group **g)
{
	struct virtio_dev *vd = vm_virtio_device(e);
	json_t *devices;
	char id[VM_ID_MAX + 8];

	if (!strcmp(k->fc, "block") && vd && virtio_vublk_is(vd)) {
		*g = metrics_schema_find("vhost_user");
		snprintf(id, sizeof(id), "block_%s", e->name);
		devices = metrics_group(metrics_group(counters, METRICS_DEVICES), "vhost_user");
		return metrics_group(devices, id);
	}
	*g = metrics_schema_find(k->fc);
	if (!*g)
		return NULL;
	if ((*g)->kind == MG_ONE)
		return metrics_group(counters, k->fc);
	devices = metrics_group(metrics_group(counters, METRICS_DEVICES), k->fc);
	return metrics_group(devices, e->name);
}

/* Adds value to obj[name]; a counter is 0 until something adds to it. */
static void add_to(json_t *obj, const char *name, uint64_t value)
{
	json_t *v = json_object_get(obj, name);

	if (v)
		value += (uint64_t)json_integer_value(v);
	/* Out of memory costs this count only: the line is still made, without it. */
	json_object_set_new(obj, name, json_integer((json_int_t)value));
}

/* Each counter into the Firecracker field it is, under a rename or its own name. */
static void add_fc(json_t *counters, json_t *dst, const struct metrics_group *g,
		   const struct metrics_kind *k, const struct dev_counter *c, unsigned int n)
{
	for (unsigned int i = 0; dst && i < n; i++) {
		const struct metrics_field *f;
		bool renamed = false;

		for (const struct metrics_rename *r = k->renames; r->from; r++) {
			if (strcmp(r->from, c[i].name))
				continue;
			renamed = true;
			if (r->group)
				metrics_add(counters, r->group, r->to, c[i].value);
			else
				add_to(dst, r->to, c[i].value);
		}
		f = renamed ? NULL : metrics_schema_field(g, c[i].name);
		if (f && f->kind != MF_LATENCY)
			add_to(dst, c[i].name, c[i].value);
	}
}

/* Hearth's name for a device's group: "<kind>_<id>", or "<kind>" when the id is the kind. */
static void own_name(const struct reg_entry *e, const struct metrics_kind *k, char *key,
		     size_t size)
{
	const char *kind = k ? k->name : e->type;
	size_t len;

	snprintf(key, size, "%s", kind);
	for (char *p = key; *p; p++)
		if (*p == '-')
			*p = '_';
	len = strlen(key);
	if (strcmp(kind, e->name) != 0)
		snprintf(key + len, size - len, "_%s", e->name);
}

void metrics_collect_vm(json_t *counters, struct vm *vm)
{
	struct dev_counter c[METRICS_DEV_COUNTERS_MAX];
	json_t *own = metrics_group(counters, METRICS_HEARTH);
	char key[VM_ID_MAX + 32];

	for (unsigned int i = 0; i < vm->registry.n; i++) {
		const struct reg_entry *e = &vm->registry.entries[i];
		const struct metrics_kind *k = kind_of(e->type);
		const struct metrics_group *g = NULL;
		json_t *dst = NULL;
		unsigned int n;

		if (e->kind != COMP_DEVICE)
			continue;
		n = registry_counters(e, c, METRICS_DEV_COUNTERS_MAX);
		if (k)
			dst = fc_group(counters, k, e, &g);
		if (dst)
			add_fc(counters, dst, g, k, c, n);
		own_name(e, k, key, sizeof(key));
		for (unsigned int j = 0; j < n; j++)
			metrics_add(own, key, c[j].name, c[j].value);
	}
	/* Then the vCPUs: Firecracker's one "vcpu" group and Hearth's add up their counts. */
	for (unsigned int i = 0; i < vm->registry.n; i++) {
		const struct reg_entry *e = &vm->registry.entries[i];
		unsigned int n;

		if (e->kind != COMP_VCPU)
			continue;
		n = registry_counters(e, c, METRICS_DEV_COUNTERS_MAX);
		add_fc(counters, metrics_group(counters, "vcpu"), metrics_schema_find("vcpu"),
		       &vcpu_kind, c, n);
		for (unsigned int j = 0; j < n; j++)
			metrics_add(own, "vcpu", c[j].name, c[j].value);
	}
}
