/*
 * --net user across a snapshot: libslirp's DHCP leases are in the state
 * the backend saves (slirp_state_save) and loads (slirp_state_load). A
 * guest leased 10.0.2.15 before the snapshot keeps it: after the restore
 * a second client is offered 10.0.2.16, where a backend without the
 * saved state would offer it .15 as well (the control case).
 *
 * libslirp's loader trusts its input and leaves a refused load half
 * done, so a record is loaded only into a fresh instance: a forged or
 * cut record is refused by the check step, before the snapshot changes
 * anything, and even handed to the apply step it leaves the running
 * instance as it was. A restored backend, a new instance, still serves
 * the config's hostfwds.
 */
#include "slirp_rig.h"

#include "util/bytes.h"

static const uint8_t mac_x[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x0a };
static const uint8_t mac_y[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x0b };

/* A DHCPDISCOVER from mac, broadcast; returns the address slirp offers. */
static uint32_t discover(struct rig *r, const uint8_t mac[6])
{
	uint8_t f[14 + 20 + 8 + 300] = { 0 }, *ip = f + 14, *udp = ip + 20, *bp = udp + 8;
	size_t blen = 236 + 4 + 3 + 1, len = 14 + 20 + 8 + blen;
	const uint8_t *offer;

	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint32_t)(20 + 8 + blen));
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	put32(ip + 16, 0xffffffffu);
	put16(ip + 10, fold(sum16(ip, 20, 0)));
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint32_t)(8 + blen));
	bp[0] = 1; /* BOOTREQUEST */
	bp[1] = 1;
	bp[2] = 6;
	put32(bp + 4, 0x1234u + mac[5]);
	memcpy(bp + 28, mac, 6);
	put32(bp + 236, 0x63825363u); /* magic cookie */
	bp[240] = 53;                 /* DHCP message type: DISCOVER */
	bp[241] = 1;
	bp[242] = 1;
	bp[243] = 255;
	r->nframes = 0;
	send_frame(r, f, len);
	offer = wait_frame(r, IPPROTO_UDP, 68);
	assert_non_null(offer);
	return get32(offer + 14 + 20 + 8 + 16); /* yiaddr */
}

static uint8_t *save(struct rig *r, size_t *len)
{
	struct bytes_out o = bytes_out_init(NULL, 0);
	uint8_t *buf;

	assert_int_equal(r->be->ops->save(r->be, &o), 0);
	buf = malloc(o.len);
	assert_non_null(buf);
	o = bytes_out_init(buf, o.len);
	assert_int_equal(r->be->ops->save(r->be, &o), 0);
	assert_int_equal(bytes_out_finish(&o, len), 0);
	return buf;
}

static void test_dhcp_lease_survives(void **state)
{
	struct rig *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)), *c = calloc(1, sizeof(*c));
	uint8_t *rec;
	size_t len;

	(void)state;
	assert_true(a && b && c);
	rig_open(a, "user", 0);
	assert_int_equal(discover(a, mac_x), 0x0a00020fu);
	rec = save(a, &len);
	rig_close(a);

	/* A fresh backend offers .15 to anyone: the lease is in the saved state only. */
	rig_open(c, "user", 0);
	assert_int_equal(discover(c, mac_y), 0x0a00020fu);
	rig_close(c);

	rig_open(b, "user", 0);
	assert_int_equal(b->be->ops->restore(b->be, rec, len, false), 0);
	assert_int_equal(b->be->ops->restore(b->be, rec, len, true), 0);
	assert_int_equal(discover(b, mac_y), 0x0a000210u);
	assert_int_equal(discover(b, mac_x), 0x0a00020fu);
	rig_close(b);
	free(rec);
	free(a);
	free(b);
	free(c);
}

/* Where libslirp's stream starts in the backend's record: after the tag and its version. */
#define STREAM_AT (BYTES_HDR_SIZE + 4)

/* b leased .15 to mac_y itself: mac_x, unknown to it, is offered .16. */
static void assert_own_leases(struct rig *b)
{
	assert_int_equal(discover(b, mac_x), 0x0a000210u);
	assert_int_equal(discover(b, mac_y), 0x0a00020fu);
}

