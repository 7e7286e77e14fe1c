#include "vmm/console.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/serial.h"
#include "util/log.h"

#define ESCAPE_CHAR 0x01 /* Ctrl-A */
/* At exit, how long stdout may take nothing before the rest is given up. */
#define CONSOLE_EXIT_FLUSH_MS 1000

/* Drops are reported once stdout flows again: while it is stalled, stderr often is too. */
static struct ratelimit console_out_rl = RATELIMIT_INIT(1);

size_t console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out, bool *quit)
{
	size_t o = 0;

	*quit = false;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = in[i];
		if (!c->escape_enabled) {
			out[o++] = ch;
			continue;
		}
		if (c->saw_escape) {
			c->saw_escape = false;
			if (ch == 'x' || ch == 'X') {
				*quit = true;
				return o;
			}
			if (ch == ESCAPE_CHAR) {
				out[o++] = ESCAPE_CHAR;
				continue;
			}
			/* Unknown escape: pass both through, as typed. */
			out[o++] = ESCAPE_CHAR;
			out[o++] = ch;
			continue;
		}
		if (ch == ESCAPE_CHAR) {
			c->saw_escape = true;
			continue;
		}
		out[o++] = ch;
	}
	return o;
}

static void console_flush(struct console *c)
{
	size_t took = serial_rx_push(c->serial, c->pending, c->npending);

	memmove(c->pending, c->pending + took, c->npending - took);
	c->npending -= took;
	if (c->regular)
		return;
	/* Stop reading stdin while the guest is not draining the UART. */
	if (c->npending && !c->paused && !c->eof) {
		eventloop_modify(c->loop, c->in_fd, 0);
		c->paused = true;
	} else if (!c->npending && c->paused && !c->eof) {
		eventloop_modify(c->loop, c->in_fd, EPOLLIN);
		c->paused = false;
	}
}

