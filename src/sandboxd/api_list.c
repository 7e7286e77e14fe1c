/*
 * GET /v2/sandboxes (api.h): E2B's ListedSandbox list, filtered by the
 * query's state ("running,paused"), metadata ("k=v&k2=v2", each key and
 * value URL-encoded, the whole encoded again as the parameter's value, as
 * the SDK sends it), template and startedAfter, ordered by start (order
 * asc or desc, the default), a page of limit (1 to 100) at a time; the
 * next page's token in X-Next-Token (an offset: the list may move
 * between pages, as E2B's may).
 */
#include "sandboxd/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sandboxd/api_json.h"
#include "sandboxd/router.h"

#define LIST_MAX_PAGE 100
#define LIST_MAX_FILTERS 16

struct list_filter {
	bool running, paused;
	char tpl[SBX_TPL_ID_MAX + 1];
	int64_t after_ms;           /* 0: none */
	unsigned int nkv;
	char key[LIST_MAX_FILTERS][128];
	char val[LIST_MAX_FILTERS][256];
};

struct listed {
	int64_t started_ms;
	json_t *o;
};

/* RFC 3339 to epoch ms; -1 when it is none. */
static int64_t parse_date(const char *s)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t ms = 0, scale = 100;

	if (!p)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			ms += (*p - '0') * scale;
	if (*p != 'Z' && *p != 'z')
		return -1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The metadata parameter's pairs: itself a query, its keys and values encoded once more. */
static int parse_metadata(const char *m, struct list_filter *f)
{
	for (const char *p = m; *p;) {
		size_t n = strcspn(p, "&"), eq = strcspn(p, "=");
		char k1[128], v1[256];

		if (f->nkv == LIST_MAX_FILTERS || eq >= n)
			return -1;
		if (sbx_url_decode(p, eq, k1, sizeof(k1)) < 0 ||
		    sbx_url_decode(p + eq + 1, n - eq - 1, v1, sizeof(v1)) < 0 ||
		    sbx_url_decode(k1, strlen(k1), f->key[f->nkv], sizeof(f->key[0])) < 0 ||
		    sbx_url_decode(v1, strlen(v1), f->val[f->nkv], sizeof(f->val[0])) < 0)
			return -1;
		f->nkv++;
		p += n + (p[n] == '&');
	}
	return 0;
}

static int parse_filter(const char *q, struct list_filter *f, struct err *e)
{
	char v[SBX_QUERY_MAX];

	*f = (struct list_filter){ .running = true, .paused = true };
	if (sbx_query_get(q, "state", v, sizeof(v)) >= 0) {
		f->running = f->paused = false;
		for (char *tok = strtok(v, ","); tok; tok = strtok(NULL, ",")) {
			if (!strcmp(tok, "running"))
				f->running = true;
			else if (!strcmp(tok, "paused"))
				f->paused = true;
			else
				return err_set(e, true, -EINVAL, "state '%.32s': want running or paused",
					       tok);
		}
	}
	if (sbx_query_get(q, "template", f->tpl, sizeof(f->tpl)) < 0)
		f->tpl[0] = '\0';
	if (sbx_query_get(q, "startedAfter", v, sizeof(v)) >= 0 && (f->after_ms = parse_date(v)) < 0)
		return err_set(e, true, -EINVAL, "startedAfter '%.40s': want an RFC 3339 date in UTC",
			       v);
	if (sbx_query_get(q, "metadata", v, sizeof(v)) >= 0 && parse_metadata(v, f))
		return err_set(e, true, -EINVAL, "metadata: want key=value pairs joined by '&', at "
			       "most %d", LIST_MAX_FILTERS);
	return 0;
}

static bool wanted(const struct sbx_box *b, const struct list_filter *f)
{
	if (b->state == SBX_CREATING || (b->state == SBX_RUNNING && !f->running) ||
	    (b->state == SBX_PAUSED && !f->paused))
		return false;
	if (f->tpl[0] && strcmp(f->tpl, b->tpl->id))
		return false;
	if (f->after_ms && b->started_ms < f->after_ms)
		return false;
	for (unsigned int i = 0; i < f->nkv; i++) {
		const char *have = json_string_value(json_object_get(b->metadata, f->key[i]));

		if (!have || strcmp(have, f->val[i]))
			return false;
	}
	return true;
}

static int by_start_desc(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;

	return x->started_ms < y->started_ms ? 1 : x->started_ms > y->started_ms ? -1 : 0;
}

static int by_start_asc(const void *a, const void *b)
{
	return -by_start_desc(a, b);
}

void sbx_api_list(struct sbx *s, const struct httpd_request *r, struct httpd_reply *reply)
{
	struct list_filter f;
	struct err e = ERR_INIT;
	struct listed *all = NULL;
	unsigned int n = 0, cap, limit = LIST_MAX_PAGE, from = 0;
	char v[64], next[64];
	bool asc = false;
	json_t *out;
	char *js;

	if (parse_filter(r->query, &f, &e)) {
		sbx_api_error(reply, 400, e.msg);
		return;
	}
	if (sbx_query_get(r->query, "limit", v, sizeof(v)) >= 0) {
		char *end;
		unsigned long l = strtoul(v, &end, 10);

		if (*end || !l || l > LIST_MAX_PAGE) {
			sbx_api_error(reply, 400, "limit: want 1 to 100");
			return;
		}
		limit = (unsigned int)l;
	}
	if (sbx_query_get(r->query, "nextToken", v, sizeof(v)) >= 0)
		from = (unsigned int)strtoul(v, NULL, 10);
	if (sbx_query_get(r->query, "order", v, sizeof(v)) >= 0) {
		if (strcmp(v, "asc") && strcmp(v, "desc")) {
			sbx_api_error(reply, 400, "order: want asc or desc");
			return;
		}
		asc = !strcmp(v, "asc");
	}
	pthread_mutex_lock(&s->lock);
	cap = s->nboxes;
	all = cap ? calloc(cap, sizeof(*all)) : NULL;
	for (struct sbx_box *b = s->boxes; b && n < cap; b = b->next)
		if (all && wanted(b, &f)) {
			all[n].started_ms = b->started_ms;
			all[n++].o = sbx_json_listed(b);
		}
	pthread_mutex_unlock(&s->lock);
	if (n)
		qsort(all, n, sizeof(*all), asc ? by_start_asc : by_start_desc);
	out = json_array();
	for (unsigned int i = 0; i < n; i++) {
		if (out && i >= from && i < from + limit && all[i].o)
			json_array_append(out, all[i].o);
		json_decref(all[i].o);
	}
	free(all);
	js = out ? json_dumps(out, JSON_COMPACT) : NULL;
	json_decref(out);
	if (!js) {
		sbx_api_error(reply, 500, "out of memory");
		return;
	}
	reply->status = 200;
	reply->content_type = "application/json";
	reply->body = js;
	reply->body_len = strlen(js);
	reply->body_owned = true;
	if (from + limit < n) {
		static __thread char extra[96];

		snprintf(next, sizeof(next), "%u", from + limit);
		snprintf(extra, sizeof(extra), "X-Next-Token: %s\r\n", next);
		reply->extra = extra;
	}
}
