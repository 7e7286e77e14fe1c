/*
 * AML encoder. Opcode values and grammar are from ACPI 6.x section 20.2;
 * resource descriptor layouts from section 6.4.
 */
#include "boot/aml.h"

#include <errno.h>
#include <string.h>

#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP 0x14
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR 0x5c
#define AML_PARENT_PREFIX 0x5e
#define AML_RETURN_OP 0xa4
#define AML_ONES_OP 0xff

/* Resource descriptor tags (first byte). */
#define RES_IRQ_NOFLAGS 0x22 /* small item 0x04, length 2 */
#define RES_IO 0x47          /* small item 0x08, length 7 */
#define RES_END_TAG 0x79     /* small item 0x0f, length 1 */
#define RES_MEMORY32_FIXED 0x86
#define RES_EXT_IRQ 0x89
#define RES_QWORD_ADDRESS 0x8a
#define RES_DWORD_ADDRESS 0x87
#define RES_WORD_ADDRESS 0x88

/* Longest integer encoding: prefix + 8 bytes. */
#define AML_INT_MAX_BYTES 9

void aml_init(struct aml_buf *b, uint8_t *mem, size_t cap)
{
	b->data = mem;
	b->len = 0;
	b->cap = mem ? cap : 0;
	b->err = 0;
}

int aml_error(const struct aml_buf *b)
{
	return b->err;
}

size_t aml_len(const struct aml_buf *b)
{
	return b->len;
}

static void fail(struct aml_buf *b, int err)
{
	if (!b->err)
		b->err = err;
}

void aml_fail(struct aml_buf *b, int err)
{
	fail(b, err);
}