/* Reads one chunk into pending; false on EOF, error or nothing to read. */
static bool console_read(struct console *c)
{
	uint8_t buf[sizeof(c->pending) / 2];
	bool quit;
	ssize_t n;

	n = read(c->in_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return false;
	if (n <= 0) {
		/* EOF or error: the guest keeps running with no more input. */
		if (!c->regular)
			eventloop_remove(c->loop, c->in_fd);
		c->eof = true;
		return false;
	}
	c->npending = console_filter(c, buf, (size_t)n, c->pending, &quit);
	if (quit) {
		if (c->on_quit)
			c->on_quit(c->quit_ctx);
		return false;
	}
	console_flush(c);
	return true;
}

static void on_stdin(void *opaque, uint32_t events)
{
	struct console *c = opaque;

	(void)events;
	if (c->npending || c->eof)
		return;
	/*
	 * A regular file never signals readiness, so keep reading until the
	 * UART is full; its room notification brings us back for the rest.
	 */
	while (console_read(c) && c->regular && !c->npending)
		;
}

static void on_room(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	uint64_t v;

	(void)events;
	if (read(c->notify_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	console_flush(c);
	if (c->regular && !c->npending)
		on_stdin(c, 0);
}

/* Writes out what the guest left in the serial's buffer; the io thread's side. */
static void console_output(struct console *c)
{
	uint64_t dropped;
	int r;

	r = serial_output_drain(c->serial);
	if (r == -EAGAIN) {
		/* stdout is full: come back when it has room, not before. */
		if (c->out_poll_fd >= 0 && !c->out_waiting &&
		    !eventloop_modify(c->loop, c->out_poll_fd, EPOLLOUT))
			c->out_waiting = true;
		return;
	}
	if (c->out_waiting && !eventloop_modify(c->loop, c->out_poll_fd, 0))
		c->out_waiting = false;
	dropped = serial_output_dropped(c->serial);
	if (r < 0)
		log_ratelimited(&console_out_rl, LOG_WARN, "console: guest output lost: %s",
				strerror(-r));
	else if (dropped != c->out_dropped_seen)
		log_ratelimited(&console_out_rl, LOG_WARN,
				"console: stdout was not keeping up; %llu bytes of guest output "
				"dropped so far", (unsigned long long)dropped);
	c->out_dropped_seen = dropped;
}

static void on_output(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	uint64_t v;

	(void)events;
	/* Reset first: output added after this read wakes us again. */
	if (read(c->out_wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	console_output(c);
}

static void on_output_room(void *opaque, uint32_t events)
{
	struct console *c = opaque;

	console_output(c);
	/*
	 * A reader that is gone (or a hung-up terminal) reports this for good,
	 * even with no events asked for: stop watching. Later output fails at
	 * once and is dropped without waiting.
	 */
	if (events & (EPOLLERR | EPOLLHUP)) {
		eventloop_remove(c->loop, c->out_poll_fd);
		c->out_poll_fd = -1;
		c->out_waiting = false;
	}
}

static int console_output_init(struct console *c)
{
	int fd, ret;

	fd = serial_output_fd(c->serial);
	if (fd < 0)
		return 0; /* the serial discards its output */
	ret = eventloop_add(c->loop, fd, EPOLLIN, on_output, c);
	if (ret)
		return ret;
	c->out_wake_fd = fd;
	fd = serial_output_poll_fd(c->serial);
	if (fd < 0)
		return 0;
	/* Registered idle from the start, so room to wait is never refused later. */
	ret = eventloop_add(c->loop, fd, 0, on_output_room, c);
	if (ret == -EPERM)
		return 0; /* /dev/null and the like: epoll refuses them, and they never fill */
	if (ret) {
		eventloop_remove(c->loop, c->out_wake_fd);
		c->out_wake_fd = -1;
		return ret;
	}
	c->out_poll_fd = fd;
	return 0;
}

static void console_output_remove(struct console *c)
{
	if (c->out_poll_fd >= 0)
		eventloop_remove(c->loop, c->out_poll_fd);
	if (c->out_wake_fd >= 0)
		eventloop_remove(c->loop, c->out_wake_fd);
	c->out_poll_fd = -1;
	c->out_wake_fd = -1;
	c->out_waiting = false;
}

int console_init(struct console *c, struct serial *serial, struct eventloop *loop, int in_fd,
		 void (*on_quit)(void *ctx), void *ctx)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->on_quit = on_quit;
	c->quit_ctx = ctx;
	c->serial = serial;
	c->loop = loop;
	c->in_fd = in_fd;
	c->out_wake_fd = -1;
	c->out_poll_fd = -1;
	c->escape_enabled = isatty(in_fd);
	c->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->notify_fd < 0)
		return -errno;
	serial_set_rx_notify(serial, c->notify_fd);
	ret = eventloop_add(loop, c->notify_fd, EPOLLIN, on_room, c);
	if (ret)
		goto err_close;
	ret = console_output_init(c);
	if (ret)
		goto err_remove;
	/* Regular files and /dev/null are refused by epoll; read them directly. */
	ret = eventloop_add(loop, in_fd, EPOLLIN, on_stdin, c);
	if (ret == -EPERM) {
		c->regular = true;
		on_stdin(c, 0);
		ret = 0;
	}
	if (ret)
		goto err_output;
	return 0;

err_output:
	console_output_remove(c);
err_remove:
	eventloop_remove(loop, c->notify_fd);
err_close:
	close(c->notify_fd);
	c->notify_fd = -1;
	return ret;
}

void console_destroy(struct console *c)
{
	uint64_t lost;

	console_output_remove(c);
	serial_output_flush(c->serial, CONSOLE_EXIT_FLUSH_MS);
	lost = serial_output_dropped(c->serial) + serial_output_pending(c->serial);
	if (lost)
		log_warn("%llu bytes of guest output were dropped (stdout full or closed)",
			 (unsigned long long)lost);
	if (c->notify_fd >= 0) {
		serial_set_rx_notify(c->serial, -1);
		close(c->notify_fd);
	}
	c->notify_fd = -1;
}
