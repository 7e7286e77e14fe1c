#include "virtio/net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"

struct net_tap {
	struct net_be be;
	char ifname[IFNAMSIZ];
	unsigned int tun_offloads; /* TUN_F_* the kernel accepted when probed */
};

int net_tap_parse_ifname(const char *name, char *out, size_t outlen, struct err *err)
{
	size_t n = strlen(name);

	if (n == 0 || n >= outlen || n >= IFNAMSIZ)
		return err_set(err, false, -EINVAL, "tap interface name must be 1-%d characters",
			       IFNAMSIZ - 1);
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '/' || name[i] == ':' || name[i] <= ' ' || name[i] > '~')
			return err_set(err, false, -EINVAL, "bad tap interface name '%s'", name);
	}
	memcpy(out, name, n + 1);
	return 0;
}

static int net_tap_set_offload(struct net_be *be, uint64_t f)
{
	struct net_tap *t = (struct net_tap *)be;
	unsigned int off = 0;

	/* The tap may only hand us what the guest said it can take (5.1.6.4). */
	if (f & (1ull << VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (f & (1ull << VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (f & (1ull << VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
		if ((off & (TUN_F_TSO4 | TUN_F_TSO6)) && (f & (1ull << VIRTIO_NET_F_GUEST_ECN)))
			off |= TUN_F_TSO_ECN;
		if (f & (1ull << VIRTIO_NET_F_GUEST_UFO))
			off |= TUN_F_UFO;
	}
	off &= t->tun_offloads;
	for (unsigned int i = 0; i < be->nqueues; i++)
		if (ioctl(be->fds[i], TUNSETOFFLOAD, off) < 0)
			return -errno;
	return 0;
}

static int net_tap_set_queues(struct net_be *be, unsigned int n)
{
	struct ifreq ifr;

	if (be->nqueues < 2)
		return 0;
	/* Detached queues get no traffic, so the kernel never steers to an idle pair. */
	for (unsigned int i = 0; i < be->nqueues; i++) {
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = i < n ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
		if (ioctl(be->fds[i], TUNSETQUEUE, &ifr) < 0 && errno != EINVAL)
			return -errno;
	}
	return 0;
}

static void net_tap_destroy(struct net_be *be)
{
	for (unsigned int i = 0; i < be->nqueues; i++)
		if (be->fds[i] >= 0)
			close(be->fds[i]);
	free(be);
}

static const struct net_be_ops net_tap_ops = {
	.set_offload = net_tap_set_offload,
	.set_queues = net_tap_set_queues,
	.destroy = net_tap_destroy,
};

static int net_tap_open_queue(const char *ifname, bool multi, int *fd_out)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd, hdr = NET_HDR_LEN, ret;

	if (multi)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
		goto err_close;
	*fd_out = fd;
	return 0;

err_close:
	ret = -errno;
	close(fd);
	return ret;
}

/* Which receive offloads this kernel's tap accepts; UFO came and went over the years. */
static unsigned int net_tap_probe(int fd)
{
	unsigned int all = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;

	if (ioctl(fd, TUNSETOFFLOAD, all | TUN_F_UFO) == 0)
		all |= TUN_F_UFO;
	else if (ioctl(fd, TUNSETOFFLOAD, all) < 0)
		all = 0;
	ioctl(fd, TUNSETOFFLOAD, 0);
	return all;
}

static const char *net_tap_hint(int e)
{
	switch (e) {
	case EPERM:
	case EACCES:
		return " (needs CAP_NET_ADMIN, or a tap owned by this user: "
		       "ip tuntap add NAME mode tap user $USER)";
	case ENOENT:
	case ENODEV:
		return " (no /dev/net/tun: is the tun module loaded?)";
	case EBUSY:
		return " (in use by another program)";
	default:
		return "";
	}
}

/*
 * Firecracker's open: one queue, never IFF_MULTI_QUEUE, so a TAP created
 * multi_queue is refused, in its words (its tap.rs TapError).
 */
static int net_tap_open_fc(const char *ifname, int *fd_out, struct err *err)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd, hdr = NET_HDR_LEN, ret;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		return err_set(err, false, ret, "Couldn't open /dev/net/tun: %s (os error %d)",
			       strerror(-ret), -ret);
	}
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		err_set(err, false, ret, "Error while creating ifreq structure: %s (os error %d). "
			"Invalid TUN/TAP Backend provided by %s. Check our documentation on setting "
			"up the network devices.", strerror(-ret), -ret, ifname);
		goto err_close;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		ret = -errno;
		err_set(err, false, ret, "Error while setting size of the vnet header: %s (os error "
			"%d)", strerror(-ret), -ret);
		goto err_close;
	}
	*fd_out = fd;
	return 0;

err_close:
	close(fd);
	return ret;
}

int net_tap_open(const char *ifname, unsigned int pairs, struct net_be **out, struct err *err)
{
	return net_tap_open_as(ifname, pairs, false, out, err);
}

int net_tap_open_as(const char *ifname, unsigned int pairs, bool fc, struct net_be **out,
		    struct err *err)
{
	struct net_tap *t = calloc(1, sizeof(*t));
	int ret = 0;

	if (!t)
		return err_set(err, false, -ENOMEM, "tap %s: out of memory", ifname);
	for (unsigned int i = 0; i < NET_MAX_QUEUE_PAIRS; i++)
		t->be.fds[i] = -1;
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifname);
	t->be.ops = &net_tap_ops;
	t->be.name = t->ifname;
	t->be.vnet_hdr = true;
	if (pairs > NET_MAX_QUEUE_PAIRS)
		pairs = NET_MAX_QUEUE_PAIRS;
	if (fc) {
		ret = net_tap_open_fc(ifname, &t->be.fds[0], err);
		if (ret) {
			net_tap_destroy(&t->be);
			return ret;
		}
		pairs = 1;
	} else if (pairs > 1) {
		ret = net_tap_open_queue(ifname, true, &t->be.fds[0]);
		/* A tap created without multi_queue refuses the flag: use one pair. */
		if (ret == -EINVAL) {
			log_info("tap %s is not multi-queue; using one queue pair", ifname);
			pairs = 1;
		}
	}
	if (pairs == 1 && !fc) {
		ret = net_tap_open_queue(ifname, false, &t->be.fds[0]);
		/* A tap created with multi_queue takes only the flag: one queue of it. */
		if (ret == -EINVAL)
			ret = net_tap_open_queue(ifname, true, &t->be.fds[0]);
	}
	if (ret)
		goto err_open;
	t->be.nqueues = 1;
	for (unsigned int i = 1; i < pairs; i++) {
		ret = net_tap_open_queue(ifname, true, &t->be.fds[i]);
		if (ret)
			goto err_open;
		t->be.nqueues++;
	}
	t->tun_offloads = net_tap_probe(t->be.fds[0]);
	if (t->tun_offloads & TUN_F_CSUM) {
		/* Transmit offloads the tap resolves itself; receive ones follow TUNSETOFFLOAD. */
		t->be.offload_features = (1ull << VIRTIO_NET_F_CSUM) |
					 (1ull << VIRTIO_NET_F_GUEST_CSUM) |
					 (1ull << VIRTIO_NET_F_HOST_TSO4) |
					 (1ull << VIRTIO_NET_F_HOST_TSO6) |
					 (1ull << VIRTIO_NET_F_HOST_ECN);
		if (t->tun_offloads & TUN_F_TSO4)
			t->be.offload_features |= (1ull << VIRTIO_NET_F_GUEST_TSO4) |
						  (1ull << VIRTIO_NET_F_GUEST_TSO6) |
						  (1ull << VIRTIO_NET_F_GUEST_ECN);
		if (t->tun_offloads & TUN_F_UFO)
			t->be.offload_features |= (1ull << VIRTIO_NET_F_GUEST_UFO) |
						  (1ull << VIRTIO_NET_F_HOST_UFO);
	}
	*out = &t->be;
	return 0;

err_open:
	err_set(err, false, ret, "tap %s: cannot open: %s%s", ifname, strerror(-ret),
		net_tap_hint(-ret));
	net_tap_destroy(&t->be);
	return ret;
}
