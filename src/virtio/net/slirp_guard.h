/*
 * The policy between the guest and libslirp (slirp.c): frames that
 * would reach the host's loopback are dropped unless host loopback is on,
 * and frames that would make slirp open a host socket are dropped while
 * the guest already holds the cap. All calls come from the I/O thread.
 */
#ifndef HEARTH_VIRTIO_NET_SLIRP_GUARD_H
#define HEARTH_VIRTIO_NET_SLIRP_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/net.h"

/*
 * Host sockets (TCP connections, UDP flows, ICMP echo) guest traffic may
 * hold open at once; also at most half of RLIMIT_NOFILE. Past it, frames
 * that would open one more are dropped.
 */
#define NET_SLIRP_MAX_SOCKETS 512

/*
 * IPv4 fragments a second that reach slirp: it keeps an incomplete
 * datagram up to 30 s, one mbuf a fragment, so this bounds what they hold.
 */
#define NET_SLIRP_FRAGS_PER_S 128

/* UDP hostfwd peers remembered so the guest can answer them (see .c). */
#define NET_SLIRP_GUARD_PEERS 32

struct net_slirp_guard {
	bool host_loopback;
	uint32_t dns_be, host_be, guest_be; /* 10.0.2.3, .2 and .15, network order */
	/* UDP hostfwd guest ports, and host peers that sent through them. */
	uint16_t udp_fwd[NET_MAX_HOSTFWD];
	unsigned int nudp_fwd, peer_next;
	struct {
		uint16_t guest_port, host_port;
	} peers[NET_SLIRP_GUARD_PEERS];
	/*
	 * The host sockets slirp holds, as it reports them through
	 * register_poll_fd / unregister_poll_fd: a bitmap by fd number, so a
	 * repeated or unmatched call cannot skew the count.
	 */
	uint64_t *fds;
	unsigned int fds_words, nsockets, max_sockets;
	int64_t pruned_ms;
	int64_t frag_second; /* the second frags counts in */
	unsigned int frags;
};

/* Addresses in network order; the cap is cfg->max_sockets or the default. */
void net_slirp_guard_init(struct net_slirp_guard *g, const struct net_config *cfg,
			  uint32_t host_be, uint32_t guest_be, uint32_t dns_be);
void net_slirp_guard_fini(struct net_slirp_guard *g);

/* slirp's register_poll_fd / unregister_poll_fd: its host sockets. */
void net_slirp_guard_fd_opened(struct net_slirp_guard *g, int fd);
void net_slirp_guard_fd_closed(struct net_slirp_guard *g, int fd);

/* A frame from slirp to the guest (remembers UDP hostfwd peers). */
void net_slirp_guard_output(struct net_slirp_guard *g, uint8_t *frame, size_t len);

/* A frame from the guest: true if slirp may have it; may rewrite it. */
bool net_slirp_guard_input(struct net_slirp_guard *g, uint8_t *frame, size_t len);

#endif
