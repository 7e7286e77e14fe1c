#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "mem/guest_mem_hotplug.h"
#include "mmio_attach.h"
#include "state_check.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"
#include "virtio/vsock.h"
#include "virtio_record.h"

/* The test hook in vsock/vhost.c (not in the public header). */
struct virtio_vsock_backend {
	const char *path;
	int (*ioctl)(int fd, unsigned long req, void *arg);
};
int virtio_vsock_create_with(const struct virtio_env *env, const struct vsock_config *cfg,
			     const struct virtio_vsock_backend *be, struct virtio_dev **out,
			     struct err *err);

#define BASE 0xd0000000ull
#define RING_GPA(q) (0x10000ull + (q) * 0x4000ull)

/* A fake vhost_vsock that records what it was told. */
static struct fake {
	uint64_t features;
	unsigned long fail_req, fail_req2;
	int fail_errno, fail_errno2;
	unsigned int owner_calls, cid_calls, running_calls;
	uint64_t cid, set_features;
	unsigned int nregions, tables;
	unsigned int max_regions;  /* vhost's max_mem_regions; 0: no limit */
	uint8_t *scribble;         /* written when a table is refused: a vCPU's store meanwhile */
	struct vhost_memory_region regions[GUEST_MEM_MAX_REGIONS + 8];
	struct vhost_vring_state num[2], base[2];
	uint16_t vhost_avail[2]; /* what VHOST_GET_VRING_BASE answers: vhost's progress */
	struct vhost_vring_addr addr[2];
	int kick[2], call[2];
	int running;
} fake;

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	(void)fd;
	if (req == fake.fail_req)
		return -fake.fail_errno;
	if (req == fake.fail_req2)
		return -fake.fail_errno2;
	switch (req) {
	case VHOST_SET_OWNER:
		fake.owner_calls++;
		return 0;
	case VHOST_GET_FEATURES:
		*(uint64_t *)arg = fake.features;
		return 0;
	case VHOST_VSOCK_SET_GUEST_CID:
		fake.cid_calls++;
		fake.cid = *(uint64_t *)arg;
		return 0;
	case VHOST_SET_FEATURES:
		fake.set_features = *(uint64_t *)arg;
		return (fake.set_features & ~fake.features) ? -EOPNOTSUPP : 0;
	case VHOST_SET_MEM_TABLE: {
		struct vhost_memory *m = arg;

		if (fake.max_regions && m->nregions > fake.max_regions) {
			if (fake.scribble)
				memset(fake.scribble, 0xab, 4096);
			return -E2BIG;
		}
		fake.nregions = m->nregions;
		fake.tables++;
		for (unsigned int i = 0; i < m->nregions && i < GUEST_MEM_MAX_REGIONS + 8; i++)
			fake.regions[i] = m->regions[i];
		return 0;
	}
	case VHOST_SET_VRING_NUM:
	case VHOST_SET_VRING_BASE: {
		struct vhost_vring_state *s = arg;
		if (s->index >= 2)
			return -EINVAL;
		(req == VHOST_SET_VRING_NUM ? fake.num : fake.base)[s->index] = *s;
		return 0;
	}
	case VHOST_SET_VRING_ADDR: {
		struct vhost_vring_addr *a = arg;
		if (a->index >= 2)
			return -EINVAL;
		fake.addr[a->index] = *a;
		return 0;
	}
	case VHOST_SET_VRING_KICK:
	case VHOST_SET_VRING_CALL: {
		struct vhost_vring_file *f = arg;
		if (f->index >= 2)
			return -EINVAL;
		(req == VHOST_SET_VRING_KICK ? fake.kick : fake.call)[f->index] = f->fd;
		return 0;
	}
	case VHOST_GET_VRING_BASE: {
		struct vhost_vring_state *s = arg;
		if (s->index >= 2)
			return -EINVAL;
		s->num = fake.vhost_avail[s->index];
		return 0;
	}
	case VHOST_VSOCK_SET_RUNNING:
		fake.running_calls++;
		fake.running = *(int *)arg;
		return 0;
	default:
		return -ENOTTY;
	}
}

