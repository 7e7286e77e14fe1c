/*
 * hearth-agent's processes, forked on a Unix socket: Start streaming
 * stdout and stderr (base64) and the end (exit code, status), the
 * environment (the defaults, the request's) and the directory; a
 * process as nobody; stdin through SendInput, then CloseStdin; SIGKILL
 * through SendSignal ("signal: killed", exit code -1); a pseudo-terminal
 * (input echoed, Update resizing it); List and Connect (to a live one
 * and to one that just ended); a command that cannot start; a Start
 * whose timeout kills the command (deadline_exceeded); StreamInput.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_agent_rig.h"

#define AS_NOBODY "Authorization: Basic bm9ib2R5Og==\r\n"

static int setup(void **state)
{
	struct rig *g = calloc(1, sizeof(*g));
	struct resp r;
	const char *init = "{\"envVars\":{\"FROM_INIT\":\"yes\",\"OVERRIDE\":\"init\"}}";

	rig_start(g, "root");
	assert_int_equal(rig_do(g, "POST", "/init", NULL, init, strlen(init), &r), 0);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	*state = g;
	return 0;
}

static int teardown(void **state)
{
	rig_stop(*state);
	free(*state);
	return 0;
}

/* A StartRequest running sh -c script. */
static char *start_json(const char *script, const char *more)
{
	json_t *j = json_pack("{s:{s:s, s:[s, s]}}", "process", "cmd", "/bin/sh", "args", "-c",
			      script);
	json_t *extra = more ? json_loads(more, 0, NULL) : NULL;
	char *s;

	if (extra) {
		json_object_update_recursive(j, extra);
		json_decref(extra);
	}
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* The decoded bytes of every data event of kind in msgs[0..n), joined. */
static void gather(json_t **msgs, int n, const char *kind, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *b64 = jstr(msgs[i], 3, "event", "data", kind);
		uint8_t *d;
		size_t len;

		if (!b64 || b64_decode(b64, strlen(b64), &d, &len))
			continue;
		if (o + len < cap) {
			memcpy(out + o, d, len);
			o += len;
			out[o] = '\0';
		}
		free(d);
	}
}

struct run {
	json_t *msgs[64];
	int n;
	uint8_t flags[64];
	char out[8192], err[8192];
};

/* Starts script and reads the whole stream. */
static void run_all(struct rig *g, const char *script, const char *more, const char *extra,
		    struct run *run)
{
	char *js = start_json(script, more);
	struct resp r;
	int fd = rig_stream_open(g, "/process.Process/Start", js, extra, &r);

	assert_int_equal(resp_read(fd, &r, NULL, 0), 0);
	close(fd);
	assert_int_equal(r.status, 200);
	run->n = envelopes(&r, run->flags, run->msgs, 64);
	if (run->n < 2)
		fprintf(stderr, "stream: %u chunked=%d done=%d len=%zu req=%s\n", r.status, r.chunked,
			r.done, r.len, js);
	assert_true(run->n >= 2 && run->n <= 64);
	gather(run->msgs, run->n, "stdout", run->out, sizeof(run->out));
	gather(run->msgs, run->n, "stderr", run->err, sizeof(run->err));
	resp_free(&r);
	free(js);
}

static void run_free(struct run *run)
{
	for (int i = 0; i < run->n && i < 64; i++)
		json_decref(run->msgs[i]);
}

static json_t *end_of(struct run *run)
{
	assert_int_equal(run->flags[run->n - 1], 2);
	assert_int_equal(json_object_size(run->msgs[run->n - 1]), 0);
	return json_object_get(json_object_get(run->msgs[run->n - 2], "event"), "end");
}

static void test_start_output_env_cwd(void **state)
{
	struct rig *g = *state;
	struct run run;
	json_t *end;
	char more[256], want[512];

	snprintf(more, sizeof(more), "{\"process\":{\"envs\":{\"OVERRIDE\":\"req\",\"MINE\":\"1\"},"
		 "\"cwd\":\"%s\"},\"stdin\":false}", g->dir);
	run_all(g, "echo out; echo err >&2; echo $FROM_INIT $OVERRIDE $MINE $HOME $USER; pwd; exit 3",
		more, NULL, &run);
	assert_non_null(jstr(run.msgs[0], 2, "event", "start") ? NULL : run.msgs[0]);
	assert_true(json_integer_value(json_object_get(
			    json_object_get(json_object_get(run.msgs[0], "event"), "start"), "pid")) > 0);
	snprintf(want, sizeof(want), "out\nyes req 1 /root root\n%s\n", g->dir);
	assert_string_equal(run.out, want);
	assert_string_equal(run.err, "err\n");
	end = end_of(&run);
	assert_int_equal(json_integer_value(json_object_get(end, "exitCode")), 3);
	assert_true(json_is_true(json_object_get(end, "exited")));
	assert_string_equal(json_string_value(json_object_get(end, "status")), "exit status 3");
	assert_string_equal(json_string_value(json_object_get(end, "error")), "exit status 3");
	run_free(&run);
	/* Success has no error; a user of its own (whose home does not exist: a cwd then). */
	snprintf(more, sizeof(more), "{\"process\":{\"cwd\":\"%s\"},\"stdin\":false}", g->dir);
	run_all(g, "id -u; echo $HOME", more, AS_NOBODY, &run);
	assert_string_equal(run.out, "65534\n/nonexistent\n");
	end = end_of(&run);
	assert_null(json_object_get(end, "error"));
	assert_string_equal(json_string_value(json_object_get(end, "status")), "exit status 0");
	run_free(&run);
}

