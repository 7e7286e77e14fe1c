/* Protobuf's JSON mapping on jansson (pjson.h). */
#include "agent/pjson.h"

#include <errno.h>
#include <math.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utc.h"

json_t *pjson_parse(const char *buf, size_t len, struct rpc_err *e)
{
	json_error_t je;
	json_t *j;

	/* Connect sends a message with no fields as "{}", but an empty body is the same message. */
	if (!len)
		return json_object();
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		rpc_fail(e, RPC_INVALID_ARGUMENT, "unmarshal message: %s (line %d, column %d)",
			 je.text, je.line, je.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		rpc_fail(e, RPC_INVALID_ARGUMENT, "unmarshal message: not a JSON object");
		return NULL;
	}
	return j;
}

static json_t *field(json_t *o, const char *name, const char *proto)
{
	json_t *v = json_object_get(o, name);

	if (!v && proto)
		v = json_object_get(o, proto);
	return json_is_null(v) ? NULL : v;
}

static int wrong(struct rpc_err *e, const char *name, const char *want)
{
	return rpc_fail(e, RPC_INVALID_ARGUMENT, "unmarshal message: field %s: want %s", name,
			want);
}

int pjson_string(json_t *o, const char *name, const char *proto, const char **out,
		 struct rpc_err *e)
{
	json_t *v = field(o, name, proto);

	if (!v)
		return 0;
	if (!json_is_string(v))
		return wrong(e, name, "a string");
	*out = json_string_value(v);
	return 0;
}

int pjson_uint32(json_t *o, const char *name, const char *proto, uint32_t *out, bool *present,
		 struct rpc_err *e)
{
	json_t *v = field(o, name, proto);
	unsigned long long n;

	if (present)
		*present = v;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
			return wrong(e, name, "a uint32");
		*out = (uint32_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (d < 0 || d > UINT32_MAX || floor(d) != d)
			return wrong(e, name, "a uint32");
		*out = (uint32_t)d;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		errno = 0;
		n = strtoull(s, &end, 10);
		if (s[0] < '0' || s[0] > '9' || *end || errno || n > UINT32_MAX)
			return wrong(e, name, "a uint32");
		*out = (uint32_t)n;
		return 0;
	}
	return wrong(e, name, "a uint32");
}

int pjson_bool(json_t *o, const char *name, const char *proto, bool *out, bool *present,
	       struct rpc_err *e)
{
	json_t *v = field(o, name, proto);

	if (present)
		*present = v;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return wrong(e, name, "a bool");
	*out = json_is_true(v);
	return 0;
}

int pjson_object(json_t *o, const char *name, const char *proto, json_t **out, struct rpc_err *e)
{
	json_t *v = field(o, name, proto);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v))
		return wrong(e, name, "an object");
	*out = v;
	return 0;
}

int pjson_array(json_t *o, const char *name, const char *proto, json_t **out, struct rpc_err *e)
{
	json_t *v = field(o, name, proto);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return wrong(e, name, "an array");
	*out = v;
	return 0;
}

int pjson_bytes(json_t *o, const char *name, const char *proto, uint8_t **out, size_t *len,
		bool *present, struct rpc_err *e)
{
	json_t *v = field(o, name, proto);
	int ret;

	if (present)
		*present = v;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return wrong(e, name, "base64 bytes");
	ret = b64_decode(json_string_value(v), json_string_length(v), out, len);
	if (ret == -ENOMEM)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	if (ret)
		return wrong(e, name, "base64 bytes");
	return 0;
}

int pjson_enum(json_t *o, const char *name, const char *proto, const char *const *names,
	       const int *values, size_t n, int *out, struct rpc_err *e)
{
	json_t *v = field(o, name, proto);

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
			return wrong(e, name, "an enum");
		*out = (int)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return wrong(e, name, "an enum");
	for (size_t i = 0; i < n; i++)
		if (!strcmp(json_string_value(v), names[i])) {
			*out = values[i];
			return 0;
		}
	return wrong(e, name, "an enum value's name");
}

char *b64_encode(const void *d, size_t n)
{
	size_t cap = (n + 2) / 3 * 4 + 1;
	char *s = malloc(cap);

	if (s && b64_ntop(d, n, s, cap) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

int b64_decode(const char *s, size_t n, uint8_t **out, size_t *len)
{
	/* b64_pton wants the standard alphabet, padded: the mapping also allows URL-safe, unpadded. */
	char *std = malloc(n + 4);
	size_t m = 0;
	int got;

	*out = NULL;
	*len = 0;
	if (!std)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		std[m++] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (m % 4 && (m == 0 || std[m - 1] != '='))
		std[m++] = '=';
	std[m] = '\0';
	*out = malloc(m / 4 * 3 + 1);
	if (!*out) {
		free(std);
		return -ENOMEM;
	}
	got = m ? b64_pton(std, *out, m / 4 * 3 + 1) : 0;
	free(std);
	if (got < 0) {
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	*len = (size_t)got;
	return 0;
}

json_t *pjson_int64(int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	return json_string(s);
}

json_t *pjson_timestamp(const struct timespec *ts)
{
	struct tm tm;
	char s[64];
	int n;

	utc_from_epoch(ts->tv_sec, &tm);
	n = snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	/* The mapping's fraction: none, or 3, 6 or 9 digits. */
	if (ts->tv_nsec % 1000000 == 0 && ts->tv_nsec)
		n += snprintf(s + n, sizeof(s) - (size_t)n, ".%03ld", ts->tv_nsec / 1000000);
	else if (ts->tv_nsec % 1000 == 0 && ts->tv_nsec)
		n += snprintf(s + n, sizeof(s) - (size_t)n, ".%06ld", ts->tv_nsec / 1000);
	else if (ts->tv_nsec)
		n += snprintf(s + n, sizeof(s) - (size_t)n, ".%09ld", ts->tv_nsec);
	snprintf(s + n, sizeof(s) - (size_t)n, "Z");
	return json_string(s);
}
