/*
 * COM1's output path: a stalled stdout must never block the vCPU writing
 * THR, nor the io thread (console input, signals) behind the UART's lock.
 *
 * test_stalled_stdout_does_not_block_vcpu uses only the API that predates
 * the output buffer, so it can run against the old code (build with
 * -DSERIAL_OUTPUT_CORE_ONLY), where it fails: the vCPU blocks in write().
 * A timeout here is a deadlock check, not a performance threshold.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/console.h"
#include "core/eventloop.h"
#include "devices/serial.h"
#include "devices/serial_out.h"
#include "uart_rig.h"

#define DEADLOCK_TIMEOUT_S 10
#define SMALL_PIPE 4096
#define RING (64 * 1024) /* what serial.h promises as SERIAL_OUTPUT_SIZE */
#define UART_LSR 5

/* Not periodic at any power of two we use, so a misplaced chunk shows. */
static uint8_t pattern(size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u;

	return (uint8_t)((x >> 24) ^ (i >> 16));
}

static bool join_within(pthread_t t, int seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

/* A pipe of SMALL_PIPE bytes, full, whose write end blocks like a terminal's stdout. */
static void stalled_pipe(int p[2])
{
	char junk[SMALL_PIPE];

	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_true(fcntl(p[1], F_SETPIPE_SZ, SMALL_PIPE) >= SMALL_PIPE);
	assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	memset(junk, '#', sizeof(junk));
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(p[1], F_SETFL, 0), 0);
}

struct vcpu_job {
	struct serial *s;
	size_t start, n; /* writes pattern(start) .. pattern(start + n - 1) to THR */
};

static void *vcpu_writes(void *arg)
{
	struct vcpu_job *j = arg;

	for (size_t i = 0; i < j->n; i++) {
		uint8_t b = pattern(j->start + i);
		serial_bus_ops.write(j->s, 0, &b, 1);
	}
	return NULL;
}

struct rx_job {
	struct serial *s;
	size_t took;
};

static void *host_input(void *arg)
{
	struct rx_job *j = arg;

	j->took = serial_rx_push(j->s, (const uint8_t *)"typed", 5);
	return NULL;
}

static void test_stalled_stdout_does_not_block_vcpu(void **state)
{
	/* Static: on a failure they outlive this frame, in use by stuck threads. */
	static struct vcpu_job job;
	static struct rx_job rx;
	pthread_t vcpu, io;
	struct serial *s;
	uint8_t lsr = 0;
	int p[2];

	(void)state;
	stalled_pipe(p);
	s = uart_new(p[1], (struct irq_line){ 0 });
	assert_non_null(s);
	job = (struct vcpu_job){ s, 0, 3 * RING + 1000 };
	rx = (struct rx_job){ s, 0 };
	assert_int_equal(pthread_create(&vcpu, NULL, vcpu_writes, &job), 0);
	assert_int_equal(pthread_create(&io, NULL, host_input, &rx), 0);
	/* On a timeout the threads stay blocked inside s: leak it, do not free it under them. */
	if (!join_within(vcpu, DEADLOCK_TIMEOUT_S))
		fail_msg("the vCPU blocked writing THR: the UART waits for a stalled stdout");
	if (!join_within(io, DEADLOCK_TIMEOUT_S))
		fail_msg("host input blocked behind the UART while stdout is stalled");
	assert_int_equal(rx.took, 5);
	/* THR is empty to the guest all along. */
	serial_bus_ops.read(s, UART_LSR, &lsr, 1);
	assert_int_equal(lsr & 0x60, 0x60);
	uart_free(s);
	close(p[0]);
	close(p[1]);
}

#ifndef SERIAL_OUTPUT_CORE_ONLY

/* Reads exactly n bytes from fd (blocking read end) into buf, in its own thread. */
struct reader_job {
	int fd;
	uint8_t *buf;
	size_t n, got;
};

static void *reader(void *arg)
{
	struct reader_job *j = arg;

	while (j->got < j->n) {
		ssize_t r = read(j->fd, j->buf + j->got, j->n - j->got);
		if (r <= 0)
			break;
		j->got += (size_t)r;
	}
	return NULL;
}

static void assert_pattern(const uint8_t *buf, size_t start, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != pattern(start + i))
			fail_msg("byte %zu: got %#x, want %#x", start + i, buf[i],
				 pattern(start + i));
}

