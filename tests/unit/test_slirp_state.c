/*
 * --net user across a snapshot: libslirp's DHCP leases are in the state
 * the backend saves (slirp_state_save) and loads (slirp_state_load). A
 * guest leased 10.0.2.15 before the snapshot keeps it: after the restore
 * a second client is offered 10.0.2.16, where a backend without the
 * saved state would offer it .15 as well (the control case).
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dhcp_lease_survives),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
