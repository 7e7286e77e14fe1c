/*
 * The MMDS stack (mmds/stack.c) behind a host TAP, for
 * run_mmds_tap_test.py: the host kernel's TCP/IP is the guest. Frames the
 * kernel sends through the TAP meet the same claim the device makes;
 * what the stack answers is written back. Before serving, prints what the
 * responder itself says to each request named on the command line
 * (METHOD PATH [TTL]), one JSON line each, then "ready". Runs until its
 * standard input closes.
 *
 * usage: mmds_tap IFNAME ADDR [DOC_JSON] [-- METHOD PATH [TTL] ...]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "mmds/mmds.h"
#include "mmds/stack.h"

struct bridge {
	struct eventloop loop;
	struct net_mmds *s;
	int tap;
	uint8_t buf[65536];
};

static void on_tap(void *opaque, uint32_t events)
{
	struct bridge *b = opaque;
	ssize_t n;

	(void)events;
	for (int i = 0; i < 64 && (n = read(b->tap, b->buf, sizeof(b->buf))) > 0; i++)
		if (net_mmds_claims(b->s, b->buf, (size_t)n))
			net_mmds_tx(b->s, NULL, b->buf, (size_t)n);
}

static void on_stack(void *opaque, uint32_t events)
{
	struct bridge *b = opaque;
	ssize_t n;

	(void)events;
	while ((n = recv(net_mmds_fd(b->s), b->buf, sizeof(b->buf), MSG_DONTWAIT)) > 0)
		if (write(b->tap, b->buf, (size_t)n) < 0)
			perror("tap write");
}

static void on_stdin(void *opaque, uint32_t events)
{
	struct bridge *b = opaque;
	char c;

	(void)events;
	if (read(0, &c, 1) <= 0)
		eventloop_stop(&b->loop);
}

static int tap_open(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || strlen(name) >= sizeof(ifr.ifr_name))
		return -1;
	strcpy(ifr.ifr_name, name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* What the responder answers directly, as one JSON line (bodies are JSON-safe text here). */
static void print_expected(struct mmds *m, const char *method, const char *path, const char *ttl)
{
	struct mmds_request req = { .method = method, .path = path, .accept = "*/*", .ttl = ttl };
	struct mmds_response resp = { 0 };
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	mmds_respond(m, &req, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, &resp);
	printf("{\"method\": \"%s\", \"path\": \"%s\", \"status\": %u, \"body\": \"", method,
	       path, resp.status);
	for (size_t i = 0; i < resp.body_len; i++) {
		char c = resp.body[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			printf("\\n");
		else
			putchar(c);
	}
	printf("\"}\n");
	free(resp.body);
}

int main(int argc, char **argv)
{
	static struct bridge b;
	struct in_addr ip;
	struct mmds *m;
	struct err err;
	int i = 3;

	/* As Hearth's runner: libslirp writes to a closed Unix peer with plain send(). */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 3 || inet_pton(AF_INET, argv[2], &ip) != 1) {
		fprintf(stderr, "usage: mmds_tap IFNAME ADDR [DOC_JSON] [-- METHOD PATH [TTL] ...]\n");
		return 2;
	}
	if (mmds_new(51200, &m))
		return 1;
	if (i < argc && strcmp(argv[i], "--")) {
		if (mmds_put(m, argv[i], strlen(argv[i]), &err))
			fprintf(stderr, "mmds_tap: the document was not stored: %s\n", err.msg);
		i++;
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	for (; i + 1 < argc; i += 3)
		print_expected(m, argv[i], argv[i + 1], i + 2 < argc && strcmp(argv[i + 2], "-") ?
			       argv[i + 2] : NULL);
	b.tap = tap_open(argv[1]);
	if (b.tap < 0) {
		perror("mmds_tap: TAP");
		return 1;
	}
	if (eventloop_init(&b.loop) || net_mmds_open(m, ip.s_addr, &b.loop, &b.s, &err)) {
		fprintf(stderr, "mmds_tap: %s\n", err.msg);
		return 1;
	}
	if (eventloop_add(&b.loop, b.tap, EPOLLIN, on_tap, &b) ||
	    eventloop_add(&b.loop, net_mmds_fd(b.s), EPOLLIN, on_stack, &b) ||
	    eventloop_add(&b.loop, 0, EPOLLIN, on_stdin, &b))
		return 1;
	printf("ready %s\n", net_mmds_socket(b.s));
	fflush(stdout);
	eventloop_run(&b.loop);
	eventloop_remove(&b.loop, b.tap);
	eventloop_remove(&b.loop, net_mmds_fd(b.s));
	eventloop_remove(&b.loop, 0);
	net_mmds_close(b.s);
	eventloop_destroy(&b.loop);
	close(b.tap);
	mmds_free(m);
	return 0;
}
