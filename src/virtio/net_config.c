/* Parsing of --net specs into a struct net_config. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "virtio/net.h"
#include "virtio/net_slirp.h"
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
			ret = net_slirp_parse_hostfwd(tok + 8, cfg, err, errlen);
		} else {
			snprintf(err, errlen, "unknown option '%s' for %s", tok,
				 cfg->backend == NET_USER ? "user" : "tap");
			ret = -EINVAL;
		}
		if (ret)
			return ret;
	}
	return 0;
}
