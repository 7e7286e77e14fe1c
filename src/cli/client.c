/*
 * The API socket's client for `hearth snapshot`, `hearth fork` and
 * `hearth reset` (client.h).
 */
#include "cli/client.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Calls go through the table below, not curl.h's type-checking macros. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#define CLI_REPLY_MAX (256u << 10)

/*
 * libcurl is loaded only by the client commands: linked into the binary it
 * would map some twenty libraries (TLS, Kerberos, LDAP ...) into every VM
 * process, adding megabytes of RSS and milliseconds of start-up to VMs
 * that never use it.
 */
struct curl_api {
	CURLcode (*global_init)(long flags);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_reset)(CURL *h);
	void (*easy_cleanup)(CURL *h);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode rc);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
};

static struct curl_api cu;

#define CURL_LIB "libcurl.so.4"

/* 0, or -ENOENT with the reason on stderr. */
static int curl_load(const char *who)
{
	static const struct {
		const char *name;
		size_t off;
	} syms[] = {
		{ "curl_global_init", offsetof(struct curl_api, global_init) },
		{ "curl_global_cleanup", offsetof(struct curl_api, global_cleanup) },
		{ "curl_easy_init", offsetof(struct curl_api, easy_init) },
		{ "curl_easy_reset", offsetof(struct curl_api, easy_reset) },
		{ "curl_easy_cleanup", offsetof(struct curl_api, easy_cleanup) },
		{ "curl_easy_setopt", offsetof(struct curl_api, easy_setopt) },
		{ "curl_easy_perform", offsetof(struct curl_api, easy_perform) },
		{ "curl_easy_getinfo", offsetof(struct curl_api, easy_getinfo) },
		{ "curl_easy_strerror", offsetof(struct curl_api, easy_strerror) },
		{ "curl_slist_append", offsetof(struct curl_api, slist_append) },
		{ "curl_slist_free_all", offsetof(struct curl_api, slist_free_all) },
	};
	void *lib = dlopen(CURL_LIB, RTLD_NOW | RTLD_LOCAL);

	if (!lib) {
		fprintf(stderr, "%s: needs libcurl (%s): %s\n", who, CURL_LIB, dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *f = dlsym(lib, syms[i].name);

		if (!f) {
			fprintf(stderr, "%s: %s lacks %s\n", who, CURL_LIB, syms[i].name);
			dlclose(lib);
			return -ENOENT;
		}
		memcpy((char *)&cu + syms[i].off, &f, sizeof(f));
	}
	return 0;
}

struct reply {
	char buf[CLI_REPLY_MAX];
	size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct reply *r = ctx;
	size_t take = size * n;

	if (take > sizeof(r->buf) - 1 - r->len)
		take = sizeof(r->buf) - 1 - r->len;
	memcpy(r->buf + r->len, p, take);
	r->len += take;
	r->buf[r->len] = 0;
	return size * n;
}

struct cli_client {
	CURL *h;
	const char *who;
};

int cli_client_open(struct cli_client **out, const char *who)
{
	struct cli_client *c;

	*out = NULL;
	if (curl_load(who))
		return -ENOENT;
	c = calloc(1, sizeof(*c));
	if (!c || cu.global_init(CURL_GLOBAL_NOTHING) || !(c->h = cu.easy_init())) {
		fprintf(stderr, "%s: cannot initialise libcurl\n", who);
		free(c);
		return -ENOMEM;
	}
	c->who = who;
	*out = c;
	return 0;
}

void cli_client_close(struct cli_client *c)
{
	if (!c)
		return;
	cu.easy_cleanup(c->h);
	cu.global_cleanup();
	free(c);
}

int cli_client_request(struct cli_client *c, const char *sock, const char *method,
		       const char *path, json_t *body, json_t **answer)
{
	CURL *h = c->h;
	struct curl_slist *hdr = cu.slist_append(NULL, "Content-Type: application/json");
	struct reply *r = calloc(1, sizeof(*r));
	char *text, url[256];
	long status = 0;
	CURLcode rc;
	int ret = 1;

	if (answer)
		*answer = NULL;
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!hdr || (body && !text) || !r) {
		fprintf(stderr, "%s: out of memory\n", c->who);
		goto out;
	}
	snprintf(url, sizeof(url), "http://localhost%s", path);
	cu.easy_reset(h);
	cu.easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	cu.easy_setopt(h, CURLOPT_URL, url);
	cu.easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	cu.easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	if (text)
		cu.easy_setopt(h, CURLOPT_POSTFIELDS, text);
	cu.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	cu.easy_setopt(h, CURLOPT_WRITEDATA, r);
	rc = cu.easy_perform(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "%s: %s %s on %s: %s\n", c->who, method, path, sock,
			cu.easy_strerror(rc));
		goto out;
	}
	cu.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		ret = 0;
		if (answer)
			*answer = r->len ? json_loads(r->buf, 0, NULL) : json_object();
	} else {
		json_t *o = json_loads(r->buf, 0, NULL);
		const char *m = json_string_value(json_object_get(o, "fault_message"));

		fprintf(stderr, "%s: %s %s: %ld: %s\n", c->who, method, path, status,
			m ? m : r->buf);
		json_decref(o);
	}
out:
	cu.slist_free_all(hdr);
	json_decref(body);
	free(text);
	free(r);
	return ret;
}

