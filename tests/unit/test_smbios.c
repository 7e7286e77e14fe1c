/*
 * SMBIOS (src/firmware/smbios.c): every structure field by field, the
 * strings and their numbers, both entry points and their checksums, the
 * choice between them, the UUID's mixed-endian round trip, and strings
 * a caller must not get into the tables.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "firmware/smbios.h"

#define GIB (1ull << 30)

struct st {
	const uint8_t *p;            /* the formatted area */
	const char *str[16];         /* its strings, str[1] the first */
	unsigned int nstr;
	size_t size;                 /* with its strings */
};

/* The structures of the tables, in order; fails on any malformed one. */
static unsigned int parse(const uint8_t *t, size_t len, struct st *out, unsigned int max)
{
	size_t o = 0;
	unsigned int n = 0;

	while (o < len) {
		struct st *s = &out[n];
		size_t e;

		assert_true(n < max);
		assert_true(o + 4 <= len && t[o + 1] >= 4 && o + t[o + 1] + 2 <= len);
		memset(s, 0, sizeof(*s));
		s->p = t + o;
		e = o + t[o + 1];
		if (!t[e] && !t[e + 1]) {
			e += 2;
		} else {
			while (t[e]) {
				assert_true(s->nstr < 15);
				s->str[++s->nstr] = (const char *)t + e;
				e += strlen((const char *)t + e) + 1;
				assert_true(e < len);
			}
			e++;
		}
		s->size = e - o;
		o = e;
		n++;
		if (s->p[0] == 127)
			break;
	}
	assert_int_equal(o, len);
	return n;
}

static uint64_t le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static const char *str(const struct st *s, unsigned int off)
{
	unsigned int k = s->p[off];

	assert_true(k <= s->nstr);
	return k ? s->str[k] : NULL;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (uint8_t)(v + p[i]);
	return v;
}

static struct smbios_config config(struct guest_mem *gm, uint64_t ram)
{
	assert_int_equal(guest_mem_layout(gm, ram), 0);
	return (struct smbios_config){
		.bios_vendor = "SeaBIOS", .bios_version = "1.16.2", .bios_date = "04/01/2014",
		.manufacturer = "Hearth", .product = "Hearth VM", .version = "0.1",
		.serial = "ds=nocloud;s=http://10.0.2.2:8000/", .family = "Virtual Machine",
		.ncpus = 2, .cpuid_eax = 0x000806f8, .cpuid_edx = 0x0f8bfbff, .mem = gm,
	};
}

