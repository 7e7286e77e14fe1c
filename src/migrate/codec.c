/* The stream's framing: its header and each record's, checked (codec.h). */
#include "migrate/codec.h"

#include <errno.h>
#include <string.h>

static const char *const names[] = {
	[MIG_LAYOUT] = "LAYOUT", [MIG_PAGES] = "PAGES", [MIG_ZERO] = "ZERO",
	[MIG_STATE] = "STATE", [MIG_END] = "END", [MIG_GO] = "GO", [MIG_READY] = "READY",
	[MIG_FAIL] = "FAIL", [MIG_RUNNING] = "RUNNING", [MIG_PRELUDE] = "PRELUDE",
	[MIG_POSTCOPY] = "POSTCOPY", [MIG_PAGE_REQ] = "PAGE_REQ",
	[MIG_POSTCOPY_END] = "POSTCOPY_END", [MIG_POSTCOPY_DONE] = "POSTCOPY_DONE",
};

const char *mig_type_name(uint32_t type)
{
	return type < sizeof(names) / sizeof(names[0]) && names[type] ? names[type] : "unknown";
}

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (unsigned int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void mig_header_put(uint8_t out[MIG_HEADER_SIZE])
{
	memcpy(out, MIG_MAGIC, 8);
	put32(out + 8, MIG_VERSION);
	put32(out + 12, 0);
}

int mig_header_check(const uint8_t in[MIG_HEADER_SIZE], struct err *err)
{
	if (memcmp(in, MIG_MAGIC, 8))
		return err_set(err, true, -EPROTO, "not a Hearth migration stream (no %s header)",
			       MIG_MAGIC);
	if (get32(in + 12))
		return err_set(err, true, -EPROTO, "a migration stream header whose reserved word "
			       "is not zero");
	if (get32(in + 8) != MIG_VERSION)
		return err_set(err, true, -EPROTO, "a migration stream of version %u; this Hearth "
			       "reads version %u", get32(in + 8), MIG_VERSION);
	return 0;
}

void mig_rec_put(uint8_t out[MIG_REC_SIZE], uint32_t type, uint64_t len)
{
	put32(out, type);
	put32(out + 4, 0);
	put64(out + 8, len);
}

int mig_rec_check(const uint8_t in[MIG_REC_SIZE], struct mig_rec *r, struct err *err)
{
	uint64_t len = get64(in + 8);
	uint32_t type = get32(in);
	const char *bad = NULL;

	r->type = type;
	r->len = len;
	switch (type) {
	case MIG_LAYOUT:
		bad = len < 8 + 64 || len > MIG_LAYOUT_MAX ? "not a size and an ELF header of at "
		      "most 1 MiB" : NULL;
		break;
	case MIG_PAGES:
		bad = len < 8 + MIG_PAGE || (len - 8) % MIG_PAGE ||
		      (len - 8) / MIG_PAGE > MIG_PAGES_MAX ? "not a GPA and 1 to 256 whole pages"
		      : NULL;
		break;
	case MIG_ZERO:
		bad = len != 16 ? "not a GPA and a count" : NULL;
		break;
	case MIG_STATE: case MIG_PRELUDE:
		bad = !len || len > MIG_STATE_MAX ? "not a state file of at most 64 MiB" : NULL;
		break;
	case MIG_FAIL:
		bad = len > MIG_FAIL_MAX ? "a reason longer than 1 KiB" : NULL;
		break;
	case MIG_END: case MIG_GO: case MIG_READY: case MIG_RUNNING: case MIG_POSTCOPY_END:
	case MIG_POSTCOPY_DONE:
		bad = len ? "not empty" : NULL;
		break;
	case MIG_POSTCOPY:
		bad = !len || len % 8 || len > MIG_RAM_MAX / MIG_PAGE / 8 ? "not a bitmap of whole "
		      "words, one bit per page of at most 2 TiB of RAM" : NULL;
		break;
	case MIG_PAGE_REQ:
		bad = len != 8 ? "not a GPA" : NULL;
		break;
	default:
		return err_set(err, true, -EPROTO, "a record of unknown type %u (%llu bytes)",
			       type, (unsigned long long)len);
	}
	if (get32(in + 4))
		bad = "its reserved word is not zero";
	if (bad)
		return err_set(err, true, -EPROTO, "record %s of %llu bytes: %s",
			       mig_type_name(type), (unsigned long long)len, bad);
	return 0;
}

bool mig_page_zero(const void *p)
{
	const uint64_t *w = p;

	for (unsigned int i = 0; i < MIG_PAGE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			return false;
	return true;
}
