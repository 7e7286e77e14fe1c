/*
 * The sandbox server's timeouts (src/sandboxd/lifecycle.c) and its list
 * (api_list.c), on sandboxes whose VMs are stand-in processes: the timer's
 * round ends a running sandbox past its end (its process killed, the
 * sandbox gone) and leaves one before it, a busy one and a paused one; a
 * sandbox whose timeout pauses it but cannot be paused is killed rather
 * than kept; a VM that ended by itself ends its sandbox; POST .../timeout
 * sets the end from now. The list's filters (state, template, metadata)
 * and pages (limit, X-Next-Token) pick what E2B's would.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandboxd/api.h"
#include "sandboxd/lifecycle.h"

static struct sbx_tpl tpl_a = { .id = "alpha", .vcpus = 1, .mem_mib = 128 };
static struct sbx_tpl tpl_b = { .id = "beta", .vcpus = 1, .mem_mib = 128 };

static struct sbx *server(void)
{
	struct sbx *s = calloc(1, sizeof(*s));

	s->cfg = (struct sbx_config){ .max_sandboxes = 16, .default_timeout_s = 300,
				      .max_timeout_s = 3600, .op_timeout_s = 2 };
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	return s;
}

/* A sandbox whose VM is a child that waits to be killed (or has exited, when dead). */
static struct sbx_box *box(struct sbx *s, struct sbx_tpl *t, enum sbx_state st, int64_t end,
			   bool dead)
{
	struct err e = ERR_INIT;
	struct sbx_box *b;
	pid_t pid;

	assert_int_equal(sbx_box_add(s, t, &b), 0);
	b->state = st;
	b->busy = false;
	b->end_ms = end;
	b->metadata = json_object();
	b->envs = json_object();
	if (st != SBX_RUNNING)
		return b;
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		if (!dead)
			pause();
		_exit(0);
	}
	assert_int_equal(sbx_vm_adopt(&b->vm, pid, &e), 0);
	if (dead)
		assert_int_equal(waitpid(pid, NULL, 0), pid);
	return b;
}

static bool listed(struct sbx *s, const char *id)
{
	bool found;

	pthread_mutex_lock(&s->lock);
	found = sbx_box_find(s, id) != NULL;
	pthread_mutex_unlock(&s->lock);
	return found;
}

