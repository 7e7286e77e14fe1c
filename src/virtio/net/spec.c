/* Parsing of --net specs into a struct net_config. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/net.h"
#include "virtio/net/tap.h"

/* "xx:xx:xx:xx:xx:xx", unicast and not all-zero: the guest uses it as its own address. */
static int net_parse_mac(const char *s, uint8_t mac[6], struct err *err)
{
	for (unsigned int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			goto err_format;
	if (s[17] || sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
			    &mac[3], &mac[4], &mac[5]) != 6)
		goto err_format;
	if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return err_set(err, true, -EINVAL, "mac=%s is multicast or all zeroes; want a "
			       "unicast address", s);
	return 0;

err_format:
	return err_set(err, true, -EINVAL, "bad mac '%s' (want xx:xx:xx:xx:xx:xx)", s);
}

static int net_parse_port(const char *s, const char **end)
{
	unsigned long v = 0;
	const char *p = s;

	while (isdigit((unsigned char)*p) && v <= 65535)
		v = v * 10 + (unsigned long)(*p++ - '0');
	*end = p;
	return p == s || v == 0 || v > 65535 ? -1 : (int)v;
}

/* One hostfwd=tcp|udp:[:]HOSTPORT-:GUESTPORT value, added to cfg. */
static int net_parse_hostfwd(const char *val, struct net_config *cfg, struct err *err)
{
	struct net_hostfwd f = { .udp = !strncmp(val, "udp:", 4) };
	const char *p = val + 4;
	int hp, gp;

	if (!f.udp && strncmp(val, "tcp:", 4))
		goto err_syntax;
	if (*p == ':')
		p++; /* QEMU's spelling with an empty host address */
	hp = net_parse_port(p, &p);
	if (hp < 0 || strncmp(p, "-:", 2))
		goto err_port;
	gp = net_parse_port(p + 2, &p);
	if (gp < 0 || *p)
		goto err_port;
	if (cfg->nfwd == NET_MAX_HOSTFWD)
		return err_set(err, true, -EINVAL, "at most %d hostfwd options", NET_MAX_HOSTFWD);
	for (unsigned int i = 0; i < cfg->nfwd; i++) {
		if (cfg->fwd[i].udp == f.udp && cfg->fwd[i].host_port == hp)
			return err_set(err, true, -EINVAL, "hostfwd host port %d given twice", hp);
	}
	f.host_port = (uint16_t)hp;
	f.guest_port = (uint16_t)gp;
	cfg->fwd[cfg->nfwd++] = f;
	return 0;

err_port:
	return err_set(err, true, -EINVAL, "hostfwd=%s: ports must be 1-65535", val);
err_syntax:
	return err_set(err, true, -EINVAL, "hostfwd=%s: want tcp:HOSTPORT-:GUESTPORT or udp:...",
		       val);
}

static int net_parse_onoff(const char *key, const char *val, bool *out, struct err *err)
{
	if (!strcmp(val, "on") || !strcmp(val, "off")) {
		*out = val[1] == 'n';
		return 0;
	}
	return err_set(err, true, -EINVAL, "%s='%s': want on or off", key, val);
}

/* key=val, a decimal number from lo to hi. */
static int net_parse_range(const char *key, const char *val, unsigned long lo, unsigned long hi,
			   unsigned long *out, struct err *err)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (!*val || *end || errno || *val == '-' || v < lo || v > hi)
		return err_set(err, true, -EINVAL, "%s=%s: want %lu to %lu", key, val, lo, hi);
	*out = v;
	return 0;
}

/*
 * A TAP NIC's MTU, offered to the guest (VIRTIO_NET_F_MTU) as the API's
 * mtu is: Firecracker's range. A user-mode NIC's MTU is slirp's own
 * (65520, virtio/net/slirp.c).
 */
static int net_parse_mtu(const char *val, uint16_t *out, struct err *err)
{
	unsigned long v;
	int ret = net_parse_range("mtu", val, NET_MTU_MIN, 65535, &v, err);

	if (!ret)
		*out = (uint16_t)v;
	return ret;
}

/* A TAP's queue pairs: each is a TAP queue (and a vhost-net worker). */
static int net_parse_queues(const char *val, unsigned int *out, struct err *err)
{
	unsigned long v;
	int ret = net_parse_range("queues", val, 1, NET_MAX_QUEUE_PAIRS, &v, err);

	if (!ret)
		*out = (unsigned int)v;
	return ret;
}

static int net_parse_vhost(const char *val, enum net_vhost_mode *out, struct err *err)
{
	if (!strcmp(val, "auto"))
		*out = NET_VHOST_AUTO;
	else if (!strcmp(val, "on"))
		*out = NET_VHOST_ON;
	else if (!strcmp(val, "off"))
		*out = NET_VHOST_OFF;
	else
		return err_set(err, true, -EINVAL, "vhost='%s': want on, off or auto", val);
	return 0;
}

int virtio_net_parse(const char *spec, struct net_config *cfg, struct err *err)
{
	char buf[512], *rest = buf, *tok;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->queue_pairs = 1;
	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf))
		return err_set(err, true, -EINVAL, "spec too long");
	tok = strsep(&rest, ",");
	if (!strcmp(tok, "user")) {
		cfg->backend = NET_USER;
	} else if (!strncmp(tok, "tap=", 4)) {
		cfg->backend = NET_TAP;
		ret = net_tap_parse_ifname(tok + 4, cfg->ifname, sizeof(cfg->ifname), err);
		if (ret)
			return ret;
	} else {
		return err_set(err, true, -EINVAL, "unknown backend '%s' (want user or tap=IFNAME)",
			       tok);
	}
	while ((tok = strsep(&rest, ","))) {
		if (!strncmp(tok, "mac=", 4)) {
			ret = net_parse_mac(tok + 4, cfg->mac, err);
			cfg->mac_set = true;
		} else if (cfg->backend == NET_TAP && !strncmp(tok, "mtu=", 4)) {
			ret = net_parse_mtu(tok + 4, &cfg->mtu, err);
		} else if (cfg->backend == NET_TAP && !strncmp(tok, "vhost=", 6)) {
			ret = net_parse_vhost(tok + 6, &cfg->vhost, err);
		} else if (cfg->backend == NET_TAP && !strncmp(tok, "queues=", 7)) {
			ret = net_parse_queues(tok + 7, &cfg->queues, err);
		} else if (cfg->backend == NET_USER && !strncmp(tok, "hostfwd=", 8)) {
			ret = net_parse_hostfwd(tok + 8, cfg, err);
		} else if (cfg->backend == NET_USER && !strncmp(tok, "host-loopback=", 14)) {
			ret = net_parse_onoff("host-loopback", tok + 14, &cfg->host_loopback, err);
		} else {
			/* The limiter keys are cli/run_devices.c's, taken out before here. */
			bool user = cfg->backend == NET_USER;

			ret = err_set(err, true, -EINVAL, "unknown option '%s' for %s (want %s, or "
				      "rx-bw=, rx-ops=, tx-bw=, tx-ops= limits)", tok,
				      user ? "user" : "tap",
				      user ? "hostfwd=, host-loopback=" : "mac=, mtu=, vhost=, queues=");
		}
		if (ret)
			return ret;
	}
	return 0;
}
