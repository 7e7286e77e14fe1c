/* virtio-net with a TAP or a user-mode (libslirp) backend. */
#ifndef HEARTH_VIRTIO_NET_H
#define HEARTH_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/bytes.h"
#include "util/err.h"
#include "virtio/device.h"

#define NET_MAX_HOSTFWD 8

struct mmds;

enum net_backend { NET_TAP, NET_USER };

/* A user-mode NIC's MTU, and the most an API mtu may give it (virtio/net/slirp.c). */
#define NET_SLIRP_MTU_MAX 65520u

/*
 * A TAP NIC's rings on vhost-net: auto where /dev/vhost-net opens (else
 * served here, and the log says why), on or fail, or off.
 */
enum net_vhost_mode { NET_VHOST_AUTO, NET_VHOST_ON, NET_VHOST_OFF };

struct net_hostfwd {
	bool udp;
	uint16_t host_port;
	uint16_t guest_port;
};

struct net_config {
	enum net_backend backend;
	char ifname[16];          /* tap */
	uint8_t mac[6];
	bool mac_set;
	struct net_hostfwd fwd[NET_MAX_HOSTFWD];
	unsigned int nfwd;
	unsigned int queue_pairs; /* tap: set from queues and --cpus by the caller */
	/* tap: queue pairs asked for (queues=N, 1 to NET_MAX_QUEUE_PAIRS); 0: one per vCPU */
	unsigned int queues;
	/* user: the guest reaches the host's 127.0.0.1 at 10.0.2.2; off unless asked. */
	bool host_loopback;
	/* user: cap on the host sockets guest traffic opens; 0 picks the default
	 * (NET_SLIRP_MAX_SOCKETS). Not on the command line: tests lower it. */
	unsigned int max_sockets;
	/* Offered with VIRTIO_NET_F_MTU (5.1.4); 0: the backend's own (a TAP: none). */
	uint16_t mtu;
	enum net_vhost_mode vhost; /* tap only */
	bool fc_tap;              /* tap: Firecracker's open, one queue (net_tap_open_as) */
	/*
	 * Firecracker's MMDS on this NIC (net/mmds.c): the guest's ARP and
	 * IPv4 for mmds_ipv4 (network order, in 169.254.0.0/16) go to a stack
	 * of the device's own, never to the backend. NULL: none. Not owned:
	 * it must outlive the device.
	 */
	struct mmds *mmds;
	uint32_t mmds_ipv4;
};

/*
 * "tap=IFNAME[,mac=..][,mtu=N][,vhost=on|off|auto][,queues=Q]" (N: 68 to 65535, offered
 * to the guest; Q: 1 to NET_MAX_QUEUE_PAIRS queue pairs, default one per vCPU) or
 * "user[,host-loopback=on|off][,hostfwd=tcp:HOSTPORT-:GUESTPORT]...".
 * host-loopback is off by default: with it on, every service on the host's
 * loopback is open to the guest.
 */
int virtio_net_parse(const char *spec, struct net_config *cfg, struct err *err);

/*
 * Opens the backend cfg names (user needs env->loop: slirp runs in it).
 * Counters: the virtio_net_stats fields, by the same names.
 */
int virtio_net_create(const struct virtio_env *env, const struct net_config *cfg,
		      struct virtio_dev **out, struct err *err);
void virtio_net_destroy(struct virtio_dev *dev);

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_MQ 22

#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_MQ 4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0

/* VERSION_1 always carries num_buffers, so the header is 12 bytes (5.1.6). */
#define NET_HDR_LEN 12u
#define NET_FRAME_MAX_BIG 65550u
#define NET_FRAME_MAX 1514u
#define NET_FRAME_MIN 14u
#define NET_ETH_HLEN 14u          /* a frame is the MTU's bytes after this header */
#define NET_MTU_MIN 68u           /* IPv4's minimum, and Firecracker's */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

/* Queue pairs are capped so a multi-queue NIC leaves room in the I/O loop. */
#define NET_MAX_QUEUE_PAIRS 4

/*
 * A backend is one nonblocking fd per queue pair that carries one Ethernet
 * frame per read()/write() (a tap queue, or a SEQPACKET socket to the
 * user-mode stack's thread). With vnet_hdr each frame starts with the
 * 12-byte virtio_net_hdr; without it frames are plain Ethernet.
 */
