/*
 * libFuzzer target for a NIC's MMDS stack (src/mmds/stack.c,
 * mmds_http.c): guest frames meet the claim and the stack, slirp runs its
 * rounds, the HTTP server its own, and the guest reads the answers, in any
 * order. A fresh stack per input (libslirp keeps state). The MMDS holds a
 * small document, V2 when the first byte says so.
 *
 * Then ops, each a byte b:
 *   b % 5 == 0  a raw frame: length (u16, at most 1600), bytes
 *   b % 5 == 1  a made frame to the MMDS: kind (ARP request / ARP reply
 *               to slirp's host / TCP), source port (u8, few flows),
 *               seq, ack, flags, payload length and bytes, with valid
 *               checksums so slirp's TCP and the HTTP server see it; a byte
 *               asks for the checksum to be left to the device
 *               (VIRTIO_NET_HDR_F_NEEDS_CSUM) or for a GSO header
 *   b % 5 == 2  one round of the stack (its poller, no waiting)
 *   b % 5 == 3  the guest reads what the stack sent
 *   b % 5 == 4  a canned HTTP request on a fresh connection's handshake
 *
 * Checked besides ASan/UBSan: every frame the stack sends the guest fits
 * the stack's MTU; its counters never claim more frames than it was given;
 * the in-order gate never lets slirp hold more than NET_MMDS_SEGS segments
 * ahead of its ACKs, and the heap the stack holds (ASan's count of
 * allocated bytes, stack open to ops done) stays within the connections'
 * buffers and that budget.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sanitizer/allocator_interface.h>

#include "mmds/mmds.h"
#include "fz.h"
#include "util/log.h"
#include "mmds/stack.h"

#define MMDS_IP 0xa9fea9feu
#define HOST_IP 0xa9fe0001u
#define GUEST_IP 0xac100002u

static const uint8_t guest_mac[6] = { 2, 0, 0, 0, 0, 1 };

struct rig {
	struct eventloop loop;
	struct net_mmds *s;
	uint64_t given;
	uint8_t f[2048];
};

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i < n; i += 2)
		sum += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void give(struct rig *r, const struct net_mmds_offload *h, uint8_t *f, size_t len)
{
	if (!net_mmds_claims(r->s, f, len))
		return;
	r->given++;
	net_mmds_tx(r->s, h, f, len);
}

static void round_once(struct rig *r)
{
	struct eventloop_poller *p = &r->loop.pollers[0];
	unsigned int n;
	int timeout = 0;
	struct pollfd *pfd = p->ops->prepare(p->opaque, &n, &timeout);
	int rc = poll(pfd, n, 0);

	p->ops->dispatch(p->opaque, rc < 0);
}

static void guest_read(struct rig *r)
{
	ssize_t n;

	while ((n = recv(net_mmds_fd(r->s), r->f, sizeof(r->f), MSG_DONTWAIT)) > 0)
		CHECK((size_t)n <= NET_MMDS_ETH_HLEN + NET_MMDS_MTU);
}

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

/* A TCP segment from the guest to the MMDS's port 80. */
static size_t tcp(uint8_t *f, uint16_t sport, uint32_t seq, uint32_t ack, uint8_t flags,
		  const uint8_t *data, size_t n, bool partial)
{
	uint8_t *ip = f + 14, *t = f + 34;
	uint32_t pseudo;

	memset(f, 0, 54);
	memcpy(f, (uint8_t[]){ 0x52, 0x55, 0xa9, 0xfe, 0xa9, 0xfe }, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint32_t)(40 + n));
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, GUEST_IP);
	put32(ip + 16, MMDS_IP);
	put16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
	put16(t, sport);
	put16(t + 2, 80);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 65535);
	if (n)
		memcpy(t + 20, data, n);
	pseudo = sum16(f + 26, 8, 6 + (uint32_t)(20 + n));
	put16(t + 16, partial ? fold(pseudo) : (uint16_t)~fold(sum16(t, 20 + n, pseudo)));
	return 54 + n;
}

static void made_frame(struct rig *r, struct fz *in)
{
	uint8_t kind = fz_u8(in), sport = fz_u8(in), flags, mode;
	uint32_t seq, ack;
	uint8_t data[512];
	size_t n, len;
	struct net_mmds_offload h = { 0 };

	if (kind % 3 == 0) {
		len = arp(r->f, 1, MMDS_IP);
		give(r, NULL, r->f, len);
		return;
	}
	if (kind % 3 == 1) {
		len = arp(r->f, 2, HOST_IP);
		give(r, NULL, r->f, len);
		return;
	}
	seq = fz_u32(in);
	ack = fz_u32(in);
	flags = fz_u8(in);
	n = fz_u8(in) % (sizeof(data) + 1);
	for (size_t i = 0; i < n; i++)
		data[i] = fz_u8(in);
	mode = fz_u8(in);
	len = tcp(r->f, (uint16_t)(40000 + sport % 8), seq, ack, flags, data, n, mode & 1);
	if (mode & 1) {
		h.needs_csum = true;
		h.csum_start = 34;
		h.csum_offset = 16;
	}
	if (mode & 2) {
		h.gso = true;
	}
	give(r, &h, r->f, len);
}

