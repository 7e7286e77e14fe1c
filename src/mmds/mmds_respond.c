/*
 * The guest's side of the MMDS: one HTTP request, already parsed, into
 * Firecracker's answer (its mmds/mod.rs convert_to_response, data_store.rs
 * get_value, token.rs), status and words alike. V1 answers a GET with or
 * without a token (a wrong one too); V2 wants a live token from PUT
 * /latest/api/token. Every answer is built under the store's lock from
 * memory alone, bounded by the size limit.
 */
#include "mmds/mmds.h"
#include "mmds/mmds_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define TEXT "text/plain"
#define JSON "application/json"
#define TOKEN_PATH "/latest/api/token"
/* Firecracker rejects longer tokens before looking at them. */
#define TOKEN_LENGTH_LIMIT 70
#define NS_PER_S 1000000000ull

static void answer(struct mmds_response *r, unsigned int status, const char *type, char *body)
{
	r->status = status;
	r->content_type = type;
	r->body = body;
	r->body_len = body ? strlen(body) : 0;
	if (!body && status == 200) {
		/* Out of memory for a 200's body: say so rather than send an empty success. */
		r->status = 500;
		r->content_type = TEXT;
	}
}

static void textf(struct mmds_response *r, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void textf(struct mmds_response *r, unsigned int status, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	answer(r, s ? status : 500, TEXT, s);
}

/* The path without its query, "//" collapsed: Firecracker's sanitize_uri. */
static char *sanitize(const char *path, size_t n)
{
	char *s = malloc(n + 1), *d = s;

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (path[i] != '/' || d == s || d[-1] != '/')
			*d++ = path[i];
	*d = '\0';
	return s;
}

/* A JSON pointer's array index as serde_json reads one: digits, no leading zero. */
static bool array_index(const char *t, size_t n, size_t *out)
{
	size_t v = 0;

	if (!n || n > 19 || (t[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (t[i] < '0' || t[i] > '9')
			return false;
		v = v * 10 + (size_t)(t[i] - '0');
	}
	*out = v;
	return true;
}

/* RFC 6901 over doc ("" is doc itself; "~1" is '/', "~0" is '~'); NULL: no such value. */
static json_t *pointer(json_t *doc, const char *p)
{
	char key[256], *big = NULL;
	json_t *v = doc;

	if (!*p)
		return doc;
	if (*p != '/')
		return NULL;
	while (v && *p == '/') {
		const char *t = ++p, *end = strchrnul(t, '/');
		size_t n = (size_t)(end - t), k = 0, idx;
		char *buf = key;

		if (n >= sizeof(key)) {
			buf = big = realloc(big, n + 1);
			if (!buf)
				return NULL;
		}
		for (size_t i = 0; i < n; i++) {
			if (t[i] == '~' && i + 1 < n && (t[i + 1] == '0' || t[i + 1] == '1')) {
				buf[k++] = t[i + 1] == '0' ? '~' : '/';
				i++;
			} else {
				buf[k++] = t[i];
			}
		}
		buf[k] = '\0';
		if (json_is_object(v))
			v = json_object_getn(v, buf, k);
		else if (json_is_array(v) && array_index(t, n, &idx))
			v = json_array_get(v, idx);
		else
			v = NULL;
		p = end;
	}
	free(big);
	return v;
}

static int keycmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * IMDS's text: an object's keys, one a line in key order, '/' after those
 * holding objects; a string as it is; NULL with *unsupported for the rest.
 */
static char *imds_text(json_t *v, bool *unsupported)
{
	size_t n, len = 0, i = 0;
	const char **keys;
	const char *key;
	json_t *child;
	char *s, *d;

	*unsupported = false;
	if (json_is_string(v))
		return strndup(json_string_value(v), json_string_length(v));
	if (!json_is_object(v)) {
		*unsupported = true;
		return NULL;
	}
	n = json_object_size(v);
	keys = calloc(n ? n : 1, sizeof(*keys));
	if (!keys)
		return NULL;
	json_object_foreach(v, key, child) {
		keys[i++] = key;
		len += strlen(key) + 2;
	}
	qsort(keys, n, sizeof(*keys), keycmp);
	s = d = malloc(len + 1);
	for (i = 0; s && i < n; i++) {
		d = stpcpy(d, keys[i]);
		if (json_is_object(json_object_get(v, keys[i])))
			*d++ = '/';
		if (i + 1 < n)
			*d++ = '\n';
	}
	if (s)
		*d = '\0';
	free(keys);
	return s;
}

static bool wants_json(const char *accept)
{
	return accept && strcasestr(accept, JSON);
}

static void get_value(struct mmds *m, const struct mmds_request *req, const char *uri,
		      const char *path, struct mmds_response *r)
{
	size_t n = strlen(path);
	bool json = wants_json(req->accept) && !m->imds_compat, unsupported;
	json_t *null = json_null(), *doc = m->data ? m->data : null, *v;
	char *p = strndup(path, n && path[n - 1] == '/' ? n - 1 : n), *body;

	v = p ? pointer(doc, p) : NULL;
	free(p);
	if (!v) {
		textf(r, 404, "Resource not found: %s.", uri);
		return;
	}
	if (json) {
		answer(r, 200, JSON, json_dumps(v, MMDS_DUMP_FLAGS));
		return;
	}
	body = imds_text(v, &unsupported);
	if (unsupported)
		textf(r, 501, "Cannot retrieve value. The value has an unsupported type.");
	else
		answer(r, 200, TEXT, body);
}

/* Drops expired tokens; the live one equal to text, if any. */
static bool token_valid(struct mmds *m, const char *text, uint64_t now_ns)
{
	size_t n = strlen(text);
	bool found = false;

	if (n != MMDS_TOKEN_LEN || n > TOKEN_LENGTH_LIMIT || !m->tokens)
		return false;
	for (int i = 0; i < MMDS_TOKENS_MAX; i++) {
		struct mmds_token *t = &m->tokens[i];
		unsigned char diff = 0;

		if (!t->text[0])
			continue;
		if (t->expiry_ns <= now_ns) {
			explicit_bzero(t, sizeof(*t));
			continue;
		}
		/* Every byte compared: the time taken says nothing of how much matched. */
		for (size_t k = 0; k < MMDS_TOKEN_LEN; k++)
			diff |= (unsigned char)(t->text[k] ^ text[k]);
		found |= diff == 0;
	}
	return found;
}

static void b64(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i + 2 < n; i += 3) {
		unsigned int w = (unsigned int)in[i] << 16 | (unsigned int)in[i + 1] << 8 | in[i + 2];

		*out++ = a[w >> 18 & 63];
		*out++ = a[w >> 12 & 63];
		*out++ = a[w >> 6 & 63];
		*out++ = a[w & 63];
	}
	*out = '\0';
}

/* A new token living ttl seconds, in the free slot, an expired one, or the one nearest its end. */
static int token_new(struct mmds *m, unsigned int ttl, uint64_t now_ns, char *out)
{
	unsigned char raw[MMDS_TOKEN_BYTES];
	struct mmds_token *slot;
	ssize_t got;

	if (!m->tokens) {
		m->tokens = calloc(MMDS_TOKENS_MAX, sizeof(*m->tokens));
		if (!m->tokens)
			return -ENOMEM;
	}
	slot = &m->tokens[0];
	got = getrandom(raw, sizeof(raw), GRND_NONBLOCK);
	if (got != (ssize_t)sizeof(raw))
		return got < 0 ? -errno : -EIO;
	for (int i = 0; i < MMDS_TOKENS_MAX; i++) {
		struct mmds_token *t = &m->tokens[i];

		if (!t->text[0] || t->expiry_ns <= now_ns) {
			slot = t;
			break;
		}
		if (t->expiry_ns < slot->expiry_ns)
			slot = t;
	}
	b64(raw, sizeof(raw), slot->text);
	explicit_bzero(raw, sizeof(raw));
	slot->expiry_ns = now_ns + (uint64_t)ttl * NS_PER_S;
	memcpy(out, slot->text, MMDS_TOKEN_LEN + 1);
	return 0;
}

/* Rust's u32 parse: an optional '+', then decimal digits only. */
static bool parse_u32(const char *s, unsigned long long *out)
{
	unsigned long long v = 0;

	if (*s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long long)(*s - '0');
		if (v > 0xffffffffull)
			return false;
	}
	*out = v;
	return true;
}

static void put_token(struct mmds *m, const struct mmds_request *req, const char *uri,
		      const char *path, uint64_t now_ns, struct mmds_response *r)
{
	char token[MMDS_TOKEN_LEN + 1];
	unsigned long long ttl;

	if (req->forwarded) {
		textf(r, 400, "Invalid header. Reason: Unsupported header name. Key: "
		      "X-Forwarded-For");
		return;
	}
	if (strcmp(path, TOKEN_PATH) != 0) {
		textf(r, 404, "Resource not found: %s.", uri);
		return;
	}
	if (!req->ttl) {
		textf(r, 400, "Token time to live value not found. Use "
		      "`X-metadata-token-ttl-seconds` or `X-aws-ec2-metadata-token-ttl-seconds` "
		      "header to specify the token's lifetime.");
		return;
	}
	if (!parse_u32(req->ttl, &ttl)) {
		textf(r, 400, "Invalid header. Reason: Invalid value. "
		      "Key:X-metadata-token-ttl-seconds; Value:%.128s", req->ttl);
		return;
	}
	if (ttl < MMDS_TOKEN_TTL_MIN || ttl > MMDS_TOKEN_TTL_MAX) {
		textf(r, 400, "Invalid time to live value provided for token: %llu. Please "
		      "provide a value between %d and %d.", ttl, MMDS_TOKEN_TTL_MIN,
		      MMDS_TOKEN_TTL_MAX);
		return;
	}
	if (token_new(m, (unsigned int)ttl, now_ns, token)) {
		textf(r, 500, "Failed to generate token.");
		return;
	}
	answer(r, 200, TEXT, strdup(token));
	explicit_bzero(token, sizeof(token));
}

static void get(struct mmds *m, const struct mmds_request *req, const char *uri,
		const char *path, uint64_t now_ns, struct mmds_response *r)
{
	bool valid = req->token && token_valid(m, req->token, now_ns);

	/* V1 takes any token, or none, as Firecracker; both count the missing and bad ones. */
	if (!req->token)
		m->rx_no_token++;
	else if (!valid)
		m->rx_invalid_token++;
	if (m->version == MMDS_V2) {
		if (!req->token) {
			textf(r, 401, "No MMDS token provided. Use `X-metadata-token` or "
			      "`X-aws-ec2-metadata-token` header to specify the session token.");
			return;
		}
		if (!valid) {
			textf(r, 401, "MMDS token not valid.");
			return;
		}
	}
	get_value(m, req, uri, path, r);
}

void mmds_respond(struct mmds *m, const struct mmds_request *req, uint64_t now_ns,
		  struct mmds_response *r)
{
	const char *path = req->path ? req->path : "";
	size_t n = strcspn(path, "?#");
	char *uri, *clean;

	memset(r, 0, sizeof(*r));
	if (!n) {
		textf(r, 400, "Invalid URI.");
		return;
	}
	uri = strndup(path, n);
	clean = uri ? sanitize(uri, n) : NULL;
	if (!clean) {
		free(uri);
		answer(r, 500, TEXT, NULL);
		return;
	}
	pthread_mutex_lock(&m->lock);
	if (req->method && !strcmp(req->method, "GET"))
		get(m, req, uri, clean, now_ns, r);
	else if (req->method && !strcmp(req->method, "PUT"))
		put_token(m, req, uri, clean, now_ns, r);
	else
		textf(r, 405, "Not allowed HTTP method.");
	pthread_mutex_unlock(&m->lock);
	free(clean);
	free(uri);
}

void mmds_token_counts(struct mmds *m, uint64_t *no_token, uint64_t *invalid_token)
{
	pthread_mutex_lock(&m->lock);
	*no_token = m->rx_no_token;
	*invalid_token = m->rx_invalid_token;
	pthread_mutex_unlock(&m->lock);
}
