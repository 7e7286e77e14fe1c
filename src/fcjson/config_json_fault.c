#include "fcjson/config_json_fault.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What is at the spot a fault names (struct err's at_how). */
enum {
	AT_END = 1,     /* just past the object's closing brace */
	AT_KEY,         /* just past the key (and the blanks before its colon) */
	AT_VALUE,       /* just past a scalar value; at an object's or array's bracket */
	AT_VALUE_PEEK,  /* the value's first byte, as serde_json's peek_error counts it */
	AT_NOWHERE,     /* serde's custom error, which names no line */
	AT_PLAIN,       /* Firecracker's own words about the body, not wrapped */
};

void jfault_list(char *buf, size_t size, const char *const *names)
{
	size_t n = 0, len;

	while (names[n])
		n++;
	len = (size_t)snprintf(buf, size, "%s", n > 2 ? "one of " : "");
	for (size_t i = 0; i < n && len < size; i++) {
		const char *sep = i == 0 ? "" : n == 2 ? " or " : ", ";

		len += (size_t)snprintf(buf + len, size - len, "%s`%s`", sep, names[i]);
	}
}

static int fault(struct err *err, const char *what, json_t *o, const char *key, int how,
		 const char *fmt, const char *a, const char *b)
{
	bool value = how == AT_VALUE || how == AT_VALUE_PEEK;
	int n;

	/* The config file's reader gets the field's name too; serde's words have none. */
	err_set(err, true, -EINVAL, "%s: %s%s", what, value ? key : "", value ? ": " : "");
	n = (int)strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, a, b);
	err->at = o;
	err->at_key = key;
	err->at_how = how;
	err->at_off = (unsigned int)n;
	return -EINVAL;
}

int jfault_missing(struct err *err, const char *what, json_t *o, const char *field)
{
	return fault(err, what, o, NULL, AT_END, "missing field `%s`%s", field, "");
}

int jfault_unknown(struct err *err, const char *what, json_t *o, const char *key,
		   const char *const *fields)
{
	char list[512];

	if (!fields[0])
		return fault(err, what, o, key, AT_KEY, "unknown field `%.200s`, %s", key,
			     "there are no fields");
	jfault_list(list, sizeof(list), fields);
	return fault(err, what, o, key, AT_KEY, "unknown field `%.200s`, expected %s", key, list);
}

int jfault_variant(struct err *err, const char *what, json_t *o, const char *key,
		   const char *const *variants)
{
	const char *value = json_string_value(json_object_get(o, key));
	char list[512];

	jfault_list(list, sizeof(list), variants);
	return fault(err, what, o, key, AT_VALUE, "unknown variant `%.200s`, expected %s",
		     value ? value : "", list);
}

int jfault_value(struct err *err, const char *what, json_t *o, const char *key,
		 const char *words)
{
	return fault(err, what, o, key, AT_VALUE, "%s%s", words, "");
}

int jfault_custom(struct err *err, const char *what, json_t *o, const char *words)
{
	return fault(err, what, o, NULL, AT_NOWHERE, "%s%s", words, "");
}

int jfault_plain(struct err *err, const char *what, json_t *o, const char *words)
{
	return fault(err, what, o, NULL, AT_PLAIN, "%s%s", words, "");
}

int jfault_enum_type(struct err *err, const char *what, json_t *o, const char *key)
{
	return fault(err, what, o, key, AT_VALUE_PEEK, "expected value%s%s", "", "");
}

/*
 * A double as serde_json prints it (Rust's ryu): the shortest digits that
 * read back the same, "1.5", "2.0", "1e20", "1.8446744073709552e19".
 */
static void format_float(char *buf, size_t size, double d)
{
	char sci[40], digits[24], zeros[24];
	int prec, kk, n;
	size_t k = 0;
	const char *p, *sign = d < 0 ? "-" : "";

	for (prec = 1; prec <= 17; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec - 1, d);
		if (strtod(sci, NULL) == d)
			break;
	}
	for (p = sci; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9' && k < sizeof(digits) - 1)
			digits[k++] = *p;
	digits[k] = '\0';
	while (k > 1 && digits[k - 1] == '0')
		digits[--k] = '\0';
	n = (int)k;
	kk = (*p == 'e' ? atoi(p + 1) : 0) + 1;   /* where the point goes, after kk digits */
	memset(zeros, '0', sizeof(zeros));
	if (n <= kk && kk <= 16)
		snprintf(buf, size, "%s%s%.*s.0", sign, digits, kk - n, zeros);
	else if (0 < kk && kk <= 16)
		snprintf(buf, size, "%s%.*s.%s", sign, kk, digits, digits + kk);
	else if (-5 < kk && kk <= 0)
		snprintf(buf, size, "%s0.%.*s%s", sign, -kk, zeros, digits);
	else if (n == 1)
		snprintf(buf, size, "%s%se%d", sign, digits, kk - 1);
	else
		snprintf(buf, size, "%s%c.%se%d", sign, digits[0], digits + 1, kk - 1);
}

