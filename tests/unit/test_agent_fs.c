/*
 * hearth-agent's files, forked on a Unix socket (as root, acting as root
 * or nobody): Stat, ListDir to a depth, MakeDir, Move, Remove; uploads
 * (multipart with one and two files, raw octet-stream) read back with
 * GET /files, text and binary; a malformed multipart body refused; a
 * file written as nobody owned by nobody, and one nobody may not write
 * refused; WatchDir seeing a file made and removed, and the polled
 * watcher (CreateWatcher, GetWatcherEvents, RemoveWatcher).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_agent_rig.h"

/* "Authorization: Basic base64(nobody:)" */
#define AS_NOBODY "Authorization: Basic bm9ib2R5Og==\r\n"

static int setup(void **state)
{
	struct rig *g = calloc(1, sizeof(*g));

	rig_start(g, "root");
	*state = g;
	return 0;
}

static int teardown(void **state)
{
	rig_stop(*state);
	free(*state);
	return 0;
}

static json_t *call_ok(struct rig *g, const char *method, const char *json, const char *extra)
{
	struct resp r;
	json_t *j;

	assert_int_equal(rig_unary(g, method, json, extra, &r), 0);
	if (r.status != 200)
		fprintf(stderr, "%s %s: %u %s\n", method, json, r.status, r.body ? r.body : "");
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "application/json");
	j = json_loads(r.body, 0, NULL);
	assert_non_null(j);
	resp_free(&r);
	return j;
}

static void call_fails(struct rig *g, const char *method, const char *json, const char *extra,
		       const char *code)
{
	char got[64];
	struct resp r;

	assert_int_equal(rig_unary(g, method, json, extra, &r), 0);
	assert_int_not_equal(r.status, 200);
	assert_string_equal(err_code(&r, got, sizeof(got)), code);
	resp_free(&r);
}

static void test_fs_calls(void **state)
{
	struct rig *g = *state;
	char json[512], path[256];
	json_t *j, *entries;
	FILE *f;

	snprintf(json, sizeof(json), "{\"path\":\"%s/a/b\"}", g->dir);
	j = call_ok(g, "/filesystem.Filesystem/MakeDir", json, NULL);
	assert_string_equal(jstr(j, 2, "entry", "type"), "FILE_TYPE_DIRECTORY");
	assert_string_equal(jstr(j, 2, "entry", "name"), "b");
	assert_string_equal(jstr(j, 2, "entry", "permissions"), "drwxr-xr-x");
	json_decref(j);
	call_fails(g, "/filesystem.Filesystem/MakeDir", json, NULL, "already_exists");
	snprintf(path, sizeof(path), "%s/a/f.txt", g->dir);
	f = fopen(path, "w");
	fputs("hello", f);
	fclose(f);
	snprintf(json, sizeof(json), "{\"path\":\"%s\"}", path);
	j = call_ok(g, "/filesystem.Filesystem/Stat", json, NULL);
	assert_string_equal(jstr(j, 2, "entry", "type"), "FILE_TYPE_FILE");
	assert_string_equal(jstr(j, 2, "entry", "size"), "5");
	assert_string_equal(jstr(j, 2, "entry", "owner"), "root");
	assert_string_equal(jstr(j, 2, "entry", "path"), path);
	assert_non_null(jstr(j, 2, "entry", "modifiedTime"));
	json_decref(j);
	/* Depth 1: a's two entries; depth 2: b's emptiness changes nothing, f comes after b. */
	snprintf(json, sizeof(json), "{\"path\":\"%s\",\"depth\":1}", g->dir);
	j = call_ok(g, "/filesystem.Filesystem/ListDir", json, NULL);
	entries = json_object_get(j, "entries");
	assert_true(json_array_size(entries) >= 1);
	json_decref(j);
	snprintf(json, sizeof(json), "{\"path\":\"%s/a\",\"depth\":2}", g->dir);
	j = call_ok(g, "/filesystem.Filesystem/ListDir", json, NULL);
	entries = json_object_get(j, "entries");
	assert_int_equal(json_array_size(entries), 2);
	assert_string_equal(jstr(json_array_get(entries, 0), 1, "name"), "b");
	assert_string_equal(jstr(json_array_get(entries, 1), 1, "name"), "f.txt");
	json_decref(j);
	snprintf(json, sizeof(json), "{\"source\":\"%s\",\"destination\":\"%s/c/g.txt\"}", path,
		 g->dir);
	j = call_ok(g, "/filesystem.Filesystem/Move", json, NULL);
	assert_string_equal(jstr(j, 2, "entry", "name"), "g.txt");
	json_decref(j);
	snprintf(json, sizeof(json), "{\"path\":\"%s\"}", path);
	call_fails(g, "/filesystem.Filesystem/Stat", json, NULL, "not_found");
	snprintf(json, sizeof(json), "{\"path\":\"%s/a\"}", g->dir);
	json_decref(call_ok(g, "/filesystem.Filesystem/Remove", json, NULL));
	call_fails(g, "/filesystem.Filesystem/Stat", json, NULL, "not_found");
	/* Removing what is not there is no error (os.RemoveAll). */
	json_decref(call_ok(g, "/filesystem.Filesystem/Remove", json, NULL));
	/* A relative path is under the user's home; "~x" is refused. */
	j = call_ok(g, "/filesystem.Filesystem/Stat", "{\"path\":\"\"}", NULL);
	assert_string_equal(jstr(j, 2, "entry", "path"), "/root");
	json_decref(j);
	call_fails(g, "/filesystem.Filesystem/Stat", "{\"path\":\"~bob/x\"}", NULL,
		   "invalid_argument");
	/* As nobody: root's directory is not theirs to write. */
	snprintf(json, sizeof(json), "{\"path\":\"%s/nobody-was-here\"}", g->dir);
	call_fails(g, "/filesystem.Filesystem/MakeDir", json, AS_NOBODY, "permission_denied");
}

