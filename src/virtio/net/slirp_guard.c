/*
 * What a guest on user-mode networking may reach, checked on every frame
 * before libslirp sees it: the host's loopback stays shut unless asked
 * for, and the host sockets guest traffic opens are capped. libslirp 4.7
 * has neither a socket limit nor a complete loopback switch, hence this.
 */
#include "virtio/net/slirp_guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "util/log.h"

static struct ratelimit guard_rl = RATELIMIT_INIT(10);

/* The parts of an IPv4 frame the guest policy looks at. */
struct slirp_guard_pkt {
	uint8_t *ip, *l4;
	size_t l4len;
	uint32_t src_be, dst_be;
	uint8_t proto;
	bool frag; /* MF or an offset: slirp reassembles, headers may be elsewhere */
};

/* 0: not IPv4; 1: parsed into p; -1: IPv4 that slirp may read otherwise than we can. */
static int slirp_guard_parse(uint8_t *f, size_t len, struct slirp_guard_pkt *p)
{
	size_t ihl, avail;

	if (len < 14 || f[12] != 0x08 || f[13] != 0x00)
		return 0;
	p->ip = f + 14;
	if (len < 14 + 20 || (p->ip[0] >> 4) != 4)
		return -1;
	ihl = (p->ip[0] & 0xfu) * 4;
	avail = (size_t)p->ip[2] << 8 | p->ip[3];
	if (avail > len - 14)
		avail = len - 14;
	if (ihl < 20 || avail < ihl)
		return -1;
	memcpy(&p->src_be, p->ip + 12, 4);
	memcpy(&p->dst_be, p->ip + 16, 4);
	p->proto = p->ip[9];
	p->frag = (p->ip[6] & 0x3f) || p->ip[7];
	p->l4 = p->ip + ihl;
	p->l4len = avail - ihl;
	return 1;
}

static uint16_t slirp_guard_be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* Folds a ones'-complement sum and stores its complement, big-endian. */
static void slirp_guard_put_csum(uint8_t *at, uint32_t sum, bool udp)
{
	uint16_t c;

	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	c = (uint16_t)~sum;
	if (udp && !c)
		c = 0xffff; /* 0 would mean "no checksum" */
	at[0] = (uint8_t)(c >> 8);
	at[1] = (uint8_t)c;
}

/* A whole UDP datagram whose source port is a UDP hostfwd's guest port. */
static bool slirp_guard_udp_fwd(const struct net_slirp_guard *g, const struct slirp_guard_pkt *p,
			      uint16_t port)
{
	if (p->proto != IPPROTO_UDP || p->frag || p->l4len < 8)
		return false;
	for (unsigned int i = 0; i < g->nudp_fwd; i++)
		if (g->udp_fwd[i] == port)
			return true;
	return false;
}

/* slirp hands the guest a datagram a host peer sent to a UDP hostfwd: remember the peer. */
void net_slirp_guard_output(struct net_slirp_guard *g, uint8_t *f, size_t len)
{
	if (!g->nudp_fwd)
		return;
	struct slirp_guard_pkt p;
	uint16_t gp, hp;

	if (slirp_guard_parse(f, len, &p) != 1 || p.src_be != g->host_be ||
	    p.dst_be != g->guest_be || !slirp_guard_udp_fwd(g, &p, slirp_guard_be16(p.l4 + 2)))
		return;
	gp = slirp_guard_be16(p.l4 + 2);
	hp = slirp_guard_be16(p.l4);
	for (unsigned int i = 0; i < NET_SLIRP_GUARD_PEERS; i++)
		if (g->peers[i].guest_port == gp && g->peers[i].host_port == hp)
			return;
	g->peers[g->peer_next].guest_port = gp;
	g->peers[g->peer_next].host_port = hp;
	g->peer_next = (g->peer_next + 1) % NET_SLIRP_GUARD_PEERS;
}

/*
 * The guest answers a UDP hostfwd peer at 10.0.2.2. slirp 4.7 sends that
 * through sotranslate_out, which refuses 10.0.2.2 once host loopback is
 * off, so UDP forwards would be one-way. For a peer that did send through
 * the forward, address the answer to 127.0.0.1 itself, which slirp passes
 * as is; any other 10.0.2.2 port stays refused.
 */
