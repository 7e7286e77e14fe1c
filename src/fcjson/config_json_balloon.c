/* Firecracker's balloon objects (config_json_balloon.h). */
#include "fcjson/config_json_balloon.h"

#include <errno.h>
#include <stdint.h>

#include "fcjson/config_json_fields.h"

static const struct jfield balloon_fields[] = {
	{ "amount_mib", J_UINT, true, NULL, "u32", NULL },
	{ "deflate_on_oom", J_BOOL, true, NULL, NULL, NULL },
	{ "stats_polling_interval_s", J_UINT, false, NULL, "u16", NULL },
	{ "free_page_hinting", J_BOOL, false, NULL, NULL, NULL },
	{ "free_page_reporting", J_BOOL, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield update_fields[] = {
	{ "amount_mib", J_UINT, true, NULL, "u32", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield stats_update_fields[] = {
	{ "stats_polling_interval_s", J_UINT, true, NULL, "u16", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield hint_start_fields[] = {
	{ "acknowledge_on_stop", J_BOOL, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static uint64_t juint(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static bool jbool(json_t *o, const char *name, bool def)
{
	json_t *v = json_object_get(o, name);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

int config_json_balloon(struct vm_config *c, json_t *o, struct err *err)
{
	const char *what = "balloon";
	struct vm_balloon b = { .present = true };
	int ret;

	ret = config_json_check(what, o, balloon_fields, err);
	if (ret)
		return ret;
	b.amount_mib = (uint32_t)juint(o, "amount_mib");
	b.deflate_on_oom = jbool(o, "deflate_on_oom", false);
	b.stats_polling_interval_s = (uint16_t)juint(o, "stats_polling_interval_s");
	b.free_page_hinting = jbool(o, "free_page_hinting", false);
	b.free_page_reporting = jbool(o, "free_page_reporting", false);
	ret = vm_config_set_balloon(c, &b, err);
	return ret ? err_prefix(err, ret, "%s: ", what) : 0;
}

json_t *config_json_dump_balloon(const struct vm_balloon *b)
{
	if (!b->present)
		return json_null();
	return json_pack("{s:I, s:b, s:I, s:b, s:b}", "amount_mib", (json_int_t)b->amount_mib,
			 "deflate_on_oom", b->deflate_on_oom, "stats_polling_interval_s",
			 (json_int_t)b->stats_polling_interval_s, "free_page_hinting",
			 b->free_page_hinting, "free_page_reporting", b->free_page_reporting);
}

int config_json_balloon_update(json_t *o, uint32_t *amount_mib, struct err *err)
{
	int ret = config_json_check("balloon", o, update_fields, err);

	if (!ret)
		*amount_mib = (uint32_t)juint(o, "amount_mib");
	return ret;
}

int config_json_balloon_stats_update(json_t *o, uint16_t *interval_s, struct err *err)
{
	int ret = config_json_check("balloon", o, stats_update_fields, err);

	if (!ret)
		*interval_s = (uint16_t)juint(o, "stats_polling_interval_s");
	return ret;
}

int config_json_balloon_hint_start(json_t *o, bool *ack_on_stop, struct err *err)
{
	int ret = o ? config_json_check("balloon", o, hint_start_fields, err) : 0;

	/* Firecracker's default_ack_on_stop. */
	if (!ret)
		*ack_on_stop = o ? jbool(o, "acknowledge_on_stop", true) : true;
	return ret;
}

json_t *config_json_dump_balloon_stats(const struct balloon_stats *s)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "target_pages", (json_int_t)s->target_pages,
			      "actual_pages", (json_int_t)s->actual_pages, "target_mib",
			      (json_int_t)s->target_mib, "actual_mib", (json_int_t)s->actual_mib);

	/* Firecracker leaves out what the guest did not report (skip_serializing_if). */
	for (unsigned int i = 0; o && i < BALLOON_STAT_COUNT; i++) {
		if (!(s->present & (1u << i)))
			continue;
		/* jansson's integers are signed: a counter past 2^63 is shown at its cap. */
		if (json_object_set_new(o, virtio_balloon_stat_name(i),
					json_integer(s->val[i] > INT64_MAX ? INT64_MAX
						     : (json_int_t)s->val[i]))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *config_json_dump_balloon_hinting(const struct balloon_hint_status *h)
{
	return json_pack("{s:I, s:o}", "host_cmd", (json_int_t)h->host_cmd, "guest_cmd",
			 h->guest_cmd_present ? json_integer(h->guest_cmd) : json_null());
}
