/*
 * envd's endpoint (src/sandboxd/proxy.c, proxy_conn.c) between a real
 * client socket and a stand-in for a sandbox's hybrid vsock (a Unix
 * listener that takes Hearth's "CONNECT 49983\n", says "OK", then plays
 * the agent): the request reaches the agent byte for byte behind the
 * CONNECT line, the answer comes back byte for byte; keep-alive carries
 * a second request on the same connection; a chunked answer streamed in
 * pieces arrives whole; a request naming no sandbox, an unknown one, a
 * paused one, another port or another sandbox's token is refused with its
 * status and never reaches the agent, also on a connection that carried
 * an answer before (E2B's SDK asks a killed sandbox's /health on a kept
 * connection and must read the 502, not a close); an agent that closes
 * before its answer's end is a 502. And the server's own /init of a new
 * sandbox with its check (src/sandboxd/agent.c), on one connection; and
 * an /init whose agent never answers ends when the server stops, not at
 * --op-timeout (an hour here: the test would time out).
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandboxd/agent.h"
#include "sandboxd/priv.h"
#include "sandboxd/threads.h"

struct agent_play {
	int lfd;
	char got[8192];            /* what the agent read after the CONNECT line */
	size_t got_len;
	const char *answer;        /* sent once a request's head is in (NULL: close at once) */
	int requests;              /* answers to give on one connection */
	bool hang;                 /* read the request, then never answer (until closed) */
	int connections;
};

static struct sbx s;
static struct sbx_tpl tpl = { .id = "base", .vcpus = 1, .mem_mib = 128 };
static struct agent_play ag;
static int port;
static char dir[] = "/tmp/sbx-proxy-XXXXXX";

/* The stand-in agent: one connection at a time, until the test closes its listener. */
static void *agent_thread(void *arg)
{
	for (;;) {
		int fd = accept(ag.lfd, NULL, NULL);
		char line[32];
		size_t n = 0;

		if (fd < 0)
			return NULL;
		ag.connections++;
		while (n < sizeof(line) - 1 && read(fd, line + n, 1) == 1 && line[n++] != '\n')
			;
		line[n] = '\0';
		/* Hearth's OK comes alone, before the agent's first byte (the proxy read it so once). */
		if (strcmp(line, "CONNECT 49983\n") || write(fd, "OK 1073741824\n", 14) != 14) {
			close(fd);
			continue;
		}
		for (int r = 0; r < ag.requests; r++) {
			size_t from = ag.got_len, body = 0;
			char *eoh, *cl;

			/* The head, then Content-Length's bytes: each request whole before its answer. */
			while (!(eoh = memmem(ag.got + from, ag.got_len - from, "\r\n\r\n", 4)) ||
			       ag.got_len < (size_t)(eoh + 4 - ag.got) + body) {
				ssize_t k = read(fd, ag.got + ag.got_len, sizeof(ag.got) - ag.got_len - 1);

				if (k <= 0)
					goto done;
				ag.got_len += (size_t)k;
				ag.got[ag.got_len] = '\0';
				eoh = memmem(ag.got + from, ag.got_len - from, "\r\n\r\n", 4);
				cl = strstr(ag.got + from, "Content-Length: ");
				body = eoh && cl && cl < eoh ? strtoul(cl + 16, NULL, 10) : 0;
			}
			if (ag.hang) {
				char sink[256];

				while (read(fd, sink, sizeof(sink)) > 0)
					;
				break;
			}
			if (!ag.answer)
				break;
			usleep(20 * 1000);
			/* The answer in two pieces, as a stream comes. */
			size_t half = strlen(ag.answer) / 2;

			if (write(fd, ag.answer, half) < 0 ||
			    write(fd, ag.answer + half, strlen(ag.answer) - half) < 0)
				break;
		}
done:
		close(fd);
	}
}

