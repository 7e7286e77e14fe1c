/* The linker/loader script (table_loader.h), every command checked as QEMU asserts them. */
#include "firmware/table_loader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Offsets inside a command, after its u32 type. */
#define TL_OFF_NAME1 4
#define TL_OFF_NAME2 (TL_OFF_NAME1 + TL_NAME_MAX)
#define TL_OFF_ALLOC_ALIGN (TL_OFF_NAME1 + TL_NAME_MAX)
#define TL_OFF_ALLOC_ZONE (TL_OFF_ALLOC_ALIGN + 4)
#define TL_OFF_PTR_FIELDS (TL_OFF_NAME2 + TL_NAME_MAX)
#define TL_OFF_CKSUM_FIELDS (TL_OFF_NAME1 + TL_NAME_MAX)

static void put_le(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void table_loader_init(struct table_loader *tl)
{
	memset(tl, 0, sizeof(*tl));
}

void table_loader_release(struct table_loader *tl)
{
	free(tl->cmds);
	table_loader_init(tl);
}

static bool name_ok(const char *name)
{
	size_t n = name ? strnlen(name, TL_NAME_MAX) : 0;

	return n > 0 && n < TL_NAME_MAX;
}

static struct tl_file *find(struct table_loader *tl, const char *name)
{
	for (unsigned int i = 0; name && i < tl->nfiles; i++)
		if (!strcmp(tl->files[i].name, name))
			return &tl->files[i];
	return NULL;
}

/* A zeroed command of type cmd at the end, in *out. 0, -ENOSPC or -ENOMEM. */
static int cmd_add(struct table_loader *tl, uint32_t cmd, uint8_t **out, struct err *err)
{
	if (tl->ncmds == TL_CMDS_MAX)
		return err_set(err, false, -ENOSPC, "table loader: more than %d commands",
			       TL_CMDS_MAX);
	if (tl->ncmds == tl->cap) {
		unsigned int cap = tl->cap ? tl->cap * 2 : 16;
		uint8_t *p = realloc(tl->cmds, (size_t)cap * TL_CMD_SIZE);

		if (!p)
			return err_set(err, false, -ENOMEM, "out of memory");
		tl->cmds = p;
		tl->cap = cap;
	}
	*out = tl->cmds + (size_t)tl->ncmds++ * TL_CMD_SIZE;
	memset(*out, 0, TL_CMD_SIZE);
	put_le(*out, cmd, 4);
	return 0;
}

int table_loader_allocate(struct table_loader *tl, const char *file, uint8_t *blob,
			  uint32_t len, uint32_t align, enum tl_zone zone, struct err *err)
{
	struct tl_file *f;
	uint8_t *c;
	int ret;

	if (!name_ok(file) || (len && !blob))
		return err_set(err, false, -EINVAL, "table loader: a file needs a name and bytes");
	if (!align || align & (align - 1) || (zone != TL_ZONE_HIGH && zone != TL_ZONE_FSEG))
		return err_set(err, false, -EINVAL, "table loader: '%s': alignment %u, zone %d",
			       file, align, (int)zone);
	if (find(tl, file))
		return err_set(err, false, -EEXIST, "table loader: '%s' is allocated already",
			       file);
	if (tl->nfiles == TL_FILES_MAX)
		return err_set(err, false, -ENOSPC, "table loader: more than %d files",
			       TL_FILES_MAX);
	ret = cmd_add(tl, TL_CMD_ALLOCATE, &c, err);
	if (ret)
		return ret;
	memcpy(c + TL_OFF_NAME1, file, strlen(file));
	put_le(c + TL_OFF_ALLOC_ALIGN, align, 4);
	c[TL_OFF_ALLOC_ZONE] = (uint8_t)zone;
	f = &tl->files[tl->nfiles++];
	memset(f->name, 0, sizeof(f->name));
	memcpy(f->name, file, strlen(file));
	f->blob = blob;
	f->len = len;
	return 0;
}

static bool size_ok(uint8_t size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

int table_loader_add_pointer(struct table_loader *tl, const char *dest, uint32_t offset,
			     uint8_t size, const char *src, uint32_t src_offset, struct err *err)
{
	struct tl_file *d = find(tl, dest), *s = find(tl, src);
	uint8_t *c;
	int ret;

	if (!d || !s)
		return err_set(err, false, -EINVAL, "table loader: a pointer between files not "
			       "allocated");
	if (!size_ok(size) || offset > d->len || size > d->len - offset || src_offset >= s->len)
		return err_set(err, false, -EINVAL, "table loader: a %u-byte pointer at %s+%u "
			       "to %s+%u lies outside them", size, dest, offset, src, src_offset);
	/* A field too narrow for the offset it gets could only point elsewhere. */
	if (size < 8 && (uint64_t)src_offset >> (8 * size))
		return err_set(err, false, -EINVAL, "table loader: %s+%u does not fit %u bytes",
			       src, src_offset, size);
	ret = cmd_add(tl, TL_CMD_ADD_POINTER, &c, err);
	if (ret)
		return ret;
	memcpy(c + TL_OFF_NAME1, dest, strlen(dest));
	memcpy(c + TL_OFF_NAME2, src, strlen(src));
	put_le(c + TL_OFF_PTR_FIELDS, offset, 4);
	c[TL_OFF_PTR_FIELDS + 4] = size;
	put_le(d->blob + offset, src_offset, size);
	return 0;
}

int table_loader_add_checksum(struct table_loader *tl, const char *file, uint32_t start,
			      uint32_t length, uint32_t offset, struct err *err)
{
	struct tl_file *f = find(tl, file);
	uint8_t *c;
	int ret;

	if (!f)
		return err_set(err, false, -EINVAL, "table loader: a checksum in a file not "
			       "allocated");
	if (start >= f->len || length > f->len - start || offset < start ||
	    offset - start >= length)
		return err_set(err, false, -EINVAL, "table loader: %s: checksum at %u of "
			       "[%u, +%u) outside it", file, offset, start, length);
	ret = cmd_add(tl, TL_CMD_ADD_CHECKSUM, &c, err);
	if (ret)
		return ret;
	memcpy(c + TL_OFF_NAME1, file, strlen(file));
	put_le(c + TL_OFF_CKSUM_FIELDS, offset, 4);
	put_le(c + TL_OFF_CKSUM_FIELDS + 4, start, 4);
	put_le(c + TL_OFF_CKSUM_FIELDS + 8, length, 4);
	/* The firmware subtracts the sum from what is there: it must start from 0. */
	f->blob[offset] = 0;
	return 0;
}

int table_loader_write_pointer(struct table_loader *tl, const char *dest, uint32_t dst_offset,
			       uint8_t size, const char *src, uint32_t src_offset,
			       struct err *err)
{
	struct tl_file *s = find(tl, src);
	uint8_t *c;
	int ret;

	if (!name_ok(dest) || !s || !size_ok(size) || src_offset >= s->len)
		return err_set(err, false, -EINVAL, "table loader: a written-back pointer to an "
			       "unallocated file or outside it");
	ret = cmd_add(tl, TL_CMD_WRITE_POINTER, &c, err);
	if (ret)
		return ret;
	memcpy(c + TL_OFF_NAME1, dest, strlen(dest));
	memcpy(c + TL_OFF_NAME2, src, strlen(src));
	put_le(c + TL_OFF_PTR_FIELDS, dst_offset, 4);
	put_le(c + TL_OFF_PTR_FIELDS + 4, src_offset, 4);
	c[TL_OFF_PTR_FIELDS + 8] = size;
	return 0;
}
