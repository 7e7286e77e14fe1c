/*
 * virtio-blk's live changes, driven like a guest would (mmio registers, a
 * real ring, temp images, completions on a helper thread's event loop as
 * on Hearth's I/O thread): a rate limiter holds requests in the ring and
 * lets them go when its timer fires; PATCH swaps or re-sizes the image.
 * The limiter runs on a fake clock: its timer is real, its tokens are not.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/virtio.h"
#include "vmm/vm_patch.h"

#define BASE 0xd0000000ull
#define QSIZE 64u
#define DESC_GPA 0x10000ull
#define AVAIL_GPA 0x20000ull
#define USED_GPA 0x30000ull
#define TABLE_GPA 0x40000ull      /* 64 bytes per slot */
#define HDR_GPA 0x100000ull       /* 16 bytes per slot */
#define STATUS_GPA 0x180000ull    /* 1 byte per slot */
#define DATA_GPA 0x200000ull      /* 512 bytes per slot */
#define MS 1000000ull

struct drv {
	struct guest_mem gm;
	struct bus bus;
	struct eventloop loop;
	pthread_t thread;
	int wake_fd;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	char path[64], path2[64];
	uint16_t avail_idx;
};

#include "mmio_driver.h"

static uint64_t fake_now = 1000 * MS;

