/*
 * A JSON body's faults in Firecracker's words, which are serde_json's:
 * "missing field `x`", "unknown field `x`, expected one of `a`, `b`",
 * "invalid type: string \"x\", expected u8", "unknown variant `X`,
 * expected `A` or `B`". The checks (config_json.c and the API's bodies)
 * set these with the spot in the parsed tree; the API, which still has
 * the body's text, then names the line and column serde_json would
 * (config_json_fault_place) and wraps the words as Firecracker's
 * api_server does.
 */
#ifndef HEARTH_FCJSON_CONFIG_JSON_FAULT_H
#define HEARTH_FCJSON_CONFIG_JSON_FAULT_H

#include <stddef.h>

#include <jansson.h>

#include "util/err.h"

/*
 * Each sets err to "what: " and the words (what names the object for the
 * config file; the API drops it), notes the spot, and returns -EINVAL.
 * o is the object at fault and stays alive until config_json_fault_place.
 */
/* o ended without field: serde reports it after o's closing brace. */
int jfault_missing(struct err *err, const char *what, json_t *o, const char *field);
/* o's key is none of fields (NULL-terminated, in Firecracker's order): after the key. */
int jfault_unknown(struct err *err, const char *what, json_t *o, const char *key,
		   const char *const *fields);
/* o's key holds a value of the wrong type; expect is serde's ("u8", "a string"): after it. */
int jfault_type(struct err *err, const char *what, json_t *o, const char *key,
		const char *expect);
/* o's key holds an integer out of expect's range ("u8", "u32"): after it. */
int jfault_range(struct err *err, const char *what, json_t *o, const char *key,
		 const char *expect);
/* o's key is a string none of variants: after it. */
int jfault_variant(struct err *err, const char *what, json_t *o, const char *key,
		   const char *const *variants);
/* A value of the right type that its field refuses (serde's deserialize_with): after it. */
int jfault_value(struct err *err, const char *what, json_t *o, const char *key,
		 const char *words);
/* Firecracker's own words as a serde custom error, which names no line (o: the body). */
int jfault_custom(struct err *err, const char *what, json_t *o, const char *words);
/* Firecracker's own words about the body, answered as they are (the id in the path). */
int jfault_plain(struct err *err, const char *what, json_t *o, const char *words);
/* o's key holds no string for an enum: serde_json's "expected value", at the value. */
int jfault_enum_type(struct err *err, const char *what, json_t *o, const char *key);

/*
 * If err holds a fault set above within root, the tree parsed from
 * body, rewrites it as Firecracker answers it: "An error occurred when
 * deserializing the json body of a request: WORDS at line L column C."
 * Any other error is left as it is.
 */
void config_json_fault_place(struct err *err, const char *body, size_t len, json_t *root);

/* serde's Unexpected for v as serde_json words it: "string \"x\"", "integer `5`", "map". */
void jfault_unexpected(char *buf, size_t size, json_t *v);
/* serde_json's position of byte offset off in body: the line, and the bytes before off on it. */
void jfault_line_column(const char *body, size_t len, size_t off, unsigned int *line,
			unsigned int *column);

/* "a", "a or b", "one of a, b, c" with each name in backquotes, as serde lists them. */
void jfault_list(char *buf, size_t size, const char *const *names);

#endif
