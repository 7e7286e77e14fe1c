/*
 * AML builder: exact bytes against ACPI 6.x section 20.2 (AML grammar) and
 * 6.4 (resource descriptors).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/aml.h"

static uint8_t mem[256];
static struct aml_buf b;

static int setup(void **state)
{
	memset(mem, 0xcc, sizeof(mem));
	aml_init(&b, mem, sizeof(mem));
	return 0;
}

#define EXPECT_BYTES(...)                                                      \
	do {                                                                   \
		static const uint8_t exp_[] = { __VA_ARGS__ };                 \
		assert_int_equal(aml_error(&b), 0);                            \
		assert_int_equal(aml_len(&b), sizeof(exp_));                   \
		assert_memory_equal(mem, exp_, sizeof(exp_));                  \
	} while (0)

static void check_pkglen(uint32_t value, int n, const uint8_t *exp)
{
	uint8_t out[4] = { 0 };

	assert_int_equal(aml_pkglen_encode(out, value), n);
	assert_memory_equal(out, exp, (size_t)n);
}

static void test_pkglen_encode(void **state)
{
	check_pkglen(0, 1, (const uint8_t[]){ 0x00 });
	check_pkglen(63, 1, (const uint8_t[]){ 0x3f });
	/* 64: lead 0x40 (one more byte, low nibble 0), then 64 >> 4. */
	check_pkglen(64, 2, (const uint8_t[]){ 0x40, 0x04 });
	check_pkglen(4095, 2, (const uint8_t[]){ 0x4f, 0xff });
	check_pkglen(4096, 3, (const uint8_t[]){ 0x80, 0x00, 0x01 });
	check_pkglen(0xfffff, 3, (const uint8_t[]){ 0x8f, 0xff, 0xff });
	check_pkglen(0x100000, 4, (const uint8_t[]){ 0xc0, 0x00, 0x00, 0x01 });
	check_pkglen(0x0fffffff, 4, (const uint8_t[]){ 0xcf, 0xff, 0xff, 0xff });
	uint8_t out[4];
	assert_int_equal(aml_pkglen_encode(out, 0x10000000), -EINVAL);
}

/*
 * aml_end() must count the length bytes themselves: a body of 62 fits the
 * 1-byte form (63) but a body of 63 does not (64 > 63 needs 2 bytes: 65).
 */
static void check_end(size_t body, int n, const uint8_t *exp)
{
	uint8_t *big = malloc(body + 8);
	struct aml_buf bb;

	assert_non_null(big);
	aml_init(&bb, big, body + 8);
	for (size_t i = 0; i < body; i++)
		aml_bytes(&bb, (const uint8_t[]){ (uint8_t)i }, 1);
	aml_end(&bb, 0);
	assert_int_equal(aml_error(&bb), 0);
	assert_int_equal(aml_len(&bb), body + (size_t)n);
	assert_memory_equal(big, exp, (size_t)n);
	/* The body moved intact behind the length. */
	assert_int_equal(big[n], 0);
	assert_int_equal(big[n + (int)body - 1], (uint8_t)(body - 1));
	free(big);
}

static void test_end_boundaries(void **state)
{
	check_end(62, 1, (const uint8_t[]){ 0x3f });
	check_end(63, 2, (const uint8_t[]){ 0x41, 0x04 });          /* 65 */
	check_end(4093, 2, (const uint8_t[]){ 0x4f, 0xff });        /* 4095 */
	check_end(4094, 3, (const uint8_t[]){ 0x81, 0x00, 0x01 });  /* 4097 */
	check_end(0xffffc, 3, (const uint8_t[]){ 0x8f, 0xff, 0xff });
	check_end(0xffffd, 4, (const uint8_t[]){ 0xc1, 0x00, 0x00, 0x01 });
}