static void test_tables_field_by_field(void **state)
{
	struct guest_mem gm;
	struct smbios_config c = config(&gm, 5 * GIB); /* 3 GiB below the hole, 2 above */
	struct smbios_blobs b;
	struct err err = ERR_INIT;
	struct st s[16];
	unsigned int n;

	(void)state;
	assert_int_equal(smbios_build(&c, &b, &err), 0);
	n = parse(b.tables, b.tables_len, s, 16);
	/* 0, 1, 3, 4 x2, 16, 17, 19 x2, 32, 127 */
	assert_int_equal(n, 11);
	assert_int_equal(s[0].p[0], 0);
	assert_int_equal(s[0].p[1], 0x18);
	assert_int_equal(le(s[0].p + 2, 2), 0x000);
	assert_string_equal(str(&s[0], 4), "SeaBIOS");
	assert_string_equal(str(&s[0], 5), "1.16.2");
	assert_int_equal(le(s[0].p + 6, 2), 0xe800);
	assert_string_equal(str(&s[0], 8), "04/01/2014");
	assert_int_equal(le(s[0].p + 0x0a, 8), 0x08);
	assert_int_equal(s[0].p[0x12], 0);
	assert_int_equal(s[0].p[0x13], 0x14);                 /* no UEFI bit */
	assert_int_equal(le(s[0].p + 0x16, 2), 0xffff);

	assert_int_equal(s[1].p[0], 1);
	assert_int_equal(s[1].p[1], 0x1b);
	assert_int_equal(le(s[1].p + 2, 2), 0x100);
	assert_string_equal(str(&s[1], 4), "Hearth");
	assert_string_equal(str(&s[1], 5), "Hearth VM");
	assert_string_equal(str(&s[1], 6), "0.1");
	assert_string_equal(str(&s[1], 7), "ds=nocloud;s=http://10.0.2.2:8000/");
	assert_null(str(&s[1], 0x19));                       /* no SKU */
	assert_string_equal(str(&s[1], 0x1a), "Virtual Machine");
	for (unsigned int i = 0; i < 16; i++)                 /* no UUID: zeros */
		assert_int_equal(s[1].p[8 + i], 0);
	assert_int_equal(s[1].p[0x18], 0x06);

	assert_int_equal(s[2].p[0], 3);
	assert_int_equal(s[2].p[1], 0x16);
	assert_int_equal(le(s[2].p + 2, 2), 0x300);
	assert_string_equal(str(&s[2], 4), "Hearth");
	assert_int_equal(s[2].p[5], 0x01);
	assert_string_equal(str(&s[2], 6), "0.1");
	assert_null(str(&s[2], 7));
	assert_int_equal(le(s[2].p + 9, 4), 0x02030303);

	for (unsigned int i = 0; i < 2; i++) {
		const struct st *t = &s[3 + i];
		char sock[8];

		snprintf(sock, sizeof(sock), "CPU %u", i);
		assert_int_equal(t->p[0], 4);
		assert_int_equal(t->p[1], 0x2a);              /* the 2.x form */
		assert_int_equal(le(t->p + 2, 2), 0x400 + i);
		assert_string_equal(str(t, 4), sock);
		assert_int_equal(t->p[5], 0x03);
		assert_int_equal(t->p[6], 0xfe);
		assert_string_equal(str(t, 7), "Hearth");
		assert_int_equal(le(t->p + 8, 4), 0x000806f8);
		assert_int_equal(le(t->p + 0x0c, 4), 0x0f8bfbff);
		assert_string_equal(str(t, 0x10), "0.1");
		assert_int_equal(le(t->p + 0x14, 2), 2000);
		assert_int_equal(le(t->p + 0x16, 2), 2000);
		assert_int_equal(t->p[0x18], 0x41);
		assert_int_equal(le(t->p + 0x1a, 6), 0xffffffffffffull);
		assert_int_equal(t->p[0x23], 1);
		assert_int_equal(t->p[0x24], 1);
		assert_int_equal(t->p[0x25], 1);
		assert_int_equal(le(t->p + 0x28, 2), 0x01);
	}

	assert_int_equal(s[5].p[0], 16);
	assert_int_equal(s[5].p[1], 0x17);
	assert_int_equal(le(s[5].p + 2, 2), 0x1000);
	assert_int_equal(le(s[5].p + 7, 4), 5 * GIB / 1024);
	assert_int_equal(le(s[5].p + 0x0d, 2), 1);
	assert_int_equal(le(s[5].p + 0x0f, 8), 0);
	assert_int_equal(s[5].size, 0x17 + 2);                /* no strings: two NULs */

	assert_int_equal(s[6].p[0], 17);
	assert_int_equal(s[6].p[1], 0x28);
	assert_int_equal(le(s[6].p + 2, 2), 0x1100);
	assert_int_equal(le(s[6].p + 4, 2), 0x1000);
	assert_int_equal(le(s[6].p + 0x0c, 2), 5 * 1024);     /* MiB */
	assert_string_equal(str(&s[6], 0x10), "DIMM 0");
	assert_string_equal(str(&s[6], 0x17), "Hearth");

	assert_int_equal(s[7].p[0], 19);
	assert_int_equal(le(s[7].p + 2, 2), 0x1300);
	assert_int_equal(le(s[7].p + 4, 4), 0);
	assert_int_equal(le(s[7].p + 8, 4), (3 * GIB - 1) / 1024);
	assert_int_equal(s[8].p[0], 19);
	assert_int_equal(le(s[8].p + 2, 2), 0x1301);
	assert_int_equal(le(s[8].p + 4, 4), 4 * GIB / 1024);
	assert_int_equal(le(s[8].p + 8, 4), (6 * GIB - 1) / 1024);
	assert_int_equal(s[8].p[0x0e], 1);

	assert_int_equal(s[9].p[0], 32);
	assert_int_equal(s[9].p[1], 0x0b);
	assert_int_equal(s[10].p[0], 127);
	assert_int_equal(le(s[10].p + 2, 2), 0x7f00);

	/* The 2.1 entry point: what QEMU's auto picks for tables this small. */
	assert_int_equal(b.anchor_len, SMBIOS_21_ANCHOR_LEN);
	assert_memory_equal(b.anchor, "_SM_", 4);
	assert_int_equal(sum(b.anchor, b.anchor_len), 0);
	assert_int_equal(sum(b.anchor + 16, 15), 0);
	assert_int_equal(b.anchor[5], 31);
	assert_int_equal(b.anchor[6], 2);
	assert_int_equal(b.anchor[7], 8);
	assert_memory_equal(b.anchor + 16, "_DMI_", 5);
	assert_int_equal(le(b.anchor + 22, 2), b.tables_len);
	assert_int_equal(le(b.anchor + 24, 4), 0);            /* the firmware's to fill */
	assert_int_equal(le(b.anchor + 28, 2), 11);
	assert_int_equal(b.anchor[30], 0x28);
	{
		size_t max = 0;

		for (unsigned int i = 0; i < n; i++)
			max = s[i].size > max ? s[i].size : max;
		assert_int_equal(le(b.anchor + 8, 2), max);
	}
	smbios_blobs_release(&b);
}

