/*
 * The kernel's payload decompressed on the host (decompress.h). Each
 * library is Debian's shared one, opened on first use; the few calls are
 * declared here where the library ships no header in the build's set.
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

/* One library's calls, opened for one payload and closed after it. */
struct lib {
	const char *so;
	const char *const *names;
	void *h;
	void *syms[3];
};

static const char *const lz4_names[] = { "LZ4_decompress_safe", NULL };
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
	if (k != KCOMP_GZIP && k != KCOMP_XZ && k != KCOMP_ZSTD && k != KCOMP_LZ4)
		return err_set(err, false, -ENOTSUP, "%s payload: left to the guest",
			       decompress_name(k));
	if (n < 8)
		return err_set(err, true, -EINVAL, "%s payload of %zu bytes", decompress_name(k), n);
	want = le32(payload + n - 4);
	if (!max || max > DECOMPRESS_MAX)
		max = DECOMPRESS_MAX;
	if (want == 0 || want > max)
		return err_set(err, true, -EFBIG, "%s payload declares %zu bytes (at most %zu)",
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
