/*
 * Every component of a VM built from a config (vm_rig.h: the devices of
 * vmm/devices.c's tables and the dirty log, entered as vm_create enters
 * them) saves its record through the registry; a fresh VM from the same
 * config checks every record, then takes each one up, as a snapshot
 * restore does; and it saves the same bytes again. A component that
 * cannot save or restore, or whose record does not come back whole,
 * fails here. The VM-wide and vCPU state is KVM's: the rig has no VM fd
 * to read it from, so those two kinds, and only they, are left to
 * test_vcpu_state and test_snapshot_compat (their records' layout).
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

#include "core/layout.h"
#include "state_check.h"
#include "util/log.h"
#include "vm_rig.h"

/* One saved record per component, in the registry's order. */
struct saved {
	unsigned int n;
	struct {
		enum comp_kind kind;
		char id[REG_ID_MAX + 1];
		uint8_t *data;
		size_t len;
	} rec[64];
};

static bool kvm_state(enum comp_kind kind)
{
	return kind == COMP_VM || kind == COMP_VCPU;
}

static int save_one(struct reg_entry *e, void *ctx, struct err *err)
{
	struct saved *s = ctx;

	(void)err;
	if (kvm_state(e->kind))
		return 0;
	assert_true(s->n < sizeof(s->rec) / sizeof(s->rec[0]));
	if (!e->comp.ops->save || !e->comp.ops->restore)
		fail_msg("%s '%s' (%s) has no save or no restore", e->kind == COMP_DEVICE ?
			 "device" : "component", e->id, e->type);
	s->rec[s->n].kind = e->kind;
	snprintf(s->rec[s->n].id, sizeof(s->rec[s->n].id), "%s", e->id);
	s->rec[s->n].data = state_save(&e->comp, &s->rec[s->n].len);
	s->n++;
	return 0;
}

static void saved_release(struct saved *s)
{
	for (unsigned int i = 0; i < s->n; i++)
		free(s->rec[i].data);
	s->n = 0;
}

static void save_all(struct vm_rig *r, struct saved *s)
{
	struct err err = ERR_INIT;

	s->n = 0;
	assert_int_equal(registry_each(&r->vm.registry, r->vm.loop, save_one, s, &err), 0);
}

/* Each record into the component of the same kind and id: all checked, then all applied. */
static void restore_all(struct vm_rig *r, const struct saved *s)
{
	struct err err = ERR_INIT;

	for (int apply = 0; apply <= 1; apply++)
		for (unsigned int i = 0; i < s->n; i++) {
			struct reg_entry *e = registry_find(&r->vm.registry, s->rec[i].kind,
							    s->rec[i].id);

			int ret;

			assert_non_null(e);
			ret = e->comp.ops->restore(e->comp.obj, s->rec[i].data, s->rec[i].len,
						   apply, &err);
			if (ret)
				fail_msg("'%s' refused its own record (%s): %d %s", e->id,
					 apply ? "apply" : "check", ret, err.msg);
		}
}

static void poke(struct vm *vm, enum bus_space space, uint64_t addr, uint32_t value,
		 unsigned int len)
{
	uint8_t data[4];

	bus_data_put(data, len, value);
	assert_int_equal(bus_access(&vm->bus, space, addr, data, len, true), 0);
}

/* State no device starts with, so the round trip carries something. */
static void stir(struct vm_rig *r)
{
	struct vm *vm = &r->vm;

	poke(vm, BUS_PIO, PORT_COM1 + 3, 0x1b, 1);    /* LCR */
	poke(vm, BUS_PIO, PORT_COM1 + 7, 0x5a, 1);    /* SCR */
	poke(vm, BUS_PIO, PORT_RTC, 0x30, 1);         /* an NVRAM byte past the clock */
	poke(vm, BUS_PIO, PORT_RTC + 1, 0xa5, 1);
	poke(vm, BUS_PIO, PORT_FW_CFG, 0x0000, 2);    /* the signature item, a byte read */
	assert_int_equal(bus_access(&vm->bus, BUS_PIO, PORT_FW_CFG + 1,
				    (uint8_t[1]){ 0 }, 1, false), 0);
	poke(vm, BUS_PIO, PORT_TESTDEV, 0xdeadbeef, 4);
	poke(vm, BUS_MMIO, MMIO_TESTDEV + 0x40, 0x12345678, 4);
	for (unsigned int i = 0; i < vm->registry.n; i++) {
		const struct reg_entry *e = &vm->registry.entries[i];

		/* A virtio transport the driver has found: ACKNOWLEDGE | DRIVER, queue 1 selected. */
		if (e->kind == COMP_DEVICE && e->res.mmio_base >= LAYOUT_VIRTIO_MMIO_BASE &&
		    e->res.mmio_base < LAYOUT_MMIO_HOLE_END && e->res.mmio_base != MMIO_TESTDEV &&
		    e->res.mmio_base != LAYOUT_VMCLOCK && e->res.mmio_base != LAYOUT_VMGENID) {
			poke(vm, BUS_MMIO, e->res.mmio_base + 0x70, 3, 4);
			poke(vm, BUS_MMIO, e->res.mmio_base + 0x30, 1, 4);
		}
	}
	guest_mem_dirty_mark(&vm->mem, 0x5000, 3 * 4096);
}