static void slirp_guard_fwd_reply(struct net_slirp_guard *g, struct slirp_guard_pkt *p)
{
	uint16_t gp = slirp_guard_be16(p->l4), hp = slirp_guard_be16(p->l4 + 2);
	uint32_t lo = htonl(INADDR_LOOPBACK), sum;
	unsigned int i;

	for (i = 0; i < NET_SLIRP_GUARD_PEERS; i++)
		if (g->peers[i].guest_port == gp && g->peers[i].host_port == hp)
			break;
	if (i == NET_SLIRP_GUARD_PEERS)
		return;
	/* Both checksums cover the address: update them (RFC 1624). UDP's 0 is "none". */
	sum = (uint16_t)~slirp_guard_be16(p->ip + 10);
	for (unsigned int k = 0; k < 4; k += 2)
		sum += (uint16_t)~slirp_guard_be16(p->ip + 16 + k) + slirp_guard_be16((uint8_t *)&lo + k);
	slirp_guard_put_csum(p->ip + 10, sum, false);
	if (p->l4[6] | p->l4[7]) {
		sum = (uint16_t)~slirp_guard_be16(p->l4 + 6);
		for (unsigned int k = 0; k < 4; k += 2)
			sum += (uint16_t)~slirp_guard_be16(p->ip + 16 + k) +
			       slirp_guard_be16((uint8_t *)&lo + k);
		slirp_guard_put_csum(p->l4 + 6, sum, true);
	}
	memcpy(p->ip + 16, &lo, 4);
	p->dst_be = lo;
}

void net_slirp_guard_fd_opened(struct net_slirp_guard *g, int fd)
{
	unsigned int w = (unsigned int)fd / 64;
	uint64_t bit = 1ull << ((unsigned int)fd % 64);

	if (fd < 0)
		return; /* 4.7's hostfwd accept path reports the fd before it has one */
	if (w >= g->fds_words) {
		unsigned int n = w + 1 > g->fds_words * 2 ? w + 1 : g->fds_words * 2;
		uint64_t *p = realloc(g->fds, n * sizeof(*p));

		if (!p) {
			/* Uncounted: the cap is loose by one socket, nothing breaks. */
			log_ratelimited(&guard_rl, LOG_WARN, "net-user: out of memory");
			return;
		}
		memset(p + g->fds_words, 0, (n - g->fds_words) * sizeof(*p));
		g->fds = p;
		g->fds_words = n;
	}
	if (!(g->fds[w] & bit)) {
		g->fds[w] |= bit;
		g->nsockets++;
	}
}

void net_slirp_guard_fd_closed(struct net_slirp_guard *g, int fd)
{
	unsigned int w = (unsigned int)fd / 64;
	uint64_t bit = 1ull << ((unsigned int)fd % 64);

	if (fd >= 0 && w < g->fds_words && (g->fds[w] & bit)) {
		g->fds[w] &= ~bit;
		g->nsockets--;
	}
}

/*
 * At the cap, at most once a second: forget fds that are closed, in case
 * slirp closed one without unregistering it, so a missed callback cannot
 * hold the cap shut for good.
 */
static int64_t slirp_guard_now_ms(void);

static void slirp_guard_prune(struct net_slirp_guard *g)
{
	int64_t now = slirp_guard_now_ms();

	if (now - g->pruned_ms < 1000)
		return;
	g->pruned_ms = now;
	for (unsigned int w = 0; w < g->fds_words; w++)
		for (unsigned int b = 0; b < 64 && g->fds[w]; b++)
			if (((g->fds[w] >> b) & 1) &&
			    fcntl((int)(w * 64 + b), F_GETFD) < 0 && errno == EBADF)
				net_slirp_guard_fd_closed(g, (int)(w * 64 + b));
}

enum slirp_guard_verdict {
	GUARD_PASS,  /* slirp opens no host socket for it */
	GUARD_OPENS, /* slirp may open one (or we cannot tell): refused at the cap */
	GUARD_DENY,  /* would reach the host's loopback, which is off */
};

/*
 * Sorts a guest frame before slirp sees it. libslirp 4.7 has no limit on
 * the host sockets it opens for the guest and no way to refuse one from a
 * callback, so the cap is kept here: a frame that can make slirp open a
 * socket (a TCP SYN, a UDP datagram other than DHCP or a UDP hostfwd's,
 * an ICMP echo, any fragment, which slirp reassembles, anything we cannot
 * parse) is dropped while the count is at the cap.
 * disable_host_loopback only covers 10.0.2.x; two ways to the host's
 * loopback remain and are closed here: a packet addressed to 127/8 or 0/8
 * itself, which slirp connects to as given, and 10.0.2.3, which slirp
 * sends to the host's resolver on any port (a resolver on 127.0.0.1 would
 * open all of loopback): only port 53 passes.
 */