/* A string as Rust's Debug prints it: quoted, with \", \\, \n, \r, \t, \0 and \u{..}. */
static void format_str(char *buf, size_t size, const char *s)
{
	size_t len = 0, i;

	buf[len++] = '"';
	for (i = 0; s[i] && len + 12 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= 200 && (c & 0xc0) != 0x80)
			break;
		if (c == '"' || c == '\\')
			len += (size_t)snprintf(buf + len, size - len, "\\%c", c);
		else if (c == '\n')
			len += (size_t)snprintf(buf + len, size - len, "\\n");
		else if (c == '\r')
			len += (size_t)snprintf(buf + len, size - len, "\\r");
		else if (c == '\t')
			len += (size_t)snprintf(buf + len, size - len, "\\t");
		else if (c == '\0')
			len += (size_t)snprintf(buf + len, size - len, "\\0");
		else if (c < 0x20 || c == 0x7f)
			len += (size_t)snprintf(buf + len, size - len, "\\u{%x}", c);
		else
			buf[len++] = (char)c;
	}
	buf[len++] = '"';
	buf[len] = '\0';
}

void jfault_unexpected(char *buf, size_t size, json_t *v)
{
	char tmp[320];

	switch (json_typeof(v)) {
	case JSON_STRING:
		format_str(tmp, sizeof(tmp), json_string_value(v));
		snprintf(buf, size, "string %s", tmp);
		break;
	case JSON_INTEGER:
		snprintf(buf, size, "integer `%" JSON_INTEGER_FORMAT "`", json_integer_value(v));
		break;
	case JSON_REAL:
		format_float(tmp, sizeof(tmp), json_real_value(v));
		snprintf(buf, size, "floating point `%s`", tmp);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		snprintf(buf, size, "boolean `%s`", json_is_true(v) ? "true" : "false");
		break;
	case JSON_ARRAY:
		snprintf(buf, size, "sequence");
		break;
	case JSON_OBJECT:
		snprintf(buf, size, "map");
		break;
	case JSON_NULL:
		snprintf(buf, size, "null");
		break;
	}
}

int jfault_type(struct err *err, const char *what, json_t *o, const char *key,
		const char *expect)
{
	char got[400];

	jfault_unexpected(got, sizeof(got), json_object_get(o, key));
	return fault(err, what, o, key, AT_VALUE, "invalid type: %s, expected %s", got, expect);
}

int jfault_range(struct err *err, const char *what, json_t *o, const char *key,
		 const char *expect)
{
	char got[400];

	jfault_unexpected(got, sizeof(got), json_object_get(o, key));
	return fault(err, what, o, key, AT_VALUE, "invalid value: %s, expected %s", got, expect);
}

/* The walk through the body's text beside the tree jansson parsed from it. */
struct spot {
	const char *s;
	size_t len;
	const void *at;
	const char *key;
	int how;
	bool found;
	size_t off;
};

static size_t blanks(const struct spot *w, size_t i)
{
	while (i < w->len && (w->s[i] == ' ' || w->s[i] == '\t' || w->s[i] == '\n' ||
			      w->s[i] == '\r'))
		i++;
	return i;
}

/* Past the string at i (its opening quote); false if the text ends first. */
static bool skip_string(const struct spot *w, size_t *i)
{
	size_t j = *i + 1;

	while (j < w->len && w->s[j] != '"')
		j += w->s[j] == '\\' ? 2 : 1;
	if (j >= w->len)
		return false;
	*i = j + 1;
	return true;
}

static bool found(struct spot *w, size_t off)
{
	w->found = true;
	w->off = off;
	return true;
}

static bool walk(struct spot *w, size_t *i, json_t *v, int depth);

