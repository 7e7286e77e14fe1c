/*
 * uds_listen's socket appears under its name only once it listens: a
 * client that waits for the path and then connects (as Firecracker's
 * clients wait for the API socket) never meets ECONNREFUSED. Shown with
 * inotify: the name is never created by bind(2) (IN_CREATE), it arrives
 * by a rename (IN_MOVED_TO) of a socket already listening, and nothing
 * else is left in the directory. Also: a stale socket is replaced, a live
 * one and a file are refused.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/err.h"
#include "util/uds.h"

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ret;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	close(fd);
	return ret;
}

static void test_named_only_when_listening(void **state)
{
	char dir[] = "/tmp/hearth-uds-XXXXXX", path[PATH_MAX];
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct err err = ERR_INIT;
	bool created = false, moved = false;
	int in, wd, fd;
	ssize_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/api.sock", dir);
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(in >= 0);
	wd = inotify_add_watch(in, dir, IN_CREATE | IN_MOVED_TO);
	assert_true(wd >= 0);
	fd = uds_listen("--api-sock", path, 4, &err);
	assert_true(fd >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;

			if (e->len && !strcmp(e->name, "api.sock")) {
				created |= !!(e->mask & IN_CREATE);
				moved |= !!(e->mask & IN_MOVED_TO);
			}
			p += sizeof(*e) + e->len;
		}
	}
	assert_false(created);
	assert_true(moved);
	assert_int_equal(connect_to(path), 0);
	/* Only the socket: no temporary name left beside it. */
	assert_int_equal(rmdir(dir), -1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	close(fd);
	close(in);
}

static void test_stale_live_and_file(void **state)
{
	char dir[] = "/tmp/hearth-uds-XXXXXX", path[PATH_MAX];
	struct err err = ERR_INIT;
	int fd, fd2;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	fd = uds_listen("uds_path", path, 4, &err);
	assert_true(fd >= 0);
	/* Live: refused, and the live one keeps its name. */
	err = (struct err)ERR_INIT;
	assert_int_equal(uds_listen("uds_path", path, 4, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "another process is serving on it"));
	assert_int_equal(connect_to(path), 0);
	/* Stale (its listener gone): replaced. */
	close(fd);
	err = (struct err)ERR_INIT;
	fd2 = uds_listen("uds_path", path, 4, &err);
	assert_true(fd2 >= 0);
	assert_int_equal(connect_to(path), 0);
	close(fd2);
	unlink(path);
	/* A file: never replaced. */
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	err = (struct err)ERR_INIT;
	assert_int_equal(uds_listen("uds_path", path, 4, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "not a socket"));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_named_only_when_listening),
		cmocka_unit_test(test_stale_live_and_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
