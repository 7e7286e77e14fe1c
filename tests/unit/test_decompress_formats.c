/*
 * The kernel build's other three compressions, decompressed on the host
 * (boot/decompress.h): bzip2 (libbz2), LZMA's "alone" format (liblzma)
 * and lzop's LZO container (liblzo2). Each round-trips and refuses cut,
 * flipped and bomb streams in words; lzop's container is also taken
 * apart field by field (old and new headers, filter words, checksums,
 * stored blocks) and fed hostile ones. The streams are made here with the
 * same libraries; the container is written here as lzop writes it.
 */
#include <errno.h>
#include <lzma.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/decompress.h"
#include "boot/loader.h"
#include "decompress_fixture.h"
#include "elf_fixture.h"
#include "util/file.h"

static struct buf bzip2(const uint8_t *in, size_t n)
{
	int (*comp)(char *, unsigned int *, char *, unsigned int, int, int, int) =
		(int (*)(char *, unsigned int *, char *, unsigned int, int, int, int))
		sym("libbz2.so.1.0", "BZ2_bzBuffToBuffCompress");
	unsigned int cap = (unsigned int)(n + n / 100 + 4096);
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	assert_int_equal(comp((char *)out, &cap, (char *)in, (unsigned int)n, 9, 0, 0), 0);
	return with_size(out, cap, n, 1);
}

/* As `lzma -9` from a pipe writes it: the size unknown, an end marker. */
static struct buf lzma_alone(const uint8_t *in, size_t n)
{
	size_t cap = n + n / 2 + 4096;
	uint8_t *out = malloc(cap);
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_options_lzma opt;

	assert_non_null(out);
	assert_false(lzma_lzma_preset(&opt, 1));
	assert_int_equal(lzma_alone_encoder(&s, &opt), LZMA_OK);
	s.next_in = in;
	s.avail_in = n;
	s.next_out = out;
	s.avail_out = cap;
	assert_int_equal(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
	cap -= s.avail_out;
	lzma_end(&s);
	return with_size(out, cap, n, 1);
}

/* lzop's flags (lzop.c): the checksums each block may carry, and the filter word. */
#define F_ADLER32_D 0x1u
#define F_ADLER32_C 0x2u
#define F_CRC32_D 0x100u
#define F_CRC32_C 0x200u
#define F_H_FILTER 0x800u
#define BLOCK (256u << 10)

struct lzop {
	uint16_t version;    /* >= 0x0940: version needed, level and mtime high too */
	uint32_t flags;
	uint8_t method;
	const char *name;
	uint32_t block;      /* uncompressed bytes per block */
	bool store;          /* every block stored as is */
};

static void put_be(uint8_t *p, size_t *pos, uint32_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		p[(*pos)++] = (uint8_t)(v >> (8 * i));
}

static struct buf lzop_with(const struct lzop *o, const uint8_t *in, size_t n)
{
	int (*comp)(const uint8_t *, unsigned long, uint8_t *, unsigned long *, void *) =
		(int (*)(const uint8_t *, unsigned long, uint8_t *, unsigned long *, void *))
		sym("liblzo2.so.2", "lzo1x_1_compress");
	size_t cap = n + n / 8 + 4096 + 20 * (n / o->block + 1), pos = 0, name = strlen(o->name);
	uint8_t *out = malloc(cap), *work = malloc(16384 * sizeof(void *));
	static const uint8_t magic[9] = { 0x89, 'L', 'Z', 'O', 0, '\r', '\n', 0x1a, '\n' };
	int sums_d = !!(o->flags & F_ADLER32_D) + !!(o->flags & F_CRC32_D);
	int sums_c = !!(o->flags & F_ADLER32_C) + !!(o->flags & F_CRC32_C);

