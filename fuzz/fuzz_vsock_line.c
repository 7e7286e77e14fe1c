/*
 * libFuzzer target for the hybrid vsock handshake parser
 * (src/virtio/vsock/line.c). The first byte picks the verb (CONNECT or
 * OK); the rest is what a host client wrote. Checked: a complete line's
 * length is within the input and the limit and ends with '\n'; its port
 * formats and parses back to itself; any prefix of a complete line is
 * "need more" or the same answer; nothing is read past len (ASan).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/vsock/line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                             \
		}                                                                            \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *verb;
	char *buf, again[VSOCK_LINE_MAX];
	uint32_t port = 0, port2 = 0;
	size_t used = 0, used2 = 0, len;
	int ret, ret2;

	if (!size)
		return 0;
	verb = data[0] & 1 ? "OK" : "CONNECT";
	len = size - 1;
	/* An exact-size copy, so ASan catches a read past len. */
	buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	ret = vsock_line_parse(buf, len, verb, &port, &used);
	CHECK(ret == 1 || ret == 0 || ret == -EINVAL || ret == -E2BIG);
	if (ret == 0)
		CHECK(len < VSOCK_LINE_MAX);
	if (ret == -E2BIG)
		CHECK(len >= VSOCK_LINE_MAX);
	if (ret == 1) {
		CHECK(used >= 1 && used <= len && used <= VSOCK_LINE_MAX);
		CHECK(buf[used - 1] == '\n');
		/* The same line alone gives the same answer. */
		CHECK(vsock_line_parse(buf, used, verb, &port2, &used2) == 1);
		CHECK(port2 == port && used2 == used);
		/* Every shorter prefix wants more. */
		for (size_t n = 0; n < used; n++)
			CHECK(vsock_line_parse(buf, n, verb, &port2, &used2) == 0);
		ret2 = vsock_line_format(again, sizeof(again), verb, port);
		CHECK(ret2 > 0);
		CHECK(vsock_line_parse(again, (size_t)ret2, verb, &port2, &used2) == 1);
		CHECK(port2 == port && used2 == (size_t)ret2);
	}
	free(buf);
	return 0;
}
