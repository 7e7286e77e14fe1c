#include "cli/snapshot.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Calls go through the table below, not curl.h's type-checking macros. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <jansson.h>

#include "cli/cli.h"
#include "util/log.h"

#define CLI_REPLY_MAX (64u << 10)

/*
 * libcurl is loaded only by `hearth snapshot`: linked into the binary it
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
static int curl_load(void)
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
		fprintf(stderr, "hearth snapshot: needs libcurl (%s): %s\n", CURL_LIB, dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *f = dlsym(lib, syms[i].name);

		if (!f) {
			fprintf(stderr, "hearth snapshot: %s lacks %s\n", CURL_LIB, syms[i].name);
			dlclose(lib);
			return -ENOENT;
		}
		memcpy((char *)&cu + syms[i].off, &f, sizeof(f));
	}
	return 0;
}

static void snapshot_usage(FILE *out)
{
	fputs("usage: hearth snapshot --api-sock PATH --snapshot FILE --mem FILE [--diff] "
	      "[--resume]\n"
	      "  Pauses the VM behind the API socket, writes a snapshot (state FILE and memory\n"
	      "  FILE; --diff: only the pages dirtied since the last one) and, with --resume,\n"
	      "  lets it run again. Exit status 0, 1 when a step was refused, 2 on usage.\n", out);
}

static const struct opt snapshot_opts[] = {
	OPT_STRING("--api-sock", struct cli_snapshot_opts, api_sock),
	OPT_STRING("--snapshot", struct cli_snapshot_opts, snapshot_path),
	OPT_STRING("--mem", struct cli_snapshot_opts, mem_path),
	OPT_FLAG("--diff", struct cli_snapshot_opts, diff),
	OPT_FLAG("--resume", struct cli_snapshot_opts, resume),
	OPT_HELP("--help", struct cli_snapshot_opts, help),
	OPT_HELP("-h", struct cli_snapshot_opts, help),
	OPT_END,
};

int cli_snapshot_parse(int argc, char **argv, struct cli_snapshot_opts *o, struct err *e)
{
	static const struct opt_cmd cmd = { .name = "snapshot", .opts = snapshot_opts, .gnu = true,
					    .fault = cli_gnu_fault };
	int ret;

	memset(o, 0, sizeof(*o));
	ret = opt_parse(&cmd, argc, argv, 2, o, e);
	if (ret || o->help)
		return ret;
	if (!o->api_sock || !o->snapshot_path || !o->mem_path)
		return err_set(e, true, -EINVAL, "snapshot: --api-sock, --snapshot and --mem are "
			       "required");
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

/* One request with body (taken over); 0 on a 2xx, else 1 with the reason on stderr. */
static int request(CURL *h, const char *sock, const char *method, const char *path,
		   json_t *body)
{
	struct curl_slist *hdr = cu.slist_append(NULL, "Content-Type: application/json");
	char *text = json_dumps(body, JSON_COMPACT), url[256];
	struct reply *r = calloc(1, sizeof(*r));
	long status = 0;
	CURLcode rc;
	int ret = 1;

	if (!hdr || !text || !r) {
		fprintf(stderr, "hearth snapshot: out of memory\n");
		goto out;
	}
	snprintf(url, sizeof(url), "http://localhost%s", path);
	cu.easy_reset(h);
	cu.easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	cu.easy_setopt(h, CURLOPT_URL, url);
	cu.easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	cu.easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	cu.easy_setopt(h, CURLOPT_POSTFIELDS, text);
	cu.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	cu.easy_setopt(h, CURLOPT_WRITEDATA, r);
	rc = cu.easy_perform(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "hearth snapshot: %s %s on %s: %s\n", method, path, sock,
			cu.easy_strerror(rc));
		goto out;
	}
	cu.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		ret = 0;
	} else {
		json_t *o = json_loads(r->buf, 0, NULL);
		const char *m = json_string_value(json_object_get(o, "fault_message"));

		fprintf(stderr, "hearth snapshot: %s %s: %ld: %s\n", method, path, status,
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

int cli_snapshot_main(int argc, char **argv)
{
	struct cli_snapshot_opts o;
	struct err e = ERR_INIT;
	json_t *create;
	CURL *h;
	int ret;

	if (cli_snapshot_parse(argc, argv, &o, &e)) {
		fprintf(stderr, "hearth: %s\n", e.msg);
		return HEARTH_EXIT_USAGE;
	}
	if (o.help) {
		snapshot_usage(stdout);
		return HEARTH_EXIT_OK;
	}
	if (curl_load())
		return HEARTH_EXIT_FAILURE;
	if (cu.global_init(CURL_GLOBAL_NOTHING) || !(h = cu.easy_init())) {
		fprintf(stderr, "hearth snapshot: cannot initialise libcurl\n");
		return HEARTH_EXIT_FAILURE;
	}
	create = json_pack("{s:s, s:s, s:s}", "snapshot_type", o.diff ? "Diff" : "Full",
			   "snapshot_path", o.snapshot_path, "mem_file_path", o.mem_path);
	ret = request(h, o.api_sock, "PATCH", "/vm", json_pack("{s:s}", "state", "Paused"));
	if (!ret)
		ret = request(h, o.api_sock, "PUT", "/snapshot/create", json_incref(create));
	/* Resumed even after a failed create: the guest should not stay stopped by us. */
	if (o.resume && request(h, o.api_sock, "PATCH", "/vm",
				json_pack("{s:s}", "state", "Resumed")))
		ret = 1;
	json_decref(create);
	cu.easy_cleanup(h);
	cu.global_cleanup();
	return ret ? HEARTH_EXIT_FAILURE : HEARTH_EXIT_OK;
}
