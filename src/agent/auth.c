/* The access token and the Basic user (auth.h). */
#include "agent/auth.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "agent/http.h"
#include "agent/pjson.h"

bool auth_token_ok(const struct agent *a, const struct http_req *r)
{
	const char *got = http_header(r, "X-Access-Token");
	size_t want_len, got_len;
	unsigned char diff = 0;

	if (!a->token)
		return true;
	if (!got)
		return false;
	want_len = strlen(a->token);
	got_len = strlen(got);
	/* Every byte of the token is looked at whatever was sent: the time says nothing of it. */
	for (size_t i = 0; i < want_len; i++)
		diff |= (unsigned char)a->token[i] ^ (unsigned char)(i < got_len ? got[i] : 0);
	return !diff && got_len == want_len;
}

int auth_basic_user(const struct http_req *r, char *name, size_t n)
{
	const char *h = http_header(r, "Authorization");
	uint8_t *dec;
	size_t len;
	const char *colon;
	int ret;

	if (!h)
		return -ENOENT;
	if (strncasecmp(h, "Basic ", 6))
		return -EINVAL;
	h += 6;
	while (*h == ' ')
		h++;
	ret = b64_decode(h, strlen(h), &dec, &len);
	if (ret)
		return -EINVAL;
	colon = memchr(dec, ':', len);
	/* The user is what precedes the first ':' (RFC 7617); one with a NUL is no user. */
	if (!colon || memchr(dec, '\0', (size_t)(colon - (char *)dec)) ||
	    (size_t)(colon - (char *)dec) >= n) {
		free(dec);
		return -EINVAL;
	}
	memcpy(name, dec, (size_t)(colon - (char *)dec));
	name[colon - (char *)dec] = '\0';
	free(dec);
	return 0;
}
