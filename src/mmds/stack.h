/*
 * A NIC's MMDS stack: the device hands it the guest's frames for the
 * MMDS address (net_mmds_claims) before the backend sees them, and reads
 * what the stack answers from net_mmds_fd() as it reads a backend queue.
 *
 * The TCP/IP is libslirp's, an instance of the NIC's own: restricted (no
 * way out to any network), on 169.254.0.0/16, its one service a forward
 * of the MMDS address's port 80 to the NIC's HTTP server
 * (mmds_http.c), one Unix connection per guest connection. The guest's
 * own address may be anything (a TAP guest's 172.16.0.2, --net user's
 * 10.0.2.15): slirp answers whoever asked.
 *
 * Guest frames reach the stack through a SEQPACKET socketpair, and its
 * answers come back through it: both directions are bounded by the socket
 * buffers, and a frame that finds them full is dropped, like a congested
 * wire. The stack runs as a poller of the I/O thread's loop; the process
 * must ignore SIGPIPE (vmm/runner.c does), as libslirp writes to its Unix
 * connections with a plain send(). No state
 * survives a snapshot: connections open then are lost (the guest retries).
 */
#ifndef HEARTH_MMDS_STACK_H
#define HEARTH_MMDS_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/eventloop.h"
#include "util/err.h"

struct mmds;
struct net_mmds;

/*
 * libslirp sockets (each guest TCP connection to the MMDS, open or
 * closing) the stack holds at once; a SYN past it is dropped, so neither
 * slirp's memory nor the Unix connections grow with a guest's flood.
 */
#define NET_MMDS_MAX_CONNS 32u
/* Largest frame the stack takes: slirp's MTU of 1500 and the Ethernet header. */
#define NET_MMDS_MTU 1500u
/*
 * TCP segments ahead of slirp's last ACK (held in its reassembly queue,
 * or about to be taken) the stack lets a guest have: a connection's, and
 * the NIC's. Past either, such a segment is dropped (tcp_gate.h).
 */
#define NET_MMDS_CONN_SEGS 8u
#define NET_MMDS_SEGS 128u
/* Guest frames the stack reads per round. */
#define NET_MMDS_INPUT_BUDGET 64

struct net_mmds_stats {
	uint64_t frames_in;     /* guest frames slirp was given */
	uint64_t dropped_in;    /* guest frames refused: full queue, policy, offloads, size */
	uint64_t syn_refused;   /* SYNs dropped at NET_MMDS_MAX_CONNS */
	uint64_t out_of_order;  /* TCP segments dropped by the in-order gate (also in dropped_in) */
	uint64_t held_segs;     /* segments ahead of slirp's ACK now (at most NET_MMDS_SEGS) */
	uint64_t held_bytes;    /* ... their payload */
	uint64_t frames_out;    /* frames the stack sent the guest */
	uint64_t dropped_out;   /* ... that found the device's queue full */
};

/* Whether a valid IPv4 address (network order) may be the MMDS's: 169.254.0.0/16, not .0.0 or .255.255. */
bool net_mmds_addr_ok(uint32_t ip_be);

/*
 * The stack for m (not owned) at ip_be, in loop. 0, or -errno with one
 * line in err.
 */
int net_mmds_open(struct mmds *m, uint32_t ip_be, struct eventloop *loop, struct net_mmds **out,
		  struct err *err);
void net_mmds_close(struct net_mmds *s);

/* The device's end: frames the stack sends the guest, one per read. */
int net_mmds_fd(const struct net_mmds *s);

/*
 * Whether a guest frame (Ethernet, no virtio header) is the stack's: an
 * ARP request for the MMDS address, an ARP reply to a request slirp sent
 * in the last 5 s (to slirp's address, from the one it asked about), and
 * IPv4 to the MMDS address. Any other ARP is the backend's.
 */
bool net_mmds_claims(const struct net_mmds *s, const uint8_t *frame, size_t len);

/* An Ethernet header's bytes: frames here start with one, no NIC header before it. */
#define NET_MMDS_ETH_HLEN 14u

/* What the guest left to the device with a frame: the NIC reads it from its own header. */
struct net_mmds_offload {
	bool needs_csum;          /* the checksum at csum_start + csum_offset is to be completed */
	uint16_t csum_start, csum_offset;
	bool gso;                 /* a segmentation offload */
};

/*
 * Takes a frame net_mmds_claims said is the stack's, with what the guest
 * left to the device (o NULL: nothing). A checksum left to the device is
 * completed (the NIC checked it lies inside the frame); a segmentation
 * offload is refused (an MMDS request fits one segment). 0: queued;
 * -errno: dropped and counted.
 */
int net_mmds_tx(struct net_mmds *s, const struct net_mmds_offload *o, uint8_t *frame, size_t len);

void net_mmds_get_stats(const struct net_mmds *s, struct net_mmds_stats *st);
/* The HTTP server's socket (tests). */
const char *net_mmds_socket(const struct net_mmds *s);

#endif
