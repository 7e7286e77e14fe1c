/*
 * virtio-mmio against a hostile driver, and the thread split: a vCPU that
 * writes a register must never run device work (reset drains, activation
 * ioctls, queue processing) itself; the I/O thread does it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "util/log.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define RAM (1ull << 20)

#define DRV_FEAT 0x020
#define DRV_FEAT_SEL 0x024
#define QSEL 0x030
#define QNUM 0x038
#define QREADY 0x044
#define QNOTIFY 0x050
#define STATUS 0x070
#define QDESC_LO 0x080
#define QDRV_LO 0x090
#define QDEV_LO 0x0a0

#define S_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV VIRTIO_STATUS_DRIVER
#define S_FOK VIRTIO_STATUS_FEATURES_OK
#define S_DOK VIRTIO_STATUS_DRIVER_OK

struct fake {
	struct virtio_dev dev;
	struct virtio_mmio *t;
	struct bus bus;
	struct guest_mem mem;
	struct eventloop loop;
	struct virtq_chain chain;
	pthread_t io;
	bool io_running;
	/* Where each kind of device work ran, and how often. */
	pthread_t reset_thread, activate_thread, notify_thread;
	unsigned int resets, activates, notifies;
	unsigned int kick_again_left; /* queue_notify asks for another round this often */
};

static uint64_t fake_features(struct virtio_dev *dev)
{
	(void)dev;
	return 0;
}

static int fake_activate(struct virtio_dev *dev)
{
	struct fake *f = dev->priv;

	f->activates++;
	f->activate_thread = pthread_self();
	return 0;
}

static void fake_reset(struct virtio_dev *dev)
{
	struct fake *f = dev->priv;

	f->resets++;
	f->reset_thread = pthread_self();
}

/* Takes one chain per call, like a device whose budget is one. */
static void fake_notify(struct virtio_dev *dev, unsigned int q)
{
	struct fake *f = dev->priv;

	f->notifies++;
	f->notify_thread = pthread_self();
	if (virtq_pop(&dev->vq[q], &f->chain) > 0)
		virtq_push(&dev->vq[q], &f->chain, 0);
	if (f->kick_again_left && dev->kick_again) {
		f->kick_again_left--;
		dev->kick_again(dev, q);
	}
}

static const struct virtio_dev_ops fake_ops = {
	.device_id = 42,
	.get_features = fake_features,
	.activate = fake_activate,
	.reset = fake_reset,
	.queue_notify = fake_notify,
};

static void *io_main(void *arg)
{
	struct fake *f = arg;

	eventloop_run(&f->loop);
	return NULL;
}

static void stop_loop(void *arg)
{
	eventloop_stop(arg);
}

static void io_start(struct fake *f)
{
	assert_int_equal(pthread_create(&f->io, NULL, io_main, f), 0);
	f->io_running = true;
	/* A round trip: once it returns, the loop is dispatching. */
	while (__atomic_load_n(&f->loop.state, __ATOMIC_SEQ_CST) != EVENTLOOP_CLAIMED)
		usleep(1000);
}

