/*
 * Hybrid vsock internals, shared by the device (uds.c: queues, packets
 * in and out) and its host side (conn.c: connections and their Unix
 * sockets; conn_rx.c: what they send the guest).
 * Everything here runs on the I/O thread with dev.lock held.
 */
#ifndef HEARTH_VIRTIO_VSOCK_HYBRID_H
#define HEARTH_VIRTIO_VSOCK_HYBRID_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ratelimit.h"
#include "util/log.h"
#include "virtio/device.h"
#include "virtio/vsock/line.h"

/* VIRTIO 1.2, 5.10.6: the packet header, little-endian as the host. */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

#define VSOCK_HDR_LEN 44u
#define VSOCK_HOST_CID 2u
#define VSOCK_TYPE_STREAM 1u

enum vsock_op {
	VSOCK_OP_INVALID,
	VSOCK_OP_REQUEST,
	VSOCK_OP_RESPONSE,
	VSOCK_OP_RST,
	VSOCK_OP_SHUTDOWN,
	VSOCK_OP_RW,
	VSOCK_OP_CREDIT_UPDATE,
	VSOCK_OP_CREDIT_REQUEST,
};

#define VSOCK_SHUT_RCV 1u  /* the sender will receive no more */
#define VSOCK_SHUT_SEND 2u /* the sender will send no more */
#define VSOCK_SHUT_BOTH 3u

#define VU_RXQ 0
#define VU_TXQ 1
#define VU_EVQ 2
#define VU_QUEUE_SIZE 256
/*
 * Per connection, what we advertise as buf_alloc: guest data the host
 * socket has not taken yet waits in a buffer of this size, and a guest
 * that sends past its credit is reset, so a host client that stops
 * reading costs at most this much. It also bounds one RW packet.
 */
#define VU_CONN_BUF (64u * 1024u)
/*
 * Each side has its own cap, so that host clients (those still sending
 * their CONNECT line included) cannot take the guest's slots, nor the
 * guest the host's. Together they keep all guest-fed buffers below
 * 16 MiB, and the device's sockets within the room the sandbox leaves
 * for file descriptors (SANDBOX_NOFILE_SPARE).
 */
#define VU_MAX_HOST_CONNS 128u
#define VU_MAX_GUEST_CONNS 128u
#define VU_MAX_CONNS (VU_MAX_HOST_CONNS + VU_MAX_GUEST_CONNS)
/*
 * How long a host client has to send its whole CONNECT line: a client
 * sends it right after connecting, so one that has not after this long
 * is closed, and its slot is free again. Not an option: a client that
 * sends its line at once never comes near it. Tests move time with
 * env->clock instead.
 */
#define VU_HANDSHAKE_MS 5000u
/*
 * Packets per kick, each way, before the loop gets its thread back: half
 * a ring, so a guest refilling as fast as we drain cannot keep us here.
 */
#define VU_KICK_PACKETS 128u
/*
 * RSTs not tied to a live connection wait here for receive buffers. The
 * tx queue stops at half, so the resets of every live connection still fit.
 */
#define VU_RST_BACKLOG (2u * VU_MAX_CONNS)
/* Host-initiated connections take local ports from here up (as Firecracker). */
#define VU_FIRST_LOCAL_PORT (1u << 30)

enum vu_state {
	VU_HANDSHAKE,   /* a host client; its CONNECT line is not complete */
	VU_REQUESTED,   /* REQUEST sent or pending; waiting for the guest's RESPONSE */
	VU_ESTABLISHED,
};

/* What a connection still owes the guest, besides data. */
#define VU_P_REQUEST 1u
#define VU_P_RESPONSE 2u
#define VU_P_CREDIT_UPDATE 4u

struct vsock_uds;

struct vu_conn {
	struct vsock_uds *vu;
	int fd;
	enum vu_state state;
	uint32_t local_port, peer_port;
	uint32_t pending;      /* VU_P_* */
	uint32_t shut_sent;    /* SHUTDOWN flags we sent the guest */
	uint32_t peer_shut;    /* SHUTDOWN flags the guest sent */
	bool readable;         /* the socket may hold data or EOF: not polled for EPOLLIN */
	bool host_eof, host_hup;
	bool registered;
	uint32_t events;       /* epoll interest now */
	/* The guest's receive credit (5.10.6.3): what we may send it. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, rx_cnt;
	bool credit_requested;
	/* Ours: bytes from the guest the host socket took, and what it last heard. */
	uint32_t fwd_cnt, fwd_cnt_sent;
	/* Guest data the socket did not take yet: a ring of VU_CONN_BUF, made on first use. */
	uint8_t *buf;
	uint32_t buf_head, buf_len;
	/* Counted against the host's cap (it came to uds_path), or the guest's. */
	bool from_host;
	/* The CONNECT line so far, and when it must be complete (vu_now). */
	char line[VSOCK_LINE_MAX];
	unsigned int line_len;
	uint64_t handshake_deadline;
	/* On the list of connections with something for the receive queue. */
	bool queued;
	struct vu_conn *next;
};

struct vu_rst {
	uint64_t src_cid;
	uint32_t src_port, dst_port;
};