/* A whole connection's opening: SYN, then (after a round) the request acked to slirp's ISN. */
static void canned_request(struct rig *r, struct fz *in)
{
	static const char *const reqs[] = {
		"GET /latest/meta-data/ami-id HTTP/1.0\r\n\r\n",
		"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n",
		"GET /latest HTTP/1.1\r\nHost: x\r\nX-metadata-token: x\r\nX-Forwarded-For: y\r\n\r\n",
	};
	uint16_t sport = (uint16_t)(41000 + fz_u8(in) % 16);
	const char *q = reqs[fz_u8(in) % 4];
	ssize_t got;
	uint32_t isn = 0;

	give(r, NULL, r->f, tcp(r->f, sport, 1000, 0, 0x02, NULL, 0, false));
	round_once(r);
	/* The SYN-ACK, if slirp sent one, for its sequence number. */
	while ((got = recv(net_mmds_fd(r->s), r->f, sizeof(r->f), MSG_DONTWAIT)) > 0) {
		CHECK((size_t)got <= NET_MMDS_ETH_HLEN + NET_MMDS_MTU);
		if (got >= 54 && r->f[23] == 6 && (r->f[47] & 0x12) == 0x12 &&
		    (uint32_t)(r->f[36] << 8 | r->f[37]) == sport)
			isn = (uint32_t)r->f[38] << 24 | (uint32_t)r->f[39] << 16 |
			      (uint32_t)r->f[40] << 8 | r->f[41];
	}
	give(r, NULL, r->f, tcp(r->f, sport, 1001, isn + 1, 0x18, (const uint8_t *)q, strlen(q),
				false));
	for (int i = 0; i < 4; i++)
		round_once(r);
}

/*
 * libslirp 4.7's slirp_cleanup leaves behind the mbufs of guest TCP
 * connections still open (their SYN's, and segments queued for the guest),
 * all allocated inside libslirp: freed by nothing, once per stack torn
 * down (at the VM's end, at most NET_MMDS_MAX_CONNS connections' worth),
 * not a growth a guest can drive. Only allocations made in libslirp are
 * excused.
 */
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void);

/* libslirp has no frame pointers: the slow unwinder finds slirp_input in the stack. */
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

const char *__lsan_default_suppressions(void)
{
	return "leak:libslirp.so\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char doc[] = "{\"latest\": {\"meta-data\": {\"ami-id\": \"ami-1\"}}}";
	static struct rig r;
	struct fz in = { data, size };
	struct net_mmds_stats st;
	struct mmds *m;
	struct err err;
	size_t opened;

	log_set_level(LOG_ERR);
	/* As Hearth's runner: libslirp writes to a closed Unix peer with plain send(). */
	signal(SIGPIPE, SIG_IGN);
	memset(&r, 0, sizeof(r));
	if (mmds_new(4096, &m))
		return 0;
	mmds_put(m, doc, strlen(doc), &err);
	mmds_set_version(m, fz_u8(&in) & 1 ? MMDS_V2 : MMDS_V1, false);
	if (eventloop_init(&r.loop) || net_mmds_open(m, htonl(MMDS_IP), &r.loop, &r.s, &err)) {
		fprintf(stderr, "fuzz_mmds_net: %s\n", err.msg);
		abort();
	}
	opened = __sanitizer_get_current_allocated_bytes();
	for (unsigned int ops = 0; in.n && ops < 256; ops++) {
		uint8_t b = fz_u8(&in);

		switch (b % 5) {
		case 0: {
			size_t len = fz_u16(&in) % 1601;

			for (size_t i = 0; i < len; i++)
				r.f[i] = fz_u8(&in);
			give(&r, NULL, r.f, len);
			break;
		}
		case 1:
			made_frame(&r, &in);
			break;
		case 2:
			round_once(&r);
			break;
		case 3:
			guest_read(&r);
			break;
		default:
			canned_request(&r, &in);
			break;
		}
	}
	round_once(&r);
	guest_read(&r);
	net_mmds_get_stats(r.s, &st);
	CHECK(st.frames_in + st.dropped_in <= r.given);
	CHECK(st.held_segs <= NET_MMDS_SEGS && st.held_bytes <= NET_MMDS_SEGS * NET_MMDS_MTU);
	/*
	 * What slirp may hold: per connection its two 128 KiB socket buffers,
	 * the HTTP server's connection, and a few mbufs; then the gate's budget.
	 */
	CHECK(__sanitizer_get_current_allocated_bytes() - opened <=
	      NET_MMDS_MAX_CONNS * (300u << 10) + NET_MMDS_SEGS * 4096u);
	net_mmds_close(r.s);
	eventloop_destroy(&r.loop);
	mmds_free(m);
	return 0;
}