static enum slirp_guard_verdict slirp_guard_classify(const struct net_slirp_guard *g,
						 const struct slirp_guard_pkt *p)
{
	const uint8_t *l4 = p->l4;
	uint8_t a = (uint8_t)(ntohl(p->dst_be) >> 24);

	if (!g->host_loopback) {
		if (a == 127 || a == 0)
			return GUARD_DENY;
		if (p->dst_be == g->dns_be && (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) &&
		    (p->frag || p->l4len < 4 || slirp_guard_be16(l4 + 2) != 53))
			return GUARD_DENY;
	}
	if (p->frag)
		return GUARD_OPENS;
	switch (p->proto) {
	case IPPROTO_TCP:
		/* Only a SYN without ACK makes slirp connect(); the rest joins a socket or is reset. */
		if (p->l4len < 14)
			return GUARD_OPENS;
		return (l4[13] & 0x12) == 0x02 ? GUARD_OPENS : GUARD_PASS;
	case IPPROTO_UDP:
		if (p->l4len < 4)
			return GUARD_OPENS;
		/* DHCP to the gateway or broadcast is answered by slirp itself. */
		if (slirp_guard_be16(l4 + 2) == 67 &&
		    (p->dst_be == g->host_be || p->dst_be == 0xffffffffu))
			return GUARD_PASS;
		/* From a UDP hostfwd's guest port: that forward's socket carries it. */
		if (p->src_be == g->guest_be && slirp_guard_udp_fwd(g, p, slirp_guard_be16(l4)))
			return GUARD_PASS;
		return GUARD_OPENS;
	case IPPROTO_ICMP:
		return p->l4len < 1 || l4[0] == 8 ? GUARD_OPENS : GUARD_PASS;
	default:
		return GUARD_PASS; /* slirp drops other protocols */
	}
}

static int64_t slirp_guard_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* At most NET_SLIRP_FRAGS_PER_S fragments a second reach slirp's reassembly. */
static bool slirp_guard_frag_ok(struct net_slirp_guard *g)
{
	int64_t sec = slirp_guard_now_ms() / 1000;

	if (sec != g->frag_second) {
		g->frag_second = sec;
		g->frags = 0;
	}
	if (g->frags >= NET_SLIRP_FRAGS_PER_S) {
		log_ratelimited(&guard_rl, LOG_WARN, "net-user: guest sends more than %d IP "
				"fragments a second: dropped", NET_SLIRP_FRAGS_PER_S);
		return false;
	}
	g->frags++;
	return true;
}

bool net_slirp_guard_input(struct net_slirp_guard *g, uint8_t *frame, size_t len)
{
	struct slirp_guard_pkt p;
	enum slirp_guard_verdict v = GUARD_PASS;
	int ret = slirp_guard_parse(frame, len, &p);

	if (ret < 0) {
		v = GUARD_OPENS;
	} else if (ret > 0 && p.frag && !slirp_guard_frag_ok(g)) {
		return false;
	} else if (ret > 0) {
		if (!g->host_loopback && p.dst_be == g->host_be && p.src_be == g->guest_be &&
		    slirp_guard_udp_fwd(g, &p, slirp_guard_be16(p.l4)))
			slirp_guard_fwd_reply(g, &p);
		else
			v = slirp_guard_classify(g, &p);
	}
	if (v == GUARD_OPENS && g->nsockets >= g->max_sockets) {
		slirp_guard_prune(g);
		if (g->nsockets >= g->max_sockets) {
			log_ratelimited(&guard_rl, LOG_WARN, "net-user: guest holds %u host sockets, "
					"the limit: new connection or flow dropped", g->nsockets);
			return false;
		}
	}
	if (v == GUARD_DENY) {
		log_ratelimited(&guard_rl, LOG_WARN, "net-user: guest packet to the host's "
				"loopback dropped (host-loopback=off)");
		return false;
	}
	return true;
}

/*
 * The cap on the host sockets guest traffic opens: the default or the
 * caller's, and at most half of RLIMIT_NOFILE as it is now, so a guest
 * cannot take the fds Hearth needs for itself.
 */
static unsigned int slirp_guard_max_sockets(unsigned int want)
{
	struct rlimit rl;
	unsigned int max = want ? want : NET_SLIRP_MAX_SOCKETS;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 2 < max)
		max = (unsigned int)(rl.rlim_cur / 2);
	return max;
}

void net_slirp_guard_init(struct net_slirp_guard *g, const struct net_config *cfg,
			  uint32_t host_be, uint32_t guest_be, uint32_t dns_be)
{
	memset(g, 0, sizeof(*g));
	g->host_loopback = cfg->host_loopback;
	g->host_be = host_be;
	g->guest_be = guest_be;
	g->dns_be = dns_be;
	g->max_sockets = slirp_guard_max_sockets(cfg->max_sockets);
	for (unsigned int i = 0; i < cfg->nfwd; i++)
		if (cfg->fwd[i].udp)
			g->udp_fwd[g->nudp_fwd++] = cfg->fwd[i].guest_port;
}

void net_slirp_guard_fini(struct net_slirp_guard *g)
{
	free(g->fds);
	g->fds = NULL;
	g->fds_words = 0;
}
