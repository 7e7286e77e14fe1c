/*
 * multipart/form-data, read strictly, for POST /files. No library Debian
 * ships can be linked into a static program for this (GMime, the one
 * MIME parser in C, needs libmount and libunistring, which have no static
 * archives), so this reads exactly what the SDKs send (undici's FormData,
 * httpx, curl -F) and refuses the rest:
 *   the body starts with "--" BOUNDARY CRLF (no preamble);
 *   each part: header lines "Name: value" CRLF (no folding, 8 KiB at
 *   most), CRLF, the data, then CRLF "--" BOUNDARY;
 *   after a boundary, CRLF (another part) or "--" (the last; what follows
 *   is ignored);
 *   Content-Disposition form-data with a name, a filename optional
 *   (token or quoted-string values); Content-Transfer-Encoding, if any,
 *   binary, 8bit or 7bit.
 * The body is read whole from memory (the upload spooled and mapped).
 */
#ifndef HEARTH_AGENT_MULTIPART_H
#define HEARTH_AGENT_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MULTIPART_BOUNDARY_MAX 70   /* RFC 2046 */

struct multipart_part {
	const char *name;           /* the form field's name */
	const char *filename;       /* NULL when the part has none */
	const uint8_t *data;
	size_t len;
};

/* The boundary of a Content-Type "multipart/form-data; boundary=..." into out: 0 or -EINVAL. */
int multipart_boundary(const char *content_type, char *out, size_t n);
/*
 * Calls fn for each part of body, in order, until fn returns nonzero
 * (that value is returned). 0 when all went; -EINVAL for a malformed body
 * with why filled.
 */
int multipart_each(const uint8_t *body, size_t len, const char *boundary,
		   int (*fn)(void *opaque, const struct multipart_part *p), void *opaque,
		   char *why, size_t n);

#endif