struct net_be;

struct net_be_ops {
	/* The guest negotiated these features: enable matching receive offloads. */
	int (*set_offload)(struct net_be *be, uint64_t features);
	/* The guest now uses n queue pairs. */
	int (*set_queues)(struct net_be *be, unsigned int n);
	void (*destroy)(struct net_be *be);
	/*
	 * Optional, for snapshots (net/state.c): the backend's own state as
	 * one tagged record appended to o, and its restore, called first with
	 * apply false (check only, nothing changes) then with apply true.
	 * 0 or -errno as for a device's restore (util/bytes.h).
	 */
	int (*save)(struct net_be *be, struct bytes_out *o);
	int (*restore)(struct net_be *be, const void *in, size_t len, bool apply);
	/*
	 * Optional, both or neither: a backend in this process, on the I/O
	 * thread with the device (user-mode networking), takes and gives
	 * queue pair p's frames here instead of through fds[p], whose only
	 * job is then to be readable while frames wait for the device. send: 0, or -ENOBUFS
	 * when full (the frame is dropped, as a congested wire would). recv:
	 * the frame's length, -EAGAIN when none waits (fds[p] is then no
	 * longer readable), or -EMSGSIZE for one longer than len (dropped).
	 * Frames carry no virtio header (vnet_hdr is false).
	 */
	int (*send)(struct net_be *be, unsigned int p, const void *frame, size_t len);
	ssize_t (*recv)(struct net_be *be, unsigned int p, void *buf, size_t len);
};

struct net_be {
	const struct net_be_ops *ops;
	const char *name;
	unsigned int nqueues;
	int fds[NET_MAX_QUEUE_PAIRS];
	bool vnet_hdr;
	uint64_t offload_features; /* VIRTIO_NET_F_* bits the backend can carry */
	unsigned int mtu;          /* 0: not advertised */
};

/* Like virtio_net_create with a ready backend; takes ownership of be (also on error). */
int virtio_net_create_backend(const struct virtio_env *env, const struct net_config *cfg,
			      struct net_be *be, struct virtio_dev **out, struct err *err);

struct virtio_net_stats {
	uint64_t rx_packets, rx_bytes;
	uint64_t rx_dropped_oversize; /* above the negotiated maximum or the guest's buffers */
	uint64_t tx_packets, tx_bytes;
	uint64_t tx_dropped;          /* oversize, bad header, backend full or failing */
	uint64_t rx_throttled;        /* frames the rx rate limiter held back */
	uint64_t tx_throttled;        /* frames the tx rate limiter left in the ring */
	uint64_t tx_spoofed_mac;      /* sent from another source MAC than the NIC's guest_mac */
};

/*
 * Applies rate limiter configurations (core/ratelimit.h) to receive and
 * transmit, live; NULL leaves one as it is. On the I/O thread. A frame
 * costs its bytes with the virtio header, and one op.
 */
void virtio_net_set_limiters(struct virtio_dev *dev, const struct rl_config *rx,
			     const struct rl_config *tx);

void virtio_net_get_stats(struct virtio_dev *dev, struct virtio_net_stats *st);

/* A RARP request from mac, to everyone, padded to Ethernet's minimum (announce.c). */
#define VIRTIO_NET_RARP_LEN 60u
size_t virtio_net_rarp(const uint8_t mac[6], uint8_t out[VIRTIO_NET_RARP_LEN]);
/*
 * After a live migration: the guest's MAC announced into its TAP (the
 * RARP above, as if the guest sent it), so the wire learns where it moved.
 * A user-mode NIC has no wire: nothing. 0 or -errno.
 */
int virtio_net_announce(struct virtio_dev *dev);

/* Whether vhost-net serves dev's rings now. */
bool virtio_net_on_vhost(struct virtio_dev *dev);

/*
 * virtio_net_create's vhost step with its device path and ioctl given
 * (unit tests fake them): dev's TAP pairs on vhost from the next
 * activation. required: a failure is the error, else logged and 0.
 */
int virtio_net_attach_vhost(struct virtio_dev *dev, const char *path,
			    int (*io)(int fd, unsigned long req, void *arg), bool required,
			    struct err *err);


/* Processes backend input as the I/O thread would on EPOLLIN (unit tests). */
void virtio_net_rx_poll(struct virtio_dev *dev);

#endif
