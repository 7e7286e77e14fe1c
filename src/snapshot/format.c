/*
 * The snapshot file's bytes: building them, and checking them before
 * anything is restored. The parser trusts nothing in the file: every
 * length is checked against what is left before it is used, and the
 * first problem found is the one error reported.
 */
#include "snapshot/format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"
#include "util/crc32c.h"

static const char *const kind_names[] = {
	[SNAP_SEC_HOST] = "host",
	[SNAP_SEC_CONFIG] = "config",
	[SNAP_SEC_VM] = "vm",
	[SNAP_SEC_VCPU] = "vcpu",
	[SNAP_SEC_DEVICE] = "device",
};

const char *snap_kind_name(uint32_t kind)
{
	return kind >= 1 && kind <= SNAP_SEC_KIND_MAX ? kind_names[kind] : "unknown";
}

__attribute__((format(printf, 3, 4))) static int snap_fail(struct err *err, const char *name,
							   const char *fmt, ...)
{
	char why[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return err_set(err, true, -EINVAL, "snapshot %s: %s", name, why);
}

/* An id is 1 to SNAP_ID_SIZE-1 printable characters, NUL-padded to the end. */
static bool snap_id_valid(const char *id)
{
	size_t n = strnlen(id, SNAP_ID_SIZE);

	if (n == 0 || n == SNAP_ID_SIZE)
		return false;
	for (size_t i = 0; i < n; i++)
		if (id[i] <= ' ' || id[i] > '~' || id[i] == '\'')
			return false;
	for (size_t i = n; i < SNAP_ID_SIZE; i++)
		if (id[i])
			return false;
	return true;
}

const struct snap_section *snap_find(const struct snap_file *f, uint32_t kind, const char *id)
{
	for (unsigned int i = 0; i < f->nsections; i++)
		if (f->sections[i].kind == kind && !strcmp(f->sections[i].id, id))
			return &f->sections[i];
	return NULL;
}

void snap_file_release(struct snap_file *f)
{
	free(f->sections);
	memset(f, 0, sizeof(*f));
}

static int snap_parse_header(struct bytes_in *in, const char *name, uint64_t *file_size,
			     uint32_t *nsections, struct snap_file *f, struct err *err)
{
	char magic[SNAP_MAGIC_SIZE];
	uint32_t header_size;

	if (in->len < SNAP_HEADER_SIZE)
		return snap_fail(err, name, "IO Error: File too short to contain CRC (a "
				 "snapshot header needs %u bytes, the file has %zu)",
				 SNAP_HEADER_SIZE, in->len);
	bytes_get(in, magic, sizeof(magic));
	if (memcmp(magic, SNAP_MAGIC, SNAP_MAGIC_SIZE))
		return snap_fail(err, name, "not a Hearth snapshot (bad magic)");
	f->format_version = bytes_get_u32(in);
	if (f->format_version != SNAP_FORMAT_VERSION)
		return snap_fail(err, name,
				 "format version %" PRIu32 ", this Hearth reads version %u",
				 f->format_version, SNAP_FORMAT_VERSION);
	header_size = bytes_get_u32(in);
	if (header_size != SNAP_HEADER_SIZE)
		return snap_fail(err, name, "bad header size %" PRIu32 " (expected %u)",
				 header_size, SNAP_HEADER_SIZE);
	*file_size = bytes_get_u64(in);
	*nsections = bytes_get_u32(in);
	(void)bytes_get_u32(in); /* the CRC, checked last over the whole file */
	bytes_get(in, f->hearth_version, SNAP_VERSION_SIZE);
	/* NUL-terminated and NUL-padded, as the writer leaves it: anything else is damage. */
	{
		size_t n = strnlen(f->hearth_version, SNAP_VERSION_SIZE);

		for (size_t i = n; i < SNAP_VERSION_SIZE; i++)
			if (f->hearth_version[i])
				n = SNAP_VERSION_SIZE;
		if (n == SNAP_VERSION_SIZE)
			return snap_fail(err, name, "malformed Hearth version string");
	}
	if (*nsections > SNAP_MAX_SECTIONS)
		return snap_fail(err, name, "%" PRIu32 " sections (at most %u)", *nsections,
				 SNAP_MAX_SECTIONS);
	return 0;
}

static int snap_parse_section(struct bytes_in *in, const char *name, unsigned int i,
			      unsigned int total, const struct snap_file *f, struct snap_section *s,
			      struct err *err)
{
	if (bytes_in_left(in) < SNAP_SECTION_HEADER_SIZE)
		return snap_fail(err, name,
				 "section %u of %u is truncated (its header needs %u bytes, %zu left)",
				 i + 1, total, SNAP_SECTION_HEADER_SIZE, bytes_in_left(in));
	s->kind = bytes_get_u32(in);
	s->version = bytes_get_u32(in);
	s->len = bytes_get_u64(in);
	bytes_get(in, s->id, SNAP_ID_SIZE);
	if (!snap_id_valid(s->id))
		return snap_fail(err, name, "section %u of %u has a malformed id", i + 1,
				 total);
	if (s->kind < 1 || s->kind > SNAP_SEC_KIND_MAX)
		return snap_fail(err, name, "section '%s' has unknown kind %" PRIu32, s->id,
				 s->kind);
	if (s->len > bytes_in_left(in))
		return snap_fail(err, name,
				 "section '%s' is truncated (needs %" PRIu64 " bytes, %zu left)", s->id,
				 s->len, bytes_in_left(in));
	if (snap_find(f, s->kind, s->id))
		return snap_fail(err, name, "%s section '%s' appears twice",
				 snap_kind_name(s->kind), s->id);
	s->data = in->p + in->off;
	in->off += (size_t)s->len;
	return 0;
}

int snap_parse(const void *buf, size_t len, const char *name, struct snap_file *f, struct err *err)
{
	struct bytes_in in = bytes_in_init(buf, len);
	uint32_t nsections = 0, want_crc, crc;
	uint64_t file_size = 0;
	uint8_t zero[4] = { 0 };
	int ret;

	memset(f, 0, sizeof(*f));
	err->msg[0] = '\0';
	ret = snap_parse_header(&in, name, &file_size, &nsections, f, err);
	if (ret)
		goto err_release;
	/* Bounded by SNAP_MAX_SECTIONS; a count the file cannot hold fails in the walk. */
	f->sections = calloc(nsections ? nsections : 1, sizeof(*f->sections));
	if (!f->sections) {
		ret = -ENOMEM;
		goto err_release;
	}
	for (unsigned int i = 0; i < nsections; i++) {
		f->nsections = i;
		ret = snap_parse_section(&in, name, i, nsections, f, &f->sections[i], err);
		if (ret)
			goto err_release;
	}
	f->nsections = nsections;
	if (file_size != len) {
		ret = snap_fail(err, name, "the header says %" PRIu64 " bytes, the file has %zu",
				file_size, len);
		goto err_release;
	}
	if (in.off != len) {
		ret = snap_fail(err, name, "%zu bytes after the last section", len - in.off);
		goto err_release;
	}
	in = bytes_in_init((const uint8_t *)buf + SNAP_CRC_OFFSET, 4);
	want_crc = bytes_get_u32(&in);
	crc = crc32c(0, buf, SNAP_CRC_OFFSET);
	crc = crc32c(crc, zero, sizeof(zero));
	crc = crc32c(crc, (const uint8_t *)buf + SNAP_CRC_OFFSET + 4, len - SNAP_CRC_OFFSET - 4);
	if (crc != want_crc) {
		ret = snap_fail(err, name,
				"corrupt: CRC 0x%08" PRIx32 " does not match the header's 0x%08" PRIx32,
				crc, want_crc);
		goto err_release;
	}
	return 0;

err_release:
	snap_file_release(f);
	return ret;
}

void snap_builder_init(struct snap_builder *b)
{
	memset(b, 0, sizeof(*b));
	b->len = SNAP_HEADER_SIZE; /* filled in by finish */
}

void snap_builder_release(struct snap_builder *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

static int snap_builder_reserve(struct snap_builder *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;
	uint8_t *grown;

	if (more > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	while (cap < b->len + more)
		cap *= 2;
	if (cap == b->cap)
		return 0;
	grown = realloc(b->buf, cap);
	if (!grown)
		return -ENOMEM;
	memset(grown + b->cap, 0, cap - b->cap);
	b->buf = grown;
	b->cap = cap;
	return 0;
}

/* Checks the section's identity and writes its header with length len. */
static int snap_builder_start(struct snap_builder *b, uint32_t kind, const char *id,
			      uint32_t version, size_t len)
{
	struct bytes_out o;
	char padded[SNAP_ID_SIZE] = { 0 };
	size_t idlen = id ? strlen(id) : 0;
	size_t at = SNAP_HEADER_SIZE;
	int ret;

	if (kind < 1 || kind > SNAP_SEC_KIND_MAX || idlen == 0 || idlen >= SNAP_ID_SIZE ||
	    b->nsections >= SNAP_MAX_SECTIONS)
		return -EINVAL;
	memcpy(padded, id, idlen);
	if (!snap_id_valid(padded))
		return -EINVAL;
	/* Walk what is there: one kind and id once, as the parser insists. */
	for (unsigned int i = 0; i < b->nsections; i++) {
		struct bytes_in in = bytes_in_init(b->buf + at, b->len - at);
		uint32_t k = bytes_get_u32(&in);
		uint64_t l;

		(void)bytes_get_u32(&in);
		l = bytes_get_u64(&in);
		if (k == kind && !memcmp(b->buf + at + 16, padded, SNAP_ID_SIZE))
			return -EEXIST;
		at += SNAP_SECTION_HEADER_SIZE + (size_t)l;
	}
	ret = snap_builder_reserve(b, SNAP_SECTION_HEADER_SIZE + len);
	if (ret)
		return ret;
	o = bytes_out_init(b->buf + b->len, SNAP_SECTION_HEADER_SIZE);
	bytes_put_u32(&o, kind);
	bytes_put_u32(&o, version);
	bytes_put_u64(&o, len);
	bytes_put(&o, padded, SNAP_ID_SIZE);
	return 0;
}

int snap_builder_add(struct snap_builder *b, uint32_t kind, const char *id, uint32_t version,
		     const void *data, size_t len)
{
	int ret;

	if (b->err)
		return b->err;
	ret = snap_builder_start(b, kind, id, version, len);
	if (ret)
		return b->err = ret;
	if (len)
		memcpy(b->buf + b->len + SNAP_SECTION_HEADER_SIZE, data, len);
	b->len += SNAP_SECTION_HEADER_SIZE + len;
	b->nsections++;
	return 0;
}

int snap_builder_add_saved(struct snap_builder *b, uint32_t kind, const char *id,
			   uint32_t version,
			   int (*save)(void *ctx, struct bytes_out *o, struct err *err), void *ctx,
			   struct err *err)
{
	struct bytes_out o = bytes_out_growing();
	size_t len;
	int ret;

	if (b->err)
		return b->err;
	/* Saved once, whatever its size: a save may take what it saves (the dirty log). */
	ret = save(ctx, &o, err);
	if (!ret)
		ret = bytes_out_finish(&o, &len);
	if (!ret)
		ret = snap_builder_add(b, kind, id, version, o.buf, len);
	free(o.buf);
	return ret ? (b->err = ret) : 0;
}

int snap_builder_finish(struct snap_builder *b, const char *hearth_version, void **buf,
			size_t *len)
{
	char version[SNAP_VERSION_SIZE] = { 0 };
	struct bytes_out o;
	uint32_t crc;
	int ret = b->err;

	if (!ret)
		ret = snap_builder_reserve(b, 0);
	if (ret) {
		snap_builder_release(b);
		return ret;
	}
	snprintf(version, sizeof(version), "%s", hearth_version ? hearth_version : "");
	o = bytes_out_init(b->buf, SNAP_HEADER_SIZE);
	bytes_put(&o, SNAP_MAGIC, SNAP_MAGIC_SIZE);
	bytes_put_u32(&o, SNAP_FORMAT_VERSION);
	bytes_put_u32(&o, SNAP_HEADER_SIZE);
	bytes_put_u64(&o, b->len);
	bytes_put_u32(&o, b->nsections);
	bytes_put_u32(&o, 0);
	bytes_put(&o, version, SNAP_VERSION_SIZE);
	crc = crc32c(0, b->buf, b->len);
	o = bytes_out_init(b->buf + SNAP_CRC_OFFSET, 4);
	bytes_put_u32(&o, crc);
	*buf = b->buf;
	*len = b->len;
	b->buf = NULL;
	snap_builder_release(b);
	return 0;
}
