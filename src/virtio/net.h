/* virtio-net with a TAP or a user-mode (libslirp) backend. */
#ifndef HEARTH_VIRTIO_NET_H
#define HEARTH_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/device.h"
#include "virtio/mmio.h"

#define NET_MAX_HOSTFWD 8

enum net_backend { NET_TAP, NET_USER };

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
	unsigned int queue_pairs; /* tap: set from --cpus by the caller */
};

/* "tap=IFNAME[,mac=..]" or "user[,hostfwd=tcp:HOSTPORT-:GUESTPORT]..." */
int virtio_net_parse(const char *spec, struct net_config *cfg, char *err, size_t errlen);

int virtio_net_create(const struct virtio_host *host, const struct net_config *cfg,
		      uint64_t base, uint32_t gsi, struct virtio_dev **out, char *err,
		      size_t errlen);
void virtio_net_destroy(struct virtio_dev *dev);

#endif