static uint64_t fake_clock(void *opaque)
{
	(void)opaque;
	return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

static const struct rl_clock clk = { fake_clock, NULL };

static void on_wake(void *opaque, uint32_t events) { eventloop_stop(opaque); }

static void *loop_thread(void *opaque) { eventloop_run(opaque); return NULL; }

/* An image whose every byte says which image and which sector it is. */
static void make_image(const char *path, unsigned int sectors, uint8_t tag)
{
	uint8_t sec[512];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	for (unsigned int s = 0; s < sectors; s++) {
		memset(sec, tag + s, sizeof(sec));
		assert_int_equal(write(fd, sec, sizeof(sec)), (ssize_t)sizeof(sec));
	}
	close(fd);
}

static int setup(void **state)
{
	struct drv *d = calloc(1, sizeof(*d));
	struct virtio_env env = { .loop = &d->loop, .mem = &d->gm, .clock = &clk };
	struct virtio_host host = { .vm_fd = -1, .bus = &d->bus, .loop = &d->loop };
	struct blk_config cfg;
	char spec[96];
	struct err err;

	log_set_level(LOG_ERR);
	assert_int_equal(guest_mem_init(&d->gm, 32ull << 20), 0);
	bus_init(&d->bus);
	assert_int_equal(eventloop_init(&d->loop), 0);
	d->wake_fd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(eventloop_add(&d->loop, d->wake_fd, EPOLLIN, on_wake, &d->loop), 0);
	snprintf(d->path, sizeof(d->path), "/tmp/hearth-swap-XXXXXX");
	close(mkstemp(d->path));
	snprintf(d->path2, sizeof(d->path2), "/tmp/hearth-swap2-XXXXXX");
	close(mkstemp(d->path2));
	make_image(d->path, 64, 0x10);
	make_image(d->path2, 128, 0x80);
	snprintf(spec, sizeof(spec), "path=%s", d->path);
	assert_int_equal(virtio_blk_parse(spec, &cfg, &err), 0);
	assert_int_equal(virtio_blk_create(&env, &cfg, &d->dev, &err), 0);
	virtio_blk_config_release(&cfg);
	assert_int_equal(mmio_attach(d->dev, &host, BASE, 5, &d->t), 0);
	assert_int_equal(pthread_create(&d->thread, NULL, loop_thread, &d->loop), 0);
	mmio_init_one(d, true, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct drv *d = *state;
	uint64_t one = 1;

	assert_int_equal(write(d->wake_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(d->thread, NULL);
	mmio_detach_destroy(d->dev, d->t);
	eventloop_destroy(&d->loop);
	close(d->wake_fd);
	bus_destroy(&d->bus);
	guest_mem_destroy(&d->gm);
	unlink(d->path);
	unlink(d->path2);
	free(d);
	return 0;
}

/* Publishes a one-sector read of sector into slot n (not kicked). */
static void post_read(struct drv *d, unsigned int n, uint64_t sector)
{
	struct virtq_desc *table = gp(d, TABLE_GPA + 64ull * n, 48);
	struct virtq_desc *ring = gp(d, DESC_GPA, 16 * QSIZE);
	uint16_t *avail = gp(d, AVAIL_GPA, 6 + 2 * QSIZE);
	uint32_t *hdr = gp(d, HDR_GPA + 16ull * n, 16);
	unsigned int slot = d->avail_idx % QSIZE;

	hdr[0] = 0;   /* VIRTIO_BLK_T_IN */
	hdr[1] = 0;
	memcpy(&hdr[2], &sector, 8);
	*(uint8_t *)gp(d, STATUS_GPA + n, 1) = 0xee;
	memset(gp(d, DATA_GPA + 512ull * n, 512), 0, 512);
	table[0] = (struct virtq_desc){ HDR_GPA + 16ull * n, 16, VIRTQ_DESC_F_NEXT, 1 };
	table[1] = (struct virtq_desc){ DATA_GPA + 512ull * n, 512,
					VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 };
	table[2] = (struct virtq_desc){ STATUS_GPA + n, 1, VIRTQ_DESC_F_WRITE, 0 };
	ring[slot] = (struct virtq_desc){ TABLE_GPA + 64ull * n, 48, VIRTQ_DESC_F_INDIRECT, 0 };
	avail[2 + slot] = (uint16_t)slot;
	__atomic_store_n(&avail[1], ++d->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t used_idx(struct drv *d)
{
	return __atomic_load_n((uint16_t *)gp(d, USED_GPA + 2, 2), __ATOMIC_ACQUIRE);
}

static uint64_t counter(struct drv *d, const char *name)
{
	struct dev_counter c[16];
	unsigned int n = virtio_dev_counters(d->dev, c, 16);

	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].value;
	fail_msg("no counter %s", name);
	return 0;
}

/* Waits (5 s at most: a hang, not a speed limit) until cond holds. */
#define WAIT_FOR(cond)                                                            \
	do {                                                                      \
		int i_;                                                           \
		for (i_ = 0; i_ < 5000 && !(cond); i_++)                          \
			usleep(1000);                                             \
		assert_true(cond);                                                \
	} while (0)

/* The byte slot n read: its image's tag plus the sector. */
static uint8_t data(struct drv *d, unsigned int n)
{
	return *(uint8_t *)gp(d, DATA_GPA + 512ull * n + 511, 1);
}

struct limiter_call {
	struct virtio_dev *dev;
	struct rl_config cfg;
};

static void set_limiter_fn(void *arg)
{
	struct limiter_call *c = arg;

	virtio_blk_set_limiter(c->dev, &c->cfg);
}

static void set_limiter(struct drv *d, const struct rl_config *cfg)
{
	struct limiter_call c = { d->dev, *cfg };

	assert_int_equal(eventloop_call_sync(&d->loop, set_limiter_fn, &c), 0);
}

static void test_limited_completes_what_the_bucket_allows(void **state)
{
	struct drv *d = *state;
	struct rl_config ops2 = { .ops = { true, 2, 0, 1000 } };

	set_limiter(d, &ops2);
	for (unsigned int i = 0; i < 5; i++)
		post_read(d, i, i);
	wr(d, 0x050, 0);
	WAIT_FOR(used_idx(d) == 2);
	/* The timer fired and found no tokens (the clock stood still): still two. */
	WAIT_FOR(counter(d, "rate_limiter_throttled") >= 2);
	assert_int_equal(used_idx(d), 2);
	__atomic_add_fetch(&fake_now, 1000 * MS, __ATOMIC_SEQ_CST);
	WAIT_FOR(used_idx(d) == 4);
	__atomic_add_fetch(&fake_now, 1000 * MS, __ATOMIC_SEQ_CST);
	WAIT_FOR(used_idx(d) == 5);
	/* None lost, none twice: every slot read its own sector. */
	for (unsigned int i = 0; i < 5; i++) {
		assert_int_equal(*(uint8_t *)gp(d, STATUS_GPA + i, 1), 0);
		assert_int_equal(data(d, i), 0x10 + i);
	}
	assert_int_equal(counter(d, "read_requests"), 5);
}

static void test_unlimited_is_unchanged(void **state)
{
	struct drv *d = *state;
	struct rl_config off = { .ops = { true, 0, 0, 0 } };

	set_limiter(d, &off);
	for (unsigned int i = 0; i < 40; i++)
		post_read(d, i, i % 64);
	wr(d, 0x050, 0);
	WAIT_FOR(used_idx(d) == 40);
	assert_int_equal(counter(d, "rate_limiter_throttled"), 0);
}

/*
 * A read twice the bucket goes through once and silences the disk for
 * the excess: 256 tokens at 256 per 1000 s. A live update applies at
 * once, not when that timer fires.
 */
static void test_over_consumption_and_live_update(void **state)
{
	struct drv *d = *state;
	struct rl_config bw = { .bandwidth = { true, 256, 0, 1000000 } };
	struct rl_config off = { .bandwidth = { true, 0, 0, 0 } };

	set_limiter(d, &bw);
	for (unsigned int i = 0; i < 3; i++)
		post_read(d, i, i);
	wr(d, 0x050, 0);
	WAIT_FOR(used_idx(d) == 1);
	__atomic_add_fetch(&fake_now, 1000000 * MS, __ATOMIC_SEQ_CST);
	usleep(200 * 1000);   /* more than a refill round: a wrong timer would show */
	assert_int_equal(used_idx(d), 1);
	set_limiter(d, &off);
	WAIT_FOR(used_idx(d) == 3);
	assert_int_equal(data(d, 2), 0x12);
}

struct swap_call {
	struct drv *d;
	struct blk_config *cfg;
	uint16_t used_after;
	int ret;
	struct err err;
};

/*
 * On the I/O thread, as PATCH runs it: a read goes into io_uring, and the
 * swap comes before the loop could reap it.
 */
static void swap_fn(void *arg)
{
	struct swap_call *c = arg;
	struct virtio_dev *dev = c->d->dev;

	pthread_mutex_lock(&dev->lock);
	dev->ops->queue_notify(dev, 0);
	pthread_mutex_unlock(&dev->lock);
	c->ret = virtio_blk_swap(dev, c->cfg, &c->err);
	c->used_after = used_idx(c->d);
}

static void test_swap(void **state)
{
	struct drv *d = *state;
	struct swap_call c = { .d = d };
	struct blk_config cfg;
	uint32_t gen = rd(d, 0x0fc);
	char spec[96];
	struct err err;

	assert_int_equal(cfg_rd(d, 0, 8), 64);
	assert_false(rd(d, 0x060) & VIRTIO_MMIO_INT_CONFIG);
	snprintf(spec, sizeof(spec), "path=%s", d->path2);
	assert_int_equal(virtio_blk_parse(spec, &cfg, &err), 0);
	assert_int_equal(virtio_blk_open(&cfg, &err), 0);
	c.cfg = &cfg;
	post_read(d, 0, 3);
	assert_int_equal(eventloop_call_sync(&d->loop, swap_fn, &c), 0);
	virtio_blk_config_release(&cfg);
	assert_int_equal(c.ret, 0);
	/* The read in flight finished on the old image, inside the swap. */
	assert_int_equal(c.used_after, 1);
	assert_int_equal(data(d, 0), 0x13);
	/* New capacity, and the driver was told. */
	assert_int_equal(cfg_rd(d, 0, 8), 128);
	assert_true(rd(d, 0x060) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_not_equal(rd(d, 0x0fc), gen);
	/* Later reads see the new image, past the old end too. */
	post_read(d, 1, 3);
	post_read(d, 2, 100);
	wr(d, 0x050, 0);
	WAIT_FOR(used_idx(d) == 3);
	assert_int_equal(data(d, 1), 0x83);
	assert_int_equal(data(d, 2), (uint8_t)(0x80 + 100));
}

/* A VM with just this disk, for vm_patch_drive. */
static void one_disk_vm(struct drv *d, struct vm *vm)
{
	struct dev_resources res = { .gsi = -1 };

	memset(vm, 0, sizeof(*vm));
	vm->loop = &d->loop;
	registry_init(&vm->registry);
	/*
	 * The transport is the component, as vmm/devices.c enters it; the
	 * test frees both (the registry's entries only, never through its ops).
	 */
	assert_int_equal(registry_add(&vm->registry, COMP_DEVICE, "rootfs", "virtio-blk", &res,
				      &(struct component){ &virtio_mmio_component, d->t }), 0);
}

static void test_patch_bad_path_keeps_the_old_image(void **state)
{
	struct drv *d = *state;
	struct vm_drive model = { .id = "rootfs", .cache_type = BLK_CACHE_WRITEBACK };
	struct vm_drive_patch p = { .id = "rootfs" };
	char fifo[] = "/tmp/hearth-fifo-XXXXXX";
	struct err err;
	struct vm vm;

	one_disk_vm(d, &vm);
	model.path_on_host = d->path;
	close(mkstemp(fifo));
	unlink(fifo);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* A FIFO nobody writes: refused at once, not waited on. */
	p.path_on_host = fifo;
	assert_int_not_equal(vm_patch_drive(&vm, &model, &p, &err), 0);
	assert_non_null(strstr(err.msg, "FIFO"));
	p.path_on_host = "/nonexistent/disk.img";
	assert_int_not_equal(vm_patch_drive(&vm, &model, &p, &err), 0);
	/* Firecracker's words (test_drive_patch matches them), the path last. */
	assert_non_null(strstr(err.msg, "Error manipulating the backing file: No such file or "
			       "directory (os error 2) /nonexistent/disk.img"));
	/* The old image, its size, and no config interrupt. */
	assert_int_equal(cfg_rd(d, 0, 8), 64);
	assert_false(rd(d, 0x060) & VIRTIO_MMIO_INT_CONFIG);
	post_read(d, 0, 5);
	wr(d, 0x050, 0);
	WAIT_FOR(used_idx(d) == 1);
	assert_int_equal(data(d, 0), 0x15);

	/* The same file, grown by the host: a new size, the same image. */
	make_image(d->path, 96, 0x10);
	p.path_on_host = d->path;
	assert_int_equal(vm_patch_drive(&vm, &model, &p, &err), 0);
	assert_int_equal(cfg_rd(d, 0, 8), 96);
	assert_true(rd(d, 0x060) & VIRTIO_MMIO_INT_CONFIG);
	/* And a good new file. */
	p.path_on_host = d->path2;
	assert_int_equal(vm_patch_drive(&vm, &model, &p, &err), 0);
	assert_int_equal(cfg_rd(d, 0, 8), 128);
	unlink(fifo);
	free(vm.registry.entries);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_limited_completes_what_the_bucket_allows,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlimited_is_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_over_consumption_and_live_update, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patch_bad_path_keeps_the_old_image, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