	assert_non_null(out);
	assert_non_null(work);
	memcpy(out, magic, sizeof(magic));
	pos = sizeof(magic);
	put_be(out, &pos, o->version, 2);
	put_be(out, &pos, 0x20a0, 2);
	if (o->version >= 0x0940)
		put_be(out, &pos, 0x0940, 2);
	put_be(out, &pos, o->method, 1);
	if (o->version >= 0x0940)
		put_be(out, &pos, 9, 1);
	put_be(out, &pos, o->flags, 4);
	if (o->flags & F_H_FILTER)
		put_be(out, &pos, 1, 4);
	put_be(out, &pos, 0100644, 4);
	put_be(out, &pos, 1700000000, 4);
	if (o->version >= 0x0940)
		put_be(out, &pos, 0, 4);
	put_be(out, &pos, (uint32_t)name, 1);
	memcpy(out + pos, o->name, name);
	pos += name;
	put_be(out, &pos, 0x12345678, 4);   /* the header's checksum, never read */
	for (size_t at = 0; at < n; at += o->block) {
		size_t len = n - at < o->block ? n - at : o->block;
		unsigned long packed = (unsigned long)(cap - pos - 16);
		size_t head = pos;

		put_be(out, &pos, (uint32_t)len, 4);
		pos += 4 + 4 * (size_t)(sums_d + sums_c);
		assert_int_equal(comp(in + at, len, out + pos, &packed, work), 0);
		if (o->store || packed >= len) {
			memcpy(out + pos, in + at, len);
			packed = len;
		}
		head += 4;
		put_be(out, &head, (uint32_t)packed, 4);
		for (int i = 0; i < sums_d; i++)
			put_be(out, &head, 0xaaaaaaaa, 4);
		if (packed < len)
			for (int i = 0; i < sums_c; i++)
				put_be(out, &head, 0xcccccccc, 4);
		else   /* a stored block has no c-checksums: close the gap */
			memmove(out + head, out + head + 4 * sums_c, packed);
		pos = head + packed;
	}
	put_be(out, &pos, 0, 4);
	free(work);
	return with_size(out, pos, n, 1);
}

static const struct lzop lzop_default = { 0x1030, F_ADLER32_D, 3, "vmlinux.bin", BLOCK, false };

static struct buf lzo(const uint8_t *in, size_t n)
{
	return lzop_with(&lzop_default, in, n);
}

static void test_bzip2(void **state)
{
	(void)state;
	round_trip(bzip2, KCOMP_BZIP2, 100000);
	hostile(bzip2, 1);
}

static void test_lzma(void **state)
{
	(void)state;
	round_trip(lzma_alone, KCOMP_LZMA, 100000);
	hostile(lzma_alone, 1);
}

static void test_lzo(void **state)
{
	(void)state;
	round_trip(lzo, KCOMP_LZO, 100000);
	round_trip(lzo, KCOMP_LZO, 3 * BLOCK + 777);   /* four blocks */
	hostile(lzo, 1);
}

/* What lzop may write: each header shape and block kind decodes to the same bytes. */
static void test_lzop_shapes(void **state)
{
	static const struct lzop shapes[] = {
		{ 0x0900, F_ADLER32_D, 1, "old", BLOCK, false },             /* before 0x0940 */
		{ 0x1030, 0, 2, "", BLOCK, false },                           /* no checksums */
		{ 0x1030, F_ADLER32_D | F_CRC32_D | F_ADLER32_C | F_CRC32_C, 3, "all", BLOCK,
		  false },
		{ 0x1030, F_ADLER32_D | F_ADLER32_C | F_H_FILTER, 1, "filtered", 64u << 10, false },
		{ 0x1030, F_ADLER32_D | F_CRC32_C, 1, "stored", BLOCK, true },
	};
	uint8_t *in = sample(600000), *out;
	struct err err = ERR_INIT;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		struct buf b = lzop_with(&shapes[i], in, 600000);

		if (decompress_payload(b.p, b.n, 0, &out, &len, &err))
			fail_msg("shape %zu: %s", i, err.msg);
		assert_int_equal(len, 600000);
		assert_memory_equal(out, in, len);
		file_buf_free(out, len);
		free(b.p);
	}
	free(in);
}

static void expect_refused(const struct buf *b, int want, const char *words)
{
	struct err err = ERR_INIT;
	uint8_t *out = (uint8_t *)1;
	size_t len = 7;
	int ret = decompress_payload(b->p, b->n, 0, &out, &len, &err);

	if (ret != want || !strstr(err.msg, words))
		fail_msg("got %d \"%s\", want %d \"...%s...\"", ret, err.msg, want, words);
	assert_null(out);
	assert_int_equal(len, 0);
}