static void test_expiry(void **state)
{
	struct sbx *s = server();
	int64_t now = sbx_now_ms();
	struct sbx_box *past = box(s, &tpl_a, SBX_RUNNING, now - 1, false);
	struct sbx_box *future = box(s, &tpl_a, SBX_RUNNING, now + 600000, false);
	struct sbx_box *busy = box(s, &tpl_a, SBX_RUNNING, now - 1, false);
	struct sbx_box *paused = box(s, &tpl_a, SBX_PAUSED, now - 1, false);
	struct sbx_box *nopause = box(s, &tpl_a, SBX_RUNNING, now - 1, false);
	struct sbx_box *gone = box(s, &tpl_a, SBX_RUNNING, now + 600000, true);
	char ids[4][SBX_ID_LEN + 1];
	int pidfd_past = dup(past->vm.pidfd), pidfd_nopause = dup(nopause->vm.pidfd);
	siginfo_t si = { 0 };

	strcpy(ids[0], past->id);
	strcpy(ids[1], nopause->id);
	strcpy(ids[2], gone->id);
	/* Its pause is asked of an API socket nobody serves: it fails, and the sandbox goes. */
	nopause->auto_pause = true;
	strcpy(nopause->vm.api_sock, "/nonexistent/sbx-test/api.sock");
	busy->busy = true;
	sbx_op_expire(s);
	assert_false(listed(s, ids[0]));
	assert_false(listed(s, ids[1]));
	assert_false(listed(s, ids[2]));
	assert_true(listed(s, future->id));
	assert_true(listed(s, busy->id));
	assert_true(listed(s, paused->id));
	/* The expired sandboxes' processes were killed, not left behind. */
	assert_int_equal(waitid(P_PIDFD, (id_t)pidfd_past, &si, WEXITED | WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(waitid(P_PIDFD, (id_t)pidfd_nopause, &si, WEXITED | WNOHANG), -1);
	close(pidfd_past);
	close(pidfd_nopause);
	/* POST .../timeout: the end from now. */
	{
		int64_t before = sbx_now_ms(), after;
		struct err e = ERR_INIT;

		assert_int_equal(sbx_op_set_timeout(s, future->id, 7, &e), 0);
		after = sbx_now_ms();
		assert_true(future->end_ms >= before + 7000 && future->end_ms <= after + 7000);
		assert_int_equal(sbx_op_set_timeout(s, "nosuch", 7, &e), -ENOENT);
	}
	busy->busy = false;
	sbx_op_kill_all(s);
	assert_null(s->boxes);
	free(s);
}

static unsigned int list(struct sbx *s, const char *query, json_t **out, char *next)
{
	struct httpd_request r = { .method = "GET", .path = "/v2/sandboxes", .query = query };
	struct httpd_reply reply = { 0 };

	sbx_api_list(s, &r, &reply);
	*out = json_loadb(reply.body, reply.body_len, 0, NULL);
	next[0] = '\0';
	if (reply.extra)
		sscanf(reply.extra, "X-Next-Token: %31s", next);
	if (reply.body_owned)
		free((void *)reply.body);
	return reply.status;
}

static void test_list(void **state)
{
	struct sbx *s = server();
	int64_t now = sbx_now_ms();
	struct sbx_box *a = box(s, &tpl_a, SBX_PAUSED, now + 1000, false);
	struct sbx_box *b = box(s, &tpl_b, SBX_PAUSED, now + 1000, false);
	struct sbx_box *c = box(s, &tpl_a, SBX_PAUSED, now + 1000, false);
	json_t *o;
	char next[32];

	c->state = SBX_RUNNING;    /* listed as running; no process: never expired here */
	a->started_ms = 1000;
	b->started_ms = 2000;
	c->started_ms = 3000;
	json_object_set_new(a->metadata, "user", json_string("a b"));
	json_object_set_new(b->metadata, "user", json_string("x"));
	assert_int_equal(list(s, NULL, &o, next), 200);
	assert_int_equal(json_array_size(o), 3);
	/* Newest first by default. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(o, 0), "sandboxID")),
			    c->id);
	json_decref(o);
	assert_int_equal(list(s, "state=running", &o, next), 200);
	assert_int_equal(json_array_size(o), 1);
	json_decref(o);
	assert_int_equal(list(s, "state=paused&template=alpha", &o, next), 200);
	assert_int_equal(json_array_size(o), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(o, 0), "sandboxID")),
			    a->id);
	json_decref(o);
	/* metadata=user%3Da%2520b: "user=a%20b" once decoded, "a b" the second time, as E2B's. */
	assert_int_equal(list(s, "metadata=user%3Da%2520b", &o, next), 200);
	assert_int_equal(json_array_size(o), 1);
	json_decref(o);
	assert_int_equal(list(s, "order=asc&limit=2", &o, next), 200);
	assert_int_equal(json_array_size(o), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(o, 0), "sandboxID")),
			    a->id);
	assert_string_equal(next, "2");
	json_decref(o);
	assert_int_equal(list(s, "order=asc&limit=2&nextToken=2", &o, next), 200);
	assert_int_equal(json_array_size(o), 1);
	assert_string_equal(next, "");
	json_decref(o);
	assert_int_equal(list(s, "state=gone", &o, next), 400);
	json_decref(o);
	assert_int_equal(list(s, "limit=0", &o, next), 400);
	json_decref(o);
	c->state = SBX_PAUSED;
	sbx_op_kill_all(s);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