static void run_vcpu(struct serial *s, size_t start, size_t n)
{
	struct vcpu_job job = { s, start, n };
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, vcpu_writes, &job), 0);
	if (!join_within(t, DEADLOCK_TIMEOUT_S))
		fail_msg("the vCPU blocked writing THR");
}

/*
 * A pause writes out what the guest left in the buffer before it returns:
 * a client that pauses and then reads the output sees every byte (the
 * io thread's drain may not have run yet; here there is none).
 */
static void test_pause_writes_out(void **state)
{
	uint8_t buf[600];
	struct serial *s;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	s = uart_new(p[1], (struct irq_line){ 0 });
	assert_non_null(s);
	run_vcpu(s, 0, 500);
	assert_int_equal(read(p[0], buf, sizeof(buf)), -1);   /* nothing drained it yet */
	assert_non_null(uart_ops->pause);
	assert_int_equal(uart_ops->pause(s), 0);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 500);
	assert_pattern(buf, 0, 500);
	uart_free(s);
	close(p[0]);
	close(p[1]);
}

/* Full buffer: the excess is dropped and counted; what was kept arrives in order. */
static void test_full_buffer_drops_and_keeps_order(void **state)
{
	struct reader_job rj;
	uint8_t *buf = malloc(SMALL_PIPE + RING + 100);
	pthread_t t;
	struct serial *s;
	int p[2];

	(void)state;
	assert_non_null(buf);
	assert_int_equal(SERIAL_OUTPUT_SIZE, RING);
	stalled_pipe(p);
	s = uart_new(p[1], (struct irq_line){ 0 });
	assert_non_null(s);
	run_vcpu(s, 0, RING + 1000);
	assert_int_equal(serial_output_pending(s), RING);
	assert_int_equal(serial_output_dropped(s), 1000);
	assert_int_equal(serial_output_drain(s), -EAGAIN);
	/* Nobody reads: a bounded flush gives up, keeping the bytes. */
	assert_int_equal(serial_output_flush(s, 50), -ETIMEDOUT);
	assert_int_equal(serial_output_pending(s), RING);

	/* The reader wakes up: the junk, then the first RING bytes the guest wrote. */
	rj = (struct reader_job){ p[0], buf, SMALL_PIPE + RING, 0 };
	assert_int_equal(pthread_create(&t, NULL, reader, &rj), 0);
	assert_int_equal(serial_output_flush(s, DEADLOCK_TIMEOUT_S * 1000), 0);
	assert_true(join_within(t, DEADLOCK_TIMEOUT_S));
	assert_int_equal(rj.got, SMALL_PIPE + RING);
	assert_int_equal(buf[SMALL_PIPE - 1], '#');
	assert_pattern(buf + SMALL_PIPE, 0, RING);

	/* Output resumes with the next byte the guest writes. */
	run_vcpu(s, RING + 1000, 100);
	rj = (struct reader_job){ p[0], buf, 100, 0 };
	assert_int_equal(pthread_create(&t, NULL, reader, &rj), 0);
	assert_int_equal(serial_output_flush(s, DEADLOCK_TIMEOUT_S * 1000), 0);
	assert_true(join_within(t, DEADLOCK_TIMEOUT_S));
	assert_pattern(buf, RING + 1000, 100);
	assert_int_equal(serial_output_dropped(s), 1000);
	uart_free(s);
	close(p[0]);
	close(p[1]);
	free(buf);
}

/*
 * Many trips around the ring with chunks that do not divide it and a pipe
 * that takes partial writes, so writes straddle the wrap: byte-exact.
 */
static void test_ring_wraparound(void **state)
{
	uint8_t buf[SMALL_PIPE];
	size_t sent = 0, got = 0;
	struct serial *s;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_true(fcntl(p[1], F_SETPIPE_SZ, SMALL_PIPE) >= SMALL_PIPE);
	s = uart_new(p[1], (struct irq_line){ 0 });
	assert_non_null(s);
	while (sent < 5 * RING) {
		size_t chunk = 10007 + sent % 3001;

		for (size_t i = 0; i < chunk; i++) {
			uint8_t b = pattern(sent + i);
			serial_bus_ops.write(s, 0, &b, 1);
		}
		sent += chunk;
		while (got < sent) {
			int r = serial_output_drain(s);
			ssize_t n;

			assert_true(r == 0 || r == -EAGAIN);
			n = read(p[0], buf, sizeof(buf));
			assert_true(n > 0);
			assert_pattern(buf, got, (size_t)n);
			got += (size_t)n;
		}
		assert_int_equal(serial_output_pending(s), 0);
	}
	assert_int_equal(got, sent);
	assert_int_equal(serial_output_dropped(s), 0);
	uart_free(s);
	close(p[0]);
	close(p[1]);
}