/* Refused by both steps; b goes on serving with what it had. */
static void assert_refused(struct rig *b, const uint8_t *rec, size_t len, int want)
{
	assert_int_equal(b->be->ops->restore(b->be, rec, len, false), want);
	assert_int_equal(b->be->ops->restore(b->be, rec, len, true), want);
	assert_own_leases(b);
}

/* a's record, with mac_x's lease; b has leased .15 to mac_y. */
static uint8_t *two_backends(struct rig *a, struct rig *b, size_t *len)
{
	uint8_t *rec;

	rig_open(a, "user", 0);
	assert_int_equal(discover(a, mac_x), 0x0a00020fu);
	rec = save(a, len);
	rig_close(a);
	rig_open(b, "user", 0);
	assert_int_equal(discover(b, mac_y), 0x0a00020fu);
	assert_true(*len > STREAM_AT + 1);
	assert_int_equal(rec[STREAM_AT], 0); /* no socket: Hearth has no guestfwd */
	return rec;
}

/*
 * A socket in the stream, which only a guestfwd saves: libslirp would
 * link it into the instance, size its buffers from the record and keep
 * it on refusing it. Refused before libslirp reads it.
 */
static void test_forged_socket_refused(void **state)
{
	struct rig *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	uint8_t *rec;
	size_t len;

	(void)state;
	assert_true(a && b);
	rec = two_backends(a, b, &len);
	rec[STREAM_AT] = 42; /* libslirp's "a socket follows" */
	assert_refused(b, rec, len, -EINVAL);
	rig_close(b);
	free(rec);
	free(a);
	free(b);
}

/* libslirp's stream cut at every byte, or with one too many. */
static void test_cut_record_refused(void **state)
{
	struct rig *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	uint8_t *rec, *copy;
	size_t len;

	(void)state;
	assert_true(a && b);
	rec = two_backends(a, b, &len);
	for (size_t n = STREAM_AT; n < len; n++) {
		copy = malloc(n); /* exact: a read past n is an ASan report */
		memcpy(copy, rec, n);
		assert_int_equal(b->be->ops->restore(b->be, copy, n, false), -ENODATA);
		assert_int_equal(b->be->ops->restore(b->be, copy, n, true), -ENODATA);
		free(copy);
	}
	assert_own_leases(b);
	copy = calloc(1, len + 1);
	memcpy(copy, rec, len);
	assert_refused(b, copy, len + 1, -EINVAL);
	free(copy);
	rig_close(b);
	free(rec);
	free(a);
	free(b);
}

/* The restored backend runs on a new instance: the config's hostfwd still reaches the guest. */
static void test_restore_keeps_hostfwd(void **state)
{
	struct rig *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(LO_IP) };
	uint16_t port;
	char spec[64];
	uint8_t *rec;
	size_t len;
	int c;

	(void)state;
	assert_true(a && b);
	close(listen_on(SOCK_STREAM, &port));
	snprintf(spec, sizeof(spec), "user,hostfwd=tcp:%u-:80", port);
	rig_open(a, spec, 0);
	assert_int_equal(discover(a, mac_x), 0x0a00020fu);
	rec = save(a, &len);
	rig_close(a);
	rig_open(b, spec, 0);
	assert_int_equal(b->be->ops->restore(b->be, rec, len, false), 0);
	assert_int_equal(b->be->ops->restore(b->be, rec, len, true), 0);
	assert_int_equal(discover(b, mac_y), 0x0a000210u);
	send_arp(b);
	pump(b, 20);
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	sa.sin_port = htons(port);
	assert_true(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	b->nframes = 0;
	assert_non_null(wait_syn(b, 80));
	close(c);
	rig_close(b);
	free(rec);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dhcp_lease_survives),
		cmocka_unit_test(test_forged_socket_refused),
		cmocka_unit_test(test_cut_record_refused),
		cmocka_unit_test(test_restore_keeps_hostfwd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
