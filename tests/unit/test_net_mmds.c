/*
 * A NIC's MMDS stack (mmds/stack.c) driven with real frames from a
 * guest whose own address (10.0.2.15) lies outside 169.254.0.0/16: which
 * frames it claims, ARP and TCP answered by its libslirp, a whole HTTP
 * exchange through the HTTP server (util/httpd.c) to the MMDS's answer, and what a
 * hostile guest cannot do to it (floods, truncated frames, connections
 * left half-way).
 */
#include <signal.h>
#include <sys/stat.h>

#include "slirp_rig.h"

#include "mmds/mmds.h"
#include "util/log.h"
#include "mmds/http.h"
#include "mmds/stack.h"

#define MMDS_IP 0xa9fea9feu /* 169.254.169.254 */
#define MMDS_HOST_IP 0xa9fe0001u

struct mrig {
	struct rig r;
	struct mmds *m;
	struct net_mmds *s;
};

static void mrig_open(struct mrig *mr, uint32_t ip)
{
	struct err err;

	memset(mr, 0, sizeof(*mr));
	assert_int_equal(mmds_new(51200, &mr->m), 0);
	assert_int_equal(eventloop_init(&mr->r.loop), 0);
	if (net_mmds_open(mr->m, htonl(ip), &mr->r.loop, &mr->s, &err))
		fail_msg("net_mmds_open: %s", err.msg);
	assert_int_equal(mr->r.loop.npollers, 1);
	mr->r.dev = net_mmds_fd(mr->s);
}

static void mrig_close(struct mrig *mr)
{
	char path[NET_MMDS_PATH_MAX], dir[NET_MMDS_PATH_MAX], listed[NET_MMDS_MAX_SOCKETS][NET_MMDS_PATH_MAX];

	snprintf(path, sizeof(path), "%s", net_mmds_socket(mr->s));
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	/* The sandbox keeps what is listed: the live socket, in a directory of its own (0700). */
	assert_int_equal(net_mmds_sockets(listed, NET_MMDS_MAX_SOCKETS), 1);
	assert_string_equal(listed[0], path);
	{
		struct stat st;

		assert_int_equal(stat(dir, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISSOCK(st.st_mode));
	}
	net_mmds_close(mr->s);
	/* The socket goes with the stack, and the directory with the last one. */
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(net_mmds_sockets(listed, NET_MMDS_MAX_SOCKETS), 0);
	eventloop_destroy(&mr->r.loop);
	mmds_free(mr->m);
}

/* ARP from the guest: op 1 (who-has tip) or 2 (tip is-at, to tip). */
static size_t arp(uint8_t *f, unsigned int op, uint32_t tip)
{
	memset(f, 0, 42);
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);
	put16(f + 16, 0x0800);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, op);
	memcpy(f + 22, guest_mac, 6);
	put32(f + 28, GUEST_IP);
	put32(f + 38, tip);
	return 42;
}

static void send_arp_for(struct rig *r, uint32_t tip)
{
	uint8_t f[42];

	send_frame(r, f, arp(f, 1, tip));
}

/* An ARP reply slirp sent: "ip is at ...", to the guest. */
static bool ready_arp_reply(struct rig *r, struct wait *w)
{
	for (unsigned int i = 0; i < r->nframes; i++) {
		const uint8_t *f = r->frames[i];

		if (r->len[i] >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2 &&
		    get32(f + 28) == (uint32_t)w->n && get32(f + 38) == GUEST_IP) {
			w->frame = f;
			return true;
		}
	}
	return false;
}

/* A segment to the guest's sport with all of flags set. */
static const uint8_t *find_tcp(struct rig *r, uint16_t sport, uint8_t flags)
{
	for (unsigned int i = 0; i < r->nframes; i++) {
		const uint8_t *f = r->frames[i];

		if (r->len[i] >= 54 && get16(f + 12) == 0x0800 && f[23] == IPPROTO_TCP &&
		    get32(f + 26) == MMDS_IP && get16(f + 36) == sport && (f[47] & flags) == flags)
			return f;
	}
	return NULL;
}