/*
 * PUT /serial's rate_limiter (Firecracker 1.16): a bucket of 100 bytes
 * refilled every 10 s lets the first 100 bytes of a burst out, drops the
 * rest and counts them, and never blocks the writer.
 */
static void test_rate_limiter_drops(void **state)
{
	struct serial_out o;
	struct rl_config rl = { .bandwidth = { .set = true, .size = 100, .refill_time = 10000 } };
	uint8_t buf[1024];
	int p[2];
	ssize_t n;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(serial_out_init(&o, p[1]), 0);
	serial_out_set_limit(&o, &rl);
	for (int i = 0; i < 300; i++)
		serial_out_put(&o, (uint8_t)('a' + i % 26));
	assert_int_equal(serial_out_rl_dropped(&o), 200);
	assert_int_equal(serial_out_drain(&o), 0);
	n = read(p[0], buf, sizeof(buf));
	assert_int_equal(n, 100);
	assert_int_equal(buf[0], 'a');
	/* Without a bucket nothing is dropped. */
	serial_out_set_limit(&o, NULL);
	for (int i = 0; i < 300; i++)
		serial_out_put(&o, 'x');
	assert_int_equal(serial_out_rl_dropped(&o), 200);
	assert_int_equal(serial_out_drain(&o), 0);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 300);
	serial_out_destroy(&o);
	close(p[0]);
	close(p[1]);
}

/*
 * Output drained as it comes keeps to the ring's first page: once empty,
 * the next byte goes to its start (the rest of the ring stays zero pages,
 * never a clone's own), and the bytes still come out in order.
 */
static void test_drained_ring_restarts(void **state)
{
	struct serial_out *o = calloc(1, sizeof(*o));   /* a ring of zeros to start */
	uint8_t buf[64];
	int p[2];

	(void)state;
	assert_non_null(o);
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(serial_out_init(o, p[1]), 0);
	for (int round = 0; round < 100; round++) {
		for (int i = 0; i < 40; i++)
			serial_out_put(o, (uint8_t)('a' + (round + i) % 26));
		assert_int_equal(serial_out_drain(o), 0);
		assert_int_equal(o->head, 0);
		assert_int_equal(o->count, 0);
		assert_int_equal(read(p[0], buf, sizeof(buf)), 40);
		for (int i = 0; i < 40; i++)
			assert_int_equal(buf[i], 'a' + (round + i) % 26);
	}
	/* 4,000 bytes through, none past the ring's first page. */
	for (size_t i = 4096; i < SERIAL_OUT_SIZE; i++)
		assert_int_equal(o->buf[i], 0);
	serial_out_destroy(o);
	free(o);
	close(p[0]);
	close(p[1]);
}

/* The consumer is woken on the empty -> non-empty transition only. */
static void test_wake_on_first_byte(void **state)
{
	uint8_t b = 'w', junk[16];
	struct serial *s;
	uint64_t v;
	int p[2], efd;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	s = uart_new(p[1], (struct irq_line){ 0 });
	assert_non_null(s);
	efd = serial_output_fd(s);
	assert_true(efd >= 0);
	assert_int_equal(read(efd, &v, sizeof(v)), -1);
	for (int i = 0; i < 5; i++)
		serial_bus_ops.write(s, 0, &b, 1);
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	assert_int_equal(serial_output_drain(s), 0);
	assert_int_equal(read(p[0], junk, sizeof(junk)), 5);
	serial_bus_ops.write(s, 0, &b, 1);
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	uart_free(s);
	close(p[0]);
	close(p[1]);
}

/* A blocking stdout is never made non-blocking for the others sharing it. */
static void test_shared_fd_flags_untouched(void **state)
{
	struct serial *s;
	int p[2];

	(void)state;
	stalled_pipe(p);
	s = uart_new(p[1], (struct irq_line){ 0 });
	assert_non_null(s);
	run_vcpu(s, 0, 10);
	assert_int_equal(serial_output_drain(s), -EAGAIN);
	assert_int_equal(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0);
	uart_free(s);
	assert_int_equal(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0);
	close(p[0]);
	close(p[1]);
}

