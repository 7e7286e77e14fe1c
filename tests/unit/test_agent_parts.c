/*
 * hearth-agent's pure pieces, in process: multipart/form-data read
 * strictly (the SDK's shape taken, each malformation refused), paths
 * (cleaning, "~", relative under the home, NUL and length refused),
 * RFC 3339 times, Go's words for modes and exit statuses, base64 both
 * ways, the query string's decoding, /init's envVars replacing only
 * what /init set, and the vmgenid uevent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent/entry.h"
#include "agent/env.h"
#include "agent/http.h"
#include "agent/init.h"
#include "agent/multipart.h"
#include "agent/path.h"
#include "agent/pjson.h"
#include "agent/proc.h"
#include "agent/vmgenid.h"

struct parts {
	int n;
	char names[4][64];
	char files[4][64];
	size_t lens[4];
};

static int collect(void *opaque, const struct multipart_part *p)
{
	struct parts *ps = opaque;

	snprintf(ps->names[ps->n], 64, "%s", p->name);
	snprintf(ps->files[ps->n], 64, "%s", p->filename ? p->filename : "(none)");
	ps->lens[ps->n] = p->len;
	ps->n++;
	return 0;
}

static int parse(const char *body, struct parts *ps)
{
	char why[256];

	memset(ps, 0, sizeof(*ps));
	return multipart_each((const uint8_t *)body, strlen(body), "B", collect, ps, why,
			      sizeof(why));
}

static void test_multipart(void **state)
{
	char b[80];
	struct parts ps;

	assert_int_equal(multipart_boundary("multipart/form-data; boundary=----formdata-undici-01",
					    b, sizeof(b)), 0);
	assert_string_equal(b, "----formdata-undici-01");
	assert_int_equal(multipart_boundary("multipart/form-data; charset=x; boundary=\"a b\"", b,
					    sizeof(b)), 0);
	assert_string_equal(b, "a b");
	assert_int_equal(multipart_boundary("multipart/mixed; boundary=x", b, sizeof(b)), -EINVAL);
	assert_int_equal(multipart_boundary("multipart/form-data", b, sizeof(b)), -EINVAL);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=\"unterminated", b,
					    sizeof(b)), -EINVAL);
	assert_int_equal(parse("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"q\\\".txt\"\r\n"
			       "Content-Type: application/octet-stream\r\n\r\nhello\r\n"
			       "--B\r\ncontent-disposition: form-data; name=other\r\n\r\n\r\n--B--\r\nepilogue",
			       &ps), 0);
	assert_int_equal(ps.n, 2);
	assert_string_equal(ps.files[0], "a \"q\".txt");
	assert_int_equal(ps.lens[0], 5);
	assert_string_equal(ps.names[1], "other");
	assert_string_equal(ps.files[1], "(none)");
	assert_int_equal(ps.lens[1], 0);
	/* Refused: a preamble, no end, no disposition, an encoding, junk after a boundary. */
	assert_int_equal(parse("x\r\n--B\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--B--", &ps),
			 -EINVAL);
	assert_int_equal(parse("--B\r\nContent-Disposition: form-data; name=a\r\n\r\nabc", &ps), -EINVAL);
	assert_int_equal(parse("--B\r\nX: y\r\n\r\nabc\r\n--B--", &ps), -EINVAL);
	assert_int_equal(parse("--B\r\nContent-Disposition: form-data; name=a\r\n"
			       "Content-Transfer-Encoding: base64\r\n\r\nabc\r\n--B--", &ps), -EINVAL);
	assert_int_equal(parse("--B\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--Bx", &ps),
			 -EINVAL);
	assert_int_equal(parse("--B\r\nContent-Disposition: attachment; name=a\r\n\r\nabc\r\n--B--", &ps),
			 -EINVAL);
	assert_int_equal(parse("--B\r\n folded: x\r\n\r\nabc\r\n--B--", &ps), -EINVAL);
	assert_int_equal(parse("", &ps), -EINVAL);
}