static void config_all(struct vm_config *cfg, const char *dir)
{
	struct err err = ERR_INIT;
	struct vm_drive d = { .id = "rootfs", .cache_type = BLK_CACHE_WRITEBACK };
	struct vm_net n = { .id = "eth0" };
	char path[4096];
	int fd;

	vm_config_init(cfg);
	assert_int_equal(vm_config_set_machine(cfg, &(struct vm_machine){
		.vcpu_count = 2, .mem_size_mib = 16, .track_dirty_pages = true }, &err), 0);
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	d.path_on_host = path;
	assert_int_equal(vm_config_put_drive(cfg, &d, false, &err), 0);
	/*
	 * A MAC of its own: the default one counts the NICs the process has
	 * made (virtio/net/net.c), and this process makes a VM twice.
	 */
	assert_int_equal(virtio_net_parse("user", &n.dev, &err), 0);
	memcpy(n.dev.mac, (const uint8_t[6]){ 2, 0x48, 0x52, 0, 0, 7 }, 6);
	n.dev.mac_set = true;
	assert_int_equal(vm_config_put_net(cfg, &n, false, &err), 0);
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	assert_int_equal(vm_config_set_vsock(cfg, &(struct vm_vsock){
		.present = true, .guest_cid = 3, .uds_path = path }, &err), 0);
	assert_int_equal(vm_config_set_entropy(cfg, true), 0);
	assert_int_equal(vm_config_set_debug_exit(cfg, &(struct vm_debug_exit){
		.present = true, .iobase = 0xf4, .iosize = 4 }, &err), 0);
	cfg->test_devices = true;
	assert_int_equal(vm_config_set_debugcon(cfg, &(struct vm_debugcon){ .port = 0xe9 },
						&err), 0);
}

static void config_release(struct vm_config *cfg, const char *dir)
{
	char path[4096];

	vm_config_release(cfg);
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

static void test_every_component_round_trips(void **state)
{
	/*
	 * Each VM its own directory: the first one's disk, closed, may stay
	 * locked a while (io_uring drops its files asynchronously).
	 */
	char dir_a[] = "/tmp/hearth-components-XXXXXX", dir_b[] = "/tmp/hearth-components-XXXXXX";
	struct vm_rig *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct saved *first = calloc(1, sizeof(*first)), *again = calloc(1, sizeof(*again));
	unsigned int devices = 0, skipped = 0;
	uint8_t gen_a[16], gen_b[16];
	struct vm_config cfg_a, cfg_b;

	(void)state;
	log_set_level(LOG_ERR);
	assert_true(mkdtemp(dir_a) && mkdtemp(dir_b));
	config_all(&cfg_a, dir_a);
	config_all(&cfg_b, dir_b);

	vm_rig_build(a, &cfg_a);
	stir(a);
	save_all(a, first);
	for (unsigned int i = 0; i < a->vm.registry.n; i++) {
		devices += a->vm.registry.entries[i].kind == COMP_DEVICE;
		skipped += kvm_state(a->vm.registry.entries[i].kind);
	}
	/*
	 * Every legacy device (VMClock, VMGenID and the PCI root too), the
	 * four virtio families, and the dirty log; the VM and 2 vCPUs.
	 */
	assert_int_equal(devices, 12 + 4);
	assert_int_equal(first->n, devices + 1);
	assert_int_equal(skipped, 1 + 2);
	memcpy(gen_a, a->vm.vmgenid_page, sizeof(gen_a));
	vm_rig_free(a);

	vm_rig_build(b, &cfg_b);
	memcpy(gen_b, b->vm.vmgenid_page, sizeof(gen_b));
	assert_memory_not_equal(gen_a, gen_b, sizeof(gen_a));
	restore_all(b, first);
	/* VMGenID's restore writes a new generation: neither the snapshot's VM's nor b's own. */
	assert_memory_not_equal(b->vm.vmgenid_page, gen_a, sizeof(gen_a));
	assert_memory_not_equal(b->vm.vmgenid_page, gen_b, sizeof(gen_b));
	save_all(b, again);
	assert_int_equal(again->n, first->n);
	for (unsigned int i = 0; i < first->n; i++) {
		assert_int_equal(again->rec[i].kind, first->rec[i].kind);
		assert_string_equal(again->rec[i].id, first->rec[i].id);
		/* VMClock's restore is a disruption: both its counters one past the record's. */
		if (!strcmp(first->rec[i].id, "vmclock")) {
			uint64_t was[2], now[2];
			size_t len = first->rec[i].len;

			assert_int_equal(again->rec[i].len, len);
			memcpy(was, first->rec[i].data + len - 16, 16);
			memcpy(now, again->rec[i].data + len - 16, 16);
			assert_int_equal(now[0], was[0] + 1);
			assert_int_equal(now[1], was[1] + 1);
			continue;
		}
		if (again->rec[i].len != first->rec[i].len ||
		    memcmp(again->rec[i].data, first->rec[i].data, first->rec[i].len))
			fail_msg("'%s' saved other bytes after its restore", first->rec[i].id);
	}
	vm_rig_free(b);

	saved_release(first);
	saved_release(again);
	free(first);
	free(again);
	free(a);
	free(b);
	config_release(&cfg_a, dir_a);
	config_release(&cfg_b, dir_b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_component_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
