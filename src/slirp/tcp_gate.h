/*
 * The in-order gate between a guest and a libslirp instance (the MMDS
 * stack's and --net user's): how much TCP reassembly a guest can make
 * slirp hold.
 *
 * libslirp queues every out-of-order segment it is given until the hole
 * before it fills (one mbuf each, up to a window of 1-byte segments per
 * connection), so a guest that leaves a hole can make it hold about
 * 100 MiB a connection. libslirp has no limit of its own, so the gate
 * keeps one from outside, on every guest segment before slirp sees it:
 *
 *  - A segment that starts at or before the last ACK slirp sent on its
 *    connection is in order for slirp: slirp takes it at once or trims
 *    it, never queues it. It always passes, so a guest can always fill
 *    the hole slirp is waiting on.
 *  - Any other segment passes only if it continues exactly where the
 *    last one passed ended (the guest's own order; as Firecracker's MMDS,
 *    anything else is dropped), and only while the connection and the
 *    NIC have room: it is remembered until slirp's ACK covers it. slirp
 *    can only be holding a segment the gate remembers, so what it queues
 *    is at most per_conn segments a connection and max_segs segments or
 *    max_bytes bytes a NIC.
 *  - SYNs carrying data and fragmented TCP are dropped: slirp would
 *    queue either out of the gate's sight.
 *
 * The gate learns slirp's ACKs from the frames slirp sends the guest
 * (net_tcp_gate_output). A connection slirp has closed keeps its
 * remembered segments until net_tcp_gate_prune is given slirp's
 * connection table; callers do that when the gate is full, at most once
 * a second. All calls come from one thread (the I/O thread).
 */
#ifndef HEARTH_SLIRP_TCP_GATE_H
#define HEARTH_SLIRP_TCP_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Segments one connection may have ahead of slirp's last ACK. */
#define NET_TCP_GATE_CONN_SEGS 32

struct net_tcp_gate_conn {
	uint32_t guest_ip, peer_ip; /* network order */
	uint16_t guest_port, peer_port; /* host order */
	uint32_t ack, hi; /* slirp's last ACK; where the last segment passed ended */
	bool used, have_ack, have_hi;
	uint8_t n; /* remembered segments */
	uint64_t last_use;
	uint32_t end[NET_TCP_GATE_CONN_SEGS];
	uint32_t len[NET_TCP_GATE_CONN_SEGS];
};

struct net_tcp_gate_stats {
	uint64_t ahead;      /* segments passed ahead of slirp's ACK (remembered) */
	uint64_t out_of_order; /* dropped: not where the connection's last segment ended */
	uint64_t over_budget;  /* dropped: the connection or the NIC had no room */
	uint64_t refused;      /* dropped: SYN with data, fragmented TCP, no room to track */
	uint64_t pruned;       /* remembered segments forgotten with their closed connection */
};

struct net_tcp_gate {
	struct net_tcp_gate_conn *conns;
	unsigned int nconns; /* a power of two */
	unsigned int per_conn, max_segs;
	size_t max_bytes;
	unsigned int segs; /* remembered, all connections */
	size_t bytes;
	uint32_t seed;
	uint64_t tick;
	bool released; /* segments or connections let go since net_tcp_gate_take_released */
	bool pressed;  /* a segment found no room since the last prune */
	struct net_tcp_gate_stats stats;
};

/*
 * nconns (rounded up to a power of two) connections tracked at once;
 * per_conn (at most NET_TCP_GATE_CONN_SEGS), max_segs and max_bytes as
 * above. 0 or -ENOMEM.
 */
int net_tcp_gate_init(struct net_tcp_gate *g, unsigned int nconns, unsigned int per_conn,
		      unsigned int max_segs, size_t max_bytes);
void net_tcp_gate_fini(struct net_tcp_gate *g);
/* Forgets every connection: slirp's instance was replaced by one that has none. */
void net_tcp_gate_reset(struct net_tcp_gate *g);

/* A frame from the guest (Ethernet): false if slirp must not have it. */
bool net_tcp_gate_input(struct net_tcp_gate *g, const uint8_t *frame, size_t len);
/* A frame slirp sends the guest: its ACKs release remembered segments. */
void net_tcp_gate_output(struct net_tcp_gate *g, const uint8_t *frame, size_t len);

/* Whether the gate is out of room, so the caller should prune. */
bool net_tcp_gate_full(const struct net_tcp_gate *g);
/*
 * info: slirp_connection_info's table. Connections whose guest end is
 * in none of its TCP lines are forgotten with what they remembered.
 */
void net_tcp_gate_prune(struct net_tcp_gate *g, const char *info);

/* Whether anything was let go since the last call (then malloc may trim). */
bool net_tcp_gate_take_released(struct net_tcp_gate *g);

#endif