static int setup(void **state)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(in);
	struct sbx_box *b;
	pthread_t th;

	assert_non_null(mkdtemp(dir));
	s.cfg = (struct sbx_config){ .max_sandboxes = 4, .op_timeout_s = 2 };
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	s.envd_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(bind(s.envd_fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(listen(s.envd_fd, 16), 0);
	getsockname(s.envd_fd, (struct sockaddr *)&in, &len);
	port = ntohs(in.sin_port);
	s.stop_fd = eventfd(0, EFD_NONBLOCK);
	/* A running sandbox whose vsock is the stand-in's, and a paused one. */
	assert_int_equal(sbx_box_add(&s, &tpl, &b), 0);
	strcpy(b->id, "runningsandbox000001");
	memset(b->token, 'a', SBX_TOKEN_LEN);
	b->state = SBX_RUNNING;
	b->busy = false;
	snprintf(b->vm.vsock, sizeof(b->vm.vsock), "%s/v.sock", dir);
	assert_int_equal(sbx_box_add(&s, &tpl, &b), 0);
	strcpy(b->id, "pausedsandbox0000001");
	b->state = SBX_PAUSED;
	b->busy = false;
	snprintf(un.sun_path, sizeof(un.sun_path), "%s/v.sock", dir);
	ag.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(ag.lfd, (struct sockaddr *)&un, sizeof(un)), 0);
	assert_int_equal(listen(ag.lfd, 16), 0);
	assert_int_equal(pthread_create(&th, NULL, agent_thread, NULL), 0);
	pthread_detach(th);
	assert_int_equal(pthread_create(&th, NULL, sbx_proxy_thread, &s), 0);
	pthread_detach(th);
	return 0;
}

