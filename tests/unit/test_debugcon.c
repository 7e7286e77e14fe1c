/*
 * The debug console port (src/devices/debugcon.c): bytes in order to its
 * fd; reads 0xe9; one port only; a taken port
 * refused by name; with an event loop the io thread writes, and destroy
 * writes out what is left.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "devices/debugcon.h"
#include "dev_rig.h"

static size_t drain_pipe(int fd, char *buf, size_t len)
{
	ssize_t n = read(fd, buf, len);

	return n < 0 ? 0 : (size_t)n;
}

static void test_bytes_in_order(void **state)
{
	struct component c, bad;
	struct err err = ERR_INIT;
	struct dev_env env;
	struct bus bus;
	uint8_t b[4] = { 'l', 'l', 'o', '\n' };
	char out[64] = { 0 };
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	bus_init(&bus);
	/* No loop: the bytes are written at once, on this thread. */
	env = (struct dev_env){ .bus = &bus, .debugcon_fd = p[1] };
	dev_rig_make(debugcon_create, &env, 0xf1, 1, -1, &c);
	assert_int_equal(bus_access(&bus, BUS_PIO, 0xf1, (uint8_t *)"H", 1, true), 0);
	assert_int_equal(bus_access(&bus, BUS_PIO, 0xf1, (uint8_t *)"e", 1, true), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(bus_access(&bus, BUS_PIO, 0xf1, &b[i], 1, true), 0);
	/* A wider access reaches past its one port: not the device's (the bus says so). */
	assert_int_equal(bus_access(&bus, BUS_PIO, 0xf1, b, 2, true), -ENOENT);
	assert_int_equal(drain_pipe(p[0], out, sizeof(out)), 6);
	assert_string_equal(out, "Hello\n");
	/* A read gives 0xe9, and writes nothing. */
	memset(b, 0, sizeof(b));
	assert_int_equal(bus_access(&bus, BUS_PIO, 0xf1, b, 1, false), 0);
	assert_int_equal(b[0], DEBUGCON_READ_VALUE);
	assert_int_equal(drain_pipe(p[0], out, sizeof(out)), 0);
	/* Only its one port. */
	assert_int_equal(bus_access(&bus, BUS_PIO, 0xf2, b, 1, true), -ENOENT);
	/* A taken port (COM1's, say) is the user's to fix, and named; so is a wide one. */
	assert_int_equal(debugcon_create(&env, &(struct dev_resources){ 0xf1, 1, .gsi = -1 },
					 &bad, &err), -EEXIST);
	assert_string_equal(err.msg, "port 0xf1 is taken by another device");
	assert_true(err.usage);
	assert_int_equal(debugcon_create(&env, &(struct dev_resources){ 0x400, 2, .gsi = -1 },
					 &bad, &err), -EINVAL);
	dev_rig_free(&c);
	bus_destroy(&bus);
	close(p[0]);
	close(p[1]);
}

static void *loop_thread(void *arg)
{
	eventloop_run(arg);
	return NULL;
}

static int stop_loop(void *ctx, struct err *e)
{
	eventloop_stop(ctx);
	return 0;
}

/* With a loop, the io thread writes the bytes: the vCPU only copies them. */
static void test_io_thread_writes(void **state)
{
	struct pollfd pfd;
	struct eventloop loop;
	struct component c;
	struct dev_env env;
	struct bus bus;
	char out[64] = { 0 };
	size_t got = 0;
	pthread_t th;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_int_equal(eventloop_init(&loop), 0);
	bus_init(&bus);
	env = (struct dev_env){ .bus = &bus, .loop = &loop, .debugcon_fd = p[1] };
	dev_rig_make(debugcon_create, &env, 0xe9, 1, -1, &c);
	eventloop_claim(&loop);
	assert_int_equal(pthread_create(&th, NULL, loop_thread, &loop), 0);
	for (const char *s = "Hi\n"; *s; s++)
		assert_int_equal(bus_access(&bus, BUS_PIO, 0xe9, (uint8_t *)s, 1, true), 0);
	/* Only a hang backstop: the bytes come as soon as the io thread runs. */
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
	while (got < 3 && poll(&pfd, 1, 30000) == 1)
		got += drain_pipe(p[0], out + got, sizeof(out) - 1 - got);
	assert_string_equal(out, "Hi\n");
	assert_int_equal(eventloop_run_on(&loop, stop_loop, &loop, NULL), 0);
	pthread_join(th, NULL);
	dev_rig_free(&c);
	bus_destroy(&bus);
	eventloop_destroy(&loop);
	close(p[0]);
	close(p[1]);
}

/* What the io thread never got to is written out by destroy, in order. */
static void test_destroy_writes_the_rest(void **state)
{
	struct eventloop loop;
	struct component c;
	struct dev_env env;
	struct bus bus;
	char out[64] = { 0 };
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_int_equal(eventloop_init(&loop), 0);
	bus_init(&bus);
	env = (struct dev_env){ .bus = &bus, .loop = &loop, .debugcon_fd = p[1] };
	dev_rig_make(debugcon_create, &env, 0xe9, 1, -1, &c);
	for (const char *s = "bye\n"; *s; s++)
		assert_int_equal(bus_access(&bus, BUS_PIO, 0xe9, (uint8_t *)s, 1, true), 0);
	assert_int_equal(drain_pipe(p[0], out, sizeof(out)), 0);
	dev_rig_free(&c);
	assert_int_equal(drain_pipe(p[0], out, sizeof(out)), 4);
	assert_string_equal(out, "bye\n");
	bus_destroy(&bus);
	eventloop_destroy(&loop);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_in_order),
		cmocka_unit_test(test_io_thread_writes),
		cmocka_unit_test(test_destroy_writes_the_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
