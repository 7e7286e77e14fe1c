/*
 * Saved state as flat little-endian bytes: what device save/restore, the
 * vCPU records and the snapshot file are written in. A writer counts on
 * past the end of its buffer, so one call with too small a buffer learns
 * the size it needs; a reader never reads past its end and remembers the
 * first short read, so a restore checks once, at the end.
 *
 * A device's state begins with a 4-byte tag and a u32 version
 * (bytes_put_tag). Restores return 0 or one of:
 *   -ENODATA  the buffer ends before the state does (truncated)
 *   -EPROTO   the tag matches but the version is not the one this build reads
 *   -EINVAL   another device's state, a value out of range, or bytes left over
 */
#ifndef HEARTH_UTIL_BYTES_H
#define HEARTH_UTIL_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BYTES_TAG_SIZE 4
#define BYTES_HDR_SIZE 8 /* tag + version */

struct bytes_out {
	uint8_t *buf;      /* may be NULL when cap is 0: only counting */
	size_t cap;
	size_t len;        /* bytes written, or that would have been */
	bool grow;         /* buf is malloc'ed and grows to fit (bytes_out_growing) */
	bool oom;          /* growing failed: finish says -ENOMEM */
};

struct bytes_in {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool short_read;   /* a get ran past the end; everything after reads 0 */
	size_t need;       /* at the first short read: bytes it needed */
	bool bad;          /* a value no save writes (a bool not 0 or 1) */
};

static inline struct bytes_out bytes_out_init(void *buf, size_t cap)
{
	return (struct bytes_out){ .buf = buf, .cap = buf ? cap : 0 };
}

/* A buffer that grows to take whatever is put: one save, whatever its size. free() buf. */
static inline struct bytes_out bytes_out_growing(void)
{
	return (struct bytes_out){ .grow = true };
}

static inline struct bytes_in bytes_in_init(const void *p, size_t len)
{
	return (struct bytes_in){ .p = p, .len = p ? len : 0 };
}

void bytes_put(struct bytes_out *o, const void *data, size_t len);
void bytes_put_u8(struct bytes_out *o, uint8_t v);
void bytes_put_u16(struct bytes_out *o, uint16_t v);
void bytes_put_u32(struct bytes_out *o, uint32_t v);
void bytes_put_u64(struct bytes_out *o, uint64_t v);
/* tag: exactly BYTES_TAG_SIZE characters ("UART"). */
void bytes_put_tag(struct bytes_out *o, const char *tag, uint32_t version);
/*
 * Ends a save: *len becomes the bytes written (or needed); returns 0,
 * -ENOSPC when they did not fit in the buffer, or -ENOMEM when a growing
 * one could not grow.
 */
int bytes_out_finish(const struct bytes_out *o, size_t *len);

/* Copies len bytes or, past the end, zeroes them and marks the read short. */
void bytes_get(struct bytes_in *in, void *data, size_t len);
uint8_t bytes_get_u8(struct bytes_in *in);
uint16_t bytes_get_u16(struct bytes_in *in);
uint32_t bytes_get_u32(struct bytes_in *in);
uint64_t bytes_get_u64(struct bytes_in *in);
bool bytes_get_bool(struct bytes_in *in);  /* a byte that must be 0 or 1; else -EINVAL at the end */
/* Checks the tag and version; 0, -ENODATA, -EINVAL (another tag) or -EPROTO. */
int bytes_get_tag(struct bytes_in *in, const char *tag, uint32_t version);
static inline size_t bytes_in_left(const struct bytes_in *in)
{
	return in->len - in->off;
}
/* Ends a restore: 0, -ENODATA after a short read, -EINVAL for a bad value or bytes left over. */
int bytes_in_finish(const struct bytes_in *in);
/*
 * Checks a record that is its tag and version and nothing else (a part
 * with no state still saves one, so a restore without it is refused).
 */
int bytes_check_bare(const void *in, size_t len, const char *tag, uint32_t version);

#endif
