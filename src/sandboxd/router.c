/* The API's routes and query parameters (router.h). */
#include "sandboxd/router.h"

#include <string.h>

/* A pattern's segments: "*" is the sandbox id. */
static const struct route {
	const char *method;
	const char *pattern;
	enum sbx_route route;
} routes[] = {
	{ "GET", "/health", SBX_R_HEALTH },
	{ "POST", "/v2/sandboxes", SBX_R_CREATE },
	{ "POST", "/sandboxes", SBX_R_CREATE },
	{ "GET", "/v2/sandboxes", SBX_R_LIST },
	{ "GET", "/sandboxes", SBX_R_LIST },
	/* Before the id row below: a fixed name is no sandbox's id. */
	{ "GET", "/sandboxes/metrics", SBX_R_UNSERVED },
	{ "GET", "/sandboxes/*", SBX_R_GET },
	{ "DELETE", "/sandboxes/*", SBX_R_KILL },
	{ "POST", "/sandboxes/*/timeout", SBX_R_TIMEOUT },
	{ "POST", "/sandboxes/*/refreshes", SBX_R_REFRESH },
	{ "POST", "/sandboxes/*/pause", SBX_R_PAUSE },
	{ "POST", "/v2/sandboxes/*/connect", SBX_R_CONNECT },
	{ "POST", "/sandboxes/*/connect", SBX_R_CONNECT },
	{ "POST", "/sandboxes/*/resume", SBX_R_CONNECT },
	{ "POST", "/sandboxes/*/fork", SBX_R_FORK },
	{ "POST", "/sandboxes/*/snapshots", SBX_R_SNAPSHOT },
	{ "GET", "/sandboxes/*/metrics", SBX_R_METRICS },
	/* E2B's, not Hearth's (docs/sandboxes.md says why). */
	{ "PUT", "/sandboxes/*/network", SBX_R_UNSERVED },
	{ "GET", "/sandboxes/*/logs", SBX_R_UNSERVED },
	{ "GET", "/v2/sandboxes/*/logs", SBX_R_UNSERVED },
	{ "GET", "/snapshots", SBX_R_UNSERVED },
	{ "GET", "/templates", SBX_R_UNSERVED },
	{ "POST", "/v3/templates", SBX_R_UNSERVED },
	{ "DELETE", "/templates/*", SBX_R_UNSERVED },
};

/* Whether path matches pattern; the "*" segment into id. */
static bool match(const char *pattern, const char *path, char *id)
{
	const char *p = pattern, *q = path;

	while (*p && *q) {
		if (*p == '*') {
			size_t n = strcspn(q, "/");

			if (!n || n > SBX_ROUTE_ID_MAX)
				return false;
			memcpy(id, q, n);
			id[n] = '\0';
			p++;
			q += n;
			continue;
		}
		if (*p != *q)
			return false;
		p++;
		q++;
	}
	/* One trailing slash is the same path. */
	return !*p && (!*q || (q[0] == '/' && !q[1]));
}

void sbx_route_match(const char *method, const char *path, struct sbx_match *m)
{
	char id[SBX_ROUTE_ID_MAX + 1];

	*m = (struct sbx_match){ .route = SBX_R_NONE };
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		id[0] = '\0';
		if (!match(routes[i].pattern, path, id))
			continue;
		/* A method this path does not take: remember it, a later row may take it. */
		m->route = routes[i].route;
		m->name = routes[i].pattern;
		memcpy(m->id, id, sizeof(id));
		if (!strcmp(method, routes[i].method)) {
			m->method_ok = true;
			return;
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sbx_url_decode(const char *in, size_t n, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (o + 1 >= len)
			return -1;
		out[o++] = c;
	}
	if (!len)
		return -1;
	out[o] = '\0';
	return (int)o;
}

int sbx_query_get(const char *query, const char *name, char *out, size_t len)
{
	size_t qn = query ? strnlen(query, SBX_QUERY_MAX) : 0, nn = strlen(name);

	for (size_t i = 0; i < qn;) {
		size_t end = i, eq;
		char key[128];
		int k;

		while (end < qn && query[end] != '&')
			end++;
		for (eq = i; eq < end && query[eq] != '='; eq++)
			;
		k = eq - i < sizeof(key) ? sbx_url_decode(query + i, eq - i, key, sizeof(key)) : -1;
		if (k == (int)nn && !memcmp(key, name, nn))
			return sbx_url_decode(query + eq + (eq < end), end - eq - (eq < end), out, len);
		i = end + 1;
	}
	return -1;
}
