/*
 * Internals shared by net.c (device model, control queue, setup), tx.c
 * (transmit path), rx.c (receive path) and state.c (snapshots). Not for
 * use outside src/virtio/net/.
 */
#ifndef HEARTH_VIRTIO_NET_PRIV_H
#define HEARTH_VIRTIO_NET_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/eventloop.h"
#include "util/log.h"
#include "virtio/limiter.h"
#include "virtio/net.h"
#include "virtio/vhost.h"
#include "mmds/stack.h"

/* Slack past the largest legal frame so an oversize one is seen, not truncated. */
#define NET_BUF_LEN (NET_HDR_LEN + NET_FRAME_MAX_BIG + 256u)
#define NET_QUEUE_SIZE 256u
#define NET_VHOST_PATH "/dev/vhost-net"
/*
 * Work per call before the I/O thread gets its loop back (signals, other
 * devices); a queue with work left asks to be called again (kick_again).
 */
#define NET_RX_BUDGET 256u
#define NET_TX_BUDGET 4096u
#define NET_CTRL_BUDGET 64u /* each command may cost TUN ioctls */

#define NET_RX_BIG_FEATURES                                                                  \
	((1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) |             \
	 (1ull << VIRTIO_NET_F_GUEST_UFO) | (1ull << VIRTIO_NET_F_MRG_RXBUF))
#define NET_TX_BIG_FEATURES                                                                  \
	((1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO6) |               \
	 (1ull << VIRTIO_NET_F_HOST_UFO))

struct net_dev;

/* Where vhost-net lives and how it is driven: the unit tests fake both. */
struct net_vhost_backend {
	const char *path;
	vhost_ioctl_fn ioctl;
};

/* vhost.c's state: one /dev/vhost-net instance per queue pair. */
struct net_vhost {
	struct net_vhost_backend be;
	int fd[NET_MAX_QUEUE_PAIRS];
	struct vhost_mem_watch mw; /* stopped before any fd closes */
	uint64_t features;       /* vhost's own (VHOST_GET_FEATURES) */
	struct vhost_call calls[2 * NET_MAX_QUEUE_PAIRS];
	/* -1 until the first start takes the transport's or makes one. */
	int kick[2 * NET_MAX_QUEUE_PAIRS];
	bool own_kick[2 * NET_MAX_QUEUE_PAIRS]; /* no ioeventfd: queue_notify relays */
	/*
	 * Dropped: a dup of each taken kick fd, watched in our loop. A dup,
	 * as the transport closes its own on detach, before the device is
	 * destroyed, and a closed number may be someone else's by then.
	 */
	int watch[2 * NET_MAX_QUEUE_PAIRS];
	unsigned int started;    /* bit i: pair i has its TAP queue as vhost's backend */
	bool running;
	bool dropped;            /* left for userspace (a rate limiter came) */
	uint64_t signals, kick_relays; /* under dev.lock */
};

struct net_pair {
	struct net_dev *nd;
	unsigned int idx;
	int fd;
	bool registered; /* in the event loop */
	bool polling;    /* waiting for EPOLLIN; off while the guest has no RX buffers */
	size_t pending;  /* a frame (header included) waiting for RX buffers */
	uint8_t *buf;
};

struct net_dev {
	struct virtio_dev dev;
	struct eventloop *loop;
	struct net_be *be;
	uint8_t mac[6];
	bool mac_set;            /* the MAC is the configured guest_mac, not Hearth's default */
	unsigned int max_pairs, cur_pairs;
	struct net_pair pair[NET_MAX_QUEUE_PAIRS];
	struct virtq_chain *first, *scratch;
	/* One frame's buffers; never more than a queue holds (NET_QUEUE_SIZE). */
	uint16_t heads[NET_QUEUE_SIZE];
	uint32_t lens[NET_QUEUE_SIZE], in_lens[NET_QUEUE_SIZE];
	uint8_t *txbuf;
	struct virtio_net_stats stats;
	/* Firecracker's rx_rate_limiter and tx_rate_limiter: one each for all pairs. */
	struct virtio_limiter rx_lim, tx_lim;
	char name[24];
	/*
	 * The MMDS stack (mmds.h), when the NIC has one: it takes the guest's
	 * frames for the MMDS before the backend, and its answers reach the
	 * guest through pair 0's receive path, read before the backend's.
	 */
	struct net_mmds *mmds;
	bool mmds_registered;
	unsigned int restored_pairs; /* from a snapshot, for net_state_restored; 0: none */
	struct net_vhost *vhost;     /* NULL: the rings are served here */
};

static inline bool net_has(const struct net_dev *nd, unsigned int bit)
{
	return virtio_dev_has_feature(&nd->dev, bit);
}

/*
 * Largest frame (header excluded) the negotiated features allow: an
 * offered MTU above 1500 raises it to that MTU's frames (5.1.6.3).
 */
static inline size_t net_frame_limit(const struct net_dev *nd, uint64_t big_features)
{
	if (nd->dev.features & big_features)
		return NET_FRAME_MAX_BIG;
	if (net_has(nd, VIRTIO_NET_F_MTU) && nd->be->mtu + NET_ETH_HLEN > NET_FRAME_MAX)
		return nd->be->mtu + NET_ETH_HLEN;
	return NET_FRAME_MAX;
}

/*
 * A per-call budget ran out with work left on q: have the transport call
 * queue_notify again on a later loop round. Without a transport hook, at
 * least let the driver's next kick through.
 */
static inline void net_call_again(struct net_dev *nd, unsigned int q)
{
	if (nd->dev.kick_again)
		nd->dev.kick_again(&nd->dev, q);
	else
		virtq_set_notify(&nd->dev.vq[q], true);
}

void net_poll_set(struct net_dev *nd, struct net_pair *p, bool on);
/* net.c: the guest now uses n queue pairs. */
void net_set_pairs(struct net_dev *nd, unsigned int n);
/* net.c: the next chain; false when the ring is empty or broken (then the device failed). */
bool net_pop(struct net_dev *nd, struct virtq *vq, struct virtq_chain *c);
/* net.c: the warnings of net.c and tx.c share one limit, as those of one file would. */
extern struct ratelimit net_rl;
/* tx.c: moves queue q's frames from the guest to the backend (or the MMDS stack). */
void net_tx_process(struct net_dev *nd, unsigned int q);
/* state.c: the snapshot ops. dev->lock held. */
int net_state_save(struct virtio_dev *dev, struct bytes_out *o);
int net_state_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in,
		      size_t len, bool apply);
void net_state_restored(struct virtio_dev *dev);
/*
 * vhost.c. attach opens an instance per pair (required false: a failure
 * is logged and the NIC stays in userspace, 0). start hands the enabled
 * pairs' rings and TAP queues over; stop takes them back (keep_position:
 * into the virtqs, for a snapshot or userspace to go on from); drop
 * leaves vhost for good. All but attach and destroy: dev->lock held.
 */
int net_vhost_attach(struct net_dev *nd, const struct net_vhost_backend *be, bool required,
		     struct err *err);
void net_vhost_destroy(struct net_dev *nd);
bool net_on_vhost(const struct net_dev *nd);
int net_vhost_start(struct net_dev *nd);
int net_vhost_stop(struct net_dev *nd, bool keep_position);
void net_vhost_notify(struct net_dev *nd, unsigned int q);
int net_vhost_drop(struct net_dev *nd, const char *why);
/* rx.c: moves frames from the backend to the guest's RX queue of pair p. */
void net_rx_process(struct net_dev *nd, struct net_pair *p);

#endif
