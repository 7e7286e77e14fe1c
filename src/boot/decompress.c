/*
 * The kernel's payload decompressed on the host (decompress.h). Each
 * library is Debian's shared one, opened on first use; the few calls are
 * declared here where the library ships no header in the build's set
 * (libbz2, liblzo2, liblz4, libzstd).
 */
#include "boot/decompress.h"

#include <dlfcn.h>
#include <errno.h>
#include <lzma.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/file.h"

#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK (8u << 20)   /* what one legacy block decompresses to, at most */
#define XZ_MEMLIMIT (256ull << 20)
/* A streaming decoder's calls for one payload, all of it in memory: two suffice. */
#define DECOMPRESS_CALLS 8
/* libbz2's answers (bzlib.h, not in the build's set). */
#define BZ_OK 0
#define BZ_MEM_ERROR (-3)
#define BZ_OUTBUFF_FULL (-8)

/* One library's calls, opened for one payload and closed after it. */
struct lib {
	const char *so;
	const char *const *names;
	void *h;
	void *syms[3];
};

static const char *const lz4_names[] = { "LZ4_decompress_safe", NULL };
static const char *const bz2_names[] = { "BZ2_bzBuffToBuffDecompress", NULL };
static const char *const lzma_alone_names[] = { "lzma_alone_decoder", "lzma_code", "lzma_end",
						NULL };
static const char *const lzo_names[] = { "lzo1x_decompress_safe", NULL };
static const char *const zlib_names[] = { "inflateInit2_", "inflate", "inflateEnd", NULL };
static const char *const lzma_names[] = { "lzma_stream_buffer_decode", NULL };
static const char *const zstd_names[] = { "ZSTD_decompress", "ZSTD_isError",
					  "ZSTD_getFrameContentSize", NULL };

/*
 * Opened with dlopen for the one decompression and closed after it, so a
 * booted VM maps none of them (docs/density.md counts its libraries).
 */
static int lib_open(enum kcomp k, struct lib *l, struct err *err)
{
	static const struct { const char *so; const char *const *names; } which[] = {
		[KCOMP_LZ4] = { "liblz4.so.1", lz4_names },
		[KCOMP_GZIP] = { "libz.so.1", zlib_names },
		[KCOMP_XZ] = { "liblzma.so.5", lzma_names },
		[KCOMP_ZSTD] = { "libzstd.so.1", zstd_names },
		[KCOMP_BZIP2] = { "libbz2.so.1.0", bz2_names },
		[KCOMP_LZMA] = { "liblzma.so.5", lzma_alone_names },
		[KCOMP_LZO] = { "liblzo2.so.2", lzo_names },
	};

	*l = (struct lib){ which[k].so, which[k].names, NULL, { NULL } };
	l->h = dlopen(l->so, RTLD_NOW | RTLD_LOCAL);
	if (!l->h)
		return err_set(err, false, -ENOTSUP, "%s payload: %s", decompress_name(k),
			       dlerror());
	for (size_t i = 0; l->names[i]; i++) {
		l->syms[i] = dlsym(l->h, l->names[i]);
		if (!l->syms[i]) {
			dlclose(l->h);
			return err_set(err, false, -ENOTSUP, "%s payload: %s has no %s",
				       decompress_name(k), l->so, l->names[i]);
		}
	}
	return 0;
}