/* The object at *i, v; returns false when the text and the tree part ways. */
static bool walk_object(struct spot *w, size_t *i, json_t *v, int depth)
{
	void *it = json_object_iter(v);
	size_t j = blanks(w, *i + 1), start;

	if (j < w->len && w->s[j] == '}') {
		j++;
		goto end;
	}
	for (;;) {
		const char *key = json_object_iter_key(it);
		bool hit;

		start = j;
		if (!it || j >= w->len || w->s[j] != '"' || !skip_string(w, &j))
			return false;
		/* The text's keys are the tree's, in order (duplicates are refused). */
		if (!memchr(w->s + start, '\\', j - start) &&
		    (strlen(key) != j - start - 2 || memcmp(key, w->s + start + 1, j - start - 2)))
			return false;
		hit = v == w->at && w->key && !strcmp(key, w->key);
		j = blanks(w, j);
		if (hit && w->how == AT_KEY)
			return found(w, j);
		if (j >= w->len || w->s[j] != ':')
			return false;
		j = blanks(w, j + 1);
		if (hit && w->how == AT_VALUE_PEEK)
			return found(w, j + 1);
		if (hit && w->how == AT_VALUE && j < w->len && (w->s[j] == '{' || w->s[j] == '['))
			return found(w, j);
		if (!walk(w, &j, json_object_iter_value(it), depth + 1))
			return false;
		if (w->found || hit)
			return hit ? found(w, j) : true;
		j = blanks(w, j);
		it = json_object_iter_next(v, it);
		if (j < w->len && w->s[j] == ',') {
			j = blanks(w, j + 1);
			continue;
		}
		if (j < w->len && w->s[j] == '}') {
			j++;
			break;
		}
		return false;
	}
end:
	*i = j;
	if (v == w->at && w->how == AT_END)
		return found(w, j);
	return true;
}

static bool walk_array(struct spot *w, size_t *i, json_t *v, int depth)
{
	size_t j = blanks(w, *i + 1), n = 0;

	if (j < w->len && w->s[j] == ']') {
		*i = j + 1;
		return true;
	}
	for (;;) {
		json_t *item = json_array_get(v, n++);

		if (!item || !walk(w, &j, item, depth + 1))
			return false;
		if (w->found)
			return true;
		j = blanks(w, j);
		if (j < w->len && w->s[j] == ',') {
			j = blanks(w, j + 1);
			continue;
		}
		if (j < w->len && w->s[j] == ']') {
			*i = j + 1;
			return true;
		}
		return false;
	}
}

/* The value at *i (no blanks before it), v; *i past it. */
static bool walk(struct spot *w, size_t *i, json_t *v, int depth)
{
	size_t j = *i;

	if (depth > 128 || j >= w->len)
		return false;
	if (w->s[j] == '{')
		return json_is_object(v) && walk_object(w, i, v, depth);
	if (w->s[j] == '[')
		return json_is_array(v) && walk_array(w, i, v, depth);
	if (w->s[j] == '"')
		return skip_string(w, i);
	while (j < w->len && strchr("0123456789+-.eEtrufalsn", w->s[j]) && w->s[j])
		j++;
	*i = j;
	return j > 0;
}

void jfault_line_column(const char *body, size_t len, size_t off, unsigned int *line,
			unsigned int *column)
{
	*line = 1;
	*column = 0;
	for (size_t i = 0; i < off && i < len; i++) {
		(*column)++;
		if (body[i] == '\n') {
			(*line)++;
			*column = 0;
		}
	}
}

void config_json_fault_place(struct err *err, const char *body, size_t len, json_t *root)
{
	struct spot w = { body, len, err->at, err->at_key, err->at_how, false, 0 };
	char words[sizeof(err->msg)];
	unsigned int line, column;
	size_t i;

	if (!err->at || err->at_off >= sizeof(err->msg))
		return;
	snprintf(words, sizeof(words), "%s", err->msg + err->at_off);
	if (err->at_how == AT_PLAIN) {
		err_set(err, true, -EINVAL, "%s", words);
		return;
	}
	i = blanks(&w, 0);
	if (!body || w.how == AT_NOWHERE || !walk(&w, &i, root, 0) || !w.found) {
		err_set(err, true, -EINVAL, "An error occurred when deserializing the json body of "
			"a request: %s.", words);
		return;
	}
	jfault_line_column(body, len, w.off, &line, &column);
	err_set(err, true, -EINVAL, "An error occurred when deserializing the json body of a "
		"request: %s at line %u column %u.", words, line, column);
}
