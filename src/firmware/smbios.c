/*
 * SMBIOS structures and entry points (smbios.h), from the SMBIOS 3.x
 * specification's layouts with QEMU's values. A structure is its
 * formatted area (type, length, handle, fields), then its strings, each
 * NUL-terminated, then one more NUL (two when it has none).
 */
#include "firmware/smbios.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sm_buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
	unsigned int count;          /* structures */
	size_t max_struct;           /* the largest one's bytes, strings included */
	bool ep30;                   /* built for the 3.0 entry point (type 4's longer form) */
};

/* The structure being written: where it starts, its strings so far. */
struct sm_struct {
	size_t start;
	uint8_t nstr;
};

static void sm_grow(struct sm_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 1024;
	uint8_t *p;

	if (b->oom)
		return;
	while (cap < b->len + more)
		cap *= 2;
	if (cap == b->cap)
		return;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void sm_append(struct sm_buf *b, const void *data, size_t len)
{
	sm_grow(b, len);
	if (b->oom)
		return;
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static struct sm_struct sm_begin(struct sm_buf *b, uint8_t type, uint8_t len, uint16_t handle)
{
	struct sm_struct s = { .start = b->len };
	uint8_t area[256] = { type, len, (uint8_t)handle, (uint8_t)(handle >> 8) };

	sm_append(b, area, len);
	return s;
}

/* Little-endian n bytes of v at off in s's formatted area. */
static void sm_put(struct sm_buf *b, const struct sm_struct *s, unsigned int off, uint64_t v,
		   unsigned int n)
{
	if (b->oom)
		return;
	for (unsigned int i = 0; i < n; i++)
		b->p[s->start + off + i] = (uint8_t)(v >> (8 * i));
}

/* A string field: the string's number, or 0 for none (NULL or empty, as QEMU leaves them). */
static void sm_str(struct sm_buf *b, struct sm_struct *s, unsigned int off, const char *str)
{
	if (!str || !*str) {
		sm_put(b, s, off, 0, 1);
		return;
	}
	sm_append(b, str, strlen(str) + 1);
	sm_put(b, s, off, ++s->nstr, 1);
}

static void sm_end(struct sm_buf *b, const struct sm_struct *s)
{
	static const uint8_t zeros[2];

	sm_append(b, zeros, s->nstr ? 1 : 2);
	b->count++;
	if (b->len - s->start > b->max_struct)
		b->max_struct = b->len - s->start;
}

static void type0(struct sm_buf *b, const struct smbios_config *c)
{
	struct sm_struct s = sm_begin(b, 0, 0x18, 0x000);

	sm_str(b, &s, 0x04, c->bios_vendor);
	sm_str(b, &s, 0x05, c->bios_version);
	sm_put(b, &s, 0x06, 0xe800, 2);          /* the starting segment, SeaBIOS's */
	sm_str(b, &s, 0x08, c->bios_date);
	sm_put(b, &s, 0x0a, 0x08, 8);            /* characteristics "not supported" */
	/* Extension byte 2: targeted content distribution, a VM, UEFI when it is one. */
	sm_put(b, &s, 0x13, 0x14 | (c->uefi ? 0x08 : 0), 1);
	sm_put(b, &s, 0x14, c->bios_major, 1);
	sm_put(b, &s, 0x15, c->bios_minor, 1);
	sm_put(b, &s, 0x16, 0xffff, 2);          /* no embedded controller */
	sm_end(b, &s);
}

/* RFC 4122's bytes to SMBIOS 2.6's wire order: time_low, time_mid, time_hi little-endian. */
static void uuid_encode(uint8_t *dst, const uint8_t *u)
{
	static const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };

	for (unsigned int i = 0; i < 16; i++)
		dst[i] = u[order[i]];
}

static void type1(struct sm_buf *b, const struct smbios_config *c)
{
	struct sm_struct s = sm_begin(b, 1, 0x1b, 0x100);

	sm_str(b, &s, 0x04, c->manufacturer);
	sm_str(b, &s, 0x05, c->product);
	sm_str(b, &s, 0x06, c->version);
	sm_str(b, &s, 0x07, c->serial);
	if (c->has_uuid && !b->oom)
		uuid_encode(b->p + s.start + 0x08, c->uuid);
	sm_put(b, &s, 0x18, 0x06, 1);            /* woken by the power switch */
	sm_str(b, &s, 0x19, c->sku);
	sm_str(b, &s, 0x1a, c->family);
	sm_end(b, &s);
}

static void type3(struct sm_buf *b, const struct smbios_config *c)
{
	struct sm_struct s = sm_begin(b, 3, 0x16, 0x300);

	sm_str(b, &s, 0x04, c->manufacturer);
	sm_put(b, &s, 0x05, 0x01, 1);            /* type "other" */
	sm_str(b, &s, 0x06, c->version);
	sm_put(b, &s, 0x09, 0x030303, 3);        /* boot-up, power supply, thermal: safe */
	sm_put(b, &s, 0x0c, 0x02, 1);            /* security status unknown */
	sm_end(b, &s);
}

static void type4(struct sm_buf *b, const struct smbios_config *c, unsigned int i)
{
	struct sm_struct s = sm_begin(b, 4, b->ep30 ? 0x30 : 0x2a, (uint16_t)(0x400 + i));
	char sock[16];

	snprintf(sock, sizeof(sock), "CPU%2x", i);
	sm_str(b, &s, 0x04, sock);
	sm_put(b, &s, 0x05, 0x03, 1);            /* a central processor */
	sm_put(b, &s, 0x06, 0xfe, 1);            /* see processor family 2 */
	sm_str(b, &s, 0x07, c->manufacturer);
	sm_put(b, &s, 0x08, c->cpuid_eax, 4);
	sm_put(b, &s, 0x0c, c->cpuid_edx, 4);
	sm_str(b, &s, 0x10, c->version);
	sm_put(b, &s, 0x14, 2000, 2);            /* MHz: SVVP wants a known speed */
	sm_put(b, &s, 0x16, 2000, 2);
	sm_put(b, &s, 0x18, 0x41, 1);            /* socket populated, CPU enabled */
	sm_put(b, &s, 0x19, 0x01, 1);            /* upgrade "other" */
	sm_put(b, &s, 0x1a, 0xffffffffffffull, 6); /* no L1, L2, L3 cache structures */
	sm_put(b, &s, 0x23, 0x010101, 3);        /* one core, enabled, one thread */
	sm_put(b, &s, 0x26, 0x02, 2);            /* characteristics unknown */
	sm_put(b, &s, 0x28, 0x01, 2);            /* processor family 2: "other" */
	if (b->ep30)
		sm_put(b, &s, 0x2a, 0x000100010001ull, 6); /* the same counts, 16 bits each */
	sm_end(b, &s);
}

static void type16(struct sm_buf *b, uint64_t ram, unsigned int dimms)
{
	struct sm_struct s = sm_begin(b, 16, 0x17, 0x1000);
	uint64_t kib = (ram + 1023) / 1024;

	sm_put(b, &s, 0x04, 0x01, 1);            /* location "other" */
	sm_put(b, &s, 0x05, 0x03, 1);            /* system memory */
	sm_put(b, &s, 0x06, 0x06, 1);            /* multi-bit ECC, as SeaBIOS says for Windows */
	/* Past 2 TiB in KiB the size moves to the extended field, in bytes. */
	sm_put(b, &s, 0x07, kib < 0x80000000ull ? kib : 0x80000000ull, 4);
	sm_put(b, &s, 0x0b, 0xfffe, 2);          /* no error information */
	sm_put(b, &s, 0x0d, dimms, 2);
	sm_put(b, &s, 0x0f, kib < 0x80000000ull ? 0 : ram, 8);
	sm_end(b, &s);
}

static void type17(struct sm_buf *b, const struct smbios_config *c, unsigned int i, uint64_t size)
{
	struct sm_struct s = sm_begin(b, 17, 0x28, (uint16_t)(0x1100 + i));
	uint64_t mib = (size + (1ull << 20) - 1) >> 20;
	char loc[24];

	sm_put(b, &s, 0x04, 0x1000, 2);          /* type 16's array */
	sm_put(b, &s, 0x06, 0xfffe, 2);
	sm_put(b, &s, 0x08, 0xffffffff, 4);      /* total and data width unknown */
	/* From 32 GiB - 1 MiB the size moves to the extended field. */
	sm_put(b, &s, 0x0c, mib < 0x7fff ? mib : 0x7fff, 2);
	sm_put(b, &s, 0x0e, 0x09, 1);            /* a DIMM */
	snprintf(loc, sizeof(loc), "DIMM %u", i);
	sm_str(b, &s, 0x10, loc);
	sm_put(b, &s, 0x12, 0x07, 1);            /* RAM */
	sm_put(b, &s, 0x13, 0x02, 2);            /* type detail "other" */
	sm_str(b, &s, 0x17, c->manufacturer);
	sm_put(b, &s, 0x1c, mib < 0x7fff ? 0 : mib, 4);
	sm_end(b, &s);
}

static void type19(struct sm_buf *b, unsigned int i, uint64_t start, uint64_t size)
{
	struct sm_struct s = sm_begin(b, 19, 0x1f, (uint16_t)(0x1300 + i));
	uint64_t end = start + size - 1;

	/* In KiB while both ends fit 32 bits, else in bytes in the extended fields. */
	if (start / 1024 < UINT32_MAX && end / 1024 < UINT32_MAX) {
		sm_put(b, &s, 0x04, start / 1024, 4);
		sm_put(b, &s, 0x08, end / 1024, 4);
	} else {
		sm_put(b, &s, 0x04, UINT32_MAX, 4);
		sm_put(b, &s, 0x08, UINT32_MAX, 4);
		sm_put(b, &s, 0x0f, start, 8);
		sm_put(b, &s, 0x17, end, 8);
	}
	sm_put(b, &s, 0x0c, 0x1000, 2);
	sm_put(b, &s, 0x0e, 1, 1);               /* one device per row */
	sm_end(b, &s);
}

static void type_bare(struct sm_buf *b, uint8_t type, uint8_t len, uint16_t handle)
{
	struct sm_struct s = sm_begin(b, type, len, handle);

	sm_end(b, &s);
}

static void tables_build(struct sm_buf *b, const struct smbios_config *c)
{
	uint64_t ram = c->mem->ram_bytes;
	unsigned int dimms = (unsigned int)((ram + SMBIOS_DIMM_SIZE - 1) / SMBIOS_DIMM_SIZE);

	type0(b, c);
	type1(b, c);
	type3(b, c);
	for (unsigned int i = 0; i < c->ncpus; i++)
		type4(b, c, i);
	type16(b, ram, dimms);
	for (unsigned int i = 0; i < dimms; i++)
		type17(b, c, i, i + 1 < dimms ? SMBIOS_DIMM_SIZE : (ram - 1) % SMBIOS_DIMM_SIZE + 1);
	for (unsigned int i = 0; i < c->mem->nregions; i++)
		type19(b, i, c->mem->regions[i].gpa, c->mem->regions[i].size);
	type_bare(b, 32, 0x0b, 0x2000);          /* boot status: no errors */
	type_bare(b, 127, 0x04, 0x7f00);
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0u - sum);
}