static void test_integers(void **state)
{
	static const struct {
		uint64_t v;
		uint8_t len;
		uint8_t enc[9];
	} cases[] = {
		{ 0, 1, { 0x00 } },
		{ 1, 1, { 0x01 } },
		{ 2, 2, { 0x0a, 0x02 } },
		{ 0xff, 2, { 0x0a, 0xff } },
		{ 0x100, 3, { 0x0b, 0x00, 0x01 } },
		{ 0xffff, 3, { 0x0b, 0xff, 0xff } },
		{ 0x10000, 5, { 0x0c, 0x00, 0x00, 0x01, 0x00 } },
		{ 0xffffffff, 5, { 0x0c, 0xff, 0xff, 0xff, 0xff } },
		{ 0x100000000ull, 9, { 0x0e, 0, 0, 0, 0, 0x01, 0, 0, 0 } },
		{ 0xfffffffffffffffeull, 9,
		  { 0x0e, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
		{ UINT64_MAX, 1, { 0xff } },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		aml_init(&b, mem, sizeof(mem));
		aml_integer(&b, cases[i].v);
		assert_int_equal(aml_error(&b), 0);
		assert_int_equal(aml_len(&b), cases[i].len);
		assert_memory_equal(mem, cases[i].enc, cases[i].len);
	}
}

static void test_eisaid(void **state)
{
	uint32_t v;

	assert_int_equal(aml_eisaid_value("PNP0501", &v), 0);
	assert_int_equal(v, 0x0105D041);
	assert_int_equal(aml_eisaid_value("PNP0B00", &v), 0);
	assert_int_equal(v, 0x000BD041);
	aml_eisaid(&b, "PNP0501");
	EXPECT_BYTES(0x0c, 0x41, 0xd0, 0x05, 0x01);

	assert_int_equal(aml_eisaid_value("pnp0501", &v), -EINVAL);
	assert_int_equal(aml_eisaid_value("PNP050", &v), -EINVAL);
	assert_int_equal(aml_eisaid_value("PNP05G1", &v), -EINVAL);
	assert_int_equal(aml_eisaid_value("PNP05011", &v), -EINVAL);
	aml_init(&b, mem, sizeof(mem));
	aml_eisaid(&b, "P0P0501");
	assert_int_equal(aml_error(&b), -EINVAL);
}

static void test_names(void **state)
{
	aml_name_string(&b, "_HID");
	EXPECT_BYTES('_', 'H', 'I', 'D');

	setup(NULL);
	aml_name_string(&b, "RTC");
	EXPECT_BYTES('R', 'T', 'C', '_');

	setup(NULL);
	aml_name_string(&b, "\\_SB");
	EXPECT_BYTES(0x5c, '_', 'S', 'B', '_');

	setup(NULL);
	aml_name_string(&b, "\\_SB.COM1");
	EXPECT_BYTES(0x5c, 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1');

	setup(NULL);
	aml_name_string(&b, "\\A.B2.C");
	EXPECT_BYTES(0x5c, 0x2f, 0x03, 'A', '_', '_', '_', 'B', '2', '_', '_', 'C', '_',
		     '_', '_');

	setup(NULL);
	aml_name_string(&b, "^^FOO");
	EXPECT_BYTES(0x5e, 0x5e, 'F', 'O', 'O', '_');

	setup(NULL);
	aml_name_string(&b, "\\");
	EXPECT_BYTES(0x5c, 0x00);

	setup(NULL);
	aml_name(&b, "_UID");
	aml_integer(&b, 1);
	EXPECT_BYTES(0x08, '_', 'U', 'I', 'D', 0x01);

	static const char *const bad[] = { "TOOLONG", "1ABC", "abc", "A..B", "A.", "",
					   "\\.A", "A-B" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup(NULL);
		aml_name_string(&b, bad[i]);
		assert_int_equal(aml_error(&b), -EINVAL);
	}
}

static void test_string_buffer(void **state)
{
	aml_string(&b, "LNRO0005");
	EXPECT_BYTES(0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00);

	/* Buffer: PkgLength 6 = itself + BufferSize (0A 03) + 3 bytes. */
	setup(NULL);
	aml_buffer(&b, (const uint8_t[]){ 1, 2, 3 }, 3);
	EXPECT_BYTES(0x11, 0x06, 0x0a, 0x03, 0x01, 0x02, 0x03);

	setup(NULL);
	aml_string(&b, "\xc3\xa9");
	assert_int_equal(aml_error(&b), -EINVAL);
}

static void test_package_method(void **state)
{
	size_t m;

	m = aml_package_begin(&b, 2);
	aml_integer(&b, 1);
	aml_integer(&b, 0x20);
	aml_end(&b, m);
	EXPECT_BYTES(0x12, 0x05, 0x02, 0x01, 0x0a, 0x20);

	/* Method(_STA, 0, NotSerialized) { Return (0x0F) } */
	setup(NULL);
	m = aml_method_begin(&b, "_STA", 0, false);
	aml_return(&b);
	aml_integer(&b, 0x0f);
	aml_end(&b, m);
	EXPECT_BYTES(0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f);

	setup(NULL);
	m = aml_method_begin(&b, "FOO", 2, true);
	aml_end(&b, m);
	EXPECT_BYTES(0x14, 0x06, 'F', 'O', 'O', '_', 0x0a);

	setup(NULL);
	aml_method_begin(&b, "FOO", 8, false);
	assert_int_equal(aml_error(&b), -EINVAL);
}

/* PCI hotplug's methods: statements, a region and its fields, as iasl encodes them. */
static void test_code(void **state)
{
	static const char *const names[3] = { "PCIU", "PCID", "B0EJ" };
	static const unsigned int bits[3] = { 32, 32, 32 };
	static const char *const bad_name[1] = { "TOOLONG" };
	static const unsigned int bad_bits[1] = { 64 };
	size_t m;

	/* OperationRegion (PCHP, SystemIO, 0xAE00, 0x0C) */
	aml_opregion_io(&b, "PCHP", 0xae00, 12);
	EXPECT_BYTES(0x5b, 0x80, 'P', 'C', 'H', 'P', 0x01, 0x0b, 0x00, 0xae, 0x0a, 0x0c);

	/* Field (PCHP, DWordAcc, NoLock, WriteAsZeros) { PCIU, 32, PCID, 32, B0EJ, 32 } */
	setup(NULL);
	aml_field_dword(&b, "PCHP", names, bits, 3);
	EXPECT_BYTES(0x5b, 0x81, 0x15, 'P', 'C', 'H', 'P', 0x43,
		     'P', 'C', 'I', 'U', 0x20, 'P', 'C', 'I', 'D', 0x20, 'B', '0', 'E', 'J', 0x20);

	/* If ((Local0 & 0x02)) { Notify (S01, One) } */
	setup(NULL);
	m = aml_if_begin(&b);
	aml_and(&b);
	aml_local(&b, 0);
	aml_integer(&b, 2);
	aml_null_name(&b);
	aml_notify(&b);
	aml_name_string(&b, "S01");
	aml_integer(&b, 1);
	aml_end(&b, m);
	EXPECT_BYTES(0xa0, 0x0c, 0x7b, 0x60, 0x0a, 0x02, 0x00, 0x86, 'S', '0', '1', '_', 0x01);

	/* B0EJ = 0x02; Local1 = PCID; and Arg0 */
	setup(NULL);
	aml_store(&b);
	aml_integer(&b, 2);
	aml_name_string(&b, "B0EJ");
	aml_store(&b);
	aml_name_string(&b, "PCID");
	aml_local(&b, 1);
	aml_arg(&b, 0);
	EXPECT_BYTES(0x70, 0x0a, 0x02, 'B', '0', 'E', 'J', 0x70, 'P', 'C', 'I', 'D', 0x61, 0x68);

	/* What AML cannot say is the buffer's sticky error. */
	setup(NULL);
	aml_local(&b, 8);
	assert_int_equal(aml_error(&b), -EINVAL);
	setup(NULL);
	aml_arg(&b, 7);
	assert_int_equal(aml_error(&b), -EINVAL);
	setup(NULL);
	aml_field_dword(&b, "PCHP", bad_name, bits, 1);
	assert_int_equal(aml_error(&b), -EINVAL);
	setup(NULL);
	aml_field_dword(&b, "PCHP", names, bad_bits, 1);
	assert_int_equal(aml_error(&b), -EINVAL);
}

static void test_nested_scope_device(void **state)
{
	size_t s, d;

	/* Scope(\_SB) { Device(FOO) { Name(_UID, One) } } */
	s = aml_scope_begin(&b, "\\_SB");
	d = aml_device_begin(&b, "FOO");
	aml_name(&b, "_UID");
	aml_integer(&b, 1);
	aml_end(&b, d);
	aml_end(&b, s);
	/* Device body 10 -> 0x0b; scope body 5 + 13 -> 0x13. */
	EXPECT_BYTES(0x10, 0x13, 0x5c, '_', 'S', 'B', '_',
		     0x5b, 0x82, 0x0b, 'F', 'O', 'O', '_',
		     0x08, '_', 'U', 'I', 'D', 0x01);
}

static void test_resource_descriptors(void **state)
{
	aml_res_io16(&b, 0x3f8, 0x3f8, 1, 8);
	EXPECT_BYTES(0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08);

	setup(NULL);
	aml_res_irq_noflags(&b, 1u << 4);
	EXPECT_BYTES(0x22, 0x10, 0x00);

	setup(NULL);
	aml_res_irq_noflags(&b, 1u << 8);
	EXPECT_BYTES(0x22, 0x00, 0x01);

	setup(NULL);
	aml_res_memory32_fixed(&b, true, 0xd0000000, 0x1000);
	EXPECT_BYTES(0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00,
		     0x00);

	setup(NULL);
	aml_res_memory32_fixed(&b, false, 0x12345678, 0x9abcdef0);
	EXPECT_BYTES(0x86, 0x09, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12, 0xf0, 0xde, 0xbc,
		     0x9a);

	/* Consumer, level, active high, exclusive: flags 0x01. */
	setup(NULL);
	aml_res_ext_irq(&b, AML_IRQ_LEVEL, AML_IRQ_ACTIVE_HIGH, false, 5);
	EXPECT_BYTES(0x89, 0x06, 0x00, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00);

	setup(NULL);
	aml_res_ext_irq(&b, AML_IRQ_EDGE, AML_IRQ_ACTIVE_LOW, true, 0x12345678);
	EXPECT_BYTES(0x89, 0x06, 0x00, 0x0f, 0x01, 0x78, 0x56, 0x34, 0x12);

	setup(NULL);
	aml_res_end_tag(&b);
	EXPECT_BYTES(0x79, 0x00);

	/* ResourceTemplate() { IRQNoFlags() {4} } */
	setup(NULL);
	size_t m = aml_restemplate_begin(&b);
	aml_res_irq_noflags(&b, 1u << 4);
	aml_restemplate_end(&b, m);
	EXPECT_BYTES(0x11, 0x08, 0x0a, 0x05, 0x22, 0x10, 0x00, 0x79, 0x00);
}

static void test_overflow_sticky(void **state)
{
	size_t m;

	/* Room for the name but not for the inserted length. */
	aml_init(&b, mem, 6);
	m = aml_scope_begin(&b, "\\_SB");
	assert_int_equal(aml_error(&b), 0);
	aml_end(&b, m);
	assert_int_equal(aml_error(&b), -ENOSPC);
	assert_int_equal(aml_len(&b), 6);
	assert_int_equal(mem[6], 0xcc);

	/* Errors stick: nothing is written afterwards. */
	aml_integer(&b, 1);
	assert_int_equal(aml_len(&b), 6);

	setup(NULL);
	aml_init(&b, mem, 3);
	aml_integer(&b, 0x10000);
	assert_int_equal(aml_error(&b), -ENOSPC);
	assert_int_equal(aml_len(&b), 0);
	assert_int_equal(mem[0], 0xcc);

	/* The first error is the one reported. */
	setup(NULL);
	aml_init(&b, mem, 0);
	aml_name_string(&b, "bad");
	assert_int_equal(aml_error(&b), -EINVAL);
	aml_integer(&b, 5);
	assert_int_equal(aml_error(&b), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_pkglen_encode, setup),
		cmocka_unit_test_setup(test_end_boundaries, setup),
		cmocka_unit_test_setup(test_integers, setup),
		cmocka_unit_test_setup(test_eisaid, setup),
		cmocka_unit_test_setup(test_names, setup),
		cmocka_unit_test_setup(test_string_buffer, setup),
		cmocka_unit_test_setup(test_package_method, setup),
		cmocka_unit_test_setup(test_nested_scope_device, setup),
		cmocka_unit_test_setup(test_code, setup),
		cmocka_unit_test_setup(test_resource_descriptors, setup),
		cmocka_unit_test_setup(test_overflow_sticky, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