static const struct virtio_vsock_backend fake_be = { "/dev/null", fake_ioctl };

#define VHOST_ALL_FEATURES                                                                   \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |                       \
	 (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << 24) | (1ull << 27) | (1ull << 33) |     \
	 (1ull << 1))

struct rig {
	struct bus bus;
	struct eventloop loop;
	struct guest_mem gm;
	struct virtio_host host;
	struct virtio_env env;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
};

static int rig_setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	memset(&fake, 0, sizeof(fake));
	fake.features = VHOST_ALL_FEATURES;
	fake.kick[0] = fake.kick[1] = fake.call[0] = fake.call[1] = -1;
	bus_init(&r->bus);
	assert_int_equal(eventloop_init(&r->loop), 0);
	assert_int_equal(guest_mem_init(&r->gm, 4u << 20), 0);
	r->host = (struct virtio_host){ .vm_fd = -1, .bus = &r->bus, .loop = &r->loop };
	r->env = (struct virtio_env){ .loop = &r->loop, .mem = &r->gm };
	*state = r;
	return 0;
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;

	mmio_detach_destroy(r->dev, r->t);
	guest_mem_destroy(&r->gm);
	eventloop_destroy(&r->loop);
	bus_destroy(&r->bus);
	free(r);
	return 0;
}

/* The device, attached as Hearth does; a failed create leaves r->dev alone. */
static int rig_create(struct rig *r, uint64_t cid, struct err *err)
{
	struct vsock_config cfg = { .cid = cid };
	struct virtio_dev *dev;
	int ret;

	ret = virtio_vsock_create_with(&r->env, &cfg, &fake_be, &dev, err);
	if (ret)
		return ret;
	r->dev = dev;
	ret = mmio_attach(dev, &r->host, BASE, 5, &r->t);
	if (ret)
		r->dev = NULL;
	return ret;
}

