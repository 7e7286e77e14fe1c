/* POST /init, GET /envs and a stale identity (init.h). */
#include "agent/init.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/files.h"
#include "agent/http.h"
#include "agent/log.h"

/* envd's window: a clock this close to the host's is left alone. */
#define INIT_MAX_BEHIND_NS (50ll * 1000000)
#define INIT_MAX_AHEAD_NS (5ll * 1000000000)

static int digits(const char *s, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		*out = *out * 10 + (s[i] - '0');
	}
	return 0;
}

int init_parse_time(const char *s, int64_t *ns)
{
	struct tm tm = { 0 };
	int year, mon, day, hour, min, sec, frac = 0, fdigits = 0, oh = 0, om = 0, sign = 0;
	const char *p;
	time_t t;

	/* "YYYY-MM-DDTHH:MM:SS", then a fraction, then "Z" or an offset. */
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':' || digits(s, 4, &year) || digits(s + 5, 2, &mon) ||
	    digits(s + 8, 2, &day) || digits(s + 11, 2, &hour) || digits(s + 14, 2, &min) ||
	    digits(s + 17, 2, &sec))
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, fdigits++)
			if (fdigits < 9)
				frac = frac * 10 + (*p - '0');
		if (!fdigits)
			return -EINVAL;
		for (int i = fdigits; i < 9; i++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (strlen(p) != 6 || p[3] != ':' || digits(p + 1, 2, &oh) || digits(p + 4, 2, &om))
			return -EINVAL;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 ||
	    oh > 23 || om > 59)
		return -EINVAL;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	t -= sign * (oh * 3600 + om * 60);
	/* Nanoseconds since 1970 in 64 bits end in 2262; a clock outside that is no clock. */
	if (t < 0 || t >= INT64_MAX / 1000000000ll)
		return -ERANGE;
	*ns = (int64_t)t * 1000000000ll + frac;
	return 0;
}

void init_stale(struct agent *a, const char *why)
{
	if (!a->stale)
		agent_log("identity in doubt (%s): serving /health and /init only until the next /init",
			  why);
	a->stale = true;
}

/* Sets the clock to ns when it is too far from it; only root may. */
static void init_clock(const struct agent *a, int64_t ns)
{
	struct timespec now, want = { .tv_sec = ns / 1000000000ll, .tv_nsec = ns % 1000000000ll };
	int64_t diff;

	if (a->cfg.keep_clock || a->cfg.decode_only)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	diff = ((int64_t)now.tv_sec * 1000000000ll + now.tv_nsec) - ns;
	if (diff >= -INIT_MAX_BEHIND_NS && diff <= INIT_MAX_AHEAD_NS)
		return;
	if (clock_settime(CLOCK_REALTIME, &want))
		agent_log("cannot set the clock: %s", strerror(errno));
}

static int set_str(char **slot, const char *v)
{
	char *d = v && v[0] ? strdup(v) : NULL;

	if (v && v[0] && !d)
		return -ENOMEM;
	free(*slot);
	*slot = d;
	return 0;
}

void init_post(struct agent *a, struct http_conn *c, struct http_req *r)
{
	json_t *body = NULL, *envs = NULL, *v;
	const char *token = NULL, *ts = NULL, *user = NULL, *workdir = NULL, *sid = NULL;
	int64_t ns = 0;
	json_error_t je;

	if (r->body_too_big) {
		files_error(c, 413, "body larger than the agent takes");
		return;
	}
	if (r->body_len) {
		body = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(body)) {
			files_error(c, 400, "failed to decode request: %s",
				    body ? "not an object" : je.text);
			goto out;
		}
	}
	/* Every field checked before any is applied: a bad /init changes nothing. */
#define STR_FIELD(name, var)                                                                  \
	do {                                                                                  \
		v = json_object_get(body, name);                                              \
		if (v && !json_is_null(v) && !json_is_string(v)) {                            \
			files_error(c, 400, "failed to decode request: %s: want a string", name); \
			goto out;                                                             \
		}                                                                             \
		var = json_string_value(v);                                                   \
	} while (0)
	STR_FIELD("accessToken", token);
	STR_FIELD("timestamp", ts);
	STR_FIELD("defaultUser", user);
	STR_FIELD("defaultWorkdir", workdir);
	STR_FIELD("sandboxId", sid);
#undef STR_FIELD
	envs = json_object_get(body, "envVars");
	if (json_is_null(envs))
		envs = NULL;
	if (envs && !json_is_object(envs)) {
		files_error(c, 400, "failed to decode request: envVars: want an object");
		goto out;
	}
	if (ts && init_parse_time(ts, &ns)) {
		files_error(c, 400, "failed to decode request: timestamp: not RFC 3339: '%s'", ts);
		goto out;
	}
	if (!ts || ns > a->last_init_ns) {
		int ret;

		if (ts) {
			init_clock(a, ns);
			a->last_init_ns = ns;
		}
		/* envVars is checked whole before anything of it is taken (-EINVAL). */
		ret = envs ? env_replace_user(&a->env, envs) : 0;
		if (ret == -EINVAL) {
			files_error(c, 400, "failed to decode request: envVars: not all strings with valid names");
			goto out;
		}
		/* A /init without a token clears it, as envd's; the defaults change only when given. */
		if (ret || set_str(&a->token, token) ||
		    (user && user[0] && set_str(&a->default_user, user)) ||
		    (workdir && workdir[0] && set_str(&a->default_workdir, workdir)) ||
		    (sid && sid[0] && env_set(&a->env, "E2B_SANDBOX_ID", sid, true))) {
			files_error(c, 500, "out of memory");
			goto out;
		}
		a->stale = false;
	}
	a->initialized = true;
	http_reply(c, 204, NULL, "X-Envd-Version: " AGENT_ENVD_VERSION "\r\nCache-Control: no-store\r\n",
		   NULL, 0);
out:
	json_decref(body);
}

void init_envs(struct agent *a, struct http_conn *c, struct http_req *r)
{
	json_t *o = env_to_json(&a->env);
	char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (js)
		http_reply(c, 200, "application/json", NULL, js, strlen(js));
	else
		files_error(c, 500, "out of memory");
	free(js);
	json_decref(o);
}
