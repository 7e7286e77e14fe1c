/*
 * zlib for compressed clusters, loaded with dlopen the first time one is
 * read (or when qcow2_inflate_load asks), so a VM whose images have none
 * never maps it. A cluster is one raw deflate stream (no zlib header,
 * QEMU's window of 2^12 bytes) that must yield exactly a cluster: a
 * stream that ends short is refused, and one that would go on is cut
 * there, so a bomb costs one cluster of output.
 */
#include "disk/qcow2_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <zlib.h>

#include "util/dlib.h"

struct zlib_fns {
	int (*inflate_init2)(z_streamp, int, const char *, int);
	int (*inflate)(z_streamp, int);
	int (*inflate_end)(z_streamp);
};

static const struct dlib_sym zlib_syms[] = {
	{ "inflateInit2_", offsetof(struct zlib_fns, inflate_init2) },
	{ "inflate", offsetof(struct zlib_fns, inflate) },
	{ "inflateEnd", offsetof(struct zlib_fns, inflate_end) },
};

static struct zlib_fns zfn;
static pthread_once_t zlib_once = PTHREAD_ONCE_INIT;
static int zlib_ret;
static char zlib_why[256];

static void zlib_load(void)
{
	zlib_ret = dlib_load("libz.so.1", zlib_syms, sizeof(zlib_syms) / sizeof(zlib_syms[0]),
			     &zfn, zlib_why, sizeof(zlib_why));
}

int qcow2_inflate_load(struct err *err)
{
	pthread_once(&zlib_once, zlib_load);
	if (zlib_ret)
		return err_set(err, false, zlib_ret, "qcow2: zlib for compressed clusters: %s",
			       zlib_why);
	return 0;
}

int qcow2_inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
		  struct err *err)
{
	z_stream z;
	int ret = qcow2_inflate_load(err);

	if (ret)
		return ret;
	memset(&z, 0, sizeof(z));
	if (zfn.inflate_init2(&z, -12, ZLIB_VERSION, (int)sizeof(z)) != Z_OK)
		return err_set(err, false, -ENOMEM, "zlib cannot start a stream");
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)in_len;
	z.next_out = out;
	z.avail_out = (uInt)out_len;
	/* All input and all room at once: one call, which ends, full or not. */
	ret = zfn.inflate(&z, Z_FINISH);
	zfn.inflate_end(&z);
	if ((ret == Z_STREAM_END || ret == Z_OK || ret == Z_BUF_ERROR) && !z.avail_out)
		return 0;
	return err_set(err, true, -EINVAL, "does not decompress to a whole cluster (%s)",
		       ret == Z_DATA_ERROR ? "corrupt stream" :
		       ret == Z_STREAM_END || ret == Z_BUF_ERROR ? "stream ends short" : "zlib error");
}
