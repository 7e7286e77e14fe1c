/*
 * "CONNECT <port>\n" and "OK <port>\n": the hybrid vsock handshake lines.
 * A host client may send its first data right behind the newline, so the
 * parser reports how many bytes the line took and never looks past it.
 */
#include "virtio/vsock/line.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* More bytes could still make a valid line: wait, unless the limit is reached. */
static int need_more(size_t len)
{
	return len >= VSOCK_LINE_MAX ? -E2BIG : 0;
}

int vsock_line_parse(const char *buf, size_t len, const char *verb, uint32_t *port,
		     size_t *used)
{
	size_t vlen = strlen(verb), i, digits = 0;
	uint64_t v = 0;

	if (len > VSOCK_LINE_MAX)
		len = VSOCK_LINE_MAX; /* a line must end within the limit */
	for (i = 0; i < vlen; i++) {
		char c, want = verb[i];

		if (i >= len)
			return need_more(len);
		c = buf[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (want >= 'a' && want <= 'z')
			want = (char)(want - 'a' + 'A');
		if (c != want)
			return -EINVAL;
	}
	if (i >= len)
		return need_more(len);
	if (!is_blank(buf[i]))
		return -EINVAL;
	while (i < len && is_blank(buf[i]))
		i++;
	for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
		/* Ten digits hold every u32; more is out of range, whatever they are. */
		if (++digits > 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(buf[i] - '0');
	}
	if (digits && v > UINT32_MAX)
		return -EINVAL;
	if (i >= len)
		return need_more(len);
	if (!digits)
		return -EINVAL;
	while (i < len && is_blank(buf[i]))
		i++;
	if (i < len && buf[i] == '\r')
		i++;
	if (i >= len)
		return need_more(len);
	if (buf[i] != '\n')
		return -EINVAL;
	*port = (uint32_t)v;
	*used = i + 1;
	return 1;
}

int vsock_line_format(char *buf, size_t len, const char *verb, uint32_t port)
{
	int n = snprintf(buf, len, "%s %u\n", verb, port);

	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}
