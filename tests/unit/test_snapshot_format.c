/* The snapshot file's bytes: round trips, and every way a file can be bad. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapshot/format.h"
#include "snapshot/host.h"
#include "util/bytes.h"
#include "util/crc32c.h"

static uint8_t payload64[64];

/* config, vcpu 0, com1 (64 bytes, last). */
static void build(uint8_t **buf, size_t *len)
{
	struct snap_builder b;
	void *out;

	for (unsigned int i = 0; i < sizeof(payload64); i++)
		payload64[i] = (uint8_t)(i * 7 + 1);
	snap_builder_init(&b);
	assert_int_equal(snap_builder_add(&b, SNAP_SEC_CONFIG, "config", 1, "{\"a\":1}", 7), 0);
	assert_int_equal(snap_builder_add(&b, SNAP_SEC_VCPU, "0", 3, "regs", 4), 0);
	assert_int_equal(snap_builder_add(&b, SNAP_SEC_DEVICE, "com1", 1, payload64, 64), 0);
	assert_int_equal(snap_builder_finish(&b, "9.8.7", &out, len), 0);
	*buf = out;
}

/* After editing a file on purpose: a valid CRC again, so the edit itself is what is refused. */
static void fix_crc(uint8_t *buf, size_t len)
{
	struct bytes_out o = bytes_out_init(buf + SNAP_CRC_OFFSET, 4);

	memset(buf + SNAP_CRC_OFFSET, 0, 4);
	bytes_put_u32(&o, crc32c(0, buf, len));
}

static int parse(const uint8_t *buf, size_t len, struct err *err)
{
	struct snap_file f;
	int ret = snap_parse(buf, len, "F", &f, err);

	if (!ret)
		snap_file_release(&f);
	return ret;
}

static void test_crc32c_vector(void **state)
{
	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
	/* In pieces, the same. */
	assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283);
}

static void test_round_trip(void **state)
{
	const struct snap_section *s;
	struct snap_file f;
	struct err err;
	uint8_t *buf;
	size_t len;

	(void)state;
	build(&buf, &len);
	assert_int_equal(snap_parse(buf, len, "F", &f, &err), 0);
	assert_int_equal(f.format_version, SNAP_FORMAT_VERSION);
	assert_string_equal(f.hearth_version, "9.8.7");
	assert_int_equal(f.nsections, 3);
	s = snap_find(&f, SNAP_SEC_DEVICE, "com1");
	assert_non_null(s);
	assert_int_equal(s->version, 1);
	assert_int_equal(s->len, 64);
	assert_memory_equal(s->data, payload64, 64);
	s = snap_find(&f, SNAP_SEC_CONFIG, "config");
	assert_non_null(s);
	assert_memory_equal(s->data, "{\"a\":1}", 7);
	assert_null(snap_find(&f, SNAP_SEC_DEVICE, "config"));
	assert_int_equal(snap_find(&f, SNAP_SEC_VCPU, "0")->version, 3);
	snap_file_release(&f);
	free(buf);
}

static void test_bad_magic_and_version(void **state)
{
	struct err err;
	uint8_t *buf;
	size_t len;

	(void)state;
	build(&buf, &len);
	buf[0] = 'X';
	assert_int_equal(parse(buf, len, &err), -EINVAL);
	assert_string_equal(err.msg, "snapshot F: not a Hearth snapshot (bad magic)");
	buf[0] = 'H';
	buf[8] = 2;
	fix_crc(buf, len);
	assert_int_equal(parse(buf, len, &err), -EINVAL);
	assert_string_equal(err.msg, "snapshot F: format version 2, this Hearth reads version 1");
	free(buf);
}