/* A closed out_fd discards, like -1, instead of failing the VM. */
static void test_closed_fd_discards(void **state)
{
	uint8_t b = 'x';
	struct serial *s;
	int fd = dup(0);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	s = uart_new(fd, (struct irq_line){ 0 });
	assert_non_null(s);
	serial_bus_ops.write(s, 0, &b, 1);
	assert_int_equal(serial_output_fd(s), -1);
	assert_int_equal(serial_output_pending(s), 0);
	assert_int_equal(serial_output_drain(s), 0);
	uart_free(s);
}

/* The real wiring: console on an io thread's loop, stdout a pipe that stops being read. */
struct io_ctx {
	struct eventloop loop;
	struct console con;
	int stop_efd;
};

static void on_test_stop(void *opaque, uint32_t events)
{
	struct io_ctx *io = opaque;

	(void)events;
	eventloop_stop(&io->loop);
}

static void *io_thread(void *arg)
{
	struct io_ctx *io = arg;

	eventloop_run(&io->loop);
	return NULL;
}

static void wait_for_rx(struct serial *s, size_t room)
{
	for (int i = 0; i < DEADLOCK_TIMEOUT_S * 1000; i++) {
		if (serial_rx_room(s) <= room)
			return;
		usleep(1000);
	}
	fail_msg("host input did not reach the UART");
}

static void test_io_thread_drains_and_survives_stall(void **state)
{
	const size_t n1 = 3000, n2 = 40000;
	uint8_t *buf = malloc(n2);
	struct reader_job rj;
	struct io_ctx io;
	pthread_t t, r;
	struct serial *s;
	uint64_t one = 1;
	int out[2], in[2];
	size_t room;

	(void)state;
	assert_non_null(buf);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_true(fcntl(out[1], F_SETPIPE_SZ, SMALL_PIPE) >= SMALL_PIPE);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	s = uart_new(out[1], (struct irq_line){ 0 });
	assert_non_null(s);
	assert_int_equal(eventloop_init(&io.loop), 0);
	io.stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(io.stop_efd >= 0);
	assert_int_equal(eventloop_add(&io.loop, io.stop_efd, EPOLLIN, on_test_stop, &io), 0);
	assert_int_equal(console_init(&io.con, s, &io.loop, in[0], NULL, NULL), 0);
	assert_int_equal(pthread_create(&t, NULL, io_thread, &io), 0);

	/* Flowing: the io thread delivers without anyone flushing. */
	rj = (struct reader_job){ out[0], buf, n1, 0 };
	assert_int_equal(pthread_create(&r, NULL, reader, &rj), 0);
	run_vcpu(s, 0, n1);
	assert_true(join_within(r, DEADLOCK_TIMEOUT_S));
	assert_int_equal(rj.got, n1);
	assert_pattern(buf, 0, n1);

	/* Stalled: the vCPU still runs, input still reaches the guest, stop still works. */
	run_vcpu(s, n1, n2);
	room = serial_rx_room(s);
	assert_int_equal(write(in[1], "typed", 5), 5);
	wait_for_rx(s, room - 5);
	assert_int_equal(write(io.stop_efd, &one, sizeof(one)), sizeof(one));
	if (!join_within(t, DEADLOCK_TIMEOUT_S))
		fail_msg("the io thread did not stop while stdout was stalled");

	/* At exit, the buffered output is flushed to a reader that came back. */
	rj = (struct reader_job){ out[0], buf, n2, 0 };
	assert_int_equal(pthread_create(&r, NULL, reader, &rj), 0);
	console_destroy(&io.con);
	assert_true(join_within(r, DEADLOCK_TIMEOUT_S));
	assert_int_equal(rj.got, n2);
	assert_pattern(buf, n1, n2);
	assert_int_equal(serial_output_dropped(s), 0);

	eventloop_destroy(&io.loop);
	close(io.stop_efd);
	uart_free(s);
	close(out[0]);
	close(out[1]);
	close(in[0]);
	close(in[1]);
	free(buf);
}

#endif /* SERIAL_OUTPUT_CORE_ONLY */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stalled_stdout_does_not_block_vcpu),
#ifndef SERIAL_OUTPUT_CORE_ONLY
		cmocka_unit_test(test_full_buffer_drops_and_keeps_order),
		cmocka_unit_test(test_pause_writes_out),
		cmocka_unit_test(test_ring_wraparound),
		cmocka_unit_test(test_rate_limiter_drops),
		cmocka_unit_test(test_drained_ring_restarts),
		cmocka_unit_test(test_wake_on_first_byte),
		cmocka_unit_test(test_shared_fd_flags_untouched),
		cmocka_unit_test(test_closed_fd_discards),
		cmocka_unit_test(test_io_thread_drains_and_survives_stall),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
