/*
 * The in-order gate (tcp_gate.h): a small open-addressed table of the
 * guest's TCP connections, each with the segments it has ahead of
 * slirp's last ACK.
 */
#include "slirp/tcp_gate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Slots looked at for one connection: a full run means no room to track it. */
#define GATE_PROBE 16

#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)

struct gate_seg {
	uint32_t guest_ip, peer_ip;
	uint16_t guest_port, peer_port;
	uint32_t seq, ack;
	uint32_t seglen; /* payload, and 1 for a FIN */
	uint8_t flags;
};

int net_tcp_gate_init(struct net_tcp_gate *g, unsigned int nconns, unsigned int per_conn,
		      unsigned int max_segs, size_t max_bytes)
{
	unsigned int n = GATE_PROBE;

	memset(g, 0, sizeof(*g));
	while (n < nconns)
		n *= 2;
	g->conns = calloc(n, sizeof(*g->conns));
	if (!g->conns)
		return -ENOMEM;
	g->nconns = n;
	g->per_conn = per_conn > NET_TCP_GATE_CONN_SEGS ? NET_TCP_GATE_CONN_SEGS : per_conn;
	g->max_segs = max_segs;
	g->max_bytes = max_bytes;
	/* A guest that knew the hash could crowd one run of slots; it only hurts itself, but why help. */
	if (getrandom(&g->seed, sizeof(g->seed), GRND_NONBLOCK) != sizeof(g->seed))
		g->seed = 0x9e3779b9u;
	return 0;
}

void net_tcp_gate_reset(struct net_tcp_gate *g)
{
	memset(g->conns, 0, g->nconns * sizeof(*g->conns));
	g->segs = 0;
	g->bytes = 0;
	g->pressed = false;
	g->released = true;
}

void net_tcp_gate_fini(struct net_tcp_gate *g)
{
	free(g->conns);
	g->conns = NULL;
	g->nconns = 0;
}

static uint16_t gate_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t gate_be32(const uint8_t *p)
{
	return (uint32_t)gate_be16(p) << 16 | gate_be16(p + 2);
}

/*
 * An Ethernet/IPv4/TCP frame's segment. 1: parsed; 0: not TCP over IPv4;
 * -1: TCP that slirp would queue out of the gate's sight (a fragment).
 * from_guest says which end is the guest's.
 */
static int gate_parse(const uint8_t *f, size_t len, bool from_guest, struct gate_seg *s)
{
	size_t ihl, tot, doff;
	const uint8_t *ip = f + 14, *t;
	uint32_t src, dst;

	if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || (ip[0] >> 4) != 4 ||
	    ip[9] != IPPROTO_TCP)
		return 0;
	if ((ip[6] & 0x3f) || ip[7])
		return -1;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	tot = gate_be16(ip + 2);
	if (tot > len - 14)
		tot = len - 14;
	if (ihl < 20 || tot < ihl + 20)
		return 0; /* slirp drops it whole */
	t = ip + ihl;
	doff = (size_t)(t[12] >> 4) * 4;
	if (doff < 20 || ihl + doff > tot)
		return 0;
	memcpy(&src, ip + 12, 4);
	memcpy(&dst, ip + 16, 4);
	s->guest_ip = from_guest ? src : dst;
	s->peer_ip = from_guest ? dst : src;
	s->guest_port = gate_be16(from_guest ? t : t + 2);
	s->peer_port = gate_be16(from_guest ? t + 2 : t);
	s->seq = gate_be32(t + 4);
	s->ack = gate_be32(t + 8);
	s->flags = t[13];
	s->seglen = (uint32_t)(tot - ihl - doff) + (t[13] & 0x01); /* FIN takes a number */
	return 1;
}

static unsigned int gate_hash(const struct net_tcp_gate *g, const struct gate_seg *s)
{
	uint32_t h = g->seed;

	h ^= s->guest_ip;
	h *= 0x85ebca6bu;
	h ^= s->peer_ip + ((uint32_t)s->guest_port << 16 | s->peer_port);
	h *= 0xc2b2ae35u;
	h ^= h >> 15;
	return h & (g->nconns - 1);
}

static bool gate_match(const struct net_tcp_gate_conn *c, const struct gate_seg *s)
{
	return c->used && c->guest_ip == s->guest_ip && c->peer_ip == s->peer_ip &&
	       c->guest_port == s->guest_port && c->peer_port == s->peer_port;
}

/* The connection's slot; with create, a new one in place of the oldest that remembers nothing. */
static struct net_tcp_gate_conn *gate_find(struct net_tcp_gate *g, const struct gate_seg *s,
					   bool create)
{
	unsigned int h = gate_hash(g, s);
	struct net_tcp_gate_conn *victim = NULL;

	for (unsigned int i = 0; i < GATE_PROBE; i++) {
		struct net_tcp_gate_conn *c = &g->conns[(h + i) & (g->nconns - 1)];

		if (gate_match(c, s))
			return c;
		if (!c->used) {
			if (!victim || victim->used)
				victim = c;
		} else if (!c->n && (!victim || (victim->used && c->last_use < victim->last_use))) {
			victim = c;
		}
	}
	if (!create || !victim)
		return NULL;
	if (victim->used)
		g->released = true;
	memset(victim, 0, sizeof(*victim));
	victim->used = true;
	victim->guest_ip = s->guest_ip;
	victim->peer_ip = s->peer_ip;
	victim->guest_port = s->guest_port;
	victim->peer_port = s->peer_port;
	return victim;
}

