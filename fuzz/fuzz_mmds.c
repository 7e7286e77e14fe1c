/*
 * libFuzzer target for the MMDS (src/mmds/mmds*.c): the store's PUT
 * and PATCH bodies and the guest's requests, in any order, at times the
 * input chooses. The input is lines; each line's first byte is the op:
 *   P body   PUT /mmds          M body  PATCH /mmds
 *   V n      version (n odd: V2; n & 2: imds_compat)
 *   R method|path|accept|token|ttl|fwd|seconds   one guest request
 * A token of "@" is the last one issued. Checked: the store never holds
 * more than its limit and its text is JSON; every answer has a known
 * status, a content type, a body as long as it says; a 200 to Accept:
 * application/json is JSON; a V2 GET without a live token is a 401.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mmds/mmds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LIMIT 512

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                             \
		}                                                                            \
	} while (0)

static char *field(char **s)
{
	char *f = *s, *bar;

	if (!f)
		return NULL;
	bar = strchr(f, '|');
	*s = bar ? bar + 1 : NULL;
	if (bar)
		*bar = '\0';
	return *f ? f : NULL;
}

static void request(struct mmds *m, char *line, char *last, bool v2)
{
	struct mmds_request req = { 0 };
	struct mmds_response r;
	char *p = line, *fwd, *secs;
	static const unsigned int known[] = { 200, 400, 401, 404, 405, 500, 501 };
	bool ok = false;

	req.method = field(&p);
	req.path = field(&p);
	req.accept = field(&p);
	req.token = field(&p);
	req.ttl = field(&p);
	fwd = field(&p);
	secs = field(&p);
	req.forwarded = fwd && *fwd == '1';
	if (req.token && !strcmp(req.token, "@"))
		req.token = last;
	mmds_respond(m, &req, (secs ? strtoull(secs, NULL, 10) : 0) * 1000000000ull, &r);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		ok |= r.status == known[i];
	CHECK(ok);
	CHECK(r.content_type != NULL);
	CHECK(!r.body || strlen(r.body) == r.body_len);
	if (v2 && req.method && !strcmp(req.method, "GET") && req.path && *req.path &&
	    *req.path != '?' && *req.path != '#' && !req.token)
		CHECK(r.status == 401);
	if (r.status == 200 && !strcmp(r.content_type, "application/json")) {
		json_t *v = json_loadb(r.body, r.body_len, JSON_DECODE_ANY, NULL);

		CHECK(v != NULL);
		json_decref(v);
	}
	if (r.status == 200 && req.method && !strcmp(req.method, "PUT")) {
		CHECK(r.body_len < 64);
		memcpy(last, r.body, r.body_len + 1);
	}
	free(r.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *line, *save = NULL, last[64] = "";
	struct mmds *m;
	bool v2 = false;

	if (!buf || mmds_new(LIMIT, &m)) {
		free(buf);
		return 0;
	}
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct err e = ERR_INIT;
		size_t n = strlen(line + 1);
		char *s;

		switch (line[0]) {
		case 'P':
			(void)mmds_put(m, line + 1, n, &e);
			break;
		case 'M':
			(void)mmds_patch(m, line + 1, n, &e);
			break;
		case 'V':
			v2 = atoi(line + 1) & 1;
			mmds_set_version(m, v2 ? MMDS_V2 : MMDS_V1, atoi(line + 1) & 2);
			break;
		case 'R':
			request(m, line + 1, last, v2);
			break;
		default:
			break;
		}
		s = mmds_get(m);
		if (s) {
			json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);

			CHECK(strlen(s) <= LIMIT);
			CHECK(v != NULL);
			json_decref(v);
			free(s);
		}
	}
	mmds_free(m);
	free(buf);
	return 0;
}