static int client(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { .tv_sec = 10 };

	assert_int_equal(connect(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Reads until want bytes came (or the end, or 10 s): what came. */
static size_t read_n(int fd, char *buf, size_t cap, size_t want)
{
	size_t n = 0;

	while (n < want && n < cap - 1) {
		ssize_t k = read(fd, buf + n, cap - 1 - n);

		if (k <= 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	return n;
}

static void reset_agent(const char *answer, int requests)
{
	ag.got_len = 0;
	ag.got[0] = '\0';
	ag.answer = answer;
	ag.requests = requests;
	ag.connections = 0;
	ag.hang = false;
}

static void test_relay(void **state)
{
	const char *req = "GET /health HTTP/1.1\r\nHost: x\r\nE2b-Sandbox-Id: runningsandbox000001\r\n"
			  "E2b-Sandbox-Port: 49983\r\n\r\n";
	const char *ans = "HTTP/1.1 204 No Content\r\n\r\n";
	char buf[4096];
	int fd = client();

	reset_agent(ans, 2);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	read_n(fd, buf, sizeof(buf), strlen(ans));
	assert_string_equal(buf, ans);
	assert_string_equal(ag.got, req);
	/* The same connection again: keep-alive, a new agent connection. */
	ag.got_len = 0;
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	read_n(fd, buf, sizeof(buf), strlen(ans));
	assert_string_equal(buf, ans);
	assert_string_equal(ag.got, req);
	close(fd);
}

static void test_stream(void **state)
{
	const char *req = "POST /process.Process/Start HTTP/1.1\r\nHost: x\r\n"
			  "E2b-Sandbox-Id: runningsandbox000001\r\nX-Access-Token: "
			  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nContent-Length: 2\r\n\r\n{}";
	const char *ans = "HTTP/1.1 200 OK\r\nContent-Type: application/connect+json\r\n"
			  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	char buf[4096];
	int fd = client();

	reset_agent(ans, 1);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	read_n(fd, buf, sizeof(buf), strlen(ans));
	assert_string_equal(buf, ans);
	assert_non_null(strstr(ag.got, "Content-Length: 2\r\n\r\n"));
	close(fd);
}

static void expect_refused(const char *headers, const char *status, const char *words)
{
	char req[1024], buf[4096];
	int fd = client();

	reset_agent("HTTP/1.1 204 No Content\r\n\r\n", 1);
	snprintf(req, sizeof(req), "GET /envs HTTP/1.1\r\nHost: x\r\n%s\r\n", headers);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	read_n(fd, buf, sizeof(buf), sizeof(buf));
	if (strncmp(buf, status, strlen(status)) || !strstr(buf, words))
		fail_msg("%s: want %s naming '%s', got %s", headers, status, words, buf);
	assert_int_equal(ag.connections, 0);
	close(fd);
}

static void test_refused(void **state)
{
	expect_refused("", "HTTP/1.1 400", "names no sandbox");
	expect_refused("E2b-Sandbox-Id: nosuchsandbox0000001\r\n", "HTTP/1.1 502",
		       "The sandbox nosuchsandbox0000001 was not found");
	expect_refused("E2b-Sandbox-Id: pausedsandbox0000001\r\n", "HTTP/1.1 502", "paused");
	expect_refused("E2b-Sandbox-Id: runningsandbox000001\r\nE2b-Sandbox-Port: 8080\r\n",
		       "HTTP/1.1 502", "port 8080");
	expect_refused("E2b-Sandbox-Id: runningsandbox000001\r\nX-Access-Token: bbbb\r\n",
		       "HTTP/1.1 401", "X-Access-Token");
	expect_refused("E2b-Sandbox-Id: runningsandbox000001\r\nX-Access-Token: "
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\r\n", "HTTP/1.1 401",
		       "X-Access-Token");
}

static void test_refused_after_relay(void **state)
{
	const char *req = "GET /health HTTP/1.1\r\nHost: x\r\nE2b-Sandbox-Id: runningsandbox000001\r\n"
			  "\r\n";
	const char *gone = "GET /health HTTP/1.1\r\nHost: x\r\nE2b-Sandbox-Id: nosuchsandbox0000001"
			   "\r\n\r\n";
	const char *ans = "HTTP/1.1 204 No Content\r\n\r\n";
	char buf[4096];
	int fd = client();

	reset_agent(ans, 1);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	read_n(fd, buf, sizeof(buf), strlen(ans));
	assert_string_equal(buf, ans);
	assert_int_equal(write(fd, gone, strlen(gone)), (ssize_t)strlen(gone));
	read_n(fd, buf, sizeof(buf), sizeof(buf));
	if (strncmp(buf, "HTTP/1.1 502", 12) || !strstr(buf, "nosuchsandbox0000001 was not found"))
		fail_msg("a refusal on a kept connection: want its 502, got '%s'", buf);
	close(fd);
}

static void test_agent_closes(void **state)
{
	const char *req = "GET /health HTTP/1.1\r\nHost: x\r\nE2b-Sandbox-Id: runningsandbox000001\r\n\r\n";
	char buf[4096];
	int fd = client();

	reset_agent(NULL, 1);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	read_n(fd, buf, sizeof(buf), sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 502"));
	close(fd);
}

/*
 * The server's /init of a new sandbox, and the GET /envs that checks it,
 * on one agent connection (a vsock handshake fewer); an agent that closes
 * after its first answer gets the check on a new one.
 */
static void test_init_one_connection(void **state)
{
	const char *ans = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	struct sbx_box *b = sbx_box_find(&s, "runningsandbox000001");
	struct err e = ERR_INIT;
	char *get;

	assert_non_null(b);
	reset_agent(ans, 2);
	assert_int_equal(sbx_agent_init(&s, b, &b->vm, NULL, &e), 0);
	assert_int_equal(ag.connections, 1);
	assert_true(!strncmp(ag.got, "POST /init HTTP/1.1\r\n", 21));
	get = strstr(ag.got, "GET /envs HTTP/1.1\r\n");
	assert_non_null(get);
	/* The /init kept the connection; the check closes it. */
	assert_null(memmem(ag.got, (size_t)(get - ag.got), "Connection: close", 17));
	assert_non_null(strstr(get, "Connection: close"));
	assert_non_null(strstr(get, "X-Access-Token: aaaa"));
	reset_agent(ans, 1);
	assert_int_equal(sbx_agent_init(&s, b, &b->vm, NULL, &e), 0);
	assert_int_equal(ag.connections, 2);
}

static void *stop_soon(void *arg)
{
	/* The /init is waiting on the agent by then, or soon is: either way it must end. */
	usleep(100 * 1000);
	pthread_mutex_lock(&s.lock);
	s.stopping = true;
	pthread_mutex_unlock(&s.lock);
	assert_int_equal(eventfd_write(s.stop_fd, 1), 0);
	return NULL;
}

/* Last: it stops the server, the proxy thread with it. */
static void test_init_stop(void **state)
{
	struct sbx_box *b = sbx_box_find(&s, "runningsandbox000001");
	struct err e = ERR_INIT;
	pthread_t th;

	assert_non_null(b);
	reset_agent(NULL, 1);
	ag.hang = true;
	s.cfg.op_timeout_s = 3600;
	assert_int_equal(pthread_create(&th, NULL, stop_soon, NULL), 0);
	assert_int_equal(sbx_agent_init(&s, b, &b->vm, NULL, &e), -ECANCELED);
	assert_non_null(strstr(e.msg, "the server is stopping"));
	assert_int_equal(ag.connections, 1);
	pthread_join(th, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_refused_after_relay),
		cmocka_unit_test(test_agent_closes),
		cmocka_unit_test(test_init_one_connection),
		cmocka_unit_test(test_init_stop),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
