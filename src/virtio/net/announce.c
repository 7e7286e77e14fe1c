/*
 * A NIC's announcement after a live migration (docs/migration.md): a RARP
 * request from the guest's MAC, broadcast into its TAP as if the guest had
 * sent it, so the switches and bridges on the way learn the port the MAC
 * now sits behind (QEMU's announce-self does the same). A user-mode NIC
 * has no wire to tell.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "virtio/net.h"
#include "virtio/net/priv.h"

#define RARP_FRAME VIRTIO_NET_RARP_LEN

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t virtio_net_rarp(const uint8_t mac[6], uint8_t out[VIRTIO_NET_RARP_LEN])
{
	memset(out, 0, RARP_FRAME);
	memset(out, 0xff, 6);            /* to everyone */
	memcpy(out + 6, mac, 6);
	put16(out + 12, 0x8035);         /* RARP */
	put16(out + 14, 1);              /* Ethernet */
	put16(out + 16, 0x0800);         /* IPv4 */
	out[18] = 6;
	out[19] = 4;
	put16(out + 20, 3);              /* reverse request */
	memcpy(out + 22, mac, 6);        /* sender: the guest; its IPv4 0 */
	memcpy(out + 32, mac, 6);        /* target: the guest too */
	return RARP_FRAME;
}

int virtio_net_announce(struct virtio_dev *dev)
{
	struct net_dev *nd = dev->priv;
	uint8_t buf[NET_HDR_LEN + RARP_FRAME] = { 0 };
	size_t hdr = 0, len;
	ssize_t n;

	pthread_mutex_lock(&dev->lock);
	if (!nd->be || nd->be->ops->send || nd->be->fds[0] < 0) {
		pthread_mutex_unlock(&dev->lock);
		return 0;
	}
	/* A tap with vnet_hdr takes the virtio header first: all zeros, no offload. */
	if (nd->be->vnet_hdr)
		hdr = NET_HDR_LEN;
	len = hdr + virtio_net_rarp(nd->mac, buf + hdr);
	n = write(nd->be->fds[0], buf, len);
	pthread_mutex_unlock(&dev->lock);
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}
