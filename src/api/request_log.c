/* Firecracker's request line (request_log.h). */
#include "api/request_log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Appends at *pos, keeping room for the terminator; false once out is full. */
static bool put(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
	if (*pos + n + 1 > cap) {
		n = cap - *pos - 1;
		memcpy(out + *pos, s, n);
		*pos += n;
		return false;
	}
	memcpy(out + *pos, s, n);
	*pos += n;
	return true;
}

/* The length of the valid UTF-8 sequence at p (of at most left bytes), 0 if it is not one. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
	size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
		 : (*p & 0xf8) == 0xf0 ? 4 : 0;
	uint32_t cp;

	if (!n || n > left)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	cp = n == 1 ? p[0] : n == 2 ? (p[0] & 0x1fu) << 6 | (p[1] & 0x3f)
	   : n == 3 ? (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3f)
	   : (p[0] & 0x07u) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3f);
	/* Overlong forms, surrogates and past U+10FFFF are not UTF-8. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static bool utf8_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = utf8_len((const unsigned char *)s + i, len - i);

		if (!n)
			return false;
		i += n;
	}
	return true;
}

/* s quoted as Rust's {:?} quotes a str: \" \\ \n \r \t \0, other controls \u{..}. */
static bool quote(char *out, size_t cap, size_t *pos, const char *s, size_t len)
{
	char esc[16];

	if (!put(out, cap, pos, "\"", 1))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *e = NULL;

		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		case '\0': e = "\\0"; break;
		default:
			if (c < 0x20 || c == 0x7f) {
				snprintf(esc, sizeof(esc), "\\u{%x}", c);
				e = esc;
			}
			break;
		}
		if (e ? !put(out, cap, pos, e, strlen(e)) : !put(out, cap, pos, s + i, 1))
			return false;
	}
	return put(out, cap, pos, "\"", 1);
}

static const char *method_name(const char *m)
{
	static const char *const names[][2] = {
		{ "GET", "Get" }, { "PUT", "Put" }, { "PATCH", "Patch" }, { "DELETE", "Delete" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(m, names[i][0]))
			return names[i][1];
	return m;
}

void api_request_describe(char *out, size_t cap, const char *method, const char *path,
			  const char *body, size_t len, bool debug)
{
	const char *m = method_name(method);
	size_t pos = 0;

	if (!cap)
		return;
	out[0] = '\0';
	if (!put(out, cap, &pos, m, strlen(m)) || !put(out, cap, &pos, " request on ", 12) ||
	    !quote(out, cap, &pos, path, strlen(path)))
		goto out;
	if (!body || !len || !strcmp(path, "/mmds"))
		goto out;
	if (!strcmp(path, "/cpu-config") && !debug) {
		static const char more[] = ". To view the CPU template received by the API, "
					   "configure log-level to DEBUG";

		put(out, cap, &pos, more, sizeof(more) - 1);
		goto out;
	}
	if (!put(out, cap, &pos, " with body ", 11))
		goto out;
	if (utf8_valid(body, len))
		quote(out, cap, &pos, body, len);
	else
		quote(out, cap, &pos, "inconvertible to UTF-8", 22);
out:
	out[pos] = '\0';
}
