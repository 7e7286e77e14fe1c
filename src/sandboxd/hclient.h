/*
 * The server's own HTTP requests: to a VM's API socket (Hearth's
 * Firecracker API) and to a sandbox's agent through its hybrid vsock.
 * One request per connection ("Connection: close"), or two on one where
 * a round trip counts (hc_exchange_keep); the answer read by
 * http-parser, bounded in bytes and in time. The agent is guest code:
 * its answer is a status and a bounded body, nothing more is believed.
 */
#ifndef HEARTH_SANDBOXD_HCLIENT_H
#define HEARTH_SANDBOXD_HCLIENT_H

#include <stddef.h>

#include "util/err.h"

/* The most of an answer's body kept; a longer body is an error. */
#define HC_MAX_BODY (1u << 20)
/* The most an answer's head may take before its body. */
#define HC_MAX_HEAD (16u << 10)

struct hc_reply {
	unsigned int status;
	char *body;                 /* NUL-terminated; "" when none */
	size_t len;
};

/*
 * Connects to the Unix socket path: the fd (blocking, close-on-exec), or
 * -errno with e.
 */
int hc_connect(const char *path, struct err *e);
/*
 * Connects to path, a hybrid vsock's socket, and asks for the guest's port
 * ("CONNECT port\n", answered "OK hostport\n" once a guest program
 * accepts), within timeout_ms: the fd, or -errno with e.
 */
int hc_vsock_connect(const char *path, unsigned int port, int timeout_ms, struct err *e);
/*
 * Sends one request on fd (extra: more header lines, each "\r\n"-ended,
 * or NULL) and reads its answer within timeout_ms. 0 with r filled (free
 * it with hc_reply_free), or -errno with e. fd is left open.
 */
int hc_exchange(int fd, const char *method, const char *path, const char *extra,
		const char *body, size_t len, int timeout_ms, struct hc_reply *r, struct err *e);
/*
 * The same, the connection kept for another request (no "Connection:
 * close"; the answer's end is its length, which it must then have). The
 * other side may still close it after: a later exchange on fd fails.
 */
int hc_exchange_keep(int fd, const char *method, const char *path, const char *extra,
		     const char *body, size_t len, int timeout_ms, struct hc_reply *r,
		     struct err *e);
/* hc_connect, hc_exchange, close: a request to a VM's API socket. */
int hc_request(const char *sock, const char *method, const char *path, const char *body,
	       int timeout_ms, struct hc_reply *r, struct err *e);
/*
 * The same, 2xx wanted: anything else is -EIO with "METHOD PATH: STATUS
 * fault_message" in e. r may be NULL.
 */
int hc_call(const char *sock, const char *method, const char *path, const char *body,
	    int timeout_ms, struct hc_reply *r, struct err *e);
void hc_reply_free(struct hc_reply *r);
/*
 * From now on the calling thread's waits in these calls also end, with
 * -ECANCELED, once fd is readable (the server's stop eventfd; -1: none).
 * For requests to an agent, which is guest code and may never answer; a
 * request to Hearth's own API (a fork) is let finish, so that nothing it
 * made goes unknown. Returns the fd it replaces.
 */
int hc_cancel_with(int fd);

#endif
