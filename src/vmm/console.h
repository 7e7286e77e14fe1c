/*
 * The host side of the guest console: stdin feeds COM1, with the
 * QEMU-style escape (Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A) when
 * stdin is a terminal; COM1's output buffer is drained to stdout by the
 * loop's thread, waiting for room when stdout is full.
 */
#ifndef HEARTH_VMM_CONSOLE_H
#define HEARTH_VMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/eventloop.h"

struct serial;

struct console {
	void (*on_quit)(void *ctx);  /* Ctrl-A x */
	void *quit_ctx;
	struct serial *serial;
	struct eventloop *loop;
	int in_fd;
	int notify_fd;      /* eventfd the serial signals when it has room */
	bool escape_enabled;
	bool saw_escape;
	bool paused;        /* stdin not polled while the serial is full */
	bool eof;
	bool regular;       /* a file epoll cannot watch: read whenever there is room */
	uint8_t pending[256];
	size_t npending;
	int out_wake_fd;    /* the serial's: guest output is waiting */
	int out_poll_fd;    /* watched for EPOLLOUT while stdout is full; -1: not watched */
	bool out_waiting;   /* out_poll_fd's events are EPOLLOUT now */
	uint64_t out_dropped_seen;
};

int console_init(struct console *c, struct serial *serial, struct eventloop *loop, int in_fd,
		 void (*on_quit)(void *ctx), void *ctx);
/*
 * After the vCPUs stopped: flushes the guest's remaining output (giving up
 * when stdout takes nothing for a second) and reports any bytes dropped.
 */
void console_destroy(struct console *c);

/*
 * Applies the escape state machine to in[0..n), writing bytes for the
 * guest into out. Returns the count for the guest; sets *quit on Ctrl-A x.
 */
size_t console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out, bool *quit);

#endif
