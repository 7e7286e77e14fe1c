/*
 * libFuzzer target for the API's request handling (src/api/routes.c,
 * json_request.c, json_snapshot.c, the control surface in src/control,
 * src/fcjson/config_json*.c, the vm_config setters) on the fake VM the unit
 * tests use (tests/unit/fake_vm.h): a fresh control surface per input,
 * then requests, each
 *
 *   method byte (GET, PUT, PATCH, DELETE, or "" for b % 5 == 4),
 *   path up to a NUL, u16 body length, body (exactly that many bytes)
 *
 * InstanceStart and a snapshot load succeed, so the rules after boot are
 * reached too. PUT /logger with a log_path is only parsed
 * (config_json_logger), never routed: routing it would open whatever
 * file the input names.
 *
 * Checked besides ASan/UBSan: every reply is 200, 204 or 4xx/5xx, with a
 * body that is one JSON object unless it is 204, and a fault_message on
 * 400 (Firecracker's clients read it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../tests/unit/fake_vm.h"
#include "api/routes.h"
#include "control/control.h"
#include "fz.h"
#include "util/log.h"
#include "fcjson/config_json_observe.h"

static void check_reply(const struct api_reply *r)
{
	json_t *o;

	CHECK(r->status == 200 || r->status == 204 || (r->status >= 400 && r->status < 600));
	if (r->status == 204) {
		CHECK(!r->body);
		return;
	}
	CHECK(r->body);
	o = json_loads(r->body, 0, NULL);
	CHECK(json_is_object(o));
	if (r->status == 400)
		CHECK(json_is_string(json_object_get(o, "fault_message")));
	json_decref(o);
}

/* PUT /logger is parsed here, and routed only when it names no file. */
static bool logger_only_parsed(const char *body, size_t len)
{
	struct err err;
	struct vm_logger l = { 0 };
	json_t *o = json_loadb(body, len, 0, NULL);
	bool has_path = json_object_get(o, "log_path") != NULL;

	if (json_is_object(o))
		(void)config_json_logger(o, &l, &err);
	json_decref(o);
	/* Not an object, or one jansson reads differently than a prefix scan: skip it. */
	return has_path || !o || memmem(body, len, "log_path", 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "PUT", "PATCH", "DELETE", "" };
	struct fz in = { data, size };
	struct fake_vm vm = { 0 };
	struct ctl ctl;

	log_set_level(LOG_ERR);
	CHECK(ctl_init(&ctl, "fuzz", NULL, &fake_vm_ops, &vm) == 0);
	for (int k = 0; k < 32 && in.n; k++) {
		const char *method = methods[fz_u8(&in) % 5];
		const uint8_t *nul = memchr(in.p, 0, in.n);
		size_t plen = nul ? (size_t)(nul - in.p) : in.n, blen;
		char *path = malloc(plen + 1), *body;
		struct api_reply r;

		CHECK(path);
		fz_take(&in, path, plen);
		path[plen] = '\0';
		fz_u8(&in);
		blen = fz_u16(&in);
		body = malloc(blen ? blen : 1);
		CHECK(body);
		blen = fz_take(&in, body, blen);
		if (!strcmp(path, "/logger") && logger_only_parsed(body, blen)) {
			free(path);
			free(body);
			continue;
		}
		memset(&r, 0, sizeof(r));
		api_route(&ctl, method, path, blen ? body : NULL, blen, &r);
		check_reply(&r);
		free(r.body);
		free(path);
		free(body);
	}
	ctl_destroy(&ctl);
	return 0;
}