void aml_bytes(struct aml_buf *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (n > b->cap - b->len) {
		fail(b, -ENOSPC);
		return;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_u8(struct aml_buf *b, uint8_t v)
{
	aml_bytes(b, &v, 1);
}

static void put_le(struct aml_buf *b, uint64_t v, unsigned int nbytes)
{
	uint8_t tmp[8];

	for (unsigned int i = 0; i < nbytes; i++)
		tmp[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(b, tmp, nbytes);
}

/* Shifts [at, len) right by n to make room for a prefix known only now. */
static void insert(struct aml_buf *b, size_t at, const uint8_t *p, size_t n)
{
	if (b->err)
		return;
	if (at > b->len) {
		fail(b, -EINVAL);
		return;
	}
	if (n > b->cap - b->len) {
		fail(b, -ENOSPC);
		return;
	}
	memmove(b->data + at + n, b->data + at, b->len - at);
	memcpy(b->data + at, p, n);
	b->len += n;
}

int aml_pkglen_encode(uint8_t out[4], uint32_t value)
{
	int n;

	if (value <= 0x3f) {
		out[0] = (uint8_t)value;
		return 1;
	}
	if (value <= 0xfff)
		n = 2;
	else if (value <= 0xfffff)
		n = 3;
	else if (value <= AML_PKGLEN_MAX)
		n = 4;
	else
		return -EINVAL;
	/* Lead byte: count of following bytes in bits 7:6, low nibble in 3:0. */
	out[0] = (uint8_t)(((n - 1) << 6) | (value & 0xf));
	for (int i = 1; i < n; i++)
		out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
	return n;
}

void aml_end(struct aml_buf *b, size_t mark)
{
	static const uint32_t form_max[4] = { 0x3f, 0xfff, 0xfffff, AML_PKGLEN_MAX };
	uint8_t enc[4];
	size_t body;
	int n;

	if (b->err)
		return;
	if (mark > b->len) {
		fail(b, -EINVAL);
		return;
	}
	body = b->len - mark;
	/* The length counts its own bytes, so pick the form that fits both. */
	for (n = 1; n <= 4; n++)
		if (body + (size_t)n <= form_max[n - 1])
			break;
	if (n > 4) {
		fail(b, -E2BIG);
		return;
	}
	if (aml_pkglen_encode(enc, (uint32_t)(body + (size_t)n)) != n) {
		fail(b, -EINVAL);
		return;
	}
	insert(b, mark, enc, (size_t)n);
}

static bool is_lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_lead_char(c) || (c >= '0' && c <= '9');
}

/* Length of the segment at s (up to '.' or NUL), or -EINVAL if invalid. */
static int seg_len(const char *s)
{
	int n = 0;

	while (s[n] && s[n] != '.') {
		if (n == 4 || !(n == 0 ? is_lead_char(s[n]) : is_name_char(s[n])))
			return -EINVAL;
		n++;
	}
	return n ? n : -EINVAL;
}

void aml_name_string(struct aml_buf *b, const char *path)
{
	const char *p;
	unsigned int nsegs = 0;
	bool prefixed;

	if (b->err)
		return;
	if (!path) {
		fail(b, -EINVAL);
		return;
	}
	prefixed = *path == '\\' || *path == '^';
	if (*path == '\\') {
		put_u8(b, AML_ROOT_CHAR);
		path++;
	} else {
		while (*path == '^') {
			put_u8(b, AML_PARENT_PREFIX);
			path++;
		}
	}
	/* Validate and count first: the prefix depends on the count. */
	for (p = path; *p;) {
		int n = seg_len(p);

		if (n < 0) {
			fail(b, n);
			return;
		}
		nsegs++;
		p += n;
		if (*p == '.' && !*++p) {
			fail(b, -EINVAL); /* trailing dot */
			return;
		}
	}
	if (nsegs == 0) {
		if (!prefixed) {
			fail(b, -EINVAL);
			return;
		}
		put_u8(b, 0x00); /* NullName: "\\" alone names the root */
		return;
	}
	if (nsegs > 255) {
		fail(b, -EINVAL);
		return;
	}
	if (nsegs == 2) {
		put_u8(b, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		put_u8(b, AML_MULTI_NAME_PREFIX);
		put_u8(b, (uint8_t)nsegs);
	}
	for (p = path; *p;) {
		char seg[4] = { '_', '_', '_', '_' };
		int n = seg_len(p);

		memcpy(seg, p, (size_t)n);
		aml_bytes(b, seg, 4);
		p += n;
		if (*p == '.')
			p++;
	}
}

void aml_name(struct aml_buf *b, const char *name)
{
	put_u8(b, AML_NAME_OP);
	aml_name_string(b, name);
}

static size_t int_encode(uint8_t out[AML_INT_MAX_BYTES], uint64_t v)
{
	unsigned int nbytes;

	if (v == 0) {
		out[0] = AML_ZERO_OP;
		return 1;
	}
	if (v == 1) {
		out[0] = AML_ONE_OP;
		return 1;
	}
	/* Ones is 64-bit all-ones only in revision 2+ tables, which we emit. */
	if (v == UINT64_MAX) {
		out[0] = AML_ONES_OP;
		return 1;
	}
	if (v <= 0xff) {
		out[0] = AML_BYTE_PREFIX;
		nbytes = 1;
	} else if (v <= 0xffff) {
		out[0] = AML_WORD_PREFIX;
		nbytes = 2;
	} else if (v <= 0xffffffff) {
		out[0] = AML_DWORD_PREFIX;
		nbytes = 4;
	} else {
		out[0] = AML_QWORD_PREFIX;
		nbytes = 8;
	}
	for (unsigned int i = 0; i < nbytes; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return 1 + nbytes;
}

void aml_integer(struct aml_buf *b, uint64_t v)
{
	uint8_t enc[AML_INT_MAX_BYTES];
	size_t n = int_encode(enc, v);

	aml_bytes(b, enc, n);
}

void aml_string(struct aml_buf *b, const char *s)
{
	if (b->err)
		return;
	if (!s) {
		fail(b, -EINVAL);
		return;
	}
	/* AsciiCharList allows only 0x01-0x7f. */
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p > 0x7f) {
			fail(b, -EINVAL);
			return;
		}
	}
	put_u8(b, AML_STRING_PREFIX);
	aml_bytes(b, s, strlen(s) + 1);
}

void aml_buffer(struct aml_buf *b, const void *data, size_t n)
{
	size_t mark;

	put_u8(b, AML_BUFFER_OP);
	mark = b->len;
	aml_integer(b, n);
	if (n)
		aml_bytes(b, data, n);
	aml_end(b, mark);
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int aml_eisaid_value(const char *id, uint32_t *out)
{
	uint8_t bytes[4];
	int h[4];

	*out = 0;
	if (!id || strlen(id) != 7)
		return -EINVAL;
	for (int i = 0; i < 3; i++)
		if (id[i] < 'A' || id[i] > 'Z')
			return -EINVAL;
	for (int i = 0; i < 4; i++) {
		h[i] = hex_val(id[3 + i]);
		if (h[i] < 0)
			return -EINVAL;
	}
	/*
	 * Three 5-bit letters ('A' = 1) then the product number, stored
	 * big-endian within the DWord so the bytes read in id order.
	 */
	uint16_t letters = (uint16_t)(((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) |
				      (id[2] - 0x40));
	bytes[0] = (uint8_t)(letters >> 8);
	bytes[1] = (uint8_t)letters;
	bytes[2] = (uint8_t)((h[0] << 4) | h[1]);
	bytes[3] = (uint8_t)((h[2] << 4) | h[3]);
	*out = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
	       (uint32_t)bytes[3] << 24;
	return 0;
}

void aml_eisaid(struct aml_buf *b, const char *id)
{
	uint32_t v;
	int ret;

	if (b->err)
		return;
	ret = aml_eisaid_value(id, &v);
	if (ret) {
		fail(b, ret);
		return;
	}
	/* Always a DWordConst, as ASL compilers emit it, whatever the value. */
	put_u8(b, AML_DWORD_PREFIX);
	put_le(b, v, 4);
}

size_t aml_scope_begin(struct aml_buf *b, const char *name)
{
	size_t mark;

	put_u8(b, AML_SCOPE_OP);
	mark = b->len;
	aml_name_string(b, name);
	return mark;
}

size_t aml_device_begin(struct aml_buf *b, const char *name)
{
	size_t mark;

	put_u8(b, AML_EXT_OP_PREFIX);
	put_u8(b, AML_DEVICE_OP);
	mark = b->len;
	aml_name_string(b, name);
	return mark;
}

size_t aml_method_begin(struct aml_buf *b, const char *name, unsigned int nargs,
			bool serialized)
{
	size_t mark;

	if (nargs > 7)
		fail(b, -EINVAL);
	put_u8(b, AML_METHOD_OP);
	mark = b->len;
	aml_name_string(b, name);
	/* MethodFlags: ArgCount in 2:0, SerializeFlag in 3, SyncLevel 0. */
	put_u8(b, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
	return mark;
}

size_t aml_package_begin(struct aml_buf *b, uint8_t nelems)
{
	size_t mark;

	put_u8(b, AML_PACKAGE_OP);
	mark = b->len;
	put_u8(b, nelems);
	return mark;
}

void aml_return(struct aml_buf *b)
{
	put_u8(b, AML_RETURN_OP);
}

size_t aml_restemplate_begin(struct aml_buf *b)
{
	put_u8(b, AML_BUFFER_OP);
	return b->len;
}

void aml_restemplate_end(struct aml_buf *b, size_t mark)
{
	uint8_t enc[AML_INT_MAX_BYTES];
	size_t n;

	aml_res_end_tag(b);
	if (b->err)
		return;
	if (mark > b->len) {
		fail(b, -EINVAL);
		return;
	}
	/* BufferSize precedes the bytes but is only known now. */
	n = int_encode(enc, b->len - mark);
	insert(b, mark, enc, n);
	aml_end(b, mark);
}

void aml_res_io16(struct aml_buf *b, uint16_t min, uint16_t max, uint8_t align,
		  uint8_t len)
{
	put_u8(b, RES_IO);
	put_u8(b, 0x01); /* decodes all 16 address bits */
	put_le(b, min, 2);
	put_le(b, max, 2);
	put_u8(b, align);
	put_u8(b, len);
}

void aml_res_irq_noflags(struct aml_buf *b, uint16_t irq_mask)
{
	/* No flags byte means edge-triggered, active-high, exclusive. */
	put_u8(b, RES_IRQ_NOFLAGS);
	put_le(b, irq_mask, 2);
}

void aml_res_memory32_fixed(struct aml_buf *b, bool writable, uint32_t base,
			    uint32_t size)
{
	put_u8(b, RES_MEMORY32_FIXED);
	put_le(b, 9, 2); /* bytes after the length field */
	put_u8(b, writable ? 0x01 : 0x00);
	put_le(b, base, 4);
	put_le(b, size, 4);
}

void aml_res_qword_memory(struct aml_buf *b, bool writable, bool cacheable, uint64_t min,
			  uint64_t max)
{
	put_u8(b, RES_QWORD_ADDRESS);
	put_le(b, 43, 2);          /* bytes after the length field */
	put_u8(b, 0);              /* resource type: memory range */
	put_u8(b, 0x0c);           /* general flags: fixed minimum and maximum */
	put_u8(b, (uint8_t)((cacheable ? 0x02 : 0x00) | (writable ? 0x01 : 0x00)));
	put_le(b, 0, 8);           /* granularity */
	put_le(b, min, 8);
	put_le(b, max, 8);
	put_le(b, 0, 8);           /* translation offset */
	put_le(b, max - min + 1, 8);
}

/*
 * A Word, DWord or QWord Address Space Descriptor (6.4.3.5.1-3) that a bridge
 * produces: a window it decodes for the devices below it, fixed minimum
 * and maximum. Type-specific flags: memory read-write and not
 * cacheable, I/O the entire range.
 */
static void res_window(struct aml_buf *b, uint8_t tag, unsigned int width, uint8_t rtype,
		       uint8_t tflags, uint64_t min, uint64_t max)
{
	put_u8(b, tag);
	put_le(b, 3 + 5 * width, 2); /* bytes after the length field */
	put_u8(b, rtype);
	put_u8(b, 0x0c);             /* general flags: fixed minimum and maximum, producer */
	put_u8(b, tflags);
	put_le(b, 0, width);         /* granularity */
	put_le(b, min, width);
	put_le(b, max, width);
	put_le(b, 0, width);         /* translation offset */
	put_le(b, max - min + 1, width);
}

void aml_res_window(struct aml_buf *b, enum aml_window kind, uint64_t min, uint64_t max)
{
	switch (kind) {
	case AML_WINDOW_BUS:
		res_window(b, RES_WORD_ADDRESS, 2, 2, 0, min, max);
		break;
	case AML_WINDOW_IO:
		res_window(b, RES_WORD_ADDRESS, 2, 1, 0x03, min, max);
		break;
	case AML_WINDOW_MEM32:
		res_window(b, RES_DWORD_ADDRESS, 4, 0, 0x01, min, max);
		break;
	case AML_WINDOW_MEM64:
		res_window(b, RES_QWORD_ADDRESS, 8, 0, 0x01, min, max);
		break;
	}
}

void aml_res_ext_irq(struct aml_buf *b, enum aml_irq_trigger trig,
		     enum aml_irq_polarity pol, bool shared, uint32_t gsi)
{
	uint8_t flags = 0x01; /* consumer */

	if (trig == AML_IRQ_EDGE)
		flags |= 0x02;
	if (pol == AML_IRQ_ACTIVE_LOW)
		flags |= 0x04;
	if (shared)
		flags |= 0x08;
	put_u8(b, RES_EXT_IRQ);
	put_le(b, 6, 2); /* flags, count and one DWord */
	put_u8(b, flags);
	put_u8(b, 1);
	put_le(b, gsi, 4);
}

void aml_res_end_tag(struct aml_buf *b)
{
	/* A zero checksum tells the OS the template is not checksummed. */
	put_u8(b, RES_END_TAG);
	put_u8(b, 0x00);
}
