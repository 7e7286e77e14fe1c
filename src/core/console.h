/*
 * The host side of the guest console: stdin feeds COM1, with the
 * QEMU-style escape (Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A) when
 * stdin is a terminal.
 */
#ifndef HEARTH_CORE_CONSOLE_H
#define HEARTH_CORE_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/eventloop.h"

struct serial;
struct vm;

struct console {
	struct vm *vm;
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
};

int console_init(struct console *c, struct vm *vm, struct serial *serial, struct eventloop *loop,
		 int in_fd);
void console_destroy(struct console *c);

/*
 * Applies the escape state machine to in[0..n), writing bytes for the
 * guest into out. Returns the count for the guest; sets *quit on Ctrl-A x.
 */
size_t console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out, bool *quit);

#endif
