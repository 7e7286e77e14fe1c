/* The command line's --disk spec, into a blk_config. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/blk.h"
#include "virtio/blk/priv.h"

static int blk_parse_fail(struct err *err, const char *fmt, const char *what)
{
	return err_set(err, true, -EINVAL, fmt, what);
}

int virtio_blk_parse(const char *spec, struct blk_config *cfg, struct err *err)
{
	const char *p = spec;
	char *path = NULL;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->cache = BLK_CACHE_WRITEBACK;
	if (!spec || !*spec)
		return blk_parse_fail(err, "empty spec%s", "");
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		const char *val = eq ? eq + 1 : NULL;
		size_t vlen = eq ? len - klen - 1 : 0;
		char key[32];

		snprintf(key, sizeof(key), "%.*s", (int)(klen < 31 ? klen : 31), p);
		if (len == 0) {
			ret = blk_parse_fail(err, "empty option in '%s'", spec);
			goto err_free;
		}
		if (klen == 4 && !strncmp(p, "path", 4) && val) {
			if (path || vlen == 0) {
				ret = blk_parse_fail(err, "%s", path ?
						     "path given twice" : "path is empty");
				goto err_free;
			}
			path = strndup(val, vlen);
			if (!path)
				return err_set(err, false, -ENOMEM, "out of memory");
		} else if (klen == 2 && !strncmp(p, "ro", 2) && !val) {
			cfg->readonly = true;
		} else if (klen == 2 && !strncmp(p, "id", 2) && val) {
			if (vlen > VIRTIO_BLK_ID_BYTES) {
				ret = blk_parse_fail(err,
						     "id is longer than %s bytes", "20");
				goto err_free;
			}
			memcpy(cfg->id, val, vlen);
			cfg->id[vlen] = '\0';
		} else if (klen == 5 && !strncmp(p, "cache", 5) && val) {
			if (vlen == 4 && !strncmp(val, "none", 4)) {
				cfg->cache = BLK_CACHE_NONE;
			} else if (vlen == 9 && !strncmp(val, "writeback", 9)) {
				cfg->cache = BLK_CACHE_WRITEBACK;
			} else {
				char bad[32];

				snprintf(bad, sizeof(bad), "%.*s", (int)(vlen < 31 ? vlen : 31), val);
				ret = blk_parse_fail(err, "cache must be none or "
						     "writeback, not '%s'", bad);
				goto err_free;
			}
		} else {
			/* bw= and ops= are the CLI's (cli/run_devices.c), taken out before here. */
			ret = blk_parse_fail(err, "unknown option '%s' (want path=FILE"
					     "[,ro][,id=NAME][,cache=none|writeback][,bw=LIMIT]"
					     "[,ops=LIMIT])", key);
			goto err_free;
		}
		p += len;
		if (*p == ',' && *++p == '\0') {
			ret = blk_parse_fail(err, "trailing comma in '%s'", spec);
			goto err_free;
		}
	}
	if (!path)
		return blk_parse_fail(err, "missing path=FILE in '%s'", spec);
	cfg->path = path;
	return 0;

err_free:
	free(path);
	return ret;
}