static void test_cannot_start(void **state)
{
	struct rig *g = *state;
	const char *js = "{\"process\":{\"cmd\":\"/no/such/program\"}}";
	struct resp r;
	uint8_t flags[4];
	json_t *msgs[4];
	int fd = rig_stream_open(g, "/process.Process/Start", js, NULL, &r);

	assert_int_equal(resp_read(fd, &r, NULL, 0), 0);
	close(fd);
	assert_int_equal(envelopes(&r, flags, msgs, 4), 1);
	assert_int_equal(flags[0], 2);
	assert_string_equal(jstr(msgs[0], 2, "error", "code"), "invalid_argument");
	assert_non_null(strstr(jstr(msgs[0], 2, "error", "message"), "No such file"));
	json_decref(msgs[0]);
	resp_free(&r);
}

/* The pid in a stream's first envelope. */
static uint32_t first_pid(const struct resp *r)
{
	json_t *msg[1] = { 0 };
	uint32_t pid;

	assert_true(envelopes(r, NULL, msg, 1) >= 1);
	pid = (uint32_t)json_integer_value(json_object_get(
		json_object_get(json_object_get(msg[0], "event"), "start"), "pid"));
	json_decref(msg[0]);
	assert_true(pid > 0);
	return pid;
}

static void test_stdin_signal_list_connect(void **state)
{
	struct rig *g = *state;
	char json[256], out[256];
	struct resp r, rc, u;
	json_t *msgs[16], *j;
	uint32_t pid;
	int fd, cfd, n;

	fd = rig_stream_open(g, "/process.Process/Start",
			     "{\"process\":{\"cmd\":\"cat\"},\"stdin\":true,\"tag\":\"kitty\"}", NULL, &r);
	assert_int_equal(resp_read(fd, &r, stop_at_envelopes, 1), 0);
	pid = first_pid(&r);
	/* "aGVsbG8K" is "hello\n". */
	snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u},\"input\":{\"stdin\":\"aGVsbG8K\"}}",
		 pid);
	assert_int_equal(rig_unary(g, "/process.Process/SendInput", json, NULL, &u), 0);
	assert_int_equal(u.status, 200);
	resp_free(&u);
	assert_int_equal(resp_read(fd, &r, stop_at_envelopes, 2), 0);
	n = envelopes(&r, NULL, msgs, 16);
	gather(msgs, n, "stdout", out, sizeof(out));
	assert_string_equal(out, "hello\n");
	for (int i = 0; i < n; i++)
		json_decref(msgs[i]);
	/* Listed, with its config and tag; followed a second time by tag. */
	assert_int_equal(rig_unary(g, "/process.Process/List", "{}", NULL, &u), 0);
	j = json_loads(u.body, 0, NULL);
	assert_string_equal(jstr(json_array_get(json_object_get(j, "processes"), 0), 2, "config",
				 "cmd"), "cat");
	assert_string_equal(jstr(json_array_get(json_object_get(j, "processes"), 0), 1, "tag"),
			    "kitty");
	json_decref(j);
	resp_free(&u);
	cfd = rig_stream_open(g, "/process.Process/Connect", "{\"process\":{\"tag\":\"kitty\"}}",
			      NULL, &rc);
	assert_int_equal(resp_read(cfd, &rc, stop_at_envelopes, 1), 0);
	assert_int_equal(first_pid(&rc), pid);
	/* Stdin closed: cat ends by itself, and both streams hear it. */
	snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u}}", pid);
	assert_int_equal(rig_unary(g, "/process.Process/CloseStdin", json, NULL, &u), 0);
	assert_int_equal(u.status, 200);
	resp_free(&u);
	assert_int_equal(resp_read(fd, &r, NULL, 0), 0);
	assert_int_equal(resp_read(cfd, &rc, NULL, 0), 0);
	n = envelopes(&rc, NULL, msgs, 16);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_object_get(msgs[n - 2], "event"), "end"),
				 "exitCode")), 0);
	for (int i = 0; i < n; i++)
		json_decref(msgs[i]);
	resp_free(&r);
	resp_free(&rc);
	close(fd);
	close(cfd);
	/* Just ended: a Connect still hears its start and end. */
	cfd = rig_stream_open(g, "/process.Process/Connect", json, NULL, &rc);
	assert_int_equal(resp_read(cfd, &rc, NULL, 0), 0);
	assert_int_equal(envelopes(&rc, NULL, NULL, 0), 3);
	resp_free(&rc);
	close(cfd);
	/* SIGKILL. */
	fd = rig_stream_open(g, "/process.Process/Start",
			     "{\"process\":{\"cmd\":\"sleep\",\"args\":[\"60\"]},\"stdin\":false}", NULL, &r);
	assert_int_equal(resp_read(fd, &r, stop_at_envelopes, 1), 0);
	pid = first_pid(&r);
	snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u},\"signal\":\"SIGNAL_SIGKILL\"}", pid);
	assert_int_equal(rig_unary(g, "/process.Process/SendSignal", json, NULL, &u), 0);
	assert_int_equal(u.status, 200);
	resp_free(&u);
	assert_int_equal(resp_read(fd, &r, NULL, 0), 0);
	n = envelopes(&r, NULL, msgs, 16);
	j = json_object_get(json_object_get(msgs[n - 2], "event"), "end");
	assert_int_equal(json_integer_value(json_object_get(j, "exitCode")), -1);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "signal: killed");
	assert_true(json_is_false(json_object_get(j, "exited")));
	for (int i = 0; i < n; i++)
		json_decref(msgs[i]);
	resp_free(&r);
	close(fd);
	/* Gone: not found. */
	assert_int_equal(rig_unary(g, "/process.Process/SendSignal", json, NULL, &u), 0);
	assert_int_equal(u.status, 404);
	resp_free(&u);
}