/* A multipart body of the given files (name, bytes, length), undici's shape. */
static char *form(const char *b, const char *const *names, const char *const *data,
		  const size_t *lens, int n, size_t *len)
{
	char *body = malloc(1 << 20);
	size_t o = 0;

	for (int i = 0; i < n; i++) {
		o += (size_t)sprintf(body + o,
				     "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
				     "Content-Type: application/octet-stream\r\n\r\n", b, names[i]);
		memcpy(body + o, data[i], lens[i]);
		o += lens[i];
		o += (size_t)sprintf(body + o, "\r\n");
	}
	o += (size_t)sprintf(body + o, "--%s--\r\n", b);
	*len = o;
	return body;
}

static void get_file(struct rig *g, const char *path, const char *extra, const void *want,
		     size_t len)
{
	char target[512];
	struct resp r;

	snprintf(target, sizeof(target), "/files?path=%s", path);
	assert_int_equal(rig_do(g, "GET", target, extra, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "application/octet-stream");
	assert_non_null(strstr(r.disposition, "inline; filename="));
	assert_int_equal(r.len, len);
	if (len)
		assert_memory_equal(r.body, want, len);
	resp_free(&r);
}

static void test_upload_download(void **state)
{
	struct rig *g = *state;
	const char *b = "----formdata-undici-0123456789";
	char hdr[256], target[512], p1[256], p2[256], bin[4096];
	const char *names[2] = { p1, p2 }, *data[2] = { "text file\n", bin };
	size_t lens[2] = { 10, sizeof(bin) }, len;
	struct resp r;
	struct stat st;
	json_t *j;
	char *body;

	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (char)(i * 7 + (i >> 8));
	/* Quotes and CRLFs inside the data: only the boundary ends a part. */
	memcpy(bin + 100, "\r\n--", 4);
	snprintf(p1, sizeof(p1), "%s/up/one.txt", g->dir);
	snprintf(p2, sizeof(p2), "%s/up/deeper/two.bin", g->dir);
	body = form(b, names, data, lens, 2, &len);
	snprintf(hdr, sizeof(hdr), "Content-Type: multipart/form-data; boundary=%s\r\n", b);
	assert_int_equal(rig_do(g, "POST", "/files", hdr, body, len, &r), 0);
	assert_int_equal(r.status, 200);
	j = json_loads(r.body, 0, NULL);
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(jstr(json_array_get(j, 0), 1, "path"), p1);
	assert_string_equal(jstr(json_array_get(j, 1), 1, "name"), "two.bin");
	assert_string_equal(jstr(json_array_get(j, 1), 1, "type"), "file");
	json_decref(j);
	resp_free(&r);
	free(body);
	get_file(g, p1, NULL, "text file\n", 10);
	get_file(g, p2, NULL, bin, sizeof(bin));
	/* One file to the path parameter, the filename aside. */
	body = form(b, (const char *const[]){ "ignored" }, data, lens, 1, &len);
	snprintf(target, sizeof(target), "/files?path=%s%%2Fup%%2Fby%%20param&username=root",
		 g->dir);
	assert_int_equal(rig_do(g, "POST", target, hdr, body, len, &r), 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	free(body);
	snprintf(target, sizeof(target), "%s/up/by%%20param", g->dir);
	get_file(g, target, NULL, "text file\n", 10);
	/* Raw, as nobody, into a directory nobody owns: theirs afterwards. */
	snprintf(p1, sizeof(p1), "%s/nob", g->dir);
	mkdir(p1, 0755);
	assert_int_equal(chown(p1, 65534, 65534), 0);
	snprintf(target, sizeof(target), "/files?path=%s/nob/raw.bin&username=nobody", g->dir);
	assert_int_equal(rig_do(g, "POST", target, "Content-Type: application/octet-stream\r\n",
				bin, sizeof(bin), &r), 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	snprintf(p1, sizeof(p1), "%s/nob/raw.bin", g->dir);
	assert_int_equal(stat(p1, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_size, sizeof(bin));
	get_file(g, p1, NULL, bin, sizeof(bin));
	/* Not where nobody may write. */
	snprintf(target, sizeof(target), "/files?path=%s/rootonly.txt&username=nobody", g->dir);
	assert_int_equal(rig_do(g, "POST", target, "Content-Type: application/octet-stream\r\n",
				"x", 1, &r), 0);
	assert_int_equal(r.status, 403);
	resp_free(&r);
	/* What is not there, a directory, an unknown user. */
	snprintf(target, sizeof(target), "/files?path=%s/none", g->dir);
	assert_int_equal(rig_do(g, "GET", target, NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	snprintf(target, sizeof(target), "/files?path=%s", g->dir);
	assert_int_equal(rig_do(g, "GET", target, NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 400);
	resp_free(&r);
	assert_int_equal(rig_do(g, "GET", "/files?path=x&username=nosuchuser", NULL, NULL, 0, &r),
			 0);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	/* Malformed multipart: no closing boundary; a part without a name; a bad escape. */
	body = strdup("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nabc");
	assert_int_equal(rig_do(g, "POST", "/files",
				"Content-Type: multipart/form-data; boundary=XyZ\r\n", body,
				strlen(body), &r), 0);
	assert_int_equal(r.status, 400);
	resp_free(&r);
	free(body);
	body = strdup("--XyZ\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nabc\r\n--XyZ--");
	assert_int_equal(rig_do(g, "POST", "/files",
				"Content-Type: multipart/form-data; boundary=XyZ\r\n", body,
				strlen(body), &r), 0);
	assert_int_equal(r.status, 400);
	resp_free(&r);
	free(body);
	assert_int_equal(rig_do(g, "GET", "/files?path=%zz", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 400);
	resp_free(&r);
	assert_int_equal(rig_do(g, "POST", "/files?path=x", "Content-Type: text/plain\r\n", "x", 1,
				&r), 0);
	assert_int_equal(r.status, 400);
	resp_free(&r);
}

static void test_watch_dir(void **state)
{
	struct rig *g = *state;
	char json[512], path[256];
	uint8_t flags[8];
	json_t *msgs[8] = { 0 };
	struct resp r;
	int fd, n;
	FILE *f;

	snprintf(json, sizeof(json), "{\"path\":\"%s\"}", g->dir);
	fd = rig_stream_open(g, "/filesystem.Filesystem/WatchDir", json, NULL, &r);
	assert_true(fd >= 0);
	assert_int_equal(resp_read(fd, &r, stop_at_envelopes, 1), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "application/connect+json");
	snprintf(path, sizeof(path), "%s/watched.txt", g->dir);
	f = fopen(path, "w");
	fputs("x", f);
	fclose(f);
	unlink(path);
	/* start, CREATE, WRITE, REMOVE at least. */
	assert_int_equal(resp_read(fd, &r, stop_at_envelopes, 4), 0);
	n = envelopes(&r, flags, msgs, 8);
	assert_true(n >= 4);
	assert_non_null(json_object_get(msgs[0], "start"));
	assert_string_equal(jstr(msgs[1], 2, "filesystem", "name"), "watched.txt");
	assert_string_equal(jstr(msgs[1], 2, "filesystem", "type"), "EVENT_TYPE_CREATE");
	assert_string_equal(jstr(msgs[2], 2, "filesystem", "type"), "EVENT_TYPE_WRITE");
	for (int i = 0; i < n && i < 8; i++)
		json_decref(msgs[i]);
	resp_free(&r);
	close(fd);
	/* Polled. */
	{
		json_t *j = call_ok(g, "/filesystem.Filesystem/CreateWatcher", json, NULL), *ev;
		char id[64], req[128];

		snprintf(id, sizeof(id), "%s", jstr(j, 1, "watcherId"));
		json_decref(j);
		snprintf(path, sizeof(path), "%s/polled", g->dir);
		mkdir(path, 0755);
		snprintf(req, sizeof(req), "{\"watcherId\":\"%s\"}", id);
		for (int i = 0; i < 100; i++) {
			j = call_ok(g, "/filesystem.Filesystem/GetWatcherEvents", req, NULL);
			ev = json_array_get(json_object_get(j, "events"), 0);
			if (ev)
				break;
			json_decref(j);
			usleep(10000);
		}
		assert_string_equal(jstr(ev, 1, "name"), "polled");
		assert_string_equal(jstr(ev, 1, "type"), "EVENT_TYPE_CREATE");
		json_decref(j);
		json_decref(call_ok(g, "/filesystem.Filesystem/RemoveWatcher", req, NULL));
		call_fails(g, "/filesystem.Filesystem/GetWatcherEvents", req, NULL, "not_found");
	}
	snprintf(json, sizeof(json), "{\"path\":\"%s/none\"}", g->dir);
	fd = rig_stream_open(g, "/filesystem.Filesystem/WatchDir", json, NULL, &r);
	assert_int_equal(resp_read(fd, &r, NULL, 0), 0);
	assert_int_equal(envelopes(&r, flags, msgs, 8), 1);
	assert_string_equal(jstr(msgs[0], 2, "error", "code"), "not_found");
	json_decref(msgs[0]);
	resp_free(&r);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fs_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upload_download, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_dir, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