/* Offsets in a lzop_default stream (version 0x1030, no filter, name "vmlinux.bin"). */
#define LZOP_METHOD 15
#define LZOP_NAME_LEN 33
#define LZOP_BLOCK1 (LZOP_NAME_LEN + 1 + 11 + 4)

static void test_lzop_hostile(void **state)
{
	uint8_t *in = sample(300000);
	struct buf b;
	size_t keep;

	(void)state;
	b = lzo(in, 300000);
	assert_int_equal(b.p[LZOP_NAME_LEN], 11);
	/* Not LZO1X: lzop's methods are 1 to 3. */
	b.p[LZOP_METHOD] = 4;
	expect_refused(&b, -EINVAL, "method 4");
	b.p[LZOP_METHOD] = 0;
	expect_refused(&b, -EINVAL, "method 0");
	b.p[LZOP_METHOD] = 3;
	/* A name longer than what is left: cut inside the header. */
	keep = b.n;
	b.p[LZOP_NAME_LEN] = 255;
	b.n = LZOP_NAME_LEN + 100;
	put_le32(b.p + b.n - 4, 300000);
	expect_refused(&b, -EINVAL, "cut inside its header");
	free(b.p);
	/* A block past the kernel's 256 KiB. */
	b = lzo(in, 300000);
	b.p[LZOP_BLOCK1 + 1] = 0x08;   /* 0x00040000 becomes 0x00080000: 512 KiB */
	expect_refused(&b, -EINVAL, "at most 262144");
	free(b.p);
	/* Packed into more than it holds, or into nothing. */
	b = lzo(in, 300000);
	memcpy(b.p + LZOP_BLOCK1 + 4, "\x00\x05\x00\x00", 4);
	expect_refused(&b, -EINVAL, "packed in");
	memcpy(b.p + LZOP_BLOCK1 + 4, "\x00\x00\x00\x00", 4);
	expect_refused(&b, -EINVAL, "packed in 0");
	free(b.p);
	/* A compressed length past the payload's end. */
	b = lzo(in, 300000);
	keep = b.n;
	b.n = LZOP_BLOCK1 + 12 + 100 + 4;
	put_le32(b.p + b.n - 4, 300000);
	expect_refused(&b, -EINVAL, "runs past the payload");
	b.n = keep;
	free(b.p);
	/* No end block: the blocks stop with the payload. */
	b = lzo(in, 300000);
	memmove(b.p + b.n - 8, b.p + b.n - 4, 4);
	b.n -= 4;
	expect_refused(&b, -EINVAL, "cut before its end block");
	free(b.p);
	/* Garbage inside a compressed block: refused, or other bytes, never more. */
	b = lzo(in, 300000);
	for (size_t i = 0; i < 64; i++)
		b.p[LZOP_BLOCK1 + 12 + 40 + i] ^= 0xa5;
	{
		struct err err = ERR_INIT;
		uint8_t *out;
		size_t len;
		int ret = decompress_payload(b.p, b.n, 0, &out, &len, &err);

		assert_true(ret == -EINVAL || (ret == 0 && len == 300000));
		if (!ret)
			file_buf_free(out, len);
	}
	free(b.p);
	free(in);
}

/* A bzImage of each of the three becomes its ELF, and keeps the header's limits. */
static void test_unpack_formats(void **state)
{
	static const compressor c[] = { bzip2, lzma_alone, lzo };
	struct elf pvh = make_elf(1);

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct buf z = c[i](pvh.data, pvh.size);
		struct kernel_image img = bzimage_with(&z);
		struct err err = ERR_INIT;

		if (bzimage_unpack(&img, &err))
			fail_msg("%zu: %s", i, err.msg);
		assert_int_equal(img.kind, KERNEL_ELF_PVH);
		assert_int_equal(img.size, pvh.size);
		assert_memory_equal(img.data, pvh.data, pvh.size);
		loader_close(&img);
		free(z.p);
	}
	free(pvh.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bzip2),
		cmocka_unit_test(test_lzma),
		cmocka_unit_test(test_lzo),
		cmocka_unit_test(test_lzop_shapes),
		cmocka_unit_test(test_lzop_hostile),
		cmocka_unit_test(test_unpack_formats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
