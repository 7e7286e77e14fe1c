#include "core/console.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/vm.h"
#include "devices/serial.h"
#include "util/log.h"

#define ESCAPE_CHAR 0x01 /* Ctrl-A */

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
		vm_request_stop(c->vm, VM_STOP_HOST, "Ctrl-A x");
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

int console_init(struct console *c, struct vm *vm, struct serial *serial, struct eventloop *loop,
		 int in_fd)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->vm = vm;
	c->serial = serial;
	c->loop = loop;
	c->in_fd = in_fd;
	c->escape_enabled = isatty(in_fd);
	c->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->notify_fd < 0)
		return -errno;
	serial_set_rx_notify(serial, c->notify_fd);
	ret = eventloop_add(loop, c->notify_fd, EPOLLIN, on_room, c);
	if (ret)
		goto err_close;
	/* Regular files and /dev/null are refused by epoll; read them directly. */
	ret = eventloop_add(loop, in_fd, EPOLLIN, on_stdin, c);
	if (ret == -EPERM) {
		c->regular = true;
		on_stdin(c, 0);
		ret = 0;
	}
	if (ret)
		goto err_remove;
	return 0;

err_remove:
	eventloop_remove(loop, c->notify_fd);
err_close:
	close(c->notify_fd);
	c->notify_fd = -1;
	return ret;
}

void console_destroy(struct console *c)
{
	if (c->notify_fd >= 0) {
		serial_set_rx_notify(c->serial, -1);
		close(c->notify_fd);
	}
	c->notify_fd = -1;
}