static void test_entry_point_30_and_uefi(void **state)
{
	struct guest_mem gm;
	struct smbios_config c = config(&gm, 512ull << 20);
	struct smbios_blobs b;
	struct err err = ERR_INIT;
	struct st s[16];

	(void)state;
	c.ep = SMBIOS_EP_30;
	c.uefi = true;
	c.ncpus = 1;
	assert_int_equal(smbios_build(&c, &b, &err), 0);
	assert_int_equal(b.anchor_len, SMBIOS_30_ANCHOR_LEN);
	assert_memory_equal(b.anchor, "_SM3_", 5);
	assert_int_equal(sum(b.anchor, b.anchor_len), 0);
	assert_int_equal(b.anchor[6], 24);
	assert_int_equal(b.anchor[7], 3);
	assert_int_equal(b.anchor[8], 0);
	assert_int_equal(b.anchor[10], 1);
	assert_int_equal(le(b.anchor + 12, 4), b.tables_len);
	assert_int_equal(le(b.anchor + 16, 8), 0);
	/* 0, 1, 3, 4, 16, 17, 19, 32, 127 */
	assert_int_equal(parse(b.tables, b.tables_len, s, 16), 9);
	assert_int_equal(s[0].p[0x13], 0x1c);                 /* the UEFI bit */
	assert_int_equal(s[3].p[1], 0x30);                    /* type 4's 3.0 form */
	assert_int_equal(le(s[3].p + 0x2a, 2), 1);
	assert_int_equal(le(s[3].p + 0x2c, 2), 1);
	assert_int_equal(le(s[3].p + 0x2e, 2), 1);
	assert_int_equal(le(s[4].p + 7, 4), 512 * 1024);
	assert_int_equal(le(s[5].p + 0x0c, 2), 512);
	smbios_blobs_release(&b);
}

/* Tables too large for the 2.1 entry point: auto takes 3.0, a forced 2.1 is refused. */
static void test_auto_picks_30_for_large(void **state)
{
	struct guest_mem gm;
	struct smbios_config c = config(&gm, 40 * GIB);
	struct smbios_blobs b;
	struct err err = ERR_INIT;
	char *big = malloc(SMBIOS_STR_MAX + 1);
	struct st *s = calloc(2100, sizeof(*s));
	unsigned int n;

	(void)state;
	memset(big, 'm', SMBIOS_STR_MAX);
	big[SMBIOS_STR_MAX] = 0;
	c.manufacturer = big;
	c.ncpus = SMBIOS_CPUS_MAX;
	assert_int_equal(smbios_build(&c, &b, &err), 0);
	assert_int_equal(b.anchor_len, SMBIOS_30_ANCHOR_LEN);
	assert_true(b.tables_len > SMBIOS_21_TABLES_MAX);
	n = parse(b.tables, b.tables_len, s, 2100);
	/* 0, 1, 3, 1024 CPUs, 16, three DIMMs (16 + 16 + 8 GiB), 19 x2, 32, 127 */
	assert_int_equal(n, 3 + SMBIOS_CPUS_MAX + 1 + 3 + 2 + 2);
	assert_int_equal(le(s[3 + 1023].p + 2, 2), 0x400 + 1023);
	assert_string_equal(str(&s[3 + 0x1f], 4), "CPU1f");
	assert_int_equal(le(s[3 + 1024].p + 0x0d, 2), 3);
	assert_int_equal(le(s[3 + 1025].p + 0x0c, 2), 16 * 1024);
	assert_int_equal(le(s[3 + 1027].p + 0x0c, 2), 8 * 1024);
	assert_string_equal(str(&s[3 + 1027], 0x10), "DIMM 2");
	smbios_blobs_release(&b);
	c.ep = SMBIOS_EP_21;
	assert_int_equal(smbios_build(&c, &b, &err), -E2BIG);
	free(big);
	free(s);
}