static bool ready_synack(struct rig *r, struct wait *w)
{
	w->frame = find_tcp(r, w->port, 0x12);
	return w->frame != NULL;
}

static const uint8_t *wait_synack(struct rig *r, uint16_t sport)
{
	struct wait w = { .port = sport };

	pump_until(r, ready_synack, &w);
	return w.frame;
}

static void test_claims(void **state)
{
	struct mrig *mr = malloc(sizeof(*mr));
	uint8_t f[64];

	(void)state;
	mrig_open(mr, 0xa9fea9feu);
	assert_true(net_mmds_claims(mr->s, f, arp(f, 1, MMDS_IP)));
	/* Someone else's address: the backend's. */
	assert_false(net_mmds_claims(mr->s, f, arp(f, 1, 0xa9fe0102u)));
	assert_false(net_mmds_claims(mr->s, f, arp(f, 1, GUEST_IP)));
	/* A reply to slirp's address before slirp asked anything: the backend's (audit F3). */
	assert_false(net_mmds_claims(mr->s, f, arp(f, 2, MMDS_HOST_IP)));
	/* Nor a reply addressed to the MMDS address, which never asks. */
	assert_false(net_mmds_claims(mr->s, f, arp(f, 2, MMDS_IP)));
	/* ... nor a request for slirp's address, which may be a real host's on the TAP side. */
	assert_false(net_mmds_claims(mr->s, f, arp(f, 1, MMDS_HOST_IP)));
	/* Cut short: not looked at, the backend's as before. */
	assert_false(net_mmds_claims(mr->s, f, 41));
	assert_false(net_mmds_claims(mr->s, f, 0));
	/* IPv4 to the MMDS, any protocol; elsewhere, not. */
	assert_true(net_mmds_claims(mr->s, f, ipv4(f, IPPROTO_UDP, MMDS_IP, 8)));
	assert_true(net_mmds_claims(mr->s, f, ipv4(f, IPPROTO_TCP, MMDS_IP, 20)));
	assert_false(net_mmds_claims(mr->s, f, ipv4(f, IPPROTO_TCP, HOST_IP, 20)));
	assert_false(net_mmds_claims(mr->s, f, 33));
	f[14] = 0x65; /* IPv6's version in an IPv4 frame */
	assert_false(net_mmds_claims(mr->s, f, 54));
	/* An 802.1Q tag: not parsed, not ours. */
	ipv4(f, IPPROTO_TCP, MMDS_IP, 20);
	put16(f + 12, 0x8100);
	assert_false(net_mmds_claims(mr->s, f, 54));
	mrig_close(mr);
	free(mr);

	/* The address must be link-local. */
	assert_true(net_mmds_addr_ok(htonl(0xa9fe0001u)));
	assert_false(net_mmds_addr_ok(htonl(0xa9fe0000u)));
	assert_false(net_mmds_addr_ok(htonl(0xa9feffffu)));
	assert_false(net_mmds_addr_ok(htonl(0x0a000202u)));
}

/* An ARP request slirp sent the guest (who has ip?), from its host address. */
static bool ready_arp_request(struct rig *r, struct wait *w)
{
	for (unsigned int i = 0; i < r->nframes; i++) {
		const uint8_t *f = r->frames[i];

		if (r->len[i] >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 1 &&
		    get32(f + 28) == MMDS_HOST_IP && get32(f + 38) == (uint32_t)w->n) {
			w->frame = f;
			return true;
		}
	}
	return false;
}

/*
 * Audit F3: the stack takes an ARP reply only when slirp asked. A SYN
 * before any ARP makes slirp ask the guest's MAC; the guest's reply is
 * then the stack's, and a reply from an address slirp did not ask about
 * is still not.
 */