static bool stop_at_text(const struct resp *r, int unused)
{
	json_t *msgs[64];
	char out[4096];
	int n = envelopes(r, NULL, msgs, 64);

	gather(msgs, n < 64 ? n : 64, "pty", out, sizeof(out));
	for (int i = 0; i < n && i < 64; i++)
		json_decref(msgs[i]);
	return strstr(out, "cols=") != NULL;
}

static void test_pty(void **state)
{
	struct rig *g = *state;
	char json[256];
	struct resp r, u;
	uint32_t pid;
	int fd;

	fd = rig_stream_open(g, "/process.Process/Start",
			     "{\"process\":{\"cmd\":\"/bin/sh\",\"envs\":{\"PS1\":\"$ \"}},"
			     "\"pty\":{\"size\":{\"cols\":80,\"rows\":24}}}", NULL, &r);
	assert_int_equal(resp_read(fd, &r, stop_at_envelopes, 1), 0);
	pid = first_pid(&r);
	snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u},\"pty\":{\"size\":{\"cols\":123,\"rows\":45}}}",
		 pid);
	assert_int_equal(rig_unary(g, "/process.Process/Update", json, NULL, &u), 0);
	assert_int_equal(u.status, 200);
	resp_free(&u);
	/* stty size | sed 's/^/cols=/' typed into the terminal; the answer comes back on it. */
	{
		const char *line = "stty size | sed 's/^/cols=/'\n";
		char *b64 = b64_encode(line, strlen(line));

		snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u},\"input\":{\"pty\":\"%s\"}}",
			 pid, b64);
		free(b64);
	}
	assert_int_equal(rig_unary(g, "/process.Process/SendInput", json, NULL, &u), 0);
	assert_int_equal(u.status, 200);
	resp_free(&u);
	assert_int_equal(resp_read(fd, &r, stop_at_text, 0), 0);
	/* stdin on a terminal's process is refused. */
	snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u},\"input\":{\"stdin\":\"eA==\"}}", pid);
	assert_int_equal(rig_unary(g, "/process.Process/SendInput", json, NULL, &u), 0);
	assert_int_equal(u.status, 500);
	resp_free(&u);
	/* Ctrl-D ends the shell. */
	snprintf(json, sizeof(json), "{\"process\":{\"pid\":%u},\"input\":{\"pty\":\"BA==\"}}", pid);
	assert_int_equal(rig_unary(g, "/process.Process/SendInput", json, NULL, &u), 0);
	resp_free(&u);
	assert_int_equal(resp_read(fd, &r, NULL, 0), 0);
	{
		json_t *msgs[64];
		char out[8192];
		int n = envelopes(&r, NULL, msgs, 64);

		gather(msgs, n < 64 ? n : 64, "pty", out, sizeof(out));
		assert_non_null(strstr(out, "cols=45 123"));
		for (int i = 0; i < n && i < 64; i++)
			json_decref(msgs[i]);
	}
	resp_free(&r);
	close(fd);
}