static uint32_t rd(struct rig *r, uint64_t off, unsigned int len)
{
	uint8_t b[8] = { 0 };
	uint32_t v = 0;

	virtio_mmio_bus_ops.read(r->t, off, b, len);
	for (unsigned int i = 0; i < len && i < 4; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void wr(struct rig *r, uint64_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	virtio_mmio_bus_ops.write(r->t, off, b, 4);
}

/* A Linux-like probe: features, then queues 0..nq-1, then DRIVER_OK. */
static void drive(struct rig *r, unsigned int nq)
{
	wr(r, 0x070, 0);
	wr(r, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(r, 0x024, 0);
	wr(r, 0x020, (1u << VIRTIO_F_EVENT_IDX) | 2u /* SEQPACKET */);
	wr(r, 0x024, 1);
	wr(r, 0x020, 1u /* VERSION_1 */);
	wr(r, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < nq; q++) {
		wr(r, 0x030, q);
		assert_int_equal(rd(r, 0x034, 4), 256);
		wr(r, 0x038, 256);
		wr(r, 0x080, (uint32_t)RING_GPA(q));
		wr(r, 0x084, 0);
		wr(r, 0x090, (uint32_t)(RING_GPA(q) + 0x1000));
		wr(r, 0x094, 0);
		wr(r, 0x0a0, (uint32_t)(RING_GPA(q) + 0x2000));
		wr(r, 0x0a4, 0);
		wr(r, 0x044, 1);
	}
	wr(r, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			     VIRTIO_STATUS_DRIVER_OK);
}

/* One round of the I/O thread's loop, without blocking forever. */
static int loop_once(struct rig *r)
{
	struct epoll_event evs[8];
	int n = epoll_wait(r->loop.epfd, evs, 8, 1000);

	for (int i = 0; i < n; i++) {
		struct eventloop_handler *h = evs[i].data.ptr;
		if (h->fd >= 0)
			h->cb(h->opaque, evs[i].events);
	}
	return n;
}

/* A counter, through the generic hook a device registry uses. */
static uint64_t counter(struct rig *r, const char *name)
{
	struct dev_counter c[4];
	unsigned int n = virtio_dev_counters(r->dev, c, 4);

	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].value;
	fail_msg("no counter '%s'", name);
	return 0;
}

static void test_parse_ok(void **state)
{
	struct vsock_config cfg;
	struct err err;

	(void)state;
	assert_int_equal(virtio_vsock_parse("cid=3", &cfg, &err), 0);
	assert_int_equal(cfg.cid, 3);
	assert_int_equal(virtio_vsock_parse("cid=4294967294", &cfg, &err), 0);
	assert_int_equal(cfg.cid, 0xfffffffeull);
	assert_int_equal(virtio_vsock_parse("cid=1000", &cfg, &err), 0);
	assert_int_equal(cfg.cid, 1000);
}

static void test_parse_bad(void **state)
{
	static const struct {
		const char *spec, *msg;
	} cases[] = {
		{ "", "expected cid=N" },
		{ "cid=", "not a number" },
		{ "cid=abc", "not a number" },
		{ "cid=3x", "not a number" },
		{ "cid=-3", "not a number" },
		{ "cid= 3", "not a number" },
		{ "cid=0", "reserved" },
		{ "cid=1", "reserved" },
		{ "cid=2", "reserved" },
		{ "cid=4294967295", "out of range" },
		{ "cid=99999999999999999999999", "out of range" },
		{ "port=3", "unknown option" },
		{ "cid=3,cid=4", "twice" },
		{ ",", "expected cid=N" },
	};
	struct vsock_config cfg = { .cid = 77 };
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err.msg[0] = '\0';
		assert_int_equal(virtio_vsock_parse(cases[i].spec, &cfg, &err), -EINVAL);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("'%s': error '%s' lacks '%s'", cases[i].spec, err.msg, cases[i].msg);
		assert_null(strchr(err.msg, '\n'));
	}
	assert_int_equal(virtio_vsock_parse(NULL, &cfg, &err), -EINVAL);
}

static void test_missing_device(void **state)
{
	struct rig *r = *state;
	struct virtio_vsock_backend be = { "/nonexistent/vhost-vsock", fake_ioctl };
	struct vsock_config cfg = { .cid = 3 };
	struct err err;

	assert_int_equal(virtio_vsock_create_with(&r->env, &cfg, &be, &r->dev, &err),
			 -ENOENT);
	r->dev = NULL;
	assert_non_null(strstr(err.msg, "/nonexistent/vhost-vsock"));
	assert_non_null(strstr(err.msg, "load the vhost_vsock module"));
}

static void test_cid_in_use(void **state)
{
	struct rig *r = *state;
	struct err err;

	fake.fail_req = VHOST_VSOCK_SET_GUEST_CID;
	fake.fail_errno = EADDRINUSE;
	assert_int_equal(rig_create(r, 42, &err), -EADDRINUSE);
	r->dev = NULL;
	assert_non_null(strstr(err.msg, "CID 42 is in use"));
}

static void test_vhost_lacks_transport_feature(void **state)
{
	struct rig *r = *state;
	struct err err;

	fake.features = VHOST_ALL_FEATURES & ~(1ull << VIRTIO_F_EVENT_IDX);
	assert_int_equal(rig_create(r, 3, &err), -EOPNOTSUPP);
	r->dev = NULL;
	assert_non_null(strstr(err.msg, "0x20000000"));
}

static void test_config_and_registers(void **state)
{
	struct rig *r = *state;
	struct err err;
	uint8_t b[8];

	assert_int_equal(rig_create(r, 0x123456789ull, &err), -EINVAL);
	r->dev = NULL;
	assert_int_equal(rig_create(r, 0xfedcba98ull, &err), 0);
	assert_int_equal(fake.owner_calls, 1);
	assert_int_equal(fake.cid, 0xfedcba98ull);
	assert_int_equal(rd(r, 0x008, 4), VIRTIO_ID_VSOCK);
	/* SEQPACKET from vhost, transport bits; not vhost's NOTIFY_ON_EMPTY/ANY_LAYOUT. */
	wr(r, 0x014, 0);
	assert_int_equal(rd(r, 0x010, 4),
			 (1u << 1) | (1u << VIRTIO_F_EVENT_IDX) | (1u << VIRTIO_F_INDIRECT_DESC));
	wr(r, 0x014, 1);
	assert_int_equal(rd(r, 0x010, 4), 1);
	/* le64 guest_cid at 0x100, whichever access width the driver uses. */
	memset(b, 0xaa, sizeof(b));
	virtio_mmio_bus_ops.read(r->t, 0x100, b, 8);
	assert_int_equal(b[0], 0x98);
	assert_int_equal(b[3], 0xfe);
	assert_int_equal(b[4], 0);
	assert_int_equal(b[7], 0);
	assert_int_equal(rd(r, 0x100, 4), 0xfedcba98u);
	assert_int_equal(rd(r, 0x104, 4), 0);
	assert_int_equal(rd(r, 0x102, 2), 0xfedc);
	assert_int_equal(rd(r, 0x101, 1), 0xba);
	/* Past the config space reads as zero; writes change nothing. */
	assert_int_equal(rd(r, 0x108, 4), 0);
	wr(r, 0x100, 7);
	assert_int_equal(rd(r, 0x100, 4), 0xfedcba98u);
}

static void test_no_seqpacket_without_vhost(void **state)
{
	struct rig *r = *state;
	struct err err;

	fake.features = VHOST_ALL_FEATURES & ~2ull;
	assert_int_equal(rig_create(r, 3, &err), 0);
	wr(r, 0x014, 0);
	assert_int_equal(rd(r, 0x010, 4) & 2u, 0);
}

static void test_activate_and_signal(void **state)
{
	struct rig *r = *state;
	struct err err;
	uint64_t v;

	assert_int_equal(rig_create(r, 3, &err), 0);
	drive(r, 3);
	assert_int_equal(rd(r, 0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_int_equal(fake.set_features, (1ull << VIRTIO_F_VERSION_1) |
						    (1ull << VIRTIO_F_EVENT_IDX) | 2ull);
	assert_int_equal(fake.nregions, r->gm.nregions);
	assert_int_equal(fake.regions[0].guest_phys_addr, r->gm.regions[0].gpa);
	assert_int_equal(fake.regions[0].memory_size, r->gm.regions[0].size);
	assert_int_equal(fake.regions[0].userspace_addr, (uintptr_t)r->gm.regions[0].hva);
	for (unsigned int q = 0; q < 2; q++) {
		assert_int_equal(fake.num[q].num, 256);
		assert_int_equal(fake.base[q].num, 0);
		assert_int_equal(fake.addr[q].desc_user_addr,
				 (uintptr_t)guest_mem_ptr(&r->gm, RING_GPA(q), 1));
		assert_int_equal(fake.addr[q].avail_user_addr,
				 (uintptr_t)guest_mem_ptr(&r->gm, RING_GPA(q) + 0x1000, 1));
		assert_int_equal(fake.addr[q].used_user_addr,
				 (uintptr_t)guest_mem_ptr(&r->gm, RING_GPA(q) + 0x2000, 1));
		assert_true(fake.kick[q] >= 0);
		assert_true(fake.call[q] >= 0);
	}
	assert_int_equal(fake.running, 1);

	/* vhost's call becomes InterruptStatus.VRING plus the (absent) irqfd. */
	assert_int_equal(virtio_mmio_interrupt_status(r->t), 0);
	assert_int_equal(counter(r, "vhost_signals"), 0);
	v = 1;
	assert_int_equal(write(fake.call[1], &v, sizeof(v)), sizeof(v));
	assert_true(loop_once(r) >= 1);
	assert_int_equal(virtio_mmio_interrupt_status(r->t), VIRTIO_MMIO_INT_VRING);
	assert_int_equal(counter(r, "vhost_signals"), 1);

	/* Without an ioeventfd, QueueNotify is relayed to vhost's kick fd. */
	assert_int_equal(counter(r, "kick_relays"), 0);
	wr(r, 0x050, 1);
	assert_int_equal(read(fake.kick[1], &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	assert_int_equal(counter(r, "kick_relays"), 1);
	/* The event queue is ours and ignores kicks; bogus queues fail the device. */
	wr(r, 0x050, 2);
	assert_int_equal(rd(r, 0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_int_equal(counter(r, "kick_relays"), 1);
	wr(r, 0x050, 0xffff);
	assert_int_not_equal(rd(r, 0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);

	/*
	 * Reset stops vhost and keeps its fd: no re-open per reset (a guest
	 * could loop on it). The next probe programs every ring again from 0.
	 */
	for (int i = 0; i < 3; i++) {
		fake.base[0].num = fake.base[1].num = 77;
		wr(r, 0x070, 0);
		assert_int_equal(fake.running, 0);
		assert_int_equal(fake.owner_calls, 1);
		assert_int_equal(fake.cid_calls, 1);
		fake.running = -1;
		drive(r, 3);
		assert_int_equal(rd(r, 0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);
		assert_int_equal(fake.running, 1);
		assert_int_equal(fake.base[0].num, 0);
		assert_int_equal(fake.base[1].num, 0);
	}
	assert_int_equal(fake.owner_calls, 1);
}

/* Whether vhost's table, after RAM's regions, is exactly these runs (address, size). */
static void expect_runs(const struct rig *r, unsigned int n, const uint64_t (*runs)[2])
{
	unsigned int ram = r->gm.nregions;

	assert_int_equal(fake.nregions, ram + n);
	for (unsigned int i = 0; i < n; i++) {
		const struct vhost_memory_region *m = &fake.regions[ram + i];

		assert_int_equal(m->guest_phys_addr, r->gm.hp->gpa + runs[i][0]);
		assert_int_equal(m->memory_size, runs[i][1]);
		assert_int_equal(m->userspace_addr, (uintptr_t)(r->gm.hp->hva + runs[i][0]));
	}
}

/*
 * Issue 47, S1: vhost's table covers the hotplug region's plugged blocks
 * only, and follows plug and unplug: vhost faults in whatever its table
 * covers, so a guest that posted buffers in an unplugged block would have
 * the host back memory the operator never plugged (the old table covered
 * the whole region). A change the table cannot take (vhost's region
 * limit) is refused, nothing changed: the plug NACKed, the unplug BUSY.
 */
static void test_mem_table_hotplug_region(void **state)
{
	struct rig *r = *state;
	struct err err;
	const uint64_t M = 1u << 20;
	const uint64_t one[][2] = { { 0, 8 * M } };
	const uint64_t two[][2] = { { 0, 2 * M }, { 4 * M, 4 * M } };
	unsigned int tables;

	assert_int_equal(guest_mem_hotplug_init(&r->gm, 128u << 20, 2u << 20, 128u << 20), 0);
	assert_int_equal(rig_create(r, 3, &err), 0);
	drive(r, 3);
	assert_int_equal(rd(r, 0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);
	expect_runs(r, 0, NULL);                        /* nothing plugged: RAM alone */
	assert_int_equal(guest_mem_hotplug_set(&r->gm, 0, 8 * M, true), 0);
	expect_runs(r, 1, one);
	assert_int_equal(guest_mem_hotplug_set(&r->gm, 2 * M, 2 * M, false), 0);
	expect_runs(r, 2, two);                         /* the hole is no longer vhost's */
	/* vhost takes RAM and two runs at most: a third run is refused whole. */
	fake.max_regions = r->gm.nregions + 2;
	tables = fake.tables;
	fake.scribble = r->gm.hp->hva + 20 * M;
	assert_int_equal(guest_mem_hotplug_set(&r->gm, 20 * M, 2 * M, true), -EBUSY);
	assert_false(guest_mem_hotplug_plugged(r->gm.hp, 20 * M));
	/* What a vCPU wrote there while the slot was in went back with it: zeros. */
	assert_int_equal(r->gm.hp->hva[20 * M], 0);
	fake.scribble = NULL;
	assert_int_equal(guest_mem_hotplug_set(&r->gm, 6 * M, 2 * M, false), 0);
	assert_int_equal(guest_mem_hotplug_set(&r->gm, 4 * M, 2 * M, false), 0);
	assert_int_equal(guest_mem_hotplug_set(&r->gm, 20 * M, 2 * M, true), 0);
	/* An unplug that would cut a run in two is BUSY, its blocks still plugged. */
	assert_int_equal(guest_mem_hotplug_set(&r->gm, 0, 2 * M, false), 0);
	assert_int_equal(guest_mem_hotplug_set(&r->gm, 0, 6 * M, true), 0);
	assert_int_equal(guest_mem_hotplug_set(&r->gm, 2 * M, 2 * M, false), -EBUSY);
	assert_true(guest_mem_hotplug_plugged(r->gm.hp, 2 * M));
	assert_non_null(guest_mem_ptr(&r->gm, r->gm.hp->gpa + 2 * M, 4096));
	assert_true(fake.tables > tables);
	fake.max_regions = 0;
	/* A reset's device goes back to the same table; destroyed, it is told no more. */
	wr(r, 0x070, 0);
	drive(r, 3);
	assert_int_equal(fake.nregions, r->gm.nregions + 2);
}

static void test_activate_failures(void **state)
{
	struct rig *r = *state;
	struct err err;

	assert_int_equal(rig_create(r, 3, &err), 0);
	/* The driver left the tx queue off: vhost cannot run, the device needs reset. */
	drive(r, 1);
	assert_int_not_equal(rd(r, 0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_int_not_equal(fake.running, 1);

	fake.fail_req = VHOST_SET_MEM_TABLE;
	fake.fail_errno = EFAULT;
	drive(r, 3);
	assert_int_not_equal(rd(r, 0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_int_not_equal(fake.running, 1);

	/*
	 * vhost refuses to stop: the fd is closed and reopened, and the reopen
	 * fails (CID taken meanwhile): later probes fail cleanly until a reset
	 * finds the CID free again.
	 */
	fake.fail_req = VHOST_VSOCK_SET_RUNNING;
	fake.fail_errno = EIO;
	fake.fail_req2 = VHOST_VSOCK_SET_GUEST_CID;
	fake.fail_errno2 = EADDRINUSE;
	drive(r, 3);
	assert_int_not_equal(rd(r, 0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);
	fake.fail_req = fake.fail_req2 = 0;
	drive(r, 3);
	assert_int_equal(rd(r, 0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_int_equal(fake.running, 1);
}

/*
 * With kick fds on the transport (ioeventfds, in Hearth), vhost takes
 * rx/tx's through the device's take_kick_fd hook: the I/O loop stops
 * watching them and no kick passes through Hearth. Taken once: a reset
 * and a new probe keep them. The transport closes them on detach.
 */
static void test_takes_transport_kicks(void **state)
{
	struct rig *r = *state;
	struct epoll_event ev;
	struct err err;
	int kick[2];
	uint64_t v;

	r->host.test_kick_fds = true;
	assert_int_equal(rig_create(r, 3, &err), 0);
	drive(r, 3);
	assert_int_equal(rd(r, 0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_int_equal(fake.running, 1);
	for (unsigned int q = 0; q < 2; q++) {
		assert_true(fake.kick[q] >= 0);
		kick[q] = fake.kick[q];
	}
	assert_int_not_equal(kick[0], kick[1]);
	/* A QueueNotify the fast path missed still reaches vhost, on its fd. */
	wr(r, 0x050, 1);
	assert_int_equal(epoll_wait(r->loop.epfd, &ev, 1, 0), 0);
	assert_int_equal(read(kick[1], &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	assert_int_equal(counter(r, "kick_relays"), 0);
	/* The event queue's kicks stay on the loop, and mean nothing. */
	wr(r, 0x050, 2);
	assert_int_equal(loop_once(r), 1);
	assert_int_equal(rd(r, 0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);

	wr(r, 0x070, 0);
	drive(r, 3);
	assert_int_equal(rd(r, 0x070, 4) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_int_equal(fake.kick[0], kick[0]);
	assert_int_equal(fake.kick[1], kick[1]);
}

/* Only where the host has vhost_vsock (not on PVM-backed CI). */
static void test_real_vhost(void **state)
{
	struct rig *r = *state;
	struct vsock_config cfg = { .cid = 3000000000u + (uint64_t)getpid() % 100000u };
	struct virtio_dev *second = NULL;
	struct err err;
	int ret;

	if (access("/dev/vhost-vsock", R_OK | W_OK) != 0) {
		skip();
		return;
	}
	ret = virtio_vsock_create(&r->env, &cfg, &r->dev, &err);
	if (ret)
		fail_msg("create: %s", err.msg);
	assert_int_equal(mmio_attach(r->dev, &r->host, BASE, 5, &r->t), 0);
	ret = virtio_vsock_create(&r->env, &cfg, &second, &err);
	assert_int_equal(ret, -EADDRINUSE);
	assert_non_null(strstr(err.msg, "is in use"));
}

/* The driver's avail index and the used index in queue q's rings. */
static void ring_idx(struct rig *r, unsigned int q, uint16_t avail, uint16_t used)
{
	uint16_t *a = guest_mem_ptr(&r->gm, RING_GPA(q) + 0x1000, 4);
	uint16_t *u = guest_mem_ptr(&r->gm, RING_GPA(q) + 0x2000, 4);

	a[1] = avail;
	u[1] = used;
}

/* The same RAM, a new device (the restored process's), vhost told nothing yet. */
static void renew(struct rig *r, uint64_t cid)
{
	struct err err;

	mmio_detach_destroy(r->dev, r->t);
	r->dev = NULL;
	r->t = NULL;
	bus_destroy(&r->bus); /* the window stays registered until the VM's bus goes */
	bus_init(&r->bus);
	memset(fake.base, 0, sizeof(fake.base));
	fake.running = 0;
	assert_int_equal(rig_create(r, cid, &err), 0);
}

/*
 * Across a snapshot: vhost's ring positions (not our virtq's: vhost moves
 * the rings) are read while it is paused and handed to the restored
 * device's vhost, which would otherwise start again at 0 and serve old
 * descriptors; and the guest gets a transport reset in the event buffer
 * it had posted.
 */
static void test_snapshot_ring_bases_and_reset(void **state)
{
	struct rig *r = *state;
	struct virtq_desc ev = { 0x300000, 8, VIRTQ_DESC_F_WRITE, 0 };
	uint16_t *avail, *used;
	uint32_t id = 0xffffffffu;
	uint8_t *rec;
	size_t len;
	struct err err;

	assert_int_equal(rig_create(r, 3, &err), 0);
	drive(r, 3);
	assert_int_equal(fake.running, 1);
	assert_int_equal(fake.base[0].num, 0);
	/* The driver posts one event buffer. */
	memcpy(guest_mem_ptr(&r->gm, RING_GPA(2), 16), &ev, 16);
	memcpy(guest_mem_ptr(&r->gm, 0x300000, 4), &id, 4);
	avail = guest_mem_ptr(&r->gm, RING_GPA(2) + 0x1000, 6);
	avail[2] = 0;
	avail[1] = 1;
	/* vhost took 7 and 3 chains from rx and tx, and gave them back. */
	ring_idx(r, 0, 7, 7);
	ring_idx(r, 1, 3, 3);
	fake.vhost_avail[0] = 7;
	fake.vhost_avail[1] = 3;
	/* vhost still running: its positions are not final, no save. */
	assert_int_equal(state_try_save(&STATE_MMIO(r->t)), -EBUSY);
	virtio_dev_pause(r->dev);
	assert_int_equal(fake.running, 0);
	rec = state_save(&STATE_MMIO(r->t), &len);
	/* The same RAM, a new device (the restored process's). */
	renew(r, 3);
	assert_int_equal(state_restore(&STATE_MMIO(r->t), rec, len), 0);
	assert_int_equal(fake.running, 1);
	assert_int_equal(fake.base[0].num, 7);
	assert_int_equal(fake.base[1].num, 3);
	used = guest_mem_ptr(&r->gm, RING_GPA(2) + 0x2000, 12);
	assert_int_equal(used[1], 1);
	memcpy(&id, guest_mem_ptr(&r->gm, 0x300000, 4), 4);
	assert_int_equal(id, 0); /* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET */
	/* Another CID: refused, nothing changes. */
	renew(r, 4);
	assert_int_equal(state_restore(&STATE_MMIO(r->t), rec, len), -EINVAL);
	assert_int_equal(rd(r, 0x070, 4), 0);
	free(rec);
}

/*
 * vhost's saved ring position goes to the new vhost as it is, so it meets
 * virtq_restore's checks first: no further than the driver's avail index
 * and at most a ring ahead of the used index, both as the restored rings
 * say them. A record past them is refused by the check, before anything
 * changed, rather than handed to the kernel.
 */
static void test_snapshot_ring_base_out_of_range(void **state)
{
	static const uint16_t bad[] = { 6, 8, 7 + 257, 0x8000 };
	struct rig *r = *state;
	uint8_t *rec;
	size_t len;
	struct err err;

	assert_int_equal(rig_create(r, 3, &err), 0);
	drive(r, 3);
	ring_idx(r, 0, 7, 7);
	ring_idx(r, 1, 3, 3);
	fake.vhost_avail[1] = 3;
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fake.vhost_avail[0] = bad[i];
		virtio_dev_pause(r->dev);
		rec = state_save(&STATE_MMIO(r->t), &len);
		virtio_dev_resume(r->dev);
		renew(r, 3);
		assert_int_equal(state_check(&STATE_MMIO(r->t), rec, len), -EINVAL);
		assert_int_equal(rd(r, 0x070, 4), 0);
		assert_int_equal(fake.base[0].num, 0);
		assert_int_equal(fake.running, 0);
		free(rec);
		drive(r, 3);
	}
	/* At the driver's index, as vhost leaves it: taken up. */
	fake.vhost_avail[0] = 7;
	virtio_dev_pause(r->dev);
	rec = state_save(&STATE_MMIO(r->t), &len);
	renew(r, 3);
	assert_int_equal(state_restore(&STATE_MMIO(r->t), rec, len), 0);
	assert_int_equal(fake.base[0].num, 7);
	assert_int_equal(fake.base[1].num, 3);
	free(rec);
}

/*
 * A crafted record: the driver had activated the device (vhost running)
 * but rx is not enabled. activate could not take it up, so the check
 * refuses it, before anything changed; the apply would otherwise have
 * failed on the guest's side (the third audit's leftover).
 */
static void test_snapshot_activated_without_queue(void **state)
{
	struct rig *r = *state;
	uint64_t desc = RING_GPA(0);
	uint8_t *rec;
	size_t len, at;
	struct err err;

	assert_int_equal(rig_create(r, 3, &err), 0);
	drive(r, 3);
	virtio_dev_pause(r->dev);
	rec = state_save(&STATE_MMIO(r->t), &len);
	/* rx's record: size, then desc, avail, used, event_idx, indirect, enabled. */
	for (at = 2; at + 8 <= len && memcmp(rec + at, &desc, 8); at++)
		;
	assert_true(at + 8 * 3 + 2 < len);
	assert_int_equal(rec[at + 8 * 3 + 2], 1);
	rec[at + 8 * 3 + 2] = 0;
	renew(r, 3);
	assert_int_equal(state_check(&STATE_MMIO(r->t), rec, len), -EINVAL);
	assert_int_equal(fake.running, 0);
	free(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshot_ring_bases_and_reset, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_activated_without_queue, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_ring_base_out_of_range, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_mem_table_hotplug_region, rig_setup,
						rig_teardown),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test_setup_teardown(test_missing_device, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_cid_in_use, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_vhost_lacks_transport_feature, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_config_and_registers, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_no_seqpacket_without_vhost, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_activate_and_signal, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_activate_failures, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_takes_transport_kicks, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_real_vhost, rig_setup, rig_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