static void test_arp_reply_only_when_asked(void **state)
{
	struct mrig *mr = malloc(sizeof(*mr));
	struct wait w = { .n = (int)GUEST_IP };
	uint8_t f[64];

	(void)state;
	mrig_open(mr, MMDS_IP);
	assert_false(net_mmds_claims(mr->s, f, arp(f, 2, MMDS_HOST_IP)));
	send_syn(&mr->r, MMDS_IP, 40600, 80);
	assert_true(pump_until(&mr->r, ready_arp_request, &w));
	/* arp() answers from GUEST_IP: the address slirp asked about. */
	assert_true(net_mmds_claims(mr->s, f, arp(f, 2, MMDS_HOST_IP)));
	put32(f + 28, 0xac100009u); /* from another address of the TAP's network */
	assert_false(net_mmds_claims(mr->s, f, 42));
	/* The reply teaches slirp the MAC: the SYN-ACK follows. */
	send_frame(&mr->r, f, arp(f, 2, MMDS_HOST_IP));
	assert_non_null(wait_synack(&mr->r, 40600));
	mrig_close(mr);
	free(mr);
}

static void test_arp_and_syn(void **state)
{
	struct mrig *mr = malloc(sizeof(*mr));
	struct wait w = { .n = (int)MMDS_IP };
	const uint8_t *sa;

	(void)state;
	mrig_open(mr, MMDS_IP);
	send_arp_for(&mr->r, MMDS_IP);
	assert_true(pump_until(&mr->r, ready_arp_reply, &w));
	send_syn(&mr->r, MMDS_IP, 40000, 80);
	sa = wait_synack(&mr->r, 40000);
	assert_non_null(sa);
	assert_int_equal(get32(sa + 42), 1001); /* acks our SYN */
	mrig_close(mr);
	free(mr);
}

/* The guest's side of one connection: handshake, then a request; the answer's first segment. */
static const uint8_t *http_exchange(struct rig *r, uint16_t sport, const char *req)
{
	const uint8_t *sa = wait_synack(r, sport);
	struct wait w = { .port = sport };

	if (!sa)
		return NULL;
	r->nframes = 0;
	send_tcp(r, MMDS_IP, sport, 80, 1001, get32(sa + 38) + 1, 0x18, req);
	pump_until(r, ready_tcp_data, &w);
	return w.frame;
}

static void expect_status(const uint8_t *f, unsigned int status)
{
	char want[32];
	size_t ihl = (f[14] & 0xfu) * 4;
	const char *data = (const char *)f + 14 + ihl + (f[14 + ihl + 12] >> 4) * 4;

	snprintf(want, sizeof(want), "HTTP/1.1 %u ", status);
	if (strncmp(data, want, strlen(want)))
		fail_msg("answer '%.40s' is not '%s'", data, want);
}

/* What the responder says to req directly: the HTTP path must carry exactly that. */
static unsigned int direct_status(struct mmds *m, const char *method, const char *path)
{
	struct mmds_request req = { .method = method, .path = path, .accept = "*/*" };
	struct mmds_response resp = { 0 };

	mmds_respond(m, &req, (uint64_t)now_ms() * 1000000, &resp);
	free(resp.body);
	return resp.status;
}

static void test_http_get(void **state)
{
	struct mrig *mr = malloc(sizeof(*mr));
	const uint8_t *f;

	(void)state;
	mrig_open(mr, MMDS_IP);
	send_arp_for(&mr->r, MMDS_IP);
	send_syn(&mr->r, MMDS_IP, 40001, 80);
	f = http_exchange(&mr->r, 40001, "GET /latest/meta-data/ HTTP/1.1\r\nHost: "
			  "169.254.169.254\r\nAccept: */*\r\n\r\n");
	assert_non_null(f);
	expect_status(f, direct_status(mr->m, "GET", "/latest/meta-data/"));
	mrig_close(mr);
	free(mr);
}

