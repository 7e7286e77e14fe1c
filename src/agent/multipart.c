/* multipart/form-data, strictly (multipart.h). */
#include "agent/multipart.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PART_HEAD_MAX (8u << 10)
#define PARAM_MAX 4096u

static bool is_token_char(char ch)
{
	return ch > 0x20 && ch < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", ch);
}

/*
 * The parameter named key in "type; a=b; c=\"d\"" (s[0..n)) into out
 * (PARAM_MAX). 1 found, 0 not there, -EINVAL malformed.
 */
static int media_param(const char *s, size_t n, const char *key, char *out)
{
	size_t i = 0;
	int found = 0;

	/* Past the type itself. */
	while (i < n && s[i] != ';')
		i++;
	while (i < n) {
		char name[64], val[PARAM_MAX];
		size_t nl = 0, vl = 0;

		i++;   /* ';' */
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == n)
			break;
		while (i < n && is_token_char(s[i]) && s[i] != '=' && nl < sizeof(name) - 1)
			name[nl++] = s[i++];
		name[nl] = '\0';
		if (!nl || i == n || s[i] != '=')
			return -EINVAL;
		i++;
		if (i < n && s[i] == '"') {
			for (i++; i < n && s[i] != '"'; i++) {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				if (vl == sizeof(val) - 1 || s[i] == '\0')
					return -EINVAL;
				val[vl++] = s[i];
			}
			if (i == n)
				return -EINVAL;
			i++;
		} else {
			while (i < n && is_token_char(s[i]) && vl < sizeof(val) - 1)
				val[vl++] = s[i++];
			if (!vl)
				return -EINVAL;
		}
		val[vl] = '\0';
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i < n && s[i] != ';')
			return -EINVAL;
		if (!found && !strcasecmp(name, key)) {
			memcpy(out, val, vl + 1);
			found = 1;
		}
	}
	return found;
}

int multipart_boundary(const char *ct, char *out, size_t n)
{
	char b[PARAM_MAX];
	size_t len;

	if (!ct || strncasecmp(ct, "multipart/form-data", 19) ||
	    (ct[19] && ct[19] != ';' && ct[19] != ' '))
		return -EINVAL;
	if (media_param(ct, strlen(ct), "boundary", b) != 1)
		return -EINVAL;
	len = strlen(b);
	if (!len || len > MULTIPART_BOUNDARY_MAX || len >= n)
		return -EINVAL;
	memcpy(out, b, len + 1);
	return 0;
}

static const uint8_t *find(const uint8_t *hay, size_t n, const char *needle, size_t nlen)
{
	return memmem(hay, n, needle, nlen);
}

static int fail(char *why, size_t n, const char *msg)
{
	snprintf(why, n, "malformed multipart body: %s", msg);
	return -EINVAL;
}

/* One part's header block h[0..hn): its name and filename into name and filename. */
static int part_headers(const char *h, size_t hn, char *name, char *filename, bool *has_file,
			char *why, size_t n)
{
	bool disposition = false;

	*has_file = false;
	while (hn) {
		const char *eol = memmem(h, hn, "\r\n", 2);
		size_t ln = eol ? (size_t)(eol - h) : hn;
		const char *colon = memchr(h, ':', ln);
		const char *v;
		size_t vn;

		if (!colon || colon == h || h[0] == ' ' || h[0] == '\t')
			return fail(why, n, "a part's header line");
		v = colon + 1;
		vn = ln - (size_t)(v - h);
		while (vn && (*v == ' ' || *v == '\t')) {
			v++;
			vn--;
		}
		while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
			vn--;
		if ((size_t)(colon - h) == 19 && !strncasecmp(h, "Content-Disposition", 19)) {
			int got;

			if (disposition || vn < 9 || strncasecmp(v, "form-data", 9) ||
			    (vn > 9 && v[9] != ';' && v[9] != ' '))
				return fail(why, n, "Content-Disposition is not form-data");
			disposition = true;
			if (media_param(v, vn, "name", name) != 1)
				return fail(why, n, "a part without a name");
			got = media_param(v, vn, "filename", filename);
			if (got < 0)
				return fail(why, n, "Content-Disposition's filename");
			*has_file = got == 1;
		} else if ((size_t)(colon - h) == 25 &&
			   !strncasecmp(h, "Content-Transfer-Encoding", 25)) {
			if (!(vn == 6 && !strncasecmp(v, "binary", 6)) &&
			    !(vn == 4 && (!strncasecmp(v, "8bit", 4) || !strncasecmp(v, "7bit", 4))))
				return fail(why, n, "an encoded part (Content-Transfer-Encoding)");
		}
		if (!eol)
			break;
		hn -= ln + 2;
		h = eol + 2;
	}
	return disposition ? 0 : fail(why, n, "a part without Content-Disposition");
}

int multipart_each(const uint8_t *body, size_t len, const char *boundary,
		   int (*fn)(void *opaque, const struct multipart_part *p), void *opaque,
		   char *why, size_t n)
{
	char delim[MULTIPART_BOUNDARY_MAX + 5];
	size_t blen = strlen(boundary), pos;
	char *name = malloc(PARAM_MAX), *filename = malloc(PARAM_MAX);
	int ret = 0;

	if (!name || !filename || blen > MULTIPART_BOUNDARY_MAX) {
		ret = name && filename ? fail(why, n, "boundary too long") : -ENOMEM;
		goto out;
	}
	/* "\r\n--B": what ends each part's data. The first has no CRLF before it. */
	snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	if (len < blen + 4 || memcmp(body, delim + 2, blen + 2) ||
	    memcmp(body + blen + 2, "\r\n", 2)) {
		ret = fail(why, n, "it does not start with its boundary");
		goto out;
	}
	pos = blen + 4;
	for (;;) {
		const uint8_t *hend, *dend;
		size_t hn;
		bool has_file;
		struct multipart_part part;

		/* The headers: up to the empty line (right away when there are none). */
		if (len - pos >= 2 && !memcmp(body + pos, "\r\n", 2)) {
			hend = body + pos;
			hn = 0;
		} else {
			hend = find(body + pos, len - pos < PART_HEAD_MAX ? len - pos : PART_HEAD_MAX,
				    "\r\n\r\n", 4);
			if (!hend) {
				ret = fail(why, n, "a part's headers do not end");
				break;
			}
			hn = (size_t)(hend - (body + pos)) + 2;
			hend += 2;
		}
		ret = part_headers((const char *)body + pos, hn ? hn - 2 : 0, name, filename,
				   &has_file, why, n);
		if (ret)
			break;
		pos = (size_t)(hend - body) + 2;
		dend = find(body + pos, len - pos, delim, blen + 4);
		if (!dend) {
			ret = fail(why, n, "a part does not end with the boundary");
			break;
		}
		part = (struct multipart_part){ .name = name, .filename = has_file ? filename : NULL,
						.data = body + pos,
						.len = (size_t)(dend - (body + pos)) };
		ret = fn(opaque, &part);
		if (ret)
			break;
		pos = (size_t)(dend - body) + blen + 4;
		if (len - pos >= 2 && !memcmp(body + pos, "--", 2))
			break;
		if (len - pos < 2 || memcmp(body + pos, "\r\n", 2)) {
			ret = fail(why, n, "what follows a boundary");
			break;
		}
		pos += 2;
	}
out:
	free(name);
	free(filename);
	return ret;
}