static void test_truncated_section(void **state)
{
	struct err err;
	uint8_t *buf;
	size_t len;

	(void)state;
	build(&buf, &len);
	/* com1's payload is last: leave 12 of its 64 bytes. */
	assert_int_equal(parse(buf, len - 52, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "snapshot F: section 'com1' is truncated (needs 64 bytes, 12 left)");
	assert_int_equal(parse(buf, len - 64 - SNAP_SECTION_HEADER_SIZE + 10, &err), -EINVAL);
	assert_string_equal(err.msg, "snapshot F: section 3 of 3 is truncated "
				 "(its header needs 88 bytes, 10 left)");
	assert_int_equal(parse(buf, 10, &err), -EINVAL);
	assert_string_equal(err.msg, "snapshot F: IO Error: File too short to contain CRC (a "
				 "snapshot header needs 64 bytes, the file has 10)");
	free(buf);
}

/* Every prefix of a good file is refused with a message, and read within bounds (ASan). */
static void test_every_prefix_refused(void **state)
{
	struct err err;
	uint8_t *buf;
	size_t len;

	(void)state;
	build(&buf, &len);
	for (size_t n = 0; n < len; n++) {
		/* An exact-size copy, so a read past n is an ASan report. */
		uint8_t *cut = malloc(n ? n : 1);

		memcpy(cut, buf, n);
		err.msg[0] = '\0';
		assert_int_equal(parse(cut, n, &err), -EINVAL);
		assert_true(strncmp(err.msg, "snapshot F: ", 12) == 0 && strlen(err.msg) > 12);
		free(cut);
	}
	free(buf);
}

/* CRC-32C catches every single-bit error; the header checks catch some first. */
static void test_every_bit_flip_refused(void **state)
{
	struct err err;
	uint8_t *buf;
	size_t len;

	(void)state;
	build(&buf, &len);
	for (size_t i = 0; i < len; i++) {
		for (unsigned int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(parse(buf, len, &err), -EINVAL);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	buf[len - 1] ^= 0x10;
	assert_int_equal(parse(buf, len, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "corrupt: CRC"));
	free(buf);
}

static void test_trailing_and_size(void **state)
{
	struct err err;
	uint8_t *buf, *big;
	size_t len;

	(void)state;
	build(&buf, &len);
	big = calloc(1, len + 5);
	memcpy(big, buf, len);
	assert_int_equal(parse(big, len + 5, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "the header says"));
	/* The header agrees, but bytes follow the last section. */
	big[16] = (uint8_t)(len + 5);
	big[17] = (uint8_t)((len + 5) >> 8);
	fix_crc(big, len + 5);
	assert_int_equal(parse(big, len + 5, &err), -EINVAL);
	assert_string_equal(err.msg, "snapshot F: 5 bytes after the last section");
	free(big);
	free(buf);
}

static void test_duplicate_and_bad_ids(void **state)
{
	struct snap_builder b;
	struct err err;
	uint8_t *buf;
	size_t len;
	void *out;

	(void)state;
	snap_builder_init(&b);
	assert_int_equal(snap_builder_add(&b, SNAP_SEC_DEVICE, "com1", 1, "x", 1), 0);
	/* The same id under another kind is fine; under the same kind it is not. */
	assert_int_equal(snap_builder_add(&b, SNAP_SEC_CONFIG, "com1", 1, "x", 1), 0);
	assert_int_equal(snap_builder_add(&b, SNAP_SEC_DEVICE, "com1", 1, "y", 1), -EEXIST);
	/* The first error sticks. */
	assert_int_equal(snap_builder_add(&b, SNAP_SEC_DEVICE, "ok", 1, "y", 1), -EEXIST);
	assert_int_equal(snap_builder_finish(&b, "v", &out, &len), -EEXIST);

	snap_builder_init(&b);
	assert_int_equal(snap_builder_add(&b, SNAP_SEC_DEVICE, "", 1, NULL, 0), -EINVAL);
	snap_builder_release(&b);
	snap_builder_init(&b);
	assert_int_equal(snap_builder_add(&b, SNAP_SEC_DEVICE, "a b", 1, NULL, 0), -EINVAL);
	snap_builder_release(&b);
	snap_builder_init(&b);
	assert_int_equal(snap_builder_add(&b, 99, "x", 1, NULL, 0), -EINVAL);
	snap_builder_release(&b);

	/* A crafted file with one id twice. */
	build(&buf, &len);
	{
		struct snap_file f;
		size_t at = SNAP_HEADER_SIZE;

		assert_int_equal(snap_parse(buf, len, "F", &f, &err), 0);
		snap_file_release(&f);
		/* Make the vcpu section a device section named "com1". */
		at += SNAP_SECTION_HEADER_SIZE + 7;
		buf[at] = SNAP_SEC_DEVICE;
		memset(buf + at + 16, 0, SNAP_ID_SIZE);
		memcpy(buf + at + 16, "com1", 4);
		fix_crc(buf, len);
		assert_int_equal(parse(buf, len, &err), -EINVAL);
		assert_string_equal(err.msg, "snapshot F: device section 'com1' appears twice");
		buf[at] = 42;
		fix_crc(buf, len);
		assert_int_equal(parse(buf, len, &err), -EINVAL);
		assert_string_equal(err.msg, "snapshot F: section 'com1' has unknown kind 42");
	}
	free(buf);
}

static int save_hello(void *ctx, struct bytes_out *o, struct err *err)
{
	(void)err;
	bytes_put(o, ctx, strlen(ctx));
	return 0;
}

static int save_refused(void *ctx, struct bytes_out *o, struct err *err)
{
	(void)ctx;
	(void)o;
	return err_set(err, false, -EBUSY, "not now");
}

static void test_add_saved(void **state)
{
	const struct snap_section *s;
	struct snap_builder b;
	struct snap_file f;
	struct err err;
	size_t len;
	void *out;

	(void)state;
	snap_builder_init(&b);
	assert_int_equal(snap_builder_add_saved(&b, SNAP_SEC_DEVICE, "rtc", 2, save_hello,
						"hello, state", &err), 0);
	assert_int_equal(snap_builder_add_saved(&b, SNAP_SEC_DEVICE, "empty", 1, save_hello, "",
						&err), 0);
	assert_int_equal(snap_builder_finish(&b, "v", &out, &len), 0);
	assert_int_equal(snap_parse(out, len, "F", &f, &err), 0);
	s = snap_find(&f, SNAP_SEC_DEVICE, "rtc");
	assert_int_equal(s->len, 12);
	assert_memory_equal(s->data, "hello, state", 12);
	assert_int_equal(snap_find(&f, SNAP_SEC_DEVICE, "empty")->len, 0);
	snap_file_release(&f);
	free(out);

	/* A save's refusal, with its words, is the builder's. */
	snap_builder_init(&b);
	assert_int_equal(snap_builder_add_saved(&b, SNAP_SEC_DEVICE, "x", 1, save_refused, NULL,
						&err), -EBUSY);
	assert_string_equal(err.msg, "not now");
	assert_int_equal(snap_builder_finish(&b, "v", &out, &len), -EBUSY);
}

static void host_fill(struct snap_host *h)
{
	memset(h, 0, sizeof(*h));
	h->ncpuid = 3;
	h->cpuid[0] = (struct snap_cpuid_leaf){ 0, 0, 0, 0xd, 0x68747541, 0x444d4163, 0x69746e65 };
	h->cpuid[1] = (struct snap_cpuid_leaf){ 1, 0, 0, 0x800f12, 0, 0xf6d83203, 0x178bfbff };
	h->cpuid[2] = (struct snap_cpuid_leaf){ 7, 0, 1, 0, 0x219c91a9, 0x4, 0x10 };
	h->ncaps = 2;
	h->caps[0] = (struct snap_cap){ 40, 1 };   /* KVM_CAP_ADJUST_CLOCK */
	h->caps[1] = (struct snap_cap){ 21, 1 };   /* KVM_CAP_VCPU_EVENTS */
}

static void test_host_round_trip_and_check(void **state)
{
	static struct snap_host need, have, back;
	uint8_t buf[8192];
	struct bytes_out o = bytes_out_init(buf, sizeof(buf));
	size_t len;
	struct err err;

	(void)state;
	host_fill(&need);
	assert_int_equal(snap_host_save(&need, &o), 0);
	assert_int_equal(bytes_out_finish(&o, &len), 0);
	assert_int_equal(snap_host_restore(&back, buf, len), 0);
	assert_memory_equal(&back, &need, sizeof(need));
	assert_int_equal(snap_host_restore(&back, buf, len - 1), -ENODATA);
	buf[4] = 9;
	assert_int_equal(snap_host_restore(&back, buf, len), -EPROTO);

	host_fill(&have);
	have.cpuid[2].ebx |= 0x40000000; /* more is fine */
	assert_int_equal(snap_host_check(&need, &have, &err), 0);
	have.cpuid[2].ebx &= ~0x20u;
	assert_int_equal(snap_host_check(&need, &have, &err), -EINVAL);
	assert_string_equal(err.msg, "needs CPUID 0x7.0 ebx bits 0x20, the host lacks them");
	host_fill(&have);
	have.cpuid[0].ebx = 0x756e6547; /* "Genu" */
	assert_int_equal(snap_host_check(&need, &have, &err), -EINVAL);
	assert_string_equal(err.msg, "was taken on another CPU vendor");
	host_fill(&have);
	have.ncaps = 1;
	assert_int_equal(snap_host_check(&need, &have, &err), -EINVAL);
	assert_string_equal(err.msg, "needs KVM capability 21 at 1, the host has 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vector),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_magic_and_version),
		cmocka_unit_test(test_truncated_section),
		cmocka_unit_test(test_every_prefix_refused),
		cmocka_unit_test(test_every_bit_flip_refused),
		cmocka_unit_test(test_trailing_and_size),
		cmocka_unit_test(test_duplicate_and_bad_ids),
		cmocka_unit_test(test_add_saved),
		cmocka_unit_test(test_host_round_trip_and_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