/*
 * A guest that never finishes: one connection left at the SYN, one
 * established and silent. Neither holds up the next guest connection.
 */
static void test_unfinished_connections(void **state)
{
	struct mrig *mr = malloc(sizeof(*mr));
	const uint8_t *sa, *f;

	(void)state;
	mrig_open(mr, MMDS_IP);
	send_arp_for(&mr->r, MMDS_IP);
	send_syn(&mr->r, MMDS_IP, 40100, 80);
	assert_non_null(wait_synack(&mr->r, 40100));
	send_syn(&mr->r, MMDS_IP, 40101, 80);
	sa = wait_synack(&mr->r, 40101);
	assert_non_null(sa);
	send_tcp(&mr->r, MMDS_IP, 40101, 80, 1001, get32(sa + 38) + 1, 0x10, NULL);
	/* Half a request line, never finished. */
	send_tcp(&mr->r, MMDS_IP, 40101, 80, 1001, get32(sa + 38) + 1, 0x18, "GET /lat");
	pump(&mr->r, 100);
	send_syn(&mr->r, MMDS_IP, 40102, 80);
	f = http_exchange(&mr->r, 40102, "GET / HTTP/1.0\r\n\r\n");
	assert_non_null(f);
	expect_status(f, direct_status(mr->m, "GET", "/"));
	mrig_close(mr);
	free(mr);
}

/*
 * A SYN flood: slirp takes at most NET_MMDS_MAX_CONNS connections, the
 * rest are dropped before it sees them; once the guest resets its
 * half-open ones, a new connection is served.
 */
static void test_syn_flood(void **state)
{
	struct mrig *mr = malloc(sizeof(*mr));
	struct net_mmds_stats st;
	unsigned int synacks = 0;
	const uint8_t *f;

	(void)state;
	mrig_open(mr, MMDS_IP);
	send_arp_for(&mr->r, MMDS_IP);
	for (uint16_t i = 0; i < 200; i++) {
		send_syn(&mr->r, MMDS_IP, (uint16_t)(41000 + i), 80);
		if (i % 32 == 31)
			pump(&mr->r, 5);
	}
	pump(&mr->r, 300);
	for (uint16_t i = 0; i < 200; i++)
		synacks += find_tcp(&mr->r, (uint16_t)(41000 + i), 0x12) != NULL;
	net_mmds_get_stats(mr->s, &st);
	assert_int_equal(synacks, NET_MMDS_MAX_CONNS);
	assert_int_equal(st.syn_refused, 200 - NET_MMDS_MAX_CONNS);

	for (uint16_t i = 0; i < 200; i++)
		send_tcp(&mr->r, MMDS_IP, (uint16_t)(41000 + i), 80, 1001, 0, 0x04, NULL);
	pump(&mr->r, 100);
	mr->r.nframes = 0;
	send_syn(&mr->r, MMDS_IP, 40200, 80);
	f = http_exchange(&mr->r, 40200, "GET / HTTP/1.0\r\n\r\n");
	assert_non_null(f);
	mrig_close(mr);
	free(mr);
}

/*
 * An ARP flood the guest never reads: answers past the socket buffers
 * are dropped and counted, nothing queues without bound, and the stack
 * answers again once the guest reads.
 */