enum kcomp decompress_kind(const uint8_t *p, size_t n)
{
	static const struct {
		enum kcomp k;
		const char *magic;
		size_t len;
	} m[] = {
		{ KCOMP_GZIP, "\x1f\x8b", 2 }, { KCOMP_XZ, "\xfd" "7zXZ\x00", 6 },
		{ KCOMP_ZSTD, "\x28\xb5\x2f\xfd", 4 }, { KCOMP_LZ4, "\x02\x21\x4c\x18", 4 },
		{ KCOMP_BZIP2, "BZh", 3 }, { KCOMP_LZMA, "\x5d\x00", 2 },
		{ KCOMP_LZO, "\x89LZO", 4 },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (n >= m[i].len && !memcmp(p, m[i].magic, m[i].len))
			return m[i].k;
	return KCOMP_UNKNOWN;
}

const char *decompress_name(enum kcomp k)
{
	static const char *const names[] = {
		[KCOMP_UNKNOWN] = "unknown", [KCOMP_GZIP] = "gzip", [KCOMP_XZ] = "xz",
		[KCOMP_ZSTD] = "zstd", [KCOMP_LZ4] = "LZ4", [KCOMP_BZIP2] = "bzip2",
		[KCOMP_LZMA] = "LZMA", [KCOMP_LZO] = "LZO",
	};

	return k < sizeof(names) / sizeof(names[0]) ? names[k] : "unknown";
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* LZ4's legacy frames (lz4 -l): a magic, then blocks of a u32 length and data. */
static int unlz4(const struct lib *l, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *len,
		 struct err *err)
{
	int (*dec)(const char *, char *, int, int) = (int (*)(const char *, char *, int, int))
		l->syms[0];
	size_t pos = 0, o = 0;

	while (pos < n) {
		uint32_t c;
		int got;

		if (n - pos < 4)
			return err_set(err, true, -EINVAL, "LZ4 payload: cut inside a block header");
		c = le32(in + pos);
		pos += 4;
		if (c == LZ4_LEGACY_MAGIC)
			continue;         /* concatenated frames */
		if (c > n - pos || c > (uint32_t)INT32_MAX)
			return err_set(err, true, -EINVAL, "LZ4 payload: a block of %u bytes "
				       "runs past the payload", c);
		if (o == cap)
			return err_set(err, true, -EFBIG, "LZ4 payload: more than its declared "
				       "%zu bytes", cap);
		got = dec((const char *)in + pos, (char *)out + o, (int)c,
			  (int)(cap - o < LZ4_LEGACY_BLOCK ? cap - o : LZ4_LEGACY_BLOCK));
		if (got < 0)
			return err_set(err, true, -EINVAL, "LZ4 payload: corrupt block at byte %zu "
				       "(or more than its declared size)", pos);
		o += (size_t)got;
		pos += c;
	}
	*len = o;
	return 0;
}

static int ungzip(const struct lib *l, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *len,
		  struct err *err)
{
	int (*init)(z_stream *, int, const char *, int) =
		(int (*)(z_stream *, int, const char *, int))l->syms[0];
	int (*step)(z_stream *, int) = (int (*)(z_stream *, int))l->syms[1];
	int (*end)(z_stream *) = (int (*)(z_stream *))l->syms[2];
	z_stream z = { .next_in = (Bytef *)in, .avail_in = (uInt)n, .next_out = out,
		       .avail_out = (uInt)cap };
	int ret;

	if (n > UINT32_MAX)
		return err_set(err, true, -EFBIG, "gzip payload: %zu bytes", n);
	if (init(&z, 16 + MAX_WBITS, ZLIB_VERSION, (int)sizeof(z)) != Z_OK)
		return err_set(err, false, -ENOMEM, "gzip payload: zlib would not start");
	ret = step(&z, Z_FINISH);
	*len = cap - z.avail_out;
	end(&z);
	if (ret == Z_STREAM_END)
		return 0;
	if (ret == Z_BUF_ERROR && !z.avail_out && z.avail_in)
		return err_set(err, true, -EFBIG, "gzip payload: more than its declared %zu "
			       "bytes", cap);
	return err_set(err, true, -EINVAL, "gzip payload: corrupt or cut short (zlib %d)", ret);
}

static int unxz(const struct lib *l, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *len,
		struct err *err)
{
	lzma_ret (*dec)(uint64_t *, uint32_t, const lzma_allocator *, const uint8_t *, size_t *,
			size_t, uint8_t *, size_t *, size_t) =
		(lzma_ret (*)(uint64_t *, uint32_t, const lzma_allocator *, const uint8_t *,
			      size_t *, size_t, uint8_t *, size_t *, size_t))l->syms[0];
	uint64_t memlimit = XZ_MEMLIMIT;
	size_t in_pos = 0, out_pos = 0;
	lzma_ret r = dec(&memlimit, 0, NULL, in, &in_pos, n, out, &out_pos, cap);

	*len = out_pos;
	if (r == LZMA_OK)
		return 0;
	if (r == LZMA_BUF_ERROR && out_pos == cap)
		return err_set(err, true, -EFBIG, "xz payload: more than its declared %zu bytes",
			       cap);
	if (r == LZMA_MEMLIMIT_ERROR)
		return err_set(err, true, -EFBIG, "xz payload: its decoder wants more than %llu "
			       "MiB", XZ_MEMLIMIT >> 20);
	return err_set(err, true, -EINVAL, "xz payload: corrupt or cut short (liblzma %d)",
		       (int)r);
}

static int unzstd(const struct lib *l, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *len,
		  struct err *err)
{
	size_t (*dec)(void *, size_t, const void *, size_t) =
		(size_t (*)(void *, size_t, const void *, size_t))l->syms[0];
	unsigned (*is_error)(size_t) = (unsigned (*)(size_t))l->syms[1];
	unsigned long long (*content)(const void *, size_t) =
		(unsigned long long (*)(const void *, size_t))l->syms[2];
	unsigned long long want = content(in, n);
	size_t r;

	/* Its frame may say its size: ZSTD_CONTENTSIZE_UNKNOWN and _ERROR are the top two. */
	if (want < (unsigned long long)-2 && want > cap)
		return err_set(err, true, -EFBIG, "zstd payload: its frame says %llu bytes, more "
			       "than its declared %zu", want, cap);
	r = dec(out, cap, in, n);
	if (is_error(r))
		return err_set(err, true, -EINVAL, "zstd payload: corrupt, cut short or more than "
			       "its declared %zu bytes", cap);
	*len = r;
	return 0;
}

/* bzip2 (libbz2): one call; its blocks and the stream carry CRCs. */
static int unbz2(const struct lib *l, const uint8_t *in, size_t n, uint8_t *out, size_t cap,
		 size_t *len, struct err *err)
{
	int (*dec)(char *, unsigned int *, char *, unsigned int, int, int) =
		(int (*)(char *, unsigned int *, char *, unsigned int, int, int))l->syms[0];
	unsigned int got = (unsigned int)cap;
	int r;

	if (n > UINT32_MAX)
		return err_set(err, true, -EFBIG, "bzip2 payload: %zu bytes", n);
	r = dec((char *)out, &got, (char *)in, (unsigned int)n, 0, 0);
	*len = r == BZ_OK ? got : 0;
	if (r == BZ_OK)
		return 0;
	if (r == BZ_OUTBUFF_FULL)
		return err_set(err, true, -EFBIG, "bzip2 payload: more than its declared %zu bytes",
			       cap);
	if (r == BZ_MEM_ERROR)
		return err_set(err, false, -ENOMEM, "bzip2 payload: libbz2 is out of memory");
	return err_set(err, true, -EINVAL, "bzip2 payload: corrupt or cut short (libbz2 %d)", r);
}

/*
 * LZMA's "alone" format (lzma -9, the kernel's CONFIG_KERNEL_LZMA): its
 * header may leave the size unknown, so the stream's end marker, or the
 * output's end, is what stops it.
 */
static int unlzma(const struct lib *l, const uint8_t *in, size_t n, uint8_t *out, size_t cap,
		  size_t *len, struct err *err)
{
	lzma_ret (*init)(lzma_stream *, uint64_t) = (lzma_ret (*)(lzma_stream *, uint64_t))
		l->syms[0];
	lzma_ret (*code)(lzma_stream *, lzma_action) = (lzma_ret (*)(lzma_stream *, lzma_action))
		l->syms[1];
	void (*end)(lzma_stream *) = (void (*)(lzma_stream *))l->syms[2];
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r;

	if (init(&s, XZ_MEMLIMIT) != LZMA_OK)
		return err_set(err, false, -ENOMEM, "LZMA payload: liblzma would not start");
	s.next_in = in;
	s.avail_in = n;
	s.next_out = out;
	s.avail_out = cap;
	/* Each call runs until it needs more room or more input: a few calls at most. */
	for (int i = 0; i < DECOMPRESS_CALLS; i++) {
		r = code(&s, LZMA_FINISH);
		if (r != LZMA_OK || !s.avail_out)
			break;
	}
	*len = cap - s.avail_out;
	end(&s);
	if (r == LZMA_STREAM_END)
		return 0;
	if (r == LZMA_MEMLIMIT_ERROR)
		return err_set(err, true, -EFBIG, "LZMA payload: its decoder wants more than %llu "
			       "MiB", XZ_MEMLIMIT >> 20);
	if ((r == LZMA_OK || r == LZMA_BUF_ERROR) && !s.avail_out)
		return err_set(err, true, -EFBIG, "LZMA payload: more than its declared %zu bytes",
			       cap);
	return err_set(err, true, -EINVAL, "LZMA payload: corrupt or cut short (liblzma %d)",
		       (int)r);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * lzop's container (the kernel's CONFIG_KERNEL_LZO: `lzop -9`), read as
 * lzop writes it: the header (fields past version 0x0940 where lzop adds
 * them, a filter word when its flag says so, a name of up to 255 bytes),
 * then blocks of [uncompressed length, compressed length, the checksums
 * its flags name, data] up to a zero length. Blocks are at most 256 KiB
 * out, as the kernel's own unlzo takes them; a block stored as is (equal
 * lengths) is copied. The checksums are skipped, as the kernel does.
 */
#define LZO_F_ADLER32_D 0x1u
#define LZO_F_ADLER32_C 0x2u
#define LZO_F_H_FILTER 0x800u
#define LZO_F_CRC32_D 0x100u
#define LZO_F_CRC32_C 0x200u
#define LZO_BLOCK_MAX (256u << 10)

static int lzo_header(const uint8_t *in, size_t n, size_t *pos, uint32_t *flags, struct err *err)
{
	static const uint8_t magic[9] = { 0x89, 'L', 'Z', 'O', 0, '\r', '\n', 0x1a, '\n' };
	size_t p = sizeof(magic);
	uint16_t version;

	/* magic, version, library version, [version needed], method, [level], flags */
	if (n < p + 2 || memcmp(in, magic, sizeof(magic)))
		return err_set(err, true, -EINVAL, "LZO payload: no lzop header");
	version = (uint16_t)(in[p] << 8 | in[p + 1]);
	p += version >= 0x0940 ? 8 : 5;
	if (n < p + 4)
		goto short_header;
	if (in[p - 1 - (version >= 0x0940)] < 1 || in[p - 1 - (version >= 0x0940)] > 3)
		return err_set(err, true, -EINVAL, "LZO payload: method %u is no LZO1X",
			       in[p - 1 - (version >= 0x0940)]);
	*flags = be32(in + p);
	p += 4 + ((*flags & LZO_F_H_FILTER) ? 4 : 0);
	/* mode, mtime, [mtime high], name length, name, header checksum */
	p += version >= 0x0940 ? 12 : 8;
	if (n < p + 1 || n - p - 1 < (size_t)in[p] + 4)
		goto short_header;
	*pos = p + 1 + in[p] + 4;
	return 0;
short_header:
	return err_set(err, true, -EINVAL, "LZO payload: cut inside its header");
}

static int unlzo(const struct lib *l, const uint8_t *in, size_t n, uint8_t *out, size_t cap,
		 size_t *len, struct err *err)
{
	int (*dec)(const uint8_t *, unsigned long, uint8_t *, unsigned long *, void *) =
		(int (*)(const uint8_t *, unsigned long, uint8_t *, unsigned long *, void *))
		l->syms[0];
	size_t pos = 0, o = 0;
	uint32_t flags = 0;
	int ret = lzo_header(in, n, &pos, &flags, err);

	if (ret)
		return ret;
	for (;;) {
		uint32_t dst, src;
		size_t sums;

		if (n - pos < 4)
			return err_set(err, true, -EINVAL, "LZO payload: cut before its end block");
		dst = be32(in + pos);
		pos += 4;
		if (!dst)
			break;
		sums = 4 * (size_t)(!!(flags & LZO_F_ADLER32_D) + !!(flags & LZO_F_CRC32_D));
		if (dst > LZO_BLOCK_MAX)
			return err_set(err, true, -EINVAL, "LZO payload: a block of %u bytes (at "
				       "most %u)", dst, LZO_BLOCK_MAX);
		if (n - pos < 4)
			return err_set(err, true, -EINVAL, "LZO payload: cut inside a block header");
		src = be32(in + pos);
		pos += 4;
		if (!src || src > dst)
			return err_set(err, true, -EINVAL, "LZO payload: a block of %u bytes packed "
				       "in %u", dst, src);
		if (src < dst)
			sums += 4 * (size_t)(!!(flags & LZO_F_ADLER32_C) + !!(flags & LZO_F_CRC32_C));
		if (n - pos < sums || n - pos - sums < src)
			return err_set(err, true, -EINVAL, "LZO payload: a block runs past the "
				       "payload");
		pos += sums;
		if (dst > cap - o)
			return err_set(err, true, -EFBIG, "LZO payload: more than its declared %zu "
				       "bytes", cap);
		if (src == dst) {
			memcpy(out + o, in + pos, src);
		} else {
			unsigned long got = dst;

			if (dec(in + pos, src, out + o, &got, NULL) != 0 || got != dst)
				return err_set(err, true, -EINVAL, "LZO payload: corrupt block at "
					       "byte %zu", pos);
		}
		o += dst;
		pos += src;
	}
	*len = o;
	return 0;
}

int decompress_payload(const uint8_t *payload, size_t n, size_t max, uint8_t **out,
		       size_t *out_len, struct err *err)
{
	enum kcomp k = decompress_kind(payload, n);
	size_t want, got = 0, body;
	struct lib l;
	uint8_t *buf;
	int ret;

	*out = NULL;
	*out_len = 0;
	if (k == KCOMP_UNKNOWN)
		return err_set(err, false, -ENOTSUP, "a payload of no known compression: left "
			       "to the guest");
	if (n < 8)
		return err_set(err, true, -EINVAL, "%s payload of %zu bytes", decompress_name(k), n);
	want = le32(payload + n - 4);
	if (!max || max > DECOMPRESS_MAX)
		max = DECOMPRESS_MAX;
	if (want == 0)
		return err_set(err, true, -EFBIG, "%s payload declares 0 bytes", decompress_name(k));
	/* More than Hearth takes is not proof of a broken kernel: the guest may still try. */
	if (want > max)
		return err_set(err, false, -EFBIG, "%s payload declares %zu bytes (at most %zu)",
			       decompress_name(k), want, max);
	ret = lib_open(k, &l, err);
	if (ret)
		return ret;
	buf = file_buf_alloc(want);
	if (!buf) {
		dlclose(l.h);
		return err_set(err, false, -ENOMEM, "out of memory for %zu bytes", want);
	}
	/* gzip's ISIZE is its own trailer; the others' was appended after the stream. */
	body = k == KCOMP_GZIP ? n : n - 4;
	switch (k) {
	case KCOMP_LZ4:
		ret = unlz4(&l, payload, body, buf, want, &got, err);
		break;
	case KCOMP_GZIP:
		ret = ungzip(&l, payload, body, buf, want, &got, err);
		break;
	case KCOMP_XZ:
		ret = unxz(&l, payload, body, buf, want, &got, err);
		break;
	case KCOMP_BZIP2:
		ret = unbz2(&l, payload, body, buf, want, &got, err);
		break;
	case KCOMP_LZMA:
		ret = unlzma(&l, payload, body, buf, want, &got, err);
		break;
	case KCOMP_LZO:
		ret = unlzo(&l, payload, body, buf, want, &got, err);
		break;
	default:
		ret = unzstd(&l, payload, body, buf, want, &got, err);
		break;
	}
	dlclose(l.h);
	if (!ret && got != want)
		ret = err_set(err, true, -EINVAL, "%s payload: %zu bytes where it declares %zu",
			      decompress_name(k), got, want);
	if (ret) {
		file_buf_free(buf, want);
		return ret;
	}
	*out = buf;
	*out_len = want;
	return 0;
}