static void io_stop(struct fake *f)
{
	if (!f->io_running)
		return;
	assert_int_equal(eventloop_call_sync(&f->loop, stop_loop, &f->loop), 0);
	pthread_join(f->io, NULL);
	f->io_running = false;
	/* This thread is the loop's now: the test's own writes run their work here. */
	eventloop_claim(&f->loop);
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct virtio_host host = { .vm_fd = -1, .test_kick_fds = true };
	struct virtio_env env;

	log_set_level(LOG_ERR);
	assert_non_null(f);
	assert_int_equal(guest_mem_init(&f->mem, RAM), 0);
	assert_int_equal(eventloop_init(&f->loop), 0);
	bus_init(&f->bus);
	host.bus = &f->bus;
	host.loop = &f->loop;
	env.loop = &f->loop;
	env.mem = &f->mem;
	f->dev.ops = &fake_ops;
	f->dev.priv = f;
	f->dev.name = "fake";
	f->dev.num_queues = 2;
	f->dev.queue_max = 16;
	assert_int_equal(virtio_dev_init(&f->dev, &env), 0);
	assert_int_equal(virtio_mmio_create(&f->dev, &host, BASE, 5, &f->t), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	io_stop(f);
	virtio_mmio_destroy(f->t);
	virtio_dev_release(&f->dev);
	bus_destroy(&f->bus);
	eventloop_destroy(&f->loop);
	guest_mem_destroy(&f->mem);
	free(f);
	return 0;
}

static void wr(struct fake *f, uint64_t off, uint32_t v)
{
	uint8_t b[4];

	memcpy(b, &v, 4);
	virtio_mmio_bus_ops.write(f->t, off, b, 4);
}

static uint32_t rd(struct fake *f, uint64_t off)
{
	uint8_t b[4];
	uint32_t v;

	virtio_mmio_bus_ops.read(f->t, off, b, 4);
	memcpy(&v, b, 4);
	return v;
}

static bool needs_reset(struct fake *f)
{
	return rd(f, STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

static void setup_queue(struct fake *f, unsigned int q, uint32_t gpa)
{
	wr(f, QSEL, q);
	wr(f, QNUM, 16);
	wr(f, QDESC_LO, gpa);
	wr(f, QDRV_LO, gpa + 0x100);
	wr(f, QDEV_LO, gpa + 0x200);
}

static void bring_up(struct fake *f)
{
	wr(f, STATUS, S_ACK | S_DRV);
	wr(f, DRV_FEAT_SEL, 1);
	wr(f, DRV_FEAT, 1); /* VERSION_1 */
	wr(f, STATUS, S_ACK | S_DRV | S_FOK);
	setup_queue(f, 0, 0x1000);
	wr(f, QREADY, 1);
	wr(f, STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
}

/* Publishes n one-descriptor chains on queue 0 (rings at 0x1000). */
static void publish(struct fake *f, uint16_t n)
{
	uint8_t *desc = guest_mem_ptr(&f->mem, 0x1000, 16 * 16);
	uint16_t *avail = guest_mem_ptr(&f->mem, 0x1100, 6 + 2 * 16);
	uint16_t idx = avail[1];

	for (uint16_t i = 0; i < n; i++) {
		struct virtq_desc d = { 0x8000, 64, VIRTQ_DESC_F_WRITE, 0 };
		uint16_t slot = (uint16_t)((idx + i) % 16);

		memcpy(desc + 16 * slot, &d, sizeof(d));
		avail[2 + slot] = slot;
	}
	__atomic_store_n(&avail[1], (uint16_t)(idx + n), __ATOMIC_RELEASE);
}

static uint16_t used_idx(struct fake *f)
{
	uint16_t *used = guest_mem_ptr(&f->mem, 0x1200, 4);

	return __atomic_load_n(&used[1], __ATOMIC_ACQUIRE);
}

/* Waits (bounded) for the I/O thread to reach a count; a deadlock check, not a timing one. */
static bool wait_for(unsigned int *counter, unsigned int want)
{
	for (int i = 0; i < 10000; i++) {
		if (__atomic_load_n(counter, __ATOMIC_SEQ_CST) >= want)
			return true;
		usleep(1000);
	}
	return false;
}

/* Reset and activation run on the I/O thread while the "vCPU" (this thread) waits. */
static void test_status_work_on_io_thread(void **state)
{
	struct fake *f = *state;

	io_start(f);
	wr(f, STATUS, 0);
	bring_up(f);
	assert_int_equal(f->activates, 1);
	assert_true(pthread_equal(f->activate_thread, f->io));
	assert_false(pthread_equal(f->activate_thread, pthread_self()));
	/* The write returned only once the reset was done: status reads 0 at once. */
	wr(f, STATUS, 0);
	assert_int_equal(rd(f, STATUS), 0);
	assert_int_equal(f->resets, 2);
	assert_true(pthread_equal(f->reset_thread, f->io));
}

/* Without a running loop (start-up, shutdown, tests) the work runs inline. */
static void test_status_inline_without_loop(void **state)
{
	struct fake *f = *state;

	bring_up(f);
	assert_int_equal(f->activates, 1);
	assert_true(pthread_equal(f->activate_thread, pthread_self()));
}

/*
 * QueueNotify with stray high bits misses KVM's datamatch ioeventfd and
 * reaches the register: the queue is still processed on the I/O thread.
 */
static void test_slow_notify_on_io_thread(void **state)
{
	struct fake *f = *state;

	bring_up(f);
	publish(f, 1);
	wr(f, QNOTIFY, 0x10000);
	/* Not processed by the writer... */
	assert_int_equal(f->notifies, 0);
	io_start(f);
	/* ...but by the I/O thread, once it looks. */
	assert_true(wait_for(&f->notifies, 1));
	assert_true(pthread_equal(f->notify_thread, f->io));
	io_stop(f);
	assert_int_equal(used_idx(f), 1);
	/* A queue that does not exist is a driver error, not a kick. */
	wr(f, QNOTIFY, 7);
	assert_true(needs_reset(f));
}

/* A device out of budget asks for another round; the loop gives it one later. */
static void test_kick_again(void **state)
{
	struct fake *f = *state;

	bring_up(f);
	publish(f, 3);
	f->kick_again_left = 2;
	io_start(f);
	wr(f, QNOTIFY, 0x10000);
	assert_true(wait_for(&f->notifies, 3));
	io_stop(f);
	assert_int_equal(f->notifies, 3);
	assert_int_equal(used_idx(f), 3);
}

/*
 * Disabling a live queue and enabling it again used to zero its indices
 * under requests in flight. Only a reset may restart a queue.
 */
static void test_queue_ready_while_live(void **state)
{
	struct fake *f = *state;
	struct virtq *vq = &f->dev.vq[0];

	bring_up(f);
	publish(f, 2);
	io_start(f);
	wr(f, QNOTIFY, 0x10000);
	assert_true(wait_for(&f->notifies, 1));
	wr(f, QNOTIFY, 0x10000);
	assert_true(wait_for(&f->notifies, 2));
	io_stop(f);
	assert_int_equal(vq->next_used, 2);
	wr(f, QSEL, 0);
	wr(f, QREADY, 0);
	assert_true(needs_reset(f));
	assert_true(vq->enabled);
	wr(f, QREADY, 1);
	assert_int_equal(vq->next_used, 2);
	assert_int_equal(vq->last_avail, 2);
	/* A reset starts over cleanly. */
	wr(f, STATUS, 0);
	assert_false(needs_reset(f));
	assert_false(vq->enabled);
	bring_up(f);
	assert_false(needs_reset(f));
	assert_int_equal(vq->next_used, 0);
}

/* Reads what the transport logged while fn ran. */
static void capture_log(void (*fn)(struct fake *), struct fake *f, char *out, size_t len)
{
	char path[] = "/tmp/hearth-mmio-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	fn(f);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, out, len - 1, 0);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
}

static void ready_without_num(struct fake *f)
{
	wr(f, STATUS, S_ACK | S_DRV);
	wr(f, DRV_FEAT_SEL, 1);
	wr(f, DRV_FEAT, 1);
	wr(f, STATUS, S_ACK | S_DRV | S_FOK);
	wr(f, QSEL, 1);
	wr(f, QDESC_LO, 0x3000);
	wr(f, QDRV_LO, 0x3100);
	wr(f, QDEV_LO, 0x3200);
	wr(f, QREADY, 1);
}

/* QueueReady before QueueNum says so, not "ring address outside RAM". */
static void test_ready_without_num_message(void **state)
{
	struct fake *f = *state;
	char out[1024];

	log_set_level(LOG_WARN);
	capture_log(ready_without_num, f, out, sizeof(out));
	log_set_level(LOG_ERR);
	assert_true(needs_reset(f));
	assert_non_null(strstr(out, "QueueReady written before QueueNum"));
	assert_null(strstr(out, "ring address"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_work_on_io_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_inline_without_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_notify_on_io_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_ready_while_live, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ready_without_num_message, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