static void test_arp_flood(void **state)
{
	struct mrig *mr = malloc(sizeof(*mr));
	struct wait w = { .n = (int)MMDS_IP };
	struct net_mmds_stats st;
	uint8_t f[42];
	unsigned int queued = 0;

	(void)state;
	mrig_open(mr, MMDS_IP);
	arp(f, 1, MMDS_IP);
	for (unsigned int round = 0; round < 200; round++) {
		for (unsigned int i = 0; i < 64; i++)
			queued += net_mmds_tx(mr->s, NULL, f, sizeof(f)) == 0;
		/* One round of the stack, the guest reading nothing. */
		struct eventloop_poller *p = &mr->r.loop.pollers[0];
		unsigned int n;
		int timeout = 0;
		struct pollfd *pfd = p->ops->prepare(p->opaque, &n, &timeout);

		poll(pfd, n, 0);
		p->ops->dispatch(p->opaque, false);
	}
	net_mmds_get_stats(mr->s, &st);
	assert_true(st.dropped_out > 0);
	assert_true(st.frames_out < queued);
	/* Drained by the guest, the stack answers again. */
	while (recv(mr->r.dev, mr->r.frames[0], sizeof(mr->r.frames[0]), MSG_DONTWAIT) > 0)
		;
	mr->r.nframes = 0;
	send_arp_for(&mr->r, MMDS_IP);
	assert_true(pump_until(&mr->r, ready_arp_reply, &w));
	mrig_close(mr);
	free(mr);
}

/* Frames NIC 2's guest got this round (its stack shares NIC 1's loop). */
static void collect(struct rig *r2)
{
	ssize_t len;

	while (r2->nframes < MAX_FRAMES &&
	       (len = recv(r2->dev, r2->frames[r2->nframes], sizeof(r2->frames[0]),
			   MSG_DONTWAIT)) > 0)
		r2->len[r2->nframes++] = (size_t)len;
}

/* Rounds of the loop, NIC 1 flooded between them, until ready(r2) or WAIT_MS. */
static bool under_flood(struct mrig *mr, const uint32_t *ack, struct rig *r2,
			bool (*ready)(struct rig *, struct wait *), struct wait *w)
{
	int64_t end = now_ms() + WAIT_MS;
	static uint32_t k;

	do {
		k++;
		for (unsigned int i = 0; i < NET_MMDS_MAX_CONNS; i++)
			send_tcp(&mr->r, MMDS_IP, (uint16_t)(42000 + i), 80, 1001 + 1 + 100000 + k,
				 ack[i], 0x10, "x");
		pump_drain(&mr->r);
		collect(r2);
		if (ready(r2, w))
			return true;
	} while (now_ms() < end);
	return false;
}

/*
 * F1 of the third audit: a guest leaves a hole in each of the connections
 * it may open and sends tens of thousands of 1-byte segments past it.
 * libslirp would queue every one (about 2 KiB each); the in-order gate
 * lets at most NET_MMDS_SEGS through, so the heap stays within that
 * budget, while a second NIC's stack on the same I/O loop answers a
 * request mid-flood, and the flooded NIC answers again once the guest
 * resets its connections.
 */
