/*
 * --metadata FILE and --mmds-size-limit: the MMDS store at start, as
 * Firecracker fills it before its first request. Firecracker panics on a
 * file it cannot read or parse, and stops its start on data that does not
 * fit; as `firecracker` Hearth says what it says, and exits 1
 * (docs/api.md "Differences from Firecracker").
 */
#include "host/host.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "util/log.h"

/* The largest --metadata file read: JSON with room for whitespace around a store of 1 GiB. */
#define HOST_METADATA_MAX (2ull << 30)
/* Brackets tracked for serde's "EOF while parsing ..."; deeper, it says "a value". */
#define JSON_FAULT_DEPTH 64

/*
 * What the text holds open where it ends: a string, an object, a list or
 * nothing; serde names that when the input stops early.
 */
static const char *open_at_end(const char *buf, size_t len)
{
	char stack[JSON_FAULT_DEPTH];
	unsigned int depth = 0, over = 0;
	bool in_str = false, esc = false;

	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == '"') {
			in_str = true;
		} else if (ch == '{' || ch == '[') {
			if (depth < JSON_FAULT_DEPTH)
				stack[depth++] = ch;
			else
				over++;
		} else if ((ch == '}' || ch == ']') && over) {
			over--;
		} else if ((ch == '}' || ch == ']') && depth) {
			depth--;
		}
	}
	if (in_str)
		return "a string";
	if (over || !depth)
		return "a value";
	return stack[depth - 1] == '{' ? "an object" : "a list";
}

void host_json_fault(const char *buf, size_t len, char *out, size_t n)
{
	json_error_t je;
	json_t *v = json_loadb(buf, len, JSON_DECODE_ANY, &je);
	unsigned int line = 1, col = 0;

	if (v) {
		json_decref(v);
		snprintf(out, n, "valid JSON");
		return;
	}
	if (je.position < 0 || (size_t)je.position < len) {
		snprintf(out, n, "%s at line %d column %d", je.text, je.line, je.column);
		return;
	}
	/* Cut short: serde's position is the end's, its column counted from the last newline. */
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			line++;
			col = 0;
		} else {
			col++;
		}
	}
	snprintf(out, n, "EOF while parsing %s at line %u column %u", open_at_end(buf, len), line,
		 col);
}

/* The file whole, into *out (malloc'd) and *len; 0 or -errno with err. */
static int read_all(const char *path, bool fc, char **out, size_t *len, struct err *err)
{
	char *buf = NULL;
	size_t cap = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	*len = 0;
	if (fd < 0) {
		ret = -errno;
		goto err_open;
	}
	for (;;) {
		ssize_t n;

		if (*len == cap) {
			char *more = cap < HOST_METADATA_MAX ? realloc(buf, cap ? cap * 2 : 65536) : NULL;

			if (!more) {
				ret = err_set(err, cap >= HOST_METADATA_MAX, -EFBIG,
					      "--metadata '%s': too big to read", path);
				goto err_free;
			}
			buf = more;
			cap = cap ? cap * 2 : 65536;
		}
		n = read(fd, buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto err_open;
		}
		if (!n)
			break;
		*len += (size_t)n;
	}
	close(fd);
	*out = buf;
	return 0;

err_open:
	if (fc)
		/* Its panic's words: the file's read is an expect() in its main. */
		err_set(err, false, ret, "Firecracker panicked: Unable to open or read from the mmds "
			"content file: %s (os error %d)", strerror(-ret), -ret);
	else
		err_set(err, true, ret, "--metadata '%s': %s", path, strerror(-ret));
err_free:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

int host_metadata_check(const struct host_opts *o, struct err *err)
{
	char *buf = NULL, why[192];
	size_t len = 0;
	int ret;

	if (!o->product || !o->metadata)
		return 0;
	ret = read_all(o->metadata, true, &buf, &len, err);
	if (ret)
		return ret;
	host_json_fault(buf, len, why, sizeof(why));
	free(buf);
	if (strcmp(why, "valid JSON"))
		return err_set(err, false, -EINVAL, "Firecracker panicked: MMDS error: metadata "
			       "provided not valid json: %s", why);
	return 0;
}

int host_mmds(struct host *h, const struct host_opts *o, struct err *err)
{
	bool fc = o->product != NULL;
	char *buf = NULL, why[192];
	size_t len = 0;
	int ret;

	if (o->metadata) {
		ret = read_all(o->metadata, fc, &buf, &len, err);
		if (ret)
			return ret;
	} else if (o->metadata_text) {
		len = strlen(o->metadata_text);
		buf = strdup(o->metadata_text);
		if (!buf)
			return err_set(err, false, -ENOMEM, "out of memory");
	}
	if (fc && o->metadata) {
		host_json_fault(buf, len, why, sizeof(why));
		if (strcmp(why, "valid JSON")) {
			free(buf);
			return err_set(err, false, -EINVAL, "Firecracker panicked: MMDS error: metadata "
				       "provided not valid json: %s", why);
		}
	}
	ret = ctl_mmds_init(&h->ctl, o->mmds_size_limit, buf, len, err);
	free(buf);
	if (ret && fc && ret == -EFBIG)
		/* Its start's error chain: a config file's, or the API's preboot. */
		return err_set(err, false, ret, o->config_file ? "Failed to build MicroVM from Json: "
			       "Configuration for VMM from one single json failed: MMDS error: The "
			       "MMDS patch request doesn't fit." : "Failed to build MicroVM: "
			       "Populating MMDS from file failed: The MMDS patch request doesn't "
			       "fit..");
	if (ret && o->metadata)
		return err_prefix(err, ret, "--metadata '%s': ", o->metadata);
	if (ret && o->metadata_text)
		return err_prefix(err, ret, "fork: its mmds: ");
	if (!ret && fc && o->metadata)
		log_info("Successfully added metadata to mmds from file");
	return ret;
}
