/* The bodies of PUT /migrate and PUT /migrate/incoming (json_migrate.h). */
#include "api/json_migrate.h"

#include <errno.h>
#include <string.h>

#include "api/json_snapshot.h"

static const char *const source_fields[] = { "uri", "downtime_limit_ms", "max_iterations",
					     "postcopy", "tls", "tls_hostname", NULL };
static const char *const incoming_fields[] = { "uri", "tls", "resume_vm", "track_dirty_pages",
					       "network_overrides", "drive_overrides",
					       "pmem_overrides", "vsock_override", "firmware_override",
					       "max_mem_mib",
					       NULL };

static bool known(const char *const *fields, const char *key)
{
	for (; *fields; fields++)
		if (!strcmp(*fields, key))
			return true;
	return false;
}

static int number(json_t *o, const char *what, const char *key, uint32_t max, uint32_t *out,
		  struct err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max)
		return err_set(err, true, -EINVAL, "%s: %s: want a whole number from 1 to %u",
			       what, key, max);
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static int flag(json_t *o, const char *what, const char *key, bool *out, struct err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return err_set(err, true, -EINVAL, "%s: %s: want true or false", what, key);
	*out = json_is_true(v);
	return 0;
}

int json_migrate_parse(json_t *o, bool incoming, struct ctl_migrate_req *r, struct err *err)
{
	const char *what = incoming ? "migrate/incoming" : "migrate", *key;
	json_t *v;
	int ret;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(o))
		return err_set(err, true, -EINVAL, "%s: the body is not a JSON object", what);
	json_object_foreach(o, key, v)
		if (!known(incoming ? incoming_fields : source_fields, key))
			return err_set(err, true, -EINVAL, "%s: unknown field '%.64s'", what, key);
	v = json_object_get(o, "uri");
	if (!json_is_string(v))
		return err_set(err, true, -EINVAL, "%s: uri: want a string, unix:PATH or "
			       "tcp:ADDR:PORT", what);
	r->uri = json_string_value(v);
	ret = flag(o, what, "tls", &r->tls, err);
	if (ret)
		return ret;
	v = json_object_get(o, "tls_hostname");
	if (v) {
		const char *n = json_string_value(v);

		/* A DNS name or an address, as a certificate's subjectAltName holds it. */
		if (!n || !*n || strlen(n) > 253 || strspn(n, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") != strlen(n))
			return err_set(err, true, -EINVAL, "%s: tls_hostname: want a host name or "
				       "address of 1 to 253 letters, digits, '.', '-' or ':'", what);
		if (!r->tls)
			return err_set(err, true, -EINVAL, "%s: tls_hostname without \"tls\": true",
				       what);
		r->tls_hostname = n;
	}
	if (!incoming) {
		ret = number(o, what, "downtime_limit_ms", MIGRATE_MAX_DOWNTIME_MS, &r->downtime_ms,
			     err);
		if (!ret)
			ret = number(o, what, "max_iterations", MIGRATE_MAX_ITERATIONS,
				     &r->max_iterations, err);
		return ret ? ret : flag(o, what, "postcopy", &r->postcopy, err);
	}
	r->load.resume_vm = true;
	ret = number(o, what, "max_mem_mib", MIGRATE_MAX_MEM_MIB, &r->max_mem_mib, err);
	if (!ret)
		ret = flag(o, what, "resume_vm", &r->load.resume_vm, err);
	if (!ret)
		ret = flag(o, what, "track_dirty_pages", &r->load.track_dirty_pages, err);
	return ret ? ret : json_snapshot_overrides(o, &r->load, what, err);
}
