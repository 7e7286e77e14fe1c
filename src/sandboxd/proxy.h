/*
 * envd's endpoint (docs/sandboxes.md "The sandbox URL"): the SDK sends
 * every envd request to E2B_SANDBOX_URL, naming its sandbox in
 * E2b-Sandbox-Id and the port in E2b-Sandbox-Port; each is relayed to
 * that sandbox's agent through its hybrid vsock ("CONNECT 49983\n", then
 * the request's own bytes), and the answer back, byte for byte, as it
 * comes: Connect's server streams, uploads and downloads are never held
 * whole. Both directions are parsed by http-parser only to find each
 * message's end (keep-alive) and to bound heads; each direction's
 * bytes in flight are bounded (a side that does not read stops the
 * other being read). A request that names no running sandbox, another
 * port, or carries an X-Access-Token not its sandbox's never reaches an
 * agent: a sandbox sees only requests meant for it, with its own token.
 */
#ifndef HEARTH_SANDBOXD_PROXY_H
#define HEARTH_SANDBOXD_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include "sandboxd/priv.h"
#include "sandboxd/router.h"

#define PX_IN 16384                 /* the client's bytes read, not parsed yet */
#define PX_BUF 32768                /* each direction's bytes in flight */
#define PX_HEAD_MAX (16u << 10)     /* a request's head */
#define PX_RESP_HEAD_MAX (64u << 10) /* an agent's answer's head */
#define PX_MAX_CONNS 512
#define PX_IDLE_S 600               /* no byte either way (Connect's keepalives come every 50 s) */
#define PX_DRAIN_MAX (4u << 20)     /* read and dropped after a refusal, before the close */
#define PX_DRAIN_S 2

struct px_buf {
	char d[PX_BUF];
	size_t off, len;
};

/* What a request's head says that routing needs. */
struct px_head {
	char field[32];             /* the header being read (lower case, cut) */
	size_t field_len;
	int want;                   /* which slot the value goes to: -1 none */
	char id[SBX_ROUTE_ID_MAX + 1];
	char port[16];
	char token[128];
	bool too_long;              /* a value we keep was longer than its slot */
	bool has_token;
	size_t bytes;
};

enum px_state {
	PX_IDLE,                    /* between requests */
	PX_FORWARD,                 /* a request and its answer relayed */
	PX_REFUSED,                 /* our answer going out, then the drain and close */
};

struct px_conn {
	struct px_conn *prev, *next;
	bool dead;                  /* closed in this batch of events, freed after it */
	int cfd, ufd;
	enum px_state state;
	http_parser req, resp;
	struct px_head h;
	bool headers_done;          /* the request's head is in */
	bool req_done;              /* its last byte went to up */
	bool resp_started;          /* a byte of the answer went to the client */
	bool resp_done;
	bool hs_done;               /* Hearth's "OK <port>\n" was read */
	char hs[64];
	size_t hs_len;
	bool req_head;              /* the request is a HEAD: its answer has no body */
	bool close_after;           /* close the client once down is out */
	bool cshut;                 /* the client's write side shut (drain) */
	size_t resp_head;
	uint64_t drain_left;
	int64_t last_ms, drain_until;
	char in[PX_IN];
	size_t in_off, in_len;
	struct px_buf up, down;     /* to the agent, to the client */
	uint32_t cev, uev;          /* what epoll watches on each */
};

struct px {
	struct sbx *s;
	int ep;
	unsigned int nconns;
	struct px_conn *conns;
	struct px_conn *dead;       /* closed, freed once the batch of events is done */
};

/* proxy_conn.c: a connection's parsing and routing. */
void px_conn_init(struct px_conn *c);
/* Parses what the client sent (bounded by up's room), routing at the head's end. */
void px_client_parse(struct px *p, struct px_conn *c);
/* Bytes from the agent (n of them; 0: its end): the handshake, then the answer into down. */
void px_upstream_data(struct px *p, struct px_conn *c, const char *buf, size_t n);
/* Our own answer (status, E2B's error JSON), then the close. */
void px_refuse(struct px *p, struct px_conn *c, unsigned int status, const char *msg);
/* After an answer's end: the next request on the connection, or the close. */
void px_exchange_end(struct px *p, struct px_conn *c);
/* Where the sandbox named in c's head is to be reached: its vsock's path (routing's check). */
int px_route(struct px *p, struct px_conn *c, char *vsock, size_t len, unsigned int *status,
	     char *msg, size_t msglen);

/* proxy.c: the loop's side of a connection. */
int px_upstream_open(struct px *p, struct px_conn *c, const char *vsock);
void px_watch(struct px *p, struct px_conn *c);
size_t px_buf_room(const struct px_buf *b);
int px_buf_put(struct px_buf *b, const char *d, size_t n);

#endif
