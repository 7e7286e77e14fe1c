#include "util/bytes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A growing buffer takes len more bytes: doubled until they fit. False when it cannot. */
static bool bytes_out_reserve(struct bytes_out *o, size_t len)
{
	size_t cap = o->cap ? o->cap : 256;
	uint8_t *grown;

	if (o->oom || len > SIZE_MAX / 2 - o->len)
		return false;
	while (cap < o->len + len)
		cap *= 2;
	if (cap == o->cap)
		return true;
	grown = realloc(o->buf, cap);
	if (!grown)
		return false;
	o->buf = grown;
	o->cap = cap;
	return true;
}

void bytes_put(struct bytes_out *o, const void *data, size_t len)
{
	if (o->grow && len > o->cap - o->len && !bytes_out_reserve(o, len))
		o->oom = true;
	/* Counting goes on past cap so a failed save still reports the size it needs. */
	if (o->len <= o->cap && len <= o->cap - o->len && len)
		memcpy(o->buf + o->len, data, len);
	o->len += len;
}

void bytes_put_u8(struct bytes_out *o, uint8_t v)
{
	bytes_put(o, &v, 1);
}

void bytes_put_u16(struct bytes_out *o, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	bytes_put(o, b, sizeof(b));
}

void bytes_put_u32(struct bytes_out *o, uint32_t v)
{
	uint8_t b[4];

	for (unsigned int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bytes_put(o, b, sizeof(b));
}

void bytes_put_u64(struct bytes_out *o, uint64_t v)
{
	uint8_t b[8];

	for (unsigned int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bytes_put(o, b, sizeof(b));
}

void bytes_put_tag(struct bytes_out *o, const char *tag, uint32_t version)
{
	bytes_put(o, tag, BYTES_TAG_SIZE);
	bytes_put_u32(o, version);
}

int bytes_out_finish(const struct bytes_out *o, size_t *len)
{
	*len = o->len;
	if (o->oom)
		return -ENOMEM;
	return o->len <= o->cap ? 0 : -ENOSPC;
}

void bytes_get(struct bytes_in *in, void *data, size_t len)
{
	if (!in->short_read && len <= in->len - in->off) {
		if (len)
			memcpy(data, in->p + in->off, len);
		in->off += len;
		return;
	}
	if (!in->short_read) {
		in->short_read = true;
		in->need = len;
	}
	if (len)
		memset(data, 0, len);
}

uint8_t bytes_get_u8(struct bytes_in *in)
{
	uint8_t v;

	bytes_get(in, &v, 1);
	return v;
}

uint16_t bytes_get_u16(struct bytes_in *in)
{
	uint8_t b[2];

	bytes_get(in, b, sizeof(b));
	return (uint16_t)(b[0] | b[1] << 8);
}

uint32_t bytes_get_u32(struct bytes_in *in)
{
	uint8_t b[4];
	uint32_t v = 0;

	bytes_get(in, b, sizeof(b));
	for (unsigned int i = 0; i < 4; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

uint64_t bytes_get_u64(struct bytes_in *in)
{
	uint8_t b[8];
	uint64_t v = 0;

	bytes_get(in, b, sizeof(b));
	for (unsigned int i = 0; i < 8; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

bool bytes_get_bool(struct bytes_in *in)
{
	uint8_t v = bytes_get_u8(in);

	/* Anything but 0 or 1 is corruption, reported once, at the end. */
	if (v > 1)
		in->bad = true;
	return v == 1;
}

int bytes_get_tag(struct bytes_in *in, const char *tag, uint32_t version)
{
	char got[BYTES_TAG_SIZE];
	uint32_t v;

	bytes_get(in, got, sizeof(got));
	v = bytes_get_u32(in);
	if (in->short_read)
		return -ENODATA;
	if (memcmp(got, tag, BYTES_TAG_SIZE))
		return -EINVAL;
	return v == version ? 0 : -EPROTO;
}

int bytes_in_finish(const struct bytes_in *in)
{
	if (in->short_read)
		return -ENODATA;
	return !in->bad && in->off == in->len ? 0 : -EINVAL;
}

int bytes_check_bare(const void *in, size_t len, const char *tag, uint32_t version)
{
	struct bytes_in r = bytes_in_init(in, len);
	int ret = bytes_get_tag(&r, tag, version);

	return ret ? ret : bytes_in_finish(&r);
}
