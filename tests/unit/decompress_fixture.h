/*
 * Shared by the decompression tests (test_decompress, test_decompress_formats):
 * a payload in the kernel build's shape, the checks every format gets
 * (a round trip; cut, flipped and bomb streams refused in words), and a
 * bzImage around a payload.
 */
#ifndef HEARTH_TESTS_DECOMPRESS_FIXTURE_H
#define HEARTH_TESTS_DECOMPRESS_FIXTURE_H

#include <asm/bootparam.h>
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/decompress.h"
#include "boot/loader.h"
#include "util/file.h"

#define HDR_OFF 0x1f1

struct buf {
	uint8_t *p;
	size_t n;
};

static inline void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The kernel build's shape: the stream, then (but for gzip) its size. */
static inline struct buf with_size(uint8_t *stream, size_t n, size_t size, int trailer)
{
	struct buf b = { realloc(stream, n + 4), n + (trailer ? 4 : 0) };

	assert_non_null(b.p);
	if (trailer)
		put_le32(b.p + n, (uint32_t)size);
	return b;
}

static inline void *sym(const char *so, const char *name)
{
	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);

	assert_non_null(h);
	assert_non_null(dlsym(h, name));
	return dlsym(h, name);
}

static inline uint8_t *sample(size_t n)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u) >> (i % 7 ? 24 : 3));
	return p;
}

typedef struct buf (*compressor)(const uint8_t *, size_t);

static inline void round_trip(compressor c, enum kcomp k, size_t n)
{
	uint8_t *in = sample(n), *out;
	struct buf b = c(in, n);
	struct err err = ERR_INIT;
	size_t len;

	assert_int_equal(decompress_kind(b.p, b.n), k);
	assert_int_equal(decompress_payload(b.p, b.n, 0, &out, &len, &err), 0);
	assert_int_equal(len, n);
	assert_memory_equal(out, in, n);
	file_buf_free(out, len);
	free(b.p);
	free(in);
}

/* Cut short, a byte flipped, a bomb (declared smaller than it expands), an absurd size. */
static inline void hostile(compressor c, int trailer)
{
	uint8_t *in = sample(200000), *out = (uint8_t *)1;
	struct buf b = c(in, 200000);
	struct err err = ERR_INIT;
	size_t len = 7;
	uint8_t keep[4];
	int ret;

	/* Truncated: the stream cut, its trailer kept. */
	memcpy(keep, b.p + b.n - 4, 4);
	memcpy(b.p + b.n / 2, keep, 4);
	ret = decompress_payload(b.p, b.n / 2 + 4, 0, &out, &len, &err);
	assert_int_equal(ret, -EINVAL);
	assert_null(out);
	assert_int_equal(len, 0);
	free(b.p);
	b = c(in, 200000);
	/*
	 * A byte flipped in the middle: refused, or (zstd and LZ4 carry no
	 * checksum here) other bytes of the declared length, never more;
	 * the ELF check comes after.
	 */
	b.p[b.n / 2] ^= 0x55;
	ret = decompress_payload(b.p, b.n, 0, &out, &len, &err);
	assert_true(ret == -EINVAL || ret == -EFBIG || (ret == 0 && len == 200000));
	if (ret)
		assert_null(out);
	else
		file_buf_free(out, len);
	free(b.p);
	b = c(in, 200000);
	/* The bomb: 200000 bytes inside, 1000 declared. */
	if (trailer) {
		put_le32(b.p + b.n - 4, 1000);
		ret = decompress_payload(b.p, b.n, 0, &out, &len, &err);
		assert_true(ret == -EFBIG || ret == -EINVAL);
		assert_null(out);
		/* Declared past the limit: refused before any work. */
		put_le32(b.p + b.n - 4, 0xffffffffu);
		assert_int_equal(decompress_payload(b.p, b.n, 0, &out, &len, &err), -EFBIG);
		assert_non_null(strstr(err.msg, "declares"));
		/* Declared past what the caller allows (a kernel's init_size). */
		put_le32(b.p + b.n - 4, 200000);
		assert_int_equal(decompress_payload(b.p, b.n, 199999, &out, &len, &err), -EFBIG);
		/* Declared larger than it is: short of it. */
		put_le32(b.p + b.n - 4, 300000);
		assert_int_equal(decompress_payload(b.p, b.n, 0, &out, &len, &err), -EINVAL);
	}
	free(b.p);
	free(in);
}

/* A bzImage (the boot protocol's header) whose payload is p. */
static inline struct kernel_image bzimage_with(const struct buf *p)
{
	struct setup_header h = { 0 };
	size_t setup = 5 * 512, size = setup + 0x100 + p->n;
	uint8_t *d = file_buf_alloc(size);   /* as loader_open's: unpack and close free it */
	struct kernel_image img;
	struct err err = ERR_INIT;

	assert_non_null(d);
	h.setup_sects = 4;
	h.syssize = (uint32_t)((size - setup) / 16);
	h.boot_flag = 0xaa55;
	h.jump = (uint16_t)(0xeb | ((HDR_OFF + sizeof(h) - 0x202) << 8));
	h.header = 0x53726448;
	h.version = 0x020f;
	h.loadflags = LOADED_HIGH;
	h.relocatable_kernel = 1;
	h.kernel_alignment = 0x200000;
	h.xloadflags = XLF_KERNEL_64;
	h.cmdline_size = 2047;
	h.init_size = 0x800000;
	h.payload_offset = 0x100;
	h.payload_length = (uint32_t)p->n;
	memcpy(d + HDR_OFF, &h, sizeof(h));
	memcpy(d + setup + 0x100, p->p, p->n);
	if (bzimage_parse(d, size, &img, &err))
		fail_msg("%s", err.msg);
	img.data = d;
	img.size = size;
	img.path = "test";
	return img;
}

#endif