/* Lets go of the segments slirp's ACK now covers. */
static void gate_acked(struct net_tcp_gate *g, struct net_tcp_gate_conn *c)
{
	for (unsigned int i = 0; i < c->n;) {
		if (SEQ_LEQ(c->end[i], c->ack)) {
			g->segs--;
			g->bytes -= c->len[i];
			c->n--;
			c->end[i] = c->end[c->n];
			c->len[i] = c->len[c->n];
		} else {
			i++;
		}
	}
}

static void gate_forget(struct net_tcp_gate *g, struct net_tcp_gate_conn *c)
{
	for (unsigned int i = 0; i < c->n; i++) {
		g->segs--;
		g->bytes -= c->len[i];
	}
	g->stats.pruned += c->n;
	memset(c, 0, sizeof(*c));
	g->released = true;
}

bool net_tcp_gate_input(struct net_tcp_gate *g, const uint8_t *f, size_t len)
{
	struct gate_seg s;
	struct net_tcp_gate_conn *c;
	int ret = gate_parse(f, len, true, &s);
	uint32_t end;

	if (ret == 0)
		return true;
	if (ret < 0 || ((s.flags & 0x02) && s.seglen > (s.flags & 0x01))) {
		g->stats.refused++;
		return false;
	}
	if (s.flags & 0x04) /* RST: slirp takes no data with it */
		return true;
	if (s.flags & 0x02) {
		/* A SYN: the connection starts, or starts again; its numbers are new. */
		c = gate_find(g, &s, true);
		if (c) {
			c->last_use = ++g->tick;
			if (!c->n) {
				c->have_ack = false;
				c->hi = s.seq + 1;
				c->have_hi = true;
			}
		}
		return true;
	}
	if (!s.seglen)
		return true;
	end = s.seq + s.seglen;
	c = gate_find(g, &s, true);
	if (!c) {
		g->stats.refused++;
		g->pressed = true;
		return false;
	}
	c->last_use = ++g->tick;
	if (c->have_ack && SEQ_LEQ(s.seq, c->ack)) {
		if (!c->have_hi || SEQ_GT(end, c->hi))
			c->hi = end;
		c->have_hi = true;
		return true;
	}
	if (c->have_hi && s.seq != c->hi) {
		g->stats.out_of_order++;
		return false;
	}
	if (c->n >= g->per_conn || g->segs >= g->max_segs || g->bytes + s.seglen > g->max_bytes) {
		g->stats.over_budget++;
		g->pressed = true;
		return false;
	}
	c->end[c->n] = end;
	c->len[c->n] = s.seglen;
	c->n++;
	g->segs++;
	g->bytes += s.seglen;
	c->hi = end;
	c->have_hi = true;
	g->stats.ahead++;
	return true;
}

void net_tcp_gate_output(struct net_tcp_gate *g, const uint8_t *f, size_t len)
{
	struct gate_seg s;
	struct net_tcp_gate_conn *c;

	if (gate_parse(f, len, false, &s) != 1)
		return;
	if (s.flags & 0x05)
		g->released = true; /* slirp ends a connection: its buffers are going */
	if (!(s.flags & 0x10))
		return;
	/* A new slot only for a SYN-ACK: other ACKs matter only to connections the gate holds. */
	c = gate_find(g, &s, (s.flags & 0x12) == 0x12);
	if (!c)
		return;
	if (!c->have_ack || SEQ_GT(s.ack, c->ack) || (s.flags & 0x02)) {
		c->ack = s.ack;
		c->have_ack = true;
	}
	if (!c->have_hi || SEQ_GT(c->ack, c->hi)) {
		c->hi = c->ack;
		c->have_hi = true;
	}
	gate_acked(g, c);
}

bool net_tcp_gate_full(const struct net_tcp_gate *g)
{
	return g->pressed;
}

/* Whether a TCP line of slirp's table has the guest end ip:port. */
static bool gate_listed(const char *info, uint32_t ip_be, uint16_t port)
{
	char ip[INET_ADDRSTRLEN];

	if (!inet_ntop(AF_INET, &ip_be, ip, sizeof(ip)))
		return true;
	for (const char *p = info; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char a[16], b[16];
		unsigned int pa, pb;
		int fd;

		/* "  TCP[STATE]  FD  src port  dst port  recvq sendq" */
		if (sscanf(p, " TCP[%*[^]]] %d %15s %u %15s %u", &fd, a, &pa, b, &pb) != 5)
			continue;
		if ((pa == port && !strcmp(a, ip)) || (pb == port && !strcmp(b, ip)))
			return true;
	}
	return false;
}

void net_tcp_gate_prune(struct net_tcp_gate *g, const char *info)
{
	if (!info)
		return;
	for (unsigned int i = 0; i < g->nconns; i++) {
		struct net_tcp_gate_conn *c = &g->conns[i];

		if (c->used && !gate_listed(info, c->guest_ip, c->guest_port))
			gate_forget(g, c);
	}
	g->pressed = false;
}

bool net_tcp_gate_take_released(struct net_tcp_gate *g)
{
	bool r = g->released;

	g->released = false;
	return r;
}