static void test_paths(void **state)
{
	struct agent_user u = { .name = "u", .home = "/home/u" };
	char out[PATH_MAX], base[PATH_MAX], big[PATH_MAX + 8];
	struct rpc_err e;

	assert_int_equal(path_resolve("a/../b/./c", 10, &u, NULL, out, &e), 0);
	assert_string_equal(out, "/home/u/b/c");
	assert_int_equal(path_resolve("", 0, &u, NULL, out, &e), 0);
	assert_string_equal(out, "/home/u");
	assert_int_equal(path_resolve("", 0, &u, "/work", out, &e), 0);
	assert_string_equal(out, "/work");
	assert_int_equal(path_resolve("~/x", 3, &u, NULL, out, &e), 0);
	assert_string_equal(out, "/home/u/x");
	assert_int_equal(path_resolve("../../..", 8, &u, NULL, out, &e), 0);
	assert_string_equal(out, "/");
	assert_int_equal(path_resolve("/a//b/", 6, &u, NULL, out, &e), 0);
	assert_string_equal(out, "/a//b/");
	assert_int_equal(path_resolve("~v/x", 4, &u, NULL, out, &e), -1);
	assert_int_equal(path_resolve("a\0b", 3, &u, NULL, out, &e), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(path_resolve(big, strlen(big), &u, NULL, out, &e), -1);
	assert_int_equal(e.code, RPC_INVALID_ARGUMENT);
	path_base("/a/b/", base, sizeof(base));
	assert_string_equal(base, "b");
	path_base("/", base, sizeof(base));
	assert_string_equal(base, "/");
	path_parent("/a/b", base);
	assert_string_equal(base, "/a");
	path_parent("/a", base);
	assert_string_equal(base, "/");
}

static void test_words(void **state)
{
	char s[64];
	int64_t ns;

	assert_int_equal(init_parse_time("2024-05-01T10:00:00.5+02:00", &ns), 0);
	assert_true(ns == 1714550400ll * 1000000000ll + 500000000ll);
	assert_int_equal(init_parse_time("1970-01-01T00:00:00Z", &ns), 0);
	assert_true(ns == 0);
	assert_int_equal(init_parse_time("2024-05-01 10:00:00Z", &ns), -EINVAL);
	assert_int_equal(init_parse_time("2024-13-01T10:00:00Z", &ns), -EINVAL);
	assert_int_equal(init_parse_time("9999-01-01T00:00:00Z", &ns), -ERANGE);
	entry_mode_string(S_IFDIR | 0755, s);
	assert_string_equal(s, "drwxr-xr-x");
	entry_mode_string(S_IFREG | S_ISUID | 0644, s);
	assert_string_equal(s, "urw-r--r--");
	entry_mode_string(S_IFLNK | 0777, s);
	assert_string_equal(s, "Lrwxrwxrwx");
	entry_mode_string(S_IFCHR | 0666, s);
	assert_string_equal(s, "Dcrw-rw-rw-");
	proc_status_string(CLD_EXITED, 2, s, sizeof(s));
	assert_string_equal(s, "exit status 2");
	proc_status_string(CLD_KILLED, SIGTERM, s, sizeof(s));
	assert_string_equal(s, "signal: terminated");
	proc_status_string(CLD_DUMPED, SIGSEGV, s, sizeof(s));
	assert_string_equal(s, "signal: segmentation fault (core dumped)");
}

static void test_base64_query(void **state)
{
	struct http_req r = { .query = "path=%2Fa%20b+c&username=&x&path=second&bad=%4" };
	uint8_t *d;
	size_t len;
	char *v, *enc;

	enc = b64_encode("\x00\xff\x10", 3);
	assert_string_equal(enc, "AP8Q");
	free(enc);
	assert_int_equal(b64_decode("AP8Q", 4, &d, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(d, "\x00\xff\x10", 3);
	free(d);
	/* URL-safe and unpadded, as protobuf's JSON allows. */
	assert_int_equal(b64_decode("_-8", 3, &d, &len), 0);
	assert_int_equal(len, 2);
	assert_int_equal(d[0], 0xff);
	free(d);
	assert_int_equal(b64_decode("a", 1, &d, &len), -EINVAL);
	assert_int_equal(b64_decode("@@@@", 4, &d, &len), -EINVAL);
	assert_int_equal(http_query(&r, "path", &v), 0);
	assert_string_equal(v, "/a b c");
	free(v);
	assert_int_equal(http_query(&r, "username", &v), 0);
	assert_string_equal(v, "");
	free(v);
	assert_int_equal(http_query(&r, "x", &v), 0);
	free(v);
	assert_int_equal(http_query(&r, "nope", &v), -ENOENT);
	assert_int_equal(http_query(&r, "bad", &v), -EINVAL);
	r.query = "path=a%00b";
	assert_int_equal(http_query(&r, "path", &v), -EINVAL);
}

static void test_env_and_uevent(void **state)
{
	struct env_vars e = { 0 };
	json_t *j;
	static const char ev[] = "change@/devices/LNXSYSTM:00/VMGENID:00\0ACTION=change\0"
				 "DEVPATH=/devices/x\0SUBSYSTEM=acpi\0NEW_VMGENID=1\0SEQNUM=9";

	assert_int_equal(env_set(&e, "E2B_SANDBOX", "true", true), 0);
	j = json_loads("{\"A\":\"1\",\"E2B_SANDBOX\":\"no\"}", 0, NULL);
	assert_int_equal(env_replace_user(&e, j), 0);
	json_decref(j);
	assert_string_equal(env_get(&e, "A"), "1");
	assert_string_equal(env_get(&e, "E2B_SANDBOX"), "true");
	j = json_loads("{\"B\":\"2\"}", 0, NULL);
	assert_int_equal(env_replace_user(&e, j), 0);
	json_decref(j);
	assert_null(env_get(&e, "A"));
	j = json_loads("{\"C=D\":\"2\"}", 0, NULL);
	assert_int_equal(env_replace_user(&e, j), -EINVAL);
	json_decref(j);
	assert_string_equal(env_get(&e, "B"), "2");
	env_free(&e);
	assert_true(vmgenid_uevent_says_new(ev, sizeof(ev)));
	assert_false(vmgenid_uevent_says_new(ev, 40));
	assert_false(vmgenid_uevent_says_new("NEW_VMGENID=10", 14));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_base64_query),
		cmocka_unit_test(test_env_and_uevent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
