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

static void blk_parse_free_backing(struct blk_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nbacking; i++)
		free(cfg->backing[i]);
	cfg->nbacking = 0;
}

/*
 * format=raw|qcow2, and backing=FILE (again for each file further down
 * the chain, in order) or backing=header (the headers' own names, within
 * each image's directory). 0 or -errno with err.
 */
static int blk_parse_format(struct blk_config *cfg, bool format, const char *val, size_t vlen,
			    struct err *err)
{
	char bad[32];

	snprintf(bad, sizeof(bad), "%.*s", (int)(vlen < 31 ? vlen : 31), val);
	if (format) {
		if (vlen == 3 && !strncmp(val, "raw", 3))
			cfg->format = BLK_FORMAT_RAW;
		else if (vlen == 5 && !strncmp(val, "qcow2", 5))
			cfg->format = BLK_FORMAT_QCOW2;
		else
			return blk_parse_fail(err, "format must be raw or qcow2, not '%s'", bad);
		return 0;
	}
	if (vlen == 0)
		return blk_parse_fail(err, "an empty backing=%s", "");
	if (vlen == 6 && !strncmp(val, "header", 6)) {
		cfg->backing_from_header = true;
		return 0;
	}
	if (cfg->nbacking == BLK_BACKING_MAX)
		return blk_parse_fail(err, "more than %s backing files (a chain of 16 images at most)",
				      "15");
	cfg->backing[cfg->nbacking] = strndup(val, vlen);
	if (!cfg->backing[cfg->nbacking])
		return err_set(err, false, -ENOMEM, "out of memory");
	cfg->nbacking++;
	return 0;
}

/* The format keys against each other and the rest of the spec. */
static int blk_parse_check_format(const struct blk_config *cfg, bool socket, struct err *err)
{
	if (socket && (cfg->format != BLK_FORMAT_RAW || cfg->nbacking || cfg->backing_from_header))
		return blk_parse_fail(err, "format= and backing= with socket=: the vhost-user "
				      "backend reads its own image%s", "");
	if (cfg->nbacking && cfg->backing_from_header)
		return blk_parse_fail(err, "backing=FILE and backing=header: name the chain, or "
				      "let the headers name it, not both%s", "");
	if (cfg->format != BLK_FORMAT_QCOW2 && (cfg->nbacking || cfg->backing_from_header))
		return blk_parse_fail(err, "backing= needs format=qcow2 (a raw image has no "
				      "backing file)%s", "");
	return 0;
}

int virtio_blk_parse(const char *spec, struct blk_config *cfg, struct err *err)
{
	const char *p = spec;
	char *path = NULL, *socket = NULL;
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
		if (((klen == 4 && !strncmp(p, "path", 4)) || (klen == 6 && !strncmp(p, "socket", 6)))
		    && val) {
			char **dst = klen == 4 ? &path : &socket;

			if (path || socket || vlen == 0) {
				ret = blk_parse_fail(err, "%s", vlen == 0 ? "an empty path or socket" :
						     "give path= or socket=, once");
				goto err_free;
			}
			*dst = strndup(val, vlen);
			if (!*dst) {
				ret = err_set(err, false, -ENOMEM, "out of memory");
				goto err_free;
			}
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
		} else if (klen == 6 && !strncmp(p, "queues", 6) && val) {
			char num[8] = "";
			char *end;
			unsigned long n;

			snprintf(num, sizeof(num), "%.*s", (int)(vlen < 7 ? vlen : 7), val);
			n = strtoul(num, &end, 10);
			if (vlen == 0 || vlen > 2 || *end || n < 1 || n > BLK_MAX_QUEUES) {
				ret = blk_parse_fail(err, "queues must be 1 to 16, not '%s'", num);
				goto err_free;
			}
			cfg->queues = (unsigned int)n;
		} else if (((klen == 6 && !strncmp(p, "format", 6)) ||
			    (klen == 7 && !strncmp(p, "backing", 7))) && val) {
			ret = blk_parse_format(cfg, klen == 6, val, vlen, err);
			if (ret)
				goto err_free;
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
					     "[,ro][,id=NAME][,cache=none|writeback][,queues=N]"
					     "[,format=raw|qcow2][,backing=FILE|header]..."
					     "[,bw=LIMIT][,ops=LIMIT], or socket=PATH[,id=NAME]"
					     "[,cache=...])",
					     key);
			goto err_free;
		}
		p += len;
		if (*p == ',' && *++p == '\0') {
			ret = blk_parse_fail(err, "trailing comma in '%s'", spec);
			goto err_free;
		}
	}
	if (!path && !socket) {
		blk_parse_free_backing(cfg);
		return blk_parse_fail(err, "missing path=FILE (or socket=PATH) in '%s'", spec);
	}
	ret = blk_parse_check_format(cfg, socket != NULL, err);
	if (ret)
		goto err_free;
	/* A vhost-user backend decides whether its export is writable, and its queues. */
	if (socket && cfg->queues) {
		ret = blk_parse_fail(err, "queues= with socket=: the vhost-user backend has its "
				     "own (its export's num-queues)%s", "");
		goto err_free;
	}
	if (socket && cfg->readonly) {
		ret = blk_parse_fail(err, "ro with socket=: the vhost-user backend decides (export "
				     "it read-only there)%s", "");
		goto err_free;
	}
	cfg->path = path;
	cfg->socket = socket;
	return 0;

err_free:
	blk_parse_free_backing(cfg);
	free(path);
	free(socket);
	return ret;
}

