/*
 * Protobuf's JSON mapping (proto3), as far as envd's messages need it, on
 * jansson: a field by its JSON name or its proto name, null as absent,
 * 32-bit integers as numbers or decimal strings, 64-bit ones written as
 * strings, enums by name or number, bytes as base64 (libresolv's codec;
 * URL-safe letters and missing padding are accepted, as the mapping says),
 * Timestamps as RFC 3339 in UTC. A field of the wrong type is
 * invalid_argument, naming it; unknown fields are ignored, as connect-go
 * does.
 */
#ifndef HEARTH_AGENT_PJSON_H
#define HEARTH_AGENT_PJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "agent/rpc.h"

/* A request message: a JSON object (no NUL in any string), or invalid_argument. */
json_t *pjson_parse(const char *buf, size_t len, struct rpc_err *e);

/*
 * Each getter: 0 with *out set (or left as it was when the field is absent
 * or null, and *present false), or -1 with e filled. name is the JSON
 * name; proto the field's name in the .proto when it differs, or NULL.
 */
int pjson_string(json_t *o, const char *name, const char *proto, const char **out,
		 struct rpc_err *e);
int pjson_uint32(json_t *o, const char *name, const char *proto, uint32_t *out, bool *present,
		 struct rpc_err *e);
int pjson_bool(json_t *o, const char *name, const char *proto, bool *out, bool *present,
	       struct rpc_err *e);
/* An object (message or map); NULL when absent. */
int pjson_object(json_t *o, const char *name, const char *proto, json_t **out,
		 struct rpc_err *e);
/* An array; NULL when absent. */
int pjson_array(json_t *o, const char *name, const char *proto, json_t **out, struct rpc_err *e);
/* Bytes, decoded into *out (malloc'd, *len bytes) when present. */
int pjson_bytes(json_t *o, const char *name, const char *proto, uint8_t **out, size_t *len,
		bool *present, struct rpc_err *e);
/* An enum: its name among names[i] (value values[i]) or a number. */
int pjson_enum(json_t *o, const char *name, const char *proto, const char *const *names,
	       const int *values, size_t n, int *out, struct rpc_err *e);

/* Standard base64 with padding (malloc'd), or NULL. */
char *b64_encode(const void *d, size_t n);
/* 0 with *out (malloc'd) and *len, or -EINVAL / -ENOMEM. */
int b64_decode(const char *s, size_t n, uint8_t **out, size_t *len);

/* An int64 field's value: a decimal string. */
json_t *pjson_int64(int64_t v);
/* A google.protobuf.Timestamp: "2024-05-01T10:00:00.123456789Z". */
json_t *pjson_timestamp(const struct timespec *ts);

#endif
