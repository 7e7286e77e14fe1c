#include "devices/debugcon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "devices/serial_out.h"
#include "util/log.h"

/* At exit, how long the host fd may take nothing before the rest is given up. */
#define DEBUGCON_EXIT_FLUSH_MS 1000

struct debugcon {
	struct serial_out out;
	struct eventloop *loop;   /* NULL: bytes are written at once, on the caller's thread */
	int wake_fd, poll_fd;     /* on the loop; -1: not */
	bool waiting;             /* poll_fd is watched for room */
};

static struct ratelimit debugcon_rl = RATELIMIT_INIT(1);

/* The io thread's side: write what is buffered, or wait for room. */
static void debugcon_drain(struct debugcon *d)
{
	int r = serial_out_drain(&d->out);

	if (r == -EAGAIN) {
		if (d->poll_fd >= 0 && !d->waiting &&
		    !eventloop_modify(d->loop, d->poll_fd, EPOLLOUT))
			d->waiting = true;
		return;
	}
	if (d->waiting && !eventloop_modify(d->loop, d->poll_fd, 0))
		d->waiting = false;
	if (r < 0)
		log_ratelimited(&debugcon_rl, LOG_WARN, "debugcon: guest output lost: %s",
				strerror(-r));
}

static void on_wake(void *opaque, uint32_t events)
{
	struct debugcon *d = opaque;
	uint64_t v;

	/* Reset first: a byte added after this read wakes us again. */
	if (read(d->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	debugcon_drain(d);
}

static void on_room(void *opaque, uint32_t events)
{
	struct debugcon *d = opaque;

	debugcon_drain(d);
	/* A reader that is gone reports this for good: stop watching; later bytes are dropped. */
	if (events & (EPOLLERR | EPOLLHUP)) {
		eventloop_remove(d->loop, d->poll_fd);
		d->poll_fd = -1;
		d->waiting = false;
	}
}

static void debugcon_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	memset(data, DEBUGCON_READ_VALUE, len);
}

/* A vCPU's: copy and go on. The region is one port, so the bus hands us bytes. */
static void debugcon_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct debugcon *d = opaque;
	bool wake = false;

	for (unsigned int i = 0; i < len; i++)
		wake |= serial_out_put(&d->out, data[i]);
	if (!wake)
		return;
	if (d->loop)
		serial_out_wake(&d->out);
	else
		serial_out_flush(&d->out, 0);
}

static const struct bus_region_ops debugcon_ops = {
	.read = debugcon_read,
	.write = debugcon_write,
};

static void debugcon_destroy(void *obj)
{
	struct debugcon *d = obj;
	uint64_t lost;

	if (d->poll_fd >= 0)
		eventloop_remove(d->loop, d->poll_fd);
	if (d->wake_fd >= 0)
		eventloop_remove(d->loop, d->wake_fd);
	serial_out_flush(&d->out, DEBUGCON_EXIT_FLUSH_MS);
	lost = serial_out_dropped(&d->out) + serial_out_pending(&d->out);
	if (lost)
		log_warn("debugcon: %llu bytes of guest output were dropped (its output full or "
			 "closed)", (unsigned long long)lost);
	serial_out_destroy(&d->out);
	free(d);
}

static unsigned int debugcon_counters(void *obj, struct dev_counter *out, unsigned int max)
{
	struct debugcon *d = obj;
	struct dev_counter c[] = {
		{ "out_bytes", serial_out_tx_bytes(&d->out) },
		{ "out_dropped_bytes", serial_out_dropped(&d->out) },
	};

	return dev_counters_copy(out, max, c, 2);
}

static const struct component_ops debugcon_component = {
	.save = dev_bare_save,
	.restore = dev_bare_restore,
	.destroy = debugcon_destroy,
	.counters = debugcon_counters,
};

/* The io thread learns of new bytes, and of room on a full fd. */
static int debugcon_watch(struct debugcon *d)
{
	int fd = d->out.wake_fd, ret;

	if (!d->loop || fd < 0)
		return 0;
	ret = eventloop_add(d->loop, fd, EPOLLIN, on_wake, d);
	if (ret)
		return ret;
	d->wake_fd = fd;
	fd = d->out.poll_fd;
	if (fd < 0)
		return 0;
	/* Registered idle from the start, so room to wait is never refused later. */
	ret = eventloop_add(d->loop, fd, 0, on_room, d);
	if (ret == -EPERM)
		return 0; /* a regular file or /dev/null: never full */
	if (ret)
		return ret;
	d->poll_fd = fd;
	return 0;
}

int debugcon_create(const struct dev_env *env, const struct dev_resources *res,
		    struct component *out, struct err *err)
{
	struct debugcon *d;
	int ret;

	if (res->pio_size != 1)
		return err_set(err, false, -EINVAL, "port 0x%x: takes one port, not %u",
			       res->pio_base, res->pio_size);
	d = calloc(1, sizeof(*d));
	if (!d)
		return err_set(err, false, -ENOMEM, "out of memory");
	d->loop = env->loop;
	d->wake_fd = d->poll_fd = -1;
	ret = serial_out_init(&d->out, env->debugcon_fd);
	if (ret) {
		free(d);
		return err_set(err, false, ret, "its output: %s", strerror(-ret));
	}
	ret = debugcon_watch(d);
	if (ret) {
		err_set(err, false, ret, "cannot watch its output: %s", strerror(-ret));
		goto err_destroy;
	}
	ret = dev_claim(env, BUS_PIO, res->pio_base, 1, &debugcon_ops, d, "debugcon", err);
	if (ret)
		goto err_destroy;
	*out = (struct component){ &debugcon_component, d };
	return 0;

err_destroy:
	debugcon_destroy(d);
	return ret;
}
