/*
 * The in-order gate (slirp/tcp_gate.c) on its own, with hand-made
 * segments: what passes, what is remembered until slirp's ACK, the
 * budgets, sequence numbers that wrap, and the prune from slirp's table.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "slirp/tcp_gate.h"

#define GUEST 0x0a00020fu
#define PEER 0x0a000202u

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

/* A segment; from_guest picks the direction. Checksums are not the gate's business. */
static size_t seg(uint8_t *f, bool from_guest, uint16_t gport, uint32_t seq, uint32_t ack,
		  uint8_t flags, size_t datalen)
{
	memset(f, 0, 54 + datalen);
	put16(f + 12, 0x0800);
	f[14] = 0x45;
	put16(f + 16, (uint32_t)(40 + datalen));
	f[23] = IPPROTO_TCP;
	put32(f + 26, from_guest ? GUEST : PEER);
	put32(f + 30, from_guest ? PEER : GUEST);
	put16(f + 34, from_guest ? gport : 80);
	put16(f + 36, from_guest ? 80 : gport);
	put32(f + 38, seq);
	put32(f + 42, ack);
	f[46] = 5 << 4;
	f[47] = flags;
	return 54 + datalen;
}

static bool in(struct net_tcp_gate *g, uint16_t port, uint32_t seq, uint8_t flags, size_t n)
{
	uint8_t f[2048];

	return net_tcp_gate_input(g, f, seg(f, true, port, seq, 0, flags, n));
}

static void out_ack(struct net_tcp_gate *g, uint16_t port, uint32_t ack, uint8_t flags)
{
	uint8_t f[64];

	net_tcp_gate_output(g, f, seg(f, false, port, 5000, ack, flags, 0));
}

static void test_in_order(void **state)
{
	struct net_tcp_gate g;

	(void)state;
	assert_int_equal(net_tcp_gate_init(&g, 16, 4, 100, 1 << 20), 0);
	assert_true(in(&g, 1000, 100, 0x02, 0));  /* SYN */
	out_ack(&g, 1000, 101, 0x12);              /* SYN-ACK */
	/* At slirp's ACK: passes, remembers nothing. */
	assert_true(in(&g, 1000, 101, 0x18, 10));
	assert_int_equal(g.segs, 0);
	/* slirp has not ACKed yet: the next in the guest's order passes, remembered. */
	assert_true(in(&g, 1000, 111, 0x18, 10));
	assert_true(in(&g, 1000, 121, 0x18, 10));
	assert_int_equal(g.segs, 2);
	/* A hole: out of order, dropped. */
	assert_false(in(&g, 1000, 200, 0x18, 1));
	assert_int_equal(g.stats.out_of_order, 1);
	/* Retransmission from slirp's ACK always passes. */
	assert_true(in(&g, 1000, 101, 0x18, 30));
	/* The ACK covers both: let go. */
	out_ack(&g, 1000, 131, 0x10);
	assert_int_equal(g.segs, 0);
	assert_int_equal(g.bytes, 0);
	/* A FIN takes a number: remembered until ACKed. */
	assert_true(in(&g, 1000, 131, 0x11, 0));
	assert_true(in(&g, 1000, 132, 0x10, 0)); /* a bare ACK: nothing to hold */
	assert_int_equal(g.segs, 0);             /* 131 <= ack: in order */
	net_tcp_gate_fini(&g);
}

static void test_budgets(void **state)
{
	struct net_tcp_gate g;

	(void)state;
	assert_int_equal(net_tcp_gate_init(&g, 16, 4, 6, 1 << 20), 0);
	assert_true(in(&g, 1, 100, 0x02, 0));
	out_ack(&g, 1, 101, 0x12);
	/* The connection's budget: 4 ahead of the ACK. */
	assert_true(in(&g, 1, 101, 0x10, 1)); /* in order: not counted */
	for (uint32_t i = 0; i < 4; i++)
		assert_true(in(&g, 1, 102 + i, 0x10, 1));
	assert_int_equal(g.segs, 4);
	assert_false(net_tcp_gate_full(&g));
	assert_false(in(&g, 1, 106, 0x10, 1));
	assert_int_equal(g.stats.over_budget, 1);
	assert_true(net_tcp_gate_full(&g));
	/* The NIC's budget (6): a second connection gets the 2 left. */
	assert_true(in(&g, 2, 100, 0x02, 0));
	out_ack(&g, 2, 101, 0x12);
	assert_true(in(&g, 2, 102, 0x10, 1) == false); /* a hole at 101 */
	assert_true(in(&g, 2, 101, 0x10, 1));           /* in order */
	assert_true(in(&g, 2, 102, 0x10, 1));
	assert_true(in(&g, 2, 103, 0x10, 1));
	assert_false(in(&g, 2, 104, 0x10, 1));
	assert_int_equal(g.segs, 6);
	assert_int_equal(g.stats.over_budget, 2);
	/* ACKs free room again. */
	out_ack(&g, 1, 106, 0x10);
	assert_true(in(&g, 2, 104, 0x10, 1));
	/* Bytes: a budget of its own. */
	net_tcp_gate_fini(&g);
	assert_int_equal(net_tcp_gate_init(&g, 16, 32, 100, 1000), 0);
	assert_true(in(&g, 3, 0, 0x02, 0));
	out_ack(&g, 3, 1, 0x12);
	assert_true(in(&g, 3, 1, 0x10, 900));
	assert_true(in(&g, 3, 901, 0x10, 900));
	assert_true(in(&g, 3, 1801, 0x10, 100));
	assert_false(in(&g, 3, 1901, 0x10, 1));
	net_tcp_gate_fini(&g);
}