static void test_out_of_order_flood(void **state)
{
	struct mrig *mr = malloc(sizeof(*mr));
	struct rig *r2 = calloc(1, sizeof(*r2));
	struct net_mmds *s2;
	struct net_mmds_stats st;
	struct err err;
	struct wait w = { .port = 43000 };
	uint32_t ack[NET_MMDS_MAX_CONNS];
	size_t before, after;
	const uint8_t *sa, *f;

	(void)state;
	mrig_open(mr, MMDS_IP);
	if (net_mmds_open(mr->m, htonl(MMDS_IP), &mr->r.loop, &s2, &err))
		fail_msg("second NIC: %s", err.msg);
	r2->dev = net_mmds_fd(s2);
	send_arp_for(&mr->r, MMDS_IP);
	for (unsigned int i = 0; i < NET_MMDS_MAX_CONNS; i++) {
		mr->r.nframes = 0;
		send_syn(&mr->r, MMDS_IP, (uint16_t)(42000 + i), 80);
		sa = wait_synack(&mr->r, (uint16_t)(42000 + i));
		assert_non_null(sa);
		ack[i] = get32(sa + 38) + 1;
		send_tcp(&mr->r, MMDS_IP, (uint16_t)(42000 + i), 80, 1001, ack[i], 0x10, NULL);
	}
	pump(&mr->r, 50);
	malloc_trim(0);
	before = heap_in_use();
	flood_out_of_order(&mr->r, MMDS_IP, 42000, 80, NET_MMDS_MAX_CONNS, 1001, ack, 2000);
	after = heap_in_use();
	net_mmds_get_stats(mr->s, &st);
	print_message("MMDS flood: %u x 2000 segments, heap %zu -> %zu bytes, %llu dropped by the gate\n",
		      NET_MMDS_MAX_CONNS, before, after, (unsigned long long)st.out_of_order);
	/* At most NET_MMDS_SEGS held segments of an mbuf each, and slack for slirp's own lists. */
	assert_true(after < before + NET_MMDS_SEGS * 4096 + (256 << 10));
	assert_true(st.out_of_order >= NET_MMDS_MAX_CONNS * 2000 - NET_MMDS_SEGS);

	/* Mid-flood, the other NIC answers a whole request. */
	send_arp_for(r2, MMDS_IP);
	send_syn(r2, MMDS_IP, 43000, 80);
	assert_true(under_flood(mr, ack, r2, ready_synack, &w));
	sa = w.frame;
	send_tcp(r2, MMDS_IP, 43000, 80, 1001, get32(sa + 38) + 1, 0x18, "GET / HTTP/1.0\r\n\r\n");
	r2->nframes = 0;
	assert_true(under_flood(mr, ack, r2, ready_tcp_data, &w));
	expect_status(w.frame, direct_status(mr->m, "GET", "/"));

	/* The guest gives up its connections: a new one is served. */
	for (unsigned int i = 0; i < NET_MMDS_MAX_CONNS; i++)
		send_tcp(&mr->r, MMDS_IP, (uint16_t)(42000 + i), 80, 1001, ack[i], 0x04, NULL);
	pump(&mr->r, 100);
	mr->r.nframes = 0;
	send_syn(&mr->r, MMDS_IP, 40500, 80);
	f = http_exchange(&mr->r, 40500, "GET / HTTP/1.0\r\n\r\n");
	assert_non_null(f);
	expect_status(f, direct_status(mr->m, "GET", "/"));
	net_mmds_close(s2);
	free(r2);
	mrig_close(mr);
	free(mr);
}

/* Truncated and malformed frames: dropped by the policy or by slirp, never a crash. */
static void test_bad_frames(void **state)
{
	struct mrig *mr = malloc(sizeof(*mr));
	uint8_t f[256];
	size_t len;
	const uint8_t *sa;

	(void)state;
	mrig_open(mr, MMDS_IP);
	send_arp_for(&mr->r, MMDS_IP);
	len = ipv4(f, IPPROTO_TCP, MMDS_IP, 20);
	for (size_t cut = 34; cut < len; cut++)
		send_frame(&mr->r, f, cut);
	/* An IP length past the frame, an IHL past it, a fragment, UDP and ICMP. */
	put16(f + 16, 1400);
	send_frame(&mr->r, f, len);
	ipv4(f, IPPROTO_TCP, MMDS_IP, 20);
	f[14] = 0x4f;
	send_frame(&mr->r, f, len);
	ipv4(f, IPPROTO_TCP, MMDS_IP, 20);
	f[20] = 0x20; /* MF */
	send_frame(&mr->r, f, len);
	send_frame(&mr->r, f, ipv4(f, IPPROTO_UDP, MMDS_IP, 8));
	send_frame(&mr->r, f, ipv4(f, IPPROTO_ICMP, MMDS_IP, 8));
	pump(&mr->r, 50);
	/* Oversize and segmentation offloads are refused at the door. */
	{
		static uint8_t big[NET_ETH_HLEN + NET_MMDS_MTU + 1];
		struct net_mmds_offload h = { .gso = true };

		ipv4(big, IPPROTO_TCP, MMDS_IP, 20);
		assert_int_equal(net_mmds_tx(mr->s, NULL, big, sizeof(big)), -EMSGSIZE);
		assert_int_equal(net_mmds_tx(mr->s, &h, big, 54), -EMSGSIZE);
	}
	send_syn(&mr->r, MMDS_IP, 40300, 80);
	sa = wait_synack(&mr->r, 40300);
	assert_non_null(sa);
	mrig_close(mr);
	free(mr);
}

