/* The server's calls to a sandbox's agent (agent.h). */
#include "sandboxd/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "sandboxd/api_json.h"
#include "sandboxd/hclient.h"
#include "util/log.h"

/* A fresh agent's /init may race its hearing of the fork: it is sent again at most this often. */
#define AGENT_INIT_TRIES 10

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request to the agent on a fresh vsock connection. */
static int agent_req(const struct sbx_vm *vm, const char *method, const char *path,
		     const char *extra, const char *body, int timeout_ms, struct hc_reply *r,
		     struct err *e)
{
	int fd = hc_vsock_connect(vm->vsock, SBX_ENVD_PORT, timeout_ms, e), ret;

	if (fd < 0)
		return fd;
	ret = hc_exchange(fd, method, path, extra, body, body ? strlen(body) : 0, timeout_ms, r,
			  e);
	close(fd);
	return ret;
}

static int agent_wait(struct sbx *s, const struct sbx_vm *vm, int timeout_ms, struct err *e)
{
	int64_t deadline = mono_ms() + timeout_ms;
	struct err last = ERR_INIT;

	for (;;) {
		struct hc_reply r;

		if (!agent_req(vm, "GET", "/health", NULL, NULL, 5000, &r, &last)) {
			unsigned int st = r.status;

			hc_reply_free(&r);
			if (st >= 200 && st < 300)
				return 0;
			err_set(&last, false, -EIO, "GET /health: %u", st);
		}
		/* First: a stop ends the attempt itself (hc_cancel_with), whatever it met. */
		if (sbx_stopping(s))
			return err_set(e, false, -ECANCELED, "the server is stopping (its agent had "
				       "not answered: %s)", last.msg[0] ? last.msg : "no attempt");
		if (!sbx_vm_alive(vm))
			return err_set(e, false, -ECHILD, "its VM exited before its agent answered "
				       "(the VM's log: %s/log)", vm->dir);
		if (mono_ms() >= deadline)
			return err_set(e, false, -ETIMEDOUT, "no answer from its agent in %d s: %s",
				       timeout_ms / 1000, last.msg);
		usleep(200 * 1000);
	}
}

char *sbx_agent_init_body(const struct sbx_box *b, int64_t now_ms)
{
	char ts[32];
	json_t *o;
	char *js;

	sbx_json_date(now_ms, ts);
	o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "accessToken", b->token, "timestamp", ts,
		      "sandboxId", b->id, "defaultUser", b->tpl->user ? b->tpl->user : "user",
		      "envVars", b->envs ? json_incref(b->envs) : json_object());
	if (o && b->tpl->workdir)
		json_object_set_new(o, "defaultWorkdir", json_string(b->tpl->workdir));
	js = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return js;
}

static int agent_init(struct sbx *s, const struct sbx_box *b, const struct sbx_vm *vm,
		      const char *held, struct err *e)
{
	int tmo = (int)s->cfg.op_timeout_s * 1000;
	int64_t deadline = mono_ms() + tmo;
	char auth[SBX_TOKEN_LEN + 32], old[SBX_TOKEN_LEN + 32];
	unsigned int stale = 0, tries = 0;
	struct err why = ERR_INIT;
	bool inited = false, reset_retried = false;

	snprintf(auth, sizeof(auth), "X-Access-Token: %s\r\n", b->token);
	snprintf(old, sizeof(old), "X-Access-Token: %s\r\n", held ? held : "");
	for (;;) {
		/* A later timestamp each time: the agent applies an /init only newer than its last. */
		char *body = sbx_agent_init_body(b, sbx_now_ms());
		struct hc_reply r;
		unsigned int st = 0;
		int ret, fd;

		if (!body)
			return err_set(e, false, -ENOMEM, "out of memory");
		tries++;
		/* An /init after the first is the agent's holder's: its token, then the new one. */
		fd = hc_vsock_connect(vm->vsock, SBX_ENVD_PORT, tmo, e);
		ret = fd < 0 ? fd : hc_exchange_keep(fd, "POST", "/init",
						     held && !inited ? old : auth, body,
						     strlen(body), tmo, &r, e);
		free(body);
		if (!ret) {
			st = r.status;
			hc_reply_free(&r);
			if (st < 200 || st > 299) {
				close(fd);
				return err_set(e, false, -EIO, "its agent refused POST /init: %u", st);
			}
			inited = true;
			/* On the same connection: one vsock handshake (a guest round trip) fewer. */
			ret = hc_exchange(fd, "GET", "/envs", auth, NULL, 0, tmo, &r, e);
			/* The agent may close a connection after an answer: a new one then. */
			if (ret == -ECONNRESET || ret == -EPIPE)
				ret = agent_req(vm, "GET", "/envs", auth, NULL, tmo, &r, e);
		}
		if (fd >= 0)
			close(fd);
		if (!ret) {
			st = r.status;
			hc_reply_free(&r);
			if (st >= 200 && st < 300) {
				/* What a create's /init time went on, when it took more than one. */
				if (tries > 1)
					log_info("sandboxes: %s: /init took %u tries (%u with an agent "
						 "that heard of the fork after it; the last failure: %s)",
						 b->id, tries, stale, why.msg[0] ? why.msg : "none");
				return 0;
			}
			if (st != 503)
				return err_set(e, false, -EIO, "its agent refused GET /envs after /init: "
					       "%u", st);
			/* It heard of the fork after the /init: its identity is in doubt again. */
			if (++stale == AGENT_INIT_TRIES)
				return err_set(e, false, -EIO, "its agent stayed stale after %d /init",
					       AGENT_INIT_TRIES);
		}
		/*
		 * A restored or forked VM's vsock device tells the guest of its
		 * transport's reset, and the guest resets every connection it has
		 * when it hears it: one accepted just before is reset, and is tried
		 * again, the first time at once (the guest has heard it by then;
		 * in the lab 9 creates in 21 met it, each waiting 50 ms for nothing).
		 */
		if (ret)
			why = *e;
		if (sbx_stopping(s))
			return err_set(e, false, -ECANCELED, "the server is stopping");
		if (ret == -ECONNRESET && !reset_retried) {
			reset_retried = true;
			continue;
		}
		if (!sbx_vm_alive(vm))
			return err_set(e, false, -ECHILD, "its VM exited (its log: %s)",
				       vm->log[0] ? vm->log : vm->dir);
		if (mono_ms() >= deadline)
			return ret ? err_prefix(e, ret, "its agent: ")
				   : err_set(e, false, -ETIMEDOUT, "its agent: no /init in time");
		usleep(50 * 1000);
	}
}

/*
 * The agent is guest code: a guest that accepted a connection and then
 * never answers would hold a request, and the server's end, for
 * --op-timeout. Its waits end when the server stops.
 */
int sbx_agent_wait(struct sbx *s, const struct sbx_vm *vm, int timeout_ms, struct err *e)
{
	int old = hc_cancel_with(s->stop_fd);
	int ret = agent_wait(s, vm, timeout_ms, e);

	hc_cancel_with(old);
	return ret;
}

int sbx_agent_init(struct sbx *s, const struct sbx_box *b, const struct sbx_vm *vm,
		   const char *held, struct err *e)
{
	int old = hc_cancel_with(s->stop_fd);
	int ret = agent_init(s, b, vm, held, e);

	hc_cancel_with(old);
	return ret;
}
