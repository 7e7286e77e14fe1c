/*
 * The user-mode backend of virtio-net: libslirp as a poller of the I/O
 * thread's loop, exchanging frames with the device through in-process
 * FIFOs (net_be_ops.send and recv), its fd an eventfd.
 */
#ifndef HEARTH_VIRTIO_NET_SLIRP_H
#define HEARTH_VIRTIO_NET_SLIRP_H

#include <stddef.h>

#include "core/eventloop.h"
#include "util/err.h"
#include "virtio/net.h"

/*
 * Guest 10.0.2.15 (DHCP), host/gateway 10.0.2.2 (the host's 127.0.0.1 only
 * with cfg->host_loopback), DNS 10.0.2.3 (the host's resolver; port 53 only
 * while host loopback is off).
 */
int net_slirp_open(const struct net_config *cfg, struct eventloop *loop, struct net_be **out,
		   struct err *err);

#endif