static void test_refused(void **state)
{
	struct net_tcp_gate g;
	uint8_t f[128];
	size_t len;

	(void)state;
	assert_int_equal(net_tcp_gate_init(&g, 16, 4, 100, 1 << 20), 0);
	/* A SYN with data: slirp would hold it before any ACK. */
	assert_false(in(&g, 1, 100, 0x02, 10));
	/* TCP in fragments: the gate cannot see what slirp would queue. */
	len = seg(f, true, 1, 100, 0, 0x10, 10);
	f[20] = 0x20;
	assert_false(net_tcp_gate_input(&g, f, len));
	f[20] = 0;
	f[21] = 1;
	assert_false(net_tcp_gate_input(&g, f, len));
	/* Not TCP, or too short to be: slirp's to judge. */
	len = seg(f, true, 1, 100, 0, 0x10, 10);
	f[23] = IPPROTO_UDP;
	assert_true(net_tcp_gate_input(&g, f, len));
	assert_true(net_tcp_gate_input(&g, f, 20));
	/* An RST carries nothing slirp keeps. */
	assert_true(in(&g, 9, 7777, 0x04, 0));
	net_tcp_gate_fini(&g);
}

static void test_wrap(void **state)
{
	struct net_tcp_gate g;

	(void)state;
	assert_int_equal(net_tcp_gate_init(&g, 16, 4, 100, 1 << 20), 0);
	assert_true(in(&g, 1, 0xfffffff0u, 0x02, 0));
	out_ack(&g, 1, 0xfffffff1u, 0x12);
	assert_true(in(&g, 1, 0xfffffff1u, 0x10, 10));
	assert_true(in(&g, 1, 0xfffffffbu, 0x10, 10)); /* ends past 2^32 */
	assert_int_equal(g.segs, 1);
	assert_false(in(&g, 1, 0x00000010u, 0x10, 1)); /* a hole at 5 */
	out_ack(&g, 1, 0x00000005u, 0x10);
	assert_int_equal(g.segs, 0);
	/* An old ACK does not move slirp's back. */
	out_ack(&g, 1, 0xfffffff1u, 0x10);
	assert_true(in(&g, 1, 0x00000005u, 0x10, 1));
	assert_int_equal(g.segs, 0);
	net_tcp_gate_fini(&g);
}

static void test_prune(void **state)
{
	struct net_tcp_gate g;
	const char *info =
		"  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\n"
		"  TCP[ESTABLISHED]   12       10.0.2.15  1001        10.0.2.2    80     0     0\n"
		"  TCP[HOST_FORWARD]   9               *  2222       10.0.2.15    22     0     0\n"
		"  UDP[34 sec]        14       10.0.2.15  1002        10.0.2.3    53     0     0\n";

	(void)state;
	assert_int_equal(net_tcp_gate_init(&g, 16, 4, 100, 1 << 20), 0);
	for (uint16_t p = 1001; p <= 1002; p++) {
		assert_true(in(&g, p, 100, 0x02, 0));
		out_ack(&g, p, 101, 0x12);
		assert_true(in(&g, p, 102 - 1, 0x10, 1));
		assert_true(in(&g, p, 102, 0x10, 1));
	}
	assert_int_equal(g.segs, 2);
	/* 1001 is still slirp's; 1002 is only a UDP flow now: its TCP is gone. */
	net_tcp_gate_prune(&g, info);
	assert_int_equal(g.segs, 1);
	assert_int_equal(g.stats.pruned, 1);
	assert_true(net_tcp_gate_take_released(&g));
	assert_false(net_tcp_gate_take_released(&g));
	/* A hostfwd connection is known by its guest end, which the table shows as the destination. */
	assert_true(in(&g, 22, 100, 0x02, 0));
	out_ack(&g, 22, 101, 0x12);
	assert_true(in(&g, 22, 101, 0x10, 1));
	assert_true(in(&g, 22, 102, 0x10, 1));
	net_tcp_gate_prune(&g, info);
	assert_int_equal(g.segs, 2);
	net_tcp_gate_reset(&g);
	assert_int_equal(g.segs, 0);
	net_tcp_gate_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_budgets),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_prune),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
