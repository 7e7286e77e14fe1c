/* The TAP backend of virtio-net: /dev/net/tun with IFF_VNET_HDR. */
#ifndef HEARTH_VIRTIO_NET_TAP_H
#define HEARTH_VIRTIO_NET_TAP_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"
#include "virtio/net.h"

/*
 * Attaches to (or, with CAP_NET_ADMIN, creates) tap ifname with up to
 * pairs queues; falls back to one queue when the interface is not
 * multi-queue, and takes one queue of a multi-queue one when pairs is 1.
 * Returns 0 or -errno with a one-line message in err.
 */
int net_tap_open(const char *ifname, unsigned int pairs, struct net_be **out, struct err *err);
/*
 * net_tap_open, or with fc Firecracker's open: one queue pair whatever
 * pairs says, a TAP created multi_queue refused, the failure in its words.
 */
int net_tap_open_as(const char *ifname, unsigned int pairs, bool fc, struct net_be **out,
		    struct err *err);

/* Checks a tap=IFNAME value and copies it to out. */
int net_tap_parse_ifname(const char *name, char *out, size_t outlen, struct err *err);

#endif