/* A checksum the guest left to the device (checksum offload) is completed before slirp checks it. */
static void test_partial_checksum(void **state)
{
	struct mrig *mr = malloc(sizeof(*mr));
	struct net_mmds_offload h = { .needs_csum = true, .csum_start = 34, .csum_offset = 16 };
	uint8_t f[64];
	size_t len;

	(void)state;
	mrig_open(mr, MMDS_IP);
	send_arp_for(&mr->r, MMDS_IP);
	len = ipv4(f, IPPROTO_TCP, MMDS_IP, 20);
	put16(f + 34, 40400);
	put16(f + 36, 80);
	put32(f + 38, 1000);
	f[46] = 5 << 4;
	f[47] = 0x02;
	put16(f + 48, 65535);
	/* As Linux leaves it: the pseudo-header's sum, not complemented. */
	{
		uint32_t s = pseudo(f, 20);

		while (s >> 16)
			s = (s & 0xffff) + (s >> 16);
		put16(f + 50, s);
	}
	assert_int_equal(net_mmds_tx(mr->s, &h, f, len), 0);
	assert_non_null(wait_synack(&mr->r, 40400));
	mrig_close(mr);
	free(mr);
}

/*
 * The HTTP socket out of reach (as it would be if the sealed sandbox had
 * not kept it): libslirp's g_critical goes to Hearth's log, not through
 * glib's own writer (whose clock and time zone lookups a sealed io thread
 * may not make), and the stack goes on.
 */
static void test_socket_unreachable(void **state)
{
	struct mrig *mr = malloc(sizeof(*mr));
	char moved[NET_MMDS_PATH_MAX + 8], logpath[] = "/tmp/hearth-mmds-log-XXXXXX", buf[4096];
	const char *path;
	const uint8_t *sa;
	struct err err;
	ssize_t n;
	int fd;

	(void)state;
	mrig_open(mr, MMDS_IP);
	path = net_mmds_socket(mr->s);
	snprintf(moved, sizeof(moved), "%s.away", path);
	assert_int_equal(rename(path, moved), 0);
	fd = mkstemp(logpath);
	assert_true(fd >= 0);
	assert_int_equal(log_open_file(logpath, LOG_WARN, false, false, &err), 0);
	send_arp_for(&mr->r, MMDS_IP);
	send_syn(&mr->r, MMDS_IP, 40500, 80);
	sa = wait_synack(&mr->r, 40500);
	assert_non_null(sa);
	send_tcp(&mr->r, MMDS_IP, 40500, 80, 1001, get32(sa + 38) + 1, 0x10, NULL);
	pump(&mr->r, 200);
	log_close_file();
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	if (!strstr(buf, "open_unix"))
		fail_msg("libslirp's complaint is not in Hearth's log: '%s'", buf);
	close(fd);
	unlink(logpath);
	assert_int_equal(rename(moved, path), 0);
	/* Reachable again: served. */
	send_syn(&mr->r, MMDS_IP, 40501, 80);
	assert_non_null(http_exchange(&mr->r, 40501, "GET / HTTP/1.0\r\n\r\n"));
	mrig_close(mr);
	free(mr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_arp_and_syn),
		cmocka_unit_test(test_arp_reply_only_when_asked),
		cmocka_unit_test(test_http_get),
		cmocka_unit_test(test_unfinished_connections),
		cmocka_unit_test(test_syn_flood),
		cmocka_unit_test(test_arp_flood),
		cmocka_unit_test(test_out_of_order_flood),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_partial_checksum),
		cmocka_unit_test(test_socket_unreachable),
	};

	/* As Hearth's runner: libslirp writes to a closed Unix peer with plain send(). */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
