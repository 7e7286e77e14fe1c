/*
 * The one-line handshake of hybrid vsock (Firecracker's protocol): a host
 * client sends "CONNECT <port>\n" on the Unix socket and Hearth answers
 * "OK <hostport>\n" once the guest accepted. Pure functions, so the parser
 * can be unit-tested and fuzzed without sockets.
 */
#ifndef HEARTH_VIRTIO_VSOCK_LINE_H
#define HEARTH_VIRTIO_VSOCK_LINE_H

#include <stddef.h>
#include <stdint.h>

/* The longest line accepted, newline included; longer is refused, not waited for. */
#define VSOCK_LINE_MAX 32u

/*
 * Parses the line at the start of buf[0..len) as "<verb> <port>\n":
 * the verb in any case (Firecracker compares case-insensitively), one or
 * more blanks, 1 to 10 decimal digits whose value fits in 32 bits,
 * optional trailing blanks, an optional '\r', then '\n'. Bytes after the
 * newline are not looked at (they are the client's first data).
 *
 * Returns 1 with *port and *used (the line's length, newline included)
 * filled; 0 when buf holds a valid beginning but no newline yet (read
 * more); -EINVAL when the line is malformed; -E2BIG when no newline
 * comes within VSOCK_LINE_MAX bytes.
 */
int vsock_line_parse(const char *buf, size_t len, const char *verb, uint32_t *port,
		     size_t *used);

/* Writes "<verb> <port>\n" (NUL-terminated) and returns its length, or -ENOSPC. */
int vsock_line_format(char *buf, size_t len, const char *verb, uint32_t port);

#endif