/* The text's bytes back from the table, SMBIOS's order undone. */
static void test_uuid_round_trip(void **state)
{
	static const char text[] = "4C4C4544-0051-3510-8052-B3C04F4D4433";
	struct guest_mem gm;
	struct smbios_config c = config(&gm, 1 * GIB);
	struct smbios_blobs b;
	struct err err = ERR_INIT;
	struct st s[16];
	const uint8_t *u;
	char back[40];

	(void)state;
	assert_int_equal(smbios_uuid_parse(text, c.uuid), 0);
	assert_int_equal(c.uuid[0], 0x4c);
	assert_int_equal(c.uuid[15], 0x33);
	c.has_uuid = true;
	assert_int_equal(smbios_build(&c, &b, &err), 0);
	parse(b.tables, b.tables_len, s, 16);
	u = s[1].p + 8;
	/* time_low, time_mid, time_hi_and_version little-endian; the rest as written. */
	assert_int_equal(u[0], 0x44);
	assert_int_equal(u[3], 0x4c);
	assert_int_equal(u[4], 0x51);
	assert_int_equal(u[6], 0x10);
	assert_int_equal(u[8], 0x80);
	snprintf(back, sizeof(back),
		 "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", u[3], u[2],
		 u[1], u[0], u[5], u[4], u[7], u[6], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	assert_string_equal(back, text);
	smbios_blobs_release(&b);

	assert_int_equal(smbios_uuid_parse("4c4c4544-0051-3510-8052-b3c04f4d4433", c.uuid), 0);
	assert_int_equal(smbios_uuid_parse("4C4C4544-0051-3510-8052-B3C04F4D443", c.uuid), -EINVAL);
	assert_int_equal(smbios_uuid_parse("4C4C4544-0051-3510-8052-B3C04F4D44333", c.uuid),
			 -EINVAL);
	assert_int_equal(smbios_uuid_parse("4C4C4544+0051-3510-8052-B3C04F4D4433", c.uuid), -EINVAL);
	assert_int_equal(smbios_uuid_parse("4C4C4544-0051-3510-8052-B3C04F4D443G", c.uuid), -EINVAL);
	assert_int_equal(smbios_uuid_parse("-4C4C4544-0051-3510-8052-B3C04F4D443", c.uuid), -EINVAL);
	assert_int_equal(smbios_uuid_parse(NULL, c.uuid), -EINVAL);
}

static void test_hostile_strings(void **state)
{
	struct guest_mem gm;
	struct smbios_config c = config(&gm, 1 * GIB), d;
	struct smbios_blobs b;
	struct err err = ERR_INIT;
	char *long_one = malloc(SMBIOS_STR_MAX + 2);
	const char *bad[] = { "new\nline", "tab\there", "del\x7f", "\x80high", "esc\x1b[2J", NULL };

	(void)state;
	for (unsigned int i = 0; bad[i]; i++) {
		d = c;
		d.serial = bad[i];
		assert_int_equal(smbios_build(&d, &b, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "serial"));
		d = c;
		d.bios_vendor = bad[i];
		assert_int_equal(smbios_build(&d, &b, &err), -EINVAL);
	}
	memset(long_one, 'x', SMBIOS_STR_MAX + 1);
	long_one[SMBIOS_STR_MAX + 1] = 0;
	d = c;
	d.product = long_one;
	assert_int_equal(smbios_build(&d, &b, &err), -EINVAL);
	long_one[SMBIOS_STR_MAX] = 0;                         /* exactly the limit: taken */
	assert_int_equal(smbios_build(&d, &b, &err), 0);
	smbios_blobs_release(&b);
	/* Empty strings are left out, as NULL ones. */
	d = c;
	d.serial = "";
	assert_int_equal(smbios_build(&d, &b, &err), 0);
	{
		struct st s[16];

		parse(b.tables, b.tables_len, s, 16);
		assert_int_equal(s[1].p[7], 0);
	}
	smbios_blobs_release(&b);
	d = c;
	d.ncpus = 0;
	assert_int_equal(smbios_build(&d, &b, &err), -EINVAL);
	d.ncpus = SMBIOS_CPUS_MAX + 1;
	assert_int_equal(smbios_build(&d, &b, &err), -EINVAL);
	d = c;
	d.mem = NULL;
	assert_int_equal(smbios_build(&d, &b, &err), -EINVAL);
	d = c;
	d.ep = (enum smbios_ep)7;
	assert_int_equal(smbios_build(&d, &b, &err), -EINVAL);
	free(long_one);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_field_by_field),
		cmocka_unit_test(test_entry_point_30_and_uefi),
		cmocka_unit_test(test_auto_picks_30_for_large),
		cmocka_unit_test(test_uuid_round_trip),
		cmocka_unit_test(test_hostile_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