static void put_le(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The entry point with its table address 0, checksums valid (the firmware redoes them). */
static void anchor_build(const struct sm_buf *b, uint8_t *a)
{
	if (b->ep30) {
		memset(a, 0, SMBIOS_30_ANCHOR_LEN);
		memcpy(a, "_SM3_", 5);
		a[6] = SMBIOS_30_ANCHOR_LEN;
		a[7] = 3;                        /* SMBIOS 3.0.0 */
		a[10] = 1;                       /* entry point revision */
		put_le(a + 12, b->len, 4);       /* the tables' maximum size */
		a[5] = checksum(a, SMBIOS_30_ANCHOR_LEN);
		return;
	}
	memset(a, 0, SMBIOS_21_ANCHOR_LEN);
	memcpy(a, "_SM_", 4);
	a[5] = SMBIOS_21_ANCHOR_LEN;
	a[6] = 2;                                /* SMBIOS 2.8 */
	a[7] = 8;
	put_le(a + 8, b->max_struct, 2);
	memcpy(a + 16, "_DMI_", 5);
	put_le(a + 22, b->len, 2);
	put_le(a + 28, b->count, 2);
	a[30] = 0x28;                            /* BCD revision */
	a[21] = checksum(a + 16, SMBIOS_21_ANCHOR_LEN - 16);
	a[4] = checksum(a, SMBIOS_21_ANCHOR_LEN);
}

static int check_str(const char *what, const char *s, struct err *err)
{
	size_t n = s ? strnlen(s, SMBIOS_STR_MAX + 1) : 0;

	if (n > SMBIOS_STR_MAX)
		return err_set(err, true, -EINVAL, "smbios: %s: longer than %d bytes", what,
			       SMBIOS_STR_MAX);
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return err_set(err, true, -EINVAL,
				       "smbios: %s: byte %zu is 0x%02x, not printable ASCII", what,
				       i, (unsigned char)s[i]);
	return 0;
}

static int check_config(const struct smbios_config *c, struct err *err)
{
	const char *names[] = { "bios vendor", "bios version", "bios date", "manufacturer",
				"product", "version", "serial", "sku", "family" };
	const char *strs[] = { c->bios_vendor, c->bios_version, c->bios_date, c->manufacturer,
			       c->product, c->version, c->serial, c->sku, c->family };
	int ret;

	for (unsigned int i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		ret = check_str(names[i], strs[i], err);
		if (ret)
			return ret;
	}
	if (c->ncpus == 0 || c->ncpus > SMBIOS_CPUS_MAX)
		return err_set(err, false, -EINVAL, "smbios: %u CPUs, not 1 to %d", c->ncpus,
			       SMBIOS_CPUS_MAX);
	if (c->ep > SMBIOS_EP_30)
		return err_set(err, false, -EINVAL, "smbios: entry point %d", (int)c->ep);
	if (!c->mem || !c->mem->ram_bytes || !c->mem->nregions ||
	    c->mem->nregions > GUEST_MEM_MAX_REGIONS)
		return err_set(err, false, -EINVAL, "smbios: no RAM");
	if ((c->mem->ram_bytes + SMBIOS_DIMM_SIZE - 1) / SMBIOS_DIMM_SIZE > SMBIOS_DIMMS_MAX)
		return err_set(err, false, -EINVAL, "smbios: more RAM than %d DIMMs",
			       SMBIOS_DIMMS_MAX);
	for (unsigned int i = 0; i < c->mem->nregions; i++)
		if (!c->mem->regions[i].size ||
		    c->mem->regions[i].gpa + c->mem->regions[i].size < c->mem->regions[i].gpa)
			return err_set(err, false, -EINVAL, "smbios: RAM region %u is malformed", i);
	return 0;
}

static bool fits_21(const struct sm_buf *b)
{
	return b->len <= SMBIOS_21_TABLES_MAX && b->count <= 0xffff;
}

int smbios_build(const struct smbios_config *cfg, struct smbios_blobs *out, struct err *err)
{
	struct sm_buf b = { .ep30 = cfg->ep == SMBIOS_EP_30 };
	int ret = check_config(cfg, err);

	if (ret)
		return ret;
	tables_build(&b, cfg);
	/* QEMU's auto: the 3.0 entry point only for tables the 2.1 one cannot describe. */
	if (!b.oom && !b.ep30 && !fits_21(&b)) {
		if (cfg->ep == SMBIOS_EP_21) {
			free(b.p);
			return err_set(err, false, -E2BIG, "smbios: %zu bytes of tables: too many "
				       "for the 2.1 entry point", b.len);
		}
		free(b.p);
		b = (struct sm_buf){ .ep30 = true };
		tables_build(&b, cfg);
	}
	out->anchor_len = b.ep30 ? SMBIOS_30_ANCHOR_LEN : SMBIOS_21_ANCHOR_LEN;
	out->anchor = b.oom ? NULL : malloc(out->anchor_len);
	if (!out->anchor) {
		free(b.p);
		return err_set(err, false, -ENOMEM, "out of memory");
	}
	anchor_build(&b, out->anchor);
	out->tables = b.p;
	out->tables_len = b.len;
	return 0;
}

void smbios_blobs_release(struct smbios_blobs *b)
{
	free(b->anchor);
	free(b->tables);
	*b = (struct smbios_blobs){ 0 };
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int smbios_uuid_parse(const char *text, uint8_t uuid[16])
{
	unsigned int n = 0;

	if (!text || strnlen(text, SMBIOS_UUID_TEXT + 1) != SMBIOS_UUID_TEXT)
		return -EINVAL;
	for (unsigned int i = 0; i < SMBIOS_UUID_TEXT; i++) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (text[i] != '-')
				return -EINVAL;
			continue;
		}
		hi = hex_digit(text[i]);
		lo = hex_digit(text[++i]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		uuid[n++] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void smbios_uuid_format(const uint8_t uuid[16], char out[SMBIOS_UUID_TEXT + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned int at = 0;

	for (unsigned int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[at++] = '-';
		out[at++] = hex[uuid[i] >> 4];
		out[at++] = hex[uuid[i] & 0xf];
	}
	out[at] = '\0';
}
