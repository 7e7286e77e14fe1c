/*
 * The pc-testdev ports and window. The flush port exists to make KVM drop
 * its mapping of one guest page (the test then checks the guest sees its
 * data again): taking write access away from the host mapping for a
 * moment does that through KVM's MMU notifier, as QEMU does with
 * mprotect. A userspace write into that page in the same instant would
 * fault, so the flush runs on the io thread, the one thread whose device
 * work writes guest RAM from userspace: it cannot be mid-write then. A
 * write the kernel makes for us (io_uring, vhost) meets a read-only page
 * as an I/O error for the guest, not a fault in Hearth; only test kernels
 * get this device.
 */
#include "devices/testdev.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/bytes.h"
#include "util/log.h"

#define PAGE 4096ull

struct testdev {
	pthread_mutex_t lock; /* the latch and the window, between vCPUs */
	uint32_t latch;
	struct guest_mem *mem;
	struct eventloop *loop;  /* where the flush runs; NULL: inline (unit tests) */
	struct irq_line irq;
	uint8_t window[TESTDEV_MMIO_SIZE];
};

static struct ratelimit testdev_rl = RATELIMIT_INIT(10);

static void latch_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct testdev *d = opaque;
	uint8_t bytes[4];

	pthread_mutex_lock(&d->lock);
	memcpy(bytes, &d->latch, 4);
	pthread_mutex_unlock(&d->lock);
	/* offset + len <= 4 is the bus's promise for a 4-byte region. */
	for (unsigned int i = 0; i < len; i++)
		data[i] = offset + i < 4 ? bytes[offset + i] : 0;
}

static void latch_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct testdev *d = opaque;
	uint8_t bytes[4];

	pthread_mutex_lock(&d->lock);
	memcpy(bytes, &d->latch, 4);
	for (unsigned int i = 0; i < len && offset + i < 4; i++)
		bytes[offset + i] = data[i];
	memcpy(&d->latch, bytes, 4);
	pthread_mutex_unlock(&d->lock);
}

static const struct bus_region_ops latch_ops = { .read = latch_read, .write = latch_write };

static void zero_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	memset(data, 0, len);
}

struct flush_call {
	void *host;
	uint64_t gpa;
};

static int flush_page(void *ctx, struct err *err)
{
	struct flush_call *c = ctx;

	if (mprotect(c->host, PAGE, PROT_READ) || mprotect(c->host, PAGE, PROT_READ | PROT_WRITE))
		log_ratelimited(&testdev_rl, LOG_WARN, "testdev: flush of 0x%llx failed: %s",
				(unsigned long long)c->gpa, strerror(errno));
	return 0;
}

static void flush_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct testdev *d = opaque;
	struct flush_call c = { .gpa = bus_data_get(data, len) & ~(PAGE - 1) };

	c.host = guest_mem_ptr(d->mem, c.gpa, PAGE);
	if (offset != 0 || !c.host) {
		log_ratelimited(&testdev_rl, LOG_WARN, "testdev: flush of 0x%llx: not a RAM page",
				(unsigned long long)c.gpa);
		return;
	}
	/* Refused only while Hearth shuts down, when the flush no longer matters. */
	if (eventloop_run_on(d->loop, flush_page, &c, NULL))
		log_debug("testdev: flush dropped: shutting down");
}

static const struct bus_region_ops flush_ops = { .read = zero_read, .write = flush_write };

static void irq_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct testdev *d = opaque;
	struct irq_line line = d->irq;

	(void)len;
	line.gsi = (unsigned int)offset;
	if (irq_line_set(&line, data[0] != 0))
		log_ratelimited(&testdev_rl, LOG_WARN, "testdev: cannot set ISA IRQ %u",
				(unsigned int)offset);
}

static const struct bus_region_ops irq_ops = { .read = zero_read, .write = irq_write };

static void window_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct testdev *d = opaque;

	pthread_mutex_lock(&d->lock);
	for (unsigned int i = 0; i < len; i++)
		data[i] = offset + i < TESTDEV_MMIO_SIZE ? d->window[offset + i] : 0;
	pthread_mutex_unlock(&d->lock);
}

static void window_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct testdev *d = opaque;

	pthread_mutex_lock(&d->lock);
	for (unsigned int i = 0; i < len && offset + i < TESTDEV_MMIO_SIZE; i++)
		d->window[offset + i] = data[i];
	pthread_mutex_unlock(&d->lock);
}

static const struct bus_region_ops window_ops = { .read = window_read, .write = window_write };

/* The record: the latch and the window; the flush and IRQ ports hold nothing. */
static int testdev_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct testdev *d = obj;

	pthread_mutex_lock(&d->lock);
	bytes_put_tag(o, TESTDEV_TAG, TESTDEV_STATE_VERSION);
	bytes_put_u32(o, d->latch);
	bytes_put(o, d->window, sizeof(d->window));
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int testdev_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct testdev *d = obj;
	struct bytes_in r = bytes_in_init(in, len);
	int ret = bytes_get_tag(&r, TESTDEV_TAG, TESTDEV_STATE_VERSION);
	uint8_t *window;
	uint32_t latch;

	if (ret)
		return ret;
	window = malloc(TESTDEV_MMIO_SIZE);
	if (!window)
		return -ENOMEM;
	latch = bytes_get_u32(&r);
	bytes_get(&r, window, TESTDEV_MMIO_SIZE);
	ret = bytes_in_finish(&r);
	if (!ret && apply) {
		pthread_mutex_lock(&d->lock);
		d->latch = latch;
		memcpy(d->window, window, TESTDEV_MMIO_SIZE);
		pthread_mutex_unlock(&d->lock);
	}
	free(window);
	return ret;
}

static void testdev_destroy(void *obj)
{
	struct testdev *d = obj;

	pthread_mutex_destroy(&d->lock);
	free(d);
}

static const struct component_ops testdev_component = {
	.save = testdev_save,
	.restore = testdev_restore,
	.destroy = testdev_destroy,
};

int testdev_create(const struct dev_env *env, const struct dev_resources *res,
		   struct component *out, struct err *err)
{
	struct testdev *d;
	int ret;

	if (res->mmio_size > TESTDEV_MMIO_SIZE)
		return err_set(err, false, -EINVAL, "a window of at most %u bytes",
			       TESTDEV_MMIO_SIZE);
	d = calloc(1, sizeof(*d));
	if (!d)
		return err_set(err, false, -ENOMEM, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	d->mem = env->mem;
	d->loop = env->loop;
	d->irq = env->irq;
	ret = dev_claim(env, BUS_PIO, res->pio_base, 4, &latch_ops, d, "testdev-latch", err);
	if (ret) {
		testdev_destroy(d);
		return ret;
	}
	/* The bus cannot unregister: from here on a failure leaves d to it, unreachable. */
	ret = dev_claim(env, BUS_PIO, res->pio_base + 4, 4, &flush_ops, d, "testdev-flush", err);
	if (!ret)
		ret = dev_claim(env, BUS_PIO, TESTDEV_IRQ_PORT, TESTDEV_NIRQ, &irq_ops, d,
				"testdev-irq", err);
	if (!ret)
		ret = dev_claim(env, BUS_MMIO, res->mmio_base, res->mmio_size, &window_ops, d,
				"testdev-iomem", err);
	if (ret)
		return ret;
	*out = (struct component){ &testdev_component, d };
	return 0;
}
