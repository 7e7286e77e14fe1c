/* Parsing of --net specs into a struct net_config. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "virtio/net.h"
#include "virtio/net_tap.h"

/* "xx:xx:xx:xx:xx:xx", unicast and not all-zero: the guest uses it as its own address. */
static int net_parse_mac(const char *s, uint8_t mac[6], char *err, size_t errlen)
{
	for (unsigned int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			goto err_format;
	if (s[17] || sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
			    &mac[3], &mac[4], &mac[5]) != 6)
		goto err_format;
	if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5])) {
		snprintf(err, errlen, "mac=%s is multicast or all zeroes; want a unicast address", s);
		return -EINVAL;
	}
	return 0;

err_format:
	snprintf(err, errlen, "bad mac '%s' (want xx:xx:xx:xx:xx:xx)", s);
	return -EINVAL;
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
static int net_parse_hostfwd(const char *val, struct net_config *cfg, char *err, size_t errlen)
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
	if (cfg->nfwd == NET_MAX_HOSTFWD) {
		snprintf(err, errlen, "at most %d hostfwd options", NET_MAX_HOSTFWD);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < cfg->nfwd; i++) {
		if (cfg->fwd[i].udp == f.udp && cfg->fwd[i].host_port == hp) {
			snprintf(err, errlen, "hostfwd host port %d given twice", hp);
			return -EINVAL;
		}
	}
	f.host_port = (uint16_t)hp;
	f.guest_port = (uint16_t)gp;
	cfg->fwd[cfg->nfwd++] = f;
	return 0;

err_port:
	snprintf(err, errlen, "hostfwd=%s: ports must be 1-65535", val);
	return -EINVAL;
err_syntax:
	snprintf(err, errlen, "hostfwd=%s: want tcp:HOSTPORT-:GUESTPORT or udp:...", val);
	return -EINVAL;
}

static int net_parse_onoff(const char *key, const char *val, bool *out, char *err,
			   size_t errlen)
{
	if (!strcmp(val, "on") || !strcmp(val, "off")) {
		*out = val[1] == 'n';
		return 0;
	}
	snprintf(err, errlen, "%s='%s': want on or off", key, val);
	return -EINVAL;
}

int virtio_net_parse(const char *spec, struct net_config *cfg, char *err, size_t errlen)
{
	char buf[512], *rest = buf, *tok;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->queue_pairs = 1;
	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf)) {
		snprintf(err, errlen, "spec too long");
		return -EINVAL;
	}
	tok = strsep(&rest, ",");
	if (!strcmp(tok, "user")) {
		cfg->backend = NET_USER;
	} else if (!strncmp(tok, "tap=", 4)) {
		cfg->backend = NET_TAP;
		ret = net_tap_parse_ifname(tok + 4, cfg->ifname, sizeof(cfg->ifname), err, errlen);
		if (ret)
			return ret;
	} else {
		snprintf(err, errlen, "unknown backend '%s' (want user or tap=IFNAME)", tok);
		return -EINVAL;
	}
	while ((tok = strsep(&rest, ","))) {
		if (!strncmp(tok, "mac=", 4)) {
			ret = net_parse_mac(tok + 4, cfg->mac, err, errlen);
			cfg->mac_set = true;
		} else if (cfg->backend == NET_USER && !strncmp(tok, "hostfwd=", 8)) {
			ret = net_parse_hostfwd(tok + 8, cfg, err, errlen);
		} else if (cfg->backend == NET_USER && !strncmp(tok, "host-loopback=", 14)) {
			ret = net_parse_onoff("host-loopback", tok + 14, &cfg->host_loopback, err,
					      errlen);
		} else {
			/* The limiter keys are the CLI's (vmm/cli_rl.c), taken out before here. */
			snprintf(err, errlen, "unknown option '%s' for %s (want %s, or rx-bw=, "
				 "rx-ops=, tx-bw=, tx-ops= limits)", tok,
				 cfg->backend == NET_USER ? "user" : "tap",
				 cfg->backend == NET_USER ? "hostfwd=, host-loopback=" : "mac=");
			ret = -EINVAL;
		}
		if (ret)
			return ret;
	}
	return 0;
}
