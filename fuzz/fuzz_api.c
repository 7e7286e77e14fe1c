/*
 * libFuzzer target for the API's request handling (src/api/routes.c,
 * routes_patch.c, json_request.c, src/vmm/config_json*.c, the
 * vm_config setters) on a fake VM, as tests/unit/test_api_routes.c does:
 * a fresh controller per input, then requests, each
 *
 *   method byte (GET, PUT, PATCH, DELETE, or "" for b % 5 == 4),
 *   path up to a NUL, u16 body length, body (exactly that many bytes)
 *
 * InstanceStart succeeds, so the rules after boot are reached too. PUT
 * /logger with a log_path is only parsed (config_json_logger), never
 * routed: routing it would open whatever file the input names.
 *
 * Checked besides ASan/UBSan: every reply is 200, 204 or 4xx/5xx, with a
 * body that is one JSON object unless it is 204, and a fault_message on
 * 400 (Firecracker's clients read it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/controller.h"
#include "api/routes.h"
#include "fz.h"
#include "util/log.h"
#include "vmm/config_json_observe.h"

static int fake_start(void *ctx, const struct vm_config *cfg, struct err *err)
{
	(void)ctx;
	(void)cfg;
	(void)err;
	return 0;
}

static int fake_pause(void *ctx)
{
	(void)ctx;
	return 0;
}

static void fake_resume(void *ctx)
{
	(void)ctx;
}

static int fake_cad(void *ctx)
{
	(void)ctx;
	return 0;
}

static int fake_patch_drive(void *ctx, const struct vm_drive *d, const struct vm_drive_patch *p,
			    struct err *err)
{
	(void)ctx;
	(void)d;
	(void)p;
	(void)err;
	return 0;
}

static int fake_patch_net(void *ctx, const struct vm_net_patch *p, struct err *err)
{
	(void)ctx;
	(void)p;
	(void)err;
	return 0;
}

/* Nothing is opened: the path only has to reach the model. */
static int fake_metrics_open(void *ctx, const char *path, struct err *err)
{
	(void)ctx;
	(void)path;
	(void)err;
	return 0;
}

static int fake_metrics_flush(void *ctx, struct err *err)
{
	(void)ctx;
	(void)err;
	return 0;
}

static const struct api_vm_ops fake_ops = {
	.start = fake_start,
	.pause = fake_pause,
	.resume = fake_resume,
	.ctrl_alt_del = fake_cad,
	.patch_drive = fake_patch_drive,
	.patch_net = fake_patch_net,
	.metrics_open = fake_metrics_open,
	.metrics_flush = fake_metrics_flush,
};

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
	struct api_ctl ctl;

	log_set_level(LOG_ERR);
	CHECK(api_ctl_init(&ctl, "fuzz", NULL, &fake_ops, NULL) == 0);
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
	api_ctl_destroy(&ctl);
	return 0;
}