static void test_timeout_and_stream_input(void **state)
{
	struct rig *g = *state;
	struct resp r;
	uint8_t flags[8];
	json_t *msgs[8];
	char body[512];
	size_t len1, len2;
	char *e1, *e2;
	uint32_t pid;
	int fd, n;

	fd = rig_stream_open(g, "/process.Process/Start",
			     "{\"process\":{\"cmd\":\"sleep\",\"args\":[\"60\"]},\"stdin\":false}",
			     "Connect-Timeout-Ms: 300\r\n", &r);
	assert_int_equal(resp_read(fd, &r, NULL, 0), 0);
	close(fd);
	n = envelopes(&r, flags, msgs, 8);
	assert_int_equal(flags[n - 1], 2);
	assert_string_equal(jstr(msgs[n - 1], 2, "error", "code"), "deadline_exceeded");
	for (int i = 0; i < n; i++)
		json_decref(msgs[i]);
	resp_free(&r);
	/* StreamInput: a start naming the process, then its data. */
	fd = rig_stream_open(g, "/process.Process/Start",
			     "{\"process\":{\"cmd\":\"head\",\"args\":[\"-c\",\"3\"]},\"stdin\":true}", NULL,
			     &r);
	assert_int_equal(resp_read(fd, &r, stop_at_envelopes, 1), 0);
	pid = first_pid(&r);
	snprintf(body, sizeof(body), "{\"start\":{\"process\":{\"pid\":%u}}}", pid);
	e1 = rig_envelope(body, 0, &len1);
	e2 = rig_envelope("{\"data\":{\"input\":{\"stdin\":\"YWJj\"}}}", 0, &len2);
	memcpy(body, e1, len1);
	memcpy(body + len1, e2, len2);
	free(e1);
	free(e2);
	{
		struct resp u;

		assert_int_equal(rig_do(g, "POST", "/process.Process/StreamInput",
					"Content-Type: application/connect+json\r\n", body, len1 + len2,
					&u), 0);
		assert_int_equal(u.status, 200);
		assert_int_equal(envelopes(&u, flags, NULL, 0), 2);
		assert_int_equal(flags[1], 2);
		resp_free(&u);
	}
	assert_int_equal(resp_read(fd, &r, NULL, 0), 0);
	{
		char out[64];

		n = envelopes(&r, NULL, msgs, 8);
		gather(msgs, n, "stdout", out, sizeof(out));
		assert_string_equal(out, "abc");
		for (int i = 0; i < n; i++)
			json_decref(msgs[i]);
	}
	resp_free(&r);
	close(fd);
}

/*
 * The warm-up: the shell runs once as the default user, in its home, with
 * a command's environment and "-l -c true", and ends before the agent's
 * first answer (a slow one still had not written its file otherwise). A
 * shell that is not there leaves the agent serving.
 */
static void test_warm_up(void **state)
{
	char dir[] = "/tmp/agent-warm-XXXXXX", shell[64], marker[64], got[512];
	struct rig g;
	struct resp r;
	FILE *f;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(shell, sizeof(shell), "%s/warm.sh", dir);
	snprintf(marker, sizeof(marker), "%s/marker", dir);
	f = fopen(shell, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\nsleep 1\n"
		"echo \"$* HOME=$HOME USER=$USER LOGNAME=$LOGNAME cwd=$(pwd) uid=$(id -u)\" > %s\n",
		marker);
	fclose(f);
	assert_int_equal(chmod(shell, 0755), 0);
	rig_warm_shell = shell;
	rig_start(&g, "root");
	assert_int_equal(rig_do(&g, "GET", "/health", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status / 100, 2);
	resp_free(&r);
	f = fopen(marker, "r");
	assert_non_null(f);
	n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = 0;
	fclose(f);
	assert_string_equal(got, "-l -c true HOME=/root USER=root LOGNAME=root cwd=/root uid=0\n");
	rig_stop(&g);
	/* No such shell: logged, and the agent serves. */
	rig_warm_shell = "/no/such/shell";
	rig_start(&g, "root");
	assert_int_equal(rig_do(&g, "GET", "/health", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status / 100, 2);
	resp_free(&r);
	rig_stop(&g);
	rig_warm_shell = NULL;
	unlink(marker);
	unlink(shell);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_output_env_cwd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cannot_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stdin_signal_list_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_and_stream_input, setup, teardown),
		cmocka_unit_test(test_warm_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