struct vsock_uds {
	struct virtio_dev dev;
	struct eventloop *loop;
	uint64_t cid;
	char *path;
	int listen_fd;
	unsigned int nconns, nhost, nguest;
	/* The handshake timer (handshake.c), on the clock of env->clock. */
	struct rl_clock clock;
	uint64_t handshake_ns;
	int hs_tfd;
	bool hs_armed;
	uint32_t next_port;
	struct vu_conn *rx_head, *rx_tail;
	unsigned int rst_head, nrst;
	bool tx_blocked;       /* stopped with the RST backlog half full */
	bool reset_pending;    /* restored: the guest is owed a transport reset event */
	/*
	 * The device's handler for a connection's socket events (uds.c), which
	 * conn.c registers each socket with: the connections tell the device
	 * through it, and never call up into it.
	 */
	void (*conn_event)(void *opaque, uint32_t events);
	uint64_t conns_opened, conns_refused, rx_bytes, tx_bytes, bad_packets, rst_sent;
	uint64_t handshakes_timed_out;
	/*
	 * Last, the chain (its header, then its iovecs, the first few the only
	 * ones most requests fill) and the big tables: the fields above share
	 * the first page with them (a clone writes its pages: util/trim.h).
	 */
	struct virtq_chain chain;
	struct vu_conn *conns[VU_MAX_CONNS];
	struct vu_rst rst[VU_RST_BACKLOG];
	uint8_t bounce[VU_CONN_BUF];
};

extern struct ratelimit vu_rl;

/* The guest's receive credit (5.10.6.3): what we may send it now. */
static inline uint32_t vu_conn_credit(const struct vu_conn *c)
{
	uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;

	/* A driver whose fwd_cnt runs ahead of what we sent gets nothing more. */
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Data the host socket may hand the guest now (or its EOF). */
static inline bool vu_conn_wants_rw(const struct vu_conn *c)
{
	return c->state == VU_ESTABLISHED && c->readable && !c->host_eof &&
	       !(c->peer_shut & VSOCK_SHUT_RCV);
}

/*
 * A connection's lifetime has one owner: the handler that took it up,
 * for the rest of its call. That is vu_on_conn_event (its host socket's
 * events), vu_conn_packet (a guest packet for it) or vu_rx_process (a
 * receive buffer for it), and nothing else keeps a pointer to it but
 * vu->conns and the receive list, which vu_conn_free unlinks it from.
 * Whatever those handlers call that may end the connection is marked
 * VU_MAY_FREE and returns 0 while c lives, or -ECONNRESET once it freed
 * c: the caller then touches c no more and returns the same, up to the
 * owner, which uses only vu from there on. The attribute makes the
 * compiler refuse a caller that does not look.
 */
#define VU_MAY_FREE __attribute__((warn_unused_result))

/* conn.c */
void vu_on_listen(void *opaque, uint32_t events);
/* What c's host socket's events mean for it (the device's conn_event). May free c. */
VU_MAY_FREE int vu_conn_host_event(struct vsock_uds *vu, struct vu_conn *c, uint32_t events);
/* A packet from the guest; finds (or makes) its connection and owns it. */
void vu_conn_packet(struct vsock_uds *vu, const struct vsock_hdr *h,
		    const struct virtq_chain *c);
/* Polls for what c can use now, and queues it if it has something for the guest. */
void vu_conn_refresh(struct vsock_uds *vu, struct vu_conn *c);
void vu_conn_update_events(struct vsock_uds *vu, struct vu_conn *c);
void vu_conn_dequeue(struct vsock_uds *vu, struct vu_conn *c);
/* Tells the guest c is gone (RST) and frees it: always -ECONNRESET. */
VU_MAY_FREE int vu_conn_reset(struct vsock_uds *vu, struct vu_conn *c);
/* Frees c without a word to the guest (it sent RST, or never heard of c). */
void vu_conn_free(struct vsock_uds *vu, struct vu_conn *c);
void vu_conns_free_all(struct vsock_uds *vu);
/* Queues an RST for (local, peer) not tied to a connection (it may be gone). */
void vu_rst_queue(struct vsock_uds *vu, uint64_t src_cid, uint32_t local_port,
		  uint32_t peer_port);

/* handshake.c */
/* Makes the timer and puts it on env->loop; 0 or -errno. */
int vu_handshake_init(struct vsock_uds *vu, const struct virtio_env *env);
void vu_handshake_release(struct vsock_uds *vu);
/* Now, on the device's clock (ns). */
uint64_t vu_now(const struct vsock_uds *vu);
/* A host client was accepted: its line is due handshake_ns from now. */
void vu_handshake_start(struct vsock_uds *vu, struct vu_conn *c);
/*
 * Closes every host client whose line is overdue, and arms the timer for
 * the next one due. What the timer runs (dev.lock held); tests call it
 * after moving their clock.
 */
void vu_handshake_expire(struct vsock_uds *vu);

/* conn_rx.c */
/*
 * Writes c's next packet into the receive chain rc and its length into
 * *len; 0 when c had nothing after all (the chain goes back, and c is off
 * the receive list). May free c (its socket broke; *len is 0).
 */
VU_MAY_FREE int vu_conn_fill(struct vsock_uds *vu, struct vu_conn *c,
			     const struct virtq_chain *rc, uint32_t *len);

#endif
