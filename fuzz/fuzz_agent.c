/*
 * libFuzzer target for hearth-agent's request decoding (src/agent): its
 * HTTP server (http-parser underneath), the routes' checks (token, stale
 * identity, methods), Connect's framing (envelopes, media types, the
 * error shapes), every RPC's JSON decoding, the query string, POST
 * /init's body and multipart/form-data uploads, all with the agent in
 * decode_only mode: each request is decoded whole and carried out not
 * at all (no process, no file touched but the spooled upload in a memfd
 * and /etc/passwd read). A client on a socketpair sends the input in
 * pieces whose sizes come from the input itself, reads or leaves unread
 * what comes back, and may shut its write side; the loop runs between
 * steps.
 *
 * Layout: byte 0 chooses the config (bits 0-1: max_body 64, 4096, 65536
 * or 1 MiB; bit 2: an access token set first, "t"); then steps, each a
 * byte op:
 *   op % 4 == 0: send the next (op >> 2) + 1 bytes of the rest
 *   op % 4 == 1: read what is there      2: run the loop twice
 *   op % 4 == 3: shut the client's write side (once)
 * Checked besides ASan/UBSan: what the agent sends starts with
 * "HTTP/1.1 "; it keeps at most the one connection.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/http.h"
#include "agent/loop.h"
#include "fz.h"

/* Reads what is there; a reply that starts a read's bytes is checked. */
static void fz_read(int fd, bool *first)
{
	char buf[65536];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n <= 0)
			return;
		CHECK(!*first || (n >= 9 && !memcmp(buf, "HTTP/1.1 ", 9)));
		*first = false;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t bodies[] = { 64, 4096, 65536, 1u << 20 };
	struct agent_cfg cfg = { .default_user = "root", .max_upload = 1u << 20, .max_conns = 4,
				 .idle_s = 60, .spool_dir = "/tmp", .decode_only = true,
				 .keep_clock = true };
	struct agent_loop *loop = NULL;
	struct agent *a = NULL;
	size_t pos = 1;
	bool first = true, shut = false;
	int sv[2];

	if (!size)
		return 0;
	cfg.max_body = bodies[data[0] & 3];
	if (loop_create(&loop))
		return 0;
	if (agent_create(&a, loop, &cfg))
		goto out;
	if (data[0] & 4)
		a->token = strdup("t");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		goto out;
	http_add_conn(a->http, sv[0]);
	while (pos < size) {
		uint8_t op = data[pos++];

		switch (op % 4) {
		case 0: {
			size_t n = (size_t)(op >> 2) + 1;

			if (n > size - pos)
				n = size - pos;
			if (!shut && send(sv[1], data + pos, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				CHECK(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
			pos += n;
			break;
		}
		case 1:
			fz_read(sv[1], &first);
			break;
		case 2:
			loop_run_once(loop, 0);
			loop_run_once(loop, 0);
			break;
		default:
			if (!shut)
				shutdown(sv[1], SHUT_WR);
			shut = true;
			break;
		}
		CHECK(http_conn_count(a->http) <= 1);
	}
	loop_run_once(loop, 0);
	fz_read(sv[1], &first);
	close(sv[1]);
out:
	agent_destroy(a);
	loop_destroy(loop);
	return 0;
}
